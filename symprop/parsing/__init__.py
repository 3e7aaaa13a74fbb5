"""Parsing claims and expressions (Lark grammars, whitelisted SymPy constructors)."""
