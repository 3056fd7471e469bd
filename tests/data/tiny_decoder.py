"""A tiny decoder in the form the converter expects of any decoder (``forward(input_ids, kv_cache=None)`` and
``kv_cache_shapes(batch, context)``): grouped-query attention through a hand-written ``matmul`` path and
``F.scaled_dot_product_attention``, a KV cache appended with ``torch.cat``, a GELU MLP and a tied head."""
import torch
import torch.nn.functional as F
from torch import nn


class TinyDecoder(nn.Module):
    trafficsim_input = "tokens"

    def __init__(self, vocab=50, dim=16, heads=4, kv_heads=2, layers=2, max_positions=64):
        super().__init__()
        self.n_layers, self.n_kv_heads, self.head_dim, self.heads = layers, kv_heads, dim // heads, heads
        self.max_positions = max_positions
        self.emb = nn.Embedding(vocab, dim)
        self.qkv = nn.ModuleList([nn.Linear(dim, dim + 2 * kv_heads * (dim // heads)) for _ in range(layers)])
        self.out = nn.ModuleList([nn.Linear(dim, dim) for _ in range(layers)])
        self.mlp = nn.ModuleList([nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
                                  for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.emb.weight

    def kv_cache_shapes(self, batch, context):
        return [(batch, self.n_kv_heads, context, self.head_dim)] * (2 * self.n_layers)

    def forward(self, input_ids, kv_cache=None):
        b, t = input_ids.shape
        x = self.emb(input_ids)
        hd, kvh = self.head_dim, self.n_kv_heads
        for i in range(self.n_layers):
            q, k, v = self.qkv[i](x).split([self.heads * hd, kvh * hd, kvh * hd], dim=-1)
            q = q.view(b, t, self.heads, hd).transpose(1, 2)
            k = k.view(b, t, kvh, hd).transpose(1, 2)
            v = v.view(b, t, kvh, hd).transpose(1, 2)
            if kv_cache is not None:
                k = torch.cat([kv_cache[2 * i], k], dim=2)
                v = torch.cat([kv_cache[2 * i + 1], v], dim=2)
            if i % 2 == 0:  # the library kernel, GQA
                y = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
            else:  # by hand: the query heads of a KV head stacked into one matmul
                qg = q.reshape(b, kvh, (self.heads // kvh) * t, hd)
                s = torch.matmul(qg, k.transpose(-1, -2)) / hd ** 0.5
                y = torch.matmul(s.softmax(-1), v).reshape(b, self.heads, t, hd)
            x = x + self.out[i](y.transpose(1, 2).reshape(b, t, self.heads * hd))
            x = x + self.mlp[i](x)
        return self.head(self.norm(x[:, -1:]))


model = TinyDecoder
