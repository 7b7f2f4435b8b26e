"""The recipe-v3 capacity probe scores validation cuts of the training split only, and resumes."""

import numpy as np
import pytest

pytest.importorskip("aeon")
from paper_figures import e3_capacity, e3_cell, e3_plan  # noqa: E402


def test_variants_edit_the_model_and_steps_only():
    rec = e3_plan.recipe(e3_plan.load_config(), "classification", "OSULeaf", "full")
    big = e3_capacity.variant_recipe(rec, "wide+deep+long")
    assert big["model"]["d_model"] == 128 and big["model"]["n_layers"] == 4
    assert big["train"]["steps"] == 4 * rec["train"]["steps"]
    assert {k: v for k, v in big["train"].items() if k != "steps"} == \
        {k: v for k, v in rec["train"].items() if k != "steps"}
    assert e3_capacity.variant_recipe(rec, "v2") == rec and rec["model"]["d_model"] == 64  # input untouched
    with pytest.raises(ValueError, match="variant"):
        e3_capacity.variant_recipe(rec, "huge")


def test_the_maxpool_variant_reaches_the_model_and_the_v2_recipe_keeps_mean_pooling():
    rec = e3_plan.recipe(e3_plan.load_config(), "classification", "GunPoint", "full")
    kw = dict(d_input=1, d_output=2, task="classification", seed=0)
    assert e3_cell.build_model("s4d-lin", e3_capacity.variant_recipe(rec, "maxpool"), **kw).pool == "max"
    assert "pool" not in rec["model"] and e3_cell.build_model("s4d-lin", rec, **kw).pool == "mean"


def test_the_cut_is_inside_the_training_split_and_seeded():
    y = np.repeat(np.arange(3), 10)
    fit, score = e3_capacity.validation_cut(y, 0)
    assert np.intersect1d(fit, score).size == 0 and np.union1d(fit, score).size == y.size
    assert np.array_equal(score, e3_capacity.validation_cut(y, 0)[1])
    assert not np.array_equal(score, e3_capacity.validation_cut(y, 1)[1])
    with pytest.raises(ValueError, match="y_train"):
        e3_capacity.validation_cut(np.arange(3), 0)  # one sample per class: nothing to score


def test_probe_resumes_and_tabulates_the_paired_gap(monkeypatch):
    calls = []

    def fake_ssm(name, variant, seed, data=None, device="cpu"):
        calls.append((variant, seed))
        return {"val_accuracy": 0.5 + 0.1 * seed, "seconds": 1.0}

    monkeypatch.setattr(e3_capacity, "ssm_val_accuracy", fake_ssm)
    monkeypatch.setattr(e3_capacity, "minirocket_val_accuracy",
                        lambda name, seed, data=None: {"val_accuracy": 0.7 + 0.1 * seed, "seconds": 0.5})
    res = e3_capacity.run_probe(["GunPoint"], [0, 1], ["v2"], {}, log=lambda *_: None)
    e3_capacity.run_probe(["GunPoint"], [0, 1], ["v2"], res, log=lambda *_: None)
    assert calls == [("v2", 0), ("v2", 1)]  # the second call found both seeds finished
    md = e3_capacity.table(res)
    assert "| GunPoint | v2 | 2 | 0.550 | -0.200 [-0.200, -0.200] |  | 1 |" in md
    res["GunPoint"]["long"] = {"0": {"val_accuracy": 0.6, "seconds": 4.0}, "1": {"val_accuracy": 0.8, "seconds": 4.0}}
    # by hand: gap diffs (0.6-0.7, 0.8-0.8) = (-0.1, 0): mean -0.05, half-width t(0.975, 1) 12.706 * 0.05 = 0.635;
    # gain over v2 diffs (0.1, 0.2): mean +0.15, the same half-width
    assert "| GunPoint | long | 2 | 0.700 | -0.050 [-0.685, +0.585] | +0.150 [-0.485, +0.785] | 4 |" in \
        e3_capacity.table(res)
    raw = e3_capacity.run_probe(["GunPoint"], [0], ["v2"], res, log=lambda *_: None, data={"normalize": False})
    assert set(raw) == {"GunPoint", 'GunPoint {"normalize": false}'} and len(calls) == 3  # a separate entry


def test_the_results_key_names_the_loader_options_in_effect():
    # JapaneseVowels' recipe loads raw values, so an explicit override to the same options shares its key
    assert e3_capacity.data_label("JapaneseVowels", None) == e3_capacity.data_label("JapaneseVowels",
                                                                                    {"normalize": False})
    assert e3_capacity.data_label("JapaneseVowels", {"normalize": True}) == 'JapaneseVowels {"normalize": true}'


def test_a_loader_option_reaches_the_data_set():
    rec, ds = e3_capacity._recipe_and_data("JapaneseVowels", {"normalize": False})
    assert rec["data"] == {"normalize": False} and ds.meta["normalization"] == "none"
