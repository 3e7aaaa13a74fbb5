"""Network specs: a validated, frozen description of a feedforward network.

A spec is built in Python::

    >>> from symprop import Network, Dense
    >>> net = Network(inputs=64, layers=[Dense(128, "relu"), Dense(10, "softmax")],
    ...               loss="cross_entropy", l2=1e-4, name="digits")
    >>> net.widths
    (64, 128, 10)

or read from a TOML file that maps to it one to one (:func:`load_spec`). Every problem
raises :class:`~symprop.core.errors.SpecError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

import itertools
import keyword
import math
import os
import re
import sys
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from symprop.core.calculus import derive_activation
from symprop.core.errors import SpecError, SymPropError, SymPropWarning, shown, shown_path
from symprop.core.files import read_text
from symprop.core.layers import LAYER_KINDS, get_layer_kind
from symprop.core.registry import ACTIVATIONS, get_activation, get_loss
from symprop.core.topology import Node, Topology, feature_axes, resolve, sets_width

NOTATIONS = ("nielsen", "goodfellow", "ng")
OPTIMIZERS = ("sgd", "momentum", "adam")
DTYPES = ("float64", "float32")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

MAX_WIDTH = 1_000_000
"""The most units of one layer (and of the input)."""
MAX_LAYERS = 1000
"""The most layers of a network."""
MAX_PARAMS = 50_000_000
"""The most trainable parameters (400 MB per float64 copy; training holds several)."""
MAX_NAME = 100
"""The longest name (it names files)."""
MAX_TITLE = 2000
"""The longest title, in characters."""
MAX_SEED = 2**32 - 1
"""The largest training seed, as ``symprop train --seed`` takes it."""
SHADOWED_MODULES = frozenset({*sys.stdlib_module_names, "numpy", "symprop"})
"""Names a spec may not take: a generated ``NAME.py`` would shadow the module for every
script in its folder."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """A finite int or float within float range (a huge int overflows float arithmetic)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _positive_int(field_name: str, value: object, limit: int | None = None) -> int:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise SpecError(field_name, value, "must be a positive integer")
    if limit is not None and value > limit:  # type: ignore[operator]
        raise SpecError(field_name, value, f"must be a positive integer <= {limit:,}")
    return int(value)  # type: ignore[arg-type]


def _interval_text(interval: sp.Set) -> str:
    """``interval`` as a reader writes it, ``(0, 1)`` or ``[0, ∞)``, not SymPy's repr."""
    if not isinstance(interval, sp.Interval):
        return str(interval)

    def end(value: sp.Expr) -> str:
        return {sp.oo: "∞", -sp.oo: "−∞"}.get(value, str(value))

    left = "(" if interval.left_open else "["
    right = ")" if interval.right_open else "]"
    return f"{left}{end(interval.start)}, {end(interval.end)}{right}"


