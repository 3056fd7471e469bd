"""``trafficsim plot``: figures, tidy tables and an index.html page from a directory of run folders."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app


@app.command(no_args_is_help=True)
def plot(
    directory: Annotated[Path, typer.Argument(help="Directory holding run folders (e.g. reports/).", metavar="DIR")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write figures and index.html "
                                                "(default: DIR/plots).")] = None,
    models: Annotated[Optional[list[str]], typer.Option(
        "--models", "-m", help="Only these models: names or patterns, repeated or comma-separated "
                               "(e.g. -m hardnet68,resnet50 or -m 'densenet*').")] = None,
    metric: Annotated[str, typer.Option(
        "--metric", help="Quantity of the per-layer, CIO and sweep figures: dram_bytes (default), dram_words, "
                         "dram_ifmap_reads, dram_filter_reads, dram_ofmap_writes, total_cycles, stall_cycles, "
                         "latency_ms, energy_uj...")] = "dram_bytes",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the page path only.")] = False,
) -> None:
    """Plot every run folder under DIR: DRAM traffic by operand, cycles, per-layer traffic with dense blocks,
    traffic against CIO, array/SRAM sweeps and compatible vs capacity model; writes PNG+SVG, tidy CSVs and
    a self-contained index.html. Example: trafficsim plot reports/ -m hardnet68,resnet50
    """
    from ..plots import write_report, text_summary

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = write_report(directory, out, models, metric)
    for w in caught:  # folders skipped, one line each
        print(f"trafficsim: warning: {w.message}", file=sys.stderr)
    if quiet:
        print(report.page)
        return
    print(text_summary(report.data))
    print(f"Figures ({len(report.files)}, PNG+SVG): {', '.join(report.files)}")
    print(f"Page: {report.page}")
