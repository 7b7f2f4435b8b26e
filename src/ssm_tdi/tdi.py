"""Task-Dependent Initialization (TDI, docs/claims.md C5): match an SSM layer's power response to S_task.

For every channel h of a :class:`ssm_tdi.layers.DiagonalSSM`, the model spectrum is
S_model,h(w_j) = |H_L,h(w_j)|^2 on the rfft grid w_j = 2 pi j / L, j = 0..L//2 (the exact
length-L DFT of the channel's kernel, ``= |rfft(layer.kernel(L))|^2 = layer.power_spectrum(L)``),
and the loss is L_spec,h = || S_model,h/||S_model,h|| - S_task,h/||S_task,h|| ||^2, reported per
channel and as the mean over channels. A channel whose kernel is identically zero has
no direction; it is scored L_spec = 2 (the value for orthogonal spectra). Reported losses
are evaluated in float64 from the layer's stored parameters (exact for those parameters; a
float32 layer's complex64 kernel differs only by rounding).

Methods of :func:`tdi_init`
---------------------------
``"gradient"`` (the plain baseline): Adam on mean_h L_spec,h w.r.t. the layer's SSM
parameters (log_dt, log_A_real, A_imag, B, C), S_model computed as
``|rfft(kernels.ssm_kernel)|^2`` (``backend="fft"``, default) or through
``kernels.discretize`` and ``kernels.power_response`` (``backend="response"``, the closed-form
H_L: the same numbers, slower), a fixed number of steps; each channel keeps its best iterate.

``"fast"`` (default): the spectral-factor / matrix-pencil / Levenberg-Marquardt solver of
:mod:`ssm_tdi.tdi_fast` on the discrete poles lam and residues c = C Bbar, then mapped back
to the layer's continuous parameters with the layer's own step dt (unchanged; ``dt_mode``):
ZOH a = log(lam)/dt (principal log, so dt |Im a| <= pi: never aliased), bilinear
a = (2/dt)(lam - 1)/(lam + 1); B = 1; C = c / Bbar with Bbar from ``kernels.discretize``.
Poles satisfy min_radius <= |lam| <= max_radius = exp(-0.5/L) (< 1 with a margin: the
slowest mode decays by e^{-1/2} over the L samples, like an S4D mode at dt_min), so Re a < 0.

Gain. L_spec is scale-invariant, so the kernel scale is free; ``gain="preserve"`` (default)
rescales each channel's new kernel to the l2 norm of its old kernel (the layer's gain for
white input is unchanged by TDI); ``gain="unit"`` sets ||K_h||_2 = 1. D is never touched.

Channel diversity (``diversity=``). H identical channels waste the layer (for a univariate
input every channel would compute the same feature up to scale). With ``"phase"`` (default),
the channels that share one target spectrum are spread over ``n_phases`` (default 8)
rotations alpha_p = 2 pi p / n_phases (assignment randomised by ``seed``): channel i of the
group gets a kernel whose DFT is the prototype's times e^{i alpha phi(w)} (phi: a taper that
is 0 at w = 0, pi and 1 in between; alpha = pi is a sign flip, alpha = pi/2 a quadrature
partner), refitted by :func:`ssm_tdi.tdi_fast.phase_variants`. The power spectrum is invariant
under the rotation, so every channel still matches S_task, while kernels a quarter turn apart
are (nearly) uncorrelated; the report's ``kernel_cosine`` measures it (about 0.6 for 8 phases
on band-pass targets, 1.0 with ``"none"``). A variant whose robust loss (L_spec after a 3e-7
relative parameter perturbation, i.e. what survives float32 storage) exceeds
max(diversity_tol, prototype's robust loss) falls back to the prototype with the variant's
sign. Channels with distinct target rows are already different and get no rotation.
``"none"``: every channel sharing a spectrum gets the identical prototype (best loss).
Measured cost (before the active-mode cap; current numbers: benchmarks/RESULTS.md)
at H = 256, N = 64, L = 1024 (named spectra: low/high-pass, one band, two bands,
flat, 1/f + resonances): mean L_spec 1e-10..2e-6 with ``"none"`` versus 3e-9..7e-6 (worst
channel 2e-5) with ``"phase"``; fit time 0.12-0.2 s versus 0.4-0.8 s (the variant refits are a
fixed cost per distinct spectrum, independent of H). Kernel |cosine| between channels: 1.0
(``"none"``) versus ~0.6 for band-pass and high-pass targets and ~0.8 for low-pass. Limits:
flat spectra (a spike kernel; rotations need long all-pass tails) and steep 1/f spectra (DC
dominated; the rotations do not survive the float32 robustness test) fall back to the
prototype, so their channels are identical up to sign.

Safety. Whatever the method, a channel whose L_spec after TDI is larger than before is
restored bit-exactly to its previous parameters (counted in ``TDIReport.n_reverted``), so
L_spec never gets worse.

Pipeline (one function per step). :func:`apply_tdi` 1. estimates S_task from the training data or from
what the layer sees (``_first_spectrum`` / ``_per_layer``, ``_estimate``); :func:`tdi_init` 2. shapes the
target (``_shape_rows``: ``targets.shape_target`` tempering / flat mix / floor, ``targets.channel_bank``
bands, the ``default_fraction`` channel mask), 3. fits (``_fit_fast`` or ``_fit_gradient``), 4. maps the
fit to the layer's parameters (``_write_fit``: gain, dt choice, continuous A, C), 5. checks and reports
(``_revert_worse``, ``_report``); :func:`apply_tdi` finally sets what training may do to the fitted
layers' dynamics (``_treat_dynamics``).

Surviving training (issue 11). The fitted modes are narrow (|lam| up to exp(-0.5/L)), so a relative
change of 1e-3 in their angle, which ONE Adam step on log_dt makes (d log(lam) = log(lam) d log(dt)
under ZOH, whatever the split between dt and A), moves a peak by several of its widths.
Measured (``benchmarks/tdi_persistence.py``; ACSF1 at 25%, the E3 model, recipe v1 = 80 AdamW steps with
``layers.param_groups``, seed 0 [seed 1 where run]; first-layer L_spec between the spectrum after ONE step /
after training and the initial one, and the kernel effective rank at init -> after training):

    ===========================  ========  ================  ==============
    first layer                  one step  after training    effective rank
    ===========================  ========  ================  ==============
    S4D-Lin, trained (default)   0.0037    0.39              52.5 -> 50.6
    S4D-Lin, dynamics frozen     0.0004    0.105             52.5 -> 50.8
    TDI, trained (dt kept)       0.61      1.87              2.95 -> 11.4
    TDI, dt_mode="s4d"           0.61      1.82              2.94 -> 12.4
    TDI, dt_mode="unit"          1.28      1.90              2.94 -> 42.2
    TDI, dynamics lr x0.1        0.23      0.65              2.95 -> 6.1
    TDI, dynamics lr x0.01       0.084     0.22              2.95 -> 12.1
    TDI, only log_dt frozen      0.060     0.22              2.95 -> 11.0
    TDI, dynamics frozen         0.0025    0.097 [0.079]     2.95 -> 17.0
    ===========================  ========  ================  ==============

With the current E3 recipe (v2: 300 steps, ``--recipe v2``), after training: TDI frozen 0.182 and 0.130
(seeds 0, 1; rank 2.95 -> 19.1, 2.77 -> 17.6), TDI trained 1.94, S4D-Lin trained 0.496 and frozen 0.172
(seed 0).

So the split between dt and A does not matter (``dt_mode``: as derived above; ``"unit"`` is worse because an
A_imag step of 1e-3 is then 1e-3 rad), a lower dynamics learning rate only slows the drift, and only frozen
dynamics keep the fit (L_spec < 0.2; what still moves it is C, which trains). Frozen dynamics are therefore
the default of :func:`apply_tdi` (``dynamics="freeze"``); the same treatment for a default-init layer is
``layers.freeze_dynamics``. The kernel effective rank grows during training (C mixes the modes) but stays far
below the default's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import diagnostics, kernels, spectra, targets, tdi_fast
from ._validate import as_tensor, check_int, check_length, check_real, check_seed, numeric_tensor
from .layers import DiagonalSSM, freeze_dynamics, set_dynamics_lr_scale

__all__ = ["TDIReport", "tdi_init", "apply_tdi", "layer_spectrum_loss", "SPECTRUM_SOURCES", "BANKS", "DT_MODES"]

_METHODS = ("fast", "gradient")
_DIVERSITY = ("phase", "none")
_ESTIMATORS = ("input", "transfer", "discriminative")
_LAYER_MODES = ("first", "per-layer", "composite")
#: how the fitted discrete modes are split into a step dt and a continuous A (see the module docstring)
DT_MODES = ("keep", "s4d", "unit")
#: where apply_tdi takes the spectrum from
SPECTRUM_SOURCES = ("data", "layer-input")
#: channel-bank designs of tdi_init (``targets.channel_bank``)
BANKS = ("identical", "bands")
_SEQ_CHUNK = 64  # sequences per forward pass when apply_tdi computes layer inputs


@dataclass
class TDIReport:
    """Outcome of one :func:`tdi_init` call (one layer).

    Losses are L_spec per channel ``(H,)`` (float64, CPU) against the target each channel was matched to
    (after shaping and bank design), and their means. ``max_abs_lam`` is the largest discrete pole modulus
    after TDI (< 1: stable), ``n_aliased`` the number of modes with dt |Im a| > pi, ``n_reverted`` the
    channels restored to their previous parameters because the new fit was not better, ``kernel_cosine``
    the mean |cosine similarity| between the kernels of distinct channels (1: all channels identical up
    to sign, and 1.0 for a single channel), ``kernel_effective_rank`` / ``kernel_effective_rank_before``
    the effective rank of the H x L kernel matrix after / before TDI
    (``diagnostics.kernel_effective_rank``: 1 = one response for all channels; NaN for an all-zero
    kernel matrix), ``residue_ratio`` (median, max) over channels of sum_n |c_n| / ||K_h||_2 with
    c_n = C_n Bbar_n at the written parameters (~1: modes add up; >> 1: a cancellation of large modes
    that float32 storage and training steps do not preserve), ``n_default_channels`` the channels left at
    their previous (default) init by ``default_fraction``, ``target_spectrum`` the (F,) or (H, F) spectrum
    before shaping (set by :func:`apply_tdi`: the S_task estimate it matched), ``input_dc_share`` (set by
    :func:`apply_tdi`) the DC share (``diagnostics.dc_share``) of the spectrum of what the layer sees,
    before centring, ``spectrum_source`` where that spectrum came from, ``dynamics`` what training may do
    to the layer's log_dt, A, B (``"trained"``, ``"frozen"`` or ``"lr x<scale>"``), ``timings`` seconds
    per phase, ``history`` (gradient method) one tuple (step, seconds since the first step, mean L_spec of
    the iterate, mean of the per-channel best so far) per Adam step.
    """

    method: str
    L: int
    H: int
    N2: int
    loss_before: torch.Tensor
    loss_after: torch.Tensor
    loss_before_mean: float
    loss_after_mean: float
    seconds: float
    max_abs_lam: float
    n_aliased: int
    n_reverted: int
    dt_min: float
    dt_max: float
    diversity: str
    n_unique_spectra: int
    iterations: int
    kernel_cosine: float
    residue_ratio: tuple = (float("nan"), float("nan"))
    timings: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    history: list = field(default_factory=list)
    layer_index: int | None = None
    estimator: str | None = None
    target: str = "S_task"
    target_spectrum: torch.Tensor | None = None
    kernel_effective_rank: float = float("nan")
    kernel_effective_rank_before: float = float("nan")
    dt_mode: str = "keep"
    bank: str = "identical"
    n_default_channels: int = 0
    spectrum_source: str | None = None
    input_dc_share: float = float("nan")
    dynamics: str = "trained"

    def summary(self) -> str:
        where = "" if self.layer_index is None else f"layer {self.layer_index}: "
        return (
            f"{where}TDI[{self.method}] H={self.H} N2={self.N2} L={self.L}: L_spec "
            f"{self.loss_before_mean:.3e} -> {self.loss_after_mean:.3e} in {self.seconds:.3f}s, "
            f"max|lam|={self.max_abs_lam:.6f}, aliased={self.n_aliased}, reverted={self.n_reverted}, "
            f"kernel |cos|={self.kernel_cosine:.3f}, effective rank {self.kernel_effective_rank_before:.3g} -> "
            f"{self.kernel_effective_rank:.3g}, residue ratio med/max="
            f"{self.residue_ratio[0]:.3g}/{self.residue_ratio[1]:.3g}"
        )


# ============================================================================= layer measurements
def _task_spectrum(S_task, H: int, L) -> tuple[torch.Tensor, int]:
    """Validate S_task -> float64 (H, F) with every row scaled to max 1, and the sequence length L."""
    S = as_tensor(S_task, "S_task", complex_ok=False)
    if S.dim() not in (1, 2):
        raise ValueError(f"S_task: expected shape (F,) or (H={H}, F), got {tuple(S.shape)}")
    if S.dim() == 2 and S.shape[0] != H:
        raise ValueError(
            f"S_task: expected {H} rows (one per channel) or a 1-D spectrum, got shape {tuple(S.shape)}"
        )
    F = S.shape[-1]
    if F < 2:
        raise ValueError(f"S_task: expected at least 2 frequency bins (L >= 2), got {F}")
    S = S.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(S).all()):
        raise ValueError("S_task: expected finite values, found NaN or inf")
    if bool((S < 0).any()):
        raise ValueError(f"S_task: expected a power spectrum (values >= 0), found min {float(S.min()):.6g}")
    if S.dim() == 1:
        S = S.unsqueeze(0).expand(H, F)
    zero = (S.amax(-1) == 0).nonzero().flatten()
    if zero.numel():
        raise ValueError(
            f"S_task: expected a spectrum that is not identically zero; rows {zero.tolist()[:8]} are all zero"
        )
    # L_spec is scale-invariant: rescale every row to max 1 so that norms of spectra as
    # extreme as 1e300 or 1e-300 neither overflow nor underflow
    S = S / S.amax(-1, keepdim=True)
    if L is None:
        L = 2 * (F - 1)
    else:
        L = check_length(L, "L")
        if L // 2 + 1 != F:
            raise ValueError(f"L: a length-{L} rfft grid has {L // 2 + 1} bins, but S_task has {F}")
    return S.contiguous(), L


def _discrete64(layer):
    """(lam, Bbar, C) of the layer's stored parameters, in float64 on the CPU."""
    with torch.no_grad():
        A = torch.complex(-torch.exp(layer.log_A_real.detach().double()), layer.A_imag.detach().double()).cpu()
        B = torch.view_as_complex(layer.B.detach().double().contiguous()).cpu()
        C = torch.view_as_complex(layer.C.detach().double().contiguous()).cpu()
        dt = torch.exp(layer.log_dt.detach().double()).cpu().unsqueeze(-1)
        lam, Bbar = kernels.discretize(A, B, dt, method=layer.discretization)
    return lam, Bbar, C


