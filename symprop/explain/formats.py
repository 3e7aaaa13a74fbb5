"""An explained graph in each format: terminal table, JSON, Graphviz DOT and TikZ document.

Math becomes text only through :mod:`symprop.explain.printers`; the Jinja templates
``templates/explain_*.j2`` do layout only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symprop.core.templating import dot_escape, latex_escape, render
from symprop.explain.backward import PRECISION, Backprop, substituted
from symprop.explain.graph import (
    ExplainError,
    GraphNode,
    Value,
)
from symprop.explain.printers import (
    DIGITS,
    GATE_PATTERNS,
    GraphLatexPrinter,
    GraphStrPrinter,
    gate_label_tex,
    gate_pattern_tex,
    symbol_for,
)

# ------------------------------------------------------------------ user text in each format
# Every user string (a title, an expression as typed) reaches an output through exactly one
# of these functions, one per format; each is proven safe by a property test.


def json_text(document: object) -> str:
    """A JSON document that ``json.loads`` reads back to ``document``, as UTF-8-safe text.

    Non-ASCII text stays readable; lone surrogates (from undecodable command-line bytes),
    which UTF-8 cannot hold, are written as ``\\udXXX`` escapes, which JSON reads back.
    """
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


# ------------------------------------------------------------------ context for templates


@dataclass(frozen=True)
class _Row:
    name: str
    name_tex: str
    operation: str
    operation_tex: str
    pattern: str
    pattern_tex: str
    value: str
    value_tex: str
    shape: str
    locals: str
    upstream: str
    gradient: str
    gradient_tex: str
    derivation: tuple[str, ...]


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _name_aliases(result: Backprop) -> dict[str, str]:
    """LaTeX of node names the graph spells out (``W1`` as ``W^{1}``), by name."""
    return dict(result.graph.names_tex)


def _rule_in_names(result: Backprop, node: GraphNode, parent_index: int) -> sp.Basic:
    """The local derivative or VJP rule with the gate's dummies renamed to its parents."""
    assert node.gate is not None
    rule = result.slot_rules[(node.name, parent_index)]
    mapping = {
        dummy: symbol_for(parent, result.graph.node(parent).shape)
        for dummy, parent in zip(node.gate.args, node.parents, strict=True)
    }
    upstream = sp.MatrixSymbol("G", *node.shape) if node.shape else sp.Symbol("G", real=True)
    mapping[upstream] = symbol_for(f"G_{node.name}", node.shape)
    if not node.shape:
        mapping[sp.Symbol("G", real=True)] = sp.Symbol(f"G_{node.name}", real=True)
    return substituted(rule, mapping)


def _rows(result: Backprop, digits: int) -> list[_Row]:
    graph = result.graph
    out = graph.output
    text = GraphStrPrinter(digits)
    aliases = _name_aliases(result)
    plain_tex = GraphLatexPrinter(digits, aliases)
    for node in graph.nodes:
        aliases[f"G_{node.name}"] = plain_tex.partial(out, node.name)
    tex = GraphLatexPrinter(digits, aliases)
    rows = []
    for node in graph.nodes:
        local_parts = []
        if node.gate is not None:
            for index, parent in enumerate(node.parents):
                rule = _rule_in_names(result, node, index)
                local = result.slot_locals[(node.name, index)]
                piece = f"∂/∂{parent}{_slot_note(node, index)}: {text.doprint(rule)}"
                if local is not None:
                    piece += f" = {text.doprint(local)}"
                local_parts.append(piece)
        rows.append(
            _Row(
                name=node.name,
                name_tex=tex.doprint(symbol_for(node.name, node.shape)),
                operation=node.gate.label if node.gate else "input",
                operation_tex=gate_label_tex(node),
                pattern=GATE_PATTERNS.get(node.gate.kind, "") if node.gate else "",
                pattern_tex=gate_pattern_tex(node),
                value=text.doprint(result.values[node.name]),
                value_tex=tex.doprint(result.values[node.name]),
                shape=_shape_text(node.shape),
                locals="; ".join(local_parts),
                upstream=text.doprint(result.grads[node.name]) if node.gate else "",
                gradient=text.doprint(result.grads[node.name]),
                gradient_tex=tex.doprint(result.grads[node.name]),
                derivation=_derivation(result, node, tex),
            )
        )
    return rows


def _slot_note(node: GraphNode, index: int) -> str:
    """`` (argument 2)`` when the gate takes this parent in more than one slot, else ``""``."""
    if node.parents.count(node.parents[index]) == 1:
        return ""
    return f" (argument {index + 1})"


