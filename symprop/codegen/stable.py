"""Stabilising rewrites: the derivation's unit-level formulas in forms that stay finite.

Backend-neutral (SymPy to SymPy): a backend prints the result, each :class:`StableFunction`
as a call of its own numeric primitive. The rewrites are data (:data:`REWRITES`, each a
:class:`~sympy.codegen.rewriting.ReplaceOptim` with a note saying why), in the spirit of
:mod:`sympy.codegen.rewriting`, and each is checked numerically against the textbook form
by the tests:

* ``1/(1 + exp(-x))`` → ``Expit(x)``, a logistic that never overflows;
* ``log(1 + exp(x))`` → ``logaddexp(0, x)`` (softplus);
* ``log σ(x)`` → ``-logaddexp(0, -x)`` and ``log(1 − σ(x))`` → ``-logaddexp(0, x)``;
* ``exp(z_i)/Σ_k exp(z_k)`` → ``Softmax(z)`` (max-shifted), ``log softmax`` →
  ``LogSoftmax(z)``;
* ``exp(x) − 1`` → ``expm1(x)``; a branch of a ``Piecewise`` that exponentiates is
  evaluated on its own half-line (``Min(z, 0)``), since an array ``where`` evaluates
  every branch everywhere;
* any ``log`` left over is taken of ``max(x, tiny)`` (:func:`guard_logs`) and any division
  by a quantity that vanishes on the edge of the output range uses the output clipped into
  that range (:func:`guard_denominators`): no log of 0, no division by 0.

The LaTeX printer keeps the textbook forms; only code generation stabilises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1
from sympy.codegen.numpy_nodes import logaddexp
from sympy.codegen.rewriting import ReplaceOptim

from symprop.core.registry import a_vec, i_idx, y_vec, z_vec

__all__ = [
    "REWRITES",
    "SHARED_FORMS",
    "BatchSum",
    "ClipOutput",
    "Expit",
    "LogClipped",
    "LogSoftmax",
    "Rewrite",
    "SharedForm",
    "Softmax",
    "StableFunction",
    "guard_denominators",
    "guard_logs",
    "separate_sums",
    "share_output",
    "stabilise",
    "tidy_signs",
]


# --- numerically stable functions (each backend prints them as its own primitive) -----------


class StableFunction(sp.Function):
    """A function that prints as a call of a :class:`Helper` of the generated module."""

    helper: str = ""


class Expit(StableFunction):
    """The logistic ``1/(1 + exp(-x))``, computed without overflow."""

    helper = "_expit"


class Softmax(StableFunction):
    """``softmax`` of a row vector (component ``i`` of ``exp(z_i)/Σ_k exp(z_k)``)."""

    helper = "_softmax"


class LogSoftmax(StableFunction):
    """``log softmax`` of a row vector, by the log-sum-exp trick."""

    helper = "_log_softmax"


class LogClipped(StableFunction):
    """``log(max(x, tiny))``: a log that is never of 0 (nor of a rounding error below it)."""

    helper = "_log_clipped"


class ClipOutput(StableFunction):
    """The output ``a`` clipped into the open output range, for use in a denominator.

    Arguments: the array, the lower and upper ends of the range (``±oo`` for none).
    """

    helper = "_clip_open"


class BatchSum(sp.Function):
    """``Σ_i f(a_i, y_i, z_i)`` over the units of a layer: a column per sample."""


# --- stabilising rewrites (data) ---------------------------------------------------------


def _is_exp(e: sp.Basic) -> bool:
    return isinstance(e, sp.exp)


def _logistic_arg(e: sp.Basic) -> sp.Expr | None:
    """``x`` when ``e`` is ``1/(1 + exp(-x))``, else ``None``."""
    if not (isinstance(e, sp.Pow) and e.exp == -1 and isinstance(e.base, sp.Add)):
        return None
    terms = sp.Add.make_args(e.base)
    if len(terms) == 2 and sp.S.One in terms:
        other = terms[0] if terms[1] == 1 else terms[1]
        if _is_exp(other):
            return -other.args[0]
    return None


def _softplus_arg(e: sp.Basic) -> sp.Expr | None:
    """``x`` when ``e`` is ``log(1 + exp(x))``, else ``None``."""
    if isinstance(e, sp.log) and isinstance(e.args[0], sp.Add):
        terms = sp.Add.make_args(e.args[0])
        if len(terms) == 2 and sp.S.One in terms:
            other = terms[0] if terms[1] == 1 else terms[1]
            if _is_exp(other):
                return other.args[0]
    return None


def _one_minus(e: sp.Basic, cls: type) -> sp.Expr | None:
    """The argument of ``cls`` when ``e`` is ``1 − cls(x)``, else ``None``."""
    if isinstance(e, sp.Add):
        terms = sp.Add.make_args(e)
        if len(terms) == 2 and sp.S.One in terms:
            other = terms[0] if terms[1] == 1 else terms[1]
            neg = -other
            if isinstance(neg, cls):
                return neg.args[0]
    return None


def _is_softmax_definition(e: sp.Basic) -> bool:
    """``exp(z_i)/Σ_k exp(z_k)``, the registry's softmax component."""
    if not isinstance(e, sp.Mul):
        return False
    _, factors = e.as_coeff_mul()
    nums = [f for f in factors if _is_exp(f)]
    dens = [
        f for f in factors if isinstance(f, sp.Pow) and f.exp == -1 and isinstance(f.base, sp.Sum)
    ]
    return (
        len(nums) == 1
        and len(dens) == 1
        and len(factors) == 2
        and isinstance(dens[0].base.function, sp.exp)
    )


