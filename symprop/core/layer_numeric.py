"""Numeric evaluation of a layer kind's forward and derived gradients with NumPy.

Index-form expressions (``Indexed``, ``Sum``, ``KroneckerDelta``, arithmetic and elementary
functions) are evaluated directly on arrays whose axes are labelled by the index symbols:
a product broadcasts over the union of its factors' labels, a sum reduces its label. No
expression is written out per size, so any size costs one vectorised pass (a 784 × 256
dense layer as much as a 2 × 3 one), and what runs is exactly the proven compact form.

Per-sample kinds can be evaluated on a batch: the arrays of the inputs, the given arrays
and the upstream gradient then carry a leading sample axis, parameters do not, and each
parameter gradient is summed over the samples (the cost is the batch mean's sum part).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symprop.core.errors import SymPropError
from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import LayerKind, Operand, get_layer_kind

SAMPLE = sp.Symbol("sample")
"""The label of the leading sample axis when a per-sample kind is evaluated on a batch."""

_UFUNCS = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "Abs": np.abs}
_COMPARE = {
    sp.StrictGreaterThan: np.greater,
    sp.GreaterThan: np.greater_equal,
    sp.StrictLessThan: np.less,
    sp.LessThan: np.less_equal,
}


@dataclass(frozen=True)
class _Labelled:
    """An array and the index symbol labelling each of its axes."""

    array: np.ndarray
    labels: tuple[sp.Symbol, ...]


class _Evaluator:
    """Evaluates index expressions over labelled arrays for one set of values."""

    def __init__(
        self,
        arrays: Mapping[str, _Labelled],
        scalars: Mapping[sp.Symbol, float],
        sizes: Mapping[sp.Symbol, int],
    ) -> None:
        """Arrays by name, scalar values by symbol, and the concrete sizes."""
        self.arrays = dict(arrays)
        self.scalars = dict(scalars)
        self.sizes = dict(sizes)
        self.axis: dict[sp.Symbol, int] = {}

    def _align(self, x: _Labelled, labels: tuple[sp.Symbol, ...]) -> np.ndarray:
        """``x``'s array with its axes ordered as ``labels`` (missing ones of length 1)."""
        order = [x.labels.index(lab) for lab in labels if lab in x.labels]
        arr = np.transpose(x.array, order) if order else x.array
        shape = [self.axis[lab] if lab in x.labels else 1 for lab in labels]
        return np.reshape(arr, shape)

    @staticmethod
    def _union(parts: list[_Labelled]) -> tuple[sp.Symbol, ...]:
        """Every label of ``parts``, in first-seen order."""
        labels: tuple[sp.Symbol, ...] = ()
        for part in parts:
            labels += tuple(lab for lab in part.labels if lab not in labels)
        return labels

    def _combine(self, parts: list[_Labelled], op) -> _Labelled:
        """Combine labelled arrays elementwise, broadcasting over the union of labels."""
        labels = self._union(parts)
        out = self._align(parts[0], labels)
        for part in parts[1:]:
            out = op(out, self._align(part, labels))
        full = tuple(self.axis[lab] for lab in labels)
        return _Labelled(np.broadcast_to(out, full).copy(), labels)

    def _size(self, bound: sp.Expr) -> int:
        """A sum bound at the concrete sizes."""
        return int(sp.sympify(bound).xreplace(self.sizes))

    def __call__(self, expr: sp.Expr) -> _Labelled:
        """The value of ``expr`` with its free index symbols as labelled axes."""
        if expr.is_Number:
            return _Labelled(np.asarray(float(expr)), ())
        if isinstance(expr, sp.Symbol):
            if expr in self.sizes:
                return _Labelled(np.asarray(float(self.sizes[expr])), ())
            if expr in self.scalars:
                return _Labelled(np.asarray(self.scalars[expr]), ())
            if str(expr) in self.arrays:
                return self.arrays[str(expr)]
            raise SymPropError(f"no value for {expr} in a layer expression")
        if isinstance(expr, sp.Indexed):
            # A stored array's labels name only its leading sample axis, if any; the
            # expression's indices label the rest.
            stored = self.arrays[str(expr.base)]
            labels = (*stored.labels, *expr.indices)
            for lab, n in zip(labels, stored.array.shape, strict=True):
                self.axis[lab] = n
            return _Labelled(stored.array, labels)
        if isinstance(expr, sp.Add):
            return self._combine([self(a) for a in expr.args], np.add)
        if isinstance(expr, sp.Mul):
            return self._combine([self(a) for a in expr.args], np.multiply)
        if isinstance(expr, sp.Pow):
            return self._combine([self(expr.base), self(expr.exp)], np.power)
        if isinstance(expr, sp.KroneckerDelta):
            a, b = expr.args
            eye = np.eye(self.axis[a], self.axis[b])
            return _Labelled(eye, (a, b))
        if isinstance(expr, sp.Sum):
            body_expr = expr.function
            for var, lo, hi in expr.limits:
                count = self._size(hi) - self._size(lo) + 1
                self.axis[var] = count
            body = self(body_expr)
            arr, labels = body.array, list(body.labels)
            for var, _, _ in expr.limits:
                if var in labels:
                    arr = arr.sum(axis=labels.index(var))
                    labels.remove(var)
                else:
                    arr = arr * self.axis[var]
            return _Labelled(arr, tuple(labels))
        if isinstance(expr, sp.Piecewise):
            # The first branch whose condition holds, as SymPy's Piecewise and np.select.
            values = [self(e) for e, _ in expr.args]
            conds = [self(c) for _, c in expr.args]
            labels = self._union([*values, *conds])
            full = tuple(self.axis[lab] for lab in labels)

            def spread(x: _Labelled) -> np.ndarray:
                return np.broadcast_to(self._align(x, labels), full)

            out = np.select([spread(c) for c in conds], [spread(v) for v in values], np.nan)
            return _Labelled(out, labels)
        if expr is sp.true or expr is sp.false:
            return _Labelled(np.asarray(bool(expr)), ())
        if isinstance(expr, sp.core.relational.Relational) and type(expr) in _COMPARE:
            return self._combine([self(expr.lhs), self(expr.rhs)], _COMPARE[type(expr)])
        if isinstance(expr, (sp.And, sp.Or)):
            op = np.logical_and if isinstance(expr, sp.And) else np.logical_or
            return self._combine([self(a) for a in expr.args], op)
        if isinstance(expr, sp.Function) and type(expr).__name__ in _UFUNCS:
            inner = self(expr.args[0])
            return _Labelled(_UFUNCS[type(expr).__name__](inner.array), inner.labels)
        raise SymPropError(f"cannot evaluate {type(expr).__name__} in a layer expression")


