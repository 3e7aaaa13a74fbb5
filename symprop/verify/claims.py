"""Finding claims in Markdown or TOML text and parsing one claim into an equation."""

from __future__ import annotations

import re
from dataclasses import replace

from symprop.core.errors import shown
from symprop.core.spec import parse_toml
from symprop.parsing import Derivation, Equation, parse_derivation
from symprop.verify.errors import VerifyError
from symprop.verify.notation import normalise
from symprop.verify.setting import MAX_CLAIMS


def claim_text(text: str) -> str:
    """A claim as a report line shows it: as written when it is short and printable, else
    quoted, escaped and truncated (:func:`symprop.core.errors.shown`)."""
    if isinstance(text, str) and text.isprintable() and len(text) <= 500:
        return text
    return shown(text, 200)


# ---------------------------------------------------------------- claim extraction

_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]|`([^`]+)`")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def extract_claims(text: str, fmt: str = "markdown") -> list[str]:
    """The claims of a Markdown or TOML document, one per line or entry.

    Markdown: every line with an ``=`` is a claim; math delimiters (``$…$``, ``$$…$$``,
    ``\\(…\\)``, backticks) and bullets are stripped. Headings, blank lines and lines
    without ``=`` are skipped. TOML: ``claims = ["…", …]`` or ``[[claim]]`` tables with
    ``text = "…"``.

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
        return _toml_claims(text)
    claims: list[str] = []
    in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        match = _MATH_SPAN.search(stripped)
        if match:
            claim = next(gr for gr in match.groups() if gr is not None)
        else:
            claim = _BULLET.sub("", stripped)
        claim = claim.strip().rstrip(".,;").strip()
        if claim:
            claims.append(claim)
    if len(claims) > MAX_CLAIMS:
        raise VerifyError(f"{len(claims)} claims; at most {MAX_CLAIMS} are checked at once")
    return claims


def _toml_claims(text: str) -> list[str]:
    data = parse_toml(text)
    unknown = set(data) - {"claims", "claim"}
    if unknown:
        key = shown(sorted(unknown)[0])
        raise VerifyError(f"unknown key {key}; use claims = [...] or [[claim]]")
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
    return replace(derivation, links=tuple(links)), latex
