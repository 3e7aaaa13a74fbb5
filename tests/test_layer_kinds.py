"""Layer kinds: every derived local gradient and parameter gradient, checked independently.

References: ``sympy.diff`` of each kind's forward definition written out at concrete sizes
with SymPy's own summation (no index calculus, no intermediates kept, no rewrite), central
differences of the numeric forward, PyTorch autograd where installed, and textbook forms
stated here by hand only to compare against what was derived.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import sympy as sp

from symprop.core import layer_calculus as lc
from symprop.core import layer_numeric as ln
from symprop.core import layer_proof as lp
from symprop.core import layers as lk
from symprop.core.errors import SpecError, SymPropError
from symprop.core.layers import (
    LAYER_KINDS,
    Display,
    LayerKind,
    LayerParameter,
    Operand,
    get_layer_kind,
    register_layer_kind,
    unregister_layer_kind,
)

KINDS = sorted(LAYER_KINDS)


def _sizes(kind: LayerKind) -> dict[sp.Symbol, int]:
    """Small sizes with distinct axis lengths; a batch of 3 for batch-coupled kinds."""
    if kind.batch_coupled:
        batch = kind.inputs[0].shape[0]
        return {s: 3 if s == batch else 2 for s in kind.sizes()}
    return {s: 2 + k for k, s in enumerate(kind.sizes())}


def _entries(op: Operand, sizes: dict[sp.Symbol, int]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(1, sizes[s] + 1) for s in op.shape)))


def _written_out(expr: sp.Expr, kind: LayerKind, sizes: dict[sp.Symbol, int]) -> sp.Expr:
    """Intermediates inlined symbolically, then SymPy's own doit() on every sum."""
    for v in reversed(kind.intermediates):
        expr = lk.inline(expr, v)
    return expr.xreplace(sizes).doit()


def _point(kind: LayerKind, sizes: dict[sp.Symbol, int], seed: int) -> dict[sp.Expr, sp.Expr]:
    rng = random.Random(seed)
    values: dict[sp.Expr, sp.Expr] = {}
    upstream = Operand("g", kind.output.shape)
    for op in (*kind.inputs, *(p.operand for p in kind.parameters), upstream):
        for ix in _entries(op, sizes):
            values[op(*ix)] = sp.Rational(rng.randint(-30, 30), rng.randint(1, 7))
    for op in kind.given:
        for ix in _entries(op, sizes):
            values[op(*ix)] = sp.Integer(rng.randint(0, 1))
    for h in kind.hyper_parameters:
        values[h.symbol] = sp.Rational(rng.randint(1, 9), 10)
    return values


@pytest.mark.parametrize("name", KINDS)
def test_derived_gradients_equal_brute_force_sympy_diff(name: str) -> None:
    """∂C/∂T for every input and parameter T, compact form, equals sympy.diff of Σ g·y."""
    kind = LAYER_KINDS[name]
    rules = lc.derive_layer(kind)
    sizes = _sizes(kind)
    upstream = Operand("g", kind.output.shape)
    cost = sp.Add(
        *(
            upstream(*ix)
            * _written_out(
                kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))), kind, sizes
            )
            for ix in _entries(kind.output, sizes)
        )
    )
    for seed in (1, 2):
        values = _point(kind, sizes, seed)
        for grad in (*rules.inputs, *rules.parameters):
            target = next(op for op in kind.operands() if op.name == grad.target)
            for ix in _entries(target, sizes):
                want = sp.diff(cost, target(*ix)).xreplace(values)
                entry = grad.compact.xreplace(dict(zip(grad.indices, ix, strict=True)))
                got = _written_out(entry, kind, sizes).xreplace(values)
                assert sp.simplify(got - want) == 0, (name, grad.target, ix)


@pytest.mark.parametrize("name", KINDS)
def test_every_step_is_proven_at_concrete_sizes(name: str) -> None:
    """Each accepted step carries a proof record that compared every entry, at a batch of 3
    for the batch-coupled kinds; nothing the built-in rules propose is refused."""
    kind = LAYER_KINDS[name]
    rules = lc.derive_layer(kind)
    for grad in (*rules.inputs, *rules.parameters):
        assert grad.steps[0].rule == "chain rule"
        assert grad.refused == ()
        for step in grad.steps:
            assert step.proof.accepted and step.proof.entries > 0
            if kind.batch_coupled:
                assert any(("m", 3) in sizes for sizes in step.proof.sizes)


def _cost_and_grads(kind: LayerKind, arrays: dict[str, np.ndarray], hyper: dict[str, float]):
    y, grads = ln.evaluate(kind, arrays, hyper)
    return float(np.sum(arrays["g"] * y)), grads


