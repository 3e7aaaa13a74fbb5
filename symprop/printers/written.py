"""The written form of an expression: one set of layout decisions shared by every printer.

SymPy's canonical order is not the order people write by hand: it prints σ' = a (1 − a) as
``-a*(a - 1)``, ``2 (a − y)`` as ``2a − 2y`` and the weight-decay term before the data
term. These helpers make the choice once, as SymPy data (unevaluated products and ordered
term lists), so the terminal and the documents print the same form:

- a product of polynomial factors is written expanded when expanding cancels terms, so
  ``(1 − a)(1 + a)`` reads ``1 − a²`` while ``a (1 − a)`` stays (:func:`expanded_if_cancelling`);
- a leading minus moves into a binomial factor when that leaves fewer minus signs
  (:func:`flip_sign`);
- the binomial factors of a product are negated in pairs so that as few of them as possible
  start with a minus and the data term reads ``a − y``: ``(−a + y)(a − 1)`` is written
  ``(a − y)(1 − a)`` (:func:`paired_signs`; each such rewrite is proven equal);
- a sum written with more minus signs than its negation is printed as ``−Σ`` of the
  negation (:func:`pulled_sign`); a negative term of a sum is written after ``−``, not
  flipped;
- a product lists numbers, quantities, brackets, partial derivatives, functions and sums, in
  that order (:func:`ordered_factors`), so ``φ'(z) Σ_k …`` reads as pulled out; the data
  term ``a − y`` leads, after numbers (:func:`data_first`), in index and matrix form;
- a rational common factor of a sum is written outside it (:func:`common_factor`), and in
  a product it joins the product's number (:func:`content_out`);
- in a matrix sum the data term comes first, the weight-decay and learning-rate terms after
  it (:func:`ordered_terms`).
"""

from __future__ import annotations

import functools
import itertools

import sympy as sp

from symprop.core import symbols as g
from symprop.core.calculus import proven_equal
from symprop.derivation.kind_arrays import KindArray, KindMatrix, layer_display

__all__ = [
    "common_factor",
    "factor_before_sum",
    "kind_terms",
    "late_terms_last",
    "of_a_kind",
    "content_out",
    "data_first",
    "reads_as_sum",
    "expanded_if_cancelling",
    "flip_sign",
    "negatives",
    "ordered_factors",
    "ordered_terms",
    "paired_signs",
    "pulled_sign",
    "written_product",
]

# Symbols of the terms written after the data term of a sum (λ W, η ∂J/∂W).
_LATE = frozenset({"lambda", "eta"})

# Names of the target in every printer's stand-ins (y_j, the vector y, the profile's t):
# the term of a binomial that is written second, after "−" (a − y, the data term).
_TARGETS = frozenset({"y", "t"})

# More sign-carrying factors than this are left as SymPy has them (2^n candidates).
_MAX_PAIRED = 6


def negatives(expr: sp.Basic) -> int:
    """How many terms of a sum are written with a minus sign."""
    return sum(1 for t in sp.Add.make_args(expr) if t.could_extract_minus_sign())


def flip_sign(expr: sp.Basic) -> sp.Basic:
    """``-a (a - 1)`` as ``a (1 - a)``, ``-2 a (a - 1)`` as ``2 a (1 - a)``: move a leading
    minus into a binomial factor.

    Only the written form changes (the product is rebuilt unevaluated and is equal).
    """
    if not isinstance(expr, sp.Mul):
        return expr
    coeff, factors = expr.as_coeff_mul()
    if not (coeff.is_Rational and coeff.is_negative):
        return expr
    for n, f in enumerate(factors):
        if isinstance(f, sp.Add) and negatives(-f) <= negatives(f):
            rest = list(factors)
            rest[n] = -f
            head = [] if coeff == -1 else [-coeff]
            return sp.Mul(*head, *rest, evaluate=False)
    return expr


