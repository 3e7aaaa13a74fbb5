"""Reading claims' names: the notation tables (z/a/w/b/δ; a/h/W/b/g; Θ/a/δ and variants),
layer labels, and the profile that maps a claim's letters to network quantities."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from symprop.core.errors import shown
from symprop.core.registry import ACTIVATIONS
from symprop.parsing import (
    BinOp,
    Call,
    Derivation,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Limit,
    Name,
    Neg,
    Norm,
    Number,
    Transpose,
    iter_nodes,
)
from symprop.verify.arguments import function_arguments
from symprop.verify.errors import VerifyError
from symprop.verify.labels import digits_as_labels

# The notation tables (letters, numberings, sizes) are data in verify/letters.py.
from symprop.verify.letters import (
    _GOODFELLOW_ROLE_OF,
    _PER_SAMPLE,
    _ROLE_OF,
    _SAMPLE,
    _SIGMAS,
    COST_ROLES,
    FUNCTION_ONLY,
    GENERIC_FUNCTIONS,
    LAYERED,
    MATH_FUNCTION_NAMES,
    NOTATION_ROLES,
    SAMPLE_LETTERS,
    SIZE_LETTERS,
    bare_function,
    spelled,
)
from symprop.verify.letters import NUMBERING_TEXT as NUMBERING_TEXT  # re-exported
from symprop.verify.letters import NUMBERINGS as NUMBERINGS  # re-exported
from symprop.verify.reading import Reading

# ---------------------------------------------------------------- AST normalisation

_LABEL = re.compile(r"^(?:(?P<var>[A-Za-z])(?P<off>[+-]\d+)?|(?P<num>\d+))$")
_PLAIN_LAYER = re.compile(r"^(?:[lL](?:[+-]\d+)?|\d+)$")


def _label_text(node: Expr) -> str | None:
    """``l``, ``l+1``, ``2``: the text of an exponent that is really a layer label."""
    if isinstance(node, Name) and not node.sub and not node.sup and not node.primes:
        return node.base if len(node.base) == 1 or node.base == "ell" else None
    if isinstance(node, BinOp) and node.op in ("add", "sub") and isinstance(node.right, Number):
        left = _label_text(node.left)
        value = node.right.value
        if left and _LABEL.match(left) and value.denominator == 1 and left.isalpha():
            sign = "+" if node.op == "add" else "-"
            return f"{left}{sign}{value.numerator}"
    return None


def _labelled_call(node: Expr) -> bool:
    """A "call" of a name with a layer label (``g^k (h)``) is a product, not a function."""
    return (
        isinstance(node, Call)
        and bool(node.func.sup)
        and not node.func.primes
        and len(node.args) == 1
        and node.func.base in _GOODFELLOW_ROLE_OF
    )


def _is_quantity_name(node: Expr) -> bool:
    return isinstance(node, Name) and node.base in _GOODFELLOW_ROLE_OF | _ROLE_OF


# Letters never squared in backprop claims: δ^{3}, Δ^{2}, W^{2}, Θ^{1} name layers. (z, a,
# x, y, lower-case w are: (y - a)^2, tanh's 1 - a^2, Nielsen's λ Σ w^2.)
_NEVER_SQUARED = frozenset({"delta", "Delta", "W", "Theta"})


def _digit_label(left: Name, right: Expr) -> bool:
    """``δ^{3}``, ``W^{2}``, ``z^{1}``: a number "exponent" that can only be a layer label
    (nobody writes x^1; δ, Δ, W and Θ are not squared)."""
    if not isinstance(right, Number) or right.value.denominator != 1 or right.decimals:
        return False
    value = right.value.numerator
    if left.primes or left.decorations or not 0 <= value <= 99:
        return False
    return value == 1 or left.base in _NEVER_SQUARED


def normalise(node: Expr) -> Expr:
    """Plain-syntax spellings into the LaTeX reading: ``delta_j^l`` is a label, not a power.

    Also ``sigma_prime(z)`` is ``sigma'(z)``, ``y_hat``/``yhat`` is ŷ, and ``dC/dw_jk^l``
    (read by the plain grammar as a quotient of powers) is a derivative.
    """
    if isinstance(node, BinOp) and node.op == "mul" and bare_function(node.left):
        # d/dz \log σ(z): an operator's operand read as a product; \log takes the rest
        # of the product, as the grammar reads \log σ(z) elsewhere
        assert isinstance(node.left, Name)
        return Call(node.left, (normalise(node.right),), pos=node.pos)
    if isinstance(node, BinOp):
        left, right = normalise(node.left), normalise(node.right)
        if node.op == "pow" and _is_quantity_name(left) and not left.sup:
            if spelled(right) == "out":  # δ^{out}, a^{out}: the output layer (seed 003)
                return replace(left, sup=("out",))
            label = _label_text(right)
            if label is not None and not label.isdigit():
                return replace(left, sup=(label,))
            if _digit_label(left, right):
                return replace(left, sup=(str(right.value),))  # type: ignore[attr-defined]
        if node.op == "div" and isinstance(left, Name) and left.base[:1] in ("d", "∂"):
            den = right
            if isinstance(den, Name) and den.base[:1] in ("d", "∂") and len(den.base) > 1:
                num_name = replace(left, base=left.base[1:])
                den_name = replace(den, base=den.base[1:])
                if num_name.base and _is_quantity_name(den_name):
                    return Derivative(num_name, den_name, partial=left.base[0] == "∂", pos=node.pos)
        return replace(node, left=left, right=right)
    if isinstance(node, Name):
        if node.base in ("yhat", "hat_y") or (node.base == "y" and "hat" in node.sub):
            return Name(
                "y",
                sub=tuple(s for s in node.sub if s != "hat"),
                sup=node.sup,
                decorations=("hat",),
                pos=node.pos,
            )
        return node
    if isinstance(node, Transpose) and _labelled_call(node.operand):
        # g^k (h^{k-1})^T: the grammar applied "g^k" like a function; it is a product.
        call = node.operand
        assert isinstance(call, Call)
        return BinOp("mul", normalise(call.func), Transpose(normalise(call.args[0])), pos=node.pos)
    if _labelled_call(node):
        assert isinstance(node, Call)
        return BinOp("mul", normalise(node.func), normalise(node.args[0]), pos=node.pos)
    if isinstance(node, Call):
        func = node.func
        if func.sub and func.sub[-1] == "prime":
            func = replace(func, sub=func.sub[:-1], primes=func.primes + 1)
        return replace(node, func=func, args=tuple(normalise(a) for a in node.args))
    if isinstance(node, Neg | Transpose | Norm):
        return replace(node, operand=normalise(node.operand))
    if isinstance(node, IndexSum):
        return replace(node, body=normalise(node.body))
    if isinstance(node, Derivative):
        den = normalise(node.den)
        # ∇_{a^{2}} J, ∂C/∂w^{3}: nobody differentiates by a power; the digit is a layer
        if (
            isinstance(den, BinOp)
            and den.op == "pow"
            and isinstance(den.left, Name)
            and _is_quantity_name(den.left)
            and den.left.base not in ("x", "y")
            and not den.left.sup
            and _digit_label(replace(den.left, base="W"), den.right)  # any 0..99, as for W
        ):
            den = replace(den.left, sup=(str(den.right.value),))  # type: ignore[attr-defined]
        return replace(node, num=normalise(node.num), den=den)
    if isinstance(node, Equation):
        equation = replace(node, lhs=normalise(node.lhs), rhs=normalise(node.rhs))
        if labels_layers_by_digit(equation):
            # δ^{3} names layer 3: in the same equation a^{3}, z^{3} do too
            equation = with_digit_labels(equation)
        return equation
    return node


def labels_layers_by_digit(equation: Equation) -> bool:
    r"""Whether the equation names a layer by a digit on a letter that is never squared
    (``\delta^{3}``, ``W^{2}``)."""
    return any(
        isinstance(n, Name) and n.base in _NEVER_SQUARED and n.sup and n.sup[0].isdigit()
        for n in iter_nodes(equation)
    )


def with_digit_labels(equation: Equation) -> Equation:
    """The equation with every digit superscript of a layered letter read as a layer label."""
    return replace(equation, lhs=digits_as_labels(equation.lhs), rhs=digits_as_labels(equation.rhs))


# ---------------------------------------------------------------- names -> references

Label = tuple[str | None, int]  # (generic variable or None, offset or concrete value)

# Roles a name can have besides the network's quantities: a free symbol (no network role,
# declared or in a setting without a network), a defined symbol, a Kronecker delta, a unit
# index used as a value (``j \neq 0``), a size (``n_l``, ``m``) and a sample index.
OTHER_ROLES = frozenset({"free", "defined", "kronecker", "index", "size", "entry", "constant"})


@dataclass(frozen=True)
class Ref:
    """A quantity named in a claim: role, layer label (claim numbering), unit indices and
    the sample index (``x^{(i)}``, ``a^{(2)(i)}``; ``None``: the first sample)."""

    role: str
    label: Label | None
    indices: tuple[str, ...]
    sample: str | None = None
    key: str = ""


def _parse_label(text: str) -> Label:
    text = text.replace("(", "").replace(")", "").replace("[", "").replace("]", "")
    if text in ("out", "text{out}", "mathrm{out}"):
        return ("L", 0)  # Bishop's δ^{out}, a^{out}: the output layer
    # \ell is a layer variable (z^{\ell}_j, w^{\ell+1}), kept as written for relations and reports.
    if (ell := re.fullmatch(r"ell(?P<off>[+-]\d+)?", text)) is not None:
        return ("ell", int(ell.group("off") or 0))
    match = _LABEL.match(text)
    if match is None:
        raise VerifyError(f"cannot read the layer label {shown(text)} (write l, l+1, L or 2)")
    if match.group("num") is not None:
        return (None, int(match.group("num")))
    return (match.group("var"), int(match.group("off") or 0))


def auto_notation(equation: Expr, setting: Any = None) -> str:
    """The notation a claim's letters suggest when none is declared: Goodfellow's when it
    names h or g as quantities, Ng's when it names Θ, else Nielsen's (z/a). Without a
    network the letters name no quantity: Nielsen's (only sums' sizes read it)."""
    if setting is not None and not has_network(setting):
        return "nielsen"
    names = [n for n in iter_nodes(equation) if isinstance(n, Name)]
    funcs = {id(c.func) for c in iter_nodes(equation) if isinstance(c, Call)}
    # a limit's variable (lim_{h→0}) is no quantity of any notation
    bound = {n.var.key for n in iter_nodes(equation) if isinstance(n, Limit)}
    plain = [n for n in names if id(n) not in funcs and n.key not in bound]
    if any(n.base in ("h", "g") for n in plain):
        return "goodfellow"
    if any(n.base in ("Theta", "theta") for n in names):
        return "ng"
    return "nielsen"


def _index_letters(equation: Expr) -> set[str]:
    """Letters used as unit indices somewhere in the claim (subscripts, summation indices)."""
    out: set[str] = set()
    for node in iter_nodes(equation):
        if isinstance(node, IndexSum):
            out.add(node.index)
        elif isinstance(node, Name):
            for item in node.sub:
                out.update(ch for ch in item if ch.isalpha() and len(item) <= 2)
    return out


class Profile:
    """How a claim's names are read: the notation's letters, declared names, the reading.

    Parameters
    ----------
    equation
        The claim (an :class:`~symprop.parsing.tree.Equation` or a whole
        :class:`~symprop.parsing.tree.Derivation`: every link is read the same way).
    setting
        The :class:`~symprop.verify.setting.Setting` (declared notation, definitions, free
        shapes, functions); ``None`` reads the letters alone, as a network claim.
    reading
        The reading to apply (one of :func:`readings`); ``None``: the preferred one.
    """

    def __init__(self, equation: Expr, setting: Any = None, reading: Reading | None = None) -> None:
        self.setting = setting
        # The Setting's Declarations (read by attribute: declare.py reads this module).
        declared = getattr(setting, "declared", None)
        self.values: tuple[Any, ...] = tuple(getattr(declared, "values", ()))
        self.function_names = frozenset(getattr(declared, "functions", ()))
        definitions = tuple(getattr(declared, "definitions", ()))
        if reading is None:
            reading = first_reading(equation, setting)
        self.reading = reading
        self.notation = reading.notation
        self.goodfellow = reading.notation == "goodfellow"
        self.bias_column = reading.notation == "ng" and reading.bias_column
        # Unit 0 is the bias: Ng's Θ_{i0} and a_0 = 1; Bishop's w_{j0} and z_0 = 1 (seed 003).
        self.zero_based = self.bias_column or reading.notation == "bishop"
        self.roles = NOTATION_ROLES[reading.notation]
        self.definitions = {d.name.key: d for d in definitions}
        self.shapes = {n.key: tuple(shape) for n, shape in getattr(declared, "shapes", ())}
        self.valued = {v.name.key for v in self.values}
        # Names that appear in definitions' bodies are free symbols there (g = ‖A v‖²).
        self.mentioned: dict[str, Name] = {}
        for d in definitions:
            params = {p.key for p in d.params}
            funcs = {id(c.func) for c in iter_nodes(d.body) if isinstance(c, Call)}
            self.mentioned.update(
                (n.key, n)
                for n in iter_nodes(d.body)
                if isinstance(n, Name) and n.key not in params and id(n) not in funcs
            )
        self.network = has_network(setting)
        # g(z) = 1/(1+e^{-z}) in a network setting: z is the function's argument (free)
        declared_keys = {*self.definitions, *self.shapes, *self.valued}
        self.arguments = function_arguments(equation, self.roles, declared_keys)
        self.index_letters = _index_letters(equation)
        self.letters: dict[str, str] = {}
        self.entry_letters: dict[str, str] = {}
        self.functions = [c.func.base for c in iter_nodes(equation) if isinstance(c, Call)]
        self.parenthesized = False

    # -- what kind of name
    def is_function(self, name: Name) -> bool:
        """Whether ``name`` is declared or defined as a function (``f(z) = …``)."""
        d = self.definitions.get(name.key) or self.definitions.get(name.base)
        return name.base in self.function_names or (d is not None and bool(d.params))

    def is_free(self, name: Name) -> bool:
        """Whether ``name`` is a free symbol: declared (shape, value, used in a definition) or
        any name without a network role in a setting that has no network."""
        key = name.key
        if key in self.shapes or key in self.arguments:
            return True
        # a name a definition uses, or one given a value, is free unless the network has it
        if (key in self.mentioned or key in self.valued) and not self._network_role(name):
            return True
        return not self.network and not self._needs_network(name)

    def _network_role(self, name: Name) -> bool:
        if "hat" in name.decorations and name.base == "y":
            return True
        return name.base in self.roles and self.network

    def _needs_network(self, name: Name) -> bool:
        """Without a network, a letter of the notation is still a network quantity when it
        has a layer label or is one only a network has (δ, Δ, D, C, J): refused, not free."""
        role = self.roles.get(name.base)
        if role is None:
            return False
        return bool(name.sup) or role in ("delta", "Delta", "D", "C", "J")

    def _declared_whole(self, name: Name) -> Ref | None:
        """``m_i``, ``W_{i,j}``, ``W_{11}``: an entry of a declared or defined vector/matrix."""
        if not name.sub or name.sup or name.primes:
            return None
        base = replace(name, sub=()).key
        defined = base in self.definitions and not self.definitions[base].params
        if not (defined or base in self.shapes) or name.key in self.definitions:
            return None
        subs = name.sub
        if len(subs) == 1 and len(subs[0]) == 2 and subs[0].isalnum():
            subs = (subs[0][0], subs[0][1])  # W_{11}, W_{ij}
        if not all(re.fullmatch(r"[A-Za-z]|\d+", s) for s in subs):
            raise VerifyError(f"{shown(name.key)}: cannot read the index of {shown(base)}")
        return Ref("entry", None, tuple(subs), key=base)

    def size(self, name: Name) -> Ref | None:
        """``n_l``, ``s_{l+1}``, ``m``, ``K``: a size as a sum's limit may name it, else None."""
        batch, width, output = SIZE_LETTERS[self.notation]
        label = name.sup[0] if name.sup else name.sub[0] if name.sub else None
        if name.primes or name.decorations or len(name.sup) + len(name.sub) > 1:
            return None
        if label is None and name.base in batch:
            return Ref("size", None, ("batch",), key=name.key)
        if label is None and name.base in output:
            return Ref("size", None, ("output",), key=name.key)
        if label is not None and name.base in width:
            return Ref("size", _parse_label(label), ("width",), key=name.key)
        return None

    def resolve(self, name: Name) -> Ref:
        """The quantity ``name`` denotes under this profile's reading.

        Raises
        ------
        VerifyError
            An unknown name (not a quantity of the notation, not declared), or a label or
            index that cannot be read.
        """
        key = name.key
        if (
            name.base in FUNCTION_ONLY
            and key not in self.definitions
            and key not in self.shapes
            and key not in self.valued
        ):
            # log, exp, tanh standing alone are functions, never free symbols: "log σ(z)"
            # read as log · σ(z) must not be checked as a product with a symbol called log.
            raise VerifyError(
                f"{shown(name.base)} is a function; write its argument in brackets, "
                f"e.g. {name.base}(z)"
            )
        if self.is_function(name) and key not in self.definitions:
            raise VerifyError(
                f"{shown(name.base)} is a declared function: a bare {name.base} is not a "
                f"value; write {name.base}(…)"
            )
        if key in self.definitions and self.definitions[key].params:
            raise VerifyError(
                f"{shown(name.base)} is defined as a function of "
                f"{', '.join(p.key for p in self.definitions[key].params)}; write "
                f"{name.base}(…)"
            )
        if key in ("pi", "e") and not (
            key in self.definitions or key in self.shapes or key in self.valued
        ):
            return Ref("constant", None, (), key=key)  # π and Euler's e, unless declared
        if key in self.reading.kronecker:
            return Ref("kronecker", None, _kronecker_indices(name), key=key)
        whole = self._declared_whole(name)
        if whole is not None:
            return whole
        if key in self.definitions and not self.definitions[key].params:
            return Ref("defined", None, (), key=key)
        if self.is_free(name):
            return Ref("free", None, (), key=key)
        sized = self.size(name)
        if (
            sized is not None
            and sized.indices == ("width",)
            and self.roles.get(name.base, "n") == "n"
        ):
            return sized  # Bishop's N_{L-2}, Nielsen's n_l: the width of a layer, not m
        base = name.base
        if "hat" in name.decorations and base == "y":
            role = "yhat"
        elif base in self.roles:
            role = self.roles[base]
        elif not name.sub and not name.sup and not name.primes and base in self.index_letters:
            return Ref("index", None, (base,), key=key)
        else:
            known = ", ".join(sorted(set(self.roles)))
            raise VerifyError(f"unknown name {shown(name.key)}; known: {known}")
        if name.primes:
            raise VerifyError(f"{shown(name.key)}: a prime needs a function, e.g. \\sigma'(z)")
        label: Label | None = None
        sample: str | None = None
        subs = tuple(name.sub)
        sups = tuple(name.sup)
        if role == "yhat" and base == "h" and subs and subs[0] in ("Theta", "theta"):
            subs = subs[1:]  # Ng's h_Θ(x): the output
        if role == "C" and self.notation == "bishop" and subs and subs[-1] in SAMPLE_LETTERS:
            sample, subs = subs[-1], subs[:-1]  # E_n: the error of sample n
        if sups and role in _PER_SAMPLE | LAYERED:
            last = _SAMPLE.match(sups[-1])
            # x^{(i)}, y^{(i)}, a^{(2)(i)}, {δ^l}^{(i)}: the last group is a sample index when
            # the quantity has no layers or a layer label precedes it.
            var = last.group("var") if last else ""
            # one group on x, y, ŷ, C: a sample written with a letter; two groups (a^{(2)(1)}):
            # the last one, a letter or a number
            if (var in SAMPLE_LETTERS and (role in _PER_SAMPLE or len(sups) == 2)) or (
                var.isdigit() and len(sups) == 2
            ):
                sample, sups = last.group("var"), sups[:-1]
        if len(sups) > 1:
            raise VerifyError(f"{shown(name.key)}: one layer label only")
        if sups:
            label = _parse_label(sups[0])
        elif role in LAYERED and subs and _PLAIN_LAYER.match(subs[0]) and role != "D":
            label, subs = _parse_label(subs[0]), subs[1:]
        if label is not None and role not in LAYERED:
            raise VerifyError(f"{shown(name.key)}: {base} has no layers")
        indices: list[str] = []
        for item in subs:
            if item.isdigit() and len(item) > 1 and role in ("W", "Delta", "D"):
                indices.extend(item)  # w_{11}: two one-digit indices
            elif re.fullmatch(r"[A-Za-z]|\d+|[A-Za-z][+-]\d+", item):
                indices.append(item)  # j, 2, j-1 (an index shifted by a constant)
            elif re.fullmatch(r"[A-Za-z\d]{2}", item) and role in ("W", "Delta", "D"):
                indices.extend(item)  # w_{jk}, Θ_{i0}
            else:
                raise VerifyError(f"{shown(name.key)}: cannot read the index {shown(item)}")
        if role in LAYERED:
            self.letters.setdefault(role + ("_entry" if indices else ""), base)
        else:
            self.letters.setdefault(role, base)
        return Ref(role, label, tuple(indices), sample, key)


