"""How the ssm-tdi command line writes files (issue 13, items 1, 3, 4, 8): full disks, special files,
colliding outputs, all-or-nothing commits, permissions, stale temporary files, byte-identical reruns,
closed pipes, one-line warnings and errors."""

import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from ssm_tdi import _io, cli

CLI = [sys.executable, "-m", "ssm_tdi.cli"]


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(1024)
    X = np.sin(0.4 * np.pi * t + rng.uniform(0, 6.3, (8, 1))) + 0.3 * rng.standard_normal((8, 1024))
    np.save(tmp_path / "x.npy", X)
    return tmp_path


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def _leftovers(d):
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------- item 1: full disk
@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
@pytest.mark.parametrize("command", ["spectrum", "init"])
def test_a_file_size_limit_fails_with_one_line_and_keeps_the_old_output(data, command):
    # S of L = 1024 is 513 float64 (4.2 kB), the init file ~10 kB: both exceed a 1024-byte limit
    out = data / ("s.npy" if command == "spectrum" else "p.pt")
    out.write_bytes(b"previous good output")
    extra = ["--d-model", "2", "--d-state", "4", "--quiet"] if command == "init" else []
    r = _run(["prlimit", "--fsize=1024", *CLI, command, str(data / "x.npy"), *extra, "--out", str(out)])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ssm-tdi {command}: error: --out: cannot write"), r.stderr
    assert out.read_bytes() == b"previous good output"
    assert _leftovers(data) == []


def test_a_full_tmpfs_fails_with_one_line(data, tmp_path_factory):
    small = tmp_path_factory.mktemp("small")
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("this container does not allow mounting a tmpfs")
    try:
        r = _run([*CLI, "init", str(data / "x.npy"), "--d-model", "8", "--d-state", "64", "--quiet",
                  "--out", str(small / "p.pt")])
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "No space left" in r.stderr
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")
def test_verify_results_json_is_replaced_atomically(tmp_path):
    """python -m verify --json under a size limit: the previous results stay whole."""
    good = tmp_path / "results.json"
    good.write_text('{"passed": true}\n')
    code = ("import sys, verify.claims as c\n"
            "from verify.common import Row\n"
            "c.run_all = lambda: [Row('C1', 'x', 'y', 'z', 't', True, details={'pad': 'p' * 5000})]\n"
            "from verify.__main__ import main\n"
            f"sys.exit(main(['--json', {str(good)!r}]))\n")
    r = _run(["prlimit", "--fsize=2048", sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode != 0 and "File too large" in r.stderr
    assert good.read_text() == '{"passed": true}\n'
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- item 3: colliding outputs
@pytest.mark.parametrize("argv, blamed, why", [
    (["init", "x.npy", "--d-model", "2", "--d-state", "4", "--out", "p.pt", "--export-s4d", "p.pt"], "--export-s4d",
     "is also the --out output"),
    (["init", "x.npy", "--d-model", "2", "--d-state", "4", "--out", "p.pt", "--export-s4d", "./sub/../p.pt"],
     "--export-s4d", "is also the --out output"),
    (["init", "x.npy", "--d-model", "2", "--d-state", "4", "--out", "p.pt", "--export-s4d", "link.pt"],
     "--export-s4d", "is also the --out output"),
    # --plot on --out: the two formats differ, so the extension check catches it first
    (["spectrum", "x.npy", "--out", "s.npz", "--plot", "s.npz"], "--plot", "unsupported image type"),
    (["spectrum", "x.npy", "--out", "x.npy"], "--out", "is the input DATA"),
    (["export", "p.pt", "--out", "p.pt"], "--out", "is the input PARAMS"),
])
def test_two_outputs_on_one_path_are_refused_before_any_work(data, monkeypatch, capsys, argv, blamed, why):
    monkeypatch.chdir(data)
    (data / "sub").mkdir()
    (data / "p.pt").write_bytes(b"keep")
    (data / "link.pt").symlink_to(data / "p.pt")
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {blamed}:" in err and why in err, err
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()} == before


def test_an_output_set_is_all_or_nothing(data, monkeypatch, capsys):
    """The second rename fails: the first output, already replaced, is restored."""
    p, e = data / "p.pt", data / "e.pt"
    p.write_bytes(b"old params")
    e.write_bytes(b"old export")
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # p.pt is in place, e.pt fails
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(_io.os, "replace", flaky)
    rc = cli.main(["init", str(data / "x.npy"), "--d-model", "2", "--d-state", "4", "--quiet", "--out", str(p),
                   "--export-s4d", str(e)])
    assert rc == 2 and "no output was changed" in capsys.readouterr().err
    assert p.read_bytes() == b"old params" and e.read_bytes() == b"old export"
    assert _leftovers(data) == []


# ----------------------------------------------------------------------------- item 4: special files
def _private_null(d):
    """A character device like /dev/null (1, 3) inside the test directory: a regression must never be
    able to replace the machine's own /dev/null (as root the old CLI did exactly that)."""
    node = d / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a character device here (needs CAP_MKNOD)")
    return node


def test_special_files_are_never_replaced(data, capsys):
    null = _private_null(data)
    fifo = data / "fifo"
    os.mkfifo(fifo)
    r, w = os.pipe()
    try:
        targets = [str(null), str(fifo), f"/proc/self/fd/{w}", str(data), str(data / "results") + "/"]
        for target in targets:
            assert cli.main(["spectrum", str(data / "x.npy"), "--out", target]) == 2, target
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and "error: --out:" in err, (target, err)
        assert stat.S_ISCHR(os.stat(null).st_mode)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISFIFO(os.fstat(w).st_mode)
        assert not (data / "results").exists()
    finally:
        os.close(r)
        os.close(w)


def test_dev_null_is_refused_by_the_path_check():
    """The machine's /dev/null itself, through the check alone (nothing is written even if it regressed)."""
    with pytest.raises(_io.OutputPathError, match="character device"):
        _io.check_output_path("/dev/null")


def test_a_link_to_a_regular_file_replaces_the_file_and_keeps_the_link(data):
    real = data / "real.npy"
    real.write_bytes(b"old")
    (data / "link.npy").symlink_to(real)
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(data / "link.npy")]) == 0
    assert (data / "link.npy").is_symlink() and np.load(real).shape == (513,)


