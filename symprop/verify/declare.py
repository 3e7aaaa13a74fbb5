"""What a claims file or the CLI declares besides the network: the notation the claims are
written in, how the cost is written, and free definitions and values.

These are data, read once from a claims file's front matter (Markdown) or its TOML keys, or
from CLI options, and passed to every stage in the :class:`~symprop.verify.setting.Setting`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

from symprop.core.errors import ParseError, shown
from symprop.parsing import parse, parse_derivation
from symprop.parsing.tree import (
    MAX_DIGITS,
    MAX_LENGTH,
    Call,
    Derivation,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Limit,
    Name,
    iter_nodes,
)
from symprop.verify.errors import VerifyError
from symprop.verify.notation import normalise

# ---------------------------------------------------------------- limits
# Far above any lecture's worked example, far below what could make evaluation slow.
MAX_DEFINITIONS = 64
"""Most free definitions in one setting."""
MAX_VALUE_ENTRIES = 256
"""Most entries of one declared value or shape (a 16 × 16 matrix)."""
MAX_DEFINITION_DEPTH = 16
"""Longest chain of definitions using definitions (``u_4`` uses ``u_3`` uses …)."""
MAX_INLINED_NODES = 20_000
"""Largest definition once every definition it uses is written out in it: ``g_2 = g_1 g_1``,
``g_3 = g_2 g_2``, … doubles at each step and is refused long before it costs memory."""
MAX_FUNCTIONS = 64
"""Most names declared to be functions."""
MAX_DEFINITION_TEXT = 20_000
"""Most characters of all definitions of one setting together (each is also bounded like a
claim): they are all read before the first claim is checked, outside its time limit."""


def check_definition_text(texts: Iterable[object], what: str = "definitions") -> None:
    """Refuse definitions whose text together exceeds :data:`MAX_DEFINITION_TEXT`, before
    any is parsed."""
    total = sum(len(t) for t in texts if isinstance(t, str))
    if total > MAX_DEFINITION_TEXT:
        raise VerifyError(
            f"{what}: {total} characters in all; at most {MAX_DEFINITION_TEXT} (each "
            f"definition at most {MAX_LENGTH})"
        )


NotationName = Literal["nielsen", "ng", "goodfellow", "bishop"]
"""Letter conventions a claim may be written in: Nielsen's z/a/W/b/δ; Ng's Θ^{(l)} with the
bias column j = 0 and the bias unit a_0 = 1; Goodfellow's a (pre-activation), h
(post-activation) and g (gradient); Bishop's a (pre-activation) and z (post-activation)."""

PENALTIES: dict[str, str] = {
    "lambda": "J = C + λ Σ w²",
    "lambda/2": "J = C + (λ/2) Σ w²",
    "lambda/m": "J = C + (λ/m) Σ w²",
    "lambda/(2m)": "J = C + (λ/(2m)) Σ w²",
}
"""How the weight penalty is scaled, as the claims write λ (m is the batch size)."""


@dataclass(frozen=True)
class Definition:
    """``let g = \\|A v\\|^2``, ``u_4 = u_2 e^{u_1}`` or ``f(z) = 1/(1+e^{-z})``.

    Attributes
    ----------
    name
        The defined symbol as written (a :class:`~symprop.parsing.tree.Name`).
    params
        For a function definition, its parameters (``z`` in ``f(z) = …``); else empty.
    body
        The defining expression, parsed by the claims' parser.
    text
        The definition as written, for reports.
    """

    name: Name
    params: tuple[Name, ...]
    body: Expr
    text: str


@dataclass(frozen=True)
class Value:
    """A concrete value given to a symbol (a seed's worked example): a scalar, a vector or a
    matrix of exact rationals (``0.5`` is 1/2), row-major."""

    name: Name
    shape: tuple[int, ...]
    entries: tuple[Fraction, ...]


