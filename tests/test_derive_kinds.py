"""Deriving and proving networks of layer kinds (issue 16, items 1 and 2).

Every (layer kind × activation × loss) combination the validator accepts derives and passes
``Derivation.check()``: the printed summary steps against central differences of the batch
cost evaluated layer by layer from the kinds' forward definitions, and, for each kind in a
small network, against ``sympy.diff`` of the whole batch cost. The product is covered in
two passes: each kind with each hidden activation on its own layer, and each accepted
(output activation, loss) pair once with each kind as the output layer.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import pytest
import sympy as sp

from symprop import Network, derive
from symprop.cli.main import main as cli_main
from symprop.core import instance
from symprop.core import symbols as g
from symprop.core.errors import SpecError, SymPropWarning
from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import (
    LAYER_KINDS,
    Display,
    HyperParameter,
    Intermediate,
    LayerKind,
    LayerParameter,
    Operand,
    index,
    register_layer_kind,
    size,
    unregister_layer_kind,
)
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import BatchNorm, Dense, Dropout, Layer, LayerNorm, Residual
from symprop.core.topology import sets_width
from symprop.derivation import network as network_steps
from symprop.derivation.build import Derivation
from symprop.derivation.check import check_derivation
from symprop.derivation.generic import GENERIC_KIND
from symprop.derivation.kinds import kind_steps

HIDDEN = [name for name, act in ACTIVATIONS.items() if act.hidden_allowed]
# The generic kind (dense) alone makes a plain dense chain, checked per (activation, loss)
# and depth by test_core_derivation; here every other kind, each next to dense layers.
KINDS = [name for name in LAYER_KINDS if name != GENERIC_KIND]


def _pairs() -> list[tuple[str, str]]:
    """Every (output activation, loss) pair the spec validation accepts."""
    out = []
    for act in ACTIVATIONS:
        for loss in LOSSES:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SymPropWarning)  # accepted, with advice
                    Network(inputs=2, layers=[Dense(2, act)], loss=loss)
            except SpecError:
                continue
            out.append((act, loss))
    return out


PAIRS = _pairs()


def _kind_layer(kind: str, activation: str) -> list[Layer]:
    """A layer of ``kind`` after a named tanh layer ``h``; a kind with two inputs adds ``h``
    to a tanh branch between them (y = h + F(h))."""
    width = 2 if sets_width(LAYER_KINDS[kind]) else None
    first = Dense(2, "tanh", name="h")
    if len(LAYER_KINDS[kind].inputs) == 2:
        return [first, Dense(2, "tanh"), Layer(kind, width, activation, inputs="h")]
    return [first, Layer(kind, width, activation)]


def _report_names(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name, _, _ in report.results]


def _assert_every_step_checked(d: Derivation, report) -> None:  # type: ignore[no-untyped-def]
    if d.network.dense_chain:
        return  # a plain dense chain is checked as before (test_core_derivation)
    names = " ".join(_report_names(report))
    for st in d.steps:
        if st.id.startswith("summary.delta.") or st.id.startswith("summary.grad_"):
            assert f"({st.id})" in names, st.id


@pytest.mark.parametrize("act", HIDDEN)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_with_each_activation(kind: str, act: str) -> None:
    layers = [*_kind_layer(kind, act), Dense(2, "sigmoid")]
    net = Network(inputs=2, layers=layers, loss="binary_cross_entropy", l2=0.01)
    d = derive(net)
    report = check_derivation(d, points=1, route="compositional")
    assert report.ok, str(report)
    _assert_every_step_checked(d, report)


@pytest.mark.parametrize(("act", "loss"), PAIRS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_output_pair_with_each_kind(kind: str, act: str, loss: str) -> None:
    # The kind's layer is the output layer and carries the pair under test.
    try:
        net = Network(inputs=2, layers=_kind_layer(kind, act), loss=loss)
    except SpecError as exc:  # pragma: no cover - the validator refusing is not a failure
        pytest.skip(str(exc))
    d = derive(net)
    report = check_derivation(d, points=1, route="compositional")
    assert report.ok, str(report)
    _assert_every_step_checked(d, report)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_against_sympy_diff_of_the_whole_batch(kind: str) -> None:
    # The reference: the batch cost (a batch of 3 for a batch-coupled kind) as one SymPy
    # expression, differentiated by sympy.diff, against the same printed steps.
    layers = _kind_layer(kind, "softplus")
    if len(layers) == 2:
        layers = layers[1:]  # the kind first: the smallest network that holds it
    net = Network(inputs=2, layers=[*layers, Dense(2, "sigmoid")], loss="binary_cross_entropy")
    d = derive(net)
    report = check_derivation(d, points=1, route="reference")
    assert report.ok, str(report)
    assert all(
        "sympy.diff of the whole batch cost" in how
        for name, _, how in report.results
        if name.startswith(("δ", "∂"))
    )
    _assert_every_step_checked(d, report)


def _residual_net() -> Network:
    return Network(
        inputs=2,
        layers=[
            Dense(3, "tanh", name="h1"),
            Dense(3, "softplus"),
            Residual("h1", "tanh"),
            Dense(2, "softmax"),
        ],
        loss="cross_entropy",
    )


def test_residual_fan_out_is_a_sum_justified_by_the_chain_rule() -> None:
    d = derive(_residual_net())
    step = d.step("summary.delta.1")
    # a¹ feeds layer 2 (dense) and layer 3 (the residual add): two terms, summed.
    first = step.chain[0][0]
    total = first.args[0]
    assert isinstance(total, sp.MatAdd) and len(total.args) == 2
    assert g.matrix("W", 2).T * g.vector("delta", 2) in total.args
    assert g.vector("delta", 3) in total.args
    assert "multivariable chain rule" in step.chain[0][1].text
    report = d.check(points=2)
    assert report.ok, str(report)


def _with_rhs(d: Derivation, step_id: str, rhs: sp.Basic) -> Derivation:
    steps = tuple(
        dataclasses.replace(st, chain=(*st.chain[:-1], (rhs, st.chain[-1][1])))
        if st.id == step_id
        else st
        for st in d.steps
    )
    return dataclasses.replace(d, steps=steps)


def test_a_dropped_fan_out_term_fails_naming_the_step() -> None:
    d = derive(_residual_net())
    step = d.step("summary.delta.1")
    rhs = step.rhs
    # Keep only the path through the dense layer: the skip's term is missing.
    mat_add, dphi = rhs.args
    wrong = sp.HadamardProduct(g.matrix("W", 2).T * g.vector("delta", 2), dphi)
    assert wrong != rhs and isinstance(mat_add, sp.MatAdd)
    report = _with_rhs(d, "summary.delta.1", wrong).check(points=1)
    assert not report.ok
    failed = [name for name, ok, _ in report.results if not ok]
    assert any("summary.delta.1" in name for name in failed), failed
    # The gradients of layer 1 read δ¹ only through their own steps, so they still pass.
    assert not any("summary.delta.2" in name or "summary.delta.3" in name for name in failed)


def test_a_wrong_kind_rule_fails_naming_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # Batch norm's local gradient with its last term (−x̂ Σ g x̂) dropped, as if a rewrite
    # had lost it: derive prints the wrong δ, and check names that step.
    rules = derive_layer("batch_norm")
    grad = rules.inputs[0]
    xhat = sp.IndexedBase("xhat")
    wrong_compact = grad.compact.replace(
        lambda e: isinstance(e, sp.Mul) and e.has(sp.Sum) and e.has(xhat) and not e.has(sp.Pow),
        lambda e: sp.Integer(0) if any(isinstance(f, sp.Sum) for f in e.args) else e,
    )
    assert wrong_compact != grad.compact
    tampered = dataclasses.replace(
        rules, inputs=(dataclasses.replace(grad, compact=wrong_compact),)
    )
    real = network_steps.derive_layer
    monkeypatch.setattr(
        network_steps,
        "derive_layer",
        lambda kind: tampered if getattr(kind, "name", kind) == "batch_norm" else real(kind),
    )
    net = Network(
        inputs=2,
        layers=[Dense(2, "tanh"), BatchNorm("softplus"), Dense(2, "sigmoid")],
        loss="binary_cross_entropy",
    )
    report = derive(net).check(points=1)
    failed = [name for name, ok, _ in report.results if not ok]
    assert any("summary.delta.1" in name for name in failed), str(report)
    assert not any("summary.delta.2" in name for name in failed)


def test_batch_level_layers_are_written_for_the_batch_sample_first() -> None:
    net = Network(
        inputs=2,
        layers=[Dense(3, "relu"), BatchNorm("tanh"), Dense(2, "sigmoid")],
        loss="binary_cross_entropy",
    )
    d = derive(net)
    assert [lf.batch_level for lf in d.layers] == [True, False, False]
    lhs = d.step("summary.delta.1").lhs
    assert lhs == g.indexed("delta", 1)[g.i, g.j]
    assert d.step("summary.delta.2").form == "matrix"
    # γ's gradient is the kind's batch sum over the samples, divided by the batch size.
    grad_gamma = d.step("summary.grad_gamma.2").rhs
    assert grad_gamma.has(g.indexed("delta", 2)) and grad_gamma.has(g.n_batch)
    assert d.section("kinds") and all(
        st.id.startswith("kind.batch_norm.") for st in d.section("kinds")
    )


def test_a_dense_chain_derives_as_before() -> None:
    net = Network(inputs=2, layers=[Dense(3, "tanh"), Dense(1, "sigmoid")], loss="mse")
    d = derive(net)
    assert not d.section("kinds")
    assert d.step("forward.layer.2.z").rhs == g.matrix("W", 2) * g.vector("a", 1) + g.vector("b", 2)
    assert not any(st.id.startswith("forward.layer.1.mu") for st in d.steps)


def test_the_small_instance_builder_is_the_dense_brute_force_network() -> None:
    # instance.build (and symbols.instantiate, its dense view) against a dense chain
    # written out by hand from the registry: z = W a + b, a = φ(z), C = Σ ℓ(a, y).
    net = Network(
        inputs=2,
        layers=[Dense(2, "elu", alpha=0.5), Dense(2, "softmax")],
        loss="cross_entropy",
        l2=0.1,
    )
    built = instance.build(net, 2)
    z = ACTIVATIONS["elu"].instantiate({"alpha": 0.5})
    for s in (1, 2):
        x = sp.Matrix(sp.symbols(f"x{s}_1 x{s}_2", real=True))
        y = sp.Matrix(sp.symbols(f"y{s}_1 y{s}_2", real=True))
        W1 = sp.Matrix(2, 2, lambda r, c: sp.Symbol(f"w1_{r + 1}{c + 1}", real=True))
        W2 = sp.Matrix(2, 2, lambda r, c: sp.Symbol(f"w2_{r + 1}{c + 1}", real=True))
        b1 = sp.Matrix(sp.symbols("b1_1 b1_2", real=True))
        b2 = sp.Matrix(sp.symbols("b2_1 b2_2", real=True))
        z1 = W1 * x + b1
        a1 = z1.applyfunc(lambda e: z.subs(sp.Symbol("z", real=True), e))
        z2 = W2 * a1 + b2
        a2 = z2.applyfunc(sp.exp) / sum(z2.applyfunc(sp.exp))
        cost = -sum(y[r] * sp.log(a2[r]) for r in range(2))
        assert sp.simplify(built.z[1][s - 1] - z1) == sp.zeros(2, 1)
        point = {v: sp.Rational(k + 1, 7) for k, v in enumerate(sorted(cost.free_symbols, key=str))}
        assert abs(sp.N(built.costs[s - 1].xreplace(point) - cost.xreplace(point), 50)) < 1e-40
        assert g.instantiate_sample(net, s).cost == built.costs[s - 1]
    assert built.l2 == sp.Rational(1, 10)
    assert sp.expand(built.objective - built.cost) == sp.Rational(1, 10) * sum(
        w**2 for key in (("W", 1), ("W", 2)) for w in built.parameters[key]
    )


def test_the_small_instance_builder_dropout_mask_is_given_per_sample() -> None:
    net = Network(
        inputs=2, layers=[Dense(2, "tanh"), Dropout(0.5), Dense(1, "identity")], loss="mse"
    )
    built = instance.build(net, 2)
    masks = built.given[("mask", 2)]
    assert len(masks) == 2 and masks[0] != masks[1]
    # z² = mask ⊙ a¹ / (1 − p), entry by entry, with p = 1/2.
    assert sp.simplify(built.z[2][1][0] - 2 * masks[1][0] * built.a[1][1][0]) == 0


def _toy_kind() -> LayerKind:
    """y_j = s_j x_j + x_j²: a parameter of role scale, a nonlinearity of its own."""
    n = size("n")
    j = index("j")
    x = Operand("x", (n,), "input")
    y = Operand("y", (n,), "output")
    s = Operand("s", (n,), "scale")
    shown = {"x": Display("x", "x"), "y": Display("y", "y"), "s": Display("s", "s")}
    return LayerKind(
        name="toy_scale",
        description="y = s ⊙ x + x ⊙ x",
        inputs=(x,),
        output=y,
        output_indices=(j,),
        forward=s(j) * x(j) + x(j) ** 2,
        parameters=(LayerParameter(s, "scale", "ones"),),
        display=tuple((p, tuple(shown.items())) for p in ("nielsen", "goodfellow", "ng")),
    )


def test_a_kind_registered_at_run_time_derives_and_checks() -> None:
    register_layer_kind(_toy_kind())
    try:
        net = Network(
            inputs=2,
            layers=[Dense(2, "tanh"), Layer("toy_scale", None, "sigmoid"), Dense(2, "sigmoid")],
            loss="binary_cross_entropy",
        )
        d = derive(net)
        assert d.step("summary.grad_s.2")
        assert any(st.id.startswith("kind.toy_scale.") for st in d.section("kinds"))
        report = d.check(points=2)
        assert report.ok, str(report)
        _assert_every_step_checked(d, report)
    finally:
        unregister_layer_kind("toy_scale")


def test_a_16_layer_network_of_every_kind_derives_and_checks_quickly() -> None:
    layers: list[Layer] = [Dense(3, "tanh", name="s0")]
    for n in range(3):
        layers += [
            BatchNorm("relu"),
            Dense(3, "tanh"),
            Residual(f"s{n}", "tanh", name=f"s{n + 1}"),
            Dropout(0.1),
            LayerNorm("softplus"),
        ]
    net = Network(inputs=2, layers=[*layers[:15], Dense(2, "softmax")], loss="cross_entropy")
    assert net.depth == 16
    # Each kind's rules and section are derived and proven once per process (cached, and
    # independent of depth); time the network.
    for kind in LAYER_KINDS:
        derive_layer(kind)
        kind_steps(kind)
    start = time.perf_counter()
    d = derive(net)
    report = d.check(points=1)
    elapsed = time.perf_counter() - start
    print(
        f"16-layer network (dense, batch norm, residual, dropout, layer norm): derive + check {elapsed:.1f} s"
    )
    assert report.ok, str(report)
    _assert_every_step_checked(d, report)


def test_the_small_instance_builder_replaces_one_samples_activation() -> None:
    # What verify's brute force needs: a^1 of sample 1 replaced by fresh symbols, sample 2
    # as computed; the batch cost then depends on the fresh symbols through layers 2 on.
    net = Network(
        inputs=2, layers=[Dense(2, "tanh"), BatchNorm("identity"), Dense(1, "identity")], loss="mse"
    )
    fresh = sp.Matrix(sp.symbols("u1 u2", real=True))
    built = instance.build(net, 2, override_a={1: (fresh, None)})
    plain = instance.build(net, 2)
    assert built.a[1][0] == fresh and built.a[1][1] == plain.a[1][1]
    assert built.z[3][1].free_symbols & set(fresh)  # batch norm couples sample 2 to u
    assert (
        sp.simplify(built.cost.xreplace(dict(zip(fresh, plain.a[1][0], strict=True))) - plain.cost)
        == 0
    )


def _scaled(grad, factor):  # type: ignore[no-untyped-def]
    """A gradient whose compact and matrix forms are off by ``factor``."""
    return dataclasses.replace(
        grad,
        compact=factor * grad.compact,
        matrix=None if grad.matrix is None else factor * grad.matrix,
    )


def _tampered_rules(monkeypatch: pytest.MonkeyPatch, kind: str, rules) -> None:  # type: ignore[no-untyped-def]
    real = network_steps.derive_layer
    monkeypatch.setattr(
        network_steps,
        "derive_layer",
        lambda k: rules if getattr(k, "name", k) == kind else real(k),
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_local_gradient_of_any_kind_fails_naming_the_step(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The gradient the kind passes back to its first input, off by 3/2: every path (matrix
    # form, per-sample index form, batch-level index form) must catch it at that input.
    rules = derive_layer(kind)
    wrong = (_scaled(rules.inputs[0], sp.Rational(3, 2)), *rules.inputs[1:])
    _tampered_rules(monkeypatch, kind, dataclasses.replace(rules, inputs=wrong))
    net = Network(inputs=2, layers=[*_kind_layer(kind, "tanh"), Dense(2, "sigmoid")], loss="mse")
    report = derive(net).check(points=1)
    failed = [name for name, ok, _ in report.results if not ok]
    assert any("(summary.delta.1)" in name for name in failed), str(report)
    # Steps above the kind's input do not read the wrong rule.
    assert not any(f"(summary.delta.{net.depth})" in name for name in failed)


@pytest.mark.parametrize("kind", [k for k in KINDS if LAYER_KINDS[k].parameters])
def test_a_wrong_parameter_gradient_of_any_kind_fails_naming_the_step(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = derive_layer(kind)
    wrong = (_scaled(rules.parameters[0], sp.Rational(3, 2)), *rules.parameters[1:])
    _tampered_rules(monkeypatch, kind, dataclasses.replace(rules, parameters=wrong))
    net = Network(inputs=2, layers=[*_kind_layer(kind, "tanh"), Dense(2, "sigmoid")], loss="mse")
    report = derive(net).check(points=1)
    failed = [name for name, ok, _ in report.results if not ok]
    lay = len(_kind_layer(kind, "tanh"))
    name = LAYER_KINDS[kind].parameters[0].name
    assert failed == [n for n in failed if f"(summary.grad_{name}.{lay})" in n], failed
    assert failed, str(report)


def test_weight_decay_covers_weights_and_biases_never_scale_or_shift() -> None:
    net = Network(
        inputs=2,
        layers=[Dense(2, "tanh"), LayerNorm("softplus"), Dense(2, "sigmoid")],
        loss="binary_cross_entropy",
        l2=0.25,
        regularize_biases=True,
    )
    d = derive(net)
    lam = g.scalar("lambda")
    assert d.step("summary.grad_b.1").rhs.has(lam)
    assert not d.step("summary.grad_gamma.2").rhs.has(lam)
    assert not d.step("summary.grad_beta.2").rhs.has(lam)
    assert not d.step("cost.objective").rhs.has(g.array("gamma", 2, g.width(2)))
    # The reference objective penalises the same parameters (instance.decayed), and the
    # printed gradients agree with its derivatives.
    report = d.check(points=2)
    assert report.ok, str(report)


_KINDS_TOML = """
name = "kinds_demo"
inputs = 3
loss = "cross_entropy"

