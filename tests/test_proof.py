"""The numeric proof engine and the compositional check built on it.

The engine is tested against known derivatives (exact truncation error of a central
difference, e's derivative); the compositional route against the whole-network
``sympy.diff`` reference, on correct and on deliberately wrong derivations.
"""

from __future__ import annotations

import dataclasses
import random

import mpmath
import pytest
import sympy as sp

from symprop import Dense, Network, SymPropError, derive
from symprop.core import proof
from symprop.core import symbols as g
from symprop.core.registry import a, a_vec, j_idx, y_vec
from symprop.derivation.check import _parts, _points, _SmallNetwork, check_derivation

# --- the engine ---------------------------------------------------------------------


def test_central_difference_error_is_the_truncation_term_far_below_tolerance() -> None:
    # For x³ the central difference is exactly 3x² + h²; the step the engine picks makes
    # that 1e-52, and rounding at 80 digits adds about 10^-80 / h = 1e-54.
    with proof.working_precision():
        x = mpmath.mpf(7) / 5
        h = proof.default_step()
        got = proof.central_difference(lambda v: v[0] ** 3, [x], 0)
        assert h**2 == pytest.approx(mpmath.mpf("1e-52"), rel=1e-6)
        assert abs(got - (3 * x**2 + h**2)) < mpmath.mpf("1e-53")
        assert abs(got - 3 * x**2) < proof.TOLERANCE * mpmath.mpf("1e-25")


def test_gradient_of_a_transcendental_function_matches_its_known_derivative() -> None:
    with proof.working_precision():
        pt = [mpmath.mpf(1), mpmath.mpf(-1) / 3]
        grad = proof.gradient(lambda v: mpmath.exp(v[0]) * mpmath.sin(v[1]), pt)
        want = [mpmath.e * mpmath.sin(pt[1]), mpmath.e * mpmath.cos(pt[1])]
        assert all(abs(gv - wv) < mpmath.mpf("1e-50") for gv, wv in zip(grad, want, strict=True))


def test_compare_reports_the_worst_difference_and_fails_above_tolerance() -> None:
    with proof.working_precision():
        third = proof.to_real(sp.Rational(1, 3))
        close = proof.compare("c", [[third, 2]], [[third + mpmath.mpf("1e-40"), 2]], "test")
        far = proof.compare("f", [[third]], [[third + mpmath.mpf("1e-20")]], "test")
    assert close.passed and 1e-41 < close.max_relative_difference < 1e-39
    assert close.points == 1 and "1 random rational points" in close.how
    assert not far.passed and far.name == "f"


def test_compare_works_at_working_precision_wherever_it_is_called() -> None:
    # Values differing in the 20th digit compared outside working_precision used to be
    # subtracted at mpmath's default 15 digits, where they are equal: a wrong claim passed.
    with proof.working_precision():
        one = mpmath.mpf(1)
        nearly = one + mpmath.mpf("1e-20")
    verdict = proof.compare("x", [[nearly]], [[one]], "test")
    assert not verdict.passed
    assert verdict.max_relative_difference == pytest.approx(1e-20, rel=1e-6)


def test_compare_fails_a_value_that_is_not_finite() -> None:
    verdict = proof.compare("x", [[mpmath.nan]], [[1]], "test")
    assert not verdict.passed and "not finite" in verdict.how


def test_symbolic_proof_accepts_identities_and_refuses_non_identities() -> None:
    z = sp.Symbol("z", real=True)
    assert proof.symbolic("t", sp.diff(sp.tanh(z), z), 1 - sp.tanh(z) ** 2, "h").passed
    assert not proof.symbolic("t", sp.diff(sp.tanh(z), z), 1 - sp.tanh(z), "h").passed


def test_compiled_piecewise_takes_the_branch_at_its_argument() -> None:
    z = sp.Symbol("z", real=True)
    fn = proof.compile_exprs([sp.Piecewise((z, z > 0), (z / 100, True))], [z])
    assert fn(mpmath.mpf(2))[0] == 2 and fn(mpmath.mpf(-2))[0] == mpmath.mpf(-2) / 100


# --- the compositional route against the reference ----------------------------------

