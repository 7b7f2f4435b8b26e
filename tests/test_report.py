"""The executed report (report/): sources parse, a failing cell fails the build, a tiny page builds.

The two build tests run ``python -m report.build --source ...`` in a subprocess, through the
same code path as ``make report``, on tiny notebook sources written here (a few seconds each:
one kernel start). The real notebooks are executed by ``make report``, not here.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

for _mod in ("jupytext", "nbclient", "nbconvert", "ipykernel"):
    pytest.importorskip(_mod, reason="the report extra is not installed")

from report import build  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_build(args, tmp_path, extra_env=None):
    env = dict(os.environ, **(extra_env or {}))
    env.pop("SSM_TDI_REPORT_SMALL", None)
    return subprocess.run([sys.executable, "-m", "report.build", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def test_registered_sources_parse_into_notebooks():
    assert set(build.NOTEBOOKS) == {"theory_walkthrough", "tdi_tutorial", "results_gallery"}
    for name in build.NOTEBOOKS:
        nb = build.read_source(build.REPORT_DIR / f"{name}.py")
        kinds = [c.cell_type for c in nb.cells]
        assert "markdown" in kinds and kinds.count("code") >= 3, (name, kinds)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), name
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":  # every code cell is valid Python (no magics in the sources)
                compile(cell.source, f"{name}.py cell {i}", "exec")
        tags = {t for c in nb.cells for t in c.metadata.get("tags", [])}
        assert tags <= {build.HIDE_INPUT_TAG, build.REMOVE_CELL_TAG}, (name, tags)


def test_read_source_rejects_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no notebook source"):
        build.read_source(tmp_path / "nope.py")


BAD = '''# %% [markdown]
# # A page that breaks

# %%
x = 1

# %%
raise ValueError("boom-42")

# %%
print("never reached")
'''


def test_a_raising_cell_fails_the_build_and_names_notebook_cell_and_error(tmp_path):
    src = tmp_path / "broken_page.py"
    src.write_text(BAD)
    out = tmp_path / "out"
    proc = run_build(["--source", str(src), "--out", str(out), "--small"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "notebook 'broken_page'" in proc.stderr
    assert "code cell 2" in proc.stderr and "ValueError: boom-42" in proc.stderr
    assert (out / "broken_page.failed.html").is_file() and not (out / "broken_page.html").exists()
    assert "boom-42" in (out / "broken_page.failed.html").read_text()
    assert "FAILED" in (out / "index.html").read_text()
    assert json.loads((out / "build.json").read_text())["broken_page"]["last_attempt"]["ok"] is False


TINY = '''# %% [markdown]
# # Tiny page

# %%
import os, sys
print("EXE", os.path.realpath(sys.executable))
print("SMALL", os.environ.get("SSM_TDI_REPORT_SMALL"))
print("CWD", os.getcwd())

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
SECRET_INPUT_MARKER = 1
plt.plot([0, 1], [1, 0])
plt.show()
print("visible-output-marker")
'''


def test_tiny_page_end_to_end_uses_this_interpreter_not_an_installed_kernelspec(tmp_path):
    # A decoy 'python3' kernel spec first on JUPYTER_PATH, pointing at no interpreter at all:
    # the build must not look specs up (it always runs ipykernel on sys.executable).
    spec = tmp_path / "jp" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": ["/nonexistent/python", "-m", "ipykernel_launcher",
                                                           "-f", "{connection_file}"],
                                                  "display_name": "decoy", "language": "python"}))
    src = tmp_path / "tiny_page.py"
    src.write_text(TINY)
    out = tmp_path / "out"
    proc = run_build(["--source", str(src), "--out", str(out), "--small"], tmp_path,
                     {"JUPYTER_PATH": str(tmp_path / "jp"), "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stdout + proc.stderr

    nb = json.loads((out / "tiny_page.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert f"EXE {os.path.realpath(sys.executable)}\n" in text
    assert "SMALL 1\n" in text
    assert f"CWD {ROOT}\n" in text
    page = (out / "tiny_page.html").read_text()
    assert "<title>Tiny page</title>" in page
    assert "data:image/png;base64," in page  # the figure is embedded (MPLBACKEND=Agg was dropped)
    assert "visible-output-marker" in page and "SECRET_INPUT_MARKER" not in page  # hide-input tag honoured
    index = (out / "index.html").read_text()
    assert 'href="tiny_page.html"' in index
    assert f'href="{os.path.relpath(ROOT / "docs" / "claims.md", out)}"' in index  # the one numbering
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"


# ----------------------------------------------------------------------------- figures and the gallery
def test_png_for_page_shrinks_to_the_shown_width_and_keeps_the_picture(tmp_path):
    from PIL import Image

    from report import HIDPI, png_for_page

    src = ROOT / "paper_figures" / "output" / "quick" / "spectrum.png"
    data = png_for_page(src, 600)
    (tmp_path / "small.png").write_bytes(data)
    with Image.open(tmp_path / "small.png") as small, Image.open(src) as big:
        assert small.width == round(600 * HIDPI) and abs(small.height / small.width - big.height / big.width) < 0.01
        # the same picture: grey levels of both, brought to one size, agree (mean difference < 3 of 255)
        a = np.asarray(small.convert("L"), float)
        b = np.asarray(big.convert("L").resize(small.size, Image.Resampling.LANCZOS), float)
    assert np.abs(a - b).mean() < 3.0
    assert len(data) < src.stat().st_size / 2
    with pytest.raises(ValueError, match="width"):
        png_for_page(src, 0)


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, height: int = 2000) -> np.ndarray:
    """Render ``page`` in headless chromium (no network, a throw-away profile); the screenshot as RGB."""
    from PIL import Image

    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it when root)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size=1280,{height}",
                               page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    with Image.open(png) as im:
        return np.asarray(im.convert("RGB"))


def assert_not_blank(rgb: np.ndarray, what: str):
    """Text and a figure were drawn: enough dark (text) pixels and enough saturated (plot) pixels.

    Thresholds: a blank or error page is > 99.5% one colour; one line of text covers ~0.3% of a
    1280 x 2000 shot, a page of text ~3-8%; a plotted figure has thousands of coloured pixels.
    """
    grey = rgb.mean(axis=2)
    dark = (grey < 128).mean()
    saturation = rgb.max(axis=2).astype(int) - rgb.min(axis=2).astype(int)
    coloured = (saturation > 60).sum()
    assert dark > 0.005, f"{what}: only {dark:.2%} dark pixels: blank page?"
    assert coloured > 2000, f"{what}: only {coloured} coloured pixels: no figure rendered?"


def test_results_gallery_builds_small_shows_the_platform_once_and_renders_in_a_browser(tmp_path):
    out = tmp_path / "out"
    proc = run_build(["--only", "results_gallery", "--out", str(out), "--small"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = out / "results_gallery.html"
    text = page.read_text()
    n_figures = len(list((ROOT / "paper_figures" / "output" / "quick").glob("*.summary.json")))
    assert len(re.findall(r"<h2 id=[\"']fig-", text)) == n_figures
    platforms = {json.dumps(json.loads(p.read_text()).get("platform"), sort_keys=True)
                 for p in (ROOT / "paper_figures" / "output" / "quick").glob("*.summary.json")}
    # every platform's table once (it has a 'numpy_simd' row), never one per figure
    assert text.count(">numpy_simd<") == len(platforms) < n_figures
    # ~170 kB per embedded figure at 1150 px (measured 2-3 MB for the 12 quick figures; 7.1 MB before)
    assert page.stat().st_size < 350_000 * n_figures, f"{page.stat().st_size} bytes"
    # each figure links its full-size committed file, relative to where the page was written
    src = ROOT / "paper_figures" / "output" / "quick" / "spectrum.png"
    assert re.search(r"href=[\"']" + re.escape(os.path.relpath(src, out)) + r"[\"']", text)
    assert_not_blank(screenshot(page, tmp_path / "gallery.png"), "results_gallery.html")
