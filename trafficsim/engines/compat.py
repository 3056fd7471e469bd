"""The ``compat`` engine: SCALE-Sim 3.0.0's numbers, exactly, in closed form and one compiled loop.

For every SCALE-Sim row of the topology (after ``DP`` expansion) it returns the fields of
COMPUTE_REPORT, DETAILED_ACCESS_REPORT and BANDWIDTH_REPORT that ``scalesim==3.0.0`` reports
(integers exactly; floats computed with the same operations in the same order).

* Compute cycles, utilisations and SRAM counts are closed form (``docs/compat.md``).
* DRAM counts and timing need SCALE-Sim's address order: :mod:`.compat_kernel` walks the demand
  rows in a numba loop without materialising demand matrices; :mod:`.compat_user` prepares
  USER mode's read buffers (hashed lines of the prefetch order) for the same loop.

See ``docs/compat.md`` for the list of SCALE-Sim quirks reproduced here.
"""
from __future__ import annotations

import math
import os
import queue
import sys
import threading
from dataclasses import dataclass

import numpy as np

from .. import dataflow as df
from ..errors import InputError, TopologyError
from ..hardware import Hardware
from ..results import LayerResult, RunResult
from ..topology import ScaleSimRow, Topology, expand_dp, scalesim_rows
from . import ProgressFn
from .compat_fixes import CompatOptions, apply_fixes, fix_tag, fixes_of, warn_approximations
from . import limits
from .limits import check_counters, check_memory, memory_limit_bytes

ENGINE_NAME = "compat"

# SCALE-Sim 3.0.0 constants (single_layer_sim.py, read_buffer_estimate_bw.py)
CALC_FIRST_FILL_BW = 10       # words/cycle of the first (active-half) fill in CALC mode
SETS_PER_HALF = 50            # int(0.5 * 100) sets per buffer half


