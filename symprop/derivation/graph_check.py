"""Proving the derivation of a network of layer kinds, compositionally and by reference.

:func:`check_graph` is what :meth:`Derivation.check` runs for a network that is not a plain
dense chain. None of its routes builds a deep network as one nested expression:

1. each activation's φ' form against ``sympy.diff`` (as for a dense chain);
2. each layer kind's local rules: the rewrite steps :func:`~symprop.core.layer_calculus.
   derive_layer` accepted, each proven against ``sympy.diff`` of the written-out forward at
   concrete sizes (:mod:`symprop.core.layer_proof`; derived once per kind, cached);
3. the composed network at two units per layer (a batch of three when a kind couples the
   samples, else two): the forward pass evaluated layer by layer with mpmath at
   :data:`~symprop.core.proof.WORKING_DIGITS` digits from each kind's forward definition
   written out (:func:`symprop.core.instance.layer_instance`), and every printed summary
   step (``summary.delta.{l}``, ``summary.grad_{P}.{l}``) evaluated as written, top down,
   against central differences of the batch cost: ``δ^l_{ij}`` is ∂(Σ_s C^{(s)})/∂z^l_{ij}
   (the convention of :mod:`symprop.derivation.network`), a parameter gradient ∂J/∂P;
4. for small networks (depth ≤ :data:`REFERENCE_MAX_DEPTH`) the reference, at the first
   point (at every point with ``route="reference"``): the whole batch cost as one SymPy
   expression (:func:`symprop.core.instance.build`), differentiated by ``sympy.diff``,
   against the same printed steps.

Claims are named by their step id, so a failure says which formula is wrong.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import sympy as sp

from symprop.core import proof
from symprop.core import symbols as g
from symprop.core.calculus import expand_activations
from symprop.core.instance import (
    Instance,
    build,
    decayed,
    hyper_values,
    layer_instance,
    layer_sizes,
)
from symprop.core.layer_calculus import derive_layer
from symprop.core.layer_proof import written_out
from symprop.core.layers import get_layer_kind
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.derivation import evaluate as ev
from symprop.derivation.steps import Step

REFERENCE_MAX_DEPTH = 2
"""Up to this depth the whole-batch ``sympy.diff`` reference also runs."""
SMALL_WIDTH = 2
"""Units of each layer that sets its width in the checked copy."""


def _per_sample_value(pairs: list, per: list, ndim: int, col: Callable) -> object:
    """One sample's value of a per-sample intermediate with ``ndim`` axes, in matrix form."""
    if ndim == 0:
        return per[0]
    if ndim == 1:
        return col(per)
    cells = {tuple(int(i) for i in e.indices): v for (e, _), v in zip(pairs, per, strict=True)}
    rows = max(r for r, _ in cells)
    cols = max(c for _, c in cells)
    return mpmath.matrix([[cells[(r, c)] for c in range(1, cols + 1)] for r in range(1, rows + 1)])


def batch_for(network: object) -> int:
    """The checked batch: three samples when a kind couples them (two would make batch
    norm's x̂ ±1 whatever the input), else two."""
    coupled = any(get_layer_kind(ly.kind).batch_coupled for ly in network.layers)  # type: ignore[attr-defined]
    return 3 if coupled else 2


def small_copy(network: object) -> object:
    """The network at :data:`SMALL_WIDTH` units per layer."""
    return network.with_widths((SMALL_WIDTH,) * (network.depth + 1))  # type: ignore[attr-defined]


def kind_claims(network: object) -> list[proof.Agreement]:
    """(2) Per kind used: every accepted rewrite of its rules was proven."""
    out = []
    for name in network.kinds:  # type: ignore[attr-defined]
        rules = derive_layer(name)
        steps = [s for grad in (*rules.inputs, *rules.parameters) for s in grad.steps]
        passed = bool(steps) and all(s.proof.accepted for s in steps)
        compared = sum(s.proof.entries for s in steps)
        out.append(
            proof.Agreement(
                name=f"local rules of the {name} kind",
                passed=passed,
                max_relative_difference=0.0 if passed else float("inf"),
                how=f"each of {len(steps)} rewrite steps exactly equal to sympy.diff of the "
                f"written-out forward at concrete sizes ({compared} entries)",
            )
        )
    return out


