"""The typed AST of a parsed formula (frozen dataclasses) and the limits every parse obeys.

The AST knows nothing of networks: ``delta^L`` is just a name with base ``delta`` and
superscript ``L``; mapping names to network quantities is the caller's job (see the
``names`` hook of :func:`symprop.parsing.to_sympy`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

# ---------------------------------------------------------------- limits
# Chosen far above any hand-written backprop formula and far below anything that could
# make Lark, SymPy or Python's recursion limit slow or fail.
MAX_LENGTH = 2000
"""Longest accepted input, in characters."""
MAX_NESTING = 64
"""Deepest bracket nesting, checked by a linear scan before parsing."""
MAX_DEPTH = 200
"""Deepest parse tree (long chains such as ``a+b+c+...`` count too)."""
MAX_NODES = 1000
"""Most AST nodes in one formula."""
MAX_EXPONENT = 100
"""Largest magnitude of a constant exponent (``x^{2^{100}}`` is refused, never computed)."""
MAX_LINKS = 32
"""Most equations in one claim (``A = B = C`` has two)."""
MAX_DIGITS = 60  # digits of a numeric literal or of any constant folded while checking

# ---------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Expr:
    """Base class of every AST node; ``pos`` is the 0-based column where it starts."""

    pos: int = field(default=0, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Number(Expr):
    """An exact rational literal (``0.5`` is ``Fraction(1, 2)``, never a float)."""

    value: Fraction
    decimals: int | None = field(default=None, compare=False)
    """How many decimals the literal showed (``0.7311`` -> 4, ``0.50`` -> 2); None for
    integers, fractions and exponent notation (``1e-3``). A numeric claim is judged to this
    precision."""


@dataclass(frozen=True)
class Name(Expr):
    """A symbol as written: base, subscripts, superscripts, primes and decorations.

    ``a^{l-1}_k`` is ``Name("a", sub=("k",), sup=("l-1",))``; ``\\hat{y}`` is
    ``Name("y", decorations=("hat",))``; ``W2`` in plain syntax is ``Name("W", sub=("2",))``.
    """

    base: str
    sub: tuple[str, ...] = ()
    sup: tuple[str, ...] = ()
    primes: int = 0
    decorations: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Only non-default fields, so test failures and docs stay readable.
        parts = [f"base={self.base!r}"]
        for attr in ("sub", "sup", "primes", "decorations"):
            value = getattr(self, attr)
            if value:
                parts.append(f"{attr}={value!r}")
        return f"Name({', '.join(parts)})"

    @property
    def key(self) -> str:
        """Canonical text of the name, e.g. ``a_k^{l-1}'`` or ``hat{y}``; used as a symbol name."""
        text = self.base
        for decoration in reversed(self.decorations):
            text = f"{decoration}{{{text}}}"
        if self.sub:
            joined = ",".join(self.sub)
            text += f"_{joined}" if len(joined) == 1 else f"_{{{joined}}}"
        if self.sup:
            joined = ",".join(self.sup)
            text += f"^{joined}" if len(joined) == 1 else f"^{{{joined}}}"
        return text + "'" * self.primes


BinOpKind = Literal["add", "sub", "mul", "hadamard", "matmul", "div", "pow"]


@dataclass(frozen=True)
class BinOp(Expr):
    """A binary operation.

    ``mul`` is the conventional product (juxtaposition, ``\\cdot``; a matrix product for
    matrices), ``hadamard`` the elementwise one (``\\odot``, plain ``*``; the ordinary
    product for scalars), ``matmul`` an explicit matrix product (``@``).
    """

    op: BinOpKind
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Neg(Expr):
    """Unary minus."""

    operand: Expr


@dataclass(frozen=True)
class Call(Expr):
    """A function applied to arguments; ``func`` carries primes (``\\sigma'(z)``)."""

    func: Name
    args: tuple[Expr, ...]
    juxtaposed: bool = False
    """Written by juxtaposition (``f\\,(1-f)``, ``g (z)``) with a name that is not a known
    function: a call when the setting declares ``f`` a function, a product when it declares
    ``f`` a value; the reader decides from the setting (and reports an undecidable one)."""


@dataclass(frozen=True)
class Transpose(Expr):
    """``x.T``, ``x^T``, ``x^\\top``, ``x^{\\mathsf T}``."""

    operand: Expr


