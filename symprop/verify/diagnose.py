"""The correct right-hand side in the claim's notation, and the known mistakes: mutations
of the correct formula that a wrong claim may equal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

import sympy as sp

from symprop.core.calculus import ActivationApplied, derive_activation, derive_output_delta
from symprop.core.registry import ACTIVATIONS, a_vec, j_idx, y_vec, z_vec
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
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
    Piecewise,
    Relation,
    Transpose,
)
from symprop.verify.evaluate import Env, Evaluator, internal_layer
from symprop.verify.notation import COST_ROLES, GENERIC_FUNCTIONS, Label, Profile, Ref
from symprop.verify.render import Writer
from symprop.verify.setting import Deadline, Model

DIAGNOSES: dict[str, str] = {
    "missing_phi_prime": "missing φ' factor",
    "transpose": "W instead of Wᵀ (or index order swapped)",
    "sign": "sign flip",
    "factor_2": "factor 2 or ½ missing",
    "phi_prime_at_a": "φ' evaluated at a instead of z",
    "output_form_at_z": "the output form (e.g. a(1−a)) applied to z",
    "bias_regularised": "bias regularised",
    "missing_1_over_n": "1/n missing",
    "hadamard_vs_matmul": "⊙ and the matrix product confused (or ⊙ applied before the product)",
    "missing_batch_sum": "the sum over the batch missing (one sample's gradient)",
    "softmax_diagonal": "only the diagonal of the softmax Jacobian (a ⊙ (1 − a)) used",
    "layer_index": "wrong layer index (l for l + 1 or l − 1)",
    "lambda_scale": "λ scaled wrongly (λ for 2λ, λ/m for λ, or the reverse)",
    "a_vs_z": "a (the activation) and z (the pre-activation) confused",
}
"""Known mistakes: id -> the message shown with a ✗ verdict."""


# ---------------------------------------------------------------- correct formulas


@dataclass(frozen=True)
class _Candidate:
    """A correct right-hand side (AST) with its mutations (diagnosis id, AST)."""

    rhs: Expr
    mutations: tuple[tuple[str, Expr], ...]


def _mul(*factors: Expr, op: str = "mul") -> Expr:
    out = factors[0]
    for f in factors[1:]:
        out = BinOp(op, out, f)
    return out


def _sympy_to_ast(expr: sp.Expr, leaf: Callable[[sp.Basic], Expr | None], vector: bool) -> Expr:  # noqa: C901
    """Convert a (small, engine-derived) SymPy expression to an AST in claim notation."""
    mapped = leaf(expr)
    if mapped is not None:
        return mapped
    if isinstance(expr, sp.Integer | sp.Rational):
        if expr < 0:
            return Neg(Number(Fraction(-expr.p, expr.q)))
        return Number(Fraction(expr.p, expr.q))
    if isinstance(expr, sp.Add):
        terms = list(expr.as_ordered_terms())
        # y - a rather than -a + y: start with a term that has no minus sign.
        positive = [t for t in terms if t.as_coeff_Mul()[0] > 0]
        if positive:
            terms.remove(positive[0])
            terms.insert(0, positive[0])
        out = _sympy_to_ast(terms[0], leaf, vector)
        for t in terms[1:]:
            coeff, rest = t.as_coeff_Mul()
            if coeff < 0:
                out = BinOp("sub", out, _sympy_to_ast(-t, leaf, vector))
            else:
                out = BinOp("add", out, _sympy_to_ast(t, leaf, vector))
        return out
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        adds = [f for f in factors if isinstance(f, sp.Add)]
        # Prefer flipping a sum with a negative constant (a - 1 -> 1 - a).
        adds.sort(key=lambda f: not any(t.is_Number and t < 0 for t in f.args))
        if coeff < 0 and adds:
            # -2 (y - a) reads better as 2 (a - y): negate the one sum instead.
            coeff = -coeff
            factors = [-f if f is adds[0] else f for f in factors]
        if coeff < 0:
            return Neg(_sympy_to_ast(-expr, leaf, vector))
        nums = [f for f in factors if isinstance(f, sp.Pow) and f.exp == -1]
        dens = [f.base for f in nums]
        factors = [f for f in factors if f not in nums]
        parts = [_sympy_to_ast(f, leaf, vector) for f in factors]
        out: Expr | None = None
        if coeff != 1:
            out = _sympy_to_ast(coeff, leaf, vector)
        for p in parts:
            if out is None:
                out = p
            else:
                op = "hadamard" if vector and not isinstance(out, Number) else "mul"
                out = BinOp(op, out, p)
        if out is None:
            out = Number(Fraction(1))
        for d in dens:
            out = BinOp("div", out, _sympy_to_ast(d, leaf, vector))
        return out
    if isinstance(expr, sp.Pow):
        if expr.exp == -1:
            return BinOp("div", Number(Fraction(1)), _sympy_to_ast(expr.base, leaf, vector))
        return BinOp(
            "pow", _sympy_to_ast(expr.base, leaf, vector), _sympy_to_ast(expr.exp, leaf, vector)
        )
    if isinstance(expr, sp.exp):
        return Call(Name("exp"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    if isinstance(expr, sp.log):
        return Call(Name("log"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    if isinstance(expr, sp.tanh):
        return Call(Name("tanh"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    if isinstance(expr, sp.Heaviside):
        return Call(Name("H"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    if isinstance(expr, sp.Piecewise):
        cases: list[tuple[Expr, Relation | None]] = []
        for value, cond in expr.args:
            written = _sympy_to_ast(value, leaf, vector)
            if cond is sp.true:
                cases.append((written, None))
                break
            cases.append((written, _relation(cond, leaf, vector)))
        return Piecewise(tuple(cases))
    raise NoTemplate(f"cannot write {type(expr).__name__}")


_RELATIONS = {
    sp.StrictGreaterThan: "gt",
    sp.GreaterThan: "ge",
    sp.StrictLessThan: "lt",
    sp.LessThan: "le",
    sp.Equality: "eq",
    sp.Unequality: "ne",
}


def _relation(cond: sp.Basic, leaf: Callable[[sp.Basic], Expr | None], vector: bool) -> Relation:
    op = _RELATIONS.get(type(cond))
    if op is None:
        raise NoTemplate(f"cannot write the condition {type(cond).__name__}")
    return Relation(
        op,  # type: ignore[arg-type]
        _sympy_to_ast(cond.lhs, leaf, vector),
        _sympy_to_ast(cond.rhs, leaf, vector),
    )


def sympy_to_ast(expr: sp.Expr, names: dict[sp.Symbol, str]) -> Expr:
    """A brute-force value as a formula AST, each instance symbol spelled as in ``names``
    (the claim's notation); :class:`NoTemplate` when some part has no written form."""

    def leaf(e: sp.Basic) -> Expr | None:
        if isinstance(e, sp.Symbol):
            if e in names:
                return Name(names[e])
            raise NoTemplate(f"no name for {e}")
        if isinstance(e, sp.Indexed | sp.Sum):
            raise NoTemplate("an index sum")
        return None

    return _sympy_to_ast(expr, leaf, False)


class NoTemplate(Exception):
    """A formula has no counterpart in the claim's notation, so no candidate is written."""

    pass


def _leaf_map(writer: Writer, layer: Label, indices: tuple[str, ...], fname: str) -> Callable:
    def leaf(e: sp.Basic) -> Expr | None:
        if e == a_scalar or (
            isinstance(e, sp.Indexed) and e.base == a_vec and e.indices[0] == j_idx
        ):
            return writer.name("a", layer, indices)
        if e == y_scalar or (
            isinstance(e, sp.Indexed) and e.base == y_vec and e.indices[0] == j_idx
        ):
            return writer.name("y", None, indices)
        if e == z_scalar or (
            isinstance(e, sp.Indexed) and e.base == z_vec and e.indices[0] == j_idx
        ):
            return writer.name("z", layer, indices)
        if isinstance(e, ActivationApplied):
            inner = _sympy_to_ast(e.args[0], leaf, not indices)
            return Call(
                Name(fname if e.activation_name == "sigmoid" else e.activation_name), (inner,)
            )
        if isinstance(e, sp.Indexed | sp.Sum):
            raise NoTemplate("an index sum")
        return None

    return leaf


def _phi_prime(
    writer: Writer, layer: Label, indices: tuple[str, ...], activation: str = ""
) -> Expr:
    return Call(Name(writer.function(activation), primes=1), (writer.name("z", layer, indices),))


def _phi_mutations(
    rhs: Expr, activation: str, writer: Writer, layer: Label, indices: tuple[str, ...]
) -> list[tuple[str, Expr]]:
    """Mutations of the φ' factor: dropped, evaluated at a, replaced by the output form at z."""
    out: list[tuple[str, Expr]] = [("missing_phi_prime", _drop_calls(rhs))]
    out.append(("phi_prime_at_a", _replace_prime_args(rhs, writer, layer, indices)))
    form = derive_activation(activation)
    if form.kind == "output":
        vector = not indices
        zname = writer.name("z", layer, indices)
        at_z = _sympy_to_ast(form.form, lambda e: zname if e == a_scalar else None, vector)
        out.append(("output_form_at_z", _replace_primes(rhs, at_z)))
    return out


def _map_ast(node: Expr, fn: Callable[[Expr], Expr | None]) -> Expr:
    mapped = fn(node)
    if mapped is not None:
        return mapped
    if isinstance(node, BinOp):
        return replace(node, left=_map_ast(node.left, fn), right=_map_ast(node.right, fn))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=_map_ast(node.operand, fn))
    if isinstance(node, IndexSum):
        return replace(node, body=_map_ast(node.body, fn))
    if isinstance(node, Call):
        return replace(node, args=tuple(_map_ast(a, fn) for a in node.args))
    return node


