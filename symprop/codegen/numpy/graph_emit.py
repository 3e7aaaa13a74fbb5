"""Print the model of a network of layer kinds as the context of its NumPy module.

:func:`graph_context` turns a :class:`~symprop.codegen.graph.GraphModel` into a
:class:`GraphContext` of strings and flags for ``templates/numpy_graph_module.py.j2``:
per layer the statements of its training forward pass, its prediction forward pass, its
backward pass and its running-statistics update, each printed from the kind's proven
forms by :class:`~symprop.codegen.numpy.kinds.KindPrinter`, with the proven form itself
(in the kind's index notation) as the comment above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symprop import __version__
from symprop.codegen.graph import GraphModel, KindBlock
from symprop.codegen.model import Target
from symprop.codegen.numpy.activations import ActivationCode, activation_code
from symprop.codegen.numpy.docstrings import doc_paragraph
from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.numpy.kinds import ArrayName, KindPrinter, UnprintableForm
from symprop.codegen.numpy.printer import ArrayPrinter, _literal
from symprop.core.layers import UPSTREAM
from symprop.printers.unicode import sentence, unicode

__all__ = ["GraphContext", "GraphLayerCode", "graph_context"]


@dataclass(frozen=True)
class Statement:
    """One line of code and the proven form it computes (empty: none to state)."""

    code: str
    form: str = ""


@dataclass(frozen=True)
class GraphLayerCode:
    """What the template writes for layer ``index``."""

    index: int
    kind: str
    description: str
    activation: str
    sources: tuple[int, ...]
    inputs: str  # which array each input of the kind is, e.g. "x = a1, f = a3"
    forward: tuple[Statement, ...]  # training mode, locals; ends with z<l> and a<l>
    predict: tuple[Statement, ...]  # prediction mode
    backward: tuple[Statement, ...]  # gradients of parameters and inputs, from delta<l>
    delta: Statement  # delta<l> from da<l> (hidden layers)
    running: tuple[Statement, ...]
    cached: tuple[tuple[str, str], ...]  # cache entries besides z and a: (key, code)


@dataclass(frozen=True)
class GraphContext:
    """The typed context of the graph module's template."""

    name: str
    summary: str
    header: str
    usage: str
    version: str
    dtype: str
    layer_sizes: tuple[int, ...]
    training: tuple[tuple[str, str], ...]
    helpers: tuple[str, ...]
    activation_functions: tuple[ActivationCode, ...]
    layers: tuple[GraphLayerCode, ...]
    shapes: tuple[tuple[str, str], ...]  # every key of params and its shape literal
    trainable: str  # literal tuple of the trained keys
    running_keys: str  # literal tuple of the running statistics' keys
    decayed: str  # literal tuple of the keys with weight decay
    decayed_doc: str  # the same keys, for the docstring
    init: tuple[Statement, ...]
    given: tuple[tuple[str, str, str], ...]  # (key, shape after the batch, keep literal)
    batch_coupled: bool
    output_delta: str
    cost: str
    cost_doc: str
    l2: str
    has_l2: bool
    regularize_biases: bool
    class_target: bool
    unit_target: bool
    assumptions: tuple[str, ...]
    literals: dict[str, str]
    n_params: int


def _printer(block: KindBlock, *, cache: bool) -> KindPrinter:
    """The block's printer: hyper-parameters and sizes as numbers, the batch size as ``m``
    (the one size not bound by the widths, known when the batch is)."""
    values = dict(block.scalars)
    names = {s: "m" for s in block.kind.sizes() if s not in values}
    return KindPrinter(_arrays(block, cache=cache), values, names)


