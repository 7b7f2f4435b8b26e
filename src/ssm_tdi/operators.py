"""The convolution operator of an SSM as a matrix, and the SSM-induced kernel's spectrum.

A layer maps u -> y = T u with T the L x L lower-triangular Toeplitz matrix
T[i, k] = K_{i-k} (i >= k). Freezing the SSM and learning a linear readout is kernel
regression with k(u, u') = u^T T^T T u'. For inputs with covariance
Sigma = Q D^2 Q^T, the kernel's integral operator has the eigenvalues of
T~^T T~ with T~ = T Q D (the squared singular values of T~), which is what
:func:`induced_kernel_spectrum` returns. Replacing T by the circulant C (circular
convolution) makes everything diagonal in the Fourier basis: the eigenvalues become
exactly |Hhat_j|^2 (claim C1).

Dense matrices here are for verification and small-L studies (O(L^2) memory, O(L^3)
time); the model itself convolves by FFT.
"""

from __future__ import annotations

import torch

from ._validate import as_tensor, check_finite, check_result

__all__ = [
    "toeplitz",
    "circulant",
    "dft_power",
    "induced_kernel_spectrum",
    "induced_kernel_eig",
    "toeplitz_circulant_gap",
    "toeplitz_trace",
    "circulant_trace",
]

_STRUCTURES = ("toeplitz", "circulant")


def _kernel(K, name: str = "K") -> torch.Tensor:
    K = check_finite(as_tensor(K, name, complex_ok=False), name)
    if K.dim() == 0 or K.shape[-1] < 1:
        raise ValueError(f"{name}: expected a kernel of shape (..., L) with L >= 1, got {tuple(K.shape)}")
    return K


def _lag_index(L: int, device) -> torch.Tensor:
    i = torch.arange(L, device=device)
    return i[:, None] - i[None, :]  # d[i, k] = i - k


def toeplitz(K) -> torch.Tensor:
    """Lower-triangular Toeplitz matrix T[i, k] = K_{i-k} for i >= k, else 0. ``(..., L) -> (..., L, L)``."""
    K = _kernel(K)
    L = K.shape[-1]
    d = _lag_index(L, K.device)
    T = K[..., d.clamp(min=0)]
    return T * (d >= 0).to(K.dtype)


def circulant(K) -> torch.Tensor:
    """Circulant matrix C[i, k] = K_{(i-k) mod L} (circular convolution). ``(..., L) -> (..., L, L)``."""
    K = _kernel(K)
    L = K.shape[-1]
    return K[..., _lag_index(L, K.device) % L]


def dft_power(K) -> torch.Tensor:
    """|Hhat_j|^2 = |sum_m K_m e^{-2 pi i jm/L}|^2 for j = 0..L-1 (full DFT grid, in DFT order).

    These are exactly the eigenvalues of C^T C (claim C1).
    """
    K = _kernel(K)
    return check_result(torch.fft.fft(K, dim=-1).abs().square(), "K", "|Hhat|^2")


def _input_factor(input_cov, L: int, like: torch.Tensor) -> torch.Tensor:
    """W = Q D with Sigma = Q D^2 Q^T, so that u = W z for white z."""
    S = check_finite(as_tensor(input_cov, "input_cov", complex_ok=False), "input_cov")
    if S.shape[-2:] != (L, L):
        raise ValueError(f"input_cov: expected shape (..., {L}, {L}) to match the kernel length, "
                         f"got {tuple(S.shape)}")
    try:
        torch.broadcast_shapes(S.shape[:-2], like.shape[:-1])
    except RuntimeError as exc:
        raise ValueError(f"input_cov: batch shape {tuple(S.shape[:-2])} does not broadcast against the "
                         f"kernel's batch shape {tuple(like.shape[:-1])}") from exc
    S = S.to(dtype=like.dtype, device=like.device)
    # Symmetric up to rounding: a covariance formed in floating point (Q D Q^T, X^T X / n)
    # is asymmetric by up to ~L eps max|S| (a few 1e-8 relative in float32), so the
    # tolerance scales with the working precision and L (floor 1e-12 relative, as before).
    scale = float(S.abs().max())
    sym_tol = max(1e-12, 16 * L * torch.finfo(S.dtype).eps) * scale
    if float((S - S.transpose(-1, -2)).abs().max()) > sym_tol:
        raise ValueError("input_cov: expected a symmetric matrix")
    evals, Q = torch.linalg.eigh(S)
    # eigh of a PSD matrix can return tiny negative values at the float rounding level
    # (|err| <= L * eps * ||S||); anything more negative is not a covariance.
    tol = S.shape[-1] * torch.finfo(S.dtype).eps * evals.abs().amax(-1, keepdim=True)
    if bool((evals < -10 * tol).any()):
        raise ValueError(f"input_cov: expected a positive semi-definite matrix, min eigenvalue "
                         f"{float(evals.min()):.3g}")
    return Q * evals.clamp(min=0).sqrt().unsqueeze(-2)


