"""The steps every network shares: the generic index and matrix forms for any layer l, the
mini-batch and update steps, and each activation's derivative, each with its justification."""

from __future__ import annotations

import sympy as sp

from symprop.core import symbols as g
from symprop.core.calculus import (
    activation_function,
    activation_prime_function,
    derive_activation,
)
from symprop.core.registry import (
    ACTIVATIONS,
    a_vec,
    i_idx,
    j_idx,
    n_units,
    y_vec,
    z_vec,
)
from symprop.core.registry import (
    a as a_scalar,
)
from symprop.core.registry import (
    y as y_scalar,
)
from symprop.core.registry import (
    z as z_scalar,
)
from symprop.core.spec import Network
from symprop.core.symbols import ElementwiseApplied, L_sym, Vectorized, j, k, l_sym, n_batch
from symprop.core.why import Activation, Relation, Why, why
from symprop.derivation.steps import (
    Partial,
    SampleOf,
    SampleSum,
    Step,
    dphi,
    phi,
)

GENERIC_KIND = "dense"
"""The layer kind the generic steps below derive (z = W a + b at a general layer l); a
network's other kinds get their own section (:func:`symprop.derivation.kinds.kind_steps`)."""

# --- the generic steps -------------------------------------------------------------


def _strip_ranges(expr: sp.Expr) -> sp.Expr:
    return expr.replace(
        lambda e: (
            isinstance(e, sp.Piecewise)
            and len(e.args) == 2
            and e.args[1][0] == 0
            and all(
                isinstance(r, (sp.Le, sp.Ge, sp.Lt, sp.Gt)) for r in sp.And.make_args(e.args[0][1])
            )
        ),
        lambda e: e.args[0][0],
    )


def to_layer(expr: sp.Expr, layer: sp.Expr | int, index: sp.Symbol = j) -> sp.Expr:
    """Map the registry's unit-level symbols (a, y, z, a[j]…) to layer quantities."""
    a_l, z_l, y_ = g.indexed("a", layer), g.indexed("z", layer), g.indexed("y")
    expr = expr.subs(
        {a_scalar: a_l[index], z_scalar: z_l[index], y_scalar: y_[index]}, simultaneous=True
    )
    expr = expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base in (a_vec, y_vec, z_vec),
        lambda e: {a_vec: a_l, y_vec: y_, z_vec: z_l}[e.base][
            e.indices[0].subs({j_idx: index, i_idx: sp.Symbol("i", integer=True, positive=True)})
        ],
    )
    return expr.subs(n_units, g.width(layer))


def why_to_layer(reason: Why) -> Why:
    """A calculus justification with its unit-level sums written over the output layer.

    The registry writes vector formulas over ``n`` units with targets ``y_i``; in a
    derivation they are the ``n_L`` units of the output layer and the targets ``y_i``.
    """
    y_ = g.indexed("y")

    def to_layer(seg: sp.Basic) -> sp.Basic:
        seg = seg.subs(n_units, g.width(L_sym))
        return seg.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == y_vec,
            lambda e: y_[e.indices[0]],
        )

    return Why.of(*(s if isinstance(s, str) else to_layer(s) for s in reason))


def vectorize(expr: sp.Expr, layer: sp.Expr | int) -> sp.Basic:
    """A unit-level scalar formula in a, y, z as a vector formula of layer ``layer``."""
    mapping = {}
    if expr.has(a_scalar):
        mapping[a_scalar] = g.vector("a", layer)
    if expr.has(z_scalar):
        mapping[z_scalar] = g.vector("z", layer)
    if expr.has(y_scalar):
        mapping[y_scalar] = g.vector("y", None, g.width(layer))
    if not mapping:
        return expr
    return Vectorized(expr, mapping, (g.width(layer), 1))


