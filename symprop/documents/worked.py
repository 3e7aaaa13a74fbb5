"""The worked example of a derivation document: one sample through the network, with numbers.

:func:`worked_sections` returns the sections printed after the summary: the sample and the
parameters, the forward values (z and a of every layer), the δ of every layer, the gradients
and one gradient-descent step with the spec's learning rate, each line citing the numbered
formula it evaluates. The numbers are those of ``symprop derive --graph``
(:mod:`symprop.documents.worked_numbers`); in the Goodfellow profile the computational graph
itself follows (:mod:`symprop.documents.worked_graph`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import sympy as sp

from symprop.core import symbols as g
from symprop.core.layers import get_layer_kind
from symprop.core.notation import Profile
from symprop.core.spec import Network
from symprop.core.why import Relation, RoleSymbol, Segment
from symprop.derivation.steps import DerivationView, MatrixPartial, Step, formula_numbers
from symprop.documents.blocks import Equation, Line, Renderer, Section, Sentence
from symprop.documents.checked import CheckedDerivation
from symprop.documents.worked_graph import graph_section
from symprop.documents.worked_numbers import WorkedExample, worked_example
from symprop.explain.graph import Value
from symprop.explain.network import BATCH_COUPLED_SAMPLES, MAX_UNITS

__all__ = ["SIGNIFICANT", "graph_names", "shown", "worked_sections"]

SIGNIFICANT = 4
"""Significant digits of the numbers printed (inputs and parameters are exact tenths, and
print as such)."""

_J, _C = g.scalar("J"), g.scalar("C")
_ETA, _LAMBDA = g.scalar("eta"), g.scalar("lambda")


# --- the derivation's symbols and the graph's node names ------------------------------------


def _quantity_of(expr: sp.Basic) -> sp.Basic | None:
    """The named quantity an equation's left-hand side is about (``z^1``, ``x̂^3``, ``μ^3``)."""
    if isinstance(expr, sp.Indexed):
        return expr.base
    if isinstance(expr, MatrixPartial):
        return expr.args[1]
    if isinstance(expr, sp.MatrixSymbol | sp.Symbol | sp.IndexedBase):
        return expr
    return None


def _node_name(symbol: sp.Basic) -> str | None:
    """The computation graph's node name of a derivation quantity: role then layer (``W1``)."""
    name = symbol.label.name if isinstance(symbol, sp.IndexedBase) else getattr(symbol, "name", "")
    found = g.quantity(str(name))
    if found is None:
        return None
    role, layer = found
    return role if layer is None else f"{role}{layer}"


def graph_names(d: DerivationView) -> dict[str, sp.Basic]:
    """Node name → the derivation's symbol for it, from the forward and summary steps."""
    names: dict[str, sp.Basic] = {}
    for st in d.steps:
        if not st.id.startswith(("forward.layer.", "forward.input", "summary.")):
            continue
        symbol = _quantity_of(st.lhs)
        if symbol is not None and (name := _node_name(symbol)) is not None:
            names.setdefault(name, symbol)
    names["x"] = d.step("forward.input").rhs
    names["y"] = g.vector("y", None, g.width(d.network.depth))
    return names


def _parameters(d: DerivationView) -> list[tuple[str, Step]]:
    """(node name, gradient step) of every trained parameter, in the summary's order."""
    out = []
    for st in d.section("summary"):
        if isinstance(st.lhs, MatrixPartial) and (name := _node_name(st.lhs.args[1])):
            out.append((name, st))
    return out


# --- numbers ---------------------------------------------------------------------------------


def _short(entry: sp.Basic) -> sp.Basic:
    number = sp.Float(entry, 30)
    whole = int(number)
    # (Float(0) == 0 is False in SymPy; a zero difference is what says "an integer".)
    if (number - whole).is_zero:
        return sp.Integer(whole)
    return sp.Float(number, SIGNIFICANT)


def shown(value: Value, scalar: bool = False) -> sp.Basic:
    """A value as printed: integers exact, everything else to :data:`SIGNIFICANT` digits;
    ``scalar`` prints a 1×1 value (a layer's mean μ) as the number it is."""
    if isinstance(value, sp.MatrixBase):
        if scalar and value.shape == (1, 1):
            return _short(value[0, 0])
        return sp.ImmutableMatrix(value.applyfunc(_short))
    return _short(value)


# --- the sections ----------------------------------------------------------------------------


