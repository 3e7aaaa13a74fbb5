"""The training benchmark holds every tool to one core, JAX included.

XLA's CPU runtime runs a product on every core whatever its thread flags say; before the
benchmark pinned itself, JAX kept 1.8 cores of this 2-core machine busy while the other tools
ran on one, and the ratios compared unequal machines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import resource, sys, time
sys.path.insert(0, "bench")
import bench_train  # noqa: F401  (pins the process as the benchmark does)
import jax, jax.numpy as jnp, numpy as np
a = jnp.asarray(np.random.default_rng(0).random((256, 1024), dtype=np.float32))
f = jax.jit(lambda x: x @ x.T)
f(a).block_until_ready()
def busy():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start, cpu = time.perf_counter(), busy()
while time.perf_counter() - start < 1.5:
    f(a).block_until_ready()
print((busy() - cpu) / (time.perf_counter() - start))
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no affinity masks here")
def test_jax_runs_on_one_core_in_the_benchmark():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core only: nothing to bound")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    cores_busy = float(done.stdout.split()[-1])
    assert cores_busy < 1.2, f"JAX kept {cores_busy:.2f} cores busy"