@dataclass(frozen=True)
class Declarations:
    """Free definitions, values, shapes and function names declared for a set of claims.

    Attributes
    ----------
    definitions
        Symbols defined by expressions, in order (a later one may use an earlier one).
    values
        Symbols given concrete numbers: claims are then checked at these values, and a
        numeric claim is judged to the precision it shows (``= 0.7311``: 4 decimals).
    shapes
        Free symbols that are vectors or matrices (``A: (2, 3)``); others are scalars.
    functions
        Names declared to be functions (so ``f\\,(1-f)`` with ``f`` not declared a function
        is a product, and ``f(x)`` with ``f`` declared one is a call).
    """

    definitions: tuple[Definition, ...] = ()
    values: tuple[Value, ...] = ()
    shapes: tuple[tuple[Name, tuple[int, ...]], ...] = ()
    functions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for attr, limit in (
            ("definitions", MAX_DEFINITIONS),
            ("values", MAX_DEFINITIONS),
            ("shapes", MAX_DEFINITIONS),
            ("functions", MAX_FUNCTIONS),
        ):
            items = getattr(self, attr)
            if not isinstance(items, tuple):
                raise VerifyError(f"{attr}: got {shown(items)}; must be a tuple")
            if len(items) > limit:
                raise VerifyError(f"{attr}: {len(items)} given; at most {limit}")
        if not all(isinstance(d, Definition) for d in self.definitions):
            raise VerifyError("definitions: each must be a Definition")
        if not all(isinstance(v, Value) for v in self.values):
            raise VerifyError("values: each must be a Value")
        if not all(isinstance(f, str) and _FUNCTION_NAME.match(f) for f in self.functions):
            bad = next(
                f for f in self.functions if not isinstance(f, str) or not _FUNCTION_NAME.match(f)
            )
            raise VerifyError(
                f"functions: got {shown(bad)}; a function name is letters (f, g, phi)"
            )
        for entry in self.shapes:
            if not (
                isinstance(entry, tuple)
                and len(entry) == 2
                and isinstance(entry[0], Name)
                and _valid_shape(entry[1])
            ):
                raise VerifyError(
                    f"shapes: got {shown(entry)}; each is (name, shape) with 1 or 2 sizes, "
                    f"at most {MAX_VALUE_ENTRIES} entries"
                )
        _check_names(self)
        _check_uses(self.definitions)

    def defined(self, name: Name) -> Definition | None:
        """The definition of ``name`` (primes and position ignored), if any."""
        key = _plain(name)
        return next((d for d in self.definitions if _plain(d.name) == key), None)

    def value(self, name: Name) -> Value | None:
        """The value given to ``name``, if any."""
        key = _plain(name)
        return next((v for v in self.values if _plain(v.name) == key), None)

    def shape(self, name: Name) -> tuple[int, ...] | None:
        """The declared shape of ``name`` (from ``[shapes]`` or its value), if any."""
        key = _plain(name)
        for shaped, size in self.shapes:
            if _plain(shaped) == key:
                return size
        given = self.value(name)
        return given.shape if given is not None else None

    def is_function(self, name: str) -> bool:
        """Whether ``name`` is declared a function (listed, or defined with parameters)."""
        return name in self.functions or any(
            d.params and d.name.base == name for d in self.definitions
        )


# ---------------------------------------------------------------- checking declarations

_FUNCTION_NAME = re.compile(r"^[A-Za-z]{1,40}$")


def _plain(name: Name) -> Name:
    """``name`` without primes (``f'`` refers to ``f``) and position."""
    return Name(name.base, name.sub, name.sup, 0, name.decorations)


def _valid_shape(shape: object) -> bool:
    return (
        isinstance(shape, tuple)
        and len(shape) in (1, 2)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
        and math.prod(shape) <= MAX_VALUE_ENTRIES
    )


