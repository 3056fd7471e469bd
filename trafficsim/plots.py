"""Figures and the report page from run folders.

:func:`load` reads every run folder under a directory (through :func:`trafficsim.runs.load_runs`) into tidy
tables with a few derived columns; the ``fig_*`` functions each draw one figure from those tables;
:func:`plot` returns them all as matplotlib Figures (for notebooks) and, with ``out=``, writes PNG and SVG
files, the tidy tables and ``index.html`` (see :mod:`trafficsim.report_page`).

Figures are plain :class:`matplotlib.figure.Figure` objects rendered with the Agg canvas: pyplot and the
user's global backend are never touched. matplotlib and pandas are imported inside the functions, so
``import trafficsim.plots`` stays light.

Colours: Okabe-Ito, then Paul Tol's "muted" scheme (both colour-blind safe); each network keeps one colour in
every figure of a report. Operands are told apart by tint and hatch, engines by hatch.
"""
from __future__ import annotations

import fnmatch
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .errors import InputError, ResultsError

if TYPE_CHECKING:  # heavy imports stay lazy
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe & Ito (2008) without yellow first (poor on white), then Tol's "muted" scheme.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
                            "#332288", "#882255", "#44AA99", "#999933", "#AA4499", "#117733", "#DDCC77",
                            "#88CCEE", "#CC6677", "#F0E442")
OPERANDS: tuple[tuple[str, str], ...] = (("dram_ifmap_reads", "IFMAP reads"), ("dram_filter_reads", "FILTER reads"),
                                         ("dram_ofmap_writes", "OFMAP writes"))
# per operand: share of white mixed into the network colour, and hatch
_OPERAND_STYLE: tuple[tuple[float, str], ...] = ((0.0, ""), (0.45, "///"), (0.75, ".."))
_LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
# model kinds by engine family (trafficsim.engines registry): SCALE-Sim 3.0.0's numbers (identical by
# design across the family's engines) vs the capacity-aware model; other families are their own kind
_FAMILY_KIND = {"scalesim": "compatible", "capacity": "capacity"}
MODEL_KIND_LABEL = {"compatible": "SCALE-Sim-compatible model", "capacity": "capacity-aware model"}

# metric -> (readable name, unit); counts in words unless named _bytes
METRICS: dict[str, tuple[str, str]] = {
    "dram_bytes": ("DRAM traffic", "bytes"),
    "dram_words": ("DRAM traffic", "words"),
    "dram_ifmap_reads": ("DRAM IFMAP reads", "words"),
    "dram_filter_reads": ("DRAM FILTER reads", "words"),
    "dram_ofmap_writes": ("DRAM OFMAP writes", "words"),
    "sram_ifmap_reads": ("SRAM IFMAP reads", "words"),
    "sram_filter_reads": ("SRAM FILTER reads", "words"),
    "sram_ofmap_writes": ("SRAM OFMAP writes", "words"),
    "total_cycles": ("Total cycles", "cycles"),
    "stall_cycles": ("Stall cycles", "cycles"),
    "macs": ("MACs", "MACs"),
    "latency_ms": ("Latency", "ms"),
    "energy_uj": ("Energy", "µJ"),
}
REQUIRED_TOTALS: tuple[str, ...] = ("total_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
                                    "dram_words", "dram_bytes")
