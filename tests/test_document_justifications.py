"""Every justification any derivation can produce has a LaTeX and a Markdown rendering.

The networks below cover every activation (hidden and output), every loss, every valid
output pair, every regularisation mode (none, weights, weights and biases) and every layer
kind; each is rendered in every notation profile, and one document per profile holding
every distinct section, algorithm line and sentence of all of them is typeset. A
justification with no rendering makes ``to_latex``/``to_markdown`` raise; one whose rendering
LaTeX rejects fails the compilation.

The derivations are wrapped without running their check: this test is about printing, and
the check (which ``symprop derive`` runs before any document) is tested elsewhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
from functools import lru_cache
from pathlib import Path

import pytest

from symprop import Dense, Layer, Network, derive
from symprop.core.errors import SymPropError
from symprop.core.layers import LAYER_KINDS
from symprop.core.notation import PROFILES
from symprop.core.registry import ACTIVATIONS, LOSSES
from symprop.core.spec import Training
from symprop.core.templating import render
from symprop.documents.blocks import DocumentContext, Equation, Section
from symprop.documents.checked import CheckedDerivation
from symprop.documents.context import document_context
from symprop.documents.emit import to_latex, to_markdown
from symprop.documents.typeset import LatexFailed, typeset

HIDDEN = [name for name in ACTIVATIONS if name != "softmax"]
# none, weights only, weights and biases: the three forms of the regulariser's steps.
REGULARISATION = [(0.0, False), (0.01, False), (0.01, True)]
# Parameter values where a statement may depend on the value (α = 1 makes ELU smooth).
PARAMS = {"elu": [{"alpha": 1.0}, {"alpha": 1.5}], "leaky_relu": [{"alpha": 0.2}]}


def _dense(width: int, activation: str, n: int) -> Layer:
    options = PARAMS.get(activation, [{}])
    return Dense(width, activation, options[n % len(options)])


def _networks() -> list[Network]:
    """Every valid (output activation, loss) pair under two hidden activations that cycle
    through all of them, each under the next regularisation mode; then every layer kind
    with and without regularised biases."""
    nets: list[Network] = []
    n = 0
    for out, loss in itertools.product(ACTIVATIONS, LOSSES):
        l2, biases = REGULARISATION[n % len(REGULARISATION)]
        hidden = (HIDDEN[(2 * n) % len(HIDDEN)], HIDDEN[(2 * n + 1) % len(HIDDEN)])
        try:
            net = Network(
                inputs=2,
                layers=[_dense(2, hidden[0], n), _dense(2, hidden[1], n), _dense(2, out, n)],
                loss=loss,
                l2=l2,
                regularize_biases=biases,
                name=f"pair_{out}_{loss}",
            )
        except SymPropError:
            continue  # a pair the validator refuses (softmax with mse is allowed, BCE on tanh not)
        nets.append(net)
        n += 1
    for kind, (l2, biases) in itertools.product(LAYER_KINDS, REGULARISATION[1:]):
        if kind == "dense":
            continue
        layers = [Dense(2, "tanh", name="h1"), Dense(2, "sigmoid")]
        layers.append(Layer(kind, activation="relu", inputs=["h1"] if kind == "residual" else None))
        layers.append(Dense(2, "softmax"))
        nets.append(
            Network(
                inputs=2,
                layers=layers,
                loss="cross_entropy",
                l2=l2,
                regularize_biases=biases,
                name=f"kind_{kind}_{int(biases)}",
                training=Training(batch_size=4),
            )
        )
    return nets


@dataclasses.dataclass(frozen=True)
class _Unchecked:
    """Stands for a check report: rendering is tested here, not proof."""

    results: tuple = ()


@lru_cache(maxsize=1)
def _derived() -> tuple[CheckedDerivation, ...]:
    return tuple(CheckedDerivation(derive(net), _Unchecked()) for net in _networks())


@pytest.mark.filterwarnings("ignore::symprop.core.errors.SymPropWarning")
def test_the_networks_cover_every_activation_loss_mode_and_kind() -> None:
    nets = _networks()
    acts = {layer.activation for net in nets for layer in net.layers}
    assert acts == set(ACTIVATIONS)
    assert {net.loss for net in nets} == set(LOSSES)
    assert {layer.kind for net in nets for layer in net.layers} == set(LAYER_KINDS)
    modes = {(net.l2 > 0, net.regularize_biases) for net in nets}
    assert modes == {(False, False), (True, False), (True, True)}
    assert any(net.regularize_biases and not net.dense_chain for net in nets)


@pytest.mark.filterwarnings("ignore::symprop.core.errors.SymPropWarning")
def test_regularised_biases_give_a_document_in_every_notation() -> None:
    # The report: regularize_biases = true exited 2 for want of a rendering of
    # "biases are regularised too"; the bias gradient must carry its λ term in every profile.
    cd = next(cd for cd in _derived() if cd.derivation.network.regularize_biases)
    for profile in PROFILES:
        tex = to_latex(cd, profile)
        md = to_markdown(cd, profile)
        assert "regularised too" in tex and "regularised too" in md, profile
        assert "Biases are not regularised" not in tex, profile


def _union(contexts: list[DocumentContext]) -> DocumentContext:
    """One document holding every distinct section, algorithm line and sentence of
    ``contexts`` (tags dropped: the same number recurs across networks)."""

    def untagged(section: Section) -> Section:
        eqs = tuple(Equation(eq.step_id, eq.lines, None) for eq in section.equations)
        return dataclasses.replace(section, equations=eqs)

    def distinct(items):
        return tuple(dict.fromkeys(items))

    first = contexts[0]
    return dataclasses.replace(
        first,
        sections=distinct(untagged(s) for c in contexts for s in c.sections),
        summary=distinct(untagged(s) for c in contexts for s in c.summary),
        algorithm=distinct(item for c in contexts for item in c.algorithm),
        conventions=distinct(s for c in contexts for s in c.conventions),
        assumptions=distinct(s for c in contexts for s in c.assumptions),
        worked=distinct(untagged(s) for c in contexts for s in c.worked),
        lecture=distinct(untagged(s) for c in contexts for s in c.lecture),
    )


@pytest.mark.filterwarnings("ignore::symprop.core.errors.SymPropWarning")
@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_justification_renders_and_compiles_in_every_profile(
    profile: str, tmp_path: Path
) -> None:
    contexts = []
    for cd in _derived():
        contexts.append(document_context(cd, profile))
        md = to_markdown(cd, profile)
        # Inline math of a justification opens and closes on its line.
        for line in md.splitlines():
            if not line.startswith("$$"):
                assert line.replace(r"\$", "").count("$") % 2 == 0, (profile, line)
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but latexmk/pdflatex are not installed")
        pytest.skip("latexmk/pdflatex not installed")
    source = render("derivation.tex.j2", _union(contexts).as_dict())
    try:
        _, log = typeset(source)
    except LatexFailed as failed:
        (tmp_path / "union.tex").write_text(source, "utf-8")
        pytest.fail(f"{profile}: {failed} (source in {tmp_path / 'union.tex'})")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert not errors, errors
    assert not re.search(r"Undefined control sequence", log)
