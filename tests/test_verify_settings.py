"""Settings people can state: a claims file's front matter (or TOML keys), read into a
validated :class:`~symprop.verify.Setting`, with one line for every bad key or value.

What a key means is checked against the text the test writes (the numbers, the formula
rebuilt with SymPy by hand), never against the reader's own output.
"""

from __future__ import annotations

import shutil
import time
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symprop.core.errors import SymPropError
from symprop.core.spec import load_spec
from symprop.parsing import Name, to_sympy
from symprop.verify import (
    Setting,
    SettingOptions,
    VerifyError,
    extract_claims,
    load_claims,
    parse_claims_text,
    read_claims_file,
)
from symprop.verify.claims import split_markdown
from symprop.verify.declare import (
    MAX_DEFINITIONS,
    MAX_VALUE_ENTRIES,
    NOTATIONS,
    PENALTIES,
    Declarations,
    declarations,
    definition_from_text,
    value,
)

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "examples" / "xor.toml"

a, y, z, x, w = sp.symbols("a y z x w", real=True)


def _sym(node: object, **names: sp.Basic) -> sp.Expr:
    """A parsed formula as SymPy, names mapped by their key."""
    return sp.simplify(to_sympy(node, names=lambda n: names.get(n.key)).doit())


def _md(front: str, body: str = "- $x = x$\n") -> str:
    return f"---\n{front}\n---\n{body}"


def _setting(front: str, body: str = "- $x = x$\n", folder: Path | None = None) -> Setting:
    return parse_claims_text(_md(front, body), "markdown", folder).options.setting()


# ---------------------------------------------------------------- each key


def test_spec_is_read_relative_to_the_claims_file(tmp_path: Path) -> None:
    (tmp_path / "nets").mkdir()
    (tmp_path / "notes").mkdir()
    shutil.copy(XOR, tmp_path / "nets" / "net.toml")
    claims = tmp_path / "notes" / "claims.md"
    claims.write_text(_md('spec = "../nets/net.toml"'))
    setting, texts = load_claims(claims)
    assert setting.network == load_spec(XOR)
    assert texts == ["x = x"]


def test_an_inline_network_table_is_a_spec() -> None:
    front = """
[network]
inputs = 3
loss = "mse"
l2 = 0.25
[[network.layers]]
width = 4
activation = "tanh"
[[network.layers]]
width = 2
activation = "identity"
"""
    network = _setting(front).network
    assert network is not None
    assert network.widths == (3, 4, 2)
    assert [layer.activation for layer in network.layers] == ["tanh", "identity"]
    assert (network.loss, network.l2) == ("mse", 0.25)


@pytest.mark.parametrize("notation", ["nielsen", "ng", "goodfellow", "bishop"])
def test_notation(notation: str) -> None:
    assert _setting(f'notation = "{notation}"').notation == notation


def test_the_notation_names_are_the_contracts() -> None:
    assert NOTATIONS == ("nielsen", "ng", "goodfellow", "bishop")


@pytest.mark.parametrize("numbering", ["auto", "input0", "input1", "ng"])
def test_numbering(numbering: str) -> None:
    assert _setting(f'numbering = "{numbering}"').numbering == numbering


def test_single_units_activation_loss_and_l2() -> None:
    setting = _setting('activation = "sigmoid"\nloss = "binary_cross_entropy"\nl2 = 0.1')
    assert (setting.activation, setting.loss, setting.l2) == (
        "sigmoid",
        "binary_cross_entropy",
        0.1,
    )
    chain = setting.single_network(2)
    assert chain.widths == (1, 1, 1) and chain.l2 == 0.1


def test_an_activation_alone_is_a_setting_for_calculus_claims() -> None:
    setting = _setting('activation = "tanh"')
    assert setting.activation == "tanh" and setting.loss is None
    assert not setting.has_network


def test_l2_with_a_spec_replaces_the_spec_lambda(tmp_path: Path) -> None:
    shutil.copy(XOR, tmp_path / "xor.toml")
    assert load_spec(XOR).l2 == 0.0
    setting = _setting('spec = "xor.toml"\nl2 = 0.5', folder=tmp_path)
    assert setting.network is not None and setting.network.l2 == 0.5


