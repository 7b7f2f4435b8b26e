"""Discretization, convolution kernel and frequency response of a diagonal SSM.

One channel of a diagonal LTI SSM has N/2 complex modes; the conjugate half is
implied, so every sum over modes below is written once and doubled as ``2 Re``.
Shapes: mode tensors are ``(..., N2)`` with any leading batch dimensions (for
example ``(H, N2)`` for H channels); they broadcast against each other.

Formulas (docs/claims.md section 1):

* ZOH:      lam = exp(dt A),                    Bbar = (lam - 1) / A * B
* bilinear: lam = (1 + dt A/2) / (1 - dt A/2),  Bbar = dt / (1 - dt A/2) * B
* kernel:   K_m = 2 Re sum_n c_n lam_n^m,  c_n = C_n Bbar_n,  m = 0..L-1
* response: H(w) = sum_n c_n / (1 - lam_n e^{-iw}) + conj pair              (L = None)
            H_L(w) = sum_n c_n (1 - (lam_n e^{-iw})^L) / (1 - lam_n e^{-iw}) + conj pair
  where H_L is the exact DTFT of the length-L kernel (truncated geometric series).
"""

from __future__ import annotations

import math

import torch

from ._validate import as_tensor, check_finite, check_length, check_positive, check_result, check_stable

__all__ = [
    "discretize",
    "ssm_kernel",
    "frequency_response",
    "power_response",
    "rfft_grid",
    "mode_coefficients",
    "discretize_modes",
    "power_kernel",
]

# Below this |z| the ZOH factor (e^z - 1)/z is evaluated by its Taylor series:
# the series truncation error is |z|^3/24 < 1e-17 there, below float64 eps. Above it,
# expm1(z)/z is accurate to a few eps (exp(z) - 1 would lose eps/|z| to cancellation).
_PHI_SERIES_RADIUS = 1e-5
# The kernel is evaluated as a (Q, b) grid of time steps m = q b + r with b = ceil(sqrt(L)), so
# that z^m = z^{qb} z^r: two small power tables (..., N2, Q) and (..., N2, b) and ONE real
# matrix multiply; memory and transcendental evaluations O(batch * N2 * sqrt(L)), never
# O(batch * N2 * L), and autograd differentiates it through the same small tables.


def _complex_dtype_for(*ts: torch.Tensor) -> torch.dtype:
    double = any(t.dtype in (torch.float64, torch.complex128) for t in ts)
    return torch.complex128 if double else torch.complex64


def _phi(z: torch.Tensor) -> torch.Tensor:
    """(exp(z) - 1) / z, continuous at z = 0."""
    small = z.abs() < _PHI_SERIES_RADIUS
    z_safe = torch.where(small, torch.ones_like(z), z)
    direct = torch.expm1(z_safe) / z_safe
    series = 1 + z / 2 + z * z / 6
    return torch.where(small, series, direct)


def discretize(A, B, dt, method: str = "zoh"):
    """Discretize continuous diagonal modes.

    Args:
        A: complex ``(..., N2)``, continuous-time poles a_n.
        B: complex ``(..., N2)``, input coefficients B_n (broadcast against A).
        dt: real step(s) > 0, broadcastable to A; pass ``(H, 1)`` for one step per channel.
        method: ``"zoh"`` (zero-order hold, exact for piecewise-constant input) or
            ``"bilinear"`` (Tustin; the (1,1) Pade approximant of exp).

    Returns:
        ``(lam, Bbar)``, complex tensors of the broadcast shape.
    """
    if not isinstance(method, str) or method not in ("zoh", "bilinear"):
        raise ValueError(f"method: expected 'zoh' or 'bilinear', got {method!r}")
    A = check_finite(as_tensor(A, "A"), "A")
    B = check_finite(as_tensor(B, "B"), "B")
    dt = check_positive(check_finite(as_tensor(dt, "dt", complex_ok=False), "dt"), "dt")
    cdt = _complex_dtype_for(A, B, dt)
    A, B = A.to(cdt), B.to(cdt)
    dt = dt.to(A.real.dtype)
    try:
        shape = torch.broadcast_shapes(A.shape, B.shape, dt.shape)
    except RuntimeError as exc:
        raise ValueError(f"A, B, dt: shapes {tuple(A.shape)}, {tuple(B.shape)}, {tuple(dt.shape)} "
                         "do not broadcast") from exc
    if method == "bilinear" and bool(((1 - dt * A / 2).abs() == 0).any()):
        raise ValueError("A, dt: bilinear discretization undefined where dt*A = 2")
    lam, Bbar = discretize_modes(A, B, dt, method)
    check_result(lam, "A, dt", "the discrete pole exp(dt A)" if method == "zoh" else "the discrete pole")
    check_result(Bbar, "A, B, dt", "Bbar")
    return lam.expand(shape), Bbar.expand(shape)  # both of the broadcast shape, as documented


