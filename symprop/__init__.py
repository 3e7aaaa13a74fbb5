"""symprop: symbolic backpropagation, proven by SymPy.

The pipeline: a network *spec* (:mod:`symprop.core.spec`) becomes a symbolic *graph*
(:mod:`symprop.core.symbols`), from which the *derivation* (:mod:`symprop.derivation.build`)
derives, simplifies and proves every backprop formula; *emitters* turn a derivation into
documents and code.

>>> from symprop import Network, Dense, derive
>>> d = derive(Network(inputs=2, layers=[Dense(2, "tanh"), Dense(1, "sigmoid")],
...                    loss="binary_cross_entropy"))
>>> d.canonical
True

Errors: a wrong value or a wrong type of argument to any public function raises a
:class:`SymPropError` subclass (:class:`SpecError` for specs, :class:`ParseError` for claim
and expression text, ``symprop.verify.VerifyError`` for verify's other inputs) whose message
is one bounded line; only a call that breaks Python's calling contract (a missing, extra or
unknown argument) raises ``TypeError``, as Python raises it. ``Derivation.step`` with an
unknown id raises a ``SymPropError`` that is also a ``KeyError``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from symprop.core.errors import ParseError, SpecError, SymPropError
from symprop.core.layers import LAYER_KINDS
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import (
    BatchNorm,
    Dense,
    Dropout,
    Layer,
    LayerNorm,
    Network,
    Residual,
    Training,
    default_network,
    load_spec,
)
from symprop.derivation.build import Derivation, Step, derive

try:
    __version__ = version("symprop")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0"

# The namespace is __all__ plus the subpackages: the helpers above are not API.
del annotations, PackageNotFoundError, version

__all__ = [
    "ACTIVATIONS",
    "LAYER_KINDS",
    "LOSSES",
    "BatchNorm",
    "Dense",
    "Derivation",
    "Dropout",
    "Layer",
    "LayerNorm",
    "Network",
    "ParseError",
    "Residual",
    "SpecError",
    "Step",
    "SymPropError",
    "Training",
    "__version__",
    "default_network",
    "derive",
    "load_spec",
]
