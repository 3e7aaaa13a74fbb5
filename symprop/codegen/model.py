"""What a generated training module computes, independent of the language it is written in.

:func:`build_model` reads a proven :class:`~symprop.derivation.build.Derivation` and
returns a :class:`TrainingModel`: per layer its sizes, its activation with parameters
bound, φ and φ' in stable forms, its initialisation; for the output layer φ_L, the
per-sample cost written in z^L where that is stabler, and δ^L (the proven cancellation
``c (a − y)`` when the derivation found one); the regularisation and the kind of targets.
Everything is SymPy or plain data, already stabilised (:mod:`symprop.codegen.stable`) but
not printed: a backend (``codegen/numpy``) prints it, and only a backend decides how.

Nothing here knows a particular activation or loss: functions come from the registry, φ'
from the derivation's proven forms, δ^L from the derived output delta, the initialisation
from a derived property of the activation (He for rectifiers, i.e. φ(z)/z → 1 as z → ∞
but not as z → −∞; Glorot otherwise).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from symprop.codegen.stable import (
    guard_denominators,
    guard_logs,
    separate_sums,
    share_output,
    stabilise,
    tidy_signs,
)
from symprop.core.handform import hand_form
from symprop.core.registry import ACTIVATIONS, LOSSES, a, a_vec, i_idx, j_idx, y_vec, z
from symprop.core.spec import Network
from symprop.core.why import Why
from symprop.derivation.steps import formula_numbers

if TYPE_CHECKING:  # annotations only: the documents import codegen, and the
    # derivation imports the documents (notebook display)
    from symprop.derivation.build import Derivation

__all__ = ["Init", "LayerModel", "OutputModel", "Target", "TrainingModel", "build_model"]


class Init(enum.Enum):
    """How a layer's weights are drawn."""

    HE = "he"  # N(0, 2/fan_in): rectifiers
    GLOROT = "glorot"  # U(−r, r), r = sqrt(6/(fan_in + fan_out)): everything else


class Target(enum.Enum):
    """What the targets of the loss are."""

    CLASS = "class"  # a distribution over classes: one-hot rows (or integer labels)
    UNIT = "unit"  # values in [0, 1]
    REAL = "real"  # any real values


@dataclass(frozen=True)
class LayerModel:
    """Layer ``index`` (1..L): z = W a_prev + b, a = φ(z), in unit-level symbols."""

    index: int
    fan_in: int
    width: int
    activation: str
    params: tuple[tuple[str, float], ...]  # the activation's parameter values, by name
    elementwise: bool  # φ acts on each unit alone (softmax does not)
    phi: sp.Expr  # φ(z) with its parameters bound, stabilised, in ``z``
    dphi: sp.Expr | None  # φ'(z) in ``a`` and ``z``, stabilised; None: 1 or not elementwise
    dphi_proven: sp.Expr | None  # the derivation's proven φ' form; None: not elementwise
    delta: tuple[sp.Basic, sp.Basic]  # the derivation's δ^l equation (lhs, rhs)
    init: Init
    z_vector: sp.Basic | None = None  # the derivation's vector z^l, which ``z`` stands for


@dataclass(frozen=True)
class OutputModel:
    """The output layer's activation, per-sample cost and δ^L, in ``a``, ``z``, ``y``."""

    activation: sp.Expr  # φ_L stabilised (component j for a vector activation)
    cost: sp.Expr  # the loss term in z^L where stabler, φ_L itself left as ``a``, logs guarded
    shared: tuple[tuple[sp.Symbol, sp.Expr], ...]  # what φ_L and the cost share, bound first
    shared_activation: sp.Expr | None  # φ_L through ``shared`` (None: nothing shared)
    shared_cost: sp.Expr  # the cost through ``shared``, logs guarded
    delta: sp.Expr  # δ^L_j ready to print: sums separated, logs and divisions guarded
    canonical: bool  # the derivation proved δ^L = c (a − y)
    loss_term: sp.Expr  # the registry's per-sample loss term, for documentation


@dataclass(frozen=True)
class TrainingModel:
    """Everything a training module computes for ``network``, before any printing."""

    network: Network
    layers: tuple[LayerModel, ...]
    output: OutputModel
    l2: float
    has_l2: bool  # λ ≠ 0: the objective has a weight-decay term
    regularize_biases: bool
    target: Target
    assumptions: tuple[Why, ...]  # rendered by each backend's printer
    n_params: int
    # Formula numbers by step id, as the derivation document tags them: code cites them.
    numbers: dict[str, int] = field(default_factory=dict)

    @property
    def widths(self) -> tuple[int, ...]:
        """Layer sizes n_0, …, n_L."""
        return self.network.widths

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.layers)


@functools.cache
def _is_rectifier(name: str) -> bool:
    """He initialisation fits activations that pass large positive inputs through
    (φ(z)/z → 1 as z → ∞) but not large negative ones (a different limit as z → −∞)."""
    act = ACTIVATIONS[name]
    if not act.elementwise:
        return False
    phi = act.instantiate()

    def slope(direction: int) -> sp.Expr:
        expr = phi
        if isinstance(expr, sp.Piecewise):
            # The branch that holds far out in this direction (conditions are on z).
            far = direction * sp.Integer(10) ** 9
            expr = next(e for e, c in expr.args if c.subs(z, far) == sp.true)
        return sp.limit(expr / z, z, direction * sp.oo)

    try:
        up, down = slope(1), slope(-1)
    except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - SymPy gave up
        return False
    return bool(up == 1 and down != 1)


