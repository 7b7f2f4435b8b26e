"""Engine of the real-data study E3 (issues 5 and 7): configs, one training run ("cell"), the cell cache.

A cell is one (data set, init, training fraction or span, seed). Everything it does is decided by
``paper_figures/configs/e3.json`` and these arguments; the same function runs the classification
sets (UCR/UEA via aeon, MNIST-1D, digits, ListOps, Pathfinder) and the forecasting series:

* data: the training SUBSET is ``ssm_tdi.data.training_subset(y_train, fraction, seed)``
  (stratified, >= 1 per class, nested across fractions); the validation split is carved out of it
  (``train_val_split``). Forecasting keeps the last ``span`` of the training span
  (``forecast_splits``). Every init of one (fraction, seed) sees the SAME subset, so comparisons
  across inits are paired by seed.
* model: ``DeepSSM`` with the data set's recipe and ``seed``; the TDI and pretraining variants
  start from the s4d-lin model of the same seed (identical weights before TDI/pretraining).
* TDI: ``ssm_tdi.tdi.apply_tdi`` on the training subset in use only (train + its validation
  carve; never the test split), ``layers="first"`` (the paper's protocol) or ``"per-layer"``,
  estimator ``input`` / ``discriminative`` (classification) / ``transfer`` (forecasting: the
  dense seq2seq targets). Its wall time is recorded next to the training time.
* pretrain (classification only): next-step prediction for ``pretrain.fraction`` of the epoch
  budget, then the task for the rest (``ssm_tdi.pretrain.pretrain_budget``): the same number of
  epochs as every other init. For forecasting the task itself is next-step-like prediction, so
  this baseline would only be more epochs of nearly the same objective; it is not run there.
* score: classification test accuracy; forecasting test MSE and MASE of the forecast read at the
  last position of each test window, in original units (MASE scaled by the naive in-sample error
  over the WHOLE training span, so scores are comparable across spans).

Cells are cached as one JSON file each under ``<out>/e3_cells/`` (atomic writes), keyed by a hash
of everything that determines them: an interrupted run resumes where it stopped and a finished
cell is never recomputed unless its spec changed. ``run_cells`` runs cells in worker processes
(one thread each) on CPU, in-process on CUDA.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from paper_figures.common import FIG_DIR, save_json
from ssm_tdi.inits import FREQBIAS_ALPHA

CONFIG_PATH = FIG_DIR / "configs" / "e3.json"
CELL_DIR = "e3_cells"
VERSION = 2  # bump when the cell function changes meaning (invalidates the cache)

# init name -> (base init of the SSM layers, TDI (layers, estimator) or None, pretrain?)
INITS = {
    "s4d-lin": ("s4d-lin", None, False),
    "s4d-legs": ("s4d-legs", None, False),
    "freqbias": ("freqbias", None, False),
    "tdi-first-input": ("s4d-lin", ("first", "input"), False),
    "tdi-first-disc": ("s4d-lin", ("first", "discriminative"), False),
    "tdi-first-transfer": ("s4d-lin", ("first", "transfer"), False),
    "tdi-layers-input": ("s4d-lin", ("per-layer", "input"), False),
    "tdi-layers-disc": ("s4d-lin", ("per-layer", "discriminative"), False),
    "tdi-layers-transfer": ("s4d-lin", ("per-layer", "transfer"), False),
    "pretrain": ("s4d-lin", None, True),
}
CLASSIFICATION_INITS = ("s4d-lin", "s4d-legs", "freqbias", "tdi-first-input", "tdi-first-disc",
                        "tdi-layers-input", "pretrain")
FORECAST_INITS = ("s4d-lin", "s4d-legs", "freqbias", "tdi-first-input", "tdi-first-transfer",
                  "tdi-layers-input", "tdi-layers-transfer")
DEFAULT_INIT = "s4d-lin"
TDI_MAIN = "tdi-first-input"  # the paper's protocol (first layer) with the label-free estimator
LABELS = {
    "s4d-lin": "S4D-Lin (default)", "s4d-legs": "S4D-LegS", "freqbias": f"freqbias (a={FREQBIAS_ALPHA:g})",
    "tdi-first-input": "TDI first, input", "tdi-first-disc": "TDI first, discriminative",
    "tdi-first-transfer": "TDI first, transfer", "tdi-layers-input": "TDI per-layer, input",
    "tdi-layers-disc": "TDI per-layer, discriminative", "tdi-layers-transfer": "TDI per-layer, transfer",
    "pretrain": "S4D-Lin + next-step pretraining",
}
COLORS = {
    "s4d-lin": "tab:blue", "s4d-legs": "tab:cyan", "freqbias": "tab:purple", "tdi-first-input": "tab:red",
    "tdi-first-disc": "tab:orange", "tdi-first-transfer": "tab:orange", "tdi-layers-input": "tab:brown",
    "tdi-layers-disc": "tab:pink", "tdi-layers-transfer": "tab:pink", "pretrain": "tab:green",
}


# ----------------------------------------------------------------------------- config
def load_config(path: Path = CONFIG_PATH) -> dict:
    return json.loads(Path(path).read_text())


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k.startswith("_"):
            continue
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def recipe(cfg: dict, kind: str, name: str, profile: str) -> dict:
    """The data set's recipe: defaults <- its entry <- (smoke only) the profile's override."""
    if name not in cfg[kind]:
        raise ValueError(f"name: {name!r} has no recipe in {CONFIG_PATH.name}[{kind!r}]")
    r = _merge(cfg["defaults"], cfg[kind][name])
    return _merge(r, cfg["profiles"][profile].get("override", {}))


def profile_plan(cfg: dict, profile: str, kind: str) -> dict:
    """Data sets, seeds and fractions (classification) or spans (forecasting) of a profile."""
    p = cfg["profiles"][profile]
    names = p.get(kind, [])
    if names == "all":
        names = [n for n in cfg[kind] if not n.startswith("_")]
    grid_key = "fractions" if kind == "classification" else "spans"
    return {"names": list(names), "seeds": list(range(int(p["seeds"]))),
            "grid": list(p.get(grid_key, cfg[grid_key]))}


# ----------------------------------------------------------------------------- data (cached per process)
@functools.lru_cache(maxsize=8)
def classification_data(name: str, data_kw_json: str = "{}"):
    from ssm_tdi.data import load_dataset

    return load_dataset(name, seed=0, **json.loads(data_kw_json))


@functools.lru_cache(maxsize=4)
def series_data(name: str):
    from ssm_tdi.data.forecasting import load_series

    return load_series(name)


def forecast_data(name: str, rec: dict, span: float):
    from ssm_tdi.data.forecasting import forecast_splits

    return forecast_splits(series_data(name), rec["window"], rec["horizon"], train_span=span,
                           stride=rec.get("stride", 1))


# ----------------------------------------------------------------------------- model
def build_model(init: str, rec: dict, *, d_input: int, d_output: int, task: str, seed: int,
                vocab_size=None, device="cpu"):
    from ssm_tdi.models import DeepSSM

    base = INITS[init][0]
    kw = {"alpha": FREQBIAS_ALPHA} if base == "freqbias" else None
    m = rec["model"]
    model = DeepSSM(d_input, d_output, d_model=m["d_model"], d_state=m["d_state"], n_layers=m["n_layers"],
                    dropout=m["dropout"], init=base, task=task, vocab_size=vocab_size, seed=seed,
                    init_kwargs=kw)
    return model.to(device)


def _train_config(rec: dict, task: str, seed: int, epochs: int, has_val: bool):
    from ssm_tdi.training import TrainConfig

    t = rec["train"]
    return TrainConfig(task=task, epochs=int(epochs), batch_size=t["batch_size"], lr=t["lr"], ssm_lr=t["ssm_lr"],
                       weight_decay=t["weight_decay"], patience=t["patience"] if has_val else None, seed=seed,
                       grad_clip=t.get("grad_clip"))


def _tdi(model, init, X, *, y=None, labels=None, mask=None, seed=0):
    from ssm_tdi.tdi import apply_tdi

    layers, estimator = INITS[init][1]
    t0 = time.perf_counter()
    reports = apply_tdi(model, X, y=y, labels=labels, estimator=estimator, layers=layers, mask=mask, seed=seed)
    secs = time.perf_counter() - t0
    return secs, [{"layer": r.layer_index, "loss_before": r.loss_before_mean, "loss_after": r.loss_after_mean,
                   "residue_ratio_max": float(r.residue_ratio[1])} for r in reports]


def _t(a, device=None):
    return None if a is None else torch.as_tensor(a, device=device)


# ----------------------------------------------------------------------------- cells
def cell_spec(kind: str, name: str, init: str, x: float, seed: int, rec: dict) -> dict:
    rec = {k: v for k, v in rec.items() if k != "extra_fractions"}  # the grid, not how a cell trains
    return {"version": VERSION, "kind": kind, "name": name, "init": init, "x": float(x), "seed": int(seed),
            "recipe": rec}


def cell_key(spec: dict) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def run_classification_cell(name: str, init: str, fraction: float, seed: int, rec: dict, device="cpu") -> dict:
    from ssm_tdi.data import train_val_split, training_subset
    from ssm_tdi.training import evaluate, train

    ds = classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
    sub = training_subset(ds.y_train, fraction, seed)
    tr_rel, va_rel = train_val_split(ds.y_train[sub], rec["val_fraction"], seed)
    tr, va = sub[tr_rel], sub[va_rel]
    Xs, ys, ms = ds.train_part(sub)
    Xtr, ytr, mtr = ds.train_part(tr)
    Xva, yva, mva = ds.train_part(va)
    model = build_model(init, rec, d_input=ds.d_input, d_output=ds.n_classes, task="classification", seed=seed,
                        vocab_size=ds.vocab_size, device=device)
    out = {"n_subset": int(sub.size), "n_train": int(tr.size), "n_val": int(va.size), "tdi_seconds": 0.0,
           "pretrain_seconds": 0.0, "tdi": None}
    if INITS[init][1] is not None:
        out["tdi_seconds"], out["tdi"] = _tdi(model, init, _t(Xs), labels=ys, mask=_t(ms), seed=seed)
    epochs = rec["train"]["epochs"]
    if INITS[init][2]:
        from ssm_tdi.pretrain import pretrain, pretrain_budget

        pre, epochs = pretrain_budget(epochs, rec["pretrain"]["fraction"])
        t = rec["train"]
        pr = pretrain(model, _t(Xtr, device), mask=_t(mtr, device), epochs=pre,
                      objective=rec["pretrain"]["objective"], lr=t["lr"], ssm_lr=t["ssm_lr"],
                      batch_size=t["batch_size"], weight_decay=t["weight_decay"], seed=seed,
                      grad_clip=t.get("grad_clip"))
        out["pretrain_seconds"], out["pretrain_epochs"] = pr.seconds, pre
    has_val = va.size >= 2
    res = train(model, _t(Xtr), _t(ytr), _train_config(rec, "classification", seed, epochs, has_val),
                X_val=_t(Xva) if has_val else None, y_val=_t(yva) if has_val else None, mask=_t(mtr),
                mask_val=_t(mva) if has_val else None)
    ev = evaluate(model, _t(ds.X_test), _t(ds.y_test), "classification", _t(ds.mask_test))
    out.update(accuracy=ev["accuracy"], test_loss=ev["loss"], train_seconds=res.seconds, steps=res.steps,
               epochs_run=len(res.train_loss), best_epoch=res.best_epoch)
    return out


def forecast_scores(fd, pred_norm_test: np.ndarray) -> dict:
    """Test MSE and MASE in original units of normalized forecasts (n_test, H)."""
    from ssm_tdi.baselines import mase, mse

    pred = fd.denormalize(pred_norm_test, "test")
    scale = fd.meta.get("mase_scale_full", fd.mase_scale)
    return {"mse": mse(pred, fd.raw_test_targets), "mase": mase(pred, fd.raw_test_targets, scale)}


def run_forecast_cell(name: str, init: str, span: float, seed: int, rec: dict, device="cpu") -> dict:
    from ssm_tdi.training import train

    fd = forecast_data(name, rec, span)
    H = rec["horizon"]
    model = build_model(init, rec, d_input=1, d_output=H, task="regression", seed=seed, device=device)
    out = {"n_train": int(fd.X_train.shape[0]), "n_val": int(fd.X_val.shape[0]), "tdi_seconds": 0.0, "tdi": None}
    if INITS[init][1] is not None:
        out["tdi_seconds"], out["tdi"] = _tdi(model, init, _t(fd.X_train), y=_t(fd.Y_train), seed=seed)
    res = train(model, _t(fd.X_train), _t(fd.Y_train),
                _train_config(rec, "regression", seed, rec["train"]["epochs"], True),
                X_val=_t(fd.X_val), y_val=_t(fd.Y_val))
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(_t(fd.X_test[i:i + 256], device))[:, -1, :].double().cpu()
                          for i in range(0, fd.X_test.shape[0], 256)]).numpy()
    ex = example_window(fd)
    out.update(forecast_scores(fd, pred), train_seconds=res.seconds, steps=res.steps,
               epochs_run=len(res.train_loss), best_epoch=res.best_epoch,
               example_index=ex, example_forecast=fd.denormalize(pred, "test")[ex].tolist())
    return out


def example_window(fd) -> int:
    """The test window drawn in the forecast plot: the middle one (fixed, not chosen by score)."""
    return int(fd.X_test.shape[0] // 2)


def _span_fits(name: str, rec: dict, span: float) -> bool:
    try:
        forecast_data(name, rec, span)
    except ValueError as exc:
        if "train_span" in str(exc):
            return False
        raise
    return True


def forecast_baselines(name: str, rec: dict, span: float) -> dict:
    """Seasonal naive and a ridge linear autoregression on the same (normalized) windows."""
    from ssm_tdi.baselines import fit_linear_ar, mase, mse, seasonal_naive

    fd = forecast_data(name, rec, span)
    scale = fd.meta.get("mase_scale_full", fd.mase_scale)
    out = {}
    if fd.window >= fd.period:
        sn = seasonal_naive(fd.raw_test_context, fd.horizon, fd.period)
        out["seasonal-naive"] = {"mse": mse(sn, fd.raw_test_targets), "mase": mase(sn, fd.raw_test_targets, scale)}
    ar = fit_linear_ar(fd.X_train[:, :, 0].astype(np.float64), fd.Y_train[:, -1, :].astype(np.float64))
    ar_pred = ar.predict(fd.X_test[:, :, 0].astype(np.float64))
    out["linear-ar"] = forecast_scores(fd, ar_pred)
    ex = example_window(fd)
    out["example"] = {"index": ex, "context": fd.raw_test_context[ex].tolist(),
                      "target": fd.raw_test_targets[ex].tolist(),
                      "linear-ar": fd.denormalize(ar_pred, "test")[ex].tolist()}
    if "seasonal-naive" in out:
        out["example"]["seasonal-naive"] = sn[ex].tolist()
    return out


def _worker(job):
    """Run one cell in a worker process and write its JSON atomically; returns (path, record)."""
    spec, path, device = job
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    fn = run_classification_cell if spec["kind"] == "classification" else run_forecast_cell
    result = fn(spec["name"], spec["init"], spec["x"], spec["seed"], spec["recipe"], device=device)
    rec = {"key": cell_key(spec), "spec": spec, "result": result, "seconds": time.perf_counter() - t0,
           "device": str(device), "torch": torch.__version__}
    save_json(rec, Path(path))
    return path, rec


def cell_path(out: Path, spec: dict) -> Path:
    x = f"{spec['x']:.4g}"
    return Path(out) / CELL_DIR / spec["kind"] / spec["name"] / f"{spec['init']}__{x}__s{spec['seed']}.json"


def run_cells(specs: list[dict], out: Path, device, jobs: int | None = None, log=print) -> list[dict]:
    """Run (or load from the cache) every cell; returns their records in the order of ``specs``."""
    records: dict[int, dict] = {}
    todo = []
    for i, spec in enumerate(specs):
        p = cell_path(out, spec)
        if p.exists():
            try:
                rec = json.loads(p.read_text())
                if rec.get("key") == cell_key(spec):
                    records[i] = rec
                    continue
            except (OSError, json.JSONDecodeError):
                pass  # unreadable cache entry: recompute (it is overwritten atomically)
        todo.append(i)
    log(f"e3: {len(specs)} cells, {len(specs) - len(todo)} cached, {len(todo)} to run")
    dev = str(device)
    if jobs is None:  # few cells: worker start-up (importing torch, aeon) costs more than it saves
        jobs = 1 if dev.startswith("cuda") or len(todo) < 20 else max(1, min(2, os.cpu_count() or 1))
    t0, done = time.perf_counter(), 0
    if jobs == 1:
        for i in todo:
            _, records[i] = _worker((specs[i], str(cell_path(out, specs[i])), dev))
            done += 1
            if done % 10 == 0:
                log(f"e3: {done}/{len(todo)} cells in {time.perf_counter() - t0:.0f} s")
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(_worker, (specs[i], str(cell_path(out, specs[i])), dev)): i for i in todo}
            for f in as_completed(futs):
                records[futs[f]] = f.result()[1]
                done += 1
                if done % 10 == 0:
                    log(f"e3: {done}/{len(todo)} cells in {time.perf_counter() - t0:.0f} s")
    return [records[i] for i in range(len(specs))]


# ----------------------------------------------------------------------------- statistics
def paired(a, b) -> dict:
    """Paired comparison of per-seed scores a (candidate) vs b (reference): mean difference, its
    t-interval, the paired t-test p-value, and wins/ties/losses (|diff| <= 1e-12 is a tie)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    d = a - b
    n = d.size
    res = {"n": int(n), "mean_diff": float(d.mean()), "wins": int((d > 1e-12).sum()),
           "ties": int((np.abs(d) <= 1e-12).sum()), "losses": int((d < -1e-12).sum())}
    if n >= 2 and d.std(ddof=1) > 0:
        se = d.std(ddof=1) / math.sqrt(n)
        res["ci95"] = float(stats.t.ppf(0.975, n - 1) * se)
        res["p"] = float(stats.ttest_rel(a, b).pvalue)
    else:
        res["ci95"], res["p"] = float("nan"), (1.0 if n >= 2 else float("nan"))
    return res