# --- values at a point ----------------------------------------------------------------------


@dataclass
class Arrays:
    """Numeric values of layer quantities by ``(role, layer)``.

    A per-sample array is stored per sample (``data[(s, *idx)]``, ``s`` 1-based) with its
    per-sample number of axes ``ndim``; a batch array as ``data[idx]``.
    """

    per_sample: dict[tuple[str, int | None], int]
    data: dict[tuple[str, int | None], dict[tuple[int, ...], mpmath.mpf]]

    def put(self, key: tuple[str, int | None], values: dict, ndim: int | None) -> None:
        """Store ``values``; ``ndim`` is the per-sample number of axes (``None``: batch)."""
        self.data[key] = values
        if ndim is not None:
            self.per_sample[key] = ndim
        else:
            self.per_sample.pop(key, None)

    def lookup(
        self, key: tuple[str, int | None], idx: tuple[int, ...], sample: int | None
    ) -> object:
        """One entry; a per-sample array read with its own number of axes uses ``sample``."""
        table = self.data[key]
        if key in self.per_sample and len(idx) == self.per_sample[key]:
            if sample is None:
                raise ev.UnreadableFormulaError(f"formula: {key} needs a sample")
            idx = (sample, *idx)
        return table[idx]


def _quantity_key(name: str) -> tuple[str, int | None]:
    found = g.quantity(name)
    if found is None:
        raise ev.UnreadableFormulaError(f"formula: unknown quantity {name}")
    role, layer = found
    return role, None if layer is None else int(layer)


def evaluate_index(
    expr: sp.Expr,
    arrays: Arrays,
    sizes: dict[sp.Symbol, int],
    sample: int | None,
    bind: dict[sp.Symbol, sp.Expr],
) -> mpmath.mpf:
    """An index-form formula with concrete free indices, as written: sums written out,
    every entry looked up, arithmetic at the working precision."""
    concrete = written_out(expr.xreplace(bind), sizes)
    values: dict[sp.Expr, sp.Expr] = {}
    digits = mpmath.mp.dps
    for e in concrete.atoms(sp.Indexed):
        key = _quantity_key(e.base.label.name)
        if not all(i.is_Integer for i in e.indices):
            raise ev.UnreadableFormulaError(f"formula: cannot read {e}")
        values[e] = sp.Float(arrays.lookup(key, tuple(int(i) for i in e.indices), sample), digits)
    labels = {e.base.label for e in values}
    for s in concrete.free_symbols:
        if isinstance(s, sp.Symbol) and s not in values and s not in labels:
            key = _quantity_key(s.name)
            if key[0] == "lambda":
                values[s] = sp.Float(arrays.data[key][()], digits)
            else:
                values[s] = sp.Float(arrays.lookup(key, (), sample), digits)
    number = sp.N(expand_activations(concrete.xreplace(values)), digits)
    if not number.is_number:
        raise ev.UnreadableFormulaError(f"formula: {expr} left {number}")
    return proof.to_real(sp.Float(number, digits))


# --- the numeric network ----------------------------------------------------------------------


def _activation(name: str, params: dict[str, float], width: int) -> Callable[[list], list]:
    return _activation_cached(name, tuple(sorted(params.items())), width)


@functools.cache
def _activation_cached(
    name: str, items: tuple[tuple[str, float], ...], width: int
) -> Callable[[list], list]:
    """φ at ``width`` units with mpmath (compiled once per activation, parameters, width)."""
    params = dict(items)
    act = ACTIVATIONS[name]
    zs = [sp.Symbol(f"z_{r}", real=True) for r in range(1, width + 1)]
    out = g.apply_activation(name, params, sp.Matrix(zs))
    fn = proof.compile_exprs(list(out), zs)
    if act.elementwise:
        single = proof.compile_exprs([act.instantiate(params)], [z_scalar])
        return lambda values: [single(v)[0] for v in values]
    return lambda values: fn(*values)


def _branch_finder(definition: sp.Expr) -> Callable[[object], int] | None:
    if not isinstance(definition, sp.Piecewise):
        return None
    conds = [sp.lambdify([z_scalar], cond, modules="mpmath") for _, cond in definition.args]
    return lambda v: next(n for n, cond in enumerate(conds) if bool(cond(v)))