def test_l2_zero_with_a_spec_removes_its_penalty(tmp_path: Path) -> None:
    text = XOR.read_text().replace("loss =", "l2 = 0.01\nloss =", 1)
    (tmp_path / "net.toml").write_text(text)
    assert load_spec(tmp_path / "net.toml").l2 == 0.01
    setting = _setting('spec = "net.toml"\nl2 = 0', folder=tmp_path)
    assert setting.network is not None and setting.network.l2 == 0.0


@pytest.mark.parametrize("penalty", ["lambda", "lambda/2", "lambda/m", "lambda/(2m)"])
def test_penalty(penalty: str) -> None:
    assert _setting(f'l2 = 0.1\npenalty = "{penalty}"').penalty == penalty
    assert penalty in PENALTIES


def test_the_loss_formula_is_the_formula_written() -> None:
    setting = _setting(r"loss_formula = '\frac{1}{2}(y - a)^2'")
    assert setting.loss_formula is not None
    assert sp.expand(_sym(setting.loss_formula, a=a, y=y) - (y - a) ** 2 / 2) == 0


def test_a_loss_formula_may_name_the_cost_and_use_y_hat() -> None:
    # A slide's cost without the minus sign, written with ŷ: kept as written.
    setting = _setting(r"loss_formula = 'L = y \log(\hat{y}) + (1 - y) \log(1 - \hat{y})'")
    yhat = sp.Symbol("yhat", real=True)
    got = _sym(setting.loss_formula, y=y, **{"hat{y}": yhat})
    assert sp.simplify(got - (y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))) == 0


def test_functions() -> None:
    assert _setting('functions = ["f", "g", "\\\\phi"]').declared.functions == ("f", "g", "phi")


def test_define_keeps_order_and_reads_function_definitions() -> None:
    front = r"""
[define]
"f(z)" = '\frac{1}{1+e^{-z}}'
g = '\|A v\|^2'
h = 'f(x) w'
"""
    decl = _setting(front).declared
    names = [d.name.key for d in decl.definitions]
    assert names == ["f", "g", "h"]
    f, _, h = decl.definitions
    assert [p.key for p in f.params] == ["z"]
    assert sp.simplify(_sym(f.body, z=z) - 1 / (1 + sp.exp(-z))) == 0
    assert decl.is_function("f") and not decl.is_function("g")
    assert decl.defined(Name("h")) == h


def test_values_are_exact_rationals_as_written() -> None:
    front = """
[values]
w = 0.1
b = "0.7311"
c = "1/3"
n = -2
x = [1, 0]
W = [[0.5, 1], [2, "1/4"]]
"""
    decl = _setting(front).declared
    got = {v.name.key: (v.shape, v.entries) for v in decl.values}
    assert got == {
        "w": ((), (Fraction(1, 10),)),
        "b": ((), (Fraction(7311, 10000),)),
        "c": ((), (Fraction(1, 3),)),
        "n": ((), (Fraction(-2),)),
        "x": ((2,), (Fraction(1), Fraction(0))),
        "W": ((2, 2), (Fraction(1, 2), Fraction(1), Fraction(2), Fraction(1, 4))),
    }
    assert decl.shape(Name("W")) == (2, 2)


def test_shapes() -> None:
    decl = _setting("[shapes]\nA = [2, 3]\nv = [3]").declared
    assert decl.shape(Name("A")) == (2, 3)
    assert decl.shape(Name("v")) == (3,)
    assert decl.shape(Name("B")) is None


# ---------------------------------------------------------------- let lines and the body


@pytest.mark.parametrize(
    "line",
    [
        "- let $u_4 = u_2 e^{u_1}$",
        "- Let $u_4 = u_2 e^{u_1}$.",
        "let $u_4 = u_2 e^{u_1}$",
        "- $let u_4 = u_2 e^{u_1}$",
        "- $\\text{let } u_4 = u_2 e^{u_1}$",
    ],
)
def test_let_lines_are_definitions_not_claims(line: str) -> None:
    read = parse_claims_text(f"{line}\n- $u_4 = u_4$\n")
    assert read.claims == ("u_4 = u_4",)
    (only,) = read.options.definitions
    assert only.name == Name("u", sub=("4",))
    u1, u2 = sp.symbols("u_1 u_2", real=True)
    assert sp.simplify(_sym(only.body, u_1=u1, u_2=u2) - u2 * sp.exp(u1)) == 0


