"""Safe parsing of user formulas: plain math syntax and a LaTeX subset into one typed AST.

User text is never evaluated as Python: two Lark LALR grammars turn it into frozen
dataclasses (:class:`Number`, :class:`Name`, :class:`BinOp`, ...), and :func:`to_sympy`
builds SymPy objects from that AST with a whitelist of constructors and evaluation off.
Every call is bounded: the text length, bracket nesting (checked by a linear scan before
Lark runs), tree depth, node count, number size and constant exponents are limited, and
every failure is a :class:`~symprop.core.errors.ParseError` carrying the column of the problem.

The AST knows nothing of networks: ``delta^L`` is just a name with base ``delta`` and
superscript ``L``; mapping names to network quantities is the caller's job (see the
``names`` hook of :func:`to_sympy`).

Examples
--------
>>> parse_plain("x*y + z")
BinOp(op='add', left=BinOp(op='hadamard', left=Name(base='x'), right=Name(base='y')), \
right=Name(base='z'))
>>> parse_latex(r"\\hat{y}_k").key
'hat{y}_k'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import Literal

import lark
import sympy as sp
from lark import Token, Transformer_NonRecursive, v_args

from symprop.core.errors import ParseError

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_NODES",
    "KNOWN_FUNCTIONS",
    "BinOp",
    "Call",
    "Derivative",
    "Equation",
    "Expr",
    "IndexSum",
    "Name",
    "Neg",
    "Norm",
    "Number",
    "Transpose",
    "iter_nodes",
    "parse",
    "parse_latex",
    "parse_plain",
    "to_sympy",
]

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
_MAX_DIGITS = 60  # digits of a numeric literal or of any constant folded while checking

# ---------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Expr:
    """Base class of every AST node; ``pos`` is the 0-based column where it starts."""

    pos: int = field(default=0, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Number(Expr):
    """An exact rational literal (``0.5`` is ``Fraction(1, 2)``, never a float)."""

    value: Fraction


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


@dataclass(frozen=True)
class Norm(Expr):
    """The Euclidean norm ``\\|x\\|`` or ``norm(x)``."""

    operand: Expr


@dataclass(frozen=True)
class Equation(Expr):
    """``lhs = rhs``."""

    lhs: Expr
    rhs: Expr


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
    if isinstance(node, Equation):
        return (node.lhs, node.rhs)
    return ()


def iter_nodes(node: Expr) -> Iterator[Expr]:
    """Yield every node of an AST, parents before children, without recursion.

    Examples
    --------
    >>> [type(n).__name__ for n in iter_nodes(parse_plain("-x"))]
    ['Neg', 'Name']
    """
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


# ---------------------------------------------------------------- grammars

_PLAIN_GRAMMAR = r"""
?start: expr | equation
equation: expr "=" expr

?expr: product
    | expr "+" product -> add
    | expr "-" product -> sub
?product: unary
    | product "*" unary -> hadamard
    | product ODOT unary -> hadamard
    | product "/" unary -> div
    | product "@" unary -> matmul
?unary: power
    | "-" unary -> neg
    | "+" unary -> pos
?power: postfix
    | postfix POWOP unary -> pow
?postfix: atom
    | postfix TRANSPOSE -> transpose
?atom: NUMBER -> number
    | NAME -> name
    | NAME "(" args ")" -> call
    | "(" expr ")" -> group
args: expr ("," expr)*

