"""CPU cost of the one-time numba compile: what a user's first run pays after installing.

    python benchmarks/bench_compile.py                         # every job once, cold
    python benchmarks/bench_compile.py --repeat 3 --jobs main,compat-ws
    python benchmarks/bench_compile.py --against /tmp/base --repeat 3   # side by side with another checkout

Each job runs in a fresh process with an empty numba cache (``NUMBA_CACHE_DIR`` set to a new
temporary folder), so every kernel it needs is compiled, as on a machine where trafficsim was just
installed. Times are CPU seconds (user + sys of the child process, start-up included), since wall
time lies on a shared machine. Jobs:

* ``main``: the README's main job, ``trafficsim run hardnet68 --array 32x32`` (compat, WS), whole command;
* ``compat-os``, ``compat-ws``, ``compat-is``: examples/tiny.csv on an 8x8 array, one dataflow;
* ``compat-all``: the three dataflows one after the other in one process (what a sweep pays);
* ``compat-user``: USER bandwidth mode (SCALE-Sim's ``--bandwidth``), WS;
* ``capacity``: the capacity engine on a 64x56x56 3x3 convolution (large enough for its compiled search);
* ``dram``: the compat engine on DDR4-3200 (SCALE-Sim's DRAM stream, the DRAM device model).

``--against DIR`` runs each job alternately with another checkout (e.g. ``git archive main | tar -x -C
DIR``) so both see the same machine load, and prints both (best and median) and their ratio. Nothing
is asserted: this prints numbers.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

JOBS = ("main", "compat-os", "compat-ws", "compat-is", "compat-all", "compat-user", "capacity", "dram")

# What each job runs in the child (after `import trafficsim as ts`); `main` runs the CLI instead.
_TINY = str(ROOT / "examples" / "tiny.csv")
_SNIPPETS = {
    "compat-os": f"ts.simulate({_TINY!r}, ts.Hardware(array_rows=8, array_cols=8, dataflow='os'))",
    "compat-ws": f"ts.simulate({_TINY!r}, ts.Hardware(array_rows=8, array_cols=8, dataflow='ws'))",
    "compat-is": f"ts.simulate({_TINY!r}, ts.Hardware(array_rows=8, array_cols=8, dataflow='is'))",
    "compat-all": "\n".join(f"ts.simulate({_TINY!r}, ts.Hardware(array_rows=8, array_cols=8, dataflow={d!r}))"
                            for d in ("os", "ws", "is")),
    "compat-user": f"ts.simulate({_TINY!r}, ts.apply_options(array='8x8', dataflow='ws', bandwidth=10))",
    "capacity": "ts.simulate('conv.csv', ts.apply_options(array='32x32'), engine='capacity')",
    "dram": f"ts.simulate({_TINY!r}, ts.apply_options(array='8x8', dram_standard='DDR4-3200'))",
}

# a 3x3 convolution of 64 channels on 56x56 (the capacity engine searches small layers in Python)
_CONV_CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
             "conv,58,58,3,3,64,64,1,\n")

_CHILD = """
import sys
sys.path.insert(0, {root!r})
import trafficsim as ts
{body}
"""

_MAIN = """
import runpy
sys.argv = ["trafficsim", "run", "hardnet68", "--array", "32x32", "-o", {reports!r}, "--quiet"]
try:
    runpy.run_module("trafficsim", run_name="__main__")
except SystemExit as e:
    if e.code:
        raise
"""


def run_job(job: str, root: Path) -> float:
    """Run ``job`` from checkout ``root`` in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        Path(tmp, "conv.csv").write_text(_CONV_CSV)
        if job == "main":
            body = _MAIN.format(reports=os.path.join(tmp, "reports"))
        else:
            body = _SNIPPETS[job]
        code = _CHILD.format(root=str(root), body=body)
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"), PYTHONPATH=str(root))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            sys.exit(f"bench_compile: job {job} failed in {root}:\n{proc.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _fmt(xs: list[float]) -> str:
    return f"{min(xs):6.1f} {statistics.median(xs):6.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated, of: {', '.join(JOBS)}")
    ap.add_argument("--repeat", type=int, default=1, help="cold runs of each job (default 1)")
    ap.add_argument("--against", metavar="DIR", type=Path, help="another checkout, run alternately")
    args = ap.parse_args(argv)
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        ap.error(f"unknown job(s) {', '.join(unknown)}; choose from {', '.join(JOBS)}")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    if args.against is not None and not (args.against / "trafficsim").is_dir():
        ap.error(f"--against {args.against}: not a trafficsim checkout")
    roots = [("this", ROOT)] + ([("against", args.against.resolve())] if args.against else [])
    print(f"cold numba compile, CPU-s (user+sys), best and median of {args.repeat}")
    head = f"{'job':<12}" + "".join(f" {name:>13}" for name, _ in roots)
    if args.against:
        head += "  against/this"
    print(head)
    for job in jobs:
        res: dict[str, list[float]] = {name: [] for name, _ in roots}
        for _ in range(args.repeat):
            for name, root in roots:   # alternate, so both sides see the same load
                res[name].append(run_job(job, root))
        line = f"{job:<12}" + "".join(f" {_fmt(res[name]):>13}" for name, _ in roots)
        if args.against:
            line += f"  {statistics.median(res['against']) / statistics.median(res['this']):11.2f}x"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
