"""Shaping the target spectrum that TDI matches (issue 11: "shape the target" step of the pipeline).

An estimated task spectrum S_task is often dominated by one or two bins (on ACSF1 two bins hold 90%
of its power), so matching it exactly makes every channel a narrow resonator whose out-of-band gain
is ~1e-6 of its peak, and H channels fitted to the same row collapse onto one response. This module
turns S_task into the (F,) or (H, F) target handed to ``tdi.tdi_init``; it contains no fitting.

* :func:`shape_target` -- tempering S^gamma, mixing with a flat spectrum, an out-of-band floor.
* :func:`channel_bank` -- one row per channel: identical rows, or distinct bands whose SUM is S.
* :func:`shuffled`     -- the control "same values, wrong frequencies" (issue 15).

All spectra live on an rfft grid with F = L//2 + 1 bins (``spectra`` module docstring); bin 0 is
w = 0 (DC) and, for even L, bin F-1 is w = pi (Nyquist).
"""

from __future__ import annotations

import math

import torch

from ._validate import as_tensor, check_int, check_real, check_seed

__all__ = ["shape_target", "channel_bank", "shuffled", "effective_bins", "BANK_DESIGNS"]

#: channel-bank designs accepted by :func:`channel_bank`
BANK_DESIGNS = ("identical", "bands")


def _spectrum(S, name: str = "S") -> torch.Tensor:
    """Validate a power spectrum (F,) or (H, F): finite, >= 0, F >= 2, no all-zero row -> float64 CPU."""
    t = as_tensor(S, name, complex_ok=False)
    if t.dim() not in (1, 2) or t.shape[-1] < 2 or (t.dim() == 2 and t.shape[0] < 1):
        raise ValueError(f"{name}: expected a spectrum of shape (F,) or (H, F) with F >= 2, got {tuple(t.shape)}")
    t = t.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    if bool((t < 0).any()):
        raise ValueError(f"{name}: expected a power spectrum (values >= 0), found min {float(t.min()):.6g}")
    if bool((t.amax(-1) == 0).any()):
        raise ValueError(f"{name}: expected a spectrum that is not identically zero along the frequency axis")
    # rescale rows to max 1 before any power or sum: extreme scales (1e300) neither overflow nor underflow
    return t / t.amax(-1, keepdim=True)


def shape_target(S, *, gamma: float = 1.0, flat_mix: float = 0.0, floor: float = 0.0) -> torch.Tensor:
    """Tempered, flattened and floored version of S, row-normalised to unit total power.

    Per row (frequency axis last), with s = S / max S:
        T1 = s^gamma / sum(s^gamma)                       tempering (gamma < 1 flattens the peaks)
        T2 = (1 - flat_mix) T1 + flat_mix / F             mix with the flat spectrum of equal total power
        T3 = max(T2, floor * max(T2))                     out-of-band floor relative to the peak
        T  = T3 / sum(T3)                                 unit total power per row
    gamma = 1, flat_mix = 0, floor = 0 returns S / sum S. gamma -> 0 tends to flat on the support of S
    (0^gamma = 0 stays 0: a bin with no power is raised only by flat_mix or floor).

    Args:
        S: power spectrum (F,) or (H, F), finite, >= 0, every row not identically 0.
        gamma: tempering exponent, > 0.
        flat_mix: weight of the flat spectrum, in [0, 1] (1: flat).
        floor: relative floor, in [0, 1] (1: flat).

    Returns:
        float64 tensor of the shape of S, rows summing to 1.
    """
    s = _spectrum(S)
    gamma = check_real(gamma, "gamma", minimum=0.0, strict_min=True)
    flat_mix = check_real(flat_mix, "flat_mix", minimum=0.0, maximum=1.0)
    floor = check_real(floor, "floor", minimum=0.0, maximum=1.0)
    t = s**gamma  # the peak stays 1 for any gamma, so the sum below is >= 1
    t = t / t.sum(-1, keepdim=True)
    t = (1.0 - flat_mix) * t + flat_mix / t.shape[-1]
    t = torch.maximum(t, floor * t.amax(-1, keepdim=True))
    return t / t.sum(-1, keepdim=True)


def _band_weights(p: torch.Tensor, H: int) -> torch.Tensor:
    """Weight w_h(f) of bin f in channel h's band, (H, F), with sum_h w_h(f) = 1 wherever p_f > 0.

    On the cumulative distribution of p (F,), bin f owns the mass interval [a_f, b_f) (length p_f / sum p,
    midpoint u_f) and channel h the quantile interval [h/H, (h+1)/H). A bin with p_f > 0 goes whole to the
    channel whose interval holds its midpoint u_f. A channel that receives no such bin (its interval lies
    inside one heavy bin's mass interval) shares the bin whose interval holds its own midpoint (h + 1/2)/H:
    that bin's weight is split equally among its owner and the channels sharing it. Bins with p_f = 0
    get weight 0 everywhere."""
    F = p.shape[0]
    c = torch.cumsum(p, 0) / p.sum()
    a = torch.cat([c.new_zeros(1), c[:-1]])
    u = (a + c) / 2
    has = p > 0
    owner = (u * H).floor().long().clamp(0, H - 1)
    claim = torch.zeros(H, F, dtype=torch.float64)
    claim[owner[has], has.nonzero().flatten()] = 1.0
    for h in (claim.sum(1) == 0).nonzero().flatten().tolist():
        mid = (h + 0.5) / H
        inside = (has & (a <= mid) & (mid < c)).nonzero().flatten()
        f = int(inside[0]) if inside.numel() else int(has.nonzero().flatten()[-1])
        claim[h, f] = 1.0
    n = claim.sum(0)
    return torch.where(n > 0, claim / n.clamp(min=1.0), 0.0)


