"""The two Lark LALR grammars (plain math syntax and a LaTeX subset) and the linear
pre-parse scan that bounds the text and its bracket nesting before Lark runs."""

from __future__ import annotations

import re
from functools import lru_cache

import lark
from lark import Token

from symprop.core.errors import ParseError
from symprop.parsing.tree import MAX_LENGTH, MAX_NESTING

# ---------------------------------------------------------------- grammars

PLAIN_GRAMMAR = r"""
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

GREEK_LETTERS = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi "
    "Sigma Upsilon Phi Psi Omega"
).split()
LETTER_COMMANDS = (*GREEK_LETTERS, "ell")
"""Commands the LaTeX grammar reads as a letter (``\\delta`` is the name ``delta``); ``\\ell``
is the loss of many lecture notes."""
LATEX_FUNCTION_COMMANDS = "exp log ln tanh sinh cosh sin cos max min".split()
"""Commands the LaTeX grammar reads as a function name (``\\exp``)."""
DECORATIONS = {
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

LATEX_GRAMMAR = rf"""
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
GREEK.2: /\\({"|".join(LETTER_COMMANDS)})(?![A-Za-z])/
FUNCCMD.2: /\\({"|".join(LATEX_FUNCTION_COMMANDS)})(?![A-Za-z])/
FUNCWORD.2: /(exp|log|ln|tanh|sigmoid|relu|softmax|max|min|norm)(?=\s*[(\\])/
NAMECMD: /\\(operatorname|text|mathrm|textrm|mathit)(?![A-Za-z])/
DECOR: /\\({"|".join(DECORATIONS)})(?![A-Za-z])/
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
def lark_parser(grammar: str) -> lark.Lark:
    """The LALR parser of ``grammar``, built once."""
    # Built once per grammar: LALR table construction is the only slow step.
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True)


# ---------------------------------------------------------------- pre-parse checks

_OPENERS = "([{\ue000"
_CLOSERS = ")]}\ue001"
# Bars of a norm are the same character on both sides, which LALR cannot pair when
# juxtaposition is allowed; a linear pre-pass turns them into distinct open/close marks
# of the same length so every column reported later still points into the user's text.
_NORM_BAR = re.compile(r"\\\||\\[lr]?Vert(?![A-Za-z])|\|\|")
_ALLOWED = re.compile(r"[\x20-\x7e\t\n\r⊙∂·×⇒⟹≔≡≈≜]*")


def check_text(text: str, *, latex: bool) -> str:
    """Refuse, before Lark runs, text too long, with a character outside the grammar, empty or
    nested too deeply; return it prepared for parsing (LaTeX norm bars marked)."""
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


def tree_depth_and_size(tree: lark.Tree) -> tuple[int, int]:
    """The depth and node count of a Lark tree."""
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
