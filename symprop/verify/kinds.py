"""Checking claims about one layer kind's gradients, written as the documents print them.

A claim such as ``\\frac{\\partial C}{\\partial \\gamma_j} = \\sum_i \\delta_{ij} \\hat{x}_{ij}``
is about one kind of the registry (:mod:`symprop.core.layers`): its names are the kind's
display names (its ``display`` table for the profile: γ, β, x̂, μ, σ, the mask ``m``), the
upstream gradient ∂C/∂y is ``δ`` (as the documents write it) or ``g``, a bare name is a size
(``m``, ``n``) or a hyper-parameter (``p``, ``ε``), and subscripts are the entry's indices in
the kind's axis order (sample first for a batch-coupled kind). Nothing is read from the
derivation: both sides are instantiated at concrete sizes, and the reference is brute force,
``sympy.diff`` of ``Σ_out g_out y_out`` with the forward definition written out entry by
entry (no intermediates, no index calculus), at exact random points. The kind's derived
compact form (:func:`~symprop.core.layer_calculus.derive_layer`) is shown as the correct
right-hand side of a wrong claim, only after it passed the same check.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symprop.core.errors import shown
from symprop.core.layer_calculus import derive_layer
from symprop.core.layer_proof import concrete_intermediates, entries, size_key, written_out
from symprop.core.layers import (
    PROFILE_NAMES,
    UPSTREAM,
    LayerKind,
    Operand,
    get_layer_kind,
    index,
)
from symprop.derivation.kinds import shown_sizes
from symprop.parsing import (
    BinOp,
    Call,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Name,
    Neg,
    Number,
    parse,
)
from symprop.printers.latex import latex
from symprop.verify.errors import VerifyError
from symprop.verify.report import Counterexample, Verdict

__all__ = ["KindClaim", "parse_kind_claim", "verify_kind_claim", "verify_kind_claims"]

UPSTREAM_NAMES = ("delta", "g")
"""How a claim may write the upstream gradient ∂C/∂y (the documents write δ)."""

HYPER_ALIASES = {"epsilon": "eps", "varepsilon": "eps"}
"""Names a claim may use for a hyper-parameter besides its own (ε for ``eps``)."""

_TOLERANCE = sp.Float("1e-25", 50)


@dataclass(frozen=True)
class KindClaim:
    """A parsed claim about one kind: the target array, its free indices, the right side.

    ``rhs`` is in index form over the kind's ``IndexedBase`` objects and the upstream ``g``,
    with sums over concrete-size-ready limits (sizes still symbolic).
    """

    kind: LayerKind
    target: Operand
    indices: tuple[sp.Symbol, ...]
    rhs: sp.Expr
    lhs_text: str
    rhs_text: str
    conflict: str = ""
    ambiguous: str = ""


def _key(name: Name) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return (name.base, name.decorations, name.sup)


@functools.cache
def _display_keys(kind: LayerKind, profile: str) -> dict[tuple, Operand]:
    """Each array of ``kind`` by the key of its display name (parsed as a claim would be)."""
    table = kind.displays(profile)
    out: dict[tuple, Operand] = {}
    unwritable = []
    for op in kind.operands():
        if _written_display(kind, profile, op) is None:
            unwritable.append(op)
        else:
            out[_key(parse(table[op.name].latex))] = op
    for op in unwritable:  # a display the claim grammar cannot write (F(x)): its own name
        out.setdefault((op.name, (), ()), op)
    return out


@functools.cache
def _written_display(kind: LayerKind, profile: str, op: Operand) -> str | None:
    """The display of ``op`` if a claim can write it as a name, else None (``F(x)``)."""
    try:
        node = parse(kind.displays(profile)[op.name].latex)
    except Exception:  # the claim grammar cannot read it
        return None
    return kind.displays(profile)[op.name].unicode if isinstance(node, Name) else None


def _gradient_names(kind: LayerKind, profile: str) -> str:
    """The arrays with a gradient, as the documents show them (how to write one that a
    claim cannot write as shown: ``F(x) (written f)``)."""
    shown_names = []
    for op in (*kind.inputs, *(p.operand for p in kind.parameters)):
        written = _written_display(kind, profile, op)
        unicode = kind.displays(profile)[op.name].unicode
        shown_names.append(written if written is not None else f"{unicode} (written {op.name})")
    return ", ".join(shown_names)


def _size_key(node: Name) -> tuple:
    return (node.base, node.decorations, node.sup, node.sub)


@functools.cache
def _size_names(kind: LayerKind, profile: str) -> tuple[dict, dict]:
    """The kind's sizes by how a claim may write them: as the documents print them in
    ``profile`` (batch norm's batch size ``n`` in nielsen, a width ``n_{l}``), and by the
    kind's own names where the documents give the name no other meaning. Returns the
    readings and, for a name the documents and the kind read differently, the kind's reading.
    """
    sizes: dict[tuple, sp.Symbol] = {}
    printed: dict[sp.Symbol, str] = {}
    for own, doc in shown_sizes(kind).items():
        printed[own] = latex(doc, profile)
        sizes.setdefault(_size_key(parse(printed[own])), own)
    other: dict[tuple, tuple[sp.Symbol, str]] = {}
    for own in kind.sizes():
        key = (str(own), (), (), ())
        if key not in sizes:
            sizes[key] = own
        elif sizes[key] != own:
            other[key] = (own, printed.get(own, str(own)))
    return sizes, other


def _upstream(kind: LayerKind) -> Operand:
    return Operand(UPSTREAM, kind.output.shape, "upstream gradient ∂C/∂y")


class _Builder:
    """Turns the claim's AST into SymPy over the kind's arrays."""

    def __init__(
        self,
        kind: LayerKind,
        profile: str,
        free: Mapping[str, sp.Symbol],
        own_reading: bool = False,
    ) -> None:
        self.kind = kind
        self.arrays = dict(_display_keys(kind, profile))
        upstream = _upstream(kind)
        for name in UPSTREAM_NAMES:
            self.arrays.setdefault((name, (), ()), upstream)
        self.sizes, self.other = _size_names(kind, profile)
        if own_reading:
            self.sizes = self.sizes | {key: own for key, (own, _) in self.other.items()}
        self.ambiguous: set[tuple] = set()
        self.hyper = {h.name: h.symbol for h in kind.hyper_parameters}
        self.hyper |= {str(h.symbol): h.symbol for h in kind.hyper_parameters}
        for alias, name in HYPER_ALIASES.items():
            if name in self.hyper:
                self.hyper.setdefault(alias, self.hyper[name])
        self.indices = dict(free)
        self.ranges: dict[sp.Symbol, sp.Symbol] = {}
        self.conflict = ""

    def array(self, node: Name) -> Operand | None:
        return self.arrays.get(_key(node))

    def build(self, node: Expr) -> sp.Expr:  # noqa: PLR0911 - one case per AST node
        if isinstance(node, Number):
            return sp.Rational(node.value.numerator, node.value.denominator)
        if isinstance(node, Neg):
            return -self.build(node.operand)
        if isinstance(node, BinOp):
            left, right = self.build(node.left), self.build(node.right)
            ops = {
                "add": lambda: left + right,
                "sub": lambda: left - right,
                "mul": lambda: left * right,
                "hadamard": lambda: left * right,
                "div": lambda: left / right,
                "pow": lambda: left**right,
            }
            if node.op not in ops:
                raise VerifyError(f"the operation {node.op} is not one a kind's claim uses")
            return ops[node.op]()
        if isinstance(node, IndexSum):
            var = index(node.index)
            outer = self.indices.get(node.index)
            self.indices[node.index] = var
            body = self.build(node.body)
            if outer is None:
                del self.indices[node.index]
            else:
                self.indices[node.index] = outer
            size = self.ranges.get(var)
            if size is None:
                raise VerifyError(
                    f"the sum over {node.index} has no array indexed by {node.index} to give "
                    "its range"
                )
            return sp.Sum(body, (var, 1, size))
        if isinstance(node, Call) and node.func.base == "sqrt" and len(node.args) == 1:
            return sp.sqrt(self.build(node.args[0]))
        if isinstance(node, Name):
            return self.name(node)
        raise VerifyError(f"{type(node).__name__} is not part of a claim about a layer kind")

    def name(self, node: Name) -> sp.Expr:
        op = self.array(node)
        if op is None and _size_key(node) in self.sizes:
            if _size_key(node) in self.other:
                self.ambiguous.add(_size_key(node))
            return self.sizes[_size_key(node)]
        if node.sub:
            if op is None:
                raise VerifyError(f"{_text(node)} names no array of the {self.kind.name} kind")
            subs = [s for part in node.sub for s in _letters(part)]
            if len(subs) != len(op.shape):
                raise VerifyError(
                    f"{_text(node)}: {op.name} has {len(op.shape)} indices, got {len(subs)}"
                )
            symbols = []
            for letter, axis in zip(subs, op.shape, strict=True):
                if letter not in self.indices:
                    raise VerifyError(
                        f"the index {letter} of {_text(node)} is neither free nor summed"
                    )
                symbol = self.indices[letter]
                self.ranges.setdefault(symbol, axis)
                if self.ranges[symbol] != axis and not self.conflict:
                    # Not unreadable, but false: the two sides have different shapes.
                    self.conflict = (
                        f"the index {letter} runs over {self.ranges[symbol]} and over {axis}, "
                        "which differ"
                    )
                symbols.append(symbol)
            return op(*symbols)
        if op is not None and not op.shape:
            return op()
        if node.base in self.hyper and not node.decorations:
            return self.hyper[node.base]
        raise VerifyError(f"{_text(node)} names nothing of the {self.kind.name} kind")


def _letters(part: str) -> list[str]:
    """``ij`` as two indices, ``i`` as one (the documents write δ_{ij})."""
    return list(part) if part.isalpha() else [part]


def _text(node: Name) -> str:
    deco = "".join(f"{d} " for d in node.decorations)
    sub = f"_{{{','.join(node.sub)}}}" if node.sub else ""
    return f"{deco}{node.base}{sub}"


def parse_kind_claim(
    text: str, kind: LayerKind | str, profile: str = "nielsen", own_reading: bool = False
) -> KindClaim:
    """Parse ``∂C/∂T_{indices} = …`` about ``kind`` (see the module docstring).

    Raises
    ------
    VerifyError
        One line naming what cannot be read.
    """
    kind = get_layer_kind(kind) if isinstance(kind, str) else kind
    if profile not in PROFILE_NAMES:
        raise VerifyError(f"notation: got {shown(profile)}; known: {', '.join(PROFILE_NAMES)}")
    try:
        equation = parse(text)
    except Exception as exc:  # the parser's own one-line message
        raise VerifyError(str(exc).splitlines()[0]) from None
    if not isinstance(equation, Equation):
        raise VerifyError("a claim is an equation: ∂C/∂T = …")
    lhs = equation.lhs
    if not (
        isinstance(lhs, Derivative)
        and isinstance(lhs.num, Name)
        and lhs.num.base in ("C", "J")
        and isinstance(lhs.den, Name)
    ):
        raise VerifyError("the left side of a claim about a layer kind is ∂C/∂T, T an array")
    if lhs.num.base != "C":
        raise VerifyError(
            f"∂{lhs.num.base}/∂…: a claim about a layer kind is about C, the batch's summed "
            "cost (write ∂C/∂…), not a network's averaged or regularised cost"
        )
    probe = _Builder(kind, profile, {})
    target = probe.array(lhs.den)
    names = [op.name for op in (*kind.inputs, *(p.operand for p in kind.parameters))]
    if target is None or target.name not in names:
        raise VerifyError(
            f"∂C/∂{_text(lhs.den)}: the {kind.name} kind has gradients for "
            f"{_gradient_names(kind, profile)}"
        )
    letters = [s for part in lhs.den.sub for s in _letters(part)]
    if len(letters) != len(target.shape) or len(set(letters)) != len(letters):
        raise VerifyError(
            f"∂C/∂{_text(lhs.den)}: {target.name} has {len(target.shape)} distinct indices"
        )
    free = {letter: index(letter) for letter in letters}
    builder = _Builder(kind, profile, free, own_reading)
    for symbol, axis in zip(free.values(), target.shape, strict=True):
        builder.ranges[symbol] = axis
    rhs = builder.build(equation.rhs)
    shown_target = kind.displays(profile)[target.name].unicode
    lhs_text = f"∂C/∂{shown_target}" + (f"_{''.join(letters)}" if letters else "")
    return KindClaim(
        kind,
        target,
        tuple(free.values()),
        rhs,
        lhs_text,
        _written(rhs, kind, profile),
        builder.conflict,
        _ambiguity(builder, profile),
    )


def _ambiguity(builder: _Builder, profile: str) -> str:
    """One line on the sizes the claim writes that the documents and the kind read apart."""
    parts = []
    for key in sorted(builder.ambiguous):
        own, doc = builder.other[key]
        parts.append(
            f"{key[0]} is ambiguous: the {profile} documents write the {builder.kind.name} "
            f"kind's {builder.sizes[key]} as {key[0]} and its {own} as {doc}"
        )
    return "; ".join(parts)


def _written(expr: sp.Expr, kind: LayerKind, profile: str) -> str:
    """``expr`` with the kind's arrays by their display names and the upstream as δ."""
    table = kind.displays(profile)
    names = {op.base: sp.IndexedBase(table[op.name].unicode) for op in kind.operands()}
    names |= {op.scalar: sp.Symbol(table[op.name].unicode) for op in kind.operands()}
    names[_upstream(kind).base] = sp.IndexedBase("δ")
    return sp.sstr(expr.xreplace(names))


def _sizes(kind: LayerKind) -> tuple[dict[sp.Symbol, int], ...]:
    """Sizes to check at: every size 2, then 3 and 2 alternating (a batch of 3 for a
    batch-coupled kind)."""
    sizes = kind.sizes()
    return ({s: 2 for s in sizes}, {s: 3 - k % 2 for k, s in enumerate(sizes)})


def _point(kind: LayerKind, sizes: dict[sp.Symbol, int], rng: random.Random) -> dict:
    """Exact random values of the inputs, parameters, given arrays (0 or 1), the upstream
    gradient and the hyper-parameters (inside their intervals)."""
    values: dict[sp.Basic, sp.Basic] = {}
    given = set(kind.given)
    for op in (*kind.inputs, *(p.operand for p in kind.parameters), *kind.given, _upstream(kind)):
        for ix in entries(op, sizes):
            values[op(*ix)] = (
                sp.Integer(rng.randint(0, 1))
                if op in given
                else sp.Rational(rng.randint(-30, 30) or 1, rng.randint(1, 7))
            )
    for h in kind.hyper_parameters:
        lo, hi = max(h.lower, 0.0), min(h.upper, 1.0)
        values[h.symbol] = sp.nsimplify(lo + (hi - lo) * rng.randint(1, 9) / 10, rational=True)
    return values


def _reference(kind: LayerKind, target: Operand, sizes: dict[sp.Symbol, int]) -> dict:
    """Per entry of ``target``: ``sympy.diff`` of Σ_out g_out y_out, the forward written out."""
    upstream = _upstream(kind)
    table = concrete_intermediates(kind, size_key(sizes))
    cost = sp.Integer(0)
    for ix in entries(kind.output, sizes):
        at = dict(zip(kind.output_indices, ix, strict=True))
        y = written_out(kind.forward.xreplace(at), sizes).xreplace(table)
        cost += upstream(*ix) * y
    return {ix: sp.diff(cost, target(*ix)) for ix in entries(target, sizes)}


def _side(expr: sp.Expr, claim: KindClaim, ix: tuple[int, ...], sizes: dict) -> sp.Expr:
    kind = claim.kind
    at = dict(zip(claim.indices, ix, strict=True))
    return written_out(expr.xreplace(at), sizes).xreplace(
        concrete_intermediates(kind, size_key(sizes))
    )


def _differs(a: sp.Expr, b: sp.Expr) -> bool:
    scale = max(abs(a), abs(b), sp.Integer(1))
    return abs(a - b) > _TOLERANCE * scale


def _mismatch(
    claim: KindClaim, rhs: sp.Expr, points: int, seed: int, profile: str = "nielsen"
) -> Counterexample | None:
    """The first entry and point where ``rhs`` differs from the brute-force gradient."""
    kind = claim.kind
    rng = random.Random(seed)
    for sizes in _sizes(kind):
        reference = _reference(kind, claim.target, sizes)
        for _ in range(points):
            values = _point(kind, sizes, rng)
            for ix, want in reference.items():
                got_expr = _side(rhs, claim, ix, sizes)
                try:
                    got = sp.N(got_expr.xreplace(values), 40)
                    ref = sp.N(want.xreplace(values), 40)
                except (ZeroDivisionError, ValueError):
                    continue
                if not (got.is_number and ref.is_number):
                    raise VerifyError("the right side uses a name the kind does not bind")
                if got.has(sp.zoo, sp.nan) or ref.has(sp.zoo, sp.nan):
                    continue
                if _differs(got, ref):
                    where = [(str(s), str(sizes[s])) for s in sizes]
                    where += [(str(q), str(v)) for q, v in zip(claim.indices, ix, strict=True)]
                    shown_values = tuple(
                        (_written(k, kind, profile), sp.sstr(v))
                        for k, v in list(values.items())[:12]
                    )
                    return Counterexample(
                        tuple(where),
                        shown_values,
                        sp.sstr(sp.N(ref, 12)),
                        sp.sstr(sp.N(got, 12)),
                    )
    return None


def _correct(claim: KindClaim, points: int, seed: int, profile: str) -> str | None:
    """The kind's derived compact gradient, in the claim's indices, once it passes the check."""
    grad = derive_layer(claim.kind).gradient(claim.target.name)
    bound = {lim[0] for s in grad.compact.atoms(sp.Sum) for lim in s.limits}
    taken = {str(q) for q in claim.indices}
    fresh = iter(index(c) for c in "krstuvw" if c not in taken)
    mapping: dict[sp.Basic, sp.Basic] = {b: next(fresh) for b in bound}
    compact = grad.compact.xreplace(mapping)
    compact = compact.xreplace(dict(zip(grad.indices, claim.indices, strict=True)))
    if _mismatch(claim, compact, 1, seed + 1) is not None:
        return None
    return _written(compact, claim.kind, profile)


def verify_kind_claim(
    text: str, kind: LayerKind | str, profile: str = "nielsen", points: int = 3, seed: int = 0
) -> Verdict:
    """Check a claim about one kind's gradient against brute-force differentiation.

    Examples
    --------
    >>> claim = r"\\frac{\\partial C}{\\partial x_j} = \\frac{m_j g_j}{1-p}"
    >>> verify_kind_claim(claim, "dropout").ok
    True
    >>> verify_kind_claim(r"\\frac{\\partial C}{\\partial x_j} = m_j g_j", "dropout").ok
    False
    """
    claim = parse_kind_claim(text, kind, profile)
    method = f"numeric ({points} exact points per size, every entry)"
    if claim.conflict:
        return Verdict(
            False,
            text,
            claim.lhs_text,
            claim.rhs_text,
            reason=claim.conflict,
            correct=_correct(claim, points, seed, profile),
        )
    mismatch = _mismatch(claim, claim.rhs, points, seed, profile)
    if mismatch is None:
        return Verdict(True, text, claim.lhs_text, claim.rhs_text, method=method)
    if claim.ambiguous:
        # Read as the documents print sizes the claim is wrong; if it holds with the kind's
        # own size names, the claim is ambiguous rather than wrong.
        own = parse_kind_claim(text, claim.kind, profile, own_reading=True)
        if not own.conflict and _mismatch(own, own.rhs, points, seed, profile) is None:
            raise VerifyError(
                f"{claim.ambiguous}; the claim holds only with the kind's reading "
                "(write sizes as the documents do)"
            )
    return Verdict(
        False,
        text,
        claim.lhs_text,
        claim.rhs_text,
        method=method,
        counterexample=mismatch,
        correct=_correct(claim, points, seed, profile),
    )


def verify_kind_claims(
    texts: list[str], kind: LayerKind | str, profile: str = "nielsen"
) -> list[Verdict | VerifyError]:
    """:func:`verify_kind_claim` for each claim; a claim that cannot be read gets its error."""
    out: list[Verdict | VerifyError] = []
    for text in texts:
        try:
            out.append(verify_kind_claim(text, kind, profile))
        except VerifyError as exc:
            out.append(exc)
    return out
