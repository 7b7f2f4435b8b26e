"""E1 learning curves: test error vs number of samples P for default inits and TDI (C4, C6).

Frozen single-channel SSM (see paper_figures/e1.py for the setting), ridge readout on its L
outputs, exact generalisation error for a band-limited linear teacher; C4 theory
(learning_curves.predict on the induced kernel's eigen-decomposition) drawn over the
simulation. Panels: teachers (low, mid, high, two-band) x inputs (white, AR(1) rho=0.8).
Errors are relative: E_g / (beta^T Sigma beta), the error of the zero predictor.
TDI's S_task is estimated from each trial's P training pairs (cross-spectral estimate).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from paper_figures import e1
from paper_figures.common import (
    Timer,
    mean_ci,
    parse_args,
    profile_note,
    save_figure,
    save_json,
    write_summary,
)
from ssm_tdi import kernel_regression

NAME = "learning_curves"
PROFILES = {
    "smoke": dict(
        L=32,
        P=[4, 16, 64],
        trials=2,
        teachers=["low", "high"],
        inputs=["white", "colored"],
        tdi_methods=["fast", "gradient"],
        gradient_P=[16],
        gain_variant=True,
        ratio_P=[16],
        gap_P_min=16,
    ),
    # quick: P stops at 512 (8 points) and gradient TDI (~0.35 s a call) runs only at P = 16 and 256
    "quick": dict(
        L=64,
        P=[4, 8, 16, 32, 64, 128, 256, 512],
        trials=10,
        teachers=["low", "mid", "high", "two-band"],
        inputs=["white", "colored"],
        tdi_methods=["fast", "gradient"],
        gradient_P=[16, 256],
        gain_variant=True,
        ratio_P=[16, 64, 256],
        gap_P_min=16,
    ),
    "full": dict(
        L=64,
        P=[int(p) for p in np.unique(np.round(np.geomspace(4, 1024, 17)))],
        trials=24,
        teachers=["low", "mid", "high", "two-band"],
        inputs=["white", "colored"],
        tdi_methods=["fast", "gradient"],
        gradient_P=None,
        gain_variant=True,
        ratio_P=[16, 64, 256],
        gap_P_min=16,
    ),
}


def model_names(cfg, inp_kind):
    names = list(e1.DEFAULT_INITS) + [f"tdi-{m}" for m in cfg["tdi_methods"]]
    if cfg["gain_variant"] and inp_kind == "colored":
        names.append("tdi-fast-gain")
    return names


def tdi_P(cfg, name):
    """The sample sizes at which a TDI variant is run (gradient TDI is slow: a subset in quick)."""
    if name == "tdi-gradient" and cfg.get("gradient_P"):
        return [P for P in cfg["P"] if P in cfg["gradient_P"]]
    return list(cfg["P"])


def run_trial(cfg, inp, teacher, seed, trial, names, lspec):
    """Relative errors (sim, theory) of every model on the P grid for one trial (NaN where not run)."""
    L, Ps = cfg["L"], cfg["P"]
    s_teacher, s_data, s_init = e1.trial_seeds(seed, trial, 3)
    beta, X, y = e1.sample_task(L, teacher, inp, s_teacher, s_data, max(Ps))
    null = float(kernel_regression.linear_generalization_error(torch.zeros_like(beta), beta, inp.cov))
    sim, th = {}, {}
    for name in names:
        s, t = np.full(len(Ps), np.nan), np.full(len(Ps), np.nan)
        if not name.startswith("tdi"):
            K = e1.init_kernel(name, s_init, L)
            t[:] = e1.theory_error(K, beta, inp, np.asarray(Ps, float))
            for i, P in enumerate(Ps):
                s[i] = e1.sim_error(K, X[:P], y[:P], beta, inp)
        else:
            method = name.split("-")[1]
            variant = "gain" if name.endswith("gain") else "power"
            kw = {"backend": "fft"} if method == "gradient" else {}  # same numbers as "response", faster
            for i, P in enumerate(Ps):
                if P not in tdi_P(cfg, name):
                    continue
                S = e1.task_spectrum(X[:P], y[:P], "transfer", variant)
                K, rep = e1.tdi_kernel(S, L, s_init, method, **kw)
                lspec.setdefault(name, []).append((rep.loss_before_mean, rep.loss_after_mean))
                s[i] = e1.sim_error(K, X[:P], y[:P], beta, inp)
                t[i] = e1.theory_error(K, beta, inp, float(P))
        sim[name], th[name] = s / null, t / null
    return sim, th


def main(argv=None):
    args = parse_args(NAME, __doc__, argv)
    cfg = PROFILES[args.profile]
    torch.set_num_threads(1)
    if not e1.tdi_available():
        raise SystemExit("ssm_tdi.tdi / ssm_tdi.spectra not found: this figure needs TDI")
    Ps = np.asarray(cfg["P"])
    data = {
        "profile": args.profile,
        "config": cfg,
        "ridge": e1.RIDGE,
        "d_state": e1.D_STATE,
        "rho_colored": e1.RHO_COLORED,
        "freqbias_alpha": e1.FREQBIAS_ALPHA,
        "panels": {},
    }
    lspec = {}
    with Timer() as timer:
        for ik in cfg["inputs"]:
            inp = e1.input_model(ik, cfg["L"])
            names = model_names(cfg, ik)
            for teacher in cfg["teachers"]:
                sims = {n: [] for n in names}
                ths = {n: [] for n in names}
                for trial in range(cfg["trials"]):
                    s, t = run_trial(cfg, inp, teacher, args.seed, trial, names, lspec)
                    for n in names:
                        sims[n].append(s[n])
                        ths[n].append(t[n])
                data["panels"][f"{ik}/{teacher}"] = {
                    n: {"sim": np.asarray(sims[n]), "theory": np.asarray(ths[n])} for n in names
                }
    seconds = timer.seconds

    # ------------------------------------------------------------------ statistics
    key, stats = {}, {}
    Pl = list(Ps)
    gap_best = (-1.0, None)
    all_gaps = []
    for pk, panel in data["panels"].items():
        stats[pk] = {}
        for n, d in panel.items():
            m, hw = mean_ci(d["sim"], axis=0)  # NaN at the P where the model was not run
            tm = d["theory"].mean(0)
            rel = np.abs(tm - m) / m
            stats[pk][n] = {"sim_mean": m, "sim_ci": hw, "theory_mean": tm, "rel_gap": rel}
            for j in np.flatnonzero((Ps >= cfg["gap_P_min"]) & np.isfinite(rel)):
                all_gaps.append(rel[j])
                if rel[j] > gap_best[0]:
                    gap_best = (float(rel[j]), (pk, n, int(Ps[j])))
    key["theory_sim_max_rel_gap"] = gap_best[0]
    key["theory_sim_max_gap_at"] = f"{gap_best[1][0]}, {gap_best[1][1]}, P={gap_best[1][2]}"
    key["theory_sim_median_rel_gap"] = float(np.median(all_gaps))
    key["theory_sim_gap_P_min"] = cfg["gap_P_min"]
    # the same over all P (small P included), to show where the finite-size theory is worst
    small = [
        (float(st["rel_gap"][j]), pk, n, int(Ps[j]))
        for pk in stats
        for n, st in stats[pk].items()
        for j in np.flatnonzero(np.isfinite(st["rel_gap"]))
    ]
    worst = max(small)
    key["theory_sim_max_rel_gap_all_P"] = worst[0]
    key["theory_sim_max_gap_all_P_at"] = f"{worst[1]}, {worst[2]}, P={worst[3]}"

    ratios = {}
    for pk, panel in data["panels"].items():
        ratios[pk] = {}
        for n in panel:
            if n == "s4d-lin":
                continue
            r, lo, hi = e1.paired_ratio(panel[n]["sim"], panel["s4d-lin"]["sim"], axis=0)
            ratios[pk][n] = {"ratio": r, "lo": lo, "hi": hi}
        for P in cfg["ratio_P"]:
            if P in Pl:
                i = Pl.index(P)
                rr = ratios[pk]["tdi-fast"]
                key[f"ratio_tdi_fast/s4d_lin[{pk},P={P}]"] = float(rr["ratio"][i])
                key[f"ratio_tdi_fast/s4d_lin[{pk},P={P}]_ci"] = [float(rr["lo"][i]), float(rr["hi"][i])]
    data["stats"], data["ratios"] = stats, ratios

    # TDI's achieved spectral matching loss
    for n, v in lspec.items():
        v = np.asarray(v)
        key[f"median_L_spec_before[{n}]"] = float(np.median(v[:, 0]))
        key[f"median_L_spec_after[{n}]"] = float(np.median(v[:, 1]))
    data["L_spec"] = {n: np.asarray(v) for n, v in lspec.items()}

    # fast vs gradient, gain vs power (paired, geometric mean of per-trial ratios)
    grad_cmp = {}
    if "gradient" in cfg["tdi_methods"]:
        for pk, panel in data["panels"].items():
            grad_cmp[pk] = e1.paired_ratio(panel["tdi-gradient"]["sim"], panel["tdi-fast"]["sim"], axis=0)
        allr = np.concatenate([np.asarray(v[0]) for v in grad_cmp.values()])
        key["gradient/fast_error_ratio_range"] = [float(np.nanmin(allr)), float(np.nanmax(allr))]
    data["gradient_vs_fast"] = {k: {"ratio": v[0], "lo": v[1], "hi": v[2]} for k, v in grad_cmp.items()}
    gain_cmp = {}
    for pk, panel in data["panels"].items():
        if "tdi-fast-gain" in panel:
            r, lo, hi = e1.paired_ratio(panel["tdi-fast-gain"]["sim"], panel["tdi-fast"]["sim"], axis=0)
            gain_cmp[pk] = (r, lo, hi)
            for P in cfg["ratio_P"]:
                if P in Pl:
                    i = Pl.index(P)
                    key[f"ratio_gain/power[{pk},P={P}]"] = float(r[i])
    data["gain_vs_power"] = {k: {"ratio": v[0], "lo": v[1], "hi": v[2]} for k, v in gain_cmp.items()}

    # ------------------------------------------------------------------ figure
    inputs, teachers = cfg["inputs"], cfg["teachers"]
    fig, axes = plt.subplots(
        len(inputs),
        len(teachers),
        figsize=(3.6 * len(teachers), 3.3 * len(inputs) + 0.9),
        squeeze=False,
        sharex=True,
    )
    for a, ik in enumerate(inputs):
        for b, teacher in enumerate(teachers):
            ax = axes[a][b]
            pk = f"{ik}/{teacher}"
            for n, st in stats[pk].items():
                sty = e1.STYLE[n]
                lo = np.maximum(st["sim_mean"] - st["sim_ci"], st["sim_mean"] * 0.1)  # log axis: clip at m/10
                ax.errorbar(
                    Ps,
                    st["sim_mean"],
                    yerr=[st["sim_mean"] - lo, st["sim_ci"]],
                    fmt="o",
                    ms=3.5,
                    color=sty["color"],
                    capsize=2,
                    lw=1,
                    label=sty["label"] + " (sim)",
                )
                ax.plot(Ps, st["theory_mean"], "--", color=sty["color"], lw=1.2, alpha=0.9)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{teacher} teacher, {ik} input", fontsize=10)
            ax.grid(alpha=0.3, which="both", lw=0.4)
            if b == 0:
                ax.set_ylabel("relative test error  E_g / E_g(0)")
            if a == len(inputs) - 1:
                ax.set_xlabel("number of samples P")
    h, lab = axes[-1][0].get_legend_handles_labels()
    for row in axes:  # the colored row may have more models
        hh, ll = row[0].get_legend_handles_labels()
        if len(hh) > len(h):
            h, lab = hh, ll
    h.append(plt.Line2D([], [], ls="--", color="k"))
    lab.append("C4 theory (same colour)")
    fig.legend(
        h,
        lab,
        loc="lower center",
        ncol=min(len(h), 4),
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, -0.01),
    )
    fig.suptitle(
        f"E1 learning curves: frozen SSM (N={e1.D_STATE}, L={cfg['L']}) + ridge readout "
        f"(ridge={e1.RIDGE:g}); mean and 95% CI over {cfg['trials']} trials; "
        f"AR(1) rho={e1.RHO_COLORED} for colored\n"
        f"markers: simulation (lower whiskers clipped at mean/10 on the log axis); dashed: C4 theory; "
        f"TDI matches S_task estimated from the same P pairs",
        fontsize=10,
    )
    fig.text(
        0.005,
        0.003,
        profile_note(
            args,
            f"P={Ps.min()}..{Ps.max()}, trials={cfg['trials']}"
            + (f"; TDI gradient only at P={cfg['gradient_P']}" if cfg.get("gradient_P") else ""),
        ),
        ha="left",
        va="bottom",
        fontsize=7,
        color="gray",
    )
    fig.tight_layout(rect=(0, 0.09 if len(h) > 4 else 0.05, 1, 0.97))
    save_figure(fig, args.out, NAME)
    save_json(data, args.out / f"{NAME}.json")

    # ------------------------------------------------------------------ reading
    parts = []
    Pmid = [P for P in cfg["ratio_P"] if P in Pl]
    for pk in data["panels"]:
        rr = ratios[pk]["tdi-fast"]
        bits = []
        for P in Pmid:
            i = Pl.index(P)
            r, lo, hi = rr["ratio"][i], rr["lo"][i], rr["hi"][i]
            v = "helps" if hi < 1 else ("hurts" if lo > 1 else "no clear difference")
            bits.append(f"P={P}: {r:.2g} [{lo:.2g}, {hi:.2g}] ({v})")
        parts.append(f"{pk}: " + "; ".join(bits))
    c6 = []
    for ik in inputs:
        for teacher in teachers:
            pk = f"{ik}/{teacher}"
            rr = ratios[pk]["tdi-fast"]
            helps = [P for P in Pmid if rr["hi"][Pl.index(P)] < 1]
            hurts = [P for P in Pmid if rr["lo"][Pl.index(P)] > 1]
            c6.append((pk, helps, hurts))
    low_hurt = [pk for pk, _, hu in c6 if pk.endswith("/low") and hu]
    low_help = [pk for pk, he, _ in c6 if pk.endswith("/low") and he]
    mis_help = [pk for pk, he, _ in c6 if not pk.endswith("/low") and he]
    mis_all = [pk for pk, _, _ in c6 if not pk.endswith("/low")]
    # is the gain concentrated on the mismatched bands? geometric mean ratio over panels at a middle P
    Pc = Pmid[len(Pmid) // 2] if Pmid else None
    c6_text = ""
    if Pc is not None:
        ic = Pl.index(Pc)
        g_low = [np.log(ratios[pk]["tdi-fast"]["ratio"][ic]) for pk, _, _ in c6 if pk.endswith("/low")]
        g_mis = [np.log(ratios[pk]["tdi-fast"]["ratio"][ic]) for pk in mis_all]
        if g_low and g_mis:
            gl, gm = float(np.exp(np.mean(g_low))), float(np.exp(np.mean(g_mis)))
            key[f"geo_mean_ratio_low_band[P={Pc}]"] = gl
            key[f"geo_mean_ratio_mismatched_bands[P={Pc}]"] = gm
            c6_text = (
                f" At P={Pc} the geometric-mean ratio is {gl:.2g} on the low band vs {gm:.2g} on the "
                f"mismatched bands: "
                + (
                    "the gain is concentrated on the mismatched bands, as C6 says. "
                    if gl > 10 * gm
                    else "TDI helps about as much (or more) on the low band, so C6's 'primarily when the "
                    "default is mismatched' is NOT what we measure here: with random dt the S4D-Lin "
                    "kernel is not narrowly aligned even with the low band, and matching any "
                    "band-limited spectrum concentrates the kernel on the target's few modes. "
                )
            )
    # TDI's error is not monotone in P: exact matching nulls the out-of-band gain
    nonmono = []
    for pk in data["panels"]:
        m = stats[pk]["tdi-fast"]["sim_mean"]
        tm = stats[pk]["tdi-fast"]["theory_mean"]
        rise, trise = float(m[-1] / np.nanmin(m)), float(tm[-1] / np.nanmin(tm))
        key[f"tdi_fast_error_rise_to_Pmax[{pk}]"] = rise
        if rise > 10:
            nonmono.append(f"{pk} (x{rise:.2g}; theory x{trise:.2g})")
        rr = ratios[pk]["tdi-fast"]
        key[f"ratio_tdi_fast/s4d_lin[{pk},P={Pl[-1]}]"] = float(rr["ratio"][-1])
    nonmono_text = (
        (
            f"TDI(fast)'s error is not monotone in P: from its minimum to P={Pl[-1]} it rises by more "
            f"than 10x in " + ", ".join(nonmono) + "; where the theory rises too this is a property "
            "of the data-dependent kernel, not of the finite sample: as the S_task estimate sharpens, "
            "its out-of-band floor falls, the fitted |H|^2 follows it and the target power that the "
            "finite (Toeplitz) window leaks out of the band sits on modes with P*eta below the ridge "
            "(the oracle-spectrum check is in the estimator_sensitivity figure). "
        )
        if nonmono
        else ""
    )
    reading = (
        "Error ratio TDI(fast)/S4D-Lin, geometric mean of paired per-trial ratios with 95% CI: "
        + " | ".join(parts)
        + ". "
        + f"C6: TDI helps (CI below 1 at some quoted P) for {len(mis_help)} of {len(mis_all)} mismatched "
        f"teacher panels (mid/high/two-band)"
        + (
            f"; it hurts on the aligned low band in {', '.join(low_hurt)} -- the claim 'TDI does not hurt "
            f"where the default matches' does not hold there"
            if low_hurt
            else "; on the low band it does not hurt at the quoted P"
            + (
                f" and even helps in {len(low_help)} of {len([1 for pk, _, _ in c6 if pk.endswith('/low')])} "
                f"low-band panels"
                if low_help
                else ""
            )
        )
        + "."
        + c6_text
        + nonmono_text
        + f"C4: the theory tracks the simulated means with median relative gap "
        f"{key['theory_sim_median_rel_gap']:.2g} over P >= {cfg['gap_P_min']}; the largest gap is "
        f"{key['theory_sim_max_rel_gap']:.2g} at {key['theory_sim_max_gap_at']}"
        + (
            " (theory and simulation agree to within 25% everywhere)"
            if key["theory_sim_max_rel_gap"] < 0.25
            else " (the finite-size theory is off there)"
        )
        + ". "
    )
    if grad_cmp:
        gb = []
        for pk, (r, lo, hi) in grad_cmp.items():
            for P in Pmid:
                i = Pl.index(P)
                if np.isfinite(r[i]):
                    w = "gradient better" if hi[i] < 1 else "fast better" if lo[i] > 1 else "tie"
                    gb.append(f"{pk} P={P}: {r[i]:.2g} ({w})")
        reading += (
            f"TDI gradient (Adam, library defaults) reaches median L_spec "
            f"{key['median_L_spec_after[tdi-gradient]']:.2g} (from "
            f"{key['median_L_spec_before[tdi-gradient]']:.2g}) vs "
            f"{key['median_L_spec_after[tdi-fast]']:.2g} for the fast solver, so the two are "
            + (
                "not "
                if key["median_L_spec_after[tdi-gradient]"] > 10 * key["median_L_spec_after[tdi-fast]"] + 1e-6
                else ""
            )
            + "the same initialisation; error ratio gradient/fast: "
            + "; ".join(gb)
            + ". "
        )
    if gain_cmp:
        gbits = []
        for pk, (r, lo, hi) in gain_cmp.items():
            for P in Pmid:
                i = Pl.index(P)
                w = "|G|^2 matching wins" if hi[i] < 1 else "|G|^2 P_u matching wins" if lo[i] > 1 else "tie"
                gbits.append(f"{pk} P={P}: {r[i]:.2g} [{lo[i]:.2g}, {hi[i]:.2g}] ({w})")
        reading += (
            "Colored input, matching |G|^2 (gain) vs |G|^2 P_u (target power), error ratio gain/power: "
            + "; ".join(gbits)
            + "."
        )
    write_summary(
        args,
        title="E1 learning curves: default inits vs TDI, simulation and C4 theory",
        claim="C4 (kernel-regression learning curves predict the frozen-SSM error) and C6 (TDI "
        "helps at small P when the default bias is mismatched, does not hurt when matched); E1",
        key_numbers=key,
        reading=reading,
        seconds=seconds,
    )
    print(f"{NAME}: {seconds:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
