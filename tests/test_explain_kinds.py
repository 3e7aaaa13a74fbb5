"""Computation graphs of networks with any layer kind (``derive --graph``).

The graph is built from the kinds' registry data only: each kind's parameters and given
arrays are input nodes, its intermediates and output gate nodes. Its gradients are checked
against PyTorch autograd (float64) for the built-in kinds, and against central differences
of the graph's own forward pass for a kind registered at run time.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp

import symprop.core.layers as lk
from symprop.core.layers import (
    Display,
    HyperParameter,
    Intermediate,
    LayerKind,
    LayerParameter,
    Operand,
    register_layer_kind,
    unregister_layer_kind,
)
from symprop.core.spec import BatchNorm, Dense, Dropout, Layer, LayerNorm, Network, Residual
from symprop.explain.backward import forward
from symprop.explain.emit import write_graph
from symprop.explain.formats import to_json
from symprop.explain.network import (
    BATCH_COUPLED_SAMPLES,
    explain_network,
    graph_title,
    network_graph,
    network_point,
)

# --- a kind registered at run time: RMS normalisation with a named intermediate -----------


@pytest.fixture
def rms_kind():
    x = Operand("x", (lk.n,), "input")
    y = Operand("y", (lk.n,), "output")
    s = Operand("s", (lk.n,), "scale")
    rms = Operand("rms", (), "root mean square", positive=True)
    eps = sp.Symbol("epsilon_rms", positive=True)
    j, r = lk.j_f, lk.r_b
    table = {
        "x": Display("x", "x"),
        "y": Display("y", "y"),
        "s": Display("s", "s"),
        "rms": Display(r"\rho", "ρ"),
    }
    kind = LayerKind(
        name="rms_toy",
        description="y = s ⊙ x / ρ, ρ = sqrt(mean(x²) + ε)",
        inputs=(x,),
        output=y,
        output_indices=(j,),
        forward=s(j) * x(j) / rms(),
        intermediates=(
            Intermediate(rms, (), sp.sqrt(sp.Sum(x(r) ** 2, (r, 1, lk.n)) / lk.n + eps)),
        ),
        parameters=(LayerParameter(s, "scale", "ones"),),
        hyper_parameters=(HyperParameter("eps", eps, 1e-3, 0.0, float("inf"), "added"),),
        display=tuple((p, tuple(table.items())) for p in lk.PROFILE_NAMES),
    )
    register_layer_kind(kind)
    yield kind
    unregister_layer_kind("rms_toy")


def _central_differences(network: Network, name: str) -> sp.Matrix:
    """∂C/∂(every entry of ``name``) by central differences of the graph's forward pass
    at 40 digits (h = 1e-12): independent of the backward pass under test."""
    graph = network_graph(network)
    point = network_point(network)
    h = sp.Rational(1, 10**12)
    value = point[name]
    out = sp.zeros(*value.shape)
    for r in range(value.rows):
        for c in range(value.cols):
            costs = []
            for sign in (1, -1):
                moved = sp.Matrix(value)
                moved[r, c] += sign * h
                at = {k: (sp.ImmutableMatrix(moved) if k == name else v) for k, v in point.items()}
                costs.append(forward(graph, {k: at[k] for k in graph.inputs})["C"])
            out[r, c] = (costs[0] - costs[1]) / (2 * h)
    return out


def test_a_kind_registered_at_run_time_draws(rms_kind, tmp_path) -> None:
    net = Network(
        inputs=3,
        layers=[Dense(3, "tanh"), Layer("rms_toy", activation="identity", eps=0.01), Dense(2)],
        loss="half_sse",
        title="toy",
    )
    result = explain_network(net)
    names = [node.name for node in result.graph.nodes]
    # Its parameter is an input node, its intermediate and its output are gate nodes.
    assert {"s2", "rms2", "z2"} <= set(names)
    assert result.graph.node("rms2").gate.label == "ρ"
    assert result.graph.node("z2").gate.label == "rms_toy"
    assert result.graph.node("rms2").shape == (1, 1)
    with mpmath.workdps(40):
        for leaf in ("W1", "s2", "W3", "x"):
            reference = _central_differences(net, leaf)
            got = sp.Matrix(result.grads[leaf])
            assert max(abs(a - b) for a, b in zip(got, reference, strict=True)) < 1e-9
    tex = write_graph(result, tmp_path / "toy.tex", graph_title(net), 3).read_text()
    assert r"\rho^{2}" in tex and "s^{2}" in tex


# --- the built-in kinds against PyTorch ---------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _activation(t, name: str, h):
    return {
        "identity": lambda v: v,
        "relu": t.relu,
        "tanh": t.tanh,
        "sigmoid": t.sigmoid,
        "softmax": lambda v: t.softmax(v, dim=1),
    }[name](h)


def _torch_cost(net: Network, values: dict) -> object:
    """The batch cost in PyTorch, layer by layer (rows are samples)."""
    t = _torch()
    outputs = {0: values["x"].T}
    for layer, spec in enumerate(net.layers, start=1):
        src = [outputs[s] for s in net.sources(layer)]
        opts = spec.option_values()
        if spec.kind == "dense":
            h = src[0] @ values[f"W{layer}"].T + values[f"b{layer}"].T
        elif spec.kind == "batch_norm":
            h = t.nn.functional.batch_norm(
                src[0],
                None,
                None,
                values[f"gamma{layer}"][:, 0],
                values[f"beta{layer}"][:, 0],
                training=True,
                eps=opts["eps"],
            )
        elif spec.kind == "layer_norm":
            h = t.nn.functional.layer_norm(
                src[0],
                (src[0].shape[1],),
                values[f"gamma{layer}"][:, 0],
                values[f"beta{layer}"][:, 0],
                eps=opts["eps"],
            )
        elif spec.kind == "dropout":
            h = src[0] * values[f"mask{layer}"].T / (1 - opts["p"])
        else:
            h = src[0] + src[1]
        outputs[layer] = _activation(t, spec.activation, h)
    a, y = outputs[net.depth], values["y"].T
    if net.loss == "cross_entropy":
        per_sample = -(y * t.log(a)).sum(dim=1)
    elif net.loss == "binary_cross_entropy":
        per_sample = -(y * t.log(a) + (1 - y) * t.log(1 - a)).sum(dim=1)
    else:
        per_sample = ((a - y) ** 2).sum(dim=1) / 2
    return per_sample.mean()


NETWORKS = {
    "batch_norm": Network(
        inputs=2,
        layers=[Dense(3, "tanh"), BatchNorm("relu", eps=0.01), Dense(2, "softmax")],
        loss="cross_entropy",
    ),
    "layer_norm": Network(
        inputs=3,
        layers=[Dense(3, "relu"), LayerNorm("tanh", eps=0.02), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
    ),
    "dropout_residual": Network(
        inputs=2,
        layers=[
            Dense(3, "tanh", name="h1"),
            Dense(3, "tanh"),
            Residual("h1", "identity"),
            Dropout(0.25),
            Dense(2, "identity"),
        ],
        loss="half_sse",
    ),
}


@pytest.mark.parametrize("key", NETWORKS)
def test_builtin_kinds_agree_with_pytorch(key: str) -> None:
    t = _torch()
    net = NETWORKS[key]
    result = explain_network(net)
    point = network_point(net)
    values = {
        name: t.tensor([[float(e) for e in row] for row in value.tolist()], dtype=t.float64)
        for name, value in point.items()
    }
    for v in values.values():
        v.requires_grad_(True)
    cost = _torch_cost(net, values)
    cost.backward()
    assert abs(float(result.values["C"]) - cost.item()) < 1e-12
    for name, value in values.items():
        got = [float(e) for e in sp.Matrix(result.grads[name])]
        want = value.grad.flatten().tolist()
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-10, name


def test_batch_norm_graph_carries_a_batch_and_its_statistics() -> None:
    net = NETWORKS["batch_norm"]
    graph = network_graph(net)
    names = {node.name for node in graph.nodes}
    assert {"mu2", "var2", "sigma2", "xhat2", "gamma2", "beta2"} <= names
    assert graph.node("x").shape == (2, BATCH_COUPLED_SAMPLES)
    # The statistics are per feature, the normalised values per feature and sample.
    assert graph.node("mu2").shape == (3, 1)
    assert graph.node("xhat2").shape == (3, BATCH_COUPLED_SAMPLES)
    assert "batch of 3 samples" in graph_title(net)


def test_residual_fan_out_is_the_sum_of_both_paths() -> None:
    net = NETWORKS["dropout_residual"]
    result = explain_network(net)
    # a1 feeds the second dense layer (the branch) and the residual add (the skip).
    children = result.graph.children("a1")
    assert len(children) == 2
    total = sum((sp.Matrix(result.contributions[(c, "a1")]) for c in children), sp.zeros(3, 1))
    assert total == sp.Matrix(result.grads["a1"])
    # The skip's contribution is the residual output's gradient itself (∂(x + f)/∂x = I).
    skip = next(c for c in children if c == "z3")
    assert sp.Matrix(result.contributions[(skip, "a1")]) == sp.Matrix(result.grads["z3"])
    data = to_json(result)
    assert "mask4" in data


def test_elementary_graphs_are_for_dense_stacks_only() -> None:
    with pytest.raises(Exception, match="granularity: got 'elementary'.*use coarse"):
        network_graph(NETWORKS["layer_norm"], "elementary")


@pytest.mark.parametrize("entry", [2, -1, sp.Rational(1, 2)])
def test_a_given_array_takes_only_zeros_and_ones(entry: str) -> None:
    # The dropout mask is given data of 0s and 1s (the kind's ``given`` operand); any other
    # entry describes no mask, so --at refuses it in one line naming the array.
    from symprop.explain.network import ExplainError

    net = NETWORKS["dropout_residual"]
    with pytest.raises(ExplainError, match=r"--at: mask4 .*0 or 1") as info:
        network_point(net, {"mask4": [[1], [0], [entry]]})
    assert "\n" not in str(info.value)
    # 0/1 entries are taken as given.
    assert network_point(net, {"mask4": [[1], [0], [1]]})["mask4"] == sp.Matrix([1, 0, 1])
