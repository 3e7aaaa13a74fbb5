"""Print a layer kind's derived forms as NumPy code over a mini-batch of rows.

A kind's forward definition, intermediates, inference form and derived gradients are
index-form SymPy expressions (``Indexed``, ``Sum``) over its arrays, and per-sample kinds
also have proven matrix forms (``W x + b``, ``Wᵀ g``, ``g xᵀ``, ``u ⊙ v``). This printer
writes either as array code, naming each array by its code variable:

* an array of a per-sample kind that varies per sample (its inputs, output, given arrays,
  intermediates and the upstream gradient ``g``) is held with a leading batch axis (rows);
  its parameters and running statistics are not. A batch-coupled kind's arrays are held
  as the kind declares them (its first index is the sample);
* *index form*: every index labels an axis; a product broadcasts over the union of its
  factors' labels (axes inserted with ``None`` where a factor lacks one), a sum reduces its
  label (``np.sum(…, axis=k)``), and a sum of a product that would materialise an outer
  product is one ``np.einsum``. A per-sample kind's parameter gradient is summed over the
  batch the same way (the batch's cost is the sum of the samples' costs);
* *matrix form*: ``A v`` of a parameter matrix and a per-sample vector is ``v @ A.T`` on
  rows, the per-sample outer product ``u vᵀ`` summed over the batch is ``u.T @ v``, and a
  Hadamard product is ``*``.

What is printed is exactly the proven form: nothing is rearranged except the placement of
axes. A form this printer cannot write raises :class:`UnprintableForm`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from symprop.codegen.numpy.printer import _literal
from symprop.core.errors import SymPropError

__all__ = ["SAMPLE", "ArrayName", "KindPrinter", "UnprintableForm"]

SAMPLE = sp.Symbol("_sample")
"""The label of the leading batch axis of a per-sample kind's arrays."""

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_FUNCTIONS = {"exp": "np.exp", "log": "np.log", "tanh": "np.tanh", "Abs": "np.abs"}


class UnprintableForm(SymPropError):
    """A derived form uses something the array printer has no code for."""


@dataclass(frozen=True)
class ArrayName:
    """How one array of a kind is held by the generated module.

    Attributes
    ----------
    code
        Its variable (or expression, such as ``params["W1"]``).
    sample
        Whether it has a leading batch axis that the kind's index form does not write.
    """

    code: str
    sample: bool


ATOM, POWER, PRODUCT, SUM = 0, 1, 2, 3
"""Precedence of printed code: an atom (a name, a call, a subscript), a power, a product
or quotient, a sum or difference. Parentheses go only where precedence needs them (a
power is parenthesised before it is subscripted: ``(a ** 2)[:, None]``)."""


@dataclass(frozen=True)
class _Part:
    """Printed code, the index label of each of its axes, and its precedence."""

    code: str
    labels: tuple[sp.Symbol, ...]
    level: int


def _paren(walked: tuple[str, bool, bool]) -> str:
    """A walked matrix expression's code, parenthesised unless atomic."""
    return walked[0] if walked[2] else f"({walked[0]})"


def _wrap(part: _Part, limit: int) -> str:
    """``part``'s code, parenthesised when its precedence is looser than ``limit``."""
    return part.code if part.level <= limit else f"({part.code})"


def _label_order(target: tuple[sp.Symbol, ...], expr: sp.Expr, sample: bool) -> list[sp.Symbol]:
    """An order of every index label of ``expr`` that keeps the target's order and, where
    it can, each array's own axis order (so arrays are read without transposing): a
    topological order of "comes before" in the target and in each array's entries,
    earliest-seen first, conflicts broken the same way."""
    seqs = [target]
    seen: list[sp.Symbol] = list(target)
    for node in sp.preorder_traversal(expr):
        labels: tuple[sp.Symbol, ...] = ()
        if isinstance(node, sp.Indexed):
            labels = ((SAMPLE,) if sample else ()) + tuple(node.indices)
        elif isinstance(node, sp.Sum):
            labels = tuple(lim[0] for lim in node.limits)
            seqs.append(())
        seqs.append(labels)
        seen += [lab for lab in labels if lab not in seen]
    before = {lab: set() for lab in seen}
    for seq in seqs:
        for x, y in zip(seq, seq[1:], strict=False):
            if x != y:
                before[y].add(x)
    order: list[sp.Symbol] = []
    while len(order) < len(seen):
        ready = [lab for lab in seen if lab not in order and before[lab] <= set(order)]
        order.append(ready[0] if ready else next(lab for lab in seen if lab not in order))
    return order


