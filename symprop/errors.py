"""Errors raised for bad input: one message naming the field, the value and what is allowed."""

from __future__ import annotations


class SymPropError(Exception):
    """Base class of every error symprop reports to a user (exit code 2 at the CLI)."""


class SpecError(SymPropError, ValueError):
    """A network spec is invalid.

    Parameters
    ----------
    field
        Dotted path of the offending field, e.g. ``layers[1].activation``.
    value
        The value that was given.
    allowed
        What would have been accepted.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {value!r}; {allowed}")


class ParseError(SymPropError, ValueError):
    """User text (a claim or an expression) could not be parsed; names the position."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.text = text
        self.position = position
        if position is not None and text and len(text) <= 200:
            pointer = " " * position + "^"
            message = f"{message}\n  {text}\n  {pointer}"
        super().__init__(message)
