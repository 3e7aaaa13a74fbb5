"""Lark parse trees -> the typed AST: shared callbacks, the plain-syntax transformer, the
internal marker nodes and the pass that removes them (:func:`as_public`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction

from lark import Token, Transformer_NonRecursive, v_args

from symprop.core.errors import ParseError
from symprop.parsing.grammar import LETTER_COMMANDS, SUPERSCRIPT_CHARS, UNICODE_GREEK
from symprop.parsing.tree import (
    MAX_DIGITS,
    MAX_EXPONENT,
    BinOp,
    BinOpKind,
    Call,
    Derivation,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Indicator,
    Limit,
    Name,
    Neg,
    Norm,
    Number,
    Piecewise,
    Relation,
    RelationKind,
    Transpose,
)

FUNCTION_NAMES = frozenset(
    "sigma phi varphi psi exp log ln tanh sinh cosh sin cos max min sigmoid relu softmax "
    "norm diag sqrt H".split()
)
"""Names the grammars read as functions wherever parentheses follow them: ``\\sigma(z)`` is
σ applied to z, ``H(z)`` the Heaviside step. Any other name followed by parentheses
(``f\\,(1-f)``, ``W (x)``) is a :class:`Call` marked ``juxtaposed``: the reader decides from
the setting whether it is a call or a product."""
FUNCTION_LIKE = FUNCTION_NAMES | frozenset("f g h".split())
"""Names whose prime is a derivative even when no argument follows (``f'``, ``\\sigma'``);
a prime on any other name is a transpose (``W'``, Octave's ``a'``)."""

MAX_PRIMES = 4
"""Most primes on one name (a fourth derivative); more is refused, never nested as transposes."""

# ---------------------------------------------------------------- shared helpers


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
    decimals = None
    if exponent is None and "." in mantissa:
        decimals = len(mantissa) - mantissa.index(".") - 1
    return Number(Fraction(text), decimals=decimals, pos=_pos(token))


def _split_plain_name(text: str, pos: int) -> Name:
    primes = len(text) - len(text.rstrip("'"))
    text = text.rstrip("'")
    lead = 1 if text.startswith("∂") else 0
    if text[lead : lead + 1] in UNICODE_GREEK:
        # δ2 reads as delta2 and δ_j as delta_j: the typed letter is the command's name.
        rest = text[lead + 1 :]
        rest = "_" + rest if rest[:1].isalpha() else rest
        text = text[:lead] + UNICODE_GREEK[text[lead]] + rest
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
    return replace(name, base=name.base[1:])


def _with_sub_digits(name: Name) -> Name:
    # dW2 -> W_2 after stripping the d, matching how W2 alone is read.
    if name.sub:
        return name
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", name.base)
    if match:
        return replace(name, base=match.group(1), sub=(match.group(2),))
    return name


def superscript_power(text: str, pos: int) -> Expr | None:
    """The exponent written by Unicode superscript digits (``²``, ``⁻¹``), or None."""
    ascii_text = "".join(SUPERSCRIPT_CHARS[c] for c in text)
    match = re.fullmatch(r"([+-]?)(\d+)", ascii_text)
    if match is None:
        return None
    number = Number(Fraction(int(match.group(2))), pos=pos)
    return Neg(number, pos=pos) if match.group(1) == "-" else number


def superscript_label(text: str) -> str | None:
    """The label written by Unicode superscripts (``⁽²⁾``, ``ᴸ``, ``ˡ⁺¹``), or None."""
    ascii_text = "".join(SUPERSCRIPT_CHARS[c] for c in text)
    inner = ascii_text[1:-1] if ascii_text.startswith("(") and ascii_text.endswith(")") else None
    label = inner if inner is not None else ascii_text
    if re.fullmatch(r"(?:[A-Za-z](?:[+-]\d+)?|\d+)", label) and (
        inner is not None or not label.isdigit()
    ):
        return label
    return None


def primed_name(name: Name) -> Expr:
    """An uncalled name with primes: a derivative symbol for a function name (``f'``), a
    transpose for anything else (``W'``, Octave's ``a'``)."""
    if name.primes > MAX_PRIMES:
        raise ParseError(f"more than {MAX_PRIMES} primes", "", name.pos)
    if not name.primes or name.base in FUNCTION_LIKE:
        return name
    node: Expr = replace(name, primes=0)
    for _ in range(name.primes):
        node = Transpose(node, pos=name.pos)
    return node


_PLAIN_RELATIONS: dict[str, RelationKind] = {
    "<": "lt",
    "<=": "le",
    "≤": "le",
    ">": "gt",
    ">=": "ge",
    "≥": "ge",
    "!=": "ne",
    "~=": "ne",
    "≠": "ne",
    "==": "eq",
}


def is_octave(text: str) -> bool:
    """Whether a plain formula uses Octave's elementwise ``.*`` or ``./``: then ``*`` beside
    them is the matrix product, as in Octave, rather than the elementwise one."""
    return ".*" in text or "./" in text


# ---------------------------------------------------------------- transformers


class Common(Transformer_NonRecursive):
    """Transformer callbacks shared by both grammars."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        # Nodes are remembered by id, and kept alive here: once a node is dropped (the (2) of
        # δ^{(2)} becomes label text), a new node could get its id and be taken for it.
        self.parenthesized: dict[int, object] = {}
        # Calls and products read from "name (expr)", whose postfix marks bind to (expr) only.
        self.juxtaposed: dict[int, object] = {}

    def error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, self.text, pos)

    @v_args(meta=True)
    def equation(self, meta, children):  # noqa: ANN001, ANN201
        exprs = [c for c in children if not isinstance(c, Token)]
        return Equation(exprs[0], exprs[1], pos=_pos(meta))

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
        if isinstance(num, _Partial) and isinstance(den, _Partial):
            # \partial J / \partial w
            return Derivative(num.operand, den.operand, partial=True, pos=_pos(meta))
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

    def __init__(self, text: str) -> None:
        super().__init__(text)
        # Octave's .* and ./ are elementwise, so beside them * is the matrix product.
        self.octave = is_octave(text)

    mul = Common._bin("mul")  # σ(z)·(1 − σ(z)): a centred dot is the ordinary product

    @v_args(meta=True)
    def star(self, meta, children):  # noqa: ANN001, ANN201
        op: BinOpKind = "mul" if self.octave else "hadamard"
        return BinOp(op, children[0], children[-1], pos=_pos(meta))

    def name(self, children):  # noqa: ANN001, ANN201
        token = children[0]
        return primed_name(_split_plain_name(str(token), _pos(token)))

    @v_args(meta=True)
    def usup(self, meta, children):  # noqa: ANN001, ANN201
        base, token = children[0], children[-1]
        power = superscript_power(str(token), _pos(token))
        if power is None:
            raise self.error("write a label as x_1 or a power as x^2", _pos(token))
        return BinOp("pow", base, power, pos=_pos(meta))

    @v_args(meta=True)
    def iverson(self, meta, children):  # noqa: ANN001, ANN201
        # Octave's (z > 0) is 1 where the comparison holds, else 0: an indicator.
        left, token, right = children
        op = _PLAIN_RELATIONS[str(token)]
        return Indicator(Relation(op, left, right, pos=_pos(meta)), pos=_pos(meta))

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
        if func.base in GREEK_VALUE_LETTERS and not func.primes and len(args) == 1:
            return BinOp("mul", func, args[0], pos=pos)  # lambda (W + b), as in LaTeX
        return Call(func, args, pos=pos)


# ---------------------------------------------------------------- internal markers


@dataclass(frozen=True, repr=False)
class FuncName(Name):
    """A name written as a function command (``\\exp``, ``\\operatorname{relu}``); internal."""


@dataclass(frozen=True)
class Top(Expr):
    """The transpose mark ``\\top`` before it is attached; internal."""


@dataclass(frozen=True)
class _Partial(Expr):
    """``\\partial x`` before the quotient it belongs to is read; internal."""

    operand: Expr | None


@dataclass(frozen=True)
class DerivOp(Expr):
    """The operator ``\\frac{d}{dz}`` or ``\\frac{\\partial}{\\partial w}`` before its operand."""

    den: Expr
    partial: bool


@dataclass(frozen=True)
class PowFunc(Expr):
    """``\\tanh^{2}`` or ``\\sigma^2`` before its argument: a power of the call; internal."""

    func: Name
    exponent: Expr


@dataclass(frozen=True)
class Pending(Expr):
    """``y \\log`` before the operand of ``\\log`` is read (``y \\log h(x)``); internal."""

    left: Expr
    func: Expr


def partial(operand: Expr | None, pos: int) -> _Partial:
    """The marker of ``\\partial x`` (operand None for a bare ``\\partial``)."""
    return _Partial(operand, pos=pos)


def is_partial(node: object) -> bool:
    """Whether ``node`` is a ``\\partial`` marker."""
    return isinstance(node, _Partial)


def partial_operand(node: Expr) -> Expr | None:
    """The operand of a ``\\partial`` marker."""
    assert isinstance(node, _Partial)
    return node.operand


GREEK_FUNCTION_LETTERS = frozenset(
    {"sigma", "phi", "varphi", "psi", "Phi", "Psi", "rho", "theta", "vartheta", "Gamma"}
)
"""Greek letters lecture notes also use as functions (activations σ, φ, ψ, ρ, feature maps Φ,
the step θ(x), Γ): a bracket after one of them is left to the reader to decide."""
GREEK_VALUE_LETTERS = frozenset(LETTER_COMMANDS) - GREEK_FUNCTION_LETTERS - {"ell"}
r"""Greek letters that are values wherever they stand (λ, η, α, δ, ...): ``\lambda (W + b)`` is
a product, never a call of an unknown function λ. ``\ell(y, \hat y)`` is the loss, read as
the notations write it."""


def as_public(node: Expr) -> Expr:  # noqa: C901, PLR0911, PLR0912
    """Replace internal name subclasses and markers by public nodes (structural equality),
    refusing markers that were left without their operand."""
    # Bounded by MAX_DEPTH, checked before this runs.
    if isinstance(node, FuncName):
        return Name(node.base, node.sub, node.sup, node.primes, node.decorations, pos=node.pos)
    if isinstance(node, Name):
        return primed_name(node)
    if isinstance(node, Top):
        raise ParseError("a transpose mark needs an operand", "", node.pos)
    if isinstance(node, _Partial):
        raise ParseError("write a derivative as \\frac{\\partial J}{\\partial w}", "", node.pos)
    if isinstance(node, Pending):
        raise ParseError("a function needs an argument", "", node.func.pos)
    if isinstance(node, DerivOp):
        raise ParseError("a derivative operator needs an operand", "", node.pos)
    if isinstance(node, PowFunc):
        if isinstance(node.func, FuncName):
            raise ParseError(f"\\{node.func.base} needs an argument", "", node.pos)
        return BinOp("pow", as_public(node.func), as_public(node.exponent), pos=node.pos)
    if isinstance(node, BinOp):
        return replace(node, left=as_public(node.left), right=as_public(node.right))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=as_public(node.operand))
    if isinstance(node, Call):
        func = node.func
        public = Name(func.base, func.sub, func.sup, func.primes, func.decorations, pos=func.pos)
        args = tuple(as_public(a) for a in node.args)
        if node.juxtaposed and func.base in GREEK_VALUE_LETTERS and len(args) == 1:
            # 2\lambda (W + b), \eta(\nabla J): a Greek constant times a bracket.
            return BinOp("mul", public, args[0], pos=node.pos)
        return replace(node, func=public, args=args)
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
    if isinstance(node, Relation):
        return replace(node, left=as_public(node.left), right=as_public(node.right))
    if isinstance(node, Piecewise):
        cases = tuple(
            (as_public(value), None if cond is None else as_public(cond))
            for value, cond in node.cases
        )
        return replace(node, cases=cases)  # type: ignore[arg-type]
    if isinstance(node, Indicator):
        return replace(node, condition=as_public(node.condition))
    if isinstance(node, Limit):
        return replace(node, to=as_public(node.to), body=as_public(node.body))
    if isinstance(node, Derivation):
        return replace(node, links=tuple(as_public(link) for link in node.links))
    return node
