"""The report page: one self-contained ``index.html`` beside the figures (no scripts, no network access):
the figures (PNG, with links to the SVGs) with the captions it is given, summary tables, links to the tidy
tables and to each run folder's CSVs, and the folders that were skipped. It draws nothing and imports no
figure code: the caller passes the files and captions."""
from __future__ import annotations

import datetime as _dt
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_write_text
from .tables import engine_pairs, runs_in_order

if TYPE_CHECKING:
    from .loading import ReportData

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
figure { margin: 1em 0 2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; } th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: -0.1em; margin-right: 0.35em;
          border-radius: 2px; }
.note { font-size: 0.85em; color: #555; } .warn { color: #8a4b00; }
.badge { display: inline-block; font-size: 0.8em; padding: 0 0.4em; margin-left: 0.3em; border-radius: 3px;
         background: #fbe3c8; color: #8a4b00; border: 1px solid #e0b080; white-space: nowrap; }
nav a { margin-right: 1em; }
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _href(target: Path, base: Path) -> str:
    """A relative URL from ``base`` to ``target`` (POSIX separators, URL-quoted)."""
    from urllib.parse import quote

    rel = os.path.relpath(Path(target).resolve(), Path(base).resolve())
    return quote(Path(rel).as_posix())


def _num(v: object, fmt: str = "{:,.0f}") -> str:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if f != f:
        return "–"
    return fmt.format(f)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int], table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                      for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def runs_table_html(data: "ReportData", out_dir: Path) -> str:
    """The summary table: one row per run with totals and links to the run folder's CSV files. The workload and
    the DRAM get their own columns where the runs differ in them or use them (DRAM cycles, row-hit rate,
    achieved and peak bandwidth, DRAM energy); a run made with SCALE-Sim fixes carries a badge naming them."""
    from .figures_dram import dram_columns

    colors = data.colors()
    runs = runs_in_order(data)
    has_latency = "latency_ms" in runs.columns and runs["latency_ms"].notna().any()
    has_workload = "workload" in runs.columns and runs["workload"].astype(str).str.len().gt(0).any()
    has_memory = "memory" in runs.columns and runs["memory"].nunique() > 1
    dram = dram_columns(runs)
    headers = (["network"] + (["workload"] if has_workload else []) + ["hardware"] + (["DRAM"] if has_memory else [])
               + ["engine", "total cycles", "DRAM MB", "IFMAP MB", "FILTER MB", "OFMAP MB", "CIO (M elements)",
                  "MACs (G)"] + (["latency (ms)"] if has_latency else []) + [head for _, head, _ in dram] + ["files"])
    first_num = headers.index("total cycles")
    rows = []
    for _, r in runs.iterrows():
        folder = Path(r["path"])
        links = "" if not str(r["path"]) else " ".join(f'<a href="{_href(folder / f, out_dir)}">{_e(f)}</a>'
                         for f in ("layers.csv", "COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv",
                                   "DETAILED_ACCESS_REPORT.csv", "summary.json") if (folder / f).exists())
        row = [f'<span class="swatch" style="background:{colors[r["network"]]}"></span>{_e(r["network"])}']
        if has_workload:
            row.append(_e(r["workload"] or "batch 1"))
        row.append(_e(r["hardware_label"]))
        if has_memory:
            row.append(_e(r["memory"]))
        fixes = str(r.get("fixes") or "")
        row.append(_e(r["engine"]) + (f'<span class="badge" title="SCALE-Sim with these bugs fixed: not SCALE-Sim '
                                      f'3.0.0\'s numbers">fixed: {_e(fixes)}</span>' if fixes else ""))
        row += [_num(r["total_cycles"]), _num(r["dram_bytes"] / 1e6, "{:,.3f}"),
                _num(r["dram_ifmap_bytes"] / 1e6, "{:,.3f}"), _num(r["dram_filter_bytes"] / 1e6, "{:,.3f}"),
                _num(r["dram_ofmap_bytes"] / 1e6, "{:,.3f}"),
                _num(r["cio"] / 1e6, "{:,.3f}") if "cio" in r else "–",
                _num(r["macs"] / 1e9, "{:,.3f}") if "macs" in r else "–"]
        if has_latency:
            row.append(_num(r.get("latency_ms"), "{:,.3f}"))
        for col, _, fmt in dram:
            v = r.get(col)
            row.append(_num(v * 100 if isinstance(v, (int, float)) else v, "{:.1f}") if fmt == "pct" else
                       _num(v / 1e6 if isinstance(v, (int, float)) else v, "{:,.3f}") if fmt == "uj" else _num(v, fmt))
        row.append(links)
        rows.append(row)
    numeric = set(range(first_num, len(headers) - 1))
    return _table(headers, rows, numeric, "runs-table")


def fixes_note_html(data: "ReportData") -> str:
    """A warning paragraph when some runs were made with SCALE-Sim fixes ("" otherwise)."""
    if "fixes" not in data.runs.columns:
        return ""
    fixed = data.runs[data.runs["fixes"].astype(str).str.len() > 0]
    if fixed.empty:
        return ""
    names = sorted({n.strip() for f in fixed["fixes"] for n in str(f).split(",") if n.strip()})
    mixed = len(fixed) < len(data.runs)
    return (f'<p class="note warn"><b>{len(fixed)} run(s) made with SCALE-Sim fixes</b> ({_e(", ".join(names))}; '
            "docs/compat.md, Fixes): their numbers are SCALE-Sim's model with those bugs fixed, not SCALE-Sim "
            "3.0.0's. They are badged in the runs table, named in every label (\u201cSCALE-Sim fixes: \u2026\u201d), "
            "drawn in panels of their own (\u201cSCALE-Sim's model with fixes\u201d) and never paired with the "
            "capacity model as SCALE-Sim's numbers"
            + (". This report mixes them with unfixed runs." if mixed else ".") + "</p>")


def engines_table_html(data: "ReportData") -> str:
    """Compatible vs capacity-aware totals where both exist (empty string otherwise)."""
    pairs = engine_pairs(data.runs)
    if pairs.empty:
        return ""
    headers = ["network", "hardware", "DRAM MB (compatible)", "DRAM MB (capacity)", "ratio",
               "cycles (compatible)", "cycles (capacity)"]
    rows = []
    for _, r in pairs.iterrows():
        a, b = float(r["dram_bytes_compatible"]), float(r["dram_bytes_capacity"])
        rows.append([_e(r["network"]), _e(r["hardware_label"]), _num(a / 1e6, "{:,.3f}"), _num(b / 1e6, "{:,.3f}"),
                     _num(b / a if a else float("nan"), "{:.3f}"), _num(r["total_cycles_compatible"]),
                     _num(r["total_cycles_capacity"])])
    return _table(headers, rows, {2, 3, 4, 5, 6}, "engines-table")


def write_page(data: "ReportData", out_dir: Path, files: dict[str, tuple[Path, Path]],
               tables: dict[str, Path], captions: dict[str, str]) -> Path:
    """Write ``out_dir/index.html`` and return its path: the figures in ``files`` (name -> PNG, SVG) in that
    order, each with ``captions[name]``; the runs table; the ``tables`` (key -> CSV path) as links."""
    out_dir = Path(out_dir)
    title = f"trafficsim report: {_e(data.directory)}"
    parts = [f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<style>{_CSS}</style>\n</head>\n<body>',
             f"<h1>{title}</h1>",
             f'<p class="note">{len(data.runs)} run(s) of {len(data.networks)} network(s) on '
             f'{data.runs["hardware"].nunique()} hardware configuration(s); engines: '
             f'{_e(", ".join(sorted(data.runs["engine"].unique())))}. Generated '
             f'{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}. '
             f"1 MB = 10<sup>6</sup> bytes; CIO counts feature-map elements (HarDNet's metric).</p>",
             fixes_note_html(data),
             "<nav>" + "".join(f'<a href="#{n}">{_e(n.replace("_", " "))}</a>' for n in files)
             + '<a href="#runs">runs</a><a href="#data">data</a></nav>']
    for name, (png, svg) in files.items():
        caption = captions.get(name, name)
        parts.append(f'<figure id="{_e(name)}"><a href="{_href(svg, out_dir)}"><img src="{_href(png, out_dir)}" '
                     f'alt="{_e(caption)}"></a><figcaption><b>{_e(name)}</b>: {_e(caption)} '
                     f'(<a href="{_href(png, out_dir)}">PNG</a>, <a href="{_href(svg, out_dir)}">SVG</a>)'
                     f"</figcaption></figure>")
    parts.append('<h2 id="runs">Runs</h2>')
    parts.append(runs_table_html(data, out_dir))
    eng = engines_table_html(data)
    if eng:
        parts.append("<h2>Compatible vs capacity-aware model</h2>")
        parts.append(eng)
    parts.append('<h2 id="data">Data</h2><ul>')
    for key, path in tables.items():
        parts.append(f'<li><a href="{_href(path, out_dir)}">{_e(path.name)}</a>: one row per '
                     f'{"run" if key == "runs" else "layer"} (tidy CSV)</li>')
    parts.append("</ul>")
    if data.warnings:
        parts.append('<h2>Skipped</h2><ul class="warn">'
                     + "".join(f"<li>{_e(w)}</li>" for w in data.warnings) + "</ul>")
    parts.append("</body>\n</html>\n")
    page = out_dir / "index.html"
    atomic_write_text(page, "\n".join(parts))
    return page
