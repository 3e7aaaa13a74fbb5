"""AST -> SymPy with a whitelist of constructors and evaluation off: the only way a parsed
formula becomes a SymPy object."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy as sp

from symprop.core.errors import ParseError
from symprop.parsing.tree import (
    BinOp,
    Call,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Indicator,
    Name,
    Neg,
    Norm,
    Number,
    Piecewise,
    Relation,
    Transpose,
)

# ---------------------------------------------------------------- AST -> SymPy

_SymFn = Callable[..., sp.Basic]


def _sigmoid(x: sp.Basic) -> sp.Basic:
    return sp.Pow(
        sp.Add(
            sp.Integer(1),
            sp.exp(sp.Mul(sp.Integer(-1), x, evaluate=False), evaluate=False),
            evaluate=False,
        ),
        sp.Integer(-1),
        evaluate=False,
    )


KNOWN_FUNCTIONS: Mapping[str, _SymFn] = {
    "exp": lambda x: sp.exp(x, evaluate=False),
    "log": lambda x: sp.log(x, evaluate=False),
    "ln": lambda x: sp.log(x, evaluate=False),
    "tanh": lambda x: sp.tanh(x, evaluate=False),
    "sinh": lambda x: sp.sinh(x, evaluate=False),
    "cosh": lambda x: sp.cosh(x, evaluate=False),
    "sin": lambda x: sp.sin(x, evaluate=False),
    "cos": lambda x: sp.cos(x, evaluate=False),
    "sqrt": lambda x: sp.Pow(x, sp.Rational(1, 2), evaluate=False),
    "abs": lambda x: sp.Abs(x, evaluate=False),
    "max": lambda *xs: sp.Max(*xs, evaluate=False),
    "min": lambda *xs: sp.Min(*xs, evaluate=False),
    "relu": lambda x: sp.Max(sp.Integer(0), x, evaluate=False),
    "sigmoid": _sigmoid,
    "sigma": _sigmoid,
    "H": lambda x: sp.Heaviside(x),
}
"""Function names :func:`to_sympy` knows by default, each a whitelisted SymPy constructor."""


def _default_name(name: Name) -> sp.Basic:
    return sp.Symbol(name.key, real=True)


def to_sympy(
    node: Expr,
    *,
    names: Callable[[Name], sp.Basic | None] | None = None,
    functions: Mapping[str, _SymFn] | None = None,
) -> sp.Basic:
    """Build a SymPy object from an AST, with whitelisted constructors and evaluation off.

    Parameters
    ----------
    node
        An AST from :func:`parse_plain`, :func:`parse_latex` or :func:`parse`.
    names
        Maps a :class:`Name` to a SymPy object (a ``MatrixSymbol``, a network quantity);
        returning None falls back to ``Symbol(name.key, real=True)``.
    functions
        Function table by base name; defaults to :data:`KNOWN_FUNCTIONS`.

    Returns
    -------
    sympy.Basic
        The expression; an :class:`~sympy.Eq` for an :class:`Equation`.

    Raises
    ------
    ParseError
        For an unknown function (naming it and listing the known ones), a derivative
        with respect to something that is not a symbol, or non-conforming shapes.

    Examples
    --------
    >>> from symprop.parsing import parse_plain
    >>> to_sympy(parse_plain("x*y + z"))
    x*y + z
    >>> to_sympy(parse_plain("foo(x)"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    symprop.core.errors.ParseError: unknown function 'foo'; known: abs, cos, cosh, exp, ...
    """
    table = KNOWN_FUNCTIONS if functions is None else functions
    resolve = names or (lambda _name: None)
    try:
        return _build(node, resolve, table)
    except ParseError:
        raise
    except (sp.ShapeError, ValueError, TypeError) as exc:
        raise ParseError(f"cannot build the expression: {exc}", "", node.pos) from None


def _is_matrix(value: sp.Basic) -> bool:
    return isinstance(value, sp.MatrixBase | sp.MatrixExpr)


def _build(node: Expr, resolve: Callable[[Name], sp.Basic | None], table: Mapping[str, _SymFn]):  # noqa: ANN202, C901
    def go(n: Expr) -> sp.Basic:
        return _build(n, resolve, table)

    if isinstance(node, Number):
        return sp.Rational(node.value.numerator, node.value.denominator)
    if isinstance(node, Name):
        value = resolve(node)
        return _default_name(node) if value is None else value
    if isinstance(node, Neg):
        inner = go(node.operand)
        if _is_matrix(inner):
            return sp.MatMul(sp.Integer(-1), inner) if isinstance(inner, sp.MatrixExpr) else -inner
        return sp.Mul(sp.Integer(-1), inner, evaluate=False)
    if isinstance(node, BinOp):
        left, right = go(node.left), go(node.right)
        return _binop(node, left, right)
    if isinstance(node, Transpose):
        inner = go(node.operand)
        return sp.Transpose(inner) if _is_matrix(inner) else inner
    if isinstance(node, Call):
        if (
            node.juxtaposed
            and node.func.base not in table
            and not node.func.primes
            and len(node.args) == 1
        ):
            # a_j (1 - a_j): a name that is no function, before a bracket, is a factor.
            return _binop(
                BinOp("mul", node.func, node.args[0], pos=node.pos), go(node.func), go(node.args[0])
            )
        return _call(node, [go(a) for a in node.args], table)
    if isinstance(node, Norm):
        inner = go(node.operand)
        if _is_matrix(inner):
            return Norm2(inner)
        return sp.Abs(inner, evaluate=False)
    if isinstance(node, IndexSum):
        index = sp.Symbol(node.index, integer=True)
        lower = sp.Integer(1) if node.lower is None else go(node.lower)
        upper = (
            sp.Symbol(f"n_{node.index}", integer=True, positive=True)
            if node.upper is None
            else go(node.upper)
        )
        return sp.Sum(go(node.body), (index, lower, upper))
    if isinstance(node, Derivative):
        num, den = go(node.num), go(node.den)
        if not isinstance(den, sp.Symbol | sp.Indexed | sp.MatrixSymbol):
            raise ParseError(
                "a derivative must be taken with respect to a symbol", "", node.den.pos
            )
        return sp.Derivative(num, den, evaluate=False)
    if isinstance(node, Equation):
        return sp.Eq(go(node.lhs), go(node.rhs), evaluate=False)
    if isinstance(node, Relation):
        return _RELATIONS[node.op](go(node.left), go(node.right), evaluate=False)
    if isinstance(node, Piecewise):
        pieces = [(go(value), sp.true if cond is None else go(cond)) for value, cond in node.cases]
        return sp.Piecewise(*pieces, evaluate=False)
    if isinstance(node, Indicator):
        return sp.Piecewise((sp.Integer(1), go(node.condition)), (sp.Integer(0), sp.true))
    # A limit, a gradient's chain of links, ...: meaningful only to the claim checker.
    raise ParseError(
        f"{_NODE_TEXT.get(type(node).__name__, type(node).__name__)} cannot be "
        "built as a single expression here",
        "",
        node.pos,
    )


_RELATIONS = {
    "lt": sp.StrictLessThan,
    "le": sp.LessThan,
    "gt": sp.StrictGreaterThan,
    "ge": sp.GreaterThan,
    "eq": sp.Eq,
    "ne": sp.Ne,
}
_NODE_TEXT = {"Limit": "a limit", "Derivation": "a chain of equations"}


def _binop(node: BinOp, left: sp.Basic, right: sp.Basic) -> sp.Basic:
    op = node.op
    matrix = _is_matrix(left) or _is_matrix(right)
    if not matrix:
        if op == "add":
            return sp.Add(left, right, evaluate=False)
        if op == "sub":
            return sp.Add(left, sp.Mul(sp.Integer(-1), right, evaluate=False), evaluate=False)
        if op in ("mul", "hadamard", "matmul"):
            return sp.Mul(left, right, evaluate=False)
        if op == "div":
            reciprocal = sp.Pow(right, sp.Integer(-1), evaluate=False)
            # 1/x stays a single reciprocal gate rather than 1 times a reciprocal.
            return reciprocal if left == 1 else sp.Mul(left, reciprocal, evaluate=False)
        return sp.Pow(left, right, evaluate=False)
    try:
        return _matrix_binop(node, left, right)
    except sp.ShapeError:
        shapes = " and ".join(
            "x".join(str(d) for d in v.shape) if _is_matrix(v) else "scalar" for v in (left, right)
        )
        raise ParseError(f"shapes do not conform for {op}: {shapes}", "", node.pos) from None


def _matrix_binop(node: BinOp, left: sp.Basic, right: sp.Basic) -> sp.Basic:
    op = node.op
    both = _is_matrix(left) and _is_matrix(right)
    if op == "add" and both:
        return sp.MatAdd(left, right)
    if op == "sub" and both:
        return sp.MatAdd(left, sp.MatMul(sp.Integer(-1), right))
    if op in ("mul", "matmul") and both:
        return sp.MatMul(left, right)
    if op == "hadamard" and both:
        return sp.HadamardProduct(left, right)
    if op in ("mul", "hadamard") and not both:
        return sp.MatMul(left, right)
    if op == "div" and not _is_matrix(right):
        return sp.MatMul(sp.Pow(right, sp.Integer(-1), evaluate=False), left)
    raise ParseError(f"{op} is not defined between these operands", "", node.pos)


def _call(node: Call, args: list[sp.Basic], table: Mapping[str, _SymFn]) -> sp.Basic:
    base = node.func.base
    builder = table.get(base)
    if builder is None:
        known = ", ".join(sorted(table, key=str.lower))
        raise ParseError(f"unknown function {base!r}; known: {known}", "", node.func.pos)
    if node.func.primes:
        if len(args) != 1:
            raise ParseError(f"{base}' takes one argument", "", node.pos)
        # The derivative of a whitelisted one-argument function, taken by SymPy.
        dummy = sp.Dummy("t", real=True)
        derivative = sp.diff(builder(dummy), dummy, node.func.primes)
        return derivative.xreplace({dummy: args[0]})
    try:
        return builder(*args)
    except TypeError:
        raise ParseError(f"wrong number of arguments for {base}", "", node.pos) from None


class Norm2(sp.Function):
    """The Euclidean norm of a vector or matrix expression, kept unevaluated for graphs.

    Examples
    --------
    >>> Norm2(sp.ImmutableMatrix([3, 4])).doit()
    5
    """

    nargs = 1

    def doit(self, **hints: object) -> sp.Basic:
        """Evaluate on an explicit matrix as the square root of the sum of squares."""
        (arg,) = self.args
        if hints.get("deep", True):
            arg = arg.doit(**hints)
        if isinstance(arg, sp.MatrixExpr) and not isinstance(arg, sp.MatrixBase):
            arg = arg.as_explicit()
        return sp.sqrt(sum(entry**2 for entry in arg))

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        text = r"\left\|" + printer._print(self.args[0]) + r"\right\|"
        return text if exp is None else f"{text}^{{{exp}}}"
