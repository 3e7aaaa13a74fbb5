"""Explaining user text: parse an expression safely, build its graph, run backprop at a point."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping

import sympy as sp

from symprop.core.errors import ParseError, shown
from symprop.explain.backward import Backprop, backprop
from symprop.explain.graph import (
    ExplainError,
    Granularity,
    Graph,
    as_value,
    build_graph,
    elementwise,
)
from symprop.parsing import KNOWN_FUNCTIONS, Equation, Name, parse, to_sympy

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
