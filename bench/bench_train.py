"""Training throughput of the generated modules against their peers (a benchmark, not a test).

Samples per second of training epochs, every tool on one thread of one core, in the same dtype:

(a) 64-128-64-10 ReLU/softmax, cross-entropy, digits-sized data (1,797 × 64), batch 32;
(b) 784-256-256-10 ReLU/softmax, cross-entropy, MNIST-sized random data (10,000 × 784),
    batch 128;
(c) 2-4-1 sigmoid, binary cross-entropy, 400 samples, batch 1 (per-sample SGD).

(a) and (b) train with SGD with momentum 0.9 (``--optimizer momentum``, the default) or plain
SGD (``--optimizer sgd``, the generated ``train``'s default), the same for every tool.

Tools: the symprop-generated module ("generated", NumPy); the module of
``symprop generate --backend numba`` ("compiled": whole epochs compiled by Numba; its compile
time, or its load from Numba's cache, is measured apart and reported in its own line, never
in samples/s); a careful hand-written NumPy MLP; PyTorch eager (CPU);
scikit-learn's MLPClassifier (``partial_fit``, one epoch per call); JAX with a jitted
training step called per mini-batch ("JAX jit", the usual JAX training loop) and with a
whole epoch compiled as one ``lax.scan`` ("JAX scan": no Python between steps); JAX runs
float64 through ``jax_enable_x64``.
Tools that are not installed are shown as "—". For (b) it also reports the GEMM bound: the
samples/s of the eight matrix products of a training step alone, in NumPy, on the same shapes.

Every tool is timed in short rounds that alternate between the tools. The samples/s shown
are each tool's best round; each ratio is the median over rounds of the ratio within a round,
where the tools ran seconds apart, so that a machine whose speed drifts over minutes (a
shared one) moves both sides of it. A second line per case gives the quartiles of those
per-round ratios: how far a single round strays from the median on the machine at hand.
Peak memory is measured in a fresh process per tool: the process's peak resident set after
one epoch, and what the epoch allocated as traced by ``tracemalloc`` (visible for the
NumPy-based tools only).

Run: ``python bench/bench_train.py [--dtype float32] [--optimizer sgd] [--cases abc]
[--seconds 3] [--rounds 30]``.

``--gemm`` prints instead the GFLOP/s of one training step's matrix products of (a) and (b)
(z^l, ∂C/∂[W^l | b^l], (W^l)ᵀ δ^l in the step's order, the compiled module's operand
layouts) as each library runs them: NumPy (OpenBLAS), ``np.dot`` inside Numba (SciPy's
OpenBLAS), the compiled module's rule (its ``_dot_nt`` for the forward products) and XLA
(``jax.jit``), best of ``--rounds`` interleaved rounds.

``--kinds [EPOCHS]`` runs case (d) instead: the generated module of a 784-256-256-10
network with batch normalisation and dropout after each hidden dense layer
(dense → batch norm → ReLU → dropout 0.2), trained by SGD with momentum on MNIST-sized
synthetic data (70,000 × 784 inputs in [0, 1), ten classes given by the argmax of a fixed
random linear map, so the classes are separable), batch 128; 60,000 samples train and
10,000 test. It prints the seconds and the loss of each epoch and the test accuracy, and the
same for the plain 784-256-256-10 ReLU network's (dense-chain) module, for scale.
The script pins OMP/OpenBLAS/MKL to one thread before NumPy starts, and itself to one CPU
core (``--core N``, else the highest it may use), since XLA's thread pool obeys no thread
setting: without the pin, JAX's products run on every core while the other tools run on one.
"""

from __future__ import annotations

import argparse
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
# XLA's CPU runtime ignores the flags above: its Eigen pool still runs one product on every
# core (1.8 cores busy on this 2-core machine). Only the affinity mask bounds it, so the
# process, and every process it starts, runs on one core: ``--core N``, else the highest
# it is allowed (core 0 takes most interrupts; on this VM it ran NumPy's products 30% slower).
CORE = None
if hasattr(os, "sched_setaffinity"):
    _allowed = sorted(os.sched_getaffinity(0))
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--core", type=int, default=_allowed[-1])
    CORE = _pre.parse_known_args()[0].core
    if CORE not in _allowed:
        print(f"--core: {CORE} is not a core this process may run on {_allowed}", file=sys.stderr)
        sys.exit(2)
    os.sched_setaffinity(0, {CORE})
