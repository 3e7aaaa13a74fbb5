"""The registry of layer kinds: each kind is its forward definition in index form, and data.

An entry gives only what cannot be derived: the forward definition of one output entry in
index form over symbolic sizes (SymPy ``Indexed`` and ``Sum``), the named intermediates that
definition is written with (the batch mean μ, the standard deviation σ, the normalised x̂),
its parameters (name, shape in the sizes, role, initialisation), its hyper-parameters (ε of
the norms, the dropout rate p), the values it takes as given (the dropout mask), whether it
couples the samples of a batch, the running statistics and inference form prediction uses
(batch norm's running mean and variance; dropout's mask-free identity), and display names
per notation profile. The local gradient
passed back, each parameter's gradient and their compact and matrix forms are derived and
proven in :mod:`symprop.core.layer_calculus`.

Conventions:

* Every kind maps inputs to one output ``y``; the upstream gradient ``∂C/∂y`` is ``g``.
* A per-sample kind is written for one sample; its parameter gradients are per sample and
  the network sums them over the batch (the cost is the batch mean).
* A batch-coupled kind (``batch_coupled=True``) is written for the whole batch: the first
  index of its input and output is the sample, running over the batch size ``m``.
* The activation is **not** part of ``dense``: ``dense`` is the affine map ``z = W a + b``
  and an activation is applied by the network as a separate elementwise stage, derived by
  :mod:`symprop.core.calculus` as today. Normalisation and dropout sit between the affine
  map and the activation (``z → BN(z) → φ``), so a dense kind that owned its activation
  would have to be split there anyway; and δ of the affine output is exactly δˡ = ∂C/∂zˡ of
  the documents.
* ``residual`` is the add ``y = x + f`` of two inputs (``f`` = F(x), the branch's output);
  that x also feeds F, so that its gradients add, belongs to the network graph.
* Batch norm's running variance is the unbiased m/(m − 1) var (as PyTorch keeps it), so a
  network with batch norm needs batches of at least two samples.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sympy as sp

from symprop.core.errors import SpecError

UPSTREAM = "g"
"""Name of the upstream gradient ∂C/∂y in every derived rule (so no array of a kind may use it)."""

PROFILE_NAMES = ("nielsen", "goodfellow", "ng")
"""The notation profiles every kind gives display names for (see :mod:`symprop.core.notation`)."""

ROLES = ("weight", "bias", "scale", "shift")
"""Roles a parameter can play (code generation and documents key on these)."""

INITIALISATIONS = ("he", "xavier", "ones", "zeros")
"""Initialisation schemes a parameter can ask for."""


def size(name: str) -> sp.Symbol:
    """A symbolic size (a width or the batch size): a positive integer symbol."""
    return sp.Symbol(name, integer=True, positive=True)


def index(name: str) -> sp.Symbol:
    """An index symbol; every index runs from 1 to the size of its axis.

    No assumptions: SymPy would query them on every term of a written-out sum, and the
    derivation never needs them (ranges come from the sums' limits).
    """
    return sp.Symbol(name)


# Shared sizes and indices of the built-in kinds.
n_in = size("n_in")
n_out = size("n_out")
n = size("n")
m = size("m")
i_s, j_f, k_f, r_b = index("i"), index("j"), index("k"), index("r")


@functools.cache
def _indexed_base(name: str, positive: bool) -> sp.IndexedBase:
    """The ``IndexedBase`` of an array, built once: construction with assumptions costs
    about 0.2 ms, and a derivation asks for the bases of its layers' arrays hundreds of times."""
    if positive:
        return sp.IndexedBase(name, positive=True)
    # No assumptions otherwise: they cost time on every entry and nothing uses them.
    return sp.IndexedBase(name)


@dataclass(frozen=True)
class Operand:
    """An array a kind reads or writes: its name, SymPy base and shape in the sizes.

    ``positive`` marks a quantity that is positive by construction (σ), so SymPy may use it.
    """

    name: str
    shape: tuple[sp.Symbol, ...]
    description: str = ""
    positive: bool = False

    @property
    def base(self) -> sp.IndexedBase:
        """The SymPy ``IndexedBase`` standing for this array (one object per name and
        assumption, so every use compares by identity)."""
        return _indexed_base(self.name, self.positive)

    @property
    def scalar(self) -> sp.Symbol:
        """The SymPy symbol standing for this array when it has no axes."""
        if self.positive:
            return sp.Symbol(self.name, positive=True)
        return sp.Symbol(self.name, real=True)

    def __call__(self, *indices: sp.Expr) -> sp.Expr:
        """The entry at ``indices`` (the scalar symbol for an array without axes)."""
        if len(indices) != len(self.shape):
            raise TypeError(f"{self.name} has {len(self.shape)} axes, got {len(indices)} indices")
        return self.base[indices] if indices else self.scalar


@dataclass(frozen=True)
class LayerParameter:
    """A trainable parameter of a layer kind.

    Attributes
    ----------
    operand
        Its name and shape.
    role
        One of :data:`ROLES`.
    init
        One of :data:`INITIALISATIONS`.
    """

    operand: Operand
    role: str
    init: str

    @property
    def name(self) -> str:
        """The parameter's name."""
        return self.operand.name


@dataclass(frozen=True)
class HyperParameter:
    """A fixed scalar of a kind (ε, p): symbol, default, and the interval it lies in.

    The interval is open at both ends unless ``lower_closed`` (dropout allows p = 0).
    """

    name: str
    symbol: sp.Symbol
    default: float
    lower: float
    upper: float
    description: str = ""
    lower_closed: bool = False

    @property
    def interval(self) -> str:
        """The allowed interval, as an error line shows it."""
        return f"{'[' if self.lower_closed else '('}{self.lower:g}, {self.upper:g})"

    def check(self, value: object, field: str) -> float:
        """``value`` as a float when it is a number in the interval, else a :class:`SpecError`.

        Parameters
        ----------
        value
            The user's value.
        field
            Dotted path of the field, for the error line.
        """
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        number = float(value) if ok else float("nan")  # type: ignore[arg-type]
        above = number >= self.lower if self.lower_closed else number > self.lower
        if not (ok and above and number < self.upper):
            raise SpecError(field, value, f"a number in {self.interval} ({self.description})")
        return number


@dataclass(frozen=True)
class Intermediate:
    """A named quantity the forward definition is written with (μ, σ, x̂).

    ``definition`` is its entry at ``indices``, in the kind's inputs, parameters,
    hyper-parameters and earlier intermediates.
    """

    operand: Operand
    indices: tuple[sp.Symbol, ...]
    definition: sp.Expr

    def at(self, *indices: sp.Expr) -> sp.Expr:
        """The definition of the entry at ``indices``."""
        # The indices are free symbols of the definition: a structural replacement suffices.
        return self.definition.xreplace(dict(zip(self.indices, indices, strict=True)))


@dataclass(frozen=True)
class RunningStatistic:
    """A running average a kind keeps for prediction (batch norm's mean and variance).

    After each training batch, ``running ← (1 − momentum) running + momentum · statistic``
    with ``statistic`` the batch value of its entry at ``indices``; ``init`` is its value
    before the first batch.
    """

    operand: Operand
    indices: tuple[sp.Symbol, ...]
    statistic: sp.Expr
    init: str


@dataclass(frozen=True)
class Display:
    """How a kind's named array is written: a notation role, or a literal symbol.

    ``role`` names a role of :mod:`symprop.core.notation` (``a``, ``z``, ``W``…) whose
    profile symbol and layer label the printers use; ``latex``/``unicode`` are used as they
    are when ``role`` is ``None``.
    """

    latex: str
    unicode: str
    role: str | None = None


@dataclass(frozen=True)
class LayerKind:
    """A layer kind: its index-form forward definition and its data, nothing derived.

    Attributes
    ----------
    name
        Registry key (``dense``, ``batch_norm``…).
    inputs
        Arrays the kind reads; ``residual`` reads two.
    output
        The array it writes, ``y`` by convention.
    output_indices
        The indices of the output entry that ``forward`` defines.
    forward
        The output entry at ``output_indices``.
    intermediates
        Named quantities used by ``forward``, in definition order.
    parameters, hyper_parameters
        Trainable parameters and fixed scalars.
    given
        Arrays the derivation treats as given constants (the dropout mask).
    batch_coupled
        Whether one sample's output depends on the other samples of the batch.
    running
        Running statistics kept for prediction.
    inference
        The output entry when predicting (running statistics instead of batch ones, no
        dropout mask); ``None`` when prediction computes ``forward`` itself.
    display
        Per notation profile, per array name, its :class:`Display`.
    """

    name: str
    description: str
    inputs: tuple[Operand, ...]
    output: Operand
    output_indices: tuple[sp.Symbol, ...]
    forward: sp.Expr
    intermediates: tuple[Intermediate, ...] = ()
    parameters: tuple[LayerParameter, ...] = ()
    hyper_parameters: tuple[HyperParameter, ...] = ()
    given: tuple[Operand, ...] = ()
    batch_coupled: bool = False
    running: tuple[RunningStatistic, ...] = ()
    inference: sp.Expr | None = None
    display: tuple[tuple[str, tuple[tuple[str, Display], ...]], ...] = ()

    def displays(self, profile: str) -> Mapping[str, Display]:
        """Display names of this kind's arrays in ``profile``."""
        for name, table in self.display:
            if name == profile:
                return MappingProxyType(dict(table))
        raise KeyError(profile)

    def operands(self) -> tuple[Operand, ...]:
        """Every named array: inputs, output, parameters, intermediates, given, running."""
        return (
            *self.inputs,
            self.output,
            *(p.operand for p in self.parameters),
            *(v.operand for v in self.intermediates),
            *self.given,
            *(r.operand for r in self.running),
        )

    def sizes(self) -> tuple[sp.Symbol, ...]:
        """The symbolic sizes the kind's shapes use, in first-seen order."""
        seen: dict[sp.Symbol, None] = {}
        for op in self.operands():
            for s in op.shape:
                seen.setdefault(s, None)
        return tuple(seen)

    def inlined(self) -> sp.Expr:
        """The forward entry with every intermediate replaced by its definition."""
        expr = self.forward
        for v in reversed(self.intermediates):
            expr = inline(expr, v)
        return expr


def inline(expr: sp.Expr, v: Intermediate) -> sp.Expr:
    """Replace every entry of the intermediate ``v`` in ``expr`` by its definition."""
    if not v.operand.shape:
        return expr.xreplace({v.operand.scalar: v.definition})
    base = v.operand.base
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == base,
        lambda e: v.at(*e.indices),
    )


