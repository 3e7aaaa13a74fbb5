"""A built wheel, installed outside the source tree, still finds the top-level templates; the
project's own sources pass its ruff settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_install_finds_templates(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        check=True,
        timeout=600,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("symprop-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    code = (
        "import symprop, symprop.core.templating as t;"
        "print(symprop.__file__);"
        "names = sorted(p.name for p in t.templates_dir().iterdir() if p.name.endswith('.j2'));"
        "print(','.join(names));"
        "print(str(t.templates_dir()));"
        "print(len(t.environment().get_template('numpy_module.py.j2').render.__doc__ or 'x') >= 0)"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    module_file, names, tdir, loaded = proc.stdout.strip().splitlines()
    assert module_file.startswith(str(target))
    assert str(target) in tdir and str(ROOT / "templates") not in tdir  # not the source tree
    assert {"numpy_module.py.j2", "derivation.tex.j2", "derivation.md.j2"} <= set(names.split(","))
    assert loaded == "True"


def test_project_sources_are_ruff_clean() -> None:
    """The package, tests, benchmarks and examples pass the project's own ruff settings
    (pyproject.toml): lint and format, so that CI catches what a local check skipped. Ruff is
    a core dependency (it formats the generated modules), so its absence fails here."""
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff, a core dependency, is not on PATH"
    paths = [str(ROOT / name) for name in ("symprop", "tests", "bench", "examples")]
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run([ruff, *command, *paths], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
