"""The fast TDI solver: fit N2 damped complex modes to a target power spectrum.

Problem. Given S(w_j) >= 0 on the rfft grid w_j = 2 pi j / L (j = 0..L//2), find poles
lam_n (|lam_n| < 1) and residues c_n, n = 1..N2, such that the length-L kernel
K_m = 2 Re sum_n c_n lam_n^m (m < L) has power spectrum |Khat_j|^2 = |H_L(w_j)|^2
proportional to S, i.e. minimise L_spec(|Khat|^2, S). Everything here works on plain
complex tensors ``(R, N2)`` (R independent rows = target spectra); :mod:`ssm_tdi.tdi`
maps the result onto a layer.

Algorithm (all rows batched):

1. *Spectral factor.* s = max(S / max S, floor). The real cepstrum
   chat = irfft(log(s) / 2) is folded onto causal lags (chat_0, 2 chat_1, ..., chat_{L/2}, 0, ...)
   and exponentiated: G = exp(rfft(folded)), g = irfft(G). Folding keeps the even part of
   the cepstrum, so |G_j|^2 = s_j exactly on the grid; g is the (circularly aliased)
   minimum-phase kernel with that spectrum: real, front-loaded, the natural target for a
   sum of decaying exponentials.
2. *Poles by matrix pencil.* The Hankel matrix Y[i, k] = g_{i+k} (k = 0..P) of a sum of
   M exponentials has rank M and a shift-invariant row space: with V the top-M right
   singular vectors, V[1:] = V[:-1] Z and eig(Z) = poles.
   M = 2 N2 real-signal poles come as conjugate pairs (one mode each) or real poles (one
   mode each as well); when that gives more than N2 modes, the N2 with the largest energy
   |c|^2 sum_m |lam|^{2m} in a least-squares fit are kept. Radii are clipped into
   [min_radius, max_radius]. Very short sequences (L < 6) or a failed pencil fall back to a
   heuristic placement (angles at quantiles of the spectral mass, radii from the spacing).
3. *Residues by linear least squares.* With the poles fixed, K is linear in (Re c, Im c):
   K = sum_n Re c_n * 2 Re(lam_n^m) + Im c_n * 2 Re(i lam_n^m); minimise ||K - g||_2 (by
   Parseval the same as sum_j |Khat_j - G_j|^2). The basis kernels come from
   ``kernels.ssm_kernel``.
4. *Levenberg-Marquardt on L_spec itself.* Parameters per mode: log-radius sigma, angle
   theta (s = log lam = sigma + i theta) and (Re c, Im c). Residual vector
   r = |Khat|^2/|| |Khat|^2 || - S/||S|| (so ||r||^2 = L_spec), Jacobian exact:
   dK/dsigma_n = m * 2 Re(c_n lam_n^m), dK/dtheta_n = m * 2 Re(i c_n lam_n^m) (per-mode kernels
   from ``kernels.ssm_kernel``, times m), dKhat = rfft(dK), d|Khat|^2 = 2 Re(conj(Khat) dKhat),
   then the derivative of the normalisation. sigma is projected into
   [log min_radius, log max_radius] after every step, so the poles stay stable with margin.
   Per-row damping mu (x/3 on success, x4 on failure), per-row early stop at ``tol``.

Phase variants (channel diversity). For a fitted row with DFT Khat and an angle alpha, the
kernel with DFT e^{i alpha phi(w_j)} Khat_j has *exactly* the same power spectrum; phi is a
smooth taper from 0 at w = 0 and pi (where a real kernel's DFT is real) to 1 elsewhere
(:func:`rotate_kernel`), so the rotated kernel has correlation ~cos(alpha) with the original
(alpha = pi/2: a quadrature partner, like a Hilbert transform). :func:`phase_variants` fits
it from (a) residues on the prototype's poles, refined by LM, and, where that start's
:func:`robust_loss` (L_spec after a 3e-7 relative perturbation of every parameter) is not
acceptable, also from (b) a fresh pencil + least-squares start, keeping the better: start (a)
sometimes ends in a near-cancellation of huge mode contributions whose tiny exact loss would
not survive float32 storage.

Conditioning (number of active modes). A length-L factor supports about L/4 complex modes
(:func:`max_active_modes`); fitting more (e.g. 32 modes to the 33 bins of L = 64) matches S to
1e-10 with huge cancelling modes (sum|c|/||K|| ~ 1e6), which neither float32 storage nor a
gradient step preserves. :func:`fit_spectra` therefore fits at most L // 4 active modes
and fills the rest with :func:`spare_modes` (distinct poles over the band, residues 1e-6 of
the kernel norm); rows whose fit fails the conditioning test (:func:`residue_ratio` > 100) or
the float32-survival test (:func:`robust_loss` > max(1e-4, 10 x loss)) are refitted with half
as many active modes, keeping the better candidate. The residue least squares carries a small
Tikhonov term (1e-7 s_max) that damps nearly dependent mode combinations. Phase variants refit
only the active modes. Every linear solve is SVD based (:func:`_svd_solve`):
``torch.linalg.lstsq`` is not bit-identical across processes on this CPU build.

Notes on cost: everything is float64; the per-iteration cost is
O(R N2 L log L) (4 N2 FFTs of length L per row) plus an O(R (4 N2)^3) solve, independent of
the number of layer channels sharing a spectrum.
"""

