"""The printers through which an explained graph's math becomes text: LaTeX for the TikZ
document and pictures, plain text for the table and JSON, and the gate patterns they show."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.printer import Printer
from sympy.printing.str import StrPrinter

from symprop.core.calculus import ActivationApplied
from symprop.core.registry import ACTIVATIONS
from symprop.core.templating import latex_escape
from symprop.explain.backward import matmul_text
from symprop.explain.graph import (
    GraphNode,
    elementwise_name,
)
from symprop.printers.written import written_product

DIGITS = 3
"""Significant digits shown in tables and pictures; JSON keeps full double precision."""

# What each gate does to the gradient (seed 001, "Gate actions"): prose, not math.
GATE_PATTERNS: Mapping[str, str] = {
    "add": "add gate: distributes the same gradient to every input",
    "add_const": "adding a constant: passes the gradient through unchanged",
    "mul": "multiply gate: swaps, each input gets the upstream gradient times the other input",
    "max": "max gate: routes the gradient to the larger input",
    "min": "min gate: routes the gradient to the smaller input",
    "neg": "negation: flips the sign of the gradient",
    "scale": "scaling by a constant: scales the gradient by the same constant",
    "matmul": "matrix product: G B^T to the left factor, A^T G to the right one",
    "sqnorm": "squared norm: 2 v times the upstream gradient",
    "elementwise": (
        "entrywise function: the upstream gradient times f'(z), entry by entry (G ⊙ f'(z))"
    ),
    "activation": "activation: the upstream gradient times φ'(z), entry by entry (G ⊙ φ'(z))",
    "vector_activation": "vector activation: the transposed Jacobian times the gradient (J^T G)",
    "loss": "loss: the upstream gradient times ∂ℓ/∂a_k for each output (and ∂ℓ/∂y_k for y)",
}

# The same in LaTeX where the prose holds math (the rest is escaped text).
GATE_PATTERNS_TEX: Mapping[str, str] = {
    "matmul": r"matrix product: $G B^{T}$ to the left factor, $A^{T} G$ to the right one",
    "sqnorm": r"squared norm: $2 v$ times the upstream gradient",
    "elementwise": (
        r"entrywise function: the upstream gradient times $f'(z)$, entry by entry "
        r"($G \odot f'(z)$)"
    ),
    "activation": (
        r"activation: the upstream gradient times $\varphi'(z)$, entry by entry "
        r"($G \odot \varphi'(z)$)"
    ),
    "vector_activation": (
        r"vector activation: the transposed Jacobian times the gradient ($J^{T} G$)"
    ),
    "loss": (
        r"loss: the upstream gradient times $\partial \ell / \partial a_k$ for each output "
        r"(and $\partial \ell / \partial y_k$ for $y$)"
    ),
}

# Gate labels in LaTeX math, character by character (words become \mathrm).
_LABEL_TEX: Mapping[str, str] = {
    "−": "-",
    "×": r"\times ",
    "²": "^{2}",
    "√": r"\sqrt{\,}",
    "σ": r"\sigma ",
    "‖": r"\|",
    "·": r"\cdot ",
    "ᵀ": "{}^{T}",
    "⊙": r"\odot ",
    "{": r"\{",
    "}": r"\}",
    "#": r"\#",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "_": r"\_",
    "~": r"\sim ",
    "\\": r"\backslash ",
}


# ------------------------------------------------------------------ printers


def symbol_for(node_name: str, shape: tuple[int, ...]) -> sp.Basic:
    """The symbol that stands for a node: a matrix symbol of its shape, or a real scalar."""
    return sp.MatrixSymbol(node_name, *shape) if shape else sp.Symbol(node_name, real=True)


class GraphLatexPrinter(LatexPrinter):
    """LaTeX for the derivation: rounded numbers, compact matrices, and named placeholders.

    ``aliases`` maps a symbol name to LaTeX the printer itself produced (``∂f/∂u_1`` for
    the upstream gradient ``G``), so a VJP rule prints as ``\\frac{∂f}{∂u_1} x^T``.
    """

    def __init__(self, digits: int = DIGITS, aliases: Mapping[str, str] | None = None) -> None:
        super().__init__({"mat_str": "smallmatrix", "mat_delim": "["})
        self.digits = digits
        self.aliases = dict(aliases or {})

    def _print_Float(self, expr: sp.Float) -> str:
        return _round_text(expr, self.digits)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        return self.aliases.get(expr.name) or super()._print_Symbol(expr, style)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return self.aliases.get(str(expr.name)) or super()._print_MatrixSymbol(expr)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return matmul_text(self, expr, " ")

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return r" \odot ".join(self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        """``\\sigma(W x + b)`` for an entrywise σ; SymPy's own form for anything else."""
        name = elementwise_name(expr.function)
        if name is None:
            return super()._print_ElementwiseApplyFunction(expr)
        return rf"{_label_tex(name)}\left({self._print(expr.expr)}\right)"

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        """A registry activation by its display name: ``\\sigma\\left(u\\right)``."""
        if not isinstance(expr, ActivationApplied):
            return super()._print_Function(expr, exp)
        name = ACTIVATIONS[expr.activation_name].latex
        text = rf"{name}\left({self._print(expr.args[0])}\right)"
        return text if exp is None else rf"{text}^{{{exp}}}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        return _written_mul(self, expr, super()._print_Mul)

    def partial(self, num: str, den: str) -> str:
        """``\\frac{\\partial num}{\\partial den}`` with both names printed as symbols."""
        top = self._print(sp.Symbol(num))
        bottom = self._print(sp.Symbol(den))
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


