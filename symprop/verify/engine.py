"""Verify hand-derived backprop formulas: verdict, counterexample, right formula, likely mistake.

A *claim* is an equation as people write it (``\\delta^L = (a^L - y) \\odot \\sigma'(z^L)``,
``dC/dW2 = delta2 @ a1.T``). It is parsed by the safe grammar of :mod:`symprop.parsing.expressions`
(user text is never evaluated as Python), its names are mapped to network quantities
through a table of notations (z/a/w/b/δ; a/h/W/b/g; Θ/a/δ and common variants), and both
sides are *instantiated* on a small explicit copy of the network: 2 units per layer for a
spec, 1 unit per layer for a single-unit setting, one SymPy symbol per weight, input and
target (:func:`symprop.core.symbols.instantiate`).

The reference is brute force: ``δ^l`` is ``sympy.diff`` of the instantiated cost with
respect to fresh pre-activations, ``∂C/∂w`` is ``sympy.diff`` of the cost with respect to
the weight symbol, ``σ'`` is ``sympy.diff`` of the registry definition. Nothing is typed
in. Both sides are compared entry by entry, for every layer a generic ``l`` can denote and
every value of the free unit indices: symbolically when SymPy decides it cheaply, else at
many random exact rational points evaluated with 40-digit arithmetic (away from ReLU
kinks). A supported claim always gets ✓ or ✗, never "unknown".

For ✗ the verdict carries a counterexample (symbol values and both sides' values), the
correct right-hand side in the claim's notation (a candidate built from the derivation
engine's formulas, shown only after it passed the same brute-force check) and a diagnosis
when one of the known mutations of that correct formula equals the claim.

Every check is bounded: inputs are size-limited by the parser, the network copy is small,
expression sizes are capped, and a deadline is checked between steps.

Examples
--------
>>> s = Setting.single_unit("sigmoid", "binary_cross_entropy")
>>> verify_claim(r"\\sigma'(z) = \\sigma(z)(1-\\sigma(z))", s).ok
True
>>> v = verify_claim(r"\\frac{\\partial z^{(1)}}{\\partial w^{(1)}} = w^{(1)}", s)
>>> v.ok, v.correct
(False, 'x')
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp

from symprop.core import symbols as g
from symprop.core.calculus import derive_activation, derive_output_delta
from symprop.core.errors import ParseError, SymPropError, shown
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.spec import Dense, Network, _is_int, _is_real, parse_toml
from symprop.parsing.expressions import (
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
    parse,
)

__all__ = [
    "DIAGNOSES",
    "Counterexample",
    "Setting",
    "Verdict",
    "VerifyError",
    "claim_text",
    "error_line",
    "extract_claims",
    "verdicts_json",
    "verify_claim",
    "verify_claims",
]

# ---------------------------------------------------------------- limits

MAX_DEPTH = 6
"""Deepest network a claim is checked on (the small copy has one symbol per weight)."""
MAX_CLAIMS = 200
"""Most claims in one call or file."""
MAX_EXPR_NODES = 60_000
"""Largest instantiated expression (as a tree of SymPy nodes) that is evaluated."""
_SYMBOLIC_OPS = 40  # try a symbolic proof only for differences this small (expand is cheap)
_DIGITS = 40
_TOLERANCE = mpmath.mpf("1e-25")
_BIG = mpmath.mpf("1e200")  # magnitudes beyond this count as overflow, never computed further


class VerifyError(SymPropError):
    """A claim cannot be checked (unknown name, no layer fits, too expensive): bad input."""


# ---------------------------------------------------------------- notation tables (data)

# Base letter as written -> role. Roles with layers: z, a, delta, W, b, Delta.
_ROLE_OF: dict[str, str] = {
    "z": "z",
    "a": "a",
    "h": "a",  # Goodfellow: hidden units h^k = f(a^k)
    "delta": "delta",
    "w": "W",
    "W": "W",
    "Theta": "W",
    "theta": "W",
    "b": "b",
    "Delta": "Delta",
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
_GOODFELLOW_ROLE_OF = _ROLE_OF | {"a": "z", "g": "delta"}
_LAYERED = frozenset({"z", "a", "delta", "W", "b", "Delta"})
# Function names meaning "the activation of the layer of my argument" (σ and φ are used
# both ways in the notes; a literal sigmoid is written sigmoid).
_GENERIC_FUNCTIONS = frozenset({"sigma", "phi", "varphi", "g", "f"})
_MATH_FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "ln": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "sin": sp.sin,
    "cos": sp.cos,
}
_COST_ROLES = frozenset({"C", "J"})

# Layer numbering conventions: added to the internal layer (input = 0) per role.
NUMBERINGS: dict[str, dict[str, int]] = {
    # Nielsen as in the generated code, Goodfellow (h^0 = x), seed 004 (z^(1) = w^(1) x + b^(1)).
    "input0": {"z": 0, "a": 0, "delta": 0, "W": 0, "b": 0, "Delta": 0},
    # Nielsen's book and seed 000: the input is layer 1, w^l maps layer l-1 to l.
    "input1": {"z": 1, "a": 1, "delta": 1, "W": 1, "b": 1, "Delta": 1},
    # Ng (seed 002): the input is layer 1 and Θ^(l) maps layer l to l+1.
    "ng": {"z": 1, "a": 1, "delta": 1, "W": 0, "b": 0, "Delta": 0},
}
_NUMBERING_TEXT = {
    "input0": "the input is layer 0 (a^0 = x)",
    "input1": "the input is layer 1 (a^1 = x)",
    "ng": "the input is layer 1 and Θ^(l) maps layer l to l+1",
}

DIAGNOSES: dict[str, str] = {
    "missing_phi_prime": "missing φ' factor",
    "transpose": "W instead of Wᵀ (or index order swapped)",
    "sign": "sign flip",
    "factor_2": "factor 2 or ½ missing",
    "phi_prime_at_a": "φ' evaluated at a instead of z",
    "output_form_at_z": "the output form (e.g. a(1−a)) applied to z",
    "bias_regularised": "bias regularised",
    "missing_1_over_n": "1/n missing",
}
"""Known mistakes: id -> the message shown with a ✗ verdict."""

# ---------------------------------------------------------------- public data


@dataclass(frozen=True)
class Setting:
    """What a claim is about: a network spec, or one activation and loss for single units.

    Attributes
    ----------
    network
        The spec; its small copy (2 units per layer) is used. ``None`` for single units.
    activation, loss
        For single-unit claims: every layer has one unit with this activation.
    l2
        Single units: the weight-decay coefficient (``J = C + λ w²``); a spec has its own.
    numbering
        ``auto`` (try the conventions that fit the claim's labels), ``input0``, ``input1``
        or ``ng`` (see :data:`NUMBERINGS`).
    points
        Random rational points per comparison.
    seed
        Seed of the random points (verdicts are deterministic).
    time_limit
        Seconds one claim may take before it is refused.
    """

    network: Network | None = None
    activation: str | None = None
    loss: str | None = None
    l2: float = 0.0
    numbering: str = "auto"
    points: int = 8
    seed: int = 0
    time_limit: float = 20.0

    def __post_init__(self) -> None:
        if not isinstance(self.numbering, str) or (
            self.numbering != "auto" and self.numbering not in NUMBERINGS
        ):
            raise VerifyError(
                f"numbering: got {shown(self.numbering)}; known: auto, {', '.join(NUMBERINGS)}"
            )
        if self.network is not None and not isinstance(self.network, Network):
            raise VerifyError(f"network: got {shown(self.network)}; must be a Network or None")
        if self.network is None:
            if self.activation is None or self.loss is None:
                raise VerifyError("give a spec, or both an activation and a loss")
            if (
                not isinstance(self.activation, str)
                or self.activation not in ACTIVATIONS
                or not ACTIVATIONS[self.activation].elementwise
            ):
                known = ", ".join(n for n, a in ACTIVATIONS.items() if a.elementwise)
                raise VerifyError(
                    f"activation: got {shown(self.activation)}; single units take one of: {known}"
                )
            # Validates the loss and the activation/loss pair with the spec's messages.
            self.single_network(1)
        elif self.network.depth > MAX_DEPTH:
            raise VerifyError(
                f"the network has {self.network.depth} layers; verify checks networks of at "
                f"most {MAX_DEPTH} layers"
            )
        if not _is_int(self.points) or not 1 <= self.points <= 64:
            raise VerifyError(f"points: got {shown(self.points)}; must be an integer from 1 to 64")
        if not _is_int(self.seed):
            raise VerifyError(f"seed: got {shown(self.seed)}; must be an integer")
        if not _is_real(self.time_limit) or self.time_limit <= 0:
            raise VerifyError(
                f"time_limit: got {shown(self.time_limit)}; must be a finite number of seconds > 0"
            )

    @classmethod
    def from_spec(cls, network: Network, **kwargs: Any) -> Setting:
        """A setting for claims about ``network`` (checked on a 2-unit-per-layer copy)."""
        return cls(network=network, **kwargs)

    @classmethod
    def single_unit(cls, activation: str, loss: str, **kwargs: Any) -> Setting:
        """A setting for single-unit claims: a chain of one-unit layers."""
        return cls(activation=activation, loss=loss, **kwargs)

    def single_network(self, depth: int) -> Network:
        """The single-unit chain of ``depth`` layers."""
        assert self.activation is not None and self.loss is not None
        return Network(
            inputs=1,
            layers=[Dense(1, self.activation)] * depth,
            loss=self.loss,
            l2=self.l2,
        )


@dataclass(frozen=True)
class Counterexample:
    """Where the two sides differ.

    ``where`` binds layer variables and unit indices (``l = 2, j = 1``); ``values`` gives the
    symbols both sides depend on (``w^2_{11} = 3/10``); ``lhs_value`` and ``rhs_value`` are
    the two sides there, to 12 significant digits.
    """

    where: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]
    lhs_value: str
    rhs_value: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "where": dict(self.where),
            "values": dict(self.values),
            "lhs": self.lhs_value,
            "rhs": self.rhs_value,
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one claim.

    Attributes
    ----------
    ok
        The claim holds on every layer and index it can denote.
    claim
        The claim as given.
    lhs, rhs
        The two sides, normalised (re-printed from the parsed claim).
    method
        How it was decided: ``symbolic`` or ``numeric (k rational points)``.
    checked
        The bindings checked (``l = 1``, ``l = 2``…); empty when there is no layer variable.
    numbering
        The layer-numbering convention the verdict refers to.
    counterexample
        For ✗: where the sides differ (``None`` when a side is not even defined there).
    correct
        For ✗: a correct right-hand side in the claim's notation, when one is known.
    correct_where
        The binding the correct right-hand side is for (``l = 2``), if any.
    diagnosis
        For ✗: the id of a known mistake that the claim equals (see :data:`DIAGNOSES`).
    reason
        For ✗ without a counterexample: why (e.g. shapes that do not conform).
    """

    ok: bool
    claim: str
    lhs: str
    rhs: str
    method: str = ""
    checked: tuple[str, ...] = ()
    numbering: str = ""
    counterexample: Counterexample | None = None
    correct: str | None = None
    correct_where: str = ""
    diagnosis: str | None = None
    reason: str = ""

    @property
    def diagnosis_text(self) -> str | None:
        """The diagnosis as a message (``missing φ' factor``), or ``None``."""
        return None if self.diagnosis is None else DIAGNOSES[self.diagnosis]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the shape of ``symprop verify --json``)."""
        return {
            "ok": self.ok,
            "claim": self.claim,
            "lhs": self.lhs,
            "rhs": self.rhs,
            "method": self.method,
            "checked": list(self.checked),
            "numbering": self.numbering,
            "counterexample": None
            if self.counterexample is None
            else self.counterexample.to_dict(),
            "correct": self.correct,
            "correct_where": self.correct_where,
            "diagnosis": self.diagnosis,
            "diagnosis_text": self.diagnosis_text,
            "reason": self.reason,
        }

    def to_text(self) -> str:
        """Readable lines for the terminal."""
        mark = "✓" if self.ok else "✗"
        lines = [f"{mark} {claim_text(self.claim)}"]
        if self.ok:
            lines.append(
                f"    holds ({self.method}"
                + (f"; {', '.join(self.checked)})" if self.checked else ")")
            )
            return "\n".join(lines)
        if self.reason:
            lines.append(f"    {self.reason}")
        if self.counterexample is not None:
            ce = self.counterexample
            where = ", ".join(f"{k} = {v}" for k, v in ce.where)
            values = ", ".join(f"{k} = {v}" for k, v in ce.values)
            lines.append(f"    counterexample{f' at {where}' if where else ''}: {values}")
            lines.append(f"      left side = {ce.lhs_value}, right side = {ce.rhs_value}")
        if self.correct is not None:
            at = f" (for {self.correct_where})" if self.correct_where else ""
            lines.append(f"    correct{at}: {self.lhs} = {self.correct}")
        if self.diagnosis is not None:
            lines.append(f"    likely mistake: {self.diagnosis_text}")
        return "\n".join(lines)


def claim_text(text: str) -> str:
    """A claim as a report line shows it: as written when it is short and printable, else
    quoted, escaped and truncated (:func:`symprop.core.errors.shown`)."""
    if isinstance(text, str) and text.isprintable() and len(text) <= 500:
        return text
    return shown(text, 200)


# ---------------------------------------------------------------- claim extraction

_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]|`([^`]+)`")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def extract_claims(text: str, fmt: str = "markdown") -> list[str]:
    """The claims of a Markdown or TOML document, one per line or entry.

    Markdown: every line with an ``=`` is a claim; math delimiters (``$…$``, ``$$…$$``,
    ``\\(…\\)``, backticks) and bullets are stripped. Headings, blank lines and lines
    without ``=`` are skipped. TOML: ``claims = ["…", …]`` or ``[[claim]]`` tables with
    ``text = "…"``.

    Examples
    --------
    >>> extract_claims("# notes\\n- $\\\\delta^L = a^L - y$\\n- `dC/dW2 = delta2 @ a1.T`\\n")
    ['\\\\delta^L = a^L - y', 'dC/dW2 = delta2 @ a1.T']
    """
    if not isinstance(text, str):
        raise VerifyError(f"text: got {shown(text)}; must be a str")
    if fmt not in ("markdown", "toml"):
        raise VerifyError(f"fmt: got {shown(fmt)}; known: markdown, toml")
    if fmt == "toml":
        return _toml_claims(text)
    claims: list[str] = []
    in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        match = _MATH_SPAN.search(stripped)
        if match:
            claim = next(gr for gr in match.groups() if gr is not None)
        else:
            claim = _BULLET.sub("", stripped)
        claim = claim.strip().rstrip(".,;").strip()
        if claim:
            claims.append(claim)
    if len(claims) > MAX_CLAIMS:
        raise VerifyError(f"{len(claims)} claims; at most {MAX_CLAIMS} are checked at once")
    return claims


def _toml_claims(text: str) -> list[str]:
    data = parse_toml(text)
    unknown = set(data) - {"claims", "claim"}
    if unknown:
        key = shown(sorted(unknown)[0])
        raise VerifyError(f"unknown key {key}; use claims = [...] or [[claim]]")
    out: list[str] = []
    listed = data.get("claims", [])
    if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
        raise VerifyError("claims must be a list of strings")
    out += listed
    tables = data.get("claim", [])
    if not isinstance(tables, list):
        raise VerifyError("claim must be an array of tables ([[claim]])")
    for idx, entry in enumerate(tables):
        if (
            not isinstance(entry, dict)
            or set(entry) - {"text"}
            or not isinstance(entry.get("text"), str)
        ):
            raise VerifyError(f'claim[{idx}] must be a table with one key, text = "..."')
        out.append(entry["text"])
    if len(out) > MAX_CLAIMS:
        raise VerifyError(f"{len(out)} claims; at most {MAX_CLAIMS} are checked at once")
    return [c.strip() for c in out]


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


def _normalise(node: Expr) -> Expr:
    """Plain-syntax spellings into the LaTeX reading: ``delta_j^l`` is a label, not a power.

    Also ``sigma_prime(z)`` is ``sigma'(z)``, ``y_hat``/``yhat`` is ŷ, and ``dC/dw_jk^l``
    (read by the plain grammar as a quotient of powers) is a derivative.
    """
    if isinstance(node, BinOp):
        left, right = _normalise(node.left), _normalise(node.right)
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
        return BinOp(
            "mul", _normalise(call.func), Transpose(_normalise(call.args[0])), pos=node.pos
        )
    if _labelled_call(node):
        assert isinstance(node, Call)
        return BinOp("mul", _normalise(node.func), _normalise(node.args[0]), pos=node.pos)
    if isinstance(node, Call):
        func = node.func
        if func.sub and func.sub[-1] == "prime":
            func = replace(func, sub=func.sub[:-1], primes=func.primes + 1)
        return replace(node, func=func, args=tuple(_normalise(a) for a in node.args))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=_normalise(node.operand))
    if isinstance(node, IndexSum):
        return replace(node, body=_normalise(node.body))
    if isinstance(node, Derivative):
        return replace(node, num=_normalise(node.num), den=_normalise(node.den))
    if isinstance(node, Equation):
        return replace(node, lhs=_normalise(node.lhs), rhs=_normalise(node.rhs))
    return node


# ---------------------------------------------------------------- names -> references

Label = tuple[str | None, int]  # (generic variable or None, offset or concrete value)


@dataclass(frozen=True)
class _Ref:
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


class _Profile:
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

    def resolve(self, name: Name) -> _Ref:
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
        elif role in _LAYERED and subs and _PLAIN_LAYER.match(subs[0]):
            label, subs = _parse_label(subs[0]), subs[1:]
        if label is not None and role not in _LAYERED:
            raise VerifyError(f"{shown(name.key)}: {base} has no layers")
        indices: list[str] = []
        for item in subs:
            if item.isdigit() and len(item) > 1 and role in ("W", "Delta"):
                indices.extend(item)  # w_{11}: two one-digit indices
            elif re.fullmatch(r"[A-Za-z]|\d+", item):
                indices.append(item)
            else:
                raise VerifyError(f"{shown(name.key)}: cannot read the index {shown(item)}")
        if role in _LAYERED:
            self.letters.setdefault(role + ("_entry" if indices else ""), base)
        else:
            self.letters.setdefault(role, base)
        return _Ref(role, label, tuple(indices))


# ---------------------------------------------------------------- the instantiated model


def _tree_size(expr: sp.Basic, cap: int = MAX_EXPR_NODES) -> int:
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > cap:
            break
    return count


class _Model:
    """A small explicit network: forward values, brute-force δ and costs, one per sample."""

    def __init__(self, network: Network, batch: int) -> None:
        self.net = network
        self.L = network.depth
        self.batch = batch
        if batch == 1:
            self.insts = [g.instantiate(network)]
        else:
            self.insts = [g.instantiate_sample(network, s) for s in range(1, batch + 1)]
        self.lam: sp.Expr = sp.Symbol("lambda", positive=True) if network.l2 > 0 else sp.S.Zero
        inst = self.insts[0]
        penalty = sum((w**2 for lay in inst.W for w in inst.W[lay]), sp.S.Zero)
        if network.regularize_biases:
            penalty += sum((c**2 for lay in inst.b for c in inst.b[lay]), sp.S.Zero)
        self.penalty = penalty
        self._delta: dict[tuple[int, int], sp.Matrix] = {}
        self.targets = [s for it in self.insts for s in it.y]
        self.distribution = LOSSES[network.loss].target_is_distribution

    def params(self, layer: int) -> dict[str, float]:
        return self.net.layers[layer - 1].param_values()

    def activation(self, layer: int) -> str:
        return self.net.layers[layer - 1].activation

    def cost(self, sample: int = 0) -> sp.Expr:
        return self.insts[sample].cost

    def objective(self, first_cost: sp.Expr | None = None) -> sp.Expr:
        costs = [self.cost(s) for s in range(self.batch)]
        if first_cost is not None:
            costs[0] = first_cost
        return sp.Add(*costs) / self.batch + self.lam * self.penalty

    def delta(self, layer: int, sample: int = 0) -> sp.Matrix:
        """Brute force: ∂C/∂z^layer by ``sympy.diff`` through fresh pre-activations."""
        key = (layer, sample)
        if key not in self._delta:
            inst = self.insts[sample]
            fresh = sp.Matrix([sp.Dummy(f"zeta{layer}_{r}") for r in range(inst.z[layer].rows)])
            cost = g.cost_from_layer(self.net, inst, layer, fresh)
            back = dict(zip(fresh, inst.z[layer], strict=True))
            self._delta[key] = sp.Matrix([sp.diff(cost, f).xreplace(back) for f in fresh])
        return self._delta[key]

    def forward_from(self, role: str, layer: int, fresh: sp.Matrix) -> dict[tuple[str, int], Any]:
        """Downstream quantities of sample 1 when ``role^layer`` is replaced by ``fresh``."""
        inst = self.insts[0]
        out: dict[tuple[str, int], Any] = {(role, layer): fresh}
        if role == "z":
            act = g.apply_activation(self.activation(layer), self.params(layer), fresh)
            out[("a", layer)] = act
        else:
            act = fresh
        for nxt in range(layer + 1, self.L + 1):
            zz = inst.W[nxt] * act + inst.b[nxt]
            act = g.apply_activation(self.activation(nxt), self.params(nxt), zz)
            out[("z", nxt)], out[("a", nxt)] = zz, act
        loss = LOSSES[self.net.loss]
        cost = sp.Add(
            *[loss.term.subs({a_scalar: act[r], y_scalar: inst.y[r]}) for r in range(act.rows)]
        )
        out[("C", 0)] = cost
        out[("J", 0)] = self.objective(cost)
        return out

    def symbols(self) -> list[sp.Symbol]:
        syms: set[sp.Symbol] = set()
        for it in self.insts:
            syms |= set(it.x) | set(it.y)
        inst = self.insts[0]
        for lay in inst.W:
            syms |= set(inst.W[lay]) | set(inst.b[lay])
        if self.lam != 0:
            syms.add(self.lam)
        return sorted(syms, key=lambda s: s.name)


@functools.lru_cache(maxsize=16)
def _model(network: Network, batch: int) -> _Model:
    return _Model(network, batch)


# ---------------------------------------------------------------- evaluation


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise VerifyError(
                f"checking this claim took longer than {self.seconds:g} s; it was stopped"
            )


class _NotDefined(Exception):
    """A side is not defined at this binding (shapes do not conform, index out of range)."""


@dataclass
class _Env:
    model: _Model
    offsets: dict[str, int]
    layers: dict[str, int]  # claim-level value of each layer variable (incl. L)
    indices: dict[str, int] = field(default_factory=dict)
    overrides: dict[tuple[str, int], Any] = field(default_factory=dict)


def _internal(ref: _Ref, env: _Env) -> int:
    if ref.label is None:
        if env.model.L == 1:
            return 1  # one layer: an unlabelled z, a, w, b, δ can only mean it
        raise VerifyError(
            f"{ref.role} needs a layer label here (the network has {env.model.L} layers); "
            "write e.g. a^l, a^L or a^{(2)} (a^2 is a power)"
        )
    var, off = ref.label
    claim = off if var is None else env.layers[var] + off
    return claim - env.offsets[ref.role]


def _valid_layer(role: str, m: int, L: int) -> bool:
    return (0 if role == "a" else 1) <= m <= L


class _Evaluator:
    """AST -> explicit SymPy matrices in the instance's symbols (1×1 for scalars)."""

    def __init__(self, profile: _Profile, env: _Env, deadline: _Deadline) -> None:
        self.profile = profile
        self.env = env
        self.deadline = deadline

    # -- names
    def quantity(self, ref: _Ref) -> sp.Matrix:
        env, model = self.env, self.env.model
        inst = model.insts[0]
        role = ref.role
        if role in _LAYERED:
            m = _internal(ref, env)
            if not _valid_layer(role, m, model.L):
                raise _NotDefined(f"{role} of layer {m} does not exist")
            if (role, m) in env.overrides:
                value = env.overrides[(role, m)]
            elif role == "z":
                value = inst.z[m]
            elif role == "a":
                value = inst.a[m]
            elif role == "W":
                value = inst.W[m]
            elif role == "b":
                value = inst.b[m]
            elif role == "delta":
                value = model.delta(m)
            else:  # Delta: the accumulated Σ_i δ^m(i) a^{m-1}(i)ᵀ over the batch
                value = sp.zeros(inst.W[m].rows, inst.W[m].cols)
                for s in range(model.batch):
                    value += model.delta(m, s) * model.insts[s].a[m - 1].T
        elif role == "x":
            value = inst.x
        elif role == "y":
            value = inst.y
        elif role == "yhat":
            value = env.overrides.get(("a", model.L), inst.a[model.L])
        elif role == "C":
            value = sp.Matrix([[env.overrides.get(("C", 0), model.cost())]])
        elif role == "J":
            value = sp.Matrix([[env.overrides.get(("J", 0), model.objective())]])
        elif role == "lambda":
            value = sp.Matrix([[model.lam]])
        else:  # n
            value = sp.Matrix([[sp.Integer(model.batch)]])
        return self.entry(value, ref)

    def entry(self, value: sp.Matrix, ref: _Ref) -> sp.Matrix:
        if not ref.indices:
            return value
        idx = [self.index(i) for i in ref.indices]
        if value.cols == 1 and len(idx) == 1:
            row, col = idx[0], 1
        elif len(idx) == 2:
            row, col = idx
        else:
            raise VerifyError(
                f"{ref.role} takes {1 if value.cols == 1 else 2} unit index"
                f"{'' if value.cols == 1 else 'es'}, got {len(idx)}"
            )
        if not (1 <= row <= value.rows and 1 <= col <= value.cols):
            raise _NotDefined(f"index out of range for {ref.role}")
        return sp.Matrix([[value[row - 1, col - 1]]])

    def index(self, item: str) -> int:
        if item.isdigit():
            return int(item)
        if item not in self.env.indices:
            raise VerifyError(f"unit index {shown(item)} is not bound")
        return self.env.indices[item]

    # -- the tree
    def __call__(self, node: Expr) -> sp.Matrix:
        self.deadline.check()
        if isinstance(node, Number):
            return sp.Matrix([[sp.Rational(node.value.numerator, node.value.denominator)]])
        if isinstance(node, Name):
            return self.quantity(self.profile.resolve(node))
        if isinstance(node, Neg):
            return -self(node.operand)
        if isinstance(node, Transpose):
            return self(node.operand).T
        if isinstance(node, Norm):
            inner = self(node.operand)
            return sp.Matrix([[sp.sqrt(sum((e**2 for e in inner), sp.S.Zero))]])
        if isinstance(node, BinOp):
            return _binop(node.op, self(node.left), self(node.right))
        if isinstance(node, IndexSum):
            return self.index_sum(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Derivative):
            return self.derivative(node)
        raise VerifyError(f"cannot check a {type(node).__name__} here")

    def index_sum(self, node: IndexSum) -> sp.Matrix:
        if node.index in self.env.indices:
            raise VerifyError(f"index {shown(node.index)} is summed over but already bound")
        count = _index_range(node.body, node.index, self)
        total: sp.Matrix | None = None
        for value in range(1, count + 1):
            self.env.indices[node.index] = value
            try:
                term = self(node.body)
            finally:
                del self.env.indices[node.index]
            total = term if total is None else _binop("add", total, term)
        assert total is not None
        return total

    def layer_of(self, node: Expr) -> int | None:
        for sub in iter_nodes(node):
            if isinstance(sub, Name) and not (isinstance(node, Call) and sub is node.func):
                try:
                    ref = self.profile.resolve(sub)
                except VerifyError:
                    continue
                if ref.role in _LAYERED:
                    return _internal(ref, self.env)
                if ref.role == "yhat":
                    return self.env.model.L
        return None

    def activation_for(self, node: Call) -> tuple[str, dict[str, float]]:
        model = self.env.model
        layer = None
        for arg in node.args:
            layer = self.layer_of(arg)
            if layer is not None:
                break
        if layer is None or not 1 <= layer <= model.L:
            names = {model.activation(lay) for lay in range(1, model.L + 1)}
            if len(names) != 1:
                raise VerifyError(
                    f"{shown(node.func.base)}(…): cannot tell which layer's activation is meant; "
                    "give its argument a layer label, e.g. z^l"
                )
            layer = model.L
        return model.activation(layer), model.params(layer)

    def call(self, node: Call) -> sp.Matrix:
        base = node.func.base
        primes = node.func.primes
        if base in self.profile.roles and self.profile.roles[base] in _COST_ROLES and not primes:
            # J(Θ), C(w): the cost, whatever its written arguments.
            return self.quantity(_Ref(self.profile.roles[base], None, ()))
        if len(node.args) != 1 and base not in ("max", "min"):
            raise VerifyError(f"{shown(base)} takes one argument")
        if base in _GENERIC_FUNCTIONS or base in ACTIVATIONS:
            if base in ACTIVATIONS:
                name, params = base, {p.name: p.default for p in ACTIVATIONS[base].parameters}
            else:
                name, params = self.activation_for(node)
            act = ACTIVATIONS[name]
            arg = self(node.args[0])
            if not act.elementwise:
                if primes:
                    raise VerifyError(
                        f"{name} is not elementwise; its derivative is a Jacobian, "
                        "not φ'(z) — state δ^L directly"
                    )
                if arg.cols != 1:
                    raise _NotDefined("softmax of a matrix")
                return g.apply_activation(name, params, arg)
            definition = act.instantiate(params)
            if primes:
                definition = sp.diff(definition, z_scalar, primes)
            return arg.applyfunc(lambda e: definition.xreplace({z_scalar: e}))
        if primes:
            raise VerifyError(f"{shown(base)}' is not supported; write the derivative out")
        if base in _MATH_FUNCTIONS:
            fn = _MATH_FUNCTIONS[base]
            return self(node.args[0]).applyfunc(fn)
        if base in ("max", "min"):
            args = [self(a) for a in node.args]
            if any(a.shape != (1, 1) for a in args):
                raise _NotDefined("max/min of vectors")
            fn2 = sp.Max if base == "max" else sp.Min
            return sp.Matrix([[fn2(*[a[0] for a in args])]])
        known = sorted(set(_MATH_FUNCTIONS) | set(ACTIVATIONS) | _GENERIC_FUNCTIONS)
        raise VerifyError(f"unknown function {shown(base)}; known: {', '.join(known)}")

    def derivative(self, node: Derivative) -> sp.Matrix:
        if not isinstance(node.den, Name):
            raise VerifyError("differentiate with respect to a named quantity")
        ref = self.profile.resolve(node.den)
        env = self.env
        if ref.role in ("W", "b", "x", "lambda"):
            den = self.quantity(ref)
            num = self(node.num)
            return _differentiate(num, den)
        if ref.role in ("z", "a", "yhat"):
            if ref.role == "yhat":
                ref = _Ref("a", None, ref.indices)
                layer = env.model.L
            else:
                layer = _internal(ref, env)
            role = ref.role
            if not _valid_layer(role, layer, env.model.L):
                raise _NotDefined(f"{role} of layer {layer} does not exist")
            if role == "a" and layer == 0:
                den = env.model.insts[0].x
                return _differentiate(self(node.num), self.entry(den, ref) if ref.indices else den)
            original = env.model.insts[0].z[layer] if role == "z" else env.model.insts[0].a[layer]
            fresh = sp.Matrix([sp.Dummy(f"f{r}") for r in range(original.rows)])
            saved = dict(env.overrides)
            env.overrides.update(env.model.forward_from(role, layer, fresh))
            try:
                num = self(node.num)
                den = self.entry(fresh, ref) if ref.indices else fresh
            finally:
                env.overrides.clear()
                env.overrides.update(saved)
            result = _differentiate(num, den)
            return result.xreplace(dict(zip(fresh, original, strict=True)))
        raise VerifyError(f"cannot differentiate with respect to {shown(node.den.key)}")


