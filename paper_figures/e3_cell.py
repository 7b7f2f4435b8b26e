"""E3: one cell, i.e. one training run of (data set, init, training fraction or span, seed).

Everything a cell does is decided by its spec (``e3_plan.cell_spec``): the data set's recipe from
``configs/e3.json``, the init, x and the seed.

* data: the training SUBSET is ``ssm_tdi.data.training_subset(y_train, fraction, seed)`` (stratified,
  >= 1 per class, nested across fractions). Selection rule (recipe v2): a validation split is carved
  out of it (``train_val_split``) only if it holds >= ``min_val`` samples; the full step budget is
  trained and the state of lowest validation loss restored; otherwise the whole subset trains and the
  last iterate is scored. Forecasting keeps the last ``span`` of the training span (``forecast_splits``;
  the same selection rule on its chronological validation span). Every init of one (x, seed) sees the
  SAME subset, so comparisons across inits are paired by seed.
* model: ``DeepSSM`` with the recipe and ``seed``; TDI, pretraining and the controls start from the
  s4d-lin model of the same seed (identical weights before TDI/pretraining).
* TDI: ``ssm_tdi.tdi.apply_tdi`` (its defaults) on the training subset in use only, never the test split.
* controls: ``tdi-shuffled`` matches the first layer to ``ssm_tdi.targets.shuffled(S_task, seed)`` (the
  same values at permuted frequencies: as sharp, wrongly placed); ``s4d-lin-band`` draws S4D-Lin's dt in
  the range that puts its modes in the band of S_task (``ssm_tdi.bands``); ``freqbias-val`` trains
  freqbias for each alpha of ``freqbias_alphas`` and keeps the one of lowest validation loss (the
  default alpha when there is no validation split). S_task is the spectrum apply_tdi matches
  (``TDIReport.target_spectrum``), estimated on the training subset.
* reference: ``minirocket`` is aeon's MiniRocketClassifier fitted on the whole subset (its ridge has
  its own internal cross-validation), ``random_state=seed``.
* pretrain (classification): next-step prediction for ``pretrain.fraction`` of the epoch budget, then
  the task for the rest (same epochs as every other init).
* score: classification test accuracy; forecasting test MSE and MASE of the forecast read at the last
  position of each test window, in original units (MASE scaled by the naive in-sample error over the
  WHOLE training span, so scores are comparable across spans).
"""

from __future__ import annotations

import copy
import functools
import json
import time

import numpy as np
import torch

from paper_figures.e3_plan import INITS, tdi_defaults
from ssm_tdi.inits import FREQBIAS_ALPHA


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


def span_fits(name: str, rec: dict, span: float) -> bool:
    try:
        forecast_data(name, rec, span)
    except ValueError as exc:
        if "train_span" in str(exc):
            return False
        raise
    return True


