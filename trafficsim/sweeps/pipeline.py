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
    expanded = expand(spec)  # every model and workload checked before the cache folder is made
    cache.open()
    _warn_once(expanded, spec.engine)
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
                    cache.write(p.key, rec, labels[p.model_index], p.hardware, _about(expanded, p, spec.engine))
                bar.update(len(done))
        finally:
            bar.close()
            close = getattr(runs, "close", None)
            if close is not None:
                close()
            if owned:
                client.close()

    df = build_table(expanded, records, spec.engine, spec.per_layer)
    df.attrs.update({"points": len(unique), "computed": len(todo), "cached": n_cached,
                     "seconds": time.perf_counter() - t0, "option_columns": list(expanded.option_names)})
    return df


def _warn_once(expanded: Any, engine: str) -> None:
    """The warnings a single run gives about its inputs, once per sweep (workers and cached points do not
    go through ``engines.simulate``): ops no engine simulates (per model) and a precision a SCALE-Sim engine
    does not use; and, as a single run does, it refuses a DRAM standard for an engine that does not model it."""
    import warnings

    from ..engines import FAMILY_SCALESIM, PrecisionIgnoredWarning, check_dram_modelled, engine_info, warn_unmodelled

    named: set[str] = set()
    for topology in expanded.topologies:
        if getattr(topology, "unmodelled", ()) and topology.name not in named:
            named.add(topology.name)
            warn_unmodelled(topology)
    for point in expanded.points:
        check_dram_modelled(engine, point.hardware)
    if engine_info(engine).family != FAMILY_SCALESIM:
        return
    precise = sorted({t.name for t in expanded.topologies
                      if t.precision is not None or any(layer.precision is not None for layer in t.layers)})
    if precise:
        warnings.warn(PrecisionIgnoredWarning(
            f"engine {engine!r} counts SCALE-Sim's 1-byte words: the precision of {', '.join(precise)} applies "
            "to the capacity engine only"), stacklevel=3)


def _about(expanded: Any, point: Any, engine: str) -> dict[str, Any]:
    """What a cache file records about its point besides the hardware (for people reading it)."""
    from .options import options_key

    t = expanded.topologies[point.model_index]
    about: dict[str, Any] = {}
    workload = {k: v for k, v in (("phase", t.phase), ("seq_len", t.seq_len), ("context", t.context),
                                  ("batch", t.batch if t.batch != 1 else None),
                                  ("precision", t.precision.to_dict() if t.precision is not None else None))
                if v is not None}
    if workload:
        about["workload"] = workload
    options = options_key(engine, point.options)
    if options:
        about["options"] = options
    return about


