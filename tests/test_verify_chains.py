"""Derivations checked link by link, one reading for the whole claim and one numbering for
a run, ambiguity reported as such, and counterexamples that reproduce.

Every expected verdict is proven here with SymPy written out on a chain of single sigmoid
units (z^l = w^l a^{l-1} + b^l, C = ½ (a^L − y)²), never by asking the verifier twice.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable

import pytest
import sympy as sp
from click.testing import CliRunner

from symprop.cli.main import cli
from symprop.core.spec import Dense, Network
from symprop.parsing import Derivation, Equation
from symprop.verify import Setting, verify_claim, verify_claims
from symprop.verify.check import verify_derivation
from symprop.verify.claims import parse_claim
from symprop.verify.numeric import sample_points
from symprop.verify.setting import small_model

# ---------------------------------------------------------------- the independent proof

sig = sp.Function("sigma_test")


def _sigma(v: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-v))


class Chain:
    """Three single sigmoid units, written out: x -> z1 -> a1 -> z2 -> a2 -> z3 -> a3."""

    def __init__(self) -> None:
        self.x, self.y = sp.symbols("x y")
        self.w = sp.symbols("w1:4")
        self.b = sp.symbols("b1:4")
        self.z: dict[int, sp.Expr] = {}
        self.a: dict[int, sp.Expr] = {0: self.x}
        for l in (1, 2, 3):
            self.z[l] = self.w[l - 1] * self.a[l - 1] + self.b[l - 1]
            self.a[l] = _sigma(self.z[l])
        self.cost = (self.a[3] - self.y) ** 2 / 2

    def delta(self, layer: int) -> sp.Expr:
        """∂C/∂z^layer by sympy.diff through a fresh z."""
        zeta = sp.Symbol("zeta")
        act = _sigma(zeta)
        for l in range(layer + 1, 4):
            act = _sigma(self.w[l - 1] * act + self.b[l - 1])
        return sp.diff((act - self.y) ** 2 / 2, zeta).subs(zeta, self.z[layer])

    def dsigma(self, v: sp.Expr) -> sp.Expr:
        t = sp.Symbol("t")
        return sp.diff(_sigma(t), t).subs(t, v)

    def point(self, seed: int) -> dict[sp.Symbol, sp.Rational]:
        rng = random.Random(seed)
        syms = [self.x, self.y, *self.w, *self.b]
        return {s: sp.Rational(rng.randint(-900, 900), 500) for s in syms}

    def equal(self, left: sp.Expr, right: sp.Expr) -> bool:
        """Equal at five random rational points (a difference shows at the first)."""
        for seed in range(5):
            at = self.point(seed)
            if abs(sp.N((left - right).subs(at), 30)) > 1e-20:
                return False
        return True


NET = Chain()
UNIT = Setting.single_unit("sigmoid", "half_sse")
L = 3

# The terms of δ^L = E1 = E2 = E3 (LaTeX, and the same value written out), with a wrong
# version of each term and the mistake the wrong one makes.
a3, z3, y = NET.a[3], NET.z[3], NET.y
TERMS = [
    (r"\delta^L", NET.delta(3)),
    (r"(a^L - y) \sigma'(z^L)", (a3 - y) * NET.dsigma(z3)),
    (r"(a^L - y) a^L (1 - a^L)", (a3 - y) * a3 * (1 - a3)),
    (r"(a^L - y)(a^L - a^L a^L)", (a3 - y) * (a3 - a3 * a3)),
]
WRONG = {
    1: (r"(a^L - y) \sigma'(a^L)", (a3 - y) * NET.dsigma(a3), "phi_prime_at_a"),
    2: (r"(a^L - y) z^L (1 - z^L)", (a3 - y) * z3 * (1 - z3), "output_form_at_z"),
    3: (r"(y - a^L)(a^L - a^L a^L)", (y - a3) * (a3 - a3 * a3), "sign"),
}


def chain(texts: list[str], joins: list[str] | None = None) -> tuple[str, Derivation]:
    """A derivation of links ``texts[i]`` (each an equation), as the grammar builds it."""
    links = []
    for text in texts:
        parsed, _ = parse_claim(text)
        (eq,) = parsed.links
        links.append(Equation(eq.lhs, eq.rhs, text=text))
    joins = joins or ["chain"] * (len(links) - 1)
    return " ; ".join(texts), Derivation(tuple(links), tuple(joins))  # type: ignore[arg-type]


def chain_of_terms(terms: list[tuple[str, sp.Expr]]) -> tuple[str, Derivation]:
    texts = [f"{terms[i][0]} = {terms[i + 1][0]}" for i in range(len(terms) - 1)]
    text, derivation = chain(texts)
    return " = ".join(t for t, _ in terms), derivation


# ---------------------------------------------------------------- chains


def test_a_true_chain_holds_link_by_link() -> None:
    assert all(NET.equal(TERMS[0][1], v) for _, v in TERMS)  # the proof
    text, derivation = chain_of_terms(TERMS)
    verdict = verify_derivation(derivation, UNIT, text)
    assert verdict.ok and verdict.status == "holds"
    assert [v.ok for v in verdict.links] == [True, True, True]
    assert verdict.first_false_link is None


@pytest.mark.parametrize("wrong", [1, 2, 3])
def test_the_first_false_link_is_named_with_its_diagnosis(wrong: int) -> None:
    terms = list(TERMS)
    text_w, value_w, mistake = WRONG[wrong]
    terms[wrong] = (text_w, value_w)
    expected = [NET.equal(terms[i][1], terms[i + 1][1]) for i in range(3)]
    first = expected.index(False)
    assert first == wrong - 1  # the proof: the link into the wrong term is the first false one
    text, derivation = chain_of_terms(terms)
    verdict = verify_derivation(derivation, UNIT, text)
    assert not verdict.ok and verdict.status == "fails"
    assert [v.ok for v in verdict.links] == expected
    assert verdict.first_false_link == first
    report = verdict.to_text()
    assert f"first false step: step {first + 1}" in report
    assert f"step {first + 1} FALSE: {derivation.links[first].text}" in report
    for i, ok in enumerate(expected):
        if ok:
            assert f"step {i + 1} holds" in report
    # The first false link's counterexample, correct formula and diagnosis are the claim's.
    link = verdict.links[first]
    assert link.counterexample is not None and verdict.counterexample == link.counterexample
    assert verdict.diagnosis == mistake == link.diagnosis
    assert link.correct is not None
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["status"] == "fails" and data["first_false_link"] == first
    assert [x["ok"] for x in data["links"]] == expected


def test_implication_with_a_false_premise_is_reported_as_such() -> None:
    premise = r"\delta^L = a^L - y"
    consequence = r"\frac{\partial C}{\partial b^L} = \delta^L"
    # The proof: δ^L ≠ a^L − y for sigmoid with squared error; ∂C/∂b^L = δ^L always.
    assert not NET.equal(NET.delta(3), a3 - y)
    assert NET.equal(sp.diff(NET.cost, NET.b[2]), NET.delta(3))
    text, derivation = chain([premise, consequence], ["implies"])
    verdict = verify_derivation(derivation, UNIT, text)
    assert [v.ok for v in verdict.links] == [False, True]
    assert verdict.first_false_link == 0
    assert "false premise" in verdict.links[0].reason
    assert verdict.diagnosis == "missing_phi_prime"


def test_a_true_implication_holds() -> None:
    text, derivation = chain(
        [
            r"\delta^L = (a^L - y) \sigma'(z^L)",
            r"\frac{\partial C}{\partial w^L} = \delta^L a^{L-1}",
        ],
        ["implies"],
    )
    assert NET.equal(sp.diff(NET.cost, NET.w[2]), NET.delta(3) * NET.a[2])
    assert verify_derivation(derivation, UNIT, text).ok


def test_and_links_are_independent() -> None:
    text, derivation = chain(
        [r"\frac{\partial C}{\partial b^L} = \delta^L", r"\delta^L = a^L - y"], ["and"]
    )
    verdict = verify_derivation(derivation, UNIT, text)
    assert [v.ok for v in verdict.links] == [True, False]
    assert verdict.first_false_link == 1


def test_a_relation_between_layer_variables_holds_in_every_link() -> None:
    claim = r"\delta^l = w^{k} \delta^{k} \sigma'(z^l)"
    # The proof: with k = l + 1 this is the recurrence; with k = l + 2 it is not.
    for l in (1, 2):
        assert NET.equal(NET.delta(l), NET.w[l] * NET.delta(l + 1) * NET.dsigma(NET.z[l]))
    assert not NET.equal(NET.delta(1), NET.w[2] * NET.delta(3) * NET.dsigma(NET.z[1]))
    text, derivation = chain([claim, "k = l + 1"], ["and"])
    verdict = verify_derivation(derivation, UNIT, text)
    assert verdict.ok, verdict.to_text()
    assert len(verdict.links) == 1 or all(v.ok for v in verdict.links)
    assert ("k = l + 1", "a relation between layer variables") in verdict.reading
    text, derivation = chain([claim, "k = l + 2"], ["and"])
    verdict = verify_derivation(derivation, UNIT, text)
    assert not verdict.ok
    assert verdict.diagnosis == "layer_index", verdict.to_text()


def test_a_chain_is_read_under_one_numbering() -> None:
    # δ^{(3)} exists under both numberings of a 3-layer chain, but a^{(1)} = x only when the
    # input is layer 1; link by link, each could be accepted under a different numbering.
    # Read as one claim, the two links contradict each other: neither reading makes both true.
    deep = Network(inputs=1, layers=[Dense(1, "sigmoid")] * 4, loss="half_sse")
    setting = Setting.from_spec(deep)
    text, derivation = chain([r"a^{(1)} = x", r"z^{(1)} = w^{(1)} x + b^{(1)}"], ["and"])
    verdict = verify_derivation(derivation, setting, text)
    # input0: a^(1) = σ(z^(1)) ≠ x (false), z^(1) = w^(1) x + b^(1) (true);
    # input1: a^(1) = x (true), z^(1) is the input's pre-activation: not defined.
    assert verdict.status == "fails"
    assert [v.ok for v in verdict.links] == [False, True]
    assert not NET.equal(NET.a[1], NET.x)


# ---------------------------------------------------------------- ambiguity and numbering


def _net() -> Network:
    return Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, "sigmoid")], loss="half_sse")


def test_a_claim_true_under_one_reading_and_false_under_another_is_ambiguous() -> None:
    # Input layer 1: a^{(1)} is x by definition. Input layer 0: a^{(1)} = σ(W x + b) ≠ x.
    assert not NET.equal(NET.a[1], NET.x)
    setting = Setting.from_spec(_net())
    verdict = verify_claim(r"a^{(1)} = x", setting)
    assert verdict.status == "ambiguous" and not verdict.ok
    assert sorted(v.ok for v in verdict.ambiguous) == [False, True]
    text = verdict.to_text()
    assert text.startswith("? ambiguous:")
    assert "input is layer 0" in text and "input is layer 1" in text
    assert json.loads(json.dumps(verdict.to_dict()))["status"] == "ambiguous"


def test_a_declared_numbering_or_notation_decides_the_reading() -> None:
    net = _net()
    assert verify_claim(r"a^{(1)} = x", Setting.from_spec(net, numbering="input1")).ok
    assert not verify_claim(r"a^{(1)} = x", Setting.from_spec(net, numbering="input0")).ok
    nielsen = verify_claim(r"a^{(1)} = x", Setting.from_spec(net, notation="nielsen"))
    assert nielsen.ok and nielsen.status == "holds"
    assert any("input is layer 1" in taken for _, taken in nielsen.reading)


def test_one_numbering_for_the_whole_run() -> None:
    setting = Setting.from_spec(_net())
    # z^{(1)} = W^{(1)} x + b^{(1)} can only be read with the input as layer 0 (layer 1
    # would be the input, which has no z): the run is read that way, so a^{(1)} = x is
    # false there, although it would hold when the input is layer 1.
    first, second = verify_claims([r"z^{(1)} = W^{(1)} x + b^{(1)}", r"a^{(1)} = x"], setting)
    assert first.ok and first.status == "holds"
    assert second.status == "fails"
    assert "contradicts" in second.reason
    assert all("input is layer 0" in dict(v.reading)["numbering"] for v in (first, second))


def test_the_cli_answers_ambiguous_with_exit_1() -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["verify", "--spec", "examples/lehre_regression.toml", "--claim", r"a^{(1)} = x"],
    )
    assert result.exit_code == 1, result.output
    assert "? ambiguous:" in result.output and "✓" not in result.output
    result = runner.invoke(
        cli,
        [
            "verify",
            "--json",
            "--spec",
            "examples/lehre_regression.toml",
            "--claim",
            r"a^{(1)} = x",
        ],
    )
    assert result.exit_code == 1
    data = json.loads(result.output)["claims"][0]
    assert data["status"] == "ambiguous" and data["ok"] is None
    assert len(data["ambiguous"]) == 2


# ---------------------------------------------------------------- counterexamples


def _values(verdict_values: tuple[tuple[str, str], ...]) -> dict[str, sp.Rational]:
    return {k: sp.Rational(v) for k, v in verdict_values}


def test_a_counterexample_substituted_back_reproduces_the_difference() -> None:
    claim = r"\frac{\partial C}{\partial w^{(1)}} = \delta^{(1)} x + w^{(1)}"
    verdict = verify_claim(claim, UNIT)
    ce = verdict.counterexample
    assert not verdict.ok and ce is not None
    values = _values(ce.values)
    # Complete: every parameter, the input and the target the sides depend on.
    names = {
        "w^{(1)}": NET.w[0],
        "w^{(2)}": NET.w[1],
        "w^{(3)}": NET.w[2],
        "b^{(1)}": NET.b[0],
        "b^{(2)}": NET.b[1],
        "b^{(3)}": NET.b[2],
        "x": NET.x,
        "y": NET.y,
    }
    assert set(values) == set(names), ce.values
    at = {names[k]: v for k, v in values.items()}
    left = sp.N(sp.diff(NET.cost, NET.w[0]).subs(at), 30)
    right = sp.N((NET.delta(1) * NET.x + NET.w[0]).subs(at), 30)
    assert abs(left - right) > 1e-9
    assert abs(left - sp.Float(ce.lhs_value, 30)) < 1e-10 * max(1, abs(left))
    assert abs(right - sp.Float(ce.rhs_value, 30)) < 1e-10 * max(1, abs(right))
    # Reproducible: the printed seed and point index draw the same values again.
    assert ce.seed == UNIT.seed and ce.point is not None
    model = small_model(UNIT.single_network(3), 1)
    drawn = sample_points(model, UNIT.points, ce.seed)[ce.point].rational
    assert sorted(str(v) for v in drawn.values()) == sorted(str(v) for v in values.values())
    assert f"(seed {ce.seed}, point {ce.point})" in verdict.to_text()


def test_a_long_counterexample_is_printed_whole_on_several_lines() -> None:
    net = Network(
        inputs=2,
        layers=[Dense(2, "sigmoid"), Dense(2, "sigmoid"), Dense(2, "sigmoid")],
        loss="half_sse",
    )
    verdict = verify_claim(r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)}", Setting.from_spec(net))
    ce = verdict.counterexample
    assert ce is not None
    # δ^1 depends on every weight and bias of layers 1..3, both inputs and both targets.
    assert len(ce.values) == 3 * (4 + 2) + 2 + 2
    text = verdict.to_text()
    for name, value in ce.values:
        assert f"{name} = {value}" in text
    lines = [ln for ln in text.splitlines() if re.search(r" = -?\d+/\d+", ln)]
    assert len(lines) >= 2 and all(len(ln) <= 110 for ln in lines)


def test_readings_of_the_reader_that_disagree_make_the_claim_ambiguous() -> None:
    # Θ^{(1)} a^{(1)} on a network declared without notation: Ng's lecture puts the bias in
    # Θ's column 0 (Θ a = W x + b), symprop's documents keep b apart (Θ a = W x). Written
    # out: the two differ by b, so z^{(2)} = Θ^{(1)} a^{(1)} holds under one and not the other.
    W = sp.Matrix(2, 2, sp.symbols("w0:4"))
    b, x = sp.Matrix(sp.symbols("b0:2")), sp.Matrix(sp.symbols("x0:2"))
    assert (W * x + b) - W * x == b != sp.zeros(2, 1)
    net = Network(
        inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, "sigmoid")], loss="binary_cross_entropy"
    )
    claim = r"z^{(2)} = \Theta^{(1)} a^{(1)}"
    verdict = verify_claim(claim, Setting.from_spec(net))
    assert verdict.status == "ambiguous"
    assert sorted(v.ok for v in verdict.ambiguous) == [False, True]
    assert "bias" in verdict.to_text()
    declared = verify_claim(claim, Setting.from_spec(net, notation="ng"))
    assert declared.status == "holds"


# ---------------------------------------------------------------- claims with no network


def test_a_calculus_claim_needs_no_network_and_its_counterexample_reproduces() -> None:
    zs = sp.Symbol("z")
    s = 1 / (1 + sp.exp(-zs))
    assert sp.simplify(sp.diff(s, zs) - s * (1 - s)) == 0  # the proof of the true form
    bare = Setting()
    assert verify_claim(r"\sigma'(z) = \sigma(z)(1-\sigma(z))", bare).status == "holds"
    verdict = verify_claim(r"\sigma'(z) = \sigma(z)(1+\sigma(z))", bare)
    ce = verdict.counterexample
    assert verdict.status == "fails" and ce is not None
    ((name, value),) = ce.values
    assert name == "z"
    at = {zs: sp.Rational(value)}
    left, right = sp.N(sp.diff(s, zs).subs(at), 30), sp.N((s * (1 + s)).subs(at), 30)
    assert abs(left - right) > 1e-6
    assert abs(left - sp.Float(ce.lhs_value, 30)) < 1e-10
    assert abs(right - sp.Float(ce.rhs_value, 30)) < 1e-10


def test_a_worked_number_is_judged_to_the_decimals_it_shows() -> None:
    exact = sp.N(1 / (1 + sp.exp(-1)), 30)  # 0.7310585786...
    assert abs(exact - sp.Rational("0.7311")) <= sp.Rational(1, 20000)
    assert abs(exact - sp.Rational("0.7310")) > sp.Rational(1, 20000)
    bare = Setting()
    assert verify_claim(r"\sigma(1) = 0.7311", bare).status == "holds"
    wrong = verify_claim(r"\sigma(1) = 0.7310", bare)
    assert wrong.status == "fails" and "4 decimals" in wrong.method
    assert "4 decimals" in wrong.to_text() and wrong.counterexample is not None


# ---------------------------------------------------------------- chains as people write them


@pytest.mark.parametrize(
    "write",
    [
        lambda t: " = ".join(t),
        lambda t: r"\begin{aligned} " + t[0] + " &= " + r" \\ &= ".join(t[1:]) + r" \end{aligned}",
    ],
    ids=["equals-chain", "aligned-rows"],
)
def test_a_written_chain_names_its_first_false_step(write: Callable[[list[str]], str]) -> None:
    terms = [TERMS[0], TERMS[1], (WRONG[2][0], WRONG[2][1]), TERMS[3]]
    expected = [NET.equal(terms[i][1], terms[i + 1][1]) for i in range(3)]
    assert expected[:2] == [True, False]  # the proof: the step into the wrong term fails
    verdict = verify_claim(write([t for t, _ in terms]), UNIT)
    assert [v.ok for v in verdict.links] == expected
    assert verdict.first_false_link == 1
    assert verdict.diagnosis == "output_form_at_z"
    assert "first false step: step 2" in verdict.to_text()


def test_a_written_implication_is_checked_link_by_link() -> None:
    claim = r"\delta^L = a^L - y \Rightarrow \frac{\partial C}{\partial b^L} = \delta^L"
    verdict = verify_claim(claim, UNIT)
    assert [v.ok for v in verdict.links] == [False, True]
    assert "false premise" in verdict.links[0].reason


def test_an_equation_between_bare_letters_is_a_claim_not_a_relation() -> None:
    # "x = 2" looks like a relation between layer variables, but no link has layer labels:
    # it is the claim itself (x a free scalar, so false: x − 2 ≠ 0 for x ≠ 2), never an error.
    assert sp.Symbol("x") - 2 != 0
    verdict = verify_claim("x = 2", Setting())
    assert verdict.status == "fails"
    assert verdict.counterexample is not None
    ((name, value),) = verdict.counterexample.values
    assert name == "x" and sp.Rational(value) != 2


def test_a_digit_layer_label_holds_for_every_link_of_the_chain() -> None:
    # δ^2 names layer 2, so a^2 in the second link is layer 2's activation too, not a
    # square (the second link alone used to be refused: "a needs a layer label").
    z, y = sp.symbols("z y", real=True)
    a = 1 / (1 + sp.exp(-z))
    bce = -(y * sp.log(a) + (1 - y) * sp.log(1 - a))
    assert sp.simplify(sp.diff(bce, z) - (a - y)) == 0  # δ^L = a^L − y, written out here
    xor = Network(
        inputs=2, layers=[Dense(4, "sigmoid"), Dense(1, "sigmoid")], loss="binary_cross_entropy"
    )
    setting = Setting.from_spec(xor, numbering="input0")
    assert verify_claim(r"\delta^2 = a^2 - y = -(y - a^2)", setting).ok
    wrong = verify_claim(r"\delta^2 = a^2 - y = y - a^2", setting)
    assert not wrong.ok and [link.ok for link in wrong.links] == [True, False]
