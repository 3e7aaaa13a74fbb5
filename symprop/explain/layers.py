"""A layer kind in a computation graph: its named arrays as nodes, from the registry entry.

A layer of any registered kind is drawn from the kind's data alone: its parameters and
given arrays (the dropout mask) are input nodes, each named intermediate (μ, σ², σ, x̂ of a
normalisation) and its output are gate nodes computed from their index-form definitions
at the layer's concrete sizes. A kind whose forward definition has a proven matrix form
and no intermediates (dense's ``W a + b``, a residual add) is drawn with that form's matrix
gates (``@``, ``+``, ``⊙``) and their textbook rules; every other step is one
:class:`KindStep` gate, whose vector-Jacobian product is the entrywise Jacobian of its
definition (``sympy.diff``), the same rule the derivation's local gradients are proven
against. Nothing here names a particular kind.

Layout of the arrays as graph nodes (columns are samples, as a single sample's vectors are
columns): a per-sample array of ``n`` entries is ``n × B`` for a batch of ``B`` samples
(``n × 1`` for one sample) and a per-sample scalar ``1 × B``; a batch-coupled kind's array
indexed ``[sample, feature]`` is ``features × B``; a parameter or a batch statistic keeps
its own shape, a vector as one column.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions import MatrixExpr

from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import LayerKind, Operand, get_layer_kind, m
from symprop.explain.graph import Gate

__all__ = ["KindStep", "LayerArrays", "kind_steps", "node_shape", "step_label"]


def _is_parameter(kind: LayerKind, op: Operand) -> bool:
    return any(p.operand == op for p in kind.parameters)


def node_shape(kind: LayerKind, op: Operand, sizes: Mapping[sp.Symbol, int], batch: int) -> tuple:
    """The node shape of ``op`` (see the module docstring) at concrete ``sizes``."""
    shape = tuple(sizes.get(s, s) for s in op.shape)
    if kind.batch_coupled and op.shape and op.shape[0] == m:
        feature = shape[1:]
        return (feature[0] if feature else 1, batch)
    if not kind.batch_coupled and not _is_parameter(kind, op):
        return (shape[0] if shape else 1, batch)
    if len(shape) == 2:
        return shape
    return (shape[0] if shape else 1, 1)


def _position(kind: LayerKind, op: Operand, indices: Sequence[int], sample: int) -> tuple[int, int]:
    """Row and column of the entry ``op[indices]`` (1-based) of sample ``sample`` (0-based)."""
    if kind.batch_coupled and op.shape and op.shape[0] == m:
        feature = indices[1:]
        return (feature[0] - 1 if feature else 0, indices[0] - 1)
    if not kind.batch_coupled and not _is_parameter(kind, op):
        return (indices[0] - 1 if indices else 0, sample)
    if len(indices) == 2:
        return (indices[0] - 1, indices[1] - 1)
    return (indices[0] - 1 if indices else 0, 0)


def _definition(kind: LayerKind, target: str) -> tuple[sp.Expr, tuple[sp.Symbol, ...], Operand]:
    """The definition of ``target`` (an intermediate or the output), its indices and operand."""
    for v in kind.intermediates:
        if v.operand.name == target:
            return v.definition, v.indices, v.operand
    return kind.forward, kind.output_indices, kind.output


def _index_grid(shape: Sequence[int]) -> list[tuple[int, ...]]:
    grid: list[tuple[int, ...]] = [()]
    for size in shape:
        grid = [(*g, k) for g in grid for k in range(1, size + 1)]
    return grid


class KindStep(MatrixExpr):
    """One named array of a layer kind (an intermediate or the output), computed from its
    index-form definition at concrete sizes from the arrays it reads.

    ``args``: the kind's name, the target's name, the sizes and hyper-parameter values as
    ``(name, value)`` pairs, the batch ``B``, the names of the operands read, then their
    values (matrices, symbolic or explicit).
    """

    def __new__(
        cls,
        kind: Str,
        target: Str,
        sizes: sp.Tuple,
        options: sp.Tuple,
        batch: sp.Integer,
        names: sp.Tuple,
        *operands: sp.Basic,
    ) -> KindStep:
        return super().__new__(cls, kind, target, sizes, options, batch, names, *operands)

    @property
    def kind(self) -> LayerKind:
        return get_layer_kind(str(self.args[0]))

    @property
    def target(self) -> str:
        return str(self.args[1])

    def _sizes(self) -> dict[sp.Symbol, int]:
        by_name = {str(s): s for s in self.kind.sizes()}
        out = {by_name[str(k)]: int(v) for k, v in self.args[2] if str(k) in by_name}
        out[m] = int(self.args[4])
        return out

    @property
    def operands(self) -> tuple[sp.Basic, ...]:
        return self.args[6:]

    @property
    def shape(self) -> tuple:
        _, _, op = _definition(self.kind, self.target)
        return node_shape(self.kind, op, self._sizes(), int(self.args[4]))

    def doit(self, **hints: object) -> sp.Basic:
        values = [a.doit(**hints) if hints.get("deep", True) else a for a in self.operands]
        if not all(isinstance(v, sp.MatrixBase) for v in values):
            return type(self)(*self.args[:6], *values)
        return self._evaluate([sp.ImmutableMatrix(v) for v in values])

    def _evaluate(self, values: Sequence[sp.ImmutableMatrix]) -> sp.ImmutableMatrix:
        definition, indices, op = _definition(self.kind, self.target)
        return _instantiate(self.args[:6], definition, indices, op, values, {})

    def vjp_rules(self, upstream: sp.Basic) -> tuple[sp.Basic | None, ...]:
        """The kind's derived local gradients (:func:`~symprop.core.layer_calculus.derive_layer`)
        for the output of a kind without intermediates, one per input and parameter read
        (``None`` for a given array: no gradient is derived for it).

        Any other step has no derived rule of its own: SymPy's refusal (``TypeError``) makes
        the backward pass take the entrywise Jacobian of its definition.
        """
        kind = self.kind
        if self.target != kind.output.name or kind.intermediates:
            raise TypeError("no derived rule for one step of a kind")
        derived = {
            grad.target for grad in (*derive_layer(kind).inputs, *derive_layer(kind).parameters)
        }
        return tuple(
            KindGradient(*self.args[:6], Str(str(name)), upstream, *self.operands)
            if str(name) in derived
            else None
            for name in self.args[5]
        )

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """One gate of the operands it reads, labelled with the array's display name."""
        dummies = tuple(
            sp.MatrixSymbol(f"a{k}", *operand.shape) for k, operand in enumerate(self.operands)
        )
        fn = KindStep(*self.args[:6], *dummies)
        label, label_tex = step_label(self.kind, self.target)
        return Gate("layer", label, fn, dummies, label_tex=label_tex), self.operands

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        inner = ", ".join(printer._print(a) for a in self.operands)
        return f"{step_label(self.kind, self.target)[0]}({inner})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        inner = ", ".join(printer._print(a) for a in self.operands)
        return rf"{step_label(self.kind, self.target)[1]}\left({inner}\right)"


