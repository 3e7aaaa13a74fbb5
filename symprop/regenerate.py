"""Regenerate everything in ``generated/`` from ``examples/``: ``python -m symprop.regenerate``.

The output is a golden record: the tests regenerate into a temporary folder and fail with a
unified diff when a checked-in file is stale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from symprop.codegen.numpy import emit as emit_numpy
from symprop.documents import regenerate as documents
from symprop.explain import emit as emit_graph


def regenerate(outdir: Path | str = "generated") -> list[Path]:
    """Write the documents, modules, worked graph examples and network graphs; return paths."""
    out = Path(outdir)
    written = list(documents.regenerate(out))
    written += list(emit_numpy.regenerate(out))
    written += list(emit_graph.regenerate_examples(out / "explain"))
    written += list(emit_graph.regenerate_network_graphs(out / "graph"))
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m symprop.regenerate [FOLDER]``; ``--help`` is help, not a folder to create."""
    parser = argparse.ArgumentParser(
        prog="python -m symprop.regenerate",
        description="Regenerate the golden documents, modules and graphs from examples/.",
    )
    parser.add_argument("folder", nargs="?", default="generated", help="default: generated")
    args = parser.parse_args(argv)
    for path in regenerate(args.folder):
        print(path)


if __name__ == "__main__":
    main()
