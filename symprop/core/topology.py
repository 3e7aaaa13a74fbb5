"""The graph of a network's layers: which layer reads which, and the width of each.

A network is a sequence of layers by default: layer ``l`` reads layer ``l − 1`` (layer 0
is the input). A layer may name other inputs (``inputs = ["h1"]``) for skip connections;
a kind with two inputs (``residual``: ``y = x + F(x)``) given one name adds that layer's
output to the previous layer's. The widths follow from the kinds' shapes: a size a kind
reads from its inputs (the n of batch norm) is the input's width, a size only its output
has (dense's n_out) is the layer's ``width``.

Everything here is checked once, when the spec is built, and every problem is one
:class:`~symprop.core.errors.SpecError` line: an unknown input, an input that is not an
earlier layer (a network has no cycles), a shape mismatch, a layer whose output reaches no
loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from symprop.core.errors import SpecError
from symprop.core.layers import LayerKind, Operand, get_layer_kind, m

INPUT = "input"
"""The name of the network's input (layer 0) in ``inputs`` lists."""


@dataclass(frozen=True)
class Node:
    """What one layer of a spec is, for the graph: its kind, name, inputs and width."""

    kind: str
    width: int | None
    name: str | None
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    """The resolved graph: per layer ``l`` (1..L) its sources and its width.

    Attributes
    ----------
    widths
        ``(n_0, n_1, …, n_L)``.
    sources
        Per layer (index ``l − 1``), the layers it reads in the order of its kind's inputs;
        0 is the network input.
    sizes
        Per layer, the kind's symbolic sizes bound to integers (the batch size ``m`` left
        out).
    """

    widths: tuple[int, ...]
    sources: tuple[tuple[int, ...], ...]
    sizes: tuple[tuple[tuple[sp.Symbol, int], ...], ...]

    def consumers(self, layer: int) -> tuple[int, ...]:
        """The layers that read layer ``layer`` (0 = the input), in order, each once."""
        return tuple(l + 1 for l, src in enumerate(self.sources) if layer in src)

    @property
    def sequential(self) -> bool:
        """True when every layer reads only the layer before it."""
        return all(src == (l,) for l, src in enumerate(self.sources))


def feature_axes(kind: LayerKind, op: Operand) -> tuple[sp.Symbol, ...]:
    """The shape of ``op`` for one sample: a batch-coupled kind's first axis is the batch."""
    if kind.batch_coupled and op.shape and op.shape[0] == m:
        return op.shape[1:]
    return op.shape


def sets_width(kind: LayerKind) -> bool:
    """True when a layer of ``kind`` needs a ``width``: its output has a size no input has."""
    have = {s for op in kind.inputs for s in feature_axes(kind, op)}
    return not set(feature_axes(kind, kind.output)) <= have


def resolve(nodes: Sequence[Node], inputs: int) -> Topology:
    """Check the graph of ``nodes`` (layers 1..L in order) reading ``inputs`` units.

    Raises
    ------
    SpecError
        Naming the layer and field of the first problem.
    """
    names: dict[str, int] = {INPUT: 0}
    for idx, node in enumerate(nodes):
        if node.name is None:
            continue
        if node.name in names:
            first = "the network input" if node.name == INPUT else f"layers[{names[node.name] - 1}]"
            raise SpecError(f"layers[{idx}].name", node.name, f"a name of its own ({first} has it)")
        names[node.name] = idx + 1
    widths = [inputs]
    sources: list[tuple[int, ...]] = []
    sizes: list[tuple[tuple[sp.Symbol, int], ...]] = []
    for idx, node in enumerate(nodes):
        where = f"layers[{idx}]"
        kind = get_layer_kind(node.kind, f"{where}.kind")
        src = _sources(idx, node, kind, names)
        bound: dict[sp.Symbol, int] = {}
        for slot, (op, s) in enumerate(zip(kind.inputs, src, strict=True)):
            axes = feature_axes(kind, op)
            if len(axes) != 1:
                raise SpecError(
                    f"{where}.kind", node.kind, "a kind whose inputs are vectors (one axis each)"
                )
            have = bound.setdefault(axes[0], widths[s])
            if have != widths[s]:
                first = src[[i for i, o in enumerate(kind.inputs) if axes[0] in o.shape][0]]
                raise SpecError(
                    f"{where}.inputs",
                    [_label(s2, nodes) for s2 in src],
                    f"inputs of equal width for {node.kind} ({_label(first, nodes)} has "
                    f"{have} units, {_label(s, nodes)} has {widths[s]}; slot {slot + 1})",
                )
        out_axes = feature_axes(kind, kind.output)
        if len(out_axes) != 1:
            raise SpecError(f"{where}.kind", node.kind, "a kind whose output is a vector")
        if out_axes[0] in bound:
            width = bound[out_axes[0]]
            if node.width is not None and node.width != width:
                raise SpecError(
                    f"{where}.width",
                    node.width,
                    f"{width} (a {node.kind} layer keeps its input's width), or leave it out",
                )
        else:
            if node.width is None:
                raise SpecError(
                    f"{where}.width", None, f"is required (a {node.kind} layer sets it)"
                )
            width = node.width
            bound[out_axes[0]] = width
        for p in kind.parameters:
            for s in feature_axes(kind, p.operand):
                if s not in bound:
                    raise SpecError(
                        f"{where}.kind",
                        node.kind,
                        f"a kind whose parameter sizes follow from its inputs and output ({s})",
                    )
        widths.append(width)
        sources.append(src)
        sizes.append(tuple(bound.items()))
    topology = Topology(tuple(widths), tuple(sources), tuple(sizes))
    last = len(nodes)
    for l in range(1, last):
        if not topology.consumers(l):
            node = nodes[l - 1]
            raise SpecError(
                f"layers[{l - 1}]",
                node.name or node.kind,
                "a layer some later layer reads: its output reaches no loss (name it in a "
                "later layer's inputs, or remove it)",
            )
    return topology


def _label(source: int, nodes: Sequence[Node]) -> str:
    if source == 0:
        return INPUT
    return nodes[source - 1].name or f"layers[{source - 1}]"


def _sources(idx: int, node: Node, kind: LayerKind, names: dict[str, int]) -> tuple[int, ...]:
    """The layers ``node`` (at ``idx``) reads, one per input of its kind."""
    where = f"layers[{idx}].inputs"
    arity = len(kind.inputs)
    given = node.inputs
    if not given:
        if arity != 1:
            raise SpecError(
                where,
                None,
                f"is required: {node.kind} reads {arity} inputs; name one layer (the "
                "previous layer is the other) or both"
                if arity == 2
                else f"is required: {node.kind} reads {arity} inputs",
            )
        return (idx,)
    out = []
    for name in given:
        if name not in names:
            known = ", ".join(n for n, at in names.items() if at <= idx)
            raise SpecError(where, name, f"a layer name or {INPUT!r} (known: {known})")
        source = names[name]
        if source > idx:
            raise SpecError(
                where,
                name,
                "an earlier layer or the input (a layer reads only what comes before it, "
                "so a network has no cycles)",
            )
        out.append(source)
    if len(out) == arity - 1 and arity == 2:
        # One name for an add: that layer's output joins the previous layer's (y = x + F(x)).
        out.append(idx)
    if len(out) != arity:
        raise SpecError(where, list(given), f"{arity} name(s): {node.kind} reads {arity} inputs")
    if len(set(out)) != len(out):
        raise SpecError(where, list(given), "different layers (a layer reads another one once)")
    return tuple(out)
