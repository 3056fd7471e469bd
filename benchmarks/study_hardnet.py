"""HarDNet study with the capacity engine: DRAM bytes, latency and energy of HarDNet-68, ResNet-50,
DenseNet-121 and the DS models against MobileNetV2 on a 32x32 WS array with 64 kB and 512 kB
SRAMs; FC-HarDNet-84 vs FC-DenseNet-103 at 360x480; Pearson r between CIO and DRAM traffic
across the whole zoo. Prints markdown (the numbers in docs/study-hardnet.md).

    python benchmarks/study_hardnet.py [--compat] [--json out.json]

``--compat`` adds SCALE-Sim 3.0.0's DRAM bytes (the compat engine; ~10-60 s per model).
"""
from __future__ import annotations

import argparse
import json
import math
import time

from trafficsim import metrics
from trafficsim.engines import simulate as engine_simulate
from trafficsim.engines.capacity import CapacityOptions, simulate
from trafficsim.hardware import Hardware
from trafficsim.zoo import list_models
from trafficsim.zoo.cache import model_topology

HEADLINE = ["hardnet68", "resnet50", "resnet50_v1", "densenet121", "densenet169", "hardnet39ds", "hardnet68ds",
            "mobilenet_v2", "mobilenet_v2_140"]
SEGMENTATION = ["fc_hardnet84", "fc_densenet103"]
INPUT_SHAPES = {"fc_hardnet84": (3, 360, 480), "fc_densenet103": (3, 360, 480)}  # CamVid; others 3x224x224


def topology(name: str):
    return model_topology(name, INPUT_SHAPES.get(name, (3, 224, 224)))
SRAMS_KB = (64, 512)
VARIANTS = {
    "layer-by-layer": CapacityOptions(),
    "concat copied": CapacityOptions(concat="materialised"),
    "fused + resident": CapacityOptions(fuse_pool_add=True, inter_layer_residency=True),
}


