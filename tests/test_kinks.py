"""The kink convention is stated exactly where φ' jumps for the layer's parameter values."""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from symprop import Dense, Network, derive
from symprop.core.registry import ACTIVATIONS, z

CASES = [
    ("relu", {}),
    ("leaky_relu", {"alpha": 0.01}),
    ("leaky_relu", {"alpha": 1.0}),
    ("elu", {"alpha": 1.0}),
    ("elu", {"alpha": 0.5}),
    ("tanh", {}),
]


def _one_sided_slopes(name: str, params: dict[str, float]) -> tuple[float, float]:
    """Difference quotients of the bound definition on each side of 0 (no derivative used)."""
    f = sp.lambdify(z, ACTIVATIONS[name].instantiate(params), "mpmath")
    with mpmath.workdps(50):
        h = mpmath.mpf("1e-20")
        return float((f(0) - f(-h)) / h), float((f(h) - f(0)) / h)


@pytest.mark.parametrize(("name", "params"), CASES)
def test_a_convention_is_stated_only_where_the_slope_jumps(name: str, params: dict) -> None:
    left, right = _one_sided_slopes(name, params)
    jumps = abs(left - right) > 1e-9
    d = derive(Network(inputs=2, layers=[Dense(2, name, **params), Dense(1)], loss="half_sse"))
    stated = [str(reason) for reason in d.assumptions]
    assert bool(stated) == jumps, (name, params, left, right, stated)
