"""Sweep throughput: the whole zoo x {os, ws, is} x {8x8, 16x16, 32x32, 128x128} x {16, 64, 512 kB}.

Runs the grid on the compat engine twice, serially and with the local process executor (all cores),
each into a fresh temporary cache folder (so the atomic cache writes are included), checks that both
tables are identical, and prints points/s. Topologies are loaded first and timed separately.

    python benchmarks/bench_sweep.py                 # the whole zoo
    python benchmarks/bench_sweep.py --models 'resnet18,squeezenet*' --workers 2 --dask
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time

from trafficsim.sweeps import resolve_model, sweep
from trafficsim.zoo import list_models

ARRAYS = ["8x8", "16x16", "32x32", "128x128"]
DATAFLOWS = ["os", "ws", "is"]
SRAM_KB = [16, 64, 512]


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the process executor's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="zoo patterns, comma-separated (default: every model)")
    ap.add_argument("--engine", default="compat")
    ap.add_argument("--workers", type=int, default=None, help="processes for the parallel run (default: all cores)")
    ap.add_argument("--skip-serial", action="store_true", help="run the parallel executor only")
    ap.add_argument("--dask", action="store_true", help="also run on a 127.0.0.1 LocalCluster (one worker per core)")
    ap.add_argument("--progress", action="store_true", help="show progress bars")
    ap.add_argument("--save", metavar="CSV", default=None,
                    help="write the table (first executor's) to CSV, e.g. to compare two versions with --compare")
    ap.add_argument("--compare", metavar="CSV", default=None,
                    help="check the table equals a saved one (values exactly; util %% to 1e-12 relative)")
    args = ap.parse_args(argv)

    patterns = args.models.split(",") if args.models else [None]
    names = sorted({n for pattern in patterns for n in list_models(pattern)})
    if not names:
        print(f"no zoo model matches {args.models!r}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    topologies = [resolve_model(n) for n in names]
    t_topo = time.perf_counter() - t0
    n_points = len(topologies) * len(ARRAYS) * len(DATAFLOWS) * len(SRAM_KB)
    layers = sum(len(t.layers) for t in topologies)
    print(f"{len(names)} models ({layers} layers) x {len(DATAFLOWS)} dataflows x {len(ARRAYS)} arrays x "
          f"{len(SRAM_KB)} SRAM sizes = {n_points} points, engine {args.engine}, {os.cpu_count()} cores")
    print(f"topologies loaded in {t_topo:.2f} s")
    grid = dict(models=topologies, arrays=ARRAYS, dataflows=DATAFLOWS, sram_kb=SRAM_KB, engine=args.engine,
                progress=args.progress)

    # warm-up: load compiled kernels once so that neither timed run pays for it
    sweep(models=topologies[:1], arrays=["8x8"], dataflows=DATAFLOWS, sram_kb=[16], engine=args.engine,
          executor="serial", cache_dir=None, progress=False)

    tables = {}
    runs = ([] if args.skip_serial else [("serial", {})]) + [("process", {"workers": args.workers})]
    for executor, extra in runs:
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as cache:
            cpu_self, cpu_children = time.process_time(), _children_cpu()
            t = time.perf_counter()
            df = sweep(**grid, executor=executor, cache_dir=cache, **extra)
            dt = time.perf_counter() - t
            cpu_self, cpu_children = time.process_time() - cpu_self, _children_cpu() - cpu_children
        tables[executor] = df
        label = executor if executor == "serial" else f"process ({args.workers or os.cpu_count()} workers)"
        cpu = f"CPU {cpu_self:.1f} s" + (f" here + {cpu_children:.1f} s in workers" if cpu_children else "")
        print(f"{label:<22} {dt:7.2f} s  {n_points / dt:8.1f} points/s  ({cpu})")
    if args.dask:
        from distributed import LocalCluster

        workers = args.workers or os.cpu_count() or 1
        t = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            t_up = time.perf_counter() - t
            with tempfile.TemporaryDirectory(prefix="bench-sweep-") as cache:
                t = time.perf_counter()
                tables["dask"] = sweep(**grid, executor="dask", dask_address=cluster, cache_dir=cache)
                dt = time.perf_counter() - t
        print(f"{f'dask ({workers} workers)':<22} {dt:7.2f} s  {n_points / dt:8.1f} points/s "
              f"(cluster start {t_up:.1f} s not included; first tasks load the kernels)")
    first = next(iter(tables.values()))
    same = all(first.equals(df) for df in tables.values())
    print("all executors agree exactly" if same else "EXECUTORS DISAGREE")
    if args.save:
        first.to_csv(args.save, index=False)
        print(f"table written to {args.save}")
    if args.compare:
        import pandas as pd

        saved = pd.read_csv(args.compare)
        now = pd.read_csv(io.StringIO(first.to_csv(index=False)))  # through CSV, as the saved one went
        equal = list(saved.columns) == list(now.columns) and saved.drop(columns="overall_util_pct").equals(
            now.drop(columns="overall_util_pct")) and ((saved["overall_util_pct"] - now["overall_util_pct"]).abs()
                                                       <= 1e-12 * now["overall_util_pct"].abs()).all()
        print(f"table {'identical to' if equal else 'DIFFERS FROM'} {args.compare}")
        same = same and equal
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
