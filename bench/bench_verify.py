"""Time of ``symprop verify`` on typical claims, from small networks to the examples' real
widths and an 8-layer network.

Run: ``python bench/bench_verify.py`` (``--quick``: xor and the 8-layer network only).
Prints one row per (network, claim): the verdict, how it was decided (symbolic, or numeric
at points), the wall time and the CPU time of the process (other work may share the
machine; the CPU time is this claim's own), and the peak resident memory of the process
after all claims. Claims are checked in a fresh ``Setting`` each, in one process, after the
imports: the first claim on a network includes its one-time costs (the symbolic model, or
the layer kinds' calculus).

Networks: ``examples/xor.toml`` (2-4-1, symbolic), ``examples/ng_classifier.toml`` (3-5-5-4,
Ng's notation, checked at points), ``examples/digits.toml`` (64-128-64-10, ReLU/softmax,
17 226 parameters, at points) and an 8-layer tanh network (16 units per layer, at points).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from symprop import Dense, Network
from symprop.core.spec import load_spec
from symprop.verify import Setting, VerifyError, verify_claim

ROOT = Path(__file__).resolve().parent.parent

CHAIN = r"\frac{\partial C}{\partial b^l} = \frac{\partial C}{\partial z^l} = \delta^l"
NIELSEN = [
    ("δ^L", r"\delta^L = a^L - y"),
    ("δ^l recurrence", r"\delta^l = ((W^{l+1})^T \delta^{l+1}) \odot \phi'(z^l)"),
    ("∂C/∂W^l", r"\frac{\partial C}{\partial W^l} = \delta^l (a^{l-1})^T"),
    ("chain ∂C/∂b^l", CHAIN),
    ("mutation: no φ'", r"\delta^l = (W^{l+1})^T \delta^{l+1}"),
]
TANH = [
    ("δ^L", r"\delta^L = (a^L - y) \odot \tanh'(z^L)"),
    ("δ^l recurrence", r"\delta^l = ((W^{l+1})^T \delta^{l+1}) \odot \tanh'(z^l)"),
    ("∂C/∂W^l", r"\frac{\partial C}{\partial W^l} = \delta^l (a^{l-1})^T"),
    ("chain ∂C/∂b^l", CHAIN),
    ("mutation: W for Wᵀ", r"\delta^l = (W^{l+1} \delta^{l+1}) \odot \tanh'(z^l)"),
]
NG = [
    ("δ^(4)", r"\delta^{(4)} = a^{(4)} - y"),
    (
        "δ^(l) recurrence",
        r"\delta^{(l)} = ((\Theta^{(l)})^T \delta^{(l+1)}) \odot a^{(l)} \odot (1 - a^{(l)})",
    ),
    (
        "∂J/∂Θ^(l)",
        r"\frac{\partial J}{\partial \Theta^{(l)}} = \delta^{(l+1)} (a^{(l)})^T"
        r" + 2 \lambda \Theta^{(l)}",
    ),
    (
        "chain ∂C/∂z^(3)",
        r"\frac{\partial C}{\partial z^{(3)}} = \delta^{(3)} = ((\Theta^{(3)})^T \delta^{(4)}) "
        r"\odot a^{(3)} \odot (1 - a^{(3)})",
    ),
    (
        "mutation: λ for 2λ",
        r"\frac{\partial J}{\partial \Theta^{(l)}} = \delta^{(l+1)} (a^{(l)})^T"
        r" + \lambda \Theta^{(l)}",
    ),
]


def _deep() -> Network:
    return Network(inputs=16, layers=[Dense(16, "tanh")] * 7 + [Dense(4, "tanh")], loss="half_sse")


def _row(name: str, label: str, claim: str, setting: Setting) -> str:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        verdict = verify_claim(claim, setting)
        result = ("✓" if verdict.ok else "✗") + f" {verdict.method or verdict.reason[:30]}"
    except VerifyError as exc:
        result = f"refused: {str(exc)[:60]}"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return f"| {name} | {label} | {result} | {wall:.2f} | {cpu:.2f} |"


def main() -> None:
    quick = "--quick" in sys.argv
    networks = [
        ("xor 2-4-1", Setting.from_spec(load_spec(ROOT / "examples" / "xor.toml")), NIELSEN),
        ("8 × tanh, 16 wide", Setting.from_spec(_deep()), TANH),
    ]
    if not quick:
        networks[1:1] = [
            (
                "ng_classifier 3-5-5-4",
                Setting.from_spec(load_spec(ROOT / "examples" / "ng_classifier.toml")),
                NG,
            ),
            (
                "digits 64-128-64-10",
                Setting.from_spec(load_spec(ROOT / "examples" / "digits.toml")),
                NIELSEN,
            ),
        ]
    print("| network | claim | verdict | wall s | CPU s |")
    print("|---|---|---|---|---|")
    for name, setting, claims in networks:
        for label, claim in claims:
            print(_row(name, label, claim, setting), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of the process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
