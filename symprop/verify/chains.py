"""A claim as a chain of links read one way: its equations, the relations between layer
variables it states, the numbering a run of claims is read in, and the reading reported
with every verdict.

A claim is a :class:`~symprop.parsing.tree.Derivation`: ``A = B = C`` is two links joined
by ``chain``, ``A = B \\Rightarrow C = D`` two joined by ``implies``, ``A = B,\\quad l = k + 1``
a link and a relation between the layer variables ``l`` and ``k`` (not checked: it holds
in every link, by restricting the layers the variables take).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from symprop.parsing import BinOp, Derivation, Equation, Expr, Name, Number, iter_nodes
from symprop.verify.claims import parse_claim
from symprop.verify.errors import VerifyError
from symprop.verify.notation import (
    LAYERED,
    NUMBERING_TEXT,
    NUMBERINGS,
    Profile,
    labelled_refs,
    normalise,
    offset,
)
from symprop.verify.reading import Reading
from symprop.verify.readings import numberings, readings
from symprop.verify.render import Style, render_ast
from symprop.verify.setting import Setting

# Which numbering a declared notation means, when the claims' labels leave a choice: Ng's
# Θ^(l) maps layer l to l+1; Nielsen's book (seed 000) makes the input layer 1;
# Goodfellow's h^(0) = x makes it layer 0. Bishop writes no layer labels.
NOTATION_NUMBERING = {"ng": "ng", "nielsen": "input1", "goodfellow": "input0"}


@dataclass(frozen=True)
class Claim:
    """A parsed claim: every link, how they join, which are relations between layer
    variables, and the one profile (notation) all links are read with."""

    text: str
    links: tuple[Equation, ...]
    joins: tuple[str, ...]
    relations: tuple[int, ...]
    scope: Derivation
    readings: tuple[Reading, ...]
    profiles: tuple[Profile, ...]
    style: Style

    @property
    def profile(self) -> Profile:
        """The profile of the preferred reading."""
        return self.profiles[0]

    @property
    def checked(self) -> tuple[int, ...]:
        """Positions of the links that are checked (all but the relations)."""
        return tuple(i for i in range(len(self.links)) if i not in self.relations)

    def link_text(self, i: int) -> str:
        """A link's own source text, or the link written back."""
        link = self.links[i]
        return link.text or render_ast(link, self.style)


def as_derivation(node: Expr) -> Derivation:
    """A parsed claim as a chain: one equation is a chain of one link."""
    if isinstance(node, Derivation):
        return node
    if isinstance(node, Equation):
        return Derivation((node,))
    raise VerifyError("a claim must be an equation: left side = right side")


def _strip_math(text: str) -> str:
    claim = text.strip()
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if claim.startswith(open_) and claim.endswith(close) and len(claim) > len(open_) + 2:
            return claim[len(open_) : -len(close)].strip()
    return claim


def _layer_variables(link: Equation) -> set[str] | None:
    """The variables of an equation between integer expressions in layer variables
    (``k = l + 1``), else None."""
    out: set[str] = set()
    for n in (m for side in (link.lhs, link.rhs) for m in iter_nodes(side)):
        if isinstance(n, Name):
            if n.sub or n.sup or n.primes or n.decorations or not re.fullmatch("[A-Za-z]", n.base):
                return None
            out.add(n.base)
        elif isinstance(n, Number):
            if n.value.denominator != 1:
                return None
        elif not (isinstance(n, BinOp) and n.op in ("add", "sub")):
            return None
    return out


def read_claim(text: str, setting: Setting, parsed: Expr | None = None) -> Claim:
    """Parse ``text`` (or take its already parsed ``parsed``) into a :class:`Claim` with
    its plausible readings (:func:`~symprop.verify.readings.readings`, the preferred one
    first); every name is resolved here, so an unknown one is bad input before any work."""
    claim = _strip_math(text)
    if parsed is None:
        node, latex = parse_claim(claim)
    else:
        node, latex = parsed, bool(re.search(r"\\[A-Za-z|]|[{}]", claim))
    derivation = as_derivation(node)
    links = tuple(normalise(link) for link in derivation.links)
    if not links:
        raise VerifyError("a claim must be an equation: left side = right side")
    joins = tuple(derivation.joins) + ("and",) * (len(links) - 1 - len(derivation.joins))
    # A link between bare letters that label layers elsewhere is a relation (l = k + 1).
    candidates = [i for i, link in enumerate(links) if _layer_variables(link) is not None]
    others = [link for i, link in enumerate(links) if i not in candidates]
    if not others:
        # Nothing else to relate (f = 4, x = 2): these are the claim's equations.
        candidates, others = [], list(links)
    scope = Derivation(tuple(others))
    profile = Profile(scope, setting)
    labels = {r.label[0] for r, _ in labelled_refs(scope, profile) if r.label and r.label[0]}
    relations = []
    for i in candidates:
        names = _layer_variables(links[i]) or set()
        if names and names <= labels | {"L"} and names & labels:
            relations.append(i)
    scope = Derivation(tuple(link for i, link in enumerate(links) if i not in relations))
    options = readings(scope, setting)
    profiles = tuple(Profile(scope, setting, reading) for reading in options)
    for profile in profiles:
        labelled_refs(scope, profile)  # resolves every name: unknown ones are bad input
    style = Style(latex=latex, parenthesized="^{(" in claim or "^(" in claim and not latex)
    return Claim(text, links, joins, tuple(relations), scope, options, profiles, style)


