"""Printers: math becomes text only here.

:class:`UnicodePrinter` renders derivation expressions for the terminal (``δ² = ((W³)ᵀ δ³) ⊙ a²
⊙ (1 − a²)``). It subclasses SymPy's ``StrPrinter`` and dispatches on the display classes of
:mod:`symprop.derivation.steps`, :mod:`symprop.core.symbols` and :mod:`symprop.core.why`;
quantities are named by their role and layer (see :func:`symprop.core.symbols.quantity`) in the
code's numbering (input layer 0). Products, signs and term order follow the written form of
:mod:`symprop.printers.written`, the same decisions the LaTeX printer makes, so the terminal
shows the forms of the documents. :func:`sentence` renders a justification
(:class:`~symprop.core.why.Why`)."""

from __future__ import annotations

import sympy as sp
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from symprop.core import symbols as g
from symprop.core.calculus import ActivationApplied, ActivationPrimeApplied
from symprop.core.registry import ACTIVATIONS
from symprop.core.why import Why
from symprop.derivation.kind_arrays import (
    KindArray,
    KindMatrix,
    ShownArray,
    kind_display,
    label_collides,
    layer_display,
)
from symprop.derivation.steps import DerivationView, Step
from symprop.printers.written import (
    common_factor,
    data_first,
    factor_before_sum,
    kind_terms,
    late_terms_last,
    of_a_kind,
    ordered_factors,
    ordered_terms,
    pulled_sign,
    reads_as_sum,
    written_product,
)

