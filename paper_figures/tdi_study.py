"""Engine of the issue-11 study: one cached training run ("cell") per (data set, TDI variant, seed).

Classification data sets are scored by test accuracy (higher is better). A forecasting series
(``tdi_study.json["forecasting"]``: name -> training span) uses E3's windows (``e3_cell.forecast_data``: the
last ``span`` of the training span, cut into windows of the series' E3 recipe) and is scored by the test MASE of
the forecast read at the last position of each test window, in original units (``e3_cell.forecast_scores``;
lower is better). Its spec carries ``"task": "forecasting"`` and its span in ``"fraction"``; a classification
spec has no "task" key (so the keys of the cells computed before forecasting was added stay valid).

Shared by ``fig_tdi_ablation`` (test accuracy, paired by seed) and ``fig_deep_persistence`` (the first
layer's spectrum over training). The recipe is ``paper_figures/configs/tdi_study.json`` (written before
any run): the E3 model/optimizer of each data set with a FIXED optimizer-step budget (independent of n),
the whole training subset trained, the last iterate scored.

A variant says what happens to the FIRST SSM layer of the seed's S4D-Lin ``DeepSSM`` before training:

* which target TDI matches (none; S_task = the raw data's mean periodogram, as ``apply_tdi`` has always
  used; the spectrum of what the layer sees, ``model.layer_inputs(X)[0]`` centred per sequence and
  channel; a ``targets.channel_bank`` of bands; a ``targets.shape_target``-tempered S_task),
* whether its dynamics (log_dt, log_A_real, A_imag, B) are frozen during training (C, D still train),
* extra ``tdi.tdi_init`` options (e.g. the parameterization of issue 11 once the library has it).

Every cell records, at the checkpoint steps (``training.train``'s per-step callback), the first layer's
L_spec against S_task, against its own spectrum at step 0 and against the target it was matched to,
its kernel effective rank and the DC share of its power (``diagnostics.layer_persistence``).
Cells are JSON files under ``<out>/tdi_study_cells/<data set>/`` keyed by a hash of everything that
determines them : an interrupted run resumes, a finished cell is never recomputed.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from paper_figures.common import FIG_DIR, save_json
from ssm_tdi import stats as lib_stats

CONFIG_PATH = FIG_DIR / "configs" / "tdi_study.json"
E3_CONFIG_PATH = FIG_DIR / "configs" / "e3.json"
CELL_DIR = "tdi_study_cells"
VERSION = 1

# variant -> (TDI options for ``tdi.apply_tdi(layers="first", estimator="input")`` or None, freeze the
# first layer's dynamics (log_dt, A, B) of a model without TDI?). Every option is spelled out, so a
# variant keeps its meaning when the library's defaults change. The TDI ladder: today's TDI; + the
# new parameterization (dt_mode="s4d"); frozen dynamics; + the centred layer-input spectrum; + a band
# bank; + tempering and an out-of-band floor. S4D-Lin frozen is the control of the frozen arms.
_TODAY = {"dt_mode": "keep", "dynamics": "train", "spectrum_source": "data", "bank": "identical",
          "gamma": 1.0, "target_floor": 0.0}
VARIANTS = {
    "s4d-lin": (None, False),
    "s4d-lin-frozen": (None, True),
    "tdi": (_TODAY, False),
    "tdi-s4d": ({**_TODAY, "dt_mode": "s4d"}, False),
    "tdi-frozen": ({**_TODAY, "dynamics": "freeze"}, False),
    "tdi-frozen-layer": ({**_TODAY, "dynamics": "freeze", "spectrum_source": "layer-input"}, False),
    "tdi-frozen-layer-bands": ({**_TODAY, "dynamics": "freeze", "spectrum_source": "layer-input",
                                "bank": "bands"}, False),
    "tdi-frozen-layer-bands-tempered": ({**_TODAY, "dynamics": "freeze", "spectrum_source": "layer-input",
                                         "bank": "bands", "gamma": 0.5, "target_floor": 1e-3}, False),
}
LABELS = {
    "s4d-lin": "S4D-Lin (default)", "s4d-lin-frozen": "S4D-Lin, dynamics frozen",
    "tdi": "TDI as before issue 11", "tdi-s4d": "TDI, dt_mode s4d (trained)", "tdi-frozen": "TDI, dynamics frozen",
    "tdi-frozen-layer": "TDI frozen + layer-input spectrum", "tdi-frozen-layer-bands": "... + band bank",
    "tdi-frozen-layer-bands-tempered": "... + tempering 0.5, floor 1e-3",
}
#: the ladder: each variant is compared with the one it adds a choice to (and all with S4D-Lin)
PARENT = {"tdi-s4d": "tdi", "tdi-frozen": "tdi", "tdi-frozen-layer": "tdi-frozen",
          "tdi-frozen-layer-bands": "tdi-frozen-layer", "tdi-frozen-layer-bands-tempered": "tdi-frozen-layer-bands",
          "s4d-lin-frozen": "s4d-lin"}


#: the score of a cell per task, and whether a larger value is better
METRIC = {"classification": "accuracy", "forecasting": "mase"}
HIGHER_IS_BETTER = {"accuracy": True, "mase": False}


def load_config(path: Path = CONFIG_PATH) -> dict:
    return json.loads(Path(path).read_text())


def task_of(spec: dict) -> str:
    return spec.get("task", "classification")


def metric_of(spec: dict) -> str:
    return METRIC[task_of(spec)]


def _merge(base: dict, over: dict) -> dict:
    """``base`` updated by ``over``, nested dicts merged one level deep (the e3.json convention)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if not k.startswith("_"):
            out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def e3_recipe(name: str, task: str = "classification") -> dict:
    """The data set's E3 recipe: e3.json defaults <- its classification (or forecasting) entry."""
    e3cfg = json.loads(E3_CONFIG_PATH.read_text())
    if task not in METRIC:
        raise ValueError(f"task: expected one of {sorted(METRIC)}, got {task!r}")
    return _merge(e3cfg["defaults"], e3cfg[task][name])


