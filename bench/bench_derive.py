"""Derivation and proving cost versus width and depth: both are per layer, not per weight.

Run: ``python bench/bench_derive.py`` (``--quick`` prints only the layer-kind tables (d) and
(e); ``--pdf`` only table (f)). Prints

(a) the median time of ``derive()`` for a tanh network ending in a sigmoid/binary
    cross-entropy output at depth 3 for widths 4 to 512, with the ratio to width 4;
(b) the same at width 16 for depths 1 to 64;
(c) the time of ``derive()`` plus ``check()`` (what ``symprop derive`` runs) for tanh
    layers of widths 2–5 at depths 1 to 32;
(d) per layer kind, the time to derive and prove its rules (``derive_layer``: chain rule,
    every rewrite and matrix lift proven), each in a fresh process, after the imports;
(e) networks mixing dense, batch norm, layer norm, dropout and residual layers at depths
    1 to 16 and two widths: ``derive()`` time and ``derive()`` plus ``check()`` time, each
    with its ratio to a plain dense tanh network of the same depth and width measured in
    the same run;
(f) ``symprop derive SPEC --pdf`` of a 6-layer dense network (widths 8-16-16-16-16-16-4, mixed
    activations, softmax and cross-entropy), cold, in a fresh process, phase by phase
    (imports, reading the spec, ``derive()``, the check, printing the LaTeX, pdflatex), with
    the notebook display (``_repr_latex_`` then ``_repr_markdown_``) the first time and
    again.

Measured for ``symprop derive SPEC --pdf`` of a 6-layer network (not table (f)'s; widths
8-16-16-16-16-16-4, sigmoid/tanh/relu/sigmoid/tanh/softmax, cross-entropy, l2 = 1e-4),
cold, two runs of each version alternated on the shared 2-core machine at load average
3.1-3.2 (``/usr/bin/time``; user CPU includes pdflatex): before (e00f5ec) 17.67 and 14.75 s
wall, 16.48 and 13.87 s CPU; after (range of σ', tanh' on their proven output forms, each
vector-Jacobian rule checked once per process, the initialisation integrals once per
process) 13.70 and 11.53 s wall, 13.07 and 10.83 s CPU. Within the document, the bounds of
the derivatives went from 1.83 to 0.43 s CPU and the Jacobian checks of the worked example
from 1.63 to 0.84 s.

The per-activation and per-kind calculus is cached after first use, as in any session that
derives more than one network; the first (cold) derivation is reported separately. CPU
times are printed beside wall times where other work shares the machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from symprop import BatchNorm, Dense, Dropout, LayerNorm, Network, Residual, derive
from symprop.core.layers import LAYER_KINDS

ROOT = Path(__file__).resolve().parent.parent


def _net(width: int, depth: int) -> Network:
    layers = [Dense(width, "tanh") for _ in range(depth - 1)] + [Dense(1, "sigmoid")]
    return Network(inputs=width, layers=layers, loss="binary_cross_entropy", l2=1e-4)


def _proving_net(depth: int) -> Network:
    """Tanh layers of widths 2–5 cycling, the output included."""
    widths = [2 + (n % 4) for n in range(depth)]
    return Network(inputs=3, layers=[Dense(w, "tanh") for w in widths], loss="mse", l2=1e-4)


def _mixed_net(width: int, depth: int) -> Network:
    """``depth`` layers cycling dense → batch norm → layer norm → dropout → residual (the
    residual adds the cycle's dense output x to F(x), the dropout's output), then the
    sigmoid output layer in place of the last one."""
    layers = []
    last_dense = ""
    for k in range(depth - 1):
        step = k % 5
        if step == 0:
            last_dense = f"d{k}"
            layers.append(Dense(width, "tanh", name=last_dense))
        elif step == 1:
            layers.append(BatchNorm("identity"))
        elif step == 2:
            layers.append(LayerNorm("tanh"))
        elif step == 3:
            layers.append(Dropout(0.1))
        else:
            layers.append(Residual(last_dense, "tanh"))
    layers.append(Dense(1, "sigmoid"))
    return Network(inputs=width, layers=layers, loss="binary_cross_entropy", l2=1e-4)


def _dense_chain(width: int, depth: int) -> Network:
    """The plain network the mixed one is compared with: ``depth`` dense tanh layers of the
    same width, the same output and loss."""
    return _net(width, depth)


def _time(net: Network, repeat: int = 5, check: bool = False) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        d = derive(net)
        if check:
            d.check()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cpu_time(net: Network, repeat: int = 3) -> tuple[float, float]:
    """Median wall and CPU time of ``derive()``: CPU time is what the work costs when other
    processes share the cores, wall time what a user waits."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        derive(net)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _timed_check(net: Network) -> tuple[float, float, bool]:
    """Wall and CPU time of ``derive()`` plus ``check()``, and whether the check passed."""
    start, cpu = time.perf_counter(), time.process_time()
    report = derive(net).check()
    return time.perf_counter() - start, time.process_time() - cpu, report.ok


_KIND_PROBE = """
import json, sys, time
from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import get_layer_kind
kind = get_layer_kind(sys.argv[1])
start, cpu = time.perf_counter(), time.process_time()
rules = derive_layer(kind)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
proofs = rules.proofs
print(json.dumps({"wall": wall, "cpu": cpu, "proofs": len(proofs),
                  "entries": sum(p.entries for p in proofs),
                  "accepted": all(s.proof.accepted for g in (*rules.inputs, *rules.parameters)
                                  for s in g.steps)}))
"""


