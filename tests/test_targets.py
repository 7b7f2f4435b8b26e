"""Target shaping (ssm_tdi.targets): tempering/flat mix/floor, channel banks, the shuffled control.

Checks are exact identities of the definitions (float64 rounding only: tolerances 1e-12 relative),
plus properties the designs promise (distinct rows, bands that follow the spectrum's mass)."""

import math

import pytest
import torch

from ssm_tdi import targets


def _peaked(F=65, seed=0):
    """A spectrum with two dominant bins (like ACSF1's S_task) over a small random background."""
    g = torch.Generator().manual_seed(seed)
    S = 1e-3 * torch.rand(F, generator=g, dtype=torch.float64)
    S[7] = 1.0
    S[20] = 0.6
    return S


# ----------------------------------------------------------------------------- shape_target
def test_shape_target_identity_and_normalisation():
    S = _peaked()
    T = targets.shape_target(3.0 * S)
    assert torch.allclose(T, S / S.sum(), rtol=1e-12, atol=0)
    assert float(T.sum()) == pytest.approx(1.0, rel=1e-12)


def test_tempering_is_a_power():
    S = _peaked()
    T = targets.shape_target(S, gamma=0.5)
    ref = S.sqrt() / S.sqrt().sum()
    assert torch.allclose(T, ref, rtol=1e-12, atol=0)
    # tempering flattens: the peak share drops, the number of effective bins grows
    assert float(T.max()) < float((S / S.sum()).max())
    assert targets.effective_bins(T) > targets.effective_bins(S)


def test_flat_mix_keeps_total_power_and_interpolates():
    S = _peaked()
    F = S.shape[0]
    for m in (0.0, 0.3, 1.0):
        T = targets.shape_target(S, flat_mix=m)
        ref = (1 - m) * S / S.sum() + m / F
        assert torch.allclose(T, ref, rtol=1e-12, atol=1e-15)
    assert torch.allclose(targets.shape_target(S, flat_mix=1.0), torch.full((F,), 1.0 / F, dtype=torch.float64))


def test_floor_is_relative_to_the_peak():
    S = _peaked()
    T = targets.shape_target(S, floor=1e-2)
    ratio = T / T.max()
    assert float(ratio.min()) == pytest.approx(1e-2, rel=1e-12)  # background (<= 1e-3 of the peak) is lifted
    assert float(ratio[20]) == pytest.approx(0.6, rel=1e-12)  # bins above the floor keep their ratio


def test_shape_target_rows_are_shaped_independently():
    S = torch.stack([_peaked(seed=1), 5.0 * _peaked(seed=2)])
    T = targets.shape_target(S, gamma=0.7, flat_mix=0.1, floor=1e-3)
    assert T.shape == S.shape
    for h in range(2):
        assert torch.allclose(T[h], targets.shape_target(S[h], gamma=0.7, flat_mix=0.1, floor=1e-3), rtol=1e-12)


def test_shape_target_extreme_scales_do_not_overflow():
    S = _peaked()
    T = targets.shape_target(1e300 * S, gamma=3.0)
    assert torch.isfinite(T).all()
    assert torch.allclose(T, targets.shape_target(S, gamma=3.0), rtol=1e-12)


@pytest.mark.parametrize("kw, name", [({"gamma": 0.0}, "gamma"), ({"gamma": -1.0}, "gamma"),
                                      ({"gamma": float("nan")}, "gamma"), ({"gamma": "1"}, "gamma"),
                                      ({"flat_mix": -0.1}, "flat_mix"), ({"flat_mix": 1.5}, "flat_mix"),
                                      ({"floor": -1e-3}, "floor"), ({"floor": 2.0}, "floor"),
                                      ({"floor": True}, "floor")])
def test_shape_target_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        targets.shape_target(_peaked(), **kw)


@pytest.mark.parametrize("S", [torch.zeros(9), torch.tensor([1.0, -1.0, 2.0]), torch.tensor([1.0, math.nan]),
                               torch.ones(2, 3, 4), torch.ones(1), torch.ones(3, dtype=torch.complex64)])
def test_shape_target_bad_spectrum(S):
    with pytest.raises(ValueError, match="^S:"):
        targets.shape_target(S)


# ----------------------------------------------------------------------------- channel_bank
def test_identical_bank_repeats_the_spectrum():
    S = _peaked()
    B = targets.channel_bank(S, 6)
    assert B.shape == (6, S.shape[0])
    assert torch.allclose(B, (S / S.sum() / 6).expand(6, -1), rtol=1e-12)


@pytest.mark.parametrize("H", [1, 4, 16, 100])
def test_bands_sum_to_the_spectrum(H):
    S = _peaked()
    B = targets.channel_bank(S, H, design="bands", seed=3)
    assert B.shape == (H, S.shape[0])
    assert bool((B >= 0).all())
    # partition of unity over channels: the sum is S / sum S up to rounding of the normalisation
    assert torch.allclose(B.sum(0), S / S.sum(), rtol=1e-12, atol=0)


def test_bands_are_disjoint_contiguous_and_differ():
    S = _peaked()
    H = 8
    B = targets.channel_bank(S, H, design="bands", seed=0)
    assert bool((B.sum(-1) > 0).all())  # every channel has a band
    support = B > 0
    # no heavy bin at the default tempering (peak share of the tempered mass < 1/H): bands are disjoint
    assert int(support.sum(0).max()) == 1
    # ... contiguous runs of bins ...
    for h in range(H):
        idx = support[h].nonzero().flatten()
        assert int(idx[-1] - idx[0]) + 1 == idx.numel()
    # ... and hence pairwise orthogonal rows: they differ
    Bn = B / B.norm(dim=-1, keepdim=True)
    assert torch.allclose(Bn @ Bn.T, torch.eye(H, dtype=torch.float64), atol=1e-15)


