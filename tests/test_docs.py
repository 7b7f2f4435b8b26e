"""docs/claims.md is the project's one numbering of claims (C), experiments (E) and open questions (Q).

Checked here: every label used by the figures' summaries, the claim checks and the report is defined
there; every script, module, test file and proof it points to exists; no source or page cites a file
that is not in the repository (the paper's restatement used to live outside it, in PAPER.md).
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "docs" / "claims.md"
LABEL = re.compile(r"\b([CEQ])([0-9]+)\b")


def _defined_labels():
    """Labels in the first column of the tables of docs/claims.md: ``| **C1** | ...``."""
    return set(re.findall(r"^\| \*\*([CEQ][0-9]+)\*\* \|", CLAIMS.read_text(), flags=re.M))


def _labels_in(text):
    return {f"{k}{n}" for k, n in LABEL.findall(text)}


def _section6_rows():
    text = CLAIMS.read_text().split("## 6.", 1)[1]
    return [ln for ln in text.splitlines() if re.match(r"^\| [CEQ][0-9]+ \|", ln)]


def _repo_files():
    """Tracked and untracked-but-not-ignored files (what a clone or the next commit holds)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    return [ROOT / p for p in out.stdout.splitlines() if (ROOT / p).is_file()]


def test_every_label_is_defined_once():
    defined = _defined_labels()
    assert defined == {f"C{i}" for i in range(1, 7)} | {"E1", "E2", "E3", "Q1", "Q2", "Q3"}
    rows = re.findall(r"^\| \*\*([CEQ][0-9]+)\*\* \|", CLAIMS.read_text(), flags=re.M)
    assert len(rows) == len(set(rows)), f"a label is defined twice: {sorted(rows)}"
    assert {r.split()[1] for r in _section6_rows()} == defined, "section 6 must map every label"


def test_figures_verify_and_report_use_only_defined_labels():
    defined = _defined_labels()
    used = {}
    for p in sorted((ROOT / "paper_figures" / "output" / "quick").glob("*.summary.json")):
        s = json.loads(p.read_text())
        used[p.name] = _labels_in(s.get("claim", "") + " " + s.get("title", ""))
    for p in sorted((ROOT / "verify").glob("c[0-9].py")):
        used[f"verify/{p.name}"] = {p.stem.upper()}
    for p in sorted((ROOT / "report").glob("*.py")):
        used[f"report/{p.name}"] = _labels_in(p.read_text())
    undefined = {k: sorted(v - defined) for k, v in used.items() if v - defined}
    assert not undefined, f"labels not defined in docs/claims.md: {undefined}"
    assert any(used.values()), "no labels found at all: the scan is looking in the wrong place"


def test_section6_points_at_things_that_exist():
    from theory.identities import ALL_IDENTITIES

    proofs = {f.__name__ for f in ALL_IDENTITIES}
    missing = []
    for row in _section6_rows():
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name in re.findall(r"`([A-Za-z0-9_.*]+)`", cells[1]):
            if not any(re.fullmatch(name.replace("*", ".*"), p) for p in proofs):
                missing.append(f"theory proof {name}")
        for name in re.findall(r"`([a-z0-9_]+\.py)`", cells[2]):
            if not (ROOT / "verify" / name).is_file():
                missing.append(f"verify/{name}")
        for name in re.findall(r"`([a-z0-9_]+\.py)`", cells[3]):
            if not (ROOT / "tests" / name).is_file():
                missing.append(f"tests/{name}")
        for name in re.findall(r"`([a-z0-9_]+)`", cells[4]):
            if not (ROOT / "paper_figures" / f"fig_{name}.py").is_file():
                missing.append(f"paper_figures/fig_{name}.py")
    assert not missing, f"docs/claims.md section 6 points at things that do not exist: {missing}"


def test_readme_links_the_claims_and_lists_them():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/claims.md)" in readme
    listed = set(re.findall(r"^\| (C[1-6]) \|", readme, flags=re.M))
    assert listed == {f"C{i}" for i in range(1, 7)}, f"README lists {sorted(listed)}"


def test_no_source_or_page_cites_a_missing_file():
    """PAPER.md and notes/ were never part of the repository; docs/claims.md replaces them."""
    bad = []
    for p in _repo_files():
        if p.suffix not in {".py", ".md"} or p == Path(__file__):
            continue
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if "PAPER.md" in line or re.search(r"\bnotes/\w", line):
                bad.append(f"{p.relative_to(ROOT)}:{i}")
    assert not bad, f"references to files that are not in the repository: {bad}"
