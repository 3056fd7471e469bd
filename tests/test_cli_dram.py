"""`trafficsim dram TRACE`: the table and JSON outputs, Ramulator config files, and bad input
(one line on stderr, non-zero exit, no traceback, nothing written)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from trafficsim.cli import main

SHIPPED_CFGS = {
    # Ramulator v1's configs/*.cfg memory keys (the CPU-mode keys they also hold are ignored)
    "DDR4-config.cfg": "standard = DDR4\nchannels = 1\nranks = 1\nspeed = DDR4_2400R\norg = DDR4_4Gb_x8\n",
    "LPDDR4-config.cfg": "standard = LPDDR4\nchannels = 2\nranks = 1\nspeed = LPDDR4_2400\norg = LPDDR4_8Gb_x16\n",
    "HBM-config.cfg": "standard = HBM\nchannels = 8\nranks = 1\nspeed = HBM_1Gbps\norg = HBM_4Gb\n",
}
CPU_KEYS = ("record_cmd_trace = off\nprint_cmd_trace = off\ncpu_tick = 8\nmem_tick = 3\nearly_exit = on\n"
            "expected_limit_insts = 200000000\nwarmup_insts = 0\ncache = no\ntranslation = None\n")


def run_cli(args, capsys):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture()
def trace(tmp_path: Path) -> Path:
    p = tmp_path / "t.trace"
    p.write_text("".join(f"0x{i * 64:x} {'W' if i % 3 == 0 else 'R'}\n" for i in range(500)))
    return p


def test_table_fits_80_columns(trace, capsys):
    rc, out, err = run_cli(["dram", trace, "--standard", "ddr4-3200"], capsys)
    assert rc == 0, err
    assert "DRAM cycles" in out and "row hits" in out and "row conflicts" in out
    assert max(len(line) for line in out.splitlines()[1:]) <= 80


def test_json_keys_and_pandas(trace, capsys):
    rc, out, err = run_cli(["dram", trace, "--standard", "lpddr4-3200", "--json", "-q"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    for k in ("dram_cycles", "row_hits", "row_misses", "row_conflicts", "read_bytes", "write_bytes"):
        assert isinstance(d[k], int)
    assert d["read_bytes"] + d["write_bytes"] == 500 * 64
    df = pd.read_json(io.StringIO("[" + out + "]"))
    assert df.loc[0, "dram_cycles"] == d["dram_cycles"]


@pytest.mark.parametrize("name", sorted(SHIPPED_CFGS))
def test_ramulator_shipped_configs_work_as_they_are(tmp_path, trace, capsys, name):
    cfg = tmp_path / name
    cfg.write_text("########################\n# Example config file\n" + SHIPPED_CFGS[name] + CPU_KEYS)
    rc, out, err = run_cli(["dram", trace, "--standard", cfg, "--json", "-q"], capsys)
    assert rc == 0, err
    d = json.loads(out)
    assert d["channels"] == int(SHIPPED_CFGS[name].split("channels = ")[1].split()[0])
    assert "/" in d["standard"]          # a Ramulator speed bin / org, not our preset


def test_notes_for_unterminated_last_line(tmp_path, capsys):
    p = tmp_path / "u.trace"
    p.write_text("0x0 R\n0x40 R")
    rc, out, err = run_cli(["dram", p, "--json"], capsys)
    assert rc == 0
    assert json.loads(out)["reads"] == 2
    assert "final newline" in err


def _bad(args, capsys, tmp_path, needle):
    before = sorted(os.listdir(tmp_path))
    rc, out, err = run_cli(args, capsys)
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1, err
    assert lines[0].startswith("trafficsim: error:")
    assert needle in lines[0], lines[0]
    assert sorted(os.listdir(tmp_path)) == before
    return lines[0]


@pytest.mark.parametrize("extra,needle", [
    (["--standard", "ddr9-9999"], "unknown DRAM standard"),
    (["--standard", "ideal"], "ideal"),
    (["--timings", "nRC=10"], "tRC"),
    (["--timings", "nCL:20"], "name=cycles"),
    (["--channels", "3"], "power of two"),
    (["--channels", "0"], "positive"),
    (["--ranks", "-2"], "positive"),
    (["--page-policy", "half"], "page-policy"),
    (["--mapping", "RoRoRo"], "mapping"),
    (["--backend", "dramsim"], "backend"),
    (["--standard", "DDR4_2400R", "--org", "DDR4_1Gb_x2"], "org"),
])
def test_bad_options(tmp_path, trace, capsys, extra, needle):
    _bad(["dram", trace, *extra], capsys, tmp_path, needle)


def test_malformed_line_names_file_and_line(tmp_path, capsys):
    p = tmp_path / "bad.trace"
    p.write_text("0x0 R\n0x40 W\n0x80 Q\n")
    line = _bad(["dram", p], capsys, tmp_path, "bad.trace:3:")
    assert "0x80 Q" in line


def test_fifo_devzero_folder_missing(tmp_path, capsys):
    fifo = tmp_path / "pipe.trace"
    os.mkfifo(fifo)
    _bad(["dram", fifo], capsys, tmp_path, "FIFO")
    _bad(["dram", "/dev/zero"], capsys, tmp_path, "/dev/zero")
    _bad(["dram", tmp_path], capsys, tmp_path, "folder")
    _bad(["dram", tmp_path / "nope.trace"], capsys, tmp_path, "no such")


def test_huge_trace_refused(tmp_path, capsys):
    big = tmp_path / "huge.trace"
    with open(big, "wb") as f:          # sparse: takes no disk space
        f.truncate(600 * 2**20)
    _bad(["dram", big], capsys, tmp_path, "too large")


@pytest.mark.parametrize("text,needle", [
    ("standard = DDR3\nchannels = 1\nranks = 1\nspeed = DDR3_1600K\norg = DDR3_2Gb_x8\n", "not modelled"),
    ("standard = DDR4\nchannels = 1\nranks = 1\nspeed = DDR4_9999\norg = DDR4_4Gb_x8\n", "speed"),
    ("standard = DDR4\nchannels = x\nranks = 1\nspeed = DDR4_2400R\norg = DDR4_4Gb_x8\n", "channels"),
    ("standard = DDR4\nchannels = 3\nranks = 1\nspeed = DDR4_2400R\norg = DDR4_4Gb_x8\n", "power of two"),
    ("standard = DDR4\nchannels = 1 2\n", "key = value"),
    ("standard = DDR4\nranks = 1\nspeed = DDR4_2400R\norg = DDR4_4Gb_x8\n", "missing key 'channels'"),
])
def test_bad_ramulator_cfg(tmp_path, trace, capsys, text, needle):
    cfg = tmp_path / "m.cfg"
    cfg.write_text(text)
    _bad(["dram", trace, "--standard", cfg], capsys, tmp_path, needle)


def test_ramulator_backend_without_binary(tmp_path, trace, capsys, monkeypatch):
    monkeypatch.delenv("TRAFFICSIM_RAMULATOR", raising=False)
    _bad(["dram", trace, "--standard", "DDR4_2400R", "--backend", "ramulator"], capsys, tmp_path,
         "TRAFFICSIM_RAMULATOR")
    monkeypatch.setenv("TRAFFICSIM_RAMULATOR", str(tmp_path / "nothing"))
    _bad(["dram", trace, "--standard", "DDR4_2400R", "--backend", "ramulator"], capsys, tmp_path,
         "not an executable")


@pytest.mark.skipif(not os.environ.get("TRAFFICSIM_RAMULATOR"), reason="needs a Ramulator v1 binary in $TRAFFICSIM_RAMULATOR")
def test_ramulator_backend_agrees_with_the_model(tmp_path, capsys):
    p = tmp_path / "m.trace"
    p.write_text("".join(f"0x{(i * 7919 % 4096) * 64:x} {'W' if i % 4 == 0 else 'R'}\n" for i in range(3000)))
    rc, out, err = run_cli(["dram", p, "--standard", "DDR4_2400R", "--json", "-q", "--backend", "ramulator"], capsys)
    assert rc == 0, err
    ram = json.loads(out)
    rc, out, err = run_cli(["dram", p, "--standard", "DDR4_2400R", "--json", "-q"], capsys)
    model = json.loads(out)
    for k in ("dram_cycles", "row_hits", "row_misses", "row_conflicts", "read_bytes", "write_bytes"):
        assert model[k] == ram[k], k
