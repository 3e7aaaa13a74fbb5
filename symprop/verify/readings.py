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
from symprop.parsing import (
    Call,
    Derivation,
    Derivative,
    Expr,
    Indicator,
    Name,
    Number,
    Piecewise,
    iter_nodes,
)
from symprop.verify.declare import Definition
from symprop.verify.errors import VerifyError
from symprop.verify.notation import (
    GENERIC_FUNCTIONS,
    MATH_FUNCTION_NAMES,
    Profile,
    apply_choices,
    reading_choices,
)
from symprop.verify.reading import Reading, Taken

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
        out.append(replace(reading, symbols=_taken(equation, setting, reading)))
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


def premise_definitions(claim: Expr, setting: Any) -> tuple[Any, tuple[int, ...]]:
    """A chain's premises that define names: ``h = x y \\Rightarrow ∂h/∂x = y``.

    A link joined to the next by "implies" whose left side is a name with no meaning in the
    setting (not a quantity of the network, not declared) defines that name for the links
    after it, as a ``let`` line would; ``f(x, y) = x y ⇒ …`` defines a function. Such a link
    is not checked.

    Returns
    -------
    (Setting, link numbers)
        The setting with these definitions added after the declared ones (the setting
        itself when there are none), and the 0-based numbers of the defining links.
    """
    if not isinstance(claim, Derivation):
        return setting, ()
    declared = getattr(setting, "declared", None)
    if declared is None:
        return setting, ()
    profile = Profile(claim, setting)
    added: list[Definition] = []
    numbers: list[int] = []
    known = set(profile.definitions)
    for number, (link, join) in enumerate(zip(claim.links, claim.joins, strict=False)):
        if join != "implies":
            continue
        head, params = _defined_head(link.lhs)
        if head is None or head.key in known or not _undeclared(head, profile):
            continue
        text = link.text or head.key
        added.append(Definition(head, params, link.rhs, text))
        known.add(head.key)
        numbers.append(number)
    if not added:
        return setting, ()
    new = replace(declared, definitions=(*declared.definitions, *added))
    return replace(setting, declared=new), tuple(numbers)


def _defined_head(node: Expr) -> tuple[Name | None, tuple[Name, ...]]:
    if isinstance(node, Name) and not node.primes:
        return node, ()
    if (
        isinstance(node, Call)
        and not node.func.primes
        and all(isinstance(a, Name) for a in node.args)
    ):
        return node.func, tuple(a for a in node.args if isinstance(a, Name))
    return None, ()


def _undeclared(name: Name, profile: Profile) -> bool:
    """A name with no network role (or a setting without a network) and no declaration."""
    if name.key in profile.shapes or name.key in profile.valued:
        return False
    if profile.is_function(name):
        return False
    try:
        role = profile.resolve(name).role
    except VerifyError:
        return True
    return role == "free"


def preferred_reading(equation: Expr, setting: Any = None) -> Reading:
    """The first of :func:`readings` (what a claim means when only one reading is used)."""
    return readings(equation, setting)[0]


def _taken(equation: Expr, setting: Any, reading: Reading) -> tuple[Taken, ...]:
    """What each symbol of the claim is taken as under ``reading``."""
    profile = Profile(equation, setting, reading)
    out: dict[str, Taken] = {}
    calls = {id(c.func): c for c in iter_nodes(equation) if isinstance(c, Call)}
    # Nielsen's ∇_a C: an unlabelled a under ∇ is the output layer's (the evaluator's rule)
    output_grad = {
        id(d.den)
        for d in iter_nodes(equation)
        if isinstance(d, Derivative) and d.gradient and isinstance(d.den, Name)
    }
    for node in iter_nodes(equation):
        if isinstance(node, Name) and node.key not in out:
            taken = _describe(node, calls.get(id(node)), profile)
            if id(node) in output_grad and taken.role == "a" and taken.label is None:
                text = "activation of the output layer L (Nielsen's ∇_a C: ∂C/∂a^L)"
                taken = replace(taken, text=text, label=("L", 0))
            out[node.key] = taken
        elif isinstance(node, Indicator | Piecewise):
            kink = _kink_text(node)
            if kink:
                out[kink[0]] = Taken(kink[0], node, "kink", kink[1])
    if profile.bias_column:
        out["bias"] = Taken(
            "bias",
            None,
            "convention",
            "Θ^(l) has the bias in column 0 and a_0 = 1: Θ a prepends the bias unit, "
            "(Θ)ᵀ δ drops row 0 (δ_0, discarded as Ng does), δ aᵀ has Θ's shape",
        )
    return tuple(out.values())


