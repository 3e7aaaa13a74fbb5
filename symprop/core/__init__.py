"""Shared foundations: errors, files, templating, registry, specs, symbols, calculus, notation."""
