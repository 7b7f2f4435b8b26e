"""Forecasting data (ssm_tdi.data.forecasting) and baselines (ssm_tdi.baselines).

Most checks use hand-computed toy series (arange, integer periodic patterns, linear trends)
so exact values can be asserted; the real series are checked for length, filling and the
no-leakage layout.
"""

import numpy as np
import pytest

from ssm_tdi.baselines import fit_linear_ar, mase, mse, seasonal_naive
from ssm_tdi.data.forecasting import SERIES, Series, forecast_splits, load_series

EPS64 = np.finfo(np.float64).eps


@pytest.fixture(scope="module")
def series():
    return {name: load_series(name) for name in SERIES}


# ---------------------------------------------------------------- loaders

def test_lengths_periods_and_sources(series):
    assert len(series["taylor"]) == 4032 and series["taylor"].period == 48
    assert series["taylor"].lines == (48.0, 24.0, 336.0)
    assert len(series["co2"]) == 2284 and series["co2"].period == 52
    assert len(series["sunspots"]) == 2820 and series["sunspots"].period == 132
    for s in series.values():
        assert s.values.dtype == np.float64 and np.isfinite(s.values).all()
        assert s.meta["source"].split()[0] in ("pmdarima", "statsmodels")
    assert series["taylor"].values[:3].tolist() == [22262.0, 21756.0, 22247.0]


def test_co2_filling_counts_and_interpolates(series):
    import statsmodels.api as sm

    raw = sm.datasets.co2.load_pandas().data["co2"].to_numpy()
    bad = np.isnan(raw)
    co2 = series["co2"].values
    assert series["co2"].meta["filled"] == int(bad.sum()) == 59
    np.testing.assert_array_equal(co2[~bad], raw[~bad])  # observed values untouched
    # Index 6 is a single missing week between two observed ones (uniform weekly grid): the midpoint.
    assert bad[6] and not bad[5] and not bad[7]
    assert abs(co2[6] - (raw[5] + raw[7]) / 2) <= 4 * EPS64 * raw[7]
    # Indices 9..13 form one gap of 5 weeks: the filled values lie on the line from raw[8] to raw[14].
    assert bad[9:14].all() and not bad[8] and not bad[14]
    line = raw[8] + (raw[14] - raw[8]) * np.arange(1, 6) / 6
    np.testing.assert_allclose(co2[9:14], line, rtol=0, atol=16 * EPS64 * raw[14])


# ---------------------------------------------------------------- windows and splits

def test_toy_arange_windows_by_hand():
    # T=20, split (0.6, 0.2, 0.2) -> spans train [0,12), val [12,16), test [16,20); W=3, H=2.
    d = forecast_splits(np.arange(20.0), window=3, horizon=2)
    assert d.meta["spans"] == {"train": (0, 12), "kept_train": (0, 12), "val": (12, 16), "test": (16, 20)}
    assert d.meta["starts"]["train"].tolist() == list(range(8))  # last chunk [7, 12) ends at the span end
    assert d.meta["starts"]["val"].tolist() == [9, 10, 11]
    assert d.meta["starts"]["test"].tolist() == [13, 14, 15]
    np.testing.assert_array_equal(d.raw_val_targets, [[12, 13], [13, 14], [14, 15]])
    np.testing.assert_array_equal(d.raw_test_targets, [[16, 17], [17, 18], [18, 19]])
    np.testing.assert_array_equal(d.raw_test_context, [[13, 14, 15], [14, 15, 16], [15, 16, 17]])
    # Every demeaned context is [-1, 0, 1]: offsets are s+1 and scale = RMS = sqrt(2/3).
    np.testing.assert_array_equal(d.offsets["train"], np.arange(8) + 1.0)
    assert abs(d.scale - np.sqrt(2 / 3)) <= 4 * EPS64
    assert d.X_train.shape == (8, 3, 1) and d.Y_train.shape == (8, 3, 2) and d.X_train.dtype == np.float32
    # Window s=0: x = [0,1,2], Y[t,k] = t+1+k -> [[1,2],[2,3],[3,4]], all minus offset 1, over the scale.
    x0 = d.X_train[0, :, 0].astype(np.float64) * d.scale + 1
    y0 = d.Y_train[0].astype(np.float64) * d.scale + 1
    np.testing.assert_allclose(x0, [0, 1, 2], atol=1e-6)  # float32 storage: |err| <= 2^-24 * 1.3 * scale
    np.testing.assert_allclose(y0, [[1, 2], [2, 3], [3, 4]], atol=1e-6)
    # No scored val/test target lies in any training chunk; val/test targets lie in their spans.
    assert d.meta["starts"]["train"].max() + 3 + 2 <= 12
    assert d.raw_val_targets.min() >= 12 and d.raw_val_targets.max() < 16
    assert d.raw_test_targets.min() >= 16
    # MASE scale on a bare array: lag 1 by default (|diff| = 1), lag 4 when period=4.
    assert d.mase_scale == 1.0 and d.meta["mase_lag"] == 1
    assert forecast_splits(np.arange(20.0), 3, 2, period=4).mase_scale == 4.0


