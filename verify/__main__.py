"""``python -m verify [--json PATH]``: numerical verification of claims C1-C4 (float64).

Prints one line per check (claim, statement, measured figure, tolerance and its origin,
PASS/FAIL), optionally writes every row with its details to JSON, and exits 1 if any
check fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np
import torch

from ssm_tdi._io import atomic_write_bytes


def _plain(x):
    """JSON fallback for numpy / torch scalars and arrays."""
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray | np.generic):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify", description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write all rows and their details to PATH")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: many mid-size LAPACK calls on a busy 2-core "
                             "machine run faster single-threaded)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    from .claims import run_all
    from .common import format_table

    t0 = time.perf_counter()
    rows = run_all()
    total = time.perf_counter() - t0
    print(format_table(rows))
    n_fail = sum(not r.passed for r in rows)
    print(f"\n{len(rows) - n_fail}/{len(rows)} checks passed in {total:.1f} s (float64, "
          f"torch {torch.__version__}, threads={torch.get_num_threads()})")
    if args.json:
        payload = {"passed": n_fail == 0, "seconds": round(total, 2), "torch": torch.__version__,
                   "python": platform.python_version(), "rows": [r.to_dict() for r in rows]}
        # atomic: a full disk or a size limit raises and leaves the previous results.json intact
        atomic_write_bytes(args.json, (json.dumps(payload, indent=1, default=_plain) + "\n").encode())
        print(f"wrote {args.json}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
