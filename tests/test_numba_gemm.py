"""The compiled step's own matrix product ``_dot_nt`` (out = a bᵀ) against NumPy's in
float64, on the shapes of its register blocks' edges and of a training step, and the rule
that prints it or ``np.dot`` for each product of the step."""

from __future__ import annotations

import numpy as np
import pytest
from numba_support import build
from test_numpy_support import ROOT

from symprop.codegen.numba.dot import COLS, ROWS, use_dot
from symprop.codegen.numba.emit import render_numba_module
from symprop.core.spec import load_spec

DIGITS = load_spec(ROOT / "examples" / "digits.toml")  # 64-128-64-10: the array step

# Every remainder of the row and column blocks, a one-term sum, and a step's shapes.
SHAPES = [
    (m, k, n)
    for m in (1, ROWS - 1, ROWS, ROWS + 1, 2 * ROWS + 1)
    for n in (1, COLS, COLS + 1)
    for k in (1, 2, 33)
] + [(32, 65, 128), (128, 785, 256), (16, 256, 257)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dot_nt_is_a_times_b_transposed(dtype: str) -> None:
    dot_nt = build(DIGITS)._dot_nt
    rng = np.random.default_rng(3)
    eps = np.finfo(dtype).eps
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((n, k)).astype(dtype)
        out = np.full((m, n), np.nan, dtype)
        dot_nt(a, b, out)
        exact = a.astype(np.float64) @ b.astype(np.float64).T
        # A sum of k products in any order: at most k roundings of Σ|a_ik b_jk| each.
        bound = k * eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64).T)
        assert out.dtype == dtype
        assert np.all(np.abs(out - exact) <= bound), (m, k, n)


def test_dot_nt_is_deterministic_and_propagates_non_finite_values() -> None:
    dot_nt = build(DIGITS)._dot_nt
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((13, 100)), rng.standard_normal((9, 100))
    first, again = np.empty((13, 9)), np.empty((13, 9))
    dot_nt(a, b, first)
    dot_nt(a.copy(), b.copy(), again)
    assert first.tobytes() == again.tobytes()
    # The step's divergence check relies on NaN and ∞ reaching z: no "finite math" flags.
    a[7, 50], b[2, 10] = np.nan, np.inf
    dot_nt(a, b, first)
    assert np.isnan(first[7]).all() and not np.isfinite(first[:, 2]).any()
    assert np.isfinite(np.delete(np.delete(first, 7, axis=0), 2, axis=1)).all()


def test_forward_products_over_many_terms_use_dot_nt_and_the_rest_blas() -> None:
    source = render_numba_module(DIGITS, spec="x")
    step = source.split("def _step(")[1].split("\ndef ")[0]
    assert use_dot(65) and not use_dot(10)
    # z^l over n_{l−1} + 1 terms: 65, 129, 65.
    for line in ("_dot_nt(a0, W1, z1)", "_dot_nt(a1, W2, z2)", "_dot_nt(a2, W3, z3)"):
        assert line in step
    # (W^l)ᵀ δ^l and ∂C/∂[W^l | b^l]: BLAS.
    assert "np.dot(delta3, W3, back2)" in step and "np.dot(delta2, W2, back1)" in step
    assert step.count("np.dot(delta") == 5 and step.count("_dot_nt(") == 3
