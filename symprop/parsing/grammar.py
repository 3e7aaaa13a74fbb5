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

UNICODE_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ϵ": "epsilon",
    "ζ": "zeta", "η": "eta", "θ": "theta", "ϑ": "vartheta", "ι": "iota", "κ": "kappa",
    "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma",
    "τ": "tau", "υ": "upsilon", "φ": "phi", "ϕ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
    "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta", "Λ": "Lambda", "Ξ": "Xi", "Π": "Pi",
    "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega", "ℓ": "ell",
}  # fmt: skip
"""Greek letters typed directly, read as the names of their LaTeX commands (``δ`` is
``\\delta``). ``Σ`` and ``∑`` are the sum sign, ``∇`` the gradient, ``∂`` the partial sign."""
_UGREEK_CHARS = "".join(UNICODE_GREEK)

SUPERSCRIPT_CHARS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ᴸˡᵏⁱʲⁿᵐ", "0123456789+-()Llkijnm", strict=True))
"""Unicode superscripts and their ASCII: ``a²`` is ``a^{2}`` (a power, as ``^2`` is; ``a¹`` is
the power 1), ``a⁽²⁾`` is ``a^{(2)}`` (a label), ``δᴸ`` is ``\\delta^{L}``; ``ᵀ`` is the
transpose."""
SUBSCRIPT_CHARS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋₍₎ₗₖᵢⱼₙₘ", "0123456789+-()lkijnm", strict=True))
"""Unicode subscripts and their ASCII: ``x₁`` is ``x_{1}``."""
_USUP = "".join(SUPERSCRIPT_CHARS)
_USUB = "".join(SUBSCRIPT_CHARS)

