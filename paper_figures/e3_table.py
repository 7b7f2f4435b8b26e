"""E3: from finished cells to comparisons and the results table (``e3_table.md`` / ``e3_table.csv``).

Scores are paired by seed: a comparison of init A with init B at (data set, x) uses the seeds both
have finished (a partial grid compares what it has and says how many seeds that is). The math is
``ssm_tdi.stats``; the protocol (from ``configs/e3.json``):

* primary (pre-registered): ``primary.candidate`` (TDI as the library makes it, first layer) vs
  ``primary.reference`` (S4D-Lin), classification, every fraction <= ``primary.max_fraction`` that the
  profile plans with its primary tier's seeds (:func:`primary_seeds`; a ratio planned with fewer is secondary);
  Holm-corrected over the PLANNED family (a comparison not yet finished counts as p = 1, so the
  correction never gets weaker because cells are missing); a verdict needs ``min_seeds`` seeds, fewer
  is reported as "incomplete";
* secondary: every other init (controls, other inits, MiniRocket) vs S4D-Lin and the primary pair at
  larger fractions, Benjamini-Hochberg over the secondary comparisons of the table with >= 2 paired seeds
  (exploratory); a verdict needs every seed the plan gives the row (at least 2), fewer is "incomplete" (its
  interval and p are shown, as interim numbers);
* each comparison: mean paired difference with its 95% t interval, the two-sided paired t-test, TOST
  with the stated margin, and the verdict of ``ssm_tdi.stats.verdict`` (equivalent / better / worse /
  cannot tell).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from paper_figures.common import atomic_write_bytes
from paper_figures.e3_plan import DEFAULT_INIT, LABELS
from ssm_tdi import stats

METRIC = {"classification": ("accuracy", True, "equivalence_margin"),
          "forecasting": ("mase", False, "equivalence_margin_mase")}


def aggregate(records, metric: str) -> dict:
    """{name: {init: {x: {seed: score}}}} from finished cell records (None entries skipped)."""
    agg: dict = {}
    for r in records:
        if r is None:
            continue
        s = r["spec"]
        agg.setdefault(s["name"], {}).setdefault(s["init"], {}).setdefault(s["x"], {})[s["seed"]] = r["result"][metric]
    return agg


def paired(agg, name, init, ref, x) -> tuple[np.ndarray, np.ndarray]:
    """The two inits' scores at x on the seeds both finished, in seed order (``agg`` as ``aggregate`` makes it)."""
    a, b = agg.get(name, {}).get(init, {}).get(x, {}), agg.get(name, {}).get(ref, {}).get(x, {})
    seeds = sorted(set(a) & set(b))
    return np.array([a[s] for s in seeds], float), np.array([b[s] for s in seeds], float)


def compare(agg, name, init, ref, x, *, margin: float, higher_is_better: bool) -> dict:
    a, b = paired(agg, name, init, ref, x)
    row = {"name": name, "x": x, "init": init, "reference": ref, "n": int(a.size)}
    if a.size == 0:
        return {**row, "mean": float("nan"), "p": float("nan"), "p_tost": float("nan")}
    row.update(stats.paired_difference(a, b))
    row["p_tost"] = stats.tost(a, b, margin) if a.size >= 2 else float("nan")
    return row


def comparisons(agg: dict, kind: str, cfg: dict, plan_pairs: dict) -> list[dict]:
    """Primary and secondary comparison rows with adjusted p-values and verdicts.

    ``plan_pairs``: {name: {init: {x: planned seeds}}} of the planned grid (fixes the primary family).
    """
    metric, hib, margin_key = METRIC[kind]
    margin, alpha, prim = cfg[margin_key], cfg["alpha"], cfg["primary"]
    top = primary_seeds(plan_pairs, prim)
    rows = []
    for name, by_init in plan_pairs.items():
        for init, xs in by_init.items():
            if init == DEFAULT_INIT:
                continue
            for x, n_planned in xs.items():
                r = compare(agg, name, init, DEFAULT_INIT, x, margin=margin, higher_is_better=hib)
                r["n_planned"] = n_planned
                r["family"] = ("primary" if kind == "classification" and init == prim["candidate"]
                               and prim["reference"] == DEFAULT_INIT and x <= prim["max_fraction"] + 1e-12
                               and n_planned >= top else "secondary")
                rows.append(r)
    rows += matched_rows(agg, plan_pairs, cfg.get("matched_pairs", []), margin=margin, higher_is_better=hib)
    prim_rows = [r for r in rows if r["family"] == "primary"]
    sec_rows = [r for r in rows if r["family"] == "secondary" and r["n"] >= 2]
    p_prim = np.array([r["p"] if r["n"] >= 2 else 1.0 for r in prim_rows], float)
    for r, q in zip(prim_rows, stats.holm(p_prim) if len(p_prim) else [], strict=True):
        r["p_adj"], r["correction"] = float(q), f"Holm over the {len(prim_rows)} planned primary comparisons"
    for r, q in zip(sec_rows, stats.benjamini_hochberg([r["p"] for r in sec_rows]) if sec_rows else [],
                    strict=True):
        r["p_adj"], r["correction"] = float(q), f"Benjamini-Hochberg over {len(sec_rows)} secondary comparisons"
    for r in rows:
        need = prim["min_seeds"] if r["family"] == "primary" else max(2, r["n_planned"])
        if r["n"] < need:
            r["verdict"] = f"incomplete ({r['n']} of {need} seeds)" if r["n"] else "not run"
        else:
            r["verdict"] = stats.verdict(r["mean"], r.get("p_adj", r["p"]), r["p_tost"], alpha, hib)
    return rows


