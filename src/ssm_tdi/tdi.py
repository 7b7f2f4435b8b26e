"""Task-Dependent Initialization (TDI, PAPER.md C5): match an SSM layer's power response to S_task.

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
parameters (log_dt, log_A_real, A_imag, B, C), S_model computed through
``kernels.discretize`` and ``kernels.power_response`` (``backend="response"``, the closed-form
H_L) or ``|rfft(kernels.ssm_kernel)|^2`` (``backend="fft"``, the same numbers, faster),
a fixed number of steps; each channel keeps its best iterate.

``"fast"`` (default): the spectral-factor / matrix-pencil / Levenberg-Marquardt solver of
:mod:`ssm_tdi.tdi_fast` on the discrete poles lam and residues c = C Bbar, then mapped back
to the layer's continuous parameters with the layer's own step dt (unchanged):
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

:func:`apply_tdi` estimates S_task from training data (``ssm_tdi.spectra``) and applies
:func:`tdi_init` to the SSM layers of a :class:`ssm_tdi.models.DeepSSM` (first layer, each
layer on its own input, or the composite stack).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import kernels, spectra, tdi_fast
from ._validate import as_tensor, check_int, check_length, check_real, check_seed, numeric_tensor
from .layers import DiagonalSSM

__all__ = ["TDIReport", "tdi_init", "apply_tdi", "layer_spectrum_loss"]

_METHODS = ("fast", "gradient")
_DIVERSITY = ("phase", "none")
_ESTIMATORS = ("input", "transfer", "discriminative")
_LAYER_MODES = ("first", "per-layer", "composite")


@dataclass
class TDIReport:
    """Outcome of one :func:`tdi_init` call (one layer).

    Losses are L_spec per channel ``(H,)`` (float64, CPU) and their means. ``max_abs_lam``
    is the largest discrete pole modulus after TDI (< 1: stable), ``n_aliased`` the number
    of modes with dt |Im a| > pi, ``n_reverted`` the channels restored to their previous
    parameters because the new fit was not better, ``kernel_cosine`` the mean |cosine
    similarity| between the kernels of distinct channels (1: all channels identical up to
    sign, and 1.0 for a single channel; a diversity measure), ``residue_ratio`` (median, max) over channels of
    sum_n |c_n| / ||K_h||_2 with c_n = C_n Bbar_n at the written parameters (~1: modes add up;
    >> 1: a cancellation of large modes that float32 storage and training steps do not
    preserve), ``target_spectrum`` (set by :func:`apply_tdi`) the spectrum the layer was matched to
    (float64, ``(F,)`` or ``(H, F)``), ``timings`` seconds per phase, ``history`` (gradient method) one
    tuple (step, seconds since the first step, mean L_spec of the iterate, mean of the per-channel
    best so far) per Adam step.
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

    def summary(self) -> str:
        where = "" if self.layer_index is None else f"layer {self.layer_index}: "
        return (
            f"{where}TDI[{self.method}] H={self.H} N2={self.N2} L={self.L}: L_spec "
            f"{self.loss_before_mean:.3e} -> {self.loss_after_mean:.3e} in {self.seconds:.3f}s, "
            f"max|lam|={self.max_abs_lam:.6f}, aliased={self.n_aliased}, reverted={self.n_reverted}, "
            f"kernel |cos|={self.kernel_cosine:.3f}, residue ratio med/max="
            f"{self.residue_ratio[0]:.3g}/{self.residue_ratio[1]:.3g}"
        )


# ----------------------------------------------------------------------------- helpers
def _task_spectrum(S_task, H: int, L) -> tuple[torch.Tensor, int]:
    """Validate S_task -> float64 (H, F) and the sequence length L."""
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


