"""The numerical claim checks of ``verify/`` at tiny sizes: each passes on correct input, and
each FAILs when fed a wrong prediction, a too-tight bound or a wrong ridge (so a PASS means
something). Total runtime a few seconds."""

from __future__ import annotations

import json

import pytest
import torch

from ssm_tdi import operators, synthetic
from verify import __main__ as cli
from verify import claims
from verify.c1 import check_c1
from verify.c2 import check_c2_mirsky, check_c2_rate, check_c2_traces
from verify.c3 import check_c3_circulant, check_c3_nonstationary, check_c3_toeplitz
from verify.c4 import check_c4, finite_size_allowance
from verify.common import Row, loglog_slope, sorted_dft_power
from verify.ssms import default_ssm, delay_ssm, random_ssm, ssm_family

TINY = (16, 32, 64)
RATE = (16, 24, 32, 48, 64, 96, 128)  # half-octave steps: enough points for a tight slope SE


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Many small LAPACK calls: one thread avoids oversubscribing a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def wide():
    """One S4D-Lin default, one random ZOH and one random bilinear SSM (full parameter ranges)."""
    return ssm_family(7, n_default=1, n_random=2)


@pytest.fixture(scope="module")
def fast():
    """SSMs whose kernels decay within ~3 steps, so L = 16..128 is already asymptotic."""
    g = torch.Generator().manual_seed(5)
    return [random_ssm(g, decay=(1.0, 2.0), dt_range=(0.2, 0.5)), default_ssm(g, dt_range=(0.5, 1.0))]


def test_samplers_are_reproducible_and_cover_both_discretizations(wide):
    again = ssm_family(7, n_default=1, n_random=2)
    for a, b in zip(wide, again, strict=True):
        assert torch.equal(a.kernel(32), b.kernel(32))
    assert {s.method for s in wide} == {"zoh", "bilinear"}
    assert all(float(s.A.real.max()) < 0 for s in wide)


def test_delay_ssm_is_a_pulse():
    K = delay_ssm(16, 5, rho=0.9).kernel(16)
    expected = torch.zeros(16, dtype=torch.float64)
    expected[5] = 0.9**5
    assert torch.allclose(K, expected, atol=1e-14)


# ---- C1 ---------------------------------------------------------------------------------------

def test_c1_passes(wide):
    assert check_c1([(s, L) for s in wide for L in TINY]).passed


@pytest.mark.parametrize("wrong", [
    lambda K: sorted_dft_power(K) * (1 + 1e-9),  # eigenvalues off by one part in 10^9
    lambda K: operators.dft_power(K),  # right values, DFT order instead of sorted
])
def test_c1_detects_a_wrong_prediction(wide, wrong):
    assert not check_c1([(s, L) for s in wide for L in TINY], predict=wrong).passed


# ---- C2 ---------------------------------------------------------------------------------------

def test_c2_mirsky_passes_including_the_equality_case(wide):
    row = check_c2_mirsky([(s, L) for s in wide for L in TINY] + [(delay_ssm(32, 7), 32)])
    assert row.passed
    tight = [c for c in row.details["cases"] if c["ssm"].startswith("delay")][0]
    assert abs(tight["slack"]) < 1e-10  # Mirsky is an equality for a pure delay


def test_c2_mirsky_fails_for_a_halved_bound():
    # lhs = rhs exactly for a pure delay, so lhs <= 0.5 rhs must fail
    assert not check_c2_mirsky([(delay_ssm(32, 7), 32)], bound_scale=0.5).passed


def test_c2_rate_passes_and_can_fail(fast):
    assert check_c2_rate(fast, RATE).passed
    # a claimed decay faster than the true one fails
    assert not check_c2_rate(fast, RATE, claimed_slope=-1.5).passed
    # a kernel far from decayed within L (dt = 1e-3: 2000 steps) is pre-asymptotic: the gap grows
    slow = default_ssm(torch.Generator().manual_seed(0), dt_range=(1e-3, 1e-3))
    assert not check_c2_rate([slow], RATE).passed