def _instantiate(
    head: Sequence[sp.Basic],
    expr: sp.Expr,
    indices: Sequence[sp.Symbol],
    target: Operand,
    values: Sequence[sp.ImmutableMatrix],
    extra: Mapping[Operand, sp.ImmutableMatrix],
) -> sp.ImmutableMatrix:
    """The node of ``target`` whose entry at ``indices`` is ``expr``, at the sizes, options and
    batch of ``head`` (a :class:`KindStep`'s leading arguments), from the operand values.

    A per-sample kind is evaluated sample by sample; an entry of a parameter collects the
    sum over the samples (its gradient is the sum of the per-sample ones).
    """
    kind = get_layer_kind(str(head[0]))
    batch = int(head[4])
    by_name = {str(s): s for s in kind.sizes()}
    sizes = {by_name[str(k)]: int(v) for k, v in head[2] if str(k) in by_name}
    sizes[m] = batch
    hyper = {h.name: h.symbol for h in kind.hyper_parameters}
    subs: dict[sp.Basic, sp.Basic] = {hyper[str(k)]: v for k, v in head[3]}
    subs.update(sizes)
    operands = {o.name: o for o in kind.operands()}
    arrays = {operands[str(name)]: value for name, value in zip(head[5], values, strict=True)}
    arrays.update(extra)
    rows, cols = node_shape(kind, target, sizes, batch)
    out = sp.zeros(rows, cols)
    shape = [sizes[s] for s in target.shape]
    for sample in range(1) if kind.batch_coupled else range(batch):
        for entry in _index_grid(shape):
            value = expr.xreplace(subs).xreplace(dict(zip(indices, entry, strict=True))).doit()
            fill: dict[sp.Basic, sp.Basic] = {}
            for e in value.atoms(sp.Indexed):
                o = next(o for o in arrays if o.base == e.base)
                at = tuple(int(i) for i in e.indices)
                fill[e] = arrays[o][_position(kind, o, at, sample)]
            for o, array in arrays.items():
                if not o.shape:
                    fill[o.scalar] = array[_position(kind, o, (), sample)]
            r, c = _position(kind, target, entry, sample)
            out[r, c] += value.xreplace(fill)
    return sp.ImmutableMatrix(out)


