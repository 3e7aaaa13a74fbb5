"""Proof of layer-kind rewrites against brute force, at concrete sizes and exact points.

The reference is the derivative of a kind's forward definition written out entry by entry at
concrete sizes, every intermediate inlined: no index calculus, no named intermediates, no
rewrite. It is taken in forward mode at the exact point, primitive by primitive through the
written-out expression (sum, product and power rules; any other function by ``sympy.diff``
of that function alone), which equals ``sympy.diff`` of the whole written-out cost at the
point but never builds a symbolic derivative. A candidate gradient (any index-form
expression in the kind's arrays, named intermediates allowed) is evaluated at the same point
by walking its index form (sums over their integer ranges, entries looked up), and accepted
only when every entry equals the reference exactly, at every size case (a batch of 3 for
batch-coupled kinds).
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy as sp

from symprop.core.layers import LayerKind, Operand


@dataclass(frozen=True)
class Proof:
    """The record of one rewrite's proof against the brute-force reference.

    Attributes
    ----------
    rule
        Name of the rule that proposed the rewrite.
    sizes
        The concrete sizes it was checked at, one tuple of ``(size, value)`` per case.
    points
        Exact rational points per case.
    entries
        Entries compared in all (every entry of the gradient, at every point and size).
    accepted
        Whether every comparison was exactly equal.
    """

    rule: str
    sizes: tuple[tuple[tuple[str, int], ...], ...]
    points: int
    entries: int
    accepted: bool


@dataclass(frozen=True)
class Case:
    """One concrete instance: sizes, exact values of every entry, and reference gradients.

    ``values`` holds every array entry (``x[1, 2]``), hyper-parameter and intermediate entry
    (μ, σ at this point); ``table`` is the same entries keyed by ``(array name, integer
    indices)`` for the evaluator (a kind's arrays have distinct names), built from ``values``.
    """

    sizes: dict[sp.Symbol, int]
    values: dict[sp.Expr, sp.Expr]
    reference: dict[tuple[int, ...], sp.Expr]
    table: dict[tuple[str, tuple[int, ...]], sp.Expr] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Key the array entries by array name and integer indices."""
        if not self.table:
            table = {}
            for key, val in self.values.items():
                if isinstance(key, sp.Indexed):
                    table[(key.base.label.name, tuple(int(i) for i in key.indices))] = val
            self.table.update(table)


def entries(op: Operand, sizes: dict[sp.Symbol, int]) -> list[tuple[int, ...]]:
    """Every index tuple of ``op`` at concrete sizes (1-based)."""
    return list(itertools.product(*(range(1, sizes[s] + 1) for s in op.shape)))


def _write_out(s: sp.Sum) -> sp.Expr:
    """A sum with integer bounds as the explicit sum of its terms (no symbolic summation)."""
    body = s.function
    for var, lo, hi in s.limits:
        body = sp.Add(*(body.xreplace({var: sp.Integer(k)}) for k in range(int(lo), int(hi) + 1)))
    return body


def written_out(expr: sp.Expr, sizes: dict[sp.Symbol, int]) -> sp.Expr:
    """``expr`` at concrete sizes with every sum written out term by term."""
    return expr.xreplace(sizes).replace(lambda e: isinstance(e, sp.Sum), _write_out)


@functools.cache
def concrete_intermediates(
    kind: LayerKind, sizes: tuple[tuple[sp.Symbol, int], ...]
) -> dict[sp.Expr, sp.Expr]:
    """Every entry of every intermediate at concrete sizes, written out in the inputs."""
    size_map = dict(sizes)
    table: dict[sp.Expr, sp.Expr] = {}
    for v in kind.intermediates:
        for ix in entries(v.operand, size_map):
            table[v.operand(*ix)] = written_out(v.at(*ix), size_map).xreplace(table)
    return table


def size_key(sizes: dict[sp.Symbol, int]) -> tuple[tuple[sp.Symbol, int], ...]:
    """Concrete sizes as a hashable, ordered key."""
    return tuple(sorted(sizes.items(), key=lambda t: str(t[0])))


def instantiate(expr: sp.Expr, kind: LayerKind, sizes: dict[sp.Symbol, int]) -> sp.Expr:
    """``expr`` at concrete sizes, with every sum and every intermediate written out."""
    return written_out(expr, sizes).xreplace(concrete_intermediates(kind, size_key(sizes)))


def at_point(expr: sp.Expr, case: Case) -> sp.Expr:
    """``expr`` at a case's sizes and exact values (intermediates by their exact values)."""
    return written_out(expr, case.sizes).xreplace(case.values)


def _random_values(
    kind: LayerKind, sizes: dict[sp.Symbol, int], upstream: Operand, rng: random.Random
) -> dict[sp.Expr, sp.Rational]:
    """Exact random values of every array entry and hyper-parameter (masks 0 or 1)."""
    values: dict[sp.Expr, sp.Rational] = {}
    given = {op.name for op in kind.given}
    for op in (*kind.inputs, *(p.operand for p in kind.parameters), *kind.given, upstream):
        for ix in entries(op, sizes):
            if op.name in given:
                val = sp.Integer(rng.randint(0, 1))
            else:
                val = sp.Rational(rng.randint(-40, 40), rng.randint(1, 9))
            values[op(*ix)] = val
    for h in kind.hyper_parameters:
        # A rational strictly inside the hyper-parameter's interval (clipped to (0, 1)).
        # The bounds as the decimals they are written as (Rational of a float's repr).
        lo = sp.Rational(repr(max(h.lower, 0.0)))
        hi = sp.Rational(repr(min(h.upper, 1.0)))
        values[h.symbol] = lo + sp.Rational(rng.randint(1, 9), 10) * (hi - lo)
    return values


def _case_sizes(kind: LayerKind) -> tuple[dict[sp.Symbol, int], ...]:
    """Concrete sizes to prove at: all 2, then axes of different lengths (2, 3, 2, …); for a
    batch-coupled kind a batch of 3 with 2 features."""
    sizes = kind.sizes()
    if kind.batch_coupled:
        batch = kind.inputs[0].shape[0]
        return ({s: 2 for s in sizes}, {s: 3 if s == batch else 2 for s in sizes})
    return ({s: 2 for s in sizes}, {s: 2 + k % 2 for k, s in enumerate(sizes)})


_Instance = tuple[dict[sp.Symbol, int], dict[sp.Expr, sp.Expr], dict[tuple[int, ...], sp.Expr]]
"""One size case: sizes, exact point, forward entries written out."""


@functools.cache
def _instances(kind: LayerKind, upstream: Operand, seed: int) -> tuple[_Instance, ...]:
    """Per size case: the sizes, the exact point (intermediates included) and the forward
    entries written out in the inputs. Shared by every target of a kind, so the point and
    the written-out forward are built once per kind."""
    rng = random.Random(seed)
    out = []
    for sizes in _case_sizes(kind):
        # Written out unevaluated: the reference only walks the tree at a point, and SymPy's
        # automatic simplification of each sqrt of a written-out sum (assumption queries on
        # every term) was most of the cost. The walk evaluates every node it meets.
        with sp.evaluate(False):
            table: dict[sp.Expr, sp.Expr] = {}
            for v in kind.intermediates:
                for ix in entries(v.operand, sizes):
                    table[v.operand(*ix)] = written_out(v.at(*ix), sizes).xreplace(table)
            forward = {
                ix: written_out(
                    kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))), sizes
                ).xreplace(table)
                for ix in entries(kind.output, sizes)
            }
        values = _random_values(kind, sizes, upstream, rng)
        # The exact value of each intermediate entry at this point, for the rewritten forms.
        mode = _ForwardMode(values, ())
        point: dict[sp.Expr, sp.Expr] = dict(values)
        for entry, written in table.items():
            point[entry] = mode.value(written)
        out.append((sizes, point, forward))
    return tuple(out)


