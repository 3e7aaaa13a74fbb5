"""A large network at one exact point: every weight, input and target a number, forward
values and brute-force derivatives from one recorded computation (:mod:`.tape`).

:class:`PointModel` answers what the evaluator asks of a :class:`~symprop.verify.setting.Model`
(``z``, ``a``, ``W``, ``b``, ``x``, ``y`` per sample, ``δ``, costs, ``J``), with numbers at the
point instead of expressions in symbols. A claim is then compared side by side at several
points: ✓ only when both sides agree at every point to the engine's tolerance
(:data:`symprop.core.proof.TOLERANCE`), ✗ with the point otherwise.

A derivative written in a claim (``∂C/∂W^l``, ``∂a^L/∂z^l``) is taken with respect to fresh
symbols standing for the differentiated quantity: what depends on it is a :class:`Traced`
value of the tape, whose derivative with respect to a fresh symbol is that node's adjoint.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp

from symprop.core import proof
from symprop.core.errors import shown
from symprop.core.instance import decayed, hyper_values, parameter_symbols
from symprop.core.layer_proof import entries
from symprop.core.layers import get_layer_kind
from symprop.core.registry import ACTIVATIONS, LOSSES, i_idx, n_units, z_vec
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.spec import Network
from symprop.core.topology import feature_axes
from symprop.parsing import Derivative, Name, iter_nodes
from symprop.verify.errors import VerifyError
from symprop.verify.evaluate import NotDefined, internal_layer
from symprop.verify.notation import Ref, valid_layer
from symprop.verify.setting import PENALTY_SCALES, SampleView
from symprop.verify.tape import DIGITS, Tape, to_float

# ------------------------------------------------------------ when a network is checked at points

SYMBOLIC_SYMBOLS = 48
"""Most symbols (inputs, targets, weights, biases) of a network checked symbolically, as
before: a larger one is checked at points (its nested cost is too large for ``sympy.diff``)."""
SYMBOLIC_DEPTH = 6
"""Deepest network checked symbolically."""
POINTS_AT_SCALE = 3
"""Exact random points a network checked at points is compared at (each a full forward and
reverse sweep; a false claim agrees at a random rational point with probability 0)."""
MAX_WEIGHTS = 60_000
"""Most parameters (weights and biases) of a network checked at all: its tape records about
two nodes per parameter and sample, so time and memory stay bounded (digits: 17 226)."""


def parameter_count(network: Network) -> int:
    """The number of parameter entries of ``network``, from its sizes alone."""
    total = 0
    for lay, spec in enumerate(network.layers, start=1):
        kind = get_layer_kind(spec.kind)
        sizes = dict(network.topology.sizes[lay - 1])
        for p in kind.parameters:
            count = 1
            for s in feature_axes(kind, p.operand):
                count *= sizes[s]
            total += count
    return total


def checked_at_points(network: Network, batch: int) -> bool:
    """Whether ``network`` is checked at points rather than symbolically.

    Raises
    ------
    VerifyError
        When it has more than :data:`MAX_WEIGHTS` parameters.
    """
    params = parameter_count(network)
    if params > MAX_WEIGHTS:
        raise VerifyError(
            f"the network has {params} parameters; verify checks networks of at most {MAX_WEIGHTS}"
        )
    symbols = params + batch * (network.widths[0] + network.widths[-1])
    return symbols > SYMBOLIC_SYMBOLS or network.depth > SYMBOLIC_DEPTH


# ---------------------------------------------------------------- the point's symbols and values

NAMED_PARAMETERS = 400
"""A network with at most this many parameters names every weight in a counterexample; a
larger one names its inputs, targets and λ, and says how its weights were drawn."""


@dataclass(frozen=True)
class SymbolView:
    """The network's symbols without expressions (for naming a point's values): ``x``, ``y``
    per sample, and ``W``, ``b`` per layer when :attr:`named`, in :class:`SampleView` form.

    Attributes
    ----------
    shapes
        Per parameter (name, layer), its shape as (rows, columns).
    named
        Whether the parameters have symbols (at most :data:`NAMED_PARAMETERS` of them).
    """

    net: Network
    batch: int
    insts: tuple[SampleView, ...]
    shapes: dict[tuple[str, int], tuple[int, int]]
    parameters: dict[tuple[str, int], sp.Matrix]
    lam: sp.Expr
    distribution: bool
    named: bool
    fan_in: frozenset[tuple[str, int]]


def _shape(shape: tuple[int, ...]) -> tuple[int, int]:
    return (shape[0] if shape else 1, shape[1] if len(shape) > 1 else 1)


def symbol_view(network: Network, batch: int) -> SymbolView:
    """The symbols of ``network`` (named as :func:`symprop.core.instance.build` names them),
    made without writing any layer out."""
    n0, nl = network.widths[0], network.widths[-1]
    xs = [
        sp.Matrix([sp.Symbol(f"x{s}_{r + 1}", real=True) for r in range(n0)])
        for s in range(1, batch + 1)
    ]
    ys = [
        sp.Matrix([sp.Symbol(f"y{s}_{r + 1}", real=True) for r in range(nl)])
        for s in range(1, batch + 1)
    ]
    shapes: dict[tuple[str, int], tuple[int, int]] = {}
    roles: dict[tuple[str, int], str] = {}
    raw: dict[tuple[str, int], tuple[int, ...]] = {}
    for lay, spec in enumerate(network.layers, start=1):
        kind = get_layer_kind(spec.kind)
        sizes = dict(network.topology.sizes[lay - 1])
        for p in kind.parameters:
            raw[(p.name, lay)] = tuple(sizes[s] for s in feature_axes(kind, p.operand))
            shapes[(p.name, lay)] = _shape(raw[(p.name, lay)])
            roles[(p.name, lay)] = p.role
    named = sum(r * c for r, c in shapes.values()) <= NAMED_PARAMETERS
    params = (
        {key: parameter_symbols(key[0], key[1], shape) for key, shape in raw.items()}
        if named
        else {}
    )
    weights = {k[1]: m for k, m in params.items() if roles[k] == "weight"}
    biases = {k[1]: m for k, m in params.items() if roles[k] == "bias"}
    views = tuple(
        SampleView(x=x, y=y, z={}, a={0: x}, W=weights, b=biases, cost=sp.S.Zero)
        for x, y in zip(xs, ys, strict=True)
    )
    lam = sp.Symbol("lambda", positive=True) if network.l2 > 0 else sp.S.Zero
    return SymbolView(
        network,
        batch,
        views,
        shapes,
        params,
        lam,
        LOSSES[network.loss].target_is_distribution,
        named,
        frozenset(k for k, r in roles.items() if r == "weight"),
    )


@dataclass(frozen=True)
class PointValues:
    """One exact random point: per sample its inputs and targets, per parameter its entries
    (row-major), and λ; ``seed`` and ``index`` say how to draw it again."""

    x: tuple[tuple[Fraction, ...], ...]
    y: tuple[tuple[Fraction, ...], ...]
    params: dict[tuple[str, int], tuple[Fraction, ...]]
    lam: Fraction | None
    seed: int
    index: int

    def rational(self, view: SymbolView) -> dict[sp.Symbol, sp.Rational]:
        """The values of the view's symbols (parameters only when they are named)."""
        out: dict[sp.Symbol, sp.Rational] = {}
        for it, xs, ys in zip(view.insts, self.x, self.y, strict=True):
            out.update(zip(it.x, map(_rational, xs), strict=True))
            out.update(zip(it.y, map(_rational, ys), strict=True))
        for key, mat in view.parameters.items():
            out.update(zip(mat, map(_rational, self.params[key]), strict=True))
        if self.lam is not None:
            out[view.lam] = _rational(self.lam)
        return out