def _differentiate(num: sp.Matrix, den: sp.Matrix) -> sp.Matrix:
    if num.shape == (1, 1):
        return den.applyfunc(lambda d: sp.diff(num[0], d))
    if den.shape == (1, 1):
        return num.applyfunc(lambda e: sp.diff(e, den[0]))
    if num.cols == 1 and den.cols == 1:
        return sp.Matrix(num.rows, den.rows, lambda r, c: sp.diff(num[r], den[c]))
    raise _NotDefined("the derivative of a vector by a matrix is not a matrix")


def _binop(op: str, left: sp.Matrix, right: sp.Matrix) -> sp.Matrix:
    lscalar, rscalar = left.shape == (1, 1), right.shape == (1, 1)
    if op in ("add", "sub"):
        if left.shape != right.shape:
            if lscalar:
                left = sp.Matrix(right.rows, right.cols, lambda r, c: left[0])
            elif rscalar:
                right = sp.Matrix(left.rows, left.cols, lambda r, c: right[0])
            else:
                raise _NotDefined(f"cannot add a {_shape(left)} and a {_shape(right)}")
        return left + right if op == "add" else left - right
    if op in ("mul", "hadamard", "matmul"):
        if lscalar or rscalar:
            return right * left[0] if lscalar else left * right[0]
        if op == "hadamard":
            if left.shape != right.shape:
                raise _NotDefined(f"⊙ of a {_shape(left)} and a {_shape(right)}")
            return left.multiply_elementwise(right)
        if left.cols == right.rows:
            return left * right
        if op == "mul" and left.shape == right.shape and left.cols == 1:
            # Two column vectors written side by side: read as elementwise, like Ng's .*
            return left.multiply_elementwise(right)
        raise _NotDefined(f"cannot multiply a {_shape(left)} by a {_shape(right)}")
    if op == "div":
        if rscalar:
            return left.applyfunc(lambda e: e / right[0])
        if left.shape == right.shape:
            return sp.Matrix(left.rows, left.cols, lambda r, c: left[r, c] / right[r, c])
        raise _NotDefined(f"cannot divide a {_shape(left)} by a {_shape(right)}")
    if op == "pow":
        if not rscalar:
            raise _NotDefined("a power with a vector exponent")
        exponent = right[0]
        for base in left:
            _check_power_size(base, exponent)
        return left.applyfunc(lambda e: e**exponent)
    raise VerifyError(f"unknown operation {op}")


