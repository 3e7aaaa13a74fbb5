"""The claims suite of issue 17: claims as the seeds and textbooks write them, each verdict
proven by an independent oracle (``tests/claim_oracle.py``), and ``symprop verify`` held to it.

Data: ``tests/claims/*.toml``. A file holds named settings (``[setting.NAME]``: the front
matter of a claims file in ``front`` or a seed file's in ``file``, the body's ``let`` lines in
``lets``, and the oracle's world in ``oracle``) and claims (``[[claim]]``: ``id``, ``setting``,
``text``, the expected ``status``, ``pair`` (the group of a claim's true and false forms) and
the ``oracle`` construction of both sides). ``tests/claims/xfail.toml`` lists the claims the
verifier still gets wrong or cannot read, each with its owner and what symprop said; they are
strict xfails, so a fix shows up as an unexpected pass.

Three checks per claim: the oracle decides the expected status (always, independently of
symprop); symprop, run as a user runs it (a claims file with front matter through
``symprop verify --json``), gives that status; and each seed's claims file in
``examples/claims/`` gives each of its claims the status held here.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from claim_oracle import decide
from click.testing import CliRunner

from symprop.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "claims"
EXAMPLES = ROOT / "examples" / "claims"
STATUSES = ("holds", "fails", "ambiguous", "refused", "error")


# ---------------------------------------------------------------- the data


def _load() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    settings: dict[str, dict[str, Any]] = {}
    claims: list[dict[str, Any]] = []
    for path in sorted(DATA.glob("*.toml")):
        if path.name == "xfail.toml":
            continue
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for name, setting in data.get("setting", {}).items():
            assert name not in settings, f"setting {name} defined twice"
            settings[name] = setting
        for claim in data.get("claim", []):
            claim = {**claim, "group": path.stem}
            claims.append(claim)
    return settings, claims


SETTINGS, CLAIMS = _load()
XFAIL: dict[str, str] = tomllib.loads((DATA / "xfail.toml").read_text(encoding="utf-8")).get(
    "xfail", {}
)


def _world(claim: dict[str, Any]) -> dict[str, Any]:
    return SETTINGS[claim["setting"]].get("oracle", {"world": "calc"})


def _params(claims: list[dict[str, Any]], prefix: str = "") -> list[Any]:
    out = []
    for claim in claims:
        key = prefix + claim["id"]
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[key])] if key in XFAIL else []
        out.append(pytest.param(claim, id=claim["id"], marks=marks))
    return out


# ---------------------------------------------------------------- writing claims files


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "'" not in value and "\n" not in value:
            return f"'{value}'"
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def front_matter(keys: dict[str, Any]) -> str:
    """TOML text of a claims file's front matter (scalars first, then tables); a ``spec``
    path in the data is relative to the repository and is written absolute."""
    if "spec" in keys:
        keys = {**keys, "spec": str(ROOT / keys["spec"])}
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in keys.items() if not isinstance(v, dict)
    ]
    for name, table in keys.items():
        if isinstance(table, dict):
            lines.append(f"[{_toml_key(name)}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines)


def _file_front(path: Path) -> tuple[str, list[str]]:
    """A seed file's front matter (its spec made absolute) and its ``let`` lines."""
    text = path.read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, f"{path.name} has no front matter"
    front = re.sub(
        r'^spec = "([^"]+)"',
        lambda m: f"spec = {json.dumps(str((path.parent / m.group(1)).resolve()))}",
        match.group(1),
        flags=re.M,
    )
    lets = [line for line in text[match.end() :].splitlines() if re.match(r"\s*-?\s*let\b", line)]
    return front, lets


def claims_file(claim: dict[str, Any]) -> str:
    """The Markdown claims file a user writes for this one claim."""
    setting = SETTINGS[claim["setting"]]
    if "file" in setting:
        front, lets = _file_front(ROOT / setting["file"])
    elif "raw_front" in setting:
        front, lets = setting["raw_front"], list(setting.get("lets", []))
    else:
        front, lets = front_matter(setting.get("front", {})), list(setting.get("lets", []))
    head = f"---\n{front}\n---\n\n" if front.strip() else ""
    body = "\n".join([*lets, f"- ${claim['text']}$"])
    return head + body + "\n"


