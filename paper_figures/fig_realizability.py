"""Figure: does SSM structure matter? Realizability of task spectra vs state size N.

(a) For each teacher spectrum S_task on the rfft grid of length L (the band masks low, mid,
high, two-band of ``synthetic.band_mask`` and a smooth one, the AR(1) spectrum
``synthetic.ar1_spectrum`` with a negative rho, i.e. smooth high-pass), the best spectral
matching loss L_spec (``spectra.spectral_matching_loss`` between |H_L(w_j)|^2 and S_task)
that TDI reaches with a single-channel diagonal SSM of state size N: the smallest loss
over the profile's searches -- TDI ``fast``, the ``gradient`` method started from the fast
solution, and (full profile) the gradient method from s4d-lin draws. Reference lines: the
default s4d-lin at the same N (no TDI, mean over a few draws) and an
unconstrained length-L kernel -- the FIR K = irfft(sqrt(S_task)), whose |rfft(K)|^2 equals
S_task exactly, so its loss is the floating-point floor.

(b) Example |H|^2 after TDI at a few N against the mid-band mask.

(c) What TDI's gain becomes when a low-order SSM cannot represent S_task: frozen SSM +
ridge readout (``kernel_regression.readout_error``, exact test error for the linear
teacher), white input, P samples, for the default s4d-lin and TDI (fast, to the band mask:
the teacher family's expected spectrum) at a few N; paired ratio TDI/default per trial.
Every kernel is normalised to sum_m K_m^2 = 1 before the readout is fit.
"""

import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from paper_figures.common import (
    Timer,
    mean_ci,
    parse_args,
    profile_note,
    save_figure,
    save_json,
    write_summary,
)
from ssm_tdi import kernel_regression, synthetic
from ssm_tdi.layers import DiagonalSSM

NAME = "realizability"

PROFILES = {
    "smoke": {"L": 32, "Ns": [2, 8, 16], "spectra": ["low", "mid"], "restarts": 1, "searches": ["fast"],
              "err_Ns": [2, 8], "err_bands": ["mid"], "P": 8, "trials": 3},
    "quick": {"L": 128, "Ns": [2, 4, 8, 16, 32, 64, 128],
              "spectra": ["low", "mid", "high", "two-band", "smooth-hp"], "restarts": 1,
              "searches": ["fast", "fast+gradient"],
              "err_Ns": [2, 8, 64], "err_bands": ["low", "mid", "high", "two-band"], "P": 32, "trials": 20},
    "full": {"L": 256, "Ns": [2, 4, 8, 16, 32, 64, 128, 256],
             "spectra": ["low", "mid", "high", "two-band", "smooth-hp"], "restarts": 3,
             "searches": ["fast", "fast+gradient", "gradient"],
             "err_Ns": [2, 4, 8, 16, 64], "err_bands": ["low", "mid", "high", "two-band"], "P": 32,
             "trials": 60},
}
COMMON = {"smooth_rho": -0.7, "minphase_floor": 1e-12, "grad_steps": 200, "realized_tol": 1e-3,
          "default_draws": 5, "ridge": 1e-3, "example_spectrum": "mid", "example_Ns": [2, 8, 64]}

COLORS = {"low": "tab:blue", "mid": "tab:orange", "high": "tab:green", "two-band": "tab:purple",
          "smooth-hp": "tab:brown"}


def task_spectrum(name, cfg):
    if name == "smooth-hp":
        return synthetic.ar1_spectrum(cfg["L"], cfg["smooth_rho"])
    return synthetic.band_mask(cfg["L"], name)


def new_layer(N, seed):
    g = torch.Generator().manual_seed(seed)
    return DiagonalSSM(1, N, init="s4d-lin", dtype=torch.float64, generator=g)


def power(layer, L):
    with torch.no_grad():
        return layer.power_spectrum(L)[0]


def loss_of(S_model, S_task):
    from ssm_tdi.spectra import spectral_matching_loss

    return float(spectral_matching_loss(S_model, S_task))


