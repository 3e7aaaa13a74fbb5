"""verify checks claims about a layer kind's gradients, written as the documents print them.

True claims are the textbook formulas (batch norm's compact input gradient, inverted
dropout's (m ⊙ δ)/(1 − p), a residual add passing δ to both inputs); wrong ones are the
usual slips (m − 1 for m, a missing 1/(1 − p), a missing term). The batch-norm formula the
tests call true is itself checked against PyTorch autograd, so no verdict rests on the
verifier alone.
"""

from __future__ import annotations

import pytest
import sympy as sp
from click.testing import CliRunner

import symprop.core.layers as lk
from symprop.cli.main import cli
from symprop.core.layers import Display, LayerKind, LayerParameter, Operand
from symprop.core.spec import BatchNorm, Dense, LayerNorm, Network, Residual
from symprop.verify import (
    Setting,
    VerifyError,
    verify_claim,
    verify_claims,
    verify_kind_claim,
)

D = r"\frac{\partial C}{\partial "
BN_DX = (
    r"\frac{\gamma_j}{m \sigma_j}\left(m \delta_{ij} - \sum_k \delta_{kj}"
    r" - \hat{x}_{ij} \sum_k \delta_{kj} \hat{x}_{kj}\right)"
)

CLAIMS = [
    ("batch_norm", D + r"\gamma_j} = \sum_i \delta_{ij} \hat{x}_{ij}", True),
    ("batch_norm", D + r"\gamma_j} = \sum_i \delta_{ij}", False),
    ("batch_norm", D + r"\beta_j} = \sum_i \delta_{ij}", True),
    ("batch_norm", D + r"x_{ij}} = " + BN_DX, True),
    ("batch_norm", D + r"x_{ij}} = " + BN_DX.replace(r"{m \sigma_j}", r"{(m-1) \sigma_j}"), False),
    ("batch_norm", D + r"x_{ij}} = " + BN_DX.replace(r" - \sum_k \delta_{kj}", ""), False),
    ("batch_norm", D + r"x_{ij}} = \frac{\gamma_j \delta_{ij}}{\sigma_j}", False),
    ("layer_norm", D + r"\gamma_j} = \delta_j \hat{x}_j", True),
    ("layer_norm", D + r"\beta_j} = \delta_j", True),
    ("dropout", D + r"x_j} = \frac{m_j \delta_j}{1 - p}", True),
    ("dropout", D + r"x_j} = m_j \delta_j", False),
    ("dropout", D + r"x_j} = \frac{(m_j - 1) \delta_j}{1 - p}", False),
    ("residual", D + r"x_j} = \delta_j", True),
    ("residual", D + r"x_j} = 2 \delta_j", False),
    ("dense", D + r"W_{jk}} = \delta_j a_k", True),
    ("dense", D + r"W_{jk}} = \delta_k a_j", False),
]


@pytest.mark.parametrize(("kind", "claim", "truth"), CLAIMS)
def test_kind_claims_get_the_right_verdict(kind: str, claim: str, truth: bool) -> None:
    verdict = verify_kind_claim(claim, kind)
    assert verdict.ok is truth
    if not truth:
        ce = verdict.counterexample
        assert verdict.reason or (ce is not None and ce.lhs_value != ce.rhs_value)
        # The kind's derived form is offered, and it is itself a true claim.
        assert verdict.correct is not None


def test_wrong_dropout_claim_is_shown_with_the_derived_form() -> None:
    verdict = verify_kind_claim(D + r"x_j} = m_j \delta_j", "dropout")
    text = verdict.to_text()
    assert "counterexample" in text and "1 - p" in text and "∂C/∂x_j" in text


def test_the_batch_norm_formula_called_true_agrees_with_pytorch() -> None:
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(3, generator=gen, dtype=torch.float64)
    beta = torch.randn(3, generator=gen, dtype=torch.float64)
    delta = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    eps = 1e-3
    y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    (y * delta).sum().backward()
    m = x.shape[0]
    mu = x.detach().mean(0)
    sigma = ((x.detach() - mu) ** 2).mean(0).add(eps).sqrt()
    xhat = (x.detach() - mu) / sigma
    formula = gamma / (m * sigma) * (m * delta - delta.sum(0) - xhat * (delta * xhat).sum(0))
    assert torch.allclose(formula, x.grad, atol=1e-12)


