"""E1 learning curves: test error vs number of samples P for default inits and two TDI arms (C4, C6).

Frozen single-channel SSM (setting in paper_figures/e1.py), ridge readout on its L outputs, exact
generalisation error against a band-limited linear teacher. The headline set-up has label noise at
a stated SNR and the ridge chosen per kernel and per training set by closed-form leave-one-out on
that training set alone; the C4 theory (learning_curves.predict) gets the same ridge and the same
noise. The noise-free, fixed-ridge (1e-3) set-up of the first version of this figure is kept as
its limit: with no noise and P >= L any full-rank kernel recovers the teacher, so error ratios
there measure ridge bias, not data efficiency. TDI arms: the label-free input spectrum and the
labelled transfer estimate, both from the same P pairs. Errors are relative: E_g / (beta^T Sigma
beta), the error of the zero predictor. P < L (where data efficiency is decided) has its own axis.
"""

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch

from paper_figures import e1
from paper_figures.common import Timer, mean_ci, parse_args, profile_note, save_figure, save_json, write_summary
from ssm_tdi import kernel_regression

NAME = "learning_curves"
NOISY = {"name": "snr10", "snr": 10.0, "ridge": "cv", "label": "SNR 10, ridge by leave-one-out"}
LIMIT = {"name": "limit", "snr": math.inf, "ridge": e1.RIDGE,
         "label": f"noise-free limit, fixed ridge {e1.RIDGE:g} (the earlier set-up)"}
COMMON = {"target_error": 0.25, "inits": list(e1.DEFAULT_INITS) + list(e1.TDI_ARMS), "n_boot": 2000}
PROFILES = {
    "smoke": dict(L=16, P=[2, 4, 8, 16, 32], trials=3, teachers=["low", "high"], inputs=["white"],
                  levels=[NOISY, LIMIT], n_boot=200),
    "quick": dict(L=64, P=[4, 8, 12, 16, 24, 32, 48, 64, 128, 256], trials=12,
                  teachers=["low", "mid", "high", "two-band"], inputs=["white", "colored"], levels=[NOISY, LIMIT]),
    "full": dict(L=64, P=[4, 6, 8, 12, 16, 24, 32, 40, 48, 56, 64, 96, 128, 256, 512], trials=32,
                 teachers=["low", "mid", "high", "two-band"], inputs=["white", "colored"],
                 levels=[NOISY, {"name": "snr1", "snr": 1.0, "ridge": "cv", "label": "SNR 1, ridge by leave-one-out"},
                         LIMIT]),
}


