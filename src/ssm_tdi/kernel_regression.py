"""Frozen SSM + linear readout: kernel regression with the SSM-induced kernel (E1, C4).

Features of an input u in R^L are phi(u) = T u (all L outputs of the frozen layer), the
readout is f(u) = w^T T u and it is fit by ridge regression in the sum-of-squares
convention used by :mod:`ssm_tdi.learning_curves`:

    w = argmin sum_i (w^T phi_i - y_i)^2 + ridge ||w||^2

(ridge = 0: the minimum-norm least-squares solution, i.e. the kernel interpolant).
For a linear teacher y = beta^T u and inputs with covariance Sigma, the generalization
error is exact, no test sample needed:  E_g = (T^T w - beta)^T Sigma (T^T w - beta).

Choosing the ridge from the training data alone (leave-one-out, closed form). With the thin SVD
Phi = U S V^T the fitted values are yhat = H y with the hat matrix H = U diag(s^2 / (s^2 + ridge)) U^T.
Removing sample i and refitting changes its prediction so that (Sherman-Morrison)

    y_i - yhat_(-i)(x_i) = (y_i - yhat_i) / (1 - H_ii),

so the leave-one-out error of every ridge costs one SVD (Allen 1974; Golub, Heath & Wahba 1979 for
generalized cross-validation, GCV = mean_i (y_i - yhat_i)^2 / (1 - tr(H) / P)^2). Both residual and
leverage are written through the ridge's shrinkage g_k = ridge / (s_k^2 + ridge), so nothing cancels:

    y - yhat = (I - U U^T) y + U diag(g) U^T y,     1 - H_ii = (1 - sum_k U_ik^2) + sum_k U_ik^2 g_k.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ._validate import as_tensor, check_finite, check_int, check_real, check_result
from .operators import toeplitz

__all__ = ["ssm_features", "ridge_fit", "linear_generalization_error", "readout_error",
           "ridge_grid", "ridge_cv_scores", "select_ridge", "RidgeChoice", "cv_readout_error"]

CRITERIA = ("loo", "gcv")


def ssm_features(K, X) -> torch.Tensor:
    """phi(u_i) = T u_i for every row of X ``(P, L)``; K is the kernel ``(L,)``. Returns ``(P, L)``."""
    K = check_finite(as_tensor(K, "K", complex_ok=False), "K")
    X = check_finite(as_tensor(X, "X", complex_ok=False), "X")
    if K.dim() != 1 or X.dim() != 2 or X.shape[-1] != K.shape[0]:
        raise ValueError(f"K, X: expected shapes (L,) and (P, L), got {tuple(K.shape)} and {tuple(X.shape)}")
    return X @ toeplitz(K.to(X.dtype)).T


def _design(Phi, y):
    """Validated (Phi (P, L), y (P,)) in Phi's dtype."""
    Phi = check_finite(as_tensor(Phi, "Phi", complex_ok=False), "Phi")
    y = check_finite(as_tensor(y, "y", complex_ok=False), "y").to(Phi.dtype)
    if Phi.dim() != 2 or y.shape != (Phi.shape[0],):
        raise ValueError(f"Phi, y: expected shapes (P, L) and (P,), got {tuple(Phi.shape)} and {tuple(y.shape)}")
    return Phi, y


def _kept_svd(Phi):
    """Thin SVD with the singular values below the pseudo-inverse cut-off max(P, L) eps s_1 removed."""
    U, s, Vh = torch.linalg.svd(Phi, full_matrices=False)
    cut = max(Phi.shape) * torch.finfo(Phi.dtype).eps * (s[0] if s.numel() else 0)
    keep = s > cut
    return U[:, keep], s[keep], Vh[keep]


