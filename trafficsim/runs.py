"""Run folders: write a :class:`~trafficsim.results.RunResult` to ``reports/<run-id>/`` atomically
and load a directory of run folders into pandas tables. The format is in docs/run-folders.md.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import unicodedata
import warnings
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .engines import engine_info, is_registered
from .engines import run_id_tags as engine_run_id_tags
from .errors import InputError, OutputError, ResultsError
from .files import (atomic_write_text, ensure_dir, make_temp_dir, read_text_bounded, remove_stale_temps,
                    replace_dir_atomically)
from .results import RunResult
from .metrics import traffic_split
from .topology import Topology, topology_csv_text

# A summary is a few kB; a layers.csv about 400 bytes per layer (a 10,000-layer model: 4 MB).
_MAX_SUMMARY_BYTES = 16 * 2**20
_MAX_LAYERS_CSV_BYTES = 256 * 2**20
LAYER_COUNT_COLUMNS = ("total_cycles", "stall_cycles", "sram_ifmap_reads", "sram_filter_reads",
                       "sram_ofmap_writes", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes")


def run_id(result: RunResult, input_shape: tuple[int, int, int] | None = None,
           workload_tags: list[str] | tuple[str, ...] = (), source: str | None = None) -> str:
    """A readable, deterministic folder name: ``<model>-<RxC>-<df>-<I>.<F>.<O>kB-<engine>[-<options>][-<input>]``.

    Options that change the numbers appear as suffixes (USER-mode bandwidths, word size, and the
    engine's own tags from its ``run_id_tags``, e.g. the capacity model's network options and
    DRAM bandwidth/clock); a re-run of the same setting replaces its folder. A user model's ``source``
    (``path/net.py:attr``) names it by file and attribute (``net.py_attr``), so two files defining ``model``
    get two folders. Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``, and the id never
    starts with a dot (hidden folders are skipped by ``trafficsim plot``)."""
    hw = result.hardware
    model = source_label(source) if source else result.model
    parts = [model, hw.array, hw.dataflow,
             f"{hw.ifmap_sram_kb}.{hw.filter_sram_kb}.{hw.ofmap_sram_kb}kB", result.engine]
    if hw.bandwidth_mode == "USER":
        parts.append(f"user{hw.ifmap_dram_bw}.{hw.filter_dram_bw}.{hw.bandwidth}")
    parts += engine_run_id_tags(result)   # the engine's options that change the numbers
    if input_shape is not None and tuple(input_shape) != (3, 224, 224):
        parts.append("x".join(str(d) for d in input_shape))
    parts += workload_tags  # Topology.workload_tags(): sequence/phase/context, batch, precision
    return _safe_run_id("-".join(parts))


def _safe_run_id(text: str) -> str:
    rid = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    return re.sub(r"^\.+", lambda m: "_" * len(m.group()), rid) or "_"


def source_label(source: str) -> str:
    """``net.py:model`` for a user model's source ``path/to/net.py:model`` (file name and attribute)."""
    path, sep, attr = str(source).rpartition(":")
    if not sep or not path:
        return printable(str(source))
    return printable(f"{Path(path).name}:{attr}")