def _integer(node: Expr, binding: dict[str, int]) -> int:
    if isinstance(node, Number):
        return node.value.numerator
    if isinstance(node, Name):
        return binding[node.base]
    assert isinstance(node, BinOp)
    left, right = _integer(node.left, binding), _integer(node.right, binding)
    return left + right if node.op == "add" else left - right


def relation_filter(claim: Claim) -> Callable[[dict[str, int]], bool] | None:
    """The bindings of layer variables under which the claim's relations hold."""
    if not claim.relations:
        return None
    relations = [claim.links[i] for i in claim.relations]

    def keep(binding: dict[str, int]) -> bool:
        try:
            return all(_integer(r.lhs, binding) == _integer(r.rhs, binding) for r in relations)
        except KeyError:
            return False

    return keep


# ---------------------------------------------------------------- numbering of a run


def numbering_candidates(claim: Claim, setting: Setting) -> list[str]:
    """The numberings a claim could be written in, most likely first."""
    if setting.numbering != "auto":
        return [setting.numbering]
    names = [n for n in iter_nodes(claim.scope) if isinstance(n, Name)]
    if any(n.base in ("Theta", "theta") for n in names) or setting.notation == "ng":
        return ["ng"]
    out: list[str] = []
    for reading in claim.readings:
        out += [n for n in numberings(setting, reading) if n not in out]
    return out


def choose_numberings(
    claims: list[Claim], setting: Setting, fits: Callable[[Claim, str], bool]
) -> tuple[list[str], str]:
    """The numbering of a run: the one under which the most claims' labels denote layers,
    ties broken by the declared notation. Several are kept only when nothing decides
    between them (each claim is then checked under each, and is ambiguous when they
    disagree). Returns the numberings and why they were chosen."""
    if setting.numbering != "auto":
        return [setting.numbering], "declared"
    order: list[str] = []
    for claim in claims:
        for n in numbering_candidates(claim, setting):
            if n not in order:
                order.append(n)
    if not order:
        return ["input0"], "no claim to read"
    counts = {
        n: sum(1 for c in claims if n in numbering_candidates(c, setting) and fits(c, n))
        for n in order
    }
    best = max(counts.values())
    kept = [n for n in order if counts[n] == best]
    if len(kept) == 1:
        why = "the only one under which every claim's labels denote layers"
        if best < len(claims):
            why = f"the one under which the most claims ({best} of {len(claims)}) can be read"
        return kept, why
    declared = NOTATION_NUMBERING.get(setting.notation or "")
    if declared is None and setting.network is not None and setting.network.notation == "ng":
        declared = "ng"
    if declared in kept:
        return [declared], f"the declared notation ({setting.notation or 'ng'})"
    return kept, "the claims' labels fit several numberings"


def equivalent(claim: Claim, first: str, second: str) -> bool:
    """Whether two numberings must give the same verdict: no concrete layer label, and the
    numberings shift every role the claim names by the same amount."""
    refs = [r for r, _ in labelled_refs(claim.scope, claim.profile) if r.role in LAYERED]
    if any(r.label is not None and r.label[0] is None for r in refs):
        return False
    shifts = {offset(NUMBERINGS[first], r.role) - offset(NUMBERINGS[second], r.role) for r in refs}
    shifts.add(NUMBERINGS[first]["a"] - NUMBERINGS[second]["a"])  # L is labelled as a^L is
    return len(shifts) <= 1


def describe(
    claim: Claim, which: int, numbering: str | None, why: str
) -> tuple[tuple[str, str], ...]:
    """The reading a verdict reports: the reader's pairs (notation, what each symbol was
    taken as) with the numbering and why it was chosen, and the claim's layer relations."""
    text = None if numbering is None else f"{NUMBERING_TEXT[numbering]} ({why})"
    out = list(claim.readings[which].pairs(text))
    for i in claim.relations:
        out.append((claim.link_text(i), "a relation between layer variables"))
    return tuple(out)
