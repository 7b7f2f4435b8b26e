"""E1 mismatch sweep (C6): error ratio TDI / S4D-Lin against the default's spectral mismatch L_spec.

Frozen single-channel SSM + ridge readout (setting in paper_figures/e1.py), the headline set-up of
the learning curves: label noise at SNR 10 and the ridge chosen per kernel and per training set by
closed-form leave-one-out on that training set alone. The teacher is a single band of width 0.1 pi
centred at c, moved from w ~ 0 to w ~ pi. The x axis is how badly the default fits the task:
L_spec of the trial's S4D-Lin layer against the teacher's true target-power spectrum |G|^2 P_u
(tdi.layer_spectrum_loss; 0 = the same shape, 2 = disjoint). For each centre and each P the paired
per-trial ratio of exact test errors TDI/S4D-Lin is averaged on the log scale (95% CI), for both TDI
arms (the label-free input spectrum; the labelled transfer estimate from the same P noisy pairs).
C6 says TDI helps primarily where the default is mismatched: the ratio should fall as L_spec grows
and stay near 1 where L_spec is small.
"""

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import spearmanr

from paper_figures import e1
from paper_figures.common import Timer, parse_args, profile_note, save_figure, save_json, write_summary
from ssm_tdi import tdi

NAME = "mismatch_sweep"
WIDTH = 0.1 * math.pi
SNR = 10.0
PROFILES = {
    "smoke": dict(L=16, centres=3, P=[4, 8], trials=3, inputs=["white"]),
    "quick": dict(L=64, centres=10, P=[8, 16, 32, 64], trials=12, inputs=["white", "colored"]),
    "full": dict(L=64, centres=12, P=[8, 16, 32, 64], trials=32, inputs=["white", "colored"]),
}
ARMS = tuple(e1.TDI_ARMS)


def centres_of(n):
    """n band centres evenly spaced so that the bands [c - 0.05 pi, c + 0.05 pi] tile [0, pi]."""
    return np.linspace(WIDTH / 2, math.pi - WIDTH / 2, n)


def default_mismatch(beta, inp, s_init, L) -> float:
    """L_spec of the trial's S4D-Lin layer against the teacher's target power |G|^2 P_u."""
    S = torch.fft.rfft(beta).abs().square() * inp.spectrum
    return float(tdi.layer_spectrum_loss(e1.make_layer("s4d-lin", s_init), S, L)[0])


def sweep(cfg, inp, seed):
    """Errors (centres, trials, P) of the default and each arm, and the default's L_spec (centres, trials)."""
    L, Ps, T, cs = cfg["L"], cfg["P"], cfg["trials"], centres_of(cfg["centres"])
    err = {n: np.empty((len(cs), T, len(Ps))) for n in ("s4d-lin", *ARMS)}
    lspec = np.empty((len(cs), T))
    input_arm = {}  # the label-free kernel depends on the inputs only: shared by every centre
    for ci, c in enumerate(cs):
        for t in range(T):
            s_teacher, s_data, s_init, s_noise = e1.trial_seeds(seed, t, 4)
            beta, X, _ = e1.sample_task(L, e1.band_around(float(c), WIDTH), inp, s_teacher, s_data, max(Ps))
            y = e1.noisy_targets(beta, X, e1.noise_std(beta, inp, SNR), s_noise)
            lspec[ci, t] = default_mismatch(beta, inp, s_init, L)
            K0 = e1.init_kernel("s4d-lin", s_init, L)
            for k, P in enumerate(Ps):
                if (t, P) not in input_arm:
                    input_arm[(t, P)] = e1.arm_kernel("tdi-input", X[:P], None, L, s_init)[0]
                kernels = {"s4d-lin": K0, "tdi-input": input_arm[(t, P)],
                           "tdi-transfer": e1.arm_kernel("tdi-transfer", X[:P], y[:P], L, s_init)[0]}
                for n, K in kernels.items():
                    err[n][ci, t, k] = e1.cv_error(K, X[:P], y[:P], beta, inp)[0]
    return err, lspec