@pytest.mark.parametrize("name", KINDS)
def test_numeric_gradients_match_central_differences(name: str) -> None:
    kind = LAYER_KINDS[name]
    rng = np.random.default_rng(7)
    sizes = _sizes(kind)
    arrays = {
        op.name: rng.normal(size=tuple(sizes[s] for s in op.shape))
        for op in (*kind.inputs, *(p.operand for p in kind.parameters))
    }
    for op in kind.given:
        arrays[op.name] = rng.integers(0, 2, size=tuple(sizes[s] for s in op.shape)).astype(float)
    arrays["g"] = rng.normal(size=tuple(sizes[s] for s in kind.output.shape))
    hyper = {h.name: 0.3 for h in kind.hyper_parameters}
    _, grads = _cost_and_grads(kind, arrays, hyper)
    h = 1e-6
    for name_, grad in grads.items():
        numeric = np.zeros_like(arrays[name_])
        for ix in np.ndindex(arrays[name_].shape):
            up = {k: v.copy() for k, v in arrays.items()}
            down = {k: v.copy() for k, v in arrays.items()}
            up[name_][ix] += h
            down[name_][ix] -= h
            numeric[ix] = (
                _cost_and_grads(kind, up, hyper)[0] - _cost_and_grads(kind, down, hyper)[0]
            ) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=name_)


# --- the derived forms land on the textbook ones ----------------------------------------------


def _same_at_sizes(lhs: sp.Expr, rhs: sp.Expr, kind: LayerKind, sizes, free) -> None:
    """Symbolic identity at concrete sizes and every entry (named intermediates kept)."""
    lhs_w = lhs.xreplace(sizes).doit()
    rhs_w = rhs.xreplace(sizes).doit()
    for ix in itertools.product(*(range(1, n + 1) for n in free.values())):
        at = dict(zip(free, ix, strict=True))
        assert sp.expand(lhs_w.xreplace(at) - rhs_w.xreplace(at)) == 0, ix


def test_batch_norm_reaches_the_compact_textbook_form() -> None:
    """dx = (γ / (m σ)) (m dŷ − Σ dŷ − x̂ Σ(dŷ ⊙ x̂)), per feature, with no μ or var left."""
    kind = lk.BATCH_NORM
    grad = lc.derive_layer("batch_norm").gradient("x")
    q, p = grad.indices
    g, xhat = sp.IndexedBase("g"), sp.IndexedBase("xhat")
    gamma, sigma = sp.IndexedBase("gamma"), sp.IndexedBase("sigma", positive=True)
    s = sp.Symbol("s", integer=True, positive=True)
    m = lk.m
    textbook = (gamma[p] / (m * sigma[p])) * (
        m * g[q, p]
        - sp.Sum(g[s, p], (s, 1, m))
        - xhat[q, p] * sp.Sum(g[s, p] * xhat[s, p], (s, 1, m))
    )
    names = {str(b) for b in grad.compact.atoms(sp.IndexedBase)}
    assert names == {"g", "xhat", "gamma", "sigma"}
    _same_at_sizes(grad.compact, textbook, kind, {m: 3, lk.n: 2}, {q: 3, p: 2})
    # The common factor is taken out: the compact form is γ_p/(m σ_p) times a sum of terms.
    numer, denom = sp.fraction(sp.together(grad.compact))
    assert sp.simplify(denom / (m * sigma[p])) == 1
    # The steps name what they substituted, as equations a printer can state.
    used = {str(eq) for step in grad.steps for eq in step.identities}
    assert "Eq(Sum(x[r, j], (r, 1, m)), m*mu[j])" in used
    assert "Eq(x[i, j], mu[j] + sigma[j]*xhat[i, j])" in used
    # Parameter gradients: Σ_i dŷ ⊙ x̂ and Σ_i dŷ.
    (qq,) = lc.derive_layer("batch_norm").gradient("gamma").indices
    _same_at_sizes(
        lc.derive_layer("batch_norm").gradient("gamma").compact,
        sp.Sum(g[s, qq] * xhat[s, qq], (s, 1, m)),
        kind,
        {m: 3, lk.n: 2},
        {qq: 2},
    )


def test_layer_norm_reaches_its_compact_form_over_the_features() -> None:
    """dx = (1 / (n σ)) (n dx̂ − Σ dx̂ − x̂ Σ(dx̂ ⊙ x̂)) with dx̂ = γ ⊙ dy, sums over features."""
    kind = lk.LAYER_NORM
    grad = lc.derive_layer("layer_norm").gradient("x")
    (q,) = grad.indices
    g, xhat, gamma = sp.IndexedBase("g"), sp.IndexedBase("xhat"), sp.IndexedBase("gamma")
    sigma = sp.Symbol("sigma", positive=True)
    s = sp.Symbol("s", integer=True, positive=True)
    n = lk.n
    dxhat = lambda k: gamma[k] * g[k]  # noqa: E731
    textbook = (1 / (n * sigma)) * (
        n * dxhat(q) - sp.Sum(dxhat(s), (s, 1, n)) - xhat[q] * sp.Sum(dxhat(s) * xhat[s], (s, 1, n))
    )
    _same_at_sizes(grad.compact, textbook, kind, {n: 3}, {q: 3})


