"""TDI that survives training and sees what the layer sees (issue 11): dynamics treatment, dt choice,
layer-input spectra (centred, DC share), streamed per-layer inputs, target shaping, channel banks,
the default-channel mask, effective rank in the report, and a named ValueError for every new argument.

Sizes are tiny (H <= 8, N <= 16, L <= 128); the ACSF1 measurement lives in benchmarks/tdi_persistence.py.
"""

import math

import pytest
import torch

from ssm_tdi import diagnostics, spectra, targets
from ssm_tdi.layers import DiagonalSSM, freeze_dynamics, param_groups, set_dynamics_lr_scale
from ssm_tdi.models import DeepSSM
from ssm_tdi.synthetic import band_mask
from ssm_tdi.tdi import _layer_input, _stream_advance, _stream_start, apply_tdi, tdi_init


def _layer(H=4, d_state=16, seed=0):
    return DiagonalSSM(H, d_state, generator=torch.Generator().manual_seed(seed)).double()


def _two_tone(n=16, L=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(L, dtype=torch.float64)
    ph = 2 * math.pi * torch.rand(n, 2, generator=g, dtype=torch.float64)
    X = torch.cos(0.6 * t + ph[:, :1]) + 0.5 * torch.cos(2.0 * t + ph[:, 1:])
    return X + 0.1 * torch.randn(n, L, generator=g, dtype=torch.float64)


# ----------------------------------------------------------------------------- dynamics treatment
def test_freeze_dynamics_and_lr_scale_reach_param_groups():
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=2, seed=0)
    first, second = model.ssm_layers
    assert freeze_dynamics(first) == 1
    assert all(not getattr(first, n).requires_grad for n in ("log_dt", "log_A_real", "A_imag", "B"))
    assert first.C.requires_grad and first.D.requires_grad  # the layer still weighs its modes
    assert set_dynamics_lr_scale(second, 0.1) == 1
    groups = param_groups(model, lr=1e-2, weight_decay=0.0, ssm_lr=1e-3)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"ssm x0.1", "other"}  # layer 0's dynamics are in no group at all
    assert by_name["ssm x0.1"]["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in by_name["ssm x0.1"]["params"]} == {
        id(getattr(second, n)) for n in ("log_dt", "log_A_real", "A_imag", "B")}
    freeze_dynamics(model, frozen=False)
    assert first.log_dt.requires_grad
    with pytest.raises(ValueError, match="frozen"):
        freeze_dynamics(first, frozen=1)
    with pytest.raises(ValueError, match="scale"):
        set_dynamics_lr_scale(first, 0.0)
    with pytest.raises(ValueError, match="module"):
        freeze_dynamics(torch.nn.Linear(2, 2))


def test_apply_tdi_freezes_the_fitted_layer_by_default_and_training_keeps_its_poles():
    X = _two_tone()
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=2, seed=0)
    rep = apply_tdi(model, X, refine_steps=5)[0]
    first, second = model.ssm_layers
    assert rep.dynamics == "frozen" and not first.log_dt.requires_grad and second.log_dt.requires_grad
    lam0 = first.discrete()[0].detach().clone()
    opt = torch.optim.AdamW(param_groups(model, lr=1e-2, weight_decay=0.0))
    for _ in range(3):
        opt.zero_grad()
        model(X.unsqueeze(-1).float()).square().mean().backward()
        opt.step()
    assert torch.equal(first.discrete()[0].detach(), lam0)  # frozen poles: bit-identical
    m2 = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=2, seed=0)
    assert apply_tdi(m2, X, refine_steps=5, dynamics="train")[0].dynamics == "trained"
    assert m2.ssm_layers[0].log_dt.requires_grad
    m3 = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=2, seed=0)
    assert apply_tdi(m3, X, refine_steps=5, dynamics=0.1)[0].dynamics == "lr x0.1"
    assert m3.ssm_layers[0].dynamics_lr_scale == 0.1


