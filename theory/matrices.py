"""Symbolic building blocks: kernel symbols, Toeplitz / circulant matrices, exact DFT.

Conventions (docs/claims.md sections 1-3):
  T[i,k] = K_{i-k} for i >= k, else 0           (causal convolution, lower triangular)
  C[i,k] = K_{(i-k) mod L}                       (circular convolution)
  F[j,k] = w^{-jk} / sqrt(L),  w = exp(2 pi i/L) (unitary DFT)
  Hhat_j = sum_{m<L} K_m w^{-jm}                 (length-L DFT of the kernel)

The root of unity is kept as a plain symbol ``w``; powers are reduced with w^L = 1 and
equalities are decided modulo the cyclotomic polynomial (see
:func:`theory.exact.reduce_at_root_of_unity`).  Complex conjugation acts on w as
conj(w) = w^{-1} = w^{L-1}; the kernel symbols are real, so conj(Hhat_j) = sum_m K_m w^{jm}.
"""

from __future__ import annotations

import sympy as sp

W = sp.Symbol("w")  # stands for exp(2 pi i / L)


def kernel_symbols(L: int) -> list[sp.Symbol]:
    """Real symbols K_0, ..., K_{L-1}: a fully general real kernel of length L."""
    return list(sp.symbols(f"K0:{L}", real=True))


def toeplitz(K) -> sp.Matrix:
    """Lower-triangular Toeplitz matrix T[i,k] = K_{i-k} (i >= k), 0 above the diagonal."""
    L = len(K)
    return sp.Matrix(L, L, lambda i, k: K[i - k] if i >= k else 0)


def circulant(K) -> sp.Matrix:
    """Circulant matrix C[i,k] = K_{(i-k) mod L}."""
    L = len(K)
    return sp.Matrix(L, L, lambda i, k: K[(i - k) % L])


def wpow(e: int, L: int, w: sp.Symbol = W) -> sp.Expr:
    """w**e with the exponent reduced mod L (w is an L-th root of unity)."""
    return w ** (e % L)


def dft_unitary(L: int, w: sp.Symbol = W) -> sp.Matrix:
    """Unitary DFT matrix F[j,k] = w^{-jk}/sqrt(L)."""
    return sp.Matrix(L, L, lambda j, k: wpow(-j * k, L, w)) / sp.sqrt(L)


def dft_adjoint(L: int, w: sp.Symbol = W) -> sp.Matrix:
    """Conjugate transpose F^*[j,k] = conj(F[k,j]) = w^{jk}/sqrt(L)."""
    return sp.Matrix(L, L, lambda j, k: wpow(j * k, L, w)) / sp.sqrt(L)


def hhat(K, w: sp.Symbol = W) -> list[sp.Expr]:
    """DFT of the kernel, Hhat_j = sum_{m<L} K_m w^{-jm}, j = 0..L-1."""
    L = len(K)
    return [sp.Add(*[K[m] * wpow(-j * m, L, w) for m in range(L)]) for j in range(L)]


def hhat_conj(K, w: sp.Symbol = W) -> list[sp.Expr]:
    """conj(Hhat_j) = sum_m K_m w^{jm} (valid because every K_m is real)."""
    L = len(K)
    return [sp.Add(*[K[m] * wpow(j * m, L, w) for m in range(L)]) for j in range(L)]


def hhat_abs2(K, w: sp.Symbol = W) -> list[sp.Expr]:
    """|Hhat_j|^2 = Hhat_j * conj(Hhat_j), expanded."""
    return [sp.expand(h * hc) for h, hc in zip(hhat(K, w), hhat_conj(K, w), strict=True)]


def fourier_sandwich(d, w: sp.Symbol = W) -> sp.Matrix:
    """F^* diag(d) F for a list of L diagonal entries d."""
    L = len(d)
    return dft_adjoint(L, w) * sp.diag(*d) * dft_unitary(L, w)


def frob2(A: sp.Matrix) -> sp.Expr:
    """Squared Frobenius norm sum_{i,k} A[i,k]^2 of a real matrix."""
    return sp.Add(*[a**2 for a in A])


def weighted_square_sum(K, weights) -> sp.Expr:
    """sum_m weights[m] * K_m^2."""
    return sp.Add(*[wt * k**2 for wt, k in zip(weights, K, strict=True)])
