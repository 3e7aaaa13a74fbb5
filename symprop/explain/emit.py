"""Writing explained graphs to files: SVG/PNG pictures, each format to its file, and the
regeneration of the worked examples and network graphs in ``generated/``.

This is the only module of the explain pipeline that touches the file system; every file is
written atomically (a temporary file in the same directory, then :func:`os.replace`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symprop.core.errors import ParseError, shown_path
from symprop.core.examples import EXAMPLES_DIR, EXPLAIN_FILE, NETWORK_GRAPH_EXAMPLES
from symprop.core.files import write_atomic
from symprop.core.spec import load_spec
from symprop.explain.backward import Backprop
from symprop.explain.formats import run_dot, to_dot, to_json, to_tex
from symprop.explain.graph import (
    ExplainError,
)
from symprop.explain.network import explain_network, graph_title
from symprop.explain.printers import DIGITS
from symprop.explain.user_text import explain_text

# ------------------------------------------------------------------ files


def render_picture(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz ``dot`` on ``dot_source``; ``fmt`` is ``svg`` or ``png``.

    Raises
    ------
    ExplainError
        When ``dot`` is not installed or fails.
    """
    if fmt not in ("svg", "png"):
        raise ExplainError(f"unknown picture format {fmt!r}; use svg or png")
    return run_dot(dot_source, fmt)


GRAPH_FORMATS = ("svg", "png", "tex", "json", "dot")
"""What a picture file can be; the file's suffix chooses (``--graph out.svg``)."""


def render_format(result: Backprop, fmt: str, title: str = "", digits: int = DIGITS) -> str | bytes:
    """The contents of one output file: ``tex``, ``json``, ``dot``, ``svg`` or ``png``."""
    if fmt == "tex":
        return to_tex(result, title, digits)
    if fmt == "json":
        return to_json(result, title)
    if fmt == "dot":
        return to_dot(result, title, digits)
    if fmt in ("svg", "png"):
        return render_picture(to_dot(result, title, digits), fmt)
    raise ExplainError(f"unknown output format {fmt!r}; use tex, json, dot, svg or png")


def write_outputs(
    result: Backprop, stem: Path, formats: Sequence[str], title: str = "", digits: int = DIGITS
) -> list[Path]:
    """Write ``stem.<format>`` for each of ``tex``, ``json``, ``dot``, ``svg``, ``png``.

    Every file is rendered before the first is written, so a failing format writes nothing.
    """
    contents = {Path(f"{stem}.{fmt}"): render_format(result, fmt, title, digits) for fmt in formats}
    return [_write(path, data) for path, data in contents.items()]


def _write(path: Path, data: str | bytes) -> Path:
    """:func:`write_atomic`, with a failure (no such folder, no permission) as one line."""
    try:
        return write_atomic(path, data)
    except OSError as exc:
        raise ExplainError(f"{shown_path(path)}: cannot write ({exc.strerror or exc})") from None


def write_graph(result: Backprop, path: Path | str, title: str = "", digits: int = DIGITS) -> Path:
    """Write one file in the format its suffix names: ``.svg .png .tex .json .dot``.

    Raises
    ------
    ExplainError
        For any other suffix, naming it and the allowed ones.
    """
    path = Path(path)
    return _write(path, render_format(result, graph_format(path), title, digits))


def graph_format(path: Path | str) -> str:
    """The format a picture file's suffix names; any other suffix is an error naming it.

    Examples
    --------
    >>> graph_format("out/xor.SVG")
    'svg'
    """
    fmt = Path(path).suffix.lower().removeprefix(".")
    if fmt not in GRAPH_FORMATS:
        allowed = ", ".join(f".{f}" for f in GRAPH_FORMATS)
        raise ExplainError(
            f"--graph: got {str(path)!r}; the file's suffix chooses the format: {allowed}"
        )
    return fmt


def load_examples(path: Path = EXPLAIN_FILE) -> list[dict[str, Any]]:
    """The examples listed in ``examples/explain.toml``, in file order."""
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExplainError(f"cannot read {path}: {exc}") from None
    return list(data.get("example", []))


def regenerate_examples(outdir: Path | str) -> list[Path]:
    """Write seed 001's worked examples (``.tex``, ``.json``, ``.svg``, ``.png``) to ``outdir``.

    Byte-identical on every run: no timestamps, sorted keys, fixed node order.
    """
    outdir = Path(outdir)
    written: list[Path] = []
    for example in load_examples():
        try:
            result = explain_text(
                example["expression"],
                example["at"],
                example.get("granularity", "elementary"),
                example.get("syntax", "auto"),
            )
        except (ParseError, ExplainError) as exc:
            raise ExplainError(f"example {example['name']}: {exc}") from None
        written += write_outputs(
            result, outdir / example["name"], ("tex", "json", "svg", "png"), example["title"]
        )
    return written


def regenerate_network_graphs(outdir: Path | str, examples: Path | str | None = None) -> list[Path]:
    """Write ``<name>.tex``, ``.json``, ``.svg`` and ``.png`` of each example network's graph.

    The graphs are drawn at the default sample (:func:`symprop.explain.network.default_point`),
    so the files are byte-identical on every run.
    """

    root = Path(examples) if examples else EXAMPLES_DIR
    outdir = Path(outdir)
    written: list[Path] = []
    for name in NETWORK_GRAPH_EXAMPLES:
        network = load_spec(root / f"{name}.toml")
        result = explain_network(network)
        written += write_outputs(
            result, outdir / name, ("tex", "json", "svg", "png"), graph_title(network)
        )
    return written
