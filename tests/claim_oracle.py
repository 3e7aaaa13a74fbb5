"""An oracle for the claims suite, independent of symprop: SymPy on each claim's own definitions.

The claims suite (``tests/claims/*.toml``) holds, for every claim, the status it must get
(``holds``, ``fails``, ``ambiguous``, ``refused`` or ``error``) and the oracle's construction
of both sides, written out in SymPy syntax by the author of the entry. This module evaluates
that construction and decides the status on its own, without importing symprop: the
network is built here by hand with ``sympy.Matrix`` (weights, biases, forward pass, the loss
written out), local gradients and parameter gradients are ``sympy.diff`` of the cost, and
calculus claims are ``sympy.diff`` of their definitions. The expected status in the data is
asserted against this oracle, and the verifier against both.

The oracle's expressions are test data written for this suite (trusted text, evaluated by
Python in a namespace that holds only the names below); nothing a user types reaches them.

Worlds
------
``calc``
    Free symbols (``symbols``), matrices of symbols (``shapes``), definitions in order
    (``defs``: ``[name, expression]`` pairs) and concrete values (``values``, substituted
    after the sides are built, so that derivatives are taken first).
``net``
    A dense network: ``widths`` (input first), ``acts`` (one per layer), the per-unit loss
    ``loss`` in ``a`` and ``y`` (summed over the output units; the batch cost is the mean over
    ``batch`` samples), ``first`` (the input layer's number, 0 or 1), ``l2`` and ``penalty``
    (the coefficient of Σ w² in J, in ``lam`` and ``m``), ``target`` (``any`` or
    ``distribution``).

Both sides are compared at several random exact rational points at 60 digits.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp

DIGITS = 60
TOLERANCE = sp.Float("1e-35", DIGITS)
POINTS = 3


def _sigmoid(t: Any) -> Any:
    return 1 / (1 + sp.exp(-t))


def _relu(t: Any) -> Any:
    return sp.Piecewise((t, t > 0), (0, True))


_ELEMENTWISE = {
    "identity": lambda t: t,
    "sigmoid": _sigmoid,
    "tanh": sp.tanh,
    "relu": _relu,
    "softplus": lambda t: sp.log(1 + sp.exp(t)),
}


def _apply(act: str, v: sp.Matrix) -> sp.Matrix:
    if act == "softmax":
        exps = v.applyfunc(sp.exp)
        total = sum(exps)
        return exps.applyfunc(lambda e: e / total)
    return v.applyfunc(_ELEMENTWISE[act])


def had(a: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    """Elementwise product, shapes checked (a mismatch makes the side undefined)."""
    if a.shape != b.shape:
        raise Undefined(f"⊙ of shapes {a.shape} and {b.shape}")
    return a.multiply_elementwise(b)


def mat(*rows: Any) -> sp.Matrix:
    return sp.Matrix(rows)


def col(*entries: Any) -> sp.Matrix:
    return sp.Matrix(list(entries))


def gradient(f: Any, m: Any) -> Any:
    """∂f/∂m entry by entry (the shape of m)."""
    if isinstance(m, sp.MatrixBase):
        return m.applyfunc(lambda e: sp.diff(f, e))
    return sp.diff(f, m)


def grad_at(fn: Any, point: sp.Matrix) -> sp.Matrix:
    """The gradient of ``fn`` (a function of a vector) at ``point``, by sympy.diff."""
    fresh = sp.Matrix(sp.symbols(f"q1:{len(point) + 1}"))
    value = fn(fresh)
    grad = sp.Matrix([sp.diff(value, q) for q in fresh])
    return grad.subs(dict(zip(fresh, point, strict=True)))


def jacobian(f: sp.Matrix, v: sp.Matrix) -> sp.Matrix:
    return f.jacobian(v)


def sqnorm(v: Any) -> Any:
    return sum(e**2 for e in v) if isinstance(v, sp.MatrixBase) else v**2


class Undefined(Exception):
    """A side names something that does not exist (a unit, a layer)."""


_BASE = {
    "sp": sp,
    "exp": sp.exp,
    "log": sp.log,
    "tanh": sp.tanh,
    "sigma": _sigmoid,
    "relu": _relu,
    "Heaviside": sp.Heaviside,
    "Piecewise": sp.Piecewise,
    "Max": sp.Max,
    "diff": sp.diff,
    "limit": sp.limit,
    "Rational": sp.Rational,
    "R": sp.Rational,
    "Matrix": sp.Matrix,
    "eye": sp.eye,
    "zeros": sp.zeros,
    "ones": sp.ones,
    "diag": lambda v: sp.diag(*list(v)),
    "had": had,
    "mat": mat,
    "col": col,
    "gradient": gradient,
    "jacobian": jacobian,
    "grad_at": grad_at,
    "sqnorm": sqnorm,
    "KroneckerDelta": sp.KroneckerDelta,
    "sum": sum,
    "range": range,
    "abs": abs,
    "len": len,
}


def _eval(text: str, ns: dict[str, Any]) -> Any:
    try:
        return eval(text, {**ns, "__builtins__": {}})  # noqa: S307 -- trusted test data
    except (IndexError, KeyError) as exc:
        raise Undefined(f"{text}: {exc}") from None
    except sp.ShapeError as exc:
        raise Undefined(f"{text}: {exc}") from None


def _random_rational(rng: random.Random, low: int = -9, high: int = 9) -> sp.Rational:
    while True:
        v = sp.Rational(rng.randint(low * 8, high * 8), 8 + rng.randint(0, 3))
        if v != 0:
            return v


def _num(v: Any) -> Any:
    if isinstance(v, sp.MatrixBase):
        return v.applyfunc(lambda e: sp.N(e, DIGITS))
    return sp.N(sp.sympify(v), DIGITS)


def _same(lhs: Any, rhs: Any) -> bool:
    if isinstance(lhs, sp.MatrixBase) != isinstance(rhs, sp.MatrixBase):
        # a 1×1 matrix and a scalar are the same number
        if isinstance(lhs, sp.MatrixBase) and lhs.shape == (1, 1):
            lhs = lhs[0, 0]
        elif isinstance(rhs, sp.MatrixBase) and rhs.shape == (1, 1):
            rhs = rhs[0, 0]
        else:
            return False  # a matrix is not a scalar: the claim is false
    if isinstance(lhs, sp.MatrixBase):
        if lhs.shape != rhs.shape:
            return False  # sides of different shapes: the claim is false
        return all(_same(p, q) for p, q in zip(lhs, rhs, strict=True))
    d = _num(lhs) - _num(rhs)
    if d.free_symbols:
        raise Undefined(f"free symbols left: {d.free_symbols}")
    scale = max(sp.Float(1), abs(_num(lhs)))
    return bool(abs(d) <= TOLERANCE * scale)


def _rounds_to(value: Any, shown: Any, decimals: int) -> bool:
    """The exact value, rounded half-up to ``decimals`` places, is the shown literal."""
    if isinstance(value, sp.MatrixBase):
        return all(_rounds_to(v, s, decimals) for v, s in zip(value, shown, strict=True))
    v = _num(value)
    scaled = sp.floor(v * 10**decimals + sp.Rational(1, 2))
    return bool(scaled == sp.Rational(str(shown)) * 10**decimals)


# ---------------------------------------------------------------- worlds


@dataclass
class Net:
    """A dense network built by hand at one random point; every quantity numeric."""

    widths: list[int]
    acts: list[str]
    loss: str
    first: int = 1
    batch: int = 1
    l2: Fraction = Fraction(0)
    penalty: str = "lam"
    target: str = "any"
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.L = self.first + len(self.acts)
        small = lambda: _random_rational(self.rng, -2, 2) / 2  # noqa: E731
        self.Wm = {}
        self.bm = {}
        for k in range(len(self.acts)):
            lay = self.first + 1 + k
            rows, cols = self.widths[k + 1], self.widths[k]
            self.Wm[lay] = sp.Matrix(rows, cols, lambda i, j: small())
            self.bm[lay] = sp.Matrix(rows, 1, lambda i, j: small())
        self.xs, self.ys = [], []
        for _ in range(self.batch):
            self.xs.append(sp.Matrix(self.widths[0], 1, lambda i, j: small()))
            n = self.widths[-1]
            if self.target == "distribution":
                raw = [sp.Rational(self.rng.randint(1, 9)) for _ in range(n)]
                self.ys.append(sp.Matrix([r / sum(raw) for r in raw]))
            else:
                self.ys.append(
                    sp.Matrix(n, 1, lambda i, j: sp.Rational(self.rng.randint(1, 9), 10))
                )
        self.lam = sp.Rational(self.l2.numerator, self.l2.denominator)

    # forward pass of sample s (1-based) with the pre-activation of layer `fresh` replaced
    def _forward(
        self, s: int, fresh: int | None = None, zeta: sp.Matrix | None = None
    ) -> tuple[dict, dict]:
        zs: dict[int, sp.Matrix] = {}
        acts = {self.first: self.xs[s - 1]}
        for k, act in enumerate(self.acts):
            lay = self.first + 1 + k
            z = self.Wm[lay] * acts[lay - 1] + self.bm[lay]
            if lay == fresh:
                z = zeta
            zs[lay] = z
            acts[lay] = _apply(act, z)
        return zs, acts

    def _sample_loss(self, out: sp.Matrix, s: int) -> Any:
        total = 0
        for p, q in zip(out, self.ys[s - 1], strict=True):
            total += _eval(self.loss, {**_BASE, "a": p, "y": q})
        return total

    def _layer(self, lay: int) -> int:
        if not (self.first + 1 <= lay <= self.L):
            raise Undefined(f"no layer {lay}")
        return lay

    def z(self, lay: int, s: int = 1) -> sp.Matrix:
        return self._forward(s)[0][self._layer(lay)]

    def a(self, lay: int, s: int = 1) -> sp.Matrix:
        if lay == self.first:
            return self.xs[s - 1]
        return self._forward(s)[1][self._layer(lay)]

    def cost(self, s: int) -> Any:
        return self._sample_loss(self._forward(s)[1][self.L], s)

    def C(self) -> Any:
        return sum(self.cost(s) for s in range(1, self.batch + 1)) / self.batch

    def penalty_coefficient(self) -> Any:
        return _eval(self.penalty, {**_BASE, "lam": self.lam, "m": self.batch})

    def J(self, Wm: dict | None = None, bm: dict | None = None) -> Any:
        return self.C() + self.penalty_coefficient() * sum(sqnorm(w) for w in self.Wm.values())

    def delta(self, lay: int, s: int = 1) -> sp.Matrix:
        """∂C_s/∂z^l, the per-sample cost differentiated at fresh pre-activations."""
        lay = self._layer(lay)
        n = self.widths[lay - self.first]
        zeta = sp.Matrix(sp.symbols(f"zeta1:{n + 1}"))
        zs, acts = self._forward(s, lay, zeta)
        cost = self._sample_loss(acts[self.L], s)
        value = self._forward(s)[0][lay]
        grad = sp.Matrix([sp.diff(cost, t) for t in zeta])
        return grad.subs(dict(zip(zeta, value, strict=True)))

    def dCda(self, lay: int, s: int = 1) -> sp.Matrix:
        """∂C_s/∂a^l (a^l replaced by fresh symbols feeding layer l+1)."""
        lay = self._layer(lay)
        n = self.widths[lay - self.first]
        alpha = sp.Matrix(sp.symbols(f"alpha1:{n + 1}"))
        out = alpha
        for k in range(lay + 1, self.L + 1):
            out = _apply(self.acts[k - self.first - 1], self.Wm[k] * out + self.bm[k])
        cost = self._sample_loss(out, s)
        value = self.a(lay, s)
        grad = sp.Matrix([sp.diff(cost, t) for t in alpha])
        return grad.subs(dict(zip(alpha, value, strict=True)))

    def _param_grad(self, store: dict, lay: int, objective: str, s: int | None) -> sp.Matrix:
        lay = self._layer(lay)
        saved = store[lay]
        syms = sp.Matrix(saved.rows, saved.cols, lambda i, j: sp.Symbol(f"p_{i}_{j}"))
        store[lay] = syms
        try:
            if objective == "J":
                f = self.J()
            elif s is None:
                f = self.C()
            else:
                f = self.cost(s)
            grad = syms.applyfunc(lambda e: sp.diff(f, e))
        finally:
            store[lay] = saved
        return grad.subs(dict(zip(syms, saved, strict=True)))

    def dJdW(self, lay: int) -> sp.Matrix:
        return self._param_grad(self.Wm, lay, "J", None)

    def dJdb(self, lay: int) -> sp.Matrix:
        return self._param_grad(self.bm, lay, "J", None)

    def dCdW(self, lay: int, s: int | None = None) -> sp.Matrix:
        return self._param_grad(self.Wm, lay, "C", s)

    def dCdb(self, lay: int, s: int | None = None) -> sp.Matrix:
        return self._param_grad(self.bm, lay, "C", s)

    def dphi(self, lay: int, s: int = 1) -> sp.Matrix:
        """φ'(z^l) elementwise, by sympy.diff of the layer's activation."""
        t = sp.Symbol("t")
        act = self.acts[self._layer(lay) - self.first - 1]
        d = sp.diff(_ELEMENTWISE[act](t), t)
        return self.z(lay, s).applyfunc(lambda v: d.subs(t, v))

    def phi(self, lay: int, v: sp.Matrix) -> sp.Matrix:
        return _apply(self.acts[self._layer(lay) - self.first - 1], v)

    # Ng: Θ^(l) = [b^(l+1) | W^(l+1)] (bias column 0), a^(l) with the bias unit a_0 = 1
    def Theta(self, lay: int) -> sp.Matrix:
        return self.bm[self._layer(lay + 1)].row_join(self.Wm[lay + 1])

    def abar(self, lay: int, s: int = 1) -> sp.Matrix:
        return sp.Matrix([1]).col_join(self.a(lay, s))

    def dJdTheta(self, lay: int) -> sp.Matrix:
        return self.dJdb(lay + 1).row_join(self.dJdW(lay + 1))

    def namespace(self) -> dict[str, Any]:
        return {
            **_BASE,
            "W": lambda lay: self.Wm[self._layer(lay)],
            "b": lambda lay: self.bm[self._layer(lay)],
            "z": self.z,
            "a": self.a,
            "x": lambda s=1: self.xs[s - 1],
            "y": lambda s=1: self.ys[s - 1],
            "L": self.L,
            "m": self.batch,
            "lam": self.lam,
            "C": self.C(),
            "Cs": self.cost,
            "J": self.J(),
            "delta": self.delta,
            "dCda": self.dCda,
            "dJdW": self.dJdW,
            "dJdb": self.dJdb,
            "dCdW": self.dCdW,
            "dCdb": self.dCdb,
            "dphi": self.dphi,
            "phi": self.phi,
            "Theta": self.Theta,
            "abar": self.abar,
            "dJdTheta": self.dJdTheta,
        }


def _calc_namespace(world: dict[str, Any]) -> tuple[dict[str, Any], list[sp.Symbol]]:
    ns: dict[str, Any] = dict(_BASE)
    free: list[sp.Symbol] = []
    for name in world.get("symbols", "").split():
        s = sp.Symbol(name, real=True)
        ns[name] = s
        free.append(s)
    for name, shape in world.get("shapes", {}).items():
        rows, cols = (shape + [1])[:2]
        entries = [
            sp.Symbol(f"{name}_{r + 1}{c + 1}" if cols > 1 else f"{name}_{r + 1}")
            for r in range(rows)
            for c in range(cols)
        ]
        m = sp.Matrix(rows, cols, entries)
        ns[name] = m
        free.extend(m)
    for name, text in world.get("defs", []):
        ns[name] = _eval(text, ns)
    return ns, free


def _values(world: dict[str, Any], ns: dict[str, Any]) -> dict[sp.Symbol, Any]:
    subs: dict[sp.Symbol, Any] = {}
    for name, value in world.get("values", {}).items():
        target = ns[name]
        if isinstance(target, sp.MatrixBase):
            flat = [v for row in value for v in row] if isinstance(value[0], list) else value
            for sym, v in zip(target, flat, strict=True):
                subs[sym] = sp.Rational(str(v))
        else:
            subs[target] = sp.Rational(str(value))
    return subs


# ---------------------------------------------------------------- deciding a claim


@dataclass(frozen=True)
class Decision:
    """The oracle's status for one claim, and the first false link of a chain (1-based)."""

    status: str
    first_false: int | None = None
    detail: str = ""