def _rational(f: Fraction) -> sp.Rational:
    return sp.Rational(f.numerator, f.denominator)


def _real(f: Fraction) -> mpmath.mpf:
    """``f`` as an mpmath real at the working precision (call inside it)."""
    return mpmath.mpf(mpmath.libmp.from_rational(f.numerator, f.denominator, mpmath.mp.prec))


def draw_values(view: SymbolView, count: int, seed: int) -> Iterator[PointValues]:
    """``count`` seeded exact points, drawn as :func:`symprop.verify.numeric.sample_points`
    draws them: targets in (0, 1) (a distribution's summing to 1), λ in [0.1, 1], every
    other value of magnitude in [0.1, 1.5] with a random sign (away from 0), a weight's
    divided by its layer's fan-in."""
    rng = random.Random(seed)

    def other() -> Fraction:
        sign = rng.choice([-1, 1])
        return Fraction(sign * rng.randint(100, 1500), 1000)

    for index in range(count):
        xs, ys = [], []
        for it in view.insts:
            xs.append(tuple(other() for _ in it.x))
            target = [Fraction(rng.randint(50, 950), 1000) for _ in it.y]
            if view.distribution:
                total = sum(target)
                target = [t / total for t in target]
            ys.append(tuple(target))
        # A weight matrix's entries are divided by its fan-in, so that pre-activations stay
        # of order 1 however wide the layer (64 inputs of size 1.5 would give z of order 100,
        # where a softmax's exponentials leave the evaluator's range).
        params = {
            key: tuple(other() / (c if key in view.fan_in else 1) for _ in range(r * c))
            for key, (r, c) in sorted(view.shapes.items())
        }
        lam = Fraction(rng.randint(100, 1000), 1000) if view.lam != 0 else None
        yield PointValues(tuple(xs), tuple(ys), params, lam, seed, index)


