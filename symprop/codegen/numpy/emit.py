"""Emit a standalone NumPy training module from a derivation.

The pipeline is: :func:`symprop.derive` → :func:`build_context` (a typed context of
strings, every formula printed by :class:`symprop.codegen.numpy.printer.ArrayPrinter`, every
docstring formula by :func:`symprop.printers.unicode.unicode`) → ``templates/numpy_module.py.j2``
(layout only) → ``ruff format`` when ruff is installed → a file written atomically.

Nothing here knows a particular activation or loss: functions come from the registry
definitions, φ' from the derivation's proven forms, δ^L from the derived output delta,
the cost from the loss term, the initialisation from a derived property of the activation
(He for rectifiers, i.e. φ(z)/z → 1 as z → ∞ but not as z → −∞; Glorot otherwise).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import sympy as sp

from symprop.codegen.numpy.printer import (
    HELPERS,
    ArrayPrinter,
    ScalarPrinter,
    guard_denominators,
    guard_logs,
    separate_sums,
    share_output,
    stabilise,
    tidy_signs,
)
from symprop.core.files import write_atomic as _write_atomic
from symprop.core.registry import ACTIVATIONS, LOSSES, a, a_vec, i_idx, j_idx, y_vec, z
from symprop.core.spec import Network, load_spec
from symprop.derivation.build import Derivation, derive
from symprop.printers.unicode import sentence, unicode

__all__ = [
    "ActivationCode",
    "LayerCode",
    "ModuleContext",
    "build_context",
    "import_generated",
    "regenerate",
    "render_module",
    "write_module",
]

TEMPLATE = "numpy_module.py.j2"


@dataclass(frozen=True)
class ActivationCode:
    """One activation function of the generated module."""

    name: str
    params: tuple[tuple[str, str], ...]  # (parameter name, default literal)
    body: str
    doc: str
    writes_out: bool = False  # the body is one NumPy ufunc call, so it takes ``out=``
    across_units: bool = False  # a vector activation: takes ``axis``, the units' axis


@dataclass(frozen=True)
class LayerCode:
    """Everything the template writes for layer ``index`` (1..L)."""

    index: int
    fan_in: int
    width: int
    activation: str
    call: str  # e.g. "relu(z1)", on a batch of rows
    step_call: str  # the same on the training step's batch of columns, e.g. "softmax(z3, axis=0)"
    call_into: str  # the statement writing a<l> into its buffer, e.g. "relu(z1, out=a1)"
    dphi: str | None  # printed φ'(z^l) in a<l>, z<l> (columns); None when φ' = 1
    dphi_doc: str
    delta_doc: str
    init: str  # helper name
    init_doc: str


@dataclass(frozen=True)
class ModuleContext:
    """The typed context of the template: strings and numbers, no SymPy objects."""

    name: str
    summary: str  # the docstring's first line; user text only through docstring_text
    header: str  # the docstring's first paragraph (title, spec, network), escaped and wrapped
    usage: str  # its last line, how to run the module
    version: str
    layer_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    l2: str
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
    target: str  # "class" (one-hot or integer labels), "unit" (in [0, 1]) or "real"
    assumptions: tuple[str, ...]
    literals: dict[str, str]  # Python literals of the tuples the module defines
    n_params: int

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.layers)


DOC_WIDTH = 88
"""The width of the generated module's docstring paragraphs."""

_DOC_ESCAPES: dict[str, str] = {"\\": "\\\\", '"': '\\"'}


