"""Computation graphs of SymPy expressions: gates, forward values, and backprop node by node.

A graph is built from any differentiable SymPy expression (or a list of named assignments):
each gate is a small SymPy function of its arguments (``a0 * a1``, ``1/a0``, ``exp(a0)``) with
constants folded in, as in the seed lecture's worked examples. Shared subexpressions become
one node, so gradients add at branches. :func:`backprop` runs seed 001's Algorithm 4: each
node's gradient is the sum over its children of upstream gradient times local derivative;
for vector and matrix nodes the product is a vector-Jacobian product computed entry by entry,
and the printed rule (``G x^T``, ``W^T G``) is checked against it. A gradient always has the
shape of its variable.

Examples
--------
>>> x, y, z = sp.symbols("x y z", real=True)
>>> result = backprop(build_graph(x * y + z), {"x": 2, "y": 3, "z": -2})
>>> [float(result.grads[n]) for n in ("x", "y", "z")]
[3.0, 2.0, 1.0]
"""

from __future__ import annotations

import contextvars
import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import mpmath
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.printer import Printer
from sympy.printing.str import StrPrinter

from symprop.core.errors import SymPropError, shown
from symprop.parsing import Norm2

__all__ = [
    "ExplainError",
    "Gate",
    "GraphNode",
    "Graph",
    "Backprop",
    "build_graph",
    "graph_from_assignments",
    "backprop",
    "as_value",
]

PRECISION = 30
"""Decimal digits of every forward value and gradient (exact inputs, rounded once per gate)."""

RETRY_PRECISIONS = (120, 600)
"""Working precisions tried, in turn, when a value is undefined at ``PRECISION`` digits only
from rounding: binary cross-entropy at z = 105 needs log(1 - σ(z)) with 1 - σ(z) ≈ 3e-46,
which 30 digits round to log(0)."""

_DIGITS: contextvars.ContextVar[int] = contextvars.ContextVar("digits", default=PRECISION)

MAX_DIGITS = 60
"""The most digits of one input number (as in the expression parser)."""

MAX_ENTRIES = 256
"""The most entries of one vector or matrix value (16×16): pictures and tables of larger
ones are unreadable, and the work grows with the cube of the side."""

LARGEST = sp.Float(sys.float_info.max, PRECISION)
"""Values, local derivatives and gradients must stay within double range: the JSON and the
pictures show doubles, and every gate then works on bounded numbers (so ``x**x**x**x`` at
9 stops at its second power rather than computing ``9**(9**387420489)``)."""

CHECKED_ENTRIES = 64
"""Gates whose arguments hold at most this many entries in all have their vector-Jacobian
product rule checked against the entrywise Jacobian."""

Value = sp.Float | sp.ImmutableMatrix
Granularity = Literal["elementary", "coarse"]


class ExplainError(SymPropError, ValueError):
    """The expression cannot be explained at this point: one clear message for the user."""


class _Undefined(ExplainError):
    """A value is undefined (1/0, log 0) at the working precision; more digits may help."""


@dataclass(frozen=True)
class Gate:
    """An operation: ``fn`` is a SymPy expression of the argument symbols ``args``.

    ``kind`` names the pattern (``add``, ``mul``, ``max``, ``matmul`` ...), ``label`` is the
    short text drawn in the graph (``+``, ``×``, ``exp``, ``1/x``); ``label_tex`` its LaTeX
    (math mode) when the emitter's translation of ``label`` would not do.

    An expression class can describe its own gate: ``expr.as_gate()`` returns the gate and
    its operands, and ``gate.fn.vjp_rules(G)`` the symbolic vector-Jacobian products (see
    :mod:`symprop.explain.network`, whose activation and loss gates come from the registry).
    """

    kind: str
    label: str
    fn: sp.Basic
    args: tuple[sp.Basic, ...]
    label_tex: str | None = None


@dataclass(frozen=True)
class GraphNode:
    """One node: an input (``gate is None``) or a gate applied to parent nodes."""

    name: str
    expr: sp.Basic
    gate: Gate | None
    parents: tuple[str, ...]
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order (Algorithm 3): every parent comes before its children.

    ``steps`` names the nodes that were assignments (in order; the last is the output), and
    ``names_tex`` optionally gives the LaTeX of node names (``W1`` as ``W^{1}``).
    """

    nodes: tuple[GraphNode, ...]
    output: str
    steps: tuple[str, ...] = ()
    names_tex: tuple[tuple[str, str], ...] = ()

    def node(self, name: str) -> GraphNode:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the input nodes, in order of first use."""
        return tuple(n.name for n in self.nodes if n.gate is None)

    def children(self, name: str) -> tuple[str, ...]:
        """Names of the nodes that take ``name`` as an argument, in topological order."""
        return tuple(n.name for n in self.nodes if name in n.parents)


