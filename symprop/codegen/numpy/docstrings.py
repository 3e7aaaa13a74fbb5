"""The generated module's docstring: user text escaped so that it reads back exactly, and
paragraphs wrapped to the module's width in linear time."""

from __future__ import annotations

import re

__all__ = ["DOC_WIDTH", "doc_paragraph", "docstring_text"]

DOC_WIDTH = 88
"""The width of the generated module's docstring paragraphs."""

_DOC_ESCAPES: dict[str, str] = {"\\": "\\\\", '"': '\\"'}


class _Escapes(dict):
    """The ``str.translate`` table of :func:`docstring_text`, filled as characters occur."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        text = _DOC_ESCAPES.get(char, char if char.isprintable() else ascii(char)[1:-1])
        self[code] = text
        return text


_ESCAPES = _Escapes()
# A space stays literal only between two other characters: leading, trailing and repeated
# spaces become \x20, so that no docstring line starts or ends with the user's whitespace.
_LONE_SPACE = re.compile(r"^ | $| (?= )")
# A long escaped word is cut into pieces of at most 26 characters, or 8 characters and
# escape sequences (at most 80 columns), never inside an escape sequence.
_PIECE = re.compile(
    r"[^\\]{1,26}|(?:\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|.)|[^\\]){1,8}", re.S
)
_BEYOND_CYRILLIC = re.compile("[^\x00-\u04ff]")


def docstring_text(value: str) -> str:
    r"""``value`` as text of the generated module's docstring that reads back as exactly
    ``value``: backslashes and double quotes escaped (so no ``\"\"\"`` can close it), and
    every character that is not printable (NUL, line breaks of every kind, surrogates,
    spaces other than U+0020) as its escape. Every user string reaches generated code
    through this function. Linear time.

    Examples
    --------
    >>> print(docstring_text('say "hi"\n\\'))
    say \"hi\"\n\\
    """
    if value.isprintable() and "\\" not in value and '"' not in value:
        escaped = value
    else:
        escaped = value.translate(_ESCAPES)
    return _LONE_SPACE.sub(r"\\x20", escaped)


def _user_width(text: str) -> int:
    """An upper bound of the columns user ``text`` takes in an editor: one per character up
    to Cyrillic, three beyond (wide characters take two, U+2E3B three)."""
    return len(text) + 2 * (len(text) - len(_BEYOND_CYRILLIC.sub("", text)))


def doc_paragraph(*parts: tuple[str, bool], width: int = DOC_WIDTH) -> str:
    """A docstring paragraph from ``(text, is_user)`` parts, wrapped to ``width`` columns.

    The module's own text is wrapped at its spaces. User text goes through
    :func:`docstring_text` and is wrapped without changing its value: at a space the line
    ends with `` \\`` (a line continuation), and a word too long for a line is cut between
    escape sequences, its lines ending with ``\\``. Linear time, whatever the text.
    """
    # Tokens [joint, break, text, width]: ``joint`` precedes ``text`` on the same line;
    # ``break`` ends the line before it when ``text`` starts a new one.
    tokens: list[list] = []

    def add(joint: str, brk: str, text: str, size: int) -> None:
        if not joint and tokens and tokens[-1][3] + size <= width - 2:
            tokens[-1][2] += text  # no space between them: keep them on one line
            tokens[-1][3] += size
        else:
            tokens.append([joint, brk, text, size])

    for text, is_user in parts:
        if not is_user:
            for k, word in enumerate(text.split(" ")):
                add(" " if k else "", "" if k else "\\", word, len(word))
            continue
        for k, word in enumerate(docstring_text(text).split(" ")):
            joint, brk = (" ", " \\") if k else ("", "\\")
            size = _user_width(word)
            if size <= width - 2:
                add(joint, brk, word, size)
                continue
            for p, piece in enumerate(_PIECE.findall(word)):
                add(joint if p == 0 else "", brk if p == 0 else "\\", piece, _user_width(piece))
    lines: list[str] = []
    line: list[str] = []
    used = 0
    for index, (joint, brk, text, size) in enumerate(tokens):
        # Room for the marker that ends the line if it breaks after this token.
        marker = len(tokens[index + 1][1]) if index + 1 < len(tokens) else 0
        if used and used + len(joint) + size + marker > width:
            line.append(brk)
            lines.append("".join(line))
            line, used = [text], size
        else:
            line += (joint, text)
            used += len(joint) + size
    lines.append("".join(line))
    return "\n".join(lines)