def test_let_lines_come_after_the_front_matters_definitions() -> None:
    read = parse_claims_text(_md("[define]\ng = 'x^2'", "- let $h = g + 1$\n- $h = x^2 + 1$\n"))
    assert [d.name.key for d in read.options.setting().declared.definitions] == ["g", "h"]


def test_the_front_matter_is_not_a_claim_and_plus_fences_work() -> None:
    text = '+++\nnotation = "ng"\n+++\n- $a = b$\n'
    assert extract_claims(text) == ["a = b"]
    assert parse_claims_text(text).options.notation == "ng"


def test_display_math_over_several_lines_is_one_claim() -> None:
    text = "$$\n\\begin{aligned}\nf &= g \\\\\n  &= h\n\\end{aligned}\n$$\n- $p = q$\n"
    assert extract_claims(text) == ["\\begin{aligned} f &= g \\\\ &= h \\end{aligned}", "p = q"]
    bare = "\\begin{aligned}\nf &= g \\\\\n&= h\n\\end{aligned}\n"
    assert extract_claims(bare) == ["\\begin{aligned} f &= g \\\\ &= h \\end{aligned}"]


def test_an_unclosed_display_block_is_one_line() -> None:
    with pytest.raises(VerifyError, match="not closed within 64 lines"):
        extract_claims("$$\nf = g\n" + "x\n" * 100)


# ---------------------------------------------------------------- Markdown and TOML agree

_FRONT = r"""spec = "xor.toml"
notation = "goodfellow"
numbering = "input0"
loss_formula = '\frac{1}{2}(y - a)^2'
l2 = 0.1
penalty = "lambda/(2m)"
functions = ["f"]

[define]
g = '\|A v\|^2'
"f(z)" = '\frac{1}{1+e^{-z}}'

[values]
x = [1, 0]
w = "0.5"

[shapes]
A = [2, 3]
v = [3]
"""


def test_a_markdown_and_a_toml_file_with_the_same_content_give_the_same_setting(
    tmp_path: Path,
) -> None:
    shutil.copy(XOR, tmp_path / "xor.toml")
    (tmp_path / "c.md").write_text(f"---\n{_FRONT}---\n- $g = g$\n- $w = w$\n")
    (tmp_path / "c.toml").write_text(f'claims = ["g = g", "w = w"]\n{_FRONT}')
    md_setting, md_claims = load_claims(tmp_path / "c.md")
    toml_setting, toml_claims = load_claims(tmp_path / "c.toml")
    assert md_setting == toml_setting
    assert md_claims == toml_claims == ["g = g", "w = w"]
    # Every key made it (not two equal empty settings).
    assert md_setting.network is not None and md_setting.network.l2 == 0.1
    assert md_setting.notation == "goodfellow" and md_setting.numbering == "input0"
    assert md_setting.penalty == "lambda/(2m)" and md_setting.loss_formula is not None
    assert len(md_setting.declared.definitions) == 2 and len(md_setting.declared.values) == 2
    assert md_setting.declared.functions == ("f",) and len(md_setting.declared.shapes) == 2


# ---------------------------------------------------------------- refusals: one line each


