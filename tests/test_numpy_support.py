"""Shared helpers of the generated-module tests (no tests here): build, import, peers."""

from __future__ import annotations

import functools
import hashlib
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from symprop import Dense, Network
from symprop.codegen.numpy.emit import import_generated, render_module
from symprop.core.errors import SymPropWarning
from symprop.core.registry import ACTIVATIONS, LOSSES

ROOT = Path(__file__).resolve().parent.parent
_BUILD = Path(tempfile.mkdtemp(prefix="symprop-numpy-tests-"))


def valid_pairs() -> list[tuple[str, str]]:
    """Every (output activation, loss) pair the spec validation accepts."""
    pairs = []
    for act in ACTIVATIONS:
        for loss in LOSSES:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SymPropWarning)  # doubtful, yet accepted
                    Network(inputs=2, layers=[Dense(2, act)], loss=loss)
            except ValueError:
                continue
            pairs.append((act, loss))
    return pairs


HIDDEN = [name for name, act in ACTIVATIONS.items() if act.hidden_allowed]


@functools.cache
def _build(network: Network, dtype: str) -> ModuleType:
    source = render_module(network, spec="<tests>", dtype=dtype)
    tag = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = _BUILD / f"m_{tag}.py"
    path.write_text(source, encoding="utf-8")
    return import_generated(path, f"m_{tag}")


def build(network: Network, dtype: str = "float64") -> ModuleType:
    """Generate, write and import the module of ``network`` (cached per network)."""
    return _build(network, dtype)


def targets(network: Network, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Valid random targets for the network's loss."""
    loss = LOSSES[network.loss]
    n_out = network.widths[-1]
    if loss.target_is_distribution:
        return rng.integers(0, n_out, size=batch)
    if loss.output_domain != sp.S.Reals:
        return rng.uniform(0, 1, size=(batch, n_out))
    return rng.standard_normal((batch, n_out))


def perturbed_params(module: ModuleType, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """init_params plus noise, so that biases are not all zero."""
    params = module.init_params(0)
    return {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in params.items()}


def one_hot(Y: np.ndarray, n_out: int) -> np.ndarray:
    if Y.ndim == 1 and np.issubdtype(Y.dtype, np.integer):
        out = np.zeros((len(Y), n_out))
        out[np.arange(len(Y)), Y] = 1
        return out
    return Y.reshape(len(Y), -1)


def torch_objective(network: Network, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray):
    """J and its gradients by torch.autograd, float64, written from torch's own functions."""
    import torch
    import torch.nn.functional as F

    acts = {
        "identity": lambda z, p: z,
        "sigmoid": lambda z, p: torch.sigmoid(z),
        "tanh": lambda z, p: torch.tanh(z),
        "relu": lambda z, p: torch.relu(z),
        "leaky_relu": lambda z, p: F.leaky_relu(z, negative_slope=p["alpha"]),
        "softplus": lambda z, p: F.softplus(z, beta=1.0, threshold=1e9),
        "elu": lambda z, p: F.elu(z, alpha=p["alpha"]),
        "silu": lambda z, p: F.silu(z),
        "softmax": lambda z, p: torch.softmax(z, dim=1),
    }
    losses = {
        "mse": lambda a, y: ((a - y) ** 2).sum(dim=1),
        "half_sse": lambda a, y: 0.5 * ((a - y) ** 2).sum(dim=1),
        "binary_cross_entropy": lambda a, y: (
            -(y * torch.log(a) + (1 - y) * torch.log(1 - a)).sum(dim=1)
        ),
        "cross_entropy": lambda a, y: -(y * torch.log(a)).sum(dim=1),
    }
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    a = torch.tensor(X, dtype=torch.float64)
    for l, layer in enumerate(network.layers, start=1):
        z = a @ tp[f"W{l}"].T + tp[f"b{l}"]
        a = acts[layer.activation](z, layer.param_values())
    y = torch.tensor(one_hot(Y, network.widths[-1]), dtype=torch.float64)
    J = losses[network.loss](a, y).mean()
    keys = [k for k in tp if k.startswith("W") or network.regularize_biases]
    J = J + network.l2 * sum((tp[k] ** 2).sum() for k in keys)
    J.backward()
    return J.item(), {k: v.grad.numpy() for k, v in tp.items()}
