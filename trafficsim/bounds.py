"""Lower bounds on the DRAM traffic of one layer, in words (elements).

* **Compulsory** traffic: every input element the layer touches, every weight and every output
  once (stride-2 1x1 convs never touch three quarters of their input, so those are not counted).
* **Capacity bound** (Chen, Han & Wang, "Communication Lower Bound in Convolution Accelerators",
  HPCA 2020, after Hong & Kung's red-blue pebble game): ``2 * MACs / sqrt(rho * M)`` with
  ``rho = R*S/stride^2`` (sliding-window reuse) and ``M`` the on-chip capacity in words.

These work on :class:`~trafficsim.topology.Layer` records and do not import torch.
"""
from __future__ import annotations

import math

import numpy as np

from .lazyjit import lazy_njit
from .topology import Layer


@lazy_njit(cache=True)
def touched_1d(out_n: int, tile: int, in_n: int, kernel: int, stride: int, pad: int, dilation: int,
               transposed: bool) -> tuple[int, int]:
    """Input rows (or columns) read when ``out_n`` output rows are computed in tiles of ``tile``.

    Returns ``(sum over tiles of the real input rows each tile touches, largest such count)``.
    Padding rows are not fetched; rows a strided kernel skips are not fetched. For a transposed
    convolution output row ``o`` reads input row ``i`` when ``i*stride - pad + r*dilation == o``.
    """
    stamp = np.zeros(in_n, dtype=np.int64)
    total = 0
    largest = 0
    n_tiles = (out_n + tile - 1) // tile
    for t in range(n_tiles):
        lo = t * tile
        hi = min(out_n, lo + tile)
        count = 0
        for o in range(lo, hi):
            for r in range(kernel):
                if transposed:
                    num = o + pad - r * dilation
                    if num < 0 or num % stride != 0:
                        continue
                    i = num // stride
                else:
                    i = o * stride - pad + r * dilation
                if 0 <= i < in_n and stamp[i] != t + 1:
                    stamp[i] = t + 1
                    count += 1
        total += count
        if count > largest:
            largest = count
    return total, largest


def gemm_dims(layer: Layer) -> tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, int, int]:
    """The layer as a grouped convolution loop nest:
    ``(groups, K/g, C/g, P, Q, H, W, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)``.

    Linear and GEMM layers become 1x1 convolutions (GEMM: M output pixels, K reduction channels); the
    ``count`` independent copies of a batched GEMM (attention heads) are its groups.
    """
    if layer.kind == "gemm":  # read_csv: in_h=M, in_w=K (reduction), out_c=N
        return layer.count, layer.out_c, layer.in_w, layer.in_h, 1, layer.in_h, 1, 1, 1, 1, 1, 0, 0, 1, 1
    if layer.kind == "linear":
        return 1, layer.out_c, layer.in_c, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1
    g = layer.groups
    return (g, layer.out_c // g, layer.in_c // g, layer.out_h, layer.out_w, layer.in_h, layer.in_w,
            layer.kernel_h, layer.kernel_w, layer.stride_h, layer.stride_w, layer.pad_h, layer.pad_w,
            layer.dilation_h, layer.dilation_w)


def touched_input_elems(layer: Layer) -> int:
    """Input elements the layer reads at least once (all of them unless the stride skips some)."""
    g, kp, cp, p, q, h, w, r, s, sh, sw, ph, pw, dh, dw = gemm_dims(layer)
    # one tile: a pass over the output rows; the interpreter is as quick as a call into numba here
    touched = touched_1d if touched_1d.is_compiled else touched_1d.py
    rows, _ = touched(p, p, h, r, sh, ph, dh, layer.transposed)
    cols, _ = touched(q, q, w, s, sw, pw, dw, layer.transposed)
    return g * cp * rows * cols


def compulsory_words(layer: Layer) -> tuple[int, int, int]:
    """Compulsory (input, weight, output) words: each touched input, weight and output once."""
    g, kp, cp, p, q, *_ = gemm_dims(layer)
    r, s = gemm_dims(layer)[7:9]
    return touched_input_elems(layer), g * kp * cp * r * s, g * kp * p * q


def layer_macs(layer: Layer) -> int:
    """Real multiply-accumulates of the layer (GEMM layers: M*N*K per copy)."""
    if layer.kind == "gemm":
        return layer.in_h * layer.in_w * layer.out_c * layer.count
    return layer.macs


def reuse_factor(layer: Layer) -> float:
    """Sliding-window reuse ``rho = R*S/stride^2`` (1 for linear/GEMM layers).

    A transposed convolution is taken as its sub-pixel equivalent: ``stride^2`` stride-1
    convolutions with ``ceil(R/stride) x ceil(S/stride)`` kernels, so ``rho = ceil(R/s)*ceil(S/s)``.
    """
    if layer.kind in ("gemm", "linear"):
        return 1.0
    if layer.transposed:
        return float(math.ceil(layer.kernel_h / layer.stride_h) * math.ceil(layer.kernel_w / layer.stride_w))
    return max(1.0, layer.kernel_h * layer.kernel_w / (layer.stride_h * layer.stride_w))


def capacity_bound_words(layer: Layer, onchip_words: int) -> float:
    """Chen et al.'s capacity bound ``2 * MACs / sqrt(rho * M)`` in words (M = on-chip words)."""
    if onchip_words <= 0:
        raise ValueError("onchip_words must be positive")
    return 2.0 * layer_macs(layer) / math.sqrt(reuse_factor(layer) * onchip_words)


def layer_bound_words(layer: Layer, onchip_words: int) -> float:
    """The practical per-layer lower bound: ``max(compulsory, capacity bound)`` in words."""
    return max(float(sum(compulsory_words(layer))), capacity_bound_words(layer, onchip_words))
