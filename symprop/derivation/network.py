"""The concrete steps of a network of layer kinds: forward, δ recurrences and gradients.

:func:`kind_network_steps` writes, for every layer ``l`` of a network that is not a plain
dense chain, the forward pass, ``δ^l`` and each parameter's gradient, by binding the
derived and proven rules of each layer's kind (:func:`symprop.core.layer_calculus.
derive_layer`) to the layer's quantities. Nothing here knows a kind by name: it reads the
kind's data (inputs, parameters and their roles, given arrays, ``batch_coupled``) and its
rules (``compact`` and ``matrix`` forms).

Conventions (the contract documents, code generation and verify read)
--------------------------------------------------------------------
Binding a kind's arrays to layer ``c`` (:class:`Binding`):

* input slot ``s`` of the kind (``x``, ``f``) is ``a^{src}`` with ``src = sources(c)[s]``
  (``a^0`` is the network input); the kind's output ``y`` is ``z^c``; the upstream gradient
  ``g`` is ``δ^c``;
* every other array keeps the kind operand's name as its role at layer ``c``: parameters
  ``W^c``, ``b^c``, ``gamma^c``, ``beta^c``; intermediates ``mu^c``, ``var^c``, ``sigma^c``,
  ``xhat^c``; given arrays ``mask^c``. In matrix form they are
  ``symbols.array(role, c, rows, cols)`` (vectors one column), in index form
  ``symbols.indexed(role, c)``, scalars ``symbols.scalar(role, c)``; printers look the
  display up in the kind's ``display`` table under the role;
* a size of the kind is the width ``n_src`` of the input it measures, or ``n_c`` of the
  output; the batch size ``m`` of a batch-coupled kind is the mini-batch size ``n``;
* hyper-parameters (ε, p) are bound to the layer's values as exact rationals, so every
  formula of a concrete layer is unambiguous (two dropout layers may differ in p).

Sample-level and batch-level layers:

* ``δ^l = ∂C/∂z^l``. For a layer whose gradient depends on no other sample, it is the
  per-sample δ of the documents: ``δ^{l,(i)} = ∂C^{(i)}/∂z^{l,(i)}``, in matrix form.
* A layer is **batch-level** (``LayerFormulas.batch_level``) when a batch-coupled kind
  reads it, or a batch-level layer does. Its δ is written in index form with the **sample
  index first**, as the kind rules are: ``δ^l_{ij} = ∂(Σ_s C^{(s)})/∂z^l_{ij}``, the
  derivative of the batch's *summed* cost with respect to unit ``j`` of sample ``i``. For a
  layer coupled to nothing this is exactly ``δ^{l,(i)}_j``, so one convention covers both:
  in index form, any per-sample array with one index more than its per-sample shape (``a``,
  ``z``, ``δ``, ``mask``, a per-sample kind's intermediates) carries the sample index
  first.
* Parameter gradients are those of ``J = (1/n) Σ_i C^{(i)} + λ Σ ‖W‖²``: per-sample kinds
  sum their per-sample rule over the batch and divide by ``n``; batch-coupled kinds' rules
  already sum over the batch (divided by ``n``). L2 decay applies to parameters whose role
  is ``weight`` (and ``bias`` with ``regularize_biases``), never to ``scale``/``shift``.

Steps (ids):

* ``forward.layer.{l}.{name}`` (``:=``) for each named intermediate of layer ``l``'s kind,
  then ``forward.layer.{l}.z`` (the kind's forward, in matrix form when its rules have one
  and it is per-sample), then ``forward.layer.{l}``: ``a^l = φ(z^l)``;
* ``summary.delta.{l}``: ``(Σ_c contribution_c) ⊙ φ'(z^l)`` over the consumers ``c`` of
  ``a^l`` (each slot of ``c`` that reads ``l``), contribution = ``c``'s local input gradient
  with ``g := δ^c``; where ``a^l`` fans out the chain shows the sum, justified by the
  multivariable chain rule; ``δ^L`` is the derived output delta;
* ``summary.grad_{P}.{l}`` for each parameter ``P`` of layer ``l``'s kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from symprop.core import symbols as g
from symprop.core.calculus import activation_prime_function
from symprop.core.instance import decayed as decayed_parameters
from symprop.core.layer_calculus import Gradient, LayerRules, derive_layer
from symprop.core.layers import LayerKind, Operand
from symprop.core.layers import m as batch_axis
from symprop.core.registry import a as a_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.symbols import ElementwiseApplied, n_batch
from symprop.core.topology import feature_axes
from symprop.core.why import LayerOf, Relation, Why, why
from symprop.derivation.generic import vectorize
from symprop.derivation.steps import Partial, SampleSum, Step

SAMPLE = g.i
"""The free sample index of batch-level index forms (first, as in the kind rules)."""
UNIT = g.j
"""The free unit index of index forms."""
_BOUND_NAMES = ("k", "r", "s", "t", "u", "v", "w")


def _matrix_symbol(op: Operand) -> sp.MatrixSymbol:
    """The kind's own matrix symbol of an operand, as its matrix forms are written."""
    rows = op.shape[0] if op.shape else 1
    cols = op.shape[1] if len(op.shape) > 1 else 1
    return sp.MatrixSymbol(op.name, rows, cols)


