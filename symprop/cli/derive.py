"""``symprop derive``: print (and check) the derivation of a network."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import click

from symprop.cli.explain import parse_points
from symprop.core.errors import SpecError, SymPropError, shown_path
from symprop.core.files import check_writable
from symprop.core.notation import PROFILES
from symprop.core.spec import Network, default_network, load_spec
from symprop.derivation.build import derive
from symprop.documents import emit as emit_latex


def _write_graphs(
    network: Network,
    spec: str | None,
    paths: tuple[str, ...],
    at: tuple[str, ...],
    granularity: str,
    digits: int,
) -> None:
    """Draw the computation graph of one sample to each path; bad input exits 2, one line."""
    from symprop.explain.emit import graph_format, write_graph
    from symprop.explain.network import explain_network, graph_title

    try:
        for path in paths:
            graph_format(path)
        result = explain_network(network, parse_points(at), granularity)  # type: ignore[arg-type]
        for path in paths:
            click.echo(f"wrote {write_graph(result, path, graph_title(network), digits)}")
    except SymPropError as exc:
        # The spec's own field errors name the file, as load_spec's do.
        where = f"{spec}: " if spec and isinstance(exc, SpecError) else ""
        click.echo(f"error: {where}{str(exc).splitlines()[0]}", err=True)
        sys.exit(2)


def _is_file_name(path: str) -> bool:
    """False for an existing device or pipe (``/dev/stdout``): it names no file to misname."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # not there yet (or unreadable): a file to be written
        return True


def _check_outputs(
    documents: tuple[tuple[str, str | None, str], ...], graphs: tuple[str, ...]
) -> None:
    """Refuse a document path whose suffix is not its format's, and two outputs to one path.

    ``documents`` holds (option, path, suffix); a wrong suffix wrote a PDF named ``.tex``,
    and one path given twice was silently overwritten by the later output.
    """
    seen: dict[Path, str] = {}
    for option, path in (
        *((option, path) for option, path, _ in documents if path and _is_file_name(path)),
        *(("--graph", path) for path in graphs if _is_file_name(path)),
    ):
        key = Path(os.path.abspath(path))  # type: ignore[arg-type]
        if key in seen:
            raise click.UsageError(
                f"{option}: got {shown_path(path)}; {seen[key]} writes to the same path, "
                "give each output its own file"
            )
        seen[key] = option
    for option, path, suffix in documents:
        if path and _is_file_name(path) and Path(path).suffix.lower() != suffix:
            raise click.UsageError(
                f"{option}: got {shown_path(path)}; must be a file name ending in {suffix}"
            )


