"""Typed derivation steps: justifications as data, one written form for every printer, and
imports that go one way (derivation → documents/printers → step types)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import sympy as sp

from symprop import Dense, Network, derive
from symprop.core import registry as reg
from symprop.core import symbols as g
from symprop.core.calculus import (
    _output_kernels,
    activation_function,
    derive_activation,
    derive_output_delta,
)
from symprop.core.registry import ACTIVATIONS, LOSSES, a_vec, j_idx, y_vec
from symprop.core.why import Relation, Why, why
from symprop.documents.emit import checked, to_markdown
from symprop.printers.latex import latex
from symprop.printers.unicode import sentence, unicode

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "symprop"


def _skeleton(text: str, printer: str) -> str:
    """The structure of a printed formula: its symbols, numbers, operators and brackets.

    Each printer's own spelling (LaTeX commands, Unicode superscripts, the activation's name
    in that printer) is mapped to one neutral token, so two printers agree exactly when they
    print the same terms and factors in the same order with the same signs.
    """
    for act in ACTIVATIONS.values():
        spelled = act.latex if printer == "latex" else act.unicode
        text = text.replace(spelled, f"<{act.name}>")
    if printer == "latex":
        text = re.sub(r"\\left|\\right", "", text)
        text = re.sub(r"\^\{(\d+)\}", r"^\1", text)
        text = re.sub(r"_\{(\w+)\}", r"_\1", text)
        text = text.replace(r"\left[i = j\right]", "δ_ij").replace("[i=j]", "δ_ij")
    else:
        text = text.replace("²", "^2").replace("³", "^3").replace("−", "-")
        text = text.replace("ᵢ", "_i").replace("ⱼ", "_j").replace("δ_i_j", "δ_ij")
    text = re.sub(r"\s+", "", text).replace("[i=j]", "δ_ij")
    # A power of an indexed quantity may be bracketed or not: (a_j)^3 and a_j^3 agree.
    return re.sub(r"\((\w_\w)\)", r"\1", text)


# --- one written form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, act in ACTIVATIONS.items()
        if not isinstance(derive_activation(n).form, sp.Piecewise)
    ],
)
def test_terminal_and_latex_print_the_same_preferred_derivative(name: str) -> None:
    form = derive_activation(name).form
    assert _skeleton(unicode(form), "unicode") == _skeleton(latex(form), "latex")


@pytest.mark.parametrize(
    ("name", "hand_form"),
    [("sigmoid", "a(1-a)"), ("tanh", "1-a^2"), ("softmax", "a_i(δ_ij-a_j)")],
)
def test_the_preferred_derivative_prints_as_written_by_hand(name: str, hand_form: str) -> None:
    # The textbooks' forms (Nielsen ch. 2, Goodfellow §6.3): σ' = a(1 − a), tanh' = 1 − a².
    form = derive_activation(name).form
    assert _skeleton(unicode(form), "unicode") == hand_form
    assert _skeleton(latex(form), "latex") == hand_form


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "identity", "softmax"])
def test_terminal_and_latex_print_the_same_output_delta(activation: str, loss: str) -> None:
    # Quotients and sums are laid out differently (a/b against \frac{a}{b}); what must agree
    # is the order of the factors and terms and their signs, so brackets are dropped.
    od = derive_output_delta(activation, loss)
    assert _flat(unicode(od.expr), "unicode") == _flat(latex(od.expr), "latex")


def _flat(text: str, printer: str) -> str:
    text = _skeleton(text, printer)
    text = re.sub(r"\\sum_\{?(\w)=1\}?\^\{?\w+\}?", r"Σ_\1", text)
    while r"\frac{" in text:
        text = _unfrac(text)
    return re.sub(r"[(){}]", "", text)


def _unfrac(text: str) -> str:
    """The first ``\\frac{A}{B}`` as ``A/B``."""
    start = text.index(r"\frac{")
    parts, n = [], start + len(r"\frac")
    for _ in range(2):
        depth, begin = 0, n
        while True:
            depth += {"{": 1, "}": -1}.get(text[n], 0)
            n += 1
            if depth == 0:
                break
        parts.append(text[begin + 1 : n - 1])
    return text[:start] + parts[0] + "/" + parts[1] + text[n:]


def test_mse_output_delta_keeps_its_common_factor_in_both_printers() -> None:
    expr = derive_output_delta("identity", "mse").expr
    assert sp.expand(expr - 2 * (a_vec[j_idx] - y_vec[j_idx])) == 0
    assert _skeleton(unicode(expr), "unicode") == "2(a_j-y_j)"
    assert _skeleton(latex(expr), "latex") == "2(a_j-y_j)"


def test_a_negative_term_of_a_sum_is_written_after_a_minus() -> None:
    # −y log a − (1 − y) log(1 − a), not −y log a + (y − 1) log(1 − a).
    term = LOSSES["binary_cross_entropy"].term
    assert unicode(term) == "−y log(a) − (1 − y) log(1 − a)"


def test_the_terminal_summary_shows_the_documents_forms() -> None:
    xor = Network(inputs=2, layers=[Dense(4, "sigmoid"), Dense(1, "sigmoid")], loss="mse")
    text = derive(xor).summary_text()
    assert "= a (1 − a)    [since a = σ(z)]" in text
    assert "δ¹ = ((W²)ᵀ δ²) ⊙ a¹ ⊙ (1 − a¹)" in text
    assert "−a (a − 1)" not in text
    # The data term first, weight decay after it, as in the documents.
    assert "∂J/∂W¹ = 1/n Δ¹ + 2 λ W¹" in text
    tanh = Network(inputs=2, layers=[Dense(3, "tanh"), Dense(2, "identity")], loss="mse")
    assert "δ¹ = ((W²)ᵀ δ²) ⊙ (1 − (a¹)²)" in derive(tanh).summary_text()


# --- justifications are data ---------------------------------------------------------------


def test_justifications_read_as_sentences_in_the_terminal() -> None:
    net = Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(1, "sigmoid")], loss="mse")
    text = derive(net).summary_text()
    # The old sentences were decoded from Nielsen-notation text; none of it may leak.
    assert "with since" not in text
    assert "a^2_j" not in text and "z^2_j" not in text
    assert "[by the chain rule: a²ⱼ is the only output that depends on z²ⱼ]" in text
    assert "[the derivative of σ written in its output, σ'(z) = a (1 − a), since a = σ(z)]" in text


def test_a_justification_refers_to_quantities_not_to_their_spelling() -> None:
    d = derive(Network(inputs=2, layers=[Dense(2, "tanh"), Dense(1, "sigmoid")], loss="mse"))
    chain = d.step("delta.output.index").chain
    since = chain[2][1]
    relation = next(s for s in since if isinstance(s, Relation))
    lhs, rhs, _ = relation.args
    assert lhs == g.indexed("a", 2)[g.j]
    assert rhs == activation_function("sigmoid")(g.indexed("z", 2)[g.j])
    # The same data prints in each profile's symbols.
    assert "\\hat{y}" in latex(lhs, "goodfellow", depth=2)


def test_a_kink_convention_and_a_target_assumption_are_data() -> None:
    net = Network(inputs=2, layers=[Dense(3, "relu"), Dense(3, "softmax")], loss="cross_entropy")
    d = derive(net)
    texts = [sentence(a) for a in d.assumptions]
    assert texts[0].startswith("ReLU is not differentiable at z = 0")
    # The targets of the output layer sum to one: the sum runs over its n_L units.
    sums = [s for a in d.assumptions for s in a if isinstance(s, Relation)]
    assert any(r.args[0].has(g.width(g.L_sym)) for r in sums)


def test_why_merges_text_and_refuses_other_types() -> None:
    x = sp.Symbol("x")
    assert why("a", "b", x, "", "c") == Why(("ab", x, "c"))
    assert why("by ") + why("the rule") == why("by the rule")
    with pytest.raises(TypeError):
        Why((1.5,))  # type: ignore[arg-type]


def test_json_holds_each_justification_as_data_and_as_its_sentence() -> None:
    d = derive(Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(1, "sigmoid")], loss="mse"))
    data = json.loads(d.to_json())
    steps = {st["id"]: st for st in data["steps"]}
    for st in d.steps:
        for (_, reason), entry in zip(st.chain, steps[st.id]["chain"], strict=True):
            assert entry["why"] == sentence(reason)
            parts = entry["why_parts"]
            assert "".join(p.get("text", "") for p in parts) == reason.text
            maths = [s for s in reason if not isinstance(s, str)]
            assert [p["math"] for p in parts if "math" in p] == [sp.sstr(m) for m in maths]


# --- architecture: one-way imports, small modules --------------------------------------------


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, where) for every import of a source file: ``top`` (module level),
    ``typing`` (under ``if TYPE_CHECKING``, annotations only) or ``local`` (in a function)."""
    tree = ast.parse(path.read_text("utf-8"))
    where: dict[int, str] = {id(node): "top" for node in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            where |= {id(inner): "typing" for inner in node.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, where.get(id(node), "local")))
        elif isinstance(node, ast.Import):
            out += [(alias.name, where.get(id(node), "local")) for alias in node.names]
    return out


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "documents").glob("*.py"))
    + sorted((PACKAGE / "printers").glob("*.py"))
    + [PACKAGE / "derivation" / "steps.py"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_printers_and_documents_read_the_step_types_not_the_builder(path: Path) -> None:
    # Cycles, function-local imports and module length: tests/test_architecture.py.
    imports = _imports(path)
    if path.parent.name in ("documents", "printers") and path.name != "regenerate.py":
        # Printers and emitters read the step types; only regeneration derives.
        assert ("symprop.derivation.build", "top") not in imports
    if path.name == "steps.py":
        assert not [m for m, _ in imports if m.startswith(("symprop.printers", "symprop.doc"))]


def test_the_regexes_that_decoded_justifications_are_gone() -> None:
    for path in (PACKAGE / "documents").glob("*.py"):
        source = path.read_text("utf-8")
        assert "_RULES" not in source and "def translate" not in source, path.name


def test_a_registered_activation_is_justified_in_every_printer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No sentence table to extend: the rule "since a = ψ(z)" is built from the entry itself.
    z = reg.z
    entry = reg.Activation("steep", r"\psi", "ψ", 1 / (1 + sp.exp(-2 * z)))
    monkeypatch.setitem(reg.ACTIVATIONS, "steep", entry)
    try:
        rule = derive_activation("steep").rule
        assert sentence(rule) == "since a = ψ(z)"
        net = Network(inputs=2, layers=[Dense(2, "steep"), Dense(1, "sigmoid")], loss="mse")
        cd = checked(derive(net))
        assert (
            "δ¹ = ((W²)ᵀ δ²) ⊙ 2 a¹ ⊙ (1 − a¹)    [since a = ψ(z)]" in cd.derivation.summary_text()
        )
        assert r"\text{since }a = \psi(z)" in to_markdown(cd)
    finally:
        for cached in (derive_activation, derive_output_delta, _output_kernels):
            cached.cache_clear()


def test_the_terminal_writes_kronecker_as_the_nielsen_document_does() -> None:
    # δ is the local gradient in both: softmax's Jacobian uses an Iverson bracket [i = j].
    i, j = sp.symbols("i j", integer=True)
    expr = sp.KroneckerDelta(i, j)
    assert latex(expr, "nielsen") == r"\left[i = j\right]"
    assert unicode(expr) == "[i = j]"