def _layer_kernel_power(layer, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K (H, L), |rfft(K)|^2 (H, F)) of the layer's stored parameters, evaluated in float64.

    |rfft(K)|^2 = |H_L(w_j)|^2 = ``layer.power_spectrum(L)`` (exact identity). The float64
    evaluation is exact for the parameters as stored; a float32 layer's own complex64 kernel
    differs from it by rounding only.
    """
    lam, Bbar, C = _discrete64(layer)
    with torch.no_grad():
        K = kernels.ssm_kernel(lam, Bbar, C, L)
    Kh = torch.fft.rfft(K)
    return K, Kh.real**2 + Kh.imag**2


def _layer_residue_ratio(layer, L: int) -> tuple[float, float]:
    """(median, max) over channels of sum_n |C_n Bbar_n| / ||K_h||_2 (float64, stored parameters)."""
    lam, Bbar, C = _discrete64(layer)
    with torch.no_grad():
        r = tdi_fast.residue_ratio(lam, C * Bbar, L)
    return float(r.median()), float(r.max())


def layer_spectrum_loss(layer, S_task, L: int | None = None) -> torch.Tensor:
    """Per-channel L_spec ``(H,)`` of ``layer`` against S_task ((F,) or (H, F)); 2 for a zero kernel."""
    S, L = _task_spectrum(S_task, layer.d_model, L)
    _, P = _layer_kernel_power(layer, L)
    return tdi_fast.loss_of(P, S)


def _snapshot(layer) -> dict:
    return {
        name: getattr(layer, name).detach().clone() for name in ("log_dt", "log_A_real", "A_imag", "B", "C")
    }


@torch.no_grad()
def _restore(layer, snap: dict, idx: torch.Tensor) -> None:
    """Bit-exact restore of the SSM parameters of channels ``idx``."""
    for name, val in snap.items():
        p = getattr(layer, name)
        i = idx.to(p.device)
        p.index_copy_(0, i, val.index_select(0, i))


def _kernel_cosine(K: torch.Tensor) -> float:
    H = K.shape[0]
    if H < 2:  # one channel: no distinct pair, reported as "all channels identical" (1.0)
        return 1.0
    n = K.norm(dim=-1, keepdim=True)
    Kn = torch.where(n > 0, K / n.clamp_min(1e-300), torch.zeros_like(K))
    G = (Kn @ Kn.T).abs()
    return float((G.sum() - G.diagonal().sum()) / (H * (H - 1)))


def _effective_rank(K: torch.Tensor) -> float:
    """``diagnostics.kernel_effective_rank`` of (H, L) kernels; NaN when every kernel is zero."""
    return diagnostics.kernel_effective_rank(K) if bool((K != 0).any()) else float("nan")


# ============================================================================= step 2: shape the target
def _shape_target(S: torch.Tensor, *, gamma, flat_mix, target_floor, bank, seed) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, F) rows each channel is fitted to (max 1) and (H,) relative kernel energies.

    Tempering / flat mix / floor (``targets.shape_target``) act on every row. ``bank="bands"`` splits the
    one shared spectrum over the channels (``targets.channel_bank``): row h is S seen through channel h's
    band, and its share of the total power is the channel's kernel energy (so sum_h |H_h|^2 follows S).
    ``"identical"`` keeps the rows and gives every channel the same energy.
    """
    H = S.shape[0]
    if (gamma, flat_mix, target_floor) != (1.0, 0.0, 0.0):
        S = targets.shape_target(S, gamma=gamma, flat_mix=flat_mix, floor=target_floor)
    energy = torch.ones(H, dtype=torch.float64)
    if bank == "bands":
        if H > 1 and not bool((S == S[:1]).all()):
            raise ValueError("bank: 'bands' splits one spectrum over the channels; S_task has distinct rows")
        S = targets.channel_bank(S[0], H, design="bands", seed=seed)
        energy = S.sum(-1) / S.sum(-1).mean()
    return S / S.amax(-1, keepdim=True), energy