_SUPERSCRIPT = str.maketrans("0123456789+-()lLin", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ˡᴸⁱⁿ")
_SUBSCRIPT = str.maketrans("0123456789+-()ijklmnprst", "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ᵢⱼₖₗₘₙₚᵣₛₜ")
_RELATIONS = {"=": "=", ":=": "≔", "←": "←"}
_GREEK = {"alpha": "α", "lambda": "λ", "eta": "η", "epsilon": "ε", "momentum": "momentum"}
_SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
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
    if all(ch in "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ᵢⱼₖₗₘₙₚᵣₛₜ" for ch in out):
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
        if role not in _ROLE_SYMBOL:
            # A layer kind's array bound to a layer (γ², x̂²): its kind's display name.
            shown = layer_display(role, (), "nielsen")
            if shown is not None:
                symbol = self._kind_symbol(shown)
                if layer is None:
                    return symbol
                if shown.display is not None and shown.display.role is None:
                    if label_collides(shown.display):
                        # (σ²)^[2], σ^[2]: not a power, nor the sigmoid's σ.
                        if any(ch in symbol for ch in "⁰¹²³⁴⁵⁶⁷⁸⁹"):
                            symbol = f"({symbol})"
                        return f"{symbol}^[{sp.sstr(layer)}]"
                return symbol + superscript(sp.sstr(layer))
        symbol = _ROLE_SYMBOL.get(role, role)
        if index_form and role == "W":
            symbol = "w"
        if role == "n":
            return symbol + subscript(sp.sstr(layer)) if layer is not None else symbol
        return symbol + (superscript(sp.sstr(layer)) if layer is not None else "")

    @staticmethod
    def _kind_symbol(shown: ShownArray) -> str:
        """A layer kind's array without a layer: its display name (δ for the upstream
        gradient, the local gradient passed down into the kind)."""
        if shown.upstream:
            return "δ"
        if shown.display is None:
            return "?"
        if shown.display.role is not None:
            return _ROLE_SYMBOL.get(shown.display.role, shown.display.unicode)
        return shown.display.unicode

    def _print_KindArray(self, expr: KindArray) -> str:
        shown = kind_display(expr.kind, expr.name, "nielsen")
        if shown.display is None and not shown.upstream:
            return expr.name
        return self._kind_symbol(shown)

    _print_KindMatrix = _print_KindArray

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        q = self._quantity(expr.name)
        if q is not None:
            return q
        base, _, sub = expr.name.partition("_")
        if sub.isdigit() and base in _GREEK:
            # A layer's own parameter (α₃): the Greek letter with the layer as subscript.
            return _GREEK[base] + sub.translate(_SUBSCRIPT_DIGITS)
        return _GREEK.get(expr.name, expr.name)

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
        if not isinstance(expr.arg, (sp.MatrixSymbol, KindMatrix)) or any(
            ch in inner for ch in "⁰¹²³⁴⁵⁶⁷⁸⁹ˡᴸ^"
        ):
            inner = f"({inner})"
        return inner + "ᵀ"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = []
        for arg in expr.args:
            text = self._print(arg)
            # A matrix product or a sum inside ⊙ is bracketed, as the documents do.
            if isinstance(arg, (sp.MatMul, sp.MatAdd, sp.HadamardProduct)) or (
                isinstance(arg, g.Vectorized) and reads_as_sum(arg.expr)
            ):
                text = f"({text})"
            parts.append(text)
        return " ⊙ ".join(parts)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, factors = expr.as_coeff_matrices()
        parts = [self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors]
        head = "" if coeff == 1 else ("−" if coeff == -1 else self._print(coeff) + " ")
        return head + " ".join(parts)

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        out = ""
        for term in ordered_terms(expr):
            if isinstance(term, sp.ZeroMatrix):
                continue
            text = self.parenthesize(term, PRECEDENCE["Add"])
            if text.startswith("-") or text.startswith("−"):
                out += (" − " if out else "−") + text[1:]
            else:
                out += (" + " if out else "") + text
        return out or "0"

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        # Inside a hand-ordered product (order "none") a sum keeps SymPy's usual order; a
        # rational common factor is written outside it, as the derivation has it.
        previous = self._settings["order"]
        if previous == "none":
            self._settings["order"] = None
        try:
            factored = common_factor(expr)
            if factored is not None:
                coeff, rest = factored
                return f"{self._print(coeff)} ({self._print_Add(rest, order)})"
            out = ""
            for term in self._as_ordered_terms(expr, order=order):
                # A negative term is written after "−" (as LaTeX does), never flipped.
                negative = term.could_extract_minus_sign()
                text = self._print(-term if negative else term)
                if precedence(term) < PRECEDENCE["Add"] or isinstance(term, sp.Add):
                    text = f"({text})"
                out += (" - " if out else "-") if negative else (" + " if out else "")
                out += text
            return out
        finally:
            self._settings["order"] = previous

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exp = expr.as_base_exp()
        if exp.is_Integer and exp > 1:
            text = self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
            if any(ch in text for ch in "⁰¹²³⁴⁵⁶⁷⁸⁹ˡᴸ⁽^"):
                text = f"({text})"  # (a¹)², not a¹²
            return text + superscript(str(exp))
        if exp == sp.S.Half:
            return f"√({self._print(base)})"
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

    def _as_ordered_terms(self, expr: sp.Basic, order: str | None = None) -> list[sp.Basic]:
        if isinstance(expr, sp.Add) and of_a_kind(expr):
            return kind_terms(expr)
        terms = super()._as_ordered_terms(expr, order=order)
        return late_terms_last(expr, terms) if isinstance(expr, sp.Add) else terms

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not self._hadamard and of_a_kind(expr):
            split = factor_before_sum(expr)
            if split is not None:
                factor, bracket = split
                return f"{self._print(factor)} ({self._print(bracket)})"
        expr = written_product(expr)
        if isinstance(expr, sp.Add):
            return self._print(expr)
        if not self._hadamard:
            return self._print_ordered_mul(expr)
        num, den = sp.fraction(expr)
        if den != 1:
            left = self.parenthesize(num, PRECEDENCE["Mul"])
            return f"{left} ⊘ {self.parenthesize(den, PRECEDENCE['Pow'])}"
        coeff, factors = expr.as_coeff_mul()
        factors = data_first(list(factors))
        parts = [self.parenthesize(f, PRECEDENCE["Mul"]) for f in factors]
        text = " ⊙ ".join(parts)
        if coeff == -1:
            return "-" + text
        if coeff != 1:
            return self._print(coeff) + " " + text
        return text

    def _print_ordered_mul(self, expr: sp.Basic) -> str:
        """A product in the written order of :func:`~symprop.printers.written.ordered_factors`."""
        if not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr).replace("*", " ")
        coeff, _ = expr.as_coeff_Mul()
        if coeff.is_negative:
            return "-" + self._print(-expr)
        num, den = sp.fraction(expr, exact=True)
        if den != 1:
            # A quotient: numerator and denominator each in the written order.
            num_text, den_text = self._print(num), self._print(den)
            if isinstance(num, sp.Add):
                num_text = f"({num_text})"
            if isinstance(den, (sp.Add, sp.Mul)):
                den_text = f"({den_text})"
            return f"{num_text}/{den_text}"
        ordered = sp.Mul(*ordered_factors(expr), evaluate=False)
        previous, self._settings["order"] = self._settings["order"], "none"
        try:
            return super()._print_Mul(ordered).replace("*", " ")
        finally:
            self._settings["order"] = previous

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
        pulled, body = pulled_sign(expr.function)
        text = f"Σ{subscript(str(index))} {self.parenthesize(body, PRECEDENCE['Mul'])}"
        return "-" + text if pulled else text

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        # An Iverson bracket, as the documents print it: δ is the local gradient here.
        i, j = (self._print(a) for a in expr.args)
        return f"[{i} = {j}]"

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

    # --- justification display classes (symprop.core.why) -------------------------

    def _print_Relation(self, expr: sp.Basic) -> str:
        lhs, rhs, rel = expr.args
        return f"{self._print(lhs)} {_RELATIONS[rel.name]} {self._print(rhs)}"

    def _print_LayerOf(self, expr: sp.Basic) -> str:
        return sp.sstr(expr.args[1])

    def _print_RoleSymbol(self, expr: sp.Basic) -> str:
        role = expr.args[0].name
        return _ROLE_SYMBOL.get(role, role)

    def _print_Activation(self, expr: sp.Basic) -> str:
        name, derivative = expr.args[0].name, int(expr.args[1])
        symbol = "φ" if name == "phi" else ACTIVATIONS[name].unicode
        return symbol + "'" * derivative

    def _print_Span(self, expr: sp.Basic) -> str:
        first, last = (self._print(a) for a in expr.args)
        return first if first == last else f"{first}, …, {last}"

    def emptyPrinter(self, expr: object) -> str:  # noqa: N802 - SymPy's hook name
        return str(expr)


