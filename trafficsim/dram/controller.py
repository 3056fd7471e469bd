"""The compiled memory controller: per-channel queues, FR-FCFS, row policies, refresh, over
bank state machines and the family's timing rules. Event-driven: it jumps from one cycle where
something can happen to the next, so idle and waiting cycles cost nothing.

It reproduces Ramulator v1's controller cycle for cycle (``Controller.h``, ``Scheduler.h``,
``Refresh.h``, ``DRAM.h``, the trace front end of ``Main.cpp``); where this module says
"Ramulator", it names the behaviour it copies:

* front end: at most one request per memory cycle, in trace order; a request its channel's queue
  cannot take is retried every cycle (and blocks those behind it);
* a read queue and a write queue of 32 per channel, an "activated" queue (a request whose ACT has
  been issued moves there and frees its read/write slot) and a queue for refreshes;
* each cycle: the oldest-ready request of the activated queue, else of the refresh queue if it
  holds one, else of the write queue in write mode or the read queue otherwise, issues its next
  command (FR-FCFS with a cap of 16 hits per open row); write mode starts above the high
  watermark (80 %) or when no read waits, and ends below the low watermark (20 %) when reads wait;
  after the last request the high watermark drops to 0 so that the writes drain;
* a read that finds a write to the same address in the write queue is served from it (one cycle);
* all-bank refresh every tREFI (a PREA first if a bank is open);
* row hit / miss / conflict is decided when a request issues its first command.

Every timing constraint is a :class:`~trafficsim.dram.rules.Rule`; ``nxt[node, cmd]`` is the
earliest cycle ``cmd`` may issue at that node, as in Ramulator's ``DRAM::next``.

Why one large function: a Numba call that passes arrays costs ~15 ns per array in reference
counting (measured: 33 ns per call of a 2-array helper against 2 ns for the same code inline),
so the per-request loops (queue scans) are written inline and state is packed in a few 2-D
arrays; only per-command work (timing updates) is a separate function.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .rules import CMD, COMMANDS, LEVEL

NCMD = len(COMMANDS)
ACT, PRE, PREA, RD, WR, RDA, WRA, REF = (CMD[c] for c in COMMANDS)
Q_READ, Q_WRITE, Q_ACT, Q_OTHER = 0, 1, 2, 3
T_READ, T_WRITE, T_REF = 0, 1, 2
POLICY_OPEN, POLICY_CLOSED, POLICY_CLOSED_AP, POLICY_TIMEOUT = 0, 1, 2, 3
POLICIES = {"open": POLICY_OPEN, "closed": POLICY_CLOSED, "closed-ap": POLICY_CLOSED_AP, "timeout": POLICY_TIMEOUT}
HIST_MAX = 8        # longest rule window (tFAW counts 4 ACTs)
REF_RING = 8        # refreshes that may wait at once per rank (one arrives every tREFI)
BIG = 1 << 62

# requests: one row each (what the front end copies into a queue slot)
E_TYPE, E_CH, E_RIDX, E_BG, E_BIDX, E_ROW, E_ADDR = range(7)
NE = 7
# queue slots: Q[channel, queue, slot, field]; a request's fields travel with it between queues so that
# the scans read a few contiguous kilobytes (reading rows of the request array instead cost ~20 ns a
# request in cache misses on 200k-request streams)
(F_ID, F_TYPE, F_RIDX, F_BG, F_BIDX, F_ROW, F_ADDR, F_ARRIVE, F_VER, F_FIRST, F_READY, F_FLAG) = range(12)
NF = 12
B_ROW, B_HITS, B_TS = range(3)                 # banks
R_OPEN, R_SINCE, R_ACTIVE, R_REFCNT = range(4)  # ranks
H_WM, H_REFRESHED, H_LASTPOP, H_VERSION, H_TNEXT, H_QL = range(6)  # channels; queue lengths at H_QL + q
NH = H_QL + 4
(P_C, P_R, P_G, P_B, P_NREQ, P_RL, P_WL, P_NREFI, P_QR, P_QW, P_CAP, P_POLICY, P_TIMEOUT, P_DRD, P_DWR,
 P_RUNS) = range(16)
NP = 16
M_START, M_END, M_HIST, M_SIB = range(4)       # rule table index per (level, command)
# scalar state
SC_K, SC_I, SC_END, SC_DONE, SC_CYCLES, SC_HI, SC_LO, SC_ERR, SC_VISITS, SC_WORK, SC_RUNS, SC_RUN_REQS = range(12)
N_SCALARS = 12
# per-channel statistics columns
(ST_RD_HIT, ST_RD_MISS, ST_RD_CONF, ST_WR_HIT, ST_WR_MISS, ST_WR_CONF, ST_RD_FWD, ST_RD_DONE, ST_WR_DONE,
 ST_CMD0) = range(10)
N_STATS = ST_CMD0 + NCMD
ERR_ACTQ, ERR_REFQ = 1, 2

# the deepest level a command's readiness is checked at (Ramulator's DRAM::check stops at its scope)
SCOPE = np.array([LEVEL["bank"], LEVEL["bank"], LEVEL["rank"], LEVEL["bank"], LEVEL["bank"], LEVEL["bank"],
                  LEVEL["bank"], LEVEL["rank"]], dtype=np.int64)


def compile_rules(rules, timing, evaluate) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a family's rules into ``rule[k] = (following, window, latency, sibling)`` grouped by
    (level, preceding) and ``meta[level * NCMD + cmd] = (start, end, history, has_sibling)``; a
    node keeps a history of a command as long as the longest window at its level (Ramulator's
    ``prev`` deque)."""
    groups: list[list[tuple[int, int, int, int]]] = [[] for _ in range(len(LEVEL) * NCMD)]
    for r in rules:
        lv = LEVEL[r.level]
        v = evaluate(r.latency, timing)
        for p in r.preceding:
            for f in r.following:
                groups[lv * NCMD + CMD[p]].append((CMD[f], r.window, v, int(r.sibling)))
    rule = np.zeros((max(1, sum(len(g) for g in groups)), 4), dtype=np.int64)
    meta = np.zeros((len(groups), 4), dtype=np.int64)
    k = 0
    for j, g in enumerate(groups):
        meta[j, M_START] = k
        for entry in g:
            rule[k] = entry
            k += 1
            meta[j, M_HIST] = max(meta[j, M_HIST], entry[1])
            meta[j, M_SIB] |= entry[3]
        meta[j, M_END] = k
    if meta[:, M_HIST].max() > HIST_MAX:
        raise ValueError(f"a timing rule window exceeds {HIST_MAX}")
    return rule, meta