def _is_prime(node: Expr) -> bool:
    return isinstance(node, Call) and node.func.primes > 0


def _drop_calls(node: Expr) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if isinstance(n, BinOp) and n.op in ("mul", "hadamard"):
            if _is_prime(n.left):
                return _drop_calls(n.right)
            if _is_prime(n.right):
                return _drop_calls(n.left)
        return None

    return _map_ast(node, fn)


def _replace_primes(node: Expr, by: Expr) -> Expr:
    return _map_ast(node, lambda n: by if _is_prime(n) else None)


def _replace_prime_args(node: Expr, writer: Writer, layer: Label, indices: tuple[str, ...]) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if _is_prime(n):
            assert isinstance(n, Call)
            return replace(n, args=(writer.name("a", layer, indices),))
        return None

    return _map_ast(node, fn)


def _untranspose(node: Expr) -> Expr:
    return _map_ast(node, lambda n: n.operand if isinstance(n, Transpose) else None)


def _swap_indices(node: Expr, i: str, j: str) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if isinstance(n, Name) and n.sub:
            return replace(n, sub=tuple(j if s == i else i if s == j else s for s in n.sub))
        return None

    return _map_ast(node, fn)


def _reverse_weight_indices(node: Expr, weight_letters: set[str]) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if isinstance(n, Name) and n.base in weight_letters and len(n.sub) == 2:
            return replace(n, sub=(n.sub[1], n.sub[0]))
        return None

    return _map_ast(node, fn)