def best_tdi(N, S_task, cfg, args, tag):
    """Smallest L_spec over the profile's TDI searches; returns (loss, layer, {search: loss}).

    Searches: ``fast``; ``fast+gradient`` (the gradient method, Adam on L_spec, started from
    the fast solution); ``gradient`` (from the s4d-lin draw). The fast solver is deterministic
    given S_task, so restarts (different s4d-lin draws) only matter for ``gradient``.
    """
    from ssm_tdi.tdi import tdi_init

    L = cfg["L"]
    per, layers = {}, {}
    fast = new_layer(N, args.seed * 1000 + tag)
    tdi_init(fast, S_task, method="fast")
    per["fast"], layers["fast"] = loss_of(power(fast, L), S_task), fast
    if "fast+gradient" in cfg["searches"]:
        ref = copy.deepcopy(fast)
        tdi_init(ref, S_task, method="gradient", steps=cfg["grad_steps"])
        per["fast+gradient"], layers["fast+gradient"] = loss_of(power(ref, L), S_task), ref
    if "gradient" in cfg["searches"]:
        for r in range(cfg["restarts"]):
            gl = new_layer(N, args.seed * 1000 + tag + 7919 * r)
            tdi_init(gl, S_task, method="gradient", steps=cfg["grad_steps"])
            loss = loss_of(power(gl, L), S_task)
            if loss < per.get("gradient", math.inf):
                per["gradient"], layers["gradient"] = loss, gl
    best = min(per, key=per.get)
    return per[best], layers[best], per


