"""Size guards of the engines: refuse work that cannot fit before allocating anything for it.

Two limits, checked at each engine's entry points (``simulate`` and the per-layer functions sweeps
call), so that an absurd layer or option gives one line naming the size instead of a
``MemoryError``, an out-of-memory kill or an overflow inside compiled code:

* **memory**: an engine estimates the bytes a layer needs (stamp arrays, index tables, buffers)
  and refuses it above :func:`memory_limit_bytes`: half of the machine's physical memory by
  default, or the ``TRAFFICSIM_MEMORY_LIMIT`` environment variable (``32G``, ``500M``, ``0.8`` for
  a fraction of physical memory, ``none`` for no limit);
* **64-bit counters**: numbers that reach compiled (numba) code, and the counts it accumulates,
  must stay below 2**62 (int64 with headroom for the sums of a few of them).
"""
from __future__ import annotations

import os
import re

from ..errors import TooLargeError

#: integers that reach compiled code, and counts computed from them, stay below this
COUNTER_LIMIT = 1 << 62
#: default memory limit, as a fraction of physical memory
DEFAULT_MEMORY_FRACTION = 0.5
ENV_VAR = "TRAFFICSIM_MEMORY_LIMIT"
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
          "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


def physical_memory_bytes() -> int | None:
    """Physical memory of this machine (None if the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit_bytes() -> int | None:
    """The memory an engine may plan for one run (None: no limit); see the module docstring."""
    raw = os.environ.get(ENV_VAR, "").strip()
    phys = physical_memory_bytes()
    if not raw:
        return int(phys * DEFAULT_MEMORY_FRACTION) if phys else None
    if raw.lower() in ("none", "off", "unlimited"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)", raw)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _UNITS:
        raise TooLargeError(f"{ENV_VAR}={raw!r}: give a size such as 16G or 500M, a fraction of physical "
                            f"memory such as 0.8, or none")
    value = float(m.group(1))
    if not unit and value <= 1.0:
        if value <= 0 or phys is None:
            raise TooLargeError(f"{ENV_VAR}={raw!r}: a fraction needs to be in (0, 1] and the physical memory known")
        return int(phys * value)
    return int(value * _UNITS[unit])


def format_bytes(n: float) -> str:
    """``1.5 GB``-style (binary units, as ``free -h``)."""
    if n >= 1 << 70:
        return f"{n:.3g} bytes"
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1024 or unit == "EB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EB"  # unreachable


def _limit_text(limit: int) -> str:
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        return f"the limit of {format_bytes(limit)} set by {ENV_VAR}={raw}"
    return (f"the limit of {format_bytes(limit)} (half of this machine's memory; set {ENV_VAR}, e.g. "
            f"{ENV_VAR}=32G, to change it)")


def check_memory(what: str, estimate_bytes: int, detail: str = "") -> None:
    """Raise :class:`TooLargeError` if ``what`` needs more than the memory limit (``detail``: what
    the memory is mostly for)."""
    limit = memory_limit_bytes()
    if limit is not None and estimate_bytes > limit:
        detail = f" ({detail})" if detail else ""
        raise TooLargeError(f"{what} needs ~{format_bytes(estimate_bytes)} of memory{detail}, "
                            f"above {_limit_text(limit)}")


def check_counters(what: str, values: dict[str, int]) -> None:
    """Raise :class:`TooLargeError` if any value (``{"its IFMAP words": n, ...}``) is at least
    :data:`COUNTER_LIMIT`."""
    for name, value in values.items():
        if value >= COUNTER_LIMIT:
            raise TooLargeError(f"{what}: {name} ({value:.3g}) are too many to simulate (the engine counts in "
                                f"64-bit integers, limit {COUNTER_LIMIT:.3g})")


def check_at_most(what: str, name: str, value: int, limit: int, why: str) -> None:
    """Raise :class:`TooLargeError` if ``value`` exceeds ``limit`` (``why``: the reason for it)."""
    if value > limit:
        shown = f"{value:,}" if value < 10 ** 15 else f"{value:.3g}"
        raise TooLargeError(f"{what}: {name} = {shown} is too large (at most {limit:,}: {why})")


#: per-field limits on Hardware: far beyond any real accelerator, and low enough that every count
#: an engine derives from them (trigger thresholds, ring sizes, words per fetch) fits in int64
HARDWARE_LIMITS = {"array_rows": 1 << 31, "array_cols": 1 << 31, "ifmap_sram_kb": 1 << 40, "filter_sram_kb": 1 << 40,
                   "ofmap_sram_kb": 1 << 40, "bandwidth": 1 << 31, "ifmap_dram_bw": 1 << 31, "filter_dram_bw": 1 << 31}
# (element sizes are the workload's precision: at most 16 bytes, checked by trafficsim.workload.Precision)


def check_hardware(hw, engine: str) -> None:
    """Refuse hardware whose sizes would overflow ``engine``'s 64-bit counters (one line)."""
    for name, limit in HARDWARE_LIMITS.items():
        check_at_most("hardware", name, getattr(hw, name), limit, f"the {engine} engine counts in 64-bit integers")
