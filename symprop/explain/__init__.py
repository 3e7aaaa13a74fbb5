"""Computation graphs with worked numbers."""
