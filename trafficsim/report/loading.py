"""Run folders -> two tidy pandas tables (one row per run, one per layer), with every damaged input skipped
with one warning line instead of a traceback.

:func:`load` reads a directory of run folders (docs/run-folders.md); :func:`from_frame` takes tables already in
memory (a :func:`trafficsim.sweep` DataFrame). Both check what the figures rely on, run by run: the hardware
fields, the totals, and each run's ``layers.csv`` (numeric columns, per-layer DRAM words adding up to the total).
A run that fails is left out with a message in :attr:`ReportData.warnings` (also issued with
:func:`warnings.warn`); a layer table that fails costs only that run's per-layer lines.
"""
from __future__ import annotations

import fnmatch
import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import InputError, ResultsError
from .style import network_colors

if TYPE_CHECKING:  # heavy imports stay lazy
    import pandas as pd

# totals every figure needs, and the operand columns stacked in the traffic figure
REQUIRED_TOTALS: tuple[str, ...] = ("total_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
                                    "dram_words", "dram_bytes")
OPERANDS: tuple[tuple[str, str], ...] = (("dram_ifmap_reads", "IFMAP reads"), ("dram_filter_reads", "FILTER reads"),
                                         ("dram_ofmap_writes", "OFMAP writes"))
# hardware fields that name a configuration: positive whole numbers
HARDWARE_INTS: tuple[str, ...] = ("array_rows", "array_cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")
# files that make a folder look like a run folder (used to spot runs whose summary.json is missing)
_RUN_FILES: tuple[str, ...] = ("layers.csv", "hardware.cfg", "COMPUTE_REPORT.csv", "topology.csv")
# model kinds by engine family (trafficsim.engines registry): SCALE-Sim 3.0.0's numbers (identical by
# design across the family's engines) vs the capacity-aware model; other families are their own kind
_FAMILY_KIND = {"scalesim": "compatible", "capacity": "capacity"}
DEFAULT_INPUT = "3x224x224"
_MAX_LAYERS_CSV_BYTES = 256 * 2**20
# batch, sequence length and context above this are damage, read as not given (they would overflow int64 columns)
_MAX_WORKLOAD_COUNT = 2**40
# array sides and SRAM sizes above this are damage (their products would overflow int64 columns silently)
_MAX_HARDWARE_INT = 2**31


@dataclass
class ReportData:
    """Runs loaded from a directory: ``runs`` (one row per run), ``layers`` (one row per layer), and the
    warnings about folders that were skipped."""

    directory: Path
    runs: "pd.DataFrame"
    layers: "pd.DataFrame"
    warnings: list[str] = field(default_factory=list)

    @property
    def networks(self) -> list[str]:
        """Network names (the model, plus the input shape for models run at several shapes), sorted."""
        return sorted(self.runs["network"].unique()) if len(self.runs) else []

    def colors(self) -> dict[str, str]:
        """One colour per network, the same in every figure."""
        return network_colors(self.networks)


# ---------------------------------------------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------------------------------------------
# A run's identity splits into: the network (model, input shape, workload: what is computed), the hardware (array,
# dataflow, SRAM, words, clock), the memory behind it (Hardware.dram: the ideal pipe or a DRAM standard and its
# overrides), the engine's options and the SCALE-Sim fixes it was run with. Labels keep them apart: the network
# names the workload ("gpt2 (decode @4096, batch 8)"), the hardware label names the memory when the report has
# more than one ("32×32 WS, SRAM 64/64/64 kB, DDR4-3200").
def _cell(row: Any, key: str, default: Any = None) -> Any:
    """``row[key]`` from a dict or a pandas row, with None/NaN/missing as ``default``."""
    try:
        v = row.get(key, default)
    except AttributeError:
        return default
    if v is None or (isinstance(v, float) and v != v):
        return default
    return v


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 1) \
        or (isinstance(v, str) and v.strip().lower() in ("true", "1", "yes"))


def _float_or(v: Any, default: float) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    """Default hardware clock and DRAM fields (``dram_<field>``, as in :meth:`Hardware.to_dict`)."""
    from dataclasses import fields

    from ..dram.config import DramConfig
    from ..hardware import Hardware

    out = {f"dram_{f.name}": f.default for f in fields(DramConfig)}
    out["clock_mhz"] = next(f.default for f in fields(Hardware) if f.name == "clock_mhz")
    return out


def is_ideal_memory(row: Any) -> bool:
    """True when the run's memory is the ideal pipe (``dram_standard`` "ideal", or absent: older runs)."""
    return str(_cell(row, "dram_standard", "ideal")).strip().lower() == "ideal"


def _dram_label(row: Any) -> str:
    """:meth:`trafficsim.dram.DramConfig.label` from a runs row: ``ideal-12.8GBs``, ``ddr4-3200``, ``ddr4-3200x2``."""
    d = _defaults()
    if is_ideal_memory(row):
        return f"ideal-{_float_or(_cell(row, 'dram_bandwidth_gbs'), d['dram_bandwidth_gbs']):g}GBs"
    std, org = str(_cell(row, "dram_standard")).strip(), _cell(row, "dram_org")
    s = std if org is None else f"{std}-{org}"
    for key, mark in (("dram_channels", "x"), ("dram_ranks", "r")):
        n = _float_or(_cell(row, key), 1)
        if n != 1:
            s += f"{mark}{n:g}"
    return s


