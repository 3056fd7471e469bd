"""The per-point cache: one small JSON file per finished point, named by a content hash.

A point's key hashes (topology, hardware, engine, trafficsim version, cache format). Its file holds
the point's record (``totals`` and, when asked for, ``layers``). An unreadable file is a miss and
the point is recomputed. Files are written atomically (temp file, fsync, rename), so a reader never
sees a partial one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..hardware import Hardware
from ..topology import Topology

CACHE_FORMAT = 1  # bump when the cache file layout changes
_HARDWARE_FIELDS = tuple(f.name for f in fields(Hardware))
# Fields that do not change any count: left out of the key so that renaming a run reuses results.
NOT_IN_KEY = ("run_name",)


def topology_digest(topology: Topology) -> str:
    """SHA-256 of a topology's canonical JSON (names, shapes, ops: everything an engine could use)."""
    text = json.dumps(topology.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def point_key(topology_sha: str, hardware: Hardware, engine: str, version: str | None = None) -> str:
    """Cache key of a point: a hash of (topology, hardware, engine, trafficsim version, cache format)."""
    if version is None:
        from .. import __version__ as version
    # plain getattr: dataclasses.asdict deep-copies and costs more than the rest of the key
    hw = {k: getattr(hardware, k) for k in _HARDWARE_FIELDS if k not in NOT_IN_KEY}
    text = json.dumps({"format": CACHE_FORMAT, "topology": topology_sha, "hardware": hw, "engine": engine,
                       "trafficsim": version}, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _json_default(o: Any) -> Any:
    # numpy scalars from engines' extras; records with a to_dict (e.g. a future memory-system config)
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"cannot store {type(o).__name__} in a sweep cache file")


def record_of(result: Any, per_layer: bool) -> dict[str, Any]:
    """A point's record ``{"totals": {...}, "layers": [...] | None}`` from a ``RunResult``, passed through
    JSON so that fresh and cached results are identical values."""
    record: dict[str, Any] = {"totals": result.totals(), "layers": None}
    if per_layer:
        record["layers"] = [layer.to_dict() for layer in result.layers]
    return json.loads(json.dumps(record, default=_json_default))


class PointCache:
    """The cache folder of one sweep (``folder=None``: no cache)."""

    def __init__(self, folder: Path | None, engine: str) -> None:
        self.folder = folder
        self.engine = engine

    def path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}.json"

    def read(self, key: str, per_layer: bool) -> dict[str, Any] | None:
        """The cached record of a point, or None when missing, unreadable or lacking layers that are needed."""
        try:
            d = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(d, dict) or d.get("key") != key or not isinstance(d.get("totals"), dict):
            return None
        layers = d.get("layers")
        if per_layer and not isinstance(layers, list):
            return None
        return {"totals": d["totals"], "layers": layers if isinstance(layers, list) else None}

    def lookup(self, keys: Iterable[str], per_layer: bool) -> dict[str, dict[str, Any]]:
        """The records found for ``keys`` (a missing key is a point to compute)."""
        if self.folder is None:
            return {}
        found = {}
        for key in keys:
            rec = self.read(key, per_layer)
            if rec is not None:
                found[key] = rec
        return found

    def write(self, key: str, record: Mapping[str, Any], model: str, hardware: Hardware) -> None:
        """Write one point's record atomically (readers never see a partial file)."""
        if self.folder is None:
            return
        from .. import __version__
        from ..topology import atomic_write_text

        doc = {"key": key, "format": CACHE_FORMAT, "trafficsim_version": __version__, "model": model,
               "engine": self.engine, "hardware": hardware.to_dict(), "totals": record["totals"]}
        if record.get("layers") is not None:
            doc["layers"] = record["layers"]
        atomic_write_text(self.path(key), json.dumps(doc, separators=(",", ":"), default=_json_default))
