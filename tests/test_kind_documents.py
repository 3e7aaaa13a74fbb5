"""Each layer kind's derivation as printed steps, and the document sections made of them.

Every link of every chain of :func:`symprop.derivation.kinds.kind_steps` is evaluated at
concrete sizes and exact random points against ``sympy.diff`` of the kind's forward
definition written out entry by entry (the brute-force reference, independent of the
rewrite rules and their proofs); batch normalisation's last link is compared with the
textbook form, stated here on its own; the documents with kind sections compile without
overfull lines in every profile and their Markdown renders; a kind registered at run time
gets its section with no other code.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re
import shutil
import types
from pathlib import Path

import pytest
import sympy as sp

from symprop.core import symbols as g
from symprop.core.layer_calculus import derive_layer
from symprop.core.layers import (
    LAYER_KINDS,
    Display,
    Intermediate,
    LayerKind,
    LayerParameter,
    Operand,
    _same_display,
    inline,
    j_f,
    n,
    register_layer_kind,
    unregister_layer_kind,
)
from symprop.core.spec import load_spec
from symprop.derivation.build import derive
from symprop.derivation.kind_arrays import KindArray
from symprop.derivation.kinds import kind_expression, kind_steps
from symprop.derivation.steps import ScalarPartial
from symprop.documents.checked import CheckedDerivation
from symprop.documents.emit import compile_pdf, to_latex, to_markdown
from symprop.printers.latex import latex
from symprop.printers.unicode import unicode

ROOT = Path(__file__).resolve().parents[1]
BUILT_IN = ("dense", "batch_norm", "layer_norm", "dropout", "residual")
# Concrete sizes: a batch of 3 for the batch-coupled kind, widths 2 and 3 elsewhere.
SIZES = {"m": 3, "n": 2, "n_in": 2, "n_out": 3}


def _concrete_sizes(kind: LayerKind) -> dict[sp.Symbol, int]:
    return {s: SIZES[s.name] for s in kind.sizes()}


def _entries(op: Operand, sizes: dict[sp.Symbol, int]) -> list[tuple[int, ...]]:
    """Every index tuple of an array at concrete sizes (1-based)."""
    out: list[tuple[int, ...]] = [()]
    for axis in op.shape:
        out = [e + (k,) for e in out for k in range(1, sizes[axis] + 1)]
    return out


def _point(kind: LayerKind, sizes: dict[sp.Symbol, int], seed: int) -> dict[sp.Basic, sp.Expr]:
    """Exact random values for every input, parameter, given array, upstream entry and
    hyper-parameter (ε, p); masks are 0 or 1."""
    rng = random.Random(seed)
    upstream = Operand("g", kind.output.shape)
    values: dict[sp.Basic, sp.Expr] = {}
    given = {op.name for op in kind.given}
    for op in (*kind.inputs, *(p.operand for p in kind.parameters), *kind.given, upstream):
        for e in _entries(op, sizes):
            if op.name in given:
                value = sp.Integer(rng.choice([0, 1]))
            else:
                value = sp.Rational(rng.randint(-9, 9), rng.randint(2, 7))
            values[op(*map(sp.Integer, e))] = value
    for h in kind.hyper_parameters:
        values[h.symbol] = sp.Rational(1, rng.randint(3, 9))
    return values


def _written_out(expr: sp.Expr, kind: LayerKind, sizes: dict[sp.Symbol, int]) -> sp.Expr:
    """``expr`` with every intermediate replaced by its definition and every sum written
    out at the concrete sizes (no derivative anywhere)."""
    for v in reversed(kind.intermediates):
        expr = inline(expr, v)
    return expr.xreplace(sizes).doit()


def _reference(kind: LayerKind, target: Operand, at: tuple[int, ...], point, sizes) -> sp.Expr:
    """Σ_out g_out ∂y_out/∂target[at], by ``sympy.diff`` of the written-out definition."""
    upstream = Operand("g", kind.output.shape)
    entry = target(*map(sp.Integer, at))
    total = sp.Integer(0)
    for out in _entries(kind.output, sizes):
        y = _written_out(
            kind.forward.xreplace(
                dict(zip(kind.output_indices, map(sp.Integer, out), strict=True))
            ),
            kind,
            sizes,
        )
        total += upstream(*map(sp.Integer, out)) * sp.diff(y, entry)
    return total.xreplace(point)


def _link_value(link: sp.Expr, kind: LayerKind, free, at, point, sizes) -> sp.Expr:  # noqa: ANN001
    """A printed link, turned back into the kind's arrays, at the entry ``at``, at ``point``."""
    explicit = kind_expression(link, kind).xreplace(
        dict(zip(free, map(sp.Integer, at), strict=True))
    )
    explicit = explicit.xreplace(sizes)
    if explicit.has(ScalarPartial):
        # The chain rule's first link writes ∂y_out/∂T as a derivative: take it here.
        def partial(num: sp.Indexed, den: sp.Expr) -> sp.Expr:
            y = kind.forward.xreplace(dict(zip(kind.output_indices, num.indices, strict=True)))
            return sp.diff(_written_out(y, kind, sizes), den)

        explicit = explicit.doit().replace(
            lambda e: isinstance(e, ScalarPartial), lambda e: partial(e.args[0], e.args[1])
        )
    return _written_out(explicit, kind, sizes).xreplace(point)