def hardware(sram_kb: int) -> Hardware:
    return Hardware(array_rows=32, array_cols=32, dataflow="ws", ifmap_sram_kb=sram_kb, filter_sram_kb=sram_kb,
                    ofmap_sram_kb=sram_kb)


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def run(name: str, sram_kb: int, options: CapacityOptions) -> dict:
    topo = topology(name)
    t = simulate(topo, hardware(sram_kb), options=options).totals()
    return {"dram_mb": t["dram_bytes"] / 1e6, "compulsory_mb": t["compulsory_bytes"] / 1e6,
            "bound_mb": t["bound_bytes"] / 1e6, "latency_ms": t["latency_ms"], "energy_mj": t["energy_uj"] / 1e3,
            "dram_energy_share": t["energy_dram_uj"] / t["energy_uj"], "stall_cycles": t["stall_cycles"],
            "memory_bound_layers": t["memory_bound"], "layers": len(topo.layers),
            "weight_mb": t["dram_filter_reads"] * t["dram_bytes"] / max(1, t["dram_words"]) / 1e6,
            "fmap_mb": (t["dram_ifmap_reads"] + t["dram_ofmap_writes"]) * t["dram_bytes"] / max(1, t["dram_words"]) / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compat", default="", help="comma-separated models to also run with SCALE-Sim 3.0.0's "
                    "numbers (the compat engine; slow)")
    ap.add_argument("--json", help="write all numbers to this JSON file")
    args = ap.parse_args()
    t_start = time.perf_counter()
    out: dict = {"hardware": {kb: hardware(kb).to_dict() for kb in SRAMS_KB}, "models": {}, "zoo": {}}

    print("## Headline models (3x224x224; segmentation models 3x360x480)\n")
    for kb in SRAMS_KB:
        print(f"### {kb} kB per SRAM, default options (zero-copy concat, ops charged, no residency)\n")
        print("| model | GMACs | CIO (M) | compulsory MB | DRAM MB | weights MB | feature maps MB | DRAM/compulsory "
              "| latency ms | energy mJ | DRAM share of energy | SCALE-Sim DRAM MB |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name in HEADLINE + SEGMENTATION:
            topo = topology(name)
            r = run(name, kb, VARIANTS["layer-by-layer"])
            r["cio_m"] = metrics.cio(topo) / 1e6
            r["gmacs"] = topo.macs / 1e9
            row = (f"| {name} | {r['gmacs']:.3f} | {r['cio_m']:.2f} | {r['compulsory_mb']:.2f} | {r['dram_mb']:.2f} "
                   f"| {r['weight_mb']:.2f} | {r['fmap_mb']:.2f} "
                   f"| {r['dram_mb'] / r['compulsory_mb']:.3f} | {r['latency_ms']:.3f} | {r['energy_mj']:.3f} "
                   f"| {100 * r['dram_energy_share']:.0f} % |")
            if name in args.compat.split(","):
                ct = engine_simulate(topo, hardware(kb), engine="compat").totals()
                r["scalesim_dram_mb"] = ct["dram_bytes"] / 1e6
                row += f" {r['scalesim_dram_mb']:.2f} |"
            else:
                row += " – |"
            print(row)
            out["models"].setdefault(name, {})[kb] = {"layer-by-layer": r}
        print()

    print("### Network-level options: DRAM MB (latency ms)\n")
    print("| model | SRAM kB | " + " | ".join(VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for name in HEADLINE + SEGMENTATION:
        for kb in SRAMS_KB:
            cells = []
            for vname, opts in VARIANTS.items():
                r = out["models"][name][kb].get(vname) or run(name, kb, opts)
                out["models"][name][kb][vname] = r
                cells.append(f"{r['dram_mb']:.2f} ({r['latency_ms']:.2f})")
            print(f"| {name} | {kb} | " + " | ".join(cells) + " |")
    print()

    print("### Ratios behind the paper's claims (DRAM MB, default options)\n")
    pairs = [("hardnet68", "resnet50"), ("hardnet68", "resnet50_v1"), ("hardnet68", "densenet121"),
             ("hardnet68", "densenet169"), ("hardnet39ds", "mobilenet_v2"), ("hardnet68ds", "mobilenet_v2"),
             ("hardnet68ds", "mobilenet_v2_140"), ("fc_hardnet84", "fc_densenet103")]
    print("| pair | CIO saving | DRAM saving 64 kB | DRAM saving 512 kB | latency saving 64 kB | "
          "latency saving 512 kB | DRAM saving, concat copied, 64 kB | feature-map DRAM saving 64 kB |")
    print("|---|---|---|---|---|---|---|---|")
    for a, b in pairs:
        ma, mb = out["models"][a], out["models"][b]
        cio_a, cio_b = ma[64]["layer-by-layer"]["cio_m"], mb[64]["layer-by-layer"]["cio_m"]
        cells = [f"{100 * (1 - cio_a / cio_b):.0f} %"]
        for key in ("dram_mb", "latency_ms"):
            for kb in SRAMS_KB:
                cells.append(f"{100 * (1 - ma[kb]['layer-by-layer'][key] / mb[kb]['layer-by-layer'][key]):.0f} %")
        cells.append(f"{100 * (1 - ma[64]['concat copied']['dram_mb'] / mb[64]['concat copied']['dram_mb']):.0f} %")
        cells.append(f"{100 * (1 - ma[64]['layer-by-layer']['fmap_mb'] / mb[64]['layer-by-layer']['fmap_mb']):.0f} %")
        print(f"| {a} vs {b} | " + " | ".join(cells) + " |")
    print()

    print("## CIO vs DRAM traffic across the zoo (each model at its default input)\n")
    names = list_models()
    cios, drams, fmaps = [], {kb: [] for kb in SRAMS_KB}, {kb: [] for kb in SRAMS_KB}
    print("| model | input | CIO (M) | DRAM MB 64 kB | DRAM MB 512 kB | feature-map MB 64 kB | feature-map MB 512 kB |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        topo = model_topology(name)  # the model's default input
        c = metrics.cio(topo) / 1e6
        cios.append(c)
        row = ["x".join(map(str, topo.input_shape)), f"{c:.2f}"]
        for kb in SRAMS_KB:
            t = simulate(topo, hardware(kb)).totals()
            drams[kb].append(t["dram_bytes"] / 1e6)
            fmaps[kb].append((t["dram_ifmap_reads"] + t["dram_ofmap_writes"]) / 1e6)  # 1-byte words
            row.append(f"{drams[kb][-1]:.2f}")
        row += [f"{fmaps[kb][-1]:.2f}" for kb in SRAMS_KB]
        out["zoo"][name] = {"cio_m": c, **{f"dram_mb_{kb}": drams[kb][-1] for kb in SRAMS_KB}}
        print(f"| {name} | " + " | ".join(row) + " |")
    print()
    classif = [i for i, n in enumerate(names) if not (n.startswith("fc_") or n == "segnet")]
    for kb in SRAMS_KB:
        r_all = pearson(cios, drams[kb])
        r_cls = pearson([cios[i] for i in classif], [drams[kb][i] for i in classif])
        f_all = pearson(cios, fmaps[kb])
        f_cls = pearson([cios[i] for i in classif], [fmaps[kb][i] for i in classif])
        out[f"pearson_{kb}"] = {"all": r_all, "classification": r_cls, "fmap_all": f_all, "fmap_classification": f_cls}
        print(f"- {kb} kB: Pearson r(CIO, DRAM bytes) = **{r_all:.3f}** over all {len(names)} models, "
              f"{r_cls:.3f} over the {len(classif)} ImageNet models; r(CIO, feature-map DRAM bytes) = "
              f"**{f_all:.3f}** / {f_cls:.3f}")
    print(f"\n(study took {time.perf_counter() - t_start:.1f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
