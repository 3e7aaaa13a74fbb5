"""The NumPy printer: the derivation's unit-level formulas as broadcasting array code.

The derivation writes every formula for one unit ``j`` of one sample (``a_j``, ``z_j``,
``y_j``, sums over ``i``). The generated module works on a mini-batch, held as *rows*
(``a3`` is ``(batch, n_3)``: the public functions) or as *columns* (``(n_3, batch)``: the
training step, which then reads like the derivation's column vectors). A unit-level
formula becomes array code by naming arrays: ``a_j``, ``a_i`` and ``a`` all print as
``a3``; ``Σ_i f(a_i)`` prints as ``np.sum(f(a3), axis=1, keepdims=True)`` for rows (a
column that broadcasts against the ``j`` columns) and with ``axis=0`` for columns. The
printer's ``units_axis`` says which. Everything else is SymPy's
:class:`~sympy.printing.numpy.NumPyPrinter`.

Before printing, *stabilising rewrites* are applied. They are data (:data:`REWRITES`,
each a :class:`~sympy.codegen.rewriting.ReplaceOptim` with a note saying why), in the
spirit of :mod:`sympy.codegen.rewriting`, and each is checked numerically against the
textbook form by the tests:

* ``1/(1 + exp(-x))`` → ``_expit(x)``, a logistic that never overflows;
* ``log(1 + exp(x))`` → ``np.logaddexp(0, x)`` (softplus);
* ``log σ(x)`` → ``-np.logaddexp(0, -x)`` and ``log(1 − σ(x))`` → ``-np.logaddexp(0, x)``;
* ``exp(z_i)/Σ_k exp(z_k)`` → ``_softmax(z)`` (max-shifted), ``log softmax`` →
  ``_log_softmax(z)``;
* ``exp(x) − 1`` → ``np.expm1(x)``; a branch of a ``Piecewise`` that exponentiates is
  evaluated on its own half-line (``np.minimum(z, 0)``), since ``np.where`` evaluates
  every branch everywhere;
* any ``log`` left over is taken of ``max(x, tiny)`` and any division by a quantity that
  vanishes on the edge of the output range uses the output clipped into that range:
  ``np.log`` is never of 0 and nothing is divided by 0.

The LaTeX printer keeps the textbook forms; only this printer stabilises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1
from sympy.codegen.numpy_nodes import logaddexp
from sympy.codegen.rewriting import ReplaceOptim
from sympy.printing.numpy import NumPyPrinter

from symprop.core.calculus import ActivationApplied
from symprop.core.registry import ACTIVATIONS, a_vec, i_idx, y_vec, z_vec

__all__ = [
    "HELPERS",
    "REWRITES",
    "SHARED_FORMS",
    "ArrayPrinter",
    "BatchSum",
    "Helper",
    "ScalarPrinter",
    "SharedForm",
    "guard_denominators",
    "guard_logs",
    "separate_sums",
    "share_output",
    "stabilise",
    "tidy_signs",
]


# --- numeric primitives the generated module defines ---------------------------------------


@dataclass(frozen=True)
class Helper:
    """A numeric primitive written into a generated module when a printed formula calls it.

    ``source`` is plain NumPy code; ``definition`` is the textbook formula it computes (a
    function of one SymPy argument), used by the tests to check the primitive.
    """

    name: str
    source: str
    definition: Callable[[sp.Expr], sp.Expr]
    across_units: bool = False  # reduces over a layer's units: takes ``axis`` (1: rows)


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


HELPERS: dict[str, Helper] = {
    h.name: h
    for h in [
        Helper(
            "_expit",
            '''def _expit(x: np.ndarray) -> np.ndarray:
    """Logistic σ(x) = 1/(1 + exp(-x)), as exp(-|x|) so that nothing overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)
''',
            lambda x: 1 / (1 + sp.exp(-x)),
        ),
        Helper(
            "_softmax",
            '''def _softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax exp(z_i)/Σ_k exp(z_k) over the units along ``axis`` (1: a batch of rows,
    0: of columns), shifted by their maximum (no overflow)."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e
