"""Hardware: .cfg writing (read back by SCALE-Sim's own parser), .cfg reading (3.0.0 and v2),
clear ConfigErrors, presets and option parsing."""
from __future__ import annotations

from dataclasses import fields

import pytest
from scalesim.scale_config import scale_config

from trafficsim.errors import ConfigError, InputError, TrafficsimWarning
from trafficsim.hardware import (PRESETS, Hardware, ScaleSimConfig, parse_array, parse_sram, preset, read_cfg,
                                 read_scalesim_cfg)

# docs/scalesim-3.0.0.md §3.3: upstream configs/scale.cfg of 3.0.0 (run_name, Dataflow, InterfaceBandwidth set)
SCALESIM_3_CFG = """\
[general]
run_name = scale_example_run_32x32_ws
[architecture_presets]
ArrayHeight: 32
ArrayWidth: 32
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32
[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40
[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# A SCALE-Sim v2 config: no [layout], [sparsity] or UseRamulatorTrace (3.0.0 itself cannot read it)
V2_CFG = """\
[general]
run_name = v2_run

[architecture_presets]
ArrayHeight:    16
ArrayWidth:     8
IfmapSramSzkB:    256
FilterSramSzkB:   128
OfmapSramSzkB:    64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 20,20,20
Dataflow : os
MemoryBanks: 1

