"""What each ``--fix`` changes on whole networks: the table of docs/compat.md "Fixes".

    python benchmarks/fix_effects.py [--models hardnet68,resnet50] [--array 32x32] [--sram 64]

For each model and dataflow (CALC, SCALE-Sim's scale.cfg otherwise) prints SCALE-Sim 3.0.0's network
totals and, per fix alone, the changed totals with the relative change; ``user-stall`` is shown on a
USER-mode run (bandwidth 10 words/cycle, SCALE-Sim's scale.cfg), since it does nothing in CALC mode.
"""
from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace

from trafficsim.engines import compat
from trafficsim.engines.compat_fixes import FIX_NAMES, CompatOptions
from trafficsim.inputs import apply_options, resolve_hardware, resolve_topology

FIELDS = {"os-cycles": "total_cycles", "total-cycles": "total_cycles", "ofmap-writes": "sram_ofmap_writes",
          "trace-padding": "dram_ofmap_writes", "user-stall": "stall_cycles"}


def _change(before: int, after: int) -> str:
    if after == before:
        return "0"
    return f"{after - before:+,} ({100 * (after - before) / before:+.3g} %)" if before else f"{after - before:+,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="hardnet68,resnet50")
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--sram", type=int, default=64)
    ap.add_argument("--dataflows", default="os,ws,is")
    ap.add_argument("--user-models", default="hardnet68",
                    help="models whose USER-mode run shows user-stall (USER runs cost minutes on big networks)")
    args = ap.parse_args()
    cpu0 = time.process_time()
    print("| model | dataflow | fix | field | SCALE-Sim 3.0.0 | fixed | change |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            topology = resolve_topology(model)
        for df in args.dataflows.split(","):
            hw = apply_options(resolve_hardware(args.array), dataflow=df, sram=args.sram)
            runs = {}
            for name in FIX_NAMES:
                if name == "user-stall" and model not in args.user_models.split(","):
                    continue
                h = replace(hw, bandwidth_mode="USER") if name == "user-stall" else hw
                if (h.bandwidth_mode, None) not in runs:
                    runs[(h.bandwidth_mode, None)] = compat.simulate(topology, h).totals()
                base = runs[(h.bandwidth_mode, None)]
                fixed = compat.simulate(topology, h, options=CompatOptions(fixes=(name,))).totals()
                key = FIELDS[name]
                b, f = base[key], fixed[key]
                change = _change(b, f)
                mode = " (USER)" if name == "user-stall" else ""
                print(f"| {model} | {df}{mode} | `{name}` | {key} | {b:,} | {f:,} | {change} |")
            allfix = compat.simulate(topology, hw, options=CompatOptions(fixes="all")).totals()
            base = runs[("CALC", None)]
            for key in ("total_cycles", "sram_ofmap_writes", "dram_ofmap_writes"):
                b, f = base[key], allfix[key]
                print(f"| {model} | {df} | `all` | {key} | {b:,} | {f:,} | {_change(b, f)} |")
    print(f"\n({time.process_time() - cpu0:.1f} CPU-s)")


if __name__ == "__main__":
    main()
