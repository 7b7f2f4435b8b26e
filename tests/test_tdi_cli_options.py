"""`ssm-tdi init` options of issue 11 (target shaping, channel bank, default channels, dt split):
shown in --help with their defaults, passed through to tdi_init, bad values a one-line error naming the flag."""

import re

import numpy as np
import pytest
import torch

from ssm_tdi import cli


@pytest.fixture
def x_npy(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(64)
    X = np.sin(0.8 * t[None, :] + rng.uniform(0, 6.28, (16, 1))) + 0.3 * rng.standard_normal((16, 64))
    np.save(tmp_path / "x.npy", X)
    return tmp_path


def test_help_lists_the_new_options_with_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["init", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    out = out[out.index("target shaping and channel bank"):]  # the option group, past the usage line
    for flag, default in (("--gamma", "1.0"), ("--flat-mix", "0.0"), ("--target-floor", "0.0"),
                          ("--bank", "identical"), ("--default-fraction", "0.0"), ("--dt-mode", "keep")):
        m = re.search(re.escape(flag) + r" .*?\(default: ([^)]*)\)", out)  # the first default after the flag
        assert m and m.group(1) == default, flag


def test_options_reach_tdi_init(x_npy):
    out = x_npy / "p.pt"
    argv = ["init", str(x_npy / "x.npy"), "--d-model", "8", "--d-state", "16", "--out", str(out), "--quiet",
            "--bank", "bands", "--gamma", "0.5", "--default-fraction", "0.25", "--dt-mode", "unit"]
    assert cli.main(argv) == 0
    state = torch.load(out, weights_only=False)
    assert "effective rank" in state["report"]
    log_dt = state["state_dict"]["log_dt"]
    # dt = 1 (log_dt = 0) on the 6 fitted channels; the 2 default channels keep S4D-Lin's random dt
    assert int((log_dt == 0).sum()) == 6


@pytest.mark.parametrize("flag, value", [
    ("--gamma", "0"), ("--gamma", "nan"), ("--flat-mix", "2"), ("--target-floor", "-1"),
    ("--default-fraction", "1.5"),
])
def test_bad_values_are_one_line_errors_naming_the_flag(x_npy, capsys, flag, value):
    argv = ["init", str(x_npy / "x.npy"), "--d-model", "4", "--d-state", "8", "--out", str(x_npy / "p.pt"),
            "--quiet", flag, value]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and flag in err and "Traceback" not in err
    assert not (x_npy / "p.pt").exists()


@pytest.mark.parametrize("flag", ["--bank", "--dt-mode"])
def test_bad_choices_are_refused_by_the_parser(x_npy, capsys, flag):
    argv = ["init", str(x_npy / "x.npy"), "--d-model", "4", "--out", str(x_npy / "p.pt"), flag, "other"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: invalid choice" in err and "Traceback" not in err
