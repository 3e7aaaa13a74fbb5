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
import dataclasses
import itertools
import signal
import threading
from collections.abc import Callable, Iterable, Iterator

import sympy as sp

from symprop.core import proof
from symprop.core.errors import SymPropError, shown
from symprop.core.spec import Network
from symprop.parsing import (
    Derivation,
    Equation,
    Expr,
)
from symprop.verify.calculus import check_free, needs_network
from symprop.verify.chains import (
    Claim,
    choose_numberings,
    describe,
    equivalent,
    numbering_candidates,
    read_claim,
    relation_filter,
)
from symprop.verify.errors import VerifyError
from symprop.verify.evaluate import (
    Env,
    Evaluator,
    NotDefined,
    index_product,
    index_range,
    shape_text,
)
from symprop.verify.explain import Outcome as _Outcome
from symprop.verify.explain import explain_link, where_text
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
    compare_to_shown,
    sample_points,
    shown_decimals,
    shown_tolerance,
)
from symprop.verify.pointwise import POINTS_AT_SCALE, checked_at_points, point_model
from symprop.verify.render import render_ast
from symprop.verify.report import Verdict
from symprop.verify.setting import MAX_CLAIMS, MAX_DEPTH, Deadline, Model, Setting, small_model
from symprop.verify.sides import loss_term


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
                f"{where_text(binding, env.indices) or 'this layer'}: {exc}",
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
    equation: Equation,
    profile: Profile,
    setting: Setting,
    numbering: str,
    deadline: Deadline,
    scope: Expr | None = None,
    keep: Callable[[dict[str, int]], bool] | None = None,
    loss_term: sp.Expr | None = None,
) -> _Outcome | None:
    """``equation`` checked under one numbering. ``scope`` is the whole claim (a chain): its
    labels decide the network and the layer bindings, so every link is read the same way;
    ``keep`` filters the bindings (relations between layer variables stated in the claim);
    ``loss_term`` is the setting's loss formula as a SymPy term in
    :data:`symprop.core.registry.a` and ``y`` (one output unit's), replacing the registry
    loss in both routes."""
    whole = equation if scope is None else scope
    offsets = NUMBERINGS[numbering]
    network = _network_for(whole, profile, setting)  # type: ignore[arg-type]
    batch = _batch_for(whole, profile)  # type: ignore[arg-type]
    if checked_at_points(network, batch):
        return _check_at_points(
            equation, profile, setting, numbering, deadline, network, batch, whole, keep, loss_term
        )
    model = small_model(network, batch, loss_term, setting.penalty)
    refs = [r for r, _ in labelled_refs(whole, profile)]
    bindings = [b for b in layer_bindings(refs, offsets, model.L) if keep is None or keep(b)]
    if not bindings:
        return None
    # One check per value of the link's own layer variables (the others only constrain).
    own = {r.label[0] for r, _ in labelled_refs(equation, profile) if r.label} | {"L"}
    distinct: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}
    for b in bindings:
        distinct.setdefault(tuple(sorted((k, v) for k, v in b.items() if k in own)), b)
    bindings = [dict(key) for key in distinct]
    free = free_indices(equation, profile)
    points = sample_points(model, setting.points, setting.seed)
    checked, symbolic_all, used_max, tolerance = [], True, 0, ""
    for binding in bindings:
        pairs, reason = _evaluate_sides(equation, profile, model, offsets, binding, free, deadline)
        where = where_text(binding)
        if reason:
            return _Outcome(
                False, False, 0, checked, None, reason, binding, model, offsets, numbering
            )
        if where:
            checked.append(where)
        shown = shown_decimals(equation.lhs, equation.rhs)
        judged = compare_to_shown(pairs, *shown) if shown is not None else None
        if judged is not None:
            # A numeric claim is judged to the precision it shows (a worked example's
            # a^{(2)}_1 = 0.7311 with declared values).
            assert shown is not None
            tolerance = shown_tolerance(shown[1])
            if not judged[0]:
                return _Outcome(
                    False,
                    False,
                    0,
                    checked,
                    judged[1],
                    "",
                    binding,
                    model,
                    offsets,
                    numbering,
                    tolerance=tolerance,
                )
            continue
        equal, symbolic, mismatch, used = compare_sides(pairs, points, setting.points, deadline)
        if not equal:
            return _Outcome(
                False, False, used, checked, mismatch, "", binding, model, offsets, numbering
            )
        symbolic_all &= symbolic
        used_max = max(used_max, used)
    return _Outcome(
        True,
        symbolic_all,
        used_max,
        checked,
        None,
        "",
        None,
        model,
        offsets,
        numbering,
        tolerance=tolerance,
    )