@click.command("derive")
@click.argument("spec", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the derivation as JSON.")
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Prove the formulas: local rules symbolically, a small copy of the network "
    "numerically at high precision.",
)
@click.option(
    "--latex",
    "latex_out",
    type=click.Path(dir_okay=False),
    help="Write the derivation document as LaTeX to this .tex file.",
)
@click.option(
    "--pdf",
    "pdf_out",
    type=click.Path(dir_okay=False),
    help="Typeset the derivation document to this .pdf (needs pdflatex).",
)
@click.option(
    "--markdown",
    "markdown_out",
    type=click.Path(dir_okay=False),
    help="Write the derivation document as Markdown ($$ math) to this .md file.",
)
@click.option(
    "--notation",
    type=click.Choice(list(PROFILES)),
    help="Notation of the documents (overrides the spec's notation).",
)
@click.option(
    "--graph",
    "graph_out",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Draw the computation graph of one sample (x, y) to this file, forward values above "
    "and gradients below each edge; the suffix picks the format: .svg, .png (Graphviz), "
    ".tex, .json or .dot. Repeatable. Networks of at most 5 units per layer and 4 layers.",
)
@click.option(
    "--at",
    "at",
    multiple=True,
    help='With --graph: the sample and parameters, e.g. "x=[0.1,0.2],y=[1],W1=[[0.3,0.4]]" '
    "(names x, y, W1, b1, ...; the rest are seeded tenths).",
)
@click.option(
    "--granularity",
    type=click.Choice(["coarse", "elementary"]),
    help="With --graph: coarse vector gates (matrix product, bias, one gate per activation, "
    "the loss; the default) or elementary scalar ones (add, mul, exp, 1/x, ...).",
)
@click.option(
    "--digits",
    type=click.IntRange(1, 15),
    help="With --graph: significant digits of the numbers drawn (default 3).",
)
def command(
    spec: str | None,
    as_json: bool,
    check: bool,
    latex_out: str | None,
    pdf_out: str | None,
    markdown_out: str | None,
    notation: str | None,
    graph_out: tuple[str, ...],
    at: tuple[str, ...],
    granularity: str | None,
    digits: int | None,
) -> None:
    """Derive the backprop formulas of the network in SPEC (a TOML file).

    Without SPEC, the built-in default network (a 64-128-64-10 digit classifier) is used.
    Prints the activation derivatives, the output local gradient derived step by step,
    the recurrence and gradients for every layer, and the update rule.

    With --latex, --pdf or --markdown it writes the full derivation document instead
    (notation table, network diagram, every step justified, the algorithm and a summary
    with this network's layer numbers); documents are written only from a derivation
    whose check passed, so --no-check does not apply to them.

    With --graph it draws the computation graph of the network for one sample (x, y), the
    way `symprop explain` draws an expression: symprop derive examples/xor.toml --graph xor.svg
    """
    _check_outputs(
        (
            ("--latex", latex_out, ".tex"),
            ("--markdown", markdown_out, ".md"),
            ("--pdf", pdf_out, ".pdf"),
        ),
        graph_out,
    )
    network = load_spec(spec) if spec else default_network()
    for path in (latex_out, markdown_out, pdf_out):
        if path:
            check_writable(path)  # before the derivation and its check, not after
    if pdf_out:
        emit_latex.require_tex()
    if graph_out:
        _write_graphs(network, spec, graph_out, at, granularity or "coarse", digits or 3)
        if not (latex_out or pdf_out or markdown_out):
            return
    elif at or granularity or digits:
        raise click.UsageError("--at, --granularity and --digits apply only with --graph")
    derivation = derive(network)
    if latex_out or pdf_out or markdown_out:
        proven = emit_latex.checked(derivation)
        for path, write in (
            (latex_out, emit_latex.write_latex),
            (markdown_out, emit_latex.write_markdown),
            (pdf_out, emit_latex.write_pdf),
        ):
            if path:
                click.echo(f"wrote {write(proven, path, notation)}")
        return
    report = derivation.check() if check else None
    if as_json:
        import json

        data = derivation.to_dict()
        if report is not None:
            data["check"] = {
                "ok": report.ok,
                "results": [
                    {"claim": name, "ok": ok, "how": how} for name, ok, how in report.results
                ],
            }
        text = json.dumps(data, indent=2, ensure_ascii=False)
        # Characters that are not printable (C1 controls, bidirectional overrides) only
        # occur inside strings: as \u escapes they can reach no terminal.
        click.echo(
            "".join(c if c.isprintable() or c == "\n" else json.dumps(c)[1:-1] for c in text)
        )
    else:
        click.echo(derivation.summary_text(), nl=False)
        if report is not None:
            mark = "✓" if report.ok else "✗"
            failed = sum(1 for _, ok, _ in report.results if not ok)
            counts = (
                f"{len(report.results)} claims proven"
                if not failed
                else f"{failed} of {len(report.results)} claims failed"
            )
            click.echo(f"\nCheck {mark}: {counts}")
            for name, ok, how in report.results:
                click.echo(f"  {'✓' if ok else '✗'} {name}: {how}")
    if report is not None and not report.ok:
        sys.exit(1)
