"""The ssm-tdi command line: each command on generated data, its outputs, and its errors."""

import numpy as np
import pytest
import torch

from ssm_tdi import cli
from ssm_tdi.layers import DiagonalSSM


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    n, L = 32, 128
    t = np.arange(L)
    X = np.sin(2 * np.pi * 0.2 * t[None, :] + rng.uniform(0, 6.28, (n, 1))) + 0.3 * rng.standard_normal((n, L))
    labels = (rng.random(n) > 0.5).astype(int)
    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "d.npz", X=X, labels=labels, y=np.roll(X, 1, axis=1))
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, labels]), delimiter=",")
    return tmp_path


def test_spectrum_finds_the_line(data):
    out = data / "s.npy"
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(out), "--plot", str(data / "s.png")]) == 0
    S = np.load(out)
    assert S.shape == (65,)
    # the sinusoid at 0.2 cycles/sample sits at w = 0.4 pi, bin 0.2 * 128 = 25.6 -> 26 (or 25)
    assert int(np.argmax(S)) in (25, 26)
    assert (data / "s.png").stat().st_size > 0


@pytest.mark.parametrize("args", [["d.npz", "--estimator", "discriminative"], ["d.npz", "--estimator", "transfer"],
                                  ["d.csv", "--label-column", "-1", "--estimator", "discriminative"]])
def test_spectrum_estimators(data, args):
    out = data / "s.npy"
    assert cli.main(["spectrum", str(data / args[0]), *args[1:], "--out", str(out)]) == 0
    S = np.load(out)
    assert S.shape == (65,) and np.all(np.isfinite(S)) and np.all(S >= 0)


def test_init_and_export_reproduce_the_kernel(data):
    params, s4d = data / "p.pt", data / "s4d.pt"
    assert cli.main(["init", str(data / "x.npy"), "--d-model", "4", "--d-state", "16", "--out", str(params),
                     "--export-s4d", str(s4d), "--quiet"]) == 0
    state = torch.load(params, weights_only=False)
    layer = DiagonalSSM(4, 16, dtype=torch.float64)
    layer.load_state_dict(state["state_dict"])
    L = state["L"]
    # the S4D kernel (no B; ZOH): K = 2 Re sum_n C_n (exp(dt A_n) - 1)/A_n exp(dt A_n m)
    p = torch.load(s4d)
    A = -torch.exp(p["log_A_real"]) + 1j * p["A_imag"]
    dtA = torch.exp(p["log_dt"])[:, None] * A
    C = torch.view_as_complex(p["C"])
    m = torch.arange(L, dtype=torch.float64)
    K_s4d = 2 * torch.einsum("hn,hnl->hl", C * (torch.exp(dtA) - 1) / A, torch.exp(dtA[..., None] * m)).real
    K = layer.kernel(L).detach()
    assert torch.allclose(K_s4d, K, rtol=1e-9, atol=1e-12 * float(K.abs().max()))
    assert cli.main(["export", str(params), "--out", str(data / "s4d2.pt")]) == 0
    p2 = torch.load(data / "s4d2.pt")
    assert all(torch.equal(p[k], p2[k]) for k in p)


@pytest.mark.parametrize("argv, msg", [
    (["spectrum", "nope.npy"], "file not found"),
    (["spectrum", "x.npy", "--estimator", "transfer"], "needs a target"),
    (["spectrum", "x.npy", "--estimator", "discriminative"], "needs class labels"),
    (["spectrum", "bad.txt"], "expected a .npy"),
    (["spectrum", "corrupt.npy"], "could not read"),
    (["spectrum", "nan.npy"], "NaN"),
    (["spectrum", "short.npy"], "L >= 2"),
    (["export", "x.npy"], "not a parameter file"),
])
def test_errors_are_one_line_and_exit_2(data, capsys, argv, msg, monkeypatch):
    monkeypatch.chdir(data)
    (data / "bad.txt").write_text("1,2,3")
    (data / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    np.save(data / "nan.npy", np.array([[1.0, np.nan, 2.0]]))
    np.save(data / "short.npy", np.ones((3, 1)))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not list(data.glob(".*"))  # no temporary file left behind


def test_help_everywhere(capsys):
    for argv in (["--help"], ["spectrum", "--help"], ["init", "--help"], ["export", "--help"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 0
    assert "usage" in capsys.readouterr().out
