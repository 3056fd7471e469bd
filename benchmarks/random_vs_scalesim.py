"""Randomised comparison of the compat engine against the real SCALE-Sim 3.0.0 on tiny layers.

    python benchmarks/random_vs_scalesim.py --cases 200 --seed 1
    python benchmarks/random_vs_scalesim.py --cases 50 --seed 7 --user 0.5   # more USER-mode cases

Each case draws a small array (1..9 x 1..9), a dataflow, SRAM sizes of 1..4 kB, CALC or USER mode,
and one to three conv layers (IFMAP up to 13x13, filters up to the IFMAP, strides 1..4, so that
SCALE-Sim's ceil output size often leaves out-of-range IFMAP rows and columns), then compares every
LayerResult field (integers exactly, floats to 1e-9 relative). Prints each mismatching case with
its CSV and hardware, a summary, and exits 1 on any mismatch. SCALE-Sim costs ~5 us per SRAM
access, so cases are kept to a few thousand demand rows.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def draw_case(rng: random.Random, user_share: float):
    from trafficsim.engines.compat import fold_geometry
    from trafficsim.hardware import Hardware
    from trafficsim.topology import read_csv

    while True:
        kw = dict(array_rows=rng.randint(1, 9), array_cols=rng.randint(1, 9), dataflow=rng.choice(["os", "ws", "is"]),
                  ifmap_sram_kb=rng.randint(1, 4), filter_sram_kb=rng.randint(1, 4), ofmap_sram_kb=rng.randint(1, 4))
        if rng.random() < user_share:
            kw.update(bandwidth_mode="USER", bandwidth=rng.randint(1, 10), ifmap_dram_bw=rng.randint(1, 10),
                      filter_dram_bw=rng.randint(1, 10), ifmap_bank_num=1, filter_bank_num=1)
        hw = Hardware(**kw)
        lines = []
        for i in range(rng.randint(1, 3)):
            h, w = rng.randint(1, 13), rng.randint(1, 13)
            r, s = rng.randint(1, min(h, 5)), rng.randint(1, min(w, 5))
            lines.append(f"L{i},{h},{w},{r},{s},{rng.randint(1, 8)},{rng.randint(1, 24)},{rng.randint(1, 4)},\n")
        text = HEADER + "".join(lines)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "case.csv"
            path.write_text(text)
            topo = read_csv(path)
        from trafficsim.topology import expand_dp, scalesim_rows
        rows = expand_dp(scalesim_rows(topo))
        if sum(fold_geometry(row, hw).demand_rows for row in rows) <= 4000:
            return text, hw, topo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--user", type=float, default=0.25, help="share of USER-mode cases (default 0.25)")
    args = ap.parse_args()

    from trafficsim.engines import compat, scalesim_ref
    from trafficsim.errors import EngineError
    from trafficsim.validation import compare_results

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    failed = crashed = layers = 0
    for n in range(args.cases):
        text, hw, topo = draw_case(rng, args.user)
        try:
            ref = scalesim_ref.simulate(topo, hw)
        except EngineError as e:  # SCALE-Sim crashes on some tiny USER-mode layers (docs/compat.md)
            crashed += 1
            print(f"case {n}: SCALE-Sim failed ({e}); skipped")
            continue
        ours = compat.simulate(topo, hw, threads=1)
        layers += len(ours.layers)
        # trafficsim validate's comparison: every result field, integers exactly, floats to 1e-9 relative
        bad = [(d.layer_name, d.field, d.value_a, d.value_b) for d in compare_results(ours, ref, rel_tol=1e-9)]
        if bad:
            failed += 1
            print(f"case {n}: {len(bad)} mismatching fields on {hw.label()} {hw.bandwidth_mode} "
                  f"(bw {hw.bandwidth}, {hw.ifmap_dram_bw}, {hw.filter_dram_bw}):\n{text}"
                  + "".join(f"  {b}\n" for b in bad[:8]))
    done = args.cases - crashed
    print(f"{done} cases ({layers} layers) compared, {failed} with mismatches, {crashed} skipped "
          f"(SCALE-Sim failed); seed {args.seed}, {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