class _Escapes(dict):
    """The ``str.translate`` table of :func:`docstring_text`, filled as characters occur."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        text = _DOC_ESCAPES.get(char, char if char.isprintable() else ascii(char)[1:-1])
        self[code] = text
        return text


_ESCAPES = _Escapes()
# A space stays literal only between two other characters: leading, trailing and repeated
# spaces become \x20, so that no docstring line starts or ends with the user's whitespace.
_LONE_SPACE = re.compile(r"^ | $| (?= )")
# A long escaped word is cut into pieces of at most 26 characters, or 8 characters and
# escape sequences (at most 80 columns), never inside an escape sequence.
_PIECE = re.compile(
    r"[^\\]{1,26}|(?:\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|.)|[^\\]){1,8}", re.S
)
_BEYOND_CYRILLIC = re.compile("[^\x00-\u04ff]")


def docstring_text(value: str) -> str:
    r"""``value`` as text of the generated module's docstring that reads back as exactly
    ``value``: backslashes and double quotes escaped (so no ``\"\"\"`` can close it), and
    every character that is not printable (NUL, line breaks of every kind, surrogates,
    spaces other than U+0020) as its escape. Every user string reaches generated code
    through this function. Linear time.

    Examples
    --------
    >>> print(docstring_text('say "hi"\n\\'))
    say \"hi\"\n\\
    """
    if value.isprintable() and "\\" not in value and '"' not in value:
        escaped = value
    else:
        escaped = value.translate(_ESCAPES)
    return _LONE_SPACE.sub(r"\\x20", escaped)


def _user_width(text: str) -> int:
    """An upper bound of the columns user ``text`` takes in an editor: one per character up
    to Cyrillic, three beyond (wide characters take two, U+2E3B three)."""
    return len(text) + 2 * (len(text) - len(_BEYOND_CYRILLIC.sub("", text)))


def _doc_paragraph(*parts: tuple[str, bool], width: int = DOC_WIDTH) -> str:
    """A docstring paragraph from ``(text, is_user)`` parts, wrapped to ``width`` columns.

    The module's own text is wrapped at its spaces. User text goes through
    :func:`docstring_text` and is wrapped without changing its value: at a space the line
    ends with `` \\`` (a line continuation), and a word too long for a line is cut between
    escape sequences, its lines ending with ``\\``. Linear time, whatever the text.
    """
    # Tokens [joint, break, text, width]: ``joint`` precedes ``text`` on the same line;
    # ``break`` ends the line before it when ``text`` starts a new one.
    tokens: list[list] = []

    def add(joint: str, brk: str, text: str, size: int) -> None:
        if not joint and tokens and tokens[-1][3] + size <= width - 2:
            tokens[-1][2] += text  # no space between them: keep them on one line
            tokens[-1][3] += size
        else:
            tokens.append([joint, brk, text, size])

    for text, is_user in parts:
        if not is_user:
            for k, word in enumerate(text.split(" ")):
                add(" " if k else "", "" if k else "\\", word, len(word))
            continue
        for k, word in enumerate(docstring_text(text).split(" ")):
            joint, brk = (" ", " \\") if k else ("", "\\")
            size = _user_width(word)
            if size <= width - 2:
                add(joint, brk, word, size)
                continue
            for p, piece in enumerate(_PIECE.findall(word)):
                add(joint if p == 0 else "", brk if p == 0 else "\\", piece, _user_width(piece))
    lines: list[str] = []
    line: list[str] = []
    used = 0
    for index, (joint, brk, text, size) in enumerate(tokens):
        # Room for the marker that ends the line if it breaks after this token.
        marker = len(tokens[index + 1][1]) if index + 1 < len(tokens) else 0
        if used and used + len(joint) + size + marker > width:
            line.append(brk)
            lines.append("".join(line))
            line, used = [text], size
        else:
            line += (joint, text)
            used += len(joint) + size
    lines.append("".join(line))
    return "\n".join(lines)


def _version() -> str:
    from symprop import __version__

    return __version__


def _literal(value: float) -> str:
    return repr(float(value))


@functools.cache
def _is_rectifier(name: str) -> bool:
    """He initialisation fits activations that pass large positive inputs through
    (φ(z)/z → 1 as z → ∞) but not large negative ones (a different limit as z → −∞)."""
    act = ACTIVATIONS[name]
    if not act.elementwise:
        return False
    phi = act.instantiate()

    def slope(direction: int) -> sp.Expr:
        expr = phi
        if isinstance(expr, sp.Piecewise):
            # The branch that holds far out in this direction (conditions are on z).
            far = direction * sp.Integer(10) ** 9
            expr = next(e for e, c in expr.args if c.subs(z, far) == sp.true)
        return sp.limit(expr / z, z, direction * sp.oo)

    try:
        up, down = slope(1), slope(-1)
    except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - SymPy gave up
        return False
    return bool(up == 1 and down != 1)


def _bind(expr: sp.Expr, activation: str, values: dict[str, float]) -> sp.Expr:
    act = ACTIVATIONS[activation]
    return expr.subs(
        {p.symbol: sp.nsimplify(values[p.name], rational=True) for p in act.parameters}
    )


def _equation(d: Derivation, step_id: str) -> str:
    step = d.step(step_id)
    return f"{unicode(step.lhs)} = {unicode(step.rhs)}"


def _activation_code(name: str, printer: ArrayPrinter) -> ActivationCode:
    act = ACTIVATIONS[name]
    printer.names = {"z": "z", **{p.name: p.name for p in act.parameters}}
    rows = printer.units_axis
    printer.units_axis = 1 if act.elementwise else "axis"
    try:
        body = printer.doprint(stabilise(act.definition))
    finally:
        printer.units_axis = rows
    doc = f"{act.unicode}(z) = {unicode(act.definition)}"
    doc += f": {act.description}." if act.description else "."
    params = tuple((p.name, _literal(p.default)) for p in act.parameters)
    writes_out = _is_ufunc_call(body)
    if writes_out:
        body = body[:-1] + ", out=out)"
    return ActivationCode(name, params, body, doc, writes_out, not act.elementwise)


def _is_ufunc_call(code: str) -> bool:
    """True when ``code`` is a single call ``np.<ufunc>(...)`` without keywords, which can
    then write into a buffer (``out=``) instead of allocating."""
    import numpy as np

    tree = ast.parse(code, mode="eval").body
    return (
        isinstance(tree, ast.Call)
        and not tree.keywords
        and isinstance(tree.func, ast.Attribute)
        and isinstance(tree.func.value, ast.Name)
        and tree.func.value.id == "np"
        and isinstance(getattr(np, tree.func.attr, None), np.ufunc)
    )


def _output_terms(d: Derivation) -> tuple[sp.Expr, sp.Expr]:
    """(φ_L stabilised, the per-sample loss term stabilised in z^L, in which φ_L appears in
    that same stable form), in the unit-level symbols a, z, y."""
    net = d.network
    out = net.layers[-1]
    loss = LOSSES[net.loss]
    act = ACTIVATIONS[out.activation]
    if act.elementwise:
        applied = _bind(act.definition, out.activation, out.param_values())
        stable_def = stabilise(applied)
        term = stabilise(loss.term.subs(a, applied))
    else:
        # Component i of a vector activation: the loss term of that component.
        stable_def = stabilise(act.definition)
        term = stabilise(loss.term.subs(a, act.definition))
    return stable_def, term


def _cost(d: Derivation, printer: ArrayPrinter, L: int) -> tuple[str, str]:
    """The per-sample loss summed over outputs, written in z^L where that is stabler."""
    stable_def, term = _output_terms(d)
    # What is left of the activation is the already computed a^L.
    term = guard_logs(term.xreplace({stable_def: a}))
    printer.names = {"a": f"a{L}", "z": f"z{L}", "y": "Y"}
    return printer.doprint(tidy_signs(term)), f"Σ_k {unicode(LOSSES[d.network.loss].term)}"


def _output_step(
    d: Derivation, printer: ArrayPrinter, L: int
) -> tuple[tuple[tuple[str, str], ...], str | None, str]:
    """The training step's output layer: what a^L and the cost share is computed once.

    Returns the shared assignments ``(name, code)``, the code of a^L when it is written
    through them (None: call the activation), and the cost's code.
    """
    activation, term = _output_terms(d)
    stable_def = activation
    # What is left of the activation itself is the a^L the step computes anyway.
    term = term.xreplace({stable_def: a})
    shared, activation, term = share_output(activation, term, str(L))
    term = guard_logs(term)
    printer.names = {"a": f"a{L}", "z": f"z{L}", "y": "Y"}
    assignments = tuple((str(sym), printer.doprint(expr)) for sym, expr in shared)
    a_code = printer.doprint(activation) if shared else None
    return assignments, a_code, _batch_sum(tidy_signs(term), printer)


def _batch_sum(term: sp.Expr, printer: ArrayPrinter) -> str:
    """Code for Σ over the batch and the units of ``term``: a product c·y·f is the dot
    product ``c * np.vdot(Y, f)`` (one pass, no temporaries), anything else ``np.sum``."""
    coeff, factors = term.as_coeff_mul()
    targets = [f for f in factors if printer.doprint(f) == "Y"]
    if len(targets) == 1:
        rest = sp.Mul(*[f for f in factors if f is not targets[0]])
        if not rest.has(targets[0]) and not rest.is_number:
            dot = f"np.vdot(Y, {printer.doprint(rest)})"
            if coeff == 1:
                return dot
            return f"-{dot}" if coeff == -1 else f"{printer.doprint(coeff)} * {dot}"
    return f"np.sum({printer.doprint(term)})"


def _output_delta_expr(d: Derivation) -> sp.Expr:
    """δ^L_j in the unit-level symbols, ready to print."""
    net = d.network
    out = net.layers[-1]
    od = d.output_delta
    factor = od.canonical_factor
    if factor is not None:
        # The derivation proved δ^L = c (a − y): print exactly that.
        diff = a_vec[j_idx] - y_vec[j_idx]
        return diff if factor == 1 else sp.Mul(factor, diff, evaluate=False)
    expr = separate_sums(_bind(od.expr, out.activation, out.param_values()), i_idx)
    expr = stabilise(expr)
    domain = LOSSES[net.loss].output_domain
    expr = guard_denominators(expr, a_vec[j_idx], domain)
    expr = guard_denominators(expr, a_vec[i_idx], domain)
    return tidy_signs(expr)


def _output_delta(d: Derivation, printer: ArrayPrinter, L: int) -> tuple[str, str]:
    printer.names = {"a": f"a{L}", "z": f"z{L}", "y": "Y"}
    return printer.doprint(_output_delta_expr(d)), _equation(d, f"summary.delta.{L}")


UNROLL_MAX_PARAMS = 128
"""Networks with at most this many parameters also get per-sample code on Python floats."""

UPDATE_PER_LAYER_PARAMS = 65_536
"""Networks with more parameters than this (their float32 vectors overflow a 256 KiB cache)
update each layer's block during backprop, while it is in cache, rather than all at once
after it: fewer trips through memory. Smaller ones update at once: fewer NumPy calls."""


def _unrolled(d: Derivation) -> tuple[tuple[str, ...], frozenset[str]]:
    """The body of ``_sample_gradient``: one sample's forward and backward pass unrolled
    over the units, on Python floats; and the scalar helpers it calls.

    Empty for networks over :data:`UNROLL_MAX_PARAMS` parameters and for formulas with no
    float form (a row-wise softmax, a sum over a layer's units).
    """
    net = d.network
    widths, L = net.widths, net.depth
    if net.n_params > UNROLL_MAX_PARAMS:
        return (), frozenset()
    printer = ScalarPrinter()
    try:
        lines = []
        start = 0
        for l in range(1, L + 1):
            for j in range(widths[l]):
                row = [f"w{l}_{j}_{k}" for k in range(widths[l - 1])] + [f"b{l}_{j}"]
                lines.append(f"{', '.join(row)} = theta[{start}:{start + len(row)}]")
                start += len(row)
        lines.append(f"[{', '.join(f'a0_{k}' for k in range(widths[0]))}] = x")
        lines.append(f"[{', '.join(f'y_{j}' for j in range(widths[L]))}] = y")
        for lf, layer in zip(d.layers, net.layers, strict=True):
            l = lf.index
            phi = stabilise(
                _bind(
                    ACTIVATIONS[layer.activation].definition, layer.activation, layer.param_values()
                )
            )
            for j in range(widths[l]):
                terms = [f"w{l}_{j}_{k} * a{l - 1}_{k}" for k in range(widths[l - 1])]
                lines.append(f"z{l}_{j} = {' + '.join(terms)} + b{l}_{j}")
                printer.names = {"z": f"z{l}_{j}"}
                lines.append(f"a{l}_{j} = {printer.doprint(phi)}")
        stable_def, term = _output_terms(d)
        term = tidy_signs(guard_logs(term.xreplace({stable_def: a})))
        delta = _output_delta_expr(d)
        costs, deltas = [], []
        for j in range(widths[L]):
            printer.names = {"a": f"a{L}_{j}", "z": f"z{L}_{j}", "y": f"y_{j}"}
            costs.append(f"({printer.doprint(term)})")
            deltas.append(f"delta{L}_{j} = {printer.doprint(delta)}")
        lines.append(f"cost = {' + '.join(costs)}")
        lines += deltas
        for lf in reversed(d.layers[:-1]):
            l = lf.index
            form = None if lf.dphi_form == 1 else tidy_signs(stabilise(lf.dphi_form))
            for j in range(widths[l]):
                back = " + ".join(
                    f"w{l + 1}_{k}_{j} * delta{l + 1}_{k}" for k in range(widths[l + 1])
                )
                if form is None:
                    lines.append(f"delta{l}_{j} = {back}")
                else:
                    printer.names = {"a": f"a{l}_{j}", "z": f"z{l}_{j}"}
                    lines.append(f"delta{l}_{j} = ({back}) * ({printer.doprint(form)})")
    except NotImplementedError:
        return (), frozenset()
    grads = [
        g
        for l in range(1, L + 1)
        for j in range(widths[l])
        for g in [f"delta{l}_{j} * a{l - 1}_{k}" for k in range(widths[l - 1])] + [f"delta{l}_{j}"]
    ]
    lines.append(f"return cost, [{', '.join(grads)}]")
    return tuple(lines), frozenset(printer.helpers_used)


def build_context(network: Network, *, spec: str, dtype: str | None = None) -> ModuleContext:
    """Derive ``network`` and print everything the template needs.

    Parameters
    ----------
    network
        The validated spec.
    spec
        How the header names the spec (e.g. ``"examples/digits.toml"``); no timestamps.
    dtype
        ``"float64"`` or ``"float32"``; defaults to the spec's ``training.dtype``.
    """
    dtype = dtype or network.training.dtype
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype: got {dtype!r}; known: float64, float32")
    d = derive(network)
    printer = ArrayPrinter()  # the public functions: a batch of rows
    step_printer = ArrayPrinter(units_axis=0)  # the training step: a batch of columns
    widths = network.widths
    L = network.depth

    layers = []
    for lf, layer in zip(d.layers, network.layers, strict=True):
        l = lf.index
        act = ACTIVATIONS[layer.activation]
        args = [f"z{l}"] + [f"{k}={_literal(v)}" for k, v in layer.param_values().items()]
        call = f"{layer.activation}({', '.join(args)})"
        step_call = call if act.elementwise else f"{layer.activation}({', '.join(args)}, axis=0)"
        if _activation_code(layer.activation, ArrayPrinter()).writes_out:
            call_into = f"{layer.activation}({', '.join(args)}, out=a{l})"
        else:
            call_into = f"a{l}[...] = {call}"
        dphi = None
        dphi_doc = ""
        if act.elementwise:
            form = lf.dphi_form
            dphi_doc = f"φ'(z) = {unicode(lf.dphi.form)}"
            if form != 1:
                step_printer.names = {"a": f"a{l}", "z": f"z{l}"}
                dphi = step_printer.doprint(tidy_signs(stabilise(form)))
        rect = _is_rectifier(layer.activation)
        layers.append(
            LayerCode(
                index=l,
                fan_in=widths[l - 1],
                width=widths[l],
                activation=layer.activation,
                call=call,
                step_call=step_call,
                call_into=call_into,
                dphi=dphi,
                dphi_doc=dphi_doc,
                delta_doc=_equation(d, f"summary.delta.{l}"),
                init="_he_normal" if rect else "_glorot_uniform",
                init_doc=(
                    f"He: {layer.activation} is a rectifier, W{l} ~ N(0, 2/{widths[l - 1]})"
                    if rect
                    else f"Glorot: W{l} ~ U(−r, r), r = sqrt(6/({widths[l - 1]} + {widths[l]}))"
                ),
            )
        )
    output_delta, output_delta_doc = _output_delta(d, step_printer, L)
    cost, cost_doc = _cost(d, printer, L)
    step_shared, step_activation, step_cost = _output_step(d, step_printer, L)

    # Functions of the module: every activation of a layer, and any that a printed
    # formula calls (softplus' = σ(z) calls sigmoid).
    printer.activations_used |= step_printer.activations_used
    used = [layer.activation for layer in network.layers]
    used += sorted(printer.activations_used - set(used))
    functions = []
    for name in dict.fromkeys(used):
        functions.append(_activation_code(name, printer))
    for name in sorted(printer.activations_used - set(used)):  # pragma: no cover - nested
        functions.append(_activation_code(name, printer))
    unrolled, scalar_helpers = _unrolled(d) if dtype == "float64" else ((), frozenset())
    helpers_used = (
        printer.helpers_used
        | step_printer.helpers_used
        | {layer.init for layer in layers}
        | scalar_helpers
    )
    helpers = tuple(HELPERS[h].source for h in sorted(helpers_used))

    loss = LOSSES[network.loss]
    if loss.target_is_distribution:
        target = "class"
    elif loss.output_domain != sp.S.Reals:
        target = "unit"
    else:
        target = "real"
    tr = network.training
    training = (
        ("epochs", repr(tr.epochs)),
        ("learning_rate", repr(float(tr.learning_rate))),
        ("batch_size", repr(tr.batch_size)),
        ("optimizer", repr(tr.optimizer)),
        ("momentum", repr(float(tr.momentum))),
        ("seed", repr(tr.seed)),
    )
    version = _version()
    summary = _doc_paragraph(
        ("NumPy training module ``", False),
        (network.name, True),
        (f"``, generated by symprop {version}.", False),
    )
    regularised = " (biases regularised too)" if network.regularize_biases else ""
    header = _doc_paragraph(
        (network.title or network.name, True),
        (". Generated from ``", False),
        (spec, True),
        (
            "`` by ``symprop generate``; regenerate rather than edit. NumPy is its only "
            f"dependency. Network {'-'.join(map(str, widths))} "
            f"({', '.join(layer.activation for layer in network.layers)}), "
            f"loss {network.loss}, λ = {_literal(network.l2)}{regularised}.",
            False,
        ),
    )
    usage = _doc_paragraph(
        ("Run ``python ", False),
        (network.name, True),
        (".py --data FILE`` to train from the command line (``--help``).", False),
    )
    return ModuleContext(
        name=network.name,
        summary=summary,
        header=header,
        usage=usage,
        version=version,
        layer_sizes=widths,
        activations=tuple(layer.activation for layer in network.layers),
        loss=network.loss,
        l2=_literal(network.l2),
        regularize_biases=network.regularize_biases,
        dtype=dtype,
        training=training,
        helpers=helpers,
        activation_functions=tuple(functions),
        layers=tuple(layers),
        output_delta=output_delta,
        output_delta_doc=output_delta_doc,
        canonical=d.canonical,
        cost=cost,
        cost_doc=cost_doc,
        step_shared=step_shared,
        step_activation=step_activation,
        step_cost=step_cost,
        unrolled=unrolled,
        imports_math=any("math." in code for code in (*unrolled, *helpers)),
        update_per_layer=network.n_params > UPDATE_PER_LAYER_PARAMS,
        target=target,
        assumptions=tuple(sentence(reason) for reason in d.assumptions),
        literals={
            "layer_sizes": repr(tuple(widths)),
            "activations": repr(tuple(layer.activation for layer in network.layers)),
            "weights": repr(tuple(f"W{l}" for l in range(1, L + 1))),
            "biases": repr(tuple(f"b{l}" for l in range(1, L + 1))),
            "param_keys": repr(tuple(f"{p}{l}" for l in range(1, L + 1) for p in "Wb")),
            "loss": repr(network.loss),
            "target": repr(target),
        },
        n_params=network.n_params,
    )


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


def render_module(network: Network, *, spec: str, dtype: str | None = None) -> str:
    """The generated module's source for ``network``."""
    from symprop.core.templating import render

    ctx = build_context(network, spec=spec, dtype=dtype)
    return _ruff_format(render(TEMPLATE, {"m": ctx}))


def write_module(
    network: Network, path: str | Path, *, spec: str, dtype: str | None = None
) -> Path:
    """Render and write the module to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    _write_atomic(path, render_module(network, spec=spec, dtype=dtype))
    return path


def _is_network_spec(path: Path) -> bool:
    """True for a TOML file describing a network (it has ``layers``), not e.g. explain.toml."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return "layers" in data and "inputs" in data


def example_specs(examples: str | Path | None = None) -> list[Path]:
    """The network specs among ``examples/*.toml``, sorted by name."""
    root = Path(examples) if examples else Path(__file__).resolve().parents[3] / "examples"
    return [p for p in sorted(root.glob("*.toml")) if _is_network_spec(p)]


def regenerate(outdir: str | Path, examples: str | Path | None = None) -> list[Path]:
    """Write ``<outdir>/<name>.py`` for every network spec in ``examples/*.toml``.

    This is the one command behind the golden record ``generated/``.
    """
    written = []
    for spec_path in example_specs(examples):
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
