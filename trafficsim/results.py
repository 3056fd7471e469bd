"""Result records shared by all engines: one :class:`LayerResult` per simulated layer, a
:class:`RunResult` per run. Engines return these; writing and reading run folders lives in
:mod:`trafficsim.runs` and SCALE-Sim report files in :mod:`trafficsim.reports`.

All counts are in words (SCALE-Sim's unit, 1 byte); an engine that knows the workload's element sizes (the
capacity engine) reports bytes in ``extra`` (``dram_bytes``...), which override words x 1 byte.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from operator import attrgetter
from typing import Any, Mapping

from .hardware import Hardware


@dataclass(frozen=True)
class LayerResult:
    """Per-layer results with SCALE-Sim 3.0.0's report fields.

    ``layer_id`` is the 0-based row index as SCALE-Sim reports it (after ``DP`` expansion);
    ``source_layer`` is the index of the topology layer the row belongs to. Start/stop cycles
    are ``None`` where an engine does not model them. ``extra`` holds engine-specific columns
    (e.g. the capacity model's bounds, latency and energy).
    """

    layer_id: int
    name: str
    source_layer: int
    macs: int
    total_cycles_incl_prefetch: int
    total_cycles: int
    stall_cycles: int
    overall_util_pct: float
    mapping_efficiency_pct: float
    compute_util_pct: float
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    dram_ifmap_reads: int
    dram_filter_reads: int
    dram_ofmap_writes: int
    sram_ifmap_start_cycle: int | None = None
    sram_ifmap_stop_cycle: int | None = None
    sram_filter_start_cycle: int | None = None
    sram_filter_stop_cycle: int | None = None
    sram_ofmap_start_cycle: int | None = None
    sram_ofmap_stop_cycle: int | None = None
    dram_ifmap_start_cycle: int | None = None
    dram_ifmap_stop_cycle: int | None = None
    dram_filter_start_cycle: int | None = None
    dram_filter_stop_cycle: int | None = None
    dram_ofmap_start_cycle: int | None = None
    dram_ofmap_stop_cycle: int | None = None
    avg_ifmap_sram_bw: float = 0.0
    avg_filter_sram_bw: float = 0.0
    avg_ofmap_sram_bw: float = 0.0
    avg_ifmap_dram_bw: float = 0.0
    avg_filter_dram_bw: float = 0.0
    avg_ofmap_dram_bw: float = 0.0
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def dram_words(self) -> int:
        return self.dram_ifmap_reads + self.dram_filter_reads + self.dram_ofmap_writes

    def renamed(self, layer_id: int, name: str, source_layer: int) -> "LayerResult":
        """The same result under another row's id and names (identical rows share one result).

        A plain copy of the fields: ``dataclasses.replace`` re-runs ``__init__`` and costs 20x
        more, which adds up over the million rows of a sweep (depthwise layers expand per channel).
        """
        new = object.__new__(LayerResult)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(layer_id=layer_id, name=name, source_layer=source_layer)
        return new

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d


TOTAL_KEYS = ("total_cycles", "total_cycles_incl_prefetch", "stall_cycles", "macs",
              "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
              "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes")
_total_values = attrgetter(*TOTAL_KEYS)


@dataclass(frozen=True)
class RunResult:
    """The outcome of simulating one topology on one hardware configuration with one engine."""

    model: str
    engine: str
    hardware: Hardware
    layers: tuple[LayerResult, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        """Network totals: integer sums of cycles and accesses (words) and ``dram_bytes``;
        engine-specific extras (e.g. energy) are summed too when numeric."""
        columns = zip(*map(_total_values, self.layers)) if self.layers else [()] * len(TOTAL_KEYS)
        t: dict[str, Any] = {k: int(sum(col)) for k, col in zip(TOTAL_KEYS, columns)}
        t["dram_words"] = t["dram_ifmap_reads"] + t["dram_filter_reads"] + t["dram_ofmap_writes"]
        t["dram_bytes"] = t["dram_words"]  # SCALE-Sim's 1-byte words; the capacity engine's extra overrides
        for key in sorted({k for r in self.layers for k in r.extra}):
            vals = [r.extra.get(key) for r in self.layers]
            if all(isinstance(v, (int, float)) for v in vals) and _summable(key):
                s = sum(vals)  # type: ignore[arg-type]
                t[key] = int(s) if all(isinstance(v, int) for v in vals) else float(s)
        macs = t["macs"]
        if t["total_cycles"] > 0:
            t["overall_util_pct"] = 100.0 * macs / (t["total_cycles"] * self.hardware.array_rows * self.hardware.array_cols)
        # network rates of a run on a DRAM model, from the summed counts (rates do not add up)
        accesses = sum(t.get(k, 0) for k in ("row_hits", "row_misses", "row_conflicts"))
        if "row_hits" in t:
            t["row_hit_rate"] = t["row_hits"] / accesses if accesses else 0.0
        if "dram_moved_bytes" in t and t.get("dram_cycles"):
            t["achieved_bandwidth_gbs"] = t["dram_moved_bytes"] * self.hardware.clock_mhz * 1e6 / t["dram_cycles"] / 1e9
        return t


def _summable(key: str) -> bool:
    # Ratios, percentages, rates and bandwidths do not add up across layers.
    return not (key.endswith("_pct") or key.endswith("_ratio") or key.startswith("moc") or key.endswith("_per_byte")
                or key.endswith("_rate") or key.endswith("_gbs"))


def result_fields() -> list[str]:
    """Names of the fixed :class:`LayerResult` fields (without ``extra``)."""
    return [f.name for f in fields(LayerResult) if f.name != "extra"]