def test_train_span_keeps_the_end_of_the_training_span():
    v = np.arange(20.0)
    half = forecast_splits(v, 3, 2, train_span=0.5)  # keeps the last 6 of 12 points: [6, 12)
    assert half.meta["spans"]["kept_train"] == (6, 12)
    assert half.meta["starts"]["train"].tolist() == [6, 7]
    full = forecast_splits(v, 3, 2)
    np.testing.assert_array_equal(half.raw_test_targets, full.raw_test_targets)  # val/test never change
    np.testing.assert_array_equal(half.raw_val_context, full.raw_val_context)
    # stride spaces the starts from the span end, so smaller spans stay subsets of larger ones.
    s3 = forecast_splits(v, 3, 2, stride=3)
    assert s3.meta["starts"]["train"].tolist() == [1, 4, 7]
    assert forecast_splits(v, 3, 2, stride=3, train_span=0.5).meta["starts"]["train"].tolist() == [7]
    # Kept span of 6 points <= period 10: the MASE scale falls back to lag 1; the full-span scale keeps lag 10.
    d = forecast_splits(v, 3, 2, train_span=0.5, period=10)
    assert (d.meta["mase_lag"], d.mase_scale) == (1, 1.0)
    assert (d.meta["mase_lag_full"], d.meta["mase_scale_full"]) == (10, 10.0)


def test_real_windows_nested_deterministic_and_consistent(series):
    co2 = series["co2"]
    small = forecast_splits(co2, 104, 26, train_span=0.25)
    big = forecast_splits(co2, 104, 26, train_span=0.5)
    again = forecast_splits(co2, 104, 26, train_span=0.25)
    np.testing.assert_array_equal(small.X_train, again.X_train)
    np.testing.assert_array_equal(small.Y_test, again.Y_test)
    s_small, s_big = small.meta["starts"]["train"], big.meta["starts"]["train"]
    assert np.isin(s_small, s_big).all() and s_small[-1] == s_big[-1]
    # The same raw windows (after undoing each one's normalization; float32 storage):
    raw_small = small.X_train[..., 0] * small.scale + small.offsets["train"][:, None]
    raw_big = (big.X_train[..., 0] * big.scale + big.offsets["train"][:, None])[np.isin(s_big, s_small)]
    np.testing.assert_allclose(raw_small, raw_big, rtol=0, atol=1e-3)  # |x| <= ~5 normalized, scale ~2 ppm
    # Dense targets agree with the inputs where they overlap: Y[i, t, k] = X[i, t+1+k] for t+1+k < W.
    W = 104
    assert np.array_equal(small.Y_train[:, 0, 0], small.X_train[:, 1, 0])
    assert np.array_equal(small.Y_train[:, W - 27, 25], small.X_train[:, W - 1, 0])
    # Scored val/test targets lie in their spans; the training span ends before val begins.
    spans = small.meta["spans"]
    assert small.meta["starts"]["val"][0] + W == spans["val"][0]
    assert small.meta["starts"]["test"][-1] + W + 26 == spans["test"][1] == 2284
    assert s_small[-1] + W + 26 == spans["train"][1] == spans["val"][0]


def test_denormalize_round_trip(series):
    d = forecast_splits(series["taylor"], 96, 48, train_span=0.25)
    raw = d.raw_test_targets
    back = d.denormalize(d.normalize(raw, "test"), "test")
    # float64: (x - o) / s * s + o loses a few ulps of max(|x|, |o|) (~2.5e4 MW here).
    np.testing.assert_allclose(back, raw, rtol=0, atol=8 * EPS64 * np.abs(raw).max())
    # The stored float32 scored row: relative rounding 2^-24 of |Y| (normalized), times the scale.
    Yl = d.Y_test[:, -1, :]
    tol = 2.0 ** -24 * np.abs(Yl).max() * d.scale * 1.01
    np.testing.assert_allclose(d.denormalize(Yl, "test"), raw, rtol=0, atol=tol)
    assert abs(np.sqrt(np.mean(d.X_train.astype(np.float64) ** 2)) - 1) < 1e-6  # unit RMS on train


# ---------------------------------------------------------------- baselines

