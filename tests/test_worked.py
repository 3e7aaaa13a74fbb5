"""The worked example of the documents: its numbers against ``derive --graph``'s JSON, against
an independent NumPy computation with central differences, and as printed in the document."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from symprop.core import symbols as g
from symprop.core.errors import SymPropError
from symprop.core.notation import get_profile
from symprop.core.spec import Dense, Dropout, LayerNorm, Network, Residual, load_spec
from symprop.derivation.build import derive
from symprop.derivation.steps import MatrixPartial
from symprop.documents.blocks import Renderer
from symprop.documents.checked import CheckedDerivation, checked
from symprop.documents.emit import to_latex, to_markdown
from symprop.documents.typeset import require_tex, typeset
from symprop.documents.worked import SIGNIFICANT, worked_sections
from symprop.documents.worked_numbers import narrowed, worked_example
from symprop.explain.network import explain_network

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "examples" / "xor.toml"


def _params(network: Network) -> tuple[str, ...]:
    return tuple(n for layer in range(1, network.depth + 1) for n in (f"W{layer}", f"b{layer}"))


def _arrays(example) -> dict[str, np.ndarray]:  # noqa: ANN001
    values = example.result.values
    return {
        name: np.array(values[name].tolist(), dtype=float) for name in example.result.graph.inputs
    }


# --- an independent forward pass and objective, written out here ---------------------------

_PHI = {
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "softmax": lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum(),
}
_LOSS = {
    "binary_cross_entropy": lambda a, y: -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)),
    "mse": lambda a, y: np.sum((a - y) ** 2),
    "half_sse": lambda a, y: 0.5 * np.sum((a - y) ** 2),
    "cross_entropy": lambda a, y: -np.sum(y * np.log(a)),
}


def _objective(net: Network, p: dict[str, np.ndarray], z_at: int | None = None, z=None):  # noqa: ANN001, ANN202
    """J of a dense chain; with ``z_at``, layer ``z_at``'s pre-activation replaced by ``z``."""
    a = p["x"]
    for layer, spec in enumerate(net.layers, start=1):
        zl = p[f"W{layer}"] @ a + p[f"b{layer}"]
        if layer == z_at:
            zl = z
        a = _PHI[spec.activation](zl)
    weights = sum(np.sum(p[f"W{k}"] ** 2) for k in range(1, net.depth + 1))
    return _LOSS[net.loss](a, p["y"]) + net.l2 * weights


def _pre_activation(net: Network, p: dict[str, np.ndarray], at: int) -> np.ndarray:
    a = p["x"]
    for layer, spec in enumerate(net.layers, start=1):
        z = p[f"W{layer}"] @ a + p[f"b{layer}"]
        if layer == at:
            return z
        a = _PHI[spec.activation](z)
    raise AssertionError(at)