class KindGradient(MatrixExpr):
    """∂C/∂(an input or parameter of a layer kind): the kind's derived, proven compact
    gradient (:func:`~symprop.core.layer_calculus.derive_layer`) at concrete sizes, given
    the upstream gradient ``g`` of its output.

    ``args``: a :class:`KindStep`'s six leading arguments, the name of the input or
    parameter, the upstream gradient, then the operands' values.
    """

    @property
    def kind(self) -> LayerKind:
        return get_layer_kind(str(self.args[0]))

    @property
    def wrt(self) -> str:
        return str(self.args[6])

    def _operand(self) -> Operand:
        return next(o for o in self.kind.operands() if o.name == self.wrt)

    @property
    def shape(self) -> tuple:
        kind = self.kind
        by_name = {str(s): s for s in kind.sizes()}
        sizes = {by_name[str(k)]: int(v) for k, v in self.args[2] if str(k) in by_name}
        return node_shape(kind, self._operand(), sizes, int(self.args[4]))

    def doit(self, **hints: object) -> sp.Basic:
        rest = self.args[7:]
        values = [a.doit(**hints) if hints.get("deep", True) else a for a in rest]
        if not all(isinstance(v, sp.MatrixBase) for v in values):
            return type(self)(*self.args[:7], *values)
        upstream, *operands = (sp.ImmutableMatrix(v) for v in values)
        rules = derive_layer(self.kind)
        grad = rules.gradient(self.wrt)
        return _instantiate(
            self.args[:6],
            grad.compact,
            grad.indices,
            self._operand(),
            operands,
            {rules.upstream: upstream},
        )

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        rules = derive_layer(self.kind)
        grad = rules.gradient(self.wrt)
        names = {rules.upstream.base: sp.IndexedBase(printer._print(self.args[7]))}
        for name, arg in zip(self.args[5], self.args[8:], strict=True):
            op = next(o for o in self.kind.operands() if o.name == str(name))
            names[op.base] = sp.IndexedBase(printer._print(arg))
        index = ",".join(str(q) for q in grad.indices)
        return f"[{printer._print(grad.compact.xreplace(names))}]_{index}"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        rules = derive_layer(self.kind)
        grad = rules.gradient(self.wrt)
        names = {rules.upstream.base: sp.IndexedBase(sp.Symbol(printer._print(self.args[7])))}
        for name, arg in zip(self.args[5], self.args[8:], strict=True):
            op = next(o for o in self.kind.operands() if o.name == str(name))
            names[op.base] = sp.IndexedBase(sp.Symbol(printer._print(arg)))
        index = ",".join(str(q) for q in grad.indices)
        return rf"\left[{printer._print(grad.compact.xreplace(names))}\right]_{{{index}}}"


