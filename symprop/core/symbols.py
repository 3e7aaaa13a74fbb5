"""The symbolic graph of a network: named quantities and their SymPy expressions.

Quantities (``z``, ``a``, ``W``, ``b``, ``δ``, the target ``y``, the costs ``C`` and ``J``)
are SymPy objects whose *role* and *layer* are recorded here, so that printers can render
them in any notation profile (``z^l_j``, ``h^{(l)}``, ``Θ^{(l)}`` …) while the derivation
itself stays in one internal convention:

* layers are numbered ``0..L``; layer 0 is the input, ``a^0 = x``;
* ``W^l`` (shape ``n_l × n_{l-1}``) and ``b^l`` map layer ``l-1`` to layer ``l`` — the same
  numbering as the generated code's ``W1 … WL``;
* a layer label is an integer (a concrete layer) or an expression in the generic ``l``/``L``.

Also here: :func:`instantiate`, a dense chain's small concrete copy with one explicit
scalar symbol per weight (a view of :func:`symprop.core.instance.build`), used by
:meth:`Derivation.check` for brute-force differentiation; :func:`apply_activation` is the
builder's, re-exported.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from symprop.core.instance import apply_activation, build
from symprop.core.registry import LOSSES
from symprop.core.registry import a as a_sym
from symprop.core.registry import y as y_sym

# Generic layer labels and unit indices.
l_sym = sp.Symbol("l", integer=True, positive=True)
L_sym = sp.Symbol("L", integer=True, positive=True)
j, k, i = sp.symbols("j k i", integer=True, positive=True)
n_batch = sp.Symbol("n", integer=True, positive=True)

ROLES = ("x", "y", "z", "a", "W", "b", "delta", "Delta", "C", "J", "lambda", "eta")

_QUANTITIES: dict[str, tuple[str, sp.Expr | None]] = {}


def _name(role: str, layer: sp.Expr | int | None) -> str:
    if layer is None:
        name = role
    else:
        name = f"{role}[{sp.sstr(sp.sympify(layer))}]"
    _QUANTITIES[name] = (role, None if layer is None else sp.sympify(layer))
    return name


def quantity(name: str) -> tuple[str, sp.Expr | None] | None:
    """``(role, layer)`` of a quantity created here, by its SymPy name; else ``None``."""
    return _QUANTITIES.get(name)


def width(layer: sp.Expr | int) -> sp.Symbol:
    """The symbolic width ``n_l`` of a layer."""
    return sp.Symbol(_name("n", layer), integer=True, positive=True)


def indexed(role: str, layer: sp.Expr | int | None = None) -> sp.IndexedBase:
    """The indexed quantity ``role^layer`` (``w^l``, ``a^{l-1}``, ``y``…)."""
    # No assumptions on the label: it must never equal the registry's real scalars a, y, z.
    return sp.IndexedBase(_name(role, layer))


def vector(
    role: str, layer: sp.Expr | int | None = None, size: sp.Expr | None = None
) -> sp.MatrixSymbol:
    """The column vector ``role^layer`` in matrix form."""
    if size is None:
        size = width(layer if layer is not None else L_sym)
    return sp.MatrixSymbol(_name(role, layer), size, 1)


def matrix(role: str, layer: sp.Expr | int) -> sp.MatrixSymbol:
    """The weight-shaped matrix ``role^layer`` (``n_l × n_{l-1}``)."""
    layer = sp.sympify(layer)
    return sp.MatrixSymbol(_name(role, layer), width(layer), width(layer - 1))


def array(role: str, layer: sp.Expr | int, rows: sp.Expr, cols: sp.Expr = 1) -> sp.MatrixSymbol:
    """The array ``role^layer`` of a layer kind in matrix form, with an explicit shape.

    A kind's parameter or named intermediate at layer ``l`` (``γ^l``, ``x̂^l``, the ``W^l``
    of a dense layer that reads a layer other than ``l − 1``): the role is the kind
    operand's name, so printers find its display in the kind's ``display`` table.
    """
    return sp.MatrixSymbol(_name(role, layer), rows, cols)


def scalar(role: str, layer: sp.Expr | int | None = None) -> sp.Symbol:
    """A scalar quantity: the costs ``C``, ``J``, λ, the learning rate η."""
    return sp.Symbol(_name(role, layer), real=True)


class Vectorized(MatrixExpr):
    """A scalar formula applied elementwise to vectors.

    ``Vectorized(a*(1 - a), {a: a^l})`` is ``a^l ⊙ (1 − a^l)``: printers render the scalar
    formula with each scalar symbol replaced by its vector (products become ⊙), and the
    NumPy printer emits it as broadcasting array arithmetic.
    """

    def __new__(
        cls, expr: sp.Expr, mapping: dict[sp.Symbol, MatrixExpr], shape: tuple
    ) -> Vectorized:
        pairs = sp.Tuple(
            *[sp.Tuple(s, v) for s, v in sorted(mapping.items(), key=lambda p: p[0].name)]
        )
        return super().__new__(cls, sp.sympify(expr), pairs, sp.Tuple(*shape))

    @property
    def expr(self) -> sp.Expr:
        return self.args[0]

    @property
    def mapping(self) -> dict[sp.Symbol, MatrixExpr]:
        return {s: v for s, v in self.args[1]}

    @property
    def shape(self) -> tuple:
        return tuple(self.args[2])

    def _entry(self, row: int, col: int, **kwargs: object) -> sp.Expr:
        return self.expr.subs({s: v[row, col] for s, v in self.mapping.items()})

    def instantiate(self, values: dict[sp.Symbol, sp.Matrix]) -> sp.Matrix:
        """Evaluate with explicit matrices for the vectors, elementwise."""
        mats = {s: values[v] for s, v in self.mapping.items()}
        rows, cols = next(iter(mats.values())).shape
        return sp.Matrix(
            rows, cols, lambda r, c: self.expr.subs({s: m[r, c] for s, m in mats.items()})
        )


class ElementwiseApplied(MatrixExpr):
    """``φ(z^l)`` or ``φ'(z^l)`` for a vector argument, kept by name for printing."""

    def __new__(cls, name: str, arg: MatrixExpr, derivative: int = 0) -> ElementwiseApplied:
        return super().__new__(cls, sp.Symbol(name), arg, sp.Integer(derivative))

    @property
    def activation(self) -> str:
        return self.args[0].name

    @property
    def argument(self) -> MatrixExpr:
        return self.args[1]

    @property
    def derivative(self) -> int:
        return int(self.args[2])

    @property
    def shape(self) -> tuple:
        return self.args[1].shape


