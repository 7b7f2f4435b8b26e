"""Synthetic tasks of the controlled study (E1, E2): band-limited linear teachers.

A teacher is a linear functional y = beta^T u of an input sequence u in R^L. Its
weight vector beta has a band-limited spectrum: its DFT is supported on chosen
frequency bands (radians in [0, pi]). Equivalently y is the last output of an LTI
filter g with impulse response g_k = beta_{L-1-k}, so |G(w)|^2 = |DFT(beta)|^2.

Inputs are white Gaussian or stationary AR(1) (colored, low-pass for rho > 0):
u_t = rho u_{t-1} + sqrt(1 - rho^2) e_t, started in its stationary law, so
Cov[u_t, u_s] = rho^{|t-s|} and the power spectrum is
P_u(w) = (1 - rho^2) / |1 - rho e^{-iw}|^2.

Label noise is stated as a signal-to-noise ratio SNR = Var[beta^T u] / sigma^2 with
Var[beta^T u] = beta^T Sigma beta (:func:`noise_std_for_snr`); SNR = inf is the noise-free limit.

For a sequence-to-sequence teacher, :func:`filter_sequences` applies g causally to
every time step (y_t = sum_k g_k u_{t-k}).
"""

from __future__ import annotations

import math
import numbers

import torch

from ._validate import (
    MAX_SIZE,
    as_tensor,
    check_finite,
    check_float_dtype,
    check_generator,
    check_int,
    check_length,
    check_real,
    check_result,
)
from .kernels import rfft_grid

__all__ = [
    "BANDS",
    "band_mask",
    "band_limited_teacher",
    "ar1_covariance",
    "ar1_spectrum",
    "sample_inputs",
    "filter_sequences",
    "teacher_targets",
    "noise_std_for_snr",
]

# The named teachers of the study: frequency bands (radians, inclusive) of |G|^2.
BANDS: dict[str, tuple[tuple[float, float], ...]] = {
    "low": ((0.0, 0.1 * math.pi),),
    "mid": ((0.45 * math.pi, 0.55 * math.pi),),
    "high": ((0.85 * math.pi, math.pi),),
    "two-band": ((0.2 * math.pi, 0.25 * math.pi), (0.7 * math.pi, 0.75 * math.pi)),
}


def _bands(bands):
    if isinstance(bands, str):
        if bands not in BANDS:
            raise ValueError(f"bands: expected one of {sorted(BANDS)} or a list of (lo, hi) pairs, got {bands!r}")
        return BANDS[bands]
    out = []
    try:
        for lo, hi in bands:
            lo, hi = float(lo), float(hi)
            if not (0.0 <= lo <= hi <= math.pi):
                raise ValueError
            out.append((lo, hi))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bands: expected (lo, hi) pairs with 0 <= lo <= hi <= pi, got {bands!r}") from exc
    if not out:
        raise ValueError("bands: expected at least one (lo, hi) band")
    return tuple(out)


def band_mask(L: int, bands, dtype=torch.float64) -> torch.Tensor:
    """Indicator of the bands on the rfft grid w_j = 2 pi j / L, j = 0..L//2: ``(L//2+1,)``.

    A band narrower than the grid spacing still covers its nearest bin, so no band is empty.
    """
    L = check_length(L)
    w = rfft_grid(L, dtype=check_float_dtype(dtype))
    mask = torch.zeros_like(w)
    for lo, hi in _bands(bands):
        inside = (w >= lo) & (w <= hi)
        if not bool(inside.any()):
            inside = torch.zeros_like(w, dtype=torch.bool)
            inside[int(torch.argmin((w - (lo + hi) / 2).abs()))] = True
        mask = torch.maximum(mask, inside.to(dtype))
    return mask


def band_limited_teacher(L: int, bands, generator: torch.Generator | None = None,
                         dtype=torch.float64) -> torch.Tensor:
    """Random teacher weights beta ``(L,)`` with ||beta|| = 1 and DFT supported on ``bands``.

    The rfft coefficients in the band are i.i.d. complex Gaussian (real at w = 0 and
    w = pi, where a real sequence's DFT is real), zero elsewhere.
    """
    L = check_length(L)
    check_generator(generator)
    mask = band_mask(L, bands, dtype)
    F = mask.shape[0]
    z = torch.complex(torch.randn(F, generator=generator, dtype=dtype),
                      torch.randn(F, generator=generator, dtype=dtype))
    # a real sequence's DFT is real at w = 0 and (even L) at w = pi
    real_bins = torch.zeros(F, dtype=torch.bool)
    real_bins[0] = True
    if L % 2 == 0:
        real_bins[-1] = True
    z = torch.where(real_bins, z.real.to(z.dtype), z)
    beta = torch.fft.irfft(z * mask, n=L)
    return beta / beta.norm()


def ar1_covariance(L: int, rho: float, dtype=torch.float64) -> torch.Tensor:
    """Sigma[t, s] = rho^{|t-s|}, the covariance of stationary unit-variance AR(1). ``(L, L)``."""
    L = check_length(L)
    rho = _rho(rho)
    t = torch.arange(L, dtype=check_float_dtype(dtype))
    return torch.tensor(rho, dtype=dtype) ** (t[:, None] - t[None, :]).abs()


