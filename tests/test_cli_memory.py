"""Issue 13, item 5: sizes are checked against the memory estimate before anything large is allocated.

Each case runs in a subprocess under a 3 GiB address-space limit with a 1 GiB budget, so a regression
fails (MemoryError / allocator abort, exit != 2) instead of eating the test machine's memory.
"""

import os
import resource
import subprocess
import sys

import numpy as np
import torch

CLI = [sys.executable, "-m", "ssm_tdi.cli"]


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def _run(argv):
    env = dict(os.environ, SSM_TDI_MAX_MEMORY="1G", OMP_NUM_THREADS="1")
    r = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=300, env=env, preexec_fn=_limited)
    return r.returncode, r.stderr.strip().splitlines()


def _refused(argv, blamed):
    rc, lines = _run(argv)
    assert rc == 2 and len(lines) == 1, (rc, lines)
    assert f"error: {blamed}" in lines[0] and "needs about" in lines[0] and "SSM_TDI_MAX_MEMORY" in lines[0], lines


def test_a_crafted_parameter_file_is_refused_before_the_layer_is_built(tmp_path):
    H, N2 = 2**16, 2**10  # d_state 2**11: 6 GiB of float64 parameters, stored as zero-stride views of one number
    one = torch.zeros(1, dtype=torch.float64)
    sd = {"log_dt": one.expand(H), "log_A_real": one.expand(H, N2), "A_imag": one.expand(H, N2),
          "B": one.expand(H, N2, 2), "C": one.expand(H, N2, 2), "D": one.expand(H)}
    torch.save({"state_dict": sd, "d_model": H, "d_state": 2 * N2}, tmp_path / "evil.pt")
    assert (tmp_path / "evil.pt").stat().st_size < 4096
    _refused(["export", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "e.pt")], "PARAMS:")
    assert not (tmp_path / "e.pt").exists()


def test_a_huge_d_model_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((4, 256)))
    _refused(["init", str(tmp_path / "x.npy"), "--d-model", "100000", "--out", str(tmp_path / "p.pt")],
             "--d-model, --d-state, DATA:")


def test_a_long_sequence_is_refused_for_init_and_accepted_for_spectrum(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 2_000_000)))
    _refused(["init", str(tmp_path / "x.npy"), "--d-model", "8", "--out", str(tmp_path / "p.pt")],
             "--d-model, --d-state, DATA:")
    # the spectrum of the same data: 4 x 32 MB, well inside the budget
    rc, lines = _run(["spectrum", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s.npz")])
    assert rc == 0, lines
    assert int(np.load(tmp_path / "s.npz")["L"]) == 2_000_000


def test_a_npy_header_claiming_a_huge_array_is_refused_before_reading(tmp_path):
    with open(tmp_path / "x.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
        f.write(b"\0" * 64)
    _refused(["spectrum", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s.npz")], "DATA:")
