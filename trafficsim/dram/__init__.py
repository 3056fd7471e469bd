"""Real DRAM behind the engines: standards, address mapping, a compiled timing and energy model.

>>> from trafficsim.dram import DramConfig, simulate_requests
>>> device = DramConfig(standard="ddr4-3200", channels=1).resolve()
>>> stats = simulate_requests(device, addr, is_write)          # doctest: +SKIP
>>> stats.dram_cycles, stats.row_hits, stats.energy_pj          # doctest: +SKIP

* :class:`DramConfig` (import-light, frozen): what the user names; ``.resolve()`` -> :class:`DramDevice`.
* :func:`simulate_requests` -> :class:`DramStats`: Ramulator v1's controller, event-driven and compiled.
* standards registry: :func:`get_standard`, :func:`standard_names`, :func:`register_standard`.
* Ramulator interop: :func:`read_trace` / :func:`write_trace` (its DRAM-trace format),
  :func:`trafficsim.dram.ramulator.read_cfg`, the optional backend (``$TRAFFICSIM_RAMULATOR``).
* :mod:`.transfers`: the one boundary where engines ask what their tile transfers cost.

Kept light on import: :mod:`trafficsim.hardware` imports the configuration record, so only
:mod:`.config` loads eagerly (numpy and the compiled kernels load on first use of the rest).
"""
from __future__ import annotations

from typing import Any

from .config import IDEAL, PAGE_POLICIES, DramConfig

_LAZY = {
    "DramDevice": "trafficsim.dram.device:DramDevice",
    "DramStats": "trafficsim.dram.device:DramStats",
    "simulate_requests": "trafficsim.dram.device:simulate_requests",
    "DramStandard": "trafficsim.dram.standards:DramStandard",
    "get_standard": "trafficsim.dram.standards:get_standard",
    "standard_names": "trafficsim.dram.standards:standard_names",
    "register_standard": "trafficsim.dram.standards:register_standard",
    "read_trace": "trafficsim.dram.trace:read_trace",
    "write_trace": "trafficsim.dram.trace:write_trace",
    "Trace": "trafficsim.dram.trace:Trace",
}

__all__ = ["DramConfig", "IDEAL", "PAGE_POLICIES", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        mod, attr = _LAZY[name].split(":")
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trafficsim.dram' has no attribute {name!r}")