def _check_names(decl: Declarations) -> None:
    """Each symbol declared once: defined, given a value, or given a shape (a value's shape
    and a declared shape may both be given when they agree)."""
    seen: dict[Name, str] = {}
    for d in decl.definitions:
        key = _plain(d.name)
        if key in seen:
            raise VerifyError(f"{d.name.key} is defined twice; define each symbol once")
        seen[key] = "defined"
    # A name listed as a function is called, never a number: f\,(1-f) would read both ways.
    for named in (*(v.name for v in decl.values), *(n for n, _ in decl.shapes)):
        if not named.sub and not named.sup and named.base in decl.functions:
            raise VerifyError(
                f"{named.key} is declared a function and given a value or shape; give one "
                "or the other"
            )
    for v in decl.values:
        key = _plain(v.name)
        if key in seen:
            raise VerifyError(
                f"{v.name.key} is {seen[key]} and given a value; give one or the other"
            )
        seen[key] = "given a value"
    shapes: dict[Name, tuple[int, ...]] = {}
    for shaped, size in decl.shapes:
        key = _plain(shaped)
        if key in shapes:
            raise VerifyError(f"{shaped.key} is given two shapes")
        shapes[key] = size
        if seen.get(key) == "defined":
            raise VerifyError(
                f"{shaped.key} is defined; its shape comes from its definition, not [shapes]"
            )
        given = decl.value(shaped)
        if given is not None and given.shape != size:
            raise VerifyError(
                f"{shaped.key}: its value has shape {_shape_text(given.shape)} but [shapes] "
                f"says {_shape_text(size)}"
            )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "scalar" if not shape else " × ".join(map(str, shape))


def uses(definition: Definition, names: Iterable[Name]) -> list[Name]:
    """The names among ``names`` that ``definition``'s body uses, once per occurrence
    (its parameters and summation indices shadow them)."""
    wanted = {_plain(n) for n in names}
    bound = {_plain(p) for p in definition.params}
    indices = {n.index for n in iter_nodes(definition.body) if isinstance(n, IndexSum)}
    out = []
    for node in iter_nodes(definition.body):
        if isinstance(node, Name):
            key = _plain(node)
            if (
                key in wanted
                and key not in bound
                and not (not key.sub and not key.sup and key.base in indices)
            ):
                out.append(key)
    return out


def _check_uses(definitions: tuple[Definition, ...]) -> None:
    """Refuse self-reference and cycles, and bound how deep and how large definitions
    become once written out in each other (each measured in one linear pass)."""
    by_name = {_plain(d.name): d for d in definitions}
    used = {key: uses(d, by_name) for key, d in by_name.items()}
    depth: dict[Name, int] = {}
    size: dict[Name, int] = {}
    state: dict[Name, str] = {}

    def visit(key: Name, path: tuple[Name, ...]) -> None:
        # Recursion is bounded: at most MAX_DEFINITIONS frames (a longer path is a cycle).
        if state.get(key) == "done":
            return
        if state.get(key) == "open":
            cycle = [*path[path.index(key) :], key]
            if len(cycle) == 2:
                raise VerifyError(
                    f"{key.key} is defined in terms of itself; a definition may use only "
                    "other symbols"
                )
            raise VerifyError(
                "definitions refer to each other in a cycle: " + " → ".join(n.key for n in cycle)
            )
        state[key] = "open"
        for ref in used[key]:
            visit(ref, (*path, key))
        state[key] = "done"
        depth[key] = 1 + max((depth[r] for r in used[key]), default=0)
        own = sum(1 for _ in iter_nodes(by_name[key].body))
        size[key] = min(own + sum(size[r] for r in used[key]), MAX_INLINED_NODES + 1)
        if depth[key] > MAX_DEFINITION_DEPTH:
            raise VerifyError(
                f"{key.key}: definitions nest {depth[key]} deep (each using the next); at most "
                f"{MAX_DEFINITION_DEPTH}"
            )
        if size[key] > MAX_INLINED_NODES:
            raise VerifyError(
                f"{key.key}: written out, its definition has over {MAX_INLINED_NODES} terms; "
                "state a smaller setting"
            )

    for key in by_name:
        visit(key, ())


