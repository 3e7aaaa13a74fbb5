"""The lecture sections: gradient checking with the generated module's own settings, the
range of each activation's derivative, and the initialisation the generated code uses."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import sympy as sp

from symprop.core.bounds import derivative_bounds
from symprop.core.notation import get_profile
from symprop.core.registry import ACTIVATIONS, z
from symprop.core.spec import Dense, Dropout, LayerNorm, Network, Residual, load_spec
from symprop.derivation.build import derive
from symprop.documents.blocks import Renderer
from symprop.documents.checked import CheckedDerivation
from symprop.documents.lecture import initialisations, lecture_sections

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "generated"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"golden_{name}", GENERATED / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(network: Network, profile: str = "nielsen"):  # noqa: ANN202
    # lecture_sections reads only the derivation; the documents' own tests prove it checked.
    cd = CheckedDerivation(derive(network), None)
    r = Renderer(profile, network.depth, network.kinds)
    return {s.title: s for s in lecture_sections(cd, r, get_profile(profile))}


def _power(tex: str, after: str) -> float:
    """The number ``10^{k}`` printed right after ``after``."""
    found = re.search(re.escape(after) + r"\s*=\s*10\^\{(-?\d+)\}", tex)
    assert found, after
    return 10.0 ** int(found[1])


# --- gradient checking --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["xor", "residual"])
def test_the_printed_step_is_the_generated_modules_own(name: str) -> None:
    module = _module(name)
    default = inspect.signature(module.gradient_check).parameters["eps"].default
    section = _sections(load_spec(ROOT / "examples" / f"{name}.toml"))["Gradient checking"]
    (equation,) = section.equations
    central = equation.lines[0]
    assert _power(central.why_math, r"\epsilon") == default
    # What a reader sees: the Markdown with its backslash escapes undone.
    shown = re.sub(r"\\(.)", r"\1", section.paragraphs[1].md)
    assert "gradient_check(params, X[:8]" in shown


def test_the_printed_threshold_holds_for_a_generated_module() -> None:
    """A correct module passes the printed threshold; a planted error fails it."""
    module = _module("xor")
    section = _sections(load_spec(ROOT / "examples" / "xor.toml"))["Gradient checking"]
    threshold = float(re.search(r"below \$10\^\{(-?\d+)\}\$", section.paragraphs[0].md)[1])
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(8, 2)), rng.integers(0, 2, size=(8, 1)).astype(float)
    params = module.init_params(0)
    assert module.gradient_check(params, X, Y) < 10.0**threshold
    wrong = module.gradients
    module.gradients = lambda p, x, y: {k: v * 1.01 for k, v in wrong(p, x, y).items()}
    assert module.gradient_check(params, X, Y) > 10.0**threshold


# --- bounds ---------------------------------------------------------------------------------------


def _sampled(name: str, alpha: float | None) -> np.ndarray:
    """φ' by sympy.diff of the registry definition, on a dense grid (no kink on it)."""
    act = ACTIVATIONS[name]
    definition = act.definition
    if alpha is not None:
        definition = definition.subs(act.parameters[0].symbol, alpha)
    derivative = sp.lambdify(z, sp.diff(definition, z), "numpy")
    # Up to |z| = 15, where float64 still resolves every slope from 0; beside the kink at 0
    # from both sides.
    grid = np.concatenate([np.linspace(-15, 15, 300_000), [-1e-9, 1e-9]])
    return np.broadcast_to(derivative(grid), grid.shape)


@pytest.mark.parametrize(
    ("name", "alpha"),
    [
        ("sigmoid", None),
        ("tanh", None),
        ("softplus", None),
        ("relu", None),
        ("leaky_relu", 0.2),
        ("elu", 1.5),
        ("elu", 1.0),
        ("identity", None),
    ],
)
def test_each_range_matches_the_sampled_derivative(name: str, alpha: float | None) -> None:
    params = {"alpha": alpha} if alpha is not None else {}
    found = derivative_bounds(name, params).range
    sampled = _sampled(name, alpha)
    # The document prints this very set for a network of that activation.
    net = Network(inputs=1, layers=[Dense(2, name, params), Dense(1, "identity")], loss="mse")
    (equation,) = _sections(net)["Bounds of the activations' derivatives"].equations
    assert equation.lines[0].rhs == Renderer("nielsen", 2).math(found)
    assert float(found.sup) == pytest.approx(sampled.max(), abs=1e-6)
    assert float(found.inf) == pytest.approx(sampled.min(), abs=1e-6)
    if isinstance(found, sp.FiniteSet):
        assert sorted(float(v) for v in found) == pytest.approx(np.unique(sampled).tolist())
    else:  # an interval: every sample lies in it
        assert all(found.contains(sp.Float(v)) == sp.true for v in sampled[::4001])


