"""Derivation documents: LaTeX, PDF and Markdown."""
