"""Derived calculus of the registry: derivatives, rewrites and cancellations, each proven.

Nothing here is typed in. For an activation φ, the derivative is ``sympy.diff`` of the
registry definition; the forms people write by hand are found by rewrite rules that are
themselves checked:

1. *output form* (σ' = a(1 − a), tanh' = 1 − a², ELU' = a + α for z ≤ 0): solve the
   definition ``a = φ(z)`` for one of its kernels (``exp(-z)``, ``tanh(z)``, ``z``, …),
   substitute the solution into φ', and accept the result if it is rational in ``a``;
2. *another activation* (softplus' = σ(z)): φ' equals a registry activation at ``z``;
3. *in terms of another activation's output* (SiLU' = σ(z)(1 + z(1 − σ(z)))): the kernel
   substitution of rule 1 for another activation, accepted if it leaves no transcendental
   function of ``z``;
4. otherwise the simplified derivative itself.

Every accepted form is proven equal to the raw derivative by ``sympy.simplify`` of the
difference after substituting the definitions back; a form that cannot be proven is not
used. All results are cached per activation, so deriving a network costs the same for any
width and grows linearly with depth.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

import sympy as sp
from sympy.calculus.util import function_range

from symprop.core.handform import form_cost, hand_form
from symprop.core.registry import (
    ACTIVATIONS,
    LOSSES,
    Activation,
    Loss,
    a,
    a_vec,
    i_idx,
    j_idx,
    k_idx,
    n_units,
    y,
    y_vec,
    z,
    z_vec,
)
from symprop.core.why import Activation as ActivationName
from symprop.core.why import Relation, Why, why


class ActivationApplied(sp.Function):
    """A registry activation applied to an argument, kept unevaluated for printing.

    ``sigmoid(z)`` prints as ``\\sigma(z)`` in LaTeX and as a stable helper call in NumPy;
    ``rewrite("definition")`` gives back the registry definition.
    """

    activation_name: str = ""

    def _eval_rewrite_as_definition(self, arg: sp.Expr, **kwargs: object) -> sp.Expr:
        return ACTIVATIONS[self.activation_name].definition.subs(z, arg)


@functools.cache
def activation_function(name: str) -> type[ActivationApplied]:
    """The unevaluated SymPy function class standing for the activation ``name``."""
    return type(name, (ActivationApplied,), {"activation_name": name})


def expand_activations(expr: sp.Expr) -> sp.Expr:
    """Replace every applied activation by its definition."""
    return sp.sympify(expr).replace(
        lambda e: isinstance(e, ActivationApplied),
        lambda e: ACTIVATIONS[e.activation_name].definition.subs(z, e.args[0]),
    )


def proven_equal(lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """True when SymPy proves ``lhs == rhs`` (simplification of the difference gives 0)."""
    diff = sp.expand_log(expand_activations(lhs) - expand_activations(rhs), force=True)
    if diff == 0:
        return True
    if isinstance(diff, sp.Piecewise) or diff.has(sp.Piecewise):
        diff = sp.piecewise_fold(diff)
        if isinstance(diff, sp.Piecewise):
            return all(proven_equal(branch, 0) for branch, _ in diff.args)
    return sp.simplify(diff) == 0


def _is_rational_in(expr: sp.Expr, var: sp.Symbol) -> bool:
    """True when ``expr`` has no symbol but ``var`` and parameters, and no transcendental."""
    if expr.has(z) or any(isinstance(f, sp.Function) for f in expr.atoms(sp.Function)):
        return False
    return expr.free_symbols - {var} <= {
        p.symbol for act in ACTIVATIONS.values() for p in act.parameters
    }


@dataclass(frozen=True)
class Kernel:
    """A substitution ``kernel(z) -> solution(a)`` obtained by solving ``a = φ(z)``."""

    kernel: sp.Expr
    solution: sp.Expr


def _kernels(branch: sp.Expr) -> list[Kernel]:
    """Every kernel of ``branch`` for which ``a = branch`` can be solved uniquely."""
    candidates = sorted(branch.atoms(sp.Function), key=sp.default_sort_key) + [z]
    found = []
    u = sp.Dummy("u")
    for kernel in candidates:
        reduced = branch.subs(kernel, u)
        if reduced.has(z) or not reduced.has(u):
            continue
        solutions = sp.solve(sp.Eq(a, reduced), u, dict=False)
        if len(solutions) == 1:
            found.append(Kernel(kernel, sp.simplify(solutions[0])))
    return found


def _branches(expr: sp.Expr) -> list[tuple[sp.Expr, sp.Basic]]:
    if isinstance(expr, sp.Piecewise):
        return [(e, c) for e, c in expr.args]
    return [(expr, sp.true)]


def _join(branches: list[tuple[sp.Expr, sp.Basic]]) -> sp.Expr:
    if len(branches) == 1 and branches[0][1] == sp.true:
        return branches[0][0]
    return sp.Piecewise(*branches)


@dataclass(frozen=True)
class ActivationDerivative:
    """Everything derived about one activation's derivative.

    Attributes
    ----------
    raw
        ``sympy.diff`` of the definition.
    steps
        Intermediate forms from ``raw`` to ``form``, for the derivation documents.
    form
        The preferred form (see the module docstring for the rules), in ``a``, ``z``
        and applied registry activations.
    kind
        ``"output"``, ``"activation"``, ``"activation-output"`` or ``"raw"``.
    rule
        The justification of the rewrite, as data (rendered by each printer).
    premise
        The fact the preferred form rests on (``a = σ(z)``), when it rests on one; ``None``
        for a rewrite that is an action (substituting, simplifying).
    kink_value
        For a derivative with a jump at ``z = 0``: the value taken there (the stated
        convention), else ``None``.
    output_range
        Range of the activation (derived with ``function_range`` where SymPy can).
    """

    name: str
    raw: sp.Expr
    steps: tuple[sp.Expr, ...]
    form: sp.Expr
    kind: str
    rule: Why
    kink_value: sp.Expr | None
    output_range: sp.Set | None
    premise: Why | None = None

    @property
    def uses_z(self) -> bool:
        """Whether the preferred form still needs the pre-activation ``z``."""
        return self.form.has(z)


@functools.cache
def _output_kernels(name: str) -> tuple[Kernel, ...]:
    act = ACTIVATIONS[name]
    if not act.elementwise or isinstance(act.definition, sp.Piecewise):
        return ()
    return tuple(_kernels(act.definition))


def _output_form(definition: sp.Expr, raw: sp.Expr) -> sp.Expr | None:
    """Rule 1, branch by branch; ``None`` when some branch has no rational form in ``a``."""
    def_branches = _branches(definition)
    raw_branches = _branches(raw)
    if len(def_branches) != len(raw_branches):
        return None
    out = []
    for (d_expr, d_cond), (r_expr, _) in zip(def_branches, raw_branches, strict=True):
        if not r_expr.has(z):
            out.append((r_expr, d_cond))
            continue
        found = None
        for kern in _kernels(d_expr):
            # The raw derivative keeps the kernel visible (1 - tanh(z)**2); a simplified
            # one may have rewritten it away (cosh(z)**-2), so try both.
            for version in (r_expr, sp.simplify(r_expr)):
                candidate = sp.factor(sp.simplify(version.subs(kern.kernel, kern.solution)))
                if _is_rational_in(candidate, a):
                    found = candidate
                    break
            if found is not None:
                break
        if found is None:
            return None
        out.append((found, d_cond))
    return _join(out)


def _output_range(act: Activation) -> sp.Set | None:
    expr = act.definition
    if not act.elementwise:
        # Instantiate two components; softmax is invariant to shifting all z, so z_2 = 0
        # loses no generality for the range of a_1.
        z1 = sp.Symbol("z1", real=True)
        expr = expr.subs(i_idx, 1).subs(n_units, 2).doit().subs({z_vec[1]: z1, z_vec[2]: 0})
        return function_range(expr, z1, sp.S.Reals)
    pieces: list[sp.Set] = []
    for branch, cond in _branches(expr):
        domain = sp.S.Reals if cond == sp.true else cond.as_set()
        # Later Piecewise branches only apply where earlier conditions failed.
        earlier = [c for _, c in _branches(expr)[: _branches(expr).index((branch, cond))]]
        for c in earlier:
            domain = domain - c.as_set()
        try:
            pieces.append(function_range(branch, z, domain))
        except (NotImplementedError, ValueError):
            lo = sp.limit(branch, z, domain.inf) if domain.inf.is_infinite else None
            hi = sp.limit(branch, z, domain.sup) if domain.sup.is_infinite else None
            if (lo is not None and lo.is_infinite) or (hi is not None and hi.is_infinite):
                # Unbounded, with no exact range from SymPy: the whole line is a safe
                # over-approximation (it only ever makes validation stricter).
                pieces.append(sp.S.Reals)
            else:
                return None
    return sp.Union(*pieces)


@functools.cache
def derive_activation(name: str) -> ActivationDerivative:
    """Derive φ' for the registry activation ``name`` and its preferred, proven form."""
    act = ACTIVATIONS[name]
    if not act.elementwise:
        return _derive_vector_activation(act)
    definition = act.definition
    raw = sp.diff(definition, z)
    simplified = sp.simplify(raw) if not isinstance(raw, sp.Piecewise) else raw
    steps: list[sp.Expr] = [raw]
    # SymPy's simplification is a step only when it reads better by the hand-form
    # preferences: SiLU' through cosh²(z/2) is shorter but no form a textbook writes.
    if simplified != raw and form_cost(simplified) < form_cost(raw):
        steps.append(simplified)

    kink = None
    if isinstance(raw, sp.Piecewise):
        t = sp.Symbol("t", positive=True)
        left = sp.limit(raw.subs(z, -t), t, 0)
        right = sp.limit(raw.subs(z, t), t, 0)
        if sp.simplify(left - right) != 0:
            kink = raw.subs(z, 0)

    form: sp.Expr | None = None
    # Left as differentiated (ReLU's cases): the justification is the differentiation.
    kind, rule, premise = "raw", why("differentiating ", ActivationName(name)), None
    out = _output_form(definition, raw)
    if out is not None and out.has(a) and proven_equal(out.subs(a, definition), raw):
        form, kind = hand_form(out), "output"
        premise = why(Relation(a, activation_function(name)(z)))
        rule = why("since ", premise)
        steps = [raw]
    if form is None and not isinstance(raw, sp.Piecewise):
        for other in ACTIVATIONS.values():
            if other.name == name or not other.elementwise or other.parameters:
                continue
            if proven_equal(raw, other.definition):
                form, kind = activation_function(other.name)(z), "activation"
                premise = why(Relation(activation_function(other.name)(z), other.definition))
                rule = why("since ", premise)
                break
    if form is None and not isinstance(raw, sp.Piecewise):
        for other in ACTIVATIONS.values():
            if other.name == name:
                continue
            for kern in _output_kernels(other.name):
                if kern.kernel == z:
                    continue
                psi = activation_function(other.name)(z)
                candidate = sp.factor(
                    sp.simplify(raw.subs(kern.kernel, kern.solution.subs(a, psi)))
                )
                transcendental = {
                    f for f in candidate.atoms(sp.Function) if not isinstance(f, ActivationApplied)
                }
                if not transcendental and candidate.has(psi) and proven_equal(candidate, raw):
                    # The activation's own output in the same terms (SiLU: a = z σ(z)), so
                    # the hand form may be written in a: SiLU' = a + σ(z)(1 − a).
                    own = sp.factor(
                        sp.simplify(definition.subs(kern.kernel, kern.solution.subs(a, psi)))
                    )
                    form, kind = hand_form(candidate, (a, own)), "activation-output"
                    rule = why(
                        "substituting ",
                        Relation(kern.kernel, kern.solution.subs(a, psi)),
                        ", since ",
                        Relation(psi, other.definition),
                    )
                    if form.has(a):
                        rule += why(", and ", Relation(a, own))
                    break
            if form is not None:
                break
    if form is None:
        form = simplified
    elif form not in steps:
        steps.append(form)
    return ActivationDerivative(
        name=name,
        raw=raw,
        steps=tuple(steps),
        form=form,
        kind=kind,
        rule=rule,
        kink_value=kink,
        output_range=_output_range(act),
        premise=premise,
    )