def unicode(expr: sp.Basic) -> str:
    """Render one expression for the terminal."""
    return UnicodePrinter().doprint(expr).replace("-", "−")


def sentence(why: Why) -> str:
    """Render a justification for the terminal: its text, with each expression printed.

    Examples
    --------
    >>> from symprop.core import symbols as g
    >>> from symprop.core.why import why
    >>> sentence(why("by definition of ", g.vector("delta", g.l_sym + 1)))
    'by definition of δ⁽ˡ⁺¹⁾'
    """
    return "".join(s if isinstance(s, str) else unicode(s) for s in why)


def _chain(step: Step, full: bool) -> str:
    lhs = unicode(step.lhs)
    rel = _RELATIONS[step.relation]
    chain = step.chain if full else step.chain[-1:]
    pad = " " * len(lhs)
    lines = []
    previous = None
    for rhs, why in chain:
        rhs_text = unicode(rhs)
        if rhs_text == previous:
            # The written form already shows this line's simplification (as the documents).
            continue
        lead, relation = (lhs, rel) if previous is None else (pad, "=")
        previous = rhs_text
        lines.append(f"  {lead} {relation} {rhs_text}    [{sentence(why)}]")
    return "\n".join(lines)


def unicode_summary(d: DerivationView) -> str:
    """The derivation summary printed by ``symprop derive``."""
    net = d.network
    widths = "-".join(str(w) for w in net.widths)
    acts = ", ".join(f"{layer.activation}" for layer in net.layers)
    out = [
        f"{net.name}: {widths} ({acts}), loss {net.loss}, λ = {net.l2:g}",
        "layers are numbered from the input (layer 0); W^l maps layer l−1 to layer l",
        "",
        "Activation derivatives",
    ]
    for st in d.section("activation"):
        if st.id.endswith(".derivative"):
            out.append(_chain(st, full=True))
    # Each layer kind's derived rules: the compact form of every gradient it passes back.
    for st in d.steps:
        if st.section != "kinds":
            continue
        if st.id.endswith(".forward"):
            out += ["", "Layer kind " + st.id.split(".")[1].replace("_", " ")]
            out.append(_chain(st, full=True))
        elif ".grad_" in st.id:
            out.append(_chain(st, full=False))
    out += ["", "Output local gradient"]
    out.append(_chain(d.step("delta.output.index"), full=True))
    out += ["", "Backpropagation, layer by layer"]
    for st in d.section("summary"):
        out.append(_chain(st, full=False))
    out += ["", "Update (learning rate η)"]
    for st in d.section("update"):
        out.append(_chain(st, full=False))
    if d.assumptions:
        out += ["", "Assumptions"]
        out += [f"  - {sentence(why)}" for why in d.assumptions]
    return "\n".join(out) + "\n"
