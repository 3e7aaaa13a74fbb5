"""Writing formulas back in the claim's own notation (plain or LaTeX), for the report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from symprop.parsing import (
    BinOp,
    Call,
    Derivation,
    Derivative,
    Equation,
    Expr,
    IndexSum,
    Indicator,
    Limit,
    Name,
    Neg,
    Norm,
    Number,
    Piecewise,
    Relation,
    Transpose,
)
from symprop.parsing.grammar import LATEX_FUNCTION_COMMANDS, LETTER_COMMANDS
from symprop.verify.notation import GENERIC_FUNCTIONS, LAYERED, Label, Profile
from symprop.verify.setting import Model

# ---------------------------------------------------------------- rendering ASTs


# Names written as LaTeX commands: exactly those the LaTeX grammar reads as commands, so a
# formula written back in LaTeX parses to the same tree.
_LATEX_GREEK = frozenset(LETTER_COMMANDS)
_LATEX_FUNCTIONS = _LATEX_GREEK | frozenset(LATEX_FUNCTION_COMMANDS)


@dataclass(frozen=True)
class Style:
    """How formulas are written back: LaTeX or plain, layer labels parenthesized or not."""

    latex: bool
    parenthesized: bool


def render_ast(node: Expr, style: Style) -> str:  # noqa: C901, PLR0911
    """A claim AST as text in ``style``."""

    def r(n: Expr) -> str:
        return render_ast(n, style)

    def wrap(n: Expr, ops: tuple[str, ...] = ("add", "sub")) -> str:
        text = r(n)
        if (isinstance(n, BinOp) and n.op in ops) or isinstance(n, Neg):
            return f"({text})"
        return text

    if isinstance(node, Number):
        v = node.value
        if v.denominator == 1:
            return str(v.numerator)
        return (
            rf"\frac{{{v.numerator}}}{{{v.denominator}}}"
            if style.latex
            else f"{v.numerator}/{v.denominator}"
        )
    if isinstance(node, Name):
        return _render_name(node, style)
    if isinstance(node, Neg):
        return "-" + wrap(node.operand)
    if isinstance(node, Transpose):
        inner = node.operand
        text = (
            r(inner)
            if isinstance(inner, Name) and not (style.latex and inner.sup)
            else f"({r(inner)})"
        )
        return f"{text}^T" if style.latex else f"{text}.T"
    if isinstance(node, Call):
        fname = node.func.base
        if style.latex:
            fname = "\\" + fname if fname in _LATEX_FUNCTIONS else fname
            if node.func.base == "diag" and not node.func.primes:
                fname = r"\operatorname{diag}"
        return f"{fname}{chr(39) * node.func.primes}({', '.join(r(a) for a in node.args)})"
    if isinstance(node, IndexSum):
        if node.lower is not None or node.upper is not None:
            low = f"{node.index}={r(node.lower)}" if node.lower is not None else node.index
            if style.latex:
                top = f"^{{{r(node.upper)}}}" if node.upper is not None else ""
                return rf"\sum_{{{low}}}{top} {wrap(node.body)}"
            top = f"..{r(node.upper)}" if node.upper is not None else ""
            return f"sum_{{{low}{top}}}({r(node.body)})"
        if style.latex:
            return rf"\sum_{node.index} {wrap(node.body)}"
        return f"sum_{node.index}({r(node.body)})"
    if isinstance(node, Relation):
        sym = _RELATION_TEXT[node.op][0 if style.latex else 1]
        return f"{r(node.left)} {sym} {r(node.right)}"
    if isinstance(node, Indicator):
        if style.latex:
            return rf"\mathbb{{1}}[{r(node.condition)}]"
        return f"[{r(node.condition)}]"
    if isinstance(node, Piecewise):
        rows = []
        for value, cond in node.cases:
            if style.latex:
                rows.append(f"{r(value)} & " + (r(cond) if cond else r"\text{otherwise}"))
            else:
                rows.append(f"{r(value)} if {r(cond)}" if cond else f"{r(value)} otherwise")
        if style.latex:
            return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"
        return "{" + "; ".join(rows) + "}"
    if isinstance(node, Limit):
        if style.latex:
            return rf"\lim_{{{r(node.var)} \to {r(node.to)}}} {wrap(node.body)}"
        return f"lim_({r(node.var)} -> {r(node.to)}) {wrap(node.body)}"
    if isinstance(node, Derivation):
        joins = {"chain": " = ", "implies": r" \Rightarrow " if style.latex else " => "}
        out = r(node.links[0]) if node.links else ""
        for join, link in zip(node.joins, node.links[1:], strict=False):
            if join == "chain":
                out += f" = {r(link.rhs)}"
            else:
                out += joins.get(join, r",\quad " if style.latex else ", ") + r(link)
        return out
    if isinstance(node, BinOp):
        op = node.op
        if op == "add":
            return f"{r(node.left)} + {r(node.right)}"
        if op == "sub":
            return f"{r(node.left)} - {wrap(node.right)}"
        if op == "div":
            if style.latex:
                return rf"\frac{{{r(node.left)}}}{{{r(node.right)}}}"
            return f"{wrap(node.left)}/{wrap(node.right, ('add', 'sub', 'mul', 'hadamard', 'div'))}"
        if op == "pow":
            base = wrap(node.left, ("add", "sub", "mul", "hadamard", "matmul", "div"))
            return (
                f"{base}^{{{r(node.right)}}}"
                if style.latex
                else f"{base}^{wrap(node.right, ('add', 'sub', 'mul', 'hadamard', 'div'))}"
            )
        sym = {
            ("mul", True): " ",
            ("matmul", True): " ",
            ("hadamard", True): r" \odot ",
            ("mul", False): "*",
            ("matmul", False): " @ ",
            ("hadamard", False): " * ",
        }[(op, style.latex)]
        left = r(node.left)
        if (
            isinstance(node.left, BinOp)
            and node.left.op in ("add", "sub")
            or isinstance(node.left, Neg)
        ):
            left = f"({left})"
        right = wrap(node.right)
        if style.latex and op in ("mul", "matmul") and isinstance(node.right, Number):
            right = f"\\cdot {right}"
        return f"{left}{sym}{right}"
    if isinstance(node, Derivative) and node.gradient:
        if style.latex:
            return rf"\nabla_{{{r(node.den)}}} {wrap(node.num)}"
        return f"grad_{r(node.den)}({r(node.num)})"
    if isinstance(node, Derivative):
        if style.latex:
            return rf"\frac{{\partial {r(node.num)}}}{{\partial {r(node.den)}}}"
        return f"d{r(node.num)}/d{r(node.den)}"
    if isinstance(node, Norm):
        return rf"\|{r(node.operand)}\|" if style.latex else f"norm({r(node.operand)})"
    if isinstance(node, Equation):
        return f"{r(node.lhs)} = {r(node.rhs)}"
    return "?"


_RELATION_TEXT = {
    "lt": ("<", "<"),
    "le": (r"\le", "<="),
    "gt": (">", ">"),
    "ge": (r"\ge", ">="),
    "eq": ("=", "=="),
    "ne": (r"\neq", "!="),
}


def _render_name(node: Name, style: Style) -> str:
    base = node.base
    if style.latex:
        text = "\\" + base if base in _LATEX_GREEK else base
        if "hat" in node.decorations:
            text = rf"\hat{{{text}}}"
        if node.sup:
            label = re.sub(r"^ell\b", r"\\ell", node.sup[0])  # the layer variable \ell
            label = f"({label})" if style.parenthesized else label
            text += f"^{{{label}}}" if len(label) > 1 else f"^{label}"
        if node.sub:
            joined = "".join(node.sub) if all(len(s) == 1 for s in node.sub) else ",".join(node.sub)
            text += f"_{{{joined}}}" if len(joined) > 1 else f"_{joined}"
        return text + "'" * node.primes
    if "hat" in node.decorations:
        base = f"{base}_hat"
    label = node.sup[0] if node.sup else None
    if label is not None and label.isdigit():
        return f"{base}{label}" + (f"_{''.join(node.sub)}" if node.sub else "")
    if label is None and len(node.sub) == 1 and node.sub[0].isdigit():
        return f"{base}{node.sub[0]}"
    subs = list(node.sub)
    if label is not None and (label.isdigit() or label in ("l", "L")):
        subs.insert(0, label)
        label = None
    text = base + ("_" + "_".join(subs) if subs else "")
    if label is not None:
        text += f"^({label})"
    return text


# ---------------------------------------------------------------- notation of the claim


class Writer:
    """Builds names in the claim's notation for internal quantities (role, layer)."""

    def __init__(self, profile: Profile, offsets: dict[str, int]) -> None:
        self.profile = profile
        self.offsets = offsets
        # A claim about one neuron without layer labels is answered without labels too.
        self.unlabeled = False

    def letter(self, role: str, indexed: bool) -> str:
        letters = self.profile.letters
        if role in LAYERED:
            key = role + ("_entry" if indexed else "")
            if key in letters:
                return letters[key]
            other = letters.get(role + ("" if indexed else "_entry"))
            if role == "W":
                if other is not None:
                    if other == "Theta":
                        return "Theta"
                    return other.lower() if indexed else other.upper()
                return "w" if indexed else "W"
            if other is not None:
                return other
            defaults = {
                "z": "a" if self.profile.goodfellow else "z",
                "a": "h" if self.profile.goodfellow else "a",
                "delta": "g" if self.profile.goodfellow else "delta",
                "b": "b",
                "Delta": "Delta",
            }
            return defaults[role]
        return letters.get(
            role, {"x": "x", "y": "y", "lambda": "lambda", "n": "n", "yhat": "y"}[role]
        )

    def name(self, role: str, internal: Label | None, indices: tuple[str, ...] = ()) -> Name:
        """``role`` at internal layer ``internal`` (var, offset) in the claim's notation."""
        if role == "a" and internal is not None and internal[0] is None and internal[1] == 0:
            return Name(self.letter("x", bool(indices)), sub=indices)
        if role in ("x", "y", "lambda", "n"):
            return Name(self.letter(role, bool(indices)), sub=indices)
        if internal is None or self.unlabeled:
            return Name(self.letter(role, bool(indices)), sub=indices)
        var, off = internal
        claim_off = off + self.offsets[role]
        if var is None:
            label = str(claim_off)
        else:
            label = var if claim_off == 0 else f"{var}{claim_off:+d}"
        return Name(self.letter(role, bool(indices)), sub=indices, sup=(label,))

    def function(self, activation: str = "") -> str:
        for fname in self.profile.functions:
            if fname in GENERIC_FUNCTIONS:
                return fname
        if self.profile.goodfellow:
            return "f"
        return "sigma" if activation == "sigmoid" else "phi"


