"""The E3 cell cache trusts no file (issue 13 item 7): every cell is checked against its spec and a schema;
what fails is recomputed and the run says why. The committed JSONL store is read through the same check."""

import json

import pytest

pytest.importorskip("aeon")
from paper_figures import e3, e3_cache, e3_engine  # noqa: E402


@pytest.fixture()
def spec():
    rec = e3.recipe(e3.load_config(), "classification", "ItalyPowerDemand", "smoke")
    return e3.cell_spec("classification", "ItalyPowerDemand", "s4d-lin", 0.25, 0, rec)


def _fake_compute(calls):
    def compute(spec, device="cpu"):
        calls.append(spec["init"])
        return e3_cache.make_record(spec, {"accuracy": 0.625, "n_train": 17, "n_val": 0, "steps": 4}, 1.0, device)
    return compute


def _corrupt(path, how, good: dict):
    rec = json.loads(json.dumps(good))
    if how == "accuracy 7.5":
        rec["result"]["accuracy"] = 7.5
    elif how == "accuracy edited to 0.75":
        rec["result"]["accuracy"] = 0.75  # in range: only the digest can tell
    elif how == "missing key":
        del rec["result"]["accuracy"]
    elif how == "changed spec":
        rec["spec"]["seed"] = 7
    elif how == "result null":
        rec["result"] = None
    if how == "[]":
        path.write_text("[]")
    elif how == "null":
        path.write_text("null")
    elif how == "invalid UTF-8":
        path.write_bytes(b'{"key": "\xff\xfe"}')
    elif how == "truncated":
        path.write_text(json.dumps(good)[:30])
    else:
        path.write_text(json.dumps(rec))


CASES = ["accuracy 7.5", "accuracy edited to 0.75", "missing key", "changed spec", "result null", "[]", "null",
         "invalid UTF-8", "truncated"]


@pytest.mark.parametrize("how", CASES)
def test_a_bad_cached_cell_is_recomputed_and_reported(spec, tmp_path, monkeypatch, how):
    calls, logs = [], []
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute(calls))
    first = e3_engine.run_cells([spec], tmp_path, jobs=1, log=logs.append, store={})
    assert calls == ["s4d-lin"]
    path = e3_cache.cell_path(tmp_path, spec)
    _corrupt(path, how, first[0])
    logs.clear()
    again = e3_engine.run_cells([spec], tmp_path, jobs=1, log=logs.append, store={})
    assert calls == ["s4d-lin", "s4d-lin"], how  # recomputed, not trusted and not crashed
    assert any("rejected" in m and path.name in m for m in logs), logs
    assert again[0]["result"] == first[0]["result"]
    assert e3_cache.validate(json.loads(path.read_text()), spec) is None  # the file is sound again


def test_a_sound_cell_is_used_without_recomputing(spec, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute(calls))
    e3_engine.run_cells([spec], tmp_path, jobs=1, log=lambda *_: None, store={})
    e3_engine.run_cells([spec], tmp_path, jobs=1, log=lambda *_: None, store={})
    assert calls == ["s4d-lin"]


def test_committed_store_roundtrip_and_its_bad_lines(spec, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute(calls))
    rec = e3_engine.run_cells([spec], tmp_path / "a", jobs=1, log=lambda *_: None, store={})[0]
    store = tmp_path / "cells.jsonl"
    assert e3_cache.export_jsonl([rec, None, {"key": "junk"}], store) == 1  # only sound records go in
    loaded = e3_cache.load_store([store])
    # a fresh output folder resumes from the committed store alone
    out = e3_engine.run_cells([spec], tmp_path / "b", jobs=1, log=lambda *_: None, store=loaded)
    assert calls == ["s4d-lin"] and out[0]["result"] == rec["result"]
    # an edited line is rejected, said, and recomputed
    bad = json.loads(store.read_text())
    bad["result"]["accuracy"] = 0.99
    store.write_text(json.dumps(bad) + "\nnot json\n")
    logs = []
    e3_engine.run_cells([spec], tmp_path / "c", jobs=1, log=logs.append, store=e3_cache.load_store([store]))
    assert calls == ["s4d-lin", "s4d-lin"] and any("committed cell" in m and "digest" in m for m in logs)


