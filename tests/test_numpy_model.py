"""The backend-neutral model of a training module agrees with brute-force calculus.

For every (output activation, loss) pair the spec accepts, the model's per-layer φ and φ',
the output's cost and δ^L are evaluated at random points to 30 digits and compared with
``sympy.diff`` of the registry's definitions, written here from scratch on plain symbols
(no derivation, no stabilising rewrite, no printer involved).
"""

from __future__ import annotations

import random
import warnings

import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1
from sympy.codegen.numpy_nodes import logaddexp
from test_numpy_support import HIDDEN, valid_pairs

from symprop import Dense, Network, derive
from symprop.codegen.model import Init, Target, TrainingModel, build_model
from symprop.codegen.stable import (
    BatchSum,
    ClipOutput,
    Expit,
    LogClipped,
    LogSoftmax,
    Softmax,
)
from symprop.core.calculus import ActivationApplied
from symprop.core.errors import SymPropWarning
from symprop.core.registry import (
    ACTIVATIONS,
    LOSSES,
    a,
    a_vec,
    i_idx,
    j_idx,
    y,
    y_vec,
    z,
    z_vec,
)

PAIRS = valid_pairs()
N_OUT = 3
DIGITS = 30


def _model(output: str, loss: str, hidden: str) -> TrainingModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymPropWarning)
        net = Network(inputs=2, layers=(Dense(3, hidden), Dense(N_OUT, output)), loss=loss)
    return build_model(derive(net))


def _phi(name: str, params: dict[str, float], x: sp.Expr) -> sp.Expr:
    """The registry's definition of an elementwise activation at ``x``, parameters bound."""
    act = ACTIVATIONS[name]
    bound = {p.symbol: sp.nsimplify(params[p.name], rational=True) for p in act.parameters}
    return act.definition.subs(bound).subs(z, x)


def _outputs(name: str, params: dict[str, float], zs: list[sp.Expr]) -> list[sp.Expr]:
    """The output activation of a layer with pre-activations ``zs``."""
    if name == "softmax":
        total = sum(sp.exp(v) for v in zs)
        return [sp.exp(v) / total for v in zs]
    return [_phi(name, params, v) for v in zs]


def _textbook(expr: sp.Expr, zs: list[sp.Expr]) -> sp.Expr:
    """``expr`` with every stable function written as its textbook formula."""
    total = sum(sp.exp(v) for v in zs)
    rules = [
        (Expit, lambda x: 1 / (1 + sp.exp(-x))),
        (LogClipped, sp.log),
        (ClipOutput, lambda x, low, high: x),
        (Softmax, lambda x: sp.exp(x) / total),
        (LogSoftmax, lambda x: x - sp.log(total)),
        (logaddexp, lambda x, w: sp.log(sp.exp(x) + sp.exp(w))),
        (expm1, lambda x: sp.exp(x) - 1),
    ]
    for cls, formula in rules:
        expr = expr.replace(lambda e, cls=cls: isinstance(e, cls), lambda e, f=formula: f(*e.args))
    return expr.replace(
        lambda e: isinstance(e, ActivationApplied),
        lambda e: ACTIVATIONS[e.activation_name].definition.subs(z, e.args[0]),
    )


def _at_unit(expr: sp.Expr, u: int, avals: list, yvals: list, zvals: list) -> sp.Expr:
    """``expr`` for output unit ``u``: sums over the units expanded, every unit-level
    symbol (plain, or indexed by i or j) replaced by that unit's value."""

    def values(k: int) -> dict:
        return {
            a: avals[k],
            y: yvals[k],
            z: zvals[k],
            **{
                vec[idx]: vals[k]
                for vec, vals in ((a_vec, avals), (y_vec, yvals), (z_vec, zvals))
                for idx in (i_idx, j_idx)
            },
        }

    expr = expr.replace(
        lambda e: isinstance(e, BatchSum),
        lambda e: sp.Add(*[e.args[0].xreplace(values(k)) for k in range(len(avals))]),
    )
    return _textbook(expr.xreplace(values(u)), zvals)


def _targets(loss: str, rng: random.Random) -> list[sp.Rational]:
    spec = LOSSES[loss]
    if spec.target_is_distribution:
        raw = [sp.Rational(rng.randint(1, 9)) for _ in range(N_OUT)]
        return [r / sum(raw) for r in raw]  # a distribution: δ = a − y needs Σ y = 1
    if spec.output_domain != sp.S.Reals:
        return [sp.Rational(rng.randint(1, 99), 100) for _ in range(N_OUT)]
    return [sp.Rational(rng.randint(-300, 300), 100) for _ in range(N_OUT)]


