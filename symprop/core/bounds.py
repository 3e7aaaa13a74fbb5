"""Bounds of each activation's derivative, derived by SymPy: the facts behind a lecture's
remarks on vanishing gradients (σ' ≤ 1/4, so δ shrinks with depth) and dead units
(ReLU' ∈ {0, 1}).

:func:`derivative_bounds` takes φ' as ``sympy.diff`` of the registry definition, finds its
range over the real line with ``function_range`` (branch by branch on the domain where
each branch applies), and for the largest and smallest value the set of ``z`` where it is
attained (empty when it is only approached, as σ' → 0 for z → ±∞). Where the derivative has
a proven form in the activation's output alone (σ' = a(1 − a)), both are found on that
polynomial over the activation's exact range, the same sets at a fraction of the cost of
limits of the raw derivative at ±∞. Nothing is typed in:
adding an activation to the registry adds its bounds. Where SymPy finds no exact range
(SiLU', whose critical points solve a transcendental equation) the bounds are ``None``,
never a guess.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp
from sympy.calculus.util import function_range

from symprop.core.calculus import derive_activation
from symprop.core.registry import ACTIVATIONS, a, z

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


def _exact_output_range(name: str) -> sp.Set | None:
    """The range of the activation ``name`` over the real line when SymPy found it exactly;
    ``None`` where :func:`~symprop.core.calculus.derive_activation` fell back to the whole
    line (its over-approximation for an unbounded activation with no exact range)."""
    found = derive_activation(name).output_range
    return None if found is None or found == sp.S.Reals else found


@dataclass(frozen=True)
class _OutputForm:
    """φ' = g(φ(z)) with g a polynomial in the output ``a`` (σ' = a(1 − a)), proven by
    :func:`~symprop.core.calculus.derive_activation`, and the activation's exact range φ(ℝ).

    φ' takes over z ∈ ℝ exactly the values g takes over a ∈ φ(ℝ), and equals ``v`` exactly
    where φ(z) is one of the outputs at which g equals ``v``. SymPy answers both quickly on
    g, where on the raw derivative (e^{−z}/(1 + e^{−z})²) they cost it limits at ±∞.
    """

    form: sp.Expr
    outputs: sp.Set
    definition: sp.Expr

    def range(self) -> sp.Set | None:
        try:
            return function_range(self.form, a, self.outputs)
        except (NotImplementedError, ValueError):
            return None

    def where(self, value: sp.Expr) -> sp.Set | None:
        """The set of ``z`` where φ' equals ``value``; ``None`` when SymPy cannot list the
        outputs or invert φ."""
        outputs = sp.solveset(sp.Eq(self.form, value), a, self.outputs)
        if not isinstance(outputs, sp.FiniteSet):
            return None
        found: sp.Set = sp.S.EmptySet
        for output in outputs:
            solved = sp.solveset(sp.Eq(self.definition, output), z, sp.S.Reals)
            if isinstance(solved, sp.ConditionSet):
                return None
            found = found | solved
        return found


def _output_form(name: str) -> _OutputForm | None:
    """φ' in its proven output form, when that is a polynomial in ``a`` alone and the
    activation's range is exact; ``None`` otherwise (piecewise, or still in z): the raw
    derivative is then ranged branch by branch."""
    found = derive_activation(name)
    if found.kind != "output" or found.form.has(z) or isinstance(found.form, sp.Piecewise):
        return None
    outputs = _exact_output_range(name)
    if outputs is None:
        return None
    return _OutputForm(found.form, outputs, ACTIVATIONS[name].definition)


@functools.cache
def _bounds(name: str, params: tuple[tuple[str, float], ...]) -> DerivativeBounds | None:
    act = ACTIVATIONS[name]
    if not act.elementwise:
        return None
    definition = act.instantiate(dict(params)) if params else act.definition
    derivative = sp.diff(definition, z)
    pieces = _pieces(derivative)
    # derive_activation proves the output form with the parameters symbolic, as they are here
    # when none are bound.
    through = None if params else _output_form(name)
    whole = None if through is None else through.range()
    if whole is None:
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
            at: sp.Set | None = None if through is None else through.where(value)
            if at is None:
                at = _where(pieces, value)
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
