"""The DRAM figures (issue 13 item 6): what a run on a DRAM standard (``--dram ddr4-3200``) adds to a report.

They read only columns, never an engine: per layer ``compute_cycles`` and ``stall_cycles`` (or ``total_cycles``
minus ``stall_cycles`` where an engine gives no compute column), ``achieved_bandwidth_gbs`` and
``peak_bandwidth_gbs``; per run the same totals, ``row_hit_rate`` and ``dram_energy_<command>_pj``. Any engine
that writes those columns (the capacity engine today, the compat engine later) is drawn, each model kind in its
own panels. A run without them (the ideal pipe has no row hits or commands; older run folders have none of
them) is left out of the panels it cannot fill.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .figures import MAX_LAYER_LINES, _grouped_bars, _hardware_axis, register_figure
from .loading import ReportData, numeric
from .style import LINESTYLES, MARKERS, bar_figure_width, legend_outside, new_figure, tint
from .tables import hardware_labels, hardware_order, kind_title, kinds
from .units import axis_label

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

MAX_BREAKDOWN_PANELS = 8  # runs drawn in the per-layer latency breakdown; the CSVs have them all
# DRAM energy by command (dram_energy_<key>_pj, from the DRAM model's energy by component), bottom to top
ENERGY_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("act", "ACT"), ("pre", "PRE"), ("read", "RD"), ("write", "WR"), ("refresh", "REF"),
    ("active_standby", "active standby"), ("precharge_standby", "precharge standby"))
_ENERGY_STYLE: tuple[tuple[float, str], ...] = ((0.0, ""), (0.3, "///"), (0.5, ""), (0.5, ".."), (0.6, "xx"),
                                               (0.85, ""), (0.85, "\\\\"))
_COMPUTE, _STALL = "#4d4d4d", "#D55E00"


def _col(frame: "pd.DataFrame", name: str) -> "pd.Series":
    import numpy as np
    import pandas as pd

    return numeric(frame[name]) if name in frame.columns else pd.Series(np.nan, index=frame.index)


def compute_stall(frame: "pd.DataFrame") -> "tuple[pd.Series, pd.Series]":
    """(compute cycles, stall cycles) of each row of a runs or layers table: ``compute_cycles`` where the engine
    gives it, else ``total_cycles - stall_cycles``; NaN where neither is known."""
    stall = _col(frame, "stall_cycles")
    compute = _col(frame, "compute_cycles")
    compute = compute.fillna(_col(frame, "total_cycles") - stall)
    return compute, stall


def _on_dram_standard(runs: "pd.DataFrame") -> "pd.Series":
    """Runs timed on a DRAM standard: their totals carry the DRAM model's counts."""
    return _col(runs, "row_hit_rate").notna() | _col(runs, "dram_moved_bytes").notna()


def _network_title(net: str, hw_text: str) -> str:
    return f"{net} — {hw_text}"


# ---------------------------------------------------------------------------------------------------------------
@register_figure(
    "latency_breakdown",
    caption="Per-layer latency split into compute cycles and cycles stalled on DRAM, one panel per run that "
            "records both (runs on a DRAM standard, and the capacity model on the ideal pipe); panels of one "
            "network share the y-axis, so DRAM standards compare at a glance.",
    summary="per-layer latency: compute vs DRAM stall cycles")
