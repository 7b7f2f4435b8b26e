"""The executed report: notebooks kept as jupytext sources, built by ``python -m report.build``.

This module holds the few display helpers the notebooks share (imported inside the kernel);
nothing here computes a result. Heavy imports (IPython, torch) happen inside the functions so
that ``python -m report.build`` starts quickly.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_ENV = "SSM_TDI_REPORT_SMALL"

__all__ = ["ROOT", "small_mode", "fmt", "table", "png_for_page", "figure", "proofs_table", "rows_table"]


def small_mode() -> bool:
    """True when the build asked for small sizes (``SSM_TDI_REPORT_SMALL=1``)."""
    return os.environ.get(SMALL_ENV, "") == "1"


def fmt(v) -> str:
    """A number or value as short text: 4 significant digits for floats, lists element-wise."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


def table(rows: list[dict], columns: list[str] | None = None, *, collapse_after: int | None = None,
          summary: str = "table"):
    """An HTML table of dicts (one row each); longer than ``collapse_after`` rows: folded in <details>."""
    from IPython.display import HTML

    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise TypeError("rows: expected a list of dicts")
    columns = columns or (list(rows[0]) if rows else [])
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(fmt(r.get(c, '')))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    t = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if collapse_after is not None and len(rows) > collapse_after:
        t = f"<details><summary>{html.escape(summary)} ({len(rows)} rows; click to open)</summary>{t}</details>"
    return HTML(t)


# Embedded figures are resampled to the width they are shown at (times HIDPI, so they stay sharp on
# high-density screens) and stored with a 256-colour palette: line plots look the same, and a page of
# a dozen figures shrinks from ~7 MB to ~2 MB. The committed PNG stays linked at full size.
HIDPI = 1.25


def png_for_page(path, width: int) -> bytes:
    """The PNG at ``path`` as PNG bytes at most ``round(width * HIDPI)`` pixels wide, 256-colour palette."""
    import io

    from PIL import Image

    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width: expected a positive int (pixels), got {width!r}")
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    target = round(width * HIDPI)
    if rgb.width > target:
        rgb = rgb.resize((target, max(1, round(rgb.height * target / rgb.width))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def figure(path, width: int = 900, link: str | None = None):
    """Embed a PNG file (by value, so the HTML page is self-contained) shown ``width`` pixels wide.

    The embedded copy is made by :func:`png_for_page`; ``link`` (a URL, e.g. a relative path to the
    committed file) makes the picture a link to the full-size figure.
    """
    import base64

    from IPython.display import HTML

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no figure at {path}")
    data = base64.b64encode(png_for_page(path, width)).decode("ascii")
    img = (f"<img src='data:image/png;base64,{data}' width='{width}' style='max-width:100%;height:auto' "
           f"alt='{html.escape(path.name)}'>")
    if link:
        img = f"<a href='{html.escape(link)}' title='full size'>{img}</a>"
    return HTML(img)


def proofs_table(results) -> object:
    """Table of :class:`theory.exact.ProofResult`: verdict, identity, range of L, sub-checks, seconds."""
    return table([{"verdict": "PROVED" if r.ok else "FAILED", "identity": r.name, "scope": r.scope,
                   "statement": r.statement, "sub-checks": len(r.checks), "seconds": round(r.seconds, 2)}
                  for r in results])


def rows_table(rows) -> object:
    """Table of :class:`verify.common.Row`: claim, check, what was measured, tolerance, verdict."""
    return table([{"claim": r.claim, "check": r.check, "statement": r.statement, "measured": r.measured,
                   "tolerance (origin)": r.tolerance, "result": r.verdict} for r in rows])
