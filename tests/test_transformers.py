"""Transformers and LLMs (issue 14): the converter's GEMMs between activations, attention, embeddings,
norms, softmax and element-wise ops; the zoo's exact parameter counts; prefill and decode phases with
the KV cache; MACs per token against the parameter count; bad input."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from trafficsim.cli import main
from trafficsim.convert import to_topology
from trafficsim.errors import InputError
from trafficsim.topology import Topology, scalesim_rows
from trafficsim.zoo import create_model, is_decoder_model, list_models, model_family, model_sequence
from trafficsim.zoo.cache import model_topology

PARAM_COUNTS = {
    "vit_b_16": 86_567_656,
    "bert_base": 109_482_240,   # with the pooler
    "gpt2": 124_439_808,        # tied embeddings, counted once
    "llama3_2_1b": 1_235_814_400,
    "llama3_8b": 8_030_261_248,
}
# (layers, kv_heads, head_dim) of the decoders
KV_GEOMETRY = {"gpt2": (12, 12, 64), "llama3_2_1b": (16, 8, 64), "llama3_8b": (32, 8, 128)}


def _build(name: str) -> nn.Module:
    with torch.device("meta"):
        return create_model(name).eval()


def test_transformer_family_is_complete():
    assert sorted(n for n in list_models() if model_family(n) == "transformer") == sorted(PARAM_COUNTS)


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_param_count_exact(name):
    model = _build(name)
    assert sum(p.numel() for p in model.parameters()) == PARAM_COUNTS[name]
    assert model_topology(name).params == PARAM_COUNTS[name]


def _torch_macs(model: nn.Module, *args, **kwargs) -> int:
    """MACs by torch's FLOP counter (FLOPs / 2) of ``model(*args, **kwargs)`` with the tensors moved to meta."""
    def meta(x):
        return x.to("meta") if isinstance(x, torch.Tensor) else [meta(y) for y in x] if isinstance(x, list) else x
    with torch.device("meta"), torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*[meta(a) for a in args], **{k: meta(v) for k, v in kwargs.items()})
    return fc.get_total_flops() // 2


@pytest.mark.parametrize("name,kw", [
    ("vit_b_16", {}), ("bert_base", {"seq_len": 64}), ("gpt2", {"seq_len": 32}),
    ("gpt2", {"phase": "decode", "context": 50}), ("llama3_2_1b", {"phase": "decode", "context": 300}),
])
def test_every_mac_is_a_layer(name, kw):
    """Layer MACs equal torch's FLOP counter / 2 and nothing is left unmodelled."""
    model = _build(name)
    t = to_topology(model, name=name, **kw)
    assert t.unmodelled == ()
    if name == "vit_b_16":
        expected = _torch_macs(model, torch.empty(1, 3, 224, 224))
    else:
        ids = torch.zeros(1, t.seq_len, dtype=torch.long)
        cache = {}
        if "phase" in kw:
            cache["kv_cache"] = [torch.empty(s) for s in model.kv_cache_shapes(1, t.context or 0)]
        expected = _torch_macs(model, ids, **cache)
    assert t.macs == expected


def _attention_layers(t: Topology):
    return [layer for layer in t.layers if layer.operand_b != "weight"]


def test_gqa_decode_stacks_query_heads_and_reads_the_cache():
    t = model_topology("llama3_8b", phase="decode", context=4096)
    att = _attention_layers(t)
    assert len(att) == 2 * 32
    qk, av = att[0], att[1]
    # 32 query heads over 8 KV heads: 4 query rows per KV head; the step attends over 4096 + 1 positions
    assert (qk.count, qk.gemm_mnk, qk.operand_b) == (8, (4, 4097, 128), "kv_cache")
    assert (av.count, av.gemm_mnk, av.operand_b) == (8, (4, 128, 4097), "kv_cache")
    assert qk.attention == av.attention != ""
    appends = [op for op in t.ops if op.kind == "kv_append"]
    assert len(appends) == 2 * 32
    kv = [x for x in t.tensors if x.kind == "kv_cache"]
    # the cache tensors before the step, then the appended ones
    assert sum(x.elems for x in kv if x.producer == "kv_cache") == 2 * 32 * 8 * 4096 * 128


@pytest.mark.parametrize("name", sorted(KV_GEOMETRY))
def test_kv_cache_elements_per_token(name):
    """Each decode step appends 2 x layers x kv_heads x head_dim elements to the cache, exactly."""
    layers, kv_heads, head_dim = KV_GEOMETRY[name]
    t = model_topology(name, phase="decode", context=100)
    new = 0
    for op in t.ops:
        if op.kind == "kv_append":
            new += sum(c * h * w for tid, (c, h, w) in zip(op.inputs, op.input_shapes)
                       if t.tensors[tid].kind != "kv_cache")
    assert new == 2 * layers * kv_heads * head_dim


@pytest.mark.parametrize("name", sorted(KV_GEOMETRY))
def test_decode_macs_per_token_against_parameters(name):
    """A decode step costs one MAC per weight of every GEMM (2 FLOPs per weight), plus attention.

    Compared: MACs of one decode step at a 16-token context against P = parameters - embedding
    tables (gathers: no MACs) + the tied LM head (the token table used again as a GEMM). Norm
    weights and biases (no MACs) and the attention over 17 positions make the difference: < 1 %.
    The weight-GEMM MACs alone equal the GEMM weights exactly."""
    model = _build(name)
    t = model_topology(name, phase="decode", context=16)
    embeddings = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Embedding))
    tied = model.lm_head.weight is model.get_input_embeddings().weight if hasattr(model, "get_input_embeddings") \
        else any(model.lm_head.weight is m.weight for m in model.modules() if isinstance(m, nn.Embedding))
    p = PARAM_COUNTS[name] - embeddings + (model.lm_head.weight.numel() if tied else 0)
    assert abs(t.macs - p) / p < 0.01
    weight_macs = sum(layer.macs for layer in t.layers if layer.operand_b == "weight")
    assert weight_macs == sum(layer.params for layer in t.layers)