def discretize_modes(A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor, method: str):
    """(lam, Bbar) of :func:`discretize` for validated tensors of one complex dtype.

    No checks: the layer's hot path (its parameters are valid by construction).
    """
    dtA = dt * A
    if method == "zoh":
        # (lam - 1)/A = dt * (e^{dtA} - 1)/(dtA), stable as A -> 0
        return torch.exp(dtA), dt * _phi(dtA) * B
    denom = 1 - dtA / 2  # bilinear
    return (1 + dtA / 2) / denom, dt / denom * B


def mode_coefficients(lam, Bbar, C):
    """c_n = C_n * Bbar_n after validating and broadcasting the three mode tensors."""
    lam = check_finite(as_tensor(lam, "lam"), "lam")
    Bbar = check_finite(as_tensor(Bbar, "Bbar"), "Bbar")
    C = check_finite(as_tensor(C, "C"), "C")
    cdt = _complex_dtype_for(lam, Bbar, C)
    lam, Bbar, C = lam.to(cdt), Bbar.to(cdt), C.to(cdt)
    try:
        shape = torch.broadcast_shapes(lam.shape, Bbar.shape, C.shape)
    except RuntimeError as exc:
        raise ValueError(f"lam, Bbar, C: shapes {tuple(lam.shape)}, {tuple(Bbar.shape)}, "
                         f"{tuple(C.shape)} do not broadcast") from exc
    if len(shape) == 0:
        raise ValueError("lam: expected at least one mode axis (..., N2), got a scalar")
    # c is expanded too: with scalar Bbar and C, C * Bbar alone would have no mode axis.
    return lam.expand(shape), (C * Bbar).expand(shape)


def _kernel_block(L: int) -> int:
    """b = ceil(sqrt(L)): the inner block of the (Q, b) time grid (Q = ceil(L / b) outer steps)."""
    return max(1, math.isqrt(L - 1) + 1) if L > 1 else 1


