"""Registry of every exact identity proved by :mod:`theory`, in the order of the brief.

  (a) circulant_diagonalization   C = F^* diag(Hhat) F,  F^* F = I             L = 2..6
      circulant_gram_spectrum     C^T C = F^* diag(|Hhat_j|^2) F                L = 2..6
  (b) generating_function         sum_{m<L} lam^m z^m = (1 - lam^L z^L)/(1 - lam z)   L = 1..8
      generating_function_general the same for symbolic L (summation + induction)
      kernel_dft_closed_form      Hhat_j = sum_n c_n (1-lam_n^L)/(1-lam_n z_j) + conj   L = 1..6
  (c) frobenius_gap               ||C - T||_F^2 = sum_{m=1}^{L-1} m K_m^2       L = 2..8
      frobenius_gap_general       the same for symbolic L (entry counting)
  (d) parseval                    sum_j |Hhat_j|^2 = L sum_m K_m^2 = tr(C^T C)  L = 2..6
      trace_identities            tr(T^T T) = sum (L-m) K_m^2, tr(C^T C) = L sum K_m^2   L = 2..8
  (e) zoh_exact                   ZOH solves x' = a x + b u exactly over one step
      bilinear_pade               bilinear lam is the (1,1) Pade of e^{a dt}, error (a dt)^3/12
      bilinear_trapezoid          Bbar_bil = dt/(1 - a dt/2) b from the trapezoidal rule

Each function returns a :class:`theory.exact.ProofResult`; ``run_all`` runs them all.
"""

from __future__ import annotations

from .discretization import bilinear_pade, bilinear_trapezoid, zoh_exact
from .exact import ProofResult
from .generating import generating_function_explicit, generating_function_general, kernel_dft_closed_form
from .spectral import (
    circulant_diagonalization,
    circulant_gram_spectrum,
    frobenius_gap,
    frobenius_gap_general,
    parseval,
    trace_identities,
)

ALL_IDENTITIES = (
    circulant_diagonalization,
    circulant_gram_spectrum,
    generating_function_explicit,
    generating_function_general,
    kernel_dft_closed_form,
    frobenius_gap,
    frobenius_gap_general,
    parseval,
    trace_identities,
    zoh_exact,
    bilinear_pade,
    bilinear_trapezoid,
)


def run_all() -> list[ProofResult]:
    """Run every identity with its default (full) range of L."""
    return [proof() for proof in ALL_IDENTITIES]


__all__ = ["ALL_IDENTITIES", "run_all"] + [f.__name__ for f in ALL_IDENTITIES]