def cell_key(spec: dict) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=4)
def dataset(name: str):
    from ssm_tdi.data import load_dataset

    return load_dataset(name, seed=0)


def plan(cfg: dict, profile: str, variants=None) -> list[dict]:
    """Cell specs of a profile: data set x variant x seed (each data set at its one fraction), seed-major
    within a data set so that an interrupted run holds whole seeds of every variant."""
    p = cfg["profiles"][profile]
    specs = []
    for name in p["datasets"]:
        lim = p.get("limits", {}).get(name, {})  # compute limits of a data set (measured cost per cell)
        names = list(variants or lim.get("variants") or p.get("variants") or VARIANTS)
        task = "forecasting" if name in cfg.get("forecasting", {}) else "classification"
        size = cfg["forecasting"][name] if task == "forecasting" else cfg["datasets"][name]
        rec = _merge(e3_recipe(name, task), p.get("override", {}))
        rec = {k: v for k, v in rec.items() if k not in ("extra_fractions", "pretrain", "val_fraction")}
        rec["train"] = {k: v for k, v in rec["train"].items() if k not in ("epochs", "patience")}
        steps = int(lim.get("steps", p.get("steps", cfg["steps"])))
        budget = {"steps": steps, "epochs_floor": int(cfg["epochs_floor"]),
                  "checkpoints": [c for c in p.get("checkpoints", cfg["checkpoints"]) if c <= steps]}
        for seed in range(int(lim.get("seeds", p["seeds"]))):
            for v in names:
                tdi_kw, freeze = VARIANTS[v]
                spec = {"version": VERSION, "name": name, "fraction": float(size), "variant": v, "tdi": tdi_kw,
                        "freeze": freeze, "seed": seed, "recipe": rec, "budget": budget}
                specs.append(spec if task == "classification" else {**spec, "task": task})
    return specs


def epochs_for(n: int, batch_size: int, steps: int, floor: int) -> int:
    """epochs = max(floor, ceil(steps / ceil(n / batch))): the step budget does not shrink with n."""
    return max(int(floor), math.ceil(steps / math.ceil(n / batch_size)))


@dataclass
class TaskData:
    """What a cell trains on and how it is scored: training tensors, the model's input/output widths, the
    ``DeepSSM`` task, and ``score(model) -> {metric: value, ...}`` on the test split."""

    X: torch.Tensor
    y: torch.Tensor
    d_input: int
    d_output: int
    model_task: str
    score: Callable[[torch.nn.Module], dict]


def classification_task(spec: dict) -> TaskData:
    """The seed's stratified training subset (``data.training_subset``); test accuracy."""
    from ssm_tdi.data import training_subset
    from ssm_tdi.training import evaluate

    ds = dataset(spec["name"])
    Xn, yn, mn = ds.train_part(training_subset(ds.y_train, spec["fraction"], spec["seed"]))
    if mn is not None:
        raise ValueError(f"{spec['name']}: masked data sets are not part of this study")
    X_test, y_test = torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test)

    def score(model):
        ev = evaluate(model, X_test, y_test, "classification")
        return {"accuracy": ev["accuracy"], "test_loss": ev["loss"]}

    return TaskData(torch.as_tensor(Xn), torch.as_tensor(yn), ds.d_input, ds.n_classes, "classification", score)


