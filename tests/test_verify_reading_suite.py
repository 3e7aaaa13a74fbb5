"""Reading fixes found by the claims suite (issue 17): each claim as the seeds write it, its
sides evaluated by the reader and compared with SymPy written out in the test."""

from __future__ import annotations

import pytest
import sympy as sp

from symprop.core.spec import Dense, Network
from symprop.verify import declare
from symprop.verify.claims import parse_claim
from symprop.verify.errors import VerifyError
from symprop.verify.readings import readings
from symprop.verify.setting import Setting
from symprop.verify.sides import evaluate_side

SIG = lambda e: 1 / (1 + sp.exp(-e))  # noqa: E731  (the logistic sigmoid, written out)


@pytest.fixture(scope="module")
def seed004() -> Setting:
    """Seed 004: a chain of three sigmoid units, g declared a function, g(z) = σ(z)."""
    net = Network(inputs=1, layers=[Dense(1, "sigmoid")] * 3, loss="half_sse")
    g = declare.definition_from_text(r"let g(z) = \frac{1}{1 + e^{-z}}")
    return Setting.from_spec(
        net, numbering="input0", declared=declare.declarations([g], functions=["g"])
    )


def _sides(text: str, setting: Setting) -> tuple[sp.Matrix, sp.Matrix]:
    claim = parse_claim(text)[0]
    link = claim.links[0]
    lhs = evaluate_side(link.lhs, setting, claim=claim)[0]
    rhs = evaluate_side(link.rhs, setting, claim=claim)[0]
    return lhs, rhs


def test_a_function_claims_bare_argument_is_a_free_scalar(seed004: Setting) -> None:
    """g(z) = 1/(1+e^{-z}) and g'(z) = g(z)(1 - g(z)) in a 3-layer network: z is g's argument
    (an unlabelled z was refused as the network's pre-activation without a layer label)."""
    z = sp.Symbol("z", real=True)
    lhs, rhs = _sides(r"g(z) = \frac{1}{1 + e^{-z}}", seed004)
    assert sp.simplify(lhs[0] - SIG(z)) == 0
    assert sp.simplify(rhs[0] - SIG(z)) == 0
    lhs, rhs = _sides(r"g'(z) = g(z)(1 - g(z))", seed004)
    assert sp.simplify(lhs[0] - sp.diff(SIG(z), z)) == 0
    assert sp.simplify(rhs[0] - SIG(z) * (1 - SIG(z))) == 0
    lhs, rhs = _sides(r"g'(z) = g(z)", seed004)  # the false form: differs from σ(z)
    assert sp.simplify(lhs[0] - rhs[0]) != 0
    taken = dict(readings(parse_claim(r"g'(z) = g(z)")[0], seed004)[0].taken)
    assert taken["z"].startswith("free scalar (the argument of the function")


def test_a_claim_mixing_the_argument_with_network_quantities_keeps_the_network_reading(
    seed004: Setting,
) -> None:
    """σ(z) = a speaks of the network: its unlabelled z and a still need a layer label."""
    with pytest.raises(VerifyError, match="needs a layer label"):
        _sides(r"\sigma(z) = a", seed004)