def _kronecker_indices(name: Name) -> tuple[str, ...]:
    subs = name.sub
    if len(subs) == 1 and len(subs[0]) == 2:
        return (subs[0][0], subs[0][1])
    return tuple(subs)


def has_network(setting: Any) -> bool:
    """Whether a setting has network quantities (a spec, or an activation with a loss)."""
    if setting is None:
        return True  # the letters alone: read as a network claim, as before settings
    return getattr(setting, "network", None) is not None or (
        getattr(setting, "activation", None) is not None
        and (getattr(setting, "loss", None) is not None or setting.loss_formula is not None)
    )


def offset(offsets: dict[str, int], role: str) -> int:
    """The numbering's shift of ``role`` (D is numbered like the weights it differentiates)."""
    return offsets["W"] if role == "D" else offsets[role]


def valid_layer(role: str, m: int, L: int) -> bool:
    """Whether internal layer ``m`` exists for ``role`` in a network of ``L`` layers."""
    return (0 if role == "a" else 1) <= m <= L


# ---------------------------------------------------------------- bindings


def labelled_refs(equation: Expr, profile: Profile) -> list[tuple[Ref, Name]]:
    """Every quantity an equation names (not function names), with the name as written."""
    out = []
    calls = {id(c.func) for c in iter_nodes(equation) if isinstance(c, Call)}
    # a limit's variable (h in lim_{h→0}) is bound by the limit, not a quantity
    limit_vars = {n.var.key for n in iter_nodes(equation) if isinstance(n, Limit)}
    # dσ/dz, df/dz: a function named as a derivative's numerator is called, not a quantity
    calls |= {
        id(d.num)
        for d in iter_nodes(equation)
        if isinstance(d, Derivative)
        and isinstance(d.num, Name)
        and not (d.num.sub or d.num.sup or d.num.primes)
        and (profile.is_function(d.num) or d.num.base in ACTIVATIONS or d.num.base in _SIGMAS)
    }
    for node in iter_nodes(equation):
        if isinstance(node, Name) and id(node) not in calls and node.key not in limit_vars:
            out.append((profile.resolve(node), node))
    return out