def primary_seeds(plan_pairs: dict, prim: dict) -> int:
    """The seeds of the primary tier: the most seeds the plan gives the primary candidate at a ratio <=
    ``max_fraction`` (10 in quick and full; 1 in smoke). Ratios planned with fewer are secondary."""
    return max((n for by_init in plan_pairs.values() for x, n in by_init.get(prim["candidate"], {}).items()
                if x <= prim["max_fraction"] + 1e-12), default=0)


def reference_x(by_x: dict) -> float | None:
    """The x of a data set's headline comparison: where the plan gives the init the most seeds (the
    primary-power tier), the smallest such x if several (digits in full: 5% and 25% -> 5%). Fixed by the plan,
    so it does not move when other ratios finish. ``by_x``: {x: planned seeds} of one (data set, init)."""
    if not by_x:
        return None
    top = max(by_x.values())
    return min(x for x, n in by_x.items() if n == top)


def matched_rows(agg, plan_pairs: dict, pairs, *, margin: float, higher_is_better: bool) -> list[dict]:
    """Secondary rows for ``matched_pairs`` [candidate, reference] of the config, e.g. TDI vs the frozen
    S4D-Lin (the same training treatment), wherever both inits are planned at the same x."""
    rows = []
    for cand, ref in pairs:
        for name, by_init in plan_pairs.items():
            for x in sorted(set(by_init.get(cand, [])) & set(by_init.get(ref, []))):
                r = compare(agg, name, cand, ref, x, margin=margin, higher_is_better=higher_is_better)
                n_planned = min(by_init[cand][x], by_init[ref][x])
                rows.append({**r, "family": "secondary", "n_planned": n_planned})
    return rows


def _label(r) -> str:
    """The init column: the init, or 'init vs reference' where the reference is not the default."""
    return LABELS[r["init"]] if r["reference"] == DEFAULT_INIT else f"{LABELS[r['init']]} − {LABELS[r['reference']]}"


def _ms(vals: dict) -> str:
    v = np.array(list(vals.values()), float)
    if v.size == 0:
        return ""
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f} ({v.size})" if v.size > 1 else f"{v.mean():.3f} (1)"


def _g(v, spec=".3f") -> str:
    return "" if v is None or v != v else format(v, spec)


def _ci(r) -> str:
    if r["n"] < 2:
        return _g(r.get("mean"), "+.3f")
    return f"{r['mean']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"


def _where(by: dict) -> str:
    return "; ".join(n + " " + ", ".join(f"{x:g}" for x in sorted(xs)) for n, xs in by.items())


def not_in_grid(dropped: dict, skipped: list[dict] = ()) -> list[str]:
    """Markdown lines: the (data set, x) a plan leaves out, one line per reason (``plan["dropped"]``), and the
    tiers that skip a data set, one line per (set, reason) (``plan["skipped"]``)."""
    by_why: dict = {}
    for name, xs in dropped.items():
        for x, why in (xs or {}).items():
            by_why.setdefault(why, {}).setdefault(name, []).append(x)
    lines = [f"Not in the grid: {_where(by)} ({why})." for why, by in by_why.items()]
    by_set: dict = {}
    for sk in skipped:
        by_set.setdefault((sk["name"], sk["why"]), []).append(
            f"{sk['tier']} at {', '.join(f'{x:g}' for x in sk['xs'])}")
    return lines + [f"Skipped on {name}: {'; '.join(tiers)} ({why})." for (name, why), tiers in by_set.items()]


