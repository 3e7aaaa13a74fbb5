"""The small-instance builder: a network at concrete widths and batch size, from the registry.

One builder serves every brute-force consumer: the whole-batch ``sympy.diff`` reference of
:meth:`Derivation.check`, the numeric forward of its compositional route, and verify's
brute-force network. Nothing here is derived: each layer is its kind's forward definition
(:mod:`symprop.core.layers`) written out entry by entry at concrete sizes
(:func:`layer_instance`), and each activation and loss the registry's definition.

* :func:`layer_instance` is one layer kind at concrete sizes: its output entries and named
  intermediates written out in the kind's own input, parameter and given entries, ready to
  be substituted (symbolically) or compiled (numerically). A per-sample kind is written
  for one sample, a batch-coupled kind for the batch (its first axis, ``m``).
* :func:`build` composes them into an :class:`Instance`: one scalar symbol per input,
  target, parameter entry and given entry (the dropout mask, one per sample), and per layer
  and sample the expressions ``z^l``, ``a^l``, the per-sample costs, the batch cost and the
  objective ``J``. ``override`` replaces ``z^l`` by given expressions (fresh symbols ζ make
  ``sympy.diff`` give ``δ^l``); ``at`` picks the active branch of piecewise activations.

Symbol names: ``x{s}_{r}``, ``y{s}_{r}`` (sample ``s``, unit ``r``); a parameter's entries
are its name in lower case, the layer, ``_`` and the entry's indices (``w2_13`` is W²₁₃,
``b1_2``, ``gamma3_1``); given entries add the sample (``mask4_2_1``: sample 2, unit 1).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symprop.core.layer_proof import concrete_intermediates, entries, instantiate, size_key
from symprop.core.layers import LayerKind, Operand, get_layer_kind
from symprop.core.layers import m as batch_axis
from symprop.core.registry import ACTIVATIONS, LOSSES, i_idx, n_units, z, z_vec
from symprop.core.registry import a as a_sym
from symprop.core.registry import y as y_sym
from symprop.core.topology import feature_axes


def _active_branch(definition: sp.Piecewise, value: sp.Expr) -> sp.Expr:
    """The branch of a piecewise definition that applies at the numeric ``value``."""

    for expr, cond in definition.args:
        if bool(cond.subs(z, value)):
            return expr
    raise ValueError("no branch applies")  # a Piecewise ending in (…, True) always has one


def apply_activation(
    name: str, params: dict[str, float], zvec: sp.Matrix, at: dict | None = None
) -> sp.Matrix:
    """The registry definition of ``name`` applied to an explicit column vector.

    With ``at`` (values of every symbol), a piecewise activation is replaced, unit by unit,
    by the branch active at that point: the same function on a neighbourhood of the point
    (away from the kinks), so derivatives there are unchanged, and ``sympy.diff`` need not
    carry piecewise conditions through the whole network.
    """

    act = ACTIVATIONS[name]
    definition = act.instantiate(params)
    if act.elementwise:
        if at is not None and isinstance(definition, sp.Piecewise):
            return sp.Matrix(
                [_active_branch(definition, sp.N(e.xreplace(at), 30)).subs(z, e) for e in zvec]
            )
        return zvec.applyfunc(lambda e: definition.subs(z, e))
    n = zvec.shape[0]
    out = []
    for row in range(n):
        comp = definition.subs({i_idx: row + 1, n_units: n}).doit()
        comp = comp.subs({z_vec[m + 1]: zvec[m] for m in range(n)})
        out.append(comp)
    return sp.Matrix(out)


@dataclass(frozen=True)
class LayerInstance:
    """A layer kind written out at concrete sizes.

    Attributes
    ----------
    kind
        The registry entry.
    sizes
        Concrete sizes (the batch size ``m`` included for a batch-coupled kind).
    inputs
        Per input slot, its entries in row-major order (``Indexed`` of the kind's arrays).
    parameters, given
        Per parameter / given array name, its entries in row-major order.
    output
        The output entries, row-major.
    forward
        The output entries written out in input, parameter, given and hyper-parameter
        symbols (no sums, no intermediates).
    intermediates
        Per intermediate name, ``(entry, written-out value)`` pairs.
    """

    kind: LayerKind
    sizes: tuple[tuple[sp.Symbol, int], ...]
    inputs: tuple[tuple[sp.Expr, ...], ...]
    parameters: tuple[tuple[str, tuple[sp.Expr, ...]], ...]
    given: tuple[tuple[str, tuple[sp.Expr, ...]], ...]
    output: tuple[sp.Expr, ...]
    forward: tuple[sp.Expr, ...]
    intermediates: tuple[tuple[str, tuple[tuple[sp.Expr, sp.Expr], ...]], ...]

    def arguments(self) -> list[sp.Expr]:
        """Every entry the forward reads: inputs, then parameters, then given arrays."""
        out = [e for slot in self.inputs for e in slot]
        out += [e for _, es in self.parameters for e in es]
        out += [e for _, es in self.given for e in es]
        return out


def _entries(op: Operand, sizes: dict[sp.Symbol, int]) -> tuple[sp.Expr, ...]:
    return tuple(op(*ix) for ix in entries(op, sizes))


@functools.cache
def layer_instance(kind: LayerKind, sizes: tuple[tuple[sp.Symbol, int], ...]) -> LayerInstance:
    """``kind`` written out at ``sizes`` (a :func:`~symprop.core.layer_proof.size_key`)."""
    size_map = dict(sizes)
    out_entries = entries(kind.output, size_map)
    forward = tuple(
        instantiate(
            kind.forward.xreplace(dict(zip(kind.output_indices, ix, strict=True))), kind, size_map
        )
        for ix in out_entries
    )
    table = concrete_intermediates(kind, sizes)
    inter = tuple(
        (v.operand.name, tuple((e, table[e]) for e in _entries(v.operand, size_map)))
        if v.operand.shape
        else (v.operand.name, ((v.operand.scalar, table[v.operand.scalar]),))
        for v in kind.intermediates
    )
    return LayerInstance(
        kind=kind,
        sizes=sizes,
        inputs=tuple(_entries(op, size_map) for op in kind.inputs),
        parameters=tuple((p.name, _entries(p.operand, size_map)) for p in kind.parameters),
        given=tuple((op.name, _entries(op, size_map)) for op in kind.given),
        output=tuple(kind.output(*ix) for ix in out_entries),
        forward=forward,
        intermediates=inter,
    )


def layer_sizes(network: object, layer: int, batch: int) -> tuple[tuple[sp.Symbol, int], ...]:
    """The concrete sizes of layer ``layer``'s kind (with ``m = batch`` when coupled)."""
    spec = network.layers[layer - 1]  # type: ignore[attr-defined]
    kind = get_layer_kind(spec.kind)
    sizes = dict(network.topology.sizes[layer - 1])  # type: ignore[attr-defined]
    if kind.batch_coupled:
        sizes[batch_axis] = batch
    return size_key(sizes)


def hyper_values(network: object, layer: int) -> dict[sp.Symbol, sp.Rational]:
    """The layer's hyper-parameters (ε, p) as exact rationals, by the kind's symbols."""
    spec = network.layers[layer - 1]  # type: ignore[attr-defined]
    kind = get_layer_kind(spec.kind)
    values = spec.option_values()
    return {h.symbol: sp.Rational(repr(float(values[h.name]))) for h in kind.hyper_parameters}


def parameter_symbols(name: str, layer: int, shape: tuple[int, ...]) -> sp.Matrix:
    """The explicit symbols of a parameter (a vector is one column)."""
    rows = shape[0] if shape else 1
    cols = shape[1] if len(shape) > 1 else 1
    if len(shape) > 1:
        return sp.Matrix(
            rows, cols, lambda r, c: sp.Symbol(f"{name.lower()}{layer}_{r + 1}{c + 1}", real=True)
        )
    return sp.Matrix([sp.Symbol(f"{name.lower()}{layer}_{r + 1}", real=True) for r in range(rows)])


def _shape(kind: LayerKind, op: Operand, sizes: Mapping[sp.Symbol, int]) -> tuple[int, ...]:
    return tuple(sizes[s] for s in feature_axes(kind, op))


@dataclass(frozen=True)
class Instance:
    """A concrete network: symbols for every value, expressions for every quantity.

    ``z``, ``a`` and the per-sample kinds' intermediates are per layer, one entry per
    sample (``a[0]`` the inputs); a batch-coupled kind's intermediates are per layer, one
    value for the batch. Matrices are column vectors (a weight matrix is rows × columns).
    """

    network: object
    batch: int
    x: tuple[sp.Matrix, ...]
    y: tuple[sp.Matrix, ...]
    parameters: dict[tuple[str, int], sp.Matrix]
    given: dict[tuple[str, int], tuple[sp.Matrix, ...]]
    z: dict[int, tuple[sp.Matrix, ...]]
    a: dict[int, tuple[sp.Matrix, ...]]
    intermediates: dict[tuple[str, int], object]
    costs: tuple[sp.Expr, ...]
    cost: sp.Expr
    objective: sp.Expr
    l2: sp.Rational

    def symbols(self) -> list[sp.Symbol]:
        """Every free symbol: inputs, targets, parameters, given entries, in that order."""
        out = [s for v in (*self.x, *self.y) for s in v]
        out += [s for key in sorted(self.parameters) for s in self.parameters[key]]
        out += [s for key in sorted(self.given) for m in self.given[key] for s in m]
        return out


def decayed(network: object) -> list[tuple[str, int]]:
    """The parameters the L2 term covers: role ``weight``, and ``bias`` with
    ``regularize_biases`` (never a normalisation's scale or shift)."""
    out = []
    for lay, spec in enumerate(network.layers, start=1):  # type: ignore[attr-defined]
        for p in get_layer_kind(spec.kind).parameters:
            if p.role == "weight" or (p.role == "bias" and network.regularize_biases):  # type: ignore[attr-defined]
                out.append((p.name, lay))
    return out


def build(
    network: object,
    batch: int,
    *,
    widths: tuple[int, ...] | None = None,
    override: Mapping[int, tuple[sp.Matrix | None, ...]] | None = None,
    override_a: Mapping[int, tuple[sp.Matrix | None, ...]] | None = None,
    at: Mapping[sp.Symbol, object] | None = None,
    expressions: bool = True,
    tags: tuple[str, ...] | None = None,
    activations: bool = True,
) -> Instance:
    """The explicit network at ``widths`` (default: its own) for a batch of ``batch``.

    Intended for small widths (2–3 units): every entry is its own symbol and the cost nests
    as deep as the network. ``override`` maps a layer to per-sample ``z`` expressions used
    instead of the computed ones (``None`` for a sample keeps its computed ``z``), and
    ``override_a`` does the same for ``a^l`` (verify replaces one sample's ``z^l`` or ``a^l``
    by fresh symbols and differentiates what follows); ``at`` (a value for every symbol, ζ
    included) replaces each piecewise activation by its branch active there. With
    ``expressions=False`` only the symbols are made (``z``, ``a``, the costs left empty):
    what a numeric route needs. ``tags`` name the samples' symbols (default ``1``, ``2``…;
    ``""`` gives ``x_1``); ``activations=False`` keeps every layer linear (enough to list
    the symbols, without building nested piecewise expressions).
    """
    net = network if widths is None else network.with_widths(widths)  # type: ignore[attr-defined]
    override = override or {}
    override_a = override_a or {}
    n0, nL = net.widths[0], net.widths[-1]
    tags = tags if tags is not None else tuple(str(s) for s in range(1, batch + 1))
    xs = tuple(
        sp.Matrix([sp.Symbol(f"x{tag}_{r + 1}", real=True) for r in range(n0)]) for tag in tags
    )
    ys = tuple(
        sp.Matrix([sp.Symbol(f"y{tag}_{r + 1}", real=True) for r in range(nL)]) for tag in tags
    )
    params: dict[tuple[str, int], sp.Matrix] = {}
    given: dict[tuple[str, int], tuple[sp.Matrix, ...]] = {}
    zs: dict[int, tuple[sp.Matrix, ...]] = {}
    acts: dict[int, tuple[sp.Matrix, ...]] = {0: xs}
    inter: dict[tuple[str, int], object] = {}
    for lay, spec in enumerate(net.layers, start=1):
        kind = get_layer_kind(spec.kind)
        sizes = layer_sizes(net, lay, batch)
        size_map = dict(sizes)
        li = layer_instance(kind, sizes)
        hyper = hyper_values(net, lay)
        bind: dict[sp.Expr, sp.Expr] = dict(hyper)
        for p, es in zip(kind.parameters, li.parameters, strict=True):
            mat = parameter_symbols(p.name, lay, _shape(kind, p.operand, size_map))
            params[(p.name, lay)] = mat
            bind.update(zip(es[1], list(mat), strict=True))
        for op in kind.given:
            n = _shape(kind, op, size_map)
            given[(op.name, lay)] = tuple(
                sp.Matrix(
                    [
                        sp.Symbol(f"{op.name.lower()}{lay}_{s}_{r + 1}", real=True)
                        for r in range(n[0])
                    ]
                )
                for s in range(1, batch + 1)
            )
        sources = net.sources(lay)
        if not expressions:
            continue

        def run(
            bound: dict[sp.Expr, sp.Expr],
            li: LayerInstance = li,
            kind: LayerKind = kind,
        ) -> tuple[list[sp.Expr], dict[str, list]]:
            out = [e.xreplace(bound) for e in li.forward]
            named = {
                name: [v.xreplace(bound) for _, v in pairs] for name, pairs in li.intermediates
            }
            return out, named

        if kind.batch_coupled:
            b = dict(bind)
            for slot, src in enumerate(sources):
                # Entries are row-major over (sample, unit).
                vals = [acts[src][s][r] for s in range(batch) for r in range(net.widths[src])]
                b.update(zip(li.inputs[slot], vals, strict=True))
            out, named = run(b)
            width = len(out) // batch
            zs[lay] = tuple(sp.Matrix(out[s * width : (s + 1) * width]) for s in range(batch))
            for name, vals in named.items():
                inter[(name, lay)] = vals
        else:
            per: list[sp.Matrix] = []
            named_all: dict[str, list] = {}
            for s in range(batch):
                b = dict(bind)
                for slot, src in enumerate(sources):
                    b.update(zip(li.inputs[slot], list(acts[src][s]), strict=True))
                for (_, es), op in zip(li.given, kind.given, strict=True):
                    b.update(zip(es, list(given[(op.name, lay)][s]), strict=True))
                out, named = run(b)
                per.append(sp.Matrix(out))
                for name, vals in named.items():
                    named_all.setdefault(name, []).append(vals)
            zs[lay] = tuple(per)
            for name, vals in named_all.items():
                inter[(name, lay)] = tuple(vals)
        if lay in override:
            zs[lay] = tuple(
                new if new is not None else old
                for new, old in zip(override[lay], zs[lay], strict=True)
            )
        acts[lay] = tuple(
            apply_activation(spec.activation, spec.param_values(), zv, dict(at) if at else None)
            if activations
            else zv
            for zv in zs[lay]
        )
        if lay in override_a:
            acts[lay] = tuple(
                new if new is not None else old
                for new, old in zip(override_a[lay], acts[lay], strict=True)
            )
    loss = LOSSES[net.loss]
    if not expressions:
        return Instance(
            net, batch, xs, ys, params, given, {}, {0: xs}, {}, (), sp.S.Zero, sp.S.Zero, sp.S.Zero
        )
    costs = tuple(
        sp.Add(*[loss.term.subs({a_sym: out[r], y_sym: yv[r]}) for r in range(nL)])
        for out, yv in zip(acts[net.depth], ys, strict=True)
    )
    lam = sp.nsimplify(net.l2, rational=True)
    penalty = sp.Add(*[c**2 for key in decayed(net) for c in params[key]])
    cost = sp.Add(*costs) / batch
    return Instance(
        network=net,
        batch=batch,
        x=xs,
        y=ys,
        parameters=params,
        given=given,
        z=zs,
        a=acts,
        intermediates=inter,
        costs=costs,
        cost=cost,
        objective=cost + lam * penalty,
        l2=lam,
    )
