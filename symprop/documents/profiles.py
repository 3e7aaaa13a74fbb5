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
                g.width(_l - 1) + (1 if p.bias_column else 0),
                " columns",
                ", column 0 holding the biases." if p.bias_column else ".",
            ],
        )
    ]
    if p.bias_column:
        out.append(
            sentence(
                r,
                [
                    "Each layer has a bias unit ",
                    Relation(g.indexed("a", _l)[0], sp.Integer(1)),
                    " and the bias of unit ",
                    g.j,
                    " is the weight ",
                    g.indexed("b", _l + 1)[g.j],
                    " from it, so ",
                    Relation(
                        g.vector("z", _l + 1),
                        sp.MatAdd(
                            sp.MatMul(g.matrix("W", _l + 1), g.vector("a", _l)),
                            g.vector("b", _l + 1),
                        ),
                    ),
                    " with ",
                    g.vector("a", _l),
                    " extended by ",
                    g.indexed("a", _l)[0],
                    "; the column of biases is written ",
                    g.vector("b", _l + 1),
                    ".",
                ],
            )
        )
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
        lam, n_train = g.scalar("lambda"), sp.Symbol("N", positive=True)
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
                    " being the number of training samples (the book's n); this document writes ",
                    Relation(g.scalar("J"), C + lam * decay),
                    ", so ",
                    Relation(lam, p.decay.subs(sp.Symbol("lambda'", positive=True), book)),
                    ".",
                ],
            )
        )
    if p.decay is not None and p.decay_printed:
        lam = book_lambda(p)
        spec = sp.Float(net.l2, 4) if net.l2 else sp.Integer(0)
        out.append(
            sentence(
                r,
                [
                    "Regularisation: the objective is ",
                    Relation(
                        g.scalar("J"),
                        C
                        + g.scalar("lambda")
                        * sp.Sum(FrobeniusSquared(g.matrix("W", _l)), (_l, 1, _L)),
                    ),
                    ", as in the lecture, with the gradient averaged over a mini-batch of ",
                    g.n_batch,
                    " samples; the spec's weight decay ",
                    Code("l2"),
                    " is the whole coefficient, so ",
                    Relation(lam, 2 * g.n_batch * sp.Symbol("l2")),
                    " (here ",
                    Relation(sp.Symbol("l2"), spec),
                    ").",
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


class OfSample(MatrixExpr):
    """Display-only: the vector ``v`` of sample ``i`` (``y^{(i)}``) inside a matrix formula."""

    def __new__(cls, vec: MatrixExpr, index: sp.Symbol) -> OfSample:
        return super().__new__(cls, vec, index)

    @property
    def shape(self) -> tuple:
        return self.args[0].shape

    def _symprop_latex(self, printer: object) -> str:
        return printer._print(SampleOf(*self.args))  # type: ignore[attr-defined]


def relabel(expr: sp.Basic, old: sp.Expr, new: sp.Expr) -> sp.Basic:
    """``expr`` with every layered quantity's layer label ``old`` replaced by ``new``
    (``δ^l a^{l-1ᵀ}`` at ``l → l + 1``; a network's output layer 3 renamed ``L``)."""
    swap: dict[sp.Basic, sp.Basic] = {}
    for m in expr.atoms(sp.MatrixSymbol):
        found = g.quantity(m.name)
        if found is None or found[1] is None:
            continue
        role, layer = found
        moved = layer.subs(old, new) if isinstance(old, sp.Symbol) else layer
        if not isinstance(old, sp.Symbol) and layer == old:
            moved = new
        if moved == layer:
            continue
        weighty = m.shape[1] != 1
        swap[m] = g.matrix(role, moved) if weighty else g.vector(role, moved)
    return replace(expr, swap)


def replace(expr: sp.Basic, swap: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    """``expr.xreplace(swap)``, also into the vectors of a :class:`~symprop.core.symbols.
    Vectorized` formula (whose arguments are not rebuilt the usual way)."""
    if expr in swap:
        return swap[expr]
    if isinstance(expr, g.Vectorized):
        mapping = {s: replace(v, swap) for s, v in expr.mapping.items()}
        return g.Vectorized(expr.expr, mapping, expr.shape)  # type: ignore[arg-type]
    if not expr.args:
        return expr
    args = [replace(a, swap) for a in expr.args]
    if all(a is b for a, b in zip(args, expr.args, strict=True)):
        return expr
    return expr.func(*args)


def entry(expr: sp.Basic, row: sp.Symbol, col: sp.Symbol) -> sp.Expr:
    """Entry ``(row, col)`` of a sum of scalar multiples of layered matrices, in index
    form (``(1/m) Δ^{(l)} + (λ/m) Θ^{(l)}`` → ``(1/m) Δ^{(l)}_{ij} + (λ/m) Θ^{(l)}_{ij}``)."""
    if isinstance(expr, sp.MatAdd):
        return sp.Add(*(entry(t, row, col) for t in expr.args))
    if isinstance(expr, sp.MatMul):
        coeff, mats = expr.as_coeff_matrices()
        (mat,) = mats
        return coeff * entry(mat, row, col)
    found = g.quantity(expr.name)  # type: ignore[attr-defined]
    assert found is not None, expr
    return g.indexed(found[0], found[1])[row, col]


_col = sp.Symbol("j", integer=True, nonnegative=True)  # column 0 is the bias


def ng_gradient(d: DerivationView, net: Network) -> tuple[sp.Expr, sp.Piecewise]:
    """Ng's ``D^{(l)}_{ij}``: the derivation's ``∂J/∂W`` in index form, with column
    ``j = 0`` (the bias) regularised only when the spec regularises biases."""
    grad = relabel(d.step("batch.grad_J.W").rhs, _l, _l + 1)
    regularised = entry(grad, _i, _col)
    bias = regularised if net.regularize_biases else regularised.xreplace({g.scalar("lambda"): 0})
    return g.indexed("D", _l + 1)[_i, _col], sp.Piecewise(
        (regularised, sp.Ne(_col, 0)), (bias, True)
    )


def _without_decay(grad: sp.Basic) -> sp.Basic:
    """The gradient with λ = 0 (an unregularised bias), its vanished terms dropped."""
    terms = grad.args if isinstance(grad, sp.MatAdd) else (grad,)
    zeroed = [t.xreplace({g.scalar("lambda"): 0}) for t in terms]
    kept = [t for t in zeroed if not (isinstance(t, sp.MatMul) and t.as_coeff_matrices()[0] == 0)]
    return sp.MatAdd(*kept) if len(kept) > 1 else kept[0]


class EntryOf(sp.Expr):
    """Display-only: entry ``(row, col)`` of a matrix formula, as the books write it."""

    def __new__(cls, expr: MatrixExpr, row: sp.Symbol, col: sp.Symbol) -> EntryOf:
        return super().__new__(cls, expr, row, col)

    def _symprop_latex(self, printer: object) -> str:
        return printer.print_entry(*self.args)  # type: ignore[attr-defined]


def ng_gradient_display(d: DerivationView, net: Network) -> tuple[sp.Expr, sp.Piecewise]:
    """:func:`ng_gradient` for printing: each case an entry of the matrix formula."""
    grad = relabel(d.step("batch.grad_J.W").rhs, _l, _l + 1)
    bias = grad if net.regularize_biases else _without_decay(grad)
    return g.indexed("D", _l + 1)[_i, _col], sp.Piecewise(
        (EntryOf(grad, _i, _col), sp.Ne(_col, 0)), (EntryOf(bias, _i, _col), True)
    )


def book_lambda(p: Profile) -> sp.Basic:
    """The λ a profile's reader knows: the book's where the document prints its scaling."""
    if p.decay_printed and p.decay is not None:
        return next(iter(p.decay.free_symbols - {g.n_batch}))
    return g.scalar("lambda")


def ng_algorithm(
    d: DerivationView,
    net: Network,
    formula: Callable[[str, int], AlgorithmItem],
    math: Callable[[sp.Basic, int], AlgorithmItem],
    text: Callable[[list[Segment], int], AlgorithmItem],
    lam: sp.Basic,
) -> list[AlgorithmItem]:
    """Ng's algorithm: accumulators Δ over the examples, then D, then the update with α."""
    L = net.depth
    params = Relation(_l, Span(LayerOf("W", 1), LayerOf("W", _L)))
    Delta = g.matrix("Delta", _l + 1)
    summand = d.step("batch.Delta").rhs.args[0]  # δ^l (a^{l-1})ᵀ of one sample
    out_lhs = relabel(d.step("delta.output.matrix").lhs, sp.Integer(L), _L)
    out_rhs = relabel(d.step("delta.output.matrix").rhs, sp.Integer(L), _L)
    y = g.vector("y", None, g.width(L))
    out_rhs = replace(out_rhs, {y: OfSample(y, _i)})
    D, cases = ng_gradient_display(d, net)
    items = [
        text(
            [
                "Input: ",
                g.n_batch,
                " training samples (a mini-batch), learning rate ",
                g.scalar("eta"),
                ", regularisation parameter ",
                lam,
                ".",
            ],
            0,
        ),
        text(["Set, for ", params, " (used to accumulate the gradient):"], 0),
        math(Relation(Delta, sp.ZeroMatrix(*Delta.shape), ":="), 1),
        text(["For each training sample ", Relation(_i, Span(sp.Integer(1), g.n_batch)), ":"], 0),
        math(Relation(g.vector("a", 0), OfSample(g.vector("x", None, g.width(0)), _i), ":="), 1),
        text(
            [
                "forward propagation, for ",
                Relation(_l, Span(LayerOf("z", 1), LayerOf("z", _L))),
                " (each layer with its bias unit ",
                Relation(g.indexed("a", _l - 1)[0], sp.Integer(1)),
                "):",
            ],
            1,
        ),
        formula("forward.z.matrix", 2),
        formula("forward.a.matrix", 2),
        math(Relation(out_lhs, out_rhs), 1),
    ]
    if L > 1:
        items += [
            text(
                [
                    "the errors, for ",
                    Relation(_l, Span(LayerOf("delta", _L - 1), LayerOf("delta", 1))),
                    ":",
                ],
                1,
            ),
            formula("delta.hidden.matrix", 2),
        ]
    items += [
        text(["accumulate, for ", params, ":"], 1),
        math(Relation(Delta, sp.MatAdd(Delta, relabel(summand, _l, _l + 1)), ":="), 2),
        text(["The gradient, for ", params, ":"], 0),
        math(Relation(D, cases), 1),
        text(["Update, for ", params, " (column 0, the bias, included):"], 0),
        math(
            Relation(
                g.matrix("W", _l + 1),
                sp.MatAdd(
                    g.matrix("W", _l + 1), sp.MatMul(-g.scalar("eta"), g.matrix("D", _l + 1))
                ),
                ":=",
            ),
            1,
        ),
    ]
    return items


def goodfellow_algorithm(
    d: DerivationView,
    net: Network,
    formula: Callable[[str, int], AlgorithmItem],
    math: Callable[[sp.Basic, int], AlgorithmItem],
    text: Callable[[list[Segment], int], AlgorithmItem],
) -> list[AlgorithmItem]:
    """Goodfellow et al.'s Algorithms 6.3 and 6.4: the forward pass, then ``g ←`` updates
    from the output down, with the gradients of the weights and biases in ∇ notation."""
    J, C, lam = g.scalar("J"), g.scalar("C"), g.scalar("lambda")
    omega = sp.Function("Omega")(sp.Symbol("theta"))
    z, h_prev, W = g.vector("z", _l), g.vector("a", _l - 1), g.matrix("W", _l)
    G = g.vector("delta", None, g.width(_l))
    weights = d.step("batch.grad_J.W").rhs
    decay_W = [t for t in weights.args if not t.has(g.matrix("Delta", _l))]
    biases = d.step("batch.grad_J.b").rhs
    decay_b = [t for t in biases.args if not isinstance(t, sp.MatMul) or not t.has(sp.Sum)]
    grad_W = sp.MatAdd(sp.MatMul(G, h_prev.T), *decay_W)
    grad_b = sp.MatAdd(G, *decay_b) if net.regularize_biases else G
    return [
        text(["Forward, for each sample of a mini-batch of ", g.n_batch, ":"], 0),
        formula("forward.input", 1),
        text(["for ", Relation(_l, Span(LayerOf("z", 1), LayerOf("z", _L))), ":"], 1),
        formula("forward.z.matrix", 2),
        formula("forward.a.matrix", 2),
        math(
            Relation(
                J,
                Relation(C + lam * omega, C + lam * sp.Sum(FrobeniusSquared(W), (_l, 1, _L))),
            ),
            1,
        ),
        text(["Backward: the gradient on the output layer,"], 0),
        math(Relation(G, Nabla(J, g.vector("a", _L)), "←"), 1),
        text(["for ", Relation(_l, Span(LayerOf("z", _L), LayerOf("z", 1))), ":"], 0),
        math(
            Relation(
                G,
                Relation(Nabla(J, z), sp.HadamardProduct(G, g.ElementwiseApplied("phi", z, 1))),
                "←",
            ),
            1,
        ),
        math(Relation(Nabla(J, g.vector("b", _l)), grad_b), 1),
        math(
            Relation(
                Nabla(J, W),
                Relation(sp.MatAdd(sp.MatMul(G, h_prev.T), lam * Nabla(omega, W)), grad_W),
            ),
            1,
        ),
        math(Relation(G, Relation(Nabla(J, h_prev), sp.MatMul(W.T, G)), "←"), 1),
        text(["for this network, at the output layer the first two lines give"], 1),
        formula("delta.output.matrix", 2),
        text(["Average over the mini-batch and update, for every layer:"], 0),
        formula("batch.grad_J.W", 1),
        formula("batch.grad_J.b", 1),
        formula("update.W", 1),
        formula("update.b", 1),
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
    if p.bias_column:
        return ng_algorithm(d, net, formula, math, text, book_lambda(p))
    if p.nabla:
        return goodfellow_algorithm(d, net, formula, math, text)
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
                book_lambda(p),
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
