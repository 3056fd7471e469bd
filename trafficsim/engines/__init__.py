"""Engines: topology + hardware in, :class:`~trafficsim.results.RunResult` out.

Every engine module exposes ``simulate(topology, hardware, progress=None) -> RunResult``.
Engines do not print, write files or parse options. ``progress`` (optional) is called as
``progress(done_layers, total_layers)``.

* ``compat``   - SCALE-Sim 3.0.0's numbers, exactly, in closed form and compiled loops (default)
* ``scalesim`` - the real ``scalesim`` package, run in a temp dir (reference/validation)
* ``capacity`` - capacity-aware DRAM traffic, time and energy model
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Optional

from ..errors import InputError
from ..hardware import Hardware
from ..results import RunResult
from ..topology import Topology

ProgressFn = Optional[Callable[[int, int], None]]

ENGINES: dict[str, str] = {
    "compat": "trafficsim.engines.compat",
    "scalesim": "trafficsim.engines.scalesim_ref",
    "capacity": "trafficsim.engines.capacity",
}


def get_engine(name: str):
    """The engine module registered under ``name``."""
    try:
        modname = ENGINES[name]
    except KeyError:
        raise InputError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}") from None
    return importlib.import_module(modname)


def simulate(topology: Topology, hardware: Hardware | None = None, engine: str = "compat",
             progress: ProgressFn = None, options: Any = None) -> RunResult:
    """Simulate ``topology`` on ``hardware`` (default: SCALE-Sim 3.0.0's scale.cfg) with ``engine``.

    ``options`` are engine-specific (the capacity engine takes a
    :class:`~trafficsim.engines.capacity.CapacityOptions`); the SCALE-Sim engines take none.
    """
    mod = get_engine(engine)
    if options is None:
        return mod.simulate(topology, hardware or Hardware(), progress=progress)
    if engine != "capacity":
        raise InputError(f"engine {engine!r} takes no options")
    return mod.simulate(topology, hardware or Hardware(), progress=progress, options=options)
