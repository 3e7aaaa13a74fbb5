"""The per-sample float code of small networks: one sample's forward and backward pass
unrolled over the units, on Python floats, printed from the backend-neutral model."""

from __future__ import annotations

from symprop.codegen.model import TrainingModel
from symprop.codegen.numpy.printer import ScalarPrinter

__all__ = ["UNROLL_MAX_PARAMS", "unrolled"]

UNROLL_MAX_PARAMS = 128
"""Networks with at most this many parameters also get per-sample code on Python floats."""


def unrolled(model: TrainingModel) -> tuple[tuple[str, ...], frozenset[str]]:
    """The body of ``_sample_gradient`` and the scalar helpers it calls.

    The forward pass prints each layer's φ, the backward pass its φ' and the output's δ^L
    and cost, all from ``model``: the dense algebra (z = W a + b, δ^l = (W^{l+1})ᵀ δ^{l+1}
    ⊙ φ'(z^l), ∂C/∂W^l = δ^l (a^{l−1})ᵀ) is written out per unit here and nowhere else.
    Empty for networks over :data:`UNROLL_MAX_PARAMS` parameters and for formulas with no
    float form (a row-wise softmax, a sum over a layer's units).
    """
    widths, L = model.widths, model.depth
    if model.n_params > UNROLL_MAX_PARAMS:
        return (), frozenset()
    printer = ScalarPrinter()
    try:
        lines = []
        start = 0
        for l in range(1, L + 1):
            for j in range(widths[l]):
                row = [f"w{l}_{j}_{k}" for k in range(widths[l - 1])] + [f"b{l}_{j}"]
                lines.append(f"{', '.join(row)} = theta[{start}:{start + len(row)}]")
                start += len(row)
        lines.append(f"[{', '.join(f'a0_{k}' for k in range(widths[0]))}] = x")
        lines.append(f"[{', '.join(f'y_{j}' for j in range(widths[L]))}] = y")
        for layer in model.layers:
            l = layer.index
            for j in range(widths[l]):
                terms = [f"w{l}_{j}_{k} * a{l - 1}_{k}" for k in range(widths[l - 1])]
                lines.append(f"z{l}_{j} = {' + '.join(terms)} + b{l}_{j}")
                printer.names = {"z": f"z{l}_{j}"}
                lines.append(f"a{l}_{j} = {printer.doprint(layer.phi)}")
        costs, deltas = [], []
        for j in range(widths[L]):
            printer.names = {"a": f"a{L}_{j}", "z": f"z{L}_{j}", "y": f"y_{j}"}
            costs.append(f"({printer.doprint(model.output.cost)})")
            deltas.append(f"delta{L}_{j} = {printer.doprint(model.output.delta)}")
        lines.append(f"cost = {' + '.join(costs)}")
        lines += deltas
        for layer in reversed(model.layers[:-1]):
            l = layer.index
            for j in range(widths[l]):
                back = " + ".join(
                    f"w{l + 1}_{k}_{j} * delta{l + 1}_{k}" for k in range(widths[l + 1])
                )
                if layer.dphi is None:
                    lines.append(f"delta{l}_{j} = {back}")
                else:
                    printer.names = {"a": f"a{l}_{j}", "z": f"z{l}_{j}"}
                    lines.append(f"delta{l}_{j} = ({back}) * ({printer.doprint(layer.dphi)})")
    except NotImplementedError:
        return (), frozenset()
    grads = [
        g
        for l in range(1, L + 1)
        for j in range(widths[l])
        for g in [f"delta{l}_{j} * a{l - 1}_{k}" for k in range(widths[l - 1])] + [f"delta{l}_{j}"]
    ]
    lines.append(f"return cost, [{', '.join(grads)}]")
    return tuple(lines), frozenset(printer.helpers_used)
