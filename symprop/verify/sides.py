"""One side of a claim evaluated under a reading, and the setting's written-out loss.

:func:`evaluate_side` is the reader's whole pipeline in one call (profile, model, evaluator)
for callers that check a side outside the checker's loop: a calculus claim (no network),
tests, the suite. :func:`loss_term` turns ``Setting.loss_formula`` into the per-unit loss
:class:`~symprop.verify.setting.Model` takes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import sympy as sp

from symprop.core import proof
from symprop.core.errors import shown
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.spec import Dense, Network
from symprop.parsing import Expr
from symprop.verify.errors import VerifyError
from symprop.verify.evaluate import Env, Evaluator
from symprop.verify.notation import NUMBERINGS, Profile
from symprop.verify.reading import Reading
from symprop.verify.setting import Deadline, Model, small_model

# The names a written-out loss may use for the output and the target (Bishop writes t).
_OUTPUT_NAMES = ("a", "hat{y}", "h")
_TARGET_NAMES = ("y", "t")


def loss_term(formula: Expr) -> sp.Expr:
    """The per-unit loss a formula writes, in :data:`symprop.core.registry.a` (the output,
    written ``a``, ``\\hat y`` or ``h``) and ``y`` (the target, ``y`` or ``t``).

    The model sums it over the output units (``Model(…, loss_term=…)``).

    Raises
    ------
    VerifyError
        A formula that names anything else or is not a scalar.

    Examples
    --------
    >>> from symprop.parsing import parse_latex
    >>> loss_term(parse_latex(r"\\frac{1}{2}(y - a)^2"))
    (-a + y)**2/2
    """
    profile = Profile(formula, None, Reading())
    evaluator = Evaluator(profile, Env(None, NUMBERINGS["input0"], {}), Deadline(5))
    evaluator.bound.update({name: sp.Matrix([[a_scalar]]) for name in _OUTPUT_NAMES})
    evaluator.bound.update({name: sp.Matrix([[y_scalar]]) for name in _TARGET_NAMES})
    try:
        value = evaluator(formula)
    except VerifyError as exc:
        raise VerifyError(
            f"loss formula: {exc} (write it in the output a or \\hat y and the target y)"
        ) from None
    if value.shape != (1, 1):
        raise VerifyError(f"loss formula: got a {value.rows}×{value.cols} value, not a scalar")
    return value[0]


def model_for(setting: Any, batch: int = 1, depth: int = 3) -> Model | None:
    """The explicit model a setting's claims are evaluated on (``None`` without a network):
    the spec as given, or ``depth`` single-unit layers; the setting's loss formula and
    penalty scaling applied."""
    if not setting.has_network:
        return None
    term = loss_term(setting.loss_formula) if setting.loss_formula is not None else None
    network = setting.network
    if network is None:
        network = Network(
            inputs=1,
            layers=[Dense(1, setting.activation)] * depth,
            # the written-out loss replaces the registry's; mse builds with any activation
            loss=setting.loss or "mse",
            l2=setting.l2,
        )
    return small_model(network, batch, term, setting.penalty)


def evaluate_side(
    node: Expr,
    setting: Any,
    *,
    claim: Expr | None = None,
    reading: Reading | None = None,
    numbering: str = "input0",
    layers: dict[str, int] | None = None,
    indices: dict[str, int] | None = None,
    batch: int = 1,
    depth: int = 3,
    model: Model | None = None,
) -> tuple[sp.Matrix, Evaluator]:
    """Evaluate one side of a claim to an explicit SymPy matrix.

    Parameters
    ----------
    node
        The side (or any expression of the claim).
    setting
        The :class:`~symprop.verify.setting.Setting`.
    claim
        The whole claim the side belongs to (its reading depends on all of it); default
        ``node``.
    reading
        The reading (one of :func:`symprop.verify.readings.readings`); default the first.
    numbering
        A key of :data:`~symprop.verify.notation.NUMBERINGS`.
    layers
        Values of the layer variables (``{"l": 1}``); ``L`` is the last layer.
    indices
        Values of the unit and sample indices.
    batch, depth
        Samples in the model; layers of a single-unit chain.
    model
        A model to use instead of building one.

    Returns
    -------
    (sympy.Matrix, Evaluator)
        The value, and the evaluator (its :attr:`~Evaluator.free` symbols and its model).
    """
    if numbering not in NUMBERINGS:
        raise VerifyError(f"numbering: got {shown(numbering)}; known: {', '.join(NUMBERINGS)}")
    profile = Profile(claim if claim is not None else node, setting, reading)
    if model is None:
        model = model_for(setting, batch, depth)
    offsets = NUMBERINGS[numbering]
    bound = dict(layers or {})
    if model is not None:
        bound.setdefault("L", model.L + offsets["a"])
    env = Env(model, offsets, bound, dict(indices or {}))
    evaluator = Evaluator(profile, env, Deadline(getattr(setting, "time_limit", 20.0)))
    return evaluator(node), evaluator


_FREE_DRAW = proof.Draw(100, 1500, signed=True)  # as the network's own values: away from 0
_DIGITS = 40


def with_free_symbols(
    points: list[proof.Point], symbols: Iterable[sp.Symbol], seed: int, count: int = 8
) -> list[proof.Point]:
    """The comparison points extended with seeded exact values for the symbols the model
    does not draw: a claim's free symbols (:attr:`Evaluator.free`), those of definitions.

    Without a network there are no model points: ``4 · count`` points of the free symbols
    alone (spares for points where a side is undefined, as for the model's).

    Examples
    --------
    >>> z = sp.Symbol("z", real=True)
    >>> [sorted(map(str, p.rational)) for p in with_free_symbols([], [z], 0, 1)][:1]
    [['z']]
    """
    have = set(points[0].rational) if points else set()
    extra = sorted(set(symbols) - have, key=str)
    if not extra:
        return points
    total = len(points) if points else 4 * count
    drawn = proof.draw_points(random.Random(seed), [(s, _FREE_DRAW) for s in extra], total)
    bases = [p.rational for p in points] if points else [{} for _ in range(total)]
    return [
        proof.Point.of({**base, **values}, _DIGITS)
        for base, values in zip(bases, drawn, strict=True)
    ]
