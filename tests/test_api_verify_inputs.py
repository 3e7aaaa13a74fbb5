"""``symprop verify``'s inputs: claims files that never end, hostile TOML, echoed claims.

Every bad input is refused at once with one escaped, bounded line and exit code 2, in
bounded memory (the CLI runs in a child limited to 1 GiB of address space).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from test_spec_hostile import hostile_path

SINGLE = ("--activation", "sigmoid", "--loss", "binary_cross_entropy")


def _limit_memory() -> None:  # runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "verify", *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom", "fifo", "folder", "huge"])
def test_claims_files_that_never_end_exit_2_at_once(tmp_path: Path, source: str) -> None:
    path = hostile_path(tmp_path, source, "claims.md")
    proc = _verify(path, *SINGLE)
    assert proc.returncode == 2
    assert proc.stdout == ""
    expected = (
        "the claims file is larger than 4096 KiB"
        if source == "huge"
        else "the claims file must be a regular file"
    )
    assert proc.stderr == f"error: {path}: {expected}\n"


def test_a_claims_file_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "claims.md"
    path.write_bytes(b"delta = a - y\n\xff\xfe\n")
    proc = _verify(str(path), *SINGLE)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {path}: the claims file is not UTF-8 text (byte 14)\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("claims = " + "[" * 100_000 + "]" * 100_000, "arrays or tables nested too deeply"),
        ("claims = " + "[" * 1000 + "]" * 1000, "arrays or tables nested too deeply"),
        ("x = " + "9" * 5000, "a value out of range (an integer over 4300 digits?)"),
    ],
    ids=["nested-100000", "nested-1000", "5000-digits"],
)
def test_hostile_toml_claims_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(text, encoding="utf-8")
    proc = _verify(str(path), *SINGLE)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {path}: malformed TOML: {message}\n"


def test_an_unknown_toml_key_is_quoted_and_escaped(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text('"\\u001b[2J' + "k" * 10_000 + '" = 1\n', encoding="utf-8")
    proc = _verify(str(path), *SINGLE)
    assert proc.returncode == 2
    line = proc.stderr.rstrip("\n")
    # Bounded whatever the key: the path is the test's own, the allowed keys are listed.
    assert "\n" not in line and line.isprintable() and len(line) < 300 + len(str(path)), line
    assert line.startswith(f"error: {path}: unknown key '\\x1b[2Jkkk")


@pytest.mark.parametrize(
    "claim",
    ["delta = a - y \x1b[2J", "delta = a - y\r\x1b]0;title\x07", "d" * 3_000_000 + " = 1"],
    ids=["escape", "osc", "3-MB"],
)
def test_echoed_claims_are_escaped_and_bounded(tmp_path: Path, claim: str) -> None:
    path = tmp_path / "claims.toml"
    escaped = claim.replace("\x1b", "\\u001b").replace("\r", "\\r").replace("\x07", "\\u0007")
    path.write_text(f'claims = ["{escaped}"]\n', encoding="utf-8")
    proc = _verify(str(path), *SINGLE)
    assert proc.returncode == 2
    for line in (proc.stdout + proc.stderr).splitlines():
        assert line.isprintable() and len(line) < 400, repr(line[:100])
    assert "\x1b" not in proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_bad_claims_from_the_command_line_are_escaped(tmp_path: Path) -> None:
    proc = _verify("--claim", "\x1b[31mdelta = a - y", "--claim", "delta = a - y", *SINGLE)
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[0] == "? '\\x1b[31mdelta = a - y'"
    assert "\x1b" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "claim",
    ["q" * 1500 + " = a", "delta = " + "q" * 1500 + "(z)", "delta = " + "q" * 1500 + "'(z)"],
    ids=["name", "function", "primed-function"],
)
def test_names_in_verify_errors_are_bounded(claim: str) -> None:
    from symprop.verify import Setting, VerifyError, verify_claim

    setting = Setting.single_unit("sigmoid", "binary_cross_entropy")
    with pytest.raises(VerifyError) as info:
        verify_claim(claim, setting)
    assert "(1500 characters)" in str(info.value)
    assert len(str(info.value)) < 400
