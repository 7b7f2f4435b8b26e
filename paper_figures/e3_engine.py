"""E3: running a grid of cells, in process or on dask.distributed, resumable through the cell cache.

:func:`run_cells` loads every cell it can trust from the cache (``e3_cache``: per-cell files, then the
committed stores), says which cached cells it rejects and why, and computes the rest:

* ``jobs=1`` without a scheduler (and always on CUDA): one after the other in this process;
* otherwise on dask.distributed: an embedded ``LocalCluster`` of ``jobs`` single-threaded worker
  processes, or, with ``scheduler="tcp://host:port"``, an existing cluster (``dask scheduler`` +
  ``dask worker`` on any machines, or dask-jobqueue on Slurm/PBS; its workers need this repository
  on their path and the package installed). Each worker returns the cell's record; this process
  writes it (atomically) into the cache, which is the only shared state: a killed run resumes where
  it stopped, and a finished cell is never recomputed unless its spec changed.

Workers of the embedded cluster die with this process: each runs a watcher thread that ends the
worker as soon as its parent process is gone (kill -9 included; issue 13 item 6), and results are
written only here, so an orphan could not write a cell anyway. A progress line counts cells and
projects the remaining time from the mean time per finished cell.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import time
from pathlib import Path

from paper_figures import e3_cache
from paper_figures.e3_plan import FIG_DIR, cell_key


# ----------------------------------------------------------------------------- in a worker
@functools.lru_cache(maxsize=1)
def code_id() -> str:
    """SHA-1 (12 hex) of the library and cell sources that computed a cell (recorded, not part of the key)."""
    root = FIG_DIR.parent
    h = hashlib.sha1()
    for p in sorted([*(root / "src" / "ssm_tdi").rglob("*.py"), FIG_DIR / "e3_cell.py"]):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def compute_cell(spec: dict, device: str = "cpu") -> dict:
    """Run one cell (one thread) and return its record."""
    import torch

    from paper_figures.e3_cell import run_cell

    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_cell(spec, device=device)
    return e3_cache.make_record(spec, result, time.perf_counter() - t0, device,
                                {"cpu_seconds": time.process_time() - c0, "torch": torch.__version__,
                                 "code": code_id()})


def _parent_watch(pid: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(3)
        except PermissionError:  # alive, owned by someone else
            pass
        if os.getppid() == 1 and pid != 1:  # re-parented to init: the parent is gone
            os._exit(3)


def start_parent_watch(pid: int, interval: float = 0.5) -> int:
    """Start (once per worker) a daemon thread that ends this process when process ``pid`` is gone."""
    if not any(t.name == "e3-parent-watch" for t in threading.enumerate()):
        threading.Thread(target=_parent_watch, args=(pid, interval), name="e3-parent-watch", daemon=True).start()
    return os.getpid()


# ----------------------------------------------------------------------------- progress
class Progress:
    """``[done/total] pct  elapsed  ETA`` after every cell (rewritten in place on a terminal)."""

    def __init__(self, total: int, log=print, stream=None):
        self.total, self.done, self.t0, self.log = total, 0, time.perf_counter(), log
        self.tty = (stream or sys.stderr).isatty()

    def line(self, what: str = "") -> str:
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done) if self.done else float("nan")
        return (f"e3 [{self.done}/{self.total}] {100 * self.done / max(self.total, 1):.0f}%  "
                f"elapsed {_hms(el)}  ETA {_hms(eta)}  {what}")

    def update(self, what: str = "") -> None:
        self.done += 1
        if self.tty:
            print("\r" + self.line(what)[:150].ljust(150), end="" if self.done < self.total else "\n",
                  file=sys.stderr, flush=True)
        else:
            self.log(self.line(what))


def _hms(s: float) -> str:
    if s != s:
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _label(spec: dict) -> str:
    return f"{spec['name']} {spec['init']} x={spec['x']:g} s{spec['seed']}"


# ----------------------------------------------------------------------------- the grid
def resolve_cached(specs: list[dict], out: Path | None, log=print, store: dict | None = None,
                   local: bool = True) -> tuple[dict, list[int]]:
    """({index: record} of trusted cached cells, indices to compute); logs every rejected cache entry.

    local=False reads the committed store only (not the cell files under ``out``, which may then be None), so that
    a table built that way depends on committed cells alone."""
    store = e3_cache.load_store() if store is None else store
    records, todo = {}, []
    for i, spec in enumerate(specs):
        path = e3_cache.cell_path(out, spec) if local else None
        rec, why = e3_cache.read_cell_file(path, spec) if local else (None, None)
        if rec is None and why is not None:
            log(f"e3: cached cell {path.name} ({_label(spec)}) rejected: {why}; recomputing")
        if rec is None:
            key = cell_key(spec)
            if key in store:
                err = e3_cache.validate(store[key], spec)
                if err is None:
                    rec = store[key]
                else:
                    log(f"e3: committed cell {key} ({_label(spec)}) rejected: {err}; recomputing")
        if rec is None:
            todo.append(i)
        else:
            records[i] = rec
    return records, todo


def committed_records(specs: list[dict], log=print, store: dict | None = None) -> list[dict | None]:
    """Records of ``specs`` from the committed store alone (None where a cell is not committed): nothing trains and
    no cell folder is read, so what is built from them depends on the committed cells only."""
    records, _ = resolve_cached(specs, None, log, store, local=False)
    return [records.get(i) for i in range(len(specs))]


def run_cells(specs: list[dict], out: Path, device="cpu", jobs: int | None = None, scheduler: str | None = None,
              log=print, store: dict | None = None, compute_missing: bool = True,
              local_cache: bool = True) -> list[dict | None]:
    """Records of every cell in the order of ``specs`` (cached or computed; None where not computed).

    local_cache=False: only the committed store counts as cached (see ``resolve_cached``)."""
    out = Path(out)
    records, todo = resolve_cached(specs, out, log, store, local=local_cache)
    log(f"e3: {len(specs)} cells, {len(records)} cached, {len(todo)} to run"
        + ("" if compute_missing else " (not computed: tabulating finished cells only)"))
    if todo and compute_missing:
        dev = str(device)
        if jobs is None:  # a few cells: starting workers (importing torch, aeon) costs more than it saves
            jobs = 1 if dev.startswith("cuda") or len(todo) < 20 else max(1, min(2, os.cpu_count() or 1))
        if scheduler is None and (jobs == 1 or dev.startswith("cuda")):
            _run_serial(specs, todo, out, dev, records, log)
        else:
            _run_dask(specs, todo, out, dev, records, log, jobs, scheduler)
    return [records.get(i) for i in range(len(specs))]


def _run_serial(specs, todo, out, dev, records, log) -> None:
    prog = Progress(len(todo), log)
    for i in todo:
        records[i] = compute_cell(specs[i], dev)
        e3_cache.write_cell_file(out, records[i])
        prog.update(f"{_label(specs[i])} {records[i]['seconds']:.0f} s")


def _run_dask(specs, todo, out, dev, records, log, jobs: int, scheduler: str | None) -> None:
    import logging

    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        pids = client.run(start_parent_watch, os.getpid())
        log(f"e3: embedded dask LocalCluster, {jobs} worker processes x 1 thread, "
            f"worker pids {' '.join(str(v) for v in pids.values())}")
    else:
        client = Client(scheduler)
        log(f"e3: dask scheduler {scheduler}, {len(client.scheduler_info()['workers'])} workers")
    failed = []
    try:
        futs = {client.submit(compute_cell, specs[i], dev, key=f"e3-cell-{cell_key(specs[i])}", pure=False,
                              priority=len(todo) - n): i for n, i in enumerate(todo)}
        prog = Progress(len(todo), log)
        for fut in as_completed(futs):
            i = futs[fut]
            try:
                records[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - one failed cell must not lose the others
                failed.append(f"{_label(specs[i])}: {type(exc).__name__}: {exc}")
                log(f"e3: cell {_label(specs[i])} failed: {type(exc).__name__}: {exc}")
                continue
            e3_cache.write_cell_file(out, records[i])
            prog.update(f"{_label(specs[i])} {records[i]['seconds']:.0f} s")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if failed:
        raise RuntimeError(f"{len(failed)} cells failed (the others are cached): " + "; ".join(failed[:5]))