POWOP: "**" | "^"
ODOT: "⊙" | ".*"
TRANSPOSE: /\.T(?![A-Za-z0-9_])/
NAME: /∂?[A-Za-z][A-Za-z0-9_]*'*/
NUMBER: /(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
%ignore /\s+/
"""

_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi "
    "Sigma Upsilon Phi Psi Omega"
).split()
_LATEX_FUNCTION_COMMANDS = "exp log ln tanh sinh cosh sin cos max min".split()
_DECORATIONS = {
    "hat": "hat",
    "widehat": "hat",
    "bar": "bar",
    "overline": "bar",
    "tilde": "tilde",
    "widetilde": "tilde",
    "vec": "",
    "mathbf": "",
    "boldsymbol": "",
    "bm": "",
    "mathit": "",
}

_LATEX_GRAMMAR = rf"""
?start: expr | equation
equation: expr "=" expr

?expr: signed
    | expr "+" signed -> add
    | expr "-" signed -> sub
?signed: product
    | "-" signed -> neg
    | "+" signed -> pos
?product: jux
    | product MULOP sjux -> mul
    | product ODOT sjux -> hadamard
    | product "/" sjux -> div
?sjux: jux
    | "-" sjux -> neg
?jux: scripted
    | bigsum
    | jux scripted -> mul
    | jux bigsum -> mul
bigsum: SUM limits jux
limits: "_" script_token
    | "_" "{{" expr "}}"
    | "_" "{{" expr "=" expr "}}"
    | "_" script_token "^" script
    | "_" "{{" expr "}}" "^" script
    | "_" "{{" expr "=" expr "}}" "^" script
?scripted: primary
    | scripted "_" script -> subscript
    | scripted "^" script -> superscript
    | scripted PRIME -> prime
    | scripted "(" args ")" -> apply
    | scripted LBRACE_ESC args RBRACE_ESC -> apply
script: script_token | "{{" args "}}" | "{{" script_top "}}"
?script_top: TOP -> top
?script_token: NUMBER -> number
    | LETTER -> letter
    | GREEK -> greek
    | TOP -> top
?primary: NUMBER -> number
    | LETTER -> letter
    | GREEK -> greek
    | FUNCCMD -> funccmd
    | FUNCWORD -> funcword
    | NAMECMD "{{" WORD "}}" -> wordname
    | DECOR "{{" expr "}}" -> decorated
    | DECOR LETTER -> decorated
    | DECOR GREEK -> decorated
    | "(" expr ")" -> group
    | "[" expr "]" -> group
    | "{{" expr "}}" -> group
    | FRAC "{{" expr "}}" "{{" expr "}}" -> frac
    | FRAC "{{" PARTIAL expr "}}" "{{" PARTIAL expr "}}" -> partial_frac
    | NORM_OPEN expr NORM_CLOSE -> norm
args: expr ("," expr)*

SUM: /\\sum(?![A-Za-z])/
FRAC: /\\[dt]?frac(?![A-Za-z])/
PARTIAL: /\\partial(?![A-Za-z])/ | "∂"
MULOP: /\\(cdot|times|ast)(?![A-Za-z])/ | "*" | "·" | "×"
ODOT: /\\odot(?![A-Za-z])/ | /\\circ(?![A-Za-z])/ | "⊙"
TOP.3: /\\(top|intercal)(?![A-Za-z])/ | /\\mathsf\s*(\{{\s*T\s*\}}|T)/ | /\\mathrm\s*\{{\s*T\s*\}}/
GREEK.2: /\\({"|".join(_GREEK)})(?![A-Za-z])/
FUNCCMD.2: /\\({"|".join(_LATEX_FUNCTION_COMMANDS)})(?![A-Za-z])/
FUNCWORD.2: /(exp|log|ln|tanh|sigmoid|relu|softmax|max|min|norm)(?=\s*[(\\])/
NAMECMD: /\\(operatorname|text|mathrm|textrm|mathit)(?![A-Za-z])/
DECOR: /\\({"|".join(_DECORATIONS)})(?![A-Za-z])/
WORD: /[A-Za-z][A-Za-z0-9]*/
LETTER: /[A-Za-z]/
NUMBER: /\d+(\.\d+)?/
PRIME: "'"
LBRACE_ESC: "\\{{"
RBRACE_ESC: "\\}}"
NORM_OPEN: "\uE000"
NORM_CLOSE: "\uE001"
%ignore /\s+/
%ignore /\\(left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])/
%ignore /\\[,;:! ]/
%ignore /\\(quad|qquad)(?![A-Za-z])/
%ignore /\{{\s*\}}(?=\s*[\^_])/
"""


@lru_cache(maxsize=2)
def _parser(grammar: str) -> lark.Lark:
    # Built once per grammar: LALR table construction is the only slow step.
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True)


# ---------------------------------------------------------------- pre-parse checks

_OPENERS = "([{\ue000"
_CLOSERS = ")]}\ue001"
# Bars of a norm are the same character on both sides, which LALR cannot pair when
# juxtaposition is allowed; a linear pre-pass turns them into distinct open/close marks
# of the same length so every column reported later still points into the user's text.
_NORM_BAR = re.compile(r"\\\||\\[lr]?Vert(?![A-Za-z])|\|\|")
_ALLOWED = re.compile(r"[\x20-\x7e\t\n\r⊙∂·×]*")


def _check_text(text: str, *, latex: bool) -> str:
    if not isinstance(text, str):
        raise ParseError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(
            f"input is {len(text)} characters long; at most {MAX_LENGTH} are accepted",
            "",
            None,
        )
    allowed = _ALLOWED.match(text)
    assert allowed is not None
    if allowed.end() != len(text):
        bad = text[allowed.end()]
        raise ParseError(f"unsupported character {bad!r}", text, allowed.end())
    if not text.strip():
        raise ParseError("empty formula", text, 0)
    if latex:
        text = _mark_norm_bars(text)
    depth = 0
    for column, char in enumerate(text):
        if char in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise ParseError(
                    f"brackets nested more than {MAX_NESTING} deep", text[:200], column
                )
        elif char in _CLOSERS:
            depth -= 1
    return text


def _mark_norm_bars(text: str) -> str:
    out: list[str] = []
    last = 0
    opening = True
    for match in _NORM_BAR.finditer(text):
        start, end = match.span()
        token = match.group()
        if token.startswith(r"\l"):  # \lVert
            opening = True
        elif token.startswith(r"\r"):  # \rVert
            opening = False
        mark = "\ue000" if opening else "\ue001"
        out.append(text[last:start])
        out.append(mark + " " * (end - start - 1))
        last = end
        opening = not opening
    out.append(text[last:])
    return "".join(out)


def _tree_depth_and_size(tree: lark.Tree) -> tuple[int, int]:
    # Iterative, so a hostile chain like ------x cannot exhaust the Python stack.
    depth = size = 0
    stack: list[tuple[lark.Tree | Token, int]] = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        size += 1
        depth = max(depth, level)
        if isinstance(node, lark.Tree):
            stack.extend((child, level + 1) for child in node.children)
    return depth, size


# ---------------------------------------------------------------- tree -> AST


def _pos(meta_or_token: object) -> int:
    start = getattr(meta_or_token, "start_pos", None)
    return int(start) if isinstance(start, int) else 0


def _number(token: Token) -> Number:
    text = str(token)
    mantissa = re.split(r"[eE]", text)[0]
    if len(mantissa.replace(".", "")) > _MAX_DIGITS:
        raise ParseError(f"number has more than {_MAX_DIGITS} digits", "", _pos(token))
    exponent = re.search(r"[eE]([+-]?\d+)$", text)
    if exponent and abs(int(exponent.group(1))) > MAX_EXPONENT:
        raise ParseError(
            f"number exponent {exponent.group(1)} exceeds {MAX_EXPONENT}", "", _pos(token)
        )
    return Number(Fraction(text), pos=_pos(token))


def _split_plain_name(text: str, pos: int) -> Name:
    primes = len(text) - len(text.rstrip("'"))
    text = text.rstrip("'")
    base, _, sub_text = text.partition("_")
    sub: tuple[str, ...] = ()
    if sub_text:
        if "_" in sub_text:
            sub = tuple(part for part in sub_text.split("_") if part)
        elif sub_text.isalpha() and sub_text.islower() and len(sub_text) <= 3:
            # w_jk: juxtaposed lower-case letters are separate indices, as in LaTeX w_{jk}.
            sub = tuple(sub_text)
        else:
            sub = (sub_text,)
    else:
        match = re.fullmatch(r"([A-Za-z]+?)(\d+)", base)
        if match:  # W2, x0: trailing digits read as a subscript, so W2 == W_2
            base, sub = match.group(1), (match.group(2),)
    if not base:
        raise ParseError("a name must start with a letter", text, pos)
    return Name(base, sub=sub, primes=primes, pos=pos)


def _is_derivative_name(node: Expr) -> bool:
    return (
        isinstance(node, Name)
        and len(node.base) >= 2
        and node.base[0] in "d∂"
        and node.base not in _GREEK
    )


def _strip_d(name: Name) -> Name:
    rest = name.base[1:]
    if rest.startswith("d"):
        rest = rest  # 'ddx' is not a second derivative; keep the rest literally
    return replace(name, base=rest)


def _with_sub_digits(name: Name) -> Name:
    # dW2 -> W_2 after stripping the d, matching how W2 alone is read.
    if name.sub:
        return name
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", name.base)
    if match:
        return replace(name, base=match.group(1), sub=(match.group(2),))
    return name


class _Common(Transformer_NonRecursive):
    """Transformer callbacks shared by both grammars."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.parenthesized: set[int] = set()
        # Products read from "name (expr)", whose postfix marks bind to (expr) only.
        self.juxtaposed: set[int] = set()

    def error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, self.text, pos)

    @v_args(meta=True)
    def equation(self, meta, children):  # noqa: ANN001, ANN201
        return Equation(children[0], children[1], pos=_pos(meta))

    def _bin(op: BinOpKind):  # noqa: N805 - a factory used in the class body
        @v_args(meta=True)
        def method(self, meta, children):  # noqa: ANN001, ANN202
            left, *rest = [c for c in children if not isinstance(c, Token)]
            return BinOp(op, left, rest[-1], pos=_pos(meta))

        return method

    add = _bin("add")
    sub = _bin("sub")
    hadamard = _bin("hadamard")
    matmul = _bin("matmul")

    @v_args(meta=True)
    def div(self, meta, children):  # noqa: ANN001, ANN201
        num, den = children[0], children[-1]
        if _is_derivative_name(num) and _is_derivative_name(den):
            return Derivative(
                _with_sub_digits(_strip_d(num)),
                _with_sub_digits(_strip_d(den)),
                partial=num.base[0] == "∂",
                pos=_pos(meta),
            )
        return BinOp("div", num, den, pos=_pos(meta))

    @v_args(meta=True)
    def neg(self, meta, children):  # noqa: ANN001, ANN201
        return Neg(children[-1], pos=_pos(meta))

    def pos(self, children):  # noqa: ANN001, ANN201
        return children[-1]

    def number(self, children):  # noqa: ANN001, ANN201
        try:
            return _number(children[0])
        except ParseError as exc:
            raise self.error(str(exc).split("\n")[0], _pos(children[0])) from None

    def group(self, children):  # noqa: ANN001, ANN201
        inner = children[0]
        # Remember the parentheses: x^{(2)} is a label, x^{2} a power.
        self.parenthesized.add(id(inner))
        return inner

    def args(self, children):  # noqa: ANN001, ANN201
        return tuple(children)

    @v_args(meta=True)
    def transpose(self, meta, children):  # noqa: ANN001, ANN201
        return Transpose(children[0], pos=_pos(meta))

    @v_args(meta=True)
    def pow(self, meta, children):  # noqa: ANN001, ANN201
        return BinOp("pow", children[0], children[-1], pos=_pos(meta))


