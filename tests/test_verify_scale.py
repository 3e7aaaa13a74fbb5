"""Tests of verify at the spec's real sizes: the model's loss and penalty hooks, the spec's
widths as the widths checked, per-point evaluation of large networks, numeric claims judged
to the precision they show, and bounded time and memory.

Every expected verdict is computed independently of the verifier: SymPy written out here
(``sympy.diff`` of the cost the test builds itself), or mpmath on the claim's numbers.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import sympy as sp
from click.testing import CliRunner

from symprop.cli.main import cli
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.spec import Dense, Network, load_spec
from symprop.verify import Setting, verify_claim
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