def _arrays(block: KindBlock, *, cache: bool) -> dict[str, ArrayName]:
    """Code names of the block's arrays: locals in the forward pass, the cache's entries
    in the backward pass; parameters and running statistics from ``params``."""
    l, kind = block.index, block.kind

    def held(name: str) -> str:
        return f'c["{name}"]' if cache else name

    arrays = {
        op.name: ArrayName(held(f"a{s}"), True)
        for op, s in zip(kind.inputs, block.sources, strict=True)
    }
    arrays[kind.output.name] = ArrayName(held(f"z{l}"), True)
    for p in kind.parameters:
        arrays[p.name] = ArrayName(f'params["{p.name}{l}"]', False)
    for v in kind.intermediates:
        arrays[v.operand.name] = ArrayName(held(f"{v.operand.name}{l}"), True)
    for g in kind.given:
        arrays[g.name] = ArrayName(f'c["{g.name}{l}"]' if cache else f'given["{g.name}{l}"]', True)
    for r in kind.running:
        arrays[r.operand.name] = ArrayName(f'params["{r.operand.name}{l}"]', False)
    arrays[UPSTREAM] = ArrayName(f"delta{l}", True)
    return arrays


def _entry(op_name: str, indices: tuple[sp.Symbol, ...]) -> str:
    return f"{op_name}[{', '.join(map(str, indices))}]" if indices else op_name


def _layer_code(
    block: KindBlock, act_call: str, dphi: str | None, last_reader: dict[int, int]
) -> GraphLayerCode:
    l, kind, rules = block.index, block.kind, block.rules
    per_sample = not kind.batch_coupled
    fwd = _printer(block, cache=False)
    bwd = _printer(block, cache=True)

    def index_form(printer: KindPrinter, expr: sp.Expr, ix: tuple, total: bool = False) -> str:
        return printer.index(expr, ix, sample=per_sample, total=total and per_sample)

    forward: list[Statement] = []
    for v in kind.intermediates:
        code = index_form(fwd, v.definition, v.indices)
        forward.append(
            Statement(
                f"{v.operand.name}{l} = {code}",
                f"{_entry(v.operand.name, v.indices)} = {unicode(v.definition)}",
            )
        )
    out_entry = _entry(kind.output.name, kind.output_indices)
    z_code = None
    if rules.forward_matrix is not None:
        try:
            z_code = fwd.matrix(rules.forward_matrix)
            z_form = f"{kind.output.name} = {unicode(rules.forward_matrix)}"
        except UnprintableForm:
            z_code = None
    if z_code is None:
        z_code = index_form(fwd, kind.forward, kind.output_indices)
        z_form = f"{out_entry} = {unicode(kind.forward)}"
    forward.append(Statement(f"z{l} = {z_code}", z_form))
    forward.append(Statement(f"a{l} = {act_call}"))

    if kind.inference is not None:
        pred_code = index_form(fwd, kind.inference, kind.output_indices)
        predict = [Statement(f"z{l} = {pred_code}", f"{out_entry} = {unicode(kind.inference)}")]
    else:
        predict = list(forward[:-1])
    predict.append(Statement(f"a{l} = {act_call}"))

    backward: list[Statement] = []
    for grad, p in zip(rules.parameters, kind.parameters, strict=True):
        code = None
        if grad.matrix is not None:
            try:
                code = bwd.matrix(grad.matrix, total=True)
                form = f"∂C/∂{p.name} = Σ_batch {unicode(grad.matrix)}"
            except UnprintableForm:
                code = None
        if code is None:
            code = index_form(bwd, grad.compact, grad.indices, total=True)
            batch = "Σ_batch " if per_sample else ""
            form = f"∂C/∂{_entry(p.name, grad.indices)} = {batch}{unicode(grad.compact)}"
        backward.append(Statement(f'grads["{p.name}{l}"] = {code}', form))
    seen: set[int] = set()
    for grad, op, s in zip(rules.inputs, kind.inputs, block.sources, strict=True):
        if s == 0:
            continue  # nothing reads ∂C/∂a⁰
        code = None
        if grad.matrix is not None:
            try:
                code = bwd.matrix(grad.matrix)
                form = f"∂C/∂{op.name} = {unicode(grad.matrix)}"
            except UnprintableForm:
                code = None
        if code is None:
            code = index_form(bwd, grad.compact, grad.indices)
            form = f"∂C/∂{_entry(op.name, grad.indices)} = {unicode(grad.compact)}"
        # The first consumer (in backward order) of a^s writes ∂C/∂a^s, the others add:
        # where a value fans out, its gradients add.
        first = last_reader[s] == l and s not in seen
        seen.add(s)
        # Not ``+=``: ``da`` may be the very array of another δ (an add passes g through).
        assign = f"da{s} = {code}" if first else f"da{s} = da{s} + {code}"
        if not first:
            form += f"; a{s} feeds several layers, so their gradients add"
        backward.append(Statement(assign, form))

    if dphi is None:
        delta = Statement(f"delta{l} = da{l}", f"δ{l} = ∂C/∂a{l} (φ' = 1)")
    else:
        proven = "" if block.dphi_proven is None else f", φ'(z) = {unicode(block.dphi_proven)}"
        delta = Statement(f"delta{l} = da{l} * ({dphi})", f"δ{l} = ∂C/∂a{l} ⊙ φ'(z{l}){proven}")

    running = []
    for r in block.running:
        stat = index_form(bwd, r.statistic, r.indices)
        if per_sample:
            stat = f"np.mean({stat}, axis=0)"
        momentum = _literal(block.momentum)
        key = f'params["{r.operand.name}{l}"]'
        running.append(
            Statement(
                f"{key}[...] = (1 - {momentum}) * {key} + {momentum} * {stat}",
                f"{_entry(r.operand.name, r.indices)} ← (1 − momentum) "
                f"{_entry(r.operand.name, r.indices)} + momentum · {unicode(r.statistic)}",
            )
        )
    cached = (
        *((f"{v.operand.name}{l}",) * 2 for v in kind.intermediates),
        *((f"{g.name}{l}", f'given["{g.name}{l}"]') for g in kind.given),
    )
    return GraphLayerCode(
        index=l,
        kind=kind.name,
        description=kind.description,
        activation=block.activation,
        sources=block.sources,
        inputs=", ".join(
            f"{op.name} = a{s}" for op, s in zip(kind.inputs, block.sources, strict=True)
        ),
        forward=tuple(forward),
        predict=tuple(predict),
        backward=tuple(backward),
        delta=delta,
        running=tuple(running),
        cached=cached,
    )