[[layers]]
name = "h1"
width = 3
activation = "tanh"

[[layers]]
kind = "batch_norm"
activation = "softplus"

[[layers]]
width = 3
activation = "tanh"

[[layers]]
kind = "residual"
inputs = ["h1"]
activation = "tanh"

[[layers]]
kind = "dropout"
p = 0.25

[[layers]]
width = 2
activation = "softmax"
"""


def test_symprop_derive_prints_the_steps_of_a_network_of_kinds(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "kinds.toml"
    spec.write_text(_KINDS_TOML, encoding="utf-8")
    code = 0
    try:
        cli_main(["derive", str(spec)])
    except SystemExit as exc:  # the CLI exits only on an error
        code = exc.code
    out = capsys.readouterr().out
    assert code in (0, None), out
    lines = out.splitlines()
    # δ¹ is batch-level (batch norm reads it) and fans out to layers 2 and 4: index form,
    # sample first, the sum's reason on the printed line.
    (delta1,) = [ln for ln in lines if ln.strip().startswith("δ¹ᵢⱼ =")]
    assert "feeds layers 2 and 4" in delta1 and "multivariable chain rule" in delta1
    # dropout's rate is bound to the layer (1/(1 − 1/4) = 4/3), batch norm's γ, β have gradients.
    assert any(ln.strip().startswith("δ⁴ = (4/3 (δ⁵ ⊙ m⁵))") for ln in lines), out
    assert any(ln.strip().startswith("∂J/∂γ²ⱼ =") for ln in lines)
    assert "Check ✓" in out


def _rms_kind() -> LayerKind:
    """RMS normalisation y_j = κ_j x_j / ρ, ρ = √(ε + Σ x²/n): a per-sample scalar
    intermediate (an array without axes), registered at run time."""
    n = size("n")
    j, r = index("j"), index("r")
    x = Operand("x", (n,), "input")
    y = Operand("y", (n,), "output")
    k = Operand("gain", (n,), "per-unit gain")
    rho = Operand("rms", (), "root mean square", positive=True)
    eps = sp.Symbol("epsilon", positive=True)
    shown = {
        "x": Display("x", "x"),
        "y": Display("y", "y"),
        "gain": Display(r"\kappa", "κ"),
        "rms": Display(r"\rho", "ρ"),
    }
    return LayerKind(
        name="rms_test",
        description="y = κ x / ρ",
        inputs=(x,),
        output=y,
        output_indices=(j,),
        forward=k(j) * x(j) / rho(),
        intermediates=(Intermediate(rho, (), sp.sqrt(eps + sp.Sum(x(r) ** 2, (r, 1, n)) / n)),),
        parameters=(LayerParameter(k, "scale", "ones"),),
        hyper_parameters=(HyperParameter("eps", eps, 1e-5, 0.0, float("inf"), "added"),),
        display=tuple((p, tuple(shown.items())) for p in ("nielsen", "goodfellow", "ng")),
    )


def _rms_net() -> Network:
    return Network(
        inputs=3,
        layers=[Dense(4, "tanh"), Layer("rms_test", None, "sigmoid"), Dense(2, "softmax")],
        loss="cross_entropy",
    )


def test_a_run_time_kind_with_a_per_sample_scalar_intermediate_checks() -> None:
    # The parameter's summary step reads ρ: it is ρ at layer 2, one value per sample
    # (not the kind's bare ρ), and the check evaluates it against central differences.
    register_layer_kind(_rms_kind())
    try:
        d = derive(_rms_net())
        step = d.step("summary.grad_gain.2")
        assert sp.Symbol("rms", positive=True) not in step.rhs.free_symbols
        report = d.check(points=2)
        assert report.ok, str(report)
        _assert_every_step_checked(d, report)
    finally:
        unregister_layer_kind("rms_test")


def test_a_wrong_parameter_rule_of_a_run_time_scalar_kind_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_layer_kind(_rms_kind())
    try:
        rules = derive_layer("rms_test")
        wrong = (_scaled(rules.parameters[0], sp.Rational(3, 2)),)
        _tampered_rules(monkeypatch, "rms_test", dataclasses.replace(rules, parameters=wrong))
        report = derive(_rms_net()).check(points=1)
        failed = [name for name, ok, _ in report.results if not ok]
        assert any("(summary.grad_gain.2)" in name for name in failed), str(report)
    finally:
        unregister_layer_kind("rms_test")
