"""The hand form of an expression: among forms proven equal, the one a textbook writes.

SymPy's simplifier returns *a* canonical form, not the one people write: ``-a*(a - 1)`` for
σ' = a(1 − a), ``-(a - 1)*(a + 1)`` for tanh' = 1 − a², ``(z + e^z + 1)/(4 cosh²(z/2))``
for SiLU'. :func:`hand_form` chooses instead, by one stated preference order
(:data:`PREFERENCES`), never case by case:

1. no transcendental function (``exp``, ``cosh``, ``tanh``, …) where a form without one
   exists, and the pre-activation ``z`` as rarely as possible, so a form in the
   activation's own output ``a`` wins (σ' = σ(1 − σ) written a(1 − a), tanh' = 1 − a²);
2. products of factors written ``(1 − a)``, not ``(a − 1)`` with a sign pulled out: the
   fewest sums that lead with a minus and the fewest negative numbers in front;
3. differences written prediction minus target: ``a − y``, not ``−y + a``;
4. then the fewest operations, then the fewest minus signs.

The candidates are produced by rewrite rules, not typed: SymPy's ``factor``, ``expand``
and ``collect`` on each symbol and applied function, substituting the activation's output
(``z σ(z)`` is ``a`` for SiLU, given by the caller as the relation ``a = ψ(z)``), and
negating binomial factors in pairs (an even number of negations leaves a product
unchanged). A candidate is kept only when :func:`proven_equal` proves it equal to the
expression it replaces, so the pick is always the same function, written differently.

The function is pure and cached: the documents, the terminal and the code generator's
docstrings call it on the expression they print and get the same form.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

__all__ = [
    "PREFERENCES",
    "Preference",
    "candidates",
    "form_cost",
    "hand_form",
    "proven_equal",
]

# Names of the target (y_j, the vector y, a profile's t): the term written after "−".
_TARGETS = frozenset({"y", "t"})
# Binomial factors beyond this many are not re-signed (2^n candidates).
_MAX_SIGNED = 6


def _names(expr: sp.Basic) -> set[str]:
    names = {str(getattr(s, "name", s)) for s in expr.free_symbols}
    names |= {str(s.base) for s in expr.atoms(sp.Indexed)}
    return names


def _is_target(term: sp.Basic) -> bool:
    return bool(_names(term) & _TARGETS)


def _sums(expr: sp.Basic) -> list[sp.Add]:
    """Every sum in ``expr`` (bases of powers included), outermost first."""
    return [e for e in sp.preorder_traversal(expr) if isinstance(e, sp.Add)]


def _leads_with_minus(expr: sp.Add) -> bool:
    return expr.as_ordered_terms()[0].could_extract_minus_sign()


def _transcendental(expr: sp.Basic) -> int:
    """Applied functions other than a registry activation (σ(z) names a quantity; exp,
    cosh, tanh are what rule 1 writes away)."""
    count = 0
    for f in expr.atoms(sp.Function):
        if getattr(type(f), "activation_name", "") and f.args and len(f.args) == 1:
            continue
        if isinstance(f, (sp.Piecewise, sp.KroneckerDelta)):
            continue
        count += 1
    return count + sum(1 for p in expr.atoms(sp.Pow) if p.base == sp.E)


def _pre_activations(expr: sp.Basic) -> int:
    """How often the pre-activation ``z`` (``z``, ``z1``, ``z^l_j``) is written."""
    count = 0
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Symbol) and node.name.startswith("z"):
            count += 1
        elif isinstance(node, sp.Indexed) and str(node.base).startswith("z"):
            count += 1
    return count


def _negative_outside(expr: sp.Basic) -> int:
    """Negative numbers multiplying a product (``−a (a − 1)``): a sign pulled out."""
    return sum(
        1
        for node in sp.preorder_traversal(expr)
        if isinstance(node, sp.Mul)
        and node.as_coeff_Mul()[0].is_negative
        and any(isinstance(f, sp.Add) for f in node.args)
    )


def _minus_sums(expr: sp.Basic) -> int:
    return sum(_leads_with_minus(s) for s in _sums(expr)) + _negative_outside(expr)


def _targets_added(expr: sp.Basic) -> int:
    """Sums holding the target with a plus sign (``−a + y``, ``y − a``)."""
    return sum(
        any(_is_target(t) and not t.could_extract_minus_sign() for t in s.args) for s in _sums(expr)
    )


def _minus_signs(expr: sp.Basic) -> int:
    return sum(
        1 for s in _sums(expr) for t in s.args if t.could_extract_minus_sign()
    ) + _negative_outside(expr)


@dataclass(frozen=True)
class Preference:
    """One criterion of the preference order: its statement and its count (lower wins)."""

    statement: str
    count: Callable[[sp.Basic], int]


PREFERENCES: tuple[Preference, ...] = (
    Preference(
        "no exponential or hyperbolic function where a form without one exists", _transcendental
    ),
    Preference("the activation's output a rather than the pre-activation z", _pre_activations),
    Preference("factors written (1 − a), not (a − 1) with a sign pulled out", _minus_sums),
    Preference("differences written prediction minus target, a − y", _targets_added),
    Preference("the fewest operations", sp.count_ops),
    Preference("the fewest minus signs", _minus_signs),
)
"""The stated preference order of :func:`hand_form`: compared lexicographically."""


def form_cost(expr: sp.Basic) -> tuple[int, ...]:
    """``expr``'s counts under :data:`PREFERENCES`, in order (lower reads better)."""
    return tuple(int(p.count(expr)) for p in PREFERENCES)


