"""Forward values and backprop node by node on a computation graph (seed 001's Algorithm 4).

Each node's gradient is the sum over its children of upstream gradient times local
derivative; for vector and matrix nodes the product is a vector-Jacobian product computed
entry by entry, and the printed rule (``G x^T``, ``W^T G``) is checked against it. Values
are exact inputs rounded once per gate to :data:`PRECISION` digits."""

from __future__ import annotations

import contextvars
import functools
import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.printer import Printer
from sympy.printing.str import StrPrinter

from symprop.core.calculus import (
    ActivationApplied,
    activation_function,
    derive_activation,
    expand_activations,
    proven_equal,
)
from symprop.core.errors import shown
from symprop.core.registry import ACTIVATIONS
from symprop.core.registry import a as a_scalar
from symprop.core.registry import z as z_scalar
from symprop.explain.graph import (
    ExplainError,
    Gate,
    Graph,
    GraphNode,
    Value,
    as_value,
    elementwise_name,
    is_constant,
    shape_of,
)
from symprop.printers.written import written_product

PRECISION = 30
"""Decimal digits of every forward value and gradient (exact inputs, rounded once per gate)."""

RETRY_PRECISIONS = (120, 600)
"""Working precisions tried, in turn, when a value is undefined at ``PRECISION`` digits only
from rounding: binary cross-entropy at z = 105 needs log(1 - σ(z)) with 1 - σ(z) ≈ 3e-46,
which 30 digits round to log(0)."""

_DIGITS: contextvars.ContextVar[int] = contextvars.ContextVar("digits", default=PRECISION)

LARGEST = sp.Float(sys.float_info.max, PRECISION)
"""Values, local derivatives and gradients must stay within double range: the JSON and the
pictures show doubles, and every gate then works on bounded numbers (so ``x**x**x**x`` at
9 stops at its second power rather than computing ``9**(9**387420489)``)."""

CHECKED_ENTRIES = 64
"""Gates whose arguments hold at most this many entries in all have their vector-Jacobian
product rule checked against the entrywise Jacobian."""


_CHECKED_RULES: set[tuple[object, ...]] = set()
"""The vector-Jacobian product rules this process has already checked against the entrywise
Jacobian, by gate, argument, argument shapes and rule. A rule is an identity in the gate's
arguments: checked once at one point it is not re-checked at every gate of the same form (the
five 5×5 dense layers of a worked example)."""


class _Undefined(ExplainError):
    """A value is undefined (1/0, log 0) at the working precision; more digits may help."""


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
    constants = [a for a in gate.fn.args if is_constant(a)] if gate.kind in ("max", "min") else []
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
            if shape_of(value) != node.shape:
                got = "x".join(map(str, shape_of(value))) or "a scalar"
                want = "x".join(map(str, node.shape)) or "a scalar"
                raise ExplainError(f"{node.name} must be {want}, got {got}")
            values[node.name] = _numeric(value, node.name)
            continue
        args = [values[p] for p in node.parents]
        values[node.name] = _numeric(
            _substitute(node.gate.fn, node.gate.args, args), _describe(node)
        )
    return values


def substituted(expr: sp.Basic, mapping: Mapping[sp.Basic, sp.Basic]) -> sp.Basic:
    """``expr`` with ``mapping`` applied, keeping unevaluated products and sums as written.

    ``xreplace`` rebuilds every node it touches with evaluation on, so the written form of a
    registry derivative (``σ(u) (1 − σ(u))``) would come back in SymPy's order.
    """
    if expr in mapping:
        return mapping[expr]
    if not expr.args or isinstance(expr, sp.MatrixExpr | sp.Lambda):
        return expr.xreplace(mapping)
    args = [substituted(arg, mapping) for arg in expr.args]
    if all(new is old for new, old in zip(args, expr.args, strict=True)):
        return expr
    if isinstance(expr, sp.Add | sp.Mul | sp.Pow):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


@functools.cache
def _activation_of(fn: sp.Basic, arg: sp.Symbol) -> str | None:
    """The registry activation (without parameters) whose definition at ``arg`` is ``fn``."""
    for act in ACTIVATIONS.values():
        if act.elementwise and not act.parameters:
            if act.definition.xreplace({z_scalar: arg}) == fn:
                return act.name
    return None


@functools.cache
def _registry_form(name: str) -> sp.Expr:
    """φ' of the registry activation ``name`` in its derived, proven form, written as the
    documents write it, with the output ``a`` as the applied activation ``φ(z)``."""
    derived = derive_activation(name)
    form = written_product(derived.form)
    applied = activation_function(name)(z_scalar)
    form = substituted(form, {a_scalar: applied})
    # The form was proven equal to sympy.diff of the definition where it was derived; the
    # written layout and the substitution of a are checked here, once per activation.
    if not proven_equal(expand_activations(form), sp.diff(ACTIVATIONS[name].definition, z_scalar)):
        raise AssertionError(f"the written derivative of {name} differs from its definition's")
    return form