def test_the_shrink_factor_is_stated_for_this_depth() -> None:
    net = Network(
        inputs=2,
        layers=[Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(3, "sigmoid"), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
    )
    text = " ".join(
        p.md for p in _sections(net)["Bounds of the activations' derivatives"].paragraphs
    )
    # Three hidden sigmoid layers: at most (1/4)^3 of the output layer's local gradient.
    assert "3 hidden layers" in text and r"\frac{1}{64}" in text


def test_relu_states_dead_units() -> None:
    section = _sections(load_spec(ROOT / "examples" / "digits.toml"))[
        "Bounds of the activations' derivatives"
    ]
    assert r"\left\{0, 1\right\}" in section.equations[0].lines[0].rhs
    assert any("dead unit" in p.md for p in section.paragraphs)


# --- initialisation -------------------------------------------------------------------------------


def test_the_printed_schemes_are_what_init_params_draws() -> None:
    """digits: He for the ReLU layers, Glorot for the softmax layer, as the module draws."""
    net = load_spec(ROOT / "examples" / "digits.toml")
    module = _module("digits")
    cd = CheckedDerivation(derive(net), None)
    inits = initialisations(cd)
    assert [i.scheme for i in inits] == ["he", "he", "glorot"]
    draws = [module.init_params(seed) for seed in range(4)]
    for init in inits:
        W = np.stack([d[f"W{init.layer}"] for d in draws])
        assert W.shape[1:] == (init.fan_out, init.fan_in)
        if init.scheme == "glorot":
            r = np.sqrt(6 / (init.fan_in + init.fan_out))
            assert np.abs(W).max() <= r and np.abs(W).max() > 0.99 * r
            assert W.var() == pytest.approx(r**2 / 3, rel=0.05)
        else:
            assert W.std() == pytest.approx(np.sqrt(2 / init.fan_in), rel=0.03)
            assert np.abs(W).max() > 3 * np.sqrt(2 / init.fan_in)  # unbounded: a normal
    section = _sections(net)["Initialisation"]
    lines = [line.rhs for eq in section.equations for line in eq.lines if line.rel == r"\approx"]
    assert [float(x) for x in lines] == pytest.approx(
        [np.sqrt(2 / 64), np.sqrt(6 / (64 + 10))], rel=1e-3
    )


def test_the_variance_arguments_are_computed() -> None:
    section = _sections(load_spec(ROOT / "examples" / "digits.toml"))["Initialisation"]
    by_id = {eq.step_id: eq for eq in section.equations}
    assert by_id["lecture.init.glorot"].lines[1].rhs == r"\frac{r^{2}}{3}"
    assert by_id["lecture.init.he"].lines[1].rhs == r"\frac{s^{2}}{2}"


# --- every profile, every kind ----------------------------------------------------------------------

KINDS = Network(
    inputs=3,
    layers=[
        Dense(4, "tanh", name="h1"),
        Dense(4, "leaky_relu", alpha=0.2),
        LayerNorm(),
        Dropout(0.5),
        Residual("h1", activation="tanh"),
        Dense(4, "elu", alpha=1.5),
        Dense(2, "identity"),
    ],
    loss="half_sse",
    name="kinds",
)


@pytest.mark.parametrize("profile", ["nielsen", "goodfellow", "ng"])
@pytest.mark.parametrize(
    "network",
    [
        load_spec(ROOT / "examples" / "xor.toml"),
        KINDS,
        load_spec(ROOT / "examples" / "digits_bn.toml"),
    ],
    ids=["dense", "kinds", "batch_norm"],
)
def test_every_profile_and_kind_gets_the_sections(network: Network, profile: str) -> None:
    sections = _sections(network, profile)
    assert list(sections) == [
        "Gradient checking",
        "Bounds of the activations' derivatives",
        "Initialisation",
    ]
    weights = sum(1 for layer in network.layers if layer.kind == "dense")
    init = sections["Initialisation"]
    assert len([eq for eq in init.equations if eq.step_id.startswith("lecture.init.")]) >= weights
    assert "U+" not in init.intro.tex and "U+" not in sections["Gradient checking"].intro.tex
