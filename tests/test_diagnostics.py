"""Layer measurements (ssm_tdi.diagnostics): effective rank, DC share, persistence of a layer's spectrum.

Known answers are exact (rank of constructed matrices, Parseval shares of constructed spectra);
tolerances are float64 rounding (1e-10) unless stated."""

import math

import pytest
import torch

from ssm_tdi import diagnostics
from ssm_tdi.layers import DiagonalSSM


# ----------------------------------------------------------------------------- effective rank
def test_rank_one_matrix_has_effective_rank_one():
    k = torch.randn(32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    K = torch.outer(torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64), k)
    assert diagnostics.kernel_effective_rank(K) == pytest.approx(1.0, abs=1e-10)


def test_orthogonal_rows_have_full_effective_rank():
    Q, _ = torch.linalg.qr(torch.randn(40, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert diagnostics.kernel_effective_rank(Q.T) == pytest.approx(6.0, rel=1e-10)  # equal singular values
    assert diagnostics.kernel_effective_rank(1e300 * Q.T) == pytest.approx(6.0, rel=1e-10)  # scale-free


def test_effective_rank_of_known_singular_values():
    # singular values (3, 1): p = (3/4, 1/4), erank = exp(H(p))
    K = torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    p = torch.tensor([0.75, 0.25], dtype=torch.float64)
    assert diagnostics.kernel_effective_rank(K) == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-12)


@pytest.mark.parametrize("K", [torch.zeros(3, 5), torch.ones(5), torch.tensor([[1.0, math.inf]]),
                               torch.ones(2, 3, dtype=torch.complex64), torch.ones(0, 4)])
def test_effective_rank_bad_input(K):
    with pytest.raises(ValueError, match="^K:"):
        diagnostics.kernel_effective_rank(K)


# ----------------------------------------------------------------------------- DC share
def test_dc_share_matches_parseval_for_a_signal():
    # x = c + a cos(w_k t): mean square = c^2 + a^2/2, of which c^2 is DC
    L, c, a, k = 64, 0.8, 1.5, 5
    t = torch.arange(L, dtype=torch.float64)
    x = c + a * torch.cos(2 * math.pi * k * t / L)
    S = torch.fft.rfft(x).abs() ** 2 / L
    assert diagnostics.dc_share(S) == pytest.approx(c**2 / (c**2 + a**2 / 2), rel=1e-12)


@pytest.mark.parametrize("L", [63, 64])
def test_dc_share_of_white_spectrum(L):
    F = L // 2 + 1
    assert diagnostics.dc_share(torch.ones(F), L) == pytest.approx(1.0 / L, rel=1e-12)  # one of L two-sided bins


def test_dc_share_of_channels_is_share_of_the_sum():
    S = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)  # L = 4
    assert diagnostics.dc_share(S) == pytest.approx(1.0 / 3.0, rel=1e-12)  # 1 / (1 + 2 * 1)


@pytest.mark.parametrize("S, L, name", [(torch.zeros(5), None, "S"), (torch.tensor([1.0, -1.0]), None, "S"),
                                        (torch.ones(5), 7, "L"), (torch.ones(5), 0, "L"),
                                        (torch.ones(2, 2, 2), None, "S")])
def test_dc_share_bad_input(S, L, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        diagnostics.dc_share(S, L)


# ----------------------------------------------------------------------------- layer persistence
def _layer(seed=0, H=4):
    return DiagonalSSM(H, 8, generator=torch.Generator().manual_seed(seed))


def test_layer_power_is_the_layers_own_spectrum():
    layer, L = _layer(), 32
    P = diagnostics.layer_power(layer, L)
    ref = layer.power_spectrum(L).detach().double()
    assert P.shape == (4, L // 2 + 1)
    # float32 layer vs float64 evaluation: relative rounding of complex64 kernels (~1e-6 of the peak)
    assert torch.allclose(P, ref, rtol=1e-4, atol=1e-5 * float(ref.max()))


def test_persistence_of_an_unchanged_layer():
    layer, L = _layer(), 32
    P0 = diagnostics.layer_power(layer, L)
    out = diagnostics.layer_persistence(layer, L, target=P0, reference=P0)
    assert out["lspec_reference"] == pytest.approx(0.0, abs=1e-12)
    assert out["lspec_target"] == pytest.approx(0.0, abs=1e-12)
    assert out["effective_rank"] == pytest.approx(
        diagnostics.kernel_effective_rank(diagnostics.layer_kernel(layer, L)), rel=1e-12)
    assert 0 <= out["power_dc_share"] <= 1
    assert math.isnan(diagnostics.layer_persistence(layer, L)["lspec_target"])


def test_persistence_sees_a_change():
    layer, L = _layer(), 32
    P0 = diagnostics.layer_power(layer, L)
    with torch.no_grad():
        layer.log_dt += 1.0  # every mode's frequency scales by e: the response moves
    out = diagnostics.layer_persistence(layer, L, reference=P0)
    assert out["lspec_reference"] > 0.05


@pytest.mark.parametrize("kw, name", [({"target": torch.ones(5)}, "target"),
                                      ({"reference": torch.ones(3, 17)}, "reference"),
                                      ({"target": torch.zeros(17)}, "target")])
def test_persistence_bad_input(kw, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        diagnostics.layer_persistence(_layer(), 32, **kw)


def test_layer_kernel_rejects_non_layers():
    with pytest.raises(ValueError, match="^layer:"):
        diagnostics.layer_kernel(torch.nn.Linear(2, 2), 8)
    with pytest.raises(ValueError, match="^L:"):
        diagnostics.layer_kernel(_layer(), 0)
