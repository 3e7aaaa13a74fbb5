"""symprop derive SPEC --graph: a small network's computation graph, checked three ways.

Every input node's gradient (W, b, x, y) is compared with (a) brute-force ``sympy.diff`` of
the whole per-sample objective built by :func:`symprop.core.symbols.instantiate` (an independent
construction from the registry definitions), (b) the derivation engine's own formulas (δ^L,
the recurrence, δ a^T + 2λW) and (c) central differences, at the same point.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from click.testing import CliRunner

from symprop.cli.main import cli
from symprop.core import symbols as g
from symprop.core.calculus import expand_activations
from symprop.core.errors import SpecError, SymPropError
from symprop.core.registry import (
    ACTIVATIONS,
    LOSSES,
    Activation,
    Loss,
    a_vec,
    j_idx,
    n_units,
    y_vec,
    z_vec,
)
from symprop.core.registry import a as a_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.spec import Dense, Network, load_spec
from symprop.derivation.build import derive
from symprop.explain.emit import regenerate_network_graphs, render_picture
from symprop.explain.formats import to_dot, to_json, to_tex
from symprop.explain.network import (
    MAX_ELEMENTARY_NODES,
    MAX_LAYERS,
    MAX_UNITS,
    check_drawable,
    default_point,
    explain_network,
    network_graph,
    network_point,
)
from symprop.explain.printers import GraphStrPrinter

ROOT = Path(__file__).resolve().parent.parent

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"), reason="Graphviz dot not installed"
)
needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None and not os.environ.get("CI"), reason="latexmk not installed"
)


# ---------------------------------------------------------------- networks from the registry


def _valid(**kwargs: object) -> Network | None:
    try:
        return Network(**kwargs)  # type: ignore[arg-type]
    except SpecError:
        return None


def _cases() -> list[tuple[str, Network]]:
    """Every hidden activation and every (output activation, loss) pair the specs allow."""
    cases = []
    for index, (name, act) in enumerate(sorted(ACTIVATIONS.items())):
        if not act.hidden_allowed:
            continue
        net = _valid(
            inputs=2,
            layers=[Dense(2, name), Dense(2, "identity")],
            loss="half_sse",
            l2=0.01 if index % 2 else 0.0,
            regularize_biases=index % 3 == 0,
        )
        assert net is not None
        cases.append((f"hidden-{name}", net))
    for loss in sorted(LOSSES):
        for out in sorted(ACTIVATIONS):
            net = _valid(inputs=2, layers=[Dense(2, "tanh"), Dense(2, out)], loss=loss, l2=0.001)
            if net is not None:
                cases.append((f"{out}-{loss}", net))
    return cases


CASES = _cases()


def _symbols_and_values(net: Network, point: dict) -> tuple[g.Instance, dict, dict]:
    """The brute-force instance, its symbol → value map, and symbol → graph input names."""
    inst = g.instantiate(net)
    values: dict[sp.Symbol, sp.Basic] = {}
    names: dict[sp.Symbol, tuple[str, str, int, int]] = {}
    for layer in inst.W:
        for (r, c), sym in np.ndenumerate(np.array(inst.W[layer].tolist(), dtype=object)):
            values[sym] = point[f"W{layer}"][r, c]
            names[sym] = (f"W{layer}", f"w{layer}_{r + 1}{c + 1}", r, c)
        for r, sym in enumerate(inst.b[layer]):
            values[sym] = point[f"b{layer}"][r, 0]
            names[sym] = (f"b{layer}", f"b{layer}_{r + 1}", r, 0)
    for role, vector in (("x", inst.x), ("y", inst.y)):
        for r, sym in enumerate(vector):
            values[sym] = point[role][r, 0]
            names[sym] = (role, f"{role}_{r + 1}", r, 0)
    # The branch of every piecewise activation that is active here (the point is off the kinks).
    inst = g.instantiate(net, at=values)
    return inst, values, names


def _graph_gradient(result, granularity: str, name: tuple[str, str, int, int]) -> float:  # noqa: ANN001
    matrix, scalar, r, c = name
    if granularity == "coarse":
        return float(result.grads[matrix][r, c])
    if scalar not in result.grads:  # a target the elementary graph never reads cannot occur
        raise AssertionError(f"{scalar} is not a node of the elementary graph")
    return float(result.grads[scalar])


def _derivation_gradients(net: Network, inst: g.Instance, values: dict) -> dict[sp.Symbol, float]:
    """∂J/∂W^l and ∂J/∂b^l from the derivation engine's formulas, evaluated at the point."""
    d = derive(net)
    L, widths = net.depth, net.widths
    z = {lay: inst.z[lay].xreplace(values).evalf(40) for lay in inst.z}
    a = {lay: inst.a[lay].xreplace(values).evalf(40) for lay in inst.a}
    y = inst.y.xreplace(values)
    out = d.layers[-1]
    out_params = {
        p.symbol: sp.nsimplify(out.params[p.name], rational=True)
        for p in ACTIVATIONS[out.activation].parameters
    }
    rows = []
    for r in range(widths[L]):
        e = d.output_delta.expr.subs(out_params).subs({j_idx: r + 1, n_units: widths[L]}).doit()
        e = e.xreplace(
            {a_vec[m + 1]: a[L][m] for m in range(widths[L])}
            | {y_vec[m + 1]: y[m] for m in range(widths[L])}
            | {z_vec[m + 1]: z[L][m] for m in range(widths[L])}
        )
        rows.append(sp.N(expand_activations(e), 40))
    delta = {L: sp.Matrix(rows)}
    for lay in range(L - 1, 0, -1):
        back = inst.W[lay + 1].xreplace(values).T * delta[lay + 1]
        form = d.layers[lay - 1].dphi_form
        slope = [
            sp.N(expand_activations(form.xreplace({a_scalar: a[lay][r], z_scalar: z[lay][r]})), 40)
            for r in range(widths[lay])
        ]
        delta[lay] = sp.Matrix([back[r] * slope[r] for r in range(widths[lay])])
    lam = sp.nsimplify(net.l2, rational=True)
    grads: dict[sp.Symbol, float] = {}
    for lay in range(1, L + 1):
        W = inst.W[lay].xreplace(values)
        grad_W = delta[lay] * a[lay - 1].T + 2 * lam * W
        grad_b = delta[lay]
        if net.regularize_biases:
            grad_b = grad_b + 2 * lam * inst.b[lay].xreplace(values)
        grads.update(zip(list(inst.W[lay]), [float(v) for v in grad_W], strict=True))
        grads.update(zip(list(inst.b[lay]), [float(v) for v in grad_b], strict=True))
    return grads