def selection_split(y_subset: np.ndarray, rec: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) positions in the subset: a carve of >= min_val samples, else (all, none)."""
    from ssm_tdi.data import train_val_split

    tr, va = train_val_split(y_subset, rec["val_fraction"], seed)
    if va.size < rec["min_val"]:
        return np.arange(y_subset.size, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return tr, va


# ----------------------------------------------------------------------------- model and init
def build_model(init: str, rec: dict, *, d_input: int, d_output: int, task: str, seed: int, vocab_size=None,
                device="cpu", alpha: float | None = None, dt_range: tuple[float, float] | None = None):
    from ssm_tdi.models import DeepSSM

    base = INITS[init]["base"]
    kw = {"alpha": FREQBIAS_ALPHA if alpha is None else alpha} if base == "freqbias" else None
    m = rec["model"]
    extra = {} if dt_range is None else {"dt_min": dt_range[0], "dt_max": dt_range[1]}
    model = DeepSSM(d_input, d_output, d_model=m["d_model"], d_state=m["d_state"], n_layers=m["n_layers"],
                    dropout=m["dropout"], init=base, task=task, vocab_size=vocab_size, seed=seed,
                    init_kwargs=kw, pool=m.get("pool", "mean"), **extra)
    return model.to(device)


def task_spectrum(model, X, *, mask=None, seed: int = 0) -> torch.Tensor:
    """S_task as apply_tdi estimates it for the first layer (input estimator), without touching ``model``."""
    from ssm_tdi.tdi import apply_tdi

    return apply_tdi(copy.deepcopy(model), X, estimator="input", layers="first", mask=mask,
                     seed=seed)[0].target_spectrum


def band_dt_range(model_for_s, X, rec: dict, *, mask=None, seed: int = 0) -> tuple[tuple, tuple]:
    """((w_lo, w_hi), (dt_min, dt_max)) of the ``s4d-lin-band`` control."""
    from ssm_tdi.bands import power_band, s4d_lin_dt_range

    band = power_band(task_spectrum(model_for_s, X, mask=mask, seed=seed), rec["band"]["quantiles"])
    return band, s4d_lin_dt_range(band, rec["model"]["d_state"] // 2)


def apply_init(model, init: str, X, *, y=None, labels=None, mask=None, seed: int = 0) -> tuple[float, list | None]:
    """TDI (or the shuffled-S_task / frozen controls) in place; returns (seconds, per-layer report summary).

    Every first-layer arm leaves that layer's dynamics as ``apply_tdi``'s default does (frozen): the TDI arm
    through ``apply_tdi``, the shuffled control and the frozen S4D-Lin control through ``freeze_dynamics``.
    """
    from ssm_tdi.layers import freeze_dynamics

    spec = INITS[init]
    if spec.get("control") == "frozen":
        freeze_dynamics(model.ssm_layers[0])
        return 0.0, None
    if not spec.get("tdi"):
        return 0.0, None
    from ssm_tdi.tdi import apply_tdi, tdi_init

    layers, estimator = spec["tdi"]
    t0 = time.perf_counter()
    if spec.get("control") == "shuffled":
        from ssm_tdi.targets import shuffled

        S = shuffled(task_spectrum(model, X, mask=mask, seed=seed), seed)
        reports = [tdi_init(model.ssm_layers[0], S, L=int(X.shape[1]), seed=seed)]
        reports[0].layer_index = 0
        if tdi_defaults()["apply_tdi.dynamics"] != "freeze":  # part of the cell's spec: keep the arms alike
            raise NotImplementedError("the shuffled control mirrors apply_tdi(dynamics='freeze') only")
        freeze_dynamics(model.ssm_layers[0])  # the treatment apply_tdi gives the TDI arm
    else:
        reports = apply_tdi(model, X, y=y, labels=labels, estimator=estimator, layers=layers, mask=mask, seed=seed)
    secs = time.perf_counter() - t0
    return secs, [{"layer": r.layer_index, "loss_before": r.loss_before_mean, "loss_after": r.loss_after_mean,
                   "residue_ratio_max": float(r.residue_ratio[1])} for r in reports]


def train_config(rec: dict, task: str, seed: int, epochs: int | None = None):
    """Recipe v2: the step budget (or, for pretraining's split, an explicit epoch count); no early stop."""
    from ssm_tdi.training import TrainConfig

    t = rec["train"]
    kw = {"epochs": int(epochs)} if epochs is not None else {"steps": t["steps"], "min_epochs": t["min_epochs"]}
    return TrainConfig(task=task, batch_size=t["batch_size"], lr=t["lr"], ssm_lr=t["ssm_lr"],
                       weight_decay=t["weight_decay"], patience=None, seed=seed, grad_clip=t.get("grad_clip"), **kw)


def _t(a, device=None):
    return None if a is None else torch.as_tensor(a, device=device)


# ----------------------------------------------------------------------------- classification
def minirocket_accuracy(X_fit, y_fit, X_score, y_score, seed: int) -> tuple[float, float]:
    """(accuracy on the scored part, seconds) of aeon's MiniRocketClassifier (``random_state=seed``, one thread)
    fitted on (n, L, C) sequences; aeon wants (n, C, L) float64."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    def channels_first(X):
        return np.transpose(X, (0, 2, 1)).astype(np.float64)

    t0 = time.perf_counter()
    clf = MiniRocketClassifier(random_state=seed, n_jobs=1).fit(channels_first(X_fit), y_fit)
    acc = float(np.mean(clf.predict(channels_first(X_score)) == y_score))
    return acc, time.perf_counter() - t0


def _minirocket(ds, sub: np.ndarray, seed: int) -> dict:
    Xs, ys, _ = ds.train_part(sub)
    acc, secs = minirocket_accuracy(Xs, ys, ds.X_test, ds.y_test, seed)
    return {"accuracy": acc, "train_seconds": secs}


def run_classification_cell(name: str, init: str, fraction: float, seed: int, rec: dict, device="cpu") -> dict:
    from ssm_tdi.data import training_subset

    ds = classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
    sub = training_subset(ds.y_train, fraction, seed)
    out = {"n_subset": int(sub.size)}
    if not INITS[init].get("ssm", True):
        if ds.vocab_size is not None:
            raise ValueError(f"init: {init!r} needs real-valued sequences; {name} holds tokens")
        return {**out, "n_train": int(sub.size), "n_val": 0, **_minirocket(ds, sub, seed)}
    tr_rel, va_rel = selection_split(ds.y_train[sub], rec, seed)
    tr, va = sub[tr_rel], sub[va_rel]
    Xs, ys, ms = ds.train_part(sub)
    Xtr, ytr, mtr = ds.train_part(tr)
    Xva, yva, mva = ds.train_part(va)
    has_val = va.size > 0
    out.update(n_train=int(tr.size), n_val=int(va.size), tdi_seconds=0.0, pretrain_seconds=0.0, tdi=None)
    kw = dict(d_input=ds.d_input, d_output=ds.n_classes, task="classification", seed=seed, vocab_size=ds.vocab_size,
              device=device)
    control = INITS[init].get("control")
    if control == "band":
        band, dt = band_dt_range(build_model("s4d-lin", rec, **kw), _t(Xs), rec, mask=_t(ms), seed=seed)
        out.update(band=list(band), dt_range=list(dt))
        kw["dt_range"] = dt
    alphas = rec["freqbias_alphas"] if control == "alpha-val" and has_val else [None]
    best = None
    for alpha in alphas:
        model = build_model(init, rec, alpha=alpha, **kw)
        r = dict(out)
        r["tdi_seconds"], r["tdi"] = apply_init(model, init, _t(Xs), labels=ys, mask=_t(ms), seed=seed)
        cfg = train_config(rec, "classification", seed)
        if INITS[init].get("pretrain"):
            from ssm_tdi.pretrain import pretrain, pretrain_budget
            from ssm_tdi.training import epoch_budget

            pre, epochs = pretrain_budget(epoch_budget(cfg, int(tr.size)), rec["pretrain"]["fraction"])
            t = rec["train"]
            pr = pretrain(model, _t(Xtr, device), mask=_t(mtr, device), epochs=pre,
                          objective=rec["pretrain"]["objective"], lr=t["lr"], ssm_lr=t["ssm_lr"],
                          batch_size=t["batch_size"], weight_decay=t["weight_decay"], seed=seed,
                          grad_clip=t.get("grad_clip"))
            r["pretrain_seconds"], r["pretrain_epochs"] = pr.seconds, pre
            cfg = train_config(rec, "classification", seed, epochs=epochs)
        from ssm_tdi.training import evaluate, train

        res = train(model, _t(Xtr), _t(ytr), cfg, X_val=_t(Xva) if has_val else None,
                    y_val=_t(yva) if has_val else None, mask=_t(mtr), mask_val=_t(mva) if has_val else None)
        val = min(res.val_loss) if res.val_loss else float("nan")
        if best is None or val < best[0]:
            ev = evaluate(model, _t(ds.X_test), _t(ds.y_test), "classification", _t(ds.mask_test))
            r.update(accuracy=ev["accuracy"], test_loss=ev["loss"], train_seconds=res.seconds, steps=res.steps,
                     epochs_run=len(res.train_loss), best_epoch=res.best_epoch, val_loss=val)
            if control == "alpha-val":
                r["alpha"], r["alpha_selected_on_validation"] = (FREQBIAS_ALPHA if alpha is None else alpha), has_val
            best = (val, r)
    return best[1]


# ----------------------------------------------------------------------------- forecasting
def forecast_scores(fd, pred_norm_test: np.ndarray) -> dict:
    """Test MSE and MASE in original units of normalized forecasts (n_test, H)."""
    from ssm_tdi.baselines import mase, mse

    pred = fd.denormalize(pred_norm_test, "test")
    scale = fd.meta.get("mase_scale_full", fd.mase_scale)
    return {"mse": mse(pred, fd.raw_test_targets), "mase": mase(pred, fd.raw_test_targets, scale)}


def example_window(fd) -> int:
    """The test window drawn in the forecast plot: the middle one (fixed, not chosen by score)."""
    return int(fd.X_test.shape[0] // 2)


def run_forecast_cell(name: str, init: str, span: float, seed: int, rec: dict, device="cpu") -> dict:
    from ssm_tdi.training import train

    fd = forecast_data(name, rec, span)
    H = rec["horizon"]
    has_val = fd.X_val.shape[0] >= rec["min_val"]
    out = {"n_train": int(fd.X_train.shape[0]), "n_val": int(fd.X_val.shape[0]) if has_val else 0,
           "tdi_seconds": 0.0, "tdi": None}
    kw = dict(d_input=1, d_output=H, task="regression", seed=seed, device=device)
    control = INITS[init].get("control")
    if control == "band":
        band, dt = band_dt_range(build_model("s4d-lin", rec, **kw), _t(fd.X_train), rec, seed=seed)
        out.update(band=list(band), dt_range=list(dt))
        kw["dt_range"] = dt
    alphas = rec["freqbias_alphas"] if control == "alpha-val" and has_val else [None]
    best = None
    for alpha in alphas:
        model = build_model(init, rec, alpha=alpha, **kw)
        r = dict(out)
        r["tdi_seconds"], r["tdi"] = apply_init(model, init, _t(fd.X_train), y=_t(fd.Y_train), seed=seed)
        res = train(model, _t(fd.X_train), _t(fd.Y_train), train_config(rec, "regression", seed),
                    X_val=_t(fd.X_val) if has_val else None, y_val=_t(fd.Y_val) if has_val else None)
        val = min(res.val_loss) if res.val_loss else float("nan")
        if best is None or val < best[0]:
            model.eval()
            with torch.no_grad():
                pred = torch.cat([model(_t(fd.X_test[i:i + 256], device))[:, -1, :].double().cpu()
                                  for i in range(0, fd.X_test.shape[0], 256)]).numpy()
            ex = example_window(fd)
            r.update(forecast_scores(fd, pred), train_seconds=res.seconds, steps=res.steps,
                     epochs_run=len(res.train_loss), best_epoch=res.best_epoch, val_loss=val,
                     example_index=ex, example_forecast=fd.denormalize(pred, "test")[ex].tolist())
            if control == "alpha-val":
                r["alpha"], r["alpha_selected_on_validation"] = (FREQBIAS_ALPHA if alpha is None else alpha), has_val
            best = (val, r)
    return best[1]


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


def run_cell(spec: dict, device="cpu") -> dict:
    """The result of one cell spec (one thread; the caller times and records it)."""
    fn = run_classification_cell if spec["kind"] == "classification" else run_forecast_cell
    return fn(spec["name"], spec["init"], spec["x"], spec["seed"], spec["recipe"], device=device)