SMALL = [
    Network(inputs=2, layers=[Dense(2, "sigmoid")], loss="binary_cross_entropy"),
    Network(inputs=2, layers=[Dense(3, "tanh"), Dense(2, "identity")], loss="mse", l2=0.2),
    Network(
        inputs=2,
        layers=[Dense(3, "relu"), Dense(2, "softplus"), Dense(2, "softmax")],
        loss="cross_entropy",
        l2=0.1,
        regularize_biases=True,
    ),
    Network(
        inputs=3,
        layers=[Dense(2, "leaky_relu", alpha=0.2), Dense(2, "elu"), Dense(1, "silu")],
        loss="half_sse",
    ),
]


def _numeric(report) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    return {n: ok for n, ok, _ in report.results if n.startswith(("δ^", "∂J/∂"))}


@pytest.mark.parametrize("net", SMALL, ids=lambda n: "-".join(s.activation for s in n.layers))
def test_routes_agree_on_correct_derivations(net: Network) -> None:
    d = derive(net)
    comp = check_derivation(d, points=2, seed=3, route="compositional")
    ref = check_derivation(d, points=2, seed=3, route="reference")
    assert comp.ok, str(comp)
    assert ref.ok, str(ref)
    assert _numeric(comp) == _numeric(ref)
    assert len(_numeric(comp)) == 3 * net.depth


def _wrong_output(d, expr):  # type: ignore[no-untyped-def]
    return dataclasses.replace(d, output_delta=dataclasses.replace(d.output_delta, expr=expr))


def _wrong_dphi(d, layer, form):  # type: ignore[no-untyped-def]
    lf = d.layers[layer - 1]
    bad = dataclasses.replace(lf, dphi=dataclasses.replace(lf.dphi, form=form))
    return dataclasses.replace(d, layers=(*d.layers[: layer - 1], bad, *d.layers[layer:]))