def test_dense_reproduces_the_backprop_equations_in_matrix_form() -> None:
    """δ_in = Wᵀ δ, ∂W = δ aᵀ, ∂b = δ, as matrix expressions."""
    rules = lc.derive_layer("dense")
    W = sp.MatrixSymbol("W", lk.n_out, lk.n_in)
    g = sp.MatrixSymbol("g", lk.n_out, 1)
    x = sp.MatrixSymbol("x", lk.n_in, 1)
    assert rules.gradient("x").matrix == W.T * g
    assert rules.gradient("W").matrix == g * x.T
    assert rules.gradient("b").matrix == g
    assert rules.forward_matrix == W * x + sp.MatrixSymbol("b", lk.n_out, 1)
    assert rules.per_sample


def test_dropout_and_residual_local_rules() -> None:
    g, mask = sp.MatrixSymbol("g", lk.n, 1), sp.MatrixSymbol("mask", lk.n, 1)
    dropout = lc.derive_layer("dropout").gradient("x").matrix
    assert dropout == (1 / (1 - lk.p_drop)) * sp.HadamardProduct(g, mask)
    x = sp.MatrixSymbol("x", lk.n, 1)
    assert lc.derive_layer("dropout").forward_matrix == (1 / (1 - lk.p_drop)) * sp.HadamardProduct(
        mask, x
    )
    gamma, xhat, beta = (sp.MatrixSymbol(name, lk.n, 1) for name in ("gamma", "xhat", "beta"))
    assert lc.derive_layer("layer_norm").forward_matrix == sp.HadamardProduct(gamma, xhat) + beta
    residual = lc.derive_layer("residual")
    # An add passes the upstream gradient to both inputs unchanged.
    assert residual.gradient("x").matrix == g and residual.gradient("f").matrix == g


# --- a kind registered at run time ------------------------------------------------------------


@pytest.fixture
def scaled_kind():
    x = Operand("x", (lk.n,), "input")
    y = Operand("y", (lk.n,), "output")
    s = Operand("s", (lk.n,), "scale")
    j = lk.j_f
    table = {"x": Display("x", "x"), "y": Display("y", "y"), "s": Display("s", "s")}
    kind = LayerKind(
        name="scaled",
        description="y = s ⊙ x",
        inputs=(x,),
        output=y,
        output_indices=(j,),
        forward=s(j) * x(j),
        parameters=(LayerParameter(s, "scale", "ones"),),
        display=tuple((p, tuple(table.items())) for p in lk.PROFILE_NAMES),
    )
    register_layer_kind(kind)
    yield kind
    unregister_layer_kind("scaled")


def test_a_toy_kind_registered_at_run_time_is_derived_and_proven(scaled_kind) -> None:
    assert get_layer_kind("scaled") is scaled_kind
    rules = lc.derive_layer("scaled")
    g, x, s = (sp.MatrixSymbol(name, lk.n, 1) for name in ("g", "x", "s"))
    assert rules.gradient("x").matrix == sp.HadamardProduct(g, s)
    assert rules.gradient("s").matrix == sp.HadamardProduct(g, x)
    assert all(step.proof.accepted for step in rules.gradient("s").steps)
    y, grads = ln.evaluate(
        "scaled", {"x": np.array([1.0, 2.0]), "s": np.array([3.0, -1.0]), "g": np.array([0.5, 4.0])}
    )
    np.testing.assert_array_equal(y, [3.0, -2.0])
    np.testing.assert_array_equal(grads["x"], [1.5, -4.0])
    np.testing.assert_array_equal(grads["s"], [0.5, 8.0])


def test_a_wrong_rewrite_rule_is_refused() -> None:
    """A rule that transposes W (δ = W δ instead of Wᵀ δ) fails its proof and is not used."""
    W = lk.DENSE.parameters[0].operand.base
    wrong = lc.RewriteRule(
        "transpose",
        "deliberately wrong",
        lambda e, k: e.replace(
            lambda t: isinstance(t, sp.Indexed) and t.base == W,
            lambda t: W[t.indices[1], t.indices[0]],
        ),
    )
    rules = lc.derive_with_rules(lk.DENSE, (*lc.RULES, wrong))
    grad = rules.gradient("x")
    assert [step.rule for step in grad.refused] == ["transpose"]
    assert not grad.refused[0].proof.accepted
    assert grad.compact == lc.derive_layer("dense").gradient("x").compact
    assert grad.matrix == sp.MatrixSymbol("W", lk.n_out, lk.n_in).T * sp.MatrixSymbol(
        "g", lk.n_out, 1
    )