@pytest.fixture(scope="module")
def bishop() -> Setting:
    """Seed 003's letters on widths 2 → 3 → 2 → 1 (distinct, so a wrong layer shows)."""
    net = Network(
        inputs=2,
        layers=[Dense(3, "sigmoid"), Dense(2, "sigmoid"), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
    )
    return Setting.from_spec(net, notation="bishop", numbering="input0")


def test_bishop_out_names_the_output_layer(bishop: Setting) -> None:
    """δ^{out} = σ(a^{out}) − t^{(i)} (seed 003): out is the output layer L; δ = ∂E/∂a with
    E the log loss of σ(a) against t, differentiated here by sympy.diff."""
    text = r"\delta^{out} = \sigma(a^{out}) - t^{(i)}"
    claim = parse_claim(text)[0]
    delta, ev = evaluate_side(parse_claim(r"\delta^{out} = 0")[0].links[0].lhs, bishop)
    inst = ev.env.model.insts[0]  # type: ignore[union-attr]
    pre, t = inst.z[3][0], inst.y[0]  # the output's pre-activation (Bishop's a), the target
    s = sp.Symbol("s", real=True)
    loss = -(t * sp.log(SIG(s)) + (1 - t) * sp.log(1 - SIG(s)))
    expected = sp.diff(loss, s).xreplace({s: pre})
    assert sp.simplify(delta[0] - expected) == 0
    lhs, rhs = _sides(text, bishop)
    assert sp.simplify(lhs[0] - rhs[0]) == 0
    assert sp.simplify(rhs[0] - (SIG(pre) - t)) == 0
    taken = dict(readings(claim, bishop)[0].taken)
    assert taken["delta^{out}"].endswith("layer L")
    assert taken["t^i"] == "target, sample i"


def test_bishop_width_of_a_labelled_layer_bounds_a_sum(bishop: Setting) -> None:
    """N_{L-2} and N_{L-1} are the widths of layers L−2 and L−1 (3 and 2 here), not the
    batch size N, and their label is no unit index to range over."""
    claim = parse_claim(r"a^{(L)}_1 = \sum_{i=1}^{N_{L-1}} w_{1i}^{(L)} z_i^{(L-1)}")[0]
    for label, width in (("L-2", 3), ("L-1", 2)):
        node = parse_claim(rf"N_{{{label}}} = 0")[0].links[0].lhs
        assert evaluate_side(node, bishop, claim=claim)[0] == sp.Matrix([[width]])
    lhs, ev = evaluate_side(claim.links[0].lhs, bishop, claim=claim)
    rhs = evaluate_side(claim.links[0].rhs, bishop, claim=claim)[0]
    inst = ev.env.model.insts[0]  # type: ignore[union-attr]
    written = sum(inst.W[3][0, i] * inst.a[2][i] for i in range(2))  # Σ_i w_{1i} z_i, no bias
    assert sp.expand(rhs[0] - written) == 0
    assert sp.expand(lhs[0] - rhs[0] - inst.b[3][0]) == 0  # the sum alone misses the bias


def test_an_operators_operand_log_sigma_is_a_call() -> None:
    """d/dz log σ(z) = 1 − σ(z): the operand of d/dz, log σ(z), is log applied to σ(z) (it
    was refused as a bare log); checked against sympy.diff of log(1/(1+e^{-z}))."""
    z = sp.Symbol("z", real=True)
    lhs, rhs = _sides(r"\frac{d}{dz}\log\sigma(z) = 1 - \sigma(z)", Setting.calculus())
    assert sp.simplify(lhs[0] - sp.diff(sp.log(SIG(z)), z)) == 0
    assert sp.simplify(lhs[0] - rhs[0]) == 0
    wrong = _sides(r"\frac{d}{dz}\log\sigma(z) = \frac{1}{\sigma(z)}", Setting.calculus())
    assert sp.simplify(wrong[0][0] - wrong[1][0]) != 0


def test_a_digit_on_the_variable_of_a_gradient_is_a_layer() -> None:
    """∇_{a^{2}} J (Goodfellow): the gradient by layer 2's pre-activation, never by a² (it
    was refused as 'differentiate with respect to a named quantity'). With an identity
    output and J = ½ Σ (a − y)², it is a² − y, written out with sympy.diff here."""
    net = Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, "identity")], loss="half_sse")
    setting = Setting.from_spec(net, notation="goodfellow", numbering="input0")
    claim = parse_claim(r"\nabla_{\mathbf{h}^{1}} J = \nabla_{\mathbf{a}^{2}} J")[0]
    grad, ev = evaluate_side(claim.links[0].rhs, setting, claim=claim)
    inst = ev.env.model.insts[0]  # type: ignore[union-attr]
    s = sp.symbols("s1 s2", real=True)
    loss = sum((s[k] - inst.y[k]) ** 2 for k in range(2)) / 2
    at = dict(zip(s, inst.z[2], strict=True))
    written = sp.Matrix([sp.diff(loss, s[k]).xreplace(at) for k in range(2)])
    assert (grad - written).applyfunc(sp.expand) == sp.zeros(2, 1)
    # ∇_{h^1} J = (W^2)ᵀ ∇_{a^2} J: the claim without the weights differs
    lhs = evaluate_side(claim.links[0].lhs, setting, claim=claim)[0]
    assert (lhs - inst.W[2].T * written).applyfunc(sp.expand) == sp.zeros(2, 1)
    assert (lhs - grad).applyfunc(sp.expand) != sp.zeros(2, 1)


def test_the_reading_says_nabla_a_is_the_output_layers_activation() -> None:
    """δ^L = ∇_a C ⊙ σ'(z^L): the verdict's reading names a as a^L (it said "activation",
    with no layer, while the evaluator took a^L); the value is ∂C/∂a^L, checked against
    sympy.diff of the cross-entropy written out."""
    net = Network(
        inputs=2, layers=[Dense(2, "sigmoid"), Dense(1, "sigmoid")], loss="binary_cross_entropy"
    )
    setting = Setting.from_spec(net)
    claim = parse_claim(r"\delta^L = \nabla_a C \odot \sigma'(z^L)")[0]
    reading = readings(claim, setting)[0]
    (a,) = [t for t in reading.symbols if t.what == "a"]
    assert a.label == ("L", 0) and "output layer" in a.text
    grad_node = claim.links[0].rhs.left  # type: ignore[attr-defined]
    grad, ev = evaluate_side(grad_node, setting, claim=claim)
    inst = ev.env.model.insts[0]  # type: ignore[union-attr]
    s, y = sp.Symbol("s", real=True), inst.y[0]
    cost = -(y * sp.log(s) + (1 - y) * sp.log(1 - s))
    assert sp.simplify(grad[0] - sp.diff(cost, s).xreplace({s: inst.a[2][0]})) == 0
