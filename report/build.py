"""``python -m report.build [--small] [--only NAME] [--out DIR]``: execute the report, render HTML.

Each notebook lives in git as a jupytext percent-format source ``report/<name>.py``. The build
reads it with jupytext, executes it top to bottom in a fresh kernel (nbclient, a time limit per
cell), and renders the executed notebook to one self-contained HTML page with nbconvert
(figures are embedded). It writes ``<out>/<name>.html``, the executed ``<out>/<name>.ipynb``,
and ``<out>/index.html`` with one line per page. Every file is written to a temporary name and
renamed, so an interrupted build never leaves half a page.

A notebook whose cell raises (or times out, or kills its kernel) fails the build: the command
goes on with the other notebooks, then exits 1 and names each failed notebook, the cell and the
error. The partly executed notebook is kept as ``<name>.failed.html`` (with the traceback) and
a page from an earlier successful build is left as it was.

Kernel: always ipykernel on this very interpreter (``sys.executable``), whatever kernel specs are
installed. A fresh virtual environment with no kernel spec works, and a stale user-level
``python3`` spec that points at another Python is never used.

Sizes: ``--small`` (or ``SSM_TDI_REPORT_SMALL=1``) passes ``SSM_TDI_REPORT_SMALL=1`` to the
kernel; the notebooks then pick small sizes (CI). The repository root is the kernel's working
directory and is on its ``PYTHONPATH``, so notebooks import ``theory``, ``verify`` and
``paper_figures`` like the tests do.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT_DIR = ROOT / "report"
DEFAULT_OUT = REPORT_DIR / "_build"
SMALL_ENV = "SSM_TDI_REPORT_SMALL"
OUT_ENV = "SSM_TDI_REPORT_OUT"  # the output folder, told to the kernel so pages can link files relative to it
# Cell tags understood by the renderer (set in the sources as ``# %% tags=["hide-input"]``).
HIDE_INPUT_TAG = "hide-input"  # show the cell's output, not its code
REMOVE_CELL_TAG = "remove-cell"  # run the cell, show nothing

# Formulas are written as text blocks in the markdown (readable with or without MathJax, which
# the page would fetch from the network); give those blocks some room.
_EXTRA_CSS = ("<style>.jp-RenderedMarkdown pre{background:#f6f6f6;padding:0.5em 0.8em;margin:0.6em 0 0.9em 0;"
              "border-radius:3px}.jp-RenderedHTMLCommon details summary{cursor:pointer;color:#245}</style>\n")

# The notebooks, in the order of the index, each with its line there.
NOTEBOOKS = {
    "theory_walkthrough": "Claims C1-C5: each stated, proved symbolically at small L, checked numerically, "
                          "and drawn, all run live.",
    "tdi_tutorial": "TDI on scikit-learn's digits read as sequences: S_task, |H|^2 before and after, and test "
                    "accuracy with and without TDI.",
    "results_gallery": "Every committed figure of paper_figures/output/quick with its key numbers and its reading.",
}

__all__ = ["NOTEBOOKS", "BuildError", "read_source", "execute", "render_html", "build_one", "main"]


class BuildError(RuntimeError):
    """A notebook failed to execute; the message names the notebook, the cell and the error."""

    def __init__(self, name: str, message: str, nb=None):
        super().__init__(f"notebook {name!r}: {message}")
        self.name, self.nb = name, nb


@dataclass
class Outcome:
    name: str
    ok: bool
    seconds: float
    message: str = ""


# ----------------------------------------------------------------------------- helpers
def atomic_write(path: Path, data: str) -> None:
    """Write ``data`` (utf-8) to ``path`` with the project's one atomic writer (``ssm_tdi._io``)."""
    from ssm_tdi._io import atomic_write_bytes

    atomic_write_bytes(path, data.encode("utf-8"))


def read_source(path):
    """The jupytext percent-format source at ``path`` as an (unexecuted) notebook."""
    import jupytext

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no notebook source at {path}")
    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


