"""`trafficsim list`, `info` and `convert`: output, exit codes, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from trafficsim.topology import read_csv, topology_csv_text
from trafficsim.zoo.cache import model_topology


def test_list(cli):
    rc, out, err = cli(["list"])
    assert rc == 0, err
    assert "hardnet68" in out and "17,565,348" in out and "11.47 M" in out  # exact params and CIO
    assert "llama3_8b" in out and "8,030,261,248" in out and "decode" not in out
    rc, out, _ = cli(["list", "resnet*", "--json"])
    rows = json.loads(out)
    assert rc == 0 and {r["model"] for r in rows} >= {"resnet18", "resnet50_v1"}
    r18 = next(r for r in rows if r["model"] == "resnet18")
    assert r18["params"] == 11_689_512 and r18["cio"] == pytest.approx(4.666e6, abs=1e3)


def test_info_json(cli):
    rc, out, err = cli(["info", "hardnet39ds", "--json"])
    assert rc == 0, err
    doc = json.loads(out)
    assert set(doc) >= {"model", "params", "macs", "cio", "layers"}
    assert doc["model"] == "hardnet39ds" and doc["params"] == 3_488_228
    assert isinstance(doc["macs"], int) and doc["cio"] == pytest.approx(8.219e6, abs=1e3)
    assert len(doc["layers"]) == 75 and doc["layers"][0]["in_shape"] == [3, 224, 224]
    assert sum(r["cio"] for r in doc["layers"]) == doc["cio"]


def test_info_table_and_input(cli):
    rc, out, err = cli(["info", "resnet18", "--input", "3x32x32"])
    assert rc == 0, err
    assert "resnet18 (3x32x32)" in out and "layer4.1.conv2" in out and "params 11.69 M" in out


def test_convert_csv_and_gemm(tmp_path, cli):
    out_csv = tmp_path / "h.csv"
    rc, _, err = cli(["convert", "hardnet68", "-o", str(out_csv)])
    assert rc == 0, err
    assert out_csv.read_text() == topology_csv_text(model_topology("hardnet68"))
    rc, out, _ = cli(["convert", "mobilenet_v2", "--format", "gemm"])
    assert rc == 0 and out.startswith("Layer Name, M, N, K,")
    # a CSV converts too (here conv -> gemm)
    rc, _, err = cli(["convert", str(out_csv), "--format", "gemm", "-o", str(tmp_path / "g.csv")])
    assert rc == 0, err
    assert read_csv(tmp_path / "g.csv").layers[0].kind == "gemm"


def test_convert_user_model(tmp_path, cli):
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
    rc, out, err = cli(["convert", f"{f}:Net", "--input", "3x16x16"])
    assert rc == 0, err
    assert out.splitlines()[1:] == ["a,17,17,3,3,3,8,2,", "b_DP,10,10,3,3,8,1,1,"]


@pytest.mark.parametrize("argv,needle", [
    (["info", "resnet9"], "did you mean"),
    (["info", "resnet18", "--input", "3x224"], "CxHxW"),
    (["info", "resnet18", "--input", "3x0x224"], "CxHxW"),
    (["convert", "resnet18", "--format", "xyz"], "conv or gemm"),
    (["convert", "nofile.py:Net"], "no such file"),
])
def test_bad_input_one_line(argv, needle, cli):
    rc, out, err = cli(argv)
    assert rc != 0
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_csv_subprocess(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer name, IFMAP Height,\nc1,8,8,3,3,3,4,1\n")
    p = subprocess.run([sys.executable, "-m", "trafficsim", "info", str(bad)], capture_output=True, text=True)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr and f"{bad}:2" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_info_on_csv(tmp_path, cli):
    csv = tmp_path / "two.csv"
    csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                   "Strides,\nc1,10,10,3,3,4,8,1,\nc2DP,8,8,3,3,8,1,2,\n")
    rc, out, err = cli(["info", str(csv), "--json"])
    assert rc == 0, err
    doc = json.loads(out)
    assert [r["name"] for r in doc["layers"]] == ["c1", "c2DP"]
    assert doc["layers"][0]["macs"] == 8 * 8 * 9 * 4 * 8 and doc["cio"] == (400 + 512) + (512 + 4 * 4 * 1)
    rc, _, err = cli(["info", str(csv), "--input", "3x8x8"])
    assert rc != 0 and "--input applies to models" in err


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_tables_fit_80_columns_and_keep_names_whole(cli, monkeypatch):
    from trafficsim.zoo import list_models

    monkeypatch.setenv("COLUMNS", "80")
    rc, out, err = cli(["list"])
    assert rc == 0, err
    assert _widest(out) <= 80
    listed = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert listed == set(list_models())  # every name whole, none cut to "fc_densene…"
    rc, out, err = cli(["info", "densenet121"])
    assert rc == 0, err
    assert _widest(out) <= 80 and "…" not in out
    names = [r["name"] for r in json.loads(cli(["info", "densenet121", "--json"]).out)["layers"]]
    shown = {line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│")}
    assert set(names) <= shown and "left out to fit 80 columns" in out


def test_info_shows_pool_add_concat_ops(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rc, out, err = cli(["info", "resnet18"])
    assert rc == 0, err
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    kinds = {r[2] for r in rows}
    assert {"conv", "maxpool", "add", "avgpool"} <= kinds
    assert "resnet18: 21 layers and" in out and " ops" in out
    doc = json.loads(cli(["info", "densenet121", "--json"]).out)
    assert {o["kind"] for o in doc["ops"]} >= {"concat", "maxpool", "avgpool"}
