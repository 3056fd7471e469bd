"""The one input layer: what a user names (a model, a topology file, hardware options) becomes a
:class:`~trafficsim.topology.Topology` and a :class:`~trafficsim.hardware.Hardware` here, and only here.

Every command (``run``, ``validate``, ``info``, ``convert``, ``list``), sweeps and the Python API go
through :func:`resolve_topology` and :func:`apply_options`, so a spec means the same thing everywhere:

* a :class:`Topology` is used as it is;
* ``path/to/file.py:attr`` is the user's own ``nn.Module`` (an instance, a class or a factory);
* a path ending in ``.csv`` is a SCALE-Sim topology CSV, one ending in ``.json`` a trafficsim topology
  JSON (``trafficsim convert -o x.json``); any other existing file is read as a SCALE-Sim CSV;
* anything else is a zoo model name (case, ``-`` and ``_`` ignored).

This module does not import torch; user models and zoo models at a non-default input do, on demand.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .errors import ConfigError, InputError, TrafficsimError
from .hardware import (DATAFLOWS, Hardware, INT64_MAX, hardware_changes, parse_array, parse_sram,
                       preset as get_preset, read_cfg, split_one_or_three)
from .topology import CsvFormat, Topology, read_csv

if TYPE_CHECKING:
    from torch import nn

__all__ = ["DEFAULT_INPUT_SHAPE", "import_torch", "parse_input_shape", "spec_kind", "describe_source", "resolve_topology", "user_model_topology",
           "user_model_name", "resolve_hardware", "apply_options", "parse_bandwidth", "parse_dataflow"]

#: The input (C, H, W) of ImageNet models, and of user models when no ``input_shape`` is given.
DEFAULT_INPUT_SHAPE: tuple[int, int, int] = (3, 224, 224)


#: How to get PyTorch without a multi-GB CUDA build (models and the converter need it; cached zoo
#: topologies, CSVs and every engine do not).
TORCH_INSTALL_HINT = ("pip install 'trafficsim[torch]' --extra-index-url https://download.pytorch.org/whl/cpu")


def import_torch(purpose: str):
    """``import torch``, or a one-line :class:`InputError` saying that ``purpose`` needs PyTorch and how to get it."""
    try:
        import torch
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise InputError(f"{purpose} needs PyTorch, which is not installed: {TORCH_INSTALL_HINT}") from None
    return torch


# ---------------------------------------------------------------------------------------------
# input shapes
# ---------------------------------------------------------------------------------------------
def parse_input_shape(text: str | Sequence[int]) -> tuple[int, int, int]:
    """``"3x224x224"`` (or ``"3,224,224"``, or a sequence of 3 ints) -> ``(3, 224, 224)``.

    Raises :class:`InputError` for anything that is not three positive integers of at most int64
    (an empty string too: it is not "the default").
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.strip().lower().replace(",", "x").replace("*", "x").split("x")]
        try:
            vals = tuple(int(p) for p in parts)
        except ValueError:
            raise InputError(f"input shape {text!r}: use CxHxW with positive integers, e.g. 3x224x224") from None
    else:
        try:
            vals = tuple(int(v) for v in text)
            if any(isinstance(v, bool) or int(v) != v for v in text):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"input shape {text!r}: use three positive integers (C, H, W)") from None
    if len(vals) != 3 or any(v <= 0 for v in vals):
        raise InputError(f"input shape {text!r}: use CxHxW with three positive integers, e.g. 3x224x224")
    if any(v > INT64_MAX for v in vals):
        raise InputError(f"input shape {text!r}: sizes must be at most {INT64_MAX:,} (int64)")
    return vals  # type: ignore[return-value]


def _shape_or_none(input_shape: str | Sequence[int] | None) -> tuple[int, int, int] | None:
    return None if input_shape is None else parse_input_shape(input_shape)


# ---------------------------------------------------------------------------------------------
# topologies
# ---------------------------------------------------------------------------------------------
def spec_kind(spec: str | os.PathLike) -> str:
    """What a model spec names: ``"user"`` (``file.py:attr``), ``"csv"``, ``"json"`` or ``"zoo"``.

    The one place that tells a CSV from a model name: a ``.csv`` suffix, or an existing file that is
    not ``.py``/``.json``.
    """
    text = os.fspath(spec)
    low = text.lower()
    if ".py:" in text or low.endswith(".py"):
        return "user"
    if low.endswith(".csv"):
        return "csv"
    if low.endswith(".json"):
        return "json"
    if isinstance(spec, os.PathLike) or os.sep in text or (os.altsep and os.altsep in text):
        return "csv"  # a path, not a name: read it (a missing file is reported as such)
    if Path(text).is_file():
        return "csv"
    return "zoo"


