"""Paired comparisons of two methods over seeds: intervals, multiple-comparison corrections, equivalence.

For per-seed scores a_i (candidate) and b_i (reference) of the same seeds, d_i = a_i - b_i:

* :func:`paired_difference`: mean d, its Student-t interval mean +- t_{1-(1-level)/2, n-1} s/sqrt(n),
  the two-sided paired t-test p-value for mean(d) = 0, and wins / ties / losses;
* :func:`holm` (family-wise error) and :func:`benjamini_hochberg` (false discovery rate) adjust the
  p-values of a family of such comparisons;
* :func:`tost`: two one-sided t-tests for equivalence within +-margin (H0: mean(d) <= -margin or
  mean(d) >= margin); its p-value is the larger of the two one-sided p-values;
* :func:`verdict`: "equivalent" when TOST rejects at alpha, else "better" / "worse" when the
  (adjusted) difference test rejects at alpha, else "cannot tell" -- so "no difference" and "not
  enough data" are told apart.

Degenerate samples (all d_i equal, s = 0): the t statistic is +-inf (p = 0) unless mean(d) = 0 (p = 1);
TOST gives p = 0 when |mean(d)| < margin and p = 1 otherwise. With n < 2 every p-value is NaN and the
verdict is "cannot tell". Nothing here returns NaN silently for valid input with n >= 2.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["paired_difference", "holm", "benjamini_hochberg", "tost", "verdict", "VERDICTS"]

VERDICTS = ("better", "worse", "equivalent", "cannot tell")


def _pair(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"a, b: expected two 1-D arrays of equal non-zero length (one score per seed), "
                         f"got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a, b: expected finite scores, found NaN or inf")
    return a - b


def _level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
        raise ValueError(f"level: expected a number in (0, 1), got {level!r}")
    return float(level)


def paired_difference(a, b, level: float = 0.95) -> dict:
    """Mean paired difference a - b, its t interval at ``level``, the paired t-test p-value, wins/ties/losses.

    Returns ``{"n", "mean", "sd", "ci_low", "ci_high", "half_width", "t", "p", "wins", "ties", "losses"}``
    (a tie is |d_i| <= 1e-12).
    """
    from scipy import stats

    d, level = _pair(a, b), _level(level)
    n = d.size
    out = {"n": int(n), "mean": float(d.mean()), "wins": int((d > 1e-12).sum()),
           "ties": int((np.abs(d) <= 1e-12).sum()), "losses": int((d < -1e-12).sum())}
    if n < 2:
        return {**out, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan, "half_width": math.nan,
                "t": math.nan, "p": math.nan}
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    hw = float(stats.t.ppf(0.5 + level / 2, n - 1) * se)
    if se > 0:
        t = out["mean"] / se
        p = float(2 * stats.t.sf(abs(t), n - 1))
    else:
        t = 0.0 if out["mean"] == 0 else math.copysign(math.inf, out["mean"])
        p = 1.0 if out["mean"] == 0 else 0.0
    return {**out, "sd": sd, "ci_low": out["mean"] - hw, "ci_high": out["mean"] + hw, "half_width": hw,
            "t": float(t), "p": p}


def _pvalues(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p: expected a 1-D array of p-values, got shape {p.shape}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("p: expected p-values in [0, 1] (NaN marks a comparison without a test)")
    return p


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), over the non-NaN entries; NaN stays NaN.

    Sorted ascending p_(1) <= ... <= p_(m): adj_(k) = max_{j<=k} min(1, (m - j + 1) p_(j)).
    """
    p = _pvalues(p)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m:
        order = idx[np.argsort(p[idx], kind="stable")]
        adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
        out[order] = adj
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), over the non-NaN entries.

    Sorted ascending: adj_(k) = min_{j>=k} min(1, m p_(j) / j).
    """
    p = _pvalues(p)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m:
        order = idx[np.argsort(p[idx], kind="stable")]
        raw = np.minimum(1.0, m * p[order] / np.arange(1, m + 1))
        out[order] = np.minimum.accumulate(raw[::-1])[::-1]
    return out


def tost(a, b, margin: float) -> float:
    """p-value of the two one-sided t-tests for |mean(a - b)| < margin (small p: equivalent)."""
    from scipy import stats

    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not 0 < margin < math.inf:
        raise ValueError(f"margin: expected a finite number > 0, got {margin!r}")
    d = _pair(a, b)
    n = d.size
    if n < 2:
        return math.nan
    mean, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    p_low = stats.t.sf((mean + margin) / se, n - 1)   # H0: mean <= -margin
    p_high = stats.t.cdf((mean - margin) / se, n - 1)  # H0: mean >= +margin
    return float(max(p_low, p_high))


def verdict(mean: float, p_difference: float, p_equivalence: float, alpha: float = 0.05,
            higher_is_better: bool = True) -> str:
    """One of :data:`VERDICTS` from a comparison's (adjusted) difference p-value and TOST p-value."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    if p_equivalence == p_equivalence and p_equivalence < alpha:
        return "equivalent"
    if p_difference == p_difference and p_difference < alpha:
        return "better" if (mean > 0) == bool(higher_is_better) else "worse"
    return "cannot tell"