@pytest.mark.parametrize("granularity", ["coarse", "elementary"])
@pytest.mark.parametrize(("case", "net"), CASES, ids=[c for c, _ in CASES])
def test_every_input_gradient_matches_sympy_derivation_and_central_differences(
    case: str, net: Network, granularity: str
) -> None:
    result = explain_network(net, granularity=granularity)  # type: ignore[arg-type]
    inst, values, names = _symbols_and_values(net, default_point(net))
    symbols = sorted(values, key=str)
    # The forward pass agrees with the independent construction.
    objective = inst.objective
    assert float(result.values[result.graph.output]) == pytest.approx(
        float(objective.xreplace(values)), rel=1e-12
    )
    composed = _derivation_gradients(net, inst, values)
    fn = sp.lambdify(symbols, objective, "numpy")
    base = np.array([float(values[s]) for s in symbols])
    h = 1e-6
    for index, sym in enumerate(symbols):
        got = _graph_gradient(result, granularity, names[sym])
        brute = float(sp.diff(objective, sym).xreplace(values))
        assert got == pytest.approx(brute, rel=1e-10, abs=1e-12), (case, sym)
        if sym in composed:  # parameters: the derivation engine's formulas
            assert got == pytest.approx(composed[sym], rel=1e-10, abs=1e-12), (case, sym)
        up, down = base.copy(), base.copy()
        up[index] += h
        down[index] -= h
        numeric = (fn(*up) - fn(*down)) / (2 * h)
        assert got == pytest.approx(numeric, rel=1e-5, abs=1e-7), (case, sym)


