"""Entrywise functions of vectors in explain (``sigmoid(W@x + b)``): values and gradients
against sympy.diff of the same function written out entry by entry."""

from __future__ import annotations

import pytest
import sympy as sp

from symprop.explain.formats import to_table
from symprop.explain.user_text import explain_text

W_VALUES = [[0.3, -0.4], [0.5, 0.6]]
X_VALUES = [0.1, 0.2]
B_VALUES = [0.5, -1]


def _explicit(scalar: object) -> tuple[sp.Expr, dict, sp.Matrix, sp.Matrix, sp.Matrix]:
    W = sp.Matrix(2, 2, sp.symbols("w0:4", real=True))
    x = sp.Matrix(sp.symbols("x0:2", real=True))
    b = sp.Matrix(sp.symbols("b0:2", real=True))
    z = (W * x + b).applyfunc(scalar)
    f = sum(e**2 for e in z)
    at = dict(zip(list(W), sp.Matrix(W_VALUES).applyfunc(sp.nsimplify), strict=True))
    at |= dict(zip(list(x), [sp.nsimplify(v) for v in X_VALUES], strict=True))
    at |= dict(zip(list(b), [sp.nsimplify(v) for v in B_VALUES], strict=True))
    return f, at, W, x, b


@pytest.mark.parametrize(
    ("name", "scalar"),
    [
        ("sigmoid", lambda t: 1 / (1 + sp.exp(-t))),
        ("tanh", sp.tanh),
        ("exp", sp.exp),
        ("relu", lambda t: sp.Max(0, t)),
    ],
)
def test_entrywise_function_of_a_vector(name: str, scalar: object) -> None:
    point = {"W": W_VALUES, "x": X_VALUES, "b": B_VALUES}
    result = explain_text(f"norm({name}(W@x + b))**2", point)
    f, at, W, x, b = _explicit(scalar)
    assert float(result.values["f"]) == pytest.approx(float(f.subs(at)), rel=1e-12)
    for symbol, matrix in (("W", W), ("x", x), ("b", b)):
        expected = [float(sp.diff(f, e).subs(at)) for e in matrix]
        assert [float(v) for v in result.grads[symbol]] == pytest.approx(expected, rel=1e-12)


def test_entrywise_gate_is_drawn_as_one_gate() -> None:
    result = explain_text(r"\|W \sigma(x)\|^2", {"W": W_VALUES, "x": X_VALUES})
    assert [n.gate.label for n in result.graph.nodes if n.gate] == ["σ", "@", "‖·‖²"]
    assert "entrywise function" in to_table(result)


def test_relu_of_a_vector_at_its_kink_is_an_error() -> None:
    from symprop.explain.graph import ExplainError

    with pytest.raises(ExplainError, match=r"max is not differentiable where its arguments tie"):
        explain_text("norm(relu(W@x))**2", {"W": [[1, 2], [3, 4]], "x": [1, -0.5]})


@pytest.mark.parametrize(
    ("text", "scalar"),
    [
        ("-exp(x)", lambda t: -sp.exp(t)),
        ("exp(x)", sp.exp),
        ("sigmoid(x)", lambda t: 1 / (1 + sp.exp(-t))),
        ("tanh(x) + x", lambda t: sp.tanh(t) + t),
        ("x*x", lambda t: t * t),
    ],
)
def test_a_one_entry_vector_is_explained_like_its_entry(text: str, scalar: object) -> None:
    # A 1x1 output is a scalar; its seed gradient is [[1]] and every rule takes 1x1 operands
    # (these ended in an AssertionError or SymPy's "Mix of Matrix and Scalar symbols").
    result = explain_text(text, {"x": [0.5]})
    t = sp.Symbol("t", real=True)
    expected = sp.diff(scalar(t), t).subs(t, sp.Rational(1, 2))
    assert [float(v) for v in result.grads["x"]] == pytest.approx([float(expected)], rel=1e-12)