def _leads_with_minus(expr: sp.Basic) -> bool:
    """Whether a sum is written starting with a minus (``−a + y``, ``1 − a`` does not)."""
    return expr.as_ordered_terms()[0].could_extract_minus_sign()


def _is_target(term: sp.Basic) -> bool:
    names = {getattr(s, "name", "") for s in term.free_symbols}
    names |= {str(s.base) for s in term.atoms(sp.Indexed)}
    return bool(names & _TARGETS)


def _target_added(expr: sp.Add) -> bool:
    """Whether a sum holds the target with a plus sign (``−a + y`` rather than ``a − y``)."""
    return any(_is_target(t) and not t.could_extract_minus_sign() for t in expr.args)


def _sign_cost(coeff: sp.Basic, factors: list[sp.Basic]) -> tuple[int, int, int]:
    """How badly a product reads: leading minus signs, targets added, minus terms in total."""
    sums = [f.as_base_exp()[0] for f in factors]
    sums = [b for b in sums if isinstance(b, sp.Add)]
    return (
        int(coeff.is_negative) + sum(_leads_with_minus(b) for b in sums),
        sum(_target_added(b) for b in sums),
        sum(negatives(b) for b in sums),
    )


def _binomial(factor: sp.Basic) -> bool:
    """Whether a factor is a sum without quotients raised to an odd power: negating it
    negates the product, and its sign is a matter of writing (``1 − a`` or ``a − 1``).

    A sum of quotients such as ``−y/a + (1 − y)/(1 − a)`` is a loss derivative written as
    differentiated; its signs are left as they are.
    """
    base, exp = factor.as_base_exp()
    return (
        isinstance(base, sp.Add)
        and exp.is_Integer
        and exp % 2 == 1
        and not any(p.exp.is_negative for p in base.atoms(sp.Pow))
    )


def _negated(factor: sp.Basic) -> sp.Basic:
    base, exp = factor.as_base_exp()
    return sp.Pow(-base, exp, evaluate=False) if exp != 1 else -base


def paired_signs(expr: sp.Basic) -> sp.Basic:
    """``(−a + y)(a − 1)`` as ``(a − y)(1 − a)``: negate binomial factors in pairs.

    Every factor that is a sum without quotients raised to an odd integer power (numerator
    or denominator) may be negated; an even number of negations leaves the product
    unchanged. Among those choices the one written with the fewest sums that start with a
    minus, then the fewest sums holding the target with a plus (the data term reads
    ``a − y``), then the fewest minus terms is kept, SymPy's own when it ties. The rewrite
    is used only once :func:`~symprop.core.calculus.proven_equal` proves it equal to
    ``expr``.
    """
    if not isinstance(expr, sp.Mul):
        return expr
    return _paired_signs(expr)


@functools.lru_cache(maxsize=4096)
def _paired_signs(expr: sp.Mul) -> sp.Basic:
    coeff, factors = expr.as_coeff_mul()
    factors = list(factors)
    signed = [n for n, f in enumerate(factors) if _binomial(f)]
    if len(signed) < 2 or len(signed) > _MAX_PAIRED:
        return expr
    best, best_cost = None, _sign_cost(coeff, factors)
    for size in range(2, len(signed) + 1, 2):
        for chosen in itertools.combinations(signed, size):
            candidate = [_negated(f) if n in chosen else f for n, f in enumerate(factors)]
            cost = _sign_cost(coeff, candidate)
            if cost < best_cost:
                best, best_cost = candidate, cost
    if best is None:
        return expr
    head = [] if coeff == 1 else [coeff]
    rewritten = sp.Mul(*head, *best, evaluate=False)
    return rewritten if proven_equal(rewritten, expr) else expr


def content_out(expr: sp.Basic) -> sp.Basic:
    """``a (1 − a) (2a − 2y)`` as ``2 a (1 − a) (a − y)``: the rational content of each sum
    factor joins the product's number (proven equal before use)."""
    if not isinstance(expr, sp.Mul):
        return expr
    return _content_out(expr)


