"""Each default init reproduces its published formula (ssm_tdi.inits)."""

import math

import numpy as np
import pytest
import torch

from ssm_tdi import inits
from ssm_tdi.inits import INITS, get_init, hippo_legs, init_log_dt

H, N2 = 3, 8


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def call(name, H=H, N2=N2, seed=0, **kw):
    if name == "freqbias":
        kw.setdefault("alpha", 2.0)
    return get_init(name)(H, N2, generator=gen(seed), **kw)


# ---------------------------------------------------------------- registry
def test_registry_names():
    assert set(INITS) == {"s4d-lin", "s4d-inv", "s4d-legs", "freqbias", "random"}


def test_get_init_unknown_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: freqbias, random, s4d-inv, s4d-legs, s4d-lin"):
        get_init("s4d-foo")


@pytest.mark.parametrize("name", sorted(INITS))
def test_shapes_dtypes_stable_and_deterministic(name):
    A, B, C = call(name)
    for t in (A, B, C):
        assert t.shape == (H, N2) and t.dtype == torch.complex128 and t.device.type == "cpu"
        assert torch.isfinite(torch.view_as_real(t)).all()
    assert (A.real < 0).all()
    A2, B2, C2 = call(name)
    assert torch.equal(A, A2) and torch.equal(B, B2) and torch.equal(C, C2)
    _, _, C3 = call(name, seed=1)
    assert not torch.equal(C, C3)


@pytest.mark.parametrize("name", sorted(INITS))
def test_bad_sizes_rejected(name):
    with pytest.raises(ValueError, match="N2"):
        call(name, N2=0)
    with pytest.raises(ValueError, match="H"):
        call(name, H=1.5)


# ---------------------------------------------------------------- formulas, by name
def test_s4d_lin_formula_A_n_eq_minus_half_plus_i_pi_n_B_eq_1():
    """S4D-Lin (Gu et al. 2022): A_n = -1/2 + i pi n, B_n = 1."""
    A, B, _ = call("s4d-lin")
    n = np.arange(N2)
    for h in range(H):
        np.testing.assert_allclose(A[h].numpy(), -0.5 + 1j * np.pi * n, rtol=0, atol=1e-14)
    assert torch.equal(B, torch.ones(H, N2, dtype=torch.complex128))


@pytest.mark.parametrize("name", ["s4d-lin", "s4d-inv", "s4d-legs", "freqbias"])
def test_C_is_standard_complex_normal_re_im_each_var_half(name):
    """C_n ~ CN(0, 1): Re and Im i.i.d. N(0, 1/2) (S4D's C initialization)."""
    _, _, C = call(name, H=400, N2=50)  # 20000 draws
    re, im = C.real.flatten(), C.imag.flatten()
    se = math.sqrt(0.5 / re.numel())
    assert abs(float(re.mean())) < 5 * se and abs(float(im.mean())) < 5 * se
    # var of a sample variance of N(0, s2): 2 s2^2 / n  -> sd = 0.5*sqrt(2/n)
    sd_var = 0.5 * math.sqrt(2 / re.numel())
    assert abs(float(re.var()) - 0.5) < 5 * sd_var and abs(float(im.var()) - 0.5) < 5 * sd_var
    assert abs(float(torch.corrcoef(torch.stack([re, im]))[0, 1])) < 0.05


def test_s4d_inv_formula_A_n_eq_minus_half_plus_i_N_over_pi_times_N_over_2n_plus_1_minus_1():
    """S4D-Inv (Gu et al. 2022): A_n = -1/2 + i (N/pi)(N/(2n+1) - 1), N = 2*N2, B_n = 1."""
    A, B, _ = call("s4d-inv")
    N = 2 * N2
    n = np.arange(N2)
    expected = -0.5 + 1j * (N / np.pi) * (N / (2 * n + 1) - 1)
    for h in range(H):
        np.testing.assert_allclose(A[h].numpy(), expected, rtol=1e-14, atol=1e-14)
    assert torch.equal(B, torch.ones(H, N2, dtype=torch.complex128))


def test_hippo_legs_matrix_and_nplr_identity():
    """HiPPO-LegS: A_nk = -sqrt(2n+1)sqrt(2k+1) (n>k), -(n+1) (n=k), 0 (n<k);
    NPLR: A = S - I/2 - P P^T, P_n = sqrt(n+1/2), S skew-symmetric."""
    N = 6
    A, b, P, S = hippo_legs(N)
    for n in range(N):
        for k in range(N):
            if n > k:
                ref = -math.sqrt(2 * n + 1) * math.sqrt(2 * k + 1)
            elif n == k:
                ref = -(n + 1)
            else:
                ref = 0.0
            assert float(A[n, k]) == pytest.approx(ref, abs=1e-12)
    np.testing.assert_allclose(b.numpy(), np.sqrt(2 * np.arange(N) + 1))
    np.testing.assert_allclose(P.numpy(), np.sqrt(np.arange(N) + 0.5))
    np.testing.assert_allclose(S.numpy(), -S.numpy().T, atol=1e-12)
    recon = S - 0.5 * torch.eye(N, dtype=torch.float64) - P[:, None] * P[None, :]
    np.testing.assert_allclose(recon.numpy(), A.numpy(), atol=1e-12)


