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
def hardware_label(row: Any) -> str:
    """The compact key of a hardware configuration, ``32x32-ws-64.64.64kB`` (plus ``-user`` for USER bandwidth,
    ``-2B`` for 2-byte words, and the engine's option tags such as ``-fused``) from a runs row."""
    label = (f"{int(row['array_rows'])}x{int(row['array_cols'])}-{row['dataflow']}-"
             f"{int(row['ifmap_sram_kb'])}.{int(row['filter_sram_kb'])}.{int(row['ofmap_sram_kb'])}kB")
    if row.get("bandwidth_mode") == "USER":
        label += "-user"
    wb = row.get("word_bytes", 1)
    if wb == wb and int(wb) != 1:  # NaN-safe
        label += f"-{int(wb)}B"
    options = row.get("options") or ""
    if isinstance(options, str) and options:
        label += "-" + options.replace(" ", "-")
    return label


def hardware_text(row: Any) -> str:
    """The readable label of a hardware configuration for ticks and legends:
    ``32×32 WS, SRAM 64/64/64 kB`` (plus ``USER bandwidth 10/10/10``, ``2-byte words`` and engine options)."""
    parts = [f"{int(row['array_rows'])}×{int(row['array_cols'])} {str(row['dataflow']).upper()}",
             f"SRAM {int(row['ifmap_sram_kb'])}/{int(row['filter_sram_kb'])}/{int(row['ofmap_sram_kb'])} kB"]
    if row.get("bandwidth_mode") == "USER":
        bw = [row.get(k) for k in ("ifmap_dram_bw", "filter_dram_bw", "bandwidth")]
        parts.append("USER bandwidth " + "/".join(_int_text(v) for v in bw))
    wb = row.get("word_bytes", 1)
    if wb == wb and int(wb) != 1:
        parts.append(f"{int(wb)}-byte words")
    options = row.get("options") or ""
    if isinstance(options, str) and options:
        parts.append(options)
    return ", ".join(parts)


def _int_text(v: Any) -> str:
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return "?"


def _model_kind(engine: str) -> str:
    from ..engines import family_of

    family = family_of(engine)
    return _FAMILY_KIND.get(family, family)


def _option_tags(row: dict[str, Any]) -> str:
    """The engine's option tags of a run (``fused``, ``resident``, ``12.8GBs.1000MHz``...), read back from its run
    id: what follows ``<model>-<RxC>-<df>-<I>.<F>.<O>kB-<engine>`` other than what the hardware key already says
    (USER bandwidths, word size) or the input shape."""
    from ..runs import _safe_run_id, source_label

    rid = str(row.get("run_id") or "")
    model = source_label(row["source"]) if isinstance(row.get("source"), str) and row["source"] else row["model"]
    prefix = _safe_run_id("-".join([str(model), f"{row['array_rows']}x{row['array_cols']}", str(row["dataflow"]),
                                    f"{row['ifmap_sram_kb']}.{row['filter_sram_kb']}.{row['ofmap_sram_kb']}kB",
                                    str(row["engine"])]))
    if not rid.startswith(prefix + "-"):
        return ""
    tags = [t for t in rid[len(prefix) + 1:].split("-")
            if t and not t.startswith("user") and not re.fullmatch(r"\d+B", t) and not re.fullmatch(r"\d+x\d+x\d+", t)]
    return " ".join(tags)


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
        if not _is_number(v) or v <= 0 or v != int(v):
            return f"summary.json: hardware.{k} is {v!r}, not a positive whole number"
    if not isinstance(hw.get("dataflow"), str) or not hw["dataflow"]:
        return "summary.json lacks hardware.dataflow"
    wb = hw.get("word_bytes", 1)
    if not _is_number(wb) or wb <= 0 or wb != int(wb):
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
    return row


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
    """Network, hardware key and label, model kind, PEs, total SRAM and per-operand bytes; runs that would draw
    on top of each other (same network, hardware and engine) keep the first, with a warning."""
    import numpy as np

    runs = runs.copy()
    for col, default in (("input_shape", ""), ("bandwidth_mode", "CALC"), ("word_bytes", 1), ("options", ""),
                         ("source", None)):
        if col not in runs.columns:
            runs[col] = default
    for col in HARDWARE_INTS:
        runs[col] = numeric(runs[col]).astype(np.int64)
    runs["input_shape"] = runs["input_shape"].fillna("").astype(str)
    runs["options"] = runs["options"].fillna("").astype(str)
    runs["word_bytes"] = numeric(runs["word_bytes"]).fillna(1).astype(np.int64)
    runs["model"] = runs["model"].astype(str)
    runs["engine"] = runs["engine"].fillna("").astype(str)
    runs["dataflow"] = runs["dataflow"].astype(str)
    for col in REQUIRED_TOTALS:
        runs[col] = numeric(runs[col])
    # a user model is labelled by its file and attribute; a model run at several input shapes is one network
    # per shape
    from ..runs import source_label

    base = [source_label(s) if isinstance(s, str) and s else m for m, s in zip(runs["model"], runs["source"])]
    runs["model_label"] = base
    shapes = runs.groupby("model_label")["input_shape"].nunique()
    runs["network"] = [f"{m} ({s or DEFAULT_INPUT})" if shapes[m] > 1 else m
                       for m, s in zip(base, runs["input_shape"])]
    records = runs.to_dict("records")
    runs["hardware"] = [hardware_label(r) for r in records]
    runs["hardware_label"] = [hardware_text(r) for r in records]
    runs["model_kind"] = runs["engine"].map(_model_kind)
    runs["pes"] = runs["array_rows"] * runs["array_cols"]
    runs["sram_kb_total"] = runs["ifmap_sram_kb"] + runs["filter_sram_kb"] + runs["ofmap_sram_kb"]
    for col, _ in OPERANDS:
        runs[operand_bytes_column(col)] = (runs[col] * runs["word_bytes"]).astype(np.int64)
    clash = runs.duplicated(["network", "hardware", "engine"], keep="first")
    for _, r in runs[clash].iterrows():
        first = runs[(runs["network"] == r["network"]) & (runs["hardware"] == r["hardware"])
                     & (runs["engine"] == r["engine"])].iloc[0]
        messages.append(f"skipping {r['path'] or r['run_id']}: same network, hardware and engine as "
                        f"{first['path'] or first['run_id']} (a setting the run id does not show)")
    return runs[~clash].copy()


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
            layers[operand_bytes_column(col)] = numeric(layers[col]) * layers["word_bytes"]
    # run folders written before summary.json carried metrics.cio: the paper-rule column sums to it
    if "cio" not in runs.columns or runs["cio"].isna().any():
        col = "cio_paper" if "cio_paper" in layers.columns else None
        if col is not None:
            cio = layers.groupby("run_id")[col].sum()
            runs["cio"] = runs["run_id"].map(cio) if "cio" not in runs.columns else \
                runs["cio"].fillna(runs["run_id"].map(cio))
    return layers.reset_index(drop=True)
