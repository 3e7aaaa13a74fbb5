"""Numeric evaluation of a derivation's matrix-form formulas, as printed.

The check (:mod:`symprop.derivation.check`) evaluates the summary steps themselves —
``δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ (1 − a^l ⊙ a^l)``, ``∂J/∂W^l = Δ^l / n + 2λ W^l`` … — at a
numeric point, so a formula that prints wrong fails its claim even when the data the code
generator reads is right. Quantities are looked up by role and layer
(:func:`symprop.core.symbols.quantity`); arithmetic is mpmath at the caller's precision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from symprop.core import proof
from symprop.core import symbols as g
from symprop.core.errors import SymPropError

Key = tuple[str, int | None]


class UnreadableFormulaError(SymPropError):
    """A formula holds a node the evaluator has no rule for (the claim then fails)."""


@dataclass(frozen=True)
class Values:
    """Numeric values of named quantities at one point.

    ``shared`` holds what every sample shares (``W``, ``b``), ``samples`` one mapping per
    batch sample (``x``, ``y``, ``a``, ``z``, ``delta``), keyed by ``(role, layer)`` with
    ``layer`` ``None`` for ``x`` and ``y``; ``scalars`` the scalar quantities (``lambda``).
    ``Δ^l`` is not stored: it is the batch sum of δ^l (a^{l−1})ᵀ.
    """

    shared: dict[Key, mpmath.matrix]
    samples: tuple[dict[Key, mpmath.matrix], ...]
    scalars: dict[str, mpmath.mpf] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return len(self.samples)


@functools.cache
def _elementwise(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> Callable[..., list]:
    return proof.compile_exprs([expr], list(symbols))


def _key(sym: sp.MatrixSymbol) -> Key:
    found = g.quantity(sym.name)
    if found is None:
        raise UnreadableFormulaError(f"formula: unknown quantity {sym.name}")
    role, layer = found
    if layer is not None and not layer.is_Integer:
        raise UnreadableFormulaError(f"formula: {sym.name} has no concrete layer")
    return role, None if layer is None else int(layer)


def _delta_sum(values: Values, layer: int) -> mpmath.matrix:
    """Δ^l = Σ_i δ^l(i) (a^{l−1}(i))ᵀ, the sum over the batch that the summary names."""
    total = None
    for smp in values.samples:
        term = smp[("delta", layer)] * smp[("a", layer - 1)].T
        total = term if total is None else total + term
    return total


def _lookup(sym: sp.MatrixSymbol, values: Values, sample: int | None) -> mpmath.matrix:
    role, layer = _key(sym)
    if role == "Delta" and layer is not None:
        return _delta_sum(values, layer)
    if (role, layer) in values.shared:
        return values.shared[(role, layer)]
    if sample is None:
        raise UnreadableFormulaError(f"formula: {sym.name} needs a sample")
    return values.samples[sample][(role, layer)]


def _is_batch_sum(expr: sp.Basic) -> bool:
    """A node ``(term, i, n)``: the sum of a per-sample term over the batch's samples."""
    return (
        isinstance(expr, MatrixExpr)
        and len(expr.args) == 3
        and isinstance(expr.args[0], MatrixExpr)
        and expr.args[1] == g.i
        and expr.args[2] == g.n_batch
    )


def _product(factors: list) -> object:
    out = factors[0]
    for f in factors[1:]:
        out = out * f
    return out


