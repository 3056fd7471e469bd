"""Batch and precision (issue 14): the Precision record and its parser, per-layer overrides, batched SCALE-Sim
rows, the run's traffic split, and bad input on the command line."""
from __future__ import annotations

import json
import warnings

import pytest

from trafficsim.cli import main
from trafficsim.engines import BatchAsCopiesWarning, PrecisionIgnoredWarning, simulate
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.metrics import traffic_split
from trafficsim.topology import Topology, expand_dp, read_csv, scalesim_rows
from trafficsim.workload import Precision, effective_precision, parse_precision, with_workload
from trafficsim.zoo.cache import model_topology


@pytest.mark.parametrize("text,expected", [
    ("int8", Precision(1, 1, 1, 1)), ("INT4", Precision(0.5, 0.5, 0.5, 0.5)), ("bf16", Precision(2, 2, 2, 2)),
    ("fp32", Precision(4, 4, 4, 4)), ("w8a16", Precision(1, 2, 2, 2)), ("w4a16", Precision(0.5, 2, 2, 2)),
    ("w4a16kv8", Precision(0.5, 2, 2, 1)), ("w8a8p32", Precision(1, 1, 4, 1)), ("2", Precision(2, 2, 2, 2)),
    (0.5, Precision(0.5, 0.5, 0.5, 0.5)),
])
def test_parse_precision(text, expected):
    assert parse_precision(text) == expected


@pytest.mark.parametrize("bad", ["int7", "w3a16", "w8", "", "fp64x", "0", "-1", "w8a16kv5", "1e30", "nan"])
def test_parse_precision_rejects(bad):
    with pytest.raises(InputError):
        parse_precision(bad)


def test_labels_round_trip():
    for text in ("w8a16", "w4a16kv8", "w8a8p32", "int8", "int4"):
        p = parse_precision(text)
        assert parse_precision(p.label) == p


def test_effective_precision_is_the_one_word_size():
    t = model_topology("resnet18")
    assert effective_precision(t) == Precision() == Precision.uniform(1)  # SCALE-Sim's 1-byte word
    assert effective_precision(with_workload(t, precision="w4a16")) == parse_precision("w4a16")


def test_with_workload_per_layer_override():
    t = with_workload(model_topology("gpt2", phase="decode", context=8), batch=4, precision="w8a16",
                      layer_precision={"lm_head": "bf16", "transformer.h.0.*": "int4"})
    assert t.batch == 4 and t.precision == parse_precision("w8a16")
    by_name = {layer.name: layer.precision for layer in t.layers}
    assert by_name["lm_head"] == Precision.uniform(2)
    assert by_name["transformer.h.0.attn.c_attn"] == Precision.uniform(0.5)
    assert by_name["transformer.h.1.attn.c_attn"] is None
    assert "b4" in t.workload_tags() and "w8a16" in t.workload_tags()
    with pytest.raises(InputError, match="no layer"):
        with_workload(t, layer_precision={"nope*": "int8"})
    for bad in (0, -2, 2.5, True, 10**30):
        with pytest.raises(InputError):
            with_workload(t, batch=bad)


def test_workload_survives_json(tmp_path):
    t = with_workload(model_topology("gpt2", phase="decode", context=8), batch=3, precision="w4a16kv8",
                      layer_precision={"lm_head": "bf16"})
    p = tmp_path / "t.json"
    t.to_json(p)
    assert Topology.from_json(p) == t


def test_batched_rows():
    """Weight GEMMs stack the batch into M; convolutions and GEMMs between activations are copies."""
    t = model_topology("gpt2", phase="decode", context=8)
    b = with_workload(t, batch=5)
    rows1, rows5 = scalesim_rows(t), scalesim_rows(b)
    c_attn = [r for r in rows5 if r.name == "transformer.h.0.attn.c_attn"]
    assert [(r.ifmap_h, r.ifmap_w, r.num_filters) for r in c_attn] == [(5, 768, 2304)]
    att1 = [r for r in rows1 if t.layers[r.source_layer].operand_b != "weight"]
    att5 = [r for r in rows5 if t.layers[r.source_layer].operand_b != "weight"]
    assert len(att5) == 5 * len(att1)
    assert sum(r.macs for r in rows5) == b.macs == 5 * t.macs
    cnn = with_workload(read_csv_small(), batch=3)
    assert len(expand_dp(scalesim_rows(cnn))) == 3 * len(expand_dp(scalesim_rows(read_csv_small())))


