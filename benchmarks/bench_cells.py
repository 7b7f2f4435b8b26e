"""Cells per hour of the real-data study E3: measured step costs, projected wall time of each profile.

A cell of E3 is one training run (data set, init, fraction or span, seed) of the DeepSSM in
``paper_figures/configs/e3.json``. Its cost is almost all optimizer steps and evaluation passes, so
this script measures, for every data set of the grid (15: 12 classification sets, 3 series), on the
data set's real sequences and with its recipe (model, batch size, optimizer, grad clip, dropout):

* ``t_step(b)``: seconds per optimizer step of ``ssm_tdi.training.train`` at batch b, for b = the
  recipe batch (capped at the training-set size) and b/4; steps at other batch sizes are linearly
  interpolated in b (a step is per-step overhead + a part linear in b). Measured by training the
  freshly built s4d-lin model for ``--steps`` full-batch steps (after one warm-up call), in
  ``--repeats`` interleaved rounds over all data sets (a change of the machine's load hits every
  data set alike); the median over rounds is used.
* ``t_eval``: seconds per sequence of ``training.evaluate`` (eval mode, batch 512), same rounds.
* ``t_tdi``: one ``apply_tdi`` call (first layer / per layer, input estimator) on the full
  training set (an upper bound for smaller fractions), once per data set (``--no-tdi`` skips it
  and counts TDI as free).
* with ``--ensemble E``: ``t_step`` of E members trained as one (``ssm_tdi.ensemble``), divided by E.

Clock: ``--clock cpu`` (default) times with ``time.process_time`` (CPU seconds of this process,
one thread): on a machine shared with other jobs it measures the work, not the waiting; the
projection then assumes 2 cores free for the study. ``--clock wall`` gives elapsed time.

Projection: a cell costs ``steps * t_step(b) + (epochs * n_val + n_test) * t_eval + t_tdi(init)``,
with ``steps = epochs * ceil(n_train / batch)`` (the recipe's full budget: early stopping can only
shorten it, so this is an upper bound) and n_train / n_val from the study's own subset and split
functions at seed 0. Pretraining spends part of the same epoch budget on next-step prediction, at
the same step cost. A profile's wall time is the sum over its cells divided by 2 (two worker
processes with one thread each, as ``paper_figures.e3.run_cells`` runs them on 2 cores).

Profiles: ``quick`` and ``full`` from e3.json (7 inits per data set), and ``powered``, the grid of
the powered study (issue 15): all 15 data sets x 5 fractions/spans x 8 inits/controls, 10 seeds for
the 2 inits of the primary comparison and 5 for the 6 others. ``--steps-per-cell S`` adds the
projection under a fixed optimizer-step budget S per cell (recipe v2 of issue 15).

Run: ``python benchmarks/bench_cells.py [--quick] [--threads 1] [--ensemble E] [--no-tdi]``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import fmt_s, header, md_table, parse_args, save_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figures import e3  # noqa: E402

# the fixed slice named by the issue: L = 24, 64, 150, 1460
SLICE = ("ItalyPowerDemand", "digits", "GunPoint", "ACSF1")
PRIMARY = ("s4d-lin", "tdi-first-input")
N_INITS_POWERED, SEEDS_PRIMARY, SEEDS_OTHER = 8, 10, 5
CLOCK = time.process_time  # --clock: CPU seconds of this (one-thread) process, or wall seconds


def dataset_case(kind: str, name: str, cfg: dict) -> dict:
    """Data, recipe and grid sizes of one data set (the profile 'full' recipe)."""
    rec = e3.recipe(cfg, kind, name, "full")
    if kind == "classification":
        from ssm_tdi.data import train_val_split, training_subset

        ds = e3.classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
        X, y, m = ds.X_train, ds.y_train, ds.mask_train
        sizes = {}
        for f in cfg["fractions"] + rec.get("extra_fractions", []):
            sub = training_subset(ds.y_train, f, 0)
            tr, va = train_val_split(ds.y_train[sub], rec["val_fraction"], 0)
            sizes[f] = (int(tr.size), int(va.size) if va.size >= 2 else 0)
        return {"kind": kind, "name": name, "rec": rec, "X": X, "y": y, "mask": m, "X_test_n": int(ds.y_test.size),
                "d_input": ds.d_input, "d_output": ds.n_classes, "vocab": ds.vocab_size, "task": "classification",
                "sizes": sizes, "L": int(X.shape[1])}
    sizes = {}
    for s in cfg["spans"]:
        try:
            fd = e3.forecast_data(name, rec, s)
        except ValueError as exc:
            if "train_span" in str(exc):
                continue
            raise
        sizes[s] = (int(fd.X_train.shape[0]), int(fd.X_val.shape[0]))
        full = fd
    return {"kind": kind, "name": name, "rec": rec, "X": full.X_train, "y": full.Y_train, "mask": None,
            "X_test_n": int(full.X_test.shape[0]), "d_input": 1, "d_output": rec["horizon"], "vocab": None,
            "task": "regression", "sizes": sizes, "L": int(full.X_train.shape[1])}


def _model(case: dict, init: str = "s4d-lin", seed: int = 0):
    return e3.build_model(init, case["rec"], d_input=case["d_input"], d_output=case["d_output"], task=case["task"],
                          seed=seed, vocab_size=case["vocab"])


def _rows(case: dict, b: int):
    X = torch.as_tensor(case["X"][:b])
    y = torch.as_tensor(case["y"][:b])
    m = None if case["mask"] is None else torch.as_tensor(case["mask"][:b])
    return X, y, m


def step_time(case: dict, b: int, steps: int, ensemble: int = 0) -> float:
    """Seconds per optimizer step of ``training.train`` (full batch of b rows), after one warm-up call."""
    from ssm_tdi.training import train

    X, y, m = _rows(case, b)
    if ensemble:
        from ssm_tdi.ensemble import train_ensemble

        models = [_model(case, seed=s) for s in range(ensemble)]
        cfgs = [e3._train_config(case["rec"], case["task"], s, 1, False) for s in range(ensemble)]
        data = [(X, y, m)] * ensemble
        train_ensemble(models, data, cfgs)  # warm-up
        cfgs = [e3._train_config(case["rec"], case["task"], s, steps, False) for s in range(ensemble)]
        t0 = CLOCK()
        train_ensemble(models, data, cfgs)
        return (CLOCK() - t0) / (steps * ensemble)
    model = _model(case)
    cfg1 = e3._train_config(case["rec"], case["task"], 0, 1, False)
    cfg1.batch_size = None
    train(model, X, y, cfg1, mask=m)  # warm-up (first-call allocations, FFT plans)
    cfg = e3._train_config(case["rec"], case["task"], 0, steps, False)
    cfg.batch_size = None
    t0 = CLOCK()
    res = train(model, X, y, cfg, mask=m)
    return (CLOCK() - t0) / res.steps


def eval_time(case: dict) -> float:
    """Seconds per sequence of ``training.evaluate`` (eval mode, batch 512)."""
    from ssm_tdi.training import evaluate

    n = min(512, case["X"].shape[0])
    X, y, m = _rows(case, n)
    model = _model(case)
    evaluate(model, X, y, case["task"], m)
    t0 = CLOCK()
    evaluate(model, X, y, case["task"], m)
    return (CLOCK() - t0) / n


def tdi_time(case: dict, init: str) -> float:
    """Seconds of one apply_tdi call of ``init`` on the full training set (first call after a warm-up one)."""
    X, y, m = _rows(case, case["X"].shape[0])
    kw = {"labels": y.numpy()} if case["task"] == "classification" else {"y": y}
    secs = []
    for _ in range(2):
        model = _model(case, init)
        t0 = CLOCK()
        e3._tdi(model, init, X, mask=m, seed=0, **kw)
        secs.append(CLOCK() - t0)
    return secs[-1]


def _interp(tb: dict, b: int) -> float:
    if len(tb) == 1:
        return next(iter(tb.values()))
    (b0, t0), (b1, t1) = sorted(tb.items())
    return t0 + (t1 - t0) * (b - b0) / (b1 - b0)


def cell_seconds(case: dict, meas: dict, x: float, init: str, steps_per_cell: int | None = None) -> float:
    n_tr, n_val = case["sizes"][x]
    t = case["rec"]["train"]
    B = t["batch_size"]
    per_epoch = max(1, math.ceil(n_tr / B))
    b = min(B, n_tr)
    epochs = t["epochs"]
    steps = epochs * per_epoch
    if steps_per_cell is not None:
        steps = steps_per_cell
        epochs = math.ceil(steps / per_epoch)
    secs = steps * _interp(meas["t_step"], b) + (epochs * n_val + case["X_test_n"]) * meas["t_eval"]
    tdi = e3.INITS.get(init, ("", None, False))[1]
    if tdi is not None:
        secs += meas["t_tdi"].get(tdi[0], 0.0)
    return secs


def profile_cells(cfg: dict, profile: str, cases: dict) -> list[tuple]:
    """(case name, x, init) of every cell of a profile (seeds expanded)."""
    cells = []
    for kind, inits in (("classification", e3.CLASSIFICATION_INITS), ("forecasting", e3.FORECAST_INITS)):
        if profile == "powered":
            names = [n for n in cfg[kind] if not n.startswith("_")]
            seeds_of = {i: SEEDS_PRIMARY if i in PRIMARY else SEEDS_OTHER for i in inits}
            # 8 inits/controls: the 7 configured ones + one control at the cost of s4d-lin (e.g. shuffled S_task
            # is a TDI init: counted at the tdi-first-input cost)
            inits = list(inits) + ["control"]
            seeds_of["control"] = SEEDS_OTHER
        else:
            plan = e3.profile_plan(cfg, profile, kind)
            names = plan["names"]
            seeds_of = dict.fromkeys(inits, len(plan["seeds"]))
        for name in names:
            case = cases[name]
            grid = list(case["sizes"]) if profile != "quick" else [x for x in case["sizes"]
                                                                    if x in cfg["fractions" if kind ==
                                                                               "classification" else "spans"]]
            for x in grid:
                for init in inits:
                    cells += [(name, x, "tdi-first-input" if init == "control" else init)] * seeds_of[init]
    return cells


def main():
    def extra(p):
        p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5, quick 3)")
        p.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 6, quick 3)")
        p.add_argument("--ensemble", type=int, default=0, help="measure E members trained as one (0: off)")
        p.add_argument("--no-tdi", action="store_true", help="skip the TDI timing (TDI counted as free)")
        p.add_argument("--slice-only", action="store_true", help="only the 4 data sets of the fixed slice")
        p.add_argument("--steps-per-cell", type=int, default=None, help="also project a fixed step budget")
        p.add_argument("--label", default="", help="a label stored with the numbers (e.g. 'before')")
        p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                       help="cpu (default): process CPU time, robust to other jobs time-sharing the cores; "
                            "wall: elapsed time")

    args = parse_args("bench_cells", __doc__.splitlines()[0], extra)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    reps = args.repeats or (3 if args.quick else 5)
    steps = args.steps or (3 if args.quick else 6)
    print(header(args))
    cfg = e3.load_config()
    names = [("classification", n) for n in cfg["classification"] if not n.startswith("_")]
    names += [("forecasting", n) for n in cfg["forecasting"] if not n.startswith("_")]
    if args.slice_only:
        names = [(k, n) for k, n in names if n in SLICE]
    cases = {n: dataset_case(k, n, cfg) for k, n in names}
    bs = {}
    for n, c in cases.items():
        B = min(c["rec"]["train"]["batch_size"], c["X"].shape[0])
        bs[n] = sorted({B, max(2, B // 4)})
    raw = {n: {"t_step": {b: [] for b in bs[n]}, "t_eval": []} for n in cases}
    for r in range(reps):
        for n, c in cases.items():
            for b in bs[n]:
                raw[n]["t_step"][b].append(step_time(c, b, steps, args.ensemble))
            raw[n]["t_eval"].append(eval_time(c))
        print(f"round {r + 1}/{reps} done, load {list(round(x, 2) for x in __import__('os').getloadavg())}",
              flush=True)
    meas = {}
    for n, c in cases.items():
        meas[n] = {"t_step": {b: statistics.median(v) for b, v in raw[n]["t_step"].items()},
                   "t_eval": statistics.median(raw[n]["t_eval"]), "t_tdi": {}}
        if not args.no_tdi:
            for init, key in (("tdi-first-input", "first"), ("tdi-layers-input", "per-layer")):
                meas[n]["t_tdi"][key] = tdi_time(c, init)
    rows = []
    for n, c in cases.items():
        m = meas[n]
        B = max(m["t_step"])
        t_full = cell_seconds(c, m, max(c["sizes"]), "s4d-lin")
        rows.append([n, c["L"], B, fmt_s(m["t_step"][B]), fmt_s(min(m["t_step"].values())),
                     f"{m['t_eval'] * 1e3:.2f} ms", fmt_s(m["t_tdi"].get("first", float("nan"))),
                     fmt_s(m["t_tdi"].get("per-layer", float("nan"))), fmt_s(t_full), f"{3600 / t_full:.0f}"])
    mode = f"ensemble of {args.ensemble}, per member" if args.ensemble else "one run at a time"
    print(f"\n## per-data-set costs ({mode}; medians of {reps} interleaved rounds, {steps} steps each)\n")
    print(md_table(["data set", "L", "batch B", "s/step at B", "s/step at B/4", "eval / seq", "TDI first",
                    "TDI per-layer", "cell (s4d-lin, x=1, full budget)", "cells/h (1 core)"], rows))
    proj = {}
    prows = []
    if not args.slice_only:
        for profile in ("quick", "full", "powered"):
            for budget in (None, args.steps_per_cell) if args.steps_per_cell else (None,):
                cells = profile_cells(cfg, profile, cases)
                tot = sum(cell_seconds(cases[n], meas[n], x, i, budget) for n, x, i in cells)
                key = profile + ("" if budget is None else f"@{budget}steps")
                proj[key] = {"cells": len(cells), "core_seconds": tot, "wall_seconds_2cores": tot / 2,
                             "cells_per_hour_2cores": len(cells) / (tot / 2 / 3600)}
                prows.append([key, len(cells), f"{tot / 3600:.2f} h", f"{tot / 2 / 3600:.2f} h",
                              f"{len(cells) / (tot / 2 / 3600):.0f}"])
        print("\n## projected wall time per profile (recipe's full epoch budget: an upper bound)\n")
        print(md_table(["profile", "cells", "core-hours", "wall on 2 cores", "cells/h on 2 cores"], prows))
    save_json(args, {"label": args.label, "clock": args.clock, "ensemble": args.ensemble, "repeats": reps,
                     "steps": steps,
                     "measured": meas, "raw": raw, "projection": proj,
                     "sizes": {n: {str(k): v for k, v in c["sizes"].items()} for n, c in cases.items()}})


if __name__ == "__main__":
    main()
