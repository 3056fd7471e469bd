"""Options shared by the commands that simulate (``run``, ``validate``). A model or CSV argument
becomes a :class:`~trafficsim.topology.Topology`, and hardware options a
:class:`~trafficsim.hardware.Hardware`, in :mod:`trafficsim.inputs` (the one input layer)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import InputError
from ..hardware import Hardware, preset as get_preset, read_cfg
from ..inputs import DEFAULT_INPUT_SHAPE, apply_options, resolve_topology  # noqa: F401 (the commands' imports)

ModelArg = Annotated[str, typer.Argument(
    help="A zoo model name (see 'trafficsim list'), a SCALE-Sim topology CSV (conv or GEMM format), "
         "or path/to/file.py:attr for your own nn.Module.", metavar="MODEL|CSV")]
_D = Hardware()  # the defaults shown in --help: SCALE-Sim 3.0.0's scale.cfg
ArrayOpt = Annotated[Optional[str], typer.Option(
    "--array", "-a", help=f"Systolic array rows x columns, e.g. 16x16. [default: {_D.array}]", rich_help_panel="Hardware")]
DataflowOpt = Annotated[Optional[str], typer.Option(
    "--dataflow", "-d", help=f"os, ws or is (output, weight or input stationary). [default: {_D.dataflow}]",
    rich_help_panel="Hardware")]
SramOpt = Annotated[Optional[str], typer.Option(
    "--sram", help="SRAM kB: one size for all three buffers, or IFMAP,FILTER,OFMAP (e.g. 512,512,256). "
                   f"[default: {_D.ifmap_sram_kb},{_D.filter_sram_kb},{_D.ofmap_sram_kb}]",
    rich_help_panel="Hardware")]
PresetOpt = Annotated[Optional[str], typer.Option(
    "--preset", help="Start from a preset: scalesim (SCALE-Sim 3.0.0's scale.cfg: 32x32 ws, 64 kB each, CALC), "
                     "arm-scale, eyeriss (ARM SCALE-Sim's eyeriss.cfg), eyeriss-chip (the measured chip: 108 kB "
                     "buffer, 0.48 GB/s link), tpu. [default: scalesim]",
    rich_help_panel="Hardware")]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", "-c", help="Start from a SCALE-Sim .cfg file (3.0.0 or v2).", rich_help_panel="Hardware")]
BandwidthOpt = Annotated[Optional[str], typer.Option(
    "--bandwidth", help="DRAM interface of the SCALE-Sim model: 'calc' (SCALE-Sim's default: never stalls), or USER "
                        "mode with N words/cycle for all operands, or I,F,O (IFMAP read, FILTER read, OFMAP drain); "
                        f"SCALE-Sim needs I and F divisible by its {_D.ifmap_bank_num} SRAM banks. [default: calc]",
    rich_help_panel="Hardware")]
InputOpt = Annotated[Optional[str], typer.Option(
    "--input", "-i", help="Input shape CxHxW for zoo/user models (default: the model's own, "
                        f"{'x'.join(map(str, DEFAULT_INPUT_SHAPE))} for ImageNet and user models).", metavar="CxHxW")]
StrictOpt = Annotated[bool, typer.Option(
    "--strict", help="Fail if the model calls an op the converter cannot model (conv1d, conv3d, a "
                     "three-operand einsum...) instead of warning and leaving its work out.")]
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


def check_output_dir(path: Path) -> None:
    """Refuse, before any simulation, an output folder that cannot be created or written: an existing
    file (``-o results.csv``), a path under a file (``-o file/sub``), a device (``-o /dev/null``), a
    read-only place. One-line :class:`~trafficsim.errors.OutputError`; nothing is created here."""
    import os
    import stat

    from ..errors import OutputError

    probe = Path(path)
    while True:
        try:
            st = os.stat(probe)
            break
        except (FileNotFoundError, NotADirectoryError):
            if probe.parent == probe:
                return
            probe = probe.parent
        except OSError as e:
            raise OutputError(f"{probe}: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        what = "exists and is not a folder" if probe == Path(path) else f"is a file, not a folder (needed for {path})"
        raise OutputError(f"{probe}: {what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{probe}: folder not writable")
    try:
        st = os.statvfs(probe)
    except OSError:
        return
    if st.f_flag & os.ST_RDONLY:
        raise OutputError(f"{probe}: read-only file system")


def write_guarded(write, *args, **kwargs):
    """Call a writer; any OSError it lets through becomes one-line :class:`~trafficsim.errors.OutputError`
    (``"<path>: <reason>"``), so a full disk or a vanished folder is never a traceback."""
    from ..errors import OutputError, TrafficsimError

    try:
        return write(*args, **kwargs)
    except TrafficsimError:
        raise
    except OSError as e:
        where = e.filename or (args[-1] if args else "output")
        raise OutputError(f"{where}: {' '.join((e.strerror or str(e)).split()).lower()}") from None


def resolve_hardware(preset: str | None = None, config: Path | None = None, array: str | None = None,
                     dataflow: str | None = None, sram: str | None = None, bandwidth: str | None = None,
                     **extra) -> Hardware:
    """Hardware from a preset or .cfg (default: SCALE-Sim's scale.cfg), then the explicit options
    (:func:`trafficsim.inputs.apply_options`; ``extra`` are further Hardware fields, applied when not None)."""
    if preset and config:
        raise InputError("give either --preset or --config, not both")
    base = read_cfg(config) if config else get_preset(preset) if preset else Hardware()
    return apply_options(base, array=array, dataflow=dataflow, sram=sram, bandwidth=bandwidth, **extra)