PLAIN_GRAMMAR = rf"""
?start: expr | equation
equation: expr "=" expr

?expr: product
    | expr "+" product -> add
    | expr "-" product -> sub
?product: unary
    | product "*" unary -> star
    | product ODOT unary -> hadamard
    | product MULDOT unary -> mul
    | product "/" unary -> div
    | product "./" unary -> div
    | product "@" unary -> matmul
?unary: power
    | "-" unary -> neg
    | "+" unary -> pos
?power: postfix
    | postfix POWOP unary -> pow
?postfix: atom
    | postfix TRANSPOSE -> transpose
    | postfix "'" -> transpose
    | postfix USUP -> usup
?atom: NUMBER -> number
    | NAME -> name
    | NAME "(" args ")" -> call
    | "(" expr ")" -> group
    | "(" expr PLAIN_RELOP expr ")" -> iverson
args: expr ("," expr)*

PLAIN_RELOP: "<=" | ">=" | "!=" | "~=" | "==" | "<" | ">" | "≤" | "≥" | "≠"
POWOP: "**" | "^"
ODOT: "⊙" | ".*" | "∘"
MULDOT: "·" | "×"
TRANSPOSE: /\.T(?![A-Za-z0-9_])/ | "ᵀ"
USUP: /[{_USUP}]+/
NAME: /∂?[A-Za-z{_UGREEK_CHARS}][A-Za-z0-9_]*'*/
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
FUNCTION_WORDS = "exp log ln tanh sigmoid relu softmax max min norm diag sqrt".split()
"""Words the LaTeX grammar reads as a function name when an argument follows (``diag(v)``)."""
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
    "mathsf": "",
    "mathcal": "",
    "dot": "dot",
    "ddot": "ddot",
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
    | product DOTSTAR sjux -> hadamard
    | product "/" sjux -> div
?sjux: jux
    | "-" sjux -> neg
?jux: scripted
    | prefixed
    | jux scripted -> mul
    | jux prefixed -> mul
?prefixed: bigsum | nabla | limit
bigsum: SUM limits jux
limits: "_" script_token
    | "_" "{{" expr "}}"
    | "_" "{{" expr "=" expr "}}"
    | "_" "{{" expr RELOP expr "}}"
    | "_" "{{" index_pair "}}"
    | "_" script_token "^" script
    | "_" "{{" expr "}}" "^" script
    | "_" "{{" expr "=" expr "}}" "^" script
index_pair: expr "," expr
nabla: NABLA "_" script scripted
limit: LIM "_" "{{" expr TO expr "}}" jux
?scripted: primary
    | scripted "_" script -> subscript
    | scripted "^" script -> superscript
    | scripted PRIME -> prime
    | scripted UTRANSPOSE -> utranspose
    | scripted USUP -> usup
    | scripted USUB -> usub
    | scripted "(" args ")" -> apply
    | scripted LBRACE_ESC args RBRACE_ESC -> apply
script: script_token | "{{" args "}}" | "{{" script_top "}}" | "{{" expr TOP "}}" -> label_top
?script_top: TOP -> top
?script_token: NUMBER -> number
    | LETTER -> letter
    | GREEK -> greek
    | UGREEK -> ugreek
    | TOP -> top
?primary: NUMBER -> number
    | LETTER -> letter
    | GREEK -> greek
    | UGREEK -> ugreek
    | FUNCCMD -> funccmd
    | FUNCWORD -> funcword
    | NAMECMD "{{" WORD "}}" -> wordname
    | DECOR "{{" expr "}}" -> decorated
    | DECOR LETTER -> decorated
    | DECOR GREEK -> decorated
    | "(" expr ")" -> group
    | "[" expr "]" -> group
    | "{{" expr "}}" -> group
    | FRAC frac_num frac_den -> frac
    | PARTIAL scripted -> partial_of
    | PARTIAL -> partial_bare
    | PARTIAL "_" script scripted -> partial_sub
    | SQRT primary -> sqrt
    | BRACE "{{" expr "}}" ("_" script | "^" script)? -> underbrace
    | NORM_OPEN expr NORM_CLOSE -> norm
    | BEGIN_CASES case_row (ROWSEP case_row)* ROWSEP? END_CASES -> cases
    | LBRACE_ESC BEGIN_ARRAY case_row (ROWSEP case_row)* ROWSEP? END_ARRAY "."? -> cases
    | INDICATOR "[" relation "]" -> indicator
    | INDICATOR LBRACE_ESC relation RBRACE_ESC -> indicator
    | INDICATOR "(" relation ")" -> indicator
    | INDICATOR "_" "{{" relation "}}" -> indicator
    | "[" relation "]" -> indicator
?frac_num: "{{" expr "}}"
    | NUM_DIGIT -> number
    | LETTER -> letter
    | GREEK -> greek
    | UGREEK -> ugreek
?frac_den: "{{" expr "}}"
    | DEN_DIGIT -> number
    | LETTER -> letter
    | GREEK -> greek
    | UGREEK -> ugreek
case_row: expr ","? "&" condition ","?
?condition: relation
    | IF relation
    | OTHERWISE -> otherwise
    | IF OTHERWISE -> otherwise
relation: expr RELOP expr
    | expr "=" expr
args: expr (("," | ";") expr)*

SUM: /\\sum(?![A-Za-z])/ | "∑" | "Σ"
LIM: /\\lim(?![A-Za-z])/
TO: /\\(to|rightarrow)(?![A-Za-z])/ | "→"
NABLA: /\\nabla(?![A-Za-z])/ | "∇"
FRAC: /\\[dtc]?frac(?![A-Za-z])/
NUM_DIGIT: /\d/
DEN_DIGIT: /[0-9]/
SQRT: /\\sqrt(?![A-Za-z])/ | "√"
BRACE: /\\(underbrace|overbrace)(?![A-Za-z])/
DOTSTAR.3: /\\cdot\s*\*/ | ".*"
PARTIAL: /\\partial(?![A-Za-z])/ | "∂"
MULOP: /\\(cdot|times)(?![A-Za-z])/ | "·" | "×"
ODOT: /\\(odot|circ|ast)(?![A-Za-z])/ | "⊙" | "∘" | "*"
RELOP: "<" | ">" | /\\(le|leq|leqslant|ge|geq|geqslant|ne|neq|lt|gt)(?![A-Za-z])/ | "≤" | "≥" | "≠"
TOP.3: /\\(top|intercal|mathsf\s*\{{\s*T\s*\}}|mathsf\s*T|mathrm\s*\{{\s*T\s*\}})(?![A-Za-z])/
UTRANSPOSE: "ᵀ"
USUP: /[{_USUP}]+/
USUB: /[{_USUB}]+/
INDICATOR.3: /\\(mathbb|mathbf|mathds|mathbbm|bm|boldsymbol)\s*(\{{\s*1\s*\}}|1)/ | "𝟙"
    | /\\mathbb\s*\{{\s*I\s*\}}/
IF.3: /\\(text|mbox|textrm|mathrm)\s*\{{\s*(if|for|when)\s*\}}/
OTHERWISE.3: /\\(text|mbox|textrm|mathrm)\s*\{{\s*(otherwise|else|elsewhere)(?![A-Za-z])[^{{}}]*\}}/
BEGIN_CASES.3: /\\begin\s*\{{\s*[dr]?cases\*?\s*\}}/
END_CASES.3: /\\end\s*\{{\s*[dr]?cases\*?\s*\}}/
BEGIN_ARRAY.3: /\\begin\s*\{{\s*array\s*\}}\s*\{{[lcr|\s]*\}}/
END_ARRAY.3: /\\end\s*\{{\s*array\s*\}}/
ROWSEP: "\\\\"
GREEK.2: /\\({"|".join(LETTER_COMMANDS)})(?![A-Za-z])/
UGREEK: /[{_UGREEK_CHARS}]/
FUNCCMD.2: /\\({"|".join(LATEX_FUNCTION_COMMANDS)})(?![A-Za-z])/
FUNCWORD.2: /({"|".join(FUNCTION_WORDS)})(?=\s*[(\\])/
NAMECMD: /\\(operatorname|text|mathrm|textrm|mathit|mbox)(?![A-Za-z])/
DECOR: /\\({"|".join(DECORATIONS)})(?![A-Za-z])/
WORD: /[A-Za-z][A-Za-z0-9]*/
LETTER: /[A-Za-z]/
NUMBER: /\d+(\.\d+)?|\.\d+/
PRIME: "'" | "′"
LBRACE_ESC: "\\{{"
RBRACE_ESC: "\\}}"
NORM_OPEN: "\uE000"
NORM_CLOSE: "\uE001"
%ignore /\s+/
%ignore /\\([Bb]igg?[lr]?|left|right|middle)(?![A-Za-z])/
%ignore /\\[,;:! ]/
%ignore /\\(quad|qquad|displaystyle|textstyle|nonumber|notag|limits|nolimits)(?![A-Za-z])/
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
_ALLOWED = re.compile(
    "[\x20-\x7e\t\n\r⊙∘∂∇·×⇒⟹≔≡≈≜≤≥≠√∑Σ→∴ᵀ′−∗𝟙" + _UGREEK_CHARS + _USUP + _USUB + "]*"
)


_ASCII_TWINS = str.maketrans({"−": "-", "∗": "*", "′": "'"})


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
    # One-character spellings of ASCII operators, replaced in place so columns still match.
    text = text.translate(_ASCII_TWINS)
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
