"""TDI ablation (issue 11): which design choices change the test score at small training fractions?

Cells: ``paper_figures/tdi_study.py`` (recipe ``configs/tdi_study.json``, written before any run: the E3
model/optimizer of each data set, a fixed optimizer-step budget independent of n, the whole training subset
trained, the last iterate scored). Variants act on the first SSM layer of the same S4D-Lin model per seed:
S4D-Lin; S4D-Lin with frozen dynamics (the control); TDI as before issue 11; + dt_mode "s4d"; TDI with frozen
dynamics; + the centred layer-input spectrum; + a band bank; + tempering 0.5 and floor 1e-3.

Score: test accuracy on the classification sets (higher is better); test MASE on the forecasting series
(lower is better; E3's windows of a short training span). Statistics: per data set, paired by seed (same
training subset and model weights before TDI), the mean difference in the score with its 95% Student-t
interval and the paired t-test p-value, for every variant against S4D-Lin, for every ladder step against the
variant it extends, and for frozen TDI against the frozen default. Holm's correction is applied over ALL
comparisons of the table at once (family-wise level 0.05).
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import tdi_study as ts
from paper_figures.common import (
    Timer,
    atomic_write_bytes,
    parse_args,
    profile_note,
    save_figure,
    save_json,
    write_summary,
)

NAME = "tdi_ablation"
PROFILES = ("smoke", "quick", "full")  # sizes live in configs/tdi_study.json["profiles"]
ALPHA = 0.05
BASE = "s4d-lin"


def comparisons(acc: dict, metrics: dict | None = None) -> list[dict]:
    """Every (data set, candidate, reference) pair of the table with its paired statistics.

    ``metrics``: {name: "accuracy" | "mase"} (default accuracy); a difference "helps" when it moves the score
    the better way (accuracy up, MASE down) and survives Holm over every row of the table."""
    metrics = metrics or {}
    rows = []
    for name, by in acc.items():
        pairs = [(v, BASE) for v in by if v != BASE]
        pairs += [(v, p) for v, p in ts.PARENT.items() if v in by and p in by and p != BASE]
        if "tdi-frozen" in by and "s4d-lin-frozen" in by:
            pairs.append(("tdi-frozen", "s4d-lin-frozen"))
        for cand, ref in pairs:
            st = ts.paired(by[cand], by[ref])
            if st is not None:
                rows.append({"name": name, "metric": metrics.get(name, "accuracy"), "candidate": cand,
                             "reference": ref, **st})
    if rows:
        for r, q in zip(rows, ts.holm([r["p"] for r in rows]), strict=True):
            r["p_holm"] = float(q)
            better = (r["diff"] > 0) == ts.HIGHER_IS_BETTER[r["metric"]]
            r["verdict"] = (("helps" if better else "hurts") if q < ALPHA else
                            "no significant difference" if q == q else "untestable (identical differences)")
    return rows


def table_markdown(acc: dict, rows: list[dict], seeds: dict) -> str:
    lines = [f"Score: test accuracy (classification, higher is better) or test MASE (forecasting, marked, lower is "
             f"better), mean ± sd over seeds; differences (candidate - reference) paired by seed with 95% "
             f"t-intervals; wins/losses count seeds where the candidate's score is higher/lower; p = paired t-test; "
             f"p_Holm = Holm-corrected over all {len(rows)} comparisons of this table (family-wise level {ALPHA}).",
             "",
             "| data set | variant | seeds | score | vs | difference [95% CI] | wins/losses | p | p_Holm "
             "| verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vals = np.array(list(acc[r["name"]][r["candidate"]].values()))
        lines.append(f"| {_set_label(r)} | {ts.LABELS[r['candidate']]} | {r['n']} | {vals.mean():.3f} ± "
                     f"{vals.std(ddof=1) if vals.size > 1 else 0:.3f} | {ts.LABELS[r['reference']]} | "
                     f"{r['diff']:+.3f} [{r['diff'] - r['ci95']:+.3f}, {r['diff'] + r['ci95']:+.3f}] | "
                     f"{r['wins']}/{r['losses']} | {r['p']:.3g} | {r['p_holm']:.3g} | {r['verdict']} |")
    metric = {r["name"]: r["metric"] for r in rows}
    base = [f"{n}: S4D-Lin {metric.get(n, 'accuracy')} {np.mean(list(by[BASE].values())):.3f} ({seeds[n]} seeds)"
            for n, by in acc.items() if BASE in by]
    return "\n".join(lines + ["", "Reference score: " + "; ".join(base) + "."]) + "\n"


def _set_label(r: dict) -> str:
    return r["name"] if r["metric"] == "accuracy" else f"{r['name']} ({r['metric'].upper()}, lower is better)"


def _diff(r: dict) -> str:
    unit = "" if r["metric"] == "accuracy" else f" {r['metric'].upper()}"
    return f"{r['name']} {r['diff']:+.3f} ± {r['ci95']:.3f}{unit}"


def _direction(r: dict) -> str:
    return "better" if (r["diff"] > 0) == ts.HIGHER_IS_BETTER[r["metric"]] else "worse"


def _significant(rows: list[dict]) -> str:
    sig = [r for r in rows if r["verdict"] in ("helps", "hurts")]
    if not sig:
        return " No design choice changes the test score significantly after the correction."
    return " Significant: " + "; ".join(
        f"{r['name']}: {ts.LABELS[r['candidate']]} vs {ts.LABELS[r['reference']]} {r['verdict']} "
        f"({r['diff']:+.3f} [{r['diff'] - r['ci95']:+.3f}, {r['diff'] + r['ci95']:+.3f}], p_Holm {r['p_holm']:.2g})"
        for r in sig) + "."


def _default_vs_base(rows: list[dict], default: str | None) -> str:
    rs = [r for r in rows if r["candidate"] == default and r["reference"] == BASE]
    if not rs:
        return ""
    return (f" The library's default TDI ({ts.LABELS[default]}) vs S4D-Lin (difference ± 95% CI, Holm p): "
            + ", ".join(f"{_diff(r)} (p_Holm {r['p_holm']:.2g}, {r['wins']}/{r['losses']} seeds)" for r in rs) + ".")


def _per_choice(rows: list[dict]) -> str:
    choices: dict = {}
    for r in rows:  # one design choice = one (candidate, reference) pair, over the data sets
        if r["reference"] != BASE:
            choices.setdefault((r["candidate"], r["reference"]), []).append(r)
    if not choices:
        return ""
    parts = [f"{ts.LABELS[c]} vs {ts.LABELS[ref]}: " + ", ".join(_diff(r) for r in rs)
             + f" ({sum(r['verdict'] in ('helps', 'hurts') for r in rs)} of {len(rs)} significant)"
             for (c, ref), rs in choices.items()]
    return (" Per choice (candidate vs the variant it extends; difference ± 95% CI per data set): "
            + "; ".join(parts) + ".")


def reading(rows: list[dict], acc: dict, default: str | None = None) -> str:
    """The summary in numbers: how many comparisons survive Holm, the default TDI against S4D-Lin, every design
    choice against the variant it extends, and what reaches p < ALPHA only before the correction."""
    if not rows:
        return "No data set has two seeds of a variant and its reference yet: nothing to compare."
    seeds = {}
    for r in rows:
        seeds[r["name"]] = max(seeds.get(r["name"], 0), r["n"])
    n_test = sum(r["p_holm"] == r["p_holm"] for r in rows)
    n_sig = sum(r["verdict"] in ("helps", "hurts") for r in rows)
    head = (f"{len(rows)} paired comparisons over {len(acc)} data set(s) ("
            + ", ".join(f"{n} {k} seeds" for n, k in seeds.items()) + f"; {n_test} testable), Holm-corrected over "
            f"all of them at family-wise {ALPHA}: {n_sig} significant.")
    body = _significant(rows) + _default_vs_base(rows, default) + _per_choice(rows)
    unc = [r for r in rows if r["p"] < ALPHA and r["verdict"] == "no significant difference"]
    if unc:
        body += (f" {len(unc)} comparison(s) reach p < {ALPHA} only before the correction: "
                 + "; ".join(f"{r['candidate']} vs {r['reference']} {_diff(r)} ({_direction(r)})" for r in unc) + ".")
    return head + body


def plot(acc: dict, rows: list[dict], args):
    names = list(acc)
    if not names:
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, "no cells computed yet", ha="center", va="center")
        ax.set_axis_off()
        return fig
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rs = [r for r in rows if r["name"] == name]
        cands = [v for v in ts.VARIANTS if any(r["candidate"] == v for r in rs)]
        for y, v in enumerate(cands):
            for r in rs:
                if r["candidate"] != v:
                    continue
                vs_base = r["reference"] == BASE
                off = 0.0 if vs_base else (0.18 if r["reference"] != "s4d-lin-frozen" else -0.18)
                ax.errorbar(r["diff"], y + off, xerr=r["ci95"], fmt="o" if vs_base else "s",
                            color="tab:red" if r["verdict"] == "hurts" else
                            "tab:green" if r["verdict"] == "helps" else ("black" if vs_base else "tab:gray"),
                            ms=5, capsize=3)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_yticks(range(len(cands)))
        ax.set_yticklabels([textwrap.fill(ts.LABELS[v], 26) for v in cands], fontsize=7)
        n = max((r["n"] for r in rs), default=0)
        metric = rs[0]["metric"] if rs else "accuracy"
        ax.set_title(f"{name} ({n} seeds)", fontsize=9)
        ax.set_xlabel(f"test {metric if metric == 'accuracy' else 'MASE'} difference (95% CI)"
                      + ("" if metric == "accuracy" else "; < 0 = better"), fontsize=8)
        ax.invert_yaxis()
    fig.suptitle("TDI ablation, paired by seed: o vs S4D-Lin, ■ vs the variant it extends "
                 "(green/red: Holm-significant)\n" + profile_note(args), fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=ts.add_cached_only_arg)
    with Timer() as tm:
        specs = ts.plan(ts.load_config(), args.profile)
        records = ts.run_cells(specs, args.out, only_cached=args.cached_only)
        acc = ts.by_variant(records)
        metrics = ts.metrics_by_name(records)
        rows = comparisons(acc, metrics)
        seeds = {n: max(len(v) for v in by.values()) for n, by in acc.items()}
        md = table_markdown(acc, rows, seeds)
        atomic_write_bytes(args.out / f"{NAME}_table.md", f"# TDI ablation ({args.profile})\n\n{md}".encode())
        save_json({"profile": args.profile, "scores": acc, "metrics": metrics, "comparisons": rows,
                   "cells": len(records), "planned": len(specs)}, args.out / f"{NAME}.json")
        save_figure(plot(acc, rows, args), args.out, NAME)
    key = {"cells_run_of_planned": f"{len(records)}/{len(specs)}", "seeds": seeds,
           "n_comparisons_holm": len(rows),
           "n_significant_holm": sum(r["verdict"] in ("helps", "hurts") for r in rows)}
    for name, by in acc.items():
        key[f"{name}_{metrics[name]}"] = {v: round(float(np.mean(list(s.values()))), 4) for v, s in by.items()}
    for r in rows:
        key[f"{r['name']}:{r['candidate']}-{r['reference']}"] = (
            f"{r['diff']:+.3f} ± {r['ci95']:.3f} (p {r['p']:.2g}, Holm {r['p_holm']:.2g})")
    write_summary(args, title="TDI ablation at small training fractions (issue 11)",
                  claim="Which of TDI's design choices (parameterization, frozen dynamics, layer-input spectrum, "
                        "band bank, tempering/floor) change the test score (accuracy; MASE for forecasting) against "
                        "S4D-Lin and the frozen default?",
                  key_numbers=key, reading=reading(rows, acc, ts.library_default_variant()),
                  seconds=tm.seconds)


if __name__ == "__main__":
    main()