def _derivation(result: Backprop, node: GraphNode, tex: GraphLatexPrinter) -> tuple[str, ...]:
    """LaTeX lines: ∂f/∂u_j = Σ_i ∂f/∂u_i ∂u_i/∂u_j = (numbers) = gradient."""
    graph = result.graph
    out = graph.output
    lhs = tex.partial(out, node.name)
    if node.name == out:
        return (f"{lhs} = 1",)
    symbolic, numeric = [], []
    for child_name in graph.children(node.name):
        child = graph.node(child_name)
        for index, parent in enumerate(child.parents):
            if parent != node.name:
                continue
            rule = _rule_in_names(result, child, index)
            local = result.slot_locals[(child_name, index)]
            if local is not None:
                # A parent in several slots (x*x): each slot's partial is its own rule.
                repeated = child.parents.count(parent) > 1
                local_tex = (
                    rf"\left({tex.doprint(rule)}\right)"
                    if repeated
                    else tex.partial(child_name, parent)
                )
                symbolic.append(tex.partial(out, child_name) + " " + local_tex)
                numeric.append(
                    rf"\left({tex.doprint(result.grads[child_name])}\right)"
                    rf"\left({tex.doprint(local)}\right)"
                )
            else:
                symbolic.append(tex.doprint(rule))
                numeric.append(tex.doprint(_rule_with_values(result, child, index)))
    locals_tex = []
    for child_name in graph.children(node.name):
        child = graph.node(child_name)
        for index, parent in enumerate(child.parents):
            if (
                parent == node.name
                and child.parents.count(parent) == 1
                and result.slot_locals[(child_name, index)] is not None
            ):
                rule = _rule_in_names(result, child, index)
                locals_tex.append(f"{tex.partial(child_name, parent)} = {tex.doprint(rule)}")
    lines = [*locals_tex, f"{lhs} = " + " + ".join(symbolic)]
    lines.append(" = " + " + ".join(numeric) + f" = {tex.doprint(result.grads[node.name])}")
    return tuple(lines)


_SHOWN_PRODUCTS = (sp.MatMul, sp.MatAdd, sp.Transpose, sp.HadamardProduct, sp.MatrixBase)


def _rule_with_values(result: Backprop, node: GraphNode, index: int) -> sp.Basic:
    """A vector-Jacobian product rule with the numbers in place, products left unevaluated.

    ``∂f/∂u x^T`` becomes ``[0.22; 0.34] [0.1 0.2]``: the reader sees the rule applied. Any
    other matrix function in the rule (``σ'(z)``, a loss gradient) is shown by its value.
    """
    assert node.gate is not None
    rule = result.slot_rules[(node.name, index)]
    mapping: dict[sp.Basic, sp.Basic] = {
        dummy: result.values[parent]
        for dummy, parent in zip(node.gate.args, node.parents, strict=True)
    }
    upstream = sp.MatrixSymbol("G", *node.shape) if node.shape else sp.Symbol("G", real=True)
    mapping[upstream] = result.grads[node.name]
    filled = rule.xreplace(mapping)

    def is_opaque(expr: sp.Basic) -> bool:
        return isinstance(expr, sp.MatrixExpr) and not isinstance(expr, _SHOWN_PRODUCTS)

    def evaluate(expr: sp.Basic) -> sp.Basic:
        return sp.ImmutableMatrix(expr.doit()).evalf(PRECISION)

    return filled.replace(is_opaque, evaluate)


