"""Engines: topology + hardware in, :class:`~trafficsim.results.RunResult` out, and their registry.

An engine is a module implementing the :class:`Engine` protocol (``simulate`` and
``run_id_tags``), registered once with an :class:`EngineInfo` that says what the rest of
trafficsim needs to know about it: its family (plots group runs by it), whether run folders get
SCALE-Sim's report files, its options type and a one-line summary for ``--help``. Run folders,
plots, sweeps and the CLI ask this registry; none of them matches engine names.

Adding an engine is one module plus one :func:`register_engine` call (below, for the built-in
ones). An engine that can simulate a topology's layers independently also implements
:class:`LayerSharingEngine`; sweeps then compute each distinct layer once per hardware point
(:func:`shares_layers`).

Engines do not print, write files or parse options. ``progress`` (optional) is called as
``progress(done, total)``.

* ``compat``   - SCALE-Sim 3.0.0's numbers, exactly, in closed form and compiled loops (default)
* ``scalesim`` - the real ``scalesim`` package, run in a temp dir (reference/validation)
* ``capacity`` - capacity-aware DRAM traffic, time and energy model
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Optional, Protocol, runtime_checkable

from ..errors import InputError, TrafficsimWarning
from ..hardware import Hardware
from ..results import LayerResult, RunResult
from ..topology import Topology

#: ``progress(done, total)``: ``total`` layers (SCALE-Sim rows for compat); ``done`` may be fractional
#: while long layers run (layers finished + the share of the running ones' folds already walked)
ProgressFn = Optional[Callable[[float, int], None]]

#: families of engines: runs of one family are comparable number for number
FAMILY_SCALESIM = "scalesim"    # SCALE-Sim 3.0.0's numbers (identical by design across engines)
FAMILY_CAPACITY = "capacity"    # the capacity-aware model


@dataclass(frozen=True)
class EngineInfo:
    """What trafficsim knows about an engine without importing it.

    * ``name``: what users type (``--engine``, ``engine=``).
    * ``module``: import path of the module implementing :class:`Engine`.
    * ``family``: ``"scalesim"`` for SCALE-Sim-compatible numbers, ``"capacity"`` for the
      capacity-aware model, or a family of its own; plots group and compare runs by it.
    * ``writes_scalesim_reports``: run folders get COMPUTE/BANDWIDTH/DETAILED_ACCESS_REPORT.csv.
    * ``options_type``: ``"module:Class"`` of the options record ``simulate`` accepts, or None.
    * ``summary``: one line for ``--help``.
    * ``models_dram``: the engine times a DRAM standard (``Hardware.dram``); one that does not refuses a
      hardware naming one, rather than ignoring it.
    """

    name: str
    module: str
    family: str
    writes_scalesim_reports: bool = False
    options_type: str | None = None
    summary: str = ""
    models_dram: bool = False

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"engine name must be letters, digits, '-' or '_', got {self.name!r}")
        if not self.module:
            raise ValueError(f"engine {self.name!r}: module import path missing")
        if self.options_type is not None and ":" not in self.options_type:
            raise ValueError(f"engine {self.name!r}: options_type must be 'module:Class', got {self.options_type!r}")


@runtime_checkable
class Engine(Protocol):
    """What an engine module provides."""

    def simulate(self, topology: Topology, hardware: Hardware, progress: ProgressFn = None,
                 options: Any = None) -> RunResult:
        """Simulate every layer of ``topology`` on ``hardware``; ``options`` of the engine's
        ``options_type`` (None: defaults)."""
        ...

    def run_id_tags(self, result: RunResult) -> list[str]:
        """Run-id suffixes for the options of ``result`` that change its numbers ([] if none)."""
        ...


@runtime_checkable
class LayerSharingEngine(Engine, Protocol):
    """An engine whose layers are independent given the hardware: a sweep simulates each distinct
    :meth:`row_key` once per hardware point and :meth:`assemble` builds every run from them."""

    def layer_rows(self, topology: Topology) -> list[Any]:
        """The independent units (rows) the engine simulates for ``topology``."""
        ...

    def row_key(self, row: Any) -> tuple:
        """Rows with equal keys give equal results (up to name and id) on equal hardware."""
        ...

    def simulate_row(self, row: Any, hardware: Hardware, layer_id: int = 0) -> LayerResult:
        """One row's result."""
        ...

    def assemble(self, topology: Topology, hardware: Hardware, rows: list[Any],
                 computed: dict[tuple, LayerResult], names: bool = True,
                 keys: list[tuple] | None = None) -> RunResult:
        """The run of ``topology`` from one result per distinct key of its ``rows``."""
        ...

    def cost_estimate(self, row: Any, hardware: Hardware) -> float:
        """Rough seconds :meth:`simulate_row` takes (for ordering and balancing work)."""
        ...


