"""symprop derive --graph at the edges of the activations and losses: a kink is named in a
warning, and a loss that is finite is computed even where 30 digits would round it away."""

from __future__ import annotations

import json
from pathlib import Path

import mpmath
import pytest

from symprop.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "examples" / "relu_sigmoid.toml")


def _derive_graph(capsys: pytest.CaptureFixture[str], out: Path, at: str) -> tuple[int, str]:
    try:
        main(["derive", SPEC, "--graph", str(out), "--at", at])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_relu_kink_is_named_in_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # x = 0 and b1 = 0 put every pre-activation of layer 1 on ReLU's kink at 0.
    code, err = _derive_graph(capsys, tmp_path / "g.json", "x=[0,0],b1=[0,0,0]")
    assert code == 0
    assert err.splitlines()[0] == (
        "warning: --at puts z1[1], z1[2], z1[3] = 0 on the kink of relu in layer 1, where it has no "
        "derivative; the graph uses relu' = 0, the slope of the branch that holds the kink"
    )


def test_no_warning_away_from_the_kink(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = _derive_graph(capsys, tmp_path / "g.json", "x=[0.9,-0.7]")
    assert code == 0 and "warning" not in err


@pytest.mark.parametrize("w", [6, 20])
def test_cross_entropy_far_out_is_defined(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, w: int
) -> None:
    # z3 = 9 (2w + 1) = 117 or 369 with y = 0: the loss is log(1 + e^z3) (about z3), and
    # its gradient with respect to z3 is sigmoid(z3), about 1. At 30 digits sigmoid(z3)
    # rounded to 1 and the loss came out "not defined".
    ones = "[[1,1,1],[1,1,1],[1,1,1]]"
    at = (
        f"x=[1,1],b1=[1,1,1],W1=[[{w},{w}],[{w},{w}],[{w},{w}]],W2={ones},b2=[0,0,0],"
        "W3=[[1,1,1]],b3=[0],y=[0]"
    )
    code, err = _derive_graph(capsys, tmp_path / "g.json", at)
    assert code == 0, err
    nodes = {n["name"]: n for n in json.loads((tmp_path / "g.json").read_text())["nodes"]}
    z3 = 9 * (2 * w + 1)
    assert nodes["z3"]["value"] == [z3]
    assert nodes["C"]["value"] == float(mpmath.log1p(mpmath.exp(z3)))
    assert nodes["z3"]["gradient"] == [float(1 / (1 + mpmath.exp(-z3)))]