@dataclass(frozen=True, init=False)
class Layer:
    """One layer of a network: a layer kind, then an activation.

    Layer ``l`` computes ``z^l`` with its kind from the layers it reads (by default layer
    ``l − 1``; 0 is the input) and ``a^l = φ(z^l)``. Build one with :func:`Dense`,
    :func:`BatchNorm`, :func:`LayerNorm`, :func:`Dropout` or :func:`Residual`, or name a
    kind registered at run time: ``Layer("srelu", width=8)``.

    Attributes
    ----------
    kind
        A registered layer kind (:data:`symprop.core.layers.LAYER_KINDS`).
    width
        The number of units; required where the kind sets it (dense), else the input's.
    activation
        The activation applied to the kind's output.
    params
        The activation's parameters (``alpha``), as given.
    options
        The kind's hyper-parameters (``eps``, ``momentum``, ``p``), as given.
    name
        A name other layers' ``inputs`` can use.
    inputs
        The names of the layers this layer reads; empty: the previous layer.
    """

    kind: str
    width: int | None
    activation: str
    params: tuple[tuple[str, float], ...]
    options: tuple[tuple[str, float], ...]
    name: str | None
    inputs: tuple[str, ...]

    def __init__(
        self,
        kind: str = "dense",
        width: int | None = None,
        activation: str = "identity",
        params: Mapping[str, float] | None = None,
        *,
        name: str | None = None,
        inputs: Iterable[str] | str | None = None,
        **kwargs: float,
    ) -> None:
        if params is not None and not isinstance(params, Mapping):
            raise SpecError("params", params, "must be a mapping of parameter names to numbers")
        merged = dict(params or {})
        merged.update(kwargs)
        for key in merged:
            if not isinstance(key, str):
                raise SpecError("params", key, "parameter names must be strings")
        # A kind's hyper-parameters (eps, p) and the activation's parameters (alpha) share
        # the layer's keywords; each key goes to the one that declares it.
        hyper = set()
        if isinstance(kind, str) and kind in LAYER_KINDS:
            hyper = {h.name for h in LAYER_KINDS[kind].hyper_parameters}
        if isinstance(inputs, str):
            inputs = (inputs,)
        elif inputs is None:
            inputs = ()
        elif isinstance(inputs, Iterable) and not isinstance(inputs, bytes):
            inputs = tuple(itertools.islice(inputs, 8))
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "activation", activation)
        object.__setattr__(
            self, "params", tuple(sorted((k, v) for k, v in merged.items() if k not in hyper))
        )
        object.__setattr__(
            self, "options", tuple(sorted((k, v) for k, v in merged.items() if k in hyper))
        )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "inputs", inputs)

    def param(self, name: str) -> float:
        """The value of activation parameter ``name`` (given or the registry default)."""
        act = get_activation(self.activation)
        if not any(p.name == name for p in act.parameters):
            raise SpecError("name", name, _parameters_text(self.activation))
        return dict(self.params).get(name, act.parameter(name).default)

    def param_values(self) -> dict[str, float]:
        """All parameters of the activation with their values, defaults filled in."""
        return {p.name: self.param(p.name) for p in get_activation(self.activation).parameters}

    def option_values(self) -> dict[str, float]:
        """All hyper-parameters of the kind with their values, defaults filled in."""
        given = dict(self.options)
        return {
            h.name: float(given.get(h.name, h.default))
            for h in get_layer_kind(self.kind).hyper_parameters
        }

    def _replace(self, **changes: object) -> Layer:
        fields = {
            "width": self.width,
            "activation": self.activation,
            "params": {**dict(self.params), **dict(self.options)},
            "name": self.name,
            "inputs": self.inputs,
        }
        fields.update(changes)
        return Layer(self.kind, **fields)  # type: ignore[arg-type]


def Dense(  # noqa: N802 - a layer constructor, read like a class
    width: int,
    activation: str = "identity",
    params: Mapping[str, float] | None = None,
    *,
    name: str | None = None,
    inputs: Iterable[str] | str | None = None,
    **kwargs: float,
) -> Layer:
    """A fully connected layer: ``z = W a + b`` with ``width`` units, then an activation.

    Activation parameters (e.g. ``alpha`` of leaky ReLU and ELU) are keywords:
    ``Dense(64, "leaky_relu", alpha=0.2)``; unset parameters take the registry default.
    """
    return Layer("dense", width, activation, params, name=name, inputs=inputs, **kwargs)


def BatchNorm(  # noqa: N802
    activation: str = "identity",
    *,
    name: str | None = None,
    inputs: Iterable[str] | str | None = None,
    **kwargs: float,
) -> Layer:
    """Batch normalisation (training mode on batch statistics; ``eps``, ``momentum`` of the
    running averages), then an activation. It keeps its input's width."""
    return Layer("batch_norm", None, activation, name=name, inputs=inputs, **kwargs)


def LayerNorm(  # noqa: N802
    activation: str = "identity",
    *,
    name: str | None = None,
    inputs: Iterable[str] | str | None = None,
    **kwargs: float,
) -> Layer:
    """Layer normalisation of each sample (``eps``), then an activation."""
    return Layer("layer_norm", None, activation, name=name, inputs=inputs, **kwargs)