def _fitted_channels(H: int, default_fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of the channels TDI fits; round(default_fraction * H) seeded channels keep their init."""
    n_default = int(round(default_fraction * H))
    if n_default == 0:
        return torch.arange(H)
    gen = torch.Generator().manual_seed(int(seed) + 7919)  # a stream of its own (not the phase assignment)
    return torch.randperm(H, generator=gen)[: H - n_default].sort().values


# ============================================================================= step 3: fit (fast)
@dataclass
class _Options:
    """tdi_init's validated options (one place for every check)."""

    method: str
    diversity: str
    steps: int
    lr: float
    seed: int
    refine_steps: int
    n_phases: int
    diversity_tol: float
    floor: float
    min_radius: float
    max_radius: float | None
    tol: float
    backend: str
    gain: str
    callback: object
    dt_mode: str
    gamma: float
    flat_mix: float
    target_floor: float
    bank: str
    default_fraction: float


def _check_options(**kw) -> _Options:
    """Every tdi_init option checked; ValueError naming the argument (TypeError for a non-callable callback)."""
    for name, options in (("method", _METHODS), ("diversity", _DIVERSITY), ("backend", ("response", "fft")),
                          ("gain", ("preserve", "unit")), ("dt_mode", DT_MODES), ("bank", BANKS)):
        if not isinstance(kw[name], str) or kw[name] not in options:
            raise ValueError(f"{name}: expected one of {options}, got {kw[name]!r}")
    for name in ("refine_steps", "steps", "n_phases"):
        kw[name] = check_int(kw[name], name, 0)
    kw["lr"] = check_real(kw["lr"], "lr", minimum=0.0, strict_min=True)
    kw["seed"] = check_seed(kw["seed"])
    kw["tol"] = check_real(kw["tol"], "tol", minimum=0.0)
    kw["diversity_tol"] = check_real(kw["diversity_tol"], "diversity_tol", minimum=0.0)
    # floor: the relative floor of S_task before its logarithm (0 would give log 0 = -inf)
    kw["floor"] = check_real(kw["floor"], "floor", minimum=0.0, maximum=1.0, strict_min=True)
    kw["min_radius"] = check_real(kw["min_radius"], "min_radius")
    if kw["max_radius"] is not None:
        kw["max_radius"] = check_real(kw["max_radius"], "max_radius")
    kw["gamma"] = check_real(kw["gamma"], "gamma", minimum=0.0, strict_min=True)
    kw["flat_mix"] = check_real(kw["flat_mix"], "flat_mix", minimum=0.0, maximum=1.0)
    kw["target_floor"] = check_real(kw["target_floor"], "target_floor", minimum=0.0, maximum=1.0)
    kw["default_fraction"] = check_real(kw["default_fraction"], "default_fraction", minimum=0.0, maximum=1.0)
    if kw["callback"] is not None and not callable(kw["callback"]):
        raise TypeError(f"callback: expected None or a callable(step, total_steps, loss), got {kw['callback']!r}")
    return _Options(**kw)


class _FewThreads:
    """Run a block with one intra-op thread when the batch is small.

    The fast solver works on a handful of rows of small tensors; there intra-op
    parallelism only adds synchronisation (measured 2-4x slower with 2 threads on a busy
    2-core machine). The previous thread count is restored on exit.
    """

    def __init__(self, rows: int, limit: int = 16):
        self.active = rows <= limit
        self.saved = None

    def __enter__(self):
        if self.active:
            self.saved = torch.get_num_threads()
            if self.saved != 1:
                torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.active and self.saved is not None and self.saved != 1:
            torch.set_num_threads(self.saved)
        return False


def _phase_assignment(inv: torch.Tensor, n_unique: int, n_phases: int, seed: int):
    """Channels sharing prototype u get rotations alpha_p = 2 pi p / n_phases (seeded order).

    Returns ({(u, alpha): [channels]} for 0 < alpha < pi, signs (H,)): alpha >= pi is a sign flip of
    alpha - pi; alpha = 0 is the prototype itself.
    """
    gen = torch.Generator().manual_seed(int(seed))
    sign = torch.ones(inv.numel(), dtype=torch.float64)
    want: dict = {}
    for u in range(n_unique):
        members = (inv == u).nonzero().flatten()
        if members.numel() < 2:
            continue
        members = members[torch.randperm(members.numel(), generator=gen)]
        for i, h in enumerate(members.tolist()):
            alpha = 2 * math.pi * (i % n_phases) / n_phases
            if alpha >= math.pi - 1e-12:
                sign[h] = -1.0
                alpha -= math.pi
            if alpha > 1e-12:
                want.setdefault((u, round(alpha, 12)), []).append(h)
    return want, sign


def _fit_phase_variants(want: dict, lam_u, c_u, U, info, L: int, o: _Options):
    """Refit the wanted (prototype, alpha) rotations; returns (lam_v, c_v, accepted (V,) bool, keys)."""
    keys = sorted(want)
    us = torch.tensor([k[0] for k in keys])
    alphas = torch.tensor([k[1] for k in keys], dtype=torch.float64)
    accept = torch.clamp(info["robust_loss"][us], min=o.diversity_tol)
    lam_v, c_v, _, rob_v = tdi_fast.phase_variants(
        lam_u[us], c_u[us], U[us], alphas, L, steps=o.refine_steps, tol=o.tol, min_radius=o.min_radius,
        max_radius=o.max_radius, accept=accept, n_active=info["n_active"][us],
    )
    # a variant must also stay as well conditioned as the fitted prototypes allow
    ratio_cap = torch.clamp(info["residue_ratio"][us], min=100.0)
    ok = (rob_v <= accept) & (tdi_fast.residue_ratio(lam_v, c_v, L) <= ratio_cap)
    return lam_v, c_v, ok, keys


def _fit_fast(S: torch.Tensor, N2: int, L: int, o: _Options, timings: dict):
    """Fast fit of the rows S (R, F): (lam (R, N2), c (R, N2), kernel norms (R,), iterations, n_unique, notes).

    Each distinct row is fitted once (``tdi_fast.fit_spectra``); with ``diversity="phase"`` the rows that
    share it get phase-rotated variants (same |H|^2, decorrelated kernels) or the prototype with a sign.
    """
    t0 = time.perf_counter()
    U, inv = torch.unique(S, dim=0, return_inverse=True)
    lam_u, c_u, _, info = tdi_fast.fit_spectra(U, N2, L, floor=o.floor, steps=o.refine_steps, tol=o.tol,
                                               min_radius=o.min_radius, max_radius=o.max_radius)
    timings["prototype_fit"] = time.perf_counter() - t0
    slot_lam, slot_c, chan_slot = [lam_u], [c_u], inv.clone()
    sign = torch.ones(S.shape[0], dtype=torch.float64)
    notes = []
    if o.diversity == "phase" and o.n_phases > 1:
        t1 = time.perf_counter()
        want, sign = _phase_assignment(inv, U.shape[0], o.n_phases, o.seed)
        if want:
            lam_v, c_v, ok, keys = _fit_phase_variants(want, lam_u, c_u, U, info, L, o)
            slot_lam.append(lam_v)
            slot_c.append(c_v)
            for j, key in enumerate(keys):
                if bool(ok[j]):
                    chan_slot[want[key]] = U.shape[0] + j
            if int((~ok).sum()):
                notes.append(
                    f"{int((~ok).sum())} of {len(keys)} phase variants exceeded max(diversity_tol, prototype's "
                    "robust loss) or max(100, prototype's residue ratio) and fell back to the prototype (with sign)"
                )
        timings["phase_variants"] = time.perf_counter() - t1
    lam_s, c_s = torch.cat(slot_lam), torch.cat(slot_c)
    # kernel norms per fitted slot (few), not per channel (H): for the gain rescaling
    norm_s = kernels.ssm_kernel(lam_s, torch.ones_like(c_s), c_s, L).norm(dim=-1)
    lam, c = lam_s[chan_slot], c_s[chan_slot] * sign.unsqueeze(-1)
    return lam, c, norm_s[chan_slot], int(info["iterations"]), int(U.shape[0]), notes


# ============================================================================= step 3: fit (gradient baseline)
def _model_power(params: dict, method: str, backend: str, omega, L: int) -> torch.Tensor:
    """|H_L(w_j)|^2 (H, F) of raw layer parameters, differentiable (ValueError if they left the finite range)."""
    A = torch.complex(-torch.exp(params["log_A_real"]), params["A_imag"])
    B, C = torch.view_as_complex(params["B"]), torch.view_as_complex(params["C"])
    lam, Bbar = kernels.discretize(A, B, torch.exp(params["log_dt"]).unsqueeze(-1), method=method)
    if backend == "response":
        return kernels.power_response(lam, Bbar, C, omega, L)
    Kh = torch.fft.rfft(kernels.ssm_kernel(lam, Bbar, C, L))
    return Kh.real**2 + Kh.imag**2


def _fit_gradient(layer, S, L, o: _Options, history: list):
    """Adam on mean_h L_spec,h over every channel; each channel keeps its best iterate.

    Returns (A, B, C, dt, steps done) of the best iterates (complex128 / float64, all H channels).
    """
    dev, dtype = layer.log_dt.device, layer.log_dt.dtype
    params = {k: v.detach().clone().to(dev).requires_grad_(True) for k, v in _snapshot(layer).items()}
    opt = torch.optim.Adam(list(params.values()), lr=o.lr)
    St = S.to(device=dev, dtype=dtype)
    omega = kernels.rfft_grid(L, dtype=dtype, device=dev)
    best_loss = torch.full((S.shape[0],), float("inf"), dtype=torch.float64)
    best = {k: v.detach().clone() for k, v in params.items()}
    done, t0 = 0, time.perf_counter()
    for _ in range(o.steps):
        try:
            Sm = _model_power(params, layer.discretization, o.backend, omega, L)
        except ValueError:  # parameters left the finite range: stop, keep the best iterate
            break
        nm, nt = Sm.norm(dim=-1, keepdim=True), St.norm(dim=-1, keepdim=True)
        loss_h = ((Sm / nm.clamp_min(1e-30) - St / nt) ** 2).sum(-1)
        lh = loss_h.detach().to("cpu", torch.float64)
        if not bool(torch.isfinite(lh).all()):
            break
        history.append((done, time.perf_counter() - t0, float(lh.mean()), float(torch.minimum(best_loss, lh).mean())))
        idx = (lh < best_loss).nonzero().flatten()
        if idx.numel():
            best_loss[idx] = lh[idx]
            for k in best:
                best[k][idx.to(dev)] = params[k].detach()[idx.to(dev)]
        opt.zero_grad(set_to_none=True)
        loss_h.mean().backward()
        opt.step()
        done += 1
        if o.callback is not None:
            o.callback(done, o.steps, float(lh.mean()))
    A = torch.complex(-torch.exp(best["log_A_real"]), best["A_imag"]).to(torch.complex128)
    B = torch.view_as_complex(best["B"].contiguous()).to(torch.complex128)
    C = torch.view_as_complex(best["C"].contiguous()).to(torch.complex128)
    return A, B, C, torch.exp(best["log_dt"]).to(torch.float64), done


# ============================================================================= step 4: map to parameters
def _to_continuous(lam: torch.Tensor, c: torch.Tensor, dt: torch.Tensor, method: str):
    """Discrete (lam, c) -> continuous (A, B = 1, C) for step dt (rows,) so that discretize(A, B, dt)
    gives back lam and C * Bbar = c."""
    dtc = dt.to(torch.float64).unsqueeze(-1)
    if method == "zoh":
        A = torch.log(lam) / dtc
    elif method == "bilinear":
        A = (2.0 / dtc) * (lam - 1) / (lam + 1)
    else:
        raise ValueError(f"layer.discretization: expected 'zoh' or 'bilinear', got {method!r}")
    B = torch.ones_like(A)
    _, Bbar = kernels.discretize(A, B, dtc, method=method)
    return A, B, c / Bbar


def _choose_dt(lam: torch.Tensor, dt_layer: torch.Tensor, dt_mode: str) -> torch.Tensor:
    """The step dt (rows,) the fitted modes are written with (the discrete kernel is the same for all).

    ``"keep"``: the layer's own dt; ``"s4d"``: dt_h = max_n |log lam_hn| / (pi N2), so the channel's
    fastest mode has |a| = pi N2 (S4D-Lin's largest |Im a|); ``"unit"``: dt = 1 (A = log lam).
    """
    if dt_mode == "keep":
        return dt_layer.to(torch.float64)
    if dt_mode == "s4d":
        return (torch.log(lam).abs().amax(-1) / (math.pi * lam.shape[-1])).clamp_min(1e-12)
    return torch.ones(lam.shape[0], dtype=torch.float64)


def _target_norms(K_before: torch.Tensor, energy: torch.Tensor, gain: str) -> torch.Tensor:
    """Kernel l2 norm each fitted channel gets: its old norm ("preserve", median for a zero kernel) or 1
    ("unit"), times sqrt of its relative energy (1 unless a band bank shares S's power out)."""
    if gain == "preserve":
        old = K_before.norm(dim=-1)
        ok = (old > 0) & torch.isfinite(old)
        fallback = old[ok].median() if bool(ok.any()) else torch.tensor(1.0, dtype=torch.float64)
        base = torch.where(ok, old, fallback)
    else:
        base = torch.ones(K_before.shape[0], dtype=torch.float64)
    return base * energy.sqrt()


def _write_fit(layer, idx, lam, c, norms_now, norms_want, dt_mode: str) -> None:
    """Scale the fitted kernels to ``norms_want`` and write channels ``idx`` (A, B = 1, C, dt)."""
    scale = torch.where(norms_now > 0, norms_want / norms_now.clamp_min(1e-300), torch.ones_like(norms_now))
    c = c * scale.unsqueeze(-1)
    dt = _choose_dt(lam, layer.dt().detach().to("cpu", torch.float64)[idx], dt_mode)
    A, B, C = _to_continuous(lam, c, dt, layer.discretization)
    layer.set_parameters(A=A, B=B, C=C, dt=dt, channels=idx)


# ============================================================================= step 5: check and report
def _revert_worse(layer, snap: dict, S: torch.Tensor, L: int, loss_before: torch.Tensor):
    """Restore (bit-exactly) every channel whose L_spec got worse; returns (K, loss_after, n_reverted)."""
    K, P = _layer_kernel_power(layer, L)
    loss = tdi_fast.loss_of(P, S)
    worse = (~(loss <= loss_before)).nonzero().flatten()
    if worse.numel():
        _restore(layer, snap, worse)
        K, P = _layer_kernel_power(layer, L)
        loss = tdi_fast.loss_of(P, S)
    return K, loss, int(worse.numel())


def _report(layer, o: _Options, L, loss_before, loss_after, K_before, K_after, **kw) -> TDIReport:
    with torch.no_grad():
        lam = layer.discrete()[0].detach()
        dts = layer.dt().detach()
        n_alias = int((dts.unsqueeze(-1) * layer.A_imag.detach().abs() > math.pi).sum())
    return TDIReport(
        method=o.method, L=L, H=layer.d_model, N2=layer.N2, loss_before=loss_before, loss_after=loss_after,
        loss_before_mean=float(loss_before.mean()), loss_after_mean=float(loss_after.mean()),
        max_abs_lam=float(lam.abs().max()), n_aliased=n_alias, dt_min=float(dts.min()), dt_max=float(dts.max()),
        kernel_cosine=_kernel_cosine(K_after), residue_ratio=_layer_residue_ratio(layer, L),
        kernel_effective_rank=_effective_rank(K_after), kernel_effective_rank_before=_effective_rank(K_before),
        dt_mode=o.dt_mode, bank=o.bank, **kw,
    )


# ============================================================================= tdi_init: the pipeline
def tdi_init(
    layer,
    S_task,
    method: str = "fast",
    L: int | None = None,
    *,
    diversity: str = "phase",
    steps: int = 200,
    lr: float = 1e-2,
    seed: int = 0,
    refine_steps: int = 30,
    n_phases: int = 8,
    diversity_tol: float = 1e-4,
    floor: float = 1e-6,
    min_radius: float = 1e-3,
    max_radius: float | None = None,
    tol: float = 1e-10,
    backend: str = "fft",
    gain: str = "preserve",
    callback=None,
    dt_mode: str = "keep",
    gamma: float = 1.0,
    flat_mix: float = 0.0,
    target_floor: float = 0.0,
    bank: str = "identical",
    default_fraction: float = 0.0,
) -> TDIReport:
    """Initialize ``layer`` (a DiagonalSSM) in place so that |H_L,h(w_j)|^2 matches S_task.

    Steps: validate and normalise S_task; shape the target (tempering, flat mix, floor, channel bank);
    choose the channels to fit; fit (fast solver or the gradient baseline); write the parameters;
    restore any channel that got worse; report.

    Args:
        layer: :class:`ssm_tdi.layers.DiagonalSSM` (H channels, N2 modes each).
        S_task: target power spectrum on the rfft grid w_j = 2 pi j / L, j = 0..L//2:
            ``(F,)`` for every channel or ``(H, F)`` per channel; finite, >= 0, no row all zero.
        method: ``"fast"`` (spectral factor + matrix pencil + Levenberg-Marquardt, see
            :mod:`ssm_tdi.tdi_fast`) or ``"gradient"`` (Adam on L_spec, the baseline).
        L: sequence length of the grid; default 2 (F - 1) (pass it for odd L).
        diversity: ``"phase"`` (default) or ``"none"`` (fast only; see the module docstring).
        steps, lr, backend: gradient method: Adam steps, learning rate, and ``"fft"`` (default,
            |rfft(kernels.ssm_kernel)|^2) or ``"response"`` (kernels.power_response; same numbers, slower).
        seed: seeds the (random) assignment of channels to phase rotations, bands and default channels.
        refine_steps: Levenberg-Marquardt iterations of the fast method (0: pencil + least squares only).
        n_phases, diversity_tol: phase diversity: number of rotations, acceptance threshold.
        floor: relative floor of S_task before its logarithm is taken (fast method, step 1).
        min_radius, max_radius: bounds on |lam| (default max_radius = exp(-0.5 / L)).
        tol: per-row L_spec at which the Levenberg-Marquardt iterations stop.
        gain: ``"preserve"`` (keep each channel's kernel l2 norm) or ``"unit"``.
        callback: optional ``callback(step, total_steps, loss)`` called after every Adam step
            of the gradient method (step = 1..steps, loss = mean L_spec of the iterate before
            the step), e.g. for a progress display; ignored by the fast method.
        dt_mode: fast method: how the fitted discrete modes are split into dt and A (:data:`DT_MODES`;
            the kernel is the same for each): ``"keep"`` (default) the layer's own dt, ``"s4d"`` per channel
            dt with the fastest |a| = pi N2, ``"unit"`` dt = 1. ``benchmarks/tdi_persistence.py`` measured
            that none of them changes how much training moves the spectrum (see the module docstring).
        gamma, flat_mix, target_floor: target shaping (``targets.shape_target``): S^gamma (gamma < 1
            flattens the peaks), mixing with a flat spectrum, a floor relative to the peak. Defaults (1, 0, 0)
            fit S_task as it is.
        bank: ``"identical"`` (default: every channel fits the same row) or ``"bands"`` (channels keep
            distinct bands whose sum is S_task, ``targets.channel_bank``; with the fast method the kernel
            energies follow each band's share of the power). ``"bands"`` needs one shared spectrum.
        default_fraction: in [0, 1]; round(default_fraction * H) seeded channels are not fitted and keep
            their current (default) init (the "mixed" design). Default 0.

    Returns:
        :class:`TDIReport`. L_spec never increases for any channel (see Safety above).

    Raises:
        ValueError: bad method/options, or S_task all-zero, negative, non-finite or of the wrong shape.
    """
    t_start = time.perf_counter()
    if not isinstance(layer, DiagonalSSM):
        raise TypeError(f"layer: expected a ssm_tdi.layers.DiagonalSSM, got {type(layer).__name__}")
    o = _check_options(method=method, diversity=diversity, steps=steps, lr=lr, seed=seed, refine_steps=refine_steps,
                       n_phases=n_phases, diversity_tol=diversity_tol, floor=floor, min_radius=min_radius,
                       max_radius=max_radius, tol=tol, backend=backend, gain=gain, callback=callback,
                       dt_mode=dt_mode, gamma=gamma, flat_mix=flat_mix, target_floor=target_floor, bank=bank,
                       default_fraction=default_fraction)
    if o.method == "gradient" and o.dt_mode != "keep":
        raise ValueError(f"dt_mode: {o.dt_mode!r} applies to method='fast' (the gradient method fits dt itself)")
    H = int(layer.d_model)
    S, L = _task_spectrum(S_task, H, L)
    if o.max_radius is None:
        o.max_radius = math.exp(-0.5 / L)
    if not (0 < o.min_radius < o.max_radius < 1):
        raise ValueError(f"min_radius, max_radius: expected 0 < min_radius < max_radius < 1, "
                         f"got {o.min_radius!r}, {o.max_radius!r}")
    idx = _fitted_channels(H, o.default_fraction, o.seed)
    S, energy = _shape_rows(S, idx, o)
    timings: dict = {}
    t0 = time.perf_counter()
    K_before, P_before = _layer_kernel_power(layer, L)
    loss_before = tdi_fast.loss_of(P_before, S)
    snap = _snapshot(layer)
    timings["evaluate_before"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    fitted = _fit_and_write(layer, S, L, idx, energy, K_before, o, timings)
    timings["fit_total"] = time.perf_counter() - t1
    t3 = time.perf_counter()
    K_after, loss_after, n_reverted = _revert_worse(layer, snap, S, L, loss_before)
    timings["evaluate_after"] = time.perf_counter() - t3
    notes = fitted["notes"] + ([f"{n_reverted} channel(s) kept their previous parameters (new fit not better)"]
                               if n_reverted else [])
    return _report(layer, o, L, loss_before, loss_after, K_before, K_after, seconds=time.perf_counter() - t_start,
                   n_reverted=n_reverted, diversity=fitted["diversity"], n_unique_spectra=fitted["n_unique"],
                   iterations=fitted["iterations"], timings=timings, notes=notes, history=fitted["history"],
                   n_default_channels=H - int(idx.numel()))


def _shape_rows(S: torch.Tensor, idx: torch.Tensor, o: _Options) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, F) target rows (fitted channels: shaped and banked; default channels: shaped) and (rows,) energies."""
    shaped, _ = _shape_target(S, gamma=o.gamma, flat_mix=o.flat_mix, target_floor=o.target_floor,
                              bank="identical", seed=o.seed)
    if o.bank == "identical" or idx.numel() == 0:
        return shaped, torch.ones(idx.numel(), dtype=torch.float64)
    rows, energy = _shape_target(S[idx], gamma=o.gamma, flat_mix=o.flat_mix, target_floor=o.target_floor,
                                 bank=o.bank, seed=o.seed)
    shaped = shaped.clone()
    shaped[idx] = rows
    return shaped, energy


def _fit_and_write(layer, S, L, idx, energy, K_before, o: _Options, timings: dict) -> dict:
    """Fit channels ``idx`` of ``layer`` to rows S[idx] and write them; the other channels are untouched."""
    out = {"notes": [], "history": [], "diversity": o.diversity}
    if idx.numel() == 0:
        out.update(iterations=0, n_unique=0)
        out["notes"].append("default_fraction = 1: every channel kept its init")
        return out
    if o.method == "fast":
        rows = S[idx]
        n_threads_rows = int(torch.unique(rows, dim=0).shape[0]) * (1 + (o.n_phases // 2 if o.diversity == "phase"
                                                                         else 0))
        with _FewThreads(n_threads_rows):
            lam, c, norms, iterations, n_unique, notes = _fit_fast(rows, layer.N2, L, o, timings)
        _write_fit(layer, idx, lam, c, norms, _target_norms(K_before[idx], energy, o.gain), o.dt_mode)
        out.update(iterations=iterations, n_unique=n_unique, notes=notes)
        return out
    A, B, C, dt, done = _fit_gradient(layer, S, L, o, out["history"])
    layer.set_parameters(A=A[idx], B=B[idx], C=C[idx], dt=dt[idx], channels=idx)
    out.update(diversity="none", iterations=done, n_unique=int(torch.unique(S[idx], dim=0).shape[0]))
    return out


# ============================================================================= apply_tdi: step 1, estimate S_task
def _estimate(estimator: str, U: torch.Tensor, y, labels, *, segments, detrend, per_channel: bool, L: int):
    """S_task from sequences U (n, L, d) with the chosen estimator; (F,) or (d, F) if per_channel."""
    reduce = None if per_channel else "mean"
    grid = L if segments is not None else None
    if estimator == "input":
        S = spectra.input_spectrum(U, segments, detrend=detrend, reduce=reduce, grid_L=grid)
    elif estimator == "transfer":
        Y = y if y.dim() == 3 else y.unsqueeze(-1)
        d, e = U.shape[-1], Y.shape[-1]
        if e == d or e == 1 or d == 1:
            S = spectra.transfer_spectrum(U, Y, segments, detrend=detrend, reduce=reduce, grid_L=grid)
        else:  # average the explained power over the target channels
            S = sum(spectra.transfer_spectrum(U, Y[..., k : k + 1], segments, detrend=detrend, reduce=reduce,
                                              grid_L=grid) for k in range(e)) / e
    else:
        S = spectra.discriminative_spectrum(U, labels, detrend=detrend, reduce=reduce)
    if S.dim() == 2 and not per_channel:
        S = S.mean(0)
    return S


def _centre(U: torch.Tensor, mask) -> torch.Tensor:
    """Remove each sequence's and channel's mean over its valid positions (padding stays 0).

    The layer input LayerNorm(encoder(x)) carries the encoder bias as a constant per channel: 40-78% of
    its power sits at w = 0 although z-normalised data have none (issue 11). Centring removes exactly that
    constant, so the DC bin of the periodogram becomes 0 and the rest of the spectrum is unchanged.
    """
    if mask is None:
        return U - U.mean(dim=1, keepdim=True)
    m = mask.unsqueeze(-1).to(U.dtype)
    mean = (U * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
    return (U - mean) * m


@torch.no_grad()
def _stream_start(model, X, mask) -> list:
    """Chunks of the residual stream entering block 0 (encoder output), eval mode, float64 -> model dtype."""
    out = []
    for a in range(0, X.shape[0], _SEQ_CHUNK):
        x, m = model._check(X[a : a + _SEQ_CHUNK], None if mask is None else mask[a : a + _SEQ_CHUNK])
        out.append((model.encoder(x), m))
    return out


@torch.no_grad()
def _stream_advance(model, stream: list, idx: int) -> list:
    """The stream chunks after block ``idx`` (dropout off: the model is put in eval mode by the caller)."""
    return [(model.blocks[idx](h, m), m) for h, m in stream]


@torch.no_grad()
def _layer_input(model, stream: list, idx: int) -> torch.Tensor:
    """What SSM layer ``idx`` sees (= ``model.layer_inputs(X, mask)[idx]``), float64 CPU (n, L, d_model)."""
    return torch.cat([model.blocks[idx].ssm_input(h, m).to("cpu", torch.float64) for h, m in stream])


def _input_dc_share(U: torch.Tensor) -> float:
    """``diagnostics.dc_share`` of the channel-mean periodogram of U (n, L, d), without an FFT.

    By Parseval the two-sided periodogram of one sequence sums to sum_t u_t^2, and its DC bin is
    (sum_t u_t)^2 / L, so the share is mean_{i,c} (sum_t u)^2 / L over mean_{i,c} sum_t u^2 (tested against
    the FFT route). NaN for an all-zero input.
    """
    total = float(U.square().sum(1).mean())
    return float(U.sum(1).square().mean()) / U.shape[1] / total if total > 0 else float("nan")


def _fill_dc(S: torch.Tensor) -> torch.Tensor:
    """The DC bin, which centring empties, continued from its neighbour: S(w_0) = S(w_1).

    Centring removes the bias constant, and with it the only estimate of the density at w = 0. Leaving
    the 0 would fit a notch at DC (the DC gain 1e-6 of the peak, the opposite of the default init's
    maximum there) and, measured, makes every phase variant fail its float32 test (effective rank 1).
    """
    S = S.clone()
    S[..., 0] = S[..., 1]
    return S


def _layer_input_spectrum(est, U: torch.Tensor, mask, centre: bool) -> tuple[torch.Tensor, float, list]:
    """(S of the layer input, its DC share before centring, notes)."""
    dc = _input_dc_share(U)
    if not centre:
        return est(U), dc, []
    S = est(_centre(U, mask))
    if bool((S.reshape(-1, S.shape[-1]).amax(-1) > 0).all()):
        return _fill_dc(S), dc, []
    # every channel is constant in time (e.g. d_model = 2 and one sign pattern): nothing but DC to match
    return est(U), dc, ["the centred layer input has no power (constant in time); matched the uncentred input"]


# ============================================================================= apply_tdi: inputs
@dataclass
class _Data:
    X: torch.Tensor
    y: torch.Tensor | None
    labels: np.ndarray | None
    mask: torch.Tensor | None
    n: int
    L: int
    tokens: bool


def _array(x, name: str, integer: bool = False) -> torch.Tensor:
    """Tensor or array-like of real numbers -> tensor; ``integer``: keep integer/bool dtypes (tokens, masks)."""
    t = numeric_tensor(x, name)
    if t.is_complex():
        raise ValueError(f"{name}: expected real values, got complex dtype {t.dtype}")
    if not integer and not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def _check_model(model) -> list:
    if not (isinstance(model, torch.nn.Module) and hasattr(model, "ssm_layers") and hasattr(model, "layer_inputs")):
        raise TypeError(f"model: expected a ssm_tdi.models.DeepSSM, got {type(model).__name__}")
    ssm_layers = list(model.ssm_layers)
    if not ssm_layers:
        raise ValueError("model: has no SSM layers")
    return ssm_layers


def _check_X(model, X, tokens: bool) -> torch.Tensor:
    Xt = _array(X, "X", integer=tokens)
    if Xt.dim() not in (2, 3):
        raise ValueError(f"X: expected shape (n, L) or (n, L, d_input), got {tuple(Xt.shape)}")
    if Xt.shape[0] < 1 or Xt.shape[1] < 2:
        raise ValueError(f"X: expected at least one sequence of length L >= 2, got shape {tuple(Xt.shape)}")
    d_in = getattr(model, "d_input", None)
    if not tokens and d_in is not None and (Xt.shape[-1] if Xt.dim() == 3 else 1) != d_in:
        raise ValueError(f"X: expected shape (n, L, d_input={d_in})" + (" or (n, L)" if d_in == 1 else "")
                         + f", got {tuple(Xt.shape)}")
    return Xt


def _check_targets(estimator: str, y, labels, n: int, L: int):
    """(y float64 or None, labels ndarray or None) for the transfer / discriminative estimators."""
    yt = lab = None
    if estimator == "transfer":
        if y is None:
            raise ValueError("y: the 'transfer' estimator needs sequence targets y of shape (n, L) or (n, L, e)")
        yt = _array(y, "y")
        if yt.dim() not in (2, 3) or tuple(yt.shape[:2]) != (n, L):
            raise ValueError(f"y: the 'transfer' estimator needs sequence targets of shape ({n}, {L}) or "
                             f"({n}, {L}, e), got {tuple(yt.shape)}")
        yt = yt.to(torch.float64)
    if estimator == "discriminative":
        if labels is None:
            raise ValueError("labels: the 'discriminative' estimator needs class labels, one per sequence of X")
        try:
            lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        except (TypeError, ValueError) as exc:  # ragged nested sequences
            raise ValueError(f"labels: expected a 1-D array of class labels: {exc}") from exc
        if lab.ndim != 1 or lab.shape[0] != n:
            raise ValueError(f"labels: expected {n} class labels (one per sequence of X), got shape {lab.shape}")
    return yt, lab


def _check_data(model, X, y, labels, mask, estimator, segments, max_samples, seed) -> _Data:
    """Validated data, subsampled to at most ``max_samples`` sequences (seeded), padding applied to y."""
    tokens = getattr(model, "vocab_size", None) is not None
    Xt = _check_X(model, X, tokens)
    n, L = int(Xt.shape[0]), int(Xt.shape[1])
    if segments is not None:
        if estimator == "discriminative":
            raise ValueError("segments: the discriminative estimator has no Welch option; use segments=None")
        if not 2 <= check_length(segments, "segments") <= L:
            raise ValueError(f"segments: expected a Welch segment length in [2, L={L}], got {segments}")
    yt, lab = _check_targets(estimator, y, labels, n, L)
    mt = None
    if mask is not None:
        mt = _array(mask, "mask", integer=True)
        if mt.dtype != torch.bool or tuple(mt.shape) != (n, L):
            raise ValueError(f"mask: expected a boolean tensor of shape ({n}, {L}), got {mt.dtype} {tuple(mt.shape)}")
    if yt is not None and mt is not None:  # padded positions carry no target either
        yt = yt * (mt if yt.dim() == 2 else mt.unsqueeze(-1)).to(yt.dtype)
    return _subsample(_Data(Xt, yt, lab, mt, n, L, tokens), max_samples, seed)


def _subsample(data: _Data, k: int | None, seed: int) -> _Data:
    """At most k sequences of ``data``: a seeded random subset in the original order (all of them if n <= k)."""
    if k is None or data.n <= k:
        return data
    keep = torch.randperm(data.n, generator=torch.Generator().manual_seed(int(seed)))[:k].sort().values
    return _Data(data.X[keep], None if data.y is None else data.y[keep],
                 None if data.labels is None else data.labels[keep.numpy()],
                 None if data.mask is None else data.mask[keep], k, data.L, data.tokens)


def _resolve_source(source, spectrum_source, layers: str, tokens: bool) -> str:
    """The spectrum source of apply_tdi ("data" or "layer-input"); ``source`` is the pre-issue-11 name.

    ``spectrum_source`` wins when given (then ``source`` must stay at its default "data"); otherwise the old
    behaviour: "layer" -> the layer input, and per-layer TDI and token models always use the layer inputs.
    """
    if not isinstance(source, str) or source not in ("data", "layer"):
        raise ValueError(f"source: expected one of ('data', 'layer'), got {source!r}")
    if spectrum_source is None:
        return "layer-input" if source == "layer" or layers == "per-layer" or tokens else "data"
    if source != "data":
        raise ValueError("source, spectrum_source: give at most one (source is the old name)")
    if not isinstance(spectrum_source, str) or spectrum_source not in SPECTRUM_SOURCES:
        raise ValueError(f"spectrum_source: expected one of {SPECTRUM_SOURCES}, got {spectrum_source!r}")
    if spectrum_source == "data" and layers == "per-layer":
        raise ValueError("spectrum_source: per-layer TDI matches each layer to its own input; use 'layer-input'")
    if spectrum_source == "data" and tokens:
        raise ValueError("spectrum_source: token ids have no spectrum; use 'layer-input' for a token model")
    return spectrum_source


def _check_dynamics(dynamics) -> str | float:
    """"train", "freeze", or a learning-rate scale in (0, inf) for the fitted layers' log_dt, A, B."""
    if isinstance(dynamics, str):
        if dynamics not in ("train", "freeze"):
            raise ValueError(f"dynamics: expected 'train', 'freeze' or a learning-rate scale > 0, got {dynamics!r}")
        return dynamics
    return check_real(dynamics, "dynamics", minimum=0.0, strict_min=True)


def _treat_dynamics(layer, dynamics) -> str:
    """Apply the training treatment to one fitted layer; returns its TDIReport.dynamics label."""
    if dynamics == "freeze":
        freeze_dynamics(layer)
        return "frozen"
    if dynamics == "train":
        return "trained"
    set_dynamics_lr_scale(layer, dynamics)
    return f"lr x{dynamics:g}"


# ============================================================================= apply_tdi
def apply_tdi(
    model,
    X,
    y=None,
    labels=None,
    estimator: str = "input",
    layers: str = "first",
    method: str = "fast",
    *,
    mask=None,
    spectrum_source: str | None = None,
    centre: bool = True,
    dynamics="freeze",
    source: str = "data",
    per_channel: bool = False,
    segments: int | None = None,
    detrend: bool = False,
    max_samples: int | None = 512,
    max_layer_samples: int | None = 128,
    seed: int = 0,
    **kw,
) -> list[TDIReport]:
    """Task-dependent initialization of the SSM layers of a DeepSSM from training data.

    S_task estimators (``ssm_tdi.spectra``, on the grid of the data's length L):
    ``"input"`` mean periodogram (label-free); ``"transfer"`` |S_uy|^2/S_uu for sequence
    targets ``y`` (n, L) or (n, L, e); ``"discriminative"`` per-bin Fisher ratio for class
    ``labels`` (n,). Multichannel estimates are averaged over channels (``per_channel=True``
    keeps one row per SSM channel where the channel counts agree).

    ``layers``:
      * ``"first"`` (the paper's choice): only the first SSM layer, matched to S_task.
      * ``"per-layer"``: layers in order; layer l is matched to the spectrum of its own input
        u_l (the LayerNorm-ed residual stream, padded positions zeroed), computed after layers < l
        have been initialized, with the chosen estimator applied to u_l.
      * ``"composite"``: the stack's linearized end-to-end response. Linearization: the
        residual stream, LayerNorm, GELU, dropout and GLU mixing are taken as identity, so
        channel h passes through the cascade of the n SSM convolutions and its power response
        is prod_l |H_l,h(w)|^2. Each layer is matched to S_task^(1/n). The composite loss is reported
        in every report's ``notes``; if it got worse, all layers are restored.

    ``spectrum_source`` (where S_task comes from; reported in ``TDIReport.spectrum_source``):
      * ``"data"`` (default for "first" and "composite"): the raw X, channel-averaged, padding zeroed. The
        paper's protocol; z-normalised data carry no DC.
      * ``"layer-input"`` (default and only choice for "per-layer"; forced for token models): what the layer
        actually sees, LayerNorm(encoder(x)) for the first layer. With ``centre=True`` (default) each
        sequence's channel mean is removed first: the encoder bias passed through LayerNorm puts 40-78% of
        the raw layer input's power at w = 0 (``TDIReport.input_dc_share`` reports that share), a constant
        that carries no task information and that TDI would otherwise turn into integrator kernels. The
        emptied DC bin is then continued from its neighbour, S(0) = S(w_1) (no notch at DC).
      Layer inputs are computed in chunks of 64 sequences, stopping at the layer being fitted and carrying
      the residual stream forward from one layer to the next (one pass through the trunk in total).

    ``dynamics`` (what training may do to the fitted layers' log_dt, A, B; C and D always train):
      ``"freeze"`` (default; ``layers.freeze_dynamics``), ``"train"`` (the S4 convention at ssm_lr), or a
      number s > 0: train them at s * ssm_lr (``layers.set_dynamics_lr_scale``). Measured on ACSF1 at 25%
      (``benchmarks/tdi_persistence.py``; see the module docstring): trained, the fitted spectrum is gone after
      the recipe; frozen, it is kept. Give the default arm the same treatment with
      ``layers.freeze_dynamics(model.ssm_layers[0])`` (a frozen S4D-Lin is the control).

    Args:
        model: :class:`ssm_tdi.models.DeepSSM` (needs ``ssm_layers`` and ``layer_inputs``).
        X: training inputs (n, L, d_input) / (n, L) real, or tokens (n, L) for token models.
        y, labels: targets for the transfer / discriminative estimators.
        method, **kw: passed to :func:`tdi_init` (e.g. diversity, refine_steps, gamma, bank, default_fraction).
        mask: optional bool (n, L), True at valid positions (padding is zeroed before estimating).
        spectrum_source, centre, dynamics: see above.
        source: the pre-issue-11 name: ``"data"`` (default) or ``"layer"`` (= ``"layer-input"``); ignored by
            per-layer TDI; ``spectrum_source``, when given, takes precedence (with source left at "data").
        segments, detrend: Welch segment length and mean removal for the estimators; Welch
            estimates are interpolated back to the length-L grid.
        max_samples: at most this many training sequences (a seeded random subset) are used
            to estimate spectra (None: all).
        max_layer_samples: of those, at most this many (seeded) are run through the model for a
            layer-input spectrum (None: all). Default 128: every one of the d_model channels of a layer input
            is a periodogram too (128 x 64 of them at d_model 64), and propagating 512 sequences through the
            trunk made per-layer TDI cost most of an epoch (issue 14).

    Returns:
        list of :class:`TDIReport`, one per initialized layer (``layer_index``, ``estimator``, ``target``,
        ``target_spectrum``, ``spectrum_source``, ``input_dc_share``, ``dynamics`` filled in).
    """
    for name, v, options in (("estimator", estimator, _ESTIMATORS), ("layers", layers, _LAYER_MODES)):
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"{name}: expected one of {options}, got {v!r}")
    ssm_layers = _check_model(model)
    seed = check_seed(seed)
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples")
    if max_layer_samples is not None:
        max_layer_samples = check_int(max_layer_samples, "max_layer_samples")
    if not isinstance(centre, bool):
        raise ValueError(f"centre: expected True or False, got {centre!r}")
    dynamics = _check_dynamics(dynamics)
    data = _check_data(model, X, y, labels, mask, estimator, segments, max_samples, seed)
    src = _resolve_source(source, spectrum_source, layers, data.tokens)
    if src == "layer-input":  # sequences propagated through the model: fewer (see max_layer_samples)
        data = _subsample(data, max_layer_samples, seed)

    def est(U):
        return _estimate(estimator, U, data.y, data.labels, segments=segments, detrend=detrend,
                         per_channel=per_channel, L=data.L)

    def fit(idx, S, target, dc=float("nan"), notes=()):
        try:
            rep = tdi_init(ssm_layers[idx], S, method=method, L=data.L, seed=seed + idx, **kw)
        except ValueError as exc:
            raise ValueError(f"layer {idx} ({estimator} estimator, target {target}): {exc}") from exc
        rep.layer_index, rep.estimator, rep.target, rep.spectrum_source = idx, estimator, target, src
        rep.target_spectrum, rep.input_dc_share = S.detach().to("cpu", torch.float64), dc
        rep.notes += list(notes)
        return rep

    if layers == "per-layer":
        reports = _per_layer(model, data, est, fit, centre)
    else:
        S, dc, notes = _first_spectrum(model, data, est, src, centre, per_channel, ssm_layers[0].d_model)
        if layers == "first":
            reports = [fit(0, S, "S_task", dc, notes)]
        else:
            reports = _composite(ssm_layers, S, data.L, lambda i, Si, t: fit(i, Si, t, dc, notes))
    for r in reports:
        r.dynamics = _treat_dynamics(ssm_layers[r.layer_index], dynamics)
    return reports