@functools.cache
def _compiled_layer(
    li: object, hyper: tuple[tuple[sp.Symbol, sp.Rational], ...]
) -> Callable[..., list]:
    """A layer instance's outputs, then its intermediates, as one mpmath function of its
    arguments (compiled once per kind, sizes and hyper-parameter values)."""
    values = dict(hyper)
    outs = [e.xreplace(values) for e in li.forward]  # type: ignore[attr-defined]
    named = [v.xreplace(values) for _, pairs in li.intermediates for _, v in pairs]  # type: ignore[attr-defined]
    return proof.compile_exprs(outs + named, li.arguments())  # type: ignore[attr-defined]


@dataclass
class Run:
    """One forward pass: per layer and sample ``z``, ``a``; the kinds' intermediates."""

    z: dict[int, list[list]]
    a: dict[int, list[list]]
    named: dict[tuple[str, int], object]


class NumericNetwork:
    """The small copy evaluated layer by layer with mpmath, each kind from its forward."""

    def __init__(self, network: object, batch: int) -> None:
        self.net = network
        self.batch = batch
        self.L = network.depth  # type: ignore[attr-defined]
        self.shape = build(network, 1, expressions=False)  # the parameters' shapes
        self.layers = {}
        self.phi = {}
        self.branch = {}
        for lay, spec in enumerate(network.layers, start=1):  # type: ignore[attr-defined]
            kind = get_layer_kind(spec.kind)
            li = layer_instance(kind, layer_sizes(network, lay, batch))
            hyper = tuple(hyper_values(network, lay).items())
            self.layers[lay] = (kind, li, _compiled_layer(li, hyper))
            width = network.widths[lay]  # type: ignore[attr-defined]
            self.phi[lay] = _activation(spec.activation, spec.param_values(), width)
            self.branch[lay] = _branch_finder(
                ACTIVATIONS[spec.activation].instantiate(spec.param_values())
            )
        loss = proof.compile_exprs([LOSSES[network.loss].term], [a_scalar, y_scalar])  # type: ignore[attr-defined]
        self.loss = lambda av, yv: sum((loss(p, q)[0] for p, q in zip(av, yv, strict=True)), 0)
        self.l2 = proof.to_real(sp.nsimplify(network.l2, rational=True))  # type: ignore[attr-defined]
        self.decayed = decayed(network)

    def layer(
        self,
        lay: int,
        P: dict,
        G: dict,
        acts: dict,
        samples: set[int] | None = None,
        base: Run | None = None,
    ) -> tuple[list[list], dict]:
        """``z^lay`` per sample and the kind's intermediates, from the sources' ``a``.

        With ``samples`` and ``base``, a per-sample kind computes only those samples and
        takes the others from ``base`` (a perturbation of one sample leaves them as they
        were); a batch-coupled kind always computes the batch.
        """
        kind, li, fn = self.layers[lay]
        sources = self.net.sources(lay)  # type: ignore[attr-defined]
        params = [v for p in kind.parameters for v in P[(p.name, lay)]]
        n_out = len(li.output) // (self.batch if kind.batch_coupled else 1)
        named_sizes = [(name, len(pairs)) for name, pairs in li.intermediates]
        if kind.batch_coupled:
            args = [v for src in sources for s in range(self.batch) for v in acts[src][s]]
            res = fn(*(args + params))
            zs = [res[s * n_out : (s + 1) * n_out] for s in range(self.batch)]
            named, pos = {}, len(li.output)
            for name, count in named_sizes:
                named[(name, lay)] = res[pos : pos + count]
                pos += count
            return zs, named
        zs, named = [], {}
        for s in range(self.batch):
            if samples is not None and base is not None and s not in samples:
                zs.append(base.z[lay][s])
                for name, _ in named_sizes:
                    named.setdefault((name, lay), []).append(base.named[(name, lay)][s])
                continue
            args = [v for src in sources for v in acts[src][s]]
            given = [v for op in kind.given for v in G[(op.name, lay)][s]]
            res = fn(*(args + params + given))
            zs.append(res[:n_out])
            pos = n_out
            for name, count in named_sizes:
                named.setdefault((name, lay), []).append(res[pos : pos + count])
                pos += count
        return zs, named

    def forward(
        self,
        P: dict,
        G: dict,
        X: list,
        base: Run | None = None,
        start: int = 1,
        z_start: list | None = None,
        z_samples: set[int] | None = None,
    ) -> Run:
        """The forward pass.

        With ``base``, layers before ``start`` are reused, ``z_start`` (per sample; changed
        in ``z_samples``) replaces the computed ``z^start``, and each later layer recomputes
        only the samples its sources changed (all of them after a batch-coupled kind).
        """
        run = Run({}, {0: X}, {})
        every = set(range(self.batch))
        changed: dict[int, set[int]] = {0: set()}
        if base is not None:
            run.z = {k: v for k, v in base.z.items() if k < start}
            run.a = {k: v for k, v in base.a.items() if k < start}
            run.named = {k: v for k, v in base.named.items() if k[1] < start}
            changed |= {k: set() for k in run.a}
        for lay in range(start, self.L + 1):
            kind = self.layers[lay][0]
            if base is None or lay == start:
                ch = set(z_samples) if z_start is not None and z_samples is not None else every
            else:
                ch = set().union(*(changed[src] for src in self.net.sources(lay)))  # type: ignore[attr-defined]
                if kind.batch_coupled and ch:
                    ch = every
            if base is not None and lay == start and z_start is not None:
                zs, named = z_start, {k: v for k, v in base.named.items() if k[1] == lay}
            elif base is not None and not ch:
                zs, named = base.z[lay], {k: v for k, v in base.named.items() if k[1] == lay}
            else:
                zs, named = self.layer(lay, P, G, run.a, ch if base is not None else None, base)
            run.z[lay] = zs
            run.named.update(named)
            run.a[lay] = [
                self.phi[lay](z) if base is None or s in ch else base.a[lay][s]
                for s, z in enumerate(zs)
            ]
            changed[lay] = ch
        return run

    def costs(self, run: Run, Y: list) -> object:
        """Σ_s C^{(s)}, the batch's summed cost."""
        return sum((self.loss(run.a[self.L][s], Y[s]) for s in range(self.batch)), 0)

    def objective(self, run: Run, Y: list, P: dict) -> object:
        """J = Σ_s C^{(s)} / batch + λ Σ ‖P‖² over the decayed parameters."""
        pen = sum((v * v for key in self.decayed for v in P[key]), 0)
        return self.costs(run, Y) / self.batch + self.l2 * pen