@dataclass(frozen=True)
class Backprop:
    """Forward values, local derivatives and gradients of every node.

    A gate may take the same parent in several argument slots (``x*x``, ``A@A``): each
    slot has its own partial derivative. ``slot_locals[(child, i)]`` is the partial
    derivative of a scalar gate with respect to its ``i``-th argument (a number) or, for
    vector and matrix gates, None; ``slot_contributions[(child, i)]`` is what flows back
    through that slot (upstream × local, or the vector-Jacobian product) and
    ``slot_rules[(child, i)]`` its symbolic form. ``locals``, ``contributions`` and
    ``rules`` hold the same per edge ``(child, parent)``: the sums over the edge's slots,
    so a node's gradient is the sum of its edges' contributions.
    """

    graph: Graph
    values: Mapping[str, Value]
    grads: Mapping[str, Value]
    locals: Mapping[tuple[str, str], sp.Float | None]
    contributions: Mapping[tuple[str, str], Value]
    rules: Mapping[tuple[str, str], sp.Basic] = field(default_factory=dict)
    slot_locals: Mapping[tuple[str, int], sp.Float | None] = field(default_factory=dict)
    slot_contributions: Mapping[tuple[str, int], Value] = field(default_factory=dict)
    slot_rules: Mapping[tuple[str, int], sp.Basic] = field(default_factory=dict)


# ------------------------------------------------------------------ values


def as_value(raw: object, name: str = "value") -> Value:
    """Turn a number or nested list into an exact SymPy number or an immutable matrix.

    Vectors become columns: ``[0.1, 0.2]`` is 2×1.

    Examples
    --------
    >>> as_value([0.1, 0.2]).shape
    (2, 1)
    """
    if isinstance(raw, sp.MatrixBase | list | tuple):
        entries = (
            len(raw)
            if isinstance(raw, sp.MatrixBase)
            else sum(len(r) if isinstance(r, list | tuple) else 1 for r in raw)
        )
        if entries > MAX_ENTRIES:
            raise ExplainError(
                f"{name}: got {entries} entries; a vector or matrix may hold at most "
                f"{MAX_ENTRIES} (16×16)"
            )
    if isinstance(raw, sp.MatrixBase):
        return sp.ImmutableMatrix(raw)
    if isinstance(raw, list | tuple):
        if not raw:
            raise ExplainError(f"{name}: empty list")
        if all(isinstance(r, list | tuple) for r in raw):
            widths = {len(r) for r in raw}
            if len(widths) != 1:
                raise ExplainError(f"{name}: rows of different lengths {sorted(widths)}")
            return sp.ImmutableMatrix([[_exact(v, name) for v in r] for r in raw])
        if any(isinstance(r, list | tuple) for r in raw):
            raise ExplainError(f"{name}: mixes numbers and lists")
        return sp.ImmutableMatrix([[_exact(v, name)] for v in raw])
    return _exact(raw, name)