# ----------------------------------------------------------------------------- dt choice
@pytest.mark.parametrize("dt_mode", ["s4d", "unit"])
def test_dt_mode_changes_the_split_not_the_kernel(dt_mode):
    S = band_mask(64, "mid")
    a, b = _layer(), _layer()
    tdi_init(a, S, refine_steps=10)
    rb = tdi_init(b, S, refine_steps=10, dt_mode=dt_mode)
    assert rb.dt_mode == dt_mode
    # same discrete fit, written through a different dt: the kernels differ only by the float64 rounding of
    # log(lam) / dt and exp(dt A) (~1e-16 relative per mode, amplified by at most ~L = 64 powers): 1e-9 is loose
    Ka, Kb = a.kernel(64).detach(), b.kernel(64).detach()
    assert torch.allclose(Ka, Kb, rtol=1e-9, atol=1e-12 * float(Ka.abs().max()))
    with torch.no_grad():
        absA = b.A().abs().amax(-1)
    if dt_mode == "unit":
        assert torch.allclose(b.dt(), torch.ones(4, dtype=torch.float64))
    else:  # fastest mode of every channel at |a| = pi N2
        assert torch.allclose(absA, torch.full((4,), math.pi * b.N2, dtype=torch.float64), rtol=1e-9)


# ----------------------------------------------------------------------------- what the layer sees
def test_layer_input_spectrum_is_centred_and_reports_the_dc_share():
    X = _two_tone()
    model = DeepSSM(1, 2, d_model=8, d_state=8, n_layers=1, seed=0)
    U = model.layer_inputs(X.unsqueeze(-1))[0].double()
    raw = spectra.input_spectrum(U, reduce="mean")
    rep = apply_tdi(model, X, spectrum_source="layer-input", refine_steps=5)[0]
    assert rep.spectrum_source == "layer-input"
    assert rep.input_dc_share == pytest.approx(diagnostics.dc_share(raw), rel=1e-9)
    assert rep.input_dc_share > 0.05  # the encoder bias through LayerNorm: DC the data do not have
    S = rep.target_spectrum
    # centred: the spectrum of the centred input, whose emptied DC bin is continued from w_1
    centred = spectra.input_spectrum(U - U.mean(1, keepdim=True), reduce="mean")
    assert float(centred[0]) < 1e-20 * float(centred.max())  # centring empties DC (up to rounding)
    assert torch.allclose(S[1:], centred[1:], rtol=1e-9) and float(S[0]) == float(S[1])
    m2 = DeepSSM(1, 2, d_model=8, d_state=8, n_layers=1, seed=0)
    un = apply_tdi(m2, X, spectrum_source="layer-input", centre=False, refine_steps=5)[0]
    assert torch.allclose(un.target_spectrum, raw, rtol=1e-9)
    data = apply_tdi(DeepSSM(1, 2, d_model=8, d_state=8, n_layers=1, seed=0), X, refine_steps=5)[0]
    assert data.spectrum_source == "data"
    assert data.input_dc_share < 0.05  # the data (two tones, random phases) have little DC


def test_streamed_layer_inputs_equal_model_layer_inputs_in_chunks():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(150, 32, 1, generator=g)  # > 2 chunks of 64
    mask = torch.ones(150, 32, dtype=torch.bool)
    mask[::3, 25:] = False
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=3, seed=0, dropout=0.3)
    model.train()
    ref = model.layer_inputs(X, mask)  # eval mode inside
    model.eval()
    stream = _stream_start(model, X, mask)
    for idx in range(3):
        if idx:
            stream = _stream_advance(model, stream, idx - 1)
        got = _layer_input(model, stream, idx)
        assert torch.allclose(got, ref[idx].double(), rtol=1e-6, atol=1e-6)