def test_heavy_bin_is_shared_by_the_channels_it_swallows():
    # with gamma = 1 bin 7 holds > 1/H of the mass: the channels inside its interval share it
    S = _peaked()
    H = 16
    B = targets.channel_bank(S, H, design="bands", gamma=1.0)
    spikes = [h for h in range(H) if int((B[h] > 0).sum()) == 1 and int(B[h].argmax()) == 7]
    assert len(spikes) >= 2
    vals = B[spikes, 7]  # the bin's weight is split equally among the channels sharing it
    assert torch.allclose(vals, vals[0].expand_as(vals), rtol=1e-12)
    assert torch.allclose(B.sum(0), S / S.sum(), rtol=1e-12, atol=0)


def test_bands_hold_equal_tempered_power():
    # a smooth spectrum (no heavy bins): each band holds ~1/H of the tempered mass, to within one bin
    F, H, gamma = 257, 8, 0.25
    w = torch.linspace(0, math.pi, F, dtype=torch.float64)
    S = 1.0 / (1.0 + 20 * w**2)
    B = targets.channel_bank(S, H, design="bands", gamma=gamma)
    P = (S / S.max()) ** gamma
    share = torch.stack([(P * (B[h] > 0)).sum() for h in range(H)]) / P.sum()
    assert float((share - 1.0 / H).abs().max()) <= float(P.max() / P.sum()) + 1e-12


def test_bands_seed_permutes_channels_only():
    S = _peaked()
    B0 = targets.channel_bank(S, 8, design="bands", seed=0)
    B1 = targets.channel_bank(S, 8, design="bands", seed=1)
    assert torch.equal(B0, targets.channel_bank(S, 8, design="bands", seed=0))  # deterministic
    # the same rows in another order
    key = lambda B: sorted(B.sum(-1).tolist())  # noqa: E731
    assert key(B0) == pytest.approx(key(B1), rel=1e-12)


def test_bands_gamma_spreads_channels():
    # gamma = 1 puts channels where the power is, gamma small spreads them over the bins:
    # the number of channels whose row peaks at one of the two dominant bins drops
    S = _peaked()
    H = 16

    def at_peaks(gamma):
        B = targets.channel_bank(S, H, design="bands", gamma=gamma)
        return int(sum(int(B[h].argmax()) in (7, 20) for h in range(H)))

    assert at_peaks(0.1) < at_peaks(1.0)


@pytest.mark.parametrize("kw, name", [({"design": "band"}, "design"), ({"design": 3}, "design"),
                                      ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
                                      ({"gamma": 0.0}, "gamma"), ({"gamma": math.inf}, "gamma")])
def test_channel_bank_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        targets.channel_bank(_peaked(), 4, **kw)


@pytest.mark.parametrize("H", [0, -2, 2.0, True])
def test_channel_bank_bad_H(H):
    with pytest.raises(ValueError, match="^H:"):
        targets.channel_bank(_peaked(), H)


def test_channel_bank_rejects_several_rows():
    with pytest.raises(ValueError, match="^S:"):
        targets.channel_bank(torch.ones(2, 9), 4)


# ----------------------------------------------------------------------------- shuffled
def test_shuffled_keeps_values_and_edges():
    S = _peaked()
    T = targets.shuffled(S, seed=5)
    assert torch.equal(T.sort().values, S.sort().values)  # same multiset: same sharpness
    assert T[0] == S[0] and T[-1] == S[-1]  # DC and Nyquist held
    assert not torch.equal(T, S)
    assert targets.effective_bins(T) == pytest.approx(targets.effective_bins(S), rel=1e-12)
    assert torch.equal(T, targets.shuffled(S, seed=5))


def test_shuffled_moves_the_peak_and_can_move_edges():
    S = _peaked()
    moved = [int(targets.shuffled(S, seed=s).argmax()) != 7 for s in range(5)]
    assert sum(moved) >= 4  # P(a random interior permutation keeps bin 7) = 1/63 per seed
    S2 = S.clone()
    S2[0] = 5.0  # the largest value at DC
    hit = [int(targets.shuffled(S2, seed=s, keep_edges=False).argmax()) != 0 for s in range(5)]
    assert sum(hit) >= 4


def test_shuffled_rows_share_one_permutation():
    S = torch.stack([_peaked(seed=1), _peaked(seed=2)])
    T = targets.shuffled(S, seed=0)
    idx = torch.tensor([int((S[0] == v).nonzero()[0]) for v in T[0]])
    assert torch.equal(T[1], S[1][idx])


@pytest.mark.parametrize("kw, name", [({"seed": -3}, "seed"), ({"seed": None}, "seed"),
                                      ({"seed": 0, "keep_edges": 1}, "keep_edges")])
def test_shuffled_bad_arguments(kw, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        targets.shuffled(_peaked(), **kw)


def test_shuffled_too_short():
    with pytest.raises(ValueError, match="^S:"):
        targets.shuffled(torch.ones(3), 0)
    assert targets.shuffled(torch.tensor([1.0, 2.0, 3.0]), 0, keep_edges=False).shape == (3,)
