"""The sections a lecturer expects after the derivation: gradient checking, bounds, initialisation.

:func:`lecture_sections` returns them, derived rather than typed: the gradient check the
generated module runs (its settings from :mod:`symprop.codegen.checking`), the range of each
activation's derivative found by SymPy (:mod:`symprop.core.bounds`) and what it means for
this network's depth, and the initialisation the code generator chose for each layer
(:mod:`symprop.codegen.model`, :mod:`symprop.codegen.graph`) with the variance argument behind
it, its integrals evaluated by SymPy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from symprop.codegen.checking import GRADIENT_CHECK
from symprop.codegen.graph import build_graph_model
from symprop.codegen.model import Init, build_model
from symprop.core import symbols as g
from symprop.core.bounds import derivative_bounds
from symprop.core.calculus import activation_function
from symprop.core.notation import Profile
from symprop.core.registry import ACTIVATIONS, z
from symprop.core.why import Activation, Relation, Segment
from symprop.derivation.steps import formula_numbers
from symprop.documents.blocks import Equation, Line, Renderer, Section, Sentence
from symprop.documents.checked import CheckedDerivation

__all__ = ["LayerInit", "initialisations", "lecture_sections"]

_J = g.scalar("J")


def _power_of_ten(value: float) -> sp.Basic:
    """``10^{-6}`` for 1e-6 (as the settings are written), else the number itself."""
    exponent = round(math.log10(value))
    if 10.0**exponent == value:
        return sp.UnevaluatedExpr(sp.Integer(10)) ** exponent
    return sp.Float(value, 4)


class _Text:
    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    def sentence(self, segments: Sequence[Segment]) -> Sentence:
        return Sentence(
            self.r.tex(segments), self.r.inline_math(segments), self.r.markdown(segments)
        )

    def line(
        self, lhs: sp.Basic | str, rel: str, rhs: sp.Basic | str, why: Sequence[Segment] = ()
    ) -> Line:
        return Line(
            lhs=lhs if isinstance(lhs, str) else self.r.math(lhs),
            rel=rel,
            rhs=rhs if isinstance(rhs, str) else self.r.math(rhs),
            why_tex=self.r.tex(why),
            why_math=self.r.inline_math(why),
            why_md=self.r.markdown(why),
            wide=False,
        )


# --- gradient checking -------------------------------------------------------------------------


def _gradient_check(cd: CheckedDerivation, t: _Text) -> Section:
    check, net = GRADIENT_CHECK, cd.derivation.network
    tolerance = check.tolerance if net.dense_chain else check.kinds_tolerance
    # A module of layer kinds takes the given arrays (dropout masks) as a fourth argument.
    given = "" if net.dense_chain else ", draw_given(rng, 8)"
    # The step is ε, as Ng writes it, unless the profile's learning rate is ε (Goodfellow's):
    # then h, as CS231n writes it.
    taken = t.r.math(g.scalar("eta")) == r"\epsilon"
    theta, eps, e_i = sp.Symbol("theta"), sp.Symbol("h" if taken else "epsilon"), sp.Symbol("e_i")
    g_i, approx = sp.Symbol("g_i"), sp.Symbol("gtilde_i")
    J, U = sp.Function("J"), sp.UnevaluatedExpr
    plus, minus = J(U(theta) + U(eps * e_i)), J(U(theta) - U(eps * e_i))
    # SymPy would put the minus term first; the textbook's order is kept by printing the two
    # evaluations apart.
    central = rf"\frac{{{t.r.math(plus)} - {t.r.math(minus)}}}{{{t.r.math(2 * eps)}}}"
    floor = _power_of_ten(check.floor)
    largest = sp.Max(sp.Abs(g_i), sp.Abs(approx), floor, evaluate=False)
    relative = sp.Abs(g_i - approx) / largest
    step = Relation(eps, _power_of_ten(check.eps))
    equations = (
        Equation(
            "lecture.gradient_check",
            (
                t.line(approx, "=", central, ["central difference, ", step]),
                t.line(sp.Symbol("r_i"), "=", relative, ["relative error"]),
            ),
        ),
    )
    paragraphs = (
        t.sentence(
            [
                "Here ",
                g_i,
                " is the gradient backpropagation computes, ",
                e_i,
                " the i-th unit vector of the parameters (every weight and bias): the central "
                "difference is exact up to a term in ",
                eps**2,
                ". The generated module runs this check as gradient_check(params, X, "
                "Y), which returns the largest ",
                sp.Symbol("r_i"),
                f" over every parameter (beyond {check.exhaustive} parameters, over "
                f"{check.directions} random unit directions instead), with J evaluated in "
                "extended precision so that rounding does not swamp the difference. In float64 "
                "a correct gradient stays below ",
                _power_of_ten(tolerance),
                ", the bound symprop's tests hold every generated module to; a wrong formula "
                "(a missing factor, a transposed matrix) gives errors orders of magnitude "
                "above it.",
            ]
        ),
        t.sentence(
            [
                "To run it, with the module's own functions: params = init_params(0), then "
                f"gradient_check(params, X[:8], Y[:8]{given}) on a few samples of the data"
                + (", rng a NumPy generator." if given else ".")
            ]
        ),
    )
    intro = t.sentence(
        [
            "Each gradient of this document can be checked numerically: the derivative of ",
            _J,
            " along one parameter ",
            theta,
            " is compared with the difference of ",
            _J,
            " a small step ",
            eps,
            " either side.",
        ]
    )
    return Section("Gradient checking", intro, equations, paragraphs)


# --- bounds of the derivatives -----------------------------------------------------------------


def _layer_activations(
    cd: CheckedDerivation,
) -> list[tuple[int, str, tuple[tuple[str, float], ...]]]:
    net = cd.derivation.network
    return [
        (index, layer.activation, tuple(sorted(layer.param_values().items())))
        for index, layer in enumerate(net.layers, start=1)
    ]


def _bounds(cd: CheckedDerivation, t: _Text) -> Section:
    d = cd.derivation
    net = d.network
    L = net.depth
    numbers = formula_numbers(d.steps)
    lines: list[Line] = []
    paragraphs: list[Sentence] = []
    seen: dict[tuple[str, tuple[tuple[str, float], ...]], sp.Set | None] = {}
    for _, name, values in _layer_activations(cd):
        if (name, values) in seen or not ACTIVATIONS[name].elementwise:
            continue
        bounds = derivative_bounds(name, dict(values))
        found = seen[(name, values)] = None if bounds is None else bounds.range
        prime = Activation(name, 1)
        if found is None:
            paragraphs.append(
                t.sentence([prime, " is bounded, but SymPy finds no closed form for its extremes."])
            )
            continue
        why = _parameters_why(name, values)
        peak = bounds.maximum.at if bounds is not None else None
        if isinstance(peak, sp.FiniteSet) and len(peak) == 1:
            why += ["; " if why else "", "largest at ", Relation(z, *peak)]
        # z is the registry's unit-level pre-activation, which each profile names (a in
        # Goodfellow's).
        lines.append(t.line(rf"{t.r.math(prime)}({t.r.math(z)})", r"\in", found, why))
    recurrence = numbers.get("delta.hidden.matrix")
    cite = f" (formula ({recurrence}))" if recurrence else ""
    hidden = [(k, name, values) for k, name, values in _layer_activations(cd) if k < L]
    for (name, values), found in seen.items():
        count = sum(1 for _, n, v in hidden if (n, v) == (name, values))
        paragraphs += _meaning(t, name, found, count, cite)
    intro = t.sentence(
        [
            "Backpropagation multiplies each hidden layer's local gradient entrywise by the "
            "derivative of its activation",
            cite,
            ": ",
            g.vector("delta", g.l_sym),
            " is the product of ",
            g.matrix("W", g.l_sym + 1).T * g.vector("delta", g.l_sym + 1),
            " and ",
            Activation("phi", 1),
            ". The values each derivative takes over all real z, found by SymPy from the "
            "forms derived above:",
        ]
    )
    if not lines and not paragraphs:
        paragraphs.append(t.sentence(["No activation of this network acts unit by unit."]))
    equations = (Equation("lecture.bounds", tuple(lines)),) if lines else ()
    return Section("Bounds of the activations' derivatives", intro, equations, tuple(paragraphs))


def _parameters_why(name: str, values: tuple[tuple[str, float], ...]) -> list[Segment]:
    act = ACTIVATIONS[name]
    if not act.parameters:
        return []
    given = dict(values)
    out: list[Segment] = ["with "]
    for n, p in enumerate(act.parameters):
        out += [", " if n else "", Relation(p.symbol, sp.nsimplify(given[p.name], rational=True))]
    return out


def _meaning(t: _Text, name: str, found: sp.Set | None, hidden: int, cite: str) -> list[Sentence]:
    """What the range means for δ, from the set alone (its supremum, a 0 it holds)."""
    if found is None or hidden == 0:
        return []
    prime = Activation(name, 1)
    count = f"{hidden} hidden layer{'s' if hidden != 1 else ''}"
    out: list[Sentence] = []
    top = found.sup
    if top < 1:
        factor = sp.Pow(top, hidden)
        out.append(
            t.sentence(
                [
                    "Since ",
                    sp.Le(prime, top) if found.contains(top) == sp.true else sp.Lt(prime, top),
                    ", each ",
                    Activation(name),
                    " layer shrinks the local gradient by a factor of at least ",
                    1 / top,
                    " wherever the weights do not amplify it (a weight matrix whose largest "
                    f"singular value is at most 1): across this network's {count} with ",
                    Activation(name),
                    ", the first hidden layer's local gradient is at most ",
                    factor,
                    " times the output layer's. The earliest layers learn slowest: the "
                    "vanishing gradient of deep networks of this activation.",
                ]
            )
        )
    elif top == 1 and found.inf < 1 and found.is_subset(sp.Interval(0, 1)) and 0 not in found:
        out.append(
            t.sentence(
                [
                    "Since ",
                    sp.Le(prime, 1),
                    ", a ",
                    Activation(name),
                    " layer never amplifies the local gradient; it shrinks it "
                    "wherever units saturate (large |z|, where ",
                    prime,
                    " is near ",
                    found.inf,
                    ").",
                ]
            )
        )
    elif top > 1:
        out.append(
            t.sentence(
                [
                    "Since ",
                    prime,
                    " reaches ",
                    top,
                    ", a ",
                    Activation(name),
                    " layer can also amplify the local gradient, by up to that factor per layer.",
                ]
            )
        )
    if found.contains(0) == sp.true and isinstance(found, sp.FiniteSet):
        out.append(
            t.sentence(
                [
                    "Since ",
                    prime,
                    " is 0 on a whole half-line of z, a unit whose weighted input stays there "
                    "for every sample passes no gradient back and its weights never change: a "
                    f"dead unit. In this network's {count} with ",
                    Activation(name),
                    ", a large step or a large negative bias can kill units for good.",
                ]
            )
        )
    return out


# --- initialisation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerInit:
    """How the generated module draws one weight matrix (``init_params``)."""

    layer: int
    scheme: str  # "he": N(0, 2/fan_in); "glorot": U(-r, r), r = sqrt(6/(fan_in + fan_out))
    fan_in: int
    fan_out: int


def initialisations(cd: CheckedDerivation) -> tuple[LayerInit, ...]:
    """The code generator's choice for every weight matrix of the network, in layer order."""
    d = cd.derivation
    if d.network.dense_chain:
        return tuple(
            LayerInit(lay.index, "he" if lay.init is Init.HE else "glorot", lay.fan_in, lay.width)
            for lay in build_model(d).layers
        )
    out = []
    for block in build_graph_model(d).blocks:
        for p in block.parameters:
            if p.init in ("he", "xavier"):
                fan_out, fan_in = p.shape
                out.append(
                    LayerInit(block.index, "he" if p.init == "he" else "glorot", fan_in, fan_out)
                )
    return tuple(out)


