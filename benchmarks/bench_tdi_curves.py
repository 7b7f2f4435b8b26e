"""Time-to-equal-loss curves: fast TDI vs a tuned gradient baseline (issue 14, the honest speed figure).

Setting: one DiagonalSSM layer, H = 256 channels, d_state N = 64 (N2 = 32), float32, S4D-Lin init (seed 0),
one target spectrum for every channel (``bench_tdi.target``: single band, low-pass, AR(2) periodogram), at
L = 1024 and L = 256. Both methods run on all H = 256 channels and are timed on the wall clock from the call of
``tdi_init``; only the dashed continuation of the gradient curve is converted from 8 channels.

* gradient (the baseline, tuned): ``tdi_init(method="gradient", backend="fft", lr=...)``: Adam on mean_h L_spec,
  the library's default backend. The learning rate is the best of bench_tdi's sweep (0.03 by default; a short
  sweep over 0.01, 0.03, 0.1 on the single band is run first with ``--sweep`` and printed). y = the mean
  over channels of each channel's best-so-far L_spec (what stopping at that moment keeps), x = wall seconds at
  the end of the step (``callback`` time stamps). Budget: ``--budget`` seconds per curve (default 60).
* continuation (dashed): Adam on 8 channels of another S4D-Lin draw for ``--long-budget`` wall seconds, step k
  placed at (k + 1) x the per-step time measured at H = 256 (bench_tdi's method: each channel's Adam trajectory
  does not depend on H; Adam's eps was checked not to matter). Measured caveat: the mean over 8 channels is an
  easier sample than the mean over 256 (at L = 256, low-pass, step 600: 5.2e-3 vs 1.8e-2; the mean over 256 is
  set by a few slow channels), so the continuation is optimistic for the gradient, and ratios read from it are
  lower bounds.
* fast: ``tdi_init(method="fast")`` with the defaults (refine_steps 30: one point, its total wall time and final
  mean L_spec), plus, as a curve of the same solver stopped earlier, refine_steps 0, 3 and 10 (not the default).
* Marked and written to the json: the times at which the gradient curve (else its continuation) first reaches
  mean L_spec 1e-2, 1e-3 and the fast default's final loss (or "not within the budget", then the budget is a
  lower bound), and the ratios t_gradient / t_fast (t_fast = the fast default's total time: an upper bound on
  its time to reach those levels, so the ratios are lower bounds for the fast solver's advantage there).

Run: ``python benchmarks/bench_tdi_curves.py [--budget 60] [--long-budget 60] [--lr 0.03] [--sweep] [--quick]``
(``--quick``: L = 256 only, 20 s + 10 s budgets). Writes ``benchmarks/results/bench_tdi_curves[.quick].json``
and ``.png``.
"""

from __future__ import annotations

import statistics
import time

from _common import fmt_e, fmt_s, header, md_table, parse_args, save_json
from bench_tdi import make_layer, target

from ssm_tdi.tdi import tdi_init

TARGETS = ("single band", "low-pass", "AR(2) periodogram")
LEVELS = (1e-2, 1e-3)
FAST_STEPS = (0, 3, 10, 30)  # refine_steps; 30 is the library default


def gradient_curve(H, N, S, L, lr, budget, dev):
    """[(wall seconds after step k, best-so-far mean L_spec at step k)] for as many Adam steps as fit in about
    ``budget`` seconds (the step count from a 5-step timing run), and the mean L_spec before the first step."""
    probe = tdi_init(make_layer(H, N, dev), S, method="gradient", L=L, steps=5, lr=lr, backend="fft")
    t_step = (probe.history[-1][1] - probe.history[0][1]) / (len(probe.history) - 1)
    stamps = []
    t0 = time.perf_counter()
    rep = tdi_init(make_layer(H, N, dev), S, method="gradient", L=L, steps=max(2, int(budget / t_step)), lr=lr,
                   backend="fft", callback=lambda *_: stamps.append(time.perf_counter() - t0))
    # history[k] = (k, s since loop start, mean L_spec of iterate k, mean of each channel's best up to k), recorded
    # before step k's update; stamps[k] = wall time after step k, from the call
    return [(stamps[k], rep.history[k][3]) for k in range(len(rep.history))], rep.history[0][2]


