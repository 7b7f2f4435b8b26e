"""Figure E3b: forecasting series with spectral lines (electricity demand, CO2, sunspots), default inits vs TDI.

Protocol (``paper_figures/e3.py``; window W, horizon H, stride per series in ``configs/e3.json``):
sequence-to-sequence regression on context windows (every position t predicts the next H values; the
forecast is read at the last position), chronological train / validation / test spans (60/20/20); the
low-data regime keeps only the last 1/16 .. all of the training span. Inits: S4D-Lin, S4D-LegS, freqbias,
TDI on the first layer and per layer with the input spectrum and with the transfer (cross-power)
spectrum of the dense targets. Baselines on the same windows: seasonal naive (lag = the series' period)
and a ridge linear autoregression. Metric: test MASE (in-sample naive error over the whole training span
as the scale) and MSE in original units; comparisons paired by seed (``paper_figures/e3_table.py``). Recipe v2 and the
cell grid as in ``fig_e3_accuracy``; built from finished cells, ``--train`` computes missing ones. Writes
e3_forecast.* and the forecasting rows of e3_table.{md,csv}.
"""

import matplotlib.pyplot as plt
import numpy as np

from paper_figures import e3, e3_table
from paper_figures.common import Timer, mean_ci, parse_args, profile_note, save_figure, save_json, write_summary

NAME = "e3_forecast"
KIND = "forecasting"
BASELINE_STYLE = {"seasonal-naive": ("k", ":"), "linear-ar": ("0.4", "-.")}


def _frac(s: float) -> str:
    return f"1/{round(1 / s)}" if s < 1 else "1"


