"""What a claims file or the CLI declares besides the network: the notation the claims are
written in, how the cost is written, and free definitions and values.

These are data, read once from a claims file's front matter (Markdown) or its TOML keys, or
from CLI options, and passed to every stage in the :class:`~symprop.verify.setting.Setting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from symprop.parsing.tree import Expr, Name

NotationName = Literal["nielsen", "ng", "goodfellow", "bishop"]
"""Letter conventions a claim may be written in: Nielsen's z/a/W/b/δ; Ng's Θ^{(l)} with the
bias column j = 0 and the bias unit a_0 = 1; Goodfellow's a (pre-activation), h
(post-activation) and g (gradient); Bishop's a (pre-activation) and z (post-activation)."""

PENALTIES: dict[str, str] = {
    "lambda": "J = C + λ Σ w²",
    "lambda/2": "J = C + (λ/2) Σ w²",
    "lambda/m": "J = C + (λ/m) Σ w²",
    "lambda/(2m)": "J = C + (λ/(2m)) Σ w²",
}
"""How the weight penalty is scaled, as the claims write λ (m is the batch size)."""


@dataclass(frozen=True)
class Definition:
    """``let g = \\|A v\\|^2``, ``u_4 = u_2 e^{u_1}`` or ``f(z) = 1/(1+e^{-z})``.

    Attributes
    ----------
    name
        The defined symbol as written (a :class:`~symprop.parsing.tree.Name`).
    params
        For a function definition, its parameters (``z`` in ``f(z) = …``); else empty.
    body
        The defining expression, parsed by the claims' parser.
    text
        The definition as written, for reports.
    """

    name: Name
    params: tuple[Name, ...]
    body: Expr
    text: str


@dataclass(frozen=True)
class Value:
    """A concrete value given to a symbol (a seed's worked example): a scalar, a vector or a
    matrix of exact rationals (``0.5`` is 1/2), row-major."""

    name: Name
    shape: tuple[int, ...]
    entries: tuple[Fraction, ...]


@dataclass(frozen=True)
class Declarations:
    """Free definitions, values, shapes and function names declared for a set of claims.

    Attributes
    ----------
    definitions
        Symbols defined by expressions, in order (a later one may use an earlier one).
    values
        Symbols given concrete numbers: claims are then checked at these values, and a
        numeric claim is judged to the precision it shows (``= 0.7311``: 4 decimals).
    shapes
        Free symbols that are vectors or matrices (``A: (2, 3)``); others are scalars.
    functions
        Names declared to be functions (so ``f\\,(1-f)`` with ``f`` not declared a function
        is a product, and ``f(x)`` with ``f`` declared one is a call).
    """

    definitions: tuple[Definition, ...] = ()
    values: tuple[Value, ...] = ()
    shapes: tuple[tuple[Name, tuple[int, ...]], ...] = ()
    functions: tuple[str, ...] = ()
