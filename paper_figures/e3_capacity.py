"""E3 capacity probe (issue 15, item 1): how close does a larger deep SSM get to MiniRocket on a FULL training set?

Validation data only. Per seed, the data set's whole training split is cut (stratified, ``VAL_FRACTION`` of each
class, ``ssm_tdi.data.train_val_split``) into a part that trains and a part that scores; the test split is never
loaded into a score, so a recipe chosen from this table is not tuned on test. Each seed draws a different cut
(repeated random sub-sampling validation: small UCR sets have 10-60 validation samples, so one cut is noisy).

Each VARIANT edits recipe v2 (``configs/e3.json``) in width, depth, step budget or pooling; the edit would apply to
every init alike. The probe trains the study's reference, S4D-Lin, for the variant's whole budget and scores the
last iterate (recipe v2's rule when no separate selection split exists). MiniRocket is fitted on the same part.
The table answers "does capacity close the gap?"; it does not change the recipe: a recipe v3 would invalidate
every committed cell (the recipe is part of a cell's key), which is a planning decision.

    python -m paper_figures.e3_capacity --names GunPoint ItalyPowerDemand --seeds 0 1 2

Results go to ``paper_figures/output/capacity/e3_capacity.{json,md}``; finished (set, variant, seed) entries are
kept, so an interrupted probe resumes.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np

from paper_figures import e3_cell, e3_plan
from paper_figures.common import OUTPUT_ROOT, save_json
from ssm_tdi.stats import paired_difference

VAL_FRACTION = 0.3
OUT = OUTPUT_ROOT / "capacity"
# name: (model overrides, step-budget factor); "v2" is the committed recipe itself.
VARIANTS = {
    "v2": ({}, 1),
    "wide": ({"d_model": 128}, 1),
    "deep": ({"n_layers": 4}, 1),
    "long": ({}, 4),
    "wide+deep+long": ({"d_model": 128, "n_layers": 4}, 4),
    "maxpool": ({"pool": "max"}, 1),
}


def variant_recipe(rec: dict, variant: str) -> dict:
    """Recipe v2 of one data set with ``variant``'s width/depth and step budget."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {sorted(VARIANTS)}, got {variant!r}")
    model, factor = VARIANTS[variant]
    out = copy.deepcopy(rec)
    out["model"].update(model)
    out["train"]["steps"] = int(factor * rec["train"]["steps"])
    return out


def validation_cut(y_train: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, score) positions in the training split; raises if a class would leave nothing to score."""
    from ssm_tdi.data import train_val_split

    fit, score = train_val_split(y_train, VAL_FRACTION, seed)
    if score.size == 0:
        raise ValueError(f"y_train: {y_train.size} samples leave no validation cut at {VAL_FRACTION}")
    return fit, score


def _recipe_and_data_options(name: str, data: dict | None) -> dict:
    return {**e3_plan.recipe(e3_plan.load_config(), "classification", name, "full").get("data", {}), **(data or {})}


def _recipe_and_data(name: str, data: dict | None):
    """The data set's recipe v2 (its loader options updated by ``data``) and the data set it loads."""
    rec = e3_plan.recipe(e3_plan.load_config(), "classification", name, "full")
    rec["data"] = _recipe_and_data_options(name, data)
    return rec, e3_cell.classification_data(name, json.dumps(rec["data"], sort_keys=True))


def ssm_val_accuracy(name: str, variant: str, seed: int, data: dict | None = None, device="cpu") -> dict:
    """S4D-Lin with ``variant``'s recipe, trained on the fit part; accuracy on the score part."""
    from ssm_tdi.training import evaluate, train

    rec, ds = _recipe_and_data(name, data)
    rec = variant_recipe(rec, variant)
    fit, score = validation_cut(ds.y_train, seed)
    (Xf, yf, mf), (Xs, ys, ms) = ds.train_part(fit), ds.train_part(score)
    model = e3_cell.build_model("s4d-lin", rec, d_input=ds.d_input, d_output=ds.n_classes, task="classification",
                                seed=seed, vocab_size=ds.vocab_size, device=device)
    t = e3_cell._t
    res = train(model, t(Xf), t(yf), e3_cell.train_config(rec, "classification", seed), mask=t(mf))
    ev = evaluate(model, t(Xs), t(ys), "classification", t(ms))
    return {"val_accuracy": float(ev["accuracy"]), "steps": int(res.steps), "seconds": float(res.seconds),
            "n_fit": int(fit.size), "n_score": int(score.size)}