def forecasting_task(spec: dict) -> TaskData:
    """E3's windows of the last ``fraction`` of the training span (no validation carve: the whole span trains);
    test MSE and MASE of the last position's forecast (``e3_cell.forecast_scores``)."""
    from paper_figures import e3_cell

    fd = e3_cell.forecast_data(spec["name"], spec["recipe"], spec["fraction"])
    X_test = torch.as_tensor(fd.X_test)

    def score(model):
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(X_test[i:i + 256])[:, -1, :].double() for i in range(0, len(X_test), 256)])
        return e3_cell.forecast_scores(fd, pred.numpy())

    return TaskData(torch.as_tensor(fd.X_train), torch.as_tensor(fd.Y_train), 1, int(fd.horizon), "regression",
                    score)


def task_data(spec: dict) -> TaskData:
    return forecasting_task(spec) if task_of(spec) == "forecasting" else classification_task(spec)


def run_cell(spec: dict) -> dict:
    from ssm_tdi import diagnostics, layers, spectra, tdi
    from ssm_tdi.models import DeepSSM
    from ssm_tdi.training import TrainConfig, train

    rec, budget, seed = spec["recipe"], spec["budget"], spec["seed"]
    td = task_data(spec)
    X, y = td.X, td.y
    L = int(X.shape[1])
    m = rec["model"]
    model = DeepSSM(td.d_input, td.d_output, d_model=m["d_model"], d_state=m["d_state"], n_layers=m["n_layers"],
                    dropout=m["dropout"], init="s4d-lin", task=td.model_task, seed=seed)
    layer = model.ssm_layers[0]
    S_task = spectra.input_spectrum(X.to(torch.float64), reduce="mean")  # the raw data's spectrum (F,)
    out = {"n_train": int(X.shape[0]), "L": L, "tdi_seconds": 0.0, "tdi": None,
           "s_task_dc_share": diagnostics.dc_share(S_task, L)}
    target = None
    if spec["tdi"] is not None:
        t0 = time.perf_counter()
        (rep,) = tdi.apply_tdi(model, X, estimator="input", layers="first", seed=seed, **spec["tdi"])
        out["tdi_seconds"] = time.perf_counter() - t0
        target = rep.target_spectrum  # the estimate before shaping (data or layer input)
        out["tdi"] = {"loss_before": rep.loss_before_mean, "loss_after": rep.loss_after_mean,
                      "kernel_cosine": rep.kernel_cosine, "n_reverted": rep.n_reverted,
                      "input_dc_share": rep.input_dc_share, "target_dc_share": diagnostics.dc_share(target, L)}
    if spec["freeze"]:
        layers.freeze_dynamics(layer)
    out["trainable_dynamics"] = bool(layer.log_dt.requires_grad)
    P0 = diagnostics.layer_power(layer, L)
    marks = set(budget["checkpoints"])
    traj = []

    def record(step):
        d = diagnostics.layer_persistence(layer, L, target=S_task, reference=P0)
        d["lspec_matched"] = (math.nan if target is None else
                              diagnostics.layer_persistence(layer, L, target=target)["lspec_target"])
        # lspec_matched: against the spectrum TDI estimated (before shaping/bank: for a bank the per-channel
        # value measures the band split, not a loss)
        traj.append({"step": step, **d})

    def callback(step, m):
        if step in marks:
            record(step)

    t = rec["train"]
    epochs = epochs_for(X.shape[0], t["batch_size"], budget["steps"], budget["epochs_floor"])
    cfg = TrainConfig(task=td.model_task, epochs=epochs, batch_size=t["batch_size"], lr=t["lr"],
                      ssm_lr=t["ssm_lr"], weight_decay=t["weight_decay"], seed=seed, grad_clip=t.get("grad_clip"))
    res = train(model, X, y, cfg, callback=callback)
    if traj[-1]["step"] != res.steps:  # always record the final state
        record(res.steps)
    out.update(**td.score(model), train_seconds=res.seconds, steps=res.steps, epochs=epochs, trajectory=traj)
    return out


def cell_path(out: Path, spec: dict) -> Path:
    return Path(out) / CELL_DIR / spec["name"] / f"{spec['variant']}__s{spec['seed']}.json"


def load_cached(out: Path, spec: dict):
    p = cell_path(out, spec)
    if not p.exists():
        return None
    try:
        rec = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rec if rec.get("key") == cell_key(spec) else None