def test_a_kind_registered_at_run_time_is_understood() -> None:
    x = Operand("x", (lk.n,), "input")
    y = Operand("y", (lk.n,), "output")
    s = Operand("s", (lk.n,), "scale")
    table = {"x": Display("x", "x"), "y": Display("y", "y"), "s": Display("s", "s")}
    kind = LayerKind(
        name="cubed",
        description="y = s ⊙ x³",
        inputs=(x,),
        output=y,
        output_indices=(lk.j_f,),
        forward=s(lk.j_f) * x(lk.j_f) ** 3,
        parameters=(LayerParameter(s, "scale", "ones"),),
        display=tuple((p, tuple(table.items())) for p in lk.PROFILE_NAMES),
    )
    lk.register_layer_kind(kind)
    try:
        assert verify_kind_claim(D + r"x_j} = 3 s_j x_j^2 \delta_j", "cubed").ok
        assert not verify_kind_claim(D + r"x_j} = 3 s_j x_j \delta_j", "cubed").ok
        assert verify_kind_claim(D + r"s_j} = x_j^3 \delta_j", "cubed").ok
    finally:
        lk.unregister_layer_kind("cubed")


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        (D + r"q_j} = 1", "has gradients for x, γ, β"),
        (D + r"\gamma_j} = \sum_i \delta_{i}", "has 2 indices, got 1"),
        (D + r"\gamma_j} = \delta_{kj}", "neither free nor summed"),
        (D + r"\gamma_j} = z_j", "names no array"),
    ],
)
def test_unreadable_claims_are_one_line(claim: str, message: str) -> None:
    with pytest.raises(VerifyError, match=message):
        verify_kind_claim(claim, "batch_norm")


def test_cli_kind_claims() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", "--kind", "dropout", "--claim", CLAIMS[9][1]])
    assert ok.exit_code == 0 and "✓" in ok.output
    bad = runner.invoke(cli, ["verify", "--kind", "dropout", "--claim", CLAIMS[10][1]])
    assert bad.exit_code == 1 and "✗" in bad.output
    unknown = runner.invoke(cli, ["verify", "--kind", "nope", "--claim", "x = 1"])
    assert unknown.exit_code == 2 and "known layer kinds" in unknown.output


def test_a_network_of_other_kinds_is_refused_not_misread() -> None:
    # Its brute-force network would be a stack of affine layers: a different network.
    net = Network(inputs=2, layers=[Dense(2, "tanh"), BatchNorm(), Dense(1)], loss="half_sse")
    with pytest.raises(VerifyError, match="batch_norm layers.*--kind batch_norm"):
        Setting.from_spec(net)


# --- network-level claims: a residual network's fan-out --------------------------------------

RESNET = Network(
    inputs=2,
    layers=[
        Dense(2, "tanh", name="h1"),
        Dense(2, "tanh"),
        Residual("h1", "sigmoid"),
        Dense(1),
    ],
    loss="half_sse",
)
TANH1 = r"(1 - a^{(1)} \odot a^{(1)})"


@pytest.mark.parametrize(
    ("claim", "truth"),
    [
        # a¹ feeds layer 2 (the branch) and the residual add z³ = a¹ + a² (the skip): the
        # two contributions add.
        (r"\delta^{(1)} = ((W^{(2)})^T \delta^{(2)} + \delta^{(3)}) \odot " + TANH1, True),
        (r"\delta^{(1)} = " + TANH1 + r" \odot ((W^{(2)})^T \delta^{(2)})", False),
        (r"\delta^{(1)} = " + TANH1 + r" \odot \delta^{(3)}", False),
        # a² feeds only the add, whose local gradient is the identity.
        (r"\delta^{(2)} = \delta^{(3)} \odot (1 - a^{(2)} \odot a^{(2)})", True),
        (r"\delta^{(3)} = (W^{(4)})^T \delta^{(4)} \odot \sigma'(z^{(3)})", True),
    ],
)
def test_residual_fan_out_claims(claim: str, truth: bool) -> None:
    # The labels fit both numberings of a 4-layer network; these claims number the input 0.
    verdict = verify_claim(claim, Setting.from_spec(RESNET, numbering="input0"))
    assert verdict.ok is truth
    if not truth:
        assert verdict.counterexample is not None


def test_a_layer_without_weights_is_named() -> None:
    net = Network(inputs=2, layers=[Dense(2, "tanh"), LayerNorm(), Dense(1)], loss="half_sse")
    claim = r"\frac{\partial C}{\partial W^{(2)}} = \delta^{(2)} (a^{(1)})^T"
    verdict = verify_claims([claim], Setting.from_spec(net))[0]
    assert isinstance(verdict, VerifyError)
    assert "layer 2 is a layer_norm layer: it has no weight matrix W" in str(verdict)
    # The network is understood otherwise: its output δ is the brute-force one.
    setting = Setting.from_spec(net, numbering="input0")
    assert verify_claim(r"\delta^{(3)} = a^{(3)} - y", setting).ok


def test_kind_claims_are_about_c_and_refuse_j() -> None:
    # A kind's claims are about C, the batch's summed cost; J (the averaged, regularised
    # cost of a network) is refused in one line instead of being read as C.
    with pytest.raises(VerifyError, match="about C, the batch's summed cost") as info:
        verify_kind_claim(r"\frac{\partial J}{\partial b_j} = \delta_j", "dense")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kind", "listed"),
    [("dense", "has gradients for a, W, b"), ("residual", "has gradients for x, F(x) (written f)")],
)
def test_gradients_are_listed_by_display_name(kind: str, listed: str) -> None:
    with pytest.raises(VerifyError, match=listed.replace("(", r"\(").replace(")", r"\)")):
        verify_kind_claim(D + r"q_j} = 1", kind)


