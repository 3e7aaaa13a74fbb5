"""The one Jinja environment of symprop: templates from ``templates/``, layout only.

Templates lay out strings that printers produced; they hold no formulas. Autoescaping is
off because the outputs are LaTeX, Python and DOT, not HTML; instead every string that
comes from the user goes through an explicit filter (``latex_escape``, ``dot_escape``).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["FILTERS", "environment", "latex_escape", "dot_escape", "render", "templates_dir"]

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
}


def latex_escape(text: object) -> str:
    r"""Escape text for LaTeX's text mode, so user input can never run a command.

    Examples
    --------
    >>> latex_escape(r"a_L \input{x}")
    'a\\_L \\textbackslash{}input\\{x\\}'
    """
    return "".join(_LATEX_SPECIALS.get(char, char) for char in str(text))


def dot_escape(text: object) -> str:
    """Escape text for a Graphviz HTML-like label.

    Examples
    --------
    >>> dot_escape("a<b & c")
    'a&lt;b &amp; c'
    """
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


FILTERS: Mapping[str, Callable[[Any], str]] = {
    "latex_escape": latex_escape,
    "dot_escape": dot_escape,
}
"""Every filter the templates may use, in one place."""


def templates_dir() -> Path | importlib.resources.abc.Traversable:
    """The source tree's ``templates/`` directory, else the installed ``symprop.templates``."""
    source = Path(__file__).resolve().parent.parent / "templates"
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
