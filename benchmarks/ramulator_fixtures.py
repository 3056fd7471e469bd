"""Make the Ramulator fixtures: run a Ramulator v1 binary you built on reproducible request streams and
store its numbers as test fixtures; print (and write into docs/dram.md) the agreement table.

    python benchmarks/ramulator_fixtures.py --ramulator /path/to/ramulator --commit <ramulator git hash>

It builds nothing: give it the binary of a Ramulator v1 checkout (github.com/CMU-SAFARI/ramulator,
``make``) and that checkout's commit hash, which is stored with the fixtures. CI never needs Ramulator:
tests/test_dram_vs_ramulator.py regenerates each stream from its seed and compares the model with the
stored numbers.

Streams: synthetic patterns (trafficsim.dram.patterns: sequential, strided by a row, random, row runs,
read/write mixes, a few sizes) on Ramulator's shipped DDR4, LPDDR4 and HBM configs and on DDR4-3200 and a
2-channel 2-rank DDR4; and the request streams of real layers (trafficsim.dram.layer_streams) when
``--layers`` is given.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trafficsim.dram import DramConfig, simulate_requests  # noqa: E402
from trafficsim.dram.patterns import case_stream  # noqa: E402
from trafficsim.dram.ramulator import cfg_text, run_ramulator, summarize_stats, trace_text  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "dram" / "ramulator.json"
DOCS = ROOT / "docs" / "dram.md"
KEYS = ("dram_cycles", "read_row_hits", "read_row_misses", "read_row_conflicts", "write_row_hits",
        "write_row_misses", "write_row_conflicts", "read_bytes", "write_bytes")

# Ramulator v1's shipped configs (configs/*.cfg: their memory keys), then two more.
CONFIGS = {
    "DDR4-config.cfg": dict(standard="DDR4", speed="DDR4_2400R", org="DDR4_4Gb_x8", channels=1, ranks=1),
    "LPDDR4-config.cfg": dict(standard="LPDDR4", speed="LPDDR4_2400", org="LPDDR4_8Gb_x16", channels=2, ranks=1),
    "HBM-config.cfg": dict(standard="HBM", speed="HBM_1Gbps", org="HBM_4Gb", channels=8, ranks=1),
    "DDR4_3200-1ch": dict(standard="DDR4", speed="DDR4_3200", org="DDR4_8Gb_x8", channels=1, ranks=1),
    "DDR4_2400R-2ch2rk": dict(standard="DDR4", speed="DDR4_2400R", org="DDR4_4Gb_x8", channels=2, ranks=2),
}

# (name, kind, requests, write fraction, extra); "stride" strides by one row of every bank (a conflict each)
PATTERNS = [
    ("seq-r", "seq", 20000, 0.0, {}),
    ("seq-w", "seq", 8000, 1.0, {}),
    ("seq-rw30", "seq", 20000, 0.3, {}),
    ("seq-rw50-small", "seq", 512, 0.5, {}),
    ("stride-row-r", "stride", 3000, 0.0, {}),
    ("stride-row-rw50", "stride", 3000, 0.5, {}),
    ("random-r", "random", 20000, 0.0, {}),
    ("random-rw50", "random", 20000, 0.5, {}),
    ("random-r-small", "random", 1000, 0.0, {}),
    ("rows16-rw25", "rows", 20000, 0.25, {"run": 16}),
    ("copy", "copy", 16000, 0.0, {}),
]


# Real layers (the capacity engine's per-operand tiling at 32x32 and 64 kB, 1-byte words), in two layouts:
# (model, layer, short name). The streams are written to tests/fixtures/dram/streams/*.npz.
LAYERS = [
    ("resnet18", "layer2.0.conv1", "resnet18-layer2.0.conv1"),
    ("hardnet68", "base.3.layers.3.conv", "hardnet68-base.3.layers.3"),
    ("mobilenet_v2", "features.4.conv.1.0", "mobilenet_v2-dw-features.4"),
]
LAYER_LAYOUTS = ("nchw", "nhwc")
LAYER_CONFIGS = ("DDR4-config.cfg", "DDR4_3200-1ch", "LPDDR4-config.cfg")


def layer_cases() -> list[dict]:
    """Generate and save the layer streams; the fixture cases that replay them."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from dram_streams import find_layer, layer_requests

    out = []
    (FIXTURES.parent / "streams").mkdir(parents=True, exist_ok=True)
    for model, lname, short in LAYERS:
        layer = find_layer(model, lname)
        for layout in LAYER_LAYOUTS:
            addr, w = layer_requests(layer, layout=layout)
            rel = f"streams/{short}-{layout}.npz"
            np.savez_compressed(FIXTURES.parent / rel, addr=addr, is_write=w)
            for cname in LAYER_CONFIGS:
                out.append(dict(name=f"{cname} {short} {layout}", config=CONFIGS[cname],
                                stream=dict(source="file", path=rel, model=model, layer=lname, layout=layout,
                                            tiling="capacity per-operand, 32x32, 64 kB, 1-byte words")))
    return out


def config_of(c: dict) -> DramConfig:
    return DramConfig(standard=c["speed"], org=c["org"], channels=c["channels"], ranks=c["ranks"])


def digest(addr: np.ndarray, is_write: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(addr, np.uint64).tobytes())
    h.update(np.ascontiguousarray(is_write, np.bool_).tobytes())
    return h.hexdigest()[:16]


