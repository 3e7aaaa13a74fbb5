"""Proving a derivation compositionally: local rules symbolically, the network numerically.

:func:`check_derivation` (what :meth:`Derivation.check` runs) proves the formulas of a
derivation in three parts, none of which builds the network as one nested expression:

1. each activation's preferred φ' form equals ``sympy.diff`` of its definition (symbolic);
2. the local rule of a dense layer — the δ passed back to its input through Wᵀ and the
   input's φ', and ∂C/∂W = δ aᵀ, ∂C/∂b = δ — holds on a generic 2-unit instance
   (symbolic, once per input activation). The cost is taken linear in the layer's output
   with symbolic coefficients δ: a chain-rule identity depends on the cost only through its
   gradient at the point, and those coefficients make that gradient arbitrary;
3. the composed network, at two units per layer and a batch of two, is evaluated layer by
   layer with mpmath (:mod:`symprop.core.proof`) at random rational points: every δ^l and
   ∂J/∂W^l, ∂J/∂b^l from the derivation's formulas is compared with the derivative of the
   whole batch objective by high-precision central differences of forward evaluations.

For small networks (depth ≤ :data:`REFERENCE_MAX_DEPTH`) the whole-network check of
earlier versions runs as well, as the reference: the batch cost as one SymPy expression,
differentiated by ``sympy.diff`` (:func:`reference_claims`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import mpmath
import sympy as sp

from symprop.core import proof
from symprop.core import symbols as g
from symprop.core.calculus import (
    ActivationDerivative,
    OutputDelta,
    expand_activations,
    proven_equal,
)
from symprop.core.errors import SymPropError, shown
from symprop.core.registry import ACTIVATIONS, LOSSES, a_vec, i_idx, j_idx, n_units, y_vec, z_vec
from symprop.core.registry import a as a_scalar
from symprop.core.registry import y as y_scalar
from symprop.core.registry import z as z_scalar
from symprop.core.spec import Network
from symprop.derivation import evaluate as ev
from symprop.derivation.graph_check import check_graph

MAX_CHECK_POINTS = 100
"""The most random points :meth:`Derivation.check` compares at."""
REFERENCE_MAX_DEPTH = 2
"""Up to this depth the whole-network ``sympy.diff`` reference also runs in a check."""
ROUTES = ("auto", "compositional", "reference")
"""How :func:`check_derivation` proves: ``auto`` is compositional plus, for small
networks, the reference."""
SMALL_WIDTH = 2
"""Units per layer of the checked copy: the smallest at which every index sum is nontrivial."""
BATCH = 2
"""Samples in the checked mini-batch."""


@dataclass(frozen=True)
class CheckReport:
    """The outcome of :meth:`Derivation.check`: one entry per verified claim."""

    ok: bool
    results: tuple[tuple[str, bool, str], ...]

    @property
    def failures(self) -> list[str]:
        """The steps that failed, with how they were checked."""
        return [f"{name} ({how})" for name, passed, how in self.results if not passed]

    def __str__(self) -> str:
        lines = [
            f"{'ok  ' if passed else 'FAIL'} {name}: {how}" for name, passed, how in self.results
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Parts:
    """What a check reads from a derivation."""

    network: Network
    layers: tuple
    output_delta: OutputDelta
    summary: dict[str, sp.Basic]


def _parts(d: object) -> _Parts:
    """The network, layer formulas, output δ and summary steps of ``d``, or one error line."""
    network = getattr(d, "network", None)
    layers = getattr(d, "layers", None)
    od = getattr(d, "output_delta", None)
    steps = getattr(d, "steps", None)
    if (
        not isinstance(steps, tuple)
        or not all(isinstance(getattr(st, "id", None), str) for st in steps)
        or not isinstance(network, Network)
        or not isinstance(layers, tuple)
        or len(layers) != network.depth
        or not all(isinstance(getattr(lf, "dphi", None), ActivationDerivative) for lf in layers)
        or not isinstance(od, OutputDelta)
    ):
        raise SymPropError(f"derivation: got {shown(d)}; must be what derive() returns")
    summary = {st.id: st.rhs for st in steps if st.id.startswith("summary.")}
    return _Parts(network, layers, od, summary)


def _bound(lf: object) -> dict[sp.Symbol, sp.Rational]:
    """The activation parameters of a layer formula, as exact numbers."""
    values = {
        p.symbol: sp.nsimplify(lf.params[p.name], rational=True)
        for p in ACTIVATIONS[lf.activation].parameters
    }
    # The symbols the layer's printed formulas use (α₃ where layers' slopes differ).
    return values | {shown: values[orig] for orig, shown in getattr(lf, "shown", ())}


# --- symbolic: φ' forms and the dense layer's local rule -----------------------------


def _activation_claims(parts: _Parts) -> list[proof.Agreement]:
    """(1) Each elementwise activation's preferred φ' form against ``sympy.diff``."""
    out: list[proof.Agreement] = []
    seen: set[str] = set()
    for lf in parts.layers:
        act = ACTIVATIONS[lf.activation]
        if lf.activation in seen or not act.elementwise:
            continue
        seen.add(lf.activation)
        out.append(_activation_claim(lf.activation, act.definition, lf.dphi.form))
    return out


@lru_cache(maxsize=256)
def _activation_claim(activation: str, definition: sp.Expr, form: sp.Expr) -> proof.Agreement:
    """The claim that ``form`` is φ' of ``activation`` (defined as ``definition``):
    network-independent, so proven once per process for each (definition, form)."""
    return proof.symbolic(
        f"φ' of {activation}",
        form.subs(a_scalar, definition),
        sp.diff(definition, z_scalar),
        "simplify(form − diff(definition)) = 0",
    )


def _local_rule_claims(parts: _Parts) -> list[proof.Agreement]:
    """(2) The dense local rule, once per distinct input (the network input or φ of a layer).

    On 2 inputs and 2 outputs: with C = Σ_j c_j z_j and z = W φ(u) + b, the rule claims
    ∂C/∂u = (Wᵀ c) ⊙ φ'(u) with φ' in the derivation's preferred form, ∂C/∂W = c φ(u)ᵀ and
    ∂C/∂b = c.
    """
    out: list[proof.Agreement] = []
    seen: set[str] = set()
    for lay in range(1, parts.network.depth + 1):
        prev = parts.layers[lay - 2] if lay > 1 else None
        if prev is None:
            name = "local rule of a dense layer on the input"
        else:
            params = ", ".join(f"{k} = {v}" for k, v in sorted(prev.params.items()))
            name = f"local rule of a dense layer after {prev.activation}" + (
                f" ({params})" if params else ""
            )
        if name in seen:
            continue
        seen.add(name)
        if prev is None:
            out.append(_local_rule_claim(name, None, (), None))
        else:
            bound = tuple(sorted(_bound(prev).items(), key=lambda kv: kv[0].name))
            definition = ACTIVATIONS[prev.activation].definition
            out.append(_local_rule_claim(name, definition, bound, prev.dphi.form))
    return out


@lru_cache(maxsize=256)
def _local_rule_claim(
    name: str,
    definition: sp.Expr | None,
    bound: tuple[tuple[sp.Symbol, sp.Rational], ...],
    dphi_form: sp.Expr | None,
) -> proof.Agreement:
    """The dense local rule after the activation ``definition`` (``None``: on the input)
    with its φ' form: network-independent, so proven once per process for each
    (definition, parameters, form)."""
    u = [sp.Symbol(f"u_{r}", real=True) for r in range(1, 3)]
    c = [sp.Symbol(f"c_{r}", real=True) for r in range(1, 3)]
    W = sp.Matrix(2, 2, lambda r, k: sp.Symbol(f"w_{r + 1}{k + 1}", real=True))
    b = sp.Matrix([sp.Symbol(f"b_{r}", real=True) for r in range(1, 3)])
    if definition is None or dphi_form is None:
        a_in = list(u)
        dphi = [sp.Integer(1)] * 2
    else:
        act = definition.subs(dict(bound))
        a_in = [act.subs(z_scalar, uu) for uu in u]
        form = dphi_form.subs(dict(bound))
        dphi = [
            form.subs({a_scalar: ai, z_scalar: uu}, simultaneous=True)
            for ai, uu in zip(a_in, u, strict=True)
        ]
    zout = W * sp.Matrix(a_in) + b
    cost = sum((c[r] * zout[r] for r in range(2)), sp.Integer(0))
    back = W.T * sp.Matrix(c)
    pairs = [(sp.diff(cost, u[k]), back[k] * dphi[k]) for k in range(2)]
    pairs += [(sp.diff(cost, W[r, k]), c[r] * a_in[k]) for r in range(2) for k in range(2)]
    pairs += [(sp.diff(cost, b[r]), c[r]) for r in range(2)]
    passed = all(proven_equal(lhs, rhs) for lhs, rhs in pairs)
    return proof.Agreement(
        name=name,
        passed=passed,
        max_relative_difference=0.0 if passed else float("inf"),
        how="symbolic on 2 units: diff of C = cᵀ(W φ(u) + b) against (Wᵀc) ⊙ φ'(u), c φ(u)ᵀ and c",
    )


# --- numeric: the composed network, layer by layer -----------------------------------


def _elementwise(definition: sp.Expr) -> Callable[[list], list]:
    """φ applied unit by unit (piecewise: the branch whose condition holds)."""
    fn = sp.lambdify([z_scalar], expand_activations(definition), modules="mpmath")
    return lambda zs: [fn(v) for v in zs]


def _vector(definition: sp.Expr, n: int) -> Callable[[list], list]:
    """A vector activation (softmax) at ``n`` units."""
    zs = [sp.Symbol(f"z_{m}", real=True) for m in range(1, n + 1)]
    comps = []
    for row in range(n):
        comp = definition.subs({i_idx: row + 1, n_units: n}).doit()
        comps.append(comp.subs({z_vec[m + 1]: zs[m] for m in range(n)}))
    fn = proof.compile_exprs(comps, zs)
    return lambda values: fn(*values)


def _branch_finder(definition: sp.Expr) -> Callable[[object], int] | None:
    """For a piecewise φ: the index of the branch that applies at a value."""
    if not isinstance(definition, sp.Piecewise):
        return None
    conds = [sp.lambdify([z_scalar], cond, modules="mpmath") for _, cond in definition.args]

    def branch(value: object) -> int:
        return next(n for n, cond in enumerate(conds) if bool(cond(value)))

    return branch


def _names(L: int) -> dict[str, object]:
    """The symbols of the small copy, named as :func:`symprop.core.symbols.instantiate` does."""
    n = SMALL_WIDTH

    def s(name: str) -> sp.Symbol:
        return sp.Symbol(name, real=True)

    return {
        "W": {
            lay: [[s(f"w{lay}_{r + 1}{c + 1}") for c in range(n)] for r in range(n)]
            for lay in range(1, L + 1)
        },
        "b": {lay: [s(f"b{lay}_{r + 1}") for r in range(n)] for lay in range(1, L + 1)},
        "x": {smp: [s(f"x{smp}_{r + 1}") for r in range(n)] for smp in range(1, BATCH + 1)},
        "y": {smp: [s(f"y{smp}_{r + 1}") for r in range(n)] for smp in range(1, BATCH + 1)},
    }


class _SmallNetwork:
    """The network at two units per layer, evaluated with mpmath from the registry alone."""

    def __init__(self, parts: _Parts) -> None:
        net = parts.network
        self.L = net.depth
        self.l2 = proof.to_real(sp.nsimplify(net.l2, rational=True))
        self.regularize_biases = net.regularize_biases
        self.names = _names(self.L)
        self.phi: dict[int, Callable[[list], list]] = {}
        self.branch: dict[int, Callable[[object], int] | None] = {}
        for lay, lf in enumerate(parts.layers, start=1):
            act = ACTIVATIONS[lf.activation]
            definition = act.instantiate(lf.params)
            if act.elementwise:
                self.phi[lay] = _elementwise(definition)
                self.branch[lay] = _branch_finder(definition)
            else:
                self.phi[lay] = _vector(definition, SMALL_WIDTH)
                self.branch[lay] = None
        loss = proof.compile_exprs([LOSSES[net.loss].term], [a_scalar, y_scalar])
        self.loss = lambda av, yv: sum((loss(p, q)[0] for p, q in zip(av, yv, strict=True)), 0)
        # The derivation's formulas under test: δ^L per unit and each hidden layer's φ'.
        n = SMALL_WIDTH
        syms_a = [sp.Symbol(f"a_{m}", real=True) for m in range(1, n + 1)]
        syms_y = [sp.Symbol(f"y_{m}", real=True) for m in range(1, n + 1)]
        syms_z = [sp.Symbol(f"z_{m}", real=True) for m in range(1, n + 1)]
        rows = []
        for r in range(n):
            e = parts.output_delta.expr.subs(_bound(parts.layers[-1]))
            e = e.subs({j_idx: r + 1, n_units: n}).doit()
            rows.append(
                e.xreplace(
                    {a_vec[m + 1]: syms_a[m] for m in range(n)}
                    | {y_vec[m + 1]: syms_y[m] for m in range(n)}
                    | {z_vec[m + 1]: syms_z[m] for m in range(n)}
                )
            )
        self.output_delta = proof.compile_exprs(rows, syms_a + syms_y + syms_z)
        self.summary = parts.summary
        self.bound = {lay: _bound(lf) for lay, lf in enumerate(parts.layers, start=1)}
        self.dphi = {
            lay: proof.compile_exprs([lf.dphi.form.subs(_bound(lf))], [a_scalar, z_scalar])
            for lay, lf in enumerate(parts.layers, start=1)
        }

    # The forward pass: a^0 = x, z^l = W^l a^{l-1} + b^l, a^l = φ_l(z^l), C = Σ_k ℓ(a^L_k, y_k).

    def values(self, pt: dict) -> tuple[dict, dict, dict, dict]:
        """W, b, x, y at a point, as mpmath numbers."""
        nm = self.names
        W = {lay: [[proof.to_real(pt[s]) for s in row] for row in m] for lay, m in nm["W"].items()}
        b = {lay: [proof.to_real(pt[s]) for s in v] for lay, v in nm["b"].items()}
        x = {smp: [proof.to_real(pt[s]) for s in v] for smp, v in nm["x"].items()}
        y = {smp: [proof.to_real(pt[s]) for s in v] for smp, v in nm["y"].items()}
        return W, b, x, y

    @staticmethod
    def affine(W: list, b: list, a: list) -> list:
        return [mpmath.fdot(row, a) + c for row, c in zip(W, b, strict=True)]

    def forward(self, W: dict, b: dict, x: list) -> tuple[dict, dict]:
        """z^l and a^l (a^0 = x) of one sample."""
        zs: dict[int, list] = {}
        acts: dict[int, list] = {0: x}
        for lay in range(1, self.L + 1):
            zs[lay] = self.affine(W[lay], b[lay], acts[lay - 1])
            acts[lay] = self.phi[lay](zs[lay])
        return zs, acts

    def cost_from(self, W: dict, b: dict, lay: int, zeta: list, y: list) -> object:
        """The per-sample cost from pre-activations ``zeta`` of layer ``lay`` on."""
        act = self.phi[lay](zeta)
        for nxt in range(lay + 1, self.L + 1):
            act = self.phi[nxt](self.affine(W[nxt], b[nxt], act))
        return self.loss(act, y)

    def penalty(self, W: dict, b: dict) -> object:
        total = sum((w * w for lay in W for row in W[lay] for w in row), 0)
        if self.regularize_biases:
            total += sum((c * c for lay in b for c in b[lay]), 0)
        return self.l2 * total

    def near_kink(self, pt: dict) -> bool:
        """True when a piecewise unit's pre-activation is within 1e-20 of a branch change."""
        with proof.working_precision():
            W, b, x, _ = self.values(pt)
            for smp in x:
                zs, _ = self.forward(W, b, x[smp])
                for lay, find in self.branch.items():
                    if find is not None and any(
                        find(v - proof.KINK_MARGIN) != find(v + proof.KINK_MARGIN) for v in zs[lay]
                    ):
                        return True
        return False

    # The two sides of each claim at one point.

    def composed(self, pt: dict) -> dict[str, list]:
        """Every δ^l (sample 1) and parameter gradient from the derivation's formulas.

        Each claim's values are those of the layer formulas (the output δ and φ' forms the
        code generator reads, composed through Wᵀ) followed by those of the printed summary
        step (its matrix-form right-hand side, evaluated as written).
        """
        W, b, x, y = self.values(pt)
        n, L = SMALL_WIDTH, self.L
        deltas: dict[int, dict[int, list]] = {}
        acts_of: dict[int, dict[int, list]] = {}
        zs_of: dict[int, dict[int, list]] = {}
        for smp in x:
            zs, acts = self.forward(W, b, x[smp])
            acts_of[smp], zs_of[smp] = acts, zs
            dl = {L: self.output_delta(*acts[L], *y[smp], *zs[L])}
            for lay in range(L - 1, 0, -1):
                back = [
                    sum((W[lay + 1][r][k] * dl[lay + 1][r] for r in range(n)), 0) for k in range(n)
                ]
                dl[lay] = [back[k] * self.dphi[lay](acts[lay][k], zs[lay][k])[0] for k in range(n)]
            deltas[smp] = dl
        out: dict[str, list] = {}
        for lay in range(L, 0, -1):
            out[_delta_name(lay, L)] = list(deltas[1][lay])
        for lay in range(1, L + 1):
            gw = [
                sum((deltas[s][lay][r] * acts_of[s][lay - 1][c] for s in x), 0) / BATCH
                + 2 * self.l2 * W[lay][r][c]
                for r in range(n)
                for c in range(n)
            ]
            gb = [
                sum((deltas[s][lay][r] for s in x), 0) / BATCH
                + (2 * self.l2 * b[lay][r] if self.regularize_biases else 0)
                for r in range(n)
            ]
            out[_grad_name("W", lay)] = gw
            out[_grad_name("b", lay)] = gb
        printed = self.printed(W, b, x, y, acts_of, zs_of)
        return {name: values + printed[name] for name, values in out.items()}

    def printed(
        self, W: dict, b: dict, x: dict, y: dict, acts_of: dict, zs_of: dict
    ) -> dict[str, list]:
        """The summary steps evaluated as printed; a step that cannot be read gives NaN."""

        def col(v: list) -> mpmath.matrix:
            return mpmath.matrix([[e] for e in v])

        values = ev.Values(
            shared={("W", lay): mpmath.matrix(W[lay]) for lay in W}
            | {("b", lay): col(b[lay]) for lay in b},
            samples=tuple(
                {("x", None): col(x[smp]), ("y", None): col(y[smp])}
                | {("a", lay): col(acts_of[smp][lay]) for lay in acts_of[smp]}
                | {("z", lay): col(zs_of[smp][lay]) for lay in zs_of[smp]}
                for smp in sorted(x)
            ),
            scalars={"lambda": self.l2},
        )

        def flat(step_id: str, sample: int | None, size: int, lay: int) -> list:
            try:
                m = ev.evaluate(self.summary[step_id], values, sample, self.bound[lay])
                return [m[r, c] for r in range(m.rows) for c in range(m.cols)]
            except (KeyError, ev.UnreadableFormulaError):
                return [mpmath.nan] * size

        n, L = SMALL_WIDTH, self.L
        out: dict[str, list] = {}
        for lay in range(L, 0, -1):
            for s, smp in enumerate(values.samples):
                smp[("delta", lay)] = col(flat(f"summary.delta.{lay}", s, n, lay))
            out[_delta_name(lay, L)] = [values.samples[0][("delta", lay)][r] for r in range(n)]
        for lay in range(1, L + 1):
            out[_grad_name("W", lay)] = flat(f"summary.grad_W.{lay}", None, n * n, lay)
            out[_grad_name("b", lay)] = flat(f"summary.grad_b.{lay}", None, n, lay)
        return out

    def reference(self, pt: dict) -> dict[str, list]:
        """The same quantities by central differences of forward evaluations.

        δ^l is ∂C/∂z^l of sample 1 (the cost from fresh pre-activations of layer l); the
        parameter gradients differentiate the whole objective: the mean cost of the batch
        plus the L2 term. A perturbed W^l or b^l re-runs only the layers from l on.
        """
        W, b, x, y = self.values(pt)
        n, L = SMALL_WIDTH, self.L
        runs = {smp: self.forward(W, b, x[smp]) for smp in x}
        out: dict[str, list] = {}
        zs1 = runs[1][0]
        for lay in range(L, 0, -1):

            def c_of(v: list, lay: int = lay, r: int = 0) -> object:
                zeta = list(zs1[lay])
                zeta[r] = v[0]
                return self.cost_from(W, b, lay, zeta, y[1])

            out[_delta_name(lay, L)] = [
                proof.central_difference(lambda v, r=r, lay=lay: c_of(v, lay, r), [zs1[lay][r]], 0)
                for r in range(n)
            ]
        base_penalty = self.penalty(W, b)
        for lay in range(1, L + 1):

            def objective(Wl: list, bl: list, lay: int = lay) -> object:
                Wp, bp = dict(W), dict(b)
                Wp[lay], bp[lay] = Wl, bl
                total = 0
                for smp in x:
                    zeta = self.affine(Wl, bl, runs[smp][1][lay - 1])
                    total += self.cost_from(Wp, bp, lay, zeta, y[smp])
                pen = base_penalty + self.l2 * sum(
                    (
                        w * w - w0 * w0
                        for row, row0 in zip(Wl, W[lay], strict=True)
                        for w, w0 in zip(row, row0, strict=True)
                    ),
                    0,
                )
                if self.regularize_biases:
                    pen += self.l2 * sum(
                        (c * c - c0 * c0 for c, c0 in zip(bl, b[lay], strict=True)), 0
                    )
                return total / BATCH + pen

            def by_w(v: list, r: int, c: int, lay: int = lay, objective=objective) -> object:
                Wl = [list(row) for row in W[lay]]
                Wl[r][c] = v[0]
                return objective(Wl, b[lay])

            def by_b(v: list, r: int, lay: int = lay, objective=objective) -> object:
                bl = list(b[lay])
                bl[r] = v[0]
                return objective(W[lay], bl)

            out[_grad_name("W", lay)] = [
                proof.central_difference(lambda v, r=r, c=c: by_w(v, r, c), [W[lay][r][c]], 0)
                for r in range(n)
                for c in range(n)
            ]
            out[_grad_name("b", lay)] = [
                proof.central_difference(lambda v, r=r: by_b(v, r), [b[lay][r]], 0)
                for r in range(n)
            ]
        return out