def read_csv_small(tmp=[]):
    import tempfile
    from pathlib import Path
    if not tmp:
        d = Path(tempfile.mkdtemp())
        p = d / "small.csv"
        p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                     "c1,10,10,3,3,4,8,1,\nc2DP,9,9,3,3,3,1,2,\n")
        tmp.append(p)
    return read_csv(tmp[0])


def test_compat_says_it_keeps_one_byte_words():
    t = with_workload(model_topology("bert_base", seq_len=8), precision="bf16")
    hw = Hardware(array_rows=8, array_cols=8)
    with pytest.warns(PrecisionIgnoredWarning, match="1-byte words"):
        r = simulate(t, hw, engine="compat")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r1 = simulate(model_topology("bert_base", seq_len=8), hw, engine="compat")
    assert r.totals() == r1.totals()


def test_compat_says_it_runs_convolutions_per_image():
    """SCALE-Sim has batch 1: the compat engine runs a batch of images as copies of each conv and says so;
    a decoder's batch (weight GEMMs stack it into M) needs no word."""
    hw = Hardware(array_rows=8, array_cols=8)
    with pytest.warns(BatchAsCopiesWarning, match="once per image at batch 3"):
        r3 = simulate(with_workload(read_csv_small(), batch=3), hw, engine="compat")
    assert r3.totals()["dram_filter_reads"] == 3 * simulate(read_csv_small(), hw, engine="compat").totals()["dram_filter_reads"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate(with_workload(model_topology("gpt2", phase="decode", context=8), batch=2), hw, engine="compat")
        simulate(with_workload(read_csv_small(), batch=3), hw, engine="capacity")


def test_traffic_split_of_a_compat_decode():
    t = with_workload(model_topology("llama3_2_1b", phase="decode", context=64), batch=2)
    r = simulate(t, Hardware(array_rows=16, array_cols=16), engine="compat")
    split = traffic_split(r, t)
    tot = r.totals()
    assert sum(split.values()) == tot["dram_bytes"]
    # SCALE-Sim reads a GEMM row's operand B (weights or the KV cache) at least once
    assert split["kv_cache"] >= 2 * 2 * 16 * 8 * 65 * 64
    assert split["weights"] >= sum(layer.params for layer in t.layers)


BAD = [
    (["run", "gpt2", "--batch", "0"], "batch"),
    (["run", "gpt2", "--batch", "-1"], "batch"),
    (["run", "gpt2", "--precision", "int7"], "unknown precision"),
    (["run", "gpt2", "--precision", "w8a12"], "bits"),
    (["run", "resnet18", "--precision", ""], "precision"),
    (["run", "gpt2", "--phase", "decode", "--context", "0"], "at least 1"),
    (["run", "bert_base", "--phase", "decode"], "encoder"),
    (["convert", "gpt2", "--batch", "0"], "batch"),
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_bad_workload_options(argv, needle, tmp_path, capsys):
    out = tmp_path / "out"
    extra = ["-o", str(out)] if argv[0] == "run" else ["-o", str(out / "x.csv")]
    rc = main(argv + extra)
    err = capsys.readouterr().err
    assert rc != 0
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, err
    assert not out.exists()


def test_run_writes_workload_and_split(tmp_path, capsys):
    out = tmp_path / "runs"
    rc = main(["run", "gpt2", "--phase", "decode", "--context", "16", "--batch", "2", "--array", "8x8",
               "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 0
    assert "DRAM KV cache" in cap.out and "DRAM weights" in cap.out
    (summary,) = out.glob("*/summary.json")
    assert summary.parent.name.endswith("-decode16-b2")
    doc = json.loads(summary.read_text())
    assert doc["workload"] == {"seq_len": 1, "phase": "decode", "context": 16, "batch": 2, "precision": None}
    assert sum(doc["traffic_split_bytes"].values()) == doc["totals"]["dram_bytes"]