@pytest.mark.parametrize(
    ("front", "fragments"),
    [
        ('notaton = "ng"', ["unknown key 'notaton'", "did you mean notation?", "allowed keys"]),
        ('notation = "leibniz"', ["notation: got 'leibniz'", "nielsen, ng, goodfellow, bishop"]),
        ('numbering = "input2"', ["numbering: got 'input2'", "auto, input0, input1, ng"]),
        ('activation = "softmax"', ["activation: got 'softmax'", "sigmoid"]),
        ("activation = 3", ["activation: got 3"]),
        ('loss = "hinge"', ["loss: got 'hinge'", "binary_cross_entropy"]),
        ("loss_formula = 'w a'", ["loss_formula", "'w' is not allowed", "\\hat y"]),
        ("loss_formula = 'a_1 - y'", ["loss_formula", "a_1", "summation index"]),
        ("loss_formula = '(a - '", ["loss_formula"]),
        ("loss_formula = 'w = a'", ["loss_formula", "C = …"]),
        ("loss_formula = 'C = D'", ["loss_formula", "'D' is not allowed"]),
        (
            "loss = \"mse\"\nloss_formula = '(a-y)^2'",
            ["loss: got 'mse' and a loss_formula", "one or the other"],
        ),
        ("l2 = -1", ["l2: got -1", "≥ 0"]),
        ('l2 = "big"', ["l2: got 'big'"]),
        ("l2 = true", ["l2: got True"]),
        ("l2 = nan", ["l2: got nan"]),
        ('penalty = "2lambda"', ["penalty: got '2lambda'", "lambda/(2m)"]),
        ('functions = "f"', ["functions: got 'f'", "list"]),
        ('functions = ["f1"]', ["functions[0]: got 'f1'", "letters"]),
        ("[define]\ng = 'g + 1'", ["g is defined in terms of itself"]),
        ("[define]\ng = 'h + 1'\nh = '2 g'", ["cycle: g → h → g"]),
        ("[define]\n\"g + 1\" = 'x'", ["define['g + 1']", "left side must be a symbol"]),
        ("[define]\ng = '(('", ["define.g"]),
        ("[define]\ng = 3", ["define.g: got 3", "formula"]),
        ('define = "g = x"', ["define: got 'g = x'", "[define]"]),
        ("[values]\nx = [[1, 2], [3]]", ["values.x: rows of lengths [1, 2]"]),
        ("[values]\nx = []", ["values.x: an empty list"]),
        ("[values]\nx = true", ["values.x: got True"]),
        ('[values]\nx = "1e999999"', ["values.x: got '1e999999'", "at most 60 digits"]),
        ("[values]\nx = inf", ["values.x: got inf", "finite"]),
        ('[values]\nx = "two"', ["values.x: got 'two'", "0.7311"]),
        ("[values]\nx = [1, [2]]", ["values.x: mixes numbers and lists"]),
        ("[shapes]\nA = [0, 2]", ["shapes.A: got [0, 2]", "positive integers"]),
        ("[shapes]\nA = [2, 3, 4]", ["shapes.A: got [2, 3, 4]"]),
        ("[shapes]\nA = [17, 17]", ["shapes.A: 289 entries; at most 256"]),
        ("[values]\nv = [1, 2]\n[shapes]\nv = [3]", ["v: its value has shape 2", "says 3"]),
        ("[define]\ng = 'x'\n[values]\ng = 1", ["g is defined and given a value"]),
        ("[define]\ng = 'x'\n[shapes]\ng = [2]", ["g is defined; its shape comes from"]),
        ('functions = ["f"]\n[values]\nf = 2', ["f is declared a function and given a value"]),
        ('functions = ["v"]\n[shapes]\nv = [2]', ["v is declared a function and given a value"]),
        ('spec = "a.toml"\n[network]\ninputs = 1', ["either spec", "[network]"]),
        ("spec = 3", ["spec: got 3"]),
        ('spec = "no-such.toml"', ["no-such.toml: no such spec file"]),
        ('[network]\ninputs = 2\nloss = "mse"\nlayers = [{widht = 1}]', ["network.layers[0]"]),
        ('claims = ["a = b"]', ["front matter: claims", "body"]),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_it(front: str, fragments: list[str]) -> None:
    with pytest.raises(SymPropError) as info:
        _setting(front)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_yaml_front_matter_is_named_and_shown_in_toml() -> None:
    with pytest.raises(SymPropError) as info:
        parse_claims_text("---\nnotation: ng\nnumbering: input1\n---\n- $a = b$\n")
    message = str(info.value)
    assert "the front matter is TOML, not YAML" in message
    assert 'notation = "ng"' in message


def test_an_unclosed_front_matter_is_named() -> None:
    with pytest.raises(VerifyError, match="opened by --- on line 1 is not closed"):
        parse_claims_text('---\nnotation = "ng"\n- $a = b$\n')


def test_an_unknown_key_in_a_toml_claims_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('claims = ["a = b"]\npenalti = "lambda"\n')
    with pytest.raises(VerifyError) as info:
        read_claims_file(path)
    assert str(info.value).startswith(f"{path}: unknown key 'penalti' (did you mean penalty?)")


def test_a_spec_that_never_ends_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "c.md").write_text(_md('spec = "/dev/zero"'))
    start = time.monotonic()
    with pytest.raises(SymPropError, match="/dev/zero: the spec file must be a regular file"):
        read_claims_file(tmp_path / "c.md")
    assert time.monotonic() - start < 5


# ---------------------------------------------------------------- bounds


def test_values_hold_at_most_256_entries() -> None:
    ok = "[values]\nW = [" + ", ".join(["[" + ", ".join(["1"] * 16) + "]"] * 16) + "]"
    assert _setting(ok).declared.shape(Name("W")) == (16, 16)
    assert MAX_VALUE_ENTRIES == 256
    too_many = "[values]\nv = [" + ", ".join(["1"] * 257) + "]"
    with pytest.raises(VerifyError, match="257 entries; at most 256"):
        _setting(too_many)
    wide = "[values]\nW = [" + ", ".join(["[" + ", ".join(["1"] * 200) + "]"] * 2) + "]"
    with pytest.raises(VerifyError, match="400 entries; at most 256"):
        _setting(wide)


def test_at_most_64_definitions_from_the_front_matter_and_let_lines() -> None:
    defs = "\n".join(f"g_{i} = 'x + {i}'" for i in range(MAX_DEFINITIONS))
    assert len(_setting("[define]\n" + defs).declared.definitions) == MAX_DEFINITIONS
    with pytest.raises(VerifyError, match="65 entries; at most 64"):
        _setting("[define]\n" + defs + "\nh = 'x'")
    with pytest.raises(VerifyError, match="65 definitions; at most 64"):
        _setting("[define]\n" + defs, "- let $h = x$\n- $h = x$\n")


def test_a_definition_is_bounded_like_a_claim() -> None:
    with pytest.raises(VerifyError, match="at most 2000"):
        _setting("[define]\ng = '" + "x + " * 600 + "x'")


def test_definitions_nest_at_most_16_deep() -> None:
    chain = [definition_from_text(f"g_{i} = g_{i - 1} + 1") for i in range(1, 17)]
    assert len(declarations(chain).definitions) == 16  # g_1 uses the free g_0
    deeper = [*chain, definition_from_text("g_17 = g_16 + 1")]
    with pytest.raises(VerifyError, match="nest 17 deep"):
        declarations(deeper)


def test_definitions_that_double_when_written_out_are_refused_quickly() -> None:
    # g_k = g_{k-1} g_{k-1}: 2^k terms written out; refused by counting, never expanded.
    doubling = [definition_from_text(f"g_{i} = g_{i - 1} g_{i - 1}") for i in range(1, 16)]
    start = time.monotonic()
    with pytest.raises(VerifyError, match="over 20000 terms"):
        declarations(doubling)
    assert time.monotonic() - start < 2


def test_parameters_and_summation_indices_are_not_references() -> None:
    # f(x) = x^2 does not use the defined x; a sum's k is its own index.
    decl = declarations(
        [
            definition_from_text("x = 3"),
            definition_from_text("f(x) = x^2"),
            definition_from_text("k = 1"),
            definition_from_text("s = \\sum_k a_k"),
        ]
    )
    assert len(decl.definitions) == 4


def test_a_symbol_defined_twice_is_refused() -> None:
    with pytest.raises(VerifyError, match="g is defined twice"):
        declarations([definition_from_text("g = x"), definition_from_text("g = y")])


# ---------------------------------------------------------------- the Setting


def test_no_setting_at_all_is_valid_and_a_network_claim_gets_one_line() -> None:
    setting = Setting()
    assert setting.network is None and not setting.has_network
    with pytest.raises(VerifyError) as info:
        setting.single_network(2)
    message = str(info.value)
    assert "\n" not in message
    assert "the setting declares none" in message and "--spec" in message


def test_a_calculus_setting_carries_its_declarations() -> None:
    decl = declarations([definition_from_text("let g = x^2 y")], functions=["f"])
    setting = Setting.calculus(decl, activation="sigmoid", notation="bishop")
    assert setting.declared is decl and setting.activation == "sigmoid"
    assert setting.notation == "bishop" and setting.network is None
    assert Setting.calculus().declared == Declarations()


def test_a_loss_formula_with_an_activation_makes_single_units() -> None:
    setting = _setting("activation = \"tanh\"\nloss_formula = '(a - y)^2'")
    assert setting.has_network
    assert [layer.activation for layer in setting.single_network(3).layers] == ["tanh"] * 3


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"notation": "leibniz"}, "notation: got 'leibniz'"),
        ({"penalty": "lambda^2"}, "penalty: got 'lambda^2'"),
        ({"l2": -0.5}, "l2: got -0.5"),
        ({"declared": "g = x"}, "declared: got 'g = x'"),
        ({"loss_formula": "(a-y)^2"}, "must be a parsed formula"),
        ({"activation": "sigmoid", "loss": "hinge"}, "loss: got 'hinge'"),
        ({"network": load_spec(XOR), "activation": "relu"}, "a network spec has its own"),
    ],
)
def test_the_setting_checks_its_new_fields(kwargs: dict, fragment: str) -> None:
    with pytest.raises(VerifyError, match=None) as info:
        Setting(**kwargs)
    assert fragment in str(info.value)