class _PlainToAST(_Common):
    """Plain syntax: ``x*y + z``, ``dC/dW2 = delta2 @ a1.T``, ``sum_k(w_kj*d_k)``."""

    def name(self, children):  # noqa: ANN001, ANN201
        token = children[0]
        return _split_plain_name(str(token), _pos(token))

    @v_args(meta=True)
    def call(self, meta, children):  # noqa: ANN001, ANN201
        func = _split_plain_name(str(children[0]), _pos(children[0]))
        args = children[1]
        pos = _pos(meta)
        if func.base == "sum" and not func.primes:
            if len(func.sub) != 1 or len(args) != 1:
                raise self.error("write an index sum as sum_k(expression)", pos)
            return IndexSum(func.sub[0], args[0], pos=pos)
        if func.base == "norm" and not func.sub and not func.primes:
            if len(args) != 1:
                raise self.error("norm takes one argument", pos)
            return Norm(args[0], pos=pos)
        return Call(func, args, pos=pos)


# Function names that, written before a parenthesis in LaTeX, mean application rather than
# a product: W(x) is W times x, \sigma(z) is sigma applied to z.
_LATEX_CALLABLE = frozenset(
    "sigma phi varphi psi exp log ln tanh sinh cosh sin cos max min sigmoid relu softmax "
    "norm f g".split()
)


