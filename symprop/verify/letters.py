"""The letters of each notation, as data: which letter names which network quantity, how
layers are numbered, which letters are sizes and which names are functions.

Where :mod:`symprop.core.notation`'s document profiles already say it (Nielsen's, Ng's and
Goodfellow's letters and layer shifts), the tables are read from them, not typed again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from symprop.core.notation import PROFILES
from symprop.core.registry import ACTIVATIONS
from symprop.parsing import BinOp, Expr, Name

# ---------------------------------------------------------------- notation tables (data)

LAYERED = frozenset({"z", "a", "delta", "W", "b", "Delta", "D"})
_DOC_LAYERED = LAYERED - {"D"}  # the roles every document profile writes


def _letters(profile: str, roles: Iterable[str]) -> dict[str, str]:
    """The letters a document profile (:mod:`symprop.core.notation`) writes for ``roles``,
    read back: letter as the parser names it (``\\Theta`` is ``Theta``) -> role."""
    written = PROFILES[profile]
    return {written.role(role).symbol.removeprefix("\\"): role for role in roles}


# Base letter as written -> role. Roles with layers: z, a, delta, W, b, Delta. The layered
# letters are those the documents write (Nielsen's z/a/W/b/δ/Δ, Ng's Θ); the rest are the
# other spellings found in lecture notes.
_ROLE_OF: dict[str, str] = {
    **_letters("nielsen", _DOC_LAYERED),
    **_letters("ng", _DOC_LAYERED),
    "h": "a",  # Goodfellow: hidden units h^k = f(a^k)
    "W": "W",
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
    "cost": "C",  # Ng writes cost(x_i) for one sample's loss
    "J": "J",
    "lambda": "lambda",
    "n": "n",
    "m": "n",  # the mini-batch size (Nielsen, Goodfellow, Ng, and the penalty λ/(2m))
}
# Goodfellow's a is the pre-activation and g the gradient with respect to it.
_GOODFELLOW_ROLE_OF = _ROLE_OF | _letters("goodfellow", ("z", "a", "delta"))
# Function names meaning "the activation of the layer of my argument" (σ and φ are used
# both ways in the notes; a literal sigmoid is written sigmoid).
GENERIC_FUNCTIONS = frozenset({"sigma", "phi", "varphi", "g", "f"})
COST_ROLES = frozenset({"C", "J"})
_SIGMAS = frozenset({"sigma", "phi", "varphi"})  # function letters a bare dσ/dz calls


def _shifts(profile: str) -> dict[str, int]:
    """The layer shift per layered role of a document profile (:mod:`symprop.core.notation`)."""
    return {role: PROFILES[profile].role(role).shift for role in sorted(_DOC_LAYERED)}


# Layer numbering conventions: added to the internal layer (input = 0) per role. Two are
# the documents' own; the input-is-layer-1 numbering of Nielsen's book has no document
# profile.
NUMBERINGS: dict[str, dict[str, int]] = {
    # Nielsen as in the generated code, Goodfellow (h^0 = x), seed 004 (z^(1) = w^(1) x + b^(1)).
    "input0": _shifts("goodfellow"),
    # Nielsen's book and seed 000: the input is layer 1, w^l maps layer l-1 to l.
    "input1": {role: 1 for role in sorted(_DOC_LAYERED)},
    # Ng (seed 002): the input is layer 1 and Θ^(l) maps layer l to l+1.
    "ng": _shifts("ng"),
}
NUMBERING_TEXT = {
    "input0": "the input is layer 0 (a^0 = x)",
    "input1": "the input is layer 1 (a^1 = x)",
    "ng": "the input is layer 1 and Θ^(l) maps layer l to l+1",
}


# Letters per declared notation (base letter as the parser names it -> role).
NOTATION_ROLES: dict[str, dict[str, str]] = {
    "nielsen": dict(_ROLE_OF),
    "goodfellow": _GOODFELLOW_ROLE_OF | {"m": "n"},
    # Ng: h_Θ(x) is the output; D the gradient of J; m (and n, as seed 002 writes it) the
    # batch size.
    "ng": _ROLE_OF | {"m": "n", "D": "D", "h": "yhat"},
    # Bishop (seed 003): a is the pre-activation, z the activation, y the network's output
    # and t the target; E (E_n) the per-sample error.
    "bishop": {
        "a": "z",
        "z": "a",
        "w": "W",
        "W": "W",
        "b": "b",
        "delta": "delta",
        "Delta": "Delta",
        "x": "x",
        "t": "y",
        "y": "yhat",
        "E": "C",
        "L": "C",
        "ell": "C",
        "C": "C",
        "J": "J",
        "lambda": "lambda",
        "N": "n",
    },
}
# Sizes a sum's limit may name, per notation: (batch size letters, width letters, output
# width letters). A width carries a layer label (n_l, s_{l+1}, N_L).
SIZE_LETTERS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    # m: Nielsen's mini-batch size (seed 000 also sums units to m: a batch size bounding a
    # sum over units is refused, see Evaluator.limit_value)
    "nielsen": (frozenset({"n", "m"}), frozenset({"n"}), frozenset()),
    "goodfellow": (frozenset({"m", "n"}), frozenset({"n"}), frozenset()),
    "ng": (frozenset({"m", "n"}), frozenset({"s"}), frozenset({"K"})),
    "bishop": (frozenset({"N"}), frozenset({"N", "n"}), frozenset()),
}
_SAMPLE = re.compile(r"^[\(\[]?(?P<var>[a-z]|\d+)[\)\]]?$")
SAMPLE_LETTERS = frozenset({"i", "n", "t", "s"})  # letters a sample superscript is written with
_PER_SAMPLE = frozenset({"x", "y", "yhat", "C"})
# Names that are functions by themselves (a juxtaposed call of one of them is a call).
MATH_FUNCTION_NAMES = frozenset(
    {"exp", "log", "ln", "sqrt", "abs", "sinh", "cosh", "sin", "cos", "tanh", "diag", "H"}
)


FUNCTION_ONLY = (MATH_FUNCTION_NAMES - {"H"}) | frozenset(ACTIVATIONS) | {"ln"}
"""Names that only ever denote functions (a bare ``log`` is never a quantity)."""


def bare_function(node: Expr) -> bool:
    """A function's name standing alone (``\\log``, ``\\tanh``), without label or prime."""
    return isinstance(node, Name) and node.base in FUNCTION_ONLY and node == Name(node.base)


def spelled(node: Expr) -> str:
    """The word a product of one-letter names spells (``out`` read as o·u·t), else ''."""
    if isinstance(node, Name) and not (node.sub or node.sup or node.primes or node.decorations):
        return node.base if len(node.base) == 1 else ""
    if isinstance(node, BinOp) and node.op == "mul":
        left, right = spelled(node.left), spelled(node.right)
        return left + right if left and right else ""
    return ""
