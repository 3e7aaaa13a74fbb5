"""Finding claims in Markdown or TOML text and parsing one claim into an equation."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Any

from symprop.core.errors import shown
from symprop.core.spec import parse_toml
from symprop.parsing import Derivation, Equation, parse_derivation
from symprop.verify.errors import VerifyError
from symprop.verify.notation import labels_layers_by_digit, normalise, with_digit_labels
from symprop.verify.setting import MAX_CLAIMS


def claim_text(text: str) -> str:
    """A claim as a report line shows it: as written when it is short and printable, else
    quoted, escaped and truncated (:func:`symprop.core.errors.shown`)."""
    if isinstance(text, str) and text.isprintable() and len(text) <= 500:
        return text
    return shown(text, 200)


# ---------------------------------------------------------------- claim extraction

SETTING_KEYS: tuple[str, ...] = (
    "spec",
    "network",
    "notation",
    "numbering",
    "activation",
    "loss",
    "loss_formula",
    "l2",
    "penalty",
    "functions",
    "define",
    "values",
    "shapes",
)
"""The keys of a claims file's setting (a Markdown front matter, or a TOML file's top level)."""
CLAIM_KEYS: tuple[str, ...] = ("claims", "claim")
"""The keys of a TOML claims file that hold its claims."""


def unknown_key(key: object, allowed: tuple[str, ...], where: str = "") -> VerifyError:
    """The error for an unknown key: the key quoted, the allowed ones, and the closest."""
    close = (
        difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if isinstance(key, str) and len(key) <= 40
        else []
    )
    hint = f" (did you mean {close[0]}?)" if close else ""
    place = f" in [{where}]" if where else ""
    return VerifyError(
        f"unknown key {shown(key, 40)}{place}{hint}; allowed keys: {', '.join(allowed)}"
    )


_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]|`([^`]+)`")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LET_WORD = re.compile(
    r"^(?:let|\\text\{\s*let\s*\}|\\mathrm\{let\}|\\operatorname\{let\})\s*", re.I
)
_FENCE_OPEN = ("---", "+++")
# Display math that spans lines: what opens it, and what closes it.
_BLOCKS = (
    (re.compile(r"^\$\$"), "$$"),
    (re.compile(r"^\\\["), "\\]"),
    (re.compile(r"^\\begin\{(aligned|align\*?|equation\*?|split|gather\*?|eqnarray\*?)\}"), ""),
)
MAX_BLOCK_LINES = 64
"""Most lines of one display-math block (an aligned derivation)."""


@dataclass(frozen=True)
class Document:
    """A Markdown claims document split into its parts.

    Attributes
    ----------
    front_matter
        The TOML text between the opening and closing ``---`` (or ``+++``) lines, or ``None``.
    front_matter_line
        The 1-based line of the opening fence (for messages).
    claims
        The claims of the body, in order.
    lets
        The body's definitions (lines whose math starts with ``let``), in order.
    """

    front_matter: str | None
    front_matter_line: int
    claims: tuple[str, ...]
    lets: tuple[str, ...]


def split_front_matter(text: str) -> tuple[str | None, int, list[str]]:
    """The front matter (between the first line ``---``/``+++`` and the next same line) and
    the body's lines; blank lines may precede the front matter."""
    lines = text.removeprefix("\ufeff").splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() not in _FENCE_OPEN:
        return None, 0, lines
    fence = lines[first].strip()
    for end in range(first + 1, len(lines)):
        if lines[end].strip() == fence:
            return "\n".join(lines[first + 1 : end]), first + 1, lines[end + 1 :]
    raise VerifyError(
        f"the front matter opened by {fence} on line {first + 1} is not closed; end it with "
        f"a line {fence}"
    )