def test_from_spec_with_l2_replaces_the_spec_lambda() -> None:
    assert Setting.from_spec(load_spec(XOR), l2=0.3).network.l2 == 0.3  # type: ignore[union-attr]
    assert Setting.from_spec(load_spec(XOR)).network == load_spec(XOR)


# ---------------------------------------------------------------- override order


def test_the_command_line_overrides_the_file_key_by_key(tmp_path: Path) -> None:
    shutil.copy(XOR, tmp_path / "xor.toml")
    front = (
        'spec = "xor.toml"\nnotation = "ng"\nnumbering = "ng"\npenalty = "lambda"\n'
        "functions = [\"f\"]\n[define]\ng = 'x^2'\nh = 'x^3'\n[values]\nw = 1"
    )
    file = parse_claims_text(_md(front), folder=tmp_path).options
    cli = SettingOptions(
        notation="nielsen",
        definitions=(definition_from_text("g = x^4"), definition_from_text("k = 2")),
        functions=("phi",),
    )
    setting = cli.over(file).setting()
    assert setting.notation == "nielsen"  # stated on the command line
    assert setting.numbering == "ng" and setting.penalty == "lambda"  # kept from the file
    assert setting.network == load_spec(XOR)
    bodies = {d.name.key: _sym(d.body, x=x) for d in setting.declared.definitions}
    assert list(bodies) == ["g", "h", "k"]  # g replaced in place, k added
    assert bodies["g"] == x**4 and bodies["h"] == x**3
    assert setting.declared.functions == ("f", "phi")


