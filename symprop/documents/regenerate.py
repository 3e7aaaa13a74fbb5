"""Regeneration of the golden derivation documents: ``python -m symprop.documents.regenerate``.

Kept apart from :mod:`symprop.documents.emit` because it derives (the derivation builder
imports the documents for notebook display, so the emitters cannot import it back).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from symprop.core.spec import load_spec
from symprop.derivation.build import derive
from symprop.documents.checked import checked
from symprop.documents.emit import write_latex, write_markdown

__all__ = ["example_specs", "regenerate"]


def example_specs(examples: Path | str | None = None) -> list[Path]:
    """The network specs among ``examples/*.toml`` (files without ``layers`` are skipped)."""
    root = Path(examples) if examples else Path(__file__).resolve().parents[2] / "examples"
    out = []
    for path in sorted(root.glob("*.toml")):
        with open(path, "rb") as stream:
            if "layers" in tomllib.load(stream):
                out.append(path)
    return out


def regenerate(outdir: Path | str, examples: Path | str | None = None) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.md`` for every example network into ``outdir``.

    Byte-identical on every run (no timestamps, no unordered iteration); each derivation
    is checked before anything is written.
    """
    outdir = Path(outdir)
    written: list[Path] = []
    for spec in example_specs(examples):
        net = load_spec(spec)
        cd = checked(derive(net))
        written.append(write_latex(cd, outdir / f"{net.name}.tex"))
        written.append(write_markdown(cd, outdir / f"{net.name}.md"))
    return written


if __name__ == "__main__":  # python -m symprop.documents.regenerate [OUTDIR]
    target = sys.argv[1] if len(sys.argv) > 1 else "generated"
    for written in regenerate(target):
        print(written)
