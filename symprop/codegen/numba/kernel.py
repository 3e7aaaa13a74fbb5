"""The compiled training step of a dense network, printed from the backend-neutral model.

A step takes the rows ``rows`` of the data, runs forward and backward for them and writes
``scale`` · Σ_i ∇C^(i) into the flat gradient (the NumPy module's layout: per layer the
block [W^l | b^l], row-major); it returns Σ_i C^(i). Two forms, chosen by size:

- **unrolled** (every layer at most :data:`UNROLL_MAX_UNITS` units, every formula with a
  float form): one sample's forward and backward pass written out unit by unit on scalar
  locals, ``w1_0_1`` being W^1_{01} — no arrays but the parameters, the gradient and the
  data;
- **array**: a batch held as rows in buffers made once per batch size, each product one
  call on contiguous arrays — the forward products by ``_dot_nt``
  (:mod:`symprop.codegen.numba.dot`) when they sum enough terms, the others by ``np.dot``
  (BLAS) — each formula of a unit in a loop over the batch and the layer's units.

The dense algebra (z = [W | b] [a; 1], δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ φ'(z^l),
∂C/∂[W^l | b^l] = δ^l [a^{l−1}; 1]ᵀ) is written here; every φ, φ', δ^L and cost comes from
:class:`~symprop.codegen.model.TrainingModel`, printed by :class:`UnitPrinter` (Python
float code, which Numba compiles as it is). Nothing here names an activation or a loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symprop.codegen.model import TrainingModel
from symprop.codegen.numba.dot import dot_nt_source, use_dot
from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.numpy.printer import ScalarPrinter
from symprop.codegen.stable import BatchSum, StableFunction

__all__ = ["UNROLL_MAX_UNITS", "Kernel", "Unsupported", "UnitPrinter", "kernel"]

UNROLL_MAX_UNITS = 16
"""Networks whose layers all have at most this many units get the unrolled step."""

ROW_HELPERS: dict[str, str] = {
    "_softmax": '''def _softmax_row(z, out):
    """Softmax exp(z_i)/Σ_k exp(z_k) of one sample's units into ``out``, shifted by their
    maximum (no overflow)."""
    top = z.max()
    total = 0.0
    for k in range(z.shape[0]):
        out[k] = math.exp(z[k] - top)
        total += out[k]
    for k in range(z.shape[0]):
        out[k] /= total''',
    "_log_softmax": '''def _log_softmax_row(z, out):
    """Log softmax z_i − log Σ_k exp(z_k) of one sample's units into ``out``, by the
    log-sum-exp trick."""
    top = z.max()
    total = 0.0
    for k in range(z.shape[0]):
        total += math.exp(z[k] - top)
    shift = top + math.log(total)
    for k in range(z.shape[0]):
        out[k] = z[k] - shift''',
}
"""Compiled primitives of the stable functions that act on a sample's units together, by
the stable function's helper name: they write one row."""


class Unsupported(ValueError):
    """The network has a formula the compiled backend cannot print."""


class UnitPrinter(ScalarPrinter):
    """Prints a unit's formula as float code that Numba compiles (``math`` and the scalar
    helpers); names map the model's symbols to locals or array entries (``z1[i, j]``), and
    ``sums`` the sums over a sample's units that the step computes first to locals."""

    def __init__(self) -> None:
        super().__init__()
        self.sums: dict[sp.Basic, str] = {}

    def _print_BatchSum(self, expr: BatchSum) -> str:
        if expr in self.sums:
            return self.sums[expr]
        return super()._print_BatchSum(expr)


@dataclass(frozen=True)
class Buffer:
    """A step buffer: ``name`` of shape (batch, ``width``); ``ones``: its last column is 1."""

    name: str
    width: int
    ones: bool = False


@dataclass(frozen=True)
class Kernel:
    """The printed step: its form, its body lines and what they call."""

    unrolled: bool
    body: tuple[str, ...]  # _sample's body (unrolled) or _step's (array), one indent level
    buffers: tuple[Buffer, ...]  # array form: the buffers of _workspace, in order
    helpers: tuple[str, ...]  # sources of the scalar and row helpers called, sorted by name
    products: tuple[str, ...] = ()  # array form: sources of the matrix products it calls