from __future__ import annotations

import math

import torch

from . import kernels

__all__ = [
    "min_phase_factor",
    "matrix_pencil",
    "mode_kernels",
    "fit_residues",
    "lm_refine",
    "fit_spectra",
    "phase_variants",
    "rotate_kernel",
    "robust_loss",
    "residue_ratio",
    "max_active_modes",
    "spare_modes",
    "power_of",
    "loss_of",
]

_CHUNK = 16  # rows per batch in the memory-heavy steps: (chunk, 4 N2, L) float64 tensors


def _chunks(R: int, size: int = _CHUNK):
    for a in range(0, R, size):
        yield slice(a, min(R, a + size))


# ----------------------------------------------------------------------------- basic pieces
def min_phase_factor(s: torch.Tensor, L: int) -> torch.Tensor:
    """Real kernel g ``(..., L)`` with |rfft(g)|^2 = s exactly (s > 0, ``(..., L//2+1)``), min-phase-like.

    Folded real cepstrum: chat = irfft(log(s)/2, n=L); w = (1, 2, ..., 2, [1 at L/2 if L even], 0, ...);
    g = irfft(exp(rfft(w * chat)), n=L).
    """
    chat = torch.fft.irfft(0.5 * torch.log(s), n=L)
    w = torch.zeros(L, dtype=s.dtype, device=s.device)
    w[0] = 1.0
    if L % 2 == 0:
        w[1 : L // 2] = 2.0
        w[L // 2] = 1.0
    else:
        w[1 : (L + 1) // 2] = 2.0
    return torch.fft.irfft(torch.exp(torch.fft.rfft(chat * w)), n=L)


def matrix_pencil(g: torch.Tensor, M: int, P: int | None = None) -> torch.Tensor:
    """Poles of a sum of M exponentials fitted to the rows of g ``(R, L)``: complex ``(R, M)``.

    Hankel Y (L-P rows, P+1 columns), V = top-M right singular vectors, poles = eig(V[:-1]^+ V[1:]).
    """
    R, L = g.shape
    if P is None:
        P = min(L // 3, 512)
    P = max(M, min(P, L - M - 1))
    idx = torch.arange(L - P, device=g.device)[:, None] + torch.arange(P + 1, device=g.device)[None, :]
    Y = g[:, idx]  # (R, L-P, P+1)
    # SVD of Y itself (LAPACK gesdd); eigh of Y^T Y can take seconds on the clustered tiny
    # eigenvalues of smooth spectra (subnormal arithmetic), the SVD does not
    V = torch.linalg.svd(Y, full_matrices=False).Vh[:, :M, :].transpose(1, 2)  # (R, P+1, M)
    # deterministic solve (torch.linalg.lstsq is not bit-identical across processes on this
    # CPU build; the SVD-based solve is): Z = V[:-1]^+ V[1:]
    Z = _svd_solve(V[:, :-1, :], V[:, 1:, :], rcond=1e-12)  # (R, M, M)
    return torch.linalg.eigvals(Z)


def _svd_solve(A: torch.Tensor, B: torch.Tensor, *, rcond: float = 1e-10, ridge: float = 0.0) -> torch.Tensor:
    """Deterministic regularised least squares: argmin_X ||A X - B||^2 + ||ridge s_max X||^2.

    A ``(..., m, n)``, B ``(..., m, k)``. Via the SVD A = U diag(s) V^T: X = V diag(f) U^T B with
    f = s / (s^2 + (ridge s_max)^2), and f = 0 where s <= rcond s_max (minimum-norm solution for
    rank-deficient A). Unlike ``torch.linalg.lstsq`` (observed not bit-identical across
    processes on this CPU build) the SVD gives the same bits for the same input.
    """
    U, sv, Vh = torch.linalg.svd(A, full_matrices=False)
    smax = sv[..., :1].clamp_min(1e-300)
    f = sv / (sv * sv + (ridge * smax) ** 2).clamp_min(1e-300)
    f = torch.where(sv > rcond * smax, f, torch.zeros_like(f))
    return Vh.transpose(-1, -2) @ (f.unsqueeze(-1) * (U.transpose(-1, -2) @ B))


def mode_kernels(lam: torch.Tensor, c: torch.Tensor, L: int) -> torch.Tensor:
    """Per-mode kernels 2 Re(c_n lam_n^m), m < L: ``(..., N2, L)`` via ``kernels.ssm_kernel``.

    lam, c: complex ``(..., N2)`` (broadcast).
    """
    lam, c = torch.broadcast_tensors(lam, c)
    return kernels.ssm_kernel(lam.unsqueeze(-1), torch.ones_like(c).unsqueeze(-1), c.unsqueeze(-1), L)


def _mode_kernels(lam: torch.Tensor, c: torch.Tensor, L: int) -> torch.Tensor:
    """:func:`mode_kernels` without its input checks (the solver's inner loop; lam finite and non-zero by
    construction): the same operations as ``kernels.ssm_kernel`` (c = C Bbar with Bbar = 1, s = log lam,
    ``kernels.power_kernel``), so the same bits. Callers check the loss for finiteness."""
    lam, c = torch.broadcast_tensors(lam, c)
    return kernels.power_kernel(c.unsqueeze(-1) * torch.ones_like(c).unsqueeze(-1), torch.log(lam.unsqueeze(-1)), L)


def power_of(lam: torch.Tensor, c: torch.Tensor, L: int) -> torch.Tensor:
    """|rfft(K)|^2 ``(..., L//2+1)`` of K = kernels.ssm_kernel(lam, 1, c, L) (= |H_L(w_j)|^2)."""
    K = kernels.ssm_kernel(lam, torch.ones_like(c), c, L)
    Kh = torch.fft.rfft(K)
    return Kh.real**2 + Kh.imag**2


def loss_of(Sm: torch.Tensor, St: torch.Tensor) -> torch.Tensor:
    """Row-wise L_spec with the convention L_spec = 2 for an all-zero model spectrum.

    Rows are first divided by their maximum (L_spec is scale-invariant), so no norm under- or
    overflows.
    """
    mm = Sm.amax(-1, keepdim=True)
    Sm = Sm / mm.clamp_min(1e-300)
    St = St / St.amax(-1, keepdim=True).clamp_min(1e-300)
    nm = Sm.norm(dim=-1, keepdim=True)
    nt = St.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    loss = ((Sm / nm.clamp_min(1e-300) - St / nt) ** 2).sum(-1)
    return torch.where(mm.squeeze(-1) > 0, loss, torch.full_like(loss, 2.0))


def fit_residues(lam: torch.Tensor, k: torch.Tensor, L: int, *, ridge: float = 1e-7) -> torch.Tensor:
    """Least-squares residues: argmin_c ||2 Re sum_n c_n lam_n^m - k_m||_2^2 + ||ridge s_max c||^2 over m < L.

    lam: complex ``(R, n)``, k: real ``(R, L)``; returns complex ``(R, n)``. Rank-deficient
    designs (real poles, whose Im c is inert; coincident poles) get the minimum-norm solution.
    The small Tikhonov term (``ridge`` times the design's largest singular value s_max) damps
    the directions with s < ridge s_max, i.e. combinations of nearly dependent modes that would
    need huge cancelling residues; directions with s >> ridge s_max are solved exactly.
    Deterministic (SVD based, see :func:`_svd_solve`).
    """
    R, n = lam.shape
    out = torch.empty(R, n, dtype=lam.dtype, device=lam.device)
    for sl in _chunks(R):
        one = torch.ones_like(lam[sl])
        basis = _mode_kernels(lam[sl].unsqueeze(-2), torch.stack([one, 1j * one], -2), L)  # (r, 2, n, L)
        D = basis.flatten(-3, -2).transpose(-1, -2)  # (r, L, 2n)
        # SVD-based: singular values below rcond * s_max are cut (inert columns such as Im c of
        # a real pole, or coincident poles, get the minimum-norm coefficient)
        sol = _svd_solve(D, k[sl].unsqueeze(-1), rcond=1e-10, ridge=ridge).squeeze(-1)
        out[sl] = torch.complex(sol[..., :n], sol[..., n:])
    return out


# ----------------------------------------------------------------------------- initial poles
def _clip_radius(lam: torch.Tensor, rmin: float, rmax: float) -> torch.Tensor:
    r = lam.abs()
    unit = torch.where(r > 0, lam / r.clamp_min(1e-300), torch.ones_like(lam))
    return unit * r.clamp(rmin, rmax)


def _heuristic_poles(s: torch.Tensor, N2: int, L: int, rmin: float, rmax: float) -> torch.Tensor:
    """Angles at the (n + 1/2)/N2 quantiles of the spectral mass on [0, pi]; radius
    exp(-spacing), spacing = local gap between neighbouring angles (at least 2 pi / L)."""
    F = s.shape[-1]
    w = kernels.rfft_grid(L, dtype=s.dtype)
    cdf = torch.cumsum(s, -1)
    cdf = cdf / cdf[..., -1:].clamp_min(1e-300)
    q = (torch.arange(N2, dtype=s.dtype) + 0.5) / N2
    j = torch.searchsorted(cdf.contiguous(), q.expand(s.shape[:-1] + (N2,)).contiguous()).clamp(0, F - 1)
    theta = w[j]
    gap = torch.diff(
        theta, dim=-1, prepend=theta[..., :1] - 2 * math.pi / L, append=theta[..., -1:] + 2 * math.pi / L
    )
    spacing = torch.maximum(gap[..., :-1], gap[..., 1:]).clamp_min(2 * math.pi / L)
    r = torch.exp(-spacing).clamp(rmin, rmax)
    return torch.polar(r, theta)


def _select_modes(
    z: torch.Tensor, g: torch.Tensor, N2: int, L: int, rmin: float, rmax: float
) -> torch.Tensor:
    """From the M pencil poles of one row pick N2 modes (one per conjugate pair / real pole)."""
    z = _clip_radius(z, rmin, rmax)
    # numerically real poles become exactly real (their Im c is then exactly inert)
    z = torch.where(z.imag.abs() <= 1e-9 * z.abs(), torch.complex(z.real, torch.zeros_like(z.real)), z)
    cand = z[z.imag >= 0]
    if cand.numel() > N2:
        c = fit_residues(cand.unsqueeze(0), g.unsqueeze(0), L)[0]
        r2 = cand.abs() ** 2
        energy = c.abs() ** 2 * (1 - r2**L) / (1 - r2)
        cand = cand[torch.argsort(energy, descending=True)[:N2]]
    if cand.numel() < N2:  # short L: pad with spread, moderately damped poles
        k = N2 - cand.numel()
        theta = math.pi * (torch.arange(k, dtype=g.dtype) + 0.5) / k
        pad = torch.polar(torch.full((k,), min(0.5, rmax), dtype=g.dtype), theta)
        cand = torch.cat([cand, pad.to(cand.dtype)])
    return cand


# ----------------------------------------------------------------------------- Levenberg-Marquardt
def _residual(s: torch.Tensor, c: torch.Tensor, st: torch.Tensor, L: int):
    """r = u - st with u = P/||P||, P = |rfft(K)|^2, and the pieces :func:`_jacobian` reuses.

    Per-mode basis kernels E1 = 2 Re(lam^m), E2 = 2 Re(i lam^m) (``kernels.ssm_kernel``); with
    c = x + i y: 2 Re(c lam^m) = x E1 + y E2 and 2 Re(i c lam^m) = x E2 - y E1.
    """
    lam = torch.exp(s)
    one = torch.ones_like(c)
    E = _mode_kernels(lam.unsqueeze(-2), torch.stack([one, 1j * one], -2), L)  # (r, 2, N2, L)
    E1, E2 = E[:, 0], E[:, 1]
    x, y = c.real.unsqueeze(-1), c.imag.unsqueeze(-1)
    Kc = x * E1 + y * E2  # 2 Re(c lam^m) per mode
    Kh = torch.fft.rfft(Kc.sum(-2))  # (r, F)
    P = Kh.real**2 + Kh.imag**2
    nP = P.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    u = P / nP
    return u - st, (E1, E2, x, y, Kc, Kh, nP, u)


def _jacobian(parts, m: torch.Tensor) -> torch.Tensor:
    """J = dr/d(sigma, theta, Re c, Im c) ``(r, F, 4 N2)`` from the pieces of :func:`_residual`.

    dK/dsigma_n = m 2 Re(c lam^m), dK/dtheta_n = m 2 Re(i c lam^m), dK/dRe c = E1, dK/dIm c = E2;
    d|Khat|^2 = 2 Re(conj(Khat) dKhat), then the derivative of the normalisation u = P/||P||.
    """
    E1, E2, x, y, Kc, Kh, nP, u = parts
    Kic = x * E2 - y * E1  # 2 Re(i c lam^m)
    cols = torch.cat([Kc * m, Kic * m, E1, E2], 1)  # (r, 4 N2, L)
    dKh = torch.fft.rfft(cols)  # (r, 4 N2, F)
    dP = 2 * (Kh.conj().unsqueeze(1) * dKh).real  # (r, 4 N2, F)
    J = (dP - (dP @ u.unsqueeze(-1)) * u.unsqueeze(1)) / nP.unsqueeze(1)  # (r, 4 N2, F)
    return J.transpose(1, 2)


def _eval(s, c, st, L, m, loss_now=None):
    """Residuals f ``(R, F)`` of every row and Jacobians ``(R, F, 4 N2)``, in chunks of rows.

    With ``loss_now`` (R,) (a trial step of :func:`lm_refine`) a chunk's Jacobian is computed only if one of
    its rows has a finite new loss below ``loss_now`` (a step that will be taken); a chunk of rejected steps
    needs f alone and its rows of J are left unset (never read). The Jacobian is always formed for a whole
    chunk, never a subset of its rows: batched kernels (bmm) round a batch of one row differently from a
    larger batch, and the fit must keep its bits. Returns (f, J, L_spec = sum f^2 (R,), accepted (R,) bool).
    """
    R = s.shape[0]
    F = st.shape[-1]
    f = torch.empty(R, F, dtype=st.dtype)
    J = torch.empty(R, F, 4 * s.shape[-1], dtype=st.dtype)
    loss = torch.empty(R, dtype=st.dtype)
    ok = torch.ones(R, dtype=torch.bool)
    for sl in _chunks(R):
        f[sl], parts = _residual(s[sl], c[sl], st[sl], L)
        loss[sl] = (f[sl] * f[sl]).sum(-1)
        if loss_now is not None:
            ok[sl] = torch.isfinite(loss[sl]) & (loss[sl] < loss_now[sl])
        if bool(ok[sl].any()):
            J[sl] = _jacobian(parts, m)
    return f, J, loss, ok


def lm_refine(
    lam: torch.Tensor,
    c: torch.Tensor,
    S: torch.Tensor,
    L: int,
    *,
    steps: int = 30,
    tol: float = 1e-10,
    min_radius: float = 1e-3,
    max_radius: float | None = None,
):
    """Levenberg-Marquardt on L_spec over (log-radius, angle, Re c, Im c) of every row.

    lam, c: complex ``(R, N2)``; S: real ``(R, F)`` targets. Returns (lam, c, L_spec (R,),
    iterations used). Only improving steps are taken, so the loss never increases.
    """
    R, N2 = lam.shape
    if max_radius is None:
        max_radius = math.exp(-0.5 / L)
    lo, hi = math.log(min_radius), math.log(max_radius)
    st = S / S.norm(dim=-1, keepdim=True)
    m = torch.arange(L, dtype=S.dtype)
    s = torch.log(_clip_radius(lam, min_radius, max_radius))
    c = c.clone()
    f, J, loss, _ = _eval(s, c, st, L, m)
    mu = torch.full((R,), 1e-3, dtype=S.dtype)
    its = 0
    for _ in range(max(0, int(steps))):
        active = (loss > tol) & (mu < 1e12)
        if not bool(active.any()):
            break
        its += 1
        ia = active.nonzero().squeeze(-1)
        Ja, fa = (J, f) if ia.numel() == R else (J[ia], f[ia])  # no copy of J when every row is active
        ca = c[ia]
        A = Ja.transpose(1, 2) @ Ja
        gvec = (Ja.transpose(1, 2) @ fa.unsqueeze(-1)).squeeze(-1)
        dg = A.diagonal(dim1=-2, dim2=-1)
        damp = dg + 1e-9 * dg.mean(-1, keepdim=True) + 1e-300
        Ad = A + torch.diag_embed(mu[ia, None] * damp)
        try:
            dp = -torch.linalg.solve(Ad, gvec)
        except RuntimeError:  # singular for some row: fall back to a pseudo-inverse
            dp = -(torch.linalg.pinv(Ad) @ gvec.unsqueeze(-1)).squeeze(-1)
        ds = torch.complex(dp[:, :N2], dp[:, N2 : 2 * N2])
        dc = torch.complex(dp[:, 2 * N2 : 3 * N2], dp[:, 3 * N2 :])
        s_new = s[ia] + ds
        s_new = torch.complex(s_new.real.clamp(lo, hi), s_new.imag)
        c_new = ca + dc
        finite = torch.isfinite(torch.view_as_real(s_new)).all((-1, -2)) & torch.isfinite(
            torch.view_as_real(c_new)
        ).all((-1, -2))
        s_new = torch.where(finite[:, None], s_new, s[ia])
        c_new = torch.where(finite[:, None], c_new, ca)
        # J only for the steps that will be taken (finite and improving): a rejected step needs f alone
        f_new, J_new, loss_new, better = _eval(s_new, c_new, st[ia], L, m, loss_now=loss[ia])
        ok = finite & better  # better: finite new loss below the current one
        acc = ia[ok]
        s[acc], c[acc], f[acc], J[acc], loss[acc] = s_new[ok], c_new[ok], f_new[ok], J_new[ok], loss_new[ok]
        mu[ia] = torch.where(ok, (mu[ia] / 3).clamp_min(1e-12), mu[ia] * 4)
    return torch.exp(s), c, loss, its


# ----------------------------------------------------------------------------- drivers
def robust_loss(
    lam: torch.Tensor, c: torch.Tensor, S: torch.Tensor, L: int, *, eps: float = 3e-7, draws: int = 3
) -> torch.Tensor:
    """max of L_spec over the fit itself and ``draws`` copies with every lam, c multiplied by
    (1 + eps * z), z standard complex normal (fixed seed): the loss that survives storing the
    parameters in float32 (unit roundoff 6e-8; lam = exp(dt a) with |dt Im a| up to pi turns
    it into an absolute phase error of up to ~2e-7, hence eps = 3e-7). A near-cancellation of
    huge mode contributions scores badly here even when its exact loss is tiny."""
    out = loss_of(power_of(lam, c, L), S)
    gen = torch.Generator().manual_seed(12345)
    for _ in range(draws):
        zl = torch.randn(lam.shape, generator=gen, dtype=torch.complex128)
        zc = torch.randn(c.shape, generator=gen, dtype=torch.complex128)
        out = torch.maximum(out, loss_of(power_of(lam * (1 + eps * zl), c * (1 + eps * zc), L), S))
    return out


def _init_from_kernels(
    k: torch.Tensor, s: torch.Tensor, N2: int, L: int, min_radius: float, max_radius: float
):
    """Steps 2-3 for target kernels k ``(R, L)``: pencil poles (heuristic fallback), LSQ residues."""
    R = k.shape[0]
    M = min(2 * N2, (L - 2) // 2)
    lam = torch.empty(R, N2, dtype=torch.complex128)
    use_pencil = M >= 2
    if use_pencil:
        try:
            z = matrix_pencil(k, M)
            if not bool(torch.isfinite(torch.view_as_real(z)).all()):
                raise RuntimeError("non-finite pencil poles")
            for i in range(R):
                lam[i] = _select_modes(z[i], k[i], N2, L, min_radius, max_radius)
        except RuntimeError:
            use_pencil = False
    if not use_pencil:
        lam = _heuristic_poles(s, N2, L, min_radius, max_radius).to(torch.complex128)
    return lam, fit_residues(lam, k, L), use_pencil


def residue_ratio(lam: torch.Tensor, c: torch.Tensor, L: int) -> torch.Tensor:
    """sum_n |c_n| / ||K||_2 per row (K = 2 Re sum_n c_n lam_n^m, m < L); inf for a zero kernel.

    ~1 for a kernel made of a few non-interfering modes; >> 1 means the modes cancel each other
    (the kernel is a small difference of large terms), which float32 storage and gradient steps
    do not preserve.
    """
    K = kernels.ssm_kernel(lam, torch.ones_like(c), c, L)
    n = K.norm(dim=-1)
    return torch.where(n > 0, c.abs().sum(-1) / n.clamp_min(1e-300), torch.full_like(n, float("inf")))


def max_active_modes(L: int) -> int:
    """Modes the length-L grid supports without cancellation: L // 4 (at least 2).

    The rfft grid has L//2 + 1 bins; the pencil on the length-L factor can resolve about L/2
    real poles, i.e. L/4 complex modes with a margin of two samples per parameter (measured at
    L = 64: 16 modes give sum|c|/||K|| ~ 1..10, 24 and more give 1e4..1e6).
    """
    return max(2, L // 4)


def spare_modes(R: int, n: int, L: int, scale: torch.Tensor, rmin: float, rmax: float):
    """n spare modes per row: distinct poles spread over the band (angles pi (k + 1/2) / n,
    radius exp(-max(pi / n, 2 pi / L)) clipped into [rmin, rmax]) with tiny residues
    ``scale`` ``(R,)`` each (real, alternating sign): they do not change the fit measurably
    but give training distinct modes to grow."""
    theta = math.pi * (torch.arange(n, dtype=torch.float64) + 0.5) / max(n, 1)
    r = min(max(math.exp(-max(math.pi / max(n, 1), 2 * math.pi / L)), rmin), rmax)
    lam = torch.polar(torch.full((n,), r, dtype=torch.float64), theta).expand(R, n).clone()
    sign = 1.0 - 2.0 * (torch.arange(n) % 2).to(torch.float64)
    c = (scale.to(torch.float64).unsqueeze(-1) * sign).to(torch.complex128)
    return lam, c


def _fit_active(S, s, g, n, L, steps, tol, min_radius, max_radius):
    lam, c, use_pencil = _init_from_kernels(g, s, n, L, min_radius, max_radius)
    init_loss = loss_of(power_of(lam, c, L), S)
    lam, c, loss, its = lm_refine(
        lam, c, S, L, steps=steps, tol=tol, min_radius=min_radius, max_radius=max_radius
    )
    return lam, c, loss, init_loss, its, use_pencil


def fit_spectra(
    S: torch.Tensor,
    N2: int,
    L: int,
    *,
    floor: float = 1e-6,
    steps: int = 30,
    tol: float = 1e-10,
    min_radius: float = 1e-3,
    max_radius: float | None = None,
    max_ratio: float = 100.0,
    accept: float = 1e-4,
    spare_scale: float = 1e-6,
):
    """Fit every row of S ``(R, F)`` (F = L//2+1, non-negative, not all zero) with N2 modes.

    Conditioning. At most ``max_active_modes(L)`` (= L // 4) modes are fitted ("active"); the
    rest are :func:`spare_modes` with residues ``spare_scale * ||K||`` / count. A fit with
    :func:`residue_ratio` > ``max_ratio`` or a :func:`robust_loss` (float32 survival) above
    max(``accept``, 10 x its own loss) is refitted with half as many active modes (down to 1),
    keeping the better candidate (first: ratio and robust test passed; then: smaller robust loss).

    Returns (lam, c, loss, info): complex ``(R, N2)`` poles/residues with
    |lam| in [min_radius, max_radius], active modes first, the final L_spec per row, and a
    dict with ``init_loss`` (after steps 1-3 for the first candidate), ``iterations`` (LM),
    ``robust_loss``, ``residue_ratio`` and ``n_active`` (``(R,)`` long).
    """
    if max_radius is None:
        max_radius = math.exp(-0.5 / L)
    S = S.to(torch.float64)
    R = S.shape[0]
    s = (S / S.amax(-1, keepdim=True)).clamp_min(floor)
    g = min_phase_factor(s, L)
    n = min(N2, max_active_modes(L))
    best = None
    rows = torch.arange(R)
    its_total = 0
    init_loss = None
    use_pencil = True
    while True:
        lam, c, loss, il, its, up = _fit_active(
            S[rows], s[rows], g[rows], n, L, steps, tol, min_radius, max_radius
        )
        its_total += its
        if init_loss is None:
            init_loss, use_pencil = il, up
        rob = robust_loss(lam, c, S[rows], L)
        rat = residue_ratio(lam, c, L)
        ok = (rat <= max_ratio) & (rob <= torch.clamp(10 * loss, min=accept))
        cand = {
            "lam": lam,
            "c": c,
            "loss": loss,
            "rob": rob,
            "rat": rat,
            "ok": ok,
            "n": torch.full((rows.numel(),), n, dtype=torch.long),
        }
        if best is None:
            best = {k: v.clone() for k, v in cand.items()}
            best["lam"] = torch.zeros(R, N2, dtype=torch.complex128)
            best["c"] = torch.zeros(R, N2, dtype=torch.complex128)
            best["lam"][:, :n], best["c"][:, :n] = lam, c
        else:
            old_ok, old_rob = best["ok"][rows], best["rob"][rows]
            better = (ok & ~old_ok) | ((ok == old_ok) & (rob < old_rob))
            idx = rows[better]
            for key in ("loss", "rob", "rat", "ok", "n"):
                best[key][idx] = cand[key][better]
            best["lam"][idx] = 0
            best["c"][idx] = 0
            best["lam"][idx, :n], best["c"][idx, :n] = lam[better], c[better]
        rows = (~best["ok"]).nonzero().flatten()
        if rows.numel() == 0 or n <= 1:
            break
        n = max(1, n // 2)
    lam_o, c_o = best["lam"], best["c"]
    # spare modes (after the active ones) for rows with fewer than N2 active modes
    for na in best["n"].unique().tolist():
        if na >= N2:
            continue
        idx = (best["n"] == na).nonzero().flatten()
        a_lam, a_c = lam_o[idx, :na], c_o[idx, :na]
        knorm = kernels.ssm_kernel(a_lam, torch.ones_like(a_c), a_c, L).norm(dim=-1)
        sl, sc = spare_modes(idx.numel(), N2 - na, L, spare_scale * knorm / (N2 - na), min_radius, max_radius)
        lam_o[idx, na:], c_o[idx, na:] = sl, sc
    loss_o = loss_of(power_of(lam_o, c_o, L), S)
    return (
        lam_o,
        c_o,
        loss_o,
        {
            "init_loss": init_loss,
            "iterations": its_total,
            "pencil": use_pencil,
            "robust_loss": robust_loss(lam_o, c_o, S, L),
            "residue_ratio": residue_ratio(lam_o, c_o, L),
            "n_active": best["n"],
        },
    )


def rotate_kernel(
    lam: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor, L: int, taper: float = math.pi / 16
) -> torch.Tensor:
    """Kernels ``(R, L)`` with DFT e^{i alpha phi(w_j)} Khat_j: the same power spectrum as
    K = 2 Re sum_n c_n lam_n^m, rotated by alpha away from w = 0 and w = pi.

    phi(w) = sin^2(pi/2 min(1, min(w, pi - w) / taper)) goes smoothly from 0 at DC and Nyquist
    (where a real kernel's DFT must stay real) to 1; without the taper (a phase jump, as in
    the Hilbert transform) the rotated kernel would have a slowly decaying 1/m tail that no
    sum of a few decaying modes represents well. Inner product with K:
    sum_j |Khat_j|^2 cos(alpha phi(w_j)) (counting the conjugate half), i.e. cos(alpha) ||K||^2
    for spectra away from DC and Nyquist.
    """
    K = kernels.ssm_kernel(lam, torch.ones_like(c), c, L)
    Kh = torch.fft.rfft(K)
    w = kernels.rfft_grid(L)
    ramp = (torch.minimum(w, math.pi - w) / taper).clamp(0.0, 1.0)
    phi = torch.sin(math.pi / 2 * ramp) ** 2
    if L % 2 == 0:
        phi[-1] = 0.0  # exactly real at Nyquist
    phi[0] = 0.0
    rot = torch.polar(torch.ones_like(alpha.unsqueeze(-1) * phi), alpha.unsqueeze(-1) * phi) * Kh
    return torch.fft.irfft(rot, n=L)


def phase_variants(
    lam: torch.Tensor,
    c: torch.Tensor,
    S: torch.Tensor,
    alpha: torch.Tensor,
    L: int,
    *,
    steps: int = 30,
    tol: float = 1e-10,
    min_radius: float = 1e-3,
    max_radius: float | None = None,
    accept: float | torch.Tensor = 1e-4,
    n_active: torch.Tensor | None = None,
):
    """Phase-rotated refits: for each row i a model matching S[i] whose kernel starts from the
    alpha[i]-rotation k_i of the prototype (lam[i], c[i]) (:func:`rotate_kernel`).

    Start (a): residues of k_i on the prototype's poles, refined by LM on L_spec (cheap, close to
    the prototype; it can end in a near-cancellation of large modes). Rows whose
    :func:`robust_loss` exceeds ``accept`` (scalar or per row) get a second start (b): a fresh
    pencil + least-squares fit of k_i (poles adapted to the rotated kernel), refined by LM; the
    start with the smaller robust loss is kept.

    ``n_active`` ``(R,)`` (from :func:`fit_spectra`): only the first n_active[i] modes of row i
    are refitted; its spare modes (the rest) are copied unchanged, so the variant is as well
    conditioned as the prototype.

    Returns (lam, c, loss, robust) of the variants, ``(R, N2)``, ``(R, N2)``, ``(R,)``, ``(R,)``.
    """
    if max_radius is None:
        max_radius = math.exp(-0.5 / L)
    R, N2 = lam.shape
    if n_active is None:
        n_active = torch.full((R,), N2, dtype=torch.long)
    acc = torch.as_tensor(accept, dtype=torch.float64).expand(R)
    lam_o, c_o = lam.clone(), c.clone()
    for na in n_active.unique().tolist():
        idx = (n_active == na).nonzero().flatten()
        k = rotate_kernel(lam[idx], c[idx], alpha[idx], L)
        lv, cv = _phase_variants_core(
            lam[idx, :na],
            k,
            S[idx],
            L,
            steps=steps,
            tol=tol,
            min_radius=min_radius,
            max_radius=max_radius,
            accept=acc[idx],
        )
        lam_o[idx, :na], c_o[idx, :na] = lv, cv
    return lam_o, c_o, loss_of(power_of(lam_o, c_o, L), S), robust_loss(lam_o, c_o, S, L)


def _phase_variants_core(lam, k, S, L, *, steps, tol, min_radius, max_radius, accept):
    R, N2 = lam.shape
    ca = fit_residues(lam, k, L)
    lam_v, c_v, loss, _ = lm_refine(
        lam.clone(), ca, S, L, steps=steps, tol=tol, min_radius=min_radius, max_radius=max_radius
    )
    rob = robust_loss(lam_v, c_v, S, L)
    retry = (rob > accept).nonzero().flatten()
    if retry.numel():
        s = (S[retry] / S[retry].amax(-1, keepdim=True)).clamp_min(1e-6)
        lb, cb, _ = _init_from_kernels(k[retry], s, N2, L, min_radius, max_radius)
        lb, cb, lossb, _ = lm_refine(
            lb, cb, S[retry], L, steps=steps, tol=tol, min_radius=min_radius, max_radius=max_radius
        )
        robb = robust_loss(lb, cb, S[retry], L)
        better = robb < rob[retry]
        idx = retry[better]
        lam_v[idx], c_v[idx] = lb[better], cb[better]
    return lam_v, c_v
