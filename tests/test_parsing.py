"""The safe parser: structure of the seeds' formulas, positions of errors, hostile input."""

from __future__ import annotations

import builtins
import time
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symprop.core.errors import ParseError
from symprop.parsing import (
    BinOp,
    Call,
    Derivative,
    Equation,
    IndexSum,
    Name,
    Neg,
    Norm,
    Number,
    Transpose,
    parse,
    parse_derivation,
    parse_latex,
    parse_plain,
    to_sympy,
)

x, y, z = Name("x"), Name("y"), Name("z")


def test_plain_structures() -> None:
    assert parse_plain("x*y + z") == BinOp("add", BinOp("hadamard", x, y), z)
    assert parse_plain("a_L - y") == BinOp("sub", Name("a", sub=("L",)), y)
    assert parse_plain("delta2 @ a1.T") == BinOp(
        "matmul", Name("delta", sub=("2",)), Transpose(Name("a", sub=("1",)))
    )
    eq = parse_plain("dC/dW2 = delta2 @ a1.T")
    assert isinstance(eq, Equation)
    assert eq.lhs == Derivative(Name("C"), Name("W", sub=("2",)), partial=False)
    assert parse_plain("max(0, x)") == Call(Name("max"), (Number(Fraction(0)), x))
    assert parse_plain("x**2") == parse_plain("x^2") == BinOp("pow", x, Number(Fraction(2)))
    assert parse_plain("-x**2") == Neg(BinOp("pow", x, Number(Fraction(2))))
    assert parse_plain("0.1") == Number(Fraction(1, 10))  # exact, never a float
    assert parse_plain("sum_k(w_kj*d_k)") == IndexSum(
        "k", BinOp("hadamard", Name("w", sub=("k", "j")), Name("d", sub=("k",)))
    )
    assert parse_plain("norm(v)") == Norm(Name("v"))
    sig = parse_plain("sigma(z)*(1-sigma(z))")
    assert sig == BinOp(
        "hadamard",
        Call(Name("sigma"), (z,)),
        BinOp("sub", Number(Fraction(1)), Call(Name("sigma"), (z,))),
    )
    neuron = parse_plain("1/(1+exp(-(w0*x0+b)))")
    assert neuron.right.right.args[0].operand.left.left == Name("w", sub=("0",))