class GraphStrPrinter(StrPrinter):
    """Plain text for the terminal table and JSON: rounded numbers, nested-list matrices."""

    def __init__(self, digits: int | None = DIGITS) -> None:
        super().__init__()
        self.digits = digits

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr)) if self.digits is None else _round_text(expr, self.digits)

    def _print_MatrixBase(self, expr: sp.MatrixBase) -> str:
        rows = [", ".join(self._print(e) for e in expr.row(r)) for r in range(expr.rows)]
        if expr.cols == 1:
            return "[" + ", ".join(rows) + "]"
        return "[" + ", ".join(f"[{row}]" for row in rows) + "]"

    _print_ImmutableDenseMatrix = _print_MatrixBase
    _print_MutableDenseMatrix = _print_MatrixBase

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return self._print(expr.arg) + "ᵀ"

    def _print_Function(self, expr: sp.Function) -> str:
        """A registry activation by its display name: ``σ(u)``."""
        if not isinstance(expr, ActivationApplied):
            return super()._print_Function(expr)
        name = ACTIVATIONS[expr.activation_name].unicode
        return f"{name}({self._print(expr.args[0])})"

    def _print_Mul(self, expr: sp.Mul) -> str:
        return _written_mul(self, expr, super()._print_Mul)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return matmul_text(self, expr, "*")

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ⊙ ".join(self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        name = elementwise_name(expr.function)
        if name is None:  # a derivative in a rule: t ↦ f'(t), entry by entry
            (t,) = expr.function.variables
            return (
                f"({self._print(t)} ↦ {self._print(expr.function.expr)})∘({self._print(expr.expr)})"
            )
        return f"{name}({self._print(expr.expr)})"


def _written_mul(printer: Printer, expr: sp.Mul, plain: Callable[[sp.Mul], str]) -> str:
    """A registry derivative in its written form and order, the documents' ``a (1 − a)`` with
    ``a = σ(u)`` (``σ(u) (1 − σ(u))``, not SymPy's ``(1 − σ(u)) σ(u)``); any other product as
    SymPy prints it."""
    if not expr.has(ActivationApplied):
        return plain(expr)
    written = written_product(expr)
    if not isinstance(written, sp.Mul):
        return printer._print(written)
    previous, printer._settings["order"] = printer._settings["order"], "none"
    try:
        return plain(written)
    finally:
        printer._settings["order"] = previous


def _round_text(value: sp.Basic, digits: int) -> str:
    number = float(value)
    if number == 0:
        return "0"
    text = f"{number:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def _label_tex(label: str) -> str:
    """A gate label as LaTeX math: ``×(-1)`` as ``\\times(-1)``, ``exp`` as ``\\mathrm{exp}``."""
    out: list[str] = []
    word = ""
    for char in label:
        if char.isascii() and char.isalpha():
            word += char
            continue
        if word:
            out.append(rf"\mathrm{{{word}}}" if len(word) > 1 else word)
            word = ""
        if char == " ":
            out.append(r"\ ")
        elif char in _LABEL_TEX:
            out.append(_LABEL_TEX[char])
        elif char.isascii():
            out.append(char)
        else:
            out.append(r"\text{?}")
    if word:
        out.append(rf"\mathrm{{{word}}}" if len(word) > 1 else word)
    text = "".join(out).strip()
    return "{}" + text if text.startswith("^") else text


def gate_label_tex(node: GraphNode) -> str:
    """The LaTeX label of a node's gate (``input`` for a leaf)."""
    if node.gate is None:
        return r"\text{input}"
    return node.gate.label_tex or _label_tex(node.gate.label)


def gate_pattern_tex(node: GraphNode) -> str:
    """The LaTeX backward-rule pattern of a node's gate kind, or ``""`` when it has none."""
    if node.gate is None or node.gate.kind not in GATE_PATTERNS:
        return ""
    kind = node.gate.kind
    return GATE_PATTERNS_TEX.get(kind) or latex_escape(GATE_PATTERNS[kind])
