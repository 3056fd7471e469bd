"""The compat engine on a DRAM model (issue 13 item 5): SCALE-Sim's own DRAM request stream, generated
by engines/compat_dram_stream.py, checked against the DRAM trace files the real SCALE-Sim 3.0.0 writes
(every row: cycle, addresses in SCALE-Sim's order, counts), its bursts against the per-word stream, and
the engine's DRAM columns and stall feedback."""
from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest

from trafficsim.dram import DramConfig
from trafficsim.engines import compat, compat_dram
from trafficsim.engines import compat_dram_stream as ks
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.topology import expand_dp, read_csv, scalesim_rows

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
SMALL = dict(ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)

# name -> (topology CSV rows, hardware): small layers, 1 kB SRAMs (10-word sets, 500-word epochs) so that
# prefetch blocks, later windows, partial last blocks and many drains all occur
TRACE_CASES = {
    "os-4x4": ("c1,8,8,3,3,4,8,1,\nc2,9,9,3,3,3,5,2,\nc3,10,10,1,1,16,20,1,\n",
               Hardware(dataflow="os", array_rows=4, array_cols=4, **SMALL)),
    "ws-4x4": ("c1,8,8,3,3,4,8,1,\nc2,9,9,3,3,3,5,2,\nc3,10,10,1,1,16,20,1,\n",
               Hardware(dataflow="ws", array_rows=4, array_cols=4, **SMALL)),
    "is-4x4": ("c1,8,8,3,3,4,8,1,\nc2,9,9,3,3,3,5,2,\nc3,10,10,1,1,16,20,1,\n",
               Hardware(dataflow="is", array_rows=4, array_cols=4, **SMALL)),
    # non-square arrays, stride 2/3 with edge addresses, uneven folds, filter epochs in OS
    "os-4x16-stride2-filter-epochs": ("s2,10,11,3,3,6,20,2,\nbig,12,12,3,3,16,24,1,\n",
                                      Hardware(dataflow="os", array_rows=4, array_cols=16, **SMALL)),
    "ws-16x4-stride2": ("s2,10,11,3,3,6,20,2,\n",
                        Hardware(dataflow="ws", array_rows=16, array_cols=4, ifmap_sram_kb=2, filter_sram_kb=1,
                                 ofmap_sram_kb=1)),
    "is-8x8-stride3-dp": ("s3,13,12,3,3,5,9,3,\nconvDP,8,8,3,3,3,1,1,\n",
                          Hardware(dataflow="is", array_rows=8, array_cols=8, **SMALL)),
}


def _topology(tmp_path: Path, text: str):
    p = tmp_path / "in.csv"
    p.write_text(CONV_HEADER + text)
    return read_csv(p)


def _run_real_scalesim(topo, hw: Hardware, wd: Path) -> Path:
    """The real SCALE-Sim 3.0.0 with its traces on (save_disk_space=False): returns the run folder."""
    from trafficsim.engines.scalesim_ref import layout_csv_text
    from trafficsim.files import atomic_write_text
    from trafficsim.topology import topology_csv_text

    atomic_write_text(wd / "t.csv", topology_csv_text(topo, "conv"))
    atomic_write_text(wd / "s.cfg", hw.to_cfg(run_name="r"))
    atomic_write_text(wd / "l.csv", layout_csv_text(scalesim_rows(topo)))
    from scalesim.scale_sim import scalesim

    (wd / "out").mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=False, verbose=False, config=str(wd / "s.cfg"), topology=str(wd / "t.csv"),
                       layout=str(wd / "l.csv"))
        sim.run_scale(top_path=str(wd / "out"))
    return wd / "out" / "r"