_MAX_POWER_BITS = 20_000


def _check_power_size(base: sp.Expr, exponent: sp.Expr) -> None:
    """Refuse a power SymPy would compute exactly and that would be huge (2^(2^…) nests)."""
    if base.is_Number and exponent.is_Number and base != 0:
        magnitude = abs(sp.Rational(base)) if base.is_Rational else abs(base)
        bits = max(abs(sp.log(magnitude, 2)).evalf(15), 1) * abs(exponent)
        if bits > _MAX_POWER_BITS:
            raise VerifyError("a constant in the claim is too large to check")


def _shape(m: sp.Matrix) -> str:
    return "scalar" if m.shape == (1, 1) else f"{m.rows}×{m.cols}"


def _index_range(node: Expr, index: str, ev: _Evaluator) -> int:
    """How many values a unit index takes: the smallest dimension it is used for."""
    sizes: list[int] = []
    for sub in iter_nodes(node):
        if isinstance(sub, Name) and index in sub.sub:
            try:
                ref = ev.profile.resolve(sub)
                value = ev.quantity(replace(ref, indices=()))
            except (VerifyError, _NotDefined, KeyError):
                continue
            pos = ref.indices.index(index)
            sizes.append(value.rows if pos == 0 else value.cols)
    if not sizes:
        raise VerifyError(f"cannot tell the range of the index {shown(index)}")
    return min(sizes)


