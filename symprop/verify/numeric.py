"""Comparing two sides of a claim: symbolically when cheap, else by the shared numeric
engine (:mod:`symprop.core.proof`) at exact rational points with 40-digit arithmetic.

What is verify's own: the symbolic attempt on small differences, the ranges points are
drawn from (targets in (0, 1), λ positive, weights away from 0), the size bound of an
instantiated claim and the :class:`Mismatch` a counterexample is printed from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from symprop.core import proof
from symprop.core.errors import shown
from symprop.parsing.tree import Expr, Neg, Number
from symprop.verify.errors import VerifyError
from symprop.verify.setting import MAX_EXPR_NODES, Deadline, Model

_SYMBOLIC_OPS = 40  # try a symbolic proof only for differences this small (expand is cheap)
_DIGITS = 40
_KINK_MARGIN = mpmath.mpf("1e-12")
# Targets inside (0, 1) (logs of y and 1 − y are defined); λ positive; every other value
# away from 0 so that ReLU kinks and 0/0 are unlikely (the evaluator skips them if hit).
_TARGET = proof.Draw(50, 950)
_LAMBDA = proof.Draw(100, 1000)
_OTHER = proof.Draw(100, 1500, signed=True)


def sample_points(model: Model, count: int, seed: int) -> list[proof.Point]:
    """``4 · count`` seeded random rational points for the model's symbols (spares for kinks)."""
    targets = set(model.targets)
    draws = [
        (s, _TARGET if s in targets else _LAMBDA if s == model.lam else _OTHER)
        for s in model.symbols()
    ]
    normalise = [it.y for it in model.insts] if model.distribution else []
    exact = proof.draw_points(random.Random(seed), draws, count * 4, normalise=normalise)
    # Reals at full precision: Σ y = 1 must hold to 40 digits.
    return [proof.Point.of(pt, _DIGITS) for pt in exact]


@dataclass(frozen=True)
class Mismatch:
    """Where two sides differ: binding, entry, both sides and their values at the point."""

    where: dict[str, int]
    entry: tuple[int, int]
    lhs: sp.Expr
    rhs: sp.Expr
    point: proof.Point
    lvalue: Any
    rvalue: Any


def _symbolically_zero(difference: sp.Expr) -> bool:
    """Whether a small difference expands to 0 (never tried on large or piecewise ones)."""
    if (
        sp.count_ops(difference) > _SYMBOLIC_OPS
        or difference.has(sp.Piecewise)
        # expand((x + 1)^99) is slow; only small integer powers are expanded.
        or any(p.exp.is_Number and abs(p.exp) > 4 for p in difference.atoms(sp.Pow))
    ):
        return False
    try:
        return sp.expand(difference) == 0
    except (TypeError, ValueError, RecursionError):
        return False


def compare_sides(
    pairs: list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]],
    points: list[proof.Point],
    wanted: int,
    deadline: Deadline,
) -> tuple[bool, bool, Mismatch | None, int]:
    """(equal, all decided symbolically, first mismatch, points used).

    The left side (what the claim names, differentiated by brute force) is the reference.
    """
    numeric = []
    for where, entry, lhs, rhs in pairs:
        deadline.check()
        if (
            proof.tree_size(lhs, MAX_EXPR_NODES) >= MAX_EXPR_NODES
            or proof.tree_size(rhs, MAX_EXPR_NODES) >= MAX_EXPR_NODES
        ):
            raise VerifyError("the instantiated claim is too large to check")
        difference = lhs - rhs
        if difference == 0 or _symbolically_zero(difference):
            continue
        numeric.append((where, entry, lhs, rhs))
    if not numeric:
        return True, True, None, 0
    try:
        verdict = proof.compare_expressions(
            "claim",
            [(lhs, rhs) for _, _, lhs, rhs in numeric],
            points,
            wanted=wanted,
            how="brute-force derivative against the claimed right-hand side",
            digits=_DIGITS,
            kink_margin=_KINK_MARGIN,
            tick=deadline.check,
        )
    except RecursionError:
        raise VerifyError("the claim nests too deeply to evaluate") from None
    except proof.UndefinedEverywhereError:
        raise VerifyError("the claim is undefined at every sampled point") from None
    except proof.EvaluationError as err:
        raise VerifyError(str(err)) from None
    failure = verdict.failure
    if failure is None:
        return True, False, None, verdict.points
    where, entry, lhs, rhs = numeric[failure.entry]
    mismatch = Mismatch(
        where, entry, lhs, rhs, points[failure.point], failure.reference, failure.claimed
    )
    return False, False, mismatch, verdict.points


