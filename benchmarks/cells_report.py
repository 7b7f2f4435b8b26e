"""Before/after table of bench_cells runs: medians over repeated runs of each label, side by side.

The runs are interleaved by the caller (before, after, ensemble, before, after, ... in separate
processes; ``--src`` of an older library through PYTHONPATH), each written by
``bench_cells.py --label L --json DIR/L.rK.json``. This script reads ``DIR/*.json`` and prints, per data
set, the median seconds per optimizer step at the recipe batch for each label, the ratio to the first
label, and each label's projected profile wall times (median over its runs).

Run: ``python benchmarks/cells_report.py benchmarks/results/cells_cmp [--labels before after ens5]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from _common import fmt_s, md_table


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir", type=Path)
    p.add_argument("--labels", nargs="+", default=None)
    a = p.parse_args()
    runs: dict[str, list[dict]] = {}
    for f in sorted(a.dir.glob("*.json")):
        d = json.loads(f.read_text())
        runs.setdefault(d["label"], []).append(d)
    labels = a.labels or list(runs)
    first = labels[0]
    names = list(runs[first][0]["measured"])
    rows = []
    for n in names:
        row = [n]
        meds = {}
        for lab in labels:
            ts = []
            for r in runs[lab]:
                tb = r["measured"][n]["t_step"]
                ts.append(tb[max(tb, key=int)])
            meds[lab] = statistics.median(ts)
            row.append(fmt_s(meds[lab]))
        row += [f"{meds[first] / meds[lab]:.2f}x" for lab in labels[1:]]
        rows.append(row)
    print("## seconds per optimizer step at the recipe batch (median over runs; CPU clock, 1 thread)\n")
    print(md_table(["data set", *labels, *[f"speed-up {lab}" for lab in labels[1:]]], rows))
    from bench_cells import e3, project

    cfg = e3.load_config()
    prow = []
    for lab in labels:
        meas = {}
        for n in names:
            bs = runs[lab][0]["measured"][n]["t_step"]
            meas[n] = {"t_step": {b: statistics.median(r["measured"][n]["t_step"][b] for r in runs[lab]) for b in bs},
                       "t_eval": statistics.median(r["measured"][n]["t_eval"] for r in runs[lab]), "t_tdi": {}}
        for prof in ("quick", "full"):
            pr = project(cfg, prof, meas)
            prow.append([prof, lab, pr["ssm_cells"], f"{pr['core_seconds'] / 3600:.2f} h",
                         f"{pr['wall_seconds_2cores'] / 3600:.2f} h", f"{pr['ssm_cells_per_hour_2cores']:.0f}"])
    print("\n## projected wall time on 2 cores of the current configs/e3.json profiles (recipe v2, "
          "from the median measurements; TDI counted as free, MiniRocket cells not costed)\n")
    print(md_table(["profile", "label", "SSM cells", "core-hours", "wall on 2 cores", "SSM cells/h on 2 cores"],
                   prow))
    print("\nruns per label: " + ", ".join(f"{lab} {len(runs[lab])}" for lab in labels)
          + "; load average at the start of each run: "
          + "; ".join(f"{lab} {[r['machine']['loadavg_start'][0] for r in runs[lab]]}" for lab in labels))


if __name__ == "__main__":
    main()
