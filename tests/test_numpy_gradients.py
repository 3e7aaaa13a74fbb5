"""Generated gradients vs central differences and torch.autograd; stability at ±1000."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_numpy_support import (
    HIDDEN,
    build,
    perturbed_params,
    targets,
    torch_objective,
    valid_pairs,
)

from symprop import Dense, Network
from symprop.core.registry import ACTIVATIONS

PAIRS = valid_pairs()
# cross_entropy on sigmoid outputs is doubtful (it warns) but accepted: it is tested too.
pytestmark = pytest.mark.filterwarnings("ignore::symprop.core.errors.SymPropWarning")

try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:  # pragma: no cover - torch is a peer, not a dependency
    HAVE_TORCH = False


def _network(
    pair: tuple[str, str], hidden: list[tuple[int, str]], n_in: int, l2: float, biases: bool
) -> Network:
    act, loss = pair
    n_out = 3 if act == "softmax" else 2
    layers = [
        Dense(w, h, alpha=0.2) if ACTIVATIONS[h].parameters else Dense(w, h) for w, h in hidden
    ]
    layers.append(
        Dense(n_out, act, alpha=0.3) if ACTIVATIONS[act].parameters else Dense(n_out, act)
    )
    return Network(inputs=n_in, layers=layers, loss=loss, l2=l2, regularize_biases=biases)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b) / scale))


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_every_pair_matches_central_differences(pair: tuple[str, str]) -> None:
    # Every valid output pair, behind a hidden layer chosen so that each hidden-allowed
    # activation appears in some network.
    hidden = HIDDEN[PAIRS.index(pair) % len(HIDDEN)]
    net = _network(pair, [(4, hidden), (3, "tanh")], n_in=3, l2=0.01, biases=False)
    m = build(net)
    rng = np.random.default_rng(1)
    params = perturbed_params(m, rng)
    X = rng.standard_normal((5, 3))
    Y = targets(net, 5, rng)
    assert m.gradient_check(params, X, Y) < 1e-7


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=st.sampled_from(PAIRS),
    hidden=st.lists(st.tuples(st.integers(1, 4), st.sampled_from(HIDDEN)), max_size=3),
    n_in=st.integers(1, 4),
    batch=st.integers(1, 6),
    l2=st.sampled_from([0.0, 0.05]),
    biases=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_architectures_match_differences_and_torch(
    pair: tuple[str, str],
    hidden: list[tuple[int, str]],
    n_in: int,
    batch: int,
    l2: float,
    biases: bool,
    seed: int,
) -> None:
    net = _network(pair, hidden, n_in, l2, biases)
    m = build(net)
    rng = np.random.default_rng(seed)
    params = perturbed_params(m, rng)
    X = rng.standard_normal((batch, n_in))
    Y = targets(net, batch, rng)
    assert m.gradient_check(params, X, Y) < 1e-7
    if HAVE_TORCH:
        J, expected = torch_objective(net, params, X, Y)
        got = m.gradients(params, X, Y)
        assert abs(m.loss(params, X, Y) - J) <= 1e-12 * max(1.0, abs(J))
        for key in params:
            assert _rel(got[key], expected[key]) < 1e-10, key


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_every_pair_matches_torch(pair: tuple[str, str]) -> None:
    hidden = HIDDEN[(PAIRS.index(pair) + 3) % len(HIDDEN)]
    net = _network(pair, [(5, hidden), (4, "sigmoid")], n_in=3, l2=0.001, biases=True)
    m = build(net)
    rng = np.random.default_rng(7)
    params = perturbed_params(m, rng)
    X = rng.standard_normal((8, 3))
    Y = targets(net, 8, rng)
    J, expected = torch_objective(net, params, X, Y)
    got = m.gradients(params, X, Y)
    assert abs(m.loss(params, X, Y) - J) <= 1e-12 * max(1.0, abs(J))
    for key in params:
        assert _rel(got[key], expected[key]) < 1e-10, key


def test_gradient_check_catches_a_wrong_gradient() -> None:
    # The check must be able to fail: perturb one generated gradient and it must notice.
    net = _network(("sigmoid", "binary_cross_entropy"), [(3, "tanh")], 2, 0.0, False)
    m = build(net)
    rng = np.random.default_rng(0)
    params = perturbed_params(m, rng)
    X, Y = rng.standard_normal((4, 2)), targets(net, 4, rng)
    original = m.gradients

    def wrong(p: dict, X: np.ndarray, Y: np.ndarray) -> dict:
        g = original(p, X, Y)
        g["W1"][0, 0] *= 1.001
        return g

    m.gradients = wrong
    try:
        assert m.gradient_check(params, X, Y) > 1e-4
    finally:
        m.gradients = original


def test_directional_check_for_large_networks() -> None:
    # Beyond 2000 parameters gradient_check uses random directions; it must still pass,
    # and still notice a wrong gradient.
    net = Network(inputs=40, layers=[Dense(60, "relu"), Dense(3, "softmax")], loss="cross_entropy")
    m = build(net)
    rng = np.random.default_rng(0)
    params = perturbed_params(m, rng)
    X, Y = rng.standard_normal((6, 40)), targets(net, 6, rng)
    assert net.n_params > 2000
    assert m.gradient_check(params, X, Y) < 1e-7
    original = m.gradients
    m.gradients = lambda p, X, Y: {k: v * 1.01 for k, v in original(p, X, Y).items()}
    try:
        assert m.gradient_check(params, X, Y) > 1e-3
    finally:
        m.gradients = original


def _extreme_case(net: Network, dtype: type, rng: np.random.Generator):
    m = build(net)
    params = {
        k: np.sign(rng.standard_normal(v.shape)).astype(dtype) for k, v in m.init_params().items()
    }
    X = (1000 * np.sign(rng.standard_normal((6, net.inputs)))).astype(dtype)
    return m, params, X


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_stable_at_pre_activations_of_1000(pair: tuple[str, str], dtype: type) -> None:
    # Pre-activations of about ±1000 (and more in later layers): no RuntimeWarning, no
    # floating-point error other than underflow to 0 (the correct rounding of exp(-1000)),
    # finite loss and gradients of the parameters' dtype.
    rng = np.random.default_rng(3)
    hidden = HIDDEN[PAIRS.index(pair) % len(HIDDEN)]
    net = _network(pair, [(3, hidden)], 1, 0.01, False)
    m, params, X = _extreme_case(net, dtype, rng)
    params["W1"][...] = 1  # z1 = ±1000 exactly
    params["b2"][...] = np.array([1000, -1000, 1000][: params["b2"].shape[0]], dtype=dtype)
    Y = targets(net, 6, rng)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = m.loss(params, X, Y)
        grads = m.gradients(params, X, Y)
        out = m.forward(params, X)
    assert np.isfinite(value)
    assert np.all(np.isfinite(out))
    for key, g in grads.items():
        assert g.dtype == dtype, key
        assert np.all(np.isfinite(g)), key


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation_stable_at_1000(hidden: str, dtype: type) -> None:
    rng = np.random.default_rng(5)
    net = Network(
        inputs=2,
        layers=[Dense(4, hidden), Dense(3, hidden), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
    )
    m, params, X = _extreme_case(net, dtype, rng)
    Y = targets(net, 6, rng)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = m.loss(params, X, Y)
        grads = m.gradients(params, X, Y)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) and g.dtype == dtype for g in grads.values())
