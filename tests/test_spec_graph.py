"""Specs of networks of layer kinds: the graph of layers, widths that follow from the kinds,
the TOML format, and one line per invalid graph (exit 2 at the CLI)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from symprop import (
    BatchNorm,
    Dense,
    Dropout,
    Layer,
    LayerNorm,
    Network,
    Residual,
    SpecError,
    Training,
)
from symprop.core.spec import parse_toml, spec_from_dict


def _net(layers: list[Layer], **overrides: object) -> Network:
    kwargs: dict[str, object] = {"inputs": 4, "layers": layers, "loss": "mse"}
    kwargs.update(overrides)
    return Network(**kwargs)  # type: ignore[arg-type]


BLOCK = [
    Dense(8, "relu", name="h1"),
    BatchNorm("relu"),
    Dense(8),
    LayerNorm(),
    Residual("h1", "tanh"),
    Dropout(0.2),
    Dense(3, "softmax"),
]


def test_widths_follow_the_kinds_and_sources_form_the_graph() -> None:
    net = _net(BLOCK, loss="cross_entropy")
    assert net.widths == (4, 8, 8, 8, 8, 8, 8, 3)
    # Layer 5 (the residual) adds layer 1's output (the skip) to layer 4's (the branch).
    assert net.sources(5) == (1, 4)
    assert net.consumers(1) == (2, 5)  # h1 fans out
    assert [net.consumers(layer) for layer in (2, 3, 4, 6)] == [(3,), (4,), (5,), (7,)]
    assert net.kinds == ("dense", "batch_norm", "layer_norm", "residual", "dropout")
    assert not net.dense_chain and _net([Dense(3), Dense(1)]).dense_chain
    assert net.layers[1].width == 8  # a width-preserving kind carries its input's
    assert net.layers[5].option_values() == {"p": 0.2}
    assert net.layers[1].option_values() == {"eps": 1e-5, "momentum": 0.1}


def test_parameter_count_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    net = _net(BLOCK, loss="cross_entropy")
    modules = [
        torch.nn.Linear(4, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.Linear(8, 8),
        torch.nn.LayerNorm(8),
        torch.nn.Linear(8, 3),
    ]
    assert net.n_params == sum(p.numel() for mod in modules for p in mod.parameters())


def test_toml_round_trip_and_the_python_api_agree() -> None:
    text = """
