"""Justifications as data: text segments and SymPy expressions, rendered by each printer.

A :class:`Why` is built where a step of a derivation is built (the calculus of
:mod:`symprop.core.calculus`, the steps of :mod:`symprop.derivation.build`) and rendered by
the printers in their notation: the terminal (:mod:`symprop.printers.unicode`), LaTeX and
Markdown (:mod:`symprop.documents`), JSON (``Derivation.to_dict``). Nothing reads a
justification back from text.

Quantities inside a justification are the role-named SymPy quantities of
:mod:`symprop.core.symbols` (``vector("delta", l + 1)`` is "the local gradient of layer
l + 1"), which each printer writes with its profile's symbol; the display classes below
cover what is not a quantity: a relation, the label of a layer, the bare symbol of a role, an
activation's name, a range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sympy as sp

Segment = str | sp.Basic
"""A piece of a justification: plain text, or an expression each printer renders as math."""


def _name(text: str | sp.Symbol) -> sp.Symbol:
    """A name as a symbol argument (SymPy rebuilds expressions from their symbol args)."""
    return text if isinstance(text, sp.Symbol) else sp.Symbol(text)


class Relation(sp.Expr):
    """Display-only ``lhs rel rhs`` (``=``, ``:=``, ``←``), for any two expressions."""

    def __new__(cls, lhs: sp.Basic, rhs: sp.Basic, rel: str | sp.Symbol = "=") -> Relation:
        return super().__new__(cls, lhs, rhs, _name(rel))


class LayerOf(sp.Expr):
    """Display-only: the layer label of ``role`` at internal layer ``layer``, as the
    profile numbers it (``LayerOf("a", 0)`` prints ``0`` in Nielsen's, ``1`` in Ng's)."""

    def __new__(cls, role: str | sp.Symbol, layer: sp.Expr | int) -> LayerOf:
        return super().__new__(cls, _name(role), sp.sympify(layer))


class RoleSymbol(sp.Expr):
    """Display-only: the bare symbol of a role (``δ``, ``η``), without a layer."""

    def __new__(cls, role: str | sp.Symbol) -> RoleSymbol:
        return super().__new__(cls, _name(role))


class Activation(sp.Expr):
    """Display-only: the name of a registry activation (``σ``) or ``phi`` (``φ``), with
    ``derivative`` primes."""

    def __new__(cls, name: str | sp.Symbol, derivative: int = 0) -> Activation:
        return super().__new__(cls, _name(name), sp.Integer(derivative))


class Span(sp.Expr):
    """Display-only ``first, …, last`` (a range of layers or units)."""

    def __new__(cls, first: sp.Basic, last: sp.Basic) -> Span:
        return super().__new__(cls, first, last)


@dataclass(frozen=True)
class Why:
    """One justification: a sentence of text segments and SymPy expressions.

    Examples
    --------
    >>> from symprop.core import symbols as g
    >>> why = Why.of("by definition of ", g.vector("delta", g.l_sym + 1))
    >>> [type(s).__name__ for s in why]
    ['str', 'MatrixSymbol']
    """

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        for seg in self.segments:
            if not isinstance(seg, (str, sp.Basic)):
                raise TypeError(f"a justification segment must be text or SymPy: {seg!r}")

    @classmethod
    def of(cls, *segments: Segment | Why) -> Why:
        """A justification from segments; nested :class:`Why` values are spliced in."""
        flat: list[Segment] = []
        for seg in segments:
            flat += seg.segments if isinstance(seg, Why) else [seg]
        # Adjacent text merges, so equal sentences compare equal however they were built.
        merged: list[Segment] = []
        for seg in flat:
            if isinstance(seg, str) and merged and isinstance(merged[-1], str):
                merged[-1] += seg
            elif seg != "":
                merged.append(seg)
        return cls(tuple(merged))

    def __add__(self, other: Why | Segment) -> Why:
        return Why.of(self, other)

    def __radd__(self, other: Segment) -> Why:
        return Why.of(other, self)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    @property
    def text(self) -> str:
        """The text segments alone, joined (for searching; math segments are left out)."""
        return "".join(s for s in self.segments if isinstance(s, str))


def why(*segments: Segment | Why) -> Why:
    """Shorthand for :meth:`Why.of`."""
    return Why.of(*segments)
