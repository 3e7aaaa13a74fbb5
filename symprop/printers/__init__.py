"""Printers: math becomes text only here (terminal Unicode, LaTeX)."""