def unit_kernel(layer, L):
    with torch.no_grad():
        K = layer.kernel(L)[0]
    return K / K.norm()


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    cfg = {**COMMON, **PROFILES[args.profile]}
    # small dense SVDs: multi-threaded LAPACK is far slower than one thread on a busy CPU
    torch.set_num_threads(1)
    from ssm_tdi.tdi import tdi_init
    from ssm_tdi.tdi_fast import min_phase_factor

    L = cfg["L"]
    with Timer() as timer:
        # (a) realizability
        real = {}
        examples = {}
        for si, name in enumerate(cfg["spectra"]):
            S = task_spectrum(name, cfg)
            fir = torch.fft.irfft(S.sqrt(), n=L)  # unconstrained zero-phase length-L kernel
            # the library's minimum-phase factor (needs S > 0: floor at 1e-12 of the peak)
            fir_mp = min_phase_factor((S / S.max()).clamp_min(cfg["minphase_floor"]), L)
            r = {"N": [], "tdi_best": [], "tdi_per_method": [], "default": [],
                 "fir": loss_of(torch.fft.rfft(fir).abs().square(), S),
                 "fir_minphase": loss_of(torch.fft.rfft(fir_mp).abs().square(), S)}
            for N in cfg["Ns"]:
                best, layer, per = best_tdi(N, S, cfg, args, tag=1 + si * 100 + N)
                dflt = [loss_of(power(new_layer(N, args.seed * 1000 + t), L), S)
                        for t in range(cfg["default_draws"])]
                r["N"].append(N)
                r["tdi_best"].append(best)
                r["tdi_per_method"].append(per)
                r["default"].append(float(np.mean(dflt)))
                if name == cfg["example_spectrum"] and N in cfg["example_Ns"]:
                    examples[N] = power(layer, L)
            real[name] = r
        # (c) test error at small P: default s4d-lin vs TDI at a few N
        err = {}
        for bi, band in enumerate(cfg["err_bands"]):
            S = synthetic.band_mask(L, band)
            err[band] = {}
            for N in cfg["err_Ns"]:
                e_d, e_t = [], []
                for t in range(cfg["trials"]):
                    seed = args.seed * 1000 + t
                    g = torch.Generator().manual_seed(seed + 100_000 * (bi + 1))
                    beta = synthetic.band_limited_teacher(L, band, generator=g)
                    X = synthetic.sample_inputs(cfg["P"], L, generator=g)
                    y = synthetic.teacher_targets(beta, X)
                    d_layer = new_layer(N, seed)
                    t_layer = new_layer(N, seed)
                    tdi_init(t_layer, S, method="fast")
                    for errs, lay in ((e_d, d_layer), (e_t, t_layer)):
                        K = unit_kernel(lay, L)
                        errs.append(kernel_regression.readout_error(K, X, y, beta, cfg["ridge"]))
                e_d, e_t = np.array(e_d), np.array(e_t)
                lr_m, lr_h = mean_ci(np.log(e_t / e_d))
                err[band][N] = {"default": e_d, "tdi": e_t, "ratio_gmean": float(np.exp(lr_m)),
                                "ratio_lo": float(np.exp(lr_m - np.nan_to_num(lr_h))),
                                "ratio_hi": float(np.exp(lr_m + np.nan_to_num(lr_h))),
                                "default_mean": float(e_d.mean()), "tdi_mean": float(e_t.mean()),
                                "default_ci": float(mean_ci(e_d)[1]), "tdi_ci": float(mean_ci(e_t)[1])}

    key = {}
    for name, r in real.items():
        for N, v in zip(r["N"], r["tdi_best"], strict=True):
            if N in (cfg["Ns"][0], 8, cfg["Ns"][-1]):
                key[f"Lspec_tdi_{name}_N{N}"] = v
        pairs = zip(r["N"], r["tdi_best"], strict=True)
        n_star = next((N for N, x in pairs if x <= cfg["realized_tol"]), None)
        key[f"N_realized_{name}"] = n_star if n_star is not None else "none"
        key[f"Lspec_fir_{name}"] = r["fir"]
        key[f"Lspec_fir_minphase_{name}"] = r["fir_minphase"]
    for band, d in err.items():
        for N, v in d.items():
            key[f"err_ratio_tdi_over_default_{band}_N{N}"] = v["ratio_gmean"]
    reading = _reading(real, err, cfg)
    fig = _draw(real, examples, err, cfg, args)
    save_figure(fig, args.out, NAME)
    save_json({"config": cfg, "realizability": real, "examples_mid": examples, "errors": err},
              args.out / f"{NAME}.json")
    write_summary(args, title="Does SSM structure matter? Realizability of S_task vs state size, and TDI's "
                              "gain",
                  claim="C5/C6 (referee: is TDI limited by what a diagonal SSM of state size N can "
                        "realize?): best L_spec vs N against an unconstrained length-L kernel; "
                        "TDI/default test-error ratio "
                        "vs N at small P",
                  key_numbers=key, reading=reading, seconds=timer.seconds)
    print(f"[{NAME}] {args.profile}: {timer.seconds:.1f} s -> {args.out}")