def _status_of(entry: dict[str, Any]) -> str:
    if entry.get("status") in STATUSES:
        return entry["status"]
    if entry.get("ok") is None:
        return "error"
    return "holds" if entry["ok"] else "fails"


def run_verify(path: Path) -> tuple[int, list[dict[str, Any]], str]:
    """``symprop verify PATH --json``: exit code, the claims' entries, stderr."""
    result = CliRunner().invoke(cli, ["verify", str(path), "--json"])
    try:
        entries = json.loads(result.stdout)["claims"]
    except (ValueError, KeyError, TypeError):
        entries = []
    return result.exit_code, entries, result.stderr


def symprop_status(claim: dict[str, Any], tmp_path: Path) -> tuple[str, dict[str, Any], str]:
    path = tmp_path / "claims.md"
    path.write_text(claims_file(claim), encoding="utf-8")
    code, entries, err = run_verify(path)
    if not entries:
        return "error", {}, err.strip()
    return _status_of(entries[0]), entries[0], err.strip()


def _agrees(expected: str, got: str) -> bool:
    # A unit or layer the network does not have: refused (exit 2) or ✗ with the reason,
    # never ✓.
    if expected == "refused":
        return got in ("error", "fails")
    return expected == got


def _first_false_link(entry: dict[str, Any]) -> int | None:
    links = entry.get("links") or []
    for idx, link in enumerate(links, start=1):
        if _status_of(link) != "holds":
            return idx
    return None


# ---------------------------------------------------------------- the suite's own shape


def test_the_suite_is_large_and_covers_both_forms() -> None:
    """At least 150 claims; every claim has a true and a false form (its pair group)."""
    assert len(CLAIMS) >= 150, len(CLAIMS)
    ids = [c["id"] for c in CLAIMS]
    assert len(ids) == len(set(ids)), "claim ids repeat"
    groups: dict[str, set[str]] = defaultdict(set)
    for c in CLAIMS:
        assert c["status"] in STATUSES, c["id"]
        assert c["setting"] in SETTINGS, c["id"]
        groups[c.get("pair", c["id"])].add(c["status"])
    lonely = [
        g
        for g, statuses in groups.items()
        if statuses & {"holds", "fails"}
        and not {"holds", "fails"} <= statuses
        and "ambiguous" not in statuses
    ]
    assert not lonely, f"pair groups without both a true and a false form: {lonely}"
    stale = set(XFAIL) - {c["id"] for c in CLAIMS} - {"file:" + c["id"] for c in CLAIMS}
    assert not stale, f"xfail entries for claims that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("claim", [pytest.param(c, id=c["id"]) for c in CLAIMS])
def test_oracle_decides_the_expected_status(claim: dict[str, Any]) -> None:
    """The expected status is the oracle's: SymPy on the claim's own definitions."""
    decision = decide(claim["oracle"], _world(claim))
    assert decision.status == claim["status"], decision
    if "first_false" in claim:
        assert decision.first_false == claim["first_false"], decision


SINGLE = [c for c in CLAIMS if "file" not in SETTINGS[c["setting"]]]
SEEDED = [c for c in CLAIMS if "file" in SETTINGS[c["setting"]]]


@pytest.mark.parametrize("claim", _params(SINGLE))
def test_symprop_gives_the_oracles_status(claim: dict[str, Any], tmp_path: Path) -> None:
    """``symprop verify`` on a claims file holding the claim and its declared setting."""
    got, entry, err = symprop_status(claim, tmp_path)
    assert _agrees(claim["status"], got), (
        f"expected {claim['status']}, symprop said {got}: {entry or err}"
    )
    if claim["status"] == "fails" and "first_false" in claim and entry.get("links"):
        assert _first_false_link(entry) == claim["first_false"], entry


# ---------------------------------------------------------------- the seeds' claims files


@cache
def _seed_run(name: str) -> tuple[int, tuple[tuple[str, str], ...], str]:
    code, entries, err = run_verify(EXAMPLES / name)
    return code, tuple((e.get("claim", ""), _status_of(e)) for e in entries), err


