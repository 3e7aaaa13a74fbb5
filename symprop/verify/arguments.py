"""The arguments of a claim about a function: ``g(z) = …``, ``g'(z) = g(z)(1 - g(z))``.

Seed 004 states the sigmoid and its derivative as ``g(z) = \\frac{1}{1+e^{-z}}`` inside a
network setting. There ``z`` is the function's argument, a free scalar, not the network's
pre-activation (which would need a layer label in a network of several layers): the claim is
an identity in ``z``. A claim is read so when its first link's left side is a call whose
arguments are bare names (no label, index, prime or decoration) and no other name in the
whole claim is a letter of the notation's network quantities, so a claim that mixes the
argument with network quantities (``σ(z) = a``) keeps its network reading.
"""

from __future__ import annotations

from collections.abc import Collection

from symprop.parsing import Call, Derivation, Equation, Expr, Limit, Name, iter_nodes


def _bare(node: Expr) -> bool:
    return (
        isinstance(node, Name)
        and not (node.sub or node.sup or node.primes or node.decorations)
        and node.base not in ("pi", "e")
    )


def function_arguments(
    claim: Expr, network_letters: Collection[str], declared: Collection[str]
) -> frozenset[str]:
    """The keys of the names that are a function claim's arguments (free scalars).

    Parameters
    ----------
    claim
        The claim (a :class:`~symprop.parsing.tree.Derivation`, an equation or a side).
    network_letters
        The bases the notation reads as network quantities (``z``, ``a``, ``W`` …).
    declared
        Keys the setting declares (definitions, shapes, values): never arguments.

    Returns
    -------
    frozenset of str
        Empty unless the claim is a claim about a function (see the module docstring).
    """
    links = claim.links if isinstance(claim, Derivation) else (claim,)
    first = links[0] if links else None
    if not isinstance(first, Equation) or not isinstance(first.lhs, Call):
        return frozenset()
    args = first.lhs.args
    if not args or not all(_bare(a) for a in args):
        return frozenset()
    params = {a.key for a in args if isinstance(a, Name)} - set(declared)
    if not params:
        return frozenset()
    heads = {id(c.func) for c in iter_nodes(claim) if isinstance(c, Call)}
    bound = {n.var.key for n in iter_nodes(claim) if isinstance(n, Limit)}
    for node in iter_nodes(claim):
        if not isinstance(node, Name) or id(node) in heads or node.key in params:
            continue
        if node.key in bound or node.key in declared:
            continue
        if node.base in network_letters:
            return frozenset()  # the claim speaks of network quantities too
    return frozenset(params)