def _delta_name(lay: int, L: int) -> str:
    return f"δ^{lay} ({'output layer' if lay == L else 'hidden recurrence'})"


def _grad_name(label: str, lay: int) -> str:
    return f"∂J/∂{label}^{lay} (batch of 2, L2)"


def compositional_claims(model: _SmallNetwork, pts: list[dict]) -> list[proof.Agreement]:
    """(3) Every δ^l and parameter gradient of the composed network, at each point."""
    claimed: dict[str, list] = {}
    reference: dict[str, list] = {}
    with proof.working_precision():
        for pt in pts:
            for name, values in model.composed(pt).items():
                claimed.setdefault(name, []).append(values)
            # The claimed values are the layer formulas' then the printed step's: both
            # against the same reference.
            for name, values in model.reference(pt).items():
                reference.setdefault(name, []).append(values + values)
    how = (
        "layer formulas and printed summary step, evaluated layer by layer at "
        f"{proof.WORKING_DIGITS} digits, against central differences of the batch objective"
    )
    return [proof.compare(name, claimed[name], reference[name], how) for name in claimed]


# --- the reference: the whole batch cost as one SymPy expression, sympy.diff ---------


def _pick_branches(expr: sp.Expr, numeric: dict) -> sp.Expr:
    """Replace each Piecewise by the branch its conditions select at the numeric values.

    At a point away from the kinks this is the same function on a neighbourhood, and it
    spares SymPy from deciding conditions on large symbolic pre-activations.
    """

    def pick(pw: sp.Piecewise) -> sp.Expr:
        for branch, cond in pw.args:
            if bool(cond.xreplace(numeric)):
                return branch
        raise ValueError("no branch applies")

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), pick)


