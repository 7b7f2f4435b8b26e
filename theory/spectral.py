"""Identities (a), (c), (d): circulant diagonalization, ||C - T||_F^2, Parseval and traces.

All proofs use a fully symbolic real kernel K_0..K_{L-1} (no numbers substituted).
"""

from __future__ import annotations

import sympy as sp

from .exact import (
    Check,
    ProofResult,
    prove_equal,
    prove_equal_at_root_of_unity,
    prove_matrix_equal,
    prove_matrix_equal_at_root_of_unity,
    run_proof,
)
from .matrices import (
    W,
    circulant,
    dft_adjoint,
    dft_unitary,
    fourier_sandwich,
    frob2,
    hhat,
    hhat_abs2,
    kernel_symbols,
    toeplitz,
    weighted_square_sum,
)


def _span(Ls) -> str:
    Ls = list(Ls)
    return f"L={Ls[0]}..{Ls[-1]}" if Ls == list(range(Ls[0], Ls[-1] + 1)) and len(Ls) > 1 else f"L={Ls}"


def root_is_primitive(L: int) -> Check:
    """The symbol w really models exp(2 pi i/L): its minimal polynomial over Q is Phi_L(w)."""
    mp = sp.minimal_polynomial(sp.exp(2 * sp.pi * sp.I / L), W)
    return prove_equal(mp, sp.cyclotomic_poly(L, W), f"L={L}: minpoly(exp(2 pi i/L)) = Phi_L")


def circulant_diagonalization(Ls=range(2, 7)) -> ProofResult:
    """C = F^* diag(Hhat) F, with F unitary (F^* F = I), for symbolic real K."""
    def checks():
        for L in Ls:
            K = kernel_symbols(L)
            yield root_is_primitive(L)
            F, Fs = dft_unitary(L), dft_adjoint(L)
            yield prove_matrix_equal_at_root_of_unity(Fs * F, sp.eye(L), W, L, f"L={L}: F^* F = I")
            yield prove_matrix_equal_at_root_of_unity(
                circulant(K), fourier_sandwich(hhat(K)), W, L, f"L={L}: C = F^* diag(Hhat) F")
    return run_proof("circulant_diagonalization",
                     "C = F^* diag(Hhat_j) F with F the unitary DFT (F^* F = I)", _span(Ls), checks)


def circulant_gram_spectrum(Ls=range(2, 7)) -> ProofResult:
    """C^T C = F^* diag(|Hhat_j|^2) F: the induced kernel's eigenvalues are |Hhat_j|^2."""
    def checks():
        for L in Ls:
            K = kernel_symbols(L)
            C = circulant(K)
            yield prove_matrix_equal_at_root_of_unity(
                C.T * C, fourier_sandwich(hhat_abs2(K)), W, L, f"L={L}: C^T C = F^* diag(|Hhat|^2) F")
    return run_proof("circulant_gram_spectrum",
                     "C^T C = F^* diag(|Hhat_j|^2) F (eigenvalues |Hhat_j|^2, Fourier eigenvectors)",
                     _span(Ls), checks)


def frobenius_gap(Ls=range(2, 9)) -> ProofResult:
    """||C - T||_F^2 = sum_{m=1}^{L-1} m K_m^2 by direct expansion."""
    def checks():
        for L in Ls:
            K = kernel_symbols(L)
            yield prove_equal(frob2(circulant(K) - toeplitz(K)), weighted_square_sum(K, range(L)),
                              f"L={L}: ||C-T||_F^2 = sum m K_m^2")
    return run_proof("frobenius_gap", "||C - T||_F^2 = sum_{m=1}^{L-1} m K_m^2", _span(Ls), checks)


