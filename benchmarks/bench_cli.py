"""Start-up time of the command line: ``ssm-tdi --help`` against a bare interpreter and ``import torch``.

    python benchmarks/bench_cli.py [--repeats 7]

Prints the median and range of the wall time of each command (fresh interpreters, run one after the
other, interleaved so that load on a shared machine hits all of them alike). ``--help`` builds the
parser only; torch and numpy are imported by the commands that compute (issue 13: 3.9 s before).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -m ssm_tdi.cli --help": [sys.executable, "-m", "ssm_tdi.cli", "--help"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    times = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    print(f"# {platform.node()} {platform.machine()} python {platform.python_version()}, {args.repeats} runs each")
    print("| command | median s | min s | max s |\n|---|---|---|---|")
    for name, t in times.items():
        print(f"| `{name}` | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} |")


if __name__ == "__main__":
    main()
