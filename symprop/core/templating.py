"""The one Jinja environment of symprop: templates from ``templates/``, layout only.

Templates lay out strings that printers produced; they hold no formulas. Autoescaping is
off because the outputs are LaTeX, Python and DOT, not HTML; instead every string that
comes from the user goes through an explicit filter (``latex_escape``, ``markdown_escape``,
``dot_escape``).
"""

from __future__ import annotations

import importlib.resources
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

__all__ = [
    "FILTERS",
    "dot_escape",
    "environment",
    "latex_escape",
    "markdown_escape",
    "render",
    "templates_dir",
]

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    # Characters the default (OT1) text font lacks or draws as something else (< as ¡,
    # " as ”, _ as a rule, ^ and ~ as accents), and ` (which makes ligatures such as !`):
    # the typewriter font's ASCII glyph, or the text symbol.
    "_": r"\texttt{\char95}",
    "^": r"\texttt{\char94}",
    "~": r"\texttt{\char126}",
    '"': r"\texttt{\char34}",
    "`": r"\texttt{\char18}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_LATEX_LIGATURES = re.compile(r"([-'])(?=\1)")
"""-- and '' would print as a dash and a closing double quote."""
_OT1_MISSING = "×÷ÐÞðþ"
"""Latin-1 characters that pdflatex's default font encoding (OT1) cannot typeset."""


def latex_escape(text: object) -> str:
    r"""Any text as LaTeX text mode shows it: no input can run a command or break the
    document, and pdflatex compiles it with its default font encoding.

    ASCII specials are escaped (see ``_LATEX_SPECIALS``), ligatures are broken, and Latin-1
    letters pass. Whitespace of any kind (a tab, a blank line) becomes a space. Every other
    character (control characters such as NUL, Greek, CJK, emoji), which pdflatex would
    reject or drop, is shown as its code point in typewriter type, e.g. ``U+4E2D``.

    Examples
    --------
    >>> latex_escape(r"a_L \input{x}")
    'a\\texttt{\\char95}L \\textbackslash{}input\\{x\\}'
    >>> latex_escape("50% λ\n\n--")
    '50\\% \\texttt{U+03BB}  -{}-'
    """
    out = []
    for char in str(text):
        code = ord(char)
        if char in _LATEX_SPECIALS:
            out.append(_LATEX_SPECIALS[char])
        elif 0x20 <= code < 0x7F or (0xC0 <= code <= 0xFF and char not in _OT1_MISSING):
            out.append(char)
        elif char.isspace():
            out.append(" ")
        else:
            out.append(rf"\texttt{{U+{code:04X}}}")
    return _LATEX_LIGATURES.sub(r"\1{}", "".join(out))


_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]$|~#@])")
"""Characters with a meaning anywhere in a line: escapes and code (``\\`` `````), emphasis
(``* _``), links and images (``[ ]``), maths (``$``), table cells (``|``), strikethrough
(``~``), a heading's closing ``#`` and e-mail autolinks (``@``)."""
_MARKDOWN_LINE_START = re.compile(r"^( ?(?:\d{1,9}(?=[.)])|(?=[-+=>])))")
"""Block markers at the start of a line: an ordered or bullet list item, a setext underline,
a block quote (``#``, ``*``, `````, ``~`` and ``|`` are escaped everywhere)."""
_MARKDOWN_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=\bwww)\.")
"""The ``://`` of a URL and the ``.`` of ``www.``, which GitHub would link."""


def markdown_escape(text: object) -> str:
    r"""Any text as CommonMark (and GitHub) renders it literally, on one line: no HTML,
    link, image, emphasis, code, maths (``$``), heading, list or table cell can start inside
    it, wherever on a line it is placed.

    Only what CommonMark, GitHub's tables, strikethrough, maths and autolinks give a meaning
    is backslash-escaped (see ``_MARKDOWN_INLINE``; at the start of the text also a list,
    quote or underline marker), so ordinary punctuation reads as typed: ``XOR: a 2-4-1
    net (log loss).`` stays as it is. ``&`` and ``<`` become entities, and a run of
    whitespace of any kind becomes one space. A character that is not printable (a control
    character such as NUL or ESC, a bidirectional override, a surrogate) is shown as its
    code point in a code span, e.g. ```U+001B```; a run of them as one span.

    Examples
    --------
    >>> markdown_escape("a_b <script> $x$")
    'a\\_b &lt;script> \\$x\\$'
    >>> markdown_escape("1. XOR: a 2-4-1 net")
    '1\\. XOR: a 2-4-1 net'
    >>> markdown_escape(" tab\there\x1b\n")
    ' tab here`U+001B` '
    """
    text = re.sub(r"\s+", " ", str(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    text = _MARKDOWN_AUTOLINK.sub(lambda m: "\\" + m[0], text)
    text = _MARKDOWN_LINE_START.sub(r"\1\\", text)
    out = []
    for printable, group in itertools.groupby(text, str.isprintable):
        run = "".join(group)
        # A run is one code span: two side by side would read as a double-backtick fence.
        out.append(run if printable else "`" + _code_points(run) + "`")
    return "".join(out)


def _code_points(chars: Iterable[str]) -> str:
    return " ".join(f"U+{ord(char):04X}" for char in chars)


def dot_escape(text: object) -> str:
    r"""Any text for a Graphviz HTML-like label, always accepted by ``dot``.

    ``& < > "`` become entities, a run of whitespace becomes one space, and a character XML
    forbids (a control character, a lone surrogate, U+FFFE, U+FFFF) is shown by its code
    point.

    Examples
    --------
    >>> dot_escape("a<b & c")
    'a&lt;b &amp; c'
    >>> dot_escape("a\x01\n\nc")
    'aU+0001 c'
    """
    spaced = re.sub(r"\s+", " ", str(text))
    shown = "".join(char if _xml_allowed(char) else f"U+{ord(char):04X}" for char in spaced)
    return (
        shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _xml_allowed(char: str) -> bool:
    code = ord(char)
    return char.isprintable() or (code > 0x9F and not 0xD800 <= code <= 0xDFFF and code < 0xFFFE)


FILTERS: Mapping[str, Callable[[Any], str]] = {
    "latex_escape": latex_escape,
    "markdown_escape": markdown_escape,
    "dot_escape": dot_escape,
}
"""Every filter the templates may use, in one place."""


def templates_dir() -> Path | importlib.resources.abc.Traversable:
    """The source tree's ``templates/`` directory, else the installed ``symprop.templates``."""
    source = Path(__file__).resolve().parents[2] / "templates"
    if source.is_dir():
        return source
    return importlib.resources.files("symprop.templates")


class _TraversableLoader(jinja2.BaseLoader):
    """Loads templates from an importlib.resources Traversable (an installed package)."""

    def __init__(self, root: importlib.resources.abc.Traversable) -> None:
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        resource = self.root.joinpath(template)
        if not resource.is_file():
            raise jinja2.TemplateNotFound(template)
        return resource.read_text(encoding="utf-8"), None, lambda: True


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared environment: strict undefined, trimmed blocks, explicit escaping filters."""
    root = templates_dir()
    loader: jinja2.BaseLoader = (
        jinja2.FileSystemLoader(str(root)) if isinstance(root, Path) else _TraversableLoader(root)
    )
    env = jinja2.Environment(
        loader=loader,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render ``templates/<template>`` with ``context`` (a mapping of printer-made strings)."""
    return environment().get_template(template).render(**context)