def _memory_overrides(row: Any) -> list[tuple[str, str]]:
    """(compact, readable) for each DRAM-standard field beyond the standard's name that differs from its default."""
    d = _defaults()
    out = []
    for key, short, text in (("dram_mapping", "{}", "{} mapping"), ("dram_page_policy", "{}", "{} page")):
        v = _cell(row, key, d[key])
        if str(v) != str(d[key]):
            out.append((short.format(v), text.format(v)))
    if _truthy(_cell(row, "dram_xor_bank", False)):
        out.append(("xor", "XOR bank hashing"))
    rq, wq = (_float_or(_cell(row, k), d[k]) for k in ("dram_read_queue", "dram_write_queue"))
    if (rq, wq) != (d["dram_read_queue"], d["dram_write_queue"]):
        out.append((f"q{rq:g}.{wq:g}", f"queues {rq:g}/{wq:g}"))
    if not _truthy(_cell(row, "dram_refresh", True)):
        out.append(("norefresh", "no refresh"))
    timings = str(_cell(row, "dram_timings", "") or "")
    if timings:
        out.append((timings.replace(",", "."), f"timings {timings}"))
    return out


def memory_key(row: Any) -> str:
    """The compact key of a run's memory: "" for the default (the 12.8 GB/s ideal pipe), ``ideal25.6GBs``,
    ``ddr4-3200``, ``ddr4-3200x2-ChRaBaRoCo-closed``..."""
    d = _defaults()
    if is_ideal_memory(row):
        bw = _float_or(_cell(row, "dram_bandwidth_gbs"), d["dram_bandwidth_gbs"])
        return "" if bw == d["dram_bandwidth_gbs"] else f"ideal{bw:g}GBs"
    return "-".join([_dram_label(row)] + [short for short, _ in _memory_overrides(row)])


def _standard_name(std: str) -> str:
    """``ddr4-3200`` -> ``DDR4-3200``; Ramulator speed bins (``DDR4_2400R``) as they are."""
    return std.upper() if re.fullmatch(r"[a-z0-9.-]+", std) else std


def memory_text(row: Any) -> str:
    """The readable name of a run's memory: ``ideal DRAM 12.8 GB/s``, ``DDR4-3200``, ``LPDDR4-3200, 2 channels, closed page``; a DRAM standard that the
    run's engine did not model (its totals have no DRAM-model counts) says so."""
    d = _defaults()
    engine = str(_cell(row, "engine", "") or "")
    if is_ideal_memory(row):  # (SCALE-Sim's engines do not use the bandwidth: the label names the hardware)
        return f"ideal DRAM {_float_or(_cell(row, 'dram_bandwidth_gbs'), d['dram_bandwidth_gbs']):g} GB/s"
    std, org = str(_cell(row, "dram_standard")).strip(), _cell(row, "dram_org")
    parts = [_standard_name(std) + (f" {org}" if org is not None else "")]
    for key, what in (("dram_channels", "channel"), ("dram_ranks", "rank")):
        n = _float_or(_cell(row, key), 1)
        if n != 1:
            parts.append(f"{n:g} {what}s")
    parts += [text for _, text in _memory_overrides(row)]
    text = ", ".join(parts)
    if _cell(row, "row_hits") is None and _cell(row, "dram_moved_bytes") is None:
        text += f" (not modelled by {engine or 'the engine'})"
    return text


def _clock(row: Any) -> float:
    return _float_or(_cell(row, "clock_mhz"), _defaults()["clock_mhz"])


def hardware_base_label(row: Any) -> str:
    """The compact key of the array side of a configuration, without memory, engine options or fixes:
    ``32x32-ws-64.64.64kB`` (plus ``-user``, ``-2B``, ``-800MHz``)."""
    label = (f"{int(row['array_rows'])}x{int(row['array_cols'])}-{row['dataflow']}-"
             f"{int(row['ifmap_sram_kb'])}.{int(row['filter_sram_kb'])}.{int(row['ofmap_sram_kb'])}kB")
    if _cell(row, "bandwidth_mode") == "USER":
        label += "-user"
    wb = _float_or(_cell(row, "word_bytes", 1), 1)
    if wb != 1:
        label += f"-{wb:g}B"
    clock = _clock(row)
    if clock != _defaults()["clock_mhz"]:
        label += f"-{clock:g}MHz"
    return label


def hardware_label(row: Any) -> str:
    """The compact key of a hardware configuration, ``32x32-ws-64.64.64kB`` (plus ``-user`` for USER bandwidth,
    ``-2B`` for 2-byte words, ``-800MHz`` for another clock, the memory when it is not the default ideal pipe
    such as ``-ddr4-3200``, the engine's option tags such as ``-fused``, and ``-fix.<names>`` for SCALE-Sim
    fixes) from a runs row."""
    label = hardware_base_label(row)
    mem = memory_key(row)
    if mem:
        label += "-" + mem
    options = _cell(row, "options", "")
    if isinstance(options, str) and options:
        label += "-" + options.replace(" ", "-")
    fixes = _cell(row, "fixes", "")
    if isinstance(fixes, str) and fixes:
        label += "-fix." + fixes.replace(",", ".").replace(" ", "")
    return label


