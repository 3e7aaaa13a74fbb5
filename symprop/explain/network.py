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

from symprop.core import symbols as g
from symprop.core.errors import SpecError, SymPropWarning
from symprop.core.layers import get_layer_kind
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.spec import Network
from symprop.explain.backward import PRECISION, Backprop, backprop, forward
from symprop.explain.graph import (
    ExplainError,
    Granularity,
    Graph,
    as_value,
    graph_from_assignments,
)
from symprop.explain.layers import kind_steps
from symprop.explain.registry_gates import (
    Activated,
    ActivationJacobian,
    LossGradient,
    LossSum,
    ScalarActivation,
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

MAX_LAYERS = 6
"""Deepest network drawn: six layers are some forty nodes in a row (a dropout or residual
layer adds only two or three)."""

MAX_ELEMENTARY_NODES = 100
"""Largest elementary (scalar) graph drawn: the 2-4-1 XOR network has 66 nodes."""

DEFAULT_SEED = 0


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
    if granularity == "elementary" and not network.dense_chain:
        # The scalar graph spells out z = W a + b unit by unit; other kinds are drawn by
        # their named arrays (μ, σ, x̂, the mask), which are vectors.
        raise SpecError(
            "granularity",
            "elementary",
            "elementary graphs are drawn for a plain stack of dense layers; use coarse",
        )


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


BATCH_COUPLED_SAMPLES = 3
"""Samples in the graph of a network with a batch-coupled kind (batch norm): its statistics
need a batch, and three samples keep each matrix small."""


def samples(network: Network) -> int:
    """How many samples the graph carries: one, or a batch when a kind couples them."""
    coupled = any(get_layer_kind(k).batch_coupled for k in network.kinds)
    return BATCH_COUPLED_SAMPLES if coupled else 1


def _layer_arrays(network: Network) -> list:
    """Per layer, its :class:`~symprop.explain.layers.LayerArrays` (leaves and steps)."""
    widths, batch = network.widths, samples(network)
    outputs: dict[int, sp.Basic] = {0: sp.MatrixSymbol("x", widths[0], batch)}
    out = []
    for layer, spec in enumerate(network.layers, start=1):
        arrays = kind_steps(
            get_layer_kind(spec.kind),
            layer,
            dict(network.topology.sizes[layer - 1]),
            spec.option_values(),
            batch,
            [outputs[s] for s in network.sources(layer)],
            f"z{layer}",
        )
        outputs[layer] = sp.MatrixSymbol(f"a{layer}", widths[layer], batch)
        out.append(arrays)
    return out


def _coarse_steps(network: Network, widths: tuple[int, ...]) -> list[tuple[str, sp.Basic]]:
    steps: list[tuple[str, sp.Basic]] = []
    batch = samples(network)
    weights, biases = [], []
    for layer, (spec, arrays) in enumerate(
        zip(network.layers, _layer_arrays(network), strict=True), start=1
    ):
        steps.extend(arrays.steps)
        z = sp.MatrixSymbol(f"z{layer}", widths[layer], batch)
        steps.append((f"a{layer}", Activated(spec.activation, spec.param_values(), z)))
        kind = get_layer_kind(spec.kind)
        roles = {p.operand: p.role for p in kind.parameters}
        for _, op, node in arrays.leaves:
            if roles.get(op) == "weight":
                weights.append(Norm2(node) ** 2)
            elif roles.get(op) == "bias":
                biases.append(Norm2(node) ** 2)
    prev = sp.MatrixSymbol(f"a{len(widths) - 1}", widths[-1], batch)
    loss = LossSum(network.loss, prev, sp.MatrixSymbol("y", widths[-1], batch))
    if batch == 1:
        steps.append(("C", loss))
    else:
        # The cost of a batch is the mean of the samples' losses.
        steps.append(("L", loss))
        steps.append(("C", sp.Symbol("L", real=True) / batch))
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
    names["L"] = "L"
    for layer, spec in enumerate(network.layers, start=1):
        # Every named array of the layer's kind, by the kind's display name for the profile.
        kind = get_layer_kind(spec.kind)
        table = kind.displays(network.notation)
        for op in kind.operands():
            if op in kind.inputs or op == kind.output:
                continue
            shown = table[op.name].latex
            names.setdefault(
                f"{op.name}{layer}", _tex_name(f"{{{shown}}}" if "^" in shown else shown, layer)
            )
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


def _leaf_table(network: Network) -> dict[str, tuple[tuple[int, int], str, str]]:
    """Every value of the point, in drawing order: name → (shape, role, description).

    Roles: ``input``, ``target``, a parameter's role (``weight``, ``bias``, ``scale``,
    ``shift``) or ``given`` (an array the derivation takes as given, the dropout mask).
    """
    widths, batch = network.widths, samples(network)
    sample = "" if batch == 1 else f"; a batch of {batch} samples, one per column"
    table = {"x": ((widths[0], batch), "input", f"the network has {widths[0]} inputs{sample}")}
    for layer, (spec, arrays) in enumerate(
        zip(network.layers, _layer_arrays(network), strict=True), start=1
    ):
        kind = get_layer_kind(spec.kind)
        roles = {p.operand: p.role for p in kind.parameters}
        for name, op, node in arrays.leaves:
            rows, cols = node.shape
            role = roles.get(op, "given")
            if role == "weight" and len(op.shape) == 2:
                what = f"layer {layer} maps {cols} units to {rows}"
            else:
                what = f"layer {layer}'s {op.description or op.name} has {rows * cols} entries"
            table[name] = ((rows, cols), role, what)
    table["y"] = (
        (widths[-1], batch),
        "target",
        f"the output layer has {widths[-1]} units{sample}",
    )
    return table


def _shapes(network: Network) -> dict[str, tuple[int, int]]:
    return {name: shape for name, (shape, _, _) in _leaf_table(network).items()}


def _describe_shape(network: Network, name: str) -> str:
    return _leaf_table(network)[name][2]


def _tenths(rng: random.Random, low: int, high: int, nonzero: bool) -> sp.Rational:
    while True:
        value = rng.randint(low, high)
        if value or not nonzero:
            return sp.Rational(value, 10)


def _target(network: Network, rng: random.Random) -> sp.ImmutableMatrix:
    """A valid target for the loss: one-hot when targets are distributions, else in range."""
    columns = [_target_column(network, rng) for _ in range(samples(network))]
    return sp.ImmutableMatrix(sp.Matrix.hstack(*columns))


def _target_column(network: Network, rng: random.Random) -> sp.ImmutableMatrix:
    """The target of one sample."""
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
    kinked = [
        ACTIVATIONS[spec.activation].instantiate(spec.param_values()).has(sp.Piecewise)
        for spec in network.layers
    ]
    if not any(kinked):
        return lines
    # The pre-activations from the forward pass of the coarse graph, whatever the kinds,
    # up to the output layer: the loss may need more digits than a pre-activation does.
    steps = _coarse_steps(network, network.widths)
    last = max(k for k, (name, _) in enumerate(steps) if name == f"a{network.depth}")
    graph = graph_from_assignments(steps[: last + 1], "coarse", max_nodes=10_000)
    values = forward(graph, {name: point[name] for name in graph.inputs})
    for layer, spec in enumerate(network.layers, start=1):
        if not kinked[layer - 1]:
            continue
        z = values[f"z{layer}"]
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
    return lines


def default_point(network: Network, seed: int = DEFAULT_SEED) -> dict[str, sp.ImmutableMatrix]:
    """Deterministic sample and parameters: tenths from a seeded generator.

    ``x`` and the weights are nonzero tenths in [−0.9, 0.9], biases and shifts tenths in
    [−0.5, 0.5], scales 1 plus such a tenth, given arrays (masks) 0 or 1, ``y`` a valid
    target (:func:`_target`); redrawn while a pre-activation sits on the kink
    of a piecewise activation, so every gradient is a derivative.
    """
    rng = random.Random(seed)
    table = _leaf_table(network)
    for _ in range(100):
        point: dict[str, sp.ImmutableMatrix] = {}
        for name, ((rows, cols), role, _) in table.items():
            if role == "target":
                point[name] = _target(network, rng)
                continue
            if role == "given":
                # A given array (a mask) is drawn from {0, 1}, as the kind describes it.
                entries = [sp.Integer(rng.randint(0, 1)) for _ in range(rows * cols)]
            elif role == "scale":
                entries = [1 + _tenths(rng, -5, 5, False) for _ in range(rows * cols)]
            else:
                low, high, nonzero = (-5, 5, False) if role in ("bias", "shift") else (-9, 9, True)
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
    table = _leaf_table(network)
    shapes = {name: shape for name, (shape, _, _) in table.items()}
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
        if table[name][1] == "given" and any(entry not in (0, 1) for entry in value):
            # A given array (a dropout mask) is 0/1 data, as the kind describes it.
            bad = next(entry for entry in value if entry not in (0, 1))
            raise ExplainError(
                f"--at: {name} is given data whose entries are 0 or 1, got {sp.sstr(bad)}"
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
    batch = samples(network)
    of = "one sample" if batch == 1 else f"a batch of {batch} samples (one per column)"
    return f"{name}: computation graph of {of}"