_EQUATION = re.compile(r"=|\\coloneqq|\\equiv|\\triangleq|≔|≡")
_LET_BEFORE = re.compile(r"(?:^|\W)let\s*$", re.I)
_AND_BEFORE = re.compile(r"^\s*(?:,|and|,\s*and)\s*$", re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _line_math(line: str) -> list[tuple[str, bool]]:
    """The equations of one body line, each with whether it is a definition.

    With math spans on the line, each span holding an equation is one (a span without
    one, ``$m$`` in "where $m$ is the batch size", is prose); a span is a definition when
    the prose just before it ends with "let" (or it follows a definition after "and"), or
    it starts with ``let`` itself. Without spans, the line itself is one equation.
    """
    body = _BULLET.sub("", line)
    spans = list(_MATH_SPAN.finditer(body))
    if not spans:
        let = _LET_WORD.match(body) is not None
        return [(_LET_WORD.sub("", body, count=1) if let else body, let)]
    out: list[tuple[str, bool]] = []
    previous_end, previous_let = 0, False
    for match in spans:
        content = next(gr for gr in match.groups() if gr is not None).strip()
        before = body[previous_end : match.start()]
        let = bool(
            _LET_BEFORE.search(before)
            or _LET_WORD.match(content)
            or (previous_let and _AND_BEFORE.match(before))
        )
        previous_end, previous_let = match.end(), let
        if _EQUATION.search(content):
            out.append((_LET_WORD.sub("", content, count=1) if let else content, let))
    return out


def _blocks(lines: list[str]) -> list[str]:
    """The body's lines, with each display-math block that spans lines joined into one
    line (``$$ … $$``, ``\\[ … \\]``, ``\\begin{aligned} … \\end{aligned}``); fenced code
    is dropped."""
    out: list[str] = []
    in_fence = False
    idx = 0
    while idx < len(lines):
        stripped = lines[idx].strip()
        idx += 1
        if stripped.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        body = _BULLET.sub("", stripped)
        closer = _block_closer(body)
        if closer is None:
            out.append(stripped)
            continue
        joined = [body]
        while idx < len(lines) and len(joined) < MAX_BLOCK_LINES and closer not in lines[idx]:
            joined.append(lines[idx].strip())
            idx += 1
        if idx < len(lines) and len(joined) < MAX_BLOCK_LINES:
            joined.append(lines[idx].strip())
            idx += 1
        else:
            raise VerifyError(
                f"a display-math block ({shown(body, 20)}) is not closed within "
                f"{MAX_BLOCK_LINES} lines"
            )
        out.append(" ".join(joined))
    return out


def _block_closer(line: str) -> str | None:
    """What closes the display-math block ``line`` opens, or None when it opens none (or
    closes it on the same line)."""
    for opener, closer in _BLOCKS:
        match = opener.match(line)
        if not match:
            continue
        closer = closer or f"\\end{{{match.group(1)}}}"
        return None if closer in line[match.end() :] else closer
    return None


def _without_comments(lines: list[str]) -> list[str]:
    """The lines with HTML comments (``<!-- … -->``, also over several lines) blanked: a
    note such as "the slide writes x = y here" is not a claim."""
    text = "\n".join(lines)
    if "<!--" not in text:
        return lines
    text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    if "<!--" in text:
        raise VerifyError("an HTML comment (<!--) is not closed; end it with -->")
    return text.split("\n")


def split_markdown(text: str) -> Document:
    """A Markdown claims document: its front matter, claims and ``let`` definitions.

    Each math span (``$…$``, ``$$…$$``, ``\\(…\\)``, backticks) holding an equation is a
    claim, several on a line too; a line without math spans is one claim when it has an
    ``=``. Display math spanning lines is one claim. A span after the word "let"
    (``- let $u_4 = u_2 e^{u_1}$``) or starting with it (``$let g = …$``) is a definition.
    Headings, blank lines, HTML comments, fenced code and lines without equations are
    skipped.
    """
    if not isinstance(text, str):
        raise VerifyError(f"text: got {shown(text)}; must be a str")
    front, line_no, body = split_front_matter(text)
    claims: list[str] = []
    lets: list[str] = []
    for stripped in _blocks(_without_comments(body)):
        if not stripped or stripped.startswith("#") or not _EQUATION.search(stripped):
            continue
        for claim, let in _line_math(stripped):
            claim = claim.strip().rstrip(".,;").strip()
            if claim:
                (lets if let else claims).append(claim)
    if len(claims) > MAX_CLAIMS:
        raise VerifyError(f"{len(claims)} claims; at most {MAX_CLAIMS} are checked at once")
    return Document(front, line_no, tuple(claims), tuple(lets))


def extract_claims(text: str, fmt: str = "markdown") -> list[str]:
    """The claims of a Markdown or TOML document, one per line or entry.

    Markdown: see :func:`split_markdown` (the front matter and ``let`` lines are not
    claims). TOML: ``claims = ["…", …]`` or ``[[claim]]`` tables with ``text = "…"``,
    besides the setting's keys (:data:`SETTING_KEYS`).

    Examples
    --------
    >>> extract_claims("# notes\\n- $\\\\delta^L = a^L - y$\\n- `dC/dW2 = delta2 @ a1.T`\\n")
    ['\\\\delta^L = a^L - y', 'dC/dW2 = delta2 @ a1.T']
    """
    if not isinstance(text, str):
        raise VerifyError(f"text: got {shown(text)}; must be a str")
    if fmt not in ("markdown", "toml"):
        raise VerifyError(f"fmt: got {shown(fmt)}; known: markdown, toml")
    if fmt == "toml":
        return toml_claims(parse_toml(text))
    return list(split_markdown(text).claims)


def toml_claims(data: dict[str, Any]) -> list[str]:
    """The claims of a parsed TOML claims file (``claims = [...]`` and ``[[claim]]``);
    any key other than those and the setting's is refused."""
    for key in data:
        if key not in SETTING_KEYS + CLAIM_KEYS:
            raise unknown_key(key, SETTING_KEYS + CLAIM_KEYS)
    out: list[str] = []
    listed = data.get("claims", [])
    if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
        raise VerifyError("claims must be a list of strings")
    out += listed
    tables = data.get("claim", [])
    if not isinstance(tables, list):
        raise VerifyError("claim must be an array of tables ([[claim]])")
    for idx, entry in enumerate(tables):
        if (
            not isinstance(entry, dict)
            or set(entry) - {"text"}
            or not isinstance(entry.get("text"), str)
        ):
            raise VerifyError(f'claim[{idx}] must be a table with one key, text = "..."')
        out.append(entry["text"])
    if len(out) > MAX_CLAIMS:
        raise VerifyError(f"{len(out)} claims; at most {MAX_CLAIMS} are checked at once")
    return [c.strip() for c in out]


# ---------------------------------------------------------------- parsing one claim


def parse_claim(text: str) -> tuple[Derivation, bool]:
    """The claim as a :class:`~symprop.parsing.Derivation` of normalised equations, and
    whether it was read as LaTeX.

    A claim of one equation is a derivation of one link; ``A = B = C``, ``A = B \\Rightarrow
    C = D``, ``A = B,\\quad C = D`` and aligned rows give several links (see
    :func:`symprop.parsing.parse_derivation`), each keeping its own source text.

    Examples
    --------
    >>> derivation, latex = parse_claim(r"\\sigma'(z) = \\sigma(z)(1 - \\sigma(z))")
    >>> len(derivation.links), latex
    (1, True)
    """
    derivation, latex = parse_derivation(text)
    links = []
    for link in derivation.links:
        normalised = normalise(link)
        assert isinstance(normalised, Equation)
        links.append(normalised)
    if any(labels_layers_by_digit(link) for link in links):
        # One reading per claim: δ^{2} in one link makes a^{2} a layer label in every link
        # of the chain (a^2 - y = -(y - a^2) after \delta^2 = a^2 - y).
        links = [with_digit_labels(link) for link in links]
    return replace(derivation, links=tuple(links)), latex
