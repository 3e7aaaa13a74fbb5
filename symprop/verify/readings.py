"""The plausible readings of a claim, as data, with what each symbol is taken as.

:func:`readings` is the contract with the checker: it evaluates a claim under each reading
(:class:`~symprop.verify.notation.Profile` ``(claim, setting, reading)``), prints the first
one's :meth:`~symprop.verify.reading.Reading.pairs` into ``Verdict.reading`` and reports
"ambiguous" when the verdicts of the readings differ.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

from symprop.core.registry import ACTIVATIONS
from symprop.parsing import Call, Expr, Indicator, Name, Number, Piecewise, Relation, iter_nodes
from symprop.verify.errors import VerifyError
from symprop.verify.notation import (
    GENERIC_FUNCTIONS,
    MATH_FUNCTION_NAMES,
    Profile,
    apply_choices,
    reading_choices,
)
from symprop.verify.reading import Reading

MAX_READINGS = 8
"""Most alternative readings of one claim that are evaluated (beyond: the first ones)."""

ROLE_TEXT: dict[str, str] = {
    "z": "pre-activation (z = W a + b)",
    "a": "activation (a = φ(z))",
    "W": "weight matrix",
    "b": "bias",
    "delta": "local gradient δ = ∂C/∂z",
    "Delta": "gradient accumulated over the batch (Σ_samples δ aᵀ)",
    "D": "gradient of the objective J (D = ∂J/∂Θ)",
    "x": "input",
    "y": "target",
    "yhat": "network output",
    "C": "cost of one sample",
    "J": "objective (mean cost + penalty)",
    "lambda": "weight-decay coefficient λ",
    "n": "batch size",
}


def readings(equation: Expr, setting: Any = None) -> tuple[Reading, ...]:
    """Every plausible reading of a claim, the preferred one first (at most
    :data:`MAX_READINGS`).

    A claim has more than one reading when a choice the setting does not decide changes its
    meaning: ``δ_{ij}`` that may be a Kronecker delta or a local gradient written with its
    layer in the subscript; a juxtaposition ``f\\,(1-f)`` where ``f`` may be a function or a
    quantity; Ng's ``Θ`` with or without the bias column when neither the setting nor the
    claim says which. The checker evaluates each reading and reports "ambiguous" (naming
    the readings, :meth:`Reading.differs_from`) when their verdicts differ.

    Parameters
    ----------
    equation
        The claim (an Equation or a Derivation; all links share the reading).
    setting
        The :class:`~symprop.verify.setting.Setting`, or ``None`` for the letters alone.

    Returns
    -------
    tuple of Reading
        Each a complete assignment, with :attr:`Reading.taken` filled.

    Examples
    --------
    >>> from symprop.parsing import Equation, Name, Number
    >>> eq = Equation(Name("delta", sub=("i", "j")), Number(0))
    >>> [r.kronecker for r in readings(eq)]
    [frozenset({'delta_{i,j}'})]
    """
    base, choices = reading_choices(equation, setting)
    out: list[Reading] = []
    for combo in product(*choices):
        reading = apply_choices(base, combo)
        out.append(replace(reading, taken=_taken(equation, setting, reading)))
        if len(out) >= MAX_READINGS:
            break
    return tuple(out)


def numberings(setting: Any, reading: Reading) -> list[str]:
    """The layer numberings (keys of :data:`~symprop.verify.notation.NUMBERINGS`) a claim
    read under ``reading`` may use, preferred first: the declared one; Ng's for Ng's
    notation; Goodfellow's h^(0) = x is input layer 0; Nielsen's and Bishop's letters say
    nothing about it (input 0 or 1, the spec's ``notation = "ng"`` first)."""
    declared = getattr(setting, "numbering", "auto")
    if declared != "auto":
        return [declared]
    if reading.notation == "ng":
        return ["ng"]
    if reading.notation == "goodfellow":
        return ["input0"]
    network = getattr(setting, "network", None)
    if network is not None and network.notation == "ng":
        return ["ng", "input0", "input1"]
    return ["input0", "input1"]


def preferred_reading(equation: Expr, setting: Any = None) -> Reading:
    """The first of :func:`readings` (what a claim means when only one reading is used)."""
    return readings(equation, setting)[0]


def _taken(equation: Expr, setting: Any, reading: Reading) -> tuple[tuple[str, str], ...]:
    """What each symbol of the claim is taken as under ``reading``."""
    profile = Profile(equation, setting, reading)
    out: dict[str, str] = {}
    calls = {id(c.func): c for c in iter_nodes(equation) if isinstance(c, Call)}
    for node in iter_nodes(equation):
        if isinstance(node, Name) and node.key not in out:
            call = calls.get(id(node))
            out[node.key] = _describe(node, call, profile)
        elif isinstance(node, Indicator | Piecewise):
            kink = _kink_text(node)
            if kink:
                out[kink[0]] = kink[1]
    if profile.bias_column:
        out["bias"] = (
            "Θ^(l) has the bias in column 0 and a_0 = 1: Θ a prepends the bias unit, "
            "(Θ)ᵀ δ drops row 0 (δ_0, discarded as Ng does), δ aᵀ has Θ's shape"
        )
    return tuple(out.items())


def _describe(name: Name, call: Call | None, profile: Profile) -> str:
    if call is not None:
        if call.juxtaposed and name.key in profile.reading.products:
            return "a quantity multiplied by the bracket (juxtaposition read as a product)"
        if profile.is_function(name):
            return "a declared function" + (
                " (juxtaposition read as a call)" if call.juxtaposed else ""
            )
        if name.base in ACTIVATIONS:
            return f"the {name.base} function"
        if name.base in GENERIC_FUNCTIONS:
            return "the activation function of its argument's layer"
        if name.base in MATH_FUNCTION_NAMES:
            return {"H": "the Heaviside step", "diag": "the diagonal matrix of a vector"}.get(
                name.base, f"the function {name.base}"
            )
        return "a function"
    try:
        ref = profile.resolve(name)
    except VerifyError:
        return "unknown"
    if ref.role == "kronecker":
        return "Kronecker delta (1 if the indices are equal, else 0)"
    if ref.role == "defined":
        return f"defined: {profile.definitions[name.key].text}"
    if ref.role == "free":
        shape = profile.shapes.get(name.key)
        what = (
            "free scalar"
            if not shape or shape in ((1,), (1, 1))
            else f"free {'×'.join(map(str, shape))} {'vector' if len(shape) == 1 else 'matrix'}"
        )
        return what + (" with a given value" if name.key in profile.valued else "")
    if ref.role == "index":
        return "unit index"
    if ref.role == "size":
        return {"batch": "batch size", "output": "output width"}.get(ref.indices[0], "layer width")
    text = ROLE_TEXT.get(ref.role, ref.role)
    if ref.label is not None:
        var, off = ref.label
        label = str(off) if var is None else var + (f"{off:+d}" if off else "")
        text += f", layer {label}"
    if ref.sample:
        text += f", sample {ref.sample}"
    return text


_AT_EQUALITY = {"lt": False, "gt": False, "le": True, "ge": True, "eq": True, "ne": False}


def _side_text(node: Expr) -> str:
    if isinstance(node, Name):
        return node.key
    if isinstance(node, Number):
        return str(node.value)
    return "…"


def _kink_text(node: Indicator | Piecewise) -> tuple[str, str] | None:
    """Which value a case split gives where its condition's sides are equal (the kink)."""
    if isinstance(node, Indicator):
        rel = node.condition
        value = 1 if _AT_EQUALITY[rel.op] else 0
        at = f"{_side_text(rel.left)} = {_side_text(rel.right)}"
        return f"indicator [{at}]", f"{value} at {at} ({rel.op}: {'non-' if value else ''}strict)"
    for number, (_, cond) in enumerate(node.cases, start=1):
        if cond is None or _AT_EQUALITY[cond.op]:
            if not isinstance(cond, Relation):
                return None
            at = f"{_side_text(cond.left)} = {_side_text(cond.right)}"
            return f"cases at {at}", f"case {number} applies at {at}"
    return None
