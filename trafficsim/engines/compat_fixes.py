"""SCALE-Sim with its known bugs fixed: the ``--fix`` option of the ``compat`` engine.

Without fixes the ``compat`` engine reproduces SCALE-Sim 3.0.0 bit for bit, bugs included
(``docs/compat.md``). ``CompatOptions(fixes=...)`` (``trafficsim run --fix NAME[,NAME]|all``)
corrects the bugs that upstream reports name. Each fix changes exactly the report fields listed
in its :class:`Fix` record and nothing else:

* ``os-cycles``     output-stationary folds take 2Ra + Ca + T - 2 cycles, not Ra + Ca + T - 2
  (scalesim-project/scale-sim-v3#4; the maintainers agree): Ra more cycles per OS fold;
* ``ofmap-writes``  OS OFMAP SRAM writes without the extra Ra + Ca per fold
  (scalesim-project/SCALE-Sim#166);
* ``total-cycles``  Total Cycles counts the layer's cycles, not the index of its last one: one
  more per layer (scalesim-project/SCALE-Sim#125);
* ``user-stall``    USER mode: a wait for a prefetch is added once, and a negative one not at all
  (scalesim-project/SCALE-Sim#130; the v2 code after SCALE-Sim#100's fix): re-simulated by the walk;
* ``trace-padding`` DRAM OFMAP writes count the OFMAP words written, not the -1 pads of
  force-flushed partial lines (``docs/scalesim-3.0.0.md`` §6.4).

All but ``user-stall`` are closed forms of the layer, its fold counts and the array, applied to
the per-layer result (:func:`apply_fixes`); ``user-stall`` changes the USER-mode walk itself
(``compat_kernel._read_row_user``). Start/stop cycles of the individual accesses keep SCALE-Sim's
timeline under the closed-form fixes: a cycle fix moves the layer's end (Total Cycles and Total
Cycles incl. prefetch) and what is derived from it (utilisations, SRAM bandwidths).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..dataflow import OS, code
from ..errors import InputError, TrafficsimWarning

if TYPE_CHECKING:  # pragma: no cover
    from ..hardware import Hardware
    from ..results import LayerResult
    from ..topology import ScaleSimRow

_CYCLE_FIELDS = ("total_cycles", "total_cycles_incl_prefetch", "overall_util_pct",
                 "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw")


@dataclass(frozen=True)
class Fix:
    """One named correction of SCALE-Sim 3.0.0: what it fixes, the upstream report, the
    :class:`~trafficsim.results.LayerResult` fields it may change, and where it applies."""

    name: str
    upstream: str          # "owner/repo#N" of the report (or the reference doc's section)
    summary: str           # one line for --help and the docs
    fields: tuple[str, ...]
    applies_to: str        # "os", "user" or "all"


FIXES: dict[str, Fix] = {f.name: f for f in (
    Fix("os-cycles", "scalesim-project/scale-sim-v3#4",
        "output-stationary folds take 2Ra+Ca+T-2 cycles (SCALE-Sim: Ra+Ca+T-2)",
        _CYCLE_FIELDS + ("compute_util_pct",), "os"),
    Fix("ofmap-writes", "scalesim-project/SCALE-Sim#166",
        "OS OFMAP SRAM writes are E*K (SCALE-Sim adds Ra+Ca per fold)",
        ("sram_ofmap_writes", "avg_ofmap_sram_bw"), "os"),
    Fix("total-cycles", "scalesim-project/SCALE-Sim#125",
        "Total Cycles counts the layer's cycles (SCALE-Sim: one short)",
        _CYCLE_FIELDS, "all"),
    Fix("user-stall", "scalesim-project/SCALE-Sim#130",
        "USER mode: a prefetch wait stalls once (SCALE-Sim 3.0.0: twice; an early prefetch subtracts)",
        ("stall_cycles", "total_cycles", "total_cycles_incl_prefetch", "overall_util_pct",
         "avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw", "avg_ifmap_dram_bw",
         "avg_filter_dram_bw", "avg_ofmap_dram_bw", "dram_ofmap_writes",
         "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle", "sram_filter_start_cycle", "sram_filter_stop_cycle",
         "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle", "dram_ifmap_start_cycle", "dram_ifmap_stop_cycle",
         "dram_filter_start_cycle", "dram_filter_stop_cycle", "dram_ofmap_start_cycle", "dram_ofmap_stop_cycle"),
        "user"),
    Fix("trace-padding", "docs/scalesim-3.0.0.md §6.4",
        "DRAM OFMAP writes count the words written, not the -1 pads of flushed partial lines",
        ("dram_ofmap_writes", "avg_ofmap_dram_bw"), "all"),
)}

#: the canonical order (also the order of application, which does not change the result)
FIX_NAMES: tuple[str, ...] = tuple(FIXES)


def parse_fixes(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """Fix names in canonical order from ``"a,b"``, ``"all"`` or an iterable of names (``None`` or
    ``""``: no fixes); :class:`InputError` naming the choices for an unknown or empty name."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        if not spec.strip():
            return ()
        items = [s.strip() for s in spec.split(",")]
    elif isinstance(spec, Iterable):
        items = list(spec)
    else:
        raise InputError(f"fixes must be a comma-separated string or a list of names, got {spec!r}")
    names: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"fixes must be names, got {item!r}")
        item = item.strip().lower()
        if item == "":
            raise InputError(f"empty fix name in {spec!r}: choose {', '.join(FIX_NAMES)} or all")
        if item == "all":
            names.update(FIX_NAMES)
        elif item in FIXES:
            names.add(item)
        else:
            raise InputError(f"unknown fix {item!r}: choose {', '.join(FIX_NAMES)} or all")
    return tuple(n for n in FIX_NAMES if n in names)


