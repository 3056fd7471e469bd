"""The typed sweep spec: what to sweep and how, validated once and frozen.

``ts.sweep(...)`` keyword arguments and ``trafficsim sweep`` TOML files both become a
:class:`SweepSpec`; every later phase (points, cache, plan, executors, table) reads only this record.
Values are checked strictly where they enter (a string is not a boolean, ``true`` is not a worker
count, a list in ``[hardware]`` is not a grid), each problem as one :class:`InputError` line that
names the key.

Three kinds of keys make the grid, each given one value (every point's) or a list (a grid axis):

* **hardware axes** (``arrays``, ``dataflows``, ``sram_kb``, ``dram``): fields made with :func:`axis`.
  Adding one is one field: the keyword argument, the TOML key, its singular form in ``[hardware]`` and
  ``[[points]]``, the grid product and the table's columns all follow from it;
* **workload axes** (``batch``, ``precision``, and for token models ``phase``, ``seq_len``, ``context``):
  fields made with :func:`workload_axis`; they change the topology, not the hardware;
* **engine options** (``tiling``, ``layout``...): the fields of the engine's options record, asked of the
  engine registry (:mod:`.options`), held in :attr:`SweepSpec.options`.
"""
from __future__ import annotations

import functools
import math
import os
import re
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Union

from ..dram import DramConfig
from ..errors import ConfigError, InputError, TrafficsimError
from ..hardware import Hardware, parse_array, parse_sram
from ..inputs import apply_options, parse_dataflow
from ..topology import Topology
from ..workload import MAX_BATCH, Precision, parse_precision
from . import options as engine_options

ModelRef = Union[str, Topology]  # a zoo name, a SCALE-Sim CSV path, ``file.py:attr`` or a Topology

EXECUTORS = ("serial", "process", "dask")
DEFAULT_CACHE_DIR = Path("reports/sweeps")
_DEFAULT_HARDWARE = Hardware()
# Hardware as flat scalars (Hardware.to_dict / from_dict): the keys users write, nested records flattened
_DEFAULT_FLAT = _DEFAULT_HARDWARE.to_dict()
_HARDWARE_FIELDS = tuple(_DEFAULT_FLAT)
# a Dask scheduler address: [protocol://]host:port (host may be a name, IPv4 or [IPv6])
_DASK_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|inproc|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")


class SpecError(InputError):
    """A spec value that is not acceptable; ``key`` names the spec key (for ``file:line`` locations)."""

    def __init__(self, key: str, message: str, *, named: bool = False) -> None:
        # named: the message names what is wrong already (e.g. a Hardware field), no "key:" prefix
        super().__init__(message if named else f"{key}: {message}")
        self.key = key


# ---------------------------------------------------------------------------------------------
# Axes
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Axis:
    """How one grid axis reads its values and what each value sets.

    ``key`` is the singular name of the same setting in ``[hardware]``, a point or a ``**hardware``
    keyword; ``parse`` turns one user value into a normalised, hashable value (raising
    :class:`InputError`), ``changes`` turns that value into :class:`Hardware` field changes;
    ``scalars`` are the types of a single value given without a list.
    """

    key: str
    parse: Callable[[Any], Any]
    changes: Callable[[Any], dict[str, Any]]
    scalars: tuple[type, ...]


def axis(key: str, parse: Callable[[Any], Any], changes: Callable[[Any], dict[str, Any]],
         scalars: tuple[type, ...]) -> Any:
    """A :class:`SweepSpec` field that is a grid axis: a tuple of parsed values, ``None`` = the base's value."""
    return field(default=None, metadata={"axis": Axis(key, parse, changes, scalars)})


def _no_bool(value: Any, what: str) -> None:
    # bool is an int in Python: reject it before int parsers accept True as 1
    if isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value)):
        raise InputError(f"{what} {value!r} must be made of integers, not true/false")


def _parse_array(value: Any) -> tuple[int, int]:
    _no_bool(value, "array size")
    if isinstance(value, (str, tuple, list)):
        return parse_array(value)
    raise InputError(f"array size {value!r} must be 'RxC' or (rows, cols)")


