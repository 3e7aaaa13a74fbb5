"""Why a false link is false: a complete, reproducible counterexample in the claim's own
variables, a verified correct right-hand side in its notation, and the known mistake it
makes (the catalogue of :mod:`~symprop.verify.diagnose` and
:mod:`~symprop.verify.mutations`)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sympy as sp

from symprop.core import proof
from symprop.parsing import BinOp, Equation, Expr, iter_nodes
from symprop.verify.diagnose import NoTemplate, candidates_for, sympy_to_ast
from symprop.verify.errors import VerifyError
from symprop.verify.evaluate import Env, Evaluator, NotDefined, index_product, index_range
from symprop.verify.mutations import (
    Family,
    a_vs_z,
    factor_2,
    hadamard_vs_matmul,
    lambda_scale,
    layer_index,
    one_over_n,
    sign,
    transpose,
)
from symprop.verify.notation import LAYERED, NUMBERING_TEXT, Profile, free_indices, labelled_refs
from symprop.verify.numeric import Mismatch, same_values, sample_points
from symprop.verify.render import Style, Writer, display_names, fmt_value, render_ast
from symprop.verify.report import Counterexample, Verdict
from symprop.verify.setting import Deadline, Model, Setting

MAX_MUTATIONS = 200
"""Most mutated formulas evaluated for one diagnosis (each is a small evaluation)."""


@dataclass
class Outcome:
    """One link checked under one reading: holds, or where it fails."""

    ok: bool
    symbolic: bool
    used: int
    checked: list[str]
    mismatch: Mismatch | None
    reason: str
    binding: dict[str, int] | None
    model: Model | None
    offsets: dict[str, int]
    numbering: str
    points: list[proof.Point] | None = None
    """The points compared at (``None``: the model's seeded points)."""
    tolerance: str = ""
    """How a numeric claim was judged (to the decimals it shows), else empty."""


_FREE_DRAW = proof.Draw(100, 1500, signed=True)


def free_points(symbols: Iterable[sp.Symbol], count: int, seed: int) -> list[proof.Point]:
    """``4 · count`` seeded random rational points for free symbols (spares for kinks)."""
    ordered = sorted(set(symbols), key=lambda s: s.name)
    exact = proof.draw_points(random.Random(seed), [(s, _FREE_DRAW) for s in ordered], count * 4)
    return [proof.Point.of(pt, 40) for pt in exact]


def where_text(binding: dict[str, int], indices: dict[str, int] | None = None) -> str:
    """``l = 2, j = 1``: a binding of layer variables and unit indices (L is implied)."""
    parts = [f"{k} = {v}" for k, v in sorted(binding.items()) if k != "L"]
    parts += [f"{k} = {v}" for k, v in (indices or {}).items()]
    return ", ".join(parts)


SidePairs = list[tuple[dict[str, int], tuple[int, int], sp.Expr]]


def side_pairs(
    node: Expr,
    equation: Equation,
    profile: Profile,
    env: Env,
    deadline: Deadline,
) -> SidePairs | None:
    """``node`` at every value of the equation's free indices; ``None`` where undefined."""
    env = Env(env.model, env.offsets, dict(env.layers))
    ev = Evaluator(profile, env, deadline)
    free = free_indices(equation, profile)
    try:
        ranges = [range(1, index_range(equation, i, ev) + 1) for i in free]
        out = []
        for values in index_product(ranges):
            env.indices = dict(zip(free, values, strict=True))
            value = ev(node)
            for r in range(value.rows):
                for c in range(value.cols):
                    out.append((dict(env.indices), (r, c), value[r, c]))
        return out
    except (NotDefined, VerifyError):
        return None


def _counterexample(
    outcome: Outcome, names: dict[sp.Symbol, str], setting: Setting
) -> Counterexample | None:
    """Every value the differing entry depends on, in the network's order, exactly, with
    the seed and the index of the random point (re-evaluating reproduces it)."""
    mismatch, binding = outcome.mismatch, outcome.binding
    if mismatch is None or binding is None:
        return None
    order = {s: i for i, s in enumerate(names)}
    used = mismatch.lhs.free_symbols | mismatch.rhs.free_symbols
    pointwise = getattr(outcome.model, "pointwise", False)
    if pointwise:
        # Checked at points: the sides are numbers; the point is every value they used.
        used = set(mismatch.point.rational)
    ordered = sorted(used, key=lambda s: (order.get(s, len(order)), str(s)))
    where = [(k, str(v)) for k, v in sorted(binding.items()) if k != "L"]
    where += [(k, str(v)) for k, v in mismatch.where.items()]
    points = outcome.points
    if points is None and not pointwise and outcome.model is not None:
        points = sample_points(outcome.model, setting.points, setting.seed)
    index = next((i for i, p in enumerate(points or []) if p is mismatch.point), None)
    if index is None:
        index = next((i for i, p in enumerate(points or []) if p == mismatch.point), None)
    unnamed = getattr(outcome.model, "unnamed", "")
    return Counterexample(
        where=tuple(where),
        values=tuple((names.get(s, str(s)), str(mismatch.point.rational[s])) for s in ordered)
        + ((("weights and biases", unnamed),) if unnamed else ()),
        lhs_value=fmt_value(mismatch.lvalue),
        rhs_value=fmt_value(mismatch.rvalue),
        seed=setting.seed,
        point=index,
    )


def _generic_families(profile: Profile, writer: Writer) -> list[tuple[str, Family]]:
    """The catalogue's generic mistakes, most specific first."""
    batch = writer.name("n", None)
    return [
        # λ mis-scaled first: a variant that only rescales λ says more than "factor 2".
        ("lambda_scale", lambda_scale(profile, batch)),
        ("sign", sign),
        ("transpose", transpose),
        ("hadamard_vs_matmul", hadamard_vs_matmul),
        ("layer_index", layer_index(profile)),
        ("a_vs_z", a_vs_z(profile, writer.letter)),
        ("factor_2", factor_2),
    ]


def _variants(
    specific: tuple[tuple[str, Expr], ...], base: Expr, families: list[tuple[str, Family]]
) -> Iterator[tuple[str, Expr]]:
    seen = {base}
    count = 0
    first, rest = families[:1], families[1:]
    for diag, family in first:
        for node in family(base):
            if node not in seen:
                seen.add(node)
                yield diag, node
    for diag, node in specific:
        if node not in seen:
            seen.add(node)
            yield diag, node
    for diag, family in rest:
        for node in family(base):
            if node in seen:
                continue
            seen.add(node)
            count += 1
            if count > MAX_MUTATIONS:
                return
            yield diag, node


DIAGNOSIS_SHARE = 0.5
"""Share of a claim's time limit its explanation (correct formula, diagnosis) may take."""


def _share(deadline: Deadline, setting: Setting) -> Deadline:
    """A deadline for the explanation: a share of the limit, within the claim's own."""
    own = Deadline(setting.time_limit * DIAGNOSIS_SHARE)
    own.end = min(own.end, deadline.end)
    return own


def _same_form(a: Expr | None, b: Expr) -> bool:
    """Whether two formulas are written alike up to the product sign (⊙ or juxtaposed)."""

    def plain(n: Expr) -> list[str]:
        return [
            "mul" if isinstance(m, BinOp) and m.op == "hadamard" else repr(m)
            for m in iter_nodes(n)
            if not isinstance(m, BinOp)
        ] + [m.op.replace("hadamard", "mul") for m in iter_nodes(n) if isinstance(m, BinOp)]

    return a is not None and plain(a) == plain(b)


def explain_link(
    link: Equation,
    head: Expr | None,
    profile: Profile,
    style: Style,
    outcome: Outcome,
    setting: Setting,
    deadline: Deadline,
    claim: str,
) -> Verdict:
    """A ✗ verdict for one link: counterexample, verified correct right-hand side, diagnosis.

    ``head`` is the quantity the link's left side equals when the links before it hold
    (the first left side of a chain): its formula template gives the correct right-hand
    side and the mistakes to try.
    """
    model, binding = outcome.model, outcome.binding
    assert binding is not None
    writer = Writer(profile, outcome.offsets)
    writer.unlabeled = not any(
        r.label is not None for r, _ in labelled_refs(link, profile) if r.role in LAYERED
    )
    # A network checked at points names its values by its symbols (the point's keys).
    names = display_names(getattr(model, "view", model), writer, style) if model else {}
    counter = _counterexample(outcome, names, setting)
    mismatch = outcome.mismatch
    indices = (
        {}
        if mismatch is None
        else {k: v for k, v in mismatch.where.items() if k not in ("row", "column")}
    )
    env = Env(model, outcome.offsets, dict(binding), dict(indices))
    # The explanation is bounded on its own: a share of the claim's time limit (and never
    # past it); when it runs out, the verdict keeps its counterexample and says less.
    deadline = _share(deadline, setting)
    lhs_pairs = side_pairs(link.lhs, link, profile, env, deadline)
    rhs_pairs = side_pairs(link.rhs, link, profile, env, deadline)
    if getattr(model, "pointwise", False):
        # Both sides are numbers at the model's one point: compare them there.
        points = [proof.Point.of(model.point.rational(model.view))]  # type: ignore[union-attr]
    elif model is not None:
        points = sample_points(model, 4, setting.seed + 1)
    else:
        symbols = {
            s for ps in (lhs_pairs, rhs_pairs) if ps for _, _, e in ps for s in e.free_symbols
        }
        points = free_points(symbols, 1, setting.seed + 1)
    correct, diagnosis = None, None
    correct_node: Expr | None = None
    families = _generic_families(profile, writer)
    templates = (head, link.lhs) if model is not None else ()  # formula templates need a network
    for template in dict.fromkeys(t for t in templates if t is not None):
        try:
            candidates = candidates_for(template, profile, env, writer)
        except (VerifyError, NotDefined, NoTemplate, AttributeError, KeyError, TypeError):
            # No template for this left side (or for this kind of model): repairs below.
            candidates = []
        for cand in candidates:
            cand_pairs = side_pairs(cand.rhs, link, profile, env, deadline)
            if (
                cand_pairs is None
                or lhs_pairs is None
                or not same_values(lhs_pairs, cand_pairs, points, deadline)
            ):
                continue
            # In a chain the left side may already be the correct formula: show another.
            if correct is None or (
                _same_form(correct_node, link.lhs) and not _same_form(cand.rhs, link.lhs)
            ):
                correct, correct_node = render_ast(cand.rhs, style), cand.rhs
            if rhs_pairs is not None and diagnosis is None:
                for diag, mutated in _variants(cand.mutations, cand.rhs, families):
                    pairs = side_pairs(mutated, link, profile, env, deadline)
                    if pairs is not None and same_values(rhs_pairs, pairs, points, deadline):
                        diagnosis = diag
                        break
            if diagnosis is not None and not _same_form(correct_node, link.lhs):
                break
        if correct is not None:
            break
    if diagnosis is None and lhs_pairs is not None:
        # No template matched the claim: repair the claim's own right-hand side instead.
        repairs = [*families, ("missing_1_over_n", one_over_n(writer.name("n", None)))]
        for diag, repaired in _variants((), link.rhs, repairs):
            pairs = side_pairs(repaired, link, profile, env, deadline)
            if pairs is not None and same_values(lhs_pairs, pairs, points, deadline):
                diagnosis = diag
                if correct is None:
                    correct = render_ast(repaired, style)
                break
    if correct is None and lhs_pairs is not None and len(lhs_pairs) == 1:
        correct = _written_value(lhs_pairs[0][2], model, names, style, writer)
    return Verdict(
        ok=False,
        claim=claim,
        lhs=render_ast(link.lhs, style),
        rhs=render_ast(link.rhs, style),
        method=outcome.tolerance
        or (f"numeric, {outcome.used} rational points" if mismatch is not None else ""),
        checked=tuple(outcome.checked),
        numbering=NUMBERING_TEXT[outcome.numbering],
        counterexample=counter,
        correct=correct,
        correct_where=where_text(binding),
        diagnosis=diagnosis,
        reason=outcome.reason,
    )


def _written_value(
    expr: sp.Expr, model: Model | None, names: dict[sp.Symbol, str], style: Style, writer: Writer
) -> str | None:
    """A brute-force value written in the claim's notation (never SymPy's own printing);
    ``None`` when it has no counterpart there."""
    pointwise = model is None or getattr(model, "pointwise", False)
    folded, extra = (expr, {}) if pointwise else _fold(expr, model, writer, style)  # type: ignore[arg-type]
    spelled = {**names, **extra}
    try:
        node = sympy_to_ast(folded, spelled)
    except NoTemplate:
        return None
    return render_ast(node, style)


def _fold(expr: sp.Expr, model: Model, writer: Writer, style: Style) -> tuple[sp.Expr, dict]:
    """Fold a brute-force expression back into named pre-activations where they occur,
    each named as the claim writes it (``z^{(1)}_2``)."""
    inst = model.insts[0]
    single = all(w == 1 for w in model.net.widths)
    replacements, names = {}, {}
    for lay in sorted(inst.z, reverse=True):
        for r, e in enumerate(inst.z[lay]):
            if not isinstance(e, sp.Symbol):
                label = sp.Dummy(f"z{lay}_{r + 1}")
                replacements[e] = label
                idx = () if single else (str(r + 1),)
                names[label] = render_ast(writer.name("z", (None, lay), idx), style)
    return (expr.xreplace(replacements) if expr.free_symbols else expr), names
