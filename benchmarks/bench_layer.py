"""DiagonalSSM forward+backward time and peak memory vs the bare FFT convolution of the same shapes.

Shapes: batch B = 16, H = 256 channels, d_state N = 64 (N2 = 32), L = 256, 1024 and 4096, float32.

* ``layer``: ``y = layer(u)`` with u (B, L, H) requiring grad, then ``y.backward(g)`` (g a fixed random
  cotangent): kernel generation (``kernels.power_kernel``: sqrt(L)-blocked power tables and one
  real matrix multiply, autograd backward), FFT convolution of length 2L with D folded into the
  kernel spectrum (``conv.causal_fft_conv``, hand-written backward), input validation, and the backward
  through all of it (grads of u and of every layer parameter).
* ``bare``: the same convolution with a given, precomputed kernel K (H, L) requiring grad, in the
  layer's layout: ``irfft(rfft(u.transpose(1, 2), n=2L) * rfft(K, n=2L), n=2L)[..., :L].transpose(1, 2)``,
  backward wrt u and K. ``bare (B,H,L)`` is the same on a contiguous (B, H, L) input (no transposes),
  for reference.
* ``kernel only``: ``layer.kernel(L)`` forward + backward (included in ``layer``).

Time: median of repeats after a warm-up; the four cases are timed in interleaved rounds, and the
layer/bare ratio is also given as the median of the per-round ratios (robust to load drift).
Peak memory: see ``_common.peak_memory`` (CPU: peak of the bytes held by torch's CPU allocator
above the level at the start, from the profiler's allocation events; CUDA:
``max_memory_allocated``). Inputs, the cotangent and the parameters exist before the region and
are not counted; activations, FFT buffers and gradients are. In the full run a
cross-check measures, in a fresh subprocess per case, the peak RSS (VmHWM, reset just before the
region via /proc/self/clear_refs) above the RSS just before it, after one warm-up run, with glibc's
mmap threshold fixed at 64 KiB so freed tensors go back to the OS (RSS then tracks live memory,
plus allocator/interpreter noise of a few MiB).

Kernel materialization: peak memory of ``layer.kernel(L)`` forward+backward vs the size of an
(H, N2, L) complex64 tensor (what a naive Vandermonde would hold), at L = 1024, 4096, 16384
(--quick: 1024, 4096).

Run: ``python benchmarks/bench_layer.py [--device auto|cpu|cuda] [--quick]``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys

import torch
from _common import fmt_bytes, fmt_s, header, md_table, parse_args, peak_memory, save_json, time_fn

try:
    from ssm_tdi.kernels import _kernel_block
except ImportError:  # a library before the power-table kernel (fixed 256-step Vandermonde blocks): before/after runs
    _kernel_block = None
from ssm_tdi.layers import DiagonalSSM

B, H, N = 16, 256, 64
SHOW = {"layer": "layer", "bare": "bare", "bare_bhl": "bare (B,H,L)", "kernel": "kernel only"}


def make_case(kind: str, L: int, device, seed: int = 0):
    """A zero-argument function running one forward+backward of ``kind`` at length L."""
    g = torch.Generator().manual_seed(seed)
    layer = DiagonalSSM(H, N, generator=g, device=device)
    u = torch.randn(B, L, H, generator=g).to(device).requires_grad_(True)
    gy = torch.randn(B, L, H, generator=g).to(device)
    if kind == "layer":
        params = list(layer.parameters())

        def fn():
            for p in params:
                p.grad = None
            u.grad = None
            layer(u).backward(gy)
        return fn
    if kind == "kernel":
        gK = torch.randn(H, L, generator=g).to(device)

        def fn():
            for p in layer.parameters():
                p.grad = None
            layer.kernel(L).backward(gK)
        return fn
    with torch.no_grad():
        K0 = layer.kernel(L)
    K = K0.clone().requires_grad_(True)
    n = 2 * L
    if kind == "bare":
        def fn():
            u.grad = None
            K.grad = None
            uf = torch.fft.rfft(u.transpose(1, 2), n=n)
            y = torch.fft.irfft(uf * torch.fft.rfft(K, n=n), n=n)[..., :L].transpose(1, 2)
            y.backward(gy)
        return fn
    if kind == "bare_bhl":
        uc = u.detach().transpose(1, 2).contiguous().requires_grad_(True)
        gyc = gy.transpose(1, 2).contiguous()

        def fn():
            uc.grad = None
            K.grad = None
            y = torch.fft.irfft(torch.fft.rfft(uc, n=n) * torch.fft.rfft(K, n=n), n=n)[..., :L]
            y.backward(gyc)
        return fn
    raise ValueError(kind)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def target(L: int) -> float:
    """The issue's target for layer / bare: 1.5x at L = 256, 1.0x from L = 1024 on."""
    return 1.5 if L < 1024 else 1.0


def rss_child(kind: str, L: int, threads: int) -> None:
    """Subprocess body: peak RSS (VmHWM) above the RSS just before one forward+backward (after a warm-up).

    The peak is reset to the current RSS first (``/proc/self/clear_refs`` = 5, Linux >= 4.0), so the
    import and setup peaks do not mask the region's; without that, ru_maxrss is used and the result is
    flagged invalid when the region did not raise it.
    """
    torch.set_num_threads(threads)
    fn = make_case(kind, L, torch.device("cpu"))
    fn()  # warm-up: lazily loaded code pages and one-time buffers are not the region's memory
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    before = _status_kib("VmRSS")
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fn()
    if reset:
        print(json.dumps({"delta": _status_kib("VmHWM") - before, "valid": True}))
    else:
        max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"delta": max_after - before, "valid": max_after > max_before}))


