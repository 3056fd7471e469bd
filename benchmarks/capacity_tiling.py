"""Per-operand vs uniform tiling in the capacity engine, on the zoo: DRAM traffic and how far above compulsory.

    python benchmarks/capacity_tiling.py [model ...] [--array 32x32] [--sram 16 64 512]

For each model and SRAM size (all three buffers that size, 1-byte words, default network options) it prints the
network's DRAM megabytes under the uniform tiling (one tile for all operands, every buffer halved: the model
before per-operand tiling) and under per-operand tiling, the change, the sum of per-layer compulsory traffic, each
mode's traffic over compulsory (layer traffic without charged ops, as ``traffic_over_compulsory_ratio``), the
largest per-layer cut, and the CPU seconds of each search.
"""
from __future__ import annotations

import argparse
import time

from trafficsim.engines.capacity import CapacityOptions, simulate
from trafficsim.hardware import Hardware, parse_array
from trafficsim.zoo.cache import model_topology

MODELS = ["resnet18", "resnet50", "hardnet68", "hardnet39ds", "densenet121", "mobilenet_v2", "squeezenet1_0",
          "vgg16"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--sram", type=int, nargs="+", default=[16, 64, 512])
    args = ap.parse_args()
    rows, cols = parse_array(args.array)
    for mode in ("uniform", "per-operand"):  # load the compiled searches before timing
        simulate(model_topology(args.models[0]), Hardware(), options=CapacityOptions(tiling=mode))
    print(f"{'model':14s} {'kB':>4s} {'uniform MB':>10s} {'per-op MB':>9s} {'change':>7s} {'compuls MB':>10s} "
          f"{'uni/comp':>8s} {'per/comp':>8s} {'best layer':>10s} {'cpu s u/p':>11s}")
    for name in args.models:
        topo = model_topology(name)
        for kb in args.sram:
            hw = Hardware(array_rows=rows, array_cols=cols, ifmap_sram_kb=kb, filter_sram_kb=kb, ofmap_sram_kb=kb)
            out = {}
            for mode in ("uniform", "per-operand"):
                c0 = time.process_time()
                res = simulate(topo, hw, options=CapacityOptions(tiling=mode))
                out[mode] = (res, time.process_time() - c0)
            uni, per = out["uniform"][0], out["per-operand"][0]
            tu, tp = uni.totals(), per.totals()
            comp = tp["compulsory_bytes"]
            best_cut = min(p.extra["layer_dram_bytes"] / u.extra["layer_dram_bytes"]
                           for u, p in zip(uni.layers, per.layers) if u.extra["layer_dram_bytes"])
            print(f"{name:14s} {kb:4d} {tu['dram_bytes'] / 1e6:10.3f} {tp['dram_bytes'] / 1e6:9.3f} "
                  f"{100 * (tp['dram_bytes'] / tu['dram_bytes'] - 1):+6.1f}% {comp / 1e6:10.3f} "
                  f"{tu['layer_dram_bytes'] / comp:8.3f} {tp['layer_dram_bytes'] / comp:8.3f} "
                  f"{100 * (best_cut - 1):+9.1f}% {out['uniform'][1]:5.3f}/{out['per-operand'][1]:5.3f}")


if __name__ == "__main__":
    main()
