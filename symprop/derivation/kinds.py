"""A layer kind's derivation as typed steps: definitions, chain rule, each proven rewrite.

:func:`kind_steps` writes out what :func:`symprop.core.layer_calculus.derive_layer` derived
for one kind, nothing typed per kind:

* the kind's intermediates (μ, σ², σ, x̂) and its forward definition, as definitions
  (``:=``), and the forward matrix form where the kind has one;
* the upstream gradient ``g := ∂C/∂y``, the gradient the network passes into the kind;
* for each input (the local gradient passed back) and each parameter, one equation chain:
  the chain rule over every output entry, the chain rule carried through the intermediates
  (``Gradient.index_form``), then each accepted rewrite (``Gradient.steps``), each
  justified by its rule and the identities it substituted (Σ_r x_rj = m μ_j, x_ij = μ_j +
  σ_j x̂_ij), down to the compact form; and the matrix form where it exists.

Every link after the first is one of the proven forms of :mod:`symprop.core.layer_calculus`;
the first (Σ g ∂y/∂T) is the chain rule itself. Arrays are written as
:class:`~symprop.derivation.kind_arrays.KindArray` stand-ins and sizes as widths and the
mini-batch size (conventions in :mod:`symprop.derivation.kind_arrays`), so the printers
write them in the document's notation. :func:`kind_expression` turns a printed form back
into the kind's own SymPy arrays (for tests and checks).
"""

from __future__ import annotations

import functools
import re

import sympy as sp

from symprop.core import symbols as g
from symprop.core.layer_calculus import Gradient, LayerRules, derive_layer
from symprop.core.layer_calculus import Step as RuleStep
from symprop.core.layers import UPSTREAM, Intermediate, LayerKind, Operand, get_layer_kind
from symprop.core.why import Relation, Why, why
from symprop.derivation.kind_arrays import KindArray, KindMatrix
from symprop.derivation.steps import MatrixPartial, ScalarPartial, Step

__all__ = ["kind_expression", "kind_steps", "plain_words", "prose", "shown_sizes"]

SECTION = "kinds"
_C = g.scalar("C")


def shown_sizes(kind: LayerKind) -> dict[sp.Symbol, sp.Symbol]:
    """How the kind's size symbols are written: the first axis of a batch-coupled kind's
    input is the mini-batch size; a size of the output the layer's width ``n_l``; a size of
    the inputs only the width of the layer below ``n_{l-1}``."""
    out: dict[sp.Symbol, sp.Symbol] = {}
    if kind.batch_coupled and kind.inputs and kind.inputs[0].shape:
        out[kind.inputs[0].shape[0]] = g.n_batch
    for s in kind.output.shape:
        out.setdefault(s, g.width(g.l_sym))
    for op in kind.inputs:
        for s in op.shape:
            out.setdefault(s, g.width(g.l_sym - 1))
    return out


def _operands(kind: LayerKind) -> tuple[Operand, ...]:
    """Every array of the kind, and its upstream gradient."""
    return (*kind.operands(), Operand(UPSTREAM, kind.output.shape))


def _shown(expr: sp.Basic, kind: LayerKind) -> sp.Basic:
    """``expr`` in display stand-ins: arrays carry the kind, sizes are widths or the batch."""
    mapping: dict[sp.Basic, sp.Basic] = {}
    for op in _operands(kind):
        stand_in = KindArray(kind.name, op.name)
        mapping[op.base if op.shape else op.scalar] = stand_in
    mapping.update(shown_sizes(kind))
    return sp.sympify(expr).xreplace(mapping)


def _shown_matrix(expr: sp.Basic, kind: LayerKind) -> sp.Basic:
    """A matrix form in display stand-ins (each operand's matrix symbol carries the kind)."""
    sizes = shown_sizes(kind)
    mapping: dict[sp.Basic, sp.Basic] = {}
    for m in expr.atoms(sp.MatrixSymbol):
        rows, cols = (sp.sympify(d).xreplace(sizes) for d in m.shape)
        mapping[m] = KindMatrix(kind.name, m.name, rows, cols)
    # An array without axes (a per-sample scalar such as ρ) is a scalar factor of the form.
    mapping.update(
        {op.scalar: KindArray(kind.name, op.name) for op in kind.operands() if not op.shape}
    )
    return expr.xreplace(mapping)


def _matrix_of(op: Operand, kind: LayerKind) -> KindMatrix:
    """The stand-in of a whole array (a vector is one column)."""
    sizes = shown_sizes(kind)
    rows = op.shape[0].xreplace(sizes) if op.shape else sp.Integer(1)
    cols = op.shape[1].xreplace(sizes) if len(op.shape) > 1 else sp.Integer(1)
    return KindMatrix(kind.name, op.name, rows, cols)


