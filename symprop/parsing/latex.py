"""The LaTeX transformer: Lark trees of :data:`~symprop.parsing.grammar.LATEX_GRAMMAR` -> the
typed AST, deciding labels vs powers, calls vs juxtaposition, and derivative notations."""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction

from lark import Token, v_args

from symprop.parsing.grammar import DECORATIONS, FUNCTION_WORDS, SUBSCRIPT_CHARS, UNICODE_GREEK
from symprop.parsing.transform import (
    FUNCTION_NAMES,
    MAX_PRIMES,
    Common,
    DerivOp,
    FuncName,
    Pending,
    PowFunc,
    Top,
    is_partial,
    partial,
    partial_operand,
    superscript_label,
    superscript_power,
)
from symprop.parsing.tree import (
    BinOp,
    BinOpKind,
    Call,
    Derivative,
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
    iter_nodes,
)

_RELATIONS: dict[str, RelationKind] = {
    "<": "lt",
    "lt": "lt",
    ">": "gt",
    "gt": "gt",
    "le": "le",
    "leq": "le",
    "leqslant": "le",
    "≤": "le",
    "ge": "ge",
    "geq": "ge",
    "geqslant": "ge",
    "≥": "ge",
    "ne": "ne",
    "neq": "ne",
    "≠": "ne",
    "=": "eq",
}
_KNOWN_WORDS = {word.lower(): word for word in FUNCTION_WORDS}
# Names that are functions only when called like one: f(x)^2 is a power of the call.
_FUNCTION_LETTERS = frozenset("fgh")


def _pos(meta_or_token: object) -> int:
    start = getattr(meta_or_token, "start_pos", None)
    return int(start) if isinstance(start, int) else 0


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


def _leading_d(node: Expr) -> Expr | None:
    if isinstance(node, BinOp) and node.op == "mul":
        if isinstance(node.left, Name) and node.left.key == "d":
            return node.right
    return None


def _is_d(node: Expr) -> bool:
    return isinstance(node, Name) and node.key == "d" and not isinstance(node, FuncName)