# ---------------------------------------------------------------- reading declarations


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def field_name(table: str, key: object) -> str:
    """``define.g`` for a plain key, else ``define['f(z)']`` (quoted and bounded: user text)."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f"{table}.{key}"
    return f"{table}[{shown(key, 40)}]"


def parse_expression(text: object, what: str) -> Expr:
    """``text`` parsed as a claim's side is (plain syntax, else LaTeX) and normalised.

    Raises :class:`VerifyError` naming ``what`` (``define.g``, ``loss_formula``) with the
    parser's first line.
    """
    if not isinstance(text, str):
        raise VerifyError(f"{what}: got {shown(text)}; must be a formula (a string)")
    if len(text) > MAX_LENGTH:
        raise VerifyError(f"{what}: {len(text)} characters; at most {MAX_LENGTH}")
    if not text.strip():
        raise VerifyError(f"{what}: empty; write a formula")
    try:
        node = parse(text)
    except ParseError as exc:
        # g(z)(1 - g(z)) has no backslash but is LaTeX (juxtaposition).
        if re.search(r"\\|[{}]", text):
            raise VerifyError(f"{what}: {str(exc).splitlines()[0]}") from None
        try:
            node = parse(text, "latex")
        except ParseError:
            raise VerifyError(f"{what}: {str(exc).splitlines()[0]}") from None
    return normalise(node)


def symbol(text: object, what: str) -> Name:
    """A symbol's name as written (``g``, ``u_4``, ``\\omega``, ``W^{(1)}``)."""
    node = parse_expression(text, what)
    if not isinstance(node, Name):
        raise VerifyError(f"{what}: got {shown(text)}; must be one symbol (g, u_4, \\omega)")
    return node


def _head(node: Expr, what: str, text: str) -> tuple[Name, tuple[Name, ...]]:
    """The defined name and parameters of a definition's left side: ``g`` or ``f(z)``."""
    if isinstance(node, Name):
        return node, ()
    if (
        isinstance(node, Call)
        and not node.func.primes
        and all(isinstance(a, Name) and not a.sub and not a.sup for a in node.args)
    ):
        params = tuple(a for a in node.args if isinstance(a, Name))
        if len({_plain(p) for p in params}) != len(params):
            raise VerifyError(f"{what}: got {shown(text)}; parameters must differ")
        return node.func, params
    raise VerifyError(
        f"{what}: got {shown(text)}; the left side must be a symbol (g, u_4) or a function "
        "with its parameters (f(z))"
    )


def definition(head: object, body: object, what: str = "define") -> Definition:
    """A ``[define]`` entry: ``head`` is ``g`` or ``"f(z)"``, ``body`` the formula."""
    where = field_name(what, head)
    if not isinstance(head, str):
        raise VerifyError(f"{what}: got {shown(head)}; a key names a symbol")
    head_node = parse_expression(head, where)
    name, params = _head(head_node, where, head)
    rhs = parse_expression(body, where)
    assert isinstance(body, str)
    return Definition(name, params, rhs, f"{head} = {body}")


_LET = re.compile(r"^\s*(?:let|\\text\{\s*let\s*\}|\\mathrm\{let\}|\\operatorname\{let\})\s*", re.I)


def definition_from_text(text: object, what: str = "define") -> Definition:
    """``let u_4 = u_2 e^{u_1}``, ``g = \\|A v\\|^2`` or ``f(z) = …`` as one definition
    (the word ``let`` is optional)."""
    if not isinstance(text, str):
        raise VerifyError(f"{what}: got {shown(text)}; must be a definition such as 'g = x^2'")
    stripped = _LET.sub("", text, count=1).strip().rstrip(".,;").strip()
    if len(stripped) > MAX_LENGTH:
        raise VerifyError(f"{what}: {len(stripped)} characters; at most {MAX_LENGTH}")
    try:
        # The claims' reader: ``:=``, ``\\coloneqq`` and ``\\equiv`` define too.
        derivation, _ = parse_derivation(stripped)
    except ParseError as exc:
        raise VerifyError(f"{what}: {str(exc).splitlines()[0]}") from None
    if len(derivation.links) != 1:
        raise VerifyError(
            f"{what}: got {shown(text)}; a definition is one equation, symbol = formula"
        )
    node = normalise(derivation.links[0])
    assert isinstance(node, Equation)
    name, params = _head(node.lhs, what, text)
    return Definition(name, params, node.rhs, stripped)


_DECIMAL = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_FRACTION = re.compile(r"^[+-]?\d+/\d+$")
_ALLOWED_NUMBER = 'a number: 0.5, -2, "0.7311", "1/3"'


