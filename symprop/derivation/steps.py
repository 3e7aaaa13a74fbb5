"""The step types of a derivation: equation chains and the display classes inside them.

The derivation builder (:mod:`symprop.derivation.build`) makes :class:`Step` values; the
printers and the documents read them. This module imports neither, so every stage can
depend on it without a cycle. The display classes are SymPy expressions that only printers
interpret (``∂C/∂z``, a sum over the samples of a mini-batch…); justifications are
:class:`~symprop.core.why.Why` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from symprop.core.why import Why

__all__ = [
    "DerivationView",
    "FrobeniusSquared",
    "MatrixPartial",
    "Partial",
    "SampleOf",
    "SampleSum",
    "ScalarPartial",
    "Step",
    "dphi",
    "formula_numbers",
    "phi",
]


class ScalarPartial(sp.Expr):
    """Display-only ``∂num/∂den`` with a scalar denominator."""

    def __new__(cls, num: sp.Basic, den: sp.Basic) -> ScalarPartial:
        return super().__new__(cls, num, den)

    @property
    def num(self) -> sp.Basic:
        return self.args[0]

    @property
    def den(self) -> sp.Basic:
        return self.args[1]


class MatrixPartial(MatrixExpr):
    """Display-only ``∂num/∂den`` with a vector or matrix denominator (shape of ``den``)."""

    def __new__(cls, num: sp.Basic, den: MatrixExpr) -> MatrixPartial:
        return super().__new__(cls, num, den)

    @property
    def num(self) -> sp.Basic:
        return self.args[0]

    @property
    def den(self) -> sp.Basic:
        return self.args[1]

    @property
    def shape(self) -> tuple:
        return self.args[1].shape


def Partial(num: sp.Basic, den: sp.Basic) -> sp.Basic:  # noqa: N802 - reads like the math
    """``∂num/∂den`` for display: a matrix expression when ``den`` is one."""
    if isinstance(den, MatrixExpr):
        return MatrixPartial(num, den)
    return ScalarPartial(num, den)


class SampleSum(MatrixExpr):
    """Display-only ``Σ_{i=1}^{n} expr^{(i)}``: a matrix quantity summed over a mini-batch."""

    def __new__(cls, expr: MatrixExpr, index: sp.Symbol, count: sp.Symbol) -> SampleSum:
        return super().__new__(cls, expr, index, count)

    @property
    def shape(self) -> tuple:
        return self.args[0].shape


class SampleOf(sp.Expr):
    """Display-only ``expr^{(i)}``: a quantity for sample ``i`` of a mini-batch."""

    def __new__(cls, expr: sp.Basic, index: sp.Symbol) -> SampleOf:
        return super().__new__(cls, expr, index)


class FrobeniusSquared(sp.Expr):
    """Display-only ``‖W‖_F²`` (the sum of the squared entries)."""

    def __new__(cls, arg: sp.Basic) -> FrobeniusSquared:
        return super().__new__(cls, arg)


phi = sp.Function("phi")
dphi = sp.Function("dphi")


@dataclass(frozen=True)
class Step:
    """One equation chain of a derivation.

    Attributes
    ----------
    id
        Stable key (``"delta.output.index"``, ``"summary.grad_W.2"``…).
    section
        ``forward``, ``cost``, ``activation``, ``output_delta``, ``hidden_delta``,
        ``gradients``, ``batch``, ``update`` or ``summary``.
    lhs
        Left-hand side.
    chain
        ``((rhs, why), …)``: ``lhs = rhs₁`` by the first justification, then ``= rhs₂``
        by the second, and so on. Each justification is a :class:`~symprop.core.why.Why`
        (data, rendered by each printer).
    form
        ``index``, ``matrix`` or ``scalar``.
    layer
        The concrete layer (``1..L``) or ``None`` for a generic step.
    relation
        ``=``, ``:=`` (definition) or ``←`` (assignment, for the update rule).
    """

    id: str
    section: str
    lhs: sp.Basic
    chain: tuple[tuple[sp.Basic, Why], ...]
    form: str = "index"
    layer: int | None = None
    relation: str = "="

    def __post_init__(self) -> None:
        for _, reason in self.chain:
            if not isinstance(reason, Why):
                raise TypeError(f"step {self.id}: a justification must be a Why: {reason!r}")

    @property
    def rhs(self) -> sp.Basic:
        """The final right-hand side of the chain."""
        return self.chain[-1][0]


def formula_numbers(steps: tuple[Step, ...] | list[Step]) -> dict[str, int]:
    """The number of every formula: its place (from 1) in the derivation's order of steps.

    Documents print it as the equation's tag and generated code cites it in comments
    (``# (12)``), so a line of code and the formula it computes carry the same number. The
    numbers follow the order of ``Derivation.steps``, so a document lists its formulas in
    that order for the numbers to increase down the page.
    """
    return {step.id: n for n, step in enumerate(steps, start=1)}


class DerivationView(Protocol):
    """What printers and documents read of a derivation; ``Derivation`` is one.

    Typing against this view keeps the imports one way: the builder imports the printers
    and the documents (for notebook display), and they import only this module.
    """

    network: Any
    steps: tuple[Step, ...]
    layers: tuple[Any, ...]
    output_delta: Any
    assumptions: tuple[Why, ...]

    @property
    def canonical(self) -> bool:
        """True when the output δ cancelled to c (a − y)."""
        ...

    def step(self, step_id: str) -> Step:
        """The step with the given id."""
        ...

    def section(self, name: str) -> list[Step]:
        """All steps of one section, in order."""
        ...

    def check(self, *, points: int = 3, seed: int = 0, strict: bool = False) -> Any:
        """Prove the derivation against brute force (a report with ``ok`` and ``results``)."""
        ...
