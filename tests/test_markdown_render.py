"""Markdown documents tested by rendering them as GitHub does.

Every generated ``.md`` (the golden files, and documents of every profile and every layer
kind made here) is rendered with markdown-it-py (CommonMark, with GitHub's tables) and
``mdit_py_plugins.dollarmath`` configured as GitHub reads maths: ``$…$`` only when not glued to
a letter or digit and without inner padding, ``$$…$$`` blocks on lines of their own. A
document fails on

- inline maths glued to a letter or digit (GitHub leaves ``unit$j$of`` as text), or maths the
  renderer leaves as text (a ``$`` in the rendered text);
- a numbered line of the source that does not become a list item at its nesting depth (a
  CommonMark list not starting at 1 cannot interrupt a paragraph, so it collapses);
- an escape shown literally (a backslash in the rendered text), or a backslash escape of a
  character CommonMark gives no meaning there (``XOR\\:`` reads badly in the source);
- a table row whose cells do not match its header (a ``|`` inside maths splits a GitHub cell);
- a maths span outside the strict KaTeX subset stated in :func:`katex_problems`.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from symprop import derive, load_spec
from symprop.core.notation import PROFILES
from symprop.core.templating import markdown_escape
from symprop.documents.emit import checked, to_markdown

markdown_it = pytest.importorskip("markdown_it")
dollarmath = pytest.importorskip("mdit_py_plugins.dollarmath")

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = sorted((ROOT / "generated").glob("*.md"))

KATEX_MACROS = frozenset(
    r"""
    \alpha \beta \gamma \delta \epsilon \varepsilon \eta \theta \lambda \mu \sigma \phi \varphi
    \Delta \Theta \Sigma \nabla \partial \sum \prod \frac \tfrac \dfrac \sqrt \log \exp \tanh
    \cosh \sinh \max \min \operatorname \mathrel \mathcal \mathbf \mathrm \boldsymbol \hat
    \tilde \bar \text \left \right \Bigl \Bigr \bigl \bigr \lVert \rVert \top \odot \cdot
    \times \leftarrow \rightarrow \to \mapsto \dots \ldots \cdots \vdots \quad \qquad \leq \geq
    \le \ge \neq \in \infty \mid \begin \end \tag \prime
    \theta \Theta \pi \rho \tau \omega \xi \zeta \nu \kappa \Lambda \Gamma \Phi \Psi \Omega
    \ell \mathbb \approx \sim \simeq \propto \equiv \ll \gg \pm \mp \div \circ \ast
    \int \limits \lvert \rvert \vert \Vert \langle \rangle \overline \widehat \binom
    \Rightarrow \Leftrightarrow \implies \iff \forall \exists \colon \displaystyle
    \textstyle \scriptstyle \big \Big \bigg \Bigg \tfrac
    """.split()
)
"""Macros KaTeX (and GitHub's MathJax) typeset, a subset of both; a document may use no other."""

KATEX_ENVIRONMENTS = frozenset(("aligned", "cases", "matrix", "pmatrix", "bmatrix", "array"))
"""Environments both typeset inside a ``$$`` display (``align`` would have to stand alone)."""


def renderer() -> markdown_it.MarkdownIt:
    """CommonMark with GitHub's tables and maths as GitHub reads it."""
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    md.use(
        dollarmath.dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        allow_blank_lines=False,
        double_inline=False,
    )
    return md


def katex_problems(tex: str, display: bool) -> list[str]:
    r"""The strict KaTeX-subset rule: braces balance (``\{``, ``\}`` aside) and never close
    before they open; every macro is in :data:`KATEX_MACROS`; ``\begin``/``\end`` pair up and
    name only :data:`KATEX_ENVIRONMENTS`; ``&`` and ``\\`` only inside them; ``\tag`` only in a
    display and outside ``aligned``, at most once; ``\left`` and ``\right`` pair up."""
    out = []
    plain = re.sub(r"\\[{}]", "", tex)
    depth = 0
    for char in plain:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            out.append("a brace closes before it opens")
            break
    if depth > 0:
        out.append("unbalanced braces")
    for macro in set(re.findall(r"\\[A-Za-z]+", tex)) - KATEX_MACROS:
        out.append(f"unknown macro {macro}")
    envs = re.findall(r"\\(begin|end)\{([^}]*)\}", tex)
    if any(name not in KATEX_ENVIRONMENTS for _, name in envs):
        out.append(f"environment KaTeX lacks or that must stand alone: {envs}")
    inside = 0
    for token in re.findall(r"\\(?:begin|end)\{\w+\}|\\tag\b|\\\\|(?<!\\)&", tex):
        if token.startswith(r"\begin"):
            inside += 1
        elif token.startswith(r"\end"):
            inside -= 1
        elif token == r"\tag" and (inside or not display):
            out.append(r"\tag inside aligned or inline")
        elif token in ("&", r"\\") and not inside:
            out.append(f"{token} outside aligned")
    if inside:
        out.append("aligned not closed")
    if tex.count(r"\tag") > 1:
        out.append(r"more than one \tag in one display")
    if len(re.findall(r"\\left\b", tex)) != len(re.findall(r"\\right\b", tex)):
        out.append(r"\left and \right do not pair up")
    return out


def _inline_spans(line: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each ``$…$`` of a source line (``\\$`` is an escaped dollar)."""
    dollars = [m.start() for m in re.finditer(r"(?<!\\)\$", line)]
    assert len(dollars) % 2 == 0, f"unpaired $ in: {line}"
    return list(zip(dollars[::2], dollars[1::2], strict=True))


# What CommonMark (with GitHub's tables, strikethrough, maths and autolinks) gives a meaning
# to in running text; at the start of a line also block markers. Nothing else is escaped.
_NEEDED = set("\\`*_[]$|~#@")
_LINE_START_ESCAPE = re.compile(r"^\s*(?:\d+)?\\[-+=>.)]")


def _text_of(line: str) -> str:
    """A source line with its maths spans removed."""
    spans = _inline_spans(line)
    for start, end in reversed(spans):
        line = line[:start] + line[end + 1 :]
    return line


def markdown_problems(source: str) -> list[str]:
    """Everything a GitHub reader would see broken in ``source`` (see the module docstring)."""
    problems: list[str] = []
    lines = source.splitlines()
    in_block, in_comment = False, False
    blocks = spans = 0
    items: list[int] = []  # the nesting depth of each numbered line
    indents: list[int] = []
    for number, line in enumerate(lines, 1):
        where = f"line {number}: {line[:80]}"
        if line.startswith("<!--"):
            in_comment = not line.rstrip().endswith("-->")
            continue
        if in_comment:
            in_comment = not line.rstrip().endswith("-->")
            continue
        if line.strip() == "$$":
            in_block = not in_block
            blocks += not in_block
            continue
        if in_block:
            continue
        if "$$" in line:
            problems.append(f"$$ not on a line of its own: {where}")
        for start, end in _inline_spans(line):
            spans += 1
            before = line[start - 1] if start else " "
            after = line[end + 1] if end + 1 < len(line) else " "
            if before.isalnum() or after.isalnum():
                problems.append(f"inline maths glued to a letter or digit: {where}")
            body = line[start + 1 : end]
            if body != body.strip() or not body:
                problems.append(f"inline maths padded or empty: {where}")
            inline_table = line.lstrip().startswith("|")
            if inline_table and "|" in body.replace(r"\|", ""):
                problems.append(f"a | inside maths splits a table cell: {where}")
            problems += [f"{p}: {where}" for p in katex_problems(body, display=False)]
        text = _text_of(line)
        for m in re.finditer(r"\\(.)", text):
            start_escape = _LINE_START_ESCAPE.match(text) and m.start() == text.index("\\")
            autolink = (m[1] == ":" and text[m.end() :].startswith("//")) or (
                m[1] == "." and text[: m.start()].lower().endswith("www")
            )
            if m[1] not in _NEEDED and not start_escape and not autolink:
                problems.append(f"needless escape \\{m[1]}: {where}")
        list_item = re.match(r"( *)\d+\. ", line)
        if list_item:
            indent = len(list_item[1])
            while indents and indents[-1] > indent:
                indents.pop()
            if not indents or indents[-1] < indent:
                indents.append(indent)
            items.append(len(indents) - 1)
        elif line.strip() and not line.startswith(" "):
            indents = []

    tokens = renderer().parse(source)
    depth, rendered_items = 0, []
    math_inline = math_block = 0
    for token in tokens:
        if token.type == "ordered_list_open":
            depth += 1
        elif token.type == "ordered_list_close":
            depth -= 1
        elif token.type == "list_item_open" and token.markup == ".":
            rendered_items.append(depth - 1)
        elif token.type == "math_block":
            math_block += 1
            problems += [f"{p}: {token.content[:80]}" for p in katex_problems(token.content, True)]
        elif token.type == "inline":
            for child in token.children or ():
                if child.type == "math_inline":
                    math_inline += 1
                elif child.type == "text" and ("$" in child.content or "\\" in child.content):
                    problems.append(f"shown literally: {child.content[:80]}")
    if rendered_items != items:
        problems.append(
            f"numbered lines at depths {items} render as list items at depths {rendered_items}"
        )
    if math_block != blocks:
        problems.append(f"{blocks} $$ blocks in the source, {math_block} rendered as maths")
    if math_inline != spans:
        problems.append(f"{spans} inline maths spans in the source, {math_inline} rendered")
    problems += _table_problems(tokens)
    return problems


def _table_problems(tokens: list) -> list[str]:
    """Rows of a table whose cell count differs from its header's."""
    out, header, cells = [], 0, 0
    for token in tokens:
        if token.type == "thead_open":
            header = -1
        elif token.type == "tr_open":
            cells = 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            if header == -1:
                header = cells
            elif cells != header:
                out.append(f"a table row of {cells} cells under a header of {header}")
    return out


# --- the rule itself, on documents made to break it ---------------------------------------


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("Each unit$j$of layer $l$ forms.\n", "glued"),
        ("Each unit $j$ of layer $l$forms.\n", "glued"),
        ("1. Input\n2. For each sample:\n    3. forward\n", "list items"),
        ("Text\n3. after a paragraph\n", "list items"),
        ("XOR\\: a 2\\-4\\-1 classifier\n", "needless escape"),
        ("$$\n\\begin{aligned} a &= b \\tag{1} \\end{aligned}\n$$\n", "inside aligned"),
        ("$$\n\\begin{aligned} a &= \\foo{b} \\end{aligned}\n$$\n", "unknown macro"),
        ("The sum $a_{1$ here.\n", "braces"),
        ("| a | b |\n| --- | --- |\n| $\\|x|$ | y |\n", "splits a table cell"),
        ("A display $$x$$ inline.\n", "own"),
    ],
)
def test_the_rule_catches_each_defect(source: str, problem: str) -> None:
    found = markdown_problems(source)
    assert any(problem in p for p in found), found