def _parse_sram(value: Any) -> tuple[int, int, int]:
    _no_bool(value, "SRAM sizes")
    if isinstance(value, (int, str, tuple, list)):
        return parse_sram(value)
    raise InputError(f"SRAM sizes {value!r} must be an integer (kB) or [ifmap, filter, ofmap]")


_DRAM_FIELDS = tuple(DramConfig().to_dict())
DramValue = tuple[tuple[str, Any], ...]  # DramConfig fields a dram value sets, the standard first


def _parse_dram(value: Any) -> DramValue:
    """A DRAM: a :class:`DramConfig` (all of it), a standard name with optional ``key=value`` overrides
    (``"ddr4-3200 channels=2 page_policy=closed"``, ``"ideal bandwidth_gbs=25.6"``) or a table of
    DramConfig fields (``{standard = "ddr4-3200", channels = 2}``). Fields not named keep the base
    hardware's. Standard names are case-insensitive (presets are stored by their canonical name)."""
    if isinstance(value, DramConfig):
        items: dict[str, Any] = value.to_dict()
    elif isinstance(value, tuple) and value and all(isinstance(i, tuple) and len(i) == 2 for i in value):
        items = dict(value)  # the stored form (a spec validated again)
        unknown = [k for k in items if k not in _DRAM_FIELDS]
        if unknown:
            raise InputError(f"DRAM {value!r}: unknown DRAM key(s) {', '.join(map(str, unknown))}")
    elif isinstance(value, str):
        if not value.strip():
            raise InputError(f"DRAM {value!r} is empty: name a standard (ddr4-3200, lpddr4-3200, hbm2...) or 'ideal'")
        name, *pairs = value.split()
        texts = {"standard": name}
        for pair in pairs:
            key, sep, v = pair.partition("=")
            if not sep or not key or key.strip().lower() == "standard":
                raise InputError(f"DRAM {value!r}: write the standard, then key=value overrides, "
                                 f"e.g. 'ddr4-3200 channels=2'")
            texts[key.strip().lower()] = v
        where = f"DRAM {value!r}"
        try:
            typed = DramConfig.from_strings(texts, where=where)  # typed by DramConfig's fields
        except ConfigError as e:
            raise InputError(str(e).removeprefix(f"{where}: ")) from None
        items = {k: getattr(typed, k) for k in texts}
    elif isinstance(value, Mapping):
        unknown = [k for k in value if k not in _DRAM_FIELDS]
        if unknown:
            raise InputError(f"DRAM {dict(value)!r}: unknown DRAM key(s) {', '.join(map(str, unknown))}; "
                             f"known: {', '.join(_DRAM_FIELDS)}")
        if not value:
            raise InputError("DRAM {} is empty: give at least the standard")
        items = dict(value)
    else:
        raise InputError(f"DRAM {value!r} must be a standard name such as 'ddr4-3200', a table of DRAM fields "
                         f"or a DramConfig")
    if isinstance(items.get("standard"), str):
        items["standard"] = _canonical_standard(items["standard"])
    order = ["standard"] if "standard" in items else []
    return tuple((k, items[k]) for k in order + [k for k in items if k != "standard"])


def _canonical_standard(name: str) -> str:
    """``DDR4-3200`` -> ``ddr4-3200``, an alias (``ddr4``) -> its preset; other names as given."""
    text = name.strip()
    if text.lower() == "ideal":
        return "ideal"
    from ..dram.standards import get_standard, standard_names

    try:
        std = get_standard(text)
    except (InputError, ConfigError):
        return text  # reported, with the choices, when the value is checked on the base hardware
    return std.name if std.name in standard_names() else text


def _dram_changes(value: DramValue) -> dict[str, Any]:
    # as a dict: its None values ("the standard's own channels") are changes too
    return {"dram": dict(value)}


def _parse_batch(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"batch must be a positive integer, got {value!r}")
    if value > MAX_BATCH:
        raise InputError(f"batch {value} is beyond {MAX_BATCH:,}")
    return value


def _parse_phase(value: Any) -> str:
    p = value.strip().lower() if isinstance(value, str) else value
    if p not in ("prefill", "decode"):
        raise InputError(f"unknown phase {value!r}: choose prefill or decode")
    return p


