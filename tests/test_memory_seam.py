"""The memory-system seam: ``Hardware.dram`` (a DramConfig), its ``[dram]`` .cfg section (which SCALE-Sim's own
parser ignores), flat dictionaries, and ``transfer_cost``, whose ideal pipe answers the capacity engine's
numbers of before the seam."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scalesim.scale_config import scale_config

from trafficsim.cli import main
from trafficsim.dram import DramConfig
from trafficsim.dram.transfers import MemorySystem, Transfers, transfer_cost
from trafficsim.engines.capacity import simulate
from trafficsim.errors import ConfigError
from trafficsim.hardware import Hardware, read_cfg
from trafficsim.topology import Layer, Topology


def test_default_dram_is_the_ideal_pipe_of_before():
    hw = Hardware()
    assert hw.dram == DramConfig() and hw.dram.is_ideal and hw.dram.bandwidth_gbs == 12.8
    assert hw.to_dict()["dram_bandwidth_gbs"] == 12.8 and hw.to_dict()["dram_standard"] == "ideal"
    assert "dram" not in hw.to_dict()


@pytest.mark.parametrize("hw", [Hardware(), Hardware(dram=DramConfig(bandwidth_gbs=25.6), clock_mhz=800.0,
                                                     dataflow="os")])
def test_flat_dict_and_cfg_round_trips(tmp_path, hw):
    assert Hardware.from_dict(hw.to_dict()) == hw
    hw.write_cfg(tmp_path / "h.cfg")
    back = read_cfg(tmp_path / "h.cfg")
    assert back.dram == hw.dram and back == hw.with_(clock_mhz=back.clock_mhz)  # the clock is not a .cfg key


def test_old_summaries_with_only_a_bandwidth_still_load():
    d = Hardware().to_dict()
    del d["dram_standard"]
    d["dram_bandwidth_gbs"] = 3.2
    assert Hardware.from_dict(d).dram == DramConfig(bandwidth_gbs=3.2)
    assert Hardware.from_dict({"dram": {"bandwidth_gbs": 1.5}}).dram.bandwidth_gbs == 1.5


def test_scalesim_parser_ignores_the_dram_section(tmp_path):
    hw = Hardware(array_rows=8, array_cols=16, dram=DramConfig(bandwidth_gbs=6.4))
    text = hw.to_cfg()
    assert "\n[dram]\nstandard = ideal\nbandwidth_gbs = 6.4\n" in text
    path = tmp_path / "s.cfg"
    path.write_text(text)
    cfg = scale_config()
    cfg.read_conf_file(str(path))
    assert cfg.valid_conf_flag and cfg.get_array_dims() == (8, 16)


@pytest.mark.parametrize("section, needle", [
    ("[dram]\nstandard = ddr9\n", "unknown DRAM standard 'ddr9'"),
    ("[dram]\nbandwidth_gbs = fast\n", "DRAM bandwidth_gbs must be a number, got 'fast'"),
    ("[dram]\nbandwidth_gbs = -1\n", "DRAM bandwidth must be a positive number"),
    ("[dram]\nbandwidth_gbs = nan\n", "DRAM bandwidth must be a positive number"),
    ("[dram]\nbandwith_gbs = 3\n", "unknown DRAM key 'bandwith_gbs'"),
])
def test_bad_dram_section_is_one_line_naming_the_file(tmp_path, section, needle):
    path = tmp_path / "bad.cfg"
    path.write_text(Hardware().to_cfg().split("\n[dram]")[0] + "\n" + section)
    with pytest.raises(ConfigError) as err:
        read_cfg(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and needle in msg


def test_bad_dram_section_on_the_command_line(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                   "Strides,\nc1,10,10,3,3,4,8,1,\n")
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(Hardware().to_cfg().replace("standard = ideal", "standard = ddr9"))
    out = tmp_path / "reports"
    rc = main(["run", str(csv), "--engine", "capacity", "--config", str(cfg), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "unknown DRAM standard 'ddr9'" in err and not out.exists()


def test_bandwidth_option_sets_the_ideal_pipe(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                   "Strides,\nc1,10,10,3,3,4,8,1,\n")
    rc = main(["run", str(csv), "--engine", "capacity", "--bandwidth-gbs", "0.5", "--out", str(tmp_path / "r"), "-q"])
    folder = capsys.readouterr().out.strip()
    assert rc == 0 and folder.endswith("0.5GBs.1000MHz")
    cfg = read_cfg(f"{folder}/hardware.cfg")
    assert cfg.dram == DramConfig(bandwidth_gbs=0.5)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), True, "12"])
def test_dram_config_rejects_bad_bandwidth(bad):
    with pytest.raises(ConfigError, match="DRAM bandwidth"):
        DramConfig(bandwidth_gbs=bad)


def test_ideal_pipe_cost():
    mem = MemorySystem(DramConfig(bandwidth_gbs=1.0), clock_mhz=500.0, ideal_pj_per_byte=10.0)  # 2 B/cycle
    t = Transfers.of([5, 4, 7], [False, True, False], earliest_cycle=[0, 0, 100])
    cost = transfer_cost(mem, t, per_transfer=True)
    assert cost.dram_cycles == math.ceil(16 / 2) and (cost.read_bytes, cost.write_bytes) == (12, 4)
    assert cost.energy_pj_total == 160.0 and not cost.rows_modelled and cost.row_hits == 0
    # one pipe in order: 5 B done at 2.5 -> 3, 4 more at 4.5 -> 5, the third waits for cycle 100
    assert cost.done_cycle.tolist() == [3, 5, 104]
    assert transfer_cost(mem, t).done_cycle is None


def test_capacity_engine_time_and_energy_come_from_the_seam():
    layer = Layer("c", "conv", 16, 14, 14, 32, 14, 14, 3, 3, pad_h=1, pad_w=1)
    for bw in (0.7, 12.8, 100.0):
        hw = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=4, filter_sram_kb=4, ofmap_sram_kb=4,
                      dram=DramConfig(bandwidth_gbs=bw), clock_mhz=700.0)
        res = simulate(Topology("t", (layer,)), hw)
        lr = res.layers[0]
        bpc = bw * 1e3 / 700.0
        assert lr.extra["dram_cycles"] == math.ceil(lr.dram_words / bpc)  # 1-byte words
        assert lr.total_cycles == max(lr.extra["compute_cycles"], lr.extra["dram_cycles"])
        assert lr.extra["energy_dram_uj"] == lr.dram_words * 162.5 * 1e-6
    assert np.isfinite(res.totals()["energy_uj"])
