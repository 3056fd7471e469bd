"""Time the capacity engine on whole networks (target: < 20 ms per network).

    python benchmarks/bench_capacity.py [model ...] [--repeat N] [--sram KB]

Topologies come from the zoo cache (built once); the first simulate() call loads numba's
compiled cache and is not timed. Reports the best and median wall time of N runs and the CPU
time (the machine may be shared, so the best run is the fair figure).
"""
from __future__ import annotations

import argparse
import statistics
import time

from trafficsim.engines.capacity import simulate
from trafficsim.hardware import Hardware
from trafficsim.zoo.cache import model_topology

DEFAULT_MODELS = ["resnet18", "resnet50", "densenet121", "hardnet68", "hardnet39ds", "mobilenet_v2", "densenet264"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--sram", type=int, default=64, help="each SRAM in kB (default 64)")
    args = ap.parse_args()
    hw = Hardware(ifmap_sram_kb=args.sram, filter_sram_kb=args.sram, ofmap_sram_kb=args.sram)
    t0 = time.perf_counter()
    simulate(model_topology(args.models[0]), hw)
    print(f"warm-up (numba cache load): {1e3 * (time.perf_counter() - t0):.0f} ms")
    print(f"{'model':14s} {'layers':>6s} {'best ms':>8s} {'median ms':>9s} {'cpu ms':>7s}  {'DRAM MB':>8s}  < 20 ms")
    for name in args.models:
        topo = model_topology(name)
        simulate(topo, hw)
        wall, cpu = [], []
        for _ in range(args.repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            res = simulate(topo, hw)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        best = 1e3 * min(wall)
        print(f"{name:14s} {len(topo.layers):6d} {best:8.2f} {1e3 * statistics.median(wall):9.2f} "
              f"{1e3 * min(cpu):7.2f}  {res.totals()['dram_bytes'] / 1e6:8.2f}  {'yes' if best < 20 else 'NO'}")


if __name__ == "__main__":
    main()