def _reading(real, err, cfg):
    parts = []
    fir_max = max(r["fir"] for r in real.values())
    mp_max = max(r["fir_minphase"] for r in real.values())
    parts.append(f"An unconstrained length-{cfg['L']} kernel realizes every S_task: zero-phase FIR "
                 "irfft(sqrt(S_task)) "
                 f"max L_spec {fir_max:.1e}, the library's minimum-phase factor (S_task floored at "
                 f"{cfg['minphase_floor']:g} of its peak) max L_spec {mp_max:.1e}.")
    tol = cfg["realized_tol"]
    for name, r in real.items():
        Ns, v = r["N"], np.array(r["tdi_best"])
        n_star = next((N for N, x in zip(Ns, v, strict=True) if x <= tol), None)
        txt = (f"{name}: {v[0]:.2g} at N={Ns[0]}, {v[-1]:.2g} at N={Ns[-1]} "
               f"(default s4d-lin {r['default'][-1]:.2g} at N={Ns[-1]}); ")
        txt += (f"realized (L_spec <= {tol:g}) from N={n_star}" if n_star is not None else
                f"NOT realized to L_spec <= {tol:g} by any N <= {Ns[-1]}")
        i_min = int(np.argmin(v))
        worse_at = [N for N, x in zip(Ns[i_min + 1:], v[i_min + 1:], strict=True)
                    if x > 100 * max(v[i_min], 1e-14)]
        if worse_at:
            txt += (f"; but the search gets WORSE at larger N (min {v[i_min]:.2g} at N={Ns[i_min]}, "
                    f"over 100x higher at N={', '.join(map(str, worse_at))}): a limitation of the TDI "
                    "solver, not of the SSM class (a larger N contains every smaller one)")
        parts.append(txt)
    parts = [parts[0], "Best TDI L_spec vs N -- " + "; ".join(parts[1:]) + "."]
    rt = []
    for band, d in err.items():
        items = []
        for N, v in d.items():
            if v["ratio_hi"] < 1:
                vd = "TDI helps"
            elif v["ratio_lo"] > 1:
                vd = "TDI HURTS"
            else:
                vd = "no significant difference"
            items.append(f"N={N}: {v['ratio_gmean']:.2f} [{v['ratio_lo']:.2f}, {v['ratio_hi']:.2f}] {vd}")
        rt.append(f"{band}: " + ", ".join(items))
    parts.append(f"Test error TDI/default (geometric mean of paired ratios, 95% CI; P={cfg['P']}, "
                 f"{cfg['trials']} trials, ridge {cfg['ridge']:g}) -- " + "; ".join(rt) + ".")
    # does the gain grow with N? compare smallest vs largest N per band
    grow = []
    for band, d in err.items():
        Ns = sorted(d)
        a, b = d[Ns[0]]["ratio_gmean"], d[Ns[-1]]["ratio_gmean"]
        grow.append(f"{band} {a:.2f} -> {b:.2f}")
    parts.append(f"From N={min(cfg['err_Ns'])} to N={max(cfg['err_Ns'])} the ratio goes "
                 + ", ".join(grow) + ".")
    # realizability vs gain: split the (band, N) cells by whether TDI fast realized S_task there
    unreal, realz = [], []
    for band, d in err.items():
        r = real.get(band)
        for N, v in d.items():
            if r is None or N not in r["N"]:
                continue
            lspec = r["tdi_per_method"][r["N"].index(N)]["fast"]
            (realz if lspec <= cfg["realized_tol"] else unreal).append((band, N, v))
    if unreal:
        helps = sum(v["ratio_hi"] < 1 for _, _, v in unreal)
        parts.append(f"Where TDI fast could NOT realize S_task (L_spec > {cfg['realized_tol']:g}: "
                     + ", ".join(f"{b} N={N}" for b, N, _ in unreal)
                     + f") it still lowered the error significantly in {helps} of {len(unreal)} cases "
                     "(ratios " + ", ".join(f"{v['ratio_gmean']:.2f}" for _, _, v in unreal) + "); "
                     + ("an exact spectral match is not needed for the gain." if helps == len(unreal) else
                        "there the gain is not reliable."))
    best_n = {band: min(d, key=lambda N: d[N]["tdi_mean"]) for band, d in err.items()}
    parts.append("TDI's own test error is lowest at N = " + ", ".join(f"{b}: {n}" for b, n in best_n.items())
                 + (" -- a larger state (a better spectral match) does not lower the error at this P."
                    if all(n == min(cfg["err_Ns"]) for n in best_n.values()) else "."))
    return " ".join(parts)