''',
            lambda x: sp.exp(x) / (sp.exp(x) + 1),
            across_units=True,
        ),
        Helper(
            "_log_softmax",
            '''def _log_softmax(z: np.ndarray, axis: int = 1) -> np.ndarray:
    """Log softmax z_i − log Σ_k exp(z_k) over the units along ``axis`` (1: a batch of
    rows, 0: of columns), by the log-sum-exp trick."""
    shifted = z - z.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted
''',
            lambda x: sp.log(sp.exp(x) / (sp.exp(x) + 1)),
            across_units=True,
        ),
        Helper(
            "_he_normal",
            '''def _he_normal(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """He initialisation for rectifiers: N(0, 2/fan_in), keeping Var(z) across layers."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))
''',
            lambda x: x,
        ),
        Helper(
            "_glorot_uniform",
            '''def _glorot_uniform(
    rng: np.random.Generator, fan_out: int, fan_in: int
) -> np.ndarray:
    """Glorot initialisation: U(−r, r) with r = sqrt(6/(fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))
''',
            lambda x: x,
        ),
        Helper(
            "_log_clipped",
            '''def _log_clipped(x: np.ndarray) -> np.ndarray:
    """log(max(x, tiny)): never the log of 0, which would be −inf and a RuntimeWarning."""
    return np.log(np.maximum(x, np.finfo(x.dtype).tiny))
''',
            lambda x: sp.log(x),
        ),
        Helper(
            "_clip_open",
            '''def _clip_open(a: np.ndarray, low: float, high: float) -> np.ndarray:
    """a clipped into the open interval (low, high), for use in a denominator."""
    info = np.finfo(a.dtype)
    return np.clip(a, low + info.tiny, high - info.epsneg)
''',
            lambda x: x,
        ),
        Helper(
            "_expit1",
            '''def _expit1(x: float) -> float:
    """Logistic σ(x) of one float, exponentiating only −|x| (no OverflowError)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
''',
            lambda x: 1 / (1 + sp.exp(-x)),
        ),
        Helper(
            "_logaddexp1",
            '''def _logaddexp1(x: float, y: float) -> float:
    """log(exp(x) + exp(y)) of two floats, as max + log1p(exp(−|x − y|)) (no overflow)."""
    return max(x, y) + math.log1p(math.exp(-abs(x - y)))
''',
            lambda x: sp.log(1 + sp.exp(x)),
        ),
        Helper(
            "_log_clipped1",
            '''def _log_clipped1(x: float) -> float:
    """log(max(x, tiny)) of one float: never the log of 0."""
    return math.log(max(x, 2.2250738585072014e-308))
''',
            lambda x: sp.log(x),
        ),
        Helper(
            "_clip_open1",
            '''def _clip_open1(a: float, low: float, high: float) -> float:
    """One float clipped into the open interval (low, high), for use in a denominator."""
    return min(max(a, low + 2.2250738585072014e-308), high - 1.1102230246251565e-16)
''',
            lambda x: x,
        ),
    ]
}
"""Every numeric primitive, by name. The tests check each against its ``definition``."""


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


# --- the printer ----------------------------------------------------------------------------


def _literal(value: sp.Rational | sp.Float) -> str:
    """A number as the shortest Python literal that reads back exactly, else ``p/q``."""
    if isinstance(value, sp.Integer):
        return str(int(value))
    as_float = float(value)
    text = repr(as_float)
    if isinstance(value, sp.Float) or sp.Rational(text) == value:
        return text if math.isfinite(as_float) else f"float('{text}')"
    return f"({value.p}/{value.q})"


class ArrayPrinter(NumPyPrinter):
    """Prints unit-level formulas as broadcasting NumPy code over a batch.

    Parameters
    ----------
    names
        Code names of the unit-level quantities: keys ``a``, ``z``, ``y`` (the scalars of
        the registry) map to array variables such as ``"a3"``, ``"z3"``, ``"Y"``; the
        indexed forms ``a[j]``, ``a[i]`` print as the same arrays.
    units_axis
        The axis of a layer's units: 1 for a batch of rows (the default), 0 for a batch of
        columns, or the name of a variable holding it (``"axis"``). Sums over the units and
        the helpers that reduce over them (softmax) take it.

    Examples
    --------
    >>> from symprop.core.registry import a_vec, i_idx
    >>> total = BatchSum(a_vec[i_idx])
    >>> ArrayPrinter({"a": "a3"}).doprint(total)
    'np.sum(a3, axis=1, keepdims=True)'
    >>> ArrayPrinter({"a": "a3"}, units_axis=0).doprint(total)
    'np.sum(a3, axis=0, keepdims=True)'
    """

    printmethod = "_symprop_numpy"
    _kf = {**NumPyPrinter._kf}

    def __init__(self, names: Mapping[str, str] | None = None, units_axis: int | str = 1) -> None:
        super().__init__({"fully_qualified_modules": True, "inline": True})
        self.names = dict(names or {})
        self.units_axis = units_axis
        self.helpers_used: set[str] = set()
        self.activations_used: set[str] = set()

    def _axis_argument(self) -> str:
        """``, axis=…`` for a call that reduces over the units; nothing for rows (the
        functions' default)."""
        return "" if self.units_axis == 1 else f", axis={self.units_axis}"

    def _module_format(self, fqn: str, register: bool = True) -> str:
        # The generated module imports NumPy as np.
        if fqn.startswith("numpy."):
            return "np." + fqn[len("numpy.") :]
        return super()._module_format(fqn, register)

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        if expr.name in self.names:
            return self.names[expr.name]
        return super()._print_Symbol(expr)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        name = expr.base.label.name
        if name in self.names:
            return self.names[name]
        raise NotImplementedError(f"no array name for {expr}")

    def _print_Rational(self, expr: sp.Rational) -> str:
        return _literal(expr)

    _print_Half = _print_Rational

    def _print_Float(self, expr: sp.Float) -> str:
        return _literal(expr)

    def _print_Integer(self, expr: sp.Integer) -> str:
        return str(int(expr))

    def _print_Function(self, expr: sp.Function) -> str:
        # SymPy's dispatch skips intermediate Function subclasses (it only honours the
        # class's own name), so route the families of symprop functions here.
        if isinstance(expr, ClipOutput):
            return self._print_ClipOutput(expr)
        if isinstance(expr, StableFunction):
            return self._print_StableFunction(expr)
        if isinstance(expr, ActivationApplied):
            return self._print_ActivationApplied(expr)
        if isinstance(expr, BatchSum):
            return self._print_BatchSum(expr)
        return super()._print_Function(expr)

    def _print_ActivationApplied(self, expr: ActivationApplied) -> str:
        self.activations_used.add(expr.activation_name)
        axis = "" if ACTIVATIONS[expr.activation_name].elementwise else self._axis_argument()
        return f"{expr.activation_name}({self._print(expr.args[0])}{axis})"

    def _print_StableFunction(self, expr: StableFunction) -> str:
        self.helpers_used.add(expr.helper)
        axis = self._axis_argument() if HELPERS[expr.helper].across_units else ""
        return f"{expr.helper}({', '.join(self._print(arg) for arg in expr.args)}{axis})"

    def _print_ClipOutput(self, expr: ClipOutput) -> str:
        self.helpers_used.add(expr.helper)
        arr, low, high = expr.args
        ends = [
            ("-np.inf" if e == -sp.oo else "np.inf" if e == sp.oo else self._print(e))
            for e in (low, high)
        ]
        return f"{expr.helper}({self._print(arr)}, {ends[0]}, {ends[1]})"

    def _print_BatchSum(self, expr: BatchSum) -> str:
        return f"np.sum({self._print(expr.args[0])}, axis={self.units_axis}, keepdims=True)"

    def _print_Max(self, expr: sp.Max) -> str:
        return self._pairwise("np.maximum", expr.args)

    def _print_Min(self, expr: sp.Min) -> str:
        return self._pairwise("np.minimum", expr.args)

    def _pairwise(self, func: str, args: tuple[sp.Basic, ...]) -> str:
        # Arrays first, numbers last: np.maximum(z1, 0) reads like ReLU's definition.
        ordered = sorted(args, key=lambda e: (e.is_number, sp.default_sort_key(e)))
        out = self._print(ordered[0])
        for arg in ordered[1:]:
            out = f"{func}({out}, {self._print(arg)})"
        return out

    def _print_logaddexp(self, expr: sp.Basic) -> str:
        return f"np.logaddexp({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_expm1(self, expr: sp.Basic) -> str:
        return f"np.expm1({self._print(expr.args[0])})"

    def _print_Relational(self, expr: sp.Basic) -> str:
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        if expr.args[-1][1] != sp.true:
            raise NotImplementedError(f"Piecewise without an otherwise branch: {expr}")
        # A 0/1 step (ReLU's derivative) is the boolean mask itself; multiplying a float
        # array by a boolean one keeps its dtype.
        if len(expr.args) == 2 and expr.args[0][0] == 1 and expr.args[1][0] == 0:
            return self._print(expr.args[0][1])
        out = self._print(expr.args[-1][0])
        for value, cond in reversed(expr.args[:-1]):
            out = f"np.where({self._print(cond)}, {self._print(value)}, {out})"
        return out

    def _print_KroneckerDelta(self, expr: sp.Basic) -> str:
        raise NotImplementedError("KroneckerDelta left in a printed formula; sum it out first")

    def _print_Sum(self, expr: sp.Sum) -> str:
        raise NotImplementedError(f"unseparated sum {expr}; call separate_sums first")


_MATH_NAMES = {
    **{
        name: f"math.{name}"
        for name in (
            "exp",
            "log",
            "log1p",
            "expm1",
            "sqrt",
            "tanh",
            "sinh",
            "cosh",
            "sin",
            "cos",
            "tan",
            "erf",
        )
    },
    "arctan": "math.atan",
    "arcsin": "math.asin",
    "arccos": "math.acos",
    "arctanh": "math.atanh",
    "arcsinh": "math.asinh",
}


class ScalarPrinter(ArrayPrinter):
    """Prints unit-level formulas as Python code on floats (``math`` and scalar helpers).

    For networks small enough that each NumPy call costs more than its arithmetic, the
    generated module unrolls a sample's forward and backward pass over the units. Anything
    without a float form (a row-wise softmax, a sum over the layer's units) raises
    ``NotImplementedError``; the generator then keeps the array code only.
    """

    def _module_format(self, fqn: str, register: bool = True) -> str:
        if fqn.startswith("numpy."):
            name = fqn[len("numpy.") :]
            if name in _MATH_NAMES:
                return _MATH_NAMES[name]
            raise NotImplementedError(f"no float form of numpy.{name}")
        return super()._module_format(fqn, register)

    def _print_StableFunction(self, expr: StableFunction) -> str:
        helper = expr.helper + "1"
        if helper not in HELPERS:
            raise NotImplementedError(f"no float form of {expr.helper}")
        self.helpers_used.add(helper)
        return f"{helper}({', '.join(self._print(arg) for arg in expr.args)})"

    def _print_ClipOutput(self, expr: ClipOutput) -> str:
        self.helpers_used.add("_clip_open1")
        arr, low, high = expr.args
        ends = [
            ("-math.inf" if e == -sp.oo else "math.inf" if e == sp.oo else self._print(e))
            for e in (low, high)
        ]
        return f"_clip_open1({self._print(arr)}, {ends[0]}, {ends[1]})"

    def _print_ActivationApplied(self, expr: ActivationApplied) -> str:
        from symprop.core.registry import z

        act = ACTIVATIONS[expr.activation_name]
        if act.parameters or not act.elementwise:
            raise NotImplementedError(f"no float form of {expr.activation_name} here")
        return self._print(stabilise(act.definition.subs(z, expr.args[0])))

    def _print_BatchSum(self, expr: BatchSum) -> str:
        raise NotImplementedError("a sum over the layer's units has no per-unit float form")

    def _pairwise(self, func: str, args: tuple[sp.Basic, ...]) -> str:
        name = {"np.maximum": "max", "np.minimum": "min"}[func]
        ordered = sorted(args, key=lambda e: (e.is_number, sp.default_sort_key(e)))
        return f"{name}({', '.join(self._print(arg) for arg in ordered)})"

    def _print_logaddexp(self, expr: sp.Basic) -> str:
        self.helpers_used.add("_logaddexp1")
        return f"_logaddexp1({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_expm1(self, expr: sp.Basic) -> str:
        return f"math.expm1({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        if expr.args[-1][1] != sp.true:
            raise NotImplementedError(f"Piecewise without an otherwise branch: {expr}")
        out = self._print(expr.args[-1][0])
        for value, cond in reversed(expr.args[:-1]):
            out = f"({self._print(value)} if {self._print(cond)} else {out})"
        return out