def verdict(p: dict, higher_is_better: bool, alpha: float = 0.05) -> str:
    """'helped' / 'hurt' when the paired test is significant at ``alpha``, else 'no significant difference'."""
    if not (p.get("p") == p.get("p")) or p["p"] >= alpha:  # NaN or not significant
        return "no significant difference"
    good = p["mean_diff"] > 0 if higher_is_better else p["mean_diff"] < 0
    return "helped" if good else "hurt"


# ----------------------------------------------------------------------------- study-level helpers
def add_jobs_arg(p) -> None:
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes for the cells (default: 2 on CPU, 1 on CUDA)")


def plan_specs(cfg: dict, profile: str, kind: str, inits) -> tuple[dict, list[dict]]:
    """All cell specs of a profile: data set x init x fraction/span x seed."""
    plan = profile_plan(cfg, profile, kind)
    specs = []
    for name in plan["names"]:
        rec = recipe(cfg, kind, name, profile)
        # a data set may add smaller sizes (digits: 1-2 images per class); not in the smoke profile
        grid = sorted(set(plan["grid"]) | (set(rec.get("extra_fractions", [])) if profile != "smoke" else set()))
        if kind == "forecasting":  # spans too short for one window + horizon are skipped (and recorded)
            ok = [x for x in grid if _span_fits(name, rec, x)]
            plan.setdefault("skipped", {})[name] = [x for x in grid if x not in ok]
            grid = ok
        specs += [cell_spec(kind, name, init, x, seed, rec) for x in grid for seed in plan["seeds"] for init in inits]
    return plan, specs