def _reference_pairs(
    parts: _Parts, small: Network, insts: list[g.Instance], at: dict | None
) -> list[tuple[str, list[sp.Expr], list[sp.Expr]]]:
    """Pairs (composed formula, ``sympy.diff`` of the whole cost) for every δ and gradient."""
    L = small.depth
    widths = small.widths
    inst = insts[0]

    def bind(expr: sp.Expr, lay: int, row: int, it: g.Instance) -> sp.Expr:
        expr = expr.subs(_bound(parts.layers[lay - 1]))
        if at is not None:
            expr = _pick_branches(expr, {z_scalar: sp.N(it.z[lay][row].xreplace(at), 30)})
        bound = expr.subs({a_scalar: it.a[lay][row], z_scalar: it.z[lay][row]}, simultaneous=True)
        return expand_activations(bound)

    def composed_deltas(it: g.Instance) -> dict[int, sp.Matrix]:
        n = widths[-1]
        rows = []
        for r in range(n):
            e = parts.output_delta.expr.subs(_bound(parts.layers[-1]))
            e = e.subs({j_idx: r + 1, n_units: n}).doit()
            if at is not None:
                numeric = {z_vec[m + 1]: sp.N(it.z[L][m].xreplace(at), 30) for m in range(n)}
                e = _pick_branches(e, numeric)
            e = e.xreplace(
                {a_vec[m + 1]: it.a[L][m] for m in range(n)}
                | {y_vec[m + 1]: it.y[m] for m in range(n)}
                | {z_vec[m + 1]: it.z[L][m] for m in range(n)}
            )
            rows.append(expand_activations(e))
        deltas = {L: sp.Matrix(rows)}
        for lay in range(L - 1, 0, -1):
            back = it.W[lay + 1].T * deltas[lay + 1]
            form = parts.layers[lay - 1].dphi.form
            deltas[lay] = sp.Matrix([back[r] * bind(form, lay, r, it) for r in range(widths[lay])])
        return deltas

    deltas = [composed_deltas(it) for it in insts]
    claims: list[tuple[str, list[sp.Expr], list[sp.Expr]]] = []
    for lay in range(L, 0, -1):
        zeta = sp.Matrix([sp.Dummy(f"zeta{lay}_{r}") for r in range(widths[lay])])
        zeta_at = None
        if at is not None:
            zeta_at = dict(at) | {
                zz: sp.N(e.xreplace(at), 30) for zz, e in zip(zeta, inst.z[lay], strict=True)
            }
        cost = g.cost_from_layer(small, inst, lay, zeta, zeta_at)
        back = dict(zip(zeta, inst.z[lay], strict=True))
        brute = [sp.diff(cost, zz).xreplace(back) for zz in zeta]
        claims.append((_delta_name(lay, L), list(deltas[0][lay]), brute))

    objective = sp.Add(*[it.cost for it in insts]) / BATCH + (insts[0].objective - insts[0].cost)
    lam = inst.l2
    for lay in range(1, L + 1):
        grad_W = (
            sum(
                (deltas[s][lay] * insts[s].a[lay - 1].T for s in range(BATCH)),
                sp.zeros(widths[lay], widths[lay - 1]),
            )
            / BATCH
            + 2 * lam * inst.W[lay]
        )
        grad_b = sum((deltas[s][lay] for s in range(BATCH)), sp.zeros(widths[lay], 1)) / BATCH
        if small.regularize_biases:
            grad_b += 2 * lam * inst.b[lay]
        for label, params, composed in (("W", inst.W[lay], grad_W), ("b", inst.b[lay], grad_b)):
            brute = [sp.diff(objective, p) for p in params]
            claims.append((_grad_name(label, lay), list(composed), brute))
    return claims