def test_single_units_on_the_command_line_replace_the_file_spec(tmp_path: Path) -> None:
    shutil.copy(XOR, tmp_path / "xor.toml")
    file = parse_claims_text(_md('spec = "xor.toml"'), folder=tmp_path).options
    setting = SettingOptions(activation="tanh", loss="mse").over(file).setting()
    assert setting.network is None and (setting.activation, setting.loss) == ("tanh", "mse")
    back = SettingOptions(network=load_spec(XOR)).over(
        SettingOptions(activation="tanh", loss="mse")
    )
    assert back.setting().network == load_spec(XOR) and back.activation is None


def test_a_loss_replaces_a_written_out_loss_and_back() -> None:
    file = parse_claims_text(_md("activation = \"sigmoid\"\nloss_formula = '(a-y)^2'")).options
    over = SettingOptions(loss="binary_cross_entropy").over(file).setting()
    assert over.loss == "binary_cross_entropy" and over.loss_formula is None
    file = parse_claims_text(_md('activation = "sigmoid"\nloss = "mse"')).options
    formula = parse_claims_text(_md("loss_formula = 'a - y'")).options.loss_formula
    back = SettingOptions(loss_formula=formula).over(file).setting()
    assert back.loss is None and back.loss_formula == formula


def test_markdown_body_only_claims_are_split_from_lets() -> None:
    doc = split_markdown("# t\n- let $g = x$\n- $g = x$\nprose without math\n")
    assert doc.claims == ("g = x",) and doc.lets == ("g = x",) and doc.front_matter is None


