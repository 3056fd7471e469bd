"""Speed and memory of the compat engine against the real SCALE-Sim 3.0.0, with an equality check.

    python benchmarks/bench_compat.py                     # ResNet-18 (topologies/resnet18.csv), 32x32 os
    python benchmarks/bench_compat.py --model hardnet68 --dataflow ws --ref-budget 50000
    python benchmarks/bench_compat.py --against /tmp/base --repeat 5 --no-ref   # side by side with another checkout

The compat engine simulates the whole network; SCALE-Sim (~5 us per SRAM access, ~10 min of CPU
for ResNet-18) simulates a subset of layers: by default the largest distinct layers that fit a
budget of demand rows (``--ref-budget``), or the N cheapest (``--ref-layers N``), or all. Each engine runs in its own child process so that its peak RSS is its
own; times are CPU seconds (user + sys) of the simulation call, which is what matters on a shared
machine. The speed ratio is measured on the subset: SCALE-Sim's CPU time over compat's on the same
layers. Prints a table and exits non-zero if any field differs.

``--against DIR`` measures a change to the kernel: DIR is another checkout (e.g. ``git archive main |
tar -x -C DIR``) whose compat engine runs alternately with this one (``--repeat`` times each, in fresh
processes, each with its own warm numba cache), so that both see the same machine load; it prints
both CPU times (best and median) and their ratio, and checks that every field is equal.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load(model: str):
    from trafficsim.topology import read_csv
    path = Path(model)
    if not path.exists():
        path = ROOT / "topologies" / f"{model}.csv"
    if path.exists():
        return read_csv(path)
    from trafficsim.convert import to_topology  # noqa: PLC0415 (torch only when needed)
    from trafficsim.zoo import create_model
    import torch
    with torch.device("meta"):
        return to_topology(create_model(model), name=model)


def _subset(topology, row_indices):
    """A topology holding only the source layers of the chosen SCALE-Sim rows."""
    from trafficsim.topology import Topology, expand_dp, scalesim_rows
    rows = expand_dp(scalesim_rows(topology))
    keep = sorted({rows[i].source_layer for i in row_indices})
    layers = tuple(replace(topology.layers[i], inputs=(), output=-1) for i in keep)
    return Topology(name=f"{topology.name}-subset", layers=layers)


def child(args: argparse.Namespace) -> None:
    """Run one engine and print a JSON line: cpu seconds, peak RSS, per-layer results."""
    from trafficsim.engines import get_engine
    from trafficsim.hardware import Hardware, parse_array
    topo = _load(args.model)
    if args.layers:
        topo = _subset(topo, [int(x) for x in args.layers.split(",")])
    ra, ca = parse_array(args.array)
    hw = Hardware(array_rows=ra, array_cols=ca, dataflow=args.dataflow)
    engine = get_engine(args.child)
    if args.child == "compat":  # compile (or load numba's cache) outside the timed call
        t0 = time.perf_counter()
        engine.simulate(_subset(topo, [0]), hw)
        warm = time.perf_counter() - t0
    else:
        warm = 0.0
    c0, w0 = _cpu(), time.perf_counter()
    res = engine.simulate(topo, hw)
    cpu, wall = _cpu() - c0, time.perf_counter() - w0
    print(json.dumps({"cpu": cpu, "wall": wall, "warmup": warm,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "layers": [r.to_dict() for r in res.layers]}))


def run_child(engine: str, args: argparse.Namespace, layers: str | None = None, root: Path = ROOT) -> dict:
    cmd = [sys.executable, str(root / "benchmarks" / "bench_compat.py"), "--child", engine, "--model", args.model,
           "--array", args.array, "--dataflow", args.dataflow]
    if layers:
        cmd += ["--layers", layers]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _differences(a_layers: list[dict], b_layers: list[dict]) -> list[tuple]:
    from trafficsim.results import result_fields

    bad: list[tuple] = []
    for a, b in zip(a_layers, b_layers):
        for f in result_fields():
            x, y = a[f], b[f]
            same = math.isclose(x, y, rel_tol=1e-9, abs_tol=0.0) if isinstance(x, float) or isinstance(y, float) else x == y
            if not same:
                bad.append((a["layer_id"], f, x, y))
    if len(a_layers) != len(b_layers):
        bad.append(("layer count", len(a_layers), len(b_layers)))
    return bad


def side_by_side(args: argparse.Namespace, first: dict) -> int:
    """This checkout's compat engine against ``args.against``'s, alternating runs."""
    import statistics

    ours, theirs = [first["cpu"]], []
    other = None
    for i in range(args.repeat):
        other = run_child("compat", args, root=args.against)
        theirs.append(other["cpu"])
        if i + 1 < args.repeat:
            ours.append(run_child("compat", args)["cpu"])
    bad = _differences(first["layers"], other["layers"])
    med_a, med_b = statistics.median(ours), statistics.median(theirs)
    print(f"side by side ({args.repeat} runs each, alternating; CPU s of the simulation call):")
    print(f"  this checkout   : best {min(ours):.3f}  median {med_a:.3f}   {' '.join(f'{x:.3f}' for x in ours)}")
    print(f"  {str(args.against)[:15]:<15} : best {min(theirs):.3f}  median {med_b:.3f}   "
          f"{' '.join(f'{x:.3f}' for x in theirs)}")
    print(f"  ratio (this / other): best {min(ours) / max(min(theirs), 1e-9):.3f}, median {med_a / max(med_b, 1e-9):.3f}")
    print(f"equality              : {'all fields equal' if not bad else f'{len(bad)} MISMATCHES: {bad[:5]}'}")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18", help="topology CSV, a name in topologies/, or a zoo model")
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--dataflow", default="os", choices=["os", "ws", "is"])
    ap.add_argument("--ref-layers", default="budget",
                    help="layers SCALE-Sim simulates: 'budget' (the largest layers that fit --ref-budget demand "
                         "rows, so the subset is representative), N (the N cheapest), or 'all'")
    ap.add_argument("--ref-budget", type=int, default=160_000,
                    help="demand rows SCALE-Sim may simulate with --ref-layers budget (~0.3 ms CPU each)")
    ap.add_argument("--against", metavar="DIR", type=Path,
                    help="another checkout: run its compat engine alternately with this one and compare CPU times")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each side with --against (default 5)")
    ap.add_argument("--no-ref", action="store_true", help="do not run SCALE-Sim")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--layers", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0

    from trafficsim.engines.compat import fold_geometry
    from trafficsim.hardware import Hardware, parse_array
    from trafficsim.topology import expand_dp, scalesim_rows

    topo = _load(args.model)
    ra, ca = parse_array(args.array)
    hw = Hardware(array_rows=ra, array_cols=ca, dataflow=args.dataflow)
    rows = expand_dp(scalesim_rows(topo))
    demand = [fold_geometry(r, hw).demand_rows for r in rows]

    full = run_child("compat", args)
    print(f"{topo.name}: {len(rows)} SCALE-Sim layers, {sum(demand):,} demand rows, {hw.label()}")
    print(f"compat, whole network : {full['cpu']:.3f} s CPU ({full['wall']:.3f} s wall), "
          f"peak RSS {full['maxrss_mb']:.0f} MB, first call (numba compile or cache load) {full['warmup']:.2f} s")
    if args.against:
        return side_by_side(args, full)
    if args.no_ref:
        return 0

    # candidate layers: those whose source layer maps to a single SCALE-Sim row (no DP/group split)
    by_src: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_src.setdefault(r.source_layer, []).append(i)
    singles = [i for idxs in by_src.values() if len(idxs) == 1 for i in idxs]
    if args.ref_layers == "all":
        chosen = list(range(len(rows)))
    elif args.ref_layers == "budget":
        chosen, used, seen = [], 0, set()
        for i in sorted(singles, key=lambda i: -demand[i]):
            key = (rows[i].ifmap_h, rows[i].ifmap_w, rows[i].filter_h, rows[i].channels, rows[i].num_filters,
                   rows[i].stride)
            if key not in seen and used + demand[i] <= args.ref_budget:
                chosen.append(i)
                used += demand[i]
                seen.add(key)  # no repeated shapes: compat would reuse their result
        chosen.sort()
    else:
        chosen = sorted(sorted(singles, key=lambda i: demand[i])[:int(args.ref_layers)])
    layer_arg = ",".join(str(i) for i in chosen)
    ours = run_child("compat", args, layer_arg)
    ref = run_child("scalesim", args, layer_arg)
    names = [rows[i].name for i in chosen]
    print(f"subset for SCALE-Sim  : {len(chosen)} layers ({', '.join(names)}), "
          f"{sum(demand[i] for i in chosen):,} demand rows")
    print(f"  SCALE-Sim 3.0.0     : {ref['cpu']:.2f} s CPU ({ref['wall']:.1f} s wall), peak RSS {ref['maxrss_mb']:.0f} MB")
    print(f"  compat              : {ours['cpu']:.4f} s CPU, peak RSS {ours['maxrss_mb']:.0f} MB")
    ratio = ref["cpu"] / max(ours["cpu"], 1e-6)
    print(f"  speed ratio (CPU)   : {ratio:,.0f}x")
    if len(chosen) < len(rows):
        # SCALE-Sim's cost is about proportional to demand rows (docs/scalesim-3.0.0.md §8): extrapolate
        per_row = ref["cpu"] / sum(demand[i] for i in chosen)
        est = per_row * sum(demand)
        print(f"  SCALE-Sim whole network, extrapolated by demand rows: ~{est:,.0f} s CPU "
              f"-> ~{est / max(full['cpu'], 1e-6):,.0f}x (not measured)")

    bad = _differences(ours["layers"], ref["layers"])
    print(f"equality              : {'all fields equal' if not bad else f'{len(bad)} MISMATCHES: {bad[:5]}'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
