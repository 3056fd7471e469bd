"""The capacity-aware engine: exact small cases, an independent brute-force search, bounds,
property tests (traffic >= compulsory, never rises when an SRAM grows), network-level rules."""
from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficsim.bounds import (capacity_bound_words, compulsory_words, gemm_dims, touched_1d,
                               touched_input_elems)
from trafficsim.dram import DramConfig
from trafficsim.energy import EnergyTable
from trafficsim.engines import simulate as engine_simulate
from trafficsim.engines.capacity import CapacityOptions, compute_counts, layer_traffic, simulate
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.results import TOTAL_KEYS
from trafficsim.topology import Layer, Op, TensorInfo, Topology
from trafficsim.workload import Precision, with_workload


def conv(name="c", c=4, h=8, w=8, k=4, r=3, s=1, p=None, groups=1, dilation=1, **kw) -> Layer:
    p = (r // 2) if p is None else p
    eff = dilation * (r - 1) + 1
    oh = (h + 2 * p - eff) // s + 1
    ow = (w + 2 * p - eff) // s + 1
    return Layer(name, "conv" if groups == 1 else "dwconv", c, h, w, k, oh, ow, r, r, s, s, p, p,
                 dilation, dilation, groups, **kw)


def traffic_words(lt) -> int:
    return lt.input_reads + lt.weight_reads + lt.output_writes + lt.psum_reads


# ---------------------------------------------------------------------------------------------
# exact hand-computed cases
# ---------------------------------------------------------------------------------------------
def test_everything_fits_gives_compulsory_traffic():
    layer = conv(c=2, h=6, w=6, k=3, r=3)  # pad 1: 6x6 out
    lt = layer_traffic(layer, (65536, 65536, 65536))
    assert (lt.input_reads, lt.weight_reads, lt.output_writes, lt.psum_reads) == (72, 54, 108, 0)
    assert compulsory_words(layer) == (72, 54, 108)


def test_strided_1x1_reads_only_touched_inputs():
    layer = conv(c=4, h=8, w=8, k=2, r=1, s=2, p=0)  # 4x4 out: every other row and column
    assert touched_input_elems(layer) == 4 * 4 * 4
    lt = layer_traffic(layer, (65536,) * 3)
    assert (lt.input_reads, lt.weight_reads, lt.output_writes) == (64, 8, 32)


def test_small_buffers_hand_computed_optimum():
    # 1x1 conv 64->64 on 4x4; ifmap/filter/ofmap half-buffers of 512 words each.
    # Best (worked out by hand): tk=32, tc=16 (or 8), all 16 pixels, K outer, C inner: the input is
    # read twice (2*1024), weights once (4096), outputs once (1024) = 7168 words.
    layer = conv(c=64, h=4, w=4, k=64, r=1, p=0)
    lt = layer_traffic(layer, (1024, 1024, 1024))
    assert traffic_words(lt) == 7168
    assert (lt.input_reads, lt.weight_reads, lt.output_writes) == (2048, 4096, 1024)
    assert lt.loop_order.index("K") < lt.loop_order.index("C")
    # a big ifmap buffer keeps the whole input on chip across the K tiles: compulsory again
    assert traffic_words(layer_traffic(layer, (65536, 1024, 1024))) == 6144


def test_partial_sums_spill_when_that_is_cheapest():
    # Linear 512 -> 64 (1x1 pixel): W = 32768 words. Filter half-buffer 512 words: tk*tc <= 512.
    # Output half 512 words holds all 64 outputs, so C innermost accumulates on chip: no spill,
    # weights read once, input read once (one pixel, no K refetch needed as input fits).
    layer = Layer("fc", "linear", 512, 1, 1, 64, 1, 1)
    lt = layer_traffic(layer, (65536, 1024, 1024))
    assert (lt.input_reads, lt.weight_reads, lt.output_writes, lt.psum_reads) == (512, 32768, 64, 0)


def test_sram_too_small_is_a_user_error():
    layer = conv(c=1, h=64, w=64, k=1, r=33, p=16)  # 33x33 filter = 1089 words > 512
    with pytest.raises(InputError, match="SRAM too small"):
        layer_traffic(layer, (1024, 1024, 1024))


def test_transposed_conv_touches_each_input_once_and_macs_are_real():
    # ConvTranspose2d(4, 2, kernel 4, stride 2, pad 1): 5x5 -> 10x10
    layer = Layer("up", "conv", 4, 5, 5, 2, 10, 10, 4, 4, 2, 2, 1, 1, transposed=True)
    assert touched_input_elems(layer) == 4 * 5 * 5
    lt = layer_traffic(layer, (65536,) * 3)
    assert (lt.input_reads, lt.weight_reads, lt.output_writes) == (100, 128, 200)
    res = simulate(Topology("t", (layer,)), Hardware())
    assert res.layers[0].macs == 5 * 5 * 4 * 2 * 16


def test_depthwise_reads_each_channel_once():
    layer = conv(c=32, h=8, w=8, k=32, r=3, groups=32)
    assert gemm_dims(layer)[:3] == (32, 1, 1)
    lt = layer_traffic(layer, (65536,) * 3)
    assert (lt.input_reads, lt.weight_reads, lt.output_writes) == (2048, 288, 2048)


def test_touched_1d_counts_halo_per_tile():
    # 8 output rows, 3-row kernel, pad 1, tiles of 4: rows 0..4 and 3..7 -> 5 + 5
    assert tuple(touched_1d(8, 4, 8, 3, 1, 1, 1, False)) == (10, 5)
    assert tuple(touched_1d(8, 8, 8, 3, 1, 1, 1, False)) == (8, 8)
    # stride 2, 1-row kernel: 4 output rows touch 4 of 8 input rows
    assert tuple(touched_1d(4, 4, 8, 1, 2, 0, 1, False)) == (4, 4)


def test_capacity_bound_formula():
    layer = conv(c=64, h=56, w=56, k=64, r=3)
    m = 3 * 65536
    assert capacity_bound_words(layer, m) == pytest.approx(2 * layer.macs / math.sqrt(9 * m))
    strided = conv(c=64, h=56, w=56, k=64, r=3, s=2)
    assert capacity_bound_words(strided, m) == pytest.approx(2 * strided.macs / math.sqrt(9 / 4 * m))


# ---------------------------------------------------------------------------------------------
# an independent brute force over *all* tile sizes with the same cost rules
# ---------------------------------------------------------------------------------------------
def _rows(out_n, lo, hi, in_n, k, s, pad, d):
    return {o * s - pad + r * d for o in range(lo, hi) for r in range(k)} & set(range(in_n))


def brute_force_words(layer: Layer, caps: tuple[int, int, int]) -> int:
    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    icap, wcap, ocap = (c // 2 for c in caps)

    def tiles_1d(out_n, t, in_n, k, st, pad, d):
        sizes = [len(_rows(out_n, lo, min(out_n, lo + t), in_n, k, st, pad, d)) for lo in range(0, out_n, t)]
        return sum(sizes), max(sizes), len(sizes)

    rows = {t: tiles_1d(p, t, h, r, sh, ph, dh) for t in range(1, p + 1)}
    cols = {t: tiles_1d(q, t, w, s, sw, pw, dw) for t in range(1, q + 1)}
    ww, ow = g * kp * cp * r * s, g * kp * p * q
    best = None
    for tg, tk, tc, th, tw in itertools.product(range(1, g + 1), range(1, kp + 1), range(1, cp + 1),
                                                range(1, p + 1), range(1, q + 1)):
        rs_, rm, nh = rows[th]
        cs_, cm, nw = cols[tw]
        if tg * tc * rm * cm > icap or tg * tk * tc * r * s > wcap or tg * tk * th * tw > ocap:
            continue
        trips = {"K": -(-kp // tk), "C": -(-cp // tc), "S": nh * nw}
        iw = g * cp * rs_ * cs_
        for order in itertools.permutations("KCS"):
            def outside(a, b):  # loop a (trips > 1) sits outside loop b (trips > 1)
                return trips[a] > 1 and trips[b] > 1 and order.index(a) < order.index(b)
            wmul = trips["S"] if (outside("S", "K") or outside("S", "C")) else 1
            imul = trips["K"] if (outside("K", "C") or outside("K", "S")) else 1
            spill = outside("C", "K") or outside("C", "S")
            total = ww * wmul + iw * imul + (ow * trips["C"] + ow * (trips["C"] - 1) if spill else ow)
            best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize("layer,caps", [
    (conv(c=8, h=6, w=6, k=8, r=3), (1024, 1024, 1024)),
    (conv(c=6, h=5, w=7, k=5, r=3, s=2), (1024, 1024, 1024)),
    (conv(c=64, h=4, w=4, k=64, r=1, p=0), (1024, 1024, 1024)),
])
def test_search_matches_brute_force_on_small_layers(layer, caps):
    assert traffic_words(layer_traffic(layer, caps)) == brute_force_words(layer, caps)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------
@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "conv", "dw", "linear", "transposed"]))
    if kind == "linear":
        return Layer("fc", "linear", draw(st.integers(1, 2048)), 1, 1, draw(st.integers(1, 1024)), 1, 1)
    c = draw(st.integers(1, 256))
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    r = draw(st.sampled_from([1, 3, 5, 7]))
    s = draw(st.sampled_from([1, 1, 2, 3]))
    if kind == "transposed":
        k = draw(st.integers(1, 128))
        p = draw(st.integers(0, (r - 1) // 2))
        oh, ow = (h - 1) * s - 2 * p + r, (w - 1) * s - 2 * p + r
        return Layer("up", "conv", c, h, w, k, oh, ow, r, r, s, s, p, p, transposed=True)
    d = draw(st.sampled_from([1, 1, 2]))
    eff = d * (r - 1) + 1
    p = draw(st.integers(0, eff // 2))
    if eff > h + 2 * p or eff > w + 2 * p:
        r, d, p = 1, 1, 0
    if kind == "dw":
        return conv(c=c, h=h, w=w, k=c * draw(st.sampled_from([1, 1, 2])), r=r, s=s, p=p, groups=c, dilation=d)
    return conv(c=c, h=h, w=w, k=draw(st.integers(1, 256)), r=r, s=s, p=p, dilation=d)


sram_kb = st.integers(1, 256)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), ki=sram_kb, kf=sram_kb, ko=sram_kb, which=st.integers(0, 2), grow=st.integers(1, 512),
       word_bytes=st.sampled_from([1, 2]))
def test_traffic_at_least_compulsory_and_monotone_in_every_sram(layer, ki, kf, ko, which, grow, word_bytes):
    caps = [ki * 1024 // word_bytes, kf * 1024 // word_bytes, ko * 1024 // word_bytes]
    try:
        small = layer_traffic(layer, tuple(caps))
    except InputError:
        return  # nothing fits (huge filter in a 1 kB buffer); a larger SRAM may fit, that is fine
    ci, cw, co = compulsory_words(layer)
    assert small.input_reads >= ci and small.weight_reads >= cw and small.output_writes >= co
    assert traffic_words(small) >= ci + cw + co
    assert small.psum_reads == small.psum_writes  # every spilled partial sum is read back once
    caps[which] += grow * 1024 // word_bytes
    big = layer_traffic(layer, tuple(caps))
    assert traffic_words(big) <= traffic_words(small)


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 6), k=st.integers(1, 6), h=st.integers(1, 6), w=st.integers(1, 6),
       r=st.sampled_from([1, 3]), s=st.sampled_from([1, 2]), kb=st.integers(1, 2))
def test_search_never_beats_the_brute_force_optimum(c, k, h, w, r, s, kb):
    layer = conv(c=c, h=h, w=w, k=k, r=r, s=s, p=r // 2 if h >= 1 else 0)
    caps = (kb * 1024 // 8,) * 3  # 8-byte words: tiny buffers (64..128 words of half-buffer)
    try:
        found = traffic_words(layer_traffic(layer, caps))
    except InputError:
        return
    assert found >= brute_force_words(layer, caps)


# ---------------------------------------------------------------------------------------------
# the engine: fields, time, energy, word size
# ---------------------------------------------------------------------------------------------
def test_engine_records_totals_time_and_energy():
    topo = Topology("two", (conv("a", c=16, h=16, w=16, k=32), conv("b", c=32, h=16, w=16, k=16)))
    hw = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=4, filter_sram_kb=4, ofmap_sram_kb=4,
                  dram=DramConfig(bandwidth_gbs=1.0), clock_mhz=500.0)
    res = engine_simulate(topo, hw, engine="capacity")
    assert res.engine == "capacity" and len(res.layers) == 2
    totals = res.totals()
    for key in TOTAL_KEYS + ("dram_bytes", "latency_ms", "energy_uj", "compulsory_bytes", "bound_bytes"):
        assert key in totals
    for lr, layer in zip(res.layers, topo.layers):
        e = lr.extra
        assert lr.macs == layer.macs
        assert lr.dram_words * 1 >= e["compulsory_bytes"]
        # 2 bytes per cycle at 1 GB/s and 500 MHz
        assert e["dram_cycles"] == math.ceil(lr.dram_words / 2)
        assert lr.total_cycles == max(e["compute_cycles"], e["dram_cycles"])
        assert lr.stall_cycles == lr.total_cycles - e["compute_cycles"]
        assert e["latency_ms"] == pytest.approx(lr.total_cycles / 500e3)
        assert e["energy_dram_uj"] == pytest.approx(lr.dram_words * 162.5e-6)
        assert e["energy_mac_uj"] == pytest.approx(layer.macs * 0.23e-6)
        assert e["energy_uj"] == pytest.approx(e["energy_dram_uj"] + e["energy_sram_uj"] + e["energy_mac_uj"])
        assert e["machine_balance_macs_per_byte"] == pytest.approx(64 / 2)
        assert e["memory_bound"] == int(e["intensity_macs_per_byte"] < 32)
    # ws compute cycles (SCALE-Sim folds): layer a: RSC=144 -> 18 row folds, K=32 -> 4 column folds,
    # rows per fold = E + 2*Ra + Ca - 2 = 256 + 22
    assert res.layers[0].extra["compute_cycles"] == 18 * 4 * (256 + 2 * 8 + 8 - 2)


def test_word_size_two_doubles_bytes_when_sram_doubles():
    topo = Topology("t", (conv(c=32, h=16, w=16, k=32),))
    one = simulate(topo, Hardware(ifmap_sram_kb=4, filter_sram_kb=4, ofmap_sram_kb=4))
    two = simulate(with_workload(topo, precision=2), Hardware(ifmap_sram_kb=8, filter_sram_kb=8, ofmap_sram_kb=8))
    assert two.meta["precision"] == Precision.uniform(2).to_dict()
    assert two.meta["options"]["energy"]["mac_pj"] == pytest.approx(1.5)  # a 2-byte MAC
    assert two.totals()["dram_bytes"] == 2 * one.totals()["dram_bytes"]
    assert two.totals()["dram_words"] == one.totals()["dram_words"]
    assert two.layers[0].extra["energy_mac_uj"] == pytest.approx(topo.macs * 1.5e-6)


def test_energy_table_overrides():
    topo = Topology("t", (conv(c=8, h=8, w=8, k=8),))
    res = simulate(topo, Hardware(), options=CapacityOptions(energy=EnergyTable(dram_pj_per_byte=100.0,
                                                                                sram_pj_per_byte=0.0, mac_pj=1.0)))
    e = res.layers[0].extra
    assert e["energy_dram_uj"] == pytest.approx(res.layers[0].dram_words * 100e-6)
    assert e["energy_sram_uj"] == 0.0 and e["energy_mac_uj"] == pytest.approx(topo.macs * 1e-6)
    with pytest.raises(InputError):
        EnergyTable(dram_pj_per_byte=-1.0)
    with pytest.raises(InputError):
        CapacityOptions(concat="copy")


def test_csv_dp_row_is_depthwise_as_in_scalesim():
    # read_csv keeps 'DP' rows as groups=1 convs; SCALE-Sim expands them per channel
    dp = Layer("dw_DP", "conv", 8, 10, 10, 1, 8, 8, 3, 3)
    res = simulate(Topology("t", (dp,)), Hardware())
    assert res.layers[0].macs == 8 * 8 * 8 * 9
    assert res.layers[0].dram_filter_reads == 8 * 9


# ---------------------------------------------------------------------------------------------
# network level
# ---------------------------------------------------------------------------------------------
def _net() -> Topology:
    """input 0 -> conv a -> 1 -> maxpool -> 2 -> conv b -> 3 -> conv c -> 4; concat(3, 4) -> 5 -> conv e -> 6."""
    a = conv("a", c=3, h=8, w=8, k=8)
    a = replace(a, inputs=(0,), output=1, order=0)
    b = conv("b", c=8, h=4, w=4, k=8)
    b = replace(b, inputs=(2,), output=3, order=2)
    c = conv("c", c=8, h=4, w=4, k=8)
    c = replace(c, inputs=(3,), output=4, order=3)
    e = conv("e", c=16, h=4, w=4, k=4, r=1, p=0)
    e = replace(e, inputs=(5,), output=6, order=5)
    pool = Op("pool", "maxpool", (1,), 2, ((8, 8, 8),), (8, 4, 4), order=1, kernel=2, stride=2)
    cat = Op("cat", "concat", (3, 4), 5, ((8, 4, 4), (8, 4, 4)), (16, 4, 4), order=4)
    tensors = tuple(TensorInfo(i, shp, "x") for i, shp in enumerate(
        [(3, 8, 8), (8, 8, 8), (8, 4, 4), (8, 4, 4), (8, 4, 4), (16, 4, 4), (4, 4, 4)]))
    return Topology("net", (a, b, c, e), (3, 8, 8), (pool, cat), tensors)


def test_concat_zero_copy_vs_materialised_and_pool_fusion():
    topo = _net()
    hw = Hardware()
    base = simulate(topo, hw).totals()["dram_words"]
    layer_only = simulate(Topology("x", topo.layers), hw).totals()["dram_words"]
    # zero-copy: only the pool is charged (reads 512, writes 128)
    assert base == layer_only + 512 + 128
    mat = simulate(topo, hw, options=CapacityOptions(concat="materialised")).totals()["dram_words"]
    assert mat == base + 256 + 256
    # fused pool: conv a writes the pooled 128 words instead of 512; the pool costs nothing
    fused = simulate(topo, hw, options=CapacityOptions(fuse_pool_add=True))
    assert fused.totals()["dram_words"] == layer_only - 512 + 128
    assert fused.layers[0].extra["fused_ops"] == "pool"


def test_inter_layer_residency_skips_write_and_read_back():
    topo = _net()
    hw = Hardware()
    opts = CapacityOptions(fuse_pool_add=True)
    plain = simulate(topo, hw, options=opts)
    res = simulate(topo, hw, options=CapacityOptions(fuse_pool_add=True, inter_layer_residency=True))
    pw, rw = plain.totals()["dram_words"], res.totals()["dram_words"]
    # a (pooled, 128) -> b: only consumer -> write and read saved (256). b's output (128) is read by c
    # (next) and by e through the concat: read saved, write kept (128). c's output -> e via the concat,
    # and c is e's predecessor: its 128-word share of e's input read is saved and, e being the only
    # consumer, its write too (256). e's output is the network output: written.
    assert pw - rw == 256 + 128 + 256
    assert res.totals()["resident_saved_words"] == pw - rw
    # nothing fits in a 1 kB buffer pair? 128 words do; a 64-word half-buffer (8-byte words) does not
    topo8 = with_workload(topo, precision=8)
    tiny = simulate(topo8, hw.with_(ifmap_sram_kb=1, ofmap_sram_kb=1),
                    options=CapacityOptions(fuse_pool_add=True, inter_layer_residency=True))
    tiny_plain = simulate(topo8, hw.with_(ifmap_sram_kb=1, ofmap_sram_kb=1),
                          options=CapacityOptions(fuse_pool_add=True))
    assert tiny.totals()["dram_words"] == tiny_plain.totals()["dram_words"]


def test_less_traffic_than_scalesim_which_spills_partial_sums():
    topo = Topology("small", (conv("a", c=64, h=12, w=12, k=64), conv("b", c=64, h=12, w=12, k=32, r=1, p=0)))
    hw = Hardware(ifmap_sram_kb=8, filter_sram_kb=8, ofmap_sram_kb=8)
    ours = simulate(topo, hw).totals()
    compat = engine_simulate(topo, hw, engine="compat").totals()
    assert ours["compulsory_bytes"] <= ours["dram_bytes"] < compat["dram_bytes"]


@pytest.mark.slow
def test_zoo_model_per_layer_bounds_and_monotone_network():
    from trafficsim.zoo.cache import model_topology
    topo = model_topology("resnet18")
    hw = Hardware()
    res = simulate(topo, hw)
    for lr in res.layers:
        assert lr.extra["layer_dram_bytes"] >= lr.extra["compulsory_bytes"]
        assert lr.extra["traffic_over_bound_ratio"] >= 1.0
    # more SRAM never costs traffic at network level either (ops charged the same)
    bigger = simulate(topo, hw.with_(ifmap_sram_kb=512, filter_sram_kb=512, ofmap_sram_kb=512))
    assert bigger.totals()["dram_words"] <= res.totals()["dram_words"]


def test_residual_add_charged_or_fused_into_its_producer():
    # input 0 -> conv a -> 1 -> conv b -> 2; add(2, 1) -> 3 -> conv c -> 4
    a = replace(conv("a", c=4, h=8, w=8, k=8), inputs=(0,), output=1, order=0)
    b = replace(conv("b", c=8, h=8, w=8, k=8), inputs=(1,), output=2, order=1)
    c = replace(conv("c", c=8, h=8, w=8, k=4, r=1, p=0), inputs=(3,), output=4, order=3)
    add = Op("add", "add", (2, 1), 3, ((8, 8, 8), (8, 8, 8)), (8, 8, 8), order=2)
    tensors = tuple(TensorInfo(i, shp, "x") for i, shp in enumerate([(4, 8, 8)] + [(8, 8, 8)] * 3 + [(4, 8, 8)]))
    topo = Topology("res", (a, b, c), (4, 8, 8), (add,), tensors)
    hw = Hardware()
    layers_only = simulate(Topology("x", topo.layers), hw).totals()["dram_words"]
    charged = simulate(topo, hw)
    assert charged.totals()["dram_words"] == layers_only + 3 * 512
    assert charged.layers[1].extra["op_read_words"] == 1024  # charged to b, the last layer before it
    fused = simulate(topo, hw, options=CapacityOptions(fuse_pool_add=True))
    # b writes the sum (same size as its own output) and reads the skip operand: + 512 only
    assert fused.totals()["dram_words"] == layers_only + 512
    assert fused.layers[1].extra["fused_ops"] == "add"
    # a's output stays on chip for b (conv input and skip operand): not written, not read twice;
    # the sum is c's only input and c runs next: not written, not read. c's output is the network's.
    resident = simulate(topo, hw, options=CapacityOptions(fuse_pool_add=True, inter_layer_residency=True))
    assert resident.totals()["dram_words"] == fused.totals()["dram_words"] - 5 * 512
    assert resident.totals()["resident_saved_words"] == 5 * 512


def test_activations_and_batch_norm_fused_by_default_or_charged():
    # input 0 -> conv a -> 1, batch norm and ReLU in place on 1, -> conv b -> 2, GELU in place on 2
    a = replace(conv("a", c=4, h=8, w=8, k=8), inputs=(0,), output=1, order=0)
    b = replace(conv("b", c=8, h=8, w=8, k=4, r=1, p=0), inputs=(1,), output=2, order=3)
    bn = Op("a.bn", "batchnorm", (1,), 1, ((8, 8, 8),), (8, 8, 8), order=1)
    relu = Op("a.relu", "activation", (1,), 1, ((8, 8, 8),), (8, 8, 8), order=2)
    gelu = Op("gelu", "activation", (2,), 2, ((4, 8, 8),), (4, 8, 8), order=4)
    assert bn.in_place and relu.in_place and not Op("x", "add", (1, 2), 3, (), (1, 1, 1)).in_place
    tensors = (TensorInfo(0, (4, 8, 8), "input"), TensorInfo(1, (8, 8, 8), "a"), TensorInfo(2, (4, 8, 8), "b"))
    topo = Topology("act", (a, b), (4, 8, 8), (bn, relu, gelu), tensors)
    hw = Hardware()
    layers_only = simulate(Topology("x", topo.layers), hw).totals()["dram_words"]
    fused = simulate(topo, hw)
    assert fused.totals()["dram_words"] == layers_only  # as the CNN zoo always counted them: no traffic
    assert fused.meta["network_ops"]["activations_fused"] == 3
    assert fused.meta["network_ops"]["activations_charged"] == 0
    unfused = simulate(topo, hw, options=CapacityOptions(activations="unfused"))
    # each reads and writes its tensor: 2 x (512 + 512) on a's output, 256 + 256 on b's
    assert unfused.totals()["dram_words"] == layers_only + 2 * 1024 + 512
    assert unfused.layers[0].extra["op_read_words"] == 1024  # charged to a, the last layer before them
    assert unfused.meta["network_ops"] == {**unfused.meta["network_ops"], "activations_fused": 0,
                                           "activations_charged": 3, "ops_charged": 3}
    assert unfused.meta["options"]["activations"] == "unfused"
    with pytest.raises(InputError, match="activations"):
        CapacityOptions(activations="sometimes")


def test_parse_energy_table():
    from trafficsim.energy import parse_energy_table
    assert parse_energy_table("dram=100, mac=0.5") == EnergyTable(dram_pj_per_byte=100.0, mac_pj=0.5)
    assert parse_energy_table("") == EnergyTable()
    for bad in ("dram", "disk=3", "sram=x", "mac=-1"):
        with pytest.raises(InputError):
            parse_energy_table(bad)


# ---------------------------------------------------------------------------------------------
# a batch of images (issue 14: weights amortised across the batch where the tiling allows)
# ---------------------------------------------------------------------------------------------
def test_inter_layer_residency_at_batch_cuts_each_tensor_once():
    """At batch 2 every tensor is twice as large and is saved twice over (the reader's share of its input is
    the tensor's share of the batch's input, not of one image's)."""
    hw = Hardware()
    opts = CapacityOptions(fuse_pool_add=True)
    on = CapacityOptions(fuse_pool_add=True, inter_layer_residency=True)
    topo = replace(_net(), batch=2)
    saved = simulate(topo, hw, options=opts).totals()["dram_words"] - simulate(topo, hw, options=on).totals()["dram_words"]
    assert saved == 2 * (256 + 128 + 256)


@st.composite
def conv_nets(draw):
    """Two to three convolutions in a chain (3x3, 1x1, strided, depthwise), sizes from tiny to VGG-like."""
    n = draw(st.integers(1, 3))
    c = draw(st.sampled_from([3, 16, 64]))
    h = draw(st.sampled_from([7, 14, 28]))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(["3x3", "1x1", "s2", "dw"]))
        if kind == "dw":
            out.append(conv(f"l{i}", c=c, h=h, w=h, k=c, r=3, groups=c))
            continue
        k = draw(st.sampled_from([16, 64, 128]))
        r, s = (1, 1) if kind == "1x1" else (3, 2 if kind == "s2" else 1)
        layer = conv(f"l{i}", c=c, h=h, w=h, k=k, r=r, s=s)
        out.append(layer)
        c, h = k, layer.out_h
    return Topology("net", tuple(out), (out[0].in_c, out[0].in_h, out[0].in_w))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=conv_nets(), batch=st.integers(2, 6), kb=st.sampled_from([2, 8, 36, 64, 256]),
       grow=st.sampled_from([2, 64, 1024]), which=st.integers(0, 2), bytes_=st.sampled_from([1, 2]),
       tiling=st.sampled_from(["per-operand", "per-operand", "uniform"]))
def test_batch_traffic_between_compulsory_and_per_image_and_monotone(net, batch, kb, grow, which, bytes_, tiling):
    """At batch N a layer moves at most N times one image's bytes (each image run alone is a schedule the
    search has), at least the weights once plus every image's inputs and outputs, and never more with more SRAM."""
    opts = CapacityOptions(tiling=tiling)
    hw = Hardware(ifmap_sram_kb=kb, filter_sram_kb=kb, ofmap_sram_kb=kb)
    prec = Precision.uniform(bytes_)
    try:
        one = simulate(replace(net, precision=prec), hw, options=opts)
    except InputError:
        return
    many = simulate(replace(net, precision=prec, batch=batch), hw, options=opts)
    for lone, lmany, layer in zip(one.layers, many.layers, net.layers):
        ci, cw, co = compulsory_words(layer)
        assert lmany.extra["dram_bytes"] <= batch * lone.extra["dram_bytes"]
        assert lmany.extra["dram_bytes"] >= (cw + batch * (ci + co)) * bytes_
        assert lmany.extra["compulsory_bytes"] == (cw + batch * (ci + co)) * bytes_
        assert lmany.macs == batch * lone.macs
    sizes = [kb] * 3
    sizes[which] += grow
    bigger = simulate(replace(net, precision=prec, batch=batch),
                      hw.with_(ifmap_sram_kb=sizes[0], filter_sram_kb=sizes[1], ofmap_sram_kb=sizes[2]), options=opts)
    for lm, lb in zip(many.layers, bigger.layers):
        assert lb.extra["dram_bytes"] <= lm.extra["dram_bytes"]
    stats = many.meta["batch_tiling"]
    assert stats["layers_over_batch"] + stats["layers_per_image"] == len(net.layers)


def test_batch_reads_conv_weights_once_when_they_stay_on_chip():
    """VGG-16's conv3_1-like layer at batch 3 on Eyeriss-like buffers: the batch goes through one loop nest
    and the weights are read once, not three times; compute is one layer over the batch's pixels."""
    layer = conv("c", c=128, h=56, w=56, k=256, r=3)
    hw = Hardware(ifmap_sram_kb=256, filter_sram_kb=1024, ofmap_sram_kb=256)
    one = simulate(Topology("x", (layer,)), hw).layers[0]
    three = simulate(Topology("x", (layer,), batch=3), hw)
    lr = three.layers[0]
    assert one.dram_filter_reads == lr.dram_filter_reads == layer.params
    assert lr.dram_ifmap_reads == 3 * one.dram_ifmap_reads and lr.extra["dram_bytes"] < 3 * one.extra["dram_bytes"]
    assert "n" in lr.extra["tiling"] and three.meta["batch_tiling"] == {"layers_over_batch": 1, "layers_per_image": 0}
    cc1 = compute_counts(layer, hw)
    assert lr.extra["compute_cycles"] == compute_counts(layer, hw, 3).compute_cycles <= 3 * cc1.compute_cycles