MUTATIONS = {
    # δ^L of sigmoid + BCE written as if φ' had not cancelled.
    "output-delta": (
        lambda d: _wrong_output(
            d, (a_vec[j_idx] - y_vec[j_idx]) * a_vec[j_idx] * (1 - a_vec[j_idx])
        ),
        {"δ^3 (output layer)", "δ^2 (hidden recurrence)", "∂J/∂W^1 (batch of 2, L2)"},
    ),
    # tanh' = 1 − a instead of 1 − a² in the middle layer.
    "activation-form": (
        lambda d: _wrong_dphi(d, 2, 1 - a),
        {"δ^2 (hidden recurrence)", "δ^1 (hidden recurrence)", "∂J/∂b^2 (batch of 2, L2)"},
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_both_routes_name_the_same_wrong_claims(mutation: str) -> None:
    net = Network(
        inputs=2,
        layers=[Dense(2, "sigmoid"), Dense(3, "tanh"), Dense(2, "sigmoid")],
        loss="binary_cross_entropy",
        l2=0.05,
    )
    mutate, must_fail = MUTATIONS[mutation]
    wrong = mutate(derive(net))
    comp = check_derivation(wrong, points=2, route="compositional")
    ref = check_derivation(wrong, points=2, route="reference")
    failed = {n for n, ok in _numeric(comp).items() if not ok}
    assert must_fail <= failed
    assert failed == {n for n, ok in _numeric(ref).items() if not ok}
    # What the error cannot reach stays proven: layer 3's weights for a wrong layer-2 φ'.
    if mutation == "activation-form":
        assert "∂J/∂W^3 (batch of 2, L2)" not in failed


def _replace_step(d, step_id, rhs):  # type: ignore[no-untyped-def]
    steps = tuple(
        dataclasses.replace(st, chain=(*st.chain[:-1], (rhs, st.chain[-1][1])))
        if st.id == step_id
        else st
        for st in d.steps
    )
    return dataclasses.replace(d, steps=steps)


NET3 = Network(
    inputs=2,
    layers=[Dense(3, "tanh"), Dense(3, "sigmoid"), Dense(2, "identity")],
    loss="mse",
    l2=0.1,
)


def test_a_wrongly_printed_gradient_step_fails_its_claim() -> None:
    d = derive(NET3)
    right = d.step("summary.grad_W.2").rhs
    lam = g.scalar("lambda")
    wrong = _replace_step(d, "summary.grad_W.2", right.xreplace({2 * lam: lam}))
    assert wrong.step("summary.grad_W.2").rhs != right
    failed = {n for n, ok in _numeric(wrong.check(points=1)).items() if not ok}
    assert failed == {"∂J/∂W^2 (batch of 2, L2)"}


def test_a_wrongly_printed_recurrence_fails_from_its_layer_down() -> None:
    d = derive(NET3)
    W3, d3 = g.matrix("W", 3), g.vector("delta", 3)
    right = d.step("summary.delta.2").rhs
    # The transpose dropped: W³ δ³ instead of (W³)ᵀ δ³ (square at the checked widths).
    wrong = _replace_step(d, "summary.delta.2", right.xreplace({W3.T * d3: W3 * d3}))
    assert wrong.step("summary.delta.2").rhs != right
    failed = {n for n, ok in _numeric(wrong.check(points=1)).items() if not ok}
    assert {"δ^2 (hidden recurrence)", "δ^1 (hidden recurrence)"} <= failed
    assert "δ^3 (output layer)" not in failed and "∂J/∂W^3 (batch of 2, L2)" not in failed


def test_an_unreadable_printed_step_fails_instead_of_crashing() -> None:
    d = derive(NET3)
    wrong = _replace_step(d, "summary.grad_b.1", sp.Symbol("nonsense") * g.vector("b", 1))
    report = wrong.check(points=1)
    assert not report.ok
    assert [n for n, ok, _ in report.results if not ok] == ["∂J/∂b^1 (batch of 2, L2)"]


def test_local_rule_claim_fails_for_a_wrong_activation_form() -> None:
    d = _wrong_dphi(derive(NET3), 1, 1 - a)
    failed = [n for n, ok, _ in d.check(points=1).results if not ok]
    assert "local rule of a dense layer after tanh" in failed
    assert "local rule of a dense layer on the input" not in failed


def test_auto_route_adds_the_reference_only_for_small_networks() -> None:
    shallow = derive(SMALL[1])
    report = shallow.check(points=1)
    assert all("sympy.diff" in how for n, _, how in report.results if n.startswith("δ^"))
    deep = derive(Network(inputs=2, layers=[Dense(2, "tanh")] * 4, loss="mse"))
    report = deep.check(points=1)
    assert report.ok
    assert not any("sympy.diff" in how for _, _, how in report.results)


def test_sixteen_layers_are_proven_layer_by_layer() -> None:
    net = Network(
        inputs=3,
        layers=[Dense(w, "tanh") for w in (2, 5, 3, 4) * 4],
        loss="mse",
        l2=1e-3,
    )
    report = derive(net).check(points=1)
    assert report.ok, str(report)
    assert sum(n.startswith("∂J/∂W^") for n, _, _ in report.results) == 16


@pytest.mark.parametrize("route", ["", "fast", None, 3])
def test_an_unknown_route_is_one_error_line(route: object) -> None:
    with pytest.raises(SymPropError, match=r"^route: got .*; known: auto, compositional"):
        check_derivation(derive(SMALL[0]), route=route)  # type: ignore[arg-type]


def test_a_wrongly_printed_index_form_output_delta_fails() -> None:
    # Softmax with squared error keeps δ^L in index form (a sum over the Jacobian); its
    # printed step is evaluated unit by unit, so a lost factor 2 is caught there.
    net = Network(inputs=2, layers=[Dense(3, "tanh"), Dense(2, "softmax")], loss="mse")
    d = derive(net)
    right = d.step("summary.delta.2").rhs
    assert right.has(sp.Sum) and d.check(points=1).ok
    wrong = _replace_step(d, "summary.delta.2", right / 2)
    failed = [n for n, ok, _ in wrong.check(points=1).results if not ok]
    assert "δ^2 (output layer)" in failed and "δ^1 (hidden recurrence)" in failed


def test_a_point_on_a_relu_kink_is_recognised_and_redrawn() -> None:
    # Central differences across z = 0 would mix ReLU's two branches: such points are
    # redrawn. Here unit 1 of layer 1 gets z = 0 exactly (zero weights and bias).
    net = Network(
        inputs=2, layers=[Dense(2, "relu"), Dense(1, "sigmoid")], loss="binary_cross_entropy"
    )
    model = _SmallNetwork(_parts(derive(net)))
    names = model.names
    every = [s for lay in names["W"] for row in names["W"][lay] for s in row]
    every += [s for group in ("b", "x", "y") for v in names[group].values() for s in v]
    pt = {s: sp.Rational(1, 2) for s in every}
    assert not model.near_kink(pt)
    pt.update({names["W"][1][0][0]: 0, names["W"][1][0][1]: 0, names["b"][1][0]: 0})
    assert model.near_kink(pt)
    for drawn in _points(_parts(derive(net)), model, 20, random.Random(0)):
        assert not model.near_kink(drawn)


# --- the shared engine's pieces: points, guarded evaluation, failing points ------------

_X, _Y = sp.symbols("x y", real=True)


def test_drawn_points_keep_the_stated_distance_from_a_kink() -> None:
    # Integers from -3 to 3 hit the kink at x = 1 (of |x − 1|) about one draw in seven; the
    # rejects predicate is the stated distance, checked here in exact arithmetic.
    margin = sp.Rational(1, 2)
    seen: list[sp.Rational] = []

    def near(pt: dict) -> bool:
        seen.append(pt[_X])
        return abs(pt[_X] - 1) < margin

    draws = [(_X, proof.Draw(-3, 3, denominator=1)), (_Y, proof.Draw(1, 9, signed=True))]
    pts = proof.draw_points(random.Random(5), draws, 40, rejects=near)
    assert len(pts) == 40
    assert 1 in seen  # the kink was drawn and redrawn, so the predicate was exercised
    assert all(abs(pt[_X] - 1) >= margin for pt in pts)
    assert all(isinstance(v, sp.Rational) for pt in pts for v in pt.values())
    assert all(abs(pt[_Y]) >= sp.Rational(1, 1000) for pt in pts)  # signed: never 0


def test_drawing_fails_in_one_line_when_every_point_is_rejected() -> None:
    # Before the shared engine, check's drawing kept the last rejected point silently.
    with pytest.raises(proof.ProofError, match="no point away from the kinks in 7 random draws"):
        proof.draw_points(
            random.Random(0), [(_X, proof.Draw(1, 9))], 2, rejects=lambda pt: True, attempts=7
        )


def test_normalised_targets_sum_to_exactly_one_and_to_working_digits_as_reals() -> None:
    ys = sp.symbols("y1:4", real=True)
    pts = proof.draw_points(
        random.Random(2), [(s, proof.Draw(1, 1000)) for s in ys], 5, normalise=[ys]
    )
    for pt in pts:
        assert sum(pt[s] for s in ys) == 1
        real = proof.Point.of(pt, 40)
        with proof.working_precision(40):
            assert abs(mpmath.fsum(real.mp[s] for s in ys) - 1) < mpmath.mpf("1e-38")


def test_a_seed_gives_the_same_points_and_draws_in_the_stated_order() -> None:
    # Independent of the engine: the values random.Random gives in the same order.
    rng = random.Random(11)
    sign = rng.choice([-1, 1])
    want_x = sp.Rational(sign * rng.randint(100, 1500), 1000)
    want_y = sp.Rational(rng.randint(50, 950), 1000)
    draws = [(_X, proof.Draw(100, 1500, signed=True)), (_Y, proof.Draw(50, 950))]
    (pt,) = proof.draw_points(random.Random(11), draws, 1)
    assert pt == {_X: want_x, _Y: want_y}


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        (sp.Abs(_X - sp.Rational(1, 3)), sp.Rational(1, 3) + sp.Rational(1, 10**14)),
        (sp.Heaviside(_X - sp.Rational(1, 3)), sp.Rational(1, 3) - sp.Rational(1, 10**14)),
        (sp.Max(_X, sp.Rational(1, 3)), sp.Rational(1, 3)),
        (sp.Piecewise((_X, _X > sp.Rational(1, 3)), (0, True)), sp.Rational(1, 3)),
    ],
)
def test_evaluation_signals_a_kink_within_the_margin_and_evaluates_outside(
    expr: sp.Expr, value: sp.Rational
) -> None:
    margin = mpmath.mpf("1e-12")
    with proof.working_precision(40):
        with pytest.raises(proof.Kink):
            proof.evaluate(expr, {_X: proof.to_real(value)}, {}, margin)
        away = value + sp.Rational(1, 10**6)
        got = proof.evaluate(expr, {_X: proof.to_real(away)}, {}, margin)
        want = proof.to_real(sp.nsimplify(expr.subs(_X, away).evalf(60), rational=True))
        assert abs(got - want) < mpmath.mpf("1e-35")


