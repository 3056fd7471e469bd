"""From a :class:`~trafficsim.sweeps.spec.SweepSpec` to concrete points: each model's topology
built once, each point's hardware, and each point's cache key."""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from ..hardware import Hardware
from ..topology import Topology, read_csv
from .cache import point_key, topology_digest
from .spec import ModelRef, SweepSpec, apply_changes, axis_fields


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: which model (index into the sweep's topologies) on which hardware."""

    model_index: int
    hardware: Hardware
    key: str  # content hash naming the cache file


@dataclass(frozen=True)
class ExpandedSweep:
    """The topologies of a sweep (each built once, in the calling process) and its points in grid order."""

    topologies: tuple[Topology, ...]
    points: tuple[SweepPoint, ...]

    @property
    def labels(self) -> list[str]:
        """The ``model`` column of each topology: a zoo model's canonical name, a CSV's file stem."""
        return [t.name for t in self.topologies]

    def unique(self) -> dict[str, SweepPoint]:
        """The distinct points by cache key (a grid may name one point twice), in grid order."""
        out: dict[str, SweepPoint] = {}
        for p in self.points:
            out.setdefault(p.key, p)
        return out


def resolve_model(model: ModelRef) -> Topology:
    """A topology from a :class:`Topology`, a SCALE-Sim CSV path, ``file.py:attr`` or a zoo model name
    (at the model's default input)."""
    if isinstance(model, Topology):
        return model
    if model.lower().endswith(".csv") or (Path(model).is_file() and ".py" not in model):
        return read_csv(model)
    if ".py:" in model or model.endswith(".py"):
        from ..zoo.cache import user_model_topology
        return user_model_topology(model)
    from ..zoo.cache import default_input_shape, model_topology
    return model_topology(model, default_input_shape(model))


def expand(spec: SweepSpec) -> ExpandedSweep:
    """Build each model's topology once and list the spec's points (grid order, or the point list's)."""
    topologies: list[Topology] = []
    resolved: dict[str, int] = {}  # point lists name the same model many times

    def index_of(model: ModelRef, new: bool) -> int:
        memo = os.fspath(model) if isinstance(model, str) else None
        if memo is not None and memo in resolved:
            return resolved[memo]
        topo = resolve_model(model)
        idx = -1 if new else next((i for i, t in enumerate(topologies) if t is topo or t == topo), -1)
        if idx < 0:
            topologies.append(topo)
            idx = len(topologies) - 1
        if memo is not None:
            resolved[memo] = idx
        return idx

    # the models list in order (duplicates kept: they are rows of the grid)
    model_indices = [index_of(m, new=True) for m in spec.models]
    base = spec.hardware
    specs: list[tuple[int, Hardware]] = []
    if spec.points is not None:
        for p in spec.points:
            idx = model_indices[0] if p.model is None else index_of(p.model, new=False)
            specs.append((idx, apply_changes(base, dict(p.changes))))
    else:
        axes = [[ax.changes(v) for v in values] for name, ax in axis_fields(type(spec))
                if (values := getattr(spec, name)) is not None]
        for idx, *changes in itertools.product(model_indices, *axes):
            merged: dict = {}
            for c in changes:
                merged.update(c)
            specs.append((idx, apply_changes(base, merged)))
    digests = [topology_digest(t) for t in topologies]
    points = tuple(SweepPoint(idx, hw, point_key(digests[idx], hw, spec.engine)) for idx, hw in specs)
    return ExpandedSweep(tuple(topologies), points)