class _Matrices(Mapping[int, sp.Matrix]):
    """Per layer, a parameter's matrix of exact values, made when first read."""

    def __init__(self, keys: dict[int, tuple[tuple[int, int], tuple[Fraction, ...]]]) -> None:
        self._keys = keys
        self._made: dict[int, sp.Matrix] = {}

    def __getitem__(self, layer: int) -> sp.Matrix:
        if layer not in self._made:
            (rows, cols), values = self._keys[layer]
            self._made[layer] = sp.Matrix(rows, cols, [_rational(v) for v in values])
        return self._made[layer]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


# ---------------------------------------------------------------- traced values


@dataclass
class _Live:
    """The fresh symbols of one derivative and the tape nodes they stand for."""

    tape: Tape
    index: dict[sp.Symbol, int]
    symbols: frozenset[sp.Symbol]
    adjoints: dict[int, list[mpmath.mpf]]

    def adjoint(self, output: int, node: int) -> mpmath.mpf:
        if output not in self.adjoints:
            self.adjoints[output] = self.tape.gradient(output)
        adj = self.adjoints[output]
        return adj[node] if node < len(adj) else mpmath.mpf(0)


_LIVE: dict[int, _Live] = {}
_KEYS = itertools.count(1)


class Traced(sp.Function):
    """A tape value that depends on a derivative's fresh symbols: ``Traced(key, node)``.

    Its derivative with respect to a fresh symbol is the node's adjoint there (one reverse
    sweep per node, cached); it exists only while that derivative is being taken.
    """

    is_real = True

    @classmethod
    def eval(cls, key: sp.Integer, node: sp.Integer) -> None:
        return None

    @property
    def free_symbols(self) -> set[sp.Basic]:  # type: ignore[override]
        live = _LIVE.get(int(self.args[0]))
        return live.symbols if live is not None else frozenset()  # type: ignore[return-value]

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        live = _LIVE[int(self.args[0])]
        if s not in live.index:
            return sp.S.Zero
        return to_float(live.adjoint(int(self.args[1]), live.index[s]))


# ---------------------------------------------------------------- the model at a point