def test_c2_traces_pass_and_catch_a_wrong_formula(wide):
    assert check_c2_traces(wide, TINY).passed
    assert not check_c2_traces(wide, TINY, toeplitz_trace=operators.circulant_trace).passed


def test_loglog_slope_recovers_a_power_law():
    x = [16, 32, 64, 128]
    slope, se = loglog_slope(x, [3.0 * v**-0.75 for v in x])
    assert slope == pytest.approx(-0.75, abs=1e-12) and se < 1e-12


# ---- C3 ---------------------------------------------------------------------------------------

def test_c3_circulant_passes_and_needs_the_input_spectrum(wide):
    assert check_c3_circulant(wide, TINY).passed
    # forgetting the P_u(w_j) weighting must fail
    assert not check_c3_circulant(wide, TINY, predict=lambda K, rho: sorted_dft_power(K)).passed


def test_c3_toeplitz_bound_and_rate(fast):
    bound, rate = check_c3_toeplitz(fast, RATE)
    assert bound.passed and rate.passed
    # a bound tighter than the largest observed lhs/rhs must fail
    worst = max(c["lhs"] / c["rhs"] for c in bound.details["cases"])
    assert not check_c3_toeplitz(fast, RATE, bound_scale=0.5 * worst)[0].passed
    assert not check_c3_toeplitz(fast, RATE, claimed_slope=-3.0)[1].passed


def test_c3_nonstationary_identity_and_finding(fast):
    ident, finding = check_c3_nonstationary(fast, 128, seed=0)
    assert ident.passed and finding.passed
    # a stationary covariance posing as non-stationary: the formula applies, the finding fails
    stationary = {"ar1": lambda L, rho, gen: synthetic.ar1_covariance(L, rho)}
    assert not check_c3_nonstationary(fast, 128, seed=0, covariances=stationary)[1].passed
    # ignoring the alignment V^T Q (as if Q were T's own singular basis) breaks the identity
    aligned = lambda Vh, Q: torch.eye(Q.shape[0], dtype=Q.dtype)  # noqa: E731
    assert not check_c3_nonstationary(fast, 128, seed=0, alignment=aligned)[0].passed


# ---- C4 ---------------------------------------------------------------------------------------

def test_c4_allowance_matches_the_inverse_wishart_ratio():
    # P = 2L = 32: E[W^-2] exact / replica = 31 * 16^2 / (32 * 15 * 13)
    assert finite_size_allowance(32, 16) == pytest.approx(31 * 256 / (32 * 15 * 13) - 1)
    with pytest.raises(ValueError):
        finite_size_allowance(64, 62)


@pytest.mark.parametrize("idx", [0, 1])
def test_c4_passes_and_fails_with_a_wrong_ridge(fast, idx):
    kw = dict(L=32, Ps=(4, 64), trials=50, seed=1)
    assert check_c4(fast[idx], **kw).passed
    # the theory evaluated at a ridge 10^4 x too large (10x the mean eigenvalue) must fail
    assert not check_c4(fast[idx], theory_ridge_scale=1e4, **kw).passed


# ---- command line -------------------------------------------------------------------------------

def _row(passed: bool) -> Row:
    return Row("C0", "dummy", "a statement", "1.0", "<= 2 (test)", passed, details={"x": 1.0})


@pytest.mark.parametrize("passed, code", [(True, 0), (False, 1)])
def test_cli_table_json_and_exit_code(monkeypatch, tmp_path, capsys, passed, code):
    monkeypatch.setattr(claims, "run_all", lambda: [_row(True), _row(passed)])
    path = tmp_path / "out.json"
    assert cli.main(["--json", str(path)]) == code
    out = capsys.readouterr().out
    assert "C0" in out and ("FAIL" in out) == (not passed)
    data = json.loads(path.read_text())
    assert data["passed"] is passed and len(data["rows"]) == 2
    assert data["rows"][1]["verdict"] == ("PASS" if passed else "FAIL")
