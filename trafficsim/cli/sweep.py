"""``trafficsim sweep spec.toml``: run a grid of models x hardware points, write one CSV."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .run import engine_help

_EXAMPLE = """\
models = ["resnet18", "hardnet68"]      # zoo names, topology CSVs, file.py:attr
arrays = ["8x8", "32x32", "128x128"]
dataflows = ["os", "ws", "is"]
sram_kb = [16, 64, [512, 512, 256]]     # all three buffers, or [ifmap, filter, ofmap]
dram = ["ideal", "ddr4-3200", "lpddr4-3200 channels=2"]
batch = [1, 8]                          # also precision, phase, seq_len, context
engine = "capacity"
tiling = ["per-operand", "uniform"]     # options of the engine (trafficsim run --help lists them)
output = "reports/my-sweep.csv"
[hardware]                              # optional base Hardware fields
clock_mhz = 1000
"""


@app.command(no_args_is_help=True, epilog="Example spec:\n\n" + _EXAMPLE.replace("\n", "\n\n"))
def sweep(
    spec_path: Annotated[Path, typer.Argument(help="Sweep spec (TOML): models, arrays, dataflows, sram_kb, dram, "
                                         "batch, precision, phase, seq_len, context, engine and its options, "
                                         "[hardware] base fields or [[points]] tables.", metavar="SPEC.toml")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result CSV (default: the spec's 'output', "
                                                "else reports/SPEC.csv).")] = None,
    executor: Annotated[Optional[str], typer.Option("--executor", "-x", help="serial, process (local cores; default) "
                                                    "or dask.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", help="Processes for the process executor "
                                                   "(default: all cores).")] = None,
    dask_address: Annotated[Optional[str], typer.Option("--dask", help="Dask scheduler address, e.g. "
                                                        "tcp://10.0.0.5:8786 (implies --executor dask). Results "
                                                        "come back as pickles: only a scheduler you trust.")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", "-e", help="Override the spec's engine: "
                                                  + engine_help())] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Per-point cache folder (default: the "
                                                      "spec's cache_dir, else reports/sweeps).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Compute every point; read and write no cache.")] = False,
    per_layer: Annotated[bool, typer.Option("--per-layer", help="One row per layer instead of per point.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; print the CSV path only.")]
    = False,
) -> None:
    """Run the sweep described by SPEC.toml and write one tidy CSV (one row per point, with its totals).

    Each key takes one value (every point's) or a list (an axis of the grid): hardware (arrays,
    dataflows, sram_kb, dram), workload (batch, precision; phase, seq_len and context for the token models
    that take them) and the engine's options (the capacity engine's tiling, concat, attention...).

    Finished points are cached under reports/sweeps, so re-running (or resuming an interrupted sweep)
    computes only what is missing; a damaged cache file is recomputed. Example: trafficsim sweep
    sweep.toml -j 2 (spec format: docs/sweeps.md)

    **Security.** A spec whose models name `file.py:attr` runs that Python file, as
    `trafficsim run file.py:attr` does: run only specs you trust. `--dask` (or the spec's dask_address)
    connects to that scheduler, and Dask sends results as pickles, which can run code when loaded:
    connect only to a scheduler you control.
    """
    import time

    from ..files import atomic_write_text
    from ..sweeps import read_spec, run_spec

    # --engine replaces the spec's before the spec is checked: it decides which option keys the spec may hold
    spec, output = read_spec(spec_path, {"engine": engine} if engine is not None else None)
    overrides: dict = {k: v for k, v in (("executor", executor), ("workers", workers),
                                         ("dask_address", dask_address)) if v is not None}
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
    """The first rows of the result, fitted to the terminal's width (the CSV has every column)."""
    import shutil

    if per_layer:
        return
    width = shutil.get_terminal_size((80, 24)).columns
    for line in table_lines(df.head(max_rows), width):
        print(line)
    if len(df) > max_rows:
        print(f"... {len(df) - max_rows} more rows in the CSV")


# (column, header, left-aligned); dropped from the right of DROP_ORDER first when the table is too wide.
# "sram" and "dram" are made from several columns; the DRAM results show on a DRAM standard only.
_TABLE_COLUMNS = (("model", "model", True), ("array", "array", True), ("dataflow", "flow", True),
                  ("sram", "SRAM kB", False), ("dram", "DRAM", True), ("total_cycles", "cycles", False),
                  ("overall_util_pct", "util %", False), ("dram_cycles", "DRAM cycles", False),
                  ("row_hit_rate", "row hit %", False), ("dram_bytes", "DRAM bytes", False))
# never the model nor DRAM bytes; the columns that tell the rows apart (workload, DRAM, options) last
_DROP_ORDER = ("overall_util_pct", "row_hit_rate", "dram_cycles", "sram", "dataflow", "array", "total_cycles")
_WORKLOAD_HEADERS = {"phase": "phase", "seq_len": "seq", "context": "context", "batch": "batch",
                     "precision": "precision"}
_GAP = "  "


def _dram_label(row: dict) -> str:
    """The DRAM of a table row from its flat ``dram_<field>`` columns (``ideal-12.8GBs``, ``ddr4-3200x2``)."""
    from ..dram import DramConfig

    default = DramConfig().to_dict()
    fields = {}
    for name, dv in default.items():
        v = row.get(f"dram_{name}", dv)
        v = None if _missing(v) else v.item() if hasattr(v, "item") else v
        if isinstance(v, float) and v.is_integer() and isinstance(dv, int) or (dv is None and isinstance(v, float)):
            v = int(v)  # an integer column with gaps read back as floats
        fields[name] = v
    try:
        return DramConfig.from_dict(fields).label()
    except Exception:  # a hand-made table: show the standard as it is
        return str(fields["standard"])


def _compact(n: int) -> str:
    """A count in at most 6 characters: exact below 10,000, else 3 significant digits and k/M/G/T/P."""
    if abs(n) < 10_000:
        return f"{n:,}"
    for div, unit in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def table_lines(df, width: int = 80) -> list[str]:
    """The sweep table as text lines of at most ``width`` characters where possible.

    Columns: the model, the workload keys and engine options that differ between rows, array, dataflow,
    SRAM, the DRAM (when some row is not on the default one), cycles, utilisation, on a DRAM standard its
    cycles and row-hit rate, and DRAM bytes. Counts are exact with thousands separators; when that is too
    wide they are shortened to three significant digits (``123M``), then whole columns are left out
    (utilisation, DRAM results, SRAM, dataflow, array, cycles, then the varying keys: named in a last line).
    Model names are never cut: a name longer than the width makes its line longer rather than wrong.
    """
    from ..hardware import Hardware

    def sram(row) -> str:
        sizes = (row["ifmap_sram_kb"], row["filter_sram_kb"], row["ofmap_sram_kb"])
        return str(sizes[0]) if len(set(sizes)) == 1 else ",".join(map(str, sizes))

    records = df.to_dict("records")
    dram_fields = [k for k in Hardware().to_dict() if k.startswith("dram_")]
    has_dram = any(k in df.columns for k in dram_fields)

    def varying(column: str) -> bool:
        return column in df.columns and len({_text(r[column]) for r in records}) > 1

    keys = [(c, h, True) for c, h in _WORKLOAD_HEADERS.items() if varying(c)]
    keys += [(c, c, True) for c in df.attrs.get("option_columns", ()) if varying(c)]
    present = []
    for col in _TABLE_COLUMNS:
        name = col[0]
        if name == "model":
            present += [col] + keys[:sum(1 for k in keys if k[0] in _WORKLOAD_HEADERS)]
        elif name == "sram":
            if "ifmap_sram_kb" in df.columns:
                present.append(col)
        elif name == "dram":
            if has_dram:
                present.append(col)
            present += [k for k in keys if k[0] not in _WORKLOAD_HEADERS]
        elif name in ("dram_cycles", "row_hit_rate"):
            if "row_hit_rate" in df.columns and name in df.columns:
                present.append(col)
        elif name in df.columns:
            present.append(col)
    # results first, then what is the same on every row, cycles, and last what tells the rows apart
    same = {"sram": len({sram(r) for r in records}) <= 1, "dram": has_dram and len({_dram_label(r) for r in records}) <= 1,
            "dataflow": not varying("dataflow"), "array": not varying("array")}
    results = [c for c in _DROP_ORDER if c not in same and c != "total_cycles"]
    drop_order = (results + [c for c in ("sram", "dataflow", "array", "dram") if same[c]] + ["total_cycles"]
                  + [c for c in ("sram", "dataflow", "array") if not same[c]] + [k[0] for k in reversed(keys)]
                  + ["dram"])

    def cells(column: str, compact: bool) -> list[str]:
        out = []
        for row in records:
            if column == "sram":
                out.append(sram(row))
                continue
            if column == "dram":
                out.append(_dram_label(row))
                continue
            v = row[column]
            if _missing(v):
                out.append("")
            elif isinstance(v, (bool, str)):
                out.append(str(v))
            elif column == "row_hit_rate":
                out.append(f"{100 * v:.1f}")
            elif isinstance(v, float) and column != "overall_util_pct":  # a count in a float column
                whole = v.is_integer()
                out.append(_compact(round(v)) if compact else f"{int(v):,}" if whole else f"{v:,.1f}")
            elif isinstance(v, float):
                out.append(f"{v:.2f}")
            elif isinstance(v, int) or hasattr(v, "dtype"):
                out.append(_compact(int(v)) if compact else f"{int(v):,}")
            else:
                out.append(str(v))
        return out

    def render(columns, compact: bool) -> list[str]:
        body = [cells(c, compact) for c, _, _ in columns]
        widths = [max([len(h)] + [len(x) for x in col]) for (_, h, _), col in zip(columns, body)]
        def line(values) -> str:
            return _GAP.join(v.ljust(w) if left else v.rjust(w)
                             for v, w, (_, _, left) in zip(values, widths, columns)).rstrip()
        return [line([h for _, h, _ in columns])] + [line(vals) for vals in zip(*body)]

    # as many columns as fit; with those, exact counts if they fit, else shortened ones
    columns = list(present)
    dropped: list[str] = []
    while True:
        lines = render(columns, compact=False)
        if max(map(len, lines)) <= width:
            break
        lines = render(columns, compact=True)
        if max(map(len, lines)) <= width:
            break
        victim = next((c for c in drop_order if any(col[0] == c for col in columns)), None)
        if victim is None:
            break  # model and DRAM bytes only: never cut a model name
        dropped.append(next(h for c, h, _ in columns if c == victim))
        columns = [col for col in columns if col[0] != victim]
    if dropped:
        import textwrap

        note = f"(left out to fit {width} columns: {', '.join(dropped)}; the CSV has every column)"
        lines += textwrap.wrap(note, width=max(width, 20))
    return lines


def _missing(v) -> bool:
    """None, NaN or pandas' NA (without importing pandas here)."""
    return v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType"


def _text(v) -> str:
    return "" if _missing(v) else str(v)
