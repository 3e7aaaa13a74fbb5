"""LaTeX/Markdown derivation documents: golden files, compilation, notation, escaping."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from click.testing import CliRunner
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from symprop import Dense, Network, derive, load_spec
from symprop.core.errors import SymPropError
from symprop.core.examples import network_specs as example_specs
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.templating import latex_escape, markdown_escape
from symprop.derivation.build import DerivationCheckError
from symprop.derivation.steps import Step
from symprop.documents.emit import (
    checked,
    compile_pdf,
    document_context,
    to_latex,
    to_markdown,
)
from symprop.documents.regenerate import regenerate

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdflatex") is not None
OVERFULL_LIMIT_PT = 3.0


def _need_tex() -> None:
    """Skip without TeX, except in CI, where a missing TeX Live is a failure."""
    if not HAVE_TEX:
        if os.environ.get("CI"):
            pytest.fail("CI is set but latexmk/pdflatex are not installed")
        pytest.skip("latexmk/pdflatex not installed")


def _log_problems(log: str) -> list[str]:
    """LaTeX errors, undefined references and overfull boxes wider than the limit."""
    problems = [line for line in log.splitlines() if line.startswith("!")]
    problems += re.findall(r"LaTeX Warning: (?:Reference|Citation) .* undefined.*", log)
    if "There were undefined references" in log:
        problems.append("undefined references")
    for width, where in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\) (.*)", log):
        if float(width) > OVERFULL_LIMIT_PT:
            problems.append(f"overfull hbox {width}pt {where}")
    return problems


def _compile(tex: Path) -> Path:
    try:
        pdf = compile_pdf(tex)
    finally:
        log = tex.with_suffix(".log")
    problems = _log_problems(log.read_text("utf-8", "replace"))
    assert not problems, f"{tex.name}: " + "; ".join(problems)
    return pdf


@dataclasses.dataclass(frozen=True)
class Regenerated:
    """The example documents regenerated in-process, and by a second interpreter."""

    out: Path
    other: Path
    other_seed: str
    process: subprocess.Popen


REGENERATE_DOCUMENTS = (
    "import sys; from symprop.documents.regenerate import regenerate; regenerate(sys.argv[1])"
)


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Regenerated:
    """Every example document, regenerated once for the session; meanwhile a second
    interpreter with another PYTHONHASHSEED regenerates them too (in parallel)."""
    out = tmp_path_factory.mktemp("generated")
    other = tmp_path_factory.mktemp("generated_other_seed")
    seed = "12345" if os.environ.get("PYTHONHASHSEED") == "0" else "0"
    process = subprocess.Popen(
        [sys.executable, "-c", REGENERATE_DOCUMENTS, str(other)],
        env=dict(os.environ, PYTHONHASHSEED=seed),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    regenerate(out)
    return Regenerated(out, other, seed, process)


def test_golden_files_are_up_to_date(regenerated: Regenerated) -> None:
    out = regenerated.out
    produced = sorted(p.name for p in out.iterdir() if p.suffix in (".tex", ".md"))
    names = [load_spec(p).name for p in example_specs()]
    assert produced == sorted([f"{n}.tex" for n in names] + [f"{n}.md" for n in names])
    for name in produced:
        new = (out / name).read_text("utf-8")
        golden = GENERATED / name
        assert golden.exists(), f"missing golden file {golden}; run python -m symprop.regenerate"
        old = golden.read_text("utf-8")
        if new != old:
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), str(golden), f"regenerated/{name}"
                )
            )
            pytest.fail(f"{golden} is stale (python -m symprop.regenerate):\n{diff[:6000]}")


def test_regeneration_is_deterministic_across_hash_seeds(regenerated: Regenerated) -> None:
    _, err = regenerated.process.communicate(timeout=600)
    assert regenerated.process.returncode == 0, err.decode()
    names = sorted(p.name for p in regenerated.out.iterdir())
    assert names == sorted(p.name for p in regenerated.other.iterdir())
    for name in names:
        same = (regenerated.out / name).read_bytes() == (regenerated.other / name).read_bytes()
        assert same, f"{name} differs under PYTHONHASHSEED={regenerated.other_seed}"


def test_every_example_document_compiles_cleanly_and_renders(
    regenerated: Regenerated, tmp_path: Path
) -> None:
    _need_tex()
    if shutil.which("pdftoppm") is None and not os.environ.get("CI"):
        pytest.skip("pdftoppm not installed")
    for tex in sorted(regenerated.out.glob("*.tex")):
        work = tmp_path / tex.stem
        work.mkdir()
        shutil.copy(tex, work / tex.name)
        pdf = _compile(work / tex.name)
        # Render the pages (at low resolution, to keep the test fast) as a smoke test
        # of the PDF itself; the pages were inspected by eye at higher resolution.
        subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(work / "page")], check=True)
        pages = sorted(work.glob("page-*.png"))
        assert len(pages) >= 4, f"{tex.name}: only {len(pages)} pages"
        assert all(p.stat().st_size > 1000 for p in pages)


HOSTILE = [
    r"\input{/etc/passwd}",
    "}",
    "{",
    "100% $x$ #1 a_b c^d ~e \\ f & g",
    "\\end{document}",
    "Ünïcødé λ 中文 🙂",
    "line\nbreak\ttab",
    "<script>alert(1)</script> [link](http://x) *bold* `code`",
]


@pytest.fixture(scope="module")
def tiny() -> Network:
    return Network(
        inputs=2,
        layers=[Dense(2, "tanh"), Dense(1, "sigmoid")],
        loss="binary_cross_entropy",
        l2=0.01,
    )


@pytest.fixture(scope="module")
def tiny_checked(tiny: Network):
    return checked(derive(tiny))


def test_hostile_titles_are_escaped_and_compile(tiny: Network, tmp_path: Path) -> None:
    _need_tex()
    title = " ".join(HOSTILE)
    net = dataclasses.replace(tiny, title=title)
    cd = checked(derive(net))
    tex = to_latex(cd)
    assert r"\input{/etc" not in tex
    assert tex.count("\\end{document}") == 1
    # The title line itself holds no unescaped specials.
    title_line = next(line for line in tex.splitlines() if line.startswith(r"\title{"))
    body = title_line[len(r"\title{Backpropagation for ") : -1]
    assert "\\input" not in body.replace(r"\textbackslash{}input", "")
    assert not re.search(
        r"(?<!\\)[%$#&_^~]",
        body.replace(r"\textasciitilde{}", "").replace(r"\textasciicircum{}", ""),
    )
    path = tmp_path / "hostile.tex"
    path.write_text(tex, "utf-8")
    _compile(path)
    md = to_markdown(cd)
    heading = next(line for line in md.splitlines() if line.startswith("# "))
    assert "<script>" not in heading and "\n" not in heading
    assert "$x$" not in heading and r"\$x\$" in heading


def test_documents_are_emitted_only_from_checked_derivations(tiny: Network) -> None:
    d = derive(tiny)
    with pytest.raises(SymPropError, match="checked derivation"):
        to_latex(d)  # type: ignore[arg-type]
    # A derivation with a wrong output delta fails its check, and nothing is emitted.
    od = d.output_delta
    broken = dataclasses.replace(d, output_delta=dataclasses.replace(od, expr=2 * od.expr))
    with pytest.raises(DerivationCheckError):
        checked(broken)


def test_profiles_change_symbols_not_structure(tiny_checked) -> None:
    cd = tiny_checked
    contexts = {p: document_context(cd, p) for p in ("nielsen", "goodfellow", "ng")}

    def shape(ctx):  # section titles and the number of lines of every equation
        return [
            (s.title, [len(eq.lines) for eq in s.equations]) for s in ctx.sections + ctx.summary
        ]

    shapes = {p: shape(c) for p, c in contexts.items()}
    assert shapes["nielsen"] == shapes["goodfellow"] == shapes["ng"]
    docs = {p: to_latex(cd, p) for p in contexts}
    assert r"\Theta^{(1)}" in docs["ng"] and r"\Theta" not in docs["nielsen"]
    assert "h^{(1)}" in docs["goodfellow"] and r"\hat{y}" in docs["goodfellow"]
    assert "w^{2}" in docs["nielsen"]
    # Ng and Nielsen number the input layer 1; Θ^{(l)} maps layer l to l + 1, w^l maps
    # layer l - 1 to l.
    assert "a^{(1)} &= x" in docs["ng"] and "a^{1} &= x" in docs["nielsen"]
    # Ng keeps the bias in column 0 of Θ, with a bias unit a_0 = 1.
    assert r"z^{(2)} &= \Theta^{(1)} a^{(1)}" in docs["ng"]
    assert r"z^{2} &= w^{2} a^{1} + b^{2}" in docs["nielsen"]
    # The same step, printed in three notations, differs only in its symbols.
    rhs = {p: c.sections[5].equations[0].lines[-1].rhs for p, c in contexts.items()}
    assert len(set(rhs.values())) == 3


def _pairs() -> list[tuple[str, str, str]]:
    """Every output activation × loss (with a sigmoid hidden layer), and every hidden
    activation (under an identity output): together every justification the engine writes."""
    combos = [("sigmoid", out, loss) for out in ACTIVATIONS for loss in LOSSES]
    combos += [(hidden, "identity", "mse") for hidden in ACTIVATIONS if hidden != "softmax"]
    return combos


def test_every_justification_of_every_pair_keeps_its_math_as_expressions() -> None:
    # Math written into a text segment would print in neither notation: every symbol of a
    # justification must be a SymPy segment, which each printer renders in its profile.
    for hidden, out, loss in _pairs():
        try:
            net = Network(inputs=2, layers=[Dense(2, hidden), Dense(2, out)], loss=loss)
        except SymPropError:
            continue
        d = derive(net)
        for step in d.steps:
            for _, why in step.chain:
                assert why.segments, step.id
                assert not re.search(r"[\^_=ΣσφδΔλη'ᵀ²]", why.text), (step.id, why.text)
                assert not re.search(r"(^|\s)[ijklnCJ]([\s,:.]|$)", why.text), (step.id, why)
        for reason in [*d.output_delta.assumptions, *d.assumptions]:
            assert any(isinstance(s, sp.Basic) for s in reason), reason


def test_a_justification_must_be_data() -> None:
    with pytest.raises(TypeError, match="must be a Why"):
        Step("x", "forward", sp.Symbol("x"), ((sp.Symbol("y"), "since y = x"),))


def test_cli_writes_latex_and_markdown(tmp_path: Path) -> None:
    from symprop.cli.main import cli

    tex, md = tmp_path / "xor.tex", tmp_path / "xor.md"
    result = CliRunner().invoke(
        cli,
        [
            "derive",
            str(ROOT / "examples" / "xor.toml"),
            "--latex",
            str(tex),
            "--markdown",
            str(md),
            "--notation",
            "goodfellow",
        ],
    )
    assert result.exit_code == 0, result.output
    assert r"\hat{y}" in tex.read_text("utf-8")
    assert md.read_text("utf-8").startswith("<!-- Generated by symprop")


def test_notebook_reprs(tiny_checked) -> None:
    d = tiny_checked.derivation
    latex = d._repr_latex_()
    assert latex.startswith("$$") and latex.endswith("$$")
    assert r"\odot" in latex
    assert d._repr_markdown_().startswith("<!-- Generated by symprop")


# --- escaping: any string, as LaTeX, Markdown and JSON show it ---------------------------

# Every piece latex_escape may write, and the text each piece shows.
_LATEX_PIECES = {
    r"\textbackslash{}": "\\",
    r"\texttt{\char95}": "_",
    r"\texttt{\char94}": "^",
    r"\texttt{\char126}": "~",
    r"\texttt{\char34}": '"',
    r"\texttt{\char18}": "`",
    r"\textless{}": "<",
    r"\textgreater{}": ">",
    r"\textbar{}": "|",
    "{}": "",
    **{f"\\{c}": c for c in "{}$&#%"},
}
_LATEX_TOKEN = re.compile(
    "|".join(re.escape(piece) for piece in _LATEX_PIECES)
    + r"|\\texttt\{U\+[0-9A-F]{4,6}\}"
    + r"|[ !'()*+,./0-9:;=?@A-Z\[\]a-z-]|[\u00c0-\u00ff]"
)


def _shown_by_latex(tex: str) -> str:
    """The text a piece of latex_escape output shows; fails on anything else in it."""
    out, at = [], 0
    while at < len(tex):
        token = _LATEX_TOKEN.match(tex, at)
        assert token, f"unexpected LaTeX at {at}: {tex[at : at + 20]!r}"
        piece = token.group()
        out.append(_LATEX_PIECES.get(piece, piece))
        at = token.end()
    return "".join(out)


def _expected_latex(text: str) -> str:
    """The text a title should show in LaTeX: whitespace as spaces, and every character
    pdflatex's default fonts lack as its code point."""
    out = []
    for c in text:
        latin1 = 0xC0 <= ord(c) <= 0xFF and c not in "×÷ÐÞðþ"
        if 0x20 <= ord(c) < 0x7F or latin1:
            out.append(c)
        else:
            out.append(" " if c.isspace() else f"\\texttt{{U+{ord(c):04X}}}")
    return "".join(out)