# ---------------------------------------------------------------- one claim, one reading


def _fits(claim: Claim, setting: Setting, numbering: str, which: int = 0) -> bool:
    """Whether the claim's labels denote layers under ``numbering`` (nothing evaluated);
    a claim with no network quantity fits every numbering."""
    profile = claim.profiles[which]
    if not needs_network(claim.scope, profile, setting):
        return True
    network = _network_for(claim.scope, profile, setting)  # type: ignore[arg-type]
    refs = [r for r, _ in labelled_refs(claim.scope, profile)]
    keep = relation_filter(claim)
    bindings = layer_bindings(refs, NUMBERINGS[numbering], network.depth)
    return any(keep is None or keep(b) for b in bindings)


def _link_verdict(
    claim: Claim,
    i: int,
    head: Expr | None,
    outcome: _Outcome,
    setting: Setting,
    deadline: Deadline,
    profile: Profile,
) -> Verdict:
    link = claim.links[i]
    text = claim.text if len(claim.links) == 1 else claim.link_text(i)
    numbering = "" if outcome.model is None else NUMBERING_TEXT[outcome.numbering]
    if outcome.ok:
        return Verdict(
            ok=True,
            claim=text,
            lhs=render_ast(link.lhs, claim.style),
            rhs=render_ast(link.rhs, claim.style),
            method=outcome.tolerance
            or ("symbolic" if outcome.symbolic else f"numeric, {outcome.used} rational points"),
            checked=tuple(outcome.checked),
            numbering=numbering,
        )
    verdict = explain_link(link, head, profile, claim.style, outcome, setting, deadline, text)
    if outcome.model is None:
        verdict = dataclasses.replace(verdict, numbering="", correct_where="")
    if i < len(claim.joins) and claim.joins[i] == "implies":
        reason = "a false premise: the step it implies is checked on its own"
        verdict = dataclasses.replace(
            verdict, reason=f"{reason}; {verdict.reason}" if verdict.reason else reason
        )
    return verdict


def _under(
    claim: Claim, setting: Setting, numbering: str, why: str, deadline: Deadline, which: int = 0
) -> Verdict | None:
    """The claim's verdict under one reading (``None`` when its labels fit no layer)."""
    keep = relation_filter(claim)
    profile = claim.profiles[which]
    network = needs_network(claim.scope, profile, setting)
    # The setting's loss written out replaces the registry loss in the model (C and J).
    term = loss_term(setting.loss_formula) if network and setting.loss_formula else None
    links: list[Verdict] = []
    head: Expr | None = None
    run_holds = True
    for i in claim.checked:
        link = claim.links[i]
        if i == 0 or claim.joins[i - 1] != "chain" or (i - 1) in claim.relations:
            head, run_holds = link.lhs, True
        if network:
            outcome = _check_under(
                link,
                profile,
                setting,
                numbering,
                deadline,
                scope=claim.scope,
                keep=keep,
                loss_term=term,
            )
        else:
            outcome = check_free(link, profile, setting, deadline)
        if outcome is None:
            return None
        links.append(
            _link_verdict(
                claim, i, head if run_holds else None, outcome, setting, deadline, profile
            )
        )
        run_holds &= outcome.ok
    reading = describe(claim, which, numbering if network else None, why)
    if len(links) == 1:
        return dataclasses.replace(links[0], claim=claim.text, reading=reading)
    first = next((v for v in links if not v.ok), None)
    checked = tuple(dict.fromkeys(c for v in links for c in v.checked))
    methods = {v.method for v in links if v.ok}
    return Verdict(
        ok=first is None,
        claim=claim.text,
        lhs=render_ast(claim.links[0].lhs, claim.style),
        rhs=render_ast(claim.links[-1].rhs, claim.style),
        method=("symbolic" if methods == {"symbolic"} else "numeric") if first is None else "",
        checked=checked,
        numbering=NUMBERING_TEXT[numbering] if network else "",
        counterexample=None if first is None else first.counterexample,
        correct=None if first is None else first.correct,
        correct_where="" if first is None else first.correct_where,
        diagnosis=None if first is None else first.diagnosis,
        reason="" if first is None else first.reason,
        reading=reading,
        links=tuple(links),
    )


