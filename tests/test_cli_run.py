"""`trafficsim run`: bad input gives one line and a non-zero exit with nothing written; a good run
writes a complete run folder that pandas and json read."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

BAD_OPTIONS = [
    (["--array", "32x"], "32x"),
    (["--array", "0x32"], "positive"),
    (["--array", "-4x4"], "-4x4"),
    (["--sram", "0"], "positive"),
    (["--sram", "64,64"], "three"),
    (["--sram", "abc"], "integers"),
    (["--dataflow", "xs"], "dataflow"),
    (["--engine", "magic"], "engine"),
    (["--bandwidth", "0"], "bandwidth"),
    (["--preset", "gpu"], "preset"),
    (["--word-bytes", "0"], "word-bytes"),
    (["--activations", "sometimes"], "activations"),
    (["--engine", "compat", "--activations", "unfused"], "--engine capacity"),
]


@pytest.mark.parametrize("extra,needle", BAD_OPTIONS)
def test_bad_options_one_line_no_folder(tmp_path, small_csv, cli, extra, needle):
    out_dir = tmp_path / "reports"
    rc, _, err = cli(["run", str(small_csv), "--out", str(out_dir), *extra])
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1, err
    assert lines[0].startswith("trafficsim: error:")
    assert needle in lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir())


BAD_CSVS = [
    ("header\nc1,10,10,3,3,4,8\n", "trailing comma"),
    ("header\nc1,10,10,3,3,4,8,x,\n", "Strides must be an integer"),
    ("header\nc1,10,10,3,3,4,\n", "expected 8 fields"),
    ("header\nc1,4,4,5,5,4,8,1,\n", "larger than"),
    ("header\nc1,10,10,3,3,0,8,1,\n", "Channels must be positive"),
    ("header\nc1,10,10,3,3,4,8,1,1:2,9,\n", "extra field"),
    ("header\nL1,1000000000000000000000000000000,8,3,3,4,4,1,\n", "int64"),
    ("header\nc1,10,10,3,3,4,8,1,0:0,\n", "1 <= N <= M"),
    ("header\nc1,10,10,3,3,4,8,1,5:4,\n", "1 <= N <= M"),
    ("header\nc\x001,10,10,3,3,4,8,1,\n", "control character"),
    ("", "empty"),
]


@pytest.mark.parametrize("text,needle", BAD_CSVS)
def test_malformed_csv_names_file_and_line(tmp_path, cli, text, needle):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    rc, _, err = cli(["run", str(p), "--out", str(tmp_path / "reports")])
    assert rc == 1
    assert "Traceback" not in err
    assert err.count("\n") == 1 and needle in err
    if text:
        assert err.count(f"{p}:2") == 1  # the location once, not "x.csv:2: x.csv:2: ..."
    assert not (tmp_path / "reports").exists()


def test_malformed_cfg(tmp_path, small_csv, cli):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("[architecture_presets]\nArrayHeight: 32\nArrayWidth: x\n")
    rc, _, err = cli(["run", str(small_csv), "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert rc == 1 and "ArrayWidth" in err and "Traceback" not in err
    cfg.write_text("[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\n"
                   "OfmapSramSzkB: 64\nDataflow: xs\n[run_presets]\nInterfaceBandwidth: CALC\n")
    rc, _, err = cli(["run", str(small_csv), "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert rc == 1 and "Dataflow" in err


def test_missing_files(tmp_path, cli):
    rc, _, err = cli(["run", str(tmp_path / "nope.csv")])
    assert rc == 1 and "no such topology file" in err
    rc, _, err = cli(["run", str(tmp_path / "nope.csv"), "--config", str(tmp_path / "nope.cfg")])
    assert rc == 1 and "no such config file" in err


@pytest.mark.slow
def test_run_folder_with_reference_engine(tmp_path, small_csv, cli):
    out_dir = tmp_path / "reports"
    rc, out, err = cli(["run", str(small_csv), "--array", "8x8", "--engine", "scalesim", "--out", str(out_dir)])
    assert rc == 0, err
    assert "DRAM total" in out
    folders = list(out_dir.iterdir())
    assert [f.name for f in folders] == ["small-8x8-ws-64.64.64kB-scalesim"]  # no temp folders left
    folder = folders[0]
    for name in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "layers.csv",
                 "summary.json", "topology.csv", "hardware.cfg"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    totals = summary["totals"]
    for key in ("total_cycles", "stall_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
                "dram_bytes"):
        assert isinstance(totals[key], int)
    layers = pd.read_csv(folder / "layers.csv")
    assert list(layers["layer"]) == ["c1", "c2DP"]
    assert list(layers["scalesim_rows"]) == [1, 3]  # SCALE-Sim expands the DP layer per channel
    assert layers["dram_words"].sum() == totals["dram_ifmap_reads"] + totals["dram_filter_reads"] + totals["dram_ofmap_writes"]
    compute = (folder / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert len(compute) == 1 + 4
    # re-running replaces the folder in place
    rc, _, _ = cli(["run", str(small_csv), "--array", "8x8", "--engine", "scalesim", "--out", str(out_dir), "-q"])
    assert rc == 0 and [f.name for f in out_dir.iterdir()] == [folder.name]


def test_v2_config_runs_with_one_warning_line(tmp_path, small_csv, cli):
    cfg = tmp_path / "v2.cfg"
    cfg.write_text("[general]\nrun_name = v2\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\n"
                   "IfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: os\n"
                   "[run_presets]\nInterfaceBandwidth: CALC\n")
    rc, out, err = cli(["run", small_csv, "--config", cfg, "--no-write", "-q"])
    assert rc == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trafficsim: warning:") and "SCALE-Sim v2 config" in lines[0]


@pytest.mark.parametrize("extra, needle", [
    (["--array", "99999999999999999999x1"], "int64"),
    (["--sram", "99999999999999999999"], "int64"),
    (["--input", ""], "input shape ''"),
    (["--bandwidth-gbs", "inf"], "--bandwidth-gbs"),
    (["--clock-mhz", "inf"], "--clock-mhz"),
    (["--clock-mhz", "nan"], "--clock-mhz"),
    (["--bandwidth", "4"], "not divisible by its 10 SRAM banks"),
    (["--engine", "capacity", "--energy", "dram=inf"], "finite"),
    (["--engine", "capacity", "--energy", "mac=nan"], "finite"),
])
def test_huge_and_non_finite_options(tmp_path, cli, extra, needle):
    out_dir = tmp_path / "reports"
    model = ["resnet18"] if extra[0] == "--input" else [str(Path(__file__).parent.parent / "topologies" / "resnet18.csv")]
    line = cli(["run", *model, "--out", out_dir, *extra]).error_line()
    assert needle in line
    assert not out_dir.exists()


# ---------------------------------------------------------------------------------------------
# Output-side failures: one line, non-zero exit, nothing written (run and convert)
# ---------------------------------------------------------------------------------------------
@pytest.fixture()
def out_places(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    adir = tmp_path / "adir"
    adir.mkdir()
    return afile, adir


@pytest.mark.parametrize("target, needle", [
    ("afile", "exists and is not a folder"),
    ("afile/sub", "is a file, not a folder"),
    ("/dev/null", "exists and is not a folder"),
])
def test_run_out_that_cannot_be_a_folder(tmp_path, small_csv, cli, out_places, target, needle):
    out = target if target.startswith("/") else tmp_path / target
    line = cli(["run", small_csv, "--array", "8x8", "--out", out]).error_line()
    assert needle in line
    assert out_places[0].read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile", "small.csv"]


@pytest.mark.parametrize("target, needle", [
    ("adir", "is a folder, not a file"),
    ("afile/sub.csv", "afile"),
    ("/dev/null", "not a regular file"),
])
def test_convert_out_that_cannot_be_a_file(tmp_path, cli, out_places, target, needle):
    out = target if target.startswith("/") else tmp_path / target
    line = cli(["convert", "resnet18", "-o", out]).error_line()
    assert needle in line
    assert out_places[0].read_text() == "keep me\n" and not any(out_places[1].iterdir())


@pytest.fixture()
def read_only_dir(tmp_path):
    """A folder nobody can write: a read-only tmpfs for root (permissions do not stop root), else mode 555."""
    import os
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        yield ro
        ro.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)


def test_read_only_output_folder(small_csv, cli, read_only_dir):
    line = cli(["run", small_csv, "--array", "8x8", "--out", read_only_dir / "reports"]).error_line()
    assert "read-only" in line or "not writable" in line
    line = cli(["convert", small_csv, "-o", read_only_dir / "x.csv"]).error_line()
    assert str(read_only_dir) in line
    assert not any(read_only_dir.iterdir())


@pytest.mark.parametrize("command", ["run", "convert"])
def test_full_disk_is_one_line(tmp_path, small_csv, cli, command):
    """A file size limit (RLIMIT_FSIZE) stands in for a full disk: every write past 200 bytes fails."""
    import resource
    import subprocess
    import sys

    def args(out):
        if command == "run":
            return ["run", str(small_csv), "--array", "8x8", "--out", str(out), "-q"]
        return ["convert", "resnet18", "-o", str(out)]

    assert cli(args(tmp_path / "warm" / "x.json")).rc == 0  # compiles the kernel (numba caches) first

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    p = subprocess.run([sys.executable, "-m", "trafficsim", *args(tmp_path / "out" / "x.json")], capture_output=True, text=True, timeout=600,
                       preexec_fn=limit)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trafficsim: error:"), p.stderr
    leftovers = [q for q in tmp_path.rglob("*") if q.is_file() and "warm" not in q.parts and q != small_csv]
    assert not leftovers, leftovers


def test_user_models_of_two_files_get_two_run_folders_and_their_source(tmp_path, cli, user_model_file):
    net = """
    import torch.nn as nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, {k}, 3))
    """
    a = user_model_file(net.format(k=8), "net.py")
    b = user_model_file(net.format(k=16), "nets/attn.py")
    out = tmp_path / "reports"
    folders = []
    for path in (a, b):
        rc, stdout, err = cli(["run", f"{path}:model", "--input", "3x12x12", "--array", "8x8", "--out", out, "-q"])
        assert rc == 0, err
        folders.append(Path(stdout.strip()))
    assert folders[0] != folders[1]  # named after the file too (runs.py's rule)
    assert folders[0].name.startswith("net") and folders[1].name.startswith("attn")
    for folder, path in zip(folders, (a, b)):
        source = json.loads((folder / "summary.json").read_text())["meta"]["source"]
        assert source == {"kind": "user", "spec": f"{path}:model", "path": str(path.resolve()), "attr": "model",
                          "input_shape": [3, 12, 12]}


def test_activations_are_counted_fused_or_charged(tmp_path, cli, user_model_file):
    net = user_model_file("""
    import torch.nn as nn
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 8, 3), nn.GELU())
    """)
    out = tmp_path / "reports"
    totals = {}
    for mode in ("fused", "unfused"):
        rc, stdout, err = cli(["run", f"{net}:model", "--input", "3x12x12", "--array", "8x8", "--engine", "capacity",
                               "--activations", mode, "--out", out])
        assert rc == 0, err
        assert ("3 activations/BN fused" if mode == "fused" else "3 activations/BN charged") in stdout
        folder = next(p for p in out.iterdir() if (mode == "unfused") == ("unfusedact" in p.name))
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["op_counts"] == {"activation": 2, "batchnorm": 1}
        assert summary["meta"]["network_ops"][f"activations_{'charged' if mode == 'unfused' else 'fused'}"] == 3
        totals[mode] = summary["totals"]["dram_bytes"]
    # BN and ReLU read and write 4x10x10, GELU 8x8x8 (1-byte words)
    assert totals["unfused"] - totals["fused"] == 2 * 2 * 400 + 2 * 512


def test_help_shows_the_hardware_defaults(cli):
    rc, out, _ = cli(["run", "--help"])
    assert rc == 0
    text = " ".join(out.replace("│", " ").split())
    for default in ("[default: 32x32]", "[default: ws]", "[default: 64,64,64]", "[default: calc]",
                    "[default: 12.8]", "[default: 1000]", "[default: scalesim]"):
        assert default in text, default


@pytest.mark.slow
def test_validate_example_of_the_readme_and_help(cli, monkeypatch):
    """The example `trafficsim validate --help` and the README give exists and passes (the real SCALE-Sim)."""
    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    rc, out, _ = cli(["validate", "--help"])
    text = " ".join(out.replace("│", " ").split())
    assert "trafficsim validate examples/tiny.csv --array 8x8" in text
    assert "trafficsim validate examples/tiny.csv --array 8x8" in (root / "README.md").read_text()
    rc, out, err = cli(["validate", "examples/tiny.csv", "--array", "8x8", "-q"])
    assert rc == 0, out + err
    assert "all 20 layers x" in out and "fields equal" in out


def test_piped_run_prints_the_summary(tmp_path, small_csv):
    """Output to a pipe (not a terminal) still gets the summary table and the run folder line."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "trafficsim", "run", str(small_csv), "--array", "8x8", "--out",
                        str(tmp_path / "reports")], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "total cycles" in p.stdout and "DRAM total" in p.stdout
    folder = next((tmp_path / "reports").iterdir())
    assert f"run folder {folder}" in p.stdout.replace("\n", "")  # the path unbroken