def _labelled(op: Operand, value: np.ndarray, batched: bool) -> tuple[_Labelled, dict]:
    """A value with its sample axis labelled, and the sizes its shape fixes."""
    arr = np.asarray(value, dtype=float)
    lead = (SAMPLE,) if batched else ()
    if arr.ndim != len(lead) + len(op.shape):
        raise ValueError(
            f"{op.name}: expected {len(lead) + len(op.shape)} axes, got shape {arr.shape}"
        )
    sizes = dict(zip(op.shape, arr.shape[len(lead) :], strict=True))
    return _Labelled(arr, lead), sizes


def _setup(
    kind: LayerKind,
    values: Mapping[str, np.ndarray],
    hyper: Mapping[str, float] | None,
    batched: bool,
    operands: tuple[Operand, ...],
    samples_from: str,
) -> tuple[_Evaluator, dict[sp.Symbol, int]]:
    """An evaluator holding ``operands``' arrays (checked against each other's sizes)."""
    if batched and kind.batch_coupled:
        raise SymPropError(f"layer kind {kind.name!r} is batch-coupled: its arrays are the batch")
    params = {p.operand.name for p in kind.parameters} | {r.operand.name for r in kind.running}
    arrays: dict[str, _Labelled] = {}
    sizes: dict[sp.Symbol, int] = {}
    for op in operands:
        if op.name not in values:
            raise SymPropError(f"layer kind {kind.name!r} needs an array for {op.name!r}")
        arrays[op.name], found = _labelled(op, values[op.name], batched and op.name not in params)
        for s, n in found.items():
            if sizes.setdefault(s, n) != n:
                raise ValueError(f"{op.name}: axis {s} has length {n}, elsewhere {sizes[s]}")
    hyper = dict(hyper or {})
    scalars = {h.symbol: float(hyper.get(h.name, h.default)) for h in kind.hyper_parameters}
    ev = _Evaluator(arrays, scalars, sizes)
    if batched:
        ev.axis[SAMPLE] = int(np.shape(values[samples_from])[0])
    return ev, sizes


def _intermediates(kind: LayerKind, ev: _Evaluator, sizes: dict[sp.Symbol, int]) -> None:
    """Store every intermediate's value in ``ev``, in definition order."""
    for v in kind.intermediates:
        for ix, n in zip(v.indices, v.operand.shape, strict=True):
            ev.axis[ix] = sizes[n]
        value = ev(v.definition)
        lead_v = (SAMPLE,) if SAMPLE in value.labels else ()
        ev.arrays[v.operand.name] = _Labelled(ev._align(value, lead_v + v.indices), lead_v)


