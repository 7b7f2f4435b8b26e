"""paper_figures.e1: the E1 set-up's glue (label noise, ridge by leave-one-out, samples saved).

The formulas live in the library and have their own tests; these check that the glue wires them as
the figures' docstrings say: noise at the stated SNR, paired and nested across P; the ridge chosen on
the training pairs only; the theory fed the same ridge and noise; the samples-saved ratio and its
bootstrap interval on curves whose answer is known.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paper_figures import e1
from ssm_tdi import kernel_regression, learning_curves


def _task(L=16, P=12, snr=10.0, kind="white"):
    inp = e1.input_model(kind, L)
    s_teacher, s_data, s_init, s_noise = e1.trial_seeds(0, 0, 4)
    beta, X, y0 = e1.sample_task(L, "mid", inp, s_teacher, s_data, P)
    sigma = e1.noise_std(beta, inp, snr)
    return inp, beta, X, y0, sigma, s_init, s_noise


def test_trial_seeds_keep_the_first_three_streams_when_the_noise_seed_is_added():
    assert e1.trial_seeds(3, 5, 4)[:3] == e1.trial_seeds(3, 5, 3)


def test_noisy_targets_are_nested_and_scale_with_sigma():
    inp, beta, X, y0, sigma, _, s_noise = _task()
    y1 = e1.noisy_targets(beta, X, sigma, s_noise)
    y2 = e1.noisy_targets(beta, X, 2 * sigma, s_noise)
    torch.testing.assert_close(y2 - y0, 2 * (y1 - y0), rtol=1e-12, atol=1e-14)  # the same e, scaled
    torch.testing.assert_close(e1.noisy_targets(beta, X[:5], sigma, s_noise), y1[:5], rtol=0, atol=0)
    assert e1.noisy_targets(beta, X, 0.0, s_noise).equal(y0)
    assert sigma == pytest.approx(math.sqrt(0.1), rel=1e-12)  # ||beta|| = 1, white input, SNR 10


def test_cv_error_uses_the_training_pairs_only_and_matches_the_library():
    inp, beta, X, y0, sigma, s_init, s_noise = _task(kind="colored")
    y = e1.noisy_targets(beta, X, sigma, s_noise)
    K = e1.init_kernel("s4d-lin", s_init, 16)
    err, ridge, edge = e1.cv_error(K, X, y, beta, inp)
    Phi = kernel_regression.ssm_features(K, X)
    choice = kernel_regression.select_ridge(Phi, y, kernel_regression.ridge_grid(Phi))
    assert ridge == choice.ridge
    i, sc = choice.index, choice.scores
    if 0 < i < len(sc) - 1:
        assert edge is False
    else:  # at an end: cut off only if the score still falls by more than GRID_CUTOFF_SLOPE there
        nb = 1 if i == 0 else len(sc) - 2
        assert edge == bool(sc[i] < (1 - e1.GRID_CUTOFF_SLOPE) * sc[nb])
    assert err == kernel_regression.readout_error(K, X, y, beta, ridge=ridge, input_cov=inp.cov)


def test_theory_errors_take_one_ridge_per_P_and_the_noise():
    inp, beta, X, y0, sigma, s_init, _ = _task()
    K = e1.init_kernel("s4d-lin", s_init, 16)
    got = e1.theory_errors(K, beta, inp, [4, 8], [1e-2, 3.0], sigma)
    for P, r, g in zip([4, 8], [1e-2, 3.0], got, strict=True):
        assert g == e1.theory_error(K, beta, inp, float(P), ridge=r, noise=sigma)
    assert got[0] > e1.theory_error(K, beta, inp, 4.0, ridge=1e-2, noise=0.0)  # noise adds error


def test_arm_kernel_input_arm_ignores_the_labels():
    inp, beta, X, y0, sigma, s_init, _ = _task()
    K1 = e1.arm_kernel("tdi-input", X, None, 16, s_init)[0]
    K2 = e1.arm_kernel("tdi-input", X, y0, 16, s_init)[0]
    assert K1.equal(K2)
    with pytest.raises(ValueError, match="arm"):
        e1.arm_kernel("tdi-oracle", X, y0, 16, s_init)


def test_samples_saved_on_power_laws_with_a_known_answer():
    """Default E = 8/P, TDI E = 2/P on every trial: each reaches 0.25 at P = 32 and 8, ratio exactly 4,
    and every bootstrap resample gives 4, so the interval is the point."""
    Ps = np.array([2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    d = np.tile(8.0 / Ps, (5, 1))
    t = np.tile(2.0 / Ps, (5, 1))
    s = e1.samples_saved(Ps, d, t, 0.25, n_boot=50)
    assert s["P_default"] == pytest.approx(32.0) and s["P_tdi"] == pytest.approx(8.0)
    assert s["ratio"] == pytest.approx(4.0) and s["lo"] == pytest.approx(4.0) and s["hi"] == pytest.approx(4.0)


def test_samples_saved_lower_bound_and_no_answer():
    Ps = np.array([2.0, 4.0, 8.0])
    never = np.ones((4, 3))
    fast = np.tile(np.array([1.0, 0.1, 0.01]), (4, 1))
    s = e1.samples_saved(Ps, never, fast, 0.25, n_boot=20)
    assert s["P_default"] == np.inf and s["ratio"] == np.inf  # a lower bound: the default never gets there
    s2 = e1.samples_saved(Ps, fast, never, 0.25, n_boot=20)
    assert np.isnan(s2["ratio"]) and s2["boot_valid"] == 0  # TDI never gets there: no ratio
    assert learning_curves.samples_to_reach(Ps, fast[0], 0.25) == s2["P_default"]
