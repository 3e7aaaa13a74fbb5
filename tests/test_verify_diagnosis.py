"""The mistake catalogue: each diagnosis on a claim built to make exactly that mistake, and
its absence once the mistake is fixed.

Each case is proven here, independently of the verifier, on a two-layer network written
out in SymPy (z¹ = W¹x + b¹, a¹ = σ(z¹), z² = W²a¹ + b², a² = φ(z²), δ by ``sympy.diff``
through fresh pre-activations): the fixed claim equals the brute-force truth and the
claim with the mistake does not.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import pytest
import sympy as sp

from symprop.core.spec import Dense, Network
from symprop.verify import DIAGNOSES, Setting, verify_claim


def _sigma(v: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-v))


def _softmax(z: sp.Matrix) -> sp.Matrix:
    e = z.applyfunc(sp.exp)
    return e / sum(e)


_LOSS: dict[str, Callable[[sp.Matrix, sp.Matrix], sp.Expr]] = {
    "half_sse": lambda a, y: sum((a[i] - y[i]) ** 2 for i in range(a.rows)) / 2,
    "mse": lambda a, y: sum((a[i] - y[i]) ** 2 for i in range(a.rows)),
    "binary_cross_entropy": lambda a, y: sum(
        -y[i] * sp.log(a[i]) - (1 - y[i]) * sp.log(1 - a[i]) for i in range(a.rows)
    ),
}


class TwoLayer:
    """A 2-2-2 network with ``batch`` samples, written out in SymPy."""

    def __init__(self, output: str, loss: str, batch: int = 1, lam: bool = False) -> None:
        self.W1 = sp.Matrix(2, 2, sp.symbols("W1_0:4"))
        self.W2 = sp.Matrix(2, 2, sp.symbols("W2_0:4"))
        self.b1 = sp.Matrix(sp.symbols("b1_0:2"))
        self.b2 = sp.Matrix(sp.symbols("b2_0:2"))
        self.xs = [sp.Matrix(sp.symbols(f"x{s}_0:2")) for s in range(batch)]
        self.ys = [sp.Matrix(sp.symbols(f"y{s}_0:2")) for s in range(batch)]
        self.lam = sp.Symbol("lam") if lam else sp.S.Zero
        self.output, self.loss, self.batch = output, loss, batch

    def act2(self, z: sp.Matrix) -> sp.Matrix:
        return _softmax(z) if self.output == "softmax" else z.applyfunc(_sigma)

    def forward(self, s: int = 0) -> dict[str, sp.Matrix]:
        z1 = self.W1 * self.xs[s] + self.b1
        a1 = z1.applyfunc(_sigma)
        z2 = self.W2 * a1 + self.b2
        return {"x": self.xs[s], "z1": z1, "a1": a1, "z2": z2, "a2": self.act2(z2)}

    def cost(self, s: int = 0) -> sp.Expr:
        return _LOSS[self.loss](self.forward(s)["a2"], self.ys[s])

    def objective(self) -> sp.Expr:
        mean = sum(self.cost(s) for s in range(self.batch)) / self.batch
        return mean + self.lam * sum(w**2 for w in [*self.W1, *self.W2])

    def delta(self, layer: int, s: int = 0) -> sp.Matrix:
        f = self.forward(s)
        fresh = sp.Matrix(sp.symbols("zeta0:2"))
        if layer == 2:
            cost = _LOSS[self.loss](self.act2(fresh), self.ys[s])
        else:
            a2 = self.act2(self.W2 * fresh.applyfunc(_sigma) + self.b2)
            cost = _LOSS[self.loss](a2, self.ys[s])
        grad = sp.Matrix([sp.diff(cost, v) for v in fresh])
        return grad.subs(dict(zip(fresh, f[f"z{layer}"], strict=True)))

    def grad(self, expr: sp.Expr, weights: sp.Matrix) -> sp.Matrix:
        return weights.applyfunc(lambda w: sp.diff(expr, w))

    def symbols(self) -> list[sp.Symbol]:
        out = [*self.W1, *self.W2, *self.b1, *self.b2]
        for s in range(self.batch):
            out += [*self.xs[s], *self.ys[s]]
        return out + ([self.lam] if self.lam != 0 else [])

    def equal(self, left: sp.Matrix, right: sp.Matrix) -> bool:
        """Equal entry by entry at three random rational points (targets in (0, 1)),
        evaluated with 30-digit mpmath."""
        if left.shape != right.shape:
            return False
        targets = {v for y in self.ys for v in y}
        syms = self.symbols()
        difference = sp.lambdify(syms, list(left - right), "mpmath")
        with mpmath.workdps(30):
            for seed in range(3):
                rng = random.Random(seed)
                at = [
                    mpmath.mpf(rng.randint(50, 950)) / 1000
                    if v in targets
                    else mpmath.mpf(rng.randint(-900, 900)) / 600
                    for v in syms
                ]
                if any(abs(d) > mpmath.mpf("1e-20") for d in difference(*at)):
                    return False
        return True


def _dsigma(z: sp.Matrix) -> sp.Matrix:
    t = sp.Symbol("t")
    d = sp.diff(_sigma(t), t)
    return z.applyfunc(lambda v: d.subs(t, v))


@dataclass(frozen=True)
class Case:
    """A claim with one mistake, the claim with it fixed, and both right sides and the truth
    written out in SymPy (``net`` -> matrices)."""

    network: Network
    net: TwoLayer
    wrong: str
    fixed: str
    truth: Callable[[TwoLayer], sp.Matrix]
    wrong_rhs: Callable[[TwoLayer], sp.Matrix]
    fixed_rhs: Callable[[TwoLayer], sp.Matrix]


def _network(output: str = "sigmoid", loss: str = "half_sse", **kw: object) -> Network:
    return Network(inputs=2, layers=[Dense(2, "sigmoid"), Dense(2, output)], loss=loss, **kw)


PLAIN = TwoLayer("sigmoid", "half_sse")
SOFT = TwoLayer("softmax", "mse")
NG = TwoLayer("sigmoid", "binary_cross_entropy", batch=3, lam=True)


def _h(a: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    return a.multiply_elementwise(b)


def _ng_grad(n: TwoLayer) -> sp.Matrix:
    return n.grad(n.objective(), n.W1)  # Θ^{(1)}: the weights into the hidden layer


def _ng_delta_sum(n: TwoLayer) -> sp.Matrix:
    return sum((n.delta(1, s) * n.forward(s)["x"].T for s in range(n.batch)), sp.zeros(2, 2))


DIAGNOSIS_TESTS: dict[str, Case] = {
    "hadamard_vs_matmul": Case(
        _network(),
        PLAIN,
        r"\delta^{l} = (W^{l+1})^T (\delta^{l+1} \odot \sigma'(z^{l}))",
        r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot \sigma'(z^{l})",
        lambda n: n.delta(1),
        lambda n: n.W2.T * _h(n.delta(2), _dsigma(n.forward()["z1"])),
        lambda n: _h(n.W2.T * n.delta(2), _dsigma(n.forward()["z1"])),
    ),
    "layer_index": Case(
        _network(),
        PLAIN,
        r"\delta^{l} = ((W^{l})^T \delta^{l+1}) \odot \sigma'(z^{l})",
        r"\delta^{l} = ((W^{l+1})^T \delta^{l+1}) \odot \sigma'(z^{l})",
        lambda n: n.delta(1),
        lambda n: _h(n.W1.T * n.delta(2), _dsigma(n.forward()["z1"])),
        lambda n: _h(n.W2.T * n.delta(2), _dsigma(n.forward()["z1"])),
    ),
    "a_vs_z": Case(
        _network(),
        PLAIN,
        r"\frac{\partial C}{\partial W^l} = \delta^l (z^{l-1})^T",
        r"\frac{\partial C}{\partial W^l} = \delta^l (a^{l-1})^T",
        lambda n: n.grad(n.cost(), n.W2),
        lambda n: n.delta(2) * n.forward()["z1"].T,
        lambda n: n.delta(2) * n.forward()["a1"].T,
    ),
    "softmax_diagonal": Case(
        _network("softmax", "mse"),
        SOFT,
        r"\delta^L = 2(a^L - y) \odot a^L \odot (1 - a^L)",
        r"\delta^L = a^L \odot 2(a^L - y) - a^L ((a^L)^T 2(a^L - y))",
        lambda n: n.delta(2),
        lambda n: _h(
            _h(2 * (n.forward()["a2"] - n.ys[0]), n.forward()["a2"]),
            sp.ones(2, 1) - n.forward()["a2"],
        ),
        lambda n: (
            _h(n.forward()["a2"], 2 * (n.forward()["a2"] - n.ys[0]))
            - n.forward()["a2"] * (n.forward()["a2"].T * 2 * (n.forward()["a2"] - n.ys[0]))
        ),
    ),
    "missing_batch_sum": Case(
        _network("sigmoid", "binary_cross_entropy", l2=0.01, notation="ng"),
        NG,
        r"\frac{\partial J}{\partial \Theta^{(1)}} = \frac{1}{n}\delta^{(2)} (a^{(1)})^T "
        r"+ 2\lambda\Theta^{(1)}",
        r"\frac{\partial J}{\partial \Theta^{(1)}} = \frac{1}{n}\Delta^{(1)} + 2\lambda\Theta^{(1)}",
        _ng_grad,
        lambda n: n.delta(1, 0) * n.forward(0)["x"].T / n.batch + 2 * n.lam * n.W1,
        lambda n: _ng_delta_sum(n) / n.batch + 2 * n.lam * n.W1,
    ),
    "lambda_scale": Case(
        _network("sigmoid", "binary_cross_entropy", l2=0.01, notation="ng"),
        NG,
        r"\frac{\partial J}{\partial \Theta^{(1)}} = \frac{1}{n}\Delta^{(1)} + \lambda\Theta^{(1)}",
        r"\frac{\partial J}{\partial \Theta^{(1)}} = \frac{1}{n}\Delta^{(1)} + 2\lambda\Theta^{(1)}",
        _ng_grad,
        lambda n: _ng_delta_sum(n) / n.batch + n.lam * n.W1,
        lambda n: _ng_delta_sum(n) / n.batch + 2 * n.lam * n.W1,
    ),
}


def test_the_catalogue_has_a_case_for_every_new_mistake() -> None:
    assert set(DIAGNOSIS_TESTS) <= set(DIAGNOSES)


@pytest.mark.parametrize("mistake", sorted(DIAGNOSIS_TESTS))
def test_each_mistake_is_diagnosed_and_its_fix_holds(mistake: str) -> None:
    case = DIAGNOSIS_TESTS[mistake]
    net = case.net
    truth = case.truth(net)
    # The proof, written out: the fix is the truth, the mistake is not.
    assert net.equal(case.fixed_rhs(net), truth)
    assert not net.equal(case.wrong_rhs(net), truth)
    setting = Setting.from_spec(case.network)
    wrong = verify_claim(case.wrong, setting)
    assert wrong.status == "fails", wrong.to_text()
    assert wrong.diagnosis == mistake, wrong.to_text()
    assert wrong.correct is not None
    assert DIAGNOSES[mistake] in wrong.to_text()
    fixed = verify_claim(case.fixed, setting)
    assert fixed.status == "holds" and fixed.diagnosis is None, fixed.to_text()


def test_a_shape_error_from_a_wrong_product_is_diagnosed() -> None:
    # δ^l ⊙ (a^{l-1})^T has no value (a 2×1 ⊙ a 1×2): false with the reason, and the
    # product it should have been is found by mutating the claim.
    net = PLAIN
    assert net.equal(net.delta(2) * net.forward()["a1"].T, net.grad(net.cost(), net.W2))
    verdict = verify_claim(
        r"\frac{\partial C}{\partial W^l} = \delta^l \odot (a^{l-1})^T",
        Setting.from_spec(_network()),
    )
    assert verdict.status == "fails" and "⊙" in verdict.reason
    assert verdict.diagnosis == "hadamard_vs_matmul"


def test_correct_is_written_in_the_claims_notation_never_as_sympy_text() -> None:
    # ∂C/∂x through a ReLU unit has no formula template: the brute-force value is written
    # back, and ReLU's derivative is piecewise. It must come out as cases in the claim's
    # syntax, never as SymPy's Piecewise(...) text (what plain claims used to get).
    setting = Setting.single_unit("relu", "half_sse")
    plain = verify_claim("dC/dx = 0", setting)
    latex = verify_claim(r"\frac{\partial C}{\partial x} = 0", setting)
    assert plain.status == latex.status == "fails"
    assert plain.correct is not None and latex.correct is not None
    for text in (plain.correct, plain.to_text(), latex.correct, latex.to_text()):
        assert "Piecewise(" not in text and "Sum(" not in text and "Heaviside(" not in text
    assert " if " in plain.correct and "otherwise" in plain.correct
    assert r"\begin{cases}" in latex.correct and r"\text{for}" not in latex.correct