@dataclass(frozen=True)
class Binding:
    """A kind's arrays, sizes and hyper-parameters bound to one layer of a network.

    See the module docstring for the roles; ``upstream`` is the rules' ``g``.
    """

    layer: int
    kind: LayerKind
    sources: tuple[int, ...]
    upstream: Operand
    sizes: tuple[tuple[sp.Symbol, sp.Expr], ...]
    hyper: tuple[tuple[sp.Symbol, sp.Rational], ...]

    @classmethod
    def of(cls, network: object, layer: int) -> Binding:
        """The binding of layer ``layer`` (1..L) of ``network``."""
        spec = network.layers[layer - 1]  # type: ignore[attr-defined]
        rules = derive_layer(spec.kind)
        kind = rules.kind
        sources = network.sources(layer)  # type: ignore[attr-defined]
        sizes: dict[sp.Symbol, sp.Expr] = {batch_axis: n_batch} if kind.batch_coupled else {}
        # The layer's own width first: its parameters and intermediates are the layer's.
        for op, lay in ((kind.output, layer), *zip(kind.inputs, sources, strict=True)):
            for s in feature_axes(kind, op):
                sizes.setdefault(s, g.width(lay))
        # Sizes no input or output measures (none of the built-in kinds has one).
        for s, value in network.topology.sizes[layer - 1]:  # type: ignore[attr-defined]
            sizes.setdefault(s, sp.Integer(value))
        values = spec.option_values()
        hyper = tuple(
            (h.symbol, sp.Rational(repr(float(values[h.name])))) for h in kind.hyper_parameters
        )
        return cls(layer, kind, sources, rules.upstream, tuple(sizes.items()), hyper)

    @property
    def rules(self) -> LayerRules:
        """The kind's derived rules."""
        return derive_layer(self.kind)

    def operands(self) -> tuple[Operand, ...]:
        """Every array of the kind, and the upstream gradient."""
        return (*self.kind.operands(), self.upstream)

    def role(self, op: Operand) -> tuple[str, int]:
        """The ``(role, layer)`` an array of the kind is at this layer."""
        for slot, inp in enumerate(self.kind.inputs):
            if inp.name == op.name:
                return "a", self.sources[slot]
        if op.name == self.kind.output.name:
            return "z", self.layer
        if op.name == self.upstream.name:
            return "delta", self.layer
        return op.name, self.layer

    def per_sample(self, op: Operand) -> bool:
        """True for an array with one value per sample (not a parameter, nor a running
        statistic) of a per-sample kind; a batch-coupled kind's arrays carry their batch
        axis already."""
        if self.kind.batch_coupled:
            return False
        fixed = {p.name for p in self.kind.parameters} | {r.operand.name for r in self.kind.running}
        return op.name not in fixed

    def shape(self, op: Operand) -> tuple[sp.Expr, ...]:
        """The shape of ``op`` at this layer (an input's feature axes are its source's
        width, even where the kind names the same size for input and output)."""
        size_map = dict(self.sizes)
        role, lay = self.role(op)
        if role == "a":
            feature = set(feature_axes(self.kind, op))
            return tuple(g.width(lay) if s in feature else size_map.get(s, s) for s in op.shape)
        return tuple(size_map.get(s, s) for s in op.shape)

    def matrix_of(self, op: Operand) -> sp.MatrixSymbol:
        """The layer-level matrix symbol of ``op``."""
        role, lay = self.role(op)
        shape = self.shape(op)
        if role == "a" and lay == 0:
            return g.vector("a", 0, shape[0])
        return g.array(role, lay, shape[0] if shape else 1, shape[1] if len(shape) > 1 else 1)

    def index(self, expr: sp.Expr, sample: sp.Symbol | None = None) -> sp.Expr:
        """An index-form expression of the kind at this layer.

        With ``sample``, every per-sample array gets that sample index first (the
        batch-level convention of the module docstring).
        """
        bases: dict[sp.IndexedBase, tuple[sp.IndexedBase, bool]] = {}
        scalars: dict[sp.Symbol, sp.Expr] = {}
        for op in self.operands():
            role, lay = self.role(op)
            prefix = sample is not None and self.per_sample(op)
            if op.shape:
                bases[op.base] = (g.indexed(role, lay), prefix)
            elif prefix:
                scalars[op.scalar] = g.indexed(role, lay)[sample]
            else:
                scalars[op.scalar] = g.scalar(role, lay)

        def rebase(e: sp.Indexed) -> sp.Expr:
            base, prefix = bases[e.base]
            return base[((sample,) if prefix else ()) + tuple(e.indices)]

        out = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base in bases, rebase)
        return out.xreplace(scalars | dict(self.sizes) | dict(self.hyper))

    def matrix(self, expr: sp.Expr) -> sp.Expr:
        """A matrix-form expression of the kind at this layer."""
        rep: dict[sp.Basic, sp.Basic] = {
            _matrix_symbol(op): self.matrix_of(op) for op in self.operands() if op.shape
        }
        # An array without axes (a per-sample scalar such as an RMS norm's ρ) is the
        # layer's scalar ``role^l``, like its index form (:meth:`index`).
        rep |= {op.scalar: g.scalar(*self.role(op)) for op in self.operands() if not op.shape}
        return expr.xreplace(rep).xreplace(dict(self.hyper))


