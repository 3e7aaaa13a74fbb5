"""Misuse of the public API raises only documented exception types.

The rule (``symprop/__init__.py``): a wrong value or a wrong type of argument raises a
:class:`~symprop.core.errors.SymPropError` subclass (``SpecError`` for specs, ``ParseError`` for
text, ``VerifyError`` for verify's inputs), with one bounded, printable line; only calls that
break Python's calling contract (a missing, extra or unknown argument) raise ``TypeError``,
as Python raises it. Nothing else — no AttributeError, KeyError, ValueError from inside.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from symprop import (
    Dense,
    Network,
    ParseError,
    SpecError,
    SymPropError,
    Training,
    default_network,
    derive,
    load_spec,
)
from symprop.core.spec import spec_from_dict
from symprop.derivation.build import check_derivation
from symprop.verify import (
    MAX_DEPTH,
    Setting,
    VerifyError,
    error_line,
    extract_claims,
    verdicts_json,
    verify_claim,
    verify_claims,
)

NET = Network(inputs=2, layers=[Dense(2, "tanh"), Dense(1, "sigmoid")], loss="mse")
SINGLE = Setting.single_unit("sigmoid", "binary_cross_entropy")
DEEP = Network(inputs=1, layers=[Dense(1, "tanh")] * (MAX_DEPTH + 1), loss="mse")
MINIMAL = {"inputs": 2, "loss": "mse", "layers": [{"width": 1}]}


def _net(**kwargs: object) -> Network:
    return Network(**({"inputs": 2, "layers": [Dense(1)], "loss": "mse"} | kwargs))  # type: ignore[arg-type]


def _layer(*args: object, **kwargs: object) -> Network:
    return _net(layers=[Dense(*args, **kwargs)])  # type: ignore[arg-type]


def _dict(**kwargs: object) -> Network:
    return spec_from_dict(MINIMAL | kwargs)


D = derive(NET)
F = Path(__file__).resolve().parent  # a folder

# (id, call, expected type)
CASES: list[tuple[str, Callable[..., object], type[BaseException]]] = [
    # Network: every field, wrong type or value
    ("net-inputs-none", lambda: _net(inputs=None), SpecError),
    ("net-inputs-str", lambda: _net(inputs="2"), SpecError),
    ("net-inputs-float", lambda: _net(inputs=2.0), SpecError),
    ("net-inputs-bool", lambda: _net(inputs=True), SpecError),
    ("net-inputs-zero", lambda: _net(inputs=0), SpecError),
    ("net-inputs-huge", lambda: _net(inputs=10**7), SpecError),
    ("net-inputs-5000-digits", lambda: _net(inputs=10**5000), SpecError),
    ("net-layers-none", lambda: _net(layers=None), SpecError),
    ("net-layers-int", lambda: _net(layers=5), SpecError),
    ("net-layers-str", lambda: _net(layers="relu"), SpecError),
    ("net-layers-empty", lambda: _net(layers=[]), SpecError),
    ("net-layers-of-int", lambda: _net(layers=[5]), SpecError),
    ("net-layers-of-none", lambda: _net(layers=[None]), SpecError),
    ("net-layers-of-dict", lambda: _net(layers=[{"width": 3}]), SpecError),
    ("net-layers-endless", lambda: _net(layers=itertools.repeat(Dense(1))), SpecError),
    ("net-loss-none", lambda: _net(loss=None), SpecError),
    ("net-loss-int", lambda: _net(loss=5), SpecError),
    ("net-loss-list", lambda: _net(loss=["mse"]), SpecError),
    ("net-loss-case", lambda: _net(loss="MSE"), SpecError),
    ("net-l2-str", lambda: _net(l2="0.1"), SpecError),
    ("net-l2-none", lambda: _net(l2=None), SpecError),
    ("net-l2-negative", lambda: _net(l2=-1), SpecError),
    ("net-l2-inf", lambda: _net(l2=float("inf")), SpecError),
    ("net-l2-nan", lambda: _net(l2=float("nan")), SpecError),
    ("net-l2-huge-int", lambda: _net(l2=10**400), SpecError),
    ("net-l2-complex", lambda: _net(l2=1 + 2j), SpecError),
    ("net-biases-int", lambda: _net(regularize_biases=1), SpecError),
    ("net-biases-str", lambda: _net(regularize_biases="yes"), SpecError),
    ("net-name-none", lambda: _net(name=None), SpecError),
    ("net-name-int", lambda: _net(name=5), SpecError),
    ("net-name-empty", lambda: _net(name=""), SpecError),
    ("net-name-numpy", lambda: _net(name="numpy"), SpecError),
    ("net-name-long", lambda: _net(name="a" * 101), SpecError),
    ("net-name-escape", lambda: _net(name="x\x1b[2J"), SpecError),
    ("net-title-none", lambda: _net(title=None), SpecError),
    ("net-title-int", lambda: _net(title=5), SpecError),
    ("net-title-long", lambda: _net(title="t" * 3000), SpecError),
    ("net-notation-none", lambda: _net(notation=None), SpecError),
    ("net-notation-case", lambda: _net(notation="NG"), SpecError),
    ("net-notation-list", lambda: _net(notation=["ng"]), SpecError),
    ("net-training-dict", lambda: _net(training={"epochs": 3}), SpecError),
    ("net-training-none", lambda: _net(training=None), SpecError),
    (
        "net-softmax-hidden",
        lambda: _net(layers=[Dense(3, "softmax"), Dense(2, "softmax")], loss="cross_entropy"),
        SpecError,
    ),
    ("net-softmax-one-unit", lambda: _net(layers=[Dense(1, "softmax")]), SpecError),
    # Dense, validated by the Network that holds it
    ("dense-width-zero", lambda: _layer(0), SpecError),
    ("dense-width-negative", lambda: _layer(-1), SpecError),
    ("dense-width-str", lambda: _layer("3"), SpecError),
    ("dense-width-none", lambda: _layer(None), SpecError),
    ("dense-width-float", lambda: _layer(3.0), SpecError),
    ("dense-width-huge", lambda: _layer(10**6 + 1), SpecError),
    ("dense-activation-none", lambda: _layer(3, None), SpecError),
    ("dense-activation-int", lambda: _layer(3, 5), SpecError),
    ("dense-activation-list", lambda: _layer(3, ["relu"]), SpecError),
    ("dense-param-not-taken", lambda: _layer(3, "relu", alpha=0.1), SpecError),
    ("dense-alpha-str", lambda: _layer(3, "leaky_relu", alpha="x"), SpecError),
    ("dense-alpha-negative", lambda: _layer(3, "leaky_relu", alpha=-1), SpecError),
    ("dense-alpha-nan", lambda: _layer(3, "leaky_relu", alpha=float("nan")), SpecError),
    ("dense-alpha-huge-int", lambda: _layer(3, "elu", alpha=10**400), SpecError),
    ("dense-alpha-none", lambda: _layer(3, "elu", alpha=None), SpecError),
    # Dense itself
    ("dense-params-int", lambda: Dense(3, params=5), SpecError),
    ("dense-params-str", lambda: Dense(3, params="alpha"), SpecError),
    ("dense-params-list", lambda: Dense(3, params=[("alpha", 1)]), SpecError),
    ("dense-params-int-key", lambda: Dense(3, "elu", params={1: 2}), SpecError),
    ("dense-params-mixed-keys", lambda: Dense(3, "elu", params={"alpha": 1, 2: 3}), SpecError),
    ("dense-param-unknown", lambda: Dense(3, "relu").param("alpha"), SpecError),
    ("dense-param-bad-activation", lambda: Dense(3, "nope").param("alpha"), SpecError),
    ("dense-param-values-bad-activation", lambda: Dense(3, "nope").param_values(), SpecError),
    ("dense-param-none", lambda: Dense(3, "elu").param(None), SpecError),
    # Python's calling contract
    ("dense-no-width", lambda: Dense(), TypeError),
    ("dense-extra-positional", lambda: Dense(3, "relu", {}, 5), TypeError),
    ("network-no-arguments", lambda: Network(), TypeError),
    ("network-unknown-keyword", lambda: _net(depth=3), TypeError),
    ("training-unknown-keyword", lambda: Training(lr=0.1), TypeError),
    ("derive-no-argument", lambda: derive(), TypeError),
    ("derive-extra-argument", lambda: derive(NET, 3), TypeError),
    ("check-positional-points", lambda: D.check(3), TypeError),
    ("load-spec-no-argument", lambda: load_spec(), TypeError),
    ("setting-unknown-keyword", lambda: Setting(activation="sigmoid", loss="mse", x=1), TypeError),
    # Training
    ("training-epochs-negative", lambda: Training(epochs=-1), SpecError),
    ("training-epochs-str", lambda: Training(epochs="3"), SpecError),
    ("training-epochs-float", lambda: Training(epochs=2.5), SpecError),
    ("training-batch-zero", lambda: Training(batch_size=0), SpecError),
    ("training-batch-none", lambda: Training(batch_size=None), SpecError),
    ("training-rate-zero", lambda: Training(learning_rate=0), SpecError),
    ("training-rate-str", lambda: Training(learning_rate="0.1"), SpecError),
    ("training-rate-inf", lambda: Training(learning_rate=float("inf")), SpecError),
    ("training-rate-huge-int", lambda: Training(learning_rate=10**400), SpecError),
    ("training-optimizer-unknown", lambda: Training(optimizer="rmsprop"), SpecError),
    ("training-optimizer-none", lambda: Training(optimizer=None), SpecError),
    ("training-momentum-one", lambda: Training(momentum=1), SpecError),
    ("training-momentum-negative", lambda: Training(momentum=-0.1), SpecError),
    ("training-momentum-huge-int", lambda: Training(momentum=10**400), SpecError),
    ("training-momentum-with-sgd", lambda: Training(momentum=0.9), SpecError),
    ("training-momentum-with-adam", lambda: Training(optimizer="adam", momentum=0.5), SpecError),
    ("training-seed-negative", lambda: Training(seed=-1), SpecError),
    ("training-seed-float", lambda: Training(seed=1.5), SpecError),
    ("training-dtype-unknown", lambda: Training(dtype="float16"), SpecError),
    ("training-dtype-none", lambda: Training(dtype=None), SpecError),
    # Network.with_widths
    ("with-widths-none", lambda: NET.with_widths(None), SpecError),
    ("with-widths-short", lambda: NET.with_widths([2]), SpecError),
    ("with-widths-long", lambda: NET.with_widths([2, 3, 4, 5]), SpecError),
    ("with-widths-str", lambda: NET.with_widths("231"), SpecError),
    ("with-widths-zero", lambda: NET.with_widths([2, 0, 1]), SpecError),
    ("with-widths-endless", lambda: NET.with_widths(itertools.count(1)), SpecError),
    # derive
    ("derive-none", lambda: derive(None), SpecError),
    ("derive-path", lambda: derive("examples/xor.toml"), SpecError),
    ("derive-function", lambda: derive(default_network), SpecError),
    ("derive-dict", lambda: derive(MINIMAL), SpecError),
    # Derivation methods
    ("step-unknown", lambda: D.step("nope"), SymPropError),
    ("step-none", lambda: D.step(None), SymPropError),
    ("step-list", lambda: D.step(["forward"]), SymPropError),
    ("section-unknown", lambda: D.section("nope"), SymPropError),
    ("section-none", lambda: D.section(None), SymPropError),
    ("section-list", lambda: D.section(["forward"]), SymPropError),
    ("check-points-zero", lambda: D.check(points=0), SymPropError),
    ("check-points-negative", lambda: D.check(points=-1), SymPropError),
    ("check-points-float", lambda: D.check(points=1.5), SymPropError),
    ("check-points-bool", lambda: D.check(points=True), SymPropError),
    ("check-points-huge", lambda: D.check(points=10**6), SymPropError),
    ("check-points-str", lambda: D.check(points="3"), SymPropError),
    ("check-seed-str", lambda: D.check(seed="x"), SymPropError),
    ("check-seed-none", lambda: D.check(seed=None), SymPropError),
    ("check-strict-str", lambda: D.check(strict="yes"), SymPropError),
    ("check-derivation-none", lambda: check_derivation(None), SymPropError),
    ("check-derivation-points-zero", lambda: check_derivation(D, points=0), SymPropError),
    # load_spec and spec_from_dict
    ("load-spec-none", lambda: load_spec(None), SpecError),
    ("load-spec-int", lambda: load_spec(5), SpecError),
    ("load-spec-bytes", lambda: load_spec(b"spec.toml"), SpecError),
    ("load-spec-empty-path", lambda: load_spec(""), SymPropError),
    ("load-spec-nul", lambda: load_spec("a\0b.toml"), SymPropError),
    ("load-spec-missing", lambda: load_spec("/nonexistent/spec.toml"), SymPropError),
    ("load-spec-device", lambda: load_spec("/dev/null"), SymPropError),
    ("load-spec-folder", lambda: load_spec(F), SymPropError),
    ("spec-from-none", lambda: spec_from_dict(None), SpecError),
    ("spec-from-list", lambda: spec_from_dict([]), SpecError),
    ("spec-from-layers-int", lambda: _dict(layers=5), SpecError),
    ("spec-from-layers-of-int", lambda: _dict(layers=[5]), SpecError),
    ("spec-from-int-key", lambda: _dict(layers=[{"width": 1, 5: 1}]), SpecError),
    ("spec-from-no-width", lambda: _dict(layers=[{"activation": "relu"}]), SpecError),
    ("spec-from-training-int", lambda: _dict(training=5), SpecError),
    ("spec-from-training-bad", lambda: _dict(training={"epochs": -1}), SpecError),
    ("spec-from-no-inputs", lambda: spec_from_dict({"loss": "mse", "layers": []}), SpecError),
    # verify: Setting
    ("setting-network-int", lambda: Setting(network=5), VerifyError),
    ("setting-network-str", lambda: Setting(network="xor"), VerifyError),
    ("setting-deep-network", lambda: Setting.from_spec(DEEP), VerifyError),
    ("setting-from-spec-none", lambda: Setting.from_spec(None), VerifyError),
    ("setting-softmax-unit", lambda: Setting.single_unit("softmax", "cross_entropy"), VerifyError),
    ("setting-activation-list", lambda: Setting(activation=["sigmoid"], loss="mse"), VerifyError),
    ("setting-loss-unknown", lambda: Setting.single_unit("sigmoid", "nope"), VerifyError),
    ("setting-l2-negative", lambda: Setting.single_unit("sigmoid", "mse", l2=-1), VerifyError),
    ("setting-numbering-unknown", lambda: Setting(network=NET, numbering="x"), VerifyError),
    ("setting-numbering-list", lambda: Setting(network=NET, numbering=["ng"]), VerifyError),
    ("setting-points-zero", lambda: Setting(network=NET, points=0), VerifyError),
    ("setting-points-65", lambda: Setting(network=NET, points=65), VerifyError),
    ("setting-points-float", lambda: Setting(network=NET, points=2.5), VerifyError),
    ("setting-points-bool", lambda: Setting(network=NET, points=True), VerifyError),
    ("setting-seed-str", lambda: Setting(network=NET, seed="x"), VerifyError),
    ("setting-time-zero", lambda: Setting(network=NET, time_limit=0), VerifyError),
    ("setting-time-nan", lambda: Setting(network=NET, time_limit=float("nan")), VerifyError),
    ("setting-time-str", lambda: Setting(network=NET, time_limit="1"), VerifyError),
    # verify: functions
    ("claim-none", lambda: verify_claim(None, SINGLE), ParseError),
    ("claim-int", lambda: verify_claim(5, SINGLE), ParseError),
    ("claim-empty", lambda: verify_claim("", SINGLE), ParseError),
    ("claim-no-equation", lambda: verify_claim("delta", SINGLE), ParseError),
    ("claim-too-long", lambda: verify_claim("x" * 3000 + " = 1", SINGLE), ParseError),
    ("claim-escape", lambda: verify_claim("\x1b[2J = 1", SINGLE), ParseError),
    ("claim-setting-none", lambda: verify_claim("delta = a - y", None), VerifyError),
    ("claim-setting-str", lambda: verify_claim("delta = a - y", "sigmoid"), VerifyError),
    ("claim-unknown-name", lambda: verify_claim("foo = a", SINGLE), VerifyError),
    ("claims-str", lambda: verify_claims("delta = a - y", SINGLE), VerifyError),
    ("claims-none", lambda: verify_claims(None, SINGLE), VerifyError),
    ("claims-setting-none", lambda: verify_claims(["delta = a - y"], None), VerifyError),
    (
        "claims-endless",
        lambda: verify_claims(itertools.repeat("delta = a - y"), SINGLE),
        VerifyError,
    ),
    ("extract-none", lambda: extract_claims(None), VerifyError),
    ("extract-format-unknown", lambda: extract_claims("a = b", "yaml"), VerifyError),
    ("extract-format-none", lambda: extract_claims("a = b", None), VerifyError),
    ("extract-toml-claims-int", lambda: extract_claims("claims = 5", "toml"), VerifyError),
    ("extract-toml-malformed", lambda: extract_claims("[", "toml"), SymPropError),
    ("extract-toml-unknown-key", lambda: extract_claims("x = 1", "toml"), VerifyError),
    ("error-line-none", lambda: error_line(None), VerifyError),
    ("error-line-str", lambda: error_line("oops"), VerifyError),
    ("verdicts-json-none", lambda: verdicts_json(None, None), VerifyError),
    ("verdicts-json-lengths", lambda: verdicts_json(["a"], []), VerifyError),
    ("verdicts-json-not-results", lambda: verdicts_json(["a"], [5]), VerifyError),
]


def test_the_table_covers_over_100_calls() -> None:
    assert len(CASES) >= 100
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("call", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_misuse_raises_a_documented_type(
    call: Callable[[], object], expected: type[BaseException]
) -> None:
    with pytest.raises(BaseException) as info:  # noqa: PT011 - the type is checked below
        call()
    error = info.value
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    if expected is not TypeError:
        assert isinstance(error, SymPropError)
        message = str(error).split("\n")[0] if isinstance(error, ParseError) else str(error)
        assert message.isprintable() and len(message) < 500, repr(message)


def test_a_check_at_no_point_is_refused_not_reported_ok() -> None:
    with pytest.raises(SymPropError, match=r"^points: got 0; must be an integer from 1 to 100"):
        D.check(points=0)
    report = D.check(points=1)
    assert report.ok
    numeric = [name for name, _, _ in report.results if not name.startswith("φ'")]
    assert numeric, "a one-point check compares the composed formulas, not only φ'"


def test_unknown_step_is_still_a_key_error() -> None:
    with pytest.raises(KeyError):
        D.step("nope")


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        (0, "(a check at no point would test nothing)"),
        (-1, "(a check at no point would test nothing)"),
        (101, "(each point is a full high-precision comparison"),
    ],
)
def test_the_points_reason_fits_the_value(points: int, reason: str) -> None:
    with pytest.raises(SymPropError) as info:
        D.check(points=points)
    assert reason in str(info.value)
    if points > 0:
        assert "no point" not in str(info.value)


def test_the_package_namespace_is_its_api_and_subpackages() -> None:
    import types

    import symprop

    public = {n for n in dir(symprop) if not n.startswith("__")}
    modules = {n for n in public if isinstance(getattr(symprop, n), types.ModuleType)}
    assert public - modules == set(symprop.__all__) - {"__version__"}
    assert {"version", "annotations", "PackageNotFoundError"}.isdisjoint(public)
