"""Regenerate the exported topologies of every zoo model:

* ``trafficsim/data/topologies/<name>.json`` (package data read by :func:`trafficsim.zoo.cache.model_topology`);
* ``topologies/<name>.csv`` at the repository top level (SCALE-Sim 3.0.0 conv format).

Run ``python -m trafficsim.zoo.export [NAME ...]`` after changing a model or the converter; a test
fails while a checked-in file is stale. Files are written atomically.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from pathlib import Path

from . import is_decoder_model, list_models, resolve_model_name
from ..files import atomic_write_text
from ..topology import Layer, Op, Topology, topology_csv_text

PACKAGE_DIR = Path(__file__).resolve().parents[1]
JSON_DIR = PACKAGE_DIR / "data" / "topologies"
CSV_DIR = PACKAGE_DIR.parent / "topologies"


def _without_defaults(record: dict, cls: type) -> dict:
    # Fields at their default are left out (Topology.from_dict fills them in): halves the files.
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    return {k: v for k, v in record.items() if not (k in defaults and v == defaults[k])}


def topology_json_text(topology: Topology) -> str:
    """The exported JSON text of a topology (compact, deterministic, one trailing newline)."""
    d = topology.to_dict()
    d["layers"] = [_without_defaults(x, Layer) for x in d["layers"]]
    d["ops"] = [_without_defaults(x, Op) for x in d["ops"]]
    d["tensors"] = [[t["id"], t["shape"], t["producer"]] + ([t["kind"]] if t["kind"] != "activation" else [])
                    for t in d["tensors"]]
    for key in ("unmodelled", "seq_len", "phase", "context", "precision"):
        if not d.get(key):
            d.pop(key, None)  # at their defaults: files of older exports stay byte-identical
    if d.get("batch") == 1:
        d.pop("batch")
    return json.dumps(d, separators=(",", ":")) + "\n"


def export_model(name: str, json_dir: Path = JSON_DIR, csv_dir: Path = CSV_DIR) -> Topology:
    """Trace zoo model ``name`` at its default input and write its JSON and SCALE-Sim CSV."""
    from .cache import build_model_topology, default_input_shape

    canonical = resolve_model_name(name)
    topology = build_model_topology(canonical, default_input_shape(canonical))  # token models: default sequence
    atomic_write_text(Path(json_dir) / f"{canonical}.json", topology_json_text(topology))
    atomic_write_text(Path(csv_dir) / f"{canonical}.csv", topology_csv_text(topology, "conv"))
    if is_decoder_model(canonical):  # the decode step at the default context (other contexts: rescaled)
        decode = build_model_topology(canonical, None, phase="decode")
        atomic_write_text(Path(json_dir) / f"{canonical}.decode.json", topology_json_text(decode))
    return topology


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trafficsim.zoo.export", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="zoo model names (default: all)")
    parser.add_argument("--json-dir", type=Path, default=JSON_DIR)
    parser.add_argument("--csv-dir", type=Path, default=CSV_DIR)
    args = parser.parse_args(argv)
    for name in args.models or list_models():
        t = export_model(name, args.json_dir, args.csv_dir)
        print(f"{t.name}: {len(t.layers)} layers, {len(t.ops)} ops", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