def _kind_in_fresh_process(name: str) -> dict[str, float]:
    """Derive and prove one kind's rules in a new interpreter; its timings after the imports."""
    out = subprocess.run(
        [sys.executable, "-c", _KIND_PROBE, name],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def kinds_table() -> None:
    """(d): each kind's derive + prove time in a fresh process."""
    print("| layer kind | derive + prove, s (wall) | CPU, s | proofs | entries compared |")
    print("| --- | --- | --- | --- | --- |")
    for name in LAYER_KINDS:
        r = _kind_in_fresh_process(name)
        flag = "" if r["accepted"] else " (a proof failed)"
        print(
            f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['proofs']} | {r['entries']}{flag} |"
        )


def mixed_tables(depths: tuple[int, ...], widths: tuple[int, ...]) -> None:
    """(e): mixed-kind networks against the plain dense network, derive and derive + check;
    ratios of CPU times."""
    print(
        "| depth | width | mixed derive, ms | CPU, ms | dense derive, ms | CPU, ms | ratio (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for depth in depths:
        for width in widths:
            m_wall, m_cpu = _cpu_time(_mixed_net(width, depth))
            d_wall, d_cpu = _cpu_time(_dense_chain(width, depth))
            print(
                f"| {depth} | {width} | {m_wall * 1e3:.0f} | {m_cpu * 1e3:.0f} "
                f"| {d_wall * 1e3:.0f} | {d_cpu * 1e3:.0f} | {m_cpu / d_cpu:.2f} |"
            )
    print(
        "\n| depth | width | mixed derive + check, s | CPU, s | check passed "
        "| dense derive + check, s | CPU, s | ratio (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for depth in depths:
        for width in widths:
            m_wall, m_cpu, ok = _timed_check(_mixed_net(width, depth))
            d_wall, d_cpu, _ = _timed_check(_dense_chain(width, depth))
            print(
                f"| {depth} | {width} | {m_wall:.2f} | {m_cpu:.2f} | {'yes' if ok else 'NO'} "
                f"| {d_wall:.2f} | {d_cpu:.2f} | {m_cpu / d_cpu:.2f} |"
            )


SIX_LAYERS = """
name = "six"
inputs = 8
loss = "cross_entropy"
l2 = 1e-4
""" + "".join(
    f'[[layers]]\nwidth = {w}\nactivation = "{a}"\n'
    for w, a in zip(
        (16, 16, 16, 16, 16, 4),
        ("relu", "tanh", "sigmoid", "elu", "leaky_relu", "softmax"),
        strict=True,
    )
)

_PDF_PROBE = """
import json, resource, sys, time
marks = [(time.perf_counter(), time.process_time())]
def lap(out, name):
    marks.append((time.perf_counter(), time.process_time()))
    (w0, c0), (w1, c1) = marks[-2], marks[-1]
    out[name] = [w1 - w0, c1 - c0]
out = {}
from symprop import derive, load_spec
from symprop.documents.emit import checked, to_latex, typeset
lap(out, "imports")
net = load_spec(sys.argv[1]); lap(out, "spec (validates the activations' ranges)")
d = derive(net); lap(out, "derive()")
cd = checked(d); lap(out, "check (%d claims)" % len(cd.report.results))
tex = to_latex(cd); lap(out, "LaTeX printed")
typeset(tex); lap(out, "pdflatex")
out["pdflatex"][1] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
d2 = derive(net); lap(out, "derive() again (warm)")
d2._repr_latex_(); d2._repr_markdown_(); lap(out, "notebook display, first")
d2._repr_latex_(); d2._repr_markdown_(); lap(out, "notebook display, again")
print(json.dumps(out))
"""


def pdf_table() -> None:
    """(f): a cold ``derive --pdf`` of the 6-layer network, phase by phase."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "six.toml"
        spec.write_text(SIX_LAYERS, "utf-8")
        out = subprocess.run(
            [sys.executable, "-c", _PDF_PROBE, str(spec)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    phases = json.loads(out.stdout.strip().splitlines()[-1])
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average (1, 5, 15 min) after the run: {load}\n")
    print("| derive --pdf, 6 layers (cold process) | wall, s | CPU, s |")
    print("| --- | --- | --- |")
    total = [0.0, 0.0]
    for name, (wall, cpu) in phases.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
        if "again" not in name and "notebook" not in name:
            total = [total[0] + wall, total[1] + cpu]
    print(f"| **derive --pdf in all** | {total[0]:.2f} | {total[1]:.2f} |\n")


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    if "--pdf" in sys.argv[1:]:
        pdf_table()
        return
    start = time.perf_counter()
    derive(_net(4, 3))
    print(
        f"cold first derivation (fills the calculus cache): {time.perf_counter() - start:.2f} s\n"
    )
    if not quick:
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
        print()
    kinds_table()
    start = time.perf_counter()
    derive(_mixed_net(4, 6))
    print(
        "\ncold first derivation of a network with every kind (derives and proves each "
        f"kind's rules): {time.perf_counter() - start:.2f} s"
    )
    # The first check of each network type fills the proof engine's caches (the local
    # rules' symbolic proofs); the tables time what every later check costs.
    start = time.perf_counter()
    for depth in (1, 2, 6):
        derive(_mixed_net(4, depth)).check()
    print(f"cold first checks (fill the proof caches): {time.perf_counter() - start:.2f} s\n")
    mixed_tables((1, 2, 4, 6, 8, 12, 16), (4, 32))
    print()
    pdf_table()


if __name__ == "__main__":
    main()
