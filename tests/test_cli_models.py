"""`trafficsim list`, `info` and `convert`: output, exit codes, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from trafficsim.cli import main
from trafficsim.topology import read_csv, topology_csv_text
from trafficsim.zoo.cache import model_topology


def run_cli(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_list(capsys):
    rc, out, err = run_cli(["list"], capsys)
    assert rc == 0, err
    assert "hardnet68" in out and "17,565,348" in out and "11.47 M" in out  # exact params and CIO
    assert "llama3_8b" in out and "8,030,261,248" in out and "decode" not in out
    rc, out, _ = run_cli(["list", "resnet*", "--json"], capsys)
    rows = json.loads(out)
    assert rc == 0 and {r["model"] for r in rows} >= {"resnet18", "resnet50_v1"}
    r18 = next(r for r in rows if r["model"] == "resnet18")
    assert r18["params"] == 11_689_512 and r18["cio"] == pytest.approx(4.666e6, abs=1e3)


def test_info_json(capsys):
    rc, out, err = run_cli(["info", "hardnet39ds", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"model", "params", "macs", "cio", "layers"}
    assert doc["model"] == "hardnet39ds" and doc["params"] == 3_488_228
    assert isinstance(doc["macs"], int) and doc["cio"] == pytest.approx(8.219e6, abs=1e3)
    assert len(doc["layers"]) == 75 and doc["layers"][0]["in_shape"] == [3, 224, 224]
    assert sum(r["cio"] for r in doc["layers"]) == doc["cio"]


def test_info_table_and_input(capsys):
    rc, out, err = run_cli(["info", "resnet18", "--input", "3x32x32"], capsys)
    assert rc == 0, err
    assert "resnet18 (3x32x32)" in out and "layer4.1.conv2" in out and "params 11.69 M" in out


def test_convert_csv_and_gemm(tmp_path, capsys):
    out_csv = tmp_path / "h.csv"
    rc, _, err = run_cli(["convert", "hardnet68", "-o", str(out_csv)], capsys)
    assert rc == 0, err
    assert out_csv.read_text() == topology_csv_text(model_topology("hardnet68"))
    rc, out, _ = run_cli(["convert", "mobilenet_v2", "--format", "gemm"], capsys)
    assert rc == 0 and out.startswith("Layer Name, M, N, K,")
    # a CSV converts too (here conv -> gemm)
    rc, _, err = run_cli(["convert", str(out_csv), "--format", "gemm", "-o", str(tmp_path / "g.csv")], capsys)
    assert rc == 0, err
    assert read_csv(tmp_path / "g.csv").layers[0].kind == "gemm"


def test_convert_user_model(tmp_path, capsys):
    f = tmp_path / "net.py"
    f.write_text(textwrap.dedent("""
        import torch, torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 8, 3, stride=2, padding=1)
                self.b = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            def forward(self, x):
                return self.b(self.a(x))
    """))
    rc, out, err = run_cli(["convert", f"{f}:Net", "--input", "3x16x16"], capsys)
    assert rc == 0, err
    assert out.splitlines()[1:] == ["a,17,17,3,3,3,8,2,", "b_DP,10,10,3,3,8,1,1,"]


@pytest.mark.parametrize("argv,needle", [
    (["info", "resnet9"], "did you mean"),
    (["info", "resnet18", "--input", "3x224"], "CxHxW"),
    (["info", "resnet18", "--input", "3x0x224"], "CxHxW"),
    (["convert", "resnet18", "--format", "xyz"], "conv or gemm"),
    (["convert", "nofile.py:Net"], "no such file"),
])
def test_bad_input_one_line(argv, needle, capsys):
    rc, out, err = run_cli(argv, capsys)
    assert rc != 0
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_csv_subprocess(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer name, IFMAP Height,\nc1,8,8,3,3,3,4,1\n")
    p = subprocess.run([sys.executable, "-m", "trafficsim", "info", str(bad)], capture_output=True, text=True)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr and f"{bad}:2" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_info_on_csv(tmp_path, capsys):
    csv = tmp_path / "two.csv"
    csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                   "Strides,\nc1,10,10,3,3,4,8,1,\nc2DP,8,8,3,3,8,1,2,\n")
    rc, out, err = run_cli(["info", str(csv), "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert [r["name"] for r in doc["layers"]] == ["c1", "c2DP"]
    assert doc["layers"][0]["macs"] == 8 * 8 * 9 * 4 * 8 and doc["cio"] == (400 + 512) + (512 + 4 * 4 * 1)
    rc, _, err = run_cli(["info", str(csv), "--input", "3x8x8"], capsys)
    assert rc != 0 and "--input applies to models" in err