LayerRelation = tuple[str, str, int]
"""``(u, v, k)``: the layer variables satisfy ``u = v + k`` (``l = k + 1``)."""


def _layer_side(node: Expr) -> Label | None:
    text = _label_text(node)
    if text is None or text.isdigit() or not _LABEL.match(re.sub(r"^ell\b", "l", text)):
        return None
    return _parse_label(text)


def layer_side(node: Expr, layers: dict[str, int]) -> int | None:
    """The value of ``l``, ``L``, ``\\ell + 1`` in a condition, under the layer variables."""
    label = _layer_side(node)
    if label is None or label[0] not in layers:
        return None
    return layers[label[0]] + label[1]


def layer_relations(claim: Expr) -> tuple[tuple[LayerRelation, ...], tuple[int, ...]]:
    """The relations between layer variables a claim states, and which links state them.

    A link such as ``l = k + 1`` (both sides a single-letter variable plus or minus an
    integer) is not an equation to check but a relation every other link is read under: the
    checker binds the layer variables only to values that satisfy it (:func:`layer_bindings`
    ``relations=``) and does not check that link.

    Returns
    -------
    (relations, link numbers)
        The relations, and the 0-based numbers of the links that state them.
    """
    links = claim.links if isinstance(claim, Derivation) else (claim,)
    # only letters the claim uses as layer labels (δ^{k}, W^{l}) are layer variables
    labels: set[str] = set()
    for node in iter_nodes(claim):
        if isinstance(node, Name) and node.sup:
            var = _LABEL.match(node.sup[0].strip("()[]"))
            if var and var.group("var"):
                labels.add(var.group("var"))
    relations: list[LayerRelation] = []
    numbers: list[int] = []
    for number, link in enumerate(links):
        if not isinstance(link, Equation):
            continue
        left, right = _layer_side(link.lhs), _layer_side(link.rhs)
        if left is None or right is None or left[0] is None or right[0] is None:
            continue
        if left[0] == right[0] or not {left[0], right[0]} <= labels | {"L"}:
            continue  # l = l + 1 relates nothing; a = b is an equation
        relations.append((left[0], right[0], right[1] - left[1]))
        numbers.append(number)
    return tuple(relations), tuple(numbers)


