"""SCALE-Sim CSV round trips and import quirks, and the exported IFMAP sizes of every zoo model."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trafficsim.errors import TopologyError
from trafficsim.topology import (expand_dp, layer_scalesim_rows, read_csv, scalesim_out_size, scalesim_rows,
                                 topology_csv_text)
from trafficsim.zoo import list_models
from trafficsim.zoo.cache import model_topology

ZOO = list_models()


@pytest.mark.parametrize("name", ZOO)
def test_conv_csv_round_trip(name, tmp_path):
    text = topology_csv_text(model_topology(name), "conv")
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    again = read_csv(path)
    assert topology_csv_text(again, "conv") == text
    assert again.name == name
    # the re-read topology gives SCALE-Sim the same rows, DP expansion included
    assert [(r.name, r.channels, r.num_filters, r.out_h) for r in expand_dp(scalesim_rows(again))] == \
           [(r.name, r.channels, r.num_filters, r.out_h) for r in expand_dp(scalesim_rows(model_topology(name)))]


@pytest.mark.parametrize("name", ["hardnet68ds", "mobilenet_v2", "resnet18"])
def test_gemm_csv_round_trip(name, tmp_path):
    t = model_topology(name)
    text = topology_csv_text(t, "gemm")
    path = tmp_path / "g.csv"
    path.write_text(text)
    again = read_csv(path)  # format told by the header
    assert all(layer.kind == "gemm" for layer in again.layers)
    assert topology_csv_text(again, "gemm") == text
    # one GEMM row per SCALE-Sim row after DP expansion, with the same MACs
    rows = expand_dp(scalesim_rows(t))
    assert len(again.layers) == len(rows)
    assert sum(layer.macs for layer in again.layers) == sum(r.macs for r in rows)


@pytest.mark.parametrize("name", ZOO)
def test_exported_ifmap_gives_real_output_size(name):
    """SCALE-Sim's ceil((H - R + s) / s) on the exported IFMAP equals the model's output size, for every
    row of every layer, and SCALE-Sim's MAC count equals the model's for non-dilated, non-transposed convs."""
    t = model_topology(name)
    for i, layer in enumerate(t.layers):
        rows = layer_scalesim_rows(layer, i)
        for r in rows:
            assert (r.out_h, r.out_w) == (layer.out_h, layer.out_w), (name, layer.name)
            assert scalesim_out_size(r.ifmap_h, r.filter_h, r.stride) == layer.out_h
        if not layer.transposed and layer.dilation_h == layer.dilation_w == 1:
            assert sum(r.macs for r in expand_dp(rows)) == layer.macs, (name, layer.name)


def test_import_quirks(tmp_path):
    path = tmp_path / "quirky.csv"
    path.write_text(
        "whatever the header says, it is skipped,\n"
        "\n"
        " conv1 , 224 , 224 , 7 , 7 , 3 , 64 , 2 ,\n"     # spaces around values
        "c2DP,9,9,3,3,3,1,2,\n"                           # DP: SCALE-Sim's per-channel expansion
        "sparse,8,8,1,1,16,4,1,2:4,\n"                     # v3 sparsity column
        "\n")
    t = read_csv(path, fmt="conv")
    assert [layer.name for layer in t.layers] == ["conv1", "c2DP", "sparse"]
    c1 = t.layers[0]
    assert (c1.in_h, c1.kernel_h, c1.stride_h, c1.out_h) == (224, 7, 2, 110)  # SCALE-Sim's ceil, no padding
    assert t.layers[2].sparsity == "2:4"
    rows = expand_dp(scalesim_rows(t))
    assert [r.name for r in rows] == ["conv1", "c2DPChannel_0", "c2DPChannel_1", "c2DPChannel_2", "sparse"]
    assert all(r.channels == 1 and r.num_filters == 1 for r in rows[1:4])
    text = topology_csv_text(t)
    assert text.splitlines()[2] == "c2DP,9,9,3,3,3,1,2,"
    assert text.splitlines()[3] == "sparse,8,8,1,1,16,4,1,2:4,"
    assert all(line.endswith(",") for line in text.splitlines())


def test_gemm_import(tmp_path):
    path = tmp_path / "mnk.csv"
    path.write_text("Layer Name, M, N, K,\nTest 1, 256, 128, 64,\nfc,1,1000,512,1:2,\n")
    t = read_csv(path)
    assert [layer.kind for layer in t.layers] == ["gemm", "gemm"]
    assert t.layers[0].macs == 256 * 128 * 64 and t.layers[1].sparsity == "1:2"
    (row,) = layer_scalesim_rows(t.layers[0])
    # SCALE-Sim's mapping: [H=M, W=K, R=1, S=K, C=1, Kf=N, s=1]
    assert (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.num_filters, row.stride) == \
           (256, 64, 1, 64, 1, 128, 1)


@pytest.mark.parametrize("body,match", [
    ("c1,8,8,3,3,3,4,1\n", "trailing comma"),
    ("c1,8,8,3,3,3,4,\n", "expected 8 fields"),
    ("c1,8,8,3,3,x,4,1,\n", "Channels must be an integer"),
    ("c1,8,8,9,9,3,4,1,\n", "larger than the IFMAP"),
    ("c1,8,8,3,3,3,4,1,junk,\n", "extra field"),
    ("c1,8,8,3,3,0,4,1,\n", "must be positive"),
])
def test_bad_rows_name_file_and_line(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\n" + body)
    with pytest.raises(TopologyError, match=match) as e:
        read_csv(path)
    assert f"{path}:2" in str(e.value) and "\n" not in str(e.value)


def test_trailing_comment_after_the_last_comma_as_scalesim(tmp_path):
    """SCALE-Sim drops whatever follows a row's last comma (its own mobilnet_paper.csv has '#dw')."""
    from scalesim.topology_utils import topologies

    header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    commented = tmp_path / "commented.csv"
    commented.write_text(header + "Conv1,224,224,3,3,3,32,2,\nConv2DP,112,112,3,3,32,32,1,#dw\n"
                         "Conv3,112,112,1,1,32,64,1,2:4,# pointwise\n")
    plain = tmp_path / "plain.csv"
    plain.write_text(header + "Conv1,224,224,3,3,3,32,2,\nConv2DP,112,112,3,3,32,32,1,\nConv3,112,112,1,1,32,64,1,2:4,\n")
    assert read_csv(commented).layers == read_csv(plain).layers
    ours, theirs = topologies(), topologies()
    ours.load_arrays(str(commented))
    theirs.load_arrays(str(plain))
    assert ours.topo_arrays == theirs.topo_arrays and len(ours.topo_arrays) == 1 + 32 + 1


def _read_in_subprocess(call: str, path) -> subprocess.CompletedProcess:
    # in a child with a timeout: a reader that opens a FIFO blocks forever instead of failing
    code = ("import sys, trafficsim as ts\n"
            "try:\n    getattr(ts, sys.argv[1])(sys.argv[2])\n"
            "except ts.TrafficsimError as e:\n    print(e)")
    return subprocess.run([sys.executable, "-c", code, call, str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("call", ["read_csv", "read_cfg", "resolve_topology"])
def test_fifo_and_folders_are_refused_not_read(tmp_path, call):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    p = _read_in_subprocess(call, fifo)
    assert p.returncode == 0 and "FIFO" in p.stdout, p.stderr
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    p = _read_in_subprocess(call, folder)
    assert "is a folder" in p.stdout, p.stderr