def test_prefill_appends_every_token_and_masks_nothing_out():
    t = model_topology("gpt2", seq_len=16)
    assert (t.phase, t.seq_len, t.context) == ("prefill", 16, None)
    qk = _attention_layers(t)[0]
    assert (qk.count, qk.gemm_mnk, qk.operand_b) == (12, (16, 16, 64), "kv_cache")
    # a causal mask skips no MACs in the GEMM rows: the full 16 x 16 scores are computed
    assert qk.macs == 12 * 16 * 16 * 64


def test_ops_with_traffic():
    t = model_topology("llama3_2_1b", phase="decode", context=10)
    kinds = {op.kind for op in t.ops}
    assert {"embedding", "norm", "softmax", "elementwise", "kv_append"} <= kinds
    (emb,) = [op for op in t.ops if op.kind == "embedding"]
    assert emb.input_elems == 2048  # one row of the 128,256-row table
    assert t.tensors[emb.inputs[0]].kind == "weight"
    swiglu = [op for op in t.ops if op.kind == "elementwise" and op.name.endswith("mlp.mul")]
    assert len(swiglu) == 16 and swiglu[0].input_elems == 2 * 8192


class HandWritten(nn.Module):
    """matmul, bmm, einsum, @ against a bare weight and F.linear on a 3-d input."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(16, 8))
        self.fc = nn.Linear(8, 8)

    def forward(self, x):                       # x: (1, 4, 6, 16) as an "image" of 4x6x16
        a = x @ self.w                          # weight GEMM, M = 4*6
        s = torch.matmul(a, a.transpose(-1, -2))  # (1, 4, 6, 6): 4 copies of 6x6x8
        b = torch.bmm(s[0], a[0])               # 4 copies of 6x8x6
        e = torch.einsum("hij,hjk->hik", s[0], a[0])
        return self.fc(b + e)


def test_hand_written_gemms():
    m = _build_instance(HandWritten)
    t = to_topology(m, (4, 6, 16))
    gemms = [(layer.gemm_mnk, layer.count, layer.operand_b) for layer in t.layers]
    assert gemms == [((24, 8, 16), 1, "weight"), ((6, 6, 8), 4, "activation"), ((6, 8, 6), 4, "activation"),
                     ((6, 8, 6), 4, "activation"), ((24, 8, 8), 1, "weight")]
    assert t.macs == _torch_macs(m, torch.empty(1, 4, 6, 16)) and not t.unmodelled


def _build_instance(cls):
    with torch.device("meta"):
        return cls().eval()


def test_count_rows_for_scalesim():
    t = model_topology("bert_base", seq_len=32)
    rows = scalesim_rows(t)
    att_rows = [r for r in rows if t.layers[r.source_layer].operand_b != "weight"]
    assert len(att_rows) == 12 * 2 * 12  # layers x (QK^T, AV) x heads
    r = att_rows[0]
    assert (r.ifmap_h, r.ifmap_w, r.filter_h, r.filter_w, r.channels, r.num_filters, r.stride) == (32, 64, 1, 64, 1, 32, 1)


def test_registry_metadata_without_torch():
    assert is_decoder_model("gpt2") and is_decoder_model("Llama3-8B") and not is_decoder_model("bert_base")
    assert model_sequence("resnet18") is None


def test_topology_json_round_trip(tmp_path):
    t = model_topology("gpt2", phase="decode", context=7)
    p = tmp_path / "t.json"
    t.to_json(p)
    back = Topology.from_json(p)
    assert back == t


BAD = [
    (["info", "bert_base", "--phase", "decode"], "encoder"),
    (["info", "bert_base", "--context", "5"], "encoder"),
    (["info", "gpt2", "--context", "0"], "at least 1"),
    (["info", "gpt2", "--phase", "sideways"], "unknown phase"),
    (["info", "gpt2", "--seq", "0"], "at least 1"),
    (["info", "gpt2", "--context", "5000"], "positions"),
    (["info", "resnet18", "--seq", "16"], "image"),
    (["info", "llama3_8b", "--context", "1000000000000000000000000000000"], ""),
    (["run", "bert_base", "--phase", "prefill", "-o", "{out}"], "encoder"),
    (["run", "gpt2", "--context", "-3", "-o", "{out}"], "at least 1"),
]


@pytest.mark.parametrize("argv,needle", BAD)
def test_bad_sequence_options(argv, needle, tmp_path, capsys):
    out = tmp_path / "runs"
    rc = main([a.replace("{out}", str(out)) for a in argv])
    err = capsys.readouterr().err
    assert rc != 0
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("name", sorted(KV_GEOMETRY))
def test_decode_json_is_fresh_and_rescaling_equals_tracing(name):
    """Decode steps at any context come from the exported decode JSON, rescaled without torch; that equals a
    fresh trace (here at contexts where the attended length equals the head dim, 63 and 127)."""
    from trafficsim.zoo.cache import build_model_topology, cached_topology_path
    from trafficsim.zoo.export import topology_json_text

    fresh = build_model_topology(name, None, phase="decode")
    assert cached_topology_path(name, "decode").read_text() == topology_json_text(fresh), \
        "stale export: run 'python -m trafficsim.zoo.export' and commit the files"
    from trafficsim.topology import with_decode_context
    for c in (1, 63, 127, 300):
        assert with_decode_context(fresh, c) == build_model_topology(name, None, phase="decode", context=c)
