"""The worked example of a derivation document: one sample through the network, with numbers.

:func:`worked_sections` returns the sections printed after the summary: the forward values,
the δ of every layer, the gradients and one update for one sample, the same numbers as
``symprop derive --graph``; in the Goodfellow profile, the computational graph itself.
"""

from __future__ import annotations

from symprop.core.notation import Profile
from symprop.documents.blocks import Renderer, Section
from symprop.documents.checked import CheckedDerivation

__all__ = ["worked_sections"]


def worked_sections(
    cd: CheckedDerivation, renderer: Renderer, profile: Profile
) -> tuple[Section, ...]:
    """The worked-example sections of the document (none yet)."""
    return ()
