"""Tests of verify at the spec's real sizes: the model's loss and penalty hooks, the spec's
widths as the widths checked, per-point evaluation of large networks, numeric claims judged
to the precision they show, and bounded time and memory.

Every expected verdict is computed independently of the verifier: SymPy written out here
(``sympy.diff`` of the cost the test builds itself), or mpmath on the claim's numbers.
"""

from __future__ import annotations

import pytest
import sympy as sp

from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.spec import Dense, Network
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
