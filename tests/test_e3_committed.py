"""The committed E3 results regenerate from the committed cells alone (issue 15: "make figures regenerates
every E3 figure from committed cells in minutes").

For each profile whose E3 table is committed (quick, and the budgeted full grid), the two tabulating figure
scripts run into an empty folder, so that no local cell cache can help: every number must come from
``paper_figures/cells/*.jsonl``. The rebuilt ``e3_table.md`` must equal the committed one character for
character (it holds only statistics of the cells, printed to 3 digits), and the key numbers of each summary
must be equal (the same cells through the same float64 statistics on one machine).
"""

import json

import pytest

pytest.importorskip("aeon")
from paper_figures import fig_e3_accuracy, fig_e3_forecast  # noqa: E402
from paper_figures.common import profile_dir  # noqa: E402

PROFILES = [p for p in ("quick", "full") if (profile_dir(p) / "e3_table.md").is_file()]


@pytest.mark.parametrize("profile", PROFILES)
def test_committed_e3_tables_regenerate_from_the_committed_cells(profile, tmp_path):
    committed = profile_dir(profile)
    for script in (fig_e3_accuracy, fig_e3_forecast):
        script.main(["--profile", profile, "--device", "cpu", "--out", str(tmp_path)])
    assert (tmp_path / "e3_table.md").read_text() == (committed / "e3_table.md").read_text()
    for name in ("e3_accuracy", "e3_forecast"):
        old = json.loads((committed / f"{name}.summary.json").read_text())["key_numbers"]
        new = json.loads((tmp_path / f"{name}.summary.json").read_text())["key_numbers"]
        assert new == old, name


def test_both_committed_profiles_are_checked():
    assert PROFILES == ["quick", "full"]  # a profile whose table went missing must not skip silently
