"""Typesetting: one pdflatex pass when it is final, more when LaTeX asks for them."""

from __future__ import annotations

import os
import shutil

import pytest

from symprop.documents.typeset import LatexFailed, typeset


@pytest.fixture(autouse=True)
def _need_tex() -> None:
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but pdflatex is not installed")
        pytest.skip("pdflatex not installed")


def test_a_forward_reference_is_resolved_by_the_pass_latex_asks_for() -> None:
    # The reference precedes its label: the first pass cannot know the number and writes
    # "Rerun to get cross-references right"; a single-pass typesetter would leave "??".
    source = (
        "\\documentclass{article}\\begin{document}"
        "See section~\\ref{s}.\\section{One}\\section{Two}\\label{s}\\end{document}\n"
    )
    _, log = typeset(source)
    assert "undefined" not in log and "Rerun to get" not in log


def test_one_pass_when_nothing_refers_forward() -> None:
    # A pass that is final leaves no rerun request; the log is that of the only pass
    # (its first line, the banner, appears once).
    _, log = typeset("\\documentclass{article}\\begin{document}x\\end{document}\n")
    assert "Rerun" not in log
    assert log.count("This is pdfTeX") == 1


def test_an_error_quotes_its_first_line() -> None:
    with pytest.raises(LatexFailed, match=r"^! Undefined control sequence"):
        typeset("\\documentclass{article}\\begin{document}\\nosuchmacro\\end{document}\n")
