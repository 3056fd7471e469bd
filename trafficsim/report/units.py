"""Metric names and units for axes and tables (no matplotlib, no pandas)."""
from __future__ import annotations

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
