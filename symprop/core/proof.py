"""The one numeric proof engine: high-precision evaluation, independent derivatives, verdicts.

A claim such as "this formula is ∂J/∂W" is checked by evaluating the formula and an
independent reference at the same points with mpmath at :data:`WORKING_DIGITS` significant
digits and comparing them with a stated tolerance. The reference derivative never comes
from a formula under test: :func:`central_difference` differentiates a *value* (a cost
computed by a plain forward evaluation) with a step so small, at so high a working
precision, that its error (about 10^(−2·digits/3)) lies far below the tolerance.

The module knows nothing about layers or networks; callers give callables, SymPy
expressions and points. The verdict is data: an :class:`Agreement`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp

from symprop.core.calculus import expand_activations, proven_equal

WORKING_DIGITS = 80
"""Significant decimal digits of every numeric evaluation."""
TOLERANCE = mpmath.mpf("1e-25")
"""Default largest accepted relative difference (relative to max(1, |reference|))."""

Real = mpmath.mpf


@dataclass(frozen=True)
class Agreement:
    """The verdict on one claim.

    Attributes
    ----------
    name
        What was claimed (``"δ^2 (hidden recurrence)"``…).
    passed
        True when every compared value agreed within ``tolerance``.
    max_relative_difference
        The largest ``|claimed − reference| / max(1, |reference|)`` seen (``inf`` when a
        value was not finite; ``0`` for a symbolic proof).
    how
        How the claim was checked, for reports.
    points
        The number of points compared (``0`` for a symbolic proof).
    tolerance
        The accepted relative difference.
    """

    name: str
    passed: bool
    max_relative_difference: float
    how: str
    points: int = 0
    tolerance: float = float(TOLERANCE)


def working_precision(digits: int = WORKING_DIGITS) -> mpmath.ctx_mp.PrecisionManager:
    """Context manager: mpmath arithmetic at ``digits`` significant digits."""
    return mpmath.workdps(digits)


def to_real(value: object) -> mpmath.mpf:
    """An exact or float number (int, SymPy Rational/Float, mpf, str) as an mpmath real."""
    if isinstance(value, mpmath.mpf):
        return value
    if isinstance(value, sp.Rational):
        return mpmath.mpf(value.p) / value.q
    if isinstance(value, sp.Float):
        return mpmath.mpf(value._mpf_)
    if isinstance(value, int | str | float):
        return mpmath.mpf(value)
    raise TypeError(f"not a real number: {value!r}")


def compile_exprs(
    exprs: Sequence[sp.Expr], symbols: Sequence[sp.Symbol]
) -> Callable[..., list[mpmath.mpf]]:
    """A callable evaluating SymPy ``exprs`` (applied activations expanded) with mpmath.

    Piecewise expressions become conditional evaluation, so the branch is the one whose
    condition holds at the arguments.
    """
    expanded = [expand_activations(sp.sympify(e)) for e in exprs]
    fn = sp.lambdify(list(symbols), expanded, modules="mpmath", cse=True)

    def call(*args: mpmath.mpf) -> list[mpmath.mpf]:
        return [mpmath.mpf(v) for v in fn(*args)]

    return call


def relative_difference(claimed: object, reference: object) -> mpmath.mpf:
    """``|claimed − reference| / max(1, |reference|)``; ``inf`` when either is not finite."""
    c, r = mpmath.mpf(claimed), mpmath.mpf(reference)
    if not (mpmath.isfinite(c) and mpmath.isfinite(r)):
        return mpmath.inf
    return abs(c - r) / max(1, abs(r))


def default_step(digits: int = WORKING_DIGITS) -> mpmath.mpf:
    """The central-difference step 10^(−digits/3): truncation (h²) and rounding (10^−digits/h)
    errors then both lie near 10^(−2·digits/3)."""
    return mpmath.mpf(10) ** (-(digits // 3))


def central_difference(
    f: Callable[[list[mpmath.mpf]], mpmath.mpf],
    x: Sequence[mpmath.mpf],
    index: int,
    step: mpmath.mpf | None = None,
) -> mpmath.mpf:
    """∂f/∂x[index] at ``x`` by the central difference (f(x + h e) − f(x − h e)) / 2h.

    Call inside :func:`working_precision`; ``f`` must be smooth on [x − h, x + h] (for a
    piecewise function: the same branch on that interval).
    """
    h = default_step(mpmath.mp.dps) if step is None else step
    up, down = list(x), list(x)
    up[index] = x[index] + h
    down[index] = x[index] - h
    return (f(up) - f(down)) / (2 * h)


def gradient(
    f: Callable[[list[mpmath.mpf]], mpmath.mpf],
    x: Sequence[mpmath.mpf],
    indices: Iterable[int] | None = None,
) -> list[mpmath.mpf]:
    """The partial derivatives of ``f`` at ``x`` by :func:`central_difference`."""
    which = range(len(x)) if indices is None else indices
    return [central_difference(f, x, i) for i in which]


def compare(
    name: str,
    claimed: Sequence[Sequence[object]],
    reference: Sequence[Sequence[object]],
    how: str,
    tolerance: mpmath.mpf = TOLERANCE,
) -> Agreement:
    """Compare values point by point: ``claimed[p][m]`` against ``reference[p][m]``.

    ``how`` names the reference route; the report adds the number of points and the largest
    relative difference.
    """
    if len(claimed) != len(reference):
        raise ValueError("claimed and reference cover different numbers of points")
    # Differences are taken at working precision: at the default 15 digits two values that
    # agree to 15 digits would compare equal.
    with working_precision():
        worst = mpmath.mpf(0)
        for got, want in zip(claimed, reference, strict=True):
            if len(got) != len(want):
                raise ValueError("claimed and reference have different numbers of values")
            for c, r in zip(got, want, strict=True):
                worst = max(worst, relative_difference(c, r))
        passed = bool(worst <= tolerance)
        shown = "not finite" if worst == mpmath.inf else mpmath.nstr(worst, 3)
    return Agreement(
        name=name,
        passed=passed,
        max_relative_difference=float(worst),
        how=f"{how}; {len(claimed)} random rational points, max relative difference {shown}",
        points=len(claimed),
        tolerance=float(tolerance),
    )


def symbolic(name: str, lhs: sp.Expr, rhs: sp.Expr, how: str) -> Agreement:
    """Prove ``lhs == rhs`` with SymPy (:func:`~symprop.core.calculus.proven_equal`)."""
    passed = proven_equal(lhs, rhs)
    return Agreement(
        name=name,
        passed=passed,
        max_relative_difference=0.0 if passed else float("inf"),
        how=f"symbolic: {how}",
    )
