"""Each notation profile follows its lecture notes: the document's key formulas are compared
with the formulas as the notes print them (written out here, in LaTeX, by hand).

Nielsen: *Neural Networks and Deep Learning*, ch. 2, and Lehre's lecture notes on
backpropagation (the input is layer 1, a^1 = x, "for l = 2, …, L", BP1–BP4).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp

from symprop import derive
from symprop.core.notation import get_profile
from symprop.core.spec import load_spec
from symprop.documents.checked import checked
from symprop.documents.emit import to_latex, to_markdown

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def lehre():
    """The lecture's own example: a sigmoid network for regression, half squared error."""
    return checked(derive(load_spec(EXAMPLES / "lehre_regression.toml")))


@pytest.fixture(scope="module")
def nielsen_tex(lehre) -> str:
    return to_latex(lehre, "nielsen")


def test_nielsen_numbers_the_input_layer_1(nielsen_tex: str) -> None:
    # "1. Set the activation in the input layer a^1 = x"
    assert "a^{1} &= x" in nielsen_tex
    assert "a^{0}" not in nielsen_tex and "z^{1}" not in nielsen_tex
    # "2. for each l = 2 to L, feed forward z^l = w^l a^{l-1} + b^l, a^l = φ(z^l)"
    assert r"z^{l} &= w^{l} a^{l - 1} + b^{l}" in nielsen_tex
    assert r"z^{2} &= w^{2} a^{1} + b^{2}" in nielsen_tex
    assert r"z^{3} &= w^{3} a^{2} + b^{3}" in nielsen_tex
    assert r"for $l = 2, \dots, L$" in nielsen_tex
    # L counts the input layer: this network has three layers.
    assert r"$L = 3$" in nielsen_tex


def test_nielsen_bp1_to_bp4(nielsen_tex: str) -> None:
    # BP1: δ^L = ∇_a C ⊙ σ'(z^L) (the output layer here is a sigmoid layer)
    assert r"\delta^{L} = \nabla_{a} C \odot \sigma'(z^{L})" in nielsen_tex
    # BP2: δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ φ'(z^l), backwards for l = L − 1, …, 2
    assert r"\delta^{l} &= ((w^{l + 1})^{\top} \delta^{l + 1}) \odot \phi'(z^{l})" in nielsen_tex
    assert r"for $l = L - 1, \dots, 2$" in nielsen_tex
    # BP3: ∂C/∂b^l_j = δ^l_j; BP4: ∂C/∂w^l_{jk} = a^{l−1}_k δ^l_j
    assert r"\frac{\partial C}{\partial b^{l}_{j}}" in nielsen_tex
    assert r"\frac{\partial C}{\partial w^{l}_{jk}}" in nielsen_tex
    assert r"&= a^{l - 1}_{k} \delta^{l}_{j}" in nielsen_tex
    # The concrete output layer is layer 3.
    assert r"\delta^{3} &= " in nielsen_tex
    # Learning rate η, as in the book.
    assert r"w^{l} &\leftarrow w^{l} - \eta" in nielsen_tex


def test_nielsen_weight_decay_relation_is_stated_and_right(nielsen_tex: str) -> None:
    # The book: C = C_0 + λ'/(2n) Σ_w w², so ∂C/∂w = ∂C_0/∂w + (λ'/n) w, with n the size
    # of the training set. The document keeps J = C + λ Σ ‖w^l‖² and states λ = λ'/(2n).
    assert r"\lambda = \frac{\lambda'}{2 n}" in nielsen_tex
    relation = get_profile("nielsen").decay
    assert relation is not None
    book_lambda, n_train, w = sp.symbols("lambda' n w", positive=True)
    ours = sp.diff(relation.subs({sp.Symbol("lambda'", positive=True): book_lambda}) * w**2, w)
    assert sp.simplify(ours - book_lambda / n_train * w) == 0


def test_nielsen_maps_its_layers_to_the_module_names(nielsen_tex: str) -> None:
    # w^2, b^2 (Nielsen) are the generated module's W1, b1.
    assert r"$w^{2}$ and $b^{2}$ are \texttt{W1} and \texttt{b1}" in nielsen_tex


def test_no_document_names_a_seed(lehre) -> None:
    for profile in ("nielsen", "goodfellow", "ng"):
        assert "seed" not in to_markdown(lehre, profile).lower()
        assert "seed" not in to_latex(lehre, profile).lower()
