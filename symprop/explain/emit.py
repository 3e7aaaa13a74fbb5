"""Emit an explained computation graph: terminal table, JSON, TikZ document, SVG/PNG pictures.

Math becomes text only through the printers below (:class:`GraphLatexPrinter`,
:class:`GraphStrPrinter`); the Jinja templates ``templates/explain_*.j2`` do layout only.
This is the only module of the explain pipeline that touches the file system; every file is
written atomically (a temporary file in the same directory, then :func:`os.replace`).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symprop.core.errors import ParseError, shown, shown_path
from symprop.core.files import write_atomic
from symprop.core.templating import dot_escape, latex_escape, render
from symprop.explain.compgraph import (
    PRECISION,
    Backprop,
    ExplainError,
    Granularity,
    Graph,
    GraphNode,
    Value,
    backprop,
    build_graph,
    elementwise,
    elementwise_name,
    matmul_text,
)
from symprop.parsing import KNOWN_FUNCTIONS, Equation, Name, parse, to_sympy

__all__ = [
    "EXAMPLES_FILE",
    "GraphLatexPrinter",
    "GraphStrPrinter",
    "explain_text",
    "GRAPH_FORMATS",
    "graph_format",
    "NETWORK_GRAPH_EXAMPLES",
    "regenerate_examples",
    "regenerate_network_graphs",
    "render_format",
    "render_picture",
    "to_dot",
    "to_json",
    "to_table",
    "to_tex",
    "write_atomic",
    "write_graph",
    "write_outputs",
]

EXAMPLES_FILE = Path(__file__).resolve().parents[2] / "examples" / "explain.toml"
"""The worked examples of seed 001 that :func:`regenerate_examples` writes."""

DIGITS = 3
"""Significant digits shown in tables and pictures; JSON keeps full double precision."""

# What each gate does to the gradient (seed 001, "Gate actions"): prose, not math.
GATE_PATTERNS: Mapping[str, str] = {
    "add": "add gate: distributes the same gradient to every input",
    "add_const": "adding a constant: passes the gradient through unchanged",
    "mul": "multiply gate: swaps, each input gets the upstream gradient times the other input",
    "max": "max gate: routes the gradient to the larger input",
    "min": "min gate: routes the gradient to the smaller input",
    "neg": "negation: flips the sign of the gradient",
    "scale": "scaling by a constant: scales the gradient by the same constant",
    "matmul": "matrix product: G B^T to the left factor, A^T G to the right one",
    "sqnorm": "squared norm: 2 v times the upstream gradient",
    "elementwise": (
        "entrywise function: the upstream gradient times f'(z), entry by entry (G ⊙ f'(z))"
    ),
    "activation": "activation: the upstream gradient times φ'(z), entry by entry (G ⊙ φ'(z))",
    "vector_activation": "vector activation: the transposed Jacobian times the gradient (J^T G)",
    "loss": "loss: the upstream gradient times ∂ℓ/∂a_k for each output (and ∂ℓ/∂y_k for y)",
}

# The same in LaTeX where the prose holds math (the rest is escaped text).
GATE_PATTERNS_TEX: Mapping[str, str] = {
    "matmul": r"matrix product: $G B^{T}$ to the left factor, $A^{T} G$ to the right one",
    "sqnorm": r"squared norm: $2 v$ times the upstream gradient",
    "elementwise": (
        r"entrywise function: the upstream gradient times $f'(z)$, entry by entry "
        r"($G \odot f'(z)$)"
    ),
    "activation": (
        r"activation: the upstream gradient times $\varphi'(z)$, entry by entry "
        r"($G \odot \varphi'(z)$)"
    ),
    "vector_activation": (
        r"vector activation: the transposed Jacobian times the gradient ($J^{T} G$)"
    ),
    "loss": (
        r"loss: the upstream gradient times $\partial \ell / \partial a_k$ for each output "
        r"(and $\partial \ell / \partial y_k$ for $y$)"
    ),
}

# Gate labels in LaTeX math, character by character (words become \mathrm).
_LABEL_TEX: Mapping[str, str] = {
    "−": "-",
    "×": r"\times ",
    "²": "^{2}",
    "√": r"\sqrt{\,}",
    "σ": r"\sigma ",
    "‖": r"\|",
    "·": r"\cdot ",
    "ᵀ": "{}^{T}",
    "⊙": r"\odot ",
    "{": r"\{",
    "}": r"\}",
    "#": r"\#",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "_": r"\_",
    "~": r"\sim ",
    "\\": r"\backslash ",
}


# ------------------------------------------------------------------ printers


def _symbol_for(node_name: str, shape: tuple[int, ...]) -> sp.Basic:
    return sp.MatrixSymbol(node_name, *shape) if shape else sp.Symbol(node_name, real=True)


class GraphLatexPrinter(LatexPrinter):
    """LaTeX for the derivation: rounded numbers, compact matrices, and named placeholders.

    ``aliases`` maps a symbol name to LaTeX the printer itself produced (``∂f/∂u_1`` for
    the upstream gradient ``G``), so a VJP rule prints as ``\\frac{∂f}{∂u_1} x^T``.
    """

    def __init__(self, digits: int = DIGITS, aliases: Mapping[str, str] | None = None) -> None:
        super().__init__({"mat_str": "smallmatrix", "mat_delim": "["})
        self.digits = digits
        self.aliases = dict(aliases or {})

    def _print_Float(self, expr: sp.Float) -> str:
        return _round_text(expr, self.digits)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        return self.aliases.get(expr.name) or super()._print_Symbol(expr, style)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return self.aliases.get(str(expr.name)) or super()._print_MatrixSymbol(expr)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return matmul_text(self, expr, " ")

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return r" \odot ".join(self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        """``\\sigma(W x + b)`` for an entrywise σ; SymPy's own form for anything else."""
        name = elementwise_name(expr.function)
        if name is None:
            return super()._print_ElementwiseApplyFunction(expr)
        return rf"{_label_tex(name)}\left({self._print(expr.expr)}\right)"

    def partial(self, num: str, den: str) -> str:
        """``\\frac{\\partial num}{\\partial den}`` with both names printed as symbols."""
        top = self._print(sp.Symbol(num))
        bottom = self._print(sp.Symbol(den))
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


