"""HarDNet study with the capacity engine: DRAM bytes, latency and energy of HarDNet-68, ResNet-50,
DenseNet-121 and the DS models against MobileNetV2 on a 32x32 WS array with 64 kB and 512 kB
SRAMs; FC-HarDNet-84 vs FC-DenseNet-103 at 360x480; the same on a DRAM model (DDR4-3200 and
LPDDR4-3200, one channel) next to the ideal pipe; the traffic accountings side by side; Pearson r
between CIO and DRAM traffic across the whole zoo. Prints markdown (the numbers in docs/study-hardnet.md).

    python benchmarks/study_hardnet.py [--compat MODELS] [--json out.json] [--write-doc docs/study-hardnet.md]

``--compat`` adds SCALE-Sim 3.0.0's DRAM bytes (the compat engine; ~10-60 s per model). ``--write-doc`` replaces
everything after the doc's "## Full output" line by this run's output (the findings above it are prose).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from pathlib import Path

from trafficsim import metrics
from trafficsim.dram import DramConfig
from trafficsim.engines import simulate as engine_simulate
from trafficsim.engines.capacity import CapacityOptions, simulate
from trafficsim.hardware import Hardware
from trafficsim.zoo import list_models, model_family
from trafficsim.zoo.cache import default_input_shape, model_topology

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


# DRAM standards next to the ideal pipe (12.8 GB/s): one channel each, as an edge accelerator would have
DRAMS = ("ddr4-3200", "lpddr4-3200")


def hardware(sram_kb: int, dram: str = "ideal") -> Hardware:
    hw = Hardware(array_rows=32, array_cols=32, dataflow="ws", ifmap_sram_kb=sram_kb, filter_sram_kb=sram_kb,
                  ofmap_sram_kb=sram_kb)
    return hw if dram == "ideal" else hw.with_(dram=DramConfig(standard=dram))


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def run(name: str, sram_kb: int, options: CapacityOptions, dram: str = "ideal") -> dict:
    topo = topology(name)
    cpu0 = time.process_time()
    res = simulate(topo, hardware(sram_kb, dram), options=options)
    cpu = time.process_time() - cpu0
    t = res.totals()
    # conv layers' own traffic (charged pool/add/concat-copy traffic left out) against their compulsory traffic
    own = [lr.extra for lr in res.layers]
    at_compulsory = sum(1 for e in own if e["layer_dram_bytes"] <= e["compulsory_bytes"] * (1 + 1e-9))
    out = {"conv_mb": t["layer_dram_bytes"] / 1e6, "ops_mb": (t["dram_bytes"] - t["layer_dram_bytes"]) / 1e6,
           "layers_at_compulsory": at_compulsory, "compute_ms": t["compute_cycles"] / (res.hardware.clock_mhz * 1e3),
           "total_cycles": t["total_cycles"], "cpu_s": cpu}
    if dram != "ideal":
        out.update({"dram_cycles": t["dram_cycles"], "row_hit_rate": t["row_hit_rate"],
                    "achieved_gbs": t["achieved_bandwidth_gbs"], "peak_gbs": res.meta["dram"]["peak_bandwidth_gbs"],
                    "moved_mb": t["dram_moved_bytes"] / 1e6, "dram_energy_mj": t["dram_energy_pj"] / 1e9})
    return out | {"dram_mb": t["dram_bytes"] / 1e6, "compulsory_mb": t["compulsory_bytes"] / 1e6,
            "bound_mb": t["bound_bytes"] / 1e6, "latency_ms": t["latency_ms"], "energy_mj": t["energy_uj"] / 1e3,
            "dram_energy_share": t["energy_dram_uj"] / t["energy_uj"], "stall_cycles": t["stall_cycles"],
            "memory_bound_layers": t["memory_bound"], "layers": len(topo.layers),
            "weight_mb": t["dram_filter_reads"] * t["dram_bytes"] / max(1, t["dram_words"]) / 1e6,
            "fmap_mb": (t["dram_ifmap_reads"] + t["dram_ofmap_writes"]) * t["dram_bytes"] / max(1, t["dram_words"]) / 1e6}


class _Tee(io.TextIOBase):
    """stdout that also keeps what was written (for --write-doc)."""

    def __init__(self, stream) -> None:
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.kept.write(text)


def pct(a: float, b: float) -> str:
    """The saving of ``a`` against ``b`` (positive: ``a`` is smaller)."""
    return f"{100 * (1 - a / b):.0f} %"


PAIRS = [("hardnet68", "resnet50"), ("hardnet68", "resnet50_v1"), ("hardnet68", "densenet121"),
         ("hardnet68", "densenet169"), ("hardnet39ds", "mobilenet_v2"), ("hardnet68ds", "mobilenet_v2"),
         ("hardnet68ds", "mobilenet_v2_140"), ("fc_hardnet84", "fc_densenet103")]


def study(args) -> dict:
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    out: dict = {"hardware": {kb: hardware(kb).to_dict() for kb in SRAMS_KB}, "models": {}, "zoo": {}, "dram": {}}

    print("## Headline models (3x224x224; segmentation models 3x360x480)\n")
    print("\"conv DRAM / compulsory\" divides the conv and FC layers' own traffic by their own compulsory traffic "
          "(each operand once); \"ops MB\" is the traffic of the pooling, add and copy ops charged to them, which "
          "no compulsory figure counts. \"at compulsory\" counts the layers whose own traffic equals their "
          "compulsory traffic.\n")
    for kb in SRAMS_KB:
        print(f"### {kb} kB per SRAM, default options (zero-copy concat, ops charged, no residency)\n")
        print("| model | GMACs | CIO (M) | compulsory MB | DRAM MB | weights MB | feature maps MB | conv DRAM MB "
              "| ops MB | conv DRAM / compulsory | at compulsory | latency ms | energy mJ | DRAM share of energy "
              "| SCALE-Sim DRAM MB |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for name in HEADLINE + SEGMENTATION:
            topo = topology(name)
            r = run(name, kb, VARIANTS["layer-by-layer"])
            r["cio_m"] = metrics.cio(topo) / 1e6
            r["gmacs"] = topo.macs / 1e9
            row = (f"| {name} | {r['gmacs']:.3f} | {r['cio_m']:.2f} | {r['compulsory_mb']:.2f} | {r['dram_mb']:.2f} "
                   f"| {r['weight_mb']:.2f} | {r['fmap_mb']:.2f} | {r['conv_mb']:.2f} | {r['ops_mb']:.2f} "
                   f"| {r['conv_mb'] / r['compulsory_mb']:.3f} | {r['layers_at_compulsory']}/{r['layers']} "
                   f"| {r['latency_ms']:.3f} | {r['energy_mj']:.3f} | {100 * r['dram_energy_share']:.0f} % |")
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
    print("| pair | CIO saving | DRAM saving 64 kB | DRAM saving 512 kB | latency saving 64 kB | "
          "latency saving 512 kB | DRAM saving, concat copied, 64 kB | feature-map DRAM saving 64 kB |")
    print("|---|---|---|---|---|---|---|---|")
    for a, b in PAIRS:
        ma, mb = out["models"][a], out["models"][b]
        cio_a, cio_b = ma[64]["layer-by-layer"]["cio_m"], mb[64]["layer-by-layer"]["cio_m"]
        cells = [pct(cio_a, cio_b)]
        for key in ("dram_mb", "latency_ms"):
            for kb in SRAMS_KB:
                cells.append(pct(ma[kb]["layer-by-layer"][key], mb[kb]["layer-by-layer"][key]))
        cells.append(pct(ma[64]["concat copied"]["dram_mb"], mb[64]["concat copied"]["dram_mb"]))
        cells.append(pct(ma[64]["layer-by-layer"]["fmap_mb"], mb[64]["layer-by-layer"]["fmap_mb"]))
        print(f"| {a} vs {b} | " + " | ".join(cells) + " |")
    print()

    print("### The saving under each accounting of the traffic\n")
    print("CIO counts every conv layer's input and output once (concatenations free, pooling and adds not "
          "counted, weights not counted); \"convs only\" is the conv and FC layers' own DRAM traffic (weights "
          "included, charged ops left out); \"default\" adds the pooling/add traffic charged to them (concat "
          "zero-copy: the study's headline accounting); \"concat copied\" also copies every concatenation; "
          "\"fused + resident\" fuses pooling/adds into the convs and keeps small feature maps on chip.\n")
    print("| pair | SRAM kB | CIO | convs only | default | concat copied | fused + resident |")
    print("|---|---|---|---|---|---|---|")
    for a, b in PAIRS:
        ma, mb = out["models"][a], out["models"][b]
        for kb in SRAMS_KB:
            la, lb = ma[kb]["layer-by-layer"], mb[kb]["layer-by-layer"]
            cells = [pct(la["cio_m"], lb["cio_m"]), pct(la["conv_mb"], lb["conv_mb"]), pct(la["dram_mb"], lb["dram_mb"])]
            cells += [pct(ma[kb][v]["dram_mb"], mb[kb][v]["dram_mb"]) for v in ("concat copied", "fused + resident")]
            print(f"| {a} vs {b} | {kb} | " + " | ".join(cells) + " |")
    print()

    print("## On a DRAM model: DDR4-3200 and LPDDR4-3200, one channel, next to the ideal pipe\n")
    print("The same runs (default options, NCHW, row-aligned tensors, open page, RoBaRaCoCh mapping) with each "
          "layer's transfers placed in DRAM and timed by the DRAM model (`docs/dram.md`), stalls fed back into "
          "the schedule. \"compute ms\" is the array alone; \"ideal\" is the 12.8 GB/s pipe above; \"stall\" is "
          "the share of the latency the array waits for DRAM; \"row hits\" the share of accesses that hit an open "
          "row; \"GB/s\" the bandwidth achieved while the DRAM is busy (peak: DDR4-3200 25.6, LPDDR4-3200 12.8); "
          "\"DRAM mJ\" the DRAM's energy from its commands and background power.\n")
    for kb in SRAMS_KB:
        print(f"### {kb} kB per SRAM\n")
        hdr = "| model | compute ms | ideal ms |"
        sep = "|---|---|---|"
        for d in DRAMS:
            hdr += f" {d} ms | stall | row hits | GB/s | DRAM mJ |"
            sep += "---|---|---|---|---|"
        print(hdr)
        print(sep)
        for name in HEADLINE + SEGMENTATION:
            ideal = out["models"][name][kb]["layer-by-layer"]
            cells = [f"{ideal['compute_ms']:.3f}", f"{ideal['latency_ms']:.3f}"]
            for d in DRAMS:
                r = run(name, kb, VARIANTS["layer-by-layer"], d)
                out["dram"].setdefault(name, {}).setdefault(kb, {})[d] = r
                cells += [f"{r['latency_ms']:.3f}", f"{100 * r['stall_cycles'] / r['total_cycles']:.0f} %",
                          f"{100 * r['row_hit_rate']:.1f} %", f"{r['achieved_gbs']:.1f}",
                          f"{r['dram_energy_mj']:.2f}"]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()

    print("### Savings on the DRAM model (the first network against the second)\n")
    print("| pair | SRAM kB | DRAM bytes | compute cycles | latency, ideal | " +
          " | ".join(f"latency, {d}" for d in DRAMS) + " | " + " | ".join(f"DRAM energy, {d}" for d in DRAMS) + " |")
    print("|---|---|---|---|---|" + "---|" * (2 * len(DRAMS)))
    for a, b in PAIRS:
        for kb in SRAMS_KB:
            la, lb = out["models"][a][kb]["layer-by-layer"], out["models"][b][kb]["layer-by-layer"]
            da, db = out["dram"][a][kb], out["dram"][b][kb]
            cells = [pct(la["dram_mb"], lb["dram_mb"]), pct(la["compute_ms"], lb["compute_ms"]),
                     pct(la["latency_ms"], lb["latency_ms"])]
            cells += [pct(da[d]["latency_ms"], db[d]["latency_ms"]) for d in DRAMS]
            cells += [pct(da[d]["dram_energy_mj"], db[d]["dram_energy_mj"]) for d in DRAMS]
            print(f"| {a} vs {b} | {kb} | " + " | ".join(cells) + " |")
    print()

    print("## CIO vs DRAM traffic across the zoo (each model at its default input)\n")
    # the convolutional networks (CIO is a CNN metric): token models and ViT left out
    names = [n for n in list_models() if default_input_shape(n) is not None and model_family(n) != "transformer"]
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
    print(f"\n(study took {time.perf_counter() - t_start:.1f} s wall, {time.process_time() - cpu_start:.1f} s CPU)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compat", default="", help="comma-separated models to also run with SCALE-Sim 3.0.0's "
                    "numbers (the compat engine; slow)")
    ap.add_argument("--json", help="write all numbers to this JSON file")
    ap.add_argument("--write-doc", type=Path, help="replace what follows '## Full output' in this markdown file "
                    "(docs/study-hardnet.md) by this run's output")
    args = ap.parse_args()
    if args.write_doc is not None:
        doc = args.write_doc.read_text()
        marker = "## Full output\n"
        if marker not in doc:
            sys.exit(f"{args.write_doc}: no '## Full output' line to write below")
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        out = study(args)
    if args.write_doc is not None:
        from trafficsim.files import atomic_write_text
        atomic_write_text(args.write_doc, doc[:doc.index(marker) + len(marker)] + tee.kept.getvalue())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