# --- indices ------------------------------------------------------------------------------


def _rename_bound(expr: sp.Expr, avoid: set[str]) -> sp.Expr:
    """Give every summation index a name from :data:`_BOUND_NAMES` not in ``avoid``."""

    def rename(s: sp.Sum) -> sp.Sum:
        body, limits = s.function, []
        for var, lo, hi in s.limits:
            name = next(n for n in _BOUND_NAMES if n not in avoid | {str(v) for v, *_ in limits})
            new = sp.Symbol(name)
            body = body.xreplace({var: new})
            limits.append((new, lo, hi))
        return sp.Sum(_rename_bound(body, avoid | {str(v) for v, *_ in limits}), *limits)

    return expr.replace(lambda e: isinstance(e, sp.Sum), rename)


def free_indices(grad: Gradient, kind: LayerKind, sample: bool) -> dict[sp.Symbol, sp.Symbol]:
    """The gradient's free indices mapped to the summary's: the unit index ``j`` (and the
    sample index ``i`` first, for a batch-coupled kind)."""
    if kind.batch_coupled and len(grad.indices) == 2:
        return {grad.indices[0]: SAMPLE, grad.indices[1]: UNIT}
    if len(grad.indices) == 1:
        return {grad.indices[0]: UNIT}
    # A matrix parameter (W): rows j, columns k.
    return dict(zip(grad.indices, (UNIT, g.k), strict=False))


def _index_rule(bind: Binding, expr: sp.Expr, grad: Gradient, sample: sp.Symbol | None) -> sp.Expr:
    """A rule's compact form at layer level, its free indices the summary's."""
    renamed = _rename_bound(
        expr, {"i", "j", "k"} | ({str(sample)} if sample is not None else set())
    )
    out = bind.index(renamed, sample)
    return out.xreplace(free_indices(grad, bind.kind, sample is not None))


# --- steps --------------------------------------------------------------------------------


def batch_levels(network: object) -> dict[int, bool]:
    """Per layer, whether its δ is batch-level (a batch-coupled kind reads it, or a
    batch-level layer does); see the module docstring."""
    L = network.depth  # type: ignore[attr-defined]
    level: dict[int, bool] = {}
    for lay in range(L, 0, -1):
        level[lay] = any(
            derive_layer(network.layers[c - 1].kind).kind.batch_coupled or level[c]  # type: ignore[attr-defined]
            for c in network.consumers(lay)  # type: ignore[attr-defined]
        )
    return level


def _kind_label(kind: LayerKind) -> str:
    return kind.name.replace("_", " ")


def activation_step(lay: int, activation: str) -> Step:
    """``forward.layer.{lay}``: a^l = φ(z^l), the same for every kind."""
    return Step(
        f"forward.layer.{lay}",
        "forward",
        g.vector("a", lay),
        (
            (
                ElementwiseApplied(activation, g.vector("z", lay)),
                why("layer ", LayerOf("a", lay), ": ", activation.replace("_", " ")),
            ),
        ),
        "matrix",
        lay,
    )