def _first_spectrum(model, data: _Data, est, src: str, centre: bool, per_channel: bool, d_model: int):
    """(S_task, DC share of what the first layer sees, notes) from the raw data or the first layer's input."""
    if src == "layer-input":
        was = model.training
        model.eval()
        try:
            U = _layer_input(model, _stream_start(model, data.X, data.mask), 0)
        finally:
            model.train(was)
        return _layer_input_spectrum(est, U, data.mask, centre)
    Xd = data.X.detach().to("cpu", torch.float64)
    Xd = Xd.unsqueeze(-1) if Xd.dim() == 2 else Xd
    if data.mask is not None:
        Xd = Xd * data.mask.unsqueeze(-1).to(Xd.dtype)
    if per_channel and Xd.shape[-1] != d_model:
        raise ValueError(f"per_channel: the data has {Xd.shape[-1]} channels but the SSM layers have {d_model}; "
                         "use spectrum_source='layer-input' or per_channel=False")
    return est(Xd), _input_dc_share(Xd), []


def _per_layer(model, data: _Data, est, fit, centre: bool) -> list[TDIReport]:
    """Fit layer 0, 1, ... each to the spectrum of its own input, carrying the residual stream forward."""
    was = model.training
    model.eval()
    reports = []
    try:
        stream = _stream_start(model, data.X, data.mask)
        for idx in range(len(model.ssm_layers)):
            if idx:
                stream = _stream_advance(model, stream, idx - 1)  # block idx-1 already carries its TDI
            S, dc, notes = _layer_input_spectrum(est, _layer_input(model, stream, idx), data.mask, centre)
            reports.append(fit(idx, S, "spectrum of the layer's own input", dc, notes))
    finally:
        model.train(was)
    return reports


