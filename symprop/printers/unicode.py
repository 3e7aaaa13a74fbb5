"""Printers: math becomes text only here.

:class:`UnicodePrinter` renders derivation expressions for the terminal (``δ² = ((W³)ᵀ δ³) ⊙ a²
⊙ (1 − a²)``). It subclasses SymPy's ``StrPrinter`` and dispatches on the display classes of
:mod:`symprop.derivation.build` and :mod:`symprop.core.symbols`; quantities are named by their
role and layer (see :func:`symprop.core.symbols.quantity`) in the code's numbering (input layer
0)."""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symprop.core import symbols as g
from symprop.core.calculus import ActivationApplied, ActivationPrimeApplied
from symprop.core.registry import ACTIVATIONS

_SUPERSCRIPT = str.maketrans("0123456789+-()lLin", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ˡᴸⁱⁿ")
_SUBSCRIPT = str.maketrans("0123456789+-()ijklmn", "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ᵢⱼₖₗₘₙ")
_ROLE_SYMBOL = {
    "x": "x",
    "y": "y",
    "z": "z",
    "a": "a",
    "W": "W",
    "b": "b",
    "delta": "δ",
    "Delta": "Δ",
    "C": "C",
    "J": "J",
    "lambda": "λ",
    "eta": "η",
    "n": "n",
}


def superscript(text: str) -> str:
    """Unicode superscript of a short label, or ``^(label)`` when a character has none."""
    out = text.replace(" ", "").translate(_SUPERSCRIPT)
    if all(ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ˡᴸⁱⁿ" for ch in out):
        return out
    return f"^({text})"


def subscript(text: str) -> str:
    """Unicode subscript of a short label, or ``_(label)`` when a character has none."""
    out = text.replace(" ", "").translate(_SUBSCRIPT)
    if all(ch in "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ᵢⱼₖₗₘₙ" for ch in out):
        return out
    return f"_({text})"


class UnicodePrinter(StrPrinter):
    """Terminal rendering of derivation expressions."""

    printmethod = "_symprop_unicode"

    def _quantity(self, name: str, index_form: bool = False) -> str | None:
        found = g.quantity(name)
        if found is None:
            return None
        role, layer = found
        symbol = _ROLE_SYMBOL.get(role, role)
        if index_form and role == "W":
            symbol = "w"
        if role == "n":
            return symbol + subscript(sp.sstr(layer)) if layer is not None else symbol
        return symbol + (superscript(sp.sstr(layer)) if layer is not None else "")

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        q = self._quantity(expr.name)
        if q is not None:
            return q
        return {"alpha": "α", "lambda": "λ", "eta": "η"}.get(expr.name, expr.name)

    _print_Dummy = _print_Symbol

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return self._quantity(expr.name, index_form=True) or expr.name

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        base = self._print(expr.base)
        idx = "".join(self._print(i) for i in expr.indices)
        sub = subscript(idx)
        return base + sub

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return self._quantity(expr.name) or expr.name

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        inner = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol) or any(ch in inner for ch in "⁰¹²³⁴⁵⁶⁷⁸⁹ˡᴸ^"):
            inner = f"({inner})"
        return inner + "ᵀ"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ⊙ ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, factors = expr.as_coeff_matrices()
        parts = [self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors]
        head = "" if coeff == 1 else ("−" if coeff == -1 else self._print(coeff) + " ")
        return head + " ".join(parts)

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        out = ""
        for n, term in enumerate(expr.args):
            text = self.parenthesize(term, PRECEDENCE["Add"])
            if text.startswith("-") or text.startswith("−"):
                out += (" − " if n else "−") + text[1:]
            else:
                out += (" + " if n else "") + text
        return out

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.as_base_exp()
        if exp.is_Integer and exp > 1:
            return self.parenthesize(base, PRECEDENCE["Pow"], strict=True) + superscript(str(exp))
        return super()._print_Pow(expr, rational)

    _hadamard = False

    def _print_Vectorized(self, expr: g.Vectorized) -> str:
        # Stand-in scalar symbols carry the vectors' names, so they print as a², y…;
        # products between them print as ⊙ (elementwise).
        stand_in = {s: sp.Symbol(v.name, real=True) for s, v in expr.mapping.items()}
        body = expr.expr.xreplace(stand_in)
        self._hadamard = True
        try:
            return self._print(body)
        finally:
            self._hadamard = False

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not self._hadamard:
            return super()._print_Mul(expr).replace("*", " ")
        num, den = sp.fraction(expr)
        if den != 1:
            left = self.parenthesize(num, PRECEDENCE["Mul"])
            return f"{left} ⊘ {self.parenthesize(den, PRECEDENCE['Pow'])}"
        coeff, factors = expr.as_coeff_mul()
        parts = [self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors]
        text = " ⊙ ".join(parts)
        if coeff == -1:
            return "-" + text
        if coeff != 1:
            return self._print(coeff) + " " + text
        return text

    def _print_ElementwiseApplied(self, expr: g.ElementwiseApplied) -> str:
        name = expr.activation
        symbol = "φ" if name == "phi" else ACTIVATIONS[name].unicode
        return f"{symbol}{chr(39) * expr.derivative}({self._print(expr.argument)})"

    def _print_ScalarPartial(self, expr: sp.Basic) -> str:
        return f"∂{self._print(expr.args[0])}/∂{self._print(expr.args[1])}"

    _print_MatrixPartial = _print_ScalarPartial

    def _print_SampleSum(self, expr: sp.Basic) -> str:
        body, index, count = expr.args
        text = f"{self.parenthesize(body, PRECEDENCE['Mul'])}⁽{superscript(str(index))}⁾"
        return f"Σ{subscript(str(index))} " + text.replace("⁽⁽", "⁽").replace("⁾⁾", "⁾")

    def _print_SampleOf(self, expr: sp.Basic) -> str:
        return f"{self._print(expr.args[0])}⁽{superscript(str(expr.args[1]))}⁾"

    def _print_FrobeniusSquared(self, expr: sp.Basic) -> str:
        return f"‖{self._print(expr.args[0])}‖²"

    def _print_Sum(self, expr: sp.Sum) -> str:
        (index, _lo, _hi), *rest = expr.limits
        body = expr.function
        return f"Σ{subscript(str(index))} {self.parenthesize(body, PRECEDENCE['Mul'])}"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return "δ" + subscript("".join(str(a) for a in expr.args))

    def _print_Function(self, expr: sp.Function) -> str:
        args = ", ".join(self._print(a) for a in expr.args)
        if isinstance(expr, ActivationPrimeApplied):
            return f"{ACTIVATIONS[expr.activation_name].unicode}'({args})"
        if isinstance(expr, ActivationApplied):
            return f"{ACTIVATIONS[expr.activation_name].unicode}({args})"
        name = expr.func.__name__
        if name == "phi":
            return f"φ({args})"
        if name == "dphi":
            return f"φ'({args})"
        return super()._print_Function(expr)

    def _print_ZeroMatrix(self, expr: sp.ZeroMatrix) -> str:
        return "0"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        parts = []
        for e, c in expr.args:
            cond = "otherwise" if c == sp.true else f"if {self._print(c)}"
            parts.append(f"{self._print(e)} {cond}")
        return "{ " + "; ".join(parts) + " }"

    def _print_StrictGreaterThan(self, expr: sp.Basic) -> str:
        return f"{self._print(expr.lhs)} > {self._print(expr.rhs)}"

    def emptyPrinter(self, expr: object) -> str:  # noqa: N802 - SymPy's hook name
        return str(expr)


def unicode(expr: sp.Basic) -> str:
    """Render one expression for the terminal."""
    return UnicodePrinter().doprint(expr).replace("-", "−")


def _chain(step: object, full: bool) -> str:
    lhs = unicode(step.lhs)  # type: ignore[attr-defined]
    rel = {"=": "=", ":=": "≔", "←": "←"}[step.relation]  # type: ignore[attr-defined]
    chain = step.chain if full else step.chain[-1:]  # type: ignore[attr-defined]
    pad = " " * len(lhs)
    lines = []
    for n, (rhs, why) in enumerate(chain):
        lead = lhs if n == 0 else pad
        lines.append(f"  {lead} {rel if n == 0 else '='} {unicode(rhs)}    [{why}]")
    return "\n".join(lines)


def unicode_summary(d: object) -> str:
    """The derivation summary printed by ``symprop derive``."""
    net = d.network  # type: ignore[attr-defined]
    widths = "-".join(str(w) for w in net.widths)
    acts = ", ".join(f"{layer.activation}" for layer in net.layers)
    out = [
        f"{net.name}: {widths} ({acts}), loss {net.loss}, λ = {net.l2:g}",
        "layers are numbered from the input (layer 0); W^l maps layer l−1 to layer l",
        "",
        "Activation derivatives",
    ]
    for st in d.section("activation"):  # type: ignore[attr-defined]
        if st.id.endswith(".derivative"):
            out.append(_chain(st, full=True))
    out += ["", "Output local gradient"]
    out.append(_chain(d.step("delta.output.index"), full=True))  # type: ignore[attr-defined]
    out += ["", "Backpropagation, layer by layer"]
    for st in d.section("summary"):  # type: ignore[attr-defined]
        out.append(_chain(st, full=False))
    out += ["", "Update (learning rate η)"]
    for st in d.section("update"):  # type: ignore[attr-defined]
        out.append(_chain(st, full=False))
    if d.assumptions:  # type: ignore[attr-defined]
        out += ["", "Assumptions"]
        out += [f"  - {text}" for text in d.assumptions]  # type: ignore[attr-defined]
    return "\n".join(out) + "\n"
