"""E3: the cell cache, the only state shared between runs, workers and sessions.

Two stores hold finished cells, both read through :func:`validate`:

* per-cell JSON files ``<out>/e3_cells/<kind>/<name>/<init>__<x>__s<seed>.json`` (git-ignored; written
  atomically by the process that runs the grid);
* committed compact stores ``paper_figures/cells/<profile>.jsonl`` (one cell per line), so a study
  spans sessions and the tables are rebuilt from them without retraining (:func:`export_jsonl`).

A record is ``{"key", "spec", "result", "seconds", "device", "torch", "code", "digest"}``; ``digest``
is a SHA-1 of the canonical JSON of (spec, result), so an edited number is detected. :func:`validate`
returns None for a record that can be trusted for ``spec`` or the reason it cannot (wrong type,
missing key, a spec that differs from the one asked for, a result outside its schema, a digest that
does not match); the engine recomputes such cells and says why (issue 13 item 7).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from paper_figures.common import FIG_DIR, atomic_write_bytes, save_json
from paper_figures.e3_plan import cell_key

CELL_DIR = "e3_cells"
STORE_DIR = FIG_DIR / "cells"
_RECORD_KEYS = ("key", "spec", "result", "seconds", "device", "digest")


def cell_path(out: Path, spec: dict) -> Path:
    x = f"{spec['x']:.4g}"
    return Path(out) / CELL_DIR / spec["kind"] / spec["name"] / f"{spec['init']}__{x}__s{spec['seed']}.json"


def digest(spec: dict, result: dict) -> str:
    return hashlib.sha1(json.dumps({"spec": spec, "result": result}, sort_keys=True).encode()).hexdigest()


def make_record(spec: dict, result: dict, seconds: float, device: str, extra: dict | None = None) -> dict:
    """A record as written: JSON round-tripped first, so its digest is that of what a reader will load."""
    from paper_figures.common import _jsonable

    result = json.loads(json.dumps(_jsonable(result)))
    return {"key": cell_key(spec), "spec": spec, "result": result, "seconds": float(seconds), "device": str(device),
            **(extra or {}), "digest": digest(spec, result)}


def _number(v, lo=-math.inf, hi=math.inf) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi


def _result_error(kind: str, result: dict) -> str | None:
    """Schema of a result: the score in its range, counts non-negative integers."""
    scores = {"classification": (("accuracy", 0.0, 1.0),), "forecasting": (("mse", 0.0, math.inf),
                                                                           ("mase", 0.0, math.inf))}[kind]
    for k, lo, hi in scores:
        if k not in result:
            return f"result has no {k!r}"
        if not _number(result[k], lo, hi):
            return f"result[{k!r}] = {result[k]!r} is not a number in [{lo}, {hi}]"
    for k in ("n_train", "n_val", "n_subset", "steps"):
        if k in result and not (isinstance(result[k], int) and not isinstance(result[k], bool) and result[k] >= 0):
            return f"result[{k!r}] = {result[k]!r} is not a count"
    return None


def validate(rec, spec: dict) -> str | None:
    """None if ``rec`` is a sound record of ``spec``; else why not (one line)."""
    if not isinstance(rec, dict):
        return f"not a JSON object but {type(rec).__name__}"
    missing = [k for k in _RECORD_KEYS if k not in rec]
    if missing:
        return f"missing {', '.join(missing)}"
    spec = json.loads(json.dumps(spec))  # as a reader of the file sees it (tuples become lists)
    if rec["spec"] != spec or rec["key"] != cell_key(spec):
        return "its spec differs from the cell's (recipe, init, x, seed or version changed)"
    if not isinstance(rec["result"], dict):
        return f"result is {type(rec['result']).__name__}, not an object"
    err = _result_error(spec["kind"], rec["result"])
    if err:
        return err
    if not _number(rec["seconds"], 0.0):
        return f"seconds = {rec['seconds']!r} is not a duration"
    if rec["digest"] != digest(rec["spec"], rec["result"]):
        return "digest does not match its spec and result (edited)"
    return None


def read_cell_file(path: Path, spec: dict) -> tuple[dict | None, str | None]:
    """(record, None) if the file holds a sound record of ``spec``; (None, reason) otherwise; (None, None) if absent."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at line {exc.lineno})"
    err = validate(rec, spec)
    return (None, err) if err else (rec, None)


def write_cell_file(out: Path, rec: dict) -> Path:
    p = cell_path(out, rec["spec"])
    save_json(rec, p)
    return p


def load_store(paths=None) -> dict[str, dict]:
    """{key: record} of every line of the committed stores (lines that are not JSON objects are skipped;
    each record is validated against the spec asked for when it is used)."""
    out: dict[str, dict] = {}
    for p in sorted(STORE_DIR.glob("*.jsonl")) if paths is None else paths:
        try:
            lines = Path(p).read_bytes().decode("utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for ln in lines:
            try:
                rec = json.loads(ln)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                out[rec["key"]] = rec
    return out


def export_jsonl(records: list[dict], path: Path) -> int:
    """Merge sound records into a committed store (one line per cell, sorted by key); returns its size."""
    path = Path(path)
    have = load_store([path]) if path.exists() else {}
    for r in records:
        if r is not None and validate(r, r.get("spec")) is None:
            have[r["key"]] = r
    keep = {k: r for k, r in have.items() if validate(r, r.get("spec")) is None}
    lines = [json.dumps(keep[k], sort_keys=True, separators=(",", ":")) for k in sorted(keep)]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode() if lines else b"")
    return len(lines)


def prune_store(path: Path, planned_keys: set[str]) -> list[dict]:
    """Drop from the store at ``path`` the cells whose key is not in ``planned_keys`` (e.g. after a recipe change,
    which changes the keys of the cells it touches); returns the dropped records (git history keeps them)."""
    path = Path(path)
    have = load_store([path]) if path.exists() else {}
    gone = [r for k, r in sorted(have.items()) if k not in planned_keys]
    if gone:
        lines = [json.dumps(have[k], sort_keys=True, separators=(",", ":")) for k in sorted(have) if k in planned_keys]
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode() if lines else b"")
    return gone


def export_profile_store(records: list[dict], path: Path) -> int:
    """:func:`export_jsonl` of the records that no OTHER store next to ``path`` holds: a cell planned by two
    profiles (quick's cells are part of full's grid) is committed once."""
    path = Path(path)
    others = load_store([p for p in sorted(path.parent.glob("*.jsonl")) if p.resolve() != path.resolve()])
    return export_jsonl([r for r in records if r is not None and r.get("key") not in others], path)
