"""ssm_tdi.kernels against brute force: recurrence, powers, FFT, DTFT sums, expm.

Conventions checked here (docs/claims.md section 1): K_m = 2 Re sum_n c_n lam_n^m with
c_n = C_n Bbar_n; H_L(w) = sum_{m<L} K_m e^{-iwm}; H(w) = lim_{L->inf} H_L(w).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import lengths, random_ssm, stable_ssms

from ssm_tdi import kernels
from ssm_tdi.kernels import (
    discretize,
    frequency_response,
    mode_coefficients,
    power_response,
    rfft_grid,
    ssm_kernel,
)

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


# --------------------------------------------------------------------------- references


def recurrence_impulse_response(lam, Bbar, C, L):
    """Run x_{k+1} = lam x_k + Bbar u_k, y_k = 2 Re(C x_k) from x_0 = 0 on a unit impulse.

    With this (state-after-input) indexing y_0 = 0 and y_{m+1} = K_m: the kernel is the
    impulse response delayed by one step. Returns y_1..y_L, i.e. K_0..K_{L-1}.
    """
    lam, Bbar, C = (np.asarray(t, dtype=np.complex128) for t in (lam, Bbar, C))
    x = np.zeros(np.broadcast_shapes(lam.shape, Bbar.shape, C.shape), dtype=np.complex128)
    ys = []
    for k in range(L + 1):
        ys.append(2 * np.real(np.sum(C * x, axis=-1)))
        u = 1.0 if k == 0 else 0.0
        x = lam * x + Bbar * u
    return np.stack(ys[1:], axis=-1)


def power_kernel(lam, c, L):
    """K_m = 2 Re sum_n c_n lam_n^m by explicit integer powers (numpy, complex128)."""
    m = np.arange(L)
    return 2 * np.real(np.sum(c[..., :, None] * lam[..., :, None] ** m, axis=-2))


def dtft(K, omega):
    """Direct sum_{m<L} K_m e^{-i w m} (numpy, any real omega)."""
    m = np.arange(K.shape[-1])
    return np.exp(-1j * np.multiply.outer(omega, m)) @ K


def _np(t):
    return t.detach().cpu().numpy()


def dtft_tolerance(K, omega, csum):
    """Rounding budget for comparing two evaluations of sum_{m<L} K_m e^{-iwm}.

    Two parts: (i) summing L terms of size <= csum = 2 sum|c_n| costs ~ L eps csum;
    (ii) omega itself is rounded (|dw| <= eps |w|, e.g. 2 pi j / L) and the DTFT moves by
    |dH/dw| <= sum_m m |K_m| per unit of w. For poles near the unit circle (ii)
    dominates: sum_m m |K_m| ~ csum / (1 - rho)^2.
    """
    L = K.shape[-1]
    slope = np.sum(np.arange(L) * np.abs(K))
    return 100 * L * EPS64 * csum + 8 * EPS64 * np.abs(np.asarray(omega)) * slope


# --------------------------------------------------------------------------- kernel


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("L", [1, 5, 64, 300])
def test_kernel_matches_recurrence_and_powers(seed, L):
    ssm = random_ssm(4, seed)
    K = _np(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))
    assert K.shape == (L,) and K.dtype == np.float64
    ref_rec = recurrence_impulse_response(_np(ssm.lam), _np(ssm.Bbar), _np(ssm.C), L)
    lam, c = ssm.numpy()
    ref_pow = power_kernel(lam, c, L)
    scale = 2 * np.abs(c).sum()  # |K_m| <= 2 sum |c| for |lam| < 1
    np.testing.assert_allclose(K, ref_rec, rtol=0, atol=50 * L * EPS64 * scale)
    np.testing.assert_allclose(K, ref_pow, rtol=0, atol=50 * L * EPS64 * scale)


def test_kernel_first_values_by_hand():
    lam = torch.tensor([0.5 + 0.5j], dtype=torch.complex128)
    Bbar = torch.tensor([1.0 + 0j], dtype=torch.complex128)
    C = torch.tensor([2.0 - 1j], dtype=torch.complex128)
    K = ssm_kernel(lam, Bbar, C, 3)
    c = (2 - 1j)
    expect = [2 * (c).real, 2 * (c * (0.5 + 0.5j)).real, 2 * (c * (0.5 + 0.5j) ** 2).real]
    np.testing.assert_allclose(_np(K), expect, rtol=1e-15, atol=1e-15)


def test_kernel_scalar_and_broadcast_coefficients():
    # scalar Bbar and C broadcast against the (N2,) poles (regression: this used to crash
    # because c = C * Bbar had no mode axis).
    lam = torch.tensor([0.5 + 0.2j, -0.3 + 0j], dtype=torch.complex128)
    K = ssm_kernel(lam, 1.0, 1.0, 6)
    ref = power_kernel(_np(lam), np.ones(2, dtype=np.complex128), 6)
    np.testing.assert_allclose(_np(K), ref, rtol=1e-14, atol=1e-15)
    # (H, N2) poles with shared (N2,) coefficients
    ssm = random_ssm(3, 7, batch=(4,))
    K = ssm_kernel(ssm.lam, ssm.Bbar[0], ssm.C[0], 10)
    ref = power_kernel(_np(ssm.lam), _np(ssm.Bbar[0] * ssm.C[0])[None, :], 10)
    np.testing.assert_allclose(_np(K), ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("batch", [(5,), (2, 3)])
def test_kernel_batched(batch):
    ssm = random_ssm(3, 11, batch=batch)
    L = 40
    K = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)
    assert K.shape == (*batch, L)
    lam, c = ssm.numpy()
    np.testing.assert_allclose(_np(K), power_kernel(lam, c, L), rtol=0, atol=1e-12)
    # each batch entry equals the unbatched call
    flat_lam, flat_B, flat_C = (t.reshape(-1, 3) for t in (ssm.lam, ssm.Bbar, ssm.C))
    for i in range(flat_lam.shape[0]):
        Ki = ssm_kernel(flat_lam[i], flat_B[i], flat_C[i], L)
        torch.testing.assert_close(K.reshape(-1, L)[i], Ki, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("L", [7, 300])
def test_kernel_float32(L):
    ssm = random_ssm(4, 3, batch=(2,))
    K64 = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)
    K32 = ssm_kernel(ssm.lam.to(torch.complex64), ssm.Bbar.to(torch.complex64), ssm.C.to(torch.complex64), L)
    assert K32.dtype == torch.float32
    scale = float(2 * (ssm.C * ssm.Bbar).abs().sum(-1).max())
    # float32: per-term error ~ eps32 * (1 + m |log lam|), at most ~ L eps32 relative to scale
    err = float((K32.double() - K64).abs().max())
    assert err <= 4 * L * EPS32 * scale, err


def test_kernel_mixed_precision_promotes_to_double():
    lam = torch.tensor([0.5 + 0.1j], dtype=torch.complex64)
    K = ssm_kernel(lam, torch.tensor([1 + 0j], dtype=torch.complex128), torch.tensor([1 + 0j]), 4)
    assert K.dtype == torch.float64


def test_kernel_growing_poles_are_allowed():
    # |lam| >= 1 gives a growing but finite kernel (documented); compare with powers
    lam = torch.tensor([1.01 + 0.1j, -1.0 + 0j], dtype=torch.complex128)
    c = np.array([0.3 - 0.2j, 1.0])
    K = ssm_kernel(lam, torch.tensor(c), 1.0, 50)
    ref = power_kernel(_np(lam), c, 50)
    np.testing.assert_allclose(_np(K), ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- autograd


def _grad_inputs(seed, batch=(), n2=2, rho=0.9):
    ssm = random_ssm(n2, seed, rho_max=rho, batch=batch)
    return tuple(t.clone().requires_grad_(True) for t in (ssm.lam, ssm.Bbar, ssm.C))


@pytest.mark.parametrize("L", [1, 9, 257, 600])
def test_kernel_gradcheck(L):
    """Through the (Q, b) power tables (b = ceil(sqrt(L))): L = 1 (one entry), 9 (a full 3 x 3 grid),
    257 and 600 (last row cut short)."""
    assert [kernels._kernel_block(n) for n in (1, 9, 257, 600)] == [1, 3, 17, 25]
    lam, Bbar, C = _grad_inputs(0, rho=0.99)
    assert torch.autograd.gradcheck(lambda a, b, c: ssm_kernel(a, b, c, L), (lam, Bbar, C),
                                    eps=1e-7, atol=1e-6, rtol=1e-5, fast_mode=L > 256)


def test_kernel_gradcheck_broadcast_batch():
    """Gradients of broadcast inputs are summed back to their own shapes (_sum_to)."""
    lam, _, _ = _grad_inputs(1, batch=(2,))
    _, Bbar, C = _grad_inputs(2)  # (N2,) shared across the batch
    C1 = C.detach()[None, :].clone().requires_grad_(True)  # (1, N2)
    assert torch.autograd.gradcheck(lambda a, b, c: ssm_kernel(a, b, c, 12), (lam, Bbar, C1),
                                    eps=1e-7, atol=1e-6, rtol=1e-5)
    # scalar coefficients
    b = torch.tensor(0.7 - 0.2j, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ssm_kernel(a, b, 1.0, 5), (lam, b), eps=1e-7, atol=1e-6)


def test_kernel_gradient_matches_autograd_of_powers():
    """The hand-written backward agrees with plain autograd on the direct power formula."""
    lam, Bbar, C = _grad_inputs(3, batch=(3,), n2=4)
    w = torch.randn(3, 300, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    g1 = torch.autograd.grad((ssm_kernel(lam, Bbar, C, 300) * w).sum(), (lam, Bbar, C))
    m = torch.arange(300, dtype=torch.float64)
    Kd = 2 * ((C * Bbar).unsqueeze(-1) * lam.unsqueeze(-1) ** m).sum(-2).real
    g2 = torch.autograd.grad((Kd * w).sum(), (lam, Bbar, C))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_frequency_response_gradcheck():
    lam, Bbar, C = _grad_inputs(4, rho=0.95)
    omega = torch.tensor([0.0, 0.3, math.pi, 5.0], dtype=torch.float64)
    for L in (None, 8):
        assert torch.autograd.gradcheck(lambda a, b, c, L=L: frequency_response(a, b, c, omega, L=L),
                                        (lam, Bbar, C), eps=1e-7, atol=1e-6, rtol=1e-5)
    # at a pole exactly on q = 1 (removable singularity, |lam| = 1) the gradient is finite
    lam1 = torch.tensor([1.0 + 0j, 0.5 + 0.5j], dtype=torch.complex128, requires_grad=True)
    H = frequency_response(lam1, 1.0, 1.0, torch.tensor([0.0], dtype=torch.float64), L=6)
    (g,) = torch.autograd.grad(H.abs().square().sum(), lam1)
    assert torch.isfinite(torch.view_as_real(g)).all()


# --------------------------------------------------------------------------- frequency response


@pytest.mark.parametrize("L", [1, 2, 16, 257])
def test_frequency_response_on_dft_grid_equals_fft(L):
    ssm = random_ssm(5, 5, rho_max=0.99)
    K = _np(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))
    w = 2 * np.pi * np.arange(L) / L
    H = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(w), L=L))
    F = np.fft.fft(K)
    scale = 2 * np.abs(_np(ssm.c)).sum() * L
    np.testing.assert_allclose(H, F, rtol=0, atol=100 * L * EPS64 * scale)


def test_frequency_response_off_grid_equals_direct_dtft():
    ssm = random_ssm(4, 6, rho_max=0.99)
    L = 37
    omega = np.array([-7.0, -np.pi, -1e-3, 0.0, 1e-9, 0.123, 1.0, np.pi - 1e-7, np.pi, 4.0, 13.7])
    H = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(omega), L=L))
    K = _np(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))
    ref = dtft(K, omega)
    scale = 2 * np.abs(_np(ssm.c)).sum() * L
    np.testing.assert_allclose(H, ref, rtol=0, atol=100 * L * EPS64 * scale)


def test_frequency_response_infinite_vs_long_kernel():
    """H(w) (L=None) vs the DTFT of a truncated kernel.

    |H(w) - H_L(w)| = |sum_{m>=L} K_m e^{-iwm}| <= 2 sum_n |c_n| rho^L / (1 - rho),
    rho = max |lam_n| (geometric tail of |K_m| <= 2 sum |c_n| rho^m).
    """
    ssm = random_ssm(4, 8, rho_max=0.9)
    rho = ssm.rho
    csum = float(ssm.c.abs().sum())
    omega = np.linspace(-np.pi, np.pi, 33)
    H = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(omega)))
    for L in (5, 20, 60, 400):
        K = _np(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))
        bound = 2 * csum * rho**L / (1 - rho)
        err = np.abs(H - dtft(K, omega)).max()
        assert err <= bound + 1e3 * EPS64 * csum / (1 - rho), (L, err, bound)
        # the closed form with L given agrees with the same direct sum
        HL = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(omega), L=L))
        np.testing.assert_allclose(HL, dtft(K, omega), rtol=0, atol=1e3 * EPS64 * csum * L)
    assert np.abs(H - dtft(K, omega)).max() < 1e-12 * csum / (1 - rho)  # converged at L = 400


def test_frequency_response_closed_form_infinite():
    lam = np.array([0.6 * np.exp(0.4j), -0.2 + 0.1j])
    c = np.array([1.0 - 0.5j, 0.25j])
    w = np.array([0.0, 0.5, 2.0, np.pi])
    e = np.exp(-1j * w)[None, :]
    ref = (c[:, None] / (1 - lam[:, None] * e) + np.conj(c)[:, None] / (1 - np.conj(lam)[:, None] * e)).sum(0)
    H = _np(frequency_response(torch.tensor(lam), torch.tensor(c), 1.0, torch.tensor(w)))
    np.testing.assert_allclose(H, ref, rtol=1e-14)
    P = _np(power_response(torch.tensor(lam), torch.tensor(c), 1.0, torch.tensor(w)))
    np.testing.assert_allclose(P, np.abs(ref) ** 2, rtol=1e-14)
    # real kernel: H(-w) = conj H(w)
    Hm = _np(frequency_response(torch.tensor(lam), torch.tensor(c), 1.0, torch.tensor(-w)))
    np.testing.assert_allclose(Hm, np.conj(ref), rtol=1e-14)


def test_frequency_response_near_unit_pole_is_accurate():
    """Poles just inside the unit circle at w = 0 (q -> 1): relative accuracy ~ eps.

    Regression: 1 - q^L cancelled (error up to sqrt(eps) ~ 1e-8 relative) near q = 1.
    Reference: the truncated geometric sum in 50-digit arithmetic.
    """
    mpmath.mp.dps = 50
    for L in (3, 16, 1000):
        for d in (1e-12, 1e-9, 3e-9, 1e-7, 1e-4):
            lam = torch.tensor([1 - d + 0j], dtype=torch.complex128)
            H = complex(frequency_response(lam, 0.5, 1.0, torch.tensor([0.0], dtype=torch.float64), L=L)[0])
            q = mpmath.mpf(float(lam.real[0]))
            ref = float((1 - q**L) / (1 - q))  # 2 Re(0.5 * sum q^m)
            assert abs(H - ref) <= 20 * EPS64 * abs(ref), (L, d, H, ref)
    # exactly on the unit circle at the resonance: sum of L ones
    H = frequency_response(torch.tensor([1.0 + 0j]), 0.5, 1.0, torch.tensor([0.0]), L=7)
    assert abs(complex(H[0]) - 7.0) < 1e-5


@pytest.mark.parametrize("batch", [(3,), (2, 3)])
def test_frequency_response_batched(batch):
    ssm = random_ssm(4, 9, batch=batch)
    omega = torch.linspace(0, math.pi, 6, dtype=torch.float64)
    for L in (None, 10):
        H = frequency_response(ssm.lam, ssm.Bbar, ssm.C, omega, L=L)
        assert H.shape == (*batch, 6)
        flat = [frequency_response(a, b, c, omega, L=L) for a, b, c in
                zip(ssm.lam.reshape(-1, 4), ssm.Bbar.reshape(-1, 4), ssm.C.reshape(-1, 4), strict=True)]
        torch.testing.assert_close(H.reshape(-1, 6), torch.stack(flat), rtol=1e-14, atol=1e-14)
    # per-channel frequency grids (..., F)
    om = omega.expand(*batch, 6) + torch.arange(batch[-1], dtype=torch.float64)[:, None] * 0.1
    H = frequency_response(ssm.lam, ssm.Bbar, ssm.C, om, L=10)
    assert H.shape == (*batch, 6)
    # scalar omega becomes (1,)
    assert frequency_response(ssm.lam, ssm.Bbar, ssm.C, 0.5).shape == (*batch, 1)


def test_frequency_response_float32():
    ssm = random_ssm(4, 10, rho_max=0.9)
    omega = torch.linspace(0, math.pi, 9)
    H64 = frequency_response(ssm.lam, ssm.Bbar, ssm.C, omega.double(), L=32)
    H32 = frequency_response(*(t.to(torch.complex64) for t in (ssm.lam, ssm.Bbar, ssm.C)), omega, L=32)
    assert H32.dtype == torch.complex64
    scale = float(ssm.c.abs().sum()) * 2 * 32
    assert float((H32.to(torch.complex128) - H64).abs().max()) <= 200 * EPS32 * scale


def test_rfft_grid():
    for L in (1, 2, 7, 8):
        g = rfft_grid(L)
        assert g.dtype == torch.float64
        np.testing.assert_allclose(_np(g), 2 * np.pi * np.fft.rfftfreq(L), rtol=1e-15, atol=0)
    assert rfft_grid(4, dtype=torch.float32).dtype == torch.float32


# --------------------------------------------------------------------------- discretization


def _exact_zoh(a, b, dt):
    """Exact ZOH of x' = a x + b u for one mode: expm(dt [[a, b], [0, 0]]) = [[lam, Bbar], [0, 1]]."""
    M = scipy.linalg.expm(dt * np.array([[a, b], [0.0, 0.0]], dtype=np.complex128))
    return M[0, 0], M[0, 1]


