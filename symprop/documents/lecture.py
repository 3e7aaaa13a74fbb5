"""The sections a lecturer expects after the derivation: gradient checking, bounds, initialisation.

:func:`lecture_sections` returns them, derived rather than typed: the gradient check the
generated module runs, bounds of the activations' derivatives found by SymPy, and the
initialisation the generated code uses and why.
"""

from __future__ import annotations

from symprop.core.notation import Profile
from symprop.documents.blocks import Renderer, Section
from symprop.documents.checked import CheckedDerivation

__all__ = ["lecture_sections"]


def lecture_sections(
    cd: CheckedDerivation, renderer: Renderer, profile: Profile
) -> tuple[Section, ...]:
    """The lecture sections of the document (none yet)."""
    return ()
