"""E3 planning: the config, each data set's recipe, the inits, and the grid of cells a profile asks for.

A cell is one (data set, init, training fraction or span, seed). Its *spec* (:func:`cell_spec`) holds
everything that decides its result: the recipe of its data set (``configs/e3.json``), the init, x, the
seed, and, for inits that call ``ssm_tdi.tdi.apply_tdi``, the library's TDI defaults (so a change of
TDI's defaults invalidates exactly the TDI cells). :func:`cell_key` hashes the spec; the cache
(``e3_cache``) keys cells by it.

A profile's grid is a union of *tiers* (``{"inits", "seeds", "fractions"/"spans", "only", "per_name",
"skip"}``): e.g.
the primary comparison with 10 seeds at small fractions and everything else with 5. Fractions whose
stratified subsets coincide are dropped once per data set (``ssm_tdi.data.distinct_fractions``) and
recorded in the plan; forecasting spans too short for one window + horizon are skipped and recorded.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import json
from pathlib import Path

from paper_figures.common import FIG_DIR
from ssm_tdi.inits import FREQBIAS_ALPHA

CONFIG_PATH = FIG_DIR / "configs" / "e3.json"
VERSION = 3  # v3: recipe v2 (step budget, selection rule), controls, TDI defaults in the spec

# init name -> how a cell builds it:
#   base: the SSM init of every layer; tdi: (layers, estimator) of apply_tdi or None; pretrain: next-step
#   pretraining first; control: an extra rule ("shuffled" S_task, "band" dt range, "alpha-val" selection,
#   "frozen": the first layer's dynamics log_dt, A, B frozen as apply_tdi's default freezes a TDI layer's);
#   kinds: the tasks it applies to; ssm: False for the non-SSM reference.
_C, _F = ("classification",), ("forecasting",)
_B = _C + _F
INITS = {
    "s4d-lin": {"base": "s4d-lin", "kinds": _B},
    "s4d-legs": {"base": "s4d-legs", "kinds": _B},
    "freqbias": {"base": "freqbias", "kinds": _B},
    "tdi-first-input": {"base": "s4d-lin", "tdi": ("first", "input"), "kinds": _B},
    "tdi-first-disc": {"base": "s4d-lin", "tdi": ("first", "discriminative"), "kinds": _C},
    "tdi-first-transfer": {"base": "s4d-lin", "tdi": ("first", "transfer"), "kinds": _F},
    "tdi-layers-input": {"base": "s4d-lin", "tdi": ("per-layer", "input"), "kinds": _B},
    "tdi-layers-disc": {"base": "s4d-lin", "tdi": ("per-layer", "discriminative"), "kinds": _C},
    "tdi-layers-transfer": {"base": "s4d-lin", "tdi": ("per-layer", "transfer"), "kinds": _F},
    "pretrain": {"base": "s4d-lin", "pretrain": True, "kinds": _C},
    # controls (issue 15 item 3)
    "tdi-shuffled": {"base": "s4d-lin", "tdi": ("first", "input"), "control": "shuffled", "kinds": _B},
    "s4d-lin-band": {"base": "s4d-lin", "control": "band", "kinds": _B},
    # TDI arms train with the first layer's dynamics frozen (apply_tdi(dynamics="freeze")); this control gives
    # the default init the same treatment, so "TDI vs S4D-Lin" can be told apart from "frozen vs trained".
    "s4d-lin-frozen": {"base": "s4d-lin", "control": "frozen", "kinds": _B},
    "freqbias-val": {"base": "freqbias", "control": "alpha-val", "kinds": _B},
    # the non-SSM reference (issue 15 item 1): aeon's MiniRocket on the same subset
    "minirocket": {"base": None, "ssm": False, "kinds": _C},
}
CLASSIFICATION_INITS = ("s4d-lin", "s4d-legs", "freqbias", "tdi-first-input", "tdi-first-disc",
                        "tdi-layers-input", "pretrain")
FORECAST_INITS = ("s4d-lin", "s4d-legs", "freqbias", "tdi-first-input", "tdi-first-transfer",
                  "tdi-layers-input", "tdi-layers-transfer")
CONTROL_INITS = ("tdi-shuffled", "s4d-lin-band", "s4d-lin-frozen", "freqbias-val")
REFERENCE_INIT = "minirocket"
DEFAULT_INIT = "s4d-lin"
TDI_MAIN = "tdi-first-input"  # the paper's protocol (first layer) with the label-free estimator
LABELS = {
    "s4d-lin": "S4D-Lin (default)", "s4d-legs": "S4D-LegS", "freqbias": f"freqbias (a={FREQBIAS_ALPHA:g})",
    "tdi-first-input": "TDI first, input", "tdi-first-disc": "TDI first, discriminative",
    "tdi-first-transfer": "TDI first, transfer", "tdi-layers-input": "TDI per-layer, input",
    "tdi-layers-disc": "TDI per-layer, discriminative", "tdi-layers-transfer": "TDI per-layer, transfer",
    "pretrain": "S4D-Lin + next-step pretraining", "tdi-shuffled": "TDI, shuffled-frequency S_task (control)",
    "s4d-lin-band": "S4D-Lin, dt from the task band (control)",
    "s4d-lin-frozen": "S4D-Lin, first-layer dynamics frozen (control)", "freqbias-val": "freqbias, alpha on validation",
    "minirocket": "MiniRocket (non-SSM reference)",
}
COLORS = {
    "s4d-lin": "tab:blue", "s4d-legs": "tab:cyan", "freqbias": "tab:purple", "tdi-first-input": "tab:red",
    "tdi-first-disc": "tab:orange", "tdi-first-transfer": "tab:orange", "tdi-layers-input": "tab:brown",
    "tdi-layers-disc": "tab:pink", "tdi-layers-transfer": "tab:pink", "pretrain": "tab:green",
    "tdi-shuffled": "tab:olive", "s4d-lin-band": "tab:gray", "s4d-lin-frozen": "lightsteelblue",
    "freqbias-val": "mediumpurple", "minirocket": "black",
}


# ----------------------------------------------------------------------------- config and recipes
def load_config(path: Path = CONFIG_PATH) -> dict:
    return json.loads(Path(path).read_text())


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if k.startswith("_"):
            continue
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = copy.deepcopy(v)
    return out


def recipe(cfg: dict, kind: str, name: str, profile: str) -> dict:
    """The data set's recipe: defaults <- its entry <- (smoke only) the profile's override."""
    if name not in cfg[kind]:
        raise ValueError(f"name: {name!r} has no recipe in {CONFIG_PATH.name}[{kind!r}]")
    r = _merge(cfg["defaults"], cfg[kind][name])
    return _merge(r, cfg["profiles"][profile].get("override", {}))


def profile_names(cfg: dict, profile: str, kind: str) -> list[str]:
    if profile not in cfg["profiles"]:
        raise ValueError(f"profile: expected one of {sorted(cfg['profiles'])}, got {profile!r}")
    names = cfg["profiles"][profile].get(kind, [])
    return [n for n in cfg[kind] if not n.startswith("_")] if names == "all" else list(names)


def profile_entries(cfg: dict, profile: str) -> list[tuple[str, str]]:
    """(kind, name) of the data sets of a profile's spectrum figures: its ``spectra`` entry if it has one,
    else every classification set and forecasting series it trains on."""
    spectra = cfg["profiles"][profile].get("spectra")
    if spectra is not None:
        return [(kind, n) for kind in ("classification", "forecasting") for n in spectra.get(kind, [])]
    return [(kind, n) for kind in ("classification", "forecasting") for n in profile_names(cfg, profile, kind)]


# ----------------------------------------------------------------------------- cells
@functools.lru_cache(maxsize=1)
def tdi_defaults() -> dict:
    """The keyword defaults of ``apply_tdi`` and ``tdi_init`` (part of every TDI cell's spec)."""
    from ssm_tdi.tdi import apply_tdi, tdi_init

    out = {}
    for fn in (apply_tdi, tdi_init):
        for p in inspect.signature(fn).parameters.values():
            if p.default is not inspect.Parameter.empty:
                out[f"{fn.__name__}.{p.name}"] = p.default if isinstance(p.default, (int, float, str, bool,
                                                                                     type(None))) else repr(p.default)
    return out


def cell_spec(kind: str, name: str, init: str, x: float, seed: int, rec: dict) -> dict:
    if init not in INITS:
        raise ValueError(f"init: expected one of {sorted(INITS)}, got {init!r}")
    rec = {k: v for k, v in rec.items() if k != "extra_fractions"}  # the grid, not how a cell trains
    spec = {"version": VERSION, "kind": kind, "name": name, "init": init, "x": float(x), "seed": int(seed),
            "recipe": rec}
    if INITS[init].get("tdi") or INITS[init].get("control") == "band":  # these call apply_tdi
        spec["tdi_defaults"] = tdi_defaults()
    return spec


def cell_key(spec: dict) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- the grid
def dataset_grid(cfg: dict, kind: str, name: str, rec: dict, profile: str) -> tuple[list[float], dict]:
    """The fractions (spans) a data set can run and what was dropped: {x: reason}."""
    if kind == "forecasting":
        from paper_figures.e3_cell import span_fits

        grid = list(cfg["spans"])
        ok = [x for x in grid if span_fits(name, rec, x)]
        return ok, {x: "shorter than one window + horizon" for x in grid if x not in ok}
    from paper_figures.e3_cell import classification_data
    from ssm_tdi.data.prep import distinct_fractions

    extra = rec.get("extra_fractions", []) if profile != "smoke" else []
    grid = sorted(set(cfg["fractions"]) | set(extra))
    ds = classification_data(name, json.dumps(rec.get("data", {}), sort_keys=True))
    kept, dropped = distinct_fractions(ds.y_train, grid)
    return kept, {f: f"same subset as {k:g}" for f, k in dropped.items()}


def _tier_xs(tier: dict, kind: str, name: str, grid: list[float]) -> list[float]:
    """The x values a tier plans for one data set: its ``only`` map if it has one, else a per-set override
    (``per_name``), else its fractions/spans; none for a set the tier ``skip``s (the config maps it to the reason)."""
    if name in tier.get("skip", {}):
        return []
    if "only" in tier:
        want = tier["only"].get(name, [])
    elif name in tier.get("per_name", {}):
        want = tier["per_name"][name]
    else:
        want = tier.get("fractions" if kind == "classification" else "spans", "all")
    return list(grid) if want == "all" else [x for x in grid if any(abs(x - w) < 1e-12 for w in want)]


def _applies(init: str, kind: str, name: str, rec: dict) -> bool:
    """False for a non-SSM reference (MiniRocket) on a data set of tokens (ListOps): such a cell cannot run,
    so it is not planned (the cell itself raises if asked)."""
    if INITS[init].get("ssm", True) or kind != "classification":
        return True
    return not _holds_tokens(name, json.dumps(rec.get("data", {}), sort_keys=True))


@functools.cache
def _holds_tokens(name: str, data_kw_json: str) -> bool:
    from paper_figures.e3_cell import classification_data

    return classification_data(name, data_kw_json).vocab_size is not None


def _record_skipped(plan: dict) -> None:
    """``plan["skipped"]``: for each tier that ``skip``s a data set (a budget decision, its reason stated in the
    config), the set, the tier, the x values the tier would otherwise plan there, and the reason."""
    plan["skipped"] = [{"name": name, "tier": t.get("name", f"tier {i + 1}"), "why": why,
                        "xs": _tier_xs({k: v for k, v in t.items() if k != "skip"}, plan["kind"], name,
                                       plan["grid"][name])}
                       for i, t in enumerate(plan["tiers"]) for name, why in t.get("skip", {}).items()
                       if name in plan["grid"]]


def _ranked_plan(cfg: dict, profile: str, kind: str, inits=None) -> tuple[dict, list[dict], list[tuple]]:
    """Every cell spec of a profile for one kind, in run order, the plan that produced it, and each spec's
    (tier, priority rank) sort key.

    ``inits``: restrict to these inits (None: every init a tier names that applies to ``kind``).
    Order: tier by tier; within a tier the profile's ``priority`` (data set, x) pairs first; seed-major
    within a (data set, x) so that finished pairs of inits accumulate seed by seed.
    """
    prof = cfg["profiles"][profile]
    plan = {"profile": profile, "kind": kind, "names": profile_names(cfg, profile, kind), "dropped": {},
            "tiers": prof["tiers"], "grid": {}}
    seen, specs, tier_of = set(), [], []
    for t_idx, tier in enumerate(prof["tiers"]):
        tier_inits = [i for i in tier["inits"] if kind in INITS[i]["kinds"] and (inits is None or i in inits)]
        for name in plan["names"]:
            rec = recipe(cfg, kind, name, profile)
            if name not in plan["grid"]:
                plan["grid"][name], plan["dropped"][name] = dataset_grid(cfg, kind, name, rec, profile)
            usable = [i for i in tier_inits if _applies(i, kind, name, rec)]
            for x in _tier_xs(tier, kind, name, plan["grid"][name]):
                for seed in range(int(tier["seeds"])):
                    for init in usable:
                        if (name, init, x, seed) not in seen:
                            seen.add((name, init, x, seed))
                            specs.append(cell_spec(kind, name, init, x, seed, rec))
                            tier_of.append(t_idx)
    _record_skipped(plan)
    prio = [(n, float(x)) for n, x in prof.get("priority", [])]

    def rank(i):
        p = (specs[i]["name"], specs[i]["x"])
        return (tier_of[i], prio.index(p) if p in prio else len(prio))

    order = sorted(range(len(specs)), key=rank)  # stable: plan order within a (tier, rank)
    plan["seeds"] = max(int(t["seeds"]) for t in prof["tiers"])
    return plan, [specs[i] for i in order], [rank(i) for i in order]


def plan_specs(cfg: dict, profile: str, kind: str, inits=None) -> tuple[dict, list[dict]]:
    """Every cell spec of a profile for one kind, in run order, and the plan that produced it (see
    :func:`_ranked_plan`)."""
    plan, specs, _ = _ranked_plan(cfg, profile, kind, inits)
    return plan, specs


def tiered_run_order(cfg: dict, profile: str, kinds=("classification", "forecasting")) -> list[tuple[int, dict]]:
    """(tier index, cell spec) of every cell of a profile, both kinds merged in run order: tier by tier (in
    the order of the config's tiers, whichever kind they plan), priority pairs first within a tier."""
    keyed = []
    for k, kind in enumerate(kinds):
        _, specs, ranks = _ranked_plan(cfg, profile, kind)
        keyed += [(rank, k, n, s) for n, (rank, s) in enumerate(zip(ranks, specs, strict=True))]
    return [(rank[0], s) for rank, _, _, s in sorted(keyed, key=lambda t: t[:3])]


def run_order(cfg: dict, profile: str, kinds=("classification", "forecasting")) -> list[dict]:
    """The cell specs of :func:`tiered_run_order`, in that order."""
    return [s for _, s in tiered_run_order(cfg, profile, kinds)]
