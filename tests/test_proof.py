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