def scaled_curve(Hg, N, S, L, lr, budget, t_step_H, dev):
    """The gradient curve continued past the direct budget, from Hg channels (bench_tdi's method): each channel's
    Adam trajectory does not depend on H (the loss is a mean over channels and Adam is invariant to its 1/H scale),
    so step k of the Hg-channel run is placed at (k + 1) x t_step_H, the per-step wall time measured at H = 256.
    Returns [(H-equivalent seconds, best-so-far mean L_spec over the Hg channels)]."""
    probe = tdi_init(make_layer(Hg, N, dev), S, method="gradient", L=L, steps=5, lr=lr, backend="fft")
    t_step = (probe.history[-1][1] - probe.history[0][1]) / (len(probe.history) - 1)
    rep = tdi_init(make_layer(Hg, N, dev), S, method="gradient", L=L, steps=max(2, int(budget / t_step)), lr=lr,
                   backend="fft")
    return [((k + 1) * t_step_H, h[3]) for k, h in enumerate(rep.history)]


def fast_points(H, N, S, L, dev, reps):
    """{refine_steps: (median wall seconds, mean L_spec)} of the fast solver."""
    out = {}
    for k in FAST_STEPS:
        secs, loss = [], None
        for _ in range(reps):
            layer = make_layer(H, N, dev)
            t0 = time.perf_counter()
            rep = tdi_init(layer, S, method="fast", L=L, refine_steps=k)
            secs.append(time.perf_counter() - t0)
            loss = rep.loss_after_mean
        out[k] = (statistics.median(secs), loss)
    return out


def first_time(curve, level):
    for t, loss in curve:
        if loss <= level:
            return t
    return None


