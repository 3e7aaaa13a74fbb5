"""Generated modules of networks of layer kinds vs PyTorch, central differences and seeds.

The references are independent of symprop: PyTorch's own modules (``torch.nn.BatchNorm1d``
in training and eval mode, ``torch.nn.LayerNorm``), inverted dropout written as the
product with the mask the generated module drew, residual adds written as ``x + f``, and
central differences of the module's own training-mode objective in extended precision.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from test_numpy_support import build, one_hot, targets

from symprop import Dense, Network
from symprop.codegen.numpy.kinds import ArrayName, KindPrinter
from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import (
    DENSE,
    PROFILE_NAMES,
    Display,
    HyperParameter,
    Intermediate,
    LayerKind,
    LayerParameter,
    Operand,
    j_f,
    n,
    r_b,
    register_layer_kind,
    unregister_layer_kind,
)
from symprop.core.spec import BatchNorm, Dropout, Layer, LayerNorm, Residual, Training

NETS = {
    # The example: batch norm, a skip connection, dropout.
    "bn-residual-dropout": Network(
        inputs=4,
        layers=[
            Dense(8, "relu", name="h1"),
            BatchNorm("relu"),
            Dense(8),
            Residual("h1", "tanh"),
            Dropout(0.2),
            Dense(3, "softmax"),
        ],
        loss="cross_entropy",
        l2=0.01,
    ),
    # Layer norm, biases regularised, sigmoid outputs.
    "layer-norm": Network(
        inputs=3,
        layers=[
            Dense(6),
            LayerNorm("tanh", eps=1e-3),
            Dense(5, "elu", alpha=0.7),
            Dropout(0.5, "sigmoid"),
            Dense(2, "sigmoid"),
        ],
        loss="binary_cross_entropy",
        l2=0.003,
        regularize_biases=True,
    ),
    # One layer's output read by three layers: its gradients add (fan-out of three).
    "fan-out": Network(
        inputs=3,
        layers=[
            Dense(5, "tanh", name="h"),
            BatchNorm("softplus", eps=1e-4, momentum=0.3),
            Residual("h", "silu"),
            Dense(5, "leaky_relu", alpha=0.1, name="d"),
            Residual(["h", "d"], "identity"),
            Dense(2),
        ],
        loss="mse",
    ),
    # The output layer's kind is not dense: δ^L is ∂C/∂z^L of the batch norm's output.
    "norm-output": Network(
        inputs=3,
        layers=[Dense(4, "silu"), Dense(2), BatchNorm("sigmoid", eps=0.01)],
        loss="binary_cross_entropy",
        l2=0.02,
    ),
}

BATCH = 6
RUFF = shutil.which("ruff")


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_modules_of_layer_kinds_are_ruff_clean_and_import_only_numpy() -> None:
    files = [build(net).__file__ for net in NETS.values()]
    common = ["--isolated", "--line-length", "100"]
    lint = subprocess.run(
        [RUFF, "check", *common, "--select", "E,F,W,I,B,UP", *files], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [RUFF, "format", *common, "--check", *files], capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    stdlib = {"__future__", "argparse", "collections", "hashlib", "json", "os", "stat", "sys"}
    stdlib |= {"math", "threading", "typing", "warnings", "zipfile"}
    for path in files:
        imports = re.findall(r"^(?:from|import) ([\w.]+)", Path(path).read_text("utf-8"), re.M)
        assert {name.split(".")[0] for name in imports} - stdlib == {"numpy"}, path


def _torch_run(net: Network, params: dict, X: np.ndarray, given: dict, *, train: bool):
    """PyTorch's forward pass of ``net``: returns the output, the parameter tensors and the
    normalisation modules (whose running statistics the forward pass updates)."""
    import torch
    import torch.nn.functional as F

    acts = {
        "identity": lambda z, p: z,
        "sigmoid": lambda z, p: torch.sigmoid(z),
        "tanh": lambda z, p: torch.tanh(z),
        "relu": lambda z, p: torch.relu(z),
        "leaky_relu": lambda z, p: F.leaky_relu(z, negative_slope=p["alpha"]),
        "softplus": lambda z, p: F.softplus(z, beta=1.0, threshold=1e9),
        "elu": lambda z, p: F.elu(z, alpha=p["alpha"]),
        "silu": lambda z, p: F.silu(z),
        "softmax": lambda z, p: torch.softmax(z, dim=1),
    }
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    outs = [torch.tensor(X, dtype=torch.float64)]
    modules = {}
    for l, layer in enumerate(net.layers, start=1):
        src = [outs[s] for s in net.sources(l)]
        opts = layer.option_values()
        if layer.kind == "dense":
            z = F.linear(src[0], t[f"W{l}"], t[f"b{l}"])
        elif layer.kind in ("batch_norm", "layer_norm"):
            if layer.kind == "batch_norm":
                mod = torch.nn.BatchNorm1d(layer.width, eps=opts["eps"], momentum=opts["momentum"])
                mod.running_mean = torch.tensor(params[f"running_mean{l}"], dtype=torch.float64)
                mod.running_var = torch.tensor(params[f"running_var{l}"], dtype=torch.float64)
            else:
                mod = torch.nn.LayerNorm(layer.width, eps=opts["eps"])
            mod = mod.double()
            # The module's own parameters, whose gradients autograd fills.
            mod.weight = t[f"gamma{l}"] = torch.nn.Parameter(t[f"gamma{l}"].detach())
            mod.bias = t[f"beta{l}"] = torch.nn.Parameter(t[f"beta{l}"].detach())
            mod.train(train)
            modules[l] = mod
            z = mod(src[0])
        elif layer.kind == "dropout":
            if train:
                mask = torch.tensor(given[f"mask{l}"], dtype=torch.float64)
                z = src[0] * mask / (1 - opts["p"])
            else:
                z = src[0]  # eval mode: no dropout
        else:  # residual
            z = src[0] + src[1]
        outs.append(acts[layer.activation](z, layer.param_values()))
    return outs[-1], t, modules


def _torch_objective(net: Network, params: dict, X, Y, given):
    """J (training mode) and its gradients by torch.autograd, float64."""
    import torch

    losses = {
        "mse": lambda a, y: ((a - y) ** 2).sum(dim=1),
        "binary_cross_entropy": lambda a, y: (
            -(y * torch.log(a) + (1 - y) * torch.log(1 - a)).sum(dim=1)
        ),
        "cross_entropy": lambda a, y: -(y * torch.log(a)).sum(dim=1),
    }
    a, t, modules = _torch_run(net, params, X, given, train=True)
    y = torch.tensor(one_hot(Y, net.widths[-1]), dtype=torch.float64)
    J = losses[net.loss](a, y).mean()
    decayed = [k for k in t if k.startswith("W") or (net.regularize_biases and k[0] == "b")]
    decayed = [k for k in decayed if not k.startswith("beta")]
    J = J + net.l2 * sum((t[k] ** 2).sum() for k in decayed)
    J.backward()
    grads = {k: v.grad.numpy() for k, v in t.items() if v.grad is not None}
    return J.item(), grads, modules


def _point(m, seed: int = 3):
    """Parameters away from their initial values (γ ≠ 1, β ≠ 0, running statistics set)."""
    rng = np.random.default_rng(seed)
    params = m.init_params(seed)
    for k in params:
        params[k] = params[k] + 0.3 * rng.standard_normal(params[k].shape)
        if k.startswith("running_var"):
            params[k] = np.abs(params[k]) + 0.5
    return params


def _data(net: Network, m, seed: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((BATCH, net.widths[0]))
    return X, targets(net, BATCH, rng), m.draw_given(rng, BATCH)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b) / scale))


@pytest.mark.parametrize("name", list(NETS))
def test_gradients_match_torch_autograd(name: str) -> None:
    pytest.importorskip("torch")
    net = NETS[name]
    m = build(net)
    params = _point(m)
    X, Y, given = _data(net, m)
    J, grads, _ = _torch_objective(net, params, X, Y, given)
    assert m.training_loss(params, X, Y, given) == pytest.approx(J, rel=1e-12)
    ours = m.gradients(params, X, Y, given)
    assert set(ours) == set(m._TRAINABLE)
    for key in m._TRAINABLE:
        assert np.max(np.abs(ours[key] - grads[key])) < 1e-10, key


@pytest.mark.parametrize("name", list(NETS))
def test_gradients_match_central_differences(name: str) -> None:
    net = NETS[name]
    m = build(net)
    params = _point(m, seed=7)
    X, Y, given = _data(net, m, seed=8)
    assert m.gradient_check(params, X, Y, given) < 1e-6


@pytest.mark.parametrize("name", ["bn-residual-dropout", "fan-out"])
def test_a_step_updates_running_statistics_as_batchnorm1d(name: str) -> None:
    pytest.importorskip("torch")
    net = NETS[name]
    m = build(net)
    params = _point(m)
    X, Y, given = _data(net, m)
    _, _, modules = _torch_objective(net, params, X, Y, given)
    c = m._forward_train(params, X, given)
    m._update_running(params, c)
    for l, mod in modules.items():
        for stat in ("running_mean", "running_var"):
            ours, theirs = params[f"{stat}{l}"], getattr(mod, stat).numpy()
            assert np.max(np.abs(ours - theirs)) < 1e-12, (stat, l)


def test_predict_after_training_matches_eval_mode() -> None:
    pytest.importorskip("torch")
    net = NETS["bn-residual-dropout"]
    m = build(net)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    Y = rng.integers(0, 3, 40)
    params = m.init_params(0)
    m.train(params, X, Y, epochs=3, learning_rate=0.1, batch_size=8, seed=0)
    assert not np.allclose(params["running_mean2"], 0)  # training moved them
    Xt = rng.standard_normal((9, 4))
    out, _, _ = _torch_run(net, params, Xt, {}, train=False)
    assert np.max(np.abs(m.forward(params, Xt) - out.detach().numpy())) < 1e-12
    assert np.array_equal(m.predict(params, Xt), np.argmax(out.detach().numpy(), axis=1))


def test_dropout_mask_is_drawn_with_the_derived_keep_probability() -> None:
    net = NETS["bn-residual-dropout"]  # p = 0.2: a unit is kept with probability 0.8
    m = build(net)
    assert m._GIVEN == {"mask5": ((8,), 0.8)}
    mask = m.draw_given(np.random.default_rng(0), 20000)["mask5"]
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert abs(mask.mean() - 0.8) < 0.01


def test_same_seed_same_bytes_and_checkpoint_resume(tmp_path) -> None:
    net = NETS["bn-residual-dropout"]
    m = build(net)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4))
    Y = rng.integers(0, 3, 30)
    np.savez(tmp_path / "data.npz", X=X, y=Y)

    def trained() -> dict:
        params = m.init_params(0)
        m.train(params, X, Y, epochs=4, learning_rate=0.05, batch_size=7, seed=5, optimizer="adam")
        return params

    first, second = trained(), trained()
    for k in m._KEYS:
        assert first[k].tobytes() == second[k].tobytes()
    # Through the command line: 4 epochs at once vs 2 + 2 resumed from a checkpoint.
    args = ["--data", str(tmp_path / "data.npz"), "--batch-size", "7", "--seed", "5"]
    assert m.main([*args, "--epochs", "4", "--save", str(tmp_path / "once.npz")]) == 0
    ck = str(tmp_path / "ck.npz")
    assert m.main([*args, "--epochs", "2", "--checkpoint", ck]) == 0
    assert (
        m.main([*args, "--epochs", "4", "--checkpoint", ck, "--save", str(tmp_path / "r.npz")]) == 0
    )
    once, resumed = m.load(tmp_path / "once.npz"), m.load(tmp_path / "r.npz")
    for k in m._KEYS:
        assert once[k].tobytes() == resumed[k].tobytes(), k
    # The running statistics travel with the parameters and the checkpoint.
    assert not np.allclose(once["running_var2"], 1)


def test_a_lone_last_sample_joins_the_batch_before_it() -> None:
    # 9 samples in batches of 4: 4 + 5, never a batch of one (no batch variance).
    net = NETS["bn-residual-dropout"]
    m = build(net)
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    trainer = m._Trainer(
        m.init_params(0),
        X,
        Y,
        learning_rate=0.1,
        batch_size=4,
        seed=0,
        optimizer="sgd",
        momentum=0.0,
    )
    assert [len(b) for b in trainer._batches(np.arange(9))] == [4, 5]
    with pytest.raises(ValueError, match="batch_size"):
        m.train(m.init_params(0), X, Y, epochs=1, learning_rate=0.1, batch_size=1, seed=0)


# --- a kind registered at run time --------------------------------------------------------

_x = Operand("x", (n,), "input of one sample")
_y = Operand("y", (n,), "output of one sample")
_s = Operand("s", (n,), "per-unit scale")
TOY = LayerKind(
    name="toy_scale",
    description="elementwise scale y = s ⊙ x",
    inputs=(_x,),
    output=_y,
    output_indices=(j_f,),
    forward=_s(j_f) * _x(j_f),
    parameters=(LayerParameter(_s, "scale", "ones"),),
    display=tuple(
        (p, (("x", Display("x", "x")), ("y", Display("y", "y")), ("s", Display("s", "s"))))
        for p in ("nielsen", "goodfellow", "ng")
    ),
)


@pytest.fixture
def toy_kind():
    register_layer_kind(TOY)
    yield TOY
    unregister_layer_kind(TOY.name)


def test_a_kind_registered_at_run_time_generates_and_trains(toy_kind) -> None:
    net = Network(
        inputs=3,
        layers=[Dense(4, "tanh"), Layer("toy_scale", None, "sigmoid"), Dense(2, "softmax")],
        loss="cross_entropy",
        training=Training(batch_size=4),
    )
    m = build(net)
    assert "s2" in m._TRAINABLE
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((BATCH, 3)), rng.integers(0, 2, BATCH)
    params = _point(m)
    assert m.gradient_check(params, X, Y, {}) < 1e-6
    Xl = rng.standard_normal((60, 3))
    Yl = (Xl[:, 0] > 0).astype(np.int64)
    params = m.init_params(0)
    history = m.train(params, Xl, Yl, epochs=30, learning_rate=0.5, batch_size=10, seed=0)
    assert history[-1] < 0.5 * history[0]


def test_an_mnist_sized_network_with_batch_norm_and_dropout_learns() -> None:
    # 784-256-256-10 with batch norm and dropout, on a slice of separable MNIST-sized data
    # (bench/bench_train.py --kinds times the full 70,000 samples).
    hidden = [Dense(256), BatchNorm("relu"), Dropout(0.2)]
    net = Network(inputs=784, layers=[*hidden, *hidden, Dense(10, "softmax")], loss="cross_entropy")
    m = build(net)
    rng = np.random.default_rng(0)
    X = rng.random((1500, 784))
    labels = np.argmax((X - 0.5) @ rng.standard_normal((784, 10)), axis=1)
    params = m.init_params(0)
    # 270k parameters: the check takes 20 random directions.
    assert m.gradient_check(params, X[:8], labels[:8], m.draw_given(rng, 8)) < 1e-6
    history = m.train(
        params,
        X[:1200],
        labels[:1200],
        epochs=5,
        learning_rate=0.05,
        batch_size=100,
        seed=0,
        optimizer="momentum",
        momentum=0.9,
    )
    assert history[-1] < 0.5 * history[0]
    # Prediction mode (running statistics, no dropout) on the samples it learned from, and on
    # unseen ones: 1,200 samples of 784 inputs are too few to learn the map well, but better
    # than chance (0.1).
    assert m._accuracy(params, X[:1200], labels[:1200]) > 0.8
    assert m._accuracy(params, X[1200:], labels[1200:]) > 0.15


def test_index_forms_print_as_the_same_arrays_as_matrix_forms() -> None:
    # Dense's compact index forms (Σ_j W_jq g_j; g_q x_p summed over the batch) take the
    # printer's einsum path; its matrix forms (g @ W; g.T @ x) are plain products: the two
    # printed codes must compute the same arrays, and match NumPy written by hand.
    rules = derive_layer("dense")
    sizes = {s: sp.Integer(v) for s, v in zip(DENSE.sizes(), (3, 2), strict=True)}
    arrays = {
        "x": ArrayName("x", True),
        "W": ArrayName("W", False),
        "b": ArrayName("b", False),
        "g": ArrayName("g", True),
    }
    printer = KindPrinter(arrays, sizes, {})
    rng = np.random.default_rng(0)
    env = {
        "np": np,
        "x": rng.standard_normal((5, 3)),
        "W": rng.standard_normal((2, 3)),
        "b": rng.standard_normal(2),
        "g": rng.standard_normal((5, 2)),
    }
    by_hand = {"x": env["g"] @ env["W"], "W": env["g"].T @ env["x"], "b": env["g"].sum(axis=0)}
    for grad in (*rules.inputs, *rules.parameters):
        total = grad.target != "x"
        index = printer.index(grad.compact, grad.indices, sample=True, total=total)
        matrix = printer.matrix(grad.matrix, total=total)
        assert index != matrix or grad.target == "b"
        for code in (index, matrix):
            assert np.allclose(eval(code, env), by_hand[grad.target], rtol=1e-14), code
    forward = printer.index(rules.forward, DENSE.output_indices, sample=True)
    expected = env["x"] @ env["W"].T + env["b"]
    assert np.allclose(eval(forward, env), expected, rtol=1e-14)
    assert np.allclose(eval(printer.matrix(rules.forward_matrix), env), expected, rtol=1e-14)


def test_a_float32_module_stays_float32_and_agrees_with_float64() -> None:
    net = NETS["bn-residual-dropout"]
    m64, m32 = build(net), build(net, "float32")
    params = _point(m64)
    X, Y, given = _data(net, m64)
    g64 = m64.gradients(params, X, Y, given)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    g32 = m32.gradients(p32, X, Y, given)
    for k in m64._TRAINABLE:
        assert g32[k].dtype == np.float32, k
        assert np.allclose(g32[k], g64[k], rtol=1e-3, atol=1e-5), k
    m32.train(p32, X, Y, epochs=2, learning_rate=0.1, batch_size=3, seed=0, optimizer="adam")
    assert all(v.dtype == np.float32 for v in p32.values())


# --- a run-time kind with a per-sample scalar intermediate ----------------------------------

_rms = Operand("rms", (), "root mean square", positive=True)
_gain = Operand("gain", (n,), "per-unit gain")
_eps = sp.Symbol("epsilon", positive=True)
RMS = LayerKind(
    name="rms_norm_test",
    description="RMS normalisation y = κ x / ρ, ρ = sqrt(ε + Σ x²/n)",
    inputs=(_x,),
    output=_y,
    output_indices=(j_f,),
    forward=_gain(j_f) * _x(j_f) / _rms(),
    intermediates=(Intermediate(_rms, (), sp.sqrt(_eps + sp.Sum(_x(r_b) ** 2, (r_b, 1, n)) / n)),),
    parameters=(LayerParameter(_gain, "scale", "ones"),),
    hyper_parameters=(
        HyperParameter("eps", _eps, 1e-5, 0.0, float("inf"), "added to the mean square"),
    ),
    display=tuple(
        (
            p,
            (
                ("x", Display("x", "x")),
                ("y", Display("y", "y")),
                ("gain", Display(r"\kappa", "κ")),
                ("rms", Display(r"\rho", "ρ")),
            ),
        )
        for p in PROFILE_NAMES
    ),
)


@pytest.fixture
def rms_kind():
    register_layer_kind(RMS)
    yield RMS
    unregister_layer_kind(RMS.name)


def _rms_reference(params: dict, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, float]:
    """The RMS network's output and mean cross-entropy, written in NumPy by hand."""
    a1 = np.tanh(X @ params["W1"].T + params["b1"])
    rho = np.sqrt(1e-5 + np.mean(a1**2, axis=1, keepdims=True))
    a2 = 1 / (1 + np.exp(-(params["gain2"] * a1 / rho)))
    z3 = a2 @ params["W3"].T + params["b3"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    logp = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return np.exp(logp), float(-logp[np.arange(len(Y)), Y].mean())


@pytest.mark.parametrize("batch", [5, 4])
def test_a_per_sample_scalar_intermediate_broadcasts_over_the_rows(rms_kind, batch) -> None:
    # ρ is one number per sample: the module holds it as (batch,) and must broadcast it over
    # each row; with batch = width (4) a wrong broadcast gives numbers, not an error.
    net = Network(
        inputs=3,
        layers=[Dense(4, "tanh"), Layer(RMS.name, None, "sigmoid"), Dense(2, "softmax")],
        loss="cross_entropy",
        training=Training(batch_size=4),
    )
    m = build(net)
    rng = np.random.default_rng(batch)
    params = _point(m)
    X, Y = rng.standard_normal((batch, 3)), rng.integers(0, 2, batch)
    out, J = _rms_reference(params, X, Y)
    assert np.allclose(m.forward(params, X), out, rtol=1e-12, atol=0)
    assert m.training_loss(params, X, Y, {}) == pytest.approx(J, rel=1e-12)
    grads = m.gradients(params, X, Y, {})
    h = 1e-6
    for key in m._TRAINABLE:
        numeric = np.zeros_like(params[key])
        for k in np.ndindex(params[key].shape):
            plus = {**params, key: params[key].copy()}
            minus = {**params, key: params[key].copy()}
            plus[key][k] += h
            minus[key][k] -= h
            numeric[k] = (_rms_reference(plus, X, Y)[1] - _rms_reference(minus, X, Y)[1]) / (2 * h)
        assert np.max(np.abs(grads[key] - numeric)) < 1e-7, key


def test_a_batch_of_one_is_refused_where_a_layer_couples_the_batch() -> None:
    # Batch norm over one sample: x − μ is 0, so γ's gradient is 0 and the rest is noise.
    # training_loss and gradients refuse it as train does, naming the size and the minimum.
    net = NETS["bn-residual-dropout"]
    m = build(net)
    params = _point(m)
    X, Y, _ = _data(net, m)
    rng = np.random.default_rng(0)
    for fn in (m.gradients, m.training_loss, m.gradient_check):
        with pytest.raises(ValueError, match=r"^X: 1 sample\(s\); .*at least 2$") as err:
            fn(params, X[:1], Y[:1], m.draw_given(rng, 1))
        assert "\n" not in str(err.value)
    two = m.gradients(params, X[:2], Y[:2], m.draw_given(rng, 2))
    assert set(two) == set(m._TRAINABLE)
    # A network without a batch-coupled layer takes a batch of one.
    plain = build(NETS["layer-norm"])
    p = _point(plain)
    Xp, Yp, _ = _data(NETS["layer-norm"], plain)
    assert set(plain.gradients(p, Xp[:1], Yp[:1], plain.draw_given(rng, 1))) == set(
        plain._TRAINABLE
    )
