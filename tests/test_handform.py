"""The hand-form chooser and the derivative bounds: each pick is checked against forms and
values written out here, independently of the code under test."""

from __future__ import annotations

import math
import random

import pytest
import sympy as sp
from sympy.calculus.util import function_range

from symprop.core.bounds import derivative_bounds
from symprop.core.calculus import activation_function, derive_activation
from symprop.core.handform import PREFERENCES, form_cost, hand_form
from symprop.core.registry import ACTIVATIONS, a, y, z

SIGMA = 1 / (1 + sp.exp(-z))


def _close(lhs: sp.Expr, rhs: sp.Expr, subs: dict[sp.Symbol, sp.Expr] | None = None) -> None:
    """Equal at random points, numerically (independent of SymPy's simplifier)."""
    rng = random.Random(7)
    for _ in range(5):
        point = {s: sp.Rational(rng.randint(-300, 300), 137) for s in (a, y, z)}
        left = (lhs.subs(subs or {}) if subs else lhs).rewrite("definition").subs(point)
        right = (rhs.subs(subs or {}) if subs else rhs).rewrite("definition").subs(point)
        assert math.isclose(float(left), float(right), rel_tol=1e-12, abs_tol=1e-12)


def test_sympy_forms_become_the_textbook_forms() -> None:
    assert hand_form(-a * (a - 1)) == a * (1 - a)
    assert hand_form(-(a - 1) * (a + 1)) == 1 - a**2
    # Prediction minus target, and (1 − a) rather than (a − 1) with the sign outside.
    assert hand_form((-a + y) * (a - 1) * a) == (a - y) * a * (1 - a)
    # SymPy would distribute the 2 into a − y if the product were rebuilt: compare text.
    assert sp.sstr(hand_form(2 * (a - y) * -(a - 1) * (a + 1))) == "2*(1 - a**2)*(a - y)"


def test_a_pick_never_changes_the_value() -> None:
    for expr in (
        -a * (a - 1),
        (-a + y) * (a - 1) * a,
        -(a - 1) * (a + 1) * (y - a),
        (a - 1) * (a - 2) * (y - a),
        -(z * activation_function("sigmoid")(z) - z - 1) * activation_function("sigmoid")(z),
    ):
        _close(hand_form(expr), expr)


def test_preference_order_is_stated_and_lexicographic() -> None:
    assert [p.statement for p in PREFERENCES][:4] == [
        "no exponential or hyperbolic function where a form without one exists",
        "the activation's output a rather than the pre-activation z",
        "factors written (1 − a), not (a − 1) with a sign pulled out",
        "differences written prediction minus target, a − y",
    ]
    # A form with cosh loses to one without, however short.
    assert form_cost(1 / sp.cosh(z) ** 2) > form_cost(1 - a**2)
    assert form_cost(a * (1 - a)) < form_cost(-a * (a - 1))


def test_activation_derivatives_in_hand_form() -> None:
    assert derive_activation("sigmoid").form == a * (1 - a)
    assert derive_activation("tanh").form == 1 - a**2
    elu = derive_activation("elu").form
    assert elu.args[1][0] == a + sp.Symbol("alpha", positive=True)


def test_silu_derivative_in_its_output_and_never_through_cosh() -> None:
    d = derive_activation("silu")
    for step in d.steps:
        assert not step.has(sp.cosh), step
    sig = activation_function("sigmoid")(z)
    assert d.form == a + sig * (1 - a)
    # a = z σ(z): the form is SiLU' written out by hand, σ + z σ (1 − σ).
    _close(d.form, SIGMA + z * SIGMA * (1 - SIGMA), {a: z * sig})
    assert "a = z" in "".join(str(s) for s in d.rule) or any(
        getattr(s, "args", None) and s.args[0] == a for s in d.rule
    )


def _grid(f, lo=-12.0, hi=12.0, n=24001):
    xs = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
    return xs, [f(x) for x in xs]


def test_sigmoid_and_tanh_bounds_against_a_grid() -> None:
    def dsig(x: float) -> float:
        s = 1 / (1 + math.exp(-x))
        return s * (1 - s)

    xs, vs = _grid(dsig)
    b = derivative_bounds("sigmoid")
    assert b is not None
    assert math.isclose(float(b.maximum.value), max(vs), rel_tol=1e-9)
    assert b.maximum.at == sp.FiniteSet(0) and xs[vs.index(max(vs))] == 0.0
    assert b.minimum.value == 0 and b.minimum.attained is False and min(vs) > 0
    xs, vs = _grid(lambda x: 1 - math.tanh(x) ** 2)
    b = derivative_bounds("tanh")
    assert b.range == sp.Interval.Lopen(0, 1) and max(vs) == 1.0
    assert b.maximum.at == sp.FiniteSet(0)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_bounds_through_the_output_form_are_those_of_the_raw_derivative(name: str) -> None:
    # derivative_bounds ranges σ' = a(1 − a) over a ∈ (0, 1); SymPy on the raw derivative,
    # written out here, must find the same set and the same maximiser.
    t = sp.Symbol("t", real=True)
    raw = sp.diff({"sigmoid": 1 / (1 + sp.exp(-t)), "tanh": sp.tanh(t)}[name], t)
    expected = function_range(raw, t, sp.S.Reals)
    b = derivative_bounds(name)
    assert b.range == expected
    assert b.maximum.at == sp.solveset(sp.Eq(raw, expected.sup), t, sp.S.Reals)
    assert b.minimum.at == sp.S.EmptySet and not expected.contains(expected.inf)


def test_piecewise_bounds_are_finite_sets() -> None:
    def central(f, x: float, h: float = 1e-6) -> float:
        return (f(x + h) - f(x - h)) / (2 * h)

    relu = derivative_bounds("relu")
    seen = {round(central(lambda t: max(t, 0.0), x), 6) for x in (-3.0, -0.5, 0.5, 3.0)}
    assert {float(v) for v in relu.values} == seen == {0.0, 1.0}
    leaky = derivative_bounds("leaky_relu", {"alpha": 0.2})
    seen = {round(central(lambda t: t if t > 0 else 0.2 * t, x), 6) for x in (-2.0, 2.0)}
    assert {float(v) for v in leaky.values} == seen
    elu = derivative_bounds("elu", {"alpha": 1.5})
    assert elu.maximum.value == sp.Rational(3, 2) and elu.maximum.at == sp.FiniteSet(0)
    assert derivative_bounds("softmax") is None
    assert all(
        derivative_bounds(n) is None or derivative_bounds(n).range.is_subset(sp.S.Reals)
        for n in ACTIVATIONS
    )
