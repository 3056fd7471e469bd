"""``trafficsim plot``: figures, tidy tables and an index.html page from a directory of run folders."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand

from . import app
from ..report.units import METRICS


_SUMMARY = "Plot every run folder under DIR: figures (PNG and SVG), tidy CSV tables and a self-contained index.html."


def _help() -> str:
    """The command's help, listing the figures of the registry (trafficsim.report.figures)."""
    from ..report import figures as figure_registry

    lines = [_SUMMARY, "", "Figures, each drawn when the runs support it:", ""]
    lines += [f"* **{name}**: {info.summary}" for name, info in figure_registry.FIGURES.items()]
    lines += ["", "Damaged or foreign folders are skipped with one warning line each.", "",
              "Example: `trafficsim plot reports/ -m hardnet68,resnet50`"]
    return "\n".join(lines)


class _PlotCommand(TyperCommand):
    """``plot`` with its full help (the figure registry's list) built only when the help is shown: every other
    command then runs without importing the figure modules."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.help = _help()
        super().format_help(ctx, formatter)


@app.command(no_args_is_help=True, cls=_PlotCommand, help=_SUMMARY)
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
