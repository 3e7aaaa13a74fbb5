"""The document sections of the layer kinds a network uses: one per kind, from its steps.

A kind's steps (section ``kinds`` of the derivation, ids ``kind.{name}.…``, made by
:func:`symprop.derivation.kinds.kind_steps`) are laid out as one section: the kind's
definitions, the gradient passed down into it, and the chain of each input's and
parameter's gradient. The introductory sentence is made from the kind's registry data
(its description, whether it couples the samples of a batch, what it takes as given), so a
kind registered at run time gets its section with no other code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import sympy as sp

from symprop.core import symbols as g
from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import LAYER_KINDS, LayerKind, get_layer_kind
from symprop.core.spec import Network
from symprop.core.why import LayerOf, Relation, Segment, Span
from symprop.derivation.kind_arrays import KindArray, KindMatrix
from symprop.derivation.kinds import plain_words, prose
from symprop.derivation.steps import DerivationView, Step, phi

__all__ = [
    "graph_algorithm",
    "kind_notation",
    "has_weights",
    "kind_groups",
    "kind_intro",
    "kind_title",
    "one_to_one",
]


T = TypeVar("T")

_l, _i = g.l_sym, g.i


def kind_title(name: str) -> str:
    """A section title for a kind, safe in LaTeX and Markdown (``Layer kind: batch norm``)."""
    words = re.sub(r"[^A-Za-z0-9]+", " ", name).strip()
    return f"Layer kind: {words}"


def _array(kind: LayerKind, name: str) -> KindArray:
    return KindArray(kind.name, name)


def _list(items: Sequence[sp.Basic]) -> list[Segment]:
    out: list[Segment] = []
    for n, item in enumerate(items):
        if n:
            out.append(" and " if n == len(items) - 1 else ", ")
        out.append(item)
    return out


def kind_notation(kinds: Sequence[str]) -> list[tuple[sp.Basic, list[Segment]]]:
    """Notation rows for the arrays the network's kinds add at layer ``l`` (γ^l, x̂^l, the
    mask…): each kind's parameters, intermediates and given arrays, with their
    descriptions, once per name (a kind with a weight matrix adds nothing: it is dense)."""
    rows: list[tuple[sp.Basic, list[Segment]]] = []
    seen: set[str] = set()
    for name in kinds:
        kind = get_layer_kind(name)
        if has_weights(kind):
            continue
        ops = [
            *(p.operand for p in kind.parameters),
            *(v.operand for v in kind.intermediates),
            *kind.given,
        ]
        for op in ops:
            if op.name in seen:
                continue
            seen.add(op.name)
            words = kind_title(name).removeprefix("Layer kind: ")
            rows.append((g.scalar(op.name, _l), [f"{plain_words(op.description)} ({words} layer)"]))
    return rows


def kind_intro(kind: LayerKind) -> list[Segment]:
    """The introductory sentence of a kind's section, from the kind's data."""
    out: list[Segment] = [f"The {prose(kind.description)}. "]
    out += ["It reads ", *_list([_matrix(kind, op.name) for op in kind.inputs])]
    out += [" and writes ", _matrix(kind, kind.output.name), "; "]
    if kind.batch_coupled:
        out += [
            "it couples the samples of a mini-batch, so it is written for the whole batch "
            "(the first index, ",
            kind.output_indices[0],
            ", runs over the ",
            g.n_batch,
            " samples) and ",
            g.scalar("C"),
            " is the cost of the batch. ",
        ]
    else:
        out += ["it acts on each sample separately. "]
    if kind.given:
        out += [
            *_list([_matrix(kind, op.name) for op in kind.given]),
            " is given (a constant of the derivation). ",
        ]
    out += [
        "The gradient passed down into the layer is ",
        _array(kind, "g"),
        "; each gradient below is derived by SymPy from the definition and every rewrite "
        "is proven equal to differentiating the definition directly.",
    ]
    return out


def _matrix(kind: LayerKind, name: str) -> KindMatrix:
    return KindMatrix(kind.name, name, sp.Integer(1), sp.Integer(1))


def kind_groups(d: DerivationView) -> list[tuple[LayerKind, list[Step]]]:
    """The kinds whose steps the derivation holds, each with its steps, in order."""
    groups: dict[str, list[Step]] = {}
    for st in (s for s in d.steps if s.section == "kinds"):
        for name in LAYER_KINDS:
            if st.id.startswith(f"kind.{name}."):
                groups.setdefault(name, []).append(st)
                break
    return [(LAYER_KINDS[name], steps) for name, steps in groups.items()]


def one_to_one(kind: LayerKind, slot: int) -> bool:
    """Whether unit ``j`` of the kind's output depends only on unit ``j`` of input ``slot``
    (dropout, a residual add, batch norm per feature), read from the derived local gradient:
    every array entry in it sits at the free unit index (its last axis)."""
    grad = derive_layer(kind).inputs[slot]
    unit = grad.indices[-1]
    return all(e.indices[-1] == unit for e in grad.compact.atoms(sp.Indexed))


def has_weights(kind: LayerKind) -> bool:
    """Whether the kind has a weight matrix (drawn as the label over its connections)."""
    return any(p.role == "weight" for p in kind.parameters)


def graph_algorithm(
    net: Network, formula: Callable[[str, int], T], text: Callable[[list[Segment], int], T]
) -> list[T]:
    """The algorithm block of a network of layer kinds: each layer by its kind, as the
    summary writes it; the whole batch at once where a kind couples the samples.

    ``formula(step_id, depth)`` and ``text(segments, depth)`` make the block's items.
    """
    L = net.depth
    coupled = any(get_layer_kind(k).batch_coupled for k in net.kinds)
    head = (
        text(["For the whole mini-batch at once (a layer couples its samples):"], 0)
        if coupled
        else text(["For each sample ", Relation(_i, Span(sp.Integer(1), g.n_batch)), ":"], 0)
    )
    return [
        text(
            [
                "Input: a mini-batch of ",
                g.n_batch,
                " samples, learning rate ",
                g.scalar("eta"),
                ", weight decay ",
                g.scalar("lambda"),
                ".",
            ],
            0,
        ),
        head,
        text(["forward: set"], 1),
        formula("forward.input", 2),
        text(
            [
                "for ",
                Relation(_l, Span(LayerOf("z", 1), LayerOf("z", L))),
                ": compute ",
                g.vector("z", _l),
                " by the kind of layer ",
                LayerOf("z", _l),
                " from the layers it reads, then ",
                Relation(g.vector("a", _l), phi(g.vector("z", _l))),
                " (summary: Forward)",
            ],
            1,
        ),
        text(["output error:"], 1),
        formula(f"summary.delta.{L}", 2),
        text(
            [
                "backward, for ",
                Relation(_l, Span(LayerOf("delta", L - 1), LayerOf("delta", 1))),
                ": ",
                g.vector("delta", _l),
                " is the sum over the layers that read ",
                g.vector("a", _l),
                " of their local gradients, times the activation's derivative (summary: Backward)",
            ],
            1,
        ),
        text(["Gradients of every parameter, as in the summary."], 0),
        text(["Update, for every parameter (weights, biases, scales, shifts):"], 0),
        formula("update.W", 1),
        formula("update.b", 1),
    ]
