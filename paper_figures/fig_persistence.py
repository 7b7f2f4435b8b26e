"""Figure (question Q1 of docs/claims.md): does TDI's initial alignment persist when every parameter is trained?

E2 runs (``paper_figures/e2.py``: one single-channel DiagonalSSM + linear readout of its L outputs, all SSM
parameters and the readout trained by full-batch Adam for a fixed number of steps, D = 0 fixed, initial
kernels normalised to sum_m K_m^2 = 1) on band-limited teachers, from the default inits and from TDI (fast,
and the library's gradient variant), both from the same S4D-Lin draw with S_task estimated from the P
training pairs. Two state sizes, N = 64 (E1's) and N = 32 (see fig_trainable: the fast fit's conditioning
differs). At checkpoints (log-spaced steps, 0 = init) we record, per run:

* |H(w_j)|^2 = ``layer.power_spectrum(L)`` (kernel only, D excluded), drawn normalised to unit 2-norm
  (as inside L_spec) over the normalised S_task estimate and the oracle teacher spectrum |rfft(beta)|^2;
* L_spec = ``spectra.spectral_matching_loss(|H|^2, |rfft(beta)|^2)`` against the ORACLE teacher spectrum
  (0 = perfectly aligned, 2 = disjoint supports);
* the cumulative-power area (``learning_curves.cumulative_power_area``) of the teacher over the eigenmodes
  of the CURRENT kernel frozen (``operators.induced_kernel_eig``, causal Toeplitz, white input): 1 = all the
  teacher's power in the kernel's top mode, ~1/2 = spread evenly, small = in the bottom modes;
* the relative test MSE (exact, / Var y).
"""

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch

from paper_figures import e2
from paper_figures.common import (
    Timer,
    mean_ci,
    parse_args,
    profile_note,
    save_figure,
    save_json,
    write_summary,
)
from ssm_tdi import synthetic

NAME = "persistence"

PROFILES = {
    "smoke": {
        "teachers": ["high"],
        "Ps": [64],
        "seeds": 2,
        "steps": 40,
        "d_states": [16, 8],
        "n_ck": 6,
        "inits": ["s4d-lin", "tdi"],
    },
    "quick": {
        "teachers": ["high", "mid"],
        "Ps": [64, 256],
        "seeds": 5,
        "steps": 800,
        "d_states": [64, 32],
        "n_ck": 18,
        "inits": list(e2.DEFAULT_INITS) + ["tdi", "tdi-gradient"],
    },
    "full": {
        "teachers": ["high", "mid", "two-band"],
        "Ps": [64, 256],
        "seeds": 10,
        "steps": 3000,
        "d_states": [64, 32],
        "n_ck": 30,
        "inits": list(e2.DEFAULT_INITS) + ["tdi", "tdi-gradient"],
    },
}
COMMON = {
    "L": 64,
    "lr": 1e-2,
    "ssm_lr": 1e-3,
    "default": "s4d-lin",
    "within": 2.0,
    "aligned": 0.1,
    "n_spectra_drawn": 5,
}
# Persistence criterion: TDI's L_spec at the end is <= within x its value at init, OR still <= aligned
# (L_spec = 2 - 2 cos, so L_spec <= 0.1 means cosine similarity >= 0.95 with the oracle spectrum: a ratio
# alone would call 0.01 -> 0.05 "lost").
LS = {0: "-", 1: "--", 2: ":"}
TITLE = "Q1: does TDI's initial spectral alignment persist through training? (E2)"
# Type sizes (points) for a 17 in wide figure that stays readable when a page shows it at ~1000 px.
FONT = {"title": 12, "label": 12, "tick": 11, "legend": 10.5, "suptitle": 13}