def _bind(expr: sp.Expr, activation: str, values: dict[str, float]) -> sp.Expr:
    """``expr`` with the parameters of ``activation`` replaced by exact ``values``."""
    act = ACTIVATIONS[activation]
    return expr.subs(
        {p.symbol: sp.nsimplify(values[p.name], rational=True) for p in act.parameters}
    )


def _numeric_steps_inside(expr: sp.Expr) -> sp.Expr:
    """``expr`` with a factor stepping between numbers other than 0 and 1 (leaky ReLU's
    {1; 1/100}) multiplied into its branches: NumPy makes such a step an array of float64
    of its own, which would upcast float32 data, where each branch computed on the data
    keeps its dtype. A 0/1 step is a boolean mask and keeps the data's dtype as it is."""
    if not isinstance(expr, sp.Mul):
        return expr
    for step in expr.args:
        if not isinstance(step, sp.Piecewise):
            continue
        values = [value for value, _ in step.args]
        if all(v.is_number for v in values) and set(values) != {0, 1}:
            rest = sp.Mul(*[f for f in expr.args if f is not step], evaluate=False)
            return sp.Piecewise(
                *[(hand_form(value * rest), cond) for value, cond in step.args], evaluate=False
            )
    return expr


def _output(d: Derivation) -> OutputModel:
    """φ_L, the cost in the same stable form of φ_L (then left as ``a``), what the two share
    (computed once by a training step that needs both), and δ^L."""
    net = d.network
    out = net.layers[-1]
    loss = LOSSES[net.loss]
    act = ACTIVATIONS[out.activation]
    if act.elementwise:
        applied = _bind(act.definition, out.activation, out.param_values())
        stable_def = stabilise(applied)
        term = stabilise(loss.term.subs(a, applied))
    else:
        # Component i of a vector activation: the loss term of that component.
        stable_def = stabilise(act.definition)
        term = stabilise(loss.term.subs(a, act.definition))
    factor = d.output_delta.canonical_factor
    if factor is not None:
        # The derivation proved δ^L = c (a − y): print exactly that.
        diff = a_vec[j_idx] - y_vec[j_idx]
        delta = diff if factor == 1 else sp.Mul(factor, diff, evaluate=False)
    else:
        delta = separate_sums(_bind(d.output_delta.expr, out.activation, out.param_values()), i_idx)
        delta = stabilise(delta)
        domain = loss.output_domain
        delta = guard_denominators(delta, a_vec[j_idx], domain)
        delta = tidy_signs(guard_denominators(delta, a_vec[i_idx], domain))
        # The form a textbook writes (2 (a − y) σ(z), not (2a − 2y) σ(z)), proven equal: the
        # code and its docstring both print this one expression.
        delta = _numeric_steps_inside(hand_form(delta))
    # What is left of the activation itself is the a^L computed anyway.
    cost = term.xreplace({stable_def: a})
    shared, through, shared_cost = share_output(stable_def, cost, str(net.depth))
    return OutputModel(
        activation=stable_def,
        cost=tidy_signs(guard_logs(cost)),
        shared=shared,
        shared_activation=through if shared else None,
        shared_cost=tidy_signs(guard_logs(shared_cost)),
        delta=delta,
        canonical=d.canonical,
        loss_term=loss.term,
    )


def build_model(d: Derivation) -> TrainingModel:
    """The backend-neutral model of the training module for the derived network ``d``.

    Parameters
    ----------
    d
        A derivation from :func:`symprop.derive`; its proven forms are used as they are.

    Returns
    -------
    TrainingModel
        Per-layer and output data in SymPy, stabilised but not printed.
    """
    net = d.network
    widths = net.widths
    layers = []
    for lf, layer in zip(d.layers, net.layers, strict=True):
        l = lf.index
        act = ACTIVATIONS[layer.activation]
        values = layer.param_values()
        dphi = None
        if act.elementwise and lf.dphi_form != 1:
            dphi = hand_form(tidy_signs(stabilise(lf.dphi_form)))
        step = d.step(f"summary.delta.{l}")
        layers.append(
            LayerModel(
                index=l,
                fan_in=widths[l - 1],
                width=widths[l],
                activation=layer.activation,
                params=tuple(values.items()),
                elementwise=act.elementwise,
                phi=stabilise(_bind(act.definition, layer.activation, values)),
                dphi=dphi,
                dphi_proven=lf.dphi.form if act.elementwise else None,
                delta=(step.lhs, step.rhs),
                init=Init.HE if _is_rectifier(layer.activation) else Init.GLOROT,
                z_vector=d.step(f"forward.layer.{l}.z").lhs,
            )
        )
    loss = LOSSES[net.loss]
    if loss.target_is_distribution:
        target = Target.CLASS
    elif loss.output_domain != sp.S.Reals:
        target = Target.UNIT
    else:
        target = Target.REAL
    # λ = −0.0 is no weight decay: the same module as λ = 0 (the sign would only be printed).
    l2 = float(net.l2) or 0.0
    return TrainingModel(
        network=net,
        layers=tuple(layers),
        output=_output(d),
        l2=l2,
        has_l2=l2 != 0.0,
        regularize_biases=net.regularize_biases,
        target=target,
        assumptions=tuple(d.assumptions),
        n_params=net.n_params,
        numbers=formula_numbers(d.steps),
    )