def _decide(
    claim: Claim, setting: Setting, kept: list[str], why: str, deadline: Deadline | None = None
) -> Verdict:
    """The claim's verdict under every reading the run cannot choose between (the
    reader's readings, the run's numberings): ✓/✗ when they agree, ambiguous when not."""
    deadline = deadline or Deadline(setting.time_limit)
    verdicts: list[Verdict] = []
    for which in range(len(claim.readings)):
        fitting = [n for n in kept if _fits(claim, setting, n, which)]
        todo: list[str] = []
        for numbering in fitting:
            if not any(equivalent(claim, numbering, d) for d in todo):
                todo.append(numbering)  # else: the same verdict as a numbering already listed
        reason = why
        if len(kept) > 1 and len(todo) == 1:
            reason = (
                "the only numbering its labels fit"
                if len(fitting) == 1
                else "the verdict is the same when "
                + " or when ".join(NUMBERING_TEXT[n] for n in fitting)
            )
        for numbering in todo:
            verdict = _under(claim, setting, numbering, reason, deadline, which)
            if verdict is not None:
                verdicts.append(verdict)
    if verdicts and len({v.ok for v in verdicts}) > 1:
        return dataclasses.replace(verdicts[0], ok=False, ambiguous=tuple(verdicts))
    if verdicts:
        return verdicts[0]
    # The run's numbering does not fit this claim: say so, and what another one would say.
    others = [n for n in numbering_candidates(claim, setting) if n not in kept]
    for numbering in others:
        if _fits(claim, setting, numbering):
            other = _under(claim, setting, numbering, "not the run's numbering", deadline)
            if other is not None:
                status = "holds" if other.ok else "fails too"
                return Verdict(
                    ok=False,
                    claim=claim.text,
                    lhs=other.lhs,
                    rhs=other.rhs,
                    numbering=NUMBERING_TEXT[kept[0]],
                    reason=(
                        f"its layer labels denote no layer when {NUMBERING_TEXT[kept[0]]} "
                        f"(the run's numbering: {why}); when {NUMBERING_TEXT[numbering]}, "
                        f"it {status}, but that contradicts the other claims"
                    ),
                    reading=describe(claim, 0, kept[0], why),
                )
    raise VerifyError(
        "no layer of the network fits the claim's labels"
        + (f" (the network has {setting.network.depth} layers)" if setting.network else "")
    )


def _contradicted(
    claim: Claim, verdict: Verdict, setting: Setting, kept: list[str], deadline: Deadline
) -> Verdict:
    """A claim false under the run's numbering that holds under another: say so (never ✓).
    Shares the claim's ``deadline``: the note is part of the same claim's check."""
    if verdict.ok or verdict.ambiguous or setting.numbering != "auto":
        return verdict
    if not needs_network(claim.scope, claim.profile, setting):
        return verdict
    for numbering in numbering_candidates(claim, setting):
        if numbering in kept or any(equivalent(claim, numbering, k) for k in kept):
            continue
        if not _fits(claim, setting, numbering):
            continue
        try:
            other = _under(claim, setting, numbering, "another numbering", deadline)
        except SymPropError:
            return verdict  # the note is extra: out of time or unreadable there, leave it out
        if other is not None and other.ok:
            note = (
                f"it would hold if {NUMBERING_TEXT[numbering]}, which contradicts the "
                f"numbering the run's claims are read in ({NUMBERING_TEXT[kept[0]]})"
            )
            return dataclasses.replace(
                verdict, reason=f"{verdict.reason}; {note}" if verdict.reason else note
            )
    return verdict