def _strip_index_ranges(expr: sp.Expr) -> sp.Expr:
    """Drop the ``Piecewise((..., j <= n), (0, True))`` SymPy adds for in-range indices.

    Every index of a layer runs over 1..n by construction, so the first branch applies.
    """

    def in_range(cond: sp.Basic) -> bool:
        return all(
            isinstance(rel, (sp.Le, sp.Ge, sp.Lt, sp.Gt))
            and rel.free_symbols <= {i_idx, j_idx, k_idx, n_units}
            for rel in (cond.args if isinstance(cond, sp.And) else (cond,))
        )

    return expr.replace(
        lambda e: isinstance(e, sp.Piecewise) and in_range(e.args[0][1]),
        lambda e: e.args[0][0],
    )


def _derive_vector_activation(act: Activation) -> ActivationDerivative:
    """The Jacobian ∂a_i/∂z_j of a vector activation, rewritten in terms of its outputs."""
    raw = sp.diff(act.definition, z_vec[j_idx])
    jac = _strip_index_ranges(raw.doit())
    # Solve a_i = exp(z_i)/S for exp(z_i), S being the normalising sum.
    normaliser = next(iter(act.definition.atoms(sp.Sum)))
    s = sp.Dummy("S", positive=True)
    form = jac.xreplace({normaliser: s})
    form = form.replace(
        lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed),
        lambda e: a_vec[e.args[0].indices[0]] * s,
    )
    form = form.replace(
        lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Add),
        lambda e: sp.Mul(*[a_vec[t.indices[0]] * s for t in e.args[0].args]),
    )
    form = sp.factor(sp.simplify(form))
    if form.has(s):
        form = sp.simplify(jac)
        kind, rule, premise = "raw", why("simplified derivative"), None
    else:
        kind = "output"
        premise = why(Relation(a_vec[i_idx], act.definition))
        rule = why("since ", premise)
        back = form.subs(
            {
                a_vec[i_idx]: sp.exp(z_vec[i_idx]) / normaliser,
                a_vec[j_idx]: sp.exp(z_vec[j_idx]) / normaliser,
            }
        )
        assert proven_equal(back, jac), "softmax Jacobian rewrite failed its proof"
    return ActivationDerivative(
        name=act.name,
        raw=raw,
        steps=(raw, jac, form),
        form=form,
        kind=kind,
        rule=rule,
        kink_value=None,
        output_range=_output_range(act),
        premise=premise,
    )


