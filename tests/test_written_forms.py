"""Written forms of the output δ: signs of binomials paired as by hand, no link that only
reorders signs, and the same form in the terminal, the documents and the matrix form."""

from __future__ import annotations

import itertools
import random
import re

import pytest
import sympy as sp
from test_core_derivation import PAIRS  # every (output activation, loss) pair accepted
from test_steps import _flat

from symprop import ACTIVATIONS, Dense, Network, derive
from symprop.core.calculus import derive_output_delta, expand_activations
from symprop.core.registry import a_vec, j_idx, y_vec, z_vec
from symprop.parsing.building import to_sympy
from symprop.parsing.parser import parse_latex
from symprop.printers.latex import latex
from symprop.printers.unicode import unicode
from symprop.printers.written import paired_signs, written_product


def _network(act: str, loss: str) -> Network:
    # Two layers, so the output layer is 2 and its superscript reads alike in both printers.
    return Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, act)], loss=loss)


def _same_layout(text: str, printer: str) -> str:
    """:func:`test_steps._flat`, with cases laid out as the terminal writes them, and names
    spelled longest first (LReLU holds ReLU) and Greek letters as the terminal has them."""
    spellings = [act.latex if printer == "latex" else act.unicode for act in ACTIVATIONS.values()]
    order = sorted(range(len(spellings)), key=lambda n: -len(spellings[n]))
    for n in order:
        # A token no spelling holds, so a shorter name cannot match inside it afterwards.
        text = text.replace(spellings[n], f"§{n}§")
    flat = _flat(text, printer)
    if printer == "latex":
        flat = flat.replace(r"\alpha", "α")
        for spelled, plain in (
            (r"\begincases", ""),
            (r"\endcases", ""),
            (r"&\textif", "if"),
            (r"&\textotherwise", "otherwise"),
            ("\\\\", ";"),
        ):
            flat = flat.replace(spelled, plain)
    return flat


def _signs_only(text: str) -> str:
    """A printed formula with its signs, brackets and order dropped: two links that differ
    only in where the minus signs sit (and in factor order) give the same string."""
    return "".join(sorted(re.sub(r"[\s()+−\-]", "", text)))


# --- the case that started it ----------------------------------------------------------------


def test_the_regression_output_delta_reads_as_a_lecturer_writes_it() -> None:
    d = derive(_network("sigmoid", "half_sse"))
    index = d.step("delta.output.index").chain
    assert unicode(index[-1][0]) == "(a²ⱼ − yⱼ) a²ⱼ (1 − a²ⱼ)"
    # Substituting σ' is labelled by what it is, not "by the chain rule".
    assert index[-1][1].text == "the derivative of  written in its output, , since "
    matrix = d.step("delta.output.matrix").chain[-1][0]
    assert unicode(matrix) == "(a² − y) ⊙ a² ⊙ (1 − a²)"
    assert latex(matrix).count("-") == 2 and r"\left(-" not in latex(matrix)
    # The documents' Nielsen profile numbers the input layer 1: the terminal's a² (the
    # generated module's numbering) is the document's a³.
    assert latex(matrix).startswith(r"\left(a^{3} - y\right) \odot a^{3} \odot")


def test_a_pair_of_negated_binomials_is_flipped_and_proven_equal() -> None:
    a, y = sp.symbols("a y", real=True)
    raw = sp.Mul(a, y - a, a - 1, evaluate=False)
    written = paired_signs(raw)
    assert unicode(written) == "(a − y) a (1 − a)"
    assert sp.expand(written - raw) == 0
    # One binomial alone keeps its sign: negating it would change the product.
    assert paired_signs(sp.Mul(a, y - a, evaluate=False)) == sp.Mul(a, y - a, evaluate=False)
    # A pair across a quotient: (−a + y)/(a (a − 1)) is (a − y)/(a (1 − a)).
    quotient = (y - a) / (a * (a - 1))
    assert unicode(paired_signs(quotient)) == "(a − y)/(a (1 − a))"
    # A sum of quotients (a loss derivative as differentiated) keeps its signs.
    dloss = (1 - y) / (1 - a) - y / a
    assert paired_signs(sp.Mul(a, 1 - a, dloss, evaluate=False)) == sp.Mul(
        a, 1 - a, dloss, evaluate=False
    )


# --- every pair the validator accepts ----------------------------------------------------------


def _leading_minus(factors: list[sp.Basic]) -> int:
    """How many factors the terminal prints starting with a minus (binomials and numbers)."""
    bases = [f.as_base_exp()[0] for f in factors]
    return sum(
        unicode(b).startswith("−")
        for b in bases
        if isinstance(b, sp.Number) or (isinstance(b, sp.Add) and "/" not in unicode(b))
    )


