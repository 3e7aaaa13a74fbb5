"""Claims of several equations: chains, implications, separated equations, aligned rows."""

from __future__ import annotations

import time

import pytest

from symprop.core.errors import ParseError
from symprop.parsing import (
    MAX_LINKS,
    Call,
    Derivation,
    Equation,
    Name,
    Transpose,
    parse_derivation,
    parse_latex,
    parse_plain,
)
from symprop.verify.claims import parse_claim

a, b, c, d = (Name(letter) for letter in "abcd")


def _sides(derivation: Derivation) -> list[tuple[object, object]]:
    return [(link.lhs, link.rhs) for link in derivation.links]


def test_one_equation_is_a_derivation_of_one_link() -> None:
    derivation, latex = parse_derivation(r"\delta^L = a^L - y")
    assert derivation.joins == () and latex
    assert derivation.links == (parse_latex(r"\delta^L = a^L - y"),)
    assert derivation.links[0].text == r"\delta^L = a^L - y"


def test_a_chain_shares_its_middle_expressions() -> None:
    derivation, latex = parse_derivation("a = b = c = d")
    assert not latex
    assert _sides(derivation) == [(a, b), (b, c), (c, d)]
    assert derivation.joins == ("chain", "chain")
    assert [link.text for link in derivation.links] == ["a = b", "b = c", "c = d"]


@pytest.mark.parametrize(
    "arrow", [r"\Rightarrow", r"\implies", "⇒", r"\Longrightarrow", r"\;\Rightarrow\;"]
)
def test_an_implication_joins_two_equations(arrow: str) -> None:
    derivation, _ = parse_derivation(f"a = b {arrow} c = d")
    assert _sides(derivation) == [(a, b), (c, d)]
    assert derivation.joins == ("implies",)


@pytest.mark.parametrize(
    "separator",
    [r",\quad", r",\qquad", r"\quad", ";", r"\quad\text{and}\quad", r"\text{ and }", ","],
)
def test_separated_equations_are_joined_by_and(separator: str) -> None:
    derivation, _ = parse_derivation(f"a = b{separator} c = d")
    assert _sides(derivation) == [(a, b), (c, d)]
    assert derivation.joins == ("and",)


def test_mixed_joins_keep_their_order() -> None:
    derivation, _ = parse_derivation(r"a = b = c \Rightarrow d = a,\quad b = c")
    assert _sides(derivation) == [(a, b), (b, c), (d, a), (b, c)]
    assert derivation.joins == ("chain", "implies", "and")


@pytest.mark.parametrize("env", ["aligned", "align*", "align", "split"])
def test_aligned_rows_continue_the_previous_chain(env: str) -> None:
    text = (
        rf"\begin{{{env}}} a &= b \label{{eq:one}} \\ &= c \nonumber \\ "
        rf"d &= a \tag{{2}} \\ \Rightarrow b &= c. \end{{{env}}}"
    )
    derivation, latex = parse_derivation(text)
    assert latex
    assert _sides(derivation) == [(a, b), (b, c), (d, a), (b, c)]
    assert derivation.joins == ("chain", "and", "implies")
    # A continued row's text names both its sides, without the layout marks.
    assert [link.text for link in derivation.links] == ["a = b", "b = c", "d = a", "b = c"]


def test_a_row_broken_inside_an_expression_is_one_expression() -> None:
    text = r"\begin{aligned} J &= a + b \\ &\quad + c \\ &= d \end{aligned}"
    derivation, _ = parse_derivation(text)
    assert derivation.links[0].rhs == parse_latex("a + b + c")
    assert derivation.links[1] == Equation(parse_latex("a + b + c"), d)
    assert derivation.joins == ("chain",)


@pytest.mark.parametrize("sign", [":=", r"\coloneqq", r"\equiv", r"\triangleq", "≔"])
def test_definition_signs_read_as_equals(sign: str) -> None:
    derivation, _ = parse_derivation(rf"\Delta^{{l}} {sign} \delta^{{l}}")
    assert _sides(derivation) == [(Name("Delta", sup=("l",)), Name("delta", sup=("l",)))]


def test_equals_inside_brackets_and_sum_limits_do_not_split() -> None:
    derivation, _ = parse_derivation(r"\sum_{k=1}^{n} x_k = y")
    assert len(derivation.links) == 1
    assert derivation.links[0].lhs.lower is not None


