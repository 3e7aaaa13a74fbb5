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
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
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


class _Template:
    """A dense network written out symbolically once: one symbol per weight, bias, input and
    target; every quantity (z, a, δ, parameter gradients) is a SymPy expression in them,
    differentiated with sympy.diff, and evaluated at random points through mpmath."""

    def __init__(
        self,
        widths: tuple[int, ...],
        acts: tuple[str, ...],
        loss: str,
        first: int,
        batch: int,
        penalty: str,
    ) -> None:
        self.widths, self.acts, self.loss, self.first, self.batch = (
            widths,
            acts,
            loss,
            first,
            batch,
        )
        self.L = first + len(acts)
        self.W: dict[int, sp.Matrix] = {}
        self.b: dict[int, sp.Matrix] = {}
        for k in range(len(acts)):
            lay = first + 1 + k
            rows, cols = widths[k + 1], widths[k]
            self.W[lay] = sp.Matrix(
                rows, cols, [sp.Symbol(f"W{lay}_{r}_{c}") for r in range(rows) for c in range(cols)]
            )
            self.b[lay] = sp.Matrix([sp.Symbol(f"b{lay}_{r}") for r in range(rows)])
        self.xs = [
            sp.Matrix([sp.Symbol(f"x{s}_{r}") for r in range(widths[0])])
            for s in range(1, batch + 1)
        ]
        self.ys = [
            sp.Matrix([sp.Symbol(f"y{s}_{r}") for r in range(widths[-1])])
            for s in range(1, batch + 1)
        ]
        self.lam = sp.Symbol("lam")
        self.penalty = _eval(penalty, {**_BASE, "lam": self.lam, "m": batch})
        self.zs: dict[tuple[int, int], sp.Matrix] = {}
        self.as_: dict[tuple[int, int], sp.Matrix] = {}
        for s in range(1, batch + 1):
            zs, acts_ = self.forward(s)
            for lay, v in zs.items():
                self.zs[lay, s] = v
            for lay, v in acts_.items():
                self.as_[lay, s] = v
        self.costs = [self.sample_loss(self.as_[self.L, s], s) for s in range(1, batch + 1)]
        self.C = sum(self.costs) / batch
        self.J = self.C + self.penalty * sum(sqnorm(w) for w in self.W.values())
        self.symbols = sorted(
            {*self.C.free_symbols, *self.J.free_symbols, self.lam}
            | {e for m in (*self.W.values(), *self.b.values(), *self.xs, *self.ys) for e in m},
            key=str,
        )
        self._memo: dict[Any, Any] = {}

    def forward(
        self, s: int, fresh: int | None = None, zeta: sp.Matrix | None = None
    ) -> tuple[dict, dict]:
        zs: dict[int, sp.Matrix] = {}
        acts = {self.first: self.xs[s - 1]}
        for k, act in enumerate(self.acts):
            lay = self.first + 1 + k
            z = self.W[lay] * acts[lay - 1] + self.b[lay]
            if lay == fresh:
                z = zeta
            zs[lay] = z
            acts[lay] = _apply(act, z)
        return zs, acts

    def sample_loss(self, out: sp.Matrix, s: int) -> Any:
        return sum(
            _eval(self.loss, {**_BASE, "a": p, "y": q})
            for p, q in zip(out, self.ys[s - 1], strict=True)
        )

    def memo(self, key: tuple, compute: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def delta(self, lay: int, s: int) -> sp.Matrix:
        """∂C_s/∂z^l: the per-sample cost at fresh pre-activations, by sympy.diff."""

        def compute() -> sp.Matrix:
            n = self.widths[lay - self.first]
            zeta = sp.Matrix(sp.symbols(f"zeta1:{n + 1}"))
            _, acts = self.forward(s, lay, zeta)
            cost = self.sample_loss(acts[self.L], s)
            grad = sp.Matrix([sp.diff(cost, t) for t in zeta])
            return grad.subs(dict(zip(zeta, self.zs[lay, s], strict=True)))

        return self.memo(("delta", lay, s), compute)

    def dadz(self, lay: int, s: int) -> sp.Matrix:
        def compute() -> sp.Matrix:
            n = self.widths[lay - self.first]
            zeta = sp.Matrix(sp.symbols(f"zeta1:{n + 1}"))
            out = _apply(self.acts[lay - self.first - 1], zeta)
            return out.jacobian(zeta).subs(dict(zip(zeta, self.zs[lay, s], strict=True)))

        return self.memo(("dadz", lay, s), compute)

    def dCda(self, lay: int, s: int) -> sp.Matrix:
        """∂C_s/∂a^l: fresh activations feeding layer l+1, by sympy.diff."""

        def compute() -> sp.Matrix:
            n = self.widths[lay - self.first]
            alpha = sp.Matrix(sp.symbols(f"alpha1:{n + 1}"))
            out = alpha
            for k in range(lay + 1, self.L + 1):
                out = _apply(self.acts[k - self.first - 1], self.W[k] * out + self.b[k])
            cost = self.sample_loss(out, s)
            grad = sp.Matrix([sp.diff(cost, t) for t in alpha])
            value = self.xs[s - 1] if lay == self.first else self.as_[lay, s]
            return grad.subs(dict(zip(alpha, value, strict=True)))

        return self.memo(("dCda", lay, s), compute)

    def grad(self, which: str, lay: int, objective: str) -> sp.Matrix:
        def compute() -> sp.Matrix:
            f = (
                self.J
                if objective == "J"
                else self.C
                if objective == "C"
                else self.costs[int(objective) - 1]
            )
            param = self.W[lay] if which == "W" else self.b[lay]
            return param.applyfunc(lambda e: sp.diff(f, e))

        return self.memo(("grad", which, lay, objective), compute)

    def dphi(self, lay: int, s: int) -> sp.Matrix:
        t = sp.Symbol("t")
        d = sp.diff(_ELEMENTWISE[self.acts[lay - self.first - 1]](t), t)
        return self.zs[lay, s].applyfunc(lambda v: d.subs(t, v))

    def numeric(self, expr: Any, point: dict) -> Any:
        """The value at ``point`` (60 digits, through mpmath)."""
        if isinstance(expr, sp.MatrixBase):
            return expr.applyfunc(lambda e: self.numeric(e, point))
        key = ("fn", expr)
        fn = self.memo(key, lambda: sp.lambdify(self.symbols, expr, modules="mpmath"))
        with mpmath.workdps(DIGITS):
            return sp.Float(fn(*[point[s] for s in self.symbols]), DIGITS)


_TEMPLATES: dict[tuple, _Template] = {}


def _template(world: dict[str, Any]) -> _Template:
    key = (
        tuple(world["widths"]),
        tuple(world["acts"]),
        world["loss"],
        world.get("first", 1),
        world.get("batch", 1),
        world.get("penalty", "lam"),
    )
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _Template(*key)
    return _TEMPLATES[key]


class Net:
    """The template at one random point: every quantity a matrix of 60-digit numbers."""

    def __init__(self, world: dict[str, Any], rng: random.Random) -> None:
        self.t = t = _template(world)
        self.first, self.L, self.batch = t.first, t.L, t.batch
        point: dict[sp.Symbol, Any] = {}
        small = lambda: _random_rational(rng, -2, 2) / 2  # noqa: E731
        for m in (*t.W.values(), *t.b.values(), *t.xs):
            for e in m:
                point[e] = small()
        for yv in t.ys:
            if world.get("target") == "distribution":
                raw = [sp.Rational(rng.randint(1, 9)) for _ in yv]
                for e, r in zip(yv, raw, strict=True):
                    point[e] = r / sum(raw)
            else:
                for e in yv:
                    point[e] = sp.Rational(rng.randint(1, 9), 10)
        l2 = Fraction(str(world.get("l2", 0)))
        point[t.lam] = sp.Rational(l2.numerator, l2.denominator)
        with mpmath.workdps(DIGITS):
            self.point = {k: mpmath.mpf(v.p) / v.q for k, v in point.items()}
        self.exact = point

    def _layer(self, lay: int) -> int:
        if not (self.first + 1 <= lay <= self.L):
            raise Undefined(f"no layer {lay}")
        return lay

    def _sample(self, s: int) -> int:
        if not 1 <= s <= self.batch:
            raise Undefined(f"no sample {s}")
        return s

    def num(self, expr: Any) -> Any:
        return self.t.numeric(expr, self.point)

    def namespace(self) -> dict[str, Any]:
        t = self.t
        exact = lambda m: m.subs(self.exact)  # noqa: E731
        return {
            **_BASE,
            "W": lambda lay: exact(t.W[self._layer(lay)]),
            "b": lambda lay: exact(t.b[self._layer(lay)]),
            "z": lambda lay, s=1: self.num(t.zs[self._layer(lay), self._sample(s)]),
            "a": lambda lay, s=1: (
                exact(t.xs[self._sample(s) - 1])
                if lay == self.first
                else self.num(t.as_[self._layer(lay), self._sample(s)])
            ),
            "x": lambda s=1: exact(t.xs[self._sample(s) - 1]),
            "y": lambda s=1: exact(t.ys[self._sample(s) - 1]),
            "L": self.L,
            "m": self.batch,
            "lam": self.exact[t.lam],
            "C": lambda: self.num(t.C),
            "J": lambda: self.num(t.J),
            "Cs": lambda s=1: self.num(t.costs[self._sample(s) - 1]),
            "delta": lambda lay, s=1: self.num(t.delta(self._layer(lay), self._sample(s))),
            "dadz": lambda lay, s=1: self.num(t.dadz(self._layer(lay), self._sample(s))),
            "dCda": lambda lay, s=1: self.num(t.dCda(lay, self._sample(s))),
            "dJdW": lambda lay: self.num(t.grad("W", self._layer(lay), "J")),
            "dJdb": lambda lay: self.num(t.grad("b", self._layer(lay), "J")),
            "dCdW": lambda lay, s=None: self.num(
                t.grad("W", self._layer(lay), "C" if s is None else str(s))
            ),
            "dCdb": lambda lay, s=None: self.num(
                t.grad("b", self._layer(lay), "C" if s is None else str(s))
            ),
            "dphi": lambda lay, s=1: self.num(t.dphi(self._layer(lay), self._sample(s))),
            "phi": lambda lay, v: _apply(t.acts[self._layer(lay) - self.first - 1], v),
            "Theta": lambda lay: exact(t.b[self._layer(lay + 1)].row_join(t.W[lay + 1])),
            "abar": lambda lay, s=1: sp.Matrix([1]).col_join(
                exact(t.xs[self._sample(s) - 1])
                if lay == self.first
                else self.num(t.as_[self._layer(lay), self._sample(s)])
            ),
            "dJdTheta": lambda lay: self.num(
                t.grad("b", self._layer(lay + 1), "J").row_join(t.grad("W", lay + 1, "J"))
            ),
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
    """Whether the sides agree for every value of the ``over`` variables; a side undefined
    for some value (a unit the network does not have) makes the claim undefined, even when
    another value already shows it false."""
    over = pair.get("over", {})
    names = list(over)
    holds, undefined = True, None
    for combo in itertools.product(*(over[n] for n in names)):
        local = {**ns, **dict(zip(names, combo, strict=True))}
        try:
            lhs = _eval(pair["lhs"], local)
            rhs = _eval(pair["rhs"], local)
        except Undefined as exc:
            undefined = exc
            continue
        if not holds:
            continue
        if subs:
            lhs = lhs.subs(subs) if hasattr(lhs, "subs") else lhs
            rhs = rhs.subs(subs) if hasattr(rhs, "subs") else rhs
        if decimals is not None:
            holds = _rounds_to(lhs, rhs, decimals)
        else:
            holds = _same(lhs, rhs)
    if undefined is not None:
        raise undefined
    return holds


def _chain(oracle: dict[str, Any], world: dict[str, Any], seed: int) -> tuple[bool, int | None]:
    """Whether every link holds at every point, and the first link that does not."""
    links = oracle.get("links") or [oracle]
    decimals = oracle.get("decimals")
    # a reading may change the world (the numbering it takes, the activation σ names)
    world = {**world, **oracle.get("world", {})}
    kind = world.get("world", "calc")
    first_false = None
    for idx, link in enumerate(links, start=1):
        holds = True
        points = 1 if (kind == "calc" and world.get("values") and not _has_free(world)) else POINTS
        for p in range(points):
            rng = random.Random(seed * 1000 + p)
            if kind == "net":
                ns, subs = Net(world, rng).namespace(), {}
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