@pytest.mark.parametrize("seed", [0, 1])
def test_zoh_matches_augmented_matrix_exponential(seed):
    rng = np.random.default_rng(seed)
    A = -np.exp(rng.uniform(-3, 2, 6)) + 1j * rng.uniform(-30, 30, 6)
    B = rng.normal(size=6) + 1j * rng.normal(size=6)
    for dt in (1e-3, 0.05, 1.0):
        lam, Bbar = discretize(torch.tensor(A), torch.tensor(B), dt, "zoh")
        ref = np.array([_exact_zoh(a, b, dt) for a, b in zip(A, B, strict=True)])
        np.testing.assert_allclose(_np(lam), ref[:, 0], rtol=1e-12)
        np.testing.assert_allclose(_np(Bbar), ref[:, 1], rtol=1e-10)


def test_zoh_exact_for_piecewise_constant_input():
    """ZOH means: integrating x' = a x + b u exactly over each step with u held constant."""
    a, b, dt = -0.7 + 3.0j, 0.4 - 0.1j, 0.1
    c128 = torch.complex128
    lam, Bbar = discretize(torch.tensor([a], dtype=c128), torch.tensor([b], dtype=c128), dt)
    u = [1.0, -2.0, 0.5]
    x = 0j
    for uk in u:  # exact solution of the ODE over one step with constant input
        x = np.exp(a * dt) * x + (np.exp(a * dt) - 1) / a * b * uk
    xd = 0j
    for uk in u:
        xd = complex(lam[0]) * xd + complex(Bbar[0]) * uk
    assert abs(x - xd) < 1e-14


