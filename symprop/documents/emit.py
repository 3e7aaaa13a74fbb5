"""Derivation documents: LaTeX (and PDF) and Markdown, in any notation profile.

The pipeline is ``Derivation`` → :func:`checked` (runs ``check(strict=True)``; nothing
unproven is ever typeset) → :func:`document_context` (a typed context of strings, every
formula printed by :class:`~symprop.printers.latex.LatexPrinter` from an expression of a
``Step``) → the templates ``derivation.tex.j2`` / ``derivation.md.j2`` (layout only) →
files written atomically. :func:`regenerate` rewrites ``generated/`` from ``examples/``.

Justifications in the derivation are short Unicode sentences written in the internal
(Nielsen) notation, e.g. ``"by the chain rule: z^l affects C only through z^{l+1}"``. So
that they read in the document's own notation, each one is translated by a rule of
:data:`_RULES` into text segments and SymPy expressions, which the printer renders like
every other formula. A justification no rule covers is an error naming it, never a
silently mistranslated sentence.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from symprop.core import symbols as g
from symprop.core.calculus import _output_kernels, activation_function, activation_prime_function
from symprop.core.errors import SymPropError, shown_path
from symprop.core.files import private_folder, write_atomic
from symprop.core.notation import PROFILES, get_profile
from symprop.core.registry import ACTIVATIONS, LOSSES, i_idx, n_units, z_vec
from symprop.core.registry import a as a_unit
from symprop.core.registry import a_vec as a_unit_vec
from symprop.core.registry import z as z_unit
from symprop.core.spec import Network, load_spec
from symprop.core.templating import latex_escape, markdown_escape, render
from symprop.derivation.build import (
    CheckReport,
    Derivation,
    MatrixPartial,
    SampleSum,
    ScalarPartial,
    Step,
    dphi,
    phi,
)
from symprop.printers.latex import (
    Activation,
    LatexPrinter,
    LayerOf,
    Relation,
    RoleSymbol,
    Span,
)

__all__ = [
    "CheckedDerivation",
    "checked",
    "document_context",
    "regenerate",
    "to_latex",
    "to_markdown",
    "to_math",
    "write_latex",
    "write_markdown",
    "write_pdf",
]

Segment = str | sp.Basic
"""A piece of a sentence: plain text, or an expression the printer renders as math."""

# Quantities used by the justification rules (the derivation's own symbols).
_l, _L = g.l_sym, g.L_sym
_j, _k, _i = g.j, g.k, g.i
_m = sp.Symbol("m", integer=True, positive=True)
_C, _J = g.scalar("C"), g.scalar("J")


# --- proof before print ----------------------------------------------------------------


@dataclass(frozen=True)
class CheckedDerivation:
    """A derivation together with the passing report of its ``check()``.

    Build it with :func:`checked`; the emitters accept nothing else, so every formula in
    a document comes from a derivation whose check passed.
    """

    derivation: Derivation
    report: CheckReport


def checked(derivation: Derivation | CheckedDerivation) -> CheckedDerivation:
    """Run ``derivation.check(strict=True)`` and wrap the derivation with its report.

    Raises
    ------
    DerivationCheckError
        When any step fails its check (nothing is emitted).
    """
    if isinstance(derivation, CheckedDerivation):
        return derivation
    report = derivation.check(strict=True)
    return CheckedDerivation(derivation, report)


def _require_checked(obj: object) -> CheckedDerivation:
    if not isinstance(obj, CheckedDerivation):
        raise SymPropError(
            "documents are emitted only from a checked derivation; "
            "pass symprop.documents.emit.checked(derivation)"
        )
    return obj


# --- rendering segments --------------------------------------------------------------


class _Renderer:
    """Prints expressions and segment lists for one document (one profile, one depth)."""

    def __init__(self, profile: str, depth: int) -> None:
        self.printer = LatexPrinter(profile, depth)

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


# --- justifications --------------------------------------------------------------------


def _activation_by_unicode(name: str) -> str:
    for act in ACTIVATIONS.values():
        if act.unicode == name:
            return act.name
    raise SymPropError(f"no activation is written {name!r}")


def _a(layer: sp.Expr | int) -> sp.IndexedBase:
    return g.indexed("a", layer)


def _z(layer: sp.Expr | int) -> sp.IndexedBase:
    return g.indexed("z", layer)


def _softmax_definition() -> sp.Expr:
    act = ACTIVATIONS["softmax"]
    return act.definition.subs(n_units, g.width(_L))


def _kernel(activation: str, kernel: str, solution: str) -> tuple[sp.Expr, sp.Expr]:
    """The proven substitution ``kernel = solution`` of an activation, found by its text."""
    for kern in _output_kernels(activation):
        if sp.sstr(kern.kernel) == kernel and sp.sstr(kern.solution) == solution:
            return kern.kernel, kern.solution
    raise SymPropError(f"no substitution {kernel} = {solution} is known for {activation}")


def _since_rule(text: str) -> list[Segment]:
    """A calculus rule text (``since a = σ(z)``…) with its leading ``since`` dropped."""
    segs = translate(text)
    if segs and isinstance(segs[0], str) and segs[0].startswith("since "):
        segs = [segs[0][len("since ") :], *segs[1:]]
    return [s for s in segs if s != ""]


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], list[Segment]]]

_RULES: list[Rule] = [
    (
        re.compile(r"by the chain rule: a\^(\d+)_j is the only output that depends on z\^\1_j"),
        lambda m: [
            "by the chain rule: ",
            _a(int(m[1]))[_j],
            " is the only output that depends on ",
            _z(int(m[1]))[_j],
        ],
    ),
    (
        re.compile(r"by the chain rule: every a\^(\d+)_i depends on z\^\1_j"),
        lambda m: [
            "by the chain rule: every ",
            _a(int(m[1]))[_i],
            " depends on ",
            _z(int(m[1]))[_j],
        ],
    ),
    (
        re.compile(r"since a\^(\d+)_j = (.+)\(z\^\1_j\)"),
        lambda m: [
            "since ",
            Relation(
                _a(int(m[1]))[_j],
                activation_function(_activation_by_unicode(m[2]))(_z(int(m[1]))[_j]),
            ),
        ],
    ),
    (
        re.compile(r"by the chain rule, with (.+)"),
        lambda m: ["by the chain rule, with ", *_since_rule(m[1])],
    ),
    (
        re.compile(r"by the chain rule through the Jacobian, (.+)"),
        lambda m: ["by the chain rule through the Jacobian, ", *translate(m[1])],
    ),
    (
        re.compile(r"since a = (.+)\(z\)"),
        lambda m: [
            "since ",
            Relation(a_unit, activation_function(_activation_by_unicode(m[1]))(z_unit)),
        ],
    ),
    (
        re.compile(r"since (.+)\(z\) = (.+)"),
        lambda m: [
            "since ",
            Relation(
                activation_function(_activation_by_unicode(m[1]))(z_unit),
                ACTIVATIONS[_activation_by_unicode(m[1])].definition,
            ),
        ],
    ),
    (
        re.compile(r"substituting (.+) = (.+) with a = (.+)\(z\)"),
        lambda m: [
            "substituting ",
            Relation(*_kernel(_activation_by_unicode(m[3]), m[1], m[2])),
            " with ",
            Relation(a_unit, activation_function(_activation_by_unicode(m[3]))(z_unit)),
        ],
    ),
    (
        re.compile(r"since a_i = exp\(z_i\) / sum_k exp\(z_k\)"),
        lambda m: [
            "since ",
            Relation(a_unit_vec[i_idx], _softmax_definition().subs(z_vec, z_vec)),
        ],
    ),
    (
        re.compile(r"summing over i, since δ_ij picks out i = j"),
        lambda m: [
            "summing over ",
            _i,
            ", since ",
            sp.KroneckerDelta(_i, _j, evaluate=False),
            " picks out ",
            Relation(_i, _j),
        ],
    ),
    (
        re.compile(r"since Σ_i y_i = 1"),
        lambda m: [
            "since ",
            Relation(sp.Sum(g.indexed("y")[_i], (_i, 1, g.width(_L))), sp.Integer(1)),
        ],
    ),
    (
        re.compile(r"Σ_i y_i = 1 \((.+)\)"),
        lambda m: [
            Relation(sp.Sum(g.indexed("y")[_i], (_i, 1, g.width(_L))), sp.Integer(1)),
            f" ({m[1]})",
        ],
    ),
    (
        re.compile(r"by the chain rule: z\^l affects C only through z\^\{l\+1\}"),
        lambda m: [
            "by the chain rule: ",
            g.vector("z", _l),
            " affects ",
            _C,
            " only through ",
            g.vector("z", _l + 1),
        ],
    ),
    (
        re.compile(r"by definition of δ\^\{l\+1\}, and the chain rule through a\^l_j"),
        lambda m: [
            "by definition of ",
            g.vector("delta", _l + 1),
            ", and the chain rule through ",
            _a(_l)[_j],
        ],
    ),
    (
        re.compile(
            r"since z\^\{l\+1\}_k = Σ_m w\^\{l\+1\}_\{km\} a\^l_m \+ b\^\{l\+1\}_k "
            r"and a\^l_j = φ\(z\^l_j\)"
        ),
        lambda m: [
            "since ",
            Relation(
                _z(_l + 1)[_k],
                sp.Sum(g.indexed("W", _l + 1)[_k, _m] * _a(_l)[_m], (_m, 1, g.width(_l)))
                + g.indexed("b", _l + 1)[_k],
            ),
            " and ",
            Relation(_a(_l)[_j], phi(_z(_l)[_j])),
        ],
    ),
    (
        re.compile(r"φ'\(z\^l_j\) does not depend on k"),
        lambda m: [dphi(_z(_l)[_j]), " does not depend on ", _k],
    ),
    (
        re.compile(
            r"the index form for all j: Σ_k w_kj δ_k is row j of \(W\^\{l\+1\}\)ᵀ δ\^\{l\+1\}"
        ),
        lambda m: [
            "the index form for all ",
            _j,
            ": ",
            sp.Sum(
                g.indexed("W", _l + 1)[_k, _j] * g.indexed("delta", _l + 1)[_k],
                (_k, 1, g.width(_l + 1)),
            ),
            " is row ",
            _j,
            " of ",
            g.matrix("W", _l + 1).T * g.vector("delta", _l + 1),
        ],
    ),
    (
        re.compile(r"by the chain rule: w\^l_jk enters only z\^l_j"),
        lambda m: [
            "by the chain rule: ",
            g.indexed("W", _l)[_j, _k],
            " enters only ",
            _z(_l)[_j],
        ],
    ),
    (
        re.compile(r"by definition of δ\^l, and differentiating z\^l_j"),
        lambda m: [
            "by definition of ",
            g.vector("delta", _l),
            ", and differentiating ",
            _z(_l)[_j],
        ],
    ),
    (
        re.compile(r"by the per-sample gradient and the definition of Δ\^l"),
        lambda m: [
            "by the per-sample gradient and the definition of ",
            g.matrix("Delta", _l),
        ],
    ),
    (
        re.compile(r"J = C \+ λ Σ_l Σ_jk \(w\^l_jk\)², and only one term holds w\^l_jk"),
        lambda m: [
            Relation(
                _J,
                _C
                + g.scalar("lambda")
                * sp.Sum(
                    g.indexed("W", _l)[_j, _k] ** 2,
                    (_k, 1, g.width(_l - 1)),
                    (_j, 1, g.width(_l)),
                    (_l, 1, _L),
                ),
            ),
            ", and only one term holds ",
            g.indexed("W", _l)[_j, _k],
        ],
    ),
    (
        re.compile(r"Δ\^(\d+) = Σ_i δ\^\1\(i\) \(a\^(\d+)\(i\)\)ᵀ"),
        lambda m: [
            Relation(
                g.matrix("Delta", int(m[1])),
                SampleSum(
                    g.vector("delta", int(m[1])) * g.vector("a", int(m[2])).T,
                    _i,
                    g.n_batch,
                ),
            )
        ],
    ),
    (
        re.compile(r"mean of δ over the batch"),
        lambda m: ["mean of ", RoleSymbol("delta"), " over the batch"],
    ),
    (
        re.compile(r"a gradient-descent step with learning rate η"),
        lambda m: ["a gradient-descent step with learning rate ", g.scalar("eta")],
    ),
    (
        re.compile(r"layer (\d+): ([\w ]+)"),
        lambda m: ["layer ", LayerOf("a", int(m[1])), ": ", m[2].replace("_", " ")],
    ),
    (
        re.compile(r"φ applied elementwise"),
        lambda m: [Activation("phi"), " applied elementwise"],
    ),
]

# Single letters that are math when they stand alone in a justification (``for all j``).
_LETTERS: dict[str, sp.Basic] = {
    "i": _i,
    "j": _j,
    "k": _k,
    "l": _l,
    "n": g.n_batch,
    "C": _C,
    "J": _J,
}
_MATHY = re.compile(r"[\^_=+/\\ΣσφδΔλη'ᵀ²∂(){}]")


def translate(text: str) -> list[Segment]:
    """Turn one justification of the derivation into text and expression segments.

    Raises
    ------
    SymPropError
        When the sentence holds math that no rule of :data:`_RULES` covers.
    """
    for pattern, build in _RULES:
        match = pattern.fullmatch(text)
        if match:
            return build(match)
    segments: list[Segment] = []
    for n, piece in enumerate(re.split(r"\b([ijklnCJ])\b", text)):
        if n % 2:
            segments.append(_LETTERS[piece])
        elif piece:
            if _MATHY.search(piece.replace("(", "").replace(")", "")):
                raise SymPropError(f"no LaTeX rendering is known for the justification {text!r}")
            segments.append(piece)
    return segments


# --- the document context ---------------------------------------------------------------


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
    edges: tuple[tuple[str, str], ...]
    diagram_scale: str
    diagram_top: str
    diagram_bottom: str
    sections: tuple[Section, ...]
    algorithm: tuple[AlgorithmItem, ...]
    summary: tuple[Section, ...]
    assumptions: tuple[Sentence, ...]
    cancellation: Sentence | None
    claims: int

    def as_dict(self) -> dict[str, object]:
        """The context as a mapping for Jinja."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