def Dropout(  # noqa: N802
    p: float = 0.5,
    activation: str = "identity",
    *,
    name: str | None = None,
    inputs: Iterable[str] | str | None = None,
) -> Layer:
    """Inverted dropout: each unit is kept with probability ``1 − p`` and scaled by
    ``1/(1 − p)`` in training; prediction uses no mask."""
    return Layer("dropout", None, activation, name=name, inputs=inputs, p=p)


def Residual(  # noqa: N802
    inputs: Iterable[str] | str,
    activation: str = "identity",
    *,
    name: str | None = None,
) -> Layer:
    """A residual add ``z = x + F(x)``: ``inputs`` names the layer whose output ``x`` is
    added to the previous layer's (the branch ``F(x)``), or both layers."""
    return Layer("residual", None, activation, name=name, inputs=inputs)


def _parameters_text(activation: str, kind: str | None = None) -> str:
    names = [p.name for p in ACTIVATIONS[activation].parameters]
    text = (
        f"{activation} takes the parameters {', '.join(names)}"
        if names
        else f"{activation} takes no parameters"
    )
    if kind is not None:
        hyper = [h.name for h in LAYER_KINDS[kind].hyper_parameters]
        text += f"; {kind} takes {', '.join(hyper)}" if hyper else f"; {kind} takes none"
    return text


@dataclass(frozen=True)
class Training:
    """Training settings used by the generated module's command line and ``symprop train``."""

    epochs: int = 30
    learning_rate: float = 0.1
    batch_size: int = 32
    optimizer: str = "sgd"
    momentum: float = 0.0
    seed: int = 0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        # Zero epochs is a valid run (the initial parameters), as `train --epochs 0` takes.
        if not _is_int(self.epochs) or self.epochs < 0:
            raise SpecError("training.epochs", self.epochs, "must be an integer >= 0")
        _positive_int("training.batch_size", self.batch_size)
        if not _is_real(self.learning_rate) or self.learning_rate <= 0:
            raise SpecError(
                "training.learning_rate", self.learning_rate, "must be a finite number > 0"
            )
        if self.optimizer not in OPTIMIZERS:
            raise SpecError("training.optimizer", self.optimizer, f"known: {', '.join(OPTIMIZERS)}")
        if not _is_real(self.momentum) or not 0 <= self.momentum < 1:
            raise SpecError("training.momentum", self.momentum, "must be a number in [0, 1)")
        if self.momentum and self.optimizer != "momentum":
            # The generated train() refuses it too: a μ that no update uses is a mistake.
            raise SpecError(
                "training.momentum",
                self.momentum,
                f'only optimizer = "momentum" uses it (optimizer is {self.optimizer!r})',
            )
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise SpecError("training.seed", self.seed, f"must be an integer in 0 … {MAX_SEED}")
        if self.dtype not in DTYPES:
            raise SpecError("training.dtype", self.dtype, f"known: {', '.join(DTYPES)}")


