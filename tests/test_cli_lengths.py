"""Issue 13, item 2: the command line carries the data's true length L (odd included) into TDI and its files."""

import numpy as np
import pytest
import torch

from ssm_tdi import cli
from ssm_tdi.layers import DiagonalSSM

L_ODD = 101
TONE_BIN = 40  # w = 2 pi 40 / 101 = 0.79208 pi: a bin of the L = 101 grid; on the L = 100 grid bin 40 is 0.8 pi


@pytest.fixture
def tone(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(L_ODD)
    w = 2 * np.pi * TONE_BIN / L_ODD
    X = np.cos(w * t + rng.uniform(0, 2 * np.pi, (32, 1))) + 0.1 * rng.standard_normal((32, L_ODD))
    np.save(tmp_path / "x.npy", X)
    return tmp_path


def test_spectrum_of_an_odd_length_records_L(tone, capsys):
    assert cli.main(["spectrum", str(tone / "x.npy"), "--out", str(tone / "s.npz")]) == 0
    out = capsys.readouterr().out
    assert "length L=101" in out and "peak at w = 0.7921 pi" in out
    z = np.load(tone / "s.npz")
    assert int(z["L"]) == L_ODD and z["S"].shape == (L_ODD // 2 + 1,) and int(np.argmax(z["S"])) == TONE_BIN
    assert np.allclose(z["omega"], 2 * np.pi * np.arange(51) / L_ODD)


def test_a_npy_cannot_hold_an_odd_length(tone, capsys):
    assert cli.main(["spectrum", str(tone / "x.npy"), "--out", str(tone / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "error: --out:" in err and "L = 101" in err and ".npz" in err
    assert not (tone / "s.npy").exists()


@pytest.mark.parametrize("method", ["fast", "gradient"])
def test_init_matches_the_tone_on_the_odd_grid(tone, method):
    """The layer's |H_L(w)|^2 (L = 101, dense grid) peaks at the tone, 0.7921 pi, not at 0.8 pi (the L = 100 grid).

    Threshold: half the distance between the two candidate peaks, (0.8 - 0.79208) / 2 = 0.004 pi.
    """
    p = tone / "p.pt"
    assert cli.main(["init", str(tone / "x.npy"), "--d-model", "2", "--d-state", "16", "--method", method,
                     "--quiet", "--out", str(p)]) == 0
    state = torch.load(p, weights_only=True)
    assert state["L"] == L_ODD and state["S_task"].shape == (L_ODD // 2 + 1,)
    layer = DiagonalSSM(2, 16, dtype=torch.float64)
    layer.load_state_dict(state["state_dict"])
    omega = torch.linspace(0.7, 0.9, 2001, dtype=torch.float64) * torch.pi
    power = layer.frequency_response(omega, L=L_ODD).abs().square().mean(0)
    peak = float(omega[torch.argmax(power)] / torch.pi)
    assert abs(peak - 2 * TONE_BIN / L_ODD) < 0.004, peak
    assert f"L={L_ODD}" in state["report"]


def test_length_five_is_reported_as_five(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((4, 5)))
    assert cli.main(["spectrum", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s.npz")]) == 0
    assert "length L=5: 3 bins" in capsys.readouterr().out


def test_welch_on_an_odd_length_lands_on_the_data_grid(tone):
    assert cli.main(["spectrum", str(tone / "x.npy"), "--welch", "32", "--out", str(tone / "s.npz")]) == 0
    z = np.load(tone / "s.npz")
    assert int(z["L"]) == L_ODD and z["S"].shape == (51,)


def test_csv_with_labels_keeps_the_odd_length(tone):
    X = np.load(tone / "x.npy")
    labels = np.arange(len(X)) % 2
    np.savetxt(tone / "d.csv", np.column_stack([labels, X]), delimiter=",")
    assert cli.main(["init", str(tone / "d.csv"), "--label-column", "0", "--estimator", "discriminative",
                     "--d-model", "2", "--d-state", "4", "--quiet", "--out", str(tone / "p.pt")]) == 0
    assert torch.load(tone / "p.pt", weights_only=True)["L"] == L_ODD
