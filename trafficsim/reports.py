"""SCALE-Sim 3.0.0 report files: ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and
``DETAILED_ACCESS_REPORT.csv``, written and read in exactly SCALE-Sim's format.

Format (from ``scalesim/simulator.py:generate_reports``): one header line, then one line per layer
``"<LayerID>, v1, v2, ...,"`` with ``", "`` separators and a trailing comma; each value is
``str()`` of SCALE-Sim's Python value, so counts print as integers, percentages and bandwidths as
full-precision floats (``100.0``) and the detailed report's start/stop cycles as floats
(``-983.0``). Writing the ``scalesim`` engine's result reproduces SCALE-Sim's files byte for byte.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import ResultsError
from .hardware import Hardware
from .results import LayerResult, RunResult
from .files import atomic_write_text, read_text_bounded

COMPUTE_REPORT = "COMPUTE_REPORT.csv"
BANDWIDTH_REPORT = "BANDWIDTH_REPORT.csv"
DETAILED_ACCESS_REPORT = "DETAILED_ACCESS_REPORT.csv"
REPORT_FILES = (COMPUTE_REPORT, BANDWIDTH_REPORT, DETAILED_ACCESS_REPORT)
# about 300 bytes per layer in the widest report: 64 MB is 200,000 layers
_MAX_REPORT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class _Column:
    header: str  # column title as SCALE-Sim writes it
    field: str   # LayerResult field
    kind: str    # "int", "float" or "cycle" (an integer cycle SCALE-Sim prints as a float)


_COMPUTE_COLUMNS = (
    _Column("Total Cycles (incl. prefetch)", "total_cycles_incl_prefetch", "int"),
    _Column("Total Cycles", "total_cycles", "int"),
    _Column("Stall Cycles", "stall_cycles", "int"),
    _Column("Overall Util %", "overall_util_pct", "float"),
    _Column("Mapping Efficiency %", "mapping_efficiency_pct", "float"),
    _Column("Compute Util %", "compute_util_pct", "float"),
)
_BANDWIDTH_COLUMNS = (
    _Column("Avg IFMAP SRAM BW", "avg_ifmap_sram_bw", "float"),
    _Column("Avg FILTER SRAM BW", "avg_filter_sram_bw", "float"),
    _Column("Avg OFMAP SRAM BW", "avg_ofmap_sram_bw", "float"),
    _Column("Avg IFMAP DRAM BW", "avg_ifmap_dram_bw", "float"),
    _Column("Avg FILTER DRAM BW", "avg_filter_dram_bw", "float"),
    _Column("Avg OFMAP DRAM BW", "avg_ofmap_dram_bw", "float"),
)
_DETAIL_COLUMNS = tuple(
    _Column(f"{where} {label} {what}", f"{where.lower()}_{op}_{suffix}", kind)
    for where in ("SRAM", "DRAM")
    for label, op, count in (("IFMAP", "ifmap", "reads"), ("Filter", "filter", "reads"),
                             ("OFMAP", "ofmap", "writes"))
    for what, suffix, kind in (("Start Cycle", "start_cycle", "cycle"), ("Stop Cycle", "stop_cycle", "cycle"),
                               (count.capitalize(), count, "int"))
)
_REPORTS: dict[str, tuple[_Column, ...]] = {
    COMPUTE_REPORT: _COMPUTE_COLUMNS,
    BANDWIDTH_REPORT: _BANDWIDTH_COLUMNS,
    DETAILED_ACCESS_REPORT: _DETAIL_COLUMNS,
}


def _format(value: object, kind: str) -> str:
    if value is None:  # an engine that does not model this cycle
        return ""
    if kind == "int":
        return str(int(value))  # type: ignore[call-overload]
    return str(float(value))  # type: ignore[arg-type]


def report_text(layers: Sequence[LayerResult], report: str) -> str:
    """The text of one SCALE-Sim report file (``COMPUTE_REPORT.csv`` etc.) for ``layers``.

    Lines are numbered 0, 1, ... in order, as SCALE-Sim numbers its layers.
    """
    try:
        columns = _REPORTS[report]
    except KeyError:
        raise ValueError(f"unknown report {report!r}: one of {', '.join(REPORT_FILES)}") from None
    lines = ["LayerID, " + ", ".join(c.header for c in columns) + ","]
    for lid, layer in enumerate(layers):
        values = [_format(getattr(layer, c.field), c.kind) for c in columns]
        lines.append(f"{lid}, " + ", ".join(values) + ",")
    return "\n".join(lines) + "\n"


def write_scalesim_reports(result: RunResult | Sequence[LayerResult], folder: str | os.PathLike) -> list[Path]:
    """Write ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and ``DETAILED_ACCESS_REPORT.csv``
    for ``result`` into ``folder`` (created if needed), atomically, in SCALE-Sim 3.0.0's format.
    Returns the paths written."""
    layers = result.layers if isinstance(result, RunResult) else tuple(result)
    folder = Path(folder)
    paths = []
    for report in REPORT_FILES:
        path = folder / report
        atomic_write_text(path, report_text(layers, report))
        paths.append(path)
    return paths


def _parse_report(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header titles and value rows of one report file (LayerID column included)."""
    text = read_text_bounded(path, what="report file", error=ResultsError, max_bytes=_MAX_REPORT_BYTES)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ResultsError(f"{path}: empty report file")

    def split(line: str) -> list[str]:
        parts = [p.strip() for p in line.split(",")]
        return parts[:-1] if parts and parts[-1] == "" else parts

    return split(lines[0]), [split(ln) for ln in lines[1:]]