class _Cite:
    """``(6, 7)``: the numbers of the derivation's formulas a comment's line computes, as
    its document tags them (:func:`symprop.derivation.steps.formula_numbers`)."""

    def __init__(self, numbers: Mapping[str, int]) -> None:
        self.numbers = numbers

    def __call__(self, *ids: str) -> str:
        found = [str(self.numbers[i]) for i in ids if i in self.numbers]
        return f"({', '.join(found)}) " if found else ""


def _unit_names(printer: UnitPrinter, **names: str) -> None:
    printer.names = dict(names)


def _unrolled(model: TrainingModel, printer: UnitPrinter, cite: _Cite) -> tuple[str, ...]:
    """One sample (row ``r`` of ``X`` and ``Y``) forward and backward on scalar locals; adds
    ``scale`` · ∇C into ``g`` and returns C."""
    widths, L = model.widths, model.depth
    lines = []
    start = 0
    for l in range(1, L + 1):
        for j in range(widths[l]):
            row = [f"w{l}_{j}_{k}" for k in range(widths[l - 1])] + [f"b{l}_{j}"]
            for offset, name in enumerate(row):
                lines.append(f"{name} = theta[{start + offset}]")
            start += len(row)
    lines += [f"a0_{k} = X[r, {k}]" for k in range(widths[0])]
    lines += [f"y_{j} = Y[r, {j}]" for j in range(widths[L])]
    for layer in model.layers:
        l = layer.index
        z_a = cite(f"forward.layer.{l}.z", f"forward.layer.{l}")
        lines.append(f"# {z_a}z^{l} = W^{l} a^{l - 1} + b^{l},  a^{l} = φ(z^{l})")
        for j in range(widths[l]):
            terms = [f"w{l}_{j}_{k} * a{l - 1}_{k}" for k in range(widths[l - 1])]
            lines.append(f"z{l}_{j} = {' + '.join(terms)} + b{l}_{j}")
            _unit_names(printer, z=f"z{l}_{j}")
            lines.append(f"a{l}_{j} = {printer.doprint(layer.phi)}")
    costs = []
    lines.append(f"# {cite('cost.sample', f'summary.delta.{L}')}C and δ^{L} (scaled by the step's)")
    for j in range(widths[L]):
        _unit_names(printer, a=f"a{L}_{j}", z=f"z{L}_{j}", y=f"y_{j}")
        costs.append(f"({printer.doprint(model.output.cost)})")
        lines.append(f"delta{L}_{j} = scale * ({printer.doprint(model.output.delta)})")
    for layer in reversed(model.layers[:-1]):
        l = layer.index
        lines.append(f"# {cite(f'summary.delta.{l}')}δ^{l} = ((W^{l + 1})ᵀ δ^{l + 1}) ⊙ φ'(z^{l})")
        for j in range(widths[l]):
            back = " + ".join(f"w{l + 1}_{k}_{j} * delta{l + 1}_{k}" for k in range(widths[l + 1]))
            if layer.dphi is None:
                lines.append(f"delta{l}_{j} = {back}")
            else:
                _unit_names(printer, a=f"a{l}_{j}", z=f"z{l}_{j}")
                lines.append(f"delta{l}_{j} = ({back}) * ({printer.doprint(layer.dphi)})")
    grads = [f"summary.grad_{p}.{l}" for l in range(1, L + 1) for p in "Wb"]
    lines.append(f"# {cite(*grads)}∂C/∂W^l = δ^l (a^{{l−1}})ᵀ,  ∂C/∂b^l = δ^l")
    index = 0
    for l in range(1, L + 1):
        for j in range(widths[l]):
            for k in range(widths[l - 1]):
                lines.append(f"g[{index}] += delta{l}_{j} * a{l - 1}_{k}")
                index += 1
            lines.append(f"g[{index}] += delta{l}_{j}")
            index += 1
    lines.append(f"return {' + '.join(costs)}")
    return tuple(lines)


def _vector_call(expr: sp.Basic, row: str, out: str) -> str:
    """``helper_row(z[i], out[i])`` for a stable function of a sample's units."""
    if not (isinstance(expr, StableFunction) and expr.helper in ROW_HELPERS):
        raise Unsupported(f"no compiled form of {expr} over a sample's units")
    return f"{expr.helper}_row({row}, {out})"


