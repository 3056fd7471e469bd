"""The capacity engine on a DRAM standard (issue 13 item 4): the tiling's transfers placed in DRAM, timed by the
DRAM model, overlapped with compute under double buffering; what users see (columns, totals, the CLI); bad input.
``--dram ideal`` keeps the numbers of before exactly."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from trafficsim.cli import main
from trafficsim.dram import DramConfig
from trafficsim.dram.transfers import MemorySystem, Transfers, transfer_cost
from trafficsim.engines.capacity import CapacityOptions, layer_streams, layer_traffic, run_id_tags, simulate
from trafficsim.engines.capacity_schedule import _replay, gate_cycles, layer_schedule, stall_schedule
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.topology import Layer, Op, TensorInfo, Topology

DDR4 = DramConfig(standard="ddr4-3200")


def conv(name="c", c=4, h=8, w=8, k=4, r=3, s=1, groups=1, **kw) -> Layer:
    p = r // 2
    oh = (h + 2 * p - r) // s + 1
    ow = (w + 2 * p - r) // s + 1
    return Layer(name, "conv" if groups == 1 else "dwconv", c, h, w, k, oh, ow, r, r, s, s, p, p, 1, 1, groups, **kw)


def _net() -> Topology:
    # input 0 -> a -> 1 -> maxpool -> 2 -> b -> 3; concat(3, 2) -> 4 (zero-copy) -> c -> 5 -> fc (flatten) -> 6
    a = conv("a", c=3, h=32, w=32, k=16, inputs=(0,), output=1, order=0)
    pool = Op("pool", "maxpool", (1,), 2, ((16, 32, 32),), (16, 16, 16), order=1, kernel=2, stride=2)
    b = conv("b", c=16, h=16, w=16, k=24, inputs=(2,), output=3, order=2)
    cat = Op("cat", "concat", (3, 2), 4, ((24, 16, 16), (16, 16, 16)), (40, 16, 16), order=3)
    c = conv("c", c=40, h=16, w=16, k=8, r=1, s=2, inputs=(4,), output=5, order=4)
    fc = Layer("fc", "linear", 8 * 8 * 8, 1, 1, 10, 1, 1, inputs=(5,), output=6, order=5)
    shapes = [(3, 32, 32), (16, 32, 32), (16, 16, 16), (24, 16, 16), (40, 16, 16), (8, 8, 8), (10, 1, 1)]
    tensors = tuple(TensorInfo(i, shp, "input" if i == 0 else "x") for i, shp in enumerate(shapes))
    return Topology("net", (a, b, c, fc), (3, 32, 32), (pool, cat), tensors)


HW = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=2, filter_sram_kb=2, ofmap_sram_kb=2)


@pytest.fixture(scope="module")
def on_ddr4():
    topo = _net()
    return topo, simulate(topo, HW), simulate(topo, HW.with_(dram=DDR4))


def test_ideal_dram_keeps_the_numbers_of_before(on_ddr4):
    topo, ideal, _ = on_ddr4
    again = simulate(topo, HW.with_(dram=DramConfig(standard="ideal")))
    assert [lr.to_dict() for lr in again.layers] == [lr.to_dict() for lr in ideal.layers]
    assert "dram_moved_bytes" not in ideal.layers[0].extra and "row_hit_rate" not in ideal.totals()


def test_dram_run_moves_the_same_words_in_whole_bursts(on_ddr4):
    _, ideal, dram = on_ddr4
    burst = DDR4.resolve().request_bytes
    for a, b in zip(ideal.layers, dram.layers):
        # the traffic counts are the tiling's, whatever the memory
        assert (a.dram_ifmap_reads, a.dram_filter_reads, a.dram_ofmap_writes) == (
            b.dram_ifmap_reads, b.dram_filter_reads, b.dram_ofmap_writes)
        e = b.extra
        assert e["dram_moved_bytes"] >= b.dram_words and e["dram_moved_bytes"] % burst == 0
        assert (e["dram_requests"] - e["dram_reads_forwarded"]) * burst == e["dram_moved_bytes"]
        assert e["row_hits"] + e["row_misses"] + e["row_conflicts"] + e["dram_reads_forwarded"] == e["dram_requests"]
        assert 0 < e["achieved_bandwidth_gbs"] <= e["peak_bandwidth_gbs"] == 25.6
        assert e["dram_energy_pj"] == pytest.approx(sum(v for k, v in e.items() if k.startswith("dram_energy_")
                                                        and k != "dram_energy_pj"))
        assert e["energy_dram_uj"] == pytest.approx(e["dram_energy_pj"] * 1e-6)
        # time: never below compute or the DRAM's own time for the stream; stalls are the excess over compute
        assert b.total_cycles >= max(e["compute_cycles"], 1) and b.total_cycles >= e["dram_cycles"] * 0.99
        assert b.stall_cycles == b.total_cycles - e["compute_cycles"] and b.total_cycles_incl_prefetch == b.total_cycles
        assert e["latency_ms"] == pytest.approx(b.total_cycles / (HW.clock_mhz * 1e3))


def _net_with_activations() -> Topology:
    # _net with a ReLU after conv a and a batch norm + ReLU on the zero-copy concatenation (DenseNet-style)
    base = _net()
    relu = Op("a.relu", "activation", (1,), 1, ((16, 32, 32),), (16, 32, 32), order=0)
    bn = Op("cat.bn", "batchnorm", (4,), 4, ((40, 16, 16),), (40, 16, 16), order=3)
    relu2 = Op("cat.relu", "activation", (4,), 4, ((40, 16, 16),), (40, 16, 16), order=3)
    # orders: ops that follow a node at the same position run after it (sorted by order, ops after layers)
    return replace(base, ops=(relu, *base.ops[:2], bn, relu2))


def test_activations_fused_move_nothing_unfused_read_and_write_their_tensor_in_place():
    topo = _net_with_activations()
    hw = HW.with_(dram=DDR4)
    plain = simulate(_net(), hw)
    fused = simulate(topo, hw)
    # fused into their producers: the same requests as without them
    assert [lr.extra["dram_requests"] for lr in fused.layers] == [lr.extra["dram_requests"] for lr in plain.layers]
    unfused = simulate(topo, hw, options=CapacityOptions(activations="unfused"))
    assert unfused.meta["network_ops"]["activations_charged"] == 3
    added_words = unfused.totals()["dram_words"] - fused.totals()["dram_words"]
    assert added_words == 2 * (16 * 32 * 32) + 2 * 2 * (40 * 16 * 16)  # each reads and writes its tensor
    added_requests = unfused.totals()["dram_requests"] - fused.totals()["dram_requests"]
    # the tensors are row-aligned, whole in bursts: the requests are exactly the words (1-byte words; some reads
    # may be served from a queued write of the op before, moving no data)
    assert added_requests * DDR4.resolve().request_bytes == added_words


def test_totals_gain_the_dram_rates(on_ddr4):
    _, _, dram = on_ddr4
    t = dram.totals()
    assert t["row_hit_rate"] == pytest.approx(t["row_hits"] / (t["row_hits"] + t["row_misses"] + t["row_conflicts"]))
    assert t["achieved_bandwidth_gbs"] == pytest.approx(t["dram_moved_bytes"] / (t["dram_cycles"] / 1e9) / 1e9)
    assert t["dram_energy_pj"] == pytest.approx(sum(lr.extra["dram_energy_pj"] for lr in dram.layers))
    assert "peak_bandwidth_gbs" not in t or t["peak_bandwidth_gbs"] == 25.6
    assert dram.meta["dram"]["standard"] == "ddr4-3200" and dram.meta["dram"]["burst_bytes"] == 64
    assert "ddr4-3200.1000MHz" in run_id_tags(dram)


def test_a_slower_dram_never_makes_a_layer_faster():
    topo = Topology("one", (conv(c=32, h=28, w=28, k=64),))
    hw = HW.with_(ifmap_sram_kb=8, filter_sram_kb=8, ofmap_sram_kb=8)
    fast = simulate(topo, hw.with_(dram=DramConfig(standard="ddr4-3200", channels=2)))
    slow = simulate(topo, hw.with_(dram=DramConfig(standard="ddr4-2400")))
    assert fast.layers[0].total_cycles <= slow.layers[0].total_cycles
    assert fast.layers[0].extra["peak_bandwidth_gbs"] == 51.2


def test_layouts_change_the_bursts_not_the_words():
    # a 1x1 conv whose output tiles are narrow: NCHW writes short rows (a burst each), NHWC whole pixels
    topo = Topology("one", (conv(c=64, h=28, w=28, k=64, r=1),))
    hw = HW.with_(ifmap_sram_kb=4, filter_sram_kb=4, ofmap_sram_kb=2, dram=DDR4)
    runs = {lay: simulate(topo, hw, options=CapacityOptions(layout=lay)) for lay in ("nchw", "nhwc", "nchwc8,tiled")}
    words = {lay: r.totals()["dram_words"] for lay, r in runs.items()}
    assert len(set(words.values())) == 1
    moved = {lay: r.totals()["dram_moved_bytes"] for lay, r in runs.items()}
    assert len(set(moved.values())) > 1
    assert "nchwc8.tiled" in run_id_tags(runs["nchwc8,tiled"])


def test_network_options_not_modelled_on_a_dram_are_refused():
    topo = _net()
    for opts in (CapacityOptions(fuse_pool_add=True), CapacityOptions(inter_layer_residency=True)):
        with pytest.raises(InputError, match="not modelled on a DRAM standard"):
            simulate(topo, HW.with_(dram=DDR4), options=opts)
    # a batch folds images into a convolution's tiling (images > 1): refused on a DRAM, never placed as one image
    from trafficsim.workload import with_workload
    with pytest.raises(InputError, match="batch 2 is not modelled on a DRAM standard"):
        simulate(with_workload(topo, batch=2), HW.with_(dram=DDR4))
    with pytest.raises(InputError, match="batch 2 is not modelled on a DRAM standard"):
        layer_streams(with_workload(topo, batch=2), HW.with_(dram=DDR4))


# ---------------------------------------------------------------------------------------------
# the schedule's fixed point
# ---------------------------------------------------------------------------------------------
def test_replay_reaches_the_fixed_point_of_repeated_timings_on_a_pipe():
    # on an ideal pipe a transfer's service time does not depend on when it starts: the replay after one timing
    # must land where timing again and again with the previous schedule's start cycles converges
    layer = conv(c=48, h=20, w=20, k=64)
    lt = layer_traffic(layer, (2048, 2048, 2048), "per-operand")
    sch = layer_schedule(layer, lt, 40_000)
    mem = MemorySystem(DramConfig(bandwidth_gbs=2.0), 1000.0, 1.0)  # 2 bytes per cycle: DRAM-bound
    nbytes, n = sch.words, len(sch)
    step_end = np.cumsum(sch.step_cycles)
    first = None
    for _ in range(500):
        earliest = gate_cycles(sch.gate, step_end)
        done = transfer_cost(mem, Transfers.of(nbytes, sch.is_write, earliest), per_transfer=True).done_cycle
        if first is None:
            first = (earliest, done)
        end, new_end = stall_schedule(sch, done)
        if np.array_equal(new_end, step_end):
            break
        step_end = new_end
    else:
        pytest.fail("repeated timings did not converge")
    earliest, done = first
    order = np.argsort(earliest, kind="stable")
    r_end, _, r_step_end, rounds = _replay(order, sch.gate, earliest, done, n, sch.step_cycles, sch.kind, sch.step,
                                           sch.out_wait, 1000, 0)
    assert abs(r_end - max(end, int(done.max()))) <= len(sch.step_cycles)  # rounding of fractional cycles
    assert rounds < 1000
    assert r_end > 40_000


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def _run(args, capsys):
    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_dram_run_folder_and_table(tmp_path, capsys):
    model = tmp_path / "net.csv"
    model.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                     "Strides,\nc1,16,16,3,3,8,16,1,\nc2,14,14,1,1,16,32,1,\n")
    out = tmp_path / "r"
    rc, text, err = _run(["run", str(model), "--engine", "capacity", "--dram", "ddr4-3200", "--dram-channels", "2",
                          "--page-policy", "closed", "--layout", "nhwc", "--out", str(out)], capsys)
    assert rc == 0, err
    assert "row hit rate" in text and "bandwidth achieved / peak" in text and "ddr4-3200x2" in text
    # the table fits 80 columns (the last line names the run folder, whose path is the user's)
    assert max(len(line) for line in text.splitlines() if "run folder" not in line) <= 80
    folder = next(out.iterdir())
    assert "ddr4-3200x2" in folder.name and "nhwc" in folder.name
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("dram_cycles", "dram_energy_pj", "row_hit_rate", "achieved_bandwidth_gbs"):
        assert key in summary["totals"]
    assert summary["hardware"]["dram_standard"] == "ddr4-3200" and summary["hardware"]["dram_channels"] == 2
    layers = pd.read_csv(folder / "layers.csv")
    for col in ("dram_cycles", "stall_cycles", "row_hits", "row_misses", "row_conflicts", "row_hit_rate",
                "achieved_bandwidth_gbs", "peak_bandwidth_gbs", "dram_energy_pj", "dram_moved_bytes"):
        assert col in layers.columns
    assert math.isclose(layers["dram_energy_pj"].sum(), summary["totals"]["dram_energy_pj"], rel_tol=1e-9)


@pytest.mark.parametrize("args, needle", [
    (["--dram", "ddr9"], "ddr9"),
    (["--dram", "ddr4-3200", "--dram-channels", "3"], "power of two"),
    (["--dram", "ddr4-3200", "--dram-channels", "1" + "0" * 30], "channels"),
    (["--dram-channels", "2"], "--dram-channels applies to a DRAM standard"),
    (["--page-policy", "closed"], "--page-policy applies to a DRAM standard"),
    (["--dram", "ddr4-3200", "--page-policy", "sometimes"], "page policy"),
    (["--dram", "ddr4-3200", "--dram-mapping", "XyZ"], "mapping"),
    (["--dram", "ddr4-3200", "--bandwidth-gbs", "10"], "--bandwidth-gbs sets the ideal pipe"),
    (["--dram", "ddr4-3200", "--layout", "nchwc0"], "block must be 2 to 256"),
    (["--dram", "ddr4-3200", "--layout", "kcrs"], "is a weight layout"),
    (["--dram", "ddr4-3200", "--fuse-pool-add"], "not modelled on a DRAM standard"),
    (["--dram", "ddr4-3200", "--batch", "2"], "batch 2 is not modelled on a DRAM standard"),
])
def test_cli_bad_dram_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, needle):
    model = tmp_path / "net.csv"
    model.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                     "Strides,\nc1,16,16,3,3,8,16,1,\n")
    out = tmp_path / "r"
    rc, _, err = _run(["run", str(model), "--engine", "capacity", "--out", str(out), *args], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert rc != 0 and "Traceback" not in err and len(lines) == 1, err
    assert needle in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_layer_streams_are_the_requests_the_engine_times(on_ddr4):
    from trafficsim.engines.capacity import layer_streams

    topo, _, dram = on_ddr4
    streams = layer_streams(topo, HW.with_(dram=DDR4))
    assert [name for name, *_ in streams] == [layer.name for layer in topo.layers]
    for (_, addr, is_write, arrival), lr in zip(streams, dram.layers):
        assert addr.size == is_write.size == arrival.size == lr.extra["dram_requests"]
        assert addr.dtype == np.uint64 and np.all(addr % 64 == 0) and np.all(np.diff(arrival) >= 0)
    with pytest.raises(InputError, match="ideal pipe has no request stream"):
        layer_streams(topo, HW)