# ---------------------------------------------------------------- structure and fan-out


def _net(**kwargs: object) -> Network:
    base: dict[str, object] = {
        "inputs": 2,
        "layers": [Dense(2, "sigmoid"), Dense(1, "sigmoid")],
        "loss": "binary_cross_entropy",
    }
    base.update(kwargs)
    return Network(**base)  # type: ignore[arg-type]


def test_coarse_graph_has_one_gate_per_step() -> None:
    net = _net(layers=[Dense(2, "tanh"), Dense(3, "softmax")], loss="cross_entropy")
    graph = network_graph(net)
    gates = [(n.name, n.gate.kind) for n in graph.nodes if n.gate is not None]
    kinds = [kind for _, kind in gates]
    assert kinds == ["matmul", "add", "activation", "matmul", "add", "vector_activation", "loss"]
    assert [name for name, _ in gates if not name.startswith("u_")] == ["z1", "a1", "z2", "a2", "C"]
    assert sorted(graph.inputs) == ["W1", "W2", "b1", "b2", "x", "y"]
    assert graph.node("W1").shape == (2, 2) and graph.node("W2").shape == (3, 2)


def test_weights_fan_out_into_the_regulariser_and_their_gradients_add() -> None:
    lam = 0.05
    for granularity in ("coarse", "elementary"):
        net = _net(l2=lam)
        result = explain_network(net, granularity=granularity)
        graph = result.graph
        weights = [n for n in graph.inputs if n.lower().startswith("w")]
        assert weights
        for name in weights:
            children = graph.children(name)
            assert len(children) == 2, (name, children)
            pieces = [result.contributions[(child, name)] for child in children]
            total = pieces[0] + pieces[1]
            assert sp.Matrix([total]).equals(sp.Matrix([result.grads[name]])) or np.allclose(
                np.array(sp.Matrix([total]), dtype=float),
                np.array(sp.Matrix([result.grads[name]]), dtype=float),
                rtol=1e-25,
            )
            # One child is the regulariser's branch: its share is exactly 2 λ W.
            value = np.array(sp.Matrix([result.values[name]]), dtype=float)
            shares = [np.array(sp.Matrix([p]), dtype=float) for p in pieces]
            assert any(np.allclose(s, 2 * lam * value, rtol=1e-12) for s in shares)
            assert all(np.any(s != 0) for s in shares)
        # The regulariser is its own branch joining the loss at the output J = C + R.
        assert graph.output == "J" and set(graph.node("J").parents) == {"C", "R"}
        # Without weight decay there is no branch: one child, no R, output C.
        plain = explain_network(_net(), granularity=granularity).graph
        assert plain.output == "C" and "R" not in {n.name for n in plain.nodes}
        assert all(len(plain.children(n)) == 1 for n in weights)


def test_regularised_biases_fan_out_too() -> None:
    graph = network_graph(_net(l2=0.1, regularize_biases=True))
    assert len(graph.children("b1")) == 2
    assert len(network_graph(_net(l2=0.1)).children("b1")) == 1


# ---------------------------------------------------------------- the sample


def test_default_point_is_deterministic_valid_and_off_the_kinks() -> None:
    for name, act in ACTIVATIONS.items():
        if not act.hidden_allowed:
            continue
        net = Network(inputs=3, layers=[Dense(4, name), Dense(2, "softmax")], loss="cross_entropy")
        point = default_point(net)
        assert point == default_point(net)
        assert point != default_point(net, seed=1)
        y = list(point["y"])
        assert sorted(y) == [0, 1]  # one-hot target for a distribution loss
        z = point["W1"] * point["x"] + point["b1"]
        if isinstance(act.definition, sp.Piecewise):
            assert all(v != 0 for v in z)
    bce = _net(layers=[Dense(2, "relu"), Dense(3, "sigmoid")])
    assert all(0 < v < 1 for v in default_point(bce)["y"])


