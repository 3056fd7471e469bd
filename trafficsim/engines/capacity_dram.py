"""The capacity engine on a DRAM model: each layer's tile transfers, placed in DRAM, timed, overlapped with compute.

Per layer (see ``docs/capacity.md``, "On a DRAM"):

1. the tiling's transfers in order, each with the step whose end lets it start under double buffering
   (:mod:`trafficsim.engines.capacity_schedule`), plus the whole-tensor reads and writes of the ops charged to
   the layer, after its last step;
2. where each tensor lives (:mod:`trafficsim.dram.layout`: a layout per tensor kind, a row-aligned bump
   allocation over the network) turns every transfer into the burst requests it makes;
3. the memory system times them (:func:`trafficsim.dram.transfers.transfer_cost`), every transfer arriving
   at the cycle it may start;
4. each step starts when the previous one has ended and its loads have completed (the stall-aware schedule).
   A load cannot start before the buffer half it fills is free, and stalled steps free it later: so the start
   cycles are recomputed from the stall-aware schedule and the transfers re-timed with the service time each
   had in the DRAM model, round after round until no step moves (a cheap fixed point, no DRAM model call);
   with ``dram_passes`` > 1 the DRAM model then times the stream again with those start cycles, and so on.
   One pass is within +0.6 to +2.4 % of the converged total cycles on ResNet-18, MobileNet-v2 and HarDNet-68
   (DDR4-3200, 32x32, 64 kB), two within +0.2 to +0.7 % (docs/capacity.md).

Layers run one after another, each from an idle DRAM (banks precharged, no queued requests).
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..bounds import gemm_dims
from ..dram.layout import FLAT, KCRS, TILED, Allocator, LayerPlacement, LayoutSpec, TensorPlace, transfer_requests
from ..dram.transfers import MemorySystem, TransferCost, Transfers, transfer_cost
from ..topology import POINTWISE_OP_KINDS, Layer, Topology
from .capacity_schedule import Schedule, _replay, gate_cycles, layer_schedule


# CPU seconds spent per phase since the last reset (read by benchmarks/bench_capacity_dram.py): "requests" =
# tile schedules and their burst requests, "dram" = the DRAM model, "schedule" = the stall-aware schedules.
PROFILE: dict[str, float] = defaultdict(float)
REPLAY_ROUNDS = 1000  # bound on the re-timing rounds of one pass (a round is O(transfers); most layers need < 20)


@dataclass(frozen=True)
class LayerTiming:
    """One layer on the DRAM: its cycles (stall-aware), the cost of its transfers and what it moved."""

    total_cycles: int
    compute_cycles: int
    cost: TransferCost
    wanted_bytes: int
    requests: int
    transfers: int


@dataclass
class NetworkPlacement:
    """Every tensor's place and every layer's weights, allocated in execution order."""

    tensors: dict[int, TensorPlace]
    layers: list[LayerPlacement]
    # per layer: whole-tensor transfers of the ops charged to it: (place, is_write)
    op_tensors: list[list[tuple[TensorPlace, bool]]]
    bytes_allocated: int


def _pieces(tid: int, shape: tuple[int, int, int], place: Callable[[int, tuple[int, int, int]], TensorPlace],
            concat_inputs: dict[int, tuple[tuple[int, ...], tuple[tuple[int, int, int], ...]]]
            ) -> list[tuple[tuple[int, int, int], TensorPlace]]:
    """(shape, place) of each stored piece a tensor is made of, in channel order (zero-copy concats expanded; a
    tensor nothing recorded produced is placed where it is first read)."""
    if tid in concat_inputs:
        out = []
        for t, shp in zip(*concat_inputs[tid]):
            out += _pieces(t, tuple(shp), place, concat_inputs)
        return out
    return [(shape, place(tid, shape))]


def place_network(topology: Topology, layers: list[Layer], traffic: list, spec: LayoutSpec, word_bytes: int,
                  align_bytes: int, zero_copy_concat: bool, op_owner: Callable[[int], int],
                  fused_pointwise: bool = True) -> NetworkPlacement:
    """Allocate every feature map (as its producer writes it) and every layer's weights, in execution order.

    ``layers`` are the engine's layers (SCALE-Sim ``DP`` rows expanded), ``traffic`` their tilings (for ``tiled``
    weights), ``op_owner(order)`` the layer an op's traffic is charged to. Activations and batch norm (in place)
    move nothing when ``fused_pointwise`` (``CapacityOptions.activations == "fused"``), else each reads and
    writes its tensor where it lives."""
    alloc = Allocator(align_bytes, word_bytes)
    tensors: dict[int, TensorPlace] = {}
    shapes = {t.id: tuple(t.shape) for t in topology.tensors}
    kinds = {t.id: getattr(t, "kind", "activation") for t in topology.tensors}
    concat_inputs: dict[int, tuple[tuple[int, ...], tuple[tuple[int, int, int], ...]]] = {}
    placements: list[LayerPlacement | None] = [None] * len(layers)
    op_tensors: list[list[tuple[TensorPlace, bool]]] = [[] for _ in layers]

    def place(tid: int, shape: tuple[int, int, int]) -> TensorPlace:
        if tid not in tensors:
            tensors[tid] = alloc.feature_map(shape, spec)
        return tensors[tid]

    for t in topology.tensors:  # the network's inputs first
        if t.producer == "input":
            place(t.id, tuple(t.shape))
    w_code = TILED if spec.weights == "tiled" else KCRS
    nodes = sorted([(lay.order, 0, i) for i, lay in enumerate(topology.layers)]
                   + [(op.order, 1, j) for j, op in enumerate(topology.ops)])
    for _, is_op, i in nodes:
        if is_op:
            op = topology.ops[i]
            if op.kind in POINTWISE_OP_KINDS:  # in place: output == inputs[0]
                if fused_pointwise:
                    continue  # applied as the producer writes the tensor: no traffic
                here = [pl for _, pl in _pieces(op.inputs[0], tuple(op.input_shapes[0]), place, concat_inputs)]
                op_tensors[op_owner(op.order)] += [(pl, False) for pl in here] + [(pl, True) for pl in here]
                continue
            if op.kind == "concat" and zero_copy_concat:
                concat_inputs[op.output] = (tuple(op.inputs), tuple(op.input_shapes))
                continue
            ins = []
            for t, shp in zip(op.inputs, op.input_shapes):
                ins += [pl for _, pl in _pieces(t, tuple(shp), place, concat_inputs)]
            out = place(op.output, tuple(op.output_shape)) if op.output >= 0 else None
            if op.kind == "other":
                continue  # a view: no traffic of its own
            owner = op_owner(op.order)
            if op.kind == "kv_append":
                # only the new keys/values move: written at the end of the cache (the cache is read by the GEMMs)
                new = sum(c * h * w for t, (c, h, w) in zip(op.inputs, op.input_shapes) if kinds.get(t) != "kv_cache")
                nbytes = new * word_bytes
                if out is not None and nbytes:
                    op_tensors[owner].append((TensorPlace(out.base + max(0, out.nbytes - nbytes), out.channels,
                                                          out.height, out.width, out.layout, out.block, nbytes), True))
                continue
            op_tensors[owner] += [(pl, False) for pl in ins] + ([(out, True)] if out is not None else [])
            continue
        layer = layers[i]
        g, kp, cp, p, q, h, w, r, s, *_ = gemm_dims(layer)
        in_c = g * cp
        pieces: list[tuple[int, TensorPlace]] = []
        # a GEMM between activations reads its operand B (an activation or the KV cache) where it lives
        a_inputs = layer.inputs if layer.operand_b == "weight" else layer.inputs[:1]
        if a_inputs:
            flat = []
            for t in a_inputs:
                flat += _pieces(t, shapes.get(t, (in_c, h, w)), place, concat_inputs)
            start = 0
            for shp, pl in flat:
                c = shp[0]
                if (pl.height, pl.width) != (h, w):
                    n_el = shp[0] * shp[1] * shp[2]
                    if len(flat) == 1 and n_el == in_c * h * w:
                        # the same bytes read under the layer's shape (a view: flatten, reshape)
                        pl = TensorPlace(pl.base, in_c, h, w, pl.layout, pl.block, pl.nbytes)
                        c = in_c
                    else:  # read as a flat vector in storage order: channels index its elements
                        pl = TensorPlace(pl.base, pl.channels, pl.height, pl.width, FLAT, 1, pl.nbytes)
                        c = n_el // max(1, h * w)
                pieces.append((start, pl))
                start += c
        else:  # a CSV layer: no graph, its input of its own
            pieces.append((0, alloc.feature_map((in_c, h, w), spec)))
        out_shape = (g * kp, p, q)
        out = place(layer.output, out_shape) if layer.output >= 0 else alloc.feature_map(out_shape, spec)
        tiles = traffic[i].tiles
        if layer.operand_b != "weight" and len(layer.inputs) > 1:
            b = layer.inputs[1]
            w_base, code = place(b, shapes.get(b, (g, kp, cp * r * s))).base, KCRS
        else:
            w_base, code = alloc.weights(g * kp * cp * r * s), w_code
        placements[i] = LayerPlacement(tuple(pieces), out, w_base, code, (tiles["g"], tiles["k"], tiles["c"]))
    return NetworkPlacement(tensors, placements, op_tensors, alloc.next)  # type: ignore[arg-type]


def _whole_tensor_requests(place: TensorPlace, burst: int) -> np.ndarray:
    first = place.base // burst
    last = (place.base + max(place.nbytes, 1) - 1) // burst
    return (np.arange(first, last + 1, dtype=np.uint64) * np.uint64(burst))


def layer_transfers(layer: Layer, traffic, placement: LayerPlacement, op_tensors: list[tuple[TensorPlace, bool]],
                    compute_cycles: int, word_bytes: int, burst_bytes: int):
    """The layer's schedule and all its transfers (the tiling's, then the charged ops' whole tensors once the last
    step has ended): ``(schedule, nbytes, is_write, gate, addr, offsets)``."""
    sch: Schedule = layer_schedule(layer, traffic, compute_cycles)
    addr, offsets = transfer_requests(sch, layer, placement, word_bytes, burst_bytes)
    nbytes = sch.words * word_bytes
    is_write = sch.is_write
    gate = sch.gate
    if op_tensors:
        extra = [_whole_tensor_requests(pl, burst_bytes) for pl, _ in op_tensors]
        addr = np.concatenate([addr, *extra])
        offsets = np.concatenate([offsets, offsets[-1] + np.cumsum([e.size for e in extra])])
        nbytes = np.concatenate([nbytes, [pl.nbytes for pl, _ in op_tensors]])
        is_write = np.concatenate([is_write, [wr for _, wr in op_tensors]])
        gate = np.concatenate([gate, np.full(len(op_tensors), sch.step_cycles.size - 1, np.int64)])
    return sch, nbytes, is_write, gate, addr, offsets


def time_layer(layer: Layer, traffic, placement: LayerPlacement, op_tensors: list[tuple[TensorPlace, bool]],
               compute_cycles: int, memory: MemorySystem, word_bytes: int, passes: int) -> LayerTiming:
    """The layer's cycles on ``memory``: its transfers timed, its steps stalled where loads arrive late."""
    t0 = time.process_time()
    sch, nbytes, is_write, gate, addr, offsets = layer_transfers(layer, traffic, placement, op_tensors,
                                                                 compute_cycles, word_bytes, memory.burst_bytes)
    n_sched = len(sch)
    step_end = np.cumsum(sch.step_cycles)
    total = compute_cycles
    cost = None
    latency = memory.idle_latency_cycles
    t1 = time.process_time()
    PROFILE["requests"] += t1 - t0
    for _ in range(max(1, passes)):
        earliest = gate_cycles(gate, step_end)
        t1 = time.process_time()
        cost = transfer_cost(memory, Transfers.of(nbytes, is_write, earliest, addr, offsets), per_transfer=True)
        t2 = time.process_time()
        # the gates again, to a fixed point, with each transfer's service time from this timing
        order = np.argsort(earliest, kind="stable")
        total, _, new_end, _ = _replay(order, gate, earliest, cost.done_cycle, n_sched, sch.step_cycles, sch.kind,
                                       sch.step, sch.out_wait, REPLAY_ROUNDS, latency)
        PROFILE["dram"] += t2 - t1
        PROFILE["schedule"] += time.process_time() - t2
        if np.array_equal(new_end, step_end):
            break  # no step moved: timing the stream again would give the same answer
        step_end = new_end
    return LayerTiming(total, compute_cycles, cost, int(nbytes.sum()), int(addr.size), int(nbytes.size))
