"""Tables derived from the loaded runs, shared by the figures, the page and the terminal summary (pandas only,
no matplotlib): which runs to show, in which order, engine pairs, sweeps, and the plain-text summary."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .loading import HARDWARE_INTS, ReportData, numeric
from .units import METRICS

if TYPE_CHECKING:
    import pandas as pd

MODEL_KIND_LABEL = {"compatible": "SCALE-Sim-compatible model", "capacity": "capacity-aware model",
                    "fixed": "SCALE-Sim's model with fixes (not SCALE-Sim's numbers)"}

# sweep axis -> (x column, tick label, hardware columns that vary along it, axis title)
SWEEP_AXES: dict[str, tuple[str, Any, tuple[str, ...], str]] = {
    "array": ("pes", lambda r: f"{int(r['array_rows'])}×{int(r['array_cols'])}", ("array_rows", "array_cols"),
              "array rows × columns (log scale of PEs)"),
    "sram": ("sram_kb_total", lambda r: f"{int(r['ifmap_sram_kb'])}/{int(r['filter_sram_kb'])}/{int(r['ofmap_sram_kb'])}",
             ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb"),
             "SRAM IFMAP/FILTER/OFMAP kB (log scale of total)"),
}
# what else must be equal for runs to lie on one sweep line (plus the DRAM fields, see _hardware_key_columns)
_HW_KEY_COLUMNS = (*HARDWARE_INTS, "dataflow", "bandwidth_mode", "bandwidth", "ifmap_dram_bw", "filter_dram_bw",
                   "word_bytes", "clock_mhz", "options")


def _hardware_key_columns() -> tuple[str, ...]:
    """The hardware columns of a runs table: the fixed ones and the DRAM's, flat as ``dram_<field>``
    (:meth:`trafficsim.hardware.Hardware.to_dict`)."""
    from dataclasses import fields

    from ..dram.config import DramConfig

    return (*_HW_KEY_COLUMNS, *(f"dram_{f.name}" for f in fields(DramConfig)))


def compatible_first(runs: "pd.DataFrame") -> "pd.DataFrame":
    """Of the SCALE-Sim-compatible runs of one network and hardware (same numbers by design), keep
    those of the engine registered first (``compat`` before ``scalesim``)."""
    import numpy as np

    from ..engines import engine_names

    order = {name: i for i, name in enumerate(engine_names())}
    rows = list(zip(runs["model_kind"] == "compatible", runs["network"], runs["hardware"],
                    [order.get(e, len(order)) for e in runs["engine"]]))
    best: dict[tuple, int] = {}
    for compatible, net, hw, rank in rows:
        if compatible:
            best[net, hw] = min(best.get((net, hw), rank), rank)
    keep = [not compatible or rank == best[net, hw] for compatible, net, hw, rank in rows]
    return runs[np.array(keep, dtype=bool)]


def kinds(runs: "pd.DataFrame") -> list[str]:
    """Model kinds present, compatible first, then capacity, then the others by name."""
    present = list(runs["model_kind"].unique())
    order = ["compatible", "fixed", "capacity"]
    return [k for k in order if k in present] + sorted(k for k in present if k not in order)


def kind_title(kind: str) -> str:
    return MODEL_KIND_LABEL.get(kind, f"engine {kind}")


def hardware_order(runs: "pd.DataFrame") -> list[str]:
    """Hardware keys ordered by PEs, then total SRAM, then dataflow."""
    first = runs.drop_duplicates("hardware").set_index("hardware")
    return sorted(runs["hardware"].unique(),
                  key=lambda h: (first.at[h, "pes"], first.at[h, "sram_kb_total"], str(first.at[h, "dataflow"]), h))


def hardware_labels(runs: "pd.DataFrame") -> dict[str, str]:
    """Hardware key -> readable label."""
    return dict(zip(runs["hardware"], runs["hardware_label"]))


def engine_pairs(runs: "pd.DataFrame") -> "pd.DataFrame":
    """Runs of the same network and hardware under both the compatible and the capacity-aware model: one row
    per capacity run with the ``_compatible`` and ``_capacity`` totals side by side (the compatible run is the
    one with the same hardware and no engine options)."""
    import pandas as pd

    runs = compatible_first(runs)
    comp = runs[runs["model_kind"] == "compatible"]
    cap = runs[runs["model_kind"] == "capacity"]
    if comp.empty or cap.empty:
        return pd.DataFrame()
    comp = comp.assign(base=[h for h in comp["hardware"]])
    cap = cap.assign(base=[_base_hardware(h, o) for h, o in zip(cap["hardware"], cap["options"])])
    cols = ["network", "run_id", "dram_bytes", "total_cycles"]
    extra = [c for c in ("latency_ms", "energy_uj") if c in cap.columns]
    pairs = comp[cols + ["base"]].merge(cap[cols + extra + ["base", "hardware", "hardware_label"]],
                                        on=["network", "base"], suffixes=("_compatible", "_capacity"))
    return pairs.drop(columns=["base"]).drop_duplicates(["network", "hardware"]).reset_index(drop=True)


def _base_hardware(hardware: str, options: str) -> str:
    suffix = "-" + options.replace(" ", "-") if options else ""
    return hardware[: -len(suffix)] if suffix and hardware.endswith(suffix) else hardware


def sweeps(runs: "pd.DataFrame", axis: str) -> list[tuple[tuple, "pd.DataFrame"]]:
    """Groups of runs that differ only along ``axis`` ("array" or "sram"), with at least two points each:
    ``[(fixed_key, runs_sorted_by_x), ...]``; the key is (network, engine, the other hardware fields)."""
    xcol, _, varying, _ = SWEEP_AXES[axis]
    fixed = ["network", "engine"] + [c for c in (*_hardware_key_columns(), "fixes")
                                     if c in runs.columns and c not in varying]
    out = []
    keyed = runs.assign(**{c: runs[c].map(_key_text) for c in fixed})
    for key, grp in keyed.groupby(fixed, sort=True, dropna=False):
        if grp[xcol].nunique() >= 2:
            out.append((key, runs.loc[grp.index].sort_values(xcol)))
    return out


def _key_text(v: Any) -> str:
    """A grouping key for any cell: None and NaN (unset DRAM overrides) group together instead of dropping out."""
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def check_metric(data: ReportData, metric: str) -> None:
    """Raise :class:`InputError` unless ``metric`` is a numeric total of the loaded runs."""
    if metric in data.runs.columns and numeric(data.runs[metric]).notna().any():
        return
    known = [m for m in METRICS if m in data.runs.columns and numeric(data.runs[m]).notna().any()]
    raise InputError(f"unknown metric {metric!r}: choose one of {', '.join(known)}")


def runs_in_order(data: ReportData) -> "pd.DataFrame":
    """The runs sorted for tables: network, PEs, total SRAM, engine."""
    return data.runs.sort_values(["network", "pes", "sram_kb_total", "engine"])


def text_summary(data: ReportData, limit: int = 30) -> str:
    """A short plain-text table of the runs, grouped by network (with its CIO): hardware, engine, total cycles
    and DRAM MB per run. Names are never cut; a row fits 80 columns for hardware keys up to 40 characters."""
    runs = runs_in_order(data)
    nets, hws = runs["network"].nunique(), runs["hardware"].nunique()
    engines = ", ".join(sorted(runs["engine"].unique()))
    lines = [f"{len(runs)} run(s): {nets} network(s) x {hws} hardware configuration(s); engines: {engines}"]
    shown = runs.head(limit)
    fixes = shown["fixes"].fillna("").astype(str) if "fixes" in shown.columns else None
    engine = [e + (" (fixed)" if fixes is not None and fixes[i] else "") for i, e in zip(shown.index, shown["engine"])]
    shown = shown.assign(engine=engine)
    w_hw = max(8, *(len(h) for h in shown["hardware"]))
    w_eng = max(6, *(len(e) for e in shown["engine"]))
    lines.append(f"  {'hardware':<{w_hw}}  {'engine':<{w_eng}}  {'total cycles':>14}  {'DRAM MB':>10}")
    for net, grp in shown.groupby("network", sort=False):
        cio = numeric(grp["cio"]).dropna() if "cio" in grp.columns else grp["total_cycles"].iloc[0:0]
        lines.append(f"{net}" + (f"  (CIO {cio.iloc[0] / 1e6:,.3f} M elements)" if len(cio) else ""))
        for _, r in grp.iterrows():
            lines.append(f"  {r['hardware']:<{w_hw}}  {r['engine']:<{w_eng}}  {int(r['total_cycles']):>14,}  "
                         f"{r['dram_bytes'] / 1e6:>10.3f}")
    if len(runs) > limit:
        lines.append(f"... and {len(runs) - limit} more (see runs_table.csv)")
    return "\n".join(lines)
