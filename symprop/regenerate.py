"""Regenerate everything in ``generated/`` from ``examples/``: ``python -m symprop.regenerate``.

The output is a golden record: the tests regenerate into a temporary folder and fail with a
unified diff when a checked-in file is stale.
"""

from __future__ import annotations

import sys
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


if __name__ == "__main__":
    for path in regenerate(sys.argv[1] if len(sys.argv) > 1 else "generated"):
        print(path)
