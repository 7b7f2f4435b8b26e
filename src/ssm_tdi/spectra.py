"""Task spectra S_task(w) estimated from training data, and the spectral matching loss (C5).

Frequency grid
--------------
Every estimator returns values on the rfft grid of the transform length M:
w_j = 2 pi j / M, j = 0..M//2 (``kernels.rfft_grid(M)``), i.e. ``F = M//2 + 1`` bins.
M is the sequence length L, or the segment length when Welch averaging is used
(``segments=M``). Passing ``grid_L`` re-samples the estimate onto the length-``grid_L``
grid by linear interpolation in w (the estimates are spectral *densities*, whose value
at a frequency does not depend on the transform length, so interpolation is the
consistent way to change grids).

Scaling (a density: white noise of variance s^2 gives E S(w) = s^2 at every bin)
-------------------------------------------------------------------------------
* periodogram of one sequence:  P(w_j) = |sum_t x_t e^{-i w_j t}|^2 / L
* Welch (segment length M, hop M//2, periodic Hann window h):
  P(w_j) = |sum_t h_t x_t e^{-i w_j t}|^2 / sum_t h_t^2, averaged over the segments.

Estimators (docs/claims.md section 5)
-------------------------------------
* :func:`input_spectrum`   S_uu(w) = mean over sequences of P(w)                   (label-free)
* :func:`transfer_spectrum` |S_uy(w)|^2 / S_uu(w), S_uy = mean conj(U) Y / L       (seq-to-seq)
* :func:`discriminative_spectrum` between-class / total variance per bin of the Fourier
  coefficients and/or of the log power (``kind=``), a Fisher ratio in [0, 1]       (classification)

Loss
----
:func:`spectral_matching_loss`  L_spec = || S_m/||S_m|| - S_t/||S_t|| ||^2 (norms over the
frequency axis). For non-negative spectra L_spec = 2 - 2 cos(S_m, S_t) lies in [0, 2]
(it is at most 4 for arbitrary real vectors); it is invariant to positive rescaling of
either argument and zero exactly when S_m is proportional to S_t.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import as_tensor, check_finite, check_length, check_result
from .kernels import rfft_grid

__all__ = [
    "input_spectrum",
    "transfer_spectrum",
    "discriminative_spectrum",
    "DISCRIMINATIVE_KINDS",
    "spectral_matching_loss",
    "interpolate_spectrum",
]

_REDUCE = (None, "mean")


# ----------------------------------------------------------------------------- helpers
def _sequences(X, name: str) -> tuple[torch.Tensor, bool]:
    """Validate a batch of sequences; return float64 (n, L, d) and whether input was 2-D."""
    t = as_tensor(X, name, complex_ok=False)
    if t.dim() not in (2, 3):
        raise ValueError(f"{name}: expected shape (n, L) or (n, L, d), got {tuple(t.shape)}")
    t = check_finite(t, name).to(torch.float64)
    if t.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one sequence, got shape {tuple(t.shape)}")
    if t.shape[1] < 2:
        raise ValueError(f"{name}: expected sequence length L >= 2, got shape {tuple(t.shape)}")
    if t.dim() == 3 and t.shape[2] < 1:
        raise ValueError(f"{name}: expected at least one channel, got shape {tuple(t.shape)}")
    univariate = t.dim() == 2
    if univariate:
        t = t.unsqueeze(-1)
    return t, univariate


def _check_reduce(reduce):
    if not (reduce is None or isinstance(reduce, str)) or reduce not in _REDUCE:
        raise ValueError(f"reduce: expected None or 'mean', got {reduce!r}")


def _check_flag(v, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {v!r}")
    return bool(v)


def _hann(M: int) -> torch.Tensor:
    """Periodic Hann window h_t = sin^2(pi t / M), t = 0..M-1 (the spectral-analysis convention)."""
    t = torch.arange(M, dtype=torch.float64)
    return torch.sin(math.pi * t / M) ** 2


def _fourier(X: torch.Tensor, segments, detrend: bool) -> tuple[torch.Tensor, int]:
    """Scaled Fourier coefficients Z of every sequence / segment.

    X: float64 (n, L, d). Returns complex (n_seg_total, d, F) with |Z|^2 the periodogram
    (or windowed Welch periodogram) density of each segment, and the transform length M.
    """
    n, L, d = X.shape
    x = X.transpose(1, 2)  # (n, d, L)
    if segments is None:
        if detrend:
            x = x - x.mean(-1, keepdim=True)
        Z = torch.fft.rfft(x, dim=-1) / math.sqrt(L)
        return Z, L
    M = check_length(segments, "segments")
    if M < 2 or M > L:
        raise ValueError(f"segments: expected a segment length in [2, L={L}], got {M}")
    hop = max(1, M // 2)
    seg = x.unfold(-1, M, hop)  # (n, d, n_seg, M)
    if detrend:
        seg = seg - seg.mean(-1, keepdim=True)
    h = _hann(M)
    Z = torch.fft.rfft(seg * h, dim=-1) / math.sqrt(float((h * h).sum()))  # (n, d, n_seg, F)
    Z = Z.permute(0, 2, 1, 3).reshape(-1, d, Z.shape[-1])  # (n * n_seg, d, F)
    return Z, M


def interpolate_spectrum(S, grid_L: int, M: int | None = None) -> torch.Tensor:
    """Linear interpolation of a spectrum ``(..., F)`` on the length-M rfft grid onto the
    length-``grid_L`` rfft grid (w_j = 2 pi j / grid_L, j = 0..grid_L//2).

    ``M`` defaults to 2 (F - 1). Both grids start at w = 0; the last bin of an odd-length
    grid lies below pi, so values beyond the source grid's last frequency are held constant.
    """
    S = check_finite(as_tensor(S, "S", complex_ok=False), "S").to(torch.float64)
    if S.dim() < 1 or S.shape[-1] < 2:
        raise ValueError(f"S: expected a spectrum of shape (..., F) with F >= 2, got {tuple(S.shape)}")
    F = S.shape[-1]
    M = 2 * (F - 1) if M is None else check_length(M, "M")
    if M // 2 + 1 != F:
        raise ValueError(f"M: a length-{M} rfft grid has {M // 2 + 1} bins, but S has {F}")
    grid_L = check_length(grid_L, "grid_L")
    if grid_L < 2:
        raise ValueError(f"grid_L: expected an integer >= 2, got {grid_L}")
    src = rfft_grid(M)
    dst = rfft_grid(grid_L).clamp(max=float(src[-1]))
    # index of the left neighbour on the source grid, and the linear weight
    pos = dst / (2 * math.pi / M)
    i0 = pos.floor().long().clamp(0, F - 2)
    wgt = (pos - i0).clamp(0.0, 1.0)
    return S[..., i0] * (1 - wgt) + S[..., i0 + 1] * wgt


def _finish(S: torch.Tensor, univariate: bool, reduce, M: int, grid_L, name: str = "X") -> torch.Tensor:
    """S: (d, F) -> (F,) for univariate or reduce='mean', else (d, F); optional re-gridding."""
    if univariate:
        S = S[0]
    elif reduce == "mean":
        S = S.mean(0)
    # sequences near the float64 limit (|x| ~ 1e300) overflow |rfft|^2: an error, not an inf
    check_result(S, name, "the spectrum")
    if grid_L is not None:
        S = interpolate_spectrum(S, grid_L, M)
    return S


# ----------------------------------------------------------------------------- estimators
def input_spectrum(
    X,
    segments: int | None = None,
    *,
    detrend: bool = False,
    reduce: str | None = None,
    grid_L: int | None = None,
) -> torch.Tensor:
    """Mean periodogram (power spectral density) of the training inputs.

    S_uu(w_j) = (1/n) sum_i |sum_t x_{i,t} e^{-i w_j t}|^2 / L on the grid w_j = 2 pi j / L,
    j = 0..L//2. For a stationary process this is an estimate of its spectral density
    (white noise of variance s^2: E S = s^2, and n S(w_j)/s^2 ~ chi^2_{2n}/2 at interior bins).

    Args:
        X: ``(n, L)`` univariate or ``(n, L, d)`` multichannel sequences.
        segments: None (one periodogram per sequence) or a Welch segment length M
            (2 <= M <= L): segments of length M with 50% overlap (hop M//2), periodic Hann
            window, |rfft(h x_seg)|^2 / sum h^2 averaged over segments and sequences. The
            result then lives on the length-M grid w_j = 2 pi j / M (F = M//2+1 bins)
            unless ``grid_L`` is given.
        detrend: False (default) keeps each sequence's mean, so S(0) carries the mean power
            the layer actually sees (the second-moment spectrum that governs the induced
            kernel, docs/claims.md C3); True subtracts each sequence's (segment's) mean first,
            which makes the DC bin of the plain periodogram exactly 0.
        reduce: None -> ``(d, F)`` per channel for multichannel X; ``"mean"`` -> average
            over channels, ``(F,)``. Univariate X always gives ``(F,)``.
        grid_L: if given, linearly interpolate the estimate onto the length-``grid_L``
            rfft grid (see :func:`interpolate_spectrum`).

    Returns:
        float64 tensor ``(F,)`` or ``(d, F)``.
    """
    _check_reduce(reduce)
    detrend = _check_flag(detrend, "detrend")
    X, uni = _sequences(X, "X")
    Z, M = _fourier(X, segments, detrend)
    S = (Z.real**2 + Z.imag**2).mean(0)  # (d, F)
    return _finish(S, uni, reduce, M, grid_L)


def transfer_spectrum(
    X,
    Y,
    segments: int | None = None,
    *,
    detrend: bool = False,
    reduce: str | None = None,
    grid_L: int | None = None,
) -> torch.Tensor:
    """Power of the target explained by a linear time-invariant map from the input.

    With S_uu(w) = mean_i |U_i(w)|^2 / L and the cross-spectrum S_uy(w) = mean_i conj(U_i(w)) Y_i(w) / L
    (U, Y the DFTs of input and target sequences; Welch-averaged if ``segments``),
    returns T(w) = |S_uy(w)|^2 / S_uu(w)  (0 where S_uu(w) = 0).

    If y = g * u + e with e uncorrelated with u, then S_uy = G S_uu and
    T = |G(w)|^2 S_uu(w): the output power of the system g driven by the training inputs,
    i.e. the part of the target power reachable by a convolution of u. (Exact for circular
    convolution and in expectation; for causal linear convolution over a finite window the
    edge effect is of order (effective length of g) / L, and noise adds a positive bias
    ~ S_uu S_ee / n_averages.)

    Scalar targets. ``Y`` of shape ``(n,)`` (one number per sequence, e.g. y = beta^T u):
    the cross-correlation r_t = (1/n) sum_i y_i u_{i,t} (length L, per input channel) is
    estimated and T(w_j) = |rfft(r)_j|^2 / S_uu(w_j) returned, S_uu = :func:`input_spectrum`
    (same periodogram normalisation |.|^2 / L as above). This is the power of the target
    explained through u: for y = sum_t beta_t u_t, rfft(r) ~ B(w) S_uu(w) (circularly), so
    T ~ |B(w)|^2 S_uu(w), the same quantity as for the sequence target y'_t = (g * u)_t with
    g the time-reversed beta read at the last step. For white input of variance s^2 exactly
    E r = s^2 beta, hence T = s^2 |rfft(beta)|^2 up to estimation noise (relative error of
    order sqrt(L / n) per bin), and mean over the full DFT grid of T = s^2 ||beta||^2 = Var(y).
    ``segments`` is not supported for scalar targets (r lives on the length-L grid);
    ``detrend`` removes each sequence's mean from u and the sample mean from y.

    Args:
        X: inputs ``(n, L)`` or ``(n, L, d)``.
        Y: sequence targets, same n and L; ``(n, L)`` or ``(n, L, e)``. Channels are paired
            one-to-one when d == e; a single channel on either side is broadcast against
            the other's channels. Or scalar targets ``(n,)`` (see above).
        segments, detrend, reduce, grid_L: as in :func:`input_spectrum`.

    Returns:
        float64 ``(F,)`` (univariate or ``reduce="mean"``) or ``(channels, F)``.
    """
    _check_reduce(reduce)
    detrend = _check_flag(detrend, "detrend")
    X, unix = _sequences(X, "X")
    Yt = as_tensor(Y, "Y", complex_ok=False)
    if Yt.dim() == 1:
        return _scalar_transfer(
            X, unix, check_finite(Yt, "Y").to(torch.float64), segments, detrend, reduce, grid_L
        )
    Y, uniy = _sequences(Yt, "Y")
    if X.shape[0] != Y.shape[0] or X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"X, Y: expected the same number of sequences and length, got shapes "
            f"{tuple(X.shape[:2])} and {tuple(Y.shape[:2])}"
        )
    d, e = X.shape[2], Y.shape[2]
    if d != e and d != 1 and e != 1:
        raise ValueError(f"X, Y: channel counts {d} and {e} must be equal or one of them 1")
    U, M = _fourier(X, segments, detrend)
    V, _ = _fourier(Y, segments, detrend)
    Suu = (U.real**2 + U.imag**2).mean(0)  # (d, F)
    Suy = (U.conj() * V).mean(0)  # (max(d, e), F) by broadcasting
    Suu = check_result(Suu.expand(Suy.shape), "X", "the input power S_uu")
    num = check_result(Suy.real**2 + Suy.imag**2, "X, Y", "the cross power |S_uy|^2")
    # 0/0 -> 0: bins where the input has (numerically) no power carry no explained power
    ok = (Suu > 1e-14 * Suu.amax(-1, keepdim=True)) & (Suu > 0)
    T = torch.where(ok, num / torch.where(ok, Suu, torch.ones_like(Suu)), torch.zeros_like(num))
    return _finish(T, unix and uniy, reduce, M, grid_L, "X, Y")


def _scalar_transfer(X, univariate, y, segments, detrend, reduce, grid_L) -> torch.Tensor:
    """|rfft(r)|^2 / S_uu with r_t = mean_i y_i u_{i,t}; X float64 (n, L, d), y (n,)."""
    n, L, d = X.shape
    if y.shape[0] != n:
        raise ValueError(
            f"Y: expected {n} scalar targets (one per sequence of X), got shape {tuple(y.shape)}"
        )
    if segments is not None:
        raise ValueError("segments: not supported for scalar targets Y of shape (n,); use segments=None")
    x = X.transpose(1, 2)  # (n, d, L)
    if detrend:
        x = x - x.mean(-1, keepdim=True)
        y = y - y.mean()
    r = (y[:, None, None] * x).mean(0)  # (d, L)
    R = torch.fft.rfft(r, dim=-1)
    num = R.real**2 + R.imag**2
    Z = torch.fft.rfft(x, dim=-1) / math.sqrt(L)
    Suu = check_result((Z.real**2 + Z.imag**2).mean(0), "X", "the input power S_uu")  # (d, F)
    num = check_result(num, "X, Y", "the cross power |rfft(r)|^2")
    ok = (Suu > 1e-14 * Suu.amax(-1, keepdim=True)) & (Suu > 0)
    T = torch.where(ok, num / torch.where(ok, Suu, torch.ones_like(Suu)), torch.zeros_like(num))
    return _finish(T, univariate, reduce, L, grid_L, "X, Y")


def _labels(labels, n: int) -> tuple[torch.Tensor, int]:
    if isinstance(labels, torch.Tensor):
        lab = labels.detach().cpu().numpy()
    else:
        try:
            lab = np.asarray(labels)
        except (TypeError, ValueError) as exc:  # ragged nested sequences
            raise ValueError(f"labels: expected a 1-D array of class labels: {exc}") from exc
    if lab.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array of n = {n} class labels, got shape {lab.shape}")
    if lab.shape[0] != n:
        raise ValueError(f"labels: expected {n} labels (one per sequence of X), got {lab.shape[0]}")
    if lab.dtype.kind in "fc" and not np.all(np.isfinite(lab)):
        raise ValueError("labels: expected finite labels, found NaN or inf")
    try:
        _, inv = np.unique(lab, return_inverse=True)
    except TypeError as exc:  # e.g. an object array mixing None and numbers
        raise ValueError(
            f"labels: expected sortable class labels (numbers or strings), got dtype {lab.dtype}: {exc}"
        ) from exc
    k = int(inv.max()) + 1 if inv.size else 0
    if k < 2:
        raise ValueError(f"labels: expected at least 2 classes, got {k}")
    return torch.as_tensor(inv.reshape(-1), dtype=torch.long), k


#: kinds of :func:`discriminative_spectrum`
DISCRIMINATIVE_KINDS = ("coefficient", "power", "log-power", "combined")

#: relative offset of the log in ``kind="log-power"``: log(P + LOG_POWER_EPS * mean P) per channel
LOG_POWER_EPS = 1e-10


def _fisher_ratio(V: torch.Tensor, inv: torch.Tensor, k: int) -> torch.Tensor:
    """Per (channel, bin) between-class over total variance of V (n, d, F), real or complex, in [0, 1].

    between = (1/n) sum_k n_k |mean_k - mean|^2, total = (1/n) sum_i |V_i - mean|^2; 0/0 -> 0
    (a constant feature cannot discriminate; see the two relative thresholds below)."""
    n = V.shape[0]
    dev = V - V.mean(0)
    total = check_result((dev.real**2 + dev.imag**2).mean(0) if dev.is_complex() else (dev * dev).mean(0),
                         "X", "the total variance")  # (d, F)
    counts = torch.bincount(inv, minlength=k).to(torch.float64)  # (k,)
    sums = torch.zeros((k,) + tuple(V.shape[1:]), dtype=V.dtype)
    sums.index_add_(0, inv, dev)
    cmean = sums / counts.view(-1, 1, 1)  # class mean deviations mu_k - mu
    sq = cmean.real**2 + cmean.imag**2 if cmean.is_complex() else cmean * cmean
    between = (counts.view(-1, 1, 1) * sq).sum(0) / n
    # constant feature: total <= 1e-12 of the channel's largest, or a spread below 1e-12 of the feature's
    # own magnitude (identical sequences: the deviations from their mean are rounding only)
    power = (V.real**2 + V.imag**2).mean(0) if V.is_complex() else (V * V).mean(0)
    ok = (total > 1e-12 * total.amax(-1, keepdim=True)) & (total > 1e-24 * power) & (total > 0)
    R = torch.where(ok, between / torch.where(ok, total, torch.ones_like(total)), torch.zeros_like(total))
    return R.clamp(0.0, 1.0)  # rounding can put between a hair above total


def _log_power(P: torch.Tensor) -> torch.Tensor:
    """log(P + eps_c) with eps_c = LOG_POWER_EPS * (mean power of channel c over sequences and bins).

    The offset keeps log finite at bins of exactly zero power (e.g. DC after detrending: the same
    log(eps) for every sequence, hence no variance and R = 0 there) and is far below any bin that
    carries power; it scales with the data, so R does not depend on the units of X."""
    eps = LOG_POWER_EPS * P.mean(dim=(0, 2), keepdim=True)
    eps = torch.where(eps > 0, eps, torch.full_like(eps, torch.finfo(P.dtype).tiny))
    return torch.log(P + eps)


def discriminative_spectrum(
    X,
    labels,
    *,
    kind: str = "combined",
    detrend: bool = False,
    reduce: str | None = None,
    grid_L: int | None = None,
) -> torch.Tensor:
    """Per-frequency Fisher ratio between classes: between-class over total variance, in [0, 1].

    For a per-sequence feature V_i(w_j) (n sequences, class k holding n_k of them), mu the overall
    mean and mu_k the class mean:
        between(w) = (1/n) sum_k n_k |mu_k(w) - mu(w)|^2
        total(w)   = (1/n) sum_i |V_i(w) - mu(w)|^2  = between(w) + within(w)
        R(w)       = between(w) / total(w)
    on the grid w_j = 2 pi j / L, j = 0..L//2. R = 1: the class alone determines the feature at w;
    R = 0: no class information on average. The feature is chosen by ``kind``:

    * ``"coefficient"``: V = Z, the complex DFT coefficient (the estimator of the previous
      versions). Sees class differences that are phase-locked to the sequence start (class-mean
      waveforms); blind to random-phase content: two classes of sinusoids at different frequencies
      with random phases have mu_k = 0 at every bin, so R is noise there.
    * ``"power"``: V = |Z|^2 / L, the periodogram. Phase-invariant (unchanged by circular shifts of
      any sequence); blind to class differences of sign or phase alone (e.g. y = sign(beta^T x):
      x -> -x swaps the classes and leaves every |Z|^2 unchanged). Heavy-tailed (for a Gaussian bin,
      sd = mean), so with within-class spread R saturates at 1/3 for a large power ratio.
    * ``"log-power"``: V = log(|Z|^2 / L + eps) (eps: :data:`LOG_POWER_EPS` times the channel's
      mean power). Phase-invariant like ``"power"``, with a within-class variance that does not
      grow with the level (pi^2/6 for a Gaussian bin), so R measures class separation in noise
      units and tends to 1 for large power ratios; invariant to rescaling X.
    * ``"combined"`` (default): max(R_coefficient, R_log-power) per bin. A bin is discriminative if
      either its phase-locked mean or its power differs between classes.

    Why ``"combined"`` is the default: each single feature is blind to a case that occurs in
    practice -- phase-locked class templates (aligned series, the E1 linear tasks y = sign(beta^T x),
    where the power kinds give R ~ 0 by the symmetry above) and unaligned oscillatory events (where
    the coefficient kind gives noise); the maximum sees both. Its cost is a higher noise floor: for
    K classes without signal each ratio has mean about (K - 1)/(n - 1) and the maximum of two is
    larger by up to their spread. ``"coefficient"`` reproduces earlier results exactly. Measured on the
    training splits (mean R over bins, channel-averaged, against the mean of 5 label permutations):
    ACSF1 coefficient 0.103 (null 0.091: noise) vs log-power 0.725 (null 0.088); BasicMotions 0.080
    (null 0.078) vs 0.260 (0.087); the aligned sets go the other way, digits 0.295 vs 0.228 (nulls
    0.007), ItalyPowerDemand 0.123 vs 0.071 (0.018 / 0.014); combined 0.725, 0.268, 0.304, 0.150.

    Conventions: a class with one sample contributes its deviation to ``between`` and nothing to
    ``within`` (allowed; with few samples per class R is biased upward, by about (K - 1)/(n - 1)
    for K classes and no signal). A bin whose feature is constant over all sequences (total
    <= 1e-12 of the channel's largest total, e.g. exactly 0) is 0/0 and is set to 0.

    Args:
        X: ``(n, L)`` or ``(n, L, d)``.
        labels: 1-D array of n class labels (any values np.unique can sort); >= 2 classes.
        kind: one of :data:`DISCRIMINATIVE_KINDS` (see above).
        detrend, reduce, grid_L: as in :func:`input_spectrum` (no Welch option: class means
            of segment coefficients would mix phases of different segments).

    Returns:
        float64 ``(F,)`` or ``(d, F)`` with values in [0, 1].
    """
    if not isinstance(kind, str) or kind not in DISCRIMINATIVE_KINDS:
        raise ValueError(f"kind: expected one of {DISCRIMINATIVE_KINDS}, got {kind!r}")
    _check_reduce(reduce)
    detrend = _check_flag(detrend, "detrend")
    X, uni = _sequences(X, "X")
    inv, k = _labels(labels, X.shape[0])
    Z, M = _fourier(X, None, detrend)  # (n, d, F)
    R = None
    if kind in ("coefficient", "combined"):
        R = _fisher_ratio(Z, inv, k)
    if kind != "coefficient":
        P = check_result(Z.real**2 + Z.imag**2, "X", "the periodogram")
        Rp = _fisher_ratio(P if kind == "power" else _log_power(P), inv, k)
        R = Rp if R is None else torch.maximum(R, Rp)
    return _finish(R, uni, reduce, M, grid_L)


# ----------------------------------------------------------------------------- loss
def _spectrum_arg(S, name: str) -> torch.Tensor:
    t = as_tensor(S, name, complex_ok=False)
    if t.dim() < 1 or t.shape[-1] < 1:
        raise ValueError(f"{name}: expected a spectrum of shape (..., F), got {tuple(t.shape)}")
    check_finite(t, name)
    if t.numel() and bool((t < 0).any()):
        raise ValueError(f"{name}: expected a power spectrum (values >= 0), found min {float(t.min()):.6g}")
    return t


def spectral_matching_loss(S_model, S_task) -> torch.Tensor:
    """L_spec = || S_m / ||S_m|| - S_t / ||S_t|| ||^2, summed over the last (frequency) axis.

    Both arguments are power spectra on the same grid, shape ``(..., F)``; leading dims
    broadcast, and the result has the broadcast leading shape (a scalar for 1-D inputs).
    Differentiable in torch (autograd flows to either argument). Equals 2 - 2 cos(S_m, S_t),
    so it is scale-invariant, 0 iff the spectra are proportional, and in [0, 2] for the
    non-negative spectra accepted here (<= 4 in general).

    Raises:
        ValueError: non-finite or negative values, mismatched frequency axes, or a spectrum
            that is identically zero along the frequency axis (its direction is undefined).
    """
    Sm = _spectrum_arg(S_model, "S_model")
    St = _spectrum_arg(S_task, "S_task")
    if Sm.shape[-1] != St.shape[-1]:
        raise ValueError(f"S_model, S_task: frequency axes differ ({Sm.shape[-1]} vs {St.shape[-1]} bins)")
    try:
        torch.broadcast_shapes(Sm.shape, St.shape)
    except RuntimeError as exc:
        raise ValueError(
            f"S_model, S_task: shapes {tuple(Sm.shape)} and {tuple(St.shape)} do not broadcast"
        ) from exc
    dtype = torch.promote_types(Sm.dtype, St.dtype)
    Sm, St = Sm.to(dtype), St.to(dtype=dtype, device=Sm.device)
    # Rescale by the (detached) row maximum before taking norms, so spectra as small as 1e-300
    # or as large as 1e300 neither underflow nor overflow. The loss is invariant to positive
    # rescaling, so treating the scale as a constant leaves value and gradient unchanged.
    mm = Sm.detach().amax(-1, keepdim=True)
    mt = St.detach().amax(-1, keepdim=True)
    for mx, name in ((mm, "S_model"), (mt, "S_task")):
        if bool((mx == 0).any()):
            raise ValueError(
                f"{name}: expected a spectrum that is not identically zero along the frequency axis"
            )
    Sm, St = Sm / mm, St / mt
    nm = torch.linalg.vector_norm(Sm, dim=-1, keepdim=True)
    nt = torch.linalg.vector_norm(St, dim=-1, keepdim=True)
    return ((Sm / nm - St / nt) ** 2).sum(-1)
