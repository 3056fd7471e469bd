"""Fast tests of the compat engine: SCALE-Sim 3.0.0's closed-form worked example (docs/scalesim-3.0.0.md §5.4),
SRAM count formulas, and invariants of the memory walk. The cross-check against the real
SCALE-Sim is in test_compat_vs_scalesim.py (slow)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trafficsim.engines import compat
from trafficsim.errors import TopologyError
from trafficsim.hardware import Hardware
from trafficsim.topology import Layer, ScaleSimRow, Topology, expand_dp, scalesim_rows

TEST_LAYER = ScaleSimRow("test", 7, 7, 3, 3, 192, 384, 1)  # SCALE-Sim's 1-layer test, E=25, RSC=1728


@pytest.mark.parametrize("dataflow,total,overall,mapping,compute", [
    ("os", 21_479, 16_588_800 / (21_479 * 1024) * 100, 78.125, 800 * 1728 / (1024 * 1790) * 100),
    ("ws", 77_111, 21.0087, 100.0, 16.6667),
    ("is", 25_811, 62.7639, 78.125, 58.9391),
])
def test_worked_example(dataflow, total, overall, mapping, compute):
    r = compat.simulate_row(TEST_LAYER, Hardware(dataflow=dataflow))
    assert r.total_cycles == total
    assert r.stall_cycles == 0
    assert r.overall_util_pct == pytest.approx(overall, abs=5e-5)
    assert r.mapping_efficiency_pct == pytest.approx(mapping, abs=5e-5)
    assert r.compute_util_pct == pytest.approx(compute, abs=5e-5)


def test_worked_example_os_exact_floats():
    r = compat.simulate_row(TEST_LAYER, Hardware(dataflow="os"))
    # the same Python float operations SCALE-Sim performs
    assert r.overall_util_pct == (25 * 384 * 1728 * 100) / (21_479 * 1024)
    assert r.mapping_efficiency_pct == sum([800 / 1024] * 12) / 12 * 100


def test_worked_example_dram_and_prefetch():
    # 64 kB: IFMAP (9,408 words) fits in half the SRAM: one fill of ceil(15 sets*655/10) = 983 cycles
    r = compat.simulate_row(TEST_LAYER, Hardware(dataflow="os"))
    assert r.dram_ifmap_reads == 7 * 7 * 192
    assert (r.dram_ifmap_start_cycle, r.dram_ifmap_stop_cycle) == (-983, -1)
    assert r.avg_ifmap_dram_bw == 9408 / 983
    assert r.dram_filter_reads == 1728 * 384          # every filter word once (no reuse across folds in OS, F_r=1)
    assert r.dram_ofmap_writes == 25 * 384
    assert r.total_cycles_incl_prefetch == r.dram_ofmap_stop_cycle - min(r.dram_ifmap_start_cycle,
                                                                         r.dram_filter_start_cycle)
    assert r.dram_ofmap_stop_cycle > r.total_cycles   # the final drain runs after the last row


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_sram_counts_match_table(dataflow):
    hw = Hardware(dataflow=dataflow)
    r = compat.simulate_row(TEST_LAYER, hw)
    e, rsc, k, ra, ca = 25, 1728, 384, 32, 32
    fr = {"os": math.ceil(e / ra), "ws": math.ceil(rsc / ra), "is": math.ceil(rsc / ra)}[dataflow]
    fc = {"os": math.ceil(k / ca), "ws": math.ceil(k / ca), "is": math.ceil(e / ca)}[dataflow]
    expected = {
        "os": (fc * e * rsc, fr * rsc * k, e * k + fr * fc * (ra + ca)),  # OS over-count (SCALE-Sim#166)
        "ws": (fc * e * rsc, rsc * k, fr * e * k),
        "is": (e * rsc, fc * rsc * k, fr * e * k),
    }[dataflow]
    assert (r.sram_ifmap_reads, r.sram_filter_reads, r.sram_ofmap_writes) == expected
    assert r.avg_ifmap_sram_bw == expected[0] / r.total_cycles


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_sram_start_stop_cycles(dataflow):
    r = compat.simulate_row(TEST_LAYER, Hardware(dataflow=dataflow))
    g = compat.fold_geometry(TEST_LAYER, Hardware(dataflow=dataflow))
    assert r.sram_ifmap_start_cycle >= 1 and r.sram_filter_start_cycle >= 1   # read latency 1
    assert r.sram_ofmap_stop_cycle <= r.total_cycles == g.demand_rows - 1  # under-filled last fold: fewer rows write
    assert r.sram_ifmap_stop_cycle <= r.total_cycles + 1


def test_ceil_output_extra_row_has_no_dram_reads_past_the_edge():
    # 9x9, 3x3, stride 2: SCALE-Sim computes ceil((9-3+2)/2) = 4 outputs per side (a valid conv has 4 too);
    # 10x10 gives ceil(9/2) = 5 (one extra row/col whose windows run past the edge)
    row = ScaleSimRow("s2", 10, 10, 3, 3, 2, 4, 2)
    assert (row.out_h, row.out_w) == (5, 5)
    r = compat.simulate_row(row, Hardware(dataflow="os", array_rows=8, array_cols=8))
    assert r.dram_ifmap_reads == 10 * 10 * 2          # only real addresses are fetched
    assert r.sram_ifmap_reads == 25 * 18              # shape-based count includes the -1 positions


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_small_sram_forces_refetch(dataflow):
    row = ScaleSimRow("big", 16, 16, 3, 3, 32, 64, 1)
    small = compat.simulate_row(row, Hardware(dataflow=dataflow, array_rows=8, array_cols=8,
                                              ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1))
    large = compat.simulate_row(row, Hardware(dataflow=dataflow, array_rows=8, array_cols=8,
                                              ifmap_sram_kb=512, filter_sram_kb=512, ofmap_sram_kb=512))
    assert large.dram_ifmap_reads == 16 * 16 * 32
    assert large.dram_filter_reads == 9 * 32 * 64
    assert small.dram_ifmap_reads + small.dram_filter_reads > large.dram_ifmap_reads + large.dram_filter_reads
    assert small.total_cycles == large.total_cycles      # CALC mode never stalls


def test_simulate_expands_dp_and_reuses_identical_rows():
    layer = Layer(name="dw", kind="conv", in_c=6, in_h=8, in_w=8, out_c=6, out_h=8, out_w=8,
                  kernel_h=3, kernel_w=3, pad_h=1, pad_w=1, groups=6)
    topo = Topology("dw", (layer,))
    res = compat.simulate(topo, Hardware(dataflow="ws", array_rows=4, array_cols=4))
    rows = expand_dp(scalesim_rows(topo))
    assert len(res.layers) == 6 == len(rows)
    assert [r.layer_id for r in res.layers] == list(range(6))
    assert [r.name for r in res.layers] == [r.name for r in rows]
    direct = compat.simulate_row(rows[3], Hardware(dataflow="ws", array_rows=4, array_cols=4), 3)
    assert res.layers[3] == direct


def test_progress_is_called_per_row():
    calls = []
    layers = tuple(Layer(name=f"c{i}", kind="conv", in_c=2, in_h=6, in_w=6, out_c=3 + i, out_h=4, out_w=4,
                         kernel_h=3, kernel_w=3) for i in range(3))
    compat.simulate(Topology("p", layers), Hardware(array_rows=4, array_cols=4),
                    progress=lambda done, total: calls.append((done, total)))
    # (0, total) at once (no "0/?" while the first layer runs), then whole layers as they finish;
    # fractional values in between are progress within a running layer (folds walked)
    assert [c for c in calls if c[0] == int(c[0])] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    # identical rows are simulated once; progress still reaches the total
    same = tuple(Layer(name=f"c{i}", kind="conv", in_c=2, in_h=6, in_w=6, out_c=3, out_h=4, out_w=4,
                       kernel_h=3, kernel_w=3) for i in range(3))
    calls.clear()
    compat.simulate(Topology("q", same), Hardware(array_rows=4, array_cols=4),
                    progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3, 3)


def test_thread_count_does_not_change_results():
    layers = tuple(Layer(name=f"c{i}", kind="conv", in_c=3 + i, in_h=9, in_w=9, out_c=5 + 2 * i, out_h=7, out_w=7,
                         kernel_h=3, kernel_w=3) for i in range(4))
    topo = Topology("t", layers)
    hw = Hardware(array_rows=4, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)
    assert compat.simulate(topo, hw, threads=1) == compat.simulate(topo, hw, threads=3)


def test_filter_larger_than_ifmap_is_a_user_error():
    with pytest.raises(TopologyError):
        compat.simulate_row(ScaleSimRow("bad", 2, 2, 3, 3, 1, 1, 1), Hardware())


@settings(max_examples=25, deadline=None)
@given(h=st.integers(3, 12), r=st.integers(1, 3), c=st.integers(1, 9), k=st.integers(1, 20),
       s=st.integers(1, 3), ra=st.sampled_from([2, 4, 8]), ca=st.sampled_from([2, 4, 8]),
       dataflow=st.sampled_from(["os", "ws", "is"]), kb=st.integers(1, 2))
def test_walk_invariants(h, r, c, k, s, ra, ca, dataflow, kb):
    r = min(r, h)
    row = ScaleSimRow("x", h, h, r, r, c, k, s)
    hw = Hardware(dataflow=dataflow, array_rows=ra, array_cols=ca, ifmap_sram_kb=kb, filter_sram_kb=kb,
                  ofmap_sram_kb=kb)
    res = compat.simulate_row(row, hw)
    g = compat.fold_geometry(row, hw)
    assert res.stall_cycles == 0
    assert res.total_cycles == g.demand_rows - 1
    # every touched address is fetched at least once; refetches only add
    e = row.out_h * row.out_w
    assert res.dram_filter_reads >= r * r * c * k
    assert res.dram_ifmap_reads >= 1
    assert res.dram_ifmap_reads <= res.sram_ifmap_reads
    assert res.dram_filter_reads <= res.sram_filter_reads
    # OFMAP DRAM writes: every valid SRAM write, plus the padding of force-flushed partial lines
    valid_writes = e * k * (1 if dataflow == "os" else g.row_folds)
    assert valid_writes <= res.dram_ofmap_writes < valid_writes + ca * (valid_writes // 100 + 2)
    assert res.dram_ofmap_stop_cycle >= res.total_cycles
    assert 0 < res.overall_util_pct <= 100
    assert 0 < res.mapping_efficiency_pct <= 100


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["os", "ws", "is"]), st.integers(1, 130), st.integers(1, 130), st.integers(1, 5000),
       st.integers(1, 5000), st.integers(1, 60000))
def test_fold_means_equal_python_sums_over_fold_lists(dataflow, ra, ca, sr, sc, t) -> None:
    """Mapping efficiency and compute utilisation are SCALE-Sim's sum(list)/len over the folds; the
    compiled left-to-right sum must give the same floats, bit for bit."""
    g = compat.FoldGeometry(dataflow, ra, ca, sr, sc, t)
    macs, cyc = ra * ca, g.util_cycles_per_fold
    rus = [min(ra, sr - fr * ra) for fr in range(g.row_folds)]
    cus = [min(ca, sc - fc * ca) for fc in range(g.col_folds)]
    map_eff = [ru * cu / macs for cu in cus for ru in rus]
    util = [ru * cu * t / (macs * cyc) for cu in cus for ru in rus]
    assert compat._fold_means(g) == (sum(map_eff) / len(map_eff), sum(util) / len(util))