def test_bilinear_matches_formula():
    rng = np.random.default_rng(3)
    A = -np.exp(rng.uniform(-3, 2, 5)) + 1j * rng.uniform(-30, 30, 5)
    B = rng.normal(size=5) + 1j * rng.normal(size=5)
    dt = np.array([[0.01], [0.3]])
    lam, Bbar = discretize(torch.tensor(A), torch.tensor(B), torch.tensor(dt), "bilinear")
    assert lam.shape == (2, 5)
    np.testing.assert_allclose(_np(lam), (1 + dt * A / 2) / (1 - dt * A / 2), rtol=1e-14)
    np.testing.assert_allclose(_np(Bbar), dt / (1 - dt * A / 2) * B, rtol=1e-14)
    # Tustin maps the open left half-plane into the open unit disk
    assert bool((lam.abs() < 1).all())


def test_zoh_limit_a_to_zero():
    """(e^{dt a} - 1)/a * B -> dt B as a -> 0, continuous across the series switch.

    Regression: exp(z) - 1 cancelled for small |z| (relative error eps/|z|: ~3e-12 in
    float64 and ~2e-3 in float32 just above the switch); now expm1.
    """
    mpmath.mp.dps = 40
    lam, Bbar = discretize(torch.zeros(1, dtype=torch.complex128), torch.tensor([2.0 + 1j]), 0.5)
    assert complex(lam[0]) == 1 and abs(complex(Bbar[0]) - 0.5 * (2 + 1j)) < 1e-16
    for dtype, tol in ((torch.complex128, 8 * EPS64), (torch.complex64, 8 * EPS32)):
        for r in (1e-14, 1e-9, 9.99e-6, 1.001e-5, 3e-5, 1e-4, 1e-3, 0.1, 2.0):
            for ang in (0.0, 0.7, math.pi / 2, 2.5, math.pi):
                z = torch.tensor([r * complex(math.cos(ang), math.sin(ang))], dtype=dtype)
                _, Bbar = discretize(z, torch.ones(1, dtype=dtype), 1.0, "zoh")
                zc = mpmath.mpc(complex(z[0]))
                ref = complex(mpmath.expm1(zc) / zc)
                assert abs(complex(Bbar[0]) - ref) <= tol * abs(ref), (dtype, r, ang)