def _run(
    ev: _Evaluator,
    sizes: dict[sp.Symbol, int],
    expr: sp.Expr,
    indices: tuple[sp.Symbol, ...],
    shape: tuple[sp.Symbol, ...],
    keep: bool,
) -> np.ndarray:
    """``expr`` as an array over ``indices`` (after the sample axis when ``keep``); without
    ``keep``, a per-sample value is summed over the samples."""
    for ix, n in zip(indices, shape, strict=True):
        ev.axis[ix] = sizes[n]
    out = ev(expr)
    if not keep and SAMPLE in out.labels:
        rest = tuple(lab for lab in out.labels if lab != SAMPLE)
        out = _Labelled(out.array.sum(axis=out.labels.index(SAMPLE)), rest)
    want = ((SAMPLE,) if keep and SAMPLE in ev.axis else ()) + indices
    return np.asarray(ev._align(out, want) if want else out.array, dtype=float)


def evaluate(
    kind: LayerKind | str,
    values: Mapping[str, np.ndarray],
    hyper: Mapping[str, float] | None = None,
    batched: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The forward output (training mode) and every derived gradient of ``kind``.

    Parameters
    ----------
    kind
        The kind or its name.
    values
        An array per input, parameter and given array, and ``g`` (the upstream gradient,
        the output's shape). Shapes fix the sizes.
    hyper
        Hyper-parameter values by name (defaults from the registry).
    batched
        For a per-sample kind: inputs, given arrays and ``g`` carry a leading sample axis;
        input gradients keep it, parameter gradients are summed over it.

    Returns
    -------
    (y, grads)
        The output and, per input and parameter name, its gradient.
    """
    if isinstance(kind, str):
        kind = get_layer_kind(kind)
    rules = derive_layer(kind)
    params = {p.operand.name for p in kind.parameters}
    operands = (*kind.inputs, *(p.operand for p in kind.parameters), *kind.given, rules.upstream)
    ev, sizes = _setup(kind, values, hyper, batched, operands, rules.upstream.name)
    _intermediates(kind, ev, sizes)
    y = _run(ev, sizes, kind.forward, kind.output_indices, kind.output.shape, True)
    grads = {}
    for grad in (*rules.inputs, *rules.parameters):
        op = next(o for o in kind.operands() if o.name == grad.target)
        keep = grad.target not in params
        grads[grad.target] = _run(ev, sizes, grad.compact, grad.indices, op.shape, keep)
    return y, grads


def update_running(
    kind: LayerKind | str,
    values: Mapping[str, np.ndarray],
    running: Mapping[str, np.ndarray],
    hyper: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """The running statistics after one training batch (``values`` holds its inputs).

    ``running ← (1 − momentum) running + momentum · statistic``; a kind without running
    statistics returns an empty mapping.
    """
    if isinstance(kind, str):
        kind = get_layer_kind(kind)
    if not kind.running:
        return {}
    operands = (*kind.inputs, *(p.operand for p in kind.parameters))
    ev, sizes = _setup(kind, values, hyper, False, operands, kind.inputs[0].name)
    _intermediates(kind, ev, sizes)
    rate = float(dict(hyper or {}).get("momentum", _default(kind, "momentum")))
    out = {}
    for r in kind.running:
        batch = _run(ev, sizes, r.statistic, r.indices, r.operand.shape, False)
        out[r.operand.name] = (1 - rate) * np.asarray(running[r.operand.name]) + rate * batch
    return out


def _default(kind: LayerKind, name: str) -> float:
    """The default of the hyper-parameter ``name``."""
    return next(h.default for h in kind.hyper_parameters if h.name == name)


def predict(
    kind: LayerKind | str,
    values: Mapping[str, np.ndarray],
    running: Mapping[str, np.ndarray] | None = None,
    hyper: Mapping[str, float] | None = None,
    batched: bool = False,
) -> np.ndarray:
    """The output in prediction mode: the kind's inference form (running statistics, no
    dropout mask), or its forward when it has none."""
    if isinstance(kind, str):
        kind = get_layer_kind(kind)
    expr = kind.inference if kind.inference is not None else kind.forward
    merged = {**values, **(running or {})}
    operands = (
        *kind.inputs,
        *(p.operand for p in kind.parameters),
        *(r.operand for r in kind.running),
        *(kind.given if kind.inference is None else ()),
    )
    ev, sizes = _setup(kind, merged, hyper, batched, operands, kind.inputs[0].name)
    if kind.inference is None:
        _intermediates(kind, ev, sizes)
    return _run(ev, sizes, expr, kind.output_indices, kind.output.shape, True)
