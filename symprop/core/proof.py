"""The one numeric proof engine: high-precision evaluation, independent derivatives, verdicts.

A claim such as "this formula is ∂J/∂W" is checked by evaluating the formula and an
independent reference at the same points with mpmath at :data:`WORKING_DIGITS` significant
digits and comparing them with a stated tolerance. The reference derivative never comes
from a formula under test: :func:`central_difference` differentiates a *value* (a cost
computed by a plain forward evaluation) with a step so small, at so high a working
precision, that its error (about 10^(−2·digits/3)) lies far below the tolerance.

Both :meth:`Derivation.check` and ``symprop verify`` use it: exact rational points drawn
by :func:`draw_points` (redrawn near kinks), evaluation by :func:`compile_exprs` (trusted
formulas, many points) or :func:`evaluate` (user formulas: a whitelist of node types,
overflow as NaN, kinks detected), and comparison by :func:`compare` or
:func:`compare_expressions` with one relative-difference rule.

The module knows nothing about layers or networks; callers give callables, SymPy
expressions and points. The verdict is data: an :class:`Agreement`, with the first
failing point and both values as a :class:`Failure`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from symprop.core.calculus import expand_activations, proven_equal
from symprop.core.errors import SymPropError

WORKING_DIGITS = 80
"""Significant decimal digits of every numeric evaluation."""
TOLERANCE = mpmath.mpf("1e-25")
"""Default largest accepted relative difference (relative to max(1, |reference|))."""

KINK_MARGIN = mpmath.mpf("1e-20")
"""Default distance from a kink within which a point is rejected."""
OVERFLOW = mpmath.mpf("1e200")
"""Magnitudes beyond this count as overflow in :func:`evaluate` (NaN), never computed further."""

Real = mpmath.mpf


class ProofError(SymPropError):
    """A numeric comparison that cannot be carried out (no usable point, unknown node)."""


class EvaluationError(ProofError):
    """An expression :func:`evaluate` cannot evaluate: a symbol without value, an unknown node."""


class UndefinedEverywhereError(ProofError):
    """Every point was skipped: near a kink, or a reference value undefined."""


class Kink(Exception):  # noqa: N818  (a signal, not an error: the caller skips the point)
    """The point lies on (or within the margin of) a kink of a piecewise function."""


@dataclass(frozen=True)
class Failure:
    """Where a comparison failed: the point, the value's position there, and both values.

    Attributes
    ----------
    point
        Index of the point in the sequence compared.
    entry
        Index of the value at that point (the pair, or the flattened claim entry).
    claimed, reference
        Both values at that point.
    relative_difference
        ``|claimed − reference| / max(1, |reference|)`` (``inf`` when not finite).
    """

    point: int
    entry: int
    claimed: mpmath.mpf
    reference: mpmath.mpf
    relative_difference: mpmath.mpf


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
    failure
        The first value outside the tolerance, with its point and both values (``None``
        when the claim passed or was decided symbolically).
    """

    name: str
    passed: bool
    max_relative_difference: float
    how: str
    points: int = 0
    tolerance: float = float(TOLERANCE)
    failure: Failure | None = None


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
        failure = None
        for p, (got, want) in enumerate(zip(claimed, reference, strict=True)):
            if len(got) != len(want):
                raise ValueError("claimed and reference have different numbers of values")
            for m, (c, r) in enumerate(zip(got, want, strict=True)):
                diff = relative_difference(c, r)
                worst = max(worst, diff)
                if failure is None and not diff <= tolerance:
                    failure = Failure(p, m, mpmath.mpf(c), mpmath.mpf(r), diff)
        shown = "not finite" if worst == mpmath.inf else mpmath.nstr(worst, 3)
    return Agreement(
        name=name,
        passed=failure is None,
        max_relative_difference=float(worst),
        how=f"{how}; {len(claimed)} random rational points, max relative difference {shown}",
        points=len(claimed),
        tolerance=float(tolerance),
        failure=failure,
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


# --- points: exact rationals, drawn by seed, away from kinks --------------------------


@dataclass(frozen=True)
class Draw:
    """How one symbol's exact value is drawn: ``randint(low, high) / denominator``.

    With ``signed`` a random sign is drawn first and multiplies the magnitude, so values
    keep at least ``low / denominator`` away from 0.
    """

    low: int
    high: int
    signed: bool = False
    denominator: int = 1000

    def sample(self, rng: random.Random) -> sp.Rational:
        """One value (the sign, when signed, is drawn before the magnitude)."""
        if self.signed:
            sign = rng.choice([-1, 1])
            return sp.Rational(sign * rng.randint(self.low, self.high), self.denominator)
        return sp.Rational(rng.randint(self.low, self.high), self.denominator)


def draw_point(
    rng: random.Random,
    draws: Sequence[tuple[sp.Symbol, Draw]],
    normalise: Sequence[Sequence[sp.Symbol]] = (),
) -> dict[sp.Symbol, sp.Rational]:
    """One exact point: symbols drawn in order, then each ``normalise`` group scaled to sum 1."""
    values = {s: d.sample(rng) for s, d in draws}
    for group in normalise:
        total = sum(values[s] for s in group)
        for s in group:
            values[s] = values[s] / total
    return values


def draw_points(
    rng: random.Random,
    draws: Sequence[tuple[sp.Symbol, Draw]],
    count: int,
    *,
    normalise: Sequence[Sequence[sp.Symbol]] = (),
    rejects: Callable[[dict[sp.Symbol, sp.Rational]], bool] | None = None,
    attempts: int = 100,
) -> list[dict[sp.Symbol, sp.Rational]]:
    """``count`` exact points by :func:`draw_point`, each redrawn while ``rejects`` holds.

    Raises
    ------
    ProofError
        When ``attempts`` draws in a row are all rejected (a degenerate setting, never a
        silently kept bad point).
    """
    out = []
    for _ in range(count):
        for _attempt in range(attempts):
            pt = draw_point(rng, draws, normalise)
            if rejects is None or not rejects(pt):
                break
        else:
            raise ProofError(f"no point away from the kinks in {attempts} random draws")
        out.append(pt)
    return out


@dataclass(frozen=True)
class Point:
    """An exact point and the same values as mpmath reals."""

    rational: dict[sp.Symbol, sp.Rational]
    mp: dict[sp.Symbol, mpmath.mpf]

    @classmethod
    def of(cls, rational: dict[sp.Symbol, sp.Rational], digits: int = WORKING_DIGITS) -> Point:
        """The point with reals rounded at ``digits`` (so that Σ y = 1 holds to that many)."""
        with working_precision(digits):
            return cls(rational, {s: to_real(v) for s, v in rational.items()})


# --- guarded evaluation of SymPy expressions -------------------------------------------


def tree_size(expr: sp.Basic, cap: int) -> int:
    """The number of nodes of ``expr``, counted up to ``cap + 1`` (a work bound)."""
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > cap:
            break
    return count


_UNARY = {sp.tanh: mpmath.tanh, sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.Abs: abs}
_NAN = mpmath.mpf("nan")


def evaluate(
    expr: sp.Basic,
    point: Mapping[sp.Symbol, mpmath.mpf],
    memo: dict,
    kink_margin: mpmath.mpf = KINK_MARGIN,
) -> Any:
    """``expr`` at ``point`` with mpmath, by a whitelist of node types, memoised in ``memo``.

    Meant for formulas a user typed: an undefined value (log of a negative, 0 to a
    negative power) or a magnitude beyond :data:`OVERFLOW` is NaN, never an exception or a
    huge computation, and an argument within ``kink_margin`` of a kink (Abs, Heaviside,
    Max/Min ties, relations) raises :class:`Kink`. Call inside :func:`working_precision`.

    Raises
    ------
    Kink
        The point is within ``kink_margin`` of a kink.
    EvaluationError
        A symbol has no value, or a node type is not supported.
    """
    if expr in memo:
        return memo[expr]
    value = _node(expr, point, memo, kink_margin)
    if isinstance(value, mpmath.mpf) and (mpmath.isnan(value) or abs(value) > OVERFLOW):
        value = _NAN
    memo[expr] = value
    return value


def _pow(base: Any, exp: Any) -> Any:
    """base^exp, NaN where undefined or beyond e^400."""
    if mpmath.isnan(base) or mpmath.isnan(exp):
        return _NAN
    if base == 0:
        return _NAN if exp <= 0 else mpmath.mpf(0)
    if base < 0 and exp != int(exp):
        return _NAN
    if abs(exp * mpmath.log(abs(base))) > 400:
        return _NAN
    return mpmath.power(base, exp)


def _node(expr: sp.Basic, point: Mapping, memo: dict, margin: mpmath.mpf) -> Any:  # noqa: C901, PLR0911, PLR0912
    """One node of :func:`evaluate`."""

    def ev(e: sp.Basic) -> Any:
        return evaluate(e, point, memo, margin)

    if isinstance(expr, sp.Symbol):
        if expr not in point:
            raise EvaluationError(f"no value for {expr}")
        return point[expr]
    if isinstance(expr, sp.Rational):
        return mpmath.mpf(expr.p) / expr.q
    if isinstance(expr, sp.Float):
        return mpmath.mpf(str(expr))
    if expr is sp.E:
        return mpmath.e
    if expr is sp.pi:
        return mpmath.pi
    if expr in (sp.S.ComplexInfinity, sp.S.Infinity, sp.S.NegativeInfinity, sp.S.NaN):
        return _NAN
    if expr in (sp.S.true, sp.S.false):
        return bool(expr)
    if isinstance(expr, sp.Add):
        return mpmath.fsum(ev(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        out = mpmath.mpf(1)
        for a in expr.args:
            out *= ev(a)
        return out
    if isinstance(expr, sp.Pow):
        return _pow(ev(expr.base), ev(expr.exp))
    if isinstance(expr, sp.exp):
        arg = ev(expr.args[0])
        return _NAN if mpmath.isnan(arg) or arg > 400 else mpmath.exp(arg)
    if isinstance(expr, sp.log):
        arg = ev(expr.args[0])
        return _NAN if mpmath.isnan(arg) or arg <= 0 else mpmath.log(arg)
    for cls, fn in _UNARY.items():
        if isinstance(expr, cls):
            arg = ev(expr.args[0])
            if cls is sp.Abs and abs(arg) < margin:
                raise Kink
            return fn(arg)
    if isinstance(expr, sp.sinh | sp.cosh):
        arg = ev(expr.args[0])
        if abs(arg) > 400:
            return _NAN
        return mpmath.sinh(arg) if isinstance(expr, sp.sinh) else mpmath.cosh(arg)
    if isinstance(expr, sp.Heaviside | sp.DiracDelta):
        arg = ev(expr.args[0])
        if abs(arg) < margin:
            raise Kink
        if isinstance(expr, sp.DiracDelta):
            return mpmath.mpf(0)
        return mpmath.mpf(1) if arg > 0 else mpmath.mpf(0)
    if isinstance(expr, sp.Max | sp.Min):
        vals = [ev(a) for a in expr.args]
        ordered = sorted(vals)
        top = ordered[-2:] if isinstance(expr, sp.Max) else ordered[:2]
        if len(top) > 1 and abs(top[1] - top[0]) < margin:
            raise Kink
        return max(vals) if isinstance(expr, sp.Max) else min(vals)
    if isinstance(expr, sp.Piecewise):
        for branch, cond in expr.args:
            if ev(cond):
                return ev(branch)
        return _NAN
    if isinstance(expr, sp.Rel):
        lhs, rhs = ev(expr.lhs), ev(expr.rhs)
        if abs(lhs - rhs) < margin:
            raise Kink
        return {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs}.get(
            expr.rel_op, lhs == rhs
        )
    if isinstance(expr, sp.ITE):
        return ev(expr.args[1]) if ev(expr.args[0]) else ev(expr.args[2])
    if isinstance(expr, sp.And | sp.Or | sp.Not):
        vals = [ev(a) for a in expr.args]
        if isinstance(expr, sp.And):
            return all(vals)
        if isinstance(expr, sp.Or):
            return any(vals)
        return not vals[0]
    raise EvaluationError(f"cannot evaluate {type(expr).__name__} numerically")


def compare_expressions(  # noqa: PLR0913
    name: str,
    pairs: Sequence[tuple[sp.Expr, sp.Expr]],
    points: Sequence[Point],
    *,
    wanted: int,
    how: str,
    digits: int = WORKING_DIGITS,
    tolerance: mpmath.mpf = TOLERANCE,
    kink_margin: mpmath.mpf = KINK_MARGIN,
    tick: Callable[[], None] | None = None,
) -> Agreement:
    """Compare ``(reference, claimed)`` expression pairs by :func:`evaluate` at ``points``.

    Points are taken in order until ``wanted`` were used; a point is skipped when it lies
    near a kink or a reference value is undefined there (NaN). The comparison stops at the
    first value outside ``tolerance`` (a NaN claimed value fails), reported as the
    agreement's :class:`Failure` (``point`` indexes ``points``, ``entry`` indexes
    ``pairs``). ``tick`` runs before each point (a time limit raises from it).

    Raises
    ------
    UndefinedEverywhereError
        No point could be used.
    EvaluationError
        An expression cannot be evaluated.
    """
    used = 0
    worst = mpmath.mpf(0)
    with working_precision(digits):
        for index, point in enumerate(points):
            if used >= wanted:
                break
            if tick is not None:
                tick()
            memo: dict = {}
            try:
                values = [
                    (
                        evaluate(ref, point.mp, memo, kink_margin),
                        evaluate(cl, point.mp, memo, kink_margin),
                    )
                    for ref, cl in pairs
                ]
            except Kink:
                continue
            if any(mpmath.isnan(ref) for ref, _ in values):
                continue
            used += 1
            for entry, (ref, cl) in enumerate(values):
                diff = relative_difference(cl, ref)
                worst = max(worst, diff)
                if not diff <= tolerance:
                    return Agreement(
                        name=name,
                        passed=False,
                        max_relative_difference=float(worst),
                        how=f"{how}; differs at point {used}",
                        points=used,
                        tolerance=float(tolerance),
                        failure=Failure(index, entry, cl, ref, diff),
                    )
    if used == 0:
        raise UndefinedEverywhereError("undefined at every sampled point")
    return Agreement(
        name=name,
        passed=True,
        max_relative_difference=float(worst),
        how=f"{how}; {used} random rational points, max relative difference "
        + mpmath.nstr(worst, 3),
        points=used,
        tolerance=float(tolerance),
    )
