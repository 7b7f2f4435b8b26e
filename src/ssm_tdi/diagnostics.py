"""Measurements of an SSM layer and its kernels (issue 11: does TDI survive training?).

* :func:`kernel_effective_rank` -- how many distinct responses the H channels of a layer span.
* :func:`dc_share`              -- the fraction of a spectrum's power at w = 0.
* :func:`layer_power`           -- a layer's |H_L,h(w_j)|^2 (H, F) in float64, from its stored parameters.
* :func:`layer_persistence`     -- L_spec of a layer against a target and against a stored (init)
  spectrum, with the kernel effective rank: one checkpoint of the persistence figure.

Spectra are on the rfft grid w_j = 2 pi j / L, j = 0..L//2 (``ssm_tdi.spectra``). L_spec is
``spectra.spectral_matching_loss`` (2 - 2 cos, in [0, 2]).
"""

from __future__ import annotations

import math

import torch

from . import kernels, spectra
from ._validate import as_tensor, check_finite, check_length

__all__ = ["kernel_effective_rank", "dc_share", "layer_kernel", "layer_power", "layer_persistence"]


def kernel_effective_rank(K) -> float:
    """Effective rank of the H x L kernel matrix: exp(entropy of its normalised singular values).

    With s_1..s_r the singular values of K (rows = channels) and p_i = s_i / sum_j s_j,
    erank = exp(-sum_i p_i log p_i)  (Roy & Vetterli 2007), in [1, min(H, L)]: 1 when all
    channels are multiples of one kernel, min(H, L) when the singular values are all equal.
    The rank counts directions, so it is invariant to rescaling K and to permuting channels.

    Args:
        K: real (H, L) kernel matrix (e.g. ``layer.kernel(L)``), finite, not identically zero.

    Returns:
        float.
    """
    t = as_tensor(K, "K", complex_ok=False)
    if t.dim() != 2 or min(t.shape) < 1:
        raise ValueError(f"K: expected a kernel matrix of shape (H, L), got {tuple(t.shape)}")
    t = check_finite(t.detach().to("cpu", torch.float64), "K")
    m = float(t.abs().max())
    if m == 0:
        raise ValueError("K: expected a kernel matrix that is not identically zero (its rank is undefined)")
    s = torch.linalg.svdvals(t / m)  # scale out first: kernels of 1e300 do not overflow the SVD
    p = s / s.sum()
    ent = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum()
    return float(torch.exp(ent))


def dc_share(S, L: int | None = None) -> float:
    """Fraction of the mean-square power of a signal at w = 0, from its one-sided spectrum.

    S(w_j), j = 0..F-1 is a one-sided rfft-grid spectrum of a length-L signal. By Parseval the
    total power counts the interior bins twice (their negative-frequency mirrors):
        total = S_0 + 2 sum_{0<j<F-1} S_j + S_{F-1} (L even: the last bin is w = pi, its own mirror)
        total = S_0 + 2 sum_{0<j<=F-1} S_j          (L odd)
    and dc_share = S_0 / total, in [0, 1]. For an (H, F) input (one row per channel) the share
    of the channel-summed spectrum is returned.

    Args:
        S: power spectrum (F,) or (H, F), finite, >= 0, not identically zero.
        L: the signal length (default 2 (F - 1), i.e. even); must satisfy L//2 + 1 = F.
    """
    t = as_tensor(S, "S", complex_ok=False)
    if t.dim() not in (1, 2) or t.shape[-1] < 2:
        raise ValueError(f"S: expected a spectrum of shape (F,) or (H, F) with F >= 2, got {tuple(t.shape)}")
    t = check_finite(t.detach().to("cpu", torch.float64), "S")
    if bool((t < 0).any()):
        raise ValueError(f"S: expected a power spectrum (values >= 0), found min {float(t.min()):.6g}")
    F = t.shape[-1]
    L = 2 * (F - 1) if L is None else check_length(L, "L")
    if L // 2 + 1 != F:
        raise ValueError(f"L: a length-{L} rfft grid has {L // 2 + 1} bins, but S has {F}")
    s = t.reshape(-1, F).sum(0)
    if float(s.max()) == 0:
        raise ValueError("S: expected a spectrum that is not identically zero")
    s = s / s.max()
    w = torch.full((F,), 2.0, dtype=torch.float64)
    w[0] = 1.0
    if L % 2 == 0:
        w[-1] = 1.0
    return float(s[0] / (w * s).sum())