def step_label(kind: LayerKind, target: str, profile: str = "nielsen") -> tuple[str, str]:
    """The gate label of ``target``: the kind's name for its output, else the display name."""
    if target == kind.output.name:
        escaped = kind.name.replace("_", r"\_")
        return kind.name, rf"\mathrm{{{escaped}}}"
    shown = kind.displays(profile)[target]
    return shown.unicode, shown.latex


@dataclass(frozen=True)
class LayerArrays:
    """The node of every named array of one layer: its name and the symbol it is drawn as.

    ``leaves`` are the parameters and given arrays (input nodes), each with its operand;
    ``steps`` the named steps (intermediates, then the output) as ``(name, expression)``.
    """

    leaves: tuple[tuple[str, Operand, sp.MatrixSymbol], ...]
    steps: tuple[tuple[str, sp.Basic], ...]


@functools.cache
def _plain_forward(kind: LayerKind) -> sp.Basic | None:
    """The proven matrix form of the forward definition, when it needs no intermediate."""
    if kind.intermediates:
        return None
    return derive_layer(kind).forward_matrix


def kind_steps(
    kind: LayerKind,
    layer: int,
    sizes: Mapping[sp.Symbol, int],
    options: Mapping[str, float],
    batch: int,
    inputs: Sequence[sp.Basic],
    output: str,
) -> LayerArrays:
    """The leaves and named steps of one layer of ``kind`` (see the module docstring).

    Parameters
    ----------
    kind
        The registry entry.
    layer
        The layer's number; names are ``<array><layer>`` (``gamma2``, ``xhat2``).
    sizes
        The kind's sizes bound to integers (without the batch size).
    options
        The hyper-parameters' values.
    batch
        The number of samples the graph carries.
    inputs
        The node symbols the kind's inputs read, in the kind's order.
    output
        The name of the output's node (``z<layer>``).
    """
    values = {**sizes, m: batch}
    hyper = {h.symbol: sp.nsimplify(options[h.name], rational=True) for h in kind.hyper_parameters}
    symbols: dict[str, sp.Basic] = {
        op.name: node for op, node in zip(kind.inputs, inputs, strict=True)
    }
    leaves = []
    for op in (*(p.operand for p in kind.parameters), *kind.given):
        node = sp.MatrixSymbol(f"{op.name}{layer}", *node_shape(kind, op, values, batch))
        symbols[op.name] = node
        leaves.append((node.name, op, node))
    steps: list[tuple[str, sp.Basic]] = []
    plain = _plain_forward(kind) if batch == 1 else None
    if plain is not None:
        mapping: dict[sp.Basic, sp.Basic] = dict(hyper)
        for ms in plain.atoms(sp.MatrixSymbol):
            mapping[ms] = symbols[str(ms.name)]
        steps.append((output, plain.xreplace(mapping)))
        return LayerArrays(tuple(leaves), tuple(steps))
    size_pairs = sp.Tuple(*[sp.Tuple(Str(str(s)), sp.Integer(v)) for s, v in sizes.items()])
    option_pairs = sp.Tuple(
        *[sp.Tuple(Str(h.name), hyper[h.symbol]) for h in kind.hyper_parameters]
    )
    for target in (*(v.operand for v in kind.intermediates), kind.output):
        definition, _, _ = _definition(kind, target.name)
        read = _reads(kind, definition)
        name = output if target == kind.output else f"{target.name}{layer}"
        step = KindStep(
            Str(kind.name),
            Str(target.name),
            size_pairs,
            option_pairs,
            sp.Integer(batch),
            sp.Tuple(*[Str(o.name) for o in read]),
            *[symbols[o.name] for o in read],
        )
        steps.append((name, step))
        symbols[target.name] = sp.MatrixSymbol(name, *step.shape)
    return LayerArrays(tuple(leaves), tuple(steps))


def _reads(kind: LayerKind, definition: sp.Expr) -> tuple[Operand, ...]:
    """The kind's arrays ``definition`` reads, in the kind's order of arrays."""
    bases = {e.base for e in definition.atoms(sp.Indexed)}
    scalars = definition.free_symbols
    return tuple(
        op
        for op in kind.operands()
        if (op.shape and op.base in bases) or (not op.shape and op.scalar in scalars)
    )