def test_discretize_float32_and_dt_per_channel():
    A = torch.tensor([-0.5 + 1j, -0.5 + 3j], dtype=torch.complex64)
    lam, Bbar = discretize(A, torch.ones(2, dtype=torch.complex64), torch.tensor([[0.1], [0.01]]))
    assert lam.dtype == torch.complex64 and lam.shape == (2, 2)
    lam64, _ = discretize(A.to(torch.complex128), 1.0, torch.tensor([[0.1], [0.01]], dtype=torch.float64))
    assert lam64.dtype == torch.complex128
    torch.testing.assert_close(lam.to(torch.complex128), lam64, rtol=1e-6, atol=1e-7)


def test_mode_coefficients():
    lam, c = mode_coefficients(torch.tensor([[0.5 + 0j, 0.1]]), torch.tensor([2.0, 3.0]), 1j)
    assert lam.shape == c.shape == (1, 2)
    np.testing.assert_allclose(_np(c), [[2j, 3j]])


# --------------------------------------------------------------------------- properties


@given(ssm=stable_ssms(), L=lengths())
def test_property_kernel_identities(ssm, L):
    """Random stable SSMs (poles near the unit circle, near angle 0 and pi; ZOH and
    bilinear): closed-form DTFT == FFT of K on the DFT grid, Parseval, the kernel equals
    the power formula, and H_L -> H with the geometric tail bound."""
    lam, c = ssm.numpy()
    K = _np(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))
    csum = 2 * np.abs(c).sum()
    # kernel vs powers: errors ~ m eps |log lam| per term, so <= ~L eps (2 sum |c|)
    np.testing.assert_allclose(K, power_kernel(lam, c, L), rtol=0, atol=20 * L * EPS64 * csum + 1e-300)
    w = 2 * np.pi * np.arange(L) / L
    Hhat = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(w), L=L))
    F = np.fft.fft(K)
    assert np.all(np.abs(Hhat - F) <= dtft_tolerance(K, w, csum))
    # Parseval: sum_j |Hhat_j|^2 = L sum_m K_m^2
    lhs, rhs = np.sum(np.abs(F) ** 2), L * np.sum(K**2)
    assert abs(lhs - rhs) <= 1e-12 * max(lhs, rhs) + 1e-300
    # infinite response vs truncated: |H - H_L| <= 2 sum|c| rho^L / (1 - rho), exactly
    # H - H_L = sum_n c_n q_n^L / (1 - q_n) + conj
    H = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(w)))
    rho = ssm.rho
    tail = np.abs(H - Hhat).max()
    bound = csum * rho**L / (1 - rho)
    assert tail <= bound * (1 + 1e-9) + 100 * L * EPS64 * csum / (1 - rho)