def registry_slope(fn: sp.Basic, arg: sp.Symbol) -> sp.Expr | None:
    """``φ'(arg)`` as the registry derives it (σ' = σ (1 − σ)) when the gate ``fn`` of ``arg``
    is a registry activation, else ``None`` (the gate's own ``sympy.diff`` is used).

    Examples
    --------
    >>> t = sp.Symbol("t", real=True)
    >>> from symprop.explain.printers import GraphStrPrinter
    >>> GraphStrPrinter().doprint(registry_slope(1 / (1 + sp.exp(-t)), t))
    'σ(t)*(1 - σ(t))'
    """
    name = _activation_of(fn, arg)
    if name is None:
        return None
    return substituted(_registry_form(name), {z_scalar: arg})


def evaluable(rule: sp.Basic) -> sp.Basic:
    """``rule`` with every applied registry activation replaced by its definition."""
    if not rule.has(ActivationApplied):
        return rule
    return expand_activations(rule)


def _vjp_rules(gate: Gate, upstream: sp.Basic) -> tuple[sp.Basic | None, ...] | None:
    """Symbolic vector-Jacobian products of the matrix gates, one per argument (``None`` for
    an argument without a rule: the entrywise Jacobian is used for it)."""
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
        derived = registry_slope(function.expr, t)
        slope = sp.Lambda(t, sp.diff(function.expr, t) if derived is None else derived)
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
            if shape_of(total) != node.shape:
                # The shape rule: a gradient has the shape of its variable.
                raise AssertionError(f"gradient of {node.name} has shape {shape_of(total)}")
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
    scalar_gate = not any(shape_of(a) for a in gate.args) and not node.shape
    where = f"the local derivative of {_describe(node)}"
    if scalar_gate:
        # Several positions may hold the same parent (x*x): each is its own local derivative.
        symbolic = sp.diff(gate.fn, dummy)
        local = _numeric(_substitute(symbolic, gate.args, args), where)
        derived = registry_slope(gate.fn, dummy) if len(gate.args) == 1 else None
        if derived is not None:
            symbolic = derived  # the same derivative (proven), in the registry's written form
        contribution = _bounded(
            sp.Float(local * upstream, _DIGITS.get()), f"{where} times upstream"
        )
        return contribution, local, symbolic
    upstream_symbol = sp.MatrixSymbol("G", *node.shape) if node.shape else sp.Symbol("G", real=True)
    try:
        rules = _vjp_rules(gate, upstream_symbol)
    except TypeError:  # SymPy's matrix algebra refuses some 1x1 operands ("Mix of Matrix
        rules = None  # and Scalar symbols"); the entrywise Jacobian gives the same product
    if rules is None or rules[index] is None:
        return _generic_vjp(gate, index, args, upstream, where), None, sp.Symbol("J^T G")
    rule = rules[index]
    contribution = _numeric(
        _substitute(evaluable(rule), (*gate.args, upstream_symbol), (*args, upstream)), where
    )
    key = (gate.kind, gate.fn, gate.args, index, tuple(shape_of(a) for a in args), rule)
    if sum(_size(a) for a in args) <= CHECKED_ENTRIES and key not in _CHECKED_RULES:
        # The textbook rule and the entrywise Jacobian must agree; a mismatch is a bug here.
        # (The entrywise sum grows with the square of the sizes, so big gates skip it.)
        jacobian = _generic_vjp(gate, index, args, upstream, where)
        difference = sp.Matrix([contribution]) - sp.Matrix([jacobian])
        if max((abs(e) for e in difference), default=0) > sp.Float(10) ** (10 - PRECISION):
            raise AssertionError(f"VJP rule for {gate.kind} disagrees with the Jacobian")
        _CHECKED_RULES.add(key)
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
    target = _explicit(shape_of(gate.args[index]), "e")
    filled = [target if i == index else value for i, value in enumerate(args)]
    out = gate.fn.xreplace(dict(zip(gate.args, filled, strict=True))).doit()
    out_entries = list(sp.Matrix(out)) if shape_of(out) else [out]
    g_entries = list(sp.Matrix(upstream)) if shape_of(upstream) else [upstream]
    entries = list(target) if shape_of(target) else [target]
    numbers = list(args[index]) if shape_of(target) else [args[index]]
    subs = dict(zip(entries, numbers, strict=True))
    sums: dict[sp.Basic, list[sp.Basic]] = {entry: [] for entry in entries}
    for g, o in zip(g_entries, out_entries, strict=True):
        for entry in o.free_symbols & subs.keys():
            sums[entry].append(g * sp.diff(o, entry).xreplace(subs))
    grads = [_numeric(sp.Add(*sums[entry]), where) for entry in entries]
    if shape_of(target):
        return sp.ImmutableMatrix(*target.shape, grads)
    return grads[0]
