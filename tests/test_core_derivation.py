"""The derivation engine: structure, self-verification, determinism and the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symprop import (
    ACTIVATIONS,
    LOSSES,
    Dense,
    Network,
    SpecError,
    default_network,
    derive,
)
from symprop.core.calculus import derive_output_delta
from symprop.core.registry import a, a_vec, j_idx, y_vec
from symprop.core.why import Why

HIDDEN = [name for name, act in ACTIVATIONS.items() if act.hidden_allowed]


def _pairs() -> list[tuple[str, str]]:
    """Every (output activation, loss) pair the spec validation accepts."""
    out = []
    for act in ACTIVATIONS:
        for loss in LOSSES:
            try:
                Network(inputs=2, layers=[Dense(2, act)], loss=loss)
            except SpecError:
                continue
            out.append((act, loss))
    return out


PAIRS = _pairs()


def test_pair_list_covers_registry() -> None:
    # mse and half_sse work with every activation; the cross-entropies need (0, 1) outputs:
    # sigmoid with both, softmax with cross_entropy only (its outputs are coupled, so they
    # are not the independent probabilities binary cross-entropy takes).
    assert len(PAIRS) == 2 * len(ACTIVATIONS) + 3
    assert ("relu", "binary_cross_entropy") not in PAIRS
    assert ("softmax", "binary_cross_entropy") not in PAIRS


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize(("act", "loss"), PAIRS)
def test_check_passes_for_every_pair_and_depth(act: str, loss: str, depth: int) -> None:
    # Hidden layers cycle through every hidden activation so that each recurrence is
    # exercised; the output layer carries the pair under test.
    start = HIDDEN.index(act) if act in HIDDEN else 0
    hidden = [HIDDEN[(start + n) % len(HIDDEN)] for n in range(depth - 1)]
    net = Network(
        inputs=2, layers=[*(Dense(3, h) for h in hidden), Dense(2, act)], loss=loss, l2=0.01
    )
    report = derive(net).check(points=2)
    assert report.ok, str(report)
    names = [name for name, _, _ in report.results]
    assert sum(n.startswith("δ^") for n in names) == depth
    assert sum(n.startswith("∂J/∂W^") for n in names) == depth


def test_check_with_regularised_biases() -> None:
    net = Network(
        inputs=2,
        layers=[Dense(3, "tanh"), Dense(2, "sigmoid")],
        loss="mse",
        l2=0.3,
        regularize_biases=True,
    )
    d = derive(net)
    assert d.check().ok
    assert "biases are regularised" in d.step("batch.grad_J.b").chain[0][1].text


def _tampered_output(d, expr):  # type: ignore[no-untyped-def]
    od = dataclasses.replace(d.output_delta, expr=expr)
    return dataclasses.replace(d, output_delta=od)


def test_check_names_a_wrong_output_delta() -> None:
    net = Network(
        inputs=2, layers=[Dense(3, "tanh"), Dense(2, "sigmoid")], loss="binary_cross_entropy"
    )
    d = derive(net)
    wrong = _tampered_output(d, (a_vec[j_idx] - y_vec[j_idx]) * a_vec[j_idx] * (1 - a_vec[j_idx]))
    report = wrong.check()
    assert not report.ok
    failed = report.failures
    assert any(f.startswith("δ^2 (output layer)") for f in failed)
    # The error propagates: the hidden δ and every gradient are wrong too.
    assert any(f.startswith("δ^1 (hidden recurrence)") for f in failed)
    with pytest.raises(AssertionError, match="derivation check failed"):
        wrong.check(strict=True)


def test_check_names_a_wrong_activation_derivative() -> None:
    net = Network(
        inputs=2, layers=[Dense(3, "tanh"), Dense(1, "sigmoid")], loss="binary_cross_entropy"
    )
    d = derive(net)
    bad_dphi = dataclasses.replace(d.layers[0].dphi, form=1 - a)  # the missing square
    bad_layer = dataclasses.replace(d.layers[0], dphi=bad_dphi)
    report = dataclasses.replace(d, layers=(bad_layer, d.layers[1])).check()
    failed = report.failures
    assert any(f.startswith("φ' of tanh") for f in failed)
    assert any(f.startswith("δ^1 (hidden recurrence)") for f in failed)
    assert not any(f.startswith("δ^2") for f in failed)


def test_check_catches_a_missing_two_in_mse() -> None:
    net = Network(inputs=2, layers=[Dense(2, "identity")], loss="mse")
    d = derive(net)
    assert derive_output_delta("identity", "mse").canonical_factor == 2
    halved = _tampered_output(d, a_vec[j_idx] - y_vec[j_idx])
    assert not halved.check().ok


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    widths=st.lists(st.integers(1, 600), min_size=1, max_size=4),
    hidden=st.lists(st.sampled_from(HIDDEN), min_size=3, max_size=3),
    pair=st.sampled_from(PAIRS),
    l2=st.sampled_from([0.0, 1e-4, 0.5]),
)
def test_random_architectures_verify(widths, hidden, pair, l2) -> None:  # type: ignore[no-untyped-def]
    act, loss = pair
    out_width = max(widths[-1], 2) if act == "softmax" else widths[-1]
    layers = [Dense(w, h) for w, h in zip(widths[:-1], hidden, strict=False)] + [
        Dense(out_width, act)
    ]
    net = Network(inputs=3, layers=layers, loss=loss, l2=l2)
    d = derive(net)
    assert len(d.section("summary")) == 3 * net.depth - 1 + 1
    assert d.check(points=1).ok


def test_derivation_does_not_depend_on_width() -> None:
    """Deriving is per layer: the formulas hold symbolic widths, never the numbers."""
    small = derive(
        Network(inputs=4, layers=[Dense(4, "relu"), Dense(4, "softmax")], loss="cross_entropy")
    )
    large = derive(
        Network(
            inputs=512, layers=[Dense(512, "relu"), Dense(512, "softmax")], loss="cross_entropy"
        )
    )
    assert [s.id for s in small.steps] == [s.id for s in large.steps]
    for s_small, s_large in zip(small.steps, large.steps, strict=True):
        assert sp.sstr(s_small.chain) == sp.sstr(s_large.chain)
        assert not any(rhs.has(sp.Integer(512)) for rhs, _ in s_large.chain)


def test_steps_are_ordered_and_justified() -> None:
    d = derive(default_network())
    sections = [s.section for s in d.steps]
    order = [
        "forward",
        "cost",
        "activation",
        "output_delta",
        "hidden_delta",
        "gradients",
        "batch",
        "update",
        "summary",
    ]
    firsts = [sections.index(name) for name in order]
    assert firsts == sorted(firsts)
    for step in d.steps:
        assert step.chain, step.id
        for _, why in step.chain:
            assert why.segments, step.id
    chain = d.step("delta.output.index").chain
    assert chain[0][1] == Why.of("by definition of the local gradient")
    assert any("chain rule" in why.text for _, why in chain)
    assert (
        sp.expand(
            chain[-1][0]
            - (
                sp.IndexedBase("a[3]")[sp.Symbol("j", integer=True, positive=True)]
                - sp.IndexedBase("y")[sp.Symbol("j", integer=True, positive=True)]
            )
        )
        == 0
    )


def test_hidden_recurrence_factor_is_derived_by_diff() -> None:
    """∂z_k^{l+1}/∂a_j^l = w_kj^{l+1}: the index swap comes out of sympy.diff."""
    d = derive(default_network())
    rhs = d.step("delta.hidden.index").rhs
    assert isinstance(rhs, sp.Mul)
    summation = next(arg for arg in rhs.args if isinstance(arg, sp.Sum))
    weights = [e for e in summation.function.atoms(sp.Indexed) if e.base.name.startswith("W")]
    (w,) = weights
    k, j = sp.symbols("k j", integer=True, positive=True)
    assert w.indices == (k, j)


def test_json_is_deterministic_across_hash_seeds() -> None:
    code = (
        "from symprop import derive, load_spec;"
        "print(derive(load_spec('examples/relu_sigmoid.toml')).to_json(), end='')"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    data = json.loads(outs[0])
    assert data["canonical_output_delta"] is True
    assert data["network"]["name"] == "relu_sigmoid"


def test_cli_derive_default_prints_and_verifies() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "derive"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "δ³ = a³ − y" in out
    assert "δ² = ((W³)ᵀ δ³) ⊙" in out
    assert "Check ✓" in out
    assert "✗" not in out


def test_cli_derive_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "derive", "examples/xor.toml", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["check"]["ok"] is True
    assert {s["id"] for s in data["steps"]} >= {
        "delta.output.index",
        "delta.hidden.matrix",
        "update.W",
    }


def test_a_deep_check_proves_every_layer_without_nesting() -> None:
    # The whole-network sympy.diff check hit a RecursionError long before 32 layers; the
    # compositional check evaluates layer by layer and names every layer's claims.
    deep = Network(inputs=2, layers=[Dense(1, "tanh")] * 32, loss="mse", l2=0.01)
    report = derive(deep).check(points=1)
    assert report.ok, str(report)
    names = [name for name, _, _ in report.results]
    assert sum(n.startswith("δ^") for n in names) == 32
    assert sum(n.startswith("∂J/∂b^") for n in names) == 32