def _softmax_of(e: sp.Mul) -> sp.Expr:
    coeff, factors = e.as_coeff_mul()
    return coeff * Softmax(next(f for f in factors if _is_exp(f)).args[0])


@dataclass(frozen=True)
class Rewrite:
    """One stabilising rewrite: a SymPy replacement and why it is needed."""

    name: str
    why: str
    optim: ReplaceOptim

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        return self.optim(expr)


REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        "rectifier",
        "max(x, 0) is one ufunc; a comparison and a select are two",
        ReplaceOptim(
            lambda e: (
                isinstance(e, sp.Piecewise)
                and len(e.args) == 2
                and e.args[1] == (0, sp.true)
                and isinstance(e.args[0][1], sp.StrictGreaterThan)
                and e.args[0][1].rhs == 0
                and e.args[0][0] == e.args[0][1].lhs
            ),
            lambda e: sp.Max(e.args[0][0], 0),
        ),
    ),
    Rewrite(
        "softmax",
        "exp(z_i) overflows for z_i ≳ 709; shifting by the row maximum cannot",
        ReplaceOptim(_is_softmax_definition, _softmax_of),
    ),
    Rewrite(
        "softplus",
        "1 + exp(x) overflows for large x; log-add-exp does not",
        ReplaceOptim(
            lambda e: _softplus_arg(e) is not None, lambda e: logaddexp(0, _softplus_arg(e))
        ),
    ),
    Rewrite(
        "expit",
        "exp(-x) overflows for x ≲ −709; the helper only exponentiates −|x|",
        ReplaceOptim(lambda e: _logistic_arg(e) is not None, lambda e: Expit(_logistic_arg(e))),
    ),
    Rewrite(
        "log-expit",
        "log σ(x) = −log(1 + exp(−x)) is finite where σ(x) rounds to 0",
        ReplaceOptim(
            lambda e: isinstance(e, sp.log) and isinstance(e.args[0], Expit),
            lambda e: -logaddexp(0, -e.args[0].args[0]),
        ),
    ),
    Rewrite(
        "log-one-minus-expit",
        "1 − σ(x) = σ(−x), so log(1 − σ(x)) = −log(1 + exp(x)), finite where σ(x) rounds to 1",
        ReplaceOptim(
            lambda e: isinstance(e, sp.log) and _one_minus(e.args[0], Expit) is not None,
            lambda e: -logaddexp(0, _one_minus(e.args[0], Expit)),
        ),
    ),
    Rewrite(
        "log-softmax",
        "log(softmax) by log-sum-exp is finite where a softmax component rounds to 0",
        ReplaceOptim(
            lambda e: isinstance(e, sp.log) and isinstance(e.args[0], Softmax),
            lambda e: LogSoftmax(*e.args[0].args),
        ),
    ),
    Rewrite(
        "expm1",
        "exp(x) − 1 loses every digit for small |x|; expm1 keeps them",
        ReplaceOptim(
            lambda e: (
                isinstance(e, sp.Add)
                and len(e.args) == 2
                and sp.S.NegativeOne in e.args
                and any(_is_exp(t) for t in e.args)
            ),
            lambda e: expm1(next(t for t in e.args if _is_exp(t)).args[0]),
        ),
    ),
)
"""The stabilising rewrites, in the order they are applied."""


