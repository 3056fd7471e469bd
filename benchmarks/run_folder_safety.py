"""Crash and concurrency safety of run folders, measured with real processes (issue 11).

    python benchmarks/run_folder_safety.py [--kills 20] [--writers 4] [--writes 100] [--out DIR]

1. injected kill: a child writes a run folder and SIGKILLs itself right after the first rename that touches the
   run folder (where the old write_run had renamed the old folder aside and not yet renamed the new one in);
   counts the trials after which no complete run folder is visible;
2. random kills: a child rewrites the run folder in a loop and is SIGKILLed after a random delay; counts the
   kills after which no complete run folder is visible;
3. concurrent writers: N processes write the same run folder M times each while this process looks at it;
   counts the writers' exceptions and the looks that found no folder.

Only uses ``write_run``'s public behaviour, so it runs unchanged against older commits (for before/after).
Prints counts, never times.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

_INJECT = textwrap.dedent("""
    import os, pickle, signal, sys
    from pathlib import Path
    from trafficsim.runs import write_run
    result, topology = pickle.loads(Path(sys.argv[1]).read_bytes())
    out = Path(sys.argv[2])
    final = str(out / sys.argv[3])
    def killing(fn):
        def wrapper(src, dst, *a, **k):
            value = fn(src, dst, *a, **k)
            if final in (os.fspath(src), os.fspath(dst)):
                os.kill(os.getpid(), signal.SIGKILL)
            return value
        return wrapper
    try:
        from trafficsim import files
        files._rename2 = killing(files._rename2)
    except (ImportError, AttributeError):
        pass
    os.rename = killing(os.rename)
    os.replace = killing(os.replace)
    write_run(result, topology, out)
""")

_LOOP = textwrap.dedent("""
    import pickle, sys
    from pathlib import Path
    from trafficsim.runs import write_run
    result, topology = pickle.loads(Path(sys.argv[1]).read_bytes())
    print("ready", flush=True)
    while True:
        write_run(result, topology, sys.argv[2])
""")

_WRITER = textwrap.dedent("""
    import pickle, sys
    from pathlib import Path
    from trafficsim.runs import write_run
    result, topology = pickle.loads(Path(sys.argv[1]).read_bytes())
    errors = []
    for _ in range(int(sys.argv[3])):
        try:
            write_run(result, topology, sys.argv[2])
        except Exception as e:
            errors.append(type(e).__name__)
    print(",".join(errors))
""")


def complete(folder: Path) -> bool:
    try:
        s = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return all((folder / f).is_file() for f in s.get("files", {}).values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--writes", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--result", type=Path, default=None,
                    help="a pickled (RunResult, Topology) to write instead of simulating one (for old commits)")
    args = ap.parse_args()

    import trafficsim
    from trafficsim.runs import write_run

    print(f"trafficsim from {Path(trafficsim.__file__).parent}")
    work = Path(args.out or tempfile.mkdtemp(prefix="run-folder-safety-"))
    work.mkdir(parents=True, exist_ok=True)
    blob = work / "run.pickle"
    if args.result:
        res, topo = pickle.loads(args.result.read_bytes())
    else:
        from trafficsim.engines import simulate
        from trafficsim.hardware import Hardware
        from trafficsim.topology import Layer, Topology

        layers = (Layer("conv1", "conv", 3, 8, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1),
                  Layer("conv2", "conv", 8, 8, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1))
        topo = Topology("tiny", layers, (3, 8, 8))
        res = simulate(topo, Hardware(array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1,
                                      ofmap_sram_kb=1))
    blob.write_bytes(pickle.dumps((res, topo)))

    # 1. injected kill
    lost = 0
    for k in range(args.kills):
        out = work / f"inject{k}"
        folder = Path(write_run(res, topo, out))
        subprocess.run([sys.executable, "-c", _INJECT, str(blob), str(out), folder.name], capture_output=True)
        lost += not complete(folder)
    print(f"injected kill after the first rename of the run folder: {lost}/{args.kills} trials left no "
          "complete run folder")

    # 2. random kills
    out = work / "random"
    folder = Path(write_run(res, topo, out))
    lost = 0
    rng = random.Random(1)
    for _ in range(args.kills):
        proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(blob), str(out)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lost += not complete(folder)
    print(f"random SIGKILL while rewriting: {lost}/{args.kills} kills left no complete run folder")

    # 3. concurrent writers
    out = work / "concurrent"
    folder = Path(write_run(res, topo, out))
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(blob), str(out), str(args.writes)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(args.writers)]
    looks = missing = 0
    while any(p.poll() is None for p in procs):
        looks += 1
        missing += not folder.is_dir()
    errors = [e for p in procs for e in p.communicate()[0].strip().split(",") if e]
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
    print(f"{args.writers} writers x {args.writes} writes: {len(errors)} exceptions "
          f"({', '.join(sorted(set(errors))) or 'none'}); {missing}/{looks} looks found no run folder; "
          f"complete at the end: {complete(folder)}; hidden leftovers: {len(hidden)}")


if __name__ == "__main__":
    main()
