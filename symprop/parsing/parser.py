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
from fractions import Fraction
from typing import Literal

import lark

from symprop.core.errors import ParseError
from symprop.parsing.grammar import (
    LATEX_GRAMMAR,
    PLAIN_GRAMMAR,
    check_text,
    lark_parser,
    tree_depth_and_size,
)
from symprop.parsing.latex import LatexToAST
from symprop.parsing.transform import Common, PlainToAST, as_public, is_octave
from symprop.parsing.tree import (
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_EXPONENT,
    MAX_NODES,
    BinOp,
    Expr,
    Neg,
    Number,
    iter_nodes,
)

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
    return max(value.numerator.bit_length(), value.denominator.bit_length()) > 3.33 * MAX_DIGITS


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


def _run(
    text: str,
    grammar: str,
    transformer_class: type[Common],
    latex: bool,
    context: str | None = None,
) -> Expr:
    prepared = check_text(text, latex=latex)
    try:
        tree = lark_parser(grammar).parse(prepared)
    except lark.exceptions.UnexpectedInput as exc:
        raise _translate(exc, text) from None
    depth, size = tree_depth_and_size(tree)
    if depth > MAX_DEPTH:
        raise ParseError(f"formula nests more than {MAX_DEPTH} operations deep", text, 0)
    if size > 3 * MAX_NODES:
        raise ParseError(f"formula has more than {MAX_NODES} parts", text, 0)
    transformer = transformer_class(text)
    if context is not None and isinstance(transformer, PlainToAST):
        transformer.octave = is_octave(context)
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
    node = as_public(node)
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
    environment = re.match(r"\\begin\s*\{\s*([A-Za-z]+\*?)\s*\}", text[position:])
    if environment:
        # Matrices written out are not formulas: their numbers are declared as values.
        name = environment.group(1)
        return ParseError(f"unsupported LaTeX environment {name}", text, position)
    command = re.match(r"\\[A-Za-z]+", text[position:])
    if command:
        return ParseError(f"unsupported LaTeX command {command.group()}", text, position)
    return ParseError(f"unexpected character {text[position]!r}", text, position)


def parse_plain(text: str, *, context: str | None = None) -> Expr:
    """Parse plain math syntax (``x*y + z``, ``dC/dW2 = delta2 @ a1.T``) into an AST.

    Parameters
    ----------
    text
        The formula. ``*`` is elementwise (the ordinary product for scalars), ``@`` the
        matrix product, ``**`` and ``^`` powers, ``.T`` transpose, ``sum_k(...)`` an
        index sum, ``norm(v)`` the Euclidean norm, ``dC/dW2`` a derivative; trailing
        digits of a name are a subscript (``W2`` is ``W_2``). Octave's ``.*`` and ``./``
        are elementwise and ``'`` after a bracket or a name that is not a function a
        transpose (``W'``); beside ``.*`` or ``./``, ``*`` is the matrix product, as in
        Octave. Greek letters typed directly (``δ2``), ``ᵀ``, ``⊙``, ``∘``, ``·``, ``×``,
        ``−`` and superscript digits (``x²``) are read as their ASCII spellings.
    context
        The whole claim this formula is a part of, when it is one side of a chain: the
        Octave reading of ``*`` is decided on it.

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
    Derivative(num=Name(base='C'), den=Name(base='W', sub=('2',)), partial=False, gradient=False)
    """
    return _run(text, PLAIN_GRAMMAR, PlainToAST, latex=False, context=context)


def parse_latex(text: str) -> Expr:
    """Parse a LaTeX formula as people write backprop into an AST.

    Parameters
    ----------
    text
        The formula, without ``$`` delimiters. Letters are single symbols and
        juxtaposition multiplies; ``^`` on a name is a label unless the exponent is a
        number (``a^L`` is a name, ``x^2`` a power, ``e^{x}`` the exponential,
        ``W^T`` a transpose); known functions (``\\sigma``, ``\\phi``, ``\\exp``,
        ``H``, ``\\operatorname{diag}``, ...) followed by parentheses are applied, and
        any other name before parentheses (``f\\,(1-f)``, ``W (x)``) gives a
        :class:`Call` marked ``juxtaposed`` for the reader to decide (a name with a layer
        label, ``\\delta^l (a^{l-1})^T``, multiplies). Also read: ``\\nabla_W J``,
        ``\\partial_w J``, ``\\partial J / \\partial w`` and the operator forms
        ``\\frac{d}{dz}``, ``\\frac{\\partial}{\\partial w}`` (derivatives); ``\\frac12``,
        ``\\tfrac``, ``\\dfrac``, ``\\cfrac``; ``\\begin{cases}`` (:class:`Piecewise`);
        ``\\mathbb{1}[z>0]``, ``\\mathbf{1}\\{z>0\\}``, ``\\mathbb{1}_{z>0}`` and Iverson's
        ``[z > 0]`` (:class:`Indicator`); ``\\tanh^{2}(z)``, ``\\sigma^2(z)`` (powers of the
        call); ``\\lim_{h \\to 0}`` (:class:`Limit`); ``W'``, ``(W)'``, ``^\\top``,
        ``^{(k-1)T}`` (transposes; a prime on a function name is a derivative);
        ``x^{(i)}``, ``a^{(2)(i)}``, ``{\\delta^l}^{(i)}`` (every superscript group in
        ``Name.sup``, in order, without its brackets); ``\\sum_{k=1}^{n}``,
        ``\\sum_{j \\neq 0}`` (from 1), ``\\sum_{i,j}``; ``*``, ``\\odot``, ``\\circ``
        (elementwise) and ``\\cdot``, ``\\times`` (the product); and Unicode typed directly
        (Greek letters, ``ᵀ ⊙ ∘ · × − ′ ≤ ≥ ≠ √ ∑ ∇ ∂``, ``x²`` a power as ``x^2`` is, also
        ``a¹``; ``a⁽¹⁾`` and ``δᴸ`` labels; ``x₁`` a subscript).

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
    return _run(text, LATEX_GRAMMAR, LatexToAST, latex=True)


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