def frobenius_gap_general() -> ProofResult:
    """General-L argument for ||C - T||_F^2 = sum_{m=1}^{L-1} m K_m^2.

    1. On and below the diagonal put r = i-k >= 0 and L = r+1+s (s >= 0, i.e. r < L):
       sympy reduces r mod L to r, so C[i,k] = K_r = T[i,k] and C - T vanishes there.
    2. Above the diagonal put d = k-i >= 1 and L = d+1+t (t >= 0): sympy reduces
       (-d) mod L to t+1 = L-d, so (C - T)[i,k] = K_{L-d}.  Superdiagonal d holds L-d
       entries (sympy sums 1 over i = 0..L-1-d; also checked by enumeration, L = 2..12).
    3. Hence ||C - T||_F^2 = sum_{d=1}^{L-1} (L-d) K_{L-d}^2; re-indexing m = L-d (sympy's
       ``Sum.change_index``) gives exactly sum_{m=1}^{L-1} m K_m^2.
    """
    L = sp.Symbol("L", integer=True, positive=True)
    i, d, m = sp.symbols("i d m", integer=True)
    r, s, t = sp.symbols("r s t", integer=True, nonnegative=True)
    dpos = sp.Symbol("d", integer=True, positive=True)
    Kb = sp.IndexedBase("K")

    def checks():
        yield prove_equal(sp.Mod(r, r + 1 + s), r, "0 <= i-k < L  =>  (i-k) mod L = i-k: C = T for i >= k")
        yield prove_equal(sp.Mod(-dpos, dpos + 1 + t), (dpos + 1 + t) - dpos,
                          "1 <= k-i = d < L  =>  (i-k) mod L = L-d: (C-T)[i,k] = K_{L-d} for i < k")
        count = sp.summation(1, (i, 0, L - 1 - d))
        yield prove_equal(count, L - d, "superdiagonal d of an L x L matrix has L-d entries")
        bad = [(n, dd) for n in range(2, 13) for dd in range(1, n)
               if sum(1 for a in range(n) for b in range(n) if b - a == dd) != count.subs({L: n, d: dd})]
        yield Check(not bad, "entry count L-d matches enumeration for L=2..12", str(bad))
        lhs = sp.Sum((L - d) * Kb[L - d] ** 2, (d, 1, L - 1)).change_index(d, L - d, m)
        rhs = sp.Sum(m * Kb[m] ** 2, (m, 1, L - 1))
        yield Check(lhs == rhs, "sum_d (L-d) K_{L-d}^2 == sum_m m K_m^2 (re-index m = L-d)", str(lhs))
    return run_proof("frobenius_gap_general",
                     "||C - T||_F^2 = sum m K_m^2 (K_m fills m entries above the diagonal)",
                     "general L", checks)


def parseval(Ls=range(2, 7)) -> ProofResult:
    """sum_j |Hhat_j|^2 = L sum_m K_m^2 = tr(C^T C)."""
    def checks():
        for L in Ls:
            K = kernel_symbols(L)
            lhs = sp.Add(*hhat_abs2(K))
            yield prove_equal_at_root_of_unity(lhs, L * weighted_square_sum(K, [1] * L), W, L,
                                               f"L={L}: sum |Hhat_j|^2 = L sum K_m^2")
            C = circulant(K)
            yield prove_equal_at_root_of_unity(lhs, (C.T * C).trace(), W, L,
                                               f"L={L}: sum |Hhat_j|^2 = tr(C^T C)")
    return run_proof("parseval", "sum_j |Hhat_j|^2 = L sum_m K_m^2 = tr(C^T C)", _span(Ls), checks)


def trace_identities(Ls=range(2, 9)) -> ProofResult:
    """tr(T^T T) = sum_m (L-m) K_m^2 and tr(C^T C) = L sum_m K_m^2."""
    def checks():
        for L in Ls:
            K = kernel_symbols(L)
            T, C = toeplitz(K), circulant(K)
            yield prove_equal((T.T * T).trace(), weighted_square_sum(K, [L - m for m in range(L)]),
                              f"L={L}: tr(T^T T) = sum (L-m) K_m^2")
            yield prove_equal((C.T * C).trace(), weighted_square_sum(K, [L] * L),
                              f"L={L}: tr(C^T C) = L sum K_m^2")
            # the Gram matrices themselves, entry by entry, for a stronger statement on C
            yield prove_matrix_equal(C.T * C, circulant([sp.expand((C.T * C)[j, 0]) for j in range(L)]),
                                     f"L={L}: C^T C is itself circulant")
    return run_proof("trace_identities",
                     "tr(T^T T) = sum_m (L-m) K_m^2 and tr(C^T C) = L sum_m K_m^2", _span(Ls), checks)