def _read_trace(path: Path) -> list[tuple[float, list[float]]]:
    rows = []
    for line in path.read_text().splitlines():
        v = [float(x) for x in line.strip().strip(",").split(",")]
        rows.append((v[0], v[1:]))
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(TRACE_CASES))
def test_stream_equals_scalesim_dram_traces(case, tmp_path):
    """Every row of SCALE-Sim's IFMAP/FILTER/OFMAP DRAM traces: the same cycle and the same addresses in
    the same order (-1 pads included; the 1.0 columns SCALE-Sim pads narrower prefetches with are
    checked to be only that), and the same DRAM read/write counts as its reports."""
    text, hw = TRACE_CASES[case]
    topo = _topology(tmp_path, text)
    out = _run_real_scalesim(topo, hw, tmp_path)
    rows = expand_dp(scalesim_rows(topo))
    for i, row in enumerate(rows):
        stream = compat_dram.layer_stream(row, hw, 64, words=True)
        base = compat.simulate_row(row, hw, i)
        assert stream.total_cycles == base.total_cycles and stream.stall_cycles == base.stall_cycles
        for op, name, count in ((0, "IFMAP", base.dram_ifmap_reads), (1, "FILTER", base.dram_filter_reads)):
            ours = compat_dram.scalesim_read_trace(stream, op)
            real = _read_trace(out / f"layer{i}" / f"{name}_DRAM_TRACE.csv")
            assert len(ours) == len(real), (row.name, name)
            valid = 0
            for (cyc, addrs), (rcyc, raddrs) in zip(ours, real):
                assert cyc == rcyc, (row.name, name, cyc, rcyc)
                assert [float(a) for a in addrs] == raddrs[:len(addrs)], (row.name, name, cyc)
                assert all(x == 1.0 for x in raddrs[len(addrs):]), (row.name, name, cyc)
                valid += sum(a != -1 for a in addrs)
            assert valid == count == stream.result[ks.Q_IF_MISSES + op]
        ours = compat_dram.scalesim_write_trace(stream, hw.array_cols)
        real = _read_trace(out / f"layer{i}" / "OFMAP_DRAM_TRACE.csv")
        assert [(c, [float(a) for a in w]) for c, w in ours] == real, (row.name, "OFMAP")
        assert stream.result[ks.Q_OF_WRITES] == base.dram_ofmap_writes