class KindPrinter:
    """Prints one layer's index-form and matrix-form expressions as NumPy code.

    Parameters
    ----------
    arrays
        Per array name of the kind (and ``g``), its :class:`ArrayName`.
    values
        The number each bound scalar symbol stands for (hyper-parameters, sizes),
        substituted before printing so that constants fold.
    names
        Code for the scalar symbols left (the batch size: ``m``).
    """

    def __init__(
        self,
        arrays: Mapping[str, ArrayName],
        values: Mapping[sp.Symbol, sp.Expr],
        names: Mapping[sp.Symbol, str],
    ) -> None:
        self.arrays = dict(arrays)
        self.values = dict(values)
        self.names = dict(names)
        self.names_used: set[str] = set()
        self._order: list[sp.Symbol] = []

    # --- index form ---------------------------------------------------------------------

    def index(
        self, expr: sp.Expr, indices: tuple[sp.Symbol, ...], *, sample: bool, total: bool = False
    ) -> str:
        """Code for the array whose entry at ``indices`` is ``expr``.

        Parameters
        ----------
        expr
            An index-form expression.
        indices
            Its free indices, in the order of the result's axes.
        sample
            Whether the expression is of a per-sample kind (its arrays with a batch axis
            carry it implicitly).
        total
            Sum the result over the batch (a per-sample parameter gradient).
        """
        expr = expr.xreplace(self.values)
        if sample and total:
            expr = sp.Sum(expr, (SAMPLE, 1, sp.Symbol("_batch")))
        lead = (SAMPLE,) if sample and not total else ()
        target = lead + tuple(indices)
        self._order = _label_order(target, expr, sample)
        part = self._walk(expr, sample)
        if part.labels != target:
            if set(part.labels) == set(target):
                return self._transpose(part, target).code
            raise UnprintableForm(
                f"the form {expr} has axes {part.labels}, expected {target}: not printable"
            )
        return part.code

    def _sorted(self, labels: list[sp.Symbol]) -> tuple[sp.Symbol, ...]:
        return tuple(sorted(set(labels), key=self._order.index))

    def _transpose(self, part: _Part, labels: tuple[sp.Symbol, ...]) -> _Part:
        """``part`` with its axes in the order of ``labels`` (a permutation of its own)."""
        if part.labels == labels:
            return part
        perm = tuple(part.labels.index(lab) for lab in labels)
        if len(perm) == 2:
            return _Part(f"{_wrap(part, ATOM)}.T", labels, ATOM)
        return _Part(f"np.transpose({part.code}, {perm})", labels, ATOM)

    def _align(self, part: _Part, union: tuple[sp.Symbol, ...], limit: int) -> str:
        """``part`` indexed to broadcast against the axes ``union`` (leading ones implicit),
        parenthesised when looser than ``limit``."""
        part = self._transpose(part, self._sorted(list(part.labels)))
        if not part.labels:
            return _wrap(part, limit)
        first = union.index(part.labels[0])
        slots = [":" if lab in part.labels else "None" for lab in union[first:]]
        while slots and slots[-1] == ":" and "None" in slots:
            slots.pop()  # trailing full slices are implicit
        if "None" not in slots:
            return _wrap(part, limit)
        return f"{_wrap(part, ATOM)}[{', '.join(slots)}]"

    def _walk(self, expr: sp.Basic, sample: bool) -> _Part:
        if isinstance(expr, sp.Indexed):
            name = expr.base.label.name
            if name not in self.arrays:
                raise UnprintableForm(f"no array for {name}")
            arr = self.arrays[name]
            idx = tuple(expr.indices)
            if not all(isinstance(i, sp.Symbol) for i in idx) or len(set(idx)) != len(idx):
                raise UnprintableForm(f"the entry {expr} is not at distinct plain indices")
            labels = ((SAMPLE,) if arr.sample and sample else ()) + idx
            return _Part(arr.code, labels, ATOM)
        if isinstance(expr, sp.Symbol):
            if expr.name in self.arrays:
                arr = self.arrays[expr.name]
                return _Part(arr.code, (SAMPLE,) if arr.sample and sample else (), ATOM)
            if expr in self.names:
                self.names_used.add(self.names[expr])
                return _Part(self.names[expr], (), ATOM)
            raise UnprintableForm(f"no value for the symbol {expr}")
        if expr.is_Number:
            text = _literal(expr)
            return _Part(text, (), PRODUCT if text.startswith("-") else ATOM)
        if isinstance(expr, sp.Add):
            return self._add(expr, sample)
        if isinstance(expr, sp.Mul):
            return self._mul(expr, sample)
        if isinstance(expr, sp.Pow):
            if expr.exp == sp.S.Half:
                base = self._walk(expr.base, sample)
                return _Part(f"np.sqrt({base.code})", base.labels, ATOM)
            if expr.exp.is_Integer and expr.exp < 0:
                return self._mul(sp.Mul(1, expr, evaluate=False), sample)
            if expr.exp.is_Rational and expr.exp < 0:
                return self._mul(sp.Mul(1, expr, evaluate=False), sample)
            base = self._walk(expr.base, sample)
            return _Part(f"{_wrap(base, ATOM)} ** {_literal(expr.exp)}", base.labels, POWER)
        if isinstance(expr, sp.Sum):
            return self._sum(expr, sample)
        if isinstance(expr, sp.Function) and type(expr).__name__ in _FUNCTIONS:
            arg = self._walk(expr.args[0], sample)
            return _Part(f"{_FUNCTIONS[type(expr).__name__]}({arg.code})", arg.labels, ATOM)
        raise UnprintableForm(f"no array code for {type(expr).__name__}: {expr}")

    def _add(self, expr: sp.Add, sample: bool) -> _Part:
        """Terms with a positive sign first, then the others as differences."""
        terms = []
        for t in expr.args:
            coeff, _ = t.as_coeff_Mul()
            negative = bool(coeff.is_number and coeff < 0)
            terms.append((negative, self._walk(-t if negative else t, sample)))
        terms.sort(key=lambda nt: nt[0])
        union = self._sorted([lab for _, p in terms for lab in p.labels])
        code = ""
        for k, (negative, p) in enumerate(terms):
            text = self._align(p, union, PRODUCT if negative else SUM)
            if negative:
                code += f" - {text}" if k else f"-{text}"
            else:
                code += f" + {text}" if k else text
        return _Part(code, union, SUM)

    def _mul(self, expr: sp.Mul, sample: bool) -> _Part:
        coeff, factors = expr.as_coeff_mul()
        num, den = [], []
        for f in factors:
            if isinstance(f, sp.Pow) and f.exp.is_Rational and f.exp < 0:
                inner = f.base ** (-f.exp)
                den.append(self._walk(inner, sample))
            else:
                num.append(self._walk(f, sample))
        if isinstance(coeff, sp.Rational) and coeff.q != 1:
            den.insert(0, _Part(str(coeff.q), (), ATOM))
            coeff = sp.Integer(coeff.p)
        union = self._sorted([lab for p in (*num, *den) for lab in p.labels])
        code = " * ".join(self._align(p, union, PRODUCT) for p in num) or "1"
        if coeff == -1:
            code = f"-{code}"
        elif coeff != 1:
            code = f"{_literal(coeff)} * {code}"
        if den:
            texts = [self._align(p, union, ATOM) for p in den]
            code += f" / {texts[0]}" if len(texts) == 1 else f" / ({' * '.join(texts)})"
        return _Part(code, union, PRODUCT)

    def _sum(self, expr: sp.Sum, sample: bool) -> _Part:
        over = [lim[0] for lim in expr.limits]
        body = expr.function
        coeff, rest = body.as_independent(*over, sp.Indexed, as_Add=False)
        factors = [self._walk(f, sample) for f in sp.Mul.make_args(rest)]
        arrays = [p for p in factors if p.labels]
        union = self._sorted([lab for p in factors for lab in p.labels])
        if not all(v in union for v in over):
            raise UnprintableForm(f"the sum {expr} runs over an index its body does not use")
        left = tuple(lab for lab in union if lab not in over)
        widest = max((len(p.labels) for p in arrays), default=0)
        plain = all(p.level == ATOM for p in arrays) and len(arrays) == len(factors)
        if plain and len(arrays) >= 2 and len(union) > widest:
            # A product of arrays that would broadcast to an outer product: one einsum,
            # which never materialises it.
            letter = {lab: _LETTERS[k] for k, lab in enumerate(union)}
            spec = ",".join("".join(letter[lab] for lab in p.labels) for p in arrays)
            out = "".join(letter[lab] for lab in left)
            code = f"np.einsum({spec + '->' + out!r}, {', '.join(p.code for p in arrays)})"
        else:
            inner = self._walk(rest, sample)
            axes = tuple(inner.labels.index(v) for v in over)
            axis = str(axes[0]) if len(axes) == 1 else str(axes)
            code = f"np.sum({inner.code}, axis={axis})"
        result = _Part(code, left, ATOM)
        if coeff != 1:
            scale = self._walk(coeff, sample)
            both = self._sorted([*scale.labels, *result.labels])
            text = f"{self._align(scale, both, PRODUCT)} * {self._align(result, both, PRODUCT)}"
            return _Part(text, both, PRODUCT)
        return result

    # --- matrix form --------------------------------------------------------------------

    def matrix(self, expr: sp.Basic, *, total: bool = False) -> str:
        """Code for a per-sample kind's matrix form on a batch of rows.

        With ``total`` the result is summed over the batch (a parameter gradient): an outer
        product ``u vᵀ`` is then ``u.T @ v``.
        """
        expr = expr.xreplace(self.values)
        self._order = [SAMPLE]
        if total and isinstance(expr, sp.MatMul):
            scalars = [a for a in expr.args if not a.is_Matrix]
            mats = [a for a in expr.args if a.is_Matrix]
            if len(mats) == 2 and isinstance(mats[1], sp.Transpose):
                u, v = self._mwalk(mats[0]), self._mwalk(mats[1].arg)
                if u[1] and v[1]:
                    scale = self._scale(scalars)
                    if scale is not None and scale.labels:
                        # a per-sample scale weighs each sample's outer product
                        return f"({self._rows(scale)} * {_paren(u)}).T @ {_paren(v)}"
                    return self._scaled(scalars, (f"{_paren(u)}.T @ {_paren(v)}", True, False))[0]
        code, rows, atomic = self._mwalk(expr)
        if total:
            if not rows:
                raise UnprintableForm(f"the matrix form {expr} does not vary per sample")
            return f"np.sum({code}, axis=0)"
        return code

    def _scale(self, scalars: list[sp.Basic]) -> _Part | None:
        """The scalar factors of a matrix product as one part: labelled with the batch axis
        when one of them is a per-sample scalar (an intermediate such as a sample's norm)."""
        if not scalars:
            return None
        return self._walk(sp.Mul(*scalars), True)

    def _rows(self, scale: _Part) -> str:
        """A per-sample scalar's code as a column, to broadcast against the rows."""
        return f"{_wrap(scale, ATOM)}[:, None]"

    def _scaled(
        self, scalars: list[sp.Basic], walked: tuple[str, bool, bool]
    ) -> tuple[str, bool, bool]:
        """``walked`` (code, varies per sample, atomic) times the scalar factors ``scalars``;
        a per-sample scalar multiplies each row (``s[:, None] * v``)."""
        scale = self._scale(scalars)
        if scale is None:
            return walked
        code = walked[0] if walked[2] or " + " not in walked[0] else f"({walked[0]})"
        if scale.labels:
            return f"{self._rows(scale)} * {code}", True, False
        return f"{_wrap(scale, PRODUCT)} * {code}", walked[1], False

    def _mwalk(self, expr: sp.Basic) -> tuple[str, bool, bool]:
        """(code, varies per sample, atomic) of a matrix expression on rows."""
        if isinstance(expr, sp.MatrixSymbol):
            arr = self.arrays.get(expr.name)
            if arr is None:
                raise UnprintableForm(f"no array for {expr.name}")
            return arr.code, arr.sample, True
        if isinstance(expr, sp.MatAdd):
            parts = [self._mwalk(a) for a in expr.args]
            return " + ".join(p[0] for p in parts), any(p[1] for p in parts), False
        if isinstance(expr, sp.HadamardProduct):
            parts = [self._mwalk(a) for a in expr.args]
            code = " * ".join(p[0] if p[2] or " + " not in p[0] else f"({p[0]})" for p in parts)
            return code, any(p[1] for p in parts), False
        if isinstance(expr, sp.MatMul):
            scalars = [a for a in expr.args if not a.is_Matrix]
            mats = [a for a in expr.args if a.is_Matrix]
            if len(mats) == 1:
                code, rows, _ = self._scaled(scalars, self._mwalk(mats[0]))
                return code, rows, False
            if len(mats) == 2:
                a, v = mats
                vc, vrows, vatomic = self._mwalk(v)
                if isinstance(a, sp.Transpose) and isinstance(a.arg, sp.MatrixSymbol):
                    ac, arows, _ = self._mwalk(a.arg)
                    matrix = ac  # (Aᵀ v)ᵀ = vᵀ A on rows
                elif isinstance(a, sp.MatrixSymbol):
                    ac, arows, _ = self._mwalk(a)
                    matrix = f"{ac}.T"  # (A v)ᵀ = vᵀ Aᵀ on rows
                else:
                    raise UnprintableForm(f"no row code for {expr}")
                if arows or not vrows:
                    raise UnprintableForm(f"no row code for {expr}")
                code = f"{vc if vatomic else f'({vc})'} @ {matrix}"
                return self._scaled(scalars, (code, True, True))[0], True, not scalars
        raise UnprintableForm(f"no row code for {type(expr).__name__}: {expr}")