def hardware_text(row: Any, show_memory: bool | None = None) -> str:
    """The readable label of a hardware configuration for ticks and legends:
    ``32×32 WS, SRAM 64/64/64 kB`` (plus ``USER bandwidth 10/10/10``, ``2-byte words``, the clock when it is not
    the default, the memory, engine options and SCALE-Sim fixes). The memory is named when ``show_memory`` is
    True, or (None) when it is not the default ideal pipe."""
    parts = [f"{int(row['array_rows'])}×{int(row['array_cols'])} {str(row['dataflow']).upper()}",
             f"SRAM {int(row['ifmap_sram_kb'])}/{int(row['filter_sram_kb'])}/{int(row['ofmap_sram_kb'])} kB"]
    if _cell(row, "bandwidth_mode") == "USER":
        bw = [_cell(row, k) for k in ("ifmap_dram_bw", "filter_dram_bw", "bandwidth")]
        parts.append("USER bandwidth " + "/".join(_int_text(v) for v in bw))
    wb = _float_or(_cell(row, "word_bytes", 1), 1)
    if wb != 1:
        parts.append(f"{wb:g}-byte words")
    clock = _clock(row)
    if clock != _defaults()["clock_mhz"]:
        parts.append(f"{clock:g} MHz")
    if show_memory or (show_memory is None and memory_key(row)):
        parts.append(memory_text(row))
    options = _cell(row, "options", "")
    if isinstance(options, str) and options:
        parts.append(options)
    fixes = _cell(row, "fixes", "")
    if isinstance(fixes, str) and fixes:
        parts.append(f"SCALE-Sim fixes: {fixes}")
    return ", ".join(parts)


def _int_text(v: Any) -> str:
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return "?"


def _family(engine: str) -> str:
    from ..engines import family_of

    try:
        return family_of(engine)
    except Exception:  # noqa: BLE001 - an engine this installation does not know is its own family
        return engine


def _model_kind(engine: str, fixes: str = "") -> str:
    """What kind of numbers a run holds: ``compatible`` (SCALE-Sim 3.0.0's), ``fixed`` (SCALE-Sim's model with
    bug fixes: not SCALE-Sim's numbers), ``capacity``, or the engine family's name."""
    kind = _FAMILY_KIND.get(_family(engine), _family(engine))
    if fixes:
        return "fixed" if kind == "compatible" else f"{kind} (fixed)"
    return kind


# workload (Topology.workload_tags and summary.json "workload"): what the network computes per step
_PRECISION_NAMES = {0.5: "int4", 1.0: "int8", 2.0: "16bit", 4.0: "32bit"}


def _precision_label(p: Any, word_bytes: float) -> str:
    """``int8``, ``w8a16``... from a summary's precision (a dict of bytes per class, a label, or None: uniform
    ``word_bytes``)."""
    if isinstance(p, dict):
        try:
            from ..workload import Precision

            return Precision.from_dict(p).label
        except Exception:  # noqa: BLE001 - a damaged precision is shown as recorded
            return "/".join(f"{k}={v}" for k, v in sorted(p.items()))
    if p is None or (isinstance(p, float) and p != p) or p == "":
        return _PRECISION_NAMES.get(float(word_bytes), f"{word_bytes * 8:g}bit")
    label = getattr(p, "label", None)
    return str(label if label is not None else p)


def _workload_parts(row: Any) -> dict[str, str]:
    """The workload of a run as readable parts: ``step`` (``seq 128``, ``prefill 2048``, ``decode @4096``),
    ``batch`` (``batch 8``) and ``precision`` (``int8``, ``w8a16``); plus ``*_set``: whether each was given."""
    phase, seq, ctx = (_cell(row, k) for k in ("phase", "seq_len", "context"))
    step = ""
    if phase == "decode":
        step = f"decode @{_int_text(ctx)}"
    elif phase == "prefill":
        step = f"prefill {_int_text(seq)}"
    elif seq is not None:
        step = f"seq {_int_text(seq)}"
    batch = _float_or(_cell(row, "batch", 1), 1)
    precision = _cell(row, "precision")
    return {"step": step, "batch": f"batch {batch:g}", "batch_set": "1" if batch != 1 else "",
            "precision": _precision_label(precision, _float_or(_cell(row, "word_bytes", 1), 1)),
            "precision_set": "1" if precision not in (None, "") else ""}


def workload_text(row: Any) -> str:
    """The workload that differs from a plain batch-1 run: ``decode @4096, batch 8, w8a16`` ("" for none)."""
    w = _workload_parts(row)
    return ", ".join(p for p in (w["step"], w["batch"] if w["batch_set"] else "",
                                 w["precision"] if w["precision_set"] else "") if p)


