"""Generated modules under hostile use: repeated calls, bad data, damaged files, bad arguments."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from test_numpy_support import ROOT, build, valid_pairs

from symprop import Dense, Network
from symprop.emit_numpy import import_generated
from symprop.errors import SpecError, SymPropWarning
from symprop.registry import ACTIVATIONS, LOSSES, a, y, z

GENERATED = ROOT / "generated"


def test_memory_kept_between_calls_is_bounded_by_the_network() -> None:
    # Cross-validation, learning curves: train on ever other row counts. What the module
    # keeps between calls must not grow with the number of row counts seen.
    m = import_generated(GENERATED / "digits.py", "digits_memory")
    rng = np.random.default_rng(0)
    X, labels = rng.random((3000, 64)), rng.integers(0, 10, 3000)
    settings = dict(epochs=1, learning_rate=0.05, batch_size=32, seed=0, optimizer="momentum")
    settings["momentum"] = 0.9
    tracemalloc.start()
    try:
        m.train(m.init_params(), X[:2000], labels[:2000], **settings)
        before = tracemalloc.get_traced_memory()[0]
        for n in range(2010, 2400, 13):  # 30 row counts, each with its own last batch size
            m.train(m.init_params(), X[:n], labels[:n], **settings)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    data = X[:2400].nbytes
    assert grown < data / 4, f"kept {grown / 2**20:.1f} MiB more after 30 calls"
    kept = [a.nbytes for arrays in m._SPARE.values() for a in arrays]
    kept += [a.nbytes for ws in m._SPARE_WORKSPACES.values() for a in ws.values()]
    assert len(m._SPARE_WORKSPACES) == 1 and sum(kept) < 8 * m._N_PARAMS * 8 + 2**20


# --- which output activation and loss pairs are accepted, and their stability -------------


def test_softmax_with_binary_cross_entropy_is_refused() -> None:
    # Once the softmax saturated its loss was 748 instead of 79.3 (float64).
    with pytest.raises(SpecError) as err:
        Network(inputs=2, layers=[Dense(3, "softmax")], loss="binary_cross_entropy")
    assert err.value.field == "loss"
    assert "sigmoid" in err.value.allowed and "cross_entropy with softmax" in err.value.allowed


def test_cross_entropy_on_sigmoid_outputs_warns() -> None:
    with pytest.warns(SymPropWarning, match="use softmax outputs with cross_entropy") as seen:
        Network(inputs=2, layers=[Dense(3, "sigmoid")], loss="cross_entropy")
    assert len(seen) == 1 and "\n" not in str(seen[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Network(inputs=2, layers=[Dense(3, "softmax")], loss="cross_entropy")


def test_the_cli_refuses_and_warns_in_one_line(tmp_path: Path) -> None:
    for activation, loss, code, start in [
        ("softmax", "binary_cross_entropy", 2, "error: "),
        ("sigmoid", "cross_entropy", 0, "warning: "),
    ]:
        spec = tmp_path / "pair.toml"
        spec.write_text(
            f'name = "pair"\ninputs = 2\nloss = "{loss}"\n\n'
            f'[[layers]]\nwidth = 3\nactivation = "{activation}"\n',
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "symprop.cli", "generate", str(spec), "-o", "m.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == code, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(start) and "loss" in lines[0]


# Pre-activations z of the output layer (W = I, b = 0, so X = z), far into saturation.
_Z = np.array(
    [[1000.0, -1000.0, 0.5], [-1000.0, 1000.0, -0.5], [40.0, 0.0, 0.0], [-30.0, 20.0, 1e-3]]
)


def _reference(activation: str, loss: str, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """J and ∂J/∂b (= the mean δ^L) at _Z, from the registry's textbook definitions in
    800-digit arithmetic."""
    zs = sp.symbols("z0:3")
    act = ACTIVATIONS[activation]
    if act.elementwise:
        outputs = [act.instantiate().subs(z, zk) for zk in zs]
    else:
        total = sum(sp.exp(zk) for zk in zs)
        outputs = [sp.exp(zk) / total for zk in zs]
    ys = sp.symbols("y0:3")
    cost = sum(LOSSES[loss].term.subs({a: ok, y: yk}) for ok, yk in zip(outputs, ys, strict=True))
    symbols = [*zs, *ys]
    value = sp.lambdify(symbols, cost, "mpmath")
    slopes = [sp.lambdify(symbols, sp.diff(cost, zk), "mpmath") for zk in zs]
    with mpmath.workdps(800):
        rows = [[mpmath.mpf(float(v)) for v in (*zr, *yr)] for zr, yr in zip(_Z, Y, strict=True)]
        J = sum(value(*r) for r in rows) / len(rows)
        grad = [sum(s(*r) for r in rows) / len(rows) for s in slopes]
        return float(J), np.array([float(g) for g in grad])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("pair", valid_pairs(), ids=lambda p: f"{p[0]}-{p[1]}")
def test_every_accepted_pair_is_accurate_when_saturated(pair: tuple[str, str], dtype) -> None:
    activation, loss = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymPropWarning)
        net = Network(inputs=3, layers=[Dense(3, activation)], loss=loss)
    m = build(net, np.dtype(dtype).name)
    if LOSSES[loss].target_is_distribution:
        Y = np.eye(3)[[1, 0, 2, 0]]
    elif LOSSES[loss].output_domain != sp.S.Reals:
        Y = np.array([[0.0, 1.0, 0.25], [1.0, 0.0, 0.5], [0.0, 1.0, 1.0], [0.5, 0.5, 0.0]])
    else:
        Y = np.array([[2.0, -1.0, 0.0], [0.0, 3.0, -2.0], [1.0, 1.0, 1.0], [-1.0, 0.0, 4.0]])
    params = {"W1": np.eye(3, dtype=dtype), "b1": np.zeros(3, dtype=dtype)}
    J, grad = _reference(activation, loss, Y)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = m.loss(params, _Z.astype(dtype), Y.astype(dtype))
        slope = m.gradients(params, _Z.astype(dtype), Y.astype(dtype))["b1"]
    # Relative to the loss, and absolute to the size of the terms the gradient sums (a − y
    # with outputs in [0, 1] or about z): rounding of those, not of the tiny result, bounds
    # what any floating-point evaluation can reach.
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    terms = 1 + np.abs(Y).max() + (0 if activation in ("sigmoid", "softmax", "tanh") else 1000)
    assert value == pytest.approx(J, rel=rtol, abs=rtol)
    np.testing.assert_allclose(slope, grad, rtol=rtol, atol=rtol * terms)