def _powers(s: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Re, Im) of z^m = exp(s m) for modes s (..., N2) and real exponents m (M,): (..., N2, M) each.

    |z^m| = exp(Re(s) m) times (cos, sin)(Im(s) m): real exp and trig are ~7x faster than a complex
    exp on CPU and agree with it to a few ulp (benchmarks/RESULTS.md).
    """
    mag = torch.exp(s.real.unsqueeze(-1) * m)
    ph = s.imag.unsqueeze(-1) * m
    return mag * torch.cos(ph), mag * torch.sin(ph)


def power_kernel(c: torch.Tensor, s: torch.Tensor, L: int) -> torch.Tensor:
    """K_m = 2 Re sum_n c_n exp(m s_n), m = 0..L-1, for validated c, s of one broadcast shape (..., N2).

    No input checks (the hot path of the layer; :func:`ssm_kernel` is the validated entry). With
    m = q b + r (b = ceil(sqrt(L)), q < Q = ceil(L/b), r < b):

        K[q b + r] = 2 Re sum_n (c_n z_n^{qb}) z_n^r = 2 sum_n (P_re V_re - P_im V_im)[q, r],

    P = c z^{qb} (..., Q, N2), V = z^r (..., N2, b): one real matrix multiply
    [P_re, -P_im] (..., Q, 2 N2) @ [V_re; V_im] (..., 2 N2, b), whose (Q, b) result read row by row
    is the kernel (the last row cut at L). Gradients come from autograd through these small tables.
    Real ``(..., L)``.
    """
    b = _kernel_block(L)
    Q = -(-L // b)
    rdt = s.real.dtype
    r = torch.arange(b, device=s.device, dtype=rdt)
    qb = torch.arange(Q, device=s.device, dtype=rdt) * b
    v_re, v_im = _powers(s, r)  # (..., N2, b)
    z_re, z_im = _powers(s, qb)  # (..., N2, Q)
    c_re, c_im = c.real.unsqueeze(-1), c.imag.unsqueeze(-1)
    p_re = c_re * z_re - c_im * z_im
    p_im = c_re * z_im + c_im * z_re
    left = torch.cat([p_re, -p_im], dim=-2).transpose(-1, -2)  # (..., Q, 2 N2)
    right = torch.cat([v_re, v_im], dim=-2)  # (..., 2 N2, b)
    K = 2 * torch.matmul(left, right)  # (..., Q, b)
    return K.flatten(-2)[..., :L]


def ssm_kernel(lam, Bbar, C, L: int) -> torch.Tensor:
    """Convolution kernel K_m = 2 Re sum_n C_n Bbar_n lam_n^m for m = 0..L-1.

    Args:
        lam, Bbar, C: complex ``(..., N2)`` (broadcast); lam may be any finite value
            with lam != 0 (|lam| >= 1 gives a growing but finite kernel).
        L: kernel length >= 1.

    Returns:
        Real ``(..., L)`` tensor (float64 if any input is double precision, else float32).
    """
    L = check_length(L, "L")
    lam, c = mode_coefficients(lam, Bbar, C)
    if bool((lam == 0).any()):
        # lam^m with lam = 0 is 1, 0, 0, ...: handled by a tiny floor on |lam| would be
        # inexact, so reject; no discretized SSM (lam = exp(dt a)) has a zero pole.
        raise ValueError("lam: expected non-zero poles (lam = 0 has no logarithm)")
    s = torch.log(lam)
    return check_result(power_kernel(c, s, L), "lam, Bbar, C, L", "the kernel")


def frequency_response(lam, Bbar, C, omega, L: int | None = None) -> torch.Tensor:
    """Transfer function of the SSM on the unit circle, at angular frequencies ``omega``.

    ``L=None``: infinite-kernel response H(w) = sum_n c_n/(1 - lam_n e^{-iw}) + conj pair,
    which requires |lam| < 1. ``L`` given: exact DTFT of the length-L kernel,
    sum_{m<L} K_m e^{-iwm} = sum_n c_n (1 - q_n^L)/(1 - q_n) + conj pair with
    q_n = lam_n e^{-iw} (closed form, no FFT of K). At q_n = 1 (only possible when
    |lam_n| = 1) the removable singularity is evaluated by its Taylor expansion.

    Args:
        lam, Bbar, C: complex ``(..., N2)``.
        omega: real ``(F,)`` or ``(..., F)`` broadcast against the batch dimensions.
        L: None or kernel length >= 1.

    Returns:
        complex ``(..., F)``.
    """
    lam, c = mode_coefficients(lam, Bbar, C)
    omega = check_finite(as_tensor(omega, "omega", complex_ok=False), "omega")
    if omega.dim() == 0:
        omega = omega.reshape(1)
    omega = omega.to(device=lam.device, dtype=lam.real.dtype)
    try:
        torch.broadcast_shapes(lam.shape[:-1], omega.shape[:-1])
    except RuntimeError as exc:
        raise ValueError(f"omega: batch shape {tuple(omega.shape[:-1])} (of omega "
                         f"{tuple(omega.shape)}) does not broadcast against the modes' batch "
                         f"shape {tuple(lam.shape[:-1])}") from exc
    e = torch.exp(-1j * omega).unsqueeze(-2)  # (..., 1, F)
    lam_ = lam.unsqueeze(-1)  # (..., N2, 1)
    c_ = c.unsqueeze(-1)
    if L is None:
        check_stable(lam, "lam")
        H = c_ / (1 - lam_ * e) + c_.conj() / (1 - lam_.conj() * e)
        return check_result(H.sum(-2), "lam, Bbar, C, omega", "the frequency response")
    L = check_length(L, "L")
    H = (c_ * _geometric(lam_ * e, L) + c_.conj() * _geometric(lam_.conj() * e, L)).sum(-2)
    return check_result(H, "lam, Bbar, C, omega, L", "the frequency response")


def _geometric(q: torch.Tensor, L: int) -> torch.Tensor:
    """sum_{m<L} q^m = (1 - q^L)/(1 - q), accurate to a few eps everywhere.

    Far from q = 1 (|q - 1| >= 1/2) the direct quotient is well conditioned. Near q = 1
    the direct numerator 1 - q^L cancels (relative error eps / |1 - q^L|, up to
    sqrt(eps) at the old series switch), so there it is computed as
    -expm1(L log1p(q - 1)) over the exactly rounded 1 - q. At q = 1 exactly the
    removable singularity takes its first-order expansion L + L(L-1)/2 (q - 1), which
    gives the right value and derivative. Every branch is fed safe dummy values where
    it is not selected, so gradients stay finite.
    """
    d = q - 1
    near = d.abs() < 0.5
    one = d == 0
    d_safe = torch.where(one, torch.full_like(d, 0.25), d)
    q_far = torch.where(near, torch.zeros_like(q), q)
    direct = (1 - q_far**L) / (1 - q_far)
    close = torch.expm1(L * torch.log1p(d_safe)) / d_safe
    series = L + L * (L - 1) / 2 * d
    return torch.where(near, torch.where(one, series, close), direct)


def power_response(lam, Bbar, C, omega, L: int | None = None) -> torch.Tensor:
    """|H(w)|^2, the power frequency response (real ``(..., F)``)."""
    P = frequency_response(lam, Bbar, C, omega, L).abs().square()
    return check_result(P, "lam, Bbar, C", "the power response |H|^2")


def rfft_grid(L: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The rfft frequency grid w_j = 2 pi j / L, j = 0..floor(L/2)."""
    L = check_length(L, "L")
    return 2 * math.pi * torch.arange(L // 2 + 1, dtype=dtype, device=device) / L