def _index_text(node: Expr) -> str | None:
    """The compact text of an index expression (``l+1``, ``k``, ``2``), or None."""
    if isinstance(node, Name) and not node.sup and not node.primes and not node.decorations:
        return node.key
    if isinstance(node, Number) and node.value.denominator == 1 and node.value >= 0:
        return str(node.value.numerator)
    if isinstance(node, BinOp) and node.op in ("add", "sub"):
        left, right = _index_text(node.left), _index_text(node.right)
        if left is not None and right is not None:
            return f"{left}{'+' if node.op == 'add' else '-'}{right}"
    return None


def _sub_items(node: Expr) -> tuple[str, ...] | None:
    # _{jk} parses as the product j*k: juxtaposed letters are separate indices.
    if isinstance(node, BinOp) and node.op == "mul":
        left, right = _sub_items(node.left), _sub_items(node.right)
        if left is not None and right is not None:
            return left + right
        return None
    text = _index_text(node)
    return None if text is None else (text,)


class _LatexToAST(_Common):
    """LaTeX subset: ``\\delta^L = (a^L - y) \\odot \\sigma'(z^L)`` and friends."""

    def letter(self, children):  # noqa: ANN001, ANN201
        return Name(str(children[0]), pos=_pos(children[0]))

    def greek(self, children):  # noqa: ANN001, ANN201
        return Name(str(children[0])[1:], pos=_pos(children[0]))

    def funccmd(self, children):  # noqa: ANN001, ANN201
        return _FuncName(str(children[0])[1:], pos=_pos(children[0]))

    def funcword(self, children):  # noqa: ANN001, ANN201
        return _FuncName(str(children[0]), pos=_pos(children[0]))

    def wordname(self, children):  # noqa: ANN001, ANN201
        return _FuncName(str(children[1]), pos=_pos(children[0]))

    def top(self, children):  # noqa: ANN001, ANN201
        return _Top(pos=_pos(children[0]))

    @v_args(meta=True)
    def decorated(self, meta, children):  # noqa: ANN001, ANN201
        command = str(children[0])[1:]
        inner = children[1]
        if isinstance(inner, Token):
            inner = (
                Name(str(inner)[1:], pos=_pos(inner))
                if str(inner).startswith("\\")
                else Name(str(inner), pos=_pos(inner))
            )
        if not isinstance(inner, Name):
            raise self.error(f"\\{command}{{...}} must contain a single symbol", _pos(meta))
        decoration = _DECORATIONS[command]
        if not decoration:
            return inner
        return replace(inner, decorations=(decoration, *inner.decorations))

    def script(self, children):  # noqa: ANN001, ANN201
        if len(children) == 1 and isinstance(children[0], tuple):
            return children[0]
        return (children[0],)

    @v_args(meta=True)
    def subscript(self, meta, children):  # noqa: ANN001, ANN201
        base, items = children[0], children[-1]
        if not isinstance(base, Name) or isinstance(base, _FuncName):
            raise self.error("only a symbol can carry a subscript", _pos(meta))
        if base.sub:
            raise self.error("double subscript", _pos(meta))
        texts: list[str] = []
        for item in items:
            parts = None if isinstance(item, _Top) else _sub_items(item)
            if parts is None:
                raise self.error("a subscript must be an index such as k, 0 or l+1", item.pos)
            texts.extend(parts)
        return replace(base, sub=tuple(texts))

    @v_args(meta=True)
    def superscript(self, meta, children):  # noqa: ANN001, ANN201
        base, items = children[0], children[-1]
        pos = _pos(meta)
        if id(base) in self.juxtaposed:
            # \delta^l (a^{l-1})^T: the grammar read "\delta^l (a^{l-1})" as one applied
            # term; the superscript belongs to the parenthesised factor alone.
            inner = self.superscript(meta, [base.right, items])
            return BinOp("mul", base.left, inner, pos=base.pos)
        if len(items) != 1:
            raise self.error("a superscript holds one expression", pos)
        item = items[0]
        if isinstance(item, _Top) or (
            isinstance(item, Name) and item.key == "T" and not isinstance(base, Number)
        ):
            return Transpose(base, pos=pos)
        # e^{x} is the exponential function.
        if isinstance(base, Name) and base.key == "e" and not isinstance(base, _FuncName):
            return Call(Name("exp", pos=base.pos), (item,), pos=pos)
        # A name with an index-like superscript is a label (a^L, W^{l+1}, Theta^{(l)});
        # numbers and anything on brackets or calls are powers (x^2, (a-y)^2).
        if isinstance(base, Name) and not isinstance(base, _FuncName):
            label = _index_text(item)
            is_number = isinstance(item, Number) and id(item) not in self.parenthesized
            if label is not None and not is_number:
                if base.sup:
                    raise self.error("double superscript", pos)
                return replace(base, sup=(label,))
        return BinOp("pow", base, item, pos=pos)

    @v_args(meta=True)
    def prime(self, meta, children):  # noqa: ANN001, ANN201
        base = children[0]
        if not isinstance(base, Name):
            raise self.error("a prime must follow a function name", _pos(meta))
        return replace(base, primes=base.primes + 1)

    @v_args(meta=True)
    def apply(self, meta, children):  # noqa: ANN001, ANN201
        func = children[0]
        args = next(c for c in children[1:] if isinstance(c, tuple))
        pos = _pos(meta)
        if isinstance(func, Name) and (
            isinstance(func, _FuncName) or func.primes or func.base in _LATEX_CALLABLE
        ):
            return self._call(func, args, pos)
        if len(args) != 1:
            raise self.error("a comma list must follow a function name", pos)
        product = BinOp("mul", func, args[0], pos=pos)
        self.juxtaposed.add(id(product))
        return product

    def _call(self, func: Name, args: tuple[Expr, ...], pos: int) -> Expr:
        name = Name(func.base, func.sub, func.sup, func.primes, func.decorations, pos=func.pos)
        if name.base == "norm" and len(args) == 1 and not name.primes:
            return Norm(args[0], pos=pos)
        return Call(name, args, pos=pos)

    @v_args(meta=True)
    def mul(self, meta, children):  # noqa: ANN001, ANN201
        left, right = children[0], children[-1]
        pos = _pos(meta)
        # \log x, \exp z: a function command followed by an operand applies to it.
        if isinstance(left, _FuncName):
            return self._call(left, (right,), pos)
        if isinstance(right, _FuncName):
            raise self.error(f"\\{right.base} needs an argument", right.pos)
        return BinOp("mul", left, right, pos=pos)

    @v_args(meta=True)
    def frac(self, meta, children):  # noqa: ANN001, ANN201
        num, den = children[1], children[2]
        pos = _pos(meta)
        # \frac{dC}{dx}: a leading letter d on both sides marks a total derivative.
        if _leading_d(num) is not None and _leading_d(den) is not None:
            return Derivative(_leading_d(num), _leading_d(den), partial=False, pos=pos)
        return BinOp("div", num, den, pos=pos)

    @v_args(meta=True)
    def partial_frac(self, meta, children):  # noqa: ANN001, ANN201
        exprs = [c for c in children if isinstance(c, Expr)]
        return Derivative(exprs[0], exprs[1], partial=True, pos=_pos(meta))

    @v_args(meta=True)
    def norm(self, meta, children):  # noqa: ANN001, ANN201
        return Norm(children[1], pos=_pos(meta))

    @v_args(meta=True)
    def limits(self, meta, children):  # noqa: ANN001, ANN201
        items = [c for c in children if not isinstance(c, Token)]
        index_node = items[0]
        lower = upper = None
        if len(items) == 3 or (len(items) == 2 and not isinstance(items[1], tuple)):
            lower = items[1]
        if isinstance(items[-1], tuple):
            (upper,) = items[-1] if len(items[-1]) == 1 else (None,)
            if upper is None:
                raise self.error("a sum's upper limit is one expression", _pos(meta))
        index = _index_text(index_node) if isinstance(index_node, Name) else None
        if index is None:
            raise self.error("a sum needs an index name, e.g. \\sum_k", _pos(meta))
        return (index, lower, upper)

    @v_args(meta=True)
    def bigsum(self, meta, children):  # noqa: ANN001, ANN201
        index, lower, upper = children[1]
        return IndexSum(index, children[2], lower, upper, pos=_pos(meta))

    def transform(self, tree):  # noqa: ANN001, ANN201
        result = super().transform(tree)
        if isinstance(result, _FuncName):
            raise self.error(f"\\{result.base} needs an argument", result.pos)
        if isinstance(result, _Top):
            raise self.error("a transpose mark needs an operand", result.pos)
        return result