def _option_tags(row: dict[str, Any]) -> str:
    """The engine's option tags of a run (``fused``, ``resident``, ``nhwc``...), read back from its run id: what
    follows ``<model>-<RxC>-<df>-<I>.<F>.<O>kB-<engine>`` other than what the other labels already say (USER
    bandwidths, word size, input shape, the memory and clock, the workload, SCALE-Sim fixes)."""
    from ..runs import _safe_run_id, source_label

    rid = str(row.get("run_id") or "")
    model = source_label(row["source"]) if isinstance(row.get("source"), str) and row["source"] else row["model"]
    prefix = _safe_run_id("-".join([str(model), f"{row['array_rows']}x{row['array_cols']}", str(row["dataflow"]),
                                    f"{row['ifmap_sram_kb']}.{row['filter_sram_kb']}.{row['ofmap_sram_kb']}kB",
                                    str(row["engine"])]))
    if not rid.startswith(prefix + "-"):
        return ""
    rest = f"-{rid[len(prefix) + 1:]}-"
    # tags known from the summary, removed whole (a DRAM standard's name holds a '-'): the memory and clock as
    # the capacity engine writes them, and the workload (Topology.workload_tags)
    d = _defaults()
    clock = _clock(row)
    known = {f"{_dram_label(row)}.{clock:g}MHz", f"{_dram_run_tag(row)}.{clock:g}MHz",
             f"{_float_or(_cell(row, 'dram_bandwidth_gbs'), d['dram_bandwidth_gbs']):g}GBs.{clock:g}MHz",
             "layerprec"}
    phase, seq, ctx, batch = (_cell(row, k) for k in ("phase", "seq_len", "context", "batch"))
    known |= {f"decode{ctx}", f"prefill{seq}", f"seq{seq}", f"b{batch}"}
    if _cell(row, "precision") is not None:
        known.add(_workload_parts(row)["precision"])
    known |= _fix_tags(_cell(row, "fixes", ""))
    for tag in sorted((_safe_run_id(t) for t in known), key=len, reverse=True):
        while f"-{tag}-" in rest:
            rest = rest.replace(f"-{tag}-", "-", 1)
    tags = [t for t in rest.strip("-").split("-")
            if t and not t.startswith("user") and not re.fullmatch(r"\d+B", t) and not re.fullmatch(r"\d+x\d+x\d+", t)]
    return " ".join(tags)


def _dram_run_tag(row: Any) -> str:
    """:meth:`trafficsim.dram.DramConfig.run_tag` of a runs row (the DRAM and its non-default settings, as run ids
    name them); the label when the row's DRAM fields do not make a DramConfig."""
    from dataclasses import fields

    from ..dram.config import DramConfig

    given = {f.name: _cell(row, f"dram_{f.name}") for f in fields(DramConfig)}
    try:
        return DramConfig(**{k: v for k, v in given.items() if v is not None}).run_tag()
    except Exception:  # noqa: BLE001 - damaged fields: the compact label is the best guess
        return _dram_label(row)


def _fix_tags(fixes: Any) -> set[str]:
    """The run-id tags a run made with SCALE-Sim ``fixes`` may carry (the compat engine's ``fix-all`` and
    ``fix-<name>.<name>`` in its canonical order, and spellings such as ``fix.<name>.<name>``): the labels name
    the fixes themselves."""
    names = _split_names(fixes) if isinstance(fixes, str) else []
    if not names:
        return set()
    orders = [names, sorted(names)]
    try:
        from ..engines.compat_fixes import FIX_NAMES  # the canonical order of the compat engine's tag
    except ImportError:  # an installation without --fix
        pass
    else:
        orders.append([n for n in FIX_NAMES if n in names])
    out = {f"fix{sep}all" for sep in ("-", ".", "_", "")}
    for order in orders:
        for head in ("-", ".", "_"):
            for sep in (".", "-", "_", "+", ","):
                out.add(f"fix{head}" + sep.join(order))
    return out


# ---------------------------------------------------------------------------------------------------------------
# reading and checking run folders
# ---------------------------------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_summary(s: dict[str, Any]) -> str | None:
    """Why a summary cannot be plotted (one line), or None."""
    model = s.get("model")
    if not isinstance(model, str) or not model:
        return "summary.json has no model name"
    hw = s.get("hardware")
    if not isinstance(hw, dict):
        return "summary.json has no hardware section"
    for k in HARDWARE_INTS:
        v = hw.get(k)
        if v is None:
            return f"summary.json lacks hardware.{k}"
        if not _is_number(v) or v <= 0 or v != int(v) or v > _MAX_HARDWARE_INT:
            return f"summary.json: hardware.{k} is {v!r}, not a positive whole number up to 2^31"
    if not isinstance(hw.get("dataflow"), str) or not hw["dataflow"]:
        return "summary.json lacks hardware.dataflow"
    wb = hw.get("word_bytes", 1)  # summaries written before element sizes moved to the workload's precision
    if not _is_number(wb) or wb <= 0 or wb != int(wb) or wb > _MAX_HARDWARE_INT:
        return f"summary.json: hardware.word_bytes is {wb!r}, not a positive whole number"
    totals = s.get("totals")
    if not isinstance(totals, dict) or not totals:
        return "summary.json has no totals"
    missing = [k for k in REQUIRED_TOTALS if k not in totals]
    if missing:
        return f"summary.json lacks totals ({', '.join(missing)})"
    for k in REQUIRED_TOTALS:
        v = totals[k]
        if not _is_number(v) or v < 0:
            return f"summary.json: totals.{k} is {v!r}, not a count"
    engine = s.get("engine", "")
    if not isinstance(engine, str):
        return f"summary.json: engine is {engine!r}, not a name"
    return None


