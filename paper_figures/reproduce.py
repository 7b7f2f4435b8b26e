"""Reproducibility check: rerun the figure scripts, compare their key numbers with the committed ones.

    python -m paper_figures.reproduce --profile smoke              # CI and `make reproduce`
    python -m paper_figures.reproduce --profile quick-subset       # CI: the committed quick results regenerate
    python -m paper_figures.reproduce --profile smoke --update     # rewrite reference/smoke.json from real runs
    python -m paper_figures.reproduce --profile smoke --add-platform  # record this platform's own numbers

Every ``paper_figures/fig_<name>.py`` (found by glob: new figures join on their own, and fail with
"no reference (run --update)" until their reference exists) runs as a subprocess into a temporary folder
(``--profile P --device cpu --out TMP``, threads pinned to 1, SIMD overrides stripped from the environment)
and the ``key_numbers`` of its summary are compared with the reference values:

* ``smoke``: ``reference/smoke.json`` (written by ``--update`` from a real run, never typed);
* ``quick`` / ``full``: the committed ``paper_figures/output/<profile>/<name>.summary.json`` themselves (their
  ``profile`` must match); ``quick-subset`` is ``quick`` restricted to :data:`QUICK_SUBSET`. There
  ``reference/<profile>.json`` holds only the tolerance data below.

Tolerance policy (evidence in ``reference/TOLERANCES.md``):

1. strings, ints and bools must be equal (NaN is written as the string "nan" by the figure scripts);
2. on the reference platform (``common.platform_fingerprint()`` equal: CPU, SIMD paths, libc, library
   versions) every number must be bit-identical: two processes gave bit-identical key numbers for every
   figure, whatever the thread count or hash seed, so any tolerance would only hide a change;
3. on another platform floats may differ by rounding, amplified by the conditioning of each computation
   (a TDI fit, a float32 Adam run) to 100% and beyond. ``--update`` measures this per number: it reruns the
   figure with torch, MKL, OpenBLAS and numpy forced onto other SIMD code paths (:func:`perturbations`)
   and stores the largest change seen ("rounding spread"). Across platforms a float passes when
   |new - old| <= max(MARGIN x spread, RTOL_FLOOR x |old|); a key whose string / int value or shape
   changed under the perturbations is not compared across platforms;
4. a platform whose run lands outside that tolerance (measured: an AMD EPYC against the Intel reference, where
   TDI fits of the smoke profile end in other optima) can have its own numbers recorded next to the reference
   with ``--add-platform`` (two real runs there, which must agree): on that platform they are compared
   bit-identically, as on the reference platform; the reference and its spreads are not touched;
5. numbers that are not deterministic on CPU (different in two unperturbed runs at ``--update``, or
   wall-clock derived: names matching :data:`TIMING`) are never compared; the PASS line counts them.

Output: one line per figure ("PASS spectrum 14 numbers (bit-identical)") or one FAIL line per failing
number naming the figure, the number, the old and the new value and the tolerance; exit status 1 on any
failure; ``--json PATH`` writes the full report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FIG_DIR = Path(__file__).resolve().parent
ROOT = FIG_DIR.parent
REFERENCE_DIR = FIG_DIR / "reference"
OUTPUT_ROOT = FIG_DIR / "output"  # one folder per profile (common.profile_dir; no matplotlib import here)
PROFILES = ("smoke", "quick-subset", "quick", "full")
QUICK_SUBSET = ("spectrum", "mismatch_sweep")  # float64; C1-C3 and the E1 ridge + TDI pipeline; ~30 s
MARGIN = 10.0  # a new platform is one more draw of the perturbations' kind; 10x their largest change
RTOL_FLOOR = 1e-9  # for numbers the perturbations did not move (libm-level differences remain possible)
TIMING = re.compile(r"seconds|overhead|wall|timing|_time\b")
PINNED_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
STRIPPED_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE",
                "NPY_DISABLE_CPU_FEATURES", "PROFILE", "DEVICE")


class FigureError(RuntimeError):
    """A figure script failed or wrote no summary."""


def _committed_dir(profile: str, committed_dir) -> Path:
    """The committed summaries a quick/full check compares with: ``output/<profile>`` unless given."""
    return Path(committed_dir) if committed_dir is not None else OUTPUT_ROOT / profile.removesuffix("-subset")


def discover_figures(fig_dir: Path = FIG_DIR) -> list[str]:
    """Names of the figure scripts ``fig_<name>.py`` in ``fig_dir``, sorted."""
    fig_dir = Path(fig_dir)
    if not fig_dir.is_dir():
        raise ValueError(f"fig_dir: expected an existing folder, got {fig_dir}")
    return sorted(p.stem.removeprefix("fig_") for p in fig_dir.glob("fig_*.py"))


def perturbations() -> dict[str, dict[str, str]]:
    """Environments forcing torch (ATen), MKL, OpenBLAS and numpy onto other SIMD code paths."""
    import numpy as np

    found = np.__config__.CONFIG.get("SIMD Extensions", {}).get("found", [])
    return {
        "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "OPENBLAS_CORETYPE": "Haswell",
                 "NPY_DISABLE_CPU_FEATURES": " ".join(f for f in found if f.startswith("AVX512"))},
        "avx": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "OPENBLAS_CORETYPE": "Sandybridge",
                "NPY_DISABLE_CPU_FEATURES": " ".join(f for f in found if f.startswith(("AVX2", "AVX512", "FMA")))},
    }


def run_figure(name: str, profile: str, out: Path, env: dict | None = None, timeout: float = 1200) -> dict:
    """Run ``fig_<name>.py`` in a subprocess (CPU, pinned threads, ``env`` on top); return its summary."""
    script = FIG_DIR / f"fig_{name}.py"
    if not script.is_file():
        raise ValueError(f"name: expected a figure with a script {script}, got {name!r}")
    if profile not in ("smoke", "quick", "full"):
        raise ValueError(f"profile: expected smoke, quick or full, got {profile!r}")
    full_env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    full_env.update(PINNED_ENV)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH")]))
    full_env.update(env or {})
    cmd = [sys.executable, "-m", f"paper_figures.fig_{name}", "--profile", profile, "--device", "cpu",
           "--out", str(out)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FigureError(f"fig_{name}.py --profile {profile} ran past {timeout:.0f} s") from None
    path = Path(out) / f"{name}.summary.json"
    if proc.returncode != 0 or not path.is_file():
        raise FigureError(f"fig_{name}.py --profile {profile} exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------------------- comparison
def _is_float(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _diff(old, new, spread, bit_identical: bool, path: str = ""):
    """Yield (path, old, new, tolerance text) for every leaf of ``new`` that fails against ``old``."""
    if isinstance(old, list) or isinstance(new, list):
        if not (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)):
            yield path, old, new, "shape changed"
            return
        sp = spread if isinstance(spread, list) else [spread] * len(old)
        for i, (o, n, s) in enumerate(zip(old, new, sp, strict=True)):
            yield from _diff(o, n, s, bit_identical, f"{path}[{i}]")
    elif isinstance(old, dict) or isinstance(new, dict):
        if not (isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys()):
            yield path, old, new, "structure changed"
            return
        for k in old:
            s = spread.get(k) if isinstance(spread, dict) else spread
            yield from _diff(old[k], new[k], s, bit_identical, f"{path}[{k!r}]")
    elif _is_float(old) and _is_float(new) and (isinstance(old, float) or isinstance(new, float)):
        if bit_identical:
            if float(new) != float(old):
                yield path, old, new, "tol: bit-identical on the reference platform"
        else:
            tol = max(MARGIN * float(spread or 0.0), RTOL_FLOOR * abs(old))
            if not abs(new - old) <= tol:
                yield path, old, new, (f"tol: |diff| <= {tol:.3g} = max({MARGIN:g} x rounding spread "
                                       f"{spread or 0:.3g}, {RTOL_FLOOR:g} x |old|), diff {abs(new - old):.3g}")
    elif type(old) is not type(new) or old != new:
        yield path, old, new, "tol: exact"


def compare_key_numbers(figure: str, old: dict, new: dict, *, bit_identical: bool = True,
                        spread: dict | None = None, skip=()) -> dict:
    """Compare two ``key_numbers`` dicts; return ``{"checked", "skipped", "failures"}``.

    ``spread[key]`` is the rounding spread of the key (same shape as its value, or None for "not
    comparable across platforms"); it is only used when ``bit_identical`` is False. Keys in ``skip``
    (not deterministic on CPU) are not compared. Every failure is one line naming figure, key, old, new.
    """
    if not isinstance(figure, str) or not figure:
        raise TypeError(f"figure: expected a non-empty name, got {figure!r}")
    for arg, d in (("old", old), ("new", new)):
        if not isinstance(d, dict):
            raise TypeError(f"{arg}: expected a dict of key numbers, got {type(d).__name__}")
    spread = {} if spread is None else spread
    failures, skipped, checked = [], [], 0
    for key, o in old.items():
        if key not in new:
            failures.append(f"FAIL {figure}: key {key!r} missing from the new run (old={o!r})")
            continue
        if key in skip or TIMING.search(key):
            skipped.append(f"{key} (not deterministic)")
            continue
        if not bit_identical and key not in spread:
            failures.append(f"FAIL {figure}: key {key!r} has no rounding spread for a cross-platform check "
                            f"(old={o!r} new={new[key]!r}; run --update)")
            continue
        if not bit_identical and spread[key] is None:
            skipped.append(f"{key} (platform-sensitive)")
            continue
        checked += 1
        for path, ov, nv, tol in _diff(o, new[key], spread.get(key), bit_identical):
            failures.append(f"FAIL {figure}: key {key!r}{path} old={ov!r} new={nv!r} ({tol})")
    for key in [k for k in new if k not in old]:
        failures.append(f"FAIL {figure}: key {key!r} is new (new={new[key]!r}), not in the reference (run --update)")
    return {"checked": checked, "skipped": skipped, "failures": failures}


def rounding_spread(base, perturbed: list):
    """Largest |perturbed - base| leaf by leaf (same shape as ``base``); None when a perturbed run
    changed a string / int / bool or the shape (the value is then not comparable across platforms)."""
    if isinstance(base, list):
        if not all(isinstance(p, list) and len(p) == len(base) for p in perturbed):
            return None
        parts = [rounding_spread(b, [p[i] for p in perturbed]) for i, b in enumerate(base)]
        return None if any(s is None for s in parts) else parts
    if isinstance(base, dict):
        if not all(isinstance(p, dict) and p.keys() == base.keys() for p in perturbed):
            return None
        parts = {k: rounding_spread(b, [p[k] for p in perturbed]) for k, b in base.items()}
        return None if any(s is None for s in parts.values()) else parts
    if isinstance(base, float) and all(_is_float(p) for p in perturbed):
        return max([abs(p - base) for p in perturbed], default=0.0)
    return 0.0 if all(type(p) is type(base) and p == base for p in perturbed) else None


# ----------------------------------------------------------------------------------------- check / update
def _run_profile(profile: str) -> str:
    return "quick" if profile == "quick-subset" else profile


def _reference_path(profile: str, reference_dir: Path) -> Path:
    return Path(reference_dir) / f"{profile}.json"


def _load_reference(profile: str, reference_dir: Path) -> dict:
    path = _reference_path(profile, reference_dir)
    return json.loads(path.read_text()) if path.is_file() else {"profile": profile, "figures": {}}


def recorded_for(entry: dict | None, platform) -> dict | None:
    """The numbers ``--add-platform`` recorded for ``platform`` in a reference entry, or None."""
    return next((r for r in (entry or {}).get("platforms", []) if r.get("platform") == platform), None)


def _select(profile: str, figures) -> list[str]:
    names = discover_figures()
    if profile == "quick-subset":
        names = [n for n in names if n in QUICK_SUBSET]
    if figures:
        unknown = sorted(set(figures) - set(names))
        if unknown:
            raise ValueError(f"figures: expected names among {names}, got {unknown}")
        names = [n for n in names if n in figures]
    return names


def _run_all(names, profile, jobs, envs=(None,), from_dir=None) -> dict:
    """{name: [summary dict or FigureError, one per env]}: a figure's runs follow each other (a short
    window for code edits between them); ``from_dir`` reads summaries already written there instead."""
    run_profile = _run_profile(profile)

    def one(name, env):
        t0 = time.perf_counter()
        try:
            if from_dir is not None:
                path = Path(from_dir) / f"{name}.summary.json"
                if not path.is_file():
                    raise FigureError(f"no summary {path}")
                s = json.loads(path.read_text())
            else:
                with tempfile.TemporaryDirectory(prefix=f"repro_{name}_") as tmp:
                    s = run_figure(name, run_profile, Path(tmp), env)
            s["_wall"] = time.perf_counter() - t0
            return s
        except FigureError as e:
            return e

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(names, pool.map(lambda n: [one(n, e) for e in envs], names), strict=True))


def check(profile: str, figures=None, *, reference_dir: Path = REFERENCE_DIR, committed_dir: Path | None = None,
          from_dir: Path | None = None, tier: str = "auto", jobs: int = 1, log=print) -> dict:
    """Run (or read from ``from_dir``) the figures and compare with the reference; return the report."""
    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    if tier not in ("auto", "bit", "cross"):
        raise ValueError(f"tier: expected auto, bit or cross, got {tier!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs!r}")
    names = _select(profile, figures)
    ref = _load_reference(profile, reference_dir)
    committed_dir = _committed_dir(profile, committed_dir)
    source = _reference_path(profile, reference_dir) if profile == "smoke" else f"{committed_dir}/*.summary.json"
    log(f"reproduce: profile {profile}, {len(names)} figures, reference {source}")
    t0 = time.perf_counter()
    runs = {k: v[0] for k, v in _run_all(names, profile, jobs, from_dir=from_dir).items()}
    report = {"profile": profile, "figures": {}, "ok": True}
    for name in names:
        entry, new = ref["figures"].get(name), runs[name]
        res = {"status": "FAIL", "checked": 0, "skipped": [], "failures": [], "bit_identical": None}
        if profile == "smoke":
            old_summary = {"key_numbers": entry["key_numbers"], "platform": entry.get("platform")} if entry else None
        else:
            p = Path(committed_dir) / f"{name}.summary.json"
            old_summary = json.loads(p.read_text()) if p.is_file() else None
            want = _run_profile(profile)
            if old_summary is not None and old_summary.get("profile") != want:
                res["failures"].append(f"FAIL {name}: committed {p} is profile {old_summary.get('profile')!r}, "
                                       f"not {want!r} (run make figure-{name} PROFILE={want})")
        if isinstance(new, FigureError):
            res["failures"].append(f"FAIL {name}: the figure script failed: {new}")
        elif old_summary is None and profile != "smoke":
            res["failures"].append(f"FAIL {name}: no committed summary in {committed_dir} (run make figure-{name} "
                                   f"PROFILE={_run_profile(profile)} and commit it)")
        elif entry is None:
            res["failures"].append(f"FAIL {name}: no reference (run --update)")
        elif not res["failures"]:
            ref_platform = old_summary.get("platform") or entry.get("platform")
            own = recorded_for(entry, new.get("platform")) if tier == "auto" else None
            bit = own is not None or tier == "bit" or (tier == "auto" and ref_platform == new.get("platform"))
            old_numbers = own["key_numbers"] if own is not None else old_summary["key_numbers"]
            res.update(compare_key_numbers(name, old_numbers, new["key_numbers"], bit_identical=bit,
                                           spread=entry.get("rounding_spread"), skip=entry.get("nondeterministic", ())))
            res["bit_identical"], res["own_platform"] = bit, own is not None
        if not res["failures"]:
            res["status"] = "PASS"
            how = ("bit-identical" + (" to this platform's recorded numbers" if res.get("own_platform") else "")
                   if res["bit_identical"] else "cross-platform tolerance")
            extra = f", {len(res['skipped'])} not compared" if res["skipped"] else ""
            log(f"PASS {name} {res['checked']} numbers ({how}{extra})")
        else:
            for line in res["failures"]:
                log(line)
        res["seconds"] = round(new.get("_wall", 0.0), 1) if isinstance(new, dict) else None
        report["figures"][name] = res
        report["ok"] &= res["status"] == "PASS"
    n_fail = sum(r["status"] == "FAIL" for r in report["figures"].values())
    log(f"reproduce: {len(names) - n_fail} PASS, {n_fail} FAIL ({time.perf_counter() - t0:.0f} s)")
    return report


def _leaves(value, spread):
    if isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, spread[i] if isinstance(spread, list) else spread)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, spread.get(k) if isinstance(spread, dict) else spread)
    else:
        yield value, spread


def spread_table(ref: dict, values: dict | None = None) -> str:
    """Markdown: per figure, how its numbers are compared and how far the perturbations moved them
    (``values``: {figure: key numbers}, default the reference's own)."""
    edges = (1e-12, 1e-6, 1e-2)
    cols = [f"<= {e:g}" for e in edges] + [f"> {edges[-1]:g}"]
    lines = [f"# Reproducibility tolerances, profile {ref.get('profile')} (written by --update)", "",
             "Key numbers per figure by class; the floats by their largest relative change under the SIMD "
             f"perturbations (cross-platform tolerance: {MARGIN:g} x that change).", "",
             "| figure | numbers | exact type | not deterministic | platform-sensitive | " + " | ".join(cols) + " |",
             "|---" * (5 + len(cols)) + "|"]
    for name, e in sorted(ref.get("figures", {}).items()):
        kn = (values or {}).get(name) or e.get("key_numbers", {})
        spread, nondet = e.get("rounding_spread", {}), set(e.get("nondeterministic", ()))
        counts, exact, sens = [0] * len(cols), 0, 0
        for k, v in kn.items():
            if k in nondet:
                continue
            if spread.get(k) is None:
                sens += 1
                continue
            rel = [sp / abs(x) if x else (0.0 if not sp else float("inf"))
                   for x, sp in _leaves(v, spread[k]) if isinstance(x, float)]
            if not rel:
                exact += 1
                continue
            counts[next((i for i, ed in enumerate(edges) if max(rel) <= ed), len(edges))] += 1
        row = [name, len(kn), exact, len(nondet), sens, *counts]
        lines.append("| " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines) + "\n"


def update(profile: str, figures=None, *, reference_dir: Path = REFERENCE_DIR, committed_dir: Path | None = None,
           jobs: int = 1, log=print) -> Path:
    """Rerun the figures (twice unperturbed, once per perturbation) and rewrite ``reference/<profile>.json``."""
    from paper_figures.common import atomic_write_bytes

    committed_dir = _committed_dir(profile, committed_dir)

    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs!r}")
    names = _select(profile, figures)
    envs = perturbations()
    log(f"update: profile {profile}, {len(names)} figures x {2 + len(envs)} runs")
    all_runs = _run_all(names, profile, jobs, envs=[None, None, *envs.values()])
    ref, values = _load_reference(profile, reference_dir), {}
    if not figures:  # a full update drops the entries of figures that no longer exist
        ref["figures"] = {}
    for name in names:
        runs = all_runs[name]
        bad = [r for r in runs if isinstance(r, FigureError)]
        if bad:
            raise FigureError(f"update of {name} failed: {bad[0]}")
        kn = values[name] = runs[0]["key_numbers"]
        nondet = sorted(k for k in kn if TIMING.search(k) or runs[1]["key_numbers"].get(k) != kn[k])
        for k in nondet:
            if not TIMING.search(k):
                log(f"WARNING {name}: key {k!r} differs between two identical runs ({kn[k]!r} vs "
                    f"{runs[1]['key_numbers'].get(k)!r}): not compared from now on; fix its seed if it should be")
        spread = {k: rounding_spread(v, [r["key_numbers"].get(k) for r in runs[2:]]) for k, v in kn.items()}
        entry = {"platform": runs[0].get("platform"), "nondeterministic": nondet, "rounding_spread": spread}
        if profile == "smoke":
            entry = {"key_numbers": kn, **entry}
        else:
            p = Path(committed_dir) / f"{name}.summary.json"
            old = json.loads(p.read_text())["key_numbers"] if p.is_file() else None
            differ = None if old is None else compare_key_numbers(name, old, kn, skip=nondet)["failures"]
            if differ is None or differ:
                why = "it is missing" if differ is None else f"{len(differ)} differences"
                log(f"WARNING {name}: the committed {p} does not regenerate ({why}); "
                    f"rerun `make figure-{name} PROFILE={_run_profile(profile)}` and commit it")
        ref["figures"][name] = entry
        n_cross = sum(s is None for s in spread.values())
        log(f"updated {name}: {len(kn)} numbers, {len(nondet)} not deterministic, {n_cross} platform-sensitive")
    ref.update(profile=profile, margin=MARGIN, rtol_floor=RTOL_FLOOR, perturbations=envs,
               made_by=f"python -m paper_figures.reproduce --profile {profile} --update")
    for name in ref["figures"].keys() - values.keys():  # a partial update: the table needs the others' keys
        p = Path(committed_dir) / f"{name}.summary.json"
        values[name] = ref["figures"][name].get("key_numbers") or (json.loads(p.read_text())["key_numbers"]
                                                                   if p.is_file() else {})
    path = _reference_path(profile, reference_dir)
    atomic_write_bytes(path, (json.dumps(ref, indent=1) + "\n").encode())
    atomic_write_bytes(path.with_suffix(".md"), spread_table(ref, values).encode())
    log(f"wrote {path} and {path.with_suffix('.md').name}")
    return path


