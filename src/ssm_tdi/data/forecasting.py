"""Univariate forecasting data: three real series and leak-free sequence-to-sequence windows.

Series (:func:`load_series`, all shipped inside installed wheels, nothing downloaded):

* ``"taylor"``: half-hourly electricity demand, England and Wales, 5 June - 27 August 2000
  (pmdarima), megawatts, 4032 points. Daily line at 48 samples (harmonic 24) and weekly
  line at 336. Seasonal period m = 48.
* ``"co2"``: weekly mean CO2 at Mauna Loa, March 1958 - December 2001 (statsmodels), ppm,
  2284 points of which 59 are missing; gaps are filled by linear interpolation in time
  (longest gap 18 weeks). Trend plus an annual line at 52 weeks (harmonic 26). m = 52.
* ``"sunspots"``: monthly mean relative sunspot number, 1749 - 1983 (pmdarima), 2820 points.
  The ~11-year cycle is not exact: the spectrum has a broad peak whose largest bins sit at
  128 - 134 months. We take m = 132 (11 years), the conventional cycle length; the in-sample
  seasonal-naive MAE is flat over m in [125, 132] (27.9 - 28.1 on the full series vs 27.5 at
  128), so nothing is tuned. Note that the lag-1 naive MAE (12.0) is far smaller: the
  seasonal naive is a weak baseline here, and MASE with m = 132 reads accordingly.

Windows (:func:`forecast_splits`): the series is cut chronologically into train / val / test
spans. An example is a chunk ``c = series[s : s+W+H]``; the input is ``x = c[:W]`` and the
dense target is ``Y[t, k] = c[t+1+k]`` (the next H values after every position t). The
forecast that is scored is row ``t = W-1``, i.e. ``series[s+W : s+W+H]``. Training chunks
lie entirely inside the (kept) training span; a val/test example belongs to its span when its
scored targets do, while its context may reach back into earlier spans (that past is observed
at forecast time). So no scored val/test target ever appears in a training chunk.

The low-data regime (``train_span < 1``) keeps only the LAST fraction of the training span,
the part next to validation: smaller training sets are then nested subsets of larger ones
(windows are aligned to the end of the span), the val/test windows do not change at all,
and the kept data are the closest in time to what is forecast (co2 has a strong trend).

Normalization (per window, leak-free): each window is shifted by the mean of its own context
(``offset``, known at forecast time) and divided by one ``scale`` computed from the training
windows only: the root-mean-square of the demeaned training contexts. Normalized training
inputs therefore have unit RMS. :meth:`ForecastData.denormalize` maps forecasts back.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["SERIES", "Series", "load_series", "ForecastData", "forecast_splits"]

SERIES: tuple[str, ...] = ("taylor", "co2", "sunspots")
_SPLITS = ("train", "val", "test")


@dataclass
class Series:
    """One univariate series: ``values`` float64 (T,), seasonal ``period`` m, known ``lines``
    (periods, in samples, of its strongest spectral lines), ``meta`` (source, units, filling)."""

    name: str
    values: np.ndarray
    period: int
    lines: tuple = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        v = self.values
        if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype != np.float64:
            raise ValueError(f"values: expected a float64 array of shape (T,), got "
                             f"{getattr(v, 'dtype', type(v).__name__)} {getattr(v, 'shape', '')}")
        if v.size < 2 or not np.isfinite(v).all():
            raise ValueError(f"values: expected at least 2 finite values, got {v.size} values "
                             f"with {int(np.sum(~np.isfinite(v)))} NaN/inf")
        if isinstance(self.period, bool) or not isinstance(self.period, numbers.Integral) or self.period < 1:
            raise ValueError(f"period: expected an integer >= 1, got {self.period!r}")
        self.period = int(self.period)
        self.lines = tuple(float(p) for p in self.lines)

    def __len__(self) -> int:
        return int(self.values.size)


def _fill_linear(times: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, int]:
    """Fill NaN by linear interpolation in ``times``; gaps at either end cannot be filled."""
    bad = np.isnan(v)
    if bad[0] or bad[-1]:
        raise ValueError("values: missing values at the start or end cannot be interpolated")
    out = v.copy()
    out[bad] = np.interp(times[bad], times[~bad], v[~bad])
    return out, int(bad.sum())


def load_series(name: str) -> Series:
    """Load one of :data:`SERIES` from the installed packages (see the module docstring)."""
    if name not in SERIES:
        raise ValueError(f"name: expected one of {SERIES}, got {name!r}")
    if name in ("taylor", "sunspots"):
        import pmdarima
        from pmdarima import datasets as pmd

        meta = {"source": f"pmdarima {pmdarima.__version__}", "filled": 0}
        if name == "taylor":
            v = np.asarray(pmd.load_taylor(), dtype=np.float64)
            meta.update(units="MW", sampling="half-hourly", start="2000-06-05")
            return Series("taylor", v, 48, (48.0, 24.0, 336.0), meta)
        v = np.asarray(pmd.load_sunspots(), dtype=np.float64)
        meta.update(units="relative sunspot number", sampling="monthly", start="1749-01",
                    period_note="~11-year cycle is not exact (spectral peak 128-134 months); m = 132")
        return Series("sunspots", v, 132, (132.0,), meta)
    import statsmodels
    import statsmodels.api as sm

    df = sm.datasets.co2.load_pandas().data
    raw = df["co2"].to_numpy(dtype=np.float64)
    days = (df.index - df.index[0]).total_seconds().to_numpy() / 86400.0
    v, filled = _fill_linear(days, raw)
    meta = {"source": f"statsmodels {statsmodels.__version__}", "units": "ppm", "sampling": "weekly",
            "start": str(df.index[0].date()), "filled": filled, "fill": "linear interpolation in time"}
    return Series("co2", v, 52, (52.0, 26.0), meta)


@dataclass
class ForecastData:
    """Normalized windows of the three splits plus what is needed to score in original units.

    ``X_<split>`` float32 (n, W, 1), ``Y_<split>`` float32 (n, W, H) (normalized);
    ``raw_<split>_context`` float64 (n, W) and ``raw_<split>_targets`` float64 (n, H) for
    val and test (original units; the targets are the scored forecast ``series[s+W:s+W+H]``);
    ``offsets[split]`` float64 (n,), ``scale`` > 0; ``mase_scale``: in-sample MAE of the
    naive forecast at lag ``meta['mase_lag']`` (the period m, or 1 when the kept training
    span has at most m points) over the kept training span. ``meta['mase_scale_full']`` is
    the same over the whole training span: it does not depend on ``train_span``, so it is the
    denominator to use when comparing scores across training-set sizes. Either is 0 for a
    series that repeats exactly in sample; :func:`ssm_tdi.baselines.mase` then refuses it.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    raw_val_context: np.ndarray
    raw_val_targets: np.ndarray
    raw_test_context: np.ndarray
    raw_test_targets: np.ndarray
    offsets: dict
    scale: float
    mase_scale: float
    window: int
    horizon: int
    period: int
    meta: dict = field(default_factory=dict)

    def n(self, split: str) -> int:
        """Number of examples in ``split``."""
        return int(self.offsets[_check_split_name(split)].size)

    def normalize(self, raw, split: str) -> np.ndarray:
        """Original-unit values ``(n, K)`` of ``split``'s windows -> normalized, float64."""
        return (self._rows(raw, split, "raw") - self.offsets[split][:, None]) / self.scale

    def denormalize(self, pred_norm, split: str) -> np.ndarray:
        """Normalized forecasts ``(n, K)`` of ``split``'s windows -> original units, float64."""
        return self._rows(pred_norm, split, "pred_norm") * self.scale + self.offsets[split][:, None]

    def _rows(self, a, split: str, name: str) -> np.ndarray:
        split = _check_split_name(split)
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != self.n(split):
            raise ValueError(f"{name}: expected shape ({self.n(split)}, K) for split {split!r}, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: expected finite values, found NaN or inf")
        return a


