"""The issue-11 study engine (paper_figures/tdi_study.py): budget, plan, statistics, cell locks.

The figure scripts themselves run end to end in tests/test_figures_smoke.py; here the pieces whose
numbers enter the table are checked against independent computations."""

import os

import numpy as np
import pytest
from scipy import stats

from paper_figures import fig_tdi_ablation as ablation
from paper_figures import tdi_study as ts
from paper_figures.common import FIG_DIR


@pytest.mark.parametrize("n, batch, steps, floor, want", [(70, 128, 200, 10, 200), (30, 16, 80, 10, 40),
                                                          (1352, 128, 200, 10, 19), (1352, 128, 50, 10, 10)])
def test_step_budget_does_not_shrink_with_n(n, batch, steps, floor, want):
    ep = ts.epochs_for(n, batch, steps, floor)
    assert ep == want
    assert ep * -(-n // batch) >= steps  # at least the budget of optimizer steps


def test_holm_matches_the_step_down_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.02, 0.03, 0.06, 0.06
    assert ts.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert ts.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    q = ts.holm([0.01, float("nan"), 0.04])  # an untestable comparison is not part of the family
    assert q[0] == pytest.approx(0.02) and np.isnan(q[1]) and q[2] == pytest.approx(0.04)


def test_paired_matches_scipy():
    rng = np.random.default_rng(0)
    a = {s: float(v) for s, v in enumerate(rng.normal(0.8, 0.05, 10))}
    b = {s: a[s] - float(d) for s, d in enumerate(rng.normal(0.02, 0.03, 10))}
    b[10] = 0.5  # a seed only one side has is ignored
    r = ts.paired(a, b)
    d = np.array([a[s] - b[s] for s in range(10)])
    assert r["n"] == 10 and r["diff"] == pytest.approx(d.mean())
    assert r["p"] == pytest.approx(stats.ttest_rel([a[s] for s in range(10)], [b[s] for s in range(10)]).pvalue)
    lo, hi = stats.t.interval(0.95, 9, loc=d.mean(), scale=stats.sem(d))
    assert r["ci95"] == pytest.approx((hi - lo) / 2)
    assert ts.paired({0: 1.0}, {0: 0.5}) is None
    assert np.isnan(ts.paired({0: 1.0, 1: 0.5}, {0: 0.9, 1: 0.4})["p"])  # the same shift twice: untestable
    assert ts.paired({0: 1.0, 1: 0.5}, {0: 1.0, 1: 0.5})["p"] == 1.0


def test_plan_is_seed_major_and_respects_limits():
    cfg = ts.load_config()
    specs = ts.plan(cfg, "quick")
    acsf = [s for s in specs if s["name"] == "ACSF1"]
    lim = cfg["profiles"]["quick"]["limits"]["ACSF1"]
    assert {s["variant"] for s in acsf} == set(lim.get("variants", ts.VARIANTS))
    assert {s["seed"] for s in acsf} == set(range(lim["seeds"]))
    assert all(s["budget"]["steps"] == lim["steps"] for s in acsf)
    assert all(c <= lim["steps"] for c in acsf[0]["budget"]["checkpoints"])
    digits = [s["seed"] for s in specs if s["name"] == "digits"]
    assert digits == sorted(digits)  # every variant of seed k before any of seed k + 1
    assert len({ts.cell_key(s) for s in specs}) == len(specs)


def test_every_variant_spells_out_its_options():
    keys = {k for kw, _ in ts.VARIANTS.values() if kw is not None for k in kw}
    for name, (kw, _) in ts.VARIANTS.items():
        assert kw is None or set(kw) == keys, name
        assert name in ts.LABELS


def test_cell_lock_is_exclusive_and_stale_locks_are_taken(tmp_path):
    cell = tmp_path / "a" / "cell.json"
    assert ts._claim(cell)
    assert not ts._claim(cell)  # held by this (live) process
    cell.with_suffix(".lock").write_text("999999999")  # a pid that does not exist
    assert ts._claim(cell)
    assert cell.with_suffix(".lock").read_text() == str(os.getpid())


def test_classification_cells_keep_their_keys():
    """Adding the forecasting task must not change a classification spec: a committed cell still matches its plan
    (otherwise every committed cell would silently be recomputed)."""
    spec = next(s for s in ts.plan(ts.load_config(), "quick") if s["name"] == "digits" and s["variant"] == "s4d-lin"
                and s["seed"] == 0)
    assert "task" not in spec and ts.metric_of(spec) == "accuracy"
    assert ts.load_cached(FIG_DIR / "output" / "quick", spec) is not None


def _forecast_smoke_cfg() -> dict:
    cfg = ts.load_config()
    cfg["profiles"]["smoke"] = {"datasets": list(cfg["forecasting"]), "seeds": 1, "steps": 3, "checkpoints": [0, 1, 3],
                                "override": {"model": {"d_model": 8, "d_state": 8, "n_layers": 1}}}
    return cfg


def test_forecasting_cell_trains_on_e3_windows_and_scores_mase():
    from paper_figures import e3_cell

    (spec,) = ts.plan(_forecast_smoke_cfg(), "smoke", variants=["tdi-frozen"])
    assert spec["task"] == "forecasting" and ts.metric_of(spec) == "mase"
    fd = e3_cell.forecast_data(spec["name"], spec["recipe"], spec["fraction"])
    r = ts.run_cell(spec)
    assert r["n_train"] == fd.X_train.shape[0] and r["L"] == spec["recipe"]["window"]
    assert r["steps"] >= 3 and [t["step"] for t in r["trajectory"]][:2] == [0, 1]
    assert not r["trainable_dynamics"]  # TDI with frozen dynamics
    assert r["mase"] > 0 and np.isfinite(r["mse"])
    assert r["tdi"] is not None and np.isfinite(r["tdi"]["loss_after"])  # TDI ran on the training windows


def test_by_variant_reads_each_tasks_metric():
    recs = [{"spec": {"name": "co2", "variant": "s4d-lin", "seed": 0, "task": "forecasting"},
             "result": {"mase": 1.5, "mse": 2.0}},
            {"spec": {"name": "digits", "variant": "s4d-lin", "seed": 0}, "result": {"accuracy": 0.8}}]
    assert ts.by_variant(recs) == {"co2": {"s4d-lin": {0: 1.5}}, "digits": {"s4d-lin": {0: 0.8}}}
    assert ts.metrics_by_name(recs) == {"co2": "mase", "digits": "accuracy"}


def test_lower_mase_is_a_help_and_higher_accuracy_is_a_help():
    rng = np.random.default_rng(1)
    base = {s: float(v) for s, v in enumerate(rng.normal(1.0, 0.05, 10))}
    lower = {s: v - 0.3 + float(rng.normal(0, 0.01)) for s, v in base.items()}  # clearly lower on every seed
    for metric, want in (("mase", "helps"), ("accuracy", "hurts")):
        (row,) = ablation.comparisons({"x": {"s4d-lin": base, "tdi": lower}}, {"x": metric})
        assert row["diff"] < 0 and row["p_holm"] < 0.05 and row["verdict"] == want, metric


def test_reading_says_in_numbers_what_matters():
    rng = np.random.default_rng(2)
    base = {s: float(v) for s, v in enumerate(rng.normal(0.7, 0.05, 10))}
    same = {s: v + float(rng.normal(0, 0.01)) for s, v in base.items()}
    better = {s: v + 0.1 + float(rng.normal(0, 0.01)) for s, v in base.items()}
    acc = {"x": {"s4d-lin": base, "tdi": same, "tdi-frozen": better}}
    rows = ablation.comparisons(acc)  # tdi vs base, tdi-frozen vs base, tdi-frozen vs tdi (its ladder parent)
    text = ablation.reading(rows, acc, "tdi-frozen")
    assert "3 paired comparisons" in text and "Holm-corrected" in text and "2 significant" in text
    assert "The library's default TDI (TDI, dynamics frozen) vs S4D-Lin" in text and "helps" in text
    none = {"x": {"s4d-lin": base, "tdi": same}}
    assert "No design choice changes the test score" in ablation.reading(ablation.comparisons(none), none)
