"""Bounds of each activation's derivative, derived by SymPy: the facts behind a lecture's
remarks on vanishing gradients (σ' ≤ 1/4, so δ shrinks with depth) and dead units
(ReLU' ∈ {0, 1}).

:func:`derivative_bounds` takes φ' as ``sympy.diff`` of the registry definition, finds its
range over the real line with ``function_range`` (branch by branch on the domain where
each branch applies), and for the largest and smallest value the set of ``z`` where it is
attained (empty when it is only approached, as σ' → 0 for z → ±∞). Nothing is typed in:
adding an activation to the registry adds its bounds. Where SymPy finds no exact range
(SiLU', whose critical points solve a transcendental equation) the bounds are ``None``,
never a guess.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp
from sympy.calculus.util import function_range

from symprop.core.registry import ACTIVATIONS, z

__all__ = ["DerivativeBounds", "Extremum", "derivative_bounds"]


@dataclass(frozen=True)
class Extremum:
    """The largest (or smallest) value of φ' and where it is taken.

    Attributes
    ----------
    value
        The supremum (infimum) of φ' over the real line.
    at
        The set of ``z`` where φ' equals ``value``; ``sp.EmptySet`` when the value is only
        approached (a supremum that is not a maximum); ``None`` when that depends on a
        parameter left symbolic (ELU's largest value is max(1, α)).
    """

    value: sp.Expr
    at: sp.Set | None

    @property
    def attained(self) -> bool | None:
        """Whether the value is a maximum (minimum), not only a supremum (infimum);
        ``None`` when undecided for symbolic parameters."""
        return None if self.at is None else self.at != sp.S.EmptySet


@dataclass(frozen=True)
class DerivativeBounds:
    """The range of one activation's derivative over the real line, as data.

    ``derivative`` is ``sympy.diff`` of the definition (parameters bound to ``params``);
    ``range`` its exact range; ``values`` the finite set of values when φ' takes only
    finitely many (ReLU' ∈ {0, 1}), else ``None``.
    """

    activation: str
    params: tuple[tuple[str, float], ...]
    derivative: sp.Expr
    range: sp.Set
    maximum: Extremum
    minimum: Extremum

    @property
    def values(self) -> sp.FiniteSet | None:
        """The values of φ' when there are finitely many."""
        return self.range if isinstance(self.range, sp.FiniteSet) else None


def _pieces(expr: sp.Expr) -> list[tuple[sp.Expr, sp.Set]]:
    """Each branch of φ' with the part of the real line where it applies."""
    if not isinstance(expr, sp.Piecewise):
        return [(expr, sp.S.Reals)]
    out, covered = [], sp.S.EmptySet
    for branch, cond in expr.args:
        domain = (sp.S.Reals if cond == sp.true else cond.as_set()) - covered
        covered = covered | domain
        out.append((branch, domain))
    return out


def _where(pieces: list[tuple[sp.Expr, sp.Set]], value: sp.Expr) -> sp.Set:
    """The set of ``z`` where φ' equals ``value``."""
    found: sp.Set = sp.S.EmptySet
    for branch, domain in pieces:
        if not branch.has(z):
            if sp.simplify(branch - value) == 0:
                found = found | domain
            continue
        solved = sp.solveset(sp.Eq(branch, value), z, domain)
        if isinstance(solved, sp.ConditionSet):
            return solved
        found = found | solved
    return found


@functools.cache
def _bounds(name: str, params: tuple[tuple[str, float], ...]) -> DerivativeBounds | None:
    act = ACTIVATIONS[name]
    if not act.elementwise:
        return None
    definition = act.instantiate(dict(params)) if params else act.definition
    derivative = sp.diff(definition, z)
    pieces = _pieces(derivative)
    try:
        ranges = [
            function_range(branch, z, domain) if branch.has(z) else sp.FiniteSet(branch)
            for branch, domain in pieces
        ]
    except (NotImplementedError, ValueError):
        return None
    whole = sp.Union(*ranges)
    extrema = []
    for value in (whole.sup, whole.inf):
        inside = whole.contains(value)
        if inside == sp.true:
            at: sp.Set | None = _where(pieces, value)
        elif inside == sp.false:
            at = sp.S.EmptySet
        else:
            at = None
        extrema.append(Extremum(value, at))
    return DerivativeBounds(name, params, derivative, whole, extrema[0], extrema[1])


def derivative_bounds(name: str, params: dict[str, float] | None = None) -> DerivativeBounds | None:
    """The range of the registry activation ``name``'s derivative and where its largest
    and smallest values are taken; ``None`` for a vector activation (softmax) or where
    SymPy finds no exact range.

    ``params`` binds the activation's parameters (``{"alpha": 0.2}``); left out, they stay
    symbols (leaky ReLU' ∈ {α, 1}).

    Examples
    --------
    >>> b = derivative_bounds("sigmoid")
    >>> b.maximum.value, b.maximum.at, b.minimum.attained
    (1/4, {0}, False)
    >>> derivative_bounds("relu").values
    {0, 1}
    """
    return _bounds(name, tuple(sorted((params or {}).items())))