# files that make a folder look like a run folder (used to spot runs whose summary.json is missing)
_RUN_FILES: tuple[str, ...] = ("layers.csv", "hardware.cfg", "COMPUTE_REPORT.csv", "topology.csv")
# layer-name tokens that open a dense block: HarDNet's HarDBlock ModuleList ("base.4.layers.3.conv"),
# torchvision DenseNet ("features.denseblock2.denselayer5.conv1")
_BLOCK_RE = re.compile(r"^(.*?(?:^|[._/])(?:denseblock\d+|hardblock\d*|hdb\d+|layers))(?=[._/]|$)", re.IGNORECASE)
DEFAULT_INPUT = "3x224x224"
MAX_LAYER_LINES = 6  # hardware configurations drawn per network in the per-layer figure


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


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
def network_colors(networks: Iterable[str]) -> dict[str, str]:
    """Colour-blind-safe colours for networks in sorted order (cycling after 17)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(networks)))}


def hardware_label(row: Any) -> str:
    """``32x32-ws-64.64.64kB`` (plus ``-user`` for USER bandwidth, ``-2B`` for 2-byte words) from a runs row."""
    label = (f"{int(row['array_rows'])}x{int(row['array_cols'])}-{row['dataflow']}-"
             f"{int(row['ifmap_sram_kb'])}.{int(row['filter_sram_kb'])}.{int(row['ofmap_sram_kb'])}kB")
    if row.get("bandwidth_mode") == "USER":
        label += "-user"
    wb = row.get("word_bytes", 1)
    if wb == wb and int(wb) != 1:  # NaN-safe
        label += f"-{int(wb)}B"
    return label


def _model_kind(engine: str) -> str:
    from .engines import family_of

    family = family_of(engine)
    return _FAMILY_KIND.get(family, family)


def _matches(model: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, p) for p in patterns)


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

    ``models`` filters by model name (shell patterns such as ``hardnet*`` allowed). Folders that cannot be
    read, runs missing required totals, and layer tables that disagree with their totals are skipped with
    a warning (collected in ``ReportData.warnings`` and also issued with :func:`warnings.warn`). Raises
    :class:`~trafficsim.errors.ResultsError` when the directory is missing or holds no usable run.
    """
    import pandas as pd

    from .runs import load_runs

    directory = Path(directory)
    if not directory.exists():
        raise ResultsError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise ResultsError(f"{directory}: not a directory")
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs, layers = load_runs(directory)
    messages += [str(w.message) for w in caught]
    messages += [f"skipping {p}: no summary.json (an interrupted run or another tool's output)"
                 for p in _orphan_run_folders(directory)]
    if len(runs) == 0:
        for m in messages:
            warnings.warn(m, stacklevel=2)
        hint = f" ({len(messages)} folder(s) skipped)" if messages else ""
        raise ResultsError(f"{directory}: no run folders found{hint}; create some with 'trafficsim run MODEL'")

    # runs missing the totals every figure needs (e.g. written by an older format)
    missing = [k for k in REQUIRED_TOTALS if k not in runs.columns]
    bad = pd.Series(False, index=runs.index)
    for k in REQUIRED_TOTALS:
        if k in runs.columns:
            bad |= pd.to_numeric(runs[k], errors="coerce").isna()
    if missing:
        bad[:] = True
    for _, r in runs[bad].iterrows():
        messages.append(f"skipping {r['path']}: summary.json lacks totals "
                        f"({', '.join(missing) or 'non-numeric values'})")
    runs = runs[~bad].copy()

    # the same run id found twice (e.g. copied folders): keep the last one found
    dup = runs.duplicated("run_id", keep="last")
    for _, r in runs[dup].iterrows():
        messages.append(f"skipping {r['path']}: duplicate of run {r['run_id']} found elsewhere")
    dup_ids = set(runs.loc[dup, "run_id"])
    runs = runs[~dup].copy()
    if dup_ids and len(layers):
        layers = _reload_layers(layers, runs, dup_ids)

    runs = _select_models(runs, models, str(directory))
    runs = _derive_run_columns(runs)
    layers = _check_layers(layers, runs, messages)
    for m in messages:
        warnings.warn(m, stacklevel=2)
    if len(runs) == 0:
        raise ResultsError(f"{directory}: no usable run folders ({len(messages)} skipped)")
    return ReportData(directory=directory, runs=runs.reset_index(drop=True), layers=layers, warnings=messages)


def _select_models(runs: "pd.DataFrame", models: Sequence[str] | None, where: str) -> "pd.DataFrame":
    if not models:
        return runs
    pats = [p.strip() for m in models for p in str(m).split(",") if p.strip()]
    sel = runs["model"].astype(str).map(lambda m: _matches(m, pats))
    if not sel.any():
        raise ResultsError(f"no runs of {', '.join(pats)} in {where}; found: "
                           f"{', '.join(sorted(runs['model'].astype(str).unique()))}")
    return runs[sel].copy()


def from_frame(runs: "pd.DataFrame", layers: "pd.DataFrame | None" = None,
               models: Sequence[str] | None = None) -> ReportData:
    """A :class:`ReportData` from tables already in memory, e.g. the DataFrame of :func:`trafficsim.sweep`
    (one row per point: ``model``, ``engine``, hardware fields and totals). ``layers`` (optional) has
    one row per layer with a ``run_id`` column matching ``runs``."""
    import pandas as pd

    need = ("model", "array_rows", "array_cols", "dataflow", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
            *REQUIRED_TOTALS)
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
    runs = _select_models(runs, models, "the table")
    runs = _derive_run_columns(runs)
    if "run_id" not in runs.columns:
        runs["run_id"] = [f"{m}-{h}-{e}-{i}" for i, (m, h, e) in
                          enumerate(zip(runs["model"], runs["hardware"], runs["engine"]))]
    messages: list[str] = []
    layers = _check_layers(layers if layers is not None else pd.DataFrame(), runs, messages)
    for m in messages:
        warnings.warn(m, stacklevel=2)
    return ReportData(directory=Path("."), runs=runs.reset_index(drop=True), layers=layers, warnings=messages)


def _reload_layers(layers: "pd.DataFrame", runs: "pd.DataFrame", run_ids: set[str]) -> "pd.DataFrame":
    # layers carry only the run id: for ids found twice, re-read layers.csv of the kept copy
    import pandas as pd

    frames = [layers[~layers["run_id"].isin(run_ids)]]
    for _, r in runs[runs["run_id"].isin(run_ids)].iterrows():
        path = Path(r["path"]) / "layers.csv"
        if path.exists():
            lf = pd.read_csv(path)
            lf.insert(0, "run_id", r["run_id"])
            lf.insert(1, "model", r["model"])
            lf.insert(2, "engine", r["engine"])
            frames.append(lf)
    return pd.concat(frames, ignore_index=True)