def _check_at_points(
    equation: Equation,
    profile: Profile,
    setting: Setting,
    numbering: str,
    deadline: Deadline,
    network: Network,
    batch: int,
    scope: Expr | None = None,
    keep: Callable[[dict[str, int]], bool] | None = None,
    loss_term: sp.Expr | None = None,
) -> _Outcome | None:
    """A large network: both sides as numbers at a few exact points (:mod:`.pointwise`).

    ✓ only when they agree at every point within the engine's tolerance; the first point
    where they differ is the counterexample. A point near a kink of a piecewise activation,
    or where the reference is undefined, is replaced by a spare.
    """
    offsets = NUMBERINGS[numbering]
    refs = [r for r, _ in labelled_refs(equation if scope is None else scope, profile)]
    bindings = [b for b in layer_bindings(refs, offsets, network.depth) if keep is None or keep(b)]
    if not bindings:
        return None
    free = free_indices(equation, profile)
    wanted = min(setting.points, POINTS_AT_SCALE)
    used, checked, model = 0, [where_text(b) for b in bindings if where_text(b)], None
    for index in range(wanted * 4):
        if used >= wanted:
            break
        deadline.check()
        try:
            model = point_model(network, batch, setting.seed, index, loss_term, setting.penalty)
        except proof.Kink:
            continue
        point = proof.Point.of(model.point.rational(model.view))
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
    """Check one hand-derived claim (an equation or a chain of them) against brute force.

    Parameters
    ----------
    text
        An equation in LaTeX (``\\delta^L = a^L - y``) or plain syntax
        (``dC/dW2 = delta2 @ a1.T``), or a derivation (``A = B = C``,
        ``A = B \\Rightarrow C = D``); surrounding ``$`` are allowed.
    setting
        The network (or single-unit activation and loss) the claim is about.

    Returns
    -------
    Verdict
        ✓ or ✗ with counterexample, correct right-hand side and diagnosis (for a chain,
        those of its first false link, and one verdict per link in ``links``), or
        ambiguous (``status``) when readings with different verdicts are equally plausible.

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

    def run() -> Verdict:
        claim = read_claim(text if isinstance(text, str) else str(text), setting)
        kept, why = choose_numberings([claim], setting, lambda c, n: _fits(c, setting, n))
        return _decide(claim, setting, kept, why)

    return _guarded(run, setting)


def verify_derivation(node: Expr, setting: Setting, text: str = "") -> Verdict:
    """Check an already parsed claim (an :class:`~symprop.parsing.tree.Equation` or a
    :class:`~symprop.parsing.tree.Derivation`) like :func:`verify_claim`; ``text`` is what
    the verdict quotes (default: the claim written back)."""
    if not isinstance(setting, Setting):
        raise VerifyError(f"setting: got {shown(setting)}; must be a Setting")
    if not isinstance(node, Expr):
        raise VerifyError(f"node: got {shown(node)}; must be a parsed claim")

    def run() -> Verdict:
        claim = read_claim(text or "", setting, parsed=node)
        if not text:
            whole = Derivation(claim.links, claim.joins)  # type: ignore[arg-type]
            written = render_ast(whole if len(claim.links) > 1 else claim.links[0], claim.style)
            claim = dataclasses.replace(claim, text=written)
        kept, why = choose_numberings([claim], setting, lambda c, n: _fits(c, setting, n))
        return _decide(claim, setting, kept, why)

    return _guarded(run, setting)


def _guarded(work: Callable[[], Verdict], setting: Setting) -> Verdict:
    """Run one claim's work under the hard time limit, with SymPy's odd exceptions as bad
    input in one line."""
    try:
        with _hard_limit(setting.time_limit + 10):
            return work()
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


def verify_claims(texts: Iterable[str], setting: Setting) -> list[Verdict | SymPropError]:
    """Check several claims, all read in one numbering; a bad claim yields its error.

    With ``numbering = "auto"`` the run's numbering is the one under which the most
    claims' labels denote layers (ties broken by the declared notation); it is stated in
    every verdict's reading. A claim that holds only under another numbering is reported
    false with a note, and one whose readings cannot be told apart and disagree is
    ambiguous: two claims are never accepted under contradictory readings.

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
    out: list[Verdict | SymPropError | None] = []
    claims: dict[int, Claim] = {}
    for i, text in enumerate(texts):
        try:
            claims[i] = _guarded_read(text, setting)
            out.append(None)
        except SymPropError as exc:
            out.append(exc)

    def fits(claim: Claim, numbering: str) -> bool:
        try:
            return _fits(claim, setting, numbering)
        except SymPropError:
            return False

    kept, why = choose_numberings(list(claims.values()), setting, fits)
    for i, claim in claims.items():
        try:

            def work(c: Claim = claim) -> Verdict:
                deadline = Deadline(setting.time_limit)
                verdict = _decide(c, setting, kept, why, deadline)
                return _contradicted(c, verdict, setting, kept, deadline)

            out[i] = _guarded(work, setting)
        except SymPropError as exc:
            out[i] = exc
    return [r for r in out if r is not None]


def _guarded_read(text: str, setting: Setting) -> Claim:
    holder: list[Claim] = []

    def work() -> Verdict:
        holder.append(read_claim(text if isinstance(text, str) else str(text), setting))
        return Verdict(ok=True, claim="", lhs="", rhs="")

    _guarded(work, setting)
    return holder[0]
