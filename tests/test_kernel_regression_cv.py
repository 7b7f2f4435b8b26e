"""kernel_regression: the ridge chosen from the training data (closed-form leave-one-out and GCV).

Every closed form is checked against the brute-force definition on small cases: refit the ridge
readout P times, each time without one sample, and predict that sample (LOO); build the hat matrix
H = Phi (Phi^T Phi + ridge I)^-1 Phi^T explicitly (GCV). Both are float64 computations of the same
quantity by different routes (an SVD vs P solves), so they agree to rounding: the tolerance 1e-8
relative is far above the ~1e-13 rounding of a well-conditioned 8x5 problem and far below any real
error (a wrong leverage changes the score by O(1)).
"""

from __future__ import annotations

import math

import pytest
import torch

from ssm_tdi import kernel_regression as kr
from ssm_tdi import synthetic

RIDGES = [1e-3, 1e-1, 1.0, 10.0]


def _problem(P, L, seed=0, noise=0.3):
    g = torch.Generator().manual_seed(seed)
    Phi = torch.randn(P, L, generator=g, dtype=torch.float64)
    w = torch.randn(L, generator=g, dtype=torch.float64)
    y = Phi @ w + noise * torch.randn(P, generator=g, dtype=torch.float64)
    return Phi, y


def _brute_loo(Phi, y, ridge):
    errs = []
    for i in range(Phi.shape[0]):
        keep = torch.arange(Phi.shape[0]) != i
        w = torch.linalg.solve(Phi[keep].T @ Phi[keep] + ridge * torch.eye(Phi.shape[1], dtype=Phi.dtype),
                               Phi[keep].T @ y[keep])
        errs.append(float((y[i] - Phi[i] @ w) ** 2))
    return sum(errs) / len(errs)


def _brute_gcv(Phi, y, ridge):
    P, L = Phi.shape
    H = Phi @ torch.linalg.solve(Phi.T @ Phi + ridge * torch.eye(L, dtype=Phi.dtype), Phi.T)
    r = y - H @ y
    return float(r.square().mean() / (1 - torch.trace(H) / P) ** 2)


@pytest.mark.parametrize("P, L", [(8, 5), (5, 8), (6, 6), (12, 3)])
def test_loo_matches_refitting_without_each_sample(P, L):
    Phi, y = _problem(P, L, seed=P * 10 + L)
    scores = kr.ridge_cv_scores(Phi, y, RIDGES, "loo")
    for lam, got in zip(RIDGES, scores.tolist(), strict=True):
        assert got == pytest.approx(_brute_loo(Phi, y, lam), rel=1e-8)


@pytest.mark.parametrize("P, L", [(8, 5), (5, 8), (6, 6)])
def test_gcv_matches_the_explicit_hat_matrix(P, L):
    Phi, y = _problem(P, L, seed=P + 7 * L)
    scores = kr.ridge_cv_scores(Phi, y, RIDGES, "gcv")
    for lam, got in zip(RIDGES, scores.tolist(), strict=True):
        assert got == pytest.approx(_brute_gcv(Phi, y, lam), rel=1e-8)


def test_loo_with_a_rank_deficient_design_matches_brute_force():
    """Two identical columns: the SVD drops a zero singular value; the leverage still comes out right."""
    Phi, y = _problem(7, 4, seed=3)
    Phi = torch.cat([Phi, Phi[:, :1]], 1)
    scores = kr.ridge_cv_scores(Phi, y, RIDGES, "loo")
    for lam, got in zip(RIDGES, scores.tolist(), strict=True):
        assert got == pytest.approx(_brute_loo(Phi, y, lam), rel=1e-8)


def test_select_ridge_is_the_argmin_and_ties_go_to_the_largest_ridge():
    Phi, y = _problem(10, 6, seed=5, noise=1.0)
    ch = kr.select_ridge(Phi, y, RIDGES)
    assert ch.ridge == RIDGES[ch.index]
    assert float(ch.scores[ch.index]) == float(ch.scores.min())
    # P = 2 samples of a one-feature design: with one sample left the fit predicts the other
    # through a ridge; two equal scores must resolve to the larger ridge
    Phi2 = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    y2 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    ch2 = kr.select_ridge(Phi2, y2, [2.0, 2.0])
    assert ch2.index == 1


def test_noise_free_overdetermined_targets_pick_the_smallest_ridge():
    """y = Phi w exactly with P > L: the unregularized fit predicts every left-out sample exactly, and
    every ridge > 0 adds bias, so the LOO error rises strictly with the ridge."""
    Phi, y = _problem(20, 4, seed=11, noise=0.0)
    ridges = kr.ridge_grid(Phi, num=9)
    ch = kr.select_ridge(Phi, y, ridges)
    assert ch.index == 0
    assert bool((ch.scores[1:] > ch.scores[:-1]).all())


def test_pure_noise_targets_pick_a_large_ridge_and_gcv_agrees():
    """y independent of Phi: the best predictor is 0, reached by the largest ridge on the grid."""
    g = torch.Generator().manual_seed(2)
    Phi = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randn(40, generator=g, dtype=torch.float64)
    grid = kr.ridge_grid(Phi, num=11, decades=(-4.0, 4.0))
    for crit in ("loo", "gcv"):
        assert kr.select_ridge(Phi, y, grid, crit).index >= 9


