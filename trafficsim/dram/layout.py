"""Where the bytes live: tensor layouts in DRAM, base addresses, and the burst requests a tile transfer makes.

* **Layouts** (:class:`LayoutSpec`): feature maps as ``nchw`` (PyTorch's default), ``nhwc`` (channels last)
  or ``nchwc<B>`` (channel blocks of B, as oneDNN's ``nChw8c``; C is padded up to a multiple of B, as oneDNN
  pads it: the padding occupies DRAM and travels in the bursts); weights as ``kcrs`` (PyTorch's
  ``(out, in/groups, kh, kw)``) or ``tiled`` (in the order the array consumes them: each weight tile of the
  layer's tiling stored contiguously, tile after tile).
* **Placement** (:func:`place_tensors`): a bump allocator over the network's tensors in execution order
  (feature maps as their producers write them, each layer's weights before its first use), every base
  aligned to ``align_bytes`` (a DRAM row). Tensors are never freed: DRAM is large next to a network.
* **Requests** (:func:`transfer_requests`): a tile transfer (a box of a tensor) becomes the burst-aligned
  addresses it touches. Every access moves a whole burst: a 1-byte want costs a burst; a strided tile
  touches many rows. A transfer requests each burst it touches once; two transfers touching the same
  burst each request it. Compiled (numba): it runs on every ``--dram`` run's hot path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..lazyjit import lazy_njit  # compiled on first use: a capacity run off the DRAM model never imports numba

# activation layout codes for the compiled generator
NCHW, NHWC, BLOCKED, FLAT = 0, 1, 2, 3
# weight layout codes
KCRS, TILED = 0, 1

ACTIVATION_LAYOUTS = ("nchw", "nhwc", "nchwc8", "nchwc16")  # nchwc<B> takes any B from 2 to 256
WEIGHT_LAYOUTS = ("kcrs", "tiled")
_BLOCKED = re.compile(r"^nchwc(\d+)$")


@dataclass(frozen=True)
class LayoutSpec:
    """How tensors are laid out in DRAM: ``activations`` (nchw, nhwc, nchwc<B>) and ``weights`` (kcrs, tiled)."""

    activations: str = "nchw"
    weights: str = "kcrs"

    def __post_init__(self) -> None:
        _activation_code(self.activations)
        if self.weights not in WEIGHT_LAYOUTS:
            if self.weights in ("nchw", "nhwc") or _BLOCKED.match(str(self.weights)):
                raise InputError(f"layout {self.weights!r} is a feature-map layout; weight layouts: "
                                 f"{', '.join(WEIGHT_LAYOUTS)}")
            raise InputError(f"unknown weight layout {self.weights!r}: choose {' or '.join(WEIGHT_LAYOUTS)}")

    @classmethod
    def parse(cls, text: str) -> "LayoutSpec":
        """``"nhwc"`` or ``"nchwc8,tiled"`` (feature maps[, weights]), case-insensitive."""
        parts = [p.strip().lower() for p in str(text).split(",")]
        if len(parts) > 2 or not all(parts):
            raise InputError(f"layout {text!r}: use FEATURE_MAPS[,WEIGHTS], e.g. nhwc or nchwc8,tiled")
        return cls(*parts)

    @property
    def block(self) -> int:
        """Channel block of a blocked layout (1 otherwise)."""
        return _activation_code(self.activations)[1]

    def label(self) -> str:
        return self.activations if self.weights == "kcrs" else f"{self.activations},{self.weights}"


def _activation_code(name: str) -> tuple[int, int]:
    if name == "nchw":
        return NCHW, 1
    if name == "nhwc":
        return NHWC, 1
    m = _BLOCKED.match(str(name))
    if m:
        b = int(m.group(1))
        if not 2 <= b <= 256:
            raise InputError(f"layout {name!r}: the channel block must be 2 to 256, got {b}")
        return BLOCKED, b
    if name in WEIGHT_LAYOUTS:
        raise InputError(f"layout {name!r} is a weight layout; feature-map layouts: nchw, nhwc, nchwc<B> (e.g. nchwc8)")
    raise InputError(f"unknown feature-map layout {name!r}: choose nchw, nhwc or nchwc<B> (e.g. nchwc8)")


# ---------------------------------------------------------------------------------------------
# placement
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorPlace:
    """One tensor in DRAM: base byte address, stored shape (C padded to the block), layout code and block."""

    base: int
    channels: int       # stored channels (padded up to the block for a blocked layout)
    height: int
    width: int
    layout: int
    block: int
    nbytes: int


class Allocator:
    """Bump allocation of tensors, each base aligned to ``align_bytes``."""

    def __init__(self, align_bytes: int, word_bytes: int, base: int = 0) -> None:
        if align_bytes <= 0 or word_bytes <= 0:
            raise ValueError("align_bytes and word_bytes must be positive")
        self.align = int(align_bytes)
        self.word_bytes = int(word_bytes)
        self.next = int(base)

    def _take(self, nbytes: int) -> int:
        base = -(-self.next // self.align) * self.align
        self.next = base + nbytes
        return base

    def feature_map(self, shape: tuple[int, int, int], spec: LayoutSpec) -> TensorPlace:
        """Room for a (C, H, W) feature map in the spec's feature-map layout."""
        code, block = _activation_code(spec.activations)
        c, h, w = shape
        stored = -(-c // block) * block
        nbytes = stored * h * w * self.word_bytes
        return TensorPlace(self._take(nbytes), stored, h, w, code, block, nbytes)

    def weights(self, words: int) -> int:
        """Base address of a layer's weights (``words`` elements, any weight layout)."""
        return self._take(words * self.word_bytes)


# ---------------------------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------------------------
@lazy_njit(cache=True)
def _grow(buf: np.ndarray, need: int) -> np.ndarray:
    if need <= buf.size:
        return buf
    size = buf.size * 2
    while size < need:
        size *= 2
    out = np.empty(size, dtype=buf.dtype)
    out[:buf.size] = buf
    return out


@lazy_njit(cache=True)
def _emit(buf: np.ndarray, n: int, last: int, start: int, length: int, burst: int) -> tuple[np.ndarray, int, int]:
    """Append the bursts of the byte run [start, start + length) to ``buf[:n]``, skipping a first burst
    equal to ``last`` (the run before it in the same transfer ended in it)."""
    first = start // burst
    end = (start + length - 1) // burst
    if first == last:
        first += 1
    if first > end:
        return buf, n, last
    buf = _grow(buf, n + end - first + 1)
    for b in range(first, end + 1):
        buf[n] = b * burst
        n += 1
    return buf, n, end


@lazy_njit(cache=True)
def _touched(mark: np.ndarray, stamp: int, o0: int, o1: int, in_n: int, kernel: int, stride: int, pad: int,
             dilation: int, transposed: bool) -> None:
    """Mark (with ``stamp``) the input rows that output rows [o0, o1) read (padding is never read)."""
    for o in range(o0, o1):
        for r in range(kernel):
            if transposed:
                num = o + pad - r * dilation
                if num < 0 or num % stride != 0:
                    continue
                i = num // stride
            else:
                i = o * stride - pad + r * dilation
            if 0 <= i < in_n:
                mark[i] = stamp


@lazy_njit(cache=True)
def _runs(mask: np.ndarray, n: int, start: np.ndarray, length: np.ndarray) -> int:
    """Runs of True in ``mask[:n]`` into ``start``/``length``; returns how many."""
    m = 0
    i = 0
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        start[m] = i
        length[m] = j - i
        m += 1
        i = j
    return m


@lazy_njit(cache=True)
def _fmap_box(buf, n, last, base, stored_c, hh, ww, layout, block, wb, burst, ch_lo, ch_hi, n_ch,
              row_start, row_len, n_row_runs, col_start, col_len, n_col_runs):
    """Bursts of the channel ranges ``[ch_lo[i], ch_hi[i])`` (ascending, disjoint) x the row runs x the column
    runs of one feature map, in ascending address order so that a burst two runs share is requested once."""
    if layout == FLAT:  # read as a flat vector in storage order: channels index elements
        for i in range(n_ch):
            buf, n, last = _emit(buf, n, last, base + ch_lo[i] * wb, (ch_hi[i] - ch_lo[i]) * wb, burst)
        return buf, n, last
    if layout == NHWC:
        for a in range(n_row_runs):
            for h in range(row_start[a], row_start[a] + row_len[a]):
                for b in range(n_col_runs):
                    for w in range(col_start[b], col_start[b] + col_len[b]):
                        for i in range(n_ch):
                            buf, n, last = _emit(buf, n, last, base + ((h * ww + w) * stored_c + ch_lo[i]) * wb,
                                                 (ch_hi[i] - ch_lo[i]) * wb, burst)
        return buf, n, last
    unit = 1 if layout == NCHW else block
    prev = -1
    for i in range(n_ch):
        # NCHW: each channel plane; blocked: each channel block once (a partial block shares its bursts while
        # a block fits a burst)
        lo = ch_lo[i] if layout == NCHW else ch_lo[i] // block
        hi = ch_hi[i] if layout == NCHW else (ch_hi[i] - 1) // block + 1
        if lo <= prev:
            lo = prev + 1
        for c in range(lo, hi):
            for a in range(n_row_runs):
                for h in range(row_start[a], row_start[a] + row_len[a]):
                    for b in range(n_col_runs):
                        buf, n, last = _emit(buf, n, last, base + ((c * hh + h) * ww + col_start[b]) * unit * wb,
                                             col_len[b] * unit * wb, burst)
        if hi - 1 > prev:
            prev = hi - 1
    return buf, n, last


@lazy_njit(cache=True)
def _group_ranges(g0: int, g1: int, per_group: int, a: int, b: int, lo: np.ndarray, hi: np.ndarray) -> int:
    """Channel ranges [gi*per_group + a, gi*per_group + b) for groups g0..g1-1, contiguous ones merged."""
    m = 0
    for gi in range(g0, g1):
        x, y = gi * per_group + a, gi * per_group + b
        if m > 0 and hi[m - 1] == x:
            hi[m - 1] = y
        else:
            lo[m] = x
            hi[m] = y
            m += 1
    return m


@lazy_njit(cache=True)
def _transfer_requests(kind, g0, g1, k0, k1, c0, c1, oh0, oh1, ow0, ow1,
                       piece_start, piece_base, piece_c, piece_h, piece_w, piece_layout, piece_block,
                       out_base, out_c, out_layout, out_block,
                       w_base, w_layout, w_tg, w_tk, w_tc,
                       g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw, transposed, wb, burst):
    n_t = kind.size
    buf = np.empty(1024, dtype=np.int64)
    offsets = np.zeros(n_t + 1, dtype=np.int64)
    n = 0
    row_mark = np.zeros(max(h, p), dtype=np.int64)
    col_mark = np.zeros(max(w, q), dtype=np.int64)
    rows = np.zeros(max(h, p), dtype=np.bool_)
    cols = np.zeros(max(w, q), dtype=np.bool_)
    v_lo = np.empty(g, dtype=np.int64)
    v_hi = np.empty(g, dtype=np.int64)
    l_lo = np.empty(g, dtype=np.int64)
    l_hi = np.empty(g, dtype=np.int64)
    row_start = np.empty(max(h, p), dtype=np.int64)
    row_len = np.empty(max(h, p), dtype=np.int64)
    col_start = np.empty(max(w, q), dtype=np.int64)
    col_len = np.empty(max(w, q), dtype=np.int64)
    stamp = 0
    rs = r * s
    n_pieces = piece_start.size
    for t in range(n_t):
        last = -1
        kd = kind[t]
        if kd == 0:  # input tile: the real input rows/cols its output pixels touch, of each piece it spans
            stamp += 1
            _touched(row_mark, stamp, oh0[t], oh1[t], h, r, sh, ph, dh, transposed)
            _touched(col_mark, stamp, ow0[t], ow1[t], w, s, sw, pw, dw, transposed)
            for i in range(h):
                rows[i] = row_mark[i] == stamp
            for i in range(w):
                cols[i] = col_mark[i] == stamp
            n_rr = _runs(rows, h, row_start, row_len)
            n_cr = _runs(cols, w, col_start, col_len)
            n_v = _group_ranges(g0[t], g1[t], cp, c0[t], c1[t], v_lo, v_hi)
            for j in range(n_pieces):
                lo = piece_start[j]
                hi = piece_start[j + 1] if j + 1 < n_pieces else 1 << 62
                m = 0
                for i in range(n_v):
                    a = max(v_lo[i], lo)
                    b = min(v_hi[i], hi)
                    if a < b:
                        l_lo[m] = a - lo
                        l_hi[m] = b - lo
                        m += 1
                if m > 0:
                    buf, n, last = _fmap_box(buf, n, last, piece_base[j], piece_c[j], piece_h[j], piece_w[j],
                                             piece_layout[j], piece_block[j], wb, burst, l_lo, l_hi, m,
                                             row_start, row_len, n_rr, col_start, col_len, n_cr)
        elif kd == 1:  # weight tile
            for gi in range(g0[t], g1[t]):
                if w_layout == KCRS:
                    for k in range(k0[t], k1[t]):
                        start = w_base + ((gi * kp + k) * cp + c0[t]) * rs * wb
                        buf, n, last = _emit(buf, n, last, start, (c1[t] - c0[t]) * rs * wb, burst)
                else:  # tiled: blocks (group tile, k tile, c tile) in that order, each (g, k, c, r, s) inside
                    g_lo = (gi // w_tg) * w_tg
                    gs = min(w_tg, g - g_lo)
                    for kt in range(k0[t] // w_tk, (k1[t] - 1) // w_tk + 1):
                        ks = min(w_tk, kp - kt * w_tk)
                        for ct in range(c0[t] // w_tc, (c1[t] - 1) // w_tc + 1):
                            cs = min(w_tc, cp - ct * w_tc)
                            block = rs * (g_lo * kp * cp + gs * (kt * w_tk * cp + ks * ct * w_tc))
                            inner = (gi - g_lo) * ks * cs * rs
                            buf, n, last = _emit(buf, n, last, w_base + (block + inner) * wb, ks * cs * rs * wb,
                                                 burst)
        else:  # output tile (a write, a partial-sum spill or its read-back): channels of the output map
            row_start[0] = oh0[t]
            row_len[0] = oh1[t] - oh0[t]
            col_start[0] = ow0[t]
            col_len[0] = ow1[t] - ow0[t]
            n_v = _group_ranges(g0[t], g1[t], kp, k0[t], k1[t], v_lo, v_hi)
            buf, n, last = _fmap_box(buf, n, last, out_base, out_c, p, q, out_layout, out_block, wb, burst,
                                     v_lo, v_hi, n_v, row_start, row_len, 1, col_start, col_len, 1)
        offsets[t + 1] = n
    return buf[:n].copy(), offsets



@dataclass(frozen=True)
class LayerPlacement:
    """Where one layer's operands live: its input as pieces in channel order (``(first channel, place)``: a
    zero-copy concatenation is read from where each piece was written; a piece read as a flat vector has
    layout ``FLAT``), its output map, and its weights (base, layout code, and the ``(tg, tk, tc)`` tile of a
    ``tiled`` weight layout)."""

    pieces: tuple[tuple[int, TensorPlace], ...]
    output: TensorPlace
    weights_base: int
    weights_layout: int = KCRS
    weight_tiles: tuple[int, int, int] = (1, 1, 1)


def transfer_requests(schedule, layer, placement: LayerPlacement, word_bytes: int,
                      burst_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """The burst requests of every transfer of ``schedule`` (a
    :class:`~trafficsim.engines.capacity_schedule.Schedule` of ``layer``): burst-aligned byte addresses
    (uint64) and CSR offsets (transfer ``i`` owns ``addr[offsets[i]:offsets[i + 1]]``)."""
    from ..bounds import gemm_dims

    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    starts = np.array([c for c, _ in placement.pieces], dtype=np.int64)
    places = [pl for _, pl in placement.pieces]
    arr = lambda attr: np.array([getattr(pl, attr) for pl in places], dtype=np.int64)  # noqa: E731
    out = placement.output
    tg, tk, tc = placement.weight_tiles
    sch = schedule
    addr, offsets = _transfer_requests(
        sch.kind, sch.g0, sch.g1, sch.k0, sch.k1, sch.c0, sch.c1, sch.oh0, sch.oh1, sch.ow0, sch.ow1,
        starts, arr("base"), arr("channels"), arr("height"), arr("width"), arr("layout"), arr("block"),
        out.base, out.channels, out.layout, out.block,
        placement.weights_base, placement.weights_layout, tg, tk, tc,
        g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw, layer.transposed, word_bytes, burst_bytes)
    return addr.astype(np.uint64), offsets