def kind_expression(expr: sp.Basic, kind: LayerKind | str) -> sp.Basic:
    """The inverse of the display stand-ins: ``expr`` in the kind's own SymPy arrays and
    sizes (for evaluating a printed form against the kind's definition)."""
    if isinstance(kind, str):
        kind = get_layer_kind(kind)
    mapping: dict[sp.Basic, sp.Basic] = {}
    for op in _operands(kind):
        mapping[KindArray(kind.name, op.name)] = op.base if op.shape else op.scalar
    mapping.update({shown: own for own, shown in shown_sizes(kind).items()})
    return sp.sympify(expr).xreplace(mapping)


# --- justifications ----------------------------------------------------------------------


def _intermediate_of(identity: sp.Eq, kind: LayerKind) -> Intermediate | None:
    """The intermediate whose definition an identity restates (the last one it names)."""
    lhs_atoms = identity.lhs.atoms(sp.Indexed, sp.Symbol)
    found = None
    for v in kind.intermediates:
        named = v.operand.base if v.operand.shape else v.operand.scalar
        in_rhs = identity.rhs.has(named)
        bases = {e.base for e in lhs_atoms if isinstance(e, sp.Indexed)}
        in_def = any(v.definition.has(b) for b in bases) or any(
            v.definition.has(s) for s in lhs_atoms if isinstance(s, sp.Symbol)
        )
        if in_rhs and in_def:
            found = v
    return found


def _names(vs: list[Intermediate], kind: LayerKind) -> list[sp.Basic | str]:
    """``μ``, ``μ and σ``, ``μ, σ and x̂`` as segments."""
    out: list[sp.Basic | str] = []
    for n, v in enumerate(vs):
        if n:
            out.append(" and " if n == len(vs) - 1 else ", ")
        out.append(KindArray(kind.name, v.operand.name))
    return out


def _identities(ids: tuple[sp.Eq, ...], kind: LayerKind) -> list[sp.Basic | str]:
    out: list[sp.Basic | str] = []
    for n, eq in enumerate(ids):
        if n:
            out.append(" and " if n == len(ids) - 1 else ", ")
        out.append(Relation(_shown(eq.lhs, kind), _shown(eq.rhs, kind)))
    return out


def _delta_identity() -> Relation:
    """Σ_r [r = q] f(r) = f(q): how a sum over a Kronecker delta is resolved."""
    r, q, n = sp.Symbol("r"), sp.Symbol("q"), sp.Symbol("N", integer=True, positive=True)
    f = sp.Function("f")
    return Relation(sp.Sum(sp.KroneckerDelta(r, q) * f(r), (r, 1, n)), f(q))


def _common_factor(expr: sp.Basic) -> sp.Basic | None:
    """The factor a collected product takes out (everything but its sums)."""
    if not isinstance(expr, sp.Mul):
        return None
    outside = [f for f in expr.args if not isinstance(f, sp.Add)]
    return sp.Mul(*outside) if len(outside) < len(expr.args) and outside else None


def _rule_why(step: RuleStep, previous: sp.Basic, kind: LayerKind) -> Why:
    """The justification of one accepted rewrite, from its rule and its identities."""
    if step.rule == "sum algebra":
        if previous.has(sp.KroneckerDelta):
            return why("distributing the sums and resolving each delta, ", _delta_identity())
        return why("distributing the sums and taking out the factors free of each index")
    if step.rule == "fold sums" and step.identities:
        found = [_intermediate_of(eq, kind) for eq in step.identities]
        named = [v for v in found if v is not None]
        head = why("by the definition of ", *_names(named, kind), ", ") if named else why("by ")
        return why(head, *_identities(step.identities, kind))
    if step.rule == "eliminate" and step.identities:
        found = [_intermediate_of(eq, kind) for eq in step.identities]
        named = [v for v in found if v is not None]
        tail = why(" (the definition of ", *_names(named, kind), " solved)") if named else why()
        return why("substituting ", *_identities(step.identities, kind), tail)
    if step.rule == "collect":
        factor = _common_factor(step.expr)
        if factor is not None:
            return why("taking out the common factor ", _shown(factor, kind))
        return why("taking out the common factor")
    # A rule added at run time: its own reason, as text.
    return why(step.reason)


def _chain_why(kind: LayerKind) -> Why:
    """Why the index form follows: differentiating the definition through its intermediates."""
    if not kind.intermediates:
        return why("differentiating the definition")
    return why(
        "differentiating the definition through ",
        *_names(list(kind.intermediates), kind),
        " (chain rule)",
    )


def plain_words(description: str) -> str:
    """A description without a trailing formula in plain text (``sqrt(var + eps)``): the
    step shows the formula itself."""
    return re.sub(r"\s+[A-Za-z_]+\([^()]*\)$", "", description)