def _init(block: KindBlock) -> list[Statement]:
    """Initialisation of the block's parameters and running statistics, in order."""
    l = block.index
    out = []
    for p in block.parameters:
        key = f'params["{p.name}{l}"]'
        if p.init in ("he", "xavier"):
            if len(p.shape) != 2:
                raise UnprintableForm(f"{p.init} initialisation needs a matrix, {p.name} is not")
            helper = "_he_normal" if p.init == "he" else "_glorot_uniform"
            doc = (
                f"He: N(0, 2/{p.shape[1]})"
                if p.init == "he"
                else f"Glorot: U(−r, r), r = sqrt(6/({p.shape[1]} + {p.shape[0]}))"
            )
            code = f"{key} = {helper}(rng, {p.shape[0]}, {p.shape[1]}).astype(DTYPE)"
        else:
            fill = "np.ones" if p.init == "ones" else "np.zeros"
            code = f"{key} = {fill}({p.shape!r}, dtype=DTYPE)"
            doc = f"{p.init}"
        out.append(Statement(code, f"{p.name}{l} ({p.role}): {doc}"))
    for r in block.running:
        fill = "np.ones" if r.init == "ones" else "np.zeros"
        key = f'params["{r.operand.name}{l}"]'
        out.append(
            Statement(f"{key} = {fill}({r.shape!r}, dtype=DTYPE)", f"{r.operand.name}{l}: {r.init}")
        )
    return out


