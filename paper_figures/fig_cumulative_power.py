"""Figure: how much of a band-limited teacher lives in the SSM's top eigenmodes (claim C4).

For a frozen single-channel SSM (H = 1, float64) the induced kernel's eigenmodes are
ranked by eigenvalue (``operators.induced_kernel_eig``, causal Toeplitz operator, white
input); a linear teacher y = beta^T u (``synthetic.band_limited_teacher``) puts power
a_r^2 = (v_r . W^T beta)^2 on mode r. The cumulative power C(k)
(``learning_curves.cumulative_power``) rising fast means the target sits in the modes that
kernel regression learns first; its mean over k (``cumulative_power_area``) is 1 for
perfect alignment and about 1/2 for a target spread evenly over the modes.

Compared: the default inits s4d-lin, s4d-inv, s4d-legs, freqbias (alpha from the
profile) and three TDI arms (fast, started from s4d-lin): matched to the ORACLE task spectrum
S_task = |rfft(beta)|^2 of the very teacher it is scored on (the best case), to the label-free
input spectrum of n = L/2 training sequences (what a user without a target has), and to the
labelled transfer estimate from the same n pairs with label noise at SNR 10 (the set-up of the
learning curves). One panel per teacher band.
C(k) and its area are invariant to the kernel's scale, so no normalisation is needed.
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
from ssm_tdi import learning_curves, operators, synthetic
from ssm_tdi.inits import FREQBIAS_ALPHA
from ssm_tdi.layers import DiagonalSSM

NAME = "cumulative_power"

PROFILES = {
    "smoke": {"L": 32, "N": 16, "trials": 2, "inits": ["s4d-lin", "s4d-legs"]},
    "quick": {"L": 128, "N": 64, "trials": 30, "inits": ["s4d-lin", "s4d-inv", "s4d-legs", "freqbias"]},
    "full": {"L": 256, "N": 64, "trials": 40, "inits": ["s4d-lin", "s4d-inv", "s4d-legs", "freqbias"]},
}
COMMON = {"bands": ["low", "mid", "high", "two-band"], "freqbias_alpha": FREQBIAS_ALPHA, "tdi_base": "s4d-lin",
          "tdi_method": "fast", "tdi": True, "estimate_snr": 10.0}
#: The TDI arms and where each one's S_task comes from.
TDI_ARMS = {"tdi": "oracle", "tdi-input": "input", "tdi-transfer": "transfer"}
TDI_LABELS = {"tdi": "TDI (oracle S_task)", "tdi-input": "TDI (input spectrum, label-free)",
              "tdi-transfer": "TDI (transfer estimate, SNR 10)"}

COLORS = {"s4d-lin": "tab:blue", "s4d-inv": "tab:green", "s4d-legs": "tab:purple", "freqbias": "tab:brown",
          "tdi": "tab:red", "tdi-input": "tab:cyan", "tdi-transfer": "tab:orange"}


def layer_for(init, cfg, trial, args):
    """The trial's single-channel layer; every init of one trial shares the generator seed."""
    g = torch.Generator().manual_seed(args.seed * 1000 + trial)
    kw = {"alpha": cfg["freqbias_alpha"]} if init == "freqbias" else {}
    return DiagonalSSM(1, cfg["N"], init=init, dtype=torch.float64, generator=g, **kw)


def teacher_for(band_index, band, cfg, trial, args):
    g = torch.Generator().manual_seed(args.seed * 1000 + trial + 100_000 * (band_index + 1))
    return synthetic.band_limited_teacher(cfg["L"], band, generator=g)


