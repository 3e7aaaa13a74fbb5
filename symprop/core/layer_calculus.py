"""Derived calculus of layer kinds: local gradients and parameter gradients, each proven.

Nothing here is typed per kind. For a kind of :mod:`symprop.core.layers` and each of its
inputs and parameters ``T``, the gradient passed back is the vector–Jacobian product

    ∂C/∂T_q = Σ_out g_out ∂y_out/∂T_q        (g = ∂C/∂y, the upstream gradient)

obtained by ``sympy.diff`` of the index-form definition, with the chain rule carried through
the kind's named intermediates (μ, σ, x̂ stay named). Rewrite rules, each data with a
reason, then bring it to its compact form:

1. *sum algebra*: distribute sums over terms, take factors free of the summation index out,
   sum constants (Σ_r c = N c), and resolve Kronecker deltas (Σ_r δ_rq f(r) = f(q): every
   index lies in its axis by construction);
2. *fold definitions*: a sum that is an intermediate's definition is replaced by its name
   (Σ_r x_rj = m μ_j), and an input of an intermediate is eliminated in its favour, by
   solving the definition for it (x = μ + σ x̂, var = σ² − ε);
3. *collect*: take out the common factor (γ / (m σ)).

Every rewrite is accepted only when the rewritten expression, instantiated at several
concrete sizes, equals the brute-force reference (``sympy.diff`` of the forward definition
written out entry by entry, no intermediates, no index calculus) at exact rational points
for every entry (:mod:`symprop.core.layer_proof`); a rewrite that fails is refused and
recorded as refused. Each accepted step keeps the identities it substituted, as SymPy
equations, for printers to state. For the matrix form, index expressions are lifted to
matrix expressions (Wᵀ g, g aᵀ, u ⊙ v) by a few rules, and each lift is proven the same
way. Results are cached per kind; :mod:`symprop.core.layer_numeric` evaluates them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from symprop.core.errors import SymPropError
from symprop.core.layer_proof import Proof, cases_for, forward_cases, matrix_proven, prove
from symprop.core.layers import (
    UPSTREAM,
    Intermediate,
    LayerKind,
    Operand,
    get_layer_kind,
    index,
)


class LayerProofError(SymPropError):
    """The index-form chain rule of a kind disagrees with brute force (a malformed kind)."""


@dataclass(frozen=True)
class Step:
    """One step of a derivation: the expression, the rule that produced it, its proof.

    ``identities`` are the equations the step substituted (Σ_r x_rj = m μ_j,
    x_ij = μ_j + σ_j x̂_ij), as SymPy ``Eq`` in index form, for printers to state.
    """

    expr: sp.Expr
    rule: str
    reason: str
    proof: Proof
    identities: tuple[sp.Eq, ...] = ()


@dataclass(frozen=True)
class Gradient:
    """The derived gradient of the cost with respect to one input or parameter of a kind.

    Attributes
    ----------
    target
        Name of the input or parameter.
    indices
        The free indices of the entry ``∂C/∂target[indices]``.
    steps
        From the chain rule to the compact form; each accepted step proven.
    refused
        Rewrites that were proposed but failed their proof (kept for the record).
    index_form
        The chain-rule expression (first step).
    compact
        The last accepted form.
    matrix
        The compact form as a matrix expression, when the lift rules reach one (proven);
        ``None`` otherwise (batch-coupled kinds stay in index form).
    """

    target: str
    indices: tuple[sp.Symbol, ...]
    steps: tuple[Step, ...]
    refused: tuple[Step, ...]
    index_form: sp.Expr
    compact: sp.Expr
    matrix: sp.Expr | None


@dataclass(frozen=True)
class LayerRules:
    """Everything derived about one layer kind.

    Attributes
    ----------
    kind
        The registry entry.
    upstream
        The upstream gradient ``g`` (same shape as the output).
    inputs
        Per input, in order, its gradient (the local gradient passed back).
    parameters
        Per parameter, in order, its gradient.
    per_sample
        True when parameter gradients are per sample (the network sums them over the
        batch); false for batch-coupled kinds, whose gradients already cover the batch.
    forward_matrix
        The forward definition as a matrix expression (``W x + b``), proven equal to it at
        concrete sizes; ``None`` when the lift rules do not reach one.
    """

    kind: LayerKind
    upstream: Operand
    inputs: tuple[Gradient, ...]
    parameters: tuple[Gradient, ...]
    per_sample: bool
    forward_matrix: sp.Expr | None = None

    @property
    def forward(self) -> sp.Expr:
        """The forward definition: the output entry at the kind's output indices."""
        return self.kind.forward

    def gradient(self, name: str) -> Gradient:
        """The gradient with respect to the input or parameter ``name``."""
        for grad in (*self.inputs, *self.parameters):
            if grad.target == name:
                return grad
        raise KeyError(name)

    @property
    def proofs(self) -> tuple[Proof, ...]:
        """Every proof record, accepted or refused."""
        return tuple(
            s.proof
            for grad in (*self.inputs, *self.parameters)
            for s in (*grad.steps, *grad.refused)
        )


