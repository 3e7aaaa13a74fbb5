"""The LaTeX printer: every formula of a document becomes text here, in a notation profile.

:class:`LatexPrinter` subclasses SymPy's and dispatches (``_print_<ClassName>``) on the
display classes of :mod:`symprop.derivation.steps`, :mod:`symprop.core.symbols` and
:mod:`symprop.core.why`; the layout decisions it shares with the terminal printer are in
:mod:`symprop.printers.written`. Quantities are recognised by their role and layer
(:func:`symprop.core.symbols.quantity`) and written with the symbols of a
:class:`~symprop.core.notation.Profile`, so one derivation reads in Nielsen's, Goodfellow's or
Ng's notation. Activation names come from the registry's ``latex`` field.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.matrices.expressions import MatrixExpr
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from symprop.core import symbols as g
from symprop.core.calculus import ActivationApplied, ActivationPrimeApplied
from symprop.core.notation import Profile, get_profile
from symprop.core.registry import ACTIVATIONS
from symprop.core.why import Activation, LayerOf, Relation, RoleSymbol, Span
from symprop.derivation.kind_arrays import (
    KindArray,
    KindMatrix,
    ShownArray,
    kind_display,
    label_collides,
    layer_display,
)
from symprop.printers.written import (
    common_factor,
    data_first,
    factor_before_sum,
    kind_terms,
    of_a_kind,
    ordered_factors,
    ordered_terms,
    pulled_sign,
    reads_as_sum,
    written_product,
)

__all__ = [
    "Activation",
    "LatexPrinter",
    "LayerOf",
    "Relation",
    "RoleSymbol",
    "Span",
    "latex",
]

# Roles that belong to one sample of a mini-batch (parameters do not).
_PER_SAMPLE = frozenset({"x", "y", "z", "a", "delta", "C"})
# The registry's unit-level scalars, written with the profile's symbols.
_REGISTRY_SCALARS = {"a": "a", "z": "z", "y": "y"}


# ``:=`` as a plain relation: \coloneqq needs mathtools, which GitHub's MathJax lacks.
_RELATIONS = {"=": "=", ":=": r"\mathrel{:=}", "←": r"\leftarrow"}


class LatexPrinter(SympyLatexPrinter):
    """LaTeX for derivation expressions, in the symbols of a notation profile.

    Parameters
    ----------
    profile
        A :class:`~symprop.core.notation.Profile` or its name.
    depth
        The network's number of layers ``L`` (to recognise the output layer, which some
        profiles write as ``ŷ``); ``None`` for generic printing.
    kinds
        The layer kinds of the network, whose ``display`` tables name the kinds' arrays
        bound to layers (``γ^l``, ``x̂^l``); the whole registry is searched after them.

    Examples
    --------
    >>> from symprop.core import symbols as g
    >>> LatexPrinter("ng").doprint(g.matrix("W", 1))
    '\\\\Theta^{(1)}'
    >>> LatexPrinter("nielsen").doprint(g.indexed("a", 2)[g.j])
    'a^{2}_{j}'
    """

    printmethod = "_symprop_latex"

    def __init__(
        self, profile: Profile | str, depth: int | None = None, kinds: Sequence[str] = ()
    ) -> None:
        super().__init__({"mul_symbol": None, "fold_short_frac": False})
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.depth = depth
        self.kinds = tuple(kinds)
        self._hadamard = False
        self._sample: sp.Symbol | None = None
        self._bound_l = False  # inside a sum over the layer variable l

    def _layer(self, role: str, layer: sp.Expr | int) -> sp.Expr:
        """The profile's label of ``role`` at ``layer`` (a bound ``l`` renamed, see
        :meth:`~symprop.core.notation.Profile.layer`)."""
        return self.profile.layer(role, layer, bound=self._bound_l)

    # --- quantities ---------------------------------------------------------------

    def _is_output(self, layer: sp.Expr | None) -> bool:
        if layer is None:
            return False
        return layer == g.L_sym or (self.depth is not None and layer == self.depth)

    def _print_label(self, label: sp.Expr) -> str:
        """A layer label, always in SymPy's default term order (``l - 1``, not ``-1 + l``)."""
        previous, self._settings["order"] = self._settings["order"], None
        try:
            return self._print(label)
        finally:
            self._settings["order"] = previous

    def _label(self, role: str, layer: sp.Expr) -> str:
        text = self._print_label(self._layer(role, layer))
        return f"({text})" if self.profile.parenthesized else text

    def _quantity(self, role: str, layer: sp.Expr | None, entry: bool = False) -> str:
        """The symbol of ``role`` at ``layer`` with its layer label (no unit indices)."""
        notation = self.profile.role(role)
        if role == "a" and self.profile.output is not None and self._is_output(layer):
            text = self.profile.output
        elif role == "n":
            return f"{notation.symbol}_{{{self._print_label(self._layer(role, layer))}}}"
        else:
            symbol = notation.entry_symbol if entry else notation.symbol
            sample = self._sample is not None and role in _PER_SAMPLE
            if layer is not None and sample and self.profile.parenthesized:
                # (l) is the layer: the sample comes second, δ^{(l)(i)}, as x^{(i)} has none.
                index = self._print(self._sample)
                return f"{symbol}^{{{self._label(role, layer)}({index})}}"
            text = symbol if layer is None else f"{symbol}^{{{self._label(role, layer)}}}"
        if self._sample is not None and role in _PER_SAMPLE:
            text = f"{{{text}}}^{{({self._print(self._sample)})}}"
        return text

    def _named(self, name: str, entry: bool = False) -> str | None:
        found = g.quantity(name)
        if found is None:
            return None
        role, layer = found
        if role not in self.profile.roles:
            shown = layer_display(role, self.kinds, self.profile.name)
            return None if shown is None else self._kind_quantity(shown, layer, entry)
        return self._quantity(role, layer, entry)

    def _kind_quantity(self, shown: ShownArray, layer: sp.Expr | None, entry: bool) -> str:
        """A layer kind's array: the profile's symbol of its role, or its literal symbol;
        at a layer, labelled as a bias is (a parameter) or as ``z`` is (anything else)."""
        if shown.upstream:
            return self._quantity("delta", layer, entry)
        display = shown.display
        if display is None:
            return "?"
        if display.role is not None and display.role in self.profile.roles:
            return self._quantity(display.role, layer, entry)
        if layer is None:
            return display.latex
        like = "b" if shown.parameter else "z"
        text = self._print_label(self._layer(like, layer))
        label = f"({text})" if self.profile.parenthesized else text
        if label_collides(display):
            # (σ²)^{[2]}, σ^{[2]}: not a power, nor the sigmoid's σ (see label_collides).
            symbol = rf"\left({display.latex}\right)" if "^" in display.latex else display.latex
            label = label if self.profile.parenthesized else f"[{text}]"
            return f"{{{symbol}}}^{{{label}}}"
        return f"{{{display.latex}}}^{{{label}}}"

    def _print_KindArray(self, expr: KindArray) -> str:
        shown = kind_display(expr.kind, expr.name, self.profile.name)
        if shown.display is None and not shown.upstream:
            return rf"\mathrm{{{expr.name}}}"
        return self._kind_quantity(shown, None, entry=True)

    def _print_KindMatrix(self, expr: KindMatrix) -> str:
        shown = kind_display(expr.kind, expr.name, self.profile.name)
        if shown.display is None and not shown.upstream:
            return rf"\mathrm{{{expr.name}}}"
        return self._kind_quantity(shown, None, entry=False)

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        text = self._named(expr.name)
        if text is not None:
            return text
        if expr.name in _REGISTRY_SCALARS:
            return self._quantity(_REGISTRY_SCALARS[expr.name], None)
        if expr == g.n_batch:
            return self.profile.batch
        if expr.name.endswith("'"):
            # λ' (a book's own coefficient, set beside the document's λ)
            return self._print(sp.Symbol(expr.name[:-1])) + "'"
        return super()._print_Symbol(expr, style)

    _print_Dummy = _print_Symbol

    def _print_IndexedBase(self, expr: sp.IndexedBase) -> str:
        return self._named(expr.name, entry=True) or self._print(expr.label)

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        base = self._print(expr.base)
        indices = "".join(self._print(i) for i in expr.indices)
        return f"{base}_{{{indices}}}"

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return self._named(expr.name) or super()._print_MatrixSymbol(expr)

    # --- matrix algebra -----------------------------------------------------------

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        inner = self._print(expr.arg)
        if not isinstance(expr.arg, (sp.MatrixSymbol, KindMatrix)) or "^" in inner:
            inner = _paren(inner)
        return inner + r"^{\top}"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = []
        for arg in expr.args:
            text = self._print(arg)
            # A matrix product inside ⊙ is parenthesised, as in the textbooks' BP2.
            if isinstance(arg, (sp.MatMul, sp.MatAdd, sp.HadamardProduct)) or (
                isinstance(arg, g.Vectorized) and reads_as_sum(arg.expr)
            ):
                text = _paren(text)
            parts.append(text)
        return r" \odot ".join(parts)

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, factors = expr.as_coeff_matrices()
        parts = [self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in factors]
        body = " ".join(parts)
        sign = ""
        if coeff.could_extract_minus_sign():
            sign, coeff = "-", -coeff
        if coeff == 1:
            return sign + body
        num, den = sp.fraction(coeff)
        if num == 1 and den != 1:
            return rf"{sign}\frac{{1}}{{{self._print(den)}}} {body}"
        return sign + self.parenthesize(coeff, PRECEDENCE["Mul"], strict=True) + " " + body

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        out = ""
        for term in ordered_terms(expr):
            if isinstance(term, sp.ZeroMatrix):
                continue
            text = self._print(term)
            if text.startswith("-"):
                out += (" - " if out else "-") + text[1:]
            else:
                out += (" + " if out else "") + text
        return out or "0"

    def _print_ZeroMatrix(self, expr: sp.ZeroMatrix) -> str:
        return "0"

    # --- elementwise formulas -----------------------------------------------------

    def _print_Vectorized(self, expr: g.Vectorized) -> str:
        # Stand-in scalars carry the vectors' names, so they print as the vectors;
        # products between them print as ⊙ (elementwise).
        stand_in = {s: sp.Symbol(v.name, real=True) for s, v in expr.mapping.items()}
        body = expr.expr.xreplace(stand_in)
        previous, self._hadamard = self._hadamard, True
        try:
            return self._print(body)
        finally:
            self._hadamard = previous

    def _as_ordered_terms(self, expr: sp.Basic, order: str | None = None) -> list[sp.Basic]:
        if isinstance(expr, sp.Add) and of_a_kind(expr):
            return kind_terms(expr)
        return super()._as_ordered_terms(expr, order=order)

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not self._hadamard and of_a_kind(expr):
            split = factor_before_sum(expr)
            if split is not None:
                factor, bracket = split
                return rf"{self._print(factor)} \left({self._print(bracket)}\right)"
            coeff, rest = expr.as_coeff_Mul()
            if coeff.is_Rational and not coeff.is_Integer and coeff > 0 and rest != 1:
                # 10/9 δ m: a number before the product, not a fraction around it.
                num, den = coeff.p, coeff.q
                inner = self.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
                return rf"\frac{{{num}}}{{{den}}} {inner}"
        expr = written_product(expr)
        if isinstance(expr, sp.Add):
            return self._print(expr)
        num, den = sp.fraction(expr)
        if den.is_Symbol and (num.has(sp.Sum) or isinstance(num, MatrixExpr)):
            # (1/n) Σ …, the way a mean is written.
            inner = self.parenthesize(num, PRECEDENCE["Mul"], strict=True)
            return rf"\frac{{1}}{{{self._print(den)}}} {inner}"
        if not isinstance(expr, sp.Mul):
            # SymPy also sends 1/x here (a Pow); its own _print_Mul handles that.
            return super()._print_Mul(expr)
        if not self._hadamard:
            return self._print_ordered_mul(expr)
        if den != 1:
            return rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"
        coeff, factors = expr.as_coeff_mul()
        factors = data_first(list(factors))
        parts = [self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in factors]
        text = r" \odot ".join(parts)
        if coeff == -1:
            return "-" + text
        if coeff != 1:
            return self._print(coeff) + " " + text
        return text

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        # SymPy distributes numbers over sums (2(a − y) becomes 2a − 2y); write the
        # common factor out again, as the derivation has it.
        # Inside a hand-ordered product (order "none"), sums keep SymPy's usual order.
        previous = self._settings["order"]
        if previous == "none":
            self._settings["order"] = None
        try:
            factored = common_factor(expr)
            if factored is not None and of_a_kind(expr) and max(factored[0].p, factored[0].q) > 9:
                # ε + σ² with ε = 10⁻⁵ stays a sum, not 10⁻⁵ (1 + 10⁵ σ²).
                factored = None
            if factored is not None:
                coeff, rest = factored
                inner = super()._print_Add(rest, order)
                return rf"{self._print(coeff)} \left({inner}\right)"
            return super()._print_Add(expr, order)
        finally:
            self._settings["order"] = previous

    def _print_ordered_mul(self, expr: sp.Mul) -> str:
        """A product in the order written by hand: numbers, quantities, brackets, partial
        derivatives, functions, and sums last (so ``φ'(z) Σ_k …`` reads as pulled out)."""

        coeff, _ = expr.as_coeff_Mul()
        if coeff.is_negative:
            return "-" + self._print(-expr)
        ordered = ordered_factors(expr)
        previous, self._settings["order"] = self._settings["order"], "none"
        try:
            return super()._print_Mul(sp.Mul(*ordered, evaluate=False))
        finally:
            self._settings["order"] = previous

    def _print_Pow(self, expr: sp.Pow) -> str:
        base, exp = expr.as_base_exp()
        if exp.is_Integer and exp > 1:
            text = self._print(base)
            # A kind's entry squares plainly (σ_j^2); a layer's superscript needs brackets.
            plain = isinstance(base, sp.Indexed) and of_a_kind(base) and "^" not in text
            if "^" in text or ("_" in text and not plain) or precedence(base) < PRECEDENCE["Pow"]:
                text = rf"\left({text}\right)"
            return f"{text}^{{{self._print(exp)}}}"
        return super()._print_Pow(expr)

    # --- calculus display classes -------------------------------------------------

    def _print_ScalarPartial(self, expr: sp.Basic) -> str:
        num, den = expr.args
        den_text = self._print(den)
        if isinstance(num, (sp.Symbol, sp.Indexed, sp.MatrixSymbol)):
            return rf"\frac{{\partial {self._print(num)}}}{{\partial {den_text}}}"
        return rf"\frac{{\partial}}{{\partial {den_text}}}\left({self._print(num)}\right)"

    _print_MatrixPartial = _print_ScalarPartial

    def _print_SampleSum(self, expr: sp.Basic) -> str:
        body, index, count = expr.args
        previous, self._sample = self._sample, index
        try:
            inner = self.parenthesize(body, PRECEDENCE["Mul"], strict=True)
        finally:
            self._sample = previous
        return rf"\sum_{{{self._print(index)}=1}}^{{{self._print(count)}}} {inner}"

    def _print_SampleOf(self, expr: sp.Basic) -> str:
        inner, index = expr.args
        previous, self._sample = self._sample, index
        try:
            return self._print(inner)
        finally:
            self._sample = previous

    def _print_FrobeniusSquared(self, expr: sp.Basic) -> str:
        return rf"\left\lVert {self._print(expr.args[0])} \right\rVert_{{F}}^{{2}}"

    def _print_Sum(self, expr: sp.Sum) -> str:
        pulled, body = pulled_sign(expr.function)
        sign = "-" if pulled else ""
        previous = self._bound_l
        parts = []
        try:
            for v, lo, hi in reversed(expr.limits):
                if v == g.l_sym:
                    # A sum over the layers: l is renamed so that the weights read W^l in
                    # the profile, and the limits follow (Ng: l = 1, …, L − 1).
                    lo, hi = self.profile.bound_range(lo, hi)
                    self._bound_l = True
                    lo_text, hi_text = self._print_label(lo), self._print_label(hi)
                else:
                    lo_text, hi_text = self._print(lo), self._print(hi)
                parts.append(rf"\sum_{{{self._print(v)}={lo_text}}}^{{{hi_text}}} ")
            text = self.parenthesize(body, PRECEDENCE["Mul"], strict=True)
        finally:
            self._bound_l = previous
        return sign + "".join(parts) + text

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp: object = None) -> str:
        i, j = (self._print(a) for a in expr.args)
        if self.profile.kronecker == "delta":
            return rf"\delta_{{{i}{j}}}"
        # \left[ rather than [: a bare [ after a \\ line break reads as its spacing option.
        return rf"\left[{i} = {j}\right]"

    def _activation_name(self, name: str, derivative: int = 0) -> str:
        symbol = self.profile.activation if name == "phi" else ACTIVATIONS[name].latex
        return symbol + "'" * derivative

    def _print_ElementwiseApplied(self, expr: g.ElementwiseApplied) -> str:
        name = self._activation_name(expr.activation, expr.derivative)
        return name + _paren(self._print(expr.argument))

    def _print_Function(self, expr: sp.Function, exp: object = None) -> str:
        args = ", ".join(self._print(a) for a in expr.args)
        if isinstance(expr, ActivationPrimeApplied):
            return self._activation_name(expr.activation_name, 1) + _paren(args)
        if isinstance(expr, ActivationApplied):
            return self._activation_name(expr.activation_name) + _paren(args)
        name = expr.func.__name__
        if name == "phi":
            return self._activation_name("phi") + _paren(args)
        if name == "dphi":
            return self._activation_name("phi", 1) + _paren(args)
        return super()._print_Function(expr, exp)

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        rows = []
        for e, c in expr.args:
            cond = r"\text{otherwise}" if c == sp.true else rf"\text{{if }} {self._print(c)}"
            rows.append(f"{self._print(e)} & {cond}")
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    # --- document display classes -------------------------------------------------

    def _print_LayerOf(self, expr: LayerOf) -> str:
        role, layer = expr.args
        return self._print_label(self._layer(role.name, layer))

    @staticmethod
    def relation(rel: str) -> str:
        """The LaTeX of a relation sign (``=``, ``:=``, ``←``)."""
        return _RELATIONS[rel]

    def _print_Relation(self, expr: Relation) -> str:
        lhs, rhs, rel = expr.args
        return f"{self._print(lhs)} {_RELATIONS[rel.name]} {self._print(rhs)}"

    def _print_RoleSymbol(self, expr: RoleSymbol) -> str:
        return self._quantity(expr.args[0].name, None)

    def _print_Activation(self, expr: Activation) -> str:
        return self._activation_name(expr.args[0].name, int(expr.args[1]))

    def _print_Span(self, expr: Span) -> str:
        first, last = (self._print(a) for a in expr.args)
        values = [
            self._layer(a.args[0].name, a.args[1]) if isinstance(a, LayerOf) else a
            for a in expr.args
        ]
        gap = values[1] - values[0]
        if gap == 0:
            return first
        if gap.is_number and abs(gap) == 1:
            return f"{first}, {last}"
        return rf"{first}, \dots, {last}"


def _paren(text: str) -> str:
    """Function-call brackets: plain around a symbol, growing around fractions and sums."""
    if any(tall in text for tall in (r"\frac", r"\sum", r"\begin")):
        return rf"\left({text}\right)"
    return f"({text})"


def latex(
    expr: sp.Basic,
    profile: Profile | str = "nielsen",
    depth: int | None = None,
    kinds: Sequence[str] = (),
) -> str:
    """Render one expression as LaTeX math in ``profile``'s notation.

    Examples
    --------
    >>> from symprop.core import symbols as g
    >>> latex(g.vector("delta", 2), "goodfellow")
    'g^{(2)}'
    """
    return LatexPrinter(profile, depth, kinds).doprint(expr)
