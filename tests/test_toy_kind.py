"""A layer kind registered at run time flows through every stage with no other code.

The kind is one registry entry: y_j = s_j x_j³ with a learned scale s. Nothing outside
``core/layers.py`` knows it, yet it is derived and proven, gets its document section, a
generated module, a ``derive --graph`` picture and claims that ``verify`` reads. Each stage
is checked against something independent: central differences, ``sympy.diff`` of the
written-out definition, or the other stages' numbers.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from test_explain_kinds import _central_differences
from test_numpy_support import build

import symprop.core.layers as lk
from symprop import Dense, Layer, Network, Training, derive
from symprop.core.layers import Display, LayerKind, LayerParameter, Operand
from symprop.documents.emit import checked, to_latex, to_markdown
from symprop.explain.network import explain_network
from symprop.verify import verify_kind_claim

NAME = "toy_cube"


@pytest.fixture(scope="module")
def network():
    x = Operand("x", (lk.n,), "input of one sample")
    y = Operand("y", (lk.n,), "output of one sample")
    s = Operand("s", (lk.n,), "per-unit scale")
    table = {"x": Display("x", "x"), "y": Display("y", "y"), "s": Display("s", "s")}
    kind = LayerKind(
        name=NAME,
        description="a scaled cube y = s x^3, entry by entry",
        inputs=(x,),
        output=y,
        output_indices=(lk.j_f,),
        forward=s(lk.j_f) * x(lk.j_f) ** 3,
        parameters=(LayerParameter(s, "scale", "ones"),),
        display=tuple((p, tuple(table.items())) for p in lk.PROFILE_NAMES),
    )
    lk.register_layer_kind(kind)
    yield Network(
        inputs=3,
        layers=[Dense(4, "tanh"), Layer(NAME, activation="sigmoid"), Dense(2, "softmax")],
        loss="cross_entropy",
        name="toy",
        training=Training(batch_size=4),
    )
    lk.unregister_layer_kind(NAME)


def test_derived_and_proven(network: Network) -> None:
    d = derive(network)
    kind_steps = [st for st in d.section("kinds") if st.id.startswith(f"kind.{NAME}.")]
    assert kind_steps, "the kind has its own derivation section"
    # The parameter's gradient and the δ passed back through the kind are network steps.
    assert d.step("summary.grad_s.2") and d.step("summary.delta.1")
    report = d.check(strict=True)
    assert report.ok and any("summary.grad_s.2" in str(r) for r in report.results)


def test_documents_show_its_section(network: Network) -> None:
    cd = checked(derive(network))
    tex, md = to_latex(cd), to_markdown(cd)
    for text in (tex, md):
        # The kind's own derivation is there, in its display names (s, x).
        assert "s^{2}" in text or "s_{j}" in text or "s_j" in text
    assert tex.count(r"\begin{document}") == 1


def test_generated_module_gradients_and_training(network: Network) -> None:
    m = build(network)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    params = m.init_params(1)
    # Central differences of the module's own loss against its backward pass.
    assert m.gradient_check(params, X, Y, {}) < 1e-6
    Xl = rng.standard_normal((60, 3))
    Yl = (Xl[:, 0] > 0).astype(np.int64)
    history = m.train(m.init_params(0), Xl, Yl, epochs=30, learning_rate=0.3, batch_size=10, seed=0)
    assert history[-1] < 0.7 * history[0]


def test_graph_picture_gradients(network: Network) -> None:
    result = explain_network(network)
    assert {"s2", "z2"} <= {node.name for node in result.graph.nodes}
    with mpmath.workdps(40):
        for leaf in ("s2", "W1", "x"):
            reference = _central_differences(network, leaf)
            got = sp.Matrix(result.grads[leaf])
            assert max(abs(a - b) for a, b in zip(got, reference, strict=True)) < 1e-9


def test_verify_reads_claims_about_it(network: Network) -> None:
    d = r"\frac{\partial C}{\partial "
    assert verify_kind_claim(d + r"s_j} = x_j^3 \delta_j", NAME).ok
    assert verify_kind_claim(d + r"x_j} = 3 s_j x_j^2 \delta_j", NAME).ok
    wrong = verify_kind_claim(d + r"x_j} = 3 s_j x_j \delta_j", NAME)
    assert not wrong.ok and wrong.counterexample is not None