def _display(
    **tables: dict[str, Display],
) -> tuple[tuple[str, tuple[tuple[str, Display], ...]], ...]:
    """Freeze per-profile display tables (hashable, so a kind can key a cache)."""
    return tuple((p, tuple(t.items())) for p, t in tables.items())


def _same_display(
    table: dict[str, Display],
) -> tuple[tuple[str, tuple[tuple[str, Display], ...]], ...]:
    """The same display table for every profile."""
    return _display(**{p: table for p in PROFILE_NAMES})


# --- dense: z = W a + b ------------------------------------------------------------------
_x_dense = Operand("x", (n_in,), "input of the layer (the previous layer's activation)")
_y_dense = Operand("y", (n_out,), "weighted input (pre-activation)")
_W = Operand("W", (n_out, n_in), "weights")
_b = Operand("b", (n_out,), "biases")

DENSE = LayerKind(
    name="dense",
    description="affine map z = W a + b (the activation is a separate elementwise stage)",
    inputs=(_x_dense,),
    output=_y_dense,
    output_indices=(j_f,),
    forward=sp.Sum(_W(j_f, k_f) * _x_dense(k_f), (k_f, 1, n_in)) + _b(j_f),
    parameters=(LayerParameter(_W, "weight", "he"), LayerParameter(_b, "bias", "zeros")),
    display=_display(
        **{
            p: {
                "x": Display("a", "a", role="a"),
                "y": Display("z", "z", role="z"),
                "W": Display("W", "W", role="W"),
                "b": Display("b", "b", role="b"),
            }
            for p in PROFILE_NAMES
        }
    ),
)