@dataclass(frozen=True)
class Instance:
    """A concrete, small network with one scalar symbol per parameter and input.

    ``W[l]`` and ``b[l]`` (``l = 1..L``) are explicit matrices of symbols, ``x`` and ``y``
    explicit column vectors; ``z[l]`` and ``a[l]`` the forward expressions built from the
    registry definitions alone (``a[0] = x``); ``cost`` the per-sample loss and
    ``objective`` the cost plus the L2 term.
    """

    widths: tuple[int, ...]
    W: dict[int, sp.Matrix]
    b: dict[int, sp.Matrix]
    x: sp.Matrix
    y: sp.Matrix
    z: dict[int, sp.Matrix]
    a: dict[int, sp.Matrix]
    cost: sp.Expr
    objective: sp.Expr
    l2: sp.Expr

    def parameters(self) -> list[sp.Symbol]:
        """All weight and bias symbols, layer by layer."""
        out: list[sp.Symbol] = []
        for layer in sorted(self.W):
            out.extend(self.W[layer])
            out.extend(self.b[layer])
        return out


def instantiate_sample(network: object, sample: int = 1, at: dict | None = None) -> Instance:
    """:func:`instantiate` with input and target symbols of one batch sample (``x2_1``…)."""
    return instantiate(network, sample=sample, at=at)


def cost_from_layer(
    network: object, inst: Instance, layer: int, zeta: sp.Matrix, at: dict | None = None
) -> sp.Expr:
    """The per-sample cost as a function of fresh pre-activations ``zeta`` of ``layer``.

    Layers after ``layer`` reuse the instance's weights; differentiating this with
    ``sympy.diff`` is the brute-force ∂C/∂z^layer. ``at`` also gives values for ``zeta``.
    """

    spec = network.layers[layer - 1]
    act = apply_activation(spec.activation, spec.param_values(), zeta, at)
    for nxt in range(layer + 1, len(network.layers) + 1):
        spec = network.layers[nxt - 1]
        act = apply_activation(
            spec.activation, spec.param_values(), inst.W[nxt] * act + inst.b[nxt], at
        )
    loss = LOSSES[network.loss]
    return sp.Add(*[loss.term.subs({a_sym: act[r], y_sym: inst.y[r]}) for r in range(act.shape[0])])


def instantiate(
    network: object,
    widths: tuple[int, ...] | None = None,
    sample: int | None = None,
    at: dict | None = None,
    activations: bool = True,
) -> Instance:
    """Build the explicit symbolic network of a dense chain at ``widths`` (default: its own).

    Intended for small widths (2–3 units): every weight is its own symbol. The network is
    built by the one small-instance builder (:func:`symprop.core.instance.build`, one
    sample tagged ``sample``); this is its view as weight matrices and bias vectors.
    """

    built = build(
        network,
        1,
        widths=widths,
        at=at,
        tags=("" if sample is None else str(sample),),
        activations=activations,
    )
    depth = len(built.network.layers)  # type: ignore[attr-defined]
    return Instance(
        widths=built.network.widths,  # type: ignore[attr-defined]
        W={lay: built.parameters[("W", lay)] for lay in range(1, depth + 1)},
        b={lay: built.parameters[("b", lay)] for lay in range(1, depth + 1)},
        x=built.x[0],
        y=built.y[0],
        z={lay: built.z[lay][0] for lay in range(1, depth + 1)},
        a={lay: built.a[lay][0] for lay in range(0, depth + 1)},
        cost=built.costs[0],
        objective=built.objective,
        l2=built.l2,
    )