def channel_bank(S, H: int, *, design: str = "identical", seed: int = 0, gamma: float = 0.25) -> torch.Tensor:
    """One target row per channel, (H, F), whose sum over channels is S / sum S.

    ``design="identical"``: every row is S / (H sum S) (today's TDI: one response for all channels).

    ``design="bands"``: the channels split the frequency axis at the H-quantiles of the tempered
    spectrum P = (S / max S)^gamma. On the cumulative distribution of P, bin f owns the interval
    [a_f, b_f) of length P_f / sum P and channel h the interval [h/H, (h+1)/H). Bin f goes whole to the
    channel whose interval holds its midpoint, so channels get contiguous, disjoint bands of 1/H of
    the TEMPERED power each, and row_h(f) = w_h(f) S(f) / sum S. A bin heavier than one quantile
    step swallows whole channel intervals; those channels share that bin (its weight is split
    equally among them and its owner), so their rows are the same one-bin spike -- the only case in
    which rows coincide. The weights of every bin sum to 1 over channels, hence
    sum_h row_h = S / sum S exactly, and every row is non-zero. Tempering only places the band
    edges: with gamma = 1 a bin holding 45% of the power takes ~45% of the channels; gamma -> 0 gives
    every bin with power the same stretch, so bands hold equal numbers of bins. The default 0.25
    keeps a bin of relative power 1e-4 at 1/10 of the peak's stretch. Which channel gets which band
    is a seeded random permutation (channels of a DiagonalSSM are exchangeable, but the mixing
    layers downstream are initialised per channel index).

    Rows are not normalised individually: their totals are each band's share of the power. L_spec
    per channel is scale-invariant, so to make the layer's summed |H_h|^2 follow S the caller has to
    give channel h a kernel energy proportional to row h's total (``row.sum(-1)``).

    Args:
        S: power spectrum (F,) (or (1, F)), finite, >= 0, not identically zero.
        H: number of channels, >= 1.
        design: one of :data:`BANK_DESIGNS`.
        seed: seed of the band-to-channel permutation (``"bands"`` only).
        gamma: tempering exponent > 0 used to place the band edges (``"bands"`` only).

    Returns:
        float64 (H, F).
    """
    s = _spectrum(S)
    if s.dim() == 2:
        if s.shape[0] != 1:
            raise ValueError(f"S: expected one spectrum (F,) or (1, F) to split over channels, got {tuple(s.shape)}")
        s = s[0]
    H = check_int(H, "H")
    if not isinstance(design, str) or design not in BANK_DESIGNS:
        raise ValueError(f"design: expected one of {BANK_DESIGNS}, got {design!r}")
    seed = check_seed(seed)
    gamma = check_real(gamma, "gamma", minimum=0.0, strict_min=True)
    s = s / s.sum()
    if design == "identical":
        return (s / H).unsqueeze(0).expand(H, -1).clone()
    w = _band_weights((s / s.max()) ** gamma, H)  # the peak is 1 for any gamma: sum P >= 1
    perm = torch.randperm(H, generator=torch.Generator().manual_seed(seed))
    return (w * s.unsqueeze(0))[perm]


def shuffled(S, seed: int, *, keep_edges: bool = True) -> torch.Tensor:
    """The same spectral values at randomly permuted frequencies (the "any sharp init?" control).

    Returns S with its bins permuted by one seeded permutation, applied to every row of an (H, F) input
    (so a bank stays a bank, only moved). The multiset of values per row -- hence peak-to-floor ratio,
    sharpness, entropy and any norm -- is unchanged; only where the power sits changes.

    DC and Nyquist. With ``keep_edges=True`` (default) bin 0 (w = 0) and the last bin are held in place
    and only the interior bins 1..F-2 are permuted: the edge bins are the real-valued DFT coefficients
    (half the degrees of freedom of an interior bin) and the DC bin carries the layer-input bias
    artefact, so moving them would change the control in a second way (its DC gain) besides "wrong
    frequencies". ``keep_edges=False`` permutes all F bins. The last bin is w = pi for even L and just
    below pi for odd L; it is held in either case.

    Args:
        S: power spectrum (F,) or (H, F), finite, >= 0 (F >= 4 with ``keep_edges``: >= 2 interior bins).
        seed: seed of the permutation.
        keep_edges: True or False, see above.

    Returns:
        float64 tensor of S's shape with S's values (not renormalised).
    """
    t = as_tensor(S, "S", complex_ok=False)
    if t.dim() not in (1, 2):
        raise ValueError(f"S: expected a spectrum of shape (F,) or (H, F), got {tuple(t.shape)}")
    t = t.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ValueError("S: expected a power spectrum with finite values >= 0")
    seed = check_seed(seed)
    if not isinstance(keep_edges, bool):
        raise ValueError(f"keep_edges: expected True or False, got {keep_edges!r}")
    F = t.shape[-1]
    lo, hi = (1, F - 1) if keep_edges else (0, F)
    if hi - lo < 2:
        raise ValueError(f"S: expected at least {4 if keep_edges else 2} frequency bins to permute, got F = {F}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.arange(F)
    idx[lo:hi] = lo + torch.randperm(hi - lo, generator=gen)
    return t[..., idx].clone()


def effective_bins(S) -> float:
    """exp(entropy) of the normalised spectrum S / sum S, in [1, F]: how many bins hold the power
    (1: one spike, F: flat). A sharpness measure that :func:`shuffled` leaves unchanged; for (H, F)
    the mean over rows."""
    s = _spectrum(S)
    p = s / s.sum(-1, keepdim=True)
    ent = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(-1)
    return float(torch.exp(ent).mean()) if s.dim() == 2 else float(math.exp(float(ent)))