# --- normalisations ------------------------------------------------------------------------
eps = sp.Symbol("epsilon", positive=True)
_EPS = HyperParameter("eps", eps, 1e-5, 0.0, float("inf"), "added to the variance")
momentum = sp.Symbol("momentum", positive=True)
_MOMENTUM = HyperParameter(
    "momentum", momentum, 0.1, 0.0, 1.0, "weight of the newest batch in the running averages"
)


def _norm_display(batch: bool) -> tuple[tuple[str, tuple[tuple[str, Display], ...]], ...]:
    """Display names of a normalisation (the same in every profile: no lecture fixes them)."""
    hat = "x̂"
    return _same_display(
        {
            "x": Display("x", "x"),
            "y": Display(r"\hat{y}" if batch else "y", "ŷ" if batch else "y"),
            "gamma": Display(r"\gamma", "γ"),
            "beta": Display(r"\beta", "β"),
            "mu": Display(r"\mu", "μ"),
            "var": Display(r"\sigma^2", "σ²"),
            "sigma": Display(r"\sigma", "σ"),
            "xhat": Display(r"\hat{x}", hat),
            "running_mean": Display(r"\bar{\mu}", "μ̄"),
            "running_var": Display(r"\bar{\sigma}^2", "σ̄²"),
        }
    )