def _run_row(folder: Path, s: dict[str, Any]) -> dict[str, Any]:
    shape = s.get("input_shape")
    row: dict[str, Any] = {
        "run_id": str(s.get("run_id") or folder.name), "model": s["model"], "engine": s.get("engine") or "",
        "source": s.get("source") if isinstance(s.get("source"), str) else None,
        "path": str(folder),
        "input_shape": "x".join(map(str, shape)) if isinstance(shape, list) and shape else "",
    }
    hw = s["hardware"]
    row.update({k: v for k, v in hw.items() if not isinstance(v, (dict, list))})
    for k in HARDWARE_INTS:
        row[k] = int(hw[k])
    row["word_bytes"] = int(hw.get("word_bytes", 1))
    row["array"] = f"{row['array_rows']}x{row['array_cols']}"
    row.update({k: v for k, v in s["totals"].items() if _is_number(v) or isinstance(v, str)})
    metrics = s.get("metrics")
    if isinstance(metrics, dict):
        for key in ("cio", "macs"):
            if _is_number(metrics.get(key)) and key not in row:
                row[key] = metrics[key]
    row.update(_workload_fields(s.get("workload")))
    split = s.get("traffic_split_bytes")  # DRAM bytes by tensor class (summaries since issue 14)
    if isinstance(split, dict):
        for cls, v in split.items():
            if isinstance(cls, str) and re.fullmatch(r"[a-z_]+", cls) and _is_number(v) and v >= 0:
                row[f"traffic_{cls}_bytes"] = v
    meta = s.get("meta") if isinstance(s.get("meta"), dict) else {}
    row["fixes"] = _fixes_text(meta.get("fixes"))
    dram = meta.get("dram")
    if isinstance(dram, dict) and _is_number(dram.get("peak_bandwidth_gbs")) and "peak_bandwidth_gbs" not in row:
        row["peak_bandwidth_gbs"] = dram["peak_bandwidth_gbs"]
    return row


def _workload_fields(w: Any) -> dict[str, Any]:
    """``phase``, ``seq_len``, ``context``, ``batch`` and ``precision`` of a summary's ``workload`` (runs written
    before it: a batch-1 step at the hardware's word size). Values of the wrong type are left out."""
    out: dict[str, Any] = {"phase": None, "seq_len": None, "context": None, "batch": 1, "precision": None}
    if not isinstance(w, dict):
        return out
    if w.get("phase") in ("prefill", "decode"):
        out["phase"] = w["phase"]
    for key in ("seq_len", "context", "batch"):
        v = w.get(key)
        if _is_number(v) and v == int(v) and 0 < v <= _MAX_WORKLOAD_COUNT:
            out[key] = int(v)
    p = w.get("precision")
    if isinstance(p, dict) and p and all(_is_number(v) and v > 0 for v in p.values()):
        out["precision"] = _precision_label(p, 1)
    return out


def _fixes_text(fixes: Any) -> str:
    """``meta.fixes`` (the SCALE-Sim fixes a run was made with: a list of names) as ``name1, name2``."""
    if isinstance(fixes, str):
        fixes = [fixes]
    if not isinstance(fixes, (list, tuple)):
        return ""
    return ", ".join(sorted({str(f) for f in fixes if isinstance(f, str) and f}))


def _read_layers(folder: Path, row: dict[str, Any]) -> "tuple[pd.DataFrame | None, str | None]":
    """The run's layers.csv as a frame with numeric columns, or (None, why it is ignored)."""
    import pandas as pd

    from ..files import read_text_bounded

    path = folder / "layers.csv"
    if not os.path.lexists(path):
        return None, None
    try:
        text = read_text_bounded(path, what="layer table", error=ResultsError, max_bytes=_MAX_LAYERS_CSV_BYTES)
        lf = pd.read_csv(io.StringIO(text))
    except ResultsError as e:
        return None, str(e).removeprefix(f"{path}: ")
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        return None, f"layers.csv is not a table ({' '.join(str(e).split())})"
    need = ("layer_index", "layer", "dram_words")
    missing = [c for c in need if c not in lf.columns]
    if missing:
        return None, f"layers.csv lacks {', '.join(missing)}"
    if len(lf) == 0:
        return None, "layers.csv has no rows"
    for col in ("layer_index", "dram_words"):
        values = pd.to_numeric(lf[col], errors="coerce").astype(float)
        finite = values.map(math.isfinite)
        bad = ~finite | (values < 0) | (values.where(finite, 0.0) % 1 != 0)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            return None, f"layers.csv: {col} {lf[col].iloc[i]!r} (row {i + 2}) is not a count"
        lf[col] = values.astype("int64")
    if lf["layer_index"].duplicated().any():
        return None, "layers.csv repeats a layer_index"
    if int(lf["dram_words"].sum()) != int(row["dram_words"]):
        return None, "layers.csv does not add up to summary.json (truncated or edited)"
    for col in lf.columns:  # other count columns: numbers where they parse, NaN elsewhere (a figure skips NaN)
        if col not in ("layer", "kind", "kernel") and lf[col].dtype == object:
            num = pd.to_numeric(lf[col], errors="coerce")
            if num.notna().all():
                lf[col] = num
    lf["layer"] = lf["layer"].astype(str)
    return lf, None


