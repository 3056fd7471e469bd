"""Synthetic request streams (sequential, strided, random, read/write mixes, row runs), reproducible
from a seed on any machine: the random numbers come from SplitMix64 written out here, not from
numpy's generators, whose streams may change between numpy versions.

Used for the Ramulator fixtures (tests/fixtures/dram), the speed benchmark and the tests.
"""
from __future__ import annotations

import numpy as np

KINDS = ("seq", "stride", "random", "copy", "rows")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(seed: int, n: int) -> np.ndarray:
    """``n`` 64-bit outputs of SplitMix64 (Steele, Lea and Flood, OOPSLA 2014) from ``seed``."""
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) + _GOLDEN * np.arange(1, n + 1, dtype=np.uint64))
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform(seed: int, n: int) -> np.ndarray:
    """``n`` floats in [0, 1) (the top 53 bits of SplitMix64)."""
    return (splitmix64(seed, n) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def stream(kind: str, n: int, *, seed: int = 0, write_fraction: float = 0.0, request_bytes: int = 64,
           stride_bytes: int = 0, span_bytes: int = 1 << 30, run: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``n`` requests of one pattern: byte addresses (uint64) and write flags (bool).

    * ``seq``: consecutive requests; ``stride``: every ``stride_bytes`` (e.g. one row of every
      bank, so that each request conflicts in one bank); ``random``: uniform over ``span_bytes``;
    * ``copy``: a read stream and a write stream interleaved (the write stream starts at
      ``span_bytes / 2``; ``write_fraction`` is ignored);
    * ``rows``: runs of ``run`` consecutive requests starting at random places (tile rows).

    Writes are drawn with probability ``write_fraction`` (an independent SplitMix64 stream).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown pattern {kind!r}: choose {', '.join(KINDS)}")
    rb = np.uint64(request_bytes)
    i = np.arange(n, dtype=np.uint64)
    slots = np.uint64(max(1, span_bytes // request_bytes))
    if kind == "seq":
        addr = i * rb
    elif kind == "stride":
        addr = i * np.uint64(stride_bytes)
    elif kind == "random":
        addr = (splitmix64(seed, n) % slots) * rb
    elif kind == "copy":
        half = np.uint64(span_bytes // 2)
        addr = np.where(i % np.uint64(2) == 0, (i // np.uint64(2)) * rb, half + (i // np.uint64(2)) * rb)
        return addr.astype(np.uint64), (i % np.uint64(2) == 1)
    else:  # rows
        starts = splitmix64(seed, n // run + 1) % slots
        addr = (starts[(i // np.uint64(run)).astype(np.int64)] + i % np.uint64(run)) * rb
    w = uniform(seed ^ 0x5DEECE66D, n) < write_fraction if write_fraction > 0 else np.zeros(n, dtype=bool)
    return addr.astype(np.uint64), w


def case_stream(case: dict, root=None) -> tuple[np.ndarray, np.ndarray]:
    """The stream a stored fixture case describes (``case["config"]``: Ramulator standard, speed, org,
    channels, ranks; ``case["stream"]``: a pattern with its seed, or a ``.npz`` file of addresses and
    write flags under ``root``)."""
    s = case["stream"]
    c = case["config"]
    if s["source"] == "file":
        from pathlib import Path
        with np.load(Path(root or ".") / s["path"]) as z:
            return z["addr"].astype(np.uint64), z["is_write"].astype(bool)
    from .config import DramConfig
    dev = DramConfig(standard=c["speed"], org=c["org"], channels=c["channels"], ranks=c["ranks"]).resolve()
    o = dev.standard.org
    stride = o.row_bytes * o.banks_per_rank * dev.ranks * dev.channels   # RoBaRaCoCh: the next row of one bank
    extra = {k: v for k, v in s.items() if k not in ("source", "kind", "n", "write_fraction", "seed")}
    return stream(s["kind"], s["n"], seed=s["seed"], write_fraction=s["write_fraction"],
                  request_bytes=dev.request_bytes, stride_bytes=stride, span_bytes=1 << 30, **extra)