@dataclass(frozen=True)
class CompatOptions:
    """Options of the ``compat`` engine.

    ``fixes``: the SCALE-Sim bugs to fix, as ``"name,name"``, ``"all"`` or a list of names of
    :data:`FIXES`; stored as the comma-separated names in canonical order (``""``, the default:
    none, SCALE-Sim 3.0.0 exactly). A string, so that a sweep takes it as one key
    (``fixes = "all"``) or an axis (``fixes = ["", "all"]``). :attr:`fix_names` has them as a tuple.
    """

    fixes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixes", ",".join(parse_fixes(self.fixes)))

    @property
    def fix_names(self) -> tuple[str, ...]:
        return tuple(self.fixes.split(",")) if self.fixes else ()


class FixApproximationWarning(TrafficsimWarning):
    """A fix applied where its closed form does not re-simulate everything it would move."""


def warn_approximations(fixes: Iterable[str], hw: "Hardware") -> None:
    """Name what a fix leaves as SCALE-Sim had it on ``hw`` (never silently wrong): ``os-cycles`` on a
    USER-mode OS run adds Ra cycles per fold but keeps SCALE-Sim's stalls, which those cycles would change."""
    import warnings

    if "os-cycles" in fixes and code(hw.dataflow) == OS and hw.bandwidth_mode == "USER":
        warnings.warn(FixApproximationWarning(
            "--fix os-cycles in USER mode adds Ra cycles per OS fold but keeps SCALE-Sim's stall cycles "
            "(the extra cycles would give prefetches more time; not re-simulated)"), stacklevel=3)


def fixes_of(options: CompatOptions | None) -> tuple[str, ...]:
    """The fix names of ``options`` (none for None: the engine's defaults)."""
    return options.fix_names if options is not None else ()


def fix_tag(fixes: Iterable[str]) -> list[str]:
    """Run-id tag of a fixed run: ``fix-all`` or ``fix-<name>.<name>`` ([] without fixes)."""
    fixes = tuple(fixes)
    if not fixes:
        return []
    if set(fixes) == set(FIX_NAMES):
        return ["fix-all"]
    return ["fix-" + ".".join(fixes)]


def valid_ofmap_writes(row: "ScaleSimRow", hw: "Hardware") -> int:
    """OFMAP words the array writes: E*K in OS, every row fold's partial sums F_r*E*K in WS/IS."""
    e = row.out_h * row.out_w
    if code(hw.dataflow) == OS:
        return e * row.num_filters
    rsc = row.filter_h * row.filter_w * row.channels
    return -(-rsc // hw.array_rows) * e * row.num_filters


def apply_fixes(result: "LayerResult", row: "ScaleSimRow", hw: "Hardware",
                fixes: Iterable[str]) -> "LayerResult":
    """``result`` (SCALE-Sim's numbers for ``row``; with ``user-stall`` already applied by the
    walk) with the closed-form fixes among ``fixes`` applied."""
    from dataclasses import replace

    from .compat import fold_geometry, sram_counts

    fixes = set(fixes)
    if not fixes - {"user-stall"}:
        return result
    g = fold_geometry(row, hw)
    ra, ca = hw.array_rows, hw.array_cols
    folds = g.row_folds * g.col_folds
    os_ = code(hw.dataflow) == OS
    changes: dict[str, object] = {}
    delta = 0
    if "os-cycles" in fixes and os_:
        delta += folds * ra
        # per-fold utilisation of the fold's 2Ra+Ca+T-2 cycles, as an unweighted mean over folds
        # like SCALE-Sim's: mean(ru*cu) = Sr*Sc/folds, since ru and cu sum to Sr and Sc
        cyc = g.temporal + 2 * ra + ca - 2
        changes["compute_util_pct"] = (100 * g.spatial_rows * g.spatial_cols * g.temporal) / (ra * ca * cyc * folds)
    if "total-cycles" in fixes:
        delta += 1
    of_sram = result.sram_ofmap_writes
    if "ofmap-writes" in fixes and os_:
        of_sram = sram_counts(g)[2] - folds * (ra + ca)
        changes["sram_ofmap_writes"] = of_sram
    total = result.total_cycles + delta
    if delta:
        num_compute = row.out_h * row.out_w * row.num_filters * row.filter_h * row.filter_w * row.channels
        changes.update(
            total_cycles=total,
            total_cycles_incl_prefetch=result.total_cycles_incl_prefetch + delta,
            overall_util_pct=(num_compute * 100) / (total * ra * ca),
            avg_ifmap_sram_bw=result.sram_ifmap_reads / total,
            avg_filter_sram_bw=result.sram_filter_reads / total)
    if delta or "sram_ofmap_writes" in changes:
        changes["avg_ofmap_sram_bw"] = of_sram / total
    if "trace-padding" in fixes:
        writes = valid_ofmap_writes(row, hw)
        changes["dram_ofmap_writes"] = writes
        changes["avg_ofmap_dram_bw"] = writes / float(result.dram_ofmap_stop_cycle - result.dram_ofmap_start_cycle + 1)
    return replace(result, **changes) if changes else result


def describe() -> str:
    """The fixes, one per line, for ``--help``."""
    return "; ".join(f"{f.name} ({f.upstream})" for f in FIXES.values())