class _Writer:
    def __init__(self, cd: CheckedDerivation, renderer: Renderer, ex: WorkedExample) -> None:
        self.d = cd.derivation
        self.r = renderer
        self.ex = ex
        self.numbers = formula_numbers(self.d.steps)
        self.symbols = graph_names(self.d)

    def sentence(self, segments: Sequence[Segment]) -> Sentence:
        return Sentence(
            self.r.tex(segments), self.r.inline_math(segments), self.r.markdown(segments)
        )

    def line(
        self, lhs: sp.Basic | None, rhs: sp.Basic, why: Sequence[Segment] = (), rel: str = "="
    ) -> Line:
        lhs_tex = "" if lhs is None else self.r.math(lhs)
        rhs_tex = self.r.math(rhs)
        # A matrix of three or more columns takes the width; its reason goes below it.
        wide = isinstance(rhs, sp.MatrixBase) and rhs.cols >= 3 or len(rhs_tex) > 150
        return Line(
            lhs=lhs_tex,
            rel=self.r.printer.relation(rel) if lhs is not None else "=",
            rhs=rhs_tex,
            why_tex=self.r.tex(why),
            why_math=self.r.inline_math(why),
            why_md=self.r.markdown(why),
            wide=bool(why) and wide,
        )

    def by(self, step_id: str, *more: Segment) -> list[Segment]:
        number = self.numbers.get(step_id)
        return [f"by ({number})", *more] if number is not None else list(more)

    def value(self, name: str) -> sp.Basic:
        return shown(self.ex.result.values[name])

    def equation(self, key: str, lines: Sequence[Line]) -> Equation:
        return Equation(f"worked.{key}", tuple(lines))

    # the sections
    def sample(self) -> Section:
        net, ex = self.d.network, self.ex
        graph = ex.result.graph
        # The sample first, then the parameters (and given arrays) in the graph's order.
        order = ["x", "y", *(n for n in graph.inputs if n not in ("x", "y"))]
        lines = [
            self.line(self.symbols.get(name, sp.Symbol(name)), self.value(name)) for name in order
        ]
        intro: list[Segment] = [
            "One sample through the network, with the sample and the parameters that "
            "symprop derive --graph draws: inputs and weights are tenths drawn from a seeded "
            "generator, biases tenths in [-0.5, 0.5], the target valid for the loss. Every "
            f"other number is rounded to {SIGNIFICANT} significant digits; each line cites the "
            "formula it evaluates."
        ]
        if ex.narrowed:
            widths = ", ".join(str(w) for w in ex.network.widths)
            intro.append(
                f" This network has layers wider than {MAX_UNITS} units, whose numbers would "
                "not fit a page: the example runs on a copy with the same layers, "
                f"activations, loss and weight decay and at most {MAX_UNITS} units per layer "
                f"(widths {widths}). Every formula of this document holds for the copy "
                "unchanged, since none depends on the widths."
            )
        del net
        return _aligned(
            "Worked example: the sample and the parameters",
            self.sentence(intro),
            (self.equation("sample", lines),),
        )

    def forward(self) -> Section:
        d, ex = self.d, self.ex
        values = ex.result.values
        first = d.step("forward.input")
        eqs = [
            self.equation(
                first.id,
                [
                    self.line(first.lhs, first.rhs),
                    self.line(None, self.value("x"), self.by(first.id)),
                ],
            )
        ]
        for st in d.steps:
            if not st.id.startswith("forward.layer."):
                continue
            symbol = _quantity_of(st.lhs)
            name = _node_name(symbol) if symbol is not None else None
            if name is None or name not in values:
                continue
            if isinstance(st.lhs, sp.MatrixSymbol):
                lines = [
                    self.line(st.lhs, st.rhs, rel=st.relation),
                    self.line(None, self.value(name), self.by(st.id)),
                ]
            else:
                scalar = isinstance(symbol, sp.Symbol)
                value = shown(values[name], scalar)
                lines = [self.line(symbol, value, self.by(st.id))]
            eqs.append(self.equation(st.id, lines))
        cost = [self.line(_C, self.value("C"), self.by("cost.sample"))]
        if ex.output == "J":
            cost.append(self.line(_J, self.value("J"), self.by("cost.objective")))
        eqs.append(self.equation("cost", cost))
        return _aligned(
            "Worked example: forward pass",
            self.sentence(["Each layer in turn, then the cost of the sample:"]),
            tuple(eqs),
        )

    def backward(self) -> Section:
        d, ex = self.d, self.ex
        eqs = []
        for st in d.section("summary"):
            if not st.id.startswith("summary.delta."):
                continue
            symbol = _quantity_of(st.lhs)
            layer = st.id.rsplit(".", 1)[1]
            value = shown(ex.result.grads[f"z{layer}"])
            if isinstance(st.lhs, sp.MatrixSymbol):
                lines = [self.line(st.lhs, st.rhs), self.line(None, value, self.by(st.id))]
            else:
                lines = [self.line(symbol, value, self.by(st.id))]
            eqs.append(self.equation(st.id, lines))
        return _aligned(
            "Worked example: local gradients",
            self.sentence(
                [
                    "From the output layer back to the first, each ",
                    g.vector("delta", g.l_sym),
                    " from the one after it:",
                ]
            ),
            tuple(eqs),
        )

    def update(self) -> Section:
        d, ex = self.d, self.ex
        eta = sp.Float(repr(ex.learning_rate), SIGNIFICANT)
        grads = []
        steps = []
        for name, st in _parameters(d):
            parameter = st.lhs.args[1]
            grads.append(
                self.line(
                    st.lhs,
                    shown(ex.result.grads[name]),
                    self.by(st.id, " with one sample (", Relation(g.n_batch, sp.Integer(1)), ")"),
                )
            )
            rule = "update.W" if parameter.shape[1] != 1 else "update.b"
            template = d.step(rule)
            own = template.lhs
            steps.append(
                self.equation(
                    f"update.{name}",
                    [
                        self.line(parameter, template.rhs.xreplace({own: parameter}), rel="←"),
                        self.line(
                            None,
                            shown(ex.updated[name]),
                            self.by(rule, " with ", Relation(_ETA, eta)),
                        ),
                    ],
                )
            )
        output = _J if ex.output == "J" else _C
        after = self.sentence(
            [
                "At the same sample the step lowers the objective from ",
                Relation(output, shown(ex.result.values[ex.output])),
                " to ",
                shown(ex.objective_after),
                "."
                if ex.objective_after < ex.result.values[ex.output]
                else " (the step is too long for this sample).",
            ]
        )
        return _aligned(
            "Worked example: gradients and one update",
            self.sentence(
                [
                    "The gradient of the objective with respect to each parameter, then one "
                    "gradient-descent step with the learning rate of the spec's training "
                    "settings, ",
                    Relation(_ETA, eta),
                    ":",
                ]
            ),
            (self.equation("gradients", grads), *steps),
            (after,),
        )