_WIDE = 46  # printed characters of a line beyond which its justification moves below it


def _visual_width(tex: str) -> int:
    """A rough count of the glyphs a LaTeX formula typesets on one line.

    Used only to decide whether a justification fits beside a formula; the compile test's
    overfull-box check is what guards the page width.
    """
    text = re.sub(r"\\(left|right|mathrel|operatorname|text|mathcal|hat)\b", "", tex)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", lambda m: max(m[1], m[2], key=len), text)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    text = re.sub(r"[{}^_]|\s", "", text)
    return len(text)


class _Builder:
    def __init__(self, cd: CheckedDerivation, profile: str) -> None:
        self.cd = cd
        self.d = cd.derivation
        self.net: Network = self.d.network
        self.profile = get_profile(profile)
        self.r = _Renderer(profile, self.net.depth)

    # small helpers
    def sentence(self, segments: Sequence[Segment]) -> Sentence:
        return Sentence(
            self.r.tex(segments), self.r.inline_math(segments), self.r.markdown(segments)
        )

    def equation(self, step: Step, full: bool = True) -> Equation:
        lhs = self.r.math(step.lhs)
        rel = self.r.math(Relation(sp.Symbol("x"), sp.Symbol("x"), step.relation)).split(" ")[1]
        lines: list[Line] = []
        chain = step.chain if full else step.chain[-1:]
        previous = None
        for rhs, why in chain:
            rhs_tex = self.r.math(rhs)
            if rhs_tex == previous:
                # The printer already shows this line's simplification (e.g. 2(a − y)).
                continue
            previous = rhs_tex
            segs = translate(why)
            first = not lines
            lines.append(
                Line(
                    lhs=lhs if first else "",
                    rel=rel if first else "=",
                    rhs=rhs_tex,
                    why_tex=self.r.tex(segs),
                    why_math=self.r.inline_math(segs),
                    why_md=self.r.markdown(segs),
                    wide=_visual_width(lhs + rhs_tex) > _WIDE,
                )
            )
        return Equation(step.id, tuple(lines))

    def eqs(self, *ids: str, full: bool = True) -> list[Equation]:
        return [self.equation(self.d.step(i), full) for i in ids]

    # parts of the document
    def spec_line(self) -> Sentence:
        net = self.net
        segs: list[Segment] = [
            "Layer widths ",
            Span(g.width(0), g.width(net.depth)),
            ": ",
            ", ".join(str(w) for w in net.widths),
            "; activations ",
        ]
        for n, layer in enumerate(net.layers):
            segs += [Activation(layer.activation)] + ([", "] if n < net.depth - 1 else [])
        segs += [f"; loss: {LOSSES[net.loss].unicode}; weight decay "]
        segs += [Relation(g.scalar("lambda"), sp.Float(net.l2, 4) if net.l2 else sp.Integer(0))]
        segs += ["."]
        return self.sentence(segs)

    def notation(self) -> tuple[list[NotationRow], list[Sentence]]:
        p, net = self.profile, self.net
        rows: list[tuple[sp.Basic, list[Segment]]] = [
            (_L, [p.layer_count + "; here ", Relation(_L, LayerOf("a", net.depth))]),
            (g.width(_l), [p.role("n").description]),
            (
                Relation(g.vector("a", 0), g.vector("x", None, g.width(0))),
                [p.role("x").description + "; the input is layer ", LayerOf("a", 0)],
            ),
            (g.vector("y", None, g.width(_L)), [p.role("y").description]),
        ]
        if p.output is not None:
            rows.append((g.vector("a", _L), ["output of the network"]))
        rows += [
            (g.indexed("z", _l)[_j], [p.role("z").description]),
            (g.indexed("a", _l)[_j], [p.role("a").description]),
            (Relation(g.indexed("a", _l)[_j], phi(_z(_l)[_j])), ["activation function"]),
            (g.indexed("W", _l)[_j, _k], [p.role("W").description]),
            (g.indexed("b", _l)[_j], [p.role("b").description]),
            (
                Relation(g.indexed("delta", _l)[_j], ScalarPartial(_C, _z(_l)[_j])),
                [p.role("delta").description],
            ),
            (_C, [p.role("C").description]),
            (_J, [p.role("J").description]),
            (g.scalar("lambda"), [p.role("lambda").description]),
            (g.scalar("eta"), [p.role("eta").description]),
            (g.n_batch, ["number of samples in a mini-batch, indexed by ", _i]),
            (g.matrix("Delta", _l), [p.role("Delta").description]),
        ]
        if "D" in p.roles:
            rows.append(
                (
                    Relation(g.matrix("D", _l), MatrixPartial(_J, g.matrix("W", _l))),
                    [p.role("D").description],
                )
            )
        u, v = sp.MatrixSymbol("u", 2, 1), sp.MatrixSymbol("v", 2, 1)
        rows += [
            (
                sp.HadamardProduct(u, v),
                [
                    "elementwise (Hadamard) product; likewise, functions "
                    "and quotients of vectors act elementwise"
                ],
            ),
            (u.T, ["transpose"]),
        ]
        if any(not ACTIVATIONS[lay.activation].elementwise for lay in net.layers):
            rows.append(
                (sp.KroneckerDelta(_i, _j, evaluate=False), ["1 if the indices are equal, else 0"])
            )
        table = [
            NotationRow(self.r.math(sym), self.r.tex(meaning), self.r.markdown(meaning))
            for sym, meaning in rows
        ]
        conventions = [
            self.sentence(
                [
                    g.indexed("W", _l)[_j, _k],
                    " is the weight from unit ",
                    _k,
                    " of layer ",
                    LayerOf("a", _l - 1),
                    " to unit ",
                    _j,
                    " of layer ",
                    LayerOf("a", _l),
                    "; so ",
                    g.matrix("W", _l),
                    " has ",
                    g.width(_l),
                    " rows and ",
                    g.width(_l - 1),
                    " columns.",
                ]
            ),
            self.sentence(
                [
                    "A parenthesised superscript marks the quantity of sample ",
                    _i,
                    " of a mini-batch, e.g. ",
                    _sample_of(_C),
                    ".",
                ]
            ),
        ]
        return table, conventions

    def diagram(self) -> tuple[list[Column], list[tuple[str, str]], str, str, str]:
        net = self.net
        columns: list[Column] = []
        edges: list[tuple[str, str]] = []
        previous: list[str] = []
        max_drawn = 6
        for lay, width in enumerate(net.widths):
            shown = list(range(1, width + 1))
            ellipsis = None
            if width > max_drawn:
                shown = [1, 2, 3, width]
            slots = len(shown) + (1 if width > max_drawn else 0)
            units: list[Unit] = []
            x = lay * 2.8
            for slot in range(slots):
                y = (slots - 1) / 2 - slot * 1.15
                if width > max_drawn and slot == 3:
                    ellipsis = f"{y:.2f}"
                    continue
                unit = shown[slot if slot < 3 or width <= max_drawn else slot - 1]
                quantity = (
                    g.indexed("x")[sp.Integer(unit)]
                    if lay == 0
                    else g.indexed("a", lay)[sp.Integer(unit)]
                )
                units.append(Unit(f"u{lay}x{unit}", f"{x:.2f}", f"{y:.2f}", self.r.math(quantity)))
            for node in units:
                edges += [(src, node.node) for src in previous]
            previous = [u.node for u in units]
            layer = net.layers[lay - 1] if lay else None
            columns.append(
                Column(
                    units=tuple(units),
                    ellipsis=ellipsis,
                    x=f"{x:.2f}",
                    caption_layer=self.r.tex(
                        ["input layer " if lay == 0 else "layer ", LayerOf("a", lay)]
                    ),
                    caption_width=self.r.tex([Relation(g.width(lay), sp.Integer(width))]),
                    caption_activation=self.r.tex([Activation(layer.activation)]) if layer else "",
                    matrix=self.r.math(g.matrix("W", lay)) if lay else None,
                    width=width,
                    caption_layer_md=self.r.markdown([LayerOf("a", lay)]),
                    activation_md=self.r.markdown([Activation(layer.activation)])
                    if layer
                    else "input",
                )
            )
        scale = min(1.0, 15.0 / (2.8 * net.depth + 2.0))
        ys = [float(u.y) for c in columns for u in c.units]
        return columns, edges, f"{scale:.2f}", f"{max(ys) + 0.8:.2f}", f"{min(ys) - 0.8:.2f}"

    def sections(self) -> list[Section]:
        d, net = self.d, self.net
        L = net.depth
        secs: list[Section] = []
        secs.append(
            Section(
                "Forward pass",
                self.sentence(
                    [
                        "Each unit ",
                        _j,
                        " of layer ",
                        LayerOf("a", _l),
                        " forms a weighted input and applies the activation of its layer; "
                        "first in index form, then for the whole layer.",
                    ]
                ),
                tuple(
                    self.eqs("forward.z.index", "forward.a.index")
                    + self.eqs("forward.z.matrix", "forward.a.matrix")
                ),
            )
        )
        concrete = [self.equation(d.step("forward.input"))]
        for lay in range(1, L + 1):
            ids = [f"forward.layer.{lay}.z", f"forward.layer.{lay}"]
            concrete += [self.equation(d.step(i)) for i in ids if _has(d, i)]
        secs.append(
            Section(
                "Forward pass of this network",
                None,
                tuple(concrete),
            )
        )
        secs.append(
            Section(
                "Cost",
                self.sentence(
                    [
                        "The cost of one sample, its mean over a mini-batch, and the "
                        "objective with L2 weight decay."
                    ]
                ),
                tuple(self.eqs("cost.sample", "cost.batch", "cost.objective")),
            )
        )
        act_eqs = [self.equation(step) for step in d.section("activation")]
        secs.append(
            Section(
                "Derivatives of the activations",
                self.sentence(
                    [
                        "Each activation used is differentiated from its definition; where "
                        "the derivative can be written with the activation's own output, "
                        "that form is used (and proven equal by SymPy)."
                    ]
                ),
                tuple(act_eqs),
            )
        )
        secs.append(
            Section(
                "Local gradient of the output layer",
                self.sentence(
                    [
                        "By definition ",
                        Relation(
                            g.indexed("delta", L)[_j], ScalarPartial(_C, g.indexed("z", L)[_j])
                        ),
                        ". Line by line:",
                    ]
                ),
                tuple(self.eqs("delta.output.index", "delta.output.matrix")),
            )
        )
        secs.append(
            Section(
                "Local gradients of the hidden layers",
                self.sentence(
                    [
                        "For a hidden layer ",
                        Relation(_l, Span(LayerOf("a", 1), LayerOf("a", L - 1)))
                        if L > 1
                        else LayerOf("a", _l),
                        ", in index form, then in matrix form:",
                    ]
                ),
                tuple(self.eqs("delta.hidden.index", "delta.hidden.matrix")),
            )
        )
        secs.append(
            Section(
                "Gradients of the parameters",
                None,
                tuple(self.eqs("grad.w.index", "grad.b.index", "grad.W.matrix", "grad.b.matrix")),
            )
        )
        secs.append(
            Section(
                "Mini-batch averaging and weight decay",
                None,
                tuple(
                    self.eqs(
                        "batch.Delta",
                        "batch.grad_C",
                        "batch.grad_J.index",
                        "batch.grad_J.W",
                        "batch.grad_J.b",
                    )
                ),
            )
        )
        secs.append(
            Section(
                "Gradient-descent update",
                None,
                tuple(self.eqs("update.W", "update.b")),
            )
        )
        return secs

    def algorithm(self) -> list[AlgorithmItem]:
        # Loop ranges are written with the unit layers' labels (z, δ), which is how the
        # loop variable l appears in the formulas of every profile.
        d, L = self.d, self.net.depth

        def formula(step_id: str, depth: int) -> AlgorithmItem:
            st = d.step(step_id)
            return AlgorithmItem(depth, None, self.r.math(Relation(st.lhs, st.rhs, st.relation)))

        def text(segs: list[Segment], depth: int) -> AlgorithmItem:
            return AlgorithmItem(depth, self.sentence(segs), None)

        items = [
            text(
                [
                    "Input: a mini-batch of ",
                    g.n_batch,
                    " samples, learning rate ",
                    g.scalar("eta"),
                    ", weight decay ",
                    g.scalar("lambda"),
                    ".",
                ],
                0,
            ),
            text(["For each sample ", Relation(_i, Span(sp.Integer(1), g.n_batch)), ":"], 0),
            text(["forward: set"], 1),
            formula("forward.input", 2),
            text(["for ", Relation(_l, Span(LayerOf("z", 1), LayerOf("z", L))), ":"], 1),
            formula("forward.z.matrix", 2),
            formula("forward.a.matrix", 2),
            text(["output error:"], 1),
            formula("delta.output.matrix", 2),
        ]
        if L > 1:
            items += [
                text(
                    [
                        "backward, for ",
                        Relation(_l, Span(LayerOf("delta", L - 1), LayerOf("delta", 1))),
                        ":",
                    ],
                    1,
                ),
                formula("delta.hidden.matrix", 2),
            ]
        items += [
            text(
                [
                    "Gradients, for ",
                    Relation(_l, Span(LayerOf("z", 1), LayerOf("z", L))),
                    ":",
                ],
                0,
            ),
            formula("batch.Delta", 1),
            formula("batch.grad_J.W", 1),
            formula("batch.grad_J.b", 1),
            text(["Update, for the same layers:"], 0),
            formula("update.W", 1),
            formula("update.b", 1),
        ]
        return items

    def summary(self) -> list[Section]:
        d, L = self.d, self.net.depth
        forward = [self.equation(d.step("forward.input"))]
        for lay in range(1, L + 1):
            ids = [f"forward.layer.{lay}.z", f"forward.layer.{lay}"]
            forward += [self.equation(d.step(i), full=False) for i in ids if _has(d, i)]
        summary = d.section("summary")
        backward = [self.equation(st) for st in summary if st.id.startswith("summary.delta.")]
        grads = [self.equation(st) for st in summary if st.id.startswith("summary.grad_")]
        return [
            Section("Forward", None, tuple(forward)),
            Section("Backward", None, tuple(backward)),
            Section("Gradients of the objective", None, tuple(grads)),
            Section(
                "Update",
                None,
                tuple(self.eqs("update.W", "update.b", full=False)),
            ),
        ]

    def assumptions(self) -> list[Sentence]:
        out: list[Sentence] = []
        seen: set[str] = set()
        for lf in self.d.layers:
            kink = lf.dphi.kink_value
            if kink is None or lf.activation in seen:
                continue
            seen.add(lf.activation)
            params = {
                p.symbol: sp.Float(lf.params[p.name], 4)
                for p in ACTIVATIONS[lf.activation].parameters
            }
            segs: list[Segment] = [
                Activation(lf.activation),
                " is not differentiable at ",
                Relation(z_unit, sp.Integer(0)),
                "; the derivative there is taken as ",
                Relation(activation_prime_function(lf.activation)(sp.Integer(0)), kink),
            ]
            if params:
                segs += [" with "] + [Relation(s, v) for s, v in params.items()]
            segs += [" (a measure-zero event for real-valued inputs)."]
            out.append(self.sentence(segs))
        for text in self.d.output_delta.assumptions:
            out.append(self.sentence([*translate(text), "."]))
        if not self.net.regularize_biases:
            out.append(self.sentence(["Biases are not regularised."]))
        return out

    def cancellation(self) -> Sentence | None:
        od = self.d.output_delta
        L = self.net.depth
        act = self.net.layers[-1].activation
        if self.d.canonical:
            return self.sentence(
                [
                    "The pair ",
                    Activation(act),
                    " and ",
                    LOSSES[self.net.loss].unicode,
                    " is canonical: the derivative of the activation cancels against the "
                    "derivative of the loss, and only ",
                    self.d.step("delta.output.matrix").rhs,
                    " is left.",
                ]
            )
        del od
        return self.sentence(
            [
                "For this pair the derivative of the activation does not cancel: ",
                g.vector("delta", L),
                " is the product of the loss derivative and ",
                Activation(act, 1),
                ".",
            ]
        )

    def build(self) -> DocumentContext:
        table, conventions = self.notation()
        columns, edges, scale, top, bottom = self.diagram()
        net = self.net
        return DocumentContext(
            title_tex=latex_escape(net.title or net.name),
            title_md=markdown_escape(net.title or net.name),
            name_tex=latex_escape(net.name),
            name_md=markdown_escape(net.name),
            profile=self.profile.name,
            profile_source=latex_escape(self.profile.source),
            spec_line=self.spec_line(),
            notation=tuple(table),
            conventions=tuple(conventions),
            columns=tuple(columns),
            edges=tuple(edges),
            diagram_scale=scale,
            diagram_top=top,
            diagram_bottom=bottom,
            sections=tuple(self.sections()),
            algorithm=tuple(self.algorithm()),
            summary=tuple(self.summary()),
            assumptions=tuple(self.assumptions()),
            cancellation=self.cancellation(),
            claims=len(self.cd.report.results),
        )