PLACE = "one thread" if CORE is None else f"one thread on core {CORE}"

import atexit  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from symprop import Dense, Network, Training  # noqa: E402
from symprop.codegen.numba.dot import use_dot  # noqa: E402
from symprop.codegen.numba.emit import import_compiled, write_numba_module  # noqa: E402
from symprop.codegen.numpy.emit import import_generated, write_module  # noqa: E402
from symprop.core.spec import BatchNorm, Dropout  # noqa: E402

LEARNING_RATE = 0.05
MOMENTUM = 0.9


def _net(name: str, widths: list[int], hidden: str, out: str, loss: str, opt: str) -> Network:
    return Network(
        inputs=widths[0],
        layers=[Dense(w, hidden) for w in widths[1:-1]] + [Dense(widths[-1], out)],
        loss=loss,
        name=name,
        training=Training(
            optimizer=opt,
            momentum=MOMENTUM if opt == "momentum" else 0.0,
            learning_rate=LEARNING_RATE,
        ),
    )


def _cases(optimizer: str) -> dict[str, dict]:
    """The three cases, (a) and (b) trained by ``optimizer`` ("momentum" or "sgd")."""
    return {
        "a": dict(
            net=_net("bench_a", [64, 128, 64, 10], "relu", "softmax", "cross_entropy", optimizer),
            n=1797,
            batch=32,
        ),
        "b": dict(
            net=_net("bench_b", [784, 256, 256, 10], "relu", "softmax", "cross_entropy", optimizer),
            n=10_000,
            batch=128,
        ),
        "c": dict(
            net=_net("bench_c", [2, 4, 1], "sigmoid", "sigmoid", "binary_cross_entropy", "sgd"),
            n=400,
            batch=1,
        ),
    }


OPTIMIZERS = ("momentum", "sgd")
CASES: dict[str, dict] = _cases(OPTIMIZERS[0])  # main() sets them from --optimizer
TOOLS = ("generated", "compiled", "hand NumPy", "torch eager", "sklearn", "JAX jit", "JAX scan")

Epoch = Callable[[], object]


