"""Pictures of explain: a variable used more than once shows its total gradient, the legend
says what is drawn, and TikZ labels sit on a white ground above every edge."""

from __future__ import annotations

import math
import re
import shutil

import pytest

from symprop.explain.emit import render_picture
from symprop.explain.formats import to_dot, to_tex
from symprop.explain.user_text import explain_text

SEED = "exp(u1 + u1**2)"  # seed 001's u3 = e^{u1 + u2}, u2 = u1^2: two paths from u1


def _total() -> str:
    # df/du1 = e^{u1 + u1^2} (1 + 2 u1) at u1 = 1: 3 e^2 = 22.17
    return f"{3 * math.exp(2):.3g}"


def test_fan_out_total_is_in_the_dot_and_tex() -> None:
    result = explain_text(SEED, {"u1": 1})
    assert _total() == "22.2"
    dot = to_dot(result, SEED)
    (u1_line,) = [line for line in dot.splitlines() if "<b>u_1</b>" in line]
    assert ">22.2<" in u1_line
    tex = to_tex(result, SEED)
    assert re.search(r"\{\$ u_\{1\} \$\\\\ \\textcolor\{bwd\}\{\$ 22\.2 \$\}\}", tex), tex


def test_single_use_nodes_show_no_total() -> None:
    dot = to_dot(explain_text("x*y + z", {"x": 2, "y": 3, "z": -2}))
    assert 'style="rounded,dashed"' not in dot
    assert [line for line in dot.splitlines() if "<b>x</b>" in line][0].count("#cf222e") == 0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_svg_draws_value_over_gradient_as_the_legend_says() -> None:
    result = explain_text(SEED, {"u1": 1})
    svg = render_picture(to_dot(result, SEED), "svg").decode()
    assert "forward value</text>" in svg and " over its " in svg
    assert " above, " not in svg and "below each edge" not in svg
    texts = re.findall(r'<text[^>]* y="([-\d.]+)"[^>]*fill="(#1a7f37|#cf222e)"[^>]*>([^<]*)<', svg)
    numbers = [(float(y), color) for y, color, t in texts if re.fullmatch(r"[-\d.e]+", t)]
    pairs = [
        (a, b)
        for a, b in zip(numbers, numbers[1:], strict=False)
        if (a[1], b[1]) == ("#1a7f37", "#cf222e")
    ]
    assert len(pairs) == 5  # four edges and the output's
    # Each edge's value is drawn just above its gradient (SVG y grows downwards).
    assert all(value[0] < gradient[0] for value, gradient in pairs)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_tikz_labels_come_after_every_edge_on_white() -> None:
    tex = to_tex(explain_text("exp(u1 + u1**2)*sin(u1**2)", {"u1": 1}))
    lines = tex.splitlines()
    draws = [i for i, line in enumerate(lines) if line.startswith(r"\draw[->")]
    labels = [i for i, line in enumerate(lines) if line.startswith(r"\node[lbl]")]
    assert draws and labels and max(draws) < min(labels)
    assert "fill=white" in tex
