"""SCALE-Sim 3.0.0's own DRAM request stream of one layer (CALC mode), generated in one compiled walk.

SCALE-Sim writes three DRAM traces per layer (``{IFMAP,FILTER,OFMAP}_DRAM_TRACE.csv``). This module
produces the same requests without its matrices:

* **IFMAP and FILTER reads** (``read_buffer_estimate_bw.py``): the demand rows are walked in SCALE-Sim's
  skewed order; an address misses unless it missed since the last trigger (the "epoch" model, a
  trigger every 50 completed sets of ``floor(N/100)`` misses). The misses of one epoch are one
  prefetch *block*: block 0 is fetched before compute at 10 words/cycle, ending 2 cycles before the
  first request; block ``b >= 1`` in the window ``[end of block b-1's window + 1, cycle of trigger b]``
  at ``ceil(50 x items / window)`` words/cycle (the last block with its own set count), ``bw`` words
  per cycle in the order SCALE-Sim lists them.
* **OFMAP writes** (``write_buffer.py``): valid writes packed into lines of ``ArrayWidth`` words, a
  partial line closed when a drain starts, each drain ``ceil(drain half / bw)`` lines, one line per
  cycle; what is left drained after the last row.

Two outputs: *words* (every word with its cycle, as SCALE-Sim's trace holds it, for the tests against
the real package on small layers) and *bursts* (the same words as the DRAM sees them, for timing:
see :func:`walk_layer_stream`). The walk also returns SCALE-Sim's stall and total cycle counts,
which the caller checks against :mod:`.compat_kernel`'s.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..dataflow import OS, WS

# result vector of walk_layer_stream
(Q_STALL, Q_LAST_OUT, Q_IF_FIRST_REQ, Q_FL_FIRST_REQ, Q_IF_MISSES, Q_FL_MISSES, Q_OF_WRITES,
 Q_N_IF_BURSTS, Q_N_FL_BURSTS, Q_N_OF_BURSTS, Q_N_IF_BLOCKS, Q_N_FL_BLOCKS, Q_N_DRAINS, Q_N_LINES,
 Q_OVERFLOW, Q_RING_OVERFLOW, Q_OF_VALID) = range(17)
N_Q = 17

# columns of the block table (one row per prefetch block of a read operand)
B_WIN_START, B_WIN_END, B_BW, B_FIRST_MISS, B_N_MISSES, B_NEED, B_FIRST_BURST, B_N_BURSTS = range(8)
N_B = 8
# columns of the drain table
D_START, D_FIRST_LINE, D_N_LINES, D_FIRST_BURST, D_N_BURSTS, D_WORDS = range(6)
N_D = 6

CALC_FIRST_FILL_BW = 10
SETS_PER_HALF = 50


@njit(cache=True, nogil=True)
def _sort_ints(a, n):
    """Sort ``a[:n]`` in place (heapsort: O(n log n), a few lines for numba to compile)."""
    for start in range(n // 2 - 1, -1, -1):
        _sift_down(a, start, n)
    for end in range(n - 1, 0, -1):
        a[0], a[end] = a[end], a[0]
        _sift_down(a, np.int64(0), end)


@njit(cache=True, nogil=True)
def _sift_down(a, i, n):
    """Restore the max-heap below ``i`` in ``a[:n]``."""
    x = a[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and a[c + 1] > a[c]:
            c += 1
        if a[c] <= x:
            break
        a[i] = a[c]
        i = c
    a[i] = x


@njit(cache=True, nogil=True)
def _emit_block(op, b, blocks, blk_words, n_words, win_start, win_end, bw, need, first_miss,
                burst_shift, word_bytes, out_addr, out_cycle, n_out, words_mode, miss_words, miss_n,
                bstamp, bcount, ulist, bbase):
    """Record block ``b`` of read operand ``op`` (its misses in ``blk_words[:n_words]``, miss order)
    and append its bursts: the block's words in address order, paced at ``bw`` words per cycle
    from ``win_start``; a burst is requested at the cycle of its first word. ``bstamp``/``bcount``
    (indexed by burst - ``bbase``) and ``ulist`` are scratch (bstamp below every block label).
    Returns the new burst count, or -1 when the output arrays are full."""
    blocks[b, B_WIN_START] = win_start
    blocks[b, B_WIN_END] = win_end
    blocks[b, B_BW] = bw
    blocks[b, B_FIRST_MISS] = first_miss
    blocks[b, B_N_MISSES] = n_words
    blocks[b, B_NEED] = need
    blocks[b, B_FIRST_BURST] = n_out
    if n_words == 0 or bw <= 0:
        blocks[b, B_N_BURSTS] = 0
        return n_out
    if words_mode:
        for i in range(n_words):
            miss_words[miss_n + i] = blk_words[i]
    # the block's distinct bursts and their word counts (words are distinct within a block)
    nu = 0
    for i in range(n_words):
        x = ((blk_words[i] * word_bytes) >> burst_shift) - bbase
        if bstamp[x] != b:
            bstamp[x] = b
            bcount[x] = 0
            ulist[nu] = x
            nu += 1
        bcount[x] += 1
    if n_out + nu > out_addr.shape[0]:
        return -1
    _sort_ints(ulist, np.int64(nu))   # (not np.sort: numba's generic quicksort cost ~4 CPU-s of the first compile)
    before = 0   # words of the block in lower bursts
    for i in range(nu):
        x = ulist[i]
        out_addr[n_out + i] = (x + bbase) << burst_shift
        out_cycle[n_out + i] = win_start + before // bw
        before += bcount[x]
    blocks[b, B_N_BURSTS] = nu
    return n_out + nu


@njit(cache=True, nogil=True)
def _drain(start_cycle, st, ring, RM, line_start, LM, lines_per_drain, bw, drains, burst_shift, word_bytes,
           of_addr, of_cycle, of_bstamp, of_bcount, of_bbase, of_off, of_wstamp, of_wcount, words_mode, line_cycle,
           line_word_start):
    """write_buffer.empty_drain_buf: drain up to ``lines_per_drain`` closed lines from ``start_cycle``,
    one per cycle. ``st``: see ``S_*`` of the OFMAP state. Rings are powers of two (``RM``/``LM`` masks).
    Returns the cycle of the last line."""
    first = st[W_DRAIN_LINE]
    last_line = min(first + lines_per_drain, st[W_LINES])
    n = last_line - first
    d = st[W_DRAINS]
    drains[d, D_START] = start_cycle
    drains[d, D_FIRST_LINE] = first
    drains[d, D_N_LINES] = n
    base = st[W_BURSTS]
    drains[d, D_FIRST_BURST] = base
    # SCALE-Sim's count: whole lines, less the -1 pads of the last line only
    w0 = line_start[first & LM]
    w_end = line_start[last_line & LM]
    last_len = w_end - line_start[(last_line - 1) & LM]
    data = (n - 1) * bw + last_len
    drains[d, D_WORDS] = w_end - w0
    st[W_FREE] += data
    st[W_COUNT] += data
    # bursts in line order: a burst is written at the cycle of its first word in the drain, and again
    # whenever one of its words comes back more often than the burst has been written (a word written
    # k times in one drain, e.g. WS/IS partial sums of k row folds, is k writes, as SCALE-Sim counts it)
    cnt = 0
    for ln in range(first, last_line):
        a = line_start[ln & LM]
        e = line_start[(ln + 1) & LM]
        cyc = start_cycle + (ln - first)
        if words_mode:
            line_cycle[ln] = cyc
            line_word_start[ln] = a
        for x in range(a, e):
            wd = ring[x & RM]
            w = wd - of_off
            if of_wstamp[w] != d:
                of_wstamp[w] = d
                of_wcount[w] = 0
            of_wcount[w] += 1
            bb = (wd * word_bytes) >> burst_shift
            k = bb - of_bbase
            if of_bstamp[k] != d:
                of_bstamp[k] = d
                of_bcount[k] = 0
            if of_wcount[w] > of_bcount[k]:
                of_bcount[k] = of_wcount[w]
                if base + cnt >= of_addr.shape[0]:
                    st[W_OVF] = 1
                    return start_cycle + n - 1
                of_addr[base + cnt] = bb << burst_shift
                of_cycle[base + cnt] = cyc
                cnt += 1
    drains[d, D_N_BURSTS] = cnt
    st[W_BURSTS] = base + cnt
    st[W_DRAIN_LINE] = last_line
    st[W_DRAINS] = d + 1
    return start_cycle + n - 1


# OFMAP write-buffer state vector
W_DRAIN_LINE, W_LINES, W_DRAINS, W_BURSTS, W_FREE, W_OVF, W_COUNT, W_TAIL, W_LINE_IDX, W_DRAIN_END = range(10)
N_W = 10


@njit(cache=True, nogil=True)
def _ofmap_fold(code, fr, fc, ru, cu, Ra, Ca, T, K, rpf, row0, stall, cyc_row, of_off, st, ring, RM, line_start, LM,
                of_total, of_active, lines_per_drain, bw, drains, burst_shift, word_bytes, of_addr, of_cycle,
                of_bstamp, of_bcount, of_bbase, of_wstamp, of_wcount, words_mode, line_cycle, line_word_start,
                of_words):
    """The OFMAP rows of one fold (write_buffer.service_writes per row): fills ``cyc_row`` with each row's
    cycle and returns the stall after the fold (-1: an output array or ring overflowed)."""
    if code == OS:
        lo_u = T - 1
        n_u = Ra
    else:
        lo_u = 2 * Ra - 1
        n_u = T
    R = RM + 1
    tail = st[W_TAIL]
    line_idx = st[W_LINE_IDX]
    drain_end = st[W_DRAIN_END]
    for i in range(rpf):
        cyc = row0 + i + stall
        cyc_row[i] = cyc
        cur = cyc
        c_lo = max(0, i - lo_u - n_u + 1)
        c_hi = min(cu - 1, i - lo_u)
        for c in range(c_lo, c_hi + 1):
            u = i - c - lo_u
            if code == OS:
                rr = Ra - 1 - u
                if rr >= ru:
                    continue
                a = of_off + (fr * Ra + rr) * K + fc * Ca + c
            elif code == WS:
                a = of_off + u * K + fc * Ca + c
            else:
                a = of_off + (fc * Ca + c) * K + u
            if tail - line_start[st[W_DRAIN_LINE] & LM] >= R or st[W_LINES] - st[W_DRAIN_LINE] >= LM - 2:
                st[W_OVF] = 2
                return -1
            ring[tail & RM] = a
            if words_mode:
                of_words[tail] = a
            tail += 1
            line_idx += 1
            st[W_FREE] -= 1
            if line_idx == bw:
                st[W_LINES] += 1
                line_start[st[W_LINES] & LM] = tail
                line_idx = 0
            if cur < drain_end:
                if st[W_FREE] <= 0:
                    cur = drain_end
            elif st[W_FREE] < of_active:
                if line_idx != 0:   # the drain forces the partial line out
                    st[W_LINES] += 1
                    line_start[st[W_LINES] & LM] = tail
                    line_idx = 0
                if st[W_DRAINS] >= drains.shape[0]:
                    st[W_OVF] = 1
                    return -1
                drain_end = _drain(cur, st, ring, RM, line_start, LM, lines_per_drain, bw, drains, burst_shift,
                                   word_bytes, of_addr, of_cycle, of_bstamp, of_bcount, of_bbase, of_off, of_wstamp,
                                   of_wcount, words_mode, line_cycle, line_word_start)
                if st[W_OVF]:
                    return -1
        stall += cur - cyc
    st[W_TAIL] = tail
    st[W_LINE_IDX] = line_idx
    st[W_DRAIN_END] = drain_end
    return stall


# read-operand state vector
(R_MISSES, R_EPOCH, R_FIRST_REQ, R_BLOCKS, R_BURSTS, R_PREV_END, R_TRIG, R_NEED, R_BLK_N, R_MISS_N, R_THRESH,
 R_ITEMS, R_BBASE, R_OVF) = range(14)
N_R = 14


@njit(cache=True, nogil=True)
def _trigger(S, blk, blocks, burst_shift, word_bytes, out_addr, out_cycle, words_mode, miss_words, bstamp, bcount,
             ulist, final):
    """A trigger (``final=False``: 50 sets completed) or complete_all_prefetches (``final=True``): emit the
    block of the misses since the previous trigger with its window. Returns False on overflow."""
    b = S[R_BLOCKS]
    items = S[R_ITEMS]
    if b == 0:
        if final:
            nsets = -(-S[R_MISSES] // items)
            win_end = -2
            ln = -(-(nsets * items) // CALC_FIRST_FILL_BW)
        else:
            win_end = S[R_FIRST_REQ] - 2
            ln = -(-S[R_THRESH] // CALC_FIRST_FILL_BW)
        win_start = win_end - ln + 1
        bw = CALC_FIRST_FILL_BW
    else:
        win_start = S[R_PREV_END] + 1
        win_end = S[R_TRIG]
        ln = max(1, win_end - win_start + 1)   # (0 only where SCALE-Sim divides by zero: two triggers in a row)
        nwords = -(-S[R_BLK_N] // items) * items if final else S[R_THRESH]
        bw = -(-nwords // ln)
    nb = _emit_block(np.int64(0), b, blocks, blk, S[R_BLK_N], win_start, win_end, bw, S[R_NEED], S[R_MISSES] - S[R_BLK_N],
                     burst_shift, word_bytes, out_addr, out_cycle, S[R_BURSTS], words_mode, miss_words, S[R_MISS_N],
                     bstamp, bcount, ulist, S[R_BBASE])
    if nb < 0:
        S[R_OVF] = 1
        return False
    S[R_BURSTS] = nb
    S[R_MISS_N] += S[R_BLK_N]
    S[R_BLK_N] = 0
    S[R_BLOCKS] = b + 1
    S[R_PREV_END] = win_end
    return True


@njit(cache=True, nogil=True)
def _read_fold(case, fr, fc, ru, cu, Ra, Ca, T, rpf, cyc_row, prow, pcol, pbase, jr, jq, joff, H, W, RSC, off,
               stamp, S, blk, blocks, burst_shift, word_bytes, out_addr, out_cycle, words_mode, miss_words,
               bstamp, bcount, ulist):
    """The demand rows of one fold for one read operand (read_buffer_estimate_bw.service_reads): the epoch
    walk in column order per row. ``case``: 0 os IFMAP, 1 os FILTER, 2 ws IFMAP, 3 ws FILTER (stationary),
    4 is IFMAP (stationary), 5 is FILTER. Returns False on overflow."""
    misses = S[R_MISSES]
    epoch = S[R_EPOCH]
    thresh = S[R_THRESH]
    blk_n = S[R_BLK_N]
    stationary = case == 3 or case == 4
    lo_u = 0 if case <= 1 else Ra
    width = Ra if (case == 0 or case == 2 or case == 5) else Ca
    used = ru if (case == 0 or case == 2 or case == 5) else cu
    n_rows = Ra if stationary else rpf
    for i in range(n_rows):
        if stationary:
            r = Ra - 1 - i
            if r >= ru:
                continue
            c_lo = 0
            c_hi = cu - 1
        else:
            r = 0
            c_lo = max(0, i - lo_u - T + 1)
            c_hi = min(min(width, used) - 1, i - lo_u)
        if c_lo > c_hi:
            continue
        cyc = cyc_row[i]
        for c in range(c_lo, c_hi + 1):
            t = i - c - lo_u
            if case == 0:
                p = fr * Ra + c
                if prow[p] + jr[t] >= H or pcol[p] + jq[t] >= W:
                    continue
                idx = pbase[p] + joff[t]
            elif case == 1:
                idx = (fc * Ca + c) * RSC + t
            elif case == 2:
                j = fr * Ra + c
                if prow[t] + jr[j] >= H or pcol[t] + jq[j] >= W:
                    continue
                idx = pbase[t] + joff[j]
            elif case == 3:
                idx = (fc * Ca + c) * RSC + fr * Ra + r
            elif case == 4:
                p = fc * Ca + c
                j = fr * Ra + r
                if prow[p] + jr[j] >= H or pcol[p] + jq[j] >= W:
                    continue
                idx = pbase[p] + joff[j]
            else:
                idx = t * RSC + fr * Ra + c
            if S[R_FIRST_REQ] < 0:
                S[R_FIRST_REQ] = cyc
            if stamp[idx] == epoch:
                continue
            stamp[idx] = epoch
            if blk_n == 0:
                S[R_NEED] = cyc
            blk[blk_n] = off + idx
            blk_n += 1
            misses += 1
            if blk_n == thresh:
                S[R_MISSES] = misses
                S[R_BLK_N] = blk_n
                if not _trigger(S, blk, blocks, burst_shift, word_bytes, out_addr, out_cycle, words_mode,
                                miss_words, bstamp, bcount, ulist, np.bool_(False)):
                    return False
                S[R_TRIG] = cyc
                blk_n = 0
                epoch += 1
    S[R_MISSES] = misses
    S[R_EPOCH] = epoch
    S[R_BLK_N] = blk_n
    return True


@njit(cache=True, nogil=True)
def walk_layer_stream(code, Ra, Ca, Sr, Sc, T, H, W, RSC, K, prow, pcol, pbase, jr, jq, joff,
                      if_off, fl_off, of_off, if_stamp, fl_stamp, if_items, fl_items,
                      of_total, of_active, of_drain, of_bw, burst_shift, word_bytes,
                      if_addr, if_cycle, if_blocks, fl_addr, fl_cycle, fl_blocks,
                      of_addr, of_cycle, drains, ring, line_start,
                      words_mode, if_miss_words, fl_miss_words, line_cycle, line_word_start, of_words):
    """Walk one layer's demand rows (CALC mode) and emit its DRAM requests (see the module docstring).

    ``code``: the dataflow code of :mod:`trafficsim.dataflow` (OS, WS, IS). Stamp arrays must hold -1
    (size of each operand's address range).
    ``ring`` and ``line_start`` (the OFMAP rings) must have power-of-two sizes. Bursts go to ``*_addr``
    (byte address of the burst) / ``*_cycle`` (array cycle of the request, SCALE-Sim's timeline);
    blocks and drains to their tables. ``words_mode`` also records every miss in miss order and every
    OFMAP line (cycle, first word) with the words in ``of_words``. Returns the Q_* vector;
    Q_OVERFLOW / Q_RING_OVERFLOW = 1 means an output array or the OFMAP ring was too small (the caller
    retries with larger ones).

    The three operands' state is independent given each row's cycle, and only the OFMAP moves the
    cycle (reads never stall in CALC mode): so each fold walks its OFMAP rows first (the row cycles),
    then its IFMAP rows, then its FILTER rows, each in SCALE-Sim's order."""
    res = np.zeros(N_Q, np.int64)
    F_r = (Sr + Ra - 1) // Ra
    F_c = (Sc + Ca - 1) // Ca
    rpf = T + Ra + Ca - 2 if code == OS else T + 2 * Ra + Ca - 2
    S = np.zeros((2, N_R), np.int64)
    S[0, R_ITEMS] = if_items
    S[1, R_ITEMS] = fl_items
    for op in range(2):   # (not an array expression: numba compiles its shape check's error message)
        S[op, R_THRESH] = S[op, R_ITEMS] * SETS_PER_HALF
    S[:, R_FIRST_REQ] = -1
    S[0, R_BBASE] = (if_off * word_bytes) >> burst_shift
    S[1, R_BBASE] = (fl_off * word_bytes) >> burst_shift
    if_nb = (((if_off + if_stamp.shape[0]) * word_bytes) >> burst_shift) - S[0, R_BBASE] + 1
    fl_nb = (((fl_off + fl_stamp.shape[0]) * word_bytes) >> burst_shift) - S[1, R_BBASE] + 1
    if_bstamp = np.full(if_nb, -1, np.int64)
    fl_bstamp = np.full(fl_nb, -1, np.int64)
    if_bcount = np.zeros(if_nb, np.int64)
    fl_bcount = np.zeros(fl_nb, np.int64)
    maxb = max(S[0, R_THRESH], S[1, R_THRESH])
    ulist = np.empty(maxb, np.int64)
    if_blk = np.empty(S[0, R_THRESH], np.int64)
    fl_blk = np.empty(S[1, R_THRESH], np.int64)
    of_bbase = (of_off * word_bytes) >> burst_shift
    of_words_n = Sr * Sc if code == OS else Sc * T   # E x K
    of_nb = (((of_off + of_words_n) * word_bytes) >> burst_shift) - of_bbase + 1
    of_bstamp = np.full(of_nb, -1, np.int64)
    of_bcount = np.zeros(of_nb, np.int64)
    of_wstamp = np.full(of_words_n, -1, np.int64)
    of_wcount = np.zeros(of_words_n, np.int64)
    st = np.zeros(N_W, np.int64)
    st[W_FREE] = of_total
    line_start[0] = 0
    RM = ring.shape[0] - 1
    LM = line_start.shape[0] - 1
    lines_per_drain = (of_drain + of_bw - 1) // of_bw
    cyc_row = np.empty(rpf, np.int64)
    stall = np.int64(0)   # (typed int64, not Literal[int](0): one specialisation of _ofmap_fold)
    row0 = np.int64(0)
    if code == OS:
        case_if, case_fl = 0, 1
    elif code == WS:
        case_if, case_fl = 2, 3
    else:
        case_if, case_fl = 4, 5
    for fc in range(F_c):
        for fr in range(F_r):
            ru = min(Ra, Sr - fr * Ra)
            cu = min(Ca, Sc - fc * Ca)
            stall = _ofmap_fold(code, fr, fc, ru, cu, Ra, Ca, T, K, rpf, row0, stall, cyc_row, of_off, st, ring,
                                RM, line_start, LM, of_total, of_active, lines_per_drain, of_bw, drains,
                                burst_shift, word_bytes, of_addr, of_cycle, of_bstamp, of_bcount, of_bbase,
                                of_wstamp, of_wcount, words_mode, line_cycle, line_word_start, of_words)
            if stall < 0:
                if st[W_OVF] == 2:
                    res[Q_RING_OVERFLOW] = 1
                else:
                    res[Q_OVERFLOW] = 1
                return res
            if not _read_fold(case_if, fr, fc, ru, cu, Ra, Ca, T, rpf, cyc_row, prow, pcol, pbase, jr, jq, joff,
                              H, W, RSC, if_off, if_stamp, S[0], if_blk, if_blocks, burst_shift, word_bytes,
                              if_addr, if_cycle, words_mode, if_miss_words, if_bstamp, if_bcount, ulist):
                res[Q_OVERFLOW] = 1
                return res
            if not _read_fold(case_fl, fr, fc, ru, cu, Ra, Ca, T, rpf, cyc_row, prow, pcol, pbase, jr, jq, joff,
                              H, W, RSC, fl_off, fl_stamp, S[1], fl_blk, fl_blocks, burst_shift, word_bytes,
                              fl_addr, fl_cycle, words_mode, fl_miss_words, fl_bstamp, fl_bcount, ulist):
                res[Q_OVERFLOW] = 1
                return res
            row0 += rpf
    last_out = row0 - 1 + stall   # the last row's cycle (every fold ends with OFMAP rows)
    # ---- end of layer: complete_all_prefetches (reads), empty_all_buffers (writes)
    if S[0, R_MISSES] > 0:
        if not _trigger(S[0], if_blk, if_blocks, burst_shift, word_bytes, if_addr, if_cycle, words_mode,
                        if_miss_words, if_bstamp, if_bcount, ulist, np.bool_(True)):
            res[Q_OVERFLOW] = 1
            return res
    if S[1, R_MISSES] > 0:
        if not _trigger(S[1], fl_blk, fl_blocks, burst_shift, word_bytes, fl_addr, fl_cycle, words_mode,
                        fl_miss_words, fl_bstamp, fl_bcount, ulist, np.bool_(True)):
            res[Q_OVERFLOW] = 1
            return res
    if st[W_LINE_IDX] != 0:
        st[W_LINES] += 1
        line_start[st[W_LINES] & LM] = st[W_TAIL]
        st[W_LINE_IDX] = 0
    cycle = last_out
    while st[W_DRAIN_LINE] < st[W_LINES]:
        if st[W_DRAINS] >= drains.shape[0]:
            res[Q_OVERFLOW] = 1
            return res
        drain_end = _drain(cycle, st, ring, RM, line_start, LM, lines_per_drain, of_bw, drains, burst_shift,
                           word_bytes, of_addr, of_cycle, of_bstamp, of_bcount, of_bbase, of_off, of_wstamp,
                           of_wcount, words_mode, line_cycle, line_word_start)
        if st[W_OVF]:
            res[Q_OVERFLOW] = 1
            return res
        cycle = drain_end + 1
    res[Q_STALL] = stall
    res[Q_LAST_OUT] = last_out
    res[Q_IF_FIRST_REQ] = S[0, R_FIRST_REQ]
    res[Q_FL_FIRST_REQ] = S[1, R_FIRST_REQ]
    res[Q_IF_MISSES] = S[0, R_MISSES]
    res[Q_FL_MISSES] = S[1, R_MISSES]
    res[Q_N_IF_BURSTS] = S[0, R_BURSTS]
    res[Q_N_FL_BURSTS] = S[1, R_BURSTS]
    res[Q_N_OF_BURSTS] = st[W_BURSTS]
    res[Q_N_IF_BLOCKS] = S[0, R_BLOCKS]
    res[Q_N_FL_BLOCKS] = S[1, R_BLOCKS]
    res[Q_N_DRAINS] = st[W_DRAINS]
    res[Q_N_LINES] = st[W_LINES]
    res[Q_OF_WRITES] = st[W_COUNT]
    res[Q_OF_VALID] = st[W_TAIL]
    return res
