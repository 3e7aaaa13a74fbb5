"""``symprop verify``: check hand-derived backprop formulas against brute force.

Exit codes: 0 when every claim holds, 1 when any is false, 2 on bad input (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from symprop.core.errors import SymPropError, shown_path
from symprop.core.files import read_text
from symprop.core.layers import get_layer_kind
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import load_spec


def _fail(message: str) -> None:
    # One line: a parse error's caret display is for the text report, not for stderr.
    click.echo(f"error: {message.splitlines()[0] if message else 'bad input'}", err=True)
    sys.exit(2)


@click.command("verify")
@click.argument("claims_file", required=False)
@click.option("--claim", "claims", multiple=True, help="A claim, e.g. 'delta_L = a_L - y'.")
@click.option("--spec", help="The network the claims are about.")
@click.option(
    "--activation",
    type=click.Choice(sorted(n for n, a in ACTIVATIONS.items() if a.elementwise)),
    help="Single-unit claims: the activation of every unit.",
)
@click.option("--loss", type=click.Choice(sorted(LOSSES)), help="Single-unit claims: the loss.")
@click.option("--l2", type=float, default=0.0, show_default=True, help="Single units: λ of J.")
@click.option(
    "--numbering",
    type=click.Choice(["auto", "input0", "input1", "ng"]),
    default="auto",
    show_default=True,
    help="Layer numbering: input layer 0, input layer 1, or Ng's (Θ^(l) maps l to l+1).",
)
@click.option(
    "--kind",
    "layer_kind",
    help="Claims about one layer kind's gradients (batch_norm, dropout, …), written with the "
    "kind's display names and δ for the upstream gradient ∂C/∂y.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def command(
    claims_file: str | None,
    claims: tuple[str, ...],
    spec: str | None,
    activation: str | None,
    loss: str | None,
    l2: float,
    numbering: str,
    layer_kind: str | None,
    as_json: bool,
) -> None:
    """Check hand-derived backprop formulas (claims) against brute-force differentiation.

    Claims come from CLAIMS_FILE (Markdown: one claim per line, e.g. a bullet with
    $\\delta^L = a^L - y$; TOML: claims = ["..."]) and/or repeated --claim options, in
    LaTeX or plain syntax (dC/dW2 = delta2 @ a1.T). The setting is a network spec
    (--spec) or, for single-unit claims, --activation and --loss, or one layer kind
    (--kind batch_norm: \\frac{\\partial C}{\\partial \\gamma_j} = \\sum_i \\delta_{ij}
    \\hat{x}_{ij}).

    Each claim gets ✓ or ✗; a ✗ comes with a counterexample, the correct right-hand side
    and, when it matches a known mistake, a diagnosis. Exit code 0 when every claim holds,
    1 when any is false, 2 on bad input.
    """
    from symprop.verify import (
        Setting,
        Verdict,
        claim_text,
        error_line,
        extract_claims,
        verdicts_json,
        verify_claims,
        verify_kind_claims,
    )

    try:
        texts: list[str] = []
        if claims_file is not None:
            path = Path(claims_file)
            content = read_text(path, "claims file")
            fmt = "toml" if path.suffix.lower() == ".toml" else "markdown"
            try:
                texts += extract_claims(content, fmt)
            except SymPropError as exc:
                _fail(f"{shown_path(path)}: {exc}")
        texts += list(claims)
        if not texts:
            _fail("no claims: give a claims file or --claim")
        if spec is not None and (activation or loss):
            _fail("give either --spec or --activation/--loss, not both")
        if layer_kind is not None and (spec is not None or activation or loss):
            _fail("give either --kind or a network setting (--spec, --activation/--loss)")
        if layer_kind is not None:
            get_layer_kind(layer_kind, "--kind")
            results = verify_kind_claims(texts, layer_kind)
        elif spec is not None:
            setting = Setting.from_spec(load_spec(spec), numbering=numbering)
        elif activation and loss:
            setting = Setting.single_unit(activation, loss, l2=l2, numbering=numbering)
        else:
            _fail("give the setting: --spec FILE, --activation and --loss, or --kind")
        if layer_kind is None:
            results = verify_claims(texts, setting)
    except SymPropError as exc:
        _fail(str(exc))
    errors = [r for r in results if not isinstance(r, Verdict)]
    if as_json:
        click.echo(verdicts_json(texts, results))
    else:
        for text, result in zip(texts, results, strict=True):
            if isinstance(result, Verdict):
                click.echo(result.to_text())
            else:
                click.echo(f"? {claim_text(text)}\n    error: {error_line(result)}")
    if errors:
        if not as_json:
            click.echo(f"error: {error_line(errors[0])}", err=True)
        sys.exit(2)
    sys.exit(0 if all(isinstance(r, Verdict) and r.ok for r in results) else 1)