def generic_steps(vector_output: str | None = None) -> list[Step]:
    """The steps at a general layer ``l``; ``vector_output`` names the output layer's
    activation when it is not elementwise (softmax), so the forward step says so."""
    l = l_sym
    w_l, a_prev, b_l, z_l, a_l = (
        g.indexed("W", l),
        g.indexed("a", l - 1),
        g.indexed("b", l),
        g.indexed("z", l),
        g.indexed("a", l),
    )
    z_def = sp.Sum(w_l[j, k] * a_prev[k], (k, 1, g.width(l - 1))) + b_l[j]
    steps = [
        Step(
            "forward.z.index",
            "forward",
            z_l[j],
            ((z_def, why("weighted input of unit ", j, " in layer ", l)),),
            "index",
        ),
        Step(
            "forward.a.index",
            "forward",
            a_l[j],
            ((phi(z_l[j]), why("activation of unit ", j, " in layer ", l)),),
            "index",
        ),
        Step(
            "forward.z.matrix",
            "forward",
            g.vector("z", l),
            (
                (
                    g.matrix("W", l) * g.vector("a", l - 1) + g.vector("b", l),
                    why("the same, for all units"),
                ),
            ),
            "matrix",
        ),
        Step(
            "forward.a.matrix",
            "forward",
            g.vector("a", l),
            (
                (
                    ElementwiseApplied("phi", g.vector("z", l)),
                    why(Activation("phi"), " applied elementwise")
                    if vector_output is None
                    else why(
                        Activation("phi"),
                        " applied elementwise, except in the output layer: ",
                        Activation(vector_output),
                        " acts on the whole vector",
                    ),
                ),
            ),
            "matrix",
        ),
    ]

    # Hidden recurrence, index form: every factor comes from sympy.diff of a definition.
    m = sp.Symbol("m", integer=True, positive=True)
    w_next, b_next, z_next, d_next = (
        g.indexed("W", l + 1),
        g.indexed("b", l + 1),
        g.indexed("z", l + 1),
        g.indexed("delta", l + 1),
    )
    z_next_def = sp.Sum(w_next[k, m] * a_l[m], (m, 1, g.width(l))) + b_next[k]
    dz_da = _strip_ranges(sp.diff(z_next_def, a_l[j]).doit())
    n_next = g.width(l + 1)
    C = g.scalar("C")
    d_l = g.indexed("delta", l)
    chain = (
        (Partial(C, z_l[j]), why("by definition of the local gradient")),
        (
            sp.Sum(Partial(C, z_next[k]) * Partial(z_next[k], z_l[j]), (k, 1, n_next)),
            why(
                "by the chain rule: ",
                g.vector("z", l),
                " affects ",
                C,
                " only through ",
                g.vector("z", l + 1),
            ),
        ),
        (
            sp.Sum(
                d_next[k] * Partial(z_next[k], a_l[j]) * Partial(a_l[j], z_l[j]), (k, 1, n_next)
            ),
            why(
                "by definition of ",
                g.vector("delta", l + 1),
                ", and the chain rule through ",
                a_l[j],
            ),
        ),
        (
            sp.Sum(d_next[k] * dz_da * dphi(z_l[j]), (k, 1, n_next)),
            why("since ", Relation(z_next[k], z_next_def), " and ", Relation(a_l[j], phi(z_l[j]))),
        ),
        (
            dphi(z_l[j]) * sp.Sum(dz_da * d_next[k], (k, 1, n_next)),
            why(dphi(z_l[j]), " does not depend on ", k),
        ),
    )
    steps.append(Step("delta.hidden.index", "hidden_delta", d_l[j], chain, "index"))
    steps.append(
        Step(
            "delta.hidden.matrix",
            "hidden_delta",
            g.vector("delta", l),
            (
                (
                    sp.HadamardProduct(
                        g.matrix("W", l + 1).T * g.vector("delta", l + 1),
                        ElementwiseApplied("phi", g.vector("z", l), 1),
                    ),
                    why(
                        "the index form, for all ",
                        j,
                        " at once: ",
                        sp.Sum(w_next[k, j] * d_next[k], (k, 1, n_next)),
                        " is row ",
                        j,
                        " of ",
                        g.matrix("W", l + 1).T * g.vector("delta", l + 1),
                    ),
                ),
            ),
            "matrix",
        )
    )

    # Parameter gradients. The sum is rewritten over its own bound index m first: with k
    # both bound in the sum and free in w_jk, sympy.diff would give Σ_k a_k, not a_k.
    z_def_m = sp.Sum(w_l[j, m] * a_prev[m], (m, 1, g.width(l - 1))) + b_l[j]
    dz_dw = _strip_ranges(sp.diff(z_def_m, w_l[j, k]).doit())
    dz_db = sp.diff(z_def_m, b_l[j]).doit()
    by_delta = why("by definition of ", g.vector("delta", l), ", and differentiating ", z_l[j])
    steps.append(
        Step(
            "grad.w.index",
            "gradients",
            Partial(C, w_l[j, k]),
            (
                (
                    Partial(C, z_l[j]) * Partial(z_l[j], w_l[j, k]),
                    why("by the chain rule: ", w_l[j, k], " enters only ", z_l[j]),
                ),
                (d_l[j] * dz_dw, by_delta),
            ),
            "index",
        )
    )
    steps.append(
        Step(
            "grad.b.index",
            "gradients",
            Partial(C, b_l[j]),
            (
                (Partial(C, z_l[j]) * Partial(z_l[j], b_l[j]), why("by the chain rule")),
                (d_l[j] * dz_db, by_delta),
            ),
            "index",
        )
    )
    W_mat = g.matrix("W", l)
    steps.append(
        Step(
            "grad.W.matrix",
            "gradients",
            Partial(C, W_mat),
            (
                (
                    g.vector("delta", l) * g.vector("a", l - 1).T,
                    why("the index form, for all ", j, ", ", k, " at once: an outer product"),
                ),
            ),
            "matrix",
        )
    )
    steps.append(
        Step(
            "grad.b.matrix",
            "gradients",
            Partial(C, g.vector("b", l)),
            ((g.vector("delta", l), why("the index form, for all ", j, " at once")),),
            "matrix",
        )
    )
    return steps