# ---------------------------------------------------------------- numeric comparison


class _Kink(Exception):
    """The point lies on (or next to) a kink of a piecewise function."""


def _mp_eval(expr: sp.Basic, point: dict[sp.Symbol, mpmath.mpf], memo: dict) -> mpmath.mpf:
    """Evaluate a SymPy expression with mpmath, by a whitelist of node types, memoised."""
    if expr in memo:
        return memo[expr]
    value = _mp_node(expr, point, memo)
    if isinstance(value, mpmath.mpf) and (mpmath.isnan(value) or abs(value) > _BIG):
        value = mpmath.mpf("nan")
    memo[expr] = value
    return value


def _mp_node(expr: sp.Basic, point: dict, memo: dict) -> Any:  # noqa: C901, PLR0911, PLR0912
    def ev(e: sp.Basic) -> Any:
        return _mp_eval(e, point, memo)

    if isinstance(expr, sp.Symbol):
        if expr not in point:
            raise VerifyError(f"no value for {expr}")
        return point[expr]
    if isinstance(expr, sp.Rational):
        return mpmath.mpf(expr.p) / expr.q
    if isinstance(expr, sp.Float):
        return mpmath.mpf(str(expr))
    if expr is sp.E:
        return mpmath.e
    if expr is sp.pi:
        return mpmath.pi
    if expr in (sp.S.ComplexInfinity, sp.S.Infinity, sp.S.NegativeInfinity, sp.S.NaN):
        return mpmath.mpf("nan")
    if expr in (sp.S.true, sp.S.false):
        return bool(expr)
    if isinstance(expr, sp.Add):
        return mpmath.fsum(ev(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        out = mpmath.mpf(1)
        for a in expr.args:
            out *= ev(a)
        return out
    if isinstance(expr, sp.Pow):
        base, exp = ev(expr.base), ev(expr.exp)
        if mpmath.isnan(base) or mpmath.isnan(exp):
            return mpmath.mpf("nan")
        if base == 0:
            return mpmath.mpf("nan") if exp <= 0 else mpmath.mpf(0)
        if base < 0 and exp != int(exp):
            return mpmath.mpf("nan")
        if abs(exp * mpmath.log(abs(base))) > 400:
            return mpmath.mpf("nan")
        return mpmath.power(base, exp)
    if isinstance(expr, sp.exp):
        arg = ev(expr.args[0])
        return mpmath.mpf("nan") if mpmath.isnan(arg) or arg > 400 else mpmath.exp(arg)
    if isinstance(expr, sp.log):
        arg = ev(expr.args[0])
        return mpmath.mpf("nan") if mpmath.isnan(arg) or arg <= 0 else mpmath.log(arg)
    unary = {
        sp.tanh: mpmath.tanh,
        sp.sin: mpmath.sin,
        sp.cos: mpmath.cos,
        sp.Abs: abs,
    }
    for cls, fn in unary.items():
        if isinstance(expr, cls):
            arg = ev(expr.args[0])
            if cls is sp.Abs and abs(arg) < 1e-12:
                raise _Kink
            return fn(arg)
    if isinstance(expr, sp.sinh | sp.cosh):
        arg = ev(expr.args[0])
        if abs(arg) > 400:
            return mpmath.mpf("nan")
        return mpmath.sinh(arg) if isinstance(expr, sp.sinh) else mpmath.cosh(arg)
    if isinstance(expr, sp.Heaviside):
        arg = ev(expr.args[0])
        if abs(arg) < 1e-12:
            raise _Kink
        return mpmath.mpf(1) if arg > 0 else mpmath.mpf(0)
    if isinstance(expr, sp.DiracDelta):
        arg = ev(expr.args[0])
        if abs(arg) < 1e-12:
            raise _Kink
        return mpmath.mpf(0)
    if isinstance(expr, sp.Max | sp.Min):
        vals = [ev(a) for a in expr.args]
        ordered = sorted(vals)
        if len(ordered) > 1 and abs(ordered[-1] - ordered[-2]) < 1e-12 and isinstance(expr, sp.Max):
            raise _Kink
        if len(ordered) > 1 and abs(ordered[0] - ordered[1]) < 1e-12 and isinstance(expr, sp.Min):
            raise _Kink
        return max(vals) if isinstance(expr, sp.Max) else min(vals)
    if isinstance(expr, sp.Piecewise):
        for branch, cond in expr.args:
            if ev(cond):
                return ev(branch)
        return mpmath.mpf("nan")
    if isinstance(expr, sp.Rel):
        lhs, rhs = ev(expr.lhs), ev(expr.rhs)
        if abs(lhs - rhs) < 1e-12:
            raise _Kink
        return {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs}.get(
            expr.rel_op, lhs == rhs
        )
    if isinstance(expr, sp.ITE):
        return ev(expr.args[1]) if ev(expr.args[0]) else ev(expr.args[2])
    if isinstance(expr, sp.And | sp.Or | sp.Not):
        vals = [ev(a) for a in expr.args]
        if isinstance(expr, sp.And):
            return all(vals)
        if isinstance(expr, sp.Or):
            return any(vals)
        return not vals[0]
    raise VerifyError(f"cannot evaluate {type(expr).__name__} numerically")


@dataclass(frozen=True)
class _Point:
    rational: dict[sp.Symbol, sp.Rational]
    mp: dict[sp.Symbol, mpmath.mpf]


def _points(model: _Model, count: int, seed: int) -> list[_Point]:
    rng = random.Random(seed)
    out = []
    syms = model.symbols()
    targets = set(model.targets)
    for _ in range(count * 4):
        values: dict[sp.Symbol, sp.Rational] = {}
        for s in syms:
            if s in targets:
                values[s] = sp.Rational(rng.randint(50, 950), 1000)
            elif s == model.lam:
                values[s] = sp.Rational(rng.randint(100, 1000), 1000)
            else:
                # Away from 0 so that ReLU kinks and 0/0 are unlikely; rejected below if hit.
                values[s] = sp.Rational(rng.choice([-1, 1]) * rng.randint(100, 1500), 1000)
        if model.distribution:
            for it in model.insts:
                total = sum(values[s] for s in it.y)
                for s in it.y:
                    values[s] = values[s] / total
        with mpmath.workdps(_DIGITS):  # at full precision: Σ y = 1 must hold to 40 digits
            out.append(_Point(values, {s: mpmath.mpf(v.p) / v.q for s, v in values.items()}))
    return out


@dataclass(frozen=True)
class _Mismatch:
    where: dict[str, int]
    entry: tuple[int, int]
    lhs: sp.Expr
    rhs: sp.Expr
    point: _Point
    lvalue: Any
    rvalue: Any


def _compare(
    pairs: list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]],
    points: list[_Point],
    wanted: int,
    deadline: _Deadline,
) -> tuple[bool, bool, _Mismatch | None, int]:
    """(equal, all decided symbolically, first mismatch, points used)."""
    numeric = []
    for where, entry, lhs, rhs in pairs:
        deadline.check()
        if _tree_size(lhs) >= MAX_EXPR_NODES or _tree_size(rhs) >= MAX_EXPR_NODES:
            raise VerifyError("the instantiated claim is too large to check")
        difference = lhs - rhs
        if difference == 0:
            continue
        if (
            sp.count_ops(difference) <= _SYMBOLIC_OPS
            and not difference.has(sp.Piecewise)
            # expand((x + 1)^99) is slow; only small integer powers are expanded.
            and all(not p.exp.is_Number or abs(p.exp) <= 4 for p in difference.atoms(sp.Pow))
        ):
            try:
                if sp.expand(difference) == 0:
                    continue
            except (TypeError, ValueError, RecursionError):
                pass
        numeric.append((where, entry, lhs, rhs))
    if not numeric:
        return True, True, None, 0
    used = 0
    with mpmath.workdps(_DIGITS):
        for point in points:
            if used >= wanted:
                break
            deadline.check()
            memo: dict = {}
            results = []
            try:
                for where, entry, lhs, rhs in numeric:
                    results.append(
                        (
                            where,
                            entry,
                            lhs,
                            rhs,
                            _mp_eval(lhs, point.mp, memo),
                            _mp_eval(rhs, point.mp, memo),
                        )
                    )
            except _Kink:
                continue
            except RecursionError:
                raise VerifyError("the claim nests too deeply to evaluate") from None
            if any(mpmath.isnan(r[4]) for r in results):
                continue  # the left side is undefined here (log of a negative); try another
            used += 1
            for where, entry, lhs, rhs, lv, rv in results:
                scale = max(mpmath.mpf(1), abs(lv))
                if mpmath.isnan(rv) or abs(lv - rv) > _TOLERANCE * scale:
                    return False, False, _Mismatch(where, entry, lhs, rhs, point, lv, rv), used
    if used == 0:
        raise VerifyError("the claim is undefined at every sampled point")
    return True, False, None, used


# ---------------------------------------------------------------- bindings


