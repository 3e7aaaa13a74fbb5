"""What a claim is about (:class:`Setting`), the limits of a check, and the small explicit
network both sides are instantiated on (:class:`Model`)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import sympy as sp

from symprop.core import instance
from symprop.core.errors import shown
from symprop.core.layers import get_layer_kind
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.spec import Dense, Network, _is_int, _is_real
from symprop.parsing.tree import Expr
from symprop.verify.declare import (
    Declarations,
    check_loss_formula,
    check_notation,
    check_penalty,
)
from symprop.verify.errors import VerifyError
from symprop.verify.notation import NUMBERINGS

# ---------------------------------------------------------------- limits

MAX_DEPTH = 8
"""Deepest network a claim is checked on. Up to 6 layers and 48 symbols a network is checked
symbolically; beyond, at exact points (:mod:`symprop.verify.pointwise`), where the time grows
with depth times the layer values a generic ``l`` takes, and the parameters are bounded by
:data:`~symprop.verify.pointwise.MAX_WEIGHTS`."""
MAX_CLAIMS = 200
"""Most claims in one call or file."""
MAX_EXPR_NODES = 60_000
"""Largest instantiated expression (as a tree of SymPy nodes) that is evaluated."""


# ---------------------------------------------------------------- the setting


@dataclass(frozen=True)
class Setting:
    """What a claim is about: a network spec, single units, or nothing but declarations.

    Every field is optional: ``Setting()`` checks pure calculus claims
    (``σ'(z) = σ(z)(1 − σ(z))``); a claim about network quantities (z, a, W, δ, C) then gets
    one line saying what to declare (:meth:`single_network`). A claims file's setting is
    read by :func:`symprop.verify.load_claims`.

    Attributes
    ----------
    network
        The spec the claims are about (checked at its own widths), or ``None``.
    activation, loss
        For single-unit claims: every layer has one unit with this activation, and this
        registry loss. Either may be left out: an activation alone says what ``σ`` means
        in calculus claims. Not with a spec (it has its own).
    l2
        The weight-decay coefficient λ (``J = C + λ Σ w²``, scaled by :attr:`penalty`).
        With a spec, a value > 0 replaces the spec's λ.
    numbering
        ``auto`` (try the conventions that fit the claim's labels), ``input0``, ``input1``
        or ``ng`` (see :data:`NUMBERINGS`).
    points
        Random rational points per comparison.
    seed
        Seed of the random points (verdicts are deterministic).
    time_limit
        Seconds one claim may take before it is refused.
    notation
        The letters the claims are written in (:data:`~symprop.verify.declare.NotationName`);
        ``None`` reads each claim's letters as they come.
    loss_formula
        The per-sample loss as the claims write it (an expression in ``a`` or ``\\hat y`` and
        ``y``), replacing the registry loss; ``None`` for the setting's loss.
    penalty
        How λ scales the weight penalty (a key of :data:`~symprop.verify.declare.PENALTIES`).
    declared
        Free definitions, values, shapes and functions
        (:class:`~symprop.verify.declare.Declarations`).
    """

    network: Network | None = None
    activation: str | None = None
    loss: str | None = None
    l2: float = 0.0
    numbering: str = "auto"
    points: int = 8
    seed: int = 0
    time_limit: float = 20.0
    notation: str | None = None
    loss_formula: Expr | None = None
    penalty: str = "lambda"
    declared: Declarations = Declarations()

    def __post_init__(self) -> None:
        if not isinstance(self.numbering, str) or (
            self.numbering != "auto" and self.numbering not in NUMBERINGS
        ):
            raise VerifyError(
                f"numbering: got {shown(self.numbering)}; known: auto, {', '.join(NUMBERINGS)}"
            )
        if self.network is not None and not isinstance(self.network, Network):
            raise VerifyError(f"network: got {shown(self.network)}; must be a Network or None")
        if not _is_real(self.l2) or self.l2 < 0:
            raise VerifyError(f"l2: got {shown(self.l2)}; must be a finite number ≥ 0")
        if self.notation is not None:
            check_notation(self.notation)
        check_penalty(self.penalty)
        if not isinstance(self.declared, Declarations):
            raise VerifyError(f"declared: got {shown(self.declared)}; must be Declarations")
        if self.loss_formula is not None:
            check_loss_formula(self.loss_formula)
            if self.loss is not None:
                raise VerifyError(
                    f"loss: got {shown(self.loss)} and a loss_formula; give one or the other"
                )
        if self.network is None:
            self._check_single_unit()
        else:
            if self.activation is not None or self.loss is not None:
                raise VerifyError(
                    "activation/loss describe single units; a network spec has its own "
                    "(give one or the other)"
                )
            if self.l2 > 0 and self.l2 != self.network.l2:
                # The claims' λ replaces the spec's: silently keeping the spec's would check
                # the claims against another cost than the one they declare.
                object.__setattr__(self, "network", replace(self.network, l2=self.l2))
            self._check_network(self.network)
        if not _is_int(self.points) or not 1 <= self.points <= 64:
            raise VerifyError(f"points: got {shown(self.points)}; must be an integer from 1 to 64")
        if not _is_int(self.seed):
            raise VerifyError(f"seed: got {shown(self.seed)}; must be an integer")
        if not _is_real(self.time_limit) or self.time_limit <= 0:
            raise VerifyError(
                f"time_limit: got {shown(self.time_limit)}; must be a finite number of seconds > 0"
            )

    def _check_single_unit(self) -> None:
        """Single units: any of activation and loss may be left out (a calculus claim needs
        neither); what is given must be known, and a pair must train together."""
        if self.activation is not None and (
            not isinstance(self.activation, str)
            or self.activation not in ACTIVATIONS
            or not ACTIVATIONS[self.activation].elementwise
        ):
            known = ", ".join(n for n, a in ACTIVATIONS.items() if a.elementwise)
            raise VerifyError(
                f"activation: got {shown(self.activation)}; single units take one of: {known}"
            )
        if self.loss is not None and (not isinstance(self.loss, str) or self.loss not in LOSSES):
            raise VerifyError(f"loss: got {shown(self.loss)}; known: {', '.join(LOSSES)}")
        if self.activation is not None and self.loss is not None:
            # Validates the activation/loss pair with the spec's messages.
            self.single_network(1)

    @staticmethod
    def _check_network(network: Network) -> None:
        if any(get_layer_kind(k).batch_coupled or get_layer_kind(k).given for k in network.kinds):
            # A claim's quantities (z, a, W, b, δ per layer) are per sample and name no given
            # array: a batch-coupled kind or a mask is checked at kind level instead.
            named = [
                k
                for k in network.kinds
                if get_layer_kind(k).batch_coupled or get_layer_kind(k).given
            ]
            raise VerifyError(
                f"the network has {', '.join(named)} layers, whose claims couple the samples "
                "of a batch or name a given mask; --spec checks per-sample networks; check "
                f"claims about one layer kind with --kind {named[0]}"
            )
        if network.depth > MAX_DEPTH:
            raise VerifyError(
                f"the network has {network.depth} layers; verify checks networks of at "
                f"most {MAX_DEPTH} layers"
            )

    @property
    def has_network(self) -> bool:
        """Whether claims about network quantities (z, a, W, δ, C) can be checked: a spec,
        or single units with an activation and a loss (registry or written out)."""
        return self.network is not None or (
            self.activation is not None and (self.loss is not None or self.loss_formula is not None)
        )

    @classmethod
    def from_spec(cls, network: Network, **kwargs: Any) -> Setting:
        """A setting for claims about ``network`` (checked at its own widths).

        ``l2`` > 0 in ``kwargs`` replaces the spec's λ; ``notation``, ``penalty``,
        ``loss_formula`` and ``declared`` say how the claims are written.
        """
        return cls(network=network, **kwargs)

    @classmethod
    def single_unit(cls, activation: str, loss: str, **kwargs: Any) -> Setting:
        """A setting for single-unit claims: a chain of one-unit layers."""
        return cls(activation=activation, loss=loss, **kwargs)

    @classmethod
    def calculus(
        cls,
        declared: Declarations | None = None,
        activation: str | None = None,
        **kwargs: Any,
    ) -> Setting:
        """A setting with no network, for pure calculus claims.

        Parameters
        ----------
        declared
            Free definitions, values, shapes and function names the claims use (build them
            from text with :func:`symprop.verify.declare.declarations` and
            :func:`~symprop.verify.declare.definition_from_text`).
        activation
            Optional: the function ``σ``/``φ`` denotes in the claims.
        **kwargs
            Any other field (``notation``, ``points``, ``seed``, ``time_limit``).

        Examples
        --------
        >>> from symprop.verify import declare
        >>> g = declare.definition_from_text("let g = x^2 y")
        >>> Setting.calculus(declare.declarations([g])).has_network
        False
        """
        return cls(
            declared=declared if declared is not None else Declarations(),
            activation=activation,
            **kwargs,
        )

    def single_network(self, depth: int) -> Network:
        """The single-unit chain of ``depth`` layers.

        Raises
        ------
        VerifyError
            When the setting declares no network (a claim about z, a, W or δ then cannot
            be checked): one line saying what to declare.
        """
        if self.activation is None or (self.loss is None and self.loss_formula is None):
            missing = [
                what
                for what, given in (("an activation", self.activation), ("a loss", self.loss))
                if given is None and not (what == "a loss" and self.loss_formula is not None)
            ]
            raise VerifyError(
                "this claim is about a network, and the setting declares none: give a spec "
                "(--spec, spec = or [network]) or single units (--activation and --loss); "
                f"missing: {' and '.join(missing)}"
            )
        return Network(
            inputs=1,
            layers=[Dense(1, self.activation)] * depth,
            # A written-out loss replaces the registry loss in the cost (the Model's hook);
            # the chain itself needs one whose output range fits the activation's.
            loss=self.loss if self.loss is not None else _STAND_IN_LOSS,
            l2=self.l2,
        )


_STAND_IN_LOSS = "mse"
"""The registry loss in the structure of a single-unit chain whose loss is written out
(:attr:`Setting.loss_formula`): every elementwise activation pairs with it; the cost the
claims are checked against is the formula's (the Model's ``loss_term``)."""


# ---------------------------------------------------------------- the small explicit network

PENALTY_SCALES: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "lambda": lambda m: sp.S.One,
    "lambda/2": lambda m: sp.Rational(1, 2),
    "lambda/m": lambda m: 1 / m,
    "lambda/(2m)": lambda m: 1 / (2 * m),
}
"""The factor of ``λ Σ w²`` in ``J`` for each scaling of
:data:`~symprop.verify.declare.PENALTIES`, as a function of the batch size ``m``."""


@dataclass(frozen=True)
class SampleView:
    """One sample of a :class:`~symprop.core.instance.Instance`, as the claims read it:
    explicit ``x``, ``y``, per layer ``z``, ``a`` (``a[0] = x``), ``W``, ``b`` (the layers'
    weight and bias, by their roles), and the sample's cost."""

    x: sp.Matrix
    y: sp.Matrix
    z: dict[int, sp.Matrix]
    a: dict[int, sp.Matrix]
    W: dict[int, sp.Matrix]
    b: dict[int, sp.Matrix]
    cost: sp.Expr


def _by_role(inst: instance.Instance, role: str) -> dict[int, sp.Matrix]:
    """Per layer, its parameter of ``role`` (the weight matrix, the bias vector)."""
    out = {}
    for lay, spec in enumerate(inst.network.layers, start=1):  # type: ignore[attr-defined]
        for p in get_layer_kind(spec.kind).parameters:
            if p.role == role:
                out[lay] = inst.parameters[(p.name, lay)]
    return out


def _views(inst: instance.Instance) -> list[SampleView]:
    weights, biases = _by_role(inst, "weight"), _by_role(inst, "bias")
    return [
        SampleView(
            x=inst.x[s],
            y=inst.y[s],
            z={lay: zs[s] for lay, zs in inst.z.items()},
            a={lay: acts[s] for lay, acts in inst.a.items()},
            W=weights,
            b=biases,
            cost=inst.costs[s],
        )
        for s in range(inst.batch)
    ]


class Model:
    """A small explicit network: forward values, brute-force δ and costs, one per sample.

    Built by the one small-instance builder (:func:`symprop.core.instance.build`), which
    also gives :meth:`Derivation.check` its brute-force reference.
    """

    def __init__(
        self,
        network: Network,
        batch: int,
        loss_term: sp.Expr | None = None,
        penalty: str = "lambda",
    ) -> None:
        if loss_term is not None:
            if not isinstance(loss_term, sp.Expr) or not loss_term.free_symbols <= {
                a_scalar,
                y_scalar,
            }:
                raise VerifyError(
                    f"loss formula: got {shown(loss_term)}; must be an expression in the "
                    "output a and the target y only"
                )
        if penalty not in PENALTY_SCALES:
            raise VerifyError(f"penalty: got {shown(penalty)}; known: {', '.join(PENALTY_SCALES)}")
        self.net = network
        self.L = network.depth
        self.batch = batch
        self.loss_term = loss_term
        self.penalty_kind = penalty
        self.instance = instance.build(network, batch)
        self.insts = _views(self.instance)
        if loss_term is not None:
            self.insts = [
                replace(view, cost=self.cost_of(view.a[self.L], view.y)) for view in self.insts
            ]
        self.lam: sp.Expr = sp.Symbol("lambda", positive=True) if network.l2 > 0 else sp.S.Zero
        penalty_sum = sp.S.Zero
        for key in instance.decayed(network):
            penalty_sum += sum((c**2 for c in self.instance.parameters[key]), sp.S.Zero)
        self.penalty = penalty_sum
        self.penalty_factor: sp.Expr = PENALTY_SCALES[penalty](sp.Integer(batch))
        self._delta: dict[tuple[int, int], sp.Matrix] = {}
        self.targets = [s for it in self.insts for s in it.y]
        self.distribution = LOSSES[network.loss].target_is_distribution

    def cost_of(self, output: sp.Matrix, target: sp.Matrix) -> sp.Expr:
        """One sample's cost: the loss term (the setting's formula, else the registry's)
        summed over the output units."""
        term = self.loss_term if self.loss_term is not None else LOSSES[self.net.loss].term
        return sp.Add(
            *[term.xreplace({a_scalar: output[r], y_scalar: target[r]}) for r in range(output.rows)]
        )

    def params(self, layer: int) -> dict[str, float]:
        return self.net.layers[layer - 1].param_values()

    def activation(self, layer: int) -> str:
        return self.net.layers[layer - 1].activation

    def cost(self, sample: int = 0) -> sp.Expr:
        return self.insts[sample].cost

    def objective(self, first_cost: sp.Expr | None = None) -> sp.Expr:
        """``J``: the mean cost over the batch plus the scaled weight penalty."""
        costs = [self.cost(s) for s in range(self.batch)]
        if first_cost is not None:
            costs[0] = first_cost
        return sp.Add(*costs) / self.batch + self.penalty_factor * self.lam * self.penalty

    def _with_z(self, layer: int, sample: int, fresh: sp.Matrix) -> instance.Instance:
        """The instance with ``z^layer`` of ``sample`` replaced by ``fresh``."""
        zs = list(self.instance.z[layer])
        zs[sample] = fresh
        return instance.build(self.net, self.batch, override={layer: tuple(zs)})

    def delta(self, layer: int, sample: int = 0) -> sp.Matrix:
        """Brute force: ∂C/∂z^layer by ``sympy.diff`` through fresh pre-activations."""
        key = (layer, sample)
        if key not in self._delta:
            original = self.instance.z[layer][sample]
            fresh = sp.Matrix(
                [sp.Dummy(f"zeta{layer}_{r}", real=True) for r in range(original.rows)]
            )
            inst = self._with_z(layer, sample, fresh)
            cost = self.cost_of(inst.a[self.L][sample], inst.y[sample])
            back = dict(zip(fresh, original, strict=True))
            self._delta[key] = sp.Matrix([sp.diff(cost, f).xreplace(back) for f in fresh])
        return self._delta[key]

    def forward_from(self, role: str, layer: int, fresh: sp.Matrix) -> dict[tuple[str, int], Any]:
        """Downstream quantities of sample 1 when ``role^layer`` is replaced by ``fresh``.

        ``a^layer`` is replaced through the next layer's pre-activation, which the builder's
        layer definition computes from it (verify's networks are plain stacks).
        """
        out: dict[tuple[str, int], Any] = {(role, layer): fresh}
        if role == "z":
            inst = self._with_z(layer, 0, fresh)
        elif layer == self.L:
            inst = None
        else:
            nxt = layer + 1
            spec = self.net.layers[nxt - 1]
            kind = get_layer_kind(spec.kind)
            li = instance.layer_instance(kind, instance.layer_sizes(self.net, nxt, self.batch))
            bind: dict[sp.Expr, sp.Expr] = dict(instance.hyper_values(self.net, nxt))
            for p, (_, es) in zip(kind.parameters, li.parameters, strict=True):
                bind.update(zip(es, list(self.instance.parameters[(p.name, nxt)]), strict=True))
            bind.update(zip(li.inputs[0], list(fresh), strict=True))
            zs = list(self.instance.z[nxt])
            zs[0] = sp.Matrix([e.xreplace(bind) for e in li.forward])
            inst = instance.build(self.net, self.batch, override={nxt: tuple(zs)})
        if inst is None:
            cost = self.cost_of(fresh, self.insts[0].y)
        else:
            start = layer if role == "z" else layer + 1
            if role == "z":
                out[("a", layer)] = inst.a[layer][0]
            for lay in range(start, self.L + 1):
                out.setdefault(("z", lay), inst.z[lay][0])
                out[("a", lay)] = inst.a[lay][0]
            cost = self.cost_of(inst.a[self.L][0], inst.y[0])
        out[("C", 0)] = cost
        out[("J", 0)] = self.objective(cost)
        return out

    def symbols(self) -> list[sp.Symbol]:
        syms = set(self.instance.symbols())
        if self.lam != 0:
            syms.add(self.lam)
        return sorted(syms, key=lambda s: s.name)


@functools.lru_cache(maxsize=16)
def small_model(
    network: Network, batch: int, loss_term: sp.Expr | None = None, penalty: str = "lambda"
) -> Model:
    """The small explicit model of ``network`` for ``batch`` samples, cached.

    ``loss_term`` (an expression in :data:`symprop.core.registry.a` and ``y``, summed over
    the output units) replaces the registry loss; ``penalty`` (a key of
    :data:`PENALTY_SCALES`) scales λ in ``J``.
    """
    return Model(network, batch, loss_term, penalty)


# ---------------------------------------------------------------- the time limit


class Deadline:
    """The time limit of one claim, checked between steps."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise VerifyError(
                f"checking this claim took longer than {self.seconds:g} s; it was stopped"
            )