@pytest.mark.parametrize(
    ("rhs", "truth"), [(r"\delta_j", True), (r"2 \delta_j", False), (r"x_j \delta_j", False)]
)
def test_residual_branch_gradient_is_writable(rhs: str, truth: bool) -> None:
    # y = x + F(x): ∂(Σ δ_k y_k)/∂f_j = δ_j, by sympy.diff of the sum written out here.
    x1, x2, f1, f2, d1, d2 = sp.symbols("x1 x2 f1 f2 d1 d2")
    cost = d1 * (x1 + f1) + d2 * (x2 + f2)
    assert cost.diff(f1) == d1 and cost.diff(f2) == d2
    assert verify_kind_claim(D + r"f_j} = " + rhs, "residual").ok is truth


# Copied from the generated documents (nielsen): batch norm's batch size is printed n (the
# profile's batch-size symbol) and its feature count n_{l}; layer norm's feature count n_{l}.
BN_DX_DOC = (
    r"\frac{\partial C}{\partial x_{qp}} = \frac{\gamma_{p}}{n \sigma_{p}} \left(n \delta_{qp}"
    r" - \sum_{i=1}^{n} \delta_{ip} - \hat{x}_{qp} \sum_{i=1}^{n} \delta_{ip} \hat{x}_{ip}\right)"
)
LN_DX_DOC = (
    r"\frac{\partial C}{\partial x_{q}} = \frac{1}{n_{l} \sigma} \left(n_{l} \delta_{q} \gamma_{q}"
    r" - \sum_{j=1}^{n_{l}} \delta_{j} \gamma_{j} - \hat{x}_{q} \sum_{j=1}^{n_{l}} \delta_{j}"
    r" \gamma_{j} \hat{x}_{j}\right)"
)


def test_formulas_copied_from_the_documents_hold() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "generated"
    bn_text = (root / "digits_bn.tex").read_text(encoding="utf-8")
    ln_text = (root / "residual.tex").read_text(encoding="utf-8")
    assert BN_DX_DOC.split(" = ", 1)[1] in bn_text.replace(" \\\\\n", "")
    assert LN_DX_DOC.split(" = ", 1)[1] in ln_text.replace(" \\\\\n", "")
    assert verify_kind_claim(BN_DX_DOC, "batch_norm").ok
    assert verify_kind_claim(LN_DX_DOC, "layer_norm").ok
    # The same formulas with the sizes' roles swapped are wrong.
    assert not verify_kind_claim(BN_DX_DOC.replace(r"{n \sigma", r"{n_{l} \sigma"), "batch_norm").ok
    assert not verify_kind_claim(
        LN_DX_DOC.replace(r"\frac{1}{n_{l}", r"\frac{2}{n_{l}"), "layer_norm"
    ).ok


def test_the_layer_norm_document_formula_agrees_with_pytorch() -> None:
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(5, generator=gen, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(5, generator=gen, dtype=torch.float64)
    delta = torch.randn(5, generator=gen, dtype=torch.float64)
    eps = 1e-3
    y = torch.nn.functional.layer_norm(x, (5,), gamma, None, eps=eps)
    (y * delta).sum().backward()
    n_l = x.shape[0]
    mu = x.detach().mean()
    sigma = ((x.detach() - mu) ** 2).mean().add(eps).sqrt()
    xhat = (x.detach() - mu) / sigma
    dg = delta * gamma
    formula = (n_l * dg - dg.sum() - xhat * (dg * xhat).sum()) / (n_l * sigma)
    assert torch.allclose(formula, x.grad, atol=1e-12)


def test_a_size_read_two_ways_is_named_not_judged() -> None:
    # The kind's own n (batch norm's feature count) is n_{l} in the nielsen documents, whose n
    # is the batch size: a claim true only with n as the feature count is ambiguous, not ✗.
    claim = D + r"\beta_j} = \frac{n}{n} \sum_i \delta_{ij}"
    assert verify_kind_claim(claim, "batch_norm").ok
    with pytest.raises(VerifyError, match="ambiguous") as info:
        verify_kind_claim(
            D + r"\gamma_j} = \frac{n_{l}}{n} \sum_i \delta_{ij} \hat{x}_{ij}", "batch_norm"
        )
    assert "\n" not in str(info.value)


README_RESIDUAL = (
    r"\delta^{(1)} = ((W^{(2)})^T \delta^{(2)} + \delta^{(4)}) \odot (1 - a^{(1)} \odot a^{(1)})"
)


def test_the_readme_residual_claims_answer_within_the_time_limit() -> None:
    # Through the layer norm, the brute-force δ used to take longer than the 30 s limit.
    from pathlib import Path

    from symprop.core.spec import load_spec

    net = load_spec(Path(__file__).resolve().parent.parent / "examples" / "residual.toml")
    setting = Setting.from_spec(net)
    assert verify_claim(README_RESIDUAL, setting).ok
    wrong = verify_claim(README_RESIDUAL.replace(r" + \delta^{(4)}", ""), setting)
    assert not wrong.ok and wrong.counterexample is not None
    ce = wrong.counterexample
    assert ce.lhs_value != ce.rhs_value
