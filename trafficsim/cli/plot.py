"""``trafficsim plot``: figures, tidy tables and an index.html page from a directory of run folders."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from ..report import figures as figure_registry
from ..report.units import METRICS


def _help() -> str:
    """The command's help, listing the figures of the registry (trafficsim.report.figures)."""
    lines = ["Plot every run folder under DIR: figures (PNG and SVG), tidy CSV tables and a self-contained "
             "index.html.", "", "Figures, each drawn when the runs support it:", ""]
    lines += [f"* **{name}**: {info.summary}" for name, info in figure_registry.FIGURES.items()]
    lines += ["", "Damaged or foreign folders are skipped with one warning line each.", "",
              "Example: `trafficsim plot reports/ -m hardnet68,resnet50`"]
    return "\n".join(lines)


@app.command(no_args_is_help=True, help=_help())
def plot(
    directory: Annotated[Path, typer.Argument(help="Directory holding run folders (e.g. reports/).", metavar="DIR")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write figures and index.html "
                                                "(default: DIR/plots).")] = None,
    models: Annotated[Optional[list[str]], typer.Option(
        "--models", "-m", help="Only these models: names or patterns, repeated or comma-separated "
                               "(e.g. -m hardnet68,resnet50 or -m 'densenet*').")] = None,
    metric: Annotated[str, typer.Option(
        "--metric", help="Quantity of the per-layer, CIO and sweep figures: any numeric total, e.g. "
                         + ", ".join(METRICS) + ".")] = "dram_bytes",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the page path only.")] = False,
) -> None:
    from ..report import text_summary, write_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = write_report(directory, out, models, metric)
        finally:  # folders skipped, one line each (also before an error saying nothing was usable)
            for w in caught:
                print(f"trafficsim: warning: {w.message}", file=sys.stderr)
    if quiet:
        print(report.page)
        return
    print(text_summary(report.data))
    print(f"Figures ({len(report.files)}, PNG+SVG): {', '.join(report.files)}")
    print(f"Page: {report.page}")
