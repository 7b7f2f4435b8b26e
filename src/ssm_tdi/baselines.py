"""Forecasting baselines and scores: seasonal naive, a ridge linear autoregression, MSE, MASE.

Which scale to use (suggestion for the study): fit :func:`fit_linear_ar` on exactly what the
models see, the normalized contexts ``ForecastData.X_train[..., 0]`` and the scored rows
``Y_train[:, -1, :]``; predict on ``X_test[..., 0]``; map back with
``ForecastData.denormalize(pred, "test")`` and score in original units with :func:`mse` and
:func:`mase` (``ForecastData.mase_scale``). :func:`seasonal_naive` is a pure copy of past
values, so it gives the same forecast on either scale; apply it to ``raw_test_context``.

The ridge penalty is relative: the AR fit minimizes
``(1/n) ||Y - X B - 1 b^T||^2 + ridge ||B||^2`` with the intercept ``b`` unpenalized. On
normalized contexts (unit RMS per position) ``ridge`` is a fraction of the feature variance,
so ``1e-3`` barely regularizes well-conditioned data and only tames the near-collinear
directions of long windows. Everything is computed in float64.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["seasonal_naive", "LinearAR", "fit_linear_ar", "mse", "mase"]


def _matrix(a, name: str) -> np.ndarray:
    try:
        a = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a 2-D array of numbers, got {type(a).__name__}") from exc
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name}: expected a non-empty 2-D array (n, K), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: expected finite values, found NaN or inf")
    return a


def _posint(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {x!r}")
    return int(x)


def seasonal_naive(context, horizon: int, period: int) -> np.ndarray:
    """Repeat the last ``period`` values of each context: ``out[i, k] = context[i, W - m + k mod m]``.

    ``context`` (n, W) with W >= period; returns (n, horizon) float64.
    """
    c = _matrix(context, "context")
    H, m = _posint(horizon, "horizon"), _posint(period, "period")
    W = c.shape[1]
    if W < m:
        raise ValueError(f"period: expected period <= window length {W} of context, got {m}")
    return c[:, W - m + np.arange(H) % m]


@dataclass
class LinearAR:
    """``predict(contexts) = contexts @ coef + intercept``; coef (W, H), intercept (H,)."""

    coef: np.ndarray
    intercept: np.ndarray
    ridge: float

    def predict(self, contexts) -> np.ndarray:
        c = _matrix(contexts, "contexts")
        if c.shape[1] != self.coef.shape[0]:
            raise ValueError(f"contexts: expected window length {self.coef.shape[0]}, got {c.shape[1]}")
        return c @ self.coef + self.intercept


def fit_linear_ar(contexts, targets, ridge: float = 1e-3) -> LinearAR:
    """Closed-form ridge regression of ``targets`` (n, H) on ``contexts`` (n, W) with an intercept.

    ``ridge >= 0`` (see the module docstring for its scale); ``ridge = 0`` gives the
    minimum-norm least-squares solution. Solved as one augmented least-squares problem
    (centered data stacked on ``sqrt(n * ridge) I``), which avoids forming X^T X.
    """
    X, Y = _matrix(contexts, "contexts"), _matrix(targets, "targets")
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"targets: expected {X.shape[0]} rows like contexts, got {Y.shape[0]}")
    if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real) or not ridge >= 0 or not np.isfinite(ridge):
        raise ValueError(f"ridge: expected a finite number >= 0, got {ridge!r}")
    n, W = X.shape
    xm, ym = X.mean(axis=0), Y.mean(axis=0)
    A, B = X - xm, Y - ym
    if ridge > 0:
        A = np.vstack([A, np.sqrt(n * ridge) * np.eye(W)])
        B = np.vstack([B, np.zeros((W, Y.shape[1]))])
    coef = np.linalg.lstsq(A, B, rcond=None)[0]
    return LinearAR(coef=coef, intercept=ym - xm @ coef, ridge=float(ridge))


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p, t = _matrix(pred, "pred"), _matrix(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred: expected the shape of target {t.shape}, got {p.shape}")
    return p, t


def mse(pred, target) -> float:
    """Mean squared error over all windows and horizons."""
    p, t = _pair(pred, target)
    return float(np.mean((p - t) ** 2))


def mase(pred, target, scale: float) -> float:
    """Mean absolute error over all windows and horizons divided by ``scale`` (> 0), usually
    ``ForecastData.mase_scale`` (the in-sample seasonal-naive MAE of the training span)."""
    p, t = _pair(pred, target)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a finite number > 0, got {scale!r}")
    return float(np.mean(np.abs(p - t)) / scale)