def test_the_rule_passes_what_github_renders() -> None:
    source = (
        "# Title\n\nEach unit $j$ of layer $l$, e.g. $a^{l}$.\n\n"
        "1. Input\n2. For each sample:\n    1. forward\n    2. backward\n3. Update\n\n"
        "$$\n\\begin{aligned}\na &= b && \\text{by definition}\n\\end{aligned} \\tag{1}\n$$\n"
    )
    assert markdown_problems(source) == []


@pytest.mark.parametrize(
    "text", ["XOR: a 2-4-1 net (log loss)!", "- a list?", "1. first", "# x #", "a|b $5 *x* `c`"]
)
def test_escaped_text_renders_as_itself_at_the_start_of_a_line_and_in_a_table(text: str) -> None:
    md = renderer()
    escaped = markdown_escape(text)
    paragraph = md.parse(escaped + "\n")
    assert [t.type for t in paragraph] == ["paragraph_open", "inline", "paragraph_close"]
    assert paragraph[1].children is not None
    assert "".join(c.content for c in paragraph[1].children) == text
    table = md.parse(f"| a | b |\n| --- | --- |\n| {escaped} | x |\n")
    cells = [t for t in table if t.type == "inline"][2:]
    assert [c.content for c in cells][1] == "x"
    assert "".join(c.content for c in cells[0].children) == text


def test_only_needed_characters_are_escaped() -> None:
    assert markdown_escape("XOR: a 2-4-1 sigmoid classifier (log loss).") == (
        "XOR: a 2-4-1 sigmoid classifier (log loss)."
    )


# --- every document ------------------------------------------------------------------------


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_markdown_renders(path: Path) -> None:
    problems = markdown_problems(path.read_text("utf-8"))
    assert not problems, "\n".join(problems[:20])


@cache
def _checked(name: str):
    return checked(derive(load_spec(ROOT / "examples" / f"{name}.toml")))


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("name", ["xor", "residual", "digits_bn"])
def test_every_profile_and_layer_kind_renders(name: str, profile: str) -> None:
    problems = markdown_problems(to_markdown(_checked(name), profile))
    assert not problems, "\n".join(problems[:20])
