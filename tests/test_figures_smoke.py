"""Every figure script runs end to end in its smoke profile and writes all its outputs.

This keeps the scripts from rotting; the numbers themselves are checked by verify/ and
by the scripts' own computed readings.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "paper_figures").glob("fig_*.py"))


def test_there_are_figure_scripts():
    assert SCRIPTS, "no paper_figures/fig_*.py found"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_smoke_profile_writes_all_outputs(script, tmp_path):
    name = script.stem.removeprefix("fig_")
    proc = subprocess.run([sys.executable, "-m", f"paper_figures.{script.stem}", "--profile", "smoke",
                           "--device", "cpu", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for ext in ("pdf", "png", "json", "summary.json"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext} missing or empty"
    summary = json.loads((tmp_path / f"{name}.summary.json").read_text())
    assert summary["profile"] == "smoke"
    assert summary["key_numbers"], "summary has no key numbers"
    assert summary["reading"].strip(), "summary has no reading"
    # no temporary files left behind by the atomic writers
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob(f".{name}.*"))


def test_outputs_are_kept_per_profile():
    """A smoke (or full) run writes into its own folder, never over the committed quick outputs."""
    from paper_figures import common

    assert common.profile_dir("smoke") == common.OUTPUT_ROOT / "smoke"
    assert common.DEFAULT_OUT == common.OUTPUT_ROOT / common.COMMITTED_PROFILE == common.OUTPUT_ROOT / "quick"
    with pytest.raises(ValueError, match="profile"):
        common.profile_dir("quick-ish")


def test_no_script_edits_sys_path():
    """The scripts run as modules of the paper_figures package; none patches sys.path."""
    offenders = [s.name for s in (ROOT / "paper_figures").glob("*.py") if "sys.path.insert" in s.read_text()]
    assert not offenders, offenders