class PointModel:
    """``network`` at one exact point: numbers for every quantity, derivatives by the tape.

    Parameters
    ----------
    network, batch
        The spec (its own widths) and the number of samples.
    point
        The values of every input, target, parameter and λ (:func:`draw_values`).
    view
        The network's symbols (:func:`symbol_view`).
    loss_term, penalty
        As for :class:`~symprop.verify.setting.Model`.

    Raises
    ------
    symprop.core.proof.Kink
        A piecewise activation is within the margin of a kink at this point.
    """

    pointwise = True

    def __init__(
        self,
        network: Network,
        batch: int,
        point: PointValues,
        view: SymbolView,
        loss_term: sp.Expr | None = None,
        penalty: str = "lambda",
    ) -> None:
        self.net = network
        self.L = network.depth
        self.batch = batch
        self.view = view
        self.point = point
        self.loss_term = loss_term
        self.targets: list[sp.Symbol] = []
        # No symbols are left to draw (every value is a number): nothing to normalise.
        self.distribution = False
        self.lam: sp.Expr = _rational(point.lam) if point.lam is not None else sp.S.Zero
        self.penalty_factor = PENALTY_SCALES[penalty](sp.Integer(batch))
        self.unnamed = (
            ""
            if view.named
            else f"{sum(r * c for r, c in view.shapes.values())} values drawn by seed "
            f"{point.seed} (point {point.index + 1})"
        )
        tape = Tape()
        self.tape = tape
        with proof.working_precision(DIGITS):
            self.param_nodes = {
                key: [tape.leaf(_real(v)) for v in values] for key, values in point.params.items()
            }
            # Node ids per (role, layer) and sample; x is a^0, y the targets.
            self.nodes: list[dict[tuple[str, int], list[int]]] = []
            self.cost_nodes: list[int] = []
            for s in range(batch):
                self.nodes.append(self._forward(point.x[s], point.y[s]))
            self.lam_node = tape.leaf(_real(point.lam)) if point.lam is not None else None
            self._objective: int | None = None
        self._gradients: dict[int, list[mpmath.mpf]] = {}
        self._delta: dict[tuple[int, int], sp.Matrix] = {}
        roles = {
            (p.name, lay): p.role
            for lay, spec in enumerate(network.layers, start=1)
            for p in get_layer_kind(spec.kind).parameters
        }
        self._weights = _Matrices(
            {k[1]: (view.shapes[k], v) for k, v in point.params.items() if roles[k] == "weight"}
        )
        self._biases = _Matrices(
            {k[1]: (view.shapes[k], v) for k, v in point.params.items() if roles[k] == "bias"}
        )
        self.insts = [self._sample_view(s) for s in range(batch)]

    # -- recording

    def _forward(
        self, x: tuple[Fraction, ...], y: tuple[Fraction, ...]
    ) -> dict[tuple[str, int], list[int]]:
        tape, net = self.tape, self.net
        nodes: dict[tuple[str, int], list[int]] = {
            ("a", 0): [tape.leaf(_real(v)) for v in x],
            ("y", 0): [tape.leaf(_real(v)) for v in y],
        }
        for lay, spec in enumerate(net.layers, start=1):
            kind = get_layer_kind(spec.kind)
            sizes = dict(net.topology.sizes[lay - 1])
            arrays: dict[str, dict[tuple[int, ...], int]] = {}
            for slot, src in enumerate(net.sources(lay)):
                op = kind.inputs[slot]
                arrays[op.name] = dict(zip(entries(op, sizes), nodes[("a", src)], strict=True))
            for p in kind.parameters:
                arrays[p.operand.name] = dict(
                    zip(entries(p.operand, sizes), self.param_nodes[(p.name, lay)], strict=True)
                )
            z = tape.layer(kind, sizes, hyper_values(net, lay), arrays)
            nodes[("z", lay)] = z
            nodes[("a", lay)] = self._activation(spec.activation, spec.param_values(), z)
        out, target = nodes[("a", self.L)], nodes[("y", 0)]
        term = self.loss_term if self.loss_term is not None else LOSSES[net.loss].term
        # One memo per unit: a memo maps sub-expressions to nodes for one binding of leaves.
        self.cost_nodes.append(
            tape.add(
                [
                    tape.trace(term, {a_scalar: o, y_scalar: t}, {})
                    for o, t in zip(out, target, strict=True)
                ]
            )
        )
        return nodes

    def _activation(self, name: str, params: dict[str, float], z: list[int]) -> list[int]:
        act = ACTIVATIONS[name]
        definition = act.instantiate(params)
        if act.elementwise:
            return [self.tape.trace(definition, {z_scalar: e}, {}) for e in z]
        n = len(z)
        leaves = {z_vec[m + 1]: e for m, e in enumerate(z)}
        memo: dict = {}
        return [
            self.tape.trace(definition.subs({i_idx: r + 1, n_units: n}).doit(), leaves, memo)
            for r in range(n)
        ]

    def objective_node(self) -> int:
        """``J`` on the tape: the mean cost plus the scaled penalty (recorded when first asked)."""
        if self._objective is None:
            tape = self.tape
            with proof.working_precision(DIGITS):
                mean = tape.mul([tape.add(self.cost_nodes), tape.const(sp.Rational(1, self.batch))])
                terms = [mean]
                if self.lam_node is not None:
                    squares = [
                        tape.mul([n, n]) for key in decayed(self.net) for n in self.param_nodes[key]
                    ]
                    terms.append(
                        tape.mul(
                            [tape.const(self.penalty_factor), self.lam_node, tape.add(squares)]
                        )
                    )
                self._objective = tape.add(terms)
        return self._objective

    # -- what the evaluator reads

    def _vector(self, ids: list[int], rows: int | None = None, cols: int = 1) -> sp.Matrix:
        values = [to_float(self.tape.values[i]) for i in ids]
        return sp.Matrix(rows or len(values), cols, values)

    def gradient(self, output: int) -> list[mpmath.mpf]:
        """Adjoints of every node from ``output`` (one reverse sweep, cached)."""
        if output not in self._gradients:
            self._gradients[output] = self.tape.gradient(output)
        return self._gradients[output]

    def _sample_view(self, s: int) -> SampleView:
        nodes = self.nodes[s]
        exact = {
            "x": sp.Matrix([_rational(v) for v in self.point.x[s]]),
            "y": sp.Matrix([_rational(v) for v in self.point.y[s]]),
        }
        return SampleView(
            x=exact["x"],
            y=exact["y"],
            z={lay: self._vector(nodes[("z", lay)]) for lay in range(1, self.L + 1)},
            a={
                0: exact["x"],
                **{lay: self._vector(nodes[("a", lay)]) for lay in range(1, self.L + 1)},
            },
            W=self._weights,  # type: ignore[arg-type]
            b=self._biases,  # type: ignore[arg-type]
            cost=to_float(self.tape.values[self.cost_nodes[s]]),
        )

    def params(self, layer: int) -> dict[str, float]:
        return self.net.layers[layer - 1].param_values()

    def activation(self, layer: int) -> str:
        return self.net.layers[layer - 1].activation

    def cost(self, sample: int = 0) -> sp.Expr:
        return self.insts[sample].cost

    def objective(self, first_cost: sp.Expr | None = None) -> sp.Expr:
        if first_cost is not None:
            raise VerifyError("the objective of a changed cost is not recorded at a point")
        return to_float(self.tape.values[self.objective_node()])

    def delta(self, layer: int, sample: int = 0) -> sp.Matrix:
        """Brute force at the point: the adjoints of ``z^layer`` from the sample's cost."""
        key = (layer, sample)
        if key not in self._delta:
            adj = self.gradient(self.cost_nodes[sample])
            self._delta[key] = sp.Matrix(
                [to_float(adj[n]) for n in self.nodes[sample][("z", layer)]]
            )
        return self._delta[key]

    def symbols(self) -> list[sp.Symbol]:
        return []

    # -- derivatives written in a claim

    def differentiate(self, ev: Any, node: Derivative, ref: Ref) -> sp.Matrix:
        """``node`` (∂num/∂den) at the point, for the evaluator ``ev``.

        The denominator's entries become fresh symbols; every network value that depends on
        them is a :class:`Traced` node of the tape, so ``sympy.diff`` of the numerator gives
        the adjoints. Differentiating δ, Δ or a derivative again is refused (the tape holds
        first derivatives only).
        """
        role, layer = self._den(ev, ref)
        for sub in iter_nodes(node.num):
            if isinstance(sub, Derivative):
                raise VerifyError(
                    "a second derivative is checked on small networks only (this network is "
                    "checked at points)"
                )
            if isinstance(sub, Name):
                try:
                    sub_role = ev.profile.resolve(sub).role
                except VerifyError:
                    continue
                if sub_role in ("delta", "Delta") or (sub_role == "x" and layer == 0):
                    raise VerifyError(
                        f"differentiating {shown(sub.key)} is checked on small networks only "
                        "(this network is checked at points)"
                    )
        if role in ("W", "b"):
            base = self.insts[0].W[layer] if role == "W" else self.insts[0].b[layer]
            key_name = next(
                p.name
                for p in get_layer_kind(self.net.layers[layer - 1].kind).parameters
                if p.role == ("weight" if role == "W" else "bias")
            )
            ids = self.param_nodes[(key_name, layer)]
        else:
            ids = self.nodes[0][(role, layer)]
            base = self.insts[0].a[layer] if role == "a" else self.insts[0].z[layer]
        # Python-level construction: a lambda would receive SymPy integers to format.
        fresh = sp.Matrix(
            base.rows, base.cols, [sp.Dummy("f", real=True) for _ in range(base.rows * base.cols)]
        )
        key = next(_KEYS)
        live = _Live(
            self.tape, dict(zip(list(fresh), ids, strict=True)), frozenset(fresh), self._gradients
        )
        _LIVE[key] = live
        env = ev.env
        saved = dict(env.overrides)
        try:
            env.overrides.update(self._traced(key, set(ids)))
            env.overrides[(role, layer)] = fresh
            num = ev(node.num)
            den = ev.entry(fresh, ref) if ref.indices else fresh
            result = _differentiate(num, den, live)
            values = dict(zip(list(fresh), list(base), strict=True))
            if all(e.is_Number for e in result):
                return result
            with proof.working_precision(DIGITS):
                return result.applyfunc(lambda e: self._settle(e, key, values))
        finally:
            env.overrides.clear()
            env.overrides.update(saved)
            del _LIVE[key]

    def _den(self, ev: Any, ref: Ref) -> tuple[str, int]:
        if ref.role == "yhat":
            return "a", self.L
        if ref.role == "x":
            return "a", 0
        if ref.role not in ("z", "a", "W", "b"):
            raise VerifyError(
                f"differentiating with respect to {ref.role} is checked on small networks only"
            )
        layer = internal_layer(ref, ev.env)
        if not valid_layer(ref.role, layer, self.L):
            raise NotDefined(f"{ref.role} of layer {layer} does not exist")
        return ref.role, layer

    def _traced(self, key: int, den: set[int]) -> dict[tuple[str, int], Any]:
        """Every recorded quantity of sample 1 that depends on ``den``, as Traced values."""
        tape = self.tape
        objective = self.objective_node()
        depends = bytearray(len(tape))
        for n in den:
            depends[n] = 1
        start = min(den)
        for n in range(start, len(tape)):
            if not depends[n] and any(depends[p] for p in tape.parents[n]):
                depends[n] = 1
        k = sp.Integer(key)

        def value(n: int) -> sp.Expr:
            return Traced(k, sp.Integer(n)) if depends[n] else to_float(tape.values[n])

        out: dict[tuple[str, int], Any] = {}
        nodes = self.nodes[0]
        for lay in range(1, self.L + 1):
            for role in ("z", "a"):
                ids = nodes[(role, lay)]
                if any(depends[n] for n in ids):
                    out[(role, lay)] = sp.Matrix([value(n) for n in ids])
        out[("C", 0)] = value(self.cost_nodes[0])
        out[("J", 0)] = value(objective)
        return out

    def _settle(self, e: sp.Expr, key: int, values: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
        """A derivative's entry as a number: fresh symbols and Traced nodes by their values."""
        if e.is_Number:
            return e
        traced = {t: to_float(self.tape.values[int(t.args[1])]) for t in e.atoms(Traced)}
        return e.xreplace({**values, **traced})


def _differentiate(num: sp.Matrix, den: sp.Matrix, live: _Live) -> sp.Matrix:
    """The evaluator's rule for which derivative a numerator and denominator shape make.

    An entry that is one traced value (the cost, ``a^L_k``) is read off its adjoints, as
    ``sympy.diff`` would give them, without building thousands of derivative objects.
    """

    def d(e: sp.Expr, s: sp.Symbol) -> sp.Expr:
        if isinstance(e, Traced):
            return to_float(live.adjoint(int(e.args[1]), live.index[s]))
        return sp.diff(e, s)

    if num.shape == (1, 1):
        return den.applyfunc(lambda v: d(num[0], v))
    if den.shape == (1, 1):
        return num.applyfunc(lambda e: d(e, den[0]))
    if num.cols == 1 and den.cols == 1:
        return sp.Matrix(num.rows, den.rows, lambda r, c: d(num[r], den[c]))
    raise NotDefined("the derivative of a vector by a matrix is not a matrix")


@functools.lru_cache(maxsize=4)
def _drawn(network: Network, batch: int, seed: int) -> tuple[SymbolView, list[PointValues]]:
    """The view and the points drawn so far for a network (extended on demand)."""
    return symbol_view(network, batch), []


@functools.lru_cache(maxsize=4)  # the points of one claim (3) and a spare: memory stays bounded
def point_model(
    network: Network,
    batch: int,
    seed: int,
    index: int,
    loss_term: sp.Expr | None = None,
    penalty: str = "lambda",
) -> PointModel:
    """The ``index``-th seeded point model of ``network``, cached: the claims of one file
    about one network share their points (a model at digits size takes about a second).

    Raises
    ------
    symprop.core.proof.Kink
        The point lies near a kink (the caller takes the next one).
    """
    view, drawn = _drawn(network, batch, seed)
    if len(drawn) <= index:
        drawn[:] = list(draw_values(view, index + 1, seed))
    return PointModel(network, batch, drawn[index], view, loss_term, penalty)