def test_a_plausible_wrong_rewrite_of_batch_norm_is_refused() -> None:
    """Bessel's correction slipped into the compact form (m − 1 for m) fails its proof."""
    bessel = lc.RewriteRule(
        "unbiased", "deliberately wrong: m − 1 for m", lambda e, k: e.xreplace({lk.m: lk.m - 1})
    )
    rules = lc.derive_with_rules(lk.BATCH_NORM, (*lc.RULES, bessel))
    grad = rules.gradient("x")
    assert "unbiased" in [step.rule for step in grad.refused]
    assert all(step.rule != "unbiased" for step in grad.steps)
    assert grad.compact == lc.derive_layer("batch_norm").gradient("x").compact


def test_the_prover_refuses_a_wrong_gradient_and_accepts_the_right_one() -> None:
    """The proof is not decorative: twice the residual's gradient fails against brute force."""
    kind = lk.RESIDUAL
    expr, q, upstream = lc.chain_rule(kind, kind.inputs[0])
    cases = lp.cases_for(kind, kind.inputs[0], upstream)
    assert lp.prove(expr, kind, q, cases, "as derived").accepted
    wrong = lp.prove(2 * expr, kind, q, cases, "doubled")
    assert not wrong.accepted and wrong.entries >= 1


def _transcendental_kind() -> LayerKind:
    """A toy kind through tanh, exp and a power with a parameter as exponent: the reference's
    generic rule (sympy.diff of one function) and its power rule both have work to do."""
    x, y, s = Operand("x", (lk.n,)), Operand("y", (lk.n,)), Operand("s", (lk.n,))
    j = lk.j_f
    table = tuple((p, tuple((k, Display(k, k)) for k in ("x", "y", "s"))) for p in lk.PROFILE_NAMES)
    return LayerKind(
        "transcendental",
        "y = tanh(s x) + exp(x) 2^s",
        (x,),
        y,
        (j,),
        sp.tanh(s(j) * x(j)) + sp.exp(x(j)) * 2 ** s(j),
        parameters=(LayerParameter(s, "scale", "ones"),),
        display=table,
    )


def _srelu_like_kind() -> LayerKind:
    """A piecewise toy kind: the reference differentiates the branch that holds."""
    x, y, t = Operand("x", (lk.n,)), Operand("y", (lk.n,)), Operand("t", (lk.n,))
    j = lk.j_f
    table = tuple((p, tuple((k, Display(k, k)) for k in ("x", "y", "t"))) for p in lk.PROFILE_NAMES)
    forward = sp.Piecewise((t(j) * x(j) ** 2, x(j) < t(j)), (x(j) + t(j), True))
    return LayerKind(
        "kinked",
        "",
        (x,),
        y,
        (j,),
        forward,
        parameters=(LayerParameter(t, "shift", "zeros"),),
        display=table,
    )


_REFERENCE_KINDS = [*KINDS, "transcendental", "kinked"]


def _kind_named(name: str) -> LayerKind:
    if name == "transcendental":
        return _transcendental_kind()
    if name == "kinked":
        return _srelu_like_kind()
    return LAYER_KINDS[name]


@pytest.mark.parametrize("name", _REFERENCE_KINDS)
def test_the_forward_mode_reference_equals_sympy_diff_of_the_written_out_cost(name: str) -> None:
    """The prover's reference (forward mode at the exact point) is ∂(Σ g·y)/∂T of the cost
    written out by SymPy's own doit() and differentiated by sympy.diff, at every entry."""
    kind = _kind_named(name)
    upstream = Operand("g", kind.output.shape)
    for target in (*kind.inputs, *(p.operand for p in kind.parameters)):
        for case in lp.cases_for(kind, target, upstream):
            cost = sp.Add(
                *(
                    upstream(*ix)
                    * _written_out(
                        kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))),
                        kind,
                        case.sizes,
                    )
                    for ix in _entries(kind.output, case.sizes)
                )
            )
            assert set(case.reference) == set(_entries(target, case.sizes))
            for q, got in case.reference.items():
                want = sp.diff(cost, target(*q)).xreplace(case.values)
                assert lp.exactly_equal(got, want), (name, target.name, q)


