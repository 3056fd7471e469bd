"""The compat engine on a DRAM standard: CPU seconds and stream length, in one run.

    python benchmarks/bench_compat_dram.py [--model hardnet68] [--array 32x32] [--dram ddr4-3200]
                                           [--cli] [--ramulator PATH]

Measures, on this process's CPU clock (os.times; shared machines make wall time meaningless):

* the compat engine without a DRAM (SCALE-Sim 3.0.0's numbers, the reference for the overhead);
* the compat engine on the DRAM: per distinct layer, the stream walk (compat_dram.layer_stream) and the
  DRAM model (compat_dram.time_stream) apart, and the requests (bursts) of the whole network;
* ``--cli``: the whole command a user runs, start-up included (``trafficsim run MODEL --array A
  --engine compat --dram D``, in a child process; its CPU time from os.times' children fields);
* ``--ramulator PATH``: Ramulator v1 (trace mode) on the network's requests, all layers concatenated, as
  SCALE-Sim v3's second pass would time them (Ramulator's trace mode ignores arrival cycles).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trafficsim.dram import DramConfig  # noqa: E402
from trafficsim.engines import compat, compat_dram  # noqa: E402
from trafficsim.inputs import resolve_hardware, resolve_topology  # noqa: E402


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="hardnet68")
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--dram", default="ddr4-3200")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--cli", action="store_true", help="also time the whole CLI command in a child process")
    ap.add_argument("--ramulator", type=Path, default=None, help="a Ramulator v1 binary: time the same requests")
    args = ap.parse_args(argv)

    topo = resolve_topology(args.model)
    hw = resolve_hardware(args.array)
    hwd = dataclasses.replace(hw, dram=DramConfig(standard=args.dram, channels=args.channels))
    device = hwd.dram.resolve()
    rows = compat.layer_rows(topo)
    # warm-up: load the compiled kernels once (numba caches them per install)
    compat_dram.time_stream(compat_dram.layer_stream(rows[-1], hw, int(device.request_bytes)), device, hw.clock_mhz)

    t0 = cpu()
    ideal = compat.simulate(topo, hw, threads=1)
    t_ideal = cpu() - t0

    seen: dict[tuple, object] = {}
    t_walk = t_dram = 0.0
    n_req = 0
    addrs, writes = [], []
    for row in rows:
        key = compat.row_key(row)
        if key in seen:
            continue
        t0 = cpu()
        s = compat_dram.layer_stream(row, hw, int(device.request_bytes))
        t1 = cpu()
        tm = compat_dram.time_stream(s, device, hw.clock_mhz)
        t2 = cpu()
        seen[key] = tm
        t_walk += t1 - t0
        t_dram += t2 - t1
        n_req += s.requests
        if args.ramulator:
            cyc = np.concatenate([s.read_cycle[0], s.read_cycle[1], s.write_cycle])
            order = np.argsort(cyc, kind="stable")
            addrs.append(np.concatenate([s.read_addr[0], s.read_addr[1], s.write_addr])[order])
            writes.append(np.concatenate([np.zeros(s.read_addr[0].size + s.read_addr[1].size, bool),
                                          np.ones(s.write_addr.size, bool)])[order])
    t0 = cpu()
    real = compat.simulate(topo, hwd, threads=1)
    t_engine = cpu() - t0
    tot_i, tot = ideal.totals(), real.totals()
    print(f"{args.model} {args.array} {hw.dataflow}, {hw.ifmap_sram_kb} kB SRAMs, DRAM {device.describe()}")
    print(f"layers {len(rows)} ({len(seen)} distinct); requests (bursts of {device.request_bytes} B, distinct layers) "
          f"{n_req:,}; SCALE-Sim DRAM words {tot_i['dram_words']:,}")
    print(f"compat, no DRAM:      {t_ideal:7.2f} CPU s")
    print(f"compat on the DRAM:   {t_engine:7.2f} CPU s  (stream walk {t_walk:.2f}, DRAM model {t_dram:.2f}: "
          f"{1e6 * t_dram / max(1, n_req):.2f} us/request)")
    print(f"cycles: SCALE-Sim {tot_i['total_cycles']:,} -> on the DRAM {tot['total_cycles']:,} "
          f"(DRAM stall {tot['total_cycles'] - tot_i['total_cycles']:,}); DRAM cycles {tot['dram_cycles']:,}; "
          f"moved {tot['dram_moved_bytes']:,} B; energy {tot['dram_energy_pj'] * 1e-6:,.1f} uJ")
    if args.cli:
        import tempfile

        c0 = children_cpu()
        w0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "trafficsim", "run", args.model, "--array", args.array, "--engine", "compat",
                   "--dram", args.dram, "--out", tmp]
            proc = subprocess.run(cmd, capture_output=True, text=True)
        print(f"CLI `{' '.join(['trafficsim'] + cmd[3:])}`: {children_cpu() - c0:.2f} CPU s "
              f"({time.perf_counter() - w0:.1f} s wall), exit {proc.returncode}")
        if proc.returncode != 0:
            print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")
    if args.ramulator:
        from trafficsim.dram.ramulator import simulate_with_ramulator

        addr = np.concatenate(addrs).astype(np.uint64)
        w = np.concatenate(writes)
        os.environ["TRAFFICSIM_RAMULATOR"] = str(args.ramulator)
        r = simulate_with_ramulator(device, addr, w)
        t_ram = r["cpu_seconds"]
        print(f"Ramulator on the same {addr.size:,} requests (trace mode, layers back to back): {t_ram:.2f} CPU s "
              f"({r.get('dram_cycles', '?'):,} DRAM cycles); the DRAM model's part here: {t_dram:.2f} CPU s "
              f"-> {t_ram / max(t_dram, 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
