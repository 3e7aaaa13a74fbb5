"""User strings in generated modules: every one escaped, wrapped without loss, lint-clean."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_numpy_support import ROOT

from symprop import Dense, Network
from symprop.codegen.numpy.emit import render_module

RUFF = shutil.which("ruff")

# Characters that have broken docstrings: quotes, backslashes and escape letters, every
# kind of line break, NUL, other control characters, wide characters, lone surrogates.
AWKWARD = "\"'\\Nxu{} \t\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00\x7f\ud800\udc80漢\u2e3b"
STRINGS = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=300),
    st.text(st.sampled_from(AWKWARD), max_size=300),
    st.text(st.sampled_from(AWKWARD + "ab"), min_size=100, max_size=400),
)


def _network(title: str) -> Network:
    """A network whatever ``title`` is: set past the spec's checks, which may refuse some
    titles, as the generator must be safe with any string that reaches it."""
    net = Network(inputs=2, layers=[Dense(1, "sigmoid")], loss="binary_cross_entropy")
    object.__setattr__(net, "title", title)
    return net


def _import(source: str, tmp_path: Path, tag: str) -> object:
    path = tmp_path / f"m_{tag}.py"
    path.write_bytes(source.encode("utf-8"))  # raises if a surrogate reached the code
    spec = importlib.util.spec_from_file_location(f"m_{tag}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=STRINGS, label=STRINGS)
def test_any_title_and_spec_label_reach_the_docstring_exactly(
    title: str, label: str, tmp_path: Path
) -> None:
    source = render_module(_network(title), spec=label)
    module = _import(source, tmp_path, "prop")
    shown = title or "network"  # an empty title shows the name
    assert shown in module.__doc__ and label in module.__doc__
    # The docstring is the module's only text statement before the imports.
    tree = ast.parse(source)
    assert isinstance(tree.body[1], ast.ImportFrom) and tree.body[1].module == "__future__"
    assert all(len(line) <= 100 for line in source.splitlines())


def test_the_issues_injection_title_stays_text(tmp_path: Path) -> None:
    marker = tmp_path / "x"
    title = f'x"""\nimport os; os.system("touch {marker}")\n"""'
    lines = (ROOT / "examples" / "digits.toml").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "digits.toml"
    path.write_text(
        "\n".join(
            f"title = {_toml_string(title)}" if line.startswith("title") else line for line in lines
        ),
        encoding="utf-8",
    )
    out = tmp_path / "digits.py"
    done = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "generate", str(path), "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    source = out.read_text(encoding="utf-8")
    tree = ast.parse(source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    assert not any(node.attr == "system" for node in calls)
    module = _import(source, tmp_path, "digits")
    assert title in module.__doc__ and not marker.exists()


def _toml_string(text: str) -> str:
    """A TOML basic string holding ``text``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@pytest.mark.parametrize(
    "title",
    [
        "trailing backslash \\",
        "\\N{GREEK SMALL LETTER ALPHA} and \\x and \\u12",
        "NUL \x00 byte",
        '"""',
        '"',
        'ends with a quote"',
        "漢字" * 60,
        "\u2e3b" * 40 + " wide dashes",
        "word " * 40,
        "  leading, trailing and  double  spaces  ",
        "x" * 500,
    ],
)
@pytest.mark.skipif(RUFF is None, reason="ruff lints the generated modules")
def test_awkward_titles_give_lint_clean_modules(title: str, tmp_path: Path) -> None:
    source = render_module(_network(title), spec="examples/awkward.toml")
    path = tmp_path / "m_awkward.py"
    path.write_text(source, encoding="utf-8")
    lint = subprocess.run(
        [RUFF, "check", "--isolated", "--line-length", "100", "--select", "E,F,W,I,B,UP", path],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    assert title in _import(source, tmp_path, "awkward").__doc__


def test_a_huge_one_word_title_wraps_in_linear_time() -> None:
    # A 50-million-character one-word title took over 300 s to wrap (quadratic in its
    # length); its escaped, wrapped form reads back as the title (the module's own text
    # wraps at its spaces).
    code = (
        "import ast\n"
        "from symprop.codegen.numpy.docstrings import doc_paragraph\n"
        "for word in ('x' * 20_000_000, '\\x00\"' * 500_000, 'ab ' * 500_000):\n"
        "    text = doc_paragraph((word, True), ('. Generated', False))\n"
        '    doc = ast.literal_eval(\'"""\' + text + \'"""\')\n'
        "    assert doc.replace('\\n', ' ') == word + '. Generated'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr


def test_a_module_that_compiles_only_with_a_syntax_warning_is_refused(monkeypatch) -> None:
    # `c ** 2[:, None]` (a subscripted literal) passes ruff format and fails only when it
    # runs: generation refuses it, naming the line.
    import symprop.codegen.numpy.emit as emit

    formatted = emit._ruff_format
    monkeypatch.setattr(emit, "_ruff_format", lambda s: formatted(s) + "\nz = 3 ** 2[:, None]\n")
    with pytest.raises(RuntimeError, match=r"does not compile cleanly: line \d+: 'int' object"):
        render_module(Network(inputs=2, layers=[Dense(1, "sigmoid")], loss="mse"), spec="s")
