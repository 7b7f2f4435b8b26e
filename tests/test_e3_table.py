"""E3 tabulation (paper_figures/e3_table.py): pairing by seed, the primary family and its Holm correction over the
PLANNED comparisons, incomplete rows, and a table that states seeds, intervals, correction and margin."""

import numpy as np
import pytest

pytest.importorskip("aeon")
from paper_figures import e3, e3_table  # noqa: E402
from ssm_tdi import stats  # noqa: E402


def _rec(name, init, x, seed, acc):
    return {"spec": {"kind": "classification", "name": name, "init": init, "x": x, "seed": seed},
            "result": {"accuracy": acc}}


@pytest.fixture()
def cfg():
    return e3.load_config()


def test_pairs_by_seed_not_by_position():
    recs = [_rec("A", "s4d-lin", 0.1, s, 0.5 + 0.01 * s) for s in (0, 1, 2)]
    recs += [_rec("A", "tdi-first-input", 0.1, s, 0.6 + 0.01 * s) for s in (2, 0)]  # seed 1 missing, out of order
    agg = e3_table.aggregate(recs, "accuracy")
    r = e3_table.compare(agg, "A", "tdi-first-input", "s4d-lin", 0.1, margin=0.02, higher_is_better=True)
    assert r["n"] == 2 and r["mean"] == pytest.approx(0.1)  # each seed against itself


def test_primary_family_is_holm_over_the_planned_comparisons_and_needs_ten_seeds(cfg):
    rng = np.random.default_rng(0)
    recs = []
    for s in range(10):
        base = 0.6 + rng.normal(0, 0.02)
        recs += [_rec("A", "s4d-lin", 0.05, s, base), _rec("A", "tdi-first-input", 0.05, s, base + 0.1),
                 _rec("A", "minirocket", 0.05, s, base + 0.2)]
    recs += [_rec("A", "s4d-lin", 0.25, s, 0.7) for s in range(3)]
    recs += [_rec("A", "tdi-first-input", 0.25, s, 0.7 + 0.001 * s) for s in range(3)]
    plan = {"A": {"s4d-lin": {0.05: 10, 0.25: 10, 1.0: 5}, "tdi-first-input": {0.05: 10, 0.25: 10, 1.0: 5},
                  "minirocket": {0.05: 10}}}
    rows = e3_table.comparisons(e3_table.aggregate(recs, "accuracy"), "classification", cfg, plan)
    by = {(r["init"], r["x"]): r for r in rows}
    p005 = by[("tdi-first-input", 0.05)]
    assert p005["family"] == "primary" and p005["verdict"] == "better"
    # 2 planned primary comparisons (0.05, 0.25): Holm multiplies the smallest p by 2 although 0.25 is unfinished
    assert p005["p_adj"] == pytest.approx(min(1.0, 2 * p005["p"]))
    assert by[("tdi-first-input", 0.25)]["verdict"] == "incomplete (3 of 10 seeds)"
    full = by[("tdi-first-input", 1.0)]
    assert full["family"] == "secondary" and full["verdict"] == "not run"
    mr = by[("minirocket", 0.05)]
    assert mr["family"] == "secondary" and mr["verdict"] == "better"
    assert mr["p_adj"] == pytest.approx(stats.benjamini_hochberg([mr["p"]])[0])
    md, csv_rows = e3_table.section("classification", e3_table.aggregate(recs, "accuracy"), rows, cfg, plan, (29, 40))
    text = "\n".join(md)
    for must in ("29 of 40 planned cells", "95% t interval", "Holm", "Benjamini-Hochberg", "±0.02", "alpha = 0.05"):
        assert must in text, must
    assert any(r[3] == e3.LABELS["minirocket"] for r in csv_rows)
    # the unfinished secondary row (x = 1) is counted in the markdown, listed in the CSV; primary rows always show
    assert "| A | 1 | " + e3.LABELS["tdi-first-input"] not in text
    assert "1 planned secondary comparisons have no finished seed yet" in text
    assert any(r[1:3] == ["A", "1"] and r[-1] == "not run" for r in csv_rows)
    assert "| A | 0.25 | " + e3.LABELS["tdi-first-input"] in text