def _claim(path: Path) -> bool:
    """Take the lock of a cell (``<cell>.lock`` holding our pid), so that several worker processes can share
    one plan; a lock whose process is gone is taken over."""
    import os

    lock = path.with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(lock.read_text() or 0), 0)
                return False  # another live worker runs this cell
            except (ProcessLookupError, ValueError, OSError):
                lock.unlink(missing_ok=True)  # stale: its worker died
                continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def run_cells(specs: list[dict], out: Path, log=print, only_cached: bool = False) -> list[dict]:
    """Run (or load) every cell in order, one at a time (one thread); returns the records that exist.

    Cells locked by another live worker process are skipped (several workers may run one plan).
    ``only_cached``: run nothing, return the cached records."""
    torch.set_num_threads(1)
    todo = [s for s in specs if load_cached(out, s) is None]
    log(f"tdi_study: {len(specs)} cells, {len(specs) - len(todo)} cached, {0 if only_cached else len(todo)} to run")
    t0 = time.perf_counter()
    for i, spec in enumerate(specs):
        if only_cached or load_cached(out, spec) is not None or not _claim(cell_path(out, spec)):
            continue
        try:
            c0 = time.perf_counter()
            result = run_cell(spec)
            rec = {"key": cell_key(spec), "spec": spec, "result": result, "seconds": time.perf_counter() - c0,
                   "torch": torch.__version__}
            save_json(rec, cell_path(out, spec))
        finally:
            cell_path(out, spec).with_suffix(".lock").unlink(missing_ok=True)
        log(f"tdi_study: {spec['name']} {spec['variant']} s{spec['seed']}: {metric_of(spec)} "
            f"{result[metric_of(spec)]:.3f} "
            f"in {rec['seconds']:.1f} s (cell {i + 1}/{len(specs)}, {time.perf_counter() - t0:.0f} s)")
    return [r for r in (load_cached(out, s) for s in specs) if r is not None]


def by_variant(records: list[dict], metric: str | None = None) -> dict:
    """{name: {variant: {seed: value}}} of ``metric`` (None: each cell's own score, ``metric_of``)."""
    agg: dict = {}
    for r in records:
        s = r["spec"]
        agg.setdefault(s["name"], {}).setdefault(s["variant"], {})[s["seed"]] = r["result"][metric or metric_of(s)]
    return agg


def metrics_by_name(records: list[dict]) -> dict:
    """{name: the score its cells are compared on} ("accuracy" or "mase")."""
    return {r["spec"]["name"]: metric_of(r["spec"]) for r in records}


def paired(a: dict, b: dict) -> dict | None:
    """Paired comparison over the seeds both dicts {seed: value} hold (``ssm_tdi.stats.paired_difference``):
    mean of a - b, the half-width of its 95% Student-t interval, the paired t-test p-value and wins/losses.
    None with < 2 seeds. Identical differences on every seed leave no variance to test against: p is NaN
    for a constant non-zero shift (a shift seen on 2-5 seeds is not evidence) and 1 for identical scores."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    r = lib_stats.paired_difference([a[s] for s in seeds], [b[s] for s in seeds])
    p = r["p"] if r["sd"] > 0 else (1.0 if r["mean"] == 0 else math.nan)
    return {"n": r["n"], "diff": r["mean"], "ci95": r["half_width"], "p": p, "wins": r["wins"],
            "losses": r["losses"]}


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (``ssm_tdi.stats.holm``); NaN (untestable) stays out of the family."""
    return lib_stats.holm(pvalues)


def library_default_variant() -> str | None:
    """The TDI variant whose options equal the library's current defaults of ``apply_tdi`` / ``tdi_init``
    (read from their signatures, so the figures follow the library), or None if no variant matches."""
    import inspect

    from ssm_tdi import tdi

    defaults = {}
    for fn in (tdi.tdi_init, tdi.apply_tdi):
        for k, v in inspect.signature(fn).parameters.items():
            if v.default is not inspect.Parameter.empty:
                defaults[k] = v.default
    if defaults.get("spectrum_source") is None:  # apply_tdi: None = "data" for layers="first"
        defaults["spectrum_source"] = "data"
    for name, (kw, _) in VARIANTS.items():
        if kw is not None and all(defaults.get(k, object()) == v for k, v in kw.items()):
            return name
    return None


def add_cached_only_arg(p) -> None:
    p.add_argument("--cached-only", action="store_true",
                   help="draw from the cells already computed; train none (missing cells are left out and counted)")


def main(argv=None) -> None:
    """Run (resume) the cells of a profile, optionally restricted: the figure scripts only read them."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m paper_figures.tdi_study", description=main.__doc__)
    p.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"))
    p.add_argument("--datasets", default=None, help="comma-separated subset of the profile's data sets")
    p.add_argument("--out", type=Path, default=None, help="output folder (default paper_figures/output/<profile>)")
    args = p.parse_args(argv)
    from paper_figures.common import profile_dir

    specs = plan(load_config(), args.profile)
    if args.datasets:
        keep = set(args.datasets.split(","))
        specs = [s for s in specs if s["name"] in keep]
    run_cells(specs, args.out or profile_dir(args.profile))


if __name__ == "__main__":
    main()