def key_P(L):
    """The sample sizes the key numbers quote: L/8, L/4, L/2, L."""
    return [L // 8, L // 4, L // 2, L]


def readout(K, X, y, beta, inp, level):
    """(error, ridge, cut off by the grid) of the readout fit on (X, y) under the level's ridge policy."""
    if level["ridge"] == "cv":
        return e1.cv_error(K, X, y, beta, inp)
    return e1.sim_error(K, X, y, beta, inp, ridge=level["ridge"]), level["ridge"], False


def run_trial(cfg, inp, teacher, seed, trial, input_arm_cache):
    """{level: {init: (sim, theory, ridge, edge)}} relative errors over the P grid for one trial."""
    L, Ps = cfg["L"], cfg["P"]
    s_teacher, s_data, s_init, s_noise = e1.trial_seeds(seed, trial, 4)
    beta, X, _ = e1.sample_task(L, teacher, inp, s_teacher, s_data, max(Ps))
    null = float(kernel_regression.linear_generalization_error(torch.zeros_like(beta), beta, inp.cov))
    fixed = {n: e1.init_kernel(n, s_init, L) for n in e1.DEFAULT_INITS}
    out = {}
    for level in cfg["levels"]:
        sigma = e1.noise_std(beta, inp, level["snr"])
        y = e1.noisy_targets(beta, X, sigma, s_noise)
        out[level["name"]] = res = {}
        for name in cfg["inits"]:
            sim, ridge, edge, th = (np.empty(len(Ps)) for _ in range(4))
            kernels = []
            for i, P in enumerate(Ps):
                if name in fixed:
                    K = fixed[name]
                elif name == "tdi-input":  # label-free: the same kernel for every teacher and level
                    key = (inp.kind, trial, P)
                    if key not in input_arm_cache:
                        input_arm_cache[key] = e1.arm_kernel(name, X[:P], None, L, s_init)[0]
                    K = input_arm_cache[key]
                else:
                    K = e1.arm_kernel(name, X[:P], y[:P], L, s_init)[0]
                sim[i], ridge[i], edge[i] = readout(K, X[:P], y[:P], beta, inp, level)
                kernels.append(K)
            if name in fixed:
                th[:] = e1.theory_errors(fixed[name], beta, inp, Ps, ridge, sigma)
            else:
                th[:] = [e1.theory_errors(K, beta, inp, [P], [r], sigma)[0]
                         for K, P, r in zip(kernels, Ps, ridge, strict=True)]
            res[name] = (sim / null, th / null, ridge, edge)
    return out


def collect(cfg, seed):
    """panels[level][input/teacher][init] = {sim, theory, ridge, edge}: arrays (trials, len(P))."""
    panels = {lv["name"]: {} for lv in cfg["levels"]}
    cache = {}
    for ik in cfg["inputs"]:
        inp = e1.input_model(ik, cfg["L"])
        for teacher in cfg["teachers"]:
            trials = [run_trial(cfg, inp, teacher, seed, t, cache) for t in range(cfg["trials"])]
            for lv in panels:
                panels[lv][f"{ik}/{teacher}"] = {
                    n: dict(zip(("sim", "theory", "ridge", "edge"),
                                (np.asarray([tr[lv][n][j] for tr in trials]) for j in range(4)), strict=True))
                    for n in cfg["inits"]}
    return panels


# ---------------------------------------------------------------------------------------- statistics
def curve_stats(panels):
    """Mean, CI half-width and theory mean per (level, panel, init), and the relative theory gap."""
    out = {}
    for lv, by_panel in panels.items():
        out[lv] = {}
        for pk, by_init in by_panel.items():
            out[lv][pk] = {}
            for n, d in by_init.items():
                m, hw = mean_ci(d["sim"], axis=0)
                tm = d["theory"].mean(0)
                out[lv][pk][n] = {"sim_mean": m, "sim_ci": hw, "theory_mean": tm, "rel_gap": np.abs(tm - m) / m}
    return out


def gap_numbers(stats, Ps, L, level):
    """Median and largest relative theory-vs-simulation gap of the mean curves, P < L and P >= L."""
    key = {}
    for tag, sel in (("P<L", Ps < L), ("P>=L", Ps >= L)):
        rows = [(float(st["rel_gap"][j]), pk, n, int(Ps[j]))
                for pk, by in stats[level].items() for n, st in by.items() for j in np.flatnonzero(sel)]
        rows = [r for r in rows if np.isfinite(r[0])]
        if not rows:
            continue
        worst = max(rows)
        key[f"theory_sim_median_rel_gap[{level},{tag}]"] = float(np.median([r[0] for r in rows]))
        key[f"theory_sim_max_rel_gap[{level},{tag}]"] = worst[0]
        key[f"theory_sim_max_gap_at[{level},{tag}]"] = f"{worst[1]}, {worst[2]}, P={worst[3]}"
    return key


def ratio_table(panels, level, Ps, quote_P):
    """Paired geometric-mean ratios arm / s4d-lin with 95% CI at the quoted P: {(arm, panel, P): (r, lo, hi)}."""
    tab = {}
    for pk, by in panels[level].items():
        for arm in e1.TDI_ARMS:
            r, lo, hi = e1.paired_ratio(by[arm]["sim"], by["s4d-lin"]["sim"], axis=0)
            for P in quote_P:
                i = list(Ps).index(P)
                tab[(arm, pk, P)] = (float(r[i]), float(lo[i]), float(hi[i]))
    return tab


def verdict(lo, hi):
    return "helps" if hi < 1 else ("hurts" if lo > 1 else "no clear difference")


def main(argv=None):
    args = parse_args(NAME, __doc__, argv)
    cfg = {**COMMON, **PROFILES[args.profile]}
    torch.set_num_threads(1)
    if not e1.tdi_available():
        raise SystemExit("ssm_tdi.tdi / ssm_tdi.spectra not found: this figure needs TDI")
    L, Ps = cfg["L"], np.asarray(cfg["P"])
    head, limit = cfg["levels"][0]["name"], cfg["levels"][-1]["name"]
    quote_P = [P for P in key_P(L) if P in cfg["P"]]
    with Timer() as timer:
        panels = collect(cfg, args.seed)
    stats = curve_stats(panels)

    key = {"snr_levels": [lv["snr"] if math.isfinite(lv["snr"]) else "inf" for lv in cfg["levels"]],
           "target_error": cfg["target_error"]}
    ratios = {lv: ratio_table(panels, lv, Ps, quote_P) for lv in panels}
    for (arm, pk, P), v in ratios[head].items():
        key[f"ratio[{arm}/s4d-lin,{pk},P={P}]"] = list(v)
    saved = {}
    for pk, by in panels[head].items():
        for arm in e1.TDI_ARMS:
            s = e1.samples_saved(Ps, by["s4d-lin"]["sim"], by[arm]["sim"], cfg["target_error"], cfg["n_boot"],
                                 seed=args.seed)
            saved[(arm, pk)] = s
            key[f"P_to_reach[s4d-lin,{pk}]"] = s["P_default"]
            key[f"P_to_reach[{arm},{pk}]"] = s["P_tdi"]
            key[f"samples_saved[{arm},{pk}]"] = [s["ratio"], s["lo"], s["hi"]]
    for lv in panels:
        key.update(gap_numbers(stats, Ps, L, lv))
    for lv in [lv["name"] for lv in cfg["levels"] if lv["ridge"] == "cv"]:
        edge = np.concatenate([d["edge"].ravel() for by in panels[lv].values() for d in by.values()])
        key[f"cv_ridge_cut_off_by_grid_fraction[{lv}]"] = float(edge.mean())
    # the limit: the smallest ratio anywhere on its grid, to show what the earlier set-up measured
    lim_all = {(arm, pk): e1.paired_ratio(by[arm]["sim"], by["s4d-lin"]["sim"], axis=0)[0]
               for pk, by in panels[limit].items() for arm in e1.TDI_ARMS}
    worst_lim = min((float(np.min(r)), a, pk) for (a, pk), r in lim_all.items())
    key[f"min_ratio_anywhere[{limit}]"] = worst_lim[0]
    head_all = {(arm, pk): e1.paired_ratio(by[arm]["sim"], by["s4d-lin"]["sim"], axis=0)[0]
                for pk, by in panels[head].items() for arm in e1.TDI_ARMS}
    key[f"min_ratio_anywhere[{head}]"] = float(min(np.min(r) for r in head_all.values()))

    fig = draw(cfg, stats, args, quote_P)
    save_figure(fig, args.out, NAME)
    save_json({"profile": args.profile, "config": cfg, "d_state": e1.D_STATE, "rho_colored": e1.RHO_COLORED,
               "freqbias_alpha": e1.FREQBIAS_ALPHA, "panels": panels, "stats": stats,
               "ratios": {lv: {f"{a}|{pk}|{P}": v for (a, pk, P), v in t.items()} for lv, t in ratios.items()},
               "samples_saved": {f"{a}|{pk}": v for (a, pk), v in saved.items()}}, args.out / f"{NAME}.json")
    write_summary(
        args, title="E1 learning curves: default inits vs TDI (input / transfer), label noise, ridge by LOO, C4 theory",
        claim="C4 (kernel-regression learning curves predict the frozen-SSM error, with the same noise and ridge) "
              "and C6 (TDI helps at small P when the default bias is mismatched); E1",
        key_numbers=key, reading=reading(cfg, key, ratios, saved, stats, quote_P, head, limit, worst_lim),
        seconds=timer.seconds)
    print(f"{NAME}: {timer.seconds:.1f} s -> {args.out}")


# ---------------------------------------------------------------------------------------- reading
def reading(cfg, key, ratios, saved, stats, quote_P, head, limit, worst_lim):
    L = cfg["L"]
    lv = cfg["levels"][0]
    parts = [f"Headline set-up: label noise SNR {lv['snr']:g}, ridge chosen per kernel and per training set by "
             f"leave-one-out on the training set alone; ratios are TDI / S4D-Lin test errors, geometric mean of "
             f"paired per-trial ratios over {cfg['trials']} trials with 95% CI, at P = L/8..L (L = {L})."]
    for arm in e1.TDI_ARMS:
        bits, counts = [], {}
        for P in quote_P:
            vs = [(pk, *ratios[head][(arm, pk, P)]) for pk in stats[head]]
            c = {v: sum(verdict(lo, hi) == v for _, _, lo, hi in vs) for v in ("helps", "hurts")}
            counts[P] = c
            rs = [r for _, r, _, _ in vs]
            bits.append(f"P={P}: helps in {c['helps']}, hurts in {c['hurts']} of {len(vs)} panels "
                        f"(ratios {min(rs):.2g}..{max(rs):.2g})")
        parts.append(f"{e1.STYLE[arm]['label']}: " + "; ".join(bits) + ".")
    sv = []
    for (arm, pk), s in saved.items():
        if np.isinf(s["P_default"]) and np.isinf(s["P_tdi"]):
            sv.append(f"{arm} {pk}: neither reaches it")
        elif np.isnan(s["ratio"]):
            sv.append(f"{arm} {pk}: S4D-Lin at P={s['P_default']:.3g}, TDI never")
        else:
            lb = " (lower bound: S4D-Lin never reaches it)" if np.isinf(s["P_default"]) else ""
            sv.append(f"{arm} {pk}: {s['ratio']:.2g}x [{s['lo']:.2g}, {s['hi']:.2g}]{lb}")
    parts.append(f"Samples S4D-Lin needs / samples TDI needs to reach relative error {cfg['target_error']:g} "
                 "(mean curve, log-log interpolation; paired bootstrap 95% CI): " + "; ".join(sv) + ".")
    low = [pk for pk in stats[head] if pk.endswith("/low")]
    mis = [pk for pk in stats[head] if not pk.endswith("/low")]
    if low and mis and quote_P:
        Pc = quote_P[min(1, len(quote_P) - 1)]
        gl = float(np.exp(np.mean([np.log(ratios[head][("tdi-transfer", pk, Pc)][0]) for pk in low])))
        gm = float(np.exp(np.mean([np.log(ratios[head][("tdi-transfer", pk, Pc)][0]) for pk in mis])))
        key[f"geo_mean_ratio[tdi-transfer,low band,P={Pc}]"] = gl
        key[f"geo_mean_ratio[tdi-transfer,mismatched bands,P={Pc}]"] = gm
        parts.append(f"C6 at P={Pc}: geometric-mean ratio (transfer arm) {gl:.2g} on the low band, where the "
                     f"default's power sits, vs {gm:.2g} on the mismatched bands: "
                     + ("the gain is larger where the default is mismatched, the direction C6 states"
                        if gm < gl else "the gain is NOT larger where the default is mismatched")
                     + " (the mismatch sweep tests this against the default's L_spec).")
    g = {t: (key.get(f"theory_sim_median_rel_gap[{head},{t}]"), key.get(f"theory_sim_max_rel_gap[{head},{t}]"),
             key.get(f"theory_sim_max_gap_at[{head},{t}]")) for t in ("P<L", "P>=L")}
    parts.append("C4 with the same noise and ridge: relative gap |theory - sim| / sim of the mean curves "
                 + "; ".join(f"{t}: median {m:.2g}, largest {x:.2g} at {at}" for t, (m, x, at) in g.items()
                             if m is not None)
                 + f". Leave-one-out's choice was cut off by an end of the ridge grid (score still falling by "
                 f"more than {e1.GRID_CUTOFF_SLOPE:.0%} there) in "
                 f"{key[f'cv_ridge_cut_off_by_grid_fraction[{head}]']:.1%} of fits.")
    parts.append(f"The {cfg['levels'][-1]['label']}: its smallest ratio anywhere on the grid is "
                 f"{worst_lim[0]:.2g} ({worst_lim[1]}, {worst_lim[2]}); under the headline set-up the smallest is "
                 f"{key[f'min_ratio_anywhere[{head}]']:.2g}. Without noise and with P >= L every full-rank kernel "
                 "recovers the teacher, so ratios of that size measure the fixed ridge's bias, not data "
                 "efficiency; they are not quoted as results.")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------- figure
def _curve(ax, Ps, st, sty, markers=True, label=None):
    m, hw = st["sim_mean"], np.nan_to_num(st["sim_ci"])
    lo = np.maximum(m - hw, m * 0.1)  # log axis: lower whisker clipped at m/10
    if markers:
        ax.errorbar(Ps, m, yerr=[m - lo, hw], fmt="o", ms=3.2, color=sty["color"], capsize=2, lw=0.9,
                    label=label)
        ax.plot(Ps, st["theory_mean"], "--", color=sty["color"], lw=1.1, alpha=0.9)
    else:
        ax.plot(Ps, m, ":", color=sty["color"], lw=1.4, alpha=0.8, label=label)


def draw(cfg, stats, args, quote_P):
    inputs, teachers, L = cfg["inputs"], cfg["teachers"], cfg["L"]
    Ps = np.asarray(cfg["P"])
    head, limit = cfg["levels"][0]["name"], cfg["levels"][-1]["name"]
    small = Ps <= L
    fig, axes = plt.subplots(2 * len(inputs), len(teachers), figsize=(3.7 * len(teachers), 3.0 * 2 * len(inputs) + 1.6),
                             squeeze=False)
    for a, ik in enumerate(inputs):
        for b, teacher in enumerate(teachers):
            pk = f"{ik}/{teacher}"
            top, bottom = axes[2 * a][b], axes[2 * a + 1][b]
            for n in cfg["inits"]:
                sty = e1.STYLE[n]
                st = stats[head][pk][n]
                _curve(top, Ps[small], {k: v[small] for k, v in st.items()}, sty, label=sty["label"] + " (sim)")
                _curve(bottom, Ps, st, sty)
                if n in ("s4d-lin", "tdi-transfer"):
                    _curve(bottom, Ps, stats[limit][pk][n], sty, markers=False,
                           label=f"{sty['label']}: noise-free limit")
            for P in quote_P:
                top.axvline(P, color="0.85", lw=0.6, zorder=0)
            top.set_xlim(0, L * 1.04)
            top.set_title(f"{teacher} teacher, {ik} input: P ≤ L (linear)", fontsize=9.5)
            bottom.set_xscale("log", base=2)
            bottom.axvline(L, color="0.6", lw=0.8, ls="-.")
            bottom.set_title(f"{teacher} teacher, {ik} input: all P (log)", fontsize=9.5)
            for ax in (top, bottom):
                ax.set_yscale("log")
                ax.grid(alpha=0.3, which="both", lw=0.4)
                ax.set_xlabel("number of samples P", fontsize=8.5)
            if b == 0:
                top.set_ylabel("relative test error E_g / E_g(0)", fontsize=8.5)
                bottom.set_ylabel("relative test error E_g / E_g(0)", fontsize=8.5)
    h, lab = [], []
    for ax in axes.ravel():
        for hh, ll in zip(*ax.get_legend_handles_labels(), strict=True):
            if ll not in lab:
                h.append(hh)
                lab.append(ll)
    h.append(plt.Line2D([], [], ls="--", color="k"))
    lab.append("C4 theory, same noise and ridge (same colour)")
    fig.tight_layout()
    # legend below the panels and title above them: save_figure's tight bounding box takes both in,
    # so neither can sit on a panel (or on each other) whatever the number of columns
    fig.legend(h, lab, loc="upper center", ncol=3 if len(teachers) > 2 else 2, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    lv = cfg["levels"][0]
    width = int(fig.get_figwidth() * 13)  # characters per line at 9.5 pt
    lines = [f"E1 learning curves: frozen SSM (N={e1.D_STATE}, L={L}) + ridge readout; label noise SNR {lv['snr']:g}, "
             f"ridge chosen by leave-one-out on the training set; mean and 95% CI over {cfg['trials']} trials",
             f"markers: simulation (lower whiskers clipped at mean/10); dashed: C4 theory; dotted: "
             f"{cfg['levels'][-1]['label']}; grey verticals: P = L/8, L/4, L/2, L; AR(1) rho={e1.RHO_COLORED} for "
             "colored input",
             profile_note(args, f"P={Ps.min()}..{Ps.max()}, trials={cfg['trials']}")]
    fig.suptitle("\n".join(textwrap.fill(t, width) for t in lines), fontsize=9.5, y=1.0, va="bottom")
    return fig


if __name__ == "__main__":
    main()