def test_ridge_grid_scales_with_the_features():
    Phi, _ = _problem(6, 4)
    g1, g2 = kr.ridge_grid(Phi, num=5), kr.ridge_grid(3.0 * Phi, num=5)
    torch.testing.assert_close(g2, 9.0 * g1, rtol=1e-12, atol=0)
    assert float(g1[-1] / g1[0]) == pytest.approx(1e10, rel=1e-10)  # default decades (-8, 2)
    assert float(g1[0]) == pytest.approx(1e-8 * float(Phi.square().sum()) / 4, rel=1e-12)


def test_cv_readout_error_uses_the_chosen_ridge():
    g = torch.Generator().manual_seed(0)
    L = 16
    K = torch.randn(L, generator=g, dtype=torch.float64)
    beta = synthetic.band_limited_teacher(L, "low", generator=g)
    X = synthetic.sample_inputs(12, L, generator=g)
    y = synthetic.teacher_targets(beta, X, noise=0.3, generator=g)
    err, ridge = kr.cv_readout_error(K, X, y, beta)
    assert ridge == kr.select_ridge(kr.ssm_features(K, X), y).ridge
    assert err == kr.readout_error(K, X, y, beta, ridge=ridge)


def test_scores_are_inf_not_nan_when_the_ridge_vanishes_against_the_features():
    Phi, y = _problem(4, 6, seed=1)
    Phi = Phi * 1e150  # s^2 ~ 1e300: a ridge of 1e-300 shrinks nothing; the leverage is exactly 1
    scores = kr.ridge_cv_scores(Phi, y, [1e-300], "loo")
    assert math.isinf(float(scores[0]))
    with pytest.raises(ValueError, match="ridges"):
        kr.select_ridge(Phi, y, [1e-300])


@pytest.mark.parametrize("bad, match", [
    (dict(ridges=[0.0, 1.0]), "ridges"),
    (dict(ridges=[-1.0]), "ridges"),
    (dict(ridges=[]), "ridges"),
    (dict(ridges=[float("nan")]), "ridges"),
    (dict(criterion="kfold"), "criterion"),
    (dict(y=torch.zeros(3)), "Phi, y"),
    (dict(Phi=torch.zeros(1, 3), y=torch.zeros(1)), "at least 2"),
    (dict(Phi=torch.full((3, 2), float("inf"))), "Phi"),
])
def test_bad_input_names_the_argument(bad, match):
    Phi, y = _problem(4, 3)
    kw = dict(Phi=Phi, y=y, ridges=[1.0], criterion="loo") | bad
    with pytest.raises(ValueError, match=match):
        kr.ridge_cv_scores(kw["Phi"], kw["y"], kw["ridges"], kw["criterion"])


@pytest.mark.parametrize("kw, match", [
    (dict(num=1), "num"),
    (dict(decades=(2.0, -8.0)), "decades"),
    (dict(decades="ab"), "decades"),
    (dict(decades=(0.0, float("inf"))), "decades"),
])
def test_ridge_grid_bad_input(kw, match):
    Phi, _ = _problem(4, 3)
    with pytest.raises(ValueError, match=match):
        kr.ridge_grid(Phi, **kw)
    with pytest.raises(ValueError, match="Phi"):
        kr.ridge_grid(torch.zeros(3, 2))


# ------------------------------------------------------------------ label noise at a stated SNR
def test_noise_std_for_snr_gives_the_stated_ratio():
    g = torch.Generator().manual_seed(4)
    beta = synthetic.band_limited_teacher(32, "mid", generator=g)  # ||beta|| = 1
    assert synthetic.noise_std_for_snr(beta, 10.0) == pytest.approx(math.sqrt(0.1), rel=1e-12)
    assert synthetic.noise_std_for_snr(beta, math.inf) == 0.0
    cov = synthetic.ar1_covariance(32, 0.8)
    s = synthetic.noise_std_for_snr(beta, 4.0, input_cov=cov)
    assert s**2 * 4.0 == pytest.approx(float(beta @ cov @ beta), rel=1e-12)
    # the empirical SNR of many draws: Var[signal] / Var[noise] within sampling error
    # (n = 20000: the relative SE of a variance ratio is about sqrt(2/n + 2/n) = 1.4%; 6% is > 4 SE)
    X = synthetic.sample_inputs(20000, 32, generator=g)
    sigma = synthetic.noise_std_for_snr(beta, 5.0)
    y = synthetic.teacher_targets(beta, X, noise=sigma, generator=g)
    sig = X @ beta
    assert float(sig.var() / (y - sig).var()) == pytest.approx(5.0, rel=0.06)


@pytest.mark.parametrize("snr", [0, -1.0, float("nan"), "10", True, None])
def test_noise_std_for_snr_bad_snr(snr):
    with pytest.raises(ValueError, match="snr"):
        synthetic.noise_std_for_snr(torch.ones(4) / 2, snr)


def test_noise_std_for_snr_bad_cov():
    with pytest.raises(ValueError, match="input_cov"):
        synthetic.noise_std_for_snr(torch.ones(4) / 2, 2.0, input_cov=torch.eye(3))