_ANY_TEXT = st.text(st.characters(codec=None), max_size=60)


@settings(max_examples=500, deadline=None)
@given(_ANY_TEXT)
def test_latex_escape_shows_exactly_the_text(text: str) -> None:
    tex = latex_escape(text)
    assert _shown_by_latex(tex) == _expected_latex(text)
    # No ligature (-- ---, '' ) can form between two escaped characters.
    assert "--" not in tex and "''" not in tex


def _markdown_inline(line: str) -> list:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(line)
    return tokens


def _expected_markdown(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    out, run = [], []
    for c in text + " ":
        if c.isprintable():
            if run:
                out.append(" ".join(f"U+{ord(r):04X}" for r in run))
                run = []
            out.append(c)
        else:
            run.append(c)
    return "".join(out)[:-1]


@settings(max_examples=500, deadline=None)
@given(_ANY_TEXT)
def test_markdown_escape_renders_as_literal_text_in_a_heading_and_a_paragraph(text: str) -> None:
    pytest.importorskip("markdown_it")
    md = markdown_escape(text)
    assert "\n" not in md and "<" not in md
    for prefix, block in (("# Backpropagation for ", "heading"), ("A ", "paragraph")):
        tokens = _markdown_inline(prefix + md + " end")
        kinds = [t.type for t in tokens]
        assert kinds == [f"{block}_open", "inline", f"{block}_close"], kinds
        children = tokens[1].children
        # Only literal text: no link, image, HTML, emphasis, line break.
        assert {c.type for c in children} <= {"text", "text_special", "code_inline"}
        shown = "".join(c.content for c in children)
        assert shown == prefix.lstrip("# ") + _expected_markdown(text) + " end"


def _titled(cd, title: str):
    """``cd`` for the same network under another title (the proof does not depend on it).

    The title is set past the spec's validation: documents must escape any string, whatever
    the spec accepts as a title."""
    net = copy.copy(cd.derivation.network)
    object.__setattr__(net, "title", title)
    derivation = dataclasses.replace(cd.derivation, network=net)
    return dataclasses.replace(cd, derivation=derivation)


_TITLE_SHOWCASE = (
    "NUL\x00 ESC\x1b blank\n\nline 中文 λ 🙂 ÐÞðþ×÷ ÀÿÜ -- --- `` '' !` ?` << | \\ ~^_\"<>"
)


def _first_page_title(pdf: Path) -> str:
    # -raw: in its default layout mode pdftotext joins a line ending in "-" with the next
    # as a hyphenated word, so a title "-" read back as nothing.
    text = subprocess.run(
        ["pdftotext", "-raw", "-l", "1", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    head = text.split("symprop derivation of the network")[0]
    head = head.replace("\u2019", "'").replace("\ufb01", "fi").replace("\ufb02", "fl")
    return " ".join(head.split())


def _typeset_title(cd, title: str, tmp: Path) -> str:
    tex = tmp / "doc.tex"
    tex.write_text(to_latex(_titled(cd, title)), "utf-8")
    pdf = compile_pdf(tex)
    errors = [ln for ln in tex.with_suffix(".log").read_text("utf-8", "replace").splitlines()]
    assert not [ln for ln in errors if ln.startswith("!")]
    return _first_page_title(pdf)


def test_a_title_of_control_characters_cjk_and_ligatures_compiles(tiny_checked, tmp_path):
    _need_tex()
    shown = _typeset_title(tiny_checked, _TITLE_SHOWCASE, tmp_path)
    assert shown.startswith("Backpropagation for NULU+0000 ESCU+001B blank line U+4E2DU+6587")
    assert "U+00D0U+00DEU+00F0U+00FEU+00D7U+00F7" in shown
    assert "-- --- `` '' !` ?` << | \\" in shown


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24))
def test_any_ascii_title_compiles_and_reads_back_from_the_pdf(
    tiny_checked, tmp_path_factory, title
):
    _need_tex()
    shown = _typeset_title(tiny_checked, title, tmp_path_factory.mktemp("title"))
    expected = title or tiny_checked.derivation.network.name  # an empty title: the name
    assert shown == " ".join(f"Backpropagation for {expected}".split())


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.characters(codec=None), max_size=24))
def test_any_title_compiles(tiny_checked, tmp_path_factory, title):
    _need_tex()
    _typeset_title(tiny_checked, title, tmp_path_factory.mktemp("title"))


