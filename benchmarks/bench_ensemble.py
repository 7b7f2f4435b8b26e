"""Ensemble vs one-at-a-time training of E3 cells: equal results (float rounding) and the CPU time of each.

For one (data set, fraction) of the E3 grid and seeds 0..E-1: the E3 model (recipe of
``paper_figures/configs/e3.json``, s4d-lin init, its seed), the study's training subset and selection split of
each seed, the recipe's optimizer and budget (``--steps`` overrides the step budget to keep the run short), trained
(a) one at a time with ``ssm_tdi.training.train`` and (b) as one ensemble with ``ssm_tdi.ensemble.train_ensemble``.
Printed per member: steps, best epoch, the largest relative difference of the per-epoch train and validation
losses, the largest absolute parameter difference, test accuracy of both; and the CPU seconds of (a) and (b).
Run in float32 (the study's dtype) and float64 (where only summation order can differ: ~1e-16).

Run: ``python benchmarks/bench_ensemble.py [--dataset ItalyPowerDemand] [--fraction 1.0] [--members 5] [--steps 60]``.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import torch
from _common import header, md_table, parse_args, save_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_figures import e3, e3_cell  # noqa: E402


def members(name: str, fraction: float, seeds, steps: int, dtype):
    from ssm_tdi.data import training_subset

    cfg = e3.load_config()
    rec = e3.recipe(cfg, "classification", name, "full")
    rec["train"]["steps"] = steps
    ds = e3.classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
    out = []
    for s in seeds:
        sub = training_subset(ds.y_train, fraction, s)
        tr, va = e3_cell.selection_split(ds.y_train[sub], rec, s)
        parts = [ds.train_part(sub[i]) for i in (tr, va)]
        t = [tuple(None if a is None else torch.as_tensor(a) for a in p) for p in parts]
        model = e3.build_model("s4d-lin", rec, d_input=ds.d_input, d_output=ds.n_classes, task="classification",
                               seed=s, vocab_size=ds.vocab_size).to(dtype)
        out.append({"model": model, "train": t[0], "val": t[1] if va.size else None,
                    "config": e3.train_config(rec, "classification", s)})
    test = tuple(None if a is None else torch.as_tensor(a) for a in (ds.X_test, ds.y_test, ds.mask_test))
    return out, test


def compare(name, fraction, E, steps, dtype) -> dict:
    from ssm_tdi.ensemble import train_ensemble
    from ssm_tdi.training import evaluate, train

    ms, test = members(name, fraction, range(E), steps, dtype)
    singles = [copy.deepcopy(m["model"]) for m in ms]
    t0 = time.process_time()
    rs = []
    for m, model in zip(ms, singles, strict=True):
        v = m["val"] or (None, None, None)
        rs.append(train(model, *m["train"][:2], m["config"], X_val=v[0], y_val=v[1], mask=m["train"][2],
                        mask_val=v[2]))
    t_single = time.process_time() - t0
    ens = [copy.deepcopy(m["model"]) for m in ms]
    val = None if ms[0]["val"] is None else [m["val"] for m in ms]
    t0 = time.process_time()
    re = train_ensemble(ens, [m["train"] for m in ms], [m["config"] for m in ms], val_data=val)
    t_ens = time.process_time() - t0
    rows = []
    for e in range(E):
        a, b = rs[e], re[e]
        la, lb = a.train_loss + a.val_loss, b.train_loss + b.val_loss
        rel = max(abs(x - y) / max(abs(x), 1e-300) for x, y in zip(la, lb, strict=True))
        dp = max(float((p - q).detach().abs().max()) for p, q in zip(singles[e].parameters(), ens[e].parameters(),
                                                                       strict=True))
        acc = [evaluate(m, *test[:2], "classification", test[2])["accuracy"] for m in (singles[e], ens[e])]
        rows.append({"seed": e, "steps": (a.steps, b.steps), "best_epoch": (a.best_epoch, b.best_epoch),
                     "max_rel_loss_diff": rel, "max_param_diff": dp, "test_accuracy": acc})
    return {"rows": rows, "cpu_seconds_single": t_single, "cpu_seconds_ensemble": t_ens}


def main():
    def extra(p):
        p.add_argument("--dataset", default="ItalyPowerDemand")
        p.add_argument("--fraction", type=float, default=1.0)
        p.add_argument("--members", type=int, default=5)
        p.add_argument("--steps", type=int, default=60, help="step budget (the recipe's is 300+)")

    args = parse_args("bench_ensemble", __doc__.splitlines()[0], extra)
    print(header(args))
    out = {}
    for dtype in (torch.float64, torch.float32):
        r = compare(args.dataset, args.fraction, args.members, args.steps, dtype)
        out[str(dtype)] = r
        print(f"\n## {args.dataset}, fraction {args.fraction:g}, {args.members} seeds, {args.steps}-step budget, "
              f"{dtype}\n")
        print(md_table(["seed", "steps (single, ens.)", "best epoch (single, ens.)", "max rel. loss diff",
                        "max |param diff|", "test acc. (single, ens.)"],
                       [[x["seed"], x["steps"], x["best_epoch"], f"{x['max_rel_loss_diff']:.1e}",
                         f"{x['max_param_diff']:.1e}", x["test_accuracy"]] for x in r["rows"]]))
        print(f"\nCPU seconds: one at a time {r['cpu_seconds_single']:.1f}, ensemble {r['cpu_seconds_ensemble']:.1f} "
              f"(speed-up {r['cpu_seconds_single'] / r['cpu_seconds_ensemble']:.2f}x)")
    save_json(args, out)


if __name__ == "__main__":
    main()