@functools.lru_cache(maxsize=4096)
def _content_out(expr: sp.Mul) -> sp.Basic:
    coeff, factors = expr.as_coeff_mul()
    moved, rest = sp.Integer(1), []
    for factor in factors:
        if isinstance(factor, sp.Add):
            content, factor = factor.primitive()
            moved *= content
        rest.append(factor)
    if moved == 1:
        return expr
    head = [] if coeff * moved == 1 else [coeff * moved]
    rewritten = sp.Mul(*head, *rest, evaluate=False)
    return rewritten if proven_equal(rewritten, expr) else expr


def written_product(expr: sp.Basic) -> sp.Basic:
    """A product in its written form: cancelling factors expanded, numbers out of sums, then
    the signs placed (:func:`expanded_if_cancelling`, :func:`content_out`,
    :func:`flip_sign`, :func:`paired_signs`)."""
    return paired_signs(flip_sign(content_out(expanded_if_cancelling(expr))))


def _rank(factor: sp.Basic) -> int:
    base = factor.as_base_exp()[0] if isinstance(factor, sp.Pow) else factor
    if base.is_Number:
        return 0
    if isinstance(base, (sp.Symbol, sp.Indexed, sp.MatrixSymbol, KindArray, KindMatrix)):
        return 1
    if isinstance(base, sp.Add):
        return 2
    if type(base).__name__ in ("ScalarPartial", "MatrixPartial"):
        return 3
    if isinstance(base, sp.Sum):
        return 5
    return 4


def _data_term(factor: sp.Basic) -> bool:
    """Whether a factor is the data term: a sum holding the target (``a − y``, or the loss
    derivative ``−y/a + (1 − y)/(1 − a)``)."""
    base = factor.as_base_exp()[0]
    return isinstance(base, sp.Add) and any(_is_target(t) for t in base.args)


def data_first(factors: list[sp.Basic]) -> list[sp.Basic]:
    """The factors with the data term first (after numbers): ``(a − y) a (1 − a)``, the
    chain rule's order ∂C/∂a · φ'(z), as δᴸ is written by hand."""
    return sorted(factors, key=lambda f: not (f.is_Number or _data_term(f)))


def ordered_factors(expr: sp.Mul) -> list[sp.Basic]:
    """The factors of a product in the order written by hand (a stable sort of SymPy's)."""
    return data_first(sorted(expr.as_ordered_factors(), key=_rank))


def common_factor(expr: sp.Add) -> tuple[sp.Rational, sp.Basic] | None:
    """``(c, rest)`` when the sum is ``c · rest`` for a rational ``c ≠ 1`` and a sum ``rest``."""
    coeff, rest = expr.primitive()
    if coeff != 1 and coeff.is_Rational and isinstance(rest, sp.Add):
        return coeff, rest
    return None


def _late(term: sp.Basic) -> bool:
    names = {s.name for s in term.free_symbols if isinstance(s, sp.Symbol)}
    return bool(names & _LATE)


def ordered_terms(expr: sp.MatAdd) -> list[sp.Basic]:
    """The terms of a matrix sum, data term first, weight decay and learning rate after."""
    return [t for _, t in sorted(enumerate(expr.args), key=lambda p: (_late(p[1]), p[0]))]


def late_terms_last(expr: sp.Add, terms: list[sp.Basic]) -> list[sp.Basic]:
    """A scalar sum's terms (in the printer's order) with the weight-decay and
    learning-rate terms moved after the data term: J = (1/n) Σ C⁽ⁱ⁾ + λ Σ ‖W‖², not the
    penalty first."""
    if not any(_late(t) for t in expr.args) or all(_late(t) for t in expr.args):
        return terms
    return sorted(terms, key=_late)


def pulled_sign(body: sp.Basic) -> tuple[bool, sp.Basic]:
    """``(True, −body)`` when the body of an index sum reads better negated (``−Σ y log a``
    rather than ``Σ −y log a``), else ``(False, body)``."""
    if negatives(-body) < negatives(body) or (
        isinstance(body, sp.Mul) and body.as_coeff_Mul()[0] == -1
    ):
        return True, flip_sign(-body)
    return False, body