def _normalisation(name: str, batch: bool) -> LayerKind:
    """Batch norm (statistics over the samples of a feature) or layer norm (over the
    features of a sample): the same algebra over a different axis."""
    if batch:
        # x[i, j]: sample i of m, feature j of n; statistics per feature, over the batch.
        x = Operand("x", (m, n), "input batch")
        y = Operand("y", (m, n), "normalised, scaled and shifted batch")
        stat_shape, stat_ix = (n,), (j_f,)
        entry, over = (lambda r: x(r, j_f)), (r_b, 1, m)
        out_ix = (i_s, j_f)
        count = m
        param_ix = (j_f,)
        param_shape = (n,)
    else:
        # x[j]: feature j of n of one sample; statistics over the features of the sample.
        x = Operand("x", (n,), "input of one sample")
        y = Operand("y", (n,), "normalised, scaled and shifted sample")
        stat_shape, stat_ix = (), ()
        entry, over = (lambda r: x(r)), (r_b, 1, n)
        out_ix = (j_f,)
        count = n
        param_ix = (j_f,)
        param_shape = (n,)
    mu = Operand("mu", stat_shape, "mean")
    var = Operand("var", stat_shape, "variance (biased, as in training mode)")
    sigma = Operand("sigma", stat_shape, "standard deviation sqrt(var + eps)", positive=True)
    xhat = Operand("xhat", x.shape, "normalised input")
    gamma = Operand("gamma", param_shape, "scale")
    beta = Operand("beta", param_shape, "shift")
    mu_at, var_at, sigma_at = mu(*stat_ix), var(*stat_ix), sigma(*stat_ix)
    intermediates = (
        Intermediate(mu, stat_ix, sp.Sum(entry(r_b), over) / count),
        Intermediate(var, stat_ix, sp.Sum((entry(r_b) - mu_at) ** 2, over) / count),
        Intermediate(sigma, stat_ix, sp.sqrt(var_at + eps)),
        Intermediate(xhat, out_ix, (x(*out_ix) - mu_at) / sigma_at),
    )
    running: tuple[RunningStatistic, ...] = ()
    inference = None
    hyper: tuple[HyperParameter, ...] = (_EPS,)
    if batch:
        # Prediction normalises with running averages of the batch statistics; the variance
        # tracked is the unbiased one (m/(m − 1) var), as PyTorch and most texts keep it.
        r_mean = Operand("running_mean", stat_shape, "running mean for prediction")
        r_var = Operand("running_var", stat_shape, "running variance for prediction")
        running = (
            RunningStatistic(r_mean, stat_ix, mu_at, "zeros"),
            RunningStatistic(r_var, stat_ix, var_at * m / (m - 1), "ones"),
        )
        inference = gamma(*param_ix) * (x(*out_ix) - r_mean(*stat_ix)) / sp.sqrt(
            r_var(*stat_ix) + eps
        ) + beta(*param_ix)
        hyper = (_EPS, _MOMENTUM)
    return LayerKind(
        name=name,
        description=(
            "batch normalisation in training mode (statistics of the batch, per feature)"
            if batch
            else "layer normalisation (statistics of the features of one sample)"
        ),
        inputs=(x,),
        output=y,
        output_indices=out_ix,
        forward=gamma(*param_ix) * xhat(*out_ix) + beta(*param_ix),
        intermediates=intermediates,
        parameters=(LayerParameter(gamma, "scale", "ones"), LayerParameter(beta, "shift", "zeros")),
        hyper_parameters=hyper,
        batch_coupled=batch,
        running=running,
        inference=inference,
        display=_norm_display(batch),
    )


