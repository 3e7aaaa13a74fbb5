"""The derivation engine: from a network spec to every backprop formula, each justified.

:func:`derive` returns a :class:`Derivation`: ordered :class:`Step` objects, each an
equation chain ``lhs = rhs₁ (why₁) = rhs₂ (why₂) …`` with SymPy content, which the LaTeX
emitter, the code generator and the verifier all read. The work is done per layer, with
symbolic widths ``n_l``; the per-activation and per-loss calculus is cached, so a network
of width 512 derives as fast as one of width 4 and the cost grows linearly with depth.

A network of other layer kinds (normalisations, dropout, residual adds, a kind registered
at run time) gets the same generic steps plus each kind's own section
(:mod:`symprop.derivation.kinds`), and its concrete steps come from its kinds' proven rules
bound to each layer (:mod:`symprop.derivation.network`, which states the conventions); a
plain dense chain derives exactly as it always has.

:meth:`Derivation.check` proves the formulas (:mod:`symprop.derivation.check`, and
:mod:`symprop.derivation.graph_check` for networks of kinds): the local rules symbolically,
the composed network numerically at high precision against derivatives that no formula
under test produced. It names the step that fails, if one does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from symprop.core import symbols as g
from symprop.core.calculus import (
    ActivationDerivative,
    OutputDelta,
    activation_function,
    activation_prime_function,
    derive_activation,
    derive_output_delta,
)
from symprop.core.errors import SpecError, SymPropError, shown
from symprop.core.layer_calculus import LayerRules, derive_layer
from symprop.core.registry import (
    ACTIVATIONS,
    LOSSES,
    a_vec,
    j_idx,
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
from symprop.core.symbols import ElementwiseApplied, j, k, n_batch
from symprop.core.why import Activation, LayerOf, Relation, RoleSymbol, Why, why
from symprop.derivation.check import CheckReport, check_derivation
from symprop.derivation.generic import (
    GENERIC_KIND,
    activation_steps,
    batch_steps,
    generic_steps,
    to_layer,
    vectorize,
    why_to_layer,
)
from symprop.derivation.kinds import kind_steps
from symprop.derivation.network import (
    activation_step,
    batch_levels,
    decayed,
    delta_step,
    forward_steps,
    gradient_steps,
)
from symprop.derivation.steps import (
    FrobeniusSquared,
    Partial,
    SampleOf,
    SampleSum,
    Step,
)
from symprop.documents.emit import notebook_latex, notebook_markdown
from symprop.printers.unicode import sentence, unicode_summary


@dataclass(frozen=True)
class LayerFormulas:
    """What the code generator needs for one layer ``l`` (1..L).

    Layer ``l`` computes ``z^l`` with its kind from the layers ``sources`` (0 is the
    input), then ``a^l = φ(z^l)``; ``consumers`` are the layers that read ``a^l`` (their
    gradients add up in ∂C/∂a^l). ``rules`` are the kind's derived and proven local rules,
    ``sizes`` its symbolic sizes bound to this layer's widths (the batch size left out).
    ``batch_level``: δ^l is written for the whole batch, sample index first, because a
    batch-coupled kind reads this layer or a batch-level one does (see
    :mod:`symprop.derivation.network`).
    """

    index: int
    width: int
    activation: str
    params: dict[str, float]
    dphi: ActivationDerivative
    kind: str = "dense"
    options: dict[str, float] = field(default_factory=dict)
    sources: tuple[int, ...] = ()
    consumers: tuple[int, ...] = ()
    sizes: tuple[tuple[sp.Symbol, int], ...] = ()
    batch_level: bool = False
    shown: tuple[tuple[sp.Symbol, sp.Symbol], ...] = ()
    """The activation's parameter symbols and the symbols this layer's formulas print:
    ``α`` as ``α₃`` when layers of the network have different parameterised activations
    (leaky ReLU's 0.2 and ELU's 1.5 are not one α)."""

    @property
    def shown_form(self) -> sp.Expr:
        """φ' in its proven preferred form, with this layer's parameter symbols."""
        return self.dphi.form.xreplace(dict(self.shown))

    @property
    def rules(self) -> LayerRules:
        """The kind's derived local rules (cached per kind)."""
        return derive_layer(self.kind)

    @property
    def dphi_form(self) -> sp.Expr:
        """φ' in its proven preferred form, with parameters bound to their values."""
        act = ACTIVATIONS[self.activation]
        return self.dphi.form.subs(
            {p.symbol: sp.nsimplify(self.params[p.name], rational=True) for p in act.parameters}
        )