def _branch(pw: sp.Piecewise, value: Callable[[sp.Basic], sp.Basic]) -> sp.Expr:
    """The branch of ``pw`` whose condition is the first to hold at the point (SymPy's
    ``Piecewise`` semantics; its derivative is that branch's derivative, as ``sympy.diff``
    of a ``Piecewise`` differentiates branch by branch under the same conditions)."""
    for expr, cond in pw.args:
        holds = value(cond)
        if holds is sp.true:
            return expr
        if holds is not sp.false:
            raise ValueError(f"cannot decide the condition {cond} at an exact point")
    raise ValueError(f"no branch of {pw} holds at the point")


class _ForwardMode:
    """Exact value and forward-mode derivative of written-out expressions at one point.

    The derivative of a node is built from its arguments' by the sum, product and power
    rules, and for any other function by ``sympy.diff`` of that function of fresh symbols
    at the arguments' values. Tangents are sparse: per node, the derivative with respect to
    each target entry it depends on. Subexpressions shared between entries (the mean inside
    every normalised entry) are evaluated once.
    """

    def __init__(self, point: dict[sp.Expr, sp.Expr], wrt: Sequence[sp.Expr]) -> None:
        """The exact point (every leaf's value) and the target entries to differentiate by."""
        self.point = point
        self.wrt = frozenset(wrt)
        self.values: dict[sp.Basic, sp.Basic] = {}
        self.tangents: dict[sp.Basic, dict[sp.Expr, sp.Expr]] = {}

    def value(self, node: sp.Basic) -> sp.Basic:
        """The exact value of ``node`` at the point."""
        hit = self.values.get(node)
        if hit is not None:
            return hit
        if node in self.point:
            out = self.point[node]
        elif isinstance(node, (sp.Symbol, sp.Indexed)):
            raise KeyError(f"no value for {node} at the point")
        elif not node.args:
            out = node
        elif isinstance(node, sp.Piecewise):
            out = self.value(_branch(node, self.value))
        else:
            out = node.func(*(self.value(a) for a in node.args))
        self.values[node] = out
        return out

    @staticmethod
    def _accumulate(acc: dict[sp.Expr, sp.Expr], tangent: dict, factor: sp.Expr) -> None:
        """``acc += factor · tangent``, entry by entry."""
        for entry, d in tangent.items():
            acc[entry] = acc.get(entry, sp.Integer(0)) + factor * d

    def tangent(self, node: sp.Basic) -> dict[sp.Expr, sp.Expr]:
        """∂node/∂w at the point for every target entry w that ``node`` depends on."""
        if node in self.wrt:
            return {node: sp.Integer(1)}
        if node in self.point or not node.args:
            return {}
        hit = self.tangents.get(node)
        if hit is not None:
            return hit
        out: dict[sp.Expr, sp.Expr] = {}
        if isinstance(node, sp.Piecewise):
            out = self.tangent(_branch(node, self.value))
        elif isinstance(node, sp.Add):
            for arg in node.args:
                self._accumulate(out, self.tangent(arg), sp.Integer(1))
        elif isinstance(node, sp.Mul):
            vals = [self.value(a) for a in node.args]
            for k, arg in enumerate(node.args):
                d = self.tangent(arg)
                if d:
                    self._accumulate(out, d, sp.Mul(*vals[:k], *vals[k + 1 :]))
        elif isinstance(node, sp.Pow):
            base, exp = node.args
            d_base, d_exp = self.tangent(base), self.tangent(exp)
            if d_base:
                b, e = self.value(base), self.value(exp)
                self._accumulate(out, d_base, e * b ** (e - 1))
            if d_exp:
                self._accumulate(out, d_exp, self.value(node) * sp.log(self.value(base)))
        else:
            vals = [self.value(a) for a in node.args]
            slots = [sp.Dummy() for _ in node.args]
            for k, arg in enumerate(node.args):
                d = self.tangent(arg)
                if d:
                    partial = sp.diff(node.func(*slots), slots[k])
                    self._accumulate(out, d, partial.xreplace(dict(zip(slots, vals, strict=True))))
        self.tangents[node] = out
        return out


