"""Generated modules under hostile use: repeated calls, bad data, damaged files, bad arguments."""

from __future__ import annotations

import tracemalloc

import numpy as np
from test_numpy_support import ROOT

from symprop.emit_numpy import import_generated

GENERATED = ROOT / "generated"


def test_memory_kept_between_calls_is_bounded_by_the_network() -> None:
    # Cross-validation, learning curves: train on ever other row counts. What the module
    # keeps between calls must not grow with the number of row counts seen.
    m = import_generated(GENERATED / "digits.py", "digits_memory")
    rng = np.random.default_rng(0)
    X, labels = rng.random((3000, 64)), rng.integers(0, 10, 3000)
    settings = dict(epochs=1, learning_rate=0.05, batch_size=32, seed=0, optimizer="momentum")
    settings["momentum"] = 0.9
    tracemalloc.start()
    try:
        m.train(m.init_params(), X[:2000], labels[:2000], **settings)
        before = tracemalloc.get_traced_memory()[0]
        for n in range(2010, 2400, 13):  # 30 row counts, each with its own last batch size
            m.train(m.init_params(), X[:n], labels[:n], **settings)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    data = X[:2400].nbytes
    assert grown < data / 4, f"kept {grown / 2**20:.1f} MiB more after 30 calls"
    kept = [a.nbytes for arrays in m._SPARE.values() for a in arrays]
    kept += [a.nbytes for ws in m._SPARE_WORKSPACES.values() for a in ws.values()]
    assert len(m._SPARE_WORKSPACES) == 1 and sum(kept) < 8 * m._N_PARAMS * 8 + 2**20