# --- the chain rule through named intermediates ------------------------------------------


def _fresh_indices(kind: LayerKind, count: int, taken: set[sp.Symbol]) -> tuple[sp.Symbol, ...]:
    """``count`` index symbols not used anywhere in ``kind`` (nor in ``taken``)."""
    used = {str(s) for s in taken}
    for expr in (kind.forward, *(v.definition for v in kind.intermediates)):
        used |= {str(s) for s in expr.atoms(sp.Symbol)}
    out: list[sp.Symbol] = []
    for name in (f"{c}{suffix}" for suffix in ("", "_1", "_2") for c in "qpstuvw"):
        if name not in used and len(out) < count:
            out.append(index(name))
            used.add(name)
    return tuple(out)


def _nested_sum(expr: sp.Expr, limits: Sequence[tuple[sp.Symbol, sp.Expr, sp.Expr]]) -> sp.Expr:
    """``expr`` summed over each limit in turn (innermost first)."""
    for lim in limits:
        expr = sp.Sum(expr, lim)
    return expr


def _total_diff(expr: sp.Expr, wrt: sp.Expr, kind: LayerKind, taken: set[sp.Symbol]) -> sp.Expr:
    """d expr / d wrt, through every named intermediate expr uses (chain rule in index form)."""
    out = sp.diff(expr, wrt)
    for v in kind.intermediates:
        op = v.operand
        if not op.shape:
            if expr.has(op.scalar):
                inner = _total_diff(v.definition, wrt, kind, taken)
                out += sp.diff(expr, op.scalar) * inner
            continue
        occurrences = sorted(
            {e for e in expr.atoms(sp.Indexed) if e.base == op.base}, key=sp.default_sort_key
        )
        if not occurrences:
            continue
        bound = {lim[0] for s in expr.atoms(sp.Sum) for lim in s.limits}
        if not any(set(e.indices) & bound for e in occurrences):
            # Each occurrence at free indices is one argument of expr: the chain rule sums
            # ∂expr/∂v[idx] · dv[idx]/d wrt over the occurrences, no index calculus needed.
            for e in occurrences:
                inner = _total_diff(v.at(*e.indices), wrt, kind, taken)
                if inner == 0:
                    continue
                slot = sp.Dummy(op.name)
                out += sp.diff(expr.xreplace({e: slot}), slot).xreplace({slot: e}) * inner
            continue
        # An occurrence under a sum: differentiate by a fresh entry (Kronecker deltas tie it
        # to each occurrence) and sum over that entry's indices.
        fresh = _fresh_indices(kind, len(op.shape), taken)
        taken |= set(fresh)
        outer = sp.diff(expr, op(*fresh))
        if outer == 0:
            continue
        inner = _total_diff(v.at(*fresh), wrt, kind, taken)
        if inner == 0:
            continue
        out += _nested_sum(outer * inner, [(f, 1, s) for f, s in zip(fresh, op.shape, strict=True)])
    return out


def chain_rule(kind: LayerKind, target: Operand) -> tuple[sp.Expr, tuple[sp.Symbol, ...], Operand]:
    """Σ_out g_out ∂y_out/∂target_q in index form; returns it, the free indices ``q``, and ``g``."""
    taken: set[sp.Symbol] = set()
    q = _fresh_indices(kind, len(target.shape), taken)
    taken |= set(q)
    upstream = Operand(UPSTREAM, kind.output.shape, "upstream gradient ∂C/∂y")
    local = _total_diff(kind.forward, target(*q), kind, taken)
    expr = _nested_sum(
        upstream(*kind.output_indices) * local,
        [(ix, 1, s) for ix, s in zip(kind.output_indices, kind.output.shape, strict=True)],
    )
    return expr, q, upstream


