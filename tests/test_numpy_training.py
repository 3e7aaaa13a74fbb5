"""Training with the generated modules: XOR, digits vs scikit-learn, seeds, dtypes, resume."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_numpy_support import ROOT, build, perturbed_params, targets

from symprop import Dense, Network, load_spec
from symprop.codegen.numpy.emit import import_generated, write_module

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def test_xor_is_learned_by_per_sample_sgd() -> None:
    # Seeds 002/003: a 2-4-1 sigmoid network with log loss, one sample per step.
    spec = load_spec(ROOT / "examples" / "xor.toml")
    tr = spec.training
    assert tr.batch_size == 1 and tr.optimizer == "sgd"
    m = import_generated(ROOT / "generated" / "xor.py")
    params = m.init_params(tr.seed)
    history = m.train(
        params,
        XOR_X,
        XOR_Y,
        epochs=tr.epochs,
        learning_rate=tr.learning_rate,
        batch_size=tr.batch_size,
        seed=tr.seed,
    )
    assert history[-1] < 0.1 < history[0]
    assert np.array_equal(m.predict(params, XOR_X)[:, 0], XOR_Y.astype(int))


def _digits_split():
    sklearn = pytest.importorskip("sklearn")
    del sklearn
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return train_test_split(digits.data / 16.0, digits.target, test_size=0.2, random_state=0)


def test_digits_reaches_97_percent_and_matches_sklearn() -> None:
    from sklearn.neural_network import MLPClassifier

    X_train, X_test, y_train, y_test = _digits_split()
    spec = load_spec(ROOT / "examples" / "digits.toml")
    tr = spec.training
    m = import_generated(ROOT / "generated" / "digits.py")
    params = m.init_params(tr.seed)
    m.train(
        params,
        X_train,
        y_train,
        epochs=tr.epochs,
        learning_rate=tr.learning_rate,
        batch_size=tr.batch_size,
        seed=tr.seed,
        optimizer=tr.optimizer,
        momentum=tr.momentum,
    )
    ours = float(np.mean(m.predict(params, X_test) == y_test))
    # scikit-learn with the same architecture, epochs and batch size: its default solver
    # (Adam) and the same optimiser as ours (momentum SGD, same rate and momentum).
    hidden = tuple(layer.width for layer in spec.layers[:-1])
    theirs = []
    for options in (
        {},
        {
            "solver": "sgd",
            "learning_rate_init": tr.learning_rate,
            "momentum": tr.momentum,
            "nesterovs_momentum": False,
        },
    ):
        clf = MLPClassifier(
            hidden_layer_sizes=hidden,
            max_iter=tr.epochs,
            batch_size=tr.batch_size,
            random_state=0,
            **options,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
            clf.fit(X_train, y_train)
        theirs.append(clf.score(X_test, y_test))
    print(f"digits test accuracy: symprop {ours:.4f}, sklearn (adam, sgd) {theirs}")
    assert ours >= 0.97
    assert ours >= max(theirs)


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    m = import_generated(ROOT / "generated" / "relu_sigmoid.py")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    runs = []
    for seed in (0, 0, 1):
        params = m.init_params(seed)
        m.train(params, X, Y, epochs=5, learning_rate=0.1, batch_size=8, seed=seed)
        runs.append(params)
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(np.array_equal(runs[0][k], runs[2][k]) for k in runs[0])


@pytest.mark.parametrize("optimizer, momentum", [("sgd", 0.0), ("momentum", 0.9), ("adam", 0.0)])
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_optimizers_decrease_the_loss(optimizer: str, momentum: float, batch_size: int) -> None:
    # Per-sample, mini-batch (with a short last batch: 30 = 4·7 + 2) and full batch.
    net = Network(
        inputs=3, layers=[Dense(5, "tanh"), Dense(2, "identity")], loss="half_sse", l2=0.001
    )
    m = build(net)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    Y = np.stack([X[:, 0] - X[:, 1], X[:, 2] ** 2], axis=1)
    params = m.init_params(0)
    before = m.loss(params, X, Y)
    # Momentum multiplies the step by about 1/(1 − μ) = 10: a tenth of SGD's rate.
    lr = {"sgd": 0.05, "momentum": 0.005, "adam": 0.01}[optimizer]
    history = m.train(
        params,
        X,
        Y,
        epochs=30,
        learning_rate=lr,
        batch_size=batch_size,
        seed=0,
        optimizer=optimizer,
        momentum=momentum,
    )
    assert len(history) == 30
    assert m.loss(params, X, Y) < 0.7 * before


def test_sgd_step_is_the_gradient_step() -> None:
    # One full-batch SGD epoch is exactly θ − η ∇J (the update rule of the derivation).
    net = Network(
        inputs=2,
        layers=[Dense(3, "elu"), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
        l2=0.01,
    )
    m = build(net)
    rng = np.random.default_rng(0)
    params = perturbed_params(m, rng)
    X, Y = rng.standard_normal((6, 2)), targets(net, 6, rng)
    grads = m.gradients(params, X, Y)
    expected = {k: params[k] - 0.1 * grads[k] for k in params}
    m.train(params, X, Y, epochs=1, learning_rate=0.1, batch_size=6, seed=0)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch_by_batch_shuffling_trains_the_same_weights(
    dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large data is gathered batch by batch into the step's buffers, small data once per
    # epoch: the same rows in the same order. Gathered batches carry no column of ones, so
    # b^1 is added on its own rather than inside the product: the same sums in another
    # order, equal to rounding (a row out of place would differ in the leading digits).
    net = Network(inputs=5, layers=[Dense(4, "relu"), Dense(3, "softmax")], loss="cross_entropy")
    m = build(net, dtype)
    rng = np.random.default_rng(4)
    X, labels = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    runs = []
    for limit in (1 << 40, 0):
        monkeypatch.setattr(m, "_GATHER_AT_ONCE", limit)
        params = m.init_params(1)
        history = m.train(
            params,
            X,
            labels,
            epochs=3,
            learning_rate=0.1,
            batch_size=8,
            seed=2,
            optimizer="momentum",
            momentum=0.5,
        )
        runs.append((history, params))
    (h1, p1), (h2, p2) = runs
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(h1, h2, rtol=8 * eps)
    for key in p1:
        assert p1[key].dtype == np.dtype(dtype)
        np.testing.assert_allclose(p1[key], p2[key], rtol=8 * eps, atol=8 * eps)
    assert not np.array_equal(p1["W1"], m.init_params(1)["W1"])


def test_large_data_with_nan_fails_without_touching_params(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Large data is checked for NaN and infinity batch by batch during the first epoch:
    # the error comes before the batch is used, and params are left as they were.
    net = Network(inputs=5, layers=[Dense(4, "relu"), Dense(3, "softmax")], loss="cross_entropy")
    m = build(net)
    monkeypatch.setattr(m, "_GATHER_AT_ONCE", 0)
    rng = np.random.default_rng(4)
    X, labels = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    seen: list[tuple] = []

    def record(*args: object) -> None:
        seen.append(args)

    for bad in (np.nan, np.inf):
        X_bad = X.copy()
        X_bad[37, 2] = bad
        params = m.init_params(1)
        before = {k: v.copy() for k, v in params.items()}
        with pytest.raises(ValueError, match="X: contains NaN or infinity"):
            m.train(
                params,
                X_bad,
                labels,
                epochs=2,
                learning_rate=0.1,
                batch_size=8,
                seed=2,
                callback=record,
            )
        assert seen == []
        assert all(np.array_equal(params[k], before[k]) for k in params)
    # Clean data trains, and the check stops after the first epoch's pass.
    trainer = m._Trainer(
        m.init_params(1),
        X,
        labels,
        learning_rate=0.1,
        batch_size=8,
        seed=2,
        optimizer="sgd",
        momentum=0.0,
    )
    assert trainer.unchecked
    trainer.run_epoch()
    assert not trainer.unchecked


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_float32_training_never_upcasts(optimizer: str) -> None:
    m = build(
        Network(
            inputs=64,
            layers=[Dense(16, "relu"), Dense(10, "softmax")],
            loss="cross_entropy",
            l2=1e-4,
        ),
        "float32",
    )
    assert m.DTYPE == np.float32
    params = m.init_params(0)
    assert all(v.dtype == np.float32 for v in params.values())
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), rng.integers(0, 10, 40)  # float64 data: converted once
    originals = {k: id(v) for k, v in params.items()}
    history = m.train(
        params,
        X,
        y,
        epochs=3,
        learning_rate=0.05,
        batch_size=8,
        seed=0,
        optimizer=optimizer,
        momentum=0.9 if optimizer == "momentum" else 0.0,
    )
    assert all(np.isfinite(history))
    assert all(v.dtype == np.float32 for v in params.values())
    assert {k: id(v) for k, v in params.items()} == originals, "trained in place"
    assert all(g.dtype == np.float32 for g in m.gradients(params, X, y).values())
    assert m.forward(params, X).dtype == np.float32


def test_callback_sees_every_epoch() -> None:
    m = import_generated(ROOT / "generated" / "xor.py")
    seen = []
    m.train(
        m.init_params(0),
        XOR_X,
        XOR_Y,
        epochs=3,
        learning_rate=0.5,
        batch_size=1,
        seed=0,
        callback=lambda epoch, value, params: seen.append((epoch, value, sorted(params))),
    )
    assert [s[0] for s in seen] == [1, 2, 3]
    assert seen[0][2] == ["W1", "W2", "b1", "b2"]


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "generated" / "digits.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_command_line_checkpoint_resumes_bitwise(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((120, 64))
    y = rng.integers(0, 10, 120)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    common = [
        "--data",
        "data.npz",
        "--batch-size",
        "16",
        "--optimizer",
        "adam",
        "--learning-rate",
        "0.01",
    ]
    full = _run_cli(*common, "--epochs", "4", "--save", "full.npz", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    lines = full.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("epoch 4/4  loss") and "accuracy" in lines[-1]
    # Interrupted after 2 epochs, then resumed from the checkpoint up to 4.
    first = _run_cli(*common, "--epochs", "2", "--checkpoint", "ck.npz", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = _run_cli(
        *common, "--epochs", "4", "--checkpoint", "ck.npz", "--save", "resumed.npz", cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr
    assert "resumed from ck.npz after epoch 2" in second.stdout
    assert second.stdout.strip().splitlines()[-1] == lines[-1]
    with np.load(tmp_path / "full.npz") as a, np.load(tmp_path / "resumed.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert a[key].tobytes() == b[key].tobytes(), key
    # Resuming with other settings is refused, naming the problem.
    other = _run_cli("--data", "data.npz", "--epochs", "5", "--checkpoint", "ck.npz", cwd=tmp_path)
    assert other.returncode == 2 and "settings" in other.stderr


def test_command_line_reads_csv_and_reports_bad_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    table = np.hstack([rng.random((30, 64)), rng.integers(0, 10, (30, 1))])
    np.savetxt(tmp_path / "d.csv", table, delimiter=",")
    ok = _run_cli("--data", "d.csv", "--epochs", "1", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    table[0, -1] = 12
    np.savetxt(tmp_path / "bad.csv", table, delimiter=",")
    bad = _run_cli("--data", "bad.csv", "--epochs", "1", cwd=tmp_path)
    assert bad.returncode == 2 and "labels out of range" in bad.stderr


def test_symprop_train_command(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((40, 2))
    np.savez(tmp_path / "xor.npz", X=X, y=(X.sum(axis=1) > 1).astype(float))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "symprop.cli.main",
            "train",
            str(ROOT / "examples" / "xor.toml"),
            "--data",
            str(tmp_path / "xor.npz"),
            "--epochs",
            "20",
            "--save",
            str(tmp_path / "p.npz"),
            "-o",
            str(tmp_path / "xor.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and "module:" in done.stdout
    assert (tmp_path / "p.npz").is_file() and (tmp_path / "xor.py").is_file()
    missing = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "train", "--data", str(tmp_path / "nope.npz")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_large_network_updating_layer_by_layer_follows_the_update_rules(optimizer: str) -> None:
    # Over 65,536 parameters the module updates each layer's block during backprop. Its
    # trajectory must be the textbook one, rebuilt here from gradients() and the rules.
    net = Network(
        inputs=300,
        layers=[Dense(220, "relu"), Dense(10, "softmax")],
        loss="cross_entropy",
        l2=0.001,
    )
    m = build(net)
    assert net.n_params > 65_536 and "update(0)" in Path(m.__file__).read_text(encoding="utf-8")
    rng = np.random.default_rng(8)
    X, labels = rng.standard_normal((12, 300)), rng.integers(0, 10, 12)
    lr, mu = 0.05, 0.9 if optimizer == "momentum" else 0.0
    params = m.init_params(3)
    expected = {k: v.copy() for k, v in params.items()}
    first = {k: np.zeros_like(v) for k, v in params.items()}
    second = {k: np.zeros_like(v) for k, v in params.items()}
    order_rng, t = np.random.default_rng(5), 0
    for _ in range(2):
        order = order_rng.permutation(12)
        for start in range(0, 12, 4):
            rows = order[start : start + 4]
            grads = m.gradients(expected, X[rows], labels[rows])
            t += 1
            for k, g in grads.items():
                if optimizer == "sgd":
                    expected[k] -= lr * g
                elif optimizer == "momentum":
                    first[k] = mu * first[k] - lr * g
                    expected[k] += first[k]
                else:
                    first[k] = 0.9 * first[k] + 0.1 * g
                    second[k] = 0.999 * second[k] + 0.001 * g * g
                    m_hat, s_hat = first[k] / (1 - 0.9**t), second[k] / (1 - 0.999**t)
                    expected[k] -= lr * m_hat / (np.sqrt(s_hat) + 1e-8)
    m.train(
        params,
        X,
        labels,
        epochs=2,
        learning_rate=lr,
        batch_size=4,
        seed=5,
        optimizer=optimizer,
        momentum=mu,
    )
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-9, atol=1e-12)
    assert not np.allclose(params["W1"], m.init_params(3)["W1"])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("limit", [1 << 40, 0], ids=["shuffled-whole", "gathered"])
def test_scratch_memory_given_back_changes_nothing(
    optimizer: str, limit: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # train() hands its scratch arrays, step buffers and shuffling generator to the next
    # call. A call that reuses them (after calls on other data and with another seed; the
    # scratch arrays, uninitialised by contract, are filled with NaN) must give bitwise the
    # weights and losses of a call in a module that has never trained. The generator is
    # reset to its seed's starting state, cached by the second call: the first call's seed
    # is cached too, so a cache that mixed seeds up would show.
    net = Network(
        inputs=5, layers=[Dense(4, "tanh"), Dense(3, "softmax")], loss="cross_entropy", l2=0.01
    )
    path = write_module(net, tmp_path / "fresh.py", spec="test")
    used, fresh = (import_generated(path, f"scratch_{name}") for name in ("used", "fresh"))
    for m in (used, fresh):
        monkeypatch.setattr(m, "_GATHER_AT_ONCE", limit)
    rng = np.random.default_rng(9)
    X, labels = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    settings = dict(epochs=2, learning_rate=0.1, batch_size=8, seed=3, optimizer=optimizer)
    if optimizer == "momentum":
        settings["momentum"] = 0.5
    other = used.init_params(5)
    seen: list[np.ndarray] = []  # views of the parameters a callback could keep

    def keep(epoch: int, loss: float, params: dict[str, np.ndarray]) -> None:
        seen.extend(params.values())

    used.train(other, X[::-1] * 3, labels[::-1], **{**settings, "seed": 4}, callback=keep)
    assert used._SPARE and used._SPARE_WORKSPACES and used._SPARE_GENERATORS, "nothing given back"
    step_buffers = [a for ws in used._SPARE_WORKSPACES.values() for a in ws.values()]
    spare = [*(a for arrays in used._SPARE.values() for a in arrays), *step_buffers]
    assert not any(np.shares_memory(a, p) for a in spare for p in [*other.values(), *seen])
    # Without a callback nothing can have kept them: the flat parameters are reused too.
    flat = used._SPARE["<f8"]
    before = len(flat)
    used.train(used.init_params(5), X[::-1] * 3, labels[::-1], **settings)
    assert len(flat) == before + 1
    for arrays in used._SPARE.values():
        for array in arrays:
            array.fill(np.nan)
    runs = []
    for m in (used, fresh):
        params = m.init_params(1)
        runs.append((m.train(params, X, labels, **settings), params))
    (h1, p1), (h2, p2) = runs
    assert h1 == h2
    for key in p1:
        np.testing.assert_array_equal(p1[key], p2[key])


@pytest.mark.parametrize(
    "net",
    [
        Network(inputs=5, layers=[Dense(4, "relu"), Dense(3, "softmax")], loss="cross_entropy"),
        Network(inputs=3, layers=[Dense(2, "sigmoid")], loss="binary_cross_entropy"),
        Network(inputs=4, layers=[Dense(3, "tanh"), Dense(2, "identity")], loss="mse"),
    ],
    ids=["relu-softmax", "one-layer", "tanh-identity"],
)
def test_step_takes_inputs_with_or_without_the_ones_column(net: Network) -> None:
    # The step accepts [a^0 1] (small data, shuffled whole) or a^0 alone (large data,
    # gathered batch by batch; b^1 is then added and summed on its own): the same cost and
    # gradient up to rounding.
    m = build(net)
    rng = np.random.default_rng(6)
    params = perturbed_params(m, rng)
    X = rng.standard_normal((9, net.inputs))
    _, Y = m._check_data(params, X, targets(net, 9, rng))
    blocks = m._blocks(m._flatten(params, np.float64))
    results = []
    for A0 in (m._extend(X), X):
        ws = m._workspace(9, np.dtype(np.float64))
        cost = m._backprop(blocks, A0, Y.T, ws, 1 / 9)
        results.append((cost, ws["grad"].copy()))
    (c1, g1), (c2, g2) = results
    assert c1 == pytest.approx(c2, rel=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-13, atol=1e-15)
    reference = m.gradients(params, X, Y)
    np.testing.assert_allclose(m._views(g2)["b1"], reference["b1"], rtol=1e-13, atol=1e-15)


def test_symprop_train_refuses_a_batch_size_or_data_it_cannot_use_before_training(
    tmp_path: Path,
) -> None:
    # digits_bn normalises over the batch: --batch-size 1 is refused before the progress
    # bar, naming the option and the minimum; so is data of the wrong width (64 inputs).
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.random((30, 64)), y=rng.integers(0, 10, 30))
    np.savez(tmp_path / "w.npz", X=rng.random((30, 5)), y=rng.integers(0, 10, 30))
    spec = str(ROOT / "examples" / "digits_bn.toml")
    cases = {
        ("d.npz", "1"): r"--batch-size: got 1; .*at least 2",
        ("w.npz", "8"): r"--data: X: expected shape .*64\), got \(24, 5\)",
    }
    for (data, batch), message in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "symprop.cli.main", "train", spec, "--data", data]
            + ["--batch-size", batch, "--epochs", "2"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},  # this tree's symprop
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "epoch" not in done.stderr, done.stderr
        assert re.search(message, done.stderr), done.stderr