def cases_for(
    kind: LayerKind, target: Operand, upstream: Operand, seed: int = 16
) -> tuple[Case, ...]:
    """Concrete instances with brute-force reference gradients of ``target``.

    The reference is the derivative of Σ g·y with the forward definition written out at
    concrete sizes, entry by entry (no index calculus, no intermediates, no rewrite), taken
    in forward mode at the exact point.
    """
    out = []
    for sizes, point, forward in _instances(kind, upstream, seed):
        targets = [target(*q) for q in entries(target, sizes)]
        mode = _ForwardMode(point, targets)
        tangents = {ix: mode.tangent(y) for ix, y in forward.items()}
        zero = sp.Integer(0)
        reference = {
            q: sp.Add(*(point[upstream(*ix)] * d.get(entry, zero) for ix, d in tangents.items()))
            for q, entry in zip(entries(target, sizes), targets, strict=True)
        }
        out.append(Case(sizes, point, reference))
    return tuple(out)


def forward_cases(kind: LayerKind, seed: int = 17) -> tuple[Case, ...]:
    """Concrete instances whose reference is the forward definition itself, written out."""
    out = []
    for sizes, point, forward in _instances(kind, kind.output, seed):
        mode = _ForwardMode(point, ())
        reference = {ix: mode.value(y) for ix, y in forward.items()}
        out.append(Case(sizes, point, reference))
    return tuple(out)


