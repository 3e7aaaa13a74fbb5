"""Reading claims' names: the notation tables (z/a/w/b/δ; a/h/W/b/g; Θ/a/δ and variants),
layer labels, and the profile that maps a claim's letters to network quantities."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from symprop.core.errors import shown
from symprop.core.notation import PROFILES
from symprop.parsing import (
    BinOp,
    Call,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Name,
    Neg,
    Norm,
    Number,
    Transpose,
    iter_nodes,
)
from symprop.verify.errors import VerifyError

# ---------------------------------------------------------------- notation tables (data)

LAYERED = frozenset({"z", "a", "delta", "W", "b", "Delta"})


def _letters(profile: str, roles: Iterable[str]) -> dict[str, str]:
    """The letters a document profile (:mod:`symprop.core.notation`) writes for ``roles``,
    read back: letter as the parser names it (``\\Theta`` is ``Theta``) -> role."""
    written = PROFILES[profile]
    return {written.role(role).symbol.removeprefix("\\"): role for role in roles}


# Base letter as written -> role. Roles with layers: z, a, delta, W, b, Delta. The layered
# letters are those the documents write (Nielsen's z/a/W/b/δ/Δ, Ng's Θ); the rest are the
# other spellings found in lecture notes.
_ROLE_OF: dict[str, str] = {
    **_letters("nielsen", LAYERED),
    **_letters("ng", LAYERED),
    "h": "a",  # Goodfellow: hidden units h^k = f(a^k)
    "w": "W",
    "theta": "W",
    "x": "x",
    "y": "y",
    "t": "y",  # target written t (Bishop, seed 003)
    "yhat": "yhat",
    "f": "yhat",  # the network's output f(x) (seed 004); f(...) called is an activation
    "C": "C",
    "L": "C",  # the loss L(ŷ, y) when standing alone (a superscript L is the layer)
    "E": "C",
    "ell": "C",
    "J": "J",
    "lambda": "lambda",
    "n": "n",
}
# Goodfellow's a is the pre-activation and g the gradient with respect to it.
_GOODFELLOW_ROLE_OF = _ROLE_OF | _letters("goodfellow", ("z", "a", "delta"))
# Function names meaning "the activation of the layer of my argument" (σ and φ are used
# both ways in the notes; a literal sigmoid is written sigmoid).
GENERIC_FUNCTIONS = frozenset({"sigma", "phi", "varphi", "g", "f"})
COST_ROLES = frozenset({"C", "J"})


def _shifts(profile: str) -> dict[str, int]:
    """The layer shift per layered role of a document profile (:mod:`symprop.core.notation`)."""
    return {role: PROFILES[profile].role(role).shift for role in sorted(LAYERED)}


# Layer numbering conventions: added to the internal layer (input = 0) per role. Two are
# the documents' own; the input-is-layer-1 numbering of Nielsen's book has no document
# profile.
NUMBERINGS: dict[str, dict[str, int]] = {
    # Nielsen as in the generated code, Goodfellow (h^0 = x), seed 004 (z^(1) = w^(1) x + b^(1)).
    "input0": _shifts("nielsen"),
    # Nielsen's book and seed 000: the input is layer 1, w^l maps layer l-1 to l.
    "input1": {role: 1 for role in sorted(LAYERED)},
    # Ng (seed 002): the input is layer 1 and Θ^(l) maps layer l to l+1.
    "ng": _shifts("ng"),
}
NUMBERING_TEXT = {
    "input0": "the input is layer 0 (a^0 = x)",
    "input1": "the input is layer 1 (a^1 = x)",
    "ng": "the input is layer 1 and Θ^(l) maps layer l to l+1",
}


# ---------------------------------------------------------------- AST normalisation

_LABEL = re.compile(r"^(?:(?P<var>[A-Za-z])(?P<off>[+-]\d+)?|(?P<num>\d+))$")
_PLAIN_LAYER = re.compile(r"^(?:[lL](?:[+-]\d+)?|\d+)$")


def _label_text(node: Expr) -> str | None:
    """``l``, ``l+1``, ``2``: the text of an exponent that is really a layer label."""
    if isinstance(node, Name) and not node.sub and not node.sup and not node.primes:
        return node.base if len(node.base) == 1 else None
    if isinstance(node, BinOp) and node.op in ("add", "sub") and isinstance(node.right, Number):
        left = _label_text(node.left)
        value = node.right.value
        if left and _LABEL.match(left) and value.denominator == 1 and left.isalpha():
            sign = "+" if node.op == "add" else "-"
            return f"{left}{sign}{value.numerator}"
    return None


def _labelled_call(node: Expr) -> bool:
    """A "call" of a name with a layer label (``g^k (h)``) is a product, not a function."""
    return (
        isinstance(node, Call)
        and bool(node.func.sup)
        and not node.func.primes
        and len(node.args) == 1
        and node.func.base in _GOODFELLOW_ROLE_OF
    )


def _is_quantity_name(node: Expr) -> bool:
    return isinstance(node, Name) and node.base in _GOODFELLOW_ROLE_OF | _ROLE_OF


def normalise(node: Expr) -> Expr:
    """Plain-syntax spellings into the LaTeX reading: ``delta_j^l`` is a label, not a power.

    Also ``sigma_prime(z)`` is ``sigma'(z)``, ``y_hat``/``yhat`` is ŷ, and ``dC/dw_jk^l``
    (read by the plain grammar as a quotient of powers) is a derivative.
    """
    if isinstance(node, BinOp):
        left, right = normalise(node.left), normalise(node.right)
        if node.op == "pow" and _is_quantity_name(left) and not left.sup:
            label = _label_text(right)
            if label is not None and not label.isdigit():
                return replace(left, sup=(label,))
        if node.op == "div" and isinstance(left, Name) and left.base[:1] in ("d", "∂"):
            den = right
            if isinstance(den, Name) and den.base[:1] in ("d", "∂") and len(den.base) > 1:
                num_name = replace(left, base=left.base[1:])
                den_name = replace(den, base=den.base[1:])
                if num_name.base and _is_quantity_name(den_name):
                    return Derivative(num_name, den_name, partial=left.base[0] == "∂", pos=node.pos)
        return replace(node, left=left, right=right)
    if isinstance(node, Name):
        if node.base in ("yhat", "hat_y") or (node.base == "y" and "hat" in node.sub):
            return Name(
                "y",
                sub=tuple(s for s in node.sub if s != "hat"),
                sup=node.sup,
                decorations=("hat",),
                pos=node.pos,
            )
        return node
    if isinstance(node, Transpose) and _labelled_call(node.operand):
        # g^k (h^{k-1})^T: the grammar applied "g^k" like a function; it is a product.
        call = node.operand
        assert isinstance(call, Call)
        return BinOp("mul", normalise(call.func), Transpose(normalise(call.args[0])), pos=node.pos)
    if _labelled_call(node):
        assert isinstance(node, Call)
        return BinOp("mul", normalise(node.func), normalise(node.args[0]), pos=node.pos)
    if isinstance(node, Call):
        func = node.func
        if func.sub and func.sub[-1] == "prime":
            func = replace(func, sub=func.sub[:-1], primes=func.primes + 1)
        return replace(node, func=func, args=tuple(normalise(a) for a in node.args))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=normalise(node.operand))
    if isinstance(node, IndexSum):
        return replace(node, body=normalise(node.body))
    if isinstance(node, Derivative):
        return replace(node, num=normalise(node.num), den=normalise(node.den))
    if isinstance(node, Equation):
        return replace(node, lhs=normalise(node.lhs), rhs=normalise(node.rhs))
    return node


# ---------------------------------------------------------------- names -> references

Label = tuple[str | None, int]  # (generic variable or None, offset or concrete value)


@dataclass(frozen=True)
class Ref:
    """A network quantity named in a claim: role, layer label (claim numbering), indices."""

    role: str
    label: Label | None
    indices: tuple[str, ...]


def _parse_label(text: str) -> Label:
    match = _LABEL.match(text.replace("(", "").replace(")", ""))
    if match is None:
        raise VerifyError(f"cannot read the layer label {shown(text)} (write l, l+1, L or 2)")
    if match.group("num") is not None:
        return (None, int(match.group("num")))
    return (match.group("var"), int(match.group("off") or 0))


class Profile:
    """The claim's notation: Goodfellow's (a is the pre-activation) or the z/a one."""

    def __init__(self, equation: Equation) -> None:
        names = [n for n in iter_nodes(equation) if isinstance(n, Name)]
        funcs = {id(c.func) for c in iter_nodes(equation) if isinstance(c, Call)}
        plain_names = [n for n in names if id(n) not in funcs]
        self.goodfellow = any(n.base == "h" for n in plain_names) or any(
            n.base == "g" for n in plain_names
        )
        self.roles = _GOODFELLOW_ROLE_OF if self.goodfellow else _ROLE_OF
        self.letters: dict[str, str] = {}
        self.entry_letters: dict[str, str] = {}
        self.functions = [c.func.base for c in iter_nodes(equation) if isinstance(c, Call)]
        self.parenthesized = False

    def resolve(self, name: Name) -> Ref:
        base = name.base
        if "hat" in name.decorations and base == "y":
            role = "yhat"
        elif base in self.roles:
            role = self.roles[base]
        else:
            known = ", ".join(sorted(set(self.roles)))
            raise VerifyError(f"unknown name {shown(name.key)}; known: {known}")
        if name.primes:
            raise VerifyError(f"{shown(name.key)}: a prime needs a function, e.g. \\sigma'(z)")
        label: Label | None = None
        subs = tuple(name.sub)
        if len(name.sup) > 1:
            raise VerifyError(f"{shown(name.key)}: one layer label only")
        if name.sup:
            label = _parse_label(name.sup[0])
        elif role in LAYERED and subs and _PLAIN_LAYER.match(subs[0]):
            label, subs = _parse_label(subs[0]), subs[1:]
        if label is not None and role not in LAYERED:
            raise VerifyError(f"{shown(name.key)}: {base} has no layers")
        indices: list[str] = []
        for item in subs:
            if item.isdigit() and len(item) > 1 and role in ("W", "Delta"):
                indices.extend(item)  # w_{11}: two one-digit indices
            elif re.fullmatch(r"[A-Za-z]|\d+", item):
                indices.append(item)
            else:
                raise VerifyError(f"{shown(name.key)}: cannot read the index {shown(item)}")
        if role in LAYERED:
            self.letters.setdefault(role + ("_entry" if indices else ""), base)
        else:
            self.letters.setdefault(role, base)
        return Ref(role, label, tuple(indices))


def valid_layer(role: str, m: int, L: int) -> bool:
    """Whether internal layer ``m`` exists for ``role`` in a network of ``L`` layers."""
    return (0 if role == "a" else 1) <= m <= L


# ---------------------------------------------------------------- bindings


def labelled_refs(equation: Expr, profile: Profile) -> list[tuple[Ref, Name]]:
    """Every quantity an equation names (not function names), with the name as written."""
    out = []
    calls = {id(c.func) for c in iter_nodes(equation) if isinstance(c, Call)}
    for node in iter_nodes(equation):
        if isinstance(node, Name) and id(node) not in calls:
            out.append((profile.resolve(node), node))
    return out


def layer_bindings(refs: list[Ref], offsets: dict[str, int], L: int) -> list[dict[str, int]]:
    """Every assignment of the layer variables under which all labels denote layers."""
    variables = sorted({r.label[0] for r in refs if r.label and r.label[0] and r.label[0] != "L"})
    if len(variables) > 2:
        raise VerifyError(f"too many layer variables: {', '.join(variables)}")
    fixed = {"L": L + offsets["a"]}
    out = []
    candidates = range(-2, L + 4)

    def assignments(names: list[str]) -> Iterator[dict[str, int]]:
        if not names:
            yield dict(fixed)
            return
        for rest in assignments(names[1:]):
            for value in candidates:
                yield rest | {names[0]: value}

    for binding in assignments(variables):
        ok = True
        for r in refs:
            if r.role not in LAYERED or r.label is None:
                continue
            var, off = r.label
            claim = off if var is None else binding[var] + off
            if not valid_layer(r.role, claim - offsets[r.role], L):
                ok = False
                break
        if ok:
            out.append(binding)
    return out


def free_indices(equation: Equation, profile: Profile) -> list[str]:
    """The unit indices of an equation that no sum binds, in order of appearance."""
    bound: set[str] = set()
    seen: list[str] = []
    for node in iter_nodes(equation):
        if isinstance(node, IndexSum):
            bound.add(node.index)
    for ref, _ in labelled_refs(equation, profile):
        for item in ref.indices:
            if not item.isdigit() and item not in bound and item not in seen:
                seen.append(item)
    return seen