def _context(result: Backprop, title: str, digits: int) -> dict[str, Any]:
    graph = result.graph
    rows = _rows(result, digits)
    layer: dict[str, int] = {}
    for node in graph.nodes:
        layer[node.name] = 1 + max((layer[p] for p in node.parents), default=-1)
    # Inputs sit just left of their first consumer, as in the lecture's pictures.
    for node in graph.nodes:
        if node.gate is None:
            children = graph.children(node.name)
            layer[node.name] = min(layer[c] for c in children) - 1
    by_layer: dict[int, list[str]] = {}
    for node in graph.nodes:
        by_layer.setdefault(layer[node.name], []).append(node.name)
    position = {}
    for column, names in sorted(by_layer.items()):
        for index, name in enumerate(names):
            position[name] = (column, (len(names) - 1) / 2 - index)
    text = GraphStrPrinter(digits)
    tex = GraphLatexPrinter(digits, _name_aliases(result))
    edges = []
    for node in graph.nodes:
        for parent in dict.fromkeys(node.parents):
            contribution = result.contributions[(node.name, parent)]
            edges.append(
                {
                    "source": parent,
                    "target": node.name,
                    "value": text.doprint(result.values[parent]),
                    "value_cells": _cells(text, result.values[parent]),
                    "value_tex": tex.doprint(result.values[parent]),
                    "gradient": text.doprint(contribution),
                    "gradient_cells": _cells(text, contribution),
                    "gradient_tex": tex.doprint(contribution),
                }
            )
    shape_notes = [
        f"{r.name}: value and gradient are both {r.shape}" for r in rows if r.shape != "scalar"
    ]
    shape_notes_tex = [
        (r.name_tex, r.shape.replace("×", r" \times ")) for r in rows if r.shape != "scalar"
    ]
    patterns = sorted({r.pattern for r in rows if r.pattern})
    patterns_tex = [
        tex_text for _, tex_text in sorted({(r.pattern, r.pattern_tex) for r in rows if r.pattern})
    ]
    out_row = next(r for r in rows if r.name == graph.output)

    def fans_out(name: str) -> bool:
        return sum(graph.node(c).parents.count(name) for c in graph.children(name)) > 1

    point_tex = [
        (tex.doprint(symbol_for(n, graph.node(n).shape)), tex.doprint(result.values[n]))
        for n in graph.inputs
    ]
    steps = graph.steps if len(graph.steps) > 1 else ()
    return {
        "title": title,
        "title_tex": latex_escape(title),
        "title_dot": dot_escape(title),
        "rows": rows,
        "nodes": [
            {
                "name": r.name,
                "name_tex": r.name_tex,
                "label": r.operation,
                "label_tex": r.operation_tex,
                "wide": len(r.operation) > 5,
                "is_input": r.operation == "input",
                "x": position[r.name][0],
                "y": position[r.name][1],
                "id": f"n{i}",
                # A node that feeds several gates: its gradient is the sum of its edges'
                # gradients, shown at the node itself (seed 001's total derivative).
                "total_cells": _cells(text, result.grads[r.name]) if fans_out(r.name) else None,
                "gradient_tex": r.gradient_tex,
            }
            for i, r in enumerate(rows)
        ],
        "ids": {r.name: f"n{i}" for i, r in enumerate(rows)},
        "edges": edges,
        "output": out_row,
        "output_value_cells": _cells(text, result.values[graph.output]),
        "output_gradient_cells": _cells(text, result.grads[graph.output]),
        "output_x": position[graph.output][0] + 1,
        "output_y": position[graph.output][1],
        "shape_notes": shape_notes,
        "shape_notes_tex": shape_notes_tex,
        "patterns": patterns,
        "patterns_tex": patterns_tex,
        "point": [(n, text.doprint(result.values[n])) for n in graph.inputs],
        "point_tex": point_tex,
        "point_tex_rows": [point_tex[i : i + 4] for i in range(0, len(point_tex), 4)],
        "steps_tex": [
            (
                tex.doprint(symbol_for(name, graph.node(name).shape)),
                tex.doprint(graph.node(name).expr),
            )
            for name in steps
        ],
        "expression_tex": tex.doprint(graph.node(graph.output).expr),
        "output_tex": tex.doprint(sp.Symbol(graph.output)),
        "layout": False,
    }


def _cells(printer: GraphStrPrinter, value: Value) -> str | list[list[str]]:
    """A value for a picture label: a scalar's text, or a vector's or matrix's rows of cells."""
    if isinstance(value, sp.MatrixBase):
        return [[printer.doprint(e) for e in value.row(r)] for r in range(value.rows)]
    return printer.doprint(value)


# ------------------------------------------------------------------ the four formats


