"""Safe parsing of user formulas into a typed AST, and from the AST to SymPy.

One module per job: :mod:`~symprop.parsing.tree` holds the AST and the limits,
:mod:`~symprop.parsing.grammar` the Lark grammars and the pre-parse scan,
:mod:`~symprop.parsing.transform` (shared and plain syntax) and :mod:`~symprop.parsing.latex`
(LaTeX) turn Lark trees into the AST, :mod:`~symprop.parsing.parser` holds the parse
functions and the bounds on constants, :mod:`~symprop.parsing.chain` splits a claim of
several equations into the links of a :class:`Derivation`, and
:mod:`~symprop.parsing.building` builds SymPy objects from the AST with a whitelist.
"""

from __future__ import annotations

from symprop.parsing.building import KNOWN_FUNCTIONS, Norm2, to_sympy
from symprop.parsing.chain import parse_derivation
from symprop.parsing.parser import parse, parse_latex, parse_plain
from symprop.parsing.tree import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_LINKS,
    MAX_NESTING,
    MAX_NODES,
    BinOp,
    Call,
    Derivation,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Indicator,
    Limit,
    Name,
    Neg,
    Norm,
    Number,
    Piecewise,
    Relation,
    Transpose,
    iter_nodes,
)

__all__ = [
    "Derivation",
    "Indicator",
    "Limit",
    "Piecewise",
    "Relation",
    "KNOWN_FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_LINKS",
    "MAX_NESTING",
    "MAX_NODES",
    "BinOp",
    "Call",
    "Derivative",
    "Equation",
    "Expr",
    "IndexSum",
    "Name",
    "Neg",
    "Norm",
    "Norm2",
    "Number",
    "Transpose",
    "iter_nodes",
    "parse",
    "parse_derivation",
    "parse_latex",
    "parse_plain",
    "to_sympy",
]
