"""Statements of the derivation that were wrong or weak (issue 18's list): each test reads
the derivation's ``Why`` data or the printed text and fails on the old statement."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from symprop import Dense, Network, derive
from symprop.core.calculus import activation_function, derive_activation
from symprop.core.registry import ACTIVATIONS, a, z
from symprop.core.why import Relation
from symprop.documents.emit import checked, to_markdown
from symprop.printers.unicode import sentence, unicode

SMALL = dict(inputs=2, loss="half_sse")


def _net(*layers: Dense, **kw: object) -> Network:
    return Network(**{**SMALL, **kw}, layers=list(layers))


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if ACTIVATIONS[n].elementwise])
def test_no_definition_is_a_tautology(name: str) -> None:
    d = derive(_net(Dense(2, name), Dense(1, "sigmoid")))
    step = d.step(f"activation.{name}.definition")
    assert unicode(step.lhs) != unicode(step.rhs), unicode(step.rhs)


def test_tanh_is_defined_by_exponentials() -> None:
    step = derive(_net(Dense(2, "tanh"), Dense(1, "sigmoid"))).step("activation.tanh.definition")
    assert step.rhs.has(sp.exp) and not step.rhs.has(sp.tanh)
    assert sp.simplify((step.rhs - sp.tanh(z)).rewrite(sp.exp)) == 0


def test_silu_rule_never_says_a_is_sigma() -> None:
    rule = derive_activation("silu").rule
    sig = activation_function("sigmoid")(z)
    relations = [s for s in rule if isinstance(s, Relation)]
    assert relations and all(r.args[:2] != (a, sig) for r in relations), sentence(rule)
    # What a is, in the terms used: a = z σ(z).
    assert any(r.args[0] == a and sp.simplify(r.args[1] - z * sig) == 0 for r in relations)


def test_substituting_the_activation_derivative_is_not_the_chain_rule() -> None:
    d = derive(_net(Dense(2, "sigmoid"), Dense(1, "sigmoid")))
    last = d.step("delta.output.index").chain[-1][1]
    assert "chain rule" not in last.text, sentence(last)
    assert "derivative of" in last.text and "in its output" in last.text


def test_cross_entropy_through_softmax_shows_the_cancellation() -> None:
    d = derive(
        Network(
            inputs=2,
            layers=[Dense(2, "relu"), Dense(3, "softmax")],
            loss="cross_entropy",
        )
    )
    chain = d.step("delta.output.index").chain
    texts = [sentence(w) for _, w in chain]
    assert not any("through the Jacobian" in t for t in texts), texts
    # ∂C/∂a_i = −y_i/a_i is visible: some link still divides by a_i ...
    shown = [unicode(e) for e, _ in chain]
    divided = [n for n, s in enumerate(shown) if "/a²ᵢ" in s]
    assert divided, shown
    # ... and the next link cancels it, saying so.
    n = divided[0]
    assert "cancelling" in texts[n + 1] and "/a²ᵢ" not in shown[n + 1], shown


def test_identity_with_squared_error_does_not_cancel() -> None:
    d = derive(_net(Dense(2, "tanh"), Dense(1, "identity")))
    text = to_markdown(checked(d))
    assert "cancels against" not in text
    assert "nothing cancels" in text


def test_matrix_forms_say_the_index_form_holds_for_all_units_at_once() -> None:
    d = derive(_net(Dense(2, "tanh"), Dense(1, "sigmoid"), l2=0.1))
    said = 0
    for st in d.steps:
        for _, w in st.chain:
            if w.text.startswith("the index form"):
                said += 1
                assert "at once" in w.text, (st.id, sentence(w))
    assert said >= 4


def test_each_parameterised_layer_gets_its_own_parameter_symbol() -> None:
    d = derive(
        _net(
            Dense(2, "leaky_relu", alpha=0.2),
            Dense(2, "elu", alpha=1.5),
            Dense(1, "sigmoid"),
        )
    )
    one = d.step("summary.delta.1").rhs.free_symbols
    two = d.step("summary.delta.2").rhs.free_symbols
    names = {s.name for s in one | two if isinstance(s, sp.Symbol)}
    assert {"alpha_1", "alpha_2"} <= names and "alpha" not in names
    text = " ".join(sentence(w) for w in d.assumptions)
    assert "α₁ = 0.2" in text and "α₂ = 1.5" in text
    assert d.check(points=1).ok


def test_one_parameterised_activation_keeps_its_letter() -> None:
    d = derive(_net(Dense(2, "leaky_relu", alpha=0.2), Dense(1, "sigmoid")))
    assert "α = 0.2" in " ".join(sentence(w) for w in d.assumptions)


def test_elu_is_differentiable_at_zero_for_alpha_one() -> None:
    def slope(alpha: float, x: float) -> float:
        def elu(t: float) -> float:
            return t if t > 0 else alpha * (math.exp(t) - 1)

        h = 1e-7
        return (elu(x + h) - elu(x)) / h if x >= 0 else (elu(x) - elu(x - h)) / h

    for alpha in (1.0, 1.5):
        jump = abs(slope(alpha, 0.0) - slope(alpha, -0.0 - 1e-12))
        d = derive(_net(Dense(2, "elu", alpha=alpha), Dense(1, "sigmoid")))
        said = any("not differentiable" in w.text for w in d.assumptions)
        assert said == (jump > 1e-3), (alpha, jump)


def test_the_cost_symbols_mean_one_thing_each() -> None:
    d = derive(_net(Dense(2, "tanh"), Dense(1, "sigmoid"), l2=0.1))
    defined = [unicode(st.lhs) for st in d.section("cost")]
    assert len(defined) == len(set(defined)), defined
    assert defined.count("C") == 1 and defined.count("J") == 1


def test_bound_indices_of_the_penalty_do_not_clash_with_the_free_ones() -> None:
    d = derive(_net(Dense(2, "tanh"), Dense(1, "sigmoid"), l2=0.1))
    st = d.step("batch.grad_J.index")
    free = st.lhs.free_symbols
    for _, w in st.chain:
        for seg in w:
            for s in sp.preorder_traversal(seg) if isinstance(seg, sp.Basic) else ():
                if isinstance(s, sp.Sum):
                    bound = {v for v, *_ in s.limits}
                    assert not bound & free, (unicode(s), bound & free)


def test_the_penalty_is_one_sum_over_layers_at_any_depth() -> None:
    layers = [Dense(3, "tanh") for _ in range(9)] + [Dense(1, "sigmoid")]
    d = derive(_net(*layers, l2=0.1))
    text = unicode(d.step("cost.batch").rhs)
    assert text.count("‖") == 2, text  # one ‖W^l‖², not ten
    assert "Σ" in text


def test_softmax_is_not_said_to_act_elementwise() -> None:
    d = derive(
        Network(inputs=2, layers=[Dense(2, "relu"), Dense(3, "softmax")], loss="cross_entropy")
    )
    said = [sentence(w) for st in d.section("forward") for _, w in st.chain]
    elementwise = [t for t in said if "elementwise" in t]
    assert elementwise and all("softmax acts on the whole vector" in t for t in elementwise)