@dataclass(frozen=True, repr=False)
class _FuncName(Name):
    """A name written as a function command (``\\exp``, ``\\operatorname{relu}``); internal."""


@dataclass(frozen=True)
class _Top(Expr):
    """The transpose mark ``\\top`` before it is attached; internal."""


def _leading_d(node: Expr) -> Expr | None:
    if isinstance(node, BinOp) and node.op == "mul":
        if isinstance(node.left, Name) and node.left.key == "d":
            return node.right
    return None


def _as_public(node: Expr) -> Expr:
    """Replace internal name subclasses by :class:`Name` so equality is structural."""
    # Bounded by MAX_DEPTH, checked before this runs.
    if isinstance(node, _FuncName):
        return Name(node.base, node.sub, node.sup, node.primes, node.decorations, pos=node.pos)
    if isinstance(node, _Top):
        raise ParseError("a transpose mark needs an operand", "", node.pos)
    if isinstance(node, BinOp):
        return replace(node, left=_as_public(node.left), right=_as_public(node.right))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=_as_public(node.operand))
    if isinstance(node, Call):
        return replace(
            node, func=_as_public(node.func), args=tuple(_as_public(a) for a in node.args)
        )
    if isinstance(node, IndexSum):
        return replace(
            node,
            body=_as_public(node.body),
            lower=None if node.lower is None else _as_public(node.lower),
            upper=None if node.upper is None else _as_public(node.upper),
        )
    if isinstance(node, Derivative):
        return replace(node, num=_as_public(node.num), den=_as_public(node.den))
    if isinstance(node, Equation):
        return replace(node, lhs=_as_public(node.lhs), rhs=_as_public(node.rhs))
    return node