def _index_form(
    expr: sp.Expr, values: Values, sample: int | None, bind: dict[sp.Symbol, sp.Expr]
) -> mpmath.matrix:
    """A component formula in the unit index j (softmax's δ^L_j = …), for every unit j."""
    if sample is None:
        raise UnreadableFormulaError("formula: an index form needs a sample")
    here = values.samples[sample]
    widths: dict[sp.Symbol, sp.Integer] = {}
    for sym in expr.free_symbols:
        found = g.quantity(sym.name) if isinstance(sym, sp.Symbol) else None
        if found is not None and found[0] == "n" and found[1] is not None:
            widths[sym] = sp.Integer(here[("a", int(found[1]))].rows)
    if len(widths) != 1:
        raise UnreadableFormulaError("formula: an index form needs exactly one layer width")
    (rows,) = widths.values()
    out = []
    for row in range(1, int(rows) + 1):
        concrete = expr.subs(bind).xreplace({g.j: sp.Integer(row)} | widths).doit()
        entries = sorted(concrete.atoms(sp.Indexed), key=sp.default_sort_key)
        dummies = [sp.Dummy() for _ in entries]
        args = []
        for entry in entries:
            found = g.quantity(entry.base.label.name)
            if found is None or not entry.indices[0].is_Integer:
                raise UnreadableFormulaError(f"formula: cannot read {entry}")
            role, layer = found
            key = (role, None if layer is None else int(layer))
            vec = values.shared[key] if key in values.shared else here[key]
            args.append(vec[int(entry.indices[0]) - 1, 0])
        fn = proof.compile_exprs(
            [concrete.xreplace(dict(zip(entries, dummies, strict=True)))], dummies
        )
        out.append([fn(*args)[0]])
    return mpmath.matrix(out)


def evaluate(
    expr: sp.Basic,
    values: Values,
    sample: int | None = None,
    bind: dict[sp.Symbol, sp.Expr] | None = None,
) -> object:
    """The value of a matrix-form formula (an mpmath matrix, or a number for a scalar).

    ``sample`` selects the per-sample quantities (0-based); a batch sum runs over all.
    ``bind`` gives values to the activation parameters of elementwise formulas (α …).
    """
    bind = bind or {}
    if not isinstance(expr, MatrixExpr) and expr.has(g.j):
        return _index_form(expr, values, sample, bind)
    if isinstance(expr, sp.MatrixSymbol):
        return _lookup(expr, values, sample)
    if isinstance(expr, g.Vectorized):
        mapping = sorted(expr.mapping.items(), key=lambda p: p[0].name)
        mats = [evaluate(v, values, sample, bind) for _, v in mapping]
        fn = _elementwise(expr.expr.subs(bind), tuple(s for s, _ in mapping))
        rows = mats[0].rows
        return mpmath.matrix([[fn(*[m[r, 0] for m in mats])[0]] for r in range(rows)])
    if _is_batch_sum(expr):
        terms = [evaluate(expr.args[0], values, s, bind) for s in range(values.batch)]
        return sum(terms[1:], terms[0])
    if isinstance(expr, sp.Transpose):
        return evaluate(expr.arg, values, sample, bind).T
    if isinstance(expr, sp.HadamardProduct):
        mats = [evaluate(arg, values, sample, bind) for arg in expr.args]
        out = mats[0].copy()
        for m in mats[1:]:
            for r in range(out.rows):
                for c in range(out.cols):
                    out[r, c] *= m[r, c]
        return out
    if isinstance(expr, sp.MatMul | sp.Mul):
        # Scalars first: mpmath scales a matrix by a number from either side.
        factors = [evaluate(arg, values, sample, bind) for arg in expr.args]
        return _product(factors)
    if isinstance(expr, sp.MatAdd | sp.Add):
        terms = [evaluate(arg, values, sample, bind) for arg in expr.args]
        return sum(terms[1:], terms[0])
    if isinstance(expr, sp.Pow) and not isinstance(expr, MatrixExpr):
        return evaluate(expr.base, values, sample, bind) ** evaluate(expr.exp, values, sample, bind)
    if expr == g.n_batch:
        return mpmath.mpf(values.batch)
    if isinstance(expr, sp.Symbol):
        found = g.quantity(expr.name)
        if found is not None and found[0] in values.scalars:
            return values.scalars[found[0]]
        if found is not None and found[1] is not None and found[1].is_Integer:
            # A kind's array without axes at a layer (ρ^l): shared, or one per sample.
            key = (found[0], int(found[1]))
            if key in values.shared:
                return values.shared[key]
            if sample is not None and key in values.samples[sample]:
                return values.samples[sample][key]
    if isinstance(expr, sp.Number):
        return proof.to_real(expr)
    raise UnreadableFormulaError(f"formula: no numeric rule for {type(expr).__name__}")
