"""``trafficsim run``: simulate a model or topology CSV, print a summary, write a run folder."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import (ArrayOpt, BandwidthOpt, BatchOpt, ConfigOpt, ContextOpt, DataflowOpt, FormatOpt, InputOpt,
                     ModelArg, PhaseOpt, PrecisionOpt, PresetOpt, SeqOpt, SramOpt, StrictOpt, check_output_dir,
                     resolve_hardware, resolve_topology, write_guarded)
from ..errors import InputError
from ..hardware import Hardware


def engine_help() -> str:
    """The --engine help: every registered engine with its summary."""
    from ..engines import engine_info, engine_names

    names = engine_names()
    items = [f"{n} ({engine_info(n).summary})" if engine_info(n).summary else n for n in names]
    return (", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)) + "."


@app.command(no_args_is_help=True)
def run(
    model: ModelArg,
    array: ArrayOpt = None,
    dataflow: DataflowOpt = None,
    sram: SramOpt = None,
    preset: PresetOpt = None,
    config: ConfigOpt = None,
    bandwidth: BandwidthOpt = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help=engine_help())] = "compat",
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the run folder.")] = Path("reports"),
    input_shape: InputOpt = None,
    fmt: FormatOpt = None,
    word_bytes: Annotated[Optional[int], typer.Option(
        "--word-bytes", help="Bytes per element of every tensor: the same as --precision N (a uniform precision; "
                             "SCALE-Sim: 1). The compat engine keeps SCALE-Sim's 1-byte words.",
        rich_help_panel="Workload")] = None,
    bandwidth_gbs: Annotated[Optional[float], typer.Option(
        "--bandwidth-gbs", help=f"DRAM bandwidth in GB/s (capacity engine). [default: {Hardware().dram.bandwidth_gbs:g}]", rich_help_panel="Hardware")] = None,
    clock_mhz: Annotated[Optional[float], typer.Option(
        "--clock-mhz", help=f"Array clock in MHz (capacity engine). [default: {Hardware().clock_mhz:g}]", rich_help_panel="Hardware")] = None,
    dram: Annotated[Optional[str], typer.Option(
        "--dram", help="The DRAM: ideal (a pipe of --bandwidth-gbs, the default) or a standard timed bank by "
                       "bank: ddr4-2400, ddr4-3200, ddr5-4800, lpddr4-3200, lpddr5-6400, hbm2, hbm3, gddr6 (see "
                       "docs/dram.md). The capacity engine times its tile transfers on it; the compat engine "
                       "SCALE-Sim's own DRAM requests (CALC mode), its stall added to SCALE-Sim's cycles.", rich_help_panel="DRAM")] = None,
    dram_channels: Annotated[Optional[int], typer.Option(
        "--dram-channels", help="Channels of the --dram standard (a power of two; default: the standard's).",
        rich_help_panel="DRAM")] = None,
    dram_mapping: Annotated[Optional[str], typer.Option(
        "--dram-mapping", help="Address mapping of the --dram standard, fields MSB to LSB as Ramulator names them "
                               "(default RoBaRaCoCh; e.g. ChRaBaRoCo).", rich_help_panel="DRAM")] = None,
    page_policy: Annotated[Optional[str], typer.Option(
        "--page-policy", help="Row-buffer policy of the --dram standard: open (default), closed, closed-ap or "
                              "timeout.", rich_help_panel="DRAM")] = None,
    layout: Annotated[Optional[str], typer.Option(
        "--layout", help="Where tensors live in DRAM (capacity engine on a --dram standard): feature maps nchw "
                         "(default), nhwc or nchwc<B> (channel blocks, C padded), optionally ',tiled' for weights "
                         "stored tile by tile (default kcrs, PyTorch's order). E.g. nhwc or nchwc8,tiled.",
        rich_help_panel="DRAM")] = None,
    tiling: Annotated[Optional[str], typer.Option(
        "--tiling", help="Capacity engine: per-operand (default: each operand resident in its whole buffer when "
                         "loaded once, else double-buffered, at its own tile level) or uniform (one tile for all "
                         "operands, every buffer halved: the model of earlier versions).",
        rich_help_panel="Capacity model")] = None,
    concat: Annotated[Optional[str], typer.Option(
        "--concat", help="Capacity engine: concatenations are zero-copy (consumers read the pieces in place) "
                         "or materialised (a copy: read + write).", rich_help_panel="Capacity model")] = None,
    fuse_pool_add: Annotated[bool, typer.Option(
        "--fuse-pool-add", help="Capacity engine: pooling and residual adds run inside the producing conv.",
        rich_help_panel="Capacity model")] = False,
    residency: Annotated[bool, typer.Option(
        "--residency", help="Capacity engine: a feature map that fits on chip and is consumed next stays on chip.",
        rich_help_panel="Capacity model")] = False,
    energy: Annotated[Optional[str], typer.Option(
        "--energy", help="Capacity engine: energy per access in pJ, e.g. dram=160,sram=2.5,mac=0.23 "
                         "(defaults: Horowitz, ISSCC 2014; see docs/capacity.md).", rich_help_panel="Capacity model")] = None,
    attention: Annotated[Optional[str], typer.Option(
        "--attention", help="Capacity engine: unfused (QK^T, softmax, AV as three kernels: the scores go to DRAM and "
                            "back; default) or fused (flash-style: the scores stay on chip).",
        rich_help_panel="Capacity model")] = None,
    activations: Annotated[Optional[str], typer.Option(
        "--activations", help="Capacity engine: fused (ReLU, GELU, SiLU, batch norm... run as their producer writes "
                              "the tensor: no traffic of their own; default) or unfused (each reads and writes its "
                              "tensor).", rich_help_panel="Capacity model")] = None,
    fix: Annotated[Optional[str], typer.Option(
        "--fix", help="Compat engine: fix SCALE-Sim 3.0.0 bugs, NAME[,NAME] or all: os-cycles (scale-sim-v3#4), "
                      "ofmap-writes (SCALE-Sim#166), total-cycles (SCALE-Sim#125), user-stall (SCALE-Sim#130), "
                      "trace-padding (DRAM OFMAP pads). The run id and summary say so; docs/compat.md \"Fixes\".",
        rich_help_panel="SCALE-Sim")] = None,
    no_write: Annotated[bool, typer.Option("--no-write", help="Print the summary only; write no run folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table; print the run folder only.")] = False,
    strict: StrictOpt = False,
    seq_len: SeqOpt = None,
    phase: PhaseOpt = None,
    context: ContextOpt = None,
    batch: BatchOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Simulate MODEL (a zoo name, a SCALE-Sim CSV or file.py:attr) on a systolic array.

    Prints total cycles, utilisation and DRAM traffic per operand, and writes a run folder
    (SCALE-Sim's three reports, layers.csv, summary.json, the topology CSV and .cfg used) under
    --out.

    Example: `trafficsim run hardnet68 --array 32x32 --dataflow os --sram 64`
    """
    from ..engines import engine_info, simulate

    engine_info(engine)  # InputError naming the choices if unknown
    for name, v in (("--word-bytes", word_bytes), ("--bandwidth-gbs", bandwidth_gbs), ("--clock-mhz", clock_mhz)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a positive finite number, got {v}")
    precision = precision_option(precision, word_bytes)
    hardware = resolve_hardware(preset, config, array, dataflow, sram, bandwidth,
                                clock_mhz=clock_mhz, **dram_changes(dram, dram_channels, dram_mapping, page_policy,
                                                                    bandwidth_gbs))
    check_dram(hardware, dram_channels, dram_mapping, page_policy, bandwidth_gbs)
    options = engine_options(engine, concat, fuse_pool_add, residency, energy, tiling, attention, activations,
                             layout, fix)
    topology = resolve_topology(model, input_shape, fmt, seq_len=seq_len, phase=phase, context=context,
                                batch=batch, precision=precision)
    if strict:
        topology.check_modelled()
    if not no_write:
        check_output_dir(out)  # before the simulation, not after minutes of it

    if not quiet and sys.stderr.isatty():
        from ..engines import compile_notice

        note = compile_notice(engine, hardware)
        if note:
            print(f"trafficsim: {note}", file=sys.stderr)
    t0 = time.perf_counter()
    if quiet:
        result = simulate(topology, hardware, engine=engine, options=options)
    else:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        # engines report progress within long layers too (fractional layers done): the remaining
        # time is an estimate from the rate so far
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task(f"{topology.name} [{engine}]", total=None)

            def progress(done: float, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = simulate(topology, hardware, engine=engine, progress=progress, options=options)
    elapsed = time.perf_counter() - t0
    # where the model came from goes into summary.json ("meta"): two files' `model` differ there too
    from dataclasses import replace as _replace

    from ..inputs import describe_source

    result = _replace(result, meta={**result.meta, "source": describe_source(model, input_shape)})

    folder = None
    if not no_write:
        from ..runs import write_run

        source = model if (".py:" in model or model.endswith(".py")) else None  # a user model: file.py:attr
        folder = write_guarded(write_run, result, topology, out, source=source)
        if folder.replaced:
            print(f"trafficsim: note: replaced the earlier run folder {folder}", file=sys.stderr)
    if quiet:
        if folder:
            print(folder)
        return
    print_summary(result, elapsed, folder, topology)


def dram_changes(dram: str | None, channels: int | None, mapping: str | None, page_policy: str | None,
                 bandwidth_gbs: float | None) -> dict:
    """``Hardware.dram`` changes from the DRAM options, as ``dram_<field>`` keys (None = not given)."""
    out = {"dram_standard": dram.strip().lower() if dram is not None else None, "dram_channels": channels,
           "dram_mapping": mapping, "dram_page_policy": page_policy, "dram_bandwidth_gbs": bandwidth_gbs}
    return {k: v for k, v in out.items() if v is not None}


def check_dram(hardware, channels: int | None, mapping: str | None, page_policy: str | None,
               bandwidth_gbs: float | None) -> None:
    """The DRAM options that only mean something for the DRAM chosen."""
    if hardware.dram.is_ideal:
        given = [flag for flag, v in (("--dram-channels", channels), ("--dram-mapping", mapping),
                                      ("--page-policy", page_policy)) if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to a DRAM standard "
                             "(e.g. --dram ddr4-3200), not to the ideal pipe")
    elif bandwidth_gbs is not None:
        raise InputError(f"--bandwidth-gbs sets the ideal pipe; --dram {hardware.dram.standard} has the bandwidth "
                         "of its standard and channels")


# command-line flag -> field of the engine's options record (trafficsim.engines.options_type)
OPTION_FLAGS = {"--concat": "concat", "--fuse-pool-add": "fuse_pool_add", "--residency": "inter_layer_residency",
                "--energy": "energy", "--tiling": "tiling", "--attention": "attention",
                "--activations": "activations", "--layout": "layout", "--fix": "fixes"}


def engine_options(engine: str, concat: str | None, fuse_pool_add: bool, residency: bool, energy: str | None,
                   tiling: str | None = None, attention: str | None = None, activations: str | None = None,
                   layout: str | None = None, fix: str | None = None):
    """The options record of ``engine`` from the command line (None when no option flag is given:
    the engine's defaults). A flag applies to the engines whose options type has its field."""
    import dataclasses

    from ..engines import engine_names, options_type

    given = {flag: value for flag, value in (("--concat", concat), ("--fuse-pool-add", fuse_pool_add or None),
                                             ("--residency", residency or None), ("--energy", energy),
                                             ("--tiling", tiling), ("--attention", attention),
                                             ("--activations", activations), ("--layout", layout),
                                             ("--fix", fix))
             if value is not None}
    if not given:
        return None

    def takes(name: str) -> bool:
        cls = options_type(name)
        fields = {f.name for f in dataclasses.fields(cls)} if cls is not None and dataclasses.is_dataclass(cls) else set()
        return all(OPTION_FLAGS[flag] in fields for flag in given)

    if not takes(engine):
        takers = [n for n in engine_names() if takes(n)]
        where = f"--engine {' or '.join(takers)}" if takers else "no registered engine"
        raise InputError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to {where} only, "
                         f"not to --engine {engine}")
    fields = {OPTION_FLAGS[flag]: value for flag, value in given.items()}
    if "fixes" in fields:
        from ..engines.compat_fixes import parse_fixes

        if not fix.strip():
            raise InputError("--fix needs NAME[,NAME] or all")
        fields["fixes"] = ",".join(parse_fixes(fix))  # InputError naming the fixes if a name is unknown
    if "energy" in fields:
        from ..energy import parse_energy_table

        fields["energy"] = parse_energy_table(energy)
    return options_type(engine)(**fields)


def precision_option(precision: str | None, word_bytes: int | None) -> str | None:
    """``--precision``, or ``--word-bytes N`` as its uniform shorthand (both given: they must agree)."""
    if word_bytes is None:
        return precision
    if precision is not None:
        from ..workload import parse_precision

        if parse_precision(precision) != parse_precision(word_bytes):
            raise InputError(f"--word-bytes {word_bytes} and --precision {precision} disagree: give one "
                             "(--word-bytes N is --precision N)")
        return precision
    return str(word_bytes)


def print_summary(result, elapsed_s: float, folder: Path | None, topology=None) -> None:
    """A rich table of the run's totals."""
    from rich.console import Console
    from rich.table import Table

    hw = result.hardware
    t = result.totals()
    wb = 1  # SCALE-Sim's words; engines that know the workload's element sizes report bytes themselves
    console = Console()
    title = (f"{result.model} on {hw.array} {hw.dataflow.upper()}, SRAM {hw.ifmap_sram_kb}/{hw.filter_sram_kb}/"
             f"{hw.ofmap_sram_kb} kB, {hw.bandwidth_mode}, engine {result.engine}"
             + ("" if hw.dram.is_ideal or result.engine not in ("capacity", "compat") else f", DRAM {hw.dram.label()}"))
    if result.meta.get("fixes"):  # not SCALE-Sim's numbers: say which bugs were fixed
        from ..engines.compat_fixes import FIX_NAMES

        fixes = list(result.meta["fixes"])
        title += f", SCALE-Sim fixes: {'all' if fixes == list(FIX_NAMES) else ','.join(fixes)}"
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("words", justify="right")
    table.add_column("bytes", justify="right")

    def row(label: str, words: int, bytes_key: str) -> None:
        # engines that count bytes per tensor class (capacity) report them; else words x word size
        nbytes = t.get(bytes_key, words * wb)
        table.add_row(label, f"{words:,}", f"{nbytes:,}" if float(nbytes).is_integer() else f"{nbytes:,.1f}")

    table.add_row("total cycles", f"{t['total_cycles']:,}", "")
    if t.get("stall_cycles"):
        table.add_row("stall cycles", f"{t['stall_cycles']:,}", "")
    if "overall_util_pct" in t:
        table.add_row("overall utilisation", f"{t['overall_util_pct']:.2f} %", "")
    table.add_row("MACs", f"{t['macs']:,}", "")
    row("DRAM IFMAP reads", t["dram_ifmap_reads"], "dram_ifmap_bytes")
    row("DRAM FILTER reads", t["dram_filter_reads"], "dram_filter_bytes")
    row("DRAM OFMAP writes", t["dram_ofmap_writes"], "dram_ofmap_bytes")
    row("DRAM total", t["dram_words"], "dram_bytes")
    if topology is not None and (topology.seq_len is not None or any(layer.operand_b != "weight"
                                                                    for layer in topology.layers)):
        from ..metrics import traffic_split

        split = traffic_split(result, topology)
        total = sum(split.values()) or 1
        for cls, label in (("weights", "weights"), ("kv_cache", "KV cache"), ("activations", "activations"),
                           ("psums", "partial sums")):
            if split[cls] or cls != "psums":
                v = split[cls]
                table.add_row(f"  DRAM {label}", f"{100 * v / total:.1f} %",
                              f"{v:,}" if float(v).is_integer() else f"{v:,.1f}")
    if "dram_moved_bytes" in t:  # a DRAM standard: what the bursts moved, how well the rows and bus were used
        table.add_row(f"DRAM {hw.dram.label()} cycles", f"{t['dram_cycles']:,}", "")
        table.add_row("DRAM bytes moved (bursts)", "", f"{t['dram_moved_bytes']:,}")
        table.add_row("row hits / misses / conflicts",
                      f"{t['row_hits']:,} / {t['row_misses']:,} / {t['row_conflicts']:,}", "")
        table.add_row("row hit rate", f"{100 * t['row_hit_rate']:.1f} %", "")
        peak = result.meta.get("dram", {}).get("peak_bandwidth_gbs")
        table.add_row("bandwidth achieved / peak", f"{t['achieved_bandwidth_gbs']:.2f} / {peak:g} GB/s"
                      if peak else f"{t['achieved_bandwidth_gbs']:.2f} GB/s", "")
        table.add_row("DRAM energy (uJ)", f"{t['dram_energy_pj'] * 1e-6:,.3f}", "")
    for key, label in (("latency_ms", "latency (ms)"), ("energy_uj", "energy (uJ)"),
                       ("compulsory_bytes", "compulsory traffic (bytes)"), ("bound_bytes", "lower bound (bytes)")):
        if key in t:
            v = t[key]
            is_whole = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
            table.add_row(label, f"{int(v):,}" if is_whole else f"{v:,.3f}", "")
    console.print(table)
    ops = result.meta.get("network_ops") or {}
    if ops.get("activations_fused"):
        console.print(f"{ops['activations_fused']:,} activations/BN fused into their producers: no traffic "
                      "(see --activations)")
    elif ops.get("activations_charged"):
        console.print(f"{ops['activations_charged']:,} activations/BN charged: each reads and writes its tensor")
    n = len(result.layers)
    where = f"; run folder {folder}" if folder else ""
    console.print(f"{n} layers simulated in {elapsed_s:.3f} s{where}", soft_wrap=True)  # paths unbroken
