"""Evaluating a claim's side on the small network: AST -> explicit SymPy matrices."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from symprop.core.errors import shown
from symprop.core.registry import ACTIVATIONS
from symprop.parsing import (
    BinOp,
    Call,
    Derivative,
    Expr,
    IndexSum,
    Indicator,
    Limit,
    Name,
    Neg,
    Norm,
    Number,
    Piecewise,
    Relation,
    Transpose,
    iter_nodes,
)
from symprop.verify.calls import Calls
from symprop.verify.cases import (
    Conditions,
    ShapeMismatch,
    bias_unit_product,
    cases_value,
    difference_quotient,
    indicator_value,
    relation_value,
)
from symprop.verify.errors import VerifyError
from symprop.verify.matrices import (
    NotDefined,
    _binop,
    _differentiate,
    shape_text,
)
from symprop.verify.matrices import index_product as index_product  # re-exported for check.py
from symprop.verify.notation import (
    _SIGMAS,
    LAYERED,
    OTHER_ROLES,
    SIZE_LETTERS,
    Profile,
    Ref,
    layer_side,
    offset,
    valid_layer,
)
from symprop.verify.setting import Deadline, Model


@dataclass
class Env:
    """Where a side is evaluated: the model, the numbering, layer variables and indices."""

    model: Model | None
    offsets: dict[str, int]
    layers: dict[str, int]  # claim-level value of each layer variable (incl. L)
    indices: dict[str, int] = field(default_factory=dict)
    overrides: dict[tuple[str, int], Any] = field(default_factory=dict)


def internal_layer(ref: Ref, env: Env) -> int:
    """The internal layer (input = 0) that a reference's label denotes under ``env``."""
    if env.model is None:
        raise VerifyError(
            f"{ref.role} is a network quantity: declare a network (spec, or activation and "
            "loss), or declare the name (a definition, a shape or a value)"
        )
    if ref.label is None:
        if env.model.L == 1:
            return 1  # one layer: an unlabelled z, a, w, b, δ can only mean it
        raise VerifyError(
            f"{ref.role} needs a layer label here (the network has {env.model.L} layers); "
            "write e.g. a^l, a^L or a^{(2)} (a^2 is a power)"
        )
    var, off = ref.label
    if var is not None and var not in env.layers:
        raise VerifyError(f"the layer variable {shown(var)} is not bound")
    claim = off if var is None else env.layers[var] + off
    return claim - offset(env.offsets, ref.role)


