"""Options shared by the commands that simulate (``run``, ``validate``): how a model or CSV
argument becomes a :class:`~trafficsim.topology.Topology` and how hardware options become a
:class:`~trafficsim.hardware.Hardware`."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ..hardware import (Hardware, hardware_changes, parse_array, parse_sram, preset as get_preset, read_cfg,
                        split_one_or_three)
from ..topology import Topology, read_csv

ModelArg = Annotated[str, typer.Argument(
    help="A zoo model name (see 'trafficsim list'), a SCALE-Sim topology CSV (conv or GEMM format), "
         "or path/to/file.py:attr for your own nn.Module.", metavar="MODEL|CSV")]
ArrayOpt = Annotated[Optional[str], typer.Option("--array", "-a", help="Systolic array rows x columns, e.g. 32x32.",
                                                  rich_help_panel="Hardware")]
DataflowOpt = Annotated[Optional[str], typer.Option("--dataflow", "-d", help="os, ws or is.", rich_help_panel="Hardware")]
SramOpt = Annotated[Optional[str], typer.Option(
    "--sram", help="SRAM kB: one size for all three buffers, or IFMAP,FILTER,OFMAP (e.g. 512,512,256).",
    rich_help_panel="Hardware")]
PresetOpt = Annotated[Optional[str], typer.Option(
    "--preset", help="Start from a preset: scalesim (default: SCALE-Sim 3.0.0's scale.cfg), arm-scale, eyeriss "
                     "(ARM SCALE-Sim's eyeriss.cfg), eyeriss-chip (the measured chip: 108 kB buffer, 0.48 GB/s link), tpu.",
    rich_help_panel="Hardware")]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", "-c", help="Start from a SCALE-Sim .cfg file (3.0.0 or v2).", rich_help_panel="Hardware")]
BandwidthOpt = Annotated[Optional[str], typer.Option(
    "--bandwidth", help="DRAM interface of the SCALE-Sim model: 'calc' (SCALE-Sim's default: never stalls), or USER "
                        "mode with N words/cycle for all operands, or I,F,O (IFMAP read, FILTER read, OFMAP drain).",
    rich_help_panel="Hardware")]
InputOpt = Annotated[Optional[str], typer.Option(
    "--input", "-i", help="Input shape CxHxW for zoo/user models (default 3x224x224).", metavar="CxHxW")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Fail if the model calls an op the converter cannot model (matmul between activations, "
                     "attention, conv1d, embeddings...) instead of warning and leaving its work out.")]
SeqOpt = Annotated[Optional[int], typer.Option(
    "--seq", help="Token models: tokens per sequence (encoders; the prefill phase of decoders). Default: the "
                  "model's (bert_base 128, gpt2 1024, llama3* 2048).", rich_help_panel="Workload", min=None)]
PhaseOpt = Annotated[Optional[str], typer.Option(
    "--phase", help="Decoders: prefill (--seq tokens on an empty KV cache, the default) or decode (one token "
                    "on a KV cache of --context tokens).", rich_help_panel="Workload")]
ContextOpt = Annotated[Optional[int], typer.Option(
    "--context", help="Decoders, decode phase: tokens already in the KV cache (read every step; the step "
                      "appends one). Implies --phase decode.", rich_help_panel="Workload")]
BatchOpt = Annotated[Optional[int], typer.Option(
    "--batch", help="Images or sequences per step (default 1). Weight GEMMs stack the batch's tokens "
                    "(weights read once); other layers run once per image or sequence.", rich_help_panel="Workload")]
PrecisionOpt = Annotated[Optional[str], typer.Option(
    "--precision", help="Bytes per tensor class: int8 (SCALE-Sim's 1 byte), int4, fp8, bf16, fp16, fp32, or mixed "
                        "like w8a16, w4a16kv8, w8a8p32 (weights, activations, KV cache, partial sums). The compat "
                        "engine keeps SCALE-Sim's 1-byte words.", rich_help_panel="Workload")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="Format of a CSV argument: conv or gemm (default: told by its header).")]


def resolve_hardware(preset: str | None = None, config: Path | None = None, array: str | None = None,
                     dataflow: str | None = None, sram: str | None = None, bandwidth: str | None = None,
                     **extra) -> Hardware:
    """Hardware from a preset or .cfg (default: SCALE-Sim's scale.cfg), then the explicit options.

    ``extra`` are further Hardware fields (e.g. ``word_bytes``, ``clock_mhz``, ``dram_bandwidth_gbs``) applied
    when not None.
    """
    if preset and config:
        raise InputError("give either --preset or --config, not both")
    hw = read_cfg(config) if config else get_preset(preset) if preset else Hardware()
    changes: dict = {}
    if array is not None:
        changes["array_rows"], changes["array_cols"] = parse_array(array)
    if dataflow is not None:
        d = dataflow.strip().lower()
        if d not in ("os", "ws", "is"):
            raise InputError(f"unknown dataflow {dataflow!r}: choose os, ws or is")
        changes["dataflow"] = d
    if sram is not None:
        changes["ifmap_sram_kb"], changes["filter_sram_kb"], changes["ofmap_sram_kb"] = parse_sram(sram)
    if bandwidth is not None:
        changes.update(parse_bandwidth(bandwidth))
    # dram_<field> extras (e.g. dram_bandwidth_gbs) change Hardware.dram
    changes.update(hardware_changes({k: v for k, v in extra.items() if v is not None}, hw.dram))
    return replace(hw, **changes) if changes else hw


def parse_bandwidth(text: str) -> dict:
    """``calc`` -> CALC mode; ``N`` or ``I,F,O`` -> USER mode with those words/cycle."""
    t = text.strip()
    if t.lower() == "calc":
        return {"bandwidth_mode": "CALC"}
    vals = split_one_or_three(t.removeprefix("user:").removeprefix("USER:"))
    if vals is None or len(vals) != 3 or any(v <= 0 for v in vals):
        raise InputError(f"--bandwidth {text!r}: use 'calc', N or I,F,O words/cycle (positive integers)")
    return {"bandwidth_mode": "USER", "ifmap_dram_bw": vals[0], "filter_dram_bw": vals[1], "bandwidth": vals[2]}


def is_csv_spec(spec: str) -> bool:
    return spec.lower().endswith(".csv")


def resolve_topology(spec: str, input_shape: str | None = None, fmt: str | None = None, *,
                     seq_len: int | None = None, phase: str | None = None, context: int | None = None,
                     batch: int | None = None, precision: str | None = None) -> Topology:
    """A topology from a zoo model name, a SCALE-Sim CSV path or ``file.py:attr``; token models take
    ``seq_len`` and decoders ``phase``/``context`` instead of an input shape; ``batch`` and
    ``precision`` set the workload (:func:`trafficsim.workload.with_workload`)."""
    from ..workload import parse_precision, with_workload

    if batch is not None or precision is not None:  # checked before any tracing
        if batch is not None and batch < 1:
            raise InputError(f"--batch must be a positive integer, got {batch}")
        prec = parse_precision(precision) if precision is not None else None
        base = resolve_topology(spec, input_shape, fmt, seq_len=seq_len, phase=phase, context=context)
        return with_workload(base, batch=batch, precision=prec)
    if fmt is not None and fmt not in ("conv", "gemm"):
        raise InputError(f"--format {fmt!r}: choose conv or gemm")
    sequence = {"seq_len": seq_len, "phase": phase, "context": context}
    if is_csv_spec(spec) or (Path(spec).is_file() and not spec.endswith(".py") and ".py:" not in spec):
        if input_shape is not None:
            raise InputError("--input applies to models, not to a topology CSV")
        if any(v is not None for v in sequence.values()):
            raise InputError("--seq, --phase and --context apply to token models, not to a topology CSV")
        return read_csv(spec, fmt)  # type: ignore[arg-type]
    if fmt is not None:
        raise InputError("--format applies to CSV topologies only")
    from ..convert import parse_input_shape

    shape = parse_input_shape(input_shape) if input_shape else None  # None: the model's default input
    if ".py:" in spec or spec.endswith(".py"):
        from ..zoo.cache import user_model_topology

        return user_model_topology(spec, shape, **sequence)  # type: ignore[arg-type]
    from ..zoo.cache import model_topology

    return model_topology(spec, shape, **sequence)  # type: ignore[arg-type]
