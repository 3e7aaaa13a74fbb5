"""Code generation from a proven derivation.

:mod:`symprop.codegen.model` builds what a training module computes (backend-neutral SymPy
and data) and :mod:`symprop.codegen.stable` rewrites formulas into forms that stay finite;
each backend (:mod:`symprop.codegen.numpy`) only prints that model.
"""