def _draw(real, examples, err, cfg, args):
    L = cfg["L"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 10.5))
    axes = axes.ravel()
    ax = axes[0]
    floor = 1e-12
    for name, r in real.items():
        col = COLORS.get(name, "tab:gray")
        ax.loglog(r["N"], np.maximum(r["tdi_best"], floor), "o-", color=col, label=f"{name}: TDI (best)")
        ax.loglog(r["N"], np.maximum(r["default"], floor), "x:", color=col, alpha=0.6)
    ax.plot([], [], "kx:", alpha=0.6, label="same, default s4d-lin")
    ax.axhline(cfg["realized_tol"], color="0.4", lw=0.8, ls="--",
               label=f"'realized' threshold {cfg['realized_tol']:g}")
    fir_max = max(r["fir"] for r in real.values())
    mp_max = max(r["fir_minphase"] for r in real.values())
    ax.set_xscale("log", base=2)
    ax.set_ylim(floor / 3, 1e5)
    ax.set_xlabel("state size N")
    ax.set_ylabel(r"best $L_{spec}(|H_L|^2, S_{task})$ (values $<10^{-12}$ drawn at $10^{-12}$)")
    ax.set_title(f"(a) best achievable spectral match vs N\nunconstrained length-{L} kernel: "
                 + r"$L_{spec}\leq$" + f"{fir_max:.0e} (zero-phase FIR), {mp_max:.0e} (min-phase)",
                 fontsize=9.5)
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    ax.grid(alpha=0.3, which="both")

    ax = axes[1]
    w = np.linspace(0, 1, L // 2 + 1)
    S = task_spectrum(cfg["example_spectrum"], cfg).numpy()
    ax.fill_between(w, 0, S / S.max(), color="0.85", label=f"S_task ({cfg['example_spectrum']})")
    styles = ["-", "--", ":", "-."]
    for i, (N, p) in enumerate(sorted(examples.items())):
        p = np.asarray(p)
        ax.plot(w, p / p.max(), styles[i % 4], lw=2.4 - 0.5 * i, label=f"TDI, N={N}")
    ax.set_xlabel(r"$\omega/\pi$")
    ax.set_ylabel(r"$|H_L(\omega_j)|^2$ / max")
    ax.set_title("(b) what TDI realizes at small N", fontsize=10)
    ax.legend(fontsize=7.5)
    ax.grid(alpha=0.3)

    ax = axes[2]
    for band, d in err.items():
        Ns = sorted(d)
        m = np.array([d[N]["ratio_gmean"] for N in Ns])
        lo = np.array([d[N]["ratio_lo"] for N in Ns])
        hi = np.array([d[N]["ratio_hi"] for N in Ns])
        ax.errorbar(Ns, m, yerr=[m - lo, hi - m], fmt="o-", capsize=3, color=COLORS.get(band, "tab:gray"),
                    label=band)
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("state size N")
    ax.set_ylabel("test error TDI / default s4d-lin (geometric mean, 95% CI)")
    ax.set_title(f"(c) error ratio, P={cfg['P']}, {cfg['trials']} paired trials", fontsize=10)
    ax.legend(fontsize=8, title="teacher band", title_fontsize=8)
    ax.grid(alpha=0.3, which="both")

    ax = axes[3]
    for band, d in err.items():
        Ns = sorted(d)
        col = COLORS.get(band, "tab:gray")
        for kind, fmt in (("default", "x--"), ("tdi", "o-")):
            m = np.array([d[N][f"{kind}_mean"] for N in Ns])
            h = np.nan_to_num(np.array([d[N][f"{kind}_ci"] for N in Ns]))
            ax.errorbar(Ns, m, yerr=h, fmt=fmt, capsize=2, color=col, alpha=0.6 if kind == "default" else 1)
    ax.plot([], [], "kx--", alpha=0.6, label="default s4d-lin")
    ax.plot([], [], "ko-", label="TDI (fast)")
    ax.axhline(1, color="0.5", lw=0.8, ls=":", label="error of predicting 0")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("state size N")
    ax.set_ylabel("test error (mean, 95% CI)")
    ax.set_title("(d) the errors themselves (colours: bands as in (c))", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    note = (f"H=1, L={L}, float64; TDI best of {'/'.join(cfg['searches'])}; smooth-hp = AR(1) spectrum "
            f"rho={cfg['smooth_rho']};\n(c, d) frozen SSM + ridge readout, TDI fast to the band mask, white "
            f"input, ridge {cfg['ridge']:g}, ")
    fig.suptitle("Does SSM structure matter? Realizability of the task spectrum and TDI's gain vs "
                 "state size\n"
                 + profile_note(args, note + "kernels normalised to sum K^2 = 1"),
                 fontsize=10.5)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