def add_platform(profile: str, figures=None, *, reference_dir: Path = REFERENCE_DIR, jobs: int = 1,
                 log=print) -> Path:
    """Run the figures twice here and record their key numbers for this platform in ``reference/<profile>.json``
    (replacing an earlier record of the same platform); the two runs must agree on every deterministic number."""
    from paper_figures.common import atomic_write_bytes

    if profile not in PROFILES:
        raise ValueError(f"profile: expected one of {PROFILES}, got {profile!r}")
    names = _select(profile, figures)
    ref = _load_reference(profile, reference_dir)
    missing = [n for n in names if n not in ref["figures"]]
    if missing:
        raise ValueError(f"figures: {missing} have no reference entry in {_reference_path(profile, reference_dir)} "
                         "(run --update first)")
    log(f"add-platform: profile {profile}, {len(names)} figures x 2 runs")
    all_runs = _run_all(names, profile, jobs, envs=[None, None])
    for name in names:
        runs, entry = all_runs[name], ref["figures"][name]
        bad = [r for r in runs if isinstance(r, FigureError)]
        if bad:
            raise FigureError(f"add-platform of {name} failed: {bad[0]}")
        nondet = entry.get("nondeterministic", ())
        differ = compare_key_numbers(name, runs[0]["key_numbers"], runs[1]["key_numbers"], skip=nondet)["failures"]
        if differ:
            raise FigureError(f"add-platform of {name}: two runs here differ ({differ[0]}); nothing recorded")
        rec = {"platform": runs[0].get("platform"), "key_numbers": runs[0]["key_numbers"],
               "made_by": f"python -m paper_figures.reproduce --profile {profile} --add-platform"}
        entry["platforms"] = [r for r in entry.get("platforms", []) if r.get("platform") != rec["platform"]] + [rec]
        log(f"recorded {name}: {len(rec['key_numbers'])} numbers for {rec['platform'].get('cpu')}")
    path = _reference_path(profile, reference_dir)
    atomic_write_bytes(path, (json.dumps(ref, indent=1) + "\n").encode())
    log(f"wrote {path}")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paper_figures.reproduce", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="smoke")
    ap.add_argument("--update", action="store_true", help="rewrite reference/<profile>.json from real runs")
    ap.add_argument("--add-platform", action="store_true",
                    help="record this platform's own numbers (two runs) next to the reference")
    ap.add_argument("--figures", default="", help="comma-separated figure names (default: all fig_*.py)")
    ap.add_argument("--json", type=Path, help="write the report here")
    ap.add_argument("--jobs", type=int, default=1, help="figures run in parallel (each pinned to one thread)")
    ap.add_argument("--tier", choices=("auto", "bit", "cross"), default="auto",
                    help="bit-identical or cross-platform tolerances; auto: bit-identical iff the platform matches")
    ap.add_argument("--reference-dir", type=Path, default=REFERENCE_DIR)
    ap.add_argument("--committed-dir", type=Path, default=None,
                    help="committed summaries (default paper_figures/output/<profile>, quick-subset: quick)")
    ap.add_argument("--from-dir", type=Path, help="compare the summaries already in this folder, run nothing")
    a = ap.parse_args(argv)
    figures = [f for f in a.figures.split(",") if f]
    if a.update:
        update(a.profile, figures, reference_dir=a.reference_dir, committed_dir=a.committed_dir, jobs=a.jobs)
        return 0
    if a.add_platform:
        add_platform(a.profile, figures, reference_dir=a.reference_dir, jobs=a.jobs)
        return 0
    report = check(a.profile, figures, reference_dir=a.reference_dir, committed_dir=a.committed_dir,
                   from_dir=a.from_dir, tier=a.tier, jobs=a.jobs)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
