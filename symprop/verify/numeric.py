"""Comparing two sides: symbolically when cheap, else at exact rational points evaluated
with 40-digit arithmetic (away from ReLU kinks)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from symprop.verify.errors import VerifyError
from symprop.verify.setting import MAX_EXPR_NODES, Deadline, Model

_SYMBOLIC_OPS = 40  # try a symbolic proof only for differences this small (expand is cheap)
_DIGITS = 40
_TOLERANCE = mpmath.mpf("1e-25")
_BIG = mpmath.mpf("1e200")  # magnitudes beyond this count as overflow, never computed further


def _tree_size(expr: sp.Basic, cap: int = MAX_EXPR_NODES) -> int:
    """The number of nodes of ``expr``, counted up to ``cap + 1``."""
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > cap:
            break
    return count


# ---------------------------------------------------------------- numeric comparison


class _Kink(Exception):
    """The point lies on (or next to) a kink of a piecewise function."""


def _mp_eval(expr: sp.Basic, point: dict[sp.Symbol, mpmath.mpf], memo: dict) -> mpmath.mpf:
    """Evaluate a SymPy expression with mpmath, by a whitelist of node types, memoised."""
    if expr in memo:
        return memo[expr]
    value = _mp_node(expr, point, memo)
    if isinstance(value, mpmath.mpf) and (mpmath.isnan(value) or abs(value) > _BIG):
        value = mpmath.mpf("nan")
    memo[expr] = value
    return value


def _mp_node(expr: sp.Basic, point: dict, memo: dict) -> Any:  # noqa: C901, PLR0911, PLR0912
    def ev(e: sp.Basic) -> Any:
        return _mp_eval(e, point, memo)

    if isinstance(expr, sp.Symbol):
        if expr not in point:
            raise VerifyError(f"no value for {expr}")
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
        return mpmath.mpf("nan")
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
        base, exp = ev(expr.base), ev(expr.exp)
        if mpmath.isnan(base) or mpmath.isnan(exp):
            return mpmath.mpf("nan")
        if base == 0:
            return mpmath.mpf("nan") if exp <= 0 else mpmath.mpf(0)
        if base < 0 and exp != int(exp):
            return mpmath.mpf("nan")
        if abs(exp * mpmath.log(abs(base))) > 400:
            return mpmath.mpf("nan")
        return mpmath.power(base, exp)
    if isinstance(expr, sp.exp):
        arg = ev(expr.args[0])
        return mpmath.mpf("nan") if mpmath.isnan(arg) or arg > 400 else mpmath.exp(arg)
    if isinstance(expr, sp.log):
        arg = ev(expr.args[0])
        return mpmath.mpf("nan") if mpmath.isnan(arg) or arg <= 0 else mpmath.log(arg)
    unary = {
        sp.tanh: mpmath.tanh,
        sp.sin: mpmath.sin,
        sp.cos: mpmath.cos,
        sp.Abs: abs,
    }
    for cls, fn in unary.items():
        if isinstance(expr, cls):
            arg = ev(expr.args[0])
            if cls is sp.Abs and abs(arg) < 1e-12:
                raise _Kink
            return fn(arg)
    if isinstance(expr, sp.sinh | sp.cosh):
        arg = ev(expr.args[0])
        if abs(arg) > 400:
            return mpmath.mpf("nan")
        return mpmath.sinh(arg) if isinstance(expr, sp.sinh) else mpmath.cosh(arg)
    if isinstance(expr, sp.Heaviside):
        arg = ev(expr.args[0])
        if abs(arg) < 1e-12:
            raise _Kink
        return mpmath.mpf(1) if arg > 0 else mpmath.mpf(0)
    if isinstance(expr, sp.DiracDelta):
        arg = ev(expr.args[0])
        if abs(arg) < 1e-12:
            raise _Kink
        return mpmath.mpf(0)
    if isinstance(expr, sp.Max | sp.Min):
        vals = [ev(a) for a in expr.args]
        ordered = sorted(vals)
        if len(ordered) > 1 and abs(ordered[-1] - ordered[-2]) < 1e-12 and isinstance(expr, sp.Max):
            raise _Kink
        if len(ordered) > 1 and abs(ordered[0] - ordered[1]) < 1e-12 and isinstance(expr, sp.Min):
            raise _Kink
        return max(vals) if isinstance(expr, sp.Max) else min(vals)
    if isinstance(expr, sp.Piecewise):
        for branch, cond in expr.args:
            if ev(cond):
                return ev(branch)
        return mpmath.mpf("nan")
    if isinstance(expr, sp.Rel):
        lhs, rhs = ev(expr.lhs), ev(expr.rhs)
        if abs(lhs - rhs) < 1e-12:
            raise _Kink
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
    raise VerifyError(f"cannot evaluate {type(expr).__name__} numerically")


@dataclass(frozen=True)
class _Point:
    rational: dict[sp.Symbol, sp.Rational]
    mp: dict[sp.Symbol, mpmath.mpf]


def sample_points(model: Model, count: int, seed: int) -> list[_Point]:
    """``count`` seeded random rational points for the model's symbols (targets in range)."""
    rng = random.Random(seed)
    out = []
    syms = model.symbols()
    targets = set(model.targets)
    for _ in range(count * 4):
        values: dict[sp.Symbol, sp.Rational] = {}
        for s in syms:
            if s in targets:
                values[s] = sp.Rational(rng.randint(50, 950), 1000)
            elif s == model.lam:
                values[s] = sp.Rational(rng.randint(100, 1000), 1000)
            else:
                # Away from 0 so that ReLU kinks and 0/0 are unlikely; rejected below if hit.
                values[s] = sp.Rational(rng.choice([-1, 1]) * rng.randint(100, 1500), 1000)
        if model.distribution:
            for it in model.insts:
                total = sum(values[s] for s in it.y)
                for s in it.y:
                    values[s] = values[s] / total
        with mpmath.workdps(_DIGITS):  # at full precision: Σ y = 1 must hold to 40 digits
            out.append(_Point(values, {s: mpmath.mpf(v.p) / v.q for s, v in values.items()}))
    return out