# --- the check --------------------------------------------------------------------------------


def _values(inst: Instance, pt: dict) -> tuple[dict, dict, list, list]:
    P = {k: [proof.to_real(pt[s]) for s in m] for k, m in inst.parameters.items()}
    G = {k: [[proof.to_real(pt[s]) for s in m] for m in ms] for k, ms in inst.given.items()}
    X = [[proof.to_real(pt[s]) for s in v] for v in inst.x]
    Y = [[proof.to_real(pt[s]) for s in v] for v in inst.y]
    return P, G, X, Y


def _bound(lf: object) -> dict[sp.Symbol, sp.Rational]:
    return {
        p.symbol: sp.nsimplify(lf.params[p.name], rational=True)  # type: ignore[attr-defined]
        for p in ACTIVATIONS[lf.activation].parameters  # type: ignore[attr-defined]
    }


def _sizes(net: object, batch: int) -> dict[sp.Symbol, int]:
    sizes = {g.width(lay): w for lay, w in enumerate(net.widths)}  # type: ignore[attr-defined]
    sizes[g.n_batch] = batch
    return sizes


def _free(lhs: sp.Basic) -> tuple[sp.Symbol, ...]:
    target = lhs.args[1] if not isinstance(lhs, sp.Indexed) else lhs
    return tuple(target.indices) if isinstance(target, sp.Indexed) else ()