_rules = functools.cache(derive_layer)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_link_of_every_chain_equals_differentiating_the_definition(name: str) -> None:
    kind = LAYER_KINDS[name]
    sizes = _concrete_sizes(kind)
    rules = _rules(name)
    steps = {st.id: st for st in kind_steps(name)}
    for grad in (*rules.inputs, *rules.parameters):
        step = steps[f"kind.{name}.grad_{grad.target}"]
        target = next(
            op
            for op in (*kind.inputs, *(p.operand for p in kind.parameters))
            if op.name == grad.target
        )
        links = [rhs for rhs, _ in step.chain]
        assert len(links) >= 3, step.id  # chain rule, its index form, at least one rewrite
        for seed in (1, 2):
            point = _point(kind, sizes, seed)
            for at in _entries(target, sizes):
                expected = sp.nsimplify(_reference(kind, target, at, point, sizes))
                for n_link, link in enumerate(links):
                    got = _link_value(link, kind, grad.indices, at, point, sizes)
                    diff = sp.N(got - expected, 40)
                    assert abs(diff) < sp.Float("1e-30"), (step.id, n_link, at, got, expected)


def test_every_justification_is_data_and_names_the_identities_it_used() -> None:
    steps = {st.id: st for st in kind_steps("batch_norm")}
    chain = steps["kind.batch_norm.grad_x"].chain
    reasons = [why for _, why in chain]
    assert all(any(not isinstance(s, str) for s in why) for why in reasons[:3])
    folded = next(why for why in reasons if "by the definition of" in why.text)
    # Σ_r x_rj = m μ_j, stated with the kind's own arrays (printed by each notation).
    stated = [s for s in folded if not isinstance(s, str)]
    assert any(s.has(sp.Sum) for s in stated)
    assert "\\mu" in latex(stated[-1], "ng")
    substituted = next(why for why in reasons if why.text.startswith("substituting"))
    text = "".join(s if isinstance(s, str) else latex(s) for s in substituted)
    assert "\\hat{x}_{ij}" in text and "\\epsilon" in text


def _textbook_batch_norm(point, sizes, q: int, p: int) -> sp.Expr:
    """dx_qp = γ_p/(m σ_p) (m g_qp − Σ_i g_ip − x̂_qp Σ_i g_ip x̂_ip), with μ, σ, x̂ of the
    batch written out here (Ioffe and Szegedy's result, stated independently)."""
    m = sizes[sp.Symbol("m", integer=True, positive=True)]
    x = sp.IndexedBase("x")
    g = sp.IndexedBase("g")
    gamma = sp.IndexedBase("gamma")
    eps = sp.Symbol("epsilon", positive=True)
    mu = sum(x[r, p] for r in range(1, m + 1)) / m
    var = sum((x[r, p] - mu) ** 2 for r in range(1, m + 1)) / m
    sigma = sp.sqrt(var + eps)

    def xhat(i: int) -> sp.Expr:
        return (x[i, p] - mu) / sigma

    form = (
        gamma[p]
        / (m * sigma)
        * (
            m * g[q, p]
            - sum(g[i, p] for i in range(1, m + 1))
            - xhat(q) * sum(g[i, p] * xhat(i) for i in range(1, m + 1))
        )
    )
    return form.xreplace(point)


