"""Compiled (Numba) backend: a training module whose epochs run in ``numba.njit`` code."""