def number(raw: object, what: str) -> Fraction:
    """An exact rational from a TOML number or a decimal/fraction string (``0.1`` is 1/10:
    the number as written, not its binary float)."""
    if isinstance(raw, bool):
        raise VerifyError(f"{what}: got {shown(raw)}; must be {_ALLOWED_NUMBER}")
    if isinstance(raw, int):
        if raw.bit_length() > 200:
            raise VerifyError(f"{what}: got {shown(raw)}; at most {MAX_DIGITS} digits")
        return Fraction(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise VerifyError(f"{what}: got {shown(raw)}; must be a finite number")
        raw = repr(raw)
    if not isinstance(raw, str):
        raise VerifyError(f"{what}: got {shown(raw)}; must be {_ALLOWED_NUMBER}")
    text = raw.strip()
    if not (_DECIMAL.match(text) or _FRACTION.match(text)):
        raise VerifyError(f"{what}: got {shown(raw)}; must be {_ALLOWED_NUMBER}")
    mantissa, _, exponent = text.lower().partition("e")
    digits = sum(c.isdigit() for c in mantissa)
    if digits > MAX_DIGITS or (exponent and abs(int(exponent)) > MAX_DIGITS):
        # Checked before Fraction() runs: "1e999999999" would build a billion-digit integer.
        raise VerifyError(
            f"{what}: got {shown(raw)}; at most {MAX_DIGITS} digits and exponents up to "
            f"±{MAX_DIGITS}"
        )
    value = Fraction(text)
    if value.denominator == 0:  # pragma: no cover - Fraction raises first
        raise VerifyError(f"{what}: got {shown(raw)}; division by zero")
    return value


def value(name_text: object, raw: object, what: str = "values") -> Value:
    """A ``[values]`` entry: a scalar, a vector (a list) or a matrix (a list of equal rows)."""
    where = field_name(what, name_text)
    name = symbol(name_text, where)
    if isinstance(raw, list):
        if not raw:
            raise VerifyError(f"{where}: an empty list; give at least one entry")
        if len(raw) > MAX_VALUE_ENTRIES:
            raise VerifyError(f"{where}: {len(raw)} entries; at most {MAX_VALUE_ENTRIES}")
        if all(isinstance(row, list) for row in raw):
            widths = {len(row) for row in raw}
            if len(widths) != 1 or 0 in widths:
                raise VerifyError(
                    f"{where}: rows of lengths {sorted(widths)}; a matrix has equal, non-empty rows"
                )
            cols = widths.pop()
            if len(raw) * cols > MAX_VALUE_ENTRIES:
                raise VerifyError(
                    f"{where}: {len(raw) * cols} entries; at most {MAX_VALUE_ENTRIES}"
                )
            entries = tuple(
                number(x, f"{where}[{r}][{c}]")
                for r, row in enumerate(raw)
                for c, x in enumerate(row)
            )
            return Value(name, (len(raw), cols), entries)
        if any(isinstance(x, list) for x in raw):
            raise VerifyError(
                f"{where}: mixes numbers and lists; a vector is [1, 0], a matrix [[1, 0], [0, 1]]"
            )
        return Value(
            name, (len(raw),), tuple(number(x, f"{where}[{i}]") for i, x in enumerate(raw))
        )
    return Value(name, (), (number(raw, where),))


def shape(name_text: object, raw: object, what: str = "shapes") -> tuple[Name, tuple[int, ...]]:
    """A ``[shapes]`` entry: ``A = [2, 3]`` (a matrix), ``v = [3]`` (a vector)."""
    where = field_name(what, name_text)
    name = symbol(name_text, where)
    if (
        not isinstance(raw, list)
        or not 1 <= len(raw) <= 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in raw)
    ):
        raise VerifyError(
            f"{where}: got {shown(raw)}; a shape is [n] (a vector) or [rows, columns], "
            "positive integers"
        )
    size = tuple(raw)
    if math.prod(size) > MAX_VALUE_ENTRIES:
        raise VerifyError(f"{where}: {math.prod(size)} entries; at most {MAX_VALUE_ENTRIES}")
    return name, size


def function_name(raw: object, what: str = "functions") -> str:
    """A name declared to be a function: letters (``f``, ``g``, ``phi``; ``\\phi`` is ``phi``)."""
    if isinstance(raw, str) and _FUNCTION_NAME.match(raw.removeprefix("\\")):
        return raw.removeprefix("\\")
    raise VerifyError(f"{what}: got {shown(raw)}; a function name is letters (f, g, \\phi)")