@dataclass(frozen=True)
class IndexSum(Expr):
    """``\\sum_k body`` or ``sum_k(body)``; bounds are optional (``\\sum_{k=1}^{n}``)."""

    index: str
    body: Expr
    lower: Expr | None = None
    upper: Expr | None = None


@dataclass(frozen=True)
class Derivative(Expr):
    """``\\frac{\\partial C}{\\partial w}`` (``partial=True``) or ``dC/dW2`` (``partial=False``)."""

    num: Expr
    den: Expr
    partial: bool = True
    gradient: bool = False
    """Written ``\\nabla_W J``: the gradient of ``num`` with respect to ``den``, shaped like
    ``den`` (the same values as the partial derivative, entry by entry)."""


@dataclass(frozen=True)
class Norm(Expr):
    """The Euclidean norm ``\\|x\\|`` or ``norm(x)``."""

    operand: Expr


RelationKind = Literal["lt", "le", "gt", "ge", "eq", "ne"]


@dataclass(frozen=True)
class Relation(Expr):
    """A condition ``left op right`` (``z > 0``, ``z \\le 0``, ``i = j``, ``i \\neq j``): a case
    of :class:`Piecewise` or the argument of :class:`Indicator`; never a claim."""

    op: RelationKind
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Piecewise(Expr):
    """``\\begin{cases} v_1 & c_1 \\\\ v_2 & \\text{otherwise} \\end{cases}``: value/condition
    pairs in order; the first case whose condition holds applies; ``None`` is "otherwise"."""

    cases: tuple[tuple[Expr, Relation | None], ...]


@dataclass(frozen=True)
class Indicator(Expr):
    """``\\mathbb{1}[z > 0]`` (also ``\\mathbf{1}\\{…\\}``, ``[z > 0]``): 1 where the condition
    holds, else 0. The Heaviside step ``H(z)`` stays a :class:`Call` of ``H``."""

    condition: Relation


@dataclass(frozen=True)
class Limit(Expr):
    """``\\lim_{h \\to 0} body``; only a derivative's definition (a difference quotient) can
    be checked, anything else is refused by the reader with one line."""

    var: Name
    to: Expr
    body: Expr


@dataclass(frozen=True)
class Equation(Expr):
    """``lhs = rhs``; ``text`` is the link's own source text when it is part of a chain."""

    lhs: Expr
    rhs: Expr
    text: str = field(default="", compare=False)


JoinKind = Literal["chain", "implies", "and"]


@dataclass(frozen=True)
class Derivation(Expr):
    """A claim of several equations, checked link by link.

    ``A = B = C`` is the links ``A = B`` and ``B = C`` joined by ``chain``;
    ``A = B \\Rightarrow C = D`` joins two by ``implies``; ``A = B,\\quad C = D`` and the
    rows of an ``aligned`` environment (``&=`` rows continue the previous row's chain) join
    by ``and`` or ``chain``. ``joins[i]`` joins ``links[i]`` to ``links[i + 1]``. A claim of
    one equation is a :class:`Derivation` of one link.
    """

    links: tuple[Equation, ...]
    joins: tuple[JoinKind, ...] = ()


def _children(node: Expr) -> tuple[Expr, ...]:
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Neg | Transpose | Norm):
        return (node.operand,)
    if isinstance(node, Call):
        return (node.func, *node.args)
    if isinstance(node, IndexSum):
        return tuple(n for n in (node.body, node.lower, node.upper) if n is not None)
    if isinstance(node, Derivative):
        return (node.num, node.den)
    if isinstance(node, Equation | Relation):
        return (node.lhs, node.rhs) if isinstance(node, Equation) else (node.left, node.right)
    if isinstance(node, Piecewise):
        return tuple(n for case in node.cases for n in case if n is not None)
    if isinstance(node, Indicator):
        return (node.condition,)
    if isinstance(node, Limit):
        return (node.var, node.to, node.body)
    if isinstance(node, Derivation):
        return node.links
    return ()


def iter_nodes(node: Expr) -> Iterator[Expr]:
    """Yield every node of an AST, parents before children, without recursion.

    Examples
    --------
    >>> from symprop.parsing import parse_plain
    >>> [type(n).__name__ for n in iter_nodes(parse_plain("-x"))]
    ['Neg', 'Name']
    """
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))