def batch_steps(network: Network) -> list[Step]:
    l = l_sym
    i = g.i
    C, J, lam, eta = g.scalar("C"), g.scalar("J"), g.scalar("lambda"), g.scalar("eta")
    W_mat, b_vec = g.matrix("W", l), g.vector("b", l)
    Delta = g.matrix("Delta", l)
    w_l = g.indexed("W", l)
    outer = g.vector("delta", l) * g.vector("a", l - 1).T
    penalty = lam * w_l[j, k] ** 2
    # The penalty's summation indices are bound: primed, so they never clash with the free
    # l, j, k of the weight differentiated (Σ_l Σ_j Σ_k (w^l_jk)² against ∂/∂w^l_jk).
    r, p, q = (sp.Symbol(f"{s}'", integer=True, positive=True) for s in ("l", "j", "k"))
    w_r = g.indexed("W", r)
    dpen = sp.diff(penalty, w_l[j, k])
    steps = [
        Step(
            "batch.Delta",
            "batch",
            Delta,
            (
                (
                    SampleSum(outer, i, n_batch),
                    why("accumulating over the ", n_batch, " samples of a mini-batch"),
                ),
            ),
            "matrix",
            relation=":=",
        ),
        # C is the cost of one sample throughout (δ = ∂C/∂z); the batch enters only
        # through J's mean (1/n) Σ_i C^{(i)}, whose gradient this step writes with Δ.
        Step(
            "batch.grad_C",
            "batch",
            SampleSum(Partial(C, W_mat), i, n_batch) / n_batch,
            (
                (
                    SampleSum(outer, i, n_batch) / n_batch,
                    why("by the per-sample gradient ", Relation(Partial(C, W_mat), outer)),
                ),
                (
                    Delta / n_batch,
                    why("by the definition of ", Delta),
                ),
            ),
            "matrix",
        ),
        Step(
            "batch.grad_J.index",
            "batch",
            Partial(J, w_l[j, k]),
            (
                (
                    sp.Sum(SampleOf(Partial(C, w_l[j, k]), i), (i, 1, n_batch)) / n_batch
                    + Partial(penalty, w_l[j, k]),
                    why(
                        Relation(
                            J,
                            sp.Sum(SampleOf(C, i), (i, 1, n_batch)) / n_batch
                            + lam
                            * sp.Sum(
                                w_r[p, q] ** 2,
                                (q, 1, g.width(r - 1)),
                                (p, 1, g.width(r)),
                                (r, 1, L_sym),
                            ),
                        ),
                        ": differentiation is linear, and only the term of the penalty with ",
                        Relation(r, l),
                        ", ",
                        Relation(p, j),
                        ", ",
                        Relation(q, k),
                        " holds ",
                        w_l[j, k],
                    ),
                ),
                (
                    sp.Sum(SampleOf(Partial(C, w_l[j, k]), i), (i, 1, n_batch)) / n_batch + dpen,
                    why("differentiating the square"),
                ),
            ),
            "index",
        ),
        Step(
            "batch.grad_J.W",
            "batch",
            Partial(J, W_mat),
            (
                (
                    Delta / n_batch + dpen.subs(w_l[j, k], 1) * W_mat,
                    why(
                        "the index form, for all ",
                        j,
                        ", ",
                        k,
                        " at once, with the sum over samples written as ",
                        Delta,
                    ),
                ),
            ),
            "matrix",
        ),
        Step(
            "batch.grad_J.b",
            "batch",
            Partial(J, b_vec),
            (
                (
                    SampleSum(g.vector("delta", l), i, n_batch) / n_batch
                    + (
                        2 * lam * b_vec
                        if network.regularize_biases
                        else sp.ZeroMatrix(*b_vec.shape)
                    ),
                    why("biases are regularised too (regularize_biases = true)")
                    if network.regularize_biases
                    else why("biases are not regularised"),
                ),
            ),
            "matrix",
        ),
        Step(
            "update.W",
            "update",
            W_mat,
            (
                (
                    sp.MatAdd(W_mat, -eta * Partial(J, W_mat), evaluate=False),
                    why("a gradient-descent step with learning rate ", eta),
                ),
            ),
            "matrix",
            relation="←",
        ),
        Step(
            "update.b",
            "update",
            b_vec,
            (
                (
                    sp.MatAdd(b_vec, -eta * Partial(J, b_vec), evaluate=False),
                    why("a gradient-descent step with learning rate ", eta),
                ),
            ),
            "matrix",
            relation="←",
        ),
    ]
    return steps