[run_presets]
InterfaceBandwidth: {mode}
"""


def write(tmp_path, text, name="x.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return path


def scalesim_reads(tmp_path, hw: Hardware) -> scale_config:
    cfg = scale_config()
    cfg.read_conf_file(str(write(tmp_path, hw.to_cfg(), "ours.cfg")))
    return cfg


@pytest.mark.parametrize("hw", [
    Hardware(),
    Hardware(array_rows=12, array_cols=14, ifmap_sram_kb=36, filter_sram_kb=20, ofmap_sram_kb=8, dataflow="is",
             bandwidth_mode="USER", bandwidth=24, ifmap_dram_bw=40, filter_dram_bw=20, ifmap_offset=5,
             filter_offset=6_000_000, ofmap_offset=9_000_000, ifmap_bank_num=4, filter_bank_num=5,
             ifmap_bank_port=1, filter_bank_port=3, read_request_buffer=16, write_request_buffer=8),
    *PRESETS.values(),
], ids=["default", "custom", *PRESETS])
def test_to_cfg_is_read_by_scalesims_own_parser(tmp_path, hw):
    cfg = scalesim_reads(tmp_path, hw)
    assert cfg.valid_conf_flag
    assert cfg.get_run_name() == "trafficsim"
    assert cfg.get_array_dims() == (hw.array_rows, hw.array_cols)
    assert cfg.get_mem_sizes() == (hw.ifmap_sram_kb, hw.filter_sram_kb, hw.ofmap_sram_kb)
    assert cfg.get_dataflow() == hw.dataflow
    assert (cfg.ifmap_offset, cfg.filter_offset, cfg.ofmap_offset) == (hw.ifmap_offset, hw.filter_offset,
                                                                       hw.ofmap_offset)
    assert cfg.use_user_dram_bandwidth() == (hw.bandwidth_mode == "USER")
    if hw.bandwidth_mode == "USER":
        assert cfg.get_bandwidths_as_list()[0] == hw.bandwidth
    assert (cfg.ifmap_sram_bank_bandwidth, cfg.filter_sram_bank_bandwidth) == (hw.ifmap_dram_bw, hw.filter_dram_bw)
    assert (cfg.ifmap_sram_bank_num, cfg.filter_sram_bank_num) == (hw.ifmap_bank_num, hw.filter_bank_num)
    assert (cfg.ifmap_sram_bank_port, cfg.filter_sram_bank_port) == (hw.ifmap_bank_port, hw.filter_bank_port)
    assert (cfg.req_buf_sz_rd, cfg.req_buf_sz_wr) == (hw.read_request_buffer, hw.write_request_buffer)
    assert not cfg.using_ifmap_custom_layout and not cfg.using_filter_custom_layout
    assert not cfg.sparsity_support and not cfg.use_ramulator_trace
    # and our own reader gives the same Hardware back (fields outside SCALE-Sim's .cfg keep defaults)
    assert read_cfg(tmp_path / "ours.cfg") == hw


def test_read_cfg_reads_scalesim_3_shipped_config(tmp_path):
    hw = read_cfg(write(tmp_path, SCALESIM_3_CFG))
    assert hw == Hardware()
    assert read_scalesim_cfg(tmp_path / "x.cfg") == ScaleSimConfig(hw, "scale_example_run_32x32_ws")
    assert hw.dataflow == "ws" and hw.bandwidth_mode == "CALC" and hw.array == "32x32"


@pytest.mark.parametrize("mode", ["CALC", "USER"])
def test_read_cfg_reads_v2_config_without_layout(tmp_path, mode):
    with pytest.warns(TrafficsimWarning, match="SCALE-Sim v2 config .* which SCALE-Sim 3.0.0 refuses"):
        hw = read_cfg(write(tmp_path, V2_CFG.format(mode=mode)))
    assert (hw.array_rows, hw.array_cols) == (16, 8)
    assert (hw.ifmap_sram_kb, hw.filter_sram_kb, hw.ofmap_sram_kb) == (256, 128, 64)
    assert hw.dataflow == "os" and hw.bandwidth_mode == mode and hw.bandwidth == 20
    with pytest.warns(TrafficsimWarning):
        assert read_scalesim_cfg(tmp_path / "x.cfg").run_name == "v2_run"
    # v2 reads IFMAP/FILTER DRAM at Bandwidth[0] in USER mode; 3.0.0 takes them from [layout]
    expected_read_bw = 20 if mode == "USER" else Hardware().ifmap_dram_bw
    assert hw.ifmap_dram_bw == hw.filter_dram_bw == expected_read_bw


def _one_line_config_error(path) -> str:
    with pytest.raises(ConfigError) as err:
        read_cfg(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


@pytest.mark.parametrize("old, new, expected", [
    ("Dataflow : ws", "Dataflow : WS", "Dataflow must be os, ws or is"),
    ("Dataflow : ws", "Dataflow : rs", "Dataflow must be os, ws or is"),
    ("InterfaceBandwidth: CALC", "InterfaceBandwidth: calc", "InterfaceBandwidth must be CALC or USER"),
    ("InterfaceBandwidth: CALC", "InterfaceBandwidth: EST", "InterfaceBandwidth must be CALC or USER"),
    ("ArrayHeight: 32", "ArrayHeight: 32x", "ArrayHeight must be an integer"),
    ("ArrayHeight: 32\n", "", "missing [architecture_presets] ArrayHeight"),
    ("ArrayWidth: 32", "ArrayWidth: 0", "array_cols must be a positive integer"),
    ("IfmapSramSzkB: 64", "IfmapSramSzkB: -1", "ifmap_sram_kb must be a positive integer"),
    ("[architecture_presets]", "[arch]", "missing section [architecture_presets]"),
    ("[general]", "general", "not a valid .cfg file"),
    ("ArrayWidth: 32", "ArrayWidth: 32\nArrayWidth: 16", "not a valid .cfg file"),
    ("IfmapCustomLayout: False", "IfmapCustomLayout: True", "IfmapCustomLayout = True is not supported"),
    ("SparsitySupport : false", "SparsitySupport : true", "SparsitySupport = true is not supported"),
    ("UseRamulatorTrace: False", "UseRamulatorTrace: True", "UseRamulatorTrace = True is not supported"),
    ("FilterCustomLayout: False", "FilterCustomLayout: maybe", "FilterCustomLayout must be true or false"),
])
def test_invalid_config_is_a_clear_config_error(tmp_path, old, new, expected):
    assert old in SCALESIM_3_CFG
    message = _one_line_config_error(write(tmp_path, SCALESIM_3_CFG.replace(old, new, 1)))
    assert expected in message


def test_user_mode_without_bandwidth_and_missing_file_are_config_errors(tmp_path):
    text = SCALESIM_3_CFG.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER").replace(
        "Bandwidth : 10\n", "")
    assert "Bandwidth is required in USER mode" in _one_line_config_error(write(tmp_path, text))
    assert "no such config file" in _one_line_config_error(tmp_path / "nope.cfg")
    binary = tmp_path / "bin.cfg"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "cannot read config" in _one_line_config_error(binary)


def test_hardware_rejects_bad_values():
    with pytest.raises(ConfigError, match="unknown dataflow 'xs'"):
        Hardware(dataflow="xs")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown bandwidth mode"):
        Hardware(bandwidth_mode="calc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="array_rows must be a positive integer"):
        Hardware(array_rows=0)
    with pytest.raises(ConfigError, match="filter_offset must be a non-negative integer"):
        Hardware(filter_offset=-1)
    with pytest.raises(ConfigError, match="unknown hardware field"):
        Hardware.from_dict({"array_rows": 8, "arrays": 2})


def test_presets_are_valid_and_distinct():
    assert set(PRESETS) >= {"scalesim", "arm-scale", "eyeriss", "tpu"}
    assert preset("scalesim") == Hardware()
    for name, hw in PRESETS.items():
        assert preset(name) is hw
        assert Hardware.from_dict(hw.to_dict()) == hw
    assert (PRESETS["eyeriss"].array_rows, PRESETS["eyeriss"].array_cols) == (12, 14)
    # the measured chip: 100 kB of ifmap/psum banks + 8 kB of filter buffer = its 108 kB global buffer
    chip = PRESETS["eyeriss-chip"]
    assert (chip.array_rows, chip.array_cols, chip.dram.bandwidth_gbs) == (12, 14, 0.48)
    assert chip.ifmap_sram_kb + chip.ofmap_sram_kb == 100 and chip.filter_sram_kb == 8
    assert len(set(PRESETS.values())) == len(PRESETS)
    with pytest.raises(ConfigError, match="unknown preset 'tpu2'"):
        preset("tpu2")


def test_write_cfg_round_trip_of_every_cfg_field(tmp_path):
    hw = Hardware(array_rows=3, array_cols=5, ifmap_sram_kb=7, filter_sram_kb=9, ofmap_sram_kb=11, dataflow="os",
                  bandwidth_mode="USER", bandwidth=13, ifmap_dram_bw=15, filter_dram_bw=17, ifmap_bank_num=5,
                  filter_bank_num=1)
    hw.write_cfg(tmp_path / "rt.cfg", run_name="rt")
    assert read_scalesim_cfg(tmp_path / "rt.cfg") == ScaleSimConfig(hw, "rt")
    assert "run_name" not in {f.name for f in fields(Hardware)}  # a .cfg detail, not hardware
    assert Hardware.from_dict({**hw.to_dict(), "run_name": "old"}) == hw  # summaries written before
    not_in_cfg = {"clock_mhz"}
    assert not_in_cfg < {f.name for f in fields(Hardware)}
    assert "word_bytes" not in {f.name for f in fields(Hardware)}  # the workload's precision (issue 12)


@pytest.mark.parametrize("text, expected", [("32x32", (32, 32)), (" 12 X 14 ", (12, 14)), ((8, 4), (8, 4))])
def test_parse_array(text, expected):
    assert parse_array(text) == expected


@pytest.mark.parametrize("text", ["32x", "x32", "0x4", "32*32", (1, 2, 3)])
def test_parse_array_rejects(text):
    with pytest.raises(InputError):
        parse_array(text)


@pytest.mark.parametrize("text, expected", [("64", (64, 64, 64)), ("512,512,256", (512, 512, 256)), (8, (8, 8, 8))])
def test_parse_sram(text, expected):
    assert parse_sram(text) == expected


@pytest.mark.parametrize("text", ["64,64", "a", "0", "64,-1,2"])
def test_parse_sram_rejects(text):
    with pytest.raises(InputError):
        parse_sram(text)


# ---------------------------------------------------------------------------------------------
# What SCALE-Sim 3.0.0 refuses, we refuse (checked against its own parser), with one line naming the rule
# ---------------------------------------------------------------------------------------------
def _scalesim_refuses(path) -> bool:
    cfg = scale_config()
    try:
        cfg.read_conf_file(str(path))
    except Exception:
        return True
    return not cfg.valid_conf_flag


@pytest.mark.parametrize("old, new, expected", [
    ("run_name = scale_example_run_32x32_ws", "run_name = 50%_run", "'%' must be followed by '%' or '('"),
    ("run_name = scale_example_run_32x32_ws", "run_name = a%(x)s", "interpolation key 'x'"),
    ("ArrayHeight: 32", "ArrayHeight: 3%2", "'%' must be followed"),
    ("ReadRequestBuffer: 32\n", "", "missing [architecture_presets] ReadRequestBuffer (SCALE-Sim 3.0.0 requires it)"),
    ("IfmapSRAMBankNum: 10\n", "", "missing [layout] IfmapSRAMBankNum"),
    ("UseRamulatorTrace: False\n", "", "missing [run_presets] UseRamulatorTrace"),
    ("IfmapCustomLayout: False", "IfmapCustomLayout: yes", "IfmapCustomLayout = yes is not supported"),
])
def test_refused_like_scalesim(tmp_path, old, new, expected):
    assert old in SCALESIM_3_CFG
    path = write(tmp_path, SCALESIM_3_CFG.replace(old, new, 1))
    assert expected in _one_line_config_error(path)
    if "CustomLayout" not in new:  # SCALE-Sim runs custom layouts; we do not model them
        assert _scalesim_refuses(path)


def test_percent_escapes_like_scalesim(tmp_path):
    path = write(tmp_path, SCALESIM_3_CFG.replace("scale_example_run_32x32_ws", "a%%b"))
    cfg = scale_config()
    cfg.read_conf_file(str(path))
    assert read_scalesim_cfg(path).run_name == cfg.get_run_name() == "a%b"
    # a '%' in a key SCALE-Sim never reads changes nothing there or here
    assert read_cfg(write(tmp_path, SCALESIM_3_CFG.replace("BlockSize : 8", "BlockSize : 8%"))) == Hardware()


def test_bom_is_refused_as_scalesim_does(tmp_path):
    path = tmp_path / "bom.cfg"
    path.write_bytes(b"\xef\xbb\xbf" + SCALESIM_3_CFG.encode())
    assert "byte-order mark" in _one_line_config_error(path)
    assert _scalesim_refuses(path)


def test_v2_config_with_a_custom_layout_key_is_refused(tmp_path):
    text = V2_CFG.format(mode="CALC").replace("MemoryBanks: 1", "MemoryBanks: 1\nIfmapCustomLayout: True")
    assert "[architecture_presets] IfmapCustomLayout = True is not supported" in _one_line_config_error(
        write(tmp_path, text))


def test_unknown_keys_are_named_in_a_warning(tmp_path):
    path = write(tmp_path, SCALESIM_3_CFG.replace("MemoryBanks: 1", "MemoryBanks: 1\nArrayDepth: 4"))
    with pytest.warns(TrafficsimWarning, match=r"\[architecture_presets\] arraydepth not known to SCALE-Sim 3.0.0"):
        assert read_cfg(path) == Hardware()


def test_user_bandwidth_not_divisible_by_banks_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="IFMAP read bandwidth 4 words/cycle is not divisible by its 10 SRAM banks"):
        Hardware(bandwidth_mode="USER", ifmap_dram_bw=4)
    with pytest.raises(ConfigError, match="FILTER read bandwidth 15 .* 10 SRAM banks"):
        Hardware(bandwidth_mode="USER", filter_dram_bw=15)
    assert Hardware(bandwidth_mode="USER", ifmap_dram_bw=4, ifmap_bank_num=2).ifmap_dram_bw == 4
    assert Hardware(ifmap_dram_bw=4).bandwidth_mode == "CALC"  # CALC mode never builds those buffers
    text = SCALESIM_3_CFG.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER").replace(
        "IfmapSRAMBankBandwidth: 10", "IfmapSRAMBankBandwidth: 4")
    assert "not divisible by its 10 SRAM banks" in _one_line_config_error(write(tmp_path, text))


def test_config_that_is_not_a_regular_file(tmp_path):
    import os

    fifo = tmp_path / "fifo.cfg"
    os.mkfifo(fifo)
    assert "FIFO" in _one_line_config_error(fifo)  # returns at once instead of blocking
    assert "is a folder" in _one_line_config_error(tmp_path)
    big = tmp_path / "big.cfg"
    big.write_bytes(b"#" * (2 << 20))
    assert "too large" in _one_line_config_error(big)


def test_huge_values_in_a_cfg(tmp_path):
    text = SCALESIM_3_CFG.replace("ArrayHeight: 32", "ArrayHeight: 99999999999999999999")
    assert "int64" in _one_line_config_error(write(tmp_path, text))