def test_a_small_ratio_planned_with_fewer_seeds_than_the_primary_tier_is_secondary(cfg):
    recs = [_rec("A", i, x, s, 0.6 + 0.01 * s) for i in ("s4d-lin", "tdi-first-input") for x in (0.05, 0.25)
            for s in range(5)]
    plan = {"A": {i: {0.05: 5, 0.25: 10} for i in ("s4d-lin", "tdi-first-input")}}
    rows = e3_table.comparisons(e3_table.aggregate(recs, "accuracy"), "classification", cfg, plan)
    by = {r["x"]: r for r in rows if r["init"] == "tdi-first-input"}
    assert cfg["primary"]["min_seeds"] > 5
    assert by[0.05]["family"] == "secondary" and by[0.05]["verdict"] == "equivalent"  # identical scores
    assert by[0.25]["family"] == "primary" and by[0.25]["verdict"].startswith("incomplete (5 of")
    assert by[0.25]["correction"] == "Holm over the 1 planned primary comparisons"
    # a profile whose primary tier has 1 seed (smoke) keeps its primary rows; they never reach a verdict
    one = {"A": {i: {0.25: 1} for i in ("s4d-lin", "tdi-first-input")}}
    (r,) = [r for r in e3_table.comparisons(e3_table.aggregate(recs, "accuracy"), "classification", cfg, one)
            if r["init"] == "tdi-first-input"]
    assert r["family"] == "primary" and r["verdict"].startswith("incomplete")


def test_plan_pairs_counts_the_planned_seeds_per_ratio():
    specs = [{"name": "A", "init": "s4d-lin", "x": x, "seed": s} for x, n in ((0.25, 10), (0.05, 5)) for s in range(n)]
    specs += [specs[0]]  # a repeated spec is one planned seed
    assert e3_table.plan_pairs(specs) == {"A": {"s4d-lin": {0.05: 5, 0.25: 10}}}
    assert list(e3_table.plan_pairs(specs)["A"]["s4d-lin"]) == [0.05, 0.25]


def test_matched_pairs_compare_tdi_with_the_frozen_default_of_the_same_seeds(cfg):
    recs = [_rec("A", "s4d-lin", 0.05, s, 0.6) for s in range(4)]
    recs += [_rec("A", "s4d-lin-frozen", 0.05, s, 0.5 + 0.01 * s) for s in range(4)]
    recs += [_rec("A", "tdi-first-input", 0.05, s, 0.55 + 0.01 * s) for s in range(3)]
    plan = {"A": {"s4d-lin": {0.05: 4}, "tdi-first-input": {0.05: 4}, "s4d-lin-frozen": {0.05: 4}}}
    assert ["tdi-first-input", "s4d-lin-frozen"] in cfg["matched_pairs"]
    rows = e3_table.comparisons(e3_table.aggregate(recs, "accuracy"), "classification", cfg, plan)
    m = [r for r in rows if r["reference"] == "s4d-lin-frozen"]
    assert len(m) == 1 and m[0]["family"] == "secondary" and m[0]["n"] == 3
    assert m[0]["mean"] == pytest.approx(0.05)  # paired seed by seed against the frozen default, not S4D-Lin
    # 3 of the 4 planned seeds: interval and p shown, no verdict yet (as for a primary row short of seeds)
    assert m[0]["verdict"] == "incomplete (3 of 4 seeds)" and "p_adj" in m[0]
    frozen = [r for r in rows if r["init"] == "s4d-lin-frozen" and r["reference"] == "s4d-lin"]
    assert frozen[0]["n"] == 4 and not frozen[0]["verdict"].startswith("incomplete")
    md, _ = e3_table.section("classification", e3_table.aggregate(recs, "accuracy"), rows, cfg, plan, (11, 12))
    assert f"{e3.LABELS['tdi-first-input']} − {e3.LABELS['s4d-lin-frozen']}" in "\n".join(md)


def test_the_table_lists_what_the_grid_leaves_out_and_why():
    dropped = {"A": {0.05: "same subset as 0.1"}, "B": {0.05: "same subset as 0.1", 0.5: "too short"}, "C": {}}
    skipped = [{"name": "P", "tier": "ladder", "why": "at chance", "xs": [0.1, 0.05]},
               {"name": "P", "tier": "controls", "why": "at chance", "xs": [0.25]}]
    lines = ["Not in the grid: A 0.05; B 0.05 (same subset as 0.1).", "Not in the grid: B 0.5 (too short).",
             "Skipped on P: ladder at 0.1, 0.05; controls at 0.25 (at chance)."]
    assert e3_table.not_in_grid(dropped, skipped) == lines
    cfg = e3.load_config()
    md, _ = e3_table.section("classification", {}, [], cfg, {}, (0, 0), {"dropped": dropped, "skipped": skipped})
    assert md[-4:] == lines + [""]


