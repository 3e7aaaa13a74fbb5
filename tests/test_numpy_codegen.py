"""The NumPy code generator: printer, rewrites, golden record, determinism, contract, CLI."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from test_numpy_support import ROOT, build, perturbed_params, targets

from symprop import Dense, Network, default_network
from symprop.codegen.numpy.emit import activation_code, regenerate
from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.numpy.printer import ArrayPrinter
from symprop.codegen.stable import (
    REWRITES,
    SHARED_FORMS,
    BatchSum,
    Expit,
    LogSoftmax,
    Softmax,
    separate_sums,
    share_output,
    stabilise,
    tidy_signs,
)
from symprop.core.examples import network_specs as example_specs
from symprop.core.registry import ACTIVATIONS, LOSSES, Activation, a, a_vec, i_idx, j_idx, y_vec, z

RUFF = shutil.which("ruff")
GENERATED = ROOT / "generated"


# --- printer and rewrites -----------------------------------------------------------------


def _numeric(expr: sp.Expr, x: np.ndarray) -> np.ndarray:
    """Evaluate a printed one-variable expression the way a generated module would."""
    printer = ArrayPrinter({"z": "x", "a": "x"})
    code = printer.doprint(expr)
    env: dict[str, object] = {"np": np, "x": x}
    for name in printer.helpers_used:
        exec(HELPERS[name].source, env)
    return eval(code, env)


@pytest.mark.parametrize(
    "rewrite", [r for r in REWRITES if "softmax" not in r.name], ids=lambda r: r.name
)
def test_each_rewrite_preserves_values(rewrite: object) -> None:
    # Each rewrite is checked against the textbook form evaluated to 30 digits.
    textbook = {
        "rectifier": sp.Piecewise((z, z > 0), (0, True)),
        "softplus": sp.log(1 + sp.exp(z)),
        "expit": 1 / (1 + sp.exp(-z)),
        "log-expit": sp.log(Expit(z)),
        "log-one-minus-expit": sp.log(1 - Expit(z)),
        "expm1": sp.exp(z) - 1,
    }
    expr = textbook[rewrite.name]
    rewritten = rewrite(expr)
    assert rewritten != expr, "the rewrite did not apply"
    x = np.linspace(-20, 20, 81)
    reference = np.array([float(expand(expr).subs(z, sp.Float(v, 30)).evalf(30)) for v in x])
    np.testing.assert_allclose(_numeric(rewritten, x), reference, rtol=1e-12, atol=1e-300)


def expand(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, Expit), lambda e: 1 / (1 + sp.exp(-e.args[0])))


def test_softmax_rewrites() -> None:
    definition = ACTIVATIONS["softmax"].definition
    stable = stabilise(definition)
    assert isinstance(stable, Softmax)
    assert isinstance(stabilise(sp.log(definition)), LogSoftmax)
    env: dict[str, object] = {"np": np}
    exec(HELPERS["_softmax"].source + HELPERS["_log_softmax"].source, env)
    z_rows = np.array([[1.0, 2.0, -3.0], [1000.0, -1000.0, 0.0]])
    soft = env["_softmax"](z_rows)
    np.testing.assert_allclose(soft[0], np.exp(z_rows[0]) / np.exp(z_rows[0]).sum())
    np.testing.assert_allclose(soft[1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(env["_log_softmax"](z_rows)[1], [0.0, -2000.0, -1000.0])
    # Over columns (the training step's layout): the same numbers, transposed.
    for helper in ("_softmax", "_log_softmax"):
        np.testing.assert_array_equal(env[helper](z_rows.T.copy(), axis=0), env[helper](z_rows).T)


@pytest.mark.parametrize("form", SHARED_FORMS, ids=lambda f: f.name)
def test_each_shared_form_equals_the_function_it_replaces(form: object) -> None:
    # f(x) computed through g(x) must equal the helper of f itself, extremes included.
    env: dict[str, object] = {"np": np}
    exec(HELPERS[form.f.helper].source + HELPERS[form.g.helper].source, env)
    rows = np.random.default_rng(0).normal(0, 30, (50, 7))
    rows[0] = [1000.0, -1000.0, 0.0, 5.0, -5.0, 700.0, -700.0]
    x, g_of_x = sp.Symbol("x"), sp.Symbol("g_of_x")
    code = ArrayPrinter({"x": "rows", "g_of_x": "g"}).doprint(form.through(x, g_of_x))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        through = eval(code, {**env, "rows": rows, "g": env[form.g.helper](rows)})
        direct = env[form.f.helper](rows)
    np.testing.assert_allclose(through, direct, rtol=1e-13, atol=1e-300)


def test_share_output_binds_what_activation_and_cost_both_need() -> None:
    zz, yy = sp.symbols("zz yy")
    shared, activation, cost = share_output(Softmax(zz), -yy * LogSoftmax(zz), "3")
    ((symbol, value),) = shared
    assert value == LogSoftmax(zz) and str(symbol) == "log_softmax3"
    assert activation == sp.exp(symbol) and cost == -yy * symbol
    # Nothing in common: nothing is bound, nothing is rewritten.
    assert share_output(Expit(zz), -yy * LogSoftmax(zz), "2")[0] == ()
    assert share_output(Softmax(zz), (yy - zz) ** 2, "2") == ((), Softmax(zz), (yy - zz) ** 2)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_that_take_out_write_the_same_values(name: str) -> None:
    code = activation_code(name, ArrayPrinter())
    env: dict[str, object] = {"np": np}
    for helper in HELPERS.values():
        exec(helper.source, env)
    params = "".join(f", {p}={d}" for p, d in code.params)
    params += ", axis=1" if code.across_units else ""
    out_param = ", out=None" if code.writes_out else ""
    exec(f"def f(z{params}{out_param}):\n    return {code.body}\n", env)
    z_rows = np.random.default_rng(1).normal(0, 3, (4, 5))
    plain = env["f"](z_rows)
    # The training step holds a batch as columns: the same values, transposed.
    columns = env["f"](np.ascontiguousarray(z_rows.T), axis=0) if code.across_units else None
    if code.across_units:
        np.testing.assert_array_equal(columns, plain.T)
    if code.writes_out:
        buffer = np.ones((4, 6))
        assert env["f"](z_rows, out=buffer[:, :-1]) is not None
        np.testing.assert_array_equal(buffer[:, :-1], plain)
        assert np.all(buffer[:, -1] == 1), "out= wrote outside its view"
    else:
        assert "out=" not in code.body
    # ReLU is one ufunc and writes in place; the logistic helper is not a ufunc.
    if name in {"relu", "sigmoid"}:
        assert code.writes_out == (name == "relu")


def test_expit_helper_never_overflows() -> None:
    env: dict[str, object] = {"np": np}
    exec(HELPERS["_expit"].source, env)
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = env["_expit"](x)
    np.testing.assert_allclose(got[1:4], 1 / (1 + np.exp(-x[1:4])), rtol=1e-15)
    assert got[0] == 0.0 and got[-1] == 1.0


def test_sums_over_units_become_batch_sums() -> None:
    # Σ_i (y_i − a_i) a_i  →  np.sum((Y - a3)*a3, axis=1, keepdims=True), a column.
    expr = a_vec[j_idx] * sp.Sum((y_vec[i_idx] - a_vec[i_idx]) * a_vec[i_idx], (i_idx, 1, 3))
    separated = separate_sums(expr)
    assert separated.has(BatchSum) and not separated.has(sp.Sum)
    code = ArrayPrinter({"a": "a3", "y": "Y"}).doprint(separated)
    rng = np.random.default_rng(0)
    a3, Y = rng.random((4, 3)), rng.random((4, 3))
    expected = a3 * np.sum((Y - a3) * a3, axis=1, keepdims=True)
    np.testing.assert_allclose(eval(code, {"np": np, "a3": a3, "Y": Y}), expected)


def test_tidy_signs_reads_like_the_textbook() -> None:
    printer = ArrayPrinter({"a": "a1"})
    assert printer.doprint(tidy_signs(-a * (a - 1))) == "a1*(1 - a1)"


def test_unknown_quantity_fails_loudly() -> None:
    with pytest.raises(NotImplementedError, match="no array name"):
        ArrayPrinter({}).doprint(a_vec[j_idx])
    with pytest.raises(NotImplementedError, match="separate_sums"):
        ArrayPrinter({"a": "a1"}).doprint(sp.Sum(a_vec[i_idx], (i_idx, 1, 3)))


# --- the template is layout only -----------------------------------------------------------


def test_template_names_no_activation_or_loss() -> None:
    text = (ROOT / "templates" / "numpy_module.py.j2").read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z_]+", text))
    named = (set(ACTIVATIONS) | set(LOSSES)) & words
    assert not named, f"the template names {named}; formulas must come from the printer"


def test_a_new_registry_entry_flows_through(monkeypatch: pytest.MonkeyPatch) -> None:
    # Add an activation the code generator has never seen: it must be generated, verified
    # and trainable without touching the printer or the template.
    new = Activation("arctan", r"\arctan", "arctan", sp.atan(z), description="arc tangent")
    monkeypatch.setitem(ACTIVATIONS, "arctan", new)
    net = Network(inputs=2, layers=[Dense(3, "arctan"), Dense(2, "identity")], loss="mse")
    m = build(net)
    assert "np.arctan" in Path(m.__file__).read_text(encoding="utf-8")
    rng = np.random.default_rng(0)
    params = perturbed_params(m, rng)
    X, Y = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    assert m.gradient_check(params, X, Y) < 1e-7


# --- golden record, determinism, lint -------------------------------------------------------


@pytest.mark.skipif(RUFF is None, reason="ruff formats the generated modules")
def test_generated_is_up_to_date(tmp_path: Path) -> None:
    written = regenerate(tmp_path)
    assert [p.name for p in written] == sorted(p.name for p in written)
    expected = {p.name for p in written}
    checked_in = {p.name for p in GENERATED.glob("*.py")}
    assert checked_in == expected, "generated/ has stale or missing modules"
    for path in written:
        new = path.read_text(encoding="utf-8")
        old = (GENERATED / path.name).read_text(encoding="utf-8")
        if new != old:
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), f"generated/{path.name}", "fresh"
                )
            )
            pytest.fail(
                f"generated/{path.name} is stale; run `symprop generate --examples generated`\n"
                + diff
            )


def test_examples_without_layers_are_skipped() -> None:
    names = [p.name for p in example_specs()]
    assert "explain.toml" not in names and "digits.toml" in names


@pytest.mark.skipif(RUFF is None, reason="ruff formats the generated modules")
def test_generation_is_independent_of_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for seed in ("0", "12345"):
        out = tmp_path / f"seed{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "symprop.cli.main", "generate", "--examples", str(out)],
            check=True,
            env=env,
            cwd=ROOT,
            capture_output=True,
        )
        outputs.append({p.name: p.read_bytes() for p in sorted(out.glob("*.py"))})
    assert outputs[0] == outputs[1]


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_generated_modules_are_ruff_clean() -> None:
    files = [str(p) for p in sorted(GENERATED.glob("*.py"))]
    common = ["--isolated", "--line-length", "100"]
    lint = subprocess.run(
        [RUFF, "check", *common, "--select", "E,F,W,I,B,UP", *files],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [RUFF, "format", *common, "--check", *files], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_generated_modules_import_only_numpy() -> None:
    stdlib = {"__future__", "argparse", "collections", "hashlib", "json", "math", "os"}
    stdlib |= {"stat", "sys", "threading", "typing", "warnings", "zipfile"}
    for path in GENERATED.glob("*.py"):
        imports = re.findall(r"^(?:from|import) ([\w.]+)", path.read_text(encoding="utf-8"), re.M)
        roots = {name.split(".")[0] for name in imports}
        assert roots - stdlib == {"numpy"}, path.name


def test_generated_code_reads_like_the_derivation() -> None:
    text = (GENERATED / "digits.py").read_text(encoding="utf-8")
    # The proven cancellation δ³ = a³ − y, the ReLU recurrence and the names of the document.
    assert "delta_3 = a3 - Y" in text
    # δ² = ((W³)ᵀ δ³) ⊙ φ'(z²) on columns, as written.
    assert "delta_2 = np.dot(WB3.T, delta_3" in text and "delta_2 *= z2 > 0" in text
    # [∂C/∂W¹ | ∂C/∂b¹] = Σ_i δ¹ [a⁰ 1]: the bias column rides in the same product.
    assert 'np.dot(delta_1, A0, out=ws["grad1"])' in text
    # log-softmax for cross-entropy: over rows in the public functions, columns in the step
    assert "_log_softmax(z3)" in text and "_log_softmax(z3, axis=0)" in text
    xor = (GENERATED / "xor.py").read_text(encoding="utf-8")
    assert "delta_1 *= a1*(1 - a1)" in xor.replace(" * ", "*")
    assert "np.logaddexp(0, -z2)" in xor  # stable log σ
    assert "Generated from ``examples/xor.toml``" in xor
    assert not re.search(r"\d{4}-\d{2}-\d{2}", xor), "no timestamps"


# --- the module contract -------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_module():
    return build(default_network())


def test_contract_constants_and_shapes(digits_module) -> None:
    m = digits_module
    assert m.LAYER_SIZES == (64, 128, 64, 10)
    assert m.ACTIVATIONS == ("relu", "relu", "softmax")
    assert m.LOSS == "cross_entropy" and m.L2 == 1e-4
    params = m.init_params(seed=3)
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert params["W2"].shape == (64, 128) and params["b2"].shape == (64,)
    assert all(v.dtype == np.float64 for v in params.values())
    # He for ReLU layers (std √(2/fan_in)), Glorot uniform for softmax (|w| ≤ √(6/(64+10))).
    assert abs(params["W1"].std() - np.sqrt(2 / 64)) < 0.01
    assert np.abs(params["W3"]).max() <= np.sqrt(6 / 74)
    assert np.all(params["b1"] == 0)
    again = m.init_params(seed=3)
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_integer_labels_equal_one_hot(digits_module) -> None:
    m = digits_module
    rng = np.random.default_rng(0)
    params = m.init_params()
    X = rng.random((7, 64))
    labels = rng.integers(0, 10, 7)
    onehot = np.eye(10)[labels]
    assert m.loss(params, X, labels) == m.loss(params, X, onehot)
    g1, g2 = m.gradients(params, X, labels), m.gradients(params, X, onehot)
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)
    assert m.predict(params, X).shape == (7,)
    assert m.forward(params, X).shape == (7, 10)
    np.testing.assert_allclose(m.forward(params, X).sum(axis=1), 1)


def test_save_and_load_round_trip(digits_module, tmp_path: Path) -> None:
    m = digits_module
    params = m.init_params(1)
    path = tmp_path / "p.npz"
    m.save(params, path)
    loaded = m.load(path)
    assert all(np.array_equal(params[k], loaded[k]) for k in params)
    assert [p.name for p in tmp_path.iterdir()] == ["p.npz"], "no temp file left behind"


BAD_INPUTS = [
    ("X: expected shape", lambda m, p, X, y: m.loss(p, X[:, :5], y)),
    ("Y: expected 6 labels", lambda m, p, X, y: m.loss(p, X, y[:3])),
    ("X: contains NaN", lambda m, p, X, y: m.gradients(p, np.where(X > 0.5, np.nan, X), y)),
    ("Y: labels out of range", lambda m, p, X, y: m.loss(p, X, y + 10)),
    ("Y: labels out of range", lambda m, p, X, y: m.loss(p, X, y - 10)),
    ("each row must sum to 1", lambda m, p, X, y: m.loss(p, X, np.ones((6, 10)))),
    ("params\\['W2'\\]: expected shape", lambda m, p, X, y: m.forward({**p, "W2": p["W1"]}, X)),
    ("params: missing keys", lambda m, p, X, y: m.forward({"W1": p["W1"]}, X)),
    ("params: mixed dtypes", lambda m, p, X, y: m.forward({**p, "b1": p["b1"].astype("f4")}, X)),
    (
        "params\\['b3'\\]: contains NaN",
        lambda m, p, X, y: m.forward({**p, "b3": p["b3"] * np.nan}, X),
    ),
    # train() checks the parameters once they are flattened, and writes the targets as
    # columns: the same messages.
    (
        "params\\['W2'\\]: contains NaN or infinity",
        lambda m, p, X, y: m.train(
            {**p, "W2": np.where(p["W2"] > 0, np.inf, p["W2"])},
            X,
            y,
            epochs=1,
            learning_rate=0.1,
            batch_size=2,
            seed=0,
        ),
    ),
    (
        "Y: labels out of range",
        lambda m, p, X, y: m.train(p, X, y + 10, epochs=1, learning_rate=0.1, batch_size=2, seed=0),
    ),
    (
        "Y: expected 6 labels",
        lambda m, p, X, y: m.train(p, X, y[:3], epochs=1, learning_rate=0.1, batch_size=2, seed=0),
    ),
    (
        "Y: contains NaN",
        lambda m, p, X, y: m.train(
            p, X, np.full((6, 10), np.nan), epochs=1, learning_rate=0.1, batch_size=2, seed=0
        ),
    ),
    (
        "optimizer: got 'rmsprop'",
        lambda m, p, X, y: m.train(
            p, X, y, epochs=1, learning_rate=0.1, batch_size=2, seed=0, optimizer="rmsprop"
        ),
    ),
    (
        "learning_rate",
        lambda m, p, X, y: m.train(p, X, y, epochs=1, learning_rate=-1, batch_size=2, seed=0),
    ),
    (
        "batch_size",
        lambda m, p, X, y: m.train(p, X, y, epochs=1, learning_rate=0.1, batch_size=0, seed=0),
    ),
    (
        "momentum",
        lambda m, p, X, y: m.train(
            p, X, y, epochs=1, learning_rate=0.1, batch_size=2, seed=0, momentum=0.9
        ),
    ),
]


@pytest.mark.parametrize("match, call", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_value_error_naming_it(digits_module, match: str, call) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.random((6, 64)), rng.integers(0, 10, 6)
    with pytest.raises(ValueError, match=match):
        call(digits_module, digits_module.init_params(), X, y)


def test_non_finite_data_is_found_whatever_its_sum(digits_module) -> None:
    """+inf and -inf in one array (whose sum is NaN) and a lone infinity are rejected, in
    small arrays and in large ones (tested a slice of rows at a time, the last slice
    included). Finite entries so large that their sum overflows are accepted."""
    m = digits_module
    params = m.init_params()
    rng = np.random.default_rng(0)
    X, y = rng.random((6, 64)), rng.integers(0, 10, 6)
    for bad in (np.inf, -np.inf):
        X_bad = X.copy()
        X_bad[2, 3] = bad
        with pytest.raises(ValueError, match="X: contains NaN or infinity"):
            m.gradients(params, X_bad, y)
    X_bad = X.copy()
    X_bad[0, 0], X_bad[5, 63] = np.inf, -np.inf
    with pytest.raises(ValueError, match="X: contains NaN or infinity"):
        m.train(params, X_bad, y, epochs=1, learning_rate=0.1, batch_size=2, seed=0)
    huge = np.full((6, 64), np.finfo(np.float64).max / 2)
    with np.errstate(over="ignore"):
        assert np.isinf(np.sum(huge))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the check itself warns of nothing
        assert m._check_inputs(huge, np.dtype(np.float64)) is huge
        assert not m._all_finite(np.append(huge, np.nan))
        assert not m._all_finite(np.array([np.inf, -np.inf]))
        large = np.zeros((1001, 333))  # slices of 196 rows: the last one is partial
        assert m._all_finite(large)
        for row in (0, 195, 196, 1000):
            large[row, 7] = np.nan
            assert not m._all_finite(large)
            large[row, 7] = 0.0
        wide = {**params, "W1": np.full_like(params["W1"], np.finfo(np.float64).max / 4)}
        assert m._check_params(wide) == np.float64


def test_unit_targets_out_of_range() -> None:
    m = build(Network(inputs=2, layers=[Dense(1, "sigmoid")], loss="binary_cross_entropy"))
    with pytest.raises(ValueError, match="targets out of range"):
        m.loss(m.init_params(), np.zeros((2, 2)), np.array([0.0, 2.0]))


# --- command line --------------------------------------------------------------------------


def test_cli_generate(tmp_path: Path) -> None:
    out = tmp_path / "xor32.py"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "symprop.cli.main",
            "generate",
            "examples/xor.toml",
            "-o",
            str(out),
            "--dtype",
            "float32",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "DTYPE = np.float32" in out.read_text(encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "generate", str(tmp_path / "missing.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no such spec file" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_stabilised_loss_of_the_extreme_outputs() -> None:
    # With z = ±1000 the textbook cross-entropy would take log(0); the stable form gives
    # the exact values: −log σ(−1000) = 1000 and −log σ(1000) ≈ 0.
    m = build(Network(inputs=1, layers=[Dense(1, "sigmoid")], loss="binary_cross_entropy"))
    params = {"W1": np.array([[1.0]]), "b1": np.array([0.0])}
    X = np.array([[1000.0], [-1000.0]])
    assert m.loss(params, X, np.array([0.0, 0.0])) == pytest.approx(500.0)
    np.testing.assert_allclose(m.gradients(params, X, np.array([0.0, 0.0]))["b1"], [0.5])


def test_targets_helper_is_valid() -> None:
    rng = np.random.default_rng(0)
    for net in (default_network(),):
        assert targets(net, 3, rng).shape == (3,)
