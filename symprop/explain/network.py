"""The computation graph of a small network for one sample: spec → named steps → graph.

:func:`network_assignments` translates a :class:`~symprop.core.spec.Network` into the steps
``z1 = W1 x + b1``, ``a1 = φ(z1)``, …, ``C = Σ_k ℓ(a_k, y_k)`` (and, with weight decay, ``R = λ
Σ_l ‖W_l‖²`` and ``J = C + R``), which :func:`symprop.explain.graph.graph_from_assignments`
turns into a graph; :func:`explain_network` runs backprop on it at one sample ``(x, y)``. The
emitters of :mod:`symprop.explain.emit` draw it exactly as ``symprop explain`` draws an
expression. Every activation and loss comes from the registry: its SymPy definition is the gate
(coarse), or is decomposed into elementary gates; nothing here names a particular one.

Two granularities:

* ``coarse`` (vectors): per layer a matrix-vector product, a bias addition and one
  activation gate; then the loss gate. Nodes are ``x``, ``y``, ``W1``, ``b1``, ``z1``, ``a1``…
* ``elementary`` (scalars): every weight ``w1_jk`` and unit ``z1_j``, ``a1_j`` is its own node,
  and activations and the loss are broken into add, mul, exp, 1/x, log … gates (piecewise
  activations such as ReLU stay one gate: they have no elementary decomposition).

The L2 term is its own branch, so each weight matrix fans out into the product of its layer
and the regulariser, and its gradient is the sum of the two.

Examples
--------
>>> from symprop.core.spec import Dense, Network
>>> net = Network(inputs=2, layers=[Dense(2, "tanh"), Dense(1, "sigmoid")],
...               loss="binary_cross_entropy", l2=0.01)
>>> [name for name, _ in network_assignments(net)]
['z1', 'a1', 'z2', 'a2', 'C', 'R', 'J']
>>> result = explain_network(net)
>>> result.graph.output, result.grads["W1"].shape
('J', (2, 2))
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions import MatrixExpr

from symprop.core import symbols as g
from symprop.core.errors import SpecError, SymPropWarning
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.spec import Network
from symprop.explain.backward import PRECISION, Backprop, backprop
from symprop.explain.graph import (
    ExplainError,
    Gate,
    Granularity,
    Graph,
    as_value,
    graph_from_assignments,
)
from symprop.parsing import Norm2

__all__ = [
    "MAX_ELEMENTARY_NODES",
    "MAX_LAYERS",
    "MAX_UNITS",
    "Activated",
    "ActivationJacobian",
    "LossGradient",
    "LossSum",
    "ScalarActivation",
    "check_drawable",
    "default_point",
    "explain_network",
    "graph_title",
    "network_assignments",
    "network_graph",
    "network_point",
]

MAX_UNITS = 5
"""Widest layer (inputs included) drawn: a 5×5 weight matrix is ten lines of numbers on an edge."""

MAX_LAYERS = 4
"""Deepest network drawn: four layers are already some thirty nodes in a row."""

MAX_ELEMENTARY_NODES = 100
"""Largest elementary (scalar) graph drawn: the 2-4-1 XOR network has 66 nodes."""

DEFAULT_SEED = 0


# ------------------------------------------------------------------ registry gates


def _params_tuple(params: Mapping[str, float] | sp.Tuple) -> sp.Tuple:
    if isinstance(params, sp.Tuple):  # rebuilt from its own args (xreplace, func(*args))
        return params
    return sp.Tuple(
        *[sp.Tuple(Str(k), sp.nsimplify(v, rational=True)) for k, v in sorted(params.items())]
    )


def _params_dict(pairs: sp.Tuple) -> dict[str, sp.Rational]:
    return {str(k): v for k, v in pairs}


def _explicit(arg: sp.Basic) -> sp.ImmutableMatrix | None:
    if isinstance(arg, sp.MatrixBase):
        return sp.ImmutableMatrix(arg)
    return None


def _deep(arg: sp.Basic, hints: Mapping[str, object]) -> sp.Basic:
    return arg.doit(**hints) if hints.get("deep", True) else arg


def _name_of(arg: sp.Basic) -> sp.Symbol | None:
    if isinstance(arg, sp.MatrixSymbol):
        return sp.Symbol(str(arg.name))
    return None


class Activated(MatrixExpr):
    """A registry activation applied to a column vector, ``φ(z)`` (``derivative=1``: ``φ'(z)``).

    Evaluates (``doit``) on an explicit vector through the registry definition, so one coarse
    gate serves every activation, elementwise or not (softmax).
    """

    def __new__(
        cls, name: str, params: Mapping[str, float] | sp.Tuple, arg: sp.Basic, derivative: int = 0
    ) -> Activated:
        name, derivative = str(name), int(derivative)
        if derivative and not ACTIVATIONS[name].elementwise:
            raise ValueError("the derivative of a vector activation is its Jacobian")
        return super().__new__(cls, Str(name), _params_tuple(params), arg, sp.Integer(derivative))

    @property
    def activation(self) -> str:
        return str(self.args[0])

    @property
    def params(self) -> dict[str, sp.Rational]:
        return _params_dict(self.args[1])

    @property
    def argument(self) -> sp.Basic:
        return self.args[2]

    @property
    def derivative(self) -> int:
        return int(self.args[3])

    @property
    def shape(self) -> tuple:
        return self.argument.shape

    def doit(self, **hints: object) -> sp.Basic:
        arg = _deep(self.argument, hints)
        explicit = _explicit(arg)
        if explicit is None:
            return type(self)(self.activation, self.args[1], arg, self.derivative)
        if self.derivative == 0:
            return sp.ImmutableMatrix(g.apply_activation(self.activation, self.params, explicit))
        definition = ACTIVATIONS[self.activation].instantiate(self.params)
        slope = sp.diff(definition, z_scalar)
        return explicit.applyfunc(lambda e: slope.xreplace({z_scalar: e}))

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """One gate ``φ(a0)`` labelled with the activation's display name."""
        act = ACTIVATIONS[self.activation]
        a0 = sp.MatrixSymbol("a0", *self.shape)
        kind = "activation" if act.elementwise else "vector_activation"
        fn = Activated(self.activation, self.args[1], a0)
        return Gate(kind, act.unicode, fn, (a0,), label_tex=act.latex), (self.argument,)

    def vjp_rules(self, upstream: sp.Basic) -> tuple[sp.Basic, ...]:
        """``G ⊙ φ'(z)`` for an elementwise activation, ``J_φ(z)ᵀ G`` otherwise."""
        if ACTIVATIONS[self.activation].elementwise:
            slope = Activated(self.activation, self.args[1], self.argument, 1)
            return (sp.HadamardProduct(upstream, slope),)
        jac = ActivationJacobian(self.activation, self.args[1], self.argument)
        return (sp.MatMul(sp.Transpose(jac), upstream),)

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        prime = "'" * self.derivative
        return f"{ACTIVATIONS[self.activation].unicode}{prime}({printer._print(self.argument)})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        prime = "'" * self.derivative
        inner = printer._print(self.argument)
        return rf"{ACTIVATIONS[self.activation].latex}{prime}\left({inner}\right)"


class ActivationJacobian(MatrixExpr):
    """``∂φ(z)/∂z``, the n×n Jacobian of a vector activation, from its registry definition."""

    def __new__(
        cls, name: str, params: Mapping[str, float] | sp.Tuple, arg: sp.Basic
    ) -> ActivationJacobian:
        return super().__new__(cls, Str(str(name)), _params_tuple(params), arg)

    @property
    def shape(self) -> tuple:
        n = self.args[2].shape[0]
        return (n, n)

    def doit(self, **hints: object) -> sp.Basic:
        arg = _deep(self.args[2], hints)
        explicit = _explicit(arg)
        if explicit is None:
            return type(self)(str(self.args[0]), self.args[1], arg)
        entries = sp.Matrix([sp.Symbol(f"e_{r}", real=True) for r in range(explicit.rows)])
        out = g.apply_activation(str(self.args[0]), _params_dict(self.args[1]), entries)
        jac = out.jacobian(entries)
        return sp.ImmutableMatrix(jac.xreplace(dict(zip(entries, explicit, strict=True))))

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        act = ACTIVATIONS[str(self.args[0])]
        return f"J_{act.unicode}({printer._print(self.args[2])})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        act = ACTIVATIONS[str(self.args[0])]
        return rf"J_{{{act.latex}}}\left({printer._print(self.args[2])}\right)"


_K = sp.Symbol("k", integer=True, positive=True)


def _indexed_term(
    expr: sp.Expr, pred: sp.Basic, target: sp.Basic, plain: bool = False
) -> sp.Expr | None:
    """The loss formula with ``a`` and ``y`` as the k-th entries of the named vectors.

    ``plain`` gives symbols ``a2_k`` for text (``Indexed`` prints ``a2[k]`` there).
    """
    a_name, y_name = _name_of(pred), _name_of(target)
    if a_name is None or y_name is None:
        return None
    if plain:
        entries = {a_scalar: sp.Symbol(f"{a_name}_k"), y_scalar: sp.Symbol(f"{y_name}_k")}
    else:
        entries = {a_scalar: sp.IndexedBase(a_name)[_K], y_scalar: sp.IndexedBase(y_name)[_K]}
    return expr.xreplace(entries)


def _summed(term: sp.Expr, pred: sp.Basic) -> sp.Expr:
    return sp.Sum(term, (_K, 1, pred.shape[0]))


class LossSum(sp.Expr):
    """The per-sample loss ``Σ_k ℓ(a_k, y_k)`` of the output vector ``a`` and target ``y``."""

    is_real = True

    def __new__(cls, loss: str, pred: sp.Basic, target: sp.Basic) -> LossSum:
        return super().__new__(cls, Str(str(loss)), pred, target)

    @property
    def loss(self) -> str:
        return str(self.args[0])

    def doit(self, **hints: object) -> sp.Basic:
        pred, target = (_deep(arg, hints) for arg in self.args[1:])
        a_vals, y_vals = _explicit(pred), _explicit(target)
        if a_vals is None or y_vals is None:
            return type(self)(self.loss, pred, target)
        term = LOSSES[self.loss].term
        return sp.Add(
            *[
                term.xreplace({a_scalar: av, y_scalar: yv})
                for av, yv in zip(a_vals, y_vals, strict=True)
            ]
        )

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """One gate of the output and the target, labelled with the loss's display name."""
        loss = LOSSES[self.loss]
        pred, target = self.args[1:]
        a0, a1 = sp.MatrixSymbol("a0", *pred.shape), sp.MatrixSymbol("a1", *target.shape)
        fn = LossSum(self.loss, a0, a1)
        return Gate("loss", loss.unicode, fn, (a0, a1), label_tex=loss.latex), (pred, target)

    def vjp_rules(self, upstream: sp.Basic) -> tuple[sp.Basic, ...]:
        """``G ∂ℓ/∂a_k`` and ``G ∂ℓ/∂y_k``, entry by entry."""
        pred, target = self.args[1:]
        return tuple(
            sp.MatMul(upstream, LossGradient(self.loss, pred, target, which))
            for which in ("a", "y")
        )

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        term = _indexed_term(LOSSES[self.loss].term, *self.args[1:], plain=True)
        if term is None:
            return f"{self.loss}({', '.join(printer._print(a) for a in self.args[1:])})"
        return f"sum_k({printer._print(term)})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        term = _indexed_term(LOSSES[self.loss].term, *self.args[1:])
        if term is None:
            inner = ", ".join(printer._print(a) for a in self.args[1:])
            return rf"\ell\left({inner}\right)"
        return printer._print(_summed(term, self.args[1]))


class LossGradient(MatrixExpr):
    """``[∂ℓ(a_k, y_k)/∂a_k]_k`` (``which="a"``) or the same in ``y``: a column vector."""

    def __new__(cls, loss: str, pred: sp.Basic, target: sp.Basic, which: str) -> LossGradient:
        return super().__new__(cls, Str(str(loss)), pred, target, Str(str(which)))

    @property
    def shape(self) -> tuple:
        return self.args[1].shape

    def _slope(self) -> sp.Expr:
        variable = a_scalar if str(self.args[3]) == "a" else y_scalar
        return sp.diff(LOSSES[str(self.args[0])].term, variable)

    def doit(self, **hints: object) -> sp.Basic:
        pred, target = (_deep(arg, hints) for arg in self.args[1:3])
        a_vals, y_vals = _explicit(pred), _explicit(target)
        if a_vals is None or y_vals is None:
            return type(self)(str(self.args[0]), pred, target, str(self.args[3]))
        slope = self._slope()
        return sp.ImmutableMatrix(
            [
                slope.xreplace({a_scalar: av, y_scalar: yv})
                for av, yv in zip(a_vals, y_vals, strict=True)
            ]
        )

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        term = _indexed_term(self._slope(), *self.args[1:3], plain=True)
        if term is None:
            return f"d{self.args[0]}/d{self.args[3]}"
        return f"[{printer._print(term)}]_k"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        term = _indexed_term(self._slope(), *self.args[1:3])
        if term is None:
            return rf"\nabla_{{{self.args[3]}}}\ell"
        return r"\left[" + printer._print(term) + r"\right]_{k}"


class ScalarActivation(sp.Expr):
    """A piecewise activation of one unit in the elementary graph: one gate, no decomposition."""

    is_real = True

    def __new__(
        cls, name: str, params: Mapping[str, float] | sp.Tuple, arg: sp.Basic
    ) -> ScalarActivation:
        return super().__new__(cls, Str(str(name)), _params_tuple(params), arg)

    def as_gate(self) -> tuple[Gate, tuple[sp.Basic, ...]]:
        """The gate is the registry definition itself (its SymPy derivative is the local one)."""
        act = ACTIVATIONS[str(self.args[0])]
        a0 = sp.Symbol("a0", real=True)
        fn = act.instantiate(_params_dict(self.args[1])).xreplace({z_scalar: a0})
        return Gate("activation", act.unicode, fn, (a0,), label_tex=act.latex), (self.args[2],)

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return f"{ACTIVATIONS[str(self.args[0])].unicode}({printer._print(self.args[2])})"

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        inner = printer._print(self.args[2])
        return rf"{ACTIVATIONS[str(self.args[0])].latex}\left({inner}\right)"


# ------------------------------------------------------------------ spec → steps


def _tex_name(role: str, layer: int | None = None, index: str = "") -> str:
    text = role if layer is None else f"{role}^{{{layer}}}"
    return f"{text}_{{{index}}}" if index else text


def check_drawable(network: Network, granularity: Granularity = "coarse") -> None:
    """Refuse networks whose graph would be unreadable, naming the field and the limit.

    Raises
    ------
    SpecError
        When a layer (inputs included) has more than :data:`MAX_UNITS` units or there are
        more than :data:`MAX_LAYERS` layers.
    """
    allowed = (
        f"a computation graph is drawn for at most {MAX_UNITS} units per layer (inputs "
        f"included) and {MAX_LAYERS} layers; draw a smaller copy of the network"
    )
    if network.inputs > MAX_UNITS:
        raise SpecError("inputs", network.inputs, allowed)
    for index, layer in enumerate(network.layers):
        if layer.width > MAX_UNITS:
            raise SpecError(f"layers[{index}].width", layer.width, allowed)
    if network.depth > MAX_LAYERS:
        raise SpecError("layers", f"{network.depth} layers", allowed)
    if granularity not in ("coarse", "elementary"):
        raise SpecError("granularity", granularity, "use coarse or elementary")


def _regulariser(network: Network, weights: Sequence[sp.Basic], biases: Sequence[sp.Basic]):  # noqa: ANN202
    # A decimal constant (0.01, not 1/100) so the step and the gate read as the spec does;
    # every value is carried at PRECISION digits anyway.
    lam = sp.Float(repr(float(network.l2)), PRECISION)
    terms = list(weights) + (list(biases) if network.regularize_biases else [])
    return lam * sp.Add(*terms)


def network_assignments(
    network: Network, granularity: Granularity = "coarse"
) -> list[tuple[str, sp.Basic]]:
    """The forward pass of one sample as named steps, the loss (and L2 term) last.

    Coarse steps are vector steps (``z1 = W1 x + b1``, ``a1 = φ(z1)``); elementary ones are
    scalar (``z1_1 = w1_11 x_1 + w1_12 x_2 + b1_1``, ``a1_1`` = the activation's definition
    at ``z1_1``). The output is ``C`` (the loss), or ``J = C + R`` with ``R = λ Σ ‖W‖²``
    when ``l2 > 0``.
    """
    widths = network.widths
    if granularity == "coarse":
        return _coarse_steps(network, widths)
    return _elementary_steps(network, widths)


def _coarse_steps(network: Network, widths: tuple[int, ...]) -> list[tuple[str, sp.Basic]]:
    steps: list[tuple[str, sp.Basic]] = []
    prev: sp.Basic = sp.MatrixSymbol("x", widths[0], 1)
    weights, biases = [], []
    for layer, spec in enumerate(network.layers, start=1):
        W = sp.MatrixSymbol(f"W{layer}", widths[layer], widths[layer - 1])
        b = sp.MatrixSymbol(f"b{layer}", widths[layer], 1)
        steps.append((f"z{layer}", W * prev + b))
        z = sp.MatrixSymbol(f"z{layer}", widths[layer], 1)
        steps.append((f"a{layer}", Activated(spec.activation, spec.param_values(), z)))
        prev = sp.MatrixSymbol(f"a{layer}", widths[layer], 1)
        weights.append(Norm2(W) ** 2)
        biases.append(Norm2(b) ** 2)
    steps.append(("C", LossSum(network.loss, prev, sp.MatrixSymbol("y", widths[-1], 1))))
    return _with_l2(network, steps, weights, biases)


def _with_l2(
    network: Network,
    steps: list[tuple[str, sp.Basic]],
    weights: Sequence[sp.Basic],
    biases: Sequence[sp.Basic],
) -> list[tuple[str, sp.Basic]]:
    if network.l2 > 0:
        steps.append(("R", _regulariser(network, weights, biases)))
        steps.append(("J", sp.Symbol("C", real=True) + sp.Symbol("R", real=True)))
    return steps


def _elementary_steps(network: Network, widths: tuple[int, ...]) -> list[tuple[str, sp.Basic]]:
    steps: list[tuple[str, sp.Basic]] = []
    prev = [sp.Symbol(f"x_{k + 1}", real=True) for k in range(widths[0])]
    weights, biases = [], []
    for layer, spec in enumerate(network.layers, start=1):
        zs = []
        for j in range(widths[layer]):
            row = [
                sp.Symbol(f"w{layer}_{j + 1}{k + 1}", real=True) for k in range(widths[layer - 1])
            ]
            bias = sp.Symbol(f"b{layer}_{j + 1}", real=True)
            products = [w * p for w, p in zip(row, prev, strict=True)]
            steps.append((f"z{layer}_{j + 1}", sp.Add(*products, bias)))
            zs.append(sp.Symbol(f"z{layer}_{j + 1}", real=True))
            weights += [w**2 for w in row]
            biases.append(bias**2)
        act = ACTIVATIONS[spec.activation]
        definition = act.instantiate(spec.param_values())
        if act.elementwise:
            outputs = [
                ScalarActivation(spec.activation, spec.param_values(), z)
                if definition.has(sp.Piecewise)
                else definition.xreplace({z_scalar: z})
                for z in zs
            ]
        else:
            outputs = list(g.apply_activation(spec.activation, spec.param_values(), sp.Matrix(zs)))
        if all(out == z for out, z in zip(outputs, zs, strict=True)):
            prev = zs  # the identity: a = z, no gate of its own
            continue
        for j, out in enumerate(outputs):
            steps.append((f"a{layer}_{j + 1}", out))
        prev = [sp.Symbol(f"a{layer}_{j + 1}", real=True) for j in range(widths[layer])]
    targets = [sp.Symbol(f"y_{k + 1}", real=True) for k in range(widths[-1])]
    term = LOSSES[network.loss].term
    cost = sp.Add(
        *[term.xreplace({a_scalar: av, y_scalar: yv}) for av, yv in zip(prev, targets, strict=True)]
    )
    steps.append(("C", cost))
    return _with_l2(network, steps, weights, biases)


def _names_tex(network: Network, granularity: Granularity) -> tuple[tuple[str, str], ...]:
    widths = network.widths
    names = {"x": "x", "y": "y", "C": "C", "R": "R", "J": "J"}
    for k in range(1, max(widths) + 1):
        names[f"x_{k}"] = _tex_name("x", None, str(k))
        names[f"y_{k}"] = _tex_name("y", None, str(k))
    for layer in range(1, len(widths)):
        for role in ("W", "b", "z", "a"):
            names[f"{role}{layer}"] = _tex_name(role, layer)
        for j in range(1, widths[layer] + 1):
            for role in ("b", "z", "a"):
                names[f"{role}{layer}_{j}"] = _tex_name(role, layer, str(j))
            for k in range(1, widths[layer - 1] + 1):
                names[f"w{layer}_{j}{k}"] = _tex_name("w", layer, f"{j}{k}")
    return tuple(sorted(names.items()))


def network_graph(network: Network, granularity: Granularity = "coarse") -> Graph:
    """The computation graph of ``network`` for one sample (see :func:`network_assignments`).

    Raises
    ------
    SpecError
        When the network is too large to draw (:func:`check_drawable`), or its elementary
        graph has more than :data:`MAX_ELEMENTARY_NODES` nodes.
    """
    check_drawable(network, granularity)
    graph = graph_from_assignments(
        network_assignments(network, granularity), granularity, max_nodes=10_000
    )
    if granularity == "elementary" and len(graph.nodes) > MAX_ELEMENTARY_NODES:
        raise SpecError(
            "granularity",
            "elementary",
            f"this network's elementary graph has {len(graph.nodes)} nodes and at most "
            f"{MAX_ELEMENTARY_NODES} are drawn; use --granularity coarse",
        )
    used = {node.name for node in graph.nodes}
    names = tuple((n, t) for n, t in _names_tex(network, granularity) if n in used)
    return replace(graph, names_tex=names)


# ------------------------------------------------------------------ the sample and the point


def _shapes(network: Network) -> dict[str, tuple[int, int]]:
    widths = network.widths
    shapes = {"x": (widths[0], 1)}
    for layer in range(1, len(widths)):
        shapes[f"W{layer}"] = (widths[layer], widths[layer - 1])
        shapes[f"b{layer}"] = (widths[layer], 1)
    shapes["y"] = (widths[-1], 1)
    return shapes


def _describe_shape(network: Network, name: str) -> str:
    widths = network.widths
    if name == "x":
        return f"the network has {widths[0]} inputs"
    if name == "y":
        return f"the output layer has {widths[-1]} units"
    layer = int(name[1:])
    if name.startswith("W"):
        return f"layer {layer} maps {widths[layer - 1]} units to {widths[layer]}"
    return f"layer {layer} has {widths[layer]} units"


def _tenths(rng: random.Random, low: int, high: int, nonzero: bool) -> sp.Rational:
    while True:
        value = rng.randint(low, high)
        if value or not nonzero:
            return sp.Rational(value, 10)


def _target(network: Network, rng: random.Random) -> sp.ImmutableMatrix:
    """A valid target for the loss: one-hot when targets are distributions, else in range."""
    loss = LOSSES[network.loss]
    n = network.widths[-1]
    if loss.target_is_distribution:
        hot = rng.randrange(n)
        return sp.ImmutableMatrix([int(k == hot) for k in range(n)])
    domain = loss.output_domain
    if domain.is_finite_set is False and domain.inf.is_finite and domain.sup.is_finite:
        low, width = domain.inf, domain.sup - domain.inf
        return sp.ImmutableMatrix([low + width * _tenths(rng, 1, 9, True) for _ in range(n)])
    return sp.ImmutableMatrix([_tenths(rng, -9, 9, False) for _ in range(n)])


def _kinks(network: Network, point: Mapping[str, sp.ImmutableMatrix]) -> list[str]:
    """One warning line per layer whose pre-activations sit on a boundary of its piecewise
    activation, naming every such unit and the derivative the graph takes there."""
    lines: list[str] = []
    act_values: sp.Matrix = sp.Matrix(point["x"])
    for layer, spec in enumerate(network.layers, start=1):
        z = (point[f"W{layer}"] * act_values + point[f"b{layer}"]).evalf(PRECISION)
        definition = ACTIVATIONS[spec.activation].instantiate(spec.param_values())
        edges = [
            rel
            for pw in definition.atoms(sp.Piecewise)
            for _, condition in pw.args
            for rel in condition.atoms(sp.core.relational.Relational)
        ]
        on: dict[sp.Basic, list[int]] = {}
        for rel in edges:
            for k, e in enumerate(z, start=1):
                if abs((rel.lhs - rel.rhs).xreplace({z_scalar: e})) < sp.Float("1e-20"):
                    on.setdefault(rel.rhs, [])
                    if k not in on[rel.rhs]:
                        on[rel.rhs].append(k)
        for value, units in on.items():
            slope = sp.diff(definition, z_scalar).xreplace({z_scalar: value})
            names = ", ".join(f"z{layer}[{k}]" for k in units)
            lines.append(
                f"--at puts {names} = {sp.sstr(value)} on the kink of {spec.activation} in "
                f"layer {layer}, where it has no derivative; the graph uses {spec.activation}' = "
                f"{sp.sstr(sp.N(slope, 6))}, the slope of the branch that holds the kink"
            )
        act_values = g.apply_activation(spec.activation, spec.param_values(), z).evalf(PRECISION)
    return lines


def default_point(network: Network, seed: int = DEFAULT_SEED) -> dict[str, sp.ImmutableMatrix]:
    """Deterministic sample and parameters: tenths from a seeded generator.

    ``x`` and the weights are nonzero tenths in [−0.9, 0.9], biases tenths in [−0.5, 0.5],
    ``y`` a valid target (:func:`_target`); redrawn while a pre-activation sits on the kink
    of a piecewise activation, so every gradient is a derivative.
    """
    rng = random.Random(seed)
    for _ in range(100):
        point: dict[str, sp.ImmutableMatrix] = {}
        for name, (rows, cols) in _shapes(network).items():
            if name == "y":
                point[name] = _target(network, rng)
            else:
                low, high, nonzero = (-5, 5, False) if name.startswith("b") else (-9, 9, True)
                entries = [_tenths(rng, low, high, nonzero) for _ in range(rows * cols)]
                point[name] = sp.ImmutableMatrix(rows, cols, entries)
        if not _kinks(network, point):
            return point
    raise ExplainError("no sample away from the activations' kinks; give one with --at")


def network_point(
    network: Network, at: Mapping[str, object] | None = None, seed: int = DEFAULT_SEED
) -> dict[str, sp.ImmutableMatrix]:
    """:func:`default_point` with the values in ``at`` (numbers or nested lists) replacing it.

    Raises
    ------
    ExplainError
        For a name the network does not have, or a value of the wrong shape.
    """
    point = default_point(network, seed)
    shapes = _shapes(network)
    for name, raw in (at or {}).items():
        if name not in shapes:
            raise ExplainError(
                f"--at: this network has no value {name}; its values are {', '.join(shapes)}"
            )
        value = as_value(raw, name)
        if not isinstance(value, sp.MatrixBase):
            value = sp.ImmutableMatrix([[value]])
        if value.shape != shapes[name]:
            want = "x".join(map(str, shapes[name]))
            got = "x".join(map(str, value.shape))
            raise ExplainError(
                f"--at: {name} must be {want} ({_describe_shape(network, name)}), got {got}"
            )
        point[name] = sp.ImmutableMatrix(value)
    return point


def _graph_point(
    graph: Graph, point: Mapping[str, sp.ImmutableMatrix], granularity: Granularity
) -> dict[str, object]:
    if granularity == "coarse":
        return {name: point[name] for name in graph.inputs}
    scalars: dict[str, object] = {}
    for name, value in point.items():
        for r in range(value.rows):
            for c in range(value.cols):
                key = f"w{name[1:]}_{r + 1}{c + 1}" if name.startswith("W") else f"{name}_{r + 1}"
                scalars[key] = value[r, c]
    return {name: scalars[name] for name in graph.inputs}


def explain_network(
    network: Network,
    at: Mapping[str, object] | None = None,
    granularity: Granularity = "coarse",
    seed: int = DEFAULT_SEED,
) -> Backprop:
    """Build the network's graph and run backprop at one sample (defaults, or ``at``).

    Examples
    --------
    >>> from symprop.core.spec import Dense, Network
    >>> net = Network(inputs=1, layers=[Dense(1, "sigmoid")], loss="half_sse")
    >>> r = explain_network(net, {"x": [1], "W1": [[0]], "b1": [0], "y": [1]})
    >>> float(r.values["C"]), float(r.grads["W1"][0, 0])
    (0.125, -0.125)
    """
    graph = network_graph(network, granularity)
    point = network_point(network, at, seed)
    for kink in _kinks(network, point) if at else ():
        warnings.warn(kink, SymPropWarning, stacklevel=2)
    return backprop(graph, _graph_point(graph, point, granularity))


def graph_title(network: Network) -> str:
    """The picture's title: the network's title (or name) and the sample it is drawn for."""
    widths = "-".join(map(str, network.widths))
    name = network.title or f"{network.name} ({widths})"
    return f"{name}: computation graph of one sample"
