"""Per-sample code on Python floats (``_sample_gradient``) for small networks.

It must compute what the array code computes — the same cost and gradient for one sample,
the same training trajectory — for every activation × loss pair it covers, and stay finite
where the array code does (pre-activations of ±1000).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from test_numpy_support import HIDDEN, build, perturbed_params, targets, valid_pairs

from symprop import Dense, Network
from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.numpy.unrolled import UNROLL_MAX_PARAMS
from symprop.core.registry import ACTIVATIONS

PAIRS = valid_pairs()
# cross_entropy on sigmoid outputs is doubtful (it warns) but accepted: it is tested too.
pytestmark = pytest.mark.filterwarnings("ignore::symprop.core.errors.SymPropWarning")


def _net(pair: tuple[str, str], hidden: str, l2: float = 0.0, biases: bool = False) -> Network:
    out, loss = pair
    n_out = 3 if out == "softmax" else 2

    def dense(width: int, name: str, alpha: float) -> Dense:
        return (
            Dense(width, name, alpha=alpha) if ACTIVATIONS[name].parameters else Dense(width, name)
        )

    return Network(
        inputs=3,
        layers=[dense(4, hidden, 0.2), dense(3, hidden, 0.1), dense(n_out, out, 0.3)],
        loss=loss,
        l2=l2,
        regularize_biases=biases,
    )


def _flat(m, params: dict[str, np.ndarray]) -> list[float]:
    return m._flatten(params, np.float64).tolist()


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_sample_gradient_equals_the_array_gradient(pair: tuple[str, str]) -> None:
    hidden = HIDDEN[PAIRS.index(pair) % len(HIDDEN)]
    net = _net(pair, hidden)
    m = build(net)
    if not ACTIVATIONS[pair[0]].elementwise:
        # A row-wise softmax has no per-unit float form: the module keeps array code only.
        assert m._sample_gradient is None
        return
    rng = np.random.default_rng(PAIRS.index(pair))
    params = perturbed_params(m, rng)
    for _ in range(3):
        x = rng.normal(0, 1.5, (1, 3))
        y = m._check_targets(targets(net, 1, rng), 1, np.float64)
        cost, grad = m._sample_gradient(_flat(m, params), x[0].tolist(), y[0].tolist())
        np.testing.assert_allclose(
            grad, _flat(m, m.gradients(params, x, y)), rtol=1e-10, atol=1e-13
        )
        np.testing.assert_allclose(cost, m.loss(params, x, y), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "pair", [p for p in PAIRS if ACTIVATIONS[p[0]].elementwise], ids=lambda p: f"{p[0]}-{p[1]}"
)
def test_sample_gradient_is_finite_at_pre_activations_of_1000(pair: tuple[str, str]) -> None:
    rng = np.random.default_rng(7)
    for hidden in HIDDEN:
        net = _net(pair, hidden)
        m = build(net)
        params = {k: np.sign(rng.standard_normal(v.shape)) for k, v in m.init_params().items()}
        params["W1"][...] = 1  # z1 = ±1000 exactly
        params["b3"][...] = 1000 * np.sign(rng.standard_normal(params["b3"].shape))
        x = 1000 * np.sign(rng.standard_normal(3))
        y = m._check_targets(targets(net, 1, rng), 1, np.float64)[0]
        cost, grad = m._sample_gradient(_flat(m, params), x.tolist(), y.tolist())
        assert np.isfinite(cost) and np.all(np.isfinite(grad)), hidden
        np.testing.assert_allclose(
            grad, _flat(m, m.gradients(params, x[None, :], y[None, :])), rtol=1e-9, atol=1e-12
        )


@pytest.mark.parametrize(
    ("optimizer", "momentum", "l2", "biases"),
    [("sgd", 0.0, 0.0, False), ("momentum", 0.9, 0.01, False), ("sgd", 0.0, 0.01, True)],
)
def test_per_sample_training_follows_the_array_code(
    optimizer: str, momentum: float, l2: float, biases: bool
) -> None:
    net = _net(("sigmoid", "binary_cross_entropy"), "tanh", l2=l2, biases=biases)
    m = build(net)
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 3))
    Y = targets(net, 40, rng)
    runs = []
    for unrolled in (True, False):
        trainer = m._Trainer(
            m.init_params(0),
            X,
            Y,
            learning_rate=0.1,
            batch_size=1,
            seed=3,
            optimizer=optimizer,
            momentum=momentum,
        )
        assert trainer.unrolled
        trainer.unrolled = unrolled
        history = [trainer.run_epoch() for _ in range(3)]
        runs.append((history, trainer.theta.copy(), trainer.velocity.copy(), trainer.steps))
    (h1, t1, v1, s1), (h2, t2, v2, s2) = runs
    np.testing.assert_allclose(h1, h2, rtol=1e-11)
    np.testing.assert_allclose(t1, t2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-13)
    assert s1 == s2 == 120
    assert not np.allclose(t1, m._flatten(m.init_params(0), np.float64)), "nothing was trained"


def test_which_runs_use_the_float_code() -> None:
    net = _net(("sigmoid", "binary_cross_entropy"), "relu")
    m64, m32 = build(net), build(net, "float32")
    X, Y = np.ones((4, 3)), np.ones((4, 2))
    kwargs = dict(learning_rate=0.1, seed=0, momentum=0.0)
    assert m64._Trainer(m64.init_params(), X, Y, batch_size=1, optimizer="sgd", **kwargs).unrolled
    # Mini-batches, Adam and float32 (Python floats would upcast) stay on the array code.
    assert not m64._Trainer(
        m64.init_params(), X, Y, batch_size=2, optimizer="sgd", **kwargs
    ).unrolled
    assert not m64._Trainer(
        m64.init_params(), X, Y, batch_size=1, optimizer="adam", **kwargs
    ).unrolled
    assert m32._sample_gradient is None
    # Beyond UNROLL_MAX_PARAMS parameters, no float code is generated at all.
    wide = Network(
        inputs=UNROLL_MAX_PARAMS, layers=[Dense(1, "sigmoid")], loss="binary_cross_entropy"
    )
    assert build(wide)._sample_gradient is None


def test_scalar_helpers_match_their_definitions_and_never_raise() -> None:
    env: dict[str, object] = {"math": math}
    for name in ("_expit1", "_logaddexp1", "_log_clipped1", "_clip_open1"):
        exec(HELPERS[name].source, env)
    x = sp.Symbol("x")
    for value in (-50.0, -3.5, -1e-3, 0.0, 2.0, 30.0):
        exact = {
            "_expit1": HELPERS["_expit1"].definition(x),
            "_logaddexp1": HELPERS["_logaddexp1"].definition(x),
        }
        want = {k: float(e.subs(x, sp.Float(value, 40)).evalf(40)) for k, e in exact.items()}
        assert math.isclose(env["_expit1"](value), want["_expit1"], rel_tol=1e-15)
        assert math.isclose(env["_logaddexp1"](0.0, value), want["_logaddexp1"], rel_tol=1e-15)
    # Extremes: no OverflowError, the limits are right.
    assert env["_expit1"](-1000.0) == 0.0 and env["_expit1"](1000.0) == 1.0
    assert env["_logaddexp1"](0.0, 1000.0) == 1000.0 and env["_logaddexp1"](0.0, -1000.0) == 0.0
    assert math.isfinite(env["_log_clipped1"](0.0))
    assert math.isclose(env["_log_clipped1"](0.25), math.log(0.25), rel_tol=1e-15)
    low, high = env["_clip_open1"](0.0, 0.0, 1.0), env["_clip_open1"](1.0, 0.0, 1.0)
    assert 0.0 < low < 1e-300 and 1.0 - 1e-15 < high < 1.0
    assert env["_clip_open1"](0.5, 0.0, 1.0) == 0.5