def _polynomial(expr: sp.Basic) -> bool:
    if isinstance(expr, (sp.Symbol, sp.Indexed, sp.Number, KindArray)):
        return True
    if isinstance(expr, (sp.Add, sp.Mul)):
        return all(_polynomial(a) for a in expr.args)
    if isinstance(expr, sp.Pow):
        return expr.exp.is_Integer and expr.exp > 0 and _polynomial(expr.base)
    return False


def expanded_if_cancelling(expr: sp.Basic) -> sp.Basic:
    """A product with each pair of polynomial factors expanded when expanding cancels terms.

    ``(1 − a)(a + 1)`` has four partial products but expands to the two terms ``1 − a²``,
    which is how it is written by hand, also inside ``2 (a − y)(1 − a²)``; ``a (1 − a)``
    (two products, two terms) is kept.
    """
    if not isinstance(expr, sp.Mul):
        return expr
    factors = list(sp.Mul.make_args(expr))
    changed = False
    for n, first in enumerate(factors):
        if not isinstance(first, sp.Add) or not _polynomial(first):
            continue
        for m in range(n + 1, len(factors)):
            second = factors[m]
            if not isinstance(second, sp.Add) or not _polynomial(second):
                continue
            product = sp.expand(first * second)
            if len(sp.Add.make_args(product)) < len(first.args) * len(second.args):
                factors[n], factors[m], changed = product, sp.Integer(1), True
                break
    return sp.Mul(*factors) if changed else expr


def reads_as_sum(expr: sp.Basic) -> bool:
    """Whether ``expr`` is written as a sum (so an enclosing product brackets it)."""
    return isinstance(flip_sign(expanded_if_cancelling(expr)), sp.Add)


# --- layer kinds' formulas -------------------------------------------------------------------
# A kind's gradients come out of SymPy as sums of many products; they are written the way
# the textbooks write batch normalisation's: terms without sums first and positive terms
# before negative ones (x − μ, not −μ + x), and a collected product as its factor before
# the bracket, γ/(m σ) (m δ − Σ δ − x̂ Σ δ x̂). Dense formulas keep their forms above.


@functools.lru_cache(maxsize=4096)
def of_a_kind(expr: sp.Basic) -> bool:
    """Whether ``expr`` names an array of a layer kind (a kind section's stand-in, or a
    kind's array bound to a layer: a role the dense network does not have)."""
    if expr.atoms(KindArray, KindMatrix):
        return True
    for atom in expr.atoms(sp.Symbol, sp.IndexedBase, sp.MatrixSymbol):
        found = g.quantity(str(atom.name) if hasattr(atom, "name") else str(atom))
        if found is None or found[0] in g.ROLES:
            continue
        if layer_display(found[0], (), "nielsen") is not None:
            return True
    return False


def kind_terms(expr: sp.Add) -> list[sp.Basic]:
    """The terms of a kind's sum in written order: without sums first, positive before
    negative, shorter before longer (a stable sort of SymPy's order)."""
    return sorted(
        expr.as_ordered_terms(),
        key=lambda t: (t.has(sp.Sum), t.could_extract_minus_sign(), sp.count_ops(t)),
    )


def factor_before_sum(expr: sp.Mul) -> tuple[sp.Basic, sp.Add] | None:
    """``(factor, sum)`` when a product of a kind is one bracketed sum times a fraction
    (``γ (m δ − …)/(m σ)`` is written ``γ/(m σ) · (m δ − …)``)."""
    sums = [f for f in sp.Mul.make_args(expr) if isinstance(f, sp.Add)]
    if len(sums) != 1:
        return None
    factor = sp.Mul(*[f for f in sp.Mul.make_args(expr) if f is not sums[0]])
    if sp.fraction(factor)[1] == 1 or factor.has(sp.Sum):
        return None
    return factor, sums[0]