def _derive_run_columns(runs: "pd.DataFrame") -> "pd.DataFrame":
    import numpy as np

    runs = runs.copy()
    for col, default in (("input_shape", ""), ("bandwidth_mode", "CALC"), ("word_bytes", 1),
                         ("dataflow", "?"), ("array_rows", 0), ("array_cols", 0), ("ifmap_sram_kb", 0),
                         ("filter_sram_kb", 0), ("ofmap_sram_kb", 0)):
        if col not in runs.columns:
            runs[col] = default
    runs["input_shape"] = runs["input_shape"].fillna("").astype(str)
    runs["word_bytes"] = pd_numeric(runs["word_bytes"]).fillna(1).astype(int)
    runs["model"] = runs["model"].astype(str)
    runs["engine"] = runs["engine"].fillna("").astype(str)
    # a model run at several input shapes is one network per shape
    shapes = runs.groupby("model")["input_shape"].nunique()
    runs["network"] = [f"{m} ({s or DEFAULT_INPUT})" if shapes[m] > 1 else m
                       for m, s in zip(runs["model"], runs["input_shape"])]
    runs["hardware"] = [hardware_label(r) for _, r in runs.iterrows()]
    runs["model_kind"] = runs["engine"].map(_model_kind)
    runs["pes"] = runs["array_rows"].astype(int) * runs["array_cols"].astype(int)
    runs["sram_kb_total"] = (runs["ifmap_sram_kb"].astype(int) + runs["filter_sram_kb"].astype(int)
                             + runs["ofmap_sram_kb"].astype(int))
    for col, _ in OPERANDS:
        runs[col.replace("_reads", "_bytes").replace("_writes", "_bytes")] = (
            pd_numeric(runs[col]) * runs["word_bytes"]).astype(np.int64)
    return runs


def pd_numeric(s: "pd.Series") -> "pd.Series":
    """A numeric Series (non-numbers become NaN)."""
    import pandas as pd

    return pd.to_numeric(s, errors="coerce")


def _check_layers(layers: "pd.DataFrame", runs: "pd.DataFrame", messages: list[str]) -> "pd.DataFrame":
    """Keep the layers of kept runs whose per-layer DRAM words add up to the run's totals."""
    import pandas as pd

    if len(layers) == 0 or "run_id" not in layers.columns:
        return pd.DataFrame(columns=["run_id", "layer_index", "layer"])
    layers = layers[layers["run_id"].isin(set(runs["run_id"]))].copy()
    need = ("layer_index", "layer", "dram_words")
    if any(c not in layers.columns for c in need):
        for rid in layers["run_id"].unique():
            messages.append(f"ignoring the layers of run {rid}: layers.csv lacks {', '.join(need)}")
        return layers.iloc[0:0]
    sums = layers.groupby("run_id")["dram_words"].apply(lambda s: pd_numeric(s).sum())
    totals = runs.set_index("run_id")["dram_words"].astype("int64")
    broken = [rid for rid, v in sums.items() if rid in totals.index and int(v) != int(totals[rid])]
    for rid in broken:
        messages.append(f"ignoring the layers of run {rid}: layers.csv does not add up to summary.json "
                        f"(truncated or edited)")
    layers = layers[~layers["run_id"].isin(broken)].copy()
    meta = runs.set_index("run_id")[["network", "hardware", "model_kind", "word_bytes"]]
    layers = layers.drop(columns=[c for c in ("network", "hardware", "model_kind", "word_bytes")
                                  if c in layers.columns])
    layers = layers.join(meta, on="run_id")
    for col, _ in OPERANDS:
        if col in layers.columns:
            layers[col.replace("_reads", "_bytes").replace("_writes", "_bytes")] = (
                pd_numeric(layers[col]) * layers["word_bytes"])
    if "cio" in layers.columns and ("cio" not in runs.columns or runs["cio"].isna().any()):  # older run folders
        cio = layers.groupby("run_id")["cio"].sum()
        runs["cio"] = runs["run_id"].map(cio)
    return layers.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# units and small helpers
# ---------------------------------------------------------------------------------------------
def metric_info(metric: str) -> tuple[str, str]:
    """(readable name, unit) of a metric column."""
    if metric in METRICS:
        return METRICS[metric]
    name = metric.replace("_", " ")
    for suffix, unit in (("_bytes", "bytes"), ("_words", "words"), ("_cycles", "cycles"), ("_ms", "ms"),
                         ("_uj", "µJ"), ("_pct", "%"), ("_reads", "words"), ("_writes", "words")):
        if metric.endswith(suffix):
            return name[: -len(suffix)].strip().capitalize() or name, unit
    return name.capitalize(), ""


def scale_for(max_value: float, unit: str) -> tuple[float, str]:
    """A divisor and unit text so that values up to ``max_value`` read well: bytes -> kB/MB/GB (powers of
    1000), words/cycles/MACs -> k/M/G; other units unscaled."""
    prefixes = ((1e9, "G"), (1e6, "M"), (1e3, "k"))
    if unit not in ("bytes", "words", "cycles", "MACs") or not max_value or max_value != max_value:
        return 1.0, unit
    for div, p in prefixes:
        if max_value >= div:
            return div, (f"{p}B" if unit == "bytes" else f"{p} {unit}")
    return 1.0, unit


def axis_label(metric: str, max_value: float) -> tuple[float, str]:
    """Divisor and axis label (name and unit) for a metric."""
    name, unit = metric_info(metric)
    div, u = scale_for(max_value, unit)
    return div, f"{name} ({u})" if u else name


def _tint(color: str, white: float) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r + (1 - r) * white, g + (1 - g) * white, b + (1 - b) * white)


def _hw_sort_key(runs: "pd.DataFrame"):
    first = runs.drop_duplicates("hardware").set_index("hardware")
    return lambda h: (first.at[h, "pes"], first.at[h, "sram_kb_total"], str(first.at[h, "dataflow"]), h)


