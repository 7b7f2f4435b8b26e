"""E3 planning and cells (paper_figures/e3_plan.py, e3_cell.py): recipe v2, the grid, pairing, every data set."""

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("aeon")
from paper_figures import e3, e3_cell, e3_plan  # noqa: E402


@pytest.fixture(scope="module")
def cfg():
    return e3.load_config()


def test_recipe_v2_merges_defaults_entry_and_smoke_override(cfg):
    r = e3.recipe(cfg, "classification", "OSULeaf", "quick")
    assert r["train"]["batch_size"] == 16 and r["train"]["steps"] == 700  # the data set's entry
    assert r["train"]["lr"] == cfg["defaults"]["train"]["lr"] and r["train"]["min_epochs"] >= 1
    assert "epochs" not in r["train"] and "patience" not in r["train"]  # v2: a step budget, no early stopping
    assert r["min_val"] >= 10
    s = e3.recipe(cfg, "classification", "OSULeaf", "smoke")
    assert s["train"]["steps"] == cfg["profiles"]["smoke"]["override"]["train"]["steps"]
    with pytest.raises(ValueError, match="name"):
        e3.recipe(cfg, "classification", "NoSuchSet", "quick")


def test_every_init_is_known_and_every_configured_dataset_exists(cfg):
    assert set(e3.CLASSIFICATION_INITS) | set(e3.FORECAST_INITS) | set(e3.CONTROL_INITS) <= set(e3.INITS)
    for prof in cfg["profiles"].values():
        for tier in prof["tiers"]:
            assert set(tier["inits"]) <= set(e3.INITS)
    from ssm_tdi.data import list_datasets
    from ssm_tdi.data.forecasting import SERIES

    assert {n for n in cfg["classification"] if not n.startswith("_")} <= set(list_datasets())
    assert {n for n in cfg["forecasting"] if not n.startswith("_")} <= set(SERIES)


def test_full_plan_meets_the_protocol_and_runs_the_priority_cells_first(cfg):
    plan, specs = e3.plan_specs(cfg, "full", "classification")
    assert (specs[0]["name"], specs[0]["x"]) == tuple(cfg["profiles"]["full"]["priority"][0])
    seeds: dict = {}
    for s in specs:
        seeds.setdefault((s["name"], s["init"], s["x"]), set()).add(s["seed"])
    prim = cfg["primary"]
    skipped = {n: why for t in cfg["profiles"]["full"]["tiers"] for n, why in t.get("skip", {}).items()}
    assert all(len(why) > 20 for why in skipped.values())  # a budget decision states its reason
    for name in plan["names"]:  # the budgeted protocol: every set powered at 25%, every ratio >= 5 seeds
        assert len(seeds[(name, prim["candidate"], 0.25)]) >= prim["min_seeds"], name
        for x in plan["grid"][name]:
            if (name, prim["candidate"], x) not in seeds:  # only where a tier skips the set, saying why
                assert any(sk["name"] == name and x in sk["xs"] for sk in plan["skipped"]), (name, x)
                continue
            n_prim = len(seeds[(name, prim["candidate"], x)])
            assert n_prim >= 5 and len(seeds[(name, prim["reference"], x)]) == n_prim, (name, x)
            if name != "listops":  # tokens: MiniRocket cannot run there and is not planned
                assert len(seeds[(name, "minirocket", x)]) == n_prim, (name, x)
            else:
                assert (name, "minirocket", x) not in seeds
        for control in ("tdi-shuffled", "s4d-lin-band", "freqbias-val", "s4d-legs"):
            if any(sk["name"] == name and 0.25 in sk["xs"] for sk in plan["skipped"]):  # a stated skip at 25%
                assert (name, control, 0.25) not in seeds, (name, control)
            else:
                assert len(seeds[(name, control, 0.25)]) >= 5, (name, control)
    assert len(seeds[("digits", prim["candidate"], 0.05)]) >= prim["min_seeds"]  # the quick profile's primary
    assert plan["dropped"]["BasicMotions"] == {0.05: "same subset as 0.1"}  # one subset, one cell
    assert len({e3.cell_key(s) for s in specs}) == len(specs)  # no duplicate cell


def test_every_series_gets_the_controls_at_its_breadth_span(cfg):
    _, specs = e3.plan_specs(cfg, "full", "forecasting")
    breadth = cfg["profiles"]["full"]["tiers"][1]["only"]  # each series' smallest span that holds a window
    for name, (x,) in breadth.items():
        for control in ("tdi-shuffled", "s4d-lin-band", "freqbias-val"):
            assert {s["seed"] for s in specs if (s["name"], s["init"], s["x"]) == (name, control, x)} \
                == set(range(5)), (name, control)


