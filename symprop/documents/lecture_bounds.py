"""The range of each activation's derivative, found by SymPy for the lecture sections.

:func:`slope_range` takes the derivative in the form the derivation proved
(:func:`symprop.core.calculus.derive_activation`: σ' = a(1 − a), tanh' = 1 − a², ReLU' a
piecewise constant) and finds its range over all real z: a form in the output ``a`` over the
activation's output range, a form that is another activation of ``z`` over that one's output
range, each piece of a piecewise form over its own interval of z. Nothing here knows a
particular activation.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.calculus.util import function_range

from symprop.core.calculus import ActivationApplied, derive_activation
from symprop.core.registry import ACTIVATIONS, a, z

__all__ = ["bound_parameters", "slope_range"]


def bound_parameters(name: str, values: tuple[tuple[str, float], ...]) -> dict[sp.Symbol, sp.Expr]:
    """The activation's parameter symbols mapped to the layer's values (exact decimals)."""
    given = dict(values)
    return {
        p.symbol: sp.nsimplify(given.get(p.name, p.default), rational=True)
        for p in ACTIVATIONS[name].parameters
    }


def _range_in(expr: sp.Expr, name: str, where: sp.Set, bind: dict[sp.Symbol, sp.Expr]) -> sp.Set:
    """The range of ``expr`` (in ``a`` = φ(z) and ``z``) for z in ``where``."""
    expr = expr.xreplace(bind)
    if not expr.free_symbols:
        return sp.FiniteSet(expr)
    if isinstance(expr, ActivationApplied) and expr.args == (z,) and where == sp.S.Reals:
        # Another activation of z (softplus' = σ(z)): that activation's output range.
        return derive_activation(expr.activation_name).output_range
    if expr.free_symbols == {a}:
        definition = ACTIVATIONS[name].definition.xreplace(bind)
        if isinstance(definition, sp.Piecewise):
            # The branch of φ that holds on ``where`` gives the outputs there.
            definition = next(
                e for e, c in definition.args if where.is_subset(c.as_set()) or c == sp.true
            )
        outputs = (
            derive_activation(name).output_range.xreplace(bind)
            if where == sp.S.Reals
            else function_range(definition, z, where)
        )
        return function_range(expr, a, outputs)
    if expr.free_symbols == {z}:
        return function_range(expr, z, where)
    raise NotImplementedError(f"no range for {expr}")


@functools.cache
def slope_range(name: str, values: tuple[tuple[str, float], ...] = ()) -> sp.Set | None:
    """The set of values φ'(z) takes over the reals, for ``name`` with parameter ``values``.

    Returns None when SymPy finds no closed form (SiLU's extremes solve a transcendental
    equation). At a kink the derivation's convention (the value it states there) counts.

    Examples
    --------
    >>> slope_range("sigmoid")
    Interval.Lopen(0, 1/4)
    >>> slope_range("relu")
    {0, 1}
    """
    form = derive_activation(name).form
    bind = bound_parameters(name, values)
    try:
        if not isinstance(form, sp.Piecewise):
            return _range_in(form, name, sp.S.Reals, bind)
        pieces: list[sp.Set] = []
        left = sp.S.Reals
        for expr, condition in form.args:
            where = left if condition == sp.true else left.intersect(condition.as_set())
            left = left - where
            pieces.append(_range_in(expr, name, where, bind))
        return sp.Union(*pieces)
    except (NotImplementedError, ValueError, TypeError):
        return None