BATCH_NORM = _normalisation("batch_norm", batch=True)
LAYER_NORM = _normalisation("layer_norm", batch=False)


# --- dropout: y = mask ⊙ x / (1 − p) ---------------------------------------------------------
p_drop = sp.Symbol("p", positive=True)
_x_n = Operand("x", (n,), "input of one sample")
_y_n = Operand("y", (n,), "output of one sample")
_mask = Operand("mask", (n,), "dropout mask of one sample (entries 0 or 1), given")

DROPOUT = LayerKind(
    name="dropout",
    description="inverted dropout: y = mask ⊙ x / (1 − p) with the mask given",
    inputs=(_x_n,),
    output=_y_n,
    output_indices=(j_f,),
    forward=_mask(j_f) * _x_n(j_f) / (1 - p_drop),
    hyper_parameters=(
        HyperParameter(
            "p", p_drop, 0.5, 0.0, 1.0, "probability of dropping a unit", lower_closed=True
        ),
    ),
    given=(_mask,),
    inference=_x_n(j_f),  # prediction uses no mask (inverted dropout keeps the scale)
    display=_same_display(
        {
            "x": Display("x", "x"),
            "y": Display("y", "y"),
            "mask": Display("m", "m"),
        }
    ),
)


# --- residual: y = x + F(x), an add of two inputs --------------------------------------------
_f = Operand("f", (n,), "output of the residual branch F(x)")

RESIDUAL = LayerKind(
    name="residual",
    description="residual add y = x + F(x); x also feeds F, so its gradient fans out",
    inputs=(_x_n, _f),
    output=_y_n,
    output_indices=(j_f,),
    forward=_x_n(j_f) + _f(j_f),
    display=_same_display(
        {
            "x": Display("x", "x"),
            "f": Display(r"F(x)", "F(x)"),
            "y": Display("y", "y"),
        }
    ),
)


_LAYER_KINDS: dict[str, LayerKind] = {}
LAYER_KINDS: Mapping[str, LayerKind] = MappingProxyType(_LAYER_KINDS)
"""Every registered layer kind by name (read-only; add with :func:`register_layer_kind`)."""