def _orphan_run_folders(directory: Path) -> list[Path]:
    """Folders that hold run files but no summary.json: interrupted copies or foreign tools' output."""
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # temp folders of writes in progress
        if "summary.json" not in filenames and any(f in filenames for f in _RUN_FILES):
            found.append(Path(dirpath))
    return found


def load(directory: str | os.PathLike, models: Sequence[str] | None = None) -> ReportData:
    """Load every run folder below ``directory`` into a :class:`ReportData`.

    ``models`` filters by model name or network label (shell patterns such as ``hardnet*`` allowed). Folders that
    cannot be read, summaries that lack what the figures need (hardware fields, totals), and layer tables that are
    damaged or disagree with their totals are skipped with one warning line each (collected in
    ``ReportData.warnings`` and also issued with :func:`warnings.warn`). Raises
    :class:`~trafficsim.errors.ResultsError` when the directory is missing or holds no usable run.
    """
    import pandas as pd

    from ..runs import find_runs, read_summary

    directory = Path(directory)
    if not directory.exists():
        raise ResultsError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise ResultsError(f"{directory}: not a directory")
    messages: list[str] = []
    rows: list[dict[str, Any]] = []
    layer_frames: dict[str, "pd.DataFrame"] = {}
    seen: dict[str, int] = {}
    for folder in find_runs(directory):
        try:
            s = read_summary(folder)
        except ResultsError as e:
            messages.append(f"skipping {folder}: {_strip_location(str(e), folder)}")
            continue
        why = _check_summary(s)
        if why:
            messages.append(f"skipping {folder}: {why}")
            continue
        row = _run_row(folder, s)
        lf, why = _read_layers(folder, row)
        if why:
            messages.append(f"ignoring the layers of run {row['run_id']}: {why}")
        rid = row["run_id"]
        if rid in seen:  # the same run id found twice (e.g. copied folders): keep the last one found
            messages.append(f"skipping {rows[seen[rid]]['path']}: duplicate of run {rid} found elsewhere")
            rows[seen[rid]] = row
        else:
            seen[rid] = len(rows)
            rows.append(row)
        if lf is not None:
            layer_frames[rid] = lf
        else:
            layer_frames.pop(rid, None)
    messages += [f"skipping {p}: no summary.json (an interrupted run or another tool's output)"
                 for p in _orphan_run_folders(directory)]
    if not rows:
        _warn_all(messages)
        hint = f" ({len(messages)} folder(s) skipped)" if messages else ""
        raise ResultsError(f"{directory}: no usable run folders{hint}; create some with 'trafficsim run MODEL'"
                           if messages else f"{directory}: no run folders found; create some with "
                           "'trafficsim run MODEL'")
    runs = pd.DataFrame(rows)
    for row in rows:
        row["options"] = _option_tags(row)
    runs["options"] = [row["options"] for row in rows]
    runs = _select_models(runs, models, str(directory))
    runs = _derive_run_columns(runs, messages)
    frames = []
    for rid, model, engine in zip(runs["run_id"], runs["model"], runs["engine"]):
        lf = layer_frames.get(rid)
        if lf is not None:
            frames.append(lf.assign(run_id=rid, model=model, engine=engine))
    layers = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    layers = _join_layers(layers, runs)
    _warn_all(messages)
    return ReportData(directory=directory, runs=runs.reset_index(drop=True), layers=layers, warnings=messages)