@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_no_product_in_an_output_delta_keeps_a_minus_a_sign_pair_could_remove(
    act: str, loss: str
) -> None:
    # Brute force over every even set of negated factors (which leaves the product equal),
    # counting with the printer itself: the written form reaches the fewest leading minuses.
    expr = derive_output_delta(act, loss).expr
    for node in sp.preorder_traversal(expr):
        if not isinstance(node, sp.Mul):
            continue
        coeff, factors = node.as_coeff_mul()
        # Binomials: sums to an odd power, printed without a quotient (a sum of fractions is
        # a loss derivative as differentiated, and keeps its signs).
        odd = [
            n
            for n, f in enumerate(factors)
            if isinstance(f.as_base_exp()[0], sp.Add)
            and f.as_base_exp()[1] % 2 == 1
            and "/" not in unicode(f.as_base_exp()[0])
        ]
        best = _leading_minus([coeff, *factors])
        for size in range(2, len(odd) + 1, 2):
            for chosen in itertools.combinations(odd, size):
                flipped = [
                    sp.Pow(-f.as_base_exp()[0], f.as_base_exp()[1], evaluate=False)
                    if n in chosen
                    else f
                    for n, f in enumerate(factors)
                ]
                best = min(best, _leading_minus([coeff, *flipped]))
        written = written_product(node)
        shown = sp.Mul.make_args(written) if isinstance(written, sp.Mul) else (written,)
        assert _leading_minus(list(shown)) <= best, unicode(node)


@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_the_data_term_reads_a_minus_y_wherever_a_pair_allows(act: str, loss: str) -> None:
    d = derive(_network(act, loss))
    index = unicode(d.step("delta.output.index").chain[-1][0])
    matrix = unicode(d.step("delta.output.matrix").chain[-1][0])
    if ACTIVATIONS[act].elementwise:
        assert "−a²ⱼ + yⱼ" not in index
        assert "−a² + y" not in matrix
    # The data term leads (after a number), as in the chain rule's (a − y) φ'(z).
    for text, data in ((index, "(a²ⱼ − yⱼ)"), (matrix, "(a² − y)")):
        if data in text and "{" not in text:
            assert text.lstrip("0123456789 ").startswith(data), text


@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_terminal_and_latex_print_every_output_delta_link_alike(act: str, loss: str) -> None:
    d = derive(_network(act, loss))
    for expr, _ in d.step("delta.output.index").chain:
        if any(type(e).__name__ == "ScalarPartial" for e in sp.preorder_traversal(expr)):
            continue  # ∂C/∂a against \frac{\partial C}{\partial a}: laid out differently
        assert _layer_free(_same_layout(unicode(expr), "unicode")) == _layer_free(
            _same_layout(latex(expr), "latex")
        )
    od = derive_output_delta(act, loss)
    assert _same_layout(unicode(od.expr), "unicode") == _same_layout(latex(od.expr), "latex")


def _layer_free(layout: str) -> str:
    """A layout with its layer labels dropped: the terminal prints the generated module's
    numbering (input layer 0), the documents' Nielsen profile the book's (input layer 1);
    what must agree is the signs, brackets and order."""
    return re.sub(r"\^\d+", "^", layout)


@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_no_chain_ends_with_a_link_that_only_moves_signs(act: str, loss: str) -> None:
    chain = derive(_network(act, loss)).step("delta.output.index").chain
    last, previous = unicode(chain[-1][0]), unicode(chain[-2][0])
    assert _signs_only(last) != _signs_only(previous), (previous, last)


@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_the_matrix_form_has_the_brackets_of_the_final_index_form(act: str, loss: str) -> None:
    if not ACTIVATIONS[act].elementwise or derive_output_delta(act, loss).expr.has(sp.Piecewise):
        pytest.skip("written as a sum over units or by cases, not as a product of brackets")
    d = derive(_network(act, loss))
    index = unicode(d.step("delta.output.index").chain[-1][0]).replace("ⱼ", "")
    matrix = unicode(d.step("delta.output.matrix").chain[-1][0])
    assert sorted(re.findall(r"\([^()]*\)", index)) == sorted(re.findall(r"\([^()]*\)", matrix))


def _names(expr: sp.Basic) -> sp.Basic:
    """The derivation's indexed quantities as the plain symbols a parsed formula has."""
    return expand_activations(expr).xreplace(
        {
            a_vec[j_idx]: sp.Symbol("a_j", real=True),
            y_vec[j_idx]: sp.Symbol("y_j", real=True),
            z_vec[j_idx]: sp.Symbol("z_j", real=True),
        }
    )


@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_the_printed_output_delta_evaluates_to_the_derivations(act: str, loss: str) -> None:
    od = derive_output_delta(act, loss)
    if od.expr.has(sp.Piecewise) or od.expr.has(sp.Sum):
        pytest.skip("cases and sums over units are not read back by the claim parser")
    parsed = to_sympy(parse_latex(latex(od.expr)))
    parsed = parsed.replace(
        lambda e: isinstance(e, sp.Function) and e.func.__name__ in ("sigma", "sigmoid"),
        lambda e: 1 / (1 + sp.exp(-e.args[0])),
    )
    derived = _names(od.expr)
    rng = random.Random(f"{act}-{loss}")
    for _ in range(5):
        point = {
            s: sp.Rational(rng.randint(5, 95), 100)
            for s in parsed.free_symbols | derived.free_symbols
        }
        got, want = sp.N(parsed.subs(point), 30), sp.N(derived.subs(point), 30)
        assert abs(got - want) <= sp.Float("1e-25") * (1 + abs(want)), (latex(od.expr), point)
