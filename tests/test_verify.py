"""Tests of ``symprop verify``: textbook claims accepted, each known mistake diagnosed, hostile
input refused in bounded time, and the CLI's exit codes and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mpmath
import pytest
import sympy as sp
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_verify_diagnosis import DIAGNOSIS_TESTS

from symprop.cli.main import cli
from symprop.core.errors import ParseError, SymPropError
from symprop.core.notation import PROFILES, Profile
from symprop.core.spec import Dense, Network, load_spec
from symprop.core.symbols import L_sym, l_sym
from symprop.parsing import BinOp, Transpose, parse, parse_latex
from symprop.parsing.grammar import LATEX_FUNCTION_COMMANDS, LETTER_COMMANDS
from symprop.verify import (
    DIAGNOSES,
    Setting,
    Verdict,
    VerifyError,
    extract_claims,
    verify_claim,
    verify_claims,
)
from symprop.verify.numeric import compare_sides, sample_points
from symprop.verify.render import Style, render_ast
from symprop.verify.setting import Deadline, small_model

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- settings used below


@pytest.fixture(scope="module")
def unit() -> Setting:
    """One sigmoid unit per layer with binary cross-entropy (seed 004's chain)."""
    return Setting.single_unit("sigmoid", "binary_cross_entropy")


@pytest.fixture(scope="module")
def lehre() -> Setting:
    """Seed 000: sigmoid layers with half squared error (a non-canonical pair)."""
    return Setting.from_spec(load_spec(ROOT / "examples" / "lehre_regression.toml"))


@pytest.fixture(scope="module")
def xor() -> Setting:
    """Sigmoid + binary cross-entropy: δ^L = a^L − y."""
    return Setting.from_spec(load_spec(ROOT / "examples" / "xor.toml"))


@pytest.fixture(scope="module")
def ng() -> Setting:
    """Ng's notation (seed 002), kept to two layers so batch claims stay fast."""
    net = Network(
        inputs=2,
        layers=[Dense(2, "sigmoid"), Dense(2, "sigmoid")],
        loss="binary_cross_entropy",
        l2=0.01,
        notation="ng",
    )
    return Setting.from_spec(net)


@pytest.fixture(scope="module")
def goodfellow() -> Setting:
    """Seed 001: f(x) = b + V sigmoid(c + W x) with squared error."""
    return Setting.from_spec(load_spec(ROOT / "examples" / "goodfellow_mlp.toml"))


def holds(claim: str, setting: Setting) -> Verdict:
    verdict = verify_claim(claim, setting)
    assert verdict.ok, verdict.to_text()
    return verdict


def fails(claim: str, setting: Setting, diagnosis: str | None) -> Verdict:
    verdict = verify_claim(claim, setting)
    assert not verdict.ok, verdict.to_text()
    assert verdict.diagnosis == diagnosis, verdict.to_text()
    assert verdict.correct is not None, verdict.to_text()
    return verdict


# ---------------------------------------------------------------- one notation model


def _as_written(profile: Profile, role: str, layer: sp.Expr) -> str:
    """``role`` at internal ``layer`` as the documents write it in ``profile``."""
    label = sp.latex(profile.layer(role, layer))
    label = f"({label})" if profile.parenthesized else label
    return f"{profile.role(role).symbol}^{{{label}}}"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_claims_written_in_each_document_notation_are_read_back(name: str) -> None:
    """The documents' notation tables (core) and verify's reading agree: the output and hidden
    δ recurrences, written with a profile's symbols and layer labels, hold, and the hidden
    one with the next layer's weights (a shifted label) is refused."""
    profile = PROFILES[name]
    net = Network(
        inputs=2,
        layers=[Dense(2, "tanh"), Dense(2, "tanh"), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
        notation=name,
    )
    setting = Setting.from_spec(net)
    d, z, a, w = (lambda r, at: _as_written(profile, r, at)), "z", "a", "W"
    phi = profile.activation
    l, L = l_sym, L_sym
    output = f"{d('delta', L)} = {d(a, L)} - y"
    hidden = (
        f"{d('delta', l)} = (({d(w, l + 1)})^\\top {d('delta', l + 1)}) \\odot {phi}'({d(z, l)})"
    )
    shifted = (
        f"{d('delta', l)} = (({d(w, l + 2)})^\\top {d('delta', l + 1)}) \\odot {phi}'({d(z, l)})"
    )
    holds(output, setting)
    holds(hidden, setting)
    assert not verify_claim(shifted, setting).ok


@pytest.mark.parametrize(
    "text",
    [rf"\{name}^l_j + \hat{{\{name}}}" for name in LETTER_COMMANDS]
    + [
        rf"\{name}(x, y)" if name in ("max", "min") else rf"\{name}(x)"
        for name in LATEX_FUNCTION_COMMANDS
    ],
)
def test_formulas_written_back_in_latex_read_as_written(text: str) -> None:
    """The report writes a formula in LaTeX so that the LaTeX grammar reads the same tree:
    every letter and function command the grammar reads is written as that command."""
    tree = parse_latex(text)
    assert parse_latex(render_ast(tree, Style(latex=True, parenthesized=False))) == tree


def test_the_loss_written_ell_is_the_cost(unit: Setting) -> None:
    holds(r"\frac{\partial \ell}{\partial z^L} = a^L - y", unit)
    fails(r"\frac{\partial \ell}{\partial z^L} = y - a^L", unit, "sign")


# ---------------------------------------------------------------- textbook results accepted


@pytest.mark.parametrize(
    "claim",
    [
        r"\delta^L = (a^L - y) \odot \sigma'(z^L)",
        r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j",
        r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot \phi'(z^{l})",
        r"\delta_j^l = \phi'(z_j^l) \sum_k w_{kj}^{l+1} \delta_k^{l+1}",
        r"\frac{\partial C}{\partial W^l} = \delta^l (a^{l-1})^T",
        r"\frac{\partial C}{\partial b^l_j} = \delta^l_j",
        r"\delta^l_j = \frac{\partial C}{\partial z^l_j}",
    ],
)
def test_nielsen_latex_claims_hold(claim: str, lehre: Setting) -> None:
    holds(claim, lehre)


def test_generic_layer_is_checked_at_every_layer_it_can_denote(lehre: Setting) -> None:
    verdict = holds(r"\frac{\partial C}{\partial W^l} = \delta^l (a^{l-1})^T", lehre)
    assert verdict.checked == ("l = 1", "l = 2")
    # The recurrence needs W^{l+1}, so only the hidden layer is a candidate.
    verdict = holds(r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot \phi'(z^{l})", lehre)
    assert verdict.checked == ("l = 1",)


@pytest.mark.parametrize(
    "claim",
    ["delta_L = a_L - y", "dC/dW2 = delta2 @ a1.T", "dC/db1 = (W2.T @ delta2) * a1 * (1 - a1)"],
)
def test_plain_syntax_claims_hold(claim: str, xor: Setting) -> None:
    holds(claim, xor)


@pytest.mark.parametrize(
    "claim",
    [
        r"\delta^{(3)} = a^{(3)} - y",
        r"\delta^{(l)} = (\Theta^{(l)})^\top \delta^{(l+1)} \odot g'(z^{(l)})",
        r"g'(z^{(2)}) = a^{(2)} \odot (1 - a^{(2)})",
        r"\frac{\partial J}{\partial \Theta_{ij}^{(l)}} = a_j^{(l)} \delta_i^{(l+1)} "
        r"+ 2 \lambda \Theta_{ij}^{(l)}",
        r"\frac{\partial J}{\partial \Theta^{(l)}} = \frac{1}{n}\Delta^{(l)} "
        r"+ 2\lambda\Theta^{(l)}",
    ],
)
def test_ng_claims_hold(claim: str, ng: Setting) -> None:
    holds(claim, ng)


@pytest.mark.parametrize(
    "claim",
    [
        r"g^k = \frac{\partial C}{\partial a^k}",
        r"g^{k} = ((W^{k+1})^T g^{k+1}) \odot f'(a^k)",
        r"\frac{\partial C}{\partial W^k} = g^k (h^{k-1})^T",
        r"\frac{\partial C}{\partial \hat{y}} = 2(\hat{y} - y)",
    ],
)
def test_goodfellow_claims_hold(claim: str, goodfellow: Setting) -> None:
    holds(claim, goodfellow)


@pytest.mark.parametrize(
    "claim",
    [
        r"\sigma'(z) = \sigma(z)(1-\sigma(z))",
        "sigma'(z) = sigma(z)*(1 - sigma(z))",
        r"\delta = a - y",
        r"\delta = \hat{y} - t",
        r"\frac{\partial C}{\partial w} = (a - y) x",
        # Seed 004's chain, the correct factors.
        r"\frac{\partial a^{(3)}}{\partial w^{(3)}} = \sigma'(z^{(3)}) a^{(2)}",
        r"\frac{\partial z^{(3)}}{\partial a^{(2)}} = w^{(3)}",
    ],
)
def test_single_unit_claims_hold(claim: str, unit: Setting) -> None:
    holds(claim, unit)


def test_softmax_cross_entropy_output_delta_and_relu_recurrence() -> None:
    # Softmax is not elementwise: the brute force goes through the full Jacobian, and the
    # targets of a sample sum to one (exactly, at 40 digits, or a - y would look wrong).
    net = Network(inputs=2, layers=[Dense(2, "relu"), Dense(2, "softmax")], loss="cross_entropy")
    setting = Setting.from_spec(net)
    holds(r"\delta^L = a^L - y", setting)
    holds("delta1 = (W2.T @ delta2) * relu'(z1)", setting)
    fails("delta1 = W2.T @ delta2", setting, "missing_phi_prime")


def test_a_false_claim_is_not_accepted_under_a_lenient_reading(unit: Setting) -> None:
    # Honest: the checker must be able to say no to something close to a true claim.
    assert not verify_claim(r"\sigma'(z) = \sigma(z)(1+\sigma(z))", unit).ok
    assert not verify_claim(r"\frac{\partial C}{\partial w} = (a - y) x + 10^{-9}", unit).ok


# ---------------------------------------------------------------- seed 004's slide


def test_seed_004_chain_gets_the_chain_rule_product_as_correct_answer(unit: Setting) -> None:
    slide = (
        r"\frac{\partial a^{(3)}}{\partial w^{(1)}} = "
        r"\sigma'(z^{(3)}) w^{(3)} \sigma'(z^{(2)}) w^{(2)} \sigma'(z^{(1)}) "
    )
    holds(slide + "x", unit)
    verdict = verify_claim(slide + "w^{(1)}", unit)
    assert not verdict.ok
    assert (
        verdict.correct == r"\sigma'(z^{(3)}) w^{(3)} \sigma'(z^{(2)}) w^{(2)} \sigma'(z^{(1)}) x"
    )
    verdict = verify_claim(
        r"\frac{\partial a^{(3)}}{\partial w^{(1)}} = \sigma'(z^{(3)}) w^{(3)} w^{(2)} "
        r"\sigma'(z^{(1)}) x",
        unit,
    )
    assert verdict.diagnosis == "missing_phi_prime"


def test_latex_without_backslashes_is_read_as_latex(unit: Setting) -> None:
    # g(z)(1 - g(z)) is juxtaposition, which plain syntax does not have.
    verdict = holds("g'(z) = g(z)(1 - g(z))", unit)
    assert verdict.rhs == "g(z) (1 - g(z))"
    with pytest.raises(ParseError, match="unexpected"):
        verify_claim("g'(z) = g(z)(1 - ", unit)


def test_seed_004_slide_is_rejected_with_counterexample_and_x(unit: Setting) -> None:
    verdict = verify_claim(r"\frac{\partial z^{(1)}}{\partial w^{(1)}} = w^{(1)}", unit)
    assert not verdict.ok
    assert verdict.correct == "x"
    ce = verdict.counterexample
    assert ce is not None
    values = dict(ce.values)
    assert set(values) == {"w^{(1)}", "x"}
    # The reported values really are the two sides: ∂z/∂w = x and the slide's w.
    assert float(ce.lhs_value) == pytest.approx(float(eval_fraction(values["x"])))
    assert float(ce.rhs_value) == pytest.approx(float(eval_fraction(values["w^{(1)}"])))
    holds(r"\frac{\partial z^{(1)}}{\partial w^{(1)}} = x", unit)


def eval_fraction(text: str) -> float:
    num, _, den = text.partition("/")
    return int(num) / int(den or 1)


# ---------------------------------------------------------------- each mistake, diagnosed


def test_missing_phi_prime(lehre: Setting) -> None:
    verdict = fails(r"\delta^L = a^L - y", lehre, "missing_phi_prime")
    assert verdict.correct == r"(a^L - y) \odot \sigma'(z^L)"
    assert verdict.counterexample is not None


def test_w_instead_of_w_transpose(lehre: Setting) -> None:
    claim = r"\delta^{l} = (W^{l+1} \delta^{l+1}) \odot \phi'(z^{l})"
    # At the spec's real widths (2-3-2) W^2 is 2×3 and δ^2 has 2 entries: the product is
    # not defined, which is the reason given (never ✓).
    verdict = verify_claim(claim, lehre)
    assert not verdict.ok and "cannot multiply a 2×3 by a 2×1" in verdict.reason
    # On square layers the product is defined and the value is wrong: diagnosed.
    square = Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, "sigmoid")], loss="half_sse")
    verdict = fails(claim, Setting.from_spec(square), "transpose")
    assert verdict.correct_where == "l = 1"


