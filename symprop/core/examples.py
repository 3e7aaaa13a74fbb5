"""The repository's examples, listed in one place.

``examples/`` beside the package holds the networks of the lecture notes (one TOML spec each)
and ``explain.toml``, the worked computation graphs of seed 001. Every regenerator of the
golden record ``generated/`` (documents, modules, graphs) takes its inputs from here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
"""The source tree's ``examples/`` folder."""

EXPLAIN_FILE = EXAMPLES_DIR / "explain.toml"
"""The worked computation-graph examples of seed 001."""

NETWORK_GRAPH_EXAMPLES = ("xor", "goodfellow_mlp", "residual")
"""The example networks whose computation graphs are drawn: XOR (the README's picture), a
network with weight decay, where the weights fan out, and a residual block, where a layer's
output fans out to the branch and the skip."""


def is_network_spec(path: Path) -> bool:
    """True for a TOML file describing a network (it has ``inputs`` and ``layers``)."""
    with path.open("rb") as stream:
        data = tomllib.load(stream)
    return "layers" in data and "inputs" in data


def network_specs(examples: Path | str | None = None) -> list[Path]:
    """The network specs among ``examples/*.toml`` (or another folder's), sorted by name."""
    root = Path(examples) if examples else EXAMPLES_DIR
    return [path for path in sorted(root.glob("*.toml")) if is_network_spec(path)]
