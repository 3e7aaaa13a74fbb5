"""A claim's verdict, its counterexample, and the text and JSON reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from symprop.core.errors import ParseError, SymPropError, shown
from symprop.verify.claims import claim_text
from symprop.verify.diagnose import DIAGNOSES
from symprop.verify.errors import VerifyError


@dataclass(frozen=True)
class Counterexample:
    """Where the two sides differ.

    ``where`` binds layer variables and unit indices (``l = 2, j = 1``); ``values`` gives
    every symbol the differing entry depends on, exactly (``w^2_{11} = 3/10``), in the
    network's order, never truncated; ``lhs_value`` and ``rhs_value`` are the two sides
    there, to 12 significant digits. ``seed`` and ``point`` say which random point it is
    (the ``point``-th point drawn with that seed), so a rerun reproduces it; substituting
    ``values`` into both sides reproduces the difference.
    """

    where: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, str], ...]
    lhs_value: str
    rhs_value: str
    seed: int | None = None
    point: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "where": dict(self.where),
            "values": dict(self.values),
            "lhs": self.lhs_value,
            "rhs": self.rhs_value,
            "seed": self.seed,
            "point": self.point,
        }

    def lines(self, indent: str = "    ") -> list[str]:
        """The counterexample as report lines: all values, a few per line."""
        where = ", ".join(f"{k} = {v}" for k, v in self.where)
        drawn = f" (seed {self.seed}, point {self.point})" if self.point is not None else ""
        head = f"{indent}counterexample{drawn}{f' at {where}' if where else ''}:"
        values = [f"{k} = {v}" for k, v in self.values]
        out = []
        if sum(len(v) + 2 for v in values) + len(head) <= 100:
            out.append(f"{head} {', '.join(values)}" if values else head)
        else:
            out.append(head)
            row: list[str] = []
            for value in values:
                if row and sum(len(v) + 2 for v in row) + len(value) > 90:
                    out.append(f"{indent}  {', '.join(row)},")
                    row = []
                row.append(value)
            if row:
                out.append(f"{indent}  {', '.join(row)}")
        out.append(f"{indent}  left side = {self.lhs_value}, right side = {self.rhs_value}")
        return out


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one claim.

    Attributes
    ----------
    ok
        The claim holds on every layer and index it can denote.
    claim
        The claim as given.
    lhs, rhs
        The two sides, normalised (re-printed from the parsed claim).
    method
        How it was decided: ``symbolic`` or ``numeric (k rational points)``.
    checked
        The bindings checked (``l = 1``, ``l = 2``…); empty when there is no layer variable.
    numbering
        The layer-numbering convention the verdict refers to.
    counterexample
        For ✗: where the sides differ (``None`` when a side is not even defined there).
    correct
        For ✗: a correct right-hand side in the claim's notation, when one is known.
    correct_where
        The binding the correct right-hand side is for (``l = 2``), if any.
    diagnosis
        For ✗: the id of a known mistake that the claim equals (see :data:`DIAGNOSES`).
    reason
        For ✗ without a counterexample: why (e.g. shapes that do not conform).
    reading
        How the claim was read, as (what, taken as) pairs: the numbering, the notation, and
        every symbol whose role was decided (``δ_{ij}``: the Kronecker delta).
    links
        For a chain of equations: one verdict per link, in order; the claim holds when
        every link holds, and the first false link is the one reported.
    ambiguous
        Non-empty when the claim has plausible readings with different verdicts: the
        verdict under each reading. Such a claim is neither ✓ nor ✗ (:attr:`status`).
    """

    ok: bool
    claim: str
    lhs: str
    rhs: str
    method: str = ""
    checked: tuple[str, ...] = ()
    numbering: str = ""
    counterexample: Counterexample | None = None
    correct: str | None = None
    correct_where: str = ""
    diagnosis: str | None = None
    reason: str = ""
    reading: tuple[tuple[str, str], ...] = ()
    links: tuple[Verdict, ...] = ()
    ambiguous: tuple[Verdict, ...] = ()

    @property
    def status(self) -> str:
        """``holds``, ``fails`` or ``ambiguous`` (exit code 0, 1, 1)."""
        if self.ambiguous:
            return "ambiguous"
        return "holds" if self.ok else "fails"

    @property
    def diagnosis_text(self) -> str | None:
        """The diagnosis as a message (``missing φ' factor``), or ``None``."""
        return None if self.diagnosis is None else DIAGNOSES[self.diagnosis]

    @property
    def first_false_link(self) -> int | None:
        """The 0-based position of the first false link of a chain, or ``None``."""
        return next((i for i, link in enumerate(self.links) if not link.ok), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (the shape of ``symprop verify --json``)."""
        return {
            "ok": None if self.ambiguous else self.ok,
            "status": self.status,
            "claim": self.claim,
            "lhs": self.lhs,
            "rhs": self.rhs,
            "method": self.method,
            "checked": list(self.checked),
            "numbering": self.numbering,
            "reading": [{"what": what, "as": taken} for what, taken in self.reading],
            "counterexample": None
            if self.counterexample is None
            else self.counterexample.to_dict(),
            "correct": self.correct,
            "correct_where": self.correct_where,
            "diagnosis": self.diagnosis,
            "diagnosis_text": self.diagnosis_text,
            "reason": self.reason,
            "links": [link.to_dict() for link in self.links],
            "first_false_link": self.first_false_link,
            "ambiguous": [v.to_dict() for v in self.ambiguous],
        }

    def to_text(self) -> str:
        """Readable lines for the terminal: the verdict, the reading it used, and for ✗
        the first false link's counterexample, correct right-hand side and diagnosis."""
        if self.ambiguous:
            lines = [f"? ambiguous: {claim_text(self.claim)}"]
            lines.append("    the claim has readings with different verdicts:")
            # Only what differs between the readings (the numbering, a symbol's role).
            common = set.intersection(*(set(v.reading) for v in self.ambiguous))
            for v in self.ambiguous:
                taken = "; ".join(f"{w}: {t}" for w, t in v.reading if (w, t) not in common)
                taken = taken or "the preferred reading (nothing above applies)"
                lines.append(f"    - {'holds' if v.ok else 'fails'} when read with {taken}")
            return "\n".join(lines)
        mark = "✓" if self.ok else "✗"
        lines = [f"{mark} {claim_text(self.claim)}"]
        lines += self._reading_lines()
        if self.links:
            for i, link in enumerate(self.links, start=1):
                state = "holds" if link.ok else "FALSE"
                lines.append(f"    step {i} {state}: {claim_text(link.claim)}")
            first = self.first_false_link
            if first is not None:
                lines.append(f"    first false step: step {first + 1}")
                lines += self.links[first]._failure_lines("      ")
            elif self.method:
                lines.append(f"    holds ({self.method})")
            return "\n".join(lines)
        if self.ok:
            lines.append(
                f"    holds ({self.method}"
                + (f"; {self._checked_text()})" if self.checked else ")")
            )
            return "\n".join(lines)
        lines += self._failure_lines("    ")
        return "\n".join(lines)

    def _checked_text(self) -> str:
        joined = " | ".join(self.checked)
        return f"at {joined}" if all(" = " in c for c in self.checked) else joined

    def _reading_lines(self) -> list[str]:
        if not self.reading:
            return []
        return ["    read as: " + "; ".join(f"{w}: {t}" for w, t in self.reading)]

    def _failure_lines(self, indent: str) -> list[str]:
        lines = []
        if self.method.startswith("to the "):
            lines.append(f"{indent}judged {self.method}")  # a numeric claim's tolerance
        if self.reason:
            lines.append(f"{indent}{self.reason}")
        if self.counterexample is not None:
            lines += self.counterexample.lines(indent)
        if self.correct is not None:
            at = f" (for {self.correct_where})" if self.correct_where else ""
            lines.append(f"{indent}correct{at}: {self.lhs} = {self.correct}")
        if self.diagnosis is not None:
            lines.append(f"{indent}likely mistake: {self.diagnosis_text}")
        return lines


def error_line(error: SymPropError) -> str:
    """One line for a bad claim: the message, with the column for a parse error."""
    if not isinstance(error, SymPropError):
        raise VerifyError(f"error: got {shown(error)}; must be a SymPropError")
    text = str(error).split("\n")[0]
    position = getattr(error, "position", None)
    if isinstance(error, ParseError) and position is not None:
        text += f" (column {position + 1})"
    return text


def verdicts_json(claims: list[str], results: list[Verdict | SymPropError]) -> str:
    """The ``--json`` document: one entry per claim, verdict or error."""
    if not all(isinstance(x, Iterable) and not isinstance(x, str) for x in (claims, results)):
        raise VerifyError("verdicts_json takes the claims and what verify_claims returned for them")
    claims, results = list(claims), list(results)
    if len(claims) != len(results) or not all(
        isinstance(r, (Verdict, SymPropError)) for r in results
    ):
        raise VerifyError("verdicts_json takes the claims and what verify_claims returned for them")
    entries = []
    for claim, result in zip(claims, results, strict=True):
        if isinstance(result, Verdict):
            entries.append(result.to_dict())
        else:
            entries.append({"ok": None, "claim": claim, "error": error_line(result)})
    return json.dumps({"claims": entries}, indent=2, ensure_ascii=False)