class GraphStrPrinter(StrPrinter):
    """Plain text for the terminal table and JSON: rounded numbers, nested-list matrices."""

    def __init__(self, digits: int | None = DIGITS) -> None:
        super().__init__()
        self.digits = digits

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr)) if self.digits is None else _round_text(expr, self.digits)

    def _print_MatrixBase(self, expr: sp.MatrixBase) -> str:
        rows = [", ".join(self._print(e) for e in expr.row(r)) for r in range(expr.rows)]
        if expr.cols == 1:
            return "[" + ", ".join(rows) + "]"
        return "[" + ", ".join(f"[{row}]" for row in rows) + "]"

    _print_ImmutableDenseMatrix = _print_MatrixBase
    _print_MutableDenseMatrix = _print_MatrixBase

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return self._print(expr.arg) + "ᵀ"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return matmul_text(self, expr, "*")

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ⊙ ".join(self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        name = elementwise_name(expr.function)
        if name is None:  # a derivative in a rule: t ↦ f'(t), entry by entry
            (t,) = expr.function.variables
            return (
                f"({self._print(t)} ↦ {self._print(expr.function.expr)})∘({self._print(expr.expr)})"
            )
        return f"{name}({self._print(expr.expr)})"


def _round_text(value: sp.Basic, digits: int) -> str:
    number = float(value)
    if number == 0:
        return "0"
    text = f"{number:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


# ------------------------------------------------------------------ explaining user text


def explain_text(
    text: str,
    at: Mapping[str, object],
    granularity: Granularity = "elementary",
    syntax: str = "auto",
) -> Backprop:
    """Parse ``text`` safely, build its graph and run backprop at the point ``at``.

    Names whose value in ``at`` is a nested list become matrix symbols of that shape
    (vectors are columns), so ``norm(W@x)**2`` with ``W=[[...]]``, ``x=[...]`` works.

    Examples
    --------
    >>> r = explain_text("x*y + z", {"x": 2, "y": 3, "z": -2})
    >>> float(r.values["f"]), float(r.grads["x"])
    (4.0, 3.0)
    """
    from symprop.explain.compgraph import as_value

    at = {_normalise_name(name): value for name, value in at.items()}
    ast = parse(text, syntax)  # type: ignore[arg-type]
    functions = {name: elementwise(builder) for name, builder in KNOWN_FUNCTIONS.items()}
    if isinstance(ast, Equation):
        raise ExplainError("explain takes an expression, not an equation; drop the '=' part")
    shapes = {name: getattr(as_value(value, name), "shape", ()) for name, value in at.items()}

    def names(name: Name) -> sp.Basic | None:
        shape = shapes.get(name.key, ())
        return sp.MatrixSymbol(name.key, *shape) if shape else None

    expr = to_sympy(ast, names=names, functions=functions)
    free = {str(s) for s in expr.free_symbols}
    names = itertools.chain(("f", "out"), (f"out_{i}" for i in itertools.count(2)))
    output = next(name for name in names if name not in free)
    graph = build_graph(expr, granularity, output_name=output)
    _check_matrix_work(graph)
    return backprop(graph, at)