def same_values(a: list, b: list, points: list[proof.Point], deadline: Deadline) -> bool:
    """Whether two lists of (binding, entry, expression) agree at ``points``."""
    if len(a) != len(b):
        return False
    pairs = [(w, e, x[2], y[2]) for x, y in zip(a, b, strict=True) for w, e in [(x[0], x[1])]]
    try:
        equal, _, _, _ = compare_sides(pairs, points, 3, deadline)
    except VerifyError:
        return False
    return equal


def compare_at_point(
    pairs: list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]], point: proof.Point
) -> Mismatch | bool | None:
    """Both sides as numbers at one point (a network checked at points): ``True`` when every
    entry agrees within :data:`symprop.core.proof.TOLERANCE`, the first :class:`Mismatch`
    otherwise, ``None`` when the reference (left side) is undefined there."""
    with proof.working_precision(_DIGITS):
        for where, entry, lhs, rhs in pairs:
            values = []
            for side in (lhs, rhs):
                if side.free_symbols:
                    raise VerifyError(f"a side is not a number at the point: {shown(str(side))}")
                values.append(_number(side))
            ref, claimed = values
            if mpmath.isnan(ref):
                return None
            if claimed == ref:
                continue
            if not proof.relative_difference(claimed, ref) <= proof.TOLERANCE:
                return Mismatch(where, entry, lhs, rhs, point, ref, claimed)
    return True


def _number(value: sp.Expr) -> Any:
    """A side's value as an mpmath real: SymPy reals and rationals directly (a network
    checked at points compares thousands of entries), anything else by the proof engine."""
    if isinstance(value, sp.Float):
        return mpmath.mpf(value._mpf_)
    if isinstance(value, sp.Rational):
        return mpmath.mpf(value.p) / value.q
    return proof.evaluate(value, {}, {}, _KINK_MARGIN)


def shown_decimals(lhs: Expr, rhs: Expr) -> tuple[str, int] | None:
    """The side written as a decimal literal (``= 0.7311``) and how many decimals it shows:
    a numeric claim is judged to that precision. ``None`` when neither side is one."""
    for which, side in (("right", rhs), ("left", lhs)):
        node = side.operand if isinstance(side, Neg) else side
        if isinstance(node, Number) and getattr(node, "decimals", None) is not None:
            return which, int(node.decimals)
    return None


def shown_tolerance(decimals: int) -> str:
    """How a claim at ``decimals`` shown decimals is judged, for the verdict."""
    return (
        f"to the {decimals} decimal{'s' if decimals != 1 else ''} shown: the exact value "
        f"rounds to it (|difference| ≤ 5e-{decimals + 1})"
    )


def compare_to_shown(
    pairs: list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]],
    literal: str,
    decimals: int,
) -> tuple[bool, Mismatch | None] | None:
    """Both sides are numbers and one is a literal with ``decimals`` decimals: it holds when
    the other side's exact value rounds to the literal, i.e. lies within half a unit of its
    last decimal. ``None`` when a side is not a number (the claim is then compared
    exactly)."""
    if any(lhs.free_symbols or rhs.free_symbols for _, _, lhs, rhs in pairs):
        return None
    half = mpmath.mpf(5) / mpmath.mpf(10) ** (decimals + 1)
    with proof.working_precision(_DIGITS):
        for where, entry, lhs, rhs in pairs:
            exact, shown_value = (lhs, rhs) if literal == "right" else (rhs, lhs)
            value, written = _number(exact), _number(shown_value)
            if mpmath.isnan(value):
                raise VerifyError("the claim's value is undefined")
            if not abs(value - written) <= half:
                point = proof.Point({}, {})
                return False, Mismatch(where, entry, lhs, rhs, point, _number(lhs), _number(rhs))
    return True, None
