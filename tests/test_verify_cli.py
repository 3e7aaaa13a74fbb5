"""``symprop verify`` at the command line: the setting options, the claims file's setting under
them, exit codes from each verdict's status, one line per bad input, inputs read with the
size limit.

Where a verdict shows that an option took effect, the expected verdict is proven here with
SymPy written out; where the reader does not use a field yet, the test checks the Setting
the command builds carries it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sympy as sp
from click.testing import CliRunner

import symprop.verify as verify_package
from symprop.cli.main import cli
from symprop.core.spec import load_spec
from symprop.parsing import to_sympy
from symprop.verify import Setting, Verdict
from symprop.verify.declare import NOTATIONS, PENALTIES
from symprop.verify.notation import NUMBERING_TEXT

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "examples" / "xor.toml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SIGMOID_BCE = ("--activation", "sigmoid", "--loss", "binary_cross_entropy")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        cwd=cwd,
    )


def _one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ---------------------------------------------------------------- independent facts


def _delta_equals_a_minus_y(loss: sp.Expr) -> bool:
    """Whether ∂loss/∂z = a − y for a = σ(z), with the loss written out here."""
    z, t = sp.symbols("z t", real=True)
    a = 1 / (1 + sp.exp(-z))
    delta = sp.diff(loss.subs(sp.Symbol("a"), a).subs(sp.Symbol("y"), t), z)
    return sp.simplify(delta - (a - t)) == 0


def test_the_losses_used_below_are_what_the_tests_say() -> None:
    a, y = sp.symbols("a y")
    assert _delta_equals_a_minus_y(-(y * sp.log(a) + (1 - y) * sp.log(1 - a)))  # log loss
    assert not _delta_equals_a_minus_y((a - y) ** 2 / 2)  # squared error: a σ' factor


# ---------------------------------------------------------------- the file's setting


def test_a_claims_file_alone_states_its_setting(tmp_path: Path) -> None:
    # δ = a − y holds for sigmoid with log loss (proven above): the front matter is the
    # only place the setting is stated.
    path = tmp_path / "c.md"
    path.write_text(
        '---\nactivation = "sigmoid"\nloss = "binary_cross_entropy"\n---\n- $\\delta = a - y$\n'
    )
    proc = _run(str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("✓ \\delta = a - y")


def test_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    # The same file with --loss half_sse: δ = a − y is false there (proven above).
    path = tmp_path / "c.md"
    path.write_text(
        '---\nactivation = "sigmoid"\nloss = "binary_cross_entropy"\n---\n- $\\delta = a - y$\n'
    )
    proc = _run(str(path), "--loss", "half_sse")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("✗ \\delta = a - y")


def test_the_file_numbering_is_used_and_the_option_overrides_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'numbering = "input1"\nactivation = "sigmoid"\nloss = "binary_cross_entropy"\n'
        'claims = ["\\\\delta^L = a^L - y"]\n'
    )
    from_file = json.loads(_run(str(path), "--json").stdout)
    assert from_file["claims"][0]["numbering"] == NUMBERING_TEXT["input1"]
    overridden = json.loads(_run(str(path), "--json", "--numbering", "input0").stdout)
    assert overridden["claims"][0]["numbering"] == NUMBERING_TEXT["input0"]


class _Captured:
    """Stands in for ``verify_claims``: records the Setting the command built."""

    def __init__(self, status: str = "holds") -> None:
        self.setting: Setting | None = None
        self.status = status

    def __call__(self, texts: list[str], setting: Setting) -> list[Verdict]:
        self.setting = setting
        ok = self.status == "holds"
        other = Verdict(ok=not ok, claim="", lhs="", rhs="")
        ambiguous = (Verdict(ok=True, claim="", lhs="", rhs=""), other)
        return [
            Verdict(
                ok=ok,
                claim=t,
                lhs="",
                rhs="",
                ambiguous=ambiguous if self.status == "ambiguous" else (),
            )
            for t in texts
        ]


def _captured(monkeypatch: pytest.MonkeyPatch, *args: str, status: str = "holds"):  # noqa: ANN202
    captured = _Captured(status)
    monkeypatch.setattr(verify_package, "verify_claims", captured)
    result = CliRunner().invoke(cli, ["verify", *args])
    return captured.setting, result


def test_every_option_reaches_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    setting, result = _captured(
        monkeypatch,
        "--claim",
        "g = g",
        "--activation",
        "sigmoid",
        "--loss-formula",
        "\\frac{1}{2}(y - a)^2",
        "--l2",
        "0.25",
        "--penalty",
        "lambda/(2m)",
        "--notation",
        "ng",
        "--numbering",
        "ng",
        "--define",
        "g = \\|A v\\|^2",
        "--define",
        "let f(z) = z^2",
        "--value",
        "W=[[1, 2], [3, 0.5]]",
        "--value",
        "w = 1/3",
        "--function",
        "h",
    )
    assert result.exit_code == 0, result.output
    assert setting is not None
    assert (setting.activation, setting.loss, setting.l2) == ("sigmoid", None, 0.25)
    assert (setting.penalty, setting.notation, setting.numbering) == ("lambda/(2m)", "ng", "ng")
    a, y = sp.symbols("a y", real=True)
    half_sq = to_sympy(setting.loss_formula, names=lambda n: {"a": a, "y": y}.get(n.key))
    assert sp.expand(half_sq.doit() - (y - a) ** 2 / 2) == 0
    decl = setting.declared
    assert [d.name.key for d in decl.definitions] == ["g", "f"]
    assert decl.is_function("f") and decl.is_function("h")
    values = {v.name.key: (v.shape, [str(e) for e in v.entries]) for v in decl.values}
    assert values == {"W": ((2, 2), ["1", "2", "3", "1/2"]), "w": ((), ["1/3"])}


def test_l2_on_the_command_line_replaces_the_spec_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, --l2 with --spec was silently ignored: claims about J were checked without λ.
    setting, result = _captured(monkeypatch, "--spec", str(XOR), "--l2", "0.5", "--claim", "a=a")
    assert result.exit_code == 0, result.output
    assert setting is not None and setting.network is not None
    assert load_spec(XOR).l2 == 0.0 and setting.network.l2 == 0.5


def test_no_setting_at_all_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    setting, result = _captured(monkeypatch, "--claim", "\\sigma'(z) = \\sigma(z)(1-\\sigma(z))")
    assert result.exit_code == 0, result.output
    assert setting == Setting()


def test_a_network_claim_without_a_network_gets_one_clear_line() -> None:
    proc = _run("--claim", "\\delta^L = a^L - y")
    assert proc.returncode == 2
    assert "the setting declares none" in proc.stdout
    _one_error_line(proc, "1 of 1 claim could not be checked")


def test_the_option_lists_match_the_contract() -> None:
    # The command lists them itself (it imports no stage at start-up).
    from symprop.cli import verify as verify_cli

    assert verify_cli._NOTATIONS == NOTATIONS
    assert verify_cli._PENALTIES == tuple(PENALTIES)


# ---------------------------------------------------------------- exit codes by status


@pytest.mark.parametrize(("status", "code"), [("holds", 0), ("fails", 1), ("ambiguous", 1)])
def test_exit_codes_follow_the_verdict_status(
    monkeypatch: pytest.MonkeyPatch, status: str, code: int
) -> None:
    _, result = _captured(monkeypatch, "--claim", "x = x", status=status)
    assert result.exit_code == code, result.output


# ---------------------------------------------------------------- errors: said once


def test_a_bad_claims_error_is_in_the_report_once_and_stderr_has_one_summary() -> None:
    bad = "\\delta = \\frob(z)"
    proc = _run(*SIGMOID_BCE, "--claim", "\\delta = a - y", "--claim", bad)
    assert proc.returncode == 2
    report = proc.stdout.splitlines()
    assert report[0].startswith("✓ ")
    at = report.index(f"? {bad}")  # after the first verdict's lines (its reading, its method)
    reason = report[at + 1].strip()
    assert reason.startswith("error: ")
    # The reason is printed once, in the report; stderr counts, it does not repeat.
    assert (proc.stdout + proc.stderr).count(reason.removeprefix("error: ")) == 1
    _one_error_line(proc, "1 of 2 claims could not be checked")


def test_json_errors_stay_in_the_json() -> None:
    proc = _run(*SIGMOID_BCE, "--json", "--claim", "((")
    assert proc.returncode == 2
    (entry,) = json.loads(proc.stdout)["claims"]
    assert entry["ok"] is None and entry["error"]
    _one_error_line(proc, "1 of 1 claim could not be checked")


# ---------------------------------------------------------------- bad input: one line, exit 2


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--value", "x=[1,0", "--claim", "x = x"], ["--value.x: got '[1,0'"]),
        (["--value", "no equals", "--claim", "x = x"], ["--value: got 'no equals'", "x=[1,0]"]),
        (["--define", "g + 1 = x", "--claim", "x = x"], ["--define", "left side must be"]),
        (["--define", "g = g", "--claim", "x = x"], ["g is defined in terms of itself"]),
        (["--function", "f1", "--claim", "x = x"], ["--function: got 'f1'"]),
        (["--loss-formula", "w a", "--claim", "x = x"], ["--loss-formula", "'w' is not allowed"]),
        (["--l2", "-1", "--claim", "x = x"], ["--l2: got -1.0"]),
        (["--loss", "mse", "--loss-formula", "(a-y)^2", "--claim", "x=x"], ["--loss-formula"]),
        (["--spec", str(XOR), "--activation", "relu", "--claim", "x=x"], ["either --spec"]),
        (["--kind", "dropout", "--notation", "ng", "--claim", "x=x"], ["--kind", "no other"]),
        ([], ["no claims"]),
    ],
)
def test_bad_options_are_one_line(args: list[str], fragments: list[str]) -> None:
    _one_error_line(_run(*args), *fragments)


def test_kind_refuses_a_claims_file_setting(tmp_path: Path) -> None:
    path = tmp_path / "c.md"
    path.write_text('---\nnotation = "ng"\n---\n- $x = x$\n')
    _one_error_line(_run(str(path), "--kind", "dropout"), "--kind")


def test_a_yaml_front_matter_is_one_line_in_toml_terms(tmp_path: Path) -> None:
    path = tmp_path / "c.md"
    path.write_text("---\nnotation: ng\n---\n- $x = x$\n")
    _one_error_line(_run(str(path)), str(path), "front matter is TOML", 'notation = "ng"')


def test_an_unknown_front_matter_key_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "c.md"
    path.write_text('---\nlos = "mse"\n---\n- $x = x$\n')
    _one_error_line(_run(str(path)), "unknown key 'los'", "did you mean loss?")


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "folder"])
@pytest.mark.parametrize("role", ["claims file", "spec from the front matter", "--spec"])
def test_inputs_that_never_end_exit_2_at_once(tmp_path: Path, source: str, role: str) -> None:
    if source == "fifo":
        target = str(tmp_path / "pipe")
        os.mkfifo(target)
    elif source == "folder":
        target = str(tmp_path)
    else:
        target = source
    if role == "claims file":
        args = [target]
        what = "the claims file must be a regular file"
    elif role == "--spec":
        args = ["--spec", target, "--claim", "x = x"]
        what = "the spec file must be a regular file"
    else:
        claims = tmp_path / "c.md"
        claims.write_text(f'---\nspec = "{target}"\n---\n- $x = x$\n')
        args = [str(claims)]
        what = "the spec file must be a regular file"
    start = time.monotonic()
    proc = _run(*args)
    assert time.monotonic() - start < 60
    assert proc.stdout == ""
    _one_error_line(proc, target, what)


def test_a_relative_spec_is_found_from_any_working_folder(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    shutil.copy(XOR, tmp_path / "xor.toml")
    path = tmp_path / "notes" / "c.md"
    # On XOR (2-4-1, sigmoid, log loss) the output δ is a − y (proven above).
    path.write_text('---\nspec = "../xor.toml"\n---\n- $\\delta^L = a^L - y$\n')
    proc = _run(str(path), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