@pytest.mark.parametrize(
    "text", ["let g := x^2", "g \\coloneqq x^2", "\\text{let } g = x^2", "Let g = x^2."]
)
def test_definitions_read_as_the_claims_read_them(text: str) -> None:
    got = definition_from_text(text)
    assert got.name == Name("g") and _sym(got.body, x=x) == x**2


@pytest.mark.parametrize("text", ["g = h = x", "g = x \\Rightarrow h = x", "g", "x^2 = 3"])
def test_a_definition_is_one_equation_with_a_symbol_on_the_left(text: str) -> None:
    with pytest.raises(VerifyError) as info:
        definition_from_text(text)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- hostile text


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("-+=\n[]{}\"'$\\:._ abcfgxyz0123456789()^")),
        max_size=300,
    )
)
def test_any_claims_text_is_read_or_refused_with_one_line(text: str) -> None:
    for candidate in (text, f"---\n{text}\n---\n- $x = x$\n"):
        for fmt in ("markdown", "toml"):
            try:
                read = parse_claims_text(candidate, fmt)
                read.options.setting()
            except SymPropError as exc:
                assert str(exc).strip(), candidate


def test_each_equation_of_a_line_is_a_claim_and_prose_math_is_not() -> None:
    text = (
        "- where $m$ is the batch size and $\\delta^L = a^L - y$ (BP1)\n"
        "- $z = W x$, $a = \\sigma(z)$\n"
        "- let $g = x$ and $h = y$; then $g h = x y$.\n"
        "Let $u = 2$. Then $u^2 = 4$\n"
        "- the ratio $m$ of $n$ is prose\n"
    )
    doc = split_markdown(text)
    assert doc.claims == (
        "\\delta^L = a^L - y",
        "z = W x",
        "a = \\sigma(z)",
        "g h = x y",
        "u^2 = 4",
    )
    assert doc.lets == ("g = x", "h = y", "u = 2")


def test_html_comments_are_not_claims() -> None:
    text = "<!-- the slide writes\n $a = b$ here -->\n- $c = d$ <!-- e = f -->\n"
    assert extract_claims(text) == ["c = d"]
    with pytest.raises(VerifyError, match="HTML comment"):
        extract_claims("<!-- a = b\n- $c = d$\n")


def test_a_let_line_and_define_of_one_name_is_refused_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.md"
    path.write_text(_md("[define]\ng = 'x^2'", "- let $g = x^3$\n- $g = g$\n"))
    with pytest.raises(VerifyError) as info:
        read_claims_file(path)
    assert str(info.value) == f"{path}: g is defined twice; define each symbol once"


def test_a_cycle_in_a_toml_file_is_refused_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("claims = ['g = g']\n[define]\ng = 'h'\nh = 'g'\n")
    with pytest.raises(VerifyError, match=f"^{path}: definitions refer to each other"):
        read_claims_file(path)


def test_a_value_on_the_command_line_replaces_a_file_definition_and_back() -> None:
    file = parse_claims_text(_md("[define]\ng = 'x^2'\n[values]\nw = 2\n[shapes]\nA = [2, 2]"))
    cli = SettingOptions(
        values=(value("g", 3), value("A", [[1, 0], [0, 1]])),
        definitions=(definition_from_text("w = x + 1"),),
    )
    decl = cli.over(file.options).setting().declared
    assert decl.defined(Name("g")) is None and decl.value(Name("g")).entries == (Fraction(3),)
    assert decl.value(Name("w")) is None and decl.defined(Name("w")) is not None
    assert decl.shape(Name("A")) == (2, 2) and len(decl.shapes) == 0


def test_all_definitions_together_are_bounded_before_any_is_parsed() -> None:
    body = " + ".join(["x"] * 990)  # 3957 characters: over a claim's 2000 on its own too
    long = "[define]\n" + "\n".join(f"g_{i} = '{body[:1990]}'" for i in range(11))
    start = time.monotonic()
    with pytest.raises(VerifyError, match="characters in all; at most 20000"):
        _setting(long)
    with pytest.raises(VerifyError, match="characters in all; at most 20000"):
        _setting("", "".join(f"- let $g_{i} = {body[:1990]}$\n" for i in range(11)))
    assert time.monotonic() - start < 2