# --- rewrite rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rewritten:
    """A rule's result: the rewritten expression and the identities it substituted."""

    expr: sp.Expr
    identities: tuple[sp.Eq, ...] = ()


@dataclass(frozen=True)
class RewriteRule:
    """A rewrite of a gradient expression, with its reason; accepted only when proven."""

    name: str
    reason: str
    apply: Callable[[sp.Expr, LayerKind], sp.Expr | Rewritten]


def _pull_deltas(term: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Take a Kronecker delta in ``var`` that every branch of a piecewise factor has out of
    it, so the delta can be summed: Piecewise((δ a, c), (δ b, True)) = δ Piecewise((a, c),
    (b, True)) (a zero branch has every factor)."""

    def pull(pw: sp.Piecewise) -> sp.Expr:
        branches = [sp.expand(e) for e, _ in pw.args]
        nonzero = [b for b in branches if b != 0]
        if not nonzero:
            return pw
        for delta in sorted(nonzero[0].atoms(sp.KroneckerDelta), key=sp.default_sort_key):
            if var not in delta.args:
                continue
            quotients = [sp.expand(b / delta) for b in branches]
            if not any(qt.has(delta) for qt in quotients):
                conds = [c for _, c in pw.args]
                return delta * sp.Piecewise(*zip(quotients, conds, strict=True))
        return pw

    return term.replace(lambda e: isinstance(e, sp.Piecewise) and e.has(var), pull)


def _sum_over(body: sp.Expr, limit: tuple[sp.Symbol, sp.Expr, sp.Expr]) -> sp.Expr:
    """Σ over ``limit`` of ``body``, distributed over its terms, free factors taken out,
    constants summed and Kronecker deltas resolved."""
    var, lo, hi = limit
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(body)):
        if term.has(sp.Piecewise):
            term = _pull_deltas(term, var)
        indep, dep = term.as_independent(var, as_Add=False)
        if dep == 1:
            total += indep * (hi - lo + 1)
            continue
        delta = next(
            (
                f
                for f in sp.Mul.make_args(dep)
                if isinstance(f, sp.KroneckerDelta) and var in f.args and f.args[0] != f.args[1]
            ),
            None,
        )
        if delta is not None:
            other = delta.args[1] if delta.args[0] == var else delta.args[0]
            if not other.has(var):
                # Σ_var δ(var, other) f(var) = f(other): ``other`` indexes the same axis.
                total += indep * (dep / delta).subs(var, other)
                continue
        total += indep * sp.Sum(dep, limit)
    return total


def _split_sum(s: sp.Sum) -> sp.Expr:
    """Apply :func:`_sum_over` limit by limit, innermost first."""
    expr = s.function
    for limit in s.limits:
        expr = _sum_over(expr, limit)
    return expr


def sum_algebra(expr: sp.Expr) -> sp.Expr:
    """Rule 1: distribute, take out free factors, sum constants, resolve Kronecker deltas."""
    expr = sp.expand(expr)
    for _ in range(8):
        # Each pass distributes one more level of nested sums; expanded, the result is
        # unchanged once no sum can be split or resolved any further.
        new = sp.expand(expr.replace(lambda e: isinstance(e, sp.Sum), _split_sum))
        if new == expr:
            break
        expr = new
    return expr


def _wild_pattern(expr: sp.Expr, indices: Sequence[sp.Symbol]) -> tuple[sp.Expr, dict]:
    """``expr`` with ``indices`` replaced by wildcards, and the wildcards by index."""
    wilds = {ix: sp.Wild(f"w_{ix}") for ix in indices}
    return expr.xreplace(wilds), wilds


# Solutions are proven afterwards with everything else, so SymPy's own checks can be skipped.
_SOLVE = {"check": False, "simplify": False, "rational": False}


def _peel(lhs: sp.Expr, rhs: sp.Expr, unknown: sp.Expr) -> sp.Expr | None:
    """``lhs = rhs`` solved for ``unknown`` by undoing rhs's operations from the outside in
    (subtract the other terms, divide by the other factors, raise to 1/k for a k-th root),
    when ``unknown`` occurs once in rhs; ``None`` when some step is not one of those."""
    while rhs != unknown:
        if isinstance(rhs, (sp.Add, sp.Mul)):
            inside = [a for a in rhs.args if a.has(unknown)]
            if len(inside) != 1:
                return None
            rest = rhs.func(*(a for a in rhs.args if a is not inside[0]))
            lhs = lhs - rest if isinstance(rhs, sp.Add) else lhs / rest
            rhs = inside[0]
        elif isinstance(rhs, sp.Pow) and not rhs.exp.has(unknown) and (1 / rhs.exp).is_integer:
            # y = b^(1/k) gives b = y^k on the branch SymPy's root takes (sqrt's: y ≥ 0).
            lhs, rhs = lhs ** (1 / rhs.exp), rhs.base
        else:
            return None
    return lhs


def _solve(lhs: sp.Expr, rhs: sp.Expr, unknown: sp.Expr) -> list[sp.Expr]:
    """The solutions of ``lhs = rhs`` for ``unknown``: by peeling rhs when it can be undone
    step by step (what every built-in definition needs; ``sympy.solve`` took 0.07 s for
    σ = √(var + ε)), else by ``sympy.solve``. Each use is proven with the rewrite it makes."""
    peeled = _peel(lhs, rhs, unknown) if _occurrences(rhs, unknown) == 1 else None
    if peeled is not None:
        return [peeled]
    return list(sp.solve(sp.Eq(lhs, rhs, evaluate=False), unknown, **_SOLVE))


def _equation(lhs: sp.Expr, rhs: sp.Expr) -> sp.Eq:
    """The identity ``lhs = rhs`` a step used, as an unevaluated equation: SymPy would
    otherwise ask whether it is trivially true or false (assumption queries on every term),
    which it never is: it comes from a definition, and the step using it is proven."""
    return sp.Eq(lhs, rhs, evaluate=False)


def _occurrences(expr: sp.Expr, unknown: sp.Expr) -> int:
    """How many times ``unknown`` occurs as a node of ``expr``."""
    return sum(1 for node in sp.preorder_traversal(expr) if node == unknown)


@functools.cache
def _sum_kernel(v: Intermediate) -> tuple[sp.Sum, sp.Expr] | None:
    """``(Σ, its value through v)`` when ``v``'s definition has one sum and can be solved for it."""
    sums = list(v.definition.atoms(sp.Sum))
    if len(sums) != 1:
        return None
    kernel = sums[0]
    u = sp.Dummy("u")
    solved = _solve(v.operand(*v.indices), v.definition.xreplace({kernel: u}), u)
    if len(solved) != 1:
        return None
    return kernel, solved[0]


def _fold_sum(expr: sp.Expr, v: Intermediate) -> tuple[sp.Expr, sp.Eq | None]:
    """Replace each sum equal to ``v``'s defining sum (Σ_r x_rj = m μ_j) by ``v``'s name;
    also return that identity when it was used."""
    found = _sum_kernel(v)
    if found is None:
        return expr, None
    kernel, solution = found
    (kvar, klo, khi) = kernel.limits[0]
    body, wilds = _wild_pattern(kernel.function, v.indices)

    def fold(s: sp.Sum) -> sp.Expr:
        """The sum folded into ``v``, when it is ``v``'s defining sum at some indices."""
        if len(s.limits) != 1 or s.limits[0][1:] != (klo, khi):
            return s
        match = s.function.xreplace({s.limits[0][0]: kvar}).match(body)
        if match is None:
            return s
        back = {ix: match[w] for ix, w in wilds.items() if w in match}
        if len(back) != len(wilds):
            return s
        return solution.xreplace(back)

    folded = expr.replace(lambda e: isinstance(e, sp.Sum), fold)
    return folded, (_equation(kernel, solution) if folded != expr else None)


def fold_sums(expr: sp.Expr, kind: LayerKind) -> Rewritten:
    """Rule 2a: a sum that defines an intermediate becomes the intermediate's name."""
    used = []
    for v in kind.intermediates:
        expr, identity = _fold_sum(expr, v)
        if identity is not None:
            used.append(identity)
    return Rewritten(sum_algebra(expr), tuple(used))


@functools.cache
def _eliminations(kind: LayerKind, v: Intermediate) -> tuple[tuple[Operand, sp.Expr], ...]:
    """Operands entering ``v`` at exactly ``v``'s indices, solved for from its definition."""
    out = []
    free_entries = [
        e
        for e in v.definition.atoms(sp.Indexed)
        if tuple(e.indices) == tuple(v.indices) and e.base != v.operand.base
    ]
    ops = {op.base: op for op in kind.operands()}
    for entry in sorted(free_entries, key=sp.default_sort_key):
        solved = _solve(v.operand(*v.indices), v.definition, entry)
        if len(solved) == 1:
            out.append((ops[entry.base], solved[0]))
    if not v.indices:
        for sym in sorted(v.definition.free_symbols, key=sp.default_sort_key):
            op = next((o for o in kind.operands() if not o.shape and o.scalar == sym), None)
            if op is None:
                continue
            solved = _solve(v.operand.scalar, v.definition, sym)
            if len(solved) == 1:
                out.append((op, solved[0]))
    return tuple(out)


def eliminate(expr: sp.Expr, kind: LayerKind) -> Rewritten:
    """Rule 2b: write inputs of an intermediate through it (x = μ + σ x̂, var = σ² − ε)."""
    used = []
    for v in reversed(kind.intermediates):
        for op, solution in _eliminations(kind, v):
            if op.shape:
                pattern, wilds = _wild_pattern(op(*v.indices), v.indices)
                new = expr.replace(pattern, solution.xreplace(wilds))
            else:
                new = expr.xreplace({op.scalar: solution})
            if new != expr:
                used.append(_equation(op(*v.indices), solution))
                expr = new
    return Rewritten(sum_algebra(expr), tuple(used))


def collect(expr: sp.Expr) -> sp.Expr:
    """Rule 3: take out the common factor of the terms."""
    return sp.gcd_terms(expr)


RULES: tuple[RewriteRule, ...] = (
    RewriteRule(
        "sum algebra",
        "distributing the sums and resolving Kronecker deltas (Σ_r δ_rq f(r) = f(q))",
        lambda e, k: sum_algebra(e),
    ),
    RewriteRule("fold sums", "by the definitions of the intermediates (Σ_r x_r = N μ)", fold_sums),
    RewriteRule(
        "eliminate", "writing each input of an intermediate through it (x = μ + σ x̂)", eliminate
    ),
    RewriteRule("collect", "taking out the common factor", lambda e, k: collect(e)),
)
"""The rewrite rules, in the order they are tried."""


# --- matrix forms --------------------------------------------------------------------------


def _matrix_symbol(op: Operand) -> sp.MatrixSymbol:
    """The matrix symbol of an operand (a vector is one column)."""
    rows = op.shape[0] if op.shape else 1
    cols = op.shape[1] if len(op.shape) > 1 else 1
    return sp.MatrixSymbol(op.name, rows, cols)


def lift(
    expr: sp.Expr, q: tuple[sp.Symbol, ...], ops: dict[sp.IndexedBase, Operand]
) -> sp.Expr | None:
    """The matrix expression whose ``q`` entry is ``expr``, or ``None`` if no rule applies.

    Rules: ``c u_q`` → ``c u``; ``Σ_j A_jq v_j`` → ``Aᵀ v`` (``Σ_j A_qj v_j`` → ``A v``);
    ``u_q v_p`` → ``u vᵀ``; a product of vectors at the same index → their Hadamard product.
    """
    if isinstance(expr, sp.Add):
        parts = [lift(t, q, ops) for t in expr.args]
        return None if any(p is None for p in parts) else sp.Add(*parts)  # type: ignore[misc]
    coeff, rest = expr.as_independent(*q, sp.Indexed, as_Add=False)
    if coeff.has(sp.Indexed) or coeff.has(sp.Sum):
        return None
    factors = list(sp.Mul.make_args(rest))
    if len(q) == 1:
        (qq,) = q
        vectors = []
        for f in factors:
            if isinstance(f, sp.Indexed) and tuple(f.indices) == (qq,):
                vectors.append(_matrix_symbol(ops[f.base]))
            elif isinstance(f, sp.Sum) and len(f.limits) == 1:
                var = f.limits[0][0]
                body = list(sp.Mul.make_args(f.function))
                mats = [b for b in body if isinstance(b, sp.Indexed) and len(b.indices) == 2]
                vecs = [b for b in body if isinstance(b, sp.Indexed) and tuple(b.indices) == (var,)]
                if len(mats) != 1 or len(vecs) != 1 or len(body) != 2:
                    return None
                a_, v_ = mats[0], vecs[0]
                mat, vec = _matrix_symbol(ops[a_.base]), _matrix_symbol(ops[v_.base])
                if tuple(a_.indices) == (var, qq):
                    vectors.append(mat.T * vec)
                elif tuple(a_.indices) == (qq, var):
                    vectors.append(mat * vec)
                else:
                    return None
            else:
                return None
        if not vectors:
            return None
        body = vectors[0] if len(vectors) == 1 else sp.HadamardProduct(*vectors)
        return coeff * body
    if len(q) == 2 and len(factors) == 2:
        by_index = {}
        for f in factors:
            if not (isinstance(f, sp.Indexed) and len(f.indices) == 1 and f.indices[0] in q):
                return None
            by_index[f.indices[0]] = _matrix_symbol(ops[f.base])
        if set(by_index) != set(q):
            return None
        return coeff * by_index[q[0]] * by_index[q[1]].T
    return None


# --- the derivation ------------------------------------------------------------------------


def _derive_gradient(
    kind: LayerKind, target: Operand, rules: Sequence[RewriteRule], with_matrix: bool
) -> Gradient:
    """Chain rule, proven rewrites and matrix lift for one input or parameter."""
    expr, q, upstream = chain_rule(kind, target)
    cases = cases_for(kind, target, upstream)
    first = Step(
        expr,
        "chain rule",
        "by the chain rule: Σ_out g_out ∂y_out/∂T",
        prove(expr, kind, q, cases, "chain rule"),
    )
    if not first.proof.accepted:
        raise LayerProofError(
            f"layer kind {kind.name!r}: the chain rule for {target.name} disagrees with "
            "brute-force differentiation of its forward definition"
        )
    steps = [first]
    refused = []
    current = expr
    for rule in rules:
        result = rule.apply(current, kind)
        if not isinstance(result, Rewritten):
            result = Rewritten(result)
        candidate = result.expr
        if candidate == current:
            continue
        proof = prove(candidate, kind, q, cases, rule.name)
        step = Step(candidate, rule.name, rule.reason, proof, result.identities)
        if proof.accepted:
            steps.append(step)
            current = candidate
        else:
            refused.append(step)
    matrix = None
    if with_matrix:
        ops = {op.base: op for op in (*kind.operands(), upstream)}
        matrix = lift(current, q, ops)
        bases = {op.name: op.base for op in ops.values()}
        if matrix is not None and not matrix_proven(matrix, bases, kind, cases):
            matrix = None
    return Gradient(
        target=target.name,
        indices=q,
        steps=tuple(steps),
        refused=tuple(refused),
        index_form=expr,
        compact=current,
        matrix=matrix,
    )


def derive_with_rules(kind: LayerKind, rules: Sequence[RewriteRule]) -> LayerRules:
    """Derive ``kind``'s rules with the given rewrite rules (uncached; see :func:`derive_layer`).

    A rule whose result fails its proof is refused: it appears in ``Gradient.refused`` and
    the derivation goes on from the last accepted form.
    """
    upstream = Operand(UPSTREAM, kind.output.shape, "upstream gradient ∂C/∂y")
    with_matrix = not kind.batch_coupled
    forward_matrix = None
    if with_matrix:
        ops = {op.base: op for op in kind.operands()}
        lifted = lift(kind.forward, kind.output_indices, ops)
        bases = {op.name: op.base for op in ops.values()}
        if lifted is not None and matrix_proven(lifted, bases, kind, forward_cases(kind)):
            forward_matrix = lifted
    return LayerRules(
        kind=kind,
        upstream=upstream,
        inputs=tuple(_derive_gradient(kind, op, rules, with_matrix) for op in kind.inputs),
        parameters=tuple(
            _derive_gradient(kind, p.operand, rules, with_matrix) for p in kind.parameters
        ),
        per_sample=not kind.batch_coupled,
        forward_matrix=forward_matrix,
    )


@functools.cache
def _derive_cached(kind: LayerKind) -> LayerRules:
    """The rules of ``kind`` with the built-in rewrite rules, derived once."""
    return derive_with_rules(kind, RULES)


def derive_layer(kind: LayerKind | str) -> LayerRules:
    """Derive and prove the local gradient and parameter gradients of a layer kind (cached).

    Parameters
    ----------
    kind
        A :class:`LayerKind` (registered or not) or a registered kind's name.

    Returns
    -------
    LayerRules
        The gradient of every input and parameter: chain-rule index form, the proven rewrite
        steps, the compact form and, for per-sample kinds, the matrix form.
    """
    if isinstance(kind, str):
        kind = get_layer_kind(kind)
    return _derive_cached(kind)
