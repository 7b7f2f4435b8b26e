"""Figure E3c: each real data set's task spectrum S_task next to the default and the TDI power response |H|^2.

For every data set and series of the profile: S_task is the spectrum ``apply_tdi`` estimates from the whole
training split and matches (``TDIReport.target_spectrum``: input spectrum, channel-averaged, padding zeroed, at
most 512 sequences; token data: the first SSM layer's input), the
first layer's channel-mean |H(w)|^2 of the default S4D-Lin model (seed 0, the study's recipe) and of the
same model after TDI (first layer, input spectrum) - all on the rfft grid of the data's length and scaled
to unit mean so shapes compare. Numbers: L_spec(default) and L_spec(TDI) (``spectra.spectral_matching_loss``,
channel mean), and where the task puts its power (median frequency f50 as a fraction of Nyquist; white noise:
0.5), for S_task and for the default. From the profile's committed cells (nothing trains), the TDI gain at each
set's reference size (``e3_table.reference_x``: the ratio or span the profile plans with the most seeds, i.e. the
primary-power tier; the smallest such if several; fixed by the plan, so the ratio ladder's cells do not move it)
is set against the default's mismatch (Spearman rank correlation; the gain is the standardized paired effect
mean(diff)/sd(diff) over seeds, positive = TDI better, so accuracy and MASE share one scale): "TDI helps primarily
when mismatched".
"""

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from paper_figures import e3, e3_engine, e3_table
from paper_figures.common import Timer, parse_args, profile_note, save_figure, save_json, write_summary
from ssm_tdi import spectra, stats
from ssm_tdi.tdi import apply_tdi

NAME = "e3_spectra"


def task_and_model(kind: str, name: str, rec: dict, device):
    """(X, mask, model) of the whole training split; for forecasting the full-span windows."""
    if kind == "classification":
        ds = e3.classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
        model = e3.build_model("s4d-lin", rec, d_input=ds.d_input, d_output=ds.n_classes, task="classification",
                               seed=0, vocab_size=ds.vocab_size, device=device)
        return torch.as_tensor(ds.X_train), None if ds.mask_train is None else torch.as_tensor(ds.mask_train), model
    fd = e3.forecast_data(name, rec, 1.0)
    model = e3.build_model("s4d-lin", rec, d_input=1, d_output=rec["horizon"], task="regression", seed=0,
                           device=device)
    return torch.as_tensor(fd.X_train), None, model


def f50(S: np.ndarray) -> float:
    """Median frequency of the power, as a fraction of Nyquist (bin 0 excluded: the mean)."""
    c = np.cumsum(S[1:])
    return float((np.searchsorted(c, 0.5 * c[-1]) + 1) / (len(S) - 1))


def reference_gains(cfg: dict, profile: str) -> dict:
    """{name: d_z} of TDI vs S4D-Lin at each set's ``e3_table.reference_x``, from the profile's COMMITTED cells
    (as ``make e3-full-tables`` tabulates them; nothing trains, and no file in the output folder is read, so the
    numbers do not depend on where the script writes). d_z = mean(diff) / sd(diff) over paired seeds, positive =
    TDI better (MASE diffs are negated)."""
    gains = {}
    for kind, metric, sign in (("classification", "accuracy", 1.0), ("forecasting", "mase", -1.0)):
        specs = e3.plan_specs(cfg, profile, kind)[1]
        records = e3_engine.committed_records(specs, log=lambda *_: None)
        gains.update(paired_effects(e3_table.aggregate(records, metric), e3_table.plan_pairs(specs), sign))
    return gains


def paired_effects(agg: dict, planned: dict, sign: float) -> dict:
    """{name: sign * mean(d) / sd(d)}, d = TDI - S4D-Lin paired by seed at the set's reference x (>= 2 seeds and
    sd > 0, else the set is left out). ``agg``: {name: {init: {x: {seed: score}}}}; ``planned``: the plan's
    {name: {init: {x: planned seeds}}}."""
    out = {}
    for name in sorted(agg):
        x_ref = e3_table.reference_x(planned.get(name, {}).get(e3.TDI_MAIN, {}))
        if x_ref is None:
            continue
        a, b = e3_table.paired(agg, name, e3.TDI_MAIN, e3.DEFAULT_INIT, x_ref)
        d = stats.paired_difference(sign * a, sign * b)
        if d["n"] >= 2 and d["sd"] > 0:
            out[name] = d["mean"] / d["sd"]
    return out