MATRIX_WORK = 1500
"""The budget of an explained expression's matrix gates: each costs 50 plus the entries of
its operands and result (SymPy's exact matrix arithmetic takes milliseconds per entry)."""


def _check_matrix_work(graph: Graph) -> None:
    """Refuse, before any arithmetic, a graph whose matrix gates would take more than seconds."""
    gates = [n for n in graph.nodes if n.gate is not None and n.shape]
    work = sum(
        50 + math.prod(n.shape) + sum(math.prod(graph.node(p).shape) for p in n.parents)
        for n in gates
    )
    if work > MATRIX_WORK:
        raise ExplainError(
            f"the expression's {len(gates)} matrix gates come to {work} units of work "
            f"(50 per gate plus the entries it reads and writes); at most {MATRIX_WORK} are "
            "explained: use fewer products or smaller matrices"
        )


def _normalise_name(name: str) -> str:
    """``w0`` and ``w_0`` name the same input, as in the parser (``W2`` is ``W_2``); a name
    may be spelled in LaTeX (``\\hat{y}``) or as the node is called (``hat{y}``)."""
    try:
        node = parse(name, "auto")
    except ParseError:
        node = None
    if isinstance(node, Name):
        return node.key
    if re.fullmatch(r"[A-Za-z][\w{},]*", name):
        return name  # the node's own name, as tables and error lines print it
    raise ExplainError(f"--at: {shown(name)} is not a variable name")


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


def _label_tex(label: str) -> str:
    """A gate label as LaTeX math: ``×(-1)`` as ``\\times(-1)``, ``exp`` as ``\\mathrm{exp}``."""
    out: list[str] = []
    word = ""
    for char in label:
        if char.isascii() and char.isalpha():
            word += char
            continue
        if word:
            out.append(rf"\mathrm{{{word}}}" if len(word) > 1 else word)
            word = ""
        if char == " ":
            out.append(r"\ ")
        elif char in _LABEL_TEX:
            out.append(_LABEL_TEX[char])
        elif char.isascii():
            out.append(char)
        else:
            out.append(r"\text{?}")
    if word:
        out.append(rf"\mathrm{{{word}}}" if len(word) > 1 else word)
    text = "".join(out).strip()
    return "{}" + text if text.startswith("^") else text


def _gate_label_tex(node: GraphNode) -> str:
    if node.gate is None:
        return r"\text{input}"
    return node.gate.label_tex or _label_tex(node.gate.label)


def _pattern_tex(node: GraphNode) -> str:
    if node.gate is None or node.gate.kind not in GATE_PATTERNS:
        return ""
    kind = node.gate.kind
    return GATE_PATTERNS_TEX.get(kind) or latex_escape(GATE_PATTERNS[kind])


def _name_aliases(result: Backprop) -> dict[str, str]:
    """LaTeX of node names the graph spells out (``W1`` as ``W^{1}``), by name."""
    return dict(result.graph.names_tex)


def _rule_in_names(result: Backprop, node: GraphNode, parent_index: int) -> sp.Basic:
    """The local derivative or VJP rule with the gate's dummies renamed to its parents."""
    assert node.gate is not None
    rule = result.slot_rules[(node.name, parent_index)]
    mapping = {
        dummy: _symbol_for(parent, result.graph.node(parent).shape)
        for dummy, parent in zip(node.gate.args, node.parents, strict=True)
    }
    upstream = sp.MatrixSymbol("G", *node.shape) if node.shape else sp.Symbol("G", real=True)
    mapping[upstream] = _symbol_for(f"G_{node.name}", node.shape)
    if not node.shape:
        mapping[sp.Symbol("G", real=True)] = sp.Symbol(f"G_{node.name}", real=True)
    return rule.xreplace(mapping)


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
                name_tex=tex.doprint(_symbol_for(node.name, node.shape)),
                operation=node.gate.label if node.gate else "input",
                operation_tex=_gate_label_tex(node),
                pattern=GATE_PATTERNS.get(node.gate.kind, "") if node.gate else "",
                pattern_tex=_pattern_tex(node),
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
        (tex.doprint(_symbol_for(n, graph.node(n).shape)), tex.doprint(result.values[n]))
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
                tex.doprint(_symbol_for(name, graph.node(name).shape)),
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
        layout = json.loads(_run_dot(render("explain_graph.dot.j2", context), "json0"))
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


# ------------------------------------------------------------------ files