def describe_source(spec: "str | os.PathLike | Topology", input_shape: str | Sequence[int] | None = None
                    ) -> dict[str, Any]:
    """Where a topology came from, for run records: ``{"kind": zoo|csv|json|user|topology, "spec": ...}``
    with the absolute ``path`` of a file, and the ``input_shape`` asked for (None: the model's default)."""
    if isinstance(spec, Topology):
        return {"kind": "topology", "spec": spec.name}
    text = os.fspath(spec)
    kind = spec_kind(spec)
    doc: dict[str, Any] = {"kind": kind, "spec": text}
    if kind in ("csv", "json"):
        doc["path"] = str(Path(text).resolve())
    elif kind == "user":
        path_part, _, attr = text.rpartition(":")
        doc["path"] = str(Path(path_part).resolve())
        doc["attr"] = attr
    if input_shape is not None:
        doc["input_shape"] = list(parse_input_shape(input_shape))
    return doc


def resolve_topology(spec: "str | os.PathLike | Topology", input_shape: str | Sequence[int] | None = None,
                     fmt: CsvFormat | str | None = None, *, seq_len: int | None = None, phase: str | None = None,
                     context: int | None = None, batch: int | None = None,
                     precision: str | None = None) -> Topology:
    """A :class:`Topology` from a zoo model name, a SCALE-Sim CSV path, a topology JSON path,
    ``path/to/file.py:attr`` or a Topology (returned as it is).

    ``input_shape`` (CxHxW string or 3 ints) applies to models only; ``None`` is the model's default
    input (3x224x224 for ImageNet models, :data:`DEFAULT_INPUT_SHAPE` for user models). ``fmt``
    (``conv``/``gemm``) applies to CSVs only; ``None`` tells the format by the header.
    Raises a one-line :class:`~trafficsim.errors.TrafficsimError` for anything it cannot resolve.
    """
    if batch is not None or precision is not None:  # the workload, checked before any tracing
        from .workload import parse_precision, with_workload

        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
            raise InputError(f"--batch must be a positive integer, got {batch}")
        prec = parse_precision(precision) if precision is not None else None
        base = resolve_topology(spec, input_shape, fmt, seq_len=seq_len, phase=phase, context=context)
        return with_workload(base, batch=batch, precision=prec)
    sequence = {"seq_len": seq_len, "phase": phase, "context": context}
    if fmt is not None and fmt not in ("conv", "gemm"):
        raise InputError(f"--format {fmt!r}: choose conv or gemm")
    if isinstance(spec, Topology):
        if any(v is not None for v in sequence.values()):
            raise InputError("--seq, --phase and --context apply to token models, not to a Topology")
        if input_shape is not None or fmt is not None:
            raise InputError("input_shape and fmt apply to model names and files, not to a Topology")
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(f"model {spec!r} must be a zoo name, a topology CSV path, file.py:attr or a Topology, "
                         f"not a {type(spec).__name__}")
    text = os.fspath(spec)
    if not isinstance(text, str) or not text.strip():
        raise InputError("model is empty: give a zoo name (see 'trafficsim list'), a topology CSV or file.py:attr")
    if "\0" in text:
        raise InputError(f"model {text!r} contains a NUL byte")
    kind = spec_kind(spec)
    if kind in ("csv", "json"):
        if input_shape is not None:
            raise InputError("--input applies to models, not to a topology file (input_shape must be None)")
        if any(v is not None for v in sequence.values()):
            raise InputError("--seq, --phase and --context apply to token models, not to a topology file")
        if kind == "json":
            if fmt is not None:
                raise InputError("--format applies to CSV topologies only (fmt must be None)")
            return Topology.from_json(text)
        return read_csv(text, fmt)  # type: ignore[arg-type]
    if fmt is not None:
        raise InputError("--format applies to CSV topologies only (fmt must be None)")
    shape = _shape_or_none(input_shape)
    if kind == "user":
        return user_model_topology(text, shape, **sequence)
    from .zoo.cache import model_topology

    return model_topology(text, shape, **sequence)


def user_model_name(spec: str) -> str:
    """The name of a user model's topology and run folders: the file's stem and the attribute,
    ``nets/attn.py:model`` -> ``attn.model`` (two files' ``model`` must not share a run folder)."""
    from .convert import split_user_spec

    path, attr = split_user_spec(spec)
    return f"{path.stem}.{attr}"


def user_model_topology(spec: str, input_shape: str | Sequence[int] | None = None, *, seq_len: int | None = None,
                        phase: str | None = None, context: int | None = None) -> Topology:
    """The topology of a user model ``path/to/file.py:attr`` (an nn.Module instance, class or
    zero-argument factory), traced at ``input_shape`` (image models; default :data:`DEFAULT_INPUT_SHAPE`) or
    ``seq_len``/``phase``/``context`` (token models, see :func:`trafficsim.convert.to_topology`), and named
    :func:`user_model_name`. Every failure of the user's code is a one-line ``InputError``/``TopologyError``."""
    from .convert import load_user_model, to_topology

    module, _ = load_user_model(spec)
    name = user_model_name(spec)
    if seq_len is not None or phase is not None or context is not None or \
            getattr(module, "trafficsim_input", None) == "tokens":
        if input_shape is not None:
            raise InputError(f"{spec}: a token model takes --seq (and --phase/--context), not --input")
        return to_topology(module, name=name, seq_len=seq_len, phase=phase, context=context)
    shape = parse_input_shape(input_shape) if input_shape is not None else DEFAULT_INPUT_SHAPE
    return to_topology(module, shape, name=name)


