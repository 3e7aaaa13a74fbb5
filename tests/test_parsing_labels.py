"""Layer labels and letters as the claims suite found them written: numeric labels before
indices (``\\delta^2_1``), ``\\ell`` as the layer variable, Greek values before brackets."""

from __future__ import annotations

import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp

from symprop.core.errors import ParseError
from symprop.core.spec import load_spec
from symprop.parsing import BinOp, Call, IndexSum, Name, Number, parse_latex, parse_plain
from symprop.verify import Setting, verify_claim

TWO = Number(Fraction(2))


# ---------------------------------------------------------------- numeric labels before indices


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (r"\delta^{2}_{3}", Name("delta", sub=("3",), sup=("2",))),
        (r"\delta^2_1", Name("delta", sub=("1",), sup=("2",))),
        (r"w^{3}_{k3}", Name("w", sub=("k", "3"), sup=("3",))),
        (r"W^{1}_{42}", Name("W", sub=("42",), sup=("1",))),
        (r"a^{2}_i", Name("a", sub=("i",), sup=("2",))),
        (r"\hat{y}^{2}_{1}", Name("y", sub=("1",), sup=("2",), decorations=("hat",))),
    ],
)
def test_a_numeric_superscript_before_indices_is_a_layer_label(text: str, name: Name) -> None:
    # Nielsen's \delta^l_j with l = 2: the same reading as the letter label gives.
    assert parse_latex(text) == name
    letter = parse_latex(
        text.replace("{" + name.sup[0] + "}", "{l}", 1).replace("^" + name.sup[0], "^l", 1)
    )
    assert isinstance(letter, Name) and letter.sup == ("l",) and letter.sub == name.sub


@pytest.mark.parametrize(
    "text",
    [
        r"\delta^{2}_{1}'",
        r"(W^{2}_{jk})^T",
        r"\sigma'(z^{2}_{1})",
        r"\sum_k w^{3}_{k1} \delta^{3}_k",
    ],
)
def test_a_numeric_label_reads_as_the_letter_label_does(text: str) -> None:
    # The same form with the label l, with every l then renamed 2 or 3: one tree.
    number = re.search(r"\^\{([23])\}", text).group(1)  # type: ignore[union-attr]
    letter = parse_latex(re.sub(r"\^\{[23]\}", "^{l}", text))
    assert repr(parse_latex(text)) == repr(letter).replace("sup=('l',)", f"sup=('{number}',)")


@pytest.mark.parametrize(
    ("text", "power"),
    [
        (r"x_i^2", BinOp("pow", Name("x", sub=("i",)), TWO)),  # subscript first: a square
        (r"a^2", BinOp("pow", Name("a"), TWO)),  # no index after it: a power
    ],
)
def test_a_number_exponent_without_indices_after_it_stays_a_power(text: str, power: BinOp) -> None:
    assert parse_latex(text) == power


@pytest.mark.parametrize("text", [r"x^{2.5}_i", r"x^{-1}_i", r"\sigma^{2}_i"])
def test_a_non_label_exponent_before_a_subscript_is_still_refused(text: str) -> None:
    # 2.5 and -1 cannot be layers; \sigma^2 is a power of the function.
    with pytest.raises(Exception, match="subscript"):
        parse_latex(text)


# ---------------------------------------------------------------- \ell as the layer variable

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lehre() -> Setting:
    return Setting.from_spec(load_spec(ROOT / "examples" / "lehre_regression.toml"))


@pytest.mark.parametrize(
    "claim",
    [
        r"z^{l}_j = \sum_k w^{l}_{jk} a^{l-1}_k + b^{l}_j",
        r"\delta^{l} = ((w^{l+1})^T \delta^{l+1}) \odot \phi'(z^{l})",
        r"\delta^{l} = (w^{l+1})^T \delta^{l+1}",  # false: φ' is missing
        r"\frac{\partial C}{\partial w^{(l)}_{jk}} = \delta^{(l)}_j a^{(l-1)}_k",
    ],
)
def test_ell_is_a_layer_variable_with_the_verdict_of_l(claim: str, lehre: Setting) -> None:
    # The same claim with l (read since the first release) is the reference verdict.
    reference = verify_claim(claim, lehre)
    verdict = verify_claim(re.sub(r"(?<=[{(])l(?=[})+-])", r"\\ell", claim), lehre)
    assert verdict.status == reference.status
    if not reference.ok:
        # The correct side is written back with \ell, and reads as the claim's letters do.
        assert verdict.correct is not None and r"\ell" in verdict.correct
        assert parse_latex(verdict.correct.replace(r"\ell", "l")) == parse_latex(
            reference.correct or ""
        )