def test_per_layer_matches_each_layer_to_its_centred_input():
    X = _two_tone(n=12, L=32)
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=2, seed=0)
    reps = apply_tdi(model, X, layers="per-layer", refine_steps=5)
    assert [r.spectrum_source for r in reps] == ["layer-input"] * 2
    U1 = model.layer_inputs(X.unsqueeze(-1))[1].double()  # after TDI of layer 0: what layer 1 was fitted to
    expect = spectra.input_spectrum(U1 - U1.mean(1, keepdim=True), reduce="mean")
    expect[0] = expect[1]  # the emptied DC bin continued from w_1
    assert torch.allclose(reps[1].target_spectrum, expect, rtol=1e-5, atol=1e-12 * float(expect.max()))
    assert all(0 <= r.input_dc_share <= 1 for r in reps)


def test_centred_layer_input_keeps_phase_diversity():
    # with an exact 0 at DC every phase variant failed its float32 test and all channels got one
    # response (effective rank 1.0); the continued DC bin lets them through
    g = torch.Generator().manual_seed(0)
    t = torch.arange(256.0)
    X = torch.sin(0.7 * t + 6.28 * torch.rand(32, 1, generator=g)) + 0.3 * torch.randn(32, 256, generator=g)
    model = DeepSSM(1, 2, d_model=16, d_state=32, n_layers=1, seed=0)
    rep = apply_tdi(model, X, spectrum_source="layer-input")[0]
    assert rep.kernel_effective_rank > 1.5, rep.notes


def test_layer_input_spectra_use_at_most_max_layer_samples_sequences():
    X = _two_tone(n=20, L=32)
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=1, seed=0)
    rep = apply_tdi(model, X, spectrum_source="layer-input", max_layer_samples=5, seed=2, refine_steps=3,
                    dynamics="train")[0]
    keep = torch.randperm(20, generator=torch.Generator().manual_seed(2))[:5].sort().values
    m0 = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=1, seed=0)  # the same weights as model before TDI
    U = m0.layer_inputs(X[keep].unsqueeze(-1))[0].double()
    expect = spectra.input_spectrum(U - U.mean(1, keepdim=True), reduce="mean")
    expect[0] = expect[1]  # the emptied DC bin continued from w_1
    assert torch.allclose(rep.target_spectrum, expect, rtol=1e-5, atol=1e-12 * float(expect.max()))


# ----------------------------------------------------------------------------- target shaping and banks
def test_shaping_options_fit_the_shaped_target():
    S = band_mask(64, "mid") + 1e-3
    layer = _layer()
    rep = tdi_init(layer, S, gamma=0.5, flat_mix=0.1, target_floor=1e-2, refine_steps=10)
    T = targets.shape_target(S, gamma=0.5, flat_mix=0.1, floor=1e-2)
    P = diagnostics.layer_power(layer, 64)
    assert torch.allclose(spectra.spectral_matching_loss(P, T), rep.loss_after, rtol=1e-6, atol=1e-12)


def test_bands_bank_gives_distinct_channels_and_a_higher_effective_rank():
    L = 128
    S = band_mask(L, "mid") + band_mask(L, "low") * 0.5 + 1e-4
    ident, bands = _layer(H=8), _layer(H=8)
    r_id = tdi_init(ident, S, refine_steps=10, diversity="none")
    r_b = tdi_init(bands, S, refine_steps=10, diversity="none", bank="bands")
    assert r_b.bank == "bands" and r_b.n_unique_spectra == 8
    assert r_id.kernel_effective_rank == pytest.approx(1.0, abs=1e-6)  # one response, 8 copies
    assert r_b.kernel_effective_rank > 2.0
    # the bank rows sum to S and every channel follows its own row
    rows = targets.channel_bank(S, 8, design="bands", seed=0)
    P = diagnostics.layer_power(bands, L)
    assert torch.allclose(spectra.spectral_matching_loss(P, rows), r_b.loss_after, rtol=1e-6, atol=1e-12)
    assert float(r_b.loss_after.max()) < 0.05
    # kernel energies follow each band's share of the power (gain="unit": sum_h |H_h|^2 ~ S)
    unit = _layer(H=8)
    tdi_init(unit, S, refine_steps=10, diversity="none", bank="bands", gain="unit")
    share = rows.sum(-1) / rows.sum()
    energy = unit.kernel(L).detach().square().sum(-1)
    assert torch.allclose(energy / energy.sum(), share, rtol=1e-3)