def test_a_tier_skips_a_set_or_overrides_its_ratios_per_name():
    tier = {"name": "t8", "fractions": [0.25], "spans": [0.125], "per_name": {"s": [0.25]}, "skip": {"p": "at chance"}}
    assert e3_plan._tier_xs(tier, "forecasting", "s", [0.125, 0.25, 1.0]) == [0.25]
    assert e3_plan._tier_xs(tier, "forecasting", "t", [0.125, 0.25, 1.0]) == [0.125]
    assert e3_plan._tier_xs(tier, "classification", "p", [0.1, 0.25]) == []
    plan = {"kind": "classification", "tiers": [tier], "grid": {"p": [0.1, 0.25], "q": [0.1, 0.25]}, "dropped": {}}
    e3_plan._record_skipped(plan)
    assert plan["skipped"] == [{"name": "p", "tier": "t8", "why": "at chance", "xs": [0.25]}]


def test_run_order_goes_tier_by_tier_across_both_kinds(cfg):
    specs = e3_plan.run_order(cfg, "full")
    plans = {k: e3.plan_specs(cfg, "full", k) for k in ("classification", "forecasting")}
    assert len(specs) == sum(len(s) for _, s in plans.values())
    tiers = cfg["profiles"]["full"]["tiers"]
    n_breadth = sum(len(e3_plan._tier_xs(t, k, n, plan["grid"][n]))
                    * t["seeds"] * len([i for i in t["inits"] if k in e3.INITS[i]["kinds"]
                                        and e3_plan._applies(i, k, n, e3.recipe(cfg, k, n, "full"))])
                    for t in tiers[:2] for k, (plan, _) in plans.items() for n in plan["names"])
    first = specs[:n_breadth]  # the two breadth tiers (classification, then the series) come first
    assert {s["name"] for s in first} == set(e3.profile_names(cfg, "full", "classification")) | set(
        e3.profile_names(cfg, "full", "forecasting"))
    assert {s["seed"] for s in first} == set(range(5)) and first[-1]["kind"] == "forecasting"
    assert all(s["seed"] < 5 for s in first) and specs[n_breadth]["kind"] == "classification"


def test_cell_key_depends_on_the_spec_and_on_tdi_defaults_for_tdi_cells_only(cfg, monkeypatch):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    base = e3.cell_spec("classification", "ItalyPowerDemand", "s4d-lin", 0.1, 0, rec)
    tdi = e3.cell_spec("classification", "ItalyPowerDemand", "tdi-first-input", 0.1, 0, rec)
    assert e3.cell_key(base) == e3.cell_key(json.loads(json.dumps(base)))
    for change in ({"init": "freqbias"}, {"x": 0.25}, {"seed": 1}):
        assert e3.cell_key({**base, **change}) != e3.cell_key(base)
    rec2 = json.loads(json.dumps(rec))
    rec2["train"]["steps"] += 1
    assert e3.cell_key({**base, "recipe": rec2}) != e3.cell_key(base)
    assert "tdi_defaults" in tdi and "tdi_defaults" not in base
    monkeypatch.setattr(e3_plan, "tdi_defaults", lambda: {"apply_tdi.layers": "changed"})
    assert e3.cell_key(e3.cell_spec("classification", "ItalyPowerDemand", "tdi-first-input", 0.1, 0, rec)) \
        != e3.cell_key(tdi)
    assert e3.cell_key(e3.cell_spec("classification", "ItalyPowerDemand", "s4d-lin", 0.1, 0, rec)) \
        == e3.cell_key(base)


def test_selection_needs_ten_validation_samples_else_the_whole_subset_trains(cfg):
    rec = e3.recipe(cfg, "classification", "ACSF1", "full")
    small = np.repeat(np.arange(10), 2)  # 20 samples: a 20% carve would hold 0-10 samples
    tr, va = e3_cell.selection_split(small, rec, 0)
    assert va.size == 0 and tr.size == 20
    big = np.repeat(np.arange(10), 10)  # 100 samples: 20 in validation
    tr, va = e3_cell.selection_split(big, rec, 0)
    assert va.size == 20 and tr.size == 80 and not set(tr) & set(va)


