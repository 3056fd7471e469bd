"""The compat engine on a DRAM model: SCALE-Sim 3.0.0's own DRAM requests, timed in the same pass.

For each layer, :func:`layer_stream` generates the DRAM requests SCALE-Sim's CALC-mode memory system
makes (the IFMAP and FILTER prefetch blocks of its epoch model, the OFMAP drains; the traces it writes
to ``{IFMAP,FILTER,OFMAP}_DRAM_TRACE.csv``), as burst requests at the cycles SCALE-Sim issues them.
:func:`time_stream` runs them through the DRAM model (:func:`trafficsim.dram.simulate_requests`) and
feeds the lateness back into the cycle count:

* a prefetch block must have arrived by the cycle its first word is demanded (plus SCALE-Sim's
  one-cycle SRAM latency); an OFMAP drain must be complete before the next drain during compute
  starts (the drain half is needed again);
* requests are issued at SCALE-Sim's cycles (the prefetcher runs ahead of a stalled array, as
  SCALE-Sim's plan assumes), so the array's stall is the largest lateness of any block or drain.

See ``docs/dram.md`` ("The compat engine on the DRAM") for how this differs from SCALE-Sim v3's
Ramulator mode.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..hardware import Hardware
from ..results import LayerResult
from ..topology import ScaleSimRow
from . import compat_dram_stream as ks

OPERANDS = ("ifmap", "filter")


@dataclass(frozen=True, eq=False)
class LayerStream:
    """One layer's SCALE-Sim DRAM requests (CALC mode) on SCALE-Sim's timeline (cycle 0 = first demand row).

    * ``read_addr[op]`` / ``read_cycle[op]`` (op 0 IFMAP, 1 FILTER): burst byte addresses and request
      cycles; ``read_blocks[op]``: one row per prefetch block (columns ``compat_dram_stream.B_*``).
    * ``write_addr`` / ``write_cycle``: the OFMAP drains' bursts; ``drains``: one row per drain
      (columns ``compat_dram_stream.D_*``).
    * ``words``: SCALE-Sim's words (``words=True`` only): per read operand the misses in miss order,
      per OFMAP line its cycle and words.
    * ``result``: the walk's ``Q_*`` vector (stall and total cycles, misses, write count).
    """

    burst_bytes: int
    read_addr: tuple[np.ndarray, np.ndarray]
    read_cycle: tuple[np.ndarray, np.ndarray]
    read_blocks: tuple[np.ndarray, np.ndarray]
    write_addr: np.ndarray
    write_cycle: np.ndarray
    drains: np.ndarray
    result: np.ndarray
    items: tuple[int, int]
    words: dict | None = None

    @property
    def requests(self) -> int:
        return int(self.read_addr[0].size + self.read_addr[1].size + self.write_addr.size)

    @property
    def total_cycles(self) -> int:
        return int(self.result[ks.Q_LAST_OUT])

    @property
    def stall_cycles(self) -> int:
        return int(self.result[ks.Q_STALL])


def _check_word_bytes(wb: float, burst_bytes: int) -> int:
    if not (isinstance(wb, int) or float(wb).is_integer()) or int(wb) < 1 or int(wb) & (int(wb) - 1) \
            or int(wb) > burst_bytes:
        raise InputError(f"the compat engine on a DRAM standard needs a power-of-two word size of at most one "
                         f"burst ({burst_bytes} B), got {wb:g} B")
    return int(wb)


def layer_stream(row: ScaleSimRow, hw: Hardware, burst_bytes: int, *, words: bool = False,
                 word_bytes: int = 1) -> LayerStream:
    """SCALE-Sim's DRAM requests of one layer in CALC mode, as bursts of ``burst_bytes`` (a power of two).

    Word ``a`` (SCALE-Sim's address, offsets included) is byte ``a x word_bytes`` (1: SCALE-Sim's words, what
    the compat engine uses; element sizes are the workload's precision, which SCALE-Sim ignores); the words of a
    prefetch block are requested in address order at the block's pace (``bw`` words per cycle), a
    burst at the cycle of its first word; a drain's words in line order, one line per cycle, a burst
    at the cycle of its first word in the drain. ``words=True`` also keeps every word (tests)."""
    from .compat import _ifmap_index_tables, fold_geometry

    if hw.bandwidth_mode != "CALC":
        raise InputError("the compat engine on a DRAM standard times SCALE-Sim's CALC-mode DRAM requests; USER "
                         "mode's fixed bandwidth is what the DRAM replaces: use --bandwidth calc "
                         "(bandwidth_mode CALC) or drop --dram")
    wb = _check_word_bytes(word_bytes, burst_bytes)
    shift = int(burst_bytes).bit_length() - 1
    if 1 << shift != burst_bytes:
        raise ValueError(f"burst_bytes must be a power of two, got {burst_bytes}")
    g = fold_geometry(row, hw)
    code = g.code
    prow, pcol, pbase, jr, jq, joff = _ifmap_index_tables(row)
    rsc = row.filter_h * row.filter_w * row.channels
    k = row.num_filters
    if_items = (hw.ifmap_sram_kb * 1024) // 100
    fl_items = (hw.filter_sram_kb * 1024) // 100
    of_total = hw.ofmap_sram_kb * 1024
    of_active = int(math.ceil(of_total * 0.5))
    of_bw = hw.array_cols
    if_size = row.ifmap_h * row.ifmap_w * row.channels
    fl_size = rsc * k
    # output sizes: a first guess, grown when the walk reports an overflow
    sram_if, sram_fl, sram_of = (int(x) for x in _sram(g))
    cap_r = [max(1024, min(sram_if, 4 * if_size) // 8), max(1024, min(sram_fl, 4 * fl_size) // 8)]
    cap_w = max(1024, sram_of // 8)
    ring = 1 << int(of_total + 4 * (hw.array_rows + hw.array_cols) + 1024).bit_length()   # a power of two
    n_w = g.row_folds * g.col_folds * g.temporal * max(hw.array_rows, hw.array_cols) + 1 if words else 1
    while True:
        blocks_cap = [max(4, cap_r[0] // max(1, if_items) + 4), max(4, cap_r[1] // max(1, fl_items) + 4)]
        if_addr = np.empty(cap_r[0], np.int64)
        if_cycle = np.empty(cap_r[0], np.int64)
        fl_addr = np.empty(cap_r[1], np.int64)
        fl_cycle = np.empty(cap_r[1], np.int64)
        if_blocks = np.zeros((blocks_cap[0] * 8, ks.N_B), np.int64)
        fl_blocks = np.zeros((blocks_cap[1] * 8, ks.N_B), np.int64)
        of_addr = np.empty(cap_w, np.int64)
        of_cycle = np.empty(cap_w, np.int64)
        drains = np.zeros((cap_w // 4 + 64, ks.N_D), np.int64)
        ring_arr = np.empty(ring, np.int64)
        line_start = np.zeros(1 << int(ring // max(1, of_bw) + 64).bit_length(), np.int64)
        if_miss = np.empty(n_w, np.int64)
        fl_miss = np.empty(n_w, np.int64)
        n_lines = n_w // max(1, of_bw) + n_w // 2 + 64 if words else 1
        line_cycle = np.full(n_lines, -1, np.int64)
        line_word_start = np.full(n_lines, -1, np.int64)
        of_words = np.empty(n_w, np.int64)
        r = ks.walk_layer_stream(code, g.array_rows, g.array_cols, g.spatial_rows, g.spatial_cols, g.temporal,
                                 row.ifmap_h, row.ifmap_w, rsc, k, prow, pcol, pbase, jr, jq, joff,
                                 hw.ifmap_offset, hw.filter_offset, hw.ofmap_offset,
                                 np.full(max(1, if_size), -1, np.int64), np.full(max(1, fl_size), -1, np.int64),
                                 if_items, fl_items, of_total, of_active, of_total - of_active, of_bw, shift, wb,
                                 if_addr, if_cycle, if_blocks, fl_addr, fl_cycle, fl_blocks,
                                 of_addr, of_cycle, drains, ring_arr, line_start,
                                 words, if_miss, fl_miss, line_cycle, line_word_start, of_words)
        if r[ks.Q_RING_OVERFLOW]:
            ring *= 4
            continue
        if r[ks.Q_OVERFLOW]:
            cap_r = [c * 4 for c in cap_r]
            cap_w *= 4
            continue
        break
    nb = (int(r[ks.Q_N_IF_BURSTS]), int(r[ks.Q_N_FL_BURSTS]))
    nbl = (int(r[ks.Q_N_IF_BLOCKS]), int(r[ks.Q_N_FL_BLOCKS]))
    word_data = None
    if words:
        n_lines = int(r[ks.Q_N_LINES])
        word_data = {"misses": (if_miss[:int(r[ks.Q_IF_MISSES])].copy(), fl_miss[:int(r[ks.Q_FL_MISSES])].copy()),
                     "line_cycle": line_cycle[:n_lines].copy(), "line_word_start": line_word_start[:n_lines].copy(),
                     "of_words": of_words[:int(r[ks.Q_OF_VALID])].copy()}
    return LayerStream(
        burst_bytes=burst_bytes,
        read_addr=(if_addr[:nb[0]].copy(), fl_addr[:nb[1]].copy()),
        read_cycle=(if_cycle[:nb[0]].copy(), fl_cycle[:nb[1]].copy()),
        read_blocks=(if_blocks[:nbl[0]].copy(), fl_blocks[:nbl[1]].copy()),
        write_addr=of_addr[:int(r[ks.Q_N_OF_BURSTS])].copy(),
        write_cycle=of_cycle[:int(r[ks.Q_N_OF_BURSTS])].copy(),
        drains=drains[:int(r[ks.Q_N_DRAINS])].copy(),
        result=r.copy(), items=(if_items, fl_items), words=word_data)


def _sram(g):
    from .compat import sram_counts
    return sram_counts(g)


def scalesim_read_trace(stream: LayerStream, op: int) -> list[tuple[int, list[int]]]:
    """The rows of SCALE-Sim's ``IFMAP_DRAM_TRACE.csv`` (op 0) or ``FILTER_DRAM_TRACE.csv`` (op 1) as
    (cycle, addresses of the row, -1 pads included, without the file's 1.0 padding columns), rebuilt from
    a ``words=True`` stream: a block's addresses are listed set by set in Python ``set`` iteration order
    (CPython's, for the same insertions), as ``read_buffer_estimate_bw.prefetch`` lists them."""
    if stream.words is None:
        raise ValueError("scalesim_read_trace needs a stream made with words=True")
    misses = stream.words["misses"][op]
    items = stream.items[op]
    out: list[tuple[int, list[int]]] = []
    for blk in stream.read_blocks[op]:
        w0, n = int(blk[ks.B_FIRST_MISS]), int(blk[ks.B_N_MISSES])
        start, end, bw = int(blk[ks.B_WIN_START]), int(blk[ks.B_WIN_END]), int(blk[ks.B_BW])
        addrs: list[int] = []
        for s in range(0, n, items):
            one: set = set()
            for a in misses[w0 + s:w0 + min(n, s + items)]:
                one.add(int(a))
            addrs += list(one)
        n_rows = end - start + 1
        addrs += [-1] * (n_rows * bw - len(addrs))
        for i in range(n_rows):
            out.append((start + i + 1, addrs[i * bw:(i + 1) * bw]))   # the trace holds response cycles
    return out


def scalesim_write_trace(stream: LayerStream, bw: int) -> list[tuple[int, list[int]]]:
    """The rows of SCALE-Sim's ``OFMAP_DRAM_TRACE.csv`` (cycle, the line's ``bw`` words, -1 pads) from a
    ``words=True`` stream."""
    if stream.words is None:
        raise ValueError("scalesim_write_trace needs a stream made with words=True")
    w = stream.words
    starts = list(w["line_word_start"]) + [len(w["of_words"])]
    out = []
    for ln, cyc in enumerate(w["line_cycle"]):
        line = [int(a) for a in w["of_words"][starts[ln]:starts[ln + 1]]]
        out.append((int(cyc), line + [-1] * (bw - len(line))))
    return out


@dataclass(frozen=True)
class StreamTiming:
    """What the DRAM made of one layer's stream (array cycles on SCALE-Sim's timeline)."""

    dram_stall_cycles: int
    dram_cycles: int
    last_done_cycle: int
    first_request_cycle: int
    stats: object  # trafficsim.dram.DramStats


def time_stream(stream: LayerStream, device, clock_mhz: float) -> StreamTiming:
    """Time ``stream`` on ``device`` (a resolved :class:`trafficsim.dram.DramDevice`), every request arriving
    at its SCALE-Sim cycle, and the array's stall: the largest lateness of a prefetch block (done after
    its first demand's cycle + 1) or of a drain during compute (done after the next drain starts)."""
    from ..dram import simulate_requests

    parts_a = [stream.read_addr[0], stream.read_addr[1], stream.write_addr]
    parts_c = [stream.read_cycle[0], stream.read_cycle[1], stream.write_cycle]
    sizes = [p.size for p in parts_a]
    addr = np.concatenate(parts_a)
    cyc = np.concatenate(parts_c)
    is_write = np.zeros(addr.size, bool)
    is_write[sizes[0] + sizes[1]:] = True
    n = addr.size
    if n == 0:
        from ..dram import simulate_requests as _sr
        st = _sr(device, np.zeros(0, np.uint64), np.zeros(0, bool))
        return StreamTiming(0, 0, 0, 0, st)
    order = np.argsort(cyc, kind="stable")
    t0 = int(cyc[order[0]])
    ratio = (1e3 / device.tck_ns) / clock_mhz          # memory cycles per array cycle
    arrival = np.ceil((cyc[order] - t0) * ratio).astype(np.int64)
    st = simulate_requests(device, addr[order].astype(np.uint64), is_write[order], arrival, completion=True)
    done = np.empty(n, np.int64)
    done[order] = np.ceil(st.completion / ratio).astype(np.int64) + t0
    lateness = 0
    offs = [0, sizes[0], sizes[0] + sizes[1]]
    for op in range(2):
        for blk in stream.read_blocks[op]:
            nbu = int(blk[ks.B_N_BURSTS])
            if nbu == 0:
                continue
            a = offs[op] + int(blk[ks.B_FIRST_BURST])
            lateness = max(lateness, int(done[a:a + nbu].max()) - int(blk[ks.B_NEED]) - 1)
    last_out = stream.total_cycles
    dr = stream.drains
    for d in range(dr.shape[0] - 1):
        nxt = int(dr[d + 1, ks.D_START])
        nbu = int(dr[d, ks.D_N_BURSTS])
        if nxt >= last_out or nbu == 0:
            continue
        a = offs[2] + int(dr[d, ks.D_FIRST_BURST])
        lateness = max(lateness, int(done[a:a + nbu].max()) - nxt)
    return StreamTiming(dram_stall_cycles=max(0, lateness), dram_cycles=math.ceil(st.dram_cycles / ratio),
                        last_done_cycle=int(done.max()), first_request_cycle=t0, stats=st)


@functools.lru_cache(maxsize=16)
def _device(dram):
    return dram.resolve()


def dram_meta(hw: Hardware) -> dict:
    """The run's ``meta["dram"]``: the configuration, the device and its peak bandwidth."""
    dev = _device(hw.dram)
    return {**hw.dram.to_dict(), "peak_bandwidth_gbs": float(dev.peak_bandwidth_gbs), "device": dev.describe(),
            "burst_bytes": int(dev.request_bytes), "stream": "scalesim-calc"}


def on_dram(row: ScaleSimRow, hw: Hardware, base: LayerResult, fixes: tuple[str, ...] = ()) -> LayerResult:
    """``base`` (the compat engine's SCALE-Sim fields of ``row``) on ``hw.dram``: SCALE-Sim's DRAM stream
    timed, the array's stall added to the cycle counts, the DRAM columns added. The stream is unfixed
    SCALE-Sim's: ``fixes`` (compat --fix) are refused on a DRAM standard."""
    if fixes:
        raise InputError(f"--fix {','.join(fixes)} is not modelled on a DRAM standard yet (the DRAM times SCALE-Sim "
                         f"3.0.0's own requests): drop --fix or --dram {hw.dram.standard}")
    device = _device(hw.dram)
    stream = layer_stream(row, hw, int(device.request_bytes))
    r = stream.result
    # the stream's walk must be SCALE-Sim's: the same cycles, misses and writes as the compat kernel's
    if (stream.total_cycles != base.total_cycles or stream.stall_cycles != base.stall_cycles
            or int(r[ks.Q_IF_MISSES]) != base.dram_ifmap_reads or int(r[ks.Q_FL_MISSES]) != base.dram_filter_reads
            or int(r[ks.Q_OF_WRITES]) != base.dram_ofmap_writes):
        raise AssertionError(f"compat DRAM stream disagrees with the compat kernel in layer {row.name!r}")
    tm = time_stream(stream, device, hw.clock_mhz)
    st = tm.stats
    stall = tm.dram_stall_cycles
    total = base.total_cycles + stall
    compute = base.total_cycles - base.stall_cycles
    end = max(total, tm.last_done_cycle)
    moved = st.read_bytes + st.write_bytes
    seconds = tm.dram_cycles / (hw.clock_mhz * 1e6)
    achieved = moved / seconds / 1e9 if seconds > 0 else 0.0
    accesses = st.row_hits + st.row_misses + st.row_conflicts
    extra = dict(base.extra)
    extra.update({
        "compute_cycles": compute,
        "dram_stall_cycles": stall,
        "dram_cycles": tm.dram_cycles,
        "dram_requests": stream.requests,
        "dram_moved_bytes": moved,
        "dram_reads_forwarded": st.reads_forwarded,
        "row_hits": st.row_hits,
        "row_misses": st.row_misses,
        "row_conflicts": st.row_conflicts,
        "row_hit_rate": st.row_hits / accesses if accesses else 0.0,
        "achieved_bandwidth_gbs": achieved,
        "peak_bandwidth_gbs": float(device.peak_bandwidth_gbs),
        "bandwidth_util_pct": 100.0 * achieved / float(device.peak_bandwidth_gbs),
        "dram_energy_pj": st.energy_total_pj,
        **{f"dram_energy_{k.lower()}_pj": v for k, v in st.energy_pj.items()},
    })
    new = object.__new__(LayerResult)
    new.__dict__.update(base.__dict__)
    new.__dict__.update(
        total_cycles=total, stall_cycles=base.stall_cycles + stall,
        total_cycles_incl_prefetch=int(end - min(tm.first_request_cycle, 0)),
        overall_util_pct=base.overall_util_pct * base.total_cycles / total,
        avg_ifmap_sram_bw=base.sram_ifmap_reads / total, avg_filter_sram_bw=base.sram_filter_reads / total,
        avg_ofmap_sram_bw=base.sram_ofmap_writes / total,
        extra=extra)
    return new
