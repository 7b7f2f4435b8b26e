"""Tests for theory/: every true identity is PROVED, and the same exact helpers reject
deliberately wrong versions of each identity (so a pass means something)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import theory.generating as G
import theory.identities as I
import theory.spectral as S
from theory import discretization as D
from theory.exact import (
    Check,
    prove_equal,
    prove_equal_at_root_of_unity,
    prove_matrix_equal,
    prove_matrix_equal_at_root_of_unity,
    prove_series_agree,
    run_proof,
)
from theory.matrices import (
    W,
    circulant,
    dft_adjoint,
    dft_unitary,
    fourier_sandwich,
    frob2,
    hhat,
    hhat_abs2,
    hhat_conj,
    kernel_symbols,
    toeplitz,
    weighted_square_sum,
)

# ------------------------------------------------------------------ true identities


EXPECTED = [
    "circulant_diagonalization", "circulant_gram_spectrum", "generating_function",
    "generating_function_general", "kernel_dft_closed_form", "frobenius_gap", "frobenius_gap_general",
    "parseval", "trace_identities", "zoh_exact", "bilinear_pade", "bilinear_trapezoid",
]


@pytest.fixture(scope="module")
def all_results():
    return {r.name: r for r in I.run_all()}


def test_registry_lists_every_identity_once(all_results):
    assert list(all_results) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_true_identity_is_proved(all_results, name):
    r = all_results[name]
    assert r.ok, r.checks
    assert r.checks and all(c.startswith("ok") for c in r.checks)


def test_scopes_match_the_brief(all_results):
    scopes = {n: r.scope for n, r in all_results.items()}
    assert scopes["circulant_diagonalization"] == "L=2..6"
    assert scopes["circulant_gram_spectrum"] == "L=2..6"
    assert scopes["generating_function"] == "L=1..8"
    assert scopes["generating_function_general"] == "general L"
    assert scopes["frobenius_gap"] == "L=2..8"
    assert scopes["frobenius_gap_general"] == "general L"
    assert scopes["parseval"] == "L=2..6"
    assert scopes["trace_identities"] == "L=2..8"


# ------------------------------------------------------- (a) circulant, wrong versions


@pytest.mark.parametrize("L", [2, 3, 4, 5])
def test_gram_with_one_perturbed_eigenvalue_fails(L):
    K = kernel_symbols(L)
    C = circulant(K)
    d = hhat_abs2(K)
    assert prove_matrix_equal_at_root_of_unity(C.T * C, fourier_sandwich(d), W, L).ok
    d_bad = list(d)
    d_bad[L - 1] = d_bad[L - 1] + K[0] ** 2
    assert not prove_matrix_equal_at_root_of_unity(C.T * C, fourier_sandwich(d_bad), W, L).ok


@given(L=st.integers(2, 5), j=st.integers(0, 4), num=st.integers(-3, 3).filter(bool), den=st.integers(1, 4))
@settings(max_examples=15, deadline=None)
def test_gram_perturbation_property(L, j, num, den):
    K = kernel_symbols(L)
    C = circulant(K)
    d = hhat_abs2(K)
    d[j % L] = d[j % L] * (1 + sp.Rational(num, den))
    assert not prove_matrix_equal_at_root_of_unity(C.T * C, fourier_sandwich(d), W, L).ok


@pytest.mark.parametrize("L", [3, 4, 5, 6])
def test_circulant_with_conjugated_spectrum_fails(L):
    # F^* diag(conj Hhat) F is C^T, not C (they differ once L >= 3)
    K = kernel_symbols(L)
    assert not prove_matrix_equal_at_root_of_unity(circulant(K), fourier_sandwich(hhat_conj(K)), W, L).ok
    assert prove_matrix_equal_at_root_of_unity(circulant(K).T, fourier_sandwich(hhat_conj(K)), W, L).ok


@pytest.mark.parametrize("L", [2, 3, 5])
def test_unnormalized_dft_is_not_unitary(L):
    F = dft_unitary(L) * sp.sqrt(L)
    Fs = dft_adjoint(L) * sp.sqrt(L)
    assert not prove_matrix_equal_at_root_of_unity(Fs * F, sp.eye(L), W, L).ok
    if L >= 3:  # F F (no adjoint) is the index-reversal permutation, not I
        assert not prove_matrix_equal_at_root_of_unity(dft_unitary(L) * dft_unitary(L), sp.eye(L), W, L).ok


def test_root_of_unity_reduction_is_sound_and_complete():
    # complete: 1 + w + ... + w^{L-1} = 0 at a primitive root, though not a multiple of w^L - 1
    for L in range(2, 9):
        assert prove_equal_at_root_of_unity(sp.Add(*[W**k for k in range(L)]), 0, W, L).ok
        assert prove_equal_at_root_of_unity(W**-1, W ** (L - 1), W, L).ok
    # sound: false statements about the root are rejected
    assert not prove_equal_at_root_of_unity(1 + W, 0, W, 3).ok
    assert not prove_equal_at_root_of_unity(W**2, 1, W, 4).ok  # i^2 = -1, not 1
    assert prove_equal_at_root_of_unity(W**2, -1, W, 4).ok
    minpoly5 = sp.minimal_polynomial(sp.exp(2 * sp.pi * sp.I / 5), W)
    assert not prove_equal(minpoly5, sp.cyclotomic_poly(10, W)).ok


# ---------------------------------------------------- (b) generating function, wrong


@pytest.mark.parametrize("L", [1, 2, 5, 8])
def test_generating_function_off_by_one_fails(L):
    lam, z = G.lam, G.z
    rhs = (1 - lam**L * z**L) / (1 - lam * z)
    assert prove_equal(G.truncated_sum(lam * z, L), rhs).ok
    assert not prove_equal(G.truncated_sum(lam * z, L + 1), rhs).ok
    rhs_bad = (1 - lam ** (L + 1) * z ** (L + 1)) / (1 - lam * z)
    assert not prove_equal(G.truncated_sum(lam * z, L), rhs_bad).ok


def test_general_L_proof_rejects_wrong_closed_form(monkeypatch):
    monkeypatch.setattr(G, "geometric_closed_form", lambda q, L: (1 - q ** (L + 1)) / (1 - q))
    assert not G.generating_function_general().ok


def test_power_of_product_needs_integer_exponent():
    lam, z = G.lam, G.z
    L_int = sp.Symbol("L", integer=True, positive=True)
    L_any = sp.Symbol("L")
    assert prove_equal((lam * z) ** L_int, lam**L_int * z**L_int).ok
    assert not prove_equal((lam * z) ** L_any, lam**L_any * z**L_any).ok


def test_dft_closed_form_without_conjugate_pair_or_with_wrong_power_fails():
    L = 4
    modes = G.kernel_modes(1)
    K = G.kernel_from_modes(modes, L)
    j = 1
    assert prove_equal_at_root_of_unity(G.dft_of_kernel(K, j), G.dft_closed_form(modes, L, j), W, L).ok
    no_conj = G.dft_closed_form(modes[:1], L, j)
    assert not prove_equal_at_root_of_unity(G.dft_of_kernel(K, j), no_conj, W, L).ok
    c, lam = modes[0]
    cb, lb = modes[1]
    zj = W ** (L - j)
    wrong = c * (1 - lam ** (L - 1)) / (1 - lam * zj) + cb * (1 - lb**L) / (1 - lb * zj)
    assert not prove_equal_at_root_of_unity(G.dft_of_kernel(K, j), wrong, W, L).ok


def test_dft_closed_form_record_fails_with_wrong_formula(monkeypatch):
    monkeypatch.setattr(G, "dft_closed_form", lambda modes, L, j, w=W: sp.Add(*[c / (1 - l * w ** ((-j) % L))
                                                                             for c, l in modes]))
    assert not G.kernel_dft_closed_form(Ls=[2, 3], mode_counts=(1,)).ok


# ------------------------------------------------------ (c), (d) wrong weights


@pytest.mark.parametrize("L", [2, 3, 5, 8])
def test_frobenius_with_m_plus_one_fails(L):
    K = kernel_symbols(L)
    D_ = circulant(K) - toeplitz(K)
    assert prove_equal(frob2(D_), weighted_square_sum(K, range(L))).ok
    assert not prove_equal(frob2(D_), weighted_square_sum(K, [m + 1 for m in range(L)])).ok
    assert not prove_equal(frob2(D_), weighted_square_sum(K, [L - m for m in range(L)])).ok


def test_frobenius_record_fails_when_rhs_is_wrong(monkeypatch):
    monkeypatch.setattr(S, "weighted_square_sum", lambda K, wts: weighted_square_sum(K, [w + 1 for w in wts]))
    assert not S.frobenius_gap(Ls=[2, 3]).ok
    assert not S.trace_identities(Ls=[2, 3]).ok
    assert not S.parseval(Ls=[2, 3]).ok


def test_frobenius_general_count_is_checked():
    L = sp.Symbol("L", integer=True, positive=True)
    d, i = sp.symbols("d i", integer=True)
    count = sp.summation(1, (i, 0, L - 1 - d))
    assert prove_equal(count, L - d).ok
    assert not prove_equal(count, L - d + 1).ok
    r, s = sp.symbols("r s", integer=True, nonnegative=True)
    assert not prove_equal(sp.Mod(r, r + 1 + s), r + 1).ok


@pytest.mark.parametrize("L", [2, 4, 7])
def test_trace_with_L_instead_of_L_minus_m_fails(L):
    K = kernel_symbols(L)
    T, C = toeplitz(K), circulant(K)
    assert not prove_equal((T.T * T).trace(), weighted_square_sum(K, [L] * L)).ok
    assert not prove_equal((C.T * C).trace(), weighted_square_sum(K, [L - m for m in range(L)])).ok


@pytest.mark.parametrize("L", [2, 3, 6])
def test_parseval_with_wrong_factor_fails(L):
    K = kernel_symbols(L)
    lhs = sp.Add(*hhat_abs2(K))
    assert prove_equal_at_root_of_unity(lhs, L * weighted_square_sum(K, [1] * L), W, L).ok
    assert not prove_equal_at_root_of_unity(lhs, (L - 1) * weighted_square_sum(K, [1] * L), W, L).ok
    # the DFT sum without the conjugate is not the energy (for L = 2 Hhat is real, so it is)
    no_conj = sp.Add(*[h**2 for h in hhat(K)])
    assert L == 2 or not prove_equal_at_root_of_unity(no_conj, L * weighted_square_sum(K, [1] * L), W, L).ok


# ------------------------------------------------------ (e) discretization, wrong


def test_pade_with_wrong_coefficient_fails():
    assert not D.bilinear_pade(lam_bil=lambda x: (1 + x / 3) / (1 - x / 2)).ok
    assert not D.bilinear_pade(lam_bil=lambda x: (1 + x / 2) / (1 - x / 3)).ok
    assert not D.bilinear_pade(error_coeff=-sp.Rational(1, 12)).ok
    assert not D.bilinear_pade(lam_bil=lambda x: 1 + x).ok  # Euler: not a degree-(1,1) ratio
    x = D.x
    # bilinear matches e^x through x^2 only
    assert prove_series_agree(D.bilinear_lambda(x), sp.exp(x), x, 3).ok
    assert not prove_series_agree(D.bilinear_lambda(x), sp.exp(x), x, 4).ok


def test_zoh_with_wrong_discretization_fails():
    assert not D.zoh_exact(lambda a, t: (1 + a * t, t)).ok  # forward Euler
    assert not D.zoh_exact(lambda a, t: (sp.exp(a * t), t)).ok  # Bbar = dt * B (a common shortcut)
    assert not D.zoh_exact(lambda a, t: (sp.exp(a * t), sp.exp(a * t) / a)).ok


def test_trapezoid_with_wrong_gain_fails():
    assert not D.bilinear_trapezoid(gain=lambda a, dt: dt).ok
    assert not D.bilinear_trapezoid(gain=lambda a, dt: dt / (1 + a * dt / 2)).ok


# --------------------------------------------------------------- helper mechanics


def test_helpers_refuse_shape_mismatch_exceptions_and_empty_proofs():
    assert not prove_matrix_equal(sp.eye(2), sp.eye(3)).ok
    assert not prove_matrix_equal_at_root_of_unity(sp.eye(2), sp.eye(3), W, 2).ok

    def boom():
        raise RuntimeError("x")
        yield  # pragma: no cover

    assert not run_proof("n", "s", "L", boom).ok
    assert not run_proof("n", "s", "L", lambda: []).ok
    assert run_proof("n", "s", "L", lambda: [Check(True, "t")]).ok
    assert not run_proof("n", "s", "L", lambda: [Check(True, "t"), Check(False, "f")]).ok


def test_symbolic_conventions_match_numpy_fft():
    """Not a proof: a numeric cross-check that our Hhat / F conventions are numpy's."""
    np = pytest.importorskip("numpy")
    L = 5
    K = kernel_symbols(L)
    vals = dict(zip(K, [3, -1, 4, 1, -5], strict=True))
    root = complex(sp.exp(2 * sp.pi * sp.I / L).evalf())
    got = [complex(h.subs(vals).subs(W, root)) for h in hhat(K)]
    assert np.allclose(got, np.fft.fft([vals[k] for k in K]))
    C = np.array(circulant(K).subs(vals).tolist(), dtype=float)
    assert np.allclose(np.sort(np.linalg.eigvalsh(C.T @ C)), np.sort(np.abs(np.fft.fft(C[:, 0])) ** 2))


# --------------------------------------------------------------------------- CLI


def test_cli_json_and_exit_codes(tmp_path, monkeypatch, capsys):
    from theory.__main__ import main

    monkeypatch.setattr(I, "ALL_IDENTITIES", (D.bilinear_pade, D.bilinear_trapezoid))
    out = tmp_path / "r.json"
    assert main(["--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["all_proved"]
    assert [r["name"] for r in data["results"]] == ["bilinear_pade", "bilinear_trapezoid"]
    assert "PROVED" in capsys.readouterr().out

    monkeypatch.setattr(I, "ALL_IDENTITIES",
                        (D.bilinear_pade, lambda: D.bilinear_pade(error_coeff=sp.Rational(1, 6))))
    assert main([]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_module_entry_point_is_wired():
    cmd = [sys.executable, "-m", "theory", "--help"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "--json" in res.stdout