@pytest.mark.parametrize("name", _REFERENCE_KINDS)
def test_every_accepted_step_also_holds_written_out_by_sympy(name: str) -> None:
    """The prover evaluates index forms by walking them; each accepted step, written out by
    SymPy's doit() instead and evaluated at the same point, gives the same exact numbers."""
    kind = _kind_named(name)
    rules = lc.derive_layer(kind)
    for grad in (*rules.inputs, *rules.parameters):
        op = next(o for o in kind.operands() if o.name == grad.target)
        for case in lp.cases_for(kind, op, rules.upstream):
            for step in grad.steps:
                written = step.expr.xreplace(case.sizes).doit()
                for q, want in case.reference.items():
                    at = written.xreplace(dict(zip(grad.indices, q, strict=True))).xreplace(
                        case.values
                    )
                    assert lp.exactly_equal(at, want), (name, grad.target, step.rule, q)


def test_the_prover_refuses_wrong_sums_deltas_and_branches() -> None:
    """Each construct the prover's evaluator walks can fail: a sum one term short, a
    Kronecker delta on the wrong index, the branches of a piecewise form swapped."""
    bn = lc.derive_layer("batch_norm").gradient("x")
    kind = lk.BATCH_NORM
    cases = lp.cases_for(kind, kind.inputs[0], lc.derive_layer(kind).upstream)
    assert lp.prove(bn.compact, kind, bn.indices, cases, "as derived").accepted
    short = bn.compact.replace(
        lambda e: isinstance(e, sp.Sum),
        lambda e: sp.Sum(e.function, (e.limits[0][0], 1, e.limits[0][2] - 1)),
    )
    assert short != bn.compact
    assert not lp.prove(short, kind, bn.indices, cases, "one term short").accepted
    dense = lc.derive_layer("dense").gradient("x")
    (q,) = dense.indices
    (delta,) = dense.index_form.atoms(sp.KroneckerDelta)
    other = next(a for a in delta.args if a != q)
    moved = dense.index_form.xreplace({delta: sp.KroneckerDelta(other, q + 1)})
    cases = lp.cases_for(lk.DENSE, lk.DENSE.inputs[0], lc.derive_layer("dense").upstream)
    assert lp.prove(dense.index_form, lk.DENSE, (q,), cases, "as derived").accepted
    assert not lp.prove(moved, lk.DENSE, (q,), cases, "wrong delta").accepted
    kinked = _srelu_like_kind()
    rules = lc.derive_layer(kinked)
    grad = rules.gradient("x")
    (pw,) = grad.compact.atoms(sp.Piecewise)
    (e1, c1), (e2, _) = pw.args
    swapped = grad.compact.xreplace({pw: sp.Piecewise((e2, c1), (e1, True))})
    cases = lp.cases_for(kinked, kinked.inputs[0], rules.upstream)
    assert lp.prove(grad.compact, kinked, grad.indices, cases, "as derived").accepted
    assert not lp.prove(swapped, kinked, grad.indices, cases, "swapped").accepted


@pytest.mark.parametrize("name", KINDS)
def test_solving_a_definition_by_peeling_agrees_with_sympy_solve(name: str) -> None:
    """Each input of an intermediate solved for from its definition (x = μ + σ x̂,
    var = σ² − ε, Σ_r x_rj = m μ_j) equals sympy.solve's unique solution, and where
    sympy.solve finds none or several (μ inside var's sum) no elimination is offered."""
    kind = LAYER_KINDS[name]
    for v in kind.intermediates:
        lhs = v.operand(*v.indices)
        unknowns = [
            e
            for e in v.definition.atoms(sp.Indexed)
            if tuple(e.indices) == tuple(v.indices) and e.base != v.operand.base
        ]
        unknowns += [
            op.scalar for op in kind.operands() if not op.shape and v.definition.has(op.scalar)
        ]
        for unknown in unknowns:
            ours = lc._solve(lhs, v.definition, unknown)
            theirs = sp.solve(sp.Eq(lhs, v.definition), unknown)
            if len(theirs) == 1:
                assert len(ours) == 1 and sp.simplify(ours[0] - theirs[0]) == 0, unknown
            else:
                assert len(ours) != 1, unknown


def test_peeling_refuses_what_it_cannot_undo() -> None:
    """An even power, an unknown twice, an unknown under a function: no peeled solution
    (sympy.solve decides instead), so peeling never invents a branch."""
    x, y, c = sp.symbols("x y c")
    assert lc._peel(y, x**2, x) is None
    assert lc._peel(y, sp.exp(x), x) is None
    assert lc._peel(y, x * (x + c), x) is None
    assert lc._peel(y, sp.sqrt(x + c) / 2, x) == 4 * y**2 - c
    assert sorted(lc._solve(y, x**2, x), key=str) == sorted(sp.solve(y - x**2, x), key=str)


# --- registry errors ----------------------------------------------------------------------------