def layer_bindings(
    refs: list[Ref],
    offsets: dict[str, int],
    L: int,
    relations: tuple[LayerRelation, ...] = (),
) -> list[dict[str, int]]:
    """Every assignment of the layer variables under which all labels denote layers (and
    the stated ``relations`` hold)."""
    variables = {r.label[0] for r in refs if r.label and r.label[0] and r.label[0] != "L"}
    variables |= {v for u, w, _ in relations for v in (u, w) if v != "L"}
    ordered = sorted(variables)
    if len(ordered) > 3 or (len(ordered) > 2 and not relations):
        raise VerifyError(f"too many layer variables: {', '.join(ordered)}")
    fixed = {"L": L + offsets["a"]}
    out = []
    candidates = range(-2, L + 4)

    def assignments(names: list[str]) -> Iterator[dict[str, int]]:
        if not names:
            yield dict(fixed)
            return
        for rest in assignments(names[1:]):
            for value in candidates:
                yield rest | {names[0]: value}

    for binding in assignments(ordered):
        ok = all(binding[u] == binding[w] + k for u, w, k in relations)
        for r in refs:
            if not ok:
                break
            if r.role not in LAYERED or r.label is None:
                continue
            var, off = r.label
            claim = off if var is None else binding[var] + off
            if not valid_layer(r.role, claim - offset(offsets, r.role), L):
                ok = False
        if ok:
            out.append(binding)
    return out


