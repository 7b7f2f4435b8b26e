"""Shared plumbing of the figure scripts: profiles, command line, atomic outputs, summaries.

Every figure script ``paper_figures/fig_<name>.py`` runs as a module of the ``paper_figures`` package
(``python -m paper_figures.fig_<name> --profile quick``; the repository root must be the working
directory or on ``sys.path``, as ``make figure-<name>`` arranges):

* defines ``PROFILES = {"smoke": {...}, "quick": {...}, "full": {...}}`` (sizes, trials);
* calls :func:`parse_args` and :func:`run_figure`-style helpers below;
* writes, by default into ``paper_figures/output/<profile>/`` (one folder per profile, so a smoke run
  never overwrites the committed quick outputs), ``<name>.pdf``, ``<name>.png``, ``<name>.json`` (all numbers drawn) and
  ``<name>.summary.json`` (claim, command, profile, key numbers, a reading in words whose
  verdicts are computed from the numbers, never typed in).

``paper_figures/results_page.py`` assembles the summaries into ``paper_figures/RESULTS.md``.
Outputs are written to a temporary file and renamed, so an interrupted run never
leaves a half-written file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ssm_tdi.training import resolve_device  # noqa: E402

FIG_DIR = Path(__file__).resolve().parent
OUTPUT_ROOT = FIG_DIR / "output"
COMMITTED_PROFILE = "quick"  # the profile whose outputs are committed and feed RESULTS.md and the report
PROFILE_NAMES = ("smoke", "quick", "full")


def profile_dir(profile: str) -> Path:
    """``paper_figures/output/<profile>``: where a profile's outputs go unless ``--out`` says otherwise."""
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile: expected one of {PROFILE_NAMES}, got {profile!r}")
    return OUTPUT_ROOT / profile


DEFAULT_OUT = profile_dir(COMMITTED_PROFILE)

__all__ = [
    "FIG_DIR", "OUTPUT_ROOT", "COMMITTED_PROFILE", "DEFAULT_OUT", "profile_dir", "parse_args",
    "atomic_write_bytes", "save_figure", "save_json",
    "write_summary", "mean_ci", "Timer", "profile_note", "platform_fingerprint",
]


def parse_args(name: str, description: str, argv=None, extra=None) -> argparse.Namespace:
    """The common command line; ``extra(parser)`` may add script-specific options."""
    p = argparse.ArgumentParser(prog=f"python -m paper_figures.fig_{name}", description=description)
    if extra is not None:
        extra(p)
    p.add_argument("--profile", choices=PROFILE_NAMES, default=os.environ.get("PROFILE", "quick"),
                   help="sizes and trial counts: smoke (seconds, for CI), quick (default), full (paper quality)")
    p.add_argument("--device", default=os.environ.get("DEVICE", "auto"),
                   help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default paper_figures/output/<profile>)")
    p.add_argument("--seed", type=int, default=0, help="base seed; every trial derives its own from it")
    args = p.parse_args(argv)
    args.device = resolve_device(args.device)
    args.name = name
    if args.out is None:
        args.out = profile_dir(args.profile)
    args.out.mkdir(parents=True, exist_ok=True)
    args.command = f"python -m paper_figures.fig_{name} --profile {args.profile}"
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    # The figures do many small dense factorizations; on the 2-core machine, threading
    # them costs far more than it gains (a 32x32 SVD: ~90 ms threaded vs < 1 ms on one).
    if args.device.type == "cpu":
        torch.set_num_threads(1)
    return args


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """The project's one atomic writer (fsync, size check, rename; see ``ssm_tdi._io``)."""
    from ssm_tdi._io import atomic_write_bytes as write

    write(path, data)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _jsonable(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def save_json(obj, path: Path) -> None:
    atomic_write_bytes(path, (json.dumps(_jsonable(obj), indent=1, sort_keys=False) + "\n").encode())


def save_figure(fig, out: Path, name: str) -> list[Path]:
    """Write ``name.pdf`` and ``name.png`` atomically; close the figure."""
    paths = []
    for ext in ("pdf", "png"):
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=f".{ext}")
        os.close(fd)
        try:
            fig.savefig(tmp, format=ext, dpi=130, bbox_inches="tight")
            os.chmod(tmp, 0o644)
            os.replace(tmp, out / f"{name}.{ext}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        paths.append(out / f"{name}.{ext}")
    plt.close(fig)
    return paths


def profile_note(args, extra: str = "") -> str:
    """Text stamped on every figure: which profile and sizes made it."""
    return f"profile={args.profile}" + (f"; {extra}" if extra else "")


def write_summary(args, *, title: str, claim: str, key_numbers: dict, reading: str,
                  seconds: float, extra: dict | None = None) -> None:
    """The record the results page is built from (one per figure)."""
    save_json({
        "name": args.name,
        "title": title,
        "claim": claim,
        "command": args.command,
        "profile": args.profile,
        "device": str(args.device),
        "seconds": round(seconds, 2),
        "key_numbers": key_numbers,
        "reading": reading,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform_fingerprint(),
        **(extra or {}),
    }, args.out / f"{args.name}.summary.json")


def platform_fingerprint() -> dict:
    """What decides CPU floating-point results bit for bit: the CPU, the SIMD code paths the
    libraries dispatch to and the library versions (``paper_figures/reproduce.py`` expects
    bit-identical numbers only when this matches the reference's)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:  # numpy's runtime SIMD dispatch (honours NPY_DISABLE_CPU_FEATURES)
        from numpy._core._multiarray_umath import __cpu_features__
        simd = [k for k, v in __cpu_features__.items() if v]
    except ImportError:
        simd = []
    import scipy

    return {
        "machine": platform.machine(), "cpu": cpu, "libc": "-".join(platform.libc_ver()),
        "torch_simd": torch.backends.cpu.get_cpu_capability(), "numpy_simd": simd,
        "python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def mean_ci(values, axis=0, level: float = 0.95):
    """Mean and half-width of the Student-t confidence interval along ``axis``."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    n = v.shape[axis]
    m = v.mean(axis=axis)
    if n < 2:
        return m, np.full_like(m, np.nan)
    se = v.std(axis=axis, ddof=1) / math.sqrt(n)
    return m, stats.t.ppf(0.5 + level / 2, n - 1) * se


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