def _composite(ssm_layers, S, L: int, fit) -> list[TDIReport]:
    """Every layer matched to S^(1/n); all restored if the composite L_spec got worse."""
    nl = len(ssm_layers)
    snaps = [_snapshot(lyr) for lyr in ssm_layers]
    before = _composite_loss(ssm_layers, S, L)
    reports = [fit(idx, S ** (1.0 / nl), f"S_task^(1/{nl})") for idx in range(nl)]
    after = _composite_loss(ssm_layers, S, L)
    if float(after.mean()) > float(before.mean()):
        for lyr, snap in zip(ssm_layers, snaps, strict=True):
            _restore(lyr, snap, torch.arange(lyr.d_model))
        note = (f"composite L_spec got worse ({float(before.mean()):.3e} -> {float(after.mean()):.3e}); "
                "all layers restored")
    else:
        note = f"composite L_spec {float(before.mean()):.3e} -> {float(after.mean()):.3e}"
    for r in reports:
        r.notes.append(note)
    return reports


def _composite_loss(ssm_layers, S, L) -> torch.Tensor:
    """Per-channel L_spec of prod_l |H_l,h(w_j)|^2 (identity mixing between layers) against S."""
    P = None
    for lyr in ssm_layers:
        _, Pl = _layer_kernel_power(lyr, L)
        P = Pl if P is None else P * Pl
    St = S if S.dim() == 2 else S.unsqueeze(0).expand_as(P)
    return tdi_fast.loss_of(P, St)