def printable(text: str) -> str:
    """``text`` with control characters (NUL, newlines, escape sequences, C1 codes) and line separators
    written as ``\\xNN`` / ``\\uNNNN`` escapes: layer and model names reach CSV files, reports and terminals."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _printable_topology(topology: Topology) -> Topology:
    if topology.name.isprintable() and all(layer.name.isprintable() for layer in topology.layers):
        return topology
    layers = tuple(layer if layer.name.isprintable() else replace(layer, name=printable(layer.name))
                   for layer in topology.layers)
    return replace(topology, name=printable(topology.name), layers=layers)


def versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("trafficsim", "numpy", "scalesim", "numba", "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def layer_rows(result: RunResult, topology: Topology) -> list[dict[str, Any]]:
    """One dict per topology layer: the layer's shapes and metrics, and the engine's counts summed
    over the SCALE-Sim rows that simulate it (``DP`` channels, groups).

    ``cio`` is the layer's own input + output elements (any layer kind); ``cio_paper`` is what the layer adds
    to the network's CIO by the HarDNet paper's rule (:func:`trafficsim.metrics.cio`: conv layers only, not the
    stand-alone downsamplers), so ``cio_paper`` sums to ``summary.json``'s ``metrics.cio``."""
    by_layer: dict[int, list] = {}
    for r in result.layers:
        by_layer.setdefault(r.source_layer, []).append(r)
    from .metrics import cio_layers

    rows = []
    for i, (layer, counted) in enumerate(zip(topology.layers, cio_layers(topology, paper=True))):
        recs = by_layer.get(i, [])
        row: dict[str, Any] = {
            "layer_index": i, "layer": layer.name, "kind": layer.kind,
            "in_c": layer.in_c, "in_h": layer.in_h, "in_w": layer.in_w,
            "out_c": layer.out_c, "out_h": layer.out_h, "out_w": layer.out_w,
            "kernel": f"{layer.kernel_h}x{layer.kernel_w}", "stride": layer.stride_h, "groups": layer.groups,
            "macs": layer.macs, "params": layer.params, "cio": layer.cio, "cio_paper": layer.cio if counted else 0,
            "moc": layer.macs / layer.cio if layer.cio else 0.0,
            "scalesim_rows": len(recs),
        }
        for col in LAYER_COUNT_COLUMNS:
            row[col] = int(sum(getattr(r, col) for r in recs))
        row["dram_words"] = row["dram_ifmap_reads"] + row["dram_filter_reads"] + row["dram_ofmap_writes"]
        row["dram_bytes"] = row["dram_words"]  # 1-byte words; an engine's dram_bytes extra (below) overrides
        extra_keys = sorted({k for r in recs for k in r.extra})
        for k in extra_keys:
            vals = [r.extra.get(k) for r in recs]
            if len(vals) == 1:
                row[k] = vals[0]
            elif all(isinstance(v, (int, float)) for v in vals):
                row[k] = sum(vals)  # type: ignore[arg-type]
        rows.append(row)
    return rows


def _csv_text(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(v) for k, v in r.items()})
    return buf.getvalue()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)
    return v


@dataclass(frozen=True)
class RunFolder:
    """A written run folder: its ``path``, ``run_id`` and whether it ``replaced`` an earlier run of the same
    id. Usable where a path is (``os.fspath``, ``str``, ``folder / "summary.json"``, ``.name``)."""

    path: Path
    run_id: str
    replaced: bool

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, other: str | os.PathLike) -> Path:
        return self.path / other

    @property
    def name(self) -> str:
        return self.path.name