class Claims:
    """The printed summary steps evaluated at a point, top down."""

    def __init__(self, steps: dict[str, Step], layers: tuple, model: NumericNetwork) -> None:
        self.steps = steps
        self.layers = layers
        self.model = model

    def at(self, P: dict, G: dict, X: list, Y: list, run: Run) -> dict[str, list]:
        """Every δ^l (all samples) and parameter gradient, from the printed steps."""
        model, B = self.model, self.model.batch
        net = model.net
        sizes = _sizes(net, B)
        arrays = Arrays({}, {})
        shared: dict = {}
        samples = [dict() for _ in range(B)]

        def col(v: list) -> mpmath.matrix:
            return mpmath.matrix([[e] for e in v])

        def put_samples(key: tuple, per: list) -> None:
            arrays.put(
                key, {(s + 1, r + 1): v for s, vec in enumerate(per) for r, v in enumerate(vec)}, 1
            )
            for s, vec in enumerate(per):
                samples[s][key] = col(vec)

        for (name, lay), vals in P.items():
            shape = model.shape.parameters[(name, lay)].shape
            if shape[1] == 1:
                arrays.put((name, lay), {(r + 1,): v for r, v in enumerate(vals)}, None)
                shared[(name, lay)] = col(vals)
            else:
                arrays.put(
                    (name, lay),
                    {
                        (r + 1, c + 1): vals[r * shape[1] + c]
                        for r in range(shape[0])
                        for c in range(shape[1])
                    },
                    None,
                )
                shared[(name, lay)] = mpmath.matrix(
                    [vals[r * shape[1] : (r + 1) * shape[1]] for r in range(shape[0])]
                )
        for (name, lay), per in G.items():
            put_samples((name, lay), per)
        put_samples(("x", None), X)
        put_samples(("y", None), Y)
        for lay in range(0, model.L + 1):
            put_samples(("a", lay), run.a[lay])
            if lay:
                put_samples(("z", lay), run.z[lay])
        for (name, lay), vals in run.named.items():
            kind, li, _ = model.layers[lay]
            pairs = dict(li.intermediates)[name]
            if kind.batch_coupled:
                arrays.put(
                    (name, lay),
                    {
                        tuple(int(i) for i in e.indices): v
                        for (e, _), v in zip(pairs, vals, strict=True)
                    },
                    None,
                )
            else:
                table = {}
                for s, per in enumerate(vals):
                    for (e, _), v in zip(pairs, per, strict=True):
                        idx = tuple(int(i) for i in e.indices) if isinstance(e, sp.Indexed) else ()
                        table[(s + 1, *idx)] = v
                ndim = len(pairs[0][0].indices) if isinstance(pairs[0][0], sp.Indexed) else 0
                arrays.put((name, lay), table, ndim)
                # Per sample, the matrix form's value of the intermediate: a number for
                # one without axes (ρ^l), a column for one axis, a matrix for two.
                for s, per in enumerate(vals):
                    samples[s][(name, lay)] = _per_sample_value(pairs, per, ndim, col)
        arrays.put(("lambda", None), {(): model.l2}, None)
        values = ev.Values(shared=shared, samples=tuple(samples), scalars={"lambda": model.l2})

        out: dict[str, list] = {}
        for lay in range(model.L, 0, -1):
            sid = f"summary.delta.{lay}"
            step = self.steps[sid]
            bind = _bound(self.layers[lay - 1])
            width = net.widths[lay]
            per = [[mpmath.nan] * width for _ in range(B)]
            try:
                if step.form == "matrix":
                    for s in range(B):
                        m = ev.evaluate(step.rhs, values, s, bind)
                        per[s] = [m[r, 0] for r in range(width)]
                else:
                    free = _free(step.lhs)
                    for s in range(B):
                        for r in range(width):
                            ix = dict(zip(free, [s + 1, r + 1][-len(free) :], strict=True))
                            e = step.rhs.xreplace({k: sp.Integer(v) for k, v in ix.items()})
                            ctx = None if len(free) == 2 else s + 1
                            per[s][r] = evaluate_index(e, arrays, sizes, ctx, bind)
            except (KeyError, ev.UnreadableFormulaError, TypeError, ValueError):
                pass
            put_samples(("delta", lay), per)
            out[sid] = [v for vec in per for v in vec]
        for lay in range(1, model.L + 1):
            kind = self.model.layers[lay][0]
            for p in kind.parameters:
                sid = f"summary.grad_{p.name}.{lay}"
                step = self.steps[sid]
                shape = model.shape.parameters[(p.name, lay)].shape
                count = shape[0] * shape[1]
                try:
                    if step.form == "matrix":
                        m = ev.evaluate(step.rhs, values, None, {})
                        out[sid] = [m[r, c] for r in range(m.rows) for c in range(m.cols)]
                    else:
                        free = _free(step.lhs)
                        vals = []
                        for ix in itertools.product(*(range(1, n + 1) for n in shape[: len(free)])):
                            e = step.rhs.xreplace(
                                {k: sp.Integer(v) for k, v in zip(free, ix, strict=True)}
                            )
                            vals.append(evaluate_index(e, arrays, sizes, None, {}))
                        out[sid] = vals
                except (KeyError, ev.UnreadableFormulaError, TypeError, ValueError):
                    out[sid] = [mpmath.nan] * count
        return out