def test_committed_only_tabulation_ignores_the_local_cache(spec, tmp_path, monkeypatch):
    """`make e3-full-tables` (local_cache=False) must not pick up cells that were computed here but never exported:
    the committed tables then depend on the committed store alone."""
    calls = []
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute(calls))
    rec = e3_engine.run_cells([spec], tmp_path, jobs=1, log=lambda *_: None, store={})[0]
    unexported = e3_engine.run_cells([spec], tmp_path, log=lambda *_: None, store={}, compute_missing=False,
                                     local_cache=False)
    assert unexported == [None] and calls == ["s4d-lin"]
    exported = e3_engine.run_cells([spec], tmp_path, log=lambda *_: None, store={rec["key"]: rec},
                                   compute_missing=False, local_cache=False)
    assert exported[0]["result"] == rec["result"] and calls == ["s4d-lin"]


def test_a_profile_store_does_not_copy_cells_another_store_holds(spec, tmp_path, monkeypatch):
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute([]))
    other = {**spec, "seed": spec["seed"] + 1}
    a, b = e3_engine.run_cells([spec, other], tmp_path / "out", jobs=1, log=lambda *_: None, store={})
    e3_cache.export_jsonl([a], tmp_path / "quick.jsonl")
    assert e3_cache.export_profile_store([a, b, None], tmp_path / "full.jsonl") == 1
    assert set(e3_cache.load_store([tmp_path / "full.jsonl"])) == {b["key"]}
    assert set(e3_cache.load_store([tmp_path / "quick.jsonl", tmp_path / "full.jsonl"])) == {a["key"], b["key"]}


def test_prune_drops_only_cells_the_plan_no_longer_holds(spec, tmp_path, monkeypatch):
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute([]))
    other = {**spec, "seed": spec["seed"] + 1}
    a, b = e3_engine.run_cells([spec, other], tmp_path / "out", jobs=1, log=lambda *_: None, store={})
    store = tmp_path / "full.jsonl"
    e3_cache.export_jsonl([a, b], store)
    gone = e3_cache.prune_store(store, {a["key"]})
    assert [r["key"] for r in gone] == [b["key"]] and set(e3_cache.load_store([store])) == {a["key"]}
    assert e3_cache.prune_store(store, {a["key"]}) == [] and set(e3_cache.load_store([store])) == {a["key"]}


def test_schema_of_forecasting_results(spec):
    fspec = {**spec, "kind": "forecasting"}
    rec = e3_cache.make_record(fspec, {"mse": 1.0, "mase": 0.9}, 1.0, "cpu")
    assert e3_cache.validate(rec, fspec) is None
    rec2 = e3_cache.make_record(fspec, {"mse": -1.0, "mase": 0.9}, 1.0, "cpu")
    assert "mse" in e3_cache.validate(rec2, fspec)


def test_committed_records_read_the_store_alone(spec, tmp_path, monkeypatch):
    """`committed_records` (what fig_e3_spectra tabulates) returns committed cells and None for cells that exist only
    as local cell files, and trains nothing."""
    calls = []
    monkeypatch.setattr(e3_engine, "compute_cell", _fake_compute(calls))
    rec = e3_engine.run_cells([spec], tmp_path, jobs=1, log=lambda *_: None, store={})[0]
    assert e3_engine.committed_records([spec], log=lambda *_: None, store={}) == [None]
    assert e3_engine.committed_records([spec], log=lambda *_: None, store={rec["key"]: rec})[0]["result"] == \
        rec["result"]
    assert calls == ["s4d-lin"]