def test_seasonal_naive_exact_on_periodic_series():
    pattern = np.array([3.0, 1, 4, 1, 5, 9, 2, 6])
    v = np.tile(pattern, 40)
    d = forecast_splits(v, window=16, horizon=20, period=8)  # H > m exercises the wrap-around
    pred = seasonal_naive(d.raw_test_context, 20, 8)
    assert mse(pred, d.raw_test_targets) == 0.0
    np.testing.assert_array_equal(seasonal_naive([[1.0, 2, 3, 4, 5]], 5, 2), [[4.0, 5, 4, 5, 4]])


def test_mase_is_one_when_in_sample_and_out_of_sample_errors_agree():
    # y = 2t + 3: every lag-m difference is 2m, in sample and out of sample (H <= m), so MASE = 1.
    v = 2.0 * np.arange(200) + 3
    d = forecast_splits(v, window=20, horizon=10, period=10)
    assert d.mase_scale == 20.0
    assert mase(seasonal_naive(d.raw_test_context, 10, 10), d.raw_test_targets, d.mase_scale) == 1.0
    assert mse([[1.0, 2.0]], [[2.0, 4.0]]) == 2.5 and mase([[1.0, 2.0]], [[2.0, 4.0]], 3.0) == 0.5


def _recurrence(n, length, rng):
    x = np.empty((n, length))
    x[:, :2] = rng.standard_normal((n, 2))
    for t in range(2, length):
        x[:, t] = 1.5 * x[:, t - 1] - 0.7 * x[:, t - 2]
    return x


def test_linear_ar_recovers_an_exact_recurrence():
    rng = np.random.default_rng(0)
    seq = _recurrence(50, 5, rng)
    ar = fit_linear_ar(seq[:, :2], seq[:, 2:], ridge=0.0)  # W=2, H=3: a unique exact solution
    # Well-conditioned 50x3 least squares with exact data: residual ~1e-15, far below 1e-8.
    np.testing.assert_allclose(ar.coef[:, 0], [-0.7, 1.5], rtol=0, atol=1e-8)
    np.testing.assert_allclose(ar.coef[:, 1], [-1.05, 1.55], rtol=0, atol=1e-8)  # x3 = 1.5 x2 - 0.7 x1
    np.testing.assert_allclose(ar.intercept, 0, atol=1e-8)
    # W=8: contexts span only a 2-D subspace; the minimum-norm fit still forecasts fresh sequences exactly.
    seq, new = _recurrence(50, 12, rng), _recurrence(7, 12, rng)
    ar8 = fit_linear_ar(seq[:, :8], seq[:, 8:], ridge=0.0)
    np.testing.assert_allclose(ar8.predict(new[:, :8]), new[:, 8:], rtol=0, atol=1e-8)


def test_ridge_matches_the_normal_equations():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    ar = fit_linear_ar(X, Y, ridge=0.1)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    coef = np.linalg.solve(Xc.T @ Xc / 30 + 0.1 * np.eye(4), Xc.T @ Yc / 30)
    np.testing.assert_allclose(ar.coef, coef, rtol=0, atol=1e-12)  # condition number ~ 10 on O(1) data
    np.testing.assert_allclose(ar.predict(X).mean(0), Y.mean(0), atol=1e-12)  # unpenalized intercept


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("call, name", [
    (lambda: load_series("nope"), "name"),
    (lambda: Series("x", np.array([1.0, np.nan, 2.0]), 1), "values"),
    (lambda: forecast_splits(np.arange(20.0), 0, 2), "window"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2.5), "horizon"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2, train_span=0), "train_span"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2, train_span=0.25), "train_span"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2, split=(0.5, 0.5, 0.5)), "split"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2, stride=0), "stride"),
    (lambda: forecast_splits(np.r_[np.arange(19.0), np.nan], 3, 2), "series_or_values"),
    (lambda: forecast_splits(np.ones(20), 3, 2), "series_or_values"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2).denormalize(np.zeros((2, 2)), "test"), "pred_norm"),
    (lambda: forecast_splits(np.arange(20.0), 3, 2).denormalize(np.zeros((3, 2)), "dev"), "split"),
    (lambda: seasonal_naive(np.zeros((2, 5)), 3, 6), "period"),
    (lambda: seasonal_naive(np.zeros(5), 3, 2), "context"),
    (lambda: fit_linear_ar(np.zeros((4, 2)), np.zeros((3, 1))), "targets"),
    (lambda: fit_linear_ar(np.zeros((4, 2)), np.zeros((4, 1)), ridge=-1), "ridge"),
    (lambda: mse(np.zeros((2, 3)), np.zeros((2, 2))), "pred"),
    (lambda: mase(np.zeros((2, 2)), np.zeros((2, 2)), 0.0), "scale"),
])
def test_bad_inputs_raise_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()


def test_too_short_span_message_gives_the_minimum():
    with pytest.raises(ValueError, match=r"train_span >= 0\.4167"):  # (W+H)/12 = 5/12
        forecast_splits(np.arange(20.0), 3, 2, train_span=0.25)
