"""Proof before print: documents are emitted only from a derivation that passed its check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from symprop.core.errors import SymPropError
from symprop.derivation.steps import DerivationView

__all__ = ["CheckedDerivation", "checked", "require_checked"]


@dataclass(frozen=True)
class CheckedDerivation:
    """A derivation together with the passing report of its ``check()``.

    Build it with :func:`checked`; the emitters accept nothing else, so every formula in
    a document comes from a derivation whose check passed.
    """

    derivation: DerivationView
    report: Any  # the passing CheckReport of derivation.check()


def checked(derivation: DerivationView | CheckedDerivation) -> CheckedDerivation:
    """Run ``derivation.check(strict=True)`` and wrap the derivation with its report.

    Raises
    ------
    DerivationCheckError
        When any step fails its check (nothing is emitted).
    """
    if isinstance(derivation, CheckedDerivation):
        return derivation
    report = derivation.check(strict=True)
    return CheckedDerivation(derivation, report)


def require_checked(obj: object) -> CheckedDerivation:
    """``obj`` itself, when it is a :class:`CheckedDerivation`; else a one-line error."""
    if not isinstance(obj, CheckedDerivation):
        raise SymPropError(
            "documents are emitted only from a checked derivation; "
            "pass symprop.documents.emit.checked(derivation)"
        )
    return obj
