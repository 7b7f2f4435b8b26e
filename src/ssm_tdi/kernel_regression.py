"""Frozen SSM + linear readout: kernel regression with the SSM-induced kernel (E1, C4).

Features of an input u in R^L are phi(u) = T u (all L outputs of the frozen layer), the
readout is f(u) = w^T T u and it is fit by ridge regression in the sum-of-squares
convention used by :mod:`ssm_tdi.learning_curves`:

    w = argmin sum_i (w^T phi_i - y_i)^2 + ridge ||w||^2

(ridge = 0: the minimum-norm least-squares solution, i.e. the kernel interpolant).
For a linear teacher y = beta^T u and inputs with covariance Sigma, the generalization
error is exact, no test sample needed:  E_g = (T^T w - beta)^T Sigma (T^T w - beta).
"""

from __future__ import annotations

import torch

from ._validate import as_tensor, check_finite, check_real, check_result
from .operators import toeplitz

__all__ = ["ssm_features", "ridge_fit", "linear_generalization_error", "readout_error"]


def ssm_features(K, X) -> torch.Tensor:
    """phi(u_i) = T u_i for every row of X ``(P, L)``; K is the kernel ``(L,)``. Returns ``(P, L)``."""
    K = check_finite(as_tensor(K, "K", complex_ok=False), "K")
    X = check_finite(as_tensor(X, "X", complex_ok=False), "X")
    if K.dim() != 1 or X.dim() != 2 or X.shape[-1] != K.shape[0]:
        raise ValueError(f"K, X: expected shapes (L,) and (P, L), got {tuple(K.shape)} and {tuple(X.shape)}")
    return X @ toeplitz(K.to(X.dtype)).T


def ridge_fit(Phi, y, ridge: float = 0.0) -> torch.Tensor:
    """Ridge solution w = V diag(s / (s^2 + ridge)) U^T y from the SVD Phi = U S V^T.

    Singular values below max(P, L) * eps * s_1 are treated as zero (the pseudo-inverse
    cut-off), so ridge = 0 gives the minimum-norm solution for any P.
    """
    Phi = check_finite(as_tensor(Phi, "Phi", complex_ok=False), "Phi")
    y = check_finite(as_tensor(y, "y", complex_ok=False), "y").to(Phi.dtype)
    if Phi.dim() != 2 or y.shape != (Phi.shape[0],):
        raise ValueError(f"Phi, y: expected shapes (P, L) and (P,), got {tuple(Phi.shape)} and {tuple(y.shape)}")
    ridge = check_real(ridge, "ridge", minimum=0.0)
    if Phi.shape[0] == 0:
        return torch.zeros(Phi.shape[1], dtype=Phi.dtype)
    U, s, Vh = torch.linalg.svd(Phi, full_matrices=False)
    cut = max(Phi.shape) * torch.finfo(Phi.dtype).eps * (s[0] if s.numel() else 0)
    keep = s > cut
    gain = torch.where(keep, s / (s.square() + ridge), torch.zeros_like(s))
    return Vh.T @ (gain * (U.T @ y))


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
