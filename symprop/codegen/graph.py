"""What a generated training module computes for a network of layer kinds.

:func:`build_graph_model` reads a derivation whose ``layers`` carry each layer's kind,
sources, consumers, bound sizes and the kind's derived rules
(:class:`~symprop.core.layer_calculus.LayerRules`), and returns a :class:`GraphModel`:
per layer a :class:`KindBlock` of SymPy forms and data, not printed. A backend prints it.

Nothing here names a particular kind. What a block holds follows from the kind's data:

* the forward form in training: the proven matrix form when the kind has one, else the
  index form, with the kind's intermediates computed first (they are also what the
  gradients are written in);
* the forward form in prediction: ``kind.inference`` (running statistics, no given
  arrays) when the kind has one, else the training form;
* per input and per parameter the derived gradient: its proven matrix form when there is
  one, else its compact index form, in the upstream gradient ``g`` = δ of this layer;
  where a layer's output feeds several layers, ∂C/∂a is the sum over its consumers;
* per given array (a 0/1 array the derivation treats as a constant, such as a dropout
  mask) the probability of a 1: the ``π`` that makes the training forward equal the
  inference form in expectation (``sympy.solve`` of forward(given := π) = inference), so
  that a kind's given array is drawn as its inference form assumes;
* per running statistic its batch value, averaged into the running value with the kind's
  ``momentum`` hyper-parameter (the rule :class:`~symprop.core.layers.RunningStatistic`
  states);
* per parameter its initialisation (the kind's ``init``) and whether weight decay applies
  (role ``weight``; ``bias`` with ``regularize_biases``; never ``scale`` or ``shift``, the
  usual choice for normalisation parameters: decaying γ towards 0 would fight the
  normalisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from symprop.codegen.model import OutputModel, Target, _output
from symprop.codegen.stable import stabilise, tidy_signs
from symprop.core.errors import SpecError
from symprop.core.layer_calculus import LayerRules
from symprop.core.layers import LayerKind, Operand
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import Network
from symprop.core.topology import feature_axes
from symprop.core.why import Why

if TYPE_CHECKING:  # annotations only: the documents import codegen, and the
    # derivation imports the documents (notebook display)
    from symprop.derivation.build import Derivation

__all__ = ["GivenArray", "GraphModel", "KindBlock", "ParameterModel", "build_graph_model"]


@dataclass(frozen=True)
class ParameterModel:
    """A trainable parameter of one layer: shape for one sample, initialisation, decay."""

    name: str  # the kind's name for it (W, gamma…)
    shape: tuple[int, ...]
    role: str
    init: str
    decayed: bool


@dataclass(frozen=True)
class GivenArray:
    """A 0/1 array the derivation treats as given, drawn 1 with probability ``keep``."""

    name: str
    shape: tuple[int, ...]  # for one sample
    keep: sp.Expr  # the derived probability of a 1, hyper-parameters bound


@dataclass(frozen=True)
class RunningModel:
    """A running statistic: its shape, initial value and batch value."""

    operand: Operand
    indices: tuple[sp.Symbol, ...]
    shape: tuple[int, ...]
    init: str
    statistic: sp.Expr


@dataclass(frozen=True)
class KindBlock:
    """Layer ``index`` (1..L): z = kind(a of ``sources``), a = φ(z)."""

    index: int
    width: int
    kind: LayerKind
    rules: LayerRules
    sources: tuple[int, ...]
    consumers: tuple[int, ...]
    scalars: tuple[tuple[sp.Symbol, sp.Expr], ...]  # hyper-parameters and sizes, bound
    activation: str
    act_params: tuple[tuple[str, float], ...]
    dphi: sp.Expr | None  # φ'(z) in a and z, stabilised; None when it is 1
    dphi_proven: sp.Expr | None
    parameters: tuple[ParameterModel, ...]
    given: tuple[GivenArray, ...]
    running: tuple[RunningModel, ...]
    momentum: sp.Expr | None  # the running averages' weight of the newest batch

    @property
    def batch_coupled(self) -> bool:
        """Whether the kind computes over the whole batch."""
        return self.kind.batch_coupled


@dataclass(frozen=True)
class GraphModel:
    """Everything a training module computes for a network of layer kinds."""

    network: Network
    blocks: tuple[KindBlock, ...]
    output: OutputModel
    l2: float
    has_l2: bool
    regularize_biases: bool
    target: Target
    assumptions: tuple[Why, ...]
    n_params: int

    @property
    def batch_coupled(self) -> bool:
        """Whether any layer couples the samples of a batch (then batches need 2 samples)."""
        return any(b.batch_coupled for b in self.blocks)


def keep_probability(kind: LayerKind, given: Operand, values: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """The probability of a 1 in the 0/1 array ``given``: the π for which the training
    forward with ``given := π`` equals the inference form (so prediction computes the
    expected training output).

    Raises
    ------
    SpecError
        When the kind has no inference form or the equation has no single solution.
    """
    field = f"layer_kinds[{kind.name}].given[{given.name}]"
    if kind.inference is None:
        raise SpecError(field, given.name, "a kind with an inference form to draw it for")
    pi = sp.Symbol("pi_keep", positive=True)
    if given.shape:
        trained = kind.inlined().replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == given.base, lambda e: pi
        )
    else:
        trained = kind.inlined().xreplace({given.scalar: pi})
    solved = sp.solve(sp.Eq(trained, kind.inference), pi)
    if len(solved) != 1:
        raise SpecError(field, given.name, "an inference form that fixes its mean")
    keep = sp.nsimplify(solved[0].xreplace(values))
    if not (keep.is_number and 0 <= keep <= 1):
        raise SpecError(field, keep, "a probability in [0, 1]")
    return keep


def _block(d: Derivation, l: int, regularize_biases: bool) -> KindBlock:
    lf = d.layers[l - 1]
    rules = lf.rules
    kind = rules.kind
    sizes = dict(lf.sizes)
    values: dict[sp.Symbol, sp.Expr] = {s: sp.Integer(v) for s, v in sizes.items()}
    for h in kind.hyper_parameters:
        values[h.symbol] = (
            sp.Float(lf.options[h.name]) if h.name in lf.options else sp.Float(h.default)
        )

    def shape(op: Operand) -> tuple[int, ...]:
        return tuple(sizes[s] for s in feature_axes(kind, op))

    params = tuple(
        ParameterModel(
            p.name,
            shape(p.operand),
            p.role,
            p.init,
            p.role == "weight" or (p.role == "bias" and regularize_biases),
        )
        for p in kind.parameters
    )
    given = tuple(
        GivenArray(g.name, shape(g), keep_probability(kind, g, values)) for g in kind.given
    )
    running = tuple(
        RunningModel(r.operand, r.indices, shape(r.operand), r.init, r.statistic)
        for r in kind.running
    )
    momentum = None
    if running:
        hyper = {h.name: h for h in kind.hyper_parameters}
        if "momentum" not in hyper:
            raise SpecError(
                f"layer_kinds[{kind.name}].hyper_parameters",
                sorted(hyper),
                "a momentum for its running statistics",
            )
        momentum = values[hyper["momentum"].symbol]
    act = ACTIVATIONS[lf.activation]
    dphi = None
    if act.elementwise and lf.dphi_form != 1:
        dphi = tidy_signs(stabilise(lf.dphi_form))
    return KindBlock(
        index=l,
        width=lf.width,
        kind=kind,
        rules=rules,
        sources=lf.sources,
        consumers=lf.consumers,
        scalars=tuple(values.items()),
        activation=lf.activation,
        act_params=tuple(lf.params.items()),
        dphi=dphi,
        dphi_proven=lf.dphi.form if act.elementwise else None,
        parameters=params,
        given=given,
        running=running,
        momentum=momentum,
    )


def build_graph_model(d: Derivation) -> GraphModel:
    """The backend-neutral model of the training module of a network of layer kinds.

    Parameters
    ----------
    d
        A derivation whose ``layers`` carry kinds, sources and consumers.
    """
    net = d.network
    for lf in d.layers[:-1]:
        if not ACTIVATIONS[lf.activation].elementwise:
            raise SpecError(
                f"layers[{lf.index - 1}].activation", lf.activation, "an elementwise activation"
            )
    blocks = tuple(_block(d, lf.index, net.regularize_biases) for lf in d.layers)
    loss = LOSSES[net.loss]
    if loss.target_is_distribution:
        target = Target.CLASS
    elif loss.output_domain != sp.S.Reals:
        target = Target.UNIT
    else:
        target = Target.REAL
    l2 = float(net.l2) or 0.0
    n_params = sum(math.prod(p.shape) for b in blocks for p in b.parameters)
    return GraphModel(
        network=net,
        blocks=blocks,
        output=_output(d),
        l2=l2,
        has_l2=l2 != 0.0,
        regularize_biases=net.regularize_biases,
        target=target,
        assumptions=tuple(d.assumptions),
        n_params=n_params,
    )