def proven_equal(lhs: sp.Basic, rhs: sp.Basic) -> bool:
    """True when SymPy proves ``lhs == rhs``: the difference, with registry activations
    rewritten to their definitions, simplifies to 0 (branch by branch if piecewise)."""
    diff = sp.expand_log((sp.sympify(lhs) - rhs).rewrite("definition"), force=True)
    if diff == 0:
        return True
    if diff.has(sp.Piecewise):
        diff = sp.piecewise_fold(diff)
        if isinstance(diff, sp.Piecewise):
            return all(proven_equal(branch, 0) for branch, _ in diff.args)
    return sp.simplify(diff) == 0


def _binomial(factor: sp.Basic) -> bool:
    """A sum without quotients to an odd power: negating it negates the product."""
    base, exp = factor.as_base_exp()
    return (
        isinstance(base, sp.Add)
        and exp.is_Integer
        and exp % 2 == 1
        and not any(p.exp.is_negative for p in base.atoms(sp.Pow))
    )


def _negated(factor: sp.Basic) -> sp.Basic:
    base, exp = factor.as_base_exp()
    return sp.Pow(sp.expand(-base), exp) if exp != 1 else sp.expand(-base)


def _resigned(expr: sp.Basic) -> list[sp.Basic]:
    """A product with its binomial factors negated in every even-sized choice, and with a
    negative number folded into one binomial (``−a (a − 1)`` as ``a (1 − a)``)."""
    if not isinstance(expr, sp.Mul):
        return []
    coeff, factors = expr.as_coeff_mul()
    factors = list(factors)
    signed = [n for n, f in enumerate(factors) if _binomial(f)]
    if not signed or len(signed) > _MAX_SIGNED:
        return []
    out = []
    # An odd number of negations with the product's sign flipped, an even number without.
    for size in range(1, len(signed) + 1):
        sign = -1 if size % 2 else 1
        for chosen in itertools.combinations(signed, size):
            rest = [_negated(f) if n in chosen else f for n, f in enumerate(factors)]
            out.append(sp.Mul(sign * coeff, *rest))
    return out