def test_batch_norm_ends_in_the_textbook_compact_form() -> None:
    kind = LAYER_KINDS["batch_norm"]
    sizes = _concrete_sizes(kind)
    step = next(st for st in kind_steps("batch_norm") if st.id == "kind.batch_norm.grad_x")
    last = step.chain[-1][0]
    free = _rules("batch_norm").inputs[0].indices
    for seed in (3, 4):
        point = _point(kind, sizes, seed)
        for q, p in _entries(kind.inputs[0], sizes):
            got = _link_value(last, kind, free, (q, p), point, sizes)
            expected = _textbook_batch_norm(point, sizes, q, p)
            assert abs(sp.N(got - expected, 40)) < sp.Float("1e-30")
    # Printed as a lecturer writes it: the factor first, then the bracket, in every profile.
    assert latex(last, "nielsen").startswith(
        r"\frac{\gamma_{p}}{n \sigma_{p}} \left(n \delta_{qp} - \sum_{i=1}^{n} \delta_{ip}"
    )
    assert latex(last, "goodfellow").startswith(r"\frac{\gamma_{p}}{m \sigma_{p}} \left(m g_{qp}")


def test_each_kind_writes_its_arrays_by_its_display_table() -> None:
    for name in BUILT_IN:
        kind = LAYER_KINDS[name]
        for profile in ("nielsen", "goodfellow", "ng"):
            table = kind.displays(profile)
            for op in kind.operands():
                shown = latex(KindArray(name, op.name), profile)
                d = table[op.name]
                if d.role is None:
                    assert shown == d.latex, (name, op.name, profile)
    # The gradient passed into a kind is the document's local gradient symbol.
    assert latex(KindArray("batch_norm", "g"), "nielsen") == r"\delta"
    assert latex(KindArray("batch_norm", "g"), "goodfellow") == "g"


# --- documents -----------------------------------------------------------------------------


def _with_kind_sections(kinds: tuple[str, ...]) -> CheckedDerivation:
    """The checked derivation of an example network, with the steps of ``kinds`` in its
    ``kinds`` section (each proven by the layer calculus), as the documents receive them."""
    d = derive(load_spec(ROOT / "examples" / "xor.toml"))
    report = d.check()
    assert report.ok
    extra = tuple(st for name in kinds for st in kind_steps(name))
    steps = list(d.steps)
    at = max(n for n, st in enumerate(steps) if st.section == "activation") + 1
    d = dataclasses.replace(d, steps=(*steps[:at], *extra, *steps[at:]))
    return CheckedDerivation(d, report)


NON_DENSE = ("batch_norm", "layer_norm", "dropout", "residual")


@pytest.mark.parametrize("profile", ["nielsen", "goodfellow", "ng"])
def test_kind_sections_compile_without_overfull_lines(profile: str, tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None or shutil.which("latexmk") is None:
        pytest.skip("latexmk/pdflatex not installed")
    cd = _with_kind_sections(NON_DENSE)
    tex = to_latex(cd, profile)
    for name in ("batch norm", "layer norm", "dropout", "residual"):
        assert f"\\section{{Layer kind: {name}}}" in tex
    path = tmp_path / "kinds.tex"
    path.write_text(tex, "utf-8")
    compile_pdf(path)
    log = path.with_suffix(".log").read_text("utf-8", "replace")
    assert not [line for line in log.splitlines() if line.startswith("!")]
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 3.0 for w in widths), widths