@dataclass(frozen=True)
class SharedForm:
    """A way to compute ``f(x)`` from ``g(x)`` when ``g(x)`` is computed anyway.

    ``through(x, g_of_x)`` returns f(x) written in the value ``g_of_x``.
    """

    name: str
    why: str
    f: type[StableFunction]
    g: type[StableFunction]
    through: Callable[[sp.Expr, sp.Expr], sp.Expr]


SHARED_FORMS: tuple[SharedForm, ...] = (
    SharedForm(
        "softmax-from-log-softmax",
        "softmax(x) = exp(log softmax(x)): one exp of what the loss computes anyway, instead "
        "of a second max-shift, exp and row sum",
        Softmax,
        LogSoftmax,
        lambda x, log_softmax: sp.exp(log_softmax),
    ),
)
"""Ways for the output activation to reuse what its loss computes, applied by
:func:`share_output`; the tests check each numerically."""


def share_output(
    activation: sp.Expr, cost: sp.Expr, suffix: str
) -> tuple[tuple[tuple[sp.Symbol, sp.Expr], ...], sp.Expr, sp.Expr]:
    """Compute once what both the output activation and the per-sample cost need.

    Every helper call ``g(x)`` of ``cost`` that ``activation`` needs too (directly, or
    through a rule of :data:`SHARED_FORMS`) is bound to a temporary named after the
    helper and ``suffix`` (``_log_softmax(z3)`` → ``log_softmax3``).

    Returns
    -------
    (temporaries, activation, cost)
        ``temporaries`` are ``(symbol, expression)`` pairs to assign first.

    Examples
    --------
    >>> z = sp.Symbol("z")
    >>> share_output(Softmax(z), -sp.Symbol("y") * LogSoftmax(z), "3")
    (((log_softmax3, LogSoftmax(z)),), exp(log_softmax3), -log_softmax3*y)
    """
    temporaries: list[tuple[sp.Symbol, sp.Expr]] = []
    for call in sorted(cost.atoms(StableFunction), key=sp.default_sort_key):
        uses = activation
        for form in SHARED_FORMS:
            if isinstance(call, form.g):
                uses = uses.replace(
                    lambda e, form=form, call=call: isinstance(e, form.f) and e.args == call.args,
                    lambda e, form=form, call=call: form.through(e.args[0], call),
                )
        if not uses.has(call):
            continue
        symbol = sp.Symbol(f"{call.helper.strip('_')}{suffix}")
        temporaries.append((symbol, call))
        activation = uses.xreplace({call: symbol})
        cost = cost.xreplace({call: symbol})
    return tuple(temporaries), activation, cost


def _clamp_branches(expr: sp.Expr) -> sp.Expr:
    """Evaluate each exponentiating branch of ``Piecewise((f, x > c), (g, True))`` on its
    own half-line: ``np.where`` computes both branches everywhere, and ``exp(z)`` of the
    unused branch would overflow for large ``z``."""

    def clamp(pw: sp.Piecewise) -> sp.Expr:
        if len(pw.args) != 2 or pw.args[1][1] != sp.true:
            return pw
        (f, cond), (g, _) = pw.args
        if not isinstance(cond, (sp.StrictGreaterThan, sp.GreaterThan)):
            return pw
        x, c = cond.lhs, cond.rhs
        if not c.is_number:
            return pw

        def on(branch: sp.Expr, bound: sp.Expr) -> sp.Expr:
            return branch.subs(x, bound) if branch.has(sp.exp, expm1) else branch

        return sp.Piecewise((on(f, sp.Max(x, c)), cond), (on(g, sp.Min(x, c)), True))

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), clamp)


def stabilise(expr: sp.Expr) -> sp.Expr:
    """Apply every rewrite of :data:`REWRITES`, then clamp exponentiating branches."""
    for rw in REWRITES:
        expr = rw(expr)
    return _clamp_branches(expr)