class DerivationCheckError(AssertionError):
    """Raised by :meth:`Derivation.check` with ``strict=True`` when a step fails."""


class UnknownStepError(SymPropError, KeyError):
    """:meth:`Derivation.step` was asked for an id no step has (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would repr its message
        return str(self.args[0])


SECTIONS = (
    "forward",
    "cost",
    "activation",
    "kinds",
    "output_delta",
    "hidden_delta",
    "gradients",
    "batch",
    "update",
    "summary",
)
"""The sections of a derivation, in order."""


@dataclass(frozen=True)
class Derivation:
    """Every formula of backpropagation for one network, in order, each justified."""

    network: Network
    steps: tuple[Step, ...]
    layers: tuple[LayerFormulas, ...]
    output_delta: OutputDelta
    assumptions: tuple[Why, ...] = field(default=())

    def step(self, step_id: str) -> Step:
        """The step with the given id."""
        for st in self.steps:
            if st.id == step_id:
                return st
        raise UnknownStepError(f"step: got {shown(step_id)}; no step has this id (see .steps)")

    def section(self, name: str) -> list[Step]:
        """All steps of one section (one of :data:`SECTIONS`), in order; an unknown section
        name raises :class:`~symprop.core.errors.SymPropError`."""
        if not isinstance(name, str) or name not in SECTIONS:
            raise SymPropError(f"section: got {shown(name)}; known: {', '.join(SECTIONS)}")
        return [st for st in self.steps if st.section == name]

    @property
    def canonical(self) -> bool:
        """True when δ^L = c (a^L − y) for a constant ``c`` (the pair cancels)."""
        return self.output_delta.canonical_factor is not None

    def check(self, *, points: int = 3, seed: int = 0, strict: bool = False) -> CheckReport:
        """Prove the derivation: local rules symbolically, the network numerically.

        See :func:`~symprop.derivation.check.check_derivation`; ``points`` (1 to
        :data:`~symprop.derivation.check.MAX_CHECK_POINTS`) is the number of random points,
        so a check always tests something.
        """
        if not isinstance(strict, bool):
            raise SymPropError(f"strict: got {shown(strict)}; must be True or False")
        report = check_derivation(self, points=points, seed=seed)
        if strict and not report.ok:
            raise DerivationCheckError("derivation check failed: " + "; ".join(report.failures))
        return report

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the spec, the steps (as SymPy strings) and the summary.

        Each justification appears twice: ``why`` is its sentence as the terminal prints it,
        ``why_parts`` the data it is made of (``{"text": …}`` or ``{"math": <SymPy string>}``
        per segment), so a reader never has to parse the sentence.
        """
        return {
            "network": self.network.to_dict(),
            "canonical_output_delta": self.canonical,
            "assumptions": [sentence(a) for a in self.assumptions],
            "steps": [
                {
                    "id": st.id,
                    "section": st.section,
                    "form": st.form,
                    "layer": st.layer,
                    "relation": st.relation,
                    "lhs": sp.sstr(st.lhs),
                    "chain": [
                        {"rhs": sp.sstr(rhs), "why": sentence(why), "why_parts": _parts(why)}
                        for rhs, why in st.chain
                    ],
                }
                for st in self.steps
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as deterministic, indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    def _repr_latex_(self) -> str:
        """Jupyter: the checked closing summary as one ``$$`` math block (checked and
        printed once per derivation; later displays reuse the text)."""
        return notebook_latex(self)

    def _repr_markdown_(self) -> str:
        """Jupyter: the whole checked derivation document in Markdown (made once)."""
        return notebook_markdown(self)

    def summary_text(self) -> str:
        """The readable Unicode summary printed by ``symprop derive``."""
        return unicode_summary(self)


def _parts(reason: Why) -> list[dict[str, str]]:
    """A justification's segments as JSON data."""
    return [{"text": s} if isinstance(s, str) else {"math": sp.sstr(s)} for s in reason]


def _kinked(lf: LayerFormulas) -> bool:
    """True when φ' jumps at z = 0 for this layer's parameter values (ELU with α = 1 and
    leaky ReLU with α = 1 are differentiable there, so they need no convention)."""
    if lf.dphi.kink_value is None:
        return False
    bound = sp.diff(ACTIVATIONS[lf.activation].instantiate(lf.params), z_scalar)
    t = sp.Symbol("t", positive=True)
    left = sp.limit(bound.subs(z_scalar, -t), t, 0)
    right = sp.limit(bound.subs(z_scalar, t), t, 0)
    return sp.simplify(left - right) != 0


def _kink_assumption(lf: LayerFormulas) -> Why:
    """The convention for φ' at the kink of a piecewise activation, with its parameters."""
    act = ACTIVATIONS[lf.activation]
    reason = why(
        Activation(lf.activation),
        " is not differentiable at ",
        Relation(z_scalar, sp.Integer(0)),
        "; the derivative there is taken as ",
        Relation(
            activation_prime_function(lf.activation)(sp.Integer(0)),
            lf.dphi.kink_value.xreplace(dict(lf.shown)),
        ),
    )
    if act.parameters:
        shown = dict(lf.shown)
        reason += why(
            " with ",
            *[
                Relation(shown.get(p.symbol, p.symbol), sp.Float(lf.params[p.name], 4))
                for p in act.parameters
            ],
        )
    return reason + why(" (a measure-zero event for real-valued inputs)")


def _shown_parameters(network: Network) -> dict[int, tuple[tuple[sp.Symbol, sp.Symbol], ...]]:
    """Per layer, its parameters' printed symbols: the registry's (α) when the network has
    one parameterised activation with one set of values, else subscripted by the layer
    (α₃, α₄), so two layers' different slopes never share a letter."""
    keyed = {
        idx: (spec.activation, tuple(sorted(spec.param_values().items())))
        for idx, spec in enumerate(network.layers, start=1)
        if ACTIVATIONS[spec.activation].parameters
    }
    if len(set(keyed.values())) <= 1:
        return {}
    return {
        idx: tuple(
            (p.symbol, sp.Symbol(f"{p.symbol.name}_{idx}", **p.symbol.assumptions0))
            for p in ACTIVATIONS[name].parameters
        )
        for idx, (name, _) in keyed.items()
    }


def layer_formulas(network: Network) -> tuple[LayerFormulas, ...]:
    """Per layer of ``network``, its kind, graph neighbours, activation and proven φ'."""
    level = batch_levels(network)
    shown = _shown_parameters(network)
    return tuple(
        LayerFormulas(
            index=idx,
            width=spec.width,
            activation=spec.activation,
            params=spec.param_values(),
            dphi=derive_activation(spec.activation),
            kind=spec.kind,
            options=spec.option_values(),
            sources=network.sources(idx),
            consumers=network.consumers(idx),
            sizes=network.topology.sizes[idx - 1],
            batch_level=level[idx],
            shown=shown.get(idx, ()),
        )
        for idx, spec in enumerate(network.layers, start=1)
    )


def derive(network: Network) -> Derivation:
    """Derive every backprop formula for ``network``.

    Examples
    --------
    >>> from symprop import Network, Dense, derive
    >>> net = Network(inputs=2, layers=[Dense(3, "sigmoid"), Dense(1, "sigmoid")],
    ...               loss="binary_cross_entropy")
    >>> d = derive(net)
    >>> d.canonical
    True
    >>> d.step("summary.delta.2").rhs
    Vectorized(a[2] - y, ...)
    """
    if not isinstance(network, Network):
        raise SpecError("network", network, "must be a symprop.Network (see load_spec)")
    L = network.depth
    out_layer = network.layers[-1]
    od = derive_output_delta(out_layer.activation, network.loss)
    layers = layer_formulas(network)
    steps: list[Step] = []
    generic = generic_steps(
        None if ACTIVATIONS[out_layer.activation].elementwise else out_layer.activation
    )
    steps += [s for s in generic if s.section == "forward"]

    # Concrete forward pass.
    steps.append(
        Step(
            "forward.input",
            "forward",
            g.vector("a", 0),
            ((g.vector("x", None, g.width(0)), why("the input")),),
            "matrix",
            0,
        )
    )
    if network.dense_chain:
        for lf in layers:
            lay = lf.index
            # The concrete weighted input of each layer, for the documents' forward pass.
            steps.append(
                Step(
                    f"forward.layer.{lay}.z",
                    "forward",
                    g.vector("z", lay),
                    (
                        (
                            g.matrix("W", lay) * g.vector("a", lay - 1) + g.vector("b", lay),
                            why("layer ", LayerOf("a", lay), ": weighted input"),
                        ),
                    ),
                    "matrix",
                    lay,
                )
            )
            steps.append(activation_step(lay, lf.activation))
    else:
        steps += forward_steps(network, layers)

    # Cost.
    loss = LOSSES[network.loss]
    aL, y_ = g.indexed("a", L), g.indexed("y")
    C, J, lam = g.scalar("C"), g.scalar("J"), g.scalar("lambda")
    per_sample = sp.Sum(
        loss.term.subs({a_scalar: aL[k], y_scalar: y_[k]}, simultaneous=True), (k, 1, g.width(L))
    )
    steps.append(
        Step(
            "cost.sample",
            "cost",
            C,
            ((per_sample, why(f"{loss.unicode}, per sample")),),
            "index",
            L,
        )
    )
    # C is the cost of one sample throughout (δ = ∂C/∂z); the batch mean appears only
    # inside the objective J, so no symbol means two things.
    mean = sp.Sum(SampleOf(C, g.i), (g.i, 1, n_batch)) / n_batch
    # The penalty's layer variable runs over this network's concrete layers (1 … L): a
    # bound index l′, not the generic layer l that a profile renames (Ng's Θ^{(l)} maps
    # layer l to l + 1, so Σ_l ‖W^l‖² would print Σ_{l=1} ‖Θ^{(l−1)}‖², with a Θ^{(0)}).
    lay_ = sp.Symbol("l'", integer=True, positive=True)
    if network.dense_chain:
        # λ Σ_l ‖W^l‖²_F: one term whatever the depth (ten norms overflow a page).
        penalty = sp.Sum(FrobeniusSquared(g.matrix("W", lay_)), (lay_, 1, L))
        if network.regularize_biases:
            penalty += sp.Sum(FrobeniusSquared(g.vector("b", lay_)), (lay_, 1, L))
    else:
        penalty = sp.Add(*[FrobeniusSquared(p) for p in decayed(network)])
    steps.append(
        Step(
            "cost.batch",
            "cost",
            J,
            (
                (
                    mean + lam * penalty,
                    why(
                        "the mean cost over a mini-batch of ",
                        n_batch,
                        " samples, plus L2 weight decay"
                        + (
                            " on weights and biases"
                            if network.regularize_biases
                            else " on the weights (biases excluded)"
                        ),
                    ),
                ),
            ),
            "scalar",
        )
    )
    w_l = g.indexed("W", lay_)
    steps.append(
        Step(
            "cost.objective",
            "cost",
            FrobeniusSquared(g.matrix("W", lay_)),
            (
                (
                    sp.Sum(w_l[j, k] ** 2, (k, 1, g.width(lay_ - 1)), (j, 1, g.width(lay_))),
                    why("the squared Frobenius norm: the sum of the squared weights"),
                ),
            ),
            "scalar",
        )
    )

    # Activation derivatives, once per activation used (in order of first use).
    seen: list[str] = []
    for lf in layers:
        if lf.activation not in seen:
            seen.append(lf.activation)
            steps += activation_steps(lf.activation)
    # Each other layer kind the network uses: its own derivation, once.
    for name in network.kinds:
        if name != GENERIC_KIND:
            steps += kind_steps(name)

    # Output local gradient.
    zL = g.indexed("z", L)
    dL = g.indexed("delta", L)
    chain: list[tuple[sp.Basic, Why]] = [
        (Partial(C, zL[j]), why("by definition of the local gradient"))
    ]
    out_act = ACTIVATIONS[out_layer.activation]
    ii = sp.Symbol("i", integer=True, positive=True)
    if out_act.elementwise:
        chain.append(
            (
                Partial(C, aL[j]) * Partial(aL[j], zL[j]),
                why("by the chain rule: ", aL[j], " is the only output that depends on ", zL[j]),
            )
        )
        chain.append(
            (
                Partial(C, aL[j]) * activation_prime_function(out_layer.activation)(zL[j]),
                why("since ", Relation(aL[j], activation_function(out_layer.activation)(zL[j]))),
            )
        )
        chain.append(
            (
                to_layer(od.dloss, L) * activation_prime_function(out_layer.activation)(zL[j]),
                why(f"differentiating the {loss.unicode}"),
            )
        )
    else:
        chain.append(
            (
                sp.Sum(Partial(C, aL[ii]) * Partial(aL[ii], zL[j]), (ii, 1, g.width(L))),
                why("by the chain rule: every ", aL[ii], " depends on ", zL[j]),
            )
        )
    for expr, reason in od.steps:
        chain.append((to_layer(expr, L), why_to_layer(reason)))
    steps.append(Step("delta.output.index", "output_delta", dL[j], tuple(chain), "index", L))
    steps.append(
        Step(
            "delta.output.matrix",
            "output_delta",
            g.vector("delta", L),
            ((_vectorize_output(od, L), why("the index form, for all ", j, " at once")),),
            "matrix",
            L,
        )
    )
    steps += [s for s in generic if s.section in ("hidden_delta", "gradients")]
    steps += batch_steps(network)

    # Summary with concrete layer numbers.
    steps.append(
        Step(
            f"summary.delta.{L}",
            "summary",
            g.vector("delta", L),
            ((_vectorize_output(od, L), why("output layer")),),
            "matrix",
            L,
        )
    )
    if network.dense_chain:
        for lf in reversed(layers[:-1]):
            lay = lf.index
            rec = g.matrix("W", lay + 1).T * g.vector("delta", lay + 1)
            dphi_vec = vectorize(lf.shown_form, lay)
            steps.append(
                Step(
                    f"summary.delta.{lay}",
                    "summary",
                    g.vector("delta", lay),
                    (
                        (
                            sp.HadamardProduct(
                                rec, ElementwiseApplied(lf.activation, g.vector("z", lay), 1)
                            ),
                            why("hidden recurrence"),
                        ),
                        (
                            sp.HadamardProduct(rec, dphi_vec)
                            if isinstance(dphi_vec, sp.MatrixExpr)
                            else rec * dphi_vec,
                            lf.dphi.rule,
                        ),
                    ),
                    "matrix",
                    lay,
                )
            )
        for lf in layers:
            lay = lf.index
            W_mat = g.matrix("W", lay)
            Delta = g.matrix("Delta", lay)
            steps.append(
                Step(
                    f"summary.grad_W.{lay}",
                    "summary",
                    Partial(J, W_mat),
                    (
                        (
                            Delta / n_batch + 2 * lam * W_mat,
                            why(
                                Relation(
                                    Delta,
                                    SampleSum(
                                        g.vector("delta", lay) * g.vector("a", lay - 1).T,
                                        g.i,
                                        n_batch,
                                    ),
                                )
                            ),
                        ),
                    ),
                    "matrix",
                    lay,
                )
            )
            b_sum = SampleSum(g.vector("delta", lay), g.i, n_batch) / n_batch
            if network.regularize_biases:
                b_sum = b_sum + 2 * lam * g.vector("b", lay)
            steps.append(
                Step(
                    f"summary.grad_b.{lay}",
                    "summary",
                    Partial(J, g.vector("b", lay)),
                    ((b_sum, why("mean of ", RoleSymbol("delta"), " over the batch")),),
                    "matrix",
                    lay,
                )
            )
    else:
        level = {lf.index: lf.batch_level for lf in layers}
        for lf in reversed(layers[:-1]):
            steps.append(delta_step(network, lf, level))
        for lf in layers:
            steps += gradient_steps(network, lf, level)

    assumptions = [_kink_assumption(lf) for lf in layers if _kinked(lf)]
    assumptions += [why_to_layer(reason) for reason in od.assumptions]
    return Derivation(
        network=network,
        steps=tuple(steps),
        layers=layers,
        output_delta=od,
        assumptions=tuple(dict.fromkeys(assumptions)),
    )


def _vectorize_output(od: OutputDelta, L: int) -> sp.Basic:
    """δ^L in matrix form: elementwise formulas become vector formulas."""
    if od.expr.has(sp.Sum):
        return to_layer(od.expr, L)
    scalar_expr = od.expr.subs(
        {a_vec[j_idx]: a_scalar, y_vec[j_idx]: y_scalar, z_vec[j_idx]: z_scalar}, simultaneous=True
    )
    return vectorize(scalar_expr, L)
