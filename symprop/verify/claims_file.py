"""Reading a claims file's setting: a Markdown front matter or a TOML file's top-level keys,
and the command line's options over them, into one :class:`~symprop.verify.setting.Setting`.

The format (all keys optional)::

    ---
    spec = "../xor.toml"        # or an inline [network] table with a spec's keys
    notation = "ng"             # nielsen | ng | goodfellow | bishop
    numbering = "input1"        # auto | input0 | input1 | ng
    activation = "sigmoid"      # single units (with loss), or alone for calculus claims
    loss = "binary_cross_entropy"
    loss_formula = '\\frac{1}{2}(y - a)^2'
    l2 = 0.1
    penalty = "lambda/(2m)"     # lambda | lambda/2 | lambda/m | lambda/(2m)
    functions = ["f", "g"]
    [define]
    g = '\\|A v\\|^2'
    "f(z)" = '\\frac{1}{1+e^{-z}}'
    [values]
    x = [1, 0]
    [shapes]
    A = [2, 3]
    ---
    - let $u_4 = u_2 e^{u_1}$
    - $\\sigma'(z) = \\sigma(z)(1 - \\sigma(z))$

Every bad key or value is one :class:`~symprop.verify.errors.VerifyError` (or the spec's
:class:`~symprop.core.errors.SpecError`) naming the key, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from symprop.core.errors import SpecError, SymPropError, shown, shown_path
from symprop.core.files import read_text
from symprop.core.registry import LOSSES
from symprop.core.spec import Network, _is_real, load_spec, parse_toml, spec_from_dict
from symprop.parsing.tree import MAX_LENGTH, Expr, Name
from symprop.verify.claims import SETTING_KEYS, split_markdown, toml_claims, unknown_key
from symprop.verify.declare import (
    MAX_DEFINITIONS,
    MAX_FUNCTIONS,
    Definition,
    Value,
    check_definition_text,
    check_notation,
    check_penalty,
    declarations,
    definition,
    definition_from_text,
    function_name,
    shape,
    value,
)
from symprop.verify.declare import loss_formula as formula_of
from symprop.verify.errors import VerifyError
from symprop.verify.notation import NUMBERINGS
from symprop.verify.setting import Setting

NUMBERING_CHOICES: tuple[str, ...] = ("auto", *NUMBERINGS)
"""The accepted values of ``numbering``."""


@dataclass(frozen=True)
class SettingOptions:
    """What a claims file or the command line states about the setting; ``None`` (or
    empty) is "not stated", so that one source can override another
    (:meth:`over`) before the :class:`~symprop.verify.setting.Setting` is built.

    Attributes
    ----------
    network
        A spec (from ``spec`` or ``[network]``), or ``None``.
    notation, numbering, activation, loss, penalty
        As the keys of the same names.
    loss_formula
        The written-out loss, parsed.
    l2
        λ (with a spec, it replaces the spec's).
    definitions, values, shapes, functions
        ``[define]`` and ``let`` lines, ``[values]``, ``[shapes]``, ``functions``.
    """

    network: Network | None = None
    notation: str | None = None
    numbering: str | None = None
    activation: str | None = None
    loss: str | None = None
    loss_formula: Expr | None = None
    l2: float | None = None
    penalty: str | None = None
    definitions: tuple[Definition, ...] = ()
    values: tuple[Value, ...] = ()
    shapes: tuple[tuple[Name, tuple[int, ...]], ...] = ()
    functions: tuple[str, ...] = ()

    def over(self, base: SettingOptions) -> SettingOptions:
        """These options stated over ``base`` (the command line's over the file's).

        A stated value replaces ``base``'s. The network is one choice: a spec replaces
        ``base``'s single-unit activation and loss, and an activation or loss replaces its
        spec; a loss replaces a written-out loss and the other way round. A definition,
        value or shape of a name ``base`` also declares replaces it; functions add up.
        """
        merged: dict[str, Any] = {}
        for name in ("notation", "numbering", "l2", "penalty"):
            mine = getattr(self, name)
            merged[name] = mine if mine is not None else getattr(base, name)
        single = self.activation is not None or self.loss is not None
        if self.network is not None:
            merged.update(network=self.network, activation=None, loss=None)
        elif single:
            merged.update(
                network=None,
                activation=self.activation if self.activation is not None else base.activation,
                loss=self.loss if self.loss is not None else base.loss,
            )
        else:
            merged.update(network=base.network, activation=base.activation, loss=base.loss)
        if self.loss_formula is not None:
            merged.update(loss_formula=self.loss_formula, loss=None)
        elif self.loss is not None:
            merged["loss_formula"] = None
        else:
            merged["loss_formula"] = base.loss_formula
        # A name these options declare is theirs alone: a value given here replaces a
        # definition there (and its shape), a definition here replaces a value there.
        defined = {_plain(d.name) for d in self.definitions}
        valued = {_plain(v.name) for v in self.values}
        base_definitions = tuple(d for d in base.definitions if _plain(d.name) not in valued)
        base_values = tuple(v for v in base.values if _plain(v.name) not in defined)
        base_shapes = tuple(s for s in base.shapes if _plain(s[0]) not in defined | valued)
        merged["definitions"] = _by_name(base_definitions, self.definitions, lambda d: d.name)
        merged["values"] = _by_name(base_values, self.values, lambda v: v.name)
        merged["shapes"] = _by_name(base_shapes, self.shapes, lambda s: s[0])
        merged["functions"] = tuple(dict.fromkeys(base.functions + self.functions))
        return SettingOptions(**merged)

    def setting(self, **extra: Any) -> Setting:
        """The :class:`~symprop.verify.setting.Setting` these options state (validated);
        ``extra`` sets the other fields (``points``, ``seed``, ``time_limit``)."""
        network = self.network
        if network is not None and self.l2 is not None and self.l2 != network.l2:
            # Stated λ replaces the spec's, 0 too (the Setting alone only raises it).
            network = _with_l2(network, self.l2)
        return Setting(
            network=network,
            activation=self.activation,
            loss=self.loss,
            l2=self.l2 if self.l2 is not None and network is None else 0.0,
            numbering=self.numbering if self.numbering is not None else "auto",
            notation=self.notation,
            loss_formula=self.loss_formula,
            penalty=self.penalty if self.penalty is not None else "lambda",
            declared=declarations(self.definitions, self.values, self.shapes, self.functions),
            **extra,
        )


def _by_name(base: tuple[Any, ...], mine: tuple[Any, ...], key: Any) -> tuple[Any, ...]:
    """``base``'s entries with those ``mine`` also names replaced in place, then ``mine``'s new
    ones (in order)."""
    names = {_plain(key(m)): m for m in mine}
    replaced = [names.pop(_plain(key(b)), b) for b in base]
    kept = {_plain(key(r)) for r in replaced}
    return tuple(replaced) + tuple(m for m in mine if _plain(key(m)) not in kept)


def _plain(name: Name) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return (name.base, name.sub, name.sup, name.decorations)


def _with_l2(network: Network, l2: float) -> Network:
    data = network.to_dict()
    data["l2"] = l2
    return spec_from_dict(data)


@dataclass(frozen=True)
class ClaimsFile:
    """A claims file read: what its setting states and its claims, in order."""

    options: SettingOptions
    claims: tuple[str, ...]


# ---------------------------------------------------------------- reading the keys


def options_from_table(table: Mapping[str, Any], folder: Path | None = None) -> SettingOptions:
    """The setting a front matter or a TOML file's top level states.

    ``folder`` is where a relative ``spec`` path starts (the claims file's folder; the
    working folder when ``None``). Claims keys are not read here.
    """
    for key in table:
        if key not in SETTING_KEYS and key not in ("claims", "claim"):
            raise unknown_key(key, SETTING_KEYS)
    out: dict[str, Any] = {}
    if "spec" in table and "network" in table:
        raise VerifyError('give either spec = "file.toml" or a [network] table, not both')
    if "spec" in table:
        out["network"] = _spec(table["spec"], folder)
    elif "network" in table:
        out["network"] = _inline_network(table["network"])
    if "notation" in table:
        out["notation"] = check_notation(table["notation"])
    if "numbering" in table:
        raw = table["numbering"]
        if raw not in NUMBERING_CHOICES or not isinstance(raw, str):
            raise VerifyError(f"numbering: got {shown(raw)}; known: {', '.join(NUMBERING_CHOICES)}")
        out["numbering"] = raw
    if "activation" in table:
        raw = table["activation"]
        if not isinstance(raw, str):
            raise VerifyError(f"activation: got {shown(raw)}; must be an activation's name")
        out["activation"] = raw  # the Setting checks it against the registry
    if "loss" in table:
        raw = table["loss"]
        if not isinstance(raw, str) or raw not in LOSSES:
            raise VerifyError(f"loss: got {shown(raw)}; known: {', '.join(LOSSES)}")
        out["loss"] = raw
    if "loss_formula" in table:
        out["loss_formula"] = formula_of(table["loss_formula"])
    if "l2" in table:
        out["l2"] = l2_value(table["l2"])
    if "penalty" in table:
        out["penalty"] = check_penalty(table["penalty"])
    if "functions" in table:
        raw = table["functions"]
        if not isinstance(raw, list) or len(raw) > MAX_FUNCTIONS:
            raise VerifyError(
                f"functions: got {shown(raw)}; must be a list of at most "
                f'{MAX_FUNCTIONS} names, e.g. ["f", "g"]'
            )
        out["functions"] = tuple(function_name(f, f"functions[{i}]") for i, f in enumerate(raw))
    defines = _table(table, "define", MAX_DEFINITIONS)
    check_definition_text([*defines, *defines.values()], "[define]")
    out["definitions"] = tuple(definition(k, v) for k, v in defines.items())
    out["values"] = tuple(value(k, v) for k, v in _table(table, "values", MAX_DEFINITIONS).items())
    out["shapes"] = tuple(shape(k, v) for k, v in _table(table, "shapes", MAX_DEFINITIONS).items())
    return SettingOptions(**out)


def l2_value(raw: object, what: str = "l2") -> float:
    """λ: a finite number ≥ 0."""
    if isinstance(raw, bool) or not _is_real(raw) or raw < 0:  # type: ignore[operator]
        raise VerifyError(f"{what}: got {shown(raw)}; must be a finite number ≥ 0")
    return float(raw)  # type: ignore[arg-type]


def _table(table: Mapping[str, Any], key: str, limit: int) -> Mapping[str, Any]:
    raw = table.get(key, {})
    if not isinstance(raw, Mapping):
        raise VerifyError(f"{key}: got {shown(raw)}; must be a table ([{key}])")
    if len(raw) > limit:
        raise VerifyError(f"[{key}]: {len(raw)} entries; at most {limit}")
    return raw


def _spec(raw: object, folder: Path | None) -> Network:
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise VerifyError(f"spec: got {shown(raw)}; must be the path of a spec file")
    path = Path(raw)
    if folder is not None and not path.is_absolute():
        path = folder / path
    return load_spec(path)


def _inline_network(raw: object) -> Network:
    if not isinstance(raw, Mapping):
        raise VerifyError(f"network: got {shown(raw)}; must be a table ([network])")
    try:
        return spec_from_dict(raw)
    except SpecError as exc:
        raise SpecError(f"network.{exc.field}", exc.value, exc.allowed) from None


# ---------------------------------------------------------------- the command line

_VALUE_OPTION = re.compile(r"^\s*([^=]+?)\s*=\s*(.+?)\s*$", re.S)


def value_option(text: object, what: str = "--value") -> Value:
    """``--value 'x=[1,0]'``: a name, ``=``, and a TOML number or list (or a decimal or
    fraction string such as ``1/3``)."""
    match = _VALUE_OPTION.match(text) if isinstance(text, str) else None
    if match is None or len(text) > MAX_LENGTH:  # type: ignore[arg-type]
        raise VerifyError(
            f"{what}: got {shown(text)}; write name=value, e.g. x=[1,0], w=0.5, W=[[1,2],[3,4]]"
        )
    name, raw = match.group(1), match.group(2)
    try:
        parsed: object = parse_toml(f"v = {raw}")["v"]
    except SymPropError:
        parsed = raw  # 1/3, or a bad value that value() names
    return value(name, parsed, what)


def command_line_options(
    network: Network | None = None,
    activation: str | None = None,
    loss: str | None = None,
    loss_formula: str | None = None,
    l2: float | None = None,
    penalty: str | None = None,
    numbering: str | None = None,
    notation: str | None = None,
    defines: tuple[str, ...] = (),
    values: tuple[str, ...] = (),
    functions: tuple[str, ...] = (),
) -> SettingOptions:
    """The options of ``symprop verify`` as :class:`SettingOptions` (each validated and
    named by its option), to be stated over a claims file's."""
    if len(defines) > MAX_DEFINITIONS or len(values) > MAX_DEFINITIONS:
        raise VerifyError(f"--define/--value: at most {MAX_DEFINITIONS} each")
    check_definition_text(defines, "--define")
    if len(functions) > MAX_FUNCTIONS:
        raise VerifyError(f"--function: at most {MAX_FUNCTIONS}")
    if numbering is not None and numbering not in NUMBERING_CHOICES:
        raise VerifyError(
            f"--numbering: got {shown(numbering)}; known: {', '.join(NUMBERING_CHOICES)}"
        )
    return SettingOptions(
        network=network,
        notation=check_notation(notation, "--notation") if notation is not None else None,
        numbering=numbering,
        activation=activation,
        loss=loss,
        loss_formula=formula_of(loss_formula, "--loss-formula")
        if loss_formula is not None
        else None,
        l2=l2_value(l2, "--l2") if l2 is not None else None,
        penalty=check_penalty(penalty, "--penalty") if penalty is not None else None,
        definitions=tuple(definition_from_text(d, "--define") for d in defines),
        values=tuple(value_option(v) for v in values),
        functions=tuple(function_name(f, "--function") for f in functions),
    )


# ---------------------------------------------------------------- whole files

_YAML_LINE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:\s*(\S.*)?$")


def _front_matter_table(text: str) -> dict[str, Any]:
    """The front matter's TOML; a YAML-looking one (``notation: ng``) is named as such."""
    try:
        return parse_toml(text)
    except SymPropError:
        for line in text.splitlines():
            match = _YAML_LINE.match(line)
            if match and "=" not in line:
                key, val = match.group(1), (match.group(2) or "").strip()
                example = f'{key} = "{val}"' if val and len(val) <= 30 else f"{key} = …"
                raise VerifyError(
                    f"the front matter is TOML, not YAML: write {shown(example, 60)[1:-1]} "
                    f"instead of {shown(line.strip(), 60)}"
                ) from None
        raise


def parse_claims_text(text: str, fmt: str = "markdown", folder: Path | None = None) -> ClaimsFile:
    """A claims document's setting and claims (``fmt``: ``markdown`` or ``toml``).

    Markdown: the front matter's keys, the body's claims, and its ``let`` lines as
    definitions after the front matter's ``[define]``. TOML: the top-level keys and
    ``claims = [...]`` / ``[[claim]]``.
    """
    if not isinstance(text, str):
        raise VerifyError(f"text: got {shown(text)}; must be a str")
    if fmt == "toml":
        data = parse_toml(text)
        claims = toml_claims(data)
        options = options_from_table(data, folder)
        _check_declarations(options)
        return ClaimsFile(options, tuple(claims))
    if fmt != "markdown":
        raise VerifyError(f"fmt: got {shown(fmt)}; known: markdown, toml")
    doc = split_markdown(text)
    options = SettingOptions()
    if doc.front_matter is not None:
        table = _front_matter_table(doc.front_matter)
        for key in ("claims", "claim"):
            if key in table:
                raise VerifyError(
                    f"front matter: {key}: the claims of a Markdown file are its body's lines"
                )
        options = options_from_table(table, folder)
    if doc.lets:
        if len(options.definitions) + len(doc.lets) > MAX_DEFINITIONS:
            raise VerifyError(
                f"{len(options.definitions) + len(doc.lets)} definitions; at most {MAX_DEFINITIONS}"
            )
        check_definition_text(
            [*doc.lets, *(d.text for d in options.definitions)], "[define] and let lines"
        )
        lets = tuple(definition_from_text(t, f"let line {i + 1}") for i, t in enumerate(doc.lets))
        # Appended, not stated over: a name both [define] and a let line define is refused.
        options = replace(options, definitions=options.definitions + lets)
    _check_declarations(options)
    return ClaimsFile(options, doc.claims)


def _check_declarations(options: SettingOptions) -> None:
    """One file's declarations checked together (each name once, no cycles, bounded), so
    that their errors name the file."""
    declarations(options.definitions, options.values, options.shapes, options.functions)


def read_claims_file(path: str | Path) -> ClaimsFile:
    """A claims file (``.toml``: TOML; else Markdown), read with the size limit
    (:func:`symprop.core.files.read_text`). Every error names the path."""
    path = Path(path)
    text = read_text(path, "claims file")
    fmt = "toml" if path.suffix.lower() == ".toml" else "markdown"
    try:
        return parse_claims_text(text, fmt, path.parent)
    except SymPropError as exc:
        # A spec's own errors name the spec's path too: "claims.md: ../net.toml: layers[0]…".
        raise VerifyError(f"{shown_path(path)}: {exc}") from None


def load_claims(path: str | Path, **extra: Any) -> tuple[Setting, list[str]]:
    """The setting a claims file states and its claims.

    ``extra`` sets the Setting's other fields (``points``, ``seed``, ``time_limit``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "c.md").write_text('---\\nactivation = "sigmoid"\\n---\\n- $x = x$\\n')
    >>> setting, claims = load_claims(folder / "c.md")
    >>> setting.activation, claims
    ('sigmoid', ['x = x'])
    """
    read = read_claims_file(path)
    try:
        return read.options.setting(**extra), list(read.claims)
    except SymPropError as exc:
        raise VerifyError(f"{shown_path(path)}: {exc}") from None