def _convert(raw: str, kind: str, where: str, title: str) -> int | float | None:
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ResultsError(f"{where}: column {title!r} must be a number, got {raw!r}") from None
    if kind == "float":
        return value
    if not value.is_integer():
        raise ResultsError(f"{where}: column {title!r} must be a whole number, got {raw!r}")
    return int(value)


def read_scalesim_reports(folder: str | os.PathLike, names: Sequence[str] | None = None,
                          source_layers: Sequence[int] | None = None, macs: Sequence[int] | None = None,
                          hardware: Hardware | None = None) -> list[LayerResult]:
    """Parse SCALE-Sim's three report files in ``folder`` into one :class:`LayerResult` per layer.

    Names, source layers and MACs are not in the files: pass them per layer, or get
    ``layer<i>``, ``i`` and MACs recovered from "Overall Util %" when ``hardware`` is given
    (else 0). Columns are found by their titles, so SCALE-Sim v2's reports (no "Total Cycles
    (incl. prefetch)", which then reads as 0) and sparsity runs (an extra BW column) parse too.
    """
    folder = Path(folder)
    values: dict[str, list] = {}
    n_layers: int | None = None
    for report, columns in _REPORTS.items():
        path = folder / report
        header, rows = _parse_report(path)
        index = {title: i for i, title in enumerate(header)}
        if n_layers is None:
            n_layers = len(rows)
        elif len(rows) != n_layers:
            raise ResultsError(f"{path}: {len(rows)} layers, but {COMPUTE_REPORT} has {n_layers}")
        for lineno, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise ResultsError(f"{path}:{lineno}: {len(row)} values for {len(header)} columns")
        for col in columns:
            i = index.get(col.header)
            if i is None:
                if col.field == "total_cycles_incl_prefetch":  # SCALE-Sim v2 reports
                    values[col.field] = [0] * len(rows)
                    continue
                raise ResultsError(f"{path}: missing column {col.header!r}; not a SCALE-Sim report")
            values[col.field] = [_convert(row[i], col.kind, f"{path}:{n + 2}", col.header)
                                 for n, row in enumerate(rows)]
    n = n_layers or 0
    for label, seq in (("names", names), ("source_layers", source_layers), ("macs", macs)):
        if seq is not None and len(seq) != n:
            raise ResultsError(f"{folder}: the reports have {n} layers but {len(seq)} {label} were given")

    def recovered_macs(i: int) -> int:
        if hardware is None:
            return 0
        pes = hardware.array_rows * hardware.array_cols
        return round(values["overall_util_pct"][i] * values["total_cycles"][i] * pes / 100)

    layers = []
    for i in range(n):
        kw = {field: vals[i] for field, vals in values.items()}
        layers.append(LayerResult(
            layer_id=i,
            name=names[i] if names is not None else f"layer{i}",
            source_layer=source_layers[i] if source_layers is not None else i,
            macs=macs[i] if macs is not None else recovered_macs(i),
            **kw,
        ))
    return layers
