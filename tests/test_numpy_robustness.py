"""Generated modules under hostile use: repeated calls, bad data, damaged files, bad arguments."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from test_numpy_support import ROOT, build, valid_pairs

from symprop import Dense, Network
from symprop.codegen.numpy.emit import import_generated, render_module
from symprop.core.errors import SpecError, SymPropWarning
from symprop.core.registry import ACTIVATIONS, LOSSES, a, y, z

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
            [sys.executable, "-m", "symprop.cli.main", "generate", str(spec), "-o", "m.py"],
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


# --- bad data and arguments ---------------------------------------------------------------


def test_nan_in_large_data_is_found_on_the_per_sample_path() -> None:
    # 400,000 rows are gathered batch by batch and checked as they are; per-sample SGD on
    # Python floats gathers nothing, and used to return [nan] and write NaN into params.
    m = import_generated(GENERATED / "xor.py", "xor_nan")
    rng = np.random.default_rng(0)
    X, labels = rng.random((400_000, 2)), rng.integers(0, 2, 400_000).astype(float)
    X[123_456, 1] = np.nan
    params = m.init_params()
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        m.train(params, X, labels, epochs=1, learning_rate=0.5, batch_size=1, seed=0)
    assert all(np.array_equal(params[k], before[k]) for k in params)


@pytest.mark.parametrize("batch_size", [1, 4], ids=["per-sample", "mini-batch"])
def test_a_diverging_run_raises_value_error_whatever_the_batch_size(batch_size: int) -> None:
    # Before, per-sample SGD on floats raised OverflowError and mini-batches returned inf.
    net = Network(inputs=2, layers=[Dense(3, "tanh"), Dense(1, "identity")], loss="mse")
    m = build(net)
    rng = np.random.default_rng(1)
    X, Y = 100 * rng.standard_normal((8, 2)), 100 * rng.standard_normal(8)
    params = m.init_params()
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"training diverged in epoch \d+ .*learning rate"):
        with np.errstate(all="ignore"):
            m.train(params, X, Y, epochs=50, learning_rate=10.0, batch_size=batch_size, seed=0)
    assert all(np.array_equal(params[k], before[k]) for k in params)


def test_values_beyond_float32_are_not_called_nan() -> None:
    net = Network(inputs=2, layers=[Dense(2, "tanh"), Dense(1, "identity")], loss="mse")
    m = build(net, "float32")
    params = m.init_params()
    X = np.array([[1e39, 0.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"X: values beyond the float32 range"):
        m.loss(params, X, np.zeros(2))
    with pytest.raises(ValueError, match=r"Y: values beyond the float32 range"):
        m.loss(params, X[1:], np.array([-1e300]))
    with pytest.raises(ValueError, match=r"X: contains NaN or infinity"):
        m.loss(params, np.array([[np.inf, 0.0]]), np.zeros(1))


@pytest.mark.parametrize("eps", [0, 0.0, -1e-6, np.nan, np.inf, True, "1e-6"])
def test_gradient_check_refuses_a_useless_eps(eps: object) -> None:
    m = import_generated(GENERATED / "xor.py", "xor_eps")
    with pytest.raises(ValueError, match=r"eps: got .*; must be a finite number > 0"):
        m.gradient_check(m.init_params(), np.ones((2, 2)), np.ones(2), eps=eps)


def test_a_callback_that_cannot_be_called_is_refused_before_training() -> None:
    m = import_generated(GENERATED / "xor.py", "xor_callback")
    epochs: list[int] = []
    m._Trainer.run_epoch, run = (lambda self: epochs.append(1) or 0.0), m._Trainer.run_epoch
    try:
        with pytest.raises(ValueError, match="callback: got int; must be callable"):
            m.train(
                m.init_params(),
                np.ones((2, 2)),
                np.ones(2),
                epochs=3,
                learning_rate=0.1,
                batch_size=1,
                seed=0,
                callback=5,
            )
    finally:
        m._Trainer.run_epoch = run
    assert epochs == []


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff lints the generated modules")
@pytest.mark.parametrize(
    "net",
    [
        # Per-sample float code without a math call once imported math unused (F401).
        Network(inputs=2, layers=[Dense(3, "relu"), Dense(1, "identity")], loss="mse"),
        # ELU's φ' made the backward docstring's line 102 characters long (E501).
        Network(inputs=3, layers=[Dense(4, "elu"), Dense(2, "identity")], loss="mse"),
    ],
    ids=["relu-identity", "elu-identity"],
)
def test_specs_that_gave_lint_errors_give_clean_modules(net: Network, tmp_path: Path) -> None:
    source = render_module(net, spec="test")
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    lint = subprocess.run(
        ["ruff", "check", "--isolated", "--line-length", "100", "--select", "E,F,W,I,B,UP", path],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


# --- files: the module's command line, save and load -------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GENERATED / "xor.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture()
def checkpointed(tmp_path: Path) -> Path:
    """A folder with data.npz and a sound checkpoint ck.npz of one epoch."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", X=rng.random((20, 2)), y=rng.integers(0, 2, 20) * 1.0)
    done = _cli("--data", "data.npz", "--epochs", "1", "--checkpoint", "ck.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def _damaged(folder: Path) -> dict[str, bytes]:
    sound = (folder / "ck.npz").read_bytes()
    buffer = io.BytesIO()
    np.savez(buffer, theta=np.zeros(3))
    meta_less = buffer.getvalue()
    with np.load(folder / "ck.npz") as data:
        arrays = {k: data[k] for k in data.files}
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, "meta": np.array("{not json")})
    bad_json = buffer.getvalue()
    buffer = io.BytesIO()
    np.savez(buffer, **{**arrays, "theta": arrays["theta"][:-1]})
    short_theta = buffer.getvalue()
    return {
        "truncated": sound[: len(sound) // 2],
        "empty": b"",
        "garbage": bytes(range(256)) * 4,
        "meta-less": meta_less,
        "bad JSON": bad_json,
        "wrong-size theta": short_theta,
    }


def test_damaged_checkpoints_give_one_line_naming_the_file(checkpointed: Path) -> None:
    for what, content in _damaged(checkpointed).items():
        path = checkpointed / f"bad {what}.npz"
        path.write_bytes(content)
        done = _cli(
            "--data", "data.npz", "--epochs", "2", "--checkpoint", path.name, cwd=checkpointed
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (what, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: checkpoint "), (what, lines)
        assert path.name in lines[0], what
        assert path.read_bytes() == content, f"{what}: the file was changed"


def test_load_raises_value_error_naming_any_damaged_file(checkpointed: Path) -> None:
    m = import_generated(GENERATED / "xor.py", "xor_load")
    m.save(m.init_params(), checkpointed / "params.npz")
    sound = (checkpointed / "params.npz").read_bytes()
    cases = {**_damaged(checkpointed), "params truncated": sound[:-10], "folder": None}
    for what, content in cases.items():
        path = checkpointed / f"p {what}.npz"
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        with pytest.raises(ValueError, match=re.escape(str(path))):
            m.load(path)


def test_resuming_on_other_data_of_the_same_length_is_refused(checkpointed: Path) -> None:
    rng = np.random.default_rng(1)
    np.savez(checkpointed / "other.npz", X=rng.random((20, 2)), y=rng.integers(0, 2, 20) * 1.0)
    done = _cli("--data", "other.npz", "--epochs", "2", "--checkpoint", "ck.npz", cwd=checkpointed)
    assert done.returncode == 2 and "ck.npz: written while training on other data" in done.stderr
    same = _cli("--data", "data.npz", "--epochs", "2", "--checkpoint", "ck.npz", cwd=checkpointed)
    assert same.returncode == 0 and "resumed from ck.npz after epoch 1" in same.stdout


def test_negative_epochs_are_refused_at_the_command_line(checkpointed: Path) -> None:
    done = _cli("--data", "data.npz", "--epochs", "-3", cwd=checkpointed)
    assert done.returncode == 2
    assert done.stderr == "error: argument --epochs: got '-3'; must be an integer >= 0\n"


def test_saving_syncs_renames_and_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = import_generated(GENERATED / "xor.py", "xor_save")
    target = tmp_path / "params.npz"
    # A write killed earlier left its temporary file; its process is gone.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".params.npz.{int(gone.stdout)}.1.tmp"
    stale.write_bytes(b"half a file")
    other = tmp_path / ".other.npz.1.1.tmp"  # another target's: not ours to remove
    other.write_bytes(b"")
    events: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or replace(a, b))
    m.save(m.init_params(), target)
    assert events == ["fsync", "replace", "fsync"]  # the file, the rename, the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.1.1.tmp", "params.npz"]


def test_saved_files_get_the_umask_mode_or_keep_their_own(tmp_path: Path) -> None:
    m = import_generated(GENERATED / "xor.py", "xor_mode")
    old = os.umask(0o027)
    try:
        m.save(m.init_params(), tmp_path / "new.npz")
        kept = tmp_path / "kept.npz"
        kept.write_bytes(b"")
        kept.chmod(0o604)
        m.save(m.init_params(), kept)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.npz").stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604


def test_a_compressed_file_holding_gigabytes_is_refused_unread(tmp_path: Path) -> None:
    m = import_generated(GENERATED / "xor.py", "xor_bomb")
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, W1=np.zeros(2**27), meta=np.array("{}"))  # 1 GiB, 1 MB on disk
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.npz: W1\.npy holds \d+ bytes"):
            m.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24


@pytest.mark.parametrize("name", ["data.csv", "data.npz", "ck.npz"])
def test_a_fifo_is_refused_without_blocking(name: str, checkpointed: Path) -> None:
    fifo = checkpointed / f"fifo-{name}"
    os.mkfifo(fifo)
    args = ["--data", fifo.name] if name.startswith("data") else ["--data", "data.npz"]
    args += [] if name.startswith("data") else ["--checkpoint", fifo.name]
    done = _cli(*args, "--epochs", "2", cwd=checkpointed)  # times out if it blocks
    assert done.returncode == 2 and "not a regular file" in done.stderr
    assert fifo.name in done.stderr


def test_writes_killed_midway_leave_no_temporary_files_behind(tmp_path: Path) -> None:
    # Writers killed at random points of a save loop; the next write cleans up after them.
    code = (
        "import sys\n"
        "from symprop.codegen.numpy.emit import import_generated\n"
        f"m = import_generated({str(GENERATED / 'digits.py')!r})\n"
        "params = m.init_params()\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    m.save(params, sys.argv[1])\n"
    )
    target = tmp_path / "params.npz"
    rng = np.random.default_rng(0)
    for _ in range(8):
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, cwd=ROOT
        )
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.2))
        child.kill()
        child.wait()
        child.stdout.close()
    m = import_generated(GENERATED / "digits.py", "digits_killed")
    m.save(m.init_params(), target)
    assert [p.name for p in tmp_path.iterdir()] == ["params.npz"]
    assert sorted(m.load(target)) == sorted(m._KEYS)


