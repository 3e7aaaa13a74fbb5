"""The numbers of a document's worked example: one sample through the network.

:func:`worked_example` runs the computation graph of ``symprop derive --graph``
(:func:`symprop.explain.network.explain_network`: the same sample and parameters, tenths drawn
from a seeded generator, and the same backprop engine at 30 digits), then one gradient-descent
step with the spec's learning rate and the objective at the same sample after it. Nothing
here is printed: :mod:`symprop.documents.worked` prints it.

A network wider than the graph draws (:data:`~symprop.explain.network.MAX_UNITS` units) is
worked on a narrowed copy: the same layers, activations, loss and weight decay with at most
that many units per layer, so every number of the example can be printed and checked by
hand; the copy's numbers are those ``symprop derive --graph`` draws for it. A network deeper
than the graph draws runs on the same engine without the picture.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symprop.core.errors import SpecError
from symprop.core.spec import Network
from symprop.explain.backward import PRECISION, Backprop, backprop, forward
from symprop.explain.graph import Value, graph_from_assignments
from symprop.explain.network import (
    MAX_UNITS,
    check_drawable,
    default_point,
    explain_network,
    network_assignments,
    samples,
)

__all__ = ["WorkedExample", "narrowed", "worked_example"]


@dataclass(frozen=True)
class WorkedExample:
    """Forward values, gradients and one update of one sample, as exact-input numbers.

    Attributes
    ----------
    network
        The network the numbers belong to: the spec's, or its narrowed copy.
    narrowed
        Whether ``network`` is a narrowed copy of the spec's network.
    drawn
        Whether ``symprop derive --graph`` draws this network (its numbers are then those
        of the picture and its JSON, node for node).
    learning_rate
        The step size of the update (the spec's ``training.learning_rate``).
    result
        Values and gradients of every node of the computation graph (node names ``x``,
        ``W1``, ``z1``, ``a1``, … ``C``, ``R``, ``J``).
    updated
        Each parameter after one gradient-descent step, by node name.
    objective_after
        The graph's output (``J``, or ``C`` without weight decay) at the same sample after
        the step.
    """

    network: Network
    narrowed: bool
    drawn: bool
    learning_rate: float
    result: Backprop
    updated: Mapping[str, Value]
    objective_after: sp.Float

    @property
    def output(self) -> str:
        """The graph's output node: ``J`` with weight decay, else ``C``."""
        return self.result.graph.output


def narrowed(network: Network, width: int = MAX_UNITS) -> Network:
    """``network`` with every layer (inputs included) at most ``width`` units wide.

    Layers whose kind keeps its input's width stay as they are; equal widths stay equal, so
    every connection of the spec (a residual add) remains valid.
    """
    layers = tuple(
        layer._replace(width=min(layer.width, width)) if layer.width is not None else layer
        for layer in network.layers
    )
    return Network(
        inputs=min(network.inputs, width),
        layers=layers,
        loss=network.loss,
        l2=network.l2,
        regularize_biases=network.regularize_biases,
        name=network.name,
        title=network.title,
        notation=network.notation,
        training=network.training,
    )


def _backprop(network: Network) -> tuple[Backprop, bool]:
    """The graph's backprop at the default sample, and whether ``derive --graph`` draws it."""
    try:
        check_drawable(network)
    except SpecError:
        # Too deep to draw: the same steps, sample and engine, without the picture's limits.
        graph = graph_from_assignments(
            network_assignments(network, "coarse"), "coarse", max_nodes=10_000
        )
        point = default_point(network)
        return backprop(graph, {name: point[name] for name in graph.inputs}), False
    return explain_network(network), True


@functools.lru_cache(maxsize=8)  # a LaTeX and a Markdown document of one derivation share it
def worked_example(network: Network, parameters: tuple[str, ...]) -> WorkedExample | None:
    """One sample through ``network`` (or its narrowed copy), then one update.

    Parameters
    ----------
    network
        The spec's network.
    parameters
        The graph names of the trained parameters (``W1``, ``b1``, ``gamma3``…), in the
        order the derivation lists their gradients.

    Returns
    -------
    WorkedExample or None
        None when a layer kind couples the samples of a batch (batch normalisation): its
        graph carries a batch, and there is no one-sample example.
    """
    if samples(network) != 1:
        return None
    wide = network.inputs > MAX_UNITS or any(
        layer.width is not None and layer.width > MAX_UNITS for layer in network.layers
    )
    worked = narrowed(network) if wide else network
    result, drawn = _backprop(worked)
    rate = worked.training.learning_rate
    eta = sp.Float(repr(float(rate)), PRECISION)
    point = {name: result.values[name] for name in result.graph.inputs}
    updated = {
        name: sp.ImmutableMatrix(result.values[name] - eta * result.grads[name])
        for name in parameters
    }
    after = forward(result.graph, {**point, **updated})[result.graph.output]
    return WorkedExample(
        network=worked,
        narrowed=wide,
        drawn=drawn,
        learning_rate=float(rate),
        result=result,
        updated=updated,
        objective_after=sp.Float(after, PRECISION),
    )
