"""Sweeps: many (model, hardware) points through one engine, in parallel, cached and resumable.

:func:`sweep` takes a Cartesian grid (models x arrays x dataflows x SRAM sizes) or an explicit
list of points and returns a tidy :class:`pandas.DataFrame`, one row per point with the run's
totals (or one row per layer with ``per_layer=True``).

* Each model's :class:`~trafficsim.topology.Topology` is built once in the calling process and
  shipped once to each worker (a pool initializer, or ``Client.scatter`` on Dask).
* Executors: ``"serial"``, ``"process"`` (a local process pool, all cores) and ``"dask"``
  (a ``distributed`` scheduler address, ``Client`` or ``LocalCluster``).
* Every finished point is written by the calling process as one small JSON file under
  ``cache_dir``, named by a content hash of (topology, hardware, engine, trafficsim version),
  atomically (temp file + rename). A re-run reuses finished points; a sweep killed at any moment,
  even with SIGKILL, resumes with no lost or corrupt points. Unreadable cache files are recomputed.

This module does not import torch (zoo models are built through :mod:`trafficsim.zoo.cache`).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import threading
import time
import types
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from .engines import engine_info, get_engine, shares_layers
from .errors import ConfigError, InputError
from .hardware import DATAFLOWS, Hardware, hardware_changes, parse_array, parse_sram
from .topology import Topology, atomic_write_text, read_csv

if TYPE_CHECKING:
    import pandas as pd

    from .results import LayerResult, RunResult

EXECUTORS = ("serial", "process", "dask")
CACHE_FORMAT = 1  # bump when the cache file layout changes

# Columns that describe a point, first in every row.
POINT_COLUMNS = ("model", "engine", "array", "array_rows", "array_cols", "dataflow",
                 "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")
# flat names as Hardware.to_dict() gives them (the DRAM's fields as dram_<field>)
_HARDWARE_FIELDS = tuple(Hardware().to_dict())
# Fields that do not change any count: left out of the cache key so that renaming a run reuses results.
_NOT_IN_KEY = ("run_name",)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: which model (index into the sweep's models) on which hardware."""

    model_index: int
    hardware: Hardware
    key: str  # content hash naming the cache file


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------
def resolve_model(model: Any) -> Topology:
    """A topology from a :class:`Topology`, a SCALE-Sim CSV path, ``file.py:attr`` or a zoo model name."""
    if isinstance(model, Topology):
        return model
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"model {model!r} must be a zoo name, a topology CSV path or a Topology")
    if model.lower().endswith(".csv") or (Path(model).is_file() and ".py" not in model):
        return read_csv(model)
    if ".py:" in model or model.endswith(".py"):
        from .zoo.cache import user_model_topology
        return user_model_topology(model)
    from .zoo.cache import default_input_shape, model_topology
    return model_topology(model, default_input_shape(model))


def _as_list(values: Any, what: str, scalar_types: tuple[type, ...]) -> list | None:
    """None stays None; a single value becomes a one-element list; an empty list is an error."""
    if values is None:
        return None
    if isinstance(values, scalar_types):
        return [values]
    try:
        out = list(values)
    except TypeError:
        raise InputError(f"{what} must be a list, got {values!r}") from None
    if not out:
        raise InputError(f"{what} is empty: give at least one value or leave it out")
    return out


def _parse_dataflow(value: Any) -> str:
    d = value.strip().lower() if isinstance(value, str) else value
    if d not in DATAFLOWS:
        raise InputError(f"unknown dataflow {value!r}: choose os, ws or is")
    return d


