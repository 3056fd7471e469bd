"""Sweeps: many (model, hardware) points through one engine, in parallel, cached and resumable.

:func:`sweep` takes a Cartesian grid (models x their workloads x arrays x dataflows x SRAM sizes x
DRAMs x engine options) or an explicit list of points and returns a tidy :class:`pandas.DataFrame`,
one row per point with the run's totals (or one row per layer with ``per_layer=True``). It runs in
phases, one module each:

* :mod:`.spec`      - the typed, validated, frozen :class:`SweepSpec` (from keywords or a TOML file)
* :mod:`.options`   - the engine's options (asked of the engine registry) as spec keys
* :mod:`.points`    - each model's topology built once per workload, each point's hardware, options and
  cache key
* :mod:`.cache`     - one JSON file per finished point, named by a content hash; damaged files are misses
* :mod:`.plan`      - the points still to compute as jobs (distinct layers shared across models when
  the engine allows it), and finished jobs back into points
* :mod:`.executors` - serial, a local process pool, or a Dask scheduler
* :mod:`.table`     - the DataFrame

This package does not import torch (zoo models are built through :mod:`trafficsim.zoo.cache`).
"""
from __future__ import annotations

from .cache import CACHE_FORMAT, PointCache, point_key, topology_digest
from .pipeline import run_spec, sweep
from .points import ExpandedSweep, SweepPoint, expand, resolve_model
from .spec import (AXIS_FIELDS, EXECUTORS, WORKLOAD_FIELDS, Axis, PointSpec, SpecFile, SweepSpec, WorkloadAxis, axis,
                   read_spec, workload_axis)

__all__ = ["sweep", "run_spec", "SweepSpec", "PointSpec", "SpecFile", "read_spec", "axis", "Axis", "AXIS_FIELDS",
           "workload_axis", "WorkloadAxis", "WORKLOAD_FIELDS", "EXECUTORS",
           "expand", "ExpandedSweep", "SweepPoint", "resolve_model", "PointCache", "CACHE_FORMAT", "point_key",
           "topology_digest"]