def activation_steps(name: str) -> list[Step]:
    act = ACTIVATIONS[name]
    d = derive_activation(name)
    if not act.elementwise:
        ai, zj = g.indexed("a", L_sym), g.indexed("z", L_sym)
        lhs_def = ai[i_idx]
        jac_lhs = Partial(ai[i_idx], zj[j])
        definition = act.definition.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == z_vec, lambda e: zj[e.indices[0]]
        ).subs(n_units, g.width(L_sym))
        return [
            Step(
                f"activation.{name}.definition",
                "activation",
                lhs_def,
                ((definition, why("by definition")),),
                "index",
            ),
            Step(
                f"activation.{name}.derivative",
                "activation",
                jac_lhs,
                tuple(
                    (to_layer(expr, L_sym).subs(z_vec, zj), why)
                    for expr, why in zip(
                        d.steps,
                        (
                            why("differentiating the quotient"),
                            why("evaluating the sums over ", k),
                            why_to_layer(d.rule),
                        ),
                        strict=True,
                    )
                ),
                "index",
            ),
        ]
    fn = activation_function(name)(z_scalar)
    fprime = activation_prime_function(name)(z_scalar)
    whys = [why("differentiating the definition")] + [why("simplifying")] * (len(d.steps) - 2)
    if len(d.steps) > 1:
        whys.append(d.rule)
    # A definition that is SymPy's own function (tanh(z)) would print as itself, a
    # tautology: it is written out in exponentials instead.
    definition = act.definition
    if isinstance(definition, sp.Function) and definition.args == (z_scalar,):
        definition = definition.rewrite(sp.exp)
    return [
        Step(
            f"activation.{name}.definition",
            "activation",
            fn,
            ((definition, why("by definition")),),
            "scalar",
        ),
        Step(
            f"activation.{name}.derivative",
            "activation",
            fprime,
            tuple(zip(d.steps, whys, strict=True)),
            "scalar",
        ),
    ]