# ---------------------------------------------------------------------------------------------
# hardware
# ---------------------------------------------------------------------------------------------
def parse_dataflow(value: Any) -> str:
    """``"os"``, ``"WS"``, ``" is "`` -> the dataflow code; anything else is an :class:`InputError`."""
    d = value.strip().lower() if isinstance(value, str) else value
    if d not in DATAFLOWS:
        raise InputError(f"unknown dataflow {value!r}: choose os, ws or is")
    return d


def parse_bandwidth(value: Any) -> dict[str, Any]:
    """SCALE-Sim's DRAM interface: ``"calc"`` -> CALC mode; ``N``, ``"N"`` or ``"I,F,O"`` (or 3 ints) ->
    USER mode with those words/cycle (IFMAP read, FILTER read, OFMAP drain). Returns Hardware fields."""
    if isinstance(value, str):
        t = value.strip()
        if t.lower() == "calc":
            return {"bandwidth_mode": "CALC"}
        vals = split_one_or_three(t.removeprefix("user:").removeprefix("USER:"))
    elif isinstance(value, int) and not isinstance(value, bool):
        vals = [value] * 3
    elif isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        vals = list(value)
    else:
        vals = None
    if vals is None or len(vals) != 3 or any(v <= 0 for v in vals):
        raise InputError(f"bandwidth {value!r}: use 'calc', N or I,F,O words/cycle (positive integers)")
    if any(v > INT64_MAX for v in vals):
        raise InputError(f"bandwidth {value!r}: words/cycle must be at most {INT64_MAX:,} (int64)")
    return {"bandwidth_mode": "USER", "ifmap_dram_bw": vals[0], "filter_dram_bw": vals[1], "bandwidth": vals[2]}


def apply_options(base: Hardware | None = None, *, array: Any = None, dataflow: Any = None, sram: Any = None,
                  bandwidth: Any = None, **fields: Any) -> Hardware:
    """``base`` (default: SCALE-Sim 3.0.0's scale.cfg) with the options that are not None applied.

    ``array`` is ``"RxC"`` or (rows, cols); ``dataflow`` os/ws/is; ``sram`` kB as ``"I"``, ``"I,F,O"``, an
    int or 3 ints; ``bandwidth`` as :func:`parse_bandwidth`; ``fields`` are further Hardware fields
    (``clock_mhz``, ``dram_<field>``...). The result is validated; every problem is a one-line
    :class:`InputError`. The one way options become hardware (CLI, sweeps, Python API).
    """
    hw = Hardware() if base is None else base
    if not isinstance(hw, Hardware):
        raise InputError(f"base hardware must be a Hardware, got {type(hw).__name__}")
    changes: dict[str, Any] = {}
    if array is not None:
        changes["array_rows"], changes["array_cols"] = parse_array(array)
    if dataflow is not None:
        changes["dataflow"] = parse_dataflow(dataflow)
    if sram is not None:
        changes["ifmap_sram_kb"], changes["filter_sram_kb"], changes["ofmap_sram_kb"] = parse_sram(sram)
    if bandwidth is not None:
        changes.update(parse_bandwidth(bandwidth))
    extra = {k: (parse_dataflow(v) if k == "dataflow" else v) for k, v in fields.items() if v is not None}
    try:  # dram_<field> keys (dram_bandwidth_gbs...) become one Hardware.dram; unknown keys are refused
        changes.update(hardware_changes(extra, hw.dram))
    except ConfigError as e:
        raise InputError(str(e)) from None
    if not changes:
        return hw
    try:
        return replace(hw, **changes)
    except ConfigError as e:
        raise InputError(str(e)) from None
    except TypeError as e:  # e.g. a list where a number belongs
        raise InputError(f"hardware: {e}") from None


def resolve_hardware(spec: "Hardware | str | os.PathLike | None" = None) -> Hardware:
    """A :class:`Hardware` from a Hardware (returned as it is), None (SCALE-Sim's scale.cfg), a preset
    name (``scalesim``, ``arm-scale``, ``eyeriss``, ``tpu``), a SCALE-Sim ``.cfg`` path, or an array
    ``"RxC"`` (SCALE-Sim's defaults otherwise)."""
    if spec is None:
        return Hardware()
    if isinstance(spec, Hardware):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(f"hardware {spec!r} must be a Hardware, a preset name, a .cfg path or an array RxC, "
                         f"not a {type(spec).__name__}")
    text = os.fspath(spec)
    if isinstance(spec, os.PathLike) or text.lower().endswith(".cfg"):
        return read_cfg(text)
    try:
        return get_preset(text)
    except TrafficsimError:
        pass
    try:
        return apply_options(array=text)
    except InputError:
        raise InputError(f"hardware {text!r} is not a preset (scalesim, arm-scale, eyeriss, tpu), a .cfg path "
                         "or an array RxC") from None