def ridge_fit(Phi, y, ridge: float = 0.0) -> torch.Tensor:
    """Ridge solution w = V diag(s / (s^2 + ridge)) U^T y from the SVD Phi = U S V^T.

    Singular values below max(P, L) * eps * s_1 are treated as zero (the pseudo-inverse
    cut-off), so ridge = 0 gives the minimum-norm solution for any P.
    """
    Phi, y = _design(Phi, y)
    ridge = check_real(ridge, "ridge", minimum=0.0)
    if Phi.shape[0] == 0:
        return torch.zeros(Phi.shape[1], dtype=Phi.dtype)
    U, s, Vh = _kept_svd(Phi)
    return Vh.T @ ((s / (s.square() + ridge)) * (U.T @ y))


def linear_generalization_error(beta_hat, beta, input_cov=None) -> torch.Tensor:
    """E_u[(beta_hat^T u - beta^T u)^2] = d^T Sigma d with d = beta_hat - beta (Sigma = I if None)."""
    bh = check_finite(as_tensor(beta_hat, "beta_hat", complex_ok=False), "beta_hat")
    b = check_finite(as_tensor(beta, "beta", complex_ok=False), "beta")
    if bh.dim() < 1 or b.dim() < 1 or bh.shape[-1] != b.shape[-1]:
        raise ValueError(f"beta_hat, beta: expected vectors (..., L) of the same length, got shapes "
                         f"{tuple(bh.shape)} and {tuple(b.shape)}")
    try:
        d = bh - b
    except RuntimeError as exc:
        raise ValueError(f"beta_hat, beta: shapes {tuple(bh.shape)} and {tuple(b.shape)} do not broadcast") from exc
    if input_cov is None:
        return check_result(d.square().sum(-1), "beta_hat, beta", "the error")
    S = check_finite(as_tensor(input_cov, "input_cov", complex_ok=False), "input_cov").to(d.dtype)
    if S.shape != (d.shape[-1], d.shape[-1]):
        raise ValueError(f"input_cov: expected shape ({d.shape[-1]}, {d.shape[-1]}), got {tuple(S.shape)}")
    return check_result(torch.einsum("...i,ij,...j->...", d, S, d), "beta_hat, beta, input_cov", "the error")


def readout_error(K, X, y, beta, ridge: float = 0.0, input_cov=None) -> float:
    """Fit the readout on (X, y) and return its exact generalization error against teacher beta."""
    Phi = ssm_features(K, X)
    w = ridge_fit(Phi, y, ridge)
    T = toeplitz(as_tensor(K, "K", complex_ok=False).to(Phi.dtype))
    return float(linear_generalization_error(T.T @ w, beta, input_cov))


def ridge_grid(Phi, num: int = 41, decades: tuple[float, float] = (-8.0, 2.0)) -> torch.Tensor:
    """Ridges spaced evenly in log10 over ``decades`` relative to the mean squared singular value of Phi.

    The scale ||Phi||_F^2 / min(P, L) is the average eigenvalue of Phi^T Phi (the sum-of-squares
    convention's ridge competes with these), so the same grid fits any kernel and any P; ``(num,)``.
    """
    Phi = check_finite(as_tensor(Phi, "Phi", complex_ok=False), "Phi")
    if Phi.dim() != 2 or min(Phi.shape) == 0:
        raise ValueError(f"Phi: expected a non-empty (P, L) matrix, got shape {tuple(Phi.shape)}")
    num = check_int(num, "num", 2)
    try:
        lo, hi = (float(d) for d in decades)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"decades: expected two numbers (lo, hi), got {decades!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and -300 < lo and hi < 300):
        raise ValueError(f"decades: expected finite lo < hi within (-300, 300), got {decades!r}")
    scale = float(Phi.square().sum()) / min(Phi.shape)
    if not scale > 0:
        raise ValueError("Phi: expected a non-zero matrix (all features are 0, no ridge scale)")
    return scale * torch.logspace(lo, hi, num, dtype=Phi.dtype)


def _ridges(ridges, dtype) -> torch.Tensor:
    r = check_finite(as_tensor(ridges, "ridges", complex_ok=False), "ridges").to(dtype).reshape(-1)
    if r.numel() == 0 or bool((r <= 0).any()):
        raise ValueError("ridges: expected a non-empty list of ridges > 0 (the closed-form leave-one-out "
                         "error is undefined for an interpolating fit, ridge 0)")
    return r


