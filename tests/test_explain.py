"""symprop explain: the seed's worked examples, gradients vs sympy.diff and central differences."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symprop.explain.backward import backprop
from symprop.explain.emit import regenerate_examples, render_picture
from symprop.explain.formats import to_dot, to_table, to_tex
from symprop.explain.graph import graph_from_assignments
from symprop.explain.user_text import explain_text

ROOT = Path(__file__).resolve().parent.parent


def test_example1_slide_numbers() -> None:
    # Seed 001, example 1: x=2, y=3, z=-2; h = x*y = 6, f = 4; df/dx = y, df/dy = x, df/dz = 1.
    r = explain_text("x*y + z", {"x": 2, "y": 3, "z": -2})
    assert float(r.values["f"]) == 4
    assert [float(r.grads[n]) for n in ("x", "y", "z")] == [3, 2, 1]


def test_example2_slide_numbers() -> None:
    # Seed 001, example 2 (slide rounding): 1/x gate -0.67, exp gate -0.15, *-1 gate 0.15,
    # x0: (-2)(0.15) = -0.30, w0: (3)(0.15) = 0.45, output 0.82.
    r = explain_text("1/(1+exp(-(w0*x0+b)))", {"w0": -2, "x0": 3, "b": 7.5})
    g = r.graph
    by_label = {n.gate.label: n.name for n in g.nodes if n.gate}
    assert round(float(r.values["f"]), 2) == 0.82
    assert round(float(r.grads[g.node(by_label["1/x"]).parents[0]]), 2) == -0.67
    assert round(float(r.grads[g.node(by_label["exp"]).parents[0]]), 2) == -0.15
    assert round(float(r.grads[g.node(by_label["×(-1)"]).parents[0]]), 2) == 0.15
    assert round(float(r.grads["x_0"]), 2) == -0.30
    assert round(float(r.grads["w_0"]), 2) == 0.45
    coarse = explain_text("1/(1+exp(-(w0*x0+b)))", {"w0": -2, "x0": 3, "b": 7.5}, "coarse")
    assert [n.gate.label for n in coarse.graph.nodes if n.gate] == ["×", "+", "σ"]
    # 0.1476 ~ 0.15 = 0.82 (1 - 0.82): the sigmoid's local derivative in the output form.
    sigma_node = coarse.graph.nodes[-1]
    assert round(float(coarse.locals[(sigma_node.name, sigma_node.parents[0])]), 2) == 0.15


def test_example3_vectorized() -> None:
    # Seed 001: m = Wx = [0.11, 0.17], f = 0.041, df/dW = 2 m x^T, df/dx = 2 W^T m.
    W = np.array([[0.3, 0.4], [0.5, 0.6]])
    x = np.array([0.1, 0.2])
    r = explain_text(r"\|W x\|^2", {"W": W.tolist(), "x": x.tolist()})
    m = W @ x
    assert round(float(r.values["f"]), 3) == 0.041
    np.testing.assert_allclose(np.array(r.grads["W"], dtype=float), 2 * np.outer(m, x))
    np.testing.assert_allclose(np.array(r.grads["x"], dtype=float).ravel(), 2 * W.T @ m)
    for name in ("W", "x", "u_1"):  # the shape rule
        assert r.grads[name].shape == r.values[name].shape


def test_direct_and_indirect_dependencies() -> None:
    # Seed 001: u2 = u1^2, u3 = exp(u1 + u2) gives du3/du1 = exp(u1 + u2) (1 + 2 u1).
    u1, u2 = sp.symbols("u1 u_2", real=True)
    graph = graph_from_assignments([("u_2", u1**2), ("u_3", sp.exp(u1 + u2))])
    r = backprop(graph, {"u1": 0.5})
    assert float(r.grads["u1"]) == pytest.approx(np.exp(0.75) * 2, rel=1e-12)


CASES = [
    ("x*y + z", {"x": 2, "y": 3, "z": -2}),
    ("1/(1+exp(-(w0*x0+b)))", {"w0": -2, "x0": 3, "b": 7.5}),
    ("sigma(z)*(1-sigma(z)) + tanh(z*w)", {"z": 0.3, "w": -1.2}),
    ("max(x, y)*x + log(x)", {"x": 3, "y": 1}),
    (r"\frac{1}{2}\|W x - y\|^2", {"W": [[1, 2], [3, -1]], "x": [0.5, -0.25], "y": [1, 2]}),
]


def _explicit(result, expr):  # noqa: ANN001, ANN202
    """The expression in scalar symbols: one per entry of every matrix input."""
    entries, point = {}, {}
    for name in result.graph.inputs:
        node = result.graph.node(name)
        value = result.values[name]
        if node.shape:
            matrix = sp.Matrix(
                *node.shape, lambda r, c, n=name: sp.Symbol(f"{n}_{r}{c}", real=True)
            )
            entries[node.expr] = matrix
            point.update(zip(list(matrix), [float(v) for v in value], strict=True))
        else:
            point[node.expr] = float(value)
    return entries, point


@pytest.mark.parametrize(("text", "at"), CASES)
def test_every_node_gradient_matches_sympy_diff_and_central_differences(text, at) -> None:  # noqa: ANN001
    result = explain_text(text, at)
    whole = result.graph.node(result.graph.output).expr
    for node in result.graph.nodes:
        # Replace the node by a free variable t (all its occurrences: it is one node), then
        # differentiate the whole expression with respect to t.
        if node.shape:
            t = sp.MatrixSymbol("t_", *node.shape)
        else:
            t = sp.Symbol("t_", real=True)
        replaced = whole.xreplace({node.expr: t})
        entries, point = _explicit(result, whole)
        t_entries = sp.Matrix(t) if node.shape else sp.Matrix([t])
        value = result.values[node.name]
        t_values = [float(v) for v in (value if node.shape else [value])]
        explicit = replaced.xreplace(
            {**entries, t: sp.ImmutableMatrix(t_entries) if node.shape else t}
        )
        explicit = explicit.doit()
        if isinstance(explicit, sp.MatrixBase):
            explicit = explicit[0, 0]
        grad = np.array(
            [
                float(v)
                for v in (result.grads[node.name] if node.shape else [result.grads[node.name]])
            ]
        )
        subs = {**point, **dict(zip(list(t_entries), t_values, strict=True))}
        symbolic = np.array([float(sp.diff(explicit, e).subs(subs)) for e in t_entries])
        np.testing.assert_allclose(grad, symbolic, rtol=1e-9, atol=1e-12)
        # Central differences on a compiled (lambdify) version of the same function.
        variables = list(t_entries) + [s for s in subs if s not in set(t_entries)]
        fn = sp.lambdify(variables, explicit, "numpy")
        base = [subs[v] for v in variables]
        h = 1e-6
        numeric = []
        for i in range(len(t_entries)):
            up, down = list(base), list(base)
            up[i] += h
            down[i] -= h
            numeric.append((fn(*up) - fn(*down)) / (2 * h))
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("text", "at", "message"),
    [
        ("foo(x)", {"x": 1}, "unknown function 'foo'"),
        ("W@x", {"W": [[1, 2], [3, 4]], "x": [1, 2, 3]}, "shapes do not conform"),
        ("max(0, x)", {"x": 0}, "not differentiable where its arguments tie"),
        ("log(x)", {"x": -1}, "not real"),
        ("1/x", {"x": 0}, "not defined"),
        ("x*y", {"x": 1}, "missing value for y"),
        ("x + y", {"x": 1, "y": 2, "q": 3}, "does not use"),
    ],
)
def test_errors_are_one_clear_message(text: str, at: dict, message: str) -> None:
    from symprop.core.errors import SymPropError

    with pytest.raises(SymPropError, match=message) as info:
        explain_text(text, at)
    assert "\n" not in str(info.value).split("\n  ")[0]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from symprop.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )


def test_cli_table_json_and_errors(tmp_path: Path) -> None:
    ok = _cli("explain", "x*y + z", "--at", "x=2,y=3,z=-2")
    assert ok.returncode == 0, ok.stderr
    assert "multiply gate" in ok.stdout and "u_1" in ok.stdout
    js = _cli("explain", "x*y + z", "--at", "x=2,y=3,z=-2", "--json")
    import json

    nodes = {n["name"]: n for n in json.loads(js.stdout)["nodes"]}
    assert nodes["x"]["gradient"] == 3.0
    bad = _cli("explain", "foo(x)", "--at", "x=1")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) >= 1
    assert bad.stderr.startswith("error: unknown function 'foo'")
    missing = _cli("explain", "x*y", "--at", "x=1")
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    out = _cli("explain", "x*y", "--at", "x=1,y=2", "-o", str(tmp_path / "g"), "--format", "json")
    assert out.returncode == 0 and (tmp_path / "g.json").exists()


needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"), reason="Graphviz dot not installed"
)
needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None and not os.environ.get("CI"), reason="latexmk not installed"
)


@needs_dot
def test_pictures_render() -> None:
    r = explain_text("x*y + z", {"x": 2, "y": 3, "z": -2})
    svg = render_picture(to_dot(r, "t"), "svg").decode()
    assert "<svg" in svg and "×" in svg
    png = render_picture(to_dot(r, "t"), "png")
    assert png.startswith(b"\x89PNG")


@needs_latex
def test_tex_compiles(tmp_path: Path) -> None:
    r = explain_text(r"\|W x\|^2", {"W": [[0.3, 0.4], [0.5, 0.6]], "x": [0.1, 0.2]})
    tex = tmp_path / "doc.tex"
    tex.write_text(to_tex(r, r"title with $pecial_ chars & \input{x}"))
    done = subprocess.run(
        ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tmp_path,
        capture_output=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


@needs_dot
def test_generated_examples_are_up_to_date(tmp_path: Path) -> None:
    written = regenerate_examples(tmp_path)
    assert len(written) == 12
    for path in written:
        golden = ROOT / "generated" / "explain" / path.name
        assert golden.read_bytes() == path.read_bytes(), f"{golden} is stale; regenerate it"


def test_deterministic_under_other_hash_seed() -> None:
    code = (
        "from symprop.explain.user_text import explain_text;"
        "from symprop.explain.formats import to_json, to_tex, to_dot, to_table;"
        "r = explain_text('1/(1+exp(-(w0*x0+b)))', {'w0': -2, 'x0': 3, 'b': 7.5});"
        "print(to_json(r) + to_tex(r) + to_dot(r) + to_table(r))"
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
    r = explain_text("x*y + z", {"x": 2, "y": 3, "z": -2})
    assert to_table(r) == to_table(r)


def test_tex_shows_rules_with_numbers_and_math_shape_notes() -> None:
    r = explain_text(r"\|W x\|^2", {"W": [[0.3, 0.4], [0.5, 0.6]], "x": [0.1, 0.2]})
    tex = to_tex(r)
    # df/dW = (df/du) x^T, then the same product with the numbers in place, then the result.
    upstream = r"\left[\begin{smallmatrix}0.22\\0.34\end{smallmatrix}\right]"
    x_t = r"\left[\begin{smallmatrix}0.1\\0.2\end{smallmatrix}\right]^{T}"
    assert f"= {upstream} {x_t} = " in tex
    assert r"$ u_{1} $" in tex and r"u\_1" not in tex  # names as math, not escaped text
    assert r"$ 2 \times 1 $" in tex
    assert r"$G B^{T}$" in tex and r"\textasciicircum" not in tex  # the untitled document


def test_tex_without_graphviz_keeps_the_column_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    import symprop.explain.formats as formats

    r = explain_text("x*y + z", {"x": 2, "y": 3, "z": -2})
    with_layout = to_tex(r) if shutil.which("dot") else None
    monkeypatch.setattr(formats.shutil, "which", lambda name: None)
    plain = to_tex(r)
    assert r"node[lbl, above, sloped, text=fwd]" in plain and ".. controls" not in plain
    if with_layout is not None:
        assert ".. controls" in with_layout and "sloped" not in with_layout
