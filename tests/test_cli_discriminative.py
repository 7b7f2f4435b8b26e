"""`--discriminative-kind`: the phase-invariant discriminative estimator chosen from the command line."""

import numpy as np
import pytest
import torch

from ssm_tdi import cli, spectra

N_PER_CLASS, L = 24, 128
BINS = (10, 30)  # class k is a sinusoid at bin BINS[k] (w = 2 pi BINS[k] / L) with a random phase per sequence


@pytest.fixture
def random_phase(tmp_path):
    rng = np.random.default_rng(3)
    t = np.arange(L)
    X, labels = [], []
    for k, b in enumerate(BINS):
        phase = rng.uniform(0, 2 * np.pi, (N_PER_CLASS, 1))
        X.append(np.sin(2 * np.pi * b * t / L + phase) + 0.3 * rng.standard_normal((N_PER_CLASS, L)))
        labels += [k] * N_PER_CLASS
    np.savez(tmp_path / "d.npz", X=np.concatenate(X), labels=np.array(labels))
    return tmp_path


def test_choices_are_the_librarys_kinds():
    assert cli._DISCRIMINATIVE_KINDS == spectra.DISCRIMINATIVE_KINDS
    assert cli.discriminative_kind(cli.build_parser().parse_args(["spectrum", "d.npz"])) == "combined"


@pytest.mark.parametrize("kind", spectra.DISCRIMINATIVE_KINDS)
def test_the_kind_reaches_the_estimator(random_phase, kind):
    out = random_phase / "s.npz"
    argv = ["spectrum", str(random_phase / "d.npz"), "--estimator", "discriminative", "--out", str(out)]
    assert cli.main(argv + ["--discriminative-kind", kind]) == 0
    d = np.load(random_phase / "d.npz")
    want = spectra.discriminative_spectrum(torch.as_tensor(d["X"]), d["labels"], kind=kind).numpy()
    np.testing.assert_array_equal(np.load(out)["S"], want)  # the same call: bit for bit


@pytest.mark.parametrize("kind", ["power", "log-power", "combined"])
def test_phase_invariant_kinds_find_the_class_frequencies(random_phase, kind):
    out = random_phase / "s.npz"
    assert cli.main(["spectrum", str(random_phase / "d.npz"), "--estimator", "discriminative",
                     "--discriminative-kind", kind, "--out", str(out)]) == 0
    S = np.load(out)["S"]
    assert sorted(np.argsort(S)[-2:].tolist()) == list(BINS)
    # the coefficient kind has no class-mean waveform to find here: its ratio at the class bins is noise
    # (below the phase-invariant kinds' by far; mean (K-1)/(n-1) = 0.02 without signal)
    d = np.load(random_phase / "d.npz")
    coef = spectra.discriminative_spectrum(torch.as_tensor(d["X"]), d["labels"], kind="coefficient").numpy()
    assert coef[list(BINS)].max() < 0.5 * S[list(BINS)].min()


def test_init_records_the_kind(random_phase):
    out = random_phase / "p.pt"
    assert cli.main(["init", str(random_phase / "d.npz"), "--estimator", "discriminative", "--discriminative-kind",
                     "log-power", "--d-model", "2", "--d-state", "8", "--out", str(out), "--quiet"]) == 0
    assert torch.load(out, weights_only=False)["discriminative_kind"] == "log-power"


@pytest.mark.parametrize("extra, msg", [
    (["--estimator", "discriminative", "--discriminative-kind", "phase"], "--discriminative-kind"),
    (["--discriminative-kind", "power"], "--discriminative-kind: only for --estimator discriminative"),
])
def test_bad_kind_is_a_one_line_error(random_phase, capsys, extra, msg):
    assert cli.main(["spectrum", str(random_phase / "d.npz"), *extra, "--out", str(random_phase / "s.npz")]) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
