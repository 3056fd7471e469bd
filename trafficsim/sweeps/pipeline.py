"""The sweep in phases: spec -> points -> cache lookup -> plan and execution -> table."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from .cache import PointCache
from .executors import NoBar, dask_client, dask_workers, progress_bar, run_dask, run_process, run_serial
from .plan import make_plan
from .points import expand
from .spec import SweepSpec
from .table import build_table

if TYPE_CHECKING:
    import pandas as pd


def run_spec(spec: SweepSpec) -> "pd.DataFrame":
    """Run a validated :class:`SweepSpec` and return its table (see :func:`sweep`)."""
    t0 = time.perf_counter()
    cache = PointCache(spec.cache_dir, spec.engine)
    cache.open()
    expanded = expand(spec)
    _warn_unmodelled(expanded.topologies)
    labels = expanded.labels
    unique = expanded.unique()

    records = cache.lookup(unique, spec.per_layer)
    n_cached = len(records)
    todo = [p for k, p in unique.items() if k not in records]

    if todo:
        executor = spec.executor
        client, owned = dask_client(spec.dask_address) if executor == "dask" else (None, False)
        bar: Any = NoBar()
        runs: Iterator[tuple[int, Any]] | None = None
        try:
            if client is not None:
                n_workers = dask_workers(client)
            else:
                n_workers = 1 if executor == "serial" else spec.workers or os.cpu_count() or 1
            plan = make_plan(todo, expanded.topologies, spec.engine, spec.per_layer, n_workers)
            if executor == "serial":
                runs = run_serial(plan.jobs)
            elif executor == "process":
                runs = run_process(plan.jobs, n_workers)
            else:
                runs = run_dask(plan.jobs, client)
            bar = progress_bar(len(unique), n_cached, f"sweep ({executor})", spec.progress)
            for job, output in runs:
                done = plan.finished(job, output)
                for p, rec in done:
                    records[p.key] = rec
                    cache.write(p.key, rec, labels[p.model_index], p.hardware)
                bar.update(len(done))
        finally:
            bar.close()
            close = getattr(runs, "close", None)
            if close is not None:
                close()
            if owned:
                client.close()

    df = build_table(expanded.points, labels, records, spec.engine, spec.per_layer)
    df.attrs.update({"points": len(unique), "computed": len(todo), "cached": n_cached,
                     "seconds": time.perf_counter() - t0})
    return df


def _warn_unmodelled(topologies: Iterable[Any]) -> None:
    """Name once per sweep the ops of each model that no engine simulates (workers and cached points
    do not go through ``engines.simulate``, which warns on single runs)."""
    from ..engines import warn_unmodelled

    for topology in topologies:
        if getattr(topology, "unmodelled", ()):
            warn_unmodelled(topology)


def sweep(models: Any = None, arrays: Any = None, dataflows: Any = None, sram_kb: Any = None,
          engine: str = "compat", executor: str | None = None, points: Iterable[Mapping[str, Any]] | None = None,
          per_layer: bool = False, cache_dir: str | os.PathLike | None = "reports/sweeps", progress: bool = True,
          dask_address: Any = None, workers: int | None = None, **hardware: Any) -> "pd.DataFrame":
    """Simulate every point of a grid (or an explicit point list) and return a tidy DataFrame.

    Args:
        models: zoo model names (at their default input), SCALE-Sim topology CSV paths, ``file.py:attr`` or
            :class:`Topology` objects (e.g. ``model_topology("resnet18", (3, 512, 512))``); one or a list.
            The ``model`` column is the topology's name (a zoo model's canonical name, a CSV's file stem).
            A ``file.py:attr`` runs that Python file, as ``import`` would: name only files you trust.
        arrays: array sizes as ``(rows, cols)`` or ``"RxC"``; default: the base hardware's.
        dataflows: any of ``"os"``, ``"ws"``, ``"is"``; default: the base hardware's.
        sram_kb: SRAM sizes in kB, an int (all three buffers) or ``(ifmap, filter, ofmap)``; default: the base's.
        engine: a registered engine (:func:`trafficsim.engines.engine_names`): ``"compat"`` (SCALE-Sim 3.0.0's
            numbers), ``"capacity"`` or ``"scalesim"`` (slow).
        executor: ``"serial"``, ``"process"`` (local processes, all cores; the default) or ``"dask"``
            (the default when ``dask_address`` is given).
        points: an explicit list of points instead of the grid, each a dict with ``model`` (optional when
            ``models`` has one entry) and any of ``array``, ``dataflow``, ``sram_kb`` or Hardware fields.
        per_layer: one row per simulated layer instead of one per point.
        cache_dir: folder of the per-point cache files; ``None`` disables the cache.
        progress: show a progress bar with ETA (on stderr).
        dask_address: a scheduler address (``"tcp://host:8786"``), a ``distributed.Client`` or a ``LocalCluster``.
            Dask sends results back by pickle, which can run code: connect only to a scheduler you trust.
        workers: processes for the ``"process"`` executor (default: all cores).
        **hardware: base :class:`Hardware` fields for every point (e.g. ``bandwidth_mode="USER"``, ``word_bytes=2``).

    Returns:
        One row per point (grid order) with the point columns (``model``, ``engine``, ``array``, ``array_rows``,
        ``array_cols``, ``dataflow``, ``ifmap_sram_kb``, ``filter_sram_kb``, ``ofmap_sram_kb``, then any other
        Hardware field that differs from its default in some point) followed by :meth:`RunResult.totals`
        (or the per-layer fields, the layer's name as ``layer``). ``df.attrs`` holds ``points`` (distinct
        points), ``computed`` and ``cached`` counts and ``seconds``.

    Raises:
        InputError: a value the sweep cannot take, on one line naming it, before anything runs.
    """
    spec = SweepSpec(models=models, arrays=arrays, dataflows=dataflows, sram_kb=sram_kb, points=points,
                     hardware=hardware, engine=engine, executor=executor, per_layer=per_layer,
                     cache_dir=cache_dir, progress=progress, dask_address=dask_address, workers=workers)
    return run_spec(spec)