@given(ssm=stable_ssms(max_n2=4), L=lengths(max_value=64),
       omega=st.lists(st.floats(-20.0, 20.0), min_size=1, max_size=5))
def test_property_off_grid_dtft(ssm, L, omega):
    K = _np(ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L))
    H = _np(frequency_response(ssm.lam, ssm.Bbar, ssm.C, torch.tensor(omega, dtype=torch.float64), L=L))
    csum = 2 * np.abs(_np(ssm.c)).sum()
    assert np.all(np.abs(H - dtft(K, np.array(omega))) <= dtft_tolerance(K, omega, csum))


@given(ssm=stable_ssms(max_n2=4))
def test_property_discretization(ssm):
    """The strategy's continuous A, B, dt map to lam, Bbar by the stated formulas."""
    A, B, dt = _np(ssm.A), _np(ssm.B), ssm.dt
    if ssm.method == "zoh":
        ref = np.array([_exact_zoh(a, b, dt) for a, b in zip(A, B, strict=True)])
        np.testing.assert_allclose(_np(ssm.lam), ref[:, 0], rtol=1e-10)
        np.testing.assert_allclose(_np(ssm.Bbar), ref[:, 1], rtol=1e-8, atol=1e-14 * dt)
    else:
        np.testing.assert_allclose(_np(ssm.lam), (1 + dt * A / 2) / (1 - dt * A / 2), rtol=1e-12)
        np.testing.assert_allclose(_np(ssm.Bbar), dt / (1 - dt * A / 2) * B, rtol=1e-12)


