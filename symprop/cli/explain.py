"""``symprop explain EXPR --at x=2,y=3,z=-2``: a computation graph, node by node."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import click

from symprop.core.errors import shown
from symprop.explain.graph import ExplainError

# A name is spelled as in the expression (x, w0, W_2, \hat{y}): anything up to the '='.
_ASSIGNMENT = re.compile(r"\s*([A-Za-z\\][^=]*?)\s*=")

MAX_POINT_LENGTH = 100_000
"""The longest ``--at`` text read (all options together): a 16×16 matrix takes about 2,000."""

MAX_NUMBER_LENGTH = 60
"""The most characters of one number in ``--at`` (as the expression parser allows)."""


def _number(text: str) -> float | int:
    """A JSON number of ``--at``: at most 60 characters and within double range."""
    if len(text) > MAX_NUMBER_LENGTH:
        raise ExplainError(
            f"--at: got a number of {len(text)} characters ({shown(text, 20)}); "
            f"at most {MAX_NUMBER_LENGTH} are read"
        )
    if re.fullmatch(r"-?\d+", text):
        value: float | int = int(text)
        if abs(value) <= sys.float_info.max:
            return value
    else:
        value = float(text)
        tiny = value == 0 and re.search(r"[1-9]", text.split("e")[0].split("E")[0])
        if math.isfinite(value) and not tiny:
            return value
    raise ExplainError(
        f"--at: got {shown(text)}; values must lie within double range "
        f"(magnitudes from {sys.float_info.min:.3g} to {sys.float_info.max:.3g}, or 0)"
    )


def _not_a_number(text: str) -> None:
    raise ExplainError(f"--at: got {shown(text)}; values must be finite numbers")


_DECODER = json.JSONDecoder(parse_int=_number, parse_float=_number, parse_constant=_not_a_number)


def _check_nesting(text: str) -> None:
    """Values are numbers, vectors ``[1, 2]`` or matrices ``[[1, 2], [3, 4]]``: refuse any
    deeper nesting before the JSON decoder (which recurses) sees it."""
    depth = 0
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if depth > 2:
            raise ExplainError(
                "--at: lists nested more than 2 deep; a value is a number, a vector "
                "[1, 2] or a matrix [[1, 2], [3, 4]]"
            )


def parse_point(text: str) -> dict[str, object]:
    """Read ``x=2,y=3`` or ``W=[[0.3,0.4],[0.5,0.6]]`` without evaluating anything.

    Values are JSON numbers (finite, within double range, at most 60 characters) or JSON
    lists nested at most 2 deep; names are spelled as in the expression.

    Examples
    --------
    >>> parse_point("x=2, W=[[1,2],[3,4]]")
    {'x': 2, 'W': [[1, 2], [3, 4]]}
    """
    if len(text) > MAX_POINT_LENGTH:
        raise ExplainError(f"--at: got {len(text)} characters; at most {MAX_POINT_LENGTH} are read")
    _check_nesting(text)
    point: dict[str, object] = {}
    position = 0
    while position < len(text):
        match = _ASSIGNMENT.match(text, position)
        if match is None:
            raise ExplainError(
                f"--at: expected name=value at column {position}, got {shown(text[position:])}"
            )
        name = match.group(1)
        rest = text[match.end() :].lstrip()
        offset = len(text) - len(rest)
        try:
            value, length = _DECODER.raw_decode(rest)
        except json.JSONDecodeError:
            raise ExplainError(
                f"--at: the value of {name} is not a number or list: {shown(rest)}"
            ) from None
        if isinstance(value, dict | str | bool) or value is None:
            raise ExplainError(
                f"--at: the value of {name} is not a number or list: {shown(rest[:length])}"
            )
        if name in point:
            raise ExplainError(f"--at: {name} is given twice")
        point[name] = value
        position = offset + length
        tail = text[position:].lstrip()
        if tail.startswith(","):
            position = len(text) - len(tail) + 1
        elif tail:
            raise ExplainError(f"--at: expected ',' after the value of {name}, got {shown(tail)}")
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


class _ExpressionFirst(click.Command):
    """An expression may start with ``-`` (``-x*y``): any argument that begins with ``-``
    but is not one of the command's options (nor an option's value) is the expression."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {
            name: not getattr(param, "is_flag", False)
            for param in self.get_params(ctx)
            for name in (*param.opts, *param.secondary_opts)
            if name.startswith("-")
        }
        options: list[str] = []
        operands: list[str] = []
        tokens = iter(args)
        for token in tokens:
            if token == "--":
                operands.extend(tokens)
                break
            name = token.split("=", 1)[0]
            if name not in takes_value:
                (operands if token.startswith("-") else options).append(token)
                continue
            options.append(token)
            if takes_value[name] and "=" not in token:
                options.append(next(tokens, ""))
        return super().parse_args(ctx, [*options, "--", *operands] if operands else options)


@click.command(name="explain", cls=_ExpressionFirst)
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
    from symprop.explain.emit import write_outputs
    from symprop.explain.formats import to_json, to_table
    from symprop.explain.user_text import explain_text

    result = explain_text(expression, parse_points(at), granularity, syntax)  # type: ignore[arg-type]
    if as_json:
        click.echo(to_json(result, expression), nl=False)
    else:
        click.echo(to_table(result, expression, digits), nl=False)
    if output is not None:
        written = write_outputs(result, output, formats or ("tex", "svg"), expression, digits)
        for path in written:
            click.echo(f"wrote {path}", err=True)
