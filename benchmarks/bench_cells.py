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

Projection: every cell of the ``quick`` and ``full`` profiles of ``paper_figures/configs/e3.json``
(``e3.plan_specs``; ``full`` is the powered grid of issue 15: 15 data sets, 10 seeds for the primary
tier, 5 for the rest, controls and secondary inits), each costed by ``paper_figures.e3_cost``'s model of a
recipe-v2 cell (``epochs * nb * t_step(b) + (epochs * n_val + n_test) * t_eval``, the study's own subset
sizes) plus its TDI call; MiniRocket reference cells are listed but not costed. A profile's wall time is
the sum divided by 2 (two one-thread workers on 2 cores).

Run: ``python benchmarks/bench_cells.py [--quick] [--threads 1] [--ensemble E] [--no-tdi]``.
"""

from __future__ import annotations

import json
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
CLOCK = time.process_time  # --clock: CPU seconds of this (one-thread) process, or wall seconds


def dataset_case(kind: str, name: str, cfg: dict) -> dict:
    """Data and recipe of one data set (the 'full' profile's recipe); its training set is what is timed."""
    rec = e3.recipe(cfg, kind, name, "full")
    if kind == "classification":
        ds = e3.classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
        return {"kind": kind, "name": name, "rec": rec, "X": ds.X_train, "y": ds.y_train, "mask": ds.mask_train,
                "d_input": ds.d_input, "d_output": ds.n_classes, "vocab": ds.vocab_size, "task": "classification",
                "L": int(ds.X_train.shape[1])}
    fd = e3.forecast_data(name, rec, 1.0)
    return {"kind": kind, "name": name, "rec": rec, "X": fd.X_train, "y": fd.Y_train, "mask": None, "d_input": 1,
            "d_output": rec["horizon"], "vocab": None, "task": "regression", "L": int(fd.X_train.shape[1])}


def _config(case: dict, seed: int, epochs: int):
    """The recipe's TrainConfig with an explicit epoch count (full batch: one step per epoch)."""
    make = getattr(e3, "train_config", None)
    if make is not None:
        cfg = make(case["rec"], case["task"], seed, epochs=epochs)
    else:  # the engine before issue 15's split (the 'before' runs import an older paper_figures)
        cfg = e3._train_config(case["rec"], case["task"], seed, epochs, False)
    cfg.batch_size = None
    return cfg


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
        cfgs = [_config(case, s, 1) for s in range(ensemble)]
        data = [(X, y, m)] * ensemble
        train_ensemble(models, data, cfgs)  # warm-up
        cfgs = [_config(case, s, steps) for s in range(ensemble)]
        t0 = CLOCK()
        train_ensemble(models, data, cfgs)
        return (CLOCK() - t0) / (steps * ensemble)
    model = _model(case)
    train(model, X, y, _config(case, 0, 1), mask=m)  # warm-up (first-call allocations, FFT plans)
    cfg = _config(case, 0, steps)
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
        e3.apply_init(model, init, X, mask=m, seed=0, **kw)
        secs.append(CLOCK() - t0)
    return secs[-1]


def _interp(tb: dict, b: int) -> float:
    if len(tb) == 1:
        return next(iter(tb.values()))
    (b0, t0), (b1, t1) = sorted(tb.items())
    return t0 + (t1 - t0) * (b - b0) / (b1 - b0)


def project(cfg: dict, profile: str, meas: dict) -> dict:
    """CPU seconds of every SSM cell of a profile (``paper_figures.e3_cost``'s model of a v2 cell) + its TDI call.

    MiniRocket cells (the non-SSM reference) are counted but not costed here (none of this script's levers).
    """
    from paper_figures import e3_cost

    specs = [s for kind in ("classification", "forecasting") for s in e3.plan_specs(cfg, profile, kind)[1]]
    tot, n_ssm = 0.0, 0
    for s in specs:
        if s["init"] == "minirocket":
            continue
        n_ssm += 1
        tot += e3_cost.projected_cpu_seconds(s, meas[s["name"]], 0.0)
        tdi = e3.INITS[s["init"]].get("tdi")
        if tdi is not None:
            tot += meas[s["name"]]["t_tdi"].get(tdi[0], 0.0)
    return {"cells": len(specs), "ssm_cells": n_ssm, "core_seconds": tot, "wall_seconds_2cores": tot / 2,
            "ssm_cells_per_hour_2cores": n_ssm / (tot / 2 / 3600)}


def main():
    def extra(p):
        p.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 5, quick 3)")
        p.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 6, quick 3)")
        p.add_argument("--ensemble", type=int, default=0, help="measure E members trained as one (0: off)")
        p.add_argument("--no-tdi", action="store_true", help="skip the TDI timing (TDI counted as free)")
        p.add_argument("--slice-only", action="store_true", help="only the 4 data sets of the fixed slice")
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
        rows.append([n, c["L"], B, fmt_s(m["t_step"][B]), fmt_s(min(m["t_step"].values())),
                     f"{m['t_eval'] * 1e3:.2f} ms", fmt_s(m["t_tdi"].get("first", float("nan"))),
                     fmt_s(m["t_tdi"].get("per-layer", float("nan")))])
    mode = f"ensemble of {args.ensemble}, per member" if args.ensemble else "one run at a time"
    print(f"\n## per-data-set costs ({mode}; medians of {reps} interleaved rounds, {steps} steps each)\n")
    print(md_table(["data set", "L", "batch B", "s/step at B", "s/step at B/4", "eval / seq", "TDI first",
                    "TDI per-layer"], rows))
    proj = {}
    if not args.slice_only:
        prows = []
        for profile in ("quick", "full"):
            proj[profile] = pr = project(cfg, profile, meas)
            prows.append([profile, pr["cells"], pr["ssm_cells"], f"{pr['core_seconds'] / 3600:.2f} h",
                          f"{pr['wall_seconds_2cores'] / 3600:.2f} h", f"{pr['ssm_cells_per_hour_2cores']:.0f}"])
        print("\n## projected wall time per profile of configs/e3.json (recipe v2 step budget; "
              f"TDI {'counted as free' if args.no_tdi else 'included'}; MiniRocket cells not costed)\n")
        print(md_table(["profile", "cells", "SSM cells", "core-hours", "wall on 2 cores", "SSM cells/h on 2 cores"],
                       prows))
    save_json(args, {"label": args.label, "clock": args.clock, "ensemble": args.ensemble, "repeats": reps,
                     "steps": steps, "measured": meas, "raw": raw, "projection": proj})

if __name__ == "__main__":
    main()
