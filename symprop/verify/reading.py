"""How one claim is read, as data: the notation, and each choice between plausible meanings.

A :class:`Reading` is a complete assignment of meanings for one claim (or one chain of
equations: every link is read the same way). :func:`symprop.verify.readings.readings` lists
the plausible readings of a claim, the preferred one first; the checker evaluates each and
reports "ambiguous" when their verdicts differ. :meth:`Reading.pairs` gives the
``(what, taken as)`` pairs of :attr:`symprop.verify.report.Verdict.reading`.

This module holds only the dataclasses (the name tables read them), so that every stage can
import it without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

NOTATION_TEXT: dict[str, str] = {
    "nielsen": "Nielsen: z pre-activation, a activation, W/w weights, b bias, δ = ∂C/∂z",
    "ng": "Ng: Θ^(l) maps layer l to l+1 with the bias in column 0, a_0 = 1, Δ accumulator, "
    "D gradient of J, m batch size, h_Θ(x) output",
    "goodfellow": "Goodfellow: a pre-activation, h activation (h^(0) = x), g = ∇_a J, ŷ output",
    "bishop": "Bishop: a pre-activation, z activation, w_ji into unit j from unit i, "
    "δ = ∂E_n/∂a, E_n per-sample error, t target, y output",
}
"""One line per notation, printed in a verdict's reading."""


TakenKind = Literal[
    "quantity",  # a network quantity (role, layer label, sample)
    "kronecker",  # δ_ij read as the Kronecker delta
    "defined",  # a name the setting defines
    "free",  # a free symbol (scalar, or of its declared shape)
    "index",  # a unit index used as a value (j ≠ 0)
    "size",  # a size a sum's limit names (n_l, m, K)
    "function",  # a called name
    "product",  # a juxtaposed name read as a factor
    "kink",  # the value a case split or indicator gives where its condition's sides meet
    "convention",  # a convention of the notation (Ng's bias column)
    "unknown",  # a name the reading cannot resolve (the checker refuses the claim)
]


@dataclass(frozen=True)
class Taken:
    """What one symbol (or node) of a claim is taken as, as data.

    Attributes
    ----------
    what
        Its key as written (:attr:`symprop.parsing.tree.Name.key`), or a short label for a
        node or a convention (``cases at z = 0``, ``bias``).
    written
        The AST node (a :class:`~symprop.parsing.tree.Name`, the case split…) for printers
        to render in the claim's notation; ``None`` for a convention.
    kind
        See :data:`TakenKind`.
    text
        The meaning in plain words (printed as is, never parsed back).
    role, label, sample
        For a network quantity: its role, layer label (variable, offset) and sample index.
    """

    what: str
    written: Any
    kind: TakenKind
    text: str
    role: str | None = None
    label: tuple[str | None, int] | None = None
    sample: str | None = None


@dataclass(frozen=True)
class Reading:
    """One complete reading of a claim.

    Attributes
    ----------
    notation
        ``nielsen``, ``ng``, ``goodfellow`` or ``bishop``.
    declared
        Whether the setting declared the notation (else it was read from the claim's letters).
    kronecker
        Keys (:attr:`symprop.parsing.tree.Name.key`) of the ``δ`` names read as Kronecker deltas;
        every other ``δ`` is the local gradient.
    products
        Base names of juxtaposed "calls" (:attr:`symprop.parsing.tree.Call.juxtaposed`) read as
        products (``f\\,(1-f)`` is ``f·(1-f)``); every other one is a call.
    bias_column
        Ng's lecture convention: ``Θ^{(l)}`` (and ``Δ^{(l)}``, ``D^{(l)}``) carry the bias in
        column 0 and ``a^{(l)}_0 = 1``; else ``Θ`` is the weight matrix and ``b`` the bias,
        as symprop's own ``ng`` documents write them.
    sigma_sigmoid
        ``σ`` is the logistic sigmoid, not "the activation of its argument's layer" (a choice
        only where the layers' activation is not the sigmoid).
    symbols
        What every symbol of the claim is taken as (:class:`Taken`), in order of first
        appearance, filled by :func:`symprop.verify.readings.readings`.
    """

    notation: str = "nielsen"
    declared: bool = False
    kronecker: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    bias_column: bool = False
    sigma_sigmoid: bool = False
    symbols: tuple[Taken, ...] = ()

    @property
    def taken(self) -> tuple[tuple[str, str], ...]:
        """``(symbol as written, taken as)`` pairs, in order of first appearance."""
        return tuple((t.what, t.text) for t in self.symbols)

    def pairs(self, numbering: str | None = None) -> tuple[tuple[str, str], ...]:
        """The reading as ``(what, taken as)`` pairs for :attr:`Verdict.reading`.

        ``numbering`` is the text of the layer numbering the check used (e.g.
        :data:`symprop.verify.notation.NUMBERING_TEXT` ``["ng"]``), when there is one.
        """
        how = "declared" if self.declared else "read from the claim's letters"
        out = [("notation", f"{NOTATION_TEXT[self.notation]} ({how})")]
        if numbering:
            out.append(("numbering", numbering))
        return (*out, *self.taken)

    def differs_from(self, other: Reading) -> tuple[str, ...]:
        """The symbols whose meaning differs between two readings (for "ambiguous")."""
        mine, theirs = dict(self.taken), dict(other.taken)
        return tuple(k for k in mine if theirs.get(k) != mine[k])
