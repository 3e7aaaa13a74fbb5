"""Formula numbers in documents: increasing down the body, one number per formula, and a
formula repeated in the summary carries the number it was first stated with."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from symprop import derive, load_spec
from symprop.core.notation import PROFILES
from symprop.documents.emit import checked, document_context, to_latex, to_markdown

ROOT = Path(__file__).resolve().parent.parent


@cache
def _checked(name: str):
    return checked(derive(load_spec(ROOT / "examples" / f"{name}.toml")))


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("name", ["xor", "residual"])
def test_numbers_increase_and_a_repeat_is_the_same_formula(name: str, profile: str) -> None:
    ctx = document_context(_checked(name), profile)
    body = [eq for section in ctx.sections for eq in section.equations if eq.number]
    numbers = [eq.number for eq in body]
    assert numbers == sorted(set(numbers)), numbers
    first = {eq.number: eq.lines[-1].rhs for eq in body}
    repeated = 0
    for section in ctx.summary:
        for eq in section.equations:
            if eq.number in first:
                repeated += 1
                assert eq.lines[-1].rhs == first[eq.number], (eq.step_id, eq.number)
    assert repeated, "the summary repeats the forward pass and the update"
    # The documents say so, once, where the repeats begin.
    note = "Formulas stated above are repeated here with their numbers"
    tex, md = to_latex(_checked(name), profile), to_markdown(_checked(name), profile)
    for text in (tex, md):
        assert text.count(note) == 1
        assert text.index(note) > text.index("Summary for this network")
    # Every tag is printed once per displayed chain: as often as its formula is shown.
    tags = re.findall(r"\\tag\{(\d+)\}", tex)
    shown = numbers + [eq.number for s in ctx.summary for eq in s.equations if eq.number]
    assert sorted(map(int, tags)) == sorted(shown)
