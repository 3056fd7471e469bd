"""Workload-side parameters: batch and precision (ZigZag's split: they belong to the workload, not to the
hardware). No torch.

* :class:`Precision`: bytes per element of each tensor class — weights, activations (feature maps, token
  embeddings, attention scores), partial sums spilled to DRAM, and the KV cache. Sub-byte sizes are allowed
  (int4 = 0.5 B). :func:`parse_precision` reads ``int8``, ``bf16``, ``int4``, ``w8a16``, ``w4a16kv8``,
  ``w8a8p32`` and plain byte counts (``2``).
* A :class:`~trafficsim.topology.Topology` carries ``batch`` and ``precision`` (and layers a per-layer
  ``precision`` override): :func:`with_workload` returns a copy with them set.

This record is the one place element sizes live (:func:`effective_precision`: 1 byte everywhere, SCALE-Sim's
word, when the topology names none); the command line's ``--word-bytes N`` is a uniform precision of N bytes.
The compat and scalesim engines keep SCALE-Sim's 1-byte words whatever the precision (and warn).
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Mapping

from .errors import InputError

if TYPE_CHECKING:
    from .topology import Topology

__all__ = ["Precision", "parse_precision", "effective_precision", "with_workload", "MAX_BATCH", "TENSOR_CLASSES"]

TENSOR_CLASSES = ("weights", "activations", "psums", "kv_cache")
MAX_BATCH = 1_000_000  # far beyond any accelerator batch; larger values are typos (and overflow row counts)
_NAMED = {"int8": 1.0, "uint8": 1.0, "fp8": 1.0, "int4": 0.5, "fp4": 0.5, "int16": 2.0, "fp16": 2.0,
          "bf16": 2.0, "fp32": 4.0, "int32": 4.0}
_BITS = {2: 0.25, 4: 0.5, 8: 1.0, 16: 2.0, 32: 4.0}
_MIXED = re.compile(r"^w(\d+)a(\d+)(?:kv(\d+))?(?:p(\d+))?$")


def _valid_bytes(v: float) -> bool:
    # whole bits from 1 to 128: 1/8 B .. 16 B
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 16 and float(v * 8).is_integer()


@dataclass(frozen=True)
class Precision:
    """Bytes per element of each tensor class (0.5 for int4). Default: SCALE-Sim's 1 byte everywhere.

    ``psums`` are partial sums written to DRAM when a reduction does not fit on chip; ``kv_cache`` the keys
    and values a decoder keeps across steps."""

    weights: float = 1.0
    activations: float = 1.0
    psums: float = 1.0
    kv_cache: float = 1.0

    def __post_init__(self) -> None:
        for name in TENSOR_CLASSES:
            v = getattr(self, name)
            if not _valid_bytes(v):
                raise InputError(f"precision: {name} must be a whole number of bits from 1/8 to 16 bytes, got {v!r}")

    @classmethod
    def uniform(cls, nbytes: float) -> "Precision":
        """Every tensor class at ``nbytes`` bytes per element."""
        return cls(nbytes, nbytes, nbytes, nbytes)

    @property
    def is_uniform(self) -> bool:
        return self.weights == self.activations == self.psums == self.kv_cache

    @property
    def label(self) -> str:
        """Short name: ``int8`` (uniform 1 B), ``bf16``-style for uniform sizes, else ``w8a16[kv8][p32]``."""
        def bits(v: float) -> str:
            return f"{v * 8:g}"
        if self.is_uniform:
            return {0.5: "int4", 1.0: "int8", 2.0: "16bit", 4.0: "32bit"}.get(self.weights, f"{bits(self.weights)}bit")
        s = f"w{bits(self.weights)}a{bits(self.activations)}"
        if self.kv_cache != self.activations:
            s += f"kv{bits(self.kv_cache)}"
        if self.psums != self.activations:
            s += f"p{bits(self.psums)}"
        return s

    def to_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in TENSOR_CLASSES}

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> "Precision":
        unknown = set(d) - set(TENSOR_CLASSES)
        if unknown:
            raise InputError(f"precision: unknown tensor class(es) {', '.join(sorted(unknown))}; "
                             f"use {', '.join(TENSOR_CLASSES)}")
        return cls(**{k: float(v) for k, v in d.items()})


def parse_precision(text: "str | float | Precision") -> Precision:
    """``int8``, ``fp8``, ``int4``, ``bf16``, ``fp16``, ``fp32`` (uniform); ``w8a16`` (weights 8 bits,
    activations, KV cache and partial sums 16); ``w4a16kv8`` (KV cache 8 bits); ``w8a8p32`` (partial sums
    32 bits); or a number of bytes (``2``, ``0.5``). Bits: 2, 4, 8, 16 or 32. One-line :class:`InputError`
    otherwise."""
    if isinstance(text, Precision):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not _valid_bytes(text):
            raise InputError(f"precision {text!r}: bytes per element must be a whole number of bits, 1/8 to 16")
        return Precision.uniform(float(text))
    if not isinstance(text, str):
        raise InputError(f"precision must be a string like 'w8a16', got {type(text).__name__}")
    t = text.strip().lower()
    if t in _NAMED:
        return Precision.uniform(_NAMED[t])
    m = _MIXED.match(t)
    if m:
        sizes = []
        for part in m.groups():
            if part is None:
                sizes.append(None)
                continue
            if int(part) not in _BITS:
                raise InputError(f"precision {text!r}: {part} bits is not one of 2, 4, 8, 16, 32")
            sizes.append(_BITS[int(part)])
        w, a, kv, p = sizes
        return Precision(weights=w, activations=a, psums=p if p is not None else a, kv_cache=kv if kv is not None else a)
    try:
        return parse_precision(float(t))
    except ValueError:
        pass
    raise InputError(f"unknown precision {text!r}: use int8, int4, fp8, bf16, fp16, fp32, a mix like w8a16, "
                     "w4a16kv8 or w8a8p32, or bytes per element")


def effective_precision(topology: "Topology") -> Precision:
    """The topology's precision, or SCALE-Sim's 1 byte for every tensor class when it names none (the one
    place element sizes are decided; ``--word-bytes N`` is a uniform precision of N bytes)."""
    if topology.precision is not None:
        return topology.precision
    return Precision()


def with_workload(topology: "Topology", *, batch: int | None = None,
                  precision: "str | float | Precision | None" = None,
                  layer_precision: "Mapping[str, str | float | Precision] | None" = None) -> "Topology":
    """A copy of ``topology`` at ``batch`` (sequences or images per step) and ``precision``, with per-layer
    overrides: ``layer_precision`` maps a layer-name pattern (shell wildcard, e.g. ``"*.lm_head"``,
    ``"model.layers.0.*"``) to a precision for the layers it matches (the first matching pattern wins;
    a pattern matching no layer is an error).

    >>> t = with_workload(model_topology("gpt2"), batch=8, precision="w8a16", layer_precision={"lm_head": "bf16"})
    """
    from .topology import Topology  # noqa: F401  (type only)

    changes: dict = {}
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputError(f"batch must be a positive integer, got {batch!r}")
        if batch > MAX_BATCH:
            raise InputError(f"batch {batch} is beyond {MAX_BATCH:,}")
        changes["batch"] = batch
    if precision is not None:
        changes["precision"] = parse_precision(precision)
    if layer_precision:
        patterns = [(pat, parse_precision(p)) for pat, p in layer_precision.items()]
        used = set()
        layers = []
        for layer in topology.layers:
            for pat, p in patterns:
                if fnmatch.fnmatchcase(layer.name, pat):
                    layer = replace(layer, precision=p)
                    used.add(pat)
                    break
            layers.append(layer)
        unused = [pat for pat, _ in patterns if pat not in used]
        if unused:
            raise InputError(f"layer precision: no layer of {topology.name} matches {', '.join(map(repr, unused))}")
        changes["layers"] = tuple(layers)
    return replace(topology, **changes) if changes else topology