def test_tdi_controls_and_pretrain_start_from_the_same_weights_as_the_default(cfg):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    ref = e3.build_model("s4d-lin", rec, d_input=1, d_output=2, task="classification", seed=3).state_dict()
    for init in ("tdi-first-input", "tdi-layers-input", "pretrain", "tdi-shuffled"):
        sd = e3.build_model(init, rec, d_input=1, d_output=2, task="classification", seed=3).state_dict()
        assert all(torch.equal(ref[k], sd[k]) for k in ref), init
    other = e3.build_model("s4d-lin", rec, d_input=1, d_output=2, task="classification", seed=4).state_dict()
    assert not all(torch.equal(ref[k], other[k]) for k in ref)


def test_a_cell_trains_the_step_budget_on_a_small_subset(cfg):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    r = e3.run_classification_cell("ItalyPowerDemand", "s4d-lin", 0.25, 0, rec)
    assert r["n_val"] == 0 and r["n_train"] == r["n_subset"]  # < 10 validation samples: no carve
    assert r["steps"] >= rec["train"]["steps"] and r["best_epoch"] == -1  # last iterate


def test_controls_do_what_they_say(cfg):
    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    band = e3.run_classification_cell("ItalyPowerDemand", "s4d-lin-band", 0.25, 0, rec)
    lo, hi = band["band"]
    assert 0 <= lo <= hi <= math.pi and band["dt_range"][0] <= band["dt_range"][1]
    sh = e3.run_classification_cell("ItalyPowerDemand", "tdi-shuffled", 0.25, 0, rec)
    assert sh["tdi"][0]["layer"] == 0 and 0 <= sh["accuracy"] <= 1
    fb = e3.run_classification_cell("ItalyPowerDemand", "freqbias-val", 0.25, 0, rec)
    assert fb["alpha"] == e3.load_config()["defaults"]["freqbias_alphas"][2]  # no validation: the default 4


def test_every_first_layer_arm_trains_with_the_same_dynamics_treatment(cfg):
    """TDI freezes its layer's log_dt, A, B (apply_tdi's default); the shuffled control and the frozen S4D-Lin
    control must do the same, else 'TDI vs control' mixes the init with frozen-vs-trained dynamics."""
    from ssm_tdi.layers import SSM_PARAM_NAMES

    rec = e3.recipe(cfg, "classification", "ItalyPowerDemand", "smoke")
    X = torch.randn(6, 24, 1, dtype=torch.float64).float()

    def trainable(init):
        m = e3.build_model(init, rec, d_input=1, d_output=2, task="classification", seed=0)
        e3_cell.apply_init(m, init, X, labels=np.array([0, 1] * 3), seed=0)
        return {n: p.requires_grad for n, p in m.ssm_layers[0].named_parameters() if n in SSM_PARAM_NAMES}

    assert any(trainable("s4d-lin").values())  # the default trains its dynamics (the S4 convention)
    frozen = trainable("tdi-first-input")
    assert frozen and not any(frozen.values())
    assert trainable("tdi-shuffled") == frozen and trainable("s4d-lin-frozen") == frozen


def test_forecast_baselines_and_scores_are_finite(cfg):
    rec = e3.recipe(cfg, "forecasting", "co2", "smoke")
    b = e3.forecast_baselines("co2", rec, 1.0)
    for k in ("seasonal-naive", "linear-ar"):
        assert math.isfinite(b[k]["mse"]) and b[k]["mase"] > 0
    fd = e3.forecast_data("co2", rec, 1.0)
    perfect = fd.normalize(fd.raw_test_targets, "test")
    assert e3.forecast_scores(fd, perfect)["mse"] == pytest.approx(0.0, abs=1e-18)


def _tiny(rec: dict) -> dict:
    rec = json.loads(json.dumps(rec))
    rec["model"].update(d_model=4, d_state=4, n_layers=2)
    rec["train"].update(steps=1, min_epochs=1)
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


def test_the_run_command_plans_selects_and_refuses_bad_options(capsys):
    from paper_figures import e3_run

    assert e3_run.main(["--profile", "smoke", "--dry-run", "--only", "ItalyPowerDemand:0.25",
                        "--inits", "s4d-lin"]) == 0
    assert "1 cells selected" in capsys.readouterr().out  # 1 seed x 1 fraction x 1 init, the co2 cells filtered
    with pytest.raises(SystemExit, match="--only"):
        e3_run.main(["--profile", "smoke", "--dry-run", "--only", "ItalyPowerDemand:quarter"])
    with pytest.raises(SystemExit, match="--inits"):
        e3_run.main(["--profile", "smoke", "--dry-run", "--inits", "nope"])