@dataclass(frozen=True)
class FoldGeometry:
    """A layer mapped on the array: the dataflow table row (:mod:`trafficsim.dataflow`) and the fold counts.

    ``spatial_rows``/``spatial_cols``/``temporal`` are SCALE-Sim's Sr, Sc, T:
    os = (E, K, RSC), ws = (RSC, K, E), is = (RSC, E, K).
    """

    dataflow: str
    array_rows: int
    array_cols: int
    spatial_rows: int
    spatial_cols: int
    temporal: int

    @property
    def code(self) -> int:
        """The dataflow's integer code (``trafficsim.dataflow.OS``/``WS``/``IS``)."""
        return df.code(self.dataflow)

    @property
    def row_folds(self) -> int:
        return -(-self.spatial_rows // self.array_rows)

    @property
    def col_folds(self) -> int:
        return -(-self.spatial_cols // self.array_cols)

    @property
    def rows_per_fold(self) -> int:
        """Demand rows (cycles) per fold: T+Ra+Ca-2 (os), T+2Ra+Ca-2 (ws, is)."""
        ra, ca, t = self.array_rows, self.array_cols, self.temporal
        return t + ra + ca - 2 if self.code == df.OS else t + 2 * ra + ca - 2

    @property
    def util_cycles_per_fold(self) -> int:
        """The per-fold cycle count SCALE-Sim divides by in Compute Util (T+2Ra+2Ca-3 in ws/is)."""
        ra, ca, t = self.array_rows, self.array_cols, self.temporal
        return t + ra + ca - 2 if self.code == df.OS else t + 2 * ra + 2 * ca - 3

    @property
    def demand_rows(self) -> int:
        return self.row_folds * self.col_folds * self.rows_per_fold


def fold_geometry(row: ScaleSimRow, hw: Hardware) -> FoldGeometry:
    """``row`` on ``hw``'s array: which of E (output pixels), RSC (window) and K (filters) is
    spatial/temporal comes from the dataflow table (:mod:`trafficsim.dataflow`)."""
    e = row.out_h * row.out_w
    rsc = row.filter_h * row.filter_w * row.channels
    sr, sc, t = df.spatial_temporal(hw.dataflow, e, rsc, row.num_filters)
    return FoldGeometry(hw.dataflow, hw.array_rows, hw.array_cols, sr, sc, t)


def _fold_means(g: FoldGeometry) -> tuple[float, float]:
    """Mapping efficiency and compute utilisation (fractions), as SCALE-Sim's unweighted
    Python ``sum(list)/len`` over folds in its order (column fold outer, row fold inner)."""
    ra, ca, t = g.array_rows, g.array_cols, g.temporal
    macs_on_array = ra * ca
    cyc = g.util_cycles_per_fold
    n_folds = g.row_folds * g.col_folds
    if sys.version_info < (3, 12):
        # Python < 3.12 sums floats left to right, as the compiled loop does
        from .compat_kernel import fold_mean_sums
        s_map, s_util = fold_mean_sums(ra, ca, g.spatial_rows, g.spatial_cols, t, cyc)
        return s_map / n_folds, s_util / n_folds
    # 3.12's sum() compensates rounding (Neumaier): use it on the same lists
    rus = [min(ra, g.spatial_rows - fr * ra) for fr in range(g.row_folds)]
    cus = [min(ca, g.spatial_cols - fc * ca) for fc in range(g.col_folds)]
    map_eff = [ru * cu / macs_on_array for cu in cus for ru in rus]
    util = [ru * cu * t / (macs_on_array * cyc) for cu in cus for ru in rus]
    return sum(map_eff) / len(map_eff), sum(util) / len(util)


def sram_counts(g: FoldGeometry) -> tuple[int, int, int]:
    """SRAM IFMAP reads, FILTER reads, OFMAP writes (words), SCALE-Sim's shape-based counts,
    including the OS OFMAP over-count of (Ra+Ca) per fold (scalesim-project/SCALE-Sim#166)."""
    sr, sc, t = g.spatial_rows, g.spatial_cols, g.temporal
    fr, fc = g.row_folds, g.col_folds
    if g.code == df.OS:   # Sr=E, Sc=K, T=RSC
        return fc * sr * t, fr * t * sc, sr * sc + fr * fc * (g.array_rows + g.array_cols)
    if g.code == df.WS:   # Sr=RSC, Sc=K, T=E
        return fc * t * sr, sr * sc, fr * t * sc
    return sr * sc, fc * sr * t, fr * sc * t   # is: Sr=RSC, Sc=E, T=K


def _filter_stamp_words(g: FoldGeometry, rsc: int, k: int, user: bool) -> int:
    """Length of the FILTER stamp array the kernel's walk needs: RSC*K (USER mode, IS), Ca*RSC (OS: one
    column fold at a time), 1 when every element is read in one fold only (``compat_kernel.filter_read_once``)."""
    once = not user and (g.code == df.WS or (g.code == df.IS and g.col_folds == 1)
                         or (g.code == df.OS and g.row_folds == 1))
    if once:
        return 1
    if g.code == df.OS and not user:
        return min(g.array_cols, k) * rsc
    return rsc * k


def _needs_seen(g: FoldGeometry, user: bool) -> tuple[bool, bool]:
    """(seen_if, seen_fl): does the walk need the scratch marks of the IFMAP / FILTER words? Only for
    repeated passes (OS/WS IFMAP, IS FILTER) over several column folds, in CALC mode."""
    many = g.col_folds > 1 and not user
    return many and g.code != df.IS, many and g.code == df.IS


def check_hardware(hw: Hardware) -> None:
    """Refuse hardware whose sizes would overflow the kernel's 64-bit counters (one line)."""
    limits.check_hardware(hw, ENGINE_NAME)


def memory_parts(row: ScaleSimRow, hw: Hardware, g: FoldGeometry | None = None) -> dict[str, int]:
    """Bytes :func:`simulate_row` allocates for ``row``, by part (upper estimates, ~1.5x the
    measured peak): the IFMAP index tables and their temporaries, the stamp arrays (int32 per IFMAP
    word and per FILTER word walked), the kernel's per-fold tables, the OFMAP line ring (one int64
    per OFMAP SRAM word) and, in USER mode, the prefetch orders and hashed-line lists (~160 bytes
    per operand-matrix element)."""
    g = g or fold_geometry(row, hw)
    user = hw.bandwidth_mode == "USER"
    e = row.out_h * row.out_w
    rsc = row.filter_h * row.filter_w * row.channels
    k = row.num_filters
    hwc = row.ifmap_h * row.ifmap_w * row.channels
    ra, ca = hw.array_rows, hw.array_cols
    fr, fc = g.row_folds, g.col_folds
    seen_if, seen_fl = _needs_seen(g, user)  # repeated passes over several column folds
    kernel = 8 * (2 * e + 3 * rsc + 3 * k + g.rows_per_fold + row.channels) + 160 * fr
    if g.code == df.OS and seen_if:          # pass-merging records (capped at 2**22 folds)
        kernel += 48 * min(fc, max(1, (1 << 22) // fr)) * fr
    parts = {
        f"index tables of {e:,} output pixels and {rsc:,} window elements":
            8 * 10 * (e + rsc) * (2 if g.code == df.WS and not user else 1) + kernel,
        f"stamps of {hwc:,} IFMAP words": 4 * hwc * (2 if seen_if else 1),
        f"stamps of {rsc * k:,} FILTER words": 4 * (_filter_stamp_words(g, rsc, k, user) + (rsc * k if seen_fl else 0)),
        f"the line ring of {hw.ofmap_sram_kb:,} kB of OFMAP SRAM": 8 * (hw.ofmap_sram_kb * 1024 + 4 * (ra + ca) + 1024),
    }
    if user:
        pad = ra + ca
        parts[f"USER-mode prefetch lists of {e * rsc + rsc * k:,} operand words"] = (
            160 * ((e + pad) * (rsc + pad) + (rsc + pad) * (k + pad)) + 8 * (hwc + rsc * k))
    return parts


def memory_estimate(row: ScaleSimRow, hw: Hardware, g: FoldGeometry | None = None) -> int:
    """Bytes :func:`simulate_row` allocates for ``row`` (see :func:`memory_parts`)."""
    return sum(memory_parts(row, hw, g).values())


def check_row(row: ScaleSimRow, hw: Hardware, g: FoldGeometry | None = None, memory: bool = True) -> int:
    """Refuse ``row`` on ``hw`` (one-line :class:`~trafficsim.errors.TooLargeError`) if its counts
    would overflow the kernel's 64-bit integers or (``memory``) its memory exceeds the limit
    (:mod:`.limits`); returns its :func:`memory_estimate`."""
    g = g or fold_geometry(row, hw)
    e = row.out_h * row.out_w
    rsc = row.filter_h * row.filter_w * row.channels
    what = f"layer {row.name!r} ({row.ifmap_h}x{row.ifmap_w}x{row.channels}, {row.num_filters} filters " \
           f"{row.filter_h}x{row.filter_w}, stride {row.stride}) on {hw.array} {hw.dataflow}"
    if_sram, fl_sram, of_sram = sram_counts(g)
    check_counters(what, {"IFMAP words": row.ifmap_h * row.ifmap_w * row.channels,
                          "FILTER words": rsc * row.num_filters, "IFMAP operand-matrix words": e * rsc,
                          "cycles": g.demand_rows + e * row.num_filters * g.row_folds,
                          "SRAM IFMAP reads": if_sram, "SRAM FILTER reads": fl_sram,
                          "SRAM OFMAP writes": of_sram, "MACs": row.macs})
    parts = memory_parts(row, hw, g)
    estimate = sum(parts.values())
    if memory:
        biggest = max(parts, key=parts.__getitem__)
        check_memory(f"{what}: the compat engine", estimate, f"mostly {biggest}")
    return estimate


def _ifmap_index_tables(row: ScaleSimRow, channel_major: bool = False) -> tuple[np.ndarray, ...]:
    """Per output pixel (row, col, base) and per window element (r, q, offset) of the NHWC IFMAP
    address ``((oy*s + r)*W + ox*s + q)*C + c`` (operand_matrix.py:calc_ifmap_elem_addr).

    ``channel_major`` numbers the same elements CHW instead, ``c*H*W + (oy*s + r)*W + ox*s + q``:
    a bijection, so the CALC epoch walk (whose stamps are private) gives the same counts, with
    contiguous memory along the pixels of a WS fold."""
    ew = row.out_w
    e = row.out_h * ew
    w, c, s = row.ifmap_w, row.channels, row.stride
    p = np.arange(e, dtype=np.int64)
    prow = (p // ew) * s
    pcol = (p % ew) * s
    rsc = row.filter_h * row.filter_w * c
    j = np.arange(rsc, dtype=np.int64)
    jr = j // (row.filter_w * c)
    rem = j % (row.filter_w * c)
    jq = rem // c
    if channel_major:
        pbase = prow * w + pcol
        joff = (rem % c) * (row.ifmap_h * w) + jr * w + jq
    else:
        pbase = (prow * w + pcol) * c
        joff = (jr * w + jq) * c + rem % c
    return prow, pcol, pbase, jr, jq, joff


@dataclass(frozen=True)
class _Walk:
    """What the memory walk of one layer yields (cycles as SCALE-Sim reports them)."""

    stall_cycles: int
    total_cycles: int
    sram_start_stop: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    dram_ifmap: tuple[int, int, int]      # start, stop, reads
    dram_filter: tuple[int, int, int]
    dram_ofmap: tuple[int, int, int]      # start, stop, writes


def _calc_read_dram(first_req: int, misses: int, triggers: int, last_trigger: int,
                    items: int) -> tuple[int, int, int]:
    """DRAM start, stop, reads of a CALC-mode read buffer from its epoch-walk summary.

    First fill at 10 words/cycle, ending 2 cycles before the first request (or at -2 when the
    operand never fills half the SRAM); later fills end at each trigger; the trace's cycles are
    request cycle + 1 (read latency)."""
    if triggers > 0:
        start = first_req - math.ceil(SETS_PER_HALF * items / CALC_FIRST_FILL_BW)
        stop = last_trigger + 1
    else:
        nsets = -(-misses // items)
        start = -math.ceil(nsets * items / CALC_FIRST_FILL_BW)
        stop = -1
    return start, stop, misses


class _Scratch:
    """One thread's stamp arrays, reused by every walk: each walk labels its epochs and marks from
    ``base`` up, above every label already stored, so the arrays never need clearing (clearing
    them, or first-touching fresh pages, cost more than many walks themselves)."""

    LABEL_LIMIT = 1 << 30  # int32 stamps; no walk uses 2**30 labels (they count triggers and folds)

    def __init__(self) -> None:
        self.base = 0
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, size: int) -> np.ndarray:
        arr = self.arrays.get(name)
        if arr is None or arr.shape[0] < size:
            arr = np.full(max(size, 1), -1, dtype=np.int32)   # -1 is below every label
            self.arrays[name] = arr
        return arr[:size]

    def advance(self, label_end: int) -> None:
        if label_end >= np.iinfo(np.int32).max:
            raise AssertionError("compat engine: stamp labels overflowed int32")  # cannot happen, see LABEL_LIMIT
        self.base = label_end
        if self.base > self.LABEL_LIMIT:
            self.clear()

    def clear(self) -> None:
        for arr in self.arrays.values():
            arr.fill(-1)
        self.base = 0


_THREAD = threading.local()


def _scratch() -> _Scratch:
    scratch = getattr(_THREAD, "scratch", None)
    if scratch is None:
        scratch = _THREAD.scratch = _Scratch()
    return scratch


class Cancelled(Exception):
    """A walk stopped early because its control vector asked it to (see :func:`simulate_row`)."""


def new_control() -> np.ndarray:
    """A control vector for :func:`simulate_row`: set ``[0]`` (from any thread) to cancel the walk
    at its next fold; ``[1]`` counts the folds walked so far (progress within the layer)."""
    return np.zeros(2, dtype=np.int64)   # compat_kernel.N_CONTROL; CTL_CANCEL = 0, CTL_FOLDS_DONE = 1


def _walk(row: ScaleSimRow, hw: Hardware, g: FoldGeometry, user_stall_once: bool = False,
          control: np.ndarray | None = None) -> _Walk:
    """Run the compiled demand-row walk of one layer (CALC or USER read buffers);
    ``user_stall_once``: the ``user-stall`` fix (USER mode); ``control``: see :func:`simulate_row`."""
    from . import compat_kernel as kern

    if control is None:
        control = new_control()

    user = hw.bandwidth_mode == "USER"
    # USER mode looks IFMAP addresses up in SCALE-Sim's prefetch lines: NHWC; CALC WS walks CHW
    tables = _ifmap_index_tables(row)
    walk_tables = _ifmap_index_tables(row, channel_major=True) if g.code == df.WS and not user else tables
    prow, pcol, pbase, jr, jq, joff = walk_tables
    rsc = row.filter_h * row.filter_w * row.channels
    if_items = (hw.ifmap_sram_kb * 1024) // 100
    fl_items = (hw.filter_sram_kb * 1024) // 100
    of_total = hw.ofmap_sram_kb * 1024
    of_active = int(math.ceil(of_total * 0.5))
    of_bw = hw.bandwidth if user else hw.array_cols
    if user:
        from .compat_user import user_buffers
        if_u, if_ptr, if_lines, fl_u, fl_ptr, fl_lines = user_buffers(row, hw, tables)
        if user_stall_once:
            if_u[kern.U_STALL_ONCE] = fl_u[kern.U_STALL_ONCE] = 1
    else:
        if_u = fl_u = np.zeros(kern.U_SIZE, dtype=np.int64)
        if_ptr = if_lines = fl_ptr = fl_lines = np.zeros(1, dtype=np.int64)
    ring = of_total + 4 * (hw.array_rows + hw.array_cols) + 1024
    code = g.code
    ra, ca, sr, sc = g.array_rows, g.array_cols, g.spatial_rows, g.spatial_cols
    if_size = row.ifmap_h * row.ifmap_w * row.channels
    fl_size = _filter_stamp_words(g, rsc, row.num_filters, user)
    seen_if, seen_fl = _needs_seen(g, user)
    scratch = _scratch()
    walk = kern.walk_kernel(code, user)   # compiled per dataflow and mode on first use
    while True:
        base = scratch.base
        try:
            r = walk(code, ra, ca, sr, sc, g.temporal,
                     row.ifmap_h, row.ifmap_w, rsc, prow, pcol, pbase, jr, jq, joff,
                     scratch.array("if_stamp", if_size), scratch.array("fl_stamp", fl_size),
                     if_items, fl_items, of_total, of_active, of_total - of_active, of_bw, ring,
                     user, if_u.copy(), if_ptr, if_lines, fl_u.copy(), fl_ptr, fl_lines,
                     row.stride >= row.filter_h and row.stride >= row.filter_w, base,
                     scratch.array("seen_if", if_size if seen_if else 1),
                     scratch.array("seen_fl", rsc * row.num_filters if seen_fl else 1), control)
        except BaseException:
            scratch.clear()  # a walk cut short leaves labels above base behind
            raise
        if r[kern.R_CANCELLED]:
            scratch.clear()
            raise Cancelled(f"layer {row.name!r}: cancelled")
        scratch.advance(int(r[kern.R_LABEL_END]))
        if r[kern.R_BROKEN]:
            raise AssertionError(f"compat engine: an internal invariant of the walk (pass merging, kernel variant) "
                                 f"failed in layer {row.name!r}")
        if not r[kern.R_RING_OVERFLOW]:
            break
        ring *= 4
    r = [int(x) for x in r]
    if user:
        dram_ifmap = (r[kern.R_IF_USER_START], r[kern.R_IF_USER_STOP], r[kern.R_IF_USER_READS])
        dram_filter = (r[kern.R_FL_USER_START], r[kern.R_FL_USER_STOP], r[kern.R_FL_USER_READS])
    else:
        dram_ifmap = _calc_read_dram(r[kern.R_IF_FIRST_REQ], r[kern.R_IF_MISSES], r[kern.R_IF_TRIGGERS],
                                     r[kern.R_IF_LAST_TRIGGER], if_items)
        dram_filter = _calc_read_dram(r[kern.R_FL_FIRST_REQ], r[kern.R_FL_MISSES], r[kern.R_FL_TRIGGERS],
                                      r[kern.R_FL_LAST_TRIGGER], fl_items)
    return _Walk(
        stall_cycles=r[kern.R_STALL],
        total_cycles=r[kern.R_LAST_OUT],
        sram_start_stop=((r[kern.R_IF_SRAM_START], r[kern.R_IF_SRAM_STOP]),
                         (r[kern.R_FL_SRAM_START], r[kern.R_FL_SRAM_STOP]),
                         (r[kern.R_OF_SRAM_START], r[kern.R_OF_SRAM_STOP])),
        dram_ifmap=dram_ifmap,
        dram_filter=dram_filter,
        dram_ofmap=(r[kern.R_OF_DRAM_START], r[kern.R_OF_DRAM_STOP], r[kern.R_OF_DRAM_WRITES]),
    )


def simulate_row(row: ScaleSimRow, hw: Hardware, layer_id: int = 0, options: CompatOptions | None = None,
                 control: np.ndarray | None = None) -> LayerResult:
    """SCALE-Sim 3.0.0's report fields for one SCALE-Sim row (one layer after DP expansion),
    with the fixes of ``options`` applied (:mod:`.compat_fixes`).

    ``control`` (optional, :func:`new_control`) lets another thread follow the walk's folds and
    cancel it (:class:`Cancelled` is then raised)."""
    if row.filter_h > row.ifmap_h or row.filter_w > row.ifmap_w:
        raise TopologyError(f"layer {row.name!r}: filter {row.filter_h}x{row.filter_w} is larger than "
                            f"the IFMAP {row.ifmap_h}x{row.ifmap_w}")
    check_hardware(hw)
    g = fold_geometry(row, hw)
    check_row(row, hw, g)
    fixes = fixes_of(options)
    walk = _walk(row, hw, g, user_stall_once="user-stall" in fixes, control=control)
    if hw.bandwidth_mode == "CALC" and walk.total_cycles != g.demand_rows - 1 + walk.stall_cycles:
        raise AssertionError(f"compat engine: cycle count mismatch in layer {row.name!r}")  # walk invariant
    ra, ca = hw.array_rows, hw.array_cols
    total = walk.total_cycles
    num_compute = row.out_h * row.out_w * row.num_filters * row.filter_h * row.filter_w * row.channels
    map_eff, comp_util = _fold_means(g)
    if_sram, fl_sram, of_sram = sram_counts(g)
    (ifs0, ifs1), (fls0, fls1), (ofs0, ofs1) = walk.sram_start_stop
    ifd0, ifd1, ifd_n = walk.dram_ifmap
    fld0, fld1, fld_n = walk.dram_filter
    ofd0, ofd1, ofd_n = walk.dram_ofmap
    result = LayerResult(
        layer_id=layer_id, name=row.name, source_layer=row.source_layer, macs=row.macs,
        total_cycles_incl_prefetch=int(ofd1 - min(ifd0, fld0)),
        total_cycles=total, stall_cycles=walk.stall_cycles,
        overall_util_pct=(num_compute * 100) / (total * ra * ca),
        mapping_efficiency_pct=map_eff * 100, compute_util_pct=comp_util * 100,
        sram_ifmap_reads=if_sram, sram_filter_reads=fl_sram, sram_ofmap_writes=of_sram,
        dram_ifmap_reads=ifd_n, dram_filter_reads=fld_n, dram_ofmap_writes=ofd_n,
        sram_ifmap_start_cycle=ifs0, sram_ifmap_stop_cycle=ifs1,
        sram_filter_start_cycle=fls0, sram_filter_stop_cycle=fls1,
        sram_ofmap_start_cycle=ofs0, sram_ofmap_stop_cycle=ofs1,
        dram_ifmap_start_cycle=ifd0, dram_ifmap_stop_cycle=ifd1,
        dram_filter_start_cycle=fld0, dram_filter_stop_cycle=fld1,
        dram_ofmap_start_cycle=ofd0, dram_ofmap_stop_cycle=ofd1,
        avg_ifmap_sram_bw=if_sram / total, avg_filter_sram_bw=fl_sram / total,
        avg_ofmap_sram_bw=of_sram / total,
        avg_ifmap_dram_bw=ifd_n / float(ifd1 - ifd0 + 1),
        avg_filter_dram_bw=fld_n / float(fld1 - fld0 + 1),
        avg_ofmap_dram_bw=ofd_n / float(ofd1 - ofd0 + 1),
    )
    if not hw.dram.is_ideal:  # a DRAM standard: SCALE-Sim's DRAM stream timed on it (compat_dram)
        from .compat_dram import on_dram
        return on_dram(row, hw, result, fixes)
    return apply_fixes(result, row, hw, fixes) if fixes else result


#: bytes per SCALE-Sim row a run holds (the row, its result, keys and bookkeeping; measured ~0.9 kB)
ROW_BYTES = 1500


def layer_rows(topology: Topology) -> list[ScaleSimRow]:
    """The SCALE-Sim rows this engine simulates for ``topology`` (``DP`` layers expanded).

    Refuses (:class:`~trafficsim.errors.TooLargeError`) a topology whose expansion would not fit
    the memory limit (a depthwise layer of 10**9 channels is 10**9 rows)."""
    rows = scalesim_rows(topology)
    n = sum(r.channels if "DP" in r.name else 1 for r in rows)
    check_counters(f"{topology.name}", {"SCALE-Sim layers": n})
    check_memory(f"{topology.name} ({n:,} SCALE-Sim layers after DP expansion)", n * ROW_BYTES)
    return expand_dp(rows)


def row_key(row: ScaleSimRow) -> tuple[int, ...]:
    """What a row's result depends on besides the hardware: rows with equal keys give equal results
    (up to their names and ids), within a network and across networks, since SCALE-Sim simulates
    every layer from empty buffers."""
    return (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.num_filters, row.stride)


def cost_estimate(row: ScaleSimRow, hw: Hardware) -> float:
    """Rough seconds :func:`simulate_row` takes (a fit over the zoo on 8x8..128x128 arrays): for
    ordering and balancing work, not for reporting."""
    g = fold_geometry(row, hw)
    if_sram, fl_sram, _ = sram_counts(g)
    folds = g.row_folds * g.col_folds
    memory = row.ifmap_h * row.ifmap_w * row.channels + row.filter_h * row.filter_w * row.channels * row.num_filters
    return 1e-4 + 1.1e-6 * folds + 3e-9 * g.demand_rows + 4e-10 * (if_sram + fl_sram) + 2e-9 * memory


def assemble(topology: Topology, hw: Hardware, rows: list[ScaleSimRow],
             computed: dict[tuple[int, ...], LayerResult], names: bool = True,
             keys: list[tuple[int, ...]] | None = None, options: CompatOptions | None = None) -> RunResult:
    """The run of ``topology`` from one computed result per distinct :func:`row_key` of ``rows``
    (its :func:`layer_rows`): each row gets its key's result under its own name, id and source layer.

    ``names=False`` leaves the shared results as they are (ids and names of the first row of their
    shape), enough for :meth:`RunResult.totals` and much cheaper over a sweep's million rows.
    ``keys`` are the rows' :func:`row_key` values when the caller has them already; ``options``
    (the fixes the results were computed with) go into the run's ``meta``.
    """
    meta = _meta(hw, fixes_of(options))
    if keys is None:
        keys = [row_key(row) for row in rows]
    if not names:
        return RunResult(model=topology.name, engine=ENGINE_NAME, hardware=hw,
                         layers=tuple(computed[k] for k in keys), meta=meta)
    results: list[LayerResult] = []
    for i, (row, key) in enumerate(zip(rows, keys)):
        res = computed[key]
        # equal keys have equal shapes, hence equal MACs: only the ids and names differ
        if res.layer_id != i or res.name != row.name or res.source_layer != row.source_layer:
            res = res.renamed(i, row.name, row.source_layer)
        results.append(res)
    return RunResult(model=topology.name, engine=ENGINE_NAME, hardware=hw, layers=tuple(results),
                     meta=meta)


def _meta(hw: Hardware, fixes: tuple[str, ...] = ()) -> dict:
    """``meta`` of a compat run; ``fixes`` (names, canonical order) only on runs made with fixes."""
    meta: dict = {"scalesim_version": "3.0.0", "bandwidth_mode": hw.bandwidth_mode}
    if fixes:
        meta["fixes"] = list(fixes)
    if not hw.dram.is_ideal:
        from .compat_dram import dram_meta
        meta["dram"] = dram_meta(hw)
    return meta


def default_threads() -> int:
    """Threads for the layers of one network: ``TRAFFICSIM_THREADS`` if set, else the CPU count.

    The compiled kernel releases the GIL, so layers run in parallel in threads. Sweep workers,
    which already run one process per core, set ``TRAFFICSIM_THREADS=1``.
    """
    raw = os.environ.get("TRAFFICSIM_THREADS", "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, os.cpu_count() or 1)


def run_id_tags(result: RunResult) -> list[str]:
    """``fix-all`` or ``fix-<name>.<name>...`` for a run made with fixes (:mod:`.compat_fixes`), and the DRAM
    and array clock of a run on a DRAM standard (``ddr4-3200.1000MHz``, as the capacity engine names them)."""
    tags = fix_tag(result.meta.get("fixes", ()))
    hw = result.hardware
    if not hw.dram.is_ideal:  # the DRAM's stalls change the cycles: never the folder of the ideal run
        tags.append(f"{hw.dram.run_tag()}.{hw.clock_mhz:g}MHz")
    return tags


#: CPU seconds of the one-time compiles (numba, cache empty), measured on the project's 2-core machine by
#: benchmarks/bench_compile.py (2026-11-30, median of 2): a cold `trafficsim run hardnet68 --array 32x32` took
#: 12.1 CPU-s in all (20.8 before the kernel was compiled per dataflow and mode); a cold run on DDR4-3200 ~9 more
#: for SCALE-Sim's DRAM stream and the DRAM model (examples/tiny.csv, OS: 13.7 alone, 22.4 on DDR4-3200)
COMPILE_CPU_S = 12
DRAM_COMPILE_CPU_S = 10


def compile_notice(hardware: Hardware | None = None) -> str | None:
    """A line for the user before a run on ``hardware`` (default: SCALE-Sim's scale.cfg) compiles the
    kernel of its dataflow and read mode (and, on a DRAM standard, the DRAM stream and model), or None
    when numba's cache already holds them (the check reads the cache indexes only)."""
    from ..numba_cache import is_cached
    from . import compat_kernel as kern

    hw = hardware if hardware is not None else Hardware()
    parts = []
    if not is_cached(kern.walk_kernel(df.code(hw.dataflow), hw.bandwidth_mode == "USER")):
        parts.append(f"kernel for the {hw.dataflow.upper()} dataflow (about {COMPILE_CPU_S} CPU-seconds)")
    if not hw.dram.is_ideal:
        from ..dram.controller import run_kernel
        from .compat_dram_stream import walk_layer_stream

        if not (is_cached(walk_layer_stream) and is_cached(run_kernel)):
            parts.append(f"DRAM stream and model (about {DRAM_COMPILE_CPU_S} CPU-seconds)")
    if not parts:
        return None
    return (f"compiling the compat engine's {' and '.join(parts)} once (a few minutes on a busy machine); later "
            f"runs load it from numba's cache")


#: seconds between checks of the running walks for progress (and between chances for Ctrl-C)
PROGRESS_INTERVAL_S = 0.25


class _WorkerThreads:
    """Daemon threads that simulate layers for :func:`simulate`, kept across calls so that their
    stamp arrays (:class:`_Scratch`) are reused; daemons, so that a walk still running (or being
    compiled) cannot keep the process alive after Ctrl-C."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.busy = 0
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)

    def submit(self, fn, args: tuple, tag: int, out: queue.SimpleQueue) -> None:
        """Run ``fn(*args)`` in a worker; put ``(tag, result, None)`` or ``(tag, None, exception)`` on ``out``."""
        with self.lock:
            self.busy += 1
            self.threads = [t for t in self.threads if t.is_alive()]
            if len(self.threads) < self.busy:
                t = threading.Thread(target=self._work, name=f"trafficsim-compat-{len(self.threads)}", daemon=True)
                self.threads.append(t)
                t.start()
        self.jobs.put((fn, args, tag, out))

    def _work(self) -> None:
        while True:
            fn, args, tag, out = self.jobs.get()
            try:
                out.put((tag, fn(*args), None))
            except BaseException as e:  # noqa: BLE001 (handed to the caller's thread)
                out.put((tag, None, e))
            finally:
                with self.lock:
                    self.busy -= 1
                    if self.busy == 0:
                        self.idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        with self.lock:
            self.idle.wait_for(lambda: self.busy == 0, timeout=timeout)


_WORKERS = _WorkerThreads()


def _reset_workers_after_fork() -> None:
    global _WORKERS
    _WORKERS = _WorkerThreads()   # a forked child has none of the parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_workers_after_fork)


def simulate(topology: Topology, hardware: Hardware | None = None, progress: ProgressFn = None,
             options: CompatOptions | None = None, threads: int | None = None) -> RunResult:
    """Simulate every SCALE-Sim row of ``topology`` (after ``DP`` expansion) as SCALE-Sim 3.0.0 would.

    Identical rows (e.g. the channels of an expanded depthwise layer) are simulated once. Distinct
    rows are independent and run on ``threads`` threads (default :func:`default_threads`), the
    most expensive first; the results do not depend on the thread count. ``options``: a
    :class:`~trafficsim.engines.compat_fixes.CompatOptions` (SCALE-Sim's bugs to fix; none by default).
    """
    if options is not None and not isinstance(options, CompatOptions):
        raise InputError(f"engine {ENGINE_NAME!r} takes CompatOptions, got {type(options).__name__}")
    hw = hardware or Hardware()
    warn_approximations(fixes_of(options), hw)
    rows = layer_rows(topology)
    keys = [row_key(row) for row in rows]
    first_of: dict[tuple[int, ...], int] = {}
    copies: dict[tuple[int, ...], int] = {}  # progress counts rows: a unique row stands for its copies
    for i, key in enumerate(keys):
        first_of.setdefault(key, i)
        copies[key] = copies.get(key, 0) + 1
    unique = sorted(first_of.values(), key=lambda i: -rows[i].macs)  # longest first balances the threads
    n_threads = max(1, min(threads or default_threads(), len(unique)))
    # refuse before any work: every distinct layer must fit (one line naming the first that does not)
    check_hardware(hw)
    estimates = sorted((check_row(rows[i], hw) for i in unique), reverse=True)
    limit = memory_limit_bytes()
    while n_threads > 1 and limit is not None and sum(estimates[:n_threads]) > limit:
        n_threads -= 1   # the largest layers would not fit side by side: fewer threads
    computed: dict[tuple[int, ...], LayerResult] = {}
    total_folds = {i: max(1, fold_geometry(rows[i], hw).row_folds * fold_geometry(rows[i], hw).col_folds)
                   for i in unique} if progress is not None else {}
    done_rows = 0
    shown = -1.0
    if progress is not None:
        progress(0, len(rows))
    # Layers run in daemon worker threads (the kernel releases the GIL), never in this thread: it
    # stays free to take Ctrl-C (a walk in compiled code would hold it until the layer ends), to
    # cancel the running walks at their next fold, and to report progress within long layers.
    pending = list(reversed(unique))          # popped from the end: the longest first
    running: dict[int, np.ndarray] = {}       # row index -> its walk's control vector
    out: queue.SimpleQueue = queue.SimpleQueue()
    try:
        while pending or running:
            while pending and len(running) < n_threads:
                i = pending.pop()
                running[i] = new_control()
                _WORKERS.submit(simulate_row, (rows[i], hw, i, options, running[i]), i, out)
            try:
                i, result, error = out.get(timeout=PROGRESS_INTERVAL_S)
            except queue.Empty:
                if progress is not None:   # progress within the running layers, by folds walked
                    part = sum(copies[keys[j]] * min(1.0, int(ctl[1]) / total_folds[j]) for j, ctl in running.items())
                    if done_rows + part > shown:
                        shown = done_rows + part
                        progress(shown, len(rows))
                continue
            del running[i]
            if error is not None:
                raise error
            computed[keys[i]] = result
            done_rows += copies[keys[i]]
            if progress is not None:
                shown = done_rows
                progress(done_rows, len(rows))
    except BaseException:
        # Ctrl-C or a failed layer: stop the other walks at their next fold, give them a moment
        for ctl in running.values():
            ctl[0] = 1
        _WORKERS.wait_idle(timeout=2.0)
        raise
    return assemble(topology, hw, rows, computed, keys=keys, options=options)
