"""The golden derivation documents, written by ``python -m symprop.regenerate``.

Kept apart from :mod:`symprop.documents.emit` because it derives (the derivation builder
imports the documents for notebook display, so the emitters cannot import it back).
"""

from __future__ import annotations

from pathlib import Path

from symprop.core.examples import network_specs
from symprop.core.spec import load_spec
from symprop.derivation.build import derive
from symprop.documents.checked import checked
from symprop.documents.emit import write_latex, write_markdown

__all__ = ["regenerate"]


def regenerate(outdir: Path | str, examples: Path | str | None = None) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.md`` for every example network into ``outdir``.

    Byte-identical on every run (no timestamps, no unordered iteration); each derivation
    is checked before anything is written.
    """
    outdir = Path(outdir)
    written: list[Path] = []
    for spec in network_specs(examples):
        net = load_spec(spec)
        cd = checked(derive(net))
        written.append(write_latex(cd, outdir / f"{net.name}.tex"))
        written.append(write_markdown(cd, outdir / f"{net.name}.md"))
    return written