def test_s4d_legs_formula_eigs_of_normal_part_and_B_eq_Vstar_b():
    """S4D-LegS: A_n = eigenvalues of S - I/2 (normal part of NPLR HiPPO-LegS) with Im > 0,
    sorted; B = V^* b with b_n = sqrt(2n+1) projected onto the kept eigenvectors."""
    A, B, _ = call("s4d-legs")
    N = 2 * N2
    _, b, _, S = hippo_legs(N)
    ev = np.linalg.eigvals((S - 0.5 * torch.eye(N, dtype=torch.float64)).numpy())
    np.testing.assert_allclose(ev.real, -0.5, atol=1e-10)  # normal part: Re = -1/2
    pos = np.sort(ev.imag[ev.imag > 0])
    assert pos.size == N2
    for h in range(H):
        np.testing.assert_allclose(A[h].real.numpy(), -0.5, atol=0)
        np.testing.assert_allclose(A[h].imag.numpy(), pos, rtol=1e-10)
    assert torch.equal(A[0], A[-1]) and torch.equal(B[0], B[-1])
    # B_n = |v_n^* b| for the unit eigenvector v_n of S at i w_n (phase convention: B real >= 0)
    Sn = S.numpy()
    for j in range(N2):
        w = float(A[0, j].imag)
        # null vector of S - i w I
        _, _, vh = np.linalg.svd(Sn - 1j * w * np.eye(N))
        v = vh[-1].conj()
        assert np.linalg.norm(Sn @ v - 1j * w * v) < 1e-8
        assert abs(abs(np.vdot(v, b.numpy())) - float(B[0, j].real)) < 1e-9
    assert (B.imag == 0).all() and (B.real >= 0).all()
    # Parseval: the kept eigenvectors carry half of |b|^2 (conjugate half carries the rest)
    assert float((B[0].abs() ** 2).sum()) == pytest.approx(0.5 * float(b @ b), rel=1e-10)


def test_s4d_legs_diagonal_kernel_equals_normal_part_kernel():
    """The conjugate-pair half reproduces the real N x N normal-part system exactly:
    c^T exp(t (S - I/2)) b = 2 Re sum_n C_n B_n exp(t A_n) with c = real output vector."""
    N = 2 * N2
    A, B, _ = call("s4d-legs", H=1)
    _, b, _, S = hippo_legs(N)
    _, _, V, _ = inits._legs_diagonal(N2)
    c = torch.randn(N, dtype=torch.float64, generator=gen(3))
    Cn = (c.to(torch.complex128) @ V)  # C_n = c^T v_n
    for t in (0.0, 0.3, 1.7):
        full = c @ torch.linalg.matrix_exp(t * (S - 0.5 * torch.eye(N, dtype=torch.float64))) @ b
        diag = 2 * (Cn * B[0] * torch.exp(t * A[0])).sum().real
        assert float(diag) == pytest.approx(float(full), rel=1e-9, abs=1e-9)


def test_freqbias_formula_A_n_eq_minus_half_plus_i_alpha_pi_n():
    """Yu et al. (ICLR 2025) scaled S4D-Lin: A_n = -1/2 + i alpha pi n, B_n = 1."""
    for alpha in (0.1, 1.0, 7.5):
        A, B, _ = call("freqbias", alpha=alpha)
        np.testing.assert_allclose(A[0].numpy(), -0.5 + 1j * alpha * np.pi * np.arange(N2), atol=1e-12)
        assert torch.equal(B, torch.ones(H, N2, dtype=torch.complex128))
    # alpha = 1 is exactly S4D-Lin (same draws from the same generator)
    A1, B1, C1 = call("freqbias", alpha=1.0)
    A0, B0, C0 = call("s4d-lin")
    assert torch.equal(A1, A0) and torch.equal(B1, B0) and torch.equal(C1, C0)


def test_freqbias_requires_valid_alpha():
    with pytest.raises(ValueError, match="alpha is required"):
        get_init("freqbias")(H, N2, generator=gen())
    for bad in (0.0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="alpha"):
            get_init("freqbias")(H, N2, generator=gen(), alpha=bad)


def test_random_init_ranges_and_no_aliasing_at_dt_max():
    """random: Re A = -exp(U), U ~ U[log .1, log 1); Im A ~ U[0, pi/dt_max); B, C ~ CN(0,1)."""
    dt_max = 0.05
    A, B, C = call("random", H=50, N2=40, dt_max=dt_max)
    assert (A.real <= -0.1).all() and (A.real > -1.0).all()
    assert (A.imag >= 0).all() and (A.imag < math.pi / dt_max).all()
    assert float(A.imag.max()) > 0.9 * math.pi / dt_max  # spans the range
    assert (dt_max * A.imag.abs() < math.pi).all()
    for t in (B, C):
        assert abs(float(t.abs().square().mean()) - 1.0) < 0.1
    with pytest.raises(ValueError, match="dt_max"):
        call("random", dt_max=0.0)
    with pytest.raises(ValueError, match="log_real_range"):
        call("random", log_real_range=(1.0, 0.0))


def test_init_log_dt_log_uniform():
    dt_min, dt_max = 1e-3, 1e-1
    ld = init_log_dt(20000, dt_min, dt_max, generator=gen())
    assert ld.shape == (20000,) and ld.dtype == torch.float64
    assert (ld >= math.log(dt_min)).all() and (ld <= math.log(dt_max)).all()
    # log dt uniform: mean at the midpoint, variance (b-a)^2/12
    a, b = math.log(dt_min), math.log(dt_max)
    assert float(ld.mean()) == pytest.approx((a + b) / 2, abs=0.05)
    assert float(ld.var()) == pytest.approx((b - a) ** 2 / 12, rel=0.05)
    assert torch.equal(ld, init_log_dt(20000, dt_min, dt_max, generator=gen()))
    with pytest.raises(ValueError, match="dt_min <= dt_max"):
        init_log_dt(3, 0.1, 0.01)
    with pytest.raises(ValueError, match="dt_min"):
        init_log_dt(3, 0.0, 0.01)


def test_generator_must_be_cpu_generator():
    with pytest.raises(ValueError, match="generator"):
        call_bad = get_init("s4d-lin")
        call_bad(H, N2, generator=123)