def _exact(raw: object, name: str) -> sp.Basic:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | sp.Basic):
        raise ExplainError(f"{name}: expected a number, got {shown(raw)}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ExplainError(f"{name}: expected a finite number, got {shown(raw)}")
    if (
        len(raw) > MAX_DIGITS
        if isinstance(raw, str)
        else isinstance(raw, int)
        and (raw.bit_length() > 4 * MAX_DIGITS or abs(raw) >= 10**MAX_DIGITS)
    ):
        raise ExplainError(f"{name}: got {shown(raw)}; at most {MAX_DIGITS} digits are read")
    if isinstance(raw, float):
        # repr is the shortest decimal that round-trips: 0.1 stays 1/10, not 0.1000000000000000055
        return sp.Rational(repr(raw))
    try:
        value = sp.Rational(raw) if isinstance(raw, int | str) else raw
    except (TypeError, ValueError):
        raise ExplainError(f"{name}: expected a number, got {shown(raw)}") from None
    if not value.is_number or not value.is_finite:
        raise ExplainError(f"{name}: expected a finite number, got {shown(raw)}")
    return value


def _shape(value: sp.Basic) -> tuple[int, ...]:
    if isinstance(value, sp.MatrixBase | sp.MatrixExpr):
        return tuple(int(d) for d in value.shape)
    return ()


# ------------------------------------------------------------------ gates


def _dummies(parents: Sequence[sp.Basic]) -> tuple[sp.Basic, ...]:
    out = []
    for index, parent in enumerate(parents):
        shape = _shape(parent)
        out.append(
            sp.MatrixSymbol(f"a{index}", *shape) if shape else sp.Symbol(f"a{index}", real=True)
        )
    return tuple(out)


def _is_const(expr: sp.Basic) -> bool:
    return isinstance(expr, sp.Expr) and not expr.free_symbols and expr.is_number


def _sigmoid_arg(expr: sp.Basic) -> sp.Basic | None:
    """``u`` when ``expr`` is ``1/(1 + exp(-u))`` as the parser builds it, else None."""
    if not (isinstance(expr, sp.Pow) and expr.exp == -1 and isinstance(expr.base, sp.Add)):
        return None
    terms = expr.base.args
    if len(terms) != 2 or sp.Integer(1) not in terms:
        return None
    other = terms[0] if terms[1] == 1 else terms[1]
    if not isinstance(other, sp.exp):
        return None
    inner = other.args[0]
    if isinstance(inner, sp.Mul) and len(inner.args) == 2 and sp.Integer(-1) in inner.args:
        return inner.args[0] if inner.args[1] == -1 else inner.args[1]
    return None


def elementwise(builder: Callable[..., sp.Basic]) -> Callable[..., sp.Basic]:
    """A scalar function applied entry by entry when its one argument is a vector or matrix
    (``sigmoid(W@x + b)``); to scalars, the function itself."""

    def build(*args: sp.Basic) -> sp.Basic:
        if len(args) == 1 and _shape(args[0]):
            return ElementwiseApplyFunction(sp.Lambda(_ENTRY, builder(_ENTRY)), args[0])
        return builder(*args)

    return build


_ENTRY = sp.Symbol("t", real=True)


def elementwise_name(function: sp.Lambda) -> str | None:
    """The name of an entrywise function as drawn: ``σ``, ``relu``, ``exp``, ``tanh``...

    Examples
    --------
    >>> t = sp.Symbol("t")
    >>> [elementwise_name(sp.Lambda(t, f)) for f in (1 / (1 + sp.exp(-t)), sp.tanh(t))]
    ['σ', 'tanh']
    """
    (t,) = function.variables
    body = function.expr
    if _sigmoid_arg(body) == t:
        return "σ"
    if body == sp.Max(0, t):
        return "relu"
    if isinstance(body, sp.Function) and body.args == (t,):
        return body.func.__name__.lower()
    if isinstance(body, sp.Pow) and body.base == t and body.exp == sp.Rational(1, 2):
        return "√"
    return None


def _fmt_const(c: sp.Basic) -> str:
    """``1/2`` as ``0.5``, ``1/10000`` and ``Float(1e-4)`` as ``0.0001``; ``1/3`` stays."""
    if isinstance(c, sp.Rational) and not isinstance(c, sp.Integer):
        q = int(c.q)
        twos = fives = 0
        while q % 2 == 0:
            q //= 2
            twos += 1
        while q % 5 == 0:
            q //= 5
            fives += 1
        if q == 1:
            places = max(twos, fives)
            return _decimal(c, places) if places <= 6 else repr(float(c))
    if isinstance(c, sp.Float):
        return f"{float(c):.6g}"
    return sp.sstr(c)


def _decimal(c: sp.Rational, places: int) -> str:
    scaled = abs(int(c.p * 10**places // c.q))
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if c < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _decompose(expr: sp.Basic, granularity: Granularity) -> tuple[Gate, tuple[sp.Basic, ...]]:
    """The gate computing ``expr`` from its non-constant operands, and those operands."""
    as_gate = getattr(expr, "as_gate", None)
    if callable(as_gate):
        return as_gate()
    if granularity == "coarse":
        inner = _sigmoid_arg(expr)
        if inner is not None:
            (a0,) = _dummies([inner])
            return Gate("sigmoid", "σ", 1 / (1 + sp.exp(-a0)), (a0,)), (inner,)
    # The norm squared is one gate in both granularities: the slides' L2 node.
    if isinstance(expr, sp.Pow) and isinstance(expr.base, Norm2) and expr.exp == 2:
        (v,) = expr.base.args
        (a0,) = _dummies([v])
        return Gate("sqnorm", "‖·‖²", Norm2(a0) ** 2, (a0,)), (v,)
    if isinstance(expr, ElementwiseApplyFunction):
        (a0,) = _dummies([expr.expr])
        label = elementwise_name(expr.function) or "f"
        fn = ElementwiseApplyFunction(expr.function, a0)
        return Gate("elementwise", label, fn, (a0,)), (expr.expr,)
    if isinstance(expr, sp.MatMul | sp.MatAdd | sp.HadamardProduct | sp.Transpose):
        return _matrix_gate(expr)
    if isinstance(expr, Norm2):
        (a0,) = _dummies(expr.args)
        return Gate("norm", "‖·‖", Norm2(a0), (a0,)), expr.args
    if isinstance(expr, sp.Add | sp.Mul):
        operands = [a for a in expr.args if not _is_const(a)]
        consts = [a for a in expr.args if _is_const(a)]
        neutral = sp.Integer(0) if isinstance(expr, sp.Add) else sp.Integer(1)
        if len(operands) == 1 and expr.func(*consts) == neutral:
            # 1*u or u+0 (unevaluated input): no gate of its own.
            return _decompose(operands[0], granularity)
        if isinstance(expr, sp.Add):
            return _add_gate(operands, consts)
        return _mul_gate(operands, consts)
    if isinstance(expr, sp.Pow):
        base, exponent = expr.args
        if _is_const(exponent):
            (a0,) = _dummies([base])
            label = {-1: "1/x", 2: "x²", sp.Rational(1, 2): "√"}.get(exponent, f"^{exponent}")
            kind = "recip" if exponent == -1 else "pow"
            return Gate(kind, label, sp.Pow(a0, exponent), (a0,)), (base,)
        if _is_const(base):
            (a0,) = _dummies([exponent])
            return Gate("exp", f"{_fmt_const(base)}^x", sp.Pow(base, a0), (a0,)), (exponent,)
        a0, a1 = _dummies([base, exponent])
        return Gate("pow", "x^y", sp.Pow(a0, a1), (a0, a1)), (base, exponent)
    if isinstance(expr, sp.Function | sp.Max | sp.Min | sp.Abs):
        operands = tuple(a for a in expr.args if not _is_const(a))
        dummies = _dummies(operands)
        mapping = dict(zip(operands, dummies, strict=True))
        fn = expr.func(*[mapping.get(a, a) for a in expr.args], evaluate=False)
        name = expr.func.__name__
        kind = name.lower()
        consts = [a for a in expr.args if _is_const(a)]
        label = name.lower() if not consts else f"{name.lower()}(·,{_fmt_const(consts[0])})"
        if any(_shape(a) for a in operands):
            raise ExplainError(f"{name} of a vector or matrix is not supported; use scalars")
        return Gate(kind, label, fn, dummies), operands
    raise ExplainError(f"cannot draw a gate for {type(expr).__name__} ({sp.sstr(expr)})")


def _add_gate(operands: list[sp.Basic], consts: list[sp.Basic]) -> tuple[Gate, tuple]:
    # x - y arrives as Add(x, Mul(-1, y)): draw one "-" gate rather than a negation and a sum.
    signs: list[int] = []
    plain: list[sp.Basic] = []
    for operand in operands:
        if (
            isinstance(operand, sp.Mul)
            and len(operand.args) == 2
            and sp.Integer(-1) in operand.args
            and len(operands) > 1
        ):
            plain.append(operand.args[0] if operand.args[1] == -1 else operand.args[1])
            signs.append(-1)
        else:
            plain.append(operand)
            signs.append(1)
    dummies = _dummies(plain)
    fn = sp.Add(*[s * d for s, d in zip(signs, dummies, strict=True)], *consts)
    const = sp.Add(*consts)
    if len(plain) == 1:
        label = f"+{_fmt_const(const)}" if const >= 0 else f"−{_fmt_const(-const)}"
        return Gate("add_const", label, fn, dummies), tuple(plain)
    label = "−" if -1 in signs and len(plain) == 2 else "+"
    return Gate("add", label, fn, dummies), tuple(plain)


def _mul_gate(operands: list[sp.Basic], consts: list[sp.Basic]) -> tuple[Gate, tuple]:
    dummies = _dummies(operands)
    const = sp.Mul(*consts)
    fn = sp.Mul(const, *dummies)
    if len(operands) == 1:
        kind = "neg" if const == -1 else "scale"
        return Gate(kind, f"×({_fmt_const(const)})", fn, dummies), tuple(operands)
    label = "×" if const == 1 else f"×{_fmt_const(const)}"
    return Gate("mul", label, fn, dummies), tuple(operands)


def _matrix_gate(expr: sp.Basic) -> tuple[Gate, tuple]:
    if isinstance(expr, sp.MatMul | sp.HadamardProduct):
        factors = [a for a in expr.args if _shape(a)]
        if len(factors) > 2:
            # SymPy flattens W@W@...@x into one product; each product is a gate of two
            # factors, as in the lecture (and the textbook rules G Bᵀ, Aᵀ G apply),
            # grouped from the right so that a chain ending in a vector stays matrix-vector.
            first = expr.args[0]
            return _matrix_gate(expr.func(first, expr.func(*expr.args[1:])))
    operands = [a for a in expr.args if not _is_const(a)]
    consts = [a for a in expr.args if _is_const(a)]
    dummies = _dummies(operands)
    if isinstance(expr, sp.Transpose):
        return Gate("transpose", "ᵀ", sp.Transpose(dummies[0]), dummies), tuple(operands)
    if isinstance(expr, sp.MatAdd):
        return Gate("add", "+", sp.MatAdd(*dummies), dummies), tuple(operands)
    if isinstance(expr, sp.HadamardProduct):
        return Gate("hadamard", "⊙", sp.HadamardProduct(*dummies), dummies), tuple(operands)
    const = sp.Mul(*consts)
    scalars = [d for d in dummies if not _shape(d)]
    matrices = [d for d in dummies if _shape(d)]
    fn = sp.MatMul(const, *scalars, *matrices) if const != 1 else sp.MatMul(*scalars, *matrices)
    if len(operands) == 1:
        kind = "neg" if const == -1 else "scale"
        return Gate(kind, f"×({_fmt_const(const)})", fn, dummies), tuple(operands)
    kind = "matmul" if len(matrices) > 1 else "scale"
    return Gate(kind, "@" if kind == "matmul" else "×", fn, dummies), tuple(operands)


# ------------------------------------------------------------------ graph construction


def _leaf_name(expr: sp.Basic) -> str | None:
    if isinstance(expr, sp.Symbol | sp.MatrixSymbol):
        return str(expr.name)
    if isinstance(expr, sp.Indexed):
        return sp.sstr(expr)
    return None


def graph_from_assignments(
    assignments: Sequence[tuple[str, sp.Basic]],
    granularity: Granularity = "elementary",
    max_nodes: int = 200,
) -> Graph:
    """Build one graph from named steps, e.g. ``[("z", w*x + b), ("a", sigma(z)), ("C", ...)]``.

    A later step refers to an earlier one through a symbol of the same name (a
    ``MatrixSymbol`` for matrix steps); the node computing each step carries its name,
    and the last step is the output.

    Parameters
    ----------
    assignments
        ``(name, expression)`` pairs in evaluation order.
    granularity
        ``elementary`` gates (add, mul, exp, 1/x, negation, max, ...) or ``coarse``
        ones (the sigmoid as one σ gate).
    max_nodes
        Refuse graphs larger than this; pictures stop being readable long before.

    Returns
    -------
    Graph
        Nodes in topological order.

    Examples
    --------
    >>> w, x, b, z = sp.symbols("w x b z", real=True)
    >>> g = graph_from_assignments([("z", w * x + b), ("f", z**2)])
    >>> [n.name for n in g.nodes]
    ['b', 'w', 'x', 'u_1', 'z', 'f']
    """
    if not assignments:
        raise ExplainError("nothing to draw: no expression given")
    nodes: list[GraphNode] = []
    by_expr: dict[sp.Basic, str] = {}
    step_symbols: dict[sp.Basic, str] = {}
    counter = [0]
    reserved = {name for name, _ in assignments}
    # Internal nodes are named u_1, u_2, ...: skip every name the user's variables take.
    taken = reserved | {
        leaf
        for _, expr in assignments
        if isinstance(expr, sp.Basic)
        for atom in expr.atoms(sp.Symbol, sp.MatrixSymbol, sp.Indexed)
        if (leaf := _leaf_name(atom)) is not None
    }

    def visit(root: sp.Basic, final_name: str | None) -> str:
        # Iterative post-order: expressions from the parser are bounded, but graphs from the
        # lead's network engine need not be shallow.
        stack: list[tuple[sp.Basic, bool]] = [(root, False)]
        pending: dict[sp.Basic, tuple[Gate, tuple[sp.Basic, ...]]] = {}
        while stack:
            expr, expanded = stack.pop()
            if expr in by_expr:
                continue
            if expr in step_symbols:
                by_expr[expr] = step_symbols[expr]
                continue
            leaf = _leaf_name(expr)
            if leaf is not None:
                if leaf in reserved:
                    raise ExplainError(f"{leaf} is used before it is assigned")
                nodes.append(GraphNode(leaf, expr, None, (), _shape(expr)))
                by_expr[expr] = leaf
                continue
            if _is_const(expr):
                raise ExplainError(f"the constant {sp.sstr(expr)} has no gradient to explain")
            if not expanded:
                gate, operands = _decompose(expr, granularity)
                pending[expr] = (gate, operands)
                stack.append((expr, True))
                stack.extend((op, False) for op in reversed(operands))
                continue
            gate, operands = pending[expr]
            if expr is root and final_name is not None:
                name = final_name
            else:
                counter[0] += 1
                name = f"u_{counter[0]}"
                while name in taken:
                    counter[0] += 1
                    name = f"u_{counter[0]}"
            parents = tuple(by_expr[op] for op in operands)
            nodes.append(GraphNode(name, expr, gate, parents, _shape(expr)))
            by_expr[expr] = name
            if len(nodes) > max_nodes:
                raise ExplainError(f"the graph has more than {max_nodes} nodes; too large to draw")
        return by_expr[root]

    output = ""
    for name, expr in assignments:
        if not isinstance(expr, sp.Basic):
            raise ExplainError(f"{name}: expected a SymPy expression")
        output = visit(expr, name)
        if output != name:
            # The step is a bare alias of an existing node (z = x): keep the step's name visible.
            raise ExplainError(f"step {name} only renames {output}; remove it")
        symbol = (
            sp.MatrixSymbol(name, *_shape(expr)) if _shape(expr) else sp.Symbol(name, real=True)
        )
        step_symbols[symbol] = name
        reserved.discard(name)
    return Graph(tuple(nodes), output, steps=tuple(name for name, _ in assignments))


def build_graph(
    expr: sp.Basic, granularity: Granularity = "elementary", output_name: str = "f"
) -> Graph:
    """Build the computation graph of one expression; the output node is ``output_name``.

    Examples
    --------
    >>> x, y, z = sp.symbols("x y z", real=True)
    >>> [(n.name, n.gate.label if n.gate else "input") for n in build_graph(x * y + z).nodes]
    [('z', 'input'), ('x', 'input'), ('y', 'input'), ('u_1', '×'), ('f', '+')]
    """
    if _leaf_name(expr) is not None:
        raise ExplainError("the expression is a single variable; there is nothing to propagate")
    return graph_from_assignments([(output_name, expr)], granularity)


# ------------------------------------------------------------------ forward and backward


def _numeric(value: sp.Basic, where: str) -> Value:
    if isinstance(value, sp.MatrixBase | sp.MatrixExpr):
        matrix = sp.ImmutableMatrix(value.doit() if isinstance(value, sp.MatrixExpr) else value)
        return sp.ImmutableMatrix(matrix.applyfunc(lambda e: _numeric(e, where)))
    try:
        number = sp.N(value.doit(), _DIGITS.get())
    except (OverflowError, MemoryError, RecursionError):
        raise ExplainError(f"{where} is {_BEYOND}") from None
    if not number.is_number or number.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise _Undefined(f"{where} is not defined at this point (value {shown(number)})")
    if not number.is_real:
        raise ExplainError(f"{where} is not real at this point (value {shown(number)})")
    return _bounded(sp.Float(number, _DIGITS.get()), where)


_BEYOND = f"beyond double range at this point (magnitude above {float(LARGEST):.3g})"


def _bounded(value: Value, where: str) -> Value:
    """``value`` when every entry lies within double range, else a clear error."""
    entries = value if isinstance(value, sp.MatrixBase) else (value,)
    for entry in entries:
        if abs(entry) > LARGEST:
            bits = int(mpmath.mag(mpmath.mpf(entry._mpf_)))
            about = f": about 1e{bits * 30103 // 100000}" if bits < 10**9 else ""
            raise ExplainError(f"{where} is {_BEYOND}{about}")
    return value


def _substitute(fn: sp.Basic, args: Sequence[sp.Basic], values: Sequence[Value]) -> sp.Basic:
    return fn.xreplace(dict(zip(args, values, strict=True)))


def _small(expr: sp.Basic, limit: int = 40) -> bool:
    """Whether ``expr`` has at most ``limit`` nodes (printing a deep one is slow, reading it
    in an error line useless)."""
    return next(itertools.islice(sp.preorder_traversal(expr), limit, None), None) is None


def matmul_text(printer: Printer, expr: sp.MatMul, separator: str) -> str:
    """A matrix product's factors joined by ``separator``, bracketing sums only.

    SymPy's own printers ask each factor whether it could extract a minus sign, which
    evaluates the factor: a chain W@W@...@x took seconds per print.
    """
    parts = []
    for arg in expr.args:
        text = printer._print(arg)
        parts.append(f"({text})" if isinstance(arg, sp.MatAdd | sp.Add) else text)
    return separator.join(parts)


class _StrPrinter(StrPrinter):
    """SymPy's plain text, with entrywise functions as ``σ(W*x)`` rather than a Lambda."""

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return matmul_text(self, expr, "*")

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        name = elementwise_name(expr.function) or self._print(expr.function)
        return f"{name}({self._print(expr.expr)})"


def _describe(node: GraphNode) -> str:
    expression = _StrPrinter().doprint(node.expr) if _small(node.expr) else "…"
    shown_expression = expression if len(expression) <= 80 else shown(expression)
    return f"{node.gate.label if node.gate else 'input'} node {node.name} ({shown_expression})"


_TIE = sp.Float(10) ** (5 - PRECISION)


def _check_differentiable(node: GraphNode, values: Sequence[Value]) -> None:
    gate = node.gate
    assert gate is not None
    if gate.kind == "elementwise":
        (function, _) = gate.fn.args
        (t,) = function.variables
        for entry in values[0]:
            for kink in function.expr.atoms(sp.Max, sp.Min, sp.Abs):
                arguments = [a.xreplace({t: entry}) for a in kink.args]
                _check_kink(node, type(kink).__name__.lower(), arguments)
        return
    constants = [a for a in gate.fn.args if _is_const(a)] if gate.kind in ("max", "min") else []
    _check_kink(node, gate.kind, [*values, *constants])


def _check_kink(node: GraphNode, kind: str, arguments: Sequence[sp.Basic]) -> None:
    """Max and min where arguments tie, abs at 0: no derivative, so an error, not a guess."""
    nums = [sp.N(a, PRECISION) for a in arguments]
    if kind in ("max", "min"):
        best = max(nums) if kind == "max" else min(nums)
        if sum(1 for v in nums if abs(v - best) <= _TIE) > 1:
            raise ExplainError(
                f"{kind} is not differentiable where its arguments tie "
                f"({_describe(node)} at {', '.join(sp.sstr(sp.N(v, 6)) for v in nums)})"
            )
    # Float(0) == 0 is False in SymPy: compare magnitudes, with the tolerance of the ties.
    if kind == "abs" and nums and abs(nums[0]) <= _TIE:
        raise ExplainError(f"abs is not differentiable at 0 ({_describe(node)})")


def forward(graph: Graph, point: Mapping[str, object]) -> dict[str, Value]:
    """Every node's value at ``point`` (Algorithm 3); a missing or misshapen input is an error.

    Examples
    --------
    >>> x = sp.Symbol("x", real=True)
    >>> float(forward(build_graph(sp.exp(x) + 1), {"x": 0})["f"])
    2.0
    """
    unknown = sorted(set(point) - set(graph.inputs))
    if unknown:
        raise ExplainError(
            f"value given for {', '.join(unknown)}, which the expression does not use "
            f"(it uses {', '.join(graph.inputs)})"
        )
    values: dict[str, Value] = {}
    for node in graph.nodes:
        if node.gate is None:
            if node.name not in point:
                raise ExplainError(
                    f"missing value for {node.name}: give it with --at {node.name}=..."
                )
            value = as_value(point[node.name], node.name)
            if _shape(value) != node.shape:
                got = "x".join(map(str, _shape(value))) or "a scalar"
                want = "x".join(map(str, node.shape)) or "a scalar"
                raise ExplainError(f"{node.name} must be {want}, got {got}")
            values[node.name] = _numeric(value, node.name)
            continue
        args = [values[p] for p in node.parents]
        values[node.name] = _numeric(
            _substitute(node.gate.fn, node.gate.args, args), _describe(node)
        )
    return values


def _vjp_rules(gate: Gate, upstream: sp.Basic) -> tuple[sp.Basic, ...] | None:
    """Symbolic vector-Jacobian products of the matrix gates, one per argument."""
    own = getattr(gate.fn, "vjp_rules", None)
    if callable(own):
        return tuple(own(upstream))
    a = gate.args
    if gate.kind == "matmul" and len(a) == 2:
        return (upstream * a[1].T, a[0].T * upstream)
    if gate.kind == "add":
        return tuple(upstream for _ in a)
    if gate.kind == "hadamard" and len(a) == 2:
        return (sp.HadamardProduct(upstream, a[1]), sp.HadamardProduct(upstream, a[0]))
    if gate.kind == "transpose":
        return (upstream.T,)
    if gate.kind == "sqnorm":
        return (2 * upstream * a[0],)
    if gate.kind == "elementwise":
        (function, _) = gate.fn.args
        (t,) = function.variables
        slope = sp.Lambda(t, sp.diff(function.expr, t))
        return (sp.HadamardProduct(upstream, ElementwiseApplyFunction(slope, a[0])),)
    if gate.kind == "neg":
        return (-upstream,)
    return None


def backprop(graph: Graph, point: Mapping[str, object]) -> Backprop:
    """Forward pass, then Algorithm 4: each gradient is Σ over children of upstream × local.

    Parameters
    ----------
    graph
        From :func:`build_graph` or :func:`graph_from_assignments`; the output must be scalar.
    point
        Value of every input: numbers, or nested lists for vectors (columns) and matrices.

    Returns
    -------
    Backprop
        Values, local derivatives, per-edge contributions and gradients of every node.

    Raises
    ------
    ExplainError
        For missing values, wrong shapes, undefined values (1/0, log of a negative) and
        points where a gate is not differentiable (max at a tie).
    """
    for digits in (PRECISION, *RETRY_PRECISIONS):
        token = _DIGITS.set(digits)
        try:
            return _backprop(graph, point)
        except _Undefined as exc:
            undefined = exc
        finally:
            _DIGITS.reset(token)
    raise ExplainError(str(undefined))


def _backprop(graph: Graph, point: Mapping[str, object]) -> Backprop:
    values = forward(graph, point)
    out = graph.node(graph.output)
    if out.shape and out.shape != (1, 1):
        raise ExplainError(
            f"the output {out.name} is {'x'.join(map(str, out.shape))}; explain needs a scalar"
        )
    grads: dict[str, Value] = {}
    locals_: dict[tuple[str, str], sp.Float | None] = {}
    contributions: dict[tuple[str, str], Value] = {}
    rules: dict[tuple[str, str], sp.Basic] = {}
    slot_locals: dict[tuple[str, int], sp.Float | None] = {}
    slot_contributions: dict[tuple[str, int], Value] = {}
    slot_rules: dict[tuple[str, int], sp.Basic] = {}
    one = sp.Float(1, _DIGITS.get())
    # The seed ∂f/∂f has the output's shape: a 1x1 output (a one-entry vector) seeds [[1]].
    grads[out.name] = sp.ImmutableMatrix([[one]]) if out.shape == (1, 1) else one
    for node in reversed(graph.nodes):
        # Children come later in topological order, so their contributions are all in.
        if node.name != out.name:
            children = graph.children(node.name)
            if not children:
                raise ExplainError(f"node {node.name} does not reach the output")
            total: Value | None = None
            for child in children:
                piece = contributions[(child, node.name)]
                total = piece if total is None else total + piece
            assert total is not None
            total = _bounded(total, f"the gradient of {node.name}")
            if _shape(total) != node.shape:
                # The shape rule: a gradient has the shape of its variable.
                raise AssertionError(f"gradient of {node.name} has shape {_shape(total)}")
            grads[node.name] = total
        if node.gate is None:
            continue
        args = [values[p] for p in node.parents]
        _check_differentiable(node, args)
        for index, parent in enumerate(node.parents):
            key = (node.name, parent)
            contribution, local, rule = _edge(node, index, args, grads[node.name])
            slot_locals[(node.name, index)] = local
            slot_contributions[(node.name, index)] = contribution
            slot_rules[(node.name, index)] = rule
            if key in contributions:  # the same parent twice (x*x): the two slots add
                contribution = contributions[key] + contribution
                local = None if local is None else locals_[key] + local
                rule = rules[key] + rule
            locals_[key] = local
            rules[key] = rule
            contributions[key] = contribution
    return Backprop(
        graph,
        values,
        grads,
        locals_,
        contributions,
        rules,
        slot_locals,
        slot_contributions,
        slot_rules,
    )


def _edge(
    node: GraphNode, index: int, args: Sequence[Value], upstream: Value
) -> tuple[Value, sp.Float | None, sp.Basic]:
    gate = node.gate
    assert gate is not None
    dummy = gate.args[index]
    scalar_gate = not any(_shape(a) for a in gate.args) and not node.shape
    where = f"the local derivative of {_describe(node)}"
    if scalar_gate:
        # Several positions may hold the same parent (x*x): each is its own local derivative.
        symbolic = sp.diff(gate.fn, dummy)
        local = _numeric(_substitute(symbolic, gate.args, args), where)
        contribution = _bounded(
            sp.Float(local * upstream, _DIGITS.get()), f"{where} times upstream"
        )
        return contribution, local, symbolic
    upstream_symbol = sp.MatrixSymbol("G", *node.shape) if node.shape else sp.Symbol("G", real=True)
    try:
        rules = _vjp_rules(gate, upstream_symbol)
    except TypeError:  # SymPy's matrix algebra refuses some 1x1 operands ("Mix of Matrix
        rules = None  # and Scalar symbols"); the entrywise Jacobian gives the same product
    if rules is None:
        return _generic_vjp(gate, index, args, upstream, where), None, sp.Symbol("J^T G")
    rule = rules[index]
    contribution = _numeric(
        _substitute(rule, (*gate.args, upstream_symbol), (*args, upstream)), where
    )
    if sum(_size(a) for a in args) <= CHECKED_ENTRIES:
        # The textbook rule and the entrywise Jacobian must agree; a mismatch is a bug here.
        # (The entrywise sum grows with the square of the sizes, so big gates skip it.)
        jacobian = _generic_vjp(gate, index, args, upstream, where)
        difference = sp.Matrix([contribution]) - sp.Matrix([jacobian])
        if max((abs(e) for e in difference), default=0) > sp.Float(10) ** (10 - PRECISION):
            raise AssertionError(f"VJP rule for {gate.kind} disagrees with the Jacobian")
    return contribution, None, rule


def _size(value: Value) -> int:
    return len(value) if isinstance(value, sp.MatrixBase) else 1


def _explicit(shape: tuple[int, ...], prefix: str) -> sp.Basic:
    if not shape:
        return sp.Symbol(prefix, real=True)
    rows, cols = shape
    return sp.ImmutableMatrix(rows, cols, lambda r, c: sp.Symbol(f"{prefix}_{r}_{c}", real=True))


def _generic_vjp(
    gate: Gate, index: int, args: Sequence[Value], upstream: Value, where: str
) -> Value:
    """Σ_pq G_pq ∂out_pq/∂arg_rc, entry by entry: the vector-Jacobian product by definition.

    Only the differentiated argument is spelled out in symbols; the others (even the same
    node in another slot, as in ``A@A``) are numbers, and each output entry is
    differentiated only by the symbols it holds, so the work follows the Jacobian's nonzeros.
    """
    target = _explicit(_shape(gate.args[index]), "e")
    filled = [target if i == index else value for i, value in enumerate(args)]
    out = gate.fn.xreplace(dict(zip(gate.args, filled, strict=True))).doit()
    out_entries = list(sp.Matrix(out)) if _shape(out) else [out]
    g_entries = list(sp.Matrix(upstream)) if _shape(upstream) else [upstream]
    entries = list(target) if _shape(target) else [target]
    numbers = list(args[index]) if _shape(target) else [args[index]]
    subs = dict(zip(entries, numbers, strict=True))
    sums: dict[sp.Basic, list[sp.Basic]] = {entry: [] for entry in entries}
    for g, o in zip(g_entries, out_entries, strict=True):
        for entry in o.free_symbols & subs.keys():
            sums[entry].append(g * sp.diff(o, entry).xreplace(subs))
    grads = [_numeric(sp.Add(*sums[entry]), where) for entry in entries]
    if _shape(target):
        return sp.ImmutableMatrix(*target.shape, grads)
    return grads[0]
