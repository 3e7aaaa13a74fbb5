"""The code generator's decisions are made on data, and agree with what the printed code does.

Whether an activation writes into a buffer (``out=``) is decided from its SymPy expression
and the printer's function table; here it is checked against calling the printed code with
``out=`` and comparing. The template branches on typed flags of the context; here the
template's conditions are read with Jinja's parser and the flags are checked against the
network they come from.
"""

from __future__ import annotations

import warnings

import jinja2
import numpy as np
import pytest
import sympy as sp
from jinja2 import nodes
from sympy.codegen.cfunctions import expm1
from sympy.codegen.numpy_nodes import logaddexp
from test_numpy_support import ROOT, valid_pairs

from symprop import Dense, Network
from symprop.codegen.numpy.emit import activation_code, build_context, render_module
from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.numpy.printer import ArrayPrinter, ScalarPrinter
from symprop.codegen.stable import Expit, stabilise
from symprop.core.errors import SymPropWarning
from symprop.core.registry import ACTIVATIONS, LOSSES, z

TEMPLATE = ROOT / "templates" / "numpy_module.py.j2"


def _writes_into_a_buffer(code: str, params: dict[str, float]) -> bool:
    """Whether printed ``code`` (one expression in ``z``) is one call that, given ``out=``
    as its last argument, writes exactly its plain value into that buffer and returns it.

    The oracle is NumPy itself: the call is run, not read.
    """
    if not code.endswith(")"):
        return False
    env: dict[str, object] = {"np": np, "axis": 1, **params}
    for helper in HELPERS.values():
        exec(helper.source, env)
    values = np.random.default_rng(3).normal(0, 3, (4, 5))
    env["z"] = values
    plain = eval(code, env)
    buffer = np.full((4, 6), 7.0)
    env["buffer"] = buffer[:, :-1]
    try:
        returned = eval(code[:-1] + ", out=buffer)", env)
    except (TypeError, ValueError, SyntaxError):
        return False  # the outer call takes no out= (np.where, a helper), or is no call
    return (
        returned is env["buffer"]
        and np.array_equal(buffer[:, :-1], plain)
        and bool(np.all(buffer[:, -1] == 7.0))
    )


_EXPRESSIONS = [
    sp.exp(z),
    sp.tanh(z),
    sp.sin(z),
    sp.Abs(z),
    sp.sqrt(z**2 + 1),
    sp.log(z**2 + 1),
    sp.Max(z, 0),
    sp.Max(z, 0, z / 2),
    sp.Min(z, 1),
    logaddexp(0, z),
    expm1(z),
    z * sp.exp(z),  # a product: the outer operation is no call
    -sp.tanh(z),
    sp.exp(z) + 1,
    Expit(z),  # the module's own helper, not a ufunc
    sp.Piecewise((z, z > 0), (z / 10, True)),  # np.where
    z,
    1 / sp.sqrt(z**2 + 1),
]


@pytest.mark.parametrize("expr", _EXPRESSIONS, ids=str)
def test_the_ufunc_decision_agrees_with_running_the_printed_code(expr: sp.Expr) -> None:
    printer = ArrayPrinter({"z": "z"})
    code = printer.doprint(expr)
    assert (printer.ufunc_of(expr) is not None) == _writes_into_a_buffer(code, {}), code


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_writes_into_a_buffer_exactly_when_its_code_can(name: str) -> None:
    act = ACTIVATIONS[name]
    params = {p.name: float(p.default) for p in act.parameters}
    # A vector activation reduces over the axis its function takes as ``axis``.
    axis = 1 if act.elementwise else "axis"
    printer = ArrayPrinter({"z": "z", **{p: p for p in params}}, units_axis=axis)
    plain = printer.doprint(stabilise(act.definition))
    code = activation_code(name, ArrayPrinter())
    assert code.writes_out == _writes_into_a_buffer(plain, params), plain
    assert code.body == (plain[:-1] + ", out=out)" if code.writes_out else plain)


def test_some_activations_do_write_into_buffers() -> None:
    # Guards the test above against an oracle that always says no.
    writes = {name for name in ACTIVATIONS if activation_code(name, ArrayPrinter()).writes_out}
    assert {"relu", "tanh", "softplus"} <= writes
    assert not writes & {"sigmoid", "identity", "softmax", "leaky_relu"}


def test_code_on_floats_never_writes_into_a_buffer() -> None:
    assert ScalarPrinter().ufunc_of(sp.exp(z)) is None
    assert ArrayPrinter().ufunc_of(sp.exp(z)) == "exp"


# --- the template's flags -------------------------------------------------------------------


def _conditions(source: str) -> list[nodes.Expr]:
    """The test of every ``if`` (statement or expression) in a template."""
    tree = jinja2.Environment().parse(source)
    tests = [node.test for node in tree.find_all(nodes.If)]
    tests += [node.test for node in tree.find_all(nodes.CondExpr)]
    return tests


def test_the_template_never_compares_with_a_printed_literal() -> None:
    literal_tests = [
        test
        for test in _conditions(TEMPLATE.read_text(encoding="utf-8"))
        for compare in ([test] if isinstance(test, nodes.Compare) else [])
        + list(test.find_all(nodes.Compare))
        if any(
            isinstance(side, nodes.Const) and isinstance(side.value, str)
            for side in [compare.expr, *(op.expr for op in compare.ops)]
        )
    ]
    assert literal_tests == []


def test_the_literal_check_finds_a_planted_comparison() -> None:
    planted = '{% if m.l2 != "0.0" %}x{% endif %}{{ 1 if m.target == "class" else 2 }}'
    assert len(_conditions(planted)) == 2
    compares = [t for t in _conditions(planted) if isinstance(t, nodes.Compare)]
    assert all(isinstance(t.ops[0].expr, nodes.Const) for t in compares)


def _network(loss: str, output: str, l2: float) -> Network:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymPropWarning)
        return Network(
            inputs=2, layers=(Dense(3, "tanh"), Dense(2, output)), loss=loss, l2=l2, name="m"
        )


@pytest.mark.parametrize("pair", valid_pairs()[::3], ids=lambda p: f"{p[0]}-{p[1]}")
def test_flags_follow_the_network(pair: tuple[str, str]) -> None:
    output, loss = pair
    for l2 in (0.0, 0.25):
        ctx = build_context(_network(loss, output, l2), spec="x.toml")
        assert ctx.has_l2 == (l2 != 0)
        assert ctx.class_target == LOSSES[loss].target_is_distribution
        assert ctx.unit_target == (
            not LOSSES[loss].target_is_distribution and LOSSES[loss].output_domain != sp.S.Reals
        )
        assert [layer.elementwise for layer in ctx.layers] == [
            ACTIVATIONS[name].elementwise for name in ("tanh", output)
        ]


def test_minus_zero_weight_decay_is_no_weight_decay() -> None:
    # λ = −0.0 printed as "-0.0" made the template's string test add the decay machinery;
    # the runtime decides by the value of L2, so the module must say L2 = 0.0.
    zero = render_module(_network("mse", "sigmoid", 0.0), spec="x.toml")
    minus_zero = render_module(_network("mse", "sigmoid", -0.0), spec="x.toml")
    assert minus_zero == zero
    assert "\nL2: float = 0.0\n" in zero
    assert "\nL2: float = 0.25\n" in render_module(_network("mse", "sigmoid", 0.25), spec="x.toml")