def _central(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:  # noqa: ANN001
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[index] = eps
        out[index] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


TANH_L2 = Network(
    inputs=3,
    layers=[Dense(4, "tanh"), Dense(3, "relu"), Dense(2, "identity")],
    loss="mse",
    l2=0.01,
    name="tanh_l2",
)


@pytest.mark.parametrize("network", [load_spec(XOR), TANH_L2], ids=["xor", "tanh_l2"])
def test_numbers_agree_with_numpy_and_central_differences(network: Network) -> None:
    ex = worked_example(network, _params(network))
    assert ex is not None and not ex.narrowed
    p = {k: v.reshape(-1) if not k.startswith("W") else v for k, v in _arrays(ex).items()}
    values, grads = ex.result.values, ex.result.grads
    # Forward values: z and a of every layer, and the objective.
    a = p["x"]
    for layer, spec in enumerate(network.layers, start=1):
        z = p[f"W{layer}"] @ a + p[f"b{layer}"]
        a = _PHI[spec.activation](z)
        np.testing.assert_allclose(
            np.array(values[f"z{layer}"].tolist(), float)[:, 0], z, rtol=1e-13
        )
        np.testing.assert_allclose(
            np.array(values[f"a{layer}"].tolist(), float)[:, 0], a, rtol=1e-13
        )
    J = _objective(network, p)
    assert float(values[ex.output]) == pytest.approx(J, rel=1e-13)
    # δ of every layer: the central difference of J in that layer's pre-activation.
    for layer in range(1, network.depth + 1):
        z0 = _pre_activation(network, p, layer)
        delta = _central(lambda z, layer=layer: _objective(network, p, layer, z), z0)
        got = np.array(grads[f"z{layer}"].tolist(), float)[:, 0]
        np.testing.assert_allclose(got, delta, rtol=1e-7, atol=1e-9)
    # Gradients of every parameter, and the update with the spec's learning rate.
    rate = network.training.learning_rate
    after = dict(p)
    for name in _params(network):
        numeric = _central(lambda v, name=name: _objective(network, {**p, name: v}), p[name])
        got = np.array(grads[name].tolist(), float).reshape(p[name].shape)
        np.testing.assert_allclose(got, numeric, rtol=1e-7, atol=1e-9)
        after[name] = p[name] - rate * numeric
        stepped = np.array(ex.updated[name].tolist(), float).reshape(p[name].shape)
        np.testing.assert_allclose(stepped, after[name], rtol=1e-8, atol=1e-10)
    assert float(ex.objective_after) == pytest.approx(_objective(network, after), rel=1e-8)


def test_numbers_are_those_of_derive_graph(tmp_path: Path) -> None:
    """Node for node, the worked example holds the numbers ``derive --graph`` writes."""
    out = tmp_path / "xor.json"
    subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "derive", str(XOR), "--no-check"]
        + ["--graph", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    nodes = {node["name"]: node for node in json.loads(out.read_text())["nodes"]}
    net = load_spec(XOR)
    ex = worked_example(net, _params(net))
    assert ex is not None and ex.drawn
    assert set(nodes) == {node.name for node in ex.result.graph.nodes}
    for name, node in nodes.items():
        for key, table in (("value", ex.result.values), ("gradient", ex.result.grads)):
            ours = np.array(
                table[name].tolist() if isinstance(table[name], sp.MatrixBase) else table[name],
                float,
            )
            theirs = np.array(node[key], float)
            np.testing.assert_array_equal(ours.reshape(theirs.shape), theirs, err_msg=name)


# --- what the document prints -----------------------------------------------------------------


def _number(text: str) -> float:
    text = text.strip()
    m = re.fullmatch(r"(-?[\d.]+) \\cdot 10\^\{(-?\d+)\}", text)
    return float(m[1]) * 10 ** int(m[2]) if m else float(text)


def _printed_matrix(document: str, lhs: str, rel: str = "=") -> np.ndarray:
    """The numbers of the first matrix after ``lhs rel`` in the worked example."""
    worked = document[document.index("## Worked example") :]
    start = worked.index(f"{lhs} &{rel}")
    found = re.search(r"\\left\[\\begin\{matrix\}(.*?)\\end\{matrix\}", worked[start:], re.S)
    assert found, lhs
    rows = found[1].split(r"\\")
    return np.array([[_number(c) for c in row.split("&")] for row in rows])


def _rounded(x: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.{SIGNIFICANT}g}") for v in x.ravel()]).reshape(x.shape)


@pytest.fixture(scope="module")
def xor_markdown() -> str:
    return to_markdown(checked(derive(load_spec(XOR))))


def test_document_prints_the_numbers_rounded(xor_markdown: str) -> None:
    """z, a, δ, the cost, the gradients and the stepped parameters as printed, against
    NumPy's own values rounded to the stated digits."""
    net = load_spec(XOR)
    r = Renderer(net.notation, net.depth)  # the document's own symbols
    ex = worked_example(net, _params(net))
    p = {k: v.reshape(-1) if not k.startswith("W") else v for k, v in _arrays(ex).items()}
    a = p["x"]
    for layer, spec in enumerate(net.layers, start=1):
        z = p[f"W{layer}"] @ a + p[f"b{layer}"]
        a = _PHI[spec.activation](z)
        for role, value in (("z", z), ("a", a)):
            printed = _printed_matrix(xor_markdown, r.math(g.vector(role, layer)))
            np.testing.assert_allclose(printed[:, 0], _rounded(value), rtol=1e-12)
        z0 = _pre_activation(net, p, layer)
        delta = _central(lambda z, layer=layer: _objective(net, p, layer, z), z0)
        printed = _printed_matrix(xor_markdown, r.math(g.vector("delta", layer)))
        np.testing.assert_allclose(printed[:, 0], _rounded(delta), rtol=1e-12)
    cost = re.search(r"\n" + re.escape(r.math(g.scalar("C"))) + r" &= ([\d.]+)", xor_markdown)
    assert float(cost[1]) == float(_rounded(np.array(_objective(net, p))))
    for name in _params(net):
        symbol = (g.matrix if name[0] == "W" else g.vector)(name[0], int(name[1:]))
        numeric = _central(lambda v, name=name: _objective(net, {**p, name: v}), p[name])
        tex = r.math(MatrixPartial(g.scalar("J"), symbol))
        printed = _printed_matrix(xor_markdown, tex).reshape(numeric.shape)
        np.testing.assert_allclose(printed, _rounded(numeric), rtol=1e-12)
        stepped = p[name] - net.training.learning_rate * numeric
        printed = _printed_matrix(xor_markdown, r.math(symbol), r"\leftarrow")
        np.testing.assert_allclose(printed.reshape(stepped.shape), _rounded(stepped), rtol=1e-12)


# --- every profile, every layer kind ----------------------------------------------------------

KINDS = Network(
    inputs=3,
    layers=[
        Dense(4, "tanh", name="h1"),
        Dense(4, "sigmoid"),
        LayerNorm(),
        Dropout(0.5),
        Residual("h1", activation="tanh"),
        Dense(2, "identity"),
    ],
    loss="half_sse",
    l2=0.001,
    name="kinds",
)


def _sections(network: Network, profile: str):  # noqa: ANN202
    # worked_sections reads only the derivation; the documents' own tests prove it checked.
    cd = CheckedDerivation(derive(network), None)
    return worked_sections(
        cd, Renderer(profile, network.depth, network.kinds), get_profile(profile)
    )


@pytest.mark.parametrize("profile", ["nielsen", "goodfellow", "ng"])
@pytest.mark.parametrize("network", [load_spec(XOR), KINDS], ids=["dense", "kinds"])
def test_every_profile_and_kind_gets_the_example(network: Network, profile: str) -> None:
    sections = _sections(network, profile)
    titles = [s.title for s in sections]
    assert titles[:4] == [
        "Worked example: the sample and the parameters",
        "Worked example: forward pass",
        "Worked example: local gradients",
        "Worked example: gradients and one update",
    ]
    ex = worked_example(network, ())
    forward = sections[1]
    # One equation per forward step of every layer (z, a and a kind's named arrays), the
    # input and the cost.
    d = derive(network)
    layer_steps = [st for st in d.steps if st.id.startswith("forward.layer.")]
    assert len(forward.equations) == len(layer_steps) + 2
    # δ of every layer, from the output back.
    assert len(sections[2].equations) == network.depth
    # A gradient line per trained parameter, and one update each.
    grads, *updates = sections[3].equations
    trained = [st for st in d.section("summary") if st.id.startswith("summary.grad_")]
    assert len(grads.lines) == len(trained) == len(updates)
    assert ex is not None
    if profile == "goodfellow":
        graph = sections[4]
        assert r"\begin{tikzpicture}" in graph.figure_tex
        nodes = ex.result.graph.nodes
        assert graph.figure_tex.count(r"\node[q]") == len(nodes)
        assert len(graph.figure_md.splitlines()) == len(nodes) + 2
    else:
        assert len(sections) == 4


def test_a_batch_coupled_kind_gets_a_sentence_not_a_crash() -> None:
    net = load_spec(ROOT / "examples" / "digits_bn.toml")
    (section,) = _sections(net, "goodfellow")
    assert "batch norm layers couple the samples" in section.intro.md
    assert not section.equations


def test_a_wide_network_is_worked_on_a_narrowed_copy() -> None:
    net = load_spec(ROOT / "examples" / "digits.toml")
    ex = worked_example(net, ())
    assert ex is not None and ex.narrowed and ex.drawn
    assert ex.network.widths == (5, 5, 5, 5)
    # Exactly the numbers derive --graph draws for the copy.
    reference = explain_network(narrowed(net))
    for node in reference.graph.nodes:
        assert ex.result.values[node.name] == reference.values[node.name]
        assert ex.result.grads[node.name] == reference.grads[node.name]
    intro = _sections(net, "nielsen")[0].intro.md
    assert "widths 5, 5, 5, 5" in intro


def test_a_wide_matrix_puts_every_reason_of_its_section_below() -> None:
    """One aligned block per section: a reason beside a narrow line would sit right of the
    wide matrix's column, past the margin (45 pt at digits before this held)."""
    net = load_spec(ROOT / "examples" / "digits.toml")
    for section in _sections(net, "goodfellow")[:4]:
        lines = [line for eq in section.equations for line in eq.lines if line.why_tex]
        if any(line.wide for line in lines):
            assert all(line.wide for line in lines), section.title


def test_the_worked_pages_have_no_overfull_box() -> None:
    try:
        require_tex()
    except SymPropError:
        pytest.skip("no TeX Live")
    net = load_spec(ROOT / "examples" / "digits.toml")
    _, log = typeset(to_latex(CheckedDerivation(derive(net), _Report()), "goodfellow"))
    assert "Overfull" not in log


class _Report:
    """Stands for a check report: the document prints only how many claims it had."""

    results = ()
