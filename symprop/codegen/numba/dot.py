"""The compiled step's own matrix product, and the rule that picks it over BLAS.

``_dot_nt(a, b, out)`` computes out = a bᵀ (out[i, j] = Σ_k a[i, k] b[j, k]) for
C-contiguous ``a`` (m, K) and ``b`` (n, K): every entry is the dot product of two contiguous
rows, a loop that LLVM vectorises into AVX2 fused multiply-adds once reassociation is
allowed. The loop over k is register-blocked: :data:`ROWS` rows of ``a`` × :data:`COLS`
rows of ``b`` share every loaded vector, :data:`ROWS` · :data:`COLS` vector accumulators
(12 of AVX2's 16 registers), printed unrolled.

The forward product z^l = [a^{l−1} 1] [W^l | b^l]ᵀ has exactly this form, with no copy: the
batch's rows and the block's rows are both contiguous along the n_{l−1} + 1 terms. Why not
BLAS there: on the benchmark machine (2-core AMD EPYC, AVX2 + FMA, OpenBLAS 0.3.31 with its
"Haswell" kernels, through SciPy's BLAS as Numba's ``np.dot`` calls it) a whole step of
(b) 784-256-256-10, batch 128, ran 4–7% faster with the forward products printed this way
(5.3 against 5.6 ms in float32, 10.3 against 11.0 in float64), 0–4% faster in a run at a
higher load: about OpenBLAS's rate, a little better. The other products are not
of this form: (W^{l+1})ᵀ δ^{l+1} and ∂C/∂[W^l | b^l] would need an operand transposed
first, and with that copy the step was slower, so they stay ``np.dot``. A broadcast
(outer-product) micro-kernel, which would need no copy, is not vectorised by LLVM from
Numba's scalar accumulators (1.5–4 GFLOP/s).

OpenBLAS's sgemm runs (M=128, K ≳ 200, N=256) at ~12 GFLOP/s when the same product is
repeated back to back, a third of its usual rate; in a training step, between other
products, it runs those shapes at ~30. ``bench/bench_train.py --gemm`` measures the products
of a step in sequence.
"""

from __future__ import annotations

__all__ = ["COLS", "DOT_MIN_K", "ROWS", "dot_nt_source", "use_dot"]

ROWS = 6
"""Rows of ``a`` per block of ``_dot_nt``."""

COLS = 2
"""Rows of ``b`` per block of ``_dot_nt``."""

DOT_MIN_K = 32
"""The fewest terms of a forward product printed as ``_dot_nt``: four AVX2 vectors of
float64, so that the vectorised loop, not its horizontal sum, is most of the work (over the
10 units of an output layer BLAS ran 2–3× as fast)."""


def use_dot(k: int) -> bool:
    """Whether a forward product over ``k`` terms is printed as ``_dot_nt`` (else
    ``np.dot``)."""
    return k >= DOT_MIN_K


def _blocks(rows: int, cols: int, i_range: str, j_range: str) -> list[str]:
    """Lines of a loop over blocks of ``rows`` × ``cols`` entries of ``out``, one indent
    level: each sum starts from its k = 0 term, so its accumulator takes the data's dtype."""

    def at(base: str, offset: int) -> str:
        return f"{base} + {offset}" if offset else base

    def step(size: int) -> str:
        return f", {size}" if size > 1 else ""

    pairs = [(r, c) for r in range(rows) for c in range(cols)]
    lines = [
        f"    for i in range({i_range}{step(rows)}):",
        f"        for j in range({j_range}{step(cols)}):",
    ]
    lines += [f"            s{r}{c} = a[{at('i', r)}, 0] * b[{at('j', c)}, 0]" for r, c in pairs]
    lines.append("            for k in range(1, K):")
    lines += [f"                x{r} = a[{at('i', r)}, k]" for r in range(rows)]
    lines += [f"                y{c} = b[{at('j', c)}, k]" for c in range(cols)]
    lines += [f"                s{r}{c} += x{r} * y{c}" for r, c in pairs]
    lines += [f"            out[{at('i', r)}, {at('j', c)}] = s{r}{c}" for r, c in pairs]
    return lines


def dot_nt_source() -> str:
    """The source of ``_dot_nt`` (undecorated), its register blocks printed unrolled."""
    lines = [
        "def _dot_nt(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:",
        '    """out = a bᵀ: out[i, j] = Σ_k a[i, k] b[j, k] for C-contiguous a (m, K) and',
        "    b (n, K). Each entry is a dot product of two contiguous rows, which LLVM vectorises",
        f"    into fused multiply-adds; a block of {ROWS} rows of a × {COLS} rows of b shares",
        f"    every loaded vector. The rows left over go {COLS} entries at a time, the columns",
        "    left over one. Why not BLAS: in a whole step on an AVX2 CPU it ran the forward",
        '    products faster than OpenBLAS (see symprop.codegen.numba.dot)."""',
        "    m, n, K = a.shape[0], b.shape[0], a.shape[1]",
        f"    mb, nb = m - m % {ROWS}, n - n % {COLS}",
    ]
    lines += _blocks(ROWS, COLS, "0, mb", "0, nb")
    lines += _blocks(1, COLS, "mb, m", "0, nb")
    lines += _blocks(1, 1, "0, m", "nb, n")
    return "\n".join(lines)