def free_indices(equation: Equation, profile: Profile) -> list[str]:
    """The unit indices of an equation that no sum binds, in order of appearance."""
    bound: set[str] = set()
    seen: list[str] = []
    for node in iter_nodes(equation):
        if isinstance(node, IndexSum):
            bound.add(node.index)
    for ref, _ in labelled_refs(equation, profile):
        if ref.role == "size":
            continue  # its "indices" say which size (batch, width), not unit indices
        for item in ref.indices:
            letter = item[0] if re.fullmatch(r"[A-Za-z][+-]\d+", item) else item
            if not letter.isdigit() and letter not in bound and letter not in seen:
                seen.append(letter)
    return seen


# ---------------------------------------------------------------- readings (data)


def _delta_options(name: Name, profile: Profile, softmax: bool) -> list[bool]:
    """For a ``δ`` name: [True] Kronecker, [False] local gradient, or both in preferred order."""
    if name.base != "delta" or name.sup or name.primes or name.decorations:
        return [False]
    subs = name.sub
    pair = len(subs) == 2 and all(re.fullmatch(r"[A-Za-z]|\d", s) for s in subs)
    pair = pair or (len(subs) == 1 and bool(re.fullmatch(r"[a-z]{2}", subs[0])))
    if not pair:
        return [False]
    gradient = profile.network and len(subs) == 2 and bool(_PLAIN_LAYER.match(subs[0]))
    if not gradient:
        return [True]
    return [True, False] if softmax else [False, True]


