"""``python -m theory [--json PATH] [-v]``: prove every identity, one line each.

Exit status 0 only if every identity is PROVED.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .identities import run_all


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every sub-check")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    results = run_all()
    for r in results:
        print(r.line())
        if args.verbose or not r.ok:
            for c in r.checks:
                print(f"          {c}")
    n_ok = sum(r.ok for r in results)
    elapsed = time.perf_counter() - t0
    print(f"{n_ok}/{len(results)} identities proved exactly in {elapsed:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"all_proved": n_ok == len(results), "seconds": elapsed,
                       "results": [r.to_dict() for r in results]}, fh, indent=2)
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