def _to_continuous(lam: torch.Tensor, c: torch.Tensor, dt: torch.Tensor, method: str):
    """Discrete (lam, c) -> continuous (A, B = 1, C) for step dt (H,) so that discretize(A, B, dt)
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
    C = c / Bbar
    return A, B, C


# ----------------------------------------------------------------------------- fast
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


def _fast(
    layer,
    S,
    L,
    *,
    diversity,
    n_phases,
    diversity_tol,
    refine_steps,
    tol,
    floor,
    min_radius,
    max_radius,
    seed,
    timings,
):
    H, N2 = S.shape[0], layer.N2
    t0 = time.perf_counter()
    U, inv = torch.unique(S, dim=0, return_inverse=True)
    lam_u, c_u, _, info = tdi_fast.fit_spectra(
        U, N2, L, floor=floor, steps=refine_steps, tol=tol, min_radius=min_radius, max_radius=max_radius
    )
    timings["prototype_fit"] = time.perf_counter() - t0
    iterations = int(info["iterations"])
    # slot table: slot 0..len(U)-1 are prototypes; phase variants are appended
    slot_lam, slot_c = [lam_u], [c_u]
    chan_slot = inv.clone()
    chan_sign = torch.ones(H, dtype=torch.float64)
    notes = []
    if diversity == "phase" and n_phases > 1:
        t1 = time.perf_counter()
        gen = torch.Generator().manual_seed(int(seed))
        want = {}  # (u, p) -> list of channels
        for u in range(U.shape[0]):
            members = (inv == u).nonzero().flatten()
            if members.numel() < 2:
                continue
            members = members[torch.randperm(members.numel(), generator=gen)]
            for i, h in enumerate(members.tolist()):
                p = i % n_phases
                alpha = 2 * math.pi * p / n_phases
                if alpha >= math.pi - 1e-12:
                    chan_sign[h] = -1.0
                    alpha -= math.pi
                if alpha > 1e-12:
                    want.setdefault((u, round(alpha, 12)), []).append(h)
        if want:
            keys = sorted(want)
            us = torch.tensor([k[0] for k in keys])
            alphas = torch.tensor([k[1] for k in keys], dtype=torch.float64)
            accept = torch.clamp(info["robust_loss"][us], min=diversity_tol)
            lam_v, c_v, _, rob_v = tdi_fast.phase_variants(
                lam_u[us],
                c_u[us],
                U[us],
                alphas,
                L,
                steps=refine_steps,
                tol=tol,
                min_radius=min_radius,
                max_radius=max_radius,
                accept=accept,
                n_active=info["n_active"][us],
            )
            # a variant must also stay as well conditioned as the fitted prototypes allow
            ratio_cap = torch.clamp(info["residue_ratio"][us], min=100.0)
            ok = (rob_v <= accept) & (tdi_fast.residue_ratio(lam_v, c_v, L) <= ratio_cap)
            base = U.shape[0]
            slot_lam.append(lam_v)
            slot_c.append(c_v)
            for j, key in enumerate(keys):
                if bool(ok[j]):
                    chan_slot[want[key]] = base + j
            n_fb = int((~ok).sum())
            if n_fb:
                notes.append(
                    f"{n_fb} of {len(keys)} phase variants exceeded max(diversity_tol, prototype's robust "
                    "loss) or max(100, prototype's residue ratio) and fell back to the prototype (with sign)"
                )
        timings["phase_variants"] = time.perf_counter() - t1
    lam_s = torch.cat(slot_lam)
    c_s = torch.cat(slot_c)
    # kernel norms per fitted slot (few), not per channel (H): for the gain rescaling
    norm_s = kernels.ssm_kernel(lam_s, torch.ones_like(c_s), c_s, L).norm(dim=-1)
    lam_h, c_h = lam_s[chan_slot], c_s[chan_slot] * chan_sign.unsqueeze(-1)
    return lam_h, c_h, norm_s[chan_slot], iterations, int(U.shape[0]), notes


# ----------------------------------------------------------------------------- gradient
def _gradient(layer, S, L, *, steps, lr, backend, timings, history, callback=None):
    dev, dtype = layer.log_dt.device, layer.log_dt.dtype
    snap = _snapshot(layer)
    params = {k: v.detach().clone().to(dev).requires_grad_(True) for k, v in snap.items()}
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    St = S.to(device=dev, dtype=dtype)
    omega = kernels.rfft_grid(L, dtype=dtype, device=dev)
    best_loss = torch.full((S.shape[0],), float("inf"), dtype=torch.float64)
    best = {k: v.detach().clone() for k, v in params.items()}
    method = layer.discretization
    done = 0
    t0 = time.perf_counter()
    for _ in range(int(steps)):
        A = torch.complex(-torch.exp(params["log_A_real"]), params["A_imag"])
        B = torch.view_as_complex(params["B"])
        C = torch.view_as_complex(params["C"])
        dt = torch.exp(params["log_dt"]).unsqueeze(-1)
        try:
            lam, Bbar = kernels.discretize(A, B, dt, method=method)
            if backend == "response":
                Sm = kernels.power_response(lam, Bbar, C, omega, L)
            else:
                Kh = torch.fft.rfft(kernels.ssm_kernel(lam, Bbar, C, L))
                Sm = Kh.real**2 + Kh.imag**2
        except ValueError:  # parameters left the finite range: stop, keep the best iterate
            break
        nm = Sm.norm(dim=-1, keepdim=True)
        nt = St.norm(dim=-1, keepdim=True)
        loss_h = ((Sm / nm.clamp_min(1e-30) - St / nt) ** 2).sum(-1)
        lh = loss_h.detach().to("cpu", torch.float64)
        if not bool(torch.isfinite(lh).all()):
            break
        better = lh < best_loss
        history.append(
            (done, time.perf_counter() - t0, float(lh.mean()), float(torch.minimum(best_loss, lh).mean()))
        )
        if bool(better.any()):
            idx = better.nonzero().flatten()
            best_loss[idx] = lh[idx]
            for k in best:
                best[k][idx.to(dev)] = params[k].detach()[idx.to(dev)]
        opt.zero_grad(set_to_none=True)
        loss_h.mean().backward()
        opt.step()
        done += 1
        if callback is not None:
            callback(done, int(steps), float(lh.mean()))
    A = torch.complex(-torch.exp(best["log_A_real"]), best["A_imag"]).to(torch.complex128)
    return (
        A,
        torch.view_as_complex(best["B"].contiguous()).to(torch.complex128),
        torch.view_as_complex(best["C"].contiguous()).to(torch.complex128),
        torch.exp(best["log_dt"]).to(torch.float64),
        done,
    )


# ----------------------------------------------------------------------------- public
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
    backend: str = "response",
    gain: str = "preserve",
    callback=None,
) -> TDIReport:
    """Initialize ``layer`` (a DiagonalSSM) in place so that |H_L,h(w_j)|^2 matches S_task.

    Args:
        layer: :class:`ssm_tdi.layers.DiagonalSSM` (H channels, N2 modes each).
        S_task: target power spectrum on the rfft grid w_j = 2 pi j / L, j = 0..L//2:
            ``(F,)`` for every channel or ``(H, F)`` per channel; finite, >= 0, no row all zero.
        method: ``"fast"`` (spectral factor + matrix pencil + Levenberg-Marquardt, see
            :mod:`ssm_tdi.tdi_fast`) or ``"gradient"`` (Adam on L_spec, the baseline).
        L: sequence length of the grid; default 2 (F - 1) (pass it for odd L).
        diversity: ``"phase"`` (default) or ``"none"`` (fast only; see the module docstring).
        steps, lr, backend: gradient method: Adam steps, learning rate, and ``"response"``
            (kernels.power_response) or ``"fft"`` (|rfft(kernels.ssm_kernel)|^2).
        seed: seeds the (random) assignment of channels to phase rotations.
        refine_steps: Levenberg-Marquardt iterations of the fast method (0: pencil + least squares only).
        n_phases, diversity_tol: phase diversity: number of rotations, acceptance threshold.
        floor: relative floor of S_task before its logarithm is taken (fast method, step 1).
        min_radius, max_radius: bounds on |lam| (default max_radius = exp(-0.5 / L)).
        tol: per-row L_spec at which the Levenberg-Marquardt iterations stop.
        gain: ``"preserve"`` (keep each channel's kernel l2 norm) or ``"unit"``.
        callback: optional ``callback(step, total_steps, loss)`` called after every Adam step
            of the gradient method (step = 1..steps, loss = mean L_spec of the iterate before
            the step), e.g. for a progress display; ignored by the fast method.

    Returns:
        :class:`TDIReport`. L_spec never increases for any channel (see Safety above).

    Raises:
        ValueError: bad method/options, or S_task all-zero, negative, non-finite or of the wrong shape.
    """
    t_start = time.perf_counter()
    if not isinstance(layer, DiagonalSSM):
        raise TypeError(f"layer: expected a ssm_tdi.layers.DiagonalSSM, got {type(layer).__name__}")
    for name, v, options in (("method", method, _METHODS), ("diversity", diversity, _DIVERSITY),
                             ("backend", backend, ("response", "fft")), ("gain", gain, ("preserve", "unit"))):
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"{name}: expected one of {options}, got {v!r}")
    for name, v in (("refine_steps", refine_steps), ("steps", steps), ("n_phases", n_phases)):
        check_int(v, name, 0)
    lr = check_real(lr, "lr", minimum=0.0, strict_min=True)
    seed = check_seed(seed)
    tol = check_real(tol, "tol", minimum=0.0)
    diversity_tol = check_real(diversity_tol, "diversity_tol", minimum=0.0)
    # floor: the relative floor of S_task before its logarithm (0 would give log 0 = -inf)
    floor = check_real(floor, "floor", minimum=0.0, maximum=1.0, strict_min=True)
    min_radius = check_real(min_radius, "min_radius")
    if max_radius is not None:
        max_radius = check_real(max_radius, "max_radius")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected None or a callable(step, total_steps, loss), got {callback!r}")
    H = int(layer.d_model)
    N2 = int(layer.N2)
    S, L = _task_spectrum(S_task, H, L)
    if max_radius is None:
        max_radius = math.exp(-0.5 / L)
    if not (0 < min_radius < max_radius < 1):
        raise ValueError(
            f"min_radius, max_radius: expected 0 < min_radius < max_radius < 1, "
            f"got {min_radius!r}, {max_radius!r}"
        )
    timings: dict = {}
    t0 = time.perf_counter()
    K_before, P_before = _layer_kernel_power(layer, L)
    loss_before = tdi_fast.loss_of(P_before, S)
    snap = _snapshot(layer)
    timings["evaluate_before"] = time.perf_counter() - t0
    notes: list = []
    history: list = []
    method_disc = layer.discretization
    dt = layer.dt().detach().to("cpu", torch.float64)

    t1 = time.perf_counter()
    if method == "fast":
        with _FewThreads(
            int(torch.unique(S, dim=0).shape[0]) * (1 + (n_phases // 2 if diversity == "phase" else 0))
        ):
            lam, c, n_new, iterations, n_unique, fnotes = _fast(
                layer,
                S,
                L,
                diversity=diversity,
                n_phases=int(n_phases),
                diversity_tol=float(diversity_tol),
                refine_steps=int(refine_steps),
                tol=float(tol),
                floor=float(floor),
                min_radius=float(min_radius),
                max_radius=float(max_radius),
                seed=seed,
                timings=timings,
            )
        notes += fnotes
        # gain: rescale each channel's kernel
        if gain == "preserve":
            target = K_before.norm(dim=-1)
            fallback = (
                target[target > 0].median()
                if bool((target > 0).any())
                else torch.tensor(1.0, dtype=torch.float64)
            )
            target = torch.where((target > 0) & torch.isfinite(target), target, fallback)
        else:
            target = torch.ones(H, dtype=torch.float64)
        scale = torch.where(n_new > 0, target / n_new.clamp_min(1e-300), torch.ones_like(n_new))
        c = c * scale.unsqueeze(-1)
        A, B, C = _to_continuous(lam, c, dt, method_disc)
        t2 = time.perf_counter()
        timings["fit_total"] = t2 - t1
        layer.set_parameters(A=A, B=B, C=C)
    else:
        diversity = "none"
        A, B, C, dt_new, iterations = _gradient(
            layer,
            S,
            L,
            steps=steps,
            lr=float(lr),
            backend=backend,
            timings=timings,
            history=history,
            callback=callback,
        )
        n_unique = int(torch.unique(S, dim=0).shape[0])
        timings["fit_total"] = time.perf_counter() - t1
        layer.set_parameters(A=A, B=B, C=C, dt=dt_new)

    t3 = time.perf_counter()
    K_after, P_after = _layer_kernel_power(layer, L)
    loss_after = tdi_fast.loss_of(P_after, S)
    worse = (~(loss_after <= loss_before)).nonzero().flatten()
    if worse.numel():
        _restore(layer, snap, worse)
        K_after, P_after = _layer_kernel_power(layer, L)
        loss_after = tdi_fast.loss_of(P_after, S)
        notes.append(f"{worse.numel()} channel(s) kept their previous parameters (new fit not better)")
    timings["evaluate_after"] = time.perf_counter() - t3

    with torch.no_grad():
        lam_layer = layer.discrete()[0].detach()
        dts = layer.dt().detach()
        n_alias = int((dts.unsqueeze(-1) * layer.A_imag.detach().abs() > math.pi).sum())
    return TDIReport(
        method=method,
        L=L,
        H=H,
        N2=N2,
        loss_before=loss_before,
        loss_after=loss_after,
        loss_before_mean=float(loss_before.mean()),
        loss_after_mean=float(loss_after.mean()),
        seconds=time.perf_counter() - t_start,
        max_abs_lam=float(lam_layer.abs().max()),
        n_aliased=n_alias,
        n_reverted=int(worse.numel()),
        dt_min=float(dts.min()),
        dt_max=float(dts.max()),
        diversity=diversity,
        n_unique_spectra=n_unique,
        iterations=int(iterations),
        kernel_cosine=_kernel_cosine(K_after),
        residue_ratio=_layer_residue_ratio(layer, L),
        timings=timings,
        notes=notes,
        history=history,
    )


# ----------------------------------------------------------------------------- apply to a model
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
            S = (
                sum(
                    spectra.transfer_spectrum(
                        U, Y[..., k : k + 1], segments, detrend=detrend, reduce=reduce, grid_L=grid
                    )
                    for k in range(e)
                )
                / e
            )
    else:
        S = spectra.discriminative_spectrum(U, labels, detrend=detrend, reduce=reduce)
    if S.dim() == 2 and not per_channel:
        S = S.mean(0)
    return S


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
    source: str = "data",
    per_channel: bool = False,
    segments: int | None = None,
    detrend: bool = False,
    max_samples: int | None = 512,
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
      * ``"first"`` (the paper's choice): only the first SSM layer, matched to S_task from the
        training data itself (``source="data"``: the raw X, channel-averaged; token models and
        ``source="layer"`` use the tensor actually fed to the first SSM, model.layer_inputs).
      * ``"per-layer"``: layers in order; layer l is matched to the spectrum of its own input
        u_l = model.layer_inputs(X)[l] (the LayerNorm-ed residual stream, padded positions
        zeroed), recomputed after layers < l have been initialized, with the chosen estimator
        applied to u_l (transfer: u_l -> y; discriminative: u_l vs labels).
      * ``"composite"``: the stack's linearized end-to-end response. Linearization: the
        residual stream, LayerNorm, GELU, dropout and GLU mixing are taken as identity, so
        channel h passes through the cascade of the n SSM convolutions and its power response
        is prod_l |H_l,h(w)|^2. Each layer is matched to S_task^(1/n) (the per-layer factor of
        the target; then prod_l |H_l|^2 is proportional to S_task when every factor matches).
        The composite loss L_spec(prod_l |H_l,h|^2, S_task) is reported in every report's
        ``notes``; if it got worse, all layers are restored.

    Args:
        model: :class:`ssm_tdi.models.DeepSSM` (needs ``ssm_layers`` and ``layer_inputs``).
        X: training inputs (n, L, d_input) / (n, L) real, or tokens (n, L) for token models.
        y, labels: targets for the transfer / discriminative estimators.
        method, **kw: passed to :func:`tdi_init` (e.g. diversity, refine_steps, steps).
        mask: optional bool (n, L), True at valid positions (padding is zeroed before estimating).
        segments, detrend: Welch segment length and mean removal for the estimators; Welch
            estimates are interpolated back to the length-L grid.
        max_samples: at most this many training sequences (a seeded random subset) are used
            to estimate spectra (None: all).

    Returns:
        list of :class:`TDIReport`, one per initialized layer (``layer_index``, ``estimator``,
        ``target`` filled in).
    """
    for name, v, options in (("estimator", estimator, _ESTIMATORS), ("layers", layers, _LAYER_MODES),
                             ("source", source, ("data", "layer"))):
        if not isinstance(v, str) or v not in options:
            raise ValueError(f"{name}: expected one of {options}, got {v!r}")
    if not (isinstance(model, torch.nn.Module) and hasattr(model, "ssm_layers") and hasattr(model, "layer_inputs")):
        raise TypeError(f"model: expected a ssm_tdi.models.DeepSSM, got {type(model).__name__}")
    ssm_layers = list(model.ssm_layers)
    if not ssm_layers:
        raise ValueError("model: has no SSM layers")
    seed = check_seed(seed)
    if max_samples is not None:
        max_samples = check_int(max_samples, "max_samples")
    tokens = getattr(model, "vocab_size", None) is not None
    Xt = _array(X, "X", integer=tokens)
    if Xt.dim() not in (2, 3):
        raise ValueError(f"X: expected shape (n, L) or (n, L, d_input), got {tuple(Xt.shape)}")
    n, L = int(Xt.shape[0]), int(Xt.shape[1])
    if n < 1 or L < 2:
        raise ValueError(f"X: expected at least one sequence of length L >= 2, got shape {tuple(Xt.shape)}")
    if segments is not None:
        if estimator == "discriminative":
            raise ValueError("segments: the discriminative estimator has no Welch option; use segments=None")
        if not 2 <= check_length(segments, "segments") <= L:
            raise ValueError(f"segments: expected a Welch segment length in [2, L={L}], got {segments}")
    d_in = getattr(model, "d_input", None)
    if not tokens and d_in is not None and (Xt.shape[-1] if Xt.dim() == 3 else 1) != d_in:
        raise ValueError(f"X: expected shape (n, L, d_input={d_in})" + (" or (n, L)" if d_in == 1 else "")
                         + f", got {tuple(Xt.shape)}")
    yt = None
    if estimator == "transfer":
        if y is None:
            raise ValueError(
                "y: the 'transfer' estimator needs sequence targets y of shape (n, L) or (n, L, e)"
            )
        yt = _array(y, "y")
        if yt.dim() not in (2, 3) or tuple(yt.shape[:2]) != (n, L):
            raise ValueError(
                f"y: the 'transfer' estimator needs sequence targets of shape ({n}, {L}) or "
                f"({n}, {L}, e), got {tuple(yt.shape)}"
            )
        yt = yt.to(torch.float64)
    lab = None
    if estimator == "discriminative":
        if labels is None:
            raise ValueError(
                "labels: the 'discriminative' estimator needs class labels, one per sequence of X"
            )
        try:
            lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        except (TypeError, ValueError) as exc:  # ragged nested sequences
            raise ValueError(f"labels: expected a 1-D array of class labels: {exc}") from exc
        if lab.ndim != 1 or lab.shape[0] != n:
            raise ValueError(
                f"labels: expected {n} class labels (one per sequence of X), got shape {lab.shape}"
            )
    mt = None
    if mask is not None:
        mt = _array(mask, "mask", integer=True)
        if mt.dtype != torch.bool or tuple(mt.shape) != (n, L):
            raise ValueError(
                f"mask: expected a boolean tensor of shape ({n}, {L}), got {mt.dtype} {tuple(mt.shape)}"
            )
    # subsample for the spectrum estimates
    if max_samples is not None and n > int(max_samples):
        gen = torch.Generator().manual_seed(int(seed))
        keep = torch.randperm(n, generator=gen)[: int(max_samples)].sort().values
        Xt = Xt[keep]
        yt = yt[keep] if yt is not None else None
        lab = lab[keep.numpy()] if lab is not None else None
        mt = mt[keep] if mt is not None else None
    if yt is not None and mt is not None:  # padded positions carry no target either
        yt = yt * (mt if yt.dim() == 2 else mt.unsqueeze(-1)).to(yt.dtype)
    use_layer_input = source == "layer" or tokens

    def est(U):
        return _estimate(
            estimator, U, yt, lab, segments=segments, detrend=detrend, per_channel=per_channel, L=L
        )

    def data_spectrum():
        if use_layer_input:
            return est(model.layer_inputs(Xt, mt)[0].detach().to("cpu", torch.float64))
        Xd = Xt.detach().to("cpu", torch.float64)
        if Xd.dim() == 2:
            Xd = Xd.unsqueeze(-1)
        if mt is not None:
            Xd = Xd * mt.unsqueeze(-1).to(Xd.dtype)
        if per_channel and Xd.shape[-1] != ssm_layers[0].d_model:
            raise ValueError(
                f"per_channel: the data has {Xd.shape[-1]} channels but the SSM layers have "
                f"{ssm_layers[0].d_model}; use source='layer' or per_channel=False"
            )
        return est(Xd)

    reports: list[TDIReport] = []

    def run(idx, S, target):
        try:
            rep = tdi_init(ssm_layers[idx], S, method=method, L=L, seed=seed + idx, **kw)
        except ValueError as exc:
            raise ValueError(f"layer {idx} ({estimator} estimator, target {target}): {exc}") from exc
        rep.layer_index, rep.estimator, rep.target = idx, estimator, target
        rep.target_spectrum = S.detach().to("cpu", torch.float64)
        reports.append(rep)

    if layers == "first":
        run(0, data_spectrum(), "S_task")
    elif layers == "per-layer":
        for idx in range(len(ssm_layers)):
            U = model.layer_inputs(Xt, mt)[idx].detach().to("cpu", torch.float64)
            run(idx, est(U), "spectrum of the layer's own input")
    else:
        S = data_spectrum()
        nl = len(ssm_layers)
        snaps = [_snapshot(lyr) for lyr in ssm_layers]
        before = _composite_loss(ssm_layers, S, L)
        for idx in range(nl):
            run(idx, S ** (1.0 / nl), f"S_task^(1/{nl})")
        after = _composite_loss(ssm_layers, S, L)
        if float(after.mean()) > float(before.mean()):
            for lyr, snap in zip(ssm_layers, snaps, strict=True):
                _restore(lyr, snap, torch.arange(lyr.d_model))
            note = (
                f"composite L_spec got worse ({float(before.mean()):.3e} -> {float(after.mean()):.3e}); "
                "all layers restored"
            )
            after = before
        else:
            note = f"composite L_spec {float(before.mean()):.3e} -> {float(after.mean()):.3e}"
        for r in reports:
            r.notes.append(note)
    return reports


def _array(x, name: str, integer: bool = False) -> torch.Tensor:
    """Tensor or array-like of real numbers -> tensor; ``integer``: keep integer/bool dtypes (tokens, masks)."""
    t = numeric_tensor(x, name)
    if t.is_complex():
        raise ValueError(f"{name}: expected real values, got complex dtype {t.dtype}")
    if not integer and not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def _composite_loss(ssm_layers, S, L) -> torch.Tensor:
    """Per-channel L_spec of prod_l |H_l,h(w_j)|^2 (identity mixing between layers) against S."""
    P = None
    for lyr in ssm_layers:
        _, Pl = _layer_kernel_power(lyr, L)
        P = Pl if P is None else P * Pl
    St = S if S.dim() == 2 else S.unsqueeze(0).expand_as(P)
    return tdi_fast.loss_of(P, St)