def test_unknown_kind_is_one_line_listing_the_known_ones() -> None:
    with pytest.raises(SpecError) as err:
        get_layer_kind("batchnorm", "layers[2].kind")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("layers[2].kind: got 'batchnorm'")
    for name in ("dense", "batch_norm", "layer_norm", "dropout", "residual"):
        assert name in message


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("dropout", 0.0, True),
        ("dropout", 0.5, True),
        ("dropout", 1.0, False),
        ("dropout", -0.1, False),
        ("dropout", "0.5", False),
        ("dropout", True, False),
        ("batch_norm", 1e-5, True),
        ("batch_norm", 0.0, False),
        ("layer_norm", float("nan"), False),
        ("layer_norm", float("inf"), False),
    ],
)
def test_hyper_parameters_are_checked_against_their_interval(kind, value, ok) -> None:
    (hyper,) = [h for h in LAYER_KINDS[kind].hyper_parameters if h.name in ("eps", "p")]
    field = f"layers[1].{hyper.name}"
    if ok:
        assert hyper.check(value, field) == value
    else:
        with pytest.raises(SpecError) as err:
            hyper.check(value, field)
        assert str(err.value).startswith(f"{field}: got ")
        assert hyper.interval in str(err.value) and "\n" not in str(err.value)


def test_rules_are_derived_once_per_kind() -> None:
    assert lc.derive_layer("batch_norm") is lc.derive_layer(lk.BATCH_NORM)


def test_malformed_kinds_are_refused_naming_the_field() -> None:
    x = Operand("x", (lk.n,))
    y = Operand("y", (lk.n,))
    table = tuple(
        (p, (("x", Display("x", "x")), ("y", Display("y", "y")))) for p in lk.PROFILE_NAMES
    )
    stray = LayerKind(
        "stray", "", (x,), y, (lk.j_f,), x(lk.j_f) + sp.IndexedBase("w")[lk.j_f], display=table
    )
    with pytest.raises(SpecError, match=r"layer_kinds\[stray\]\.forward: got \['w'\]"):
        register_layer_kind(stray)
    bad_role = LayerKind(
        "bad_role",
        "",
        (x,),
        y,
        (lk.j_f,),
        x(lk.j_f),
        parameters=(LayerParameter(Operand("c", ()), "gain", "ones"),),
        display=table,
    )
    with pytest.raises(SpecError, match=r"parameters\[c\]\.role: got 'gain'"):
        register_layer_kind(bad_role)
    twice = LayerKind(
        "twice",
        "",
        (Operand("x", (lk.n, lk.n)),),
        Operand("y", (lk.n, lk.n)),
        (lk.j_f, lk.j_f),
        Operand("x", (lk.n, lk.n))(lk.j_f, lk.j_f),
        display=table,
    )
    with pytest.raises(SpecError, match=r"output_indices: got \['j', 'j'\]; distinct"):
        register_layer_kind(twice)
    hyper = lk.HyperParameter("x", sp.Symbol("x"), 1.0, 0.0, 2.0)
    shadow = LayerKind(
        "shadow", "", (x,), y, (lk.j_f,), x(lk.j_f), hyper_parameters=(hyper,), display=table
    )
    with pytest.raises(SpecError, match=r"hyper_parameters: got \['x'\]"):
        register_layer_kind(shadow)
    unnamed = LayerKind("unnamed", "", (x,), y, (lk.j_f,), x(lk.j_f), display=table[:2])
    with pytest.raises(SpecError, match=r"display: got 'ng'"):
        register_layer_kind(unnamed)
    clash = LayerKind(
        "clash",
        "",
        (Operand("g", (lk.n,)),),
        y,
        (lk.j_f,),
        Operand("g", (lk.n,))(lk.j_f),
        display=table,
    )
    with pytest.raises(SpecError, match="upstream gradient"):
        register_layer_kind(clash)
    with pytest.raises(SpecError, match="a name not yet registered"):
        register_layer_kind(LayerKind("dense", "", (x,), y, (lk.j_f,), x(lk.j_f), display=table))
    assert "stray" not in LAYER_KINDS and LAYER_KINDS["dense"] is lk.DENSE


# --- PyTorch autograd --------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def test_batch_norm_agrees_with_torch_batchnorm1d_training_mode() -> None:
    torch = _torch()
    rng = np.random.default_rng(3)
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    y, grads = ln.evaluate(
        "batch_norm", {"x": x, "gamma": gamma, "beta": beta, "g": g}, {"eps": 1e-3}
    )
    bn = torch.nn.BatchNorm1d(3, eps=1e-3, dtype=torch.float64)
    bn.train()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    xt = torch.tensor(x, requires_grad=True)
    yt = bn(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["gamma"], bn.weight.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["beta"], bn.bias.grad.numpy(), rtol=0, atol=1e-10)


