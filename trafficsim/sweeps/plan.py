"""Plans: the work of the points still to compute, as jobs for an executor, and how finished jobs
become finished points.

A job is ``(function, args)``: a module-level function (picklable by name for process pools and
Dask) and its arguments. :func:`make_plan` picks a :class:`LayerPlan` for engines that share
per-layer work across points and a :class:`PointPlan` for the others.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..engines import get_engine, shares_layers
from ..errors import InputError
from ..hardware import Hardware
from ..topology import Topology
from .cache import record_of
from .points import SweepPoint

Job = tuple[Callable[..., Any], tuple[Any, ...]]
Finished = list[tuple[SweepPoint, dict[str, Any]]]


# ---------------------------------------------------------------------------------------------
# Work done in workers
# ---------------------------------------------------------------------------------------------
def simulate_points(topology: Topology, hardwares: Sequence[Hardware], engine: str,
                    per_layer: bool, options: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Simulate one topology on several hardware points (with the engine options of each, None: defaults);
    one record per point (see :func:`record_of`). The warnings :func:`trafficsim.engines.simulate` gives
    about the topology are given once per sweep by the sweep itself, not once per point here."""
    import warnings

    from ..engines import simulate

    opts = options if options is not None else [None] * len(hardwares)
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _topology_warnings())
        for hw, o in zip(hardwares, opts):
            try:
                records.append(record_of(simulate(topology, hw, engine=engine, options=o), per_layer))
            except InputError as e:  # a combination the engine refuses (e.g. batch > 1 on a DRAM standard)
                raise InputError(f"{point_label(topology, hw, engine, o)}: {e}") from None
    return records


def point_label(topology: Topology, hardware: Hardware, engine: str, options: Any = None) -> str:
    """A point in words for an error about it: ``point tiny batch 4, 8x8 ws 64 kB, ddr4-3200, layout=nhwc``."""
    from .options import option_column, options_key

    words = [topology.name]
    if topology.batch != 1:
        words.append(f"batch {topology.batch}")
    if topology.precision is not None:
        words.append(topology.precision.label)
    sram = {hardware.ifmap_sram_kb, hardware.filter_sram_kb, hardware.ofmap_sram_kb}
    kb = (f"{hardware.ifmap_sram_kb}" if len(sram) == 1
          else f"{hardware.ifmap_sram_kb},{hardware.filter_sram_kb},{hardware.ofmap_sram_kb}")
    parts = [" ".join(words), f"{hardware.array} {hardware.dataflow} {kb} kB", hardware.dram.label()]
    parts += [f"{k}={option_column(getattr(options, k))}" for k in options_key(engine, options)]
    return "point " + ", ".join(parts)


def _topology_warnings() -> tuple[type[Warning], ...]:
    from ..engines import PrecisionIgnoredWarning, UnmodelledOpWarning

    return (UnmodelledOpWarning, PrecisionIgnoredWarning)


def simulate_layer_rows(engine: str, hardware: Hardware, rows: Sequence[Any]) -> list[Any]:
    """Simulate independent layers (SCALE-Sim rows) on one hardware point with a layer-sharing engine."""
    simulate_row = get_engine(engine).simulate_row
    return [simulate_row(row, hardware) for row in rows]


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------
class PointPlan:
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
                                                   engine, per_layer) + _options_arg(pts)) for pts in self.chunks]

    def finished(self, job: int, output: list[dict]) -> Finished:
        return list(zip(self.chunks[job], output))


def _options_arg(points: Sequence[SweepPoint]) -> tuple:
    # no options argument when every point takes the engine's defaults (the jobs of sweeps without options)
    return ([p.options for p in points],) if any(p.options is not None for p in points) else ()


class LayerPlan:
    """Distinct layers as jobs, for engines that share layers (:class:`~trafficsim.engines.LayerSharingEngine`,
    e.g. ``compat``).

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
            g = groups.setdefault(p.hardware, len(groups))
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
        self.jobs: list[Job] = []
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

    def finished(self, job: int, output: list[Any]) -> Finished:
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
                    done.append((p, record_of(run, self.per_layer)))
        if not self.waiting[g]:
            self.results[g] = {}  # every point of the group is done
        return done


def make_plan(todo: Sequence[SweepPoint], topologies: Sequence[Topology], engine: str, per_layer: bool,
              workers: int) -> PointPlan | LayerPlan:
    """The plan for the points still to compute on ``workers`` parallel workers."""
    # rows are simulated without options (LayerSharingEngine.simulate_row): points with options run whole
    plan = LayerPlan if shares_layers(engine) and all(p.options is None for p in todo) else PointPlan
    return plan(todo, topologies, engine, per_layer, workers)
