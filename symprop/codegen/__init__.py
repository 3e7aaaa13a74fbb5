"""Code generation from a proven derivation."""
