"""The sweep's table: one row per point (or per layer) with the point's columns, then its results."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..hardware import Hardware
from .cache import NOT_IN_KEY
from .points import SweepPoint

if TYPE_CHECKING:
    import pandas as pd

# Columns that describe a point, first in every row.
POINT_COLUMNS = ("model", "engine", "array", "array_rows", "array_cols", "dataflow",
                 "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb")


def build_table(points: Sequence[SweepPoint], labels: Sequence[str], records: Mapping[str, Mapping[str, Any]],
                engine: str, per_layer: bool) -> "pd.DataFrame":
    """The DataFrame of a finished sweep: ``points`` in grid order, each with its record (by key).

    Hardware fields other than the point columns become columns where some point differs from the
    default; per-layer rows carry the layer's name as ``layer``.
    """
    import pandas as pd

    default = Hardware().to_dict()
    flat = {id(p.hardware): p.hardware.to_dict() for p in points}  # each point's flat fields, once
    extra_cols = [f for f in default if f not in POINT_COLUMNS and f not in NOT_IN_KEY
                  and any(flat[id(p.hardware)][f] != default[f] for p in points)]
    rows: list[dict[str, Any]] = []
    for p in points:
        hw = p.hardware
        point = {"model": labels[p.model_index], "engine": engine, "array": hw.array,
                 "array_rows": hw.array_rows, "array_cols": hw.array_cols, "dataflow": hw.dataflow,
                 "ifmap_sram_kb": hw.ifmap_sram_kb, "filter_sram_kb": hw.filter_sram_kb,
                 "ofmap_sram_kb": hw.ofmap_sram_kb}
        point.update({k: flat[id(hw)][k] for k in extra_cols})
        rec = records[p.key]
        if per_layer:
            for layer in rec["layers"]:
                layer = dict(layer)
                layer["layer"] = layer.pop("name", None)
                rows.append({**point, **layer})
        else:
            rows.append({**point, **rec["totals"]})
    return pd.DataFrame(rows)