_W, _R, _S = sp.Symbol("w"), sp.Symbol("r", positive=True), sp.Symbol("s", positive=True)
_VAR, _E = sp.Function("Var"), sp.Function("E")


def _init_lines(t: _Text, init: LayerInit) -> list[Line]:
    W = g.matrix("W", init.layer)
    n_in, n_out = g.width(init.layer - 1), g.width(init.layer)
    sizes = {n_in: init.fan_in, n_out: init.fan_out}
    if init.scheme == "glorot":
        bound = sp.sqrt(sp.UnevaluatedExpr(6 / (n_in + n_out)))
        name, law = sp.Symbol(f"r_{init.layer}"), sp.Function("U")
        drawn = law(-sp.Symbol(f"r_{init.layer}"), sp.Symbol(f"r_{init.layer}"))
        why: list[Segment] = ["Glorot: uniform"]
    else:
        bound = sp.sqrt(sp.UnevaluatedExpr(2 / n_in))
        name, law = sp.Symbol(f"s_{init.layer}"), sp.Function("N")
        drawn = law(0, sp.Symbol(f"s_{init.layer}") ** 2)
        why = ["He: normal, standard deviation ", sp.Symbol(f"s_{init.layer}")]
    value = bound.xreplace(sizes).doit()
    lines = [t.line(W, r"\sim", drawn, why), t.line(name, "=", bound), t.line("", "=", value)]
    if not value.is_Rational:
        lines.append(t.line("", r"\approx", sp.Float(sp.N(value, 30), 4)))
    return lines