def test_save_refuses_devices_fifos_and_hard_links_and_follows_symlinks(tmp_path: Path) -> None:
    m = import_generated(GENERATED / "xor.py", "xor_special")
    params = m.init_params()
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    linked = tmp_path / "linked.npz"
    linked.write_bytes(b"keep")
    os.link(linked, tmp_path / "other.npz")
    for target, why in (
        (fifo, "not a regular file"),
        (linked, "has 2 hard links"),
        (tmp_path, "not a regular file"),
        (Path("/dev/null"), "not a regular file"),
    ):
        with pytest.raises(ValueError, match=re.escape(why)):
            m.save(params, target)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert (tmp_path / "other.npz").read_bytes() == b"keep" == linked.read_bytes()
    real = tmp_path / "real.npz"
    real.write_bytes(b"")
    (tmp_path / "alias.npz").symlink_to(real)
    m.save(params, tmp_path / "alias.npz")
    assert (tmp_path / "alias.npz").is_symlink()
    assert np.array_equal(m.load(real)["W1"], params["W1"])
    with pytest.raises(ValueError, match=r"cannot write .*missing.*No such file"):
        m.save(params, tmp_path / "missing" / "p.npz")


def test_the_module_cli_refuses_a_bad_save_target_before_training(tmp_path: Path) -> None:
    data = tmp_path / "xor.npz"
    np.savez(data, X=np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]]), y=np.array([0.0, 1, 1, 0]))
    done = subprocess.run(
        [
            sys.executable,
            str(GENERATED / "xor.py"),
            "--data",
            str(data),
            "--epochs",
            "1",
            "--save",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "epoch" not in done.stdout
    assert done.stderr == f"error: {tmp_path}: not a regular file; refusing to replace it\n"


def test_data_files_claiming_huge_shapes_or_holding_no_rows_are_one_error_line(
    tmp_path: Path,
) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)}
    )
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:  # 14.6 TiB claimed, 0.3 KB
        archive.writestr("X.npy", header.getvalue())
        archive.writestr("y.npy", header.getvalue())
    (tmp_path / "empty.csv").write_text("\n")
    for name, why in (
        ("huge.npz", "its arrays need more memory than there is"),
        ("empty.csv", "no rows"),
    ):
        done = subprocess.run(
            [sys.executable, str(GENERATED / "xor.py"), "--data", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (done.returncode, done.stderr) == (2, f"error: data file {tmp_path / name}: {why}\n")
