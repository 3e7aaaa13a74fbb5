"""How a generated module checks its own gradients: the settings of ``gradient_check``.

Backend-neutral data: a module's ``gradient_check(params, X, Y, eps=...)`` compares
``gradients`` with central differences (J(θ + ε e_i) − J(θ − ε e_i)) / 2ε, coordinate by
coordinate up to :attr:`GradientCheck.exhaustive` parameters and along
:attr:`GradientCheck.directions` random unit directions beyond, and returns the largest
relative error |g − g̃| / max(|g|, |g̃|, floor). The derivation documents print these
values; a test holds every generated module's defaults to them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GRADIENT_CHECK", "GradientCheck"]


@dataclass(frozen=True)
class GradientCheck:
    """The settings of a generated module's ``gradient_check``."""

    eps: float  # the default step ε of the central difference
    floor: float  # the relative error's denominator never falls below this
    exhaustive: int  # every coordinate is checked up to this many parameters
    directions: int  # random unit directions checked beyond that
    tolerance: float  # a correct float64 gradient's largest relative error stays below this
    kinds_tolerance: float  # the same for a module of layer kinds (normalisation, dropout)


GRADIENT_CHECK = GradientCheck(
    eps=1e-6, floor=1e-8, exhaustive=2000, directions=20, tolerance=1e-7, kinds_tolerance=1e-6
)