def _common_mutations(rhs: Expr) -> list[tuple[str, Expr]]:
    out: list[tuple[str, Expr]] = [("sign", Neg(rhs))]
    half, two = Number(Fraction(1, 2)), Number(Fraction(2))
    out += [("factor_2", BinOp("mul", half, rhs)), ("factor_2", BinOp("mul", two, rhs))]
    if isinstance(rhs, BinOp) and rhs.op == "add":
        out += [
            ("factor_2", BinOp("add", rhs.left, BinOp("mul", half, rhs.right))),
            ("factor_2", BinOp("add", rhs.left, BinOp("mul", two, rhs.right))),
        ]
    return out


def candidates_for(lhs: Expr, profile: Profile, env: Env, writer: Writer) -> list[_Candidate]:
    """Correct right-hand sides for the claim's left side at this binding, with mutations."""
    model = env.model
    L = model.L
    out: list[_Candidate] = []
    weight_letters = {"w", "W", "Theta", "theta"}

    def internal_label(ref: Ref) -> Label:
        m = internal_layer(ref, env)
        if ref.label is None or ref.label[0] is None:
            return (None, m)
        var, off = ref.label
        return (var, off - env.offsets[ref.role])

    def shift(label: Label, by: int) -> Label:
        return (label[0], label[1] + by)

    delta_ref: Ref | None = None
    if isinstance(lhs, Name):
        ref = profile.resolve(lhs)
        if ref.role == "delta":
            delta_ref = ref
    if isinstance(lhs, Derivative) and isinstance(lhs.den, Name) and isinstance(lhs.num, Name):
        num, den = profile.resolve(lhs.num), profile.resolve(lhs.den)
        if num.role in COST_ROLES and den.role == "z":
            delta_ref = Ref("delta", den.label, den.indices)
        elif num.role in COST_ROLES and den.role in ("W", "b"):
            out += _gradient_candidates(num, den, env, writer, internal_label(den), weight_letters)
        elif all(w == 1 for w in model.net.widths) and not den.indices and not num.indices:
            out += _chain_candidates(num, den, env, writer, internal_label)
    if delta_ref is not None:
        m = internal_layer(delta_ref, env)
        label = internal_label(delta_ref)
        idx = delta_ref.indices
        if m == L:
            out += _output_delta_candidates(model, writer, label, idx)
        else:
            out += _hidden_delta_candidates(model, writer, label, idx, m, weight_letters)
    if isinstance(lhs, Call) and lhs.func.primes == 1 and len(lhs.args) == 1:
        act_name = (
            Evaluator(profile, env, Deadline(5)).activation_for(lhs)[0]
            if lhs.func.base in GENERIC_FUNCTIONS
            else lhs.func.base
        )
        if act_name in ACTIVATIONS and ACTIVATIONS[act_name].elementwise:
            form = derive_activation(act_name)
            arg = lhs.args[0]
            fcall = Call(Name(lhs.func.base), (arg,))
            try:
                if form.kind == "output":
                    rhs = _sympy_to_ast(
                        form.form, lambda e: fcall if e == a_scalar else None, False
                    )
                else:
                    rhs = _sympy_to_ast(form.raw, lambda e: arg if e == z_scalar else None, False)
                out.append(_Candidate(rhs, tuple(_common_mutations(rhs))))
            except NoTemplate:
                pass
    return out


