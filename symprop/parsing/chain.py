"""Claims of several equations: ``A = B = C``, ``A = B \\Rightarrow C = D``,
``A = B,\\quad C = D`` and the rows of an ``aligned`` environment, split into links.

A linear scan finds the separators at bracket depth 0 and outside nested environments
(``cases`` keeps its own ``&`` and ``\\\\``); every link side is then parsed by the ordinary
grammars on a copy of the text padded with spaces, so every column an AST node or an error
reports still points into the user's whole claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from symprop.core.errors import ParseError
from symprop.parsing.grammar import check_text
from symprop.parsing.parser import parse_latex, parse_plain
from symprop.parsing.tree import MAX_LENGTH, MAX_LINKS, Derivation, Equation, Expr, JoinKind

# ---------------------------------------------------------------- text preparation

# Environments that only lay a derivation out: their markers, & and \label are layout.
_LAYOUT_ENVS = (
    r"aligned|align\*?|split|gathered|gather\*?|equation\*?|eqnarray\*?|multline\*?|alignedat"
)
_LAYOUT = re.compile(
    rf"\\(?:begin|end)\s*\{{\s*(?:{_LAYOUT_ENVS})\s*\}}(?:\{{\d*\}})?"
    r"|\\(?:label|tag\*?|eqref)\s*\{[^{}]*\}"
    r"|\\(?:nonumber|notag|displaystyle|textstyle)(?![A-Za-z])"
)
_TRAILING = re.compile(r"(?<!\\)[.,](?=\s*(?:\\\\|$))")
_BOXED = re.compile(r"\\boxed\s*\{")
_ROW_END = r"(?=\s*(?:\\\\|\\end\s*\{|&|;|\x1f|$))"
_KEYWORDS = r"and|or|und|et|if|for|when|otherwise|else|elsewhere"
_ANNOTATIONS = (
    # \quad \text{"raw output"}, \text{ (output layer)}: a remark at the end of a row.
    re.compile(
        r"\\q?quad\s*\\(?:text|mbox|textrm)\s*\{(?!\s*(?:"
        + _KEYWORDS
        + r")(?![A-Za-z]))[^{}]*\}"
        + _ROW_END
        + r"|\\(?:text|mbox|textrm)\s*\{(?=[^{}]*[^A-Za-z{}])(?!\s*(?:"
        + _KEYWORDS
        + r")(?![A-Za-z]))"
        + r"[^{}]*\}"
        + _ROW_END
    ),
    # (*), \quad (1), \qquad (2.3): an equation's tag.
    re.compile(r"\(\*+\)" + _ROW_END + r"|\\q?quad\s*\(\d+(?:\.\d+)*[a-z]?\)" + _ROW_END),
    # \quad \forall l, i, j: the quantifier of a definition.
    re.compile(r"(?:,\s*|\\q?quad\s*)+\\forall(?![A-Za-z])[^&\\]*" + _ROW_END),
    # x_0: (-2)*0.15 = -0.30, a row of a worked example named by its first word.
    re.compile(r"^\s*\\?[A-Za-z]+(?:_\{?[A-Za-z0-9]+\}?)?\s*:(?!=)"),
)
_ENV = re.compile(r"\\(begin|end)\s*\{\s*([A-Za-z]+\*?)\s*\}")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.DOTALL)
_TEXT_AND = re.compile(r"\\(?:text|mbox|textrm|mathrm)\s*\{\s*(?:and|or|und|et)\s*\}")

_IMPLIES = frozenset(
    {"Rightarrow", "implies", "Longrightarrow", "therefore", "rightarrow", "longrightarrow"}
)
_EQUALS = frozenset(
    {"coloneqq", "equiv", "triangleq", "approx", "eqqcolon", "doteq", "sim", "simeq"}
)
_SPACES = frozenset({"quad", "qquad"})
_UNICODE_SEPS = {
    "⇒": "implies",
    "⟹": "implies",
    "→": "implies",
    "∴": "implies",
    "≔": "eq",
    "≡": "eq",
    "≈": "eq",
    "≜": "eq",
}
# A row or a \quad next to one of these continues the expression (a long right side broken
# over lines), it does not separate two equations.
_OPERATOR_AFTER = re.compile(
    r"(?:\s|\\(?:quad|qquad)(?![A-Za-z])|\\[,;:! ])*"
    r"(?:[-+*/⊙·×−]|\\(?:cdot|times|odot|circ|ast)(?![A-Za-z]))"
)
_OPERATOR_BEFORE = re.compile(r"(?:[-+*/(\[⊙·×−]|\\(?:cdot|times|odot|circ|ast|left[(\[]|[{]))\s*$")

SepKind = Literal["eq", "implies", "and", "space", "row", "column", "continue"]
_COLUMN = "\x1f"  # marks the & that starts the second equation of an align row


@dataclass(frozen=True)
class _Sep:
    kind: SepKind
    start: int
    end: int


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _layout_blanked(text: str) -> str:
    """The text with layout replaced by spaces of equal length: environment markers, labels,
    tags, ``\\boxed``, trailing punctuation, annotations (``\\quad \\text{(chain rule)}``,
    ``(*)``, ``\\forall l``, a leading ``x_0:``) and the alignment marks ``&`` outside nested
    environments; in ``align`` the second ``&`` of a pair separates two equations (``;``)."""
    eqnarray = "eqnarray" in text  # a &=& b: both marks only align
    text = _LAYOUT.sub(_spaces, text)
    text = _unwrap_boxed(text)
    out = list(text)
    nested = column = 0
    for match in re.finditer(r"\\(?:begin|end)\s*\{[^{}]*\}|\\\\|\\&|&", text):
        token = match.group()
        if token.startswith("\\begin"):
            nested += 1
        elif token.startswith("\\end"):
            nested = max(nested - 1, 0)
        elif token == "\\\\" and nested == 0:
            column = 0
        elif token == "&" and nested == 0:
            column += 1
            out[match.start()] = _COLUMN if column % 2 == 0 and not eqnarray else " "
    text = "".join(out)
    for pattern in _ANNOTATIONS:
        text = pattern.sub(_spaces, text)
    return _TRAILING.sub(" ", text)


def _spaces(match: re.Match[str]) -> str:
    return " " * len(match.group())


def _unwrap_boxed(text: str) -> str:
    """``\\boxed{A = B}`` is ``A = B``: the command and its braces become spaces."""
    for _ in range(text.count("\\boxed")):
        match = _BOXED.search(text)
        if match is None:
            break
        depth = 0
        for index in range(match.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0) if text[index - 1] != "\\" else 0
            if depth == 0:
                text = _blank(_blank(text, index, index + 1), match.start(), match.end())
                break
        else:
            break
    return text


def _separators(text: str) -> tuple[str, list[_Sep]]:
    """The separators at top level, and the text with continuation row breaks blanked."""
    seps: list[_Sep] = []
    depth = nested = 0
    i = 0
    size = len(text)
    while i < size:
        char = text[i]
        top = depth == 0 and nested == 0
        if char == "\\":
            if text.startswith("\\\\", i):
                if top:
                    if _continues(text, i, i + 2):
                        text = _blank(text, i, i + 2)
                    else:
                        seps.append(_Sep("row", i, i + 2))
                i += 2
                continue
            env = _ENV.match(text, i)
            if env:
                nested += 1 if env.group(1) == "begin" else -1
                nested = max(nested, 0)
                i = env.end()
                continue
            text_and = _TEXT_AND.match(text, i)
            if text_and and top:
                seps.append(_Sep("and", i, text_and.end()))
                i = text_and.end()
                continue
            command = _COMMAND.match(text, i)
            if command is None:  # a lone backslash at the end: the grammar reports it
                i += 1
                continue
            name, end = command.group(1), command.end()
            if name in ("{", "["):
                depth += 1
            elif name in ("}", "]"):
                depth -= 1
            elif top and name in _IMPLIES:
                seps.append(_Sep("implies", i, end))
            elif top and name in _EQUALS:
                seps.append(_Sep("eq", i, end))
            elif top and name in _SPACES and not _continues(text, i, end):
                seps.append(_Sep("space", i, end))
            i = end
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif top:
            if char == "=" and text[i - 1 : i] not in ("<", ">", "!", "~"):
                start = i - 1 if text[i - 1 : i] == ":" else i
                seps.append(_Sep("eq", start, i + 1))
            elif char == "," and text[i - 1 : i].isdigit() and text[i + 1 : i + 2].isdigit():
                # 0,5 is a decimal comma or two numbers: which, only the author knows.
                raise ParseError(
                    "write decimals with a point (0.5) and separate equations with ', '", text, i
                )
            elif char in ",;":
                seps.append(_Sep("and", i, i + 1))
            elif char == _COLUMN:
                seps.append(_Sep("column", i, i + 1))
            elif char in _UNICODE_SEPS:
                seps.append(_Sep(_UNICODE_SEPS[char], i, i + 1))  # type: ignore[arg-type]
        i += 1
    return text, seps


def _continues(text: str, start: int, end: int) -> bool:
    return bool(_OPERATOR_AFTER.match(text, end) or _OPERATOR_BEFORE.search(text[:start]))


# ---------------------------------------------------------------- assembling links


@dataclass(frozen=True)
class _Side:
    start: int
    end: int


def _merge(run: list[_Sep], text: str) -> SepKind:
    """One separator from a run of adjacent ones (nothing written between them)."""
    kinds = [sep.kind for sep in run]
    if len(kinds) == 1:
        return kinds[0]
    if "eq" in kinds:
        eqs = kinds.count("eq")
        others = set(kinds) - {"eq"}
        # "\\ &= C" continues the previous row's chain; "= \\" breaks a line after "=".
        if eqs == 1 and others <= {"row", "space"}:
            return "continue" if "row" in kinds[: kinds.index("eq")] else "eq"
        if kinds == ["eq", "row", "eq"]:  # Df &= \\ &= ...: one "=" written on both rows
            return "eq"
        # "= , B", "= & B", "A = = B": the separator where a side should be.
        second = next((sep for sep in run[1:] if sep.kind not in ("row", "space")), run[-1])
        raise ParseError("a side of an equation is missing", text, second.start)
    if "implies" in kinds:
        return "implies"
    if "row" in kinds:
        return "row"
    if "column" in kinds:
        return "column"
    return "and"


def _sides_and_joins(text: str, seps: list[_Sep]) -> list[_Side | SepKind]:
    """Alternating sides and separators, empty sides dropped and their separators merged."""
    items: list[_Side | SepKind] = []
    run: list[_Sep] = []
    last = 0
    for sep in [*seps, _Sep("and", len(text), len(text))]:
        if text[last : sep.start].strip():
            if run:
                kind = _merge(run, text)
                # "⇒ A = B" continues the sentence before the formula: nothing to check.
                if not items and kind == "eq":
                    raise ParseError("a side of an equation is missing", text, run[0].start)
                if items:
                    items.append(kind)
            piece = text[last : sep.start]
            start = last + len(piece) - len(piece.lstrip())
            items.append(_Side(start, start + len(piece.strip())))
            run = []
        run.append(sep)
        last = sep.end
    trailing = run[:-1]
    if trailing and _merge(trailing, text) == "eq":
        raise ParseError("formula ends too early", text, len(text))
    return items


def _links(
    text: str, items: list[_Side | SepKind]
) -> tuple[list[tuple[_Side, _Side]], list[JoinKind]]:
    sides = items[0::2]
    kinds = items[1::2]
    links: list[tuple[_Side, _Side]] = []
    joins: list[JoinKind] = []
    pending: JoinKind | None = None  # the join to the link that starts next
    in_link: set[int] = set()
    # In an align row "A &= B & C &= D" the second equation is a remark; a next row "&= E"
    # continues the first column's chain, whose last side is sides[tail].
    tail, first_column = 0, True
    for idx, kind in enumerate(kinds):
        if first_column:
            tail = idx
        if kind in ("eq", "continue"):
            lhs = tail if kind == "continue" else idx
            if kind == "continue" or (idx > 0 and kinds[idx - 1] == "eq"):
                joins.append("chain") if links else None
            elif links:
                joins.append(pending or "and")
            links.append((sides[lhs], sides[idx + 1]))  # type: ignore[arg-type]
            in_link.update((lhs, idx + 1))
            pending = None
            first_column = first_column or kind == "continue"
        else:
            pending = "implies" if kind == "implies" or pending == "implies" else "and"
            first_column = kind != "column" and (first_column or kind == "row")
    for idx, side in enumerate(sides):
        if idx not in in_link:
            assert isinstance(side, _Side)
            shown = " ".join(text[side.start : side.end].split())[:40]
            message = (
                "a claim must be an equation: left side = right side"
                if not links
                else f"{shown!r} is not an equation; separate equations with , or \\quad"
            )
            raise ParseError(message, text, side.start if links else len(text))
    if not links:  # only separators, e.g. ","
        raise ParseError("a claim must be an equation: left side = right side", text, len(text))
    if len(links) > MAX_LINKS:
        raise ParseError(f"{len(links)} equations in one claim; at most {MAX_LINKS}", text, 0)
    return links, joins


# ---------------------------------------------------------------- public


_LATEX_HINT = re.compile(r"\\[A-Za-z|]|[{}]")


def parse_derivation(text: str) -> tuple[Derivation, bool]:
    """Parse a claim of one or more equations into a :class:`Derivation`.

    Parameters
    ----------
    text
        The claim without math delimiters: ``A = B``, ``A = B = C``,
        ``A = B \\Rightarrow C = D`` (also ``\\implies``, ``⇒``), ``A = B,\\quad C = D``
        (also ``\\qquad``, ``;``, ``\\text{and}``, ``\\text{or}``), or an
        ``aligned``/``align*``/``split``/``eqnarray`` environment whose rows are separated by
        ``\\\\`` (a row starting with ``&=`` continues the previous row's chain; in a row
        ``A &= B & C &= D`` the second equation is a separate link). ``:=``,
        ``\\coloneqq``, ``\\equiv``, ``\\triangleq``, ``\\approx`` and ``\\sim`` read as
        ``=`` (the link's ``text`` keeps the sign; a number is judged to the decimals it
        shows). Layout is ignored: ``\\label``, ``\\tag``, ``\\nonumber``, ``\\boxed``,
        a trailing ``.`` or ``,``, a tag ``(*)`` or ``\\quad (3)``, a remark
        ``\\quad \\text{(chain rule)}``, a quantifier ``\\quad \\forall l``, a leading
        ``x_0:`` and arrows before or after everything. A decimal comma (``0,5``) is
        refused rather than read as two equations.

    Returns
    -------
    tuple[Derivation, bool]
        The links (each :class:`Equation` with its own source ``text``) and their joins,
        and whether the claim was read as LaTeX (a backslash or a brace in it, or plain
        syntax failed and LaTeX did not).

    Raises
    ------
    ParseError
        With the column in ``text`` of the problem.

    Examples
    --------
    >>> d, latex = parse_derivation("a = b = c")
    >>> [link.text for link in d.links], d.joins
    (['a = b', 'b = c'], ('chain',))
    """
    if not isinstance(text, str):
        raise ParseError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(
            f"input is {len(text)} characters long; at most {MAX_LENGTH} are accepted", "", None
        )
    check_text(text, latex=False)  # characters and nesting, before any scan
    work, seps = _separators(_layout_blanked(text))
    links, joins = _links(text, _sides_and_joins(work, seps))
    if _LATEX_HINT.search(text):
        return _build(text, work, links, joins, latex=True), True
    try:
        return _build(text, work, links, joins, latex=False), False
    except ParseError as plain_error:
        try:
            return _build(text, work, links, joins, latex=True), True
        except ParseError:
            raise plain_error from None


def _side(text: str, work: str, side: _Side, latex: bool) -> Expr:
    padded = " " * side.start + work[side.start : side.end]
    try:
        return parse_latex(padded) if latex else parse_plain(padded, context=text)
    except ParseError as exc:
        message = str(exc).split("\n")[0]
        raise ParseError(message, text, exc.position) from None


def _build(
    text: str,
    work: str,
    links: list[tuple[_Side, _Side]],
    joins: list[JoinKind],
    latex: bool,
) -> Derivation:
    parsed: dict[int, Expr] = {}

    def side(item: _Side) -> Expr:
        if item.start not in parsed:
            parsed[item.start] = _side(text, work, item, latex)
        return parsed[item.start]

    equations = []
    for lhs, rhs in links:
        source = (
            _source(work, lhs.start, rhs.end)
            if "\\\\" not in text[lhs.end : rhs.start]
            else f"{_source(work, lhs.start, lhs.end)} = {_source(work, rhs.start, rhs.end)}"
        )
        equations.append(Equation(side(lhs), side(rhs), text=source, pos=lhs.start))
    first = links[0][0].start
    return Derivation(tuple(equations), tuple(joins), pos=first)


def _source(work: str, start: int, end: int) -> str:
    return " ".join(work[start:end].split())
