"""Time the capacity engine on a DRAM standard, per network, split by phase (target: under 1 s per network).

    python benchmarks/bench_capacity_dram.py [model ...] [--dram ddr4-3200] [--sram 64] [--array 32x32]
                                             [--passes 1 2 3] [--layout nchw] [--repeat 3] [--no-cli]

For each model and number of passes it prints the CPU seconds of one ``simulate`` call (best of --repeat, after
a warm-up that loads the compiled kernels) and its split: tiling (the same run on the ideal pipe: search,
network rules, results), requests (tile schedules and their burst requests), DRAM model (timing the streams),
schedule (the stall-aware schedules), other (placement, results); the request count, total cycles and their
change against the last --passes value (the most converged). Then, unless --no-cli, the whole command a user
runs (``trafficsim run MODEL --engine capacity --dram ...``, start-up included) in a fresh process: its CPU
seconds (user + system of the child).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

from trafficsim.dram import DramConfig
from trafficsim.engines import capacity_dram
from trafficsim.engines.capacity import CapacityOptions, simulate
from trafficsim.hardware import Hardware, parse_array
from trafficsim.zoo.cache import model_topology

DEFAULT_MODELS = ["hardnet68", "resnet18", "resnet50", "densenet121", "mobilenet_v2"]


def _cpu(fn, repeat: int):
    best, out, prof = None, None, None
    for _ in range(repeat):
        capacity_dram.PROFILE.clear()
        c0 = time.process_time()
        out = fn()
        dt = time.process_time() - c0
        if best is None or dt < best:
            best, prof = dt, dict(capacity_dram.PROFILE)
    return best, out, prof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--dram", default="ddr4-3200")
    ap.add_argument("--sram", type=int, default=64)
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--layout", default="nchw")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cli", action="store_true")
    args = ap.parse_args()
    rows, cols = parse_array(args.array)
    base = Hardware(array_rows=rows, array_cols=cols, ifmap_sram_kb=args.sram, filter_sram_kb=args.sram,
                    ofmap_sram_kb=args.sram)
    hw = base.with_(dram=DramConfig(standard=args.dram))
    t0 = time.process_time()
    simulate(model_topology(args.models[0]), hw, options=CapacityOptions(dram_passes=1, layout=args.layout))
    print(f"warm-up (compiled kernels loaded or compiled): {time.process_time() - t0:.1f} s CPU")
    print(f"{args.dram}, {args.array}, {args.sram} kB, layout {args.layout}; CPU seconds, best of {args.repeat}")
    print(f"{'model':13s} {'pass':>4s} {'total':>6s} {'tiling':>6s} {'reqs':>6s} {'dram':>6s} {'sched':>6s} "
          f"{'other':>6s} {'requests':>9s} {'cycles':>11s} {'vs last':>7s}  < 1 s")
    for name in args.models:
        topo = model_topology(name)
        t_ideal, _, _ = _cpu(lambda: simulate(topo, base), args.repeat)
        runs = []
        for p in args.passes:
            opts = CapacityOptions(dram_passes=p, layout=args.layout)
            dt, res, prof = _cpu(lambda: simulate(topo, hw, options=opts), args.repeat)
            runs.append((p, dt, res, prof))
        last = runs[-1][2].totals()["total_cycles"]
        for p, dt, res, prof in runs:
            t = res.totals()
            other = dt - t_ideal - sum(prof.values())
            print(f"{name:13s} {p:4d} {dt:6.3f} {t_ideal:6.3f} {prof.get('requests', 0):6.3f} {prof.get('dram', 0):6.3f} "
                  f"{prof.get('schedule', 0):6.3f} {other:6.3f} {t['dram_requests']:9d} {t['total_cycles']:11d} "
                  f"{100 * (t['total_cycles'] / last - 1):+6.2f}%  {'yes' if dt < 1 else 'NO'}")
    if args.no_cli:
        return
    print("whole command, fresh process (start-up included):")
    for name in args.models:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "trafficsim", "run", name, "--engine", "capacity", "--dram", args.dram,
                        "--array", args.array, "--sram", str(args.sram), "--layout", args.layout, "--no-write", "-q"],
                       check=True, env=dict(os.environ))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"  trafficsim run {name} --engine capacity --dram {args.dram}: {cpu:.2f} s CPU "
              f"({time.perf_counter() - w0:.2f} s wall)")


if __name__ == "__main__":
    main()
