"""The per-point cache: one small JSON file per finished point, named by a content hash.

A point's key hashes (topology, hardware, engine, trafficsim version, cache format). Its file holds
the point's record (``totals`` and, when asked for, ``layers``) and ends with ``"sha256"``: the
SHA-256 of the file's text before that field. A file is used only when that digest matches, its key,
format and engine are the point's and its record has the expected shape; anything else (a
truncated, hand-edited, foreign or unreadable file) is a miss and the point is recomputed. Only
regular files are read (never a folder, FIFO or device), at most :data:`MAX_CACHE_FILE_BYTES`.
Files are written atomically (temp file, fsync, rename), so a reader never sees a partial one.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import OutputError, TrafficsimError
from ..hardware import Hardware
from ..results import TOTAL_KEYS, result_fields
from ..topology import Topology

CACHE_FORMAT = 2  # bump when the cache file layout changes (2: the sha256 of the content)
MAX_CACHE_FILE_BYTES = 512 * 1024 * 1024  # a per-layer record of the largest zoo point is a few MB
# Fields that do not change any count, left out of the key (run_name was one; it left Hardware, and
# summaries written before still carry it: Hardware.from_dict drops it).
NOT_IN_KEY = ("run_name",)
_DIGEST_PREFIX = ',"sha256":"'
_DIGEST_SUFFIX_LEN = len(_DIGEST_PREFIX) + 64 + 2  # ,"sha256":"<64 hex>"}
# counts of words and cycles are integers; dram_bytes may be fractional (4-bit precisions: half-byte elements)
_INT_TOTALS = (*TOTAL_KEYS, "dram_words")
_LAYER_FIELDS = tuple(result_fields())


def topology_digest(topology: Topology) -> str:
    """SHA-256 of a topology's canonical JSON (names, shapes, ops: everything an engine could use)."""
    text = json.dumps(topology.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def point_key(topology_sha: str, hardware: Hardware, engine: str, version: str | None = None,
              options: Mapping[str, Any] | None = None) -> str:
    """Cache key of a point: a hash of (topology, hardware, engine, engine options, trafficsim version, cache
    format). ``options`` are the engine options that differ from the engine's defaults, JSON-ready
    (:func:`trafficsim.sweeps.options.options_key`); none leaves the key as it was before options."""
    if version is None:
        from .. import __version__ as version
    hw = hardware.to_dict()  # flat scalars (nested records flattened): what the JSON can hold
    for k in NOT_IN_KEY:
        hw.pop(k, None)
    doc = {"format": CACHE_FORMAT, "topology": topology_sha, "hardware": hw, "engine": engine, "trafficsim": version}
    if options:
        doc["options"] = dict(options)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=_json_default)
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


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def valid_record(doc: Mapping[str, Any], per_layer: bool) -> bool:
    """Whether a cache document holds a record of the expected shape (numbers where numbers belong)."""
    totals = doc.get("totals")
    if not isinstance(totals, dict):
        return False
    if not all(type(totals.get(k)) is int for k in _INT_TOTALS) or "dram_bytes" not in totals:
        return False
    if not all(map(_is_number, totals.values())):
        return False
    layers = doc.get("layers")
    if layers is None:
        return not per_layer
    if not isinstance(layers, list):
        return False
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            return False
        for k in _LAYER_FIELDS:
            v = layer.get(k, 0) if k != "name" else 0  # start/stop cycles are None where an engine has none
            if not (v is None or _is_number(v)):
                return False
    return True


class PointCache:
    """The cache folder of one sweep (``folder=None``: no cache)."""

    def __init__(self, folder: Path | None, engine: str) -> None:
        self.folder = folder
        self.engine = engine

    def path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}.json"

    def read(self, key: str, per_layer: bool) -> dict[str, Any] | None:
        """The cached record of a point, or None when missing, damaged, foreign or lacking needed layers."""
        text = _read_regular_file(self.path(key))
        if text is None or len(text) <= _DIGEST_SUFFIX_LEN or not text.endswith('"}'):
            return None
        cut = len(text) - _DIGEST_SUFFIX_LEN
        if not text.startswith(_DIGEST_PREFIX, cut):
            return None
        body = text[:cut] + "}"
        if hashlib.sha256(body.encode()).hexdigest() != text[cut + len(_DIGEST_PREFIX):-2]:
            return None
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        if (not isinstance(doc, dict) or doc.get("key") != key or doc.get("format") != CACHE_FORMAT
                or doc.get("engine") != self.engine or not valid_record(doc, per_layer)):
            return None
        return {"totals": doc["totals"], "layers": doc.get("layers")}

    def open(self) -> None:
        """Create the folder: one that cannot be (a file in its path, read-only) is an :class:`OutputError`
        before anything is computed."""
        if self.folder is not None:
            from ..files import ensure_dir

            ensure_dir(self.folder)

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

    def write(self, key: str, record: Mapping[str, Any], model: str, hardware: Hardware,
              about: Mapping[str, Any] | None = None) -> None:
        """Write one point's record atomically (readers never see a partial file), its digest last. ``about``
        (e.g. the point's workload and engine options) is stored for people reading the file."""
        if self.folder is None:
            return
        from .. import __version__
        from ..files import atomic_write_text

        doc = {"key": key, "format": CACHE_FORMAT, "trafficsim_version": __version__, "model": model,
               "engine": self.engine, "hardware": hardware.to_dict(), **(about or {}), "totals": record["totals"]}
        if record.get("layers") is not None:
            doc["layers"] = record["layers"]
        body = json.dumps(doc, separators=(",", ":"), default=_json_default)
        digest = hashlib.sha256(body.encode()).hexdigest()
        atomic_write_text(self.path(key), f'{body[:-1]}{_DIGEST_PREFIX}{digest}"}}')


class _Unreadable(TrafficsimError):
    """A cache file that cannot be read: a miss."""


def _read_regular_file(path: Path) -> str | None:
    """A cache file's UTF-8 text, or None when missing or unreadable. Only regular files are read (bounded);
    a folder, FIFO, device or socket where a cache file belongs is an :class:`OutputError` (it could not be
    replaced by the recomputed point)."""
    from ..files import read_bytes_bounded

    try:
        data = read_bytes_bounded(path, what="sweep cache file", error=_Unreadable, max_bytes=MAX_CACHE_FILE_BYTES)
    except _Unreadable:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return None  # missing (the usual case) or unreachable
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a symlink to /dev/zero is replaced, not read
            raise OutputError(f"{path}: {'a folder' if stat.S_ISDIR(mode) else 'not a regular file'} where a "
                              f"sweep cache file belongs; remove it") from None
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