class LatexToAST(Common):
    """LaTeX subset: ``\\delta^L = (a^L - y) \\odot \\sigma'(z^L)`` and friends."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        # Derivatives read from an operator (\frac{d}{dz} f g): later juxtaposed factors
        # belong to the operand, as the operator applies to the product that follows it.
        self.operated: dict[int, object] = {}
        # Products whose last factor is such a derivative (\sigma' \frac{d}{dz} f).
        self.operated_tail: dict[int, object] = {}

    # ------------------------------------------------------------ names

    def letter(self, children):  # noqa: ANN001, ANN201
        return Name(str(children[0]), pos=_pos(children[0]))

    def greek(self, children):  # noqa: ANN001, ANN201
        return Name(str(children[0])[1:], pos=_pos(children[0]))

    def ugreek(self, children):  # noqa: ANN001, ANN201
        return Name(UNICODE_GREEK[str(children[0])], pos=_pos(children[0]))

    def funccmd(self, children):  # noqa: ANN001, ANN201
        return FuncName(str(children[0])[1:], pos=_pos(children[0]))

    def funcword(self, children):  # noqa: ANN001, ANN201
        return FuncName(str(children[0]), pos=_pos(children[0]))

    def wordname(self, children):  # noqa: ANN001, ANN201
        word, pos = str(children[1]), _pos(children[0])
        if len(word) == 1:  # \mathrm{e}, \mathrm{d}, \mathrm{W}: an upright letter
            return Name(word, pos=pos)
        # \mathrm{ReLU}, \operatorname{Softmax}: the function of that name.
        return FuncName(_KNOWN_WORDS.get(word.lower(), word), pos=pos)

    def top(self, children):  # noqa: ANN001, ANN201
        return Top(pos=_pos(children[0]))

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

    # ------------------------------------------------------------ scripts

    def script(self, children):  # noqa: ANN001, ANN201
        if len(children) == 1 and isinstance(children[0], tuple):
            return children[0]
        return (children[0],)

    def label_top(self, children):  # noqa: ANN001, ANN201
        # ^{(k-1)\top}: a layer label and a transpose in one superscript.
        return (children[0], Top(pos=_pos(children[1])))

    @v_args(meta=True)
    def subscript(self, meta, children):  # noqa: ANN001, ANN201
        base, items = children[0], children[-1]
        if isinstance(base, Norm) and len(items) == 1:
            # \|x\|_2 and \|W\|_F are the Euclidean (Frobenius) norm the AST means.
            item = items[0]
            if (isinstance(item, Number) and item.value == 2) or (
                isinstance(item, Name) and item.key == "F"
            ):
                return base
            raise self.error("only the 2-norm \\|x\\|_2 (or _F) is read", _pos(meta))
        # \operatorname{softmax}(z)_j is softmax_j(z): the index goes on the function.
        if id(base) in self.juxtaposed:
            # f(x)_j: f_j(x) or f x_j, two readings with different values.
            raise self.error("write f_j(x) for a component or f \\cdot x_j for a product", base.pos)
        base = self._numeric_label(base)
        target = base.func if isinstance(base, Call) else base
        if not isinstance(target, Name) and id(base) in self.parenthesized:
            # (W x)_i: an entry of a computed vector. Declaring the vector names it, and the
            # reader already takes entries of declared names (u_i).
            raise self.error(
                "an entry of a bracketed expression, (W x)_i, is not read: declare the vector "
                "(let u = W x) and write u_i",
                _pos(meta),
            )
        if not isinstance(target, Name):
            raise self.error("only a symbol or a call can carry a subscript", _pos(meta))
        if target.sub:
            raise self.error("double subscript", _pos(meta))
        texts: list[str] = []
        for item in items:
            parts = None if isinstance(item, Top) else _sub_items(item)
            if parts is None:
                raise self.error("a subscript must be an index such as k, 0 or l+1", item.pos)
            texts.extend(parts)
        if isinstance(base, Call) and target is base.func:
            return replace(base, func=replace(target, sub=tuple(texts)))
        return replace(target, sub=tuple(texts))

    def _numeric_label(self, base: Expr) -> Expr:
        """``\\delta^{2}`` before a subscript is the layer label 2, as ``\\delta^{l}`` is.

        Alone, ``a^2`` is a power; with indices after it (``\\delta^2_1``, ``w^3_{k3}``,
        ``W^{1}_{42}``) it is Nielsen's layer-then-unit notation, where numeric labels are as
        common as letters.  A square of an entry is written ``x_i^2`` (subscript first), which
        stays a power.  A bracketed exponent (``x^{(2)}``) is a label already.
        """
        if not (isinstance(base, BinOp) and base.op == "pow"):
            return base
        name, power = base.left, base.right
        if (
            isinstance(name, Name)
            and not isinstance(name, FuncName)
            and id(name) not in self.parenthesized
            and not name.sub
            and not name.sup
            and isinstance(power, Number)
            and id(power) not in self.parenthesized
            and power.decimals is None
            and power.value.denominator == 1
            and power.value >= 0
        ):
            return replace(name, sup=(str(power.value.numerator),))
        return base

    @v_args(meta=True)
    def usub(self, meta, children):  # noqa: ANN001, ANN201
        base, token = children[0], children[-1]
        text = "".join(SUBSCRIPT_CHARS[c] for c in str(token)).strip("()")
        if not isinstance(base, Name) or isinstance(base, FuncName) or base.sub:
            raise self.error("only a symbol can carry a subscript", _pos(meta))
        items = (text,) if re.search(r"[+-]|^\d+$", text) else tuple(re.findall(r"\d+|.", text))
        return replace(base, sub=items)

    @v_args(meta=True)
    def usup(self, meta, children):  # noqa: ANN001, ANN201
        base, token = children[0], children[-1]
        text, pos = str(token), _pos(token)
        power = superscript_power(text, pos)
        if power is not None:
            return self._superscript(base, (power,), _pos(meta))
        label = superscript_label(text)
        if label is None or not isinstance(base, Name) or isinstance(base, FuncName):
            raise self.error("write x² for a power and x⁽²⁾ or x^{(2)} for a label", pos)
        if base.sup:
            raise self.error("double superscript", pos)
        return replace(base, sup=(label,))

    @v_args(meta=True)
    def utranspose(self, meta, children):  # noqa: ANN001, ANN201
        return self._superscript(children[0], (Top(pos=_pos(children[-1])),), _pos(meta))

    @v_args(meta=True)
    def superscript(self, meta, children):  # noqa: ANN001, ANN201
        return self._superscript(children[0], children[-1], _pos(meta))

    def _superscript(self, base: Expr, items: tuple[Expr, ...], pos: int) -> Expr:  # noqa: C901, PLR0911
        if id(base) in self.juxtaposed:
            return self._rebind(base, lambda inner: self._superscript(inner, items, pos), items)
        if len(items) == 2 and isinstance(items[1], Top):
            # ^{(k-1)\top}: label the name, then transpose it.
            return Transpose(self._superscript(base, items[:1], pos), pos=pos)
        if len(items) != 1:
            raise self.error("a superscript holds one expression", pos)
        item = items[0]
        if isinstance(item, Top) or (
            isinstance(item, Name) and item.key == "T" and not isinstance(base, Number)
        ):
            return Transpose(base, pos=pos)
        if isinstance(item, BinOp) and item.op == "mul" and _is_transpose_mark(item.right):
            # ^{(k-1)T}
            return Transpose(self._superscript(base, (item.left,), pos), pos=pos)
        # e^{x} is the exponential function.
        if isinstance(base, Name) and base.key == "e" and not isinstance(base, FuncName):
            return Call(Name("exp", pos=base.pos), (item,), pos=pos)
        is_number = isinstance(item, Number | Neg) and id(item) not in self.parenthesized
        # \tanh^{2}(z), \sigma^2(z): a power of the call, once the argument is known.
        if isinstance(base, Name) and is_number and not base.sup:
            if isinstance(base, FuncName) or base.base in FUNCTION_NAMES:
                return PowFunc(base, item, pos=pos)
        # A name with an index-like superscript is a label (a^L, W^{l+1}, Theta^{(l)});
        # numbers and anything on brackets or calls are powers (x^2, (a-y)^2).
        if isinstance(base, Name) and not isinstance(base, FuncName):
            labels = self._labels(item)
            if labels is not None and not is_number:
                if base.sup and id(base) not in self.parenthesized:
                    raise self.error("double superscript", pos)
                # {\delta^{l}}^{(i)}: a braced labelled name takes a second label.
                return replace(base, sup=(*base.sup, *labels))
        return BinOp("pow", base, item, pos=pos)

    def _labels(self, item: Expr) -> tuple[str, ...] | None:
        """``l``, ``(2)``, ``(2)(i)``, ``[l](i)``: the labels of one superscript, in order."""
        label = _index_text(item)
        if label is not None:
            return (label,)
        if isinstance(item, Call) and id(item) in self.juxtaposed and len(item.args) == 1:
            # [l](i) was read as a juxtaposed call of l on (i).
            left, right = _index_text(item.func), _index_text(item.args[0])
            return None if left is None or right is None else (left, right)
        if (
            isinstance(item, BinOp)
            and item.op == "mul"
            and id(item) in self.juxtaposed
            and id(item.left) in self.parenthesized
        ):
            left, right = self._labels(item.left), _index_text(item.right)
            if left is not None and right is not None:
                return (*left, right)
        return None

    def _rebind(self, node: Expr, mark, items: tuple[Expr, ...]) -> Expr:  # noqa: ANN001
        """A postfix mark after ``name (expr)`` binds to ``(expr)``: ``\\delta^l (a^{l-1})^T``."""
        if isinstance(node, Call):
            transpose = len(items) == 1 and (
                isinstance(items[0], Top) or (isinstance(items[0], Name) and items[0].key == "T")
            )
            if transpose or items == ():
                # A transpose (or prime) of the argument: for an elementwise function both
                # readings agree, so the call keeps its undecided reading.
                call = replace(node, args=(mark(node.args[0]),))
                self.juxtaposed[id(call)] = call
                return call
            if node.func.base in _FUNCTION_LETTERS and not node.func.sub:
                # f(x)^2: the power of the call.
                return BinOp("pow", node, items[0], pos=node.pos)
            # w (a - y)^2: a product, as before juxtaposed calls existed.
            return BinOp("mul", node.func, mark(node.args[0]), pos=node.pos)
        assert isinstance(node, BinOp)
        return BinOp("mul", node.left, mark(node.right), pos=node.pos)

    @v_args(meta=True)
    def prime(self, meta, children):  # noqa: ANN001, ANN201
        base = children[0]
        pos = _pos(meta)
        if id(base) in self.juxtaposed:
            return self._rebind(base, lambda inner: Transpose(inner, pos=pos), ())
        if isinstance(base, Name):
            if base.primes >= MAX_PRIMES:
                raise self.error(f"more than {MAX_PRIMES} primes", pos)
            return replace(base, primes=base.primes + 1)
        # (W^{l+1})': a prime after a bracket is a transpose.
        return Transpose(base, pos=pos)

    # ------------------------------------------------------------ application and products

    @v_args(meta=True)
    def apply(self, meta, children):  # noqa: ANN001, ANN201
        func = children[0]
        args = next(c for c in children[1:] if isinstance(c, tuple))
        pos = _pos(meta)
        if isinstance(func, DerivOp | PowFunc):
            if len(args) != 1:
                raise self.error("one argument expected", pos)
            return self._operate(func, args[0], pos)
        if isinstance(func, Name) and id(func) not in self.parenthesized:
            if isinstance(func, FuncName) or func.primes or func.base in FUNCTION_NAMES:
                return self._call(func, args, pos)
            if len(args) > 1:  # f(x, y) can only be a call
                return self._call(func, args, pos)
        if isinstance(func, Name) and not func.sup and id(func) not in self.parenthesized:
            # f\,(1-f), W (x): a call or a product; the reader decides from the setting.
            call = Call(self._plain(func), args, juxtaposed=True, pos=pos)
            self.juxtaposed[id(call)] = call
            return call
        if len(args) != 1:
            raise self.error("a comma list must follow a function name", pos)
        product = BinOp("mul", func, args[0], pos=pos)
        self.juxtaposed[id(product)] = product
        return product

    @staticmethod
    def _plain(func: Name) -> Name:
        return Name(func.base, func.sub, func.sup, func.primes, func.decorations, pos=func.pos)

    def _call(self, func: Name, args: tuple[Expr, ...], pos: int) -> Expr:
        name = self._plain(func)
        if name.base == "norm" and len(args) == 1 and not name.primes:
            return Norm(args[0], pos=pos)
        return Call(name, args, pos=pos)

    def _operate(self, op: Expr, operand: Expr, pos: int) -> Expr:
        if isinstance(op, DerivOp):
            node = Derivative(operand, op.den, partial=op.partial, pos=op.pos)
            self.operated[id(node)] = node
            return node
        assert isinstance(op, PowFunc)
        return BinOp("pow", self._call(op.func, (operand,), pos), op.exponent, pos=op.pos)

    @v_args(meta=True)
    def mul(self, meta, children):  # noqa: ANN001, ANN201
        left, right = children[0], children[-1]
        pos = _pos(meta)
        if isinstance(left, DerivOp) or (
            isinstance(left, PowFunc) and isinstance(left.func, FuncName)
        ):
            return self._operate(left, right, pos)
        if id(left) in self.operated:
            # \frac{d}{dz} f g: the operator applies to the whole product after it.
            inner = BinOp("mul", left.num, right, pos=left.num.pos)
            node = replace(left, num=inner)
            self.operated[id(node)] = node
            return node
        # \log x, \exp z: a function command followed by an operand applies to it.
        if isinstance(left, FuncName):
            return self._call(left, (right,), pos)
        if id(left) in self.operated_tail:
            # \sigma' \frac{d}{dz} f g: the operator still takes the factors after it.
            node = BinOp("mul", left.left, self.mul(meta, [left.right, right]), pos=left.pos)
            self.operated_tail[id(node)] = node
            return node
        if isinstance(left, Pending):
            # y \log h(x), \sigma' \frac{d}{dz} z: the operator waited for its operand.
            applied = self.mul(meta, [left.func, right])
            node = BinOp("mul", left.left, applied, pos=left.pos)
            if id(applied) in self.operated:
                self.operated_tail[id(node)] = node
            return node
        if isinstance(right, FuncName | DerivOp) or (
            isinstance(right, PowFunc) and isinstance(right.func, FuncName)
        ):
            return Pending(left, right, pos=pos)
        return _absorb(left, right, "mul", pos)

    @v_args(meta=True)
    def hadamard(self, meta, children):  # noqa: ANN001, ANN201
        operands = [c for c in children if not isinstance(c, Token)]
        return _absorb(operands[0], operands[-1], "hadamard", _pos(meta))

    # ------------------------------------------------------------ derivatives

    @v_args(meta=True)
    def frac(self, meta, children):  # noqa: ANN001, ANN201
        num, den = [c for c in children if not isinstance(c, Token)]
        pos = _pos(meta)
        if is_partial(num) and is_partial(den):
            if partial_operand(den) is None:
                raise self.error("\\partial in a denominator needs a variable", den.pos)
            if partial_operand(num) is None:  # \frac{\partial}{\partial w} J
                return DerivOp(partial_operand(den), partial=True, pos=pos)
            return Derivative(partial_operand(num), partial_operand(den), partial=True, pos=pos)
        if _is_d(num) and _leading_d(den) is not None:  # \frac{d}{dz} \sigma(z)
            return DerivOp(_leading_d(den), partial=False, pos=pos)
        # \frac{dC}{dx}: a leading letter d on both sides marks a total derivative.
        if _leading_d(num) is not None and _leading_d(den) is not None:
            return Derivative(_leading_d(num), _leading_d(den), partial=False, pos=pos)
        if is_partial(num) or is_partial(den):
            raise self.error("write a derivative as \\frac{\\partial J}{\\partial w}", pos)
        return BinOp("div", num, den, pos=pos)

    @v_args(meta=True)
    def partial_of(self, meta, children):  # noqa: ANN001, ANN201
        return partial(children[-1], _pos(meta))

    @v_args(meta=True)
    def partial_bare(self, meta, children):  # noqa: ANN001, ANN201
        return partial(None, _pos(meta))

    @v_args(meta=True)
    def partial_sub(self, meta, children):  # noqa: ANN001, ANN201
        # \partial_w J
        items, operand = [c for c in children if not isinstance(c, Token)]
        if len(items) != 1 or isinstance(items[0], Top):
            raise self.error("\\partial_w takes one variable", _pos(meta))
        return Derivative(operand, items[0], partial=True, pos=_pos(meta))

    @v_args(meta=True)
    def nabla(self, meta, children):  # noqa: ANN001, ANN201
        # \nabla_{W^{(l)}} J: the gradient of J with respect to W^{(l)}.
        items, operand = [c for c in children if not isinstance(c, Token)]
        if len(items) != 1 or isinstance(items[0], Top):
            raise self.error("\\nabla_W takes one variable", _pos(meta))
        return Derivative(operand, items[0], partial=True, gradient=True, pos=_pos(meta))

    @v_args(meta=True)
    def limit(self, meta, children):  # noqa: ANN001, ANN201
        var, to, body = [c for c in children if not isinstance(c, Token)]
        if not isinstance(var, Name) or isinstance(var, FuncName):
            raise self.error("a limit's variable must be one symbol, e.g. h", var.pos)
        return Limit(var, to, body, pos=_pos(meta))

    # ------------------------------------------------------------ other constructs

    def underbrace(self, children):  # noqa: ANN001, ANN201
        # \underbrace{a}_{\text{note}}: the note is a comment on a.
        return next(c for c in children if isinstance(c, Expr))

    @v_args(meta=True)
    def sqrt(self, meta, children):  # noqa: ANN001, ANN201
        return Call(Name("sqrt", pos=_pos(meta)), (children[-1],), pos=_pos(meta))

    @v_args(meta=True)
    def norm(self, meta, children):  # noqa: ANN001, ANN201
        return Norm(children[1], pos=_pos(meta))

    @v_args(meta=True)
    def relation(self, meta, children):  # noqa: ANN001, ANN201
        exprs = [c for c in children if not isinstance(c, Token)]
        ops = [str(c).lstrip("\\") for c in children if isinstance(c, Token)]
        op = _RELATIONS[ops[0]] if ops else "eq"
        return Relation(op, exprs[0], exprs[1], pos=_pos(meta))

    @v_args(meta=True)
    def indicator(self, meta, children):  # noqa: ANN001, ANN201
        (condition,) = [c for c in children if isinstance(c, Relation)]
        return Indicator(condition, pos=_pos(meta))

    def otherwise(self, children):  # noqa: ANN001, ANN201
        return _OTHERWISE

    def case_row(self, children):  # noqa: ANN001, ANN201
        value, condition = [c for c in children if not isinstance(c, Token)]
        return (value, None if condition is _OTHERWISE else condition)

    @v_args(meta=True)
    def cases(self, meta, children):  # noqa: ANN001, ANN201
        rows = tuple(c for c in children if isinstance(c, tuple))
        for index, (_, condition) in enumerate(rows):
            if condition is None and index != len(rows) - 1:
                raise self.error("'otherwise' must be the last case", _pos(meta))
        return Piecewise(rows, pos=_pos(meta))

    def index_pair(self, children):  # noqa: ANN001, ANN201
        return _IndexPair(tuple(children))

    def condition(self, children):  # noqa: ANN001, ANN201
        # \text{if } z > 0
        return next(c for c in children if isinstance(c, Relation))

    @v_args(meta=True)
    def limits(self, meta, children):  # noqa: ANN001, ANN201
        items = [c for c in children if not isinstance(c, Token)]
        relop = [str(c).lstrip("\\") for c in children if isinstance(c, Token)]
        upper = None
        if isinstance(items[-1], tuple) and not isinstance(items[-1], _IndexPair):
            script = items.pop()
            if len(script) != 1 or isinstance(script[0], Top):
                raise self.error("a sum's upper limit is one expression", _pos(meta))
            upper = script[0]
        index_nodes = list(items[0]) if isinstance(items[0], _IndexPair) else items[:1]
        lower = items[1] if len(items) == 2 else None
        if relop:
            # \sum_{j \neq 0}: indices count from 0 or 1, so j ≠ 0 is j ≥ 1 (and so are
            # j > 0 and j \ge 1); any other condition is refused.
            kind = _RELATIONS.get(relop[0])
            value = lower.value if isinstance(lower, Number) else None
            if (kind, value) not in (("ne", 0), ("gt", 0), ("ge", 1)):
                raise self.error(
                    "a sum's condition must be k \\neq 0, k > 0 or k \\ge 1", _pos(meta)
                )
            lower = Number(Fraction(1), pos=lower.pos)
        if len(index_nodes) == 1 and not isinstance(index_nodes[0], Name):
            # \sum_{ki}: two letters are two indices, as in a subscript.
            index_nodes = list(_letters(index_nodes[0]) or index_nodes)
        indices = [_index_text(n) if isinstance(n, Name) else None for n in index_nodes]
        if any(index is None for index in indices):
            raise self.error("a sum needs an index name, e.g. \\sum_k", _pos(meta))
        return (tuple(indices), lower, upper)

    @v_args(meta=True)
    def bigsum(self, meta, children):  # noqa: ANN001, ANN201
        indices, lower, upper = children[1]
        body = children[2]
        # \sum_{i,j} x is \sum_i \sum_j x.
        for index in reversed(indices[1:]):
            body = IndexSum(index, body, pos=_pos(meta))
        return IndexSum(indices[0], body, lower, upper, pos=_pos(meta))

    def transform(self, tree):  # noqa: ANN001, ANN201
        result = super().transform(tree)
        if isinstance(result, FuncName):
            raise self.error(f"\\{result.base} needs an argument", result.pos)
        if isinstance(result, Top):
            raise self.error("a transpose mark needs an operand", result.pos)
        return result


def _uses_index(node: Expr, index: str) -> bool:
    return any(isinstance(n, Name) and (n.key == index or index in n.sub) for n in iter_nodes(node))


def _wants(left: Expr, right: Expr) -> bool:
    """Whether ``left`` ends in a sum whose index ``right`` uses."""
    if isinstance(left, IndexSum):
        return _uses_index(right, left.index)
    return isinstance(left, BinOp) and left.op in ("mul", "hadamard") and _wants(left.right, right)


def _absorb(left: Expr, right: Expr, op: BinOpKind, pos: int) -> Expr:
    """``\\sum_k \\delta_k \\cdot w_{kj}``: a factor after a sum that uses the sum's index is
    inside the sum (read outside, k would be unbound). A factor without the index stays
    outside, which has the same value."""
    if isinstance(left, IndexSum) and _uses_index(right, left.index):
        return replace(left, body=_absorb(left.body, right, op, pos))
    if isinstance(left, BinOp) and left.op in ("mul", "hadamard") and _wants(left.right, right):
        return BinOp(left.op, left.left, _absorb(left.right, right, op, pos), pos=left.pos)
    return BinOp(op, left, right, pos=pos)


def _letters(node: Expr) -> list[Name] | None:
    if isinstance(node, Name):
        return [node]
    if isinstance(node, BinOp) and node.op == "mul":
        left, right = _letters(node.left), _letters(node.right)
        return None if left is None or right is None else left + right
    return None


def _is_transpose_mark(node: Expr) -> bool:
    return isinstance(node, Top) or (isinstance(node, Name) and node.key == "T")


_OTHERWISE = object()


class _IndexPair(tuple):
    """The indices of ``\\sum_{i,j}``; internal."""