def c6_test(err, lspec, arm, k):
    """Per-trial rank correlation of the default's L_spec with log(TDI/default), and the paired ratio
    at the least and the most mismatched centre (by mean L_spec)."""
    lr = np.log(err[arm][:, :, k]) - np.log(err["s4d-lin"][:, :, k])
    rho = spearmanr(lspec.ravel(), lr.ravel())
    r, lo, hi = e1.paired_ratio(err[arm][:, :, k], err["s4d-lin"][:, :, k], axis=1)
    order = np.argsort(lspec.mean(1))
    least, most = int(order[0]), int(order[-1])
    return {"rho": float(rho.statistic), "p": float(rho.pvalue), "ratio": r, "lo": lo, "hi": hi,
            "least": least, "most": most}


def main(argv=None):
    args = parse_args(NAME, __doc__, argv)
    cfg = PROFILES[args.profile]
    torch.set_num_threads(1)
    if not e1.tdi_available():
        raise SystemExit("ssm_tdi.tdi / ssm_tdi.spectra not found: this figure needs TDI")
    L, Ps = cfg["L"], cfg["P"]
    cs = centres_of(cfg["centres"])
    res = {}
    with Timer() as timer:
        for ik in cfg["inputs"]:
            err, lspec = sweep(cfg, e1.input_model(ik, L), args.seed)
            res[ik] = {"err": err, "lspec_default": lspec,
                       "tests": {arm: [c6_test(err, lspec, arm, k) for k in range(len(Ps))] for arm in ARMS}}
    key, verdicts = {"snr": SNR}, []
    for ik, d in res.items():
        m = d["lspec_default"].mean(1)
        key[f"lspec_default_range[{ik}]"] = [float(m.min()), float(m.max())]
        key[f"lspec_default_least_mismatched_centre/pi[{ik}]"] = float(cs[int(np.argmin(m))] / math.pi)
        for arm in ARMS:
            for k, P in enumerate(Ps):
                t = d["tests"][arm][k]
                a, b = t["least"], t["most"]
                tag = f"{ik},{arm},P={P}"
                key[f"spearman(L_spec, log ratio)[{tag}]"] = [t["rho"], t["p"]]
                key[f"ratio_least_mismatched[{tag}]"] = [float(t["ratio"][a]), float(t["lo"][a]), float(t["hi"][a])]
                key[f"ratio_most_mismatched[{tag}]"] = [float(t["ratio"][b]), float(t["lo"][b]), float(t["hi"][b])]
                key[f"n_centres_helps_hurts[{tag}]"] = [int((t["hi"] < 1).sum()), int((t["lo"] > 1).sum())]
                falls = t["rho"] < 0 and t["p"] < 0.05
                no_harm = not t["lo"][a] > 1
                key[f"c6_holds[{tag}]"] = bool(falls and no_harm)
                verdicts.append((tag, falls, no_harm, t))
    fig = draw(cfg, res, cs, args)
    save_figure(fig, args.out, NAME)
    save_json({"profile": args.profile, "config": cfg, "snr": SNR, "centres": cs, "width": WIDTH, "results": res},
              args.out / f"{NAME}.json")
    write_summary(args, title="Mismatch sweep (C6): TDI / default error ratio vs the default's spectral mismatch",
                  claim="C6: TDI helps primarily where the default bias is mismatched with the task's spectrum and "
                        "does not hurt where it matches (E1; label noise SNR 10, ridge by leave-one-out)",
                  key_numbers=key, reading=reading(cfg, cs, verdicts, key), seconds=timer.seconds)
    print(f"{NAME}: {timer.seconds:.1f} s -> {args.out}")


def reading(cfg, cs, verdicts, key):
    parts = [f"Label noise SNR {SNR:g}, ridge by leave-one-out; {cfg['trials']} trials x {len(cs)} band centres. "
             "C6 is counted as holding at an (input, arm, P) when the per-trial rank correlation of the default's "
             "L_spec with log(TDI/S4D-Lin) is negative with p < 0.05 (the ratio falls as the mismatch grows) and "
             "the ratio at the least mismatched centre is not significantly above 1."]
    holds = [v[0] for v in verdicts if v[1] and v[2]]
    parts.append(f"It holds in {len(holds)} of {len(verdicts)} cases" + (f" ({'; '.join(holds)})" if holds else "")
                 + ".")
    for tag, _, no_harm, t in verdicts:
        a, b = t["least"], t["most"]
        parts.append(f"{tag}: rho {t['rho']:+.2f} (p={t['p']:.2g}); least mismatched centre c={cs[a] / math.pi:.2f} pi "
                     f"ratio {t['ratio'][a]:.2g} [{t['lo'][a]:.2g}, {t['hi'][a]:.2g}]"
                     + ("" if no_harm else " (TDI hurts there)")
                     + f"; most mismatched c={cs[b] / math.pi:.2f} pi ratio {t['ratio'][b]:.2g} "
                     f"[{t['lo'][b]:.2g}, {t['hi'][b]:.2g}].")
    rng = [f"{k.split('[')[1][:-1]} {v[0]:.2f}..{v[1]:.2f}" for k, v in key.items()
           if k.startswith("lspec_default_range")]
    parts.append("The default's mismatch L_spec over the centres (mean over trials): " + "; ".join(rng) + ".")
    return " ".join(parts)