@dataclass(frozen=True)
class OutputDelta:
    """The output-layer local gradient δ^L for one (activation, loss) pair.

    ``expr`` is the ``j``-th component, in ``a_vec[j]``, ``y_vec[j]``, ``z_vec[j]`` (and
    index sums over ``i`` for a vector activation). ``steps`` lead from the chain rule
    product to ``expr``. ``cancels`` is true when no derivative of the activation is left:
    the φ' factor cancelled against the loss.
    """

    activation: str
    loss: str
    dloss: sp.Expr
    product: sp.Expr
    steps: tuple[tuple[sp.Expr, Why], ...]
    expr: sp.Expr
    cancels: bool
    assumptions: tuple[Why, ...]

    @property
    def derivative_is_one(self) -> bool:
        """Whether φ' = 1 (the identity): δ^L is the loss derivative and nothing cancels."""
        return ACTIVATIONS[self.activation].elementwise and (
            derive_activation(self.activation).form == 1
        )

    @property
    def canonical_factor(self) -> sp.Expr | None:
        """``c`` when δ^L_j = c (a_j − y_j) for a constant ``c``, else ``None``.

        This is a property of the derived expression, not a lookup: it is what SymPy's
        cancellation left behind.
        """
        ratio = sp.cancel(self.expr / (a_vec[j_idx] - y_vec[j_idx]))
        return ratio if ratio.is_number and ratio != 0 else None


