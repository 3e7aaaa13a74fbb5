"""Evaluating a claim's side on the small network: AST -> explicit SymPy matrices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from symprop.core import symbols as g
from symprop.core.errors import shown
from symprop.core.registry import ACTIVATIONS
from symprop.core.registry import z as z_scalar
from symprop.parsing import (
    BinOp,
    Call,
    Derivative,
    Expr,
    IndexSum,
    Name,
    Neg,
    Norm,
    Number,
    Transpose,
    iter_nodes,
)
from symprop.verify.errors import VerifyError
from symprop.verify.notation import (
    COST_ROLES,
    GENERIC_FUNCTIONS,
    LAYERED,
    Profile,
    Ref,
    valid_layer,
)
from symprop.verify.setting import Deadline, Model

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


class NotDefined(Exception):
    """A side is not defined at this binding (shapes do not conform, index out of range)."""


@dataclass
class Env:
    """Where a side is evaluated: the model, the numbering, layer variables and indices."""

    model: Model
    offsets: dict[str, int]
    layers: dict[str, int]  # claim-level value of each layer variable (incl. L)
    indices: dict[str, int] = field(default_factory=dict)
    overrides: dict[tuple[str, int], Any] = field(default_factory=dict)


def internal_layer(ref: Ref, env: Env) -> int:
    """The internal layer (input = 0) that a reference's label denotes under ``env``."""
    if ref.label is None:
        if env.model.L == 1:
            return 1  # one layer: an unlabelled z, a, w, b, δ can only mean it
        raise VerifyError(
            f"{ref.role} needs a layer label here (the network has {env.model.L} layers); "
            "write e.g. a^l, a^L or a^{(2)} (a^2 is a power)"
        )
    var, off = ref.label
    claim = off if var is None else env.layers[var] + off
    return claim - env.offsets[ref.role]