# ---------------------------------------------------------------- the loss written out

_COST_NAMES = frozenset({"C", "L", "E", "J", "ell", "l"})
_CONSTANTS = frozenset({"e", "pi"})


def loss_formula(text: object, what: str = "loss_formula") -> Expr:
    """The per-sample loss written out, in ``a`` (or ``\\hat y``) and ``y``: the formula, or
    an equation whose left side names the cost (``C = \\frac12 (y - a)^2``)."""
    node = parse_expression(text, what)
    if isinstance(node, Derivation) and len(node.links) == 1:
        node = node.links[0]
    if isinstance(node, Equation):
        lhs = node.lhs
        if not (isinstance(lhs, Name | Call) and _cost_head(lhs)):
            raise VerifyError(
                f"{what}: got {shown(text)}; write the loss itself, or C = … with the cost on "
                "the left"
            )
        node = node.rhs
    check_loss_formula(node, what)
    return node


def _cost_head(node: Name | Call) -> bool:
    name = node if isinstance(node, Name) else node.func
    return name.base in _COST_NAMES and not name.primes


def check_loss_formula(node: Expr, what: str = "loss_formula") -> None:
    """Refuse a loss formula that uses anything but ``a``, ``\\hat y``, ``y``, constants,
    functions and its own summation indices."""
    if not isinstance(node, Expr):
        raise VerifyError(f"{what}: got {shown(node)}; must be a parsed formula")
    indices = {n.index for n in iter_nodes(node) if isinstance(n, IndexSum)}
    funcs = {id(n.func) for n in iter_nodes(node) if isinstance(n, Call)}
    for n in iter_nodes(node):
        if isinstance(n, Equation | Derivation | Derivative | Limit):
            raise VerifyError(
                f"{what}: a loss is a formula in a (or \\hat y) and y, without equations, "
                "derivatives or limits"
            )
        if not isinstance(n, Name) or id(n) in funcs:
            continue
        plain_index = not n.sub and not n.sup and not n.decorations and n.base in indices
        output = n.base in ("a", "y") and n.decorations in ((), ("hat",)) and not n.primes
        if output and n.decorations == ("hat",) and n.base != "y":
            output = False
        if output and not all(s in indices for s in n.sub) or output and n.sup:
            raise VerifyError(
                f"{what}: {n.key}: a loss names the output a (or \\hat y) and the target y of "
                "one sample; a unit index must be a summation index"
            )
        if not (plain_index or output or (n.base in _CONSTANTS and not n.sub and not n.sup)):
            raise VerifyError(
                f"{what}: {shown(n.key, 40)} is not allowed; a loss may use a (or \\hat y), y, "
                "numbers, e, \\pi and functions (\\log, \\exp, …)"
            )


def check_penalty(raw: object, what: str = "penalty") -> str:
    """A key of :data:`PENALTIES`."""
    if isinstance(raw, str) and raw.replace(" ", "") in PENALTIES:
        return raw.replace(" ", "")
    raise VerifyError(f"{what}: got {shown(raw)}; known: {', '.join(PENALTIES)}")


NOTATIONS: tuple[str, ...] = get_args(NotationName)
"""The notation names, in order."""


def check_notation(raw: object, what: str = "notation") -> str:
    """A name of :data:`NotationName`."""
    if isinstance(raw, str) and raw in NOTATIONS:
        return raw
    raise VerifyError(f"{what}: got {shown(raw)}; known: {', '.join(NOTATIONS)}")


def declarations(
    definitions: Iterable[Definition] = (),
    values: Iterable[Value] = (),
    shapes: Mapping[Name, tuple[int, ...]] | Iterable[tuple[Name, tuple[int, ...]]] = (),
    functions: Iterable[str] = (),
) -> Declarations:
    """:class:`Declarations` from any iterables (checked: counts, cycles, sizes)."""
    pairs = shapes.items() if isinstance(shapes, Mapping) else shapes
    return Declarations(
        tuple(definitions), tuple(values), tuple(pairs), tuple(dict.fromkeys(functions))
    )