def exactly_equal(lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """Whether two exact numbers are equal (expanded, else SymPy's ``equals``)."""
    diff = sp.expand(lhs - rhs)
    if diff == 0:
        return True
    return bool(diff.equals(0))


class _IndexEvaluator:
    """Exact value of an index-form expression at a case's point, without writing it out.

    Index symbols take integer values from an environment; a ``Sum`` adds its body over the
    integer range of its limit; an entry is looked up by name and integer indices; a
    Kronecker delta compares its indices. No symbolic expression is built on the way, so
    the cost is that of exact arithmetic on the point's numbers.
    """

    def __init__(self, case: Case) -> None:
        """The case whose sizes and values the expression is evaluated at."""
        self.case = case
        self.scalars: dict[sp.Symbol, sp.Expr] = {
            k: v for k, v in case.values.items() if isinstance(k, sp.Symbol)
        }
        for s, v in case.sizes.items():
            self.scalars[s] = sp.Integer(v)

    def integer(self, expr: sp.Expr, env: dict[sp.Symbol, int]) -> int:
        """An index or a bound as a Python integer."""
        if expr in env:  # the common case: a bound index symbol
            return env[expr]
        value = self(expr, env)
        if not value.is_Integer:
            raise ValueError(f"index {expr} is not an integer at the point")
        return int(value)

    def __call__(self, expr: sp.Basic, env: dict[sp.Symbol, int]) -> sp.Basic:
        """The exact value of ``expr`` with the index symbols of ``env`` bound."""
        if isinstance(expr, sp.Symbol):
            if expr in env:
                return sp.Integer(env[expr])
            if expr in self.scalars:
                return self.scalars[expr]
            raise KeyError(f"no value for {expr} at the point")
        if not expr.args:
            return expr
        if isinstance(expr, sp.Indexed):
            key = (expr.base.label.name, tuple(self.integer(i, env) for i in expr.indices))
            if key not in self.case.table:
                raise KeyError(f"no value for {expr.base}{list(key[1])} at the point")
            return self.case.table[key]
        if isinstance(expr, sp.Sum):
            return self._sum(expr.function, list(expr.limits), env)
        if isinstance(expr, sp.KroneckerDelta):
            a, b = (self.integer(i, env) for i in expr.args)
            return sp.Integer(1 if a == b else 0)
        if isinstance(expr, sp.Piecewise):
            return self(_branch(expr, lambda c: self(c, env)), env)
        return expr.func(*(self(a, env) for a in expr.args))

    def _sum(self, body: sp.Expr, limits: list, env: dict[sp.Symbol, int]) -> sp.Expr:
        """``body`` summed over ``limits`` (innermost first) at the integer range of each."""
        if not limits:
            return self(body, env)
        (var, lo, hi), rest = limits[-1], limits[:-1]
        terms = []
        for k in range(self.integer(lo, env), self.integer(hi, env) + 1):
            terms.append(self._sum(body, rest, {**env, var: k}))
        return sp.Add(*terms)


def prove(
    expr: sp.Expr,
    kind: LayerKind,
    q: tuple[sp.Symbol, ...],
    cases: Sequence[Case],
    rule: str,
) -> Proof:
    """Compare ``expr`` (free indices ``q``) with the reference at every case and entry."""
    count = 0
    accepted = True
    for case in cases:
        evaluate = _IndexEvaluator(case)
        for ix, want in case.reference.items():
            got = evaluate(expr, dict(zip(q, ix, strict=True)))
            count += 1
            if not exactly_equal(got, want):
                accepted = False
                break
        if not accepted:
            break
    return Proof(
        rule=rule,
        sizes=tuple(tuple((str(s), v) for s, v in c.sizes.items()) for c in cases),
        points=1,
        entries=count,
        accepted=accepted,
    )


def matrix_proven(
    mexpr: sp.Expr, bases: dict[str, sp.IndexedBase], kind: LayerKind, cases: Sequence[Case]
) -> bool:
    """The lifted matrix expression, with explicit matrices at concrete sizes, equals the
    reference at every entry."""
    for case in cases:
        explicit_of = {}
        for ms in mexpr.atoms(sp.MatrixSymbol):
            rows, cols = (int(d.xreplace(case.sizes)) for d in ms.shape)
            base = bases[ms.name]
            column = ms.shape[1] == 1
            explicit_of[ms] = sp.ImmutableMatrix(
                rows,
                cols,
                lambda r_, c_, base=base, column=column: base[
                    (r_ + 1,) if column else (r_ + 1, c_ + 1)
                ],
            )
        explicit = sp.ImmutableMatrix(mexpr.xreplace(explicit_of).doit())
        explicit = at_point(explicit, case)
        for ix, want in case.reference.items():
            got = explicit[ix[0] - 1, ix[1] - 1] if len(ix) == 2 else explicit[ix[0] - 1, 0]
            if not exactly_equal(got, want):
                return False
    return True