def test_at_overrides_only_what_it_names() -> None:
    net = _net()
    point = network_point(net, {"x": [1, -1], "y": 1, "W2": [[0.5, 0.25]]})
    base = default_point(net)
    assert list(point["x"]) == [1, -1] and point["y"].shape == (1, 1) and point["y"][0] == 1
    assert point["W2"].tolist() == [[sp.Rational(1, 2), sp.Rational(1, 4)]]
    assert point["W1"] == base["W1"] and point["b1"] == base["b1"]
    result = explain_network(net, {"x": [1, -1], "y": [1], "W2": [[0.5, 0.25]]})
    assert [float(v) for v in result.values["x"]] == [1.0, -1.0]


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ({"x": [1, 2, 3]}, r"x must be 2x1 \(the network has 2 inputs\), got 3x1"),
        ({"W1": [[1, 2]]}, r"W1 must be 2x2 \(layer 1 maps 2 units to 2\), got 1x2"),
        ({"q": 1}, r"no value q; its values are x, W1, b1, W2, b2, y"),
        ({"b2": [[1, 2], [3]]}, r"b2: rows of different lengths"),
    ],
)
def test_bad_values_are_one_clear_message(at: dict, message: str) -> None:
    with pytest.raises(SymPropError, match=message) as info:
        explain_network(_net(), at)
    assert "\n" not in str(info.value)


def test_too_large_networks_are_refused_naming_the_field() -> None:
    wide = Network(inputs=2, layers=[Dense(MAX_UNITS + 1, "relu"), Dense(1)], loss="mse")
    with pytest.raises(SpecError) as info:
        check_drawable(wide)
    assert info.value.field == "layers[0].width" and info.value.value == MAX_UNITS + 1
    assert f"at most {MAX_UNITS} units per layer" in str(info.value)
    with pytest.raises(SpecError, match=r"^inputs: got 64"):
        check_drawable(load_spec(ROOT / "examples" / "digits.toml"))
    deep = Network(inputs=1, layers=[Dense(1, "tanh")] * (MAX_LAYERS + 1), loss="mse")
    with pytest.raises(SpecError, match=rf"^layers: got '{MAX_LAYERS + 1} layers'"):
        check_drawable(deep)
    check_drawable(Network(inputs=MAX_UNITS, layers=[Dense(MAX_UNITS)] * MAX_LAYERS, loss="mse"))
    busy = Network(inputs=5, layers=[Dense(5, "sigmoid"), Dense(5, "sigmoid")], loss="mse")
    with pytest.raises(SpecError, match=rf"at most {MAX_ELEMENTARY_NODES} are drawn"):
        network_graph(busy, "elementary")
    network_graph(busy, "coarse")


# ---------------------------------------------------------------- a new registry entry


