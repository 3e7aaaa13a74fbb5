"""What each notation profile adds to a document: its conventions and its algorithm's form.

The formulas are the derivation's (printed in the profile's letters by
:class:`~symprop.printers.latex.LatexPrinter`); this module decides what the lecture notes
say around them: the layout convention, how a sample is told from a layer, how the
profile's layers map to the generated module's names (``W1``, ``b1``…), how the book scales
weight decay, and the algorithm in the book's own form (Nielsen's numbered steps, Ng's
accumulators ``Δ`` and ``D``, Goodfellow's Algorithm 6.4 with ``g ←``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from symprop.core import symbols as g
from symprop.core.notation import Profile
from symprop.core.registry import ACTIVATIONS
from symprop.core.spec import Network
from symprop.core.templating import latex_escape
from symprop.core.why import LayerOf, Relation, Segment, Span
from symprop.derivation.steps import DerivationView, FrobeniusSquared, SampleOf
from symprop.documents.blocks import AlgorithmItem, Renderer, Sentence

__all__ = [
    "Code",
    "Nabla",
    "output_error",
    "profile_algorithm",
    "profile_conventions",
]

_l, _L, _i = g.l_sym, g.L_sym, g.i


class Nabla(MatrixExpr):
    """Display-only ``∇_v f``: the gradient of the scalar ``f`` with respect to the vector
    ``v`` (shape of ``v``), printed as the books write it."""

    def __new__(cls, of: sp.Basic, wrt: MatrixExpr) -> Nabla:
        return super().__new__(cls, of, wrt)

    @property
    def shape(self) -> tuple:
        return self.args[1].shape

    def _symprop_latex(self, printer: object) -> str:
        of, wrt = (printer._print(a) for a in self.args)  # type: ignore[attr-defined]
        return rf"\nabla_{{{wrt}}} {of}"


@dataclass(frozen=True)
class Code:
    """A name of the generated module (``W1``), printed as code."""

    name: str


Part = Segment | Code


def sentence(r: Renderer, parts: Sequence[Part]) -> Sentence:
    """A sentence of text, expressions and code names, in the three renderings."""
    tex, math, md = [], [], []
    for part in parts:
        if isinstance(part, Code):
            tex.append(rf"\texttt{{{latex_escape(part.name)}}}")
            math.append(rf"\text{{\texttt{{{latex_escape(part.name)}}}}}")
            md.append(f"`{part.name}`")
        else:
            tex.append(r.tex([part]))
            math.append(r.inline_math([part]))
            md.append(r.markdown([part]))
    return Sentence("".join(tex), "".join(math), "".join(md))


def output_error(net: Network, cost: sp.Basic) -> sp.Basic | None:
    """``δ^L = ∇_a C ⊙ σ'(z^L)`` (Nielsen's BP1; Goodfellow's ``g ← ∇_ŷ J ⊙ f'(a)``) for
    an elementwise output activation, else ``None`` (softmax couples its units)."""
    name = net.layers[-1].activation
    if not ACTIVATIONS[name].elementwise:
        return None
    L = net.depth
    wrt = g.vector("a", None, g.width(L))
    return sp.HadamardProduct(
        Nabla(cost, wrt), g.ElementwiseApplied(name, g.vector("z", _L), 1), evaluate=False
    )


def profile_conventions(r: Renderer, p: Profile, net: Network) -> list[Sentence]:
    """The sentences under the notation table: layout, samples, module names, decay."""
    W, a, b, z = g.matrix("W", _l), g.vector("a", _l - 1), g.vector("b", _l), g.vector("z", _l)
    out = [
        sentence(
            r,
            [
                "Vectors are columns and a layer is written ",
                Relation(z, sp.MatAdd(sp.MatMul(W, a), b)),
                ": ",
                g.indexed("W", _l)[g.j, g.k],
                " is the weight from unit ",
                g.k,
                " of layer ",
                LayerOf("a", _l - 1),
                " to unit ",
                g.j,
                " of layer ",
                LayerOf("a", _l),
                ", so ",
                W,
                " has ",
                g.width(_l),
                " rows and ",
                g.width(_l - 1),
                " columns.",
            ],
        )
    ]
    C, x = g.scalar("C"), g.vector("x", None, g.width(0))
    if p.parenthesized:
        out.append(
            sentence(
                r,
                [
                    "A superscript in brackets on a quantity of a layer is its layer, ",
                    g.vector("a", _l),
                    "; the samples of a mini-batch are numbered ",
                    Relation(_i, Span(sp.Integer(1), g.n_batch)),
                    " and sample ",
                    _i,
                    " is written ",
                    SampleOf(x, _i),
                    ", ",
                    SampleOf(g.vector("y", None, g.width(net.depth)), _i),
                    "; a quantity of a layer for sample ",
                    _i,
                    " carries the sample second, ",
                    SampleOf(g.vector("delta", _l), _i),
                    ".",
                ],
            )
        )
    else:
        out.append(
            sentence(
                r,
                [
                    "A plain superscript is a layer; a superscript in brackets marks sample ",
                    _i,
                    " of a mini-batch, e.g. ",
                    SampleOf(C, _i),
                    ", ",
                    SampleOf(g.vector("a", _l), _i),
                    ".",
                ],
            )
        )
    out.append(sentence(r, _module_names(p)))
    if p.decay is not None and not p.decay_printed:
        lam, n_train = g.scalar("lambda"), sp.Symbol("n", positive=True)
        book = sp.Symbol("lambda'", positive=True)
        decay = sp.Sum(FrobeniusSquared(g.matrix("W", _l)), (_l, 1, _L))
        out.append(
            sentence(
                r,
                [
                    "Weight decay: the book adds ",
                    book / (2 * n_train),
                    " times the sum of the squares of all weights to the cost, ",
                    n_train,
                    " being the number of training samples; this document writes ",
                    Relation(g.scalar("J"), C + lam * decay),
                    ", so ",
                    Relation(lam, p.decay.subs(sp.Symbol("lambda'", positive=True), book)),
                    ".",
                ],
            )
        )
    return out


def _module_names(p: Profile) -> list[Part]:
    """How the profile's parameters are named in the generated module (``W1``, ``b1``…)."""
    if p.layer("W", 1) == 1 and p.layer("b", 1) == 1:
        return [
            "The layers are numbered as in the generated module: ",
            g.matrix("W", 1),
            " and ",
            g.vector("b", 1),
            " are ",
            Code("W1"),
            " and ",
            Code("b1"),
            ".",
        ]
    return [
        "The generated module numbers the layers after the input from 1: ",
        g.matrix("W", 1),
        " and ",
        g.vector("b", 1),
        " are ",
        Code("W1"),
        " and ",
        Code("b1"),
        ", ",
        g.matrix("W", 2),
        " and ",
        g.vector("b", 2),
        " are ",
        Code("W2"),
        " and ",
        Code("b2"),
        ", and so on.",
    ]


