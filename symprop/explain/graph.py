"""Computation graphs of SymPy expressions: their values, gates and construction.

A graph is built from any differentiable SymPy expression (or a list of named assignments):
each gate is a small SymPy function of its arguments (``a0 * a1``, ``1/a0``, ``exp(a0)``) with
constants folded in, as in the seed lecture's worked examples. Shared subexpressions become
one node, so gradients add at branches (:func:`symprop.explain.backward.backprop` runs the
backward pass). A gradient always has the shape of its variable.

Examples
--------
>>> x, y, z = sp.symbols("x y z", real=True)
>>> from symprop.explain.backward import backprop
>>> result = backprop(build_graph(x * y + z), {"x": 2, "y": 3, "z": -2})
>>> [float(result.grads[n]) for n in ("x", "y", "z")]
[3.0, 2.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symprop.core.errors import SymPropError, shown
from symprop.parsing import Norm2

MAX_DIGITS = 60
"""The most digits of one input number (as in the expression parser)."""

MAX_ENTRIES = 256
"""The most entries of one vector or matrix value (16×16): pictures and tables of larger
ones are unreadable, and the work grows with the cube of the side."""

Value = sp.Float | sp.ImmutableMatrix
Granularity = Literal["elementary", "coarse"]


class ExplainError(SymPropError, ValueError):
    """The expression cannot be explained at this point: one clear message for the user."""


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


def shape_of(value: sp.Basic) -> tuple[int, ...]:
    """The shape of a matrix value, ``()`` for a scalar."""
    if isinstance(value, sp.MatrixBase | sp.MatrixExpr):
        return tuple(int(d) for d in value.shape)
    return ()


# ------------------------------------------------------------------ gates


def _dummies(parents: Sequence[sp.Basic]) -> tuple[sp.Basic, ...]:
    out = []
    for index, parent in enumerate(parents):
        shape = shape_of(parent)
        out.append(
            sp.MatrixSymbol(f"a{index}", *shape) if shape else sp.Symbol(f"a{index}", real=True)
        )
    return tuple(out)


def is_constant(expr: sp.Basic) -> bool:
    """Whether ``expr`` is a plain number (no symbols)."""
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
        if len(args) == 1 and shape_of(args[0]):
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
        operands = [a for a in expr.args if not is_constant(a)]
        consts = [a for a in expr.args if is_constant(a)]
        neutral = sp.Integer(0) if isinstance(expr, sp.Add) else sp.Integer(1)
        if len(operands) == 1 and expr.func(*consts) == neutral:
            # 1*u or u+0 (unevaluated input): no gate of its own.
            return _decompose(operands[0], granularity)
        if isinstance(expr, sp.Add):
            return _add_gate(operands, consts)
        return _mul_gate(operands, consts)
    if isinstance(expr, sp.Pow):
        base, exponent = expr.args
        if is_constant(exponent):
            (a0,) = _dummies([base])
            label = {-1: "1/x", 2: "x²", sp.Rational(1, 2): "√"}.get(exponent, f"^{exponent}")
            kind = "recip" if exponent == -1 else "pow"
            return Gate(kind, label, sp.Pow(a0, exponent), (a0,)), (base,)
        if is_constant(base):
            (a0,) = _dummies([exponent])
            return Gate("exp", f"{_fmt_const(base)}^x", sp.Pow(base, a0), (a0,)), (exponent,)
        a0, a1 = _dummies([base, exponent])
        return Gate("pow", "x^y", sp.Pow(a0, a1), (a0, a1)), (base, exponent)
    if isinstance(expr, sp.Function | sp.Max | sp.Min | sp.Abs):
        operands = tuple(a for a in expr.args if not is_constant(a))
        dummies = _dummies(operands)
        mapping = dict(zip(operands, dummies, strict=True))
        fn = expr.func(*[mapping.get(a, a) for a in expr.args], evaluate=False)
        name = expr.func.__name__
        kind = name.lower()
        consts = [a for a in expr.args if is_constant(a)]
        label = name.lower() if not consts else f"{name.lower()}(·,{_fmt_const(consts[0])})"
        if any(shape_of(a) for a in operands):
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
        factors = [a for a in expr.args if shape_of(a)]
        if len(factors) > 2:
            # SymPy flattens W@W@...@x into one product; each product is a gate of two
            # factors, as in the lecture (and the textbook rules G Bᵀ, Aᵀ G apply),
            # grouped from the right so that a chain ending in a vector stays matrix-vector.
            first = expr.args[0]
            return _matrix_gate(expr.func(first, expr.func(*expr.args[1:])))
    operands = [a for a in expr.args if not is_constant(a)]
    consts = [a for a in expr.args if is_constant(a)]
    dummies = _dummies(operands)
    if isinstance(expr, sp.Transpose):
        return Gate("transpose", "ᵀ", sp.Transpose(dummies[0]), dummies), tuple(operands)
    if isinstance(expr, sp.MatAdd):
        return Gate("add", "+", sp.MatAdd(*dummies), dummies), tuple(operands)
    if isinstance(expr, sp.HadamardProduct):
        return Gate("hadamard", "⊙", sp.HadamardProduct(*dummies), dummies), tuple(operands)
    const = sp.Mul(*consts)
    scalars = [d for d in dummies if not shape_of(d)]
    matrices = [d for d in dummies if shape_of(d)]
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
                nodes.append(GraphNode(leaf, expr, None, (), shape_of(expr)))
                by_expr[expr] = leaf
                continue
            if is_constant(expr):
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
            nodes.append(GraphNode(name, expr, gate, parents, shape_of(expr)))
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
            sp.MatrixSymbol(name, *shape_of(expr)) if shape_of(expr) else sp.Symbol(name, real=True)
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
