"""paper_figures/reproduce.py: the comparison rules on hand-made summaries, and one real run of a figure
against a deliberately perturbed copy of the committed reference (it must fail, naming the number)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from paper_figures import reproduce as rp

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = {"cpu": "test-cpu", "torch": "x"}


def test_discovery_is_the_glob_of_figure_scripts():
    names = rp.discover_figures()
    assert names == sorted(p.stem[4:] for p in (ROOT / "paper_figures").glob("fig_*.py"))
    assert "spectrum" in names and all(n in names for n in rp.QUICK_SUBSET)
    with pytest.raises(ValueError, match="^fig_dir: expected an existing folder"):
        rp.discover_figures(ROOT / "no_such_folder")


def test_identical_numbers_pass_bit_identically():
    kn = {"a": 0.1, "n": 16, "at": "colored/low, P=64", "ci": [0.25, 2.0], "P": [16, 64], "flag": True}
    res = rp.compare_key_numbers("fig", kn, json.loads(json.dumps(kn)))
    assert res == {"checked": 6, "skipped": [], "failures": []}


def test_one_ulp_fails_on_the_reference_platform_with_figure_key_old_new():
    new = math.nextafter(0.1, 1.0)  # 0.10000000000000002
    res = rp.compare_key_numbers("learning_curves", {"x": 0.1}, {"x": new})
    assert res["failures"] == ["FAIL learning_curves: key 'x' old=0.1 new=0.10000000000000002 "
                               "(tol: bit-identical on the reference platform)"]


def test_cross_platform_tolerance_is_margin_times_spread_or_the_floor():
    # spread 1e-3 -> tol = MARGIN * 1e-3 = 1e-2 around old = 1.0
    ok = rp.compare_key_numbers("f", {"x": 1.0}, {"x": 1.0099}, bit_identical=False, spread={"x": 1e-3})
    assert ok["failures"] == [] and ok["checked"] == 1
    bad = rp.compare_key_numbers("f", {"x": 1.0}, {"x": 1.0101}, bit_identical=False, spread={"x": 1e-3})
    assert len(bad["failures"]) == 1
    assert bad["failures"][0].startswith("FAIL f: key 'x' old=1.0 new=1.0101 (tol: |diff| <= 0.01 = max(10 x")
    # spread 0 -> floor RTOL_FLOOR * |old| = 1e-9 * 4 = 4e-9
    assert not rp.compare_key_numbers("f", {"x": 4.0}, {"x": 4.0 + 3e-9}, bit_identical=False,
                                      spread={"x": 0.0})["failures"]
    assert rp.compare_key_numbers("f", {"x": 4.0}, {"x": 4.0 + 5e-9}, bit_identical=False,
                                  spread={"x": 0.0})["failures"]
    # lists: one spread per element
    res = rp.compare_key_numbers("f", {"l": [1.0, 2.0]}, {"l": [1.5, 2.0]}, bit_identical=False,
                                 spread={"l": [0.1, 0.0]})
    assert res["failures"] == []
    res = rp.compare_key_numbers("f", {"l": [1.0, 2.0]}, {"l": [1.0, 2.5]}, bit_identical=False,
                                 spread={"l": [0.1, 0.0]})
    assert len(res["failures"]) == 1 and res["failures"][0].startswith("FAIL f: key 'l'[1] old=2.0 new=2.5 (tol:")


def test_strings_ints_shapes_missing_and_new_keys_fail():
    old = {"at": "white/low, P=16", "n": 3, "P": [16, 64], "gone": 1.0}
    new = {"at": "white/mid, P=16", "n": 4, "P": [16], "extra": 2.0}
    fails = rp.compare_key_numbers("fig", old, new)["failures"]
    assert fails == [
        "FAIL fig: key 'at' old='white/low, P=16' new='white/mid, P=16' (tol: exact)",
        "FAIL fig: key 'n' old=3 new=4 (tol: exact)",
        "FAIL fig: key 'P' old=[16, 64] new=[16] (shape changed)",
        "FAIL fig: key 'gone' missing from the new run (old=1.0)",
        "FAIL fig: key 'extra' is new (new=2.0), not in the reference (run --update)",
    ]
    # exact types are exact across platforms too; a string vs a number is a failure, never a pass
    assert rp.compare_key_numbers("fig", {"p": "nan"}, {"p": 0.5}, bit_identical=False,
                                  spread={"p": 0.0})["failures"] == ["FAIL fig: key 'p' old='nan' new=0.5 (tol: exact)"]


def test_nondeterministic_and_platform_sensitive_keys_are_skipped_and_counted():
    old = {"a": 1.0, "tdi_overhead_median_fraction_of_training": 6.4, "b": 2.0, "case": "x"}
    new = {"a": 1.0, "tdi_overhead_median_fraction_of_training": 5.1, "b": 3.0, "case": "y"}
    res = rp.compare_key_numbers("f", old, new, skip=["b", "case"])  # the timing name is skipped on its own
    assert res["failures"] == [] and res["checked"] == 1 and len(res["skipped"]) == 3
    res = rp.compare_key_numbers("f", {"case": "x", "a": 1.0}, {"case": "y", "a": 1.0}, bit_identical=False,
                                 spread={"case": None})
    assert res["skipped"] == ["case (platform-sensitive)"]
    assert res["failures"] == ["FAIL f: key 'a' has no rounding spread for a cross-platform check "
                               "(old=1.0 new=1.0; run --update)"]


def test_rounding_spread_is_the_largest_change_or_none():
    assert rp.rounding_spread(1.0, [1.25, 0.5]) == 0.5
    assert rp.rounding_spread([1.0, 2.0], [[1.0, 2.25], [0.75, 2.0]]) == [0.25, 0.25]
    assert rp.rounding_spread(7, [7, 7]) == 0.0
    assert rp.rounding_spread("a", ["a", "b"]) is None
    assert rp.rounding_spread([1.0], [[1.0, 2.0]]) is None
    assert rp.rounding_spread(1.0, [None]) is None  # the key vanished in a perturbed run


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_check_from_a_folder_reports_pass_fail_and_missing_reference(tmp_path, capsys):
    kn = {"c1": 1e-15, "slope": -0.5, "at": "x"}
    _write(tmp_path / "new" / "spectrum.summary.json", {"key_numbers": kn, "platform": PLATFORM})
    _write(tmp_path / "new" / "trainable.summary.json", {"key_numbers": {"a": 1.0}, "platform": PLATFORM})
    ref = {"profile": "smoke", "figures": {"spectrum": {
        "key_numbers": {**kn, "slope": -0.25}, "platform": PLATFORM, "nondeterministic": [],
        "rounding_spread": {"c1": 1e-16, "slope": 1e-3, "at": 0.0}}}}
    _write(tmp_path / "ref" / "smoke.json", ref)
    report_path = tmp_path / "report.json"
    rc = rp.main(["--profile", "smoke", "--figures", "spectrum,trainable", "--reference-dir", str(tmp_path / "ref"),
                  "--from-dir", str(tmp_path / "new"), "--json", str(report_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL spectrum: key 'slope' old=-0.25 new=-0.5 (tol: bit-identical on the reference platform)" in out
    assert "FAIL trainable: no reference (run --update)" in out
    report = json.loads(report_path.read_text())
    assert report["ok"] is False and report["figures"]["spectrum"]["checked"] == 3
    # another platform: the cross-platform tolerance applies (|diff| 0.25 > 10 x 1e-3 still fails)
    _write(tmp_path / "new" / "spectrum.summary.json", {"key_numbers": kn, "platform": {"cpu": "other"}})
    report = rp.check("smoke", ["spectrum"], reference_dir=tmp_path / "ref", from_dir=tmp_path / "new",
                      log=lambda *_: None)
    assert report["figures"]["spectrum"]["bit_identical"] is False
    assert report["figures"]["spectrum"]["failures"][0].startswith("FAIL spectrum: key 'slope' old=-0.25 new=-0.5 "
                                                                    "(tol: |diff| <= 0.01")
    ref["figures"]["spectrum"]["key_numbers"]["slope"] = -0.5
    _write(tmp_path / "ref" / "smoke.json", ref)
    rc = rp.main(["--profile", "smoke", "--figures", "spectrum", "--reference-dir", str(tmp_path / "ref"),
                  "--from-dir", str(tmp_path / "new")])
    assert rc == 0 and "PASS spectrum 3 numbers (cross-platform tolerance)" in capsys.readouterr().out


def test_quick_subset_compares_with_the_committed_summaries(tmp_path):
    name = rp.QUICK_SUBSET[0]
    kn = {"v": 0.5}
    _write(tmp_path / "new" / f"{name}.summary.json", {"key_numbers": kn, "platform": PLATFORM})
    _write(tmp_path / "ref" / "quick-subset.json", {"figures": {name: {
        "platform": PLATFORM, "nondeterministic": [], "rounding_spread": {"v": 0.0}}}})
    committed = tmp_path / "committed" / f"{name}.summary.json"
    kw = dict(reference_dir=tmp_path / "ref", committed_dir=tmp_path / "committed", from_dir=tmp_path / "new",
              log=lambda *_: None)
    _write(committed, {"profile": "quick", "key_numbers": {"v": 0.5}})
    assert rp.check("quick-subset", [name], **kw)["ok"]
    _write(committed, {"profile": "quick", "key_numbers": {"v": 0.25}})  # the committed file drifted
    fails = rp.check("quick-subset", [name], **kw)["figures"][name]["failures"]
    assert fails == [f"FAIL {name}: key 'v' old=0.25 new=0.5 (tol: bit-identical on the reference platform)"]
    _write(committed, {"profile": "smoke", "key_numbers": {"v": 0.5}})
    fails = rp.check("quick-subset", [name], **kw)["figures"][name]["failures"]
    assert fails and "is profile 'smoke', not 'quick'" in fails[0]
    committed.unlink()
    fails = rp.check("quick-subset", [name], **kw)["figures"][name]["failures"]
    assert fails == [f"FAIL {name}: no committed summary in {tmp_path / 'committed'} (run make figure-{name} "
                     "PROFILE=quick and commit it)"]
    with pytest.raises(ValueError, match="^jobs: expected an integer >= 1"):
        rp.check("quick-subset", [name], jobs=0, **kw)
    with pytest.raises(ValueError, match="^figures: expected names among"):
        rp.check("quick-subset", ["trainable"], **kw)
    with pytest.raises(ValueError, match="^profile: expected one of"):
        rp.check("huge", None, **kw)


def test_a_platform_with_recorded_numbers_is_compared_bit_identically_to_them(tmp_path):
    other = {"cpu": "other-cpu", "torch": "x"}
    ref = {"profile": "smoke", "figures": {"spectrum": {
        "key_numbers": {"slope": -0.25}, "platform": PLATFORM, "nondeterministic": [],
        "rounding_spread": {"slope": 1e-3}, "platforms": [{"platform": other, "key_numbers": {"slope": -0.5}}]}}}
    _write(tmp_path / "ref" / "smoke.json", ref)
    kw = dict(reference_dir=tmp_path / "ref", from_dir=tmp_path / "new", log=lambda *_: None)
    _write(tmp_path / "new" / "spectrum.summary.json", {"key_numbers": {"slope": -0.5}, "platform": other})
    res = rp.check("smoke", ["spectrum"], **kw)["figures"]["spectrum"]
    assert res["status"] == "PASS" and res["bit_identical"] and res["own_platform"]
    # one ulp off this platform's own numbers fails, although the cross-platform tolerance would not apply
    _write(tmp_path / "new" / "spectrum.summary.json", {"key_numbers": {"slope": -0.5000000000000001},
                                                       "platform": other})
    fails = rp.check("smoke", ["spectrum"], **kw)["figures"]["spectrum"]["failures"]
    assert fails == ["FAIL spectrum: key 'slope' old=-0.5 new=-0.5000000000000001 "
                     "(tol: bit-identical on the reference platform)"]
    # the reference platform still compares with the reference, and --tier cross ignores the record
    _write(tmp_path / "new" / "spectrum.summary.json", {"key_numbers": {"slope": -0.5}, "platform": PLATFORM})
    assert rp.check("smoke", ["spectrum"], **kw)["figures"]["spectrum"]["failures"]
    _write(tmp_path / "new" / "spectrum.summary.json", {"key_numbers": {"slope": -0.25}, "platform": other})
    assert not rp.check("smoke", ["spectrum"], **kw)["ok"]
    assert rp.check("smoke", ["spectrum"], tier="cross", **kw)["ok"]  # |diff| 0 against the reference


def test_add_platform_records_two_agreeing_runs_and_refuses_disagreeing_ones(tmp_path, monkeypatch):
    ref = {"profile": "smoke", "figures": {"spectrum": {
        "key_numbers": {"x": 1.0, "fit_seconds": 0.0}, "platform": PLATFORM, "nondeterministic": ["fit_seconds"],
        "rounding_spread": {"x": 0.0}}}}
    _write(tmp_path / "smoke.json", ref)
    calls = []

    def fake_run(name, profile, out, env=None, timeout=0):
        calls.append(env)
        return {"key_numbers": {"x": 2.0, "fit_seconds": float(len(calls))}, "platform": {"cpu": "amd"}}

    monkeypatch.setattr(rp, "run_figure", fake_run)
    path = rp.add_platform("smoke", ["spectrum"], reference_dir=tmp_path, log=lambda *_: None)
    e = json.loads(path.read_text())["figures"]["spectrum"]
    assert calls == [None, None] and e["key_numbers"] == {"x": 1.0, "fit_seconds": 0.0}  # reference untouched
    assert [r["platform"] for r in e["platforms"]] == [{"cpu": "amd"}] and e["platforms"][0]["key_numbers"]["x"] == 2.0
    rp.add_platform("smoke", ["spectrum"], reference_dir=tmp_path, log=lambda *_: None)  # replaced, not appended
    assert len(json.loads(path.read_text())["figures"]["spectrum"]["platforms"]) == 1
    monkeypatch.setattr(rp, "run_figure", lambda *a, **k: {"key_numbers": {"x": 2.0 + len(calls.append(0) or calls)},
                                                          "platform": {"cpu": "amd"}})
    with pytest.raises(rp.FigureError, match="two runs here differ"):
        rp.add_platform("smoke", ["spectrum"], reference_dir=tmp_path, log=lambda *_: None)
    with pytest.raises(ValueError, match="no reference entry"):
        rp.add_platform("smoke", ["trainable"], reference_dir=tmp_path, log=lambda *_: None)


def test_update_records_values_spread_and_nondeterminism(tmp_path, monkeypatch):
    """update() with the figure runs replaced by a fake: 2 plain runs, then one per perturbation."""
    calls = []

    def fake_run(name, profile, out, env=None, timeout=0):
        calls.append(env)
        pert = None if env is None else env["ATEN_CPU_CAPABILITY"]
        kn = {"x": {None: 1.0, "avx2": 1.001, "default": 0.998}[pert],
              "case": "b" if pert == "default" else "a",
              "flaky": 0.5 + 0.25 * (len(calls) == 2),  # differs between the two plain runs
              "fit_seconds": float(len(calls)), "n": 3}
        return {"key_numbers": kn, "platform": PLATFORM}

    monkeypatch.setattr(rp, "run_figure", fake_run)
    path = rp.update("smoke", ["spectrum"], reference_dir=tmp_path, log=lambda *_: None)
    assert calls[:2] == [None, None] and len(calls) == 2 + len(rp.perturbations())
    e = json.loads(path.read_text())["figures"]["spectrum"]
    assert e["key_numbers"] == {"x": 1.0, "case": "a", "flaky": 0.5, "fit_seconds": 1.0, "n": 3}
    assert e["nondeterministic"] == ["fit_seconds", "flaky"]
    assert e["rounding_spread"]["x"] == pytest.approx(2e-3, rel=1e-9)
    assert e["rounding_spread"]["case"] is None and e["rounding_spread"]["n"] == 0.0
    table = path.with_suffix(".md").read_text()
    assert "| spectrum | 5 | 1 | 2 | 1 | 0 | 0 | 1 | 0 |" in table  # x: relative change 2e-3 -> "<= 0.01"


def _here():
    from paper_figures.common import platform_fingerprint

    return json.loads(json.dumps(platform_fingerprint()))


def test_a_perturbed_committed_number_fails_the_real_check(tmp_path):
    """End to end: the committed smoke reference, one number changed by 50%, fig_spectrum.py really run."""
    ref = json.loads((ROOT / "paper_figures" / "reference" / "smoke.json").read_text())
    entry = ref["figures"]["spectrum"]
    # the float the platform perturbations moved least (relative), so the 50% change fails on any platform
    key = min((k for k, v in entry["key_numbers"].items()
               if isinstance(v, float) and v != 0 and isinstance(entry["rounding_spread"][k], float)),
              key=lambda k: entry["rounding_spread"][k] / abs(entry["key_numbers"][k]))
    old = entry["key_numbers"][key] * 1.5
    entry["key_numbers"][key] = old
    own = rp.recorded_for(entry, _here())
    if own is not None:  # this platform's own numbers (--add-platform) are what the check compares with here
        old = own["key_numbers"][key] = own["key_numbers"][key] * 1.5
    _write(tmp_path / "smoke.json", ref)
    proc = subprocess.run([sys.executable, "-m", "paper_figures.reproduce", "--profile", "smoke", "--figures",
                           "spectrum", "--reference-dir", str(tmp_path), "--json", str(tmp_path / "r.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"FAIL spectrum: key {key!r} old={old!r} new=")]
    assert len(lines) == 1, proc.stdout
    new = json.loads(lines[0].split(" new=")[1].split(" (tol")[0])
    assert new == pytest.approx(old / 1.5, rel=0.01)  # the fresh run gives (about) the unperturbed value
    assert json.loads((tmp_path / "r.json").read_text())["figures"]["spectrum"]["status"] == "FAIL"
