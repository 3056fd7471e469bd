"""Compiled inner loop of the ``compat`` engine: SCALE-Sim 3.0.0's memory walk, one layer at a time.

SCALE-Sim walks its demand matrices one row (= one cycle) at a time in Python. This module walks
the same rows in a numba-compiled loop without ever building a demand matrix: the address in
(row, column) of every fold's demand block is computed from the fold's geometry (skew, flip,
prefix/suffix null rows, as in ``systolic_compute_{os,ws,is}.py``).

Per row it reproduces, for the IFMAP and FILTER read buffers in CALC mode, the "epoch" DRAM model
of ``read_buffer_estimate_bw.py`` (an address hits iff it missed since the last trigger, which
happens every 50 completed sets of ``floor(N/100)`` misses), with an epoch stamp per address; and
for the OFMAP write buffer the line packing, force flushes and drains of ``write_buffer.py``.

The three dataflows are one table (:mod:`trafficsim.dataflow`): which of the operand-matrix
dimensions (p = output pixel, E; j = window element, RSC; k = filter, K) is temporal (T), spatial
on array rows (Sr) and spatial on array columns (Sc). Each input operand is either *streamed* (its
dims are T and one spatial dim; skewed) or *stationary* (both spatial dims; loaded row-flipped before the stream, not skewed).
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numba import njit

from ..dataflow import DATAFLOWS, IS, OS, WS  # the dataflow codes (trafficsim.dataflow); numba folds them in
from ..lazyjit import with_globals

# Indices of the result vector returned by walk_layer.
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
R_IF_USER_READS = 20    # USER mode: DRAM reads, start, stop per read operand
R_IF_USER_START = 21
R_IF_USER_STOP = 22
R_FL_USER_READS = 23
R_FL_USER_START = 24
R_FL_USER_STOP = 25
R_LABEL_END = 26        # every stamp or mark label this walk wrote is below this
R_BROKEN = 27           # 1 if an internal invariant failed (the caller raises)
R_CANCELLED = 28        # 1 if the walk stopped early because control[CTL_CANCEL] was set
N_RESULTS = 29

# The control vector of walk_layer, shared with the calling thread while the walk runs
# without the GIL: another thread sets CTL_CANCEL to stop it at the next fold (Ctrl-C) and reads
# CTL_FOLDS_DONE for progress within a layer. One load and one store per fold.
CTL_CANCEL = 0
CTL_FOLDS_DONE = 1
N_CONTROL = 2

# USER-mode read-buffer state vector (one per operand)
U_ACT_START, U_ACT_END, U_LINES, U_NAL, U_NPL, U_NPF, U_BW, U_LAST_PF, U_ACCESS, U_N0 = range(10)
U_STALL_ONCE = 10   # 1: the `user-stall` fix (SCALE-Sim#130): a wait counts once, an early prefetch not at all
U_SIZE = 11

# Read-operand state of walk_layer: rows of one (N_STATE, 2) int64 array and one (N_FLAGS, 2)
# bool array, column = operand (0 IFMAP, 1 FILTER), so that _walk_fold takes two arrays instead of
# fourteen (each array argument costs a call several nanoseconds, and there are two calls per fold)
(S_EPOCH, S_MIE, S_MISSES, S_TRIG, S_LAST_TRIG, S_THRESH, S_FIRST_REQ, S_SSTART, S_SSTOP, S_SKIP_LO,
 S_SKIP_HI, S_FIRST_SEQ, S_LAST_SEQ, S_LAST_ROW) = range(14)
N_STATE = 14
F_SKIP, F_BULK, F_DISTINCT = range(3)
N_FLAGS = 3
# what pass merging records per (pass, fold) of the OS IFMAP stream (see walk_layer)
REC_FIRST_SEQ, REC_LAST_SEQ, REC_LAST_ROW, REC_TRIGS, REC_MISSES, REC_MIE_END = range(6)
N_REC = 6

# how a read operand's fold stream repeats (see walk_layer)
REP_NONE, REP_PASS, REP_FOLD = 0, 1, 2



@njit(cache=True, nogil=True)
def _user_hit(idx, u, ptr, lines):
    """read_buffer.active_buffer_hit: is any hashed line holding address ``idx`` inside the
    circular active window [start, end) (all lines when start == end)?"""
    lo = ptr[idx]
    hi = ptr[idx + 1]
    if hi <= lo:
        return True  # never fetched (cannot happen for SCALE-Sim's operands); do not loop forever
    start = u[U_ACT_START]
    end = u[U_ACT_END]
    if start < end:
        a = lo
        b = hi
        while a < b:  # first line >= start
            m = (a + b) // 2
            if lines[m] < start:
                a = m + 1
            else:
                b = m
        return a < hi and lines[a] < end
    return lines[hi - 1] >= start or lines[lo] < end


@njit(cache=True, nogil=True)
def _read_row_user(op, i, cyc, Ra, prefix_in, a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, stat, hl, wl,
                   u, ptr, lines, first_req, sstart, sstop):
    """Demand row ``i`` of read operand ``op`` in USER mode (read_buffer.service_reads, 3.0.0):
    on a miss, slide the window by the prefetch lines (circularly) until the address hits; each
    slide fetches ``npf`` lines of ``bw`` words one cycle after the previous fetch, and the
    requester's offset grows by the wait, a positive wait counted twice (once, and a negative one
    not at all, with ``u[U_STALL_ONCE]``: the ``user-stall`` fix). Returns the serviced cycle."""
    offset = 1
    if stat:
        tb = Ra - 1 - i
        if i >= Ra or tb >= tn:
            return cyc + offset
        lo = 0
        hi = wn - 1
        x = 0
    else:
        x = i - prefix_in
        lo = max(0, x - tn + 1)
        hi = min(wn - 1, x)
        tb = 0
    any_valid = False
    for c in range(lo, hi + 1):
        t = tb if stat else x - c
        if a_r[c] + b_r[t] >= hl or a_c[c] + b_c[t] >= wl:
            continue
        idx = a_b[c] + b_b[t]
        any_valid = True
        while not _user_hit(idx, u, ptr, lines):
            # new_prefetch
            nl = u[U_LINES]
            u[U_ACT_START] = (u[U_ACT_START] + u[U_NPL]) % nl
            u[U_ACT_END] = (u[U_ACT_START] + u[U_NAL]) % nl
            u[U_ACCESS] += u[U_NPF] * u[U_BW]
            u[U_LAST_PF] += u[U_NPF] + 1
            potential = u[U_LAST_PF] - (cyc + offset)
            if u[U_STALL_ONCE]:
                if potential > 0:
                    offset += potential
            else:
                offset += potential
                if potential > 0:
                    offset += potential
    out = cyc + offset
    if any_valid:
        if first_req[op] < 0:
            first_req[op] = cyc
            sstart[op] = out
        sstop[op] = out
    return out


@njit(cache=True, nogil=True)
def _bulk_stamps(ep, since_trigger, triggered, rows_per_fold, Ra, prefix_in, a_b, b_b, wn, tn, stat, st,
                 inner_c):
    """Stamp a bulk fold's addresses: all of them if no trigger fired in the fold, else the last
    ``since_trigger`` accesses in demand order (walked backwards)."""
    if not triggered:
        if inner_c:
            for t in range(tn):
                bb = b_b[t]
                for c in range(wn):
                    st[a_b[c] + bb] = ep
        else:
            for c in range(wn):
                ab = a_b[c]
                for t in range(tn):
                    st[ab + b_b[t]] = ep
        return
    left = since_trigger
    i = rows_per_fold - 1
    while left > 0 and i >= 0:
        if stat:
            tb = Ra - 1 - i
            if i < Ra and tb < tn:
                for c in range(wn - 1, -1, -1):
                    if left == 0:
                        break
                    st[a_b[c] + b_b[tb]] = ep
                    left -= 1
        else:
            x = i - prefix_in
            lo = max(0, x - tn + 1)
            hi = min(wn - 1, x)
            for c in range(hi, lo - 1, -1):
                if left == 0:
                    break
                st[a_b[c] + b_b[x - c]] = ep
                left -= 1
        i -= 1


@njit(cache=True, nogil=True)
def _scan_fold(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, stat, hl, wl, st, ep, scan_all, Ra, prefix_in, inner_c):
    """Count a fold's valid elements and those already fetched in epoch ``ep``; stop early once
    the fold is neither all-hit nor (when ``scan_all``) all-miss. Also the first/last demand row
    (within the fold) holding a valid element. Returns (nval, nhit, mixed, lo_row, hi_row)."""
    nval = 0
    nhit = 0
    mixed = False
    lo_row = np.int64(1) << 40
    hi_row = -1
    n_outer = tn if inner_c else wn
    n_inner = wn if inner_c else tn
    for o in range(n_outer):
        for n in range(n_inner):
            if inner_c:
                t = o
                c = n
            else:
                c = o
                t = n
            if a_r[c] + b_r[t] < hl and a_c[c] + b_c[t] < wl:
                nval += 1
                if st[a_b[c] + b_b[t]] == ep:
                    nhit += 1
                if nhit != nval and (nhit > 0 or not scan_all):
                    mixed = True
                    break
                if stat:
                    rr = Ra - 1 - t
                else:
                    rr = prefix_in + t + c
                if rr < lo_row:
                    lo_row = rr
                if rr > hi_row:
                    hi_row = rr
        if mixed:
            break
    return nval, nhit, mixed, lo_row, hi_row


@njit(cache=True, nogil=True)
def _note_trigger(state, op, seq, row):
    """A trigger at valid access ``seq`` of the fold, in its demand row ``row`` (for pass merging)."""
    if state[S_FIRST_SEQ, op] < 0:
        state[S_FIRST_SEQ, op] = seq
    state[S_LAST_SEQ, op] = seq
    state[S_LAST_ROW, op] = row


@njit(cache=True, nogil=True)
def _walk_fold(op, rows_per_fold, row_cyc, Ra, prefix_in, a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, stat, hl, wl,
               check, st, state, flags, inner_c, n_distinct):
    """All demand rows of one fold for read operand ``op`` in CALC mode, row ``i`` at ``row_cyc[i]``.

    One loop per fold with the operand's state in locals: per-row calls with array arguments cost
    more than the few accesses of a row on small arrays. Modes: ``skip`` (all hits: SRAM rows only),
    ``bulk`` (all misses: counted per row), else every access is epoch-stamped in demand order until
    no trigger can fire in the rest of the fold (``n_distinct`` bounds the fold's distinct addresses),
    which is then stamped in memory order."""
    if flags[F_SKIP, op]:
        _frozen_fold(op, rows_per_fold, row_cyc, state)
        return
    if wn <= 0 or tn <= 0:
        return
    ep = state[S_EPOCH, op]
    ep32 = np.int32(ep)
    m_ie = state[S_MIE, op]
    m_tot = state[S_MISSES, op]
    n_trig = state[S_TRIG, op]
    l_trig = state[S_LAST_TRIG, op]
    th = state[S_THRESH, op]
    f_req = state[S_FIRST_REQ, op]
    s_start = state[S_SSTART, op]
    s_stop = state[S_SSTOP, op]
    is_bulk = flags[F_BULK, op]
    dist = flags[F_DISTINCT, op]
    trig0 = n_trig
    # pass merging (see walk_layer): where the fold's triggers fall, counted in valid accesses
    # and written straight to the state at each (rare) trigger: locals would be live in the hot loops
    seq = np.int64(0)
    if stat:
        # rows 0..Ra-1 hold the block row-flipped: row i is block row Ra-1-i
        i_lo = max(0, Ra - tn)
        i_hi = Ra - 1
    else:
        i_lo = prefix_in
        i_hi = prefix_in + tn + wn - 2
    i_hi = min(i_hi, rows_per_fold - 1)
    tb = 0
    x = 0
    # Until a trigger, misses <= distinct addresses <= accesses: once mie + either bound of the rows
    # not walked yet stays below the threshold, no trigger can fire in them
    rem = wn * tn
    for i in range(i_lo, i_hi + 1):
        cyc = row_cyc[i]
        if stat:
            tb = Ra - 1 - i
            lo = 0
            hi = wn - 1
        else:
            x = i - prefix_in
            lo = max(0, x - tn + 1)
            hi = min(wn - 1, x)
        if lo > hi:
            continue
        if not stat and not is_bulk and m_ie + min(rem, n_distinct) < th:
            # no trigger can fire in the rest of the fold, so its hits and misses do not depend on
            # the order: finish it along contiguous memory
            n_miss, x_first, x_last = _fold_rest(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, hl, wl, check, st,
                                                 ep32, x, inner_c)
            m_tot += n_miss
            m_ie += n_miss
            if x_last >= 0:
                if f_req < 0:
                    f_req = row_cyc[prefix_in + x_first]
                    s_start = f_req + 1
                s_stop = row_cyc[prefix_in + x_last] + 1
            break
        if is_bulk and not stat:
            # every access of rows x.. misses (bulk folds are all valid): count them in closed form,
            # and find the row of the last trigger among them by bisection on the cumulative count
            x_end = wn + tn - 2
            n = _skew_count(x_end, wn, tn) - _skew_count(x - 1, wn, tn)
            m_tot += n
            n_new_trig = (m_ie + n) // th
            if n_new_trig > 0:
                target = n_new_trig * th - m_ie + _skew_count(x - 1, wn, tn)
                lo_x = x
                hi_x = x_end
                while lo_x < hi_x:
                    mid = (lo_x + hi_x) // 2
                    if _skew_count(mid, wn, tn) >= target:
                        hi_x = mid
                    else:
                        lo_x = mid + 1
                ep += n_new_trig
                n_trig += n_new_trig
                l_trig = row_cyc[prefix_in + lo_x]
            m_ie = (m_ie + n) % th
            if f_req < 0:
                f_req = cyc
                s_start = cyc + 1
            s_stop = row_cyc[prefix_in + x_end] + 1
            break
        rem -= hi - lo + 1
        any_valid = True
        if is_bulk:
            # every access misses (bulk folds are all valid)
            n = hi - lo + 1
            m_tot += n
            m = m_ie + n
            while m >= th:
                m -= th
                ep += 1
                n_trig += 1
                l_trig = cyc
            m_ie = m
            ep32 = np.int32(ep)
        else:
            # branch-free hit/miss (hits and misses interleave unpredictably in mixed folds); only
            # the rare trigger branches. Re-storing the current epoch on a hit changes nothing.
            if check:
                any_valid = False
                for c in range(lo, hi + 1):
                    t = tb if stat else x - c
                    if a_r[c] + b_r[t] >= hl or a_c[c] + b_c[t] >= wl:
                        continue
                    idx = a_b[c] + b_b[t]
                    any_valid = True
                    mm = np.int64(st[idx] != ep32)
                    st[idx] = ep32
                    m_tot += mm
                    m_ie += mm
                    if m_ie == th:
                        ep += 1
                        ep32 = np.int32(ep)
                        m_ie = 0
                        n_trig += 1
                        l_trig = cyc
                        _note_trigger(state, op, seq, i)
                    seq += 1
            elif stat:
                # a row of the stationary block: block row tb across the fold's columns (a loop of its
                # own: folding it into the streamed loop below as b_b[tb if stat else x - c] measured
                # 15-35 % slower on IS folds)
                bb = b_b[tb]
                for c in range(lo, hi + 1):
                    idx = a_b[c] + bb
                    mm = np.int64(st[idx] != ep32)
                    st[idx] = ep32
                    m_tot += mm
                    m_ie += mm
                    if m_ie == th:
                        ep += 1
                        ep32 = np.int32(ep)
                        m_ie = 0
                        n_trig += 1
                        l_trig = cyc
                        _note_trigger(state, op, seq + c - lo, i)
                seq += hi - lo + 1
            else:
                for c in range(lo, hi + 1):
                    idx = a_b[c] + b_b[x - c]
                    mm = np.int64(st[idx] != ep32)
                    st[idx] = ep32
                    m_tot += mm
                    m_ie += mm
                    if m_ie == th:
                        ep += 1
                        ep32 = np.int32(ep)
                        m_ie = 0
                        n_trig += 1
                        l_trig = cyc
                        _note_trigger(state, op, seq + c - lo, i)
                seq += hi - lo + 1
            # distinct addresses: after the fold's first trigger every access misses
            if dist and n_trig > trig0:
                is_bulk = True
        if any_valid:
            if f_req < 0:
                f_req = cyc
                s_start = cyc + 1
            s_stop = cyc + 1
    state[S_EPOCH, op] = ep
    state[S_MIE, op] = m_ie
    state[S_MISSES, op] = m_tot
    state[S_TRIG, op] = n_trig
    state[S_LAST_TRIG, op] = l_trig
    state[S_FIRST_REQ, op] = f_req
    state[S_SSTART, op] = s_start
    state[S_SSTOP, op] = s_stop
    flags[F_BULK, op] = is_bulk


# (a call, not numba's inline="always" as before: copying it and _close_full_lines into every walk variant cost
# more first compile than the calls cost at run time, measured: first run 16.2 -> 13.9 CPU-s, warm runs equal)
@njit(cache=True, nogil=True)
def _skew_count(x, wn, tn):
    """Elements of a skewed wn x tn block in demand rows 0..x: #{(c, t): c < wn, t < tn, c + t <= x}."""
    a = min(wn, tn)
    b = max(wn, tn)
    if x < 0:
        return np.int64(0)
    if x < a:
        return np.int64((x + 1) * (x + 2) // 2)
    if x < b:
        return np.int64(a * (a + 1) // 2 + (x - a + 1) * a)
    if x <= a + b - 2:
        g = a + b - 2 - x
        return np.int64(a * b - g * (g + 1) // 2)
    return np.int64(a * b)


@njit(cache=True, nogil=True)
def _count_distinct(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, hl, wl, check, seen, mark, inner_c):
    """Distinct valid addresses of a fold (``seen`` entries not equal to ``mark`` are set to it)."""
    n = 0
    n_outer = tn if inner_c else wn
    n_inner = wn if inner_c else tn
    for o in range(n_outer):
        for k in range(n_inner):
            if inner_c:
                c = k
                t = o
            else:
                c = o
                t = k
            if check and (a_r[c] + b_r[t] >= hl or a_c[c] + b_c[t] >= wl):
                continue
            idx = a_b[c] + b_b[t]
            n += np.int64(seen[idx] != mark)
            seen[idx] = mark
    return n


@njit(cache=True, nogil=True)
def _fold_rest(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, hl, wl, check, st, ep32, x0, inner_c):
    """Epoch-stamp the elements of demand rows >= ``x0`` of a streamed fold (``c + t >= x0``) in
    memory order, which is exact only when no trigger can fire among them. Returns (misses, first
    and last row x holding a valid element, -1 if none)."""
    n_miss = 0
    x_first = wn + tn
    x_last = -1
    n_outer = tn if inner_c else wn
    n_inner = wn if inner_c else tn
    for o in range(n_outer):
        n0 = max(0, x0 - o)
        if n0 >= n_inner:
            continue
        if inner_c:
            bb = b_b[o]
            if check:
                for n in range(n0, n_inner):
                    if a_r[n] + b_r[o] >= hl or a_c[n] + b_c[o] >= wl:
                        continue
                    idx = a_b[n] + bb
                    n_miss += np.int64(st[idx] != ep32)
                    st[idx] = ep32
                    x_first = min(x_first, n + o)
                    x_last = max(x_last, n + o)
            else:
                for n in range(n0, n_inner):
                    idx = a_b[n] + bb
                    n_miss += np.int64(st[idx] != ep32)
                    st[idx] = ep32
        else:
            ab = a_b[o]
            if check:
                for n in range(n0, n_inner):
                    if a_r[o] + b_r[n] >= hl or a_c[o] + b_c[n] >= wl:
                        continue
                    idx = ab + b_b[n]
                    n_miss += np.int64(st[idx] != ep32)
                    st[idx] = ep32
                    x_first = min(x_first, n + o)
                    x_last = max(x_last, n + o)
            else:
                for n in range(n0, n_inner):
                    idx = ab + b_b[n]
                    n_miss += np.int64(st[idx] != ep32)
                    st[idx] = ep32
    if not check and x0 <= wn + tn - 2:
        x_first = max(x0, 0)
        x_last = wn + tn - 2
    return n_miss, x_first, x_last


@njit(cache=True, nogil=True)
def _frozen_fold(op, rows_per_fold, row_cyc, state):
    """An all-hit fold known in advance: only its first/last valid rows' cycles (SRAM start/stop)."""
    lo = state[S_SKIP_LO, op]
    hi = state[S_SKIP_HI, op]
    if 0 <= lo < rows_per_fold and state[S_FIRST_REQ, op] < 0:
        state[S_FIRST_REQ, op] = row_cyc[lo]
        state[S_SSTART, op] = row_cyc[lo] + 1
    if 0 <= hi < rows_per_fold:
        state[S_SSTOP, op] = row_cyc[hi] + 1


@njit(cache=True, nogil=True)
def _scan_fold_valid(a_b, b_b, wn, tn, st, ep, scan_all, inner_c):
    """:func:`_scan_fold` for a fold whose elements are all valid. Returns (nval, nhit, mixed)."""
    nhit = 0
    seen = 0
    if inner_c:
        for t in range(tn):
            bb = b_b[t]
            for c in range(wn):
                hit = st[a_b[c] + bb] == ep
                seen += 1
                nhit += hit
                if nhit != seen and (nhit > 0 or not scan_all):
                    return seen, nhit, True
    else:
        for c in range(wn):
            ab = a_b[c]
            for t in range(tn):
                hit = st[ab + b_b[t]] == ep
                seen += 1
                nhit += hit
                if nhit != seen and (nhit > 0 or not scan_all):
                    return seen, nhit, True
    return seen, nhit, False


@njit(cache=True, nogil=True)
def _valid_x_range(a_r, a_c, b_r, b_c, wn, tn, hl, wl):
    """First and last demand row x (= c + t) of a streamed fold holding a valid element (-1, -1 if none)."""
    lo = -1
    hi = -1
    for x in range(wn + tn - 1):
        for c in range(max(0, x - tn + 1), min(wn - 1, x) + 1):
            if a_r[c] + b_r[x - c] < hl and a_c[c] + b_c[x - c] < wl:
                if lo < 0:
                    lo = x
                hi = x
                break
    return lo, hi


@njit(cache=True, nogil=True)
def _valid_row_range(a_r, a_c, b_r, b_c, wn, tn, hl, wl, stat, Ra, prefix_in):
    """First and last demand row (within the fold) holding a valid element, ``(1 << 40, -1)`` if
    none: rows scanned from each end until one holds a valid element."""
    lo_row = np.int64(1) << 40
    hi_row = np.int64(-1)
    if wn <= 0 or tn <= 0:
        return lo_row, hi_row
    if stat:
        # row i holds block row t = Ra-1-i: the last row is the smallest valid t, the first the largest
        for t in range(tn):
            for c in range(wn):
                if a_r[c] + b_r[t] < hl and a_c[c] + b_c[t] < wl:
                    hi_row = Ra - 1 - t
                    break
            if hi_row >= 0:
                break
        for t in range(tn - 1, -1, -1):
            for c in range(wn):
                if a_r[c] + b_r[t] < hl and a_c[c] + b_c[t] < wl:
                    lo_row = Ra - 1 - t
                    break
            if lo_row < (np.int64(1) << 40):
                break
        return lo_row, hi_row
    for x in range(wn + tn - 1):
        for c in range(max(0, x - tn + 1), min(wn - 1, x) + 1):
            if a_r[c] + b_r[x - c] < hl and a_c[c] + b_c[x - c] < wl:
                lo_row = prefix_in + x
                break
        if lo_row < (np.int64(1) << 40):
            break
    for x in range(wn + tn - 2, -1, -1):
        for c in range(max(0, x - tn + 1), min(wn - 1, x) + 1):
            if a_r[c] + b_r[x - c] < hl and a_c[c] + b_c[x - c] < wl:
                hi_row = prefix_in + x
                break
        if hi_row >= 0:
            break
    return lo_row, hi_row


@njit(cache=True, nogil=True)
def _stamp_fold_after(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, hl, wl, st, label, after_seq):
    """Stamp ``label`` on the valid accesses of a streamed fold that come after valid access number
    ``after_seq`` in demand order (all of them for -1)."""
    seq = np.int64(0)
    for x in range(wn + tn - 1):
        for c in range(max(0, x - tn + 1), min(wn - 1, x) + 1):
            t = x - c
            if a_r[c] + b_r[t] >= hl or a_c[c] + b_c[t] >= wl:
                continue
            if seq > after_seq:
                st[a_b[c] + b_b[t]] = label
            seq += 1


@njit(cache=True, nogil=True)
def _close_full_lines(ring, lines_total, n_full, of_bw):
    """Record ``n_full`` full OFMAP lines after line ``lines_total`` in the circular ``ring`` (valid
    words per closed line): slice fills instead of one modulo per line, a line per row on small arrays."""
    size = ring.shape[0]
    start = lines_total % size
    first = min(n_full, size - start)
    ring[start:start + first] = of_bw
    rest = min(n_full - first, size)
    if rest > 0:
        ring[:rest] = of_bw


@njit(cache=True, nogil=True)
def _scaled_range(n, scale, mod):
    """``(np.arange(n) % mod) * scale`` as int64 (``mod >= n`` for no wrap)."""
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = (i % mod) * scale
    return out


@njit(cache=True, nogil=True)
def _max_of(a, n):
    """``a[:n].max()``, or 0 when ``n <= 0``."""
    m = np.int64(0)
    for i in range(n):
        if i == 0 or a[i] > m:
            m = a[i]
    return m


@njit(cache=True, nogil=True)
def fold_mean_sums(Ra, Ca, Sr, Sc, T, cyc):
    """Left-to-right float sums of the per-fold mapping efficiency ``ru*cu/(Ra*Ca)`` and compute
    utilisation ``ru*cu*T/(Ra*Ca*cyc)`` in SCALE-Sim's fold order (column fold outer): the values
    Python 3.11's ``sum()`` gives for the same lists, without building them (a WS 8x8 VGG-16 fc6
    has 1.6 M folds)."""
    macs = Ra * Ca
    s_map = 0.0
    s_util = 0.0
    for fc in range((Sc + Ca - 1) // Ca):
        cu = min(Ca, Sc - fc * Ca)
        for fr in range((Sr + Ra - 1) // Ra):
            ru = min(Ra, Sr - fr * Ra)
            s_map += (ru * cu) / macs
            s_util += (ru * cu * T) / (macs * cyc)
    return s_map, s_util


@njit(cache=True, nogil=True)
def filter_read_once(dataflow, Ra, Ca, Sr, Sc, user):
    """Is every FILTER element read in one fold only (CALC)? WS loads each filter block once; IS
    re-reads its FILTER stream per column fold, OS per row fold."""
    if user:
        return False
    if dataflow == WS:
        return True
    if dataflow == IS:
        return (Sc + Ca - 1) // Ca == 1
    return (Sr + Ra - 1) // Ra == 1


# The dataflow and the read mode (CALC or USER) of a walk variant: compile-time constants that numba's
# dead-branch pruning folds into the code, placeholders here (see walk_kernel)
_VARIANT_DATAFLOW = OS
_VARIANT_USER = False


def walk_layer(dataflow_arg, Ra, Ca, Sr, Sc, T, H, W, RSC,
               prow, pcol, pbase, jr, jq, joff,
               if_stamp, fl_stamp, if_items, fl_items,
               of_total, of_active, of_drain, of_bw, ring_size,
               user_arg, if_user, if_ptr, if_lines, fl_user, fl_ptr, fl_lines, windows_disjoint,
               label_base, seen_if, seen_fl, control):
    """Walk every demand row of one layer (the read buffers in CALC or USER mode, the OFMAP write buffer).

    Never compiled as such: :func:`walk_kernel` compiles one variant per dataflow and mode, and
    ``dataflow_arg`` (a code of :mod:`trafficsim.dataflow`: OS, WS, IS) and ``user_arg`` must be the
    variant's (else ``R_BROKEN``). ``prow/pcol/pbase`` (per output pixel p) and
    ``jr/jq/joff`` (per window element j) give IFMAP addresses: valid iff
    ``prow[p]+jr[j] < H and pcol[p]+jq[j] < W``, index ``pbase[p] + joff[j]``. FILTER index is
    ``k*RSC + j`` (``j*K + k`` in IS). Returns an int64 vector (see ``R_*``).

    Stamp and scratch arrays (``if_stamp``, ``fl_stamp``, ``seen_if``, ``seen_fl``) are reused from
    walk to walk without clearing: epochs and marks are labels starting at ``label_base``, which
    must exceed every value already in them (the previous walk's ``R_LABEL_END``, or 0 after
    filling them with -1). Sizes: ``if_stamp`` H*W*C; ``fl_stamp`` see ``compat._filter_stamp_words``;
    ``seen_if`` H*W*C and ``seen_fl`` RSC*K where ``compat._needs_seen`` says so, else 1.

    ``control`` (int64, :data:`N_CONTROL`): set ``control[CTL_CANCEL]`` from another thread to stop
    the walk at the next fold (``R_CANCELLED``); ``control[CTL_FOLDS_DONE]`` counts folds walked.

    Every operand element of a fold is ``A[c] + B[t]`` with validity ``Arow[c]+Brow[t] < Hlim and
    Acol[c]+Bcol[t] < Wlim``: A runs along the fold's spatial axis, B along the temporal axis (or
    the stationary block's other spatial axis), so one loop serves every dataflow and operand.
    """
    res = np.zeros(N_RESULTS, dtype=np.int64)
    # this variant's dataflow and mode (constants: the other dataflows' and mode's code is pruned)
    dataflow = _VARIANT_DATAFLOW
    user = _VARIANT_USER
    if dataflow_arg != dataflow or user_arg != user:
        res[R_BROKEN] = 1     # called through the wrong variant (walk_kernel picks it)
        return res
    # Helpers get these instead of the literals 0, 1 and False: numba types a literal argument
    # as its own type (Literal[int](1)...) and compiles one specialisation of the helper per
    # literal value, which made the first compile several helpers 2-4 times over
    op_if = np.int64(0)
    op_fl = np.int64(1)
    one = np.int64(1)
    no = np.bool_(False)
    yes = np.bool_(True)
    if dataflow == OS:
        rows_per_fold = T + Ra + Ca - 2
        prefix_in = 0
    else:
        rows_per_fold = T + 2 * Ra + Ca - 2
        prefix_in = Ra
    fr_folds = (Sr + Ra - 1) // Ra
    fc_folds = (Sc + Ca - 1) // Ca
    K = Sc if dataflow != IS else T
    E = prow.shape[0]

    # axis tables: IFMAP over p (P*) and over j (J*); FILTER over j (FJ*) and over k (FK*)
    zero_e = np.zeros(max(E, 1), dtype=np.int64)
    zero_j = np.zeros(max(RSC, 1), dtype=np.int64)
    zero_k = np.zeros(max(K, 1), dtype=np.int64)
    # FILTER stamps are private to the walk, so any bijection of (k, j) works: k-major (k*RSC + j) where
    # a fold spans all j (OS) or a block (WS); j-major (j*K + k) in IS, whose folds span all k, so
    # that scans and stamps run along contiguous memory instead of strides of RSC words. USER mode
    # looks addresses up in its prefetch lines, so it keeps SCALE-Sim's k*RSC + j.
    # In OS, column fold fc reads filters cbase..cbase+cu-1 only and no other fold reads them, so
    # its stamps are numbered locally ((k mod Ca)*RSC + j) and a new column fold starts a new FILTER
    # epoch label: no earlier stamp can then match (a label is only compared for equality; the
    # trigger count is kept apart). FILTER folds read once (filter_read_once) never stamp.
    # (the arguments, not the constants: one compiled helper serves every variant)
    fl_once = filter_read_once(dataflow_arg, Ra, Ca, Sr, Sc, user_arg)
    # (loops, not np.arange(...) * K: each NumPy function or ufunc the kernel uses is one more
    # implementation for numba to compile on a user's first run)
    if dataflow == IS and not user:
        fj_base = _scaled_range(RSC, K, RSC)
        fk_base = _scaled_range(K, one, K)
    elif dataflow == OS and not user:
        fj_base = _scaled_range(RSC, one, RSC)
        fk_base = _scaled_range(K, RSC, Ca)
    else:
        fj_base = _scaled_range(RSC, one, RSC)
        fk_base = _scaled_range(K, RSC, K)

    # state per read operand (index 0 = IFMAP, 1 = FILTER)
    state = np.zeros((N_STATE, 2), dtype=np.int64)
    flags = np.zeros((N_FLAGS, 2), dtype=np.bool_)
    epoch = state[S_EPOCH]
    epoch[:] = label_base
    mie = state[S_MIE]
    misses = state[S_MISSES]
    trig = state[S_TRIG]
    last_trig = state[S_LAST_TRIG]
    first_req = state[S_FIRST_REQ]
    first_req[:] = -1
    sstart = state[S_SSTART]
    sstart[:] = -1
    sstop = state[S_SSTOP]
    sstop[:] = -1
    thresh = state[S_THRESH]
    thresh[0] = 50 * if_items
    thresh[1] = 50 * fl_items
    skip = flags[F_SKIP]
    skip_lo = state[S_SKIP_LO]
    skip_hi = state[S_SKIP_HI]
    bulk = flags[F_BULK]
    row_cyc = np.zeros(rows_per_fold, dtype=np.int64)
    # loop over the fold's spatial axis innermost where that is the contiguous one (WS IFMAP in
    # SCALE-Sim's NHWC numbering; compat.py passes CHW tables for CALC WS, contiguous along t)
    inner_c = np.zeros(2, dtype=np.bool_)
    inner_c[0] = dataflow == WS and joff.shape[0] > 1 and joff[1] - joff[0] == 1
    distinct = flags[F_DISTINCT]
    trig_at_fold_start = np.zeros(2, dtype=np.int64)
    # Repeated segments. A streamed operand's fold tables ignore one fold index: REP_PASS operands
    # (OS/WS IFMAP, IS FILTER) depend on fr only, so every column fold repeats the pass over the row
    # folds; REP_FOLD operands (OS FILTER) depend on fc only, so each fold repeats F_r times. Once a
    # whole segment (pass or fold) fires no trigger, all its addresses hold the current epoch, so every
    # later copy of it is all hits and changes nothing: the operand is "frozen" and only its SRAM
    # start/stop rows (cached per fold) are kept.
    rep_kind = np.zeros(2, dtype=np.int64)
    if dataflow == OS:
        rep_kind[0] = REP_PASS
        rep_kind[1] = REP_FOLD
    elif dataflow == WS:
        rep_kind[0] = REP_PASS
    else:
        rep_kind[1] = REP_PASS
    frozen = np.zeros(2, dtype=np.bool_)
    n_distinct = np.zeros(2, dtype=np.int64)
    # Deferred stamps. When the folds of a repeated pass touch disjoint address sets (IS FILTER;
    # OS/WS IFMAP when windows cannot overlap), only fold fr itself reads or writes its stamps. So
    # the stamps of an all-miss (bulk) fold are not written: its epoch at the end, and how many of its
    # last accesses hold that epoch, are kept instead. On the next visit, an epoch change since then
    # means every access misses again (no scan needed); else the stamps are written first.
    lazy_pass = np.zeros(2, dtype=np.bool_)
    for op in range(2):
        lazy_pass[op] = rep_kind[op] == REP_PASS and (op == 1 or windows_disjoint) and not user
    lazy_now = np.zeros(2, dtype=np.bool_)
    # Pass merging (OS IFMAP with overlapping windows, walked access by access on every pass).
    # A trigger leaves every stamp stale, so from a trigger on, a pass evolves as a function of
    # where that trigger fell alone. Each pass is recorded per fold (misses, triggers, where its
    # first and last trigger fell, mie at the end). A pass is walked until its first trigger in
    # some fold falls on the access where a recorded pass's first trigger in that fold fell: from
    # there on it is that pass, so its remaining folds are replayed from the record (no walk) and
    # the accesses after its last trigger are stamped at the end of the pass. A pass that ended
    # as pass q did starts as pass q+1 did, so the next pass is replayed whole. Passes merge
    # within a few epochs and then cycle (e.g. with period 5 or 11 on VGG layers).
    merge_passes = (dataflow == OS and not user and fc_folds > 1 and not windows_disjoint and RSC > 0
                    and not (jr[0] == jr[RSC - 1] and jq[0] == jq[RSC - 1]))
    rec_passes = min(fc_folds, max(1, (1 << 22) // fr_folds)) if merge_passes else 1  # memory cap
    n_rec = fr_folds if merge_passes else 1
    rec = np.full((rec_passes, n_rec, N_REC), -1, dtype=np.int64)
    rec_lo_row = np.zeros(n_rec, dtype=np.int64)   # first/last demand row with a valid element
    rec_hi_row = np.zeros(n_rec, dtype=np.int64)
    replay = False          # the rest of this pass is pass src's
    src = -1
    merge_fold = -1         # replay starts after this fold (-1: the whole pass)
    prev_src = -1           # the pass the previous pass ended as (-1: none)
    # WS IFMAP folds whose windows overlap: folds sharing channels share addresses, so keep per
    # channel the newest epoch any of its stamps can hold; older than the current epoch -> all miss
    C = max(1, if_stamp.shape[0] // max(1, H * W))   # IFMAP channels
    track_channels = dataflow == WS and not lazy_pass[0] and not user
    chan_epoch = np.full(C if track_channels else 1, -1, dtype=np.int64)
    lazy_pending = np.zeros((2, fr_folds), dtype=np.bool_)
    lazy_epoch = np.zeros((2, fr_folds), dtype=np.int64)
    lazy_tail = np.zeros((2, fr_folds), dtype=np.int64)
    lazy_triggered = np.zeros((2, fr_folds), dtype=np.bool_)
    seg_trig0 = np.zeros(2, dtype=np.int64)
    row_lo_cache = np.zeros((2, fr_folds), dtype=np.int64)
    # distinct addresses of each fold of a repeated pass, counted once on the first pass (scratch
    # marks in seen_*), so that later passes can leave demand order early (see _walk_fold)
    fold_distinct = np.full((2, fr_folds), -1, dtype=np.int64)
    count_distinct = np.zeros(2, dtype=np.bool_)
    for op in range(2):
        count_distinct[op] = rep_kind[op] == REP_PASS and fc_folds > 1 and not user
    row_hi_cache = np.zeros((2, fr_folds), dtype=np.int64)

    # write buffer state
    ring = np.zeros(ring_size, dtype=np.int64)  # valid words per closed line
    lines_total = np.int64(0)   # (int64, not Literal[int](0): one specialisation of _close_full_lines)
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
    if dataflow == OS:
        b_r_max_layer = _max_of(jr, RSC)
        b_c_max_layer = _max_of(jq, RSC)
    else:
        b_r_max_layer = _max_of(prow, E)
        b_c_max_layer = _max_of(pcol, E)
    for fc in range(fc_folds):
        cbase = fc * Ca
        cu = min(Ca, Sc - cbase)
        for fr in range(fr_folds):
            if control[CTL_CANCEL] != 0:
                res[R_CANCELLED] = 1
                res[R_LABEL_END] = max(epoch[0], epoch[1], label_base + fr_folds) + 1
                return res
            control[CTL_FOLDS_DONE] = fc * fr_folds + fr
            rbase = fr * Ra
            ru = min(Ra, Sr - rbase)
            # ---- per-operand fold tables: A (along c), B (along t or block row b) ----
            # op 0 = IFMAP, op 1 = FILTER; stationary operands use b (block row) for t.
            if dataflow == OS:
                # IFMAP p = rbase+c, j = t ; FILTER j = t, k = cbase+c
                ia_b, ia_r, ia_c = pbase[rbase:rbase + ru], prow[rbase:rbase + ru], pcol[rbase:rbase + ru]
                ib_b, ib_r, ib_c = joff, jr, jq
                iw, itn, istat = ru, T, no
                fa_b, fa_r = fk_base[cbase:cbase + cu], zero_k[:cu]
                fb_b, fb_r = fj_base, zero_j
                fw, ftn, fstat = cu, T, no
            elif dataflow == WS:
                # IFMAP j = rbase+c, p = t ; FILTER (stationary) k = cbase+c, j = rbase+b
                ia_b, ia_r, ia_c = joff[rbase:rbase + ru], jr[rbase:rbase + ru], jq[rbase:rbase + ru]
                ib_b, ib_r, ib_c = pbase, prow, pcol
                iw, itn, istat = ru, T, no
                fa_b, fa_r = fk_base[cbase:cbase + cu], zero_k[:cu]
                fb_b, fb_r = fj_base[rbase:rbase + ru], zero_j[:ru]
                fw, ftn, fstat = cu, ru, yes
            else:
                # IFMAP (stationary) p = cbase+c, j = rbase+b ; FILTER j = rbase+c, k = t
                ia_b, ia_r, ia_c = pbase[cbase:cbase + cu], prow[cbase:cbase + cu], pcol[cbase:cbase + cu]
                ib_b, ib_r, ib_c = joff[rbase:rbase + ru], jr[rbase:rbase + ru], jq[rbase:rbase + ru]
                iw, itn, istat = cu, ru, yes
                fa_b, fa_r = fj_base[rbase:rbase + ru], zero_j[:ru]
                fb_b, fb_r = fk_base, zero_k
                fw, ftn, fstat = ru, T, no
            # Every FILTER access of this fold misses when each filter is read in one fold only, or in
            # OS when the column fold's cu*RSC distinct filters number at least the trigger threshold:
            # every row fold re-reads them in the same order with no other FILTER access in between,
            # and only the last `mie` of the previous read hold the current epoch, so each read fires
            # a trigger before reaching them.
            fl_all_miss = fl_once or (dataflow == OS and not user and cu * RSC >= thresh[1])
            # IFMAP addresses of this fold all valid (no -1 past the edge)? then skip the checks
            if_check = True
            if iw > 0 and itn > 0:
                if dataflow == IS:
                    b_r_max = _max_of(ib_r, itn)
                    b_c_max = _max_of(ib_c, itn)
                else:
                    # the streamed IFMAP's B tables are whole per-layer tables: maxima computed once
                    b_r_max = b_r_max_layer
                    b_c_max = b_c_max_layer
                if_check = (_max_of(ia_r, iw) + b_r_max >= H) or (_max_of(ia_c, iw) + b_c_max >= W)
            # ---- fold-level fast paths ----
            # mode 1: every valid element already fetched in this epoch -> all hits, nothing changes.
            # mode 2: the fold's addresses are distinct and none is fetched in this epoch -> every
            #         access misses (an epoch change inside the fold only invalidates more), so rows
            #         are counted in bulk and the stamps fixed up after the fold.
            # IFMAP addresses of a fold are distinct when its window elements share one (r, q) or
            # the windows of different output pixels do not overlap (stride >= filter size).
            if iw > 0 and itn > 0:
                if dataflow == OS:
                    j0, j1 = 0, RSC - 1
                else:
                    j0, j1 = rbase, rbase + ru - 1
                if_distinct = windows_disjoint or (jr[j0] == jr[j1] and jq[j0] == jq[j1])
            else:
                if_distinct = False
            for op in range(2):
                if rep_kind[op] == REP_FOLD:
                    if fr == 0:
                        frozen[op] = False   # a new column fold: new filters
                        if op == 1 and dataflow == OS and not user:
                            epoch[op] += 1   # ... with their own stamps (see fk_base)
                    seg_trig0[op] = trig[op]
                elif rep_kind[op] == REP_PASS and fr == 0:
                    seg_trig0[op] = trig[op]
                slot = fr if rep_kind[op] == REP_PASS else 0
                if dataflow == OS and op == 0 and merge_passes and fr == 0:   # (OS first: pruned in other variants)
                    prev_src = src if replay else -1
                    replay = False
                    if fc > 0 and 0 <= prev_src and prev_src + 1 < min(fc, rec_passes):
                        replay = True   # the previous pass ended as pass prev_src: this one is prev_src + 1
                        src = prev_src + 1
                        merge_fold = -1
                if dataflow == OS and op == 0 and replay:
                    # replayed from a recorded pass after the OFMAP rows (see merge_passes)
                    skip[op] = False
                    bulk[op] = False
                    lazy_now[op] = False
                    skip_lo[op] = rec_lo_row[fr]
                    skip_hi[op] = rec_hi_row[fr]
                    trig_at_fold_start[op] = trig[op]
                    continue
                if op == 1 and fl_all_miss:
                    # every FILTER access of the fold misses (see fl_all_miss): nothing to scan or stamp
                    skip[op] = False
                    bulk[op] = True
                    distinct[op] = True
                    lazy_now[op] = False
                    skip_lo[op] = Ra - ftn if fstat else prefix_in
                    skip_hi[op] = Ra - 1 if fstat else prefix_in + ftn - 1 + fw - 1
                    n_distinct[op] = fw * ftn
                    trig_at_fold_start[op] = trig[op]
                    continue
                if frozen[op]:
                    skip[op] = True
                    bulk[op] = False
                    distinct[op] = False
                    skip_lo[op] = row_lo_cache[op, slot]
                    skip_hi[op] = row_hi_cache[op, slot]
                    trig_at_fold_start[op] = trig[op]
                    continue
                if op == 0:
                    a_b, a_r, a_c, b_b, b_r, b_c = ia_b, ia_r, ia_c, ib_b, ib_r, ib_c
                    wn, tn, stat, hl, wl, st = iw, itn, istat, H, W, if_stamp
                    dist = if_distinct and not if_check
                else:
                    a_b, a_r, a_c, b_b, b_r, b_c = fa_b, fa_r, fa_r, fb_b, fb_r, fb_r
                    wn, tn, stat, hl, wl, st = fw, ftn, fstat, 1, 1, fl_stamp
                    dist = True
                # deferred stamps of a disjoint repeated fold (see lazy_pass): an epoch change since
                # its last visit means all misses, known without a scan; otherwise stamp it now
                lazy_now[op] = lazy_pass[op] and dist and wn > 0 and tn > 0
                if lazy_now[op] and lazy_pending[op, fr]:
                    lazy_pending[op, fr] = False
                    if epoch[op] > lazy_epoch[op, fr]:
                        skip[op] = False
                        bulk[op] = True
                        distinct[op] = True
                        skip_lo[op] = prefix_in
                        skip_hi[op] = prefix_in + tn - 1 + wn - 1
                        row_lo_cache[op, slot] = skip_lo[op]
                        row_hi_cache[op, slot] = skip_hi[op]
                        n_distinct[op] = wn * tn
                        trig_at_fold_start[op] = trig[op]
                        continue
                    _bulk_stamps(lazy_epoch[op, fr], lazy_tail[op, fr], lazy_triggered[op, fr], rows_per_fold,
                                 Ra, prefix_in, a_b, b_b, wn, tn, stat, st, inner_c[op])
                # WS IFMAP: no stamp of the fold's channels is as new as the current epoch -> all miss
                if dataflow == WS and op == 0 and track_channels and dist and not lazy_now[op] and wn > 0 and tn > 0:
                    newest = np.int64(-1)
                    for j in range(rbase, rbase + ru):
                        newest = max(newest, chan_epoch[j % C])
                    if newest < epoch[op]:
                        skip[op] = False
                        bulk[op] = True
                        distinct[op] = True
                        skip_lo[op] = prefix_in
                        skip_hi[op] = prefix_in + tn - 1 + wn - 1
                        row_lo_cache[op, slot] = skip_lo[op]
                        row_hi_cache[op, slot] = skip_hi[op]
                        n_distinct[op] = wn * tn
                        trig_at_fold_start[op] = trig[op]
                        continue
                ep = epoch[op]
                # proving "all miss" needs a full scan: worth it only for folds of a few epochs
                scan_all = dist and wn * tn <= 4 * thresh[op]
                if op == 1 or not if_check:
                    # every element valid: a tight scan, first/last rows in closed form
                    nval, nhit, mixed = _scan_fold_valid(a_b, b_b, wn, tn, st, ep, scan_all, inner_c[op])
                    if wn > 0 and tn > 0:
                        lo_row = Ra - tn if stat else prefix_in
                        hi_row = Ra - 1 if stat else prefix_in + tn - 1 + wn - 1
                    else:
                        lo_row = np.int64(1) << 40
                        hi_row = -1
                else:
                    nval, nhit, mixed, lo_row, hi_row = _scan_fold(
                        a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, stat, hl, wl, st, ep, scan_all, Ra, prefix_in,
                        inner_c[op])
                    if mixed and rep_kind[op] != REP_NONE:
                        # the scan stopped early, so its rows are partial; a frozen copy of this fold
                        # in a later pass takes its SRAM start/stop rows from row_*_cache (below)
                        lo_row, hi_row = _valid_row_range(a_r, a_c, b_r, b_c, wn, tn, hl, wl, stat, Ra, prefix_in)
                mode = 0
                if not user and not mixed:
                    if nhit == nval:
                        mode = 1
                    elif scan_all and nhit == 0:
                        mode = 2
                skip[op] = mode == 1
                bulk[op] = mode == 2
                distinct[op] = dist and not user
                skip_lo[op] = lo_row
                skip_hi[op] = hi_row
                row_lo_cache[op, slot] = lo_row
                if count_distinct[op] and fold_distinct[op, fr] < 0 and mode == 0:
                    if op == 0:
                        fold_distinct[op, fr] = _count_distinct(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, hl, wl,
                                                                if_check, seen_if, np.int32(label_base + fr),
                                                                inner_c[op])
                    else:
                        fold_distinct[op, fr] = _count_distinct(a_b, a_r, a_c, b_b, b_r, b_c, wn, tn, hl, wl,
                                                                no, seen_fl, np.int32(label_base + fr),
                                                                inner_c[op])
                n_distinct[op] = fold_distinct[op, fr] if fold_distinct[op, fr] >= 0 else wn * tn
                row_hi_cache[op, slot] = hi_row
                trig_at_fold_start[op] = trig[op]
            # OFMAP writes per row: skewed block, rows 0..x hold _skew_count(x - w_shift, cu, w_depth) words
            if dataflow == OS:
                w_shift = T - 1 + Ra - ru
                w_depth = ru
            else:
                w_shift = 2 * Ra - 1
                w_depth = T
            i = np.int64(0)
            while i < rows_per_fold:
                if not user and free_space - of_active >= 2:
                    # CALC: rows whose stores stay <= free_space - of_active cannot reach a buffer
                    # event (a drain trigger or, while draining, a full buffer), so they neither stall
                    # nor close anything but full lines: take the longest such run at once
                    budget = free_space - of_active
                    before = _skew_count(i - 1 - w_shift, cu, w_depth)
                    lo_r = i
                    hi_r = rows_per_fold - 1
                    while lo_r < hi_r:  # last row r with stores in rows i..r <= budget
                        mid = (lo_r + hi_r + 1) // 2
                        if _skew_count(mid - w_shift, cu, w_depth) - before <= budget:
                            lo_r = mid
                        else:
                            hi_r = mid - 1
                    if lo_r > i:
                        words = _skew_count(lo_r - w_shift, cu, w_depth) - before
                        for r in range(i, lo_r + 1):
                            row_cyc[r] = row0 + r + stall
                        if words > 0:
                            line_idx += words
                            free_space -= words
                            if line_idx >= of_bw:
                                n_full = line_idx // of_bw
                                _close_full_lines(ring, lines_total, n_full, of_bw)
                                lines_total += n_full
                                line_idx -= n_full * of_bw
                                if lines_total - drain_start_line >= ring_size:
                                    res[R_RING_OVERFLOW] = 1
                            # first/last rows with stores in i..lo_r
                            w_first = max(i, w_shift)
                            w_last = min(lo_r, w_shift + cu + w_depth - 2)
                            if not of_seen:
                                of_seen = True
                                of_sstart = row_cyc[w_first]
                            of_sstop = row_cyc[w_last]
                        if row_cyc[lo_r] > last_out:
                            last_out = row_cyc[lo_r]
                        i = lo_r + 1
                        continue
                cyc = row0 + i + stall
                # ---------------- IFMAP then FILTER reads ----------------
                read_stall = 0
                if user:
                    if_out = _read_row_user(op_if, i, cyc, Ra, prefix_in, ia_b, ia_r, ia_c, ib_b, ib_r, ib_c, iw, itn,
                                            istat, H, W, if_user, if_ptr, if_lines, first_req, sstart, sstop)
                    fl_out = _read_row_user(op_fl, i, cyc, Ra, prefix_in, fa_b, fa_r, fa_r, fb_b, fb_r, fb_r, fw, ftn,
                                            fstat, one, one, fl_user, fl_ptr, fl_lines, first_req, sstart, sstop)
                    read_stall = max(if_out, fl_out) - cyc - 1
                else:
                    # CALC reads never stall and do not depend on each other: they are walked per
                    # operand after the fold's rows, at the cycles recorded here
                    row_cyc[i] = cyc
                # ---------------- OFMAP writes ----------------
                if dataflow == OS:
                    # prefix T-1, then the Ra x Ca block row-flipped (valid rows Ra-ru..Ra-1), skewed
                    x = i - (T - 1)
                    lo = max(0, x - (Ra - 1))
                    hi = min(cu - 1, x - (Ra - ru))
                else:
                    # prefix 2Ra-1, then T rows of cu valid columns, skewed
                    x = i - (2 * Ra - 1)
                    lo = max(0, x - T + 1)
                    hi = min(cu - 1, x)
                n = hi - lo + 1
                cur = cyc
                if n > 0:
                    # write_buffer.service_writes, batched: elements between two events are stored in bulk
                    while n > 0:
                        if cur < drain_end:
                            m = max(free_space, 1)        # the m-th store leaves no free space: stall
                            stalls = True
                        else:
                            m = max(free_space - of_active + 1, 1)  # the m-th store triggers a drain
                            stalls = False
                        take = min(n, m)
                        # store `take` words: close full lines
                        line_idx += take
                        free_space -= take
                        if line_idx >= of_bw:
                            n_full = line_idx // of_bw
                            _close_full_lines(ring, lines_total, n_full, of_bw)
                            lines_total += n_full
                            line_idx -= n_full * of_bw
                            if lines_total - drain_start_line >= ring_size:
                                res[R_RING_OVERFLOW] = 1
                        n -= take
                        if take < m:
                            break
                        if stalls:
                            cur = drain_end
                        else:
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
                stall += max(read_stall, cur - cyc)
                if cur > last_out:
                    last_out = cur
                i += 1
            if not user:
                # CALC: each read operand walks its fold at the row cycles recorded above
                if dataflow == OS and replay:
                    n = rec[src, fr, REC_TRIGS]
                    misses[0] += rec[src, fr, REC_MISSES]
                    trig[0] += n
                    epoch[0] += n
                    mie[0] = rec[src, fr, REC_MIE_END]
                    if n > 0:
                        last_trig[0] = row_cyc[rec[src, fr, REC_LAST_ROW]]
                    _frozen_fold(op_if, rows_per_fold, row_cyc, state)
                    if fc < rec_passes:
                        # (not a slice copy: numba would compile its shape check's error message)
                        for q in range(N_REC):
                            rec[fc, fr, q] = rec[src, fr, q]
                    if fr == fr_folds - 1:
                        # stamp what the pass read after its last trigger: the next pass may hit it
                        g0 = merge_fold + 1
                        after = -1
                        for g in range(fr_folds - 1, merge_fold, -1):
                            if rec[src, g, REC_TRIGS] > 0:
                                g0 = g
                                after = rec[src, g, REC_LAST_SEQ]
                                break
                        label = np.int32(epoch[0])
                        for g in range(g0, fr_folds):
                            gb = g * Ra
                            gu = min(Ra, Sr - gb)
                            _stamp_fold_after(pbase[gb:gb + gu], prow[gb:gb + gu], pcol[gb:gb + gu], joff, jr, jq,
                                              gu, T, H, W, if_stamp, label, after if g == g0 else -1)
                else:
                    m0 = misses[0]
                    t0 = trig[0]
                    state[S_FIRST_SEQ, 0] = -1
                    state[S_LAST_SEQ, 0] = -1
                    state[S_LAST_ROW, 0] = -1
                    _walk_fold(op_if, rows_per_fold, row_cyc, Ra, prefix_in, ia_b, ia_r, ia_c, ib_b, ib_r, ib_c, iw, itn,
                               istat, H, W, if_check, if_stamp, state, flags, inner_c[0], n_distinct[0])
                    if dataflow == OS and merge_passes:
                        if fc == 0:
                            if if_check:
                                x_lo, x_hi = _valid_x_range(ia_r, ia_c, ib_r, ib_c, iw, itn, H, W)
                                rec_lo_row[fr] = x_lo if x_lo < 0 else prefix_in + x_lo
                                rec_hi_row[fr] = x_hi if x_hi < 0 else prefix_in + x_hi
                            else:
                                rec_lo_row[fr] = prefix_in
                                rec_hi_row[fr] = prefix_in + itn - 1 + iw - 1
                        first_seq = state[S_FIRST_SEQ, 0]
                        if fc < rec_passes:
                            rec[fc, fr, REC_FIRST_SEQ] = first_seq
                            rec[fc, fr, REC_LAST_SEQ] = state[S_LAST_SEQ, 0]
                            rec[fc, fr, REC_LAST_ROW] = state[S_LAST_ROW, 0]
                            rec[fc, fr, REC_TRIGS] = trig[0] - t0
                            rec[fc, fr, REC_MISSES] = misses[0] - m0
                            rec[fc, fr, REC_MIE_END] = mie[0]
                        if first_seq >= 0 and fr < fr_folds - 1:
                            for q in range(min(fc, rec_passes)):
                                if rec[q, fr, REC_FIRST_SEQ] == first_seq:
                                    # same trigger, same future: the fold ends as pass q's did
                                    if (mie[0] != rec[q, fr, REC_MIE_END]
                                            or state[S_LAST_SEQ, 0] != rec[q, fr, REC_LAST_SEQ]
                                            or state[S_LAST_ROW, 0] != rec[q, fr, REC_LAST_ROW]):
                                        res[R_BROKEN] = 1
                                    replay = True
                                    src = q
                                    merge_fold = fr
                                    break
                _walk_fold(op_fl, rows_per_fold, row_cyc, Ra, prefix_in, fa_b, fa_r, fa_r, fb_b, fb_r, fb_r, fw, ftn,
                           fstat, one, one, no, fl_stamp, state, flags, inner_c[1], n_distinct[1])
            # bulk folds: the accesses since the fold's last trigger (all of them if none) hold the
            # current epoch; earlier ones keep older stamps, which never match again
            if dataflow == WS and track_channels and not skip[0]:
                # the fold's stamps are at most the epoch it ended in
                for j in range(rbase, rbase + ru):
                    chan_epoch[j % C] = epoch[0]
            for op in range(2):
                if bulk[op] and lazy_now[op]:
                    lazy_pending[op, fr] = True
                    lazy_epoch[op, fr] = epoch[op]
                    lazy_tail[op, fr] = mie[op]
                    lazy_triggered[op, fr] = trig[op] > trig_at_fold_start[op]
            if bulk[0] and not lazy_now[0]:
                _bulk_stamps(epoch[0], mie[0], trig[0] > trig_at_fold_start[0], rows_per_fold, Ra, prefix_in,
                             ia_b, ib_b, iw, itn, istat, if_stamp, inner_c[0])
            if bulk[1] and not lazy_now[1] and not fl_all_miss:
                _bulk_stamps(epoch[1], mie[1], trig[1] > trig_at_fold_start[1], rows_per_fold, Ra, prefix_in,
                             fa_b, fb_b, fw, ftn, fstat, fl_stamp, inner_c[1])
            # a segment that fired no trigger left all its addresses in the current epoch (see rep_kind)
            if not user:
                for op in range(2):
                    seg_end = (rep_kind[op] == REP_FOLD
                               or (rep_kind[op] == REP_PASS and fr == fr_folds - 1))
                    if seg_end and not frozen[op] and trig[op] == seg_trig0[op]:
                        frozen[op] = True
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
    res[R_IF_FIRST_REQ] = first_req[0]
    res[R_IF_MISSES] = misses[0]
    res[R_IF_TRIGGERS] = trig[0]
    res[R_IF_LAST_TRIGGER] = last_trig[0]
    res[R_IF_SRAM_START] = sstart[0]
    res[R_IF_SRAM_STOP] = sstop[0]
    res[R_FL_FIRST_REQ] = first_req[1]
    res[R_FL_MISSES] = misses[1]
    res[R_FL_TRIGGERS] = trig[1]
    res[R_FL_LAST_TRIGGER] = last_trig[1]
    res[R_FL_SRAM_START] = sstart[1]
    res[R_FL_SRAM_STOP] = sstop[1]
    res[R_OF_SRAM_START] = of_sstart
    res[R_OF_SRAM_STOP] = of_sstop
    res[R_OF_DRAM_WRITES] = of_writes
    res[R_OF_DRAM_START] = of_dstart
    res[R_OF_DRAM_STOP] = of_dstop
    res[R_LABEL_END] = max(epoch[0], epoch[1], label_base + fr_folds) + 1
    if user:
        res[R_IF_USER_READS] = if_user[U_ACCESS]
        res[R_IF_USER_START] = -if_user[U_N0]
        res[R_IF_USER_STOP] = if_user[U_LAST_PF]
        res[R_FL_USER_READS] = fl_user[U_ACCESS]
        res[R_FL_USER_START] = -fl_user[U_N0]
        res[R_FL_USER_STOP] = fl_user[U_LAST_PF]
    return res


_WALK_KERNELS: dict[tuple[int, bool], Any] = {}
_WALK_KERNELS_LOCK = threading.Lock()   # layers run on several threads: one dispatcher per variant


def walk_kernel(dataflow: int, user: bool) -> Any:
    """The compiled :func:`walk_layer` for one dataflow and read mode (USER or CALC), created on first use.

    Each (dataflow, mode) is its own function, :func:`walk_layer` with that dataflow and mode as global
    constants, so numba's dead-branch pruning drops the other dataflows' and mode's code (and the
    helpers only they call) before compiling, and a run compiles only the variant it uses; numba caches
    each under its own name (``walk_layer_ws_calc``...). Measured by benchmarks/bench_compile.py (cold
    cache, CPU-s of the whole process, median of 2): ``trafficsim run hardnet68 --array 32x32`` 20.8 -> 12.1;
    a USER-mode run 23.0 -> 10.5; the three dataflows in one process 20.7 -> 26.7 (three variants)."""
    key = (int(dataflow), bool(user))
    with _WALK_KERNELS_LOCK:
        kernel = _WALK_KERNELS.get(key)
        if kernel is None:
            variant = with_globals(walk_layer, {"_VARIANT_DATAFLOW": key[0], "_VARIANT_USER": key[1]},
                                   qualname=f"walk_layer_{DATAFLOWS[key[0]]}_{'user' if key[1] else 'calc'}")
            kernel = _WALK_KERNELS[key] = njit(cache=True, nogil=True)(variant)
    return kernel

