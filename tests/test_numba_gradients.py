"""Gradients of compiled (Numba) modules against the NumPy module and torch.autograd.

Each compiled module's ``gradients`` runs its compiled step (``_step``), so these tests hold
the compiled code itself to independent references: PyTorch's own functions, and the NumPy
module generated from the same derivation.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba_support import build
from test_numpy_support import HIDDEN, perturbed_params, targets, torch_objective, valid_pairs
from test_numpy_support import build as build_numpy

from symprop import Dense, Network
from symprop.core.examples import network_specs
from symprop.core.registry import ACTIVATIONS
from symprop.core.spec import load_spec

pytestmark = pytest.mark.filterwarnings("ignore::symprop.core.errors.SymPropWarning")
torch = pytest.importorskip("torch")

PAIRS = valid_pairs()
EXAMPLES = [p for p in network_specs(None) if load_spec(p).dense_chain]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b) / scale))


def _agree(network: Network, batch: int, seed: int) -> None:
    """The compiled gradients equal torch's and the NumPy module's to 1e-10 (float64)."""
    compiled, reference = build(network), build_numpy(network)
    rng = np.random.default_rng(seed)
    params = perturbed_params(reference, rng)
    X = rng.standard_normal((batch, network.widths[0]))
    Y = targets(network, batch, rng)
    _, expected = torch_objective(network, params, X, Y)
    got = compiled.gradients(params, X, Y)
    numpy_got = reference.gradients(params, X, Y)
    for key in params:
        assert got[key].shape == params[key].shape and got[key].dtype == np.float64
        assert _rel(got[key], expected[key]) < 1e-10, key
        assert _rel(got[key], numpy_got[key]) < 1e-10, key


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_supported_example_matches_torch_and_the_numpy_module(path) -> None:
    _agree(load_spec(path), batch=7, seed=3)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
def test_every_pair_matches_torch_and_the_numpy_module(pair: tuple[str, str]) -> None:
    # A tiny network per output pair: the hidden activation rotates through every
    # activation a hidden layer allows; alternate pairs get a hidden layer of 17 units, so
    # that they run the array step (BLAS, loops) rather than the unrolled one.
    index = PAIRS.index(pair)
    act, loss = pair
    hidden = HIDDEN[index % len(HIDDEN)]
    width = 17 if index % 2 else 3
    n_out = 3 if act == "softmax" else 2
    layers = [
        Dense(width, hidden, alpha=0.2) if ACTIVATIONS[hidden].parameters else Dense(width, hidden),
        Dense(n_out, act, alpha=0.3) if ACTIVATIONS[act].parameters else Dense(n_out, act),
    ]
    network = Network(inputs=3, layers=layers, loss=loss, l2=0.01, regularize_biases=index % 3 == 0)
    _agree(network, batch=6, seed=index)
    # Softmax has no per-unit float form, so its networks always take the array step.
    assert hasattr(build(network), "_sample") == (width <= 16 and act != "softmax")


def test_saturated_outputs_stay_finite_and_match_the_numpy_module() -> None:
    # Pre-activations of ±1000: the stable forms keep the compiled gradients finite.
    network = Network(
        inputs=2,
        layers=[Dense(3, "tanh"), Dense(3, "softmax")],
        loss="cross_entropy",
        l2=0.0,
    )
    compiled, reference = build(network), build_numpy(network)
    params = compiled.init_params(0)
    params["W2"][...] = np.array([[1000.0, 0, 0], [-1000.0, 0, 0], [0, 0, 0]])
    X = np.array([[5.0, 5.0], [-5.0, -5.0]])
    params["W1"][...] = np.array([[1.0, 1.0], [0, 0], [0, 0]])
    Y = np.array([1, 0])
    got, expected = compiled.gradients(params, X, Y), reference.gradients(params, X, Y)
    for key in params:
        assert np.all(np.isfinite(got[key])), key
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-300)