def _tokens(what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        from ..convert import MAX_TOKENS

        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{what} must be a positive integer, got {value!r}")
        if value > MAX_TOKENS:
            raise InputError(f"{what} {value} is beyond {MAX_TOKENS:,} tokens")
        return value
    return parse


@dataclass(frozen=True)
class WorkloadAxis:
    """A workload axis: ``key`` (its name in points and keyword arguments), ``parse`` (one user value to a
    normalised, hashable value; :class:`InputError` otherwise) and ``scalars`` (types of a single value)."""

    key: str
    parse: Callable[[Any], Any]
    scalars: tuple[type, ...]


def workload_axis(key: str, parse: Callable[[Any], Any], scalars: tuple[type, ...]) -> Any:
    """A :class:`SweepSpec` field that is a workload axis (a tuple of parsed values; ``None``: the model's own)."""
    return field(default=None, metadata={"workload": WorkloadAxis(key, parse, scalars)})


# ---------------------------------------------------------------------------------------------
# Hardware changes: axis keys and Hardware fields, strictly typed
# ---------------------------------------------------------------------------------------------
def _field_value(name: str, value: Any) -> Any:
    """A Hardware field value checked against the type of its default (ints are not bools, floats finite)."""
    default = _DEFAULT_FLAT[name]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            value = float(value)  # 25 and 25.0 are one point (and one cache file)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:  # a record field (e.g. a memory-system config): Hardware validates it
        ok = True
    if not ok:
        kind = ("true or false" if isinstance(default, bool) else "an integer" if isinstance(default, int)
                else "a finite number" if isinstance(default, float) else "a string")
        raise InputError(f"{name} must be {kind}, got {value!r}")
    return value


def hardware_changes(values: Mapping[str, Any], unknown: str = "key",
                     axes: Mapping[str, Axis] | None = None, also: str = "") -> dict[str, Any]:
    """Hardware field changes from axis keys (``array``, ``dataflow``, ``sram_kb``...; ``axes``, default
    :class:`SweepSpec`'s) and Hardware fields; ``unknown`` is what an unknown key is called in the error,
    ``also`` names the other keys allowed where it was given."""
    changes: dict[str, Any] = {}
    axes = AXES_BY_KEY if axes is None else axes
    for k, v in values.items():
        if not isinstance(k, str):
            raise InputError(f"key {k!r} must be a string")
        ax = axes.get(k)
        if ax is not None:
            try:
                changes.update(ax.changes(ax.parse(v)))
            except InputError as e:
                raise InputError(f"{k}: {e}") from None
        elif k in _HARDWARE_FIELDS:
            changes[k] = _field_value(k, v)
        else:
            keys = ", ".join(a.key for a in axes.values())
            hint = " (the workload's precision: use precision)" if k == "word_bytes" else ""
            raise InputError(f"unknown {unknown} {k!r}{hint}; use {keys}{', ' if also else ' or '}a Hardware field "
                             f"(see trafficsim.Hardware){also}")
    return changes


def apply_changes(base: Hardware, changes: Mapping[str, Any]) -> Hardware:
    """``base`` with ``changes`` (Hardware fields, ``dram_<field>`` keys, ``dram`` as a dict of DramConfig
    fields), through the one input layer (:func:`trafficsim.inputs.apply_options`, which validates); a
    rejected value is an :class:`InputError`."""
    if not changes:
        return base
    fields = dict(changes)
    # apply_options' own ``bandwidth`` keyword means "USER mode, these words/cycle"; the Hardware field of that
    # name (the OFMAP drain rate alone) is set after it
    ofmap_bandwidth = fields.pop("bandwidth", None)
    try:
        hw = apply_options(base, **fields)
        return replace(hw, bandwidth=ofmap_bandwidth) if ofmap_bandwidth is not None else hw
    except (ConfigError, TypeError, ValueError) as e:  # TypeError: e.g. a list compared with a number
        raise InputError(str(e)) from None


# ---------------------------------------------------------------------------------------------
# Points
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointSpec:
    """One explicit point: a model (``None`` = the spec's only model), its Hardware changes, its workload
    (``batch``, ``precision``, ``phase``, ``seq_len``, ``context``) and its engine options."""

    model: ModelRef | None
    changes: tuple[tuple[str, Any], ...] = ()
    workload: tuple[tuple[str, Any], ...] = ()
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, value: Any, axes: Mapping[str, Axis] | None = None, engine: str | None = None,
              workload: Mapping[str, WorkloadAxis] | None = None) -> "PointSpec":
        """A point from a dict such as ``{"model": "resnet18", "array": "16x16", "sram_kb": 32, "batch": 8}``;
        option keys are checked against ``engine``'s options."""
        if isinstance(value, PointSpec):
            return value
        if not isinstance(value, Mapping):
            raise InputError(f"must be a dict such as {{'model': 'resnet18', 'array': '32x32'}}, got {value!r}")
        model = _parse_model(value["model"]) if "model" in value else None
        hw, wl, opts = split_keys({k: v for k, v in value.items() if k != "model"}, axes, workload, engine)
        return cls(model, tuple(hw.items()), tuple(wl.items()), tuple(opts.items()))


