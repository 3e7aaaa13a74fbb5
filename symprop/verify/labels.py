"""Integer exponents that are layer labels: in an equation naming ``δ^{3}``, ``a^{3}`` too.

:func:`symprop.verify.notation.normalise` calls :func:`digits_as_labels` on an equation
with a digit-labelled ``δ``, ``Δ``, ``W`` or ``Θ`` (seed 000 and Nielsen's book write
``δ^{3} = (a^{3} - y) ⊙ σ'(z^{3})``); elsewhere ``(y - a)^2`` and ``1 - a^{2}`` stay powers.
"""

from __future__ import annotations

from dataclasses import replace

from symprop.parsing import (
    BinOp,
    Call,
    Derivative,
    Expr,
    IndexSum,
    Name,
    Neg,
    Norm,
    Number,
    Transpose,
)

_LAYER_LETTERS = frozenset({"z", "a", "b", "h", "g"})


def digits_as_labels(node: Expr) -> Expr:
    """Integer exponents of z, a, b (h, g) as layer labels (see the module docstring)."""
    if isinstance(node, BinOp):
        left, right = digits_as_labels(node.left), digits_as_labels(node.right)
        if (
            node.op == "pow"
            and isinstance(left, Name)
            and left.base in _LAYER_LETTERS
            and not (left.sup or left.primes or left.decorations)
            and isinstance(right, Number)
            and right.value.denominator == 1
            and not right.decimals
            and 0 <= right.value <= 99
        ):
            return replace(left, sup=(str(right.value.numerator),))
        return replace(node, left=left, right=right)
    if isinstance(node, Call):
        return replace(node, args=tuple(digits_as_labels(a) for a in node.args))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=digits_as_labels(node.operand))
    if isinstance(node, IndexSum):
        return replace(node, body=digits_as_labels(node.body))
    if isinstance(node, Derivative):
        return replace(node, num=digits_as_labels(node.num), den=digits_as_labels(node.den))
    return node