# ---------------------------------------------------------------- bounds on constants


def _check_constants(root: Expr, text: str) -> None:
    """Refuse constant exponents and folded constants that would be huge, without computing them."""
    values: dict[int, Fraction | None] = {}
    # Post-order without recursion: children are evaluated before their parent.
    order = list(iter_nodes(root))
    for node in reversed(order):
        value: Fraction | None = None
        if isinstance(node, Number):
            value = node.value
        elif isinstance(node, Neg):
            inner = values.get(id(node.operand))
            value = None if inner is None else -inner
        elif isinstance(node, BinOp):
            left, right = values.get(id(node.left)), values.get(id(node.right))
            if node.op == "pow" and right is not None:
                if abs(right) > MAX_EXPONENT:
                    raise ParseError(
                        f"exponent {_short(right)} exceeds {MAX_EXPONENT} in magnitude",
                        text,
                        node.right.pos,
                    )
            if left is not None and right is not None:
                value = _fold(node.op, left, right)
        if value is not None and _too_big(value):
            raise ParseError("constant is too large", text, node.pos)
        values[id(node)] = value


def _short(value: Fraction) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."


def _too_big(value: Fraction) -> bool:
    return max(value.numerator.bit_length(), value.denominator.bit_length()) > 3.33 * _MAX_DIGITS


