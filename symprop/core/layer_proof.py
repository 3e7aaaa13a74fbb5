"""Proof of layer-kind rewrites against brute force, at concrete sizes and exact points.

The reference is ``sympy.diff`` of a kind's forward definition written out entry by entry at
concrete sizes, every intermediate inlined: no index calculus, no named intermediates, no
rewrite. A candidate gradient (any index-form expression in the kind's arrays, named
intermediates allowed) is accepted only when every entry equals the reference exactly at
rational points, at every size case (a batch of 3 for batch-coupled kinds).
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

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
    """One concrete instance: sizes, exact values of every entry, and reference gradients."""

    sizes: dict[sp.Symbol, int]
    values: dict[sp.Expr, sp.Rational]
    reference: dict[tuple[int, ...], sp.Expr]


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
        lo = sp.nsimplify(max(h.lower, 0.0))
        hi = sp.nsimplify(min(h.upper, 1.0))
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


def cases_for(
    kind: LayerKind, target: Operand, upstream: Operand, seed: int = 16
) -> tuple[Case, ...]:
    """Concrete instances with brute-force reference gradients of ``target``.

    The reference is ``sympy.diff`` of the forward definition written out at concrete sizes,
    entry by entry: no index calculus, no intermediates, no rewrite.
    """
    rng = random.Random(seed)
    out = []
    for sizes in _case_sizes(kind):
        forward = {
            ix: instantiate(
                kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))), kind, sizes
            )
            for ix in entries(kind.output, sizes)
        }
        values = _random_values(kind, sizes, upstream, rng)
        intermediates = concrete_intermediates(kind, size_key(sizes))
        # Every value but the target's goes in first; each entry's derivative is taken of the
        # terms of the cost that contain it (the others have derivative zero), then the
        # target's values go in.
        mark = target.base if target.shape else target.scalar
        mine = {e: v for e, v in values.items() if e.has(mark)}
        others = {e: v for e, v in values.items() if e not in mine}
        cost = sp.Add(*(upstream(*ix) * y for ix, y in forward.items())).xreplace(others)
        terms = sp.Add.make_args(cost)
        reference = {}
        for q in entries(target, sizes):
            entry = target(*q)
            part = sp.Add(*(term for term in terms if term.has(entry)))
            reference[q] = sp.diff(part, entry).xreplace(mine)
        # The exact value of each intermediate entry at this point, for the rewritten forms.
        point = dict(values)
        for entry, written in intermediates.items():
            point[entry] = written.xreplace(values)
        out.append(Case(sizes, point, reference))
    return tuple(out)


def forward_cases(kind: LayerKind, seed: int = 17) -> tuple[Case, ...]:
    """Concrete instances whose reference is the forward definition itself, written out."""
    rng = random.Random(seed)
    out = []
    for sizes in _case_sizes(kind):
        values = _random_values(kind, sizes, kind.output, rng)
        reference = {
            ix: instantiate(
                kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))), kind, sizes
            ).xreplace(values)
            for ix in entries(kind.output, sizes)
        }
        point = dict(values)
        for entry, written in concrete_intermediates(kind, size_key(sizes)).items():
            point[entry] = written.xreplace(values)
        out.append(Case(sizes, point, reference))
    return tuple(out)


def exactly_equal(lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """Whether two exact numbers are equal (expanded, else SymPy's ``equals``)."""
    diff = sp.expand(lhs - rhs)
    if diff == 0:
        return True
    return bool(diff.equals(0))


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
        concrete = written_out(expr, case.sizes)
        for ix, want in case.reference.items():
            got = concrete.xreplace(dict(zip(q, ix, strict=True))).xreplace(case.values)
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
