"""The generated modules' activation functions, printed from the registry."""

from __future__ import annotations

from dataclasses import dataclass

from symprop.codegen.numpy.printer import ArrayPrinter
from symprop.codegen.stable import stabilise
from symprop.core.registry import ACTIVATIONS
from symprop.printers.unicode import unicode

__all__ = ["ActivationCode", "activation_code"]


def _literal(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class ActivationCode:
    """One activation function of the generated module."""

    name: str
    params: tuple[tuple[str, str], ...]  # (parameter name, default literal)
    body: str
    doc: str
    writes_out: bool = False  # the body is one NumPy ufunc call, so it takes ``out=``
    across_units: bool = False  # a vector activation: takes ``axis``, the units' axis


def activation_code(name: str, printer: ArrayPrinter) -> ActivationCode:
    """The generated module's function for activation ``name``, printed by ``printer``."""
    act = ACTIVATIONS[name]
    printer.names = {"z": "z", **{p.name: p.name for p in act.parameters}}
    rows = printer.units_axis
    printer.units_axis = 1 if act.elementwise else "axis"
    stable = stabilise(act.definition)
    try:
        body = printer.doprint(stable)
    finally:
        printer.units_axis = rows
    doc = f"{act.unicode}(z) = {unicode(act.definition)}"
    doc += f": {act.description}." if act.description else "."
    params = tuple((p.name, _literal(p.default)) for p in act.parameters)
    writes_out = printer.ufunc_of(stable) is not None
    if writes_out:
        body = body[:-1] + ", out=out)"
    return ActivationCode(name, params, body, doc, writes_out, not act.elementwise)