def _labels(equation: Expr, profile: _Profile) -> list[tuple[_Ref, Name]]:
    out = []
    calls = {id(c.func) for c in iter_nodes(equation) if isinstance(c, Call)}
    for node in iter_nodes(equation):
        if isinstance(node, Name) and id(node) not in calls:
            out.append((profile.resolve(node), node))
    return out


def _bindings(refs: list[_Ref], offsets: dict[str, int], L: int) -> list[dict[str, int]]:
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
            if r.role not in _LAYERED or r.label is None:
                continue
            var, off = r.label
            claim = off if var is None else binding[var] + off
            if not _valid_layer(r.role, claim - offsets[r.role], L):
                ok = False
                break
        if ok:
            out.append(binding)
    return out


def _free_indices(equation: Equation, profile: _Profile) -> list[str]:
    bound: set[str] = set()
    seen: list[str] = []
    for node in iter_nodes(equation):
        if isinstance(node, IndexSum):
            bound.add(node.index)
    for ref, _ in _labels(equation, profile):
        for item in ref.indices:
            if not item.isdigit() and item not in bound and item not in seen:
                seen.append(item)
    return seen


# ---------------------------------------------------------------- rendering ASTs


_LATEX_GREEK = {"delta", "Delta", "Theta", "theta", "lambda", "sigma", "phi", "varphi", "ell"}


@dataclass(frozen=True)
class _Style:
    latex: bool
    parenthesized: bool


def _render(node: Expr, style: _Style) -> str:  # noqa: C901, PLR0911
    def r(n: Expr) -> str:
        return _render(n, style)

    def wrap(n: Expr, ops: tuple[str, ...] = ("add", "sub")) -> str:
        text = r(n)
        if (isinstance(n, BinOp) and n.op in ops) or isinstance(n, Neg):
            return f"({text})"
        return text

    if isinstance(node, Number):
        v = node.value
        if v.denominator == 1:
            return str(v.numerator)
        return (
            rf"\frac{{{v.numerator}}}{{{v.denominator}}}"
            if style.latex
            else f"{v.numerator}/{v.denominator}"
        )
    if isinstance(node, Name):
        return _render_name(node, style)
    if isinstance(node, Neg):
        return "-" + wrap(node.operand)
    if isinstance(node, Transpose):
        inner = node.operand
        text = (
            r(inner)
            if isinstance(inner, Name) and not (style.latex and inner.sup)
            else f"({r(inner)})"
        )
        return f"{text}^T" if style.latex else f"{text}.T"
    if isinstance(node, Call):
        fname = node.func.base
        if style.latex:
            fname = "\\" + fname if fname in _LATEX_GREEK | {"exp", "log", "tanh"} else fname
        return f"{fname}{chr(39) * node.func.primes}({', '.join(r(a) for a in node.args)})"
    if isinstance(node, IndexSum):
        if style.latex:
            return rf"\sum_{node.index} {wrap(node.body)}"
        return f"sum_{node.index}({r(node.body)})"
    if isinstance(node, BinOp):
        op = node.op
        if op == "add":
            return f"{r(node.left)} + {r(node.right)}"
        if op == "sub":
            return f"{r(node.left)} - {wrap(node.right)}"
        if op == "div":
            if style.latex:
                return rf"\frac{{{r(node.left)}}}{{{r(node.right)}}}"
            return f"{wrap(node.left)}/{wrap(node.right, ('add', 'sub', 'mul', 'hadamard', 'div'))}"
        if op == "pow":
            base = wrap(node.left, ("add", "sub", "mul", "hadamard", "matmul", "div"))
            return (
                f"{base}^{{{r(node.right)}}}"
                if style.latex
                else f"{base}^{wrap(node.right, ('add', 'sub', 'mul', 'hadamard', 'div'))}"
            )
        sym = {
            ("mul", True): " ",
            ("matmul", True): " ",
            ("hadamard", True): r" \odot ",
            ("mul", False): "*",
            ("matmul", False): " @ ",
            ("hadamard", False): " * ",
        }[(op, style.latex)]
        left = r(node.left)
        if (
            isinstance(node.left, BinOp)
            and node.left.op in ("add", "sub")
            or isinstance(node.left, Neg)
        ):
            left = f"({left})"
        right = wrap(node.right)
        if style.latex and op in ("mul", "matmul") and isinstance(node.right, Number):
            right = f"\\cdot {right}"
        return f"{left}{sym}{right}"
    if isinstance(node, Derivative):
        if style.latex:
            return rf"\frac{{\partial {r(node.num)}}}{{\partial {r(node.den)}}}"
        return f"d{r(node.num)}/d{r(node.den)}"
    if isinstance(node, Norm):
        return rf"\|{r(node.operand)}\|" if style.latex else f"norm({r(node.operand)})"
    if isinstance(node, Equation):
        return f"{r(node.lhs)} = {r(node.rhs)}"
    return "?"


def _render_name(node: Name, style: _Style) -> str:
    base = node.base
    if style.latex:
        text = "\\" + base if base in _LATEX_GREEK else base
        if "hat" in node.decorations:
            text = rf"\hat{{{text}}}"
        if node.sup:
            label = node.sup[0]
            label = f"({label})" if style.parenthesized else label
            text += f"^{{{label}}}" if len(label) > 1 else f"^{label}"
        if node.sub:
            joined = "".join(node.sub) if all(len(s) == 1 for s in node.sub) else ",".join(node.sub)
            text += f"_{{{joined}}}" if len(joined) > 1 else f"_{joined}"
        return text + "'" * node.primes
    if "hat" in node.decorations:
        base = f"{base}_hat"
    label = node.sup[0] if node.sup else None
    if label is not None and label.isdigit():
        return f"{base}{label}" + (f"_{''.join(node.sub)}" if node.sub else "")
    if label is None and len(node.sub) == 1 and node.sub[0].isdigit():
        return f"{base}{node.sub[0]}"
    subs = list(node.sub)
    if label is not None and (label.isdigit() or label in ("l", "L")):
        subs.insert(0, label)
        label = None
    text = base + ("_" + "_".join(subs) if subs else "")
    if label is not None:
        text += f"^({label})"
    return text


def _render_sympy(expr: sp.Basic, names: dict[sp.Symbol, str], style: _Style) -> str:
    """A brute-force expression with instance symbols renamed to the claim's notation."""
    renamed = expr.xreplace({s: sp.Symbol(n) for s, n in names.items() if s in expr.free_symbols})
    return sp.latex(renamed) if style.latex else sp.sstr(renamed)


# ---------------------------------------------------------------- notation of the claim


class _Writer:
    """Builds names in the claim's notation for internal quantities (role, layer)."""

    def __init__(self, profile: _Profile, offsets: dict[str, int]) -> None:
        self.profile = profile
        self.offsets = offsets
        # A claim about one neuron without layer labels is answered without labels too.
        self.unlabeled = False

    def letter(self, role: str, indexed: bool) -> str:
        letters = self.profile.letters
        if role in _LAYERED:
            key = role + ("_entry" if indexed else "")
            if key in letters:
                return letters[key]
            other = letters.get(role + ("" if indexed else "_entry"))
            if role == "W":
                if other is not None:
                    if other == "Theta":
                        return "Theta"
                    return other.lower() if indexed else other.upper()
                return "w" if indexed else "W"
            if other is not None:
                return other
            defaults = {
                "z": "a" if self.profile.goodfellow else "z",
                "a": "h" if self.profile.goodfellow else "a",
                "delta": "g" if self.profile.goodfellow else "delta",
                "b": "b",
                "Delta": "Delta",
            }
            return defaults[role]
        return letters.get(
            role, {"x": "x", "y": "y", "lambda": "lambda", "n": "n", "yhat": "y"}[role]
        )

    def name(self, role: str, internal: Label | None, indices: tuple[str, ...] = ()) -> Name:
        """``role`` at internal layer ``internal`` (var, offset) in the claim's notation."""
        if role == "a" and internal is not None and internal[0] is None and internal[1] == 0:
            return Name(self.letter("x", bool(indices)), sub=indices)
        if role in ("x", "y", "lambda", "n"):
            return Name(self.letter(role, bool(indices)), sub=indices)
        if internal is None or self.unlabeled:
            return Name(self.letter(role, bool(indices)), sub=indices)
        var, off = internal
        claim_off = off + self.offsets[role]
        if var is None:
            label = str(claim_off)
        else:
            label = var if claim_off == 0 else f"{var}{claim_off:+d}"
        return Name(self.letter(role, bool(indices)), sub=indices, sup=(label,))

    def function(self, activation: str = "") -> str:
        for fname in self.profile.functions:
            if fname in _GENERIC_FUNCTIONS:
                return fname
        if self.profile.goodfellow:
            return "f"
        return "sigma" if activation == "sigmoid" else "phi"


# ---------------------------------------------------------------- correct formulas


@dataclass(frozen=True)
class _Candidate:
    """A correct right-hand side (AST) with its mutations (diagnosis id, AST)."""

    rhs: Expr
    mutations: tuple[tuple[str, Expr], ...]


def _mul(*factors: Expr, op: str = "mul") -> Expr:
    out = factors[0]
    for f in factors[1:]:
        out = BinOp(op, out, f)
    return out


