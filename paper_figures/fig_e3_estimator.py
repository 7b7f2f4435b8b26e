"""Figure E3d: sensitivity of TDI to the spectrum estimate: TDI from the spectrum of n training sequences.

For each data set / series of the profile, S_all is the spectrum ``apply_tdi`` (first layer, input estimator)
estimates from the whole training split (``TDIReport.target_spectrum``; at most 512 sequences). For n = 1, 2,
4, ... training sequences (``repeats`` seeded draws each) ``apply_tdi`` is run on a fresh S4D-Lin layer of the
study's model with only those n sequences; S_n is the spectrum it matched. Plotted: L_spec(S_n, S_all), the
estimate's own error, and L_spec(|H_TDI(n)|^2, S_all), how far the initialized layer is from the spectrum
it would get from all the data; the default S4D-Lin layer's L_spec(|H|^2, S_all) is the horizontal reference. L_spec is
``spectra.spectral_matching_loss`` (channel mean).
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from paper_figures import e3
from paper_figures.common import Timer, parse_args, profile_note, save_figure, save_json, write_summary
from paper_figures.fig_e3_spectra import task_and_model
from ssm_tdi import spectra
from ssm_tdi.tdi import apply_tdi

NAME = "e3_estimator"
PROFILES = {"smoke": {"ns": [1, 4], "repeats": 2}, "quick": {"ns": [1, 2, 4, 8, 16, 32, 64], "repeats": 5},
            "full": {"ns": [1, 2, 4, 8, 16, 32, 64, 128, 256], "repeats": 10}}


def tdi_from(model, state, X, mask, idx, seed):
    """apply_tdi (first layer, input) from the sequences ``idx`` on the first layer reset to ``state``:
    (the spectrum it matched, the layer's |H|^2 afterwards)."""
    layer = model.ssm_layers[0]
    layer.load_state_dict(state)
    rep = apply_tdi(model, X[idx], mask=None if mask is None else mask[idx], estimator="input", layers="first",
                    seed=seed)[0]
    with torch.no_grad():
        return rep.target_spectrum, layer.power_spectrum(X.shape[1]).cpu().double()


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    prof = PROFILES[args.profile]
    cfg = e3.load_config()
    entries = e3.profile_entries(cfg, args.profile)
    res = {}
    with Timer() as timer:
        for kind, name in entries:
            rec = e3.recipe(cfg, kind, name, args.profile)
            X, mask, model = task_and_model(kind, name, rec, args.device)
            L, n_all = X.shape[1], X.shape[0]
            layer = model.ssm_layers[0]
            state = {k: v.detach().clone() for k, v in layer.state_dict().items()}
            with torch.no_grad():
                P_default = layer.power_spectrum(L).cpu().double()

            S_all = tdi_from(model, state, X, mask, torch.arange(n_all), 0)[0]  # apply_tdi's estimate (<= 512 seqs)
            l_default = spectra.spectral_matching_loss(P_default, S_all).mean().item()
            r = {"n": [], "est_err": [], "tdi_err": [], "n_all": int(n_all), "lspec_default": l_default}
            for n in [k for k in prof["ns"] if k < n_all] + [n_all]:
                e_est, e_tdi = [], []
                for rep in range(prof["repeats"] if n < n_all else 1):
                    g = torch.Generator().manual_seed(1000 * rep + n)
                    idx = torch.randperm(n_all, generator=g)[:n].sort().values
                    S_n, P = tdi_from(model, state, X, mask, idx, rep)
                    e_est.append(spectra.spectral_matching_loss(S_n, S_all).item())
                    e_tdi.append(spectra.spectral_matching_loss(P, S_all).mean().item())
                r["n"].append(int(n))
                r["est_err"].append(e_est)
                r["tdi_err"].append(e_tdi)
            layer.load_state_dict(state)
            res[name] = r

    names = list(res)
    ncol = min(4, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        r = res[name]
        # min-max over draws as capped bars, the two series side by side (x * 0.93 / 1.07), not overlapping
        # bands; the estimate at n = all IS S_all (error 0, off a log axis): not drawn, the TDI point is
        for k, c, lab, shift, mk in (("est_err", "k", "L_spec(S_n, S_all)", 0.93, "s"),
                                     ("tdi_err", e3.COLORS[e3.TDI_MAIN], "L_spec(|H_TDI(n)|^2, S_all)", 1.07, "o")):
            keep = [i for i, n in enumerate(r["n"]) if not (k == "est_err" and n == r["n_all"])]
            n = np.array([r["n"][i] for i in keep], float) * shift
            m = np.array([np.mean(r[k][i]) for i in keep])
            lo = m - np.array([np.min(r[k][i]) for i in keep])
            hi = np.array([np.max(r[k][i]) for i in keep]) - m
            ax.errorbar(n, m, yerr=[lo, hi], fmt=mk + "-", color=c, ms=3.5, capsize=2.5, lw=1.1, label=lab)
        ax.axhline(r["lspec_default"], color=e3.COLORS["s4d-lin"], ls="--", lw=1, label="default S4D-Lin")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [t for t in r["n"] if t == r["n_all"] or 1.3 * t < r["n_all"]]  # no label over 'all
        ax.set_xticks(ticks, [str(t) if t != r["n_all"] else f"all\n{t}" for t in ticks], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("n training sequences")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"E3: TDI from the spectrum of n sequences (mean, min-max over {prof['repeats']} draws; "
                 f"{profile_note(args)})", fontsize=10)
    fig.tight_layout(rect=(0, 0.07 if nrow > 1 else 0.12, 1, 1))
    save_figure(fig, args.out, NAME)
    save_json({"profile": args.profile, "results": res}, args.out / f"{NAME}.json")

    key, parts = {}, []
    for name, r in res.items():
        tdi_m = [float(np.mean(v)) for v in r["tdi_err"]]
        # smallest n whose TDI layer is closer to S_all than the default layer, on average
        n_beats = next((n for n, v in zip(r["n"], tdi_m, strict=False) if v < r["lspec_default"]), None)
        key[f"tdi_err_n1[{name}]"] = tdi_m[0]
        key[f"tdi_err_all[{name}]"] = tdi_m[-1]
        key[f"lspec_default[{name}]"] = r["lspec_default"]
        key[f"n_tdi_beats_default[{name}]"] = n_beats if n_beats is not None else "never"
        parts.append(f"{name}: n={n_beats}" if n_beats is not None else f"{name}: never")
    reading = ("Smallest number of training sequences whose spectrum gives a TDI layer closer to the all-data "
               "spectrum than the default S4D-Lin layer is (mean over draws): " + "; ".join(parts) + ". "
               "Beyond that point the remaining gap is the estimate's own error (black), which falls with n "
               "roughly like a periodogram average's variance.")
    write_summary(args, title="E3 estimator sensitivity: TDI from the spectrum of n training sequences",
                  claim="Referee question: how many training sequences does TDI's spectrum estimate need?",
                  key_numbers=key, reading=reading, seconds=timer.seconds)
    print(reading)


if __name__ == "__main__":
    main()