def direction(res: dict) -> str:
    """Which way the default is mismatched: is the task lower- or higher-pass than the default's |H|^2?"""
    f_def = [r["f50_default"] for r in res.values()]
    lower = sorted(k for k, r in res.items() if r["f50_task"] < r["f50_default"])
    dc = [r["H2_default"][0] for r in res.values()]  # unit-mean |H|^2 at w = 0
    floor = [v for r in res.values() for v in r["H2_default"][len(r["H2_default"]) // 4:]]  # w/pi >= 1/4
    return (f"The default's unit-mean |H|^2 is {min(dc):.1f}..{max(dc):.1f} at w = 0 and "
            f"{min(floor):.2f}..{max(floor):.2f} above w/pi = 1/4, half its power below f50 = "
            f"{min(f_def):.2f}..{max(f_def):.2f} of Nyquist (white: 0.5); S_task is lower-pass than the default "
            f"(smaller f50) on {len(lower)} of {len(res)} sets"
            + (f" (higher-pass on {', '.join(sorted(set(res) - set(lower)))})" if len(lower) < len(res) else "")
            + ". ")


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    cfg = e3.load_config()
    entries = e3.profile_entries(cfg, args.profile)
    res = {}
    with Timer() as timer:
        for kind, name in entries:
            rec = e3.recipe(cfg, kind, name, args.profile)
            X, mask, model = task_and_model(kind, name, rec, args.device)
            L = X.shape[1]
            layer = model.ssm_layers[0]
            with torch.no_grad():
                P0 = layer.power_spectrum(L).to("cpu", torch.float64)
            # S_task: the spectrum apply_tdi itself estimated and matched (no second estimator here)
            S = apply_tdi(model, X, mask=mask, estimator="input", layers="first", seed=0)[0].target_spectrum
            with torch.no_grad():
                P1 = layer.power_spectrum(L).to("cpu", torch.float64)
            l0 = spectra.spectral_matching_loss(P0, S).mean().item()
            l1 = spectra.spectral_matching_loss(P1, S).mean().item()
            unit = lambda v: (v / v.mean()).numpy()  # noqa: E731
            res[name] = {"kind": kind, "L": int(L), "S_task": unit(S), "H2_default": unit(P0.mean(0)),
                         "H2_tdi": unit(P1.mean(0)), "lspec_default": l0, "lspec_tdi": l1,
                         "f50_task": f50(S.numpy()), "f50_default": f50(P0.mean(0).numpy())}

    # relation to the TDI gains measured in the profile's committed cells
    gains = {name: g for name, g in reference_gains(cfg, args.profile).items() if name in res}
    rho = None
    if len(gains) >= 3:
        from scipy.stats import spearmanr

        ks = sorted(gains)
        rho = spearmanr([res[k]["lspec_default"] for k in ks], [gains[k] for k in ks])
        rho = {"rho": float(rho.statistic), "p": float(rho.pvalue), "n": len(ks)}

    # ------------------------------------------------------------------ figure
    names = list(res)
    ncol = min(4, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        r = res[name]
        f = np.arange(len(r["S_task"])) / (len(r["S_task"]) - 1)
        # S_task on top (TDI matches it closely and would otherwise hide it): thick black under a thin
        # dashed TDI line, drawn last
        ax.semilogy(f, np.maximum(r["H2_default"], 1e-8), color=e3.COLORS["s4d-lin"], lw=1.0, ls="--",
                    label=f"S4D-Lin |H|^2 (L_spec {r['lspec_default']:.2g})", zorder=2)
        ax.semilogy(f, np.maximum(r["S_task"], 1e-8), color="k", lw=2.4, alpha=0.55, label="S_task (input)",
                    zorder=3)
        ax.semilogy(f, np.maximum(r["H2_tdi"], 1e-8), color=e3.COLORS[e3.TDI_MAIN], lw=0.9, ls=(0, (4, 2)),
                    label=f"TDI |H|^2 (L_spec {r['lspec_tdi']:.2g})", zorder=4)
        ax.set_title(f"{name} ({r['kind']}, L={r['L']})", fontsize=9)
        ax.set_xlabel(r"$\omega/\pi$")
        ax.legend(fontsize=6.5)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"E3: task spectra vs the first layer's power response, unit mean ({profile_note(args)})",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, args.out, NAME)

    save_json({"profile": args.profile, "spectra": res, "tdi_gain_at_reference_x": gains, "spearman": rho},
              args.out / f"{NAME}.json")
    key = {}
    for name, r in res.items():
        key[f"lspec_default[{name}]"] = r["lspec_default"]
        key[f"lspec_tdi[{name}]"] = r["lspec_tdi"]
        key[f"f50_task[{name}]"] = r["f50_task"]
        key[f"f50_default[{name}]"] = r["f50_default"]
    if rho is not None:
        key["spearman_mismatch_vs_tdi_gain"] = rho["rho"]
        key["spearman_p"] = rho["p"]
    order = sorted(res, key=lambda k: res[k]["lspec_default"])
    reading = (
        "Default (S4D-Lin) mismatch L_spec to the task spectrum, smallest to largest: "
        + ", ".join(f"{k} {res[k]['lspec_default']:.2g} (f50 {res[k]['f50_task']:.2f})" for k in order)
        + f". TDI brought the first layer to L_spec {min(r['lspec_tdi'] for r in res.values()):.2g}.."
        f"{max(r['lspec_tdi'] for r in res.values()):.2g}. "
        + direction(res)
        + (f"Spearman correlation between the default's mismatch and the TDI gain at each set's reference size "
           "(the ratio or span planned with the most seeds; standardized paired effect, so accuracy and MASE gains "
           "share one scale) "
           f"over {rho['n']} data sets: rho = {rho['rho']:.2f} (p = {rho['p']:.2g}); "
           + ("a positive, significant rho supports 'TDI helps primarily when mismatched'."
              if rho["rho"] > 0 and rho["p"] < 0.05 else
              "this does not support 'TDI helps primarily when mismatched' at p < 0.05.")
           if rho is not None else "Fewer than 3 data sets with measured gains: no correlation computed.")
    )
    write_summary(args, title="E3 task spectra vs default and TDI power responses",
                  claim="C5/C6 on real data: TDI aligns |H|^2 with S_task; the default's mismatch should predict "
                        "where TDI helps",
                  key_numbers=key, reading=reading, seconds=timer.seconds)
    print(reading)


if __name__ == "__main__":
    main()
