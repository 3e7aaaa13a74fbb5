"""Emit a standalone NumPy training module from a derivation.

The pipeline is: :func:`symprop.derive` → :func:`symprop.codegen.model.build_model` (what
the module computes, backend-neutral SymPy and data) → :func:`build_context` (a typed
context of strings and flags, every formula printed by
:class:`symprop.codegen.numpy.printer.ArrayPrinter`, every docstring formula by
:func:`symprop.printers.unicode.unicode`) → ``templates/numpy_module.py.j2`` (layout only:
it branches on the context's flags, never on printed text) → ``ruff format`` when ruff is
installed → a file written atomically.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import sympy as sp
from sympy import HadamardProduct

from symprop import __version__
from symprop.codegen.graph import build_graph_model
from symprop.codegen.model import Init, LayerModel, Target, TrainingModel, build_model
from symprop.codegen.numpy.activations import ActivationCode, activation_code
from symprop.codegen.numpy.docstrings import doc_paragraph
from symprop.codegen.numpy.graph_emit import GraphContext, graph_context
from symprop.codegen.numpy.helpers import HELPERS
from symprop.codegen.numpy.printer import ArrayPrinter
from symprop.codegen.numpy.unrolled import unrolled
from symprop.core.examples import network_specs
from symprop.core.files import write_atomic as _write_atomic
from symprop.core.registry import a, a_vec, j_idx, y, y_vec, z, z_vec
from symprop.core.spec import Network, load_spec
from symprop.core.symbols import Vectorized
from symprop.core.templating import render
from symprop.derivation.build import derive
from symprop.printers.unicode import sentence, unicode

__all__ = [
    "ActivationCode",
    "LayerCode",
    "ModuleContext",
    "activation_code",
    "build_context",
    "import_generated",
    "regenerate",
    "render_module",
    "write_module",
]

TEMPLATE = "numpy_module.py.j2"
GRAPH_TEMPLATE = "numpy_graph_module.py.j2"


@dataclass(frozen=True)
class LayerCode:
    """Everything the template writes for layer ``index`` (1..L)."""

    index: int
    fan_in: int
    width: int
    activation: str
    elementwise: bool  # φ acts on each unit alone: φ' is a factor of δ^l
    call: str  # e.g. "relu(z1)", on a batch of rows
    step_call: str  # the same on the training step's batch of columns, e.g. "softmax(z3, axis=0)"
    call_into: str  # the statement writing a<l> into its buffer, e.g. "relu(z1, out=a1)"
    dphi: str | None  # printed φ'(z^l) in a<l>, z<l> (columns); None when φ' = 1
    dphi_doc: str
    delta_doc: str
    init: str  # helper name
    init_doc: str
    # Comments citing the derivation's formula numbers ("  # (6)"; "" when it has none).
    cite_z: str = ""
    cite_a: str = ""
    cite_delta: str = ""
    cite_grad: str = ""


@dataclass(frozen=True)
class ModuleContext:
    """The typed context of the template: strings and numbers to print, flags to decide by;
    no SymPy objects."""

    name: str
    summary: str  # the docstring's first line; user text only through docstring_text
    header: str  # the docstring's first paragraph (title, spec, network), escaped and wrapped
    usage: str  # its last line, how to run the module
    version: str
    layer_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    l2: str  # λ as a literal, for printing only
    has_l2: bool  # λ ≠ 0: weight decay is computed at all
    regularize_biases: bool
    dtype: str
    training: tuple[tuple[str, str], ...]
    helpers: tuple[str, ...]
    activation_functions: tuple[ActivationCode, ...]
    layers: tuple[LayerCode, ...]
    output_delta: str
    output_delta_doc: str
    canonical: bool
    cost: str
    cost_doc: str
    step_shared: tuple[tuple[str, str], ...]  # what a^L and the cost share, computed once
    step_activation: str | None  # a^L through step_shared (None: the activation's call)
    step_cost: str
    unrolled: tuple[str, ...]  # body of _sample_gradient; empty: no per-sample float code
    imports_math: bool  # the per-sample float code or its helpers call math
    update_per_layer: bool  # update each layer's block during backprop (large networks)
    class_target: bool  # targets are one-hot rows (integer labels accepted)
    unit_target: bool  # targets lie in [0, 1]
    assumptions: tuple[str, ...]
    literals: dict[str, str]  # Python literals of the tuples the module defines
    n_params: int
    backprop_doc: tuple[str, ...] = ()  # the formulas ``_backprop`` computes, numbered
    cite_cost: str = ""  # comment citing J's formula numbers
    cite_sample_cost: str = ""  # comment citing the per-sample cost's number
    cite_update: str = ""  # the update's formula numbers, " (32), (33)"

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.layers)


def _literal(value: float) -> str:
    return repr(float(value))


def _equation(
    lhs_rhs: tuple[sp.Basic, sp.Basic], computed: sp.Expr | None = None, z_vector: sp.Basic = None
) -> str:
    """The derivation's equation ``lhs = rhs`` as a docstring line. With ``computed`` (the
    unit-level expression the code line prints), the elementwise factor of ``rhs`` is
    replaced by it, so that the docstring shows exactly the form the code computes: one
    SymPy expression, printed by the code printer and by the Unicode printer."""
    lhs, rhs = lhs_rhs
    if computed is not None:
        rhs = _with_computed(rhs, computed, z_vector)
    return f"{unicode(lhs)} = {unicode(rhs)}"


def _with_computed(rhs: sp.Basic, computed: sp.Expr, z_vector: sp.Basic | None) -> sp.Basic:
    """``rhs`` with its elementwise factor (a ``Vectorized``) written as ``computed``; the
    factor's vectors stay the derivation's. Unchanged when ``computed`` names a scalar the
    factor does not map to a vector."""
    if isinstance(rhs, Vectorized):
        mapping = rhs.mapping
        if z_vector is not None:
            mapping.setdefault(z, z_vector)
        if not computed.free_symbols <= set(mapping):
            return rhs
        return Vectorized(computed, mapping, rhs.shape)
    if isinstance(rhs, HadamardProduct):
        return HadamardProduct(*[_with_computed(arg, computed, z_vector) for arg in rhs.args])
    return rhs


def _unit_level(expr: sp.Expr) -> sp.Expr:
    """The output δ^L_j the code prints, in the scalar symbols a, y, z of a ``Vectorized``."""
    return expr.xreplace({a_vec[j_idx]: a, y_vec[j_idx]: y, z_vec[j_idx]: z})


def _cite(numbers: dict[str, int], *ids: str) -> str:
    """A trailing comment citing the formulas ``ids`` by number ("" when none is numbered)."""
    found = [f"({numbers[i]})" for i in ids if i in numbers]
    return f"  # {', '.join(found)}" if found else ""


def _layer_code(
    layer: LayerModel, step_printer: ArrayPrinter, numbers: dict[str, int]
) -> LayerCode:
    """Print one layer of the model: its calls on rows and columns, φ', and docs."""
    l = layer.index
    args = [f"z{l}"] + [f"{k}={_literal(v)}" for k, v in layer.params]
    call = f"{layer.activation}({', '.join(args)})"
    step_call = call if layer.elementwise else f"{layer.activation}({', '.join(args)}, axis=0)"
    if activation_code(layer.activation, ArrayPrinter()).writes_out:
        call_into = f"{layer.activation}({', '.join(args)}, out=a{l})"
    else:
        call_into = f"a{l}[...] = {call}"
    dphi = None
    if layer.dphi is not None:
        step_printer.names = {"a": f"a{l}", "z": f"z{l}"}
        dphi = step_printer.doprint(layer.dphi)
    he = layer.init is Init.HE
    return LayerCode(
        index=l,
        fan_in=layer.fan_in,
        width=layer.width,
        activation=layer.activation,
        elementwise=layer.elementwise,
        call=call,
        step_call=step_call,
        call_into=call_into,
        dphi=dphi,
        dphi_doc="" if layer.dphi_proven is None else f"φ'(z) = {unicode(layer.dphi_proven)}",
        delta_doc=_equation(layer.delta, layer.dphi, layer.z_vector),
        init="_he_normal" if he else "_glorot_uniform",
        init_doc=(
            f"He: {layer.activation} is a rectifier, W{l} ~ N(0, 2/{layer.fan_in})"
            if he
            else f"Glorot: W{l} ~ U(−r, r), r = sqrt(6/({layer.fan_in} + {layer.width}))"
        ),
        cite_z=_cite(numbers, f"forward.layer.{l}.z"),
        cite_a=_cite(numbers, f"forward.layer.{l}"),
        cite_delta=_cite(numbers, f"summary.delta.{l}"),
        cite_grad=_cite(numbers, f"summary.grad_W.{l}", f"summary.grad_b.{l}"),
    )