def prose(description: str) -> str:
    """A kind's description without its plain-text formulas (``y = mask ⊙ x / (1 − p)``):
    the clauses, each cut before the name its formula defines (the steps show the formulas,
    printed in the document's notation)."""
    out = []
    for clause in re.split(r"\s*[;:]\s*", description):
        found = re.search(r"\s*\S+\s*=", clause)
        text = (clause[: found.start()] if found else clause).strip()
        if text and text.isascii():
            out.append(text)
    return "; ".join(out)


# --- the steps ---------------------------------------------------------------------------


def _definitions(kind: LayerKind, rules: LayerRules) -> list[Step]:
    base = f"kind.{kind.name}"
    out = []
    for v in kind.intermediates:
        op = v.operand
        out.append(
            Step(
                f"{base}.{op.name}",
                SECTION,
                _shown(op(*v.indices), kind),
                ((_shown(v.definition, kind), why(f"definition: {plain_words(op.description)}")),),
                form="index",
                relation=":=",
            )
        )
    out.append(
        Step(
            f"{base}.forward",
            SECTION,
            _shown(kind.output(*kind.output_indices), kind),
            ((_shown(kind.forward, kind), why(f"definition: {prose(kind.description)}")),),
            form="index",
            relation=":=",
        )
    )
    if rules.forward_matrix is not None:
        out.append(
            Step(
                f"{base}.forward.matrix",
                SECTION,
                _matrix_of(kind.output, kind),
                (
                    (
                        _shown_matrix(rules.forward_matrix, kind),
                        why("the same, for the whole array"),
                    ),
                ),
                form="matrix",
            )
        )
    upstream = rules.upstream
    out.append(
        Step(
            f"{base}.upstream",
            SECTION,
            _shown(upstream(*kind.output_indices), kind),
            (
                (
                    ScalarPartial(_C, _shown(kind.output(*kind.output_indices), kind)),
                    why("the gradient passed down into the layer"),
                ),
            ),
            form="index",
            relation=":=",
        )
    )
    return out


def _outer_chain(kind: LayerKind, rules: LayerRules, target: sp.Basic) -> sp.Basic:
    """Σ over the output entries of g · ∂y/∂T: the chain rule before any derivative."""
    out_entry = kind.output(*kind.output_indices)
    body = rules.upstream(*kind.output_indices) * ScalarPartial(out_entry, target)
    for ix, s in zip(kind.output_indices, kind.output.shape, strict=True):
        body = sp.Sum(body, (ix, 1, s))
    return body


def _gradient_steps(kind: LayerKind, rules: LayerRules, grad: Gradient) -> list[Step]:
    base = f"kind.{kind.name}.grad_{grad.target}"
    op = next(o for o in _operands(kind) if o.name == grad.target)
    target = op(*grad.indices)
    chain: list[tuple[sp.Basic, Why]] = [
        (
            _shown(_outer_chain(kind, rules, target), kind),
            why("the chain rule: every entry of ", _matrix_of(kind.output, kind), " may depend on ")
            + why(_shown(target, kind)),
        ),
        (_shown(grad.index_form, kind), _chain_why(kind)),
    ]
    previous = grad.index_form
    for st in grad.steps[1:]:
        chain.append((_shown(st.expr, kind), _rule_why(st, previous, kind)))
        previous = st.expr
    lhs = ScalarPartial(_C, _shown(target, kind))
    out = [Step(base, SECTION, lhs, tuple(chain), form="index")]
    if grad.matrix is not None:
        out.append(
            Step(
                f"{base}.matrix",
                SECTION,
                MatrixPartial(_C, _matrix_of(op, kind)),
                (
                    (
                        _shown_matrix(grad.matrix, kind),
                        why("in matrix form: entry by entry, the last line above"),
                    ),
                ),
                form="matrix",
            )
        )
    return out


@functools.cache
def _steps(kind: LayerKind) -> tuple[Step, ...]:
    rules = derive_layer(kind)
    out = _definitions(kind, rules)
    for grad in (*rules.inputs, *rules.parameters):
        out += _gradient_steps(kind, rules, grad)
    return tuple(out)


def kind_steps(kind: str) -> tuple[Step, ...]:
    """The derivation of a layer kind, step by step (section ``kinds``, no layer).

    Parameters
    ----------
    kind
        A registered layer kind's name.

    Returns
    -------
    tuple of Step
        Ids ``kind.{name}.{intermediate}`` and ``kind.{name}.forward`` (definitions),
        ``kind.{name}.forward.matrix`` (where a matrix form exists),
        ``kind.{name}.upstream`` (g := ∂C/∂y), and per input and parameter ``T``
        ``kind.{name}.grad_{T}`` (chain rule down to the compact form) and
        ``kind.{name}.grad_{T}.matrix`` (where a matrix form exists).
    """
    return _steps(get_layer_kind(kind))
