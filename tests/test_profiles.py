"""Each notation profile follows its lecture notes: the document's key formulas are compared
with the formulas as the notes print them (written out here, in LaTeX, by hand).

Nielsen: *Neural Networks and Deep Learning*, ch. 2, and Lehre's lecture notes on
backpropagation (the input is layer 1, a^1 = x, "for l = 2, …, L", BP1–BP4).
"""

from __future__ import annotations

import re
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
    # of the training set (N in the document). It keeps J = C + λ Σ ‖w^l‖², λ = λ'/(2N).
    assert r"\lambda = \frac{\lambda'}{2 N}" in nielsen_tex
    relation = get_profile("nielsen").decay
    assert relation is not None
    book_lambda, n_train, w = sp.symbols("lambda' N w", positive=True)
    ours = sp.diff(relation.subs({sp.Symbol("lambda'", positive=True): book_lambda}) * w**2, w)
    assert sp.simplify(ours - book_lambda / n_train * w) == 0


def test_nielsen_maps_its_layers_to_the_module_names(nielsen_tex: str) -> None:
    # w^2, b^2 (Nielsen) are the generated module's W1, b1.
    assert r"$w^{2}$ and $b^{2}$ are \texttt{W1} and \texttt{b1}" in nielsen_tex


def test_no_document_names_a_seed(lehre) -> None:
    # The lecture notes are named by their authors; "seed 000" means nothing to a student.
    # (A random generator's seed, as in init_params(seed), is another word.)
    for profile in ("nielsen", "goodfellow", "ng"):
        for text in (to_markdown(lehre, profile), to_latex(lehre, profile)):
            assert not re.search(r"seeds?\W{0,3}\d{3}", text.lower())


# --- Ng, Machine Learning: the lecture on backpropagation ---------------------------------


@pytest.fixture(scope="module")
def ng_cd():
    """The lecture's own example: a four-layer sigmoid classifier with regularisation."""
    return checked(derive(load_spec(EXAMPLES / "ng_classifier.toml")))


@pytest.fixture(scope="module")
def ng_tex(ng_cd) -> str:
    return to_latex(ng_cd, "ng")


def test_ng_bias_unit_and_bias_column(ng_tex: str) -> None:
    # z^{(l+1)} = Θ^{(l)} a^{(l)} with the bias unit a_0 = 1 and Θ^{(l)}_{j0} the bias.
    assert r"a^{(l)}_{0} = 1" in ng_tex
    assert r"z^{(l + 1)} = \Theta^{(l)} a^{(l)}" in ng_tex
    assert r"z^{(2)} &= \Theta^{(1)} a^{(1)}" in ng_tex
    assert r"z^{(l)}_{j} &= \Theta^{(l - 1)}_{j0} + \sum_{k=1}^{s_{l - 1}}" in ng_tex
    assert "b^{(" not in ng_tex
    # Layers 1..L, the input is layer 1 (L = 4 counts it).
    assert "a^{(1)} &= x" in ng_tex and "$L = 4$" in ng_tex


def test_ng_regulariser_and_letters(ng_tex: str) -> None:
    # λ/(2m) Σ_{l=1}^{L-1} Σ_i Σ_j (Θ_{ji}^{(l)})²: the sum starts at Θ^{(1)}, no Θ^{(0)}.
    assert r"\frac{\lambda}{2 m} \sum_{l=1}^{L - 1}" in ng_tex
    assert r"\Theta^{(0)}" not in ng_tex and r"\sum_{l=1}^{L}" not in ng_tex
    # λ and α where Ng has them, never 2λ or η.
    assert r"2 \lambda" not in ng_tex and r"\eta" not in ng_tex
    assert r"\alpha" in ng_tex


