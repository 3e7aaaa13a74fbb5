"""The computational graph of the worked example, as Goodfellow et al. and CS231n draw it.

:func:`graph_section` draws the graph of ``symprop derive --graph`` (its nodes and edges, in
columns by depth as ``symprop explain`` lays them out) with the document's symbols: each
quantity a node, its forward value on its left and its gradient on its right. LaTeX gets a TikZ
picture; Markdown, which has no pictures of its own, a table with the same content.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from symprop.core import symbols as g
from symprop.documents.blocks import Renderer, Section, Sentence
from symprop.documents.worked_numbers import WorkedExample
from symprop.explain.graph import Graph, GraphNode, Value

__all__ = ["DRAWN_DIGITS", "graph_section", "node_symbol"]

DRAWN_DIGITS = 3
"""Significant digits of the numbers in the picture (as ``derive --graph`` draws them)."""

_ACROSS_CM = 6.0  # between the nodes of one depth (each flanked by two matrices)
_DOWN_CM = 1.9  # between depths


def node_symbol(node: GraphNode, symbols: Mapping[str, sp.Basic]) -> sp.Basic:
    """The document's symbol for a node: the derivation's quantity, a product of its parents
    (``W a``) for an unnamed matrix product, else the node's own name."""
    if node.name in symbols:
        return symbols[node.name]
    if node.name in ("C", "J"):
        return g.scalar(node.name)
    if node.gate is not None and node.gate.kind == "matmul" and len(node.parents) == 2:
        left, right = (symbols.get(p, sp.Symbol(p)) for p in node.parents)
        if isinstance(left, sp.MatrixExpr) and isinstance(right, sp.MatrixExpr):
            return sp.MatMul(left, right, evaluate=False)
    return sp.Symbol(node.name)


def _columns(graph: Graph) -> dict[str, tuple[int, float]]:
    """Column (depth) and row of every node: a gate one column after its last parent, an
    input just before its first consumer (the layout of ``symprop explain``)."""
    depth: dict[str, int] = {}
    for node in graph.nodes:
        depth[node.name] = 1 + max((depth[p] for p in node.parents), default=-1)
    for node in graph.nodes:
        if node.gate is None:
            depth[node.name] = min(depth[c] for c in graph.children(node.name)) - 1
    by_column: dict[int, list[str]] = {}
    for node in graph.nodes:
        by_column.setdefault(depth[node.name], []).append(node.name)
    low = min(by_column)
    where: dict[str, tuple[int, float]] = {}
    for column, names in by_column.items():
        for row, name in enumerate(names):
            where[name] = (column - low, (len(names) - 1) / 2 - row)
    return where


def _small(value: Value) -> sp.Basic:
    if isinstance(value, sp.MatrixBase):
        return sp.ImmutableMatrix(value.applyfunc(lambda e: sp.Float(e, DRAWN_DIGITS)))
    return sp.Float(value, DRAWN_DIGITS)


def _smallmatrix(r: Renderer, value: Value) -> str:
    """A value in the picture: a scalar, or ``\\begin{smallmatrix}`` rows (compact)."""
    shown = _small(value)
    if not isinstance(shown, sp.MatrixBase):
        return r.math(shown)
    rows = [" & ".join(r.math(e) for e in shown.row(k)) for k in range(shown.rows)]
    return r"\left[\begin{smallmatrix}" + r" \\ ".join(rows) + r"\end{smallmatrix}\right]"


def _tikz(ex: WorkedExample, r: Renderer, symbols: Mapping[str, sp.Basic]) -> str:
    """The graph from top (inputs) to bottom (the objective): a page is taller than wide,
    and each node has its value on its left and its gradient on its right."""
    graph, values, grads = ex.result.graph, ex.result.values, ex.result.grads
    where = _columns(graph)
    ids = {node.name: f"g{k}" for k, node in enumerate(graph.nodes)}
    lines = [
        r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
        r"\resizebox{!}{\ifdim\height>0.8\textheight0.8\textheight\else\height\fi}{%",
        r"\begin{tikzpicture}[q/.style={rectangle, rounded corners, draw, thick, fill=white, "
        r"minimum size=7mm, font=\small}, n/.style={font=\scriptsize, fill=white, "
        r"inner sep=1pt}]",
    ]
    for node in graph.nodes:
        level, place = where[node.name]
        at = f"({-place * _ACROSS_CM:.2f}, {-level * _DOWN_CM:.2f})"
        symbol = r.math(node_symbol(node, symbols))
        lines.append(rf"\node[q] ({ids[node.name]}) at {at} {{${symbol}$}};")
    for node in graph.nodes:
        for parent in dict.fromkeys(node.parents):
            lines.append(rf"\draw[->, thick, black!50] ({ids[parent]}) -- ({ids[node.name]});")
    # Numbers last, on a white ground, so no edge runs through them.
    for node in graph.nodes:
        name = ids[node.name]
        value, grad = _smallmatrix(r, values[node.name]), _smallmatrix(r, grads[node.name])
        lines.append(rf"\node[n, anchor=east, text=green!40!black] at ({name}.west) {{${value}$}};")
        lines.append(rf"\node[n, anchor=west, text=red!70!black] at ({name}.east) {{${grad}$}};")
    lines += [r"\end{tikzpicture}}}"]
    return "\n".join(lines)


def _number(entry: sp.Basic) -> str:
    return f"{float(entry):.{DRAWN_DIGITS}g}"


def _cell(value: Value) -> str:
    """A value as Markdown table text, in a code span: ``[0.3; 0.4]`` for a column, rows
    split by ``;`` (numbers only, so nothing needs escaping)."""
    if not isinstance(value, sp.MatrixBase):
        return f"`{_number(value)}`"
    rows = [", ".join(_number(e) for e in value.row(k)) for k in range(value.rows)]
    return "`[" + "; ".join(rows) + "]`"


def _table(ex: WorkedExample, r: Renderer, symbols: Mapping[str, sp.Basic]) -> str:
    graph, values, grads = ex.result.graph, ex.result.values, ex.result.grads
    head = ["| node | computed from | forward value | gradient |", "| --- | --- | --- | --- |"]
    rows = []
    for node in graph.nodes:
        parents = ", ".join(
            f"${r.math(node_symbol(graph.node(p), symbols))}$" for p in dict.fromkeys(node.parents)
        )
        rows.append(
            f"| ${r.math(node_symbol(node, symbols))}$ | {parents or 'input'} | "
            f"{_cell(values[node.name])} | {_cell(grads[node.name])} |"
        )
    return "\n".join(head + rows)


def graph_section(
    ex: WorkedExample, renderer: Renderer, symbols: Mapping[str, sp.Basic]
) -> Section:
    """The worked example's computational graph: TikZ for LaTeX, a table for Markdown."""
    text = [
        "The same sample as a computational graph, each quantity a node with its forward "
        "value and the gradient of the objective with respect to it (in the picture the "
        "value left of the node, green, the gradient right of it, red), to "
        f"{DRAWN_DIGITS} significant digits. Backpropagation visits the nodes from the "
        "objective back to the inputs; where a node feeds several others, its gradient is "
        "the sum of what they pass back."
    ]
    intro = Sentence(renderer.tex(text), renderer.inline_math(text), renderer.markdown(text))
    return Section(
        "Worked example: the computational graph",
        intro,
        (),
        figure_tex=_tikz(ex, renderer, symbols),
        figure_md=_table(ex, renderer, symbols),
    )
