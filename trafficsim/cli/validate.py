"""``trafficsim validate``: run two engines (default compat and the real SCALE-Sim) on the same
topology and hardware and show every field where they differ."""
from __future__ import annotations

import time
from typing import Annotated

import typer

from . import app
from .common import (ArrayOpt, BandwidthOpt, ConfigOpt, DataflowOpt, FormatOpt, InputOpt, ModelArg, PresetOpt,
                     SramOpt, resolve_hardware, resolve_topology)
from ..errors import InputError

# CPU cost of SCALE-Sim 3.0.0 per SRAM access: 5-8 us on a 32-wide array (docs/scalesim-3.0.0.md §8), more on
# narrower arrays (11 us measured on 16x16); wall time is longer on a busy machine
SCALESIM_SECONDS_PER_SRAM_ACCESS = 8e-6


def _run_engine(topology, hardware, engine: str, quiet: bool):
    """Simulate with one engine, with a transient progress bar unless quiet; returns (result, seconds)."""
    from ..engines import simulate

    from rich.console import Console

    t0 = time.perf_counter()
    if quiet or not Console(stderr=True).is_terminal:
        result = simulate(topology, hardware, engine=engine)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"{topology.name} [{engine}]", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = simulate(topology, hardware, engine=engine, progress=progress)
    return result, time.perf_counter() - t0


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


@app.command(no_args_is_help=True)
def validate(
    model: ModelArg,
    array: ArrayOpt = None,
    dataflow: DataflowOpt = None,
    sram: SramOpt = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    bandwidth: BandwidthOpt = None,
    input_shape: InputOpt = None,
    fmt: FormatOpt = None,
    engine_a: Annotated[str, typer.Option("--engine-a", help="The engine under test.")] = "compat",
    engine_b: Annotated[str, typer.Option("--engine-b", help="The reference engine.")] = "scalesim",
    rel_tol: Annotated[float, typer.Option("--rel-tol", help="Relative tolerance for float fields "
                                           "(percentages, bandwidths); counts and cycles must be equal.")] = 1e-12,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Show at most this many mismatches.")] = 50,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; print only the verdict line.")] = False,
) -> None:
    """Check an engine against the real SCALE-Sim 3.0.0 on MODEL (a zoo name, a SCALE-Sim CSV or
    file.py:attr): both engines run on the same topology and hardware, every per-layer report field
    is compared. Exit status 0 when all are equal, 1 on any mismatch.

    The real SCALE-Sim costs ~5-8 us of CPU per SRAM access: a whole ResNet-18 takes it about 10 minutes
    on a 32x32 array and far longer on small arrays, so check small CSVs or inputs.

    Example (a few seconds): `trafficsim validate examples/tiny.csv --array 8x8`
    """
    from rich.console import Console
    from rich.table import Table

    from ..engines import engine_info
    from ..validation import compare_results, compared_fields

    for engine in (engine_a, engine_b):
        engine_info(engine)  # InputError naming the choices if unknown
    if not rel_tol >= 0:
        raise InputError(f"--rel-tol must be non-negative, got {rel_tol}")
    if max_rows < 0:
        raise InputError(f"--max-rows must be non-negative, got {max_rows}")
    hardware = resolve_hardware(preset, config, array, dataflow, sram, bandwidth)
    topology = resolve_topology(model, input_shape, fmt)

    result_a, seconds_a = _run_engine(topology, hardware, engine_a, quiet)
    if engine_b == "scalesim" and not quiet:
        t = result_a.totals()
        sram_accesses = t["sram_ifmap_reads"] + t["sram_filter_reads"] + t["sram_ofmap_writes"]
        estimate_s = sram_accesses * SCALESIM_SECONDS_PER_SRAM_ACCESS
        if estimate_s > 30:
            Console(stderr=True, highlight=False).print(
                f"the real SCALE-Sim will take {estimate_s / 60:.0f} min of CPU or more ({sram_accesses:,} SRAM "
                f"accesses at ~8 us each); use a smaller input or CSV for a quick check", soft_wrap=True)
    result_b, seconds_b = _run_engine(topology, hardware, engine_b, quiet)
    diffs = compare_results(result_a, result_b, rel_tol)

    console = Console(highlight=False)
    timing = f"{engine_a} {seconds_a:.3f} s, {engine_b} {seconds_b:.3f} s"
    n_layers, n_fields = len(result_b.layers), len(compared_fields())
    if not diffs:
        console.print(f"{topology.name} on {hardware.label()}: all {n_layers} layers x {n_fields} fields equal "
                      f"({timing})", soft_wrap=True)
        return
    if not quiet and max_rows:
        table = Table(title=f"{topology.name} on {hardware.label()}: {engine_a} vs {engine_b}",
                      header_style="bold")
        for col, justify in (("layer", "right"), ("name", "left"), ("field", "left"),
                             (engine_a, "right"), (engine_b, "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for d in diffs[:max_rows]:
            table.add_row(str(d.layer_id), d.layer_name, d.field, _fmt(d.value_a), _fmt(d.value_b))
        console.print(table)
        if len(diffs) > max_rows:
            console.print(f"... {len(diffs) - max_rows} more not shown (--max-rows)", soft_wrap=True)
    bad_layers = len({d.layer_id for d in diffs})
    console.print(f"{topology.name} on {hardware.label()}: {len(diffs)} mismatching values in {bad_layers} of "
                  f"{max(len(result_a.layers), n_layers)} layers ({timing})", soft_wrap=True)
    raise typer.Exit(1)