# ----------------------------------------------------------------------------- item 8
def test_outputs_respect_the_umask(data):
    old = os.umask(0o027)
    try:
        assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(data / "s.npz")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(data / "s.npz").st_mode) == 0o640  # 0o666 & ~0o027, not mkstemp's 0o600


def test_a_replaced_file_keeps_its_mode(data):
    out = data / "s.npz"
    out.write_bytes(b"x")
    os.chmod(out, 0o604)
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o604


def test_stale_temporary_files_of_killed_writers_are_removed(data):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs (reuse within this test is vanishingly unlikely)
    stale = data / f".s.npz.{_io._HOST}-{dead.pid}-0123abcd.tmp"
    live = data / f".s.npz.{_io._HOST}-{os.getppid()}-0123abcd.tmp"  # a writer that still runs
    foreign = data / ".notes.tmp"
    for p in (stale, live, foreign):
        p.write_bytes(b"partial")
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(data / "s.npz")]) == 0
    assert not stale.exists() and live.exists() and foreign.exists()


def test_a_killed_writer_leaves_a_temp_file_that_the_next_write_removes(data):
    code = ("import os, signal\nfrom ssm_tdi import _io\ns = _io.OutputSet()\n"
            f"s.stage({str(data / 'k.npz')!r}, b'x' * 100)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert _run([sys.executable, "-c", code]).returncode == -9
    assert len(_leftovers(data)) == 1
    _io.atomic_write_bytes(data / "k.npz", b"done")
    assert _leftovers(data) == [] and (data / "k.npz").read_bytes() == b"done"


def test_outputs_are_byte_identical_across_runs(data, capsys):
    outs = []
    for run in ("a", "b"):
        argv = ["init", str(data / "x.npy"), "--d-model", "2", "--d-state", "8", "--quiet",
                "--out", str(data / f"p{run}.pt"), "--export-s4d", str(data / f"e{run}.pt")]
        assert cli.main(argv) == 0
        assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(data / f"s{run}.npz"),
                         "--plot", str(data / f"s{run}.pdf")]) == 0
        outs.append([(data / f"{k}{run}.{x}").read_bytes() for k, x in (("p", "pt"), ("e", "pt"), ("s", "npz"),
                                                                       ("s", "pdf"))])
    assert outs[0] == outs[1]
    state = torch.load(data / "pa.pt", weights_only=True)
    assert " in " not in state["report"]  # no wall time inside


def test_a_closed_pipe_is_not_an_error(data):
    out = data / "s.npz"
    r = _run(["bash", "-c", f"set -o pipefail; {' '.join(CLI)} spectrum {data / 'x.npy'} --out {out} "
                            f"--plot {data / 's.png'} | true"])
    assert r.returncode == 0, r.stderr
    assert "Error" not in r.stderr and "Traceback" not in r.stderr
    assert out.is_file() and (data / "s.png").is_file()


def test_names_of_255_bytes_are_written(data):
    out = data / ("s" * 251 + ".npz")
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(out)]) == 0
    assert np.load(out)["L"] == 1024


def test_warnings_are_one_line_each_and_silent_on_error(data, capsys, monkeypatch):
    import warnings

    from ssm_tdi import spectra

    real = spectra.input_spectrum

    def noisy(*a, **k):
        warnings.warn("first line\n  second line", RuntimeWarning, stacklevel=1)
        return real(*a, **k)

    monkeypatch.setattr(spectra, "input_spectrum", noisy)
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(data / "s.npz")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["ssm-tdi spectrum: warning: first line second line"]
    assert cli.main(["spectrum", str(data / "x.npy"), "--out", str(data / "s.npy"), "--plot", "p.xyz"]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_nan_in_a_parameter_file_names_the_parameter(data, capsys):
    p = data / "p.pt"
    assert cli.main(["init", str(data / "x.npy"), "--d-model", "2", "--d-state", "4", "--quiet", "--out", str(p)]) == 0
    state = torch.load(p, weights_only=True)
    state["state_dict"]["D"] = state["state_dict"]["D"] * float("nan")
    torch.save(state, p)
    capsys.readouterr()
    assert cli.main(["export", str(p), "--out", str(data / "e.pt")]) == 2
    err = capsys.readouterr().err
    assert "error: PARAMS:" in err and "parameter D" in err and "u:" not in err
