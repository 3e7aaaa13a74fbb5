"""Notation profiles: how the quantities of one derivation are written in the documents.

The derivation has a single internal convention (input layer 0, ``W^l`` maps layer
``l - 1`` to layer ``l``; see :mod:`symprop.core.symbols`). A profile is *data* that says, per
role, which LaTeX symbol stands for it and how its layer label is written and shifted:

* ``nielsen`` (seed 000, Nielsen/Lehre): ``z^l_j``, ``a^l_j``, ``w^l_{jk}``, ``b^l_j``,
  ``δ^l_j``; the input is layer 0, ``a^0 = x`` (the generated code's numbering).
* ``goodfellow`` (seed 001, Goodfellow et al. ch. 6): pre-activations ``a^{(l)}``, hidden
  units ``h^{(l)}``, ``W^{(l)}``, ``b^{(l)}``, the gradient with respect to the
  pre-activation ``g^{(l)}``, the output ``ŷ``, activation ``f``, loss ``𝓛``.
* ``ng`` (seed 002, Ng): ``z^{(l)}``, ``a^{(l)}``, ``Θ^{(l)}``, ``δ^{(l)}``, ``Δ^{(l)}``,
  ``D^{(l)}``, widths ``s_l``, batch size ``m``; the input is layer 1 and ``Θ^{(l)}`` maps
  layer ``l`` to ``l + 1``. Unit quantities shift by one, parameters do not, and a generic
  ``l`` (or ``L``) is renamed ``l - 1`` (``L - 1``) so that the recurrence reads as in the
  lecture: ``δ^{(l)} = (Θ^{(l)})ᵀ δ^{(l+1)} ⊙ g'(z^{(l)})``.

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

    def role(self, role: str) -> RoleNotation:
        """The notation of ``role``; an unknown role is a bug and fails naming it."""
        try:
            return self.roles[role]
        except KeyError:
            raise SymPropError(
                f"notation profile {self.name!r} has no symbol for role {role!r}; "
                f"known roles: {', '.join(self.roles)}"
            ) from None

    def layer(self, role: str, layer: sp.Expr | int) -> sp.Expr:
        """The displayed layer label of ``role`` at internal layer ``layer``."""
        label = sp.sympify(layer)
        if self.generic_shift:
            label = label.subs(
                {l_sym: l_sym + self.generic_shift, L_sym: L_sym + self.generic_shift},
                simultaneous=True,
            )
        return sp.expand(label + self.role(role).shift)


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
            source="Nielsen; Lehre, Neural Computation (seed 000)",
            parenthesized=False,
            roles={
                "z": RoleNotation("z", description="weighted input (pre-activation)"),
                "a": RoleNotation("a", description="activation (output of a layer)"),
                "W": RoleNotation("W", "w", description="weight of a connection"),
                "b": RoleNotation("b", description="bias"),
                "delta": RoleNotation(
                    r"\delta",
                    description="local gradient: derivative of the cost with respect to the "
                    "weighted input",
                ),
                "Delta": RoleNotation(r"\Delta", description="weight gradient summed over a batch"),
                "n": RoleNotation("n", description="number of units of a layer"),
                "C": RoleNotation("C", description="cost of one sample"),
            },
            activation=r"\phi",
            batch="n",
            kronecker="iverson",
            layer_count="number of layers after the input",
            input_layer=0,
        ),
        "goodfellow": _profile(
            name="goodfellow",
            source="Goodfellow, Bengio and Courville, Deep Learning, ch. 6 (seed 001)",
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
            source="Ng, Machine Learning (seed 002)",
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