def _close(got: sp.Expr, want: sp.Expr) -> bool:
    g, w = sp.N(got, DIGITS), sp.N(want, DIGITS)
    return abs(g - w) <= sp.Float(10) ** -20 * (1 + abs(w))


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_output_cost_and_delta_agree_with_sympy_diff(pair: tuple[str, str]) -> None:
    output, loss = pair
    model = _model(output, loss, HIDDEN[PAIRS.index(pair) % len(HIDDEN)])
    params = dict(model.network.layers[-1].param_values())
    Z = sp.symbols(f"Z0:{N_OUT}")
    rng = random.Random(f"{output}-{loss}")
    for _ in range(3):
        Y = _targets(loss, rng)
        acts = _outputs(output, params, list(Z))
        # The whole per-sample cost, from the registry's loss term, differentiated by SymPy.
        total = sum(LOSSES[loss].term.subs({a: acts[k], y: Y[k]}) for k in range(N_OUT))
        point = {v: sp.Rational(rng.randint(-250, 250), 100) or sp.Rational(1, 7) for v in Z}
        zvals = [point[v] for v in Z]
        avals = [e.subs(point) for e in acts]
        for u in range(N_OUT):
            want_delta = sp.diff(total, Z[u]).subs(point)
            got_delta = _at_unit(model.output.delta, u, avals, Y, zvals)
            assert _close(got_delta, want_delta), (u, model.output.delta)
            # The cost is written in z where stabler, the rest of φ_L left as a.
            got_cost = _at_unit(model.output.cost, u, avals, Y, zvals)
            want_cost = LOSSES[loss].term.subs({a: avals[u], y: Y[u]})
            assert _close(got_cost, want_cost), model.output.cost
            got_a = _at_unit(model.output.activation, u, avals, Y, zvals)
            assert _close(got_a, avals[u])
            # What φ_L and the cost share, substituted back, changes neither.
            bound = dict(model.output.shared)
            through = model.output.shared_activation
            through = model.output.activation if through is None else through.xreplace(bound)
            assert _close(_at_unit(through, u, avals, Y, zvals), avals[u])
            shared_cost = model.output.shared_cost.xreplace(bound)
            assert _close(_at_unit(shared_cost, u, avals, Y, zvals), want_cost)


@pytest.mark.parametrize("hidden", HIDDEN)
def test_each_layer_phi_and_dphi_agree_with_sympy_diff(hidden: str) -> None:
    model = _model("identity", "mse", hidden)
    layer = model.layers[0]
    params = dict(layer.params)
    assert layer.elementwise and layer.activation == hidden
    rng = random.Random(hidden)
    for _ in range(6):
        x = sp.Rational(rng.randint(-400, 400), 100) or sp.Rational(1, 3)
        phi = _phi(hidden, params, z)
        want_dphi = sp.diff(phi, z).subs(z, x)
        got_phi = _textbook(layer.phi, [x]).subs(z, x)
        assert _close(got_phi, phi.subs(z, x))
        got_dphi = 1 if layer.dphi is None else _textbook(layer.dphi, [x])
        got_dphi = sp.sympify(got_dphi).subs({a: phi.subs(z, x), z: x})
        assert _close(got_dphi, want_dphi), layer.dphi
    # The output layer of this network is linear: φ' = 1, nothing to multiply by.
    assert model.layers[-1].dphi is None


@pytest.mark.parametrize("name", HIDDEN)
def test_initialisation_follows_the_activations_slopes(name: str) -> None:
    # He for rectifiers: φ(x)/x → 1 far right but not far left, measured at ±10^6.
    layer = _model("identity", "mse", name).layers[0]
    phi = _phi(name, dict(layer.params), z)
    far = sp.Integer(10) ** 6
    right = sp.N(phi.subs(z, far) / far, DIGITS)
    left = sp.N(phi.subs(z, -far) / -far, DIGITS)
    rectifier = abs(right - 1) < 1e-3 and abs(left - 1) > 1e-3
    assert layer.init is (Init.HE if rectifier else Init.GLOROT)


def test_model_data_follow_the_network() -> None:
    model = _model("softmax", "cross_entropy", "relu")
    assert model.widths == (2, 3, N_OUT) and model.depth == 2
    assert [(layer.fan_in, layer.width) for layer in model.layers] == [(2, 3), (3, N_OUT)]
    assert model.target is Target.CLASS and model.output.canonical
    assert not model.layers[-1].elementwise and model.layers[-1].dphi_proven is None
    assert model.n_params == 2 * 3 + 3 + 3 * N_OUT + N_OUT
    assert not model.has_l2
    # Softmax with cross-entropy shares the log-softmax: a^L = exp(log_softmax2).
    assert [str(sym) for sym, _ in model.output.shared] == ["log_softmax2"]
    assert model.output.shared_activation == sp.exp(model.output.shared[0][0])
