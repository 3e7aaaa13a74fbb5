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

Formulas arrive stabilised (:mod:`symprop.codegen.stable`); each stable function prints as
a call of its primitive in :data:`symprop.codegen.numpy.helpers.HELPERS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1
from sympy.codegen.numpy_nodes import logaddexp
from sympy.printing.numpy import NumPyPrinter

from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.stable import BatchSum, ClipOutput, StableFunction, stabilise
from symprop.core.calculus import ActivationApplied
from symprop.core.registry import ACTIVATIONS, z

__all__ = ["NUMPY_UFUNCS", "ArrayPrinter", "ScalarPrinter"]

NUMPY_UFUNCS: frozenset[str] = frozenset(
    name for name, value in vars(np).items() if isinstance(value, np.ufunc)
)
"""The names under which NumPy exports a ufunc: a call of one of them takes ``out=``."""

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


_OWN_CALLS: tuple[tuple[type, str], ...] = (
    (sp.Max, "maximum"),
    (sp.Min, "minimum"),
    (logaddexp, "logaddexp"),
    (expm1, "expm1"),
)
"""The SymPy functions :class:`ArrayPrinter` writes as calls of its own choice of NumPy
function (its ``_print_*`` methods below), outside NumPyPrinter's table."""


def _is_mask(expr: sp.Basic) -> bool:
    """Whether ``expr`` is a 0/1 step, Piecewise((1, c), (0, True)), printed as its mask."""
    return (
        isinstance(expr, sp.Piecewise)
        and len(expr.args) == 2
        and expr.args[0][0] == 1
        and expr.args[1][0] == 0
    )


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

    def ufunc_of(self, expr: sp.Basic) -> str | None:
        """The NumPy ufunc that this printer writes ``expr`` as one call of, without keywords
        (so that the call can write into a buffer with ``out=``); None for anything else.

        Decided from the expression and the printer's function table, not from printed text.
        """
        name = self._call_name(expr)
        return name if name in NUMPY_UFUNCS else None

    def _call_name(self, expr: sp.Basic) -> str | None:
        """The ``np.<name>`` whose call this printer writes for ``expr``, if any."""
        for cls, name in _OWN_CALLS:
            if isinstance(expr, cls):
                return name
        if isinstance(expr, StableFunction | ActivationApplied | BatchSum):
            return None  # the module's own functions, not NumPy's
        if isinstance(expr, sp.Pow) and expr.exp == sp.S.Half:
            return "sqrt"  # NumPyPrinter writes x**(1/2) as a call of sqrt
        if isinstance(expr, sp.Function):
            fqn = self.known_functions.get(type(expr).__name__, "")
            if fqn.startswith("numpy."):
                return fqn[len("numpy.") :]
        return None

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

    def parenthesize(self, item: sp.Basic, level: int, strict: bool = False) -> str:
        # A 0/1 step prints as a comparison, which binds looser than any arithmetic: inside
        # a product it needs parentheses, or 2 * (a - Y) * z > 0 compares the product.
        if _is_mask(item):
            return f"({self._print(item)})"
        return super().parenthesize(item, level, strict)

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        if expr.args[-1][1] != sp.true:
            raise NotImplementedError(f"Piecewise without an otherwise branch: {expr}")
        # A 0/1 step (ReLU's derivative) is the boolean mask itself; multiplying a float
        # array by a boolean one keeps its dtype.
        if _is_mask(expr):
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

    def ufunc_of(self, expr: sp.Basic) -> str | None:
        """None: code on floats has no buffers to write into."""
        return None

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