def graph_context(model: GraphModel, *, spec: str, dtype: str) -> GraphContext:
    """The template context of ``model``'s module: every formula printed, nothing SymPy.

    Parameters
    ----------
    model
        What the module computes (:func:`~symprop.codegen.graph.build_graph_model`).
    spec
        How the header names the spec.
    dtype
        ``"float64"`` or ``"float32"``: the default dtype of ``init_params``.
    """
    net = model.network
    printer = ArrayPrinter()  # rows
    layers = []
    last_reader = {s: b.index for b in model.blocks for s in b.sources}  # highest reader wins
    for block in model.blocks:
        l = block.index
        args = [f"z{l}"] + [f"{k}={_literal(sp.nsimplify(v))}" for k, v in block.act_params]
        call = f"{block.activation}({', '.join(args)})"
        dphi = None
        if block.dphi is not None:
            printer.names = {"a": f'c["a{l}"]', "z": f'c["z{l}"]'}
            dphi = printer.doprint(block.dphi)
        layers.append(_layer_code(block, call, dphi, last_reader))
    L = net.depth
    printer.names = {"a": f'c["a{L}"]', "z": f'c["z{L}"]', "y": "Y"}
    output_delta = printer.doprint(model.output.delta)
    printer.names = {"a": "aL", "z": "zL", "y": "Y"}
    cost = printer.doprint(model.output.cost)
    used = list(dict.fromkeys([b.activation for b in model.blocks]))
    used += sorted(printer.activations_used - set(used))
    functions = tuple(activation_code(name, printer) for name in used)  # notes their helpers
    init = [s for b in model.blocks for s in _init(b)]
    helper_names = set(printer.helpers_used)
    helper_names |= {
        h for s in init for h in ("_he_normal", "_glorot_uniform") if f"{h}(" in s.code
    }
    shapes = []
    trainable, running, decayed = [], [], []
    for b in model.blocks:
        for p in b.parameters:
            key = f"{p.name}{b.index}"
            shapes.append((key, repr(p.shape)))
            trainable.append(key)
            if p.decayed:
                decayed.append(key)
        for r in b.running:
            key = f"{r.operand.name}{b.index}"
            shapes.append((key, repr(r.shape)))
            running.append(key)
    given = tuple(
        (f"{g.name}{b.index}", repr(g.shape), _literal(sp.Float(g.keep)))
        for b in model.blocks
        for g in b.given
    )
    tr = net.training
    training = (
        ("epochs", repr(tr.epochs)),
        ("learning_rate", repr(float(tr.learning_rate))),
        ("batch_size", repr(tr.batch_size)),
        ("optimizer", repr(tr.optimizer)),
        ("momentum", repr(float(tr.momentum))),
        ("seed", repr(tr.seed)),
    )
    kinds = ", ".join(f"{b.kind.name}·{b.activation}" for b in model.blocks)
    regularised = " (biases regularised too)" if net.regularize_biases else ""
    return GraphContext(
        name=net.name,
        summary=doc_paragraph(
            ("NumPy training module ``", False),
            (net.name, True),
            (f"``, generated by symprop {__version__}.", False),
        ),
        header=doc_paragraph(
            (net.title or net.name, True),
            (". Generated from ``", False),
            (spec, True),
            (
                "`` by ``symprop generate``; regenerate rather than edit. NumPy is its only "
                f"dependency. Network {'-'.join(map(str, net.widths))} ({kinds}), "
                f"loss {net.loss}, λ = {_literal(sp.Float(model.l2))}{regularised}.",
                False,
            ),
        ),
        usage=doc_paragraph(
            ("Run ``python ", False),
            (net.name, True),
            (".py --data FILE`` to train from the command line (``--help``).", False),
        ),
        version=__version__,
        dtype=dtype,
        layer_sizes=net.widths,
        training=training,
        helpers=tuple(HELPERS[h].source for h in sorted(helper_names)),
        activation_functions=functions,
        layers=tuple(layers),
        shapes=tuple(shapes),
        trainable=repr(tuple(trainable)),
        running_keys=repr(tuple(running)),
        decayed=repr(tuple(decayed)),
        decayed_doc=", ".join(decayed) or "none",
        init=tuple(init),
        given=given,
        batch_coupled=model.batch_coupled,
        output_delta=output_delta,
        cost=cost,
        cost_doc=f"Σ_k {unicode(model.output.loss_term)}",
        l2=repr(float(model.l2)),
        has_l2=model.has_l2,
        regularize_biases=model.regularize_biases,
        class_target=model.target is Target.CLASS,
        unit_target=model.target is Target.UNIT,
        assumptions=tuple(sentence(reason) for reason in model.assumptions),
        literals={
            "layer_sizes": repr(tuple(net.widths)),
            "activations": repr(tuple(b.activation for b in model.blocks)),
            "kinds": repr(tuple(b.kind.name for b in model.blocks)),
            "loss": repr(net.loss),
            "target": repr(model.target.value),
        },
        n_params=model.n_params,
    )
