"""Per-operand tiling in the capacity engine (issue 13 item 4): each operand resident in its whole buffer when
it is loaded once, double-buffered otherwise, at its own level of the loop nest; the old uniform tiling (one
tile, every buffer halved) kept as an option. Checked against an exhaustive search written independently, and
the invariants an independent ZigZag check found (never below compulsory or the capacity bound, monotone in
SRAM) as properties of both modes. The tile schedule's transfers add up to the searched traffic exactly."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficsim.bounds import capacity_bound_words, compulsory_words, gemm_dims
from trafficsim.engines.capacity import CapacityOptions, compute_counts, layer_traffic, run_id_tags, simulate
from trafficsim.engines.capacity_schedule import INPUT, OUTPUT, PSUM_READ, WEIGHT, layer_schedule, stall_schedule
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.topology import Layer, Topology


def conv(name="c", c=4, h=8, w=8, k=4, r=3, s=1, p=None, groups=1, dilation=1) -> Layer:
    p = (r // 2) if p is None else p
    eff = dilation * (r - 1) + 1
    oh = (h + 2 * p - eff) // s + 1
    ow = (w + 2 * p - eff) // s + 1
    return Layer(name, "conv" if groups == 1 else "dwconv", c, h, w, k, oh, ow, r, r, s, s, p, p,
                 dilation, dilation, groups)


def words(lt) -> int:
    return lt.input_reads + lt.weight_reads + lt.output_writes + lt.psum_reads


# ---------------------------------------------------------------------------------------------
# an exhaustive search over every tile size, loop order and storage level of each operand
# ---------------------------------------------------------------------------------------------
def _touched(lo, hi, in_n, k, s, pad, d):
    return {o * s - pad + r * d for o in range(lo, hi) for r in range(k)} & set(range(in_n))


def brute_force_per_operand(layer: Layer, caps: tuple[int, int, int], images: int = 1) -> int | None:
    """Least traffic over all (tg, tk, tc, th, tw), all 6 orders and all 4^3 storage levels, where an operand at
    level lv spans the loops at positions >= lv, is fetched again for an irrelevant loop above lv that sits
    outside a relevant loop above lv (both > 1 trip), and needs its level tile twice (double-buffered) in its
    WHOLE buffer when it is loaded more than once, once otherwise. A batch of ``images`` is part of the pixel
    loop: a row tile is th rows of one image (every image tiled alike) or k > 1 whole images."""
    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    icap, wcap, ocap = caps

    def tiles_1d(out_n, t, in_n, k, st_, pad, d):
        sizes = [len(_touched(lo, min(out_n, lo + t), in_n, k, st_, pad, d)) for lo in range(0, out_n, t)]
        return sum(sizes), max(sizes), len(sizes)

    # row tiles over the batch: (sum of input rows touched, most in one tile, tiles, output rows per tile)
    rows = {}
    for t in range(1, p + 1):
        one_sum, one_max, one_n = tiles_1d(p, t, h, r, sh, ph, dh)
        rows[("in", t)] = (images * one_sum, one_max, images * one_n, t)
    full = tiles_1d(p, p, h, r, sh, ph, dh)[0]
    for k in range(2, images + 1):
        rows[("whole", k)] = (images * full, k * full, -(-images // k), k * p)
    cols = {t: tiles_1d(q, t, w, s, sw, pw, dw) for t in range(1, q + 1)}
    rfull, cfull = images * full, cols[q][0]
    ww, ow = g * kp * cp * r * s, g * kp * images * p * q
    best = None
    for tg, tk, tc, row, tw in itertools.product(range(1, g + 1), range(1, kp + 1), range(1, cp + 1),
                                                 rows, range(1, q + 1)):
        rs_, rm, nh, th = rows[row]
        cs_, cm, nw = cols[tw]
        n = {"G": -(-g // tg), "K": -(-kp // tk), "C": -(-cp // tc), "S": nh * nw}
        for order in itertools.permutations("KCS"):
            def state(rel, irr, lv):
                above = set(order[:lv])
                big = lambda x: x in above and n[x] > 1  # noqa: E731
                refetch = big(irr) and any(big(y) and order.index(y) > order.index(irr) for y in rel)
                loads = n["G"] * (n[irr] if refetch else 1)
                for y in rel:
                    loads *= n[y] if y in above else 1
                return above, refetch, 2 if loads > 1 else 1

            options = {"W": [], "O": [], "I": []}
            for lv in range(4):
                above, ref, f = state("KC", "S", lv)
                if tg * (tk if "K" in above else kp) * (tc if "C" in above else cp) * r * s * f <= wcap:
                    options["W"].append(ww * (n["S"] if ref else 1))
                above, spill, f = state("KS", "C", lv)
                if tg * (tk if "K" in above else kp) * (th * tw if "S" in above else images * p * q) * f <= ocap:
                    options["O"].append(ow * (2 * n["C"] - 1) if spill else ow)
                above, ref, f = state("CS", "K", lv)
                if tg * (tc if "C" in above else cp) * (rm * cm if "S" in above else rfull * cfull) * f <= icap:
                    options["I"].append((g * cp * rs_ * cs_ if "S" in above else g * cp * rfull * cfull)
                                        * (n["K"] if ref else 1))
            if all(options.values()):
                total = sum(min(v) for v in options.values())
                best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize("layer,caps", [
    (conv(c=8, h=6, w=6, k=8, r=3), (256, 256, 256)),
    (conv(c=6, h=5, w=7, k=5, r=3, s=2), (128, 160, 96)),
    (conv(c=7, h=4, w=4, k=6, r=1, p=0), (64, 48, 40)),
    (conv(c=6, h=6, w=6, k=6, r=3, groups=6), (64, 64, 64)),
])
def test_per_operand_search_matches_the_exhaustive_search(layer, caps):
    assert words(layer_traffic(layer, caps, "per-operand")) == brute_force_per_operand(layer, caps)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.integers(1, 6), k=st.integers(1, 6), h=st.integers(1, 6), w=st.integers(1, 6),
       r=st.sampled_from([1, 3]), s=st.sampled_from([1, 2]), dw=st.booleans(),
       caps=st.tuples(*[st.integers(9, 300)] * 3))
def test_per_operand_search_never_beats_the_exhaustive_search(c, k, h, w, r, s, dw, caps):
    layer = conv(c=c, h=h, w=w, k=c if dw else k, r=r, s=s, groups=c if dw else 1)
    exhaustive = brute_force_per_operand(layer, caps)
    try:
        found = words(layer_traffic(layer, caps, "per-operand"))
    except InputError:
        assert exhaustive is None
        return
    assert exhaustive is not None and found >= exhaustive


@pytest.mark.parametrize("layer,caps,images", [
    (conv(c=8, h=6, w=6, k=8, r=3), (256, 256, 256), 2),
    (conv(c=6, h=5, w=7, k=5, r=3, s=2), (128, 160, 96), 3),
    (conv(c=4, h=4, w=4, k=6, r=1, p=0), (160, 48, 200), 3),
    (conv(c=4, h=5, w=5, k=4, r=3, groups=4), (64, 64, 64), 2),
])
def test_batch_search_matches_the_exhaustive_search(layer, caps, images):
    assert words(layer_traffic(layer, caps, "per-operand", images=images)) == \
        brute_force_per_operand(layer, caps, images)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.integers(1, 4), k=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5),
       r=st.sampled_from([1, 3]), s=st.sampled_from([1, 2]), images=st.integers(2, 4),
       caps=st.tuples(*[st.integers(9, 300)] * 3))
def test_batch_search_never_beats_the_exhaustive_search(c, k, h, w, r, s, images, caps):
    layer = conv(c=c, h=h, w=w, k=k, r=r, s=s)
    exhaustive = brute_force_per_operand(layer, caps, images)
    try:
        found = layer_traffic(layer, caps, "per-operand", images=images)
    except InputError:
        assert exhaustive is None
        return
    assert exhaustive is not None and words(found) >= exhaustive
    ci, cw, co = compulsory_words(layer)
    assert found.compulsory_words == (images * ci, cw, images * co)


def test_batch_inside_the_tiling_reads_weights_once():
    # 3x3 conv 64 -> 64 on 28x28: 36,864 weight words fit a 64 kB buffer whole. One image keeps everything
    # resident; four images cannot keep four inputs, so their loop nest streams inputs (with a halo between
    # tiles) past resident weights: weights read once for the batch, not once per image.
    layer = conv(c=64, h=28, w=28, k=64, r=3)
    caps = (65536,) * 3
    one = layer_traffic(layer, caps, "per-operand")
    four = layer_traffic(layer, caps, "per-operand", images=4)
    assert one.weight_reads == 36864 and four.weight_reads == 36864 and four.levels[1] == 0
    assert four.input_reads >= 4 * one.input_reads and words(four) < 4 * words(one)
    assert four.tiles["n"] == 1 and "n" not in one.tiles
    # images=1 is the one-image search, field for field
    assert layer_traffic(layer, caps, "per-operand", images=1) == one
    assert layer_traffic(layer, caps, "uniform", images=1) == layer_traffic(layer, caps, "uniform")


def test_a_tensor_that_fits_its_whole_buffer_is_read_once():
    # 1x1 conv 64 -> 96 on 16x16: weights 6144 words. A 8 kB filter buffer holds them whole, not in half:
    # uniform tiling splits them and re-reads either the weights or the input; per-operand keeps them resident.
    layer = conv(c=64, h=16, w=16, k=96, r=1, p=0)
    caps = (4096, 8192, 4096)
    uniform = layer_traffic(layer, caps, "uniform")
    per_op = layer_traffic(layer, caps, "per-operand")
    assert per_op.weight_reads == 6144 and per_op.levels[1] == 0
    assert words(per_op) < words(uniform)


def test_uniform_option_is_the_old_model_and_tagged():
    topo = Topology("t", (conv(c=64, h=16, w=16, k=96, r=1, p=0), conv("b", c=96, h=16, w=16, k=32)))
    hw = Hardware(ifmap_sram_kb=4, filter_sram_kb=8, ofmap_sram_kb=4)
    uni = simulate(topo, hw, options=CapacityOptions(tiling="uniform"))
    per = simulate(topo, hw)
    caps = (4096, 8192, 4096)
    for lr, layer in zip(uni.layers, topo.layers):
        lt = layer_traffic(layer, caps, "uniform")
        assert lr.dram_filter_reads == lt.weight_reads and lr.extra["levels"] == "I3 W3 O3"
    assert per.totals()["dram_words"] < uni.totals()["dram_words"]
    assert "uniform" in run_id_tags(uni) and "uniform" not in run_id_tags(per)
    assert per.meta["options"]["tiling"] == "per-operand"
    with pytest.raises(InputError, match="tiling must be"):
        CapacityOptions(tiling="halved")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# invariants of both modes
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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), ki=sram_kb, kf=sram_kb, ko=sram_kb, which=st.integers(0, 2), grow=st.integers(1, 512),
       word_bytes=st.sampled_from([1, 2]), images=st.sampled_from([1, 1, 2, 5]))
def test_per_operand_bounds_monotone_and_never_above_uniform(layer, ki, kf, ko, which, grow, word_bytes, images):
    caps = [ki * 1024 // word_bytes, kf * 1024 // word_bytes, ko * 1024 // word_bytes]
    try:
        uniform = words(layer_traffic(layer, tuple(caps), "uniform", images=images))
    except InputError:
        uniform = None
    try:
        small = layer_traffic(layer, tuple(caps), "per-operand", images=images)
    except InputError:
        assert uniform is None  # per-operand fits whatever uniform fits
        return
    ci, cw, co = compulsory_words(layer)
    ci, co = images * ci, images * co  # every image's inputs and outputs, the weights once
    assert small.input_reads >= ci and small.weight_reads >= cw and small.output_writes >= co
    assert words(small) >= ci + cw + co
    assert words(small) >= images * capacity_bound_words(layer, sum(caps))
    assert small.psum_reads == small.psum_writes
    if uniform is not None:
        assert words(small) <= uniform
    caps[which] += grow * 1024 // word_bytes
    assert words(layer_traffic(layer, tuple(caps), "per-operand", images=images)) <= words(small)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), ki=sram_kb, kf=sram_kb, ko=sram_kb)
def test_uniform_tiling_never_below_the_capacity_bound(layer, ki, kf, ko):
    caps = (ki * 1024, kf * 1024, ko * 1024)
    try:
        lt = layer_traffic(layer, caps, "uniform")
    except InputError:
        return
    assert words(lt) >= capacity_bound_words(layer, sum(caps))


# ---------------------------------------------------------------------------------------------
# the tile schedule: its transfers are the searched traffic, transfer by transfer
# ---------------------------------------------------------------------------------------------
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), kb=st.sampled_from([1, 2, 4, 16, 64]), mode=st.sampled_from(["uniform", "per-operand"]),
       images=st.sampled_from([1, 1, 2, 3, 8]))
def test_schedule_transfers_add_up_to_the_traffic(layer, kb, mode, images):
    caps = (kb * 1024,) * 3
    try:
        lt = layer_traffic(layer, caps, mode, images=images)
    except InputError:
        return
    cycles = compute_counts(layer, Hardware(), images).compute_cycles
    sch = layer_schedule(layer, lt, cycles)
    assert sch.images == images
    by_kind = {kd: int(sch.words[sch.kind == kd].sum()) for kd in (INPUT, WEIGHT, OUTPUT, PSUM_READ)}
    assert by_kind == {INPUT: lt.input_reads, WEIGHT: lt.weight_reads, OUTPUT: lt.output_writes,
                       PSUM_READ: lt.psum_reads}
    assert int(sch.step_cycles.sum()) == cycles
    assert np.all(sch.earliest >= 0) and np.all(sch.is_write == (sch.kind == OUTPUT))
    # instant transfers: no stall; a slow memory never makes the layer shorter
    end, step_end = stall_schedule(sch, sch.earliest)
    assert end == cycles and np.array_equal(step_end, np.cumsum(sch.step_cycles))
    assert np.array_equal(sch.earliest, np.concatenate([[0], step_end])[sch.gate + 1])
    assert np.all(sch.gate < np.where(sch.is_write, sch.step + 1, sch.step))  # gated by an earlier step
    assert stall_schedule(sch, sch.earliest + 1000)[0] >= cycles + 1000


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
       "c1,16,16,1,1,64,96,1,\n")


def test_tiling_option_on_the_command_line(tmp_path, capsys):
    from trafficsim.cli import main

    csv = tmp_path / "t.csv"
    csv.write_text(CSV)
    out = tmp_path / "r"
    folders = []
    for extra in ([], ["--tiling", "uniform"]):
        rc = main(["run", str(csv), "--engine", "capacity", "--sram", "4,8,4", "--out", str(out), "-q", *extra])
        assert rc == 0
        folders.append(capsys.readouterr().out.strip())
    assert folders[1].endswith("-uniform") and not folders[0].endswith("-uniform")
    for args, needle in ((["--engine", "capacity", "--tiling", "halved"], "tiling must be 'per-operand' or 'uniform'"),
                         (["--tiling", "uniform"], "--tiling applies to --engine capacity only")):
        bad = tmp_path / "bad"
        rc = main(["run", str(csv), "--out", str(bad), *args])
        err = capsys.readouterr().err
        assert rc != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and needle in err
        assert not bad.exists()


# ---------------------------------------------------------------------------------------------
# the search's Python twin (small searches skip loading numba) is the kernel, integer for integer
# ---------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), ki=sram_kb, kf=sram_kb, ko=sram_kb, images=st.sampled_from([1, 2, 5]))
def test_python_twin_of_the_tiling_search_equals_the_kernel(layer, ki, kf, ko, images):
    from trafficsim.bounds import touched_1d
    from trafficsim.engines.capacity import best_tiling, best_tiling_per_operand

    args = (*gemm_dims(layer), bool(layer.transposed), ki * 1024, kf * 1024, ko * 1024, images)
    for kernel in (best_tiling, best_tiling_per_operand):
        assert kernel.py(*args).tolist() == kernel(*args).tolist()
    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    for tile in (1, max(1, p // 3), p):
        assert tuple(touched_1d.py(p, tile, h, r, sh, ph, dh, False)) == tuple(touched_1d(p, tile, h, r, sh, ph, dh,
                                                                                          False))


def test_a_decode_step_runs_without_numba(tmp_path):
    """Llama-3-8B's decode GEMMs (M = 1 token) are small searches: the whole run never imports numba (its import
    and cache load cost more than the run; benchmarks/bench_llm.py measures it)."""
    import subprocess
    import sys

    code = ("import sys; from trafficsim.engines import simulate; from trafficsim.zoo.cache import model_topology; "
            "r = simulate(model_topology('llama3_2_1b', phase='decode', context=512), '32x32', engine='capacity'); "
            "print(r.totals()['dram_bytes'] > 0, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]