def render_picture(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz ``dot`` on ``dot_source``; ``fmt`` is ``svg`` or ``png``.

    Raises
    ------
    ExplainError
        When ``dot`` is not installed or fails.
    """
    if fmt not in ("svg", "png"):
        raise ExplainError(f"unknown picture format {fmt!r}; use svg or png")
    return _run_dot(dot_source, fmt)


def _run_dot(dot_source: str, fmt: str) -> bytes:
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


GRAPH_FORMATS = ("svg", "png", "tex", "json", "dot")
"""What a picture file can be; the file's suffix chooses (``--graph out.svg``)."""


def render_format(result: Backprop, fmt: str, title: str = "", digits: int = DIGITS) -> str | bytes:
    """The contents of one output file: ``tex``, ``json``, ``dot``, ``svg`` or ``png``."""
    if fmt == "tex":
        return to_tex(result, title, digits)
    if fmt == "json":
        return to_json(result, title)
    if fmt == "dot":
        return to_dot(result, title, digits)
    if fmt in ("svg", "png"):
        return render_picture(to_dot(result, title, digits), fmt)
    raise ExplainError(f"unknown output format {fmt!r}; use tex, json, dot, svg or png")


def write_outputs(
    result: Backprop, stem: Path, formats: Sequence[str], title: str = "", digits: int = DIGITS
) -> list[Path]:
    """Write ``stem.<format>`` for each of ``tex``, ``json``, ``dot``, ``svg``, ``png``.

    Every file is rendered before the first is written, so a failing format writes nothing.
    """
    contents = {Path(f"{stem}.{fmt}"): render_format(result, fmt, title, digits) for fmt in formats}
    return [_write(path, data) for path, data in contents.items()]


def _write(path: Path, data: str | bytes) -> Path:
    """:func:`write_atomic`, with a failure (no such folder, no permission) as one line."""
    try:
        return write_atomic(path, data)
    except OSError as exc:
        raise ExplainError(f"{shown_path(path)}: cannot write ({exc.strerror or exc})") from None


def write_graph(result: Backprop, path: Path | str, title: str = "", digits: int = DIGITS) -> Path:
    """Write one file in the format its suffix names: ``.svg .png .tex .json .dot``.

    Raises
    ------
    ExplainError
        For any other suffix, naming it and the allowed ones.
    """
    path = Path(path)
    return _write(path, render_format(result, graph_format(path), title, digits))


def graph_format(path: Path | str) -> str:
    """The format a picture file's suffix names; any other suffix is an error naming it.

    Examples
    --------
    >>> graph_format("out/xor.SVG")
    'svg'
    """
    fmt = Path(path).suffix.lower().removeprefix(".")
    if fmt not in GRAPH_FORMATS:
        allowed = ", ".join(f".{f}" for f in GRAPH_FORMATS)
        raise ExplainError(
            f"--graph: got {str(path)!r}; the file's suffix chooses the format: {allowed}"
        )
    return fmt


def load_examples(path: Path = EXAMPLES_FILE) -> list[dict[str, Any]]:
    """The examples listed in ``examples/explain.toml``, in file order."""
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExplainError(f"cannot read {path}: {exc}") from None
    return list(data.get("example", []))


def regenerate_examples(outdir: Path | str) -> list[Path]:
    """Write seed 001's worked examples (``.tex``, ``.json``, ``.svg``, ``.png``) to ``outdir``.

    Byte-identical on every run: no timestamps, sorted keys, fixed node order.
    """
    outdir = Path(outdir)
    written: list[Path] = []
    for example in load_examples():
        try:
            result = explain_text(
                example["expression"],
                example["at"],
                example.get("granularity", "elementary"),
                example.get("syntax", "auto"),
            )
        except (ParseError, ExplainError) as exc:
            raise ExplainError(f"example {example['name']}: {exc}") from None
        written += write_outputs(
            result, outdir / example["name"], ("tex", "json", "svg", "png"), example["title"]
        )
    return written


NETWORK_GRAPH_EXAMPLES = ("xor", "goodfellow_mlp")
"""Example networks whose computation graphs :func:`regenerate_network_graphs` writes: XOR
(the README's picture) and a network with weight decay, where the weights fan out."""


def regenerate_network_graphs(outdir: Path | str, examples: Path | str | None = None) -> list[Path]:
    """Write ``<name>.tex``, ``.json``, ``.svg`` and ``.png`` of each example network's graph.

    The graphs are drawn at the default sample (:func:`symprop.explain.network.default_point`),
    so the files are byte-identical on every run.
    """
    from symprop.core.spec import load_spec
    from symprop.explain.network import explain_network, graph_title

    root = Path(examples) if examples else EXAMPLES_FILE.parent
    outdir = Path(outdir)
    written: list[Path] = []
    for name in NETWORK_GRAPH_EXAMPLES:
        network = load_spec(root / f"{name}.toml")
        result = explain_network(network)
        written += write_outputs(
            result, outdir / name, ("tex", "json", "svg", "png"), graph_title(network)
        )
    return written