@dataclass(frozen=True)
class Mismatch:
    """Where two sides differ: binding, entry, both sides and their values at the point."""

    where: dict[str, int]
    entry: tuple[int, int]
    lhs: sp.Expr
    rhs: sp.Expr
    point: _Point
    lvalue: Any
    rvalue: Any


def compare_sides(
    pairs: list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]],
    points: list[_Point],
    wanted: int,
    deadline: Deadline,
) -> tuple[bool, bool, Mismatch | None, int]:
    """(equal, all decided symbolically, first mismatch, points used)."""
    numeric = []
    for where, entry, lhs, rhs in pairs:
        deadline.check()
        if _tree_size(lhs) >= MAX_EXPR_NODES or _tree_size(rhs) >= MAX_EXPR_NODES:
            raise VerifyError("the instantiated claim is too large to check")
        difference = lhs - rhs
        if difference == 0:
            continue
        if (
            sp.count_ops(difference) <= _SYMBOLIC_OPS
            and not difference.has(sp.Piecewise)
            # expand((x + 1)^99) is slow; only small integer powers are expanded.
            and all(not p.exp.is_Number or abs(p.exp) <= 4 for p in difference.atoms(sp.Pow))
        ):
            try:
                if sp.expand(difference) == 0:
                    continue
            except (TypeError, ValueError, RecursionError):
                pass
        numeric.append((where, entry, lhs, rhs))
    if not numeric:
        return True, True, None, 0
    used = 0
    with mpmath.workdps(_DIGITS):
        for point in points:
            if used >= wanted:
                break
            deadline.check()
            memo: dict = {}
            results = []
            try:
                for where, entry, lhs, rhs in numeric:
                    results.append(
                        (
                            where,
                            entry,
                            lhs,
                            rhs,
                            _mp_eval(lhs, point.mp, memo),
                            _mp_eval(rhs, point.mp, memo),
                        )
                    )
            except _Kink:
                continue
            except RecursionError:
                raise VerifyError("the claim nests too deeply to evaluate") from None
            if any(mpmath.isnan(r[4]) for r in results):
                continue  # the left side is undefined here (log of a negative); try another
            used += 1
            for where, entry, lhs, rhs, lv, rv in results:
                scale = max(mpmath.mpf(1), abs(lv))
                if mpmath.isnan(rv) or abs(lv - rv) > _TOLERANCE * scale:
                    return False, False, Mismatch(where, entry, lhs, rhs, point, lv, rv), used
    if used == 0:
        raise VerifyError("the claim is undefined at every sampled point")
    return True, False, None, used


def same_values(a: list, b: list, points: list[_Point], deadline: Deadline) -> bool:
    """Whether two lists of (binding, entry, expression) agree at ``points``."""
    if len(a) != len(b):
        return False
    pairs = [(w, e, x[2], y[2]) for x, y in zip(a, b, strict=True) for w, e in [(x[0], x[1])]]
    try:
        equal, _, _, _ = compare_sides(pairs, points, 3, deadline)
    except VerifyError:
        return False
    return equal