def _array(
    model: TrainingModel, printer: UnitPrinter, cite: _Cite
) -> tuple[tuple[str, ...], tuple[Buffer, ...], tuple[str, ...]]:
    """A batch of rows through buffers: products by ``_dot_nt`` or ``np.dot``, unit formulas
    in loops; also the sources of the products called.

    The rule (:func:`~symprop.codegen.numba.dot.use_dot`, measured in a whole step): the
    forward product z^l = [a^{l−1} 1] [W^l | b^l]ᵀ, whose operands are both rows contiguous
    along its n_{l−1} + 1 terms, is ``_dot_nt`` when the terms are enough; the products
    for δ^l and ∂C/∂[W^l | b^l] stay ``np.dot``: ``_dot_nt`` would need an operand
    transposed first (W^{l+1}, or δ^l and a^{l−1}), and with that copy it was slower.
    """
    widths, L = model.widths, model.depth
    out = model.output
    buffers = [Buffer("a0", widths[0] + 1, ones=True)]
    for l in range(1, L):
        buffers += [Buffer(f"z{l}", widths[l]), Buffer(f"a{l}", widths[l] + 1, ones=True)]
        buffers += [Buffer(f"delta{l}", widths[l]), Buffer(f"back{l}", widths[l] + 1)]
    buffers += [Buffer(f"z{L}", widths[L]), Buffer(f"a{L}", widths[L])]
    buffers += [Buffer(str(sym), widths[L]) for sym, _ in out.shared]
    buffers += [Buffer(f"delta{L}", widths[L]), Buffer("y", widths[L])]
    lines = [f"{', '.join(b.name for b in buffers)} = ws", "m = rows.shape[0]"]
    lines += [
        "for i in range(m):",
        "    r = rows[i]",
        f"    for k in range({widths[0]}):",
        "        a0[i, k] = X[r, k]",
        f"    for j in range({widths[L]}):",
        "        y[i, j] = Y[r, j]",
    ]
    start = 0
    for l in range(1, L + 1):
        size = widths[l] * (widths[l - 1] + 1)
        lines.append(
            f"W{l} = theta[{start}:{start + size}].reshape(({widths[l]}, {widths[l - 1] + 1}))"
        )
        start += size
    for layer in model.layers[:-1]:
        l = layer.index
        z_a = cite(f"forward.layer.{l}.z", f"forward.layer.{l}")
        lines.append(f"# {z_a}z^{l} = [a^{l - 1} 1] [W^{l} | b^{l}]ᵀ,  a^{l} = φ(z^{l})")
        lines.append(_forward_product(l, widths[l - 1] + 1))
        _unit_names(printer, z=f"z{l}[i, j]")
        lines += [
            "for i in range(m):",
            f"    for j in range({widths[l]}):",
            f"        a{l}[i, j] = {printer.doprint(layer.phi)}",
        ]
    out_ids = cite(
        f"forward.layer.{L}.z", f"forward.layer.{L}", "cost.sample", f"summary.delta.{L}"
    )
    lines.append(f"# {out_ids}z^{L} = [a^{L - 1} 1] [W^{L} | b^{L}]ᵀ, a^{L}, the cost and δ^{L}")
    lines.append(_forward_product(L, widths[L - 1] + 1))
    names = {"a": f"a{L}[i, j]", "z": f"z{L}[i, j]", "y": "y[i, j]"}
    names |= {str(sym): f"{sym}[i, j]" for sym, _ in out.shared}
    lines += ["cost = 0.0", "for i in range(m):"]
    for sym, expr in out.shared:
        lines.append(f"    {_vector_call(expr, f'z{L}[i]', f'{sym}[i]')}")
    if out.shared_activation is None and not model.layers[-1].elementwise:
        lines.append(f"    {_vector_call(out.activation, f'z{L}[i]', f'a{L}[i]')}")
    printer.names = names
    if out.shared_activation is not None or model.layers[-1].elementwise:
        activation = out.shared_activation
        if activation is None:
            activation = model.layers[-1].phi
        lines += [
            f"    for j in range({widths[L]}):",
            f"        a{L}[i, j] = {printer.doprint(activation)}",
        ]
    # Sums over the sample's units that δ^L or the cost use, once per sample.
    found = out.delta.atoms(BatchSum) | out.shared_cost.atoms(BatchSum)
    for number, total in enumerate(sorted(found, key=sp.default_sort_key)):
        name = f"sum{number}"
        lines += [
            f"    {name} = 0.0",
            f"    for j in range({widths[L]}):",
            f"        {name} += {printer.doprint(total.args[0])}",
        ]
        printer.sums[total] = name
    lines += [
        f"    for j in range({widths[L]}):",
        f"        cost += {printer.doprint(out.shared_cost)}",
        f"        delta{L}[i, j] = scale * ({printer.doprint(out.delta)})",
    ]
    for layer in reversed(model.layers):
        l = layer.index
        grad_ids = cite(f"summary.grad_W.{l}", f"summary.grad_b.{l}")
        lines.append(f"# {grad_ids}∂C/∂[W^{l} | b^{l}] = Σ_i δ^{l} [a^{l - 1} 1]ᵀ")
        size = widths[l] * (widths[l - 1] + 1)
        lines.append(
            f"np.dot(delta{l}.T, a{l - 1}, grad[{start - size}:{start}]"
            f".reshape(({widths[l]}, {widths[l - 1] + 1})))"
        )
        start -= size
        if l == 1:
            break
        below = model.layers[l - 2]
        lines.append(
            f"# {cite(f'summary.delta.{l - 1}')}δ^{l - 1} = ((W^{l})ᵀ δ^{l}) ⊙ φ'(z^{l - 1}), "
            "b's column dropped"
        )
        lines.append(f"np.dot(delta{l}, W{l}, back{l - 1})")
        _unit_names(printer, a=f"a{l - 1}[i, j]", z=f"z{l - 1}[i, j]")
        factor = "" if below.dphi is None else f" * ({printer.doprint(below.dphi)})"
        lines += [
            "for i in range(m):",
            f"    for j in range({widths[l - 1]}):",
            f"        delta{l - 1}[i, j] = back{l - 1}[i, j]{factor}",
        ]
    lines.append("return cost")
    used = any(use_dot(widths[l - 1] + 1) for l in range(1, L + 1))
    return tuple(lines), tuple(buffers), (dot_nt_source(),) if used else ()