def _describe(name: Name, call: Call | None, profile: Profile) -> Taken:
    key = name.key
    if call is not None:
        if call.juxtaposed and key in profile.reading.products:
            text = "a quantity multiplied by the bracket (juxtaposition read as a product)"
            return Taken(key, name, "product", text)
        if profile.is_function(name):
            called = " (juxtaposition read as a call)" if call.juxtaposed else ""
            return Taken(key, name, "function", "a declared function" + called)
        if name.base in ACTIVATIONS:
            return Taken(key, name, "function", f"the {name.base} function")
        if name.base == "sigma" and profile.reading.sigma_sigmoid:
            return Taken(key, name, "function", "the logistic sigmoid")
        if name.base in GENERIC_FUNCTIONS:
            if not profile.network and getattr(profile.setting, "activation", None) is None:
                text = "the logistic sigmoid" if name.base == "sigma" else "undeclared function"
                return Taken(key, name, "function", text)
            return Taken(key, name, "function", "the activation function of its argument's layer")
        if name.base in MATH_FUNCTION_NAMES:
            text = {"H": "the Heaviside step", "diag": "the diagonal matrix of a vector"}.get(
                name.base, f"the function {name.base}"
            )
            return Taken(key, name, "function", text)
        return Taken(key, name, "function", "a function")
    try:
        ref = profile.resolve(name)
    except VerifyError:
        return Taken(key, name, "unknown", "unknown")
    if ref.role == "constant":
        text = "the constant π" if key == "pi" else "Euler's number e"
        return Taken(key, name, "free", text)
    if ref.role == "kronecker":
        return Taken(key, name, "kronecker", "Kronecker delta (1 if the indices are equal, else 0)")
    if ref.role == "defined":
        return Taken(key, name, "defined", f"defined: {profile.definitions[key].text}")
    if ref.role == "free":
        shape = profile.shapes.get(key)
        what = (
            "free scalar"
            if not shape or shape in ((1,), (1, 1))
            else f"free {'×'.join(map(str, shape))} {'vector' if len(shape) == 1 else 'matrix'}"
        )
        if key in profile.arguments:
            what += " (the argument of the function the claim is about, not a layer's quantity)"
        return Taken(
            key, name, "free", what + (" with a given value" if key in profile.valued else "")
        )
    if ref.role == "index":
        return Taken(key, name, "index", "unit index")
    if ref.role == "size":
        text = {"batch": "batch size", "output": "output width"}.get(ref.indices[0], "layer width")
        return Taken(key, name, "size", text, label=ref.label)
    text = ROLE_TEXT.get(ref.role, ref.role)
    if ref.label is not None:
        var, off = ref.label
        label = str(off) if var is None else var + (f"{off:+d}" if off else "")
        text += f", layer {label}"
    if ref.sample:
        text += f", sample {ref.sample}"
    return Taken(key, name, "quantity", text, ref.role, ref.label, ref.sample)


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
    first = next((cond for _, cond in node.cases if cond is not None), None)
    if first is None:
        return None
    at = f"{_side_text(first.left)} = {_side_text(first.right)}"
    for number, (_, cond) in enumerate(node.cases, start=1):
        if cond is None:
            return f"cases at {at}", f"case {number} (otherwise) applies at {at}"
        if _AT_EQUALITY[cond.op] and (cond.left, cond.right) == (first.left, first.right):
            return f"cases at {at}", f"case {number} applies at {at}"
    return f"cases at {at}", f"no case applies at {at} (undefined there)"