def draw(cfg, res, cs, args):
    inputs, Ps, L = cfg["inputs"], cfg["P"], cfg["L"]
    fig, axes = plt.subplots(3, len(inputs), figsize=(5.6 * len(inputs), 10.5), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 2, 1.3]})
    colors = plt.cm.viridis(np.linspace(0.05, 0.85, len(Ps)))
    for j, ik in enumerate(inputs):
        d = res[ik]
        x = d["lspec_default"].mean(1)
        for row, arm in enumerate(ARMS):
            ax = axes[row][j]
            for k, P in enumerate(Ps):
                t = d["tests"][arm][k]
                dx = (k - (len(Ps) - 1) / 2) * 0.008  # side by side, not on top of each other
                ax.errorbar(x + dx, t["ratio"], yerr=[t["ratio"] - t["lo"], t["hi"] - t["ratio"]], fmt="o", ms=4,
                            color=colors[k], capsize=2.5, lw=1.0, label=f"P = {P}")
            ax.axhline(1.0, color="k", lw=0.8, ls=":")
            ax.set_yscale("log")
            ax.set_xlabel("default's mismatch L_spec(S4D-Lin, |G|^2 P_u)   (0 = matched, 2 = disjoint)", fontsize=8.5)
            ax.set_ylabel("test error ratio TDI / S4D-Lin", fontsize=8.5)
            rhos = ", ".join(f"{P}: {d['tests'][arm][k]['rho']:+.2f}" for k, P in enumerate(Ps))
            ax.set_title(f"{ik} input, {e1.STYLE[arm]['label']}\nrank corr. (L_spec, log ratio) at P = {rhos}",
                         fontsize=9)
            ax.grid(alpha=0.3, which="both", lw=0.4)
        ax = axes[2][j]
        q = np.quantile(d["lspec_default"], [0.25, 0.75], axis=1)
        ax.errorbar(cs / math.pi, x, yerr=[x - q[0], q[1] - x], fmt="s-", ms=4, color="#1f77b4", capsize=2.5,
                    lw=1.0, label="default's L_spec: mean, interquartile range over trials")
        ax.set_xlabel("teacher band centre c / pi", fontsize=8.5)
        ax.set_ylabel("L_spec of S4D-Lin", fontsize=8.5)
        ax.set_ylim(0, 2.05)
        ax.set_xlim(0, 1)
        ax.set_title(f"{ik} input: which band centre gives which mismatch", fontsize=9.5)
        ax.grid(alpha=0.3, lw=0.4)
        ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    h, lab = axes[0][0].get_legend_handles_labels()
    fig.legend(h, lab, loc="upper center", ncol=len(Ps), fontsize=8.5, frameon=False, bbox_to_anchor=(0.5, 0.0),
               title="sample size (colour)", title_fontsize=8.5)
    width = int(fig.get_figwidth() * 13)
    lines = [f"Mismatch sweep (C6): frozen SSM (N={e1.D_STATE}, L={L}) + ridge readout; label noise SNR {SNR:g}, ridge "
             f"by leave-one-out; one point per band centre (width 0.1 pi; points of different P shifted sideways): "
             f"geometric mean of paired per-trial "
             f"ratios, 95% CI, {cfg['trials']} trials",
             profile_note(args, f"{len(cs)} centres, trials={cfg['trials']}")]
    fig.suptitle("\n".join(textwrap.fill(t, width) for t in lines), fontsize=9.5, y=1.0, va="bottom")
    return fig


if __name__ == "__main__":
    main()