def _cost(model: TrainingModel, printer: ArrayPrinter, L: int) -> tuple[str, str]:
    """The per-sample loss summed over outputs, written in z^L where that is stabler."""
    printer.names = {"a": f"a{L}", "z": f"z{L}", "y": "Y"}
    return printer.doprint(model.output.cost), f"Σ_k {unicode(model.output.loss_term)}"


def _output_step(
    model: TrainingModel, printer: ArrayPrinter, L: int
) -> tuple[tuple[tuple[str, str], ...], str | None, str]:
    """The training step's output layer: what a^L and the cost share is computed once.

    Returns the shared assignments ``(name, code)``, the code of a^L when it is written
    through them (None: call the activation), and the cost's code.
    """
    out = model.output
    printer.names = {"a": f"a{L}", "z": f"z{L}", "y": "Y"}
    assignments = tuple((str(sym), printer.doprint(expr)) for sym, expr in out.shared)
    a_code = None if out.shared_activation is None else printer.doprint(out.shared_activation)
    return assignments, a_code, _batch_sum(out.shared_cost, printer)


def _batch_sum(term: sp.Expr, printer: ArrayPrinter) -> str:
    """Code for Σ over the batch and the units of ``term``: a product c·y·f is the dot
    product ``c * np.vdot(Y, f)`` (one pass, no temporaries), anything else the array's
    ``.sum()`` (the method: ``np.sum``'s Python wrapper costs 3 µs a call, which a
    per-sample step of a tiny network pays every sample)."""
    coeff, factors = term.as_coeff_mul()
    targets = [f for f in factors if printer.doprint(f) == "Y"]
    if len(targets) == 1:
        rest = sp.Mul(*[f for f in factors if f is not targets[0]])
        if not rest.has(targets[0]) and not rest.is_number:
            dot = f"np.vdot(Y, {printer.doprint(rest)})"
            if coeff == 1:
                return dot
            return f"-{dot}" if coeff == -1 else f"{printer.doprint(coeff)} * {dot}"
    return f"({printer.doprint(term)}).sum()"