class Evaluator(Calls):
    """AST -> explicit SymPy matrices in the instance's symbols (1×1 for scalars).

    Network quantities come from the :class:`~symprop.verify.setting.Model`; a name with a
    definition evaluates to its body (function definitions applied to their arguments); a
    free name is a symbol (or a matrix of symbols of its declared shape), created once and
    listed in :attr:`free`; declared values are substituted once a side is evaluated (after
    any derivative, so ``∂/∂x`` of a name with a value differentiates first).
    """

    def __init__(self, profile: Profile, env: Env, deadline: Deadline) -> None:
        self.profile = profile
        self.env = env
        self.deadline = deadline
        self.bound: dict[str, sp.Matrix] = {}  # function parameters, a limit's variable
        self.exact = 0  # > 0 inside a derivative: values are substituted after it
        self.free: dict[str, sp.Matrix] = {}
        """The free symbols created so far, by name (the numeric stage draws them too)."""
        self._defining: list[str] = []
        self._def_fresh: dict[str, sp.Matrix] = {}
        self._values: dict[sp.Symbol, sp.Expr] | None = None

    # -- names
    def quantity(self, ref: Ref) -> sp.Matrix:
        env, model = self.env, self.env.model
        if model is None:
            raise VerifyError(
                f"{shown(ref.key or ref.role)} is a network quantity and the setting has no "
                "network: declare a spec (or an activation and a loss), or declare the name"
            )
        sample = self.sample_of(ref)
        inst = model.insts[sample]
        role = ref.role
        if role in LAYERED:
            m = internal_layer(ref, env)
            if not valid_layer(role if role != "D" else "W", m, model.L):
                raise NotDefined(f"{role} of layer {m} does not exist")
            if (role, m) in env.overrides and sample == 0:
                value = env.overrides[(role, m)]
            elif role == "z":
                value = inst.z[m]
            elif role == "a":
                value = inst.a[m]
            elif role in ("W", "b", "D") and m not in (inst.b if role == "b" else inst.W):
                kind = model.net.layers[m - 1].kind
                what = "bias" if role == "b" else "weight matrix"
                raise VerifyError(f"layer {m} is a {kind} layer: it has no {what} {role}")
            elif role == "W" and self._bishop_bias(ref):
                # Bishop's w_{j0}: the bias of unit j
                return self.entry(inst.b[m], replace(ref, indices=ref.indices[:1]))
            elif role == "W":
                value = inst.W[m]
                if self.profile.bias_column:
                    value = inst.b[m].row_join(value)
            elif role == "b":
                value = inst.b[m]
            elif role == "delta":
                value = model.delta(m, sample)
            elif role == "D":
                value = self.objective_gradient(m)
            else:  # Delta: the accumulated Σ_i δ^m(i) a^{m-1}(i)ᵀ over the batch
                value = None
                for s in range(model.batch):
                    row = model.insts[s].a[m - 1].T
                    if self.profile.bias_column:
                        row = sp.Matrix([[1]]).row_join(row)
                    term = model.delta(m, s) * row
                    value = term if value is None else value + term
        elif role == "x":
            value = inst.x
        elif role == "y":
            value = inst.y
        elif role == "yhat":
            value = inst.a[model.L]
            if sample == 0:
                value = env.overrides.get(("a", model.L), value)
        elif role == "C":
            value = sp.Matrix([[env.overrides.get(("C", 0), model.cost(sample))]])
        elif role == "J":
            value = sp.Matrix([[env.overrides.get(("J", 0), model.objective())]])
        elif role == "lambda":
            value = sp.Matrix([[model.lam]])
        elif role == "n":
            value = sp.Matrix([[sp.Integer(model.batch)]])
        else:
            raise VerifyError(f"{shown(ref.key or ref.role)} cannot be evaluated here")
        return self.entry(value, ref)

    def layer_index(self, ref: Ref) -> int:
        """The internal layer a reference denotes (see :func:`internal_layer`)."""
        return internal_layer(ref, self.env)

    def _bishop_bias(self, ref: Ref) -> bool:
        return (
            self.profile.notation == "bishop"
            and len(ref.indices) == 2
            and self.index(ref.indices[1]) == 0
        )

    def objective_gradient(self, layer: int) -> sp.Matrix:
        """``D^{(l)}``: ∂J/∂Θ by brute force (the bias column first under Ng's convention)."""
        model = self.env.model
        assert model is not None
        inst = model.insts[0]
        weights = inst.W[layer]
        if self.profile.bias_column:
            weights = inst.b[layer].row_join(weights)
        return _differentiate(sp.Matrix([[model.objective()]]), weights)

    def sample_of(self, ref: Ref) -> int:
        """The 0-based sample a reference names (its sample index, bound or the first)."""
        if ref.sample is None or not (ref.sample.isdigit() or ref.sample in self.env.indices):
            return 0
        model = self.env.model
        value = int(ref.sample) if ref.sample.isdigit() else self.env.indices[ref.sample]
        if model is None or not 1 <= value <= model.batch:
            raise NotDefined(f"sample {value} does not exist")
        return value - 1

    def entry(self, value: sp.Matrix, ref: Ref) -> sp.Matrix:
        if not ref.indices:
            return value
        idx = [self.index(i) for i in ref.indices]
        zero_based = self.profile.bias_column and ref.role in ("W", "Delta", "D")
        if value.cols == 1 and len(idx) == 1:
            row, col = idx[0], 1
            if row == 0 and self.profile.zero_based and ref.role == "a":
                return sp.Matrix([[1]])  # the bias unit: Ng's a_0 = 1, Bishop's z_0 = 1
        elif len(idx) == 2:
            row, col = idx
            if zero_based:
                col += 1  # column 0 is the bias
        else:
            raise VerifyError(
                f"{ref.role} takes {1 if value.cols == 1 else 2} unit index"
                f"{'' if value.cols == 1 else 'es'}, got {len(idx)}"
            )
        if row == 0 or col == 0:
            raise VerifyError(
                f"{shown(ref.key or ref.role)}: index 0; units are numbered from 1 (only Ng's "
                "notation and Bishop's have the bias unit 0)"
            )
        if not (1 <= row <= value.rows and 1 <= col <= value.cols):
            raise NotDefined(f"index out of range for {ref.role}")
        return sp.Matrix([[value[row - 1, col - 1]]])

    def index(self, item: str) -> int:
        if item.isdigit():
            return int(item)
        shifted = re.fullmatch(r"([A-Za-z])([+-]\d+)", item)
        if shifted:  # Θ_{i,j-1}
            return self.index(shifted.group(1)) + int(shifted.group(2))
        if item not in self.env.indices:
            raise VerifyError(f"unit index {shown(item)} is not bound")
        return self.env.indices[item]

    def name(self, node: Name) -> sp.Matrix:
        """The value of a name: a parameter, a definition, a free symbol, an index, a
        Kronecker delta, a size or a network quantity."""
        key = node.key
        if key in self.bound:
            return self.bound[key]
        if (
            key in self.env.indices
            and not (node.sub or node.sup or node.primes or node.decorations)
            and key not in self.profile.definitions
            and key not in self.profile.shapes
        ):
            # a unit index used as a value: 1_{k=i}, j ≠ 0
            return sp.Matrix([[sp.Integer(self.env.indices[key])]])
        if node.sub and not node.sup and node.base in self.bound:
            # y_k in a loss formula: an entry of a bound vector
            vector = self.bound[node.base]
            return self.entry(vector, Ref("bound", None, tuple(node.sub), key=key))
        ref = self.profile.resolve(node)
        if ref.role == "constant":
            return sp.Matrix([[sp.pi if key == "pi" else sp.E]])
        if ref.role == "kronecker":
            i, j = (self.index(item) for item in ref.indices)
            return sp.Matrix([[sp.Integer(1 if i == j else 0)]])
        if ref.role == "defined":
            return self.defined(key)
        if ref.role == "free":
            return self.free_symbol(node)
        if ref.role == "entry":
            return self.entry(self.whole(ref), ref)
        if ref.role == "index":
            return sp.Matrix([[sp.Integer(self.index(ref.indices[0]))]])
        if ref.role == "size":
            return sp.Matrix([[sp.Integer(self.size(ref))]])
        return self.quantity(ref)

    def whole(self, ref: Ref) -> sp.Matrix:
        """The declared or defined vector/matrix an ``entry`` reference indexes."""
        if ref.key in self.profile.definitions:
            return self.defined(ref.key)
        return self.free_symbol(Name(ref.key))

    def defined(self, key: str) -> sp.Matrix:
        if key in self._def_fresh:
            return self._def_fresh[key]
        if key in self._defining:
            chain = " -> ".join([*self._defining, key])
            raise VerifyError(f"the definitions refer to themselves: {shown(chain)}")
        definition = self.profile.definitions[key]
        self._defining.append(key)
        try:
            return self(definition.body)
        finally:
            self._defining.pop()

    def free_symbol(self, node: Name) -> sp.Matrix:
        key = node.key
        if key not in self.free:
            shape = self.profile.shapes.get(key, ())
            if len(shape) == 0 or shape in ((1,), (1, 1)):
                self.free[key] = sp.Matrix([[sp.Symbol(key, real=True)]])
            else:
                rows, cols = (shape[0], 1) if len(shape) == 1 else (shape[0], shape[1])
                self.free[key] = sp.Matrix(
                    rows,
                    cols,
                    lambda r, c: sp.Symbol(
                        f"{key}[{r + 1}]" if cols == 1 else f"{key}[{r + 1},{c + 1}]", real=True
                    ),
                )
        return self.free[key]

    def values(self) -> dict[sp.Symbol, sp.Expr]:
        """Declared values, per symbol they replace (free symbols and network parameters)."""
        if self._values is not None:
            return self._values
        out: dict[sp.Symbol, sp.Expr] = {}
        for value in self.profile.values:
            ref = self.profile.resolve(value.name)
            if ref.role == "n":
                continue  # a size (m = 3) bounds sums; the batch itself is the model's
            if ref.role == "free":
                target = self.free_symbol(value.name)
            elif ref.role in ("x", "y", "W", "b", "lambda") or (
                ref.role == "a" and self.env.model is not None and not _derived(ref, self.env)
            ):
                target = self.quantity(ref)
            else:
                raise VerifyError(
                    f"value of {shown(value.name.key)}: it is computed from the others; give "
                    "values to inputs, targets, weights, biases, λ and free symbols"
                )
            if len(value.entries) != len(target) or not all(
                isinstance(s, sp.Symbol) for s in target
            ):
                raise VerifyError(
                    f"value of {shown(value.name.key)}: {len(value.entries)} entries for a "
                    f"{shape_text(target)} quantity"
                )
            for symbol, number in zip(target, value.entries, strict=True):
                out[symbol] = sp.Rational(number.numerator, number.denominator)
        self._values = out
        return out

    def with_values(self, value: sp.Matrix) -> sp.Matrix:
        values = self.values() if self.profile.values else {}
        return value.xreplace(values) if values else value

    def size(self, ref: Ref) -> int:
        model = self.env.model
        if model is None:
            raise VerifyError(f"{shown(ref.key)} is a size of the network; the setting has none")
        what = ref.indices[0]
        if what == "batch":
            return model.batch
        if what == "output":
            return model.insts[0].a[model.L].rows
        layer = internal_layer(Ref("a", ref.label, ()), self.env)
        if not 0 <= layer <= model.L:
            raise NotDefined(f"layer {layer} does not exist")
        return model.insts[0].a[layer].rows

    # -- the tree
    def __call__(self, node: Expr) -> sp.Matrix:
        self.deadline.check()
        if isinstance(node, Number):
            return sp.Matrix([[sp.Rational(node.value.numerator, node.value.denominator)]])
        if isinstance(node, Name):
            value = self.name(node)
            return self.with_values(value) if self.exact == 0 else value
        if isinstance(node, Neg):
            return -self(node.operand)
        if isinstance(node, Transpose):
            return self(node.operand).T
        if isinstance(node, Norm):
            inner = self(node.operand)
            return sp.Matrix([[sp.sqrt(sum((e**2 for e in inner), sp.S.Zero))]])
        if isinstance(node, BinOp):
            return self.binop(node)
        if isinstance(node, IndexSum):
            return self.index_sum(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Derivative):
            return self.derivative(node)
        if isinstance(node, Piecewise):
            try:
                return cases_value(
                    [
                        (self(value), None if cond is None else self.relation(cond))
                        for value, cond in node.cases
                    ]
                )
            except ShapeMismatch as exc:
                raise NotDefined(f"cases of shapes {exc}") from None
        if isinstance(node, Indicator):
            return indicator_value(self.relation(node.condition))
        if isinstance(node, Limit):
            return self.limit(node)
        if isinstance(node, Relation):
            raise VerifyError("a condition (z > 0) is only checked inside cases or 𝟙[…]")
        raise VerifyError(f"cannot check a {type(node).__name__} here")

    def relation(self, node: Relation) -> Conditions:
        left, right = (layer_side(side, self.env.layers) for side in (node.left, node.right))
        if left is not None and right is not None:  # \text{if } \ell = L: layer variables
            return relation_value(node.op, sp.Matrix([[left]]), sp.Matrix([[right]]))
        try:
            return relation_value(node.op, self(node.left), self(node.right))
        except ShapeMismatch as exc:
            raise NotDefined(f"a condition on shapes {exc}") from None

    def binop(self, node: BinOp) -> sp.Matrix:
        if (
            node.op == "mul"
            and isinstance(node.left, Name)
            and self._role_of(node.left) == "yhat"
            and node.left.base == "h"
            and self.profile.notation == "ng"
        ):
            return self(node.left)  # Ng's h_Θ(x) read as h_Θ times x: the network's output
        left, right = self(node.left), self(node.right)
        drop = False
        if self.profile.bias_column and node.op in ("mul", "matmul"):
            left, right, drop = bias_unit_product(
                left,
                right,
                theta_left=self._role_of(node.left) == "W",
                theta_transposed_left=isinstance(node.left, Transpose)
                and self._role_of(node.left.operand) == "W",
                activation_row_right=isinstance(node.right, Transpose)
                and self._role_of(node.right.operand) == "a",
            )
        result = _binop(node.op, left, right)
        return result[1:, :] if drop else result

    def _role_of(self, node: Expr) -> str | None:
        if not isinstance(node, Name):
            return None
        try:
            return self.profile.resolve(node).role
        except VerifyError:
            return None

    def limit(self, node: Limit) -> sp.Matrix:
        body = node.body
        to_zero = isinstance(node.to, Number) and node.to.value == 0
        if not (to_zero and isinstance(body, BinOp) and body.op == "div"):
            raise VerifyError(
                "\\lim is read only as a derivative's definition, lim_{h→0} (f(x+h) − f(x))/h"
            )
        scale = _quotient_scale(body.right, node.var)
        if scale is None:
            raise VerifyError(
                f"\\lim: the denominator must be {shown(node.var.key)} (or a number times it), "
                "as in a derivative's definition"
            )
        var = sp.Dummy(node.var.key, real=True)
        key = node.var.key
        saved = self.bound.get(key)
        self.bound[key] = sp.Matrix([[var]])
        self.exact += 1
        try:
            numerator = self(body.left)
        finally:
            self.exact -= 1
            if saved is None:
                del self.bound[key]
            else:
                self.bound[key] = saved
        result = difference_quotient(numerator, var, scale)
        return self.with_values(result) if self.exact == 0 else result

    def index_sum(self, node: IndexSum) -> sp.Matrix:
        if node.index in self.env.indices:
            raise VerifyError(f"index {shown(node.index)} is summed over but already bound")
        if node.lower is None and node.upper is None:
            values = range(1, index_range(node.body, node.index, self) + 1)
        else:
            natural = (
                index_values(node.body, node.index, self)
                if node.lower is None or node.upper is None
                else None
            )
            lower = natural.start if natural and node.lower is None else None
            upper = natural.stop - 1 if natural and node.upper is None else None
            lower = self.limit_value(node.lower) if node.lower is not None else lower
            upper = self.limit_value(node.upper) if node.upper is not None else upper
            self.check_batch_limit(node)
            assert lower is not None and upper is not None
            if lower == 0 and not self.profile.zero_based:
                raise VerifyError(
                    f"the sum over {shown(node.index)} starts at 0; units are numbered from 1 "
                    "(only Ng's notation and Bishop's have the bias unit 0)"
                )
            if upper - lower > 10_000:
                raise VerifyError(f"the sum over {shown(node.index)} has too many terms")
            values = range(lower, upper + 1)
        total: sp.Matrix | None = None
        for value in values:
            self.env.indices[node.index] = value
            try:
                term = self(node.body)
            finally:
                del self.env.indices[node.index]
            total = term if total is None else _binop("add", total, term)
        return total if total is not None else sp.Matrix([[0]])

    def check_batch_limit(self, node: IndexSum) -> None:
        """A batch size bounds a sum over samples only: Σ_{k=1}^{m} (y_k − a_k)² sums units,
        so there m is not the batch size (seed 000 writes it for the output width)."""
        for limit in (node.lower, node.upper):
            if not isinstance(limit, Name) or limit.key in self.profile.valued:
                continue
            ref = self.profile.size(limit)
            if ref is None or ref.indices != ("batch",):
                continue
            for sub in iter_nodes(node.body):
                if not isinstance(sub, Name):
                    continue
                try:
                    used = self.profile.resolve(sub)
                except VerifyError:
                    continue
                if node.index in used.indices:
                    raise VerifyError(
                        f"the sum over the units {shown(node.index)} runs to "
                        f"{shown(limit.key)}, the batch size in this notation; write the "
                        "layer's width (n_L) or give the size a value"
                    )

    def limit_value(self, node: Expr) -> int:
        """A sum's limit: an integer, a size (``n_l``, ``m``, ``K``) or a sum/difference."""
        if isinstance(node, Number):
            if node.value.denominator != 1:
                raise VerifyError("a sum's limit must be an integer")
            return int(node.value)
        if isinstance(node, BinOp) and node.op in ("add", "sub"):
            left, right = self.limit_value(node.left), self.limit_value(node.right)
            return left + right if node.op == "add" else left - right
        if isinstance(node, Name):
            if node.key in self.env.indices:
                return self.env.indices[node.key]
            given = [v for v in self.profile.values if v.name.key == node.key]
            if given:  # a size the setting gives: [values] m = 3
                entries = given[0].entries
                if len(entries) != 1 or entries[0].denominator != 1:
                    raise VerifyError(f"the sum's limit {shown(node.key)} must be an integer")
                return int(entries[0])
            ref = self.profile.size(node)
            if ref is not None:
                return self.size(ref)
        written = node.key if isinstance(node, Name) else type(node).__name__
        batch, width, output = SIZE_LETTERS[self.profile.notation]
        raise VerifyError(
            f"cannot tell what the sum's limit {shown(written)} is; in "
            f"{self.profile.notation}'s notation the batch size is "
            f"{' or '.join(sorted(batch))}, a layer's width "
            f"{' or '.join(sorted(width))} with the layer (n_l)"
            + (f", the output width {' or '.join(sorted(output))}" if output else "")
        )

    def derivative(self, node: Derivative) -> sp.Matrix:
        if not isinstance(node.den, Name):
            raise VerifyError("differentiate with respect to a named quantity")
        if node.den.key in self.bound:
            raise VerifyError(
                f"cannot differentiate with respect to the parameter {shown(node.den.key)}"
            )
        ref = self.profile.resolve(node.den)
        num = _function_named(node.num, self.profile)
        if num is not None:
            # dσ/dz, df/dx: the named function of the variable differentiated by
            node = replace(node, num=Call(num, (node.den,)))
        self.exact += 1
        try:
            if ref.role == "defined":
                result = self.defined_derivative(node, ref.key)
            elif ref.role == "entry" and ref.key in self.profile.definitions:
                result = self.defined_derivative(node, ref.key, ref)
            elif ref.role == "entry":
                whole = self.free_symbol(Name(ref.key))
                result = _differentiate(self(node.num), self.entry(whole, ref))
            elif ref.role == "free":
                result = _differentiate(self(node.num), self.free_symbol(node.den))
            else:
                result = self.network_derivative(node, ref)
        finally:
            self.exact -= 1
        return self.with_values(result) if self.exact == 0 else result

    def defined_derivative(self, node: Derivative, key: str, entry: Ref | None = None) -> sp.Matrix:
        """∂(…)/∂u (or ∂(…)/∂u_i) for a defined u: u is held as fresh symbols while the
        numerator is evaluated (as z is for δ), then replaced by its body."""
        body = self.defined(key)
        fresh = sp.Matrix(body.rows, body.cols, lambda r, c: sp.Dummy(f"{key}{r}{c}", real=True))
        self._def_fresh[key] = fresh
        try:
            num = self(node.num)
            den = self.entry(fresh, entry) if entry is not None else fresh
        finally:
            del self._def_fresh[key]
        # The graph reading: where u's body occurs in the numerator (f = ‖W x‖² with
        # m = W x), that node is u, as in a computational graph; ∂f/∂m differentiates it.
        nodes = {b: f for b, f in zip(body, fresh, strict=True) if not b.is_Atom}
        if nodes:
            num = num.xreplace(nodes)
        return _differentiate(num, den).xreplace(dict(zip(fresh, body, strict=True)))

    def network_derivative(self, node: Derivative, ref: Ref) -> sp.Matrix:
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
            if env.model is None:
                self.quantity(ref)  # the one-line refusal: no network
            assert env.model is not None
            if ref.role == "a" and ref.label is None and node.gradient and env.model.L > 1:
                ref = Ref("yhat", None, ref.indices)  # Nielsen's ∇_a C: the output's a^L
            if ref.role == "yhat":
                ref = Ref("a", None, ref.indices)
                layer = env.model.L
            else:
                layer = internal_layer(ref, env)
            role = ref.role
            if not valid_layer(role, layer, env.model.L):
                raise NotDefined(f"{role} of layer {layer} does not exist")
            if self.sample_of(ref) != 0:
                raise VerifyError("derivatives are taken with respect to the first sample's values")
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