def _named(key: str, message: str) -> str:
    """``key: message`` unless the message starts with the key already."""
    return message if message.startswith(key) else f"{key}: {message}"


def split_keys(values: Mapping[str, Any], axes: Mapping[str, Axis] | None = None,
               workload: Mapping[str, WorkloadAxis] | None = None, engine: str | None = None,
               unknown: str = "key") -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Single values by key into (Hardware changes, workload values, engine options), each parsed; an
    unknown key or a bad value is one :class:`InputError` line naming the key."""
    axes = AXES_BY_KEY if axes is None else axes
    workload = WORKLOAD_BY_KEY if workload is None else workload
    hw: dict[str, Any] = {}
    wl: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    option_names = engine_options.option_names_of_any_engine()
    for k, v in values.items():
        if isinstance(k, str) and k in workload:
            try:
                wl[k] = workload[k].parse(v)
            except InputError as e:
                raise InputError(_named(k, str(e))) from None
        elif isinstance(k, str) and k not in axes and k not in _HARDWARE_FIELDS and engine is not None \
                and (k in option_names or k in engine_options.option_fields(engine)):
            try:
                opts[k] = engine_options.parse_option(engine, k, v)
            except InputError as e:
                raise InputError(_named(k, str(e))) from None
        else:
            hw[k] = v
    if hw:
        names = list(workload)
        fields = ", ".join(engine_options.option_fields(engine)) if engine is not None else ""
        if fields:
            also = f", {', '.join(names)} or an option of engine {engine!r} ({fields})"
        else:
            also = f", {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(f" or {n}" for n in names)
        hw = hardware_changes(hw, unknown, axes, also=also)
    return hw, wl, opts


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------
def _parse_model(value: Any) -> ModelRef:
    if isinstance(value, Topology):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"model {value!r} must be a zoo name, a topology CSV path, file.py:attr or a Topology")
    return value


def _as_tuple(values: Any, key: str, scalars: tuple[type, ...]) -> tuple | None:
    """None stays None; a single value becomes a one-element tuple; an empty list is an error."""
    if values is None:
        return None
    if isinstance(values, scalars):
        return (values,)
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise SpecError(key, f"must be a list, got {values!r}")
    out = tuple(values)
    if not out:
        raise SpecError(key, f"{key} is empty: give at least one value or leave it out")
    return out


def _check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(key, f"must be true or false, got {value!r}")
    return value


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: models x axes (or explicit points) on a base hardware, and how to run it.

    Construct it with the same loose values :func:`~trafficsim.sweeps.sweep` takes (lists or single
    values, ``"RxC"`` strings, paths); it stores them normalised (tuples, parsed values) and raises
    :class:`InputError` naming the key for anything it cannot accept. ``dataclasses.replace`` works
    and validates again.

    Every axis holds a tuple of values: one value applies to every point (with ``points`` too, before
    each point's own changes), several make a grid axis (not allowed with ``points``).
    """

    models: tuple[ModelRef, ...] = ()
    # -- hardware axes (grid product in this order, after the models and their workloads) -------
    arrays: tuple[tuple[int, int], ...] | None = axis(
        "array", _parse_array, lambda v: {"array_rows": v[0], "array_cols": v[1]}, (str,))
    dataflows: tuple[str, ...] | None = axis("dataflow", parse_dataflow, lambda v: {"dataflow": v}, (str,))
    sram_kb: tuple[tuple[int, int, int], ...] | None = axis(
        "sram_kb", _parse_sram,
        lambda v: {"ifmap_sram_kb": v[0], "filter_sram_kb": v[1], "ofmap_sram_kb": v[2]}, (int, str))
    dram: tuple[DramValue, ...] | None = axis("dram", _parse_dram, _dram_changes, (str, Mapping, DramConfig))
    # -- or an explicit list of points --------------------------------------------------------
    points: tuple[PointSpec, ...] | None = None
    # -- every point starts from this hardware ------------------------------------------------
    hardware: Hardware = _DEFAULT_HARDWARE
    # -- how to run ---------------------------------------------------------------------------
    engine: str = "compat"
    executor: str | None = None  # None: "dask" when dask_address is given, else "process"
    per_layer: bool = False
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    dask_address: Any = None  # a scheduler address, a distributed.Client or a cluster object
    workers: int | None = None
    progress: bool = True
    # -- workload axes (per model, right after it in the grid; None: the model's own) -----------
    phase: tuple[str, ...] | None = workload_axis("phase", _parse_phase, (str,))
    seq_len: tuple[int, ...] | None = workload_axis("seq_len", _tokens("seq_len"), (int,))
    context: tuple[int, ...] | None = workload_axis("context", _tokens("context"), (int,))
    batch: tuple[int, ...] | None = workload_axis("batch", _parse_batch, (int,))
    precision: tuple[Precision, ...] | None = workload_axis("precision", parse_precision, (str, int, float, Precision))
    # -- engine options: {name: value or [values]} of the engine's options record (last in the grid) --
    options: Any = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        spec_type = type(self)
        # models
        # () is "not given" (the default, and what a point-list spec stores); an empty list is an error
        models = () if self.models == () else _as_tuple(self.models, "models", (str, os.PathLike, Topology)) or ()
        try:
            put("models", tuple(_parse_model(m) for m in models))
        except InputError as e:
            raise SpecError("models", str(e)) from None
        # the engine first: which options there are depends on it
        if not isinstance(self.engine, str):
            raise SpecError("engine", f"must be an engine name, got {self.engine!r}")
        from ..engines import engine_info

        try:
            engine_info(self.engine)  # registered?
        except InputError as e:
            raise SpecError("engine", str(e)) from None
        # base hardware: a Hardware, or a mapping of changes to the default
        hw = self.hardware
        if isinstance(hw, Mapping):
            try:
                hw = apply_changes(_DEFAULT_HARDWARE, hardware_changes(hw, "hardware field", axes_by_key(spec_type)))
            except InputError as e:
                raise SpecError("hardware", str(e), named=True) from None
        elif not isinstance(hw, Hardware):
            raise SpecError("hardware", f"must be a Hardware or a dict of its fields, got {hw!r}")
        put("hardware", hw)
        # hardware axes
        for ax_field, ax in axis_fields(spec_type):
            values = _as_tuple(getattr(self, ax_field), ax_field, ax.scalars)
            if values is not None:
                try:
                    values = tuple(ax.parse(v) for v in values)
                    for v in values:  # each value on the base hardware: Hardware's own limits, named by axis
                        apply_changes(hw, ax.changes(v))
                except InputError as e:
                    raise SpecError(ax_field, str(e)) from None
            put(ax_field, values)
        # workload axes
        for wl_field, wl in workload_fields(spec_type):
            values = _as_tuple(getattr(self, wl_field), wl_field, wl.scalars)
            if values is not None:
                try:
                    values = tuple(dict.fromkeys(wl.parse(v) for v in values))  # once each, in order
                except InputError as e:
                    raise SpecError(wl_field, _named(wl.key, str(e))) from None
            put(wl_field, values)
        # engine options
        put("options", _parse_options(self.options, self.engine))
        # points
        if self.points is not None:
            grids = [name for name in grid_fields(spec_type) if len(getattr(self, name) or ()) > 1]
            grids += [name for name, values in self.options if len(values) > 1]
            if grids:
                raise SpecError("points", f"give either points or the {'/'.join(grids)} grid, not both "
                                          f"(one value of a key applies to every point)")
            if isinstance(self.points, (str, bytes, Mapping)) or not isinstance(self.points, Iterable):
                raise SpecError("points", f"must be a list of dicts, got {self.points!r}")
            parsed = []
            for i, p in enumerate(self.points):
                try:
                    point = PointSpec.parse(p, axes_by_key(spec_type), self.engine, workload_by_key(spec_type))
                    apply_changes(hw, dict(point.changes))  # checked now, before any model is built
                    for name, value in point.options:  # an option of another engine (a PointSpec made for it)
                        engine_options.parse_option(self.engine, name, value)
                except InputError as e:
                    raise SpecError("points", f"point {i}: {e}") from None
                if point.model is None and len(self.models) != 1:
                    raise SpecError("points", f"point {i}: no 'model' (needed unless models has exactly one entry)")
                parsed.append(point)
            if not parsed:
                raise SpecError("points", "points is empty")
            put("points", tuple(parsed))
        elif not self.models:
            raise SpecError("models", "no models: give models=[...] (zoo names, CSV paths or Topology objects)")
        # how to run
        executor = self.executor
        if executor is None:
            executor = "dask" if self.dask_address is not None else "process"
        if not isinstance(executor, str) or executor not in EXECUTORS:
            raise SpecError("executor", f"unknown executor {executor!r}: choose serial, process or dask")
        put("executor", executor)
        if self.dask_address is not None:
            if executor != "dask":
                raise SpecError("dask_address", f"dask_address is given but executor is {executor!r}; "
                                                f"use executor='dask'")
            _check_dask_address(self.dask_address)
        _check_bool("per_layer", self.per_layer)
        _check_bool("progress", self.progress)
        w = self.workers
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or w <= 0):
            raise SpecError("workers", f"workers must be a positive integer, got {w!r}")
        cache = self.cache_dir
        if cache is not None:
            if isinstance(cache, str) and not cache.strip():
                raise SpecError("cache_dir", "cache_dir is empty: give a folder, or None for no cache")
            if not isinstance(cache, (str, os.PathLike)):
                raise SpecError("cache_dir", f"must be a folder path (or None for no cache), got {cache!r}")
            put("cache_dir", Path(cache))

    def with_(self, **changes: Any) -> "SweepSpec":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def option_values(self) -> dict[str, tuple[Any, ...]]:
        """The engine options of the spec: name -> values (one value: every point's; more: a grid axis)."""
        return dict(self.options)


