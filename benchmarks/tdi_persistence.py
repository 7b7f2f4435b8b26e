"""Does the first layer's TDI spectrum survive training? (issue 11, item 1: choose the parameterization)

Setting: ``DeepSSM`` d_model 64, d_state 64, 2 layers, dropout 0.1, seed s; training subset
``training_subset(y_train, 0.25, s)`` (30 sequences of length 1460), AdamW with ``layers.param_groups``
(lr 1e-2, ssm_lr 1e-3, weight decay 1e-2, clip 1, batch 16), one of two recipes (``--recipe``):

* ``v1`` (default; the E3 recipe the issue-11 audit used, fixed here so the numbers stay reproducible):
  40 epochs; the 20% validation carve is empty at 3 per class, so all 40 x 2 = 80 steps are trained.
* ``v2``: the current ``paper_figures/configs/e3.json`` recipe for ACSF1 (a budget of ``steps`` optimizer
  steps with an epoch floor; validation carve only with >= ``min_val`` samples, so none here): 300 steps.
TDI: ``apply_tdi(model, X_subset, estimator="input", layers="first")`` with the candidate's options.

Candidates (what is done to the first SSM layer; every other parameter trains as in the recipe):

* ``default``               S4D-Lin, trained as in the recipe
* ``default-frozen``        S4D-Lin, first layer's dynamics (log_dt, A, B) frozen (``layers.freeze_dynamics``)
* ``tdi-keep``              TDI as before issue 11: each channel keeps its random dt, A = log(lam)/dt
* ``tdi-s4d-dt``            TDI with dt_h chosen so the channel's fastest |a| = pi N2 (``dt_mode="s4d"``)
* ``tdi-unit-dt``           TDI with a common dt = 1, A = log(lam) (``dt_mode="unit"``)
* ``tdi-lr0.1``/``-lr0.01`` TDI, first layer's dynamics at 0.1 / 0.01 x ssm_lr (``set_dynamics_lr_scale``)
* ``tdi-frozen``            TDI, first layer's dynamics frozen (C, D still train)
* ``tdi-frozen-dt``         TDI, only log_dt frozen (which parameter carries the drift?)

Measured per (candidate, seed), on the first layer's |H_L,h(w_j)|^2 (L = 1460, float64 from the stored
parameters, ``diagnostics.layer_persistence``): L_spec (mean over channels) between the spectrum after ONE
optimizer step of the recipe and the init (``one_step``), between the trained and the initial spectrum
(``drift``), against S_task before/after, the kernel effective rank at init and after training, and (for
information only, never used to choose) the test accuracy.

Run: ``python benchmarks/tdi_persistence.py [--seeds 3] [--candidates a,b]``; cells are cached in
``benchmarks/results/tdi_persistence_cells/`` (delete to recompute) and the table is printed.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _common import RESULTS_DIR, header, md_table, parse_args, save_json

from ssm_tdi import diagnostics, layers
from ssm_tdi.data import load_dataset, train_val_split, training_subset
from ssm_tdi.models import DeepSSM
from ssm_tdi.tdi import apply_tdi
from ssm_tdi.training import TrainConfig, evaluate, train

CONFIG = json.loads((Path(__file__).resolve().parents[1] / "paper_figures" / "configs" / "e3.json").read_text())
DATASET, FRACTION = "ACSF1", 0.25
RECIPE_V1 = {"model": {"d_model": 64, "d_state": 64, "n_layers": 2, "dropout": 0.1},
             "train": {"epochs": 40, "batch_size": 16, "lr": 0.01, "ssm_lr": 0.001, "weight_decay": 0.01,
                       "patience": 15, "grad_clip": 1.0},
             "val_fraction": 0.2, "min_val": 2}

# name -> (TDI options or None, treatment of the first layer: None | "freeze" | "freeze-dt" | lr scale)
CANDIDATES = {
    "default": (None, None),
    "default-frozen": (None, "freeze"),
    "tdi-keep": ({"dt_mode": "keep"}, None),
    "tdi-s4d-dt": ({"dt_mode": "s4d"}, None),
    "tdi-unit-dt": ({"dt_mode": "unit"}, None),
    "tdi-lr0.1": ({"dt_mode": "keep"}, 0.1),
    "tdi-lr0.01": ({"dt_mode": "keep"}, 0.01),
    "tdi-frozen": ({"dt_mode": "keep"}, "freeze"),
    "tdi-frozen-dt": ({"dt_mode": "keep"}, "freeze-dt"),
}


def recipe(name: str, version: str) -> dict:
    if version == "v1":
        return RECIPE_V1
    rec = {k: dict(v) if isinstance(v, dict) else v for k, v in CONFIG["defaults"].items()}
    for k, v in CONFIG["classification"][name].items():
        rec[k] = {**rec.get(k, {}), **v} if isinstance(v, dict) else v
    return rec


def treat(layer, how) -> None:
    if how == "freeze":
        layers.freeze_dynamics(layer)
    elif how == "freeze-dt":
        layer.log_dt.requires_grad_(False)
    elif how is not None:
        layers.set_dynamics_lr_scale(layer, how)


def run_cell(cand: str, seed: int, ds, rec: dict) -> dict:
    tdi_kw, how = CANDIDATES[cand]
    sub = training_subset(ds.y_train, FRACTION, seed)
    tr_rel, va_rel = train_val_split(ds.y_train[sub], rec["val_fraction"], seed)
    Xs, _, _ = ds.train_part(sub)
    Xtr, ytr, _ = ds.train_part(sub[tr_rel])
    m = rec["model"]
    model = DeepSSM(ds.d_input, ds.n_classes, d_model=m["d_model"], d_state=m["d_state"], n_layers=m["n_layers"],
                    dropout=m["dropout"], init="s4d-lin", task="classification", seed=seed)
    L = Xs.shape[1]
    first = model.ssm_layers[0]
    target = None
    out = {"candidate": cand, "seed": seed, "n_train": len(tr_rel), "n_val": len(va_rel)}
    if tdi_kw is not None:
        t0 = time.perf_counter()
        # the treatment is applied below, the same way for every arm (apply_tdi(dynamics=...) does the same)
        rep = apply_tdi(model, torch.as_tensor(Xs), estimator="input", layers="first", seed=seed,
                        dynamics="train", **tdi_kw)[0]
        out["tdi_seconds"] = time.perf_counter() - t0
        target = rep.target_spectrum
    treat(first, how)
    P0 = diagnostics.layer_power(first, L)
    init = diagnostics.layer_persistence(first, L, target=target, reference=P0)
    checkpoints = {}

    def cb(step, mdl):
        if step == 1 or step % 20 == 0:  # (v2: every 20 of 300 steps)
            checkpoints[step] = diagnostics.layer_persistence(mdl.ssm_layers[0], L, target=target, reference=P0)

    t = rec["train"]
    has_val = len(va_rel) >= rec["min_val"]
    budget = {"epochs": t["epochs"]} if "epochs" in t else {"steps": t["steps"], "min_epochs": t["min_epochs"]}
    cfg = TrainConfig(task="classification", batch_size=t["batch_size"], lr=t["lr"], ssm_lr=t["ssm_lr"],
                      weight_decay=t["weight_decay"], patience=t.get("patience") if has_val else None, seed=seed,
                      grad_clip=t["grad_clip"], **budget)
    if not has_val:
        tr_rel, va_rel = np.arange(len(sub)), np.zeros(0, dtype=np.int64)
        Xtr, ytr, _ = ds.train_part(sub)
    if has_val:  # not the case at ACSF1 25% (3 per class) in either recipe
        Xva, yva, _ = ds.train_part(sub[va_rel])
        res = train(model, torch.as_tensor(Xtr), torch.as_tensor(ytr), cfg, X_val=torch.as_tensor(Xva),
                    y_val=torch.as_tensor(yva), callback=cb)
    else:
        res = train(model, torch.as_tensor(Xtr), torch.as_tensor(ytr), cfg, callback=cb)
    final = diagnostics.layer_persistence(first, L, target=target, reference=P0)
    ev = evaluate(model, torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test), "classification")
    out.update(one_step=checkpoints[1]["lspec_reference"], drift=final["lspec_reference"],
               lspec_target_init=init["lspec_target"], lspec_target_final=final["lspec_target"],
               erank_init=init["effective_rank"], erank_final=final["effective_rank"],
               dc_gain_share_init=init["power_dc_share"], dc_gain_share_final=final["power_dc_share"],
               train_loss_final=res.train_loss[-1], steps=res.steps, train_seconds=res.seconds,
               test_accuracy_info=ev["accuracy"],
               checkpoints={k: v["lspec_reference"] for k, v in sorted(checkpoints.items())})
    return out


def main():
    def extra(p):
        p.add_argument("--seeds", type=int, default=3)
        p.add_argument("--candidates", default=",".join(CANDIDATES))
        p.add_argument("--recipe", choices=("v1", "v2"), default="v1")

    args = parse_args("tdi_persistence", __doc__.splitlines()[0], extra)
    if args.recipe != "v1" and args.json == RESULTS_DIR / "tdi_persistence.json":
        args.json = RESULTS_DIR / f"tdi_persistence.{args.recipe}.json"
    cands = [c for c in args.candidates.split(",") if c]
    bad = [c for c in cands if c not in CANDIDATES]
    if bad:
        sys.exit(f"--candidates: unknown {bad}; expected names from {list(CANDIDATES)}")
    print(header(args), flush=True)
    cell_dir = RESULTS_DIR / "tdi_persistence_cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(DATASET, seed=0)
    rec = recipe(DATASET, args.recipe)
    tag = "" if args.recipe == "v1" else f"_{args.recipe}"
    cells = []
    for seed in range(args.seeds):
        for cand in cands:
            path = cell_dir / f"{cand}_s{seed}{tag}.json"
            if path.exists():
                cells.append(json.loads(path.read_text()))
                continue
            c = run_cell(cand, seed, ds, rec)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(c, indent=1))
            tmp.replace(path)
            cells.append(c)
            print(f"{cand} seed {seed}: one-step {c['one_step']:.3g}, drift {c['drift']:.3g}, "
                  f"erank {c['erank_init']:.3g} -> {c['erank_final']:.3g} ({c['train_seconds']:.0f}s)", flush=True)
    keys = ("one_step", "drift", "lspec_target_init", "lspec_target_final", "erank_init", "erank_final",
            "test_accuracy_info")
    rows, summary = [], {}
    for cand in cands:
        cs = [c for c in cells if c["candidate"] == cand]
        summary[cand] = {k: [c[k] for c in cs] for k in keys}

        def fmt(k, cs=cs):
            v = [c[k] for c in cs if c[k] == c[k]]
            if not v:
                return "-"
            return f"{statistics.mean(v):.3g}" + (f" [{min(v):.3g}, {max(v):.3g}]" if len(v) > 1 else "")

        rows.append([cand, str(len(cs))] + [fmt(k) for k in keys])
    print(f"\n{DATASET} at {FRACTION:.0%}, recipe {args.recipe}: first-layer L_spec, mean [min, max] over seeds "
          "(drift = L_spec(trained, init); acceptance: drift < 0.2)")
    print(md_table(["candidate", "seeds", "one step", "drift", "vs S_task init", "vs S_task trained",
                    "erank init", "erank trained", "test acc (info)"], rows))
    save_json(args, {"cells": cells, "summary": summary})


if __name__ == "__main__":
    main()
