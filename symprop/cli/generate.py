"""``symprop generate``: write the training module of a network (NumPy, or compiled by
Numba with ``--backend numba``)."""

from __future__ import annotations

import ast
from pathlib import Path

import click

from symprop.core.errors import SymPropError, shown_path
from symprop.core.files import check_writable, write_atomic
from symprop.core.spec import Network, default_network, load_spec

BACKENDS = ("numpy", "numba")

backend_option = click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="numpy",
    show_default=True,
    help="numpy: NumPy only; numba: training epochs compiled by Numba (dense layers).",
)


def render_for(backend: str, network: Network, *, spec: str, dtype: str | None) -> str:
    """The module's source for ``backend``; a network the backend cannot compile is refused
    in one line (a :class:`SymPropError`)."""
    if backend == "numba":
        from symprop.codegen.numba.emit import render_numba_module

        return render_numba_module(network, spec=spec, dtype=dtype)
    from symprop.codegen.numpy.emit import render_module

    return render_module(network, spec=spec, dtype=dtype)


@click.command("generate")
@click.argument("spec", required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Where to write the module (default: <name>.py in the current directory).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float64", "float32"]),
    default=None,
    help="Default dtype of init_params (default: the spec's training.dtype, else float64).",
)
@click.option(
    "--examples",
    "regenerate_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Instead of one SPEC, regenerate DIR/<name>.py for every network in examples/*.toml.",
)
@backend_option
def command(
    spec: str | None,
    output: str | None,
    dtype: str | None,
    regenerate_dir: str | None,
    backend: str,
) -> None:
    """Generate a standalone NumPy training module for the network in SPEC (a TOML file).

    Without SPEC, the built-in default network (a 64-128-64-10 digit classifier) is used.
    The module has NumPy as its only import: init_params, forward, loss, gradients,
    train (SGD, momentum, Adam), predict, save/load and gradient_check, every formula
    printed from the proven derivation, and a command line
    (python MODULE.py --data FILE --epochs N [--checkpoint PATH]).

    With --backend numba the module also imports Numba, and its training epochs (batching,
    forward, backprop, update) run compiled, with the same public contract and the same
    training runs as the NumPy module's.

    Regenerate the checked-in modules with: symprop generate --examples generated
    """
    from symprop.codegen.numpy.emit import regenerate

    if regenerate_dir is not None:
        if backend != "numpy":
            raise click.UsageError("--examples regenerates the NumPy modules; drop --backend")
        if spec is not None or output is not None:
            raise click.UsageError("--examples regenerates every example; give no SPEC or -o")
        for path in regenerate(regenerate_dir):
            click.echo(f"wrote {path}")
        return
    network = load_spec(spec) if spec else default_network()
    if output == "":
        raise click.UsageError("-o: got an empty file name; give the module's path")
    target = Path(output) if output is not None else Path(f"{network.name}.py")
    check_writable(target)
    label = spec if spec else "the built-in default network"
    source = render_for(backend, network, spec=label, dtype=dtype)
    refuse_shadowing(target, source, "-o" if output else "name")
    write_atomic(target, source)
    click.echo(f"wrote {target}")


def refuse_shadowing(path: Path | str, source: str, option: str) -> None:
    """Refuse to write a module as ``NAME.py`` when ``NAME`` is a module it imports: the file
    would be imported in its place (``numpy.py`` would shadow NumPy for every script in its
    folder, and the module itself)."""
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    imported.discard("__future__")
    stem = Path(path).stem
    if Path(path).suffix == ".py" and stem in imported:
        raise SymPropError(
            f"{option}: {shown_path(path)} would shadow the module {stem}, which the generated "
            f"module imports ({', '.join(sorted(imported))}); choose another name"
        )