def fig_latency_breakdown(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Per-layer stacked bars: compute cycles (grey) and DRAM stall cycles (orange), one panel per run with both
    columns, at most :data:`MAX_BREAKDOWN_PANELS` (runs on a DRAM standard first)."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    layers = data.layers
    if len(layers) == 0 or "stall_cycles" not in layers.columns:
        return None
    compute, stall = compute_stall(layers)
    layers = layers.assign(_compute=compute, _stall=stall, _given=_col(layers, "compute_cycles").notna())
    per_run = layers.groupby("run_id").agg(known=("_compute", lambda s: bool(s.notna().all())),
                                           known_s=("_stall", lambda s: bool(s.notna().all())),
                                           given=("_given", "all"), stalled=("_stall", "sum"))
    # a run whose engine gives no compute column and that never stalls (SCALE-Sim's CALC mode) says nothing here
    keep = per_run[per_run["known"] & per_run["known_s"] & (per_run["given"] | (per_run["stalled"] > 0))]
    runs = data.runs[data.runs["run_id"].isin(set(keep.index))]
    if runs.empty:
        return None
    hw_order = hardware_order(data.runs)
    runs = runs.assign(_std=_on_dram_standard(runs), _hw=[hw_order.index(h) for h in runs["hardware"]])
    chosen = runs.sort_values(["_std", "network", "_hw"], ascending=[False, True, True]).head(MAX_BREAKDOWN_PANELS)
    chosen = chosen.sort_values(["network", "_hw"])
    left = len(runs) - len(chosen)
    fig = new_figure(9.0, 1.0 + 1.9 * len(chosen))
    axes = fig.subplots(len(chosen), 1, squeeze=False)[:, 0]
    ymax = {net: float((layers.loc[layers["run_id"].isin(grp["run_id"]), "_compute"]
                        + layers.loc[layers["run_id"].isin(grp["run_id"]), "_stall"]).max())
            for net, grp in chosen.groupby("network")}
    for ax, (_, r) in zip(axes, chosen.iterrows()):
        lay = layers[layers["run_id"] == r["run_id"]].sort_values("layer_index")
        div, label = axis_label("total_cycles", ymax[r["network"]])
        label = label.replace("Total cycles", "Cycles per layer")
        x = lay["layer_index"].astype(int).to_numpy()
        c, s = lay["_compute"].to_numpy(float) / div, lay["_stall"].to_numpy(float) / div
        ax.bar(x, c, 0.85, color=_COMPUTE, linewidth=0)
        ax.bar(x, s, 0.85, bottom=c, color=_STALL, linewidth=0)
        ax.set_ylim(0, ymax[r["network"]] / div * 1.05 or 1)
        ax.set_xlim(x.min() - 0.7, x.max() + 0.7)
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
        total_c, total_s = float(lay["_compute"].sum()), float(lay["_stall"].sum())
        share = 100 * total_s / (total_c + total_s) if total_c + total_s else 0.0
        kind = "" if r["model_kind"] == "capacity" else f" [{kind_title(r['model_kind'])}]"
        ax.set_title(f"{_network_title(r['network'], r['hardware_label'])}{kind}: {share:.1f} % of cycles stalled "
                     "on DRAM", loc="left", fontsize=9)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel("layer index (depth)")
    handles = [Patch(facecolor=_COMPUTE), Patch(facecolor=_STALL)]
    texts = ["compute", "stalled on DRAM"]
    if left:
        handles.append(Patch(facecolor="none", edgecolor="none"))
        texts.append(f"(+{left} more run(s) in layers_table.csv)")
    legend_outside(axes[0], handles, texts)
    return fig


# ---------------------------------------------------------------------------------------------------------------
@register_figure(
    "dram_bandwidth",
    caption="Per-layer DRAM bandwidth achieved (bytes the bursts moved over the layer's DRAM time) against the "
            "standard's peak (thin flat lines), one panel per network, one line per hardware and DRAM standard.",
    summary="per-layer achieved vs peak DRAM bandwidth (runs on a DRAM standard)")
def fig_dram_bandwidth(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Achieved bandwidth per layer along depth and the peak of each run's DRAM, one panel per network (and model
    kind), one line style per hardware configuration (at most :data:`MAX_LAYER_LINES`)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    layers = data.layers
    if len(layers) == 0 or "achieved_bandwidth_gbs" not in layers.columns:
        return None
    layers = layers.assign(_bw=_col(layers, "achieved_bandwidth_gbs"), _peak=_col(layers, "peak_bandwidth_gbs"))
    have = layers.groupby("run_id")["_bw"].apply(lambda s: bool(s.notna().any()))
    layers = layers[layers["run_id"].isin(set(have[have].index))]
    if len(layers) == 0:
        return None
    colors = data.colors()
    labels = hardware_labels(data.runs)
    hw_order = hardware_order(data.runs)
    panels = [(net, kind) for net in data.networks for kind in kinds(layers[layers["network"] == net])]
    fig = new_figure(9.0, 0.9 + 2.4 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (net, kind) in zip(axes, panels):
        sub = layers[(layers["network"] == net) & (layers["model_kind"] == kind)]
        configs = sorted(set(sub["hardware"]), key=lambda h: hw_order.index(h) if h in hw_order else 0)
        shown = configs[:MAX_LAYER_LINES]
        handles, texts = [], []
        top = 0.0
        for ci, hw in enumerate(shown):
            run = sub[sub["run_id"] == sub[sub["hardware"] == hw]["run_id"].iloc[0]].sort_values("layer_index")
            style, marker = LINESTYLES[ci % len(LINESTYLES)], MARKERS[ci % len(MARKERS)]
            ax.plot(run["layer_index"], run["_bw"], style, color=colors[net], marker=marker, markersize=2.5,
                    linewidth=1.0, alpha=0.9 if ci == 0 else 0.75)
            peak = run["_peak"].dropna()
            peak_text = ""
            if len(peak):
                ax.axhline(float(peak.max()), color=colors[net], linestyle=style, linewidth=0.7, alpha=0.6)
                peak_text = f" (peak {float(peak.max()):g} GB/s)"
                top = max(top, float(peak.max()))
            top = max(top, float(run["_bw"].max()))
            handles.append(Line2D([], [], linestyle=style, color=colors[net], marker=marker, markersize=4))
            texts.append(labels.get(hw, hw) + peak_text)
        if len(configs) > len(shown):
            handles.append(Line2D([], [], linestyle="none"))
            texts.append(f"(+{len(configs) - len(shown)} more in layers_table.csv)")
        ax.set_ylim(0, top * 1.08 or 1)
        ax.set_ylabel("DRAM bandwidth (GB/s)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{net}: achieved DRAM bandwidth per layer (flat lines: peak)"
                     + ("" if kind == "capacity" else f" — {kind_title(kind)}"), loc="left")
        legend_outside(ax, handles, texts, title="hardware and DRAM")
    axes[-1].set_xlabel("layer index (depth)")
    return fig


# ---------------------------------------------------------------------------------------------------------------
@register_figure(
    "dram_standards",
    caption="Each network on each DRAM: latency split into compute and DRAM stalls, row-buffer hit rate, and DRAM "
            "energy by command (ACT, PRE, RD, WR, REF, standby), grouped by hardware and DRAM; drawn when at least "
            "one run is on a DRAM standard (the ideal pipe has no rows or commands: its bars are latency only).",
    summary="networks across DRAM standards: latency split, row-hit rate, energy by command")
def fig_dram_standards(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Network totals across DRAMs: (1) latency as compute + stall (ms at the run's clock), (2) row-buffer hit
    rate, (3) DRAM energy by command; one bar per network in each hardware group (the network's colour), one
    set of panels per model kind that has a run on a DRAM standard."""
    from matplotlib.patches import Patch

    runs = data.runs
    std = _on_dram_standard(runs)
    if not std.any():
        return None
    compute, stall = compute_stall(runs)
    clock = _col(runs, "clock_mhz").fillna(1000.0)
    runs = runs.assign(_compute_ms=compute / clock / 1e3, _stall_ms=stall / clock / 1e3, _std=std,
                       _hit=_col(runs, "row_hit_rate"))
    energy_cols = [(f"dram_energy_{k}_pj", text) for k, text in ENERGY_COMPONENTS]
    kind_list = [k for k in kinds(runs) if runs.loc[runs["model_kind"] == k, "_std"].any()]
    colors = data.colors()
    labels = hardware_labels(runs)
    hw_all = hardware_order(runs)
    panels = [(kind, what) for kind in kind_list for what in ("latency", "hit", "energy")]
    n_nets = runs.loc[runs["model_kind"].isin(kind_list), "network"].nunique()
    fig = new_figure(bar_figure_width(len(hw_all), n_nets) + 1.0, 1.6 + 2.3 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (kind, what) in zip(axes, panels):
        sub = runs[runs["model_kind"] == kind]
        if what == "latency":
            sub = sub[sub["_compute_ms"].notna() & sub["_stall_ms"].notna()]
        else:
            sub = sub[sub["_std"]]
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        nets = sorted(sub["network"].unique())
        for x, bar_width, row, net in _grouped_bars(sub, hws, nets):
            r, c = row.iloc[0], colors[net]
            if what == "latency":
                ax.bar(x, r["_compute_ms"], bar_width, color=c, edgecolor=c)
                ax.bar(x, r["_stall_ms"], bar_width, bottom=r["_compute_ms"], color=tint(c, 0.7),
                       edgecolor=c, hatch="///")
            elif what == "hit":
                ax.bar(x, 100 * float(r["_hit"]), bar_width, color=c, edgecolor=c)
            else:
                bottom = 0.0
                for (col, _), (white, hatch) in zip(energy_cols, _ENERGY_STYLE):
                    v = float(numeric(row[col]).iloc[0]) / 1e6 if col in row.columns else float("nan")
                    if v == v and v > 0:
                        ax.bar(x, v, bar_width, bottom=bottom, color=tint(c, white), edgecolor=c,
                               hatch=hatch, linewidth=0.6)
                        bottom += v
        _hardware_axis(ax, hws, labels)
        suffix = "" if kind_list == ["capacity"] else f" — {kind_title(kind)}"
        net_handles = [Patch(facecolor=colors[n], edgecolor=colors[n]) for n in nets]
        if what == "latency":
            ax.set_ylabel("latency (ms)")
            ax.set_title(f"Latency per network: compute + stalled on DRAM{suffix}", loc="left")
            legend_outside(ax, net_handles + [Patch(facecolor="#777777"), Patch(facecolor=tint("#777777", 0.7),
                                                                              edgecolor="#555555", hatch="///")],
                           nets + ["compute", "stalled on DRAM"])
        elif what == "hit":
            ax.set_ylabel("row-buffer hits (%)")
            ax.set_ylim(0, 105)
            ax.set_title(f"Row-buffer hit rate (hits / all accesses){suffix}", loc="left")
            legend_outside(ax, net_handles, nets)
        else:
            ax.set_ylabel("DRAM energy (µJ)")
            ax.set_title(f"DRAM energy by command{suffix}", loc="left")
            legend_outside(ax, net_handles + [Patch(facecolor=tint("#777777", w), edgecolor="#555555", hatch=h)
                                              for w, h in _ENERGY_STYLE],
                           nets + [text for _, text in energy_cols], ncol=1)
    axes[-1].set_xlabel("hardware (array and dataflow, SRAM IFMAP/FILTER/OFMAP, DRAM)")
    return fig


def dram_columns(runs: "pd.DataFrame") -> list[tuple[str, str, str]]:
    """(column, header, format) of the DRAM totals present in ``runs``, for the runs table."""
    out = []
    for col, head, fmt in (("dram_cycles", "DRAM cycles", "{:,.0f}"), ("stall_cycles", "stall cycles", "{:,.0f}"),
                           ("row_hit_rate", "row hits (%)", "pct"),
                           ("achieved_bandwidth_gbs", "achieved GB/s", "{:,.2f}"),
                           ("peak_bandwidth_gbs", "peak GB/s", "{:,.1f}"),
                           ("dram_energy_pj", "DRAM energy (µJ)", "uj")):
        if col in runs.columns and numeric(runs[col]).notna().any():
            out.append((col, head, fmt))
    return out