# ---------------------------------------------------------------- Greek values before brackets


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        (r"\lambda (W + b)", "lambda"),
        (r"\eta(\nabla_W J)", "eta"),
        (r"\alpha\,(x - y)", "alpha"),
        ("λ(W + b)", "lambda"),
        (r"\lambda_1 (x)", "lambda"),
    ],
)
def test_a_greek_value_before_a_bracket_is_a_product(text: str, letter: str) -> None:
    node = parse_latex(text)
    assert isinstance(node, BinOp) and node.op == "mul"
    assert isinstance(node.left, Name) and node.left.base == letter


def test_a_greek_value_before_a_bracket_is_a_product_in_plain_syntax() -> None:
    assert parse_plain("lambda (W + b)") == parse_plain("lambda * (W + b)").__class__(
        "mul", Name("lambda"), parse_plain("W + b")
    )


@pytest.mark.parametrize("text", [r"\sigma(z)", r"\phi (z)", r"\psi(z)", r"\lambda'(z)"])
def test_greek_functions_and_primed_letters_before_a_bracket_stay_calls(text: str) -> None:
    assert isinstance(parse_latex(text), Call)


def test_lambda_times_a_bracket_in_a_definition_is_the_product(tmp_path: Path) -> None:
    # J = λ(‖W‖² + ‖V‖²) + ‖ŷ − y‖², Goodfellow's weight decay: ∇_W J = 2λW + ... by hand.
    W, V, b, c, x, y = (sp.Matrix(sp.MatrixSymbol(n, *s)) for n, s in SHAPES.items())
    lam = sp.Symbol("lambda")
    h = (c + W * x).applyfunc(lambda t: 1 / (1 + sp.exp(-t)))
    yhat = b + V * h
    cost = lam * (_sq(W) + _sq(V)) + _sq(yhat - y)
    expected = sp.Matrix(3, 2, lambda i, j: sp.diff(cost, W[i, j]))
    claim = r"\nabla_{W} J = 2\lambda W + ((V^T 2(\hat{y} - y)) \odot h \odot (1 - h)) x^T"
    front = (
        "---\n[define]\nh = '\\operatorname{sigmoid}(c + W x)'\n\"\\\\hat{y}\" = 'b + V h'\n"
        "J = '\\lambda (\\|W\\|^2 + \\|V\\|^2) + \\|\\hat{y} - y\\|^2'\n[shapes]\n"
        + "".join(f"{n} = {list(s)}\n" for n, s in SHAPES.items())
        + "---\n"
    )
    path = tmp_path / "decay.md"
    # The hand formula is SymPy's derivative: the claim holds, and a λ-for-2λ slip fails.
    hand = (
        2 * lam * W
        + (V.T * 2 * (yhat - y)).multiply_elementwise(
            h.multiply_elementwise(h.applyfunc(lambda t: 1 - t))
        )
        * x.T
    )
    assert sp.simplify(hand - expected) == sp.zeros(3, 2)
    slip = claim.replace(r"2\lambda", r"\lambda")
    path.write_text(front + f"- ${claim}$\n- ${slip}$\n")
    result = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line[:1] in "✓✗?"]
    assert [line[0] for line in lines] == ["✓", "✗"], result.stdout + result.stderr


SHAPES = {"W": (3, 2), "V": (2, 3), "b": (2, 1), "c": (3, 1), "x": (2, 1), "y": (2, 1)}


def _sq(m: sp.Matrix) -> sp.Expr:
    return sum(e**2 for e in m)


# ---------------------------------------------------------------- a product after a sum


@pytest.mark.parametrize(
    ("written", "juxtaposed"),
    [
        (r"\sum_k \delta_k \cdot w_{kj}", r"\sum_k \delta_k w_{kj}"),
        (r"\phi'(z_j) \sum_k \delta_k \cdot w_{kj}", r"\phi'(z_j) \sum_k \delta_k w_{kj}"),
        (r"\sum_{k=1}^{n} a_k \times b_k", r"\sum_{k=1}^{n} a_k b_k"),
    ],
)
def test_a_factor_after_a_sum_that_uses_its_index_is_inside_the_sum(
    written: str, juxtaposed: str
) -> None:
    # Nielsen's BP2 by units: read outside the sum, k would be unbound.
    assert repr(parse_latex(written)) == repr(parse_latex(juxtaposed))