UPDATE_PER_LAYER_PARAMS = 65_536
"""Networks with more parameters than this (their float32 vectors overflow a 256 KiB cache)
update each layer's block during backprop, while it is in cache, rather than all at once
after it: fewer trips through memory. Smaller ones update at once: fewer NumPy calls."""


def build_context(
    network: Network, *, spec: str, dtype: str | None = None, model: TrainingModel | None = None
) -> ModuleContext:
    """Derive ``network``, model what its training module computes, and print that model.

    Parameters
    ----------
    network
        The validated spec.
    spec
        How the header names the spec (e.g. ``"examples/digits.toml"``); no timestamps.
    dtype
        ``"float64"`` or ``"float32"``; defaults to the spec's ``training.dtype``.
    model
        ``network``'s training model, when the caller has built it already (another backend
        printing the same derivation); else it is derived here.
    """
    dtype = dtype or network.training.dtype
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype: got {dtype!r}; known: float64, float32")
    if model is None:
        model = build_model(derive(network))
    printer = ArrayPrinter()  # the public functions: a batch of rows
    step_printer = ArrayPrinter(units_axis=0)  # the training step: a batch of columns
    widths = network.widths
    L = network.depth

    numbers = model.numbers
    layers = [_layer_code(layer, step_printer, numbers) for layer in model.layers]
    # δ^L in the docstring as the code computes it, from the same expression.
    last = model.layers[-1]
    output_doc = _equation(last.delta, _unit_level(model.output.delta), last.z_vector)
    layers[-1] = replace(layers[-1], delta_doc=output_doc)
    step_printer.names = {"a": f"a{L}", "z": f"z{L}", "y": "Y"}
    output_delta = step_printer.doprint(model.output.delta)
    cost, cost_doc = _cost(model, printer, L)
    step_shared, step_activation, step_cost = _output_step(model, step_printer, L)

    # Functions of the module: every activation of a layer, and any that a printed
    # formula calls (softplus' = σ(z) calls sigmoid).
    printer.activations_used |= step_printer.activations_used
    used = [layer.activation for layer in network.layers]
    used += sorted(printer.activations_used - set(used))
    functions = []
    for name in dict.fromkeys(used):
        functions.append(activation_code(name, printer))
    for name in sorted(printer.activations_used - set(used)):  # pragma: no cover - nested
        functions.append(activation_code(name, printer))
    body, scalar_helpers = unrolled(model) if dtype == "float64" else ((), frozenset())
    helpers_used = (
        printer.helpers_used
        | step_printer.helpers_used
        | {layer.init for layer in layers}
        | scalar_helpers
    )
    helpers = tuple(HELPERS[h].source for h in sorted(helpers_used))

    tr = network.training
    training = (
        ("epochs", repr(tr.epochs)),
        ("learning_rate", repr(float(tr.learning_rate))),
        ("batch_size", repr(tr.batch_size)),
        ("optimizer", repr(tr.optimizer)),
        ("momentum", repr(float(tr.momentum))),
        ("seed", repr(tr.seed)),
    )
    summary = doc_paragraph(
        ("NumPy training module ``", False),
        (network.name, True),
        (f"``, generated by symprop {__version__}.", False),
    )
    regularised = " (biases regularised too)" if network.regularize_biases else ""
    header = doc_paragraph(
        (network.title or network.name, True),
        (". Generated from ``", False),
        (spec, True),
        (
            "`` by ``symprop generate``; regenerate rather than edit. NumPy is its only "
            f"dependency. Network {'-'.join(map(str, widths))} "
            f"({', '.join(layer.activation for layer in network.layers)}), "
            f"loss {network.loss}, λ = {_literal(model.l2)}{regularised}.",
            False,
        ),
    )
    usage = doc_paragraph(
        ("Run ``python ", False),
        (network.name, True),
        (".py --data FILE`` to train from the command line (``--help``).", False),
    )
    return ModuleContext(
        name=network.name,
        summary=summary,
        header=header,
        usage=usage,
        version=__version__,
        layer_sizes=widths,
        activations=tuple(layer.activation for layer in network.layers),
        loss=network.loss,
        l2=_literal(model.l2),
        has_l2=model.has_l2,
        regularize_biases=model.regularize_biases,
        dtype=dtype,
        training=training,
        helpers=helpers,
        activation_functions=tuple(functions),
        layers=tuple(layers),
        output_delta=output_delta,
        output_delta_doc=layers[-1].delta_doc,
        canonical=model.output.canonical,
        cost=cost,
        cost_doc=cost_doc,
        step_shared=step_shared,
        step_activation=step_activation,
        step_cost=step_cost,
        unrolled=body,
        imports_math=any("math." in code for code in (*body, *helpers)),
        update_per_layer=model.n_params > UPDATE_PER_LAYER_PARAMS,
        class_target=model.target is Target.CLASS,
        unit_target=model.target is Target.UNIT,
        assumptions=tuple(sentence(reason) for reason in model.assumptions),
        literals={
            "layer_sizes": repr(tuple(widths)),
            "activations": repr(tuple(layer.activation for layer in network.layers)),
            "weights": repr(tuple(f"W{l}" for l in range(1, L + 1))),
            "biases": repr(tuple(f"b{l}" for l in range(1, L + 1))),
            "param_keys": repr(tuple(f"{p}{l}" for l in range(1, L + 1) for p in "Wb")),
            "loss": repr(network.loss),
            "target": repr(model.target.value),
        },
        n_params=model.n_params,
        backprop_doc=_backprop_doc(layers),
        cite_cost=_cite(numbers, "cost.sample", "cost.batch", "cost.objective"),
        cite_sample_cost=_cite(numbers, "cost.sample"),
        cite_update=_cite(numbers, "update.W", "update.b")[3:],
    )


