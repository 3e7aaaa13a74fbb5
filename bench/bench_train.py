"""Quick training-throughput benchmark of generated modules (not a test).

Samples per second of one training epoch loop, on one thread, for
(a) 64-128-64-10 ReLU/softmax on digits-sized data, batch 32, momentum SGD, and
(c) 2-4-1 sigmoid with binary cross-entropy, batch 1, plain SGD,
for the generated module, a hand-written NumPy MLP, PyTorch eager (CPU) and scikit-learn's
MLPClassifier where installed. Run: ``python bench/bench_train.py [--dtype float32]``.
Set OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 before Python starts (the
script does so when run directly) so that every tool uses one thread.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from symprop import Dense, Network, Training  # noqa: E402
from symprop.emit_numpy import import_generated, write_module  # noqa: E402

CASES = {
    "a": dict(
        net=Network(
            inputs=64,
            layers=[Dense(128, "relu"), Dense(64, "relu"), Dense(10, "softmax")],
            loss="cross_entropy",
            name="bench_a",
            training=Training(optimizer="momentum", momentum=0.9, learning_rate=0.05),
        ),
        n=1797,
        batch=32,
    ),
    "c": dict(
        net=Network(
            inputs=2,
            layers=[Dense(4, "sigmoid"), Dense(1, "sigmoid")],
            loss="binary_cross_entropy",
            name="bench_c",
        ),
        n=400,
        batch=1,
    ),
}


MEASURE_MEMORY = True
PEAKS: list[int] = []


def data(case: dict, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    net = case["net"]
    X = rng.random((case["n"], net.inputs)).astype(dtype)
    if net.loss == "cross_entropy":
        return X, rng.integers(0, net.widths[-1], case["n"])
    return X, (X.sum(axis=1, keepdims=True) > net.inputs / 2).astype(dtype)


def time_epochs(run_epoch, n: int, min_seconds: float = 1.5) -> float:
    run_epoch()  # warm-up
    if MEASURE_MEMORY:
        # tracemalloc slows every allocation: a separate, untimed epoch for the peak.
        tracemalloc.start()
        run_epoch()
        PEAKS.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    epochs, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        run_epoch()
        epochs += 1
    return epochs * n / (time.perf_counter() - start)


def bench_generated(case: dict, dtype: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        m = import_generated(
            write_module(case["net"], Path(tmp) / "m.py", spec="bench", dtype=dtype)
        )
    X, Y = data(case, dtype)
    params = m.init_params(0)
    tr = case["net"].training
    opt = tr.optimizer if case["batch"] > 1 else "sgd"
    mom = tr.momentum if opt == "momentum" else 0.0
    return time_epochs(
        lambda: m.train(
            params,
            X,
            Y,
            epochs=1,
            learning_rate=tr.learning_rate,
            batch_size=case["batch"],
            seed=0,
            optimizer=opt,
            momentum=mom,
        ),
        len(X),
    )


def bench_handwritten(case: dict, dtype: str) -> float:
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
    lr, mu = 0.05, 0.9 if case["batch"] > 1 else 0.0

    def act(name, z):
        if name == "relu":
            return np.maximum(z, 0)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-z))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def epoch():
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
                v *= mu
                v -= lr * g
                p += v

    return time_epochs(epoch, len(X))


def bench_torch(case: dict, dtype: str) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    net = case["net"]
    X, Y = data(case, dtype)
    tdtype = getattr(torch, dtype)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(net.widths, net.widths[1:], strict=False)):
        layers.append(torch.nn.Linear(n_in, n_out, dtype=tdtype))
        name = net.layers[i].activation
        if name == "relu":
            layers.append(torch.nn.ReLU())
        elif name == "sigmoid" and i < net.depth - 1:
            layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    lossf = (
        torch.nn.CrossEntropyLoss() if net.loss == "cross_entropy" else torch.nn.BCEWithLogitsLoss()
    )
    mu = 0.9 if case["batch"] > 1 else 0.0
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=mu)
    tX = torch.tensor(X)
    tY = torch.tensor(Y)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(tX), generator=gen)
        Xs, Ys = tX[order], tY[order]
        for s in range(0, len(tX), case["batch"]):
            opt.zero_grad()
            out = lossf(model(Xs[s : s + case["batch"]]), Ys[s : s + case["batch"]])
            out.backward()
            opt.step()

    return time_epochs(epoch, len(X))


def bench_sklearn(case: dict, dtype: str) -> float | None:
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
        learning_rate_init=0.05,
        momentum=0.9 if case["batch"] > 1 else 0.0,
        max_iter=1,
        random_state=0,
        shuffle=True,
    )
    y = Y if Y.ndim == 1 else Y[:, 0]

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=np.unique(y))

    return time_epochs(epoch, len(X))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = parser.parse_args()
    print(f"samples/s, one thread, {args.dtype}")
    print(f"{'case':5} {'generated':>12} {'hand NumPy':>12} {'torch eager':>12} {'sklearn':>12}")
    for name, case in CASES.items():
        PEAKS.clear()
        row = [
            bench(case, args.dtype)
            for bench in (bench_generated, bench_handwritten, bench_torch, bench_sklearn)
        ]
        cells = ["—" if v is None else f"{v:,.0f}" for v in row]
        peaks = ", ".join(f"{p / 1e6:.2f}" for p in PEAKS)
        print(f"({name})  " + " ".join(f"{c:>12}" for c in cells) + f"   peak MB/epoch: {peaks}")


if __name__ == "__main__":
    main()
