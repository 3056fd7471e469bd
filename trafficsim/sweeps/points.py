"""From a :class:`~trafficsim.sweeps.spec.SweepSpec` to concrete points: each model's topology built once
per distinct workload, each point's hardware and engine options, and each point's cache key.

Workloads: a token model is traced once per distinct (phase, sequence length, context); batch and
precision are applied to that topology with :func:`trafficsim.workload.with_workload` (no tracing). In a
grid, ``phase``, ``seq_len`` and ``context`` apply to the models and phases that take them (``seq_len``
to encoders and prefill steps, ``context`` and ``phase`` to decoders, ``context`` to decode steps) and the
other models get one row each at their own workload; an axis that applies to no point is an error. An
explicit point's own keys must apply to its model.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import InputError
from ..hardware import Hardware
from ..inputs import resolve_topology, spec_kind
from ..topology import Topology
from . import options as engine_options
from .cache import point_key, topology_digest
from .spec import ModelRef, SweepSpec, apply_changes, axis_fields, workload_fields

# the workload keys that change what is traced (batch and precision only change the copy's fields)
SEQUENCE_KEYS = ("phase", "seq_len", "context")


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: which topology (index into the sweep's topologies), on which hardware,
    with which engine options (the engine's options record, or None for its defaults)."""

    model_index: int
    hardware: Hardware
    key: str  # content hash naming the cache file
    options: Any = None


@dataclass(frozen=True)
class ExpandedSweep:
    """The topologies of a sweep (each built once, in the calling process, one per model and workload) and
    its points in grid order; ``option_names`` are the engine options the spec sets (table columns) and
    ``workload_keys`` the workload keys it sets."""

    topologies: tuple[Topology, ...]
    points: tuple[SweepPoint, ...]
    option_names: tuple[str, ...] = ()
    workload_keys: tuple[str, ...] = ()

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
    """A topology from a :class:`Topology`, a SCALE-Sim CSV or topology JSON path, ``file.py:attr`` or a zoo
    model name (at the model's default input): :func:`trafficsim.inputs.resolve_topology`."""
    return resolve_topology(model)


class _Model:
    """A model of the sweep: what it is (``image``, ``encoder``, ``decoder``, or ``fixed``: a topology given as
    such, not traced again) and its topologies per sequence workload, each built once."""

    def __init__(self, ref: ModelRef) -> None:
        self.ref = ref
        self.source = "fixed" if not isinstance(ref, str) else spec_kind(ref)
        self.by_sequence: dict[tuple, Topology] = {}
        if self.source == "zoo":
            from ..zoo import model_sequence, resolve_model_name

            self.name = resolve_model_name(ref)  # type: ignore[arg-type]
            seq = model_sequence(self.name)
            self.kind = "image" if seq is None else "decoder" if "context" in seq else "encoder"
        elif self.source == "user":
            from ..convert import is_decoder, load_user_model
            from ..inputs import user_model_name

            module, _ = load_user_model(ref)  # type: ignore[arg-type]
            self.name = user_model_name(ref)  # type: ignore[arg-type]
            tokens = getattr(module, "trafficsim_input", None) == "tokens"
            self.kind = "image" if not tokens else "decoder" if is_decoder(module) else "encoder"
        else:
            self.source = "fixed"
            self.by_sequence[()] = resolve_model(ref)
            self.name = self.by_sequence[()].name
            self.kind = "fixed"

    def applies(self, key: str, phase: str | None, context: Any) -> bool:
        """Does sequence key ``key`` change this model at (phase, context)?"""
        if self.kind in ("image", "fixed"):
            return False
        if self.kind == "encoder":
            return key == "seq_len"
        decode = phase == "decode" or (phase is None and context is not None)
        return key == "phase" or (key == "context") == decode

    def sequence(self, values: Mapping[str, Any], strict: Sequence[str] = ()) -> tuple[dict[str, Any], Topology]:
        """The sequence keys of ``values`` that apply to this model and its topology with them; a key of
        ``strict`` (a point's own) that does not apply is an :class:`InputError`."""
        phase, context = values.get("phase"), values.get("context")
        used = {k: v for k, v in values.items() if k in SEQUENCE_KEYS and v is not None
                and self.applies(k, phase, context)}
        for k in strict:
            if k in SEQUENCE_KEYS and values.get(k) is not None and k not in used:
                raise InputError(f"{k} does not apply to {self.name} ({self._what(phase, context)})")
        key = tuple(sorted(used.items()))
        if key not in self.by_sequence:
            self.by_sequence[key] = resolve_topology(self.ref, **used)
        return used, self.by_sequence[key]

    def _what(self, phase: Any, context: Any) -> str:
        if self.kind == "fixed":
            return "a topology given as such: phase, seq_len and context apply to zoo models and file.py:attr"
        if self.kind == "image":
            return "an image model"
        if self.kind == "encoder":
            return "an encoder: it takes seq_len only"
        return "a decode step runs one token; seq_len applies to prefill" if phase == "decode" or \
            (phase is None and context is not None) else "context applies to the decode phase"


