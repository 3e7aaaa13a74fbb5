"""Lark parse trees -> the typed AST, one transformer per grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction

from lark import Token, Transformer_NonRecursive, v_args

from symprop.core.errors import ParseError
from symprop.parsing.grammar import DECORATIONS, LETTER_COMMANDS
from symprop.parsing.tree import (
    MAX_DIGITS,
    MAX_EXPONENT,
    BinOp,
    BinOpKind,
    Call,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Name,
    Neg,
    Norm,
    Number,
    Transpose,
)

# ---------------------------------------------------------------- tree -> AST


def _pos(meta_or_token: object) -> int:
    start = getattr(meta_or_token, "start_pos", None)
    return int(start) if isinstance(start, int) else 0


def _number(token: Token) -> Number:
    text = str(token)
    mantissa = re.split(r"[eE]", text)[0]
    if len(mantissa.replace(".", "")) > MAX_DIGITS:
        raise ParseError(f"number has more than {MAX_DIGITS} digits", "", _pos(token))
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
        and node.base not in LETTER_COMMANDS
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


class Common(Transformer_NonRecursive):
    """Transformer callbacks shared by both grammars."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        # Nodes are remembered by id, and kept alive here: once a node is dropped (the (2) of
        # δ^{(2)} becomes label text), a new node could get its id and be taken for it.
        self.parenthesized: dict[int, object] = {}
        # Products read from "name (expr)", whose postfix marks bind to (expr) only.
        self.juxtaposed: dict[int, object] = {}

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
        self.parenthesized[id(inner)] = inner
        return inner

    def args(self, children):  # noqa: ANN001, ANN201
        return tuple(children)

    @v_args(meta=True)
    def transpose(self, meta, children):  # noqa: ANN001, ANN201
        return Transpose(children[0], pos=_pos(meta))

    @v_args(meta=True)
    def pow(self, meta, children):  # noqa: ANN001, ANN201
        return BinOp("pow", children[0], children[-1], pos=_pos(meta))


class PlainToAST(Common):
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


class LatexToAST(Common):
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
        decoration = DECORATIONS[command]
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
        self.juxtaposed[id(product)] = product
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


def as_public(node: Expr) -> Expr:
    """Replace internal name subclasses by :class:`Name` so equality is structural."""
    # Bounded by MAX_DEPTH, checked before this runs.
    if isinstance(node, _FuncName):
        return Name(node.base, node.sub, node.sup, node.primes, node.decorations, pos=node.pos)
    if isinstance(node, _Top):
        raise ParseError("a transpose mark needs an operand", "", node.pos)
    if isinstance(node, BinOp):
        return replace(node, left=as_public(node.left), right=as_public(node.right))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=as_public(node.operand))
    if isinstance(node, Call):
        return replace(node, func=as_public(node.func), args=tuple(as_public(a) for a in node.args))
    if isinstance(node, IndexSum):
        return replace(
            node,
            body=as_public(node.body),
            lower=None if node.lower is None else as_public(node.lower),
            upper=None if node.upper is None else as_public(node.upper),
        )
    if isinstance(node, Derivative):
        return replace(node, num=as_public(node.num), den=as_public(node.den))
    if isinstance(node, Equation):
        return replace(node, lhs=as_public(node.lhs), rhs=as_public(node.rhs))
    return node