def rss_delta(kind: str, L: int, threads: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    res = subprocess.run([sys.executable, __file__, "--rss-child", f"{kind}:{L}", "--threads", str(threads)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    def extra(p):
        p.add_argument("--rss-child", default=None, help=argparse_hidden())

    args = parse_args("bench_layer", __doc__.splitlines()[0], extra)
    if args.rss_child:
        kind, L = args.rss_child.split(":")
        rss_child(kind, int(L), args.threads)
        return
    dev = args.device
    reps = 3 if args.quick else 7
    print(header(args))
    print(f"\nB = {B}, H = {H}, N = {N} (N2 = {N // 2}), float32; "
          f"time = median of {reps} runs after 1 warm-up")
    out = {"B": B, "H": H, "N": N, "repeats": reps, "cases": {}, "kernel_memory": {}}
    rows = []
    kinds = ("layer", "bare", "bare_bhl", "kernel")
    for L in (256, 1024, 4096):
        # the cases are timed in interleaved rounds (layer, bare, ... , layer, bare, ...) so that a change
        # of the machine's load hits all of them alike; the paired ratio is the median over rounds
        fns = {kind: make_case(kind, L, dev) for kind in kinds}
        times = {kind: [] for kind in kinds}
        for fn in fns.values():
            fn()  # warm-up
        for _ in range(reps):
            for kind, fn in fns.items():
                times[kind].append(time_fn(fn, dev, repeats=1, warmup=0)["median"])
        res = {}
        for kind, fn in fns.items():
            ts = times[kind]
            res[kind] = {"time": {"median": statistics.median(ts), "min": min(ts), "all": ts},
                         "peak_bytes": peak_memory(fn, dev)}
            if not args.quick and dev.type == "cpu" and kind in ("layer", "bare", "kernel"):
                res[kind]["rss"] = rss_delta(kind, L, args.threads)
        res["paired_ratio_layer_bare"] = statistics.median(
            a / b for a, b in zip(times["layer"], times["bare"], strict=True))
        del fns
        out["cases"][L] = res
        tb, mb = res["bare"]["time"]["median"], res["bare"]["peak_bytes"]
        for kind in kinds:
            r = res[kind]
            rss = r.get("rss")
            rows.append([L, SHOW[kind], fmt_s(r["time"]["median"]), fmt_s(r["time"]["min"]),
                         f"{r['time']['median'] / tb:.2f}x", fmt_bytes(r["peak_bytes"]),
                         f"{r['peak_bytes'] / mb:.2f}x",
                         "-" if rss is None else fmt_bytes(rss["delta"]) + ("" if rss["valid"] else " (?)")])
    print("\n## forward + backward, layer vs bare FFT convolution\n")
    print(md_table(["L", "case", "time (median)", "time (min)", "time / bare", "peak memory", "memory / bare",
                    "peak RSS delta (subprocess)"], rows))
    verdict = []
    for L, res in out["cases"].items():
        rt = res["layer"]["time"]["median"] / res["bare"]["time"]["median"]
        rt_min = res["layer"]["time"]["min"] / res["bare"]["time"]["min"]
        rt_pair = res["paired_ratio_layer_bare"]
        rm = res["layer"]["peak_bytes"] / res["bare"]["peak_bytes"]
        kt = res["kernel"]["time"]["median"] / res["bare"]["time"]["median"]
        rts = (rt, rt_min, rt_pair)
        tgt = target(L)
        ok = "yes" if max(rts) <= tgt else ("**no**" if min(rts) > tgt else "borderline")
        verdict.append([L, f"{tgt:.1f}x", f"{rt:.2f}x", f"{rt_min:.2f}x", f"{rt_pair:.2f}x", ok, f"{rm:.2f}x",
                        "yes" if rm <= 1.3 else "**no**", f"{kt:.2f}x", f"{rt - kt:.2f}x"])
    print("\n### target (issue 14): layer <= 1.5x bare at L = 256, <= 1.0x at L >= 1024\n")
    print(md_table(["L", "target", "time ratio (medians)", "time ratio (minima)", "time ratio (paired, median)",
                    "met", "memory ratio", "<= 1.3x", "kernel-only time / bare",
                    "(layer - kernel) / bare"], verdict))
    print("\ntime 'met': yes / no when the three ratios agree, else borderline (the spread is machine noise)")

    # ------------------------------------------------------------------ kernel materialization
    krows = []
    N2 = N // 2
    for L in (1024, 4096) if args.quick else (1024, 4096, 16384):
        fn = make_case("kernel", L, dev)
        t = time_fn(fn, dev, repeats=max(2, reps // 2), warmup=1)
        mem = peak_memory(fn, dev)
        full = H * N2 * L * 8  # complex64
        b = _kernel_block(L) if _kernel_block else None
        block = H * N2 * (b + -(-L // b) if b else min(L, 256)) * 8  # the power tables z^r, z^{qb} (or one block)
        out["kernel_memory"][L] = {"peak_bytes": mem, "full_HN2L_bytes": full, "block_bytes": block,
                                   "time": t}
        krows.append([L, fmt_s(t["median"]), fmt_bytes(mem), fmt_bytes(full), f"{mem / full:.2f}",
                      fmt_bytes(block), f"{mem / block:.1f}", "yes" if mem < full else "**no**"])
        del fn
    print(f"\n## kernel generation: layer.kernel(L) forward+backward, H = {H}, N2 = {N2} "
          "(power tables of b = ceil(sqrt L) and ceil(L/b) steps)\n")
    print(md_table(["L", "time", "peak memory", "(H,N2,L) complex64 size", "peak / full",
                    "power tables (H,N2,b+Q)", "peak / tables", "no full tensor"], krows))
    save_json(args, out)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
