"""The numeric primitives a generated NumPy module defines when a printed formula calls them.

Each is plain NumPy (or ``math``, for the per-sample float code) source with the textbook
formula it computes, against which the tests check it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

__all__ = ["HELPERS", "Helper"]


@dataclass(frozen=True)
class Helper:
    """A numeric primitive written into a generated module when a printed formula calls it.

    ``source`` is plain NumPy code; ``definition`` is the textbook formula it computes (a
    function of one SymPy argument), used by the tests to check the primitive.
    """

    name: str
    source: str
    definition: Callable[[sp.Expr], sp.Expr]
    across_units: bool = False  # reduces over a layer's units: takes ``axis`` (1: rows)


HELPERS: dict[str, Helper] = {
    h.name: h
    for h in [
        Helper(
            "_expit",
            '''def _expit(x: np.ndarray) -> np.ndarray:
    """Logistic σ(x) = 1/(1 + exp(-x)), as exp(-|x|) so that nothing overflows: 1/(1 + e)
    where x ≥ 0, e/(1 + e) elsewhere, the numerator max(e, [x ≥ 0]) (e ≤ 1)."""
    e = np.exp(-np.abs(x))
    return np.maximum(e, x >= 0) / (1 + e)
''',
            lambda x: 1 / (1 + sp.exp(-x)),
        ),
        Helper(
            "_softmax",
            '''def _softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax exp(z_i)/Σ_k exp(z_k) over the units along ``axis`` (1: a batch of rows,
    0: of columns), shifted by their maximum (no overflow)."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e
''',
            lambda x: sp.exp(x) / (sp.exp(x) + 1),
            across_units=True,
        ),
        Helper(
            "_log_softmax",
            '''def _log_softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """Log softmax z_i − log Σ_k exp(z_k) over the units along ``axis`` (1: a batch of
    rows, 0: of columns), by the log-sum-exp trick."""
    shifted = z - z.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted
''',
            lambda x: sp.log(sp.exp(x) / (sp.exp(x) + 1)),
            across_units=True,
        ),
        Helper(
            "_he_normal",
            '''def _he_normal(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """He initialisation for rectifiers: N(0, 2/fan_in), keeping Var(z) across layers."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
''',
            lambda x: x,
        ),
        Helper(
            "_glorot_uniform",
            '''def _glorot_uniform(
    rng: np.random.Generator, fan_out: int, fan_in: int
) -> np.ndarray:
    """Glorot initialisation: U(−r, r) with r = sqrt(6/(fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))
''',
            lambda x: x,
        ),
        Helper(
            "_log_clipped",
            '''def _log_clipped(x: np.ndarray) -> np.ndarray:
    """log(max(x, tiny)): never the log of 0, which would be −inf and a RuntimeWarning."""
    return np.log(np.maximum(x, np.finfo(x.dtype).tiny))
''',
            lambda x: sp.log(x),
        ),
        Helper(
            "_clip_open",
            '''def _clip_open(a: np.ndarray, low: float, high: float) -> np.ndarray:
    """a clipped into the open interval (low, high), for use in a denominator."""
    info = np.finfo(a.dtype)
    return np.clip(a, low + info.tiny, high - info.epsneg)
''',
            lambda x: x,
        ),
        Helper(
            "_expit1",
            '''def _expit1(x: float) -> float:
    """Logistic σ(x) of one float, exponentiating only −|x| (no OverflowError)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
''',
            lambda x: 1 / (1 + sp.exp(-x)),
        ),
        Helper(
            "_logaddexp1",
            '''def _logaddexp1(x: float, y: float) -> float:
    """log(exp(x) + exp(y)) of two floats, as max + log1p(exp(−|x − y|)) (no overflow)."""
    return max(x, y) + math.log1p(math.exp(-abs(x - y)))
''',
            lambda x: sp.log(1 + sp.exp(x)),
        ),
        Helper(
            "_log_clipped1",
            '''def _log_clipped1(x: float) -> float:
    """log(max(x, tiny)) of one float: never the log of 0."""
    return math.log(max(x, 2.2250738585072014e-308))
''',
            lambda x: sp.log(x),
        ),
        Helper(
            "_clip_open1",
            '''def _clip_open1(a: float, low: float, high: float) -> float:
    """One float clipped into the open interval (low, high), for use in a denominator."""
    return min(max(a, low + 2.2250738585072014e-308), high - 1.1102230246251565e-16)
''',
            lambda x: x,
        ),
    ]
}
"""Every numeric primitive, by name. The tests check each against its ``definition``."""