@dataclass(frozen=True)
class Network:
    """A feedforward network: input width, layers, loss and L2 weight decay.

    The cost is ``J = C + l2 * sum_l ||W^l||_F^2`` with ``C`` the mean over the batch of
    the per-sample loss; biases are regularised too only when ``regularize_biases``.

    Parameters
    ----------
    inputs
        Number of input units ``n_0``.
    layers
        The layers ``1..L``; the last one is the output layer.
    loss
        One of the registry losses (``mse``, ``half_sse``, ``binary_cross_entropy``,
        ``cross_entropy``).
    l2
        Weight-decay coefficient λ ≥ 0.
    name
        A plain identifier; it names generated modules and files.
    title
        Free text for document titles (escaped wherever it is printed).
    notation
        Notation profile of the documents: ``nielsen``, ``goodfellow`` or ``ng``.
    """

    inputs: int
    layers: tuple[Layer, ...]
    loss: str
    l2: float = 0.0
    regularize_biases: bool = False
    name: str = "network"
    title: str = ""
    notation: str = "nielsen"
    training: Training = field(default_factory=Training)

    def __post_init__(self) -> None:
        if isinstance(self.layers, Iterable) and not isinstance(self.layers, (str, bytes)):
            # One past the limit is enough to refuse, even an endless iterator.
            layers = tuple(itertools.islice(self.layers, MAX_LAYERS + 1))
            object.__setattr__(self, "layers", layers)
        self._validate()

    def _validate(self) -> None:
        if (
            not isinstance(self.name, str)
            or not _IDENTIFIER.match(self.name)
            or keyword.iskeyword(self.name)
        ):
            raise SpecError(
                "name",
                self.name,
                "must be a plain identifier (letters, digits, underscores; not starting "
                "with a digit; not a Python keyword)",
            )
        if len(self.name) > MAX_NAME:
            raise SpecError("name", self.name, f"must be at most {MAX_NAME} characters")
        if self.name in SHADOWED_MODULES or (
            self.name.startswith("__") and self.name.endswith("__")
        ):
            raise SpecError(
                "name",
                self.name,
                "must not be a dunder name or the name of a module the generated code or its "
                "users import (NumPy, symprop, the standard library): NAME.py would shadow it",
            )
        if not isinstance(self.title, str):
            raise SpecError("title", self.title, "must be a string")
        if len(self.title) > MAX_TITLE:
            raise SpecError("title", self.title, f"must be at most {MAX_TITLE} characters")
        _positive_int("inputs", self.inputs, MAX_WIDTH)
        if not isinstance(self.layers, tuple) or not self.layers:
            raise SpecError("layers", self.layers, "at least one layer is required")
        if len(self.layers) > MAX_LAYERS:
            raise SpecError(
                "layers", f"over {MAX_LAYERS} layers", f"at most {MAX_LAYERS} layers are allowed"
            )
        last = len(self.layers) - 1
        for idx, layer in enumerate(self.layers):
            self._validate_layer(idx, layer, last)
        topology = resolve(
            [Node(ly.kind, ly.width, ly.name, ly.inputs) for ly in self.layers], self.inputs
        )
        # Each layer carries its width, whether given or its input's.
        object.__setattr__(
            self,
            "layers",
            tuple(
                ly if ly.width == w else ly._replace(width=w)
                for ly, w in zip(self.layers, topology.widths[1:], strict=True)
            ),
        )
        object.__setattr__(self, "_topology", topology)
        coupled = [ly.kind for ly in self.layers if LAYER_KINDS[ly.kind].batch_coupled]
        if coupled and isinstance(self.training, Training) and self.training.batch_size < 2:
            raise SpecError(
                "training.batch_size",
                self.training.batch_size,
                f"at least 2 ({coupled[0]} normalises over the samples of a batch)",
            )
        if self.n_params > MAX_PARAMS:
            raise SpecError(
                "layers",
                f"widths {'-'.join(map(str, self.widths))}",
                f"the network has {self.n_params:,} parameters; at most {MAX_PARAMS:,} "
                "are allowed (each float64 copy takes 8 bytes per parameter)",
            )
        if self.layers[last].activation == "softmax" and self.layers[last].width < 2:
            raise SpecError(
                f"layers[{last}].width", self.layers[last].width, "softmax needs >= 2 units"
            )
        loss = get_loss(self.loss)
        if loss.output_domain != sp.S.Reals:
            out = self.layers[last]
            rng = derive_activation(out.activation).output_range
            if rng is not None:
                rng = rng.subs(
                    {p.symbol: p.default for p in ACTIVATIONS[out.activation].parameters}
                )
            if rng is None or not rng.is_subset(loss.output_domain):
                shown = "an unknown range" if rng is None else f"range {_interval_text(rng)}"
                raise SpecError(
                    "loss",
                    self.loss,
                    f"{self.loss} needs an output activation with values in "
                    f"{_interval_text(loss.output_domain)}, but {out.activation} has {shown}; "
                    "use sigmoid or softmax on the output layer",
                )
            act = ACTIVATIONS[out.activation]
            if not act.elementwise and not loss.target_is_distribution:
                # No stable form is derived for log(1 − a) of a coupled output: the loss
                # came out 748 instead of 79.3 once the softmax saturated.
                raise SpecError(
                    "loss",
                    self.loss,
                    f"{self.loss} treats the outputs as independent probabilities, which "
                    f"{out.activation} outputs are not (its loss is wrong once they "
                    "saturate); use sigmoid outputs for independent probabilities, or "
                    f"cross_entropy with {out.activation}",
                )
            if act.elementwise and loss.target_is_distribution:
                warnings.warn(
                    f"loss: {self.loss} on {out.activation} outputs drives every output "
                    "towards 1, since they need not sum to 1; use softmax outputs with "
                    f"{self.loss}, or binary_cross_entropy with {out.activation}",
                    SymPropWarning,
                    stacklevel=4,
                )
        if not _is_real(self.l2) or self.l2 < 0:
            raise SpecError("l2", self.l2, "must be a finite number >= 0")
        if not isinstance(self.regularize_biases, bool):
            raise SpecError("regularize_biases", self.regularize_biases, "must be true or false")
        if self.notation not in NOTATIONS:
            raise SpecError("notation", self.notation, f"known notations: {', '.join(NOTATIONS)}")
        if not isinstance(self.training, Training):
            raise SpecError("training", self.training, "must be a Training")

    def _validate_layer(self, idx: int, layer: object, last: int) -> None:
        where = f"layers[{idx}]"
        if not isinstance(layer, Layer):
            raise SpecError(
                where, layer, "must be a Layer (Dense, BatchNorm, LayerNorm, Dropout, Residual)"
            )
        kind = get_layer_kind(layer.kind, f"{where}.kind")
        if layer.width is not None:
            _positive_int(f"{where}.width", layer.width, MAX_WIDTH)
        if layer.name is not None and (
            not isinstance(layer.name, str)
            or not _IDENTIFIER.match(layer.name)
            or len(layer.name) > MAX_NAME
        ):
            raise SpecError(
                f"{where}.name", layer.name, f"a plain identifier of at most {MAX_NAME} characters"
            )
        if not isinstance(layer.inputs, tuple) or not all(isinstance(x, str) for x in layer.inputs):
            raise SpecError(f"{where}.inputs", layer.inputs, "a list of layer names")
        act = get_activation(layer.activation, f"{where}.activation")
        if idx != last and not act.hidden_allowed:
            raise SpecError(
                f"{where}.activation",
                layer.activation,
                f"{layer.activation} is allowed on the output layer only",
            )
        known = {p.name: p for p in act.parameters}
        for pname, pvalue in layer.params:
            if pname not in known:
                raise SpecError(
                    _key(where, pname), pvalue, _parameters_text(layer.activation, kind.name)
                )
            if not _is_real(pvalue) or not known[pname].accepts(pvalue):
                raise SpecError(f"{where}.{pname}", pvalue, known[pname].allowed)
        hyper = {h.name: h for h in kind.hyper_parameters}
        for hname, hvalue in layer.options:
            hyper[hname].check(hvalue, f"{where}.{hname}")

    @property
    def topology(self) -> Topology:
        """The resolved graph of the layers: who reads whom, and the widths."""
        return self._topology  # type: ignore[attr-defined, no-any-return]

    def sources(self, layer: int) -> tuple[int, ...]:
        """The layers layer ``layer`` (1..L) reads, in its kind's input order (0 = input)."""
        return self.topology.sources[layer - 1]

    def consumers(self, layer: int) -> tuple[int, ...]:
        """The layers that read layer ``layer`` (0 = the input)."""
        return self.topology.consumers(layer)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The layer kinds the network uses, in first-use order."""
        return tuple(dict.fromkeys(ly.kind for ly in self.layers))

    @property
    def dense_chain(self) -> bool:
        """True for a plain stack of dense layers (each reads the one before it)."""
        return self.kinds == ("dense",) and self.topology.sequential

    @property
    def depth(self) -> int:
        """Number of layers ``L`` (the input layer is layer 0)."""
        return len(self.layers)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(n_0, n_1, ..., n_L)``."""
        return self.topology.widths

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (weights and biases)."""
        total = 0
        for layer, sizes in zip(self.layers, self.topology.sizes, strict=True):
            bound, kind = dict(sizes), LAYER_KINDS[layer.kind]
            for p in kind.parameters:
                total += math.prod(bound[s] for s in feature_axes(kind, p.operand))
        return total

    def with_widths(self, widths: Iterable[int]) -> Network:
        """The same network with other layer widths (used to instantiate small copies)."""
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Iterable):
            raise SpecError("widths", widths, f"must be {self.depth + 1} integers")
        widths = tuple(itertools.islice(widths, self.depth + 2))
        if len(widths) != self.depth + 1:
            raise SpecError("widths", widths, f"must be {self.depth + 1} integers")
        layers = [
            layer._replace(width=wd if sets_width(LAYER_KINDS[layer.kind]) else None)
            for wd, layer in zip(widths[1:], self.layers, strict=True)
        ]
        # Widths change no warning: this network has given its own, once (the check's
        # small copy repeated it at the CLI).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymPropWarning)
            small = Network(
                inputs=widths[0],
                layers=layers,
                loss=self.loss,
                l2=self.l2,
                regularize_biases=self.regularize_biases,
                name=self.name,
                title=self.title,
                notation=self.notation,
                training=self.training,
            )
        if small.widths != widths:
            raise SpecError(
                "widths",
                widths,
                f"widths the layers allow ({'-'.join(map(str, small.widths))} with these "
                "dense widths: normalisation, dropout and residual layers keep their input's)",
            )
        return small

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data, in the same shape as the TOML format."""
        return {
            "name": self.name,
            "title": self.title,
            "inputs": self.inputs,
            "loss": self.loss,
            "l2": self.l2,
            "regularize_biases": self.regularize_biases,
            "notation": self.notation,
            "layers": [_layer_dict(layer) for layer in self.layers],
            "training": {
                "epochs": self.training.epochs,
                "learning_rate": self.training.learning_rate,
                "batch_size": self.training.batch_size,
                "optimizer": self.training.optimizer,
                "momentum": self.training.momentum,
                "seed": self.training.seed,
                "dtype": self.training.dtype,
            },
        }