def display_names(model: Model, writer: Writer, style: Style) -> dict[sp.Symbol, str]:
    """Instance symbols in the claim's notation (w2_11 -> w^2_{11})."""
    names: dict[sp.Symbol, str] = {}
    inst = model.insts[0]
    single = all(w == 1 for w in model.net.widths)
    for lay in inst.W:
        for r in range(inst.W[lay].rows):
            for c in range(inst.W[lay].cols):
                idx = () if single else (str(r + 1), str(c + 1))
                names[inst.W[lay][r, c]] = render_ast(writer.name("W", (None, lay), idx), style)
            idx = () if single else (str(r + 1),)
            names[inst.b[lay][r]] = render_ast(writer.name("b", (None, lay), idx), style)
    for s, it in enumerate(model.insts):
        tag = (
            f"^{{({s + 1})}}"
            if model.batch > 1 and style.latex
            else (f"({s + 1})" if model.batch > 1 else "")
        )
        for role, vec in (("x", it.x), ("y", it.y)):
            for r, sym in enumerate(vec):
                idx = () if vec.rows == 1 else (str(r + 1),)
                names[sym] = render_ast(writer.name(role, None, idx), style) + tag
    if model.lam != 0:
        names[model.lam] = r"\lambda" if style.latex else "lambda"
    return names


def fmt_value(value: Any) -> str:
    """A numeric value to 12 significant digits (``undefined`` for NaN)."""
    if isinstance(value, mpmath.mpf) and mpmath.isnan(value):
        return "undefined"
    return mpmath.nstr(value, 12)
