"""The generic mistakes of the catalogue as AST mutations: sign, transpose, ⊙ vs matrix
product, wrong layer index, a vs z, λ scaling, factor 2, missing 1/n.

Each family maps a formula to its mutated variants. Applied to a correct right-hand side,
a variant that equals the claim names the claim's mistake; applied to the claim's own
right-hand side (every family is its own inverse, or holds its inverse), a variant that
equals the left side names it too: that is how a false link with no formula template (a
step in the middle of a chain, a free definition) is still diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from fractions import Fraction

from symprop.parsing import (
    BinOp,
    Call,
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
from symprop.verify.notation import LAYERED, Profile

Family = Callable[[Expr], Iterator[Expr]]


def _rebuild(node: Expr, children: tuple[Expr, ...]) -> Expr:
    if isinstance(node, BinOp):
        return replace(node, left=children[0], right=children[1])
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=children[0])
    if isinstance(node, IndexSum):
        return replace(node, body=children[0])
    if isinstance(node, Call):
        return replace(node, args=children)
    return node


def _kids(node: Expr) -> tuple[Expr, ...]:
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Neg | Transpose | Norm):
        return (node.operand,)
    if isinstance(node, IndexSum):
        return (node.body,)
    if isinstance(node, Call):
        return node.args
    return ()


def each_site(node: Expr, change: Callable[[Expr], list[Expr]]) -> Iterator[Expr]:
    """Every tree that differs from ``node`` by ``change`` applied at exactly one node."""
    for variant in change(node):
        yield variant
    kids = _kids(node)
    for i, kid in enumerate(kids):
        for variant in each_site(kid, change):
            yield _rebuild(node, (*kids[:i], variant, *kids[i + 1 :]))


def _role(profile: Profile, node: Expr) -> str | None:
    if not isinstance(node, Name):
        return None
    try:
        return profile.resolve(node).role
    except VerifyError:
        return None


# ---------------------------------------------------------------- the families


def sign(rhs: Expr) -> Iterator[Expr]:
    """The whole side negated (its own inverse)."""
    yield rhs.operand if isinstance(rhs, Neg) else Neg(rhs)


def factor_2(rhs: Expr) -> Iterator[Expr]:
    """The side, or one term of a sum, doubled or halved."""
    half, two = Number(Fraction(1, 2)), Number(Fraction(2))
    yield BinOp("mul", half, rhs)
    yield BinOp("mul", two, rhs)
    if isinstance(rhs, BinOp) and rhs.op in ("add", "sub"):
        for k in (half, two):
            yield replace(rhs, right=BinOp("mul", k, rhs.right))
            yield replace(rhs, left=BinOp("mul", k, rhs.left))


def transpose(rhs: Expr) -> Iterator[Expr]:
    """The whole side transposed, one transpose dropped, or one operand of a product
    transposed."""
    yield Transpose(rhs)

    def change(n: Expr) -> list[Expr]:
        out: list[Expr] = []
        if isinstance(n, Transpose):
            out.append(n.operand)
        if isinstance(n, BinOp) and n.op in ("mul", "matmul"):
            out.append(replace(n, left=Transpose(n.left)))
            out.append(replace(n, right=Transpose(n.right)))
        return out

    yield from each_site(rhs, change)


def hadamard_vs_matmul(rhs: Expr) -> Iterator[Expr]:
    """⊙ written for a matrix product or the reverse, or ⊙ applied before the product
    (``W^T (δ ⊙ φ')`` for ``(W^T δ) ⊙ φ'``), at one place."""

    def change(n: Expr) -> list[Expr]:
        out: list[Expr] = []
        if isinstance(n, BinOp) and n.op in ("mul", "matmul"):
            out.append(replace(n, op="hadamard"))
        if isinstance(n, BinOp) and n.op == "hadamard":
            out.append(replace(n, op="matmul"))
            left, right = n.left, n.right
            if isinstance(left, BinOp) and left.op in ("mul", "matmul"):
                out.append(replace(left, right=BinOp("hadamard", left.right, right)))
            if isinstance(right, BinOp) and right.op in ("mul", "matmul"):
                out.append(replace(right, left=BinOp("hadamard", left, right.left)))
        if isinstance(n, BinOp) and n.op in ("mul", "matmul"):
            left, right = n.left, n.right
            if isinstance(right, BinOp) and right.op == "hadamard":
                out.append(BinOp("hadamard", replace(n, right=right.left), right.right))
        return out

    yield from each_site(rhs, change)


def _shifted_label(text: str, by: int) -> str | None:
    bare = text.replace("(", "").replace(")", "")
    wrapped = bare != text
    if bare.isdigit():
        new = str(int(bare) + by)
    elif bare[:1].isalpha() and (len(bare) == 1 or bare[1] in "+-"):
        var, off = bare[0], int(bare[1:] or 0) + by
        new = var if off == 0 else f"{var}{off:+d}"
    else:
        return None
    return f"({new})" if wrapped else new


def layer_index(profile: Profile) -> Family:
    """One name's layer label one too high or too low (``W^l`` for ``W^{l+1}``)."""

    def family(rhs: Expr) -> Iterator[Expr]:
        def change(n: Expr) -> list[Expr]:
            if not isinstance(n, Name) or _role(profile, n) not in LAYERED or not n.sup:
                return []
            out = []
            for by in (1, -1):
                label = _shifted_label(n.sup[0], by)
                if label is not None:
                    out.append(replace(n, sup=(label, *n.sup[1:])))
            return out

        yield from each_site(rhs, change)
        # Every name of one label shifted together (δ^{l+2} w^{l+2} for δ^{l+1} w^{l+1}).
        labels = dict.fromkeys(
            n.sup[0]
            for n in iter_nodes(rhs)
            if isinstance(n, Name) and n.sup and _role(profile, n) in LAYERED
        )
        for label in labels:
            for by in (1, -1):
                new = _shifted_label(label, by)
                if new is None:
                    continue

                def shift(n: Expr, label: str = label, new: str = new) -> list[Expr]:
                    if isinstance(n, Name) and n.sup and n.sup[0] == label:
                        return [replace(n, sup=(new, *n.sup[1:]))]
                    return []

                yield _map_all(rhs, shift)

    return family


def _map_all(node: Expr, change: Callable[[Expr], list[Expr]]) -> Expr:
    """``change`` applied at every node where it applies (its first variant)."""
    variants = change(node)
    if variants:
        return variants[0]
    kids = _kids(node)
    if not kids:
        return node
    return _rebuild(node, tuple(_map_all(k, change) for k in kids))


def a_vs_z(profile: Profile, letter: Callable[[str, bool], str]) -> Family:
    """One activation written for the pre-activation, or the reverse (``δ z^T`` for
    ``δ a^T``); ``letter(role, indexed)`` spells a role in the claim's notation."""

    def family(rhs: Expr) -> Iterator[Expr]:
        def change(n: Expr) -> list[Expr]:
            role = _role(profile, n)
            if role not in ("a", "z"):
                return []
            assert isinstance(n, Name)
            other = "z" if role == "a" else "a"
            return [replace(n, base=letter(other, bool(n.sub)))]

        yield from each_site(rhs, change)

    return family


def lambda_scale(profile: Profile, batch: Name) -> Family:
    """λ where 2λ (or λ/2) belongs, or λ where λ/m (or λ·m) belongs, at one place."""
    two = Number(Fraction(2))

    def family(rhs: Expr) -> Iterator[Expr]:
        def change(n: Expr) -> list[Expr]:
            if _role(profile, n) != "lambda":
                return []
            return [
                BinOp("mul", two, n),
                BinOp("div", n, two),
                BinOp("div", n, batch),
                BinOp("mul", n, batch),
            ]

        yield from each_site(rhs, change)

    return family


def one_over_n(batch: Name) -> Family:
    """The side with the batch mean's 1/n put back (a repair: the claim lacks it)."""

    def family(rhs: Expr) -> Iterator[Expr]:
        yield BinOp("mul", BinOp("div", Number(Fraction(1)), batch), rhs)

    return family
