"""The registry's derived calculus: every derivative, rewrite and cancellation, proven.

The expected textbook forms (σ' = a(1 − a), δᴸ = a − y …) are what the lecture notes state;
the code derives them from the definitions alone, and these tests check both that the
derivation lands on them and that each result agrees numerically with the definitions.
"""

from __future__ import annotations

import math
import random

import mpmath
import pytest
import sympy as sp

from symprop import ACTIVATIONS, LOSSES, Dense, Network, derive
from symprop.core import registry as reg
from symprop.core.calculus import (
    activation_function,
    derive_activation,
    derive_output_delta,
    expand_activations,
)
from symprop.core.registry import a, a_vec, alpha, i_idx, j_idx, n_units, y, y_vec, z
from symprop.core.why import Relation

ELEMENTWISE = [name for name, act in ACTIVATIONS.items() if act.elementwise]


def _numeric(expr: sp.Expr, **values: float) -> float:
    subs = {sp.Symbol(k, real=True) if k != "alpha" else alpha: v for k, v in values.items()}
    return float(sp.N(expand_activations(expr).xreplace(subs), 30))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_preferred_form_matches_sympy_diff_numerically(name: str) -> None:
    """φ' in its preferred form, with a = φ(z), equals sympy.diff at random points."""
    act = ACTIVATIONS[name]
    d = derive_activation(name)
    definition = act.definition
    raw = sp.diff(definition, z)
    rng = random.Random(1)
    for _ in range(20):
        zv = rng.choice([-1, 1]) * rng.uniform(0.05, 4.0)
        params = {"alpha": 0.3}
        av = _numeric(definition, z=zv, **params)
        got = _numeric(d.form.subs(a, definition), z=zv, a=av, **params)
        want = _numeric(raw, z=zv, **params)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (name, zv)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_differences(name: str) -> None:
    """An independent check of the derived φ' against finite differences of the definition."""
    act = ACTIVATIONS[name]
    d = derive_activation(name)
    f = sp.lambdify((z, alpha), act.definition, modules="mpmath")
    with mpmath.workdps(40):
        for zv in (-2.5, -0.7, 0.3, 1.9):
            h = mpmath.mpf("1e-15")
            fd = (f(zv + h, 0.3) - f(zv - h, 0.3)) / (2 * h)
            av = f(zv, 0.3)
            form = expand_activations(d.form).subs({alpha: sp.Rational(3, 10)})
            got = sp.N(form.subs({z: sp.Float(zv, 40), a: sp.Float(str(av), 40)}), 30)
            assert float(got) == pytest.approx(float(fd), rel=1e-10, abs=1e-12), (name, zv)


def test_sigmoid_derivative_is_a_times_one_minus_a() -> None:
    d = derive_activation("sigmoid")
    assert d.kind == "output"
    assert sp.expand(d.form - a * (1 - a)) == 0
    assert not d.form.has(z)


def test_tanh_derivative_is_one_minus_a_squared() -> None:
    d = derive_activation("tanh")
    assert d.kind == "output"
    assert sp.expand(d.form - (1 - a**2)) == 0


def test_softplus_derivative_is_the_sigmoid() -> None:
    d = derive_activation("softplus")
    assert d.kind == "activation"
    assert d.form == activation_function("sigmoid")(z)


def test_elu_derivative_in_terms_of_output_below_zero() -> None:
    d = derive_activation("elu")
    assert isinstance(d.form, sp.Piecewise)
    (pos, pos_cond), (neg, _) = d.form.args
    assert pos == 1 and pos_cond == (z > 0)
    assert sp.expand(neg - (a + alpha)) == 0


def test_silu_derivative_in_terms_of_sigmoid() -> None:
    d = derive_activation("silu")
    s = activation_function("sigmoid")(z)
    assert d.kind == "activation-output"
    # Written in its own output a = z σ(z) (the hand form): σ(z)(1 + z(1 − σ(z))) once a
    # is substituted back.
    assert sp.expand(d.form.subs(a, z * s) - s * (1 + z * (1 - s))) == 0


@pytest.mark.parametrize(
    ("name", "value_at_zero"), [("relu", 0), ("leaky_relu", alpha), ("elu", alpha)]
)
def test_kinks_state_the_value_at_zero(name: str, value_at_zero: sp.Expr) -> None:
    d = derive_activation(name)
    assert d.kink_value == value_at_zero
    assert isinstance(d.raw, sp.Piecewise)


