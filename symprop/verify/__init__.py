"""Checking hand derivations against brute-force differentiation.

The package works in stages, one module each: :mod:`~symprop.verify.claims` finds and parses
claims (:mod:`~symprop.verify.claims_file` reads a claims file's setting and
:mod:`~symprop.verify.declare` its declarations), :mod:`~symprop.verify.notation` maps their
names to network quantities,
:mod:`~symprop.verify.setting` holds the setting and the small explicit network,
:mod:`~symprop.verify.evaluate` instantiates a side on it, :mod:`~symprop.verify.numeric`
compares two sides, :mod:`~symprop.verify.diagnose` builds the correct formula and the known
mistakes, :mod:`~symprop.verify.render` writes formulas in the claim's notation,
:mod:`~symprop.verify.report` holds verdicts and their text and JSON, and
:mod:`~symprop.verify.check` drives one claim through all of them
(:mod:`~symprop.verify.kinds` checks claims about one layer kind's gradients); every stage raises
:class:`~symprop.verify.errors.VerifyError` for a claim it cannot check.
"""

from __future__ import annotations

from symprop.verify.check import verify_claim, verify_claims
from symprop.verify.claims import claim_text, extract_claims
from symprop.verify.claims_file import (
    ClaimsFile,
    SettingOptions,
    command_line_options,
    load_claims,
    parse_claims_text,
    read_claims_file,
)
from symprop.verify.diagnose import DIAGNOSES
from symprop.verify.errors import VerifyError
from symprop.verify.kinds import verify_kind_claim, verify_kind_claims
from symprop.verify.notation import NUMBERINGS
from symprop.verify.report import Counterexample, Verdict, error_line, verdicts_json
from symprop.verify.setting import MAX_CLAIMS, MAX_DEPTH, MAX_EXPR_NODES, Setting

__all__ = [
    "DIAGNOSES",
    "MAX_CLAIMS",
    "MAX_DEPTH",
    "MAX_EXPR_NODES",
    "NUMBERINGS",
    "ClaimsFile",
    "Counterexample",
    "Setting",
    "SettingOptions",
    "Verdict",
    "VerifyError",
    "claim_text",
    "command_line_options",
    "error_line",
    "extract_claims",
    "load_claims",
    "parse_claims_text",
    "read_claims_file",
    "verdicts_json",
    "verify_claim",
    "verify_claims",
    "verify_kind_claim",
    "verify_kind_claims",
]
