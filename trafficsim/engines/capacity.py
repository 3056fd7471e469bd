"""The capacity-aware engine: DRAM traffic that moves with SRAM size, time and energy.

Per layer, a search over tilings and loop orders picks the one with the least DRAM traffic that
fits the three SRAMs (double-buffered: half of each holds the working tile); partial sums stay on
chip when the loop order keeps the output tile resident over the whole reduction. Compute cycles
and SRAM accesses come from SCALE-Sim's systolic model (folds of the chosen dataflow); time is
compute overlapped with DRAM transfers, timed by the memory system (``Hardware.dram`` through
:func:`trafficsim.dram.transfers.transfer_cost`; the default ideal pipe is bytes / bandwidth);
energy from a per-access table and the memory system. At network level (topologies converted from torch, which record ops and tensors) concat,
pooling, residual adds and inter-layer residency are handled as :class:`CapacityOptions` says.

Exactly what is assumed is written down in ``docs/capacity.md``.
"""
from __future__ import annotations

import bisect
import functools
import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from .. import dataflow as dataflows
from ..bounds import capacity_bound_words, gemm_dims, layer_macs, touched_1d
from ..dram.layout import LayoutSpec
from ..dram.transfers import MemorySystem, Transfers, transfer_cost
from ..energy import EnergyTable, mac_energy_uj, sram_energy_uj
from ..errors import InputError
from ..hardware import Hardware
from ..lazyjit import lazy_njit
from ..results import LayerResult, RunResult
from ..topology import POINTWISE_OP_KINDS, Layer, Topology
from ..workload import Precision
from .limits import check_counters, check_hardware

ConcatMode = Literal["zero-copy", "materialised"]
CONCAT_MODES: tuple[str, ...] = ("zero-copy", "materialised")
TilingMode = Literal["per-operand", "uniform"]
TILING_MODES: tuple[str, ...] = ("per-operand", "uniform")
ATTENTION_MODES: tuple[str, ...] = ("unfused", "fused")
ACTIVATION_MODES: tuple[str, ...] = ("fused", "unfused")
LOOP_NAMES = ("K", "C", "S")  # output channels, input channels (reduction), output pixels
# the six loop orders, outer to inner, as indices into LOOP_NAMES
LOOP_ORDERS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], dtype=np.int64)


@dataclass(frozen=True)
class CapacityOptions:
    """Options of the capacity model.

    * ``tiling``: ``"per-operand"`` (each operand keeps its own tile: resident in its whole buffer when it is
      loaded once, double-buffered halves otherwise, at the coarsest level of the loop nest that fits) or
      ``"uniform"`` (one tile shape for all three operands, every buffer halved: the model before
      per-operand tiling, kept for comparison).
    * ``concat``: ``"zero-copy"`` (consumers read the pieces where their producers wrote them; no
      traffic of its own) or ``"materialised"`` (a copy: every piece read, the result written).
    * ``fuse_pool_add``: pooling and residual adds run inside the conv that produces their input
      (the conv writes the pooled/added result; an add reads its other operand), instead of
      being charged their own reads and writes.
    * ``inter_layer_residency``: a feature map that fits in half of the smaller of the ifmap and
      ofmap SRAMs and is consumed by the very next node is not read back from DRAM by it, and not
      written at all when that node is its only consumer.
    * ``energy``: the per-access energy table (:class:`~trafficsim.energy.EnergyTable`); its DRAM figure is
      the ideal pipe's (a DRAM standard computes its own energy from its commands).
    * ``layout``: where tensors live in DRAM (:class:`~trafficsim.dram.layout.LayoutSpec`, or its text such as
      ``"nhwc"`` / ``"nchwc8,tiled"``); used with a DRAM standard (``Hardware.dram``), not by the ideal pipe.
    * ``dram_passes``: with a DRAM standard, how many times the DRAM model times a layer's stream, each time
      with the start cycles of the stall-aware schedule the previous pass converged to (see
      ``docs/capacity.md``, "On a DRAM standard"; 1, the default, is within about 2 % of the converged cycles).
    * ``attention``: ``"unfused"`` (QK^T, softmax and AV are three kernels: the scores are written and read
      back) or ``"fused"`` (flash-style: the scores of an attention call never leave the chip; only Q, K, V
      and the output move).
    * ``activations``: ``"fused"`` (activations such as ReLU, GELU, SiLU and batch norm run in the output stage
      of the node that produced their tensor: no traffic of their own; the run counts them in
      ``meta["network_ops"]["activations_fused"]``) or ``"unfused"`` (each is a kernel of its own: it reads and
      writes its tensor).

    Element sizes are the topology's workload (:func:`trafficsim.workload.effective_precision`: its precision,
    else 1 byte): SRAM sizes are real kilobytes, so 2-byte elements halve the elements on chip.
    """

    tiling: TilingMode = "per-operand"
    concat: ConcatMode = "zero-copy"
    fuse_pool_add: bool = False
    inter_layer_residency: bool = False
    energy: EnergyTable = field(default_factory=EnergyTable)
    attention: str = "unfused"
    activations: str = "fused"
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    dram_passes: int = 1

    def __post_init__(self) -> None:
        if self.tiling not in TILING_MODES:
            raise InputError(f"tiling must be 'per-operand' or 'uniform', got {self.tiling!r}")
        if self.concat not in CONCAT_MODES:
            raise InputError(f"concat must be 'zero-copy' or 'materialised', got {self.concat!r}")
        if self.attention not in ATTENTION_MODES:
            raise InputError(f"attention must be 'unfused' or 'fused', got {self.attention!r}")
        if self.activations not in ACTIVATION_MODES:
            raise InputError(f"activations must be 'fused' or 'unfused', got {self.activations!r}")
        if isinstance(self.layout, str):
            object.__setattr__(self, "layout", LayoutSpec.parse(self.layout))
        if not isinstance(self.layout, LayoutSpec):
            raise InputError(f"layout must be a LayoutSpec or text such as 'nhwc', got {self.layout!r}")
        if isinstance(self.dram_passes, bool) or not isinstance(self.dram_passes, int) or not 1 <= self.dram_passes <= 16:
            raise InputError(f"dram_passes must be an integer from 1 to 16, got {self.dram_passes!r}")


