"""Cost of an E3 grid under recipe v2: projected CPU-hours per profile, checked against measured cells.

    python -m paper_figures.e3_cost --profile full [--bench benchmarks/results/cells_cmp/before.r2.json]

A v2 cell trains ``E = max(min_epochs, ceil(steps / nb))`` epochs of ``nb = ceil(n_train / B)`` steps at batch
``b = min(B, n_train)`` and evaluates the validation carve after every epoch and the test split once, so its
CPU time is ``E nb t_step(b) + (E n_val + n_test) t_eval`` (+ TDI). ``t_step`` (at two batch sizes, linear
in between) and ``t_eval`` per data set come from a ``benchmarks/bench_cells.py`` measurement (CPU clock);
``freqbias-val`` trains 4 models when it has a validation split; MiniRocket is charged its measured mean.
The projection is compared with the CPU seconds of every finished cell of the same (data set, init)
(``cpu_seconds`` in the cell records): their ratio is printed and used to scale the projection.
Printed: a table per data set (the whole grid) and one per tier in run order (cells finished, CPU-hours
still to run, cumulative wall hours on ``--workers`` cores): what the next session can finish.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from paper_figures import e3_cell, e3_engine, e3_plan
from paper_figures.common import FIG_DIR, profile_dir

BENCH = FIG_DIR.parent / "benchmarks" / "results" / "cells_cmp" / "before.r2.json"


def _t_step(meas: dict, b: int) -> float:
    tb = sorted((int(k), v) for k, v in meas["t_step"].items())
    (b0, t0), (b1, t1) = tb[0], tb[-1]
    return t0 + (t1 - t0) * (b - b0) / (b1 - b0) if b1 != b0 else t0


def sizes(spec: dict) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) of a cell, from the study's own subset and split functions."""
    rec = spec["recipe"]
    if spec["kind"] == "forecasting":
        fd = e3_cell.forecast_data(spec["name"], rec, spec["x"])
        n_val = fd.X_val.shape[0] if fd.X_val.shape[0] >= rec["min_val"] else 0
        return fd.X_train.shape[0], n_val, fd.X_test.shape[0]
    from ssm_tdi.data import training_subset

    ds = e3_cell.classification_data(spec["name"], json.dumps(rec.get("data", {}), sort_keys=True))
    sub = training_subset(ds.y_train, spec["x"], spec["seed"])
    tr, va = e3_cell.selection_split(ds.y_train[sub], rec, spec["seed"])
    return tr.size, va.size, ds.y_test.size


def projected_cpu_seconds(spec: dict, meas: dict, minirocket_s: float) -> float:
    if spec["init"] == "minirocket":
        return minirocket_s
    t = spec["recipe"]["train"]
    n_tr, n_val, n_test = sizes(spec)
    nb = max(1, math.ceil(n_tr / t["batch_size"]))
    epochs = max(t["min_epochs"], math.ceil(t["steps"] / nb))
    one = epochs * nb * _t_step(meas, min(t["batch_size"], n_tr)) + (epochs * n_val + n_test) * meas["t_eval"]
    models = len(spec["recipe"]["freqbias_alphas"]) if spec["init"] == "freqbias-val" and n_val else 1
    return models * one


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_figures.e3_cost", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="full", choices=("smoke", "quick", "full"))
    p.add_argument("--bench", type=Path, default=BENCH, help="a bench_cells JSON (CPU clock)")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    meas = json.loads(a.bench.read_text())["measured"]
    cfg = e3_plan.load_config()
    tiers, specs = zip(*e3_plan.tiered_run_order(cfg, a.profile), strict=True)
    done, _ = e3_engine.resolve_cached(specs, profile_dir(a.profile), log=lambda *_: None)
    measured = [(specs[i], r["cpu_seconds"]) for i, r in done.items() if "cpu_seconds" in r]
    mr = [c for s, c in measured if s["init"] == "minirocket"]
    mr_s = float(np.mean(mr)) if mr else 60.0
    pairs = [(c, projected_cpu_seconds(s, meas[s["name"]], mr_s)) for s, c in measured if s["init"] != "minirocket"]
    ratio = float(np.median([c / p for c, p in pairs])) if pairs else 1.0
    cost = [ratio * projected_cpu_seconds(s, meas[s["name"]], mr_s) if s["init"] != "minirocket" else mr_s
            for s in specs]
    by_name: dict = {}
    for s, c in zip(specs, cost, strict=True):
        by_name.setdefault(s["name"], []).append(c)
    total = sum(sum(v) for v in by_name.values())
    print(f"profile {a.profile}: {len(specs)} cells; measured/projected CPU ratio {ratio:.2f} over {len(pairs)} "
          f"finished cells (MiniRocket {mr_s:.0f} s each, {len(mr)} measured)")
    print("| data set | cells | CPU-hours | mean CPU s/cell |\n|---|---|---|---|")
    for n, v in by_name.items():
        print(f"| {n} | {len(v)} | {sum(v) / 3600:.2f} | {np.mean(v):.0f} |")
    print(f"| total | {len(specs)} | {total / 3600:.1f} | {total / len(specs):.0f} |")
    print(f"{a.workers} one-thread workers with a core each: {total / 3600 / a.workers:.1f} h wall, "
          f"{len(specs) / (total / 3600 / a.workers):.0f} cells/h")
    print(tier_table(cfg["profiles"][a.profile]["tiers"], tiers, cost, set(done), a.workers))
    return 0


def tier_table(tier_cfg: list[dict], tiers, cost, done: set, workers: int) -> str:
    """Markdown: per tier (run order), cells, cells finished, projected CPU-hours still to run, wall hours."""
    lines = ["| tier | cells | finished | CPU-hours to run | wall hours (cumulative) |", "|---|---|---|---|---|"]
    cum = 0.0
    for t, spec in enumerate(tier_cfg):
        idx = [i for i, ti in enumerate(tiers) if ti == t]
        left = sum(cost[i] for i in idx if i not in done) / 3600
        cum += left / workers
        lines.append(f"| {t + 1} {spec.get('name', '')} | {len(idx)} | {sum(i in done for i in idx)} | "
                     f"{left:.2f} | {cum:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