def test_evaluation_of_undefined_or_huge_values_is_nan_and_unknown_nodes_one_line() -> None:
    with proof.working_precision(40):
        pt = {_X: mpmath.mpf(-2)}
        assert mpmath.isnan(proof.evaluate(sp.log(_X), pt, {}))
        assert mpmath.isnan(proof.evaluate(sp.exp(-1000 * _X), pt, {}))
        assert mpmath.isnan(proof.evaluate(_X ** sp.Rational(1, 2), pt, {}))
        with pytest.raises(proof.EvaluationError, match="^no value for y$"):
            proof.evaluate(_X + _Y, pt, {})
        with pytest.raises(proof.EvaluationError, match="^cannot evaluate gamma numerically$"):
            proof.evaluate(sp.gamma(_X + 5), pt, {})


def test_the_failing_point_reported_is_one_where_the_sides_really_differ() -> None:
    # x·|x| equals x² exactly for x > 0 and differs for x < 0; the report must name a point
    # with x < 0, and its two values must be those of exact SymPy evaluation there.
    claimed, reference = _X * sp.Abs(_X), _X**2
    draws = [(_X, proof.Draw(100, 1500, signed=True))]
    pts = [proof.Point.of(p, 40) for p in proof.draw_points(random.Random(4), draws, 12)]
    verdict = proof.compare_expressions(
        "x|x| = x²", [(reference, claimed)], pts, wanted=12, how="test", digits=40
    )
    failure = verdict.failure
    assert not verdict.passed and failure is not None and failure.entry == 0
    at = pts[failure.point].rational
    exact_claimed, exact_reference = claimed.subs(at), reference.subs(at)
    assert at[_X] < 0 and exact_claimed != exact_reference
    with proof.working_precision(40):
        assert abs(failure.claimed - proof.to_real(exact_claimed)) < mpmath.mpf("1e-35")
        assert abs(failure.reference - proof.to_real(exact_reference)) < mpmath.mpf("1e-35")
    # Every point compared before the failing one has x > 0, where the sides agree.
    assert all(p.rational[_X] > 0 for p in pts[: failure.point])
    assert verdict.points == 1 + len(pts[: failure.point])


