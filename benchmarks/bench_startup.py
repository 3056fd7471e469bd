"""CPU cost of a whole `trafficsim run` command in a fresh process, and where it goes.

    python benchmarks/bench_startup.py                            # trafficsim run hardnet68 --array 32x32
    python benchmarks/bench_startup.py --repeat 7 -- run resnet50 --array 16x16 --dataflow os

Two measurements, each in fresh processes (``--repeat`` times, best and median printed; CPU
seconds = user + sys of the child, since wall time lies on a shared machine):

* **whole command**: ``python -m trafficsim <args>`` exactly as a user runs it (the console
  script does the same imports), output to a temporary folder;
* **split**: the same command in an instrumented child that imports in the order the command
  does and records the CPU clock between phases: interpreter start-up, the CLI's imports
  (typer, rich, trafficsim.cli), numba's import, loading compiled functions from numba's cache
  (every ``Dispatcher.compile`` call: a cache load when warm, a compile when cold), the rest of
  the engine, and writing the run folder. "other" is option parsing, topology loading and the
  summary table.

The numba cache must be warm (run the command once first); the first row says whether any
function was compiled instead of loaded.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARGS = ["run", "hardnet68", "--array", "32x32"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(args: list[str]) -> None:
    """Run the CLI with the phases timed; write them as JSON to $TRAFFICSIM_BENCH_OUT."""
    marks = {"interpreter": _cpu()}
    sys.path.insert(0, str(ROOT))
    import trafficsim.cli as cli

    cli._register()
    marks["cli_imports"] = _cpu()
    import numba.core.dispatcher as dispatcher

    marks["numba_import"] = _cpu()
    spent = {"cache_load": 0.0, "compiles": 0, "engine": 0.0, "writing": 0.0}
    original_compile = dispatcher.Dispatcher.compile

    depth = [0]

    def timed_compile(self, sig):
        t0, misses = _cpu(), sum(self._cache_misses.values())
        depth[0] += 1
        try:
            return original_compile(self, sig)
        finally:
            depth[0] -= 1
            if depth[0] == 0:   # nested compiles (callees) are inside the outer one's time
                spent["cache_load"] += _cpu() - t0
            spent["compiles"] += sum(self._cache_misses.values()) - misses

    dispatcher.Dispatcher.compile = timed_compile
    import trafficsim.engines as engines
    import trafficsim.runs as runs

    def timed(fn, key):
        def wrapper(*a, **k):
            t0 = _cpu()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += _cpu() - t0
        return wrapper

    engines.simulate = timed(engines.simulate, "engine")
    runs.write_run = timed(runs.write_run, "writing")
    sys.argv = ["trafficsim", *args]
    try:
        cli.entry()          # the console script's entry point, up to its sys.exit
        rc = 0
    except SystemExit as e:
        rc = e.code
    total = _cpu()
    Path(os.environ["TRAFFICSIM_BENCH_OUT"]).write_text(
        json.dumps({"rc": rc, "marks": marks, "spent": spent, "total": total}))


def run_child(args: list[str], tmp: str) -> dict:
    out = Path(tmp) / "split.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, __file__, "--child", "--", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True,
                          # one worker thread: its CPU and the phases' deltas of the process clock do not overlap
                          env={**os.environ, "TRAFFICSIM_BENCH_OUT": str(out), "TRAFFICSIM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode or not out.exists():
        raise SystemExit(f"instrumented child failed: {proc.stderr}")
    split = json.loads(out.read_text())
    split["process"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return split


def whole_command(args: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "trafficsim", *args], check=True, stdout=subprocess.DEVNULL,
                   cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--") + 1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("args", nargs="*", help="the trafficsim command (default: run hardnet68 --array 32x32)")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="trafficsim-bench-startup-") as tmp:
        args = (ns.args or DEFAULT_ARGS)
        if args[0] == "run" and "-o" not in args and "--out" not in args:
            args = [*args, "--out", tmp]
        whole_command(args)   # warm numba's cache and the OS file cache
        wholes, splits = [], []
        for _ in range(ns.repeat):
            wholes.append(whole_command(args))
            splits.append(run_child(args, tmp))
    print(f"trafficsim {' '.join(args[:-2] if args[-2] == '--out' else args)}  (CPU seconds, user + sys; "
          f"{ns.repeat} fresh processes each; load average {os.getloadavg()[0]:.1f})")
    print(f"  whole command        : best {min(wholes):.3f}   median {statistics.median(wholes):.3f}")
    rows = []
    for s in splits:
        m, sp = s["marks"], s["spent"]
        engine_only = sp["engine"] - sp["cache_load"]
        rows.append({
            "interpreter": m["interpreter"],
            "CLI imports": m["cli_imports"] - m["interpreter"],
            "numba import": m["numba_import"] - m["cli_imports"],
            "numba cache load": sp["cache_load"],
            "engine": engine_only,
            "writing": sp["writing"],
            "other": s["total"] - m["numba_import"] - sp["engine"] - sp["writing"],
            "exit": s["process"] - s["total"],      # interpreter teardown after the command returned
            "total": s["process"],
        })
    compiled = max(s["spent"]["compiles"] for s in splits)
    print(f"  split (median of {len(rows)}){', COLD: ' + str(compiled) + ' functions compiled' if compiled else ''}:")
    for key in rows[0]:
        vals = [r[key] for r in rows]
        print(f"    {key:<20}: {statistics.median(vals):6.3f}   (best {min(vals):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
