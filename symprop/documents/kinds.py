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
from collections.abc import Sequence

import sympy as sp

from symprop.core import symbols as g
from symprop.core.layers import LAYER_KINDS, LayerKind
from symprop.core.why import Segment
from symprop.derivation.kind_arrays import KindArray, KindMatrix
from symprop.derivation.steps import DerivationView, Step

__all__ = ["kind_title", "kind_intro", "kind_groups"]


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


def kind_intro(kind: LayerKind) -> list[Segment]:
    """The introductory sentence of a kind's section, from the kind's data."""
    out: list[Segment] = [f"Definition: {kind.description}. "]
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
