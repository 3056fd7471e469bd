"""Every figure of a report, in ONE registry: name -> drawing function + caption.

A figure is a function ``(data: ReportData, metric: str) -> Figure | None`` (None: the runs cannot support it,
e.g. a sweep with one point) registered with :func:`register_figure`::

    @register_figure("latency_breakdown", caption="Per-layer DRAM latency of {metric}...",
                     summary="latency per layer, split by cause")
    def fig_latency_breakdown(data, metric):
        ...

That is all adding a figure takes: :func:`draw_figures` draws every registered figure, ``trafficsim plot --help``
lists them, and the report page shows each with its caption (``{metric}`` in a caption stands for the chosen
metric's name). A figure defined in another module registers the same way; import that module at the bottom of
this one.

Figures are plain :class:`matplotlib.figure.Figure` objects on the Agg canvas: pyplot and the user's global
backend are never touched. matplotlib is imported inside the functions, so importing this module stays light.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .loading import OPERANDS, ReportData, numeric, operand_bytes_column
from .style import (LINESTYLES, MARKERS, OPERAND_STYLE, bar_figure_width, legend_outside, new_figure, rc_style,
                    tint)
from .tables import (SWEEP_AXES, check_metric, compatible_first, engine_pairs, hardware_labels, hardware_order,
                     kind_title, kinds, sweeps)
from .units import axis_label, metric_info

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DrawFn = Callable[[ReportData, str], "Figure | None"]

# layer-name tokens that open a dense block: HarDNet's HarDBlock ModuleList ("base.4.layers.3.conv"),
# torchvision DenseNet ("features.denseblock2.denselayer5.conv1")
_BLOCK_RE = re.compile(r"^(.*?(?:^|[._/])(?:denseblock\d+|hardblock\d*|hdb\d+|layers))(?=[._/]|$)", re.IGNORECASE)
MAX_LAYER_LINES = 6  # hardware configurations drawn per network in the per-layer figure
# Fewest networks for a least-squares line and Pearson r in the CIO figure. With n points r has n - 2 degrees
# of freedom: at n = 3 even r = -0.735 is what unrelated data give half the time (two-sided p = 0.47), and two
# points always lie on a line. From n = 5 on, |r| > 0.88 is needed for p < 0.05, so a printed r can mean
# something; below that the points are drawn without a fit.
MIN_NETWORKS_FOR_FIT = 5


@dataclass(frozen=True)
class FigureInfo:
    """One registered figure: ``name`` (also the file name), ``draw`` (data, metric) -> Figure or None,
    ``caption`` for the page (``{metric}`` is replaced by the metric's name) and ``summary`` for --help."""

    name: str
    draw: DrawFn
    caption: str
    summary: str

    def caption_for(self, metric: str) -> str:
        return self.caption.replace("{metric}", metric_info(metric)[0].lower())


FIGURES: dict[str, FigureInfo] = {}


def register_figure(name: str, *, caption: str, summary: str) -> Callable[[DrawFn], DrawFn]:
    """Register the decorated function as figure ``name`` (order of registration = order in the report)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"figure name must be lower-case letters, digits and '_', got {name!r}")

    def decorate(fn: DrawFn) -> DrawFn:
        if name in FIGURES and FIGURES[name].draw is not fn:
            raise ValueError(f"figure {name!r} is already registered")
        FIGURES[name] = FigureInfo(name, fn, caption, summary)
        return fn

    return decorate


def figure_names() -> list[str]:
    return list(FIGURES)


def captions(metric: str = "dram_bytes") -> dict[str, str]:
    """Figure name -> caption with the metric's name filled in."""
    return {name: info.caption_for(metric) for name, info in FIGURES.items()}


def draw_figures(data: ReportData, metric: str = "dram_bytes",
                 names: Sequence[str] | None = None) -> dict[str, "Figure"]:
    """Every registered figure (or those in ``names``) that the data supports, by name; figures without data
    (no sweep, fewer than two networks for the CIO figure, one engine only) are left out."""
    check_metric(data, metric)
    out = {}
    note = fixes_note(data)
    with rc_style():
        for name, info in FIGURES.items():
            if names is not None and name not in names:
                continue
            fig = info.draw(data, metric)
            if fig is not None:
                if note:
                    fig.suptitle(note, x=0.01, ha="left", fontsize=8, color="#8a4b00")
                out[name] = fig
    return out


def fixes_note(data: ReportData) -> str:
    """The note every figure carries when the report mixes runs made with SCALE-Sim fixes and runs without
    ("" otherwise): labels name the fixes, but a reader comparing bars must not take them for SCALE-Sim's."""
    if "fixes" not in data.runs.columns:
        return ""
    fixed = data.runs["fixes"].fillna("").astype(str).str.len() > 0
    if not fixed.any() or fixed.all():
        return ""
    return ("Note: runs labelled 'SCALE-Sim fixes: ...' are SCALE-Sim's model with bugs fixed, not SCALE-Sim "
            "3.0.0's numbers.")


def save_figure(fig: "Figure", out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``name.png`` (150 dpi) and ``name.svg`` into ``out_dir`` atomically; return both paths."""
    from ..files import atomic_write_bytes

    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    with rc_style():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
        atomic_write_bytes(png, buf.getvalue())
        # the layout is settled by the first save; freezing it halves the cost of the second
        engine = fig.get_layout_engine()
        fig.set_layout_engine("none")
        try:
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
            atomic_write_bytes(svg, buf.getvalue())
        finally:
            fig.set_layout_engine(engine)
    return png, svg


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------
def _tick(label: str) -> str:
    """A readable hardware label on two or three short lines."""
    return label.replace(", ", "\n")


def _hardware_axis(ax: Any, hws: list[str], labels: dict[str, str]) -> None:
    many = len(hws) > 4
    ax.set_xticks(range(len(hws)), [_tick(labels.get(h, h)) for h in hws], rotation=25 if many else 0,
                  ha="right" if many else "center", fontsize=7 if many else 8)
    ax.set_xlim(-0.5 - 0.4 * (len(hws) == 1), len(hws) - 0.5 + 0.4 * (len(hws) == 1))
    ax.grid(axis="x", visible=False)


def _grouped_bars(sub: Any, hws: list[str], nets: list[str]) -> Any:
    """``(x, bar_width, rows, net)`` for each network present in each hardware group of ``sub``: the networks'
    bars side by side within a group centred on the group's index (the axis :func:`_hardware_axis` labels)."""
    group = min(0.8, 0.22 * len(nets))
    width = group / len(nets)
    for gi, hw in enumerate(hws):
        for ni, net in enumerate(nets):
            rows = sub[(sub["hardware"] == hw) & (sub["network"] == net)]
            if not rows.empty:
                yield gi - group / 2 + width * (ni + 0.5), width * 0.92, rows, net


_HARDWARE_AXIS_TITLE = "hardware (array and dataflow, SRAM IFMAP/FILTER/OFMAP)"


# ---------------------------------------------------------------------------------------------------------------
# figures, in report order
# ---------------------------------------------------------------------------------------------------------------
@register_figure(
    "traffic_by_operand",
    caption="DRAM traffic per network, stacked by operand (solid: IFMAP reads, hatched: FILTER reads, dotted: "
            "OFMAP writes), grouped by hardware.",
    summary="DRAM traffic per network, stacked by operand, grouped by hardware")
def fig_traffic_by_operand(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """DRAM traffic (bytes) per network, stacked by operand, grouped by hardware; one panel per engine kind."""
    from matplotlib.patches import Patch

    runs = compatible_first(data.runs)
    colors = data.colors()
    kind_list = kinds(runs)
    hw_all = hardware_order(runs)
    labels = hardware_labels(runs)
    fig = new_figure(bar_figure_width(len(hw_all), len(data.networks)), 2.2 + 2.6 * len(kind_list))
    axes = fig.subplots(len(kind_list), 1, squeeze=False)[:, 0]
    for ax, kind in zip(axes, kind_list):
        sub = runs[runs["model_kind"] == kind]
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        nets = sorted(sub["network"].unique())
        div, label = axis_label("dram_bytes", float(sub["dram_bytes"].max()))
        for x, bar_width, rows, net in _grouped_bars(sub, hws, nets):
            r = rows.iloc[0]
            bottom = 0.0
            for (col, _), (white, hatch) in zip(OPERANDS, OPERAND_STYLE):
                v = float(r[operand_bytes_column(col)]) / div
                ax.bar(x, v, bar_width, bottom=bottom, color=tint(colors[net], white), hatch=hatch,
                       edgecolor=colors[net], linewidth=0.6)
                bottom += v
        _hardware_axis(ax, hws, labels)
        ax.set_ylabel(label)
        ax.set_title(f"DRAM traffic per network by operand — {kind_title(kind)}")
        net_handles = [Patch(facecolor=colors[n], edgecolor=colors[n]) for n in nets]
        op_handles = [Patch(facecolor=tint("#777777", w), edgecolor="#555555", hatch=h) for w, h in OPERAND_STYLE]
        legend_outside(ax, net_handles + op_handles, nets + [lbl for _, lbl in OPERANDS])
    axes[-1].set_xlabel(_HARDWARE_AXIS_TITLE)
    return fig


@register_figure(
    "cycles",
    caption="Total cycles per network, grouped by hardware (and latency where the capacity model gives it).",
    summary="total cycles (and capacity-model latency) per network and hardware")
def fig_cycles(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Total cycles per network (grouped by hardware), and latency where the capacity model gives it."""
    from matplotlib.patches import Patch

    runs = compatible_first(data.runs)
    colors = data.colors()
    panels: list[tuple[str, str]] = [(k, "total_cycles") for k in kinds(runs)]
    if "latency_ms" in runs.columns and numeric(runs["latency_ms"]).notna().any():
        panels += [(k, "latency_ms") for k in kinds(runs[numeric(runs["latency_ms"]).notna()])]
    hw_all = hardware_order(runs)
    labels = hardware_labels(runs)
    fig = new_figure(bar_figure_width(len(hw_all), len(data.networks)), 1.8 + 2.4 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (kind, col) in zip(axes, panels):
        sub = runs[(runs["model_kind"] == kind) & numeric(runs[col]).notna()]
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        nets = sorted(sub["network"].unique())
        div, label = axis_label(col, float(numeric(sub[col]).max()))
        for x, bar_width, rows, net in _grouped_bars(sub, hws, nets):
            ax.bar(x, float(rows.iloc[0][col]) / div, bar_width, color=colors[net], edgecolor=colors[net])
        _hardware_axis(ax, hws, labels)
        ax.set_ylabel(label)
        ax.set_title(f"{metric_info(col)[0]} per network — {kind_title(kind)}")
        legend_outside(ax, [Patch(facecolor=colors[n]) for n in nets], nets)
    axes[-1].set_xlabel(_HARDWARE_AXIS_TITLE)
    return fig


def layer_blocks(names: Sequence[str]) -> list[tuple[int, int, str]]:
    """Dense blocks along depth as ``(first_index, last_index, label)``, from layer names of HarDNet
    (``...layers.<i>...`` inside a HarDBlock) and DenseNet (``...denseblock<k>...``); empty when fewer than
    two blocks are found (other networks)."""
    blocks: list[tuple[int, int, str]] = []
    current, start = None, 0
    keys = []
    for name in names:
        m = _BLOCK_RE.match(str(name))
        keys.append(m.group(1) if m else None)
    for i, key in enumerate([*keys, None]):
        if key != current:
            if current is not None:
                blocks.append((start, i - 1, ""))
            current, start = key, i
    if len(blocks) < 2:
        return []
    return [(a, b, f"B{k + 1}") for k, (a, b, _) in enumerate(blocks)]


@register_figure(
    "layers",
    caption="Per-layer {metric} along depth for each network; shaded spans mark the dense blocks of HarDNet and "
            "DenseNet.",
    summary="per-layer --metric along depth, dense blocks shaded")
def fig_layers(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Per-layer ``metric`` along depth, one panel per network, one line per hardware; dense blocks of HarDNet
    and DenseNet shaded and labelled. Runs without a usable layer table are left out."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    layers = data.layers
    if metric not in layers.columns:
        metric = "dram_bytes"
    if len(layers) == 0 or metric not in layers.columns:
        return None
    colors = data.colors()
    labels = hardware_labels(data.runs)
    nets = [n for n in data.networks if n in set(layers["network"])]
    fig = new_figure(9.0, 0.9 + 2.3 * len(nets))
    axes = fig.subplots(len(nets), 1, squeeze=False)[:, 0]
    hw_order = hardware_order(data.runs)
    for ax, net in zip(axes, nets):
        sub = layers[layers["network"] == net]
        div, label = axis_label(metric, float(numeric(sub[metric]).max()))
        # one model kind per panel (compatible first): the engines figure compares the kinds
        kind = kinds(sub)[0]
        sub = sub[sub["model_kind"] == kind]
        configs = sorted(set(sub["hardware"]), key=lambda h: hw_order.index(h) if h in hw_order else 0)
        shown = configs[:MAX_LAYER_LINES]  # more lines than this are unreadable; the CSVs have them all
        handles, texts = [], []
        for ci, hw in enumerate(shown):
            run_ids = sub[sub["hardware"] == hw]["run_id"].unique()
            run = sub[sub["run_id"] == run_ids[0]].sort_values("layer_index")  # compat and scalesim: same numbers
            style, marker = LINESTYLES[ci % len(LINESTYLES)], MARKERS[ci % len(MARKERS)]
            ax.plot(run["layer_index"], numeric(run[metric]) / div, style, color=colors[net], linewidth=1.0,
                    marker=marker, markersize=2.5, alpha=0.9 if ci == 0 else 0.75)
            handles.append(Line2D([], [], linestyle=style, color=colors[net], marker=marker, markersize=4))
            texts.append(labels.get(hw, hw))
        first = sub[sub["run_id"] == sub["run_id"].iloc[0]].sort_values("layer_index")
        blocks = layer_blocks(list(first["layer"]))
        idx = [int(i) for i in first["layer_index"]]
        for a, b, name in blocks:
            ax.axvspan(idx[a] - 0.5, idx[b] + 0.5, color="#999999", alpha=0.13, linewidth=0)
            ax.text((idx[a] + idx[b]) / 2, 1.01, name, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=7, color="#444444")
        ax.set_xlim(-0.5, max(idx) + 0.5 if idx else 0.5)
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.set_title(f"{net}: {metric_info(metric)[0]} per layer"
                     + (" (shaded: dense blocks)" if blocks else ""), loc="left", pad=12 if blocks else 6)
        if len(configs) > len(shown):
            handles.append(Line2D([], [], linestyle="none"))
            texts.append(f"(+{len(configs) - len(shown)} more in layers_table.csv)")
        legend_outside(ax, handles, texts, title=kind_title(kind))
    axes[-1].set_xlabel("layer index (depth, convolution and linear layers)")
    return fig


@register_figure(
    "cio",
    caption="Network {metric} against CIO (feature-map elements read and written by convolution layers), one "
            f"point per network; a least-squares line and Pearson r per hardware configuration from "
            f"{MIN_NETWORKS_FOR_FIT} networks on.",
    summary=f"network --metric against CIO (a fit and Pearson r from {MIN_NETWORKS_FOR_FIT} networks)")
def fig_cio(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Network ``metric`` against CIO (input + output feature-map elements) across networks: one point per
    run; a least-squares line and Pearson r per hardware configuration with at least
    :data:`MIN_NETWORKS_FOR_FIT` networks. A panel per model kind that has at least two networks."""
    import numpy as np
    from matplotlib.lines import Line2D

    runs = compatible_first(data.runs)
    if "cio" not in runs.columns or metric not in runs.columns:
        return None
    runs = runs[numeric(runs["cio"]).notna() & numeric(runs[metric]).notna()]
    kind_list = [k for k in kinds(runs) if runs.loc[runs["model_kind"] == k, "network"].nunique() >= 2]
    if not kind_list:
        return None
    colors = data.colors()
    labels = hardware_labels(runs)
    fig = new_figure(8.5, 0.8 + 3.4 * len(kind_list))
    axes = fig.subplots(len(kind_list), 1, squeeze=False)[:, 0]
    hw_all = hardware_order(runs)
    for ax, kind in zip(axes, kind_list):
        sub = runs[runs["model_kind"] == kind]
        div, label = axis_label(metric, float(numeric(sub[metric]).max()))
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        handles, texts = [], []
        for hi, hw in enumerate(hws):
            pts = sub[sub["hardware"] == hw].sort_values("cio")
            x = numeric(pts["cio"]).to_numpy(dtype=float) / 1e6
            y = numeric(pts[metric]).to_numpy(dtype=float) / div
            marker = MARKERS[hi % len(MARKERS)]
            ax.scatter(x, y, c=[colors[n] for n in pts["network"]], marker=marker, s=36, zorder=3,
                       edgecolors="black", linewidths=0.4)
            text = labels.get(hw, hw)
            n = len(pts)
            fitted = n >= MIN_NETWORKS_FOR_FIT and np.ptp(x) > 0 and np.ptp(y) > 0
            if fitted:
                slope, icpt = np.polyfit(x, y, 1)
                xs = np.linspace(x.min(), x.max(), 20)
                ax.plot(xs, slope * xs + icpt, LINESTYLES[hi % len(LINESTYLES)], color="#555555", linewidth=0.9)
                text += f": r = {np.corrcoef(x, y)[0, 1]:.3f} (n={n})"
            else:
                text += f": n={n}, no fit" + (f" (needs {MIN_NETWORKS_FOR_FIT})" if n < MIN_NETWORKS_FOR_FIT else "")
            handles.append(Line2D([], [], color="#555555", linestyle=LINESTYLES[hi % len(LINESTYLES)] if fitted
                                  else "none", marker=marker, markerfacecolor="white", markeredgecolor="black"))
            texts.append(text)
        # name each network once, beside its highest point
        for net, pts in sub.groupby("network"):
            top = pts.loc[numeric(pts[metric]).idxmax()]
            ax.annotate(net, (float(top["cio"]) / 1e6, float(top[metric]) / div), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7, color=colors[net])
        ax.set_xlabel("CIO (millions of feature-map elements read + written by conv layers)")
        ax.set_ylabel(label)
        ax.set_title(f"{metric_info(metric)[0]} against CIO — {kind_title(kind)}", loc="left")
        ax.set_ylim(bottom=0)
        ax.margins(x=0.15)
        legend_outside(ax, handles, texts, title="hardware")
    return fig


def fig_sweep(data: ReportData, axis: str, metric: str = "dram_bytes") -> "Figure | None":
    """``metric`` and total cycles against array size or SRAM size, one line per network (and per other
    fixed setting); ``None`` when the runs form no such sweep."""
    from matplotlib.lines import Line2D

    runs = compatible_first(data.runs)
    groups = sweeps(runs, axis)
    if not groups:
        return None
    xcol, tick, _, xtitle = SWEEP_AXES[axis]
    colors = data.colors()
    metric_cols = [metric] + (["total_cycles"] if metric != "total_cycles" else [])
    fig = new_figure(11.0 if len(metric_cols) == 2 else 7.0, 3.8)
    axes = fig.subplots(1, len(metric_cols), squeeze=False)[0]
    # linestyle per fixed setting other than the network, so two sweeps of one network stay apart
    others = sorted({k[1:] for k, _ in groups})
    handles, texts = [], []
    ticks: dict[float, str] = {}
    for key, pts in groups:
        net = key[0]
        oi = others.index(key[1:])
        style = LINESTYLES[oi % len(LINESTYLES)]
        for ax, m in zip(axes, metric_cols):
            div, _ = axis_label(m, float(numeric(runs[m]).max()))
            ax.plot(pts[xcol], numeric(pts[m]) / div, style, marker=MARKERS[oi % len(MARKERS)],
                    color=colors[net], linewidth=1.3, markersize=4)
        for _, r in pts.iterrows():
            ticks[float(r[xcol])] = tick(r)
        hw_rest = _sweep_rest_label(pts.iloc[0], axis)
        handles.append(Line2D([], [], color=colors[net], linestyle=style, marker=MARKERS[oi % len(MARKERS)]))
        texts.append(f"{net} — {hw_rest}" if len(others) > 1 else net)
    for ax, m in zip(axes, metric_cols):
        _, label = axis_label(m, float(numeric(runs[m]).max()))
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(ticks), list(ticks.values()), rotation=30 if len(ticks) > 4 else 0)
        ax.minorticks_off()
        ax.set_xlabel(xtitle)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{metric_info(m)[0]} against {'array size' if axis == 'array' else 'SRAM size'}", loc="left")
    fixed_note = _sweep_rest_label(groups[0][1].iloc[0], axis) if len(others) == 1 else None
    legend_outside(axes[-1], handles, texts, title=f"network ({fixed_note})" if fixed_note else "network")
    return fig


def _sweep_rest_label(r: Any, axis: str) -> str:
    eng = str(r["engine"])
    extra = f", {r['options']}" if r.get("options") else ""
    if axis == "array":
        return (f"{str(r['dataflow']).upper()}, SRAM {int(r['ifmap_sram_kb'])}/{int(r['filter_sram_kb'])}/"
                f"{int(r['ofmap_sram_kb'])} kB, {eng}{extra}")
    return f"{int(r['array_rows'])}×{int(r['array_cols'])} {str(r['dataflow']).upper()}, {eng}{extra}"


@register_figure("sweep_array", caption="{metric} and total cycles against array size, one line per network.",
                 summary="--metric and cycles against array size (runs differing only in array)")
def fig_sweep_array(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    return fig_sweep(data, "array", metric)


@register_figure("sweep_sram", caption="{metric} and total cycles against SRAM size, one line per network.",
                 summary="--metric and cycles against SRAM size (runs differing only in SRAM)")
def fig_sweep_sram(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    return fig_sweep(data, "sram", metric)


@register_figure("engines", caption="SCALE-Sim-compatible vs capacity-aware model for the same network and hardware.",
                 summary="SCALE-Sim-compatible vs capacity-aware model where both ran")
def fig_engines(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """SCALE-Sim-compatible vs capacity-aware model side by side (DRAM traffic and cycles) where both exist."""
    from matplotlib.patches import Patch

    from .tables import MODEL_KIND_LABEL

    pairs = engine_pairs(data.runs)
    if pairs.empty:
        return None
    colors = data.colors()
    hw_order = hardware_order(data.runs)
    pairs = pairs.assign(_hw=[hw_order.index(h) if h in hw_order else len(hw_order) for h in pairs["hardware"]])
    pairs = pairs.sort_values(["network", "_hw"]).reset_index(drop=True)
    fig = new_figure(max(7.0, 1.5 + 0.95 * len(pairs)), 6.6)
    axes = fig.subplots(2, 1, squeeze=False)[:, 0]
    for ax, m in zip(axes, ("dram_bytes", "total_cycles")):
        vmax = float(max(pairs[f"{m}_compatible"].max(), pairs[f"{m}_capacity"].max()))
        div, label = axis_label(m, vmax)
        for i, (_, r) in enumerate(pairs.iterrows()):
            c = colors[r["network"]]
            a, b = float(r[f"{m}_compatible"]), float(r[f"{m}_capacity"])
            ax.bar(i - 0.2, a / div, 0.38, color=c, edgecolor=c)
            ax.bar(i + 0.2, b / div, 0.38, color=tint(c, 0.6), edgecolor=c, hatch="xx")
            if a > 0:
                ax.annotate(f"×{b / a:.2f}", (i + 0.2, b / div), textcoords="offset points", xytext=(0, 2),
                            ha="center", fontsize=7)
        many = len(pairs) > 4
        ax.set_xticks(range(len(pairs)), [f"{n}\n{_tick(h)}" for n, h in zip(pairs["network"], pairs["hardware_label"])],
                      rotation=30 if many else 0, ha="right" if many else "center", fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
        ax.set_title(f"{metric_info(m)[0]}: compatible vs capacity-aware (label: capacity / compatible)", loc="left")
        legend_outside(ax, [Patch(facecolor="#777777"), Patch(facecolor=tint("#777777", 0.6), edgecolor="#555555",
                                                                hatch="xx")],
                       [MODEL_KIND_LABEL["compatible"], MODEL_KIND_LABEL["capacity"]])
    return fig


# figures defined in other modules register themselves when imported (the order of the page follows)
from . import figures_dram  # noqa: E402,F401
from . import figures_llm  # noqa: E402,F401  (LLM study: bytes per token by class, intensity)