def _hardware_order(runs: "pd.DataFrame") -> list[str]:
    return sorted(runs["hardware"].unique(), key=_hw_sort_key(runs))


def _new_figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style():
    import matplotlib as mpl

    return mpl.rc_context({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
        "axes.axisbelow": True, "axes.spines.top": False, "axes.spines.right": False,
        "hatch.linewidth": 0.6, "svg.hashsalt": "trafficsim", "svg.fonttype": "none",
    })


def _compatible_first(runs: "pd.DataFrame") -> "pd.DataFrame":
    """Of the SCALE-Sim-compatible runs of one network and hardware (same numbers by design), keep
    those of the engine registered first (``compat`` before ``scalesim``)."""
    from .engines import engine_names

    import numpy as np

    order = {name: i for i, name in enumerate(engine_names())}
    rows = list(zip(runs["model_kind"] == "compatible", runs["network"], runs["hardware"],
                    [order.get(e, len(order)) for e in runs["engine"]]))
    best: dict[tuple, int] = {}
    for compatible, net, hw, rank in rows:
        if compatible:
            best[net, hw] = min(best.get((net, hw), rank), rank)
    keep = [not compatible or rank == best[net, hw] for compatible, net, hw, rank in rows]
    return runs[np.array(keep, dtype=bool)]


def _kinds(runs: "pd.DataFrame") -> list[str]:
    present = list(runs["model_kind"].unique())
    order = ["compatible", "capacity"]
    return [k for k in order if k in present] + sorted(k for k in present if k not in order)


def _kind_title(kind: str) -> str:
    return MODEL_KIND_LABEL.get(kind, f"engine {kind}")


def _bar_figure_width(n_groups: int, n_bars: int) -> float:
    return min(16.0, max(6.5, 2.8 + n_groups * (0.35 * n_bars + 0.5)))


def _legend_outside(ax: "Axes", handles, labels, title: str | None = None, ncol: int = 1) -> None:
    ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              ncol=ncol, borderaxespad=0.0)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def fig_traffic_by_operand(data: ReportData) -> "Figure | None":
    """DRAM traffic (bytes) per network, stacked by operand, grouped by hardware; one panel per engine kind."""
    from matplotlib.patches import Patch

    runs = _compatible_first(data.runs)
    colors = data.colors()
    kinds = _kinds(runs)
    hw_all = _hardware_order(runs)
    fig = _new_figure(_bar_figure_width(len(hw_all), len(data.networks)), 2.0 + 2.6 * len(kinds))
    axes = fig.subplots(len(kinds), 1, squeeze=False)[:, 0]
    for ax, kind in zip(axes, kinds):
        sub = runs[runs["model_kind"] == kind]
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        nets = sorted(sub["network"].unique())
        div, label = axis_label("dram_bytes", float(sub["dram_bytes"].max()))
        group = min(0.8, 0.22 * len(nets))
        width = group / len(nets)
        for gi, hw in enumerate(hws):
            for ni, net in enumerate(nets):
                row = sub[(sub["hardware"] == hw) & (sub["network"] == net)]
                if row.empty:
                    continue
                r = row.iloc[0]
                x = gi - group / 2 + width * (ni + 0.5)
                bottom = 0.0
                for (col, _), (white, hatch) in zip(OPERANDS, _OPERAND_STYLE):
                    v = float(r[col.replace("_reads", "_bytes").replace("_writes", "_bytes")]) / div
                    ax.bar(x, v, width * 0.92, bottom=bottom, color=_tint(colors[net], white), hatch=hatch,
                           edgecolor=colors[net], linewidth=0.6)
                    bottom += v
        ax.set_xticks(range(len(hws)), hws, rotation=0 if len(hws) <= 3 else 20,
                      ha="center" if len(hws) <= 3 else "right")
        ax.set_xlim(-0.5 - 0.4 * (len(hws) == 1), len(hws) - 0.5 + 0.4 * (len(hws) == 1))
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(label)
        ax.set_title(f"DRAM traffic per network by operand — {_kind_title(kind)}")
        net_handles = [Patch(facecolor=colors[n], edgecolor=colors[n]) for n in nets]
        op_handles = [Patch(facecolor=_tint("#777777", w), edgecolor="#555555", hatch=h) for w, h in _OPERAND_STYLE]
        _legend_outside(ax, net_handles + op_handles, nets + [lbl for _, lbl in OPERANDS])
    axes[-1].set_xlabel("hardware (array-dataflow-SRAM IFMAP.FILTER.OFMAP)")
    return fig