def layer_power(layer, L: int) -> torch.Tensor:
    """|H_L,h(w_j)|^2 = |rfft(K_h)|^2, float64 (H, L//2+1), of a DiagonalSSM's stored parameters (D excluded).

    Evaluated in float64 from (log_dt, log_A_real, A_imag, B, C) so that checkpoints of a float32
    layer are compared without complex64 rounding."""
    K = layer_kernel(layer, L)
    Kh = torch.fft.rfft(K)
    return Kh.real**2 + Kh.imag**2


def layer_kernel(layer, L: int) -> torch.Tensor:
    """Real (H, L) float64 kernel of a DiagonalSSM from its stored parameters (``kernels.ssm_kernel``)."""
    L = check_length(L, "L")
    needed = ("log_dt", "log_A_real", "A_imag", "B", "C", "discretization")
    if not all(hasattr(layer, a) for a in needed):
        raise ValueError(f"layer: expected a ssm_tdi.layers.DiagonalSSM, got {type(layer).__name__}")
    with torch.no_grad():
        A = torch.complex(-torch.exp(layer.log_A_real.double()), layer.A_imag.double()).cpu()
        B = torch.view_as_complex(layer.B.double().contiguous()).cpu()
        C = torch.view_as_complex(layer.C.double().contiguous()).cpu()
        dt = torch.exp(layer.log_dt.double()).cpu().unsqueeze(-1)
        lam, Bbar = kernels.discretize(A, B, dt, method=layer.discretization)
        return kernels.ssm_kernel(lam, Bbar, C, L)


def layer_persistence(layer, L: int, *, target=None, reference=None) -> dict:
    """One checkpoint of a layer: mean-over-channels L_spec against ``target`` and ``reference``.

    ``target``: the task spectrum (F,) or (H, F) the layer was (or could have been) matched to;
    ``reference``: a stored power spectrum (H, F) of the same layer, e.g. ``layer_power(layer, L)``
    at initialisation, so L_spec(now, reference) measures how far training moved each channel's
    response (0: unchanged up to scale). Either may be None (its entry is then NaN).

    Returns:
        dict with ``lspec_target``, ``lspec_reference`` (means over channels, float),
        ``effective_rank`` (:func:`kernel_effective_rank` of the (H, L) kernel) and
        ``power_dc_share`` (:func:`dc_share` of the channel-summed |H|^2: the layer's DC gain share).
        A channel with an identically zero kernel cannot be scored and raises ValueError.
    """
    K = layer_kernel(layer, L)
    Kh = torch.fft.rfft(K)
    P = Kh.real**2 + Kh.imag**2
    out = {"effective_rank": kernel_effective_rank(K), "power_dc_share": dc_share(P, L)}
    for key, S, name in (("lspec_target", target, "target"), ("lspec_reference", reference, "reference")):
        if S is None:
            out[key] = math.nan
            continue
        St = as_tensor(S, name, complex_ok=False).detach().to("cpu", torch.float64)
        if St.shape[-1] != P.shape[-1] or St.dim() not in (1, 2) or (St.dim() == 2 and St.shape[0] != P.shape[0]):
            raise ValueError(f"{name}: expected shape ({P.shape[-1]},) or {tuple(P.shape)}, got {tuple(St.shape)}")
        try:
            out[key] = float(spectra.spectral_matching_loss(P, St).mean())
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
    return out
