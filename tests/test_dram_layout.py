"""Where the bytes live: layouts, placement, and the burst requests of tile transfers, checked against an
element-by-element computation of every wanted byte's address."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficsim.bounds import gemm_dims
from trafficsim.dram.layout import (BLOCKED, FLAT, KCRS, NCHW, NHWC, TILED, Allocator, LayerPlacement, LayoutSpec,
                                    TensorPlace, transfer_requests)
from trafficsim.engines.capacity import compute_counts, layer_traffic
from trafficsim.engines.capacity_schedule import INPUT, OUTPUT, WEIGHT, layer_schedule
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.topology import Layer


def conv(c=4, h=8, w=8, k=4, r=3, s=1, p=None, groups=1) -> Layer:
    p = (r // 2) if p is None else p
    oh = (h + 2 * p - r) // s + 1
    ow = (w + 2 * p - r) // s + 1
    return Layer("c", "conv" if groups == 1 else "dwconv", c, h, w, k, oh, ow, r, r, s, s, p, p, 1, 1, groups)


@pytest.mark.parametrize("text, acts, weights, block", [
    ("nchw", "nchw", "kcrs", 1), ("NHWC", "nhwc", "kcrs", 1), ("nchwc8,tiled", "nchwc8", "tiled", 8),
    (" nchwc16 , kcrs ", "nchwc16", "kcrs", 16)])
def test_layout_spec_parse(text, acts, weights, block):
    spec = LayoutSpec.parse(text)
    assert (spec.activations, spec.weights, spec.block) == (acts, weights, block)


@pytest.mark.parametrize("text, needle", [
    ("nchwc0", "block must be 2 to 256"), ("nchwc1000000000000000000000000000000", "block must be 2 to 256"),
    ("kcrs", "is a weight layout"), ("nchw,nhwc", "is a feature-map layout"), ("chwn", "unknown feature-map"),
    ("nchw,oihw", "unknown weight layout"), ("nchw,kcrs,x", "FEATURE_MAPS[,WEIGHTS]"), ("", "FEATURE_MAPS")])
def test_bad_layouts_are_one_line_input_errors(text, needle):
    with pytest.raises(InputError) as err:
        LayoutSpec.parse(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_allocator_aligns_and_pads_blocked_channels():
    alloc = Allocator(align_bytes=8192, word_bytes=2, base=0)
    a = alloc.feature_map((3, 10, 10), LayoutSpec("nchwc8"))
    b = alloc.feature_map((16, 4, 4), LayoutSpec("nhwc"))
    wb = alloc.weights(1000)
    assert (a.base, a.channels, a.nbytes, a.layout, a.block) == (0, 8, 8 * 100 * 2, BLOCKED, 8)
    assert b.base == 8192 and b.nbytes == 16 * 16 * 2 and b.layout == NHWC
    assert wb == 16384


# ---------------------------------------------------------------------------------------------
# the requests against an element-by-element reference
# ---------------------------------------------------------------------------------------------
def _elem_addr(place: TensorPlace, c: int, h: int, w: int, wb: int) -> int:
    if place.layout == NCHW:
        i = (c * place.height + h) * place.width + w
    elif place.layout == NHWC:
        i = (h * place.width + w) * place.channels + c
    elif place.layout == BLOCKED:
        b = place.block
        i = ((c // b * place.height + h) * place.width + w) * b + c % b
    else:
        i = c
    return place.base + i * wb


def _touched(o0, o1, in_n, k, s, pad, d, transposed):
    out = set()
    for o in range(o0, o1):
        for r in range(k):
            if transposed:
                num = o + pad - r * d
                if num >= 0 and num % s == 0:
                    out.add(num // s)
            else:
                out.add(o * s - pad + r * d)
    return sorted(i for i in out if 0 <= i < in_n)


def reference_bursts(sch, i, layer, pl: LayerPlacement, wb: int, burst: int) -> set[int]:
    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    addrs = set()
    groups = range(sch.g0[i], sch.g1[i])
    if sch.kind[i] == INPUT:
        rows = _touched(sch.oh0[i], sch.oh1[i], h, r, sh, ph, dh, layer.transposed)
        cols = _touched(sch.ow0[i], sch.ow1[i], w, s, sw, pw, dw, layer.transposed)
        for gi in groups:
            for c in range(sch.c0[i], sch.c1[i]):
                vc = gi * cp + c
                start, place = max((st, pc) for st, pc in pl.pieces if st <= vc)
                for y in rows:
                    for x in cols:
                        addrs.add(_elem_addr(place, vc - start, y, x, wb))
    elif sch.kind[i] == WEIGHT:
        tg, tk, tc = pl.weight_tiles
        for gi in groups:
            for k in range(sch.k0[i], sch.k1[i]):
                for c in range(sch.c0[i], sch.c1[i]):
                    for e in range(r * s):
                        if pl.weights_layout == KCRS:
                            idx = ((gi * kp + k) * cp + c) * r * s + e
                        else:  # blocks (g tile, k tile, c tile), (g, k, c, r, s) inside
                            gt, kt, ct = gi // tg, k // tk, c // tc
                            gs, ks, cs = min(tg, g - gt * tg), min(tk, kp - kt * tk), min(tc, cp - ct * tc)
                            before = (gt * tg * kp * cp + gs * (kt * tk * cp + ks * ct * tc)) * r * s
                            idx = before + (((gi - gt * tg) * ks + (k - kt * tk)) * cs + (c - ct * tc)) * r * s + e
                        addrs.add(pl.weights_base + idx * wb)
    else:
        for gi in groups:
            for k in range(sch.k0[i], sch.k1[i]):
                for y in range(sch.oh0[i], sch.oh1[i]):
                    for x in range(sch.ow0[i], sch.ow1[i]):
                        addrs.add(_elem_addr(pl.output, gi * kp + k, y, x, wb))
    # every byte of every wanted element
    return {(a + j) // burst * burst for a in addrs for j in range(wb)}


@st.composite
def cases(draw):
    c = draw(st.integers(1, 24))
    dw = draw(st.booleans())
    k = c if dw else draw(st.integers(1, 24))
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    r = draw(st.sampled_from([1, 3]))
    s = draw(st.sampled_from([1, 2]))
    if draw(st.booleans()) and not dw:  # a transposed conv
        layer = Layer("up", "conv", c, h, w, k, (h - 1) * s + r - 2 * (r // 2), (w - 1) * s + r - 2 * (r // 2),
                      r, r, s, s, r // 2, r // 2, transposed=True)
    else:
        layer = conv(c=c, h=h, w=w, k=k, r=r, s=s, groups=c if dw else 1)
    acts = draw(st.sampled_from(["nchw", "nhwc", "nchwc4", "nchwc8"]))
    out_acts = draw(st.sampled_from(["nchw", "nhwc", "nchwc8"]))
    weights = draw(st.sampled_from(["kcrs", "tiled"]))
    wb = draw(st.sampled_from([1, 2]))
    burst = draw(st.sampled_from([16, 32, 64]))
    kb = draw(st.sampled_from([1, 2, 8]))
    mode = draw(st.sampled_from(["uniform", "per-operand"]))
    split = draw(st.integers(0, c))  # the input as two pieces (a zero-copy concat) when 0 < split < c
    return layer, acts, out_acts, weights, wb, burst, kb, mode, split


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_requests_are_exactly_the_bursts_of_the_wanted_bytes(case):
    layer, acts, out_acts, weights, wb, burst, kb, mode, split = case
    try:
        lt = layer_traffic(layer, (kb * 1024 // wb,) * 3, mode)
    except InputError:
        return
    sch = layer_schedule(layer, lt, compute_counts(layer, Hardware()).compute_cycles)
    alloc = Allocator(align_bytes=256, word_bytes=wb, base=4096)
    g, kp, cp, p, q, h, w, *_ = gemm_dims(layer)
    spec_in, spec_out = LayoutSpec(acts), LayoutSpec(out_acts)
    if 0 < split < layer.in_c:
        pieces = ((0, alloc.feature_map((split, h, w), spec_in)),
                  (split, alloc.feature_map((layer.in_c - split, h, w), spec_in)))
    else:
        pieces = ((0, alloc.feature_map((layer.in_c, h, w), spec_in)),)
    out = alloc.feature_map((g * kp, p, q), spec_out)
    wbase = alloc.weights(g * kp * cp * layer.kernel_h * layer.kernel_w)
    pl = LayerPlacement(pieces, out, wbase, TILED if weights == "tiled" else KCRS, (lt.tiles["g"], lt.tiles["k"],
                                                                                   lt.tiles["c"]))
    addr, offsets = transfer_requests(sch, layer, pl, wb, burst)
    assert addr.dtype == np.uint64 and offsets[0] == 0 and offsets[-1] == addr.size
    assert np.all(addr % burst == 0)
    for i in range(len(sch)):
        mine = addr[offsets[i]:offsets[i + 1]].astype(np.int64)
        assert len(set(mine.tolist())) == mine.size  # each burst once per transfer
        assert set(mine.tolist()) == reference_bursts(sch, i, layer, pl, wb, burst)


def test_a_one_byte_want_costs_a_burst_and_strided_tiles_touch_every_row():
    # 1x1 stride-2 conv: every other column of every other row; with NCHW and 64-byte bursts each wanted row
    # of 64 one-byte columns is one burst although half of it is wanted
    layer = conv(c=1, h=64, w=64, k=1, r=1, s=2, p=0)
    lt = layer_traffic(layer, (65536,) * 3, "per-operand")
    sch = layer_schedule(layer, lt, 100)
    alloc = Allocator(align_bytes=64, word_bytes=1)
    pl = LayerPlacement(((0, alloc.feature_map((1, 64, 64), LayoutSpec())),), alloc.feature_map((1, 32, 32),
                        LayoutSpec()), alloc.weights(1))
    addr, offsets = transfer_requests(sch, layer, pl, 1, 64)
    inputs = [i for i in range(len(sch)) if sch.kind[i] == INPUT]
    assert sum(int(sch.words[i]) for i in inputs) == 32 * 32
    assert sum(int(offsets[i + 1] - offsets[i]) for i in inputs) == 32  # 32 rows, one burst each
    weights = [i for i in range(len(sch)) if sch.kind[i] == WEIGHT]
    assert [int(offsets[i + 1] - offsets[i]) for i in weights] == [1]  # 1 byte wanted, one burst moved
    outputs = [i for i in range(len(sch)) if sch.kind[i] == OUTPUT]
    assert sum(int(offsets[i + 1] - offsets[i]) for i in outputs) == 32 * 32 // 64


def test_flat_piece_reads_a_contiguous_range():
    fc = Layer("fc", "linear", 512, 1, 1, 10, 1, 1)
    lt = layer_traffic(fc, (65536,) * 3, "per-operand")
    sch = layer_schedule(fc, lt, 10)
    flat = TensorPlace(base=1 << 20, channels=32, height=4, width=4, layout=FLAT, block=1, nbytes=512)
    pl = LayerPlacement(((0, flat),), TensorPlace(0, 10, 1, 1, NCHW, 1, 10), 4096)
    addr, offsets = transfer_requests(sch, fc, pl, 1, 64)
    first = [i for i in range(len(sch)) if sch.kind[i] == INPUT][0]
    assert addr[offsets[first]:offsets[first + 1]].tolist() == [(1 << 20) + 64 * j for j in range(8)]
