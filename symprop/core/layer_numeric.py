"""Numeric evaluation of a layer kind's forward and derived gradients at concrete sizes.

The forward definition and the derived compact gradients are written out at the sizes of
the given arrays and compiled with ``sympy.lambdify`` (cached per kind and sizes), so code
generation and small-instance checks can run exactly the rules that were proven.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from symprop.core.layer_calculus import derive_layer
from symprop.core.layer_proof import concrete_intermediates, entries, instantiate, written_out
from symprop.core.layers import LayerKind, Operand, get_layer_kind


@functools.cache
def _compiled(kind: LayerKind, sizes: tuple[tuple[sp.Symbol, int], ...]) -> tuple:
    size_map = dict(sizes)
    rules = derive_layer(kind)
    arrays = (*kind.inputs, *(p.operand for p in kind.parameters), *kind.given, rules.upstream)
    args: list[sp.Expr] = [op(*ix) for op in arrays for ix in entries(op, size_map)]
    args += [h.symbol for h in kind.hyper_parameters]
    forward = [
        instantiate(
            kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))), kind, size_map
        )
        for ix in entries(kind.output, size_map)
    ]
    table = concrete_intermediates(kind, sizes)
    grads = {}
    for grad in (*rules.inputs, *rules.parameters):
        op = next(
            o
            for o in (*kind.inputs, *(p.operand for p in kind.parameters))
            if o.name == grad.target
        )
        concrete = written_out(grad.compact, size_map)
        grads[grad.target] = (
            op,
            [
                concrete.xreplace(dict(zip(grad.indices, ix, strict=True))).xreplace(table)
                for ix in entries(op, size_map)
            ],
        )
    f_forward = sp.lambdify(args, forward, modules="numpy", cse=True)
    f_grads = {
        name: (op, sp.lambdify(args, exprs, modules="numpy", cse=True))
        for name, (op, exprs) in grads.items()
    }
    return arrays, f_forward, f_grads


def _flatten_args(
    kind: LayerKind,
    arrays: tuple[Operand, ...],
    values: dict[str, np.ndarray],
    hyper: dict[str, float],
) -> list[float]:
    flat: list[float] = []
    for op in arrays:
        arr = np.asarray(values[op.name], dtype=float) if op.name in values else None
        if arr is None:
            raise KeyError(op.name)
        flat.extend(arr.reshape(-1).tolist() if op.shape else [float(arr)])
    flat.extend(float(hyper.get(h.name, h.default)) for h in kind.hyper_parameters)
    return flat


def evaluate(
    kind: LayerKind | str, values: dict[str, np.ndarray], hyper: dict[str, float] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The forward output and every derived gradient of ``kind`` at concrete arrays.

    Parameters
    ----------
    kind
        The kind or its name.
    values
        An array per input, parameter, given array, and ``g`` (the upstream gradient, the
        output's shape); shapes fix the sizes.
    hyper
        Hyper-parameter values by name (defaults from the registry).

    Returns
    -------
    (y, grads)
        The output and, per input and parameter name, its gradient (its shape).
    """
    if isinstance(kind, str):
        kind = get_layer_kind(kind)
    hyper = hyper or {}
    sizes: dict[sp.Symbol, int] = {}
    for op in (*kind.inputs, *(p.operand for p in kind.parameters), *kind.given):
        shape = np.shape(values[op.name])
        for s, d in zip(op.shape, shape, strict=True):
            if sizes.setdefault(s, int(d)) != int(d):
                raise ValueError(f"{op.name}: axis {s} is {d}, elsewhere {sizes[s]}")
    arrays, f_forward, f_grads = _compiled(
        kind, tuple(sorted(sizes.items(), key=lambda t: str(t[0])))
    )
    flat = _flatten_args(kind, arrays, values, hyper)
    out_shape = tuple(sizes[s] for s in kind.output.shape)
    y = np.asarray(f_forward(*flat), dtype=float).reshape(out_shape)
    grads = {}
    for name, (op, fn) in f_grads.items():
        shape = tuple(sizes[s] for s in op.shape)
        grads[name] = np.asarray(fn(*flat), dtype=float).reshape(shape)
    return y, grads
