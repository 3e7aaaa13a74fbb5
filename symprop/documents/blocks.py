"""The blocks of a derivation document: frozen dataclasses of printed strings, and the renderer.

:mod:`symprop.documents.context` builds a :class:`DocumentContext` of these; the sections
made elsewhere (:mod:`symprop.documents.worked`, :mod:`symprop.documents.lecture`) build
:class:`Section` values with the same :class:`Renderer`, so one template lays out all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from symprop.core.templating import latex_escape, markdown_escape
from symprop.core.why import Segment
from symprop.printers.latex import LatexPrinter

__all__ = [
    "AlgorithmItem",
    "Column",
    "DocumentContext",
    "Equation",
    "Line",
    "NotationRow",
    "Renderer",
    "Section",
    "Sentence",
    "Unit",
]


class Renderer:
    """Prints expressions and segment lists for one document (one profile, one depth)."""

    def __init__(self, profile: str, depth: int, kinds: Sequence[str] = ()) -> None:
        self.printer = LatexPrinter(profile, depth, kinds)

    def math(self, expr: sp.Basic) -> str:
        return self.printer.doprint(expr)

    def tex(self, segments: Sequence[Segment]) -> str:
        """Text mode: text escaped, expressions in ``$…$``."""
        return "".join(
            latex_escape(s) if isinstance(s, str) else f"${self.math(s)}$" for s in segments
        )

    def inline_math(self, segments: Sequence[Segment]) -> str:
        """Math mode: text in ``\\text{…}``, expressions as they are."""
        return "".join(
            rf"\text{{{latex_escape(s)}}}" if isinstance(s, str) else self.math(s) for s in segments
        )

    def markdown(self, segments: Sequence[Segment]) -> str:
        """Markdown text: text escaped, expressions in ``$…$``."""
        return "".join(
            markdown_escape(s) if isinstance(s, str) else f"${self.math(s)}$" for s in segments
        )


@dataclass(frozen=True)
class Line:
    """One line of an equation chain, as printed strings."""

    lhs: str
    rel: str
    rhs: str
    why_tex: str
    why_math: str
    why_md: str
    wide: bool


@dataclass(frozen=True)
class Equation:
    """A displayed equation chain (one :class:`~symprop.derivation.build.Step`)."""

    step_id: str
    lines: tuple[Line, ...]
    number: int | None = None  # the formula number (see ``formula_numbers``), printed as a tag


@dataclass(frozen=True)
class Sentence:
    """A sentence with inline math, in the three renderings."""

    tex: str
    math: str
    md: str


@dataclass(frozen=True)
class NotationRow:
    """One row of the notation table."""

    symbol: str
    meaning_tex: str
    meaning_md: str


@dataclass(frozen=True)
class Unit:
    """A drawn unit of the network diagram."""

    node: str
    x: str
    y: str
    label: str


@dataclass(frozen=True)
class Column:
    """A layer of the network diagram."""

    units: tuple[Unit, ...]
    ellipsis: str | None
    x: str
    caption_layer: str
    caption_width: str
    caption_activation: str
    matrix: str | None
    width: int
    activation_md: str
    caption_layer_md: str


@dataclass(frozen=True)
class AlgorithmItem:
    """One line of the algorithm block: a sentence or a formula, at an indent level."""

    depth: int
    text: Sentence | None
    formula: str | None


@dataclass(frozen=True)
class Section:
    """A section: a title, an optional introductory sentence, and equation chains."""

    title: str
    intro: Sentence | None
    equations: tuple[Equation, ...]
    paragraphs: tuple[Sentence, ...] = ()  # printed after the equations
    figure_tex: str = ""  # a LaTeX figure body (TikZ) printed after the paragraphs
    figure_md: str = ""  # its Markdown form (an image or a table), or empty


@dataclass(frozen=True)
class DocumentContext:
    """Everything the templates lay out: only strings, made by printers and filters."""

    title_tex: str
    title_md: str
    name_tex: str
    name_md: str
    profile: str
    profile_source: str
    spec_line: Sentence
    notation: tuple[NotationRow, ...]
    conventions: tuple[Sentence, ...]
    columns: tuple[Column, ...]
    edges: tuple[tuple[str, str, str], ...]
    diagram_scale: str
    diagram_top: str
    diagram_bottom: str
    sections: tuple[Section, ...]
    algorithm: tuple[AlgorithmItem, ...]
    summary: tuple[Section, ...]
    assumptions: tuple[Sentence, ...]
    cancellation: Sentence | None
    claims: int
    worked: tuple[Section, ...] = ()  # the worked example (one sample, with numbers)
    lecture: tuple[Section, ...] = ()  # gradient checking, bounds, initialisation

    def as_dict(self) -> dict[str, object]:
        """The context as a mapping for Jinja."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