def _parse_options(options: Any, engine: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``{name: value or [values]}`` (or the stored form, pairs) -> ``((name, (values...)), ...)`` in the order
    of the engine's options record, each value checked by it."""
    if options is None:
        return ()
    if isinstance(options, Mapping):
        items = list(options.items())
    elif isinstance(options, tuple) and all(isinstance(i, tuple) and len(i) == 2 for i in options):
        items = list(options)
    else:
        raise SpecError("options", f"must be a dict of engine options, got {options!r}")
    parsed: dict[str, tuple[Any, ...]] = {}
    for name, values in items:
        if not isinstance(name, str):
            raise SpecError("options", f"option name {name!r} must be a string")
        try:
            engine_options.check_option_name(engine, name)
        except InputError as e:
            raise SpecError(name, str(e)) from None
        many = isinstance(values, (list, tuple))
        values = tuple(values) if many else (values,)
        if not values:
            raise SpecError(name, f"{name} is empty: give at least one value or leave it out")
        try:
            parsed[name] = tuple(dict.fromkeys(engine_options.parse_option(engine, name, v) for v in values))
        except InputError as e:
            message = str(e)  # "key: ..." once: the option's own message may start with it already
            raise SpecError(name, message, named=message.startswith(f"{name}: ")) from None
        except TypeError:  # an unhashable value the options record took
            raise SpecError(name, f"{name}: {values!r} cannot be swept") from None
    order = list(engine_options.option_fields(engine))
    return tuple(sorted(parsed.items(), key=lambda item: order.index(item[0])))


def _check_dask_address(address: Any) -> None:
    if isinstance(address, str):
        if not _DASK_ADDRESS.match(address.strip()):
            raise SpecError("dask_address", f"{address!r} is not a scheduler address such as tcp://10.0.0.5:8786")
        return
    distributed = sys.modules.get("distributed")  # a Client or cluster object means it is imported already
    if distributed is not None and isinstance(address, distributed.Client):
        return
    if hasattr(address, "scheduler_address"):  # a LocalCluster or another deployed cluster
        return
    raise SpecError("dask_address", f"must be a scheduler address, a Client or a cluster, got {address!r}")


@functools.lru_cache(maxsize=None)
def axis_fields(spec_type: type) -> tuple[tuple[str, Axis], ...]:
    """The ``(field name, Axis)`` pairs of a spec class (:class:`SweepSpec` or a subclass), in grid order."""
    return tuple((f.name, f.metadata["axis"]) for f in fields(spec_type) if "axis" in f.metadata)


@functools.lru_cache(maxsize=None)
def axes_by_key(spec_type: type) -> dict[str, Axis]:
    """The axes of a spec class by their singular key (``array``, ``dataflow``, ``sram_kb``...)."""
    return {ax.key: ax for _, ax in axis_fields(spec_type)}


@functools.lru_cache(maxsize=None)
def workload_fields(spec_type: type) -> tuple[tuple[str, WorkloadAxis], ...]:
    """The ``(field name, WorkloadAxis)`` pairs of a spec class, in grid order."""
    return tuple((f.name, f.metadata["workload"]) for f in fields(spec_type) if "workload" in f.metadata)


@functools.lru_cache(maxsize=None)
def workload_by_key(spec_type: type) -> dict[str, WorkloadAxis]:
    return {wl.key: wl for _, wl in workload_fields(spec_type)}


@functools.lru_cache(maxsize=None)
def grid_fields(spec_type: type) -> tuple[str, ...]:
    """Names of the fields of a spec class that are axes (hardware, then workload)."""
    return tuple(name for name, _ in axis_fields(spec_type)) + tuple(name for name, _ in workload_fields(spec_type))


AXIS_FIELDS: tuple[tuple[str, Axis], ...] = axis_fields(SweepSpec)
AXES_BY_KEY: dict[str, Axis] = axes_by_key(SweepSpec)
WORKLOAD_FIELDS: tuple[tuple[str, WorkloadAxis], ...] = workload_fields(SweepSpec)
WORKLOAD_BY_KEY: dict[str, WorkloadAxis] = workload_by_key(SweepSpec)
SPEC_FIELDS = tuple(f.name for f in fields(SweepSpec))


# ---------------------------------------------------------------------------------------------
# Spec files (TOML)
# ---------------------------------------------------------------------------------------------
if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser as the tomli package (a dependency there)
    import tomli as tomllib

# top-level keys of a spec file: the SweepSpec fields but progress (the CLI's --quiet) and options (engine
# options are top-level keys by their own names), plus output (the CSV) and preset (a named base hardware);
# [hardware] holds base Hardware fields
SPEC_FILE_KEYS = tuple(k for k in SPEC_FIELDS if k not in ("progress", "options")) + ("output", "preset")
MAX_SPEC_BYTES = 16 * 1024 * 1024  # a spec is a few lines; 16 MB holds 100k explicit points


class SpecFile(NamedTuple):
    """A spec file read: the validated :class:`SweepSpec` and its ``output`` CSV path (or None)."""

    spec: SweepSpec
    output: Path | None


def _line_of(text: str, key: str, table: str | None = None) -> int | None:
    """The line of ``key = ...`` (in ``[table]`` if given): a location for errors; None if not found."""
    in_table = table is None
    for n, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if s.startswith("["):
            if table is None:
                break  # top-level keys come before the first table
            in_table = s.strip("[] \t") == table
            continue
        if in_table and re.match(rf"^{re.escape(key)}\s*=", s):
            return n
    return None


def read_spec(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> SpecFile:
    """Read a sweep spec (TOML) into a validated :class:`SweepSpec` and the ``output`` path.

    Top-level keys: ``models``, the hardware axes (``arrays``, ``dataflows``, ``sram_kb``, ``dram``), the
    workload axes (``batch``, ``precision``, ``phase``, ``seq_len``, ``context``), the engine's options by
    name (``tiling``, ``layout``...), ``engine``, ``executor``, ``per_layer``, ``cache_dir``,
    ``dask_address``, ``workers``, ``output`` (CSV path), ``preset`` (base hardware preset), a
    ``[hardware]`` table of base Hardware fields (single values: ``array``, ``dataflow``, ``sram_kb``,
    ``dram`` or any Hardware field) and ``[[points]]`` tables for an explicit point list. ``overrides``
    (e.g. the command line's ``engine``) replace top-level keys before the spec is checked.
    A CSV model path that does not exist from the working directory is looked up next to the spec.
    Errors are one :class:`InputError` line starting with ``path:line:`` where the line is known.
    """
    from ..hardware import preset as get_preset

    path = Path(path)
    text = _read_spec_text(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})") from None

    def where(key: str, table: str | None = None) -> str:
        line = _line_of(text, key, table)
        return f"{path}:{line}" if line else str(path)

    option_names = engine_options.option_names_of_any_engine()
    unknown = sorted(set(doc) - set(SPEC_FILE_KEYS) - {"hardware"} - option_names)
    if unknown:
        from ..engines import engine_names

        opts = "; ".join(f"{e}: {', '.join(engine_options.option_fields(e))}" for e in engine_names()
                         if engine_options.option_fields(e))
        raise InputError(f"{where(unknown[0])}: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(SPEC_FILE_KEYS)}, [hardware]"
                         + (f", and the engine's options ({opts})" if opts else ""))

    def near_spec(model: Any) -> Any:
        if isinstance(model, str) and model.lower().endswith(".csv") and not Path(model).exists():
            beside = path.parent / model
            if beside.exists():
                return str(beside)
        return model

    output = doc.pop("output", None)
    if output is not None and (not isinstance(output, str) or not output.strip()):
        raise InputError(f"{where('output')}: output must be a CSV path string, got {output!r}")
    # base hardware: the preset, then [hardware]
    base = _DEFAULT_HARDWARE
    if "preset" in doc:
        name = doc.pop("preset")
        if not isinstance(name, str):
            raise InputError(f"{where('preset')}: preset must be a preset name, got {name!r}")
        try:
            base = get_preset(name)
        except TrafficsimError as e:
            raise InputError(f"{where('preset')}: {e}") from None
        if getattr(base, "run_name", None) is not None:  # a preset's run name is not hardware
            base = replace(base, run_name=_DEFAULT_HARDWARE.run_name)
    hw = doc.pop("hardware", {})
    if not isinstance(hw, dict):
        raise InputError(f"{where('hardware')}: [hardware] must be a table of Hardware fields")
    for k, v in hw.items():
        try:
            base = apply_changes(base, hardware_changes({k: v}, unknown="hardware field"))
        except InputError as e:
            hint = ""
            if k in AXES_BY_KEY and isinstance(v, list):
                grid = next(name for name, ax in AXIS_FIELDS if ax.key == k)
                hint = f" ([hardware] holds one value; a list of values to sweep is the top-level key {grid})"
            raise InputError(f"{where(k, 'hardware')}: [hardware] {e}{hint}") from None
    kwargs: dict[str, Any] = {k: v for k, v in doc.items() if k not in option_names or k in SPEC_FILE_KEYS}
    options = {k: v for k, v in doc.items() if k not in kwargs}
    if options:
        kwargs["options"] = options
    kwargs.update(overrides or {})
    if "models" in kwargs:
        models = kwargs["models"]
        kwargs["models"] = [near_spec(m) for m in models] if isinstance(models, list) else near_spec(models)
    if isinstance(kwargs.get("points"), list):
        kwargs["points"] = [{**p, "model": near_spec(p["model"])} if isinstance(p, dict) and "model" in p else p
                            for p in kwargs["points"]]
    try:
        spec = SweepSpec(**kwargs, hardware=base)
    except SpecError as e:
        raise InputError(f"{where(e.key)}: {e}") from None
    return SpecFile(spec, Path(output) if output is not None else None)


def _read_spec_text(path: Path) -> str:
    """The spec's text: a regular file of bounded size, UTF-8 with or without a BOM."""
    from ..files import read_text_bounded

    return read_text_bounded(path, what="sweep spec", error=InputError, max_bytes=MAX_SPEC_BYTES)