def test_kind_sections_render_as_markdown() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    md = to_markdown(_with_kind_sections(NON_DENSE), "nielsen")
    tokens = markdown_it.MarkdownIt("commonmark").parse(md)
    headings = [
        tokens[n + 1].content
        for n, t in enumerate(tokens)
        if t.type == "heading_open" and t.tag == "h2"
    ]
    assert "Layer kind: batch norm" in headings and "Layer kind: residual" in headings
    # Every display block is closed, and no formula carries an unprinted SymPy name.
    assert md.count("$$") % 2 == 0
    for leak in ("KindArray", "xhat", "gamma[", "Str("):
        assert leak not in md


def test_a_dense_document_has_no_kind_section() -> None:
    tex = to_latex(_with_kind_sections(()), "nielsen")
    assert "Layer kind" not in tex


# --- a kind registered at run time -----------------------------------------------------------

_x = Operand("x", (n,), "input of one sample")
_y = Operand("y", (n,), "output of one sample")
_s = Operand("s", (n,), "scale")
TOY = LayerKind(
    name="toy_scale",
    description="elementwise scale y = s ⊙ x",
    inputs=(_x,),
    output=_y,
    output_indices=(j_f,),
    forward=_s(j_f) * _x(j_f),
    parameters=(LayerParameter(_s, "scale", "ones"),),
    display=_same_display(
        {
            "x": Display("x", "x"),
            "y": Display("y", "y"),
            "s": Display(r"\varsigma", "ς"),
        }
    ),
)


@pytest.fixture
def toy() -> types.SimpleNamespace:
    register_layer_kind(TOY)
    try:
        yield types.SimpleNamespace(name=TOY.name)
    finally:
        unregister_layer_kind(TOY.name)


def test_a_kind_registered_at_run_time_gets_its_section(toy) -> None:  # noqa: ANN001
    steps = {st.id: st for st in kind_steps(toy.name)}
    assert set(steps) >= {
        "kind.toy_scale.forward",
        "kind.toy_scale.upstream",
        "kind.toy_scale.grad_x",
        "kind.toy_scale.grad_s",
    }
    # Its links are proven like the built-in kinds' (against sympy.diff).
    kind = LAYER_KINDS[toy.name]
    sizes = _concrete_sizes(kind)
    point = _point(kind, sizes, 5)
    for grad in _rules(toy.name).inputs + _rules(toy.name).parameters:
        target = kind.inputs[0] if grad.target == "x" else _s
        for at in _entries(target, sizes):
            expected = _reference(kind, target, at, point, sizes)
            for rhs, _ in steps[f"kind.toy_scale.grad_{grad.target}"].chain:
                got = _link_value(rhs, kind, grad.indices, at, point, sizes)
                assert sp.simplify(got - expected) == 0
    tex = to_latex(_with_kind_sections((toy.name,)), "nielsen")
    assert "\\section{Layer kind: toy scale}" in tex
    assert r"\varsigma_{q}" in tex  # its display name, looked up in its own table
    md = to_markdown(_with_kind_sections((toy.name,)), "ng")
    assert "## Layer kind: toy scale" in md


# --- the example networks ---------------------------------------------------------------


@pytest.fixture(scope="module")
def residual_document() -> tuple[str, str]:
    from symprop.documents.checked import checked  # noqa: PLC0415 - one fixture's need

    cd = checked(derive(load_spec(ROOT / "examples" / "residual.toml")))
    return to_latex(cd), to_markdown(cd, "goodfellow")


def test_a_residual_document_shows_the_fan_out_sum(residual_document) -> None:  # noqa: ANN001
    tex, md = residual_document
    # a¹ feeds the dense layer 2 and the residual add of layer 4: δ¹ sums both paths
    # (Nielsen numbers the input layer 1, so these are his layers 2, 3 and 5).
    line = next(ln for ln in tex.splitlines() if ln.startswith(r"\delta^{2} &= "))
    assert r"((w^{3})^{\top} \delta^{3} + \delta^{5}) \odot" in line
    assert "the gradients along the paths add" in line
    assert r"\section{Layer kind: layer norm}" in tex and r"\section{Layer kind: residual}" in tex
    # The skip connection is drawn as an arc from layer 1 to layer 4, unit to unit.
    assert r"\draw[black!35] (u1x1) to[bend left=35] (u4x1);" in tex
    assert r"(u1x1) to[bend left=35] (u4x2)" not in tex
    assert "## Layer kind: layer norm" in md


