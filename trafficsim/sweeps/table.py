"""The sweep's table: one row per point (or per layer) with the point's columns, then its results."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ..hardware import Hardware
from .cache import NOT_IN_KEY
from .options import option_column, option_fields

if TYPE_CHECKING:
    import pandas as pd

    from .points import ExpandedSweep

# Columns that describe a point's hardware, first in every row after the model and its workload.
POINT_COLUMNS = ("model", "engine", "array", "array_rows", "array_cols", "dataflow",
                 "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")
# The workload of a point (from its topology), after the model; each shown when the spec sets it or some
# point is not at its default (None, or batch 1).
WORKLOAD_COLUMNS = ("phase", "seq_len", "context", "batch", "precision")


def _workload(topology: Any) -> dict[str, Any]:
    precision = topology.precision
    return {"phase": topology.phase, "seq_len": topology.seq_len, "context": topology.context,
            "batch": topology.batch, "precision": precision.label if precision is not None else None}


def _beside(point: Mapping[str, Any], results: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``results`` with a field named like a point column renamed ``<prefix><name>`` (the capacity engine's
    per-layer ``tiling``, the tile it chose, next to the ``tiling`` option of the point)."""
    if not any(k in point for k in results):
        return dict(results)
    return {(f"{prefix}{k}" if k in point else k): v for k, v in results.items()}


def build_table(expanded: "ExpandedSweep", records: Mapping[str, Mapping[str, Any]], engine: str,
                per_layer: bool) -> "pd.DataFrame":
    """The DataFrame of a finished sweep: the points of ``expanded`` in grid order, each with its record
    (by key).

    Hardware fields other than the point columns become columns where some point differs from the
    default; per-layer rows carry the layer's name as ``layer``. Integer columns with gaps (a DRAM
    column of the points on the ideal pipe) are pandas' nullable integers, written without ``.0``.
    """
    import pandas as pd

    points, labels = expanded.points, expanded.labels
    default = Hardware().to_dict()
    flat = {id(p.hardware): p.hardware.to_dict() for p in points}  # each point's flat fields, once
    extra_cols = [f for f in default if f not in POINT_COLUMNS and f not in NOT_IN_KEY
                  and any(flat[id(p.hardware)][f] != default[f] for p in points)]
    workloads = [_workload(t) for t in expanded.topologies]
    at_default = {"phase": None, "seq_len": None, "context": None, "batch": 1, "precision": None}
    wl_cols = [k for k in WORKLOAD_COLUMNS if k in expanded.workload_keys
               or any(w[k] != at_default[k] for w in workloads)]
    defaults = option_fields(engine)
    option_cols = list(expanded.option_names)
    rows: list[dict[str, Any]] = []
    for p in points:
        hw = p.hardware
        point = {"model": labels[p.model_index]}
        wl = workloads[p.model_index]
        point.update({k: wl[k] for k in wl_cols})
        point.update({"engine": engine, "array": hw.array, "array_rows": hw.array_rows,
                      "array_cols": hw.array_cols, "dataflow": hw.dataflow, "ifmap_sram_kb": hw.ifmap_sram_kb,
                      "filter_sram_kb": hw.filter_sram_kb, "ofmap_sram_kb": hw.ofmap_sram_kb})
        point.update({k: flat[id(hw)][k] for k in extra_cols})
        for name in option_cols:
            value = getattr(p.options, name) if p.options is not None else defaults[name].default
            point[name] = option_column(value)
        rec = records[p.key]
        if per_layer:
            for layer in rec["layers"]:
                layer = _beside(point, layer, "layer_")
                layer["layer"] = layer.pop("name", None)
                rows.append({**point, **layer})
        else:
            rows.append({**point, **_beside(point, rec["totals"], "total_")})
    df = pd.DataFrame(rows)
    if len(df):
        for col in df.columns[df.isna().any().to_numpy()]:
            values = [r.get(col) for r in rows]
            given = [v for v in values if v is not None and v == v]  # v != v: NaN
            if given and all(isinstance(v, int) and not isinstance(v, bool) for v in given):
                df[col] = pd.array(values, dtype="Int64")
    return df
