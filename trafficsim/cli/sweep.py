"""``trafficsim sweep spec.toml``: run a grid of models x hardware points, write one CSV."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app

_EXAMPLE = """\
models = ["resnet18", "hardnet68"]      # zoo names or SCALE-Sim topology CSVs
arrays = ["8x8", "32x32", "128x128"]
dataflows = ["os", "ws", "is"]
sram_kb = [16, 64, [512, 512, 256]]     # all three buffers, or [ifmap, filter, ofmap]
engine = "compat"
output = "reports/my-sweep.csv"
[hardware]                              # optional base Hardware fields
word_bytes = 1
"""


@app.command(no_args_is_help=True, epilog="Example spec:\n\n" + _EXAMPLE.replace("\n", "\n\n"))
def sweep(
    spec_path: Annotated[Path, typer.Argument(help="Sweep spec (TOML): models, arrays, dataflows, sram_kb, engine, "
                                         "[hardware] base fields or [[points]] tables.", metavar="SPEC.toml")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result CSV (default: the spec's 'output', "
                                                "else reports/SPEC.csv).")] = None,
    executor: Annotated[Optional[str], typer.Option("--executor", "-x", help="serial, process (local cores; default) "
                                                    "or dask.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", help="Processes for the process executor "
                                                   "(default: all cores).")] = None,
    dask_address: Annotated[Optional[str], typer.Option("--dask", help="Dask scheduler address, e.g. "
                                                        "tcp://10.0.0.5:8786 (implies --executor dask).")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", "-e", help="Override the spec's engine: compat, "
                                                  "capacity or scalesim.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Per-point cache folder (default: the "
                                                      "spec's cache_dir, else reports/sweeps).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Compute every point; read and write no cache.")] = False,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="One row per layer instead of per point.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; print the CSV path only.")]
    = False,
) -> None:
    """Run the sweep described by SPEC.toml and write one tidy CSV (one row per point, with its totals).

    Finished points are cached under reports/sweeps, so re-running (or resuming an interrupted sweep)
    computes only what is missing. Example: trafficsim sweep sweep.toml -j 2 (spec format: docs/sweeps.md)
    """
    import time

    from ..files import atomic_write_text
    from ..sweeps import read_spec, run_spec

    spec, output = read_spec(spec_path)
    overrides: dict = {k: v for k, v in (("executor", executor), ("workers", workers),
                                         ("dask_address", dask_address), ("engine", engine)) if v is not None}
    if dask_address is not None and executor is None:
        overrides["executor"] = "dask"
    if per_layer:
        overrides["per_layer"] = True
    if no_cache:
        overrides["cache_dir"] = None
    elif cache_dir is not None:
        overrides["cache_dir"] = cache_dir
    spec = spec.with_(progress=not quiet, **overrides)
    target = out or output or Path("reports") / f"{spec_path.stem}.csv"

    _check_output_file(target)  # now, not after an hour of sweeping

    t0 = time.perf_counter()
    df = run_spec(spec)
    elapsed = time.perf_counter() - t0
    atomic_write_text(target, df.to_csv(index=False))
    if quiet:
        print(target)
        return
    _print_table(df, spec.per_layer)
    a = df.attrs
    print(f"{a['points']} points ({a['computed']} computed, {a['cached']} from cache) in {elapsed:.2f} s -> {target}")


def _check_output_file(path: Path) -> None:
    """An :class:`OutputError` now when the CSV could not be written at ``path`` (a folder or device there, a
    file where a folder of its path belongs). Creates nothing; what only writing can tell (a read-only
    folder, a full disk) is reported by the write, on one line too."""
    import os
    import stat

    from ..errors import OutputError

    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # the parent check below says which
        mode = None
    except OSError as e:
        raise OutputError(f"{path}: {e.strerror or e}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError(f"{path}: is a folder; give a CSV file name (-o/--out)")
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OutputError(f"{path}: not a regular file (a device, FIFO or socket); not replacing it")
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if os.path.lexists(parent) and not parent.is_dir():
        raise OutputError(f"{parent}: is a file, not a folder (needed for {path})")


def _print_table(df, per_layer: bool, max_rows: int = 30) -> None:
    """The first rows of the result: point columns, cycles, utilisation and DRAM traffic."""
    from rich.console import Console
    from rich.table import Table

    if per_layer:
        return
    cols = [c for c in ("model", "array", "dataflow", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
                        "total_cycles", "overall_util_pct", "dram_bytes") if c in df.columns]
    headers = {"ifmap_sram_kb": "I kB", "filter_sram_kb": "F kB", "ofmap_sram_kb": "O kB",
               "total_cycles": "cycles", "overall_util_pct": "util %", "dram_bytes": "DRAM bytes"}
    table = Table(show_header=True, header_style="bold")
    for c in cols:
        table.add_column(headers.get(c, c), justify="left" if df[c].dtype == object else "right")
    for _, row in df.head(max_rows).iterrows():
        table.add_row(*(f"{row[c]:.2f}" if isinstance(row[c], float) else
                        f"{row[c]:,}" if isinstance(row[c], int) or hasattr(row[c], "dtype") else str(row[c])
                        for c in cols))
    console = Console()
    console.print(table)
    if len(df) > max_rows:
        console.print(f"... {len(df) - max_rows} more rows in the CSV")
