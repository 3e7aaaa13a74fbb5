"""Reverse-mode differentiation at one numeric point: the brute-force reference of large
networks.

A network with thousands of weights cannot be differentiated symbolically (``sympy.diff``
of its nested cost blows up with width and depth). At one exact point it does not need to
be: every value is a number, and the derivative of the cost with respect to any quantity
(``δ^l = ∂C/∂z^l``, ``∂C/∂W^l``) is the adjoint of that quantity's node in one reverse sweep
of the recorded computation.

What is recorded is the registry's own definitions, never a backprop formula: each layer is
its kind's forward expression (:mod:`symprop.core.layers`, sums and intermediates included),
each activation and loss the registry's SymPy definition. A node's local partial derivatives
come from ``sympy.diff`` of the node's own function (``exp``, ``Pow``, ``log``, ``tanh``…),
cached per function and evaluated by the proof engine's guarded evaluator
(:func:`symprop.core.proof.evaluate`: NaN for undefined values, :class:`~symprop.core.proof.Kink`
near a kink). Sums and products, by far the most numerous nodes, are recorded directly
(their partials are 1 and the product of the other factors). A piecewise definition records
the branch active at the point (raising :class:`~symprop.core.proof.Kink` when a condition is
within the margin of switching), which has the same derivatives there.

Values are mpmath reals at :data:`DIGITS` significant digits.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import mpmath
import sympy as sp

from symprop.core import proof
from symprop.core.layer_proof import entries
from symprop.core.layers import LayerKind
from symprop.verify.errors import VerifyError

DIGITS = 60
"""Significant digits of every value on a tape (the comparison's tolerance is 1e-25)."""
MAX_NODES = 2_000_000
"""Most nodes one tape records (a bound on memory: about 200 bytes a node)."""
_MARGIN = mpmath.mpf("1e-20")


@functools.cache
def _template(
    func: type, constants: tuple[sp.Basic | None, ...]
) -> tuple[sp.Expr, tuple[sp.Dummy, ...], tuple[sp.Expr, ...]]:
    """``func`` applied to dummies where an argument varies (``None``), to the constant
    otherwise; with its partial derivatives by ``sympy.diff``."""
    dummies = tuple(sp.Dummy(f"u{i}", real=True) for i, c in enumerate(constants) if c is None)
    it = iter(dummies)
    args = [next(it) if c is None else c for c in constants]
    expr = func(*args)
    return expr, dummies, tuple(sp.diff(expr, d) for d in dummies)


class Tape:
    """A recorded computation: per node its value, its parents and the partials to them."""

    def __init__(self) -> None:
        self.values: list[mpmath.mpf] = []
        self.parents: list[tuple[int, ...]] = []
        self.partials: list[tuple[mpmath.mpf, ...]] = []
        self._consts: dict[sp.Basic, int] = {}

    def __len__(self) -> int:
        return len(self.values)

    def _push(self, value: mpmath.mpf, parents: tuple[int, ...], partials: tuple) -> int:
        if len(self.values) >= MAX_NODES:
            raise VerifyError(
                f"the network is too large to check: more than {MAX_NODES} values per point"
            )
        self.values.append(value)
        self.parents.append(parents)
        self.partials.append(partials)
        return len(self.values) - 1

    def leaf(self, value: sp.Expr | mpmath.mpf) -> int:
        """A new input node (a weight, an input, a target): its adjoint is a derivative."""
        return self._push(proof.to_real(value), (), ())

    def const(self, value: sp.Expr) -> int:
        """A constant of a definition (shared, never differentiated with respect to)."""
        if value not in self._consts:
            self._consts[value] = self._push(proof.to_real(value), (), ())
        return self._consts[value]

    def add(self, ids: Sequence[int]) -> int:
        if len(ids) == 1:
            return ids[0]
        one = mpmath.mpf(1)
        return self._push(mpmath.fsum(self.values[i] for i in ids), tuple(ids), (one,) * len(ids))

    def mul(self, ids: Sequence[int]) -> int:
        if len(ids) == 1:
            return ids[0]
        vals = [self.values[i] for i in ids]
        if len(ids) == 2:
            return self._push(vals[0] * vals[1], tuple(ids), (vals[1], vals[0]))
        # Partials: the product of the other factors (prefix and suffix products, no division).
        prefix = [mpmath.mpf(1)]
        for v in vals[:-1]:
            prefix.append(prefix[-1] * v)
        suffix = mpmath.mpf(1)
        partials = [mpmath.mpf(0)] * len(vals)
        for k in range(len(vals) - 1, -1, -1):
            partials[k] = prefix[k] * suffix
            suffix *= vals[k]
        return self._push(suffix, tuple(ids), tuple(partials))

    def dot(self, pairs: Sequence[Sequence[int]]) -> int:
        """``Σ_k u_k v_k`` as one node (a dense layer's row): the partial of each factor is
        the other factor, as for the products and sum it stands for."""
        values = self.values
        us = [values[u] for u, _ in pairs]
        vs = [values[v] for _, v in pairs]
        parents = tuple(i for pair in pairs for i in pair)
        partials = tuple(x for pair in zip(vs, us, strict=True) for x in pair)
        return self._push(mpmath.fdot(us, vs), parents, partials)

    def apply(self, expr: sp.Expr, children: Sequence[int | None]) -> int:
        """A node of ``expr``'s function: ``children`` are the traced arguments (``None``
        for a constant argument, which stays in the function)."""
        constants = tuple(
            None if c is not None else a for a, c in zip(expr.args, children, strict=True)
        )
        template, dummies, partials = _template(expr.func, constants)
        ids = tuple(c for c in children if c is not None)
        point = {d: self.values[i] for d, i in zip(dummies, ids, strict=True)}
        memo: dict = {}
        value = proof.evaluate(template, point, memo, _MARGIN)
        return self._push(
            value, ids, tuple(proof.evaluate(p, point, memo, _MARGIN) for p in partials)
        )

    def gradient(self, output: int) -> list[mpmath.mpf]:
        """Adjoints of every node with respect to ``output``: one reverse sweep."""
        with proof.working_precision(DIGITS):
            adj = [mpmath.mpf(0)] * (output + 1)
            adj[output] = mpmath.mpf(1)
            for node in range(output, -1, -1):
                a = adj[node]
                if not a:
                    continue
                for parent, partial in zip(self.parents[node], self.partials[node], strict=True):
                    adj[parent] += a * partial
        return adj

    # -- tracing SymPy expressions

    def trace(self, expr: sp.Basic, leaves: Mapping[sp.Basic, int], memo: dict) -> int:
        """Record ``expr`` with ``leaves`` (symbols or array entries) bound to nodes."""
        if expr in leaves:
            return leaves[expr]
        if expr in memo:
            return memo[expr]
        if expr.is_Number or expr.is_NumberSymbol:
            out = self.const(expr)
        elif isinstance(expr, sp.Add | sp.Mul):
            kids = [self.trace(a, leaves, memo) for a in expr.args]
            out = self.add(kids) if isinstance(expr, sp.Add) else self.mul(kids)
        elif isinstance(expr, sp.Piecewise):
            out = self.trace(self.branch(expr, leaves, memo), leaves, memo)
        elif isinstance(expr, sp.Symbol | sp.Indexed):
            raise VerifyError(f"no value for {expr} at this point")
        else:
            kids = [None if not a.free_symbols else self.trace(a, leaves, memo) for a in expr.args]
            out = self.apply(expr, kids)
        memo[expr] = out
        return out

    def branch(self, expr: sp.Piecewise, leaves: Mapping[sp.Basic, int], memo: dict) -> sp.Expr:
        """The branch of a piecewise definition active at the point."""
        for value, cond in expr.args:
            if self.holds(cond, leaves, memo):
                return value
        raise VerifyError("a piecewise definition has no branch at this point")

    def holds(self, cond: sp.Basic, leaves: Mapping[sp.Basic, int], memo: dict) -> bool:
        if cond in (sp.S.true, True):
            return True
        if cond in (sp.S.false, False):
            return False
        if isinstance(cond, sp.And | sp.Or):
            vals = [self.holds(c, leaves, memo) for c in cond.args]
            return all(vals) if isinstance(cond, sp.And) else any(vals)
        if isinstance(cond, sp.Not):
            return not self.holds(cond.args[0], leaves, memo)
        if isinstance(cond, sp.Rel):
            lhs = self.values[self.trace(cond.lhs, leaves, memo)]
            rhs = self.values[self.trace(cond.rhs, leaves, memo)]
            if abs(lhs - rhs) < _MARGIN:
                raise proof.Kink
            return bool(
                {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs}.get(
                    cond.rel_op, lhs == rhs
                )
            )
        raise VerifyError(f"cannot decide the condition {cond} at this point")

    # -- a layer kind at concrete sizes

    def layer(
        self,
        kind: LayerKind,
        sizes: Mapping[sp.Symbol, int],
        constants: Mapping[sp.Symbol, sp.Expr],
        arrays: Mapping[str, Mapping[tuple[int, ...], int]],
    ) -> list[int]:
        """The output entries (row-major) of ``kind``'s forward definition, read with its
        sums and intermediates at ``sizes``; ``arrays`` binds each input and parameter
        array's entries (1-based index tuples) to nodes."""
        intermediates = {v.operand.name: v for v in kind.intermediates}
        scalars = {v.operand.scalar: v for v in kind.intermediates if not v.operand.shape}
        done: dict[tuple[str, tuple[int, ...]], int] = {}
        bound = {**{k: sp.Integer(v) for k, v in sizes.items()}, **constants}

        def index(i: sp.Expr, env: dict[sp.Symbol, sp.Integer]) -> int:
            if i in env:
                return int(env[i])
            return int(i.xreplace(env).xreplace(bound))

        def intermediate(name: str, ix: tuple[int, ...]) -> int:
            if (name, ix) not in done:
                done[(name, ix)] = node(intermediates[name].at(*ix), {})
            return done[(name, ix)]

        def node(e: sp.Basic, env: dict[sp.Symbol, sp.Integer]) -> int:
            if isinstance(e, sp.Indexed):
                name = e.base.label.name
                ix = tuple(index(i, env) for i in e.indices)
                if name in intermediates:
                    return intermediate(name, ix)
                try:
                    return arrays[name][ix]
                except KeyError:
                    raise VerifyError(f"{name}{list(ix)} is outside the layer") from None
            if isinstance(e, sp.Symbol):
                if e in env:
                    return self.const(env[e])
                if e in scalars:
                    return intermediate(scalars[e].operand.name, ())
                if e in bound:
                    return self.const(bound[e])
                raise VerifyError(f"no value for {e} in a {kind.name} layer")
            if e.is_Number:
                return self.const(e)
            if isinstance(e, sp.Sum):
                return summed(e.function, list(e.limits), env)
            if isinstance(e, sp.Add | sp.Mul):
                kids = [node(a, env) for a in e.args]
                return self.add(kids) if isinstance(e, sp.Add) else self.mul(kids)
            kids = [node(a, env) if _varies(a) else None for a in e.args]
            return self.apply(e, kids)

        plans: dict[sp.Expr, list[tuple[str, tuple[sp.Basic, ...]]] | None] = {}

        def plan(body: sp.Expr) -> list[tuple[str, tuple[sp.Basic, ...]]] | None:
            """A product of array entries indexed by plain symbols (a dense layer's
            ``W[j, k] x[k]``): its arrays and index symbols, read once for every term."""
            if body not in plans:
                factors = body.args if isinstance(body, sp.Mul) else (body,)
                ok = all(
                    isinstance(f, sp.Indexed)
                    and f.base.label.name in arrays
                    and all(isinstance(i, sp.Symbol) for i in f.indices)
                    for f in factors
                )
                plans[body] = (
                    [(f.base.label.name, tuple(f.indices)) for f in factors] if ok else None
                )
            return plans[body]

        def summed(body: sp.Expr, limits: list, env: dict[sp.Symbol, sp.Integer]) -> int:
            var, lo, hi = limits[0]
            fast = plan(body) if len(limits) == 1 else None
            if fast is not None:
                ints = {k: int(v) for k, v in env.items()}
                factors = []
                for k in range(index(lo, env), index(hi, env) + 1):
                    ints[var] = k
                    try:
                        factors.append([arrays[n][tuple(ints[i] for i in ix)] for n, ix in fast])
                    except KeyError:
                        raise VerifyError(
                            f"an entry of {fast[0][0]} is outside the layer"
                        ) from None
                if factors and len(fast) == 2:
                    return self.dot(factors)
                products = [self.mul(ids) for ids in factors]
                return self.add(products) if products else self.const(sp.S.Zero)
            terms = []
            for k in range(index(lo, env), index(hi, env) + 1):
                inner = {**env, var: sp.Integer(k)}
                terms.append(
                    node(body, inner) if len(limits) == 1 else summed(body, limits[1:], inner)
                )
            return self.add(terms) if terms else self.const(sp.S.Zero)

        out = []
        for ix in entries(kind.output, dict(sizes)):
            env = dict(zip(kind.output_indices, (sp.Integer(i) for i in ix), strict=True))
            out.append(node(kind.forward, env))
        return out


def _varies(e: sp.Basic) -> bool:
    """Whether a sub-expression of a layer definition reads an array or a size."""
    return bool(e.free_symbols) or e.has(sp.Indexed)


def to_float(value: mpmath.mpf) -> sp.Float:
    """A tape value as a SymPy real at the tape's precision (NaN stays NaN)."""
    if mpmath.isnan(value):
        return sp.nan
    return sp.Float(value, DIGITS)