def _function_named(node: Expr, profile: Profile) -> Name | None:
    """The numerator of ``dσ/dz``: a bare name that is a function here (an activation, σ/φ
    with no quantity of that letter, a defined function), else None."""
    if not isinstance(node, Name) or node.sub or node.sup or node.primes:
        return None
    if profile.is_function(node):
        return node
    if node.base in ACTIVATIONS or node.base in _SIGMAS:
        return node
    return None


def _derived(ref: Ref, env: Env) -> bool:
    """Whether an ``a`` is computed (every layer but the input, a^0 = x)."""
    try:
        return internal_layer(ref, env) != 0
    except VerifyError:
        return True


def _quotient_scale(den: Expr, var: Name) -> sp.Expr | None:
    """``h`` -> 1, ``2h`` -> 2: the constant times the limit's variable in a denominator."""
    if isinstance(den, Name) and den.key == var.key:
        return sp.S.One
    if isinstance(den, BinOp) and den.op in ("mul", "hadamard"):
        for number, other in ((den.left, den.right), (den.right, den.left)):
            if isinstance(number, Number) and isinstance(other, Name) and other.key == var.key:
                return sp.Rational(number.value.numerator, number.value.denominator)
    return None


def index_values(node: Expr, index: str, ev: Evaluator) -> range:
    """The values a unit index takes: those valid wherever it is used (units from 1; under
    Ng's convention, 0 too where it is a Θ/Δ/D column or an activation's bias unit)."""
    lowers: list[int] = []
    uppers: list[int] = []
    for sub in iter_nodes(node):
        if not isinstance(sub, Name) or not (sub.sub or sub.sup):
            continue
        if sub.base in ev.bound and not sub.sup:
            if index in sub.sub:
                lowers.append(1)
                uppers.append(ev.bound[sub.base].rows)
            continue
        try:
            ref = ev.profile.resolve(sub)
            if ref.sample == index and ev.env.model is not None:
                lowers.append(1)  # a sample index ranges over the batch
                uppers.append(ev.env.model.batch)
                continue
            if index not in ref.indices or (ref.role in OTHER_ROLES and ref.role != "entry"):
                continue
            if ref.role == "entry":
                value = ev.whole(ref)
            else:
                value = ev.quantity(replace(ref, indices=()))
        except (VerifyError, NotDefined, KeyError):
            continue
        pos = ref.indices.index(index)
        bias = ev.profile.bias_column
        zero = ev.profile.zero_based
        if value.cols == 1 and len(ref.indices) == 1:
            output = (
                ev.env.model is not None
                and value.rows == ev.env.model.insts[0].a[ev.env.model.L].rows
                and ref.role == "a"
                and _is_output(ref, ev.env)
            )
            lowers.append(0 if zero and ref.role == "a" and not output else 1)
            uppers.append(value.rows)
        elif pos == 0:
            lowers.append(1)
            uppers.append(value.rows)
        elif bias and ref.role in ("W", "Delta", "D"):
            lowers.append(0)
            uppers.append(value.cols - 1)
        elif zero and ref.role == "W":
            lowers.append(0)  # Bishop's w_{j0}
            uppers.append(value.cols)
        else:
            lowers.append(1)
            uppers.append(value.cols)
    if not uppers:
        raise VerifyError(f"cannot tell the range of the index {shown(index)}")
    return range(max(lowers), min(uppers) + 1)


def _is_output(ref: Ref, env: Env) -> bool:
    try:
        return env.model is not None and internal_layer(ref, env) == env.model.L
    except VerifyError:
        return False


def index_range(node: Expr, index: str, ev: Evaluator) -> int:
    """How many values a unit index takes from 1 (the largest value it may take); see
    :func:`index_values` for the values including Ng's 0."""
    return index_values(node, index, ev).stop - 1