def data(case: dict, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in [0, 1) and integer labels (or 0/1 targets for the binary case)."""
    rng = np.random.default_rng(0)
    net = case["net"]
    X = rng.random((case["n"], net.inputs)).astype(dtype)
    if net.loss == "cross_entropy":
        return X, rng.integers(0, net.widths[-1], case["n"])
    return X, (X.sum(axis=1, keepdims=True) > net.inputs / 2).astype(dtype)


def _momentum(case: dict) -> float:
    return case["net"].training.momentum


# --- the tools: each returns a function that runs one epoch ---------------------------------


def setup_generated(case: dict, dtype: str) -> Epoch:
    with tempfile.TemporaryDirectory() as tmp:
        m = import_generated(
            write_module(case["net"], Path(tmp) / "m.py", spec="bench", dtype=dtype)
        )
    X, Y = data(case, dtype)
    params = m.init_params(0)
    tr = case["net"].training
    return lambda: m.train(
        params,
        X,
        Y,
        epochs=1,
        learning_rate=tr.learning_rate,
        batch_size=case["batch"],
        seed=0,
        optimizer=tr.optimizer,
        momentum=tr.momentum,
    )


COMPILE_SECONDS: dict[str, float] = {}
"""The compiled tool's compile time per case name, measured by its setup."""


def setup_compiled(case: dict, dtype: str) -> Epoch | None:
    """The ``--backend numba`` module, written to a fresh folder (so Numba compiles it: no
    cache from an earlier run), compiled before the rounds and timed on its own."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    folder = tempfile.mkdtemp(prefix="symprop-bench-numba-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = write_numba_module(case["net"], Path(folder) / "m.py", spec="bench", dtype=dtype)
    m = import_compiled(path, f"bench_compiled_{case['net'].name}_{dtype}")
    COMPILE_SECONDS[case["net"].name] = m.compile_kernels(dtype)
    X, Y = data(case, dtype)
    params = m.init_params(0)
    tr = case["net"].training
    return lambda: m.train(
        params,
        X,
        Y,
        epochs=1,
        learning_rate=tr.learning_rate,
        batch_size=case["batch"],
        seed=0,
        optimizer=tr.optimizer,
        momentum=tr.momentum,
    )


def setup_hand(case: dict, dtype: str) -> Epoch:
    """A careful hand-written NumPy MLP: the baseline the issue measures against."""
    net = case["net"]
    X, Y = data(case, dtype)
    if Y.ndim == 1:
        Y = np.eye(net.widths[-1], dtype=dtype)[Y]
    rng = np.random.default_rng(0)
    Ws = [
        rng.normal(0, 0.1, (o, i)).astype(dtype)
        for i, o in zip(net.widths, net.widths[1:], strict=False)
    ]
    bs = [np.zeros(o, dtype) for o in net.widths[1:]]
    vel = [np.zeros_like(p) for p in Ws + bs]
    acts = [layer.activation for layer in net.layers]
    lr, mu = LEARNING_RATE, _momentum(case)

    def act(name: str, z: np.ndarray) -> np.ndarray:
        if name == "relu":
            return np.maximum(z, 0)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-z))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def epoch() -> None:
        order = rng.permutation(len(X))
        Xs, Ys = X[order], Y[order]
        for s in range(0, len(X), case["batch"]):
            x, y = Xs[s : s + case["batch"]], Ys[s : s + case["batch"]]
            a = [x]
            for W, b, name in zip(Ws, bs, acts, strict=True):
                a.append(act(name, a[-1] @ W.T + b))
            d = (a[-1] - y) / len(x)
            grads_W, grads_b = [], []
            for layer in range(len(Ws) - 1, -1, -1):
                grads_W.append(d.T @ a[layer])
                grads_b.append(d.sum(axis=0))
                if layer:
                    d = d @ Ws[layer]
                    d *= (a[layer] > 0) if acts[layer - 1] == "relu" else a[layer] * (1 - a[layer])
            for p, g, v in zip(Ws + bs, grads_W[::-1] + grads_b[::-1], vel, strict=True):
                if mu:
                    v *= mu
                    v -= lr * g
                    p += v
                else:
                    p -= lr * g

    return epoch


def setup_torch(case: dict, dtype: str) -> Epoch | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = case["net"]
    X, Y = data(case, dtype)
    tdtype = getattr(torch, dtype)
    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(net.widths, net.widths[1:], strict=False)):
        layers.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
        name = net.layers[i].activation
        if i < net.depth - 1:  # the output's softmax/sigmoid lives in the loss
            layers.append(torch.nn.ReLU() if name == "relu" else torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    lossf = (
        torch.nn.CrossEntropyLoss() if net.loss == "cross_entropy" else torch.nn.BCEWithLogitsLoss()
    )
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=_momentum(case))
    tX, tY = torch.tensor(X), torch.tensor(Y)
    gen = torch.Generator().manual_seed(0)

    def epoch() -> None:
        order = torch.randperm(len(tX), generator=gen)
        Xs, Ys = tX[order], tY[order]
        for s in range(0, len(tX), case["batch"]):
            opt.zero_grad()
            out = lossf(model(Xs[s : s + case["batch"]]), Ys[s : s + case["batch"]])
            out.backward()
            opt.step()

    return epoch


def setup_sklearn(case: dict, dtype: str) -> Epoch | None:
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    net = case["net"]
    X, Y = data(case, dtype)
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(net.widths[1:-1]),
        activation="relu" if net.layers[0].activation == "relu" else "logistic",
        solver="sgd",
        batch_size=case["batch"],
        learning_rate_init=LEARNING_RATE,
        momentum=_momentum(case),
        nesterovs_momentum=False,
        alpha=0.0,  # no L2 term: the same objective as the other tools
        max_iter=1,
        random_state=0,
        shuffle=True,
    )
    y = Y if Y.ndim == 1 else Y[:, 0].astype(np.int64)
    classes = np.unique(y)

    def epoch() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)

    return epoch


def setup_jax(case: dict, dtype: str, *, scan: bool = False) -> Epoch | None:
    """JAX with a jitted training step called once per mini-batch (the usual JAX loop), or,
    with ``scan``, a whole epoch compiled as one ``lax.scan`` over the mini-batches."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", dtype == "float64")
    import jax.numpy as jnp

    net = case["net"]
    X, Y = data(case, dtype)
    if Y.ndim == 1:
        Y = np.eye(net.widths[-1], dtype=dtype)[Y]
    rng = np.random.default_rng(0)
    params = [
        (jnp.asarray(rng.normal(0, 0.1, (o, i)).astype(dtype)), jnp.zeros(o, dtype))
        for i, o in zip(net.widths, net.widths[1:], strict=False)
    ]
    vel = jax.tree_util.tree_map(jnp.zeros_like, params)
    hidden = jax.nn.relu if net.layers[0].activation == "relu" else jax.nn.sigmoid
    lr, mu = LEARNING_RATE, _momentum(case)

    def loss(ps, x, y):
        a = x
        for W, b in ps[:-1]:
            a = hidden(a @ W.T + b)
        W, b = ps[-1]
        z = a @ W.T + b
        if net.loss == "cross_entropy":
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), axis=1))
        return jnp.mean(jnp.sum(y * jax.nn.softplus(-z) + (1 - y) * jax.nn.softplus(z), axis=1))

    def update(state, batch):
        ps, vs = state
        grads = jax.grad(loss)(ps, *batch)
        vs = jax.tree_util.tree_map(lambda v, g: mu * v - lr * g, vs, grads)
        return (jax.tree_util.tree_map(lambda p, v: p + v, ps, vs), vs), None

    step = jax.jit(lambda state, x, y: update(state, (x, y))[0])
    whole = jax.jit(lambda state, xs, ys: jax.lax.scan(update, state, (xs, ys))[0])
    state = [(params, vel)]
    B = case["batch"]
    n_full = len(X) // B * B

    def epoch() -> None:
        order = rng.permutation(len(X))
        Xs, Ys = X[order], Y[order]
        st = state[0]
        if scan:
            shape = (-1, B)
            st = whole(
                st, Xs[:n_full].reshape(*shape, X.shape[1]), Ys[:n_full].reshape(*shape, Y.shape[1])
            )
            if n_full < len(X):
                st = step(st, Xs[n_full:], Ys[n_full:])
        else:
            for s in range(0, len(X), B):
                st = step(st, Xs[s : s + B], Ys[s : s + B])
        jax.block_until_ready(st)
        state[0] = st

    return epoch


