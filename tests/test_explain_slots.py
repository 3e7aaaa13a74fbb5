"""symprop explain when a gate takes the same input in several slots (``x*x``, ``x**x``, ``A@A``).

Each slot's contribution is checked against ``sympy.diff`` of a copy of the expression in
which the repeated input is split into one fresh variable per slot (``x*x`` as ``a*b``,
then a = b = x): the partial derivative with respect to that slot, by brute force.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from symprop.explain.formats import to_json, to_table, to_tex
from symprop.explain.user_text import explain_text

a, b, x, y = sp.symbols("a b x y", real=True)

# (expression, the same with the repeated gate's slots split into a and b, point)
SCALAR_CASES = [
    ("x*x + sin(x)", a * b + sp.sin(x), {"x": 0.7}),
    ("x**x", a**b, {"x": 0.7}),
    ("x - x + x*y", a - b + x * y, {"x": 0.7, "y": -1.3}),
    ("exp(x*x)", sp.exp(a * b), {"x": 0.4}),
    ("x*x*y", a * b * y, {"x": 1.5, "y": 2}),
    ("sin(x**x) + x", sp.sin(a**b) + x, {"x": 1.2}),
]


def _repeated_node(document: dict) -> dict:
    (node,) = [
        n
        for n in document["nodes"]
        if len(n["parents"]) > len(set(n["parents"])) and "x" in n["parents"]
    ]
    return node


@pytest.mark.parametrize(("text", "split", "point"), SCALAR_CASES)
def test_each_slot_is_its_own_partial_derivative(text: str, split: sp.Expr, point: dict) -> None:
    result = explain_text(text, point)
    document = json.loads(to_json(result, text))
    at = {x: sp.Rational(repr(point["x"])), y: sp.Rational(repr(point.get("y", 0)))}
    at_split = {**at, a: at[x], b: at[x]}
    node = _repeated_node(document)
    slots = [entry for entry in node["local"] if entry["parent"] == "x"]
    assert [s["argument"] for s in slots] == [0, 1]
    for entry, slot in zip(slots, (a, b), strict=True):
        expected = float(sp.diff(split, slot).subs(at_split))
        assert entry["contribution"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # The contributions into x, over every child and slot, sum to df/dx.
    whole = float(sp.diff(split.subs({a: x, b: x}), x).subs(at))
    flowing = [
        entry["contribution"]
        for n in document["nodes"]
        for entry in n.get("local", [])
        if entry["parent"] == "x"
    ]
    assert sum(flowing) == pytest.approx(whole, rel=1e-12, abs=1e-15)
    x_node = next(n for n in document["nodes"] if n["name"] == "x")
    assert x_node["gradient"] == pytest.approx(whole, rel=1e-12, abs=1e-15)


def test_table_and_tex_show_each_slot_once() -> None:
    # x*x + sin(x) at 0.7: each slot of x*x has local derivative 0.7 (not 1.4 twice).
    result = explain_text("x*x + sin(x)", {"x": 0.7})
    table = to_table(result, "")
    assert "∂/∂x (argument 1): x = 0.7; ∂/∂x (argument 2): x = 0.7" in table
    assert "1.4" not in table
    tex = to_tex(result, "")
    assert r"\left(1\right)\left(0.7\right) + \left(1\right)\left(0.7\right)" in tex
    assert "= 2.16" in tex and r"\left(1.4\right)" not in tex


def test_matrix_product_of_a_matrix_with_itself() -> None:
    # f = ||A A||^2: slot 1 gets G Aᵀ, slot 2 gets Aᵀ G with G = 2 A A; brute force by
    # splitting A A into A B and differentiating entry by entry.
    values = np.array([[1.0, 2.0], [3.0, -1.0]])
    result = explain_text("norm(A@A)**2", {"A": values.tolist()})
    document = json.loads(to_json(result))
    node = next(n for n in document["nodes"] if n["parents"] == ["A", "A"])
    entries_a = sp.Matrix(2, 2, sp.symbols("a0:4", real=True))
    entries_b = sp.Matrix(2, 2, sp.symbols("b0:4", real=True))
    f = sum(e**2 for e in entries_a * entries_b)
    at = dict(zip(list(entries_a) + list(entries_b), list(values.ravel()) * 2, strict=True))
    for entry, symbols in zip(node["local"], (entries_a, entries_b), strict=True):
        expected = [[float(sp.diff(f, symbols[r, c]).subs(at)) for c in range(2)] for r in range(2)]
        assert np.allclose(entry["contribution"], expected, rtol=1e-12)
    total = np.array(node["local"][0]["contribution"]) + np.array(node["local"][1]["contribution"])
    gradient = next(n for n in document["nodes"] if n["name"] == "A")["gradient"]
    assert np.allclose(gradient, total, rtol=1e-12)
