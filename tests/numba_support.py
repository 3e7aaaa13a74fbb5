"""Shared by the compiled backend's tests: build each compiled module once per process.

Numba compiles a module's functions on first use (about a second per function on a loaded
machine), so each test module builds few networks and shares them through :func:`build`.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

from symprop.codegen.numba.emit import import_compiled, render_numba_module
from symprop.core.spec import Network

numba = pytest.importorskip("numba")

_BUILD = Path(tempfile.mkdtemp(prefix="symprop-numba-tests-"))


@functools.cache
def _build(network: Network, dtype: str) -> ModuleType:
    source = render_numba_module(network, spec="<tests>", dtype=dtype)
    tag = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = _BUILD / f"c_{tag}.py"
    path.write_text(source, encoding="utf-8")
    return import_compiled(path, f"c_{tag}")


def build(network: Network, dtype: str = "float64") -> ModuleType:
    """Generate, write and import the compiled module of ``network`` (cached per network;
    the numba cache lands beside it, in a temporary folder)."""
    return _build(network, dtype)