def test_the_reading_tallies_tdi_verdicts_by_regime_against_the_paper():
    from paper_figures.fig_e3_accuracy import against_the_paper

    def row(name, x, verdict, init="tdi-first-input", ref="s4d-lin"):
        return {"name": name, "x": x, "init": init, "reference": ref, "verdict": verdict, "n": 0}

    rows = [row("A", 0.05, "worse"), row("B", 0.25, "cannot tell"), row("A", 1.0, "better"),
            row("A", 0.1, "incomplete (3 of 10 seeds)"), row("A", 0.05, "better", init="minirocket"),
            row("A", 0.05, "better", ref="s4d-lin-frozen"), row("A", 0.25, "better", init="tdi-first-disc")]
    text = against_the_paper(rows, 0.25)
    assert "at fractions <= 0.25: worse 1 (A 0.05); cannot tell 1 (B 0.25); 1 without enough seeds of 3" in text
    assert "at the full training set: better 1 (A 1) of 1 planned" in text
    assert "not in this profile's grid" in against_the_paper(rows[:2], 0.25)
    short = [{**row("C", 0.25, "incomplete (5 of 10 seeds)"), "n": 5, "mean": 0.03, "p": 0.01, "p_tost": 0.9},
             {**row("D", 0.25, "incomplete (5 of 10 seeds)"), "n": 5, "mean": 0.0, "p": 0.9, "p_tost": 0.01},
             {**row("E", 0.25, "not run"), "n": 0}]
    text = against_the_paper(rows + short, 0.25)
    assert ("4 without enough seeds of 6 planned (interim, uncorrected, on fewer seeds than a verdict needs: "
            "better 1 (C 0.25); equivalent 1 (D 0.25))") in text  # A 0.1 (n missing) and E (0 seeds) not tallied


def test_tier_table_counts_what_is_left_per_tier_in_run_order():
    from paper_figures.e3_cost import tier_table

    tiers = [0, 0, 1, 1, 1]
    cost = [3600.0, 3600.0, 7200.0, 3600.0, 3600.0]  # CPU seconds
    text = tier_table([{"name": "a"}, {"name": "b"}], tiers, cost, done={0, 2}, workers=2)
    assert "| 1 a | 2 | 1 | 1.00 | 0.5 |" in text  # one CPU-hour left, on 2 cores
    assert "| 2 b | 3 | 1 | 2.00 | 1.5 |" in text  # cumulative wall hours


def test_reference_x_is_the_most_seeded_ratio_smallest_if_several():
    from paper_figures.e3_table import reference_x

    assert reference_x({0.01: 5, 0.05: 10, 0.25: 10, 1.0: 5}) == 0.05  # digits in full: 5% and 25% at 10 seeds
    assert reference_x({0.01: 5, 0.1: 5, 0.25: 10, 1.0: 5}) == 0.25  # the ladder's smaller ratios do not win
    assert reference_x({}) is None


def test_spectra_gains_stay_at_the_reference_ratio_when_smaller_ratios_finish():
    # fig_e3_spectra correlates mismatch with TDI's gain at each set's reference x: a finished ladder cell at
    # a smaller ratio must not replace it (it did before: "the smallest finished x").
    from paper_figures.fig_e3_spectra import paired_effects

    ref = {0: 0.50, 1: 0.60, 2: 0.70}
    agg = {"A": {"s4d-lin": {0.01: ref, 0.25: ref},
                 "tdi-first-input": {0.01: {0: 0.40, 1: 0.58, 2: 0.60}, 0.25: {2: 0.73, 0: 0.52, 1: 0.61}}}}
    planned = {"A": {"tdi-first-input": {0.01: 5, 0.25: 10}, "s4d-lin": {0.01: 5, 0.25: 10}}}
    diff = np.array([0.02, 0.01, 0.03])  # paired by seed, not by position
    assert paired_effects(agg, planned, 1.0) == {"A": pytest.approx(diff.mean() / diff.std(ddof=1))}
    # MASE: lower is better, so the sign flips
    assert paired_effects(agg, planned, -1.0) == {"A": pytest.approx(-diff.mean() / diff.std(ddof=1))}
    # a set whose reference x has one paired seed is left out, not read at another x
    agg["A"]["tdi-first-input"][0.25] = {0: 0.52}
    assert paired_effects(agg, planned, 1.0) == {}
