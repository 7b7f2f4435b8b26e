"""Shared plumbing of the benchmark scripts (measurements, not tests).

Every ``benchmarks/bench_<name>.py``:

* takes ``--device auto|cpu|cuda``, ``--quick``, ``--threads`` (torch intra-op threads, pinned for
  the whole run; default 1 so that timings on a shared machine are reproducible) and ``--json``;
* prints the machine (CPU model, cores, torch version, threads, load average at start and end)
  and markdown tables of measured numbers and ratios;
* writes the same numbers to ``benchmarks/results/<name>[.quick].json``.

Timings are medians over repeats, with ``torch.cuda.synchronize`` around each one on CUDA.
Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above the level at the start of the
measured region; on CPU the same quantity reconstructed from the torch profiler's allocation
events (``profile_memory=True``): every allocation and free of torch's CPU allocator inside the
region, summed in time order, the maximum of the running sum. It counts tensor storage only
(no Python objects, no allocator slack, no FFT plan caches) and excludes tensors that already
existed when the region started.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

__all__ = [
    "parse_args", "machine_info", "sync", "time_fn", "peak_memory", "save_json", "md_table",
    "fmt_s", "fmt_bytes", "fmt_e", "header", "BENCH_DIR", "RESULTS_DIR",
]


def parse_args(name: str, description: str, extra=None, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=description)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--quick", action="store_true", help="smaller budgets and fewer repeats")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads for the whole run (default 1: stable on a shared machine)")
    p.add_argument("--json", type=Path, default=None,
                   help=f"where to write the numbers (default benchmarks/results/{name}[.quick].json)")
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    from ssm_tdi.training import resolve_device

    args.device = resolve_device(args.device)
    if args.threads < 1:
        p.error("--threads: expected an integer >= 1")
    torch.set_num_threads(args.threads)
    args.name = name
    if args.json is None:
        args.json = RESULTS_DIR / f"{name}{'.quick' if args.quick else ''}.json"
    args.t_start = time.perf_counter()
    args.machine = machine_info(args.device)
    return args


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def library_fingerprint() -> str:
    """sha256 (first 12 hex digits) of the ssm_tdi source files as imported: which library was measured."""
    import hashlib

    import ssm_tdi

    h = hashlib.sha256()
    for f in sorted(Path(ssm_tdi.__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def machine_info(device: torch.device) -> dict:
    info = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "ssm_tdi_sources_sha256": library_fingerprint(),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "loadavg_start": _load(),
    }
    return info


def header(args) -> str:
    m = args.machine
    gpu = f", GPU {m['gpu']}" if m["gpu"] else ""
    return (f"# {args.name}{' (--quick)' if args.quick else ''}\n"
            f"machine: {m['cpu_model']}, {m['logical_cores']} logical cores "
            f"({m['affinity_cores']} usable), torch {m['torch']}, python {m['python']}, "
            f"torch threads {m['threads']}, device {m['device']}{gpu}, "
            f"load average (1/5/15 min) at start {m['loadavg_start']}\n"
            f"{m['date_utc']} UTC, ssm_tdi sources sha256 {m['ssm_tdi_sources_sha256']}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn, device: torch.device, repeats: int = 5, warmup: int = 1) -> dict:
    """Run ``fn()`` ``warmup`` + ``repeats`` times; seconds of the timed runs (median, min, all)."""
    for _ in range(warmup):
        fn()
    sync(device)
    ts = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        ts.append(time.perf_counter() - t0)
    return {"median": statistics.median(ts), "min": min(ts), "all": ts}


def peak_memory(fn, device: torch.device) -> int:
    """Peak bytes allocated by torch above the level at the start, while running ``fn()`` once.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: the running sum of the profiler's allocation
    events of the CPU allocator (see the module docstring); raises RuntimeError if this torch
    build does not expose them.
    """
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    try:
        raw = prof.profiler.kineto_results.events()
    except AttributeError as exc:  # pragma: no cover - depends on the torch build
        raise RuntimeError("this torch build does not expose profiler allocation events") from exc
    mem = [e for e in raw if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    mem.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in mem:
        cur += e.nbytes()
        peak = max(peak, cur)
    return int(peak)


class _quiet_stderr:
    """Silence file descriptor 2 (the profiler's C++ start/stop chatter) inside the block; Python
    exceptions still propagate and are printed after it is restored."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 2)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        os.close(self.null)
        return False


def save_json(args, payload: dict) -> Path:
    args.machine["loadavg_end"] = _load()
    args.machine["wall_seconds"] = round(time.perf_counter() - args.t_start, 1)
    out = {"benchmark": args.name, "quick": bool(args.quick),
           "command": " ".join([sys.argv[0], *sys.argv[1:]]), "machine": args.machine, **payload}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(out, indent=2, default=_jsonable) + "\n")
    tmp.replace(path)
    print(f"\nload average at end {args.machine['loadavg_end']}, wall {args.machine['wall_seconds']} s; "
          f"numbers written to {path}")
    return path


def _jsonable(x):
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, (torch.device, torch.dtype, Path)):
        return str(x)
    raise TypeError(f"not JSON serializable: {type(x)}")


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_s(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.1f} ms"
    return f"{x * 1e6:.0f} us"


def fmt_bytes(n: float) -> str:
    for unit, k in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_e(x: float, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}e}"