def _indexed(expr: sp.Expr, index: sp.Symbol) -> sp.Expr:
    return expr.subs({a: a_vec[index], y: y_vec[index], z: z_vec[index]}, simultaneous=True)


def _simplify_branches(expr: sp.Expr) -> sp.Expr:
    """Simplify and factor each branch of a piecewise expression separately."""
    expr = sp.piecewise_fold(sp.expand(expr))
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(_simplify_branches(e), c) for e, c in expr.args])
    return sp.factor(sp.simplify(expr))


def _signless_factors(expr: sp.Basic) -> collections.Counter[sp.Basic]:
    """The factors of a product with their signs dropped (a sum as the one of ``±s`` that
    SymPy does not write with a leading minus, its rational content apart), each with its
    multiplicity."""
    factors: collections.Counter[sp.Basic] = collections.Counter()
    for factor in sp.Mul.make_args(expr):
        if isinstance(factor, sp.Mul):
            factors += _signless_factors(factor)
            continue
        base, exp = factor.as_base_exp()
        if isinstance(base, sp.Add):
            # 2a − 2y is written 2 (a − y): its rational content is a factor of its own.
            content, base = base.primitive()
            if content != 1:
                factors[sp.Pow(abs(content), exp)] += 1
            if base.could_extract_minus_sign():
                base = -base
        elif base.is_Number:
            base = abs(base)
        if base != 1:
            factors[sp.Pow(base, exp, evaluate=False) if exp != 1 else base] += 1
    return factors