def _check_split_name(split) -> str:
    if split not in _SPLITS:
        raise ValueError(f"split: expected one of {_SPLITS}, got {split!r}")
    return split


def _check_int(x, name: str, lo: int) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < lo:
        raise ValueError(f"{name}: expected an integer >= {lo}, got {x!r}")
    return int(x)


def _check_fractions(split) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in split)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"split: expected three fractions (train, val, test), got {split!r}") from exc
    if len(fr) != 3 or min(fr) <= 0 or abs(sum(fr) - 1.0) > 1e-9:
        raise ValueError(f"split: expected three fractions > 0 summing to 1, got {split!r}")
    return fr


def _chunks(v: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    return sliding_window_view(v, length)[starts] if starts.size else np.empty((0, length))


def forecast_splits(series_or_values, window: int, horizon: int, train_span: float = 1.0,
                    split=(0.6, 0.2, 0.2), stride: int = 1, period: int | None = None) -> ForecastData:
    """Chronological train/val/test windows for W-in, H-ahead forecasting (see the module docstring).

    ``series_or_values``: a :class:`Series` or a 1-D finite array. ``period`` sets the MASE
    lag; default: the Series' period, or 1 for a bare array. Span boundaries are
    ``round(split[0] * T)`` and ``round((split[0] + split[1]) * T)``; the kept training span is
    the last ``round(train_span * n_train_span)`` points of the training span. ``stride`` spaces
    the window starts in every split (training starts are aligned to the span's end, val/test
    starts to their span's start).
    """
    if isinstance(series_or_values, Series):
        v, name = series_or_values.values, series_or_values.name
        period = series_or_values.period if period is None else period
    else:
        try:
            v = np.asarray(series_or_values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"series_or_values: expected a Series or a 1-D array of numbers, "
                             f"got {type(series_or_values).__name__}") from exc
        name = None
        period = 1 if period is None else period
    if v.ndim != 1 or not np.isfinite(v).all():
        raise ValueError(f"series_or_values: expected a finite 1-D array, got shape {v.shape} "
                         f"with {int(np.sum(~np.isfinite(v)))} NaN/inf")
    W, H = _check_int(window, "window", 1), _check_int(horizon, "horizon", 1)
    stride, period = _check_int(stride, "stride", 1), _check_int(period, "period", 1)
    if isinstance(train_span, bool) or not isinstance(train_span, numbers.Real) or not 0 < train_span <= 1:
        raise ValueError(f"train_span: expected a number in (0, 1], got {train_span!r}")
    fr = _check_fractions(split)

    T = v.size
    b1, b2 = int(round(fr[0] * T)), int(round((fr[0] + fr[1]) * T))
    n_keep = max(1, int(round(train_span * b1)))
    lo = b1 - n_keep
    if n_keep < W + H:
        need = (W + H) / b1 if b1 else math.inf
        raise ValueError(f"train_span: the kept training span has {n_keep} points (train_span={train_span} of "
                         f"{b1}) but one window needs window + horizon = {W + H}; use train_span >= "
                         f"{need:.4g} or a shorter window/horizon")
    if b2 - b1 < H or T - b2 < H:
        raise ValueError(f"split: the val span ({b2 - b1} points) and test span ({T - b2} points) must each "
                         f"hold at least horizon = {H} points, got split={split!r} of T={T}")

    starts = {
        "train": np.arange(b1 - (W + H), lo - 1, -stride)[::-1],
        "val": np.arange(b1 - W, b2 - W - H + 1, stride),
        "test": np.arange(b2 - W, T - W - H + 1, stride),
    }
    chunks = {k: _chunks(v, s, W + H) for k, s in starts.items()}
    offsets = {k: c[:, :W].mean(axis=1) for k, c in chunks.items()}
    ctr = chunks["train"][:, :W] - offsets["train"][:, None]
    scale = float(np.sqrt(np.mean(ctr ** 2)))
    if not scale > 0:
        raise ValueError("series_or_values: every training context is constant (scale 0); nothing to forecast")

    arrays = {}
    for k, c in chunks.items():
        cn = (c - offsets[k][:, None]) / scale
        arrays[f"X_{k}"] = cn[:, :W, None].astype(np.float32)
        # Y[i, t, j] = c[i, t + 1 + j] for t < W, j < H.
        arrays[f"Y_{k}"] = sliding_window_view(cn[:, 1:], H, axis=1).astype(np.float32)

    kept = v[lo:b1]
    lag = period if n_keep > period else 1
    mase_scale = float(np.mean(np.abs(kept[lag:] - kept[:-lag])))
    full_lag = period if b1 > period else 1
    mase_scale_full = float(np.mean(np.abs(v[full_lag:b1] - v[:b1 - full_lag])))
    meta = {
        "series": name, "T": T, "spans": {"train": (0, b1), "kept_train": (lo, b1), "val": (b1, b2), "test": (b2, T)},
        "starts": starts, "counts": {k: int(s.size) for k, s in starts.items()},
        "train_span": float(train_span), "split": fr, "stride": stride, "mase_lag": lag,
        "mase_scale_full": mase_scale_full, "mase_lag_full": full_lag,
        "normalization": "per-window context mean; scale = RMS of demeaned training contexts",
    }
    return ForecastData(
        **arrays,
        raw_val_context=chunks["val"][:, :W].copy(), raw_val_targets=chunks["val"][:, W:].copy(),
        raw_test_context=chunks["test"][:, :W].copy(), raw_test_targets=chunks["test"][:, W:].copy(),
        offsets=offsets, scale=scale, mase_scale=mase_scale, window=W, horizon=H, period=period, meta=meta,
    )