def test_a_kind_registered_at_run_time_flows_through_derive_into_the_document(toy) -> None:  # noqa: ANN001
    from symprop.core.spec import Dense, Layer, Network  # noqa: PLC0415 - this test's need
    from symprop.documents.checked import checked  # noqa: PLC0415

    net = Network(
        inputs=2,
        layers=[Dense(3, "tanh"), Layer(toy.name, None, "tanh", {}), Dense(1, "identity")],
        loss="mse",
    )
    tex = to_latex(checked(derive(net)))
    assert "\\section{Layer kind: toy scale}" in tex
    # At layer level its array is written by its display table, labelled with the layer.
    assert r"z^{3} &= {\varsigma}^{3} \odot a^{2}" in tex  # Nielsen: the input is layer 1
    assert r"{\varsigma}^{l} & scale (toy scale layer)" in tex


def _rms_kind() -> LayerKind:
    """y_j = κ_j x_j / ρ with ρ = √(ε + Σ x²/n): an intermediate without axes."""
    x, y, k = Operand("x", (n,), "input"), Operand("y", (n,), "output"), Operand("k", (n,), "gain")
    rho = Operand("rms", (), "root mean square", positive=True)
    r = sp.Symbol("r", integer=True, positive=True)
    return LayerKind(
        name="rms_doc",
        description="y = κ x / ρ",
        inputs=(x,),
        output=y,
        output_indices=(j_f,),
        forward=k(j_f) * x(j_f) / rho(),
        intermediates=(Intermediate(rho, (), sp.sqrt(1 + sp.Sum(x(r) ** 2, (r, 1, n)) / n)),),
        parameters=(LayerParameter(k, "scale", "ones"),),
        display=_same_display(
            {
                "x": Display("x", "x"),
                "y": Display("y", "y"),
                "k": Display(r"\kappa", "κ"),
                "rms": Display(r"\rho", "ρ"),
            }
        ),
    )


def test_a_scalar_intermediate_in_a_matrix_form_is_written_by_its_display() -> None:
    # ∂C/∂κ = 1/ρ (δ ⊙ x): the matrix form names ρ by the kind's table, not its SymPy name.
    kind = _rms_kind()
    register_layer_kind(kind)
    try:
        steps = {st.id: st for st in kind_steps(kind.name)}
        for sid in ("kind.rms_doc.forward.matrix", "kind.rms_doc.grad_k.matrix"):
            last, _ = steps[sid].chain[-1]
            assert KindArray(kind.name, "rms") in last.atoms(KindArray), sid
            shown = latex(last, "nielsen")
            assert r"\rho" in shown and "rms" not in shown, (sid, shown)
            assert "ρ" in unicode(last) and "rms" not in unicode(last), sid
    finally:
        unregister_layer_kind(kind.name)


def test_a_layer_label_never_reads_as_a_power_or_the_sigmoid() -> None:
    # Batch norm's σ at layer 2 printed σ² (the variance's symbol) and its variance σ²²;
    # σ is also the sigmoid's symbol. Such arrays get a bracketed label; others do not.
    j = sp.Symbol("j", integer=True, positive=True)
    sigma, var, gamma = (g.indexed(name, 2) for name in ("sigma", "var", "gamma"))
    assert unicode(sigma[j]) == "σ^[2]ⱼ"
    assert unicode(var[j]) == "(σ²)^[2]ⱼ"
    assert unicode(gamma[j]) == "γ²ⱼ"
    # (Nielsen numbers the input layer 1: the derivation's layer 2 is his layer 3.)
    assert latex(sigma[j], "nielsen").startswith(r"{\sigma}^{[3]}")
    assert latex(var[j], "nielsen").startswith(r"{\left(\sigma^2\right)}^{[3]}")
    assert latex(sigma[j], "goodfellow").startswith(r"{\sigma}^{(2)}")
    assert latex(gamma[j], "nielsen").startswith(r"{\gamma}^{3}")
