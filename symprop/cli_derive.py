"""``symprop derive``: print (and check) the derivation of a network."""

from __future__ import annotations

import sys

import click

from symprop.derivation import derive
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
def command(spec: str | None, as_json: bool, check: bool) -> None:
    """Derive the backprop formulas of the network in SPEC (a TOML file).

    Without SPEC, the built-in default network (a 64-128-64-10 digit classifier) is used.
    Prints the activation derivatives, the output local gradient derived step by step,
    the recurrence and gradients for every layer, and the update rule.
    """
    network = load_spec(spec) if spec else default_network()
    derivation = derive(network)
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
