"""Values of the nodes that are not arithmetic: conditions, case splits, indicators, the
difference quotient of a ``\\lim``, and Ng's bias unit in products.

Pure functions on explicit SymPy matrices (the evaluator computes the children); a scalar
(1×1) broadcasts against a vector or matrix, as in the rest of the evaluator.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from symprop.verify.errors import VerifyError

Conditions = tuple[tuple[int, int], tuple[sp.Basic, ...]]
"""A condition per entry: the shape and the entries row by row (SymPy booleans)."""

_RELATIONS: dict[str, Callable[[sp.Expr, sp.Expr], sp.Basic]] = {
    "lt": sp.StrictLessThan,
    "le": sp.LessThan,
    "gt": sp.StrictGreaterThan,
    "ge": sp.GreaterThan,
    "eq": sp.Eq,
    "ne": sp.Ne,
}


class ShapeMismatch(Exception):
    """Operands whose shapes do not broadcast (the evaluator reports it as not defined)."""


def _common_shape(shapes: list[tuple[int, int]]) -> tuple[int, int]:
    big = {s for s in shapes if s != (1, 1)}
    if len(big) > 1:
        raise ShapeMismatch(" and ".join(f"{r}×{c}" for r, c in sorted(big)))
    return big.pop() if big else (1, 1)


def _entry(value: sp.Matrix, r: int, c: int) -> sp.Expr:
    return value[0, 0] if value.shape == (1, 1) else value[r, c]


def relation_value(op: str, left: sp.Matrix, right: sp.Matrix) -> Conditions:
    """``left op right`` entry by entry (``z > 0`` on a vector z is a vector of conditions).

    Raises
    ------
    ShapeMismatch
        Sides of different shapes (neither a scalar).
    """
    shape = _common_shape([left.shape, right.shape])
    relation = _RELATIONS[op]
    entries = tuple(
        relation(_entry(left, r, c), _entry(right, r, c))
        for r in range(shape[0])
        for c in range(shape[1])
    )
    return shape, entries


def cases_value(cases: list[tuple[sp.Matrix, Conditions | None]]) -> sp.Matrix:
    """A case split entry by entry: the first case whose condition holds applies.

    Without an "otherwise" case, an entry where no condition holds is undefined (NaN), so a
    claim is never judged on a value it does not give.
    """
    shapes = [v.shape for v, _ in cases] + [c[0] for _, c in cases if c is not None]
    shape = _common_shape(shapes)
    out = []
    for r in range(shape[0]):
        for c in range(shape[1]):
            pieces: list[tuple[sp.Expr, sp.Basic]] = []
            for value, cond in cases:
                if cond is None:
                    pieces.append((_entry(value, r, c), sp.true))
                    break
                cshape, entries = cond
                holds = entries[0] if cshape == (1, 1) else entries[r * cshape[1] + c]
                pieces.append((_entry(value, r, c), holds))
            else:
                pieces.append((sp.nan, sp.true))
            out.append(sp.Piecewise(*pieces))
    return sp.Matrix(shape[0], shape[1], out)


def indicator_value(condition: Conditions) -> sp.Matrix:
    """``𝟙[condition]``: 1 where it holds, else 0."""
    (rows, cols), entries = condition
    return sp.Matrix(rows, cols, [sp.Piecewise((1, e), (0, True)) for e in entries])


def difference_quotient(numerator: sp.Matrix, var: sp.Symbol, scale: sp.Expr) -> sp.Matrix:
    """``lim_{h→0} N(h) / (c h)`` for a numerator that vanishes at ``h = 0``: ``N'(0) / c``.

    This is the only limit a claim may write (a derivative's definition); the numerator is
    differentiable in ``h`` wherever the functions of the claim are, so the limit is its
    derivative at 0 (l'Hôpital), computed with ``sympy.diff``, never a general limit search.

    Raises
    ------
    VerifyError
        A numerator that does not vanish at ``h = 0`` (not a difference quotient).
    """
    at_zero = numerator.xreplace({var: sp.S.Zero})
    if any(sp.expand(e) != 0 for e in at_zero):
        raise VerifyError(
            "\\lim is read only as a derivative's definition, lim_{h→0} (f(x+h) − f(x))/h; "
            "this numerator does not vanish at h = 0"
        )
    return numerator.applyfunc(lambda e: sp.diff(e, var).xreplace({var: sp.S.Zero}) / scale)


def bias_unit_product(
    left: sp.Matrix,
    right: sp.Matrix,
    *,
    theta_left: bool,
    theta_transposed_left: bool,
    activation_row_right: bool,
) -> tuple[sp.Matrix, sp.Matrix, bool]:
    """Ng's bias unit in a product, where the written product needs it.

    ``Θ^{(l)}`` has the bias in column 0, the vectors ``a^{(l)}`` do not carry the bias unit
    (they are ``g(z^{(l)})``, as long as ``z^{(l)}`` and ``δ^{(l)}``). Hence, as Ng writes:

    * ``Θ^{(l)} v`` with ``v`` one entry shorter than ``Θ`` is wide: ``v`` gets the bias
      unit ``1`` prepended (``z^{(l+1)} = Θ^{(l)} a^{(l)}``);
    * ``(Θ^{(l)})ᵀ v`` has the bias row first: it is dropped (the ``δ_0`` Ng discards);
    * ``v (a^{(l)})ᵀ``: the row gets the bias unit, so the outer product has Θ's shape
      (``Δ^{(l)} = Δ^{(l)} + δ^{(l+1)} (a^{(l)})ᵀ``).

    Returns the operands and whether the product's first row is to be dropped.
    """
    one = sp.Matrix([[1]])
    if theta_left and right.cols == 1 and left.cols == right.rows + 1:
        right = one.col_join(right)
    if activation_row_right and left.cols == 1 and right.rows == 1:
        right = one.row_join(right)
    drop = theta_transposed_left and left.cols == right.rows and left.rows > 1
    return left, right, drop