def _kernel_manager():
    """An AsyncKernelManager whose 'python3' is ipykernel on ``sys.executable`` (no spec lookup)."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python 3 (ipykernel)", language="python", resource_dir=str(ROOT))

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())


def _kernel_env(small: bool) -> dict:
    env = dict(os.environ)
    env[SMALL_ENV] = "1" if small else "0"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("MPLBACKEND", None)  # a non-inline backend (e.g. Agg from CI) would drop every figure
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's frozen-modules notice on 3.11+
    return env


def _failed_cell(nb) -> tuple[int, str]:
    """(index among code cells, first source line) of the first cell with an error output."""
    k = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        k += 1
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            return k, first
    return -1, ""


def execute(nb, name: str, *, small: bool, timeout: int):
    """Run every cell of ``nb`` in place; raise :class:`BuildError` naming ``name`` if one fails."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellTimeoutError, DeadKernelError

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", km=_kernel_manager(),
                            resources={"metadata": {"path": str(ROOT)}}, allow_errors=False,
                            record_timing=False,
                            # the kernel's own log: errors only (ipykernel 7 warns about plain TCP on
                            # every start, a local kernel talking to its parent on 127.0.0.1)
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    try:
        client.execute(env=_kernel_env(small))
    except CellTimeoutError as exc:
        raise BuildError(name, f"a cell ran past the {timeout} s limit per cell ({exc})", nb) from exc
    except DeadKernelError as exc:
        raise BuildError(name, f"the kernel died ({exc})", nb) from exc
    except CellControlSignal as exc:  # CellExecutionError: an exception inside a cell
        idx, first = _failed_cell(nb)
        where = f"code cell {idx} ({first.strip()[:70]!r})" if idx > 0 else "a cell"
        ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
        raise BuildError(name, f"{where} raised {ename}: {evalue}", nb) from exc
    return nb


def _find_nbconvert_templates() -> None:
    """Put nbconvert's own data folder on JUPYTER_PATH when Jupyter's search path misses it.

    nbconvert ships its templates as data files under ``<prefix>/share/jupyter``; a virtual
    environment created with ``--system-site-packages`` does not search the base prefix, and
    rendering fails with "No template sub-directory with name 'lab'". The folder is found from
    where the nbconvert package itself is installed.
    """
    import nbconvert
    from jupyter_core.paths import jupyter_path

    if any((Path(d) / "lab").is_dir() for d in jupyter_path("nbconvert", "templates")):
        return
    for parent in Path(nbconvert.__file__).resolve().parents:
        d = parent / "share" / "jupyter"
        if (d / "nbconvert" / "templates" / "lab").is_dir():
            os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (os.environ.get("JUPYTER_PATH"), str(d)) if p)
            return