def estimate_pairs(band_index, cfg, trial, args, beta):
    """n = L/2 white training sequences and their targets at the profile's SNR (own seeds)."""
    g = torch.Generator().manual_seed(args.seed * 1000 + trial + 200_000 * (band_index + 1))
    X = synthetic.sample_inputs(cfg["L"] // 2, cfg["L"], 0.0, generator=g, dtype=torch.float64)
    sigma = synthetic.noise_std_for_snr(beta, cfg["estimate_snr"])
    return X, synthetic.teacher_targets(beta, X, noise=sigma, generator=g)


def arm_spectrum(arm, beta, X, y):
    """S_task of a TDI arm: the oracle |rfft(beta)|^2, or an estimate from the pairs (X, y)."""
    if TDI_ARMS[arm] == "oracle":
        return torch.fft.rfft(beta).abs().square()
    if TDI_ARMS[arm] == "input":
        return e1.task_spectrum(X, None, "input")
    return e1.task_spectrum(X, y, "transfer", "power")


def mode_power(layer, beta, L):
    """(eta, a2): the induced kernel's eigenvalues (descending) and the teacher's power per mode."""
    with torch.no_grad():
        K = layer.kernel(L)[0]
    eta, V, W = operators.induced_kernel_eig(K, "toeplitz")
    a2 = (V.T @ (W.T @ beta)).square()
    return eta, a2


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    cfg = {**COMMON, **PROFILES[args.profile]}
    # small dense SVDs: multi-threaded LAPACK is far slower than one thread on a busy CPU
    torch.set_num_threads(1)
    L = cfg["L"]
    labels = list(cfg["inits"]) + (list(TDI_ARMS) if cfg["tdi"] else [])
    if cfg["tdi"]:
        from ssm_tdi.tdi import tdi_init
    with Timer() as timer:
        curves = {b: {lab: [] for lab in labels} for b in cfg["bands"]}
        areas = {b: {lab: [] for lab in labels} for b in cfg["bands"]}
        tdi_losses = {b: {arm: [] for arm in TDI_ARMS} for b in cfg["bands"]}
        for bi, band in enumerate(cfg["bands"]):
            for t in range(cfg["trials"]):
                beta = teacher_for(bi, band, cfg, t, args)
                X, y = estimate_pairs(bi, cfg, t, args, beta)
                for lab in labels:
                    if lab in TDI_ARMS:
                        layer = layer_for(cfg["tdi_base"], cfg, t, args)
                        rep = tdi_init(layer, arm_spectrum(lab, beta, X, y), method=cfg["tdi_method"])
                        tdi_losses[band][lab].append(_final_loss(rep))
                    else:
                        layer = layer_for(lab, cfg, t, args)
                    eta, a2 = mode_power(layer, beta, L)
                    curves[band][lab].append(learning_curves.cumulative_power(eta, a2))
                    areas[band][lab].append(learning_curves.cumulative_power_area(eta, a2))
        stats = {}
        for band in cfg["bands"]:
            stats[band] = {}
            for lab in labels:
                m, h = mean_ci(np.array(areas[band][lab]))
                cm, ch = mean_ci(np.array(curves[band][lab]), axis=0)
                stats[band][lab] = {"area_mean": float(m), "area_ci": float(h),
                                    "curve_mean": cm, "curve_ci": ch}

    key = {}
    for band in cfg["bands"]:
        for lab in labels:
            key[f"area_{lab}_{band}"] = stats[band][lab]["area_mean"]
    reading = _reading(stats, cfg, labels, areas)
    fig = _draw(stats, cfg, labels, args)
    save_figure(fig, args.out, NAME)
    save_json({"config": cfg, "stats": stats, "areas_per_trial": areas, "tdi_final_loss": tdi_losses},
              args.out / f"{NAME}.json")
    write_summary(args, title="Cumulative target power over the induced kernel's eigenmodes (C4)",
                  claim="C4: an SSM whose |H|^2 puts power where the target's power is has the target in its "
                        "top eigenmodes (cumulative power rises fast); TDI (oracle S_task) vs default inits",
                  key_numbers=key, reading=reading, seconds=timer.seconds)
    print(f"[{NAME}] {args.profile}: {timer.seconds:.1f} s -> {args.out}")


def _final_loss(rep):
    for k in ("loss_after_mean",):
        v = rep.get(k) if isinstance(rep, dict) else getattr(rep, k, None)
        if v is not None:
            try:
                return float(v)
            except (TypeError, ValueError):
                pass
    return None


def _reading(stats, cfg, labels, areas):
    defaults = [lab for lab in labels if lab not in TDI_ARMS]
    arms = [lab for lab in labels if lab in TDI_ARMS]
    parts = [f"Mean cumulative-power area over {cfg['trials']} trials (L={cfg['L']}, N={cfg['N']}, "
             "white input; "
             "1 = all target power in the top mode, ~0.5 = spread evenly). TDI arms: the oracle teacher spectrum "
             f"(best case), the label-free input spectrum of n = L/2 sequences, and the transfer estimate from the "
             f"same n pairs with label noise at SNR {cfg['estimate_snr']:g}; each compared with the best default "
             "by the paired difference of areas (95% CI)."]
    for band in cfg["bands"]:
        st = stats[band]
        best = max(defaults, key=lambda lab: st[lab]["area_mean"])
        bits = []
        for arm in arms:
            d = np.array(areas[band][arm]) - np.array(areas[band][best])
            dm, dh = mean_ci(d)
            verdict = "better" if dm - dh > 0 else ("WORSE" if dm + dh < 0 else "no significant difference")
            bits.append(f"{TDI_LABELS[arm]} {st[arm]['area_mean']:.3f} ({dm:+.3f} +- {dh:.3f}: {verdict})")
        parts.append(f"{band}: best default {best} {st[best]['area_mean']:.3f}; " + ", ".join(bits) + ".")
    if "s4d-lin" in labels and "low" in stats and "high" in stats:
        lo, hi = stats["low"]["s4d-lin"]["area_mean"], stats["high"]["s4d-lin"]["area_mean"]
        parts.append(f"s4d-lin's own bias: area {lo:.3f} on the low band vs {hi:.3f} on the high band -> "
                     + ("low-pass bias, as the paper says of S4D inits." if lo > hi + 0.02 else
                        "no low-pass preference at these draws of dt (the paper's low-pass premise "
                        "does not show)."))
    return " ".join(parts)


def _draw(stats, cfg, labels, args):
    bands = cfg["bands"]
    L = cfg["L"]
    fig = plt.figure(figsize=(4.1 * len(bands), 9.8))
    gs = fig.add_gridspec(2, len(bands), height_ratios=[1.35, 1], hspace=0.75)
    k = np.arange(1, L + 1)
    for i, band in enumerate(bands):
        ax = fig.add_subplot(gs[0, i])
        for lab in labels:
            st = stats[band][lab]
            m, h = np.asarray(st["curve_mean"]), np.nan_to_num(np.asarray(st["curve_ci"]))
            col = COLORS.get(lab, "tab:gray")
            name = TDI_LABELS.get(lab, lab)
            ax.semilogx(k, m, color=col, lw=2.0 if lab in TDI_ARMS else 1.3,
                        label=f"{name}: area {st['area_mean']:.2f}")
            ax.fill_between(k, np.clip(m - h, 0, 1), np.clip(m + h, 0, 1), color=col, alpha=0.15, lw=0)
        ax.semilogx(k, k / L, ":", color="0.5", label="uniform spread")
        n_band = int(synthetic.band_mask(L, band).sum())
        ax.axvline(min(L, 2 * n_band), color="0.7", lw=0.8, ls="--")
        ax.set_title(f"teacher band: {band}", fontsize=10)
        ax.set_xlabel("eigenmode rank k (by descending eigenvalue)")
        if i == 0:
            ax.set_ylabel("cumulative target power C(k)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: no curve hidden
    ax = fig.add_subplot(gs[1, :])
    width = 0.8 / len(labels)
    x = np.arange(len(bands))
    for j, lab in enumerate(labels):
        m = [stats[b][lab]["area_mean"] for b in bands]
        h = [np.nan_to_num(stats[b][lab]["area_ci"]) for b in bands]
        ax.bar(x + (j - (len(labels) - 1) / 2) * width, m, width, yerr=h, capsize=3,
               color=COLORS.get(lab, "tab:gray"), label=TDI_LABELS.get(lab, lab))
    ax.axhline(0.5, color="0.5", ls=":", lw=1)
    ax.set_xticks(x, [b if b.endswith("band") else f"{b} band" for b in bands])
    ax.set_ylabel("cumulative-power area (mean, 95% CI)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=min(len(labels), 4), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Target power in the SSM's top eigenmodes: default inits vs TDI (C4)\n"
                 + profile_note(args, f"H=1, N={cfg['N']}, L={L}, white input, {cfg['trials']} trials "
                                      f"(teacher + init draws); freqbias alpha={cfg['freqbias_alpha']}; "
                                      f"dashed line: 2 x (bins in band) modes"), fontsize=10.5)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