def _reorders_signs_only(simplified: sp.Basic, product: sp.Basic) -> bool:
    """Whether ``simplified`` is ``product`` with only the signs and the grouping of its
    factors moved.

    The two are proven equal before this is asked, so equal factors up to sign mean the
    same formula once written: such a link would only reorder signs.
    """
    return _signless_factors(simplified) == _signless_factors(product)


@functools.cache
def derive_output_delta(activation: str, loss_name: str) -> OutputDelta:
    """Derive δ^L_j = Σ_i ∂C/∂a_i ∂a_i/∂z_j and simplify it, proving each step."""

    loss: Loss = LOSSES[loss_name]
    dloss = sp.diff(loss.term, a)
    phi = derive_activation(activation)
    assumptions: list[Why] = []
    # The link substitutes φ' by its derived form: it is labelled by what it is, the
    # derivative of the activation (written in its output where it can be), with the fact
    # the form rests on (a = σ(z)); the chain rule was the link before.
    prime = activation_prime_function(activation)(z)
    by_rule = why("the derivative of ", ActivationName(activation))
    if phi.kind == "output":
        by_rule += why(" written in its output, ", Relation(prime, phi.form))
    else:
        by_rule += why(", ", Relation(prime, phi.form))
    if phi.premise is not None:
        by_rule += why(", since ", phi.premise)
    if ACTIVATIONS[activation].elementwise:
        product = sp.Mul(dloss, phi.form, evaluate=False)
        steps = [(product, by_rule)]
        simplified = _simplify_branches(dloss * phi.form)
        if not proven_equal(
            simplified.subs(a, ACTIVATIONS[activation].definition),
            (dloss * phi.form).subs(a, ACTIVATIONS[activation].definition),
        ):
            simplified = dloss * phi.form
        # The hand form of SymPy's factorisation: 2 (a − y)(1 − a²), not 2 (a − y)(a − 1)(a + 1).
        # SymPy's expansion is kept only when its hand form reads better than the product's.
        if not simplified.has(sp.Piecewise):
            # By cases (ReLU-type) the derived branches stay as they are: the code
            # generator prints each branch's formula in its own dtype-safe form.
            simplified = min((hand_form(dloss * phi.form), hand_form(simplified)), key=form_cost)
        if _reorders_signs_only(simplified, dloss * phi.form):
            # SymPy's canonical signs, (−a + y)(a − 1) for (a − y)(1 − a), are no step a
            # reader needs: the chain ends at the product, and the matrix form follows it.
            simplified = dloss * phi.form
        else:
            steps.append((simplified, why("simplifying")))
        expr = _indexed(simplified, j_idx)
        product_ix = _indexed(product, j_idx)
        cancels = not expr.has(z_vec) and not any(
            isinstance(f, ActivationApplied) for f in expr.atoms(sp.Function)
        )
    else:
        dl_i = _indexed(dloss, i_idx)
        jac = phi.form
        # Both derivatives written out before anything cancels, so the cancellation
        # (−y_i/a_i) · a_i(…) is a step a reader sees.
        sign, magnitude = (-1, -dl_i) if dl_i.could_extract_minus_sign() else (1, dl_i)
        written = sign * sp.Sum(sp.UnevaluatedExpr(magnitude) * jac, (i_idx, 1, n_units))
        product_ix = sp.Sum(dl_i * jac, (i_idx, 1, n_units))
        steps = [
            (
                written,
                why(
                    "differentiating the ",
                    loss.unicode,
                    " and ",
                    ActivationName(activation),
                    ", ",
                    phi.rule,
                ),
            )
        ]
        if (
            product_ix
            != written.replace(lambda e: isinstance(e, sp.UnevaluatedExpr), lambda e: e.args[0])
            or product_ix.has(sp.Pow) is False
        ):
            cancelled = [f for f in sp.Mul.make_args(dl_i) if f.is_Pow and f.exp.is_negative]
            steps.append(
                (
                    product_ix,
                    why("cancelling ", *[sp.Mul(f, 1 / f, evaluate=False) for f in cancelled])
                    if cancelled
                    else why("multiplying out"),
                )
            )
        summed = _strip_index_ranges(sp.expand(dl_i * jac))
        summed = sp.Add(*[sp.Sum(t, (i_idx, 1, n_units)) for t in sp.Add.make_args(summed)])
        summed = _strip_index_ranges(summed.doit())
        summed = sp.simplify(summed)
        steps.append(
            (
                summed,
                why(
                    "summing over ",
                    i_idx,
                    ", since ",
                    sp.KroneckerDelta(i_idx, j_idx, evaluate=False),
                    " picks out ",
                    Relation(i_idx, j_idx),
                ),
            )
        )
        if loss.target_is_distribution:
            total = sp.Sum(y_vec[i_idx], (i_idx, 1, n_units))
            replaced = summed.replace(
                lambda e: isinstance(e, sp.Sum) and e == total, lambda e: sp.Integer(1)
            )
            replaced = sp.expand(sp.simplify(replaced))
            if replaced != summed:
                sums_to_one = Relation(total, sp.Integer(1))
                assumptions.append(
                    why(sums_to_one, " (targets are one-hot or probability vectors)")
                )
                steps.append((replaced, why("since ", sums_to_one)))
                summed = replaced
        expr = summed
        product = product_ix
        cancels = not expr.has(sp.Sum) and not expr.has(z_vec)
    return OutputDelta(
        activation=activation,
        loss=loss_name,
        dloss=dloss,
        product=product_ix,
        steps=tuple(steps),
        expr=expr,
        cancels=cancels,
        assumptions=tuple(assumptions),
    )


class ActivationPrimeApplied(sp.Function):
    """``φ'(z)`` of a named registry activation, kept unevaluated for display."""

    activation_name: str = ""

    def _eval_rewrite_as_definition(self, arg: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.diff(ACTIVATIONS[self.activation_name].definition, z).subs(z, arg)


@functools.cache
def activation_prime_function(name: str) -> type[ActivationPrimeApplied]:
    """The unevaluated SymPy function class standing for the derivative of ``name``."""
    return type(f"{name}_prime", (ActivationPrimeApplied,), {"activation_name": name})