def test_ng_algorithm_accumulates_delta_and_uses_d(ng_tex: str) -> None:
    # Set Δ := 0; for i = 1..m: a^{(1)} := x^{(i)}, forward, δ^{(L)} = a^{(L)} − y^{(i)},
    # δ^{(l)} = (Θ^{(l)})ᵀ δ^{(l+1)} .* g'(z^{(l)}), Δ^{(l)} := Δ^{(l)} + δ^{(l+1)} (a^{(l)})ᵀ;
    # D; Θ := Θ − α D.
    algorithm = ng_tex[ng_tex.index(r"\section{The algorithm}") :]
    algorithm = algorithm[: algorithm.index(r"\section{Summary")]
    order = [
        r"\Delta^{(l)} \mathrel{:=} 0",
        r"a^{(1)} \mathrel{:=} {x}^{(i)}",
        r"z^{(l)} = \Theta^{(l - 1)} a^{(l - 1)}",
        r"\delta^{(L)} = a^{(L)} - {y}^{(i)}",
        r"\delta^{(l)} = ((\Theta^{(l)})^{\top} \delta^{(l + 1)}) \odot g'(z^{(l)})",
        r"\Delta^{(l)} \mathrel{:=} \Delta^{(l)} + \delta^{(l + 1)} (a^{(l)})^{\top}",
        r"D^{(l)}_{ij} = \begin{cases} \frac{1}{m} \Delta^{(l)}_{ij} + \frac{\lambda}{m} "
        r"\Theta^{(l)}_{ij} & \text{if } j \neq 0 \\ \frac{1}{m} \Delta^{(l)}_{ij} & "
        r"\text{otherwise} \end{cases}",
        r"\Theta^{(l)} \mathrel{:=} \Theta^{(l)} - \alpha D^{(l)}",
    ]
    at = [algorithm.find(piece) for piece in order]
    assert -1 not in at, [p for p, a in zip(order, at, strict=True) if a == -1]
    assert at == sorted(at)
    assert r"for $l = 1, \dots, L - 1$" in algorithm
    assert r"for $l = L - 1, \dots, 2$" in algorithm


def test_ng_printed_d_is_the_derivations_gradient(ng_cd) -> None:
    # The printed D (with Ng's λ) equals the derivation's ∂J/∂Θ (with the spec's λ_s) when
    # λ = 2 m λ_s, as the document states; checked at a point, entry by entry.
    from symprop.core import symbols as g
    from symprop.documents.profiles import ng_gradient

    d = ng_cd.derivation
    _, cases = ng_gradient(d, d.network)
    lam_s, m = g.scalar("lambda"), g.n_batch
    book = get_profile("ng").decay
    (lam_ng,) = book.free_symbols - {m}
    assert sp.simplify(book.subs(lam_ng, 2 * m * lam_s) - lam_s) == 0
    values = {lam_s: sp.Rational(3, 100), m: 8}
    delta_ij, theta_ij = sp.Rational(7, 5), sp.Rational(-2, 3)
    for col, regularised in ((2, True), (0, False)):
        printed = cases.subs(sp.Symbol("j", integer=True, nonnegative=True), col)
        printed = printed.xreplace({lam_s: book.subs(lam_ng, 2 * m * lam_s)})
        entries = {
            e: (delta_ij if "Delta" in str(e.base) else theta_ij) for e in printed.atoms(sp.Indexed)
        }
        got = printed.xreplace(entries).subs(values)
        # ∂J/∂Θ_ij = (1/m) Δ_ij + 2 λ_s Θ_ij for a weight; (1/m) Δ_i0 for a bias (unregularised).
        want = delta_ij / 8 + (2 * sp.Rational(3, 100) * theta_ij if regularised else 0)
        assert got == want


# --- Goodfellow, Bengio and Courville, Deep Learning, ch. 6 (Algorithms 6.3 and 6.4) -------


@pytest.fixture(scope="module")
def goodfellow_tex() -> str:
    cd = checked(derive(load_spec(EXAMPLES / "goodfellow_mlp.toml")))
    return to_latex(cd, "goodfellow")


def test_goodfellow_forward_as_algorithm_6_3(goodfellow_tex: str) -> None:
    # h^{(0)} = x; a^{(k)} = b^{(k)} + W^{(k)} h^{(k-1)}; h^{(k)} = f(a^{(k)}); J = L + λΩ
    assert "h^{(0)} &= x" in goodfellow_tex
    assert r"a^{(l)} &= b^{(l)} + W^{(l)} h^{(l - 1)}" in goodfellow_tex
    assert r"h^{(l)} &= f(a^{(l)})" in goodfellow_tex
    assert r"J = \mathcal{L} + \lambda \Omega{\left(\theta \right)}" in goodfellow_tex