def check_layer_kind(kind: LayerKind) -> None:
    """Refuse a malformed entry with one line naming the field (shapes, roles, names).

    Parameters
    ----------
    kind
        The entry to check.

    Raises
    ------
    SpecError
        Naming the first inconsistency.
    """
    field = f"layer_kinds[{kind.name}]"
    names = [op.name for op in kind.operands()]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise SpecError(f"{field}.operands", dup, "each array needs its own name")
    if UPSTREAM in names:
        raise SpecError(
            f"{field}.operands", UPSTREAM, "another name (it stands for the upstream gradient)"
        )
    if len(set(kind.output_indices)) != len(kind.output_indices):
        raise SpecError(
            f"{field}.output_indices",
            [str(s) for s in kind.output_indices],
            "distinct index symbols, one per axis of the output",
        )
    for v in kind.intermediates:
        if len(v.indices) != len(v.operand.shape):
            raise SpecError(
                f"{field}.intermediates[{v.operand.name}].indices",
                [str(s) for s in v.indices],
                f"one index per axis ({len(v.operand.shape)})",
            )
    hyper_names = [h.name for h in kind.hyper_parameters]
    clash = sorted({h for h in hyper_names if hyper_names.count(h) > 1 or h in names})
    if clash:
        raise SpecError(f"{field}.hyper_parameters", clash, "names used by nothing else")
    if len(kind.output_indices) != len(kind.output.shape):
        raise SpecError(
            f"{field}.output_indices",
            [str(s) for s in kind.output_indices],
            f"one index per axis of the output (it has {len(kind.output.shape)})",
        )
    for p in kind.parameters:
        if p.role not in ROLES:
            raise SpecError(
                f"{field}.parameters[{p.name}].role", p.role, f"one of {', '.join(ROLES)}"
            )
        if p.init not in INITIALISATIONS:
            raise SpecError(
                f"{field}.parameters[{p.name}].init", p.init, f"one of {', '.join(INITIALISATIONS)}"
            )
    known = {op.base for op in kind.operands()}
    # The arrays the forward reads, directly or through an intermediate's definition (the
    # definitions are read as they are: inlining them would cost SymPy's assumption queries
    # on every sqrt of a sum, at import, for the same set).
    used = {
        e.base
        for expr in (kind.forward, *(v.definition for v in kind.intermediates))
        for e in expr.atoms(sp.Indexed)
    }
    unknown = sorted(str(b) for b in used - known)
    if unknown:
        raise SpecError(f"{field}.forward", unknown, "only the kind's declared arrays")
    if kind.inference is not None:
        allowed = {op.base for op in (*kind.inputs, *(p.operand for p in kind.parameters))}
        allowed |= {r.operand.base for r in kind.running}
        stray = sorted(
            str(e.base) for e in kind.inference.atoms(sp.Indexed) if e.base not in allowed
        )
        if stray:
            raise SpecError(
                f"{field}.inference", stray, "inputs, parameters and running statistics only"
            )
    for profile in PROFILE_NAMES:
        try:
            table = kind.displays(profile)
        except KeyError:
            raise SpecError(
                f"{field}.display", profile, "display names for every profile"
            ) from None
        missing = [op.name for op in kind.operands() if op.name not in table]
        if missing:
            raise SpecError(f"{field}.display[{profile}]", missing, "a name for every array")


def register_layer_kind(kind: LayerKind) -> LayerKind:
    """Add ``kind`` to the registry after checking it; its rules are derived on first use.

    Raises
    ------
    SpecError
        When the entry is malformed or its name is taken.
    """
    if kind.name in _LAYER_KINDS and _LAYER_KINDS[kind.name] != kind:
        raise SpecError("layer_kinds", kind.name, "a name not yet registered")
    check_layer_kind(kind)
    _LAYER_KINDS[kind.name] = kind
    return kind


def unregister_layer_kind(name: str) -> None:
    """Remove a kind registered at run time (the built-in kinds stay)."""
    if name in _BUILT_IN:
        raise SpecError("layer_kinds", name, "a kind registered at run time, not a built-in one")
    _LAYER_KINDS.pop(name, None)


def get_layer_kind(name: object, field_name: str = "kind") -> LayerKind:
    """Look up a layer kind by name, or raise a :class:`SpecError` listing the known ones."""
    if not isinstance(name, str) or name not in _LAYER_KINDS:
        raise SpecError(field_name, name, f"known layer kinds: {', '.join(_LAYER_KINDS)}")
    return _LAYER_KINDS[name]


_BUILT_IN = ("dense", "batch_norm", "layer_norm", "dropout", "residual")
for _kind in (DENSE, BATCH_NORM, LAYER_NORM, DROPOUT, RESIDUAL):
    register_layer_kind(_kind)
