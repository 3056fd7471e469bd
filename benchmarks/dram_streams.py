"""Request streams of real layers, for the Ramulator fixtures and the DRAM speed benchmark.

A layer's stream is what the capacity engine's tiling moves (``layer_traffic`` + ``layer_schedule``, per-operand
tiling), in the engine's transfer order, laid out in DRAM by ``trafficsim.dram.layout`` (input, output and weights
placed one after another, row-aligned) and cut into burst requests by ``transfer_requests``. Requests are issued
as fast as the controller accepts them (Ramulator's trace mode), not at the cycles the schedule would issue them.

Used by benchmarks/ramulator_fixtures.py (the streams are then committed as files under tests/fixtures/dram, so
that the fixtures do not depend on the tiling code staying as it is) and benchmarks/bench_dram.py.
"""
from __future__ import annotations

import numpy as np

from trafficsim.bounds import gemm_dims
from trafficsim.dram.layout import KCRS, Allocator, LayerPlacement, LayoutSpec, transfer_requests
from trafficsim.engines.capacity import compute_counts, layer_traffic
from trafficsim.engines.capacity_schedule import layer_schedule
from trafficsim.hardware import Hardware


def layer_requests(layer, *, array: tuple[int, int] = (32, 32), sram_kb: int = 64, layout: str = "nchw",
                   word_bytes: int = 1, burst_bytes: int = 64, row_bytes: int = 8192,
                   alloc: Allocator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Burst addresses (uint64) and write flags of every transfer of ``layer``, in transfer order."""
    hw = Hardware(array_rows=array[0], array_cols=array[1], ifmap_sram_kb=sram_kb, filter_sram_kb=sram_kb,
                  ofmap_sram_kb=sram_kb)  # element size: word_bytes (the workload's; compute counts need none)
    lt = layer_traffic(layer, (sram_kb * 1024 // word_bytes,) * 3, "per-operand")
    sch = layer_schedule(layer, lt, compute_counts(layer, hw).compute_cycles)
    alloc = alloc or Allocator(align_bytes=row_bytes, word_bytes=word_bytes)
    g, kp, cp, p, q, h, w, *_ = gemm_dims(layer)
    spec = LayoutSpec(layout)
    inp = alloc.feature_map((layer.in_c, h, w), spec)
    out = alloc.feature_map((g * kp, p, q), spec)
    wbase = alloc.weights(g * kp * cp * layer.kernel_h * layer.kernel_w)
    pl = LayerPlacement(((0, inp),), out, wbase, KCRS, (lt.tiles["g"], lt.tiles["k"], lt.tiles["c"]))
    addr, offsets = transfer_requests(sch, layer, pl, word_bytes, burst_bytes)
    is_write = np.repeat(np.asarray(sch.is_write, dtype=bool), np.diff(offsets))
    return addr.astype(np.uint64), is_write


def network_requests(model: str, **kw) -> tuple[np.ndarray, np.ndarray, int]:
    """Every conv/linear layer of a zoo model, one after another (one allocator: each tensor its own place).
    Returns the stream and the number of layers in it."""
    from trafficsim.zoo.cache import model_topology

    topo = model_topology(model)
    alloc = Allocator(align_bytes=kw.get("row_bytes", 8192), word_bytes=kw.get("word_bytes", 1))
    parts_a, parts_w = [], []
    n = 0
    for layer in topo.layers:
        if layer.kind not in ("conv", "dwconv", "linear"):
            continue
        a, w = layer_requests(layer, alloc=alloc, **kw)
        parts_a.append(a)
        parts_w.append(w)
        n += 1
    return np.concatenate(parts_a), np.concatenate(parts_w), n


def find_layer(model: str, name: str):
    from trafficsim.zoo.cache import model_topology

    for layer in model_topology(model).layers:
        if layer.name == name:
            return layer
    raise KeyError(f"{model} has no layer {name!r}")
