"""``symprop demo``: the whole pipeline on the built-in default network."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from symprop.cli import derive as cli_derive
from symprop.cli import train as cli_train


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    default="symprop-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the document, the generated module and the trained parameters.",
)
@click.option(
    "--pdf/--no-pdf", default=None, help="Compile the PDF (default: when latexmk is found)."
)
def command(out_dir: str, pdf: bool | None) -> None:
    """Derive, document, generate and train the default digit classifier.

    1. derives and proves the backprop formulas of the 64-128-64-10 ReLU/softmax network;
    2. writes its derivation document (LaTeX and Markdown; PDF when TeX is installed);
    3. generates the standalone NumPy training module;
    4. trains it on scikit-learn's digits (80/20 split) and prints the test accuracy.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if pdf is None:
        pdf = shutil.which("latexmk") is not None
    derive_args = ["--latex", str(out / "digits.tex"), "--markdown", str(out / "digits.md")]
    if pdf:
        derive_args += ["--pdf", str(out / "digits.pdf")]
    click.secho("== derive: formulas, proofs and documents", bold=True)
    cli_derive.command.main(args=derive_args, standalone_mode=False)
    click.secho("\n== generate and train on digits", bold=True)
    cli_train.command.main(
        args=[
            "--data",
            "digits",
            "-o",
            str(out / "digits.py"),
            "--save",
            str(out / "digits_params.npz"),
        ],
        standalone_mode=False,
    )
    click.echo(f"\nfiles in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