@njit(cache=True, nogil=True)
def _update_timing(cmd, c, ridx, g, bidx, t, P, nxt, hist, rule, meta):
    """Ramulator's ``DRAM::update_timing`` from channel ``c``: the target node of each level gets
    the rules of its level (from its command history), the other nodes of that level under the
    same parent get the sibling rules. ``g < 0``: a rank command (PREA, REF) with no target below."""
    C = P[P_C]
    R = P[P_R]
    G = P[P_G]
    B = P[P_B]
    for lv in range(4):
        m = lv * NCMD + cmd
        k0 = meta[m, M_START]
        k1 = meta[m, M_END]
        if k0 == k1:
            continue
        hl = meta[m, M_HIST]
        sibs = meta[m, M_SIB]
        if lv == 0:
            first, count, target = c, 1, c
        elif lv == 1:
            first, count, target = C + c * R, R, C + ridx
        elif lv == 2:
            first, count, target = C + C * R + ridx * G, G, C + C * R + ridx * G + g
        else:
            first, count, target = C + C * R + C * R * G + (bidx - bidx % B), B, C + C * R + C * R * G + bidx
        if lv >= 2 and g < 0:
            target = -1   # rank command: every bank group is a sibling, no bank is reached
            if lv == 3:
                break
        for node in range(first, first + count):
            if node == target:
                for j in range(hl - 1, 0, -1):
                    hist[node, cmd, j] = hist[node, cmd, j - 1]
                hist[node, cmd, 0] = t
                for k in range(k0, k1):
                    if rule[k, 3]:
                        continue
                    past = hist[node, cmd, rule[k, 1] - 1]
                    if past < 0:
                        continue
                    fut = past + rule[k, 2]
                    if fut > nxt[node, rule[k, 0]]:
                        nxt[node, rule[k, 0]] = fut
            elif sibs:
                for k in range(k0, k1):
                    if rule[k, 3]:
                        fut = t + rule[k, 2]
                        if fut > nxt[node, rule[k, 0]]:
                            nxt[node, rule[k, 0]] = fut


