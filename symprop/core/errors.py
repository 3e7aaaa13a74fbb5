"""Errors raised for bad input: one message naming the field, the value and what is allowed.

User values reach error lines only through :func:`shown`, which quotes them, escapes every
control character (so a value can neither break the line nor send terminal escape
sequences) and bounds their length.
"""

from __future__ import annotations

SHOWN_LIMIT = 80
"""The most characters of a user value that an error line repeats."""


def shown(value: object, limit: int = SHOWN_LIMIT) -> str:
    """A user-supplied value as an error line may show it: ``repr``-quoted, one line, bounded.

    Examples
    --------
    >>> shown("relu\\x1b[2J")
    "'relu\\\\x1b[2J'"
    >>> shown("x" * 200, limit=10)
    "'xxxxxxxx… (200 characters)"
    >>> shown(10**100)
    'an integer of 101 digits'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        if value.bit_length() > 14_000:  # str() would raise (Python's 4300-digit limit)
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, str):
        size = len(value)
        text = repr(value[: limit + 1])
    else:
        try:
            text = repr(value)
        except Exception:  # a hostile __repr__ must not turn an error into a traceback
            return f"a value of type {type(value).__name__}"
        size = len(text)
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) > limit:
        unit = "characters" if isinstance(value, str) else "characters as written"
        return f"{text[: limit - 1]}… ({size} {unit})"
    return text


def shown_path(path: object) -> str:
    """A file path for an error line: as it is when short and printable, else :func:`shown`."""
    text = str(path)
    if text.isprintable() and len(text) <= 200:
        return text
    return shown(text, 200)


class SymPropError(Exception):
    """Base class of every error symprop reports to a user (exit code 2 at the CLI)."""


class SpecError(SymPropError, ValueError):
    """A network spec is invalid.

    Parameters
    ----------
    field
        Dotted path of the offending field, e.g. ``layers[1].activation``.
    value
        The value that was given (shown quoted and truncated, see :func:`shown`).
    allowed
        What would have been accepted.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {shown(value)}; {allowed}")


class ParseError(SymPropError, ValueError):
    """User text (a claim or an expression) could not be parsed; names the position."""

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.text = text
        self.position = position
        if position is not None and text and len(text) <= 200 and text.isprintable():
            pointer = " " * position + "^"
            message = f"{message}\n  {text}\n  {pointer}"
        super().__init__(message)


class SymPropWarning(UserWarning):
    """A legal but doubtful input, e.g. a pair that trains badly; the CLI prints it as one
    line, ``warning: …``, on stderr and goes on."""