# --------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_cpu_and_cuda_agree():
    ssm = random_ssm(8, 12, rho_max=0.99, batch=(3,))
    omega = torch.linspace(0, math.pi, 17, dtype=torch.float64)
    dev = torch.device("cuda")
    for L in (10, 600):
        Kc = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, L)
        Kg = ssm_kernel(ssm.lam.to(dev), ssm.Bbar.to(dev), ssm.C.to(dev), L)
        assert Kg.device.type == "cuda"
        torch.testing.assert_close(Kg.cpu(), Kc, rtol=1e-10, atol=1e-12)
    for L in (None, 32):
        Hc = frequency_response(ssm.lam, ssm.Bbar, ssm.C, omega, L=L)
        Hg = frequency_response(ssm.lam.to(dev), ssm.Bbar.to(dev), ssm.C.to(dev), omega.to(dev), L=L)
        torch.testing.assert_close(Hg.cpu(), Hc, rtol=1e-10, atol=1e-12)
    lam, Bbar = discretize(ssm.lam.log().to(dev), ssm.Bbar.to(dev), 0.1)
    lamc, Bbarc = discretize(ssm.lam.log(), ssm.Bbar, 0.1)
    torch.testing.assert_close(lam.cpu(), lamc)
    torch.testing.assert_close(Bbar.cpu(), Bbarc)
    # gradients on the GPU match the CPU ones
    lc = ssm.lam.clone().requires_grad_(True)
    lg = ssm.lam.to(dev).requires_grad_(True)
    (gc,) = torch.autograd.grad(ssm_kernel(lc, ssm.Bbar, ssm.C, 300).square().sum(), lc)
    (gg,) = torch.autograd.grad(ssm_kernel(lg, ssm.Bbar.to(dev), ssm.C.to(dev), 300).square().sum(), lg)
    torch.testing.assert_close(gg.cpu(), gc, rtol=1e-9, atol=1e-9)
    from ssm_tdi.operators import induced_kernel_spectrum
    K = ssm_kernel(ssm.lam, ssm.Bbar, ssm.C, 64)
    torch.testing.assert_close(induced_kernel_spectrum(K.to(dev)).cpu(), induced_kernel_spectrum(K),
                               rtol=1e-9, atol=1e-9)