@njit(cache=True, nogil=True, inline="always")
def _move(Q, c, qa, pa, qb, pb):
    """Copy the request in slot ``pa`` of queue ``qa`` into slot ``pb`` of queue ``qb``."""
    for f in range(NF):
        Q[c, qb, pb, f] = Q[c, qa, pa, f]


@njit(cache=True, nogil=True)
def run_kernel(sc, stop_i, P, E, arrival, completion, rule, meta, scope, nxt, hist, BANK, RANK, CH, Q, stats):
    """Advance the simulation until request ``stop_i`` has been accepted or everything is done.

    All state lives in the arrays passed in, so calls can be chained (progress between them).
    ``CH[c, H_TNEXT]``: earliest cycle channel ``c`` may issue a command (``-1``: look again).
    """
    C = P[P_C]
    R = P[P_R]
    G = P[P_G]
    B = P[P_B]
    n_req = P[P_NREQ]
    nrefi = P[P_NREFI]
    cap = P[P_CAP]
    policy = P[P_POLICY]
    qmax = Q.shape[2]
    base_rank = C
    base_bg = C + C * R
    base_bank = C + C * R + C * R * G
    k = sc[SC_K]
    while True:
        sc[SC_VISITS] += 1
        # ---- front end (iteration k; the controllers' clock reads k) --------------------------------
        i = sc[SC_I]
        if sc[SC_END] == 0:
            if i >= n_req:
                sc[SC_END] = 1
                sc[SC_HI] = 0   # Ramulator: set_high_writeq_watermark(0) once the trace has ended
            elif arrival[i] <= k:
                c = E[i, E_CH]
                qi = Q_WRITE if E[i, E_TYPE] == T_WRITE else Q_READ
                n = CH[c, H_QL + qi]
                if n < (P[P_QW] if qi == Q_WRITE else P[P_QR]):
                    fwd = False
                    if qi == Q_READ:
                        for j in range(CH[c, H_QL + Q_WRITE]):
                            if Q[c, Q_WRITE, j, F_ADDR] == E[i, E_ADDR]:
                                fwd = True
                                break
                    if fwd:  # served by the queued write, one cycle later
                        pop = max(k + 1, CH[c, H_LASTPOP] + 1)
                        CH[c, H_LASTPOP] = pop
                        completion[i] = pop
                        stats[c, ST_RD_FWD] += 1
                    else:
                        Q[c, qi, n, F_ID] = i
                        Q[c, qi, n, F_TYPE] = E[i, E_TYPE]
                        Q[c, qi, n, F_RIDX] = E[i, E_RIDX]
                        Q[c, qi, n, F_BG] = E[i, E_BG]
                        Q[c, qi, n, F_BIDX] = E[i, E_BIDX]
                        Q[c, qi, n, F_ROW] = E[i, E_ROW]
                        Q[c, qi, n, F_ADDR] = E[i, E_ADDR]
                        Q[c, qi, n, F_ARRIVE] = k
                        Q[c, qi, n, F_VER] = -1
                        Q[c, qi, n, F_FLAG] = 1
                        CH[c, H_QL + qi] = n + 1
                    CH[c, H_TNEXT] = -1
                    sc[SC_I] = i + 1
        # ---- one memory cycle of every controller --------------------------------------------------
        t = k + 1
        for c in range(C):
            if nrefi > 0 and t - CH[c, H_REFRESHED] >= nrefi:
                for r in range(R):
                    n = CH[c, H_QL + Q_OTHER]
                    if n >= qmax:
                        sc[SC_ERR] = ERR_REFQ
                        return
                    Q[c, Q_OTHER, n, F_ID] = -1
                    Q[c, Q_OTHER, n, F_TYPE] = T_REF
                    Q[c, Q_OTHER, n, F_RIDX] = c * R + r
                    Q[c, Q_OTHER, n, F_BG] = -1
                    Q[c, Q_OTHER, n, F_BIDX] = -1
                    Q[c, Q_OTHER, n, F_ROW] = -1
                    Q[c, Q_OTHER, n, F_ADDR] = -1
                    Q[c, Q_OTHER, n, F_ARRIVE] = t
                    Q[c, Q_OTHER, n, F_VER] = -1
                    Q[c, Q_OTHER, n, F_FLAG] = 0
                    CH[c, H_QL + Q_OTHER] = n + 1
                CH[c, H_REFRESHED] = t
                CH[c, H_TNEXT] = -1
            # write mode (Ramulator Controller::tick step 3)
            wq = CH[c, H_QL + Q_WRITE]
            rq = CH[c, H_QL + Q_READ]
            wm = CH[c, H_WM]
            nwm = (1 if (wq > sc[SC_HI] or rq == 0) else 0) if wm == 0 else (0 if (wq < sc[SC_LO] and rq != 0) else 1)
            if nwm != wm:
                CH[c, H_WM] = nwm
                CH[c, H_TNEXT] = -1
            if CH[c, H_TNEXT] > t:
                continue  # nothing can issue in this channel yet
            version = CH[c, H_VERSION]
            # ---- FR-FCFS: the activated queue, then the refresh / write / read queue ----------------
            found_q = -1
            found_pos = -1
            earliest = BIG
            for qsel in range(2):
                if qsel == 0:
                    qi = Q_ACT
                else:
                    qi = Q_OTHER if CH[c, H_QL + Q_OTHER] > 0 else (Q_WRITE if CH[c, H_WM] else Q_READ)
                n = CH[c, H_QL + qi]
                if n == 0:
                    continue
                sc[SC_WORK] += n
                Qv = Q[c, qi]
                best = -1
                best_rc = False
                best_arr = BIG
                oldest_arr = BIG
                oldest_ready = BIG
                for j in range(n):
                    if Qv[j, F_VER] != version:   # first command and its earliest cycle, cached per state
                        ridx = Qv[j, F_RIDX]
                        bidx = Qv[j, F_BIDX]
                        if Qv[j, F_TYPE] == T_REF:
                            cmd = PREA if RANK[ridx, R_OPEN] > 0 else REF
                        else:
                            row = BANK[bidx, B_ROW]
                            if row < 0:
                                cmd = ACT
                            elif row == Qv[j, F_ROW]:
                                cmd = RD if Qv[j, F_TYPE] == T_READ else WR
                            else:
                                cmd = PRE
                        ra = nxt[c, cmd]
                        v = nxt[base_rank + ridx, cmd]
                        if v > ra:
                            ra = v
                        if scope[cmd] >= 2:
                            v = nxt[base_bg + ridx * G + Qv[j, F_BG], cmd]
                            if v > ra:
                                ra = v
                            v = nxt[base_bank + bidx, cmd]
                            if v > ra:
                                ra = v
                        Qv[j, F_FIRST] = cmd
                        Qv[j, F_READY] = ra
                        Qv[j, F_VER] = version
                    ra = Qv[j, F_READY]
                    arr = Qv[j, F_ARRIVE]
                    # Ramulator's FRFCFS_Cap: a row hit beyond `cap` hits does not count as ready
                    capok = True
                    if Qv[j, F_TYPE] != T_REF:
                        bidx = Qv[j, F_BIDX]
                        if BANK[bidx, B_HITS] > cap and BANK[bidx, B_ROW] == Qv[j, F_ROW]:
                            capok = False
                    if capok and ra < earliest:
                        earliest = ra
                    rc = capok and ra <= t
                    if arr < oldest_arr:
                        oldest_arr = arr
                        oldest_ready = ra
                    # Ramulator's pairwise fold: the ready one wins, else the older (ties: the first)
                    if best < 0:
                        best = j
                        best_rc = rc
                        best_arr = arr
                    elif rc != best_rc:
                        if rc:
                            best = j
                            best_rc = rc
                            best_arr = arr
                    elif arr < best_arr:
                        best = j
                        best_arr = arr
                if oldest_ready < earliest:
                    earliest = oldest_ready
                if Q[c, qi, best, F_READY] <= t:
                    found_q = qi
                    found_pos = best
                    break
            if found_q < 0:
                if policy != POLICY_OPEN:
                    # Ramulator's Closed / ClosedAP / Timeout row policies: precharge the first open bank
                    # (rank, group, bank order) whose PRE is ready (and, for Timeout, idle long enough)
                    victim = np.int64(-1)
                    for r in range(R):
                        ridx = c * R + r
                        for g in range(G):
                            for b in range(B):
                                bidx = (ridx * G + g) * B + b
                                if BANK[bidx, B_ROW] < 0:
                                    continue
                                ra = max(nxt[c, PRE], nxt[base_rank + ridx, PRE], nxt[base_bg + ridx * G + g, PRE],
                                         nxt[base_bank + bidx, PRE])
                                if policy == POLICY_TIMEOUT and BANK[bidx, B_TS] + P[P_TIMEOUT] > ra:
                                    ra = BANK[bidx, B_TS] + P[P_TIMEOUT]
                                if ra < earliest:
                                    earliest = ra
                                if victim < 0 and ra <= t:
                                    victim = bidx
                    if victim >= 0:
                        ridx = victim // (G * B)
                        BANK[victim, B_ROW] = -1
                        RANK[ridx, R_OPEN] -= 1
                        if RANK[ridx, R_OPEN] == 0:
                            RANK[ridx, R_ACTIVE] += t - RANK[ridx, R_SINCE]
                        _update_timing(np.int64(PRE), c, ridx, (victim // B) % G, victim, t, P, nxt, hist, rule, meta)
                        stats[c, ST_CMD0 + PRE] += 1
                        CH[c, H_VERSION] += 1
                        CH[c, H_TNEXT] = -1
                        continue
                nt = earliest
                if nt <= t:
                    nt = t + 1
                # a write mode that flips every cycle (the drain after the trace) allows no skipping
                wq = CH[c, H_QL + Q_WRITE]
                rq = CH[c, H_QL + Q_READ]
                wm = CH[c, H_WM]
                nwm = (1 if (wq > sc[SC_HI] or rq == 0) else 0) if wm == 0 else (0 if (wq < sc[SC_LO] and rq != 0) else 1)
                if nwm != wm:
                    nt = t + 1
                CH[c, H_TNEXT] = nt
                continue
            # ---- a run of row hits in closed form ------------------------------------------------------
            # The head is the oldest of a full queue of hits to one open row, nothing else is queued, and the
            # next requests of the trace are hits of the same kind to the same row: then every cycle is known.
            # Each CAS issues d = max(RD->RD or WR->WR latency on its path) after the previous one (earlier
            # constraints are already met: the head is ready), the front end refills the freed slot in the
            # next cycle, and no other command can issue. The timing state after the run is the state after
            # its last CAS (CAS rules have window 1, so later times dominate). It stops before a refresh is
            # due, before the trace's last request, and at the first request that is not such a hit.
            qi = found_q
            pos = found_pos
            if P[P_RUNS] and C == 1 and policy == POLICY_OPEN and sc[SC_END] == 0 and qi != Q_ACT and qi != Q_OTHER \
                    and CH[c, H_QL + Q_ACT] == 0 and CH[c, H_QL + Q_OTHER] == 0 \
                    and CH[c, H_QL + qi] == (P[P_QW] if qi == Q_WRITE else P[P_QR]) \
                    and CH[c, H_WM] == (1 if qi == Q_WRITE else 0) \
                    and (qi == Q_READ or CH[c, H_QL + qi] - 1 >= sc[SC_LO]) \
                    and Q[c, qi, pos, F_FIRST] == (WR if qi == Q_WRITE else RD) \
                    and (P[P_DWR] if qi == Q_WRITE else P[P_DRD]) > 0:
                n = CH[c, H_QL + qi]
                bidx = Q[c, qi, pos, F_BIDX]
                erow = Q[c, qi, pos, F_ROW]
                same = BANK[bidx, B_ROW] == erow
                for j in range(n):
                    if Q[c, qi, j, F_BIDX] != bidx or Q[c, qi, j, F_ROW] != erow:
                        same = False
                        break
                if same and qi == Q_READ:
                    # the other queue keeps its requests through the run (the mode does not change: no write
                    # arrives); none may be a write to this row, or a read of the run could be served from it
                    for j in range(CH[c, H_QL + Q_WRITE]):
                        if Q[c, Q_WRITE, j, F_BIDX] == bidx and Q[c, Q_WRITE, j, F_ROW] == erow:
                            same = False
                            break
                if same:
                    etype = T_WRITE if qi == Q_WRITE else T_READ
                    d = P[P_DWR] if qi == Q_WRITE else P[P_DRD]
                    i0 = sc[SC_I]
                    last_ok = n_req - 1       # leave the trace's last request to the ordinary path
                    runs_to = t + BIG // 4
                    if nrefi > 0:
                        runs_to = CH[c, H_REFRESHED] + nrefi - 1   # the last cycle before a refresh is due
                    m = 0                     # requests of the trace that join the run
                    while i0 + m < last_ok and t + (m + 1) * d <= runs_to:
                        ii = i0 + m
                        if E[ii, E_TYPE] != etype or E[ii, E_CH] != c or E[ii, E_BIDX] != bidx \
                                or E[ii, E_ROW] != erow or arrival[ii] > t + m * d:
                            break
                        m += 1
                    # the request after the run must wait for the full queue too: one that would go to the other
                    # queue enters in the cycle after the last refill, so the run ends before it
                    while m >= 1 and E[i0 + m, E_TYPE] != etype:
                        m -= 1
                    if m >= 1:
                        # m + 1 CAS commands at t, t + d, ..., t + m d; request i0 + j enters at cycle t + j d
                        sc[SC_RUNS] += 1
                        sc[SC_RUN_REQS] += m + 1
                        # slots in arrival order: the oldest issues, its slot takes the newest request, which
                        # issues after all the others, so the slots issue in this order, round and round
                        order = np.empty(n, np.int64)
                        for jj in range(n):
                            order[jj] = jj
                        for a1 in range(1, n):     # insertion sort by arrival (n <= 4096, once per run)
                            x = order[a1]
                            b1 = a1 - 1
                            while b1 >= 0 and Q[c, qi, order[b1], F_ARRIVE] > Q[c, qi, x, F_ARRIVE]:
                                order[b1 + 1] = order[b1]
                                b1 -= 1
                            order[b1 + 1] = x
                        head = order[0]
                        for j in range(m + 1):
                            tj = t + j * d
                            head = order[j % n]
                            if Q[c, qi, head, F_FLAG]:
                                stats[c, (ST_RD_HIT if etype == T_READ else ST_WR_HIT)] += 1
                            e = Q[c, qi, head, F_ID]
                            if etype == T_READ:
                                pop = max(tj + P[P_RL], CH[c, H_LASTPOP] + 1)
                                CH[c, H_LASTPOP] = pop
                                completion[e] = pop
                                stats[c, ST_RD_DONE] += 1
                            else:
                                completion[e] = tj + P[P_WL]
                                stats[c, ST_WR_DONE] += 1
                            if j < m:
                                ii = i0 + j
                                Q[c, qi, head, F_ID] = ii
                                Q[c, qi, head, F_TYPE] = etype
                                Q[c, qi, head, F_RIDX] = E[ii, E_RIDX]
                                Q[c, qi, head, F_BG] = E[ii, E_BG]
                                Q[c, qi, head, F_BIDX] = bidx
                                Q[c, qi, head, F_ROW] = erow
                                Q[c, qi, head, F_ADDR] = E[ii, E_ADDR]
                                Q[c, qi, head, F_ARRIVE] = tj
                                Q[c, qi, head, F_VER] = -1
                                Q[c, qi, head, F_FLAG] = 1
                        t_last = t + m * d
                        BANK[bidx, B_HITS] += m + 1
                        BANK[bidx, B_TS] = t_last
                        cas = WR if etype == T_WRITE else RD
                        _update_timing(cas, c, Q[c, qi, head, F_RIDX], Q[c, qi, head, F_BG], bidx, t_last, P, nxt,
                                       hist, rule, meta)
                        stats[c, ST_CMD0 + cas] += m + 1
                        # the last CAS frees its slot: remove it, keeping arrival order
                        for j in range(head, n - 1):
                            _move(Q, c, qi, j + 1, qi, j)
                        CH[c, H_QL + qi] = n - 1
                        CH[c, H_VERSION] += 1
                        CH[c, H_TNEXT] = -1
                        sc[SC_I] = i0 + m
                        t = t_last
                        k = t_last - 1
                        continue
            # ---- issue the head's command -------------------------------------------------------------
            cmd = Q[c, qi, pos, F_FIRST]
            etype = Q[c, qi, pos, F_TYPE]
            ridx = Q[c, qi, pos, F_RIDX]
            bidx = Q[c, qi, pos, F_BIDX]
            erow = Q[c, qi, pos, F_ROW]
            if etype != T_REF and Q[c, qi, pos, F_FLAG]:
                Q[c, qi, pos, F_FLAG] = 0
                rowb = BANK[bidx, B_ROW]
                cls = 0 if rowb == erow else (2 if rowb >= 0 else 1)
                stats[c, (ST_RD_HIT if etype == T_READ else ST_WR_HIT) + cls] += 1
            icmd = cmd
            if policy == POLICY_CLOSED_AP and (cmd == RD or cmd == WR):
                # Ramulator ClosedAP: auto-precharge if this is the only queued hit to the open row
                nh = 0
                for qsel in range(2):
                    qq = (Q_WRITE if CH[c, H_WM] else Q_READ) if qsel == 0 else Q_ACT
                    for j in range(CH[c, H_QL + qq]):
                        if Q[c, qq, j, F_BIDX] == bidx and Q[c, qq, j, F_ROW] == erow and BANK[bidx, B_ROW] == erow:
                            nh += 1
                    if nh > 0:
                        break
                if nh == 1:
                    icmd = RDA if cmd == RD else WRA
            # bank and rank state
            if icmd == PREA:
                for j in range(G * B):
                    BANK[ridx * G * B + j, B_ROW] = -1
                if RANK[ridx, R_OPEN] > 0:
                    RANK[ridx, R_ACTIVE] += t - RANK[ridx, R_SINCE]
                RANK[ridx, R_OPEN] = 0
            elif icmd == ACT:
                BANK[bidx, B_ROW] = erow
                BANK[bidx, B_HITS] = 0
                BANK[bidx, B_TS] = t
                if RANK[ridx, R_OPEN] == 0:
                    RANK[ridx, R_SINCE] = t
                RANK[ridx, R_OPEN] += 1
            elif icmd == PRE or icmd == RDA or icmd == WRA:
                if icmd != PRE:
                    BANK[bidx, B_HITS] += 1
                    BANK[bidx, B_TS] = t
                BANK[bidx, B_ROW] = -1
                RANK[ridx, R_OPEN] -= 1
                if RANK[ridx, R_OPEN] == 0:
                    RANK[ridx, R_ACTIVE] += t - RANK[ridx, R_SINCE]
            elif icmd == RD or icmd == WR:
                BANK[bidx, B_HITS] += 1
                BANK[bidx, B_TS] = t
            if etype == T_REF:
                _update_timing(icmd, c, ridx, np.int64(-1), np.int64(-1), t, P, nxt, hist, rule, meta)
            else:
                _update_timing(icmd, c, ridx, Q[c, qi, pos, F_BG], bidx, t, P, nxt, hist, rule, meta)
            stats[c, ST_CMD0 + icmd] += 1
            CH[c, H_VERSION] += 1
            CH[c, H_TNEXT] = -1
            final = REF if etype == T_REF else (RD if etype == T_READ else WR)
            n = CH[c, H_QL + qi]
            if cmd != final:
                if cmd == ACT:
                    # the request moves to the back of the activated queue (from the read or write queue,
                    # freeing its slot, or within the activated queue when its row was closed meanwhile)
                    tmp = qmax - 1   # the last slot of the refresh queue's row serves as scratch
                    if CH[c, H_QL + Q_OTHER] >= qmax - 1 or CH[c, H_QL + Q_ACT] >= qmax - 1:
                        sc[SC_ERR] = ERR_ACTQ
                        return
                    _move(Q, c, qi, pos, Q_OTHER, tmp)
                    for j in range(pos, n - 1):
                        _move(Q, c, qi, j + 1, qi, j)
                    CH[c, H_QL + qi] = n - 1
                    na = CH[c, H_QL + Q_ACT]
                    _move(Q, c, Q_OTHER, tmp, Q_ACT, na)
                    CH[c, H_QL + Q_ACT] = na + 1
                continue
            e = Q[c, qi, pos, F_ID]
            if etype == T_READ:
                pop = max(t + P[P_RL], CH[c, H_LASTPOP] + 1)
                CH[c, H_LASTPOP] = pop
                completion[e] = pop
                stats[c, ST_RD_DONE] += 1
            elif etype == T_WRITE:
                completion[e] = t + P[P_WL]
                stats[c, ST_WR_DONE] += 1
            for j in range(pos, n - 1):
                _move(Q, c, qi, j + 1, qi, j)
            CH[c, H_QL + qi] = n - 1
        # ---- done? ------------------------------------------------------------------------------------
        if sc[SC_END] == 1:
            empty = True
            lp = 0
            for c in range(C):
                if CH[c, H_QL] + CH[c, H_QL + 1] + CH[c, H_QL + 2] + CH[c, H_QL + 3] > 0:
                    empty = False
                if CH[c, H_LASTPOP] > lp:
                    lp = CH[c, H_LASTPOP]
            if empty and lp <= t:
                sc[SC_DONE] = 1
                sc[SC_CYCLES] = t
                sc[SC_K] = k + 1
                return
        # ---- the next iteration where anything can happen ---------------------------------------------
        nk = BIG
        i = sc[SC_I]
        if sc[SC_END] == 0:
            if i >= n_req:
                nk = k + 1
            elif arrival[i] > k + 1:
                nk = arrival[i]
            else:
                c = E[i, E_CH]
                if E[i, E_TYPE] == T_WRITE:
                    room = CH[c, H_QL + Q_WRITE] < P[P_QW]
                else:
                    room = CH[c, H_QL + Q_READ] < P[P_QR]
                if room:
                    nk = k + 1
        for c in range(C):
            tn = CH[c, H_TNEXT]
            if tn < 0:
                tn = t + 1   # state changed this cycle: look again next cycle
            if tn - 1 < nk:
                nk = tn - 1
            if nrefi > 0 and CH[c, H_REFRESHED] + nrefi - 1 < nk:
                nk = CH[c, H_REFRESHED] + nrefi - 1
        if sc[SC_END] == 1:
            for c in range(C):
                if CH[c, H_LASTPOP] - 1 < nk:
                    nk = CH[c, H_LASTPOP] - 1
        if nk < k + 1:
            nk = k + 1
        k = nk
        sc[SC_K] = k
        if sc[SC_I] >= stop_i and sc[SC_END] == 0:
            return
