"""Derivations: typed steps built from the registry and proven against brute force."""
