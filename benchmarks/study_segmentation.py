"""The HarDNet paper's segmentation study (ICCV 2019, Fig. 4c), made reproducible.

Every segmentation network of the zoo at 3x360x480 (the paper's CamVid size) through the ``compat`` engine
(SCALE-Sim 3.0.0's numbers) and the ``capacity`` engine, on the ``arm-scale`` and ``eyeriss`` presets. Writes into
``reports/segmentation/`` (or ``--out``):

* ``points/<net>__<preset>__<engine>.json``: one cached result per point (delete, or pass ``--fresh``, to redo);
* ``networks.csv`` / ``networks.md``: params, MACs and CIO per network, against the paper's Table 2;
* ``results.csv`` / ``results.md``: cycles and DRAM traffic per network, preset and engine;
* ``cycles_vs_dram.png``: the paper-style figure, inference cycles against DRAM traffic, one point per network;
* ``summary.md`` / ``summary.json``: the FC-HarDNet-84 vs FC-DenseNet-103 time and traffic reductions, the
  traffic/time Pearson correlation per preset and engine, and the compat engine's run time and memory on
  FC-DenseNet-103.

Usage::

    python benchmarks/study_segmentation.py                       # everything (long on a busy machine)
    python benchmarks/study_segmentation.py --nets fc_hardnet68 fc_densenet56 --engines capacity
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import resource
import sys
import time
from pathlib import Path

from trafficsim import metrics
from trafficsim.engines import simulate
from trafficsim.hardware import preset
from trafficsim.files import atomic_write_text
from trafficsim.zoo.cache import model_topology

# The paper's CamVid networks (Table 2 / Fig. 4c), then the Cityscapes FC-HarDNet-70 for context
PAPER_NETS = ("segnet", "fc_densenet56", "fc_densenet67", "fc_densenet103", "fc_hardnet68", "fc_hardnet76",
              "fc_hardnet84")
NETS = (*PAPER_NETS, "fc_hardnet70")
PRESETS = ("arm-scale", "eyeriss")
ENGINES = ("compat", "capacity")
INPUT = (3, 360, 480)
TABLE2_INPUT = (3, 352, 480)
MIB = 2 ** 20

# Table 2 of the HarDNet paper (at 352x480): params (M), "GMACs" (= 2 x MACs, see docs/segmentation.md),
# CIO (fp32 MiB), GPU time (s, 233 CamVid test images on a Titan V)
TABLE2 = {
    "segnet": (29.5, 224, 702, 3.7),
    "fc_densenet56": (1.4, 60, 1351, 6.1),
    "fc_densenet67": (3.5, 140, 2286, 10.2),
    "fc_densenet103": (9.4, 134, 2150, 11.4),
    "fc_hardnet68": (1.4, 15, 473, 3.1),
    "fc_hardnet76": (3.5, 54, 932, 4.9),
    "fc_hardnet84": (8.4, 100, 1267, 6.7),
}
LABELS = {"segnet": "SegNet", "fc_densenet56": "FC-DenseNet56", "fc_densenet67": "FC-DenseNet67",
          "fc_densenet103": "FC-DenseNet103", "fc_hardnet68": "FC-HarDNet68", "fc_hardnet76": "FC-HarDNet76",
          "fc_hardnet84": "FC-HarDNet84", "fc_hardnet70": "FC-HarDNet70"}


def pearson_r(xs: list[float], ys: list[float]) -> float:
    """Pearson correlation coefficient of two equally long samples (nan for fewer than 3 points)."""
    n = len(xs)
    if n < 3:
        return math.nan
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def network_row(net: str) -> dict:
    """Params, MACs and CIO of one network at 360x480, and CIO/FLOPs at 352x480 against Table 2."""
    topo = model_topology(net, INPUT)
    row = {"net": net, "label": LABELS[net], "params": metrics.params(topo), "macs_360": metrics.macs(topo),
           "cio_mib_360": metrics.cio(topo) * 4 / MIB, "conv_layers": len(topo.layers),
           "transposed_convs": sum(layer.transposed for layer in topo.layers)}
    if net in TABLE2:
        t352 = model_topology(net, TABLE2_INPUT)
        p_params, p_gmacs, p_cio, p_gpu = TABLE2[net]
        row.update({"cio_mib_352": metrics.cio(t352) * 4 / MIB, "gflops_352": 2 * metrics.macs(t352) / 1e9,
                    "paper_params_m": p_params, "paper_gmacs": p_gmacs, "paper_cio_mib": p_cio,
                    "paper_gpu_time_s": p_gpu})
        row["cio_diff_pct"] = 100 * (row["cio_mib_352"] / p_cio - 1)
    return row


def run_point(net: str, preset_name: str, engine: str, points: Path, fresh: bool,
              cached_only: bool = False) -> dict | None:
    """Simulate one (network, preset, engine) point, or load it from its cached JSON
    (``None`` when ``cached_only`` and it is not cached)."""
    path = points / f"{net}__{preset_name}__{engine}.json"
    if path.exists() and not fresh:
        return json.loads(path.read_text())
    if cached_only:
        return None
    topo = model_topology(net, INPUT)
    hardware = preset(preset_name)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = simulate(topo, hardware, engine=engine)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    totals = result.totals()
    point = {
        "net": net, "preset": preset_name, "engine": engine, "input": "x".join(map(str, INPUT)),
        "hardware": hardware.label() if hasattr(hardware, "label") else preset_name,
        "total_cycles": totals["total_cycles"], "stall_cycles": totals["stall_cycles"],
        "dram_ifmap_words": totals["dram_ifmap_reads"], "dram_filter_words": totals["dram_filter_reads"],
        "dram_ofmap_words": totals["dram_ofmap_writes"], "dram_words": totals["dram_words"],
        "dram_bytes": totals["dram_bytes"], "macs": totals["macs"],
        "latency_ms": totals.get("latency_ms"), "energy_uj": totals.get("energy_uj"),
        "simulated_rows": len(result.layers), "wall_s": wall, "cpu_s": cpu,
        # peak resident memory of the whole study process so far (torch, the traces and this run)
        "process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    points.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(point, indent=1))
    return point


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]))
                              for k in keys))
    atomic_write_text(path, "\n".join(lines) + "\n")


def _md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def make_figure(points: list[dict], path: Path, presets: tuple[str, ...], engines: tuple[str, ...]) -> None:
    """Inference cycles against DRAM traffic, one point per network, one panel per preset and engine."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(engines), len(presets), figsize=(6.2 * len(presets), 4.6 * len(engines)),
                             squeeze=False)
    colours = {"segnet": "tab:gray", "fc_densenet": "tab:blue", "fc_hardnet": "tab:red"}
    for i, engine in enumerate(engines):
        for j, preset_name in enumerate(presets):
            ax = axes[i][j]
            sel = [p for p in points if p["engine"] == engine and p["preset"] == preset_name]
            for p in sel:
                fam = "segnet" if p["net"] == "segnet" else p["net"].rstrip("0123456789")
                hollow = p["net"] not in PAPER_NETS
                ax.scatter(p["dram_bytes"] / 1e6, p["total_cycles"] / 1e6, s=40,
                           facecolors="none" if hollow else colours[fam], edgecolors=colours[fam])
                left = p["net"] in ("fc_densenet103", "fc_hardnet76")  # keep neighbouring labels apart
                ax.annotate(LABELS[p["net"]], (p["dram_bytes"] / 1e6, p["total_cycles"] / 1e6), fontsize=7,
                            xytext=(-4, 3) if left else (4, 3), ha="right" if left else "left",
                            textcoords="offset points")
            paper = [p for p in sel if p["net"] in PAPER_NETS]
            r = pearson_r([p["dram_bytes"] for p in paper], [p["total_cycles"] for p in paper])
            ax.set_title(f"{preset_name}, {engine} engine (Pearson r = {r:.3f})", fontsize=10)
            ax.set_xlabel("DRAM traffic (MB)")
            ax.set_ylabel("inference cycles (M)")
            ax.grid(alpha=0.3)
    fig.suptitle("CamVid segmentation nets at 360x480 (hollow: FC-HarDNet-70, not in the paper; r over the paper's nets)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    tmp.replace(path)


def summarise(nets_rows: list[dict], points: list[dict], presets: tuple[str, ...],
              engines: tuple[str, ...]) -> dict:
    """Reductions of FC-HarDNet-84 against FC-DenseNet-103 and traffic/time correlations per preset and engine."""
    by = {(p["net"], p["preset"], p["engine"]): p for p in points}
    out: dict = {"reductions": [], "correlations": []}
    for preset_name in presets:
        for engine in engines:
            a, b = by.get(("fc_hardnet84", preset_name, engine)), by.get(("fc_densenet103", preset_name, engine))
            if a and b:
                out["reductions"].append({
                    "preset": preset_name, "engine": engine,
                    "time_reduction_pct": 100 * (1 - a["total_cycles"] / b["total_cycles"]),
                    "dram_reduction_pct": 100 * (1 - a["dram_bytes"] / b["dram_bytes"])})
            sel = [by[(n, preset_name, engine)] for n in PAPER_NETS if (n, preset_name, engine) in by]
            if len(sel) >= 3:
                xs, ys = [p["dram_bytes"] for p in sel], [p["total_cycles"] for p in sel]
                out["correlations"].append({
                    "preset": preset_name, "engine": engine, "networks": len(sel), "pearson_r": pearson_r(xs, ys),
                    "pearson_r_without_segnet": pearson_r(
                        [p["dram_bytes"] for p in sel if p["net"] != "segnet"],
                        [p["total_cycles"] for p in sel if p["net"] != "segnet"])})
    nets = {r["net"]: r for r in nets_rows}
    if "fc_hardnet84" in nets and "fc_densenet103" in nets:
        out["cio_reduction_pct_352"] = 100 * (1 - nets["fc_hardnet84"]["cio_mib_352"] / nets["fc_densenet103"]["cio_mib_352"])
    timing = by.get(("fc_densenet103", "arm-scale", "compat"))
    if timing:
        out["compat_fc_densenet103_arm_scale"] = {k: timing[k] for k in ("wall_s", "cpu_s", "process_peak_rss_mib",
                                                                          "simulated_rows")}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the study and write every output; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/segmentation"))
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--fresh", action="store_true", help="ignore cached points")
    parser.add_argument("--cached-only", action="store_true",
                        help="simulate nothing: build the outputs from the cached points, listing missing ones")
    args = parser.parse_args(argv)
    out: Path = args.out
    presets, engines = tuple(args.presets), tuple(args.engines)

    # FC-DenseNet-103 on compat first, so its time and the process's peak memory are measured alone
    order = sorted(args.nets, key=lambda n: n != "fc_densenet103")
    points, missing = [], []
    for engine in sorted(engines, key=lambda e: e != "capacity"):  # the fast engine first
        for preset_name in presets:
            for net in order:
                t0 = time.perf_counter()
                p = run_point(net, preset_name, engine, out / "points", args.fresh, args.cached_only)
                if p is None:
                    missing.append(f"{net} / {preset_name} / {engine}")
                    continue
                points.append(p)
                print(f"{net:15s} {preset_name:9s} {engine:8s} cycles {p['total_cycles']:>13,d} "
                      f"DRAM {p['dram_bytes'] / 1e6:9.1f} MB  ({time.perf_counter() - t0:.1f} s)", flush=True)

    nets_rows = [network_row(n) for n in args.nets]
    _write_csv(out / "networks.csv", nets_rows)
    atomic_write_text(out / "networks.md", _md_table(
        ["network", "params (M)", "conv layers", "GMACs @360x480", "CIO MiB @360x480", "CIO MiB @352x480",
         "paper CIO MiB", "diff", "2xGMACs @352x480", "paper 'GMACs'"],
        [[r["label"], f"{r['params'] / 1e6:.2f}", r["conv_layers"], f"{r['macs_360'] / 1e9:.1f}",
          f"{r['cio_mib_360']:.0f}", f"{r.get('cio_mib_352', math.nan):.0f}", r.get("paper_cio_mib", "-"),
          f"{r['cio_diff_pct']:+.1f} %" if "cio_diff_pct" in r else "-",
          f"{r.get('gflops_352', math.nan):.1f}", r.get("paper_gmacs", "-")] for r in nets_rows]))

    _write_csv(out / "results.csv", points)
    ref = {(p["preset"], p["engine"]): p for p in points if p["net"] == "fc_densenet103"}
    rows = []
    for p in points:
        r = ref.get((p["preset"], p["engine"]))
        rows.append([LABELS[p["net"]], p["preset"], p["engine"], f"{p['total_cycles'] / 1e6:.2f}",
                     f"{p['dram_bytes'] / 1e6:.1f}",
                     f"{p['total_cycles'] / r['total_cycles']:.2f}" if r else "-",
                     f"{p['dram_bytes'] / r['dram_bytes']:.2f}" if r else "-"])
    atomic_write_text(out / "results.md", _md_table(
        ["network", "preset", "engine", "cycles (M)", "DRAM (MB)", "cycles / FC-D103", "DRAM / FC-D103"], rows))

    make_figure(points, out / "cycles_vs_dram.png", presets, engines)
    summary = summarise(nets_rows, points, presets, engines)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    lines = ["# Segmentation study summary", "",
             f"Command: `python benchmarks/study_segmentation.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "", "FC-HarDNet-84 against FC-DenseNet-103 (paper, SCALE-Sim: 35 % less inference time; ~40 % less "
             "DRAM traffic than FC-DenseNet in the abstract; Table 2: 41 % less CIO):", ""]
    lines.append(_md_table(["preset", "engine", "time reduction", "DRAM reduction"],
                           [[r["preset"], r["engine"], f"{r['time_reduction_pct']:.1f} %",
                             f"{r['dram_reduction_pct']:.1f} %"] for r in summary["reductions"]]))
    if "cio_reduction_pct_352" in summary:
        lines.append(f"CIO reduction at 352x480: {summary['cio_reduction_pct_352']:.1f} % (paper: 41 %)\n")
    lines += ["Traffic/time correlation over the paper's seven CamVid networks (Pearson r):", ""]
    lines.append(_md_table(["preset", "engine", "r", "r without SegNet"],
                           [[c["preset"], c["engine"], f"{c['pearson_r']:.3f}", f"{c['pearson_r_without_segnet']:.3f}"]
                            for c in summary["correlations"]]))
    t = summary.get("compat_fc_densenet103_arm_scale")
    if t:
        lines.append(f"compat engine on FC-DenseNet-103 at 360x480 (arm-scale, {t['simulated_rows']} rows): "
                     f"{t['wall_s']:.1f} s wall, {t['cpu_s']:.1f} s CPU, process peak RSS "
                     f"{t['process_peak_rss_mib']:.0f} MiB\n")
    if missing:
        lines.append("Not simulated (no cached point): " + "; ".join(missing) + "\n")
    atomic_write_text(out / "summary.md", "\n".join(lines))
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
