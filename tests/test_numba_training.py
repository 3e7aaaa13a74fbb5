"""Compiled (Numba) modules: their imports, training runs against the NumPy module, the
command line with checkpoints and bitwise resume, and bad input."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba_support import build
from test_numpy_support import ROOT
from test_numpy_support import build as build_numpy

from symprop.codegen.numba.emit import render_numba_module
from symprop.core.errors import SpecError
from symprop.core.examples import network_specs
from symprop.core.spec import load_spec
from symprop.derivation.build import derive

XOR = load_spec(ROOT / "examples" / "xor.toml")  # 2-4-1: the unrolled step
DIGITS = load_spec(ROOT / "examples" / "digits.toml")  # 64-128-64-10: the array step
RUFF = shutil.which("ruff")


def _data(network, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, network.widths[0]))
    if network.loss == "cross_entropy":
        return X, rng.integers(0, network.widths[-1], n)
    return X, (rng.random((n, network.widths[-1])) > 0.5).astype(float)


def test_the_module_imports_only_numpy_numba_and_the_standard_library() -> None:
    for network in (XOR, DIGITS):
        tree = ast.parse(render_numba_module(network, spec="<tests>"))
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
        outside = imported - set(sys.stdlib_module_names) - {"__future__"}
        assert outside == {"numpy", "numba"}


def test_compiled_modules_are_ruff_clean(tmp_path: Path) -> None:
    # Every dense example, unrolled and array step alike (a line of the array step's
    # docstring once ran past 100 columns in every array-step module).
    files = []
    for spec in network_specs(ROOT / "examples"):
        network = load_spec(spec)
        try:
            source = render_numba_module(network, spec=spec.name)
        except SpecError:  # a kind the compiled backend refuses
            continue
        files.append(tmp_path / f"{spec.stem}.py")
        files[-1].write_text(source, encoding="utf-8")
    assert {"xor.py", "digits.py"} <= {f.name for f in files}
    common = ["--isolated", "--line-length", "100"]
    for command in (["check", "--select", "E,F,W,I,B,UP"], ["format", "--check"]):
        done = subprocess.run(
            [RUFF, command[0], *common, *command[1:], *map(str, files)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_same_spec_gives_the_same_bytes() -> None:
    assert render_numba_module(XOR, spec="x") == render_numba_module(XOR, spec="x")


def test_small_networks_are_unrolled_and_large_ones_use_blas() -> None:
    xor = render_numba_module(XOR, spec="x")
    assert "def _sample(" in xor and "np.dot" not in xor.split("def _sample(")[1].split("\ndef ")[0]
    # The flat layout [W^1 | b^1], [W^2 | b^2] row-major: 4 × 3 entries, then W^2_{0k}, b^2_0.
    assert "w2_0_3 = theta[15]" in xor and "b2_0 = theta[16]" in xor
    digits = render_numba_module(DIGITS, spec="x")
    assert "def _sample(" not in digits and "_dot_nt(a0, W1, z1)" in digits
    # ∂C/∂[W^1 | b^1] reduces over the batch: BLAS.
    assert "np.dot(delta1.T, a0, grad[" in digits


CASES = [
    (XOR, "sgd", 0.0, 1, "float64"),
    (XOR, "momentum", 0.9, 3, "float64"),
    (XOR, "adam", 0.0, 4, "float64"),
    (XOR, "adam", 0.0, 1, "float64"),  # per-sample steps run their own loop per optimiser
    (DIGITS, "sgd", 0.0, 16, "float64"),
    (DIGITS, "momentum", 0.9, 32, "float64"),
    (DIGITS, "adam", 0.0, 7, "float64"),
    (XOR, "momentum", 0.9, 1, "float32"),
    (DIGITS, "momentum", 0.9, 32, "float32"),
]


@pytest.mark.parametrize(
    ("network", "optimizer", "momentum", "batch", "dtype"),
    CASES,
    ids=[f"{c[0].name}-{c[1]}-b{c[3]}-{c[4]}" for c in CASES],
)
def test_training_agrees_with_the_numpy_module(network, optimizer, momentum, batch, dtype) -> None:
    # Same seed, same batches (100 rows: the last batch is smaller), same updates: the
    # weights after three epochs agree to rounding, and so do the loss histories.
    compiled, reference = build(network, dtype), build_numpy(network, dtype)
    X, Y = _data(network, 100, seed=5)
    p1, p2 = compiled.init_params(1), reference.init_params(1)
    settings = dict(epochs=3, learning_rate=0.05, batch_size=batch, seed=9, optimizer=optimizer)
    h1 = compiled.train(p1, X, Y, momentum=momentum, **settings)
    h2 = reference.train(p2, X, Y, momentum=momentum, **settings)
    rtol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(h1, h2, rtol=rtol)
    for key in p1:
        assert p1[key].dtype == np.dtype(dtype)
        scale = float(np.max(np.abs(p2[key]))) or 1.0
        np.testing.assert_allclose(p1[key], p2[key], rtol=0, atol=rtol * scale, err_msg=key)
    assert not np.allclose(p1["W1"], compiled.init_params(1)["W1"])  # it did train


def test_the_same_seed_gives_the_same_weights_bitwise() -> None:
    compiled = build(DIGITS)
    X, Y = _data(DIGITS, 70, seed=2)
    runs = []
    for _ in range(2):
        params = compiled.init_params(0)
        compiled.train(params, X, Y, epochs=2, learning_rate=0.1, batch_size=32, seed=4)
        runs.append(params)
    for key in runs[0]:
        assert runs[0][key].tobytes() == runs[1][key].tobytes()


def _main(module, *args: str) -> int:
    return module.main(list(args))


def test_checkpoints_resume_to_bitwise_the_same_weights(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    compiled = build(XOR)
    X, Y = _data(XOR, 40, seed=1)
    np.savez(tmp_path / "data.npz", X=X, y=Y[:, 0])
    # monkeypatch restores the working directory: a bare os.chdir left later tests of the
    # same worker reading relative paths (examples/…) from this temporary folder.
    monkeypatch.chdir(tmp_path)
    args = ("--data", "data.npz", "--optimizer", "momentum", "--learning-rate", "0.3")
    assert _main(compiled, *args, "--epochs", "4", "--save", "straight.npz") == 0
    assert _main(compiled, *args, "--epochs", "2", "--checkpoint", "ck.npz") == 0
    assert _main(compiled, *args, "--epochs", "4", "--checkpoint", "ck.npz", "--save", "r.npz") == 0
    out = capsys.readouterr().out
    assert "resumed from ck.npz after epoch 2" in out
    straight, resumed = compiled.load("straight.npz"), compiled.load("r.npz")
    for key in straight:
        assert straight[key].tobytes() == resumed[key].tobytes()
    # Other settings than the checkpoint's are refused in one line, exit 2.
    assert _main(compiled, *args[:-1], "0.2", "--epochs", "5", "--checkpoint", "ck.npz") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: checkpoint ck.npz: settings")


def test_bad_input_raises_value_error_naming_the_problem(tmp_path: Path) -> None:
    compiled = build(XOR)
    params = compiled.init_params(0)
    X, Y = _data(XOR, 10, seed=0)
    bad = X.copy()
    bad[3, 1] = np.nan
    settings = dict(epochs=1, learning_rate=0.1, batch_size=2, seed=0)
    with pytest.raises(ValueError, match="X: contains NaN"):
        compiled.train(params, bad, Y, **settings)
    # Targets as the step reads them take one compiled pass; a bad one still gets the
    # NumPy module's message.
    for value, message in ((1.5, "Y: targets out of range"), (np.inf, "Y: contains NaN")):
        wrong = Y.copy()
        wrong[7, 0] = value
        with pytest.raises(ValueError, match=message):
            compiled.train(params, X, wrong, **settings)
    with pytest.raises(ValueError, match="optimizer: got 'rmsprop'"):
        compiled.train(params, X, Y, optimizer="rmsprop", **settings)
    with pytest.raises(ValueError, match="Y: expected shape"):
        compiled.gradients(params, X, Y[:5])
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.npz"):
        compiled.load(tmp_path / "junk.npz")
    # A run that diverges raises at the end of its epoch and leaves params as they were
    # (a ReLU network: saturated sigmoids would only stop learning).
    compiled = build(DIGITS)
    params = compiled.init_params(0)
    X, Y = _data(DIGITS, 10, seed=0)
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match="training diverged in epoch 1"):
        compiled.train(params, X * 1e100, Y, epochs=2, learning_rate=1e200, batch_size=3, seed=0)
    for key in params:
        assert np.array_equal(params[key], before[key])


def test_kinds_the_backend_does_not_compile_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"layers\[2\]\.kind: got 'batch_norm'; --backend numba"):
        render_numba_module(load_spec(ROOT / "examples" / "digits_bn.toml"), spec="x")
    done = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "generate", "--backend", "numba"]
        + [str(ROOT / "examples" / "residual.toml"), "-o", str(tmp_path / "r.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "kind: got 'layer_norm'; --backend numba supports dense" in lines[0]
    assert not (tmp_path / "r.py").exists()


def test_gradient_check_of_the_compiled_gradients_passes() -> None:
    # Central differences in extended precision, independent of both generated codes.
    compiled = build(XOR)
    X, Y = _data(XOR, 6, seed=8)
    params = compiled.init_params(3)
    assert compiled.gradient_check(params, X, Y) < 1e-7


def test_symprop_train_with_the_numba_backend_leaves_a_module_later_processes_import(
    tmp_path: Path,
) -> None:
    # `symprop train --backend numba -o xorc.py` reports its compile time once and leaves
    # Numba's cache beside the module. A later `import xorc`, and a later import of the file
    # under another name, load or compile it: the cache once recorded a private module name
    # that no later process could import (ModuleNotFoundError: 'symprop_compiled_xor').
    X, Y = _data(XOR, 30, seed=6)
    np.savez(tmp_path / "data.npz", X=X, y=Y[:, 0])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "train", str(ROOT / "examples" / "xor.toml")]
        + ["--backend", "numba", "--data", "data.npz", "--epochs", "3", "-o", "xorc.py"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^training code compiled in \d+\.\d\d s$", done.stderr, re.MULTILINE)
    assert "final loss J = " in done.stdout and "compiled" not in done.stdout
    assert "import numba" in (tmp_path / "xorc.py").read_text(encoding="utf-8")
    assert list((tmp_path / "__pycache__").glob("xorc.*.nbi"))  # the cache was written
    train = (
        "import numpy as np\n"
        "d = np.load('data.npz')\n"
        "p = m.init_params(0)\n"
        "h = m.train(p, d['X'], d['y'][:, None], epochs=2, learning_rate=0.5, batch_size=4, seed=1)\n"
        "print(len(h))\n"
    )
    by_name = "import xorc as m\n"
    by_path = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('other', 'xorc.py')\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "sys.modules['other'] = m\n"
        "spec.loader.exec_module(m)\n"
    )
    for script in (by_name, by_path):
        done = subprocess.run(
            [sys.executable, "-c", script + train],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env=env,
        )
        assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr


def test_the_step_cites_the_derivation_formula_numbers_of_what_it_computes() -> None:
    # Each comment of the compiled step names the formulas (as the document tags them) its
    # lines compute: δ^1 is the summary step of layer 1, its position in the derivation.
    steps = derive(XOR).steps
    position = {step.id: n for n, step in enumerate(steps, start=1)}
    source = render_numba_module(XOR, spec="x")
    assert f"# ({position['summary.delta.1']}) δ^1 = ((W^2)ᵀ δ^2) ⊙ φ'(z^1)" in source
    z = (position["forward.layer.1.z"], position["forward.layer.1"])
    assert f"# ({z[0]}, {z[1]}) z^1 = W^1 a^0 + b^1" in source


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_an_update_is_bitwise_the_numpy_modules(optimizer: str, dtype: str) -> None:
    # The same vectors through both modules' update: the same bits. A float32 update once
    # ran through float64 (μ and Adam's constants entered as float64 literals), which
    # NumPy, applying a Python float to a float32 array, does not.
    compiled, reference = build(DIGITS, dtype), build_numpy(DIGITS, dtype)
    X, Y = _data(DIGITS, 8, seed=3)
    trainer = reference._Trainer(
        reference.init_params(0),
        X.astype(dtype),
        Y,
        learning_rate=0.01,
        batch_size=8,
        seed=0,
        optimizer=optimizer,
        momentum=0.9 if optimizer == "momentum" else 0.0,
    )
    rng = np.random.default_rng(7)
    n = trainer.theta.shape[0]
    theta, grad, velocity, second = (rng.standard_normal(n).astype(dtype) for _ in range(4))
    second = np.abs(second)
    trainer.theta[...], trainer.grad[...], trainer.velocity[...] = theta, grad, velocity
    if trainer.second is not None:
        trainer.second[...] = second
    trainer.steps = 3
    decay = trainer.decay.copy()  # digits has an L2 term: 2λ s on the weights, 0 on biases
    assert decay.any()
    trainer._update(-1)
    index = ["sgd", "momentum", "adam"].index(optimizer)
    compiled._update(theta, grad, velocity, second, decay, index, 0.01, trainer.momentum, 3)
    assert theta.tobytes() == trainer.theta.tobytes()
    assert velocity.tobytes() == trainer.velocity.tobytes()
    if trainer.second is not None:
        assert second.tobytes() == trainer.second.tobytes()