def model_numbers(c: dict, addr, is_write) -> tuple[dict, float]:
    dev = config_of(c).resolve()
    t0 = time.process_time()
    s = simulate_requests(dev, addr, is_write)
    cpu = time.process_time() - t0
    return {k: getattr(s, k) for k in KEYS}, cpu


def run_one(binary: Path, cname: str, c: dict, addr, is_write, tmp: Path) -> tuple[dict, float]:
    cfg = tmp / "memory.cfg"
    cfg.write_text(cfg_text(c["standard"], c["speed"], c["org"], c["channels"], c["ranks"]))
    tr = tmp / "requests.trace"
    tr.write_text(trace_text(addr, is_write))
    stats, cpu = run_ramulator(cfg, tr, binary=binary)
    r = summarize_stats(stats)
    return {k: r[k] for k in KEYS}, cpu


def table(rows: list[dict]) -> str:
    head = ("| fixture | requests | cycles (model) | cycles (Ramulator) | error | hits R/W (model = Ramulator) "
            "| misses R/W | conflicts R/W |")
    lines = [head, "|" + "---|" * 8]
    for f in rows:
        m, r = f["model"], f["ramulator"]
        err = 100.0 * (m["dram_cycles"] - r["dram_cycles"]) / r["dram_cycles"]
        def pair(what: str) -> str:
            mm = f"{m['read_row_' + what]}/{m['write_row_' + what]}"
            rr = f"{r['read_row_' + what]}/{r['write_row_' + what]}"
            return mm if mm == rr else f"{mm} vs {rr}"
        lines.append(f"| {f['name']} | {f['requests']:,} | {m['dram_cycles']:,} | {r['dram_cycles']:,} | {err:+.2f} % "
                     f"| {pair('hits')} | {pair('misses')} | {pair('conflicts')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ramulator", type=Path, default=os.environ.get("TRAFFICSIM_RAMULATOR"),
                    help="path of a Ramulator v1 binary (default: $TRAFFICSIM_RAMULATOR)")
    ap.add_argument("--commit", required=True, help="git commit of the Ramulator checkout the binary was built from")
    ap.add_argument("--layers", action="store_true", help="also the request streams of real layers")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite the table in docs/dram.md")
    args = ap.parse_args(argv)
    if args.ramulator is None or not Path(args.ramulator).is_file():
        ap.error("give --ramulator PATH (a Ramulator v1 binary) or set $TRAFFICSIM_RAMULATOR")
    binary = Path(args.ramulator).resolve()

    cases = []
    for cname, c in CONFIGS.items():
        for seed, (pname, kind, n, wf, extra) in enumerate(PATTERNS):
            cases.append(dict(name=f"{cname} {pname}", config=c,
                              stream=dict(source="pattern", kind=kind, n=n, write_fraction=wf, seed=seed, **extra)))
    if args.layers:
        cases += layer_cases()

    out, ram_cpu, model_cpu = [], 0.0, 0.0
    with tempfile.TemporaryDirectory(prefix="ramulator-fixtures-") as tmpd:
        for case in cases:
            addr, w = case_stream(case, FIXTURES.parent)
            r, rc = run_one(binary, case["name"], case["config"], addr, w, Path(tmpd))
            m, mc = model_numbers(case["config"], addr, w)
            ram_cpu += rc
            model_cpu += mc
            same = all(m[k] == r[k] for k in KEYS)
            print(f"{case['name']:40s} {len(addr):7d} req  Ramulator {r['dram_cycles']:9d}  model {m['dram_cycles']:9d}"
                  f"  {'same' if same else 'DIFFERENT'}  ({rc:.2f} s / {mc:.3f} s CPU)", flush=True)
            out.append(dict(case, requests=int(len(addr)), digest=digest(addr, w), ramulator=r, model=m,
                            ramulator_cpu_seconds=round(rc, 3)))
    doc = {
        "ramulator": {"repository": "https://github.com/CMU-SAFARI/ramulator", "commit": args.commit,
                      "mode": "--mode=dram (trace mode; one request per memory cycle at most)"},
        "generated_by": "benchmarks/ramulator_fixtures.py",
        "keys": list(KEYS),
        "fixtures": [{k: v for k, v in f.items() if k != "model"} for f in out],
    }
    FIXTURES.parent.mkdir(parents=True, exist_ok=True)
    from trafficsim.files import atomic_write_text
    atomic_write_text(FIXTURES, json.dumps(doc, indent=1) + "\n")
    tbl = table(out)
    print(tbl)
    n_same = sum(all(f["model"][k] == f["ramulator"][k] for k in KEYS) for f in out)
    summary = (f"{len(out)} fixtures, {n_same} identical in every count; CPU seconds: Ramulator {ram_cpu:.1f}, "
               f"model {model_cpu:.2f} (Ramulator commit {args.commit[:12]}).")
    print(summary)
    if not args.no_docs and DOCS.exists():
        text = DOCS.read_text()
        a, b = "<!-- ramulator-fixtures:begin -->", "<!-- ramulator-fixtures:end -->"
        if a in text and b in text:
            new = text.split(a)[0] + a + "\n" + summary + "\n\n" + tbl + "\n" + b + text.split(b)[1]
            atomic_write_text(DOCS, new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