def profile_entries(cfg: dict, profile: str) -> list[tuple[str, str]]:
    """(kind, name) of every classification set and forecasting series of a profile."""
    return [(kind, n) for kind in ("classification", "forecasting") for n in profile_plan(cfg, profile, kind)["names"]]


def aggregate(records: list[dict], metric: str) -> dict:
    """{name: {init: {x: [score per seed, in seed order]}}} from cell records."""
    agg: dict = {}
    for r in sorted(records, key=lambda r: r["spec"]["seed"]):
        s = r["spec"]
        agg.setdefault(s["name"], {}).setdefault(s["init"], {}).setdefault(s["x"], []).append(r["result"][metric])
    return agg


def comparisons(agg: dict, candidates, reference: str, higher_is_better: bool) -> list[dict]:
    """Paired comparison of each candidate init with ``reference`` for every (data set, x)."""
    rows = []
    for name, by_init in agg.items():
        if reference not in by_init:
            continue
        for cand in candidates:
            if cand not in by_init:
                continue
            for x, vals in by_init[cand].items():
                p = paired(vals, by_init[reference][x])
                rows.append({"name": name, "x": x, "init": cand, "reference": reference, **p,
                             "verdict": verdict(p, higher_is_better)})
    return rows


def _g(v, spec: str = ".3g") -> str:
    """Format a number (or the 'nan' string JSON files hold for NaN)."""
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def _fmt_ms(v) -> str:
    v = np.asarray(v, float)
    return f"{v.mean():.3g} ± {v.std(ddof=1):.2g}" if v.size > 1 else f"{v.mean():.3g}"