def test_smooth_activations_have_no_kink() -> None:
    for name in ("identity", "sigmoid", "tanh", "softplus", "silu"):
        assert derive_activation(name).kink_value is None


def test_softmax_jacobian_in_terms_of_outputs() -> None:
    d = derive_activation("softmax")
    i, j = sp.symbols("i j", integer=True, positive=True)
    expected = a_vec[i] * (sp.KroneckerDelta(i, j) - a_vec[j])
    assert sp.expand(d.form - expected) == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sigmoid", sp.Interval.open(0, 1)),
        ("tanh", sp.Interval.open(-1, 1)),
        ("relu", sp.Interval(0, sp.oo)),
        ("softplus", sp.Interval.open(0, sp.oo)),
        ("softmax", sp.Interval.open(0, 1)),
        ("identity", sp.S.Reals),
    ],
)
def test_output_ranges_are_derived(name: str, expected: sp.Set) -> None:
    assert derive_activation(name).output_range == expected


CANONICAL = [
    ("sigmoid", "binary_cross_entropy", 1),
    ("softmax", "cross_entropy", 1),
    ("identity", "half_sse", 1),
    ("identity", "mse", 2),
]


@pytest.mark.parametrize(("act", "loss", "factor"), CANONICAL)
def test_canonical_pairs_cancel_to_a_minus_y(act: str, loss: str, factor: int) -> None:
    od = derive_output_delta(act, loss)
    assert od.canonical_factor == factor
    assert sp.expand(od.expr - factor * (a_vec[j_idx] - y_vec[j_idx])) == 0


@pytest.mark.parametrize(
    ("act", "loss"),
    [("sigmoid", "half_sse"), ("tanh", "mse"), ("relu", "mse"), ("softmax", "mse")],
)
def test_non_canonical_pairs_keep_the_product(act: str, loss: str) -> None:
    od = derive_output_delta(act, loss)
    assert od.canonical_factor is None


def test_sigmoid_half_sse_product_form() -> None:
    od = derive_output_delta("sigmoid", "half_sse")
    aj, yj = a_vec[j_idx], y_vec[j_idx]
    assert sp.expand(od.expr - (aj - yj) * aj * (1 - aj)) == 0


def test_softmax_cross_entropy_states_the_target_assumption() -> None:
    od = derive_output_delta("softmax", "cross_entropy")
    sums_to_one = Relation(sp.Sum(y_vec[i_idx], (i_idx, 1, n_units)), sp.Integer(1))
    assert any(sums_to_one in reason.segments for reason in od.assumptions)


@pytest.mark.parametrize("act", ELEMENTWISE)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_output_delta_matches_chain_rule_numerically(act: str, loss: str) -> None:
    """δ = ∂ℓ/∂a · φ'(z) computed from the raw definitions, at random points."""
    od = derive_output_delta(act, loss)
    definition = ACTIVATIONS[act].definition.subs(alpha, sp.Rational(1, 5))
    ell = LOSSES[loss].term.subs(a, definition)
    brute = sp.diff(ell, z)
    rng = random.Random(2)
    for _ in range(5):
        zv = sp.Rational(rng.randint(50, 900), 1000) * rng.choice([-1, 1])
        yv = sp.Rational(rng.randint(1, 99), 100)
        av = definition.subs(z, zv)
        expr = od.expr.subs(alpha, sp.Rational(1, 5))
        expr = expr.subs({a_vec[j_idx]: av, y_vec[j_idx]: yv, sp.IndexedBase("z")[j_idx]: zv})
        got = sp.N(expand_activations(expr), 30)
        want = sp.N(brute.subs({z: zv, y: yv}), 30)
        if not (math.isfinite(float(want))):
            continue
        assert float(got) == pytest.approx(float(want), rel=1e-12, abs=1e-14)


def test_adding_an_activation_is_adding_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new registry entry flows through derivation and check with no other change."""
    entry = reg.Activation("softsign", r"\operatorname{softsign}", "softsign", z / (1 + z**2))
    monkeypatch.setitem(reg.ACTIVATIONS, "softsign", entry)
    d = derive_activation("softsign")
    assert sp.simplify(d.raw - sp.diff(z / (1 + z**2), z)) == 0
    net = Network(
        inputs=2, layers=[Dense(2, "softsign"), Dense(1, "sigmoid")], loss="binary_cross_entropy"
    )
    report = derive(net).check(points=2)
    assert report.ok, str(report)
    derive_activation.cache_clear()