def _strip_location(message: str, folder: Path) -> str:
    for prefix in (f"{folder / 'summary.json'}: ", f"{folder}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _warn_all(messages: list[str]) -> None:
    for m in messages:
        warnings.warn(m, stacklevel=3)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _select_models(runs: "pd.DataFrame", models: Sequence[str] | None, where: str) -> "pd.DataFrame":
    if not models:
        return runs
    pats = [p.strip() for m in models for p in str(m).split(",") if p.strip()]
    names = runs["model"].astype(str)
    sources = runs["source"] if "source" in runs.columns else [None] * len(runs)
    from ..runs import source_label

    labels = [source_label(s) if isinstance(s, str) and s else m for m, s in zip(names, sources)]
    sel = [_matches(m, pats) or _matches(lbl, pats) for m, lbl in zip(names, labels)]
    if not any(sel):
        raise ResultsError(f"no runs of {', '.join(pats)} in {where}; found: "
                           f"{', '.join(sorted(set(labels)))}")
    return runs[sel].copy()


def from_frame(runs: "pd.DataFrame", layers: "pd.DataFrame | None" = None,
               models: Sequence[str] | None = None) -> ReportData:
    """A :class:`ReportData` from tables already in memory, e.g. the DataFrame of :func:`trafficsim.sweep`
    (one row per point: ``model``, ``engine``, hardware fields and totals). ``layers`` (optional) has
    one row per layer with a ``run_id`` column matching ``runs``. Rows that lack numbers the figures need are
    left out with a warning."""
    import pandas as pd

    need = ("model", *HARDWARE_INTS, "dataflow", *REQUIRED_TOTALS)
    missing = [c for c in need if c not in runs.columns]
    if missing:
        raise InputError(f"the runs table lacks column(s) {', '.join(missing)}")
    if len(runs) == 0:
        raise InputError("the runs table is empty")
    runs = runs.copy()
    if "engine" not in runs.columns:
        runs["engine"] = "compat"
    if "path" not in runs.columns:
        runs["path"] = ""
    if "options" not in runs.columns:
        runs["options"] = ""
    messages: list[str] = []
    bad = pd.Series(False, index=runs.index)
    for col in (*HARDWARE_INTS, *REQUIRED_TOTALS):
        values = pd.to_numeric(runs[col], errors="coerce")
        bad |= values.isna() | (values < (1 if col in HARDWARE_INTS else 0))
    for i in runs.index[bad]:
        messages.append(f"skipping row {i} of the runs table: non-numeric or missing hardware fields or totals")
    runs = runs[~bad].copy()
    if len(runs) == 0:
        raise InputError("the runs table has no row with numeric hardware fields and totals")
    runs = _select_models(runs, models, "the table")
    runs = _derive_run_columns(runs, messages)
    if "run_id" not in runs.columns:
        runs["run_id"] = [f"{m}-{h}-{e}-{i}" for i, (m, h, e) in
                          enumerate(zip(runs["model"], runs["hardware"], runs["engine"]))]
    lay = pd.DataFrame() if layers is None else layers
    if len(lay) and "run_id" in lay.columns:
        lay = lay[lay["run_id"].isin(set(runs["run_id"]))].copy()
        for col in ("layer_index", "dram_words"):
            if col in lay.columns:
                lay[col] = pd.to_numeric(lay[col], errors="coerce")
        need_l = ("layer_index", "layer", "dram_words")
        if any(c not in lay.columns for c in need_l) or lay[["layer_index", "dram_words"]].isna().any().any():
            messages.append(f"ignoring the layers table: it lacks numeric {', '.join(need_l)}")
            lay = pd.DataFrame()
    layers_out = _join_layers(lay, runs)
    _warn_all(messages)
    return ReportData(directory=Path("."), runs=runs.reset_index(drop=True), layers=layers_out, warnings=messages)


def _derive_run_columns(runs: "pd.DataFrame", messages: list[str]) -> "pd.DataFrame":
    """Network (model, input shape and workload), hardware key and label, memory, model kind, PEs, total SRAM and
    per-operand bytes; runs that would draw on top of each other (same network, hardware and engine) keep the
    first, with a warning."""
    import numpy as np

    runs = runs.copy()
    for col, default in (("input_shape", ""), ("bandwidth_mode", "CALC"), ("word_bytes", 1), ("options", ""),
                         ("source", None), ("phase", None), ("seq_len", None), ("context", None), ("batch", 1),
                         ("precision", None), ("fixes", "")):
        if col not in runs.columns:
            runs[col] = default
    for col in HARDWARE_INTS:
        runs[col] = numeric(runs[col]).astype(np.int64)
    runs["input_shape"] = runs["input_shape"].fillna("").astype(str)
    runs["options"] = runs["options"].fillna("").astype(str)
    runs["fixes"] = [_fixes_text(f) if isinstance(f, (list, tuple)) else _fixes_text(_split_names(f))
                     for f in runs["fixes"]]
    runs["word_bytes"] = numeric(runs["word_bytes"]).fillna(1).astype(np.int64)
    batch = numeric(runs["batch"])
    runs["batch"] = batch.where((batch >= 1) & (batch <= _MAX_WORKLOAD_COUNT) & (batch % 1 == 0), 1).astype(np.int64)
    runs["model"] = runs["model"].astype(str)
    runs["engine"] = runs["engine"].fillna("").astype(str)
    runs["dataflow"] = runs["dataflow"].astype(str)
    for col in REQUIRED_TOTALS:
        runs[col] = numeric(runs[col])
    # a user model is labelled by its file and attribute
    from ..runs import source_label

    runs["model_label"] = [source_label(s) if isinstance(s, str) and s else m
                           for m, s in zip(runs["model"], runs["source"])]
    records = runs.to_dict("records")
    runs["workload"] = [workload_text(r) for r in records]
    runs["network"] = _network_labels(runs, records)
    runs["memory"] = [memory_text(r) for r in records]
    # the memory is named in every hardware label once the report holds more than one
    show_memory = len({memory_key(r) for r in records}) > 1 or None
    runs["hardware"] = [hardware_label(r) for r in records]
    runs["hardware_label"] = [hardware_text(r, show_memory) for r in records]
    runs["model_kind"] = [_model_kind(e, f) for e, f in zip(runs["engine"], runs["fixes"])]
    runs["pes"] = runs["array_rows"] * runs["array_cols"]
    runs["sram_kb_total"] = runs["ifmap_sram_kb"] + runs["filter_sram_kb"] + runs["ofmap_sram_kb"]
    for col, _ in OPERANDS:
        # the engine's own bytes where it reports them (the capacity engine, per the workload's precision); else
        # words x word_bytes (SCALE-Sim's 1-byte words; hardware.word_bytes of summaries written before element
        # sizes moved to the workload's precision)
        derived = runs[col] * runs["word_bytes"]
        own = operand_bytes_column(col)
        values = numeric(runs[own]).fillna(derived) if own in runs.columns else derived
        runs[own] = values.astype(np.int64) if bool((values % 1 == 0).all()) else values
    clash = runs.duplicated(["network", "hardware", "engine"], keep="first")
    for _, r in runs[clash].iterrows():
        first = runs[(runs["network"] == r["network"]) & (runs["hardware"] == r["hardware"])
                     & (runs["engine"] == r["engine"])].iloc[0]
        messages.append(f"skipping {r['path'] or r['run_id']}: same network, hardware and engine as "
                        f"{first['path'] or first['run_id']} (a setting the run id does not show)")
    return runs[~clash].copy()


def _split_names(v: Any) -> list[str]:
    """A fixes cell of a table (``"os-cycles,total-cycles"``, ``"a, b"``, None/NaN) as names."""
    if not isinstance(v, str):
        return []
    return [t for t in re.split(r"[,\s]+", v) if t]


def _network_labels(runs: "pd.DataFrame", records: list[dict[str, Any]]) -> list[str]:
    """The network of each run: the model, plus in parentheses the input shape when the model ran at several,
    and the workload (``decode @4096``, ``batch 8``, ``w8a16``). A workload part that differs between runs of
    one model is named on all of them (``batch 1`` beside ``batch 8``), so that they read as one series each."""
    parts = [_workload_parts(r) for r in records]
    by_model: dict[str, list[int]] = {}
    for i, m in enumerate(runs["model_label"]):
        by_model.setdefault(m, []).append(i)
    labels = [""] * len(records)
    for m, idx in by_model.items():
        several_shapes = len({records[i]["input_shape"] for i in idx}) > 1
        varying = {k for k in ("step", "batch", "precision") if len({parts[i][k] for i in idx}) > 1}
        for i in idx:
            p = parts[i]
            extra = [records[i]["input_shape"] or DEFAULT_INPUT] if several_shapes else []
            extra += [p[k] for k in ("step", "batch", "precision")
                      if p[k] and (k in varying or (k == "step" and p[k]) or p.get(f"{k}_set"))]
            labels[i] = f"{m} ({', '.join(extra)})" if extra else m
    return labels


def operand_bytes_column(col: str) -> str:
    """``dram_ifmap_reads`` -> ``dram_ifmap_bytes`` (the operand's traffic in bytes)."""
    return col.replace("_reads", "_bytes").replace("_writes", "_bytes")


def numeric(s: "pd.Series") -> "pd.Series":
    """A numeric Series (non-numbers become NaN)."""
    import pandas as pd

    return pd.to_numeric(s, errors="coerce")


def _join_layers(layers: "pd.DataFrame", runs: "pd.DataFrame") -> "pd.DataFrame":
    """Layers of the kept runs with the run's network, hardware, model kind and per-operand bytes."""
    import pandas as pd

    if len(layers) == 0 or "run_id" not in layers.columns:
        return pd.DataFrame(columns=["run_id", "layer_index", "layer"])
    layers = layers[layers["run_id"].isin(set(runs["run_id"]))].copy()
    front = [c for c in ("run_id", "model", "engine") if c in layers.columns]
    layers = layers[front + [c for c in layers.columns if c not in front]]
    cols = ["network", "hardware", "hardware_label", "model_kind", "word_bytes"]
    meta = runs.set_index("run_id")[cols]
    layers = layers.drop(columns=[c for c in cols if c in layers.columns]).join(meta, on="run_id")
    for col, _ in OPERANDS:
        if col in layers.columns:
            derived = numeric(layers[col]) * layers["word_bytes"]
            own = operand_bytes_column(col)
            layers[own] = numeric(layers[own]).fillna(derived) if own in layers.columns else derived
    # run folders written before summary.json carried metrics.cio: the paper-rule column sums to it
    if "cio" not in runs.columns or runs["cio"].isna().any():
        col = "cio_paper" if "cio_paper" in layers.columns else None
        if col is not None:
            cio = layers.groupby("run_id")[col].sum()
            runs["cio"] = runs["run_id"].map(cio) if "cio" not in runs.columns else \
                runs["cio"].fillna(runs["run_id"].map(cio))
    return layers.reset_index(drop=True)