def test_latex_structures() -> None:
    eq = parse_latex(r"\delta^L = (a^L - y) \odot \sigma'(z^L)")
    assert eq == Equation(
        Name("delta", sup=("L",)),
        BinOp(
            "hadamard",
            BinOp("sub", Name("a", sup=("L",)), y),
            Call(Name("sigma", primes=1), (Name("z", sup=("L",)),)),
        ),
    )
    eq = parse_latex(r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j")
    assert eq.lhs == Derivative(Name("C"), Name("w", sub=("j", "k"), sup=("l",)))
    assert eq.rhs == BinOp(
        "mul", Name("a", sub=("k",), sup=("l-1",)), Name("delta", sub=("j",), sup=("l",))
    )
    eq = parse_latex(r"\sigma'(z) = \sigma(z)(1-\sigma(z))")
    assert eq.rhs.op == "mul" and eq.rhs.left == Call(Name("sigma"), (z,))
    eq = parse_latex(r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot \phi'(z^{l})")
    assert eq.rhs.left == BinOp(
        "mul", Transpose(Name("W", sup=("l+1",))), Name("delta", sup=("l+1",))
    )
    assert parse_latex(r"\sum_k w^{l+1}_{kj} \delta^{l+1}_k") == IndexSum(
        "k",
        BinOp(
            "mul", Name("w", sub=("k", "j"), sup=("l+1",)), Name("delta", sub=("k",), sup=("l+1",))
        ),
    )
    assert parse_latex(r"\sum_{k=1}^{n} x_k").upper == Name("n")


@pytest.mark.parametrize(
    ("latex", "plain"),
    [
        (r"\frac{1}{2}", "1/2"),
        (r"\left( a + b \right) \cdot c", "(a+b)*c"),
        (r"e^{-z}", "exp(-z)"),
        (r"\exp(x) + \log x + \ln(y)", "exp(x) + log(x) + ln(y)"),
        (r"\tanh(z)", "tanh(z)"),
        (r"\max(0, x)", "max(0, x)"),
        (r"\max\{0, x\}", "max(0, x)"),
        (r"\|x\|^2", "norm(x)^2"),
        (r"W^{\mathsf T}", "W.T"),
        (r"W{}^T", "W.T"),
        (r"W^\top", "W.T"),
        (r"x_0^2", "x0^2"),
    ],
)
def test_latex_matches_plain(latex: str, plain: str) -> None:
    left, right = parse_latex(latex), parse_plain(plain)
    if isinstance(right, BinOp) and right.op == "hadamard":  # '*' is elementwise in plain
        right = BinOp("mul", right.left, right.right)
    assert left == right


def test_latex_names_and_powers() -> None:
    assert parse_latex(r"\hat{y}") == Name("y", decorations=("hat",))
    assert parse_latex(r"\Theta^{(l)}") == Name("Theta", sup=("l",))
    assert parse_latex(r"x^{(2)}") == Name("x", sup=("2",))  # a label, not a square
    assert parse_latex(r"x^{2}") == BinOp("pow", x, Number(Fraction(2)))
    assert parse_latex(r"w_{jk}^l") == parse_latex(r"w^l_{jk}")  # scripts in any order
    assert parse_latex("2xy") == BinOp("mul", BinOp("mul", Number(Fraction(2)), x), y)
    assert parse_latex(r"a \times b") == BinOp("mul", Name("a"), Name("b"))


def test_latex_ell_is_a_letter() -> None:
    # ℓ names the loss in many notes (verify reads it as the cost); it was an unknown command.
    assert parse_latex(r"\ell") == Name("ell")
    assert parse_latex(r"\frac{\partial \ell}{\partial z^{(l)}}") == Derivative(
        Name("ell"), Name("z", sup=("l",))
    )
    assert parse_latex(r"\ell x") == BinOp("mul", Name("ell"), x)  # a command ends the name


@pytest.mark.parametrize(
    ("text", "column"),
    [("x + * y", 4), ("(x + y", 6), ("x $ y", 2), ("sum_k(x, y)", 0)],
)
def test_plain_errors_point_at_the_column(text: str, column: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_plain(text)
    assert info.value.position == column
    assert "^" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment", "column"),
    [
        (r"\input{/etc/passwd}", r"\input", 0),
        (r"x^{2^{2^{2^{5}}}}", "exceeds", 6),  # the exponent 2^{2^5} = 2^32
        (r"\frac{1}{", "ends too early", 9),
    ],
)
def test_latex_errors(text: str, fragment: str, column: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_latex(text)
    assert fragment in str(info.value)
    assert info.value.position == column


def test_builder_whitelist_and_unknown_function() -> None:
    xs, ys, zs = (sp.Symbol(n, real=True) for n in "xyz")
    built = to_sympy(parse_plain("x*y + z"))
    assert sp.simplify(built - (xs * ys + zs)) == 0
    sigma_prime = to_sympy(parse_plain("sigma'(z)"))
    sig = 1 / (1 + sp.exp(-zs))
    assert sp.simplify(sigma_prime - sig * (1 - sig)) == 0
    with pytest.raises(ParseError, match="unknown function 'foo'; known: .*exp"):
        to_sympy(parse_plain("foo(x)"))
    W, v = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("v", 3, 1)
    with pytest.raises(ParseError, match="shapes do not conform"):
        to_sympy(parse_plain("W @ v"), names=lambda n: {"W": W, "v": v}.get(n.key))


HOSTILE = [
    "().__class__.__bases__",
    "__import__('os')",
    "__import__('os').system('touch /tmp/symprop_pwned')",
    "2^{2^{2^{2^{5}}}}",
    "2**2**2**2**5",
    "(" * 10**6,
    "\\input{/etc/passwd}",
    "x" * 5000,
    "-" * 1999 + "x",
    "{" * 500 + "x" + "}" * 500,
    "lambda: 0",
    "9" * 100,
    "1e999999999",
    "\\" * 1999,
    "x'" * 900,
    "a" * 1999,
]
TIME_BOUND = 2.0  # seconds per call; generous: a robustness bound, not a benchmark


def _bounded(text: str) -> None:
    for parser in (parse_plain, parse_latex, parse, parse_derivation):
        start = time.perf_counter()
        try:
            node = parser(text)
            to_sympy(node) if not isinstance(node, Equation | tuple) else None
        except ParseError:
            pass
        elapsed = time.perf_counter() - start
        assert elapsed < TIME_BOUND, (parser.__name__, text[:40], elapsed)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_inputs_are_refused_quickly_without_executing(
    text: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    def forbidden(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("user text reached eval/exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sp, "sympify", forbidden)
    _bounded(text)
    assert not (tmp_path / "pwned").exists()
    import os

    assert not os.path.exists("/tmp/symprop_pwned")


ALPHABET = st.sampled_from(
    list("xyzWab01239.+-*/^_(){}[],='|@ ")
    + [r"\frac", r"\sum", r"\sigma", r"\odot", r"\left(", r"\right)", r"\|", r"\hat", "**", ".T"]
    # the notation added for hand derivations (issue 17)
    + [r"\nabla_", r"\partial", r"\begin{cases}", "&", r"\\", r"\mathbb{1}", "<", r"\le",
       r"\lim_{", r"\to", r"\Rightarrow", r"\begin{aligned}", "δ", "²", "ᵀ", "′", ";", "\\"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_fuzz_token_soup_only_raises_parse_error(text: str) -> None:
    _bounded(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_random_text_only_raises_parse_error(text: str) -> None:
    _bounded(text)


def test_a_dropped_parenthesised_label_does_not_turn_a_later_power_into_a_label() -> None:
    # The (2) of δ^{(2)} becomes label text and its node is dropped; the 2 of the power
    # (a^{(1)})^2 once reused its id and was read as a second superscript.
    equation = parse(r"x = (\delta^{(2)}) \odot (1 - (a^{(1)})^2)")
    power = equation.rhs.right.right
    assert power == BinOp("pow", Name("a", sup=("1",)), Number(Fraction(2)))