class Evaluator:
    """AST -> explicit SymPy matrices in the instance's symbols (1×1 for scalars)."""

    def __init__(self, profile: Profile, env: Env, deadline: Deadline) -> None:
        self.profile = profile
        self.env = env
        self.deadline = deadline

    # -- names
    def quantity(self, ref: Ref) -> sp.Matrix:
        env, model = self.env, self.env.model
        inst = model.insts[0]
        role = ref.role
        if role in LAYERED:
            m = internal_layer(ref, env)
            if not valid_layer(role, m, model.L):
                raise NotDefined(f"{role} of layer {m} does not exist")
            if (role, m) in env.overrides:
                value = env.overrides[(role, m)]
            elif role == "z":
                value = inst.z[m]
            elif role == "a":
                value = inst.a[m]
            elif role in ("W", "b") and m not in (inst.W if role == "W" else inst.b):
                kind = model.net.layers[m - 1].kind
                what = "weight matrix" if role == "W" else "bias"
                raise VerifyError(f"layer {m} is a {kind} layer: it has no {what} {role}")
            elif role == "W":
                value = inst.W[m]
            elif role == "b":
                value = inst.b[m]
            elif role == "delta":
                value = model.delta(m)
            else:  # Delta: the accumulated Σ_i δ^m(i) a^{m-1}(i)ᵀ over the batch
                value = sp.zeros(inst.W[m].rows, inst.W[m].cols)
                for s in range(model.batch):
                    value += model.delta(m, s) * model.insts[s].a[m - 1].T
        elif role == "x":
            value = inst.x
        elif role == "y":
            value = inst.y
        elif role == "yhat":
            value = env.overrides.get(("a", model.L), inst.a[model.L])
        elif role == "C":
            value = sp.Matrix([[env.overrides.get(("C", 0), model.cost())]])
        elif role == "J":
            value = sp.Matrix([[env.overrides.get(("J", 0), model.objective())]])
        elif role == "lambda":
            value = sp.Matrix([[model.lam]])
        else:  # n
            value = sp.Matrix([[sp.Integer(model.batch)]])
        return self.entry(value, ref)

    def entry(self, value: sp.Matrix, ref: Ref) -> sp.Matrix:
        if not ref.indices:
            return value
        idx = [self.index(i) for i in ref.indices]
        if value.cols == 1 and len(idx) == 1:
            row, col = idx[0], 1
        elif len(idx) == 2:
            row, col = idx
        else:
            raise VerifyError(
                f"{ref.role} takes {1 if value.cols == 1 else 2} unit index"
                f"{'' if value.cols == 1 else 'es'}, got {len(idx)}"
            )
        if not (1 <= row <= value.rows and 1 <= col <= value.cols):
            raise NotDefined(f"index out of range for {ref.role}")
        return sp.Matrix([[value[row - 1, col - 1]]])

    def index(self, item: str) -> int:
        if item.isdigit():
            return int(item)
        if item not in self.env.indices:
            raise VerifyError(f"unit index {shown(item)} is not bound")
        return self.env.indices[item]

    # -- the tree
    def __call__(self, node: Expr) -> sp.Matrix:
        self.deadline.check()
        if isinstance(node, Number):
            return sp.Matrix([[sp.Rational(node.value.numerator, node.value.denominator)]])
        if isinstance(node, Name):
            return self.quantity(self.profile.resolve(node))
        if isinstance(node, Neg):
            return -self(node.operand)
        if isinstance(node, Transpose):
            return self(node.operand).T
        if isinstance(node, Norm):
            inner = self(node.operand)
            return sp.Matrix([[sp.sqrt(sum((e**2 for e in inner), sp.S.Zero))]])
        if isinstance(node, BinOp):
            return _binop(node.op, self(node.left), self(node.right))
        if isinstance(node, IndexSum):
            return self.index_sum(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Derivative):
            return self.derivative(node)
        raise VerifyError(f"cannot check a {type(node).__name__} here")

    def index_sum(self, node: IndexSum) -> sp.Matrix:
        if node.index in self.env.indices:
            raise VerifyError(f"index {shown(node.index)} is summed over but already bound")
        count = index_range(node.body, node.index, self)
        total: sp.Matrix | None = None
        for value in range(1, count + 1):
            self.env.indices[node.index] = value
            try:
                term = self(node.body)
            finally:
                del self.env.indices[node.index]
            total = term if total is None else _binop("add", total, term)
        assert total is not None
        return total

    def layer_of(self, node: Expr) -> int | None:
        for sub in iter_nodes(node):
            if isinstance(sub, Name) and not (isinstance(node, Call) and sub is node.func):
                try:
                    ref = self.profile.resolve(sub)
                except VerifyError:
                    continue
                if ref.role in LAYERED:
                    return internal_layer(ref, self.env)
                if ref.role == "yhat":
                    return self.env.model.L
        return None

    def activation_for(self, node: Call) -> tuple[str, dict[str, float]]:
        model = self.env.model
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

    def call(self, node: Call) -> sp.Matrix:
        base = node.func.base
        primes = node.func.primes
        if base in self.profile.roles and self.profile.roles[base] in COST_ROLES and not primes:
            # J(Θ), C(w): the cost, whatever its written arguments.
            return self.quantity(Ref(self.profile.roles[base], None, ()))
        if len(node.args) != 1 and base not in ("max", "min"):
            raise VerifyError(f"{shown(base)} takes one argument")
        if base in GENERIC_FUNCTIONS or base in ACTIVATIONS:
            if base in ACTIVATIONS:
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
            definition = act.instantiate(params)
            if primes:
                definition = sp.diff(definition, z_scalar, primes)
            return arg.applyfunc(lambda e: definition.xreplace({z_scalar: e}))
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
        known = sorted(set(_MATH_FUNCTIONS) | set(ACTIVATIONS) | GENERIC_FUNCTIONS)
        raise VerifyError(f"unknown function {shown(base)}; known: {', '.join(known)}")

    def derivative(self, node: Derivative) -> sp.Matrix:
        if not isinstance(node.den, Name):
            raise VerifyError("differentiate with respect to a named quantity")
        ref = self.profile.resolve(node.den)
        env = self.env
        # A large network checked at points differentiates on its recorded computation.
        at_point = getattr(env.model, "differentiate", None)
        if at_point is not None:
            return at_point(self, node, ref)
        if ref.role in ("W", "b", "x", "lambda"):
            den = self.quantity(ref)
            num = self(node.num)
            return _differentiate(num, den)
        if ref.role in ("z", "a", "yhat"):
            if ref.role == "yhat":
                ref = Ref("a", None, ref.indices)
                layer = env.model.L
            else:
                layer = internal_layer(ref, env)
            role = ref.role
            if not valid_layer(role, layer, env.model.L):
                raise NotDefined(f"{role} of layer {layer} does not exist")
            if role == "a" and layer == 0:
                den = env.model.insts[0].x
                return _differentiate(self(node.num), self.entry(den, ref) if ref.indices else den)
            original = env.model.insts[0].z[layer] if role == "z" else env.model.insts[0].a[layer]
            fresh = sp.Matrix([sp.Dummy(f"f{r}", real=True) for r in range(original.rows)])
            saved = dict(env.overrides)
            env.overrides.update(env.model.forward_from(role, layer, fresh))
            try:
                num = self(node.num)
                den = self.entry(fresh, ref) if ref.indices else fresh
            finally:
                env.overrides.clear()
                env.overrides.update(saved)
            result = _differentiate(num, den)
            return result.xreplace(dict(zip(fresh, original, strict=True)))
        raise VerifyError(f"cannot differentiate with respect to {shown(node.den.key)}")


