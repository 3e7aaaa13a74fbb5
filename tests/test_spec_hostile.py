"""Hostile specs: deep nesting, huge numbers, huge sizes, shadowing names, echoed keys.

Each gets one bounded, escaped error line naming the field (exit code 2 at the CLI), fast.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symprop import Dense, Network, SpecError, SymPropError, Training, load_spec
from symprop.core.spec import MAX_LAYERS, MAX_PARAMS, MAX_TITLE, MAX_WIDTH

GOOD = 'name = "t"\ninputs = 2\nloss = "mse"\n[[layers]]\nwidth = 3\nactivation = "elu"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _one_clean_line(message: str) -> None:
    assert "\n" not in message
    assert message.isprintable(), repr(message)
    assert len(message) < 500, len(message)


def _limit_memory() -> None:  # runs in the child: 1 GiB of address space
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )
    proc.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return proc


NESTED = {
    "array-1000": "x = " + "[" * 1000 + "]" * 1000,
    "array-100000": "x = " + "[" * 100_000 + "]" * 100_000,
    "inline-table-1000": "x = " + "{a = " * 1000 + "1" + "}" * 1000,
    "inline-table-100000": "x = " + "{a = " * 100_000 + "1" + "}" * 100_000,
}


@pytest.mark.parametrize("case", sorted(NESTED))
def test_deeply_nested_toml_is_one_line(tmp_path: Path, case: str) -> None:
    path = _write(tmp_path, NESTED[case] + "\n" + GOOD)
    started = time.monotonic()
    with pytest.raises(SymPropError) as info:
        load_spec(path)
    assert time.monotonic() - started < 5
    assert str(info.value) == f"{path}: malformed TOML: arrays or tables nested too deeply"


def test_deeply_nested_toml_at_the_cli_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, NESTED["array-100000"])
    proc = _cli("derive", str(path), "--no-check", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {path}: malformed TOML: arrays or tables nested too deeply\n"


def test_dotted_keys_1000_deep_name_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('name = "t"\n', ".".join(["a"] * 1000) + " = 1\n"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field == f"{path}: a"
    _one_clean_line(str(info.value))


def test_integer_over_4300_digits_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "inputs = " + "9" * 5000 + '\nloss = "mse"\n')
    with pytest.raises(SymPropError) as info:
        load_spec(path)
    assert "malformed TOML: a value out of range" in str(info.value)
    _one_clean_line(str(info.value))


BIG_INT = "9" * 400  # a TOML integer beyond float range


@pytest.mark.parametrize(
    "number",
    [BIG_INT, "1e400", "-1e400", "inf", "nan"],
    ids=["400-digits", "1e400", "-1e400", "inf", "nan"],
)
@pytest.mark.parametrize(
    ("where", "key", "field"),
    [
        ("", "l2", "l2"),
        ("layers", "alpha", "layers[0].alpha"),
        ("training", "learning_rate", "training.learning_rate"),
        ("training", "momentum", "training.momentum"),
    ],
)
def test_numbers_beyond_float_range_name_the_field(
    tmp_path: Path, number: str, where: str, key: str, field: str
) -> None:
    if where == "":
        text = f"{key} = {number}\n" + GOOD
    elif where == "layers":
        text = GOOD + f"{key} = {number}\n"
    else:
        text = GOOD + f"[training]\n{key} = {number}\n"
    with pytest.raises(SpecError) as info:
        load_spec(_write(tmp_path, text))
    assert info.value.field.endswith(f": {field}")
    _one_clean_line(str(info.value))


def test_huge_python_int_in_the_api_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"^l2: got an integer of 400 digits"):
        Network(inputs=2, layers=[Dense(1)], loss="mse", l2=10**399)


@pytest.mark.parametrize(
    "key",
    ["\u001b[2J\u001b[31m", "a\nb", "x" * 100_000, "\u009b31m", "é"],
    ids=["escape", "newline", "100000-chars", "c1-csi", "non-ascii"],
)
def test_unknown_keys_are_quoted_escaped_and_bounded(tmp_path: Path, key: str) -> None:
    escaped = "".join(c if c.isalnum() and c.isascii() else f"\\u{ord(c):04x}" for c in key)
    for text in (f'"{escaped}" = 1\n' + GOOD, GOOD + f'"{escaped}" = 1\n'):
        with pytest.raises(SpecError, match="unknown key") as info:
            load_spec(_write(tmp_path, text))
        _one_clean_line(str(info.value))


def test_a_huge_invalid_name_gives_a_short_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace('"t"', '"' + "x-" * 1_500_000 + '"'))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field.endswith(": name")
    _one_clean_line(str(info.value))


@pytest.mark.parametrize(
    "name", ["numpy", "symprop", "os", "json", "random", "typing", "__init__", "__main__"]
)
def test_names_that_shadow_an_imported_module_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="would shadow it") as info:
        Network(inputs=2, layers=[Dense(1)], loss="mse", name=name)
    assert info.value.field == "name"


def test_long_names_are_refused() -> None:
    with pytest.raises(SpecError, match="at most 100 characters"):
        Network(inputs=2, layers=[Dense(1)], loss="mse", name="n" * 101)


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"inputs": MAX_WIDTH + 1}, "inputs", f"<= {MAX_WIDTH:,}"),
        ({"layers": [Dense(10**6 + 1)]}, "layers[0].width", f"<= {MAX_WIDTH:,}"),
        ({"layers": [Dense(10**5000)]}, "layers[0].width", f"<= {MAX_WIDTH:,}"),
        (
            {"inputs": 1000, "layers": [Dense(10**6), Dense(1)]},
            "layers",
            "the network has 1,002,000,001 parameters; at most 50,000,000",
        ),
        ({"layers": [Dense(1)] * (MAX_LAYERS + 1)}, "layers", "at most 1000 layers"),
        ({"layers": [Dense(1)] * 10**6}, "layers", "got 'over 1000 layers'; at most 1000 layers"),
        ({"title": "t" * (MAX_TITLE + 1)}, "title", "at most 2000 characters"),
        ({"title": "t" * 50_000_000}, "title", "at most 2000 characters"),
    ],
)
def test_sizes_have_limits(kwargs: dict, field: str, fragment: str) -> None:
    args = {"inputs": 2, "layers": [Dense(1)], "loss": "mse"} | kwargs
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        Network(**args)
    assert time.monotonic() - started < 2
    assert info.value.field == field
    assert fragment in str(info.value)
    _one_clean_line(str(info.value))


def test_the_largest_allowed_network_is_accepted() -> None:
    net = Network(inputs=MAX_WIDTH, layers=[Dense(MAX_PARAMS // MAX_WIDTH - 1)], loss="mse")
    assert net.n_params <= MAX_PARAMS
    Network(inputs=2, layers=[Dense(1)] * MAX_LAYERS, loss="mse")


def test_a_width_of_a_million_fails_fast_at_the_cli_in_bounded_memory(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("width = 3", "width = 1000000\n[[layers]]\nwidth = 1000"))
    proc = _cli("generate", str(path), "-o", str(tmp_path / "out.py"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {path}: layers: got 'widths 2-1000000-1000'")
    assert "the network has 1,003,001,000 parameters" in proc.stderr
    assert not (tmp_path / "out.py").exists()


SOURCES = ["/dev/zero", "/dev/urandom", "fifo", "folder", "huge"]


def hostile_path(tmp_path: Path, source: str, name: str) -> str:
    """An input path that never ends or is no file: a device of SOURCES as it is, else a FIFO,
    a folder or a sparse 300 MB file made in ``tmp_path`` under ``name``."""
    path = str(tmp_path / name)
    if source == "fifo":
        os.mkfifo(path)
    elif source == "folder":
        path = str(tmp_path)
    elif source == "huge":
        with open(path, "wb") as stream:
            stream.truncate(300 * 1024 * 1024)  # sparse: 300 MB without writing them
    else:
        path = source
    return path


@pytest.mark.parametrize(
    ("command", "source"), [(c, s) for c in ("verify", "derive") for s in SOURCES]
)
def test_spec_inputs_that_never_end_exit_2_at_once(
    tmp_path: Path, source: str, command: str
) -> None:
    path = hostile_path(tmp_path, source, "spec.toml")
    if command == "derive":
        proc = _cli("derive", path, "--no-check", timeout=60)
    else:
        proc = _cli("verify", "--spec", path, "--claim", "delta = a - y", timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), proc.stderr
    assert "regular file" in lines[0] or "larger than 4096 KiB" in lines[0]


_FRAGMENTS = st.sampled_from(
    [
        "inputs = ",
        'loss = "mse"\n',
        "[[layers]]\n",
        "width = ",
        'activation = "elu"\n',
        "alpha = ",
        "[training]\n",
        "momentum = ",
        "l2 = ",
        "name = ",
        "title = ",
        "a.b.c = ",
        "[",
        "]",
        "{x = ",
        "}",
        "1e400",
        "-0",
        "9" * 400,
        "nan",
        '"\\u001b"',
        '"numpy"',
        "\n",
        "\x00",
        "\x9b",
        "= =",
    ]
)


@settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(_FRAGMENTS, max_size=30))
def test_any_spec_text_gives_a_network_or_one_clean_line(tmp_path: Path, parts: list[str]) -> None:
    path = tmp_path / "spec.toml"
    path.write_text("".join(parts), encoding="utf-8")
    try:
        load_spec(path)
    except SymPropError as exc:
        _one_clean_line(str(exc).removeprefix(str(path)))


@pytest.mark.parametrize("seed", [-1, 2**32, 2**64])
def test_training_seeds_are_those_symprop_train_takes(seed: int) -> None:
    # The spec took 2**64 while `symprop train --seed` stops at 2**32 - 1.
    with pytest.raises(SpecError, match=r"training\.seed: .*0 … 4294967295"):
        Training(seed=seed)
    assert Training(seed=2**32 - 1).seed == 2**32 - 1