def profile_algorithm(
    d: DerivationView,
    net: Network,
    p: Profile,
    formula: Callable[[str, int], AlgorithmItem],
    math: Callable[[sp.Basic, int], AlgorithmItem],
    text: Callable[[list[Segment], int], AlgorithmItem],
) -> list[AlgorithmItem]:
    """The algorithm block of a dense chain, in the book's form."""
    L = net.depth
    C = g.scalar("C")
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
        text(["set the activation of the input layer:"], 1),
        formula("forward.input", 2),
        text(["feed forward, for ", Relation(_l, Span(LayerOf("z", 1), LayerOf("z", _L))), ":"], 1),
        formula("forward.z.matrix", 2),
        formula("forward.a.matrix", 2),
        text(["output error:"], 1),
    ]
    general = output_error(net, C)
    if general is not None:
        items.append(math(Relation(g.vector("delta", _L), general), 2))
        items.append(text(["for this network:"], 2))
    items.append(formula("delta.output.matrix", 2))
    if L > 1:
        items += [
            text(
                [
                    "backpropagate, for ",
                    Relation(_l, Span(LayerOf("delta", _L - 1), LayerOf("delta", 1))),
                    ":",
                ],
                1,
            ),
            formula("delta.hidden.matrix", 2),
        ]
    items += [
        text(["the gradient of its cost:"], 1),
        formula("grad.w.index", 2),
        formula("grad.b.index", 2),
        text(
            [
                "Gradient descent, for ",
                Relation(_l, Span(LayerOf("z", _L), LayerOf("z", 1))),
                ":",
            ],
            0,
        ),
        formula("batch.Delta", 1),
        formula("batch.grad_J.W", 1),
        formula("batch.grad_J.b", 1),
        formula("update.W", 1),
        formula("update.b", 1),
    ]
    return items