def _backprop_doc(layers: list[LayerCode]) -> tuple[str, ...]:
    """The lines of ``_backprop``'s docstring: each δ^l as the code computes it, then the
    gradients, each with its formula number."""
    lines = [f"{layer.delta_doc}{_tag(layer.cite_delta)}" for layer in reversed(layers)]
    grads = [layer.cite_grad[4:] for layer in layers if layer.cite_grad]
    cited = f"   {', '.join(grads)}" if grads else ""
    lines.append(f"[∂C/∂W^l | ∂C/∂b^l] = Σ_i δ^l [(a^{{l−1}})ᵀ 1], times ``scale``{cited}")
    return tuple(lines)


def _tag(cite: str) -> str:
    """A docstring's formula number, from the code's comment: "   (12)"."""
    return f"   {cite[4:]}" if cite else ""


def _ruff_format(source: str) -> str:
    """``ruff format`` the source when ruff is installed (isolated from any project config,
    so the output does not depend on where symprop runs), else return it unchanged."""
    exe = shutil.which("ruff")
    if exe is None:
        return source
    done = subprocess.run(
        [exe, "format", "--isolated", "--line-length", "100", "--stdin-filename", "m.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ruff format failed on the generated module: {done.stderr.strip()}")
    return done.stdout


def _compiled(source: str) -> str:
    """``source`` unchanged once it compiles with no warning: a ``SyntaxWarning`` (such as
    ``2[:, None]``, a subscripted literal) marks code that fails when it runs, and
    ``ruff format`` passes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            compile(source, "<generated module>", "exec")
        except SyntaxError as exc:  # a SyntaxWarning is raised as one here
            raise RuntimeError(
                f"the generated module does not compile cleanly: line {exc.lineno}: {exc.msg}"
            ) from None
    return source


def build_graph_context(network: Network, *, spec: str, dtype: str | None = None) -> GraphContext:
    """Model and print the training module of a network of layer kinds (any graph)."""
    dtype = dtype or network.training.dtype
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype: got {dtype!r}; known: float64, float32")
    model = build_graph_model(derive(network))
    return graph_context(model, spec=spec, dtype=dtype)


def render_module(network: Network, *, spec: str, dtype: str | None = None) -> str:
    """The generated module's source for ``network``.

    A plain stack of dense layers gets the module tuned for it (flat parameter vector,
    columns in the training step, per-sample float code for small networks); any other
    network of layer kinds gets the per-layer module of ``numpy_graph_module.py.j2``.
    """
    if not network.dense_chain:
        graph = build_graph_context(network, spec=spec, dtype=dtype)
        return _compiled(_ruff_format(render(GRAPH_TEMPLATE, {"m": graph, **runtime_context()})))
    ctx = build_context(network, spec=spec, dtype=dtype)
    return _compiled(_ruff_format(render(TEMPLATE, {"m": ctx, **runtime_context()})))


def runtime_context() -> dict[str, object]:
    """What the runtime section prints: the same for every module of this symprop version
    (every numeric primitive, whether a module calls it or not), so that the section is
    byte-identical across modules."""
    return {
        "version": __version__,
        "runtime_helpers": tuple(HELPERS[name].source for name in sorted(HELPERS)),
    }


def write_module(
    network: Network, path: str | Path, *, spec: str, dtype: str | None = None
) -> Path:
    """Render and write the module to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    _write_atomic(path, render_module(network, spec=spec, dtype=dtype))
    return path


def regenerate(outdir: str | Path, examples: str | Path | None = None) -> list[Path]:
    """Write ``<outdir>/<name>.py`` for every network spec in ``examples/*.toml``.

    This is the one command behind the golden record ``generated/``.
    """
    written = []
    for spec_path in network_specs(examples):
        net = load_spec(spec_path)
        written.append(
            write_module(net, Path(outdir) / f"{net.name}.py", spec=f"examples/{spec_path.name}")
        )
    return written


def import_generated(path: str | Path, name: str | None = None) -> ModuleType:
    """Import a generated module from its file (it is standalone: no package needed)."""
    path = Path(path)
    name = name or f"symprop_generated_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - not a Python file
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
