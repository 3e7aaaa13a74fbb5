"""Derivation and proving cost versus width and depth: both are per layer, not per weight.

Run: ``python bench/bench_derive.py``. Prints the median time of ``derive()`` for a
tanh network ending in a sigmoid/binary-cross-entropy output, (a) at depth 3 for widths 4
to 512 and (b) at width 16 for depths 1 to 64, with the ratio to the smallest case; then
(c) the time of ``derive()`` plus ``check()`` (what ``symprop derive`` runs) for tanh
layers of widths 2–5 at depths 1 to 32. The per-activation calculus is cached after first
use, as in any session that derives more than one network; the first (cold) derivation is
reported separately.
"""

from __future__ import annotations

import statistics
import time

from symprop import Dense, Network, derive


def _net(width: int, depth: int) -> Network:
    layers = [Dense(width, "tanh") for _ in range(depth - 1)] + [Dense(1, "sigmoid")]
    return Network(inputs=width, layers=layers, loss="binary_cross_entropy", l2=1e-4)


def _proving_net(depth: int) -> Network:
    """Tanh layers of widths 2–5 cycling, the output included."""
    widths = [2 + (n % 4) for n in range(depth)]
    return Network(inputs=3, layers=[Dense(w, "tanh") for w in widths], loss="mse", l2=1e-4)


def _time(net: Network, repeat: int = 5, check: bool = False) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        d = derive(net)
        if check:
            d.check()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    start = time.perf_counter()
    derive(_net(4, 3))
    print(
        f"cold first derivation (fills the calculus cache): {time.perf_counter() - start:.2f} s\n"
    )
    print("| width (depth 3) | derive, ms | ratio to width 4 |")
    print("| --- | --- | --- |")
    base = _time(_net(4, 3))
    for width in (4, 16, 64, 256, 512):
        t = _time(_net(width, 3))
        print(f"| {width} | {t * 1e3:.1f} | {t / base:.2f} |")
    print("\n| depth (width 16) | derive, ms | ms per layer |")
    print("| --- | --- | --- |")
    for depth in (1, 2, 4, 8, 16, 32, 64):
        t = _time(_net(16, depth), repeat=3)
        print(f"| {depth} | {t * 1e3:.1f} | {t * 1e3 / depth:.2f} |")
    print("\n| depth (tanh, widths 2–5) | derive + check, s | s per layer |")
    print("| --- | --- | --- |")
    for depth in (1, 2, 3, 4, 6, 8, 12, 16, 32):
        t = _time(_proving_net(depth), repeat=1, check=True)
        print(f"| {depth} | {t:.2f} | {t / depth:.3f} |")


if __name__ == "__main__":
    main()
