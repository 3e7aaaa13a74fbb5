"""Reading fixes found by the claims suite (issue 17): each claim as the seeds write it, its
sides evaluated by the reader and compared with SymPy written out in the test."""

from __future__ import annotations

import pytest
import sympy as sp

from symprop.core.spec import Dense, Network
from symprop.verify import declare
from symprop.verify.claims import parse_claim
from symprop.verify.errors import VerifyError
from symprop.verify.readings import readings
from symprop.verify.setting import Setting
from symprop.verify.sides import evaluate_side

SIG = lambda e: 1 / (1 + sp.exp(-e))  # noqa: E731  (the logistic sigmoid, written out)


@pytest.fixture(scope="module")
def seed004() -> Setting:
    """Seed 004: a chain of three sigmoid units, g declared a function, g(z) = σ(z)."""
    net = Network(inputs=1, layers=[Dense(1, "sigmoid")] * 3, loss="half_sse")
    g = declare.definition_from_text(r"let g(z) = \frac{1}{1 + e^{-z}}")
    return Setting.from_spec(
        net, numbering="input0", declared=declare.declarations([g], functions=["g"])
    )


def _sides(text: str, setting: Setting) -> tuple[sp.Matrix, sp.Matrix]:
    claim = parse_claim(text)[0]
    link = claim.links[0]
    lhs = evaluate_side(link.lhs, setting, claim=claim)[0]
    rhs = evaluate_side(link.rhs, setting, claim=claim)[0]
    return lhs, rhs


def test_a_function_claims_bare_argument_is_a_free_scalar(seed004: Setting) -> None:
    """g(z) = 1/(1+e^{-z}) and g'(z) = g(z)(1 - g(z)) in a 3-layer network: z is g's argument
    (an unlabelled z was refused as the network's pre-activation without a layer label)."""
    z = sp.Symbol("z", real=True)
    lhs, rhs = _sides(r"g(z) = \frac{1}{1 + e^{-z}}", seed004)
    assert sp.simplify(lhs[0] - SIG(z)) == 0
    assert sp.simplify(rhs[0] - SIG(z)) == 0
    lhs, rhs = _sides(r"g'(z) = g(z)(1 - g(z))", seed004)
    assert sp.simplify(lhs[0] - sp.diff(SIG(z), z)) == 0
    assert sp.simplify(rhs[0] - SIG(z) * (1 - SIG(z))) == 0
    lhs, rhs = _sides(r"g'(z) = g(z)", seed004)  # the false form: differs from σ(z)
    assert sp.simplify(lhs[0] - rhs[0]) != 0
    taken = dict(readings(parse_claim(r"g'(z) = g(z)")[0], seed004)[0].taken)
    assert taken["z"].startswith("free scalar (the argument of the function")


def test_a_claim_mixing_the_argument_with_network_quantities_keeps_the_network_reading(
    seed004: Setting,
) -> None:
    """σ(z) = a speaks of the network: its unlabelled z and a still need a layer label."""
    with pytest.raises(VerifyError, match="needs a layer label"):
        _sides(r"\sigma(z) = a", seed004)