def reference_by_differences(
    model: NumericNetwork, P: dict, G: dict, X: list, Y: list
) -> dict[str, list]:
    """The same quantities by central differences of forward evaluations: ``δ^l_{sj}``
    = ∂(Σ C)/∂z^l_{sj}, parameter gradients ∂J/∂P."""
    base = model.forward(P, G, X)
    out: dict[str, list] = {}
    for lay in range(model.L, 0, -1):
        vals = []
        for s in range(model.batch):
            for r in range(len(base.z[lay][s])):

                def f(v: list, lay: int = lay, s: int = s, r: int = r) -> object:
                    zs = [list(z) for z in base.z[lay]]
                    zs[s][r] = v[0]
                    return model.costs(model.forward(P, G, X, base, lay, zs, {s}), Y)

                vals.append(proof.central_difference(f, [base.z[lay][s][r]], 0))
        out[f"summary.delta.{lay}"] = vals
    for lay in range(1, model.L + 1):
        kind = model.layers[lay][0]
        for p in kind.parameters:
            key = (p.name, lay)
            vals = []
            for n in range(len(P[key])):

                def f(v: list, key: tuple = key, n: int = n, lay: int = lay) -> object:
                    Pp = dict(P)
                    Pp[key] = list(P[key])
                    Pp[key][n] = v[0]
                    return model.objective(model.forward(Pp, G, X, base, lay), Y, Pp)

                vals.append(proof.central_difference(f, [P[key][n]], 0))
            out[f"summary.grad_{p.name}.{lay}"] = vals
    return out


def reference_by_diff(inst: Instance, at: dict | None) -> dict[str, list[sp.Expr]]:
    """``sympy.diff`` of the whole batch cost (one nested expression per quantity)."""
    net, B = inst.network, inst.batch
    out: dict[str, list[sp.Expr]] = {}
    for lay in range(net.depth, 0, -1):  # type: ignore[attr-defined]
        zeta = tuple(
            sp.Matrix([sp.Dummy(f"zeta{lay}_{s}_{r}") for r in range(inst.z[lay][s].rows)])
            for s in range(B)
        )
        back = {zz: e for s in range(B) for zz, e in zip(zeta[s], inst.z[lay][s], strict=True)}
        zat = (
            None
            if at is None
            else dict(at) | {k: sp.N(v.xreplace(at), 40) for k, v in back.items()}
        )
        cut = build(inst.network, B, override={lay: zeta}, at=zat)
        total = sp.Add(*cut.costs)
        out[f"summary.delta.{lay}"] = [
            sp.diff(total, zz).xreplace(back) for s in range(B) for zz in zeta[s]
        ]
    for (name, lay), mat in inst.parameters.items():
        out[f"summary.grad_{name}.{lay}"] = [sp.diff(inst.objective, v) for v in mat]
    return out


def _label(sid: str, net: object) -> str:
    """A claim's name: the quantity as the terminal writes it, and its step id."""
    what, _, lay = sid.removeprefix("summary.").partition(".")
    if what == "delta":
        return f"δ^{lay} ({sid})"
    name = what.removeprefix("grad_")
    kind = get_layer_kind(net.layers[int(lay) - 1].kind)  # type: ignore[attr-defined]
    shown = kind.displays(net.notation).get(name)  # type: ignore[attr-defined]
    return f"∂J/∂{shown.unicode if shown else name}^{lay} ({sid})"


