"""Network specs: the Python API, the TOML format, and one clear message per bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from symprop import (
    Dense,
    Network,
    SpecError,
    SymPropError,
    Training,
    default_network,
    load_spec,
)
from symprop.core.registry import ACTIVATIONS, Parameter
from symprop.core.spec import spec_from_dict
from symprop.derivation.build import derive

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _net(**overrides: object) -> Network:
    kwargs: dict[str, object] = {
        "inputs": 2,
        "layers": [Dense(3, "tanh"), Dense(1, "sigmoid")],
        "loss": "binary_cross_entropy",
    }
    kwargs.update(overrides)
    return Network(**kwargs)  # type: ignore[arg-type]


def test_valid_network_properties() -> None:
    net = _net(l2=0.5)
    assert net.widths == (2, 3, 1)
    assert net.depth == 2
    assert net.n_params == 2 * 3 + 3 + 3 * 1 + 1
    assert isinstance(net.layers, tuple)


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        (
            {"layers": [Dense(3, "swish"), Dense(1, "sigmoid")]},
            "layers[0].activation",
            "known activations: identity, sigmoid",
        ),
        (
            {"loss": "hinge"},
            "loss",
            "known losses: mse, half_sse, binary_cross_entropy, cross_entropy",
        ),
        (
            {"layers": [Dense(0, "tanh"), Dense(1, "sigmoid")]},
            "layers[0].width",
            "positive integer",
        ),
        (
            {"layers": [Dense(2.5, "tanh"), Dense(1, "sigmoid")]},
            "layers[0].width",
            "positive integer",
        ),
        (
            {"layers": [Dense(True, "tanh"), Dense(1, "sigmoid")]},
            "layers[0].width",
            "positive integer",
        ),
        ({"inputs": -1}, "inputs", "positive integer"),
        (
            {"layers": [Dense(3, "softmax"), Dense(2, "softmax")], "loss": "cross_entropy"},
            "layers[0].activation",
            "output layer only",
        ),
        (
            {"layers": [Dense(3, "relu"), Dense(1, "tanh")]},
            "loss",
            "needs an output activation with values in (0, 1), but tanh has range (-1, 1);",
        ),
        (
            {"layers": [Dense(3, "tanh"), Dense(2, "identity")], "loss": "cross_entropy"},
            "loss",
            "identity has range",
        ),
        ({"l2": -0.1}, "l2", ">= 0"),
        ({"l2": float("nan")}, "l2", ">= 0"),
        ({"layers": []}, "layers", "at least one layer"),
        ({"name": "my net"}, "name", "plain identifier"),
        ({"name": "class"}, "name", "not a Python keyword"),
        ({"name": "../../etc"}, "name", "plain identifier"),
        (
            {"layers": [Dense(3, "relu", alpha=0.1), Dense(1, "sigmoid")]},
            "layers[0].alpha",
            "relu takes no parameters",
        ),
        (
            {"layers": [Dense(3, "leaky_relu", alpha=-1), Dense(1, "sigmoid")]},
            "layers[0].alpha",
            "alpha (slope for z ≤ 0) must be a number in (0, 1000]",
        ),
        (
            {"layers": [Dense(3, "leaky_relu", beta=1), Dense(1, "sigmoid")]},
            "layers[0].beta",
            "takes the parameters alpha",
        ),
        ({"notation": "fancy"}, "notation", "known notations: nielsen, goodfellow, ng"),
    ],
)
def test_bad_spec_messages(overrides: dict, field: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        _net(**overrides)
    err = info.value
    assert err.field == field
    assert fragment in str(err)
    assert str(err).startswith(f"{field}: got ")
    assert "\n" not in str(err)


def test_softmax_needs_two_units() -> None:
    with pytest.raises(SpecError, match=r"softmax needs >= 2 units"):
        _net(layers=[Dense(1, "softmax")], loss="cross_entropy")


def test_cross_entropy_accepts_sigmoid_and_softmax_outputs() -> None:
    _net(layers=[Dense(3, "relu"), Dense(1, "sigmoid")], loss="binary_cross_entropy")
    _net(layers=[Dense(3, "relu"), Dense(4, "softmax")], loss="cross_entropy")


def test_default_network_is_the_digits_example() -> None:
    assert load_spec(EXAMPLES / "digits.toml") == default_network()


def test_toml_round_trip_through_to_dict() -> None:
    for path in sorted(EXAMPLES.glob("*.toml")):
        try:
            net = load_spec(path)
        except SpecError:
            continue  # not a network spec (e.g. the explain examples)
        assert spec_from_dict(net.to_dict()) == net


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
name = "t"
inputs = 2
loss = "mse"
[[layers]]
width = 3
activation = "leaky_relu"
alpha = 0.2
[[layers]]
width = 1
"""


