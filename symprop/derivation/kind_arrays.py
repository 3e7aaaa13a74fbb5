"""Display classes for the arrays of a layer kind, and how each is written.

A kind's derivation (:mod:`symprop.derivation.kinds`) is written in the kind's own arrays
(its input ``x``, output ``y``, parameters γ and β, intermediates μ, σ², σ, x̂, the given
dropout mask, the upstream gradient ``g``). Their SymPy stand-ins carry the kind's name and
the array's name as data (:class:`KindArray`, :class:`KindMatrix`), so every printer writes
them with that kind's ``display`` table for its notation profile
(:meth:`symprop.core.layers.LayerKind.displays`); nothing here or in the printers names a
particular kind, so a kind registered at run time prints too.

At layer level, the derivation binds a kind's arrays to layers through
:mod:`symprop.core.symbols` with the array's name as the role (``g.matrix("gamma", 3)``):
:func:`layer_display` finds that role's display in the kinds a network uses.

Conventions of the printed kind sections (decided here, for every kind):

* the upstream gradient ``g = ∂C/∂y`` is written with the profile's symbol of the local
  gradient (δ, Goodfellow's g) and no layer label: it is the δ that the network passes
  down into the kind (the δ of the layer the kind's output feeds);
* a size that is the first axis of a batch-coupled kind's input is the mini-batch size (the
  profile's ``n`` or ``m``); a size of the output is the layer's width ``n_l``, a size of
  the inputs only the width of the layer below, ``n_{l-1}`` (dense's ``n_in``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions import MatrixExpr

from symprop.core.layers import LAYER_KINDS, UPSTREAM, Display
from symprop.core.registry import ACTIVATIONS

__all__ = [
    "KindArray",
    "KindMatrix",
    "ShownArray",
    "kind_display",
    "label_collides",
    "layer_display",
]


def _str(name: str | Str) -> Str:
    """A name as a SymPy argument (SymPy rebuilds expressions from their args)."""
    return name if isinstance(name, Str) else Str(name)


class KindArray(sp.Expr):
    """Display-only: the array ``name`` of the layer kind ``kind`` (an entry is
    ``KindArray(kind, name)[i, j]``; a scalar intermediate is the array itself)."""

    is_commutative = True
    is_real = True

    def __new__(cls, kind: str | Str, name: str | Str) -> KindArray:
        return super().__new__(cls, _str(kind), _str(name))

    @property
    def kind(self) -> str:
        """The layer kind's registry name."""
        return self.args[0].name

    @property
    def name(self) -> str:
        """The array's name in the kind's definition."""
        return self.args[1].name

    def __getitem__(self, indices: object) -> sp.Indexed:
        if not isinstance(indices, tuple):
            indices = (indices,)
        return sp.Indexed(self, *indices)

    def _sympystr(self, printer: object) -> str:
        return self.name


class KindMatrix(MatrixExpr):
    """Display-only: the array ``name`` of the layer kind ``kind`` as a matrix (a vector is
    one column), for the kind's matrix forms."""

    def __new__(cls, kind: str | Str, name: str | Str, rows: sp.Expr, cols: sp.Expr) -> KindMatrix:
        return super().__new__(cls, _str(kind), _str(name), sp.sympify(rows), sp.sympify(cols))

    @property
    def kind(self) -> str:
        """The layer kind's registry name."""
        return self.args[0].name

    @property
    def name(self) -> str:
        """The array's name in the kind's definition."""
        return self.args[1].name

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return (self.args[2], self.args[3])

    def _sympystr(self, printer: object) -> str:
        return self.name


@dataclass(frozen=True)
class ShownArray:
    """How to write one array: its :class:`~symprop.core.layers.Display`, whether it is the
    upstream gradient (written as the profile's local gradient), and whether it is a
    trainable parameter (labelled like a bias at layer level, otherwise like ``z``)."""

    display: Display | None
    upstream: bool = False
    parameter: bool = False


def kind_display(kind: str, name: str, profile: str) -> ShownArray:
    """How the array ``name`` of the registered kind ``kind`` is written in ``profile``."""
    if name == UPSTREAM:
        return ShownArray(None, upstream=True)
    entry = LAYER_KINDS.get(kind)
    if entry is None:
        return ShownArray(None)
    table = entry.displays(profile)
    parameter = any(p.name == name for p in entry.parameters)
    return ShownArray(table.get(name), parameter=parameter)


def layer_display(role: str, kinds: Iterable[str], profile: str) -> ShownArray | None:
    """How a layer-level quantity with the role ``role`` (a kind's array name bound to a
    layer) is written: the display of the first of ``kinds`` that has such an array, else
    of any registered kind; ``None`` when no kind has one."""
    first = list(kinds)
    for kind in first + [k for k in LAYER_KINDS if k not in first]:
        entry = LAYER_KINDS.get(kind)
        if entry is None:
            continue
        table = entry.displays(profile)
        if role in table:
            parameter = any(p.name == role for p in entry.parameters)
            return ShownArray(table[role], parameter=parameter)
    return None


_SUPERSCRIPTS = set("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ˡᴸⁱⁿ")


def label_collides(display: Display) -> bool:
    """Whether a layer label written as a plain superscript would misread ``display``:
    the display has an exponent already (σ² at layer 2 would read σ²², a power), or it is
    an activation's symbol (σ² would read as the sigmoid's σ, or the variance). Printers
    then bracket the label, ``(σ²)^[2]`` and ``σ^[2]``, for such arrays only."""
    if "^" in display.latex or any(ch in _SUPERSCRIPTS for ch in display.unicode):
        return True
    return any(
        display.latex == a.latex or display.unicode == a.unicode for a in ACTIVATIONS.values()
    )