def _aligned(
    title: str,
    intro: Sentence | None,
    equations: tuple[Equation, ...],
    paragraphs: tuple[Sentence, ...] = (),
) -> Section:
    """A section whose reasons all go below their formulas when one formula is wide: the
    equations of a section share one aligned block, so a wide matrix would push every
    reason beside a narrow one past the margin."""
    if any(line.wide for eq in equations for line in eq.lines):
        equations = tuple(
            replace(eq, lines=tuple(replace(ln, wide=bool(ln.why_tex)) for ln in eq.lines))
            for eq in equations
        )
    return Section(title, intro, equations, paragraphs)


def _no_example(network: Network, renderer: Renderer) -> tuple[Section, ...]:
    coupled = sorted(
        {k.replace("_", " ") for k in network.kinds if get_layer_kind(k).batch_coupled}
    )
    segments: list[Segment] = [
        f"This network's {' and '.join(coupled)} layers couple the samples of a mini-batch "
        "(their statistics are taken over the batch), so one sample alone has no worked "
        "example: its ",
        RoleSymbol("delta"),
        " depends on the other samples. symprop derive SPEC --graph works a batch of "
        f"{BATCH_COUPLED_SAMPLES} samples through the network instead, one per column.",
    ]
    text = Sentence(
        renderer.tex(segments), renderer.inline_math(segments), renderer.markdown(segments)
    )
    return (Section("Worked example", text, ()),)


def worked_sections(
    cd: CheckedDerivation, renderer: Renderer, profile: Profile
) -> tuple[Section, ...]:
    """The worked-example sections of the document.

    Parameters
    ----------
    cd
        The checked derivation the document prints.
    renderer
        The document's renderer (its profile's symbols).
    profile
        The document's notation profile; the Goodfellow profile also gets the graph.
    """
    d = cd.derivation
    example = worked_example(d.network, tuple(name for name, _ in _parameters(d)))
    if example is None:
        return _no_example(d.network, renderer)
    writer = _Writer(cd, renderer, example)
    sections = [writer.sample(), writer.forward(), writer.backward(), writer.update()]
    if profile.name == "goodfellow":
        sections.append(graph_section(example, renderer, graph_names(d)))
    return tuple(sections)