# ---------------------------------------------------------------------------------------------
# Per-layer tiling search
# ---------------------------------------------------------------------------------------------
@lazy_njit(cache=True)
def _tile_candidates(extent: int) -> np.ndarray:
    """Distinct tile sizes ceil(extent/n) for n = 1, 2, 3, 4, 6, 8, 12, 16, ... and 1, ascending."""
    out = np.empty(64, dtype=np.int64)
    m = 0
    n = 1
    while True:
        t = (extent + n - 1) // n
        if m == 0 or out[m - 1] != t:
            out[m] = t
            m += 1
        if t == 1:
            break
        # the sequence 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (powers of two and 3 * powers of two)
        if n < 2:
            n = 2
        elif (n & (n - 1)) == 0:
            n = n + n // 2
        else:
            n = (n // 3) * 4
        if n > extent:
            n = extent
    res = out[:m][::-1].copy()
    return res


@lazy_njit(cache=True)
def _row_tiles(p: int, h: int, r: int, sh: int, ph: int, dh: int, transposed: bool,
               images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The output-row tiles of a batch of ``images`` (rows folded over the batch: image b's row o is b*P + o).

    A tile lies inside one image (``th <= P`` rows, every image tiled alike: tiles restart at each image) or
    spans ``k`` whole images (``k > 1``, only when ``images > 1``). Returns, ascending by rows per tile:
    output rows per tile (``k*P`` for whole images), images per tile, tiles over the batch, the input rows the
    tiles touch summed over all tiles, and the most one tile touches. At ``images=1`` these are the
    within-image tiles of :func:`_tile_candidates` exactly.
    """
    th_c = _tile_candidates(p)
    n_c = _tile_candidates(images)  # ascending; n_c[0] == 1
    m = th_c.size + n_c.size - 1
    rows = np.empty(m, dtype=np.int64)
    per = np.empty(m, dtype=np.int64)
    tiles = np.empty(m, dtype=np.int64)
    r_sum = np.empty(m, dtype=np.int64)
    r_max = np.empty(m, dtype=np.int64)
    for i in range(th_c.size):
        one_sum, one_max = touched_1d(p, th_c[i], h, r, sh, ph, dh, transposed)
        rows[i] = th_c[i]
        per[i] = 1
        tiles[i] = images * ((p + th_c[i] - 1) // th_c[i])
        r_sum[i] = images * one_sum
        r_max[i] = one_max
    full, _ = touched_1d(p, p, h, r, sh, ph, dh, transposed)
    for j in range(1, n_c.size):
        i = th_c.size + j - 1
        k = n_c[j]
        rows[i] = k * p
        per[i] = k
        tiles[i] = (images + k - 1) // k
        r_sum[i] = images * full
        r_max[i] = k * full
    return rows, per, tiles, r_sum, r_max


@lazy_njit(cache=True)
def _loop_traffic(pos_k: int, pos_c: int, pos_s: int, n_k: int, n_c: int, n_s: int, w_words: int,
                  i_words: int, o_words: int) -> tuple[int, int, int, int]:
    """(weight reads, input reads, output writes incl. spills, partial-sum reads) of one loop order,
    given each tile loop's position (0 = outermost) and trip count.

    An operand is fetched again for every iteration of a loop it does not depend on when that loop
    sits outside a loop it does depend on (trip counts of 1 do not count). Outputs are accumulated
    on chip unless the reduction loop C sits outside a K or S loop: then every C tile after the
    first writes and reads back the partial sums.
    """
    # weights depend on K, C; not on S
    w_mult = 1
    if n_s > 1 and ((n_k > 1 and pos_k > pos_s) or (n_c > 1 and pos_c > pos_s)):
        w_mult = n_s
    # inputs depend on C, S; not on K
    i_mult = 1
    if n_k > 1 and ((n_c > 1 and pos_c > pos_k) or (n_s > 1 and pos_s > pos_k)):
        i_mult = n_k
    # outputs depend on K, S; the reduction C decides whether partial sums leave the chip
    o_writes = o_words
    psum_reads = 0
    if n_c > 1 and ((n_k > 1 and pos_k > pos_c) or (n_s > 1 and pos_s > pos_c)):
        o_writes = o_words * n_c
        psum_reads = o_words * (n_c - 1)
    return w_words * w_mult, i_words * i_mult, o_writes, psum_reads


@lazy_njit(cache=True)
def best_tiling(g: int, kp: int, cp: int, p: int, q: int, h: int, w: int, r: int, s: int,
                sh: int, sw: int, ph: int, pw: int, dh: int, dw: int, transposed: bool,
                icap: int, wcap: int, ocap: int, images: int = 1) -> np.ndarray:
    """The least-traffic tiling of a grouped convolution under the three SRAM capacities (words).

    Tiles: ``tg`` groups, ``tk`` output channels, ``tc`` input channels per group, ``th x tw``
    output pixels; the group loop is outermost (every operand depends on it). Returns int64
    ``[total, weight_reads, input_reads, output_writes, psum_reads, order, tg, tk, tc, th, tw,
    first_tile_words, psum_writes, compulsory_input_words, -, -, -, images_per_tile]``; ``total = -1`` when no
    tile fits. ``images`` > 1: the batch is part of the output-pixel loop (:func:`_row_tiles`; ``th`` is then
    the rows per tile within an image) and the weights are shared by all its images.
    """
    best = np.full(18, -1, dtype=np.int64)
    th_c, tn_c, nh_c, r_sum, r_max = _row_tiles(p, h, r, sh, ph, dh, transposed, images)
    tw_c = _tile_candidates(q)
    tc_c = _tile_candidates(cp)
    tg_c = _tile_candidates(g)
    c_sum = np.empty(tw_c.size, dtype=np.int64)
    c_max = np.empty(tw_c.size, dtype=np.int64)
    for i in range(tw_c.size):
        c_sum[i], c_max[i] = touched_1d(q, tw_c[i], w, s, sw, pw, dw, transposed)
    w_words = g * kp * cp * r * s
    o_words = g * kp * images * p * q
    order_pos = np.empty((6, 3), dtype=np.int64)  # position of K, C, S in each loop order
    for o in range(6):
        for i in range(3):
            order_pos[o, LOOP_ORDERS[o, i]] = i
    # compulsory traffic: once reached nothing can do better
    i_min = g * cp * r_sum[th_c.size - 1] * c_sum[tw_c.size - 1]
    floor_total = w_words + i_min + o_words
    best[13] = i_min
    best_total = -1
    # largest tiles first so that a good solution prunes the rest early
    for tg in tg_c[::-1]:
        for tc in tc_c[::-1]:
            if tg * tc * r * s > wcap:
                continue
            n_c = (cp + tc - 1) // tc
            for ih in range(th_c.size - 1, -1, -1):
                th = th_c[ih]
                n_h = nh_c[ih]
                for iw in range(tw_c.size - 1, -1, -1):
                    tw = tw_c[iw]
                    in_tile = tg * tc * r_max[ih] * c_max[iw]
                    if in_tile > icap:
                        continue
                    tk = min(kp, wcap // (tg * tc * r * s), ocap // (tg * th * tw))
                    if tk < 1:
                        continue
                    n_k = (kp + tk - 1) // tk
                    n_s = n_h * ((q + tw - 1) // tw)
                    i_words = g * cp * r_sum[ih] * c_sum[iw]
                    if best_total >= 0 and w_words + i_words + o_words >= best_total:
                        continue  # no loop order can beat the best so far
                    for o in range(6):
                        wt, it, ow, pr = _loop_traffic(order_pos[o, 0], order_pos[o, 1], order_pos[o, 2],
                                                       n_k, n_c, n_s, w_words, i_words, o_words)
                        total = wt + it + ow + pr
                        if best_total < 0 or total < best_total:
                            best_total = total
                            best[0] = total
                            best[1] = wt
                            best[2] = it
                            best[3] = ow
                            best[4] = pr
                            best[5] = o
                            best[6] = tg
                            best[7] = tk
                            best[8] = tc
                            best[9] = th // tn_c[ih]
                            best[10] = tw
                            best[11] = in_tile + tg * tk * tc * r * s
                            best[12] = ow - o_words
                            best[17] = tn_c[ih]
                            if total == floor_total:
                                return best
    return best


@lazy_njit(cache=True)
def _refetch(above_x, n_x, pos_x, above_a, n_a, pos_a, above_b, n_b, pos_b):
    """True when irrelevant loop x (above the storage level, > 1 trip) sits outside a relevant loop a or b
    that is also above the level with > 1 trip: the operand's tile is evicted and fetched again per x."""
    if not above_x or n_x <= 1:
        return False
    return (above_a and n_a > 1 and pos_a > pos_x) or (above_b and n_b > 1 and pos_b > pos_x)


@lazy_njit(cache=True)
def best_tiling_per_operand(g: int, kp: int, cp: int, p: int, q: int, h: int, w: int, r: int, s: int,
                            sh: int, sw: int, ph: int, pw: int, dh: int, dw: int, transposed: bool,
                            icap: int, wcap: int, ocap: int, images: int = 1) -> np.ndarray:
    """The least-traffic tiling when each operand picks its own storage level (``tiling="per-operand"``).

    Capacities are the WHOLE buffers in words. Each operand is stored at a level of the K/C/S tile nest
    (0 = above all three loops: the whole tensor, 1 or 2 = spanning the loops inside that position, 3 = one
    compute tile) and needs twice its level tile when it is loaded more than once (double buffering), once
    otherwise (resident). A coarser level never costs more traffic, so each operand takes the coarsest level
    that fits; ``tk`` is ``K'`` or the largest a double-buffered weight or output tile allows at its finest or
    all-channel level (for fixed levels the traffic never grows with ``tk``, so the optimum is one of these).
    Returns :func:`best_tiling`'s fields with ``[14..16]`` = the levels of inputs, weights, outputs.
    ``images`` > 1: the batch is part of the output-pixel loop S (:func:`_row_tiles`), so weights held across
    S are read once for the whole batch.
    """
    best = np.full(18, -1, dtype=np.int64)
    th_c, tn_c, nh_c, r_sum, r_max = _row_tiles(p, h, r, sh, ph, dh, transposed, images)
    tw_c = _tile_candidates(q)
    tc_c = _tile_candidates(cp)
    tg_c = _tile_candidates(g)
    c_sum = np.empty(tw_c.size, dtype=np.int64)
    c_max = np.empty(tw_c.size, dtype=np.int64)
    for i in range(tw_c.size):
        c_sum[i], c_max[i] = touched_1d(q, tw_c[i], w, s, sw, pw, dw, transposed)
    rs = r * s
    w_words = g * kp * cp * rs
    pq = images * p * q  # output pixels of the batch
    o_words = g * kp * pq
    r_full = r_sum[th_c.size - 1]  # input rows of the batch (the largest tile touches each once)
    c_full = c_sum[tw_c.size - 1]
    i_min = g * cp * r_full * c_full
    floor_total = w_words + i_min + o_words
    best[13] = i_min
    best_total = -1
    order_pos = np.empty((6, 3), dtype=np.int64)
    for o in range(6):
        for i in range(3):
            order_pos[o, LOOP_ORDERS[o, i]] = i
    tk_cand = np.empty(5, dtype=np.int64)
    trips = np.empty(3, dtype=np.int64)
    seen_sig = np.empty(6, dtype=np.int64)
    for tg in tg_c[::-1]:
        n_g = (g + tg - 1) // tg
        for tc in tc_c[::-1]:
            if tg * tc * rs > wcap:
                continue
            n_c = (cp + tc - 1) // tc
            # widest tiles first: among tilings of equal traffic the first found is kept, and whole rows are
            # contiguous in DRAM (a tall narrow tile costs a burst per row fragment on a DRAM standard)
            for iw in range(tw_c.size - 1, -1, -1):
                tw = tw_c[iw]
                for ih in range(th_c.size - 1, -1, -1):
                    th = th_c[ih]
                    n_h = nh_c[ih]
                    in_tile = tg * tc * r_max[ih] * c_max[iw]
                    if in_tile > icap:
                        continue
                    n_s = n_h * ((q + tw - 1) // tw)
                    i_halo = g * cp * r_sum[ih] * c_sum[iw]
                    # lower bound over orders, levels and tk: a level holding all pixels reads no halo
                    i_lb = i_min if tg * tc * r_full * c_full <= icap else i_halo
                    if best_total >= 0 and w_words + i_lb + o_words >= best_total:
                        continue
                    # tk: kp, or the largest a double-buffered weight/output tile allows (one operand's
                    # tile at its finest or all-channel level bounds it; the optimum is one of these)
                    tk_cand[0] = kp
                    tk_cand[1] = wcap // (2 * tg * tc * rs)
                    tk_cand[2] = wcap // (2 * tg * cp * rs)
                    tk_cand[3] = ocap // (2 * tg * th * tw)
                    tk_cand[4] = ocap // (2 * tg * pq)
                    for a in range(5):
                        tk = min(kp, tk_cand[a])
                        if tk < 1:
                            continue
                        dup = False
                        for b in range(a):
                            if min(kp, tk_cand[b]) == tk:
                                dup = True
                        if dup:
                            continue
                        n_k = (kp + tk - 1) // tk
                        # loops of one trip are never above or below anything that matters: orders that
                        # agree on the others are the same schedule, so only the first of each is tried
                        trips[0] = n_k
                        trips[1] = n_c
                        trips[2] = n_s
                        for o in range(6):
                            sig = 0
                            for i in range(3):
                                d = LOOP_ORDERS[o, i]
                                if trips[d] > 1:
                                    sig = sig * 4 + d + 1
                            seen_sig[o] = sig
                            dup = False
                            for o2 in range(o):
                                if seen_sig[o2] == sig:
                                    dup = True
                            if dup:
                                continue
                            pk = order_pos[o, 0]
                            pc = order_pos[o, 1]
                            ps = order_pos[o, 2]
                            # weights: coarsest level that fits (coarser never costs more traffic)
                            wt = -1
                            w_tile_best = 0
                            lw = 0
                            for lv in range(4):
                                ak = pk < lv
                                ac = pc < lv
                                aS = ps < lv
                                mult = n_s if _refetch(aS, n_s, ps, ak, n_k, pk, ac, n_c, pc) else 1
                                loads = n_g * (n_k if ak else 1) * (n_c if ac else 1) * mult
                                tile = tg * (tk if ak else kp) * (tc if ac else cp) * rs
                                if tile * (2 if loads > 1 else 1) <= wcap:
                                    wt = w_words * mult
                                    w_tile_best = tile
                                    lw = lv
                                    break
                            if wt < 0 or (best_total >= 0 and wt + i_lb + o_words >= best_total):
                                continue
                            # outputs
                            ow = -1
                            pr = 0
                            lo = 0
                            for lv in range(4):
                                ak = pk < lv
                                ac = pc < lv
                                aS = ps < lv
                                spill = _refetch(ac, n_c, pc, ak, n_k, pk, aS, n_s, ps)
                                loads = n_g * (n_k if ak else 1) * (n_s if aS else 1) * (n_c if spill else 1)
                                tile = tg * (tk if ak else kp) * (th * tw if aS else pq)
                                if tile * (2 if loads > 1 else 1) <= ocap:
                                    if spill:
                                        ow = o_words * n_c
                                        pr = o_words * (n_c - 1)
                                    else:
                                        ow = o_words
                                        pr = 0
                                    lo = lv
                                    break
                            if ow < 0 or (best_total >= 0 and wt + i_lb + ow + pr >= best_total):
                                continue
                            # inputs
                            it = -1
                            i_tile_best = 0
                            li = 0
                            for lv in range(4):
                                ak = pk < lv
                                ac = pc < lv
                                aS = ps < lv
                                mult = n_k if _refetch(ak, n_k, pk, ac, n_c, pc, aS, n_s, ps) else 1
                                loads = n_g * (n_c if ac else 1) * (n_s if aS else 1) * mult
                                tile = tg * (tc if ac else cp) * (r_max[ih] * c_max[iw] if aS else r_full * c_full)
                                if tile * (2 if loads > 1 else 1) <= icap:
                                    it = (i_halo if aS else i_min) * mult
                                    i_tile_best = tile
                                    li = lv
                                    break
                            if it < 0:
                                continue
                            total = wt + it + ow + pr
                            if best_total < 0 or total < best_total:
                                best_total = total
                                best[0] = total
                                best[1] = wt
                                best[2] = it
                                best[3] = ow
                                best[4] = pr
                                best[5] = o
                                best[6] = tg
                                best[7] = tk
                                best[8] = tc
                                best[9] = th // tn_c[ih]
                                best[10] = tw
                                best[11] = i_tile_best + w_tile_best
                                best[12] = ow - o_words
                                best[14] = li
                                best[15] = lw
                                best[16] = lo
                                best[17] = tn_c[ih]
                                if total == floor_total:
                                    return best
    return best


def sram_capacities_words(hardware: Hardware, word_bytes: int) -> tuple[int, int, int]:
    """(ifmap, filter, ofmap) SRAM sizes in words: real kB (1024 bytes) / word size."""
    return (hardware.ifmap_sram_kb * 1024 // word_bytes, hardware.filter_sram_kb * 1024 // word_bytes,
            hardware.ofmap_sram_kb * 1024 // word_bytes)


@dataclass(frozen=True)
class LayerTraffic:
    """DRAM words of one layer under its best tiling (before network-level adjustments)."""

    input_reads: int
    weight_reads: int
    output_writes: int  # final writes plus partial-sum spills
    psum_writes: int    # the spill part of output_writes
    psum_reads: int
    loop_order: str
    tiles: dict
    first_tile_words: int
    compulsory_words: tuple[int, int, int]  # (touched inputs, weights, outputs), each once
    # storage level of (inputs, weights, outputs) in the tile nest: 0 = the whole tensor, 3 = one tile
    levels: tuple[int, int, int] = (3, 3, 3)
    tiling: str = "uniform"
    # images of a batch inside the tiling (the output-pixel loop runs over all of them; tiles["n"] images per
    # tile): 1 = one image, the engine runs the layer once per image
    images: int = 1

    @property
    def words(self) -> int:
        """All DRAM words of the tiling (inputs, weights, outputs with spills, partial-sum read-backs)."""
        return self.input_reads + self.weight_reads + self.output_writes + self.psum_reads


# Small searches run in the interpreter while numba is not loaded: importing numba and loading a cached kernel
# costs ~0.9 CPU-s, a Llama-3-8B decode step's whole search (ten distinct GEMM shapes, M = 1 token) ~5 ms in
# Python. A search qualifies by its (groups, input channels, rows, columns) tile combinations; measured 0.3-140
# us a combination (pruning varies), so the interpreter also stops after PY_SEARCH_BUDGET_S CPU-s in a process
# and the kernel takes over: never more than that lost against loading numba first. Both give the same integers.
PY_SEARCH_COMBINATIONS = 400
PY_SEARCH_BUDGET_S = 0.3
_py_search_spent_s = 0.0


@functools.lru_cache(maxsize=16384)
def _search(per_operand: bool, args: tuple) -> tuple[int, ...]:
    """:func:`best_tiling_per_operand` or :func:`best_tiling` of ``args``, memoised (a transformer repeats a few
    layer shapes; a sweep repeats whole networks), in Python when small and numba is not loaded (see above)."""
    global _py_search_spent_s
    kernel = best_tiling_per_operand if per_operand else best_tiling
    if not kernel.is_compiled and _py_search_spent_s < PY_SEARCH_BUDGET_S:
        g, cp, p, q, images = args[0], args[2], args[3], args[4], args[19]
        tiles = _tile_candidates.py
        combos = tiles(g).size * tiles(cp).size * (tiles(p).size + tiles(images).size - 1) * tiles(q).size
        if combos <= PY_SEARCH_COMBINATIONS:
            t0 = time.process_time()
            best = kernel.py(*args)
            _py_search_spent_s += time.process_time() - t0
            return tuple(int(x) for x in best)
    return tuple(int(x) for x in kernel(*args))


def layer_traffic(layer: Layer, capacities_words: tuple[int, int, int],
                  tiling: TilingMode = "uniform", images: int = 1) -> LayerTraffic:
    """Least-traffic tiling of one layer with (ifmap, filter, ofmap) SRAMs of the given words.

    ``tiling="uniform"``: one tile for all operands, each in half its buffer (double buffering);
    ``"per-operand"``: see :func:`best_tiling_per_operand`. ``images`` > 1 tiles a batch of that many images
    through one loop nest (the images are part of the output-pixel loop, so weights can stay on chip across
    them; see :func:`_row_tiles`). Raises :class:`InputError` when nothing fits."""
    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    if tiling == "uniform":
        icap, wcap, ocap = (c // 2 for c in capacities_words)
        what = "half-buffers"
    else:
        icap, wcap, ocap = capacities_words
        what = "buffers"
    best = _search(tiling != "uniform", (g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw, bool(layer.transposed),
                                         icap, wcap, ocap, images))
    if best[0] < 0:
        raise InputError(f"layer {layer.name!r}: SRAM too small for even a 1x1 output tile of its "
                         f"{r}x{s} filter (ifmap/filter/ofmap {what} {icap}/{wcap}/{ocap} words)")
    order = "".join(LOOP_NAMES[i] for i in LOOP_ORDERS[int(best[5])])
    tiles = {"g": int(best[6]), "k": int(best[7]), "c": int(best[8]), "h": int(best[9]), "w": int(best[10])}
    if images > 1:
        tiles["n"] = int(best[17])
    compulsory = (int(best[13]), g * kp * cp * r * s, g * kp * images * p * q)
    levels = (3, 3, 3) if tiling == "uniform" else (int(best[14]), int(best[15]), int(best[16]))
    return LayerTraffic(int(best[2]), int(best[1]), int(best[3]), int(best[12]), int(best[4]), order, tiles,
                        int(best[11]), compulsory, levels, tiling, images)


# ---------------------------------------------------------------------------------------------
# Systolic compute model (SCALE-Sim's folds) for cycles and SRAM accesses
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComputeCounts:
    compute_cycles: int
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_psum_reads: int  # on-chip read-modify-write of partial sums across row folds (ws, is)
    mapping_efficiency_pct: float


def _as_scalesim_layer(layer: Layer) -> Layer:
    # A CSV row named ...DP... is a depthwise conv for SCALE-Sim (one row per channel, Num Filter each).
    if layer.kind == "conv" and layer.groups == 1 and "DP" in layer.name and not layer.inputs and layer.in_c > 1:
        return replace(layer, groups=layer.in_c, out_c=layer.in_c * layer.out_c)
    return layer


def compute_counts(layer: Layer, hardware: Hardware, images: int = 1) -> ComputeCounts:
    """Cycles and array-side SRAM accesses of one layer from SCALE-Sim's fold model (no OS ofmap
    double count, no off-by-one): cycles = folds x rows per fold, for each of the layer's SCALE-Sim
    rows (one per group; a transposed conv runs on its zero-upsampled grid, as SCALE-Sim would).
    ``images`` > 1: a batch mapped as one layer whose output pixels are those of all its images."""
    ra, ca = hardware.array_rows, hardware.array_cols
    df = hardware.dataflow
    # identical SCALE-Sim rows: one per group (per channel for depthwise), one per copy of a batched GEMM
    mult = layer.groups * layer.count
    e = layer.out_h * layer.out_w * images
    rsc = layer.eff_kernel_h * layer.eff_kernel_w * (layer.in_c // layer.groups)
    k = layer.out_c // layer.groups
    sr, sc, t = dataflows.spatial_temporal(df, e, rsc, k)
    f_r, f_c = -(-sr // ra), -(-sc // ca)
    code = dataflows.code(df)
    rows_per_fold = t + ra + ca - 2 if code == dataflows.OS else t + 2 * ra + ca - 2
    cycles = mult * f_r * f_c * rows_per_fold
    psum_reads = 0
    if code == dataflows.OS:
        ifmap_reads, filter_reads, ofmap_writes = f_c * e * rsc, f_r * rsc * k, e * k
    elif code == dataflows.WS:
        ifmap_reads, filter_reads, ofmap_writes = f_c * e * rsc, rsc * k, f_r * e * k
        psum_reads = (f_r - 1) * e * k
    else:
        ifmap_reads, filter_reads, ofmap_writes = e * rsc, f_c * rsc * k, f_r * e * k
        psum_reads = (f_r - 1) * e * k
    mapping_eff = 100.0 * sr * sc / (f_r * ra * f_c * ca)
    return ComputeCounts(cycles, mult * ifmap_reads, mult * filter_reads, mult * ofmap_writes, mult * psum_reads,
                         mapping_eff)


# ---------------------------------------------------------------------------------------------
# Network level: ops, concat, fusion, residency
# ---------------------------------------------------------------------------------------------
@dataclass
class _Acc:
    """Mutable per-layer DRAM words while network-level rules are applied."""

    input_reads: int
    weight_reads: int
    output_writes: int
    psum_writes: int
    psum_reads: int
    op_reads: int = 0
    op_writes: int = 0
    resident_saved: int = 0
    fused_ops: list = field(default_factory=list)
    op_weight_reads: int = 0   # part of op_reads: embedding rows (weights)
    op_kv_writes: int = 0      # part of op_writes: keys/values appended to the KV cache
    scores_on_chip: str = ""   # fused attention: "out" (QK^T keeps its scores) or "in" (AV reads them on chip)


def _tensor_elems(topology: Topology) -> dict[int, int]:
    """Elements of every tensor at the topology's batch."""
    b = topology.batch
    return {t: n * b for t, n in _tensor_elems_one(topology).items()}


def _tensor_elems_one(topology: Topology) -> dict[int, int]:
    elems: dict[int, int] = {}
    for t in topology.tensors:
        c, h, w = t.shape
        elems[t.id] = c * h * w
    for layer in topology.layers:
        if layer.output >= 0 and layer.output not in elems:
            elems[layer.output] = layer.ofmap_elems
    for op in topology.ops:
        if op.output >= 0 and op.output not in elems:
            elems[op.output] = op.output_elems
        for tid, (c, h, w) in zip(op.inputs, op.input_shapes):
            elems.setdefault(tid, c * h * w)
    return elems


def op_owner(topology: Topology):
    """``owner(order)``: the layer an op at execution position ``order`` is charged to, the latest layer that
    ran before it (the first layer if none)."""
    layer_orders = sorted((layer.order, i) for i, layer in enumerate(topology.layers))
    orders_only = [o for o, _ in layer_orders]

    def owner(order: int) -> int:
        pos = bisect.bisect_left(orders_only, order)
        return layer_orders[pos - 1][1] if pos > 0 else layer_orders[0][1]
    return owner


def _apply_network(topology: Topology, acc: list[_Acc], options: CapacityOptions,
                   resident_cap_words: int) -> dict[str, int]:
    """Charge, fuse or drop the ops and apply inter-layer residency; returns counts for meta."""
    layers = topology.layers
    elems = _tensor_elems(topology)
    owner = op_owner(topology)

    # activations and batch norm (in place: output == input) fused into their producer are no node at all
    fused_pointwise = options.activations == "fused"
    consumers: dict[int, list[tuple[str, int]]] = {}
    for i, layer in enumerate(layers):
        for t in layer.inputs:
            consumers.setdefault(t, []).append(("L", i))
    for j, op in enumerate(topology.ops):
        if fused_pointwise and op.kind in POINTWISE_OP_KINDS:
            continue
        for t in op.inputs:
            consumers.setdefault(t, []).append(("O", j))
    producer: dict[int, tuple[str, int]] = {layer.output: ("L", i) for i, layer in enumerate(layers) if layer.output >= 0}
    final_out: dict[tuple[str, int], int] = {("L", i): layer.output for i, layer in enumerate(layers)
                                             if layer.output >= 0}
    fused_into: dict[int, int] = {}      # op index -> layer index
    transparent: set[int] = set()       # zero-copy concats and 'other' ops: no traffic, no node
    charged: set[int] = set()
    stats = {"ops_charged": 0, "ops_fused": 0, "concats_zero_copy": 0, "tensors_resident": 0,
             "activations_fused": 0, "activations_charged": 0}
    ops_in_order = sorted(range(len(topology.ops)), key=lambda j: topology.ops[j].order)
    tensor_kind = {t.id: t.kind for t in topology.tensors}
    for j in ops_in_order:
        op = topology.ops[j]
        if op.kind in POINTWISE_OP_KINDS:
            if fused_pointwise:  # applied as the producer writes the tensor: no traffic, counted
                stats["activations_fused"] += 1
                continue
            stats["activations_charged"] += 1  # then charged below like any op: its tensor read and written
        if op.kind == "concat" and options.concat == "zero-copy":
            transparent.add(j)
            stats["concats_zero_copy"] += 1
            continue
        if op.kind == "other":
            transparent.add(j)
            continue
        if op.kind == "kv_append":
            # the new keys/values are written into the cache in place (the cache itself is read by the
            # attention GEMMs as their operand B): only the appended rows move
            kinds = {t.id: t.kind for t in topology.tensors}
            new = topology.batch * sum(c * h * w for t, (c, h, w) in zip(op.inputs, op.input_shapes)
                                       if kinds.get(t) != "kv_cache")
            acc[owner(op.order)].op_writes += new
            acc[owner(op.order)].op_kv_writes += new
            producer[op.output] = ("O", j)
            continue
        if op.kind == "softmax" and op.attention and options.attention == "fused":
            transparent.add(j)  # flash-style: the scores stay on chip
            continue
        if options.fuse_pool_add and op.kind in ("maxpool", "avgpool", "add"):
            host = None
            for t in op.inputs:
                src = producer.get(t)
                if src is not None and src[0] == "L" and len(consumers.get(t, [])) == 1:
                    host = (t, src[1])
                    break
            if host is not None:
                t, li = host
                a = acc[li]
                a.output_writes += elems[op.output] - elems[t]
                a.op_reads += sum(elems[x] for x in op.inputs if x != t)
                a.fused_ops.append(op.name)
                fused_into[j] = li
                producer[op.output] = ("L", li)
                final_out[("L", li)] = op.output
                stats["ops_fused"] += 1
                continue
        a = acc[owner(op.order)]
        a.op_reads += sum(elems[x] for x in op.inputs)
        a.op_writes += elems[op.output]
        a.op_weight_reads += sum(elems[x] for x in op.inputs if tensor_kind.get(x) == "weight")  # embedding rows
        producer[op.output] = ("O", j)
        final_out[("O", j)] = op.output
        charged.add(j)
        stats["ops_charged"] += 1

    if options.inter_layer_residency:
        _apply_residency(topology, acc, elems, consumers, final_out, fused_into, transparent, charged,
                         owner, resident_cap_words, stats)
    return stats


def _apply_residency(topology: Topology, acc: list[_Acc], elems: dict[int, int],
                     consumers: dict[int, list[tuple[str, int]]], final_out: dict[tuple[str, int], int],
                     fused_into: dict[int, int], transparent: set[int], charged: set[int], owner,
                     cap_words: int, stats: dict[str, int]) -> None:
    """Inter-layer residency: a node's output that fits ``cap_words`` and is consumed by the next
    executing node is read from chip by it, and not written when it is the only consumer."""
    layers, ops = topology.layers, topology.ops

    def effective_consumers(t: int) -> set[tuple[str, int]]:
        out: set[tuple[str, int]] = set()
        for kind, idx in consumers.get(t, []):
            if kind == "O" and idx in transparent:
                out |= effective_consumers(ops[idx].output)
            elif kind == "O" and idx in fused_into:
                out.add(("L", fused_into[idx]))
            else:
                out.add((kind, idx))
        return out

    def conv_input_pieces(layer: Layer) -> set[int]:
        # tensors a layer reads as its conv input, looking through zero-copy concats and views
        out: set[int] = set()
        # a GEMM between activations reads operand B as its "filter": only operand A is its input
        todo = list(layer.inputs if layer.operand_b == "weight" else layer.inputs[:1])
        while todo:
            t = todo.pop()
            out.add(t)
            for j in transparent:
                if ops[j].output == t:
                    todo.extend(ops[j].inputs)
        return out

    def acc_of(node: tuple[str, int]) -> _Acc:
        return acc[node[1]] if node[0] == "L" else acc[owner(ops[node[1]].order)]

    seq = sorted([(layer.order, ("L", i)) for i, layer in enumerate(layers)]
                 + [(ops[j].order, ("O", j)) for j in charged])
    nodes = [node for _, node in seq]
    for k in range(len(nodes) - 1):
        node, nxt = nodes[k], nodes[k + 1]
        t = final_out.get(node)
        if t is None or elems.get(t, cap_words + 1) > cap_words:
            continue
        cons = effective_consumers(t)
        if nxt not in cons:
            continue
        reader = acc_of(nxt)
        cut = 0
        if nxt[0] == "L" and t in conv_input_pieces(layers[nxt[1]]):
            # the layer's input reads (possibly several passes) shrink by t's share of its input
            cut = min(reader.input_reads,
                      reader.input_reads * elems[t] // max(1, layers[nxt[1]].ifmap_elems * topology.batch))
            reader.input_reads -= cut
        if nxt[0] == "O" or any(fused_into.get(j) == nxt[1] and t in ops[j].inputs for j in fused_into):
            # read by a charged op, or as a fused add's other operand
            op_cut = min(reader.op_reads, elems[t])
            reader.op_reads -= op_cut
            cut += op_cut
        reader.resident_saved += cut
        if cons == {nxt}:  # nobody else needs it in DRAM: not written either
            writer = acc_of(node)
            if node[0] == "L":
                cut = min(writer.output_writes - writer.psum_writes, elems[t])
                writer.output_writes -= cut
            else:
                cut = min(writer.op_writes, elems[t])
                writer.op_writes -= cut
            writer.resident_saved += cut
        stats["tensors_resident"] += 1


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------
def compile_notice(hardware: Hardware | None = None) -> str | None:
    """A line for the user before the first run compiles the tiling search (numba; the same for any
    ``hardware``), or None when
    numba's cache holds it (measured: a cold first run 5.4 CPU-s in all, a warm one 0.8, on the project's 2-core machine)."""
    from ..numba_cache import is_cached

    if is_cached(best_tiling_per_operand):   # the default tiling's search (CapacityOptions.tiling)
        return None
    return "compiling the capacity engine's tiling search once, about 5 CPU-seconds; later runs load it from numba's cache"


def check_layer_size(layer: Layer) -> None:
    """Refuse a layer whose traffic counts could overflow the tiling search's 64-bit integers: every
    count it forms is at most (groups x K x C) x the larger of the window x output pixels and the
    input pixels, times a small factor (one-line :class:`~trafficsim.errors.TooLargeError`)."""
    g, kp, cp, p, q, h, w, r, s, *_ = gemm_dims(layer)
    check_counters(f"layer {layer.name!r}", {"traffic words": 8 * g * kp * cp * max(r * s * p * q, h * w)})


def run_id_tags(result: RunResult) -> list[str]:
    """Run-id suffixes for the options that change the numbers: the network options and a DRAM
    bandwidth/clock other than the default."""
    opts = result.meta.get("options", {})
    tags = [tag for key, tag in (("fuse_pool_add", "fused"), ("inter_layer_residency", "resident"))
            if opts.get(key)]
    if opts.get("concat") == "materialised":
        tags.append("matcat")
    if opts.get("tiling") == "uniform":
        tags.append("uniform")
    if opts.get("attention") == "fused":
        tags.append("flashattn")
    if opts.get("activations") == "unfused":
        tags.append("unfusedact")
    if not result.hardware.dram.is_ideal:
        if opts.get("layout", "nchw") != "nchw":
            tags.append(str(opts["layout"]).replace(",", "."))
        if opts.get("dram_passes", 1) != 1:
            tags.append(f"passes{opts['dram_passes']}")
    hw, default = result.hardware, Hardware()
    if (hw.dram, hw.clock_mhz) != (default.dram, default.clock_mhz):
        dram = f"{hw.dram.bandwidth_gbs:g}GBs" if hw.dram.is_ideal else hw.dram.run_tag()
        tags.append(f"{dram}.{hw.clock_mhz:g}MHz")
    return tags


def _batched(layer: Layer, batch: int) -> tuple[Layer, int]:
    """The layer at ``batch`` and how many identical copies of it run: a weight GEMM stacks the batch's
    tokens into M (weights amortised by the tiling); a GEMM between activations (or against the KV cache)
    gets ``batch`` times the copies; a convolution is returned with ``batch`` copies, which
    :func:`_conv_over_batch` may replace by one tiling over all images."""
    if batch == 1:
        return layer, 1
    if layer.kind in ("gemm", "linear") and layer.operand_b == "weight" and layer.count == 1:
        if layer.kind == "linear":
            return replace(layer, kind="gemm", in_c=1, in_h=batch, in_w=layer.in_c, out_h=batch, out_w=1,
                           kernel_h=1, kernel_w=layer.in_c), 1
        return replace(layer, in_h=layer.in_h * batch, out_h=layer.out_h * batch), 1
    if layer.kind == "gemm":
        return replace(layer, count=layer.count * batch), 1
    return layer, batch


def _traffic_bytes(lt: LayerTraffic, bytes_of: tuple[float, float, float, float]) -> float:
    a_b, b_b, o_b, p_b = bytes_of
    final = lt.output_writes - lt.psum_writes
    return lt.input_reads * a_b + lt.weight_reads * b_b + final * o_b + (lt.psum_writes + lt.psum_reads) * p_b


def _conv_over_batch(layer: Layer, caps: tuple[int, int, int], tiling: TilingMode, batch: int,
                     one: LayerTraffic, bytes_of: tuple[float, float, float, float]) -> LayerTraffic | None:
    """A convolution over a batch: the best tiling with the images inside the output-pixel loop (weights can
    stay on chip across images), or ``None`` when running the layer once per image (``batch`` x ``one``, the
    tiling of one image) moves no more bytes. Taking the smaller of the two keeps the batch's traffic at most
    ``batch`` times one image's: a loop nest over the batch must double-buffer a tile that one image keeps
    resident, so it can lose to the per-image runs."""
    over = layer_traffic(layer, caps, tiling, images=batch)
    if _traffic_bytes(over, bytes_of) <= batch * _traffic_bytes(one, bytes_of):
        return over
    return None


def _layer_bytes(layer: Layer, prec: "Precision") -> tuple[float, float, float, float]:
    """Bytes per element of a layer's (A input, B operand, output, partial sums)."""
    b = {"weight": prec.weights, "activation": prec.activations, "kv_cache": prec.kv_cache}[layer.operand_b]
    return prec.activations, b, prec.activations, prec.psums


def _capacities(hardware: Hardware, a_b: float, b_b: float, p_b: float) -> tuple[int, int, int]:
    """(ifmap, filter, ofmap) SRAM sizes in elements of the operand each holds (real kB: 1024 bytes)."""
    return (int(hardware.ifmap_sram_kb * 1024 // a_b), int(hardware.filter_sram_kb * 1024 // b_b),
            int(hardware.ofmap_sram_kb * 1024 // p_b))


def _fuse_attention(layers: list[Layer], acc: list["_Acc"]) -> int:
    """Flash-style attention: the QK^T GEMM of each attention call does not write its scores and the AV
    GEMM does not read them (the softmax between them is skipped in :func:`_apply_network`)."""
    by_call: dict[str, list[int]] = {}
    for i, layer in enumerate(layers):
        if layer.attention:
            by_call.setdefault(layer.attention, []).append(i)
    fused = 0
    for idx in by_call.values():
        if len(idx) != 2:
            continue
        qk, av = acc[idx[0]], acc[idx[1]]
        qk.output_writes = qk.psum_writes   # the final scores stay on chip (spills, if any, still move)
        av.input_reads = 0
        qk.scores_on_chip, av.scores_on_chip = "out", "in"
        qk.fused_ops.append("attention")
        av.fused_ops.append("attention")
        fused += 1
    return fused


def _time_on_dram(topology: Topology, layers: list[Layer], traffic: list[LayerTraffic],
                  computes: list[ComputeCounts], copies: list[int], precs: list[Precision], hardware: Hardware,
                  options: CapacityOptions, memory: MemorySystem, progress) -> list:
    """Every layer's transfers placed in DRAM and timed (:mod:`trafficsim.engines.capacity_dram`); a layer run
    as ``copies`` identical copies is timed once (its copies run one after another, each alike)."""
    from .capacity_dram import place_network, time_layer

    std = hardware.dram.standard
    if options.fuse_pool_add or options.inter_layer_residency:
        raise InputError("fused pooling/adds and inter-layer residency are not modelled on a DRAM standard yet: "
                         f"use them with the ideal pipe, or drop them with --dram {std}")
    if options.attention == "fused":
        raise InputError(f"fused attention is not modelled on a DRAM standard yet: drop it with --dram {std}")
    if topology.batch != 1:
        raise InputError(f"batch {topology.batch} is not modelled on a DRAM standard yet (batch 1 is): drop --batch "
                         f"or use the ideal pipe")
    sizes = {v for prec in precs for v in (prec.weights, prec.activations, prec.psums, prec.kv_cache)}
    if len(sizes) != 1 or not float(next(iter(sizes))).is_integer():
        raise InputError(f"a DRAM standard needs one whole number of bytes per element for every tensor (got "
                         f"{', '.join(sorted(f'{v:g}' for v in sizes))} B): mixed or sub-byte precision is not "
                         "modelled on it yet")
    word_bytes = int(next(iter(sizes)))
    placement = place_network(topology, layers, traffic, options.layout, word_bytes, memory.row_bytes,
                              options.concat == "zero-copy", op_owner(topology), options.activations == "fused")
    out = []
    for i, (layer, lt, cc) in enumerate(zip(layers, traffic, computes)):
        out.append(time_layer(layer, lt, placement.layers[i], placement.op_tensors[i], cc.compute_cycles, memory,
                              word_bytes, options.dram_passes))
        if progress is not None:
            progress(len(layers) + i + 1, 2 * len(layers))
    return out


def _dram_columns(timing, memory: MemorySystem, clock_mhz: float, copies: int = 1) -> dict:
    """The per-layer DRAM columns of a run on a DRAM standard (counts of all ``copies``, rates of one)."""
    cost = timing.cost
    moved = cost.read_bytes + cost.write_bytes
    seconds = cost.dram_cycles / (clock_mhz * 1e6)
    achieved = moved / seconds / 1e9 if seconds > 0 else 0.0
    accesses = cost.row_hits + cost.row_misses + cost.row_conflicts
    cols = {
        "dram_moved_bytes": moved * copies,
        "dram_requests": cost.requests * copies,
        # reads the controller served from a queued write to the same burst: they move no data
        "dram_reads_forwarded": int(cost.extra.get("reads_forwarded", 0)) * copies,
        "row_hits": cost.row_hits * copies,
        "row_misses": cost.row_misses * copies,
        "row_conflicts": cost.row_conflicts * copies,
        "row_hit_rate": cost.row_hits / accesses if accesses else 0.0,
        "achieved_bandwidth_gbs": achieved,
        "peak_bandwidth_gbs": memory.peak_bandwidth_gbs,
        "bandwidth_util_pct": 100.0 * achieved / memory.peak_bandwidth_gbs,
        "dram_energy_pj": cost.energy_pj_total * copies,
    }
    cols.update({f"dram_energy_{k.lower()}_pj": v * copies for k, v in cost.energy_pj.items()})
    return cols


def simulate(topology: Topology, hardware: Hardware, progress=None,
             options: CapacityOptions | None = None) -> RunResult:
    """Simulate ``topology`` on ``hardware`` with the capacity-aware model.

    One :class:`LayerResult` per topology layer. DRAM counts are in elements ("words"); bytes use the
    workload's bytes per tensor class (:func:`trafficsim.workload.effective_precision`, a layer's own
    precision first) and are in ``extra``: ``dram_bytes`` and its split ``dram_{weights,kv_cache,
    activations,psums}_bytes``. ``dram_ofmap_writes`` holds all ofmap-side transfers (final writes,
    spilled partial sums and their read-backs) and ``dram_ifmap_reads``/``dram_ofmap_writes`` include the
    reads and writes of the ops charged to the layer (split out in ``extra``). At ``Topology.batch`` > 1 a
    layer's numbers are those of the whole batch (:func:`_batched`).
    """
    from ..workload import effective_precision

    options = options or CapacityOptions()
    base_prec = effective_precision(topology)
    check_hardware(hardware, "capacity")
    batch = topology.batch
    n = len(topology.layers)
    layers: list[Layer] = []
    copies: list[int] = []
    precs: list[Precision] = []
    for layer in topology.layers:
        bl, c = _batched(_as_scalesim_layer(layer), batch)
        check_layer_size(bl)
        layers.append(bl)
        copies.append(c)
        precs.append(layer.precision or base_prec)
    traffic: list[LayerTraffic] = []
    acc: list[_Acc] = []
    caps_of: list[tuple[int, int, int]] = []
    batch_stats = {"layers_over_batch": 0, "layers_per_image": 0}
    for i, layer in enumerate(layers):
        a_b, b_b, _, p_b = _layer_bytes(layer, precs[i])
        caps = _capacities(hardware, a_b, b_b, p_b)
        caps_of.append(caps)
        lt = layer_traffic(layer, caps, options.tiling)
        if copies[i] > 1:  # a convolution over a batch: one loop nest over the images, or once per image
            over = _conv_over_batch(layer, caps, options.tiling, copies[i], lt, _layer_bytes(layer, precs[i]))
            if over is not None:
                lt, copies[i] = over, 1
            batch_stats["layers_over_batch" if over is not None else "layers_per_image"] += 1
        traffic.append(lt)
        c = copies[i]
        acc.append(_Acc(lt.input_reads * c, lt.weight_reads * c, lt.output_writes * c, lt.psum_writes * c,
                        lt.psum_reads * c))
        if progress is not None:
            progress(i + 1, n if hardware.dram.is_ideal else 2 * n)  # a DRAM standard then times each layer
    stats: dict[str, int] = {}
    if options.attention == "fused":
        stats["attention_fused"] = _fuse_attention(layers, acc)
    if topology.ops:
        a_b = base_prec.activations
        cap0 = _capacities(hardware, a_b, a_b, a_b)
        stats.update(_apply_network(topology, acc, options, min(cap0[0], cap0[2]) // 2))

    memory = MemorySystem(hardware.dram, hardware.clock_mhz, options.energy.dram_pj_per_byte)
    bytes_per_cycle = memory.peak_bandwidth_gbs * 1e3 / hardware.clock_mhz
    peak_macs_per_cycle = hardware.array_rows * hardware.array_cols
    balance = peak_macs_per_cycle / bytes_per_cycle
    b_class = {"weight": "weights", "activation": "activations", "kv_cache": "kv_cache"}
    computes = [compute_counts(layer, hardware, lt.images) for layer, lt in zip(layers, traffic)]
    timings = None if hardware.dram.is_ideal else _time_on_dram(topology, layers, traffic, computes, copies, precs,
                                                                 hardware, options, memory, progress)
    results: list[LayerResult] = []
    for i, (layer, lt, a) in enumerate(zip(layers, traffic, acc)):
        c = copies[i]
        prec = precs[i]
        a_b, b_b, o_b, p_b = _layer_bytes(layer, prec)
        cc = computes[i]
        macs = layer_macs(layer) * c * lt.images
        ifmap_reads = a.input_reads + a.op_reads
        ofmap_writes = a.output_writes + a.psum_reads + a.op_writes
        dram_words = ifmap_reads + a.weight_reads + ofmap_writes
        final_writes = a.output_writes - a.psum_writes
        split = {"weights": 0.0, "kv_cache": 0.0, "activations": 0.0, "psums": 0.0}
        split[b_class[layer.operand_b]] += a.weight_reads * b_b
        split["activations"] += (a.input_reads + final_writes) * a_b
        split["psums"] += (a.psum_writes + a.psum_reads) * p_b
        # ops charged to this layer: embedding rows are weights, KV appends the cache, the rest activations
        split["weights"] += a.op_weight_reads * base_prec.weights
        split["kv_cache"] += a.op_kv_writes * base_prec.kv_cache
        split["activations"] += ((a.op_reads - a.op_weight_reads) + (a.op_writes - a.op_kv_writes)) * base_prec.activations
        dram_bytes = sum(split.values())
        read_bytes = (a.input_reads * a_b + a.weight_reads * b_b + a.psum_reads * p_b
                      + a.op_weight_reads * base_prec.weights + (a.op_reads - a.op_weight_reads) * base_prec.activations)
        write_bytes = dram_bytes - read_bytes
        layer_bytes = a.input_reads * a_b + a.weight_reads * b_b + final_writes * o_b + (a.psum_writes + a.psum_reads) * p_b
        compute_cycles = cc.compute_cycles * c
        if timings is None:
            # the layer's reads and writes as two transfers: the ideal pipe's time depends on their sum only;
            # double buffering overlaps them with compute, all but the first tiles' load
            cost = transfer_cost(memory, Transfers.of([math.ceil(read_bytes), math.ceil(write_bytes)],
                                                      [False, True]))
            dram_cycles = cost.dram_cycles
            total = max(compute_cycles, dram_cycles)
            first_tile_bytes = math.ceil(lt.first_tile_words * max(a_b, b_b))
            prefetch = transfer_cost(memory, Transfers.of(first_tile_bytes)).dram_cycles
        else:  # the stall-aware schedule already waits for the first tiles; copies run one after another
            cost = timings[i].cost
            dram_cycles = cost.dram_cycles * c
            total = timings[i].total_cycles * c
            prefetch = 0
        comp_i, comp_w, comp_o = lt.compulsory_words
        if a.scores_on_chip == "out":    # fused attention: the scores are not the layer's DRAM traffic
            comp_o = 0
        elif a.scores_on_chip == "in":
            comp_i = 0
        # a convolution run once per image still needs its weights only once for the batch
        compulsory_b = (comp_i * a_b + comp_o * o_b) * c + comp_w * b_b
        onchip_words = sum(caps_of[i])
        cap_bound_b = capacity_bound_words(layer, onchip_words) * min(a_b, b_b, o_b) * c * lt.images
        bound_b = max(float(compulsory_b), cap_bound_b)
        # every DRAM byte passes through SRAM once; array-side accesses from the fold model
        sram_bytes = ((cc.sram_ifmap_reads * a_b + cc.sram_filter_reads * b_b
                       + (cc.sram_ofmap_writes + cc.sram_psum_reads) * p_b) * c + dram_bytes)
        mac_word_bytes = max(1, int(math.ceil(max(a_b, b_b))))
        e_dram = cost.energy_pj_total * 1e-6 * (1 if timings is None else c)
        e_sram = sram_energy_uj(sram_bytes, options.energy)
        e_mac = mac_energy_uj(macs, options.energy, mac_word_bytes)
        intensity = macs / dram_bytes if dram_bytes else math.inf
        cio = layer.cio

        def whole(x: float) -> float | int:
            return int(x) if float(x).is_integer() else x

        extra = {
            "compulsory_bytes": whole(compulsory_b),
            "capacity_bound_bytes": cap_bound_b,
            "bound_bytes": bound_b,
            # the layer's own traffic (without charged ops) against its bounds
            "layer_dram_bytes": whole(layer_bytes),
            "traffic_over_bound_ratio": layer_bytes / bound_b if bound_b else 0.0,
            "traffic_over_compulsory_ratio": layer_bytes / compulsory_b if compulsory_b else 0.0,
            "dram_bytes": whole(dram_bytes),
            "dram_ifmap_bytes": whole(dram_bytes - write_bytes - a.weight_reads * b_b - a.psum_reads * p_b),
            "dram_filter_bytes": whole(a.weight_reads * b_b),
            "dram_ofmap_bytes": whole(write_bytes + a.psum_reads * p_b),
            **{f"dram_{k}_bytes": whole(v) for k, v in split.items()},
            "kv_cache_write_bytes": whole(a.op_kv_writes * base_prec.kv_cache),
            "dram_psum_writes": a.psum_writes,
            "dram_psum_reads": a.psum_reads,
            "op_read_words": a.op_reads,
            "op_write_words": a.op_writes,
            "resident_saved_words": a.resident_saved,
            "compute_cycles": compute_cycles,
            "dram_cycles": dram_cycles,
            "latency_ms": total / (hardware.clock_mhz * 1e3),
            "energy_uj": e_dram + e_sram + e_mac,
            "energy_dram_uj": e_dram,
            "energy_sram_uj": e_sram,
            "energy_mac_uj": e_mac,
            "moc": macs / cio if cio else 0.0,
            "intensity_macs_per_byte": intensity if math.isfinite(intensity) else 0.0,
            "machine_balance_macs_per_byte": balance,
            "memory_bound": int(intensity < balance),
            "roofline_util_pct": 100.0 * min(1.0, intensity / balance),
            "loop_order": lt.loop_order,
            "tiling": " ".join(f"{k}{v}" for k, v in lt.tiles.items()),
            "levels": " ".join(f"{o}{v}" for o, v in zip("IWO", lt.levels)),
            "fused_ops": " ".join(a.fused_ops),
        }
        if timings is not None:
            extra.update(_dram_columns(timings[i], memory, hardware.clock_mhz, c))
        results.append(LayerResult(
            layer_id=i, name=topology.layers[i].name, source_layer=i, macs=macs,
            total_cycles_incl_prefetch=total + prefetch, total_cycles=total, stall_cycles=total - compute_cycles,
            overall_util_pct=100.0 * macs / (total * peak_macs_per_cycle) if total else 0.0,
            mapping_efficiency_pct=cc.mapping_efficiency_pct,
            compute_util_pct=100.0 * macs / (compute_cycles * peak_macs_per_cycle) if compute_cycles else 0.0,
            sram_ifmap_reads=cc.sram_ifmap_reads * c, sram_filter_reads=cc.sram_filter_reads * c,
            sram_ofmap_writes=cc.sram_ofmap_writes * c,
            dram_ifmap_reads=ifmap_reads, dram_filter_reads=a.weight_reads, dram_ofmap_writes=ofmap_writes,
            avg_ifmap_dram_bw=ifmap_reads / total if total else 0.0,
            avg_filter_dram_bw=a.weight_reads / total if total else 0.0,
            avg_ofmap_dram_bw=ofmap_writes / total if total else 0.0,
            extra=extra,
        ))
    caps = _capacities(hardware, base_prec.activations, base_prec.weights, base_prec.psums)
    mac_word_bytes = max(1, int(math.ceil(max(base_prec.activations, base_prec.weights))))
    meta = {"options": {"tiling": options.tiling, "concat": options.concat,
                        "layout": options.layout.label(), "dram_passes": options.dram_passes,
                        "fuse_pool_add": options.fuse_pool_add,
                        "inter_layer_residency": options.inter_layer_residency, "attention": options.attention,
                        "activations": options.activations,
                        "energy": {"dram_pj_per_byte": options.energy.dram_pj_per_byte,
                                   "sram_pj_per_byte": options.energy.sram_pj_per_byte,
                                   "mac_pj": options.energy.mac_energy_pj(mac_word_bytes)}},
            "precision": base_prec.to_dict(), "batch": batch,
            "sram_words": {"ifmap": caps[0], "filter": caps[1], "ofmap": caps[2]},
            "network_ops": stats,
            "dram": {**hardware.dram.to_dict(), "peak_bandwidth_gbs": memory.peak_bandwidth_gbs,
                     **({} if timings is None else {"device": memory.device.describe(),
                                                    "burst_bytes": memory.burst_bytes,
                                                    "row_bytes": memory.row_bytes})}}
    if batch > 1:  # how the convolutions ran over the batch (GEMMs stack or copy it: see _batched)
        meta["batch_tiling"] = batch_stats
    return RunResult(model=topology.name, engine="capacity", hardware=hardware, layers=tuple(results), meta=meta)


def layer_streams(topology: Topology, hardware: Hardware, options: CapacityOptions | None = None):
    """The DRAM request stream of every layer of ``topology`` on ``hardware`` (a DRAM standard), as the capacity
    engine times it: a list of ``(layer name, addr uint64, is_write bool, arrival int64)`` per layer, requests in
    issue order, ``arrival`` the memory cycle each may enter the controller in the no-stall schedule (first pass).
    For DRAM-model fixtures and benchmarks (e.g. the same stream through Ramulator, whose trace mode ignores
    arrivals)."""
    from .capacity_dram import layer_transfers, place_network
    from .capacity_schedule import gate_cycles

    options = options or CapacityOptions()
    if hardware.dram.is_ideal:
        raise InputError("the ideal pipe has no request stream: name a DRAM standard (e.g. ddr4-3200)")
    if topology.batch != 1:
        raise InputError(f"batch {topology.batch} is not modelled on a DRAM standard yet (batch 1 is)")
    from ..workload import effective_precision

    prec = effective_precision(topology)  # one whole number of bytes for every tensor, as simulate's DRAM path
    sizes = {prec.weights, prec.activations, prec.psums, prec.kv_cache}
    if len(sizes) != 1 or not float(prec.weights).is_integer() or any(layer.precision for layer in topology.layers):
        raise InputError(f"a DRAM standard needs one whole number of bytes per element for every tensor (got "
                         f"{prec.label}): mixed or sub-byte precision is not modelled on it yet")
    word_bytes = int(prec.weights)
    memory = MemorySystem(hardware.dram, hardware.clock_mhz, options.energy.dram_pj_per_byte)
    layers = [_as_scalesim_layer(layer) for layer in topology.layers]
    caps = _capacities(hardware, word_bytes, word_bytes, word_bytes)
    traffic = [layer_traffic(layer, caps, options.tiling) for layer in layers]
    placement = place_network(topology, layers, traffic, options.layout, word_bytes, memory.row_bytes,
                              options.concat == "zero-copy", op_owner(topology), options.activations == "fused")
    ratio = memory.memory_mhz / memory.clock_mhz
    out = []
    for i, layer in enumerate(layers):
        cycles = compute_counts(layer, hardware).compute_cycles
        sch, nbytes, is_write, gate, addr, offsets = layer_transfers(layer, traffic[i], placement.layers[i],
                                                                     placement.op_tensors[i], cycles, word_bytes,
                                                                     memory.burst_bytes)
        earliest = gate_cycles(gate, np.cumsum(sch.step_cycles))
        order = np.argsort(earliest, kind="stable")
        counts = np.diff(offsets)[order]
        idx = np.concatenate([np.arange(offsets[t], offsets[t + 1]) for t in order]) if len(order) else \
            np.zeros(0, np.int64)
        out.append((topology.layers[i].name, addr[idx], np.repeat(is_write[order], counts),
                    np.repeat(np.ceil(earliest[order] * ratio).astype(np.int64), counts)))
    return out
