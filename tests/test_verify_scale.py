"""Tests of verify at the spec's real sizes: the model's loss and penalty hooks, the spec's
widths as the widths checked, per-point evaluation of large networks, numeric claims judged
to the precision they show, and bounded time and memory.

Every expected verdict is computed independently of the verifier: SymPy written out here
(``sympy.diff`` of the cost the test builds itself), or mpmath on the claim's numbers.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import mpmath
import pytest
import sympy as sp
from click.testing import CliRunner

from symprop.cli.main import cli
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.spec import Dense, Network, load_spec
from symprop.verify import Setting, check, pointwise, verify_claim
from symprop.verify import tape as tape_module
from symprop.verify.errors import VerifyError
from symprop.verify.setting import small_model

# ---------------------------------------------------------------- the model's hooks


def _tiny() -> Network:
    return Network(inputs=1, layers=[Dense(1, "sigmoid"), Dense(1, "sigmoid")], loss="mse", l2=0.1)


def test_loss_term_replaces_the_registry_loss_in_every_cost_and_delta() -> None:
    """A loss written without the minus sign (a slide's error) is the cost the model uses:
    costs, brute-force δ^L and the objective all follow it."""
    term = y_scalar * sp.log(a_scalar) + (1 - y_scalar) * sp.log(1 - a_scalar)
    model = small_model(_tiny(), 1, term)
    view = model.insts[0]
    out, target = view.a[2][0], view.y[0]
    expected = term.xreplace({a_scalar: out, y_scalar: target})
    assert sp.simplify(model.cost() - expected) == 0
    # δ² = ∂C/∂z² written out here: substitute a fresh z for the layer's pre-activation.
    zeta = sp.Symbol("zeta", real=True)
    cost_z = term.xreplace({a_scalar: 1 / (1 + sp.exp(-zeta)), y_scalar: target})
    reference = sp.diff(cost_z, zeta).xreplace({zeta: view.z[2][0]})
    point = {s: sp.Rational(k + 2, 7) for k, s in enumerate(model.symbols())}
    assert abs(sp.N((model.delta(2)[0] - reference).xreplace(point), 30)) < 1e-25


def test_penalty_scaling_sets_the_factor_of_lambda_in_j() -> None:
    """λ/(2m) with a batch of 3: J = mean cost + λ/6 Σ w² (Ng's form); λ/2 and λ/m too."""
    net = _tiny()
    for key, factor in (
        ("lambda", 1),
        ("lambda/2", sp.Rational(1, 2)),
        ("lambda/m", sp.Rational(1, 3)),
        ("lambda/(2m)", sp.Rational(1, 6)),
    ):
        model = small_model(net, 3, None, key)
        weights = [model.insts[0].W[1][0], model.insts[0].W[2][0]]
        mean = sum(model.cost(s) for s in range(3)) / 3
        lam = sp.Symbol("lambda", positive=True)
        expected = mean + factor * lam * sum(w**2 for w in weights)
        assert sp.expand(model.objective() - expected) == 0, key


def test_hooks_refuse_bad_values() -> None:
    with pytest.raises(VerifyError, match="penalty"):
        small_model(_tiny(), 1, None, "lambda/3")
    with pytest.raises(VerifyError, match="loss formula"):
        small_model(_tiny(), 1, sp.Symbol("q") * a_scalar)


# ---------------------------------------------------------------- the spec's real widths

ROOT = Path(__file__).resolve().parents[1]


def _spec(name: str) -> Setting:
    return Setting.from_spec(load_spec(ROOT / "examples" / f"{name}.toml"), numbering="input0")


def test_a_unit_the_spec_does_not_have_is_never_true() -> None:
    """XOR's output has ONE unit: δ^(2)_2 does not exist (it passed on the width-2 copy)."""
    with pytest.raises(VerifyError, match="not defined"):
        verify_claim(r"\delta^{(2)}_2 = a^{(2)}_2 - y_2", _spec("xor"))
    # Its first unit does exist, and the claim is the textbook one (sigmoid + log loss).
    assert verify_claim(r"\delta^{(2)}_1 = a^{(2)}_1 - y_1", _spec("xor")).ok
    # A right side naming a unit that does not exist is ✗ with the reason, never ✓.
    verdict = verify_claim(
        r"\delta^{(1)}_1 = W^{(2)}_{21} \delta^{(2)}_2 \sigma'(z^{(1)}_1)", _spec("xor")
    )
    assert not verdict.ok and "not defined" in verdict.reason


def test_the_cli_refuses_a_unit_the_spec_does_not_have() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "verify",
            "--spec",
            str(ROOT / "examples" / "xor.toml"),
            "--numbering",
            "input0",
            "--claim",
            r"\delta^{(2)}_2 = a^{(2)}_2 - y_2",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "✓" not in result.output


def _lehre_by_hand() -> tuple[list[sp.Matrix], sp.Matrix, sp.Expr, sp.Matrix, sp.Matrix]:
    """Seed 000's 2-3-2 sigmoid network with half squared error, written out here with its
    own symbols: (weights, output target, cost in fresh z^1, z^1 fresh, z^1 computed)."""
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    y = sp.Matrix(sp.symbols("y1:3", real=True))
    w1 = sp.Matrix(3, 2, lambda r, c: sp.Symbol(f"p{r}{c}", real=True))
    b1 = sp.Matrix(sp.symbols("c1:4", real=True))
    w2 = sp.Matrix(2, 3, lambda r, c: sp.Symbol(f"q{r}{c}", real=True))
    b2 = sp.Matrix(sp.symbols("d1:3", real=True))
    zeta = sp.Matrix(sp.symbols("zeta1:4", real=True))
    sig = lambda v: v.applyfunc(lambda e: 1 / (1 + sp.exp(-e)))  # noqa: E731
    out = sig(w2 * sig(zeta) + b2)
    cost = sum(((out[k] - y[k]) ** 2 for k in range(2)), sp.S.Zero) / 2
    return [w1, b1, w2, b2, x], y, cost, zeta, w1 * x + b1


def test_explicit_sums_run_over_the_real_ranges() -> None:
    """On 2-3-2 the hidden δ sums over BOTH output units: the sum is ✓, one term alone ✗.

    The truth of each form is decided here: δ^1 by ``sympy.diff`` of the hand-written cost
    at a random point, against each right-hand side written out by hand.
    """
    (w1, b1, w2, b2, x), y, cost, zeta, z1 = _lehre_by_hand()
    symbols = sorted(cost.free_symbols | z1.free_symbols - set(zeta), key=str)
    point = {s: sp.Rational(random.Random(3).randint(-900, 900), 1000) for s in symbols}
    point.update({s: sp.Rational(3 + k, 10) for k, s in enumerate(y)})
    z1v = z1.xreplace(point)
    at = {**point, **dict(zip(zeta, z1v, strict=True))}
    delta1 = [sp.diff(cost, zeta[j]).xreplace(at) for j in range(3)]
    z2 = (w2 * (z1v.applyfunc(lambda e: 1 / (1 + sp.exp(-e)))) + b2).xreplace(point)
    a2 = z2.applyfunc(lambda e: 1 / (1 + sp.exp(-e)))
    delta2 = [(a2[k] - y[k].xreplace(point)) * a2[k] * (1 - a2[k]) for k in range(2)]
    dsig = [sp.exp(-e) / (1 + sp.exp(-e)) ** 2 for e in z1v]
    full = [sum(w2[k, j].xreplace(point) * delta2[k] for k in range(2)) * dsig[j] for j in range(3)]
    one = [w2[0, j].xreplace(point) * delta2[0] * dsig[j] for j in range(3)]
    assert all(abs(sp.N(full[j] - delta1[j], 40)) < 1e-30 for j in range(3))
    assert any(abs(sp.N(one[j] - delta1[j], 40)) > 1e-6 for j in range(3))

    lehre = _spec("lehre_regression")
    assert verify_claim(
        r"\delta^{(1)}_j = \sum_k W^{(2)}_{kj} \delta^{(2)}_k \sigma'(z^{(1)}_j)", lehre
    ).ok
    verdict = verify_claim(
        r"\delta^{(1)}_j = W^{(2)}_{1j} \delta^{(2)}_1 \sigma'(z^{(1)}_j)", lehre
    )
    assert not verdict.ok and verdict.counterexample is not None


# ---------------------------------------------------------------- numeric claims, to the shown precision


def _rounds_to(value: mpmath.mpf, literal: str) -> bool:
    """Whether ``value`` rounds (half even) to ``literal`` at the literal's decimals: the
    decimal module's rounding, independent of the verifier's tolerance rule."""
    places = len(literal.split(".")[1])
    exact = Decimal(mpmath.nstr(value, 50, strip_zeros=False))
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN) == Decimal(literal)


@pytest.mark.parametrize("literal", ["0.7311", "0.7310", "0.731", "0.73", "0.7", "0.8", "0.73106"])
def test_a_numeric_claim_holds_when_the_exact_value_rounds_to_the_literal(literal: str) -> None:
    """σ(1) = 0.731058…: every literal it rounds to holds, every other one fails."""
    with mpmath.workdps(50):
        expected = _rounds_to(1 / (1 + mpmath.exp(-1)), literal)
    setting = Setting.single_unit("sigmoid", "binary_cross_entropy")
    verdict = verify_claim(rf"\sigma(1) = {literal}", setting)
    assert verdict.ok == expected, verdict.to_text()
    if verdict.ok:
        places = len(literal.split(".")[1])
        assert f"{places} decimal" in verdict.method  # the tolerance is said
    else:
        assert verdict.counterexample is not None


def test_negative_literals_and_literals_on_the_left() -> None:
    setting = Setting.single_unit("tanh", "half_sse")
    with mpmath.workdps(50):
        assert _rounds_to(-mpmath.tanh(1), "-0.7616")
        assert not _rounds_to(mpmath.tanh(1), "0.7615")
    assert verify_claim(r"-\tanh(1) = -0.7616", setting).ok
    assert not verify_claim(r"0.7615 = \tanh(1)", setting).ok


def test_a_numeric_claim_without_decimals_is_exact() -> None:
    """σ(0) = 1/2 exactly; σ(1) = 1/2 is false however coarse (no decimals shown)."""
    setting = Setting.single_unit("sigmoid", "binary_cross_entropy")
    assert verify_claim(r"\sigma(0) = \frac{1}{2}", setting).ok
    assert not verify_claim(r"\sigma(1) = 1", setting).ok


# ---------------------------------------------------------------- large networks, checked at points
#
# The truth of each claim is decided here, independently of the verifier: a forward pass
# written out with mpmath from z^l onward, and ∂C/∂z^l by central differences at 50 digits
# (error ~1e-30), compared with each right-hand side computed by hand from the same values.


def _central(f, x: list, k: int, h: mpmath.mpf) -> mpmath.mpf:  # noqa: ANN001
    up, down = list(x), list(x)
    up[k] += h
    down[k] -= h
    return (f(up) - f(down)) / (2 * h)


def _rand(rng: random.Random, scale: int = 1) -> mpmath.mpf:
    return mpmath.mpf(rng.choice([-1, 1]) * rng.randint(100, 1500)) / (1000 * scale)


def test_digits_at_real_widths_softmax_output_and_relu_recurrence() -> None:
    """digits (64-128-64-10, ReLU, softmax, cross-entropy) at its real widths:
    δ^L = a^L − y and the ReLU recurrence hold; y − a^L and the recurrence without φ' fail,
    with a counterexample. Truth decided on the digits architecture from z^2 on."""
    rng = random.Random(7)
    with mpmath.workdps(50):
        h = mpmath.mpf(10) ** -20
        w3 = [[_rand(rng, 64) for _ in range(64)] for _ in range(10)]
        b3 = [_rand(rng) for _ in range(10)]
        y = [mpmath.mpf(rng.randint(50, 950)) for _ in range(10)]
        y = [v / sum(y) for v in y]
        z2 = [_rand(rng) for _ in range(64)]

        def softmax(z: list) -> list:
            e = [mpmath.exp(v) for v in z]
            return [v / sum(e) for v in e]

        def cost_z3(z3: list) -> mpmath.mpf:
            return -sum(yk * mpmath.log(ak) for yk, ak in zip(y, softmax(z3), strict=True))

        def z3_of(z2v: list) -> list:
            a2 = [max(v, 0) for v in z2v]
            return [
                sum(w * a for w, a in zip(row, a2, strict=True)) + b
                for row, b in zip(w3, b3, strict=True)
            ]

        z3 = z3_of(z2)
        a3 = softmax(z3)
        delta3 = [_central(cost_z3, z3, k, h) for k in range(10)]
        assert max(abs(d - (a - t)) for d, a, t in zip(delta3, a3, y, strict=True)) < 1e-25
        assert max(abs(d - (t - a)) for d, a, t in zip(delta3, a3, y, strict=True)) > 1e-3
        delta2 = [_central(lambda z: cost_z3(z3_of(z)), z2, j, h) for j in range(64)]
        back = [sum(w3[k][j] * delta3[k] for k in range(10)) for j in range(64)]
        relu_prime = [1 if v > 0 else 0 for v in z2]
        assert max(abs(d - b * r) for d, b, r in zip(delta2, back, relu_prime, strict=True)) < 1e-25
        assert max(abs(d - b) for d, b in zip(delta2, back, strict=True)) > 1e-6

    digits = _spec("digits")
    assert verify_claim(r"\delta^L = a^L - y", digits).ok
    wrong = verify_claim(r"\delta^L = y - a^L", digits)
    assert not wrong.ok and wrong.counterexample is not None
    assert any(name == "weights and biases" for name, _ in wrong.counterexample.values)
    assert verify_claim(
        r"\delta^{(2)} = ((W^{(3)})^T \delta^{(3)}) \odot \phi'(z^{(2)})", digits
    ).ok
    missing = verify_claim(r"\delta^{(2)} = (W^{(3)})^T \delta^{(3)}", digits)
    assert not missing.ok and missing.counterexample is not None


def _deep() -> Network:
    """Eight tanh layers (3-4-4-4-4-4-4-4-2) with half squared error: checked at points."""
    return Network(inputs=3, layers=[Dense(4, "tanh")] * 7 + [Dense(2, "tanh")], loss="half_sse")


def test_an_eight_layer_network_is_checked_and_its_mutations_fail() -> None:
    """Eight layers (refused before: at most 6): δ^L, the recurrence at every l, ∂C/∂W^l
    hold; W for Wᵀ (square 4×4 layers) and a missing φ' fail with a counterexample. Truth
    decided on the same architecture from z^6 on."""
    rng = random.Random(11)
    with mpmath.workdps(50):
        h = mpmath.mpf(10) ** -20
        w7 = [[_rand(rng, 4) for _ in range(4)] for _ in range(4)]
        w8 = [[_rand(rng, 4) for _ in range(4)] for _ in range(2)]
        y = [mpmath.mpf(rng.randint(50, 950)) / 1000 for _ in range(2)]
        z6 = [_rand(rng) for _ in range(4)]

        def layer(w: list, z: list) -> list:
            return [sum(wr * mpmath.tanh(v) for wr, v in zip(row, z, strict=True)) for row in w]

        def cost(z6v: list) -> mpmath.mpf:
            out = [mpmath.tanh(v) for v in layer(w8, layer(w7, z6v))]
            return sum((o - t) ** 2 for o, t in zip(out, y, strict=True)) / 2

        def cost7(z7v: list) -> mpmath.mpf:
            out = [mpmath.tanh(v) for v in layer(w8, z7v)]
            return sum((o - t) ** 2 for o, t in zip(out, y, strict=True)) / 2

        z7 = layer(w7, z6)
        delta6 = [_central(cost, z6, j, h) for j in range(4)]
        delta7 = [_central(cost7, z7, j, h) for j in range(4)]
        sech2 = [1 - mpmath.tanh(v) ** 2 for v in z6]
        right = [sum(w7[k][j] * delta7[k] for k in range(4)) * sech2[j] for j in range(4)]
        transposed = [sum(w7[j][k] * delta7[k] for k in range(4)) * sech2[j] for j in range(4)]
        assert max(abs(a - b) for a, b in zip(delta6, right, strict=True)) < 1e-25
        assert max(abs(a - b) for a, b in zip(delta6, transposed, strict=True)) > 1e-6

    deep = Setting.from_spec(_deep())
    for claim in (
        r"\delta^L = (a^L - y) \odot \tanh'(z^L)",
        r"\delta^l = ((W^{l+1})^T \delta^{l+1}) \odot \tanh'(z^l)",
        r"\frac{\partial C}{\partial W^l} = \delta^l (a^{l-1})^T",
    ):
        verdict = verify_claim(claim, deep)
        assert verdict.ok, verdict.to_text()
        assert verdict.method.startswith("numeric")
    for claim in (
        r"\delta^l = (W^{l+1} \delta^{l+1}) \odot \tanh'(z^l)",
        r"\delta^l = (W^{l+1})^T \delta^{l+1}",
    ):
        verdict = verify_claim(claim, deep)
        assert not verdict.ok and (verdict.counterexample is not None or verdict.reason)


def test_points_and_symbols_give_the_same_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two engines are independent (sympy.diff of the nested cost; the tape's adjoints):
    on Seed 000's network, every verdict and diagnosis agrees when the small network is
    forced through the points."""
    lehre = _spec("lehre_regression")
    claims = [
        r"\delta^L = (a^L - y) \odot \sigma'(z^L)",
        r"\delta^L = a^L - y",
        r"\delta^{(1)} = ((W^{(2)})^T \delta^{(2)}) \odot \sigma'(z^{(1)})",
        r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)}",
        r"\frac{\partial C}{\partial W^{(2)}} = \delta^{(2)} (a^{(1)})^T",
        r"\frac{\partial C}{\partial W^{(2)}} = a^{(1)} (\delta^{(2)})^T",
        r"\frac{\partial C}{\partial b^{(1)}} = \delta^{(1)}",
        r"\frac{\partial C}{\partial a^{(1)}} = (W^{(2)})^T \delta^{(2)}",
        r"\frac{\partial a^{(2)}_1}{\partial z^{(2)}_1} = a^{(2)}_1 (1 - a^{(2)}_1)",
        r"\frac{\partial z^{(2)}_j}{\partial a^{(1)}_k} = W^{(2)}_{jk}",
        r"\frac{\partial z^{(2)}_j}{\partial a^{(1)}_k} = W^{(2)}_{kj}",
    ]

    def verdicts() -> list[tuple[bool, str | None]]:
        out = []
        for claim in claims:
            try:
                v = verify_claim(claim, lehre)
                out.append((v.ok, v.diagnosis))
            except VerifyError as exc:
                out.append((False, f"refused: {exc}"))
        return out

    symbolic = verdicts()
    monkeypatch.setattr(check, "checked_at_points", lambda network, batch: True)
    assert verdicts() == symbolic
    assert [ok for ok, _ in symbolic] == [
        True,
        False,
        True,
        False,
        True,
        False,
        True,
        True,
        True,
        True,
        False,
    ]


def test_a_huge_network_is_refused_at_once_in_bounded_memory() -> None:
    """2 million weights: refused from the sizes alone, before any value is made."""
    huge = Network(
        inputs=1000, layers=[Dense(1000, "relu"), Dense(1000, "softmax")], loss="cross_entropy"
    )
    tracemalloc.start()
    start = time.monotonic()
    with pytest.raises(VerifyError, match="parameters"):
        verify_claim(r"\delta^L = a^L - y", Setting.from_spec(huge))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.monotonic() - start < 5
    assert peak < 50_000_000


def test_nine_layers_are_refused_with_the_bound() -> None:
    nine = Network(inputs=1, layers=[Dense(1, "tanh")] * 9, loss="half_sse")
    with pytest.raises(VerifyError, match="at most 8 layers"):
        Setting.from_spec(nine)


def test_the_tape_refuses_to_grow_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-point record is bounded: past MAX_NODES values it stops with an error."""
    monkeypatch.setattr(tape_module, "MAX_NODES", 500)
    pointwise.point_model.cache_clear()  # models recorded by earlier tests are not rebuilt
    with pytest.raises(VerifyError, match="too large"):
        verify_claim(r"\delta^L = a^L - y", _spec("digits"))
