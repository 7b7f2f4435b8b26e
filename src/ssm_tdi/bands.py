"""The frequency band of a task and the S4D-Lin step range that covers it (a control for TDI).

TDI matches the whole shape of |H(w)|^2 to S_task. A cheaper rival only moves S4D-Lin's frequencies
into the band where the task has its power: S4D-Lin has modes a_n = -1/2 + i pi n (n = 0..N2-1), which
the zero-order hold maps to discrete poles at angles w_n = dt pi n, so a channel with step dt covers
[0, dt pi (N2-1)]. :func:`power_band` finds the band [w_lo, w_hi] holding the central mass of a
spectrum; :func:`s4d_lin_dt_range` returns the (dt_min, dt_max) for which the channels' top modes
spread log-uniformly over that band (S4D draws log dt uniformly in [dt_min, dt_max]).
"""

from __future__ import annotations

import math

import torch

from ._validate import check_int

__all__ = ["power_band", "s4d_lin_dt_range"]


def power_band(S, quantiles=(0.05, 0.95)) -> tuple[float, float]:
    """Angular frequencies (rad/sample) at which the cumulative power of ``S`` reaches the quantiles.

    ``S``: power spectrum (F,) on the grid w_j = pi j / (F - 1), or (H, F) (rows averaged), finite,
    >= 0, not all zero. The cumulative sum over bins is read at q * total; the first bin reaching it
    gives the frequency. Returns (w_lo, w_hi) with 0 <= w_lo <= w_hi <= pi.
    """
    t = torch.as_tensor(S, dtype=torch.float64)
    if t.dim() == 2:
        t = t.mean(0)
    if t.dim() != 1 or t.numel() < 2 or not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ValueError("S: expected a finite power spectrum >= 0 of shape (F,) or (H, F) with F >= 2")
    if float(t.sum()) <= 0:
        raise ValueError("S: expected some power (the spectrum is all zero)")
    q = tuple(float(v) for v in quantiles) if hasattr(quantiles, "__len__") and len(quantiles) == 2 else None
    if q is None or not 0 <= q[0] < q[1] <= 1:
        raise ValueError(f"quantiles: expected (q_lo, q_hi) with 0 <= q_lo < q_hi <= 1, got {quantiles!r}")
    cum = torch.cumsum(t, 0) / t.sum()
    grid = torch.linspace(0, math.pi, t.numel(), dtype=torch.float64)
    lo = int(torch.searchsorted(cum, torch.tensor(q[0], dtype=torch.float64)))
    hi = int(torch.searchsorted(cum, torch.tensor(q[1], dtype=torch.float64)))
    return float(grid[min(lo, t.numel() - 1)]), float(grid[min(hi, t.numel() - 1)])


def s4d_lin_dt_range(band: tuple[float, float], N2: int, max_ratio: float = 100.0) -> tuple[float, float]:
    """(dt_min, dt_max) placing S4D-Lin's top mode dt pi (N2-1) inside ``band`` = (w_lo, w_hi).

    dt_max = w_hi / (pi (N2-1)); dt_min = max(w_lo, w_hi / max_ratio) / (pi (N2-1)) (a band reaching
    down to w = 0 would ask for dt -> 0: the range is capped at ``max_ratio``, S4D's default 1e-3..1e-1).
    """
    N2 = check_int(N2, "N2", 2)
    w_lo, w_hi = (float(v) for v in band)
    if not (0 <= w_lo <= w_hi <= math.pi and w_hi > 0):
        raise ValueError(f"band: expected 0 <= w_lo <= w_hi <= pi with w_hi > 0, got {band!r}")
    if not (isinstance(max_ratio, (int, float)) and max_ratio >= 1 and math.isfinite(max_ratio)):
        raise ValueError(f"max_ratio: expected a finite number >= 1, got {max_ratio!r}")
    top = math.pi * (N2 - 1)
    return max(w_lo, w_hi / max_ratio) / top, w_hi / top
