"""C1: with the circulant operator and white input, the induced kernel's eigenvalues are
exactly {|Hhat_j|^2} (C = F* diag(Hhat) F).

Measured: max_j |eta_j - p_j| / eta_1, eta = operators.induced_kernel_spectrum(K, "circulant")
(SVD), p = sorted operators.dft_power(K) (FFT), over every (SSM, L) case.

Tolerance (float64 backward error, common.py): the SVD gives each singular value within
C_SVD L eps s_1, so eta_j = s_j^2 is within 2 C_SVD L eps eta_1 (to first order); the FFT
is normwise stable, ||dHhat||_2 <= log2(L) eps ||Hhat||_2 = log2(L) eps sqrt(L) ||K||_2
<= log2(L) sqrt(L) eps s_1 (Parseval, and ||K||_2 = rms|Hhat| <= max|Hhat| = s_1), so
p_j is within 2 log2(L) sqrt(L) eps eta_1. Hence, relative to eta_1:
    tol(L) = (2 C_SVD L + 2 log2(L) sqrt(L)) eps,   C_SVD = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ssm_tdi import operators

from .common import C_SVD, EPS, Row, sorted_dft_power
from .ssms import SSM


def c1_tolerance(L: int) -> float:
    """Relative (to eta_1) rounding tolerance of the C1 comparison at length L."""
    return (2 * C_SVD * L + 2 * math.log2(L) * math.sqrt(L)) * EPS


def check_c1(pairs: Sequence[tuple[SSM, int]],
             predict: Callable[[torch.Tensor], torch.Tensor] = sorted_dft_power) -> Row:
    """Compare the circulant white-input spectrum with ``predict(K)`` (default: sorted |Hhat|^2)
    for every (SSM, L) in ``pairs``.

    ``predict`` is the claimed eigenvalue list (descending); pass a wrong one to see FAIL.
    """
    cases = []
    for ssm, L in pairs:
        K = ssm.kernel(L)
        eta = operators.induced_kernel_spectrum(K, "circulant")
        err = float((eta - predict(K)).abs().max() / eta[0])
        cases.append({"ssm": ssm.label, "L": L, "rel_err": err, "tol": c1_tolerance(L),
                      "err_over_L_eps": err / (L * EPS)})
    worst = max(cases, key=lambda c: c["rel_err"] / c["tol"])
    passed = all(c["rel_err"] <= c["tol"] for c in cases)
    return Row(
        claim="C1", check="circulant-white",
        statement="eig(C^T C) = sorted |Hhat_j|^2 exactly",
        measured=(f"max|eta-|Hhat|^2|/eta_1 = {max(c['rel_err'] for c in cases):.2g}; "
                  f"worst {worst['rel_err'] / worst['tol']:.2g}x tol "
                  f"({len(cases)} cases, L<={max(c['L'] for c in cases)})"),
        tolerance="<= (2L + 2log2(L)sqrt(L)) eps: SVD+FFT backward error, C_SVD=1",
        passed=passed, kind="exact",
        details={"cases": cases},
    )
