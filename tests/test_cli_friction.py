"""Issue 13, CLI friction: CSV headers and text labels, messages that point at the cell, --alpha, --version,
help text, progress in a pipe, extensions that match the format, a --help that does not import torch."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ssm_tdi import cli, inits


@pytest.fixture
def seqs():
    rng = np.random.default_rng(0)
    t = np.arange(48)
    return np.sin(0.5 * t + rng.uniform(0, 6.3, (12, 1))) + 0.2 * rng.standard_normal((12, 48))


def _cells(x):
    return [repr(float(v)) for v in x]


def _csv(path, header, rows):
    lines = ([",".join(header)] if header else []) + [",".join(str(c) for c in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _err(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_csv_header_and_named_label_column(tmp_path, seqs):
    labels = np.arange(len(seqs)) % 3
    header = [f"t{j}" for j in range(48)] + ["class"]
    path = _csv(tmp_path / "d.csv", header, [[*_cells(x), k] for x, k in zip(seqs, labels, strict=True)])
    for col in ("class", "-1", "48"):
        assert cli.main(["spectrum", path, "--label-column", col, "--estimator", "discriminative",
                         "--out", str(tmp_path / "s.npz")]) == 0
        assert int(np.load(tmp_path / "s.npz")["L"]) == 48  # the header and the label column are not data


def test_text_labels_are_numbered_and_the_numbering_saved(tmp_path, seqs, capsys):
    names = np.array(["dog", "cat", "emu"])[np.arange(len(seqs)) % 3]
    path = _csv(tmp_path / "d.csv", None, [[n, *_cells(x)] for n, x in zip(names, seqs, strict=True)])
    assert cli.main(["init", path, "--label-column", "0", "--estimator", "discriminative", "--d-model", "2",
                     "--d-state", "4", "--quiet", "--out", str(tmp_path / "p.pt")]) == 0
    assert "label numbering" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.labels.json").read_text()) == {"0": "cat", "1": "dog", "2": "emu"}
    assert torch.load(tmp_path / "p.pt", weights_only=True)["label_names"] == ["cat", "dog", "emu"]


def test_a_label_column_left_in_the_data_is_warned_about(tmp_path, seqs, capsys):
    path = _csv(tmp_path / "d.csv", None, [[*_cells(x), k % 2] for k, x in enumerate(seqs)])
    assert cli.main(["spectrum", path, "--out", str(tmp_path / "s.npz")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ssm-tdi spectrum: warning: DATA: column 48") and \
        "--label-column 48" in err[0]


@pytest.mark.parametrize("cell, expected", [("nan", "line 4, column 5 (from 0) of d.csv holds nan"),
                                            ("abc", "line 4, column 5 (from 0) of d.csv is 'abc', not a number"),
                                            ("", "line 4, column 5 (from 0) of d.csv is '', not a number")])
def test_a_bad_csv_cell_is_located(tmp_path, seqs, capsys, cell, expected):
    rows = [_cells(x) for x in seqs]
    rows[3][5] = cell
    path = _csv(tmp_path / "d.csv", None, rows)
    assert cli.main(["spectrum", path, "--out", str(tmp_path / "s.npz")]) == 2
    assert expected in _err(capsys)


def test_a_nan_in_an_array_is_located(tmp_path, seqs, capsys):
    seqs[2, 7] = np.nan
    np.save(tmp_path / "x.npy", seqs)
    assert cli.main(["spectrum", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s.npz")]) == 2
    assert "DATA: NaN at sequence 2, step 7" in _err(capsys)


def test_ragged_csv_and_unknown_label_name(tmp_path, capsys):
    path = _csv(tmp_path / "d.csv", None, [[1, 2, 3], [1, 2]])
    assert cli.main(["spectrum", path]) == 2
    assert "line 2 of d.csv has 2 columns, line 1 has 3" in _err(capsys)
    path = _csv(tmp_path / "h.csv", ["a", "b", "c"], [[1, 2, 3], [4, 5, 6]])
    assert cli.main(["spectrum", path, "--label-column", "label"]) == 2
    assert "--label-column: no column named 'label'" in _err(capsys)


def test_alpha_for_freqbias(tmp_path, seqs, capsys):
    np.save(tmp_path / "x.npy", seqs)
    base = ["init", str(tmp_path / "x.npy"), "--d-model", "2", "--d-state", "4", "--quiet",
            "--out", str(tmp_path / "p.pt")]
    assert cli.main([*base, "--base-init", "freqbias"]) == 2
    assert "error: --base-init, --alpha: freqbias needs --alpha" in _err(capsys)
    assert cli.main([*base, "--alpha", "4"]) == 2
    assert "--alpha: only for --base-init freqbias" in _err(capsys)
    assert cli.main([*base, "--base-init", "freqbias", "--alpha", "4"]) == 0
    assert torch.load(tmp_path / "p.pt", weights_only=True)["base_init"] == "freqbias"


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"ssm-tdi {cli.__version__}"
    with pytest.raises(SystemExit):
        cli.main(["init", "--help"])
    text = capsys.readouterr().out
    for term in ("aliased", "kernel |cos|", "residue ratio", "max|lam|", "reverted", "effective rank"):
        assert term in text


def test_every_option_states_its_default():
    parser = cli.build_parser()
    fmt = cli._Help("ssm-tdi")
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings and action.help and not action.required and action.nargs != 0:
                assert "(default: " in fmt._get_help_string(action), (name, action.option_strings)


def test_base_init_choices_are_the_registry():
    assert sorted(cli._BASE_INITS) == sorted(inits.INITS)


def test_gradient_progress_in_a_pipe_has_no_carriage_returns(tmp_path, seqs, capsys):
    np.save(tmp_path / "x.npy", seqs)
    assert cli.main(["init", str(tmp_path / "x.npy"), "--d-model", "2", "--d-state", "4", "--method", "gradient",
                     "--out", str(tmp_path / "p.pt")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and 3 <= len(err.splitlines()) <= 13  # start line + one per tenth of the steps


@pytest.mark.parametrize("argv, blamed", [
    (["init", "x.npy", "--d-model", "2", "--out", "q.npy"], "--out"),
    (["init", "x.npy", "--d-model", "2", "--export-s4d", "e.npz"], "--export-s4d"),
    (["spectrum", "x.npy", "--out", "s.pt"], "--out"),
    (["export", "p.pt", "--out", "s.json"], "--out"),
])
def test_an_extension_of_another_format_is_refused(tmp_path, seqs, monkeypatch, capsys, argv, blamed):
    monkeypatch.chdir(tmp_path)
    np.save("x.npy", seqs)
    assert cli.main(argv) == 2
    err = _err(capsys)
    assert f"error: {blamed}:" in err and "change the extension" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_an_unknown_extension_gets_the_native_format_and_says_so(tmp_path, seqs, capsys):
    np.save(tmp_path / "x.npy", seqs)
    assert cli.main(["init", str(tmp_path / "x.npy"), "--d-model", "2", "--d-state", "4", "--quiet",
                     "--out", str(tmp_path / "p.bin")]) == 0
    assert "p.bin (torch.save)" in capsys.readouterr().out
    assert torch.load(tmp_path / "p.bin", weights_only=True)["L"] == 48


def test_help_does_not_import_torch():
    code = "import sys, ssm_tdi.cli as c; c.build_parser().format_help(); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr


def test_a_pickled_array_gets_a_message_of_the_cli_not_numpy_advice(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert cli.main(["spectrum", str(tmp_path / "x.npy")]) == 2
    err = _err(capsys)
    assert "DATA: x.npy holds Python objects" in err and "allow_pickle" not in err