def _has(d: Derivation, step_id: str) -> bool:
    return any(st.id == step_id for st in d.steps)


def _sample_of(expr: sp.Basic) -> sp.Basic:
    from symprop.derivation.build import SampleOf

    return SampleOf(expr, _i)


def document_context(cd: CheckedDerivation, notation: str | None = None) -> DocumentContext:
    """The typed context of a document: every formula printed, every user string escaped.

    Parameters
    ----------
    cd
        A derivation that passed its check (see :func:`checked`).
    notation
        A profile name overriding the spec's ``notation``.
    """
    cd = _require_checked(cd)
    return _Builder(cd, notation or cd.derivation.network.notation).build()


# --- outputs ------------------------------------------------------------------------


def to_latex(cd: CheckedDerivation, notation: str | None = None) -> str:
    """The LaTeX source of the derivation document.

    Examples
    --------
    >>> from symprop import Network, Dense, derive
    >>> net = Network(inputs=2, layers=[Dense(1, "sigmoid")], loss="binary_cross_entropy")
    >>> tex = to_latex(checked(derive(net)))
    >>> tex.startswith("% Generated by symprop")
    True
    """
    return render("derivation.tex.j2", document_context(cd, notation).as_dict())


def to_markdown(cd: CheckedDerivation, notation: str | None = None) -> str:
    """The Markdown document (``$$`` math; renders on GitHub and in Jupyter)."""
    return render("derivation.md.j2", document_context(cd, notation).as_dict())