def main():
    def extra(p):
        p.add_argument("--budget", type=float, default=None, help="gradient wall seconds per curve (120; quick 20)")
        p.add_argument("--lr", type=float, default=0.03, help="Adam learning rate of the tuned baseline")
        p.add_argument("--sweep", action="store_true", help="also run a short learning-rate check (0.01, 0.03, 0.1)")
        p.add_argument("--long-budget", type=float, default=None,
                       help="wall seconds of the 8-channel continuation per curve (60; quick 10)")

    args = parse_args("bench_tdi_curves", __doc__.splitlines()[0], extra)
    dev, H, N = args.device, 256, 64
    budget = args.budget or (20.0 if args.quick else 60.0)
    long_budget = args.long_budget or (10.0 if args.quick else 60.0)
    Hg = 8
    Ls = (256,) if args.quick else (1024, 256)
    reps = 1 if args.quick else 2
    print(header(args))
    print(f"\nH = {H}, N = {N}, float32 layer, S4D-Lin init; gradient: Adam, backend fft, lr {args.lr:g}, "
          f"{budget:.0f} s wall per curve; fast: median of {reps} runs per refine_steps in {FAST_STEPS}")
    out = {"H": H, "N": N, "lr": args.lr, "budget_s": budget, "levels": LEVELS, "fast_refine_steps": FAST_STEPS,
           "curves": {}, "sweep": {}}
    if args.sweep:
        rows = []
        for lr in (0.01, 0.03, 0.1):
            curve, _ = gradient_curve(H, N, target("single band", 1024), 1024, lr, budget / 4, dev)
            out["sweep"][f"{lr:g}"] = curve[-1]
            rows.append([f"{lr:g}", len(curve), fmt_s(curve[-1][0]), fmt_e(curve[-1][1])])
        print(f"\n## learning-rate check (single band, L = 1024, {budget / 4:.0f} s each)\n")
        print(md_table(["lr", "steps", "wall", "best mean L_spec"], rows))
    rows = []
    for L in Ls:
        for name in TARGETS:
            S = target(name, L)
            fast = fast_points(H, N, S, L, dev, reps)
            curve, loss0 = gradient_curve(H, N, S, L, args.lr, budget, dev)
            t_step_H = statistics.median(b[0] - a[0] for a, b in zip(curve[:-1], curve[1:], strict=True))
            long = scaled_curve(Hg, N, S, L, args.lr, long_budget, t_step_H, dev)
            t_fast, l_fast = fast[30]
            hits = {f"{lv:g}": first_time(curve, lv) for lv in LEVELS}
            hits["fast"] = first_time(curve, l_fast)
            ratio = {k: (None if v is None else v / t_fast) for k, v in hits.items()}
            hits_long = {f"{lv:g}": first_time(long, lv) for lv in LEVELS}
            hits_long["fast"] = first_time(long, l_fast)
            ratio_long = {k: (None if v is None else v / t_fast) for k, v in hits_long.items()}
            out["curves"][f"L={L}/{name}"] = {
                "L": L, "target": name, "loss_before": loss0, "fast": {str(k): v for k, v in fast.items()},
                "gradient_curve": curve[:: max(1, len(curve) // 400)] + [curve[-1]], "gradient_steps": len(curve),
                "gradient_final": curve[-1], "gradient_seconds_to": hits, "ratio_to_fast": ratio,
                "seconds_per_step_H": t_step_H, "scaled_channels": Hg,
                "scaled_curve": long[:: max(1, len(long) // 400)] + [long[-1]], "scaled_steps": len(long),
                "scaled_seconds_to": hits_long, "scaled_ratio_to_fast": ratio_long}
            rows.append([L, name, f"{fmt_s(t_fast)} -> {fmt_e(l_fast)}",
                         f"{len(curve)} steps, {fmt_s(curve[-1][0])} -> {fmt_e(curve[-1][1])}"]
                        + [("never" if hits[k] is None else f"{fmt_s(hits[k])} ({ratio[k]:,.0f}x)")
                           for k in ("0.01", "0.001", "fast")]
                        + [f"{len(long)} steps = {fmt_s(long[-1][0])} -> {fmt_e(long[-1][1])}"]
                        + [("never" if hits_long[k] is None else f"{fmt_s(hits_long[k])} ({ratio_long[k]:,.0f}x)")
                           for k in ("0.01", "0.001", "fast")])
            print(f"  done L={L} {name}", flush=True)
    print(f"\n## time to equal loss (wall, H = {H}; ratio = gradient seconds / fast default seconds)\n")
    print(md_table(["L", "target", "fast (default): seconds -> mean L_spec", "gradient: budget used -> best mean",
                    "gradient to 1e-2", "gradient to 1e-3", "gradient to fast's loss",
                    f"continued ({Hg} channels): H-equivalent budget -> best mean", "continued: to 1e-2",
                    "continued: to 1e-3", "continued: to fast's loss"], rows))
    print("\n'never': not within the budget (a lower bound on the time). fast's total time is an upper bound on its "
          "time to each level, so the ratios are lower bounds.")
    path = save_json(args, out)
    plot(out, path.with_suffix(".png"))


def plot(out, png):
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(out["curves"])
    ncol = len(TARGETS)
    nrow = -(-len(keys) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        c = out["curves"][key]
        t, y = zip(*c["gradient_curve"], strict=True)
        ax.loglog(t, y, color="C0", label=f"gradient (Adam, fft, lr {out['lr']:g}), H = 256")
        tl, yl = zip(*c["scaled_curve"], strict=True)
        ax.loglog(tl, yl, color="C0", ls="--", lw=0.9,
                  label=f"gradient, {c['scaled_channels']} other channels x H = 256 step time (easier sample)")
        fs = sorted((int(k), v) for k, v in c["fast"].items())
        ax.loglog([v[0] for _, v in fs], [v[1] for _, v in fs], "o-", color="C3", ms=4,
                  label="fast, refine_steps " + "/".join(str(k) for k, _ in fs))
        t_fast, l_fast = c["fast"]["30"]
        ax.loglog([t_fast], [l_fast], "*", color="C3", ms=13, label="fast (default)")
        for lv, name, col in ((1e-2, "0.01", "0.55"), (1e-3, "0.001", "0.35"), (l_fast, "fast", "C3")):
            ax.axhline(lv, color=col, lw=0.6, ls=":")
            hit, ratio = c["gradient_seconds_to"][name], c["ratio_to_fast"][name]
            if hit is None:  # not within the direct budget: the continued curve
                hit, ratio = c["scaled_seconds_to"][name], c["scaled_ratio_to_fast"][name]
            if hit is not None:
                ax.plot([hit], [lv], "v", color="C0", ms=6)
                ax.annotate(f"{ratio:,.0f}x", (hit, lv), textcoords="offset points", xytext=(4, 4), fontsize=7,
                            color="C0")
            else:
                ax.annotate("gradient: never", (max(t[-1], tl[-1]), lv), textcoords="offset points",
                            xytext=(-60, 4), fontsize=7, color="C0")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{c['target']}, L = {c['L']}", fontsize=9)
        ax.set_xlabel("wall seconds (H = 256, 1 thread)")
        ax.set_ylabel("mean L_spec")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=4)
    fig.suptitle("TDI: fast solver vs tuned gradient baseline, time to equal loss "
                 "(markers: gradient first reaches 1e-2, 1e-3, fast's loss; ratio = its time / fast's)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(png, dpi=120)
    print(f"figure: {png}")


if __name__ == "__main__":
    main()