def _forward_product(l: int, k: int) -> str:
    """z^l = [a^{l−1} 1] [W^l | b^l]ᵀ, a product over ``k`` = n_{l−1} + 1 terms."""
    if use_dot(k):
        return f"_dot_nt(a{l - 1}, W{l}, z{l})"
    return f"np.dot(a{l - 1}, W{l}.T, z{l})"


def kernel(model: TrainingModel, numbers: Mapping[str, int] | None = None) -> Kernel:
    """The compiled step of ``model``'s network: unrolled when every layer is small and
    every formula has a float form, else on arrays.

    Raises
    ------
    Unsupported
        A formula has no compiled form (a sum over the output's units in δ^L or the cost).

    ``numbers`` are the derivation's formula numbers (step id → number): each comment of
    the step cites the formulas its lines compute, ``# (6, 7) z^1 = …``.
    """
    cite = _Cite(numbers or {})
    printer = UnitPrinter()
    small = max(model.widths[1:]) <= UNROLL_MAX_UNITS
    body: tuple[str, ...] = ()
    buffers: tuple[Buffer, ...] = ()
    products: tuple[str, ...] = ()
    unrolled = False
    if small:
        try:
            body = _unrolled(model, printer, cite)
            unrolled = True
        except NotImplementedError:
            printer = UnitPrinter()
    if not unrolled:
        try:
            body, buffers, products = _array(model, printer, cite)
        except NotImplementedError as exc:
            raise Unsupported(str(exc)) from None
    sources = [HELPERS[h].source for h in sorted(printer.helpers_used)]
    if not unrolled:
        used = {expr.helper for _, expr in model.output.shared}
        if model.output.shared_activation is None and not model.layers[-1].elementwise:
            used.add(getattr(model.output.activation, "helper", ""))
        sources += [ROW_HELPERS[h] for h in sorted(used) if h in ROW_HELPERS]
    return Kernel(unrolled, body, buffers, tuple(sources), products)