def _who(r) -> str:
    """The init, or 'init - reference' for a matched row (reference other than the default)."""
    return r["init"] if r["reference"] == e3.DEFAULT_INIT else f"{r['init']} - {r['reference']}"


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, extra=e3.add_engine_args)
    cfg = e3.load_config()
    with Timer() as timer:
        plan, specs = e3.plan_specs(cfg, args.profile, KIND)
        if not specs:
            print(f"{NAME}: profile {args.profile!r} has no forecasting cells; nothing to draw")
            return
        records = e3.run_cells(specs, args.out, args.device, jobs=args.jobs, scheduler=args.scheduler,
                               compute_missing=args.train or args.profile == "smoke",
                               local_cache=not args.committed_only)
        done = [r for r in records if r is not None]
        scores = {m: e3_table.aggregate(done, m) for m in ("mase", "mse")}
        pairs = e3_table.plan_pairs(specs)
        rows = e3_table.comparisons(scores["mase"], KIND, cfg, pairs)
        md, csv_rows = e3_table.section(KIND, scores["mase"], rows, cfg, pairs, (len(done), len(specs)),
                                        plan)
        names = [n for n in plan["names"] if n in pairs]
        spans_of = {n: sorted({x for xs in pairs[n].values() for x in xs}) for n in names}
        base = {n: {x: e3.forecast_baselines(n, e3.recipe(cfg, KIND, n, args.profile), x) for x in spans_of[n]}
                for n in names}
    inits = [i for i in e3.INITS if any(i in by for by in pairs.values())]

    fig, axes = plt.subplots(2, len(names), figsize=(5.0 * len(names), 7.2), squeeze=False)
    for j, name in enumerate(names):
        ax, spans, rec = axes[0, j], spans_of[name], e3.recipe(cfg, KIND, name, args.profile)
        for init in inits:
            by_x = scores["mase"].get(name, {}).get(init, {})
            xs = [x for x in spans if by_x.get(x)]
            if not xs:
                continue
            m, hw = zip(*[mean_ci(list(by_x[x].values())) for x in xs], strict=True)
            ax.errorbar(xs, m, yerr=np.nan_to_num(np.asarray(hw, float)), ms=3, capsize=2,
                        fmt=("-" if init.startswith("tdi") else "--") + "o", color=e3.COLORS[init],
                        label=e3.LABELS[init], lw=1.6 if init == e3.TDI_MAIN else 1.0)
        for b, (c, ls) in BASELINE_STYLE.items():
            if b in base[name][spans[0]]:
                ax.plot(spans, [base[name][x][b]["mase"] for x in spans], color=c, ls=ls, marker="s", ms=3, label=b)
        dropped = plan["dropped"].get(name) or {}
        ax.set_title(f"{name}: window W={rec['window']}, horizon H={rec['horizon']}"
                     + (f"\nnot run: {', '.join(_frac(s) for s in dropped)} of the training span (shorter than "
                        f"one window + horizon, {rec['window'] + rec['horizon']} steps)" if dropped else ""),
                     fontsize=8.5)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(spans, [_frac(s) for s in spans])
        ax.set_xlabel("fraction of the training span kept")
        ax.set_ylabel("test MASE")
        ax.grid(alpha=0.3)
        ax = axes[1, j]  # one test window (the middle one), largest span, seed 0
        full = max(spans)
        ex = base[name][full]["example"]
        W, H = len(ex["context"]), len(ex["target"])
        t_fut = np.arange(H)
        ax.plot(np.arange(-W, 0), ex["context"], color="0.5", lw=1, label="context")
        ax.plot(t_fut, ex["target"], color="k", lw=1.5, label="truth")
        for r in done:
            s = r["spec"]
            if (s["name"], s["x"], s["seed"]) == (name, full, 0) and s["init"] in (e3.DEFAULT_INIT, e3.TDI_MAIN,
                                                                                  "tdi-first-transfer"):
                ax.plot(t_fut, r["result"]["example_forecast"], color=e3.COLORS[s["init"]], lw=1.2,
                        label=e3.LABELS[s["init"]])
        ax.plot(t_fut, ex["linear-ar"], color="0.4", ls="-.", lw=1, label="linear AR")
        ax.set_title(f"{name}: test window {ex['index']} (span {_frac(full)}, seed 0)", fontsize=9)
        ax.set_xlabel("steps from forecast origin")
        ax.set_ylabel(f"{name} (original units)")
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.02, 0.5))
    axes[1, -1].legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"E3 forecasting: MASE vs training span (mean and 95% t interval over seeds; {len(done)} of "
                 f"{len(specs)} planned cells) and one test forecast ({profile_note(args)})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.out, NAME)

    save_json({"profile": args.profile, "plan": plan, "mase": scores["mase"], "mse": scores["mse"],
               "baselines": base, "comparisons": rows, "cells_finished": len(done), "cells_planned": len(specs),
               "table_section": {"md": md, "csv": csv_rows},
               "cells": [{"spec": {k: v for k, v in r["spec"].items() if k not in ("recipe", "tdi_defaults")},
                          "result": r["result"], "seconds": r["seconds"]} for r in done]}, args.out / f"{NAME}.json")
    e3_table.write_table(args.out, args.profile, args.committed_only)

    key = {"series": ", ".join(names), "cells_finished": len(done), "cells_planned": len(specs)}
    for name in names:
        full = max(spans_of[name])
        key[f"mase_linear_ar[{name},full]"] = base[name][full]["linear-ar"]["mase"]
        for init in (e3.DEFAULT_INIT, e3.TDI_MAIN):
            v = list(scores["mase"].get(name, {}).get(init, {}).get(full, {}).values())
            if v:
                key[f"mase_{init}[{name},full]"] = float(np.mean(v))
    said = [f"{r['name']} span={_frac(r['x'])} {_who(r)}: {r['mean']:+.3f} ({r['n']} seeds, {r['verdict']})"
            for r in rows if r["n"] >= 2]
    reading = (f"{len(done)} of {len(specs)} planned forecasting cells are finished. MASE differences vs S4D-Lin "
               "(negative is better), paired by seed: " + ("; ".join(said) or "none finished") + ".")
    write_summary(args, title="E3 forecasting: error vs training span, default inits vs TDI (input and transfer)",
                  claim="C6 on real data with spectral lines (issue 7): TDI, in particular with the transfer "
                        "(cross-power) spectrum the paper used, should help when the task's spectrum has "
                        "lines the default low-pass bias misses",
                  key_numbers=key, reading=reading, seconds=timer.seconds)
    print(reading)


if __name__ == "__main__":
    main()
