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
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .engines import engine_info, is_registered
from .engines import run_id_tags as engine_run_id_tags
from .errors import ResultsError
from .results import RunResult
from .metrics import traffic_split
from .topology import Topology, atomic_write_text, topology_csv_text

LAYER_COUNT_COLUMNS = ("total_cycles", "stall_cycles", "sram_ifmap_reads", "sram_filter_reads",
                       "sram_ofmap_writes", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes")


def run_id(result: RunResult, input_shape: tuple[int, int, int] | None = None,
           workload_tags: list[str] | tuple[str, ...] = ()) -> str:
    """A readable, deterministic folder name: ``<model>-<RxC>-<df>-<I>.<F>.<O>kB-<engine>[-<options>][-<input>]``.

    Options that change the numbers appear as suffixes (USER-mode bandwidths, word size, and the
    engine's own tags from its ``run_id_tags``, e.g. the capacity model's network options and
    DRAM bandwidth/clock); a re-run of the same setting replaces its folder."""
    hw = result.hardware
    parts = [result.model, hw.array, hw.dataflow,
             f"{hw.ifmap_sram_kb}.{hw.filter_sram_kb}.{hw.ofmap_sram_kb}kB", result.engine]
    if hw.bandwidth_mode == "USER":
        parts.append(f"user{hw.ifmap_dram_bw}.{hw.filter_dram_bw}.{hw.bandwidth}")
    parts += engine_run_id_tags(result)   # the engine's options that change the numbers
    if hw.word_bytes != 1:
        parts.append(f"{hw.word_bytes}B")
    if input_shape is not None and tuple(input_shape) != (3, 224, 224):
        parts.append("x".join(str(d) for d in input_shape))
    parts += workload_tags  # Topology.workload_tags(): sequence/phase/context, batch, precision
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


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
    over the SCALE-Sim rows that simulate it (``DP`` channels, groups)."""
    by_layer: dict[int, list] = {}
    for r in result.layers:
        by_layer.setdefault(r.source_layer, []).append(r)
    word_bytes = result.hardware.word_bytes
    rows = []
    for i, layer in enumerate(topology.layers):
        recs = by_layer.get(i, [])
        row: dict[str, Any] = {
            "layer_index": i, "layer": layer.name, "kind": layer.kind,
            "in_c": layer.in_c, "in_h": layer.in_h, "in_w": layer.in_w,
            "out_c": layer.out_c, "out_h": layer.out_h, "out_w": layer.out_w,
            "kernel": f"{layer.kernel_h}x{layer.kernel_w}", "stride": layer.stride_h, "groups": layer.groups,
            "macs": layer.macs, "params": layer.params, "cio": layer.cio,
            "moc": layer.macs / layer.cio if layer.cio else 0.0,
            "scalesim_rows": len(recs),
        }
        for col in LAYER_COUNT_COLUMNS:
            row[col] = int(sum(getattr(r, col) for r in recs))
        row["dram_words"] = row["dram_ifmap_reads"] + row["dram_filter_reads"] + row["dram_ofmap_writes"]
        row["dram_bytes"] = row["dram_words"] * word_bytes
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


def write_run(result: RunResult, topology: Topology, out_dir: str | os.PathLike = "reports",
              name: str | None = None) -> Path:
    """Write the run folder ``<out_dir>/<run-id>/`` and return its path.

    The folder is assembled in a temporary sibling and renamed into place: an existing folder is
    always complete, and an interrupted write leaves nothing half-written behind.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rid = name or run_id(result, topology.input_shape, topology.workload_tags())
    final = out_dir / rid
    tmp = Path(tempfile.mkdtemp(prefix=f".{rid}.", dir=out_dir))
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
        except Exception:  # a topology SCALE-Sim cannot express (e.g. unequal strides): no CSV
            pass
        atomic_write_text(tmp / "hardware.cfg", result.hardware.to_cfg())
        files["cfg"] = "hardware.cfg"
        package_versions = versions()
        summary = {
            "run_id": rid,
            "model": result.model,
            "engine": result.engine,
            "trafficsim_version": package_versions.get("trafficsim", ""),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "input_shape": list(topology.input_shape) if topology.input_shape else None,
            # token models and the workload (batch, bytes per tensor class; None: Hardware.word_bytes)
            "workload": {"seq_len": topology.seq_len, "phase": topology.phase, "context": topology.context,
                         "batch": topology.batch,
                         "precision": topology.precision.to_dict() if topology.precision else None},
            "hardware": result.hardware.to_dict(),
            "versions": package_versions,
            "num_layers": len(topology.layers),
            "num_scalesim_layers": len(result.layers),
            "metrics": network_metrics(topology),
            # calls the converter could not model: their MACs and traffic are not in the totals
            "unmodelled": [{"name": u.name, "function": u.function, "macs": u.macs} for u in topology.unmodelled],
            "totals": result.totals(),
            "traffic_split_bytes": traffic_split(result, topology),
            "meta": dict(result.meta),
            "files": files,
        }
        atomic_write_text(tmp / "summary.json", json.dumps(summary, indent=2, default=_json_default) + "\n")
        # Swap into place: rename the old folder aside first so the final rename is atomic.
        old = None
        if final.exists():
            old = out_dir / f".{rid}.old{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


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
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{folder}: not a run folder (no summary.json)") from None
    except (OSError, ValueError) as e:
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

    ``runs`` has one row per run: run_id, model, engine, path, input_shape, the hardware fields
    (``array_rows``, ``dataflow``, ``ifmap_sram_kb``...), ``array`` ("RxC") and every total. ``layers`` has one
    row per layer with ``run_id`` plus the columns of layers.csv. Folders that cannot be read
    are skipped with a warning.
    """
    import pandas as pd

    run_rows, layer_frames = [], []
    for folder in find_runs(directory):
        try:
            s = read_summary(folder)
            row = {"run_id": s.get("run_id", folder.name), "model": s["model"], "engine": s.get("engine", ""),
                   "path": str(folder), "input_shape": "x".join(map(str, s["input_shape"])) if s.get("input_shape") else ""}
            hw = s.get("hardware", {})
            row.update(hw)
            row["array"] = f"{hw.get('array_rows')}x{hw.get('array_cols')}"
            row.update(s["totals"])
            if "cio" in s.get("metrics", {}):
                row["cio"] = s["metrics"]["cio"]
            layers_csv = folder / "layers.csv"
            lf = pd.read_csv(layers_csv) if layers_csv.exists() else None
        except (ResultsError, OSError, ValueError, KeyError) as e:
            warnings.warn(f"skipping {folder}: {e}", stacklevel=2)
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