def render_html(nb, title: str) -> str:
    """Self-contained HTML of an executed notebook (tagged inputs/cells hidden, no prompts)."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    _find_nbconvert_templates()
    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    c.TagRemovePreprocessor.remove_cell_tags = {REMOVE_CELL_TAG}
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    body, _ = HTMLExporter(config=c).from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body.replace("</head>", _EXTRA_CSS + "</head>", 1)


def _title(nb, name: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for ln in cell.source.splitlines():
                if ln.startswith("# "):
                    return ln[2:].strip()
    return name


def build_one(source: Path, out: Path, *, small: bool, timeout: int) -> Outcome:
    """Execute and render one source; write ``<out>/<name>.html`` and ``.ipynb`` (or ``.failed.html``)."""
    import nbformat

    name = source.stem
    t0 = time.perf_counter()
    nb = read_source(source)
    title = _title(nb, name)
    try:
        execute(nb, name, small=small, timeout=timeout)
    except BuildError as exc:
        atomic_write(out / f"{name}.failed.html", render_html(nb, f"FAILED: {title}"))
        return Outcome(name, False, time.perf_counter() - t0, str(exc))
    atomic_write(out / f"{name}.ipynb", nbformat.writes(nb))
    atomic_write(out / f"{name}.html", render_html(nb, title))
    stale = out / f"{name}.failed.html"
    if stale.exists():
        stale.unlink()
    return Outcome(name, True, time.perf_counter() - t0)


def _update_manifest(out: Path, outcomes: list[Outcome], small: bool) -> dict:
    path = out / "build.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        manifest = {}
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for o in outcomes:
        entry = manifest.get(o.name, {})
        entry["last_attempt"] = {"ok": o.ok, "seconds": round(o.seconds, 1), "small": small, "when": stamp,
                                 "message": o.message}
        if o.ok:
            entry["built"] = {"seconds": round(o.seconds, 1), "small": small, "when": stamp}
        manifest[o.name] = entry
    atomic_write(path, json.dumps(manifest, indent=1) + "\n")
    return manifest


def render_index(out: Path, manifest: dict, descriptions: dict) -> str:
    """index.html: one line per page present in ``out`` (registered notebooks first)."""
    names = list(descriptions) + sorted(set(manifest) - set(descriptions))
    items = []
    for n in names:
        built = manifest.get(n, {}).get("built")
        last = manifest.get(n, {}).get("last_attempt", {})
        desc = html.escape(descriptions.get(n, ""))
        if built and (out / f"{n}.html").exists():
            mode = "small sizes" if built["small"] else "default sizes"
            line = (f'<a href="{n}.html">{n}</a> &mdash; {desc} <span class="meta">({mode}, '
                    f'{built["seconds"]} s, {built["when"]})</span>')
        else:
            line = f"{n} &mdash; {desc} <span class=\"meta\">(not built)</span>"
        if last and not last.get("ok", True):
            line += (f' <span class="fail">last build FAILED: {html.escape(last["message"])} '
                     f'(<a href="{n}.failed.html">partial page</a>)</span>')
        items.append(f"<li>{line}</li>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ssm-tdi report</title>\n"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}"
            ".meta{color:#666;font-size:90%}.fail{color:#b00}</style></head><body>\n"
            "<h1>ssm-tdi: executed report</h1>\n<p>Built by <code>python -m report.build</code> "
            "(<code>make report</code>); every number on these pages was computed when the page was built. "
            "The claims (C1-C6), experiments (E1-E3) and open questions (Q1-Q3) they refer to are stated in "
            f"<a href=\"{html.escape(os.path.relpath(ROOT / 'docs' / 'claims.md', out))}\">docs/claims.md</a>.</p>\n"
            "<ul>\n" + "\n".join(items) + "\n</ul>\n</body></html>\n")


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m report.build",
                                 description="Execute the report notebooks (report/*.py) and render them to HTML.")
    ap.add_argument("--small", action="store_true",
                    help=f"small sizes for CI (also on when {SMALL_ENV}=1 is set)")
    ap.add_argument("--only", choices=list(NOTEBOOKS), action="append", metavar="NAME",
                    help=f"build only this notebook (repeatable): {', '.join(NOTEBOOKS)}")
    ap.add_argument("--source", type=Path, action="append", metavar="FILE",
                    help="build this percent-format source instead of the registered notebooks (repeatable)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default report/_build)")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds allowed per cell (default 600, 300 with --small)")
    args = ap.parse_args(argv)
    if args.only and args.source:
        ap.error("--only and --source: give one or the other")
    small = args.small or os.environ.get(SMALL_ENV, "") == "1"
    timeout = args.timeout if args.timeout is not None else (300 if small else 600)
    if timeout < 1:
        ap.error(f"--timeout: expected seconds >= 1, got {timeout}")
    missing = [m for m in ("jupytext", "nbclient", "nbconvert", "ipykernel") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"report.build: missing {', '.join(missing)}; install the report extra: "
              f'pip install -e ".[report]"', file=sys.stderr)
        return 2
    sources = args.source or [REPORT_DIR / f"{n}.py" for n in (args.only or NOTEBOOKS)]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ[OUT_ENV] = str(out)

    outcomes = []
    for src in sources:
        print(f"report.build: {src.stem} ({'small' if small else 'default'} sizes) ...", flush=True)
        o = build_one(Path(src), out, small=small, timeout=timeout)
        outcomes.append(o)
        print(f"report.build: {o.name}: {'ok' if o.ok else 'FAILED'} in {o.seconds:.1f} s", flush=True)
    manifest = _update_manifest(out, outcomes, small)
    descriptions = dict(NOTEBOOKS) if not args.source else {o.name: "" for o in outcomes}
    atomic_write(out / "index.html", render_index(out, manifest, descriptions))
    print(f"report.build: wrote {out / 'index.html'}")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"report.build: FAILED {o.message}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