def sweep(models: Any = None, arrays: Any = None, dataflows: Any = None, sram_kb: Any = None, dram: Any = None,
          engine: str = "compat", executor: str | None = None, points: Iterable[Mapping[str, Any]] | None = None,
          per_layer: bool = False, cache_dir: str | os.PathLike | None = "reports/sweeps", progress: bool = True,
          dask_address: Any = None, workers: int | None = None, *, phase: Any = None, seq_len: Any = None,
          context: Any = None, batch: Any = None, precision: Any = None, **hardware_or_options: Any) -> "pd.DataFrame":
    """Simulate every point of a grid (or an explicit point list) and return a tidy DataFrame.

    Every grid key takes one value (every point's) or a list (an axis of the grid).

    Args:
        models: zoo model names (at their default input), SCALE-Sim topology CSV paths, ``file.py:attr`` or
            :class:`Topology` objects (e.g. ``model_topology("resnet18", (3, 512, 512))``); one or a list.
            The ``model`` column is the topology's name (a zoo model's canonical name, a CSV's file stem).
            A ``file.py:attr`` runs that Python file, as ``import`` would: name only files you trust.
        arrays: array sizes as ``(rows, cols)`` or ``"RxC"``; default: the base hardware's.
        dataflows: any of ``"os"``, ``"ws"``, ``"is"``; default: the base hardware's.
        sram_kb: SRAM sizes in kB, an int (all three buffers) or ``(ifmap, filter, ofmap)``; default: the base's.
        dram: DRAMs (``Hardware.dram``): ``"ideal"``, a standard (``"ddr4-3200"``, ``"lpddr4-3200"``, ``"hbm2"``...)
            with optional ``key=value`` overrides (``"ddr4-3200 channels=2 page_policy=closed"``), a dict of
            :class:`~trafficsim.dram.DramConfig` fields or a DramConfig; fields not named keep the base's.
            The capacity engine times them; the SCALE-Sim engines do not model the DRAM (a warning says so).
        engine: a registered engine (:func:`trafficsim.engines.engine_names`): ``"compat"`` (SCALE-Sim 3.0.0's
            numbers), ``"capacity"`` or ``"scalesim"`` (slow).
        executor: ``"serial"``, ``"process"`` (local processes, all cores; the default) or ``"dask"``
            (the default when ``dask_address`` is given).
        points: an explicit list of points instead of the grid, each a dict with ``model`` (optional when
            ``models`` has one entry) and any of ``array``, ``dataflow``, ``sram_kb``, ``dram``, Hardware
            fields, workload keys and engine options.
        per_layer: one row per simulated layer instead of one per point.
        cache_dir: folder of the per-point cache files; ``None`` disables the cache.
        progress: show a progress bar with ETA (on stderr).
        dask_address: a scheduler address (``"tcp://host:8786"``), a ``distributed.Client`` or a ``LocalCluster``.
            Dask sends results back by pickle, which can run code: connect only to a scheduler you trust.
        workers: processes for the ``"process"`` executor (default: all cores).
        phase: token decoders' ``"prefill"`` (of ``seq_len`` tokens) or ``"decode"`` (one token at ``context``).
        seq_len: tokens per sequence (encoders and prefill steps).
        context: tokens already in the KV cache (decode steps; alone it makes decoders decode).
        batch: sequences or images per step (every model).
        precision: bytes per tensor class (every model): ``"int8"``, ``"bf16"``, ``"w8a16"``, ``"w4a16kv8"``, a
            number of bytes or a :class:`~trafficsim.workload.Precision` (the capacity engine uses it; the
            SCALE-Sim engines keep 1-byte words and say so). ``phase``, ``seq_len`` and ``context`` apply to
            the models that take them; other models get one row each (an axis no model takes is an error).
        **hardware_or_options: base :class:`Hardware` fields for every point (e.g. ``bandwidth_mode="USER"``,
            ``dram_channels=2``) and the engine's options, one value or a list (an axis), e.g. with
            ``engine="capacity"``: ``tiling=["per-operand", "uniform"]``, ``layout=["nchw", "nhwc"]``.

    Returns:
        One row per point (grid order: models, their workloads, arrays, dataflows, SRAM sizes, DRAMs, options)
        with the point columns (``model``, then the workload columns given or not at their defaults (``phase``,
        ``seq_len``, ``context``, ``batch``, ``precision``), ``engine``, ``array``, ``array_rows``,
        ``array_cols``, ``dataflow``, ``ifmap_sram_kb``, ``filter_sram_kb``, ``ofmap_sram_kb``, then any other
        Hardware field that differs from its default in some point (``dram_standard``...), then the engine
        options given) followed by :meth:`RunResult.totals` (with the DRAM model's ``dram_cycles``,
        ``dram_energy_pj``, ``row_hit_rate``, ``achieved_bandwidth_gbs`` where the engine gives them) or the
        per-layer fields, the layer's name as ``layer``. ``df.attrs`` holds ``points`` (distinct points),
        ``computed`` and ``cached`` counts and ``seconds``.

    Raises:
        InputError: a value the sweep cannot take, on one line naming it, before anything runs.
    """
    from ..hardware import Hardware
    from .options import option_names_of_any_engine
    from .spec import AXES_BY_KEY

    hardware_keys = set(Hardware().to_dict()) | set(AXES_BY_KEY)
    option_names = option_names_of_any_engine()
    options = {k: v for k, v in hardware_or_options.items() if k in option_names and k not in hardware_keys}
    hardware = {k: v for k, v in hardware_or_options.items() if k not in options}
    spec = SweepSpec(models=models, arrays=arrays, dataflows=dataflows, sram_kb=sram_kb, dram=dram, points=points,
                     hardware=hardware, engine=engine, executor=executor, per_layer=per_layer,
                     cache_dir=cache_dir, progress=progress, dask_address=dask_address, workers=workers,
                     phase=phase, seq_len=seq_len, context=context, batch=batch, precision=precision,
                     options=options or None)
    return run_spec(spec)