def _chain_candidates(
    num: Ref, den: Ref, env: Env, writer: Writer, internal_label: Callable[[Ref], Label]
) -> list[_Candidate]:
    """Single units: ∂a^m/∂w^k as the chain rule's product σ'(z^m) w^m … σ'(z^k) a^{k-1}."""
    model = env.model
    if num.role == "yhat":
        num = Ref("a", ("L", 0), ())
    if num.role not in ("z", "a") or den.role not in ("W", "b", "z", "a"):
        return []
    var, off = internal_label(num)
    m, target = internal_layer(num, env), internal_layer(den, env)
    role, layer = num.role, m
    factors: list[Expr] = []
    primes: list[int] = []  # positions of φ' factors, for the mutations

    def label(t: int) -> Label:
        return (var, off - (m - t)) if var is not None else (None, t)

    while (role, layer) != (den.role, target):
        if layer < target or layer < 1:
            return []  # the denominator is not upstream of the numerator
        if role == "a":
            primes.append(len(factors))
            act = model.activation(layer)
            factors.append(_phi_prime(writer, label(layer), (), act))
            role = "z"
        elif den.role == "W" and layer == target:
            factors.append(writer.name("a", label(layer - 1)))
            break
        elif den.role == "b" and layer == target:
            factors.append(Number(Fraction(1)))
            break
        else:
            factors.append(writer.name("W", label(layer), ()))
            role, layer = "a", layer - 1
    if not factors:
        return []
    rhs = _mul(*factors)
    muts: list[tuple[str, Expr]] = []
    for pos in primes:
        rest = [f for i, f in enumerate(factors) if i != pos]
        if rest:
            muts.append(("missing_phi_prime", _mul(*rest)))
    muts += _common_mutations(rhs)
    return [_Candidate(rhs, tuple(muts))]


def _output_delta_candidates(
    model: Model, writer: Writer, label: Label, idx: tuple[str, ...]
) -> list[_Candidate]:
    act = model.activation(model.L)
    od = derive_output_delta(act, model.net.loss)
    fname = writer.function(act)
    leaf = _leaf_map(writer, label, idx, fname)
    vector = not idx
    out = []
    try:
        expr = od.expr
        if not expr.has(sp.Piecewise, sp.Sum):
            expr = sp.factor(expr)  # 2(a - y) rather than 2a - 2y
        simplified = _sympy_to_ast(expr, leaf, vector)
    except NoTemplate:
        simplified = None
    product = None
    if ACTIVATIONS[act].elementwise:
        dloss = _sympy_to_ast(sp.factor(od.dloss), leaf, vector)
        product = BinOp("hadamard" if vector else "mul", dloss, _phi_prime(writer, label, idx, act))
    muts: list[tuple[str, Expr]] = []
    if act == "softmax" and vector:
        # The full Jacobian: δ = (diag(a) − a aᵀ) ∂C/∂a = a ⊙ g − a (aᵀ g); the mistake keeps
        # only its diagonal, a ⊙ (1 − a), as for an elementwise activation.
        try:
            dloss = _sympy_to_ast(sp.factor(od.dloss), leaf, vector)
        except NoTemplate:
            dloss = None
        if dloss is not None:
            a_name = writer.name("a", label, idx)
            diagonal = BinOp(
                "hadamard",
                BinOp("hadamard", dloss, a_name),
                BinOp("sub", Number(Fraction(1)), a_name),
            )
            muts.append(("softmax_diagonal", diagonal))
            if simplified is None:
                simplified = BinOp(
                    "sub",
                    BinOp("hadamard", a_name, dloss),
                    BinOp("mul", a_name, BinOp("mul", Transpose(a_name), dloss)),
                )
    for base in (product, simplified):
        if base is None:
            continue
        if base is product:
            muts += _phi_mutations(base, act, writer, label, idx)
        muts += _common_mutations(base)
    # A pair that cancels is best stated simplified (a - y); otherwise the chain-rule
    # product with φ' reads as people write it.
    order = (simplified, product) if od.canonical_factor is not None else (product, simplified)
    for base in order:
        if base is not None:
            out.append(_Candidate(base, tuple(muts)))
    return out


