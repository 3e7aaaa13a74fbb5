"""The check's network-independent claims are proven once per process, and a cached proof
never hides a wrong form: the cache is keyed on the very expressions it proves."""

from __future__ import annotations

import dataclasses

import sympy as sp

from symprop import Dense, Network, derive
from symprop.core.registry import a as a_scalar
from symprop.derivation import check


def _net(width: int) -> Network:
    layers = [Dense(width, "tanh"), Dense(width, "sigmoid"), Dense(1, "sigmoid")]
    return Network(inputs=2, layers=layers, loss="binary_cross_entropy")


def test_the_local_rules_are_proven_once_per_process() -> None:
    first = derive(_net(3)).check()
    before = check._local_rule_claim.cache_info()
    second = derive(_net(5)).check()  # other widths, the same activations
    after = check._local_rule_claim.cache_info()
    assert first.ok and second.ok
    assert after.misses == before.misses and after.hits > before.hits
    # The report still lists every claim it proves.
    assert [name for name, _, _ in first.results] == [name for name, _, _ in second.results]
    assert any(
        name.startswith("local rule of a dense layer after tanh") for name, _, _ in second.results
    )


def test_a_wrong_derivative_form_fails_after_the_right_one_was_proven() -> None:
    d = derive(_net(2))
    assert d.check().ok
    hidden = d.layers[1]  # sigmoid: φ' = a(1 − a); claim a(1 + a) instead
    wrong = dataclasses.replace(hidden.dphi, form=a_scalar * (1 + a_scalar))
    tampered = dataclasses.replace(
        d, layers=(d.layers[0], dataclasses.replace(hidden, dphi=wrong), d.layers[2])
    )
    report = tampered.check()
    failed = [name for name, ok, _ in report.results if not ok]
    assert "φ' of sigmoid" in failed
    assert "local rule of a dense layer after sigmoid" in failed
    assert sp.simplify(wrong.form.subs(a_scalar, sp.Rational(1, 2))) == sp.Rational(3, 4)
