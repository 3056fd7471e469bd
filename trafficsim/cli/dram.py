"""``trafficsim dram TRACE``: time a Ramulator DRAM trace with the DRAM model (or with Ramulator)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from ..errors import InputError

_PANEL = "Memory"


@app.command(no_args_is_help=True)
def dram(
    trace: Annotated[Path, typer.Argument(help="A Ramulator DRAM trace: one '0xADDRESS R' or '0xADDRESS W' per line.",
                                          metavar="TRACE")],
    standard: Annotated[str, typer.Option(
        "--standard", "-s", help="A DRAM preset (ddr4-2400, ddr4-3200, ddr5-4800, lpddr4-3200, lpddr5-6400, hbm2, "
                                 "hbm3, gddr6), a Ramulator speed bin (DDR4_2400R, LPDDR4_3200, HBM_1Gbps, ...) or a "
                                 "Ramulator .cfg file (its standard, channels, ranks, speed and org keys).",
        rich_help_panel=_PANEL)] = "ddr4-3200",
    org: Annotated[Optional[str], typer.Option(
        "--org", help="Ramulator organisation for a speed bin, e.g. DDR4_4Gb_x8.", rich_help_panel=_PANEL)] = None,
    channels: Annotated[Optional[int], typer.Option(
        "--channels", "-c", help="Channels (a power of two; default: the standard's or the .cfg's).",
        rich_help_panel=_PANEL)] = None,
    ranks: Annotated[Optional[int], typer.Option(
        "--ranks", help="Ranks per channel (a power of two).", rich_help_panel=_PANEL)] = None,
    mapping: Annotated[Optional[str], typer.Option(
        "--mapping", help="Address mapping, MSB to LSB: RoBaRaCoCh (Ramulator's default), ChRaBaRoCo, or fields "
                          "Ch Ra Bg Ba Ro Co in any order.", rich_help_panel=_PANEL)] = None,
    xor_bank: Annotated[bool, typer.Option(
        "--xor-bank", help="XOR the bank bits with the low row bits (permutation interleaving).",
        rich_help_panel=_PANEL)] = False,
    page_policy: Annotated[Optional[str], typer.Option(
        "--page-policy", help="open (default), closed, closed-ap or timeout.", rich_help_panel=_PANEL)] = None,
    timings: Annotated[Optional[str], typer.Option(
        "--timings", help="Timing overrides in memory cycles, e.g. nCL=20,nRCD=20.", rich_help_panel=_PANEL)] = None,
    no_refresh: Annotated[bool, typer.Option("--no-refresh", help="Do not refresh.", rich_help_panel=_PANEL)] = False,
    backend: Annotated[str, typer.Option(
        "--backend", help="model (the compiled DRAM model) or ramulator (a Ramulator v1 binary named by "
                          "$TRAFFICSIM_RAMULATOR, run on the same trace).")] = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes.")] = False,
) -> None:
    """Time TRACE on a DRAM: cycles, row hits / misses / conflicts (reads and writes apart), bytes,
    bandwidth and energy.

    Requests enter the controller as fast as its queues accept them (Ramulator's trace mode), so a
    Ramulator config file gives the same numbers in both: `trafficsim dram my.trace --standard
    DDR4-config.cfg` and `ramulator DDR4-config.cfg --mode=dram my.trace`.
    """
    from ..dram import DramConfig
    from ..dram.config import PAGE_POLICIES

    if backend not in ("model", "ramulator"):
        raise InputError(f"--backend {backend!r}: choose model or ramulator")
    if page_policy is not None and page_policy not in PAGE_POLICIES:
        raise InputError(f"--page-policy {page_policy!r}: choose {', '.join(PAGE_POLICIES)}")
    for name, v in (("--channels", channels), ("--ranks", ranks)):
        if v is not None and v <= 0:
            raise InputError(f"{name} must be a positive integer, got {v}")
    notes: list[str] = []
    if standard.endswith(".cfg") or Path(standard).is_file():
        from ..dram.ramulator import read_cfg
        if org is not None:
            raise InputError("--org comes from the Ramulator .cfg file; do not give both")
        rc = read_cfg(standard)
        if rc.unknown_keys:
            notes.append(f"{standard}: ignored key(s) {', '.join(rc.unknown_keys)} (no effect on Ramulator's "
                         "DRAM-trace mode in this model)")
        base = rc.to_dram_config()
    else:
        if standard.strip().lower() == "ideal":
            raise InputError("--standard ideal has no timing to simulate; name a DRAM standard such as ddr4-3200")
        base = DramConfig(standard=standard, org=org)
    changes = {k: v for k, v in (("channels", channels), ("ranks", ranks), ("mapping", mapping),
                                 ("page_policy", page_policy), ("timings", timings)) if v is not None}
    if xor_bank:
        changes["xor_bank"] = True
    if no_refresh:
        changes["refresh"] = False
    cfg = DramConfig(**{**base.to_dict(), **changes}) if changes else base
    device = cfg.resolve()

    from ..dram.trace import read_trace
    tr = read_trace(trace)
    if tr.unterminated_last_line:
        notes.append(f"{trace}: the last line has no final newline; Ramulator ignores such a line, trafficsim reads it")

    t0 = time.process_time()
    if backend == "ramulator":
        from ..dram.ramulator import simulate_with_ramulator
        res = simulate_with_ramulator(device, tr.addr, tr.is_write)
        out = {"backend": "ramulator", "trace": str(trace), "standard": device.name, "channels": device.channels,
               "requests": len(tr), **{k: v for k, v in res.items() if k not in ("requests",)}}
    else:
        from ..dram.device import simulate_requests
        stats = simulate_requests(device, tr.addr, tr.is_write, progress=_progress(len(tr), quiet or as_json))
        if stats.addresses_wrapped:
            notes.append(f"{stats.addresses_wrapped:,} address(es) lie above the {device.capacity_bytes:,}-byte "
                         "capacity; their high bits wrap around (as in Ramulator)")
        if stats.energy_estimated:
            notes.append(f"energy: {device.standard.power.source}")
        out = {"backend": "model", "trace": str(trace), "requests": len(tr), **stats.to_dict(),
               "cpu_seconds": time.process_time() - t0}
    if as_json:
        print(json.dumps(out))
    else:
        print(_table(out, device))
    if notes and not quiet:
        for n in notes:
            print(f"note: {n}", file=sys.stderr)


def _progress(total: int, quiet: bool):
    """A stderr progress bar for long traces (and a word before the first compile)."""
    from ..dram.controller import run_kernel
    from ..numba_cache import is_cached
    if not quiet and not is_cached(run_kernel):
        print("trafficsim: compiling the DRAM model (once per install, about 10 CPU-seconds)...", file=sys.stderr)
    if quiet or total < 2_000_000 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    bar = Progress(TextColumn("[bold]requests"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   transient=True, console=Console(stderr=True))
    task = bar.add_task("dram", total=total)
    bar.start()

    def progress(done: int, n: int) -> None:
        bar.update(task, completed=done)
        if done >= n:
            bar.stop()
    return progress


def _table(d: dict, device) -> str:
    def num(x) -> str:
        return f"{int(x):,}"
    lines = [f"{d['trace']}: {num(d['requests'])} requests on {device.describe()} [{d['backend']}]"]
    cyc = d["dram_cycles"]
    lines.append(f"DRAM cycles      {num(cyc):>14}  ({cyc * device.tck_ns / 1000:,.1f} us at tCK {device.tck_ns:.3f} ns)")
    lines.append(f"{'':16} {'reads':>14} {'writes':>14} {'total':>14}")
    for what in ("hits", "misses", "conflicts"):
        r, w = d[f"read_row_{what}"], d[f"write_row_{what}"]
        lines.append(f"{'row ' + what:16} {num(r):>14} {num(w):>14} {num(r + w):>14}")
    rb, wb = d["read_bytes"], d["write_bytes"]
    lines.append(f"{'bytes':16} {num(rb):>14} {num(wb):>14} {num(rb + wb):>14}")
    if "achieved_bandwidth_gbs" in d:
        peak = d["peak_bandwidth_gbs"]
        bw = d["achieved_bandwidth_gbs"]
        lines.append(f"bandwidth        {bw:14.2f} GB/s of {peak:.1f} peak ({100 * bw / peak:.0f} %)")
    if "energy_pj" in d:
        short = {"act": "ACT", "pre": "PRE", "read": "RD", "write": "WR", "refresh": "REF",
                 "active_standby": "act.stby", "precharge_standby": "pre.stby"}
        parts = [f"{short[k]} {d[f'energy_{k}_pj'] / 1e6:.3f}" for k in short if f"energy_{k}_pj" in d]
        lines.append(f"energy (uJ)      {d['energy_pj'] / 1e6:14.3f}")
        lines.append("  " + ", ".join(parts[:4]))
        lines.append("  " + ", ".join(parts[4:]))
    if "cpu_seconds" in d:
        who = "Ramulator's" if d["backend"] == "ramulator" else "model's"
        lines.append(f"CPU time         {d['cpu_seconds']:14.2f} s ({who})")
    return "\n".join(lines)