def _operator(K, structure: str) -> torch.Tensor:
    if not isinstance(structure, str):
        raise ValueError(f"structure: expected one of {_STRUCTURES}, got {structure!r}")
    if structure == "toeplitz":
        return toeplitz(K)
    if structure == "circulant":
        return circulant(K)
    raise ValueError(f"structure: expected one of {_STRUCTURES}, got {structure!r}")


def induced_kernel_eig(K, structure: str = "toeplitz", input_cov=None):
    """Eigen-decomposition of the SSM-induced kernel's integral operator.

    Returns ``(eta, V, W)``: eigenvalues ``(..., L)`` in descending order, their
    eigenvectors ``V`` (columns, in whitened input coordinates z with u = W z) and
    ``W = Q D`` (identity for white input). A linear target y = beta^T u has power
    a_r^2 = (v_r . W^T beta)^2 on mode r.
    """
    K = _kernel(K)
    Op = _operator(K, structure)
    L = K.shape[-1]
    if input_cov is None:
        W = torch.eye(L, dtype=K.dtype, device=K.device)
    else:
        W = _input_factor(input_cov, L, K)
    Tt = Op @ W
    # right singular vectors of Tt are the eigenvectors of Tt^T Tt
    Tt = check_result(Tt, "K, input_cov", "the operator")
    _, s, Vh = torch.linalg.svd(Tt)
    return check_result(s.square(), "K, input_cov", "the eigenvalues"), Vh.transpose(-1, -2), W


def induced_kernel_spectrum(K, structure: str = "toeplitz", input_cov=None) -> torch.Tensor:
    """Eigenvalues of the SSM-induced kernel k(u,u') = u^T Op^T Op u', descending.

    Args:
        K: real kernel ``(..., L)``.
        structure: ``"toeplitz"`` (causal convolution, the real layer) or ``"circulant"``.
        input_cov: None for white input, or the input covariance Sigma ``(..., L, L)``
            (symmetric PSD); then the eigenvalues of Sigma^{1/2} Op^T Op Sigma^{1/2}.

    Returns:
        real ``(..., L)``: squared singular values of Op Q D, sorted descending.
    """
    K = _kernel(K)
    Op = _operator(K, structure)
    if input_cov is not None:
        Op = check_result(Op @ _input_factor(input_cov, K.shape[-1], K), "K, input_cov", "the operator")
    return check_result(torch.linalg.svdvals(Op).square(), "K, input_cov", "the eigenvalues")


def toeplitz_circulant_gap(K) -> torch.Tensor:
    """||C - T||_F^2 = sum_{m=1}^{L-1} m K_m^2, the C2 (Mirsky) bound on
    sum_j (s_j - |Hhat|_(j))^2."""
    K = _kernel(K)
    m = torch.arange(K.shape[-1], dtype=K.dtype, device=K.device)
    return check_result((m * K.square()).sum(-1), "K", "||C - T||_F^2")


def toeplitz_trace(K) -> torch.Tensor:
    """tr(T^T T) = sum_m (L - m) K_m^2."""
    K = _kernel(K)
    L = K.shape[-1]
    m = torch.arange(L, dtype=K.dtype, device=K.device)
    return check_result(((L - m) * K.square()).sum(-1), "K", "tr(T^T T)")


def circulant_trace(K) -> torch.Tensor:
    """tr(C^T C) = L sum_m K_m^2 = sum_j |Hhat_j|^2 (Parseval)."""
    K = _kernel(K)
    return check_result(K.shape[-1] * K.square().sum(-1), "K", "tr(C^T C)")