def _layer_dict(layer: Layer) -> dict[str, Any]:
    """One layer as its TOML table: only what a user writes (a dense layer's kind is implied,
    a width that follows from the input is left out)."""
    out: dict[str, Any] = {}
    if layer.kind != "dense":
        out["kind"] = layer.kind
    if layer.name is not None:
        out["name"] = layer.name
    if layer.inputs:
        out["inputs"] = list(layer.inputs)
    if sets_width(LAYER_KINDS[layer.kind]):
        out["width"] = layer.width
    out["activation"] = layer.activation
    out.update(dict(layer.options))
    out.update(dict(layer.params))
    return out


_TOP_KEYS = (
    "name",
    "title",
    "inputs",
    "loss",
    "l2",
    "regularize_biases",
    "notation",
    "layers",
    "training",
)
_TRAINING_KEYS = tuple(Training.__dataclass_fields__)


def _key(where: str, key: object) -> str:
    """The field name of ``key`` in table ``where``; a key that is not a plain identifier
    is quoted and bounded (it comes from the user)."""
    if isinstance(key, str) and _IDENTIFIER.match(key) and len(key) <= 40:
        return f"{where}.{key}" if where else key
    return f"{where}[{shown(key, 40)}]"


def _check_keys(where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise SpecError(
                _key(where, key), table[key], f"unknown key; allowed keys: {', '.join(allowed)}"
            )


def spec_from_dict(data: Mapping[str, Any]) -> Network:
    """Build a :class:`Network` from plain data in the TOML layout, rejecting unknown keys."""
    if not isinstance(data, Mapping):
        raise SpecError("spec", data, "must be a table")
    _check_keys("", data, _TOP_KEYS)
    for required in ("inputs", "layers", "loss"):
        if required not in data:
            raise SpecError(required, None, "is required")
    raw_layers = data["layers"]
    if not isinstance(raw_layers, list):
        raise SpecError("layers", raw_layers, "must be an array of tables ([[layers]])")
    layers = []
    for idx, entry in enumerate(raw_layers):
        where = f"layers[{idx}]"
        if not isinstance(entry, Mapping):
            raise SpecError(where, entry, "must be a table with width and activation")
        kind_name = entry.get("kind", "dense")
        kind = get_layer_kind(kind_name, f"{where}.kind")
        act_name = entry.get("activation", "identity")
        act = get_activation(act_name, f"{where}.activation")
        # Unknown keys first: a typo (``widht``) is the error, not the width it hides.
        _check_keys(
            where,
            entry,
            (
                "kind",
                "name",
                "inputs",
                "width",
                "activation",
                *(h.name for h in kind.hyper_parameters),
                *(p.name for p in act.parameters),
            ),
        )
        if sets_width(kind) and "width" not in entry:
            raise SpecError(f"{where}.width", None, "is required")
        inputs = entry.get("inputs")
        if inputs is not None and not (
            isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)
        ):
            raise SpecError(f"{where}.inputs", inputs, "a list of layer names")
        structural = ("kind", "name", "inputs", "width", "activation")
        params = {k: v for k, v in entry.items() if k not in structural}
        layers.append(
            Layer(
                kind_name,
                entry.get("width"),
                act_name,
                params,
                name=entry.get("name"),
                inputs=inputs,
            )
        )
    training_data = data.get("training", {})
    if not isinstance(training_data, Mapping):
        raise SpecError("training", training_data, "must be a table")
    _check_keys("training", training_data, _TRAINING_KEYS)
    kwargs = {
        k: data[k] for k in ("name", "title", "l2", "regularize_biases", "notation") if k in data
    }
    return Network(
        inputs=data["inputs"],
        layers=layers,
        loss=data["loss"],
        training=Training(**training_data),
        **kwargs,
    )