def test_index_order_swapped(lehre: Setting) -> None:
    fails(r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_j \delta^l_k", lehre, "transpose")


def test_outer_product_transposed_in_plain_syntax(xor: Setting) -> None:
    fails("dC/dW2 = a1 @ delta2.T", xor, "transpose")


def test_sign_flip(unit: Setting) -> None:
    verdict = fails("delta = y - a", unit, "sign")
    assert verdict.correct == "a - y"


def test_factor_2_missing() -> None:
    setting = Setting.single_unit("identity", "mse")
    verdict = fails("delta = a - y", setting, "factor_2")
    assert verdict.correct == "2*(a - y)"


def test_lambda_for_2_lambda_in_weight_decay(ng: Setting) -> None:
    fails(
        r"\frac{\partial J}{\partial \Theta_{ij}^{(l)}} = a_j^{(l)} \delta_i^{(l+1)} "
        r"+ \lambda \Theta_{ij}^{(l)}",
        ng,
        "lambda_scale",
    )


def test_phi_prime_at_a(lehre: Setting) -> None:
    fails(r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot \phi'(a^{l})", lehre, "phi_prime_at_a")


def test_output_form_applied_to_z(lehre: Setting) -> None:
    fails(
        r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot z^l \odot (1 - z^l)",
        lehre,
        "output_form_at_z",
    )


def test_bias_regularised(ng: Setting) -> None:
    verdict = fails(
        r"\frac{\partial J}{\partial b^{(l)}} = \delta^{(l+1)} + 2\lambda b^{(l)}",
        ng,
        "bias_regularised",
    )
    assert verdict.correct == r"\delta^{(l+1)}"


def test_one_over_n_missing(ng: Setting) -> None:
    verdict = fails(
        r"\frac{\partial J}{\partial \Theta^{(l)}} = \Delta^{(l)} + 2\lambda\Theta^{(l)}",
        ng,
        "missing_1_over_n",
    )
    assert r"\frac{1}{n}" in (verdict.correct or "")


def test_every_listed_diagnosis_is_tested() -> None:
    tested = {
        "missing_phi_prime",
        "transpose",
        "sign",
        "factor_2",
        "phi_prime_at_a",
        "output_form_at_z",
        "bias_regularised",
        "missing_1_over_n",
    }
    # The catalogue's other mistakes are tested one by one in test_verify_diagnosis.py.
    tested |= set(DIAGNOSIS_TESTS)
    assert tested == set(DIAGNOSES)


def test_an_unrelated_wrong_claim_gets_no_diagnosis(lehre: Setting) -> None:
    verdict = verify_claim(r"\delta^L = a^L + y", lehre)
    assert not verdict.ok and verdict.diagnosis is None
    assert verdict.correct is not None


def test_shapes_that_do_not_conform_are_false_not_errors(lehre: Setting) -> None:
    verdict = verify_claim(r"\frac{\partial C}{\partial W^l} = \delta^l a^{l-1} a^{l-1}", lehre)
    assert not verdict.ok
    assert verdict.reason


# ---------------------------------------------------------------- bad input, bounded


def test_unknown_names_and_functions_are_bad_input(unit: Setting) -> None:
    with pytest.raises(VerifyError, match="unknown name 'foo'"):
        verify_claim("foo = 1", unit)
    with pytest.raises(SymPropError, match="unknown function"):
        verify_claim("delta = bar(z)", unit)
    with pytest.raises(ParseError):
        verify_claim("delta + 1", unit)  # not an equation


def test_labels_that_fit_no_layer_are_bad_input(lehre: Setting) -> None:
    with pytest.raises(VerifyError, match="no layer"):
        verify_claim(r"\delta^{(7)} = a^{(7)} - y", lehre)


def test_the_parser_fix_for_juxtaposed_transposes() -> None:
    # \delta^l (a^{l-1})^T is δ times a transposed factor (was: the transpose of the product).
    node = parse(r"\delta^l (a^{l-1})^T")
    assert isinstance(node, BinOp) and isinstance(node.right, Transpose)


HOSTILE = [
    "().__class__.__bases__",
    "__import__('os')",
    "delta = __import__('os').system('echo pwned')",
    r"x = 2^{2^{2^{2^{5}}}}",
    "(" * 10**6 + ")" * 10**6,
    "[" * 10**6,
    "y = ((((2^{99}+x-x)^{99}+x-x)^{99}+x-x)^{99}+x-x)^{99}",
    "y = ((x+1)^{99})^{99}",
    r"C = \log(0)",
    "y = x/0",
    "delta = " + "-" * 1500 + "a",
    r"\sigma'(z) = " + r"\sigma(" * 30 + "z" + ")" * 30,
    "a = " + "+".join(["x"] * 600),
    "\x00 = 1",
    "lambda = exec",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_answered_cleanly_and_quickly(text: str, unit: Setting) -> None:
    start = time.monotonic()
    try:
        result = verify_claim(text, unit)
    except SymPropError:
        result = None
    assert result is None or isinstance(result, Verdict)
    assert time.monotonic() - start < 15


_ALPHABET = st.sampled_from(
    list("xyzawbCJLnl0123456789+-*/^_()[]{}=., '|@")
    + [r"\delta", r"\sigma", r"\frac", r"\partial", r"\odot", r"\sum", "^T", ".T", "__", "'"]
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=st.one_of(st.text(max_size=40), st.lists(_ALPHABET, max_size=25).map("".join)))
def test_fuzz_only_verdicts_or_clean_errors(text: str, unit: Setting) -> None:
    start = time.monotonic()
    try:
        result = verify_claim(text, unit)
    except SymPropError as exc:
        assert str(exc)
    else:
        assert isinstance(result, Verdict)
        json.dumps(result.to_dict())  # always serialisable
    assert time.monotonic() - start < 15


@settings(max_examples=40, deadline=None)
@given(
    st.lists(_ALPHABET, min_size=1, max_size=12).map("".join),
    st.lists(_ALPHABET, min_size=1, max_size=12).map("".join),
)
def test_fuzz_equations_on_a_network(left: str, right: str) -> None:
    setting = Setting.single_unit("tanh", "mse")
    try:
        result = verify_claim(f"{left} = {right}", setting)
    except SymPropError:
        return
    assert isinstance(result, Verdict)


def test_verify_claims_reports_errors_per_claim(unit: Setting) -> None:
    results = verify_claims(["delta = a - y", "delta = y - a", "foo = 1"], unit)
    assert [getattr(r, "ok", None) for r in results] == [True, False, None]
    assert isinstance(results[2], SymPropError)


# ---------------------------------------------------------------- claim files


def test_markdown_and_toml_claims_are_extracted() -> None:
    markdown = (
        "# My derivation\n\nSome prose without equations.\n"
        "- $\\delta^L = a^L - y$\n"
        "* `dC/dW2 = delta2 @ a1.T`.\n"
        "1. $$\\sigma'(z) = \\sigma(z)(1-\\sigma(z))$$\n"
        "```\nignored = 1\n```\n"
    )
    assert extract_claims(markdown) == [
        r"\delta^L = a^L - y",
        "dC/dW2 = delta2 @ a1.T",
        r"\sigma'(z) = \sigma(z)(1-\sigma(z))",
    ]
    toml = 'claims = ["delta = a - y"]\n[[claim]]\ntext = "delta = y - a"\n'
    assert extract_claims(toml, "toml") == ["delta = a - y", "delta = y - a"]
    with pytest.raises(VerifyError, match="unknown key"):
        extract_claims('claimz = ["x = x"]', "toml")


# ---------------------------------------------------------------- the CLI


def run_cli(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, ["verify", *args])


def test_cli_exit_0_when_all_hold() -> None:
    result = run_cli(
        "--activation", "sigmoid", "--loss", "binary_cross_entropy", "--claim", "delta = a - y"
    )
    assert result.exit_code == 0, result.output
    assert "✓" in result.output


def test_cli_exit_1_with_counterexample_and_correct_answer(tmp_path: Path) -> None:
    claims = tmp_path / "claims.md"
    claims.write_text(
        "- $\\frac{\\partial z^{(1)}}{\\partial w^{(1)}} = w^{(1)}$\n- $\\delta = a - y$\n"
    )
    result = run_cli(str(claims), "--activation", "sigmoid", "--loss", "binary_cross_entropy")
    assert result.exit_code == 1, result.output
    assert "counterexample" in result.output
    assert "= x" in result.output


def test_cli_json_with_spec() -> None:
    spec = str(ROOT / "examples" / "lehre_regression.toml")
    result = run_cli("--spec", spec, "--claim", r"\delta^L = a^L - y", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    (entry,) = data["claims"]
    assert entry["ok"] is False
    assert entry["diagnosis"] == "missing_phi_prime"
    assert entry["counterexample"]["lhs"] != entry["counterexample"]["rhs"]


@pytest.mark.parametrize(
    "args",
    [
        ["--activation", "sigmoid", "--loss", "binary_cross_entropy", "--claim", "foo = 1"],
        ["--activation", "sigmoid", "--loss", "binary_cross_entropy", "--claim", "((("],
        ["--claim", "delta = a - y"],  # no setting
        ["--activation", "sigmoid", "--loss", "binary_cross_entropy"],  # no claims
        ["--spec", "does-not-exist.toml", "--claim", "delta = a - y"],
        ["--activation", "relu", "--loss", "binary_cross_entropy", "--claim", "delta = a - y"],
    ],
)
def test_cli_exit_2_on_bad_input(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_console_script_bad_input_is_one_line_without_traceback() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "symprop.cli.main",
            "verify",
            "--activation",
            "sigmoid",
            "--loss",
            "binary_cross_entropy",
            "--claim",
            "__import__('os').system('echo pwned')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # The claim is echoed in the report, but the command never ran.
    assert "pwned" not in proc.stdout.replace("echo pwned", "")
    assert len(proc.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the shared numeric engine


def test_a_counterexample_is_a_point_where_the_two_sides_really_differ() -> None:
    # δ^L = (a − y) ⊙ a is wrong for sigmoid with cross-entropy; the mismatch's point and
    # values are re-evaluated here exactly by SymPy, independently of the engine.
    net = Network(
        inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, "sigmoid")], loss="binary_cross_entropy"
    )
    model = small_model(net, 1)
    inst = model.insts[0]
    brute = model.delta(2)
    a_out, y = inst.a[2], sp.Matrix(list(inst.y))
    right = [a_out[r] - y[r] for r in range(2)]
    wrong = [(a_out[r] - y[r]) * a_out[r] for r in range(2)]
    points = sample_points(model, 4, 0)
    deadline = Deadline(120)
    ok, _, none, used = compare_sides(
        [({}, (r, 0), brute[r], right[r]) for r in range(2)], points, 4, deadline
    )
    assert ok and none is None and used in (0, 4)
    equal, _, mismatch, _ = compare_sides(
        [({}, (r, 0), brute[r], wrong[r]) for r in range(2)], points, 4, deadline
    )
    assert not equal and mismatch is not None
    at = mismatch.point.rational
    lhs = sp.N(mismatch.lhs.xreplace(at), 50)
    rhs = sp.N(mismatch.rhs.xreplace(at), 50)
    assert abs(lhs - rhs) > 1e-6 * max(1, abs(lhs))
    assert abs(sp.Float(mpmath.nstr(mismatch.lvalue, 40), 40) - lhs) < 1e-30
    assert abs(sp.Float(mpmath.nstr(mismatch.rvalue, 40), 40) - rhs) < 1e-30
    assert mismatch.point in points and mismatch.rhs == wrong[mismatch.entry[0]]
