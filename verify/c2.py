"""C2: the Toeplitz operator T versus the circulant C, at finite L.

Three checks:

* Mirsky bound, every SSM and length:  lhs = sum_j (s_j - |Hhat|_(j))^2 <= rhs = ||T - C||_F^2
  = operators.toeplitz_circulant_gap(K). Tolerance: rounding of lhs only
  (common.square_gap_rounding, with each s_j and |Hhat|_(j) within
  delta = (C_SVD L + log2(L) sqrt(L)) eps s_1, as in C1).
* Rate: rms(L) = sqrt(lhs / L) <= sqrt(rhs(L) / L) and rhs(L) increases to a finite limit
  for a stable SSM, so once the kernel has decayed within L the log-log slope of rms is
  <= -1/2. Fitted over L on SSMs whose kernels decay within the smallest L (ssms.decayed_family);
  pass if slope <= -1/2 + t_{0.975, n-2} * SE (95% t-interval of the OLS slope).
* Trace identities: toeplitz_trace(K) = tr(T^T T) (dense) and circulant_trace(K) =
  sum_j |Hhat_j|^2 (Parseval). Tolerance (3L + 2 log2 L) eps relative: the dense trace is L
  dot products of L same-sign terms then a sum of L (2L eps), the library's weighted sum L eps,
  and the FFT's normwise error gives 2 log2(L) eps on sum |Hhat|^2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ssm_tdi import operators

from .common import C_SVD, EPS, Row, loglog_slope, sorted_dft_power, square_gap_rounding, t_quantile
from .ssms import SSM


def toeplitz_vs_circulant(K: torch.Tensor) -> dict:
    """lhs, rhs of the Mirsky bound, the per-eigenvalue gaps and the rounding allowance."""
    L = K.shape[-1]
    s = operators.induced_kernel_spectrum(K, "toeplitz").sqrt()  # singular values of T
    h = sorted_dft_power(K).sqrt()  # sorted |Hhat_j|
    g = s - h
    lhs = float(g.square().sum())
    rhs = float(operators.toeplitz_circulant_gap(K))
    delta = (C_SVD * L + math.log2(max(L, 2)) * math.sqrt(L)) * EPS * float(max(s[0], h[0]))
    return {"L": L, "lhs": lhs, "rhs": rhs, "tol": square_gap_rounding(lhs, rhs, L, delta),
            "rms_gap": math.sqrt(lhs / L), "mean_abs_gap": float(g.abs().mean())}


def check_c2_mirsky(cases: Sequence[tuple[SSM, int]], bound_scale: float = 1.0) -> Row:
    """lhs <= bound_scale * rhs + rounding, for every (SSM, L). ``bound_scale`` < 1 tests a
    (false) tighter bound; on a tight case (ssms.delay_ssm) it must FAIL."""
    out = []
    for ssm, L in cases:
        st = toeplitz_vs_circulant(ssm.kernel(L))
        bound = bound_scale * st["rhs"]
        st.update(ssm=ssm.label, slack=1 - st["lhs"] / bound if bound > 0 else 0.0,
                  ok=st["lhs"] <= bound + st["tol"])
        out.append(st)
    worst = min(out, key=lambda c: c["slack"])
    sampled = [c["slack"] for c in out if not c["ssm"].startswith("delay")]
    tight = [c["slack"] for c in out if c["ssm"].startswith("delay")]
    parts = ([f"{min(sampled):.2g} (sampled SSMs)"] if sampled else []) + \
        ([f"{min(tight):.1g} (pure delay, equality case)"] if tight else [])
    return Row(
        claim="C2", check="mirsky-bound",
        statement="sum(s_j-|Hhat|_(j))^2 <= ||T-C||_F^2, all SSMs",
        measured=f"min slack 1-lhs/rhs: {', '.join(parts)}; {len(out)} cases",
        tolerance=f"slack >= -tol/rhs (rounding of lhs), here {worst['tol'] / worst['rhs']:.1g}",
        passed=all(c["ok"] for c in out), kind="bound",
        details={"bound_scale": bound_scale, "cases": out},
    )


def check_c2_rate(ssms: Sequence[SSM], lengths: Sequence[int], claimed_slope: float = -0.5) -> Row:
    """Fitted log-log slope of the RMS gap over ``lengths`` <= claimed_slope + t * SE, per SSM."""
    fits = []
    for ssm in ssms:
        stats = [toeplitz_vs_circulant(ssm.kernel(L)) for L in lengths]
        slope, se = loglog_slope(lengths, [st["rms_gap"] for st in stats])
        slope_abs, se_abs = loglog_slope(lengths, [st["mean_abs_gap"] for st in stats])
        limit = claimed_slope + t_quantile(len(lengths) - 2) * se
        fits.append({"ssm": ssm.describe(), "slope": slope, "se": se, "limit": limit,
                     "ok": slope <= limit, "rms_gap": [st["rms_gap"] for st in stats],
                     "mean_abs_gap_slope": slope_abs, "mean_abs_gap_se": se_abs,
                     "mirsky_rhs": [st["rhs"] for st in stats]})
    worst = max(fits, key=lambda f: f["slope"] - f["limit"])
    mean_abs = np.array([f["mean_abs_gap_slope"] for f in fits])
    return Row(
        claim="C2", check="gap-rate",
        statement="RMS eigen-gap decays like L^-1/2 or faster",
        measured=(f"slopes {min(f['slope'] for f in fits):.2f}..{max(f['slope'] for f in fits):.2f} "
                  f"(mean|gap| slopes {mean_abs.min():.2f}..{mean_abs.max():.2f}), "
                  f"L={lengths[0]}..{lengths[-1]}"),
        tolerance=f"<= {claimed_slope:g} + t95*SE (OLS slope SE), worst limit {worst['limit']:.2f}",
        passed=all(f["ok"] for f in fits), kind="rate",
        details={"lengths": list(lengths), "claimed_slope": claimed_slope, "fits": fits},
    )


def check_c2_traces(ssms: Sequence[SSM], lengths: Sequence[int],
                    toeplitz_trace: Callable = operators.toeplitz_trace,
                    circulant_trace: Callable = operators.circulant_trace) -> Row:
    """Library trace formulas against dense tr(T^T T) and Parseval's sum |Hhat_j|^2."""
    out = []
    for ssm in ssms:
        for L in lengths:
            K = ssm.kernel(L)
            T = operators.toeplitz(K)
            dense = float((T.T @ T).diagonal().sum())
            parseval = float(operators.dft_power(K).sum())
            tol = (3 * L + 2 * math.log2(max(L, 2))) * EPS
            e_t = abs(float(toeplitz_trace(K)) - dense) / dense
            e_c = abs(float(circulant_trace(K)) - parseval) / parseval
            out.append({"ssm": ssm.label, "L": L, "toeplitz_rel_err": e_t, "circulant_rel_err": e_c,
                        "tol": tol, "ok": e_t <= tol and e_c <= tol})
    return Row(
        claim="C2", check="trace-identities",
        statement="tr T^T T=sum(L-m)K_m^2; tr C^T C=sum|Hhat|^2",
        measured=(f"max rel err {max(c['toeplitz_rel_err'] for c in out):.1g} (T), "
                  f"{max(c['circulant_rel_err'] for c in out):.1g} (C)"),
        tolerance="<= (3L + 2log2 L) eps: same-sign sums + FFT backward error",
        passed=all(c["ok"] for c in out), kind="exact", details={"cases": out},
    )