def to_math(cd: CheckedDerivation, notation: str | None = None) -> str:
    """The closing summary alone as one ``$$…$$`` block (for ``_repr_latex_``)."""
    ctx = document_context(cd, notation)
    rows = []
    for section in ctx.summary:
        for eq in section.equations:
            for line in eq.lines:
                rows.append(f"{line.lhs} &{line.rel} {line.rhs}")
    return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"


def write_latex(cd: CheckedDerivation, path: Path | str, notation: str | None = None) -> Path:
    """Write the ``.tex`` document atomically."""
    return write_atomic(path, to_latex(cd, notation))


def write_markdown(cd: CheckedDerivation, path: Path | str, notation: str | None = None) -> Path:
    """Write the ``.md`` document atomically."""
    return write_atomic(path, to_markdown(cd, notation))


def compile_pdf(tex_path: Path | str, timeout: float = 180) -> Path:
    """Typeset a ``.tex`` file to the ``.pdf`` beside it (its ``.log`` too); return the PDF's
    path. LaTeX runs on a copy in a private folder (see :func:`typeset`), so the file's name
    reaches no tool.

    Raises
    ------
    SymPropError
        When latexmk/pdflatex is missing, times out, or LaTeX reports an error (the first
        error line of the log is quoted).
    """
    tex_path = Path(tex_path)
    source = tex_path.read_text("utf-8")
    log = tex_path.with_suffix(".log")
    try:
        pdf, log_text = typeset(source, timeout)
    except _LatexFailed as failed:
        write_atomic(log, failed.log)
        raise SymPropError(
            f"LaTeX failed on {shown_path(tex_path)}: {failed} (see {log})"
        ) from None
    write_atomic(log, log_text)
    return write_atomic(tex_path.with_suffix(".pdf"), pdf)


