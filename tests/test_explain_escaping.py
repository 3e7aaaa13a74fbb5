"""Any user string reaches explain's outputs through one escaping function per format:
the TeX document compiles, Graphviz accepts the DOT source, the JSON reads back the string."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symprop.core.templating import _LATEX_SPECIALS, latex_escape
from symprop.explain.backward import Backprop
from symprop.explain.formats import to_dot, to_json, to_tex
from symprop.explain.user_text import explain_text

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
needs_latex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")

HOSTILE = [
    "a title\n\nwith a blank line",  # a paragraph break inside \section*
    "计算图 of 誤差逆伝播",  # CJK, which pdfLaTeX's T1 fonts cannot typeset
    r"\input{/etc/passwd} \def\x{} $x^2$ 100% #1 ~ _ ^ { }}} \\",
    "tab\tform\x0cfeed\x00nul\x1b[31mred",
    '<b>&amp;</b> " ]] --> <!-- ',
    "lone \udc80 surrogate and 😀 \u2028 \ufeff \ufffe",
]
TITLES = st.text(max_size=40)


@lru_cache(maxsize=1)
def _result() -> Backprop:
    return explain_text("x*x + y", {"x": 2, "y": 3})


def _compiles(document: str) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "doc.tex").write_text(document, encoding="utf-8")
        done = subprocess.run(
            [
                "pdflatex",
                "-interaction=nonstopmode",
                "-halt-on-error",
                "-no-shell-escape",
                "doc.tex",
            ],
            cwd=folder,
            capture_output=True,
            timeout=120,
            check=False,
        )
        return done.returncode == 0, done.stdout.decode("utf-8", "replace")[-1500:]


@needs_latex
@pytest.mark.parametrize("title", HOSTILE)
def test_tex_with_a_hostile_title_compiles(title: str) -> None:
    ok, log = _compiles(to_tex(_result(), title))
    assert ok, log


@needs_latex
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TITLES)
def test_tex_with_any_title_compiles(title: str) -> None:
    ok, log = _compiles(to_tex(_result(), title))
    assert ok, log


@settings(max_examples=300, deadline=1000)
@given(TITLES)
def test_latex_escape_is_plain_ascii_or_t1_letters_with_balanced_groups(title: str) -> None:
    text = latex_escape(title)
    assert "\n" not in text and "\\par" not in text
    assert all(" " <= c <= "~" or ("\u00c0" <= c <= "\u017f" and c.isalpha()) for c in text)
    unescaped = text.replace(r"\{", "").replace(r"\}", "")
    depth = 0
    for char in unescaped:
        depth += (char == "{") - (char == "}")
        assert depth >= 0
    assert depth == 0
    # Commands are only the escapes' own: no user text can name a command.
    commands = set(re.findall(r"\\([A-Za-z]+)", text))
    escapes = set(re.findall(r"\\([A-Za-z]+)", "".join(_LATEX_SPECIALS.values())))
    assert commands <= escapes | {"texttt"}


@needs_dot
@settings(max_examples=40, deadline=10_000)
@given(TITLES)
@example('\x00\x01\ud800\ufffe<>&"\n\n')
def test_dot_with_any_title_is_accepted_by_graphviz(title: str) -> None:
    source = to_dot(_result(), title)
    done = subprocess.run(
        ["dot", "-Tsvg"], input=source.encode("utf-8"), capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0 and not done.stderr, done.stderr.decode("utf-8", "replace")


@settings(max_examples=300, deadline=1000)
@given(TITLES)
@example("lone \udc80 surrogate")
def test_json_with_any_title_round_trips(title: str) -> None:
    data = to_json(_result(), title).encode("utf-8")  # UTF-8 can hold every character written
    assert json.loads(data.decode("utf-8"))["title"] == title