def guard_logs(expr: sp.Expr) -> sp.Expr:
    """Every ``log`` left after :func:`stabilise` is taken of ``max(x, tiny)``."""
    return expr.replace(lambda e: isinstance(e, sp.log), lambda e: LogClipped(e.args[0]))


def guard_denominators(expr: sp.Expr, output: sp.Basic, domain: sp.Set) -> sp.Expr:
    """In every denominator, use ``output`` clipped into the open interval ``domain``.

    Only needed where the loss lives on a bounded range (e.g. (0, 1) for the
    cross-entropies): there, ``1/(a − 1)`` divides by zero when ``a`` rounds to 1.
    """
    if domain == sp.S.Reals or not isinstance(domain, sp.Interval):
        return expr
    clipped = ClipOutput(output, domain.inf, domain.sup)

    def guard(p: sp.Pow) -> sp.Expr:
        return sp.Pow(p.base.xreplace({output: clipped}), p.exp)

    return expr.replace(
        lambda e: isinstance(e, sp.Pow) and e.exp.is_negative and e.base.has(output), guard
    )


# --- sums over units ------------------------------------------------------------------------


def separate_sums(expr: sp.Expr, index: sp.Symbol = i_idx) -> sp.Expr:
    """Rewrite each ``Σ_i f`` as ``Σ_t c_t(j) · BatchSum(g_t(i))``.

    Every term of the expanded summand is factored and split into the factors that depend
    on the summation index and those that do not (which leave the sum); terms with the same
    ``i``-part are collected. Each ``BatchSum`` then holds only ``i``-indexed quantities and
    prints as one ``np.sum(..., axis=1, keepdims=True)``.

    Raises
    ------
    NotImplementedError
        When a factor mixes the summation index with another index (not separable).
    """
    bases = (a_vec, y_vec, z_vec)

    def depends(e: sp.Basic) -> bool:
        return any(isinstance(x, sp.Indexed) and x.indices[0] == index for x in e.atoms(sp.Indexed))

    def split(s: sp.Sum) -> sp.Expr:
        (var, _lo, _hi) = s.limits[0]
        if var != index:
            return s
        groups: dict[sp.Expr, sp.Expr] = {}
        for term in sp.Add.make_args(sp.expand_mul(s.function)):
            factored = sp.factor(term)
            inside, outside = [], []
            for f in sp.Mul.make_args(factored):
                if not depends(f):
                    outside.append(f)
                elif any(
                    isinstance(x, sp.Indexed) and x.base in bases and x.indices[0] != index
                    for x in f.atoms(sp.Indexed)
                ):
                    raise NotImplementedError(f"cannot separate the sum over {index} in {s}")
                else:
                    inside.append(f)
            key = sp.Mul(*inside)
            groups[key] = groups.get(key, sp.S.Zero) + sp.Mul(*outside)
        out = sp.S.Zero
        for inner, coeff in sorted(groups.items(), key=lambda kv: sp.default_sort_key(kv[0])):
            coeff = sp.factor(sp.cancel(coeff))
            if inner == 1:
                # Σ_i c = n c: the width appears as a plain number of units.
                out += coeff * s.limits[0][2]
            else:
                out += coeff * BatchSum(inner)
        return out

    return expr.replace(lambda e: isinstance(e, sp.Sum), split)


def tidy_signs(expr: sp.Expr) -> sp.Expr:
    """``-a*(a - 1)`` → ``a*(1 - a)``: absorb a leading minus into a factor, as by hand."""

    def absorb(m: sp.Mul) -> sp.Expr:
        coeff, rest = m.as_coeff_mul()
        if coeff.is_negative:
            for idx, f in enumerate(rest):
                negative = [t for t in f.args if t.is_number and t.is_negative]
                if isinstance(f, sp.Add) and len(negative) == 1 and len(f.args) == 2:
                    others = rest[:idx] + rest[idx + 1 :]
                    flipped = sp.Add(*[-t for t in f.args], evaluate=False)
                    lead = () if coeff == -1 else (-coeff,)
                    return sp.Mul(*lead, *others, flipped, evaluate=False)
        return m

    return expr.replace(lambda e: isinstance(e, sp.Mul), absorb)