def reference_claims(parts: _Parts, pts: list[dict]) -> list[proof.Agreement]:
    """The whole-network check: ``sympy.diff`` of the batch cost built as one expression.

    Exponential-ish in depth (the cost nests as deep as the network), so used only for small
    networks, as the reference the compositional route is tested against.
    """
    small = parts.network.with_widths((SMALL_WIDTH,) * (parts.network.depth + 1))
    symbols = sorted(pts[0], key=lambda s: s.name)
    piecewise = any(
        isinstance(ACTIVATIONS[lf.activation].definition, sp.Piecewise) for lf in parts.layers
    )
    # Smooth networks: one instance serves every point. Piecewise ones: one per point, each
    # with the branches active there (see symbols.apply_activation).
    groups = [(None, pts)] if not piecewise else [(pt, [pt]) for pt in pts]
    claimed: dict[str, list] = {}
    reference: dict[str, list] = {}
    with proof.working_precision():
        for at, group in groups:
            insts = [g.instantiate_sample(small, s, at) for s in range(1, BATCH + 1)]
            for name, composed, brute in _reference_pairs(parts, small, insts, at):
                lhs = proof.compile_exprs(composed, symbols)
                rhs = proof.compile_exprs(brute, symbols)
                for pt in group:
                    args = [proof.to_real(pt[s]) for s in symbols]
                    claimed.setdefault(name, []).append(lhs(*args))
                    reference.setdefault(name, []).append(rhs(*args))
    how = "sympy.diff of the whole batch cost"
    return [proof.compare(name, claimed[name], reference[name], how) for name in claimed]


