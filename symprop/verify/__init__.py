"""Checking hand derivations against brute-force differentiation."""

from symprop.verify.engine import (
    Setting,
    Verdict,
    VerifyError,
    extract_claims,
    verify_claim,
    verify_claims,
)

__all__ = ["Setting", "Verdict", "VerifyError", "extract_claims", "verify_claim", "verify_claims"]