def test_a_hadamard_factor_after_a_sum_that_uses_its_index_is_inside_the_sum() -> None:
    node = parse_latex(r"\sum_k a_k \odot b_k")
    assert node == IndexSum("k", BinOp("hadamard", Name("a", sub=("k",)), Name("b", sub=("k",))))


def test_a_factor_after_a_sum_without_its_index_stays_outside() -> None:
    node = parse_latex(r"\sum_k a_k \cdot c")
    assert node == BinOp("mul", IndexSum("k", Name("a", sub=("k",))), Name("c"))


def test_the_seed_hidden_unit_delta_holds_with_the_sum_over_the_product(lehre: Setting) -> None:
    # BP2 by units (Nielsen, seed 000) as printed, with \cdot inside the sum; the same
    # claim with the product written by juxtaposition is the reference verdict.
    printed = r"\delta^{l}_j = \phi'(z^{l}_j) \sum_k \delta^{l+1}_k \cdot w^{l+1}_{kj}"
    reference = verify_claim(printed.replace(r" \cdot ", " "), lehre)
    assert reference.status == "holds"
    assert verify_claim(printed, lehre).status == "holds"


def test_a_case_condition_on_ell_compares_layers_not_costs(tmp_path: Path) -> None:
    # Seed 000's δ^ℓ_j by cases. ℓ = L compares layer numbers: read as the loss ℓ and L it
    # was C = C, always true, and the printed (true) formula came out false.
    seed = (ROOT / "examples" / "claims" / "seed000_nielsen.md").read_text(encoding="utf-8")
    front = "---" + seed.split("---")[1] + "---\n"
    printed = (
        r"\delta^{\ell}_j = \begin{cases} \phi'(z^L_j) \cdot \frac{\partial C}{\partial a^L_j}"
        r" & \text{if } \ell = L \\ \phi'(z^{\ell}_j) \cdot \sum_k \delta^{\ell+1}_k \cdot"
        r" w^{\ell+1}_{kj} & \text{otherwise} \end{cases}"
    )
    slip = printed.replace(r"\phi'(z^{\ell}_j) \cdot \sum_k", r"\sum_k")  # φ' missing
    path = tmp_path / "cases.md"
    path.write_text(front + f"- ${printed}$\n- ${slip}$\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    marks = [line[0] for line in result.stdout.splitlines() if line[:1] in "✓✗?"]
    assert marks == ["✓", "✗"], result.stdout + result.stderr


# ---------------------------------------------------------------- entries of bracketed vectors


@pytest.mark.parametrize(
    "text", [r"\sum_{i} (\mathbf{W}\mathbf{x})_i^2", r"(a + b)_i", r"\left(W x\right)_{i}"]
)
def test_an_entry_of_a_bracketed_expression_is_refused_naming_the_rewrite(text: str) -> None:
    with pytest.raises(ParseError, match=r"entry of a bracketed expression.*let u = W x"):
        parse_latex(text)


def test_the_suggested_rewrite_of_an_entry_is_checked(tmp_path: Path) -> None:
    # ‖Wx‖² = Σ_i (Wx)_i², written with u = Wx declared as the refusal suggests.
    W, x = sp.Matrix(sp.MatrixSymbol("W", 2, 3)), sp.Matrix(sp.MatrixSymbol("x", 3, 1))
    u = W * x
    assert sp.expand(sum(e**2 for e in u) - (u.T * u)[0]) == 0
    path = tmp_path / "entry.md"
    path.write_text(
        "---\n[define]\nu = 'W x'\n[shapes]\nW = [2, 3]\nx = [3]\n---\n"
        "- $\\|W x\\|^2 = \\sum_i u_i^2$\n- $\\|W x\\|^2 = \\sum_i 2 u_i^2$\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    marks = [line[0] for line in result.stdout.splitlines() if line[:1] in "✓✗?"]
    assert marks == ["✓", "✗"], result.stdout + result.stderr