def test_batch_norm_running_averages_and_prediction_agree_with_torch() -> None:
    """Two training batches update the running mean and (unbiased) variance as torch does;
    prediction then normalises with them; dropout predicts without a mask."""
    torch = _torch()
    rng = np.random.default_rng(9)
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    bn = torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.3, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    hyper = {"eps": 1e-3, "momentum": 0.3}
    running = {"running_mean": np.zeros(3), "running_var": np.ones(3)}
    bn.train()
    for _ in range(2):
        x = rng.normal(loc=2.0, scale=3.0, size=(4, 3))
        bn(torch.tensor(x))
        running = ln.update_running(
            "batch_norm", {"x": x, "gamma": gamma, "beta": beta}, running, hyper
        )
    np.testing.assert_allclose(running["running_mean"], bn.running_mean.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(running["running_var"], bn.running_var.numpy(), rtol=0, atol=1e-12)
    bn.eval()
    x = rng.normal(size=(5, 3))
    y = ln.predict("batch_norm", {"x": x, "gamma": gamma, "beta": beta}, running, hyper)
    np.testing.assert_allclose(y, bn(torch.tensor(x)).detach().numpy(), rtol=0, atol=1e-10)
    h = rng.normal(size=(5, 4))
    dropped = torch.nn.functional.dropout(torch.tensor(h), p=0.5, training=False).numpy()
    np.testing.assert_array_equal(
        ln.predict("dropout", {"x": h}, hyper={"p": 0.5}, batched=True), dropped
    )


def test_layer_norm_agrees_with_torch_layernorm() -> None:
    torch = _torch()
    rng = np.random.default_rng(4)
    x, g = rng.normal(size=4), rng.normal(size=4)
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    y, grads = ln.evaluate(
        "layer_norm", {"x": x, "gamma": gamma, "beta": beta, "g": g}, {"eps": 1e-5}
    )
    norm = torch.nn.LayerNorm(4, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(gamma))
        norm.bias.copy_(torch.tensor(beta))
    xt = torch.tensor(x, requires_grad=True)
    yt = norm(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["gamma"], norm.weight.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["beta"], norm.bias.grad.numpy(), rtol=0, atol=1e-10)


def test_dropout_agrees_with_torch_dropout_given_its_mask() -> None:
    """Torch draws the mask; the kind, given the same mask, matches its output and gradient."""
    torch = _torch()
    rng = np.random.default_rng(5)
    x, g = rng.uniform(0.5, 2.0, size=8), rng.normal(size=8)  # x ≠ 0: the mask is readable
    p = 0.25
    torch.manual_seed(0)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.dropout(xt, p=p, training=True)
    yt.backward(torch.tensor(g))
    mask = (yt.detach().numpy() != 0).astype(float)
    assert 0 < mask.sum() < mask.size
    y, grads = ln.evaluate("dropout", {"x": x, "mask": mask, "g": g}, {"p": p})
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads["x"], xt.grad.numpy(), rtol=0, atol=1e-10)


def test_residual_fan_out_with_dense_branch_agrees_with_torch() -> None:
    """y = x + (W x + b): x's gradient is the sum of the residual's and the branch's rules."""
    torch = _torch()
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=3), rng.normal(size=3)
    W, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    z, dense = ln.evaluate("dense", {"x": x, "W": W, "b": b, "g": g})
    y, residual = ln.evaluate("residual", {"x": x, "f": z, "g": g})
    # The branch sees the residual's gradient for f; x fans out, so its two gradients add.
    _, branch = ln.evaluate("dense", {"x": x, "W": W, "b": b, "g": residual["f"]})
    dx = residual["x"] + branch["x"]
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    yt = xt + torch.nn.functional.linear(xt, Wt, bt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(branch["W"], Wt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(branch["b"], bt.grad.numpy(), rtol=0, atol=1e-10)


def test_batched_per_sample_kinds_agree_with_torch_at_full_size() -> None:
    """A 784 → 256 dense layer then layer norm and dropout on a batch of 16: the evaluator
    runs the proven compact forms vectorised (no per-size expansion), parameter gradients
    summed over the batch, as torch accumulates them."""
    torch = _torch()
    rng = np.random.default_rng(8)
    batch, n_in, n_out, p = 16, 784, 256, 0.2
    x = rng.normal(size=(batch, n_in))
    W, b = rng.normal(size=(n_out, n_in)) / 28, rng.normal(size=n_out)
    gamma, beta = rng.normal(size=n_out), rng.normal(size=n_out)
    mask = (rng.uniform(size=(batch, n_out)) > p).astype(float)
    g = rng.normal(size=(batch, n_out))

    z, _ = ln.evaluate("dense", {"x": x, "W": W, "b": b, "g": g}, batched=True)
    h, _ = ln.evaluate(
        "layer_norm", {"x": z, "gamma": gamma, "beta": beta, "g": g}, {"eps": 1e-5}, batched=True
    )
    y, drop = ln.evaluate("dropout", {"x": h, "mask": mask, "g": g}, {"p": p}, batched=True)
    _, norm = ln.evaluate(
        "layer_norm",
        {"x": z, "gamma": gamma, "beta": beta, "g": drop["x"]},
        {"eps": 1e-5},
        batched=True,
    )
    _, dense = ln.evaluate("dense", {"x": x, "W": W, "b": b, "g": norm["x"]}, batched=True)

    xt = torch.tensor(x, requires_grad=True)
    Wt, bt, gt, btt = (torch.tensor(a, requires_grad=True) for a in (W, b, gamma, beta))
    zt = torch.nn.functional.linear(xt, Wt, bt)
    ht = torch.nn.functional.layer_norm(zt, (n_out,), gt, btt, eps=1e-5)
    yt = ht * torch.tensor(mask) / (1 - p)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=1e-10)
    for ours, theirs in [
        (dense["x"], xt.grad),
        (dense["W"], Wt.grad),
        (dense["b"], bt.grad),
        (norm["gamma"], gt.grad),
        (norm["beta"], btt.grad),
    ]:
        assert ours.shape == tuple(theirs.shape)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-10)


