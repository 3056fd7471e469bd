"""Field-by-field fingerprint of the engines on the zoo: the check every numeric change must pass.

    python benchmarks/zoo_fingerprint.py dump before.json.gz         # the current checkout (~4 min)
    python benchmarks/zoo_fingerprint.py dump after.json.gz --quick  # a smaller grid (~1 min)
    python benchmarks/zoo_fingerprint.py dump u.json.gz --capacity tiling=uniform  # capacity options for every
                                                                     # capacity point (to hold a kept old model
                                                                     # against dumps made before a new default)
    python benchmarks/zoo_fingerprint.py compare before.json.gz after.json.gz
    python benchmarks/zoo_fingerprint.py check HEAD~1                # dump REV in a temporary git worktree,
                                                                     # dump the working tree, compare

A dump holds every per-layer result field of every point of a grid (zoo models x arrays x dataflows x
SRAM sizes, CALC and USER for the compat engine, the capacity engine with its default and network
options). ``compare`` prints every differing field (integers exactly, floats to 1e-12 relative) and
exits 1 if there is any. ``check`` runs the dump of REV with REV's own code (PYTHONPATH pointing at the
temporary worktree), so the first dump there compiles the kernels once.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODELS = ["resnet18", "resnet50", "hardnet68", "hardnet39ds", "densenet121", "mobilenet_v2", "squeezenet1_0",
          "vgg16"]
QUICK_MODELS = ["resnet18", "hardnet39ds", "mobilenet_v2", "squeezenet1_0"]
ARRAYS = [(8, 8), (32, 32), (128, 128), (16, 64)]
QUICK_ARRAYS = [(8, 8), (32, 32)]
DATAFLOWS = ["os", "ws", "is"]
SRAMS = [16, 64, 512]
QUICK_SRAMS = [16, 64]


def _points(quick: bool):
    """(label, model, engine, hardware kwargs, capacity options kwargs or None)."""
    models = QUICK_MODELS if quick else MODELS
    arrays = QUICK_ARRAYS if quick else ARRAYS
    srams = QUICK_SRAMS if quick else SRAMS
    for m in models:
        for (r, c) in arrays:
            for d in DATAFLOWS:
                for s in srams:
                    hw = dict(array_rows=r, array_cols=c, dataflow=d, ifmap_sram_kb=s, filter_sram_kb=s,
                              ofmap_sram_kb=s)
                    yield f"{m}/{r}x{c}/{d}/{s}kB/compat", m, "compat", hw, None
                    yield f"{m}/{r}x{c}/{d}/{s}kB/capacity", m, "capacity", hw, None
        # USER mode (compat) and the capacity engine's network options, on one array. USER mode on small
        # SRAMs re-fetches around its circular window (docs/compat.md): VGG-16 at 8 kB took >20 CPU-min, so
        # USER points run on the small models only
        for d in DATAFLOWS if m in QUICK_MODELS else ():
            hw = dict(array_rows=16, array_cols=16, dataflow=d, ifmap_sram_kb=8, filter_sram_kb=8, ofmap_sram_kb=8,
                      bandwidth_mode="USER", bandwidth=16, ifmap_dram_bw=10, filter_dram_bw=20)
            yield f"{m}/16x16/{d}/8kB/user/compat", m, "compat", hw, None
        hw = dict(array_rows=32, array_cols=32, dataflow="ws", ifmap_sram_kb=64, filter_sram_kb=64, ofmap_sram_kb=64)
        yield (f"{m}/32x32/ws/64kB/capacity-net", m, "capacity", hw,
               dict(concat="materialised", fuse_pool_add=True, inter_layer_residency=True))
        # 2-byte elements: a uniform precision of the workload (Hardware.word_bytes before it moved there)
        yield f"{m}/32x32/ws/64kB/capacity-2B", m, "capacity", dict(hw, precision=2), None


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return v


_ID_FIELDS = ("layer_id", "name")


def _compact(layers) -> list:
    """Per-layer records, consecutive records equal but for their id and name (the channels of an expanded
    depthwise layer) stored once with a repeat count: a MobileNet has thousands of such rows."""
    out: list = []
    for layer in layers:
        d = {k: _plain(v) for k, v in layer.to_dict().items()}
        body = {k: v for k, v in d.items() if k not in _ID_FIELDS}
        if out and out[-1]["body"] == body:
            out[-1]["repeat"] += 1
        else:
            out.append({"first": {k: d[k] for k in _ID_FIELDS}, "body": body, "repeat": 1})
    return out


def _write(path: str, doc: dict) -> None:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    if path.endswith(".gz"):
        import gzip
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        Path(path).write_text(text)


def _read(path: str) -> dict:
    if path.endswith(".gz"):
        import gzip
        with gzip.open(path, "rt") as f:
            return json.load(f)
    return json.loads(Path(path).read_text())


def dump(out: str, quick: bool, capacity: dict | None = None) -> int:
    sys.path.insert(0, os.getcwd())
    import trafficsim as ts
    from trafficsim.engines import simulate
    from trafficsim.hardware import Hardware

    points = {}
    t0 = time.perf_counter()
    topologies = {}
    todo = list(_points(quick))
    for n, (label, model, engine, hw_kw, opt_kw) in enumerate(todo):
        if model not in topologies:
            topologies[model] = ts.model_topology(model)
        options = None
        if engine == "capacity" and (opt_kw is not None or capacity):
            from trafficsim.engines.capacity import CapacityOptions
            options = CapacityOptions(**{**(opt_kw or {}), **(capacity or {})})
        hw_kw = dict(hw_kw)
        topology = topologies[model]
        if "precision" in hw_kw:
            from trafficsim.workload import with_workload
            topology = with_workload(topology, precision=hw_kw.pop("precision"))
        result = simulate(topology, Hardware(**hw_kw), engine=engine, options=options)
        points[label] = {"totals": {k: _plain(v) for k, v in result.totals().items()},
                         "layers": _compact(result.layers)}
        if (n + 1) % 25 == 0:
            print(f"  {n + 1}/{len(todo)} points, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    _write(out, {"quick": quick, "points": points})
    print(f"{len(points)} points written to {out} in {time.perf_counter() - t0:.0f} s")
    return 0


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (a != a and b != b)
        return False
    return a == b


def compare(path_a: str, path_b: str, show: int = 40, ignore: tuple[str, ...] = ()) -> int:
    a = _read(path_a)["points"]
    b = _read(path_b)["points"]
    diffs = []
    for label in sorted(set(a) | set(b)):
        if label not in a or label not in b:
            diffs.append((label, "point", label in a, label in b))
            continue
        la, lb = a[label]["layers"], b[label]["layers"]
        if len(la) != len(lb):
            diffs.append((label, "layer count", len(la), len(lb)))
            continue
        for i, (x, y) in enumerate(zip(la, lb)):
            x = {**x["first"], **x["body"], "repeat": x["repeat"]}
            y = {**y["first"], **y["body"], "repeat": y["repeat"]}
            for k in sorted((set(x) | set(y)) - set(ignore)):
                if k not in x or k not in y:
                    diffs.append((label, f"record {i} field {k}", k in x, k in y))
                elif not _same(x[k], y[k]):
                    diffs.append((label, f"record {i} ({x.get('name')}) {k}", x[k], y[k]))
    n_layers = sum(r["repeat"] for p in a.values() for r in p["layers"])
    if not diffs:
        but = f" (fields ignored: {', '.join(ignore)})" if ignore else ""
        print(f"identical: {len(a)} points, {n_layers} layer records, every field equal{but}")
        return 0
    for d in diffs[:show]:
        print("DIFF", *d)
    print(f"{len(diffs)} differences over {len(a)} points ({n_layers} layer records)")
    return 1


def check(rev: str, quick: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="fingerprint-") as tmp:
        wt = Path(tmp) / "rev"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt), rev], check=True,
                       capture_output=True)
        try:
            before, after = Path(tmp) / "before.json.gz", Path(tmp) / "after.json.gz"
            args = ["dump", str(before)] + (["--quick"] if quick else [])
            env = dict(os.environ, PYTHONPATH=str(wt))
            # the dump code of this checkout, the engine code of REV
            subprocess.run([sys.executable, __file__, *args], check=True, cwd=wt, env=env)
            args = ["dump", str(after)] + (["--quick"] if quick else [])
            subprocess.run([sys.executable, __file__, *args], check=True, cwd=ROOT,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))
            return compare(str(before), str(after))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out")
    d.add_argument("--quick", action="store_true")
    d.add_argument("--capacity", nargs="*", default=[], metavar="KEY=VALUE",
                   help="CapacityOptions for every capacity point, e.g. tiling=uniform")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--show", type=int, default=40)
    c.add_argument("--ignore", nargs="*", default=[], metavar="FIELD", help="per-layer fields not compared "
                   "(e.g. a column added on purpose)")
    k = sub.add_parser("check")
    k.add_argument("rev")
    k.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        return dump(args.out, args.quick, dict(kv.split("=", 1) for kv in args.capacity))
    if args.cmd == "compare":
        return compare(args.a, args.b, args.show, tuple(args.ignore))
    return check(args.rev, args.quick)


if __name__ == "__main__":
    sys.exit(main())
