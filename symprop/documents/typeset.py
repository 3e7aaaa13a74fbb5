"""Typesetting: LaTeX source to PDF with pdflatex, in a private folder, killed on every way out."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from symprop.core.errors import SymPropError, shown_path
from symprop.core.files import private_folder, write_atomic

__all__ = ["LatexFailed", "compile_pdf", "require_tex", "typeset"]


def compile_pdf(tex_path: Path | str, timeout: float = 180) -> Path:
    """Typeset a ``.tex`` file to the ``.pdf`` beside it (its ``.log`` too); return the PDF's
    path. LaTeX runs on a copy in a private folder (see :func:`typeset`), so the file's name
    reaches no tool.

    Raises
    ------
    SymPropError
        When pdflatex is missing, times out, or LaTeX reports an error (the first
        error line of the log is quoted).
    """
    tex_path = Path(tex_path)
    source = tex_path.read_text("utf-8")
    log = tex_path.with_suffix(".log")
    try:
        pdf, log_text = typeset(source, timeout)
    except LatexFailed as failed:
        write_atomic(log, failed.log)
        raise SymPropError(
            f"LaTeX failed on {shown_path(tex_path)}: {failed} (see {log})"
        ) from None
    write_atomic(log, log_text)
    return write_atomic(tex_path.with_suffix(".pdf"), pdf)


class LatexFailed(SymPropError):
    """LaTeX reported an error: the first error line of the log, and the whole log."""

    def __init__(self, first_line: str, log: str) -> None:
        super().__init__(first_line)
        self.log = log


_RERUN = re.compile(r"Rerun to get|Label\(s\) may have changed|Rerun LaTeX")
"""What LaTeX writes to its log when a further pass would change the page (references)."""
MAX_PASSES = 3


def typeset(source: str, timeout: float = 180) -> tuple[bytes, str]:
    """The PDF and the log of the LaTeX ``source``.

    pdflatex runs in a private folder on the fixed name ``doc.tex`` (no user path is ever an
    argument of a tool), once, and again (up to :data:`MAX_PASSES` passes) only when its log
    asks for a rerun: a derivation document has no cross-references, so one pass is final
    (latexmk always ran a second pass to confirm, doubling the time). Each pass runs in a
    process group of its own that is killed on every way out: an error, the timeout,
    Ctrl-C, SIGTERM; on Linux pdflatex also dies with symprop if it is killed outright. The
    folder (:func:`symprop.core.files.private_folder`) is removed afterwards, or by a later
    run if symprop was killed. ``timeout`` bounds all passes together.
    """
    pdflatex = require_tex()
    deadline = time.monotonic() + timeout
    with private_folder("tex") as folder:
        (folder / "doc.tex").write_text(source, "utf-8")
        command = [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"]
        log_path, pdf = folder / "doc.log", folder / "doc.pdf"
        for _ in range(MAX_PASSES):
            returncode = _run(command, folder, deadline - time.monotonic(), timeout)
            log = log_path.read_text("utf-8", "replace") if log_path.exists() else ""
            if returncode != 0 or not pdf.exists():
                lines = log.splitlines()
                raise LatexFailed(
                    next((ln for ln in lines if ln.startswith("!")), "no error line in the log"),
                    log,
                )
            if not _RERUN.search(log):
                break
        return pdf.read_bytes(), log


def _run(command: list[str], folder: Path, budget: float, timeout: float) -> int:
    """One pass of ``command`` in ``folder``; its return code. Killed with its process
    group when it outlives ``budget`` seconds or when symprop stops."""
    process = subprocess.Popen(
        command,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    try:
        return process.wait(max(budget, 0.001))
    except subprocess.TimeoutExpired:
        raise SymPropError(f"pdflatex took longer than {timeout:.0f} s") from None
    finally:
        if process.returncode is None:  # not reaped: its group id is still its own
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def require_tex() -> str:
    """The path of pdflatex, when it is installed; else a SymPropError."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise SymPropError(
            "--pdf needs TeX Live (pdflatex); install texlive-latex-base, "
            "texlive-latex-recommended and texlive-pictures, or use --latex"
        )
    return pdflatex


def _die_with_parent() -> None:
    """In the child, before pdflatex starts: be killed when symprop dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()
