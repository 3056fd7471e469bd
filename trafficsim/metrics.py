"""Model metrics from a :class:`~trafficsim.topology.Topology` (no torch): parameters, MACs, and
HarDNet's CIO and MoC (Chao et al., ICCV 2019, Eq. 1).

Conventions (those that reproduce the paper's Table 4 at 224x224):

* **CIO** = sum over convolution layers of input + output feature-map *elements* (batch 1). A
  concatenated input is counted in full by every conv that reads it. Linear/GEMM layers, pooling,
  additions and concatenations are not counted.
* ``paper=True`` additionally leaves out *stand-alone stride-2 depthwise downsampling convs* (the
  DS-HarDNets' stem and transition downsamplers, which replace pooling); see :func:`is_standalone_downsampler`.
* **MoC** = MACs / CIO of a layer (computational density).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from .topology import Layer, Op, Topology

__all__ = ["cio", "cio_layers", "is_standalone_downsampler", "layer_metrics", "model_metrics", "params", "macs",
           "consumers", "traffic_split", "TRAFFIC_CLASSES"]

#: DRAM traffic classes of :func:`traffic_split`
TRAFFIC_CLASSES = ("weights", "kv_cache", "activations", "psums")

_CONV_KINDS = ("conv", "dwconv")


def consumers(topology: Topology) -> dict[int, list[Layer | Any]]:
    """Tensor id -> the nodes (layers and ops) that read it. In-place activations and batch norms are not
    readers: they run as the tensor is written (the CNN conventions below count a conv + BN + ReLU as one)."""
    readers: dict[int, list] = defaultdict(list)
    for node in topology.nodes():
        if isinstance(node, Op) and node.in_place:
            continue
        for t in dict.fromkeys(node.inputs):  # a node reading a tensor twice is one reader
            readers[t].append(node)
    return readers


def is_standalone_downsampler(layer: Layer, readers: dict[int, list]) -> bool:
    """True for a stride-2 depthwise conv that downsamples on its own instead of a pooling layer.

    Rule: a depthwise conv (groups == in_c > 1) with stride 2 whose output is *not* read by exactly
    one node that is a 1x1 convolution. A depthwise conv inside a pointwise-depthwise-pointwise unit
    (MobileNet's inverted residual, MobileNetV1's dw/pw pair) feeds its 1x1 projection and nothing
    else, so it counts; the DS-HarDNets' stem and transition ``DWConvLayer(stride=2)`` feed a
    HarDBlock whose input is read by the first layer *and* by later concatenations, so they are
    left out. (Testing the input side instead, "follows a 1x1 conv", cannot tell them apart: the
    DS-HarDNet downsamplers follow the 1x1 stem conv and the 1x1 transition convs.) Layers without
    graph information (read from CSV) are never excluded.
    """
    if not (layer.is_depthwise and max(layer.stride_h, layer.stride_w) == 2 and layer.output >= 0):
        return False
    out_readers = readers.get(layer.output, [])
    if len(out_readers) == 1:
        r = out_readers[0]
        if isinstance(r, Layer) and r.kind in _CONV_KINDS and r.kernel_h == 1 and r.kernel_w == 1 and r.groups == 1:
            return False
    return True


def cio_layers(topology: Topology, paper: bool = True) -> list[bool]:
    """For each layer of ``topology``: does it count towards CIO (see :func:`cio`)?"""
    readers = consumers(topology) if paper else {}
    return [layer.kind in _CONV_KINDS and not (paper and is_standalone_downsampler(layer, readers))
            for layer in topology.layers]


def cio(topology: Topology, paper: bool = True) -> int:
    """HarDNet's CIO of a network in elements: sum of input + output elements of its conv layers.

    With ``paper=True`` stand-alone stride-2 depthwise downsampling convs are excluded
    (:func:`is_standalone_downsampler`), which reproduces Table 4 of the HarDNet paper (8.2 M for
    HarDNet-39DS, 15.3 M for HarDNet-68DS, 13.4 M for MobileNetV2); with ``paper=False`` every conv
    counts. Linear layers never count.
    """
    return sum(layer.cio for layer, counted in zip(topology.layers, cio_layers(topology, paper)) if counted)


def macs(topology: Topology) -> int:
    """Multiply-accumulates of all conv, linear and GEMM layers (of the topology's batch; 1 unless set)."""
    return topology.macs


def params(topology: Topology) -> int:
    """The model's parameter count: the true count from torch when known, else the sum of
    conv/linear weights (no biases, no BN)."""
    if topology.params is not None:
        return topology.params
    return sum(layer.params for layer in topology.layers)


def layer_metrics(topology: Topology, paper: bool = True) -> list[dict[str, Any]]:
    """One dict per layer: name, kind, shapes, kernel, stride, groups, macs, params (weights),
    cio (0 for layers that do not count, see :func:`cio`) and moc (MACs / CIO; None when cio is 0)."""
    rows = []
    for layer, counted in zip(topology.layers, cio_layers(topology, paper)):
        layer_cio = layer.cio if counted else 0
        rows.append({
            "name": layer.name,
            "kind": layer.kind,
            "in_shape": [layer.in_c, layer.in_h, layer.in_w],
            "out_shape": [layer.out_c, layer.out_h, layer.out_w],
            "kernel": [layer.kernel_h, layer.kernel_w],
            "stride": [layer.stride_h, layer.stride_w],
            "groups": layer.groups,
            "macs": layer.macs,
            "params": layer.params,
            "cio": layer_cio,
            "moc": (layer.macs / layer_cio) if layer_cio else None,
        })
    return rows


def model_metrics(topology: Topology, paper: bool = True) -> dict[str, Any]:
    """Totals: ``{"model", "params", "macs", "cio", "moc", "layers"}`` (raw integer counts; ``layers``
    is the number of MAC layers)."""
    total_cio = cio(topology, paper)
    total_macs = macs(topology)
    return {"model": topology.name, "params": params(topology), "macs": total_macs, "cio": total_cio,
            "moc": total_macs / total_cio if total_cio else None, "layers": len(topology.layers)}


def traffic_split(result: Any, topology: Topology) -> dict[str, float]:
    """DRAM bytes of a run by tensor class: ``weights``, ``kv_cache``, ``activations`` and ``psums``.

    An engine that reports the split itself (``dram_<class>_bytes`` in a layer's ``extra``, as the capacity
    engine does) is summed as reported. Otherwise (the SCALE-Sim engines) each SCALE-Sim row's FILTER reads
    belong to its layer's operand B (weights, an activation, or the KV cache) and its IFMAP reads and OFMAP
    writes to the activations (SCALE-Sim's WS/IS partial-sum writes included, as it reports them), in
    SCALE-Sim's 1-byte words."""
    out = {c: 0.0 for c in TRAFFIC_CLASSES}
    b_class = {"weight": "weights", "activation": "activations", "kv_cache": "kv_cache"}
    for r in result.layers:
        if "dram_weights_bytes" in r.extra:
            for c in TRAFFIC_CLASSES:
                out[c] += r.extra.get(f"dram_{c}_bytes", 0)
            continue
        layer = topology.layers[r.source_layer] if 0 <= r.source_layer < len(topology.layers) else None
        cls = b_class[layer.operand_b] if layer is not None else "weights"
        out[cls] += r.dram_filter_reads
        out["activations"] += r.dram_ifmap_reads + r.dram_ofmap_writes
    return {c: (int(v) if float(v).is_integer() else v) for c, v in out.items()}
