"""Breaking a long formula over several rows of an aligned display.

A layer kind's chain rule (batch normalisation's in particular) is wider than a page. The
rows are cut where a lecturer would cut them: between the terms of a sum, and inside the
bracketed sum of a product or of a summation (``\\Bigl(`` … ``\\Bigr)``, which, unlike
``\\left``/``\\right``, may span rows). Only the layout changes: every row is printed by
the document's :class:`~symprop.printers.latex.LatexPrinter` from the expression's own
parts, in the order that printer writes them.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from symprop.printers.latex import LatexPrinter

__all__ = ["FULL_ROW", "PAGE_ROW", "formula_rows", "rows", "too_wide", "visual_width"]

FULL_ROW = 50
"""Printed glyphs of a row beyond which a formula is broken; a broken formula's reason is
printed below it, so its rows may take the whole line."""

PAGE_ROW = 64
"""Printed glyphs of ``lhs = rhs`` beyond which a formula would overflow the page's text
width (A4, 2.2 cm margins, 11 pt) in any document, a plain dense chain's too (whose
formulas are otherwise kept on one row): such a formula is broken into rows of
:data:`FULL_ROW`."""


WIDE_TERM_ROW = 40
"""The rows of a formula broken only because it overflowed the page: its terms (sums of
norms, products of bracketed sums) typeset wider per glyph counted than the formulas
:data:`FULL_ROW` was chosen for (a row of six ``‖W^l‖²_F`` terms at 50 overflowed by 50 pt)."""


def too_wide(lhs: str, rhs: str) -> bool:
    """Whether the printed formula ``lhs = rhs`` would overflow the page on one row.

    Beyond :func:`visual_width`'s glyphs, each norm bar counts twice more (with its
    ``\\left``/``\\right`` spacing and the stacked ``F`` and ``2`` it sets wider than
    counted): a sum of six ``‖W^l‖²_F`` counts 58 glyphs but typesets 94 pt wider than the
    page.
    """
    tex = lhs + rhs
    return visual_width(tex) + 2 * len(re.findall(r"\\[lr]Vert", tex)) > PAGE_ROW


def formula_rows(
    printer: LatexPrinter, lhs_tex: str, rhs: sp.Basic, rhs_tex: str, broken: bool
) -> list[str]:
    """The rows of the right-hand side ``rhs`` (printed ``rhs_tex``) of ``lhs = rhs``: broken
    at :data:`FULL_ROW` where the document breaks formulas (``broken``), else on one row
    unless it would overflow the page."""
    if broken:
        return rows(printer, rhs, FULL_ROW)
    if too_wide(lhs_tex, rhs_tex):
        return rows(printer, rhs, WIDE_TERM_ROW)
    return [rhs_tex]


def visual_width(tex: str) -> int:
    """A rough count of the glyphs a LaTeX formula typesets on one line (layout only)."""
    text = re.sub(r"\\(left|right|mathrel|operatorname|text|mathcal|hat|Bigl|Bigr)\b", "", tex)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", lambda m: max(m[1], m[2], key=len), text)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    text = re.sub(r"[{}^_]|\s", "", text)
    return len(text)


def _terms(printer: LatexPrinter, expr: sp.Add) -> list[tuple[str, sp.Basic]]:
    """``(sign, term)`` pairs of a sum, in the order the printer writes them."""
    out = []
    for term in printer._as_ordered_terms(expr, order=None):
        if term.could_extract_minus_sign():
            out.append(("-", -term))
        else:
            out.append(("+", term))
    return out


def _pack(pieces: list[str], limit: int) -> list[str]:
    """Join pieces greedily into rows of at most ``limit`` glyphs (a long piece stays whole)."""
    out: list[str] = []
    for piece in pieces:
        if out and visual_width(out[-1] + piece) <= limit:
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def _sum_rows(printer: LatexPrinter, expr: sp.Add, limit: int) -> list[str]:
    pieces: list[str] = []
    for n, (sign, term) in enumerate(_terms(printer, expr)):
        lead = "" if (n == 0 and sign == "+") else f"{sign} "
        inner = rows(printer, term, limit - 2)
        if isinstance(term, sp.Add):
            inner = _bracketed("", inner)
        pieces.append(lead + inner[0])
        pieces += inner[1:]
    return _pack(pieces, limit)


def _bracketed(prefix: str, inner: list[str]) -> list[str]:
    """``prefix \\Bigl( row₁`` … ``rowₙ \\Bigr)``."""
    if len(inner) == 1:
        return [rf"{prefix}\left({inner[0]}\right)"]
    return [rf"{prefix}\Bigl({inner[0]}", *inner[1:-1], rf"{inner[-1]}\Bigr)"]


def rows(printer: LatexPrinter, expr: sp.Basic, limit: int = FULL_ROW) -> list[str]:
    """The rows of ``expr``: one when it fits in ``limit`` glyphs, else cut between the
    terms of a sum, or inside the widest bracketed sum of a product or summation."""
    text = printer.doprint(expr)
    if visual_width(text) <= limit:
        return [text]
    if isinstance(expr, sp.Add):
        return _sum_rows(printer, expr, limit)
    if isinstance(expr, sp.Sum):
        limits = "".join(
            rf"\sum_{{{printer.doprint(v)}={printer.doprint(lo)}}}^{{{printer.doprint(hi)}}} "
            for v, lo, hi in reversed(expr.limits)
        )
        body = expr.function
        inner = rows(printer, body, limit - 4)
        if isinstance(body, sp.Add):
            return _bracketed(limits, inner)
        return [limits + inner[0], *inner[1:]]
    if isinstance(expr, sp.Mul):
        # The widest bracketed sum of the numerator goes over rows; the other factors
        # (a fraction included) are written before it.
        sums = [f for f in sp.Mul.make_args(expr) if isinstance(f, sp.Add)]
        if sums:
            widest = max(sums, key=lambda f: visual_width(printer.doprint(f)))
            rest = sp.Mul(*[f for f in sp.Mul.make_args(expr) if f is not widest])
            if rest == -1:
                prefix = "-"
            elif rest == 1:
                prefix = ""
            else:
                prefix = printer.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
            return _bracketed(prefix + " ", rows(printer, widest, limit - 4))
    return [text]