def _bursts_from_words(stream: compat_dram.LayerStream, burst: int, word_bytes: int):
    """The bursts the per-word stream makes (the documented coalescing, in plain Python)."""
    reads = []
    for op in range(2):
        misses = stream.words["misses"][op]
        addr, cyc = [], []
        for blk in stream.read_blocks[op]:
            w0, n, bw = int(blk[ks.B_FIRST_MISS]), int(blk[ks.B_N_MISSES]), int(blk[ks.B_BW])
            words = sorted(int(a) for a in misses[w0:w0 + n])
            seen = set()
            for i, a in enumerate(words):
                b = a * word_bytes // burst
                if b not in seen:
                    seen.add(b)
                    addr.append(b * burst)
                    cyc.append(int(blk[ks.B_WIN_START]) + i // bw)
        reads.append((addr, cyc))
    line_of = [int(c) for c in stream.words["line_cycle"]]
    w_addr, w_cyc = [], []
    starts = list(stream.words["line_word_start"]) + [len(stream.words["of_words"])]
    for d in stream.drains:
        word_n: dict[int, int] = {}
        burst_n: dict[int, int] = {}
        for ln in range(int(d[ks.D_FIRST_LINE]), int(d[ks.D_FIRST_LINE] + d[ks.D_N_LINES])):
            for a in stream.words["of_words"][starts[ln]:starts[ln + 1]]:
                word_n[int(a)] = word_n.get(int(a), 0) + 1
                b = int(a) * word_bytes // burst
                if word_n[int(a)] > burst_n.get(b, 0):   # a word written k times in a drain: k writes
                    burst_n[b] = word_n[int(a)]
                    w_addr.append(b * burst)
                    w_cyc.append(line_of[ln])
    return reads, (w_addr, w_cyc)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("burst,word_bytes", [(64, 1), (32, 2)])
def test_bursts_equal_per_word_stream(dataflow, burst, word_bytes, tmp_path):
    """The compiled burst coalescing equals coalescing the per-word stream in Python."""
    topo = _topology(tmp_path, "c1,12,12,3,3,8,24,1,\nc2,9,9,2,2,6,20,2,\n")
    hw = Hardware(dataflow=dataflow, array_rows=8, array_cols=4, **SMALL)
    for row in scalesim_rows(topo):
        s = compat_dram.layer_stream(row, hw, burst, words=True, word_bytes=word_bytes)
        reads, writes = _bursts_from_words(s, burst, word_bytes)
        for op in range(2):
            assert list(s.read_addr[op]) == reads[op][0]
            assert list(s.read_cycle[op]) == reads[op][1]
        assert list(s.write_addr) == writes[0] and list(s.write_cycle) == writes[1]
        plain = compat_dram.layer_stream(row, hw, burst, word_bytes=word_bytes)
        assert all(np.array_equal(a, b) for a, b in zip(plain.read_addr, s.read_addr))
        assert np.array_equal(plain.write_addr, s.write_addr)


def _on_dram(hw: Hardware, standard: str = "ddr4-3200", **kw) -> Hardware:
    return dataclasses.replace(hw, dram=DramConfig(standard=standard, **kw))


def test_engine_on_dram_columns_and_feedback(tmp_path):
    topo = _topology(tmp_path, "c1,16,16,3,3,16,32,1,\nc2,18,18,3,3,8,64,2,\nc3,8,8,1,1,64,64,1,\n")
    hw = Hardware(dataflow="ws", array_rows=8, array_cols=8, ifmap_sram_kb=2, filter_sram_kb=2, ofmap_sram_kb=2)
    ideal = compat.simulate(topo, hw, threads=1)
    real = compat.simulate(topo, _on_dram(hw, channels=1), threads=1)
    dev = DramConfig(standard="ddr4-3200", channels=1).resolve()
    assert real.meta["dram"]["standard"] == "ddr4-3200"
    for a, b in zip(ideal.layers, real.layers):
        e = b.extra
        # SCALE-Sim's counts stay; the DRAM's stall is added to its cycles
        assert (b.dram_ifmap_reads, b.dram_filter_reads, b.dram_ofmap_writes) == \
               (a.dram_ifmap_reads, a.dram_filter_reads, a.dram_ofmap_writes)
        assert e["compute_cycles"] == a.total_cycles - a.stall_cycles
        assert b.total_cycles == a.total_cycles + e["dram_stall_cycles"]
        assert b.stall_cycles == a.stall_cycles + e["dram_stall_cycles"]
        assert e["dram_stall_cycles"] >= 0 and e["dram_cycles"] > 0
        # every request moves one burst (none of these reads is served from a queued write)
        assert e["dram_moved_bytes"] == (e["dram_requests"] - e["dram_reads_forwarded"]) * dev.request_bytes
        assert e["dram_moved_bytes"] >= a.dram_words - 64 * e["dram_requests"]  # SCALE-Sim's 1-byte words
        assert e["row_hits"] + e["row_misses"] + e["row_conflicts"] == e["dram_requests"] - e["dram_reads_forwarded"]
        assert 0 <= e["row_hit_rate"] <= 1 and 0 < e["achieved_bandwidth_gbs"] <= e["peak_bandwidth_gbs"]
        assert e["dram_energy_pj"] > 0
        assert b.total_cycles_incl_prefetch >= b.total_cycles
    t = real.totals()
    for key in ("dram_cycles", "dram_energy_pj", "row_hits", "compute_cycles", "dram_moved_bytes"):
        assert key in t


def test_stall_tracks_the_dram_speed(tmp_path):
    """A slow DRAM stalls the array; the same layer on 8 channels of HBM2 stalls less (can fail: the
    stall comes from the DRAM model's completion times)."""
    topo = _topology(tmp_path, "c1,20,20,3,3,32,64,1,\n")
    hw = Hardware(dataflow="os", array_rows=16, array_cols=16, ifmap_sram_kb=4, filter_sram_kb=4,
                  ofmap_sram_kb=4)
    slow = compat.simulate(topo, _on_dram(hw, "ddr4-2400", channels=1), threads=1).layers[0]
    fast = compat.simulate(topo, _on_dram(hw, "hbm2", channels=8), threads=1).layers[0]
    assert slow.extra["dram_stall_cycles"] > fast.extra["dram_stall_cycles"]
    assert slow.total_cycles > fast.total_cycles


def test_ideal_and_user_mode(tmp_path):
    topo = _topology(tmp_path, "c1,8,8,3,3,4,8,1,\n")
    hw = Hardware(dataflow="os", array_rows=4, array_cols=4, **SMALL)
    a = compat.simulate(topo, hw, threads=1)
    b = compat.simulate(topo, dataclasses.replace(hw, dram=DramConfig(standard="ideal")), threads=1)
    assert a.layers == b.layers and "dram" not in b.meta
    user = dataclasses.replace(hw, bandwidth_mode="USER", bandwidth=4)
    with pytest.raises(InputError, match="CALC"):
        compat.simulate(topo, _on_dram(user), threads=1)
    with pytest.raises(InputError, match="power-of-two word size"):
        compat_dram.layer_stream(scalesim_rows(topo)[0], hw, 64, word_bytes=3)


def test_cli_compat_on_dram(cli, tmp_path):
    """`trafficsim run ... --engine compat --dram ddr4-3200` prints and saves the DRAM columns and totals."""
    import csv
    import json

    topo = tmp_path / "small.csv"
    topo.write_text(CONV_HEADER + "c1,16,16,3,3,16,32,1,\nc2,18,18,3,3,8,64,2,\n")
    r = cli(["run", topo, "--array", "8x8", "--engine", "compat", "--dram", "ddr4-3200", "-o", tmp_path / "runs"])
    assert r.rc == 0, r.err
    assert "DRAM ddr4-3200" in r.out and "row hit rate" in r.out and "bandwidth achieved / peak" in r.out
    (folder,) = (tmp_path / "runs").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    totals = summary["totals"]
    for key in ("dram_cycles", "dram_energy_pj", "row_hit_rate", "achieved_bandwidth_gbs"):
        assert key in totals, key
    assert 0 < totals["row_hit_rate"] <= 1
    with open(folder / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for col in ("compute_cycles", "stall_cycles", "dram_cycles", "achieved_bandwidth_gbs", "peak_bandwidth_gbs",
                "row_hit_rate", "dram_energy_pj"):
        assert col in rows[0], col
    for row in rows:
        assert int(row["total_cycles"]) == int(row["compute_cycles"]) + int(row["stall_cycles"])


def test_cli_compat_on_dram_refuses_user_mode(cli, tmp_path):
    topo = tmp_path / "small.csv"
    topo.write_text(CONV_HEADER + "c1,16,16,3,3,16,32,1,\n")
    out = tmp_path / "runs"
    line = cli(["run", topo, "--array", "8x8", "--engine", "compat", "--dram", "ddr4-3200", "--bandwidth", "10",
                "-o", out]).error_line()
    assert "CALC" in line and "--bandwidth calc" in line
    assert not out.exists()


def test_cli_compat_on_dram_refuses_fixes(cli, tmp_path):
    """The DRAM times SCALE-Sim 3.0.0's own requests: --fix with --dram is one line, nothing written."""
    topo = tmp_path / "small.csv"
    topo.write_text(CONV_HEADER + "c1,16,16,3,3,16,32,1,\n")
    out = tmp_path / "runs"
    line = cli(["run", topo, "--array", "8x8", "--engine", "compat", "--dram", "ddr4-3200", "--fix", "all",
                "-o", out]).error_line()
    assert "--fix" in line and "DRAM" in line
    assert not out.exists()
