"""Transformers written for this project, built on the meta device like the CNNs (no transformers/timm).

* ``vit_b_16``: torchvision's ViT-B/16 layout (``conv_proj``, ``encoder.layers.encoder_layer_N`` with
  ``nn.MultiheadAttention``), 86,567,656 parameters.
* ``bert_base``: BERT-base (uncased vocabulary of 30,522) with the pooler, HF's layout, 109,482,240 parameters.
* ``gpt2``: GPT-2 small, tied input/output embeddings, 124,439,808 parameters.
* ``llama3_2_1b`` (tied embeddings) and ``llama3_8b``: Llama 3 with grouped-query attention (8 key/value
  heads), SwiGLU MLPs, RMSNorm and rotary position embeddings; 1,235,814,400 and 8,030,261,248 parameters.

Attention runs through ``F.scaled_dot_product_attention``; the converter records it as QK^T, softmax and AV
(``docs/models.md``). Token models take ``input_ids`` of shape (batch, tokens). The decoders (GPT-2, Llama)
also take ``kv_cache``: a list of 2 x layers tensors (keys, values per layer) of shape
(batch, kv_heads, context, head_dim), as :meth:`kv_cache_shapes` says; each layer appends the new tokens'
keys and values with ``torch.cat`` and attends over the whole cache. They compute the logits of the last
token only (what generation uses; prefill MACs do not include logits of every prompt token).
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model

__all__ = ["VisionTransformer", "Bert", "GPT2", "Llama", "DecoderConfig"]


# ---------------------------------------------------------------------------------------------
# ViT-B/16 (torchvision layout)
# ---------------------------------------------------------------------------------------------
class _MLPBlock(nn.Sequential):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))


class _EncoderBlock(nn.Module):
    def __init__(self, heads: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _MLPBlock(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class _Encoder(nn.Module):
    def __init__(self, seq: int, layers: int, heads: int, dim: int, hidden: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        # torchvision's names: encoder.layers.encoder_layer_N
        self.layers = nn.Sequential(OrderedDict((f"encoder_layer_{i}", _EncoderBlock(heads, dim, hidden))
                                                for i in range(layers)))
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """ViT (Dosovitskiy et al. 2021) in torchvision's layout: patchify conv, class token, encoder, head."""

    def __init__(self, image_size: int = 224, patch_size: int = 16, layers: int = 12, heads: int = 12,
                 dim: int = 768, mlp_dim: int = 3072, num_classes: int = 1000) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.conv_proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        seq = (image_size // patch_size) ** 2 + 1
        self.encoder = _Encoder(seq, layers, heads, dim, mlp_dim)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(dim, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


@register_model
def vit_b_16(num_classes: int = 1000) -> VisionTransformer:
    """ViT-B/16 at 224x224 (86.6 M parameters)."""
    return VisionTransformer(num_classes=num_classes)


# ---------------------------------------------------------------------------------------------
# BERT-base (HF layout, with pooler)
# ---------------------------------------------------------------------------------------------
def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, h, t, hd = x.shape
    return x.transpose(1, 2).reshape(b, t, h * hd)


class _BertSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(f(x), self.heads) for f in (self.query, self.key, self.value))
        return _merge_heads(F.scaled_dot_product_attention(q, k, v))


class _BertOutput(nn.Module):
    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _BertAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.self = _BertSelfAttention(dim, heads)
        self.output = _BertOutput(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x), x)