def _hidden_delta_candidates(
    model: Model,
    writer: Writer,
    label: Label,
    idx: tuple[str, ...],
    m: int,
    weight_letters: set[str],
) -> list[_Candidate]:
    nxt = (label[0], label[1] + 1)
    act = model.activation(m)
    if idx:
        j = idx[0]
        k = next(c for c in "kijmpq" if c != j)
        body = BinOp("mul", writer.name("W", nxt, (k, j)), writer.name("delta", nxt, (k,)))
        rhs: Expr = BinOp("mul", _phi_prime(writer, label, idx, act), IndexSum(k, body))
        swapped = _reverse_weight_indices(rhs, weight_letters)
    else:
        back = BinOp("matmul", Transpose(writer.name("W", nxt)), writer.name("delta", nxt))
        rhs = BinOp("hadamard", back, _phi_prime(writer, label, idx, act))
        swapped = _untranspose(rhs)
    muts = [
        ("transpose", swapped),
        *_phi_mutations(rhs, act, writer, label, idx),
        *_common_mutations(rhs),
    ]
    return [_Candidate(rhs, tuple(muts))]


def _gradient_candidates(
    num: Ref, den: Ref, env: Env, writer: Writer, label: Label, weight_letters: set[str]
) -> list[_Candidate]:
    model = env.model
    objective = num.role == "J"
    lam = model.lam != 0 and objective
    prev = (label[0], label[1] - 1)
    idx = den.indices
    muts: list[tuple[str, Expr]] = []
    if den.role == "W":
        if model.batch > 1 and objective:
            if idx:
                return []  # Δ has no per-entry template here; the brute force answers
            main: Expr = BinOp(
                "mul",
                BinOp("div", Number(Fraction(1)), writer.name("n", None)),
                writer.name("Delta", label),
            )
            muts.append(("missing_1_over_n", writer.name("Delta", label)))
            # One sample's outer product for the batch's accumulated one.
            single = BinOp("matmul", writer.name("delta", label), Transpose(writer.name("a", prev)))
            muts.append(("missing_batch_sum", single))
            muts.append(
                (
                    "missing_batch_sum",
                    BinOp("mul", BinOp("div", Number(Fraction(1)), writer.name("n", None)), single),
                )
            )
        elif idx:
            main = BinOp(
                "mul", writer.name("a", prev, (idx[1],)), writer.name("delta", label, (idx[0],))
            )
            muts.append(
                ("transpose", _swap_indices(main, idx[0], idx[1]) if idx[0] != idx[1] else main)
            )
            muts.append(
                (
                    "transpose",
                    BinOp(
                        "mul",
                        writer.name("a", prev, (idx[0],)),
                        writer.name("delta", label, (idx[1],)),
                    ),
                )
            )
        else:
            main = BinOp("matmul", writer.name("delta", label), Transpose(writer.name("a", prev)))
            muts.append(("transpose", Transpose(main)))
            muts.append(
                (
                    "transpose",
                    BinOp("matmul", writer.name("a", prev), Transpose(writer.name("delta", label))),
                )
            )
        if lam:
            decay = BinOp(
                "mul",
                BinOp("mul", Number(Fraction(2)), writer.name("lambda", None)),
                writer.name("W", label, idx),
            )
            rhs: Expr = BinOp("add", main, decay)
            muts = [(d, BinOp("add", m_, decay)) for d, m_ in muts]
        else:
            rhs = main
    else:  # bias
        if model.batch > 1 and objective:
            return []
        rhs = writer.name("delta", label, idx[:1])
        decay = BinOp(
            "mul",
            BinOp("mul", Number(Fraction(2)), writer.name("lambda", None)),
            writer.name("b", label, idx[:1]),
        )
        if lam and model.net.regularize_biases:
            muts.append(("bias_regularised", rhs))
            rhs = BinOp("add", rhs, decay)
        elif objective:
            muts.append(("bias_regularised", BinOp("add", rhs, decay)))
    muts += _common_mutations(rhs)
    return [_Candidate(rhs, tuple(muts))]