def forward_steps(network: object, layers: tuple) -> list[Step]:
    """Per layer: the kind's intermediates, ``z^l`` and ``a^l = φ(z^l)``."""
    steps: list[Step] = []
    for lf in layers:
        lay = lf.index
        bind = Binding.of(network, lay)
        kind, rules = bind.kind, bind.rules
        for v in kind.intermediates:
            op = v.operand
            lhs = bind.index(op(*v.indices)) if op.shape else bind.index(op.scalar)
            steps.append(
                Step(
                    f"forward.layer.{lay}.{op.name}",
                    "forward",
                    lhs,
                    (
                        (
                            bind.index(v.definition),
                            why(f"the {op.description} of layer ", LayerOf("a", lay)),
                        ),
                    ),
                    "index",
                    lay,
                    relation=":=",
                )
            )
        weighted = any(p.role == "weight" for p in kind.parameters)
        label = "weighted input" if weighted else _kind_label(kind)
        reason = why("layer ", LayerOf("a", lay), ": ", label)
        if rules.forward_matrix is not None and not kind.batch_coupled:
            step = Step(
                f"forward.layer.{lay}.z",
                "forward",
                g.vector("z", lay),
                ((bind.matrix(rules.forward_matrix), reason),),
                "matrix",
                lay,
            )
        else:
            step = Step(
                f"forward.layer.{lay}.z",
                "forward",
                bind.index(kind.output(*kind.output_indices)),
                ((bind.index(kind.forward), reason),),
                "index",
                lay,
            )
        steps.append(step)
        steps.append(activation_step(lay, lf.activation))
    return steps


@dataclass(frozen=True)
class Contribution:
    """What consumer ``consumer`` passes back to ``a^l`` through its input ``slot``."""

    consumer: int
    slot: int
    expr: sp.Basic


def contributions(
    network: object, lay: int, level: dict[int, bool], matrix: bool
) -> tuple[Contribution, ...]:
    """Every path from ``a^lay`` to the cost: each consumer's local input gradient with
    ``g := δ^c``, in matrix form (``matrix``) or in index form at unit ``j`` (sample ``i``
    first when ``lay`` is batch-level)."""
    out: list[Contribution] = []
    for c in network.consumers(lay):  # type: ignore[attr-defined]
        bind = Binding.of(network, c)
        for slot, src in enumerate(bind.sources):
            if src != lay:
                continue
            grad = bind.rules.inputs[slot]
            if matrix:
                expr = bind.matrix(grad.matrix)
            else:
                sample = SAMPLE if level[lay] and not bind.kind.batch_coupled else None
                expr = _index_rule(bind, grad.compact, grad, sample)
            out.append(Contribution(c, slot, expr))
    return tuple(out)


def _matrix_ready(network: object, lay: int, level: dict[int, bool]) -> bool:
    """True when ``δ^lay`` has a matrix form: per sample, every consumer's rule lifted."""
    if level[lay]:
        return False
    for c in network.consumers(lay):  # type: ignore[attr-defined]
        bind = Binding.of(network, c)
        for slot, src in enumerate(bind.sources):
            if src == lay and bind.rules.inputs[slot].matrix is None:
                return False
    return True


def _paths_reason(lay: int, parts: tuple[Contribution, ...], base: str) -> Why:
    """The justification of the first δ step: one path, or the fan-out sum."""
    if len(parts) == 1:
        (c,) = parts
        if c.consumer == lay + 1:
            return why(base)
        return why(base, " through layer ", LayerOf("a", c.consumer))
    layers = sorted({c.consumer for c in parts})
    segs: list = [g.vector("a", lay), " feeds layers "]
    for n, c in enumerate(layers):
        if n:
            segs.append(" and " if n == len(layers) - 1 else ", ")
        segs.append(LayerOf("a", c))
    segs.append(": by the multivariable chain rule the gradients along the paths add")
    return why(*segs)


def _last_reason(lay: int, parts: tuple[Contribution, ...], rule: Why) -> Why:
    """The last link's justification; where ``a^lay`` fans out it keeps the sum's reason,
    so a summary that prints only the last link still says why the terms add."""
    if len(parts) == 1:
        return rule
    return _paths_reason(lay, parts, "") + why("; ") + rule