def section(kind: str, agg: dict, rows: list[dict], cfg: dict, plan_pairs: dict, cells: tuple[int, int],
            plan: dict | None = None) -> tuple:
    """Markdown lines and CSV rows of one kind (classification / forecasting); ``plan``: what it leaves out
    and why (:func:`not_in_grid`) is listed under the scores."""
    metric, hib, margin_key = METRIC[kind]
    prim = cfg["primary"]
    md = [f"## {kind.capitalize()}: test {metric} ({'higher' if hib else 'lower'} is better)", "",
          f"{cells[0]} of {cells[1]} planned cells finished. Differences are init - {LABELS[DEFAULT_INIT]} "
          "(or init − the named reference), "
          f"paired by seed, mean with its 95% t interval; p: two-sided paired t-test; p_adj: corrected as "
          f"stated per row family; TOST: equivalence within ±{cfg[margin_key]} {metric}; verdict at "
          f"alpha = {cfg['alpha']}: 'equivalent' if TOST rejects, else 'better'/'worse' if p_adj < alpha, "
          "else 'cannot tell'.", ""]
    head = ["data set", "x", "init", "family", "seeds", f"diff {metric} [95% CI]", "p", "p_adj", "p_TOST",
            "verdict"]
    buf_rows = []
    for fam, title in (("primary", f"Primary (pre-registered): {LABELS[prim['candidate']]} vs "
                                   f"{LABELS[prim['reference']]}, fractions <= {prim['max_fraction']:g}, "
                                   f">= {prim['min_seeds']} seeds, Holm over the planned family"),
                       ("secondary", "Secondary (exploratory; Benjamini-Hochberg)")):
        fam_rows = [r for r in rows if r["family"] == fam]
        if not fam_rows:
            continue
        md += [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in fam_rows:
            cells_ = [r["name"], f"{r['x']:g}", _label(r), fam, str(r["n"]), _ci(r), _g(r.get("p"), ".3g"),
                      _g(r.get("p_adj"), ".3g"), _g(r.get("p_tost"), ".3g"), r["verdict"]]
            buf_rows.append([kind] + cells_)  # the CSV lists every planned comparison
            if fam == "primary" or r["n"] > 0:  # a secondary row with no finished seed: counted below
                md.append("| " + " | ".join(cells_) + " |")
        idle = sum(r["n"] == 0 for r in fam_rows)
        md += ["", f"{idle} planned {fam} comparisons have no finished seed yet (listed in e3_table.csv)."
               ] if idle and fam == "secondary" else []
        md.append("")
    inits = sorted({i for by in plan_pairs.values() for i in by}, key=lambda i: (i != DEFAULT_INIT, i))
    md += ["### Scores: mean ± std (seeds) per init", "",
           "| data set | x | " + " | ".join(LABELS[i] for i in inits) + " |", "|" + "---|" * (len(inits) + 2)]
    for name, by_init in plan_pairs.items():
        for x in sorted({x for xs in by_init.values() for x in xs}):
            md.append(f"| {name} | {x:g} | " + " | ".join(_ms(agg.get(name, {}).get(i, {}).get(x, {}))
                                                      for i in inits) + " |")
    gaps = not_in_grid(plan["dropped"], plan.get("skipped", [])) if plan else []
    return md + ([""] + gaps if gaps else []) + [""], buf_rows


def write_table(out: Path, profile: str, committed_only: bool = False) -> None:
    """``e3_table.md`` and ``e3_table.csv`` (one row per comparison) from the sections the two E3 figure
    scripts saved in ``e3_accuracy.json`` / ``e3_forecast.json`` (whichever exist)."""
    import json

    source = "paper_figures/cells/*.jsonl" + ("" if committed_only else " and the local cache")
    md = ["# Real-data results (E3)", "", f"Profile `{profile}`, recipe v2 (paper_figures/configs/e3.json). "
          f"Tables are rebuilt from the finished cells ({source}); "
          "a (data set, x) with fewer seeds than planned says so.", ""]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["kind", "data set", "x", "init", "family", "seeds", "diff [95% CI]", "p", "p_adj", "p_TOST",
                "verdict"])
    for fname in ("e3_accuracy.json", "e3_forecast.json"):
        p = Path(out) / fname
        if p.exists():
            sec = json.loads(p.read_text()).get("table_section")
            if sec:
                md += sec["md"]
                w.writerows(sec["csv"])
    atomic_write_bytes(Path(out) / "e3_table.md", ("\n".join(md) + "\n").encode())
    atomic_write_bytes(Path(out) / "e3_table.csv", buf.getvalue().encode())


def plan_pairs(specs: list[dict]) -> dict:
    """{name: {init: {x: planned seeds}}} of a list of cell specs (xs in increasing order)."""
    seeds: dict = {}
    for s in specs:
        seeds.setdefault(s["name"], {}).setdefault(s["init"], {}).setdefault(s["x"], set()).add(s["seed"])
    return {n: {i: {x: len(by_x[x]) for x in sorted(by_x)} for i, by_x in by.items()} for n, by in seeds.items()}