@functools.cache
def _glorot_bound() -> tuple[sp.Expr, sp.Expr]:
    """Var(w) for w uniform on (−r, r), and the r that makes it 2/(n_in + n_out), by SymPy;
    the same for every network, so worked out once per process."""
    n_in, n_out = g.width(g.l_sym - 1), g.width(g.l_sym)
    variance = sp.integrate(_W**2 / (2 * _R), (_W, -_R, _R))
    (r,) = sp.solve(sp.Eq(variance, 2 / (n_in + n_out)), _R)
    return variance, sp.sqrt(sp.UnevaluatedExpr(sp.simplify(r**2)))  # one root, as written


_U = sp.Symbol("z", real=True)  # a normal weighted input
_DENSITY = sp.exp(-(_U**2) / (2 * _S**2)) / (_S * sp.sqrt(2 * sp.pi))


@functools.cache
def _relu_second_moment() -> sp.Expr:
    """E[ReLU(u)²] for u normal with mean 0 and variance s², by SymPy, once per process."""
    return sp.integrate(_U**2 * _DENSITY, (_U, 0, sp.oo))


def _initialisation(cd: CheckedDerivation, t: _Text) -> Section:
    inits = initialisations(cd)
    equations = [Equation(f"lecture.init.{i.layer}", tuple(_init_lines(t, i))) for i in inits]
    n_in, n_out = g.width(g.l_sym - 1), g.width(g.l_sym)
    paragraphs: list[Sentence] = []
    schemes = {i.scheme for i in inits}
    if "glorot" in schemes:
        variance, r = _glorot_bound()
        equations.append(
            Equation(
                "lecture.init.glorot",
                (
                    t.line(
                        _VAR(_W),
                        "=",
                        sp.Integral(_W**2 / (2 * _R), (_W, -_R, _R)),
                        [_W, " uniform on ", sp.Interval.open(-_R, _R)],
                    ),
                    t.line("", "=", variance),
                    t.line(_R, "=", r, ["solving ", Relation(variance, 2 / (n_in + n_out))]),
                ),
            )
        )
        paragraphs.append(
            t.sentence(
                [
                    "Why Glorot's bound: a weighted input sums ",
                    n_in,
                    " products, so its variance is ",
                    n_in * _VAR(_W),
                    " times its input's; backwards, a local gradient sums ",
                    n_out,
                    " of them. Keeping both variances constant from layer to layer, for an "
                    "activation with slope 1 at 0, asks ",
                    Relation(n_in * _VAR(_W), 1),
                    " and ",
                    Relation(n_out * _VAR(_W), 1),
                    "; Glorot and Bengio take the compromise ",
                    Relation(_VAR(_W), 2 / (n_in + n_out)),
                    ", which the uniform distribution above meets with the bound r.",
                ]
            )
        )
    if "he" in schemes:
        u, density, second = _U, _DENSITY, _relu_second_moment()
        relu = activation_function("relu")(u)
        equations.append(
            Equation(
                "lecture.init.he",
                (
                    t.line(
                        _E(relu**2),
                        "=",
                        # Shown with display symbols: the document printer writes SymPy's
                        # oo and pi as words.
                        sp.Integral(u**2 * density, (u, 0, sp.oo)).xreplace(
                            {sp.pi: sp.Symbol("pi", positive=True), sp.oo: sp.Symbol(r"\infty")}
                        ),
                        [u, " normal with mean 0 and variance ", _S**2],
                    ),
                    t.line("", "=", second),
                ),
            )
        )
        paragraphs.append(
            t.sentence(
                [
                    "Why He's variance: a rectifier passes only the positive half of a "
                    "symmetric weighted input, so the second moment of its output is half the "
                    "input's variance (above); the next layer's weighted input then has "
                    "variance ",
                    n_in * _VAR(_W) * _S**2 / 2,
                    ", and ",
                    Relation(_VAR(_W), 2 / n_in),
                    " keeps it at ",
                    _S**2,
                    " through every layer.",
                ]
            )
        )
    intro = t.sentence(
        [
            "Every weight matrix is drawn by the generated module's init_params(seed), from "
            "NumPy's random generator for that seed, by the scheme the code generator chose for "
            "its "
            + (
                "layer (He for rectifiers, Glorot otherwise)"
                if cd.derivation.network.dense_chain
                else "layer kind (He for dense layers; scales start at 1, shifts at 0)"
            )
            + ", and starts every bias at 0. For this network:",
        ]
    )
    return Section("Initialisation", intro, tuple(equations), tuple(paragraphs))


def lecture_sections(
    cd: CheckedDerivation, renderer: Renderer, profile: Profile
) -> tuple[Section, ...]:
    """The lecture sections of the document: gradient checking, bounds, initialisation.

    Parameters
    ----------
    cd
        The checked derivation the document prints.
    renderer
        The document's renderer (its profile's symbols).
    profile
        The document's notation profile.
    """
    del profile  # the renderer carries the profile's symbols
    t = _Text(renderer)
    return (_gradient_check(cd, t), _bounds(cd, t), _initialisation(cd, t))
