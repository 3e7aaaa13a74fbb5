"""A deep network's document fits the page: no overfull box at depth 6 or 10, in any profile."""

from __future__ import annotations

import os
import re
import shutil
from functools import cache

import pytest
from test_markdown_render import markdown_problems

from symprop import Dense, Network, derive
from symprop.core.notation import PROFILES
from symprop.documents.emit import checked, to_latex, to_markdown, typeset

ACTIVATIONS = (
    "relu",
    "tanh",
    "sigmoid",
    "elu",
    "leaky_relu",
    "softplus",
    "silu",
    "tanh",
    "sigmoid",
)


@cache
def _deep(depth: int = 10):
    layers = [Dense(16, act) for act in ACTIVATIONS[: depth - 1]] + [Dense(4, "softmax")]
    net = Network(inputs=8, layers=layers, loss="cross_entropy", l2=1e-4, name="deep")
    assert net.depth == depth
    return checked(derive(net))


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("depth", [6, 10])
def test_no_overfull_box_at_depth_6_and_10(depth: int, profile: str) -> None:
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but pdflatex is not installed")
        pytest.skip("pdflatex not installed")
    _, log = typeset(to_latex(_deep(depth), profile))
    overfull = re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\) (.*)", log)
    assert not overfull, overfull


@pytest.mark.parametrize("profile", list(PROFILES))
def test_a_broken_formula_renders_in_markdown(profile: str) -> None:
    # The rows a long formula is broken into stay one aligned block, whatever the profile.
    problems = markdown_problems(to_markdown(_deep(), profile))
    assert not problems, problems[:10]