def load_spec(path: str | Path) -> Network:
    """Read a network spec from a TOML file.

    Raises
    ------
    SpecError
        For any invalid field or unknown key.
    SymPropError
        For a file that cannot be read (see :func:`symprop.core.files.read_text`: at most 4 MiB,
        a regular file) or malformed TOML (with line and column).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise SpecError("path", path, "must be a str or a path-like object")
    where = shown_path(path)
    data = parse_toml(read_text(path, "spec file"), where)
    try:
        return spec_from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc.field}", exc.value, exc.allowed) from None


def parse_toml(text: str, where: str = "") -> dict[str, Any]:
    """``tomllib.loads`` with every failure as one :class:`SymPropError` line naming
    ``where``: malformed TOML (line and column), nesting too deep for the parser, an
    integer over Python's 4300-digit limit."""
    prefix = f"{where}: malformed TOML" if where else "malformed TOML"
    # A UTF-8 byte-order mark (some Windows editors write one) is no TOML statement.
    text = text.removeprefix("\ufeff")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).encode("ascii", "backslashreplace").decode("ascii")
        raise SymPropError(f"{prefix}: {message[:200]}") from None
    except RecursionError:
        raise SymPropError(f"{prefix}: arrays or tables nested too deeply") from None
    except ValueError:  # int() refuses over 4300 digits
        raise SymPropError(
            f"{prefix}: a value out of range (an integer over 4300 digits?)"
        ) from None


def default_network() -> Network:
    """The built-in default: a digit classifier, 64-128-64-10, ReLU then softmax."""
    return Network(
        inputs=64,
        layers=(Dense(128, "relu"), Dense(64, "relu"), Dense(10, "softmax")),
        loss="cross_entropy",
        l2=1e-4,
        name="digits",
        title="Digit classifier (8x8 images, 10 classes)",
        training=Training(
            epochs=40, learning_rate=0.05, batch_size=32, optimizer="momentum", momentum=0.9
        ),
    )