class _LatexFailed(SymPropError):
    def __init__(self, first_line: str, log: str) -> None:
        super().__init__(first_line)
        self.log = log


def typeset(source: str, timeout: float = 180) -> tuple[bytes, str]:
    """The PDF and the log of the LaTeX ``source``.

    latexmk runs in a private folder on the fixed name ``doc.tex`` (no user path is ever an
    argument of a tool), in a process group of its own that is killed on every way out: an
    error, the timeout, Ctrl-C, SIGTERM; on Linux latexmk also dies with symprop if it is
    killed outright. The folder (:func:`symprop.core.files.private_folder`) is removed afterwards,
    or by a later run if symprop was killed.
    """
    latexmk = require_tex()
    with private_folder("tex") as folder:
        (folder / "doc.tex").write_text(source, "utf-8")
        command = [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-quiet"]
        process = subprocess.Popen(
            [*command, "doc.tex"],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise SymPropError(f"latexmk took longer than {timeout:.0f} s") from None
        finally:
            if process.returncode is None:  # not reaped: its group id is still its own
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log_path, pdf = folder / "doc.log", folder / "doc.pdf"
        log = log_path.read_text("utf-8", "replace") if log_path.exists() else ""
        if process.returncode != 0 or not pdf.exists():
            lines = log.splitlines()
            raise _LatexFailed(
                next((ln for ln in lines if ln.startswith("!")), "no error line in the log"), log
            )
        return pdf.read_bytes(), log


def require_tex() -> str:
    """The path of latexmk, when latexmk and pdflatex are installed; else a SymPropError."""
    latexmk = shutil.which("latexmk")
    if latexmk is None or shutil.which("pdflatex") is None:
        raise SymPropError(
            "--pdf needs TeX Live (latexmk and pdflatex); install texlive-latex-base, "
            "texlive-latex-recommended, texlive-pictures and latexmk, or use --latex"
        )
    return latexmk


def _die_with_parent() -> None:
    """In the child, before latexmk starts: be killed when symprop dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()


def write_pdf(cd: CheckedDerivation, path: Path | str, notation: str | None = None) -> Path:
    """Typeset the document to ``path`` (a ``.pdf``, written atomically)."""
    try:
        pdf, _ = typeset(to_latex(cd, notation))
    except _LatexFailed as failed:
        raise SymPropError(
            f"LaTeX failed on the document of {shown_path(path)}: {failed}"
        ) from None
    return write_atomic(path, pdf)


def example_specs(examples: Path | str | None = None) -> list[Path]:
    """The network specs among ``examples/*.toml`` (files without ``layers`` are skipped)."""
    root = Path(examples) if examples else Path(__file__).resolve().parents[2] / "examples"
    out = []
    for path in sorted(root.glob("*.toml")):
        with open(path, "rb") as stream:
            if "layers" in tomllib.load(stream):
                out.append(path)
    return out


def regenerate(outdir: Path | str, examples: Path | str | None = None) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.md`` for every example network into ``outdir``.

    Byte-identical on every run (no timestamps, no unordered iteration); each derivation
    is checked before anything is written.
    """
    outdir = Path(outdir)
    written: list[Path] = []
    from symprop.derivation.build import derive

    for spec in example_specs(examples):
        net = load_spec(spec)
        cd = checked(derive(net))
        written.append(write_latex(cd, outdir / f"{net.name}.tex"))
        written.append(write_markdown(cd, outdir / f"{net.name}.md"))
    return written


def known_notations() -> tuple[str, ...]:
    """The names of the notation profiles."""
    return tuple(PROFILES)


if __name__ == "__main__":  # python -m symprop.documents.emit [OUTDIR]: refresh the golden files
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "generated"
    for written in regenerate(target):
        print(written)