def _fold(op: str, left: Fraction, right: Fraction) -> Fraction | None:
    if op == "add":
        return left + right
    if op == "sub":
        return left - right
    if op in ("mul", "hadamard", "matmul"):
        return left * right
    if op == "div":
        return None if right == 0 else left / right
    if op == "pow" and right.denominator == 1 and not (left == 0 and right < 0):
        # |right| <= MAX_EXPONENT and |left| < 10**60 here, so this stays small.
        return left ** int(right)
    return None


# ---------------------------------------------------------------- public parse functions


def _run(text: str, grammar: str, transformer_class: type[_Common], latex: bool) -> Expr:
    prepared = _check_text(text, latex=latex)
    try:
        tree = _parser(grammar).parse(prepared)
    except lark.exceptions.UnexpectedInput as exc:
        raise _translate(exc, text) from None
    depth, size = _tree_depth_and_size(tree)
    if depth > MAX_DEPTH:
        raise ParseError(f"formula nests more than {MAX_DEPTH} operations deep", text, 0)
    if size > 3 * MAX_NODES:
        raise ParseError(f"formula has more than {MAX_NODES} parts", text, 0)
    transformer = transformer_class(text)
    try:
        node = transformer.transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, ParseError):
            inner = exc.orig_exc
            message = str(inner).split("\n")[0]
            raise ParseError(message, text, inner.position) from None
        raise ParseError(f"could not read formula: {exc.orig_exc}", text, 0) from None
    except ParseError as exc:
        raise ParseError(str(exc).split("\n")[0], text, exc.position) from None
    node = _as_public(node)
    count = sum(1 for _ in iter_nodes(node))
    if count > MAX_NODES:
        raise ParseError(f"formula has more than {MAX_NODES} parts", text, 0)
    _check_constants(node, text)
    return node