def expand(spec: SweepSpec) -> ExpandedSweep:
    """Build each model's topologies once and list the spec's points (grid order, or the point list's).

    Raises :class:`InputError` (one line) for a workload a model cannot take, before anything is simulated.
    """
    from ..workload import with_workload

    models: dict[Any, _Model] = {}  # by reference string (point lists name the same model many times)

    def model_of(ref: ModelRef) -> _Model:
        memo = os.fspath(ref) if isinstance(ref, str) else id(ref)
        if memo not in models:
            models[memo] = _Model(ref)
        return models[memo]

    topologies: list[Topology] = []
    index: dict[tuple, int] = {}  # (id of the sequence topology, batch, precision) -> topology index

    def topology_index(m: _Model, workload: Mapping[str, Any], strict: Sequence[str] = ()) -> int:
        _, topo = m.sequence(workload, strict)
        batch, precision = workload.get("batch"), workload.get("precision")
        k = (id(topo), batch, precision)
        if k not in index:
            if batch is not None or precision is not None:
                topo = with_workload(topo, batch=batch, precision=precision)
            topologies.append(topo)
            index[k] = len(topologies) - 1
        return index[k]

    wl_fields = [(wl.key, getattr(spec, name)) for name, wl in workload_fields(type(spec))]
    options = spec.option_values()
    base = spec.hardware
    engine = spec.engine
    specs: list[tuple[int, Hardware, dict[str, Any]]] = []
    if spec.points is not None:
        # one value of an axis applies to every point, before the point's own keys
        hw_base = apply_changes(base, _merge(ax.changes(values[0]) for name, ax in axis_fields(type(spec))
                                             if (values := getattr(spec, name)) is not None))
        wl_base = {k: values[0] for k, values in wl_fields if values is not None}
        opt_base = {k: values[0] for k, values in options.items()}
        for i, p in enumerate(spec.points):
            m = model_of(spec.models[0] if p.model is None else p.model)
            own = dict(p.workload)
            try:
                idx = topology_index(m, {**wl_base, **own}, strict=list(own))
            except InputError as e:
                raise InputError(f"points: point {i}: {e}") from None
            specs.append((idx, apply_changes(hw_base, dict(p.changes)), {**opt_base, **dict(p.options)}))
    else:
        ms = [model_of(ref) for ref in spec.models]
        keys = [k for k, _ in wl_fields]
        grids = [values if values is not None else (None,) for _, values in wl_fields]
        used: set[str] = set()
        workloads: list[tuple[_Model, list[int]]] = []
        for m in ms:
            indices: list[int] = []
            for combo in itertools.product(*grids):
                workload = dict(zip(keys, combo))
                applied, _ = m.sequence(workload)
                used.update(applied)
                idx = topology_index(m, workload)
                if idx not in indices:  # keys that do not apply to this model give it one row
                    indices.append(idx)
            workloads.append((m, indices))
        for k, values in wl_fields:
            if values is not None and k in SEQUENCE_KEYS and k not in used:
                raise InputError(f"{k}: {_no_taker(k, ms)}")
        hw_axes = [[ax.changes(v) for v in values] for name, ax in axis_fields(type(spec))
                   if (values := getattr(spec, name)) is not None]
        opt_axes = [[(name, v) for v in values] for name, values in options.items()]
        for m, indices in workloads:
            for idx, *rest in itertools.product(indices, *hw_axes, *opt_axes):
                changes, opts = rest[:len(hw_axes)], rest[len(hw_axes):]
                specs.append((idx, apply_changes(base, _merge(changes)), dict(opts)))
    digests = [topology_digest(t) for t in topologies]
    points = []
    records: dict[tuple, Any] = {}  # options records, one per distinct set of values
    for idx, hw, opts in specs:
        frozen = tuple(sorted((k, _hashable(v)) for k, v in opts.items()))
        if frozen not in records:
            records[frozen] = engine_options.make_options(engine, opts)
        record = records[frozen]
        key = point_key(digests[idx], hw, engine, options=engine_options.options_key(engine, record))
        points.append(SweepPoint(idx, hw, key, record))
    option_names = tuple(dict.fromkeys([*options, *(name for p in spec.points or () for name, _ in p.options)]))
    order = list(engine_options.option_fields(engine))
    workload_keys = tuple(k for k, values in wl_fields if values is not None or
                          any(k in dict(p.workload) for p in spec.points or ()))
    return ExpandedSweep(tuple(topologies), tuple(points), tuple(sorted(option_names, key=order.index)),
                         workload_keys)


def _merge(changes: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for c in changes:
        merged.update(c)
    return merged


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _no_taker(key: str, models: Sequence[_Model]) -> str:
    """Why a sequence axis applies to no point of a grid."""
    kinds = {m.kind for m in models}
    if key == "phase":
        return "no model of this sweep is a decoder (phase applies to decoders such as gpt2 or llama3_2_1b)"
    if key == "context":
        if "decoder" not in kinds:
            return "no model of this sweep is a decoder (context applies to their decode steps)"
        return "no point of this sweep is a decode step (phase = [\"decode\"])"
    if kinds & {"encoder", "decoder"}:
        return ("no point of this sweep takes a sequence length: its decoders run decode steps (context is "
                "given); seq_len applies to prefill steps and encoders (phase = [\"prefill\", \"decode\"])")
    return "no model of this sweep takes a sequence length (token models such as bert_base or gpt2 do)"