_REGISTRY: dict[str, EngineInfo] = {}


def register_engine(info: EngineInfo, *, replace: bool = False) -> EngineInfo:
    """Add ``info`` to the registry (``replace=True`` to redefine a name) and return it."""
    if not isinstance(info, EngineInfo):
        raise TypeError(f"register_engine takes an EngineInfo, got {type(info).__name__}")
    if info.name in _REGISTRY and not replace:
        raise ValueError(f"engine {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def unregister_engine(name: str) -> None:
    """Remove ``name`` from the registry (tests register engines of their own)."""
    _REGISTRY.pop(name, None)


def engine_names() -> tuple[str, ...]:
    """Registered engine names, in registration order (the default, ``compat``, first)."""
    return tuple(_REGISTRY)


def engine_info(name: str) -> EngineInfo:
    """The :class:`EngineInfo` of ``name``; :class:`InputError` naming the choices if unknown."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown engine {name!r}: choose one of {', '.join(_REGISTRY)}") from None


def is_registered(name: str) -> bool:
    return isinstance(name, str) and name in _REGISTRY


def get_engine(name: str) -> ModuleType:
    """The engine module registered under ``name`` (imported on first use)."""
    return importlib.import_module(engine_info(name).module)


def shares_layers(name: str) -> bool:
    """Does engine ``name`` implement :class:`LayerSharingEngine`?"""
    return isinstance(get_engine(name), LayerSharingEngine)


def options_type(name: str) -> type | None:
    """The options class engine ``name`` accepts (None: it takes no options)."""
    path = engine_info(name).options_type
    if path is None:
        return None
    modname, _, attr = path.partition(":")
    return getattr(importlib.import_module(modname), attr)


def run_id_tags(result: RunResult) -> list[str]:
    """The engine's run-id suffixes for ``result`` ([] for an engine that is not registered)."""
    if not is_registered(result.engine):
        return []
    return list(get_engine(result.engine).run_id_tags(result))


def compile_notice(name: str, hardware: Hardware | None = None) -> str | None:
    """A line to show the user before engine ``name`` compiles code once (numba) for a run on
    ``hardware`` (default: SCALE-Sim's scale.cfg), or None.

    Engines whose first run compiles may define ``compile_notice(hardware=None) -> str | None``
    (optional; not part of :class:`Engine`)."""
    fn = getattr(get_engine(name), "compile_notice", None)
    return fn(hardware) if fn is not None else None


def family_of(name: str) -> str:
    """The family of engine ``name``; an unregistered engine is a family of its own."""
    return _REGISTRY[name].family if is_registered(name) else str(name)


class UnmodelledOpWarning(TrafficsimWarning):
    """The topology holds calls the converter could not model; results leave out their MACs and traffic."""


class PrecisionIgnoredWarning(UserWarning):
    """A SCALE-Sim engine was given a topology with a precision: it keeps SCALE-Sim's 1-byte words."""


class BatchAsCopiesWarning(UserWarning):
    """A SCALE-Sim engine was given a batch: it runs each convolution once per image (SCALE-Sim has batch 1)."""


def warn_unmodelled(topology: Topology) -> None:
    """Warn (:class:`UnmodelledOpWarning`) naming the ops of ``topology`` that no engine simulates."""
    import warnings

    from ..topology import unmodelled_summary

    warnings.warn(UnmodelledOpWarning(
        f"{topology.name}: {len(topology.unmodelled)} op(s) not modelled, their MACs and traffic are missing "
        f"from the results: {unmodelled_summary(topology.unmodelled)}"), stacklevel=3)


def check_dram_modelled(engine: str, hardware: Hardware) -> None:
    """Refuse (one line) a DRAM standard given to an engine that does not model the DRAM: never silently ignored."""
    if hardware.dram.is_ideal or engine_info(engine).models_dram:
        return
    timed = [name for name, i in _REGISTRY.items() if i.models_dram]
    raise InputError(f"engine {engine!r} does not model the DRAM: drop dram {hardware.dram.label()} or use "
                     f"{' or '.join(repr(n) for n in timed)}, which time it")


def simulate(topology: Topology | str, hardware: Hardware | str | None = None, engine: str = "compat",
             progress: ProgressFn = None, options: Any = None) -> RunResult:
    """Simulate ``topology`` on ``hardware`` (default: SCALE-Sim 3.0.0's scale.cfg) with ``engine``.

    ``topology`` may also be a zoo name, a CSV/JSON path or ``file.py:attr``, and ``hardware`` a preset
    name, a ``.cfg`` path or an array ``"RxC"`` (:mod:`trafficsim.inputs`). ``options`` are
    engine-specific (the capacity engine takes a :class:`~trafficsim.engines.capacity.CapacityOptions`,
    compat a :class:`~trafficsim.engines.compat_fixes.CompatOptions` naming SCALE-Sim bugs to fix);
    the real SCALE-Sim engine takes none.
    """
    from ..inputs import resolve_hardware, resolve_topology

    info = engine_info(engine)
    topology = resolve_topology(topology)
    hardware = resolve_hardware(hardware)
    if options is not None:
        cls = options_type(engine)
        if cls is None:
            raise InputError(f"engine {engine!r} takes no options")
        if not isinstance(options, cls):
            raise InputError(f"engine {engine!r} takes {cls.__name__} options, got {type(options).__name__}")
    check_dram_modelled(engine, hardware)
    mod = importlib.import_module(info.module)
    if topology.unmodelled:  # never silently wrong: name what the results leave out
        warn_unmodelled(topology)
    if info.family == FAMILY_SCALESIM and (topology.precision is not None
                                          or any(layer.precision is not None for layer in topology.layers)):
        import warnings

        warnings.warn(PrecisionIgnoredWarning(
            f"engine {engine!r} counts SCALE-Sim's 1-byte words: the precision of {topology.name} "
            "applies to the capacity engine only"), stacklevel=2)
    if info.family == FAMILY_SCALESIM and topology.batch > 1 and any(
            layer.kind not in ("gemm", "linear") for layer in topology.layers):
        import warnings

        warnings.warn(BatchAsCopiesWarning(
            f"engine {engine!r} runs each convolution of {topology.name} once per image at batch {topology.batch} "
            "(SCALE-Sim has batch 1: weights are read again for every image); the capacity engine tiles the "
            "batch and reuses them"), stacklevel=2)
    return mod.simulate(topology, hardware, progress=progress, options=options)


register_engine(EngineInfo(
    name="compat", module="trafficsim.engines.compat", family=FAMILY_SCALESIM, writes_scalesim_reports=True,
    models_dram=True,
    options_type="trafficsim.engines.compat_fixes:CompatOptions",
    summary="SCALE-Sim 3.0.0's numbers, exact and fast"))
register_engine(EngineInfo(
    name="scalesim", module="trafficsim.engines.scalesim_ref", family=FAMILY_SCALESIM, writes_scalesim_reports=True,
    summary="the real SCALE-Sim package, slow"))
register_engine(EngineInfo(
    name="capacity", module="trafficsim.engines.capacity", family=FAMILY_CAPACITY,
    options_type="trafficsim.engines.capacity:CapacityOptions", models_dram=True,
    summary="SRAM-aware traffic, time and energy"))
