"""The error every stage of verify raises for a claim that cannot be checked."""

from __future__ import annotations

from symprop.core.errors import SymPropError


class VerifyError(SymPropError):
    """A claim cannot be checked (unknown name, no layer fits, too expensive): bad input."""