def check_graph(
    d: object, parts: object, points: int, seed: int, route: str
) -> list[proof.Agreement]:
    """Routes 2–4 of the module docstring for derivation ``d`` (``parts`` as check.py reads
    it); the activation claims are the caller's."""
    net = small_copy(d.network)  # type: ignore[attr-defined]
    B = batch_for(net)
    model = NumericNetwork(net, B)
    inst_symbols = build(net, B, expressions=False)
    steps = {st.id: st for st in d.steps if st.id.startswith("summary.")}  # type: ignore[attr-defined]
    claims = Claims(steps, d.layers, model)  # type: ignore[attr-defined]
    rng = random.Random(seed)
    targets = [list(v) for v in inst_symbols.y]
    given = {s for ms in inst_symbols.given.values() for m in ms for s in m}
    others = [
        s
        for s in inst_symbols.symbols()
        if s not in given and s not in {t for v in targets for t in v}
    ]
    draws = [(s, proof.Draw(1, 1000)) for v in targets for s in v]
    draws += [(s, proof.Draw(-1200, 1200)) for s in others]
    draws += [(s, proof.Draw(0, 1, denominator=1)) for s in sorted(given, key=lambda s: s.name)]
    distribution = LOSSES[net.loss].target_is_distribution  # type: ignore[attr-defined]

    def near_kink(pt: dict) -> bool:
        with proof.working_precision():
            run = model.forward(*_values(inst_symbols, pt)[:3])
            for lay, find in model.branch.items():
                if find is None:
                    continue
                for z in run.z[lay]:
                    if any(find(v - proof.KINK_MARGIN) != find(v + proof.KINK_MARGIN) for v in z):
                        return True
        return False

    pts = proof.draw_points(
        rng, draws, points, normalise=targets if distribution else (), rejects=near_kink
    )
    found: list[proof.Agreement] = []
    if route != "reference":
        found += kind_claims(net)
    claimed: dict[str, list] = {}
    numeric: dict[str, list] = {}
    with proof.working_precision():
        for pt in pts:
            P, G, X, Y = _values(inst_symbols, pt)
            run = model.forward(P, G, X)
            for sid, vals in claims.at(P, G, X, Y, run).items():
                claimed.setdefault(sid, []).append(vals)
            if route != "reference":
                for sid, vals in reference_by_differences(model, P, G, X, Y).items():
                    numeric.setdefault(sid, []).append(vals)
    if route != "reference":
        how = (
            f"printed step evaluated layer by layer at {proof.WORKING_DIGITS} digits (batch of "
            f"{B}), against central differences of the batch cost"
        )
        found += [
            proof.compare(_label(sid, net), claimed[sid], numeric[sid], how) for sid in claimed
        ]
    if route == "reference":
        found += _reference(net, B, inst_symbols, pts, claimed)
    elif route == "auto" and net.depth <= REFERENCE_MAX_DEPTH:  # type: ignore[attr-defined]
        # Beside the compositional route the reference is a cross-check: at the first
        # point only (a batch-norm network's whole-batch diff takes seconds per point).
        found += _reference(net, B, inst_symbols, pts[:1], {k: v[:1] for k, v in claimed.items()})
    return found


def _reference(
    net: object, B: int, inst: Instance, pts: list[dict], claimed: dict
) -> list[proof.Agreement]:
    piecewise = any(
        isinstance(ACTIVATIONS[ly.activation].definition, sp.Piecewise)
        for ly in net.layers  # type: ignore[attr-defined]
    )
    symbols = inst.symbols()
    groups = (
        [(None, list(range(len(pts))))]
        if not piecewise
        else [(pts[n], [n]) for n in range(len(pts))]
    )
    reference: dict[str, dict[int, list]] = {}
    with proof.working_precision():
        for at, members in groups:
            full = build(net, B, at=at)
            exprs = reference_by_diff(full, at)
            for sid, brute in exprs.items():
                # No applied activations to expand here: lambdify directly (expanding walks
                # the whole nested tree, most of the time of a reference).
                fn = sp.lambdify(symbols, brute, modules="mpmath", cse=True)
                for n in members:
                    reference.setdefault(sid, {})[n] = fn(
                        *[proof.to_real(pts[n][s]) for s in symbols]
                    )
    how = f"sympy.diff of the whole batch cost (batch of {B})"
    return [
        proof.compare(
            _label(sid, net), claimed[sid], [reference[sid][n] for n in range(len(pts))], how
        )
        for sid in claimed
    ]
