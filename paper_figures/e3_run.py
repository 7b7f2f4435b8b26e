"""Run (or resume) the cell grid of an E3 profile and commit-ready export its finished cells.

    python -m paper_figures.e3_run --profile full [--jobs 2 | --scheduler tcp://host:8786]
        [--kind classification|forecasting|both] [--only ACSF1:0.25 digits:0.05] [--inits s4d-lin minirocket]
        [--max-cells N] [--export] [--prune]

Cells run tier by tier in the order of the profile's config (both kinds interleaved), are cached under
``paper_figures/output/<profile>/e3_cells`` (git-ignored) and, with ``--export`` (at the end, or when
interrupted with Ctrl-C; ``--max-cells 0 --export`` exports what the cache holds), merged into
``paper_figures/cells/<profile>.jsonl``, the compact store that is committed and from which
``make figures`` rebuilds the E3 tables without retraining. Interrupt it at any time: the next run resumes.
``--prune`` drops from that store the cells the profile no longer plans (a recipe change changes the keys of
the cells it touches); git history keeps them.
"""

from __future__ import annotations

import argparse
import sys

from paper_figures import e3_cache, e3_engine, e3_plan, e3_table
from paper_figures.common import profile_dir


def _only(items):
    out = []
    for it in items or []:
        name, _, x = it.partition(":")
        try:
            out.append((name, float(x) if x else None))
        except ValueError:
            raise SystemExit(f"--only: expected NAME or NAME:X (e.g. ACSF1:0.25), got {it!r}") from None
    return out


def select(specs: list[dict], only, inits) -> list[dict]:
    keep = []
    for s in specs:
        if only and not any(s["name"] == n and (x is None or abs(s["x"] - x) < 1e-12) for n, x in only):
            continue
        if inits and s["init"] not in inits:
            continue
        keep.append(s)
    return keep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m paper_figures.e3_run", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="full", choices=("smoke", "quick", "full"))
    p.add_argument("--kind", default="both", choices=("classification", "forecasting", "both"))
    p.add_argument("--only", nargs="*", help="NAME or NAME:X pairs to run (default: the whole grid)")
    p.add_argument("--inits", nargs="*", help="only these inits")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (1: in this process)")
    p.add_argument("--scheduler", default=None, help="address of an existing dask scheduler")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-cells", type=int, default=None, help="run at most this many uncached cells")
    p.add_argument("--export", action="store_true", help="merge the finished cells into paper_figures/cells/")
    p.add_argument("--prune", action="store_true",
                   help="first drop from paper_figures/cells/<profile>.jsonl the cells the profile no longer plans "
                        "(after a recipe change) and say which")
    p.add_argument("--dry-run", action="store_true", help="print the plan's size and stop")
    a = p.parse_args(argv)
    unknown = set(a.inits or []) - set(e3_plan.INITS)
    if unknown:
        raise SystemExit(f"--inits: unknown {sorted(unknown)}; expected some of {sorted(e3_plan.INITS)}")
    cfg = e3_plan.load_config()
    kinds = ("classification", "forecasting") if a.kind == "both" else (a.kind,)
    for kind in kinds:
        plan = e3_plan.plan_specs(cfg, a.profile, kind)[0]
        for line in e3_table.not_in_grid(plan["dropped"], plan["skipped"]):
            print(f"e3: {kind}: {line}")
    specs = select(e3_plan.run_order(cfg, a.profile, kinds), _only(a.only), a.inits)  # tier by tier, both kinds
    out = profile_dir(a.profile)
    records, todo = e3_engine.resolve_cached(specs, out)
    print(f"e3: profile {a.profile}: {len(specs)} cells selected, {len(records)} finished, {len(todo)} to run")
    if a.dry_run:
        return 0
    if a.prune:
        planned = {e3_plan.cell_key(s) for s in e3_plan.run_order(cfg, a.profile)}
        gone = e3_cache.prune_store(e3_cache.STORE_DIR / f"{a.profile}.jsonl", planned)
        names = sorted({r["spec"]["name"] for r in gone})
        print(f"e3: pruned {len(gone)} cells the {a.profile} profile no longer plans" + (f" ({', '.join(names)})"
                                                                                        if names else ""))
    if a.max_cells is not None:
        keep = set(todo[: a.max_cells])
        specs = [s for i, s in enumerate(specs) if i in records or i in keep]
    try:
        recs = e3_engine.run_cells(specs, out, a.device, jobs=a.jobs, scheduler=a.scheduler)
    finally:
        if a.export:
            done, _ = e3_engine.resolve_cached(specs, out, log=lambda *_: None)
            path = e3_cache.STORE_DIR / f"{a.profile}.jsonl"
            n = e3_cache.export_profile_store(list(done.values()), path)
            print(f"e3: {n} cells in {path} (cells that another store holds are not copied)")
    print(f"e3: {sum(r is not None for r in recs)} of {len(specs)} cells finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