def _translate(exc: lark.exceptions.UnexpectedInput, text: str) -> ParseError:
    position = getattr(exc, "pos_in_stream", None)
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        position = token.start_pos if isinstance(token.start_pos, int) else len(text)
        if token.type == "$END":
            return ParseError("formula ends too early", text, len(text))
        shown = text[position : position + 12].split()[0] if text[position:].strip() else ""
        return ParseError(f"unexpected {shown!r}", text, position)
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        return ParseError("formula ends too early", text, len(text))
    if position is None:
        position = 0
    command = re.match(r"\\[A-Za-z]+", text[position:])
    if command:
        return ParseError(f"unsupported LaTeX command {command.group()}", text, position)
    return ParseError(f"unexpected character {text[position]!r}", text, position)


def parse_plain(text: str) -> Expr:
    """Parse plain math syntax (``x*y + z``, ``dC/dW2 = delta2 @ a1.T``) into an AST.

    Parameters
    ----------
    text
        The formula. ``*`` is elementwise (the ordinary product for scalars), ``@`` the
        matrix product, ``**`` and ``^`` powers, ``.T`` transpose, ``sum_k(...)`` an
        index sum, ``norm(v)`` the Euclidean norm, ``dC/dW2`` a derivative; trailing
        digits of a name are a subscript (``W2`` is ``W_2``).

    Returns
    -------
    Expr
        The AST; an :class:`Equation` when the text contains ``=``.

    Raises
    ------
    ParseError
        With the column of the problem, for malformed or oversized input.

    Examples
    --------
    >>> parse_plain("1/(1+exp(-x))").op
    'div'
    >>> parse_plain("dC/dW2")
    Derivative(num=Name(base='C'), den=Name(base='W', sub=('2',)), partial=False)
    """
    return _run(text, _PLAIN_GRAMMAR, _PlainToAST, latex=False)


def parse_latex(text: str) -> Expr:
    """Parse a LaTeX formula as people write backprop into an AST.

    Parameters
    ----------
    text
        The formula, without ``$`` delimiters. Letters are single symbols and
        juxtaposition multiplies; ``^`` on a name is a label unless the exponent is a
        number (``a^L`` is a name, ``x^2`` a power, ``e^{x}`` the exponential,
        ``W^T`` a transpose); known functions (``\\sigma``, ``\\phi``, ``\\exp``, ...)
        followed by parentheses are applied.

    Returns
    -------
    Expr
        The AST; an :class:`Equation` when the text contains ``=``.

    Raises
    ------
    ParseError
        With the column of the problem, for malformed or oversized input.

    Examples
    --------
    >>> parse_latex(r"a^{l-1}_k")
    Name(base='a', sub=('k',), sup=('l-1',))
    >>> parse_latex(r"\\sigma'(z)").func
    Name(base='sigma', primes=1)
    """
    return _run(text, _LATEX_GRAMMAR, _LatexToAST, latex=True)


_LATEX_HINT = re.compile(r"\\[A-Za-z|]|[{}]")


def parse(text: str, syntax: Literal["auto", "plain", "latex"] = "auto") -> Expr:
    """Parse ``text`` as plain syntax or LaTeX (``auto``: LaTeX when it sees ``\\`` or braces).

    Examples
    --------
    >>> parse(r"\\frac{1}{2}") == parse("1/2")
    True
    """
    if syntax == "latex" or (syntax == "auto" and _LATEX_HINT.search(text or "")):
        return parse_latex(text)
    if syntax in ("plain", "auto"):
        return parse_plain(text)
    raise ParseError(f"unknown syntax {syntax!r}; use auto, plain or latex")


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
    raise ParseError(f"cannot build {type(node).__name__}", "", node.pos)


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
        known = ", ".join(sorted(table))
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