def test_a_new_activation_and_loss_flow_through(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing in the graph names an activation or a loss: new entries need no code.
    z = z_scalar
    monkeypatch.setitem(
        ACTIVATIONS, "softsign_test", Activation("softsign_test", r"\phi", "φ", z / (1 + z**2))
    )
    monkeypatch.setitem(
        LOSSES,
        "quartic_test",
        Loss("quartic_test", r"\ell_4", "quartic", (a_scalar - sp.Symbol("y", real=True)) ** 4),
    )
    net = Network(
        inputs=2, layers=[Dense(2, "softsign_test"), Dense(1)], loss="quartic_test", l2=0.01
    )
    for granularity in ("coarse", "elementary"):
        result = explain_network(net, granularity=granularity)
        inst, values, names = _symbols_and_values(net, default_point(net))
        for sym in values:
            got = _graph_gradient(result, granularity, names[sym])
            brute = float(sp.diff(inst.objective, sym).xreplace(values))
            assert got == pytest.approx(brute, rel=1e-10, abs=1e-12)
    labels = {n.gate.label for n in network_graph(net).nodes if n.gate}
    assert {"φ", "quartic"} <= labels


# ---------------------------------------------------------------- the command line


def _derive(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["derive", *args])


def test_cli_writes_every_format_from_the_suffix(tmp_path: Path) -> None:
    spec = str(ROOT / "examples" / "xor.toml")
    outputs = [tmp_path / f"xor.{ext}" for ext in ("json", "dot", "tex")]
    result = _derive(spec, *[arg for out in outputs for arg in ("--graph", str(out))])
    assert result.exit_code == 0, result.output
    for out in outputs:
        assert out.stat().st_size > 0 and f"wrote {out}" in result.output
    import json

    data = json.loads(outputs[0].read_text("utf-8"))
    expected = explain_network(load_spec(spec))
    by_name = {n["name"]: n for n in data["nodes"]}
    assert by_name["W1"]["gradient"] == [
        [float(v) for v in row] for row in expected.grads["W1"].tolist()
    ]
    assert data["output"] == "C"
    assert "digraph" in outputs[1].read_text("utf-8")
    assert r"\begin{tikzpicture}" in outputs[2].read_text("utf-8")


def test_cli_at_and_granularity(tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    args = ["--graph", str(out), "--at", "x=[1,0]", "--at", "y=[1]", "--granularity", "elementary"]
    result = _derive(str(ROOT / "examples" / "xor.toml"), *args)
    assert result.exit_code == 0, result.output
    text = out.read_text("utf-8")
    assert '"x_1"' in text and '"w1_11"' in text
    import json

    nodes = {n["name"]: n for n in json.loads(text)["nodes"]}
    assert nodes["x_1"]["value"] == 1.0 and nodes["x_2"]["value"] == 0.0
    assert nodes["y_1"]["value"] == 1.0


@pytest.mark.parametrize(
    ("spec", "args", "message"),
    [
        (
            "digits.toml",
            [],
            r"digits\.toml: inputs: got 64; a computation graph is drawn for at most 5 units",
        ),
        (
            "ng_classifier.toml",
            ["--granularity", "elementary"],
            r"granularity: got 'elementary'; .* nodes",
        ),
        ("xor.toml", ["--at", "x=[1,2,3]"], r"--at: x must be 2x1"),
        ("xor.toml", ["--at", "x=[1,2"], r"--at: the value of x is not a number or list"),
        ("xor.toml", ["--at", "W9=[[1]]"], r"--at: this network has no value W9"),
        ("xor.toml", ["--at", "x=[1,2]", "--at", "x=[1,2]"], r"--at: x is given twice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, spec: str, args: list, message: str
) -> None:
    out = tmp_path / "g.svg"
    result = _derive(str(ROOT / "examples" / spec), "--graph", str(out), *args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_cli_bad_suffix_and_options_without_graph(tmp_path: Path) -> None:
    spec = str(ROOT / "examples" / "xor.toml")
    bad = _derive(spec, "--graph", str(tmp_path / "g.svg"), "--graph", str(tmp_path / "g.pdf"))
    assert bad.exit_code == 2 and "suffix chooses the format" in bad.stderr
    assert not (tmp_path / "g.svg").exists()  # nothing is drawn before every name is checked
    lonely = _derive(spec, "--at", "x=[1,2]")
    assert lonely.exit_code == 2 and "apply only with --graph" in lonely.output


# ---------------------------------------------------------------- pictures and golden files


@needs_dot
def test_cli_renders_svg_and_png_with_the_numbers(tmp_path: Path) -> None:
    spec = ROOT / "examples" / "goodfellow_mlp.toml"
    svg, png = tmp_path / "g.svg", tmp_path / "g.png"
    result = _derive(str(spec), "--graph", str(svg), "--graph", str(png))
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000
    texts = {
        html.unescape(t).strip("\u2002 ")
        for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg.read_text("utf-8"))
    }
    expected = explain_network(load_spec(spec))
    printer = GraphStrPrinter(3)
    for node in expected.graph.nodes:
        assert node.name in texts  # every node is drawn, named
    # The output's value and the bias gradients appear, rounded as drawn.
    assert printer.doprint(expected.values["J"]) in texts
    for entry in expected.contributions[("z1", "b1")]:
        assert printer.doprint(entry) in texts


@needs_dot
@needs_latex
def test_network_tex_compiles(tmp_path: Path) -> None:
    tex = tmp_path / "g.tex"
    result = _derive(str(ROOT / "examples" / "goodfellow_mlp.toml"), "--graph", str(tex))
    assert result.exit_code == 0, result.output
    done = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tmp_path,
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "g.log").read_text("latin-1")
    assert "Overfull" not in log and "undefined" not in log.lower()


@needs_dot
def test_checked_in_network_graphs_are_current(tmp_path: Path) -> None:
    written = regenerate_network_graphs(tmp_path)
    assert {p.name for p in written} >= {"xor.svg", "xor.png", "xor.tex", "xor.json"}
    for path in written:
        golden = ROOT / "generated" / "graph" / path.name
        assert golden.exists(), f"{golden} is missing; run python -m symprop.regenerate"
        assert golden.read_bytes() == path.read_bytes(), f"{golden} is stale; regenerate it"


@needs_dot
def test_same_bytes_twice_and_under_another_hash_seed(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in regenerate_network_graphs(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in regenerate_network_graphs(tmp_path / "b")}
    assert first == second
    code = (
        "from symprop.core.spec import load_spec;"
        "from symprop.explain.network import explain_network;"
        "from symprop.explain.formats import to_json, to_tex, to_dot;"
        f"r = explain_network(load_spec({str(ROOT / 'examples' / 'ng_classifier.toml')!r}));"
        "print(to_json(r) + to_tex(r) + to_dot(r))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed},
            check=True,
        ).stdout
        for seed in ("0", "12345")
    }
    assert len(outs) == 1


def test_picture_of_the_elementary_graph_renders() -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot not installed")
    result = explain_network(_net(l2=0.01), granularity="elementary")
    svg = render_picture(to_dot(result, "t"), "svg").decode()
    assert "w1_11" in svg and "exp" in svg and "1/x" in svg
    assert "J" in to_json(result) and r"w^{1}_{11}" in to_tex(result)


# --- networks of other layer kinds ------------------------------------------------------------

KINDS_SPEC = """
name = "kinds"
inputs = 2
loss = "cross_entropy"
[[layers]]
width = 3
activation = "relu"
name = "h1"
[[layers]]
kind = "batch_norm"
activation = "relu"
[[layers]]
width = 3
[[layers]]
kind = "residual"
inputs = ["h1"]
activation = "tanh"
[[layers]]
kind = "dropout"
p = 0.2
[[layers]]
width = 2
activation = "softmax"
"""


def test_derive_graph_draws_every_kind(tmp_path: Path) -> None:
    spec = tmp_path / "kinds.toml"
    spec.write_text(KINDS_SPEC)
    out = tmp_path / "kinds.json"
    result = CliRunner().invoke(cli, ["derive", str(spec), "--graph", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    names = {node["name"] for node in data["nodes"]}
    # Batch norm's statistics and parameters, the dropout mask, the residual add's output.
    assert {"mu2", "sigma2", "xhat2", "gamma2", "beta2", "mask5", "z4"} <= names
    z4 = next(node for node in data["nodes"] if node["name"] == "z4")
    assert sorted(z4["parents"]) == ["a1", "a3"]  # the skip edge from h1 and the branch
    bad = CliRunner().invoke(cli, ["derive", str(spec), "--graph", str(out), "--at", "gamma2=[1]"])
    assert bad.exit_code == 2
    assert "gamma2 must be 3x1 (layer 2's scale has 3 entries), got 1x1" in bad.output
