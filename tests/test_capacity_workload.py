"""The capacity engine with the workload (issue 14): bytes per tensor class, batch, GEMM operands from DRAM,
the KV cache per decode step, fused attention; DRAM bytes never below the compulsory bytes (hypothesis)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficsim.convert import to_topology
from trafficsim.engines import simulate
from trafficsim.engines.capacity import CapacityOptions
from trafficsim.hardware import Hardware
from trafficsim.metrics import traffic_split
from trafficsim.workload import Precision, with_workload
from trafficsim.zoo.cache import model_topology

sys.path.insert(0, str(Path(__file__).parent / "data"))
from tiny_decoder import TinyDecoder  # noqa: E402


def _tiny(**kw):
    with torch.device("meta"):
        return to_topology(TinyDecoder(), name="tiny", **kw)


TINY = {"decode": _tiny(phase="decode", context=7), "prefill": _tiny(seq_len=6)}
HW = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)


def test_element_sizes_live_in_the_precision_only():
    """No word size in Hardware or in the capacity options (issue 12: one word_bytes): a record that names one is
    told where it went; old summaries and sweep caches that carry it still load."""
    from trafficsim.errors import ConfigError
    from trafficsim.hardware import hardware_changes

    assert "word_bytes" not in Hardware().to_dict()
    with pytest.raises(TypeError):
        CapacityOptions(word_bytes=2)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="workload's precision"):
        hardware_changes({"word_bytes": 2})
    assert Hardware.from_dict({**Hardware().to_dict(), "word_bytes": 2, "run_name": "x"}) == Hardware()
    # 1 byte everywhere (SCALE-Sim's word) unless the topology says otherwise
    t = TINY["prefill"]
    assert simulate(t, HW, engine="capacity").meta["precision"] == Precision().to_dict()


def test_word_bytes_on_the_command_line_is_a_uniform_precision(tmp_path, cli):
    """``--word-bytes 2`` and ``--precision 2`` are one run (same folder, same numbers); both given must agree."""
    out = tmp_path / "r"
    args = ["run", "resnet18", "--array", "8x8", "-e", "capacity", "--out", str(out), "-q"]
    rc, a, err = cli([*args, "--word-bytes", "2"])
    assert rc == 0, err
    rc, b, err = cli([*args, "--precision", "fp16"])
    assert rc == 0, err
    assert a == b and "16bit" in a  # one run id: the same workload
    summary = json.loads((Path(a.strip()) / "summary.json").read_text())
    assert summary["workload"]["precision"] == Precision.uniform(2).to_dict()
    assert "word_bytes" not in summary["hardware"]
    rc, _, err = cli([*args, "--word-bytes", "2", "--precision", "int8"])
    assert rc != 0 and "disagree" in err and len(err.strip().splitlines()) == 1


def test_classes_use_their_own_bytes():
    t = TINY["decode"]
    base = simulate(t, HW, engine="capacity")
    mixed = simulate(with_workload(t, precision="w4a16kv8"), HW, engine="capacity")
    s1, s2 = traffic_split(base, t), traffic_split(mixed, t)
    # weights at 0.5 B, KV cache at 1 B: the SRAMs hold other element counts, so compare bounds, not equality
    assert s2["weights"] <= s1["weights"] and s2["kv_cache"] > 0
    assert mixed.totals()["dram_bytes"] == pytest.approx(sum(s2.values()))
    per_layer = with_workload(t, layer_precision={"head": "fp32"})
    r = simulate(per_layer, HW, engine="capacity")
    head = [x for x in r.layers if x.name == "head"][0]
    assert head.extra["dram_weights_bytes"] == 4 * head.dram_filter_reads


@pytest.mark.parametrize("name,geometry", [("gpt2", (12, 12, 64)), ("llama3_2_1b", (16, 8, 64))])
def test_kv_cache_bytes_per_decode_step(name, geometry):
    """Per token, a decode step writes 2 x layers x kv_heads x head_dim x bytes of KV cache, exactly, and
    reads at least the whole cache."""
    layers, kv_heads, head_dim = geometry
    for prec, kv_bytes in (("bf16", 2), ("w4a16kv8", 1), ("int4", 0.5)):
        for batch in (1, 3):
            t = with_workload(model_topology(name, phase="decode", context=100), batch=batch, precision=prec)
            r = simulate(t, Hardware(), engine="capacity")
            tot = r.totals()
            assert tot["kv_cache_write_bytes"] == batch * 2 * layers * kv_heads * head_dim * kv_bytes
            cache_read = tot["dram_kv_cache_bytes"] - tot["kv_cache_write_bytes"]
            assert cache_read >= batch * 2 * layers * kv_heads * 101 * head_dim * kv_bytes


def test_batch_amortises_weights_not_the_cache():
    t = model_topology("llama3_2_1b", phase="decode", context=256)
    hw = Hardware(ifmap_sram_kb=1024, filter_sram_kb=1024, ofmap_sram_kb=1024)
    one = traffic_split(simulate(with_workload(t, precision="bf16"), hw, engine="capacity"), t)
    eight = traffic_split(simulate(with_workload(t, batch=8, precision="bf16"), hw, engine="capacity"), t)
    # 8 tokens' rows fit: the GEMM weights are read once for the batch; each token gathers its own embedding row
    assert eight["weights"] - one["weights"] == 7 * 2048 * 2
    assert eight["kv_cache"] == 8 * one["kv_cache"]


def test_fused_attention_keeps_the_scores_on_chip():
    t = with_workload(model_topology("gpt2", seq_len=256), precision="bf16")
    hw = Hardware(ifmap_sram_kb=256, filter_sram_kb=256, ofmap_sram_kb=256)
    unfused = simulate(t, hw, engine="capacity")
    fused = simulate(t, hw, engine="capacity", options=CapacityOptions(attention="fused"))
    scores = 12 * 12 * 256 * 256 * 2  # layers x heads x T x T, bf16
    # unfused: QK^T writes the scores, softmax reads and writes them, AV reads them: 4 passes
    assert unfused.totals()["dram_bytes"] - fused.totals()["dram_bytes"] >= 4 * scores
    assert fused.meta["network_ops"]["attention_fused"] == 12
    assert "flashattn" in __import__("trafficsim.engines.capacity", fromlist=["x"]).run_id_tags(fused)


PRECISIONS = ["int8", "int4", "bf16", "fp32", "w8a16", "w4a16", "w4a16kv8", "w8a8p32", "w16a8"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prec=st.sampled_from(PRECISIONS), batch=st.integers(1, 6), which=st.sampled_from(["decode", "prefill"]),
       sram=st.sampled_from([1, 2, 8, 64]), array=st.sampled_from([4, 8, 32]),
       attention=st.sampled_from(["unfused", "fused"]))
def test_dram_bytes_never_below_compulsory(prec, batch, which, sram, array, attention):
    t = with_workload(TINY[which], batch=batch, precision=prec)
    hw = Hardware(array_rows=array, array_cols=array, ifmap_sram_kb=sram, filter_sram_kb=sram, ofmap_sram_kb=sram)
    r = simulate(t, hw, engine="capacity", options=CapacityOptions(attention=attention))
    for layer in r.layers:
        assert layer.extra["layer_dram_bytes"] >= layer.extra["compulsory_bytes"] - 1e-9, layer.name
    tot = r.totals()
    assert tot["dram_bytes"] >= tot["compulsory_bytes"]
    assert tot["dram_bytes"] == pytest.approx(sum(traffic_split(r, t).values()))