SETUPS = {
    "generated": setup_generated,
    "compiled": setup_compiled,
    "hand NumPy": setup_hand,
    "torch eager": setup_torch,
    "sklearn": setup_sklearn,
    "JAX jit": setup_jax,
    "JAX scan": lambda case, dtype: setup_jax(case, dtype, scan=True),
}


def gemm_bound(case: dict, dtype: str) -> Epoch:
    """The matrix products of one epoch's training steps alone: z^l = a W^lᵀ (L products),
    ∂W^l = δᵀ a (L) and δ W^l (L − 1), on preallocated arrays."""
    widths, B, n = case["net"].widths, case["batch"], case["n"]
    rng = np.random.default_rng(0)
    Ws = [rng.random((o, i)).astype(dtype) for i, o in zip(widths, widths[1:], strict=False)]
    A = [rng.random((B, w)).astype(dtype) for w in widths]
    Z = [np.empty((B, w), dtype) for w in widths[1:]]
    G = [np.empty_like(W) for W in Ws]
    D = [np.empty((B, w), dtype) for w in widths[:-1]]

    def epoch() -> None:
        for _ in range(n // B):
            for layer, W in enumerate(Ws):
                np.matmul(A[layer], W.T, out=Z[layer])
            for layer, W in enumerate(Ws):
                np.matmul(Z[layer].T, A[layer], out=G[layer])
                if layer:
                    np.matmul(Z[layer], W, out=D[layer])

    return epoch


# --- --gemm: the GFLOP/s of each library's matrix products on (a)'s and (b)'s shapes ------


def _gemm_operands(case: dict, dtype: str) -> dict[str, list[np.ndarray]]:
    """A training step's operands as the compiled module holds them: [a^{l−1} 1] (B, n+1),
    [W^l | b^l], z^l, δ^l, the gradient blocks and (W^l)ᵀ δ^l with b's column."""
    widths, B = case["net"].widths, case["batch"]
    rng = np.random.default_rng(0)
    pairs = list(zip(widths, widths[1:], strict=False))
    return {
        "a": [rng.random((B, i + 1)).astype(dtype) for i, _ in pairs],
        "W": [rng.normal(0, 0.05, (o, i + 1)).astype(dtype) for i, o in pairs],
        "z": [np.empty((B, o), dtype) for _, o in pairs],
        "d": [rng.normal(0, 0.01, (B, o)).astype(dtype) for _, o in pairs],
        "G": [np.empty((o, i + 1), dtype) for i, o in pairs],
        "back": [np.empty((B, i + 1), dtype) for i, _ in pairs[1:]],
    }


def _gemm_sequences(case: dict, dtype: str) -> dict[str, Callable[[], object]]:
    """One training step's matrix products in the step's order (z^l for l = 1..L, then per
    layer from L down ∂C/∂[W^l | b^l] and (W^l)ᵀ δ^l), as each library runs them: NumPy's
    ``matmul`` (OpenBLAS), ``np.dot`` inside Numba (SciPy's OpenBLAS), the compiled module's
    rule (``_dot_nt`` where it picks it, else ``np.dot``), and XLA (``jax.jit`` of the whole
    sequence). Each runs 20 steps per call: products timed in a step's company, not one
    product repeated (OpenBLAS runs (b)'s z^1 product at a third of its rate when it is
    repeated back to back in a fresh process, and at its usual rate between other products)."""
    import numba

    ops = _gemm_operands(case, dtype)
    widths = case["net"].widths
    with tempfile.TemporaryDirectory() as tmp:
        module = import_compiled(
            write_numba_module(case["net"], Path(tmp) / "g.py", spec="bench", dtype=dtype),
            f"bench_gemm_{case['net'].name}_{dtype}",
        )
    dot_nt = module._dot_nt
    forward_dot = np.array([use_dot(i + 1) for i in widths[:-1]])
    t = {k: tuple(v) for k, v in ops.items()}

    @numba.njit
    def in_numba(a, W, z, d, G, back, fwd, rule, steps):  # noqa: ANN001
        L = len(a)
        for _ in range(steps):
            for l in range(L):
                if rule and fwd[l]:
                    dot_nt(a[l], W[l], z[l])
                else:
                    np.dot(a[l], W[l].T, z[l])
            for l in range(L - 1, -1, -1):
                np.dot(d[l].T, a[l], G[l])
                if l:
                    np.dot(d[l], W[l], back[l - 1])

    def numba_run(rule: bool) -> Callable[[], object]:
        args = (t["a"], t["W"], t["z"], t["d"], t["G"], t["back"])
        return lambda: in_numba(*args, forward_dot, rule, 20)

    def numpy_run() -> None:
        L = len(ops["a"])
        for _ in range(20):
            for l in range(L):
                np.matmul(ops["a"][l], ops["W"][l].T, out=ops["z"][l])
            for l in range(L - 1, -1, -1):
                np.matmul(ops["d"][l].T, ops["a"][l], out=ops["G"][l])
                if l:
                    np.matmul(ops["d"][l], ops["W"][l], out=ops["back"][l - 1])

    runs: dict[str, Callable[[], object]] = {
        "NumPy": numpy_run,
        "Numba np.dot": numba_run(False),
        "compiled rule": numba_run(True),
    }
    try:
        import jax
    except ImportError:
        return runs
    jax.config.update("jax_enable_x64", dtype == "float64")

    def products(a, W, d):  # noqa: ANN001
        zs = [x @ w.T for x, w in zip(a, W, strict=True)]
        return (
            zs,
            [y.T @ x for y, x in zip(d, a, strict=True)],
            [y @ w for y, w in zip(d[1:], W[1:], strict=True)],
        )

    def xla_steps(a, W, d):  # noqa: ANN001
        # Twenty steps in one call, W and δ nudged by each step's products so that none is
        # hoisted out of the loop.
        def body(carry, _):
            W, d = carry
            zs, gs, backs = products(a, W, d)
            W = [w + 1e-9 * g for w, g in zip(W, gs, strict=True)]
            return (W, [y + 1e-9 * z for y, z in zip(d, zs, strict=True)]), backs

        return jax.lax.scan(body, (W, d), None, length=20)

    xla = jax.jit(xla_steps)
    jax_ops = [[jax.numpy.asarray(x) for x in ops[k]] for k in ("a", "W", "d")]
    runs["XLA"] = lambda: jax.block_until_ready(xla(*jax_ops))
    return runs


def _gemm_flops(case: dict) -> int:
    """Floating-point operations of one step's products: 2·B·(n_{l−1}+1)·n_l for z^l and for
    ∂C/∂[W^l | b^l], 2·B·n_l·(n_{l−1}+1) for (W^l)ᵀ δ^l, l ≥ 2."""
    widths, B = case["net"].widths, case["batch"]
    per_layer = [2 * B * (i + 1) * o for i, o in zip(widths, widths[1:], strict=False)]
    return 2 * sum(per_layer) + sum(per_layer[1:])


def run_gemm(cases: str, dtype: str, rounds: int) -> None:
    """Print the GFLOP/s of each library on a step's products of each case, in sequence
    (best of ``rounds`` interleaved rounds)."""
    print(f"GFLOP/s of one training step's matrix products in sequence, {PLACE}, {dtype}")
    for name in cases:
        case = CASES[name]
        runs = _gemm_sequences(case, dtype)
        flops = 20 * _gemm_flops(case)
        for run in runs.values():
            run()
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(rounds):
            for tool, run in runs.items():
                start = time.perf_counter()
                run()
                best[tool] = min(best[tool], time.perf_counter() - start)
        cells = ", ".join(f"{tool} {flops / seconds / 1e9:.1f}" for tool, seconds in best.items())
        shape = f"{'-'.join(map(str, case['net'].widths))}, batch {case['batch']}"
        print(f"({name}) {shape}: {cells}", flush=True)


# --- measuring -----------------------------------------------------------------------------


def measure(
    epochs: dict[str, Epoch], n: int, seconds: float, rounds: int
) -> dict[str, list[float]]:
    """Samples/s of each epoch function in each of ``rounds`` rounds; a round runs every
    tool in turn for about ``seconds / rounds`` (at least one epoch), after one untimed
    epoch that brings the tool's own data back into cache: the tool that ran before it has
    evicted them, which a program training with one tool would not see."""
    for run in epochs.values():
        run()  # warm-up: imports, jit compilation, first allocations
    rates: dict[str, list[float]] = {name: [] for name in epochs}
    for _ in range(rounds):
        for name, run in epochs.items():
            run()
            count, start = 0, time.perf_counter()
            while True:
                run()
                count += 1
                elapsed = time.perf_counter() - start
                if elapsed >= seconds / rounds:
                    break
            rates[name].append(count * n / elapsed)
    return rates


def ratio(rates: dict[str, list[float]], tool: str, peer: str, q: float = 0.5) -> float:
    """The median (or quantile ``q``) over rounds of ``tool``'s samples/s over ``peer``'s in
    the same round: tools measured seconds apart, so a machine whose speed drifts over
    minutes moves both."""
    return float(np.quantile(np.divide(rates[tool], rates[peer]), q))


def spread(rates: dict[str, list[float]], tool: str, peer: str, percent: bool = False) -> str:
    """The quartiles of the per-round ratios, "25%–75%": how far one round's ratio strays
    from the median on this machine."""
    low, high = ratio(rates, tool, peer, 0.25), ratio(rates, tool, peer, 0.75)
    return f"{low:.0%}–{high:.0%}" if percent else f"{low:.2f}–{high:.2f}"


def _rss_mb() -> float:
    """Peak resident set of this process, MB. VmHWM belongs to the address space, so unlike
    ``ru_maxrss`` it does not inherit the parent's peak across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: KiB


def peak_memory_child(tool: str, case_name: str, dtype: str) -> None:
    """(In a child process.) Print, in MB, the peak resident set of the whole process after
    one epoch (interpreter, libraries, data and training) and the peak of the memory the
    epoch itself allocated as traced by ``tracemalloc`` (NumPy reports its arrays to it;
    PyTorch and JAX allocate outside it, so theirs is None)."""
    run = SETUPS[tool](CASES[case_name], dtype)
    if run is None:
        print(json.dumps(None))
        return
    traced = None
    if tool in ("generated", "hand NumPy", "sklearn"):
        tracemalloc.start()
        run()
        traced = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    else:
        run()
    print(json.dumps([_rss_mb(), traced]))


def peak_memory(tool: str, case_name: str, dtype: str, optimizer: str) -> list | None:
    done = subprocess.run(
        [sys.executable, __file__, "--memory-of", tool, case_name, dtype, "--optimizer", optimizer],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def kinds_network() -> Network:
    """Case (d): 784-256-256-10 with batch norm and dropout after each hidden dense layer."""
    hidden = [Dense(256), BatchNorm("relu"), Dropout(0.2)]
    return Network(
        inputs=784,
        layers=[*hidden, *hidden, Dense(10, "softmax")],
        loss="cross_entropy",
        name="bench_d",
        training=Training(optimizer="momentum", momentum=MOMENTUM, learning_rate=LEARNING_RATE),
    )


def run_kinds(epochs: int, dtype: str) -> None:
    """Train case (d) for ``epochs`` epochs: seconds and loss per epoch, test accuracy."""
    net = kinds_network()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        m = import_generated(write_module(net, Path(tmp) / "m.py", spec="bench", dtype=dtype))
    dense = [net.inputs] + [ly.width for ly in net.layers if ly.kind == "dense"]
    print(
        f"(d) {'-'.join(map(str, dense))} with batch norm and dropout; generated in "
        f"{time.perf_counter() - start:.1f} s, {dtype}, {PLACE}"
    )
    rng = np.random.default_rng(0)
    X = rng.random((70_000, 784)).astype(dtype)
    labels = np.argmax((X - 0.5) @ rng.standard_normal((784, 10)), axis=1)
    X_train, Y_train, X_test, Y_test = X[:60_000], labels[:60_000], X[60_000:], labels[60_000:]
    for label, module in (("batch norm and dropout", m), ("plain (dense chain)", None)):
        if module is None:  # the same dense layers without the new kinds, for scale
            plain = _net(
                "bench_d0", [784, 256, 256, 10], "relu", "softmax", "cross_entropy", "momentum"
            )
            with tempfile.TemporaryDirectory() as tmp:
                module = import_generated(
                    write_module(plain, Path(tmp) / "m.py", spec="bench", dtype=dtype)
                )
        print(f"  {label}:")
        params = module.init_params(0)
        last = [time.perf_counter()]

        def report(epoch: int, loss: float, current: dict, last: list[float] = last) -> None:
            now = time.perf_counter()
            print(f"    epoch {epoch}: {now - last[0]:6.1f} s, loss {loss:.4f}", flush=True)
            last[0] = time.perf_counter()  # the report's own time is not the epoch's

        module.train(
            params,
            X_train,
            Y_train,
            epochs=epochs,
            learning_rate=LEARNING_RATE,
            batch_size=128,
            seed=0,
            optimizer="momentum",
            momentum=MOMENTUM,
            callback=report,
        )
        accuracy = module._accuracy(params, X_test, Y_test)
        print(f"    test accuracy {accuracy:.4f} (chance 0.1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kinds",
        type=int,
        nargs="?",
        const=3,
        default=None,
        metavar="EPOCHS",
        help="run case (d), batch norm and dropout, for EPOCHS epochs (3)",
    )
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--cases", default="abc", help="which of a, b, c to run")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per tool and case")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--optimizer",
        default=OPTIMIZERS[0],
        choices=OPTIMIZERS,
        help="how (a) and (b) train: SGD with momentum 0.9, or plain SGD ((c) is always plain)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument(
        "--gemm",
        action="store_true",
        help="print each library's GFLOP/s on the matrix products of (a)'s and (b)'s steps",
    )
    parser.add_argument(
        "--core", type=int, help="the CPU core every tool runs on (the highest allowed)"
    )
    parser.add_argument("--memory-of", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kinds is not None:
        run_kinds(args.kinds, args.dtype)
        return
    CASES.update(_cases(args.optimizer))
    if args.gemm:
        run_gemm(args.cases.replace("c", ""), args.dtype, args.rounds)
        return
    if args.memory_of:
        peak_memory_child(*args.memory_of)
        return
    print(
        f"samples/s (best of {args.rounds} rounds) and ratios (median over rounds),"
        f" {PLACE}, {args.dtype}, (a) and (b) trained by {args.optimizer}"
    )
    header = " ".join(f"{t:>12}" for t in TOOLS)
    print(f"{'case':5} {header}   generated ÷ {', '.join(TOOLS[1:])}; ÷ GEMM bound")
    for name in args.cases:
        case = CASES[name]
        epochs = {t: SETUPS[t](case, args.dtype) for t in TOOLS}
        present = {t: run for t, run in epochs.items() if run is not None}
        if name == "b":
            present["GEMM bound"] = gemm_bound(case, args.dtype)
        rates = measure(present, case["n"], args.seconds, args.rounds)
        cells = [f"{max(rates[t]):>12,.0f}" if t in rates else f"{'—':>12}" for t in TOOLS]
        ratios = [
            f"{ratio(rates, 'generated', t):>7.2f}×" if t in rates else f"{'—':>8}"
            for t in TOOLS[1:]
        ]
        bound = f"{ratio(rates, 'generated', 'GEMM bound'):>8.0%}" if "GEMM bound" in rates else ""
        print(f"({name})  " + " ".join(cells) + "  " + " ".join(ratios) + "  " + bound, flush=True)
        quartiles = [f"{t} {spread(rates, 'generated', t)}" for t in TOOLS[1:] if t in rates]
        if "GEMM bound" in rates:
            quartiles.append(f"GEMM bound {spread(rates, 'generated', 'GEMM bound', True)}")
        print("      per-round ratio quartiles: " + ", ".join(quartiles), flush=True)
        if "compiled" in rates:
            peers = [t for t in ("generated", "hand NumPy", "JAX jit", "JAX scan") if t in rates]
            shown = [
                f"{t} {ratio(rates, 'compiled', t):.2f}× ({spread(rates, 'compiled', t)})"
                for t in peers
            ]
            print("      compiled ÷ " + ", ".join(shown), flush=True)
            seconds = COMPILE_SECONDS[case["net"].name]
            print(f"      compiled: compile time {seconds:.2f} s (not in samples/s)", flush=True)
    if not args.no_memory:
        print(
            "\npeak memory, MB: whole process after one epoch (imports, data, training)"
            " / allocated by the epoch (tracemalloc; NumPy-based tools only)"
        )
        print(f"{'case':5} {header}")
        for name in args.cases:
            cells = []
            for tool in TOOLS:
                peak = peak_memory(tool, name, args.dtype, args.optimizer)
                if peak is None:
                    cells.append(f"{'—':>12}")
                else:
                    traced = "—" if peak[1] is None else f"{peak[1]:.1f}"
                    cells.append(f"{f'{peak[0]:.0f} / {traced}':>12}")
            print(f"({name})  " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
