"""Transformer targets of issue 14, measured in CPU seconds (the machines are shared: wall time lies).

    python benchmarks/bench_llm.py                 # both targets and the SCALE-Sim subset (a few minutes)
    python benchmarks/bench_llm.py --no-scalesim   # without the SCALE-Sim subset

1. ``trafficsim run llama3_8b --phase decode --context 4096 -e capacity --no-write -q``: the whole command a
   user runs (interpreter start-up, imports, topology, engine), target < 1 CPU-s.
2. ``trafficsim run bert_base --seq 128 --array 32x32 --no-write -q`` (compat engine): the whole command,
   target < 10 CPU-s.
3. SCALE-Sim 3.0.0 against the compat engine on a subset of BERT-base's rows (one encoder layer's distinct GEMM
   rows: the Q/K/V/output projections, the two FFN GEMMs, one head's QK^T and AV), in-process CPU seconds of
   each, side by side, and SCALE-Sim's time for all of BERT's rows extrapolated by SRAM accesses (SCALE-Sim's
   cost is per access).

Each command runs ``--repeat`` times after one warm-up run (numba's cache load is part of every run; its
first compile is not). Nothing is asserted: this prints numbers and ratios.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def command_cpu(argv: list[str], repeat: int) -> list[float]:
    """CPU seconds (user + system, the process and its threads) of each of ``repeat`` runs of ``argv``."""
    exe = shutil.which("trafficsim")
    cmd = [exe, *argv] if exe else [sys.executable, "-m", "trafficsim", *argv]
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up: compiled caches in place
    times = []
    for _ in range(repeat):
        c0 = _children_cpu()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(_children_cpu() - c0)
    return times


def scalesim_subset(hw_array: int = 32) -> None:
    from trafficsim.engines import compat, scalesim_ref
    from trafficsim.engines.compat import fold_geometry, sram_counts
    from trafficsim.hardware import Hardware
    from trafficsim.topology import Layer, Topology, expand_dp, scalesim_rows
    from trafficsim.zoo.cache import model_topology

    hw = Hardware(array_rows=hw_array, array_cols=hw_array)
    bert = model_topology("bert_base", seq_len=128)
    prefix = "encoder.layer.0."
    chosen, seen = [], set()
    for layer in bert.layers:
        if not layer.name.startswith(prefix):
            continue
        key = (layer.gemm_mnk, layer.operand_b)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(Layer(name=layer.name.replace(prefix, "L0."), kind="gemm", in_c=1, in_h=layer.in_h,
                            in_w=layer.in_w, out_c=layer.out_c, out_h=layer.in_h, out_w=1, kernel_w=layer.in_w,
                            order=len(chosen)))  # one copy of each distinct row
    subset = Topology(name="bert_base-subset", layers=tuple(chosen))

    def accesses(rows) -> int:
        return sum(sum(sram_counts(fold_geometry(r, hw))) for r in rows)

    print(f"\nSCALE-Sim 3.0.0 vs compat on {len(chosen)} distinct BERT-base rows, {hw_array}x{hw_array} WS, 64 kB:")
    print(f"  {'row (M, N, K)':38s} {'SCALE-Sim CPU s':>15s} {'compat CPU s':>12s} {'ratio':>8s}")
    tot_ref = tot_ours = 0.0
    for layer in chosen:
        one = Topology(name=layer.name, layers=(layer,))
        c0 = time.process_time()
        ref = scalesim_ref.simulate(one, hw)
        t_ref = time.process_time() - c0
        compat.simulate(one, hw, threads=1)  # first call loads the kernel
        c0 = time.process_time()
        ours = compat.simulate(one, hw, threads=1)
        t_ours = time.process_time() - c0
        same = ours.totals() == ref.totals()
        tot_ref += t_ref
        tot_ours += t_ours
        m, n, k = layer.gemm_mnk
        print(f"  {layer.name[:24]:24s} {m:4d}x{n:4d}x{k:4d} {t_ref:15.2f} {t_ours:12.4f} {t_ref / max(t_ours, 1e-6):8.0f}"
              f"{'' if same else '  TOTALS DIFFER'}")
    sub_acc = accesses(expand_dp(scalesim_rows(subset)))
    all_acc = accesses(expand_dp(scalesim_rows(bert)))
    print(f"  subset total: SCALE-Sim {tot_ref:.1f} CPU-s, compat {tot_ours:.3f} CPU-s")
    print(f"  all {len(expand_dp(scalesim_rows(bert)))} BERT rows: {all_acc / sub_acc:.0f}x the subset's SRAM accesses"
          f" -> SCALE-Sim ~{tot_ref * all_acc / sub_acc / 60:.0f} CPU-min (extrapolated, not run)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-scalesim", action="store_true", help="skip the SCALE-Sim subset")
    args = ap.parse_args()
    env_threads = os.environ.get("TRAFFICSIM_THREADS", "(all cores)")
    print(f"python {sys.version.split()[0]}, TRAFFICSIM_THREADS={env_threads}, CPU seconds of the whole command")
    targets = [
        ("llama3_8b decode @4096, capacity", ["run", "llama3_8b", "--phase", "decode", "--context", "4096",
                                              "-e", "capacity", "--no-write", "-q"], 1.0),
        ("bert_base seq 128, 32x32, compat", ["run", "bert_base", "--seq", "128", "--array", "32x32", "--no-write",
                                              "-q"], 10.0),
    ]
    print(f"{'command':36s} {'best CPU s':>10s} {'median':>8s} {'target':>7s}")
    for label, argv, target in targets:
        t = sorted(command_cpu(argv, args.repeat))
        print(f"{label:36s} {t[0]:10.2f} {t[len(t) // 2]:8.2f} {'<' + format(target, 'g'):>7s} "
              f"{'met' if t[0] < target else 'MISSED'}")
    if not args.no_scalesim:
        scalesim_subset()


if __name__ == "__main__":
    main()