def main(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    cfg = {**COMMON, **PROFILES[args.profile]}
    if args.device.type == "cpu":
        torch.set_num_threads(1)  # tiny ops: one thread is faster than two on a shared 2-core machine
    L, S, steps, inits, teachers = cfg["L"], cfg["seeds"], cfg["steps"], cfg["inits"], cfg["teachers"]
    cfg["tdis"] = [i for i in inits if i in e2.TDI_METHODS]
    ck = e2.checkpoint_steps(steps, cfg["n_ck"])
    cfg["checkpoint_steps"] = ck
    cells = {}
    with Timer() as timer:
        data = [e2.make_trial_data(args.seed, s, L, max(cfg["Ps"]), teachers) for s in range(S)]
        for N in cfg["d_states"]:
            for pi, P in enumerate(cfg["Ps"]):
                layers, Xs, betas, labels, s_task = [], [], [], [], {}
                for s in range(S):
                    X, bs = data[s]
                    for t in teachers:
                        Xp = X[:P]
                        S_task = e2.task_spectrum(Xp, synthetic.teacher_targets(bs[t], Xp))
                        s_task[(t, s)] = S_task
                        for init in inits:
                            layer, _ = e2.build_layer(
                                init,
                                N,
                                e2.init_generator(args.seed, s),
                                L,
                                S_task=S_task if init in e2.TDI_METHODS else None,
                            )
                            layers.append(layer)
                            Xs.append(Xp)
                            betas.append(bs[t])
                            labels.append((init, t, s))
                betas = torch.stack(betas)

                def record(model, betas=betas):
                    Sm, lspec, area = e2.alignment_scores(model.ssm, L, betas.to(model.weight.device))
                    return {"power": Sm.cpu(), "lspec": lspec.cpu(), "area": area.cpu()}

                with Timer() as rt:
                    run = e2.run_packed(
                        layers,
                        Xs,
                        betas,
                        L=L,
                        steps=steps,
                        lr=cfg["lr"],
                        ssm_lr=cfg["ssm_lr"],
                        seed=args.seed * 1000 + pi,
                        device=args.device,
                        checkpoint_steps=ck,
                        checkpoint_fn=record,
                    )
                print(
                    f"[{NAME}] N={N} P={P}: {len(labels)} runs x {steps} steps in {rt.seconds:.1f} s",
                    flush=True,
                )
                for t in teachers:
                    c = {
                        "N": N,
                        "P": P,
                        "teacher": t,
                        "oracle": [],
                        "s_task": [],
                        "residue_ratio": {i: [] for i in inits},
                    }
                    for key in ("lspec", "area", "rel_mse"):
                        c[key] = {i: np.zeros((S, len(ck))) for i in inits}
                    c["power"] = {i: None for i in inits}  # seed 0 only: (n_ck, F)
                    for s in range(S):
                        c["oracle"].append(e2.oracle_spectrum(data[s][1][t]))
                        c["s_task"].append(s_task[(t, s)])
                    for h, (init, tt, s) in enumerate(labels):
                        if tt != t:
                            continue
                        for key in ("lspec", "area", "rel_mse"):
                            c[key][init][s] = [float(run.checkpoints[k][key][h]) for k in ck]
                        c["residue_ratio"][init].append(float(run.residue_ratio[h]))
                        if s == 0:
                            c["power"][init] = torch.stack([run.checkpoints[k]["power"][h] for k in ck])
                    cells[f"{N}|{t}|{P}"] = c

    stats = {k: _cell_stats(c, cfg) for k, c in cells.items()}
    key = _key_numbers(stats, cfg)
    res = {"config": cfg, "cells": cells, "stats": stats}
    fig = _draw(cells, stats, cfg, args)
    save_figure(fig, args.out, NAME)
    save_json(res, args.out / f"{NAME}.json")
    write_summary(
        args,
        title=TITLE,
        claim="Q1 (docs/claims.md) / C5-C6: TDI's initial alignment of |H|^2 with the task spectrum "
        "persists when all SSM parameters are trained, and training from the default init does "
        "not reach it quickly",
        key_numbers=key,
        reading=_reading(stats, cfg),
        seconds=timer.seconds,
    )
    print(f"[{NAME}] {args.profile}: {timer.seconds:.1f} s -> {args.out}")


def _first_within(curve, target, steps):
    """First checkpoint step at which ``curve`` (mean over seeds) is <= target, else None."""
    for st, v in zip(steps, curve, strict=True):
        if v <= target:
            return int(st)
    return None


def _cell_stats(c, cfg):
    ck, dflt, within = cfg["checkpoint_steps"], cfg["default"], cfg["within"]
    L_d, A_d = c["lspec"][dflt], c["area"][dflt]
    st = {
        "def_init": float(L_d[:, 0].mean()),
        "def_end": float(L_d[:, -1].mean()),
        "def_area_init": float(A_d[:, 0].mean()),
        "def_area_end": float(A_d[:, -1].mean()),
        "def_relmse_end": float(c["rel_mse"][dflt][:, -1].mean()),
        "tdi": {},
    }
    defaults = [i for i in cfg["inits"] if i not in e2.TDI_METHODS]
    best = min(defaults, key=lambda i: c["lspec"][i][:, -1].mean())
    st["best_default"], st["best_default_end"] = best, float(c["lspec"][best][:, -1].mean())
    for k in cfg["tdis"]:
        L_t, A_t = c["lspec"][k], c["area"][k]
        ti = float(L_t[:, 0].mean())
        m, ci = mean_ci(L_t[:, -1] - L_d[:, -1])  # paired end-of-training comparison with the default
        st["tdi"][k] = {
            "init": ti,
            "end": float(L_t[:, -1].mean()),
            "max": float(L_t.mean(0).max()),
            "step_of_max": int(ck[int(np.argmax(L_t.mean(0)))]),
            "area_init": float(A_t[:, 0].mean()),
            "area_end": float(A_t[:, -1].mean()),
            "relmse_end": float(c["rel_mse"][k][:, -1].mean()),
            "end_diff_mean": float(m),
            "end_diff_ci": float(ci),
            "residue_ratio_median": float(np.median(c["residue_ratio"][k])),
            "def_step_within": _first_within(L_d.mean(0), within * ti, ck),
            "def_step_reach": _first_within(L_d.mean(0), ti, ck),
        }
    return st


def _key_numbers(stats, cfg):
    budget = cfg["steps"]
    key = {"cells": [f"{t}_P{P}" for t in cfg["teachers"] for P in cfg["Ps"]]}
    for N in cfg["d_states"]:
        sts = [stats[f"{N}|{t}|{P}"] for t in cfg["teachers"] for P in cfg["Ps"]]
        key[f"lspec_default_init_N{N}"] = [s["def_init"] for s in sts]
        key[f"lspec_default_end_N{N}"] = [s["def_end"] for s in sts]
        key[f"area_default_init_N{N}"] = [s["def_area_init"] for s in sts]
        key[f"area_default_end_N{N}"] = [s["def_area_end"] for s in sts]
        for k in cfg["tdis"]:
            tag = "tdi" if k == "tdi" else "tdigrad"
            key[f"lspec_{tag}_init_N{N}"] = [s["tdi"][k]["init"] for s in sts]
            key[f"lspec_{tag}_max_N{N}"] = [s["tdi"][k]["max"] for s in sts]
            key[f"lspec_{tag}_end_N{N}"] = [s["tdi"][k]["end"] for s in sts]
            key[f"area_{tag}_init_N{N}"] = [s["tdi"][k]["area_init"] for s in sts]
            key[f"area_{tag}_end_N{N}"] = [s["tdi"][k]["area_end"] for s in sts]
        key[f"default_first_step_within_{cfg['within']:g}x_tdi_init_N{N}"] = [
            s["tdi"]["tdi"]["def_step_within"]
            if s["tdi"]["tdi"]["def_step_within"] is not None
            else f"never ({budget})"
            for s in sts
        ]
    return key


def _reading(stats, cfg):
    d, budget, within, ok = e2.INIT_LABELS[cfg["default"]], cfg["steps"], cfg["within"], cfg["aligned"]
    intro = (
        f"Default = {d} (TDI's starting point, paired by seed); means over {cfg['seeds']} seeds; L_spec is "
        f"against the oracle teacher spectrum (0 = aligned, 2 = disjoint); {budget} full-batch Adam steps "
        f"with every parameter trained. 'Persists' = TDI's L_spec at the end <= {within:g}x its value at "
        f"init or <= {ok:g} (cosine >= 0.95)."
    )
    heads, details = [], []
    for N in cfg["d_states"]:
        for k in cfg["tdis"]:
            lab = e2.INIT_LABELS[k]
            n_persist, n_reach, n_aligned, bits, steps_within = 0, 0, 0, [], []
            keys = [f"{N}|{t}|{P}" for t in cfg["teachers"] for P in cfg["Ps"]]
            for key in keys:
                st = stats[key]
                _, t, P = key.split("|")
                s = st["tdi"][k]
                ti, te, tm = s["init"], s["end"], s["max"]
                n_aligned += ti <= 1.0
                persists = te <= within * ti or te <= ok
                if te <= ti and tm <= max(within * ti, ok):
                    pv = "persists"
                elif persists:
                    pv = (
                        f"persists at the end (x{te / ti:.2g}) after a transient to {tm:.3f} at step "
                        f"{s['step_of_max']}"
                        if tm > max(within * ti, ok)
                        else f"largely persists (x{te / ti:.2g}"
                        + (f", still <= {ok:g})" if te <= ok else ")")
                    )
                else:
                    pv = f"does NOT persist (x{te / ti:.2g}; worst {tm:.3f} at step {s['step_of_max']})"
                if ti > 1.0:
                    pv += " [but TDI did not align the kernel in the first place: init L_spec > 1]"
                n_persist += persists
                reach = st["def_end"] <= ti
                n_reach += reach
                sw = s["def_step_within"]
                steps_within.append("never" if sw is None else str(sw))
                when = (
                    f"within {within:g}x of it from step {sw}"
                    if sw is not None
                    else f"never within {within:g}x of it in {budget} steps"
                )
                if sw == 0:
                    when += " (already at init: TDI's initial advantage is < 2x by this measure)"
                end_v = (
                    "TDI better aligned at the end"
                    if s["end_diff_mean"] + s["end_diff_ci"] < 0
                    else "TDI WORSE aligned at the end"
                    if s["end_diff_mean"] - s["end_diff_ci"] > 0
                    else "end difference ns"
                )
                bits.append(
                    f"{t}/P={P}: {ti:.3f} -> {te:.3f} {pv}; {d} {st['def_init']:.3f} -> {st['def_end']:.3f} "
                    + ("reaches" if reach else "does not reach")
                    + f" it ({when}); {end_v}; area "
                    f"{s['area_init']:.2f} -> {s['area_end']:.2f} vs {d} {st['def_area_init']:.2f} -> "
                    f"{st['def_area_end']:.2f}; test error {s['relmse_end']:.2g} vs "
                    f"{st['def_relmse_end']:.2g}"
                )
            n = len(keys)
            rr = np.median([stats[key]["tdi"][k]["residue_ratio_median"] for key in keys])
            if n_persist == n:
                verdict = "the initial alignment PERSISTS"
            elif n_persist == 0:
                verdict = "the initial alignment does NOT persist in any cell"
            else:
                verdict = f"the initial alignment persists in only {n_persist} of {n} cells"
            verdict += (
                f"; training from {d} "
                + ("never reaches" if n_reach == 0 else f"reaches in {n_reach}/{n} cells")
                + f" TDI's initial L_spec (first step within {within:g}x: {', '.join(steps_within)})"
            )
            if n_aligned < n:
                verdict += f"; but TDI's own initial L_spec is > 1 (not aligned) in {n - n_aligned}/{n} cells"
            heads.append(f"N={N}, {lab} (median sum|c_n|/||K|| = {rr:.3g}): {verdict}.")
            details.append(f"N={N}, {lab}, L_spec init -> end: " + " | ".join(bits) + ".")
    return " ".join([intro, "ANSWER:", *heads, "DETAILS:", *details])


def _unit(x):
    x = np.asarray(x, float)
    return x / max(np.linalg.norm(x), 1e-300)


def _draw(cells, stats, cfg, args):
    Ns, dflt = cfg["d_states"], cfg["default"]
    cols = [(t, P) for t in cfg["teachers"] for P in cfg["Ps"]]
    nc = len(cols)
    spec_rows = [(Ns[0], dflt), (Ns[0], "tdi")]  # seed-0 spectra at the first N; all N in rows 3-5
    nrow = len(spec_rows) + 3
    fig, axes = plt.subplots(nrow, nc, figsize=(4.3 * max(nc, 2), 3.6 * nrow + 2.0), squeeze=False)
    ck = np.array(cfg["checkpoint_steps"])
    draw_idx = np.unique(np.round(np.geomspace(1, len(ck), cfg["n_spectra_drawn"])).astype(int) - 1)
    draw_idx = sorted({0, len(ck) - 1, *draw_idx.tolist()})
    for c, (t, P) in enumerate(cols):
        for r, (N, init) in enumerate(spec_rows):
            cell = cells[f"{N}|{t}|{P}"]
            ax = axes[r, c]
            w = np.linspace(0, 1, len(cell["oracle"][0]))
            ax.fill_between(
                w, 1e-12, _unit(cell["oracle"][0]), color="0.8", label=r"oracle $|\hat\beta|^2$", step="mid"
            )
            ax.plot(w, _unit(cell["s_task"][0]), ":", color="k", lw=1.2, label=r"$S_{task}$ estimate")
            cmap = plt.get_cmap("Blues" if init == dflt else "Reds")
            for j, idx in enumerate(draw_idx):
                col = cmap(0.35 + 0.65 * j / max(1, len(draw_idx) - 1))
                ax.plot(
                    w,
                    _unit(cell["power"][init][idx]),
                    color=col,
                    lw=1.7 if idx in (0, len(ck) - 1) else 1.0,
                    label=f"step {ck[idx]}",
                )
            ax.set_yscale("log")
            ax.set_ylim(1e-5, 1.5)
            ax.set_xlabel(r"$\omega/\pi$", fontsize=FONT["label"])
            ax.set_ylabel(r"normalised $|H(\omega)|^2$", fontsize=FONT["label"])
            ax.set_title(f"{t} band, P={P}: {e2.INIT_LABELS[init]}", fontsize=FONT["title"])
            if c == 0:
                ax.legend(fontsize=FONT["legend"] - 1.5, loc="lower left", ncol=2, title=f"N={N}, seed 0",
                          title_fontsize=FONT["legend"] - 1.5)
            ax.grid(alpha=0.3)
        x = np.maximum(ck, 0.5)  # step 0 drawn at 0.5 on the log axis
        for r, (key, lab) in enumerate(
            [
                ("lspec", r"$L_{spec}$ vs oracle (0 = aligned)"),
                ("area", "cumulative-power area"),
                ("rel_mse", "relative test MSE"),
            ],
            start=len(spec_rows),
        ):
            ax = axes[r, c]
            for n, N in enumerate(Ns):
                cell = cells[f"{N}|{t}|{P}"]
                for i in cfg["inits"]:
                    main_ = i in (dflt, *cfg["tdis"])
                    if n and not main_:
                        continue
                    v = cell[key][i]
                    mean = np.exp(np.log(v).mean(0)) if key == "rel_mse" else v.mean(0)
                    ax.plot(
                        x,
                        mean,
                        ls=LS[n],
                        color=e2.COLORS[i],
                        lw=2.0 if main_ else 0.9,
                        alpha=1 if main_ else 0.7,
                        label=f"{e2.INIT_LABELS[i]}, N={N}",
                    )
                if key == "lspec":
                    ax.axhline(
                        stats[f"{N}|{t}|{P}"]["tdi"]["tdi"]["init"],
                        color="tab:red",
                        ls=LS[n],
                        lw=0.8,
                        alpha=0.6,
                    )
            if key == "lspec":
                ax.set_ylim(0, 2.05)
                txt = []
                for N in Ns:
                    sw = stats[f"{N}|{t}|{P}"]["tdi"]["tdi"]["def_step_within"]
                    txt.append(f"N={N} " + (f"step {sw}" if sw is not None else "never"))
                ax.set_title(
                    f"{e2.INIT_LABELS[dflt]} within {cfg['within']:g}x of TDI's init\n(thin red): "
                    + ", ".join(txt),
                    fontsize=FONT["title"] - 1,
                )
            if key == "rel_mse":
                ax.set_yscale("log")
                ax.axhline(1.0, color="k", ls="--", lw=1)
                ax.set_title("geometric mean over seeds\n(dashed black: trivial predictor)", fontsize=FONT["title"] - 1)
            if key == "area":
                ax.set_title("mean over seeds", fontsize=FONT["title"] - 1)
            ax.set_xscale("log")
            ax.set_xlabel("training step (step 0 at 0.5)", fontsize=FONT["label"])
            ax.set_ylabel(lab, fontsize=FONT["label"])
            ax.grid(alpha=0.3, which="major")
            if c == 0 and key == "area":
                handles, labels = ax.get_legend_handles_labels()
    info = (
        f"1-layer DiagonalSSM (H=1, N = state size) + readout of all L={cfg['L']} outputs, all parameters "
        f"trained (Adam lr={cfg['lr']:g}, ssm_lr={cfg['ssm_lr']:g}, {cfg['steps']} full-batch steps, "
        "D=0 fixed); "
        f"{cfg['seeds']} seeds; solid N={Ns[0]}"
        + (f", dashed N={Ns[1]}" if len(Ns) > 1 else "")
        + "; spectra normalised to unit 2-norm; TDI from the same S4D-Lin draw, S_task estimated from the "
        "P pairs"
    )
    for ax in axes.ravel():
        ax.tick_params(labelsize=FONT["tick"])
    fig.suptitle(
        TITLE + "\n" + "\n".join(textwrap.wrap(profile_note(args, info), max(80, 30 * nc))),
        fontsize=FONT["suptitle"],
    )
    fig.tight_layout(rect=(0, 0.065, 1, 0.97))
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(len(labels), 4),
        fontsize=FONT["legend"],
        title=f"rows {len(spec_rows) + 1}-{nrow} (means over seeds)",
        title_fontsize=FONT["legend"],
    )
    return fig


if __name__ == "__main__":
    main()