def test_default_fraction_leaves_a_seeded_set_of_channels_untouched():
    layer = _layer(H=8)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    rep = tdi_init(layer, band_mask(64, "mid"), default_fraction=0.25, refine_steps=5, seed=3)
    assert rep.n_default_channels == 2
    same = [h for h in range(8) if all(torch.equal(before[k][h], layer.state_dict()[k][h]) for k in before)]
    assert len(same) == 2
    again = _layer(H=8)
    tdi_init(again, band_mask(64, "mid"), default_fraction=0.25, refine_steps=5, seed=3)
    assert torch.equal(again.C, layer.C)  # the same seed picks the same channels
    untouched = _layer(H=8)
    r1 = tdi_init(untouched, band_mask(64, "mid"), default_fraction=1.0)
    assert r1.n_default_channels == 8 and torch.equal(untouched.C, before["C"])


# ----------------------------------------------------------------------------- bad input: named errors
@pytest.mark.parametrize("kw, name", [
    ({"dt_mode": "big"}, "dt_mode"), ({"gamma": 0.0}, "gamma"), ({"gamma": float("nan")}, "gamma"),
    ({"flat_mix": 1.5}, "flat_mix"), ({"target_floor": -0.1}, "target_floor"), ({"bank": "random"}, "bank"),
    ({"default_fraction": 2.0}, "default_fraction"), ({"default_fraction": "half"}, "default_fraction"),
    ({"method": "gradient", "dt_mode": "unit"}, "dt_mode"), ({"backend": "dft"}, "backend"),
])
def test_tdi_init_bad_new_options(kw, name):
    layer = _layer()
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    with pytest.raises(ValueError, match=f"^{name}: "):
        tdi_init(layer, band_mask(64, "mid"), **kw)
    assert all(torch.equal(state[k], v) for k, v in layer.state_dict().items())


def test_bands_need_one_shared_spectrum():
    S = torch.stack([band_mask(64, "mid"), band_mask(64, "low"), band_mask(64, "high"), band_mask(64, "mid")])
    with pytest.raises(ValueError, match="^bank: "):
        tdi_init(_layer(), S, bank="bands")


@pytest.mark.parametrize("kw, name", [
    ({"spectrum_source": "raw"}, "spectrum_source"), ({"spectrum_source": "data", "layers": "per-layer"},
                                                      "spectrum_source"),
    ({"source": "layer", "spectrum_source": "data"}, "source, spectrum_source"), ({"source": "input"}, "source"),
    ({"source": None}, "source"),
    ({"centre": "yes"}, "centre"), ({"dynamics": "thaw"}, "dynamics"), ({"dynamics": 0.0}, "dynamics"),
    ({"dynamics": float("inf")}, "dynamics"), ({"max_layer_samples": 0}, "max_layer_samples"),
    ({"max_layer_samples": 2.5}, "max_layer_samples"),
])
def test_apply_tdi_bad_new_options(kw, name):
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=2, seed=0)
    with pytest.raises(ValueError, match=f"^{name}: "):
        apply_tdi(model, _two_tone(n=4, L=32), **kw)
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen by a rejected call


def test_token_models_cannot_use_the_data_spectrum():
    model = DeepSSM(1, 2, d_model=4, d_state=8, n_layers=1, vocab_size=5, seed=0)
    tok = torch.randint(0, 5, (6, 16), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="^spectrum_source: "):
        apply_tdi(model, tok, spectrum_source="data")
    assert apply_tdi(model, tok, refine_steps=3)[0].spectrum_source == "layer-input"