def _juxtaposed_options(call: Call, profile: Profile) -> list[bool]:
    """For a juxtaposed call ``f\\,(…)``: [False] call, [True] product, or both in order."""
    func = call.func
    if profile.is_function(func) or _written_as_function(func, profile):
        return [False]
    key = func.key
    value_like = (
        key in profile.definitions
        or key in profile.shapes
        or key in profile.valued
        or key in profile.mentioned
    )
    if value_like:
        return [True]
    callable_ = (
        func.base in ACTIVATIONS
        or func.base in MATH_FUNCTION_NAMES
        or (func.base in GENERIC_FUNCTIONS and _has_activation(profile))
    )
    quantity = profile.network and func.base in profile.roles and len(call.args) == 1
    if callable_ and quantity:
        return [True, False]
    return [False] if callable_ else [True]


def _written_as_function(func: Name, profile: Profile) -> bool:
    """J(Θ), C(w), L(ŷ, y) and Ng's h_Θ(x): quantities the notations write as functions."""
    role = profile.roles.get(func.base)
    if role in COST_ROLES:
        return True
    theta = func.sub[:1] in (("Theta",), ("theta",))
    return profile.notation == "ng" and func.base == "h" and theta


def _has_activation(profile: Profile) -> bool:
    setting = profile.setting
    return setting is None or profile.network or getattr(setting, "activation", None) is not None


