"""The E3 engine (paper_figures/e3.py): recipes, pairing across inits, the cell cache, paired statistics."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

pytest.importorskip("aeon")
from paper_figures import e3  # noqa: E402


@pytest.fixture(scope="module")
def cfg():
    return e3.load_config()


def test_recipe_merges_defaults_entry_and_smoke_override(cfg):
    r = e3.recipe(cfg, "classification", "OSULeaf", "quick")
    assert r["train"]["batch_size"] == 16  # the data set's entry
    assert r["train"]["lr"] == cfg["defaults"]["train"]["lr"]  # the defaults, key by key
    assert r["model"] == cfg["defaults"]["model"]
    s = e3.recipe(cfg, "classification", "OSULeaf", "smoke")
    assert s["train"]["epochs"] == cfg["profiles"]["smoke"]["override"]["train"]["epochs"]
    assert s["train"]["batch_size"] == 16
    with pytest.raises(ValueError, match="name"):
        e3.recipe(cfg, "classification", "NoSuchSet", "quick")


def test_every_init_of_the_study_is_known_and_every_configured_dataset_loads_lazily(cfg):
    assert set(e3.CLASSIFICATION_INITS) <= set(e3.INITS) and set(e3.FORECAST_INITS) <= set(e3.INITS)
    from ssm_tdi.data import list_datasets
    from ssm_tdi.data.forecasting import SERIES

    assert {n for n in cfg["classification"] if not n.startswith("_")} <= set(list_datasets())
    assert {n for n in cfg["forecasting"] if not n.startswith("_")} <= set(SERIES)


def test_full_profile_expands_all_and_meets_the_protocol(cfg):
    plan = e3.profile_plan(cfg, "full", "classification")
    assert plan["names"] == [n for n in cfg["classification"] if not n.startswith("_")]
    assert len(plan["seeds"]) >= 5 and plan["grid"] == [0.05, 0.1, 0.25, 0.5, 1.0]
    q = e3.profile_plan(cfg, "quick", "classification")
    assert len(q["seeds"]) >= 3


def test_tdi_and_pretrain_variants_start_from_the_same_weights_as_the_default(cfg):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    ref = e3.build_model("s4d-lin", rec, d_input=1, d_output=2, task="classification", seed=3).state_dict()
    for init in ("tdi-first-input", "tdi-layers-input", "pretrain"):
        sd = e3.build_model(init, rec, d_input=1, d_output=2, task="classification", seed=3).state_dict()
        assert all(torch.equal(ref[k], sd[k]) for k in ref), init
    other = e3.build_model("s4d-lin", rec, d_input=1, d_output=2, task="classification", seed=4).state_dict()
    assert not all(torch.equal(ref[k], other[k]) for k in ref)


def test_cell_key_depends_on_every_part_of_the_spec(cfg):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    base = e3.cell_spec("classification", "ItalyPowerDemand", "s4d-lin", 0.1, 0, rec)
    assert e3.cell_key(base) == e3.cell_key(json.loads(json.dumps(base)))
    for change in ({"init": "freqbias"}, {"x": 0.25}, {"seed": 1}):
        assert e3.cell_key({**base, **change}) != e3.cell_key(base)
    rec2 = json.loads(json.dumps(rec))
    rec2["train"]["lr"] *= 2
    assert e3.cell_key({**base, "recipe": rec2}) != e3.cell_key(base)


def test_cells_are_cached_resumed_and_recomputed_when_corrupt(cfg, tmp_path, monkeypatch):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    rec["train"]["epochs"] = 1
    specs = [e3.cell_spec("classification", "ItalyPowerDemand", i, 0.1, 0, rec) for i in ("s4d-lin", "freqbias")]
    first = e3.run_cells(specs, tmp_path, "cpu", jobs=1, log=lambda *_: None)
    assert all(0.0 <= r["result"]["accuracy"] <= 1.0 for r in first)
    # the same subset for both inits (paired)
    assert first[0]["result"]["n_train"] == first[1]["result"]["n_train"]

    def boom(job):
        raise AssertionError("a cached cell was recomputed")

    monkeypatch.setattr(e3, "_worker", boom)
    again = e3.run_cells(specs, tmp_path, "cpu", jobs=1, log=lambda *_: None)
    assert [r["result"] for r in again] == [r["result"] for r in first]
    # a truncated file (as a crash without atomic writes would leave) is recomputed, not trusted
    monkeypatch.undo()
    p = e3.cell_path(tmp_path, specs[1])
    p.write_text(p.read_text()[:20])
    third = e3.run_cells(specs, tmp_path, "cpu", jobs=1, log=lambda *_: None)
    assert third[1]["result"]["accuracy"] == first[1]["result"]["accuracy"]  # seeded: the same number again
    assert not list(p.parent.glob(".*.tmp"))


def test_paired_statistics_match_the_textbook_formula():
    a, b = np.array([1.0, 2.0, 3.0]), np.zeros(3)
    p = e3.paired(a, b)
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    assert p["mean_diff"] == pytest.approx(2.0)
    assert p["p"] == pytest.approx(2 * stats.t.sf(t, 2), rel=1e-12)
    assert p["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 1 / math.sqrt(3), rel=1e-12)
    assert (p["wins"], p["ties"], p["losses"]) == (3, 0, 0)
    assert e3.verdict(p, True) == "no significant difference"  # p = 0.074
    big = e3.paired([1.0, 1.1, 0.9, 1.05], [0.0, 0.0, 0.0, 0.0])
    assert e3.verdict(big, True) == "helped" and e3.verdict(big, False) == "hurt"
    one = e3.paired([1.0], [0.0])
    assert math.isnan(one["p"]) and e3.verdict(one, True) == "no significant difference"


def test_extremes_and_counts_use_the_metric_direction():
    rows = [{"name": "a", "x": 0.1, "init": "tdi-first-input", "mean_diff": v, "p": 0.01,
             "verdict": "helped" if v > 0 else "hurt"} for v in (0.3, -0.2, 0.1)]
    rows.append({"name": "a", "x": 0.1, "init": "freqbias", "mean_diff": 0.9, "p": 0.01, "verdict": "helped"})
    ex = e3.extremes(rows, True, k=1)
    assert ex["best"][0]["mean_diff"] == 0.3 and ex["worst"][0]["mean_diff"] == -0.2  # non-TDI rows ignored
    ex = e3.extremes(rows, False, k=1)
    assert ex["best"][0]["mean_diff"] == -0.2
    assert e3.verdict_counts(rows) == {"helped": 2, "hurt": 1, "no significant difference": 0}


def test_forecast_baselines_and_scores_are_finite(cfg):
    rec = e3.recipe(cfg, "forecasting", "co2", "smoke")
    b = e3.forecast_baselines("co2", rec, 1.0)
    for k in ("seasonal-naive", "linear-ar"):
        assert math.isfinite(b[k]["mse"]) and b[k]["mase"] > 0
    fd = e3.forecast_data("co2", rec, 1.0)
    # a perfect forecast scores 0
    perfect = fd.normalize(fd.raw_test_targets, "test")
    assert e3.forecast_scores(fd, perfect)["mse"] == pytest.approx(0.0, abs=1e-18)


def _tiny(rec: dict) -> dict:
    rec = json.loads(json.dumps(rec))
    rec["model"].update(d_model=4, d_state=4, n_layers=2)
    rec["train"].update(epochs=1)
    if "n_train" in rec.get("data", {}):
        rec["data"].update(n_train=60, n_test=20)
    return rec


@pytest.mark.parametrize("name", [n for n in e3.load_config()["classification"] if not n.startswith("_")])
def test_every_configured_classification_set_runs_every_kind_of_init(cfg, name):
    """The full profile's data sets (most never run in CI) go through the same cell function: default,
    TDI first (discriminative), TDI per-layer and the pretraining baseline, on a tiny model."""
    rec = _tiny(e3.recipe(cfg, "classification", name, "full"))
    for init in ("s4d-lin", "tdi-first-disc", "tdi-layers-input", "pretrain"):
        r = e3.run_classification_cell(name, init, 0.05, 0, rec)
        assert 0.0 <= r["accuracy"] <= 1.0 and math.isfinite(r["test_loss"]), (name, init)
        assert r["n_subset"] >= e3.classification_data(name, json.dumps(rec["data"], sort_keys=True)).n_classes


@pytest.mark.parametrize("name", ["taylor", "co2", "sunspots"])
def test_every_forecasting_series_runs_with_the_transfer_estimator(cfg, name):
    rec = _tiny(e3.recipe(cfg, "forecasting", name, "full"))
    r = e3.run_forecast_cell(name, "tdi-layers-transfer", 1.0, 0, rec)
    assert math.isfinite(r["mase"]) and r["tdi"] and len(r["tdi"]) == 2