def to_table(result: Backprop, title: str = "", digits: int = DIGITS) -> str:
    """The terminal table: node, operation, value, local derivatives, upstream, gradient."""
    context = _context(result, title, digits)
    headers = ("node", "operation", "value", "local derivative(s)", "upstream", "gradient")
    cells = [headers] + [
        (r.name, r.operation, r.value, r.locals, r.upstream, r.gradient) for r in context["rows"]
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    context["table_lines"] = [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]
    return render("explain_table.txt.j2", context)


def to_json(result: Backprop, title: str = "") -> str:
    """Every node with full-precision values, gradients and local derivatives; sorted keys."""
    graph = result.graph
    full = GraphStrPrinter(None)

    def number(value: Value) -> Any:
        if isinstance(value, sp.MatrixBase):
            rows = [[float(value[r, c]) for c in range(value.cols)] for r in range(value.rows)]
            return [row[0] for row in rows] if value.cols == 1 else rows
        return float(value)

    nodes = []
    for node in graph.nodes:
        entry: dict[str, Any] = {
            "name": node.name,
            "operation": node.gate.kind if node.gate else "input",
            "label": node.gate.label if node.gate else node.name,
            "parents": list(node.parents),
            "shape": list(node.shape),
            "expression": full.doprint(node.expr),
            "value": number(result.values[node.name]),
            "gradient": number(result.grads[node.name]),
        }
        if node.gate is not None:
            entry["local"] = [
                {
                    "parent": parent,
                    "argument": index,
                    "derivative": full.doprint(_rule_in_names(result, node, index)),
                    "value": None
                    if result.slot_locals[(node.name, index)] is None
                    else float(result.slot_locals[(node.name, index)]),
                    "contribution": number(result.slot_contributions[(node.name, index)]),
                }
                for index, parent in enumerate(node.parents)
            ]
        nodes.append(entry)
    document = {
        "title": title,
        "output": graph.output,
        "inputs": list(graph.inputs),
        "nodes": nodes,
        "shape_rule": "a gradient has the shape of its variable",
    }
    return json_text(document)


def to_dot(result: Backprop, title: str = "", digits: int = DIGITS) -> str:
    """Graphviz source: forward values above and gradients below every edge."""
    return render("explain_graph.dot.j2", _context(result, title, digits))


def to_tex(result: Backprop, title: str = "", digits: int = DIGITS) -> str:
    """A LaTeX document: the TikZ graph, the table and the derivation of every partial.

    With Graphviz installed the TikZ picture takes Graphviz's layout (node positions, edge
    curves, label positions), so it matches the SVG and labels do not overlap; without it,
    nodes stand in columns by depth and labels run along straight edges.
    """
    context = _context(result, title, digits)
    if shutil.which("dot") is not None:
        layout = json.loads(run_dot(render("explain_graph.dot.j2", context), "json0"))
        _apply_layout(context, layout)
    return render("explain_document.tex.j2", context)


def _points(text: str) -> list[tuple[float, float]]:
    out = []
    for pair in text.split():
        if pair.startswith(("e,", "s,")):
            continue  # arrow end points: TikZ draws the arrow head itself
        x, y = pair.split(",")
        out.append((float(x), float(y)))
    return out


def _apply_layout(context: dict[str, Any], layout: Mapping[str, Any]) -> None:
    """Put Graphviz's positions (points) into the TikZ context: nodes, curves and labels."""
    names = {obj["_gvid"]: obj["name"] for obj in layout.get("objects", [])}
    where = {obj["name"]: _points(obj["pos"])[0] for obj in layout.get("objects", [])}
    curves = {}
    for edge in layout.get("edges", []):
        points = _points(edge["pos"])
        # Every edge carries a label; were one missing, its place is the curve's middle.
        label = _points(edge["lp"])[0] if "lp" in edge else points[len(points) // 2]
        curves[(names[edge["tail"]], names[edge["head"]])] = (points, label)

    def fmt(point: tuple[float, float]) -> str:
        return f"({point[0]:.1f}, {point[1]:.1f})"

    def path(points: list[tuple[float, float]], source: str, target: str) -> str:
        # Graphviz gives a cubic Bézier spline: start, then (control, control, point) triples.
        # The ends are the nodes themselves, so TikZ meets each node's own border.
        parts = [f"({source})"]
        triples = [points[i : i + 3] for i in range(1, len(points) - 2, 3)]
        for index, (c1, c2, end) in enumerate(triples):
            last = index == len(triples) - 1
            parts.append(
                f".. controls {fmt(c1)} and {fmt(c2)} .. " + (f"({target})" if last else fmt(end))
            )
        return " ".join(parts)

    for node in context["nodes"]:
        node["at"] = fmt(where[node["id"]])
    context["result_at"] = fmt(where["result"])
    ids = context["ids"]
    for edge in context["edges"]:
        points, label = curves[(ids[edge["source"]], ids[edge["target"]])]
        edge["path"] = path(points, ids[edge["source"]], ids[edge["target"]])
        edge["label_at"] = fmt(label)
    points, label = curves[(ids[context["output"].name], "result")]
    context["output_path"] = path(points, ids[context["output"].name], "result")
    context["output_label_at"] = fmt(label)
    context["layout"] = True


def run_dot(dot_source: str, fmt: str) -> bytes:
    """The output of Graphviz ``dot -T<fmt>`` on ``dot_source`` (no ``dot``: ExplainError)."""
    executable = shutil.which("dot")
    if executable is None:
        raise ExplainError(
            "Graphviz 'dot' is not installed; install graphviz (apt-get install graphviz) "
            "or choose --format table/json/tex"
        )
    try:
        completed = subprocess.run(
            [executable, f"-T{fmt}"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            check=False,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        raise ExplainError("Graphviz 'dot' took longer than 60 s") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ExplainError(f"Graphviz 'dot' failed: {message[0] if message else 'no message'}")
    return completed.stdout
