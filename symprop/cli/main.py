"""Command-line interface: ``symprop derive | generate | train | verify | explain | demo``.

Every user error exits with code 2 and a single line on stderr; no traceback.
"""

from __future__ import annotations

import importlib
import signal
import sys
import warnings

import click

from symprop.core.errors import SymPropError, SymPropWarning, shown_path

# Subcommands live beside the stage they drive; each module defines one click command
# named ``command``. They are imported lazily so ``symprop --help`` stays fast.
_SUBCOMMANDS: dict[str, str] = {
    "demo": "symprop.cli.demo",
    "derive": "symprop.cli.derive",
    "explain": "symprop.cli.explain",
    "generate": "symprop.cli.generate",
    "train": "symprop.cli.train",
    "verify": "symprop.cli.verify",
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _SUBCOMMANDS.get(cmd_name)
        if module_name is None:
            return None
        return importlib.import_module(module_name).command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="symprop")
def cli() -> None:
    """symprop: symbolic backpropagation derivations, proven by SymPy.

    Describe a feedforward network in a TOML spec (or use the built-in default),
    then derive its backprop formulas, typeset them, generate NumPy training code,
    or check a hand derivation.
    """


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """symprop's own warnings as one line on stderr; others as Python shows them."""
    if issubclass(category, SymPropWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP end the process as Ctrl-C does, so that every ``finally`` runs:
    temporary files are removed and a running latexmk is stopped."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``symprop`` console script."""
    warnings.showwarning = _show_warning
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    try:
        cli.main(args=argv, prog_name="symprop", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        # One line, like every other error (click's own adds the usage and a hint).
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except SymPropError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        # The file writers and readers report their own failures; this is the net for a
        # path some library opened itself.
        where = f"{shown_path(exc.filename)}: " if exc.filename is not None else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