def table_rows(agg: dict, inits, metric_label: str, cmp_rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per data set and x) of the results table: mean ± std per init and the
    paired difference of the paper's TDI (first layer) with the default, with its p-value and verdict."""
    header = ["data set", "x", "metric"] + [LABELS[i] for i in inits] + ["TDI(first, input) - default", "p",
                                                                          "verdict"]
    by = {(r["name"], r["x"], r["init"]): r for r in cmp_rows}
    rows = []
    for name, by_init in agg.items():
        xs = sorted(next(iter(by_init.values())).keys())
        for x in xs:
            row = [name, f"{x:g}", metric_label] + [_fmt_ms(by_init[i][x]) if i in by_init else "" for i in inits]
            c = by.get((name, x, TDI_MAIN))
            row += ([_g(c["mean_diff"], "+.3g"), _g(c["p"]), c["verdict"]] if c else ["", "", ""])
            rows.append(row)
    return header, rows


def write_table(out: Path) -> None:
    """paper_figures/output/<profile>/e3_table.{md,csv}: the classification and forecasting rows, from the number
    files the two E3 figure scripts wrote (whichever exist)."""
    import csv
    import io

    from paper_figures.common import atomic_write_bytes

    md, buf = ["# Real-data results (E3)", ""], io.StringIO()
    w = csv.writer(buf)
    for fname, title in (("e3_accuracy.json", "Classification: test accuracy (higher is better)"),
                         ("e3_forecast.json", "Forecasting: test MASE (lower is better)")):
        p = Path(out) / fname
        if not p.exists():
            continue
        d = json.loads(p.read_text())
        header, rows = d["table"]["header"], d["table"]["rows"]
        md += [f"## {title}", "", f"Profile `{d['profile']}`, seeds {d['seeds']}. Mean ± std over seeds; the last "
               "three columns compare the paper's protocol (TDI on the first layer, input spectrum) with the "
               "default S4D-Lin, paired by seed (t-test; a verdict needs p < 0.05).", "",
               "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(r) + " |" for r in rows]
        md += ["", "Best and worst cases for TDI (every TDI variant vs S4D-Lin, by mean paired difference):", ""]
        for tag in ("best", "worst"):
            for c in d["extremes"][tag]:
                md.append(f"- {tag}: {c['name']} x={_g(c['x'])} {LABELS[c['init']]}: {_g(c['mean_diff'], '+.3g')} "
                          f"(p={_g(c['p'])}, {c['verdict']})")
        md.append("")
        w.writerow(["section"] + header)
        for r in rows:
            w.writerow([fname.split(".")[0]] + r)
    atomic_write_bytes(Path(out) / "e3_table.md", ("\n".join(md) + "\n").encode())
    atomic_write_bytes(Path(out) / "e3_table.csv", buf.getvalue().encode())


def extremes(cmp_rows: list[dict], higher_is_better: bool, k: int = 3) -> dict:
    """The k best and k worst (data set, x, TDI variant) by mean paired difference with the default."""
    tdi = [r for r in cmp_rows if r["init"].startswith("tdi")]
    sign = 1 if higher_is_better else -1
    srt = sorted(tdi, key=lambda r: sign * r["mean_diff"], reverse=True)
    return {"best": srt[:k], "worst": srt[::-1][:k]}


def verdict_counts(cmp_rows: list[dict], init_prefix: str = "tdi") -> dict:
    out = {"helped": 0, "hurt": 0, "no significant difference": 0}
    for r in cmp_rows:
        if r["init"].startswith(init_prefix):
            out[r["verdict"]] += 1
    return out