def _softmax(equation: Expr, setting: Any) -> bool:
    if any(isinstance(n, Name) and n.base == "softmax" for n in iter_nodes(equation)):
        return True
    network = getattr(setting, "network", None)
    return network is not None and any(
        getattr(layer, "activation", None) == "softmax" for layer in network.layers
    )


Choice = tuple[str, str, bool]  # (what, name key, option): kronecker/product/bias


def reading_choices(equation: Expr, setting: Any = None) -> tuple[Reading, list[list[Choice]]]:
    """The base reading (notation) of a claim and its open choices, each option list in
    order of preference (see :func:`symprop.verify.readings.readings`)."""
    declared = getattr(setting, "notation", None)
    notation = declared or auto_notation(equation, setting)
    names = [n for n in iter_nodes(equation) if isinstance(n, Name)]
    bias_options = [False]
    if notation == "ng":
        network = getattr(setting, "network", None)
        if declared == "ng":
            bias_options = [True]
        elif any(n.base == "b" for n in names) or (
            network is not None and network.notation == "ng"
        ):
            bias_options = [False]  # symprop's ng documents: Θ a + b
        elif any(n.base in ("Theta", "theta") for n in names):
            bias_options = [False, True]
    base = Reading(notation=notation, declared=declared is not None)
    probe = Profile(equation, setting, base)
    softmax = _softmax(equation, setting)
    choices: list[list[Choice]] = []
    seen: set[str] = set()
    for node in iter_nodes(equation):
        if isinstance(node, Name) and node.key not in seen and node.base == "delta":
            seen.add(node.key)
            options = _delta_options(node, probe, softmax)
            choices.append([("kronecker", node.key, o) for o in options])
        if isinstance(node, Call) and node.juxtaposed and "jx:" + node.func.key not in seen:
            seen.add("jx:" + node.func.key)
            options = _juxtaposed_options(node, probe)
            choices.append([("product", node.func.key, o) for o in options])
    choices.append([("bias", "", o) for o in bias_options])
    if _sigma_is_open(equation, setting, probe):
        choices.append([("sigma", "sigma", False), ("sigma", "sigma", True)])
    return base, choices