inputs = 4
loss = "cross_entropy"
[[layers]]
name = "h1"
width = 8
activation = "relu"
[[layers]]
kind = "batch_norm"
activation = "relu"
[[layers]]
width = 8
[[layers]]
kind = "layer_norm"
[[layers]]
kind = "residual"
inputs = ["h1"]
activation = "tanh"
[[layers]]
kind = "dropout"
p = 0.2
[[layers]]
width = 3
activation = "softmax"
"""
    net = spec_from_dict(parse_toml(text))
    assert net == _net(BLOCK, loss="cross_entropy")
    assert spec_from_dict(net.to_dict()) == net
    # Only what a user writes: a dense layer's kind is implied, a kept width left out.
    assert net.to_dict()["layers"][1] == {"kind": "batch_norm", "activation": "relu"}


def test_residual_with_two_named_inputs_is_the_same_graph() -> None:
    one = _net([Dense(4, name="a"), Dense(4, name="b"), Residual("a")])
    two = _net([Dense(4, name="a"), Dense(4, name="b"), Residual(["a", "b"])])
    assert one.sources(3) == two.sources(3) == (1, 2)


def test_with_widths_keeps_the_kinds_and_refuses_what_they_do_not_allow() -> None:
    net = _net(BLOCK, loss="cross_entropy")
    small = net.with_widths((2, 3, 3, 3, 3, 3, 3, 2))
    assert small.widths == (2, 3, 3, 3, 3, 3, 3, 2)
    assert [ly.kind for ly in small.layers] == [ly.kind for ly in net.layers]
    with pytest.raises(SpecError, match=r"^widths: .*keep their input's"):
        net.with_widths((2, 3, 4, 3, 3, 3, 3, 2))


@pytest.mark.parametrize(
    ("layers", "overrides", "message"),
    [
        (
            [Dense(8), Residual("h9")],
            {},
            r"^layers\[1\]\.inputs: got 'h9'; a layer name or 'input'",
        ),
        (
            [Dense(8, inputs="b"), Dense(5, name="b")],
            {},
            r"^layers\[0\]\.inputs: got 'b'; an earlier layer .*no cycles",
        ),
        (
            [Dense(8, name="a", inputs="a")],
            {},
            r"^layers\[0\]\.inputs: got 'a'; an earlier layer",
        ),
        (
            [Dense(8, name="a"), Dense(5), Residual("a")],
            {},
            r"^layers\[2\]\.inputs: .*inputs of equal width for residual \(a has 8 units, "
            r"layers\[1\] has 5",
        ),
        (
            [Dense(8), Dense(2, inputs="input")],
            {},
            r"^layers\[0\]: got 'dense'; a layer some later layer reads: its output reaches no loss",
        ),
        ([Dense(8, name="input")], {}, r"^layers\[0\]\.name: got 'input'; a name of its own"),
        (
            [Dense(8, name="a"), Dense(8, name="a")],
            {},
            r"^layers\[1\]\.name: got 'a'; a name of its own \(layers\[0\] has it\)",
        ),
        ([Dense(8, name="2x")], {}, r"^layers\[0\]\.name: got '2x'; a plain identifier"),
        ([Dense(8), Dropout(1.0)], {}, r"^layers\[1\]\.p: got 1\.0; a number in \[0, 1\)"),
        ([Dense(8), BatchNorm(eps=0)], {}, r"^layers\[1\]\.eps: got 0; a number in \(0, inf\)"),
        (
            [Dense(8), Layer("batch_norm", 5)],
            {},
            r"^layers\[1\]\.width: got 5; 8 \(a batch_norm layer keeps its input's width\)",
        ),
        (
            [Dense(8), Layer("batch_norm", alpha=3)],
            {},
            r"^layers\[1\]\.alpha: .*identity takes no parameters; batch_norm takes eps, momentum",
        ),
        ([Layer("dense")], {}, r"^layers\[0\]\.width: got None; is required"),
        (
            [Dense(8), BatchNorm()],
            {"training": Training(batch_size=1)},
            r"^training\.batch_size: got 1; at least 2 \(batch_norm normalises",
        ),
        (
            [Dense(8), Layer("conv")],
            {},
            r"^layers\[1\]\.kind: got 'conv'; known layer kinds: dense",
        ),
        (
            [Dense(8), Residual(["input", "input"])],
            {},
            r"^layers\[1\]\.inputs: .*different layers",
        ),
        ([Dense(8), Residual([])], {}, r"^layers\[1\]\.inputs: got None; is required"),
        (
            [Dense(8, name="a"), Dense(8), Dense(8, inputs=["a", "input"])],
            {},
            r"^layers\[2\]\.inputs: .*1 name\(s\): dense reads 1 inputs",
        ),
        ([Dense(8), Dense(2, inputs=3)], {}, r"^layers\[1\]\.inputs: got 3; a list of layer names"),
        (
            [Dense(3, "softmax"), BatchNorm()],
            {},
            r"^layers\[0\]\.activation: got 'softmax'; softmax is allowed on the output layer only",
        ),
    ],
)
def test_every_invalid_graph_is_one_line(
    layers: list[Layer], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SpecError, match=message) as info:
        _net(layers, **overrides)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'kind = "batch_norm"\nwidth = 8',
            r"layers\[1\]\.width: got 8; 3 \(a batch_norm layer keeps its input's width\)",
        ),
        ('kind = "dropout"\nq = 0.5', r"layers\[1\]\.q: .*unknown key; allowed keys: .*p"),
        ('kind = "residual"\ninputs = "h1"', r"layers\[1\]\.inputs: .*a list of layer names"),
        ('kind = "residual"\ninputs = [1]', r"layers\[1\]\.inputs: .*a list of layer names"),
        ('kind = "nope"', r"layers\[1\]\.kind: got 'nope'; known layer kinds"),
    ],
)
def test_toml_layer_tables_name_the_key(table: str, message: str) -> None:
    text = f'inputs = 2\nloss = "mse"\n[[layers]]\nwidth = 3\n[[layers]]\n{table}\n'
    with pytest.raises(SpecError, match=message):
        spec_from_dict(parse_toml(text))


def test_cli_refuses_an_invalid_graph_with_exit_2(tmp_path: object) -> None:
    spec = tmp_path / "cycle.toml"  # type: ignore[operator]
    spec.write_text(
        'inputs = 2\nloss = "mse"\n[[layers]]\nwidth = 3\ninputs = ["later"]\n'
        '[[layers]]\nname = "later"\nwidth = 1\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "derive", str(spec), "--no-check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "no cycles" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_kept_width_may_be_written_in_toml_as_in_python() -> None:
    base = 'inputs = 2\nloss = "mse"\n[[layers]]\nwidth = 3\n[[layers]]\nkind = "batch_norm"\n'
    assert spec_from_dict(parse_toml(base + "width = 3\n")) == spec_from_dict(parse_toml(base))
    assert _net([Dense(3), Layer("batch_norm", 3)]) == _net([Dense(3), BatchNorm()])


def test_an_unknown_input_lists_only_the_layers_it_could_read() -> None:
    with pytest.raises(SpecError) as info:
        _net([Dense(3, name="a"), Dense(3, inputs="zz"), Dense(2, name="later")])
    assert "(known: input, a)" in str(info.value)
