"""``symprop derive``: print (and check) the derivation of a network."""

from __future__ import annotations

import sys

import click

from symprop.derivation import derive
from symprop.notation import PROFILES
from symprop.spec import default_network, load_spec


@click.command("derive")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the derivation as JSON.")
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Prove the formulas against brute-force sympy.diff on a small copy of the network.",
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
    help="Typeset the derivation document to this .pdf (needs latexmk and pdflatex).",
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
def command(
    spec: str | None,
    as_json: bool,
    check: bool,
    latex_out: str | None,
    pdf_out: str | None,
    markdown_out: str | None,
    notation: str | None,
) -> None:
    """Derive the backprop formulas of the network in SPEC (a TOML file).

    Without SPEC, the built-in default network (a 64-128-64-10 digit classifier) is used.
    Prints the activation derivatives, the output local gradient derived step by step,
    the recurrence and gradients for every layer, and the update rule.

    With --latex, --pdf or --markdown it writes the full derivation document instead
    (notation table, network diagram, every step justified, the algorithm and a summary
    with this network's layer numbers); documents are written only from a derivation
    whose check passed, so --no-check does not apply to them.
    """
    network = load_spec(spec) if spec else default_network()
    derivation = derive(network)
    if latex_out or pdf_out or markdown_out:
        from symprop import emit_latex

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
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(derivation.summary_text(), nl=False)
        if report is not None:
            mark = "✓" if report.ok else "✗"
            click.echo(f"\nCheck {mark}: {len(report.results)} claims against sympy.diff")
            for name, ok, how in report.results:
                click.echo(f"  {'✓' if ok else '✗'} {name}: {how}")
    if report is not None and not report.ok:
        sys.exit(1)