def fig_cycles(data: ReportData) -> "Figure | None":
    """Total cycles per network (grouped by hardware), and latency where the capacity model gives it."""
    from matplotlib.patches import Patch

    runs = _compatible_first(data.runs)
    colors = data.colors()
    panels: list[tuple[str, str]] = [(k, "total_cycles") for k in _kinds(runs)]
    if "latency_ms" in runs.columns and pd_numeric(runs["latency_ms"]).notna().any():
        panels += [(k, "latency_ms") for k in _kinds(runs[pd_numeric(runs["latency_ms"]).notna()])]
    hw_all = _hardware_order(runs)
    fig = _new_figure(_bar_figure_width(len(hw_all), len(data.networks)), 1.6 + 2.4 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (kind, metric) in zip(axes, panels):
        sub = runs[(runs["model_kind"] == kind) & pd_numeric(runs[metric]).notna()]
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        nets = sorted(sub["network"].unique())
        div, label = axis_label(metric, float(pd_numeric(sub[metric]).max()))
        group = min(0.8, 0.22 * len(nets))
        width = group / len(nets)
        for gi, hw in enumerate(hws):
            for ni, net in enumerate(nets):
                row = sub[(sub["hardware"] == hw) & (sub["network"] == net)]
                if not row.empty:
                    ax.bar(gi - group / 2 + width * (ni + 0.5), float(row.iloc[0][metric]) / div, width * 0.92,
                           color=colors[net], edgecolor=colors[net])
        ax.set_xticks(range(len(hws)), hws, rotation=0 if len(hws) <= 3 else 20,
                      ha="center" if len(hws) <= 3 else "right")
        ax.set_xlim(-0.5 - 0.4 * (len(hws) == 1), len(hws) - 0.5 + 0.4 * (len(hws) == 1))
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(label)
        ax.set_title(f"{metric_info(metric)[0]} per network — {_kind_title(kind)}")
        _legend_outside(ax, [Patch(facecolor=colors[n]) for n in nets], nets)
    axes[-1].set_xlabel("hardware (array-dataflow-SRAM IFMAP.FILTER.OFMAP)")
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


def fig_layers(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Per-layer ``metric`` along depth, one panel per network, one line per hardware/engine; dense blocks
    of HarDNet and DenseNet shaded and labelled."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    layers = data.layers
    if len(layers) == 0 or metric not in layers.columns:
        return None
    colors = data.colors()
    nets = [n for n in data.networks if n in set(layers["network"])]
    fig = _new_figure(9.0, 0.9 + 2.3 * len(nets))
    axes = fig.subplots(len(nets), 1, squeeze=False)[:, 0]
    hw_order = _hardware_order(data.runs)
    for ax, net in zip(axes, nets):
        sub = layers[layers["network"] == net]
        div, label = axis_label(metric, float(pd_numeric(sub[metric]).max()))
        # one model kind per panel (compatible first): the engines figure compares the kinds
        kind = _kinds(sub)[0]
        sub = sub[sub["model_kind"] == kind]
        configs = sorted({(h, kind) for h in sub["hardware"]},
                         key=lambda c: (hw_order.index(c[0]) if c[0] in hw_order else 0, c[1]))
        shown = configs[:MAX_LAYER_LINES]  # more lines than this are unreadable; the CSVs have them all
        handles, labels = [], []
        for ci, (hw, kind) in enumerate(shown):
            run_ids = sub[(sub["hardware"] == hw) & (sub["model_kind"] == kind)]["run_id"].unique()
            run = sub[sub["run_id"] == run_ids[0]].sort_values("layer_index")  # compat and scalesim: same numbers
            style, marker = _LINESTYLES[ci % len(_LINESTYLES)], _MARKERS[ci % len(_MARKERS)]
            ax.plot(run["layer_index"], pd_numeric(run[metric]) / div, style, color=colors[net], linewidth=1.0,
                    marker=marker, markersize=2.5, alpha=0.9 if ci == 0 else 0.75)
            handles.append(Line2D([], [], linestyle=style, color=colors[net], marker=marker, markersize=4))
            labels.append(hw)
        first = sub[sub["run_id"] == sub["run_id"].iloc[0]].sort_values("layer_index")
        blocks = layer_blocks(list(first["layer"]))
        idx = list(first["layer_index"])
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
            labels.append(f"(+{len(configs) - len(shown)} more in layers_table.csv)")
        _legend_outside(ax, handles, labels, title=_kind_title(kind))
    axes[-1].set_xlabel("layer index (depth, convolution and linear layers)")
    return fig


def fig_cio(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Network ``metric`` against CIO (input + output feature-map elements) across networks: one point per
    run, a least-squares line and Pearson r per hardware configuration."""
    import numpy as np
    from matplotlib.lines import Line2D

    runs = _compatible_first(data.runs)
    if "cio" not in runs.columns or metric not in runs.columns:
        return None
    runs = runs[pd_numeric(runs["cio"]).notna() & pd_numeric(runs[metric]).notna()]
    if runs["network"].nunique() < 2:
        return None
    colors = data.colors()
    kinds = _kinds(runs)
    fig = _new_figure(8.0, 0.8 + 3.4 * len(kinds))
    axes = fig.subplots(len(kinds), 1, squeeze=False)[:, 0]
    hw_all = _hardware_order(runs)
    for ax, kind in zip(axes, kinds):
        sub = runs[runs["model_kind"] == kind]
        div, label = axis_label(metric, float(pd_numeric(sub[metric]).max()))
        hws = [h for h in hw_all if h in set(sub["hardware"])]
        handles, labels = [], []
        for hi, hw in enumerate(hws):
            pts = sub[sub["hardware"] == hw].sort_values("cio")
            x = pts["cio"].to_numpy(dtype=float) / 1e6
            y = pd_numeric(pts[metric]).to_numpy(dtype=float) / div
            marker = _MARKERS[hi % len(_MARKERS)]
            ax.scatter(x, y, c=[colors[n] for n in pts["network"]], marker=marker, s=36, zorder=3,
                       edgecolors="black", linewidths=0.4)
            text = hw
            if len(pts) >= 2 and np.ptp(x) > 0:
                slope, icpt = np.polyfit(x, y, 1)
                xs = np.linspace(x.min(), x.max(), 20)
                ax.plot(xs, slope * xs + icpt, _LINESTYLES[hi % len(_LINESTYLES)], color="#555555", linewidth=0.9)
                if len(pts) >= 3 and np.ptp(y) > 0:
                    text += f": r = {np.corrcoef(x, y)[0, 1]:.3f} (n={len(pts)})"
                else:
                    text += f": fit through {len(pts)} points"
            handles.append(Line2D([], [], color="#555555", linestyle=_LINESTYLES[hi % len(_LINESTYLES)],
                                  marker=marker, markerfacecolor="white", markeredgecolor="black"))
            labels.append(text)
        # name each network once, beside its highest point
        for net, pts in sub.groupby("network"):
            top = pts.loc[pd_numeric(pts[metric]).idxmax()]
            ax.annotate(net, (float(top["cio"]) / 1e6, float(top[metric]) / div), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=7, color=colors[net])
        ax.set_xlabel("CIO (millions of feature-map elements read + written by conv layers)")
        ax.set_ylabel(label)
        ax.set_title(f"{metric_info(metric)[0]} against CIO — {_kind_title(kind)}", loc="left")
        ax.set_ylim(bottom=0)
        ax.margins(x=0.15)
        _legend_outside(ax, handles, labels, title="hardware: least-squares fit")
    return fig


# sweep axis -> (x column, tick label, hardware columns that vary along it, axis title)
_SWEEP_AXES: dict[str, tuple[str, Any, tuple[str, ...], str]] = {
    "array": ("pes", lambda r: f"{int(r['array_rows'])}x{int(r['array_cols'])}", ("array_rows", "array_cols"),
              "array rows x columns (log scale of PEs)"),
    "sram": ("sram_kb_total", lambda r: f"{int(r['ifmap_sram_kb'])}.{int(r['filter_sram_kb'])}.{int(r['ofmap_sram_kb'])}",
             ("ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb"),
             "SRAM IFMAP.FILTER.OFMAP kB (log scale of total)"),
}
_HW_KEY_COLUMNS = ("array_rows", "array_cols", "dataflow", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
                   "bandwidth_mode", "bandwidth", "ifmap_dram_bw", "filter_dram_bw", "word_bytes",
                   "dram_bandwidth_gbs", "clock_mhz")


def sweeps(runs: "pd.DataFrame", axis: str) -> list[tuple[tuple, "pd.DataFrame"]]:
    """Groups of runs that differ only along ``axis`` ("array" or "sram"), with at least two points each:
    ``[(fixed_key, runs_sorted_by_x), ...]``; the key is (network, engine, the other hardware fields)."""
    xcol, _, varying, _ = _SWEEP_AXES[axis]
    fixed = ["network", "engine"] + [c for c in _HW_KEY_COLUMNS if c in runs.columns and c not in varying]
    out = []
    keyed = runs.assign(**{c: runs[c].astype(str) for c in fixed})
    for key, grp in keyed.groupby(fixed, sort=True):
        if grp[xcol].nunique() >= 2:
            out.append((key, runs.loc[grp.index].sort_values(xcol)))
    return out


def fig_sweep(data: ReportData, axis: str, metric: str = "dram_bytes") -> "Figure | None":
    """``metric`` and total cycles against array size or SRAM size, one line per network (and per other
    fixed setting); ``None`` when the runs form no such sweep."""
    from matplotlib.lines import Line2D

    runs = _compatible_first(data.runs)
    groups = sweeps(runs, axis)
    if not groups:
        return None
    xcol, tick, _, xtitle = _SWEEP_AXES[axis]
    colors = data.colors()
    metrics = [metric] + (["total_cycles"] if metric != "total_cycles" else [])
    fig = _new_figure(11.0 if len(metrics) == 2 else 7.0, 3.8)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    # linestyle per fixed setting other than the network, so two sweeps of one network stay apart
    others = sorted({k[1:] for k, _ in groups})
    handles, labels = [], []
    ticks: dict[float, str] = {}
    for key, pts in groups:
        net = key[0]
        oi = others.index(key[1:])
        style = _LINESTYLES[oi % len(_LINESTYLES)]
        for ax, m in zip(axes, metrics):
            div, _ = axis_label(m, float(pd_numeric(runs[m]).max()))
            ax.plot(pts[xcol], pd_numeric(pts[m]) / div, style, marker=_MARKERS[oi % len(_MARKERS)],
                    color=colors[net], linewidth=1.3, markersize=4)
        for _, r in pts.iterrows():
            ticks[float(r[xcol])] = tick(r)
        rest = pts.iloc[0]
        hw_rest = _sweep_rest_label(rest, axis)
        handles.append(Line2D([], [], color=colors[net], linestyle=style, marker=_MARKERS[oi % len(_MARKERS)]))
        labels.append(f"{net} — {hw_rest}" if len(others) > 1 else net)
    for ax, m in zip(axes, metrics):
        _, label = axis_label(m, float(pd_numeric(runs[m]).max()))
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(ticks), list(ticks.values()), rotation=30 if len(ticks) > 4 else 0)
        ax.minorticks_off()
        ax.set_xlabel(xtitle)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{metric_info(m)[0]} against {'array size' if axis == 'array' else 'SRAM size'}", loc="left")
    fixed_note = _sweep_rest_label(groups[0][1].iloc[0], axis) if len(others) == 1 else None
    _legend_outside(axes[-1], handles, labels, title=f"network ({fixed_note})" if fixed_note else "network")
    return fig


def _sweep_rest_label(r: Any, axis: str) -> str:
    eng = str(r["engine"])
    if axis == "array":
        return (f"{r['dataflow']}, SRAM {int(r['ifmap_sram_kb'])}.{int(r['filter_sram_kb'])}."
                f"{int(r['ofmap_sram_kb'])} kB, {eng}")
    return f"{int(r['array_rows'])}x{int(r['array_cols'])} {r['dataflow']}, {eng}"


def engine_pairs(runs: "pd.DataFrame") -> "pd.DataFrame":
    """Runs of the same network and hardware under both the compatible and the capacity-aware model: one row
    per pair with the ``_compatible`` and ``_capacity`` totals side by side."""
    import pandas as pd

    runs = _compatible_first(runs)
    comp = runs[runs["model_kind"] == "compatible"]
    cap = runs[runs["model_kind"] == "capacity"]
    if comp.empty or cap.empty:
        return pd.DataFrame()
    cols = ["network", "hardware", "run_id", "dram_bytes", "total_cycles"]
    extra = [c for c in ("latency_ms", "energy_uj") if c in cap.columns]
    pairs = comp[cols].merge(cap[cols + extra], on=["network", "hardware"], suffixes=("_compatible", "_capacity"))
    return pairs.drop_duplicates(["network", "hardware"]).reset_index(drop=True)


def fig_engines(data: ReportData) -> "Figure | None":
    """SCALE-Sim-compatible vs capacity-aware model side by side (DRAM traffic and cycles) where both exist."""
    from matplotlib.patches import Patch

    pairs = engine_pairs(data.runs)
    if pairs.empty:
        return None
    colors = data.colors()
    hw_order = _hardware_order(data.runs)
    pairs = pairs.sort_values(["network", "hardware"], key=lambda s: s.map(
        lambda v: hw_order.index(v) if v in hw_order else v) if s.name == "hardware" else s)
    fig = _new_figure(max(7.0, 1.5 + 0.75 * len(pairs)), 6.2)
    axes = fig.subplots(2, 1, squeeze=False)[:, 0]
    for ax, m in zip(axes, ("dram_bytes", "total_cycles")):
        vmax = float(max(pairs[f"{m}_compatible"].max(), pairs[f"{m}_capacity"].max()))
        div, label = axis_label(m, vmax)
        for i, (_, r) in enumerate(pairs.iterrows()):
            c = colors[r["network"]]
            a, b = float(r[f"{m}_compatible"]), float(r[f"{m}_capacity"])
            ax.bar(i - 0.2, a / div, 0.38, color=c, edgecolor=c)
            ax.bar(i + 0.2, b / div, 0.38, color=_tint(c, 0.6), edgecolor=c, hatch="xx")
            if a > 0:
                ax.annotate(f"×{b / a:.2f}", (i + 0.2, b / div), textcoords="offset points", xytext=(0, 2),
                            ha="center", fontsize=7)
        ax.set_xticks(range(len(pairs)), [f"{n}\n{h}" for n, h in zip(pairs["network"], pairs["hardware"])],
                      rotation=0 if len(pairs) <= 4 else 30, ha="center" if len(pairs) <= 4 else "right",
                      fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="x", visible=False)
        ax.set_title(f"{metric_info(m)[0]}: compatible vs capacity-aware (label: capacity / compatible)", loc="left")
        _legend_outside(ax, [Patch(facecolor="#777777"), Patch(facecolor=_tint("#777777", 0.6), edgecolor="#555555",
                                                                 hatch="xx")],
                        [MODEL_KIND_LABEL["compatible"], MODEL_KIND_LABEL["capacity"]])
    return fig


# ---------------------------------------------------------------------------------------------
# all figures, files, page
# ---------------------------------------------------------------------------------------------
FIGURE_CAPTIONS: dict[str, str] = {
    "traffic_by_operand": "DRAM traffic per network, stacked by operand (solid: IFMAP reads, hatched: FILTER "
                          "reads, dotted: OFMAP writes), grouped by hardware.",
    "cycles": "Total cycles per network, grouped by hardware (and latency where the capacity model gives it).",
    "layers": "Per-layer {metric} along depth for each network; shaded spans mark the dense blocks of "
              "HarDNet and DenseNet.",
    "cio": "Network {metric} against CIO (feature-map elements read and written by convolution layers), "
           "with a least-squares line and Pearson r per hardware configuration.",
    "sweep_array": "{metric} and total cycles against array size, one line per network.",
    "sweep_sram": "{metric} and total cycles against SRAM size, one line per network.",
    "engines": "SCALE-Sim-compatible vs capacity-aware model for the same network and hardware.",
}


def figures(data: ReportData, metric: str = "dram_bytes") -> dict[str, "Figure"]:
    """Every figure that the data supports, by name (see :data:`FIGURE_CAPTIONS`); figures without data
    (no sweep, a single network for the CIO fit, one engine only) are left out."""
    check_metric(data, metric)
    with _style():
        made = {
            "traffic_by_operand": fig_traffic_by_operand(data),
            "cycles": fig_cycles(data),
            "layers": fig_layers(data, metric if metric in data.layers.columns else "dram_bytes"),
            "cio": fig_cio(data, metric),
            "sweep_array": fig_sweep(data, "array", metric),
            "sweep_sram": fig_sweep(data, "sram", metric),
            "engines": fig_engines(data),
        }
    return {k: v for k, v in made.items() if v is not None}


def check_metric(data: ReportData, metric: str) -> None:
    """Raise :class:`InputError` unless ``metric`` is a numeric total of the loaded runs."""
    if metric in data.runs.columns and pd_numeric(data.runs[metric]).notna().any():
        return
    known = [m for m in METRICS if m in data.runs.columns and pd_numeric(data.runs[m]).notna().any()]
    raise InputError(f"unknown metric {metric!r}: choose one of {', '.join(known)}")


def save_figure(fig: "Figure", out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``name.png`` (150 dpi) and ``name.svg`` into ``out_dir``; return both paths."""
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    with _style():
        fig.savefig(png, dpi=150, metadata={"Software": None})
        # the layout is settled by the first save; freezing it halves the cost of the second
        engine = fig.get_layout_engine()
        fig.set_layout_engine("none")
        try:
            fig.savefig(svg, metadata={"Date": None, "Creator": None})
        finally:
            fig.set_layout_engine(engine)
    return png, svg


@dataclass
class Report:
    """What :func:`write_report` produced."""

    data: ReportData
    out_dir: Path
    figures: dict[str, "Figure"]
    files: dict[str, tuple[Path, Path]]
    page: Path
    tables: dict[str, Path]


def write_report(directory: str | os.PathLike, out: str | os.PathLike | None = None,
                 models: Sequence[str] | None = None, metric: str = "dram_bytes") -> Report:
    """Load the runs under ``directory`` and write the figures (PNG and SVG), the tidy tables
    (``runs_table.csv``, ``layers_table.csv``) and ``index.html`` into ``out`` (default ``<directory>/plots``)."""
    from .report_page import write_page
    from .files import atomic_write_text

    data = load(directory, models)
    out_dir = Path(out) if out is not None else Path(directory) / "plots"
    figs = figures(data, metric)
    tables = {"runs": out_dir / "runs_table.csv", "layers": out_dir / "layers_table.csv"}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files = {name: save_figure(fig, out_dir, name) for name, fig in figs.items()}
        atomic_write_text(tables["runs"], data.runs.to_csv(index=False))
        atomic_write_text(tables["layers"], data.layers.to_csv(index=False))
        page = write_page(data, out_dir, files, tables, metric)
    except OSError as e:
        raise ResultsError(f"cannot write the report to {out_dir}: {e.strerror or e}") from None
    return Report(data=data, out_dir=out_dir, figures=figs, files=files, page=page, tables=tables)


def plot(directory: "str | os.PathLike | pd.DataFrame" = "reports", models: Sequence[str] | str | None = None,
         metric: str = "dram_bytes", out: str | os.PathLike | None = None) -> dict[str, "Figure"]:
    """Figures of the runs under ``directory``, by name, as matplotlib Figures (for notebooks).

    ``directory`` may also be a runs DataFrame, e.g. what :func:`trafficsim.sweep` returns (then ``out`` is
    not allowed: the page links run folders). ``models`` filters by model name (patterns allowed); ``metric`` is the quantity of the per-layer, CIO and
    sweep figures (default ``dram_bytes``). With ``out``, also write the PNG/SVG files, tables and
    ``index.html`` there.

    >>> figs = trafficsim.plot("reports/", models=["hardnet68", "resnet50"])   # doctest: +SKIP
    >>> figs["traffic_by_operand"]                                               # doctest: +SKIP
    """
    if isinstance(models, str):
        models = [models]
    if hasattr(directory, "columns"):  # a DataFrame
        if out is not None:
            raise InputError("out= needs a directory of run folders, not a DataFrame")
        return figures(from_frame(directory, models=models), metric)  # type: ignore[arg-type]
    if out is not None:
        return write_report(directory, out, models, metric).figures
    return figures(load(directory, models), metric)


def text_summary(data: ReportData, limit: int = 30) -> str:
    """A short plain-text table of the runs (network, hardware, engine, cycles, DRAM MB, CIO)."""
    runs = data.runs.sort_values(["network", "pes", "sram_kb_total", "engine"])
    nets, hws, engines = runs["network"].nunique(), runs["hardware"].nunique(), ", ".join(sorted(runs["engine"].unique()))
    lines = [f"{len(runs)} run(s): {nets} network(s) x {hws} hardware configuration(s); engines: {engines}"]
    w_net = max(7, *(len(n) for n in runs["network"]))
    w_hw = max(8, *(len(h) for h in runs["hardware"]))
    lines.append(f"{'network':<{w_net}}  {'hardware':<{w_hw}}  {'engine':<8}  {'total cycles':>14}  "
                 f"{'DRAM MB':>10}  {'CIO M':>8}")
    for _, r in runs.head(limit).iterrows():
        cio = r.get("cio")
        cio_s = f"{cio / 1e6:8.3f}" if cio is not None and cio == cio else f"{'-':>8}"
        lines.append(f"{r['network']:<{w_net}}  {r['hardware']:<{w_hw}}  {r['engine']:<8}  "
                     f"{int(r['total_cycles']):>14,}  {r['dram_bytes'] / 1e6:>10.3f}  {cio_s}")
    if len(runs) > limit:
        lines.append(f"... and {len(runs) - limit} more (see runs_table.csv)")
    return "\n".join(lines)
