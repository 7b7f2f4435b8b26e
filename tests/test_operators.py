"""ssm_tdi.operators against dense linear algebra, and claims C1-C3 as properties.

Tolerances for eigenvalues computed by a dense SVD: a backward-stable SVD returns the
exact singular values of Op + E with ||E||_2 <= c L eps ||Op||_2 (c a modest constant),
so by Weyl each computed s_j is within c L eps s_1 of the true one, and each
eta_j = s_j^2 within (2 s_1 + c L eps s_1) c L eps s_1 ~ 2 c L eps s_1^2. The FFT side
(|Hhat_j|^2) is far more accurate (eps log L relative to ||K||_2 sqrt(L) <= s_1 sqrt(L)).
We use ``SVD_C = 8`` as c, i.e. an eigenvalue tolerance of 16 L eps s_1^2.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import lengths, random_ssm, stable_ssms

from ssm_tdi.kernels import ssm_kernel
from ssm_tdi.operators import (
    circulant,
    circulant_trace,
    dft_power,
    induced_kernel_eig,
    induced_kernel_spectrum,
    toeplitz,
    toeplitz_circulant_gap,
    toeplitz_trace,
)

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps
SVD_C = 8


def _np(t):
    return t.detach().cpu().numpy()


def eig_tol(L, s1, eps=EPS64):
    """Absolute tolerance on eigenvalues eta = s^2 from a dense SVD (module docstring)."""
    return 2 * SVD_C * L * eps * s1**2


def _kernel(L, seed=0, batch=(), rho=0.95):
    ssm = random_ssm(4, seed, rho_max=rho, batch=batch)
    return ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)


def _random_cov(L, seed, rank=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(L, rank or L))
    S = X @ X.T / X.shape[1]
    return (S + S.T) / 2


def _sqrtm_psd(S):
    w, Q = np.linalg.eigh(S)
    return (Q * np.sqrt(np.clip(w, 0, None))) @ Q.T


# --------------------------------------------------------------------------- matrices


@pytest.mark.parametrize("L", [1, 2, 5, 33])
def test_toeplitz_and_circulant_match_scipy(L):
    K = _kernel(L)
    Kn = _np(K)
    T = _np(toeplitz(K))
    np.testing.assert_array_equal(T, scipy.linalg.toeplitz(Kn, np.r_[Kn[0], np.zeros(L - 1)]))
    np.testing.assert_array_equal(_np(circulant(K)), scipy.linalg.circulant(Kn))
    # T u is causal convolution, C u circular convolution
    u = np.random.default_rng(1).normal(size=L)
    np.testing.assert_allclose(T @ u, np.convolve(Kn, u)[:L], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(circulant(K)) @ u, np.real(np.fft.ifft(np.fft.fft(Kn) * np.fft.fft(u))),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch", [(3,), (2, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matrices_batched_and_dtypes(batch, dtype):
    K = _kernel(9, batch=batch).to(dtype)
    T, C = toeplitz(K), circulant(K)
    assert T.shape == C.shape == (*batch, 9, 9) and T.dtype == C.dtype == dtype
    for idx in np.ndindex(*batch):
        Kn = _np(K[idx])
        np.testing.assert_array_equal(_np(T[idx]), scipy.linalg.toeplitz(Kn, np.r_[Kn[0], np.zeros(8)]))
        np.testing.assert_array_equal(_np(C[idx]), scipy.linalg.circulant(Kn))
    P = dft_power(K)
    assert P.shape == (*batch, 9) and P.dtype == dtype


def test_dft_power_is_fft_power():
    K = _kernel(16)
    np.testing.assert_allclose(_np(dft_power(K)), np.abs(np.fft.fft(_np(K))) ** 2, rtol=1e-13, atol=1e-13)


# --------------------------------------------------------------------------- spectra


@pytest.mark.parametrize("structure", ["toeplitz", "circulant"])
@pytest.mark.parametrize("L", [1, 4, 40])
def test_spectrum_matches_eigvalsh(structure, L):
    K = _kernel(L, seed=2)
    Op = _np(toeplitz(K) if structure == "toeplitz" else circulant(K))
    ref = np.sort(np.linalg.eigvalsh(Op.T @ Op))[::-1]
    eta = _np(induced_kernel_spectrum(K, structure))
    assert eta.shape == (L,) and np.all(np.diff(eta) <= 0)
    np.testing.assert_allclose(eta, ref, rtol=0, atol=eig_tol(L, np.sqrt(ref[0])))


@pytest.mark.parametrize("structure", ["toeplitz", "circulant"])
@pytest.mark.parametrize("rank", [None, 5])
def test_spectrum_with_input_cov_matches_eigvalsh(structure, rank):
    L = 24
    K = _kernel(L, seed=3)
    S = _random_cov(L, 4, rank)
    Op = _np(toeplitz(K) if structure == "toeplitz" else circulant(K))
    R = _sqrtm_psd(S)
    ref = np.sort(np.linalg.eigvalsh(R @ Op.T @ Op @ R))[::-1]
    eta = _np(induced_kernel_spectrum(K, structure, input_cov=torch.tensor(S)))
    np.testing.assert_allclose(eta, ref, rtol=0, atol=10 * eig_tol(L, np.sqrt(ref[0])))
    if rank is not None:  # Sigma of rank r: at most r non-zero eigenvalues
        assert np.all(np.abs(eta[rank:]) <= 10 * eig_tol(L, np.sqrt(ref[0])))
    # identity covariance = white input
    eta_w = induced_kernel_spectrum(K, structure, input_cov=torch.eye(L, dtype=torch.float64))
    torch.testing.assert_close(eta_w, induced_kernel_spectrum(K, structure), rtol=1e-12, atol=1e-12)


def test_spectrum_with_circulant_cov_is_weighted_power():
    """C3, exact case: circulant covariance with spectrum P_u (F diag(P_u) F*) and a
    circulant operator give eigenvalues |Hhat_j|^2 P_u(w_j)."""
    L = 32
    K = _kernel(L, seed=5)
    j = np.arange(L)
    Pu = 1.0 + 0.8 * np.cos(2 * np.pi * j / L)  # symmetric in j <-> L - j: real covariance
    col = np.real(np.fft.ifft(Pu))
    S = scipy.linalg.circulant(col)
    eta = _np(induced_kernel_spectrum(K, "circulant", input_cov=torch.tensor(S)))
    ref = np.sort(_np(dft_power(K)) * Pu)[::-1]
    np.testing.assert_allclose(eta, ref, rtol=0, atol=10 * eig_tol(L, np.sqrt(ref[0])))


@pytest.mark.parametrize("structure", ["toeplitz", "circulant"])
@pytest.mark.parametrize("use_cov", [False, True])
def test_induced_kernel_eig_reconstruction(structure, use_cov):
    L = 20
    K = _kernel(L, seed=6)
    S = torch.tensor(_random_cov(L, 7)) if use_cov else None
    eta, V, W = induced_kernel_eig(K, structure, input_cov=S)
    Op = toeplitz(K) if structure == "toeplitz" else circulant(K)
    G = W.T @ Op.T @ Op @ W  # Gram operator in whitened coordinates
    s1sq = float(eta[0])
    torch.testing.assert_close(V @ torch.diag(eta) @ V.T, G, rtol=0, atol=10 * eig_tol(L, s1sq**0.5))
    torch.testing.assert_close(V.T @ V, torch.eye(L, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(eta, induced_kernel_spectrum(K, structure, input_cov=S), rtol=0,
                               atol=eig_tol(L, s1sq**0.5))
    assert torch.all(eta[:-1] >= eta[1:])
    if use_cov:
        torch.testing.assert_close(W @ W.T, S, rtol=1e-10, atol=1e-10)
    else:
        assert torch.equal(W, torch.eye(L, dtype=torch.float64))
    # target power of beta: sum_r a_r^2 = ||W^T beta||^2 (V orthogonal)
    beta = torch.randn(L, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a2 = (V.T @ (W.T @ beta)) ** 2
    torch.testing.assert_close(a2.sum(), (W.T @ beta).square().sum())


def test_spectrum_batched_and_float32():
    K = _kernel(12, seed=8, batch=(2, 3))
    for structure in ("toeplitz", "circulant"):
        eta = induced_kernel_spectrum(K, structure)
        assert eta.shape == (2, 3, 12)
        for idx in np.ndindex(2, 3):
            torch.testing.assert_close(eta[idx], induced_kernel_spectrum(K[idx], structure),
                                       rtol=1e-12, atol=1e-12)
        eta32 = induced_kernel_spectrum(K.float(), structure)
        assert eta32.dtype == torch.float32
        s1 = float(eta.max()) ** 0.5
        assert float((eta32.double() - eta).abs().max()) <= eig_tol(12, s1, EPS32) * 4
    # batched covariance, broadcast against the kernel's batch
    S = torch.stack([torch.tensor(_random_cov(12, s)) for s in range(3)])  # (3, 12, 12)
    eta = induced_kernel_spectrum(K, input_cov=S)
    assert eta.shape == (2, 3, 12)
    torch.testing.assert_close(eta[1, 2], induced_kernel_spectrum(K[1, 2], input_cov=S[2]))
    eta_v, V, W = induced_kernel_eig(K, input_cov=S)
    assert eta_v.shape == (2, 3, 12) and V.shape == (2, 3, 12, 12) and W.shape == (3, 12, 12)


def test_float32_covariance_from_rounded_products_is_accepted():
    """Regression: a float32 covariance formed as Q D Q^T is asymmetric at ~1e-8 relative
    and used to be rejected by a float64-sized symmetry tolerance (1e-12)."""
    g = torch.Generator().manual_seed(0)
    L = 64
    Q, _ = torch.linalg.qr(torch.randn(L, L, generator=g))
    S = Q @ torch.diag(torch.rand(L, generator=g)) @ Q.T
    # make sure it is asymmetric at the float32 rounding level whatever the BLAS did
    R = torch.rand(L, L, generator=g)
    S = S + 2 * EPS32 * float(S.abs().max()) * (R - R.T)
    assert float((S - S.T).abs().max()) > 1e-3 * EPS32 * float(S.abs().max())
    K = torch.randn(L, generator=g)
    eta = induced_kernel_spectrum(K, input_cov=S)
    ref = induced_kernel_spectrum(K.double(), input_cov=((S + S.T) / 2).double())
    assert float((eta.double() - ref).abs().max()) <= 10 * eig_tol(L, float(ref[0]) ** 0.5, EPS32)


# --------------------------------------------------------------------------- gap and traces


@pytest.mark.parametrize("L", [1, 2, 17])
def test_gap_and_traces_match_dense(L):
    K = _kernel(L, seed=9, batch=(2,))
    T, C = toeplitz(K), circulant(K)
    torch.testing.assert_close(toeplitz_circulant_gap(K), (C - T).square().sum((-1, -2)))
    torch.testing.assert_close(toeplitz_trace(K), torch.diagonal(T.mT @ T, dim1=-2, dim2=-1).sum(-1))
    torch.testing.assert_close(circulant_trace(K), torch.diagonal(C.mT @ C, dim1=-2, dim2=-1).sum(-1))
    torch.testing.assert_close(circulant_trace(K), dft_power(K).sum(-1))  # Parseval
    m = torch.arange(L, dtype=torch.float64)
    torch.testing.assert_close(toeplitz_circulant_gap(K), (m * K.square()).sum(-1))
    # tr(C^T C) = tr(T^T T) + ||C - T||_F^2 (T and C - T have disjoint supports)
    torch.testing.assert_close(circulant_trace(K), toeplitz_trace(K) + toeplitz_circulant_gap(K))


def test_gap_bounded_as_L_grows():
    """For a stable SSM, sum_m m K_m^2 converges, so the gap is bounded in L (C2):
    gap(L') - gap(L) = sum_{L<=m<L'} m K_m^2 <= (2 sum|c|)^2 sum_{m>=L} m r^m, r = rho^2,
    and sum_{m>=L} m r^m = r^L (L (1 - r) + r) / (1 - r)^2."""
    ssm = random_ssm(3, 10, rho_max=0.9)
    csum2 = float(2 * ssm.c.abs().sum()) ** 2
    r = ssm.rho**2
    Ls = (50, 200, 800)
    gaps = [float(toeplitz_circulant_gap(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))) for L in Ls]
    assert gaps[0] <= gaps[1] <= gaps[2]
    for L, g in zip(Ls[:-1], gaps[:-1], strict=True):
        tail = csum2 * r**L * (L * (1 - r) + r) / (1 - r) ** 2
        assert gaps[-1] - g <= tail * (1 + 1e-9) + 1e-12 * gaps[-1]


# --------------------------------------------------------------------------- properties C1, C2


@given(ssm=stable_ssms(), L=lengths(), f32=st.booleans())
def test_property_c1_circulant_spectrum_is_dft_power(ssm, L, f32):
    """C1: eigenvalues of C^T C are exactly |Hhat_j|^2. Computed by dense SVD, so they
    agree with sorted dft_power to 16 L eps s_1^2 (module docstring), s_1 = max |Hhat|."""
    eps = EPS64
    if f32:  # float32 dense SVDs are slow on some CPU LAPACKs: keep them short
        L = min(L, 96)
    K = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)
    if f32:
        K, eps = K.float(), EPS32
    eta = _np(induced_kernel_spectrum(K, "circulant")).astype(np.float64)
    P = np.sort(_np(dft_power(K)).astype(np.float64))[::-1]
    s1sq = P[0]
    assert np.all(np.abs(eta - P) <= eig_tol(L, np.sqrt(s1sq), eps) + 1e-300)
    # traces: sum eta = tr(C^T C) = L sum K^2 (Parseval)
    tr = float(circulant_trace(K))
    assert abs(eta.sum() - tr) <= 2 * SVD_C * L * L * eps * s1sq + 1e-300


@given(ssm=stable_ssms(), L=lengths())
def test_property_c2_mirsky_bound(ssm, L):
    """C2: sum_j (s_j - |Hhat|_(j))^2 <= ||T - C||_F^2 = sum_m m K_m^2.

    Rounding: each computed s_j, |Hhat|_(j) is off by at most d = c L eps s_max with
    s_max = max(s_1(T), max|Hhat|); then the computed sum of squares exceeds the exact one
    by at most 2 sqrt(L) d sqrt(gap) + L d^2 (Cauchy-Schwarz), and the gap itself is a sum
    of positive terms (relative error ~ L eps).
    """
    K = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)
    s = np.sqrt(np.clip(_np(induced_kernel_spectrum(K, "toeplitz")), 0, None))
    h = np.sort(np.abs(np.fft.fft(_np(K))))[::-1]
    gap = float(toeplitz_circulant_gap(K))
    lhs = float(np.sum((s - h) ** 2))
    d = SVD_C * L * EPS64 * max(s[0], h[0])
    tol = 2 * np.sqrt(L) * d * np.sqrt(gap) + L * d**2 + 4 * L * EPS64 * gap + 1e-300
    assert lhs <= gap + tol, (lhs, gap, tol)
    # trace identity for the Toeplitz side: sum s_j^2 = tr(T^T T) = sum (L - m) K_m^2
    trT = float(toeplitz_trace(K))
    assert abs(float(np.sum(s**2)) - trT) <= 2 * SVD_C * L * L * EPS64 * s[0] ** 2 + 1e-300


@given(ssm=stable_ssms(max_n2=4), L=lengths(max_value=64))
def test_property_spectrum_vs_eigvalsh(ssm, L):
    K = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)
    T = _np(toeplitz(K))
    ref = np.sort(np.linalg.eigvalsh(T.T @ T))[::-1]
    eta = _np(induced_kernel_spectrum(K))
    # eigvalsh of the explicitly formed T^T T adds its own ~L eps s_1^2 error
    assert np.all(np.abs(eta - ref) <= 2 * eig_tol(L, np.sqrt(max(ref[0], eta[0]))) + 1e-300)