def test_points_where_the_reference_is_undefined_are_skipped_and_all_skipped_is_an_error() -> None:
    pts = [proof.Point.of({_X: sp.Rational(v)}, 40) for v in (-2, 3, -5, 7)]
    verdict = proof.compare_expressions(
        "log", [(sp.log(_X), sp.log(_X**2) / 2)], pts, wanted=4, how="test", digits=40
    )
    assert verdict.passed and verdict.points == 2
    with pytest.raises(proof.UndefinedEverywhereError):
        proof.compare_expressions(
            "log", [(sp.log(-(_X**2)), _X)], pts, wanted=4, how="test", digits=40
        )


def test_compare_names_the_first_failing_point_and_value_with_both_values() -> None:
    with proof.working_precision():
        claimed = [[1, 2], [3, mpmath.mpf(4) + mpmath.mpf("1e-10")], [5, 7]]
        reference = [[1, 2], [3, 4], [5, 6]]
        verdict = proof.compare("c", claimed, reference, "test")
    assert not verdict.passed
    assert verdict.failure is not None
    assert (verdict.failure.point, verdict.failure.entry) == (1, 1)
    assert verdict.failure.reference == 4 and verdict.failure.claimed == claimed[1][1]
    assert verdict.max_relative_difference == pytest.approx(1 / 6)