def _differentiate(num: sp.Matrix, den: sp.Matrix) -> sp.Matrix:
    if num.shape == (1, 1):
        return den.applyfunc(lambda d: sp.diff(num[0], d))
    if den.shape == (1, 1):
        return num.applyfunc(lambda e: sp.diff(e, den[0]))
    if num.cols == 1 and den.cols == 1:
        return sp.Matrix(num.rows, den.rows, lambda r, c: sp.diff(num[r], den[c]))
    raise NotDefined("the derivative of a vector by a matrix is not a matrix")


def _binop(op: str, left: sp.Matrix, right: sp.Matrix) -> sp.Matrix:
    lscalar, rscalar = left.shape == (1, 1), right.shape == (1, 1)
    if op in ("add", "sub"):
        if left.shape != right.shape:
            if lscalar:
                left = sp.Matrix(right.rows, right.cols, lambda r, c: left[0])
            elif rscalar:
                right = sp.Matrix(left.rows, left.cols, lambda r, c: right[0])
            else:
                raise NotDefined(f"cannot add a {shape_text(left)} and a {shape_text(right)}")
        return left + right if op == "add" else left - right
    if op in ("mul", "hadamard", "matmul"):
        if lscalar or rscalar:
            return right * left[0] if lscalar else left * right[0]
        if op == "hadamard":
            if left.shape != right.shape:
                raise NotDefined(f"⊙ of a {shape_text(left)} and a {shape_text(right)}")
            return left.multiply_elementwise(right)
        if left.cols == right.rows:
            return left * right
        if op == "mul" and left.shape == right.shape and left.cols == 1:
            # Two column vectors written side by side: read as elementwise, like Ng's .*
            return left.multiply_elementwise(right)
        raise NotDefined(f"cannot multiply a {shape_text(left)} by a {shape_text(right)}")
    if op == "div":
        if rscalar:
            return left.applyfunc(lambda e: e / right[0])
        if left.shape == right.shape:
            return sp.Matrix(left.rows, left.cols, lambda r, c: left[r, c] / right[r, c])
        raise NotDefined(f"cannot divide a {shape_text(left)} by a {shape_text(right)}")
    if op == "pow":
        if not rscalar:
            raise NotDefined("a power with a vector exponent")
        exponent = right[0]
        for base in left:
            _check_power_size(base, exponent)
        return left.applyfunc(lambda e: e**exponent)
    raise VerifyError(f"unknown operation {op}")


_MAX_POWER_BITS = 20_000


def _check_power_size(base: sp.Expr, exponent: sp.Expr) -> None:
    """Refuse a power SymPy would compute exactly and that would be huge (2^(2^…) nests)."""
    if base.is_Number and exponent.is_Number and base != 0:
        magnitude = abs(sp.Rational(base)) if base.is_Rational else abs(base)
        bits = max(abs(sp.log(magnitude, 2)).evalf(15), 1) * abs(exponent)
        if bits > _MAX_POWER_BITS:
            raise VerifyError("a constant in the claim is too large to check")


def shape_text(m: sp.Matrix) -> str:
    """A matrix's shape as the report writes it (``scalar`` or ``rows×cols``)."""
    return "scalar" if m.shape == (1, 1) else f"{m.rows}×{m.cols}"


def index_range(node: Expr, index: str, ev: Evaluator) -> int:
    """How many values a unit index takes: the smallest dimension it is used for."""
    sizes: list[int] = []
    for sub in iter_nodes(node):
        if isinstance(sub, Name) and index in sub.sub:
            try:
                ref = ev.profile.resolve(sub)
                value = ev.quantity(replace(ref, indices=()))
            except (VerifyError, NotDefined, KeyError):
                continue
            pos = ref.indices.index(index)
            sizes.append(value.rows if pos == 0 else value.cols)
    if not sizes:
        raise VerifyError(f"cannot tell the range of the index {shown(index)}")
    return min(sizes)


def index_product(ranges: list[range]) -> Iterator[tuple[int, ...]]:
    """Every combination of values from ``ranges``, in order."""
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for rest in index_product(ranges[1:]):
            yield (head, *rest)