def test_batch_coupled_kinds_refuse_a_second_batch_axis() -> None:
    with pytest.raises(SymPropError, match="batch-coupled"):
        ln.evaluate("batch_norm", {}, batched=True)
    with pytest.raises(SymPropError, match="needs an array for 'W'"):
        ln.evaluate("dense", {"x": np.ones(2), "b": np.ones(2), "g": np.ones(2)})


def test_srelu_registered_at_run_time_is_derived_and_agrees_with_torch() -> None:
    """nerva-sympy's SReLU (a piecewise-linear unit with learned thresholds and slopes),
    registered as one entry: its four parameter gradients and the local gradient are
    derived through the piecewise definition, proven, and agree with torch autograd of an
    independent torch.where implementation."""
    torch = _torch()
    n, j = lk.n, lk.j_f
    x, y = Operand("x", (n,)), Operand("y", (n,))
    tl, al, tr, ar = (Operand(name, (n,)) for name in ("t_l", "a_l", "t_r", "a_r"))
    forward = sp.Piecewise(
        (tl(j) + al(j) * (x(j) - tl(j)), x(j) <= tl(j)),
        (x(j), x(j) < tr(j)),
        (tr(j) + ar(j) * (x(j) - tr(j)), True),
    )
    names = ("x", "y", "t_l", "a_l", "t_r", "a_r")
    table = tuple((p, tuple((k, Display(k, k)) for k in names)) for p in lk.PROFILE_NAMES)
    kind = LayerKind(
        "srelu",
        "S-shaped ReLU",
        (x,),
        y,
        (j,),
        forward,
        parameters=(
            LayerParameter(tl, "shift", "zeros"),
            LayerParameter(al, "scale", "zeros"),
            LayerParameter(tr, "shift", "ones"),
            LayerParameter(ar, "scale", "ones"),
        ),
        display=table,
    )
    register_layer_kind(kind)
    try:
        rules = lc.derive_layer("srelu")
        for grad in (*rules.inputs, *rules.parameters):
            assert grad.refused == () and not grad.compact.has(sp.Sum, sp.KroneckerDelta)
        rng = np.random.default_rng(10)
        values = {
            "x": rng.normal(scale=2.0, size=(6, 5)),
            "t_l": rng.uniform(-1.0, -0.2, size=5),
            "a_l": rng.uniform(0.0, 0.3, size=5),
            "t_r": rng.uniform(0.2, 1.0, size=5),
            "a_r": rng.uniform(0.5, 2.0, size=5),
            "g": rng.normal(size=(6, 5)),
        }
        out, grads = ln.evaluate("srelu", values, batched=True)
    finally:
        unregister_layer_kind("srelu")
    t = {k: torch.tensor(v, requires_grad=k != "g") for k, v in values.items()}
    xt = t["x"]
    yt = torch.where(
        xt <= t["t_l"],
        t["t_l"] + t["a_l"] * (xt - t["t_l"]),
        torch.where(xt < t["t_r"], xt, t["t_r"] + t["a_r"] * (xt - t["t_r"])),
    )
    yt.backward(t["g"])
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=0, atol=1e-12)
    for name in ("x", "t_l", "a_l", "t_r", "a_r"):
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=0, atol=1e-12)
