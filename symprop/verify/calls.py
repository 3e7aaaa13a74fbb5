"""Calls in a claim: activations (σ, φ, g, f of a layer; named ones), the notations' cost and
output functions (J(Θ), Ng's h_Θ(x)), Heaviside ``H``, ``diag``, the elementary functions,
functions the setting defines, and juxtapositions the reading takes as products.

A mixin of :class:`~symprop.verify.evaluate.Evaluator` (its names, quantities and values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sympy as sp

from symprop.core import symbols as g
from symprop.core.errors import shown
from symprop.core.registry import ACTIVATIONS
from symprop.core.registry import z as z_scalar
from symprop.parsing import Call, Expr, Name, iter_nodes
from symprop.verify.declare import Definition
from symprop.verify.errors import VerifyError
from symprop.verify.matrices import NotDefined, _binop
from symprop.verify.notation import COST_ROLES, GENERIC_FUNCTIONS, LAYERED, Profile, Ref

_MATH_FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "ln": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "sin": sp.sin,
    "cos": sp.cos,
}


class Calls:
    """Evaluating :class:`~symprop.parsing.tree.Call` nodes (mixed into the evaluator)."""

    profile: Profile
    env: Any
    bound: dict[str, sp.Matrix]
    exact: int
    _defining: list[str]

    # provided by the evaluator
    def __call__(self, node: Expr) -> sp.Matrix:  # pragma: no cover - the evaluator's
        raise NotImplementedError

    def quantity(self, ref: Ref) -> sp.Matrix:  # pragma: no cover - the evaluator's
        raise NotImplementedError

    def with_values(self, value: sp.Matrix) -> sp.Matrix:  # pragma: no cover
        raise NotImplementedError

    def layer_index(self, ref: Ref) -> int:  # pragma: no cover - the evaluator's
        raise NotImplementedError

    def layer_of(self, node: Expr) -> int | None:
        for sub in iter_nodes(node):
            if isinstance(sub, Name) and not (isinstance(node, Call) and sub is node.func):
                try:
                    ref = self.profile.resolve(sub)
                except VerifyError:
                    continue
                if ref.role in LAYERED and self.env.model is not None:
                    return self.layer_index(ref)
                if ref.role == "yhat" and self.env.model is not None:
                    return self.env.model.L
        return None

    def activation_for(self, node: Call) -> tuple[str, dict[str, float]]:
        model = self.env.model
        if model is None:
            return self.calculus_activation(node)
        layer = None
        for arg in node.args:
            layer = self.layer_of(arg)
            if layer is not None:
                break
        if layer is None or not 1 <= layer <= model.L:
            names = {model.activation(lay) for lay in range(1, model.L + 1)}
            if len(names) != 1:
                raise VerifyError(
                    f"{shown(node.func.base)}(…): cannot tell which layer's activation is meant; "
                    "give its argument a layer label, e.g. z^l"
                )
            layer = model.L
        return model.activation(layer), model.params(layer)

    def calculus_activation(self, node: Call) -> tuple[str, dict[str, float]]:
        """σ, φ, g, f without a network: the declared activation; σ alone is the sigmoid."""
        declared = getattr(self.profile.setting, "activation", None)
        name = declared or ("sigmoid" if node.func.base == "sigma" else None)
        if name is None:
            raise VerifyError(
                f"{shown(node.func.base)}(…): which function is it? declare an activation "
                f'(activation = "tanh"), or define it ("{node.func.base}(z)" = …)'
            )
        return name, {p.name: p.default for p in ACTIVATIONS[name].parameters}

    def call(self, node: Call) -> sp.Matrix:
        func = node.func
        base = func.base
        primes = func.primes
        if (node.juxtaposed and func.key in self.profile.reading.products) or (
            not func.primes and _value_declared(func, self.profile)
        ):
            # f\,(1-f) with f a quantity: a product, read as written
            value = self(replace(func, primes=0))
            for arg in node.args:
                value = _binop("mul", value, self(arg))
            return value
        definition = self.profile.definitions.get(func.key) or self.profile.definitions.get(
            replace(func, primes=0).key
        )
        if definition is not None and definition.params:
            return self.apply_definition(definition, node)
        if base in self.bound and not primes:
            # a loss formula's output written as Ng's h_Θ(x): the bound output itself
            return self.bound[base]
        role = self.profile.roles.get(base) if self.profile.network else None
        if role in COST_ROLES and not primes:
            # J(Θ), C(w): the cost, whatever its written arguments.
            return self.quantity(Ref(role, None, ()))
        if role == "yhat" and base == "h" and not primes:
            return self.quantity(Ref("yhat", None, ()))  # Ng's h_Θ(x)
        if len(node.args) != 1 and base not in ("max", "min"):
            raise VerifyError(f"{shown(base)} takes one argument")
        if base == "H" and not primes:
            return self(node.args[0]).applyfunc(sp.Heaviside)
        if base == "diag" and not primes:
            arg = self(node.args[0])
            if arg.cols != 1 and arg.rows != 1:
                raise NotDefined("diag of a matrix")
            return sp.diag(*list(arg))
        if base in GENERIC_FUNCTIONS or base in ACTIVATIONS:
            if base == "sigma" and self.profile.reading.sigma_sigmoid:
                name, params = "sigmoid", {}  # this reading: σ is the logistic sigmoid
            elif base in ACTIVATIONS:
                name, params = base, {p.name: p.default for p in ACTIVATIONS[base].parameters}
            else:
                name, params = self.activation_for(node)
            act = ACTIVATIONS[name]
            arg = self(node.args[0])
            if not act.elementwise:
                if primes:
                    raise VerifyError(
                        f"{name} is not elementwise; its derivative is a Jacobian, "
                        "not φ'(z) — state δ^L directly"
                    )
                if arg.cols != 1:
                    raise NotDefined("softmax of a matrix")
                return g.apply_activation(name, params, arg)
            definition_expr = act.instantiate(params)
            if primes:
                definition_expr = sp.diff(definition_expr, z_scalar, primes)
            return arg.applyfunc(lambda e: definition_expr.xreplace({z_scalar: e}))
        if primes:
            raise VerifyError(f"{shown(base)}' is not supported; write the derivative out")
        if base in _MATH_FUNCTIONS:
            fn = _MATH_FUNCTIONS[base]
            return self(node.args[0]).applyfunc(fn)
        if base in ("max", "min"):
            args = [self(a) for a in node.args]
            if any(a.shape != (1, 1) for a in args):
                raise NotDefined("max/min of vectors")
            fn2 = sp.Max if base == "max" else sp.Min
            return sp.Matrix([[fn2(*[a[0] for a in args])]])
        known = sorted(set(_MATH_FUNCTIONS) | set(ACTIVATIONS) | GENERIC_FUNCTIONS | {"H", "diag"})
        raise VerifyError(
            f"unknown function {shown(base)}; known: {', '.join(known)}, and functions the "
            "setting defines"
        )

    def apply_definition(self, definition: Definition, node: Call) -> sp.Matrix:
        """A defined function applied: its body in scalar parameters, entry by entry over a
        vector argument, differentiated by ``sympy.diff`` for each prime."""
        params = definition.params
        if len(params) != len(node.args):
            raise VerifyError(
                f"{shown(definition.name.key)} takes {len(params)} argument"
                f"{'s' if len(params) != 1 else ''}, got {len(node.args)}"
            )
        primes = node.func.primes
        if primes and len(params) != 1:
            raise VerifyError(f"{shown(node.func.key)}: a prime needs a function of one variable")
        args = [self(a) for a in node.args]
        dummies = [sp.Dummy(p.key, real=True) for p in params]
        saved = dict(self.bound)
        self.bound.update({p.key: sp.Matrix([[d]]) for p, d in zip(params, dummies, strict=True)})
        key = definition.name.key
        if key in self._defining:
            raise VerifyError(f"the definition of {shown(key)} refers to itself")
        self._defining.append(key)
        self.exact += 1
        try:
            body = self(definition.body)
        finally:
            self.exact -= 1
            self._defining.pop()
            self.bound = saved
        if body.shape != (1, 1):
            raise VerifyError(f"{shown(key)}: a function's value must be a scalar")
        expr = body[0]
        if primes:
            expr = sp.diff(expr, dummies[0], primes)
        big = [a for a in args if a.shape != (1, 1)]
        if len(big) > 1 or (big and len(args) > 1):
            raise NotDefined(f"{key} of several vectors")
        if big:
            result = big[0].applyfunc(lambda e: expr.xreplace({dummies[0]: e}))
        else:
            scalars = dict(zip(dummies, [a[0] for a in args], strict=True))
            result = sp.Matrix([[expr.xreplace(scalars)]])
        return self.with_values(result) if self.exact == 0 else result


def _value_declared(func: Name, profile: Profile) -> bool:
    """A name the setting gives as a value (a definition without parameters, a shape, a
    value): written before a bracket it is a product (``f(1-f)`` with ``f`` defined)."""
    key = func.key
    if profile.is_function(func):
        return False
    definition = profile.definitions.get(key)
    return (
        (definition is not None and not definition.params)
        or key in profile.shapes
        or (key in profile.valued)
    )
