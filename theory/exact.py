"""Exact comparison helpers and the result record shared by every proof.

Every identity in :mod:`theory` is checked by one of the helpers below.  A helper
answers "proved" only when sympy rewrites ``lhs - rhs`` to the literal integer 0
(or, for expressions in a root of unity, when the remainder modulo the cyclotomic
polynomial is 0).  No floating-point number is ever evaluated, so a helper cannot
be fooled by round-off, and a false identity gives a non-zero residual and a FAILED
verdict (the tests in ``tests/test_theory.py`` feed wrong identities through the
same helpers to make sure of that).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import sympy as sp

__all__ = [
    "Check",
    "ProofResult",
    "exact_zero",
    "prove_equal",
    "prove_matrix_equal",
    "prove_equal_at_root_of_unity",
    "prove_matrix_equal_at_root_of_unity",
    "prove_series_agree",
    "run_proof",
]


@dataclass(frozen=True)
class Check:
    """Outcome of one exact comparison: ``ok`` and a short description."""

    ok: bool
    what: str
    residual: str = "0"

    def __bool__(self) -> bool:  # lets ``all(checks)`` read naturally
        return self.ok


@dataclass
class ProofResult:
    """Record of one identity: what it says, where it was proved, and whether it was."""

    name: str
    statement: str
    scope: str
    ok: bool
    checks: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        verdict = "PROVED" if self.ok else "FAILED"
        return f"{verdict:6s}  {self.name:28s} [{self.scope}]  {self.statement}"

    def to_dict(self) -> dict:
        return asdict(self)


def run_proof(name: str, statement: str, scope: str, checks_fn) -> ProofResult:
    """Run ``checks_fn() -> list[Check]`` and fold the checks into a ProofResult.

    An exception inside ``checks_fn`` counts as a failed proof, never as a pass.
    """
    t0 = time.perf_counter()
    try:
        checks = list(checks_fn())
        ok = bool(checks) and all(c.ok for c in checks)
        lines = [f"{'ok ' if c.ok else 'BAD'} {c.what}" + ("" if c.ok else f"  residual={c.residual}")
                 for c in checks]
    except Exception as exc:  # a crash is a failure, reported as such
        ok, lines = False, [f"BAD exception: {type(exc).__name__}: {exc}"]
    return ProofResult(name, statement, scope, ok, lines, time.perf_counter() - t0)


# --------------------------------------------------------------------------- scalars

def exact_zero(expr) -> sp.Expr:
    """Reduce ``expr`` by exact rewriting; returns 0 exactly when the reduction succeeds.

    Stages (cheapest first): ``expand`` (polynomials), ``cancel(together(.))``
    (rational functions), ``simplify`` (exp/log and the rest).  Each stage is an exact
    symbolic transformation, so a literal 0 result is a proof that ``expr == 0``.
    """
    expr = sp.sympify(expr)
    for reduce in (sp.expand, lambda e: sp.cancel(sp.together(e)), sp.simplify):
        expr = reduce(expr)
        if expr == 0:
            return sp.Integer(0)
    return expr


def prove_equal(lhs, rhs, what: str = "lhs == rhs") -> Check:
    """Prove ``lhs == rhs`` as an identity in all free symbols."""
    r = exact_zero(sp.sympify(lhs) - sp.sympify(rhs))
    return Check(r == 0, what, str(r))


def prove_matrix_equal(A: sp.Matrix, B: sp.Matrix, what: str = "A == B") -> Check:
    """Prove two sympy matrices are equal entry by entry (shapes must agree)."""
    if A.shape != B.shape:
        return Check(False, what, f"shape {A.shape} != {B.shape}")
    for idx in range(A.rows * A.cols):
        r = exact_zero(A[idx] - B[idx])
        if r != 0:
            return Check(False, what, f"entry {divmod(idx, A.cols)}: {r}")
    return Check(True, what)


# ------------------------------------------------------------ roots of unity (exact)

def _clear_negative_powers(expr: sp.Expr, w: sp.Symbol, L: int) -> sp.Expr:
    """Multiply by ``w**(L*k)`` (equal to 1 at an L-th root of unity) so no power of w is negative."""
    expr = sp.expand(expr)
    lowest = min((t.as_coeff_exponent(w)[1] for t in sp.Add.make_args(expr)), default=0)
    if lowest < 0:
        k = (-lowest + L - 1) // L
        expr = sp.expand(expr * w ** (L * k))
    return expr


def reduce_at_root_of_unity(expr, w: sp.Symbol, L: int) -> sp.Expr:
    """Canonical form of a polynomial in ``w`` evaluated at ``w = exp(2 pi i / L)``.

    The minimal polynomial of the primitive L-th root of unity over Q is the L-th
    cyclotomic polynomial Phi_L, so a polynomial p(w) with coefficients in Q[other
    symbols] vanishes at that root iff Phi_L divides p.  The remainder of p modulo
    Phi_L has degree < phi(L) and is therefore 0 exactly when the value is 0: the test
    is both sound and complete.  Negative powers of w are first cleared with w**L = 1.
    """
    expr = _clear_negative_powers(sp.sympify(expr), w, L)
    return sp.expand(sp.rem(expr, sp.cyclotomic_poly(L, w), w))


def prove_equal_at_root_of_unity(lhs, rhs, w: sp.Symbol, L: int, what: str = "lhs == rhs") -> Check:
    """Prove ``lhs == rhs`` at ``w = exp(2 pi i/L)`` for expressions rational in ``w``.

    The difference is put over a common denominator; the numerator must reduce to 0
    modulo Phi_L(w) and the denominator must not (otherwise the comparison is 0/0).
    """
    num, den = sp.fraction(sp.together(sp.sympify(lhs) - sp.sympify(rhs)))
    r = reduce_at_root_of_unity(num, w, L)
    if r != 0:
        return Check(False, what, str(r))
    if reduce_at_root_of_unity(den, w, L) == 0:
        return Check(False, what, "denominator vanishes at the root of unity")
    return Check(True, what)


def prove_matrix_equal_at_root_of_unity(A, B, w: sp.Symbol, L: int, what: str = "A == B") -> Check:
    """Entry-wise :func:`prove_equal_at_root_of_unity` for two matrices."""
    if A.shape != B.shape:
        return Check(False, what, f"shape {A.shape} != {B.shape}")
    for idx in range(A.rows * A.cols):
        c = prove_equal_at_root_of_unity(A[idx], B[idx], w, L)
        if not c.ok:
            return Check(False, what, f"entry {divmod(idx, A.cols)}: {c.residual}")
    return Check(True, what)


# -------------------------------------------------------------------------- series

def prove_series_agree(f, g, x: sp.Symbol, order: int, what: str = "series agree") -> Check:
    """Prove the Taylor coefficients of ``f`` and ``g`` at ``x = 0`` agree below ``x**order``."""
    s = sp.series(sp.sympify(f) - sp.sympify(g), x, 0, order).removeO()
    r = exact_zero(s)
    return Check(r == 0, what, str(r))
