"""Explain's gate rules come from the registry: an activation gate's local derivative is the
derived, proven form (σ' = σ (1 − σ)), checked here against sympy.diff of the definition."""

from __future__ import annotations

import pytest
import sympy as sp

from symprop import Dense, Network
from symprop.core.calculus import expand_activations
from symprop.core.registry import ACTIVATIONS
from symprop.core.registry import z as z_scalar
from symprop.explain import backward
from symprop.explain.backward import registry_slope
from symprop.explain.formats import to_table
from symprop.explain.network import explain_network
from symprop.explain.user_text import explain_text

T = sp.Symbol("t", real=True)
PLAIN = [n for n, act in ACTIVATIONS.items() if act.elementwise and not act.parameters]


@pytest.mark.parametrize("name", PLAIN)
def test_registry_slope_is_the_derivative(name: str) -> None:
    definition = ACTIVATIONS[name].definition.xreplace({z_scalar: T})
    slope = registry_slope(definition, T)
    assert slope is not None
    reference = sp.diff(definition, T)
    for value in (sp.Rational(-7, 3), sp.Rational(1, 5), sp.Rational(9, 4)):
        got = sp.N(expand_activations(slope).xreplace({T: value}), 30)
        want = sp.N(reference.xreplace({T: value}), 30)
        assert abs(got - want) < sp.Float("1e-25")


def test_not_an_activation_keeps_its_own_derivative() -> None:
    assert registry_slope(sp.exp(T), T) is None
    assert registry_slope(2 / (1 + sp.exp(-T)), T) is None


def test_sigma_gate_prints_the_output_form() -> None:
    result = explain_text("sigmoid(w*x + b)", {"w": 2, "x": 3, "b": -1}, "coarse")
    row = next(line for line in to_table(result).splitlines() if line.startswith("f "))
    # The derivation's form σ' = σ (1 − σ), not SymPy's exp(−u)/(1 + exp(−u))².
    assert "σ(u_2)*(1 - σ(u_2))" in row
    assert "exp" not in row
    # Its value is σ'(5) = e^-5 / (1 + e^-5)^2, written out independently.
    expected = sp.exp(-5) / (1 + sp.exp(-5)) ** 2
    assert f"= {float(expected):.3g}" in row


def test_entrywise_sigma_gate_uses_the_registry_form() -> None:
    result = explain_text("sigmoid(W@x)", {"W": [[0.1, 0.2]], "x": [1, 2]}, "coarse")
    row = next(line for line in to_table(result).splitlines() if line.startswith("f "))
    assert "σ(t)*(1 - σ(t))" in row
    # The gradient through the gate: σ(0.5)(1 − σ(0.5)) · x for W.
    s = 1 / (1 + sp.exp(-sp.Rational(1, 2)))
    grad = result.grads["W"]
    assert abs(float(grad[0, 1]) - float(s * (1 - s) * 2)) < 1e-12


def test_a_wrong_rule_is_caught_after_the_right_one_was_checked(monkeypatch) -> None:
    # The Jacobian check of a rule is done once per process for each gate form and rule: a
    # rule that differs (here the matmul rule doubled) is a new rule and must be checked.
    net = Network(inputs=2, layers=[Dense(2, "tanh"), Dense(1, "sigmoid")], loss="mse")
    explain_network(net)  # the textbook rules, checked
    right = backward._vjp_rules

    def doubled(gate, upstream):
        rules = right(gate, upstream)
        if gate.kind == "matmul":
            return tuple(2 * r for r in rules)
        return rules

    monkeypatch.setattr(backward, "_vjp_rules", doubled)
    with pytest.raises(AssertionError, match="disagrees with the Jacobian"):
        explain_network(net)
