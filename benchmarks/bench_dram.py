"""Speed of the DRAM model against Ramulator v1 on the same request stream, in one run (CPU seconds).

    python benchmarks/bench_dram.py [--ramulator PATH] [--stream hardnet68|synthetic]

The stream: HarDNet-68's DRAM requests under the capacity engine's tiling (32x32 array, 64 kB
SRAMs, NCHW, 64 B bursts; benchmarks/dram_streams.py), or with --synthetic a stream of the size and
read/write mix of its byte totals (runs of consecutive requests at random places, as tile transfers are). Both simulators time it in trace mode (as fast as the
queues accept requests) on Ramulator's DDR4_3200 / DDR4_8Gb_x8, one channel, so their numbers
must also agree. Ramulator's time is the CPU time of its process (os.times of children); the
model's is this process's CPU time for simulate_requests after one warm-up call (numba compiles
once per install). Also prints what a --dram run of the capacity engine spends per request.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trafficsim.dram import DramConfig, simulate_requests  # noqa: E402
from trafficsim.dram.patterns import stream  # noqa: E402

# HarDNet-68, capacity engine, 32x32, 64 kB: 36,921,017 bytes (12,477,583 + 19,873,532 read,
# 4,569,902 written), measured with `trafficsim run hardnet68 --array 32x32 --sram 64 --engine capacity`.
HARDNET68_BYTES_READ = 12_477_583 + 19_873_532
HARDNET68_BYTES_WRITTEN = 4_569_902


def hardnet_stream(request_bytes: int, synthetic: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    if not synthetic:
        try:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from dram_streams import network_requests
            addr, w, n_layers = network_requests("hardnet68", burst_bytes=request_bytes)
            return addr, w, (f"HarDNet-68's {n_layers} conv/linear layers, capacity-engine tiling (32x32, 64 kB, "
                             f"NCHW): {len(addr):,} requests, {w.mean():.1%} writes")
        except ImportError as e:  # the capacity engine's schedule or layouts are not there
            print(f"(no layer streams: {e}; using a synthetic stream)")
    n_read = -(-HARDNET68_BYTES_READ // request_bytes)
    n_write = -(-HARDNET68_BYTES_WRITTEN // request_bytes)
    n = n_read + n_write
    addr, _ = stream("rows", n, seed=68, request_bytes=request_bytes, span_bytes=1 << 30, run=32)
    w = np.zeros(n, bool)
    w[np.linspace(0, n - 1, n_write).astype(np.int64)] = True
    return addr, w, f"synthetic, HarDNet-68-sized ({n:,} requests, {n_write / n:.1%} writes, runs of 2 kB)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ramulator", type=Path, default=os.environ.get("TRAFFICSIM_RAMULATOR"),
                    help="a Ramulator v1 binary (default: $TRAFFICSIM_RAMULATOR); without it only the model runs")
    ap.add_argument("--repeat", type=int, default=3, help="model runs (the fastest CPU time counts)")
    ap.add_argument("--docs", action="store_true", help="write the printed lines into docs/dram.md")
    ap.add_argument("--synthetic", action="store_true", help="a synthetic stream of HarDNet-68's size and mix")
    args = ap.parse_args(argv)

    cfg = DramConfig(standard="DDR4_3200", org="DDR4_8Gb_x8", channels=1)
    dev = cfg.resolve()
    addr, w, what = hardnet_stream(dev.request_bytes, args.synthetic)
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"stream: {what}; device: {dev.describe()}")
    simulate_requests(dev, addr[:1000], w[:1000])            # compile (once per install) outside the timing
    best = None
    for _ in range(max(1, args.repeat)):
        t0 = time.process_time()
        s = simulate_requests(dev, addr, w)
        cpu = time.process_time() - t0
        best = cpu if best is None else min(best, cpu)
    n = len(addr)
    say(f"model:     {best:8.3f} CPU s  {1e6 * best / n:6.2f} us/request  {s.dram_cycles:,} DRAM cycles  "
          f"hits/misses/conflicts {s.row_hits:,}/{s.row_misses:,}/{s.row_conflicts:,}")
    if args.ramulator:
        from trafficsim.dram.ramulator import cfg_text, run_ramulator, summarize_stats, trace_text
        with tempfile.TemporaryDirectory(prefix="bench-dram-") as tmp:
            c = Path(tmp) / "m.cfg"
            c.write_text(cfg_text("DDR4", "DDR4_3200", "DDR4_8Gb_x8", 1, 1))
            tr = Path(tmp) / "t.trace"
            tr.write_text(trace_text(addr, w))
            stats, rcpu = run_ramulator(c, tr, binary=Path(args.ramulator))
        r = summarize_stats(stats)
        same = (r["dram_cycles"], r["row_hits"], r["row_misses"], r["row_conflicts"]) == (
            s.dram_cycles, s.row_hits, s.row_misses, s.row_conflicts)
        say(f"Ramulator: {rcpu:8.3f} CPU s  {1e6 * rcpu / n:6.2f} us/request  {r['dram_cycles']:,} DRAM cycles  "
              f"hits/misses/conflicts {r['row_hits']:,}/{r['row_misses']:,}/{r['row_conflicts']:,}")
        say(f"ratio: the model is {rcpu / best:.1f}x faster than Ramulator (target >= 10x); "
              f"counts {'identical' if same else 'DIFFER'}")
    budget = 0.5   # of the 1 s per network a --dram capacity run may take
    say(f"budget: {budget} s for {n:,} requests allows {1e6 * budget / n:.2f} us/request; "
          f"the model takes {1e6 * best / n:.2f} ({'met' if best <= budget else 'NOT met'})")
    if args.docs:
        from trafficsim.files import atomic_write_text
        doc = ROOT / "docs" / "dram.md"
        text = doc.read_text()
        a, b = "<!-- bench-dram:begin -->", "<!-- bench-dram:end -->"
        stamp = f"Measured {time.strftime('%Y-%m-%d')} (`python benchmarks/bench_dram.py --ramulator PATH --docs`):"
        atomic_write_text(doc, text.split(a)[0] + a + "\n" + stamp + "\n\n```\n" + "\n".join(lines) + "\n```\n" + b
                          + text.split(b)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
