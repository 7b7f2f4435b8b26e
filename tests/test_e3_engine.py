"""The E3 engine on dask.distributed: a tiny grid on a 2-worker LocalCluster gives the same records as the
in-process run, through --scheduler too; workers of the embedded cluster die with their parent (issue 13 item 6)."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("aeon")
distributed = pytest.importorskip("distributed")
from paper_figures import e3, e3_engine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _specs(n_seeds=2):
    rec = e3.recipe(e3.load_config(), "classification", "ItalyPowerDemand", "smoke")
    return [e3.cell_spec("classification", "ItalyPowerDemand", "s4d-lin", 0.25, s, rec) for s in range(n_seeds)]


def test_a_tiny_grid_on_a_two_worker_cluster_matches_the_in_process_run(tmp_path):
    specs = _specs()
    serial = e3_engine.run_cells(specs, tmp_path / "serial", jobs=1, log=lambda *_: None, store={})
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        logs = []
        remote = e3_engine.run_cells(specs, tmp_path / "dask", scheduler=cluster.scheduler_address, log=logs.append,
                                     store={})
    finally:
        cluster.close()
    assert any("dask scheduler" in m and "2 workers" in m for m in logs)
    assert [r["result"]["accuracy"] for r in remote] == [r["result"]["accuracy"] for r in serial]  # seeded, bitwise
    assert all(e3.cell_path(tmp_path / "dask", s).exists() for s in specs)  # written by this process
    # the embedded cluster (default path for jobs > 1) finds them all cached: nothing to run
    again = e3_engine.run_cells(specs, tmp_path / "dask", jobs=2, log=logs.append, store={})
    assert [r["digest"] for r in again] == [r["digest"] for r in remote] and "0 to run" in logs[-1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_workers_die_with_their_parent_and_write_nothing_after_kill_9(tmp_path):
    """Issue 13 item 6: kill -9 of the parent of a 2-worker run left workers alive and writing for 79 s."""
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from paper_figures import e3, e3_engine
        rec = e3.recipe(e3.load_config(), "classification", "ItalyPowerDemand", "smoke")
        rec["train"]["steps"] = 200000  # long cells: still running when the parent is killed
        specs = [e3.cell_spec("classification", "ItalyPowerDemand", "s4d-lin", 0.25, s, rec) for s in range(4)]
        e3_engine.run_cells(specs, {str(tmp_path)!r}, jobs=2, log=lambda m: print(m, flush=True), store={{}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    pids, t0 = [], time.monotonic()
    for line in proc.stdout:
        m = re.search(r"worker pids ([\d ]+)", line)
        if m:
            pids = [int(p) for p in m.group(1).split()]
            break
        assert time.monotonic() - t0 < 600, "cluster did not start"
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    time.sleep(2.0)  # the workers are inside their (long) cells now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30  # the watcher polls every 0.5 s; 30 s covers a loaded 2-core machine
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.25)
    assert not [p for p in pids if _alive(p)], "orphan workers outlived their parent"
    assert not list(Path(tmp_path).rglob("*.json"))  # no cell was written by anyone after the kill