def write_run(result: RunResult, topology: Topology, out_dir: str | os.PathLike = "reports",
              name: str | None = None, source: str | None = None) -> RunFolder:
    """Write the run folder ``<out_dir>/<run-id>/`` and return it (:class:`RunFolder`: path, run id, and
    ``replaced``, True when a folder of the same run id was there and has been replaced: callers say so).

    ``source`` is where a user model came from (``path/net.py:attr``): recorded in ``summary.json`` and used
    for the run id. ``name`` overrides the run id (one folder name, not starting with a dot).

    The folder is assembled in a hidden temporary sibling and then swapped into place in one step
    (:func:`trafficsim.files.replace_dir_atomically`): the folder at ``<run-id>`` is always complete, whatever
    is interrupted when, and concurrent writers of one run id all succeed (the last one stands). A folder at
    that name that is not a run folder is never replaced (:class:`~trafficsim.errors.OutputError`).
    Temporaries left in ``out_dir`` by killed writers are removed once they are old
    (:func:`trafficsim.files.remove_stale_temps`).
    """
    out_dir = ensure_dir(out_dir)
    remove_stale_temps(out_dir)
    if name is not None:
        if (not name or name in (".", "..") or name.startswith(".") or "/" in name or os.sep in name
                or (os.altsep and os.altsep in name) or not name.isprintable()):
            raise InputError(f"run folder name {name!r}: one printable folder name not starting with '.'")
        rid = name
    else:
        rid = run_id(result, topology.input_shape, topology.workload_tags(), source)
    final = out_dir / rid
    _check_replaceable_run(final)
    topology = _printable_topology(topology)
    tmp = make_temp_dir(out_dir, rid)
    try:
        files: dict[str, str] = {}
        rows = layer_rows(result, topology)
        atomic_write_text(tmp / "layers.csv", _csv_text(rows))
        files["layers"] = "layers.csv"
        if is_registered(result.engine) and engine_info(result.engine).writes_scalesim_reports:
            from .reports import write_scalesim_reports

            write_scalesim_reports(result, tmp)
            files.update(compute_report="COMPUTE_REPORT.csv", bandwidth_report="BANDWIDTH_REPORT.csv",
                         detailed_access_report="DETAILED_ACCESS_REPORT.csv")
        try:
            atomic_write_text(tmp / "topology.csv", topology_csv_text(topology))
            files["topology"] = "topology.csv"
        except OutputError:
            raise
        except Exception:  # a topology SCALE-Sim cannot express (e.g. unequal strides): no CSV
            pass
        atomic_write_text(tmp / "hardware.cfg", result.hardware.to_cfg())
        files["cfg"] = "hardware.cfg"
        package_versions = versions()
        summary = {
            "run_id": rid,
            "model": printable(result.model),
            "source": printable(str(source)) if source else None,
            "engine": result.engine,
            "trafficsim_version": package_versions.get("trafficsim", ""),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "input_shape": list(topology.input_shape) if topology.input_shape else None,
            # token models and the workload (batch, bytes per tensor class; None: 1 byte, SCALE-Sim's word)
            "workload": {"seq_len": topology.seq_len, "phase": topology.phase, "context": topology.context,
                         "batch": topology.batch,
                         "precision": topology.precision.to_dict() if topology.precision else None},
            "hardware": result.hardware.to_dict(),
            "versions": package_versions,
            "num_layers": len(topology.layers),
            "num_scalesim_layers": len(result.layers),
            # the non-MAC ops by kind (activations and batch norms included: meta.network_ops says how the
            # capacity engine charged, fused or skipped them; the compat engine, like SCALE-Sim, moves no op)
            "op_counts": dict(sorted(Counter(op.kind for op in topology.ops).items())),
            "metrics": network_metrics(topology),
            # calls the converter could not model: their MACs and traffic are not in the totals
            "unmodelled": [{"name": printable(u.name), "function": printable(u.function), "macs": u.macs}
                           for u in topology.unmodelled],
            "totals": result.totals(),
            "traffic_split_bytes": traffic_split(result, topology),
            "meta": dict(result.meta),
            "files": files,
        }
        bad = _non_finite(summary)
        if bad:
            raise ResultsError(f"run {rid}: {bad[0]} is {bad[1]}; a run with infinite or undefined numbers is "
                               "not written (check the options that led to it)")
        atomic_write_text(tmp / "summary.json",
                          json.dumps(summary, indent=2, default=_json_default, allow_nan=False) + "\n")
        replaced = replace_dir_atomically(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return RunFolder(path=final, run_id=rid, replaced=replaced)


def _non_finite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """The first (key path, value) of a float that is infinite or NaN in nested dicts/lists, else None."""
    if isinstance(obj, float):
        return None if obj - obj == 0.0 else (where or "a value", obj)
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif hasattr(obj, "dtype") and getattr(obj, "ndim", None) == 0:  # numpy scalars
        return _non_finite(obj.item(), where)
    else:
        return None
    for k, v in items:
        found = _non_finite(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def _check_replaceable_run(final: Path) -> None:
    """Only a run folder (or an empty folder) may be replaced by a new run of the same id."""
    try:
        if not final.is_dir() or final.is_symlink():
            if final.exists() or final.is_symlink():
                raise OutputError(f"{final}: exists and is not a run folder; not replacing it")
            return
        if (final / "summary.json").is_file() or not any(os.scandir(final)):
            return
    except OSError as e:
        raise OutputError(f"{final}: {e.strerror or e}") from None
    raise OutputError(f"{final}: exists and is not a run folder (no summary.json); not replacing it")


def network_metrics(topology: Topology) -> dict[str, Any]:
    """Params, MACs and CIO (the HarDNet paper's rule: conv layers only, see :func:`trafficsim.metrics.cio`)."""
    from . import metrics

    out: dict[str, Any] = {"macs": metrics.macs(topology), "cio": metrics.cio(topology)}
    if topology.params is not None:
        out["params"] = topology.params
    return out


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_summary(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``summary.json`` of a run folder; :class:`ResultsError` if it is missing or broken."""
    path = Path(folder) / "summary.json"
    if not os.path.lexists(path):
        raise ResultsError(f"{folder}: not a run folder (no summary.json)")
    text = read_text_bounded(path, what="run summary", error=ResultsError, max_bytes=_MAX_SUMMARY_BYTES)
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ResultsError(f"{path}: unreadable summary ({e})") from None
    if not isinstance(data, dict) or "totals" not in data or "model" not in data:
        raise ResultsError(f"{path}: not a trafficsim run summary")
    return data


def find_runs(directory: str | os.PathLike) -> list[Path]:
    """Run folders (containing a summary.json) at or below ``directory``, sorted; hidden temp folders skipped."""
    directory = Path(directory)
    if not directory.exists():
        raise ResultsError(f"{directory}: no such directory")
    if (directory / "summary.json").exists():
        return [directory]
    found = []
    for p in sorted(directory.rglob("summary.json")):
        if any(part.startswith(".") for part in p.relative_to(directory).parts):
            continue
        found.append(p.parent)
    return found


def load_runs(directory: str | os.PathLike):
    """Load every run folder below ``directory`` into ``(runs, layers)`` pandas DataFrames.

    ``runs`` has one row per run: run_id, model, source, engine, path, input_shape, the hardware fields
    (``array_rows``, ``dataflow``, ``ifmap_sram_kb``...), ``array`` ("RxC") and every total. ``layers`` has one
    row per layer with ``run_id`` plus the columns of layers.csv. Folders that cannot be read (summary.json or
    layers.csv missing pieces, not JSON/CSV, a FIFO or device, too large) are skipped with a one-line warning.
    :func:`trafficsim.report.load` checks more (what the figures need).
    """
    import io

    import pandas as pd

    run_rows, layer_frames = [], []
    for folder in find_runs(directory):
        try:
            s = read_summary(folder)
            hw, totals, metrics = s.get("hardware", {}), s["totals"], s.get("metrics", {})
            if not isinstance(hw, dict) or not isinstance(totals, dict) or not isinstance(metrics, dict):
                raise ResultsError("summary.json: hardware, totals and metrics must be objects")
            if not isinstance(s["model"], str) or not s["model"] or not isinstance(s.get("engine", ""), str):
                raise ResultsError("summary.json: model and engine must be names")
            shape = s.get("input_shape")
            row = {"run_id": str(s.get("run_id") or folder.name), "model": s["model"],
                   "source": s.get("source"), "engine": s.get("engine", ""), "path": str(folder),
                   "input_shape": "x".join(map(str, shape)) if isinstance(shape, list) and shape else ""}
            row.update(hw)
            row["array"] = f"{hw.get('array_rows')}x{hw.get('array_cols')}"
            row.update(totals)
            if "cio" in metrics:
                row["cio"] = metrics["cio"]
            lf = None
            layers_csv = folder / "layers.csv"
            if os.path.lexists(layers_csv):
                text = read_text_bounded(layers_csv, what="layer table", error=ResultsError,
                                         max_bytes=_MAX_LAYERS_CSV_BYTES)
                lf = pd.read_csv(io.StringIO(text)) if text.strip() else None
        except (ResultsError, ValueError, KeyError) as e:
            reason = " ".join(str(e).split())
            for prefix in (f"{folder / 'summary.json'}: ", f"{folder / 'layers.csv'}: ", f"{folder}: "):
                reason = reason.removeprefix(prefix)
            warnings.warn(f"skipping {folder}: {reason}", stacklevel=2)
            continue
        run_rows.append(row)
        if lf is not None:
            lf.insert(0, "run_id", row["run_id"])
            lf.insert(1, "model", row["model"])
            lf.insert(2, "engine", row["engine"])
            layer_frames.append(lf)
    runs = pd.DataFrame(run_rows)
    layers = pd.concat(layer_frames, ignore_index=True) if layer_frames else pd.DataFrame()
    return runs, layers