def _collected(expr: sp.Basic) -> list[sp.Basic]:
    expanded = sp.expand(expr)
    keys = sorted(
        expanded.free_symbols | expanded.atoms(sp.Function) | expanded.atoms(sp.Indexed),
        key=sp.default_sort_key,
    )
    out = []
    for key in keys:
        collected = sp.collect(expanded, key)
        if collected != expanded:
            out.append(collected)
            # The coefficient of the collected key, factored: a + σ(z) (1 − a).
            out.append(
                sp.Add(
                    *[
                        sp.factor(t) if isinstance(t, sp.Mul) else t
                        for t in sp.Add.make_args(collected)
                    ]
                )
            )
    return out


def _paired_products(expr: sp.Basic) -> list[sp.Basic]:
    """A product with two of its sum factors multiplied out: ``(1 − a)(1 + a)`` is
    ``1 − a²`` inside ``2 (a − y)(1 − a)(1 + a)``."""
    if not isinstance(expr, sp.Mul):
        return []
    factors = list(sp.Mul.make_args(expr))
    sums = [n for n, f in enumerate(factors) if isinstance(f, sp.Add)]
    out = []
    for n, m in itertools.combinations(sums, 2):
        rest = [f for k, f in enumerate(factors) if k not in (n, m)]
        out.append(sp.Mul(*rest, sp.expand(factors[n] * factors[m])))
    return out


def candidates(expr: sp.Basic, output: tuple[sp.Symbol, sp.Basic] | None = None) -> list[sp.Basic]:
    """Every form the rewrite rules produce from ``expr`` (``expr`` itself first).

    ``output``: ``(a, ψ)`` when ``a = ψ`` may be substituted (ψ in ``z`` and applied
    activations, e.g. ``z σ(z)`` for SiLU), so forms in the activation's output appear.
    """
    seeds = [expr]
    if output is not None:
        symbol, value = output
        expanded = sp.expand(expr)
        substituted = expanded.subs(value, symbol)
        if substituted != expanded:
            seeds.append(substituted)
    found: list[sp.Basic] = []
    for seed in seeds:
        forms = [seed, sp.factor(seed), sp.expand(seed), *_collected(seed)]
        for form in list(forms):
            forms += _paired_products(form)
        for form in list(forms):
            forms += _resigned(form)
        found += forms
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=4096)
def _hand_form(expr: sp.Basic, output: tuple[sp.Symbol, sp.Basic] | None) -> sp.Basic:
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(
            *[(_hand_form(branch, output), cond) for branch, cond in expr.args], evaluate=False
        )
    if not isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
        return expr

    def back(e: sp.Basic) -> sp.Basic:
        return e.subs(output[0], output[1]) if output is not None else e

    ranked = sorted(enumerate(candidates(expr, output)), key=lambda p: (form_cost(p[1]), p[0]))
    for _, form in ranked:
        if form == expr or proven_equal(back(form), back(expr)):
            return form
    return expr


def hand_form(expr: sp.Basic, output: tuple[sp.Symbol, sp.Basic] | None = None) -> sp.Basic:
    """The form of ``expr`` a textbook writes, chosen by :data:`PREFERENCES` among the
    rewrite rules' candidates and proven equal to ``expr``.

    Parameters
    ----------
    expr
        A scalar SymPy expression (a piecewise one branch by branch); any other object is
        returned unchanged.
    output
        ``(a, ψ)``: the activation's output ``a`` and what it stands for, when the form
        may be written in ``a`` (``(a, z σ(z))`` for SiLU).

    Examples
    --------
    >>> import sympy as sp
    >>> a, y = sp.symbols("a y")
    >>> hand_form(-a * (a - 1))
    a*(1 - a)
    >>> hand_form(-(a - 1) * (a + 1))
    1 - a**2
    >>> hand_form((-a + y) * (a - 1) * a)
    a*(1 - a)*(a - y)
    """
    if not isinstance(expr, sp.Basic):
        return expr
    return _hand_form(expr, output)
