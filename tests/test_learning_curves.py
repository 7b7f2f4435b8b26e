"""ssm_tdi.learning_curves: the self-consistent theory (claim C4), limits, closed forms.

Notation: eigenvalues eta_r, target power a_r^2, ridge lam, noise sigma, P samples;
kappa = lam + kappa sum_r eta_r / (P eta_r + kappa), gamma = sum_r P eta_r^2 / (P eta_r + kappa)^2,
E_g = [sum_r a_r^2 kappa^2 / (P eta_r + kappa)^2 + sigma^2 gamma] / (1 - gamma).

Single mode (derived by hand; M equal eigenvalues reduce to it, see below). With one
eigenvalue eta, the kappa equation times (P eta + kappa) is the quadratic
    kappa^2 + b kappa - lam P eta = 0,   b = P eta - eta - lam,
whose positive root is kappa = (-b + sqrt(b^2 + 4 lam P eta)) / 2
(= 2 lam P eta / (b + sqrt(...)) when b > 0, without cancellation). Ridge 0:
kappa = eta (1 - P) for P < 1 and 0 for P >= 1, so gamma = P, and
    E_g = a^2 (1 - P) + sigma^2 P / (1 - P)     (P < 1),
    E_g = sigma^2 / (P - 1)                      (P > 1; infinite at P = 1 if sigma > 0).

Monotonicity (ridge > 0, noise 0) -- true for one mode, FALSE in general:
* one mode: write u = P eta / kappa. Dividing the quadratic by kappa^2 gives
  (P eta - eta - lam)/kappa = lam P eta / kappa^2 - 1, and then
      (1 - gamma)(P eta + kappa)^2 / kappa^2 = 1 + u + lam u (1 + u) / kappa,
  so E_g = a^2 / (1 + u + lam u (1 + u) / kappa). By the implicit function theorem
  dkappa/dP = -eta (kappa - lam) / sqrt(b^2 + 4 lam P eta) < 0 (kappa > lam), so u and
  1/kappa increase strictly with P and E_g strictly decreases. M equal eigenvalues eta
  are one mode with eigenvalue M eta at sample size P / M, so they are monotone too.
* several modes: target power on a small-eigenvalue (or zero-eigenvalue) mode acts as
  effective noise, and E_g can rise well above its P = 0 value near P ~ number of large
  modes when the ridge is small (sample-wise double descent without label noise). The
  test below exhibits such a spectrum, so only the single-mode statement is asserted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from ssm_tdi.learning_curves import cumulative_power, cumulative_power_area, predict, solve_kappa


def single_mode_kappa(eta, P, lam):
    b = P * eta - eta - lam
    disc = math.sqrt(b * b + 4 * lam * P * eta)
    if b > 0:
        return 2 * lam * P * eta / (b + disc)
    return (-b + disc) / 2


def single_mode_error(eta, a2, P, lam, sigma=0.0):
    if P == 0:
        return a2
    k = single_mode_kappa(eta, P, lam)
    d = P * eta + k
    gamma = P * eta**2 / d**2
    if gamma >= 1:
        return math.inf if (sigma > 0 or k > 0) else 0.0
    return (a2 * k**2 / d**2 + sigma**2 * gamma) / (1 - gamma)


def kappa_residual(eta, P, ridge, kappa):
    """Relative residual of the self-consistent equation at kappa."""
    eta = np.asarray(eta, dtype=np.float64)
    pos = eta[eta > 0]
    if kappa > 0:
        rhs = ridge + kappa * np.sum(pos / (P * pos + kappa))
        return abs(kappa - rhs) / kappa
    return None


# ------------------------------------------------------------------------ strategies

_log_eta = st.floats(-8.0, 2.0)


@st.composite
def spectra(draw, max_m=12, allow_zeros=True):
    m = draw(st.integers(1, max_m))
    eta = [10.0 ** draw(_log_eta) for _ in range(m)]
    if allow_zeros:
        eta = [0.0 if draw(st.integers(0, 5)) == 0 else e for e in eta]
    a2 = [draw(st.floats(0.0, 3.0)) for _ in range(m)]
    return np.array(eta), np.array(a2)


ridges = st.one_of(st.just(0.0), st.floats(-8.0, 3.0).map(lambda x: 10.0**x))


# ------------------------------------------------------------------------ kappa


@given(spec=spectra(), ridge=ridges, pfrac=st.floats(0.01, 3.0), integer=st.booleans())
def test_property_kappa_is_self_consistent(spec, ridge, pfrac, integer):
    eta, _ = spec
    M = int(np.sum(eta > 0))
    P = pfrac * max(M, 1)
    if integer:
        P = float(max(1, round(P)))
    k = solve_kappa(eta, P, ridge)
    assert k >= 0 and np.isfinite(k)
    if ridge > 0:
        assert k >= ridge  # kappa = ridge + (positive)
        assert kappa_residual(eta, P, ridge, k) <= 1e-10
    elif P < M:
        assert k > 0
        # ridge 0: 1 = sum eta / (P eta + kappa)
        pos = eta[eta > 0]
        assert abs(1 - np.sum(pos / (P * pos + k))) <= 1e-10
    else:
        assert k == 0.0  # interpolation, P >= M


@pytest.mark.parametrize("ridge", [0.0, 1e-6, 0.3, 50.0])
@pytest.mark.parametrize("P", [0.5, 2.0, 3.0, 7.0, 100.0])
def test_kappa_fixed_cases(ridge, P):
    eta = np.array([2.0, 1.0, 0.5, 1e-3, 0.0])  # M = 4 positive
    k = solve_kappa(eta, P, ridge)
    if ridge == 0 and P >= 4:
        assert k == 0.0
    else:
        assert kappa_residual(eta, P, ridge, k) <= 1e-10
    assert solve_kappa(eta, 0.0, ridge) == math.inf


def test_kappa_no_positive_eigenvalues():
    eta = np.zeros(3)
    assert solve_kappa(eta, 2.0, 0.7) == pytest.approx(0.7, rel=1e-14)
    assert solve_kappa(eta, 2.0, 0.0) == 0.0
    assert predict(eta, [1.0, 2.0, 0.5], [0, 1, 10], ridge=0.1) == pytest.approx([3.5] * 3)


# ------------------------------------------------------------------------ predict vs formula


@given(spec=spectra(), ridge=ridges, noise=st.sampled_from([0.0, 0.1, 1.0]),
       Ps=st.lists(st.floats(0.0, 40.0), min_size=1, max_size=6))
def test_property_predict_matches_formula(spec, ridge, noise, Ps):
    eta, a2 = spec
    E = predict(eta, a2, Ps, ridge=ridge, noise=noise)
    assert E.shape == (len(Ps),)
    M = int(np.sum(eta > 0))
    for P, e in zip(Ps, E, strict=True):
        if P == 0:
            assert e == pytest.approx(a2.sum(), rel=1e-15, abs=0)
            continue
        k = solve_kappa(eta, P, ridge)
        if k > 0:
            d = P * eta + k
            gamma = np.sum(P * eta**2 / d**2)
            resid = np.sum(a2 * k**2 / d**2)
        else:
            gamma, resid = M / P, a2[eta == 0].sum()
        if gamma >= 1:
            assert e == math.inf or (e == 0 and resid == 0 and noise == 0)
        else:
            assert e == pytest.approx((resid + noise**2 * gamma) / (1 - gamma), rel=1e-12, abs=1e-300)
            assert e >= 0
            if ridge > 0 and noise == 0:
                # unlearnable (eta = 0) power is never removed, only amplified
                assert e >= a2[eta == 0].sum() * (1 - 1e-12)


def test_limits_total_power():
    eta = np.array([3.0, 1.0, 0.2, 0.01])
    a2 = np.array([0.5, 1.0, 0.25, 2.0])
    for ridge, noise in ((0.0, 0.0), (0.1, 0.0), (0.1, 0.7)):
        assert predict(eta, a2, 0, ridge=ridge, noise=noise) == pytest.approx(a2.sum(), rel=1e-15)
    # huge ridge: kappa ~ ridge, nothing is learned: E_g -> sum a^2 (error O(P eta / ridge))
    E = predict(eta, a2, [1, 10, 100], ridge=1e12, noise=0.5)
    np.testing.assert_allclose(E, a2.sum(), rtol=1e-8)
    # huge P with ridge > 0: every learnable mode is learned
    assert predict(eta, a2, 1e12, ridge=0.1) == pytest.approx(0.0, abs=1e-9)


def test_ridge_to_zero_is_continuous():
    eta = np.array([3.0, 1.0, 0.2, 0.01, 0.0])
    a2 = np.array([0.5, 1.0, 0.25, 2.0, 0.3])
    Ps = [0.5, 1.5, 2.5, 3.7, 5.0, 9.0]  # P < M = 4 and P > M
    np.testing.assert_allclose(predict(eta, a2, Ps, ridge=1e-13, noise=0.2),
                               predict(eta, a2, Ps, ridge=0.0, noise=0.2), rtol=1e-6)


def test_ridgeless_interpolation_regime():
    eta = np.array([3.0, 1.0, 0.5, 0.0])
    a2 = np.array([1.0, 1.0, 1.0, 0.4])
    M = 3
    for P in (4.0, 6.0, 30.0):
        for s in (0.0, 0.5):
            g = M / P
            assert predict(eta, a2, P, noise=s) == pytest.approx((0.4 + s**2 * g) / (1 - g), rel=1e-14)
    # P = M: gamma = 1, diverges with unlearnable power or noise, else exact fit
    assert predict(eta, a2, 3.0) == math.inf
    assert predict(eta[:3], a2[:3], 3.0, noise=0.1) == math.inf
    assert predict(eta[:3], a2[:3], 3.0) == 0.0


def test_invariances():
    rng = np.random.default_rng(0)
    eta = 10.0 ** rng.uniform(-4, 1, 10)
    a2 = rng.uniform(0, 1, 10)
    Ps = np.array([0.0, 0.7, 3.0, 9.5, 10.0, 25.0])
    for ridge, noise in ((0.0, 0.0), (0.05, 0.0), (0.05, 0.3)):
        E = predict(eta, a2, Ps, ridge=ridge, noise=noise)
        # joint permutation of (eta, a2)
        perm = rng.permutation(10)
        np.testing.assert_allclose(predict(eta[perm], a2[perm], Ps, ridge=ridge, noise=noise), E, rtol=1e-10)
        # scaling eta and ridge together leaves E_g unchanged (kappa scales along)
        np.testing.assert_allclose(predict(7.0 * eta, a2, Ps, ridge=7.0 * ridge, noise=noise), E, rtol=1e-9)
        # tensors and lists are accepted; scalar P gives a float
        Et = predict(torch.tensor(eta), torch.tensor(a2).tolist(), torch.tensor(Ps), ridge=ridge, noise=noise)
        np.testing.assert_allclose(Et, E, rtol=1e-15)
        e3 = predict(eta, a2, 3, ridge=ridge, noise=noise)
        assert isinstance(e3, float) and e3 == pytest.approx(E[2], rel=1e-15)


def test_noise_adds_variance():
    eta = np.array([1.0, 0.5, 0.1])
    a2 = np.zeros(3)
    # no signal: E_g = sigma^2 gamma / (1 - gamma) > 0 and scales with sigma^2
    E1 = predict(eta, a2, [1.0, 2.0], ridge=0.1, noise=1.0)
    E2 = predict(eta, a2, [1.0, 2.0], ridge=0.1, noise=2.0)
    assert np.all(E1 > 0)
    np.testing.assert_allclose(E2, 4 * E1, rtol=1e-14)


# ------------------------------------------------------------------------ single mode


@pytest.mark.parametrize("P", [0.1, 0.5, 0.99, 1.5, 4.0])
def test_single_mode_ridgeless_closed_form(P):
    eta, a2 = 0.8, 2.5
    assert solve_kappa(np.array([eta]), P, 0.0) == pytest.approx(max(eta * (1 - P), 0.0), rel=1e-12)
    for s in (0.0, 0.3):
        ref = a2 * (1 - P) + s**2 * P / (1 - P) if P < 1 else s**2 / (P - 1)
        assert predict([eta], [a2], P, noise=s) == pytest.approx(ref, rel=1e-12, abs=1e-300)
    assert predict([eta], [a2], 1.0, noise=0.3) == math.inf
    assert predict([eta], [a2], 1.0) == 0.0


@given(eta=st.floats(-6.0, 2.0).map(lambda x: 10.0**x), a2=st.floats(0.01, 5.0),
       ridge=st.floats(-6.0, 2.0).map(lambda x: 10.0**x), sigma=st.sampled_from([0.0, 0.5]),
       P=st.floats(0.01, 50.0))
def test_property_single_mode_closed_form(eta, a2, ridge, sigma, P):
    k = solve_kappa(np.array([eta]), P, ridge)
    assert k == pytest.approx(single_mode_kappa(eta, P, ridge), rel=1e-10)
    assert predict([eta], [a2], P, ridge=ridge, noise=sigma) == pytest.approx(
        single_mode_error(eta, a2, P, ridge, sigma), rel=1e-9)


@given(eta=st.floats(-4.0, 2.0).map(lambda x: 10.0**x), ridge=st.floats(-6.0, 2.0).map(lambda x: 10.0**x),
       m=st.integers(1, 6), scale=st.floats(0.05, 20.0))
def test_property_single_mode_monotone(eta, ridge, m, scale):
    """Proved in the module docstring: one mode (or m equal eigenvalues), ridge > 0,
    noise 0 -> E_g strictly decreasing in P."""
    Ps = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 60) * scale])
    E = predict(np.full(m, eta), np.full(m, 1.0 / m), Ps, ridge=ridge)
    assert np.all(np.diff(E) <= 1e-12 * E[:-1])
    assume(E[-1] < E[0] * (1 - 1e-9))  # strictly less somewhere (not all at rounding level)
    assert E[-1] < E[0]
    # m equal eigenvalues = one mode of eigenvalue m eta at P / m
    E1 = predict([m * eta], [1.0], Ps / m, ridge=ridge)
    np.testing.assert_allclose(E, E1, rtol=1e-9)


def test_general_spectrum_can_be_non_monotone_without_noise():
    """Counterexample to 'E_g decreases in P for any spectrum when ridge > 0, noise = 0':
    all target power on a tiny-eigenvalue mode, a big mode soaking up the first samples.
    At P = 1 gamma ~ 1 and the unlearned power is amplified by 1/(1 - gamma)."""
    eta = np.array([1.0, 1e-6])
    a2 = np.array([0.0, 1.0])
    E = predict(eta, a2, [0.0, 0.5, 1.0, 2.0, 10.0], ridge=1e-3)
    assert E[2] > 10 * E[0]  # rises from 1 to > 10 ...
    assert E[4] < E[2]  # ... and comes back down
    # the rise is the 1/(1 - gamma) amplification of power the kernel cannot learn yet
    k = solve_kappa(eta, 1.0, 1e-3)
    gamma = np.sum(eta**2 / (eta + k) ** 2)
    assert E[2] == pytest.approx(np.sum(a2 * k**2 / (eta + k) ** 2) / (1 - gamma), rel=1e-12)


# ------------------------------------------------------------------------ cumulative power


@given(spec=spectra(allow_zeros=True))
def test_property_cumulative_power(spec):
    eta, a2 = spec
    assume(a2.sum() > 0)
    C = cumulative_power(eta, a2)
    assert C.shape == eta.shape
    assert np.all(np.diff(C) >= -1e-15) and np.all(C >= 0) and np.all(C <= 1 + 1e-12)
    assert C[-1] == pytest.approx(1.0, rel=1e-12)
    order = np.argsort(-eta, kind="stable")
    np.testing.assert_allclose(C, np.cumsum(a2[order]) / a2.sum(), rtol=1e-12)
    area = cumulative_power_area(eta, a2)
    assert area == pytest.approx(C.mean(), rel=1e-15)
    assert 1 / len(eta) - 1e-12 <= area <= 1 + 1e-12
    # scaling a2 changes nothing; eta order, not values, matters
    np.testing.assert_allclose(cumulative_power(3 * eta, 5 * a2), C, rtol=1e-12)


def test_cumulative_power_extremes():
    eta = np.array([0.1, 5.0, 1.0, 0.01])
    M = 4
    top = np.array([0.0, 1.0, 0.0, 0.0])  # all power in the largest-eigenvalue mode
    np.testing.assert_array_equal(cumulative_power(eta, top), np.ones(M))
    assert cumulative_power_area(eta, top) == 1.0
    last = np.array([0.0, 0.0, 0.0, 2.0])  # all in the smallest
    np.testing.assert_allclose(cumulative_power(eta, last), [0, 0, 0, 1])
    assert cumulative_power_area(eta, last) == pytest.approx(1 / M)
    flat = np.ones(M)
    np.testing.assert_allclose(cumulative_power(eta, flat), [0.25, 0.5, 0.75, 1.0])
    assert cumulative_power_area(eta, flat) == pytest.approx((M + 1) / (2 * M))
    # order: descending eta, i.e. 5.0, 1.0, 0.1, 0.01
    np.testing.assert_allclose(cumulative_power(eta, [1.0, 2.0, 3.0, 4.0]), np.cumsum([2, 3, 1, 4]) / 10)
    # rounding-level negative eigenvalues (a squared SVD) count as zero
    assert cumulative_power([1.0, -1e-17], [0.0, 1.0])[-1] == 1.0


def test_tiny_sample_size_regression():
    """Regression: for P eta << kappa the old bracket [0, ridge + sum eta] had f(hi) = 0
    in exact arithmetic, which rounded negative and made brentq raise."""
    for ridge in (0.0, 1e-3):
        for eta in ([1.0], [1.0, 0.3, 1e-4]):
            m = len(eta)
            E = predict(eta, [0.5] * m, [2.2250738585072014e-308, 1e-300, 1e-200, 1e-20], ridge=ridge)
            np.testing.assert_allclose(E, 0.5 * m, rtol=1e-12)


# ------------------------------------------------------------------ samples_to_reach
def test_samples_to_reach_is_exact_on_a_power_law():
    """E = 4 / P is a straight line in log-log, so the interpolation is exact: E = 0.1 at P = 40."""
    from ssm_tdi.learning_curves import samples_to_reach

    P = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
    assert samples_to_reach(P, 4.0 / P, 0.1) == pytest.approx(40.0, rel=1e-12)
    assert samples_to_reach(P, 4.0 / P, 1.0) == pytest.approx(4.0, rel=1e-12)  # on a grid point
    assert samples_to_reach(P, 4.0 / P, 2.0) == 4.0       # already below at the first point
    assert samples_to_reach(P, 4.0 / P, 0.01) == np.inf   # never reached on the grid


def test_samples_to_reach_takes_the_first_crossing():
    from ssm_tdi.learning_curves import samples_to_reach

    P = np.array([1.0, 2.0, 4.0, 8.0])
    E = np.array([1.0, 0.25, 2.0, 0.1])  # crosses 0.5 between P = 1 and 2, again later
    assert samples_to_reach(P, E, 0.5) == pytest.approx(2.0 ** 0.5, rel=1e-12)


@pytest.mark.parametrize("P, E, target, match", [
    ([1.0, 2.0], [1.0], 0.5, "P, error"),
    ([2.0, 1.0], [1.0, 0.5], 0.5, "P"),
    ([0.0, 1.0], [1.0, 0.5], 0.5, "P"),
    ([1.0, 2.0], [1.0, 0.0], 0.5, "error"),
    ([1.0, 2.0], [1.0, np.nan], 0.5, "error"),
    ([1.0, 2.0], [1.0, 0.5], 0.0, "target"),
    ([1.0, 2.0], [1.0, 0.5], -1.0, "target"),
])
def test_samples_to_reach_bad_input(P, E, target, match):
    from ssm_tdi.learning_curves import samples_to_reach

    with pytest.raises(ValueError, match=match):
        samples_to_reach(P, E, target)