def minirocket_val_accuracy(name: str, seed: int, data: dict | None = None) -> dict:
    """MiniRocket (``e3_cell.minirocket_accuracy``, the study's reference) on the same cut."""
    _, ds = _recipe_and_data(name, data)
    if ds.vocab_size is not None:
        raise ValueError(f"names: MiniRocket needs real-valued sequences; {name} holds tokens")
    fit, score = validation_cut(ds.y_train, seed)
    (Xf, yf, _), (Xs, ys, _) = ds.train_part(fit), ds.train_part(score)
    acc, secs = e3_cell.minirocket_accuracy(Xf, yf, Xs, ys, seed)
    return {"val_accuracy": acc, "seconds": secs, "n_fit": int(fit.size), "n_score": int(score.size)}


def data_label(name: str, data: dict | None) -> str:
    """Results key: the data set and the loader options in EFFECT (the recipe's, updated by ``data``), e.g.
    ``JapaneseVowels {"normalize": false}``, so a key keeps meaning the same data when the recipe changes."""
    effective = _recipe_and_data_options(name, data)
    return name if not effective else f"{name} {json.dumps(effective, sort_keys=True)}"


def run_probe(names, seeds, variants, results: dict, save=None, log=print, data: dict | None = None) -> dict:
    """Fill ``results[label][model][seed]`` (model: a variant or "minirocket"), skipping finished entries."""
    for name in names:
        label = data_label(name, data)
        for seed in seeds:
            for model in ["minirocket", *variants]:
                slot = results.setdefault(label, {}).setdefault(model, {})
                if str(seed) in slot:
                    continue
                slot[str(seed)] = (minirocket_val_accuracy(name, seed, data) if model == "minirocket"
                                   else ssm_val_accuracy(name, model, seed, data))
                log(f"capacity: {label} {model} seed {seed}: val accuracy {slot[str(seed)]['val_accuracy']:.3f} "
                    f"({slot[str(seed)]['seconds']:.0f} s)")
                if save is not None:
                    save(results)
    return results


def table(results: dict) -> str:
    """Markdown: per set and variant, mean validation accuracy, the gap to MiniRocket and the gain over recipe
    v2, both paired by seed (the seeds both entries have; an interval needs >= 2)."""
    lines = [f"Validation accuracy on a stratified {VAL_FRACTION:.0%} cut of the full training split (one cut per "
             "seed; the test split is never scored). Gap = S4D-Lin variant - MiniRocket; gain = variant - recipe "
             "v2 (does the change help the SSM at all?); both paired by seed, mean [95% t-interval].", "",
             "| data set | model | seeds | val accuracy | gap to MiniRocket [95% CI] | gain over v2 [95% CI] "
             "| fit s/seed |", "|---|---|---|---|---|---|---|"]
    for name, by in results.items():
        for model, slot in by.items():
            seeds = sorted(slot, key=int)
            acc = np.array([slot[s]["val_accuracy"] for s in seeds])
            gap = _paired_cell(slot, by.get("minirocket", {})) if model != "minirocket" else ""
            gain = _paired_cell(slot, by.get("v2", {})) if model not in ("minirocket", "v2") else ""
            secs = np.mean([slot[s]["seconds"] for s in seeds])
            lines.append(f"| {name} | {model} | {len(seeds)} | {acc.mean():.3f} | {gap} | {gain} | {secs:.0f} |")
    return "\n".join(lines)


def _paired_cell(slot: dict, ref: dict) -> str:
    """'mean [lo, hi]' of slot - ref over their common seeds; empty with fewer than 2."""
    common = sorted(set(slot) & set(ref), key=int)
    if len(common) < 2:
        return ""
    r = paired_difference([slot[s]["val_accuracy"] for s in common], [ref[s]["val_accuracy"] for s in common])
    return f"{r['mean']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_figures.e3_capacity", description=__doc__.splitlines()[0])
    p.add_argument("--names", nargs="+", required=True, help="classification data sets of configs/e3.json")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--data", type=json.loads, default=None,
                   help='loader options over the recipe\'s, as JSON, e.g. \'{"normalize": false}\' (UCR/UEA sets)')
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    if a.data is not None and not isinstance(a.data, dict):
        raise SystemExit(f"--data: expected a JSON object, got {a.data!r}")
    import torch

    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "e3_capacity.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    run_probe(a.names, a.seeds, a.variants, results, save=lambda r: save_json(r, path), data=a.data)
    md = table(results)
    (a.out / "e3_capacity.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