# --- the check ----------------------------------------------------------------------


_TARGET = proof.Draw(1, 1000)
_OTHER = proof.Draw(-1200, 1200)


def _points(
    parts: _Parts, model: _SmallNetwork, points: int, rng: random.Random
) -> list[dict[sp.Symbol, sp.Rational]]:
    """Random rational points (targets drawn first; a distribution's targets sum to 1),
    redrawn while a piecewise unit sits within 1e-20 of its kink."""
    names = model.names
    targets = [names["y"][smp] for smp in sorted(names["y"])]
    others = sorted(
        [s for lay in names["W"] for row in names["W"][lay] for s in row]
        + [s for lay in names["b"] for s in names["b"][lay]]
        + [s for smp in names["x"] for s in names["x"][smp]],
        key=lambda s: s.name,
    )
    draws = [(s, _TARGET) for yv in targets for s in yv] + [(s, _OTHER) for s in others]
    distribution = LOSSES[parts.network.loss].target_is_distribution
    return proof.draw_points(
        rng,
        draws,
        points,
        normalise=targets if distribution else (),
        rejects=model.near_kink,
    )


def check_derivation(
    d: object, *, points: int = 3, seed: int = 0, route: str = "auto"
) -> CheckReport:
    """Prove the formulas of derivation ``d``; see the module docstring for the three parts.

    Parameters
    ----------
    d
        What :func:`~symprop.derivation.build.derive` returned.
    points
        Random rational points of the numeric comparisons, 1 to :data:`MAX_CHECK_POINTS`.
    seed
        Seed of the random points.
    route
        ``"compositional"`` (symbolic local rules, layer-by-layer numerics),
        ``"reference"`` (``sympy.diff`` of the whole cost; small networks only) or
        ``"auto"``: compositional, plus the reference for depth ≤ :data:`REFERENCE_MAX_DEPTH`.

    Returns
    -------
    CheckReport
        One entry per claim; a claim checked by both routes passes only if both agree.
    """
    parts = _parts(d)
    if (
        not isinstance(points, int)
        or isinstance(points, bool)
        or not 1 <= points <= MAX_CHECK_POINTS
    ):
        # The reason fits the value: too few points test nothing, too many cost time.
        why = ""
        if isinstance(points, int) and not isinstance(points, bool):
            why = (
                " (a check at no point would test nothing)"
                if points < 1
                else " (each point is a full high-precision comparison; more add time, not rigour)"
            )
        raise SymPropError(
            f"points: got {shown(points)}; must be an integer from 1 to {MAX_CHECK_POINTS}{why}"
        )
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SymPropError(f"seed: got {shown(seed)}; must be an integer")
    if not isinstance(route, str) or route not in ROUTES:
        raise SymPropError(f"route: got {shown(route)}; known: {', '.join(ROUTES)}")
    found: list[proof.Agreement] = _activation_claims(parts)
    if not parts.network.dense_chain:
        # A graph of layer kinds: per-kind rules, then the composed network by the kinds'
        # forward definitions (symprop.derivation.graph_check).
        found += check_graph(d, parts, points, seed, route)
        return _report(found)
    model = _SmallNetwork(parts)
    pts = _points(parts, model, points, random.Random(seed))
    if route != "reference":
        found += _local_rule_claims(parts)
        found += compositional_claims(model, pts)
    if route == "reference" or (route == "auto" and parts.network.depth <= REFERENCE_MAX_DEPTH):
        found += reference_claims(parts, pts)
    return _report(found)


def _report(found: list[proof.Agreement]) -> CheckReport:
    """Claims checked by several routes merged: each passes only if every route agrees."""
    merged: dict[str, list[proof.Agreement]] = {}
    for agreement in found:
        merged.setdefault(agreement.name, []).append(agreement)
    results = tuple(
        (name, all(a.passed for a in group), "; and by ".join(a.how for a in group))
        for name, group in merged.items()
    )
    return CheckReport(ok=all(r[1] for r in results), results=results)
