"""The symbolic graph of a network: named quantities and their SymPy expressions.

Quantities (``z``, ``a``, ``W``, ``b``, ``δ``, the target ``y``, the costs ``C`` and ``J``)
are SymPy objects whose *role* and *layer* are recorded here, so that printers can render
them in any notation profile (``z^l_j``, ``h^{(l)}``, ``Θ^{(l)}`` …) while the derivation
itself stays in one internal convention:

* layers are numbered ``0..L``; layer 0 is the input, ``a^0 = x``;
* ``W^l`` (shape ``n_l × n_{l-1}``) and ``b^l`` map layer ``l-1`` to layer ``l`` — the same
  numbering as the generated code's ``W1 … WL``;
* a layer label is an integer (a concrete layer) or an expression in the generic ``l``/``L``.

Also here: :func:`instantiate`, which builds a small concrete copy of a network with one
explicit scalar symbol per weight, used by :meth:`Derivation.check` for brute-force
differentiation.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from symprop.core.registry import ACTIVATIONS, LOSSES, i_idx, n_units, z, z_vec
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


def _active_branch(definition: sp.Piecewise, value: sp.Expr) -> sp.Expr:
    """The branch of a piecewise definition that applies at the numeric ``value``."""

    for expr, cond in definition.args:
        if bool(cond.subs(z, value)):
            return expr
    raise ValueError("no branch applies")  # a Piecewise ending in (…, True) always has one


def apply_activation(
    name: str, params: dict[str, float], zvec: sp.Matrix, at: dict | None = None
) -> sp.Matrix:
    """The registry definition of ``name`` applied to an explicit column vector.

    With ``at`` (values of every symbol), a piecewise activation is replaced, unit by unit,
    by the branch active at that point: the same function on a neighbourhood of the point
    (away from the kinks), so derivatives there are unchanged, and ``sympy.diff`` need not
    carry piecewise conditions through the whole network.
    """

    act = ACTIVATIONS[name]
    definition = act.instantiate(params)
    if act.elementwise:
        if at is not None and isinstance(definition, sp.Piecewise):
            return sp.Matrix(
                [_active_branch(definition, sp.N(e.xreplace(at), 30)).subs(z, e) for e in zvec]
            )
        return zvec.applyfunc(lambda e: definition.subs(z, e))
    n = zvec.shape[0]
    out = []
    for row in range(n):
        comp = definition.subs({i_idx: row + 1, n_units: n}).doit()
        comp = comp.subs({z_vec[m + 1]: zvec[m] for m in range(n)})
        out.append(comp)
    return sp.Matrix(out)


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
    """Build the explicit symbolic network at ``widths`` (default: the network's own).

    Intended for small widths (2–3 units): every weight is its own symbol.
    """

    net = network if widths is None else network.with_widths(widths)  # type: ignore[attr-defined]
    widths = net.widths
    tag = "" if sample is None else str(sample)
    x = sp.Matrix([sp.Symbol(f"x{tag}_{r + 1}", real=True) for r in range(widths[0])])
    y = sp.Matrix([sp.Symbol(f"y{tag}_{r + 1}", real=True) for r in range(widths[-1])])
    W: dict[int, sp.Matrix] = {}
    b: dict[int, sp.Matrix] = {}
    zs: dict[int, sp.Matrix] = {}
    acts: dict[int, sp.Matrix] = {0: x}
    for layer, spec in enumerate(net.layers, start=1):
        rows, cols = widths[layer], widths[layer - 1]
        W[layer] = sp.Matrix(
            rows, cols, lambda r, c, layer=layer: sp.Symbol(f"w{layer}_{r + 1}{c + 1}", real=True)
        )
        b[layer] = sp.Matrix([sp.Symbol(f"b{layer}_{r + 1}", real=True) for r in range(rows)])
        zs[layer] = W[layer] * acts[layer - 1] + b[layer]
        # activations=False keeps the layers linear: enough to list the symbols, and it
        # spares building nested piecewise expressions that are never differentiated.
        acts[layer] = (
            apply_activation(spec.activation, spec.param_values(), zs[layer], at)
            if activations
            else zs[layer]
        )
    loss = LOSSES[net.loss]
    out = acts[len(net.layers)]
    cost = sp.Add(*[loss.term.subs({a_sym: out[r], y_sym: y[r]}) for r in range(widths[-1])])
    lam = sp.nsimplify(net.l2, rational=True)
    penalty = sp.Add(*[sp.Add(*[w**2 for w in W[layer]]) for layer in W])
    if net.regularize_biases:
        penalty += sp.Add(*[sp.Add(*[c**2 for c in b[layer]]) for layer in b])
    return Instance(
        widths=widths,
        W=W,
        b=b,
        x=x,
        y=y,
        z=zs,
        a=acts,
        cost=cost,
        objective=cost + lam * penalty,
        l2=lam,
    )
