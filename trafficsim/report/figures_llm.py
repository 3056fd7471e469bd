"""The LLM study's figures (issue 14), registered like every other figure: DRAM bytes per token by tensor class
against a decode step's context and batch, and arithmetic intensity against the array's balance point.

They draw decode runs of token models (summary.json ``workload`` and ``traffic_split_bytes``; the loader puts
them in the runs table as ``phase``, ``context``, ``batch``, ``traffic_<class>_bytes``) and return None for
reports without at least two contexts or two batches of one model on one hardware configuration.
``benchmarks/study_llm.py`` writes its runs as run folders and draws these two for docs/study-llm.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .figures import register_figure
from .loading import ReportData, numeric

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# DRAM traffic classes of trafficsim.metrics.traffic_split, drawn bottom to top (partial sums join activations)
CLASS_STYLE = (("weights", "weights", "#4C72B0"), ("kv_cache", "KV cache", "#DD8452"),
               ("activations", "activations + partial sums", "#55A868"))


def decode_runs(data: ReportData) -> "pd.DataFrame | None":
    """Decode-step runs with a traffic split: one row per run, with ``per_token_bytes`` (DRAM bytes over batch x 1
    token), per-class bytes per token (``<class>_per_token``), ``intensity`` (MACs per DRAM byte) and
    ``balance`` (the array's peak MACs per cycle over the DRAM's bytes per cycle), or None."""
    runs = data.runs
    need = {"phase", "context", "batch", "traffic_weights_bytes", "macs"}
    if len(runs) == 0 or not need <= set(runs.columns):
        return None
    d = runs[runs["phase"] == "decode"].copy()
    for col in ("context", "batch", "traffic_weights_bytes", "traffic_kv_cache_bytes", "traffic_activations_bytes",
                "traffic_psums_bytes", "macs"):
        d[col] = numeric(d[col]) if col in d.columns else 0.0
    d = d[d["context"].notna() & d["batch"].notna() & d["traffic_weights_bytes"].notna()]
    if d.empty:
        return None
    d["context"] = d["context"].astype(int)
    d["batch"] = d["batch"].astype(int)
    d["activations_bytes"] = d["traffic_activations_bytes"].fillna(0) + d["traffic_psums_bytes"].fillna(0)
    d["weights_bytes"] = d["traffic_weights_bytes"].fillna(0)
    d["kv_cache_bytes"] = d["traffic_kv_cache_bytes"].fillna(0)
    total = d["weights_bytes"] + d["kv_cache_bytes"] + d["activations_bytes"]
    d = d[total > 0]
    total = total[total > 0]
    for cls, _, _ in CLASS_STYLE:
        d[f"{cls}_per_token"] = d[f"{cls}_bytes"] / d["batch"]
    d["per_token_bytes"] = total / d["batch"]
    d["intensity"] = d["macs"] / total
    d["balance"] = [_balance(r, data) for r in d.to_dict("records")]
    d["series"] = d["model_label"] + ", " + d["hardware_label"] + ", " + d["precision"].fillna("").astype(str)
    return d


def _balance(row: dict[str, Any], data: ReportData) -> float:
    """MACs per DRAM byte at which the array's compute and the DRAM take equal time (the roofline's ridge)."""
    layers = data.layers
    if len(layers) and "machine_balance_macs_per_byte" in layers.columns:
        v = numeric(layers.loc[layers["run_id"] == row["run_id"], "machine_balance_macs_per_byte"]).dropna()
        if len(v):
            return float(v.iloc[0])
    bw, clock = row.get("dram_bandwidth_gbs"), row.get("clock_mhz")
    try:
        return float(row["array_rows"]) * float(row["array_cols"]) * float(clock) * 1e6 / (float(bw) * 1e9)
    except (TypeError, ValueError, ZeroDivisionError):
        return float("nan")


def _sweeps(d: "pd.DataFrame", axis: str, fixed: str) -> list[tuple[str, Any, "pd.DataFrame"]]:
    """(series, the fixed value, rows sorted by ``axis``) for every series and value of ``fixed`` with at least
    two values of ``axis``; per series the smallest fixed value that gives the longest sweep."""
    out = []
    for series, rows in d.groupby("series", sort=True):
        best = None
        for value, sub in rows.groupby(fixed, sort=True):
            sub = sub.drop_duplicates(axis).sort_values(axis)
            if len(sub) >= 2 and (best is None or len(sub) > len(best[1])):
                best = (value, sub)
        if best is not None:
            out.append((str(series), best[0], best[1]))
    return out


@register_figure(
    "llm_bytes_per_token",
    caption="Decode steps: DRAM bytes per generated token split into weights, KV cache and activations, against "
            "the context (top) and the batch (bottom), per model and hardware.",
    summary="LLM decode: DRAM bytes per token by tensor class vs context and batch")
def fig_llm_bytes_per_token(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """Stacked bars of bytes per token by class, two panels a row: each series' sweep over the context, then over
    the batch."""
    from matplotlib.patches import Patch

    from .style import new_figure

    d = decode_runs(data)
    if d is None:
        return None
    panels = [(axis, xlabel, title.format(int(value)), series, sub)
              for axis, fixed, xlabel, title in (("context", "batch", "context (tokens)", "batch {}"),
                                                 ("batch", "context", "batch (sequences)", "context {:,}"))
              for series, value, sub in _sweeps(d, axis, fixed)]
    if not panels:
        return None
    ncols = min(2, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = new_figure(5.2 * ncols + 0.6, 0.7 + 2.7 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (axis, xlabel, title, series, sub) in zip(axes, panels):
        xs = list(range(len(sub)))
        bottom = [0.0] * len(sub)
        for cls, _, color in CLASS_STYLE:
            ys = [v / 1e6 for v in sub[f"{cls}_per_token"]]
            ax.bar(xs, ys, 0.7, bottom=bottom, color=color, edgecolor=color)
            bottom = [b + y for b, y in zip(bottom, ys)]
        ax.set_xticks(xs, [f"{int(v):,}" for v in sub[axis]], fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("MB per token")
        ax.grid(axis="x", visible=False)
        ax.set_title(f"{series}\n{title}", fontsize=8, loc="left")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.legend([Patch(facecolor=c) for _, _, c in CLASS_STYLE], [label for _, label, _ in CLASS_STYLE],
               loc="outside upper center", ncol=len(CLASS_STYLE), frameon=False)
    return fig


@register_figure(
    "llm_intensity",
    caption="Decode steps: arithmetic intensity (MACs per DRAM byte) against the batch, one line per model and "
            "hardware; dashed: the array's balance point (peak MACs per cycle over DRAM bytes per cycle). Below "
            "it the step is memory-bound.",
    summary="LLM decode: arithmetic intensity vs batch against the balance point")
def fig_llm_intensity(data: ReportData, metric: str = "dram_bytes") -> "Figure | None":
    """MACs per byte against the batch (log-log), with each hardware's balance point."""
    from .style import LINESTYLES, MARKERS, new_figure

    d = decode_runs(data)
    if d is None:
        return None
    sweeps = _sweeps(d, "batch", "context")
    if not sweeps:
        return None
    fig = new_figure(7.0, 4.0 + 0.16 * len(sweeps))
    ax = fig.subplots()
    handles, labels = [], []
    palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
    balances: dict[float, set[str]] = {}  # balance point -> the arrays that have it
    for i, (series, context, sub) in enumerate(sweeps):
        color = palette[i % len(palette)]
        (line,) = ax.plot(sub["batch"], sub["intensity"], color=color, marker=MARKERS[i % len(MARKERS)],
                          linestyle=LINESTYLES[(i // len(palette)) % len(LINESTYLES)], markersize=4)
        handles.append(line)
        labels.append(f"{series}, context {int(context):,}")
        for b, array in zip(sub["balance"], sub["array"]):
            if b == b:
                balances.setdefault(float(b), set()).add(str(array).replace("x", "×"))
    for b, arrays in sorted(balances.items()):
        ax.axhline(b, color="#555555", linestyle="--", linewidth=1)
        ax.annotate(f"balance of {', '.join(sorted(arrays))}: {b:,.0f} MACs/B", (1.0, b),
                    xycoords=("axes fraction", "data"), xytext=(-4, 2), textcoords="offset points", ha="right",
                    fontsize=7, color="#555555")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    xs = sorted({int(v) for _, _, sub in sweeps for v in sub["batch"]})
    ax.set_xticks(xs, [str(v) for v in xs])
    ax.set_xlabel("batch (sequences per decode step)")
    ax.set_ylabel("MACs per DRAM byte")
    ax.set_title("Decode arithmetic intensity against the balance point", loc="left")
    # long labels (model, hardware, precision, context): below the axes, not beside them
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.0, -0.16), frameon=False, fontsize=7)
    return fig