def ar1_spectrum(L: int, rho: float, dtype=torch.float64) -> torch.Tensor:
    """P_u(w_j) = (1 - rho^2) / |1 - rho e^{-i w_j}|^2 on the rfft grid (mean 1 over the circle)."""
    rho = _rho(rho)
    w = rfft_grid(L, dtype=check_float_dtype(dtype))
    return (1 - rho**2) / (1 - 2 * rho * torch.cos(w) + rho**2)


def _rho(rho) -> float:
    try:
        r = check_real(rho, "rho")
    except ValueError as exc:  # strings, complex, bool, arrays, NaN
        raise ValueError(f"rho: expected a real number in (-1, 1), got {rho!r}") from exc
    if not (-1.0 < r < 1.0):
        raise ValueError(f"rho: expected a real number in (-1, 1), got {rho!r}")
    return r


def sample_inputs(P: int, L: int, rho: float = 0.0, generator: torch.Generator | None = None,
                  dtype=torch.float64) -> torch.Tensor:
    """P input sequences ``(P, L)``: white (rho = 0) or stationary AR(1) with coefficient rho."""
    P = check_int(P, "P", 0)
    L = check_length(L)
    if P * L > MAX_SIZE:
        raise ValueError(f"P, L: expected at most {MAX_SIZE} values in total, got P * L = {P * L}")
    rho = _rho(rho)
    check_generator(generator)
    check_float_dtype(dtype)
    e = torch.randn(P, L, generator=generator, dtype=dtype)
    if rho == 0.0:
        return e
    u = torch.empty_like(e)
    u[:, 0] = e[:, 0]
    s = math.sqrt(1 - rho**2)
    for t in range(1, L):
        u[:, t] = rho * u[:, t - 1] + s * e[:, t]
    return u


def filter_sequences(g, X) -> torch.Tensor:
    """Causal filtering y_t = sum_{k<=t} g_k u_{t-k} of every row of X ``(P, L)`` (FFT, zero-padded)."""
    g = check_finite(as_tensor(g, "g", complex_ok=False), "g")
    X = check_finite(as_tensor(X, "X", complex_ok=False), "X")
    if g.dim() != 1 or X.dim() != 2:
        raise ValueError(f"g, X: expected shapes (L,) and (P, L), got {tuple(g.shape)} and {tuple(X.shape)}")
    L = X.shape[-1]
    if L < 1:
        raise ValueError(f"X: expected sequences of length L >= 1, got shape {tuple(X.shape)}")
    if g.shape[0] != L:
        raise ValueError(f"g: expected length {L} to match X, got {g.shape[0]}")
    n = 2 * L
    y = torch.fft.irfft(torch.fft.rfft(X, n=n) * torch.fft.rfft(g.to(X.dtype), n=n), n=n)[..., :L]
    return check_result(y, "g, X", "the filtered sequences")


def teacher_targets(beta, X, noise: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """y = X beta + noise * e, the scalar teacher outputs ``(P,)``."""
    beta = check_finite(as_tensor(beta, "beta", complex_ok=False), "beta")
    X = check_finite(as_tensor(X, "X", complex_ok=False), "X")
    if X.dim() != 2 or beta.shape != (X.shape[-1],):
        raise ValueError(f"beta, X: expected shapes (L,) and (P, L), got {tuple(beta.shape)} and {tuple(X.shape)}")
    noise = check_real(noise, "noise", minimum=0.0)
    check_generator(generator)
    y = X @ beta.to(X.dtype)
    if noise:
        y = y + noise * torch.randn(y.shape, generator=generator, dtype=y.dtype)
    return check_result(y, "beta, X, noise", "the targets")


def noise_std_for_snr(beta, snr: float, input_cov=None) -> float:
    """Label-noise standard deviation sigma = sqrt(beta^T Sigma beta / snr) (Sigma = I if None).

    ``snr`` > 0; ``math.inf`` gives 0 (the noise-free limit).
    """
    beta = check_finite(as_tensor(beta, "beta", complex_ok=False), "beta")
    if beta.dim() != 1 or beta.numel() == 0:
        raise ValueError(f"beta: expected a non-empty vector (L,), got shape {tuple(beta.shape)}")
    if isinstance(snr, bool) or not isinstance(snr, numbers.Real) or math.isnan(snr) or snr <= 0:
        raise ValueError(f"snr: expected a number > 0 (math.inf for no noise), got {snr!r}")
    if math.isinf(snr):
        return 0.0
    if input_cov is None:
        signal = float(beta.square().sum())
    else:
        S = check_finite(as_tensor(input_cov, "input_cov", complex_ok=False), "input_cov").to(beta.dtype)
        if S.shape != (beta.shape[0], beta.shape[0]):
            raise ValueError(f"input_cov: expected shape ({beta.shape[0]}, {beta.shape[0]}), got {tuple(S.shape)}")
        signal = float(beta @ S @ beta)
    if not (math.isfinite(signal) and signal >= 0):
        raise ValueError("beta, input_cov: the signal variance beta^T Sigma beta is not a finite number >= 0")
    return math.sqrt(signal / snr)