class _BertIntermediate(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class _BertLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attention = _BertAttention(dim, heads)
        self.intermediate = _BertIntermediate(dim, hidden)
        self.output = _BertOutput(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention(x)
        return self.output(self.intermediate(x), x)


class _BertEmbeddings(nn.Module):
    def __init__(self, vocab: int, dim: int, positions: int, types: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(positions, dim)
        self.token_type_embeddings = nn.Embedding(types, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        types = torch.zeros_like(ids)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(types)
        return self.LayerNorm(x)


class _BertEncoder(nn.Module):
    def __init__(self, layers: int, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList([_BertLayer(dim, heads, hidden) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x)
        return x


class _BertPooler(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x[:, 0]))


class Bert(nn.Module):
    """BERT (Devlin et al. 2019) encoder with pooler, HF ``BertModel`` layout; input: token ids (batch, tokens).

    Returns the pooled output of the first token (the sequence output is its input)."""

    trafficsim_input = "tokens"
    max_positions = 512

    def __init__(self, vocab: int = 30522, dim: int = 768, layers: int = 12, heads: int = 12, hidden: int = 3072,
                 positions: int = 512, types: int = 2) -> None:
        super().__init__()
        self.max_positions = positions
        self.embeddings = _BertEmbeddings(vocab, dim, positions, types)
        self.encoder = _BertEncoder(layers, dim, heads, hidden)
        self.pooler = _BertPooler(dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.pooler(self.encoder(self.embeddings(input_ids)))


@register_model
def bert_base() -> Bert:
    """BERT-base, uncased vocabulary, with pooler (109.5 M parameters)."""
    return Bert()


# ---------------------------------------------------------------------------------------------
# Decoders with a KV cache: GPT-2 and Llama 3
# ---------------------------------------------------------------------------------------------
class _Decoder(nn.Module):
    """What the converter needs of a decoder: ``forward(input_ids, kv_cache=None)`` and
    ``kv_cache_shapes(batch, context)`` (keys and values of every layer, in order)."""

    trafficsim_input = "tokens"
    n_layers: int
    n_kv_heads: int
    head_dim: int
    max_positions: int | None = None

    def kv_cache_shapes(self, batch: int, context: int) -> list[tuple[int, int, int, int]]:
        """Shapes of the KV-cache tensors: keys then values of each layer, (batch, kv_heads, context, head_dim)."""
        return [(batch, self.n_kv_heads, context, self.head_dim)] * (2 * self.n_layers)

    def _caches(self, kv_cache: list[torch.Tensor] | None, ids: torch.Tensor) -> list:
        if kv_cache is None:
            return [None] * (2 * self.n_layers)
        if len(kv_cache) != 2 * self.n_layers:
            raise ValueError(f"kv_cache must hold {2 * self.n_layers} tensors (keys and values of each layer)")
        return list(kv_cache)


def _append(cache: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
    """Append the new tokens' keys or values to the cache (batch, heads, tokens, head_dim)."""
    return new if cache is None else torch.cat([cache, new], dim=2)


class _GPT2Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim)
        self.c_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, k_cache, v_cache) -> torch.Tensor:
        q, k, v = self.c_attn(x).split(x.shape[-1], dim=2)
        q, k, v = (_split_heads(t, self.heads) for t in (q, k, v))
        k, v = _append(k_cache, k), _append(v_cache, v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=q.shape[2] > 1 and q.shape[2] == k.shape[2])
        return self.c_proj(_merge_heads(y))


class _GPT2MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(dim, hidden)
        self.c_proj = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class _GPT2Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = _GPT2Attention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = _GPT2MLP(dim, 4 * dim)

    def forward(self, x: torch.Tensor, k_cache, v_cache) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), k_cache, v_cache)
        return x + self.mlp(self.ln_2(x))


class GPT2(_Decoder):
    """GPT-2 (Radford et al. 2019) with the LM head tied to the token embedding (HF ``GPT2LMHeadModel`` names
    under ``transformer.``, ``nn.Linear`` where HF has its Conv1D: same parameters, transposed)."""

    def __init__(self, vocab: int = 50257, positions: int = 1024, dim: int = 768, layers: int = 12,
                 heads: int = 12) -> None:
        super().__init__()
        self.n_layers, self.n_kv_heads, self.head_dim, self.max_positions = layers, heads, dim // heads, positions
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(vocab, dim)
        self.transformer.wpe = nn.Embedding(positions, dim)
        self.transformer.h = nn.ModuleList([_GPT2Block(dim, heads) for _ in range(layers)])
        self.transformer.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied, as HF ties them (counted once)

    def forward(self, input_ids: torch.Tensor, kv_cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        caches = self._caches(kv_cache, input_ids)
        past = 0 if kv_cache is None else kv_cache[0].shape[2]
        t = self.transformer
        pos = torch.arange(past, past + input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        x = t.wte(input_ids) + t.wpe(pos)
        for i, block in enumerate(t.h):
            x = block(x, caches[2 * i], caches[2 * i + 1])
        return self.lm_head(t.ln_f(x[:, -1:]))  # generation needs the last token's logits only


@register_model
def gpt2() -> GPT2:
    """GPT-2 small (124.4 M parameters, tied embeddings)."""
    return GPT2()


class _RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class _Rotary(nn.Module):
    """Llama 3 rotary position embedding (HF ``rotate_half`` form; Llama 3.1+ frequency scaling)."""

    def __init__(self, head_dim: int, theta: float, scaling: dict | None) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        if scaling is not None and inv_freq.device.type != "meta":
            factor, low, high, old = (scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"],
                                      scaling["original_max_position_embeddings"])
            wavelen = 2 * math.pi / inv_freq
            smooth = (old / wavelen - low) / (high - low)
            scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
            mid = (1 - smooth) * inv_freq / factor + smooth * inv_freq
            is_mid = (wavelen <= old / low) & (wavelen >= old / high)
            inv_freq = torch.where(is_mid, mid, scaled)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor, past: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = torch.arange(past, past + q.shape[2], device=q.device, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


class _LlamaAttention(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, rotary: _Rotary) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, dim, bias=False)
        self._rotary = (rotary,)  # shared, not a submodule (no parameters)

    def forward(self, x: torch.Tensor, k_cache, v_cache) -> torch.Tensor:
        q = _split_heads(self.q_proj(x), self.heads)
        k = _split_heads(self.k_proj(x), self.kv_heads)
        v = _split_heads(self.v_proj(x), self.kv_heads)
        past = 0 if k_cache is None else k_cache.shape[2]
        q, k = self._rotary[0](q, k, past)
        k, v = _append(k_cache, k), _append(v_cache, v)
        # grouped-query attention: the query heads of one key/value head share its keys and values
        y = F.scaled_dot_product_attention(q, k, v, is_causal=q.shape[2] > 1 and q.shape[2] == k.shape[2],
                                           enable_gqa=True)
        return self.o_proj(_merge_heads(y))


class _LlamaMLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _LlamaLayer(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, hidden: int, eps: float, rotary: _Rotary) -> None:
        super().__init__()
        self.input_layernorm = _RMSNorm(dim, eps)
        self.self_attn = _LlamaAttention(dim, heads, kv_heads, rotary)
        self.post_attention_layernorm = _RMSNorm(dim, eps)
        self.mlp = _LlamaMLP(dim, hidden)

    def forward(self, x: torch.Tensor, k_cache, v_cache) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), k_cache, v_cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(_Decoder):
    """Llama 3 (HF ``LlamaForCausalLM`` names): GQA, SwiGLU, RMSNorm, RoPE; ``tie_embeddings`` for 3.2-1B."""

    def __init__(self, vocab: int = 128256, dim: int = 4096, layers: int = 32, heads: int = 32, kv_heads: int = 8,
                 hidden: int = 14336, eps: float = 1e-5, theta: float = 500000.0, tie_embeddings: bool = False,
                 positions: int = 8192, rope_scaling: dict | None = None) -> None:
        super().__init__()
        self.n_layers, self.n_kv_heads, self.head_dim, self.max_positions = layers, kv_heads, dim // heads, positions
        self.rotary = _Rotary(dim // heads, theta, rope_scaling)
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(vocab, dim)
        self.model.layers = nn.ModuleList([_LlamaLayer(dim, heads, kv_heads, hidden, eps, self.rotary)
                                           for _ in range(layers)])
        self.model.norm = _RMSNorm(dim, eps)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight  # tied (counted once)

    def forward(self, input_ids: torch.Tensor, kv_cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        caches = self._caches(kv_cache, input_ids)
        x = self.model.embed_tokens(input_ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, caches[2 * i], caches[2 * i + 1])
        return self.lm_head(self.model.norm(x[:, -1:]))  # generation needs the last token's logits only


_LLAMA31_SCALING = {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 8192}


@register_model
def llama3_2_1b() -> Llama:
    """Llama 3.2 1B (1.24 G parameters, tied embeddings, 32 query / 8 key-value heads of 64)."""
    return Llama(dim=2048, layers=16, heads=32, kv_heads=8, hidden=8192, tie_embeddings=True, positions=131072,
                 rope_scaling=_LLAMA31_SCALING)


@register_model
def llama3_8b() -> Llama:
    """Llama 3 8B (8.03 G parameters, 32 query / 8 key-value heads of 128)."""
    return Llama(dim=4096, layers=32, heads=32, kv_heads=8, hidden=14336, positions=8192)