def _sympy_to_ast(expr: sp.Expr, leaf: Callable[[sp.Basic], Expr | None], vector: bool) -> Expr:  # noqa: C901
    """Convert a (small, engine-derived) SymPy expression to an AST in claim notation."""
    mapped = leaf(expr)
    if mapped is not None:
        return mapped
    if isinstance(expr, sp.Integer | sp.Rational):
        if expr < 0:
            return Neg(Number(Fraction(-expr.p, expr.q)))
        return Number(Fraction(expr.p, expr.q))
    if isinstance(expr, sp.Add):
        terms = list(expr.as_ordered_terms())
        # y - a rather than -a + y: start with a term that has no minus sign.
        positive = [t for t in terms if t.as_coeff_Mul()[0] > 0]
        if positive:
            terms.remove(positive[0])
            terms.insert(0, positive[0])
        out = _sympy_to_ast(terms[0], leaf, vector)
        for t in terms[1:]:
            coeff, rest = t.as_coeff_Mul()
            if coeff < 0:
                out = BinOp("sub", out, _sympy_to_ast(-t, leaf, vector))
            else:
                out = BinOp("add", out, _sympy_to_ast(t, leaf, vector))
        return out
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        factors = list(sp.Mul.make_args(rest))
        adds = [f for f in factors if isinstance(f, sp.Add)]
        # Prefer flipping a sum with a negative constant (a - 1 -> 1 - a).
        adds.sort(key=lambda f: not any(t.is_Number and t < 0 for t in f.args))
        if coeff < 0 and adds:
            # -2 (y - a) reads better as 2 (a - y): negate the one sum instead.
            coeff = -coeff
            factors = [-f if f is adds[0] else f for f in factors]
        if coeff < 0:
            return Neg(_sympy_to_ast(-expr, leaf, vector))
        nums = [f for f in factors if isinstance(f, sp.Pow) and f.exp == -1]
        dens = [f.base for f in nums]
        factors = [f for f in factors if f not in nums]
        parts = [_sympy_to_ast(f, leaf, vector) for f in factors]
        out: Expr | None = None
        if coeff != 1:
            out = _sympy_to_ast(coeff, leaf, vector)
        for p in parts:
            if out is None:
                out = p
            else:
                op = "hadamard" if vector and not isinstance(out, Number) else "mul"
                out = BinOp(op, out, p)
        if out is None:
            out = Number(Fraction(1))
        for d in dens:
            out = BinOp("div", out, _sympy_to_ast(d, leaf, vector))
        return out
    if isinstance(expr, sp.Pow):
        if expr.exp == -1:
            return BinOp("div", Number(Fraction(1)), _sympy_to_ast(expr.base, leaf, vector))
        return BinOp(
            "pow", _sympy_to_ast(expr.base, leaf, vector), _sympy_to_ast(expr.exp, leaf, vector)
        )
    if isinstance(expr, sp.exp):
        return Call(Name("exp"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    if isinstance(expr, sp.log):
        return Call(Name("log"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    if isinstance(expr, sp.tanh):
        return Call(Name("tanh"), (_sympy_to_ast(expr.args[0], leaf, vector),))
    raise _NoTemplate(f"cannot write {type(expr).__name__}")


class _NoTemplate(Exception):
    pass


def _leaf_map(writer: _Writer, layer: Label, indices: tuple[str, ...], fname: str) -> Callable:
    from symprop.core.calculus import ActivationApplied
    from symprop.core.registry import a_vec, j_idx, y_vec, z_vec

    def leaf(e: sp.Basic) -> Expr | None:
        if e == a_scalar or (
            isinstance(e, sp.Indexed) and e.base == a_vec and e.indices[0] == j_idx
        ):
            return writer.name("a", layer, indices)
        if e == y_scalar or (
            isinstance(e, sp.Indexed) and e.base == y_vec and e.indices[0] == j_idx
        ):
            return writer.name("y", None, indices)
        if e == z_scalar or (
            isinstance(e, sp.Indexed) and e.base == z_vec and e.indices[0] == j_idx
        ):
            return writer.name("z", layer, indices)
        if isinstance(e, ActivationApplied):
            inner = _sympy_to_ast(e.args[0], leaf, not indices)
            return Call(
                Name(fname if e.activation_name == "sigmoid" else e.activation_name), (inner,)
            )
        if isinstance(e, sp.Indexed | sp.Sum):
            raise _NoTemplate("an index sum")
        return None

    return leaf


def _phi_prime(
    writer: _Writer, layer: Label, indices: tuple[str, ...], activation: str = ""
) -> Expr:
    return Call(Name(writer.function(activation), primes=1), (writer.name("z", layer, indices),))


def _phi_mutations(
    rhs: Expr, activation: str, writer: _Writer, layer: Label, indices: tuple[str, ...]
) -> list[tuple[str, Expr]]:
    """Mutations of the φ' factor: dropped, evaluated at a, replaced by the output form at z."""
    out: list[tuple[str, Expr]] = [("missing_phi_prime", _drop_calls(rhs))]
    out.append(("phi_prime_at_a", _replace_prime_args(rhs, writer, layer, indices)))
    form = derive_activation(activation)
    if form.kind == "output":
        vector = not indices
        zname = writer.name("z", layer, indices)
        at_z = _sympy_to_ast(form.form, lambda e: zname if e == a_scalar else None, vector)
        out.append(("output_form_at_z", _replace_primes(rhs, at_z)))
    return out


def _map_ast(node: Expr, fn: Callable[[Expr], Expr | None]) -> Expr:
    mapped = fn(node)
    if mapped is not None:
        return mapped
    if isinstance(node, BinOp):
        return replace(node, left=_map_ast(node.left, fn), right=_map_ast(node.right, fn))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=_map_ast(node.operand, fn))
    if isinstance(node, IndexSum):
        return replace(node, body=_map_ast(node.body, fn))
    if isinstance(node, Call):
        return replace(node, args=tuple(_map_ast(a, fn) for a in node.args))
    return node


def _is_prime(node: Expr) -> bool:
    return isinstance(node, Call) and node.func.primes > 0


def _drop_calls(node: Expr) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if isinstance(n, BinOp) and n.op in ("mul", "hadamard"):
            if _is_prime(n.left):
                return _drop_calls(n.right)
            if _is_prime(n.right):
                return _drop_calls(n.left)
        return None

    return _map_ast(node, fn)


def _replace_primes(node: Expr, by: Expr) -> Expr:
    return _map_ast(node, lambda n: by if _is_prime(n) else None)


def _replace_prime_args(
    node: Expr, writer: _Writer, layer: Label, indices: tuple[str, ...]
) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if _is_prime(n):
            assert isinstance(n, Call)
            return replace(n, args=(writer.name("a", layer, indices),))
        return None

    return _map_ast(node, fn)


def _untranspose(node: Expr) -> Expr:
    return _map_ast(node, lambda n: n.operand if isinstance(n, Transpose) else None)


def _swap_indices(node: Expr, i: str, j: str) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if isinstance(n, Name) and n.sub:
            return replace(n, sub=tuple(j if s == i else i if s == j else s for s in n.sub))
        return None

    return _map_ast(node, fn)


def _reverse_weight_indices(node: Expr, weight_letters: set[str]) -> Expr:
    def fn(n: Expr) -> Expr | None:
        if isinstance(n, Name) and n.base in weight_letters and len(n.sub) == 2:
            return replace(n, sub=(n.sub[1], n.sub[0]))
        return None

    return _map_ast(node, fn)


def _common_mutations(rhs: Expr) -> list[tuple[str, Expr]]:
    out: list[tuple[str, Expr]] = [("sign", Neg(rhs))]
    half, two = Number(Fraction(1, 2)), Number(Fraction(2))
    out += [("factor_2", BinOp("mul", half, rhs)), ("factor_2", BinOp("mul", two, rhs))]
    if isinstance(rhs, BinOp) and rhs.op == "add":
        out += [
            ("factor_2", BinOp("add", rhs.left, BinOp("mul", half, rhs.right))),
            ("factor_2", BinOp("add", rhs.left, BinOp("mul", two, rhs.right))),
        ]
    return out


def _candidates(lhs: Expr, profile: _Profile, env: _Env, writer: _Writer) -> list[_Candidate]:
    """Correct right-hand sides for the claim's left side at this binding, with mutations."""
    model = env.model
    L = model.L
    out: list[_Candidate] = []
    weight_letters = {"w", "W", "Theta", "theta"}

    def internal_label(ref: _Ref) -> Label:
        m = _internal(ref, env)
        if ref.label is None or ref.label[0] is None:
            return (None, m)
        var, off = ref.label
        return (var, off - env.offsets[ref.role])

    def shift(label: Label, by: int) -> Label:
        return (label[0], label[1] + by)

    delta_ref: _Ref | None = None
    if isinstance(lhs, Name):
        ref = profile.resolve(lhs)
        if ref.role == "delta":
            delta_ref = ref
    if isinstance(lhs, Derivative) and isinstance(lhs.den, Name) and isinstance(lhs.num, Name):
        num, den = profile.resolve(lhs.num), profile.resolve(lhs.den)
        if num.role in _COST_ROLES and den.role == "z":
            delta_ref = _Ref("delta", den.label, den.indices)
        elif num.role in _COST_ROLES and den.role in ("W", "b"):
            out += _gradient_candidates(num, den, env, writer, internal_label(den), weight_letters)
        elif all(w == 1 for w in model.net.widths) and not den.indices and not num.indices:
            out += _chain_candidates(num, den, env, writer, internal_label)
    if delta_ref is not None:
        m = _internal(delta_ref, env)
        label = internal_label(delta_ref)
        idx = delta_ref.indices
        if m == L:
            out += _output_delta_candidates(model, writer, label, idx)
        else:
            out += _hidden_delta_candidates(model, writer, label, idx, m, weight_letters)
    if isinstance(lhs, Call) and lhs.func.primes == 1 and len(lhs.args) == 1:
        act_name = (
            _Evaluator(profile, env, _Deadline(5)).activation_for(lhs)[0]
            if lhs.func.base in _GENERIC_FUNCTIONS
            else lhs.func.base
        )
        if act_name in ACTIVATIONS and ACTIVATIONS[act_name].elementwise:
            form = derive_activation(act_name)
            arg = lhs.args[0]
            fcall = Call(Name(lhs.func.base), (arg,))
            try:
                if form.kind == "output":
                    rhs = _sympy_to_ast(
                        form.form, lambda e: fcall if e == a_scalar else None, False
                    )
                else:
                    rhs = _sympy_to_ast(form.raw, lambda e: arg if e == z_scalar else None, False)
                out.append(_Candidate(rhs, tuple(_common_mutations(rhs))))
            except _NoTemplate:
                pass
    return out


def _chain_candidates(
    num: _Ref, den: _Ref, env: _Env, writer: _Writer, internal_label: Callable[[_Ref], Label]
) -> list[_Candidate]:
    """Single units: ∂a^m/∂w^k as the chain rule's product σ'(z^m) w^m … σ'(z^k) a^{k-1}."""
    model = env.model
    if num.role == "yhat":
        num = _Ref("a", ("L", 0), ())
    if num.role not in ("z", "a") or den.role not in ("W", "b", "z", "a"):
        return []
    var, off = internal_label(num)
    m, target = _internal(num, env), _internal(den, env)
    role, layer = num.role, m
    factors: list[Expr] = []
    primes: list[int] = []  # positions of φ' factors, for the mutations

    def label(t: int) -> Label:
        return (var, off - (m - t)) if var is not None else (None, t)

    while (role, layer) != (den.role, target):
        if layer < target or layer < 1:
            return []  # the denominator is not upstream of the numerator
        if role == "a":
            primes.append(len(factors))
            act = model.activation(layer)
            factors.append(_phi_prime(writer, label(layer), (), act))
            role = "z"
        elif den.role == "W" and layer == target:
            factors.append(writer.name("a", label(layer - 1)))
            break
        elif den.role == "b" and layer == target:
            factors.append(Number(Fraction(1)))
            break
        else:
            factors.append(writer.name("W", label(layer), ()))
            role, layer = "a", layer - 1
    if not factors:
        return []
    rhs = _mul(*factors)
    muts: list[tuple[str, Expr]] = []
    for pos in primes:
        rest = [f for i, f in enumerate(factors) if i != pos]
        if rest:
            muts.append(("missing_phi_prime", _mul(*rest)))
    muts += _common_mutations(rhs)
    return [_Candidate(rhs, tuple(muts))]


def _output_delta_candidates(
    model: _Model, writer: _Writer, label: Label, idx: tuple[str, ...]
) -> list[_Candidate]:
    act = model.activation(model.L)
    od = derive_output_delta(act, model.net.loss)
    fname = writer.function(act)
    leaf = _leaf_map(writer, label, idx, fname)
    vector = not idx
    out = []
    try:
        expr = od.expr
        if not expr.has(sp.Piecewise, sp.Sum):
            expr = sp.factor(expr)  # 2(a - y) rather than 2a - 2y
        simplified = _sympy_to_ast(expr, leaf, vector)
    except _NoTemplate:
        simplified = None
    product = None
    if ACTIVATIONS[act].elementwise:
        dloss = _sympy_to_ast(sp.factor(od.dloss), leaf, vector)
        product = BinOp("hadamard" if vector else "mul", dloss, _phi_prime(writer, label, idx, act))
    muts: list[tuple[str, Expr]] = []
    for base in (product, simplified):
        if base is None:
            continue
        if base is product:
            muts += _phi_mutations(base, act, writer, label, idx)
        muts += _common_mutations(base)
    # A pair that cancels is best stated simplified (a - y); otherwise the chain-rule
    # product with φ' reads as people write it.
    order = (simplified, product) if od.canonical_factor is not None else (product, simplified)
    for base in order:
        if base is not None:
            out.append(_Candidate(base, tuple(muts)))
    return out


def _hidden_delta_candidates(
    model: _Model,
    writer: _Writer,
    label: Label,
    idx: tuple[str, ...],
    m: int,
    weight_letters: set[str],
) -> list[_Candidate]:
    nxt = (label[0], label[1] + 1)
    act = model.activation(m)
    if idx:
        j = idx[0]
        k = next(c for c in "kijmpq" if c != j)
        body = BinOp("mul", writer.name("W", nxt, (k, j)), writer.name("delta", nxt, (k,)))
        rhs: Expr = BinOp("mul", _phi_prime(writer, label, idx, act), IndexSum(k, body))
        swapped = _reverse_weight_indices(rhs, weight_letters)
    else:
        back = BinOp("matmul", Transpose(writer.name("W", nxt)), writer.name("delta", nxt))
        rhs = BinOp("hadamard", back, _phi_prime(writer, label, idx, act))
        swapped = _untranspose(rhs)
    muts = [
        ("transpose", swapped),
        *_phi_mutations(rhs, act, writer, label, idx),
        *_common_mutations(rhs),
    ]
    return [_Candidate(rhs, tuple(muts))]


def _gradient_candidates(
    num: _Ref, den: _Ref, env: _Env, writer: _Writer, label: Label, weight_letters: set[str]
) -> list[_Candidate]:
    model = env.model
    objective = num.role == "J"
    lam = model.lam != 0 and objective
    prev = (label[0], label[1] - 1)
    idx = den.indices
    muts: list[tuple[str, Expr]] = []
    if den.role == "W":
        if model.batch > 1 and objective:
            if idx:
                return []  # Δ has no per-entry template here; the brute force answers
            main: Expr = BinOp(
                "mul",
                BinOp("div", Number(Fraction(1)), writer.name("n", None)),
                writer.name("Delta", label),
            )
            muts.append(("missing_1_over_n", writer.name("Delta", label)))
        elif idx:
            main = BinOp(
                "mul", writer.name("a", prev, (idx[1],)), writer.name("delta", label, (idx[0],))
            )
            muts.append(
                ("transpose", _swap_indices(main, idx[0], idx[1]) if idx[0] != idx[1] else main)
            )
            muts.append(
                (
                    "transpose",
                    BinOp(
                        "mul",
                        writer.name("a", prev, (idx[0],)),
                        writer.name("delta", label, (idx[1],)),
                    ),
                )
            )
        else:
            main = BinOp("matmul", writer.name("delta", label), Transpose(writer.name("a", prev)))
            muts.append(("transpose", Transpose(main)))
            muts.append(
                (
                    "transpose",
                    BinOp("matmul", writer.name("a", prev), Transpose(writer.name("delta", label))),
                )
            )
        if lam:
            decay = BinOp(
                "mul",
                BinOp("mul", Number(Fraction(2)), writer.name("lambda", None)),
                writer.name("W", label, idx),
            )
            rhs: Expr = BinOp("add", main, decay)
            muts = [(d, BinOp("add", m_, decay)) for d, m_ in muts]
        else:
            rhs = main
    else:  # bias
        if model.batch > 1 and objective:
            return []
        rhs = writer.name("delta", label, idx[:1])
        decay = BinOp(
            "mul",
            BinOp("mul", Number(Fraction(2)), writer.name("lambda", None)),
            writer.name("b", label, idx[:1]),
        )
        if lam and model.net.regularize_biases:
            muts.append(("bias_regularised", rhs))
            rhs = BinOp("add", rhs, decay)
        elif objective:
            muts.append(("bias_regularised", BinOp("add", rhs, decay)))
    muts += _common_mutations(rhs)
    return [_Candidate(rhs, tuple(muts))]


# ---------------------------------------------------------------- checking one claim


def _first_error(text: str) -> tuple[str, str, int | None]:
    try:
        parse(text, "plain")
    except ParseError as exc:
        return str(exc).split("\n")[0], text, exc.position
    return "cannot read the claim", text, None


def _parse_claim(text: str) -> tuple[Equation, bool]:
    """The normalised equation, and whether it was read as LaTeX."""
    if not isinstance(text, str):
        raise ParseError(f"expected a string, got {type(text).__name__}")
    latex = bool(re.search(r"\\[A-Za-z|]|[{}]", text))
    try:
        node = parse(text)
    except ParseError:
        # g(z)(1 - g(z)) has no backslash but is LaTeX (juxtaposition); plain syntax
        # reported the error, so that error is kept when LaTeX fails too.
        if re.search(r"\\|[{}]", text):
            raise
        try:
            node = parse(text, "latex")
        except ParseError:
            raise ParseError(*_first_error(text)) from None
        latex = True
    if not isinstance(node, Equation):
        raise ParseError("a claim must be an equation: left side = right side", text, len(text))
    normalised = _normalise(node)
    assert isinstance(normalised, Equation)
    return normalised, latex


def _numbering_candidates(equation: Equation, profile: _Profile, setting: Setting) -> list[str]:
    if setting.numbering != "auto":
        return [setting.numbering]
    names = [n for n in iter_nodes(equation) if isinstance(n, Name)]
    if any(n.base in ("Theta", "theta") for n in names):
        return ["ng"]
    preferred = ["input0", "input1"]
    if setting.network is not None and setting.network.notation == "ng":
        preferred = ["ng", *preferred]
    return preferred


def _network_for(equation: Equation, profile: _Profile, setting: Setting) -> Network:
    if setting.network is not None:
        return setting.network.with_widths([2] * (setting.network.depth + 1))
    refs = [r for r, _ in _labels(equation, profile)]
    labels = [r.label for r in refs if r.role in _LAYERED and r.label is not None]
    if not labels:
        return setting.single_network(1)
    concrete = [off for var, off in labels if var is None]
    return setting.single_network(min(MAX_DEPTH, max([3, *concrete])))


def _batch_for(equation: Equation, profile: _Profile) -> int:
    refs = [r for r, _ in _labels(equation, profile)]
    return 3 if any(r.role in ("Delta", "n") for r in refs) else 1


def _where_text(binding: dict[str, int], indices: dict[str, int] | None = None) -> str:
    parts = [f"{k} = {v}" for k, v in sorted(binding.items()) if k != "L"]
    parts += [f"{k} = {v}" for k, v in (indices or {}).items()]
    return ", ".join(parts)


def _display_names(model: _Model, writer: _Writer, style: _Style) -> dict[sp.Symbol, str]:
    """Instance symbols in the claim's notation (w2_11 -> w^2_{11})."""
    names: dict[sp.Symbol, str] = {}
    inst = model.insts[0]
    single = all(w == 1 for w in model.net.widths)
    for lay in inst.W:
        for r in range(inst.W[lay].rows):
            for c in range(inst.W[lay].cols):
                idx = () if single else (str(r + 1), str(c + 1))
                names[inst.W[lay][r, c]] = _render(writer.name("W", (None, lay), idx), style)
            idx = () if single else (str(r + 1),)
            names[inst.b[lay][r]] = _render(writer.name("b", (None, lay), idx), style)
    for s, it in enumerate(model.insts):
        tag = (
            f"^{{({s + 1})}}"
            if model.batch > 1 and style.latex
            else (f"({s + 1})" if model.batch > 1 else "")
        )
        for role, vec in (("x", it.x), ("y", it.y)):
            for r, sym in enumerate(vec):
                idx = () if vec.rows == 1 else (str(r + 1),)
                names[sym] = _render(writer.name(role, None, idx), style) + tag
    if model.lam != 0:
        names[model.lam] = r"\lambda" if style.latex else "lambda"
    return names


def _fmt(value: Any) -> str:
    if isinstance(value, mpmath.mpf) and mpmath.isnan(value):
        return "undefined"
    return mpmath.nstr(value, 12)


@dataclass
class _Outcome:
    ok: bool
    symbolic: bool
    used: int
    checked: list[str]
    mismatch: _Mismatch | None
    reason: str
    binding: dict[str, int] | None
    model: _Model
    offsets: dict[str, int]
    numbering: str


def _evaluate_sides(
    equation: Equation,
    profile: _Profile,
    model: _Model,
    offsets: dict[str, int],
    binding: dict[str, int],
    free: list[str],
    deadline: _Deadline,
) -> tuple[list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]], str]:
    """Both sides at every value of the free unit indices; a reason when a side is undefined."""
    env = _Env(model, offsets, binding)
    ev = _Evaluator(profile, env, deadline)
    ranges = []
    for index in free:
        ranges.append(range(1, _index_range(equation, index, ev) + 1))
    pairs = []
    for values in _product(ranges):
        env.indices = dict(zip(free, values, strict=True))
        try:
            lhs = ev(equation.lhs)
        except _NotDefined as exc:
            raise VerifyError(f"the left side is not defined: {shown(str(exc))}") from None
        try:
            rhs = ev(equation.rhs)
        except _NotDefined as exc:
            return (
                [],
                f"the right side is not defined at "
                f"{_where_text(binding, env.indices) or 'this layer'}: {exc}",
            )
        if lhs.shape != rhs.shape:
            return [], (
                f"the sides have different shapes: {_shape(lhs)} on the left, {_shape(rhs)} on "
                "the right"
            )
        for r in range(lhs.rows):
            for c in range(lhs.cols):
                # Which entry of a vector or matrix side differs is part of the answer.
                where = dict(env.indices)
                if lhs.rows > 1:
                    where["row"] = r + 1
                if lhs.cols > 1:
                    where["column"] = c + 1
                pairs.append((where, (r, c), lhs[r, c], rhs[r, c]))
    return pairs, ""


def _product(ranges: list[range]) -> Iterator[tuple[int, ...]]:
    if not ranges:
        yield ()
        return
    for head in ranges[0]:
        for rest in _product(ranges[1:]):
            yield (head, *rest)


def _check_under(
    equation: Equation, profile: _Profile, setting: Setting, numbering: str, deadline: _Deadline
) -> _Outcome | None:
    offsets = NUMBERINGS[numbering]
    network = _network_for(equation, profile, setting)
    model = _model(network, _batch_for(equation, profile))
    refs = [r for r, _ in _labels(equation, profile)]
    bindings = _bindings(refs, offsets, model.L)
    if not bindings:
        return None
    free = _free_indices(equation, profile)
    points = _points(model, setting.points, setting.seed)
    checked, symbolic_all, used_max = [], True, 0
    for binding in bindings:
        pairs, reason = _evaluate_sides(equation, profile, model, offsets, binding, free, deadline)
        where = _where_text(binding)
        if reason:
            return _Outcome(
                False, False, 0, checked, None, reason, binding, model, offsets, numbering
            )
        equal, symbolic, mismatch, used = _compare(pairs, points, setting.points, deadline)
        if where:
            checked.append(where)
        if not equal:
            return _Outcome(
                False, False, used, checked, mismatch, "", binding, model, offsets, numbering
            )
        symbolic_all &= symbolic
        used_max = max(used_max, used)
    return _Outcome(
        True, symbolic_all, used_max, checked, None, "", None, model, offsets, numbering
    )


def verify_claim(text: str, setting: Setting) -> Verdict:
    """Check one hand-derived claim against brute-force differentiation.

    Parameters
    ----------
    text
        An equation in LaTeX (``\\delta^L = a^L - y``) or plain syntax
        (``dC/dW2 = delta2 @ a1.T``); surrounding ``$`` are allowed.
    setting
        The network (or single-unit activation and loss) the claim is about.

    Returns
    -------
    Verdict
        ✓ or ✗ with counterexample, correct right-hand side and diagnosis.

    Raises
    ------
    ParseError
        Malformed input, with the column of the problem.
    VerifyError
        Input that parses but cannot be checked: an unknown name, a layer label that fits
        no layer of the network, or a claim too expensive to check within the bound.

    Examples
    --------
    >>> s = Setting.single_unit("sigmoid", "binary_cross_entropy")
    >>> verify_claim(r"$\\delta^L = a^L - y$", s).ok
    True
    """
    if not isinstance(setting, Setting):
        raise VerifyError(f"setting: got {shown(setting)}; must be a Setting")
    try:
        with _hard_limit(setting.time_limit + 10):
            return _verify_claim(text, setting)
    except SymPropError:
        raise
    except RecursionError:
        raise VerifyError("the claim nests too deeply to check") from None
    except (
        ArithmeticError,
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
        NotImplementedError,
    ) as exc:
        # SymPy can reject odd but well-formed input in many ways; it is bad input here,
        # reported in one line rather than as a traceback.
        raise VerifyError(
            f"cannot check this claim ({type(exc).__name__}: {shown(str(exc))})"
        ) from None


@contextlib.contextmanager
def _hard_limit(seconds: float) -> Iterator[None]:
    """A backstop for the cooperative deadline: SIGALRM, when this is the main thread.

    The deadline is checked between evaluation steps; a single SymPy call in between is
    bounded by the size limits, and this alarm catches anything those missed. It is only
    armed when nobody else uses the alarm (test runners, the caller's own timers).
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise VerifyError(f"checking this claim took longer than {seconds:g} s; it was stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _verify_claim(text: str, setting: Setting) -> Verdict:
    """The work of :func:`verify_claim`, without its error translation."""
    deadline = _Deadline(setting.time_limit)
    claim = text.strip() if isinstance(text, str) else text
    if isinstance(claim, str):
        for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if (
                claim.startswith(open_)
                and claim.endswith(close)
                and len(claim) > len(open_) + len(close)
            ):
                claim = claim[len(open_) : -len(close)].strip()
                break
    equation, latex = _parse_claim(claim)
    profile = _Profile(equation)
    style = _Style(latex=latex, parenthesized="^{(" in claim or "^(" in claim and not latex)
    _labels(equation, profile)  # resolves every name: unknown ones are bad input, before any work
    outcomes: list[_Outcome] = []
    for numbering in _numbering_candidates(equation, profile, setting):
        outcome = _check_under(equation, profile, setting, numbering, deadline)
        if outcome is None:
            continue
        if outcome.ok:
            return Verdict(
                ok=True,
                claim=text if isinstance(text, str) else str(text),
                lhs=_render(equation.lhs, style),
                rhs=_render(equation.rhs, style),
                method="symbolic"
                if outcome.symbolic
                else f"numeric, {outcome.used} rational points",
                checked=tuple(outcome.checked),
                numbering=_NUMBERING_TEXT[numbering],
            )
        outcomes.append(outcome)
    if not outcomes:
        raise VerifyError(
            "no layer of the network fits the claim's labels"
            + (f" (the network has {setting.network.depth} layers)" if setting.network else "")
        )
    return _explain(text, equation, profile, style, outcomes[0], setting, deadline)


def _explain(
    text: str,
    equation: Equation,
    profile: _Profile,
    style: _Style,
    outcome: _Outcome,
    setting: Setting,
    deadline: _Deadline,
) -> Verdict:
    """A ✗ verdict: counterexample, a verified correct right-hand side, a diagnosis."""
    model, binding = outcome.model, outcome.binding
    assert binding is not None
    writer = _Writer(profile, outcome.offsets)
    writer.unlabeled = not any(
        r.label is not None for r, _ in _labels(equation, profile) if r.role in _LAYERED
    )
    names = _display_names(model, writer, style)
    mismatch = outcome.mismatch
    counter = None
    indices: dict[str, int] = {}
    if mismatch is not None:
        indices = {k: v for k, v in mismatch.where.items() if k not in ("row", "column")}
        used = (mismatch.lhs.free_symbols | mismatch.rhs.free_symbols) & set(names)
        shown = sorted(used, key=lambda s: names[s])[:16]
        where = [(k, str(v)) for k, v in sorted(binding.items()) if k != "L"]
        where += [(k, str(v)) for k, v in mismatch.where.items()]
        counter = Counterexample(
            where=tuple(where),
            values=tuple((names[s], str(mismatch.point.rational[s])) for s in shown),
            lhs_value=_fmt(mismatch.lvalue),
            rhs_value=_fmt(mismatch.rvalue),
        )
    env = _Env(model, outcome.offsets, dict(binding), dict(indices))
    correct, diagnosis = None, None
    points = _points(model, 4, setting.seed + 1)
    try:
        candidates = _candidates(equation.lhs, profile, env, writer)
    except (VerifyError, _NotDefined, _NoTemplate):
        candidates = []
    free = _free_indices(equation, profile)
    lhs_pairs = _side_pairs(
        equation.lhs, equation, profile, model, outcome.offsets, binding, free, deadline
    )
    rhs_pairs = _side_pairs(
        equation.rhs, equation, profile, model, outcome.offsets, binding, free, deadline
    )
    for cand in candidates:
        cand_pairs = _side_pairs(
            cand.rhs, equation, profile, model, outcome.offsets, binding, free, deadline
        )
        if (
            cand_pairs is None
            or lhs_pairs is None
            or not _same(lhs_pairs, cand_pairs, points, deadline)
        ):
            continue
        correct = _render(cand.rhs, style)
        if rhs_pairs is not None:
            for diag, mutated in cand.mutations:
                mut_pairs = _side_pairs(
                    mutated, equation, profile, model, outcome.offsets, binding, free, deadline
                )
                if mut_pairs is not None and _same(rhs_pairs, mut_pairs, points, deadline):
                    diagnosis = diag
                    break
        break
    if correct is None and lhs_pairs is not None:
        values = [lhs for _, _, lhs in lhs_pairs]
        if len(values) == 1:
            correct = _render_sympy(_fold(values[0], model, names), names, style)
    where_text = _where_text(binding)
    return Verdict(
        ok=False,
        claim=text,
        lhs=_render(equation.lhs, style),
        rhs=_render(equation.rhs, style),
        method=f"numeric, {outcome.used} rational points" if mismatch is not None else "",
        checked=tuple(outcome.checked),
        numbering=_NUMBERING_TEXT[outcome.numbering],
        counterexample=counter,
        correct=correct,
        correct_where=where_text,
        diagnosis=diagnosis,
        reason=outcome.reason,
    )


def _fold(expr: sp.Expr, model: _Model, names: dict[sp.Symbol, str]) -> sp.Expr:
    """Fold a brute-force expression back into named pre-activations where they occur."""
    inst = model.insts[0]
    replacements = {}
    for lay in sorted(inst.z, reverse=True):
        for r, e in enumerate(inst.z[lay]):
            if not isinstance(e, sp.Symbol):
                label = f"z{lay}_{r + 1}"
                replacements[e] = sp.Symbol(label)
                names[sp.Symbol(label)] = label
    return expr.xreplace(replacements) if expr.free_symbols else expr


def _side_pairs(
    node: Expr,
    equation: Equation,
    profile: _Profile,
    model: _Model,
    offsets: dict[str, int],
    binding: dict[str, int],
    free: list[str],
    deadline: _Deadline,
) -> list[tuple[dict[str, int], tuple[int, int], sp.Expr]] | None:
    env = _Env(model, offsets, dict(binding))
    ev = _Evaluator(profile, env, deadline)
    try:
        ranges = [range(1, _index_range(equation, i, ev) + 1) for i in free]
        out = []
        for values in _product(ranges):
            env.indices = dict(zip(free, values, strict=True))
            value = ev(node)
            for r in range(value.rows):
                for c in range(value.cols):
                    out.append((dict(env.indices), (r, c), value[r, c]))
        return out
    except (_NotDefined, VerifyError):
        return None


def _same(a: list, b: list, points: list[_Point], deadline: _Deadline) -> bool:
    if len(a) != len(b):
        return False
    pairs = [(w, e, x[2], y[2]) for x, y in zip(a, b, strict=True) for w, e in [(x[0], x[1])]]
    try:
        equal, _, _, _ = _compare(pairs, points, 3, deadline)
    except VerifyError:
        return False
    return equal


def verify_claims(texts: Iterable[str], setting: Setting) -> list[Verdict | SymPropError]:
    """Check several claims; a claim that is bad input yields its error instead of a verdict.

    Examples
    --------
    >>> s = Setting.single_unit("sigmoid", "binary_cross_entropy")
    >>> [v.ok for v in verify_claims(["delta = a - y", "delta = y - a"], s)]
    [True, False]
    """
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise VerifyError(f"texts: got {shown(texts)}; must be a list of claims")
    if not isinstance(setting, Setting):
        raise VerifyError(f"setting: got {shown(setting)}; must be a Setting")
    texts = list(itertools.islice(texts, MAX_CLAIMS + 1))
    if len(texts) > MAX_CLAIMS:
        raise VerifyError(
            f"more than {MAX_CLAIMS} claims; at most {MAX_CLAIMS} are checked at once"
        )
    out: list[Verdict | SymPropError] = []
    for text in texts:
        try:
            out.append(verify_claim(text, setting))
        except SymPropError as exc:
            out.append(exc)
    return out


def error_line(error: SymPropError) -> str:
    """One line for a bad claim: the message, with the column for a parse error."""
    if not isinstance(error, SymPropError):
        raise VerifyError(f"error: got {shown(error)}; must be a SymPropError")
    text = str(error).split("\n")[0]
    position = getattr(error, "position", None)
    if isinstance(error, ParseError) and position is not None:
        text += f" (column {position + 1})"
    return text


def verdicts_json(claims: list[str], results: list[Verdict | SymPropError]) -> str:
    """The ``--json`` document: one entry per claim, verdict or error."""
    if not all(isinstance(x, Iterable) and not isinstance(x, str) for x in (claims, results)):
        raise VerifyError("verdicts_json takes the claims and what verify_claims returned for them")
    claims, results = list(claims), list(results)
    if len(claims) != len(results) or not all(
        isinstance(r, (Verdict, SymPropError)) for r in results
    ):
        raise VerifyError("verdicts_json takes the claims and what verify_claims returned for them")
    entries = []
    for claim, result in zip(claims, results, strict=True):
        if isinstance(result, Verdict):
            entries.append(result.to_dict())
        else:
            entries.append({"ok": None, "claim": claim, "error": error_line(result)})
    return json.dumps({"claims": entries}, indent=2, ensure_ascii=False)
