# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Results gallery: every committed figure, its key numbers and its reading
#
# Each figure script of the study (`paper_figures/fig_<name>.py`) writes, next to its figure, a
# summary (`<name>.summary.json`): the claim it tests, the command and profile that produced it,
# its key numbers, and a reading in words whose verdicts were computed from those numbers by the
# script. This page collects every summary found under `paper_figures/output/quick`, the committed profile (sub-folders
# included, so result sets added later appear without changes here) and shows each with its
# figure. Nothing on this page is recomputed; it only displays what the scripts wrote. Long
# tables of key numbers are folded: click to open them; click a figure for its full-size file.
# The claim labels (C1-C6, E1-E3, Q1-Q3) are those of `docs/claims.md`.

# %% tags=["hide-input"]
import html
import json
import os
from pathlib import Path

from IPython.display import HTML, Markdown, display

from report import ROOT, figure, fmt, table

OUT = ROOT / "paper_figures" / "output" / "quick"  # the committed profile (paper_figures.common.COMMITTED_PROFILE)
STANDARD = ("name", "title", "claim", "command", "profile", "device", "seconds", "key_numbers", "reading",
            "python", "torch", "platform")
PAGE_DIR = Path(os.environ.get("SSM_TDI_REPORT_OUT", ROOT / "report" / "_build"))  # where this page is written
try:  # the results page's section order; names it does not list follow alphabetically
    from paper_figures.results_page import ORDER
except ImportError:
    ORDER = []

summaries, broken = [], []
for path in sorted(OUT.rglob("*.summary.json")):
    try:
        s = json.loads(path.read_text())
        missing = [k for k in ("name", "title", "key_numbers", "reading") if k not in s]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
    except ValueError as exc:  # JSONDecodeError is a ValueError
        broken.append((path, str(exc)))
        continue
    s["_path"] = path
    summaries.append(s)


def order_key(s):
    rel = s["_path"].parent.relative_to(OUT)
    rank = ORDER.index(s["name"]) if s["name"] in ORDER else len(ORDER)
    return (str(rel) != ".", str(rel), rank, s["name"])


def figure_id(s):
    """The summary's path under OUT without the suffix, e.g. 'spectrum' or 'real/digits'."""
    return str(s["_path"].relative_to(OUT)).removesuffix(".summary.json")


def anchor(s):
    return "fig-" + figure_id(s).replace("/", "-")


summaries.sort(key=order_key)
display(Markdown(f"**{len(summaries)} summaries** found under `{OUT.relative_to(ROOT)}`"
                 + (f", **{len(broken)} unreadable** (listed at the end)." if broken else ".")))
cells = ["figure", "title", "profile", "device", "seconds", "key numbers"]
LEFT = "<td style='text-align:left'>"
rows_html = "".join(
    f"<tr>{LEFT}<a href='#{html.escape(anchor(s))}'>{html.escape(figure_id(s))}</a></td>"
    + "".join(f"{LEFT}{html.escape(fmt(v))}</td>" for v in (s["title"], s.get("profile", "?"), s.get("device", "?"),
                                                           s.get("seconds", "?"), len(s["key_numbers"])))
    + "</tr>" for s in summaries)
display(HTML("<table><thead><tr>" + "".join(f"<th style='text-align:left'>{c}</th>" for c in cells)
             + f"</tr></thead><tbody>{rows_html}</tbody></table>"))

# %% [markdown]
# ## Platform
#
# Each summary records the machine and library versions that produced it (`platform`); they are
# shown here once, not under every figure. Figures made on another platform name it in their section.

# %% tags=["hide-input"]
def platform_text(p):
    """A platform dict as one readable line per field (lists joined)."""
    if not isinstance(p, dict):
        return [("platform", fmt(p))]
    return [(k, ", ".join(map(str, v)) if isinstance(v, list) else fmt(v)) for k, v in p.items()]


platforms = {}  # canonical JSON of a platform -> the figure ids produced on it
for s in summaries:
    platforms.setdefault(json.dumps(s.get("platform"), sort_keys=True), []).append(figure_id(s))
platform_label = {key: f"platform {chr(ord('A') + i)}" for i, key in enumerate(platforms)}
for key, ids in platforms.items():
    p = json.loads(key)
    who = ("every figure was made on" if len(platforms) == 1
           else f"{platform_label[key]}, for " + ", ".join(ids))
    rows = "".join(f"<tr>{LEFT}{html.escape(k)}</td>{LEFT}{html.escape(v)}</td></tr>" for k, v in platform_text(p))
    display(HTML(f"<p><b>{html.escape(who)}</b></p><table><tbody>{rows}</tbody></table>"
                 if p is not None else f"<p><b>{html.escape(who)}</b>: no platform recorded.</p>"))


# %% tags=["hide-input"]
def show(s):
    """One section: title, claim, command, figure, key numbers, reading, any extra fields."""
    rel = s["_path"].relative_to(OUT)
    e = {k: html.escape(fmt(s.get(k, "?"))) for k in ("claim", "command", "profile", "device", "seconds")}
    where = "" if len(platforms) == 1 else f"; {platform_label[json.dumps(s.get('platform'), sort_keys=True)]}"
    display(HTML(f"<h2 id='{html.escape(anchor(s))}'>{html.escape(s['title'])}</h2>"
                 f"<p><b>Claim tested.</b> {e['claim']}</p>"
                 f"<p><b>Command.</b> <code>{e['command']}</code> (profile <code>{e['profile']}</code>, device "
                 f"{e['device']}, {e['seconds']} s{html.escape(where)}). "
                 f"Summary: <code>{html.escape(str(rel))}</code></p>"))
    png = s["_path"].with_name(s["_path"].name.removesuffix(".summary.json") + ".png")
    if png.is_file():
        display(figure(png, width=1150, link=os.path.relpath(png, PAGE_DIR)))
    else:
        display(HTML(f"<p style='color:#b00'>No figure next to the summary (expected {html.escape(png.name)}).</p>"))
    rows = [{"key number": k, "value": v} for k, v in s["key_numbers"].items()]
    display(table(rows, collapse_after=20, summary="key numbers"))
    # the scripts separate the parts of a long reading with " | ": one line each here
    reading = "<br>".join(html.escape(part) for part in str(s["reading"]).split(" | "))
    display(HTML(f"<p><b>Reading.</b> {reading}</p>"))
    extra = {k: v for k, v in s.items() if k not in STANDARD and not k.startswith("_")}
    for k, v in extra.items():
        items = v if isinstance(v, list) else [v]
        body = "".join(f"<li>{html.escape(fmt(x) if not isinstance(x, dict) else json.dumps(x))}</li>"
                       for x in items)
        display(HTML(f"<details><summary>other field <code>{html.escape(k)}</code> ({len(items)} "
                     f"entr{'y' if len(items) == 1 else 'ies'}; click to open)</summary><ul>{body}</ul></details>"))


for s in summaries:
    show(s)

# %% tags=["hide-input"]
if broken:
    display(HTML("<h2>Unreadable summaries</h2><ul>" + "".join(
        f"<li><code>{html.escape(str(p.relative_to(ROOT)))}</code>: {html.escape(e)}</li>" for p, e in broken)
        + "</ul>"))
    raise RuntimeError(f"{len(broken)} unreadable summary file(s): " + "; ".join(f"{p.name}: {e}" for p, e in broken))
if not summaries:
    raise RuntimeError(f"no *.summary.json under {OUT}: run `make figures` first")
print(f"{len(summaries)} figures shown.")
