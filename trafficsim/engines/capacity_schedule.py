"""A tiling's execution in order: the compute steps of the capacity engine's loop nest and the tile transfers
between them, with the earliest cycle each transfer can start under double buffering.

The loop nest is the one :mod:`trafficsim.engines.capacity` searched: groups outermost, then the tile loops
K (output channels), C (input channels, the reduction) and S (spatial tiles, row-major) in the chosen order.
Each operand is stored at a level of that nest (0 = above all three loops: the whole tensor; 3 = below all:
one compute tile). An operand's tile is loaded when the indices of the loops above its level change, except
an irrelevant loop that sits inside every relevant one above the level (the tile stays while it turns) --
the same reuse rule as the traffic count, so the transfers here add up to the engine's DRAM words exactly.

Outputs are written when their tile changes. When the reduction loop sits outside a K or S loop above the
output's level, every C step writes its partial sums and every C step after the first reads them back first.

Timing (array cycles): step t computes for its share of the layer's compute cycles (in proportion to its
MACs). A double-buffered operand's j-th tile goes into the half its (j-2)-th tile used, so its load can
start when the last step that used tile j-2 ends; a singly-buffered one (loaded once) starts at cycle 0.
Writes start when the last step of their tile ends. :func:`stall_schedule` then lets each step start
when the previous step has ended and its loads have completed, and an output tile's first step wait
for the write of the tile two before it (the same half), given when each transfer completed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# transfer kinds
INPUT, WEIGHT, OUTPUT, PSUM_READ = 0, 1, 2, 3
_K, _C, _S = 0, 1, 2


@dataclass(frozen=True, eq=False)
class Schedule:
    """The steps and transfers of one layer.

    Steps: ``step_cycles`` (compute cycles of each step, summing to the layer's compute cycles) and
    ``step_first_load`` (index of the first transfer each step waits for; its loads are the read transfers
    ``step_first_load[t] .. step_first_load[t+1]-1`` that are not writes).
    Transfers (in issue order): ``kind`` (INPUT, WEIGHT, OUTPUT write, PSUM_READ), ``is_write``, ``words``
    (elements wanted), ``gate`` (the step whose end lets the transfer start, -1 = the layer's start),
    ``earliest`` (that step's end in the no-stall schedule), the box (``g0, g1`` groups, ``k0, k1``
    output channels within a group, ``c0, c1`` input channels within a group, ``oh0, oh1, ow0, ow1`` output
    pixels), ``step`` (for reads: the step that needs it; for writes: the step after which it is issued),
    ``slot_wait`` (for OUTPUT-level buffering: the write transfer the step's output tile must wait for, -1 none).
    """

    step_cycles: np.ndarray
    kind: np.ndarray
    is_write: np.ndarray
    words: np.ndarray
    gate: np.ndarray
    earliest: np.ndarray
    step: np.ndarray
    g0: np.ndarray
    g1: np.ndarray
    k0: np.ndarray
    k1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    oh0: np.ndarray
    oh1: np.ndarray
    ow0: np.ndarray
    ow1: np.ndarray
    out_wait: np.ndarray  # per step: write transfer whose completion frees this step's output half, -1 none
    # images of a batch in the nest: output rows ``oh0 .. oh1`` are then folded over them (row f is row f % P of
    # image f // P, P = the layer's output rows), and input boxes likewise (the boxes stay output pixels)
    images: int = 1

    def __len__(self) -> int:
        return int(self.kind.size)


@njit(cache=True)
def _touched_count(o0: int, o1: int, out_n: int, in_n: int, kernel: int, stride: int, pad: int, dilation: int,
                   transposed: bool, stamp: np.ndarray, label: int) -> int:
    """Input rows (columns) touched by output rows ``o0 .. o1-1`` not yet stamped with ``label``. Rows are folded
    over a batch: output row ``f`` is row ``f % out_n`` of image ``f // out_n``, which reads that image's rows."""
    count = 0
    for f in range(o0, o1):
        b = f // out_n
        o = f - b * out_n
        for r in range(kernel):
            if transposed:
                num = o + pad - r * dilation
                if num < 0 or num % stride != 0:
                    continue
                i = num // stride
            else:
                i = o * stride - pad + r * dilation
            if 0 <= i < in_n and stamp[b * in_n + i] != label:
                stamp[b * in_n + i] = label
                count += 1
    return count


@njit(cache=True)
def _build(g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw, transposed,
           tg, tk, tc, th, tw, pos, levels, uniform, compute_cycles, images, tn):
    """Steps and transfers; see :class:`Schedule`. ``pos[d]`` = position of loop d (K, C, S) in the nest (0 =
    outermost); ``levels`` = storage level of (input, weights, outputs); ``uniform``: every operand is
    double-buffered (else only those loaded more than once; the others sit in their whole buffer).
    ``images`` > 1: output rows are folded over the batch (``images * p`` of them); a row tile is ``th`` rows
    of one image (``tn == 1``) or ``tn`` whole images."""
    n_g = (g + tg - 1) // tg
    n = np.empty(3, dtype=np.int64)
    n[_K] = (kp + tk - 1) // tk
    n[_C] = (cp + tc - 1) // tc
    n_h1 = (p + th - 1) // th  # row tiles of one image (tn == 1)
    n_h = images * n_h1 if tn == 1 else (images + tn - 1) // tn
    pf = images * p  # output rows of the batch
    n_w = (q + tw - 1) // tw
    n[_S] = n_h * n_w
    order = np.empty(3, dtype=np.int64)  # loop dims outer -> inner
    for d in range(3):
        order[pos[d]] = d
    n_steps = n_g * n[_K] * n[_C] * n[_S]
    # per operand: which loop dims are in its key (above its level and not an irrelevant loop that sits
    # inside every relevant loop above the level) and which are "full" (inside the level: the tile spans them)
    rel = np.zeros((3, 3), dtype=np.bool_)  # rel[operand, dim]; operands: 0 input (C, S), 1 weights (K, C), 2 out (K, S)
    rel[0, _C] = True
    rel[0, _S] = True
    rel[1, _K] = True
    rel[1, _C] = True
    rel[2, _K] = True
    rel[2, _S] = True
    in_key = np.zeros((3, 3), dtype=np.bool_)
    full = np.zeros((3, 3), dtype=np.bool_)
    spill = False
    for op in range(3):
        lv = levels[op]
        for d in range(3):
            above = pos[d] < lv
            full[op, d] = not above
            if not above:
                continue
            if rel[op, d]:
                in_key[op, d] = True
            elif n[d] > 1:
                # irrelevant loop above the level: in the key iff a relevant loop with > 1 trip sits inside it
                for e in range(3):
                    if rel[op, e] and pos[e] < lv and n[e] > 1 and pos[e] > pos[d]:
                        in_key[op, d] = True
        if op == 2 and in_key[2, _C]:
            spill = True
    double = np.ones(3, dtype=np.int64)
    if not uniform:
        for op in range(3):
            loads = n_g
            for d in range(3):
                if in_key[op, d]:
                    loads *= n[d]
            double[op] = 1 if loads > 1 else 0
    # MACs per step are proportional to gs*ks*cs*pixels; cycles split by cumulative share
    total_units = g * kp * cp * pf * q
    step_cycles = np.empty(n_steps, dtype=np.int64)
    out_wait = np.full(n_steps, -1, dtype=np.int64)
    cap = 16 + 4 * n_steps
    kind = np.empty(cap, dtype=np.int64)
    words = np.empty(cap, dtype=np.int64)
    gate = np.full(cap, -1, dtype=np.int64)
    step_of = np.empty(cap, dtype=np.int64)
    box = np.empty((cap, 10), dtype=np.int64)
    nt = 0
    stamp_h = np.zeros(images * h, dtype=np.int64)
    stamp_w = np.zeros(w, dtype=np.int64)
    label = 0
    prev_key = np.full((3, 4), -1, dtype=np.int64)
    # per operand: end cycle (no-stall) of the last step using each of its last two loaded tiles
    last_use = np.full((3, 2), -1, dtype=np.int64)  # last step using each of an operand's last two tiles
    n_loads = np.zeros(3, dtype=np.int64)
    cur_out_write_prev2 = np.full(2, -1, dtype=np.int64)  # write transfers of the output tiles j-1, j-2
    out_tiles = 0
    open_out = -1  # index in box of the current output tile's box (for its write), -1 none
    out_box = np.zeros(10, dtype=np.int64)
    units_done = 0
    t_end = 0
    idx = np.zeros(3, dtype=np.int64)
    step = 0
    for gt in range(n_g):
        for i0 in range(n[order[0]]):
            for i1 in range(n[order[1]]):
                for i2 in range(n[order[2]]):
                    idx[order[0]] = i0
                    idx[order[1]] = i1
                    idx[order[2]] = i2
                    kt, ct, st = idx[_K], idx[_C], idx[_S]
                    ht, wt = st // n_w, st % n_w
                    ga, gb = gt * tg, min(g, gt * tg + tg)
                    ka, kb = kt * tk, min(kp, kt * tk + tk)
                    ca, cb = ct * tc, min(cp, ct * tc + tc)
                    if tn == 1:  # th rows of image ht // n_h1
                        img, lt = ht // n_h1, ht % n_h1
                        oha, ohb = img * p + lt * th, img * p + min(p, lt * th + th)
                    else:        # tn whole images
                        oha, ohb = ht * tn * p, min(images, ht * tn + tn) * p
                    owa, owb = wt * tw, min(q, wt * tw + tw)
                    units = (gb - ga) * (kb - ka) * (cb - ca) * (ohb - oha) * (owb - owa)
                    t_start = t_end
                    units_done += units
                    t_end = compute_cycles * units_done // total_units
                    step_cycles[step] = t_end - t_start
                    # output tile change: write the finished tile, then (spill) read back this one's sums
                    okey_changed = False
                    for d in range(3):
                        if in_key[2, d] and prev_key[2, d] != idx[d]:
                            okey_changed = True
                    if prev_key[2, 3] != gt:
                        okey_changed = True
                    if okey_changed:
                        if open_out >= 0:
                            # the finished tile's write, issued when its last step ended
                            kind[nt] = 2
                            for j in range(10):
                                box[nt, j] = out_box[j]
                            words[nt] = ((out_box[1] - out_box[0]) * (out_box[3] - out_box[2])
                                         * (out_box[7] - out_box[6]) * (out_box[9] - out_box[8]))
                            gate[nt] = step - 1
                            step_of[nt] = step - 1
                            cur_out_write_prev2[1] = cur_out_write_prev2[0]
                            cur_out_write_prev2[0] = nt
                            nt += 1
                        out_box[0], out_box[1] = ga, gb
                        out_box[2], out_box[3] = (0, kp) if full[2, _K] else (ka, kb)
                        out_box[4], out_box[5] = 0, 0
                        if full[2, _S]:
                            out_box[6], out_box[7], out_box[8], out_box[9] = 0, pf, 0, q
                        else:
                            out_box[6], out_box[7], out_box[8], out_box[9] = oha, ohb, owa, owb
                        open_out = 1
                        if double[2] == 1:
                            out_wait[step] = cur_out_write_prev2[1]
                        if spill and ct > 0:
                            kind[nt] = 3
                            for j in range(10):
                                box[nt, j] = out_box[j]
                            words[nt] = ((out_box[1] - out_box[0]) * (out_box[3] - out_box[2])
                                         * (out_box[7] - out_box[6]) * (out_box[9] - out_box[8]))
                            gate[nt] = last_use[2, 1] if double[2] == 1 else -1
                            step_of[nt] = step
                            nt += 1
                        last_use[2, 1] = last_use[2, 0]
                        for d in range(3):
                            prev_key[2, d] = idx[d]
                        prev_key[2, 3] = gt
                    last_use[2, 0] = step
                    # input and weight loads
                    for op in range(2):
                        changed = prev_key[op, 3] != gt
                        for d in range(3):
                            if in_key[op, d] and prev_key[op, d] != idx[d]:
                                changed = True
                        if changed:
                            kind[nt] = op
                            box[nt, 0], box[nt, 1] = ga, gb
                            if op == 0:
                                box[nt, 2], box[nt, 3] = 0, 0
                            else:
                                box[nt, 2], box[nt, 3] = (0, kp) if full[1, _K] else (ka, kb)
                            box[nt, 4], box[nt, 5] = (0, cp) if full[op, _C] else (ca, cb)
                            if op == 0 and not full[0, _S]:
                                box[nt, 6], box[nt, 7], box[nt, 8], box[nt, 9] = oha, ohb, owa, owb
                            else:
                                box[nt, 6], box[nt, 7], box[nt, 8], box[nt, 9] = 0, pf, 0, q
                            if op == 0:
                                label += 1
                                rows = _touched_count(box[nt, 6], box[nt, 7], p, h, r, sh, ph, dh, transposed,
                                                      stamp_h, label)
                                cols = _touched_count(box[nt, 8], box[nt, 9], q, w, s, sw, pw, dw, transposed,
                                                      stamp_w, label)
                                words[nt] = (gb - ga) * (box[nt, 5] - box[nt, 4]) * rows * cols
                            else:
                                words[nt] = (gb - ga) * (box[nt, 3] - box[nt, 2]) * (box[nt, 5] - box[nt, 4]) * r * s
                            # into the half of the tile two loads back (free once its last step ended)
                            gate[nt] = last_use[op, 1] if double[op] == 1 else -1
                            step_of[nt] = step
                            n_loads[op] += 1
                            last_use[op, 1] = last_use[op, 0]
                            for d in range(3):
                                prev_key[op, d] = idx[d]
                            prev_key[op, 3] = gt
                            nt += 1
                        last_use[op, 0] = step
                    if nt + 4 > cap:
                        cap2 = cap * 2
                        kind = _grow1(kind, cap2)
                        words = _grow1(words, cap2)
                        gate = _grow1(gate, cap2)
                        step_of = _grow1(step_of, cap2)
                        box2 = np.empty((cap2, 10), dtype=np.int64)
                        box2[:cap] = box
                        box = box2
                        cap = cap2
                    step += 1
    # the last output tile's write
    if open_out >= 0:
        kind[nt] = 2
        for j in range(10):
            box[nt, j] = out_box[j]
        words[nt] = ((out_box[1] - out_box[0]) * (out_box[3] - out_box[2]) * (out_box[7] - out_box[6])
                     * (out_box[9] - out_box[8]))
        gate[nt] = step - 1
        step_of[nt] = step - 1
        nt += 1
    return (step_cycles, kind[:nt].copy(), words[:nt].copy(), gate[:nt].copy(), step_of[:nt].copy(),
            box[:nt].copy(), out_wait)


@njit(cache=True)
def _grow1(a: np.ndarray, size: int) -> np.ndarray:
    out = np.empty(size, dtype=a.dtype)
    out[:a.size] = a
    return out


def layer_schedule(layer, traffic, compute_cycles: int) -> Schedule:
    """The steps and transfers of ``layer`` (a :class:`~trafficsim.topology.Layer`) under its tiling ``traffic``
    (a :class:`~trafficsim.engines.capacity.LayerTraffic`), ``compute_cycles`` split over the steps."""
    from ..bounds import gemm_dims

    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    t = traffic.tiles
    pos = np.empty(3, dtype=np.int64)
    for i, name in enumerate(traffic.loop_order):
        pos["KCS".index(name)] = i
    levels = np.array(traffic.levels, dtype=np.int64)
    images = traffic.images
    steps, kind, words, gate, step_of, box, out_wait = _build(
        g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw, layer.transposed,
        t["g"], t["k"], t["c"], t["h"], t["w"], pos, levels, traffic.tiling == "uniform", int(compute_cycles),
        images, t.get("n", 1))
    return Schedule(steps, kind, kind == OUTPUT, words, gate, gate_cycles(gate, np.cumsum(steps)), step_of,
                    *(box[:, j].copy() for j in range(10)), out_wait, images)


def gate_cycles(gate: np.ndarray, step_end: np.ndarray) -> np.ndarray:
    """The cycle each transfer may start: the end of its gating step (0 for gate -1)."""
    ends = np.concatenate([np.zeros(1, dtype=np.int64), step_end.astype(np.int64)])
    return ends[gate + 1]


@njit(cache=True)
def _stall_schedule(step_cycles: np.ndarray, kind: np.ndarray, step_of: np.ndarray, done: np.ndarray,
                    out_wait: np.ndarray, step_end: np.ndarray) -> int:
    """Fill ``step_end`` and return the layer's end cycle, given each transfer's completion cycle."""
    t_end = 0
    j = 0
    n_t = kind.size
    for st in range(step_cycles.size):
        start = t_end
        while j < n_t and step_of[j] <= st:
            if kind[j] != OUTPUT and step_of[j] == st and done[j] > start:
                start = done[j]
            j += 1
        w = out_wait[st]
        if w >= 0 and done[w] > start:
            start = done[w]
        t_end = start + step_cycles[st]
        step_end[st] = t_end
    end = t_end
    for i in range(n_t):
        if done[i] > end:
            end = done[i]
    return end


def stall_schedule(schedule: Schedule, done: np.ndarray) -> tuple[int, np.ndarray]:
    """The layer's cycles when transfer ``i`` completes at ``done[i]`` (array cycles from the layer's start), and
    each step's end: a step starts when the previous one has ended and its loads (and its output half) are ready;
    the layer ends when its last step and its last transfer are done."""
    step_end = np.empty(schedule.step_cycles.size, dtype=np.int64)
    end = _stall_schedule(schedule.step_cycles, schedule.kind, schedule.step, np.asarray(done, dtype=np.int64),
                          schedule.out_wait, step_end)
    return int(end), step_end


@njit(cache=True)
def _replay(order: np.ndarray, gate: np.ndarray, arrival: np.ndarray, done: np.ndarray, n_sched: int,
            step_cycles: np.ndarray, kind: np.ndarray, step_of: np.ndarray, out_wait: np.ndarray,
            max_rounds: int, latency: int) -> tuple[int, np.ndarray, np.ndarray, int]:
    """Re-time a timed stream under the double-buffering gates, without the DRAM model.

    ``done``/``arrival`` come from one timing of the transfers in issue ``order``: transfer x occupied the
    memory for ``service[x] = done[x] - max(arrival[x], latest done before it)``, less ``latency`` when it
    found the memory idle. Each round starts every transfer at the end of its gating step in the last
    stall-aware schedule, issues them in order of those cycles with the service times (plus ``latency`` after
    an idle gap), and recomputes the schedule, until no step moves (or ``max_rounds``). With the arrivals of the timing itself it
    gives back its completions exactly. Returns (layer end, each transfer's completion, each step's end,
    rounds)."""
    n = order.size
    service = np.empty(n, np.int64)
    free = 0
    for i in range(n):
        x = order[i]
        idle = arrival[x] > free
        start = arrival[x] if idle else free
        # what the transfer occupied the memory for once it streamed (its first access's latency apart)
        service[x] = done[x] - start if done[x] > start else 0
        if idle:
            service[x] = service[x] - latency if service[x] > latency else 0
        if done[x] > free:
            free = done[x]
    new_done = done.copy()
    step_end = np.empty(step_cycles.size, np.int64)
    end = _stall_schedule(step_cycles, kind[:n_sched], step_of[:n_sched], new_done[:n_sched], out_wait, step_end)
    rounds = 0
    prev = step_end.copy()
    start_at = np.empty(n, np.int64)
    while rounds < max_rounds:
        rounds += 1
        for x in range(n):
            g = gate[x]
            start_at[x] = step_end[g] if g >= 0 else 0
        # issued in order of the cycle each may start (ties in list order), as the timing issued them
        order = np.argsort(start_at * n + np.arange(n), kind="mergesort")
        free = 0
        for i in range(n):
            x = order[i]
            a = start_at[x]
            if a > free:  # the memory was idle: the first access waits its latency
                new_done[x] = a + latency + service[x]
            else:
                new_done[x] = free + service[x]
            if new_done[x] > free:
                free = new_done[x]
        end = _stall_schedule(step_cycles, kind[:n_sched], step_of[:n_sched], new_done[:n_sched], out_wait, step_end)
        same = True
        for s in range(step_end.size):
            if step_end[s] != prev[s]:
                same = False
                break
        if same:
            break
        prev[:] = step_end
    for x in range(n):
        if new_done[x] > end:
            end = new_done[x]
    return end, new_done, step_end, rounds
