"""ssm_tdi.stats: paired differences, Holm / Benjamini-Hochberg, TOST, verdicts (against scipy and hand cases)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from ssm_tdi import stats


def test_paired_difference_matches_scipy_ttest_rel_and_the_t_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.7, 0.05, 10), rng.normal(0.68, 0.05, 10)
    r = stats.paired_difference(a, b)
    ref = sps.ttest_rel(a, b)
    assert r["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert r["t"] == pytest.approx(ref.statistic, rel=1e-12)
    ci = ref.confidence_interval(0.95)  # scipy's own interval for the mean paired difference
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(ci.low, rel=1e-12), pytest.approx(ci.high, rel=1e-12))
    assert r["wins"] + r["ties"] + r["losses"] == 10 and r["n"] == 10


def test_paired_difference_degenerate_and_too_small_samples():
    same = stats.paired_difference([0.5, 0.6], [0.4, 0.5])  # d = 0.1 exactly twice (up to rounding)
    assert same["mean"] == pytest.approx(0.1) and same["p"] < 1e-6
    zero = stats.paired_difference([0.5, 0.6], [0.5, 0.6])
    assert zero["p"] == 1.0 and zero["ties"] == 2 and zero["half_width"] == 0.0
    one = stats.paired_difference([1.0], [0.0])
    assert math.isnan(one["p"]) and math.isnan(one["ci_low"]) and one["mean"] == 1.0
    with pytest.raises(ValueError, match="a, b"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        stats.paired_difference([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="level"):
        stats.paired_difference([1.0, 2.0], [0.0, 1.0], level=1.5)


def test_holm_by_hand_and_nan_entries_are_left_out_of_the_family():
    # m = 4, sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    adj = stats.holm([0.03, 0.01, 0.5, 0.02])
    np.testing.assert_allclose(adj, [0.06, 0.04, 0.5, 0.06], rtol=0, atol=1e-15)
    adj = stats.holm([0.01, float("nan"), 0.04])  # a family of 2
    assert math.isnan(adj[1])
    np.testing.assert_allclose(adj[[0, 2]], [0.02, 0.04], atol=1e-15)
    assert (stats.holm([0.9, 0.8]) <= 1.0).all()


def test_benjamini_hochberg_by_hand_and_against_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2: m p / k = 0.04, 0.06, 0.0533.., 0.2 -> cumulative min from the top
    np.testing.assert_allclose(stats.benjamini_hochberg(p), [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2], atol=1e-15)
    rng = np.random.default_rng(1)
    q = rng.uniform(0, 0.2, 25)
    np.testing.assert_allclose(stats.benjamini_hochberg(q), sps.false_discovery_control(q), rtol=1e-12)
    with pytest.raises(ValueError, match="p-values"):
        stats.benjamini_hochberg([0.5, 1.5])


def test_tost_is_the_larger_one_sided_p_value():
    rng = np.random.default_rng(2)
    a = rng.normal(0.80, 0.01, 12)
    b = a - rng.normal(0.003, 0.005, 12)
    d = a - b
    m = 0.02
    lo = sps.ttest_1samp(d, -m, alternative="greater").pvalue
    hi = sps.ttest_1samp(d, m, alternative="less").pvalue
    assert stats.tost(a, b, m) == pytest.approx(max(lo, hi), rel=1e-12)
    assert stats.tost(a, b, m) < 0.05  # |d| ~ 0.003 +- 0.0015: clearly inside +-0.02
    assert stats.tost(a, b, 0.001) > 0.5  # a margin below the difference: not equivalent
    assert stats.tost([0.5, 0.6], [0.5, 0.6], 0.02) == 0.0  # degenerate, inside
    with pytest.raises(ValueError, match="margin"):
        stats.tost(a, b, 0.0)


def test_verdicts_tell_no_difference_from_not_enough_data():
    assert stats.verdict(0.001, 0.9, 0.001) == "equivalent"
    assert stats.verdict(0.1, 0.001, 0.9) == "better"
    assert stats.verdict(0.1, 0.001, 0.9, higher_is_better=False) == "worse"
    assert stats.verdict(-0.1, 0.001, 0.9) == "worse"
    assert stats.verdict(0.05, 0.3, 0.4) == "cannot tell"
    assert stats.verdict(0.0, float("nan"), float("nan")) == "cannot tell"
    with pytest.raises(ValueError, match="alpha"):
        stats.verdict(0.0, 0.1, 0.1, alpha=0)
    # end to end: 3 noisy seeds cannot tell; 30 seeds of the same tiny effect are equivalent at +-0.02
    rng = np.random.default_rng(3)
    a3, b3 = rng.normal(0.7, 0.05, 3), rng.normal(0.7, 0.05, 3)
    v3 = stats.verdict(0, stats.paired_difference(a3, b3)["p"], stats.tost(a3, b3, 0.02))
    base = rng.normal(0.7, 0.05, 30)
    a30 = base + rng.normal(0.001, 0.01, 30)
    v30 = stats.verdict(0, stats.paired_difference(a30, base)["p"], stats.tost(a30, base, 0.02))
    assert (v3, v30) == ("cannot tell", "equivalent")
