"""Claims that name no network quantity (σ'(z) = σ(z)(1 − σ(z)), a chain rule through
declared definitions, a worked example's numbers): both sides are evaluated with no model,
in the free symbols they name, and compared like network claims, symbolically when cheap,
else at seeded random rational points; a side that is a decimal literal is judged to the
precision it shows."""

from __future__ import annotations

from symprop.parsing import Equation, Expr
from symprop.verify.errors import VerifyError
from symprop.verify.evaluate import Env, Evaluator, NotDefined, index_product, index_range
from symprop.verify.explain import Outcome, free_points
from symprop.verify.notation import NUMBERINGS, Profile, free_indices, labelled_refs
from symprop.verify.numeric import (
    compare_sides,
    compare_to_shown,
    shown_decimals,
    shown_tolerance,
)
from symprop.verify.setting import Deadline, Setting

FREE_ROLES = frozenset({"free", "defined", "kronecker", "index"})
"""Roles of names that need no network: free symbols, definitions, Kronecker deltas, indices."""

_DIGITS = 40


def needs_network(scope: Expr, profile: Profile, setting: Setting) -> bool:
    """Whether a claim names a network quantity (else it is checked with no model)."""
    if not setting.has_network:
        return False
    return any(ref.role not in FREE_ROLES for ref, _ in labelled_refs(scope, profile))


def check_free(link: Equation, profile: Profile, setting: Setting, deadline: Deadline) -> Outcome:
    """``link`` checked with no network: every free index value, every entry."""
    env = Env(None, NUMBERINGS["input0"], {})
    ev = Evaluator(profile, env, deadline)
    free = free_indices(link, profile)
    pairs = []
    try:
        ranges = [range(1, index_range(link, i, ev) + 1) for i in free]
    except NotDefined as exc:
        raise VerifyError(f"cannot read the indices: {exc}") from None
    for values in index_product(ranges):
        env.indices = dict(zip(free, values, strict=True))
        try:
            lhs = ev(link.lhs)
        except NotDefined as exc:
            raise VerifyError(f"the left side is not defined: {exc}") from None
        try:
            rhs = ev(link.rhs)
        except NotDefined as exc:
            return Outcome(
                False,
                False,
                0,
                [],
                None,
                f"the right side is not defined: {exc}",
                {},
                None,
                NUMBERINGS["input0"],
                "input0",
            )  # type: ignore[arg-type]
        if lhs.shape != rhs.shape:
            return Outcome(
                False,
                False,
                0,
                [],
                None,
                f"the sides have different shapes: {lhs.rows}×{lhs.cols} on the left, "
                f"{rhs.rows}×{rhs.cols} on the right",
                {},
                None,
                NUMBERINGS["input0"],
                "input0",  # type: ignore[arg-type]
            )
        for r in range(lhs.rows):
            for c in range(lhs.cols):
                where = dict(env.indices)
                if lhs.rows > 1:
                    where["row"] = r + 1
                if lhs.cols > 1:
                    where["column"] = c + 1
                pairs.append((where, (r, c), lhs[r, c], rhs[r, c]))
    shown = shown_decimals(link.lhs, link.rhs)
    judged = compare_to_shown(pairs, *shown) if shown is not None else None
    if judged is not None:
        # A worked example's number: it holds when the exact value rounds to what is shown.
        assert shown is not None
        return Outcome(
            judged[0],
            False,
            1,
            [],
            judged[1],
            "",
            {},
            None,  # type: ignore[arg-type]
            NUMBERINGS["input0"],
            "input0",
            points=None,
            tolerance=shown_tolerance(shown[1]),
        )
    symbols = sorted(
        {s for _, _, x, y in pairs for s in (x.free_symbols | y.free_symbols)}, key=str
    )
    points = free_points(symbols, setting.points, setting.seed)
    equal, symbolic, mismatch, used = compare_sides(pairs, points, setting.points, deadline)
    return Outcome(
        equal,
        symbolic,
        used,
        [],
        mismatch,
        "",
        {},
        None,  # type: ignore[arg-type]
        NUMBERINGS["input0"],
        "input0",
        points=points,
    )
