"""Registry activations and losses as coarse gates of a network's computation graph.

Each is a SymPy expression class that describes its own gate (``as_gate``) and its
vector-Jacobian products (``vjp_rules``) from the registry definitions, so the graph machinery
of :mod:`symprop.explain.graph` draws and differentiates any activation or loss the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions import MatrixExpr

from symprop.core import symbols as g
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.explain.graph import Gate

__all__ = [
    "Activated",
    "ActivationJacobian",
    "LossGradient",
    "LossSum",
    "ScalarActivation",
]


# ------------------------------------------------------------------ registry gates


def _params_tuple(params: Mapping[str, float] | sp.Tuple) -> sp.Tuple:
    if isinstance(params, sp.Tuple):  # rebuilt from its own args (xreplace, func(*args))
        return params
    return sp.Tuple(
        *[sp.Tuple(Str(k), sp.nsimplify(v, rational=True)) for k, v in sorted(params.items())]
    )


def _params_dict(pairs: sp.Tuple) -> dict[str, sp.Rational]:
    return {str(k): v for k, v in pairs}


def _explicit(arg: sp.Basic) -> sp.ImmutableMatrix | None:
    if isinstance(arg, sp.MatrixBase):
        return sp.ImmutableMatrix(arg)
    return None


def _deep(arg: sp.Basic, hints: Mapping[str, object]) -> sp.Basic:
    return arg.doit(**hints) if hints.get("deep", True) else arg


def _name_of(arg: sp.Basic) -> sp.Symbol | None:
    if isinstance(arg, sp.MatrixSymbol):
        return sp.Symbol(str(arg.name))
    return None


class Activated(MatrixExpr):
    """A registry activation applied to a column vector, ``φ(z)`` (``derivative=1``: ``φ'(z)``).

    Evaluates (``doit``) on an explicit vector through the registry definition, so one coarse
    gate serves every activation, elementwise or not (softmax).
    """

    def __new__(
        cls, name: str, params: Mapping[str, float] | sp.Tuple, arg: sp.Basic, derivative: int = 0
    ) -> Activated:
        name, derivative = str(name), int(derivative)
        if derivative and not ACTIVATIONS[name].elementwise:
            raise ValueError("the derivative of a vector activation is its Jacobian")
        return super().__new__(cls, Str(name), _params_tuple(params), arg, sp.Integer(derivative))

    @property
    def activation(self) -> str:
        return str(self.args[0])

    @property
    def params(self) -> dict[str, sp.Rational]:
        return _params_dict(self.args[1])

    @property
    def argument(self) -> sp.Basic:
        return self.args[2]

    @property
    def derivative(self) -> int:
        return int(self.args[3])

    @property
    def shape(self) -> tuple:
        return self.argument.shape

    def doit(self, **hints: object) -> sp.Basic:
        arg = _deep(self.argument, hints)
        explicit = _explicit(arg)
        if explicit is None:
            return type(self)(self.activation, self.args[1], arg, self.derivative)
        if self.derivative == 0:
            # Columns are samples: a vector activation (softmax) acts on each column.
            columns = [
                g.apply_activation(self.activation, self.params, explicit[:, c])
                for c in range(explicit.cols)
            ]
            return sp.ImmutableMatrix(sp.Matrix.hstack(*columns))
        definition = ACTIVATIONS[self.activation].instantiate(self.params)
        slope = sp.diff(definition, z_scalar)
        return explicit.applyfunc(lambda e: slope.xreplace({z_scalar: e}))

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """One gate ``φ(a0)`` labelled with the activation's display name."""
        act = ACTIVATIONS[self.activation]
        a0 = sp.MatrixSymbol("a0", *self.shape)
        kind = "activation" if act.elementwise else "vector_activation"
        fn = Activated(self.activation, self.args[1], a0)
        return Gate(kind, act.unicode, fn, (a0,), label_tex=act.latex), (self.argument,)

    def vjp_rules(self, upstream: sp.Basic) -> tuple[sp.Basic, ...]:
        """``G ⊙ φ'(z)`` for an elementwise activation, ``J_φ(z)ᵀ G`` otherwise."""
        if ACTIVATIONS[self.activation].elementwise:
            slope = Activated(self.activation, self.args[1], self.argument, 1)
            return (sp.HadamardProduct(upstream, slope),)
        if self.shape[1] != 1:
            # A batch: each column has its own Jacobian; the backward pass then takes the
            # entrywise vector-Jacobian product (SymPy's refusal is its signal for that).
            raise TypeError("one Jacobian per sample")
        jac = ActivationJacobian(self.activation, self.args[1], self.argument)
        return (sp.MatMul(sp.Transpose(jac), upstream),)

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        prime = "'" * self.derivative
        return f"{ACTIVATIONS[self.activation].unicode}{prime}({printer._print(self.argument)})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        prime = "'" * self.derivative
        inner = printer._print(self.argument)
        return rf"{ACTIVATIONS[self.activation].latex}{prime}\left({inner}\right)"


class ActivationJacobian(MatrixExpr):
    """``∂φ(z)/∂z``, the n×n Jacobian of a vector activation, from its registry definition."""

    def __new__(
        cls, name: str, params: Mapping[str, float] | sp.Tuple, arg: sp.Basic
    ) -> ActivationJacobian:
        return super().__new__(cls, Str(str(name)), _params_tuple(params), arg)

    @property
    def shape(self) -> tuple:
        n = self.args[2].shape[0]
        return (n, n)

    def doit(self, **hints: object) -> sp.Basic:
        arg = _deep(self.args[2], hints)
        explicit = _explicit(arg)
        if explicit is None:
            return type(self)(str(self.args[0]), self.args[1], arg)
        entries = sp.Matrix([sp.Symbol(f"e_{r}", real=True) for r in range(explicit.rows)])
        out = g.apply_activation(str(self.args[0]), _params_dict(self.args[1]), entries)
        jac = out.jacobian(entries)
        return sp.ImmutableMatrix(jac.xreplace(dict(zip(entries, explicit, strict=True))))

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        act = ACTIVATIONS[str(self.args[0])]
        return f"J_{act.unicode}({printer._print(self.args[2])})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        act = ACTIVATIONS[str(self.args[0])]
        return rf"J_{{{act.latex}}}\left({printer._print(self.args[2])}\right)"


_K = sp.Symbol("k", integer=True, positive=True)


def _indexed_term(
    expr: sp.Expr, pred: sp.Basic, target: sp.Basic, plain: bool = False
) -> sp.Expr | None:
    """The loss formula with ``a`` and ``y`` as the k-th entries of the named vectors.

    ``plain`` gives symbols ``a2_k`` for text (``Indexed`` prints ``a2[k]`` there).
    """
    a_name, y_name = _name_of(pred), _name_of(target)
    if a_name is None or y_name is None:
        return None
    if plain:
        entries = {a_scalar: sp.Symbol(f"{a_name}_k"), y_scalar: sp.Symbol(f"{y_name}_k")}
    else:
        entries = {a_scalar: sp.IndexedBase(a_name)[_K], y_scalar: sp.IndexedBase(y_name)[_K]}
    return expr.xreplace(entries)


def _summed(term: sp.Expr, pred: sp.Basic) -> sp.Expr:
    return sp.Sum(term, (_K, 1, pred.shape[0]))


class LossSum(sp.Expr):
    """The per-sample loss ``Σ_k ℓ(a_k, y_k)`` of the output vector ``a`` and target ``y``."""

    is_real = True

    def __new__(cls, loss: str, pred: sp.Basic, target: sp.Basic) -> LossSum:
        return super().__new__(cls, Str(str(loss)), pred, target)

    @property
    def loss(self) -> str:
        return str(self.args[0])

    def doit(self, **hints: object) -> sp.Basic:
        pred, target = (_deep(arg, hints) for arg in self.args[1:])
        a_vals, y_vals = _explicit(pred), _explicit(target)
        if a_vals is None or y_vals is None:
            return type(self)(self.loss, pred, target)
        term = LOSSES[self.loss].term
        return sp.Add(
            *[
                term.xreplace({a_scalar: av, y_scalar: yv})
                for av, yv in zip(a_vals, y_vals, strict=True)
            ]
        )

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """One gate of the output and the target, labelled with the loss's display name."""
        loss = LOSSES[self.loss]
        pred, target = self.args[1:]
        a0, a1 = sp.MatrixSymbol("a0", *pred.shape), sp.MatrixSymbol("a1", *target.shape)
        fn = LossSum(self.loss, a0, a1)
        return Gate("loss", loss.unicode, fn, (a0, a1), label_tex=loss.latex), (pred, target)

    def vjp_rules(self, upstream: sp.Basic) -> tuple[sp.Basic, ...]:
        """``G ∂ℓ/∂a_k`` and ``G ∂ℓ/∂y_k``, entry by entry."""
        pred, target = self.args[1:]
        return tuple(
            sp.MatMul(upstream, LossGradient(self.loss, pred, target, which))
            for which in ("a", "y")
        )

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        term = _indexed_term(LOSSES[self.loss].term, *self.args[1:], plain=True)
        if term is None:
            return f"{self.loss}({', '.join(printer._print(a) for a in self.args[1:])})"
        return f"sum_k({printer._print(term)})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        term = _indexed_term(LOSSES[self.loss].term, *self.args[1:])
        if term is None:
            inner = ", ".join(printer._print(a) for a in self.args[1:])
            return rf"\ell\left({inner}\right)"
        return printer._print(_summed(term, self.args[1]))


class LossGradient(MatrixExpr):
    """``[∂ℓ(a_k, y_k)/∂a_k]_k`` (``which="a"``) or the same in ``y``: a column vector."""

    def __new__(cls, loss: str, pred: sp.Basic, target: sp.Basic, which: str) -> LossGradient:
        return super().__new__(cls, Str(str(loss)), pred, target, Str(str(which)))

    @property
    def shape(self) -> tuple:
        return self.args[1].shape

    def _slope(self) -> sp.Expr:
        variable = a_scalar if str(self.args[3]) == "a" else y_scalar
        return sp.diff(LOSSES[str(self.args[0])].term, variable)

    def doit(self, **hints: object) -> sp.Basic:
        pred, target = (_deep(arg, hints) for arg in self.args[1:3])
        a_vals, y_vals = _explicit(pred), _explicit(target)
        if a_vals is None or y_vals is None:
            return type(self)(str(self.args[0]), pred, target, str(self.args[3]))
        slope = self._slope()
        return sp.ImmutableMatrix(
            a_vals.rows,
            a_vals.cols,
            [
                slope.xreplace({a_scalar: av, y_scalar: yv})
                for av, yv in zip(a_vals, y_vals, strict=True)
            ],
        )

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        term = _indexed_term(self._slope(), *self.args[1:3], plain=True)
        if term is None:
            return f"d{self.args[0]}/d{self.args[3]}"
        return f"[{printer._print(term)}]_k"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        term = _indexed_term(self._slope(), *self.args[1:3])
        if term is None:
            return rf"\nabla_{{{self.args[3]}}}\ell"
        return r"\left[" + printer._print(term) + r"\right]_{k}"


class ScalarActivation(sp.Expr):
    """A piecewise activation of one unit in the elementary graph: one gate, no decomposition."""

    is_real = True

    def __new__(
        cls, name: str, params: Mapping[str, float] | sp.Tuple, arg: sp.Basic
    ) -> ScalarActivation:
        return super().__new__(cls, Str(str(name)), _params_tuple(params), arg)

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """The gate is the registry definition itself (its SymPy derivative is the local one)."""
        act = ACTIVATIONS[str(self.args[0])]
        a0 = sp.Symbol("a0", real=True)
        fn = act.instantiate(_params_dict(self.args[1])).xreplace({z_scalar: a0})
        return Gate("activation", act.unicode, fn, (a0,), label_tex=act.latex), (self.args[2],)

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return f"{ACTIVATIONS[str(self.args[0])].unicode}({printer._print(self.args[2])})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        inner = printer._print(self.args[2])
        return rf"{ACTIVATIONS[str(self.args[0])].latex}\left({inner}\right)"