def test_toml_maps_to_the_python_api(tmp_path: Path) -> None:
    net = load_spec(_write(tmp_path, GOOD))
    assert net == Network(
        inputs=2,
        layers=[Dense(3, "leaky_relu", alpha=0.2), Dense(1, "identity")],
        loss="mse",
        name="t",
    )
    assert net.layers[0].param("alpha") == 0.2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("learnig_rate = 0.1\n" + GOOD, "learnig_rate: got 0.1; unknown key; allowed keys: name"),
        (GOOD + "\nlearnig_rate = 0.1\n", "layers[1].learnig_rate: got 0.1; unknown key"),
        (
            GOOD.replace("alpha = 0.2", "alhpa = 0.2"),
            "layers[0].alhpa: got 0.2; unknown key; allowed keys: kind, name, inputs, width, activation, alpha",
        ),
        (GOOD + "\n[training]\nepoch = 3\n", "training.epoch: got 3; unknown key"),
        (
            GOOD + "\n[training]\noptimizer = 'rmsprop'\n",
            "training.optimizer: got 'rmsprop'; known: sgd, momentum, adam",
        ),
        ("inputs = 2\nloss = 'mse'\n", "layers: got None; is required"),
        (
            GOOD.replace("width = 3", "width = '3'"),
            "layers[0].width: got '3'; must be a positive integer",
        ),
    ],
)
def test_toml_errors_name_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_write(tmp_path, text))
    assert fragment in str(info.value)
    assert str(tmp_path / "spec.toml") in str(info.value)


def test_malformed_toml_reports_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(SymPropError, match=r"malformed TOML: .*line 3, column"):
        load_spec(_write(tmp_path, 'inputs = 2\nloss = "mse"\nl2 = = 3\n'))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SymPropError, match="no such spec file"):
        load_spec(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('inputs = 2\nloss = "mse"\nlayers = [\n', "malformed TOML"),
        (
            GOOD.replace('"leaky_relu"', '"lreLU"'),
            "layers[0].activation: got 'lreLU'; known activations",
        ),
        ("l2 = -1\n" + GOOD, "l2: got -1; must be a finite number >= 0"),
    ],
)
def test_cli_bad_spec_exits_2_with_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "derive", str(path), "--no-check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr


def _extremes(p: Parameter) -> list[float]:
    """The extreme values the validator accepts for ``p`` (the open end approached)."""
    low = 1e-300 if p.symbol.is_positive else -p.upper
    return [low, p.upper]


@pytest.mark.parametrize(
    ("activation", "name", "value"),
    [
        (act.name, p.name, value)
        for act in ACTIVATIONS.values()
        for p in act.parameters
        for value in _extremes(p)
    ],
)
def test_activation_parameters_at_the_accepted_extremes_are_proven(
    activation: str, name: str, value: float
) -> None:
    # A large slope magnifies the central-difference step of upstream parameters across the
    # downstream ReLU kink: the bound keeps the check valid (alpha = 1e300 gave 5 false ✗).
    net = Network(
        inputs=2,
        layers=(
            Dense(2, activation, **{name: value}),
            Dense(2, activation, **{name: value}),
            Dense(1, "relu"),
        ),
        loss="mse",
    )
    assert derive(net).check().ok


@pytest.mark.parametrize("value", [1e300, 1000.5, 0.0, -1e-3])
def test_activation_parameters_beyond_the_bound_are_refused(value: float) -> None:
    with pytest.raises(
        SpecError, match=r"layers\[0\]\.alpha: got .*must be a number in \(0, 1000\]"
    ):
        _net(layers=[Dense(3, "leaky_relu", alpha=value), Dense(1, "sigmoid")])


def _spec_text(layer: str = 'width = 2\nactivation = "tanh"\n', training: str = "") -> str:
    return (
        'inputs = 2\nloss = "mse"\n[[layers]]\n'
        + layer
        + '[[layers]]\nwidth = 1\nactivation = "sigmoid"\n'
        + training
    )


def test_a_layer_key_typo_is_the_error_not_the_missing_width(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(_spec_text('widht = 2\nactivation = "tanh"\n'), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field.endswith(": layers[0].widht")
    assert "unknown key; allowed keys: kind, name, inputs, width, activation" in str(info.value)


def test_the_interval_of_a_loss_is_written_as_a_reader_writes_it() -> None:
    with pytest.raises(SpecError) as info:
        _net(layers=[Dense(3, "tanh"), Dense(1, "relu")])
    assert "values in (0, 1), but relu has range [0, ∞);" in str(info.value)
    assert "Interval" not in str(info.value)


def test_zero_epochs_are_accepted_as_train_accepts_them(tmp_path: Path) -> None:
    path = tmp_path / "zero.toml"
    path.write_text(_spec_text(training="[training]\nepochs = 0\n"), encoding="utf-8")
    assert load_spec(path).training.epochs == 0
    with pytest.raises(SpecError, match=r"training\.epochs: got -1; must be an integer >= 0"):
        Training(epochs=-1)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_momentum_without_the_momentum_optimizer_is_refused(tmp_path: Path, optimizer: str) -> None:
    path = tmp_path / "mu.toml"
    training = f'[training]\noptimizer = "{optimizer}"\nmomentum = 0.9\n'
    path.write_text(_spec_text(training=training), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.field.endswith(": training.momentum")
    assert 'only optimizer = "momentum" uses it' in str(info.value)
    assert Training(optimizer="momentum", momentum=0.9).momentum == 0.9


def test_a_spec_file_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + _spec_text().encode("utf-8"))
    assert load_spec(path).widths == (2, 2, 1)


def test_cross_entropy_on_sigmoid_warns_once_at_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "ce.toml"
    text = _spec_text(layer='width = 2\nactivation = "tanh"\n').replace('"mse"', '"cross_entropy"')
    path.write_text(text.replace("width = 1", "width = 2"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "symprop.cli.main", "derive", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("drives every output towards 1") == 1, result.stderr