def test_trailing_punctuation_is_ignored() -> None:
    for text in ("a = b.", "a = b,", "a = b ;", r"a = b = c \, ."):
        derivation, _ = parse_derivation(text)
        assert derivation.links[0] == Equation(a, b)


def test_columns_point_into_the_whole_claim() -> None:
    text = r"a = b \Rightarrow c = \sigma(z"
    with pytest.raises(ParseError) as info:
        parse_derivation(text)
    assert info.value.text == text
    assert info.value.position == len(text)
    derivation, _ = parse_derivation("a = b = cd")
    assert derivation.links[1].rhs.pos == 8 and derivation.links[1].pos == 4


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a = = b", "side of an equation is missing"),
        ("= a", "side of an equation is missing"),
        ("a =", "ends too early"),
        ("a", "must be an equation"),
        ("a, b", "must be an equation"),
        ("a = b, c", "'c' is not an equation"),
        ("\\", "must be an equation"),
        ("a = b \\", "unexpected"),
        ("a = b\n\\", "unexpected"),
        (r"a = b \Rightarrow c", "'c' is not an equation"),
    ],
)
def test_malformed_chains_are_refused_with_one_line(text: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        parse_derivation(text)


def test_the_number_of_links_is_bounded() -> None:
    parse_derivation(" = ".join(["a"] * (MAX_LINKS + 1)))
    start = time.perf_counter()
    with pytest.raises(ParseError, match=f"at most {MAX_LINKS}"):
        parse_derivation(" = ".join(["a"] * (MAX_LINKS + 2)))
    with pytest.raises(ParseError, match="at most"):
        parse_derivation("a=" * 999 + "a")
    assert time.perf_counter() - start < 2.0


def test_plain_syntax_chains_and_fallback_to_latex() -> None:
    derivation, latex = parse_derivation("dC/dW2 = delta2 @ a1.T = d")
    assert not latex and derivation.links[0] == parse_plain("dC/dW2 = delta2 @ a1.T")
    # g(z)(1 - g(z)) has no backslash but needs the LaTeX reading (juxtaposition).
    derivation, latex = parse_derivation("y = g(z)(1 - g(z)) = c")
    assert latex and derivation.joins == ("chain",)


def test_parse_claim_normalises_every_link() -> None:
    derivation, latex = parse_claim("delta_j^l = d = yhat")
    assert not latex
    assert derivation.links[0].lhs == Name("delta", sub=("j",), sup=("l",))
    assert derivation.links[1].rhs == Name("y", decorations=("hat",))
    assert [link.text for link in derivation.links] == ["delta_j^l = d", "d = yhat"]


def test_cases_keep_their_own_rows_and_alignment() -> None:
    text = r"f = \begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}, \quad g = a"
    derivation, _ = parse_derivation(text)
    assert len(derivation.links) == 2 and derivation.joins == ("and",)
    assert derivation.links[1] == Equation(Name("g"), a)


def test_approximately_equal_reads_as_equals_for_worked_numbers() -> None:
    # \approx states a value to the precision shown, which Number.decimals carries.
    derivation, _ = parse_derivation(r"\sigma(1) \approx 0.7311")
    (link,) = derivation.links
    assert link.rhs.decimals == 4


def test_a_chain_over_cases_and_unicode() -> None:
    text = (
        r"σ'(z) = \begin{cases} 1 & z > 0 \\ 0 & \text{otherwise} \end{cases} = \mathbb{1}[z > 0]"
    )
    derivation, latex = parse_derivation(text)
    assert latex and derivation.joins == ("chain",)
    assert derivation.links[0].rhs == derivation.links[1].lhs
    assert derivation.links[1].text.endswith(r"\mathbb{1}[z > 0]")


# ---------------------------------------------------------------- layout as the seeds write it


def test_align_rows_with_two_equations_continue_the_first_column() -> None:
    # Seed 004: each row states a step and, in a second column, the definition it uses.
    text = r"\begin{aligned} a &= b & c &= d \\ &= e & f &= g \\ &= h \end{aligned}"
    derivation, _ = parse_derivation(text)
    sides = _sides(derivation)
    e, g, h = Name("e"), Name("g"), Name("h")
    assert sides == [(a, b), (c, d), (b, e), (Name("f"), g), (e, h)]
    assert derivation.joins == ("and", "chain", "and", "chain")
    # eqnarray's &=& only aligns.
    derivation, _ = parse_derivation(r"\begin{eqnarray} a &=& b \\ &=& c \end{eqnarray}")
    assert _sides(derivation) == [(a, b), (b, c)]


def test_one_equals_sign_split_over_two_rows() -> None:
    derivation, _ = parse_derivation(r"\begin{aligned} a &= \\ &= b \end{aligned}")
    assert _sides(derivation) == [(a, b)]


@pytest.mark.parametrize(
    "text",
    [
        r"\boxed{a = b}",
        r"a = b \quad (*)",
        r"a = b \quad (3)",
        r"a = b \qquad (2.1)",
        r"a = b \quad \text{(by the chain rule)}",
        r"a = b \quad \text{raw output}",
        r'a = b \quad \text{"raw output"}',
        r"a = b \quad \forall l, i, j",
        r"x_0: a = b",
        r"\rightarrow a = b",
        r"\Rightarrow a = b",
        r"a = b \rightarrow",
        "→ a = b",
        r"\begin{aligned} a &= b \label{x} \end{aligned}",
    ],
)
def test_annotations_around_an_equation_are_layout(text: str) -> None:
    derivation, _ = parse_derivation(text)
    assert _sides(derivation) == [(a, b)]


def test_a_keyword_text_is_not_an_annotation() -> None:
    # \text{cost}(x) is a function; \text{and} a separator; neither is dropped.
    derivation, _ = parse_derivation(r"c = \text{cost}(x) \quad\text{or}\quad a = b")
    assert derivation.links[0].rhs == Call(Name("cost"), (Name("x"),))
    assert derivation.joins == ("and",)


@pytest.mark.parametrize("sign", [r"\approx", r"\sim", r"\simeq", "≈"])
def test_approximate_signs_read_as_equals(sign: str) -> None:
    derivation, _ = parse_derivation(f"0.1476 {sign} 0.15 = 0.82 (1 - 0.82)")
    assert len(derivation.links) == 2 and derivation.joins == ("chain",)
    assert derivation.links[0].lhs.decimals == 4 and derivation.links[0].rhs.decimals == 2


def test_the_seeds_ng_vectorised_step_parses() -> None:
    # Seed 002, as printed: Octave's .* written \cdot *, the transpose \top on a label.
    derivation, _ = parse_claim(
        r"g'(\mathbf{z}^{(3)}) = \mathbf{a}^{(3)} \cdot * (1 - \mathbf{a}^{(3)})"
    )
    (link,) = derivation.links
    assert link.rhs.op == "hadamard"
    derivation, _ = parse_claim(
        r"\boldsymbol{\Delta}^{(l)} = \boldsymbol{\Delta}^{(l)} + \boldsymbol{\delta}^{(l+1)} \mathbf{a}^{(l)\top}"
    )
    (link,) = derivation.links
    assert link.rhs.right.right == Transpose(Name("a", sup=("l",)))


def test_a_decimal_comma_is_refused_not_split() -> None:
    # x = 0,5 = 1/2 would otherwise be read as x = 0 and 5 = 1/2.
    with pytest.raises(ParseError, match="decimals with a point"):
        parse_derivation("x = 0,5 = 1/2")
    derivation, _ = parse_derivation("x=2,y=3")
    assert _sides(derivation) == [(Name("x"), parse_plain("2")), (Name("y"), parse_plain("3"))]
    derivation, _ = parse_derivation(r"W_{1,1} = a")
    assert derivation.links[0].lhs == Name("W", sub=("1", "1"))


def test_remarks_inside_cases_are_layout_but_otherwise_stays() -> None:
    # Seed 000: the cases carry remarks on which layers they are about.
    text = (
        r"S = \begin{cases} a & \text{if } l = L \text{ (output layer)} \\ "
        r"b & \text{otherwise (hidden layers)} \end{cases}"
    )
    (link,) = parse_derivation(text)[0].links
    cases = link.rhs.cases
    assert cases[0] == (a, parse_latex("[l = L]").condition)
    assert cases[1] == (b, None)