def _sides_hold(pair: dict[str, Any], ns: dict[str, Any], subs: dict, decimals: int | None) -> bool:
    over = pair.get("over", {})
    names = list(over)
    for combo in itertools.product(*(over[n] for n in names)):
        local = {**ns, **dict(zip(names, combo, strict=True))}
        lhs = _eval(pair["lhs"], local)
        rhs = _eval(pair["rhs"], local)
        if subs:
            lhs = lhs.subs(subs) if hasattr(lhs, "subs") else lhs
            rhs = rhs.subs(subs) if hasattr(rhs, "subs") else rhs
        if decimals is not None:
            if not _rounds_to(lhs, pair["rhs_shown"] if "rhs_shown" in pair else rhs, decimals):
                return False
        elif not _same(lhs, rhs):
            return False
    return True


def _chain(oracle: dict[str, Any], world: dict[str, Any], seed: int) -> tuple[bool, int | None]:
    """Whether every link holds at every point, and the first link that does not."""
    links = oracle.get("links") or [oracle]
    decimals = oracle.get("decimals")
    kind = world.get("world", "calc")
    first_false = None
    for idx, link in enumerate(links, start=1):
        holds = True
        points = 1 if (kind == "calc" and world.get("values") and not _has_free(world)) else POINTS
        for p in range(points):
            rng = random.Random(seed * 1000 + p)
            if kind == "net":
                net = Net(
                    widths=list(world["widths"]),
                    acts=list(world["acts"]),
                    loss=world["loss"],
                    first=world.get("first", 1),
                    batch=world.get("batch", 1),
                    l2=Fraction(str(world.get("l2", 0))),
                    penalty=world.get("penalty", "lam"),
                    target=world.get("target", "any"),
                    rng=rng,
                )
                ns, subs = net.namespace(), {}
            else:
                ns, free = _calc_namespace(world)
                subs = _values(world, ns)
                for s in free:
                    if s not in subs:
                        subs[s] = _random_rational(rng)
            if not _sides_hold(link, ns, subs, link.get("decimals", decimals)):
                holds = False
                break
        if not holds and first_false is None:
            first_false = idx
    return first_false is None, first_false


def _has_free(world: dict[str, Any]) -> bool:
    named = set(world.get("symbols", "").split()) | set(world.get("shapes", {}))
    return bool(named - set(world.get("values", {})))


def decide(oracle: dict[str, Any], world: dict[str, Any], seed: int = 1) -> Decision:
    """The status of one claim from its oracle construction in its world.

    ``holds``/``fails`` from the sides (every link of a chain); ``ambiguous`` when the
    ``readings`` give different verdicts (the same verdict under every reading is that
    verdict); ``refused`` when a side names something the network does not have;
    ``error`` for input that is not a claim (``bad_input``: the reason, no construction).
    """
    if "bad_input" in oracle:
        return Decision("error", detail=oracle["bad_input"])
    try:
        if "readings" in oracle:
            verdicts = [_chain(r, world, seed)[0] for r in oracle["readings"]]
            if len(set(verdicts)) > 1:
                return Decision("ambiguous")
            return Decision("holds" if verdicts[0] else "fails")
        ok, first_false = _chain(oracle, world, seed)
    except Undefined as exc:
        return Decision("refused", detail=str(exc))
    return Decision("holds" if ok else "fails", first_false)