def delta_step(network: object, lf: object, level: dict[int, bool]) -> Step:
    """``summary.delta.{l}`` of a hidden layer (see the module docstring)."""
    lay = lf.index  # type: ignore[attr-defined]
    act = lf.activation  # type: ignore[attr-defined]
    if _matrix_ready(network, lay, level):
        parts = contributions(network, lay, level, matrix=True)
        rec = parts[0].expr if len(parts) == 1 else sp.MatAdd(*[p.expr for p in parts])
        dphi_vec = vectorize(lf.shown_form, lay)  # type: ignore[attr-defined]
        return Step(
            f"summary.delta.{lay}",
            "summary",
            g.vector("delta", lay),
            (
                (
                    sp.HadamardProduct(rec, ElementwiseApplied(act, g.vector("z", lay), 1)),
                    _paths_reason(lay, parts, "hidden recurrence"),
                ),
                (
                    sp.HadamardProduct(rec, dphi_vec)
                    if isinstance(dphi_vec, MatrixExpr)
                    else rec * dphi_vec,
                    _last_reason(lay, parts, lf.dphi.rule),  # type: ignore[attr-defined]
                ),
            ),
            "matrix",
            lay,
        )
    parts = contributions(network, lay, level, matrix=False)
    idx = (SAMPLE, UNIT) if level[lay] else (UNIT,)
    rec = sp.Add(*[p.expr for p in parts])
    from_calculus = lf.shown_form  # type: ignore[attr-defined]
    at = {a_scalar: g.indexed("a", lay)[idx], z_scalar: g.indexed("z", lay)[idx]}
    prime = activation_prime_function(act)  # display: φ'(z); the next link is its form
    reason = _paths_reason(lay, parts, "hidden recurrence")
    if level[lay]:
        reason = reason + why(" (batch level: sample ", SAMPLE, " first)")
    return Step(
        f"summary.delta.{lay}",
        "summary",
        g.indexed("delta", lay)[idx],
        (
            (rec * prime(g.indexed("z", lay)[idx]), reason),
            (rec * from_calculus.xreplace(at), _last_reason(lay, parts, lf.dphi.rule)),  # type: ignore[attr-defined]
        ),
        "index",
        lay,
    )


def _plus_decay(rhs: sp.Basic, network: object, lay: int, name: str, param: sp.Basic) -> sp.Basic:
    """``rhs`` plus the L2 term of a parameter's gradient, when the penalty covers it."""
    if (name, lay) in decayed_parameters(network):
        return rhs + 2 * g.scalar("lambda") * param
    return rhs


def decayed(network: object) -> list[sp.MatrixSymbol]:
    """The parameters the L2 penalty covers (:func:`symprop.core.instance.decayed`: role
    ``weight``, and ``bias`` with ``regularize_biases``), as layer-level matrix symbols."""
    out: list[sp.MatrixSymbol] = []
    for name, lay in decayed_parameters(network):
        bind = Binding.of(network, lay)
        (p,) = [p for p in bind.kind.parameters if p.name == name]
        out.append(bind.matrix_of(p.operand))
    return out


def gradient_steps(network: object, lf: object, level: dict[int, bool]) -> list[Step]:
    """``summary.grad_{P}.{l}`` for each parameter of layer ``l``'s kind."""
    lay = lf.index  # type: ignore[attr-defined]
    bind = Binding.of(network, lay)
    J = g.scalar("J")
    steps: list[Step] = []
    for p, grad in zip(bind.kind.parameters, bind.rules.parameters, strict=True):
        mat = bind.matrix_of(p.operand)
        sid = f"summary.grad_{p.name}.{lay}"
        if grad.matrix is not None and not level[lay] and not bind.kind.batch_coupled:
            per = bind.matrix(grad.matrix)
            outer = g.vector("delta", lay) * g.vector("a", lay - 1).T
            if per == outer:
                Delta = g.matrix("Delta", lay)
                rhs: sp.Basic = _plus_decay(Delta / n_batch, network, lay, p.name, mat)
                reason = why(Relation(Delta, SampleSum(outer, g.i, n_batch)))
            else:
                rhs = _plus_decay(SampleSum(per, g.i, n_batch) / n_batch, network, lay, p.name, mat)
                reason = why("mean over the batch of the per-sample gradient")
            steps.append(Step(sid, "summary", Partial(J, mat), ((rhs, reason),), "matrix", lay))
            continue
        ix = free_indices(grad, bind.kind, False)
        entry = bind.index(p.operand(*grad.indices)).xreplace(ix)
        if bind.kind.batch_coupled:
            total = _index_rule(bind, grad.compact, grad, None)
            reason = why("the kind's rule sums over the batch; ", J, " is the batch mean")
        else:
            s = sp.Symbol("s")
            per = _index_rule(bind, grad.compact, grad, s)
            total = sp.Sum(per, (s, 1, n_batch))
            reason = why("sum of the per-sample gradient over the batch; ", J, " is the mean")
        rhs = _plus_decay(total / n_batch, network, lay, p.name, entry)
        steps.append(Step(sid, "summary", Partial(J, entry), ((rhs, reason),), "index", lay))
    return steps
