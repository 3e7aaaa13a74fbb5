"""Verify hand-derived backprop formulas: verdict, counterexample, right formula, likely mistake.

A *claim* is an equation as people write it (``\\delta^L = (a^L - y) \\odot \\sigma'(z^L)``,
``dC/dW2 = delta2 @ a1.T``). It is parsed by the safe grammar of :mod:`symprop.parsing`
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
import itertools
import signal
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sympy as sp

from symprop.core import proof
from symprop.core.errors import SymPropError, shown
from symprop.core.spec import Network
from symprop.parsing import (
    Equation,
    Expr,
    Name,
    iter_nodes,
)
from symprop.verify.claims import parse_claim
from symprop.verify.diagnose import NoTemplate, candidates_for
from symprop.verify.errors import VerifyError
from symprop.verify.evaluate import (
    Env,
    Evaluator,
    NotDefined,
    index_product,
    index_range,
    shape_text,
)
from symprop.verify.notation import (
    LAYERED,
    NUMBERING_TEXT,
    NUMBERINGS,
    Profile,
    free_indices,
    labelled_refs,
    layer_bindings,
)
from symprop.verify.numeric import (
    Mismatch,
    compare_at_point,
    compare_sides,
    same_values,
    sample_points,
)
from symprop.verify.pointwise import (
    POINTS_AT_SCALE,
    PointModel,
    checked_at_points,
    draw_values,
    symbol_view,
)
from symprop.verify.render import Style, Writer, display_names, fmt_value, render_ast, render_sympy
from symprop.verify.report import Counterexample, Verdict
from symprop.verify.setting import MAX_CLAIMS, MAX_DEPTH, Deadline, Model, Setting, small_model


def _numbering_candidates(equation: Equation, profile: Profile, setting: Setting) -> list[str]:
    if setting.numbering != "auto":
        return [setting.numbering]
    names = [n for n in iter_nodes(equation) if isinstance(n, Name)]
    if any(n.base in ("Theta", "theta") for n in names):
        return ["ng"]
    preferred = ["input0", "input1"]
    if setting.network is not None and setting.network.notation == "ng":
        preferred = ["ng", *preferred]
    return preferred


def _network_for(equation: Equation, profile: Profile, setting: Setting) -> Network:
    if setting.network is not None:
        # The spec's own widths: a unit index the spec does not have is not defined, and
        # explicit sums run over the real ranges (a copy at width 2 let δ^2_2 pass on a
        # network whose output has one unit).
        return setting.network
    refs = [r for r, _ in labelled_refs(equation, profile)]
    labels = [r.label for r in refs if r.role in LAYERED and r.label is not None]
    if not labels:
        return setting.single_network(1)
    concrete = [off for var, off in labels if var is None]
    return setting.single_network(min(MAX_DEPTH, max([3, *concrete])))


def _batch_for(equation: Equation, profile: Profile) -> int:
    refs = [r for r, _ in labelled_refs(equation, profile)]
    return 3 if any(r.role in ("Delta", "n") for r in refs) else 1


def _where_text(binding: dict[str, int], indices: dict[str, int] | None = None) -> str:
    parts = [f"{k} = {v}" for k, v in sorted(binding.items()) if k != "L"]
    parts += [f"{k} = {v}" for k, v in (indices or {}).items()]
    return ", ".join(parts)


@dataclass
class _Outcome:
    ok: bool
    symbolic: bool
    used: int
    checked: list[str]
    mismatch: Mismatch | None
    reason: str
    binding: dict[str, int] | None
    model: Model
    offsets: dict[str, int]
    numbering: str


def _evaluate_sides(
    equation: Equation,
    profile: Profile,
    model: Model,
    offsets: dict[str, int],
    binding: dict[str, int],
    free: list[str],
    deadline: Deadline,
) -> tuple[list[tuple[dict[str, int], tuple[int, int], sp.Expr, sp.Expr]], str]:
    """Both sides at every value of the free unit indices; a reason when a side is undefined."""
    env = Env(model, offsets, binding)
    ev = Evaluator(profile, env, deadline)
    ranges = []
    for index in free:
        ranges.append(range(1, index_range(equation, index, ev) + 1))
    pairs = []
    for values in index_product(ranges):
        env.indices = dict(zip(free, values, strict=True))
        try:
            lhs = ev(equation.lhs)
        except NotDefined as exc:
            raise VerifyError(f"the left side is not defined: {shown(str(exc))}") from None
        try:
            rhs = ev(equation.rhs)
        except NotDefined as exc:
            return (
                [],
                f"the right side is not defined at "
                f"{_where_text(binding, env.indices) or 'this layer'}: {exc}",
            )
        if lhs.shape != rhs.shape:
            return [], (
                f"the sides have different shapes: {shape_text(lhs)} on the left, "
                f"{shape_text(rhs)} on the right"
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


def _check_under(
    equation: Equation, profile: Profile, setting: Setting, numbering: str, deadline: Deadline
) -> _Outcome | None:
    offsets = NUMBERINGS[numbering]
    network = _network_for(equation, profile, setting)
    batch = _batch_for(equation, profile)
    if checked_at_points(network, batch):
        return _check_at_points(equation, profile, setting, numbering, deadline, network, batch)
    model = small_model(network, batch, penalty=setting.penalty)
    refs = [r for r, _ in labelled_refs(equation, profile)]
    bindings = layer_bindings(refs, offsets, model.L)
    if not bindings:
        return None
    free = free_indices(equation, profile)
    points = sample_points(model, setting.points, setting.seed)
    checked, symbolic_all, used_max = [], True, 0
    for binding in bindings:
        pairs, reason = _evaluate_sides(equation, profile, model, offsets, binding, free, deadline)
        where = _where_text(binding)
        if reason:
            return _Outcome(
                False, False, 0, checked, None, reason, binding, model, offsets, numbering
            )
        equal, symbolic, mismatch, used = compare_sides(pairs, points, setting.points, deadline)
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


def _check_at_points(
    equation: Equation,
    profile: Profile,
    setting: Setting,
    numbering: str,
    deadline: Deadline,
    network: Network,
    batch: int,
) -> _Outcome | None:
    """A large network: both sides as numbers at a few exact points (:mod:`.pointwise`).

    ✓ only when they agree at every point within the engine's tolerance; the first point
    where they differ is the counterexample. A point near a kink of a piecewise activation,
    or where the reference is undefined, is replaced by a spare.
    """
    offsets = NUMBERINGS[numbering]
    view = symbol_view(network, batch)
    refs = [r for r, _ in labelled_refs(equation, profile)]
    bindings = layer_bindings(refs, offsets, network.depth)
    if not bindings:
        return None
    free = free_indices(equation, profile)
    wanted = min(setting.points, POINTS_AT_SCALE)
    used, checked, model = 0, [_where_text(b) for b in bindings if _where_text(b)], None
    for values in draw_values(view, wanted * 4, setting.seed):
        if used >= wanted:
            break
        deadline.check()
        try:
            model = PointModel(network, batch, values, view, penalty=setting.penalty)
        except proof.Kink:
            continue
        point = proof.Point.of(values.rational(view))
        usable = True
        for binding in bindings:
            try:
                pairs, reason = _evaluate_sides(
                    equation,
                    profile,
                    model,
                    offsets,
                    binding,
                    free,
                    deadline,  # type: ignore[arg-type]
                )
            except proof.Kink:
                usable = False
                break
            if reason:
                return _Outcome(
                    False,
                    False,
                    0,
                    checked,
                    None,
                    reason,
                    binding,
                    model,
                    offsets,
                    numbering,  # type: ignore[arg-type]
                )
            result = compare_at_point(pairs, point)
            if result is None:
                usable = False
                break
            if isinstance(result, Mismatch):
                return _Outcome(
                    False,
                    False,
                    used + 1,
                    checked,
                    result,
                    "",
                    binding,
                    model,
                    offsets,
                    numbering,  # type: ignore[arg-type]
                )
        used += usable
    if used == 0:
        raise VerifyError("the claim is undefined at every sampled point")
    return _Outcome(True, False, used, checked, None, "", None, model, offsets, numbering)  # type: ignore[arg-type]


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
    deadline = Deadline(setting.time_limit)
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
    derivation, latex = parse_claim(claim)
    if len(derivation.links) != 1:
        raise VerifyError("a chain of equations is checked link by link; write one equation")
    equation = derivation.links[0]
    profile = Profile(equation)
    style = Style(latex=latex, parenthesized="^{(" in claim or "^(" in claim and not latex)
    labelled_refs(
        equation, profile
    )  # resolves every name: unknown ones are bad input, before any work
    outcomes: list[_Outcome] = []
    for numbering in _numbering_candidates(equation, profile, setting):
        outcome = _check_under(equation, profile, setting, numbering, deadline)
        if outcome is None:
            continue
        if outcome.ok:
            return Verdict(
                ok=True,
                claim=text if isinstance(text, str) else str(text),
                lhs=render_ast(equation.lhs, style),
                rhs=render_ast(equation.rhs, style),
                method="symbolic"
                if outcome.symbolic
                else f"numeric, {outcome.used} rational points",
                checked=tuple(outcome.checked),
                numbering=NUMBERING_TEXT[numbering],
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
    profile: Profile,
    style: Style,
    outcome: _Outcome,
    setting: Setting,
    deadline: Deadline,
) -> Verdict:
    """A ✗ verdict: counterexample, a verified correct right-hand side, a diagnosis."""
    model, binding = outcome.model, outcome.binding
    assert binding is not None
    writer = Writer(profile, outcome.offsets)
    writer.unlabeled = not any(
        r.label is not None for r, _ in labelled_refs(equation, profile) if r.role in LAYERED
    )
    # A network checked at points names its values by its symbols (the point's keys).
    names = display_names(getattr(model, "view", model), writer, style)
    mismatch = outcome.mismatch
    counter = None
    unnamed = getattr(model, "unnamed", "")
    indices: dict[str, int] = {}
    if mismatch is not None:
        indices = {k: v for k, v in mismatch.where.items() if k not in ("row", "column")}
        used = (mismatch.lhs.free_symbols | mismatch.rhs.free_symbols) & set(names)
        if getattr(model, "pointwise", False):
            used = set(mismatch.point.rational) & set(names)

        shown = sorted(used, key=lambda s: names[s])[:16]
        where = [(k, str(v)) for k, v in sorted(binding.items()) if k != "L"]
        where += [(k, str(v)) for k, v in mismatch.where.items()]
        counter = Counterexample(
            where=tuple(where),
            values=tuple((names[s], str(mismatch.point.rational[s])) for s in shown)
            + ((("weights and biases", unnamed),) if unnamed else ()),
            lhs_value=fmt_value(mismatch.lvalue),
            rhs_value=fmt_value(mismatch.rvalue),
        )
    env = Env(model, outcome.offsets, dict(binding), dict(indices))
    correct, diagnosis = None, None
    points = sample_points(model, 4, setting.seed + 1)
    try:
        candidates = candidates_for(equation.lhs, profile, env, writer)
    except (VerifyError, NotDefined, NoTemplate):
        candidates = []
    free = free_indices(equation, profile)
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
            or not same_values(lhs_pairs, cand_pairs, points, deadline)
        ):
            continue
        correct = render_ast(cand.rhs, style)
        if rhs_pairs is not None:
            for diag, mutated in cand.mutations:
                mut_pairs = _side_pairs(
                    mutated, equation, profile, model, outcome.offsets, binding, free, deadline
                )
                if mut_pairs is not None and same_values(rhs_pairs, mut_pairs, points, deadline):
                    diagnosis = diag
                    break
        break
    if correct is None and lhs_pairs is not None:
        values = [lhs for _, _, lhs in lhs_pairs]
        if len(values) == 1:
            correct = render_sympy(_fold(values[0], model, names), names, style)
    where_text = _where_text(binding)
    return Verdict(
        ok=False,
        claim=text,
        lhs=render_ast(equation.lhs, style),
        rhs=render_ast(equation.rhs, style),
        method=f"numeric, {outcome.used} rational points" if mismatch is not None else "",
        checked=tuple(outcome.checked),
        numbering=NUMBERING_TEXT[outcome.numbering],
        counterexample=counter,
        correct=correct,
        correct_where=where_text,
        diagnosis=diagnosis,
        reason=outcome.reason,
    )


def _fold(expr: sp.Expr, model: Model, names: dict[sp.Symbol, str]) -> sp.Expr:
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
    profile: Profile,
    model: Model,
    offsets: dict[str, int],
    binding: dict[str, int],
    free: list[str],
    deadline: Deadline,
) -> list[tuple[dict[str, int], tuple[int, int], sp.Expr]] | None:
    env = Env(model, offsets, dict(binding))
    ev = Evaluator(profile, env, deadline)
    try:
        ranges = [range(1, index_range(equation, i, ev) + 1) for i in free]
        out = []
        for values in index_product(ranges):
            env.indices = dict(zip(free, values, strict=True))
            value = ev(node)
            for r in range(value.rows):
                for c in range(value.cols):
                    out.append((dict(env.indices), (r, c), value[r, c]))
        return out
    except (NotDefined, VerifyError):
        return None


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
