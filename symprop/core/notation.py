"""Notation profiles: how the quantities of one derivation are written in the documents.

The derivation has a single internal convention (input layer 0, ``W^l`` maps layer
``l - 1`` to layer ``l``; see :mod:`symprop.core.symbols`). A profile is *data* that says, per
role, which LaTeX symbol stands for it and how its layer label is written and shifted:

* ``nielsen`` (Nielsen's book, ch. 2, and Lehre's lecture notes): ``z^l_j``, ``a^l_j``,
  ``w^l_{jk}``, ``b^l_j``, ``δ^l_j``; the input is layer 1, ``a^1 = x``, and ``w^l`` maps
  layer ``l - 1`` to layer ``l`` (so the generated code's ``W1`` is ``w^2``). Every layered
  role shifts by one and the generic ``l``, ``L`` are renamed ``l - 1``, ``L - 1``.
* ``goodfellow`` (Goodfellow et al., Deep Learning, ch. 6): pre-activations ``a^{(l)}``, hidden
  units ``h^{(l)}``, ``W^{(l)}``, ``b^{(l)}``, the gradient with respect to the
  pre-activation ``g^{(l)}``, the output ``ŷ``, activation ``f``, loss ``𝓛``.
* ``ng`` (Ng's lecture on backpropagation): ``z^{(l)}``, ``a^{(l)}``, ``Θ^{(l)}``,
  ``δ^{(l)}``, ``Δ^{(l)}``, ``D^{(l)}``, widths ``s_l``, batch size ``m``; the input is
  layer 1 and ``Θ^{(l)}`` maps layer ``l`` to ``l + 1``. Unit quantities shift by one,
  parameters do not, and a generic ``l`` (or ``L``) is renamed ``l - 1`` (``L - 1``) so
  that the recurrence reads as in the lecture: ``δ^{(l)} = (Θ^{(l)})ᵀ δ^{(l+1)} ⊙ g'(z^{(l)})``.

One template serves every profile; only these tables differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sympy as sp

from symprop.core.errors import SymPropError
from symprop.core.symbols import L_sym, l_sym


@dataclass(frozen=True)
class RoleNotation:
    """How one role (``z``, ``a``, ``W``…) is written.

    Attributes
    ----------
    symbol
        LaTeX symbol of the quantity (vector, matrix or scalar).
    entry
        LaTeX symbol of one entry in index form (``w`` for ``W``); ``None`` means ``symbol``.
    shift
        Added to the internal layer number of this role.
    description
        Plain text for the notation table (no math; escaped when printed).
    """

    symbol: str
    entry: str | None = None
    shift: int = 0
    description: str = ""

    @property
    def entry_symbol(self) -> str:
        """The symbol used for one entry (index form)."""
        return self.entry if self.entry is not None else self.symbol


@dataclass(frozen=True)
class Profile:
    """A notation profile: symbols and layer labelling, as data.

    Attributes
    ----------
    name
        ``nielsen``, ``goodfellow`` or ``ng``.
    source
        Where the notation comes from (plain text for the document).
    roles
        Per role (see :data:`symprop.core.symbols.ROLES`, plus ``n`` for widths and ``D`` for the
        regularised gradient), its :class:`RoleNotation`.
    parenthesized
        Layer labels as ``a^{(l)}`` rather than ``a^{l}``.
    generic_shift
        Added to the generic layer variables ``l`` and ``L`` before printing (a renaming
        of the universally quantified layer variable; see the module docstring).
    output
        LaTeX symbol replacing the output activation ``a^L`` (``\\hat{y}``), or ``None``.
    activation
        Symbol of a generic activation function (``\\phi``, ``f``, ``g``).
    batch
        Symbol of the mini-batch size.
    kronecker
        ``"delta"`` to write ``δ_{ij}``; ``"iverson"`` to write ``[i = j]`` (used where δ
        already names the local gradient).
    layer_count
        Plain-text meaning of ``L`` in this profile.
    input_layer
        The label of the input layer, as this profile numbers layers.
    decay
        The derivation's weight-decay coefficient λ (``J = C + λ Σ_l ‖W^l‖²``) in the
        book's own letters (Nielsen: ``λ'/(2n)``, ``n`` the size of the training set), or
        ``None`` where the book has no weight decay of its own.
    decay_printed
        Print every λ of the derivation as :attr:`decay` (the book's scaling throughout);
        otherwise λ is printed as it is and the relation is stated once.
    """

    name: str
    source: str
    roles: Mapping[str, RoleNotation]
    parenthesized: bool
    generic_shift: int = 0
    output: str | None = None
    activation: str = r"\phi"
    batch: str = "n"
    kronecker: str = "iverson"
    layer_count: str = ""
    input_layer: int = 0
    decay: sp.Expr | None = None
    decay_printed: bool = False

    def role(self, role: str) -> RoleNotation:
        """The notation of ``role``; an unknown role is a bug and fails naming it."""
        try:
            return self.roles[role]
        except KeyError:
            raise SymPropError(
                f"notation profile {self.name!r} has no symbol for role {role!r}; "
                f"known roles: {', '.join(self.roles)}"
            ) from None

    def layer(self, role: str, layer: sp.Expr | int, bound: bool = False) -> sp.Expr:
        """The displayed layer label of ``role`` at internal layer ``layer``.

        ``bound``: ``l`` is a summation variable over the weights (``Σ_l ‖W^l‖²``), renamed
        so that the weights read ``W^l`` in the profile (Ng's ``Σ_{l=1}^{L-1} (Θ^{(l)})²``,
        Nielsen's ``Σ_{l=2}^{L} (w^l)²``); see :meth:`bound_range`.
        """
        label = sp.sympify(layer)
        gs = self.generic_shift
        if gs or bound:
            to_l = l_sym - self.role("W").shift if bound else l_sym + gs
            label = label.subs({l_sym: to_l, L_sym: L_sym + gs}, simultaneous=True)
        return sp.expand(label + self.role(role).shift)

    def bound_range(self, lower: sp.Expr, upper: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """The printed limits of a sum over the layer variable ``l`` (see :meth:`layer`)."""
        shift = self.role("W").shift
        rename = {L_sym: L_sym + self.generic_shift}
        return (
            sp.expand(sp.sympify(lower).subs(rename) + shift),
            sp.expand(sp.sympify(upper).subs(rename) + shift),
        )


_COMMON: dict[str, RoleNotation] = {
    "x": RoleNotation("x", description="input vector of one sample"),
    "y": RoleNotation("y", description="target vector of one sample"),
    "J": RoleNotation("J", description="objective: mean cost plus the L2 term"),
    "lambda": RoleNotation(r"\lambda", description="weight-decay coefficient"),
    "eta": RoleNotation(r"\eta", description="learning rate"),
}


def _profile(**kwargs: object) -> Profile:
    roles = dict(_COMMON)
    roles.update(kwargs.pop("roles"))  # type: ignore[arg-type]
    return Profile(roles=MappingProxyType(roles), **kwargs)  # type: ignore[arg-type]


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "nielsen": _profile(
            name="nielsen",
            source="Nielsen, Neural Networks and Deep Learning, ch. 2; Lehre, Neural "
            "Computation, lecture 5",
            parenthesized=False,
            # Nielsen numbers the input layer 1 (a^1 = x) and w^l maps layer l - 1 to l:
            # every layered role is one more than the derivation's layer, and the generic
            # l and L are renamed so that the formulas read z^l = w^l a^{l-1} + b^l.
            generic_shift=-1,
            roles={
                "z": RoleNotation("z", shift=1, description="weighted input (pre-activation)"),
                "a": RoleNotation("a", shift=1, description="activation (output of a layer)"),
                "W": RoleNotation("w", shift=1, description="weight of a connection"),
                "b": RoleNotation("b", shift=1, description="bias"),
                "delta": RoleNotation(
                    r"\delta",
                    shift=1,
                    description="local gradient: derivative of the cost with respect to the "
                    "weighted input",
                ),
                "Delta": RoleNotation(
                    r"\Delta", shift=1, description="weight gradient summed over a batch"
                ),
                "n": RoleNotation("n", shift=1, description="number of units of a layer"),
                "C": RoleNotation("C", description="cost of one sample"),
            },
            activation=r"\phi",
            batch="m",
            kronecker="iverson",
            layer_count="number of layers, counting the input layer",
            input_layer=1,
            # Nielsen's (3.85): C = C_0 + λ'/(2n) Σ_w w², n the number of training samples.
            decay=sp.Symbol("lambda'", positive=True) / (2 * sp.Symbol("n", positive=True)),
        ),
        "goodfellow": _profile(
            name="goodfellow",
            source="Goodfellow, Bengio and Courville, Deep Learning, ch. 6",
            parenthesized=True,
            roles={
                "z": RoleNotation("a", description="pre-activation"),
                "a": RoleNotation("h", description="hidden units (output of a layer)"),
                "W": RoleNotation("W", description="weight of a connection"),
                "b": RoleNotation("b", description="bias"),
                "delta": RoleNotation(
                    "g", description="gradient of the loss with respect to the pre-activation"
                ),
                "Delta": RoleNotation(r"\Delta", description="weight gradient summed over a batch"),
                "n": RoleNotation("n", description="number of units of a layer"),
                "C": RoleNotation(r"\mathcal{L}", description="loss of one sample"),
            },
            output=r"\hat{y}",
            activation="f",
            batch="m",
            kronecker="delta",
            layer_count="number of layers after the input",
            input_layer=0,
        ),
        "ng": _profile(
            name="ng",
            source="Ng, Machine Learning, lecture on backpropagation",
            parenthesized=True,
            generic_shift=-1,
            roles={
                "z": RoleNotation("z", shift=1, description="weighted input (pre-activation)"),
                "a": RoleNotation("a", shift=1, description="activation (output of a layer)"),
                "W": RoleNotation(r"\Theta", description="weight of a connection"),
                "b": RoleNotation("b", description="bias"),
                "delta": RoleNotation(
                    r"\delta",
                    shift=1,
                    description="error: derivative of the cost with respect to the weighted input",
                ),
                "Delta": RoleNotation(r"\Delta", description="gradient accumulated over a batch"),
                "D": RoleNotation("D", description="regularised gradient of the objective"),
                "n": RoleNotation("s", shift=1, description="number of units of a layer"),
                "C": RoleNotation(r"\operatorname{cost}", description="cost of one sample"),
            },
            activation="g",
            batch="m",
            kronecker="iverson",
            layer_count="number of layers, counting the input layer",
            input_layer=1,
        ),
    }
)


def get_profile(name: str) -> Profile:
    """The profile called ``name``, or a :class:`SymPropError` listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise SymPropError(
            f"unknown notation {name!r}; known notations: {', '.join(PROFILES)}"
        ) from None