def _sigma_is_open(equation: Expr, setting: Any, profile: Profile) -> bool:
    """Whether σ(…) may be the layer's activation or the logistic sigmoid: a network (or
    single units) whose activations are not all the sigmoid, and σ not declared."""
    if not any(
        isinstance(c, Call) and c.func.base == "sigma" for c in iter_nodes(equation)
    ) or profile.is_function(Name("sigma")):
        return False
    network = getattr(setting, "network", None)
    if network is not None:
        names = {getattr(layer, "activation", None) for layer in network.layers}
    elif profile.network:
        names = {getattr(setting, "activation", None)}
    else:
        return False
    return bool(names - {"sigmoid"})


def apply_choices(base: Reading, combo: Iterable[Choice]) -> Reading:
    """The reading that makes the choices ``combo`` (one option per open choice)."""
    combo = list(combo)
    return replace(
        base,
        kronecker=frozenset(k for what, k, o in combo if what == "kronecker" and o),
        products=frozenset(k for what, k, o in combo if what == "product" and o),
        bias_column=any(o for what, _, o in combo if what == "bias"),
        sigma_sigmoid=any(o for what, _, o in combo if what == "sigma"),
    )


def first_reading(equation: Expr, setting: Any = None) -> Reading:
    """The preferred reading (the first option of every choice), without descriptions."""
    base, choices = reading_choices(equation, setting)
    return apply_choices(base, [options[0] for options in choices])
