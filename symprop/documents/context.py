"""The typed context of a derivation document: every formula and sentence printed.

:func:`document_context` turns a checked derivation into :class:`DocumentContext`, a tree of
frozen dataclasses of strings that the templates lay out. Formulas are printed by
:class:`~symprop.printers.latex.LatexPrinter` in the document's notation profile;
justifications are :class:`~symprop.core.why.Why` data, whose text segments are escaped and
whose expressions are printed like every other formula.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sympy as sp

from symprop.core import symbols as g
from symprop.core.layers import get_layer_kind
from symprop.core.notation import get_profile
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import Network
from symprop.core.templating import latex_escape, markdown_escape
from symprop.core.why import Activation, LayerOf, Relation, Segment, Span
from symprop.derivation.steps import (
    DerivationView,
    MatrixPartial,
    ScalarPartial,
    Step,
    formula_numbers,
    phi,
)
from symprop.documents.blocks import (
    AlgorithmItem,
    Column,
    DocumentContext,
    Equation,
    Line,
    NotationRow,
    Renderer,
    Section,
    Sentence,
    Unit,
)
from symprop.documents.checked import CheckedDerivation, require_checked
from symprop.documents.kinds import (
    graph_algorithm,
    has_weights,
    kind_groups,
    kind_intro,
    kind_notation,
    kind_title,
    one_to_one,
)
from symprop.documents.layout import FULL_ROW, rows
from symprop.documents.lecture import lecture_sections
from symprop.documents.profiles import output_error, profile_algorithm, profile_conventions
from symprop.documents.worked import worked_sections

__all__ = ["DocumentContext", "document_context"]

# Quantities of the document's own sentences (the derivation's symbols).
_l, _L = g.l_sym, g.L_sym
_j, _k, _i = g.j, g.k, g.i
_C, _J = g.scalar("C"), g.scalar("J")


# --- the document context ---------------------------------------------------------------


_WIDE = 46  # printed characters of a line beyond which its justification moves below it


def _visual_width(tex: str) -> int:
    """A rough count of the glyphs a LaTeX formula typesets on one line.

    Used only to decide whether a justification fits beside a formula; the compile test's
    overfull-box check is what guards the page width. It measures the printed text (how
    wide TeX will set it) and reads no mathematics back from it.
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
        self.r = Renderer(profile, self.net.depth, self.net.kinds)
        # Long formulas are broken over rows in networks beyond a dense chain (whose
        # documents keep their layout).
        self.broken = not self.net.dense_chain
        self.numbers = formula_numbers(self.d.steps)

    # small helpers
    def sentence(self, segments: Sequence[Segment]) -> Sentence:
        return Sentence(
            self.r.tex(segments), self.r.inline_math(segments), self.r.markdown(segments)
        )

    def equation(self, step: Step, full: bool = True, below: bool = False) -> Equation:
        """One chain as printed lines; ``below`` puts every reason under its formula, so
        the formulas may take the whole width (a kind's long chains)."""
        lhs = self.r.math(step.lhs)
        rel = self.r.printer.relation(step.relation)
        lines: list[Line] = []
        chain = step.chain if full else step.chain[-1:]
        previous = None
        for rhs, why in chain:
            rhs_tex = self.r.math(rhs)
            if rhs_tex == previous:
                # The printer already shows this line's simplification (e.g. 2(a − y)).
                continue
            previous = rhs_tex
            segs = why.segments
            first = not lines
            parts = rows(self.r.printer, rhs, FULL_ROW) if self.broken or below else [rhs_tex]
            last = len(parts) - 1
            for n, part in enumerate(parts):
                # A broken formula continues on rows of its own; the reason comes with
                # its last row.
                reason = n == last
                lines.append(
                    Line(
                        lhs=lhs if first and n == 0 else "",
                        rel=(rel if first else "=") if n == 0 else r"\quad",
                        rhs=part,
                        why_tex=self.r.tex(segs) if reason else "",
                        why_math=self.r.inline_math(segs) if reason else "",
                        why_md=self.r.markdown(segs) if reason else "",
                        wide=reason
                        and (below or len(parts) > 1 or _visual_width(lhs + part) > _WIDE),
                    )
                )
        return Equation(step.id, tuple(lines), self.numbers.get(step.id))

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
            (
                Relation(g.indexed("a", _l)[_j], phi(g.indexed("z", _l)[_j])),
                ["activation function"],
            ),
            (g.indexed("W", _l)[_j, _k], [p.role("W").description]),
            (g.indexed("b", _l)[_j], [p.role("b").description]),
            (
                Relation(g.indexed("delta", _l)[_j], ScalarPartial(_C, g.indexed("z", _l)[_j])),
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
        rows += kind_notation(net.kinds)
        if any(not ACTIVATIONS[lay.activation].elementwise for lay in net.layers):
            rows.append(
                (sp.KroneckerDelta(_i, _j, evaluate=False), ["1 if the indices are equal, else 0"])
            )
        table = [
            NotationRow(self.r.math(sym), self.r.tex(meaning), self.r.markdown(meaning))
            for sym, meaning in rows
        ]
        conventions = profile_conventions(self.r, p, net)
        return table, conventions

    def diagram(self) -> tuple[list[Column], list[tuple[str, str, str]], str, str, str]:
        net = self.net
        columns: list[Column] = []
        edges: list[tuple[str, str, str]] = []
        drawn: list[list[Unit]] = []
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
            layer = net.layers[lay - 1] if lay else None
            if lay:
                edges += self._wiring(lay, units, drawn)
            drawn.append(units)
            kind = get_layer_kind(layer.kind) if layer else None
            columns.append(
                Column(
                    units=tuple(units),
                    ellipsis=ellipsis,
                    x=f"{x:.2f}",
                    caption_layer=self.r.tex(
                        ["input layer " if lay == 0 else "layer ", LayerOf("a", lay)]
                    ),
                    caption_width=self.r.tex([Relation(g.width(lay), sp.Integer(width))]),
                    caption_activation=self._caption(layer, kind) if layer else "",
                    matrix=self.r.math(g.matrix("W", lay))
                    if kind is not None and has_weights(kind)
                    else None,
                    width=width,
                    caption_layer_md=self.r.markdown([LayerOf("a", lay)]),
                    activation_md=self.r.markdown(self._caption_segments(layer, kind))
                    if layer
                    else "input",
                )
            )
        scale = min(1.0, 15.0 / (2.8 * net.depth + 2.0))
        ys = [float(u.y) for c in columns for u in c.units]
        return columns, edges, f"{scale:.2f}", f"{max(ys) + 0.8:.2f}", f"{min(ys) - 0.8:.2f}"

    def _intermediates(self, lay: int) -> list[str]:
        """Ids of the definitions of layer ``lay``'s named intermediates (μ, σ², σ, x̂)."""
        kind = get_layer_kind(self.net.layers[lay - 1].kind)
        return [f"forward.layer.{lay}.{v.operand.name}" for v in kind.intermediates]

    def _caption_segments(self, layer: object, kind: object) -> list[Segment]:
        """A layer's activation, after its kind's name when the kind is not drawn as a
        weight matrix (``batch norm, ReLU``)."""
        act: list[Segment] = [Activation(layer.activation)]  # type: ignore[attr-defined]
        if kind is None or has_weights(kind):  # type: ignore[arg-type]
            return act
        words = kind_title(kind.name).removeprefix("Layer kind: ")  # type: ignore[attr-defined]
        return [f"{words}, ", *act]

    def _caption(self, layer: object, kind: object) -> str:
        return self.r.tex(self._caption_segments(layer, kind))

    def _wiring(
        self, lay: int, units: list[Unit], drawn: list[list[Unit]]
    ) -> list[tuple[str, str, str]]:
        """The connections into layer ``lay``: from every source of its kind, each unit to
        each unit, or unit to the same unit where the kind acts unit by unit; a source
        other than the previous layer (a skip connection) is drawn as an arc."""
        net = self.net
        kind = get_layer_kind(net.layers[lay - 1].kind)
        out: list[tuple[str, str, str]] = []
        for slot, src in enumerate(net.sources(lay)):
            path = "--" if src == lay - 1 else "to[bend left=35]"
            if one_to_one(kind, slot):
                same = {u.node.split("x")[-1]: u.node for u in drawn[src]}
                out += [
                    (same[u.node.split("x")[-1]], u.node, path)
                    for u in units
                    if u.node.split("x")[-1] in same
                ]
            else:
                out += [(s.node, u.node, path) for u in units for s in drawn[src]]
        return out

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
            ids = [*self._intermediates(lay), f"forward.layer.{lay}.z", f"forward.layer.{lay}"]
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
        for kind, steps in kind_groups(d):
            secs.append(
                Section(
                    kind_title(kind.name),
                    self.sentence(kind_intro(kind)),
                    tuple(self.equation(st, below=True) for st in steps),
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
        d = self.d

        def formula(step_id: str, depth: int) -> AlgorithmItem:
            st = d.step(step_id)
            return AlgorithmItem(depth, None, self.r.math(Relation(st.lhs, st.rhs, st.relation)))

        def text(segs: list[Segment], depth: int) -> AlgorithmItem:
            return AlgorithmItem(depth, self.sentence(segs), None)

        def math(expr: sp.Basic, depth: int) -> AlgorithmItem:
            return AlgorithmItem(depth, None, self.r.math(expr))

        if not self.net.dense_chain:
            return graph_algorithm(self.net, formula, text)
        return profile_algorithm(d, self.net, self.profile, formula, math, text)

    def summary(self) -> list[Section]:
        d, L = self.d, self.net.depth
        forward = [self.equation(d.step("forward.input"))]
        for lay in range(1, L + 1):
            ids = [*self._intermediates(lay), f"forward.layer.{lay}.z", f"forward.layer.{lay}"]
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
        out = [self.sentence([*reason, "."]) for reason in self.d.assumptions]
        if not self.net.regularize_biases:
            out.append(self.sentence(["Biases are not regularised."]))
        return out

    def cancellation(self) -> Sentence | None:
        od = self.d.output_delta
        L = self.net.depth
        act = self.net.layers[-1].activation
        general = output_error(self.net, _C)
        # The index form for all units at once (Nielsen's BP1).
        bp1: list[Segment] = (
            []
            if general is None
            else [
                "For all units at once, ",
                Relation(g.vector("delta", _L), general),
                ", the vector of the ",
                ScalarPartial(_C, g.indexed("a", L)[_j]),
                " times ",
                Activation(act, 1),
                " elementwise. ",
            ]
        )
        if self.d.canonical:
            return self.sentence(
                [
                    *bp1,
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
                *bp1,
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
            worked=worked_sections(self.cd, self.r, self.profile),
            lecture=lecture_sections(self.cd, self.r, self.profile),
        )


def _has(d: DerivationView, step_id: str) -> bool:
    return any(st.id == step_id for st in d.steps)


def document_context(cd: CheckedDerivation, notation: str | None = None) -> DocumentContext:
    """The typed context of a document: every formula printed, every user string escaped.

    Parameters
    ----------
    cd
        A derivation that passed its check (see :func:`checked`).
    notation
        A profile name overriding the spec's ``notation``.
    """
    cd = require_checked(cd)
    return _Builder(cd, notation or cd.derivation.network.notation).build()