def _toml_string(text: str) -> str:
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\U{ord(c):08X}" for c in text) + '"'


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.characters(codec="utf-8"), max_size=40))
def test_derive_json_holds_any_title(tmp_path_factory, title: str) -> None:
    from symprop.cli.main import cli

    spec = tmp_path_factory.mktemp("spec") / "net.toml"
    source = (ROOT / "examples" / "xor.toml").read_text("utf-8")
    source = re.sub(r"(?m)^title = .*$", lambda _: f"title = {_toml_string(title)}", source)
    spec.write_text(source, "utf-8")
    result = CliRunner().invoke(cli, ["derive", str(spec), "--json", "--no-check"])
    if result.exit_code == 2 and "title" in result.output:
        reject()  # a title the spec refuses
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["network"]["title"] == title
    # Nothing a terminal would act on: every character printable, but the line breaks.
    assert all(c.isprintable() for c in result.stdout.replace("\n", ""))


def test_regenerate_help_prints_help_and_creates_no_folder(tmp_path: Path) -> None:
    # `python -m symprop.regenerate --help` once regenerated everything into a folder
    # named "--help".
    done = subprocess.run(
        [sys.executable, "-m", "symprop.regenerate", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0 and "usage: python -m symprop.regenerate" in done.stdout
    assert list(tmp_path.iterdir()) == []
