"""Shared pieces of the checks: the result row, float64 error constants, small statistics.

Rounding model used by every tolerance (Higham, "Accuracy and Stability of Numerical
Algorithms", ch. 3-4, and the LAPACK Users' Guide, section 4.9):

* LAPACK's SVD/eigh is backward stable: the computed singular values of A are the exact
  ones of A + E with ||E||_2 <= p(L) eps ||A||_2, and (Weyl) each one moves by at most
  that much: |s_j^computed - s_j| <= C_SVD * L * eps * s_1. LAPACK only promises p(L) is
  "a modestly growing function of L"; we take p(L) = C_SVD * L with C_SVD = 1. Measured
  errors are 10-100x below this (C1 reports them), so C_SVD = 1 is not a loose fit.
* A sum or dot product of n terms of one sign has relative error <= n eps (recursive
  summation; BLAS/pairwise summation does better).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy import stats

from ssm_tdi import operators

EPS = float(np.finfo(np.float64).eps)  # 2.22e-16, unit roundoff * 2
C_SVD = 1.0  # p(L) = C_SVD * L in the SVD/eigh backward-error bound (see module docstring)

__all__ = ["EPS", "C_SVD", "Row", "sorted_dft_power", "loglog_slope", "t_quantile", "format_table",
           "square_gap_rounding"]


@dataclass
class Row:
    """One line of the verification table."""

    claim: str  # "C1" ... "C4"
    check: str  # short id of the check, e.g. "white-circulant"
    statement: str  # what is checked, in a few words
    measured: str  # the measured figure, human readable
    tolerance: str  # the threshold and where it comes from, short
    passed: bool
    kind: str = "exact"  # "exact" | "bound" | "rate" | "approx" | "finding"
    details: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = self.verdict
        return d


def sorted_dft_power(K: torch.Tensor) -> torch.Tensor:
    """|Hhat_j|^2 from :func:`ssm_tdi.operators.dft_power`, sorted descending (the C1 prediction)."""
    return torch.sort(operators.dft_power(K), descending=True).values


def loglog_slope(x, y) -> tuple[float, float]:
    """Least-squares slope of log y against log x and its standard error (OLS formula)."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    n = lx.size
    if n < 3:
        raise ValueError(f"x, y: need at least 3 points for a slope with a standard error, got {n}")
    A = np.stack([lx, np.ones(n)], axis=1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 / float(((lx - lx.mean()) ** 2).sum()))
    return float(coef[0]), se


def t_quantile(df: int, level: float = 0.975) -> float:
    """Student-t quantile (two-sided 95% interval by default)."""
    return float(stats.t.ppf(level, df))


def format_table(rows: list[Row]) -> str:
    """Fixed-width text table, one line per check."""
    head = ("claim", "check", "kind", "statement", "measured", "tolerance (origin)", "result")
    cells = [head] + [(r.claim, r.check, r.kind, r.statement, r.measured, r.tolerance, r.verdict)
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(head))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def square_gap_rounding(lhs: float, rhs: float, L: int, delta: float, rhs_err: float = 0.0) -> float:
    """Rounding allowance for comparing lhs = sum_j (x_j - y_j)^2 with a bound rhs.

    If every computed x_j and y_j is within ``delta`` of its exact value, each difference
    g_j moves by at most 2 delta, so (Cauchy-Schwarz)
    |lhs_computed - lhs| <= 4 delta sqrt(L lhs) + 4 L delta^2; the two sums of L terms
    add L eps (lhs + rhs), and ``rhs_err`` is any rounding in forming rhs itself.
    """
    return (4 * delta * math.sqrt(L * max(lhs, 0.0)) + 4 * L * delta**2
            + L * EPS * (abs(lhs) + abs(rhs)) + rhs_err)
