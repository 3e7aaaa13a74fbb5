"""Arithmetic on explicit SymPy matrices as claims write it: products, powers and
derivatives of matrices, with a scalar (1×1) broadcasting."""

from __future__ import annotations

from collections.abc import Iterator

import sympy as sp

from symprop.verify.errors import VerifyError


class NotDefined(Exception):
    """A side is not defined at this binding (shapes do not conform, index out of range)."""


def _differentiate(num: sp.Matrix, den: sp.Matrix) -> sp.Matrix:
    if num.shape == (1, 1):
        return den.applyfunc(lambda d: sp.diff(num[0], d))
    if den.shape == (1, 1):
        return num.applyfunc(lambda e: sp.diff(e, den[0]))
    if num.cols == 1 and den.cols == 1:
        return sp.Matrix(num.rows, den.rows, lambda r, c: sp.diff(num[r], den[c]))
    raise NotDefined("the derivative of a vector by a matrix is not a matrix")


def _binop(op: str, left: sp.Matrix, right: sp.Matrix) -> sp.Matrix:
    lscalar, rscalar = left.shape == (1, 1), right.shape == (1, 1)
    if op in ("add", "sub"):
        if left.shape != right.shape:
            if lscalar:
                left = sp.Matrix(right.rows, right.cols, lambda r, c: left[0])
            elif rscalar:
                right = sp.Matrix(left.rows, left.cols, lambda r, c: right[0])
            else:
                raise NotDefined(f"cannot add a {shape_text(left)} and a {shape_text(right)}")
        return left + right if op == "add" else left - right
    if op in ("mul", "hadamard", "matmul"):
        if lscalar or rscalar:
            return right * left[0] if lscalar else left * right[0]
        if op == "hadamard":
            if left.shape != right.shape:
                raise NotDefined(f"⊙ of a {shape_text(left)} and a {shape_text(right)}")
            return left.multiply_elementwise(right)
        if left.cols == right.rows:
            return left * right
        if op == "mul" and left.shape == right.shape and left.cols == 1:
            # Two column vectors written side by side: read as elementwise, like Ng's .*
            return left.multiply_elementwise(right)
        raise NotDefined(f"cannot multiply a {shape_text(left)} by a {shape_text(right)}")
    if op == "div":
        if rscalar:
            return left.applyfunc(lambda e: e / right[0])
        if left.shape == right.shape:
            return sp.Matrix(left.rows, left.cols, lambda r, c: left[r, c] / right[r, c])
        raise NotDefined(f"cannot divide a {shape_text(left)} by a {shape_text(right)}")
    if op == "pow":
        if not rscalar:
            raise NotDefined("a power with a vector exponent")
        exponent = right[0]
        for base in left:
            _check_power_size(base, exponent)
        return left.applyfunc(lambda e: e**exponent)
    raise VerifyError(f"unknown operation {op}")


_MAX_POWER_BITS = 20_000


def _check_power_size(base: sp.Expr, exponent: sp.Expr) -> None:
    """Refuse a power SymPy would compute exactly and that would be huge (2^(2^…) nests)."""
    if base.is_Number and exponent.is_Number and base != 0:
        magnitude = abs(sp.Rational(base)) if base.is_Rational else abs(base)
        bits = max(abs(sp.log(magnitude, 2)).evalf(15), 1) * abs(exponent)
        if bits > _MAX_POWER_BITS:
            raise VerifyError("a constant in the claim is too large to check")


def shape_text(m: sp.Matrix) -> str:
    """A matrix's shape as the report writes it (``scalar`` or ``rows×cols``)."""
    return "scalar" if m.shape == (1, 1) else f"{m.rows}×{m.cols}"


def index_product(ranges: list[range]) -> Iterator[tuple[int, ...]]:
    """Every combination of values from ``ranges``, in order."""
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for rest in index_product(ranges[1:]):
            yield (head, *rest)