def test_each_seed_file_holds_exactly_its_listed_claims() -> None:
    """Every claim of a seed file is in the suite's data, and every seeded claim is in its file."""
    for path in sorted(EXAMPLES.glob("seed*.md")):
        text = path.read_text(encoding="utf-8")
        written = [
            m.group(1).strip()
            for m in re.finditer(r"^\s*- \$(?!\s*let\b)(.+)\$\s*$", text, re.M)
            if not m.group(1).lstrip().startswith("let ")
        ]
        listed = [
            c["text"].strip()
            for c in SEEDED
            if Path(SETTINGS[c["setting"]]["file"]).name == path.name
        ]
        assert written == listed, path.name


def test_symprop_reads_from_each_seed_file_exactly_its_listed_claims() -> None:
    """No prose line of a seed file is taken for a claim (a sentence with an '=' in it made
    `symprop verify examples/claims/seed002_ng.md` exit 2), and no listed claim is missed."""
    for path in sorted(EXAMPLES.glob("seed*.md")):
        _, results, _ = _seed_run(path.name)
        listed = [
            c["text"].strip()
            for c in SEEDED
            if Path(SETTINGS[c["setting"]]["file"]).name == path.name
        ]
        assert [text.strip() for text, _ in results] == listed, path.name


@pytest.mark.parametrize("claim", _params(SEEDED, prefix="file:"))
def test_seed_file_gives_each_claim_its_status(claim: dict[str, Any]) -> None:
    """``symprop verify examples/claims/seedNNN_….md``: each claim's status as proven here."""
    name = Path(SETTINGS[claim["setting"]]["file"]).name
    code, results, err = _seed_run(name)
    found = [status for text, status in results if text.strip() == claim["text"].strip()]
    assert found, f"symprop reported no verdict for this claim (exit {code}: {err.strip()})"
    assert _agrees(claim["status"], found[0]), (
        f"expected {claim['status']}, symprop said {found[0]}"
    )


# ---------------------------------------------------------------- one reading per run

_AUTO = SETTINGS["nielsen_auto"]
_ONLY_INPUT0 = r"\delta^{3} = (a^{3} - y) \odot \sigma'(z^{3})"
_ONLY_INPUT1 = r"\frac{\partial C}{\partial W^{4}} = \delta^{4} (a^{3})^T"


def test_oracle_two_claims_need_contradictory_numberings() -> None:
    """The first claim holds only with the input as layer 0 (layer 3 is the output), the
    second is readable only with the input as layer 1 (W⁴ exists only then)."""
    world = _AUTO["oracle"]
    first = {"lhs": "delta(3)", "rhs": "had(a(3) - y(), dphi(3))"}
    second = {"lhs": "dCdW(4)", "rhs": "delta(4)*a(3).T"}
    assert decide({**first, "world": {"first": 0}}, world).status == "holds"
    assert decide({**first, "world": {"first": 1}}, world).status == "fails"
    assert decide({**second, "world": {"first": 1}}, world).status == "holds"
    assert decide({**second, "world": {"first": 0}}, world).status == "refused"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            "run",
            id="numbering-consistency",
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL["run/numbering-consistency"])]
            if "run/numbering-consistency" in XFAIL
            else [],
        )
    ],
)
def test_auto_numbering_never_accepts_both_readings_in_one_run(case: str, tmp_path: Path) -> None:
    """--numbering auto: one numbering for the run, so the two claims are never both ✓."""
    path = tmp_path / "claims.md"
    body = f"- ${_ONLY_INPUT0}$\n- ${_ONLY_INPUT1}$\n"
    path.write_text(f"---\n{front_matter(_AUTO['front'])}\n---\n\n{body}", encoding="utf-8")
    code, entries, err = run_verify(path)
    assert len(entries) == 2, err
    statuses = [_status_of(e) for e in entries]
    assert statuses != ["holds", "holds"], entries
    assert code != 0


def test_readme_shows_each_seed_file() -> None:
    """The README's verify section gives the command for every seed's claims file."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Checking hand derivations") :]
    section = section[: section.index("\n## ")]
    for path in sorted(EXAMPLES.glob("seed*.md")):
        assert f"symprop verify examples/claims/{path.name}" in section, path.name
