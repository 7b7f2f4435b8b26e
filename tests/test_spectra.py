"""Task-spectrum estimators and the spectral matching loss (ssm_tdi.spectra).

Statistical tests use fixed seeds and intervals derived from the sampling distribution of
the periodogram, with a Bonferroni correction over the tested bins (family-wise level
1e-3), so a correct estimator fails with probability < 0.1% for a fresh seed and never for
the fixed one.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

from ssm_tdi import spectra
from ssm_tdi.kernels import rfft_grid
from ssm_tdi.synthetic import ar1_spectrum, sample_inputs

ALPHA = 1e-3  # family-wise error level of every interval test


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _chi2_band(dof, n_tests):
    """Interval I with P(chi2_dof / dof in I) = 1 - ALPHA / n_tests."""
    a = ALPHA / n_tests
    return stats.chi2.ppf(a / 2, dof) / dof, stats.chi2.ppf(1 - a / 2, dof) / dof


# ----------------------------------------------------------------------------- input spectrum
def test_sinusoid_at_a_bin_is_a_spike():
    L, k, amp = 128, 9, 1.7
    t = torch.arange(L, dtype=torch.float64)
    phases = torch.rand(5, 1, generator=_gen(0), dtype=torch.float64) * 2 * math.pi
    X = amp * torch.cos(2 * math.pi * k * t / L + phases)
    S = spectra.input_spectrum(X)
    assert S.shape == (L // 2 + 1,)
    # |sum_t A cos(w_k t + phi) e^{-i w_k t}|^2 / L = (A L / 2)^2 / L = A^2 L / 4
    assert S[k] == pytest.approx(amp**2 * L / 4, rel=1e-12)
    others = torch.cat([S[:k], S[k + 1 :]])
    assert float(others.max()) < 1e-20 * float(S[k])


def test_white_noise_is_flat_within_chi_square_interval():
    # x ~ N(0, s^2) i.i.d.: at interior bins 2 n Sbar / s^2 ~ chi2_{2n} (real and imaginary parts
    # of the DFT are independent N(0, L s^2 / 2)); at w = 0 and pi (real DFT) n Sbar / s^2 ~ chi2_n.
    n, L, s2 = 200, 256, 2.5
    X = math.sqrt(s2) * torch.randn(n, L, generator=_gen(1), dtype=torch.float64)
    S = spectra.input_spectrum(X) / s2
    F = L // 2 + 1
    lo, hi = _chi2_band(2 * n, F)
    inner = S[1:-1]
    assert bool(((inner >= lo) & (inner <= hi)).all()), (float(inner.min()), float(inner.max()), lo, hi)
    lo1, hi1 = _chi2_band(n, F)
    for j in (0, F - 1):
        assert lo1 <= float(S[j]) <= hi1


def test_ar1_matches_its_analytic_spectrum():
    # Stationary AR(1), unit variance, autocovariance r_k = rho^|k|. The expected periodogram is the
    # Fejer-smoothed spectrum E P(w) = sum_{|k|<L} (1 - |k|/L) r_k cos(w k) (exact), and the mean of
    # n independent periodograms is approximately E P * chi2_{2n} / (2n) at interior bins.
    n, L, rho = 400, 128, 0.6
    X = sample_inputs(n, L, rho=rho, generator=_gen(2))
    S = spectra.input_spectrum(X)
    w = rfft_grid(L)
    k = torch.arange(1, L, dtype=torch.float64)
    EP = 1 + 2 * ((1 - k / L) * rho**k * torch.cos(w[:, None] * k)).sum(-1)
    lo, hi = _chi2_band(2 * n, L // 2 - 1)
    ratio = (S / EP)[1:-1]
    assert bool(((ratio >= lo) & (ratio <= hi)).all()), (float(ratio.min()), float(ratio.max()), lo, hi)
    # and the smoothing bias relative to the analytic S(w) = (1 - rho^2)/|1 - rho e^{-iw}|^2 is
    # bounded by (2/L) sum_k k rho^k = 2 rho / (L (1 - rho)^2)
    bias = (EP - ar1_spectrum(L, rho)).abs()
    assert float(bias.max()) <= 2 * rho / (L * (1 - rho) ** 2) + 1e-12


def test_welch_white_noise_and_grids():
    n, L, M = 50, 512, 64
    X = torch.randn(n, L, generator=_gen(3), dtype=torch.float64)
    S = spectra.input_spectrum(X, segments=M)
    assert S.shape == (M // 2 + 1,)
    # every bin: E = 1 (Hann-windowed, normalised by sum h^2); about n * (2L/M - 1) = 750
    # overlapping segments -> relative sd well below 10%
    assert float((S[1:-1] - 1).abs().max()) < 0.25
    assert float(S.mean()) == pytest.approx(1.0, abs=0.05)
    Sg = spectra.input_spectrum(X, segments=M, grid_L=L)
    assert Sg.shape == (L // 2 + 1,)
    # interpolation reproduces the source values at the shared frequencies (every 8th bin)
    assert torch.allclose(Sg[:: L // M], S, rtol=1e-12, atol=0)


def test_interpolation_is_exact_for_linear_spectra():
    M, L = 16, 100
    S = 3 + 2 * rfft_grid(M)
    out = spectra.interpolate_spectrum(S, L, M)
    assert torch.allclose(out, 3 + 2 * rfft_grid(L), atol=1e-12)
    assert torch.equal(spectra.interpolate_spectrum(S, M), S)


def test_detrend_removes_the_mean_power():
    L, c = 64, 0.7
    X = c + 0 * torch.randn(3, L, dtype=torch.float64)
    assert float(spectra.input_spectrum(X)[0]) == pytest.approx(c * c * L)  # |c L|^2 / L
    assert float(spectra.input_spectrum(X, detrend=True).abs().max()) < 1e-25


def test_multichannel_shapes_and_reduce():
    X = torch.randn(10, 32, 3, generator=_gen(4), dtype=torch.float64)
    X[..., 1] *= 2.0
    S = spectra.input_spectrum(X)
    assert S.shape == (3, 17)
    assert torch.allclose(S[1], spectra.input_spectrum(X[..., 1]))
    assert torch.allclose(spectra.input_spectrum(X, reduce="mean"), S.mean(0))
    assert spectra.input_spectrum(X.numpy()).shape == (3, 17)


# ----------------------------------------------------------------------------- transfer spectrum
def test_transfer_recovers_filter_power_exactly_for_circular_convolution():
    n, L = 40, 128
    U = torch.randn(n, L, generator=_gen(5), dtype=torch.float64)
    g = torch.tensor([1.0, -0.5, 0.25, 0.8, 0.0, -0.3], dtype=torch.float64)
    G = torch.fft.rfft(g, n=L)
    Y = torch.fft.irfft(torch.fft.rfft(U) * G, n=L)  # circular convolution: Y_i(w) = G(w) U_i(w)
    T = spectra.transfer_spectrum(U, Y)
    # S_uy = G S_uu exactly, so T = |G|^2 S_uu
    assert torch.allclose(T, G.abs() ** 2 * spectra.input_spectrum(U), rtol=1e-10, atol=1e-12)


def test_transfer_with_causal_filter_and_noise():
    n, L = 400, 256
    U = torch.randn(n, L, generator=_gen(6), dtype=torch.float64)
    g = torch.tensor([0.5, 1.0, 0.5], dtype=torch.float64)  # |G(w)|^2 = (1 + cos w)^2
    Y = torch.nn.functional.conv1d(torch.nn.functional.pad(U[:, None], (2, 0)), g.flip(0)[None, None])[:, 0]
    Y = Y + 0.1 * torch.randn(n, L, generator=_gen(7), dtype=torch.float64)
    T = spectra.transfer_spectrum(U, Y)
    G2 = (1 + torch.cos(rfft_grid(L))) ** 2
    Suu = spectra.input_spectrum(U)
    est = T / Suu
    # causal edge effect ~ (len(g) - 1) / L ~ 1%, noise bias ~ S_ee / (n S_uu) ~ 3e-5, estimation
    # error of the cross-spectrum ~ sqrt(S_ee / (n S_uu |G|^2)): tolerance 5% of max |G|^2 = 4
    assert float((est - G2).abs().max()) < 0.05 * 4
    # pure noise target: almost no explained power
    noise = torch.randn(n, L, generator=_gen(8), dtype=torch.float64)
    assert float(spectra.transfer_spectrum(U, noise).mean()) < 0.01


def test_transfer_channel_pairing_and_errors():
    X = torch.randn(8, 32, 3, dtype=torch.float64)
    assert spectra.transfer_spectrum(X, X).shape == (3, 17)
    assert spectra.transfer_spectrum(X, X[..., 0]).shape == (3, 17)
    assert spectra.transfer_spectrum(X[..., 0], X).shape == (3, 17)
    assert spectra.transfer_spectrum(X, X, reduce="mean").shape == (17,)
    with pytest.raises(ValueError, match="X, Y"):
        spectra.transfer_spectrum(X, torch.randn(8, 32, 2))
    with pytest.raises(ValueError, match="X, Y"):
        spectra.transfer_spectrum(X, torch.randn(7, 32, 3))
    # zero input power -> zero (not NaN)
    T = spectra.transfer_spectrum(torch.zeros(4, 16), torch.randn(4, 16))
    assert torch.equal(T, torch.zeros(9, dtype=torch.float64))


# ----------------------------------------------------------------------------- discriminative
def test_discriminative_finds_the_class_frequency():
    n, L, k = 120, 64, 11
    t = torch.arange(L, dtype=torch.float64)
    labels = torch.arange(n) % 2
    X = torch.randn(n, L, generator=_gen(9), dtype=torch.float64)
    X = X + (labels[:, None] == 1) * 2.0 * torch.cos(2 * math.pi * k * t / L)  # phase-locked class signal
    R = spectra.discriminative_spectrum(X, labels)
    assert R.shape == (L // 2 + 1,)
    assert bool(((R >= 0) & (R <= 1)).all())
    assert int(R.argmax()) == k
    assert float(R[k]) > 0.9
    # no-signal bins: R ~ Beta-like with mean about (K-1)/(n-1) ~ 0.008
    others = torch.cat([R[:k], R[k + 1 :]])
    assert float(others.mean()) < 0.03 and float(others.max()) < 0.15


def test_discriminative_edge_cases():
    X = torch.randn(5, 16, generator=_gen(10), dtype=torch.float64)
    R = spectra.discriminative_spectrum(X, [0, 0, 1, 1, 2])  # class 2 has one sample
    assert bool(((R >= 0) & (R <= 1)).all())
    same = torch.ones(6, 16, dtype=torch.float64)  # every bin constant over sequences: 0/0 -> 0
    assert torch.equal(
        spectra.discriminative_spectrum(same, [0, 1, 0, 1, 0, 1]), torch.zeros(9, dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="labels"):
        spectra.discriminative_spectrum(X, [0, 1, 0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        spectra.discriminative_spectrum(X, [1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="labels"):
        spectra.discriminative_spectrum(X, np.zeros((5, 2)))
    Xm = torch.randn(6, 16, 2, dtype=torch.float64)
    assert spectra.discriminative_spectrum(Xm, [0, 1] * 3).shape == (2, 9)
    assert spectra.discriminative_spectrum(Xm, ["a", "b"] * 3, reduce="mean").shape == (9,)


def _random_phase_classes(n_per, L, freqs, amp, seed):
    """Class c: amp cos(2 pi freqs[c] t / L + phi_i) with phi_i uniform per sequence, plus N(0, 1) noise."""
    g = _gen(seed)
    t = torch.arange(L, dtype=torch.float64)
    labels = torch.arange(len(freqs)).repeat_interleave(n_per)
    phi = 2 * math.pi * torch.rand(labels.numel(), 1, generator=g, dtype=torch.float64)
    k = torch.tensor(freqs, dtype=torch.float64)[labels][:, None]
    noise = torch.randn(labels.numel(), L, generator=g, dtype=torch.float64)
    X = amp * torch.cos(2 * math.pi * k * t / L + phi) + noise
    return X, labels


def test_discriminative_random_phase_known_answer():
    # Three classes of random-phase sinusoids at bins 5, 13, 22. The class means of the complex
    # coefficients vanish (E e^{i phi} = 0), so the coefficient kind sees only noise there; the
    # class-wise power differs by amp^2 L / 4 = 36 against a noise power of 1 at those bins.
    n_per, L, freqs = 30, 64, (5, 13, 22)
    X, labels = _random_phase_classes(n_per, L, freqs, 1.5, seed=20)
    n, K, F = X.shape[0], len(freqs), L // 2 + 1
    # no-signal reference: for Gaussian features R ~ Beta(dof_b / 2, dof_w / 2); complex coefficients have
    # dof_b = 2 (K - 1), dof_w = 2 (n - K); the level is Bonferroni-corrected over the F bins
    noise_hi = stats.beta.ppf(1 - ALPHA / F, K - 1, n - K)
    for kind in ("power", "log-power", "combined"):
        R = spectra.discriminative_spectrum(X, labels, kind=kind)
        assert sorted(int(i) for i in R.topk(K).indices) == list(freqs), kind
        # at the class bins R is the share of the power variance explained by the class: 2/3 of the
        # sequences have noise power ~1, 1/3 have ~36 (sd ~8.5 from the signal x noise cross term):
        # between ~ 290 vs within ~ 25 for "power", so R ~ 0.9; we require a clear majority
        assert float(R[list(freqs)].min()) > 0.5, kind
    Rc = spectra.discriminative_spectrum(X, labels, kind="coefficient")
    # the phase-sensitive estimator: nothing above its no-signal band at the class bins
    assert float(Rc[list(freqs)].max()) < noise_hi
    assert sorted(int(i) for i in Rc.topk(K).indices) != list(freqs)


def test_power_kinds_are_invariant_to_circular_shifts():
    X, labels = _random_phase_classes(10, 32, (3, 9), 1.0, seed=21)
    shift = torch.randint(0, 32, (X.shape[0],), generator=_gen(22))
    Xs = torch.stack([torch.roll(x, int(s)) for x, s in zip(X, shift, strict=True)])
    for kind in ("power", "log-power"):
        a = spectra.discriminative_spectrum(X, labels, kind=kind)
        b = spectra.discriminative_spectrum(Xs, labels, kind=kind)
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)  # |DFT|^2 is exactly shift-invariant; rounding only


def test_power_kinds_are_blind_to_sign_and_combined_is_not():
    # (x, class 0) and (-x, class 1): every periodogram appears once in each class, so the class-wise
    # power means are equal (between = 0) while the class-mean coefficients are +-mean(x)
    L = 32
    base = torch.randn(40, L, generator=_gen(23), dtype=torch.float64) + torch.cos(
        2 * math.pi * 4 * torch.arange(L, dtype=torch.float64) / L)
    X = torch.cat([base, -base])
    labels = torch.cat([torch.zeros(40), torch.ones(40)])
    for kind in ("power", "log-power"):
        assert float(spectra.discriminative_spectrum(X, labels, kind=kind).max()) < 1e-12
    Rc = spectra.discriminative_spectrum(X, labels, kind="coefficient")
    assert int(Rc.argmax()) == 4 and float(Rc[4]) > 0.5
    assert torch.equal(spectra.discriminative_spectrum(X, labels), Rc)  # combined = max(coefficient, 0)


def test_log_power_is_scale_free_and_finite_at_zero_power():
    X, labels = _random_phase_classes(10, 32, (3, 9), 1.0, seed=24)
    a = spectra.discriminative_spectrum(X, labels, kind="log-power")
    b = spectra.discriminative_spectrum(1e6 * X, labels, kind="log-power")
    assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    R = spectra.discriminative_spectrum(X, labels, kind="log-power", detrend=True)  # DC power exactly 0
    assert torch.isfinite(R).all() and float(R[0]) == 0.0


@pytest.mark.parametrize("kind", ["Power", "", None, 3, "coefficients"])
def test_discriminative_bad_kind(kind):
    with pytest.raises(ValueError, match="^kind:"):
        spectra.discriminative_spectrum(torch.randn(6, 16), [0, 1] * 3, kind=kind)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.randn(4), "X: expected shape"),
        (torch.randn(2, 3, 4, 5), "X: expected shape"),
        (torch.randn(3, 1), "L >= 2"),
        (torch.tensor([[1.0, float("nan"), 0.0]]), "X: expected finite"),
        (torch.randn(3, 4) * 1j, "X: expected real"),
    ],
)
def test_estimators_reject_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        spectra.input_spectrum(bad)


def test_bad_options():
    X = torch.randn(3, 32)
    with pytest.raises(ValueError, match="segments"):
        spectra.input_spectrum(X, segments=64)
    with pytest.raises(ValueError, match="segments"):
        spectra.input_spectrum(X, segments=1)
    with pytest.raises(ValueError, match="reduce"):
        spectra.input_spectrum(X, reduce="sum")
    with pytest.raises(ValueError, match="grid_L"):
        spectra.input_spectrum(X, grid_L=1)


# ----------------------------------------------------------------------------- loss
spectrum_lists = st.lists(st.floats(0, 1e3, allow_nan=False, allow_infinity=False), min_size=2, max_size=40)


@given(a=spectrum_lists, scale=st.floats(1e-6, 1e6), scale2=st.floats(1e-6, 1e6), seed=st.integers(0, 2**16))
def test_loss_properties(a, scale, scale2, seed):
    Sa = torch.tensor(a, dtype=torch.float64)
    if float(Sa.max()) == 0:
        Sa[0] = 1.0
    assume(float((scale * Sa).max()) > 0)  # scaling a subnormal can underflow to an all-zero spectrum
    Sb = torch.rand(Sa.shape[0], generator=_gen(seed), dtype=torch.float64)
    base = float(spectra.spectral_matching_loss(Sa, Sb))
    assert 0.0 <= base <= 2.0 + 1e-12  # non-negative spectra: 2 - 2 cos in [0, 2] (<= 4 in general)
    assert float(spectra.spectral_matching_loss(scale * Sa, scale2 * Sb)) == pytest.approx(base, abs=1e-12)
    assert float(spectra.spectral_matching_loss(scale * Sa, Sa)) == pytest.approx(0.0, abs=1e-12)


def test_loss_batched_and_differentiable():
    Sm = torch.rand(3, 1, 9, dtype=torch.float64, requires_grad=True)
    St = torch.rand(4, 9, dtype=torch.float64)
    out = spectra.spectral_matching_loss(Sm, St)
    assert out.shape == (3, 4)
    assert torch.autograd.gradcheck(lambda s: spectra.spectral_matching_loss(s, St), (Sm,))
    # orthogonal supports: the maximum 2
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.0, 3.0])
    assert float(spectra.spectral_matching_loss(a, b)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "Sm, St, match",
    [
        (torch.zeros(5), torch.ones(5), "S_model: expected a spectrum that is not identically zero"),
        (torch.ones(5), torch.zeros(5), "S_task: expected a spectrum that is not identically zero"),
        (torch.tensor([1.0, float("nan")]), torch.ones(2), "S_model: expected finite"),
        (torch.ones(2), torch.tensor([1.0, float("inf")]), "S_task: expected finite"),
        (torch.ones(3), torch.tensor([1.0, -1.0, 0.0]), "S_task: expected a power spectrum"),
        (torch.ones(3), torch.ones(4), "frequency axes"),
        (torch.ones(2, 3), torch.ones(3, 3), "do not broadcast"),
    ],
)
def test_loss_errors(Sm, St, match):
    with pytest.raises(ValueError, match=match):
        spectra.spectral_matching_loss(Sm, St)


def test_transfer_spectrum_scalar_target_recovers_beta():
    # y_i = beta^T u_i with white unit-variance u: r = mean_i y_i u_i -> E r = beta, so the
    # estimate |rfft(r)|^2 / S_uu -> |rfft(beta)|^2 (S_uu -> 1). Error budget (||beta|| = 1):
    # Var(r_t) ~ (1 + beta_t^2)/n, so E|rfft(r - beta)_j|^2 ~ (L + 1)/n per bin; with F ~ L/2 bins
    # of mean |B_j|^2 ~ 1 the relative squared error of T is ~ 4 (L + 1)/n from the cross term,
    # plus ~ 1/n per bin from S_uu, together < 4 (L + 3)/n; L_spec of the normalised spectra is at
    # most that (for small errors), and we allow a factor 4 for the fluctuation of one draw.
    from ssm_tdi import tdi_fast

    L, n = 16, 200_000
    g = torch.Generator().manual_seed(0)
    beta = torch.randn(L, generator=g, dtype=torch.float64) * torch.exp(-torch.arange(L) / 4.0)
    beta = beta / beta.norm()
    u = torch.randn(n, L, generator=g, dtype=torch.float64)
    y = u @ beta
    T = spectra.transfer_spectrum(u, y)
    assert T.shape == (L // 2 + 1,)
    B2 = torch.fft.rfft(beta).abs() ** 2
    assert float(tdi_fast.loss_of(T[None], B2[None])) <= 4 * 4 * (L + 3) / n
    # explained power: the full-grid mean of T is ~ Var(y) = ||beta||^2 = 1
    full = torch.cat([T, T[1:-1].flip(0)])
    assert abs(float(full.mean()) - 1.0) < 0.05
    # multichannel input (n, L, d): one row per channel; segments are rejected
    T2 = spectra.transfer_spectrum(u.unsqueeze(-1).expand(n, L, 2)[:2000], y[:2000])
    assert T2.shape == (2, L // 2 + 1)
    with pytest.raises(ValueError, match="segments"):
        spectra.transfer_spectrum(u[:100], y[:100], segments=8)
    with pytest.raises(ValueError, match="scalar targets"):
        spectra.transfer_spectrum(u[:100], y[:99])
