"""``symprop explain EXPR --at x=2,y=3,z=-2``: a computation graph, node by node."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from symprop.compgraph import ExplainError

_ASSIGNMENT = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=")


def parse_point(text: str) -> dict[str, object]:
    """Read ``x=2,y=3`` or ``W=[[0.3,0.4],[0.5,0.6]]`` without evaluating anything.

    Values are JSON numbers or nested JSON lists; names are letters, digits and ``_``.

    Examples
    --------
    >>> parse_point("x=2, W=[[1,2],[3,4]]")
    {'x': 2, 'W': [[1, 2], [3, 4]]}
    """
    point: dict[str, object] = {}
    position = 0
    while position < len(text):
        match = _ASSIGNMENT.match(text, position)
        if match is None:
            raise ExplainError(f"--at: expected name=value at column {position}: {text!r}")
        name = match.group(1)
        decoder = json.JSONDecoder()
        rest = text[match.end() :].lstrip()
        offset = len(text) - len(rest)
        try:
            value, length = decoder.raw_decode(rest)
        except json.JSONDecodeError:
            raise ExplainError(f"--at: the value of {name} is not a number or list") from None
        if isinstance(value, dict | str | bool) or value is None:
            raise ExplainError(f"--at: the value of {name} is not a number or list")
        if name in point:
            raise ExplainError(f"--at: {name} is given twice")
        point[name] = value
        position = offset + length
        tail = text[position:].lstrip()
        if tail.startswith(","):
            position = len(text) - len(tail) + 1
        elif tail:
            raise ExplainError(f"--at: expected ',' after the value of {name}")
        else:
            break
    return point


def parse_points(chunks: tuple[str, ...] | list[str]) -> dict[str, object]:
    """Merge several ``--at`` options into one point; a name given twice is an error.

    Examples
    --------
    >>> parse_points(["x=2", "W=[[1,2]]"])
    {'x': 2, 'W': [[1, 2]]}
    """
    point: dict[str, object] = {}
    for chunk in chunks:
        for name, value in parse_point(chunk).items():
            if name in point:
                raise ExplainError(f"--at: {name} is given twice")
            point[name] = value
    return point


@click.command(name="explain")
@click.argument("expression")
@click.option("--at", "at", multiple=True, help="Values, e.g. x=2,y=3 or W=[[0.3,0.4],[0.5,0.6]].")
@click.option(
    "--granularity",
    type=click.Choice(["elementary", "coarse"]),
    default="elementary",
    show_default=True,
    help="Elementary gates (add, mul, exp, 1/x, ...) or coarse ones (sigma as one gate).",
)
@click.option(
    "--syntax", type=click.Choice(["auto", "plain", "latex"]), default="auto", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Also write OUTPUT.<format> for each --format (the stem, without extension).",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["tex", "json", "dot", "svg", "png"]),
    help="Files to write with --output (repeatable; default tex and svg).",
)
@click.option("--digits", default=3, show_default=True, type=click.IntRange(1, 15))
def command(
    expression: str,
    at: tuple[str, ...],
    granularity: str,
    syntax: str,
    as_json: bool,
    output: Path | None,
    formats: tuple[str, ...],
    digits: int,
) -> None:
    """Explain backpropagation through EXPRESSION at a point, gate by gate.

    Example: symprop explain "x*y + z" --at x=2,y=3,z=-2
    """
    from symprop.emit_graph import explain_text, to_json, to_table, write_outputs

    result = explain_text(expression, parse_points(at), granularity, syntax)  # type: ignore[arg-type]
    if as_json:
        click.echo(to_json(result, expression), nl=False)
    else:
        click.echo(to_table(result, expression, digits), nl=False)
    if output is not None:
        written = write_outputs(result, output, formats or ("tex", "svg"), expression, digits)
        for path in written:
            click.echo(f"wrote {path}", err=True)
