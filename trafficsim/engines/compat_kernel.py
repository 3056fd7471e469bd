"""Compiled inner loop of the ``compat`` engine: SCALE-Sim 3.0.0's memory walk, one layer at a time.

SCALE-Sim walks its demand matrices one row (= one cycle) at a time in Python. This module walks
the same rows in a numba-compiled loop without ever building a demand matrix: the address in
(row, column) of every fold's demand block is computed from the fold's geometry (skew, flip,
prefix/suffix null rows, as in ``systolic_compute_{os,ws,is}.py``).

Per row it reproduces, for the IFMAP and FILTER read buffers in CALC mode, the "epoch" DRAM model
of ``read_buffer_estimate_bw.py`` (an address hits iff it missed since the last trigger, which
happens every 50 completed sets of ``floor(N/100)`` misses), with an epoch stamp per address; and
for the OFMAP write buffer the line packing, force flushes and drains of ``write_buffer.py``.

The three dataflows are one table: which of the operand-matrix dimensions (p = output pixel,
j = window element, k = filter) is temporal (T), spatial on array rows (Sr) and spatial on array
columns (Sc). Each input operand is either *streamed* (its dims are T and one spatial dim; skewed)
or *stationary* (both spatial dims; loaded row-flipped before the stream, not skewed).
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Indices of the result vector returned by walk_layer_calc.
R_STALL = 0
R_LAST_OUT = 1          # max OFMAP serviced cycle = Total Cycles
R_IF_FIRST_REQ = 2      # cycle of the first row with a valid IFMAP address
R_IF_MISSES = 3
R_IF_TRIGGERS = 4
R_IF_LAST_TRIGGER = 5
R_IF_SRAM_START = 6
R_IF_SRAM_STOP = 7
R_FL_FIRST_REQ = 8
R_FL_MISSES = 9
R_FL_TRIGGERS = 10
R_FL_LAST_TRIGGER = 11
R_FL_SRAM_START = 12
R_FL_SRAM_STOP = 13
R_OF_SRAM_START = 14
R_OF_SRAM_STOP = 15
R_OF_DRAM_WRITES = 16
R_OF_DRAM_START = 17
R_OF_DRAM_STOP = 18
R_RING_OVERFLOW = 19    # 1 if the OFMAP line ring was too small (caller retries with a bigger one)
N_RESULTS = 20

# dims of the operand matrices
DIM_P, DIM_J, DIM_K = 0, 1, 2


@njit(cache=True)
def _pjk(perm_t, perm_r, perm_c, t, sr, sc):
    """(p, j, k) from the temporal index t and the spatial row/column indices sr, sc."""
    p = 0
    j = 0
    k = 0
    if perm_t == 0:
        p = t
    elif perm_t == 1:
        j = t
    else:
        k = t
    if perm_r == 0:
        p = sr
    elif perm_r == 1:
        j = sr
    else:
        k = sr
    if perm_c == 0:
        p = sc
    elif perm_c == 1:
        j = sc
    else:
        k = sc
    return p, j, k


@njit(cache=True)
def walk_layer_calc(dataflow, Ra, Ca, Sr, Sc, T, H, W, RSC,
                    prow, pcol, pbase, jr, jq, joff,
                    if_stamp, fl_stamp, if_items, fl_items,
                    of_total, of_active, of_drain, of_bw, ring_size):
    """Walk every demand row of one layer (CALC-mode read buffers, the OFMAP write buffer).

    ``dataflow``: 0 = os, 1 = ws, 2 = is. ``prow/pcol/pbase`` (per output pixel p) and
    ``jr/jq/joff`` (per window element j) give IFMAP addresses: valid iff
    ``prow[p]+jr[j] < H and pcol[p]+jq[j] < W``, index ``pbase[p] + joff[j]``. FILTER index is
    ``k*RSC + j``. Stamp arrays must be filled with -1. Returns an int64 vector (see ``R_*``).
    """
    res = np.zeros(N_RESULTS, dtype=np.int64)
    # dims (perm) for T, Sr, Sc
    if dataflow == 0:
        pt, pr, pc = DIM_J, DIM_P, DIM_K
        rows_per_fold = T + Ra + Ca - 2
        prefix_in = 0
    elif dataflow == 1:
        pt, pr, pc = DIM_P, DIM_J, DIM_K
        rows_per_fold = T + 2 * Ra + Ca - 2
        prefix_in = Ra
    else:
        pt, pr, pc = DIM_K, DIM_J, DIM_P
        rows_per_fold = T + 2 * Ra + Ca - 2
        prefix_in = Ra
    # operand kinds: 0 = streamed along Sr (width Ra), 1 = streamed along Sc (width Ca), 2 = stationary
    # IFMAP has dims (p, j), FILTER (j, k)
    if dataflow == 0:
        if_kind, fl_kind = 0, 1
    elif dataflow == 1:
        if_kind, fl_kind = 0, 2
    else:
        if_kind, fl_kind = 2, 0

    fr_folds = (Sr + Ra - 1) // Ra
    fc_folds = (Sc + Ca - 1) // Ca

    # read-buffer state: [epoch, misses_in_epoch, misses, triggers, last_trigger, first_req, sram_start, sram_stop]
    if_thresh = 50 * if_items
    fl_thresh = 50 * fl_items
    if_epoch = 0
    if_mie = 0
    if_miss = 0
    if_trig = 0
    if_last_trig = 0
    if_first = -1
    if_sstart = -1
    if_sstop = -1
    fl_epoch = 0
    fl_mie = 0
    fl_miss = 0
    fl_trig = 0
    fl_last_trig = 0
    fl_first = -1
    fl_sstart = -1
    fl_sstop = -1
    if_seen = False
    fl_seen = False

    # write buffer state
    ring = np.zeros(ring_size, dtype=np.int64)  # valid words per closed line
    lines_total = 0
    drain_start_line = 0
    line_idx = 0
    free_space = of_total
    drain_end = 0
    of_writes = 0
    of_dstart = 0
    of_dstop = 0
    of_drained = False
    of_sstart = 0
    of_sstop = 0
    of_seen = False
    lines_per_drain = (of_drain + of_bw - 1) // of_bw

    stall = 0
    last_out = 0
    row0 = 0
    for fc in range(fc_folds):
        cbase = fc * Ca
        cu = min(Ca, Sc - cbase)
        for fr in range(fr_folds):
            rbase = fr * Ra
            ru = min(Ra, Sr - rbase)
            for i in range(rows_per_fold):
                cyc = row0 + i + stall
                # ---------------- IFMAP then FILTER reads ----------------
                for op in range(2):
                    kind = if_kind if op == 0 else fl_kind
                    any_valid = False
                    if kind == 2:
                        # stationary: rows 0..Ra-1 hold the ru x cu block, row-flipped
                        lo = 0
                        hi = -1
                        x = 0
                        b = Ra - 1 - i
                        if i < Ra and b < ru:
                            lo = 0
                            hi = cu - 1
                    else:
                        wu = ru if kind == 0 else cu
                        x = i - prefix_in
                        lo = max(0, x - T + 1)
                        hi = min(wu - 1, x)
                        b = 0
                    for c in range(lo, hi + 1):
                        if kind == 2:
                            p, j, k = _pjk(pt, pr, pc, 0, rbase + b, cbase + c)
                        elif kind == 0:
                            p, j, k = _pjk(pt, pr, pc, x - c, rbase + c, 0)
                        else:
                            p, j, k = _pjk(pt, pr, pc, x - c, 0, cbase + c)
                        if op == 0:
                            if prow[p] + jr[j] >= H or pcol[p] + jq[j] >= W:
                                continue
                            idx = pbase[p] + joff[j]
                            any_valid = True
                            if if_stamp[idx] != if_epoch:
                                if_stamp[idx] = if_epoch
                                if_miss += 1
                                if_mie += 1
                                if if_mie == if_thresh:
                                    if_epoch += 1
                                    if_mie = 0
                                    if_trig += 1
                                    if_last_trig = cyc
                        else:
                            idx = k * RSC + j
                            any_valid = True
                            if fl_stamp[idx] != fl_epoch:
                                fl_stamp[idx] = fl_epoch
                                fl_miss += 1
                                fl_mie += 1
                                if fl_mie == fl_thresh:
                                    fl_epoch += 1
                                    fl_mie = 0
                                    fl_trig += 1
                                    fl_last_trig = cyc
                    if any_valid:
                        if op == 0:
                            if not if_seen:
                                if_seen = True
                                if_first = cyc
                                if_sstart = cyc + 1
                            if_sstop = cyc + 1
                        else:
                            if not fl_seen:
                                fl_seen = True
                                fl_first = cyc
                                fl_sstart = cyc + 1
                            fl_sstop = cyc + 1
                # ---------------- OFMAP writes ----------------
                if dataflow == 0:
                    # prefix T-1, then the Ra x Ca block row-flipped (valid rows Ra-ru..Ra-1), skewed
                    x = i - (T - 1)
                    lo = max(0, x - (Ra - 1))
                    hi = min(cu - 1, x - (Ra - ru))
                else:
                    # prefix 2Ra-1, then T rows of cu valid columns, skewed
                    x = i - (2 * Ra - 1)
                    lo = max(0, x - T + 1)
                    hi = min(cu - 1, x)
                n_writes = hi - lo + 1
                cur = cyc
                if n_writes > 0:
                    for _ in range(n_writes):
                        # store_to_trace_mat_cache
                        line_idx += 1
                        free_space -= 1
                        if line_idx == of_bw:
                            ring[lines_total % ring_size] = of_bw
                            lines_total += 1
                            line_idx = 0
                            if lines_total - drain_start_line >= ring_size:
                                res[R_RING_OVERFLOW] = 1
                        if cur < drain_end:
                            if free_space <= 0:
                                cur = drain_end
                        elif free_space < of_active:
                            if line_idx != 0:  # force-flush the partial line (padded with -1)
                                ring[lines_total % ring_size] = line_idx
                                lines_total += 1
                                line_idx = 0
                            end_line = min(drain_start_line + lines_per_drain, lines_total)
                            nl = end_line - drain_start_line
                            data = nl * of_bw - (of_bw - ring[(end_line - 1) % ring_size])
                            of_writes += data
                            if not of_drained:
                                of_drained = True
                                of_dstart = cur
                            of_dstart = min(of_dstart, cur)
                            of_dstop = max(of_dstop, cur + nl - 1)
                            free_space += data
                            drain_start_line = end_line
                            drain_end = cur + nl - 1
                    if not of_seen:
                        of_seen = True
                        of_sstart = cur
                    of_sstop = cur
                stall += cur - cyc
                last_out = max(last_out, cur)
            row0 += rows_per_fold

    # empty_all_buffers(last serviced ofmap cycle)
    cyc = last_out
    if line_idx != 0:
        ring[lines_total % ring_size] = line_idx
        lines_total += 1
        line_idx = 0
    while drain_start_line < lines_total:
        end_line = min(drain_start_line + lines_per_drain, lines_total)
        nl = end_line - drain_start_line
        data = nl * of_bw - (of_bw - ring[(end_line - 1) % ring_size])
        of_writes += data
        if not of_drained:
            of_drained = True
            of_dstart = cyc
        of_dstart = min(of_dstart, cyc)
        of_dstop = max(of_dstop, cyc + nl - 1)
        drain_start_line = end_line
        drain_end = cyc + nl - 1
        cyc = drain_end + 1

    res[R_STALL] = stall
    res[R_LAST_OUT] = last_out
    res[R_IF_FIRST_REQ] = if_first
    res[R_IF_MISSES] = if_miss
    res[R_IF_TRIGGERS] = if_trig
    res[R_IF_LAST_TRIGGER] = if_last_trig
    res[R_IF_SRAM_START] = if_sstart
    res[R_IF_SRAM_STOP] = if_sstop
    res[R_FL_FIRST_REQ] = fl_first
    res[R_FL_MISSES] = fl_miss
    res[R_FL_TRIGGERS] = fl_trig
    res[R_FL_LAST_TRIGGER] = fl_last_trig
    res[R_FL_SRAM_START] = fl_sstart
    res[R_FL_SRAM_STOP] = fl_sstop
    res[R_OF_SRAM_START] = of_sstart
    res[R_OF_SRAM_STOP] = of_sstop
    res[R_OF_DRAM_WRITES] = of_writes
    res[R_OF_DRAM_START] = of_dstart
    res[R_OF_DRAM_STOP] = of_dstop
    return res