def test_goodfellow_backward_as_algorithm_6_4(goodfellow_tex: str) -> None:
    algorithm = goodfellow_tex[goodfellow_tex.index(r"\section{The algorithm}") :]
    algorithm = algorithm[: algorithm.index(r"\section{Summary")]
    order = [
        r"g \leftarrow \nabla_{\hat{y}} J",  # g ← ∇_ŷ J
        r"for $l = L, \dots, 1$",
        r"g \leftarrow \nabla_{a^{(l)}} J = g \odot f'(a^{(l)})",
        r"\nabla_{b^{(l)}} J = g",  # biases are not regularised here: λ∇_b Ω = 0
        r"\nabla_{W^{(l)}} J = g (h^{(l - 1)})^{\top} + \lambda \nabla_{W^{(l)}} "
        r"\Omega{\left(\theta \right)} = g (h^{(l - 1)})^{\top} + 2 \lambda W^{(l)}",
        r"g \leftarrow \nabla_{h^{(l - 1)}} J = (W^{(l)})^{\top} g",
        r"W^{(l)} \leftarrow W^{(l)} - \epsilon \nabla_{W^{(l)}} J",  # ε, the learning rate
    ]
    at = [algorithm.find(piece) for piece in order]
    assert -1 not in at, [p for p, a in zip(order, at, strict=True) if a == -1]
    assert at == sorted(at)
    assert r"\eta" not in goodfellow_tex


def test_goodfellow_tells_a_sample_from_a_layer(goodfellow_tex: str) -> None:
    # (l) is the layer: sample i is x^{(i)}, and a layer's quantity of sample i is g^{(l)(i)};
    # the old sentence said a bracketed superscript marks the sample.
    assert "marks the quantity of sample" not in goodfellow_tex
    assert "{x}^{(i)}" in goodfellow_tex and "g^{(l)(i)}" in goodfellow_tex


def test_softmax_is_never_said_to_act_elementwise() -> None:
    from symprop.core.spec import Dense, Network

    net = Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(3, "softmax")], loss="cross_entropy")
    cd = checked(derive(net))
    for profile in ("nielsen", "goodfellow", "ng"):
        md = to_markdown(cd, profile)
        row = next(line for line in md.splitlines() if "Hadamard" in line)
        assert r"except $\operatorname{softmax}$" in row, row
        assert "couples the units" in row
    # A network without softmax says nothing about it.
    plain = to_markdown(
        checked(
            derive(Network(inputs=2, layers=[Dense(1, "sigmoid")], loss="binary_cross_entropy"))
        )
    )
    assert "except" not in next(ln for ln in plain.splitlines() if "Hadamard" in ln)


def test_the_penalty_sums_over_the_weights_each_book_has(lehre, ng_cd) -> None:
    # Nielsen's weights are w^2 … w^L (the input is layer 1), Ng's Θ^{(1)} … Θ^{(L-1)}: the
    # weight-decay sum runs over those, and its term for the weight being differentiated is
    # named with that weight's own label (Ng's ∂/∂Θ^{(l-1)} picks l' = l - 1).
    nielsen = to_latex(lehre, "nielsen")
    assert r"\sum_{l'=2}^{3} \left\lVert w^{l'} \right\rVert_{F}^{2}" in nielsen
    assert r"\sum_{l'=2}^{L}" in nielsen and "l' = l" in nielsen
    ng = to_latex(ng_cd, "ng")
    assert r"\sum_{l'=1}^{3} \left\lVert \Theta^{(l')} \right\rVert_{F}^{2}" in ng
    assert r"\sum_{l'=1}^{L - 1}" in ng and "l' = l - 1" in ng
    assert r"\Theta^{(l' + 1)}" not in ng and "w^{l' + 1}" not in nielsen
