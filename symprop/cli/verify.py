"""``symprop verify``: check hand-derived backprop formulas against brute force.

Exit codes: 0 when every claim holds, 1 when any is false or ambiguous, 2 on bad input (a
bad option or file: one line on stderr, never a traceback; a claim that cannot be read or
checked: its error in the report, and one summary line on stderr).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from symprop.core.errors import SymPropError
from symprop.core.layers import get_layer_kind
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import load_spec

_NOTATIONS = ("nielsen", "ng", "goodfellow", "bishop")
_PENALTIES = ("lambda", "lambda/2", "lambda/m", "lambda/(2m)")


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
    help="Single-unit claims: the activation of every unit (alone: what σ means in "
    "calculus claims).",
)
@click.option("--loss", type=click.Choice(sorted(LOSSES)), help="Single-unit claims: the loss.")
@click.option(
    "--loss-formula",
    help="The per-sample loss written out in a (or \\hat y) and y, e.g. '\\frac{1}{2}(y - a)^2'.",
)
@click.option("--l2", type=float, default=None, help="λ of J (replaces a spec's).")
@click.option(
    "--penalty",
    type=click.Choice(_PENALTIES),
    help="How λ scales the weight penalty: λ Σw², λ/2 Σw², λ/m Σw², λ/(2m) Σw² [default: lambda].",
)
@click.option(
    "--numbering",
    type=click.Choice(["auto", "input0", "input1", "ng"]),
    default=None,
    help="Layer numbering: input layer 0, input layer 1, or Ng's (Θ^(l) maps l to l+1) "
    "[default: auto].",
)
@click.option(
    "--notation",
    type=click.Choice(_NOTATIONS),
    help="The letters the claims use (default: read from each claim).",
)
@click.option(
    "--define",
    "defines",
    multiple=True,
    help="A free definition, e.g. 'g = \\|A v\\|^2' or 'f(z) = 1/(1+e^{-z})' (repeatable).",
)
@click.option(
    "--value",
    "values",
    multiple=True,
    help="A concrete value, e.g. 'x=[1,0]', 'w=0.5', 'W=[[1,2],[3,4]]' (repeatable).",
)
@click.option(
    "--function",
    "functions",
    multiple=True,
    help="A name that is a function, so f(x) is a call (repeatable).",
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
    loss_formula: str | None,
    l2: float | None,
    penalty: str | None,
    numbering: str | None,
    notation: str | None,
    defines: tuple[str, ...],
    values: tuple[str, ...],
    functions: tuple[str, ...],
    layer_kind: str | None,
    as_json: bool,
) -> None:
    """Check hand-derived backprop formulas (claims) against brute-force differentiation.

    Claims come from CLAIMS_FILE and/or repeated --claim options, in LaTeX or plain syntax
    (dC/dW2 = delta2 @ a1.T). A Markdown claims file has one claim per line (e.g. a bullet
    with $\\delta^L = a^L - y$) and may start with a TOML front matter between two lines
    --- that states the setting (spec, notation, numbering, activation, loss, loss_formula,
    l2, penalty, functions, [define], [values], [shapes]); a line `let $g = x^2$` is a
    definition. A TOML claims file has the same keys and claims = ["..."]. The options
    state the same and override the file's.

    The setting is a network spec (--spec), single units (--activation and --loss), one
    layer kind (--kind batch_norm), or nothing at all for calculus claims such as
    \\sigma'(z) = \\sigma(z)(1 - \\sigma(z)).

    Each claim gets ✓ or ✗ (or "ambiguous" with its readings); a ✗ comes with a
    counterexample, the correct right-hand side and, when it matches a known mistake, a
    diagnosis. Exit code 0 when every claim holds, 1 when any is false or ambiguous, 2 on
    bad input.
    """
    from symprop.verify import (
        ClaimsFile,
        SettingOptions,
        Verdict,
        claim_text,
        command_line_options,
        error_line,
        read_claims_file,
        verdicts_json,
        verify_claims,
        verify_kind_claims,
    )

    try:
        texts: list[str] = []
        stated = ClaimsFile(SettingOptions(), ())
        if claims_file is not None:
            stated = read_claims_file(claims_file)
            texts += list(stated.claims)
        texts += list(claims)
        if not texts:
            _fail("no claims: give a claims file or --claim")
        if spec is not None and (activation or loss):
            _fail("give either --spec or --activation/--loss, not both")
        if loss is not None and loss_formula is not None:
            _fail("give either --loss or --loss-formula, not both")
        cli = command_line_options(
            network=load_spec(spec) if spec is not None else None,
            activation=activation,
            loss=loss,
            loss_formula=loss_formula,
            l2=l2,
            penalty=penalty,
            numbering=numbering,
            notation=notation,
            defines=defines,
            values=values,
            functions=functions,
        )
        if layer_kind is not None:
            if cli != SettingOptions() or stated.options != SettingOptions():
                _fail(
                    "--kind checks claims about one layer kind; give no other setting "
                    "(options or a claims file's front matter) with it"
                )
            get_layer_kind(layer_kind, "--kind")
            results: list[Any] = verify_kind_claims(texts, layer_kind)
        else:
            setting = cli.over(stated.options).setting()
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
        # Each claim's error is in the report above (or the JSON); stderr says only that
        # the input was bad, once, so that a script sees one line and the reason is not
        # printed twice.
        click.echo(
            f"error: {len(errors)} of {len(texts)} claim{'s' if len(texts) != 1 else ''} "
            "could not be checked (the report says why)",
            err=True,
        )
        sys.exit(2)
    holds = all(isinstance(r, Verdict) and r.status == "holds" for r in results)
    sys.exit(0 if holds else 1)