def ridge_cv_scores(Phi, y, ridges, criterion: str = "loo") -> torch.Tensor:
    """Closed-form cross-validation error of the ridge readout for each ridge: ``(len(ridges),)``.

    criterion "loo": mean_i ((y_i - yhat_i) / (1 - H_ii))^2, exactly the mean squared error of
    refitting without sample i and predicting it (module docstring); "gcv": generalized
    cross-validation, the same with every leverage replaced by the mean tr(H) / P. A ridge whose
    leverage rounds to 1 (ridge far below s_k^2 * eps) scores ``inf``. Needs P >= 2.
    """
    Phi, y = _design(Phi, y)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion: expected one of {CRITERIA}, got {criterion!r}")
    P = Phi.shape[0]
    if P < 2:
        raise ValueError(f"Phi, y: cross-validation needs at least 2 samples, got P = {P}")
    lam = _ridges(ridges, Phi.dtype)
    U, s, _ = _kept_svd(Phi)
    c = U.T @ y                                                  # (k,)
    g = lam[:, None] / (s.square()[None, :] + lam[:, None])     # (R, k) shrinkage
    full_row_rank = s.numel() == P                               # U U^T = I: nothing outside U's span
    outside = torch.zeros_like(y) if full_row_rank else y - U @ c
    resid = outside[None, :] + (g * c[None, :]) @ U.T           # (R, P)
    if criterion == "loo":
        lev_out = torch.zeros_like(y) if full_row_rank else (1.0 - U.square().sum(1)).clamp_min(0.0)
        one_minus_h = lev_out[None, :] + g @ U.square().T       # (R, P)
        loo = resid / one_minus_h
        score = torch.where((one_minus_h > 0).all(1), loo.square().mean(1), torch.full_like(lam, math.inf))
    else:
        one_minus_tr = (P - s.numel() + g.sum(1)) / P            # 1 - tr(H) / P
        score = torch.where(one_minus_tr > 0, resid.square().mean(1) / one_minus_tr.square(),
                            torch.full_like(lam, math.inf))
    if bool(torch.isnan(score).any()):  # pragma: no cover - finite inputs and ridges > 0 leave no NaN path
        raise ValueError("Phi, y, ridges: the cross-validation error is NaN")
    return score


class RidgeChoice(NamedTuple):
    ridge: float          # the chosen ridge
    index: int            # its position in ``ridges``
    scores: torch.Tensor  # the cross-validation error of every ridge


def select_ridge(Phi, y, ridges=None, criterion: str = "loo") -> RidgeChoice:
    """The ridge with the smallest closed-form cross-validation error (ties: the largest such ridge).

    ``ridges`` defaults to :func:`ridge_grid` (Phi). The choice uses (Phi, y) only: no test data.
    """
    Phi, y = _design(Phi, y)
    lam = _ridges(ridge_grid(Phi) if ridges is None else ridges, Phi.dtype)
    scores = ridge_cv_scores(Phi, y, lam, criterion)
    if not bool(torch.isfinite(scores).any()):
        raise ValueError("ridges: every ridge has an infinite cross-validation error (all far below the "
                         "scale of Phi^T Phi); use larger ridges")
    best = scores.min()
    idx = int(torch.nonzero(scores == best).flatten().max())  # among equal scores, the strongest ridge
    return RidgeChoice(float(lam[idx]), idx, scores)


def cv_readout_error(K, X, y, beta, ridges=None, criterion: str = "loo", input_cov=None) -> tuple[float, float]:
    """Fit the readout on (X, y) with the ridge chosen by :func:`select_ridge` on (X, y) alone;
    return (its exact generalization error against teacher beta, the chosen ridge)."""
    Phi = ssm_features(K, X)
    ridge = select_ridge(Phi, y, ridges, criterion).ridge
    return readout_error(K, X, y, beta, ridge=ridge, input_cov=input_cov), ridge
