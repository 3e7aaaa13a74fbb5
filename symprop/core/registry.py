"""The one registry of activations and losses.

An entry is a SymPy *definition* plus its display names, and nothing that can be derived
from those: derivatives, their "in terms of the output" forms, output ranges and the
output-layer cancellations are all computed from the definitions (see
:mod:`symprop.core.calculus`) and proven there. Adding an activation is adding one entry.

Conventions (fixed by the public contract):

* Activations act on the pre-activation ``z``; ``a = phi(z)``.
* Losses are per sample, a sum over output components ``k`` of a term ``ell(a_k, y_k)``;
  the cost over a mini-batch is the mean of the per-sample costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symprop.core.errors import SpecError

# The canonical variables in which every definition is written.
z = sp.Symbol("z", real=True)
a = sp.Symbol("a", real=True)
y = sp.Symbol("y", real=True)
alpha = sp.Symbol("alpha", positive=True)

# Softmax is the one vector activation: it is written in index form over n components.
i_idx, j_idx, k_idx = sp.symbols("i j k", integer=True, positive=True)
n_units = sp.Symbol("n", integer=True, positive=True)
# Labels without assumptions, so substituting the real scalars a, y, z never touches them.
z_vec = sp.IndexedBase("z")
a_vec = sp.IndexedBase("a")
y_vec = sp.IndexedBase("y")


@dataclass(frozen=True)
class Parameter:
    """A named scalar parameter of an activation (e.g. the slope of leaky ReLU).

    Values lie in (0, ``upper``] for a positive ``symbol``, else in [−``upper``, ``upper``]:
    the bound keeps the numeric proof valid (a larger slope magnifies the central-difference
    step of an upstream parameter across a downstream kink).
    """

    name: str
    symbol: sp.Symbol
    default: float
    latex: str
    description: str
    upper: float = 1e3

    @property
    def allowed(self) -> str:
        """What a value must be, as an error line says it."""
        low = "(0" if self.symbol.is_positive else f"[{-self.upper:g}"
        return f"{self.name} ({self.description}) must be a number in {low}, {self.upper:g}]"

    def accepts(self, value: float) -> bool:
        """True when ``value`` lies in the allowed range."""
        low_ok = value > 0 if self.symbol.is_positive else value >= -self.upper
        return low_ok and value <= self.upper


@dataclass(frozen=True)
class Activation:
    """An activation function, given by its SymPy definition.

    ``definition`` is an expression in :data:`z` (and the parameter symbols) for an
    elementwise activation; for a vector activation it is the ``i``-th component written
    with :data:`z_vec`, :data:`i_idx`, :data:`k_idx` and :data:`n_units`.
    """

    name: str
    latex: str
    unicode: str
    definition: sp.Expr
    elementwise: bool = True
    parameters: tuple[Parameter, ...] = ()
    hidden_allowed: bool = True
    description: str = ""

    def parameter(self, name: str) -> Parameter:
        """Return the parameter called ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def instantiate(self, values: dict[str, float] | None = None) -> sp.Expr:
        """The definition with parameters bound (to ``values`` or their defaults), exact."""
        values = values or {}
        subs = {
            p.symbol: sp.nsimplify(values.get(p.name, p.default), rational=True)
            for p in self.parameters
        }
        return self.definition.subs(subs)


@dataclass(frozen=True)
class Loss:
    """A per-sample loss: ``C = sum_k term(a_k, y_k)``.

    ``output_domain`` is where the loss is defined as a function of the output (derived
    checks test the output activation's range against it); ``target_is_distribution`` says
    the targets of one sample sum to one (one-hot or probability vectors), an assumption the
    softmax cancellation uses and the documents state.
    """

    name: str
    latex: str
    unicode: str
    term: sp.Expr
    output_domain: sp.Interval = field(default_factory=lambda: sp.S.Reals)
    target_is_distribution: bool = False
    description: str = ""


_SIGMOID = 1 / (1 + sp.exp(-z))

ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in [
        Activation("identity", r"\operatorname{id}", "id", z, description="a = z"),
        Activation("sigmoid", r"\sigma", "σ", _SIGMOID, description="logistic sigmoid"),
        Activation("tanh", r"\tanh", "tanh", sp.tanh(z), description="hyperbolic tangent"),
        Activation(
            "relu",
            r"\operatorname{ReLU}",
            "ReLU",
            sp.Piecewise((z, z > 0), (0, True)),
            description="rectified linear unit",
        ),
        Activation(
            "leaky_relu",
            r"\operatorname{LReLU}",
            "LReLU",
            sp.Piecewise((z, z > 0), (alpha * z, True)),
            parameters=(Parameter("alpha", alpha, 0.01, r"\alpha", "slope for z ≤ 0"),),
            description="leaky ReLU",
        ),
        Activation(
            "softplus",
            r"\operatorname{softplus}",
            "softplus",
            sp.log(1 + sp.exp(z)),
            description="smooth ReLU",
        ),
        Activation(
            "elu",
            r"\operatorname{ELU}",
            "ELU",
            sp.Piecewise((z, z > 0), (alpha * (sp.exp(z) - 1), True)),
            parameters=(Parameter("alpha", alpha, 1.0, r"\alpha", "scale for z ≤ 0"),),
            description="exponential linear unit",
        ),
        Activation(
            "silu",
            r"\operatorname{SiLU}",
            "SiLU",
            z * _SIGMOID,
            description="sigmoid-weighted linear unit (swish)",
        ),
        Activation(
            "softmax",
            r"\operatorname{softmax}",
            "softmax",
            sp.exp(z_vec[i_idx]) / sp.Sum(sp.exp(z_vec[k_idx]), (k_idx, 1, n_units)),
            elementwise=False,
            hidden_allowed=False,
            description="normalised exponential (output layer only)",
        ),
    ]
}

LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("mse", r"\text{squared error}", "squared error", (a - y) ** 2),
        Loss(
            "half_sse",
            r"\text{half squared error}",
            "half squared error",
            sp.Rational(1, 2) * (a - y) ** 2,
        ),
        Loss(
            "binary_cross_entropy",
            r"\text{binary cross-entropy}",
            "binary cross-entropy",
            -(y * sp.log(a) + (1 - y) * sp.log(1 - a)),
            output_domain=sp.Interval.open(0, 1),
        ),
        Loss(
            "cross_entropy",
            r"\text{cross-entropy}",
            "cross-entropy",
            -y * sp.log(a),
            output_domain=sp.Interval.open(0, 1),
            target_is_distribution=True,
        ),
    ]
}


def get_activation(name: object, field_name: str = "activation") -> Activation:
    """Look up an activation by name, or raise a :class:`SpecError` listing the known ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise SpecError(field_name, name, f"known activations: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def get_loss(name: object, field_name: str = "loss") -> Loss:
    """Look up a loss by name, or raise a :class:`SpecError` listing the known ones."""
    if not isinstance(name, str) or name not in LOSSES:
        raise SpecError(field_name, name, f"known losses: {', '.join(LOSSES)}")
    return LOSSES[name]