def _point_changes(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Hardware field changes of a point given by grid keys (array, dataflow, sram_kb) and/or Hardware fields."""
    changes: dict[str, Any] = {}
    for k, v in spec.items():
        if k == "model":
            continue
        if k == "array":
            changes["array_rows"], changes["array_cols"] = parse_array(v)
        elif k == "dataflow":
            changes["dataflow"] = _parse_dataflow(v)
        elif k == "sram_kb":
            changes["ifmap_sram_kb"], changes["filter_sram_kb"], changes["ofmap_sram_kb"] = parse_sram(v)
        elif k in _HARDWARE_FIELDS:
            changes[k] = _parse_dataflow(v) if k == "dataflow" else v
        else:
            raise InputError(f"{where}: unknown key {k!r}; use model, array, dataflow, sram_kb or a Hardware field")
    return changes


def _make_hardware(base: Hardware, changes: Mapping[str, Any], where: str) -> Hardware:
    try:
        return replace(base, **hardware_changes(dict(changes), base.dram))
    except ConfigError as e:
        raise InputError(f"{where}: {e}") from None
    except TypeError as e:  # e.g. a list where a number belongs
        raise InputError(f"{where}: {e}") from None


def topology_digest(topology: Topology) -> str:
    """SHA-256 of a topology's canonical JSON (names, shapes, ops: everything an engine could use)."""
    text = json.dumps(topology.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def point_key(topology_sha: str, hardware: Hardware, engine: str, version: str | None = None) -> str:
    """Cache key of a point: a hash of (topology, hardware, engine, trafficsim version)."""
    if version is None:
        from . import __version__ as version
    hw = {k: v for k, v in hardware.to_dict().items() if k not in _NOT_IN_KEY}
    text = json.dumps({"format": CACHE_FORMAT, "topology": topology_sha, "hardware": hw, "engine": engine,
                       "trafficsim": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


# ---------------------------------------------------------------------------------------------
# Work done in workers
# ---------------------------------------------------------------------------------------------
def _json_default(o: Any) -> Any:
    # numpy scalars from engines' extras
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"cannot store {type(o).__name__} in a sweep cache file")


def _record(result: "RunResult", per_layer: bool) -> dict[str, Any]:
    """A point's record ``{"totals": {...}, "layers": [...]|None}``, passed through JSON so that
    fresh and cached results are identical values."""
    record: dict[str, Any] = {"totals": result.totals(), "layers": None}
    if per_layer:
        record["layers"] = [layer.to_dict() for layer in result.layers]
    return json.loads(json.dumps(record, default=_json_default))


def simulate_points(topology: Topology, hardwares: Sequence[Hardware], engine: str,
                    per_layer: bool) -> list[dict[str, Any]]:
    """Simulate one topology on several hardware points; one record per point (see :func:`_record`)."""
    from .engines import simulate

    return [_record(simulate(topology, hw, engine=engine), per_layer) for hw in hardwares]


def simulate_layer_rows(engine: str, hardware: Hardware, rows: Sequence[Any]) -> list["LayerResult"]:
    """Simulate independent layers (SCALE-Sim rows) on one hardware point with a row-level engine."""
    simulate_row = get_engine(engine).simulate_row
    return [simulate_row(row, hardware) for row in rows]


def _single_threaded(fn: Callable[..., Any], *args: Any) -> Any:
    # a worker already runs one task per core: no threads inside the engine
    os.environ["TRAFFICSIM_THREADS"] = "1"
    return fn(*args)


def _pool_init(parent_pid: int) -> None:
    os.environ["TRAFFICSIM_THREADS"] = "1"
    # Exit when the sweep process dies (e.g. SIGKILL) instead of lingering as an orphan.
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="trafficsim-parent-watch").start()


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------
def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.json"


def read_cached_point(cache_dir: Path, key: str, per_layer: bool) -> dict[str, Any] | None:
    """The cached record of a point, or None when missing, unreadable or lacking layers that are needed."""
    try:
        d = json.loads(_cache_path(cache_dir, key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict) or d.get("key") != key or not isinstance(d.get("totals"), dict):
        return None
    layers = d.get("layers")
    if per_layer and not isinstance(layers, list):
        return None
    return {"totals": d["totals"], "layers": layers if isinstance(layers, list) else None}


def write_cached_point(cache_dir: Path, key: str, record: Mapping[str, Any], model: str, engine: str,
                       hardware: Hardware) -> None:
    """Write one point's record atomically (readers never see a partial file)."""
    from . import __version__
    doc = {"key": key, "format": CACHE_FORMAT, "trafficsim_version": __version__, "model": model,
           "engine": engine, "hardware": hardware.to_dict(), "totals": record["totals"]}
    if record.get("layers") is not None:
        doc["layers"] = record["layers"]
    atomic_write_text(_cache_path(cache_dir, key), json.dumps(doc, separators=(",", ":"), default=_json_default))


# ---------------------------------------------------------------------------------------------
# Plans: the work of the points still to do, as jobs, and how finished jobs become finished points
# ---------------------------------------------------------------------------------------------
Job = tuple[Callable[..., Any], tuple[Any, ...]]


def _hardware_group(hw: Hardware) -> Hardware:
    return replace(hw, run_name="") if hw.run_name else hw


class _PointPlan:
    """Whole points as jobs: chunks of points of one model, of similar estimated cost, biggest first.

    About four chunks per worker keep the load balanced; at most eight points per chunk keep the
    progress bar moving; starting with the biggest points keeps one long point from finishing last.
    """

    def __init__(self, todo: Sequence[SweepPoint], topologies: Sequence[Topology], engine: str,
                 per_layer: bool, workers: int) -> None:
        macs = [t.macs for t in topologies]
        # the engines' work grows with the array's folds: MACs per PE is a fair estimate
        costs = {p.key: macs[p.model_index] / (p.hardware.array_rows * p.hardware.array_cols) for p in todo}
        target = sum(costs.values()) / max(1, workers * 4)
        by_model: dict[int, list[SweepPoint]] = {}
        for p in sorted(todo, key=lambda p: -costs[p.key]):
            by_model.setdefault(p.model_index, []).append(p)
        chunks: list[tuple[float, list[SweepPoint]]] = []
        for pts in by_model.values():
            current: list[SweepPoint] = []
            cost = 0.0
            for p in pts:
                if current and (len(current) >= 8 or cost + costs[p.key] > target):
                    chunks.append((cost, current))
                    current, cost = [], 0.0
                current.append(p)
                cost += costs[p.key]
            chunks.append((cost, current))
        chunks.sort(key=lambda c: -c[0])
        self.chunks = [pts for _, pts in chunks]
        self.jobs: list[Job] = [(simulate_points, (topologies[pts[0].model_index], [p.hardware for p in pts],
                                                   engine, per_layer)) for pts in self.chunks]

    def finished(self, job: int, output: list[dict]) -> list[tuple[SweepPoint, dict]]:
        return list(zip(self.chunks[job], output))


class _LayerPlan:
    """Distinct layers as jobs, for engines that simulate layers independently (``compat``).

    SCALE-Sim simulates every layer from empty buffers, so a layer's result depends only on its
    shape and the hardware: a layer shared by several models (ResNet-50/101/152, the DenseNets'
    common blocks) is simulated once per hardware point. Jobs are chunks of one hardware point's
    distinct layers, the hardware points' groups biggest first and within a group the longest
    layers first, so points finish group by group and the last jobs are the shortest.
    """

    def __init__(self, todo: Sequence[SweepPoint], topologies: Sequence[Topology], engine: str,
                 per_layer: bool, workers: int) -> None:
        self.mod = get_engine(engine)
        self.per_layer = per_layer
        self.topologies = topologies
        self.rows: dict[int, list[Any]] = {}
        self.keys: dict[int, list[tuple]] = {}
        row_key = self.mod.row_key
        groups: dict[Hardware, int] = {}
        self.group_rows: list[dict[tuple, Any]] = []      # per group: distinct row key -> row
        self.waiting: list[dict[tuple, list[SweepPoint]]] = []  # per group: row key -> points needing it
        self.remaining: dict[str, int] = {}                # point key -> distinct rows not yet computed
        self.results: list[dict[tuple, Any]] = []
        for p in todo:
            rows = self.rows.get(p.model_index)
            if rows is None:
                rows = self.rows[p.model_index] = self.mod.layer_rows(topologies[p.model_index])
                self.keys[p.model_index] = [row_key(r) for r in rows]
            g = groups.setdefault(_hardware_group(p.hardware), len(groups))
            if g == len(self.group_rows):
                self.group_rows.append({})
                self.waiting.append({})
                self.results.append({})
            keys = dict(zip(self.keys[p.model_index], rows))
            for k, r in keys.items():
                self.group_rows[g].setdefault(k, r)
                self.waiting[g].setdefault(k, []).append(p)
            self.remaining[p.key] = len(keys)
        hardware = list(groups)
        cost = [{k: self.mod.cost_estimate(r, hardware[g]) for k, r in rows.items()}
                for g, rows in enumerate(self.group_rows)]
        total = sum(sum(c.values()) for c in cost)
        # enough jobs to balance the workers, few enough that dispatch stays cheap
        target = min(1.0, max(0.02, total / max(1, workers * 64)))
        self.jobs = []
        self.job_keys: list[tuple[int, list[tuple]]] = []
        for g in sorted(range(len(hardware)), key=lambda g: -sum(cost[g].values())):
            keys = sorted(self.group_rows[g], key=lambda k: -cost[g][k])
            chunk: list[tuple] = []
            chunk_cost = 0.0
            for k in keys + [None]:
                if chunk and (k is None or chunk_cost + cost[g][k] > target):
                    self.jobs.append((simulate_layer_rows, (engine, hardware[g],
                                                            [self.group_rows[g][c] for c in chunk])))
                    self.job_keys.append((g, chunk))
                    chunk, chunk_cost = [], 0.0
                if k is not None:
                    chunk.append(k)
                    chunk_cost += cost[g][k]

    def finished(self, job: int, output: list[Any]) -> list[tuple[SweepPoint, dict]]:
        g, keys = self.job_keys[job]
        done = []
        for k, result in zip(keys, output):
            self.results[g][k] = result
            for p in self.waiting[g].pop(k):
                self.remaining[p.key] -= 1
                if self.remaining[p.key] == 0:
                    run = self.mod.assemble(self.topologies[p.model_index], p.hardware, self.rows[p.model_index],
                                            self.results[g], names=self.per_layer,
                                            keys=self.keys[p.model_index])
                    done.append((p, _record(run, self.per_layer)))
        if not self.waiting[g]:
            self.results[g] = {}  # every point of the group is done
        return done


def _plan(todo: Sequence[SweepPoint], topologies: Sequence[Topology], engine: str, per_layer: bool,
          workers: int) -> "_PointPlan | _LayerPlan":
    return (_LayerPlan if shares_layers(engine) else _PointPlan)(todo, topologies, engine, per_layer, workers)


# ---------------------------------------------------------------------------------------------
# Executors: each runs a list of jobs and yields (job index, output) as jobs finish
# ---------------------------------------------------------------------------------------------
def _run_serial(jobs: Sequence[Job]) -> Iterator[tuple[int, Any]]:
    for i, (fn, args) in enumerate(jobs):
        yield i, fn(*args)


def _run_process(jobs: Sequence[Job], workers: int) -> Iterator[tuple[int, Any]]:
    import multiprocessing as mp

    # fork starts workers fast and shares already-loaded kernels; elsewhere the platform default (spawn)
    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else None
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=_pool_init,
                               initargs=(os.getpid(),))
    try:
        # the pool starts jobs in submission order
        pending = {pool.submit(fn, *args): i for i, (fn, args) in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=pending.__getitem__):
                yield pending.pop(fut), fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_client(dask_address: Any):
    """(client, owned): a Client for an address string, a Client, or a (Local)Cluster."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("executor='dask' needs dask.distributed: pip install 'trafficsim[dask]'") from None
    if dask_address is None:
        raise InputError("executor='dask' needs dask_address: a scheduler address, a Client or a LocalCluster")
    if isinstance(dask_address, Client):
        return dask_address, False
    if isinstance(dask_address, str):
        try:
            return Client(dask_address, timeout="20s"), True
        except OSError as e:
            raise InputError(f"cannot reach the Dask scheduler at {dask_address!r}: {e}") from None
    if hasattr(dask_address, "scheduler_address"):  # a LocalCluster or another deployed cluster
        return Client(dask_address), True
    raise InputError(f"dask_address must be a scheduler address, a Client or a cluster, got {dask_address!r}")


def _run_dask(jobs: Sequence[Job], client: Any) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    # each topology goes to every worker once; jobs refer to it by future
    topologies = {id(a): a for _, args in jobs for a in args if isinstance(a, Topology)}
    scattered = {}
    if topologies:
        scattered = dict(zip(topologies, client.scatter(list(topologies.values()), broadcast=True)))
    futures = {}
    for i, (fn, args) in enumerate(jobs):
        args = tuple(scattered.get(id(a), a) if isinstance(a, Topology) else a for a in args)
        # earlier jobs first, as the other executors do
        futures[client.submit(_single_threaded, fn, *args, pure=False, priority=-i)] = i
    try:
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
    finally:
        client.cancel(list(futures))


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------
def sweep(models: Any = None, arrays: Any = None, dataflows: Any = None, sram_kb: Any = None,
          engine: str = "compat", executor: str | None = None, points: Iterable[Mapping[str, Any]] | None = None,
          per_layer: bool = False, cache_dir: str | os.PathLike | None = "reports/sweeps", progress: bool = True,
          dask_address: Any = None, workers: int | None = None, **hardware: Any) -> "pd.DataFrame":
    """Simulate every point of a grid (or an explicit point list) and return a tidy DataFrame.

    Args:
        models: zoo model names (at their default input), SCALE-Sim topology CSV paths, ``file.py:attr`` or
            :class:`Topology` objects (e.g. ``model_topology("resnet18", (3, 512, 512))``); one or a list.
            The ``model`` column is the topology's name (a zoo model's canonical name, a CSV's file stem).
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
        workers: processes for the ``"process"`` executor (default: all cores).
        **hardware: base :class:`Hardware` fields for every point (e.g. ``bandwidth_mode="USER"``, ``word_bytes=2``).

    Returns:
        One row per point (grid order) with the point columns (``model``, ``engine``, ``array``, ``array_rows``,
        ``array_cols``, ``dataflow``, ``ifmap_sram_kb``, ``filter_sram_kb``, ``ofmap_sram_kb``, then any other
        Hardware field that differs from its default in some point) followed by :meth:`RunResult.totals`
        (or the per-layer fields, the layer's name as ``layer``). ``df.attrs`` holds ``points`` (distinct
        points), ``computed`` and ``cached`` counts and ``seconds``.
    """
    import pandas as pd

    t0 = time.perf_counter()
    engine_info(engine)  # InputError naming the choices if unknown
    if executor is None:
        executor = "dask" if dask_address is not None else "process"
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}: choose serial, process or dask")
    if dask_address is not None and executor != "dask":
        raise InputError(f"dask_address is given but executor is {executor!r}; use executor='dask'")
    if workers is not None and (not isinstance(workers, int) or workers <= 0):
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    unknown = sorted(set(hardware) - set(_HARDWARE_FIELDS) - {"array", "sram_kb"})
    if unknown:
        raise InputError(f"unknown hardware field(s) {', '.join(unknown)}; see trafficsim.Hardware")
    base = _make_hardware(Hardware(), _point_changes(hardware, "hardware"), "hardware")

    # -- models: each topology built once ---------------------------------------------------------
    model_list = _as_list(models, "models", (str, os.PathLike, Topology)) or []
    labels: list[str] = []
    topologies: list[Topology] = []
    for m in model_list:
        topo = resolve_model(m)
        topologies.append(topo)
        labels.append(topo.name)

    # -- points -----------------------------------------------------------------------------------
    specs: list[tuple[int, dict[str, Any]]] = []  # (model index, hardware changes)
    resolved: dict[str, Topology] = {}  # point lists name the same model many times
    if points is not None:
        if any(v is not None for v in (arrays, dataflows, sram_kb)):
            raise InputError("give either points or the arrays/dataflows/sram_kb grid, not both")
        for i, spec in enumerate(points):
            where = f"point {i}"
            if not isinstance(spec, Mapping):
                raise InputError(f"{where}: must be a dict such as {{'model': 'resnet18', 'array': '32x32'}}, "
                                 f"got {spec!r}")
            if "model" in spec:
                m = spec["model"]
                memo_key = os.fspath(m) if isinstance(m, (str, os.PathLike)) else None
                topo = resolved.get(memo_key) if memo_key is not None else None
                if topo is None:
                    topo = resolve_model(m)
                    if memo_key is not None:
                        resolved[memo_key] = topo
                idx = next((i for i, t in enumerate(topologies) if t is topo or t == topo), -1)
                if idx < 0:
                    labels.append(topo.name)
                    topologies.append(topo)
                    idx = len(topologies) - 1
            elif len(model_list) == 1:
                idx = 0
            else:
                raise InputError(f"{where}: no 'model' (needed unless models has exactly one entry)")
            specs.append((idx, _point_changes(spec, where)))
        if not specs:
            raise InputError("points is empty")
    else:
        if not topologies:
            raise InputError("no models: give models=[...] (zoo names, CSV paths or Topology objects)")
        array_list = _as_list(arrays, "arrays", (str,)) or [(base.array_rows, base.array_cols)]
        flow_list = _as_list(dataflows, "dataflows", (str,)) or [base.dataflow]
        sram_list = _as_list(sram_kb, "sram_kb", (int, str)) or [(base.ifmap_sram_kb, base.filter_sram_kb,
                                                                   base.ofmap_sram_kb)]
        parsed_arrays = [parse_array(a) for a in array_list]
        parsed_flows = [_parse_dataflow(d) for d in flow_list]
        parsed_srams = [parse_sram(s) for s in sram_list]
        for idx, (r, c), d, (si, sf, so) in itertools.product(range(len(topologies)), parsed_arrays,
                                                                parsed_flows, parsed_srams):
            specs.append((idx, {"array_rows": r, "array_cols": c, "dataflow": d, "ifmap_sram_kb": si,
                                "filter_sram_kb": sf, "ofmap_sram_kb": so}))

    digests = [topology_digest(t) for t in topologies]
    sweep_points: list[SweepPoint] = []
    for n, (idx, changes) in enumerate(specs):
        hw = _make_hardware(base, changes, f"point {n}")
        sweep_points.append(SweepPoint(idx, hw, point_key(digests[idx], hw, engine)))

    # -- cache ------------------------------------------------------------------------------------
    cache = Path(cache_dir) if cache_dir is not None else None
    records: dict[str, dict[str, Any]] = {}
    unique: dict[str, SweepPoint] = {}
    for p in sweep_points:
        unique.setdefault(p.key, p)
    if cache is not None:
        for key in unique:
            rec = read_cached_point(cache, key, per_layer)
            if rec is not None:
                records[key] = rec
    n_cached = len(records)
    todo = [p for k, p in unique.items() if k not in records]

    # -- run --------------------------------------------------------------------------------------
    if todo:
        client, owned = _dask_client(dask_address) if executor == "dask" else (None, False)
        bar: Any = _NoBar()
        runs: Iterator[tuple[int, Any]] | None = None
        try:
            if client is not None:
                n_workers = max(1, sum(client.nthreads().values()))
            else:
                n_workers = 1 if executor == "serial" else workers or os.cpu_count() or 1
            plan = _plan(todo, topologies, engine, per_layer, n_workers)
            if executor == "serial":
                runs = _run_serial(plan.jobs)
            elif executor == "process":
                runs = _run_process(plan.jobs, n_workers)
            else:
                runs = _run_dask(plan.jobs, client)
            bar = _progress_bar(len(unique), n_cached, f"sweep ({executor})", progress)
            for job, output in runs:
                done = plan.finished(job, output)
                for p, rec in done:
                    records[p.key] = rec
                    if cache is not None:
                        write_cached_point(cache, p.key, rec, labels[p.model_index], engine, p.hardware)
                bar.update(len(done))
        finally:
            bar.close()
            close = getattr(runs, "close", None)
            if close is not None:
                close()
            if owned:
                client.close()

    # -- table ------------------------------------------------------------------------------------
    # other Hardware fields become columns where some point differs from the default
    default = Hardware().to_dict()
    flat = [p.hardware.to_dict() for p in sweep_points]
    extra_cols = [f for f in _HARDWARE_FIELDS if f not in POINT_COLUMNS and f not in _NOT_IN_KEY
                  and any(d[f] != default[f] for d in flat)]
    rows: list[dict[str, Any]] = []
    for p, hw_flat in zip(sweep_points, flat):
        hw = p.hardware
        point = {"model": labels[p.model_index], "engine": engine, "array": hw.array,
                 "array_rows": hw.array_rows, "array_cols": hw.array_cols, "dataflow": hw.dataflow,
                 "ifmap_sram_kb": hw.ifmap_sram_kb, "filter_sram_kb": hw.filter_sram_kb,
                 "ofmap_sram_kb": hw.ofmap_sram_kb}
        point.update({k: hw_flat[k] for k in extra_cols})
        rec = records[p.key]
        if per_layer:
            for layer in rec["layers"]:
                layer = dict(layer)
                layer["layer"] = layer.pop("name", None)
                rows.append({**point, **layer})
        else:
            rows.append({**point, **rec["totals"]})
    df = pd.DataFrame(rows)
    df.attrs.update({"points": len(unique), "computed": len(todo), "cached": n_cached,
                     "seconds": time.perf_counter() - t0})
    return df


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, desc: str, enabled: bool):
    """A tqdm bar (count, rate, ETA) on stderr, or a no-op."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="pt", smoothing=0.1, dynamic_ncols=True)


# ---------------------------------------------------------------------------------------------
# Sweep spec files (TOML)
# ---------------------------------------------------------------------------------------------
SPEC_KEYS = ("models", "arrays", "dataflows", "sram_kb", "engine", "executor", "points", "per_layer", "cache_dir",
             "dask_address", "workers", "output", "preset", "hardware")


def read_spec(path: str | os.PathLike) -> tuple[dict[str, Any], str | None]:
    """Read a sweep spec (TOML): (:func:`sweep` keyword arguments, the ``output`` CSV path or None).

    Top-level keys: ``models``, ``arrays``, ``dataflows``, ``sram_kb``, ``engine``, ``executor``, ``per_layer``,
    ``cache_dir``, ``dask_address``, ``workers``, ``output`` (CSV path), ``preset`` (base hardware preset), a
    ``[hardware]`` table of base Hardware fields and ``[[points]]`` tables for an explicit point list.
    A CSV model path that does not exist from the working directory is looked up next to the spec.
    """
    import tomllib

    from .hardware import preset as get_preset

    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such sweep spec") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read sweep spec ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})") from None
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(SPEC_KEYS)}")

    def near_spec(model: Any) -> Any:
        if isinstance(model, str) and model.lower().endswith(".csv") and not Path(model).exists():
            beside = path.parent / model
            if beside.exists():
                return str(beside)
        return model

    output = spec.get("output")
    if output is not None and not isinstance(output, str):
        raise InputError(f"{path}: output must be a CSV path string")
    kwargs: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("hardware", "preset", "output")}
    if "models" in kwargs:
        models = kwargs["models"]
        kwargs["models"] = [near_spec(m) for m in models] if isinstance(models, list) else near_spec(models)
    if "points" in kwargs:
        if not isinstance(kwargs["points"], list):
            raise InputError(f"{path}: points must be an array of tables ([[points]])")
        kwargs["points"] = [{**p, "model": near_spec(p["model"])} if isinstance(p, dict) and "model" in p else p
                            for p in kwargs["points"]]
    base: dict[str, Any] = {}
    if "preset" in spec:
        base = get_preset(spec["preset"]).to_dict()
        base.pop("run_name", None)
    hw = spec.get("hardware", {})
    if not isinstance(hw, dict):
        raise InputError(f"{path}: [hardware] must be a table of Hardware fields")
    base.update(hw)
    kwargs.update(base)
    return kwargs, output


class _CallableModule(types.ModuleType):
    """``trafficsim.sweep`` is both this module and the function: if the module was imported first
    (``from trafficsim.sweep import read_spec``), the package attribute is the module; calling it sweeps."""

    def __call__(self, *args: Any, **kwargs: Any) -> "pd.DataFrame":
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
