"""Identity (b): the truncated generating function and the closed-form DFT of the kernel.

  G_L(q) := sum_{m<L} q^m = (1 - q^L)/(1 - q),      q = lam z, q != 1.
On the DFT grid z_j = exp(-i w_j) = w^{-j} (w = exp(2 pi i/L)) one has z_j^L = 1, so with
K_m = sum_n (c_n lam_n^m + conj(c_n) conj(lam_n)^m) = 2 Re sum_n c_n lam_n^m:
  Hhat_j = sum_{m<L} K_m z_j^m = sum_n [ c_n (1 - lam_n^L)/(1 - lam_n z_j) + conj pair ].
"""

from __future__ import annotations

import sympy as sp

from .exact import Check, ProofResult, prove_equal, prove_equal_at_root_of_unity, run_proof
from .matrices import W, wpow

lam, z = sp.symbols("lam z")


def truncated_sum(q, L: int):
    """sum_{m=0}^{L-1} q^m for a concrete L."""
    return sp.Add(*[q**m for m in range(L)])


def geometric_closed_form(q, L):
    """(1 - q^L)/(1 - q)."""
    return (1 - q**L) / (1 - q)


def generating_function_explicit(Ls=range(1, 9)) -> ProofResult:
    """sum_{m<L} lam^m z^m = (1 - lam^L z^L)/(1 - lam z) as rational functions of lam, z."""
    def checks():
        for L in Ls:
            yield prove_equal(truncated_sum(lam * z, L), (1 - lam**L * z**L) / (1 - lam * z),
                              f"L={L}: sum_(m<L) (lam z)^m = (1 - lam^L z^L)/(1 - lam z)")
    return run_proof("generating_function", "sum_{m<L} lam^m z^m = (1 - lam^L z^L)/(1 - lam z)",
                     f"L={Ls[0]}..{Ls[-1]}" if len(Ls) > 1 else f"L={Ls[0]}", checks)


def generating_function_general() -> ProofResult:
    """Same identity for a symbolic positive integer L, two independent ways.

    (i) sympy's closed-form summation of sum_{m=0}^{L-1} q^m (generic branch q != 1);
    (ii) induction: base G_1 = 1 = q^0, step G_{L+1} - G_L = q^L for symbolic L.
    Finally q^L = lam^L z^L for integer L, which turns q = lam z into the stated form.
    """
    L = sp.Symbol("L", integer=True, positive=True)
    m, q = sp.Symbol("m", integer=True), sp.Symbol("q")

    def checks():
        s = sp.summation(q**m, (m, 0, L - 1))
        generic = s.args[-1].expr if isinstance(s, sp.Piecewise) else s
        if isinstance(s, sp.Piecewise):
            yield Check(s.args[-1].cond == sp.true and s.args[0].cond == sp.Eq(q, 1),
                        "summation splits into q = 1 and the generic branch", str(s))
        yield prove_equal(generic, geometric_closed_form(q, L), "summation: sum_(m<L) q^m = (1-q^L)/(1-q)")
        yield prove_equal(geometric_closed_form(q, 1), 1, "induction base: G_1 = 1")
        step = sp.expand_power_exp(geometric_closed_form(q, L + 1) - geometric_closed_form(q, L))
        yield prove_equal(step, q**L, "induction step: G_(L+1) - G_L = q^L")
        yield prove_equal((lam * z) ** L, lam**L * z**L, "(lam z)^L = lam^L z^L for integer L")
    return run_proof("generating_function_general",
                     "sum_{m<L} lam^m z^m = (1 - lam^L z^L)/(1 - lam z) (summation and induction)",
                     "general L", checks)


def kernel_modes(n_modes: int):
    """Symbols for n complex modes: (c_n, lam_n) and independent symbols for their conjugates.

    Proving the identity with conj(c), conj(lam) as *independent* symbols is stronger than
    needed: it then holds in particular when they are the actual conjugates.
    """
    c = sp.symbols(f"c0:{n_modes}")
    lm = sp.symbols(f"lam0:{n_modes}")
    cb = sp.symbols(f"cbar0:{n_modes}")
    lb = sp.symbols(f"lambar0:{n_modes}")
    # the conjugate pairs are listed as extra (independent) modes
    return list(zip(c, lm, strict=True)) + list(zip(cb, lb, strict=True))


def kernel_from_modes(modes, L: int):
    """K_m = sum over (c, lam) in modes of c lam^m  (= 2 Re sum_n c_n lam_n^m with conj pairs)."""
    return [sp.Add(*[c * l**m for c, l in modes]) for m in range(L)]


def dft_closed_form(modes, L: int, j: int, w=W):
    """sum over modes of c (1 - lam^L)/(1 - lam z_j), z_j = w^{-j}."""
    zj = wpow(-j, L, w)
    return sp.Add(*[c * (1 - l**L) / (1 - l * zj) for c, l in modes])


def dft_of_kernel(K, j: int, w=W):
    """Hhat_j = sum_m K_m z_j^m with z_j = w^{-j}."""
    L = len(K)
    return sp.Add(*[K[m] * wpow(-j * m, L, w) for m in range(L)])


def kernel_dft_closed_form(Ls=range(1, 7), mode_counts=(1, 2)) -> ProofResult:
    """Hhat_j = sum_n [c_n (1-lam_n^L)/(1-lam_n z_j) + conj pair], all j, exactly at w = exp(2 pi i/L)."""
    def checks():
        for n in mode_counts:
            modes = kernel_modes(n)
            for L in Ls:
                K = kernel_from_modes(modes, L)
                results = (prove_equal_at_root_of_unity(dft_of_kernel(K, j), dft_closed_form(modes, L, j),
                                                        W, L, f"j={j}") for j in range(L))
                bad = [c for c in results if not c.ok]
                yield Check(not bad, f"N/2={n}, L={L}: Hhat_j = closed form for j=0..{L - 1}",
                            "; ".join(f"{c.what}: {c.residual}" for c in bad))
    return run_proof("kernel_dft_closed_form",
                     "Hhat_j = sum_n c_n (1-lam_n^L)/(1-lam_n e^{-i w_j}) + conj pair (uses z_j^L = 1)",
                     f"L={Ls[0]}..{Ls[-1]}, N/2={','.join(map(str, mode_counts))}", checks)
