"""Topologies: ordered layer records, plain data, and SCALE-Sim CSV import/export.

A :class:`Topology` is what every engine consumes. It is built from a PyTorch model by
:func:`trafficsim.convert.to_topology` or read from a SCALE-Sim CSV by :func:`read_csv`.
This module does not import torch.

Two views of a layer exist:

* the *real* layer (:class:`Layer`): input and output shapes, padding, groups, stride as in the
  model; metrics (MACs, CIO) use it;
* the *SCALE-Sim row* (:class:`ScaleSimRow`): the valid-convolution row SCALE-Sim simulates, with
  padding folded into the IFMAP size so that SCALE-Sim's ``ceil((H - R + s) / s)`` output size
  equals the real one. :func:`scalesim_rows` makes them; :func:`expand_dp` applies SCALE-Sim's
  per-channel expansion of layers whose name contains ``DP``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal, Sequence

from .errors import TopologyError, UnmodelledOpError
from .files import atomic_write_text  # re-exported: the helper moved to trafficsim.files
from .workload import MAX_BATCH, Precision

LayerKind = Literal["conv", "dwconv", "linear", "gemm"]
OpKind = Literal["maxpool", "avgpool", "add", "concat", "upsample", "other",
                 "norm", "softmax", "elementwise", "embedding", "kv_append", "activation", "batchnorm"]
# single-tensor pointwise ops, recorded in place (output == inputs[0]); engines fuse them into the producer
POINTWISE_OP_KINDS = ("activation", "batchnorm")
OPERAND_B_KINDS = ("weight", "activation", "kv_cache")
TENSOR_KINDS = ("activation", "kv_cache", "weight", "tokens")
PHASES = ("prefill", "decode")
CsvFormat = Literal["conv", "gemm"]

CONV_HEADER = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
               "Channels", "Num Filter", "Strides")
GEMM_HEADER = ("Layer Name", "M", "N", "K")


# Every count the engines handle is an int64 (numpy arrays, the compiled kernel): larger values are
# refused where they enter. (hardware.py shares the constant.)
INT64_MAX = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_name(name: object, what: str) -> str:
    """A layer or model name: a non-empty string without control characters (NUL, newline, tab...),
    which would end up in CSV reports and file names."""
    if not isinstance(name, str) or not name.strip():
        raise TopologyError(f"{what} must be a non-empty string, got {name!r}")
    if _CONTROL.search(name):
        raise TopologyError(f"{what} {name!r} contains a control character")
    return name


def check_sparsity(text: str, where: str) -> tuple[int, int]:
    """An ``N:M`` sparsity ratio (N non-zero weights in every block of M): 1 <= N <= M."""
    m = _SPARSITY.match(text) if isinstance(text, str) else None
    if not m:
        raise TopologyError(f"{where}: sparsity must be N:M with integers, got {text!r}")
    n, block = int(m.group(1)), int(m.group(2))
    if not 1 <= n <= block or block > INT64_MAX:
        raise TopologyError(f"{where}: sparsity {text!r} must have 1 <= N <= M (N non-zero weights per block of M)")
    return n, block


def scalesim_out_size(ifmap: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size of a valid convolution: ``ceil((H - R + s) / s)``."""
    return math.ceil((ifmap - kernel + stride) / stride)


@dataclass(frozen=True)
class Layer:
    """One MAC layer (convolution, depthwise/grouped convolution, linear or GEMM).

    Shapes are those of the real model (channels, height, width; batch 1). ``inputs`` and
    ``output`` are tensor ids in :attr:`Topology.tensors` (empty / -1 for topologies read from
    CSV, which carry no graph). ``order`` is the position in the execution order of all nodes
    (layers and :class:`Op` records together).
    """

    name: str
    kind: LayerKind
    in_c: int
    in_h: int
    in_w: int
    out_c: int
    out_h: int
    out_w: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    dilation_h: int = 1
    dilation_w: int = 1
    groups: int = 1
    transposed: bool = False
    sparsity: str | None = None  # SCALE-Sim v3 "N:M" column, kept for round trips
    inputs: tuple[int, ...] = ()
    output: int = -1
    order: int = -1
    # GEMMs between activations (matmul, attention): ``count`` independent copies (heads x sequences),
    # each an (M, N, K) GEMM; ``operand_b`` says where the second operand (SCALE-Sim's "filter") lives.
    count: int = 1
    operand_b: str = "weight"
    attention: str = ""  # the attention call (SDPA / MultiheadAttention) this QK^T or AV GEMM belongs to
    precision: Precision | None = None  # per-layer override of the topology's precision (workload.with_workload)

    def __post_init__(self) -> None:
        if self.operand_b not in OPERAND_B_KINDS:
            raise TopologyError(f"layer {self.name!r}: operand_b must be one of {', '.join(OPERAND_B_KINDS)}, "
                                f"got {self.operand_b!r}")
        if self.operand_b != "weight" and self.kind != "gemm":
            raise TopologyError(f"layer {self.name!r}: only GEMM layers can take an activation as operand B")
        for f in ("in_c", "in_h", "in_w", "out_c", "out_h", "out_w", "kernel_h", "kernel_w",
                  "stride_h", "stride_w", "dilation_h", "dilation_w", "groups", "count"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise TopologyError(f"layer {self.name!r}: {f} must be a positive integer, got {v!r}")
            if v > INT64_MAX:
                raise TopologyError(f"layer {self.name!r}: {f} must be at most {INT64_MAX:,} (int64), got {v:,}")
        if self.sparsity is not None:
            check_sparsity(self.sparsity, f"layer {self.name!r}")
        if self.pad_h < 0 or self.pad_w < 0:
            raise TopologyError(f"layer {self.name!r}: padding must not be negative")
        if self.in_c % self.groups or self.out_c % self.groups:
            raise TopologyError(f"layer {self.name!r}: channels {self.in_c}->{self.out_c} "
                                f"not divisible by groups={self.groups}")
        if not self.transposed:
            if self.eff_kernel_h > self.in_h + 2 * self.pad_h or self.eff_kernel_w > self.in_w + 2 * self.pad_w:
                raise TopologyError(
                    f"layer {self.name!r}: filter {self.kernel_h}x{self.kernel_w} is larger than its "
                    f"(padded) input {self.in_h + 2 * self.pad_h}x{self.in_w + 2 * self.pad_w}")

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def eff_kernel_h(self) -> int:
        """Extent of the (dilated) filter window in rows."""
        return self.dilation_h * (self.kernel_h - 1) + 1

    @property
    def eff_kernel_w(self) -> int:
        return self.dilation_w * (self.kernel_w - 1) + 1

    @property
    def is_depthwise(self) -> bool:
        """True for a depthwise conv (one group per input channel, any channel multiplier)."""
        return self.groups > 1 and self.groups == self.in_c

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the real layer (batch 1; all ``count`` copies)."""
        per_out = (self.in_c // self.groups) * self.kernel_h * self.kernel_w
        if self.transposed:  # every input element is scattered over the kernel
            return self.in_h * self.in_w * self.in_c * (self.out_c // self.groups) * self.kernel_h * self.kernel_w
        return self.out_h * self.out_w * self.out_c * per_out * self.count

    @property
    def params(self) -> int:
        """Weights of the layer (no bias, no BN); 0 when operand B is an activation or the KV cache."""
        if self.operand_b != "weight":
            return 0
        return self.out_c * (self.in_c // self.groups) * self.kernel_h * self.kernel_w * self.count

    @property
    def gemm_mnk(self) -> tuple[int, int, int]:
        """(M, N, K) of one copy of a GEMM layer (kind ``gemm``)."""
        return self.in_h, self.out_c, self.in_w

    @property
    def operand_b_elems(self) -> int:
        """Elements of operand B of all copies (weights, or the activation / KV-cache operand)."""
        if self.kind == "gemm":
            return self.in_w * self.out_c * self.count
        return self.params

    @property
    def ifmap_elems(self) -> int:
        return self.in_c * self.in_h * self.in_w

    @property
    def ofmap_elems(self) -> int:
        return self.out_c * self.out_h * self.out_w

    @property
    def cio(self) -> int:
        """Input plus output feature-map elements (HarDNet's CIO of this layer)."""
        return self.ifmap_elems + self.ofmap_elems


@dataclass(frozen=True)
class Op:
    """A non-MAC operation recorded by the converter (pooling, residual add, concat, upsample, norms, softmax,
    element-wise ops, embeddings, KV-cache appends, activations, batch norm).

    ``input_shapes`` are (C, H, W) of each input piece in order; for a concat they are the
    pieces being joined. Memory models charge these; SCALE-Sim ignores them. Activations and batch norm
    (:data:`POINTWISE_OP_KINDS`) are in place: ``output`` is their input's tensor id.
    """

    name: str
    kind: OpKind
    inputs: tuple[int, ...]
    output: int
    input_shapes: tuple[tuple[int, int, int], ...]
    output_shape: tuple[int, int, int]
    order: int = -1
    kernel: int = 0
    stride: int = 0
    attention: str = ""  # softmax of an attention call: the call's name (fused attention keeps it on chip)

    @property
    def in_place(self) -> bool:
        """An activation or batch norm: applied to its input's tensor (``output == inputs[0]``), no new tensor."""
        return self.kind in POINTWISE_OP_KINDS

    @property
    def input_elems(self) -> int:
        return sum(c * h * w for c, h, w in self.input_shapes)

    @property
    def output_elems(self) -> int:
        c, h, w = self.output_shape
        return c * h * w


@dataclass(frozen=True)
class TensorInfo:
    """A tensor in the graph: id, (C, H, W), the node that produced it ("input" for the network input)
    and its class: ``activation`` (feature maps), ``kv_cache`` (keys/values kept across decode steps),
    ``weight`` (rows an embedding gathers) or ``tokens`` (token ids)."""

    id: int
    shape: tuple[int, int, int]
    producer: str
    kind: str = "activation"

    @property
    def elems(self) -> int:
        c, h, w = self.shape
        return c * h * w


@dataclass(frozen=True)
class Unmodelled:
    """A call the converter saw but no engine simulates: its MACs and DRAM traffic are missing from
    every result. ``macs`` comes from torch's own FLOP formulas (FLOPs / 2) and is 0 for calls
    that only move data (e.g. an embedding gather)."""

    name: str      # node name (module path, as for layers)
    function: str  # the torch function, e.g. "matmul", "conv1d", "embedding"
    macs: int = 0


def unmodelled_summary(unmodelled: Sequence[Unmodelled]) -> str:
    """One line naming what was not modelled: ``2 x matmul (0.92 M MACs), 1 x embedding (data movement)``."""
    by_fn: dict[str, list[int]] = {}
    for u in unmodelled:
        by_fn.setdefault(u.function, []).append(u.macs)
    parts = []
    for fn, macs in by_fn.items():
        what = f"{sum(macs) / 1e6:,.2f} M MACs" if sum(macs) else "data movement"
        parts.append(f"{len(macs)} x {fn} ({what})")
    return ", ".join(parts)


@dataclass(frozen=True)
class Topology:
    """An ordered list of MAC layers, plus (when converted from torch) the non-MAC ops and tensors."""

    name: str
    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int] | None = None
    ops: tuple[Op, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()
    params: int | None = None  # the model's full parameter count (incl. BN, biases), when converted from torch
    # calls the converter saw but does not model (their MACs and traffic are missing from results)
    unmodelled: tuple[Unmodelled, ...] = ()
    # sequence models: tokens per sequence in this pass; decoders: the phase and, for decode, the
    # tokens already in the KV cache (``context``)
    seq_len: int | None = None
    phase: str | None = None
    context: int | None = None
    # the workload: images or sequences per step, and bytes per tensor class (None: 1 byte, SCALE-Sim's word)
    batch: int = 1
    precision: Precision | None = None

    def __post_init__(self) -> None:
        if not self.layers:
            raise TopologyError(f"topology {self.name!r} has no convolution or linear layers")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or not 1 <= self.batch <= MAX_BATCH:
            raise TopologyError(f"topology {self.name!r}: batch must be an integer from 1 to {MAX_BATCH:,}, "
                                f"got {self.batch!r}")

    def workload_tags(self) -> list[str]:
        """Short tags for what the topology was traced at and runs with (run folder names): ``seq128``,
        ``prefill2048``, ``decode4096``, ``b8``, ``w8a16``."""
        tags = []
        if self.phase == "decode":
            tags.append(f"decode{self.context}")
        elif self.phase == "prefill":
            tags.append(f"prefill{self.seq_len}")
        elif self.seq_len is not None:
            tags.append(f"seq{self.seq_len}")
        if self.batch != 1:
            tags.append(f"b{self.batch}")
        if self.precision is not None:
            tags.append(self.precision.label)
        if any(layer.precision is not None for layer in self.layers):
            tags.append("layerprec")
        return tags

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def macs(self) -> int:
        """MACs of one step: every layer, every image or sequence of the batch."""
        return sum(layer.macs for layer in self.layers) * self.batch

    @property
    def unmodelled_macs(self) -> int:
        """MACs of the calls the converter could not model (0 when everything is modelled)."""
        return sum(u.macs for u in self.unmodelled)

    def check_modelled(self) -> None:
        """Raise :class:`UnmodelledOpError` (one line) if the converter left any call unmodelled."""
        if self.unmodelled:
            raise UnmodelledOpError(f"{self.name}: {len(self.unmodelled)} op(s) not modelled: "
                                    f"{unmodelled_summary(self.unmodelled)}")

    def nodes(self) -> list[Layer | Op]:
        """Layers and ops merged in execution order."""
        return sorted([*self.layers, *self.ops], key=lambda n: n.order)

    # -- JSON ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Topology":
        def tup(x):
            return tuple(tuple(i) if isinstance(i, list) else i for i in x)
        layers = tuple(Layer(**{**ld, "inputs": tuple(ld.get("inputs", ())),
                                "precision": Precision(**ld["precision"]) if ld.get("precision") else None})
                       for ld in d["layers"])
        ops = tuple(Op(**{**od, "inputs": tuple(od["inputs"]), "input_shapes": tup(od["input_shapes"]),
                          "output_shape": tuple(od["output_shape"])}) for od in d.get("ops", ()))
        tensors = tuple(TensorInfo(id=t["id"], shape=tuple(t["shape"]), producer=t["producer"],
                                   kind=t.get("kind", "activation"))
                        if isinstance(t, dict) else TensorInfo(t[0], tuple(t[1]), t[2], *t[3:4])  # compact form
                        for t in d.get("tensors", ()))
        ishape = tuple(d["input_shape"]) if d.get("input_shape") else None
        unmodelled = tuple(Unmodelled(**u) for u in d.get("unmodelled", ()))
        return cls(name=d["name"], layers=layers, input_shape=ishape, ops=ops, tensors=tensors,
                   params=d.get("params"), unmodelled=unmodelled, seq_len=d.get("seq_len"), phase=d.get("phase"),
                   context=d.get("context"), batch=d.get("batch", 1),
                   precision=Precision(**d["precision"]) if d.get("precision") else None)

    def to_json(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), separators=(",", ":")))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "Topology":
        from .files import read_text_bounded

        text = read_text_bounded(path, what="topology JSON", error=TopologyError, max_bytes=MAX_CSV_BYTES)
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as e:
            raise TopologyError(f"{path}: not a trafficsim topology JSON ({e})") from None


def with_decode_context(topology: Topology, context: int) -> Topology:
    """The decode topology of the same decoder at another ``context`` (tokens in the KV cache), without
    tracing: only the attended length changes (``context + 1`` positions), in the attention GEMMs that read
    the KV cache (QK^T's N, AV's K), their softmax, the cache tensors and the appends.

    Exact for decoders whose attention reads the whole cache (a test compares it with fresh traces); raises
    :class:`TopologyError` for a topology that is not a decode step."""
    if topology.phase != "decode" or topology.context is None:
        raise TopologyError(f"{topology.name}: not a decode-phase topology")
    c0, c1 = topology.context, context
    if c1 == c0:
        return topology
    s0, s1 = c0 + 1, c1 + 1
    kv_ids = {t.id for t in topology.tensors if t.kind == "kv_cache"}
    att_ids: set[int] = set()
    layers = []
    for layer in topology.layers:
        if layer.operand_b == "kv_cache":
            if layer.out_c == s0 and layer.in_w != s0:      # QK^T: N = positions
                layer = replace(layer, out_c=s1)
            elif layer.in_w == s0 and layer.out_c != s0:    # AV: K = positions
                layer = replace(layer, in_w=s1, kernel_w=s1)
            else:
                raise TopologyError(f"{topology.name}: cannot tell the positions of {layer.name!r} at context {c0}")
            att_ids.update(layer.inputs[:1])
            att_ids.add(layer.output)
        layers.append(layer)

    def fix(shape: tuple[int, int, int], tid: int) -> tuple[int, int, int]:
        c, h, w = shape
        if tid in kv_ids:   # (heads, tokens, head_dim): the cache before (c0) or after (s0) the append
            return (c, c1 if h == c0 else s1 if h == s0 else h, w)
        if tid in att_ids and w == s0:   # scores and probabilities (copies, rows, positions)
            return (c, h, s1)
        return shape

    tensors = tuple(replace(t, shape=fix(t.shape, t.id)) for t in topology.tensors)
    ops = tuple(replace(op, input_shapes=tuple(fix(sh, t) for t, sh in zip(op.inputs, op.input_shapes)),
                        output_shape=fix(op.output_shape, op.output))
                if op.kind in ("softmax", "kv_append") or any(t in kv_ids or t in att_ids for t in op.inputs)
                else op for op in topology.ops)
    return replace(topology, layers=tuple(layers), tensors=tensors, ops=ops, context=c1)


# ---------------------------------------------------------------------------------------------
# SCALE-Sim rows
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScaleSimRow:
    """One line of a SCALE-Sim conv-format topology CSV (valid convolution, one stride)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filters: int
    stride: int
    sparsity: str | None = None
    source_layer: int = -1  # index of the topology layer this row simulates

    @property
    def out_h(self) -> int:
        return scalesim_out_size(self.ifmap_h, self.filter_h, self.stride)

    @property
    def out_w(self) -> int:
        return scalesim_out_size(self.ifmap_w, self.filter_w, self.stride)

    @property
    def macs(self) -> int:
        """MACs as SCALE-Sim counts them: E * R*S*C * K."""
        return self.out_h * self.out_w * self.filter_h * self.filter_w * self.channels * self.num_filters


def _folded_ifmap(in_size: int, pad: int, kernel: int, stride: int, out_size: int) -> int:
    """IFMAP size for SCALE-Sim so that its ceil output formula gives ``out_size``.

    Padding is folded in; when ``H + 2p`` would give SCALE-Sim one output row too many (the
    ceil formula), use ``(E - 1)*s + R`` instead, exactly the rows the convolution touches.
    """
    padded = in_size + 2 * pad
    if scalesim_out_size(padded, kernel, stride) == out_size:
        return padded
    return (out_size - 1) * stride + kernel


def _safe_name(name: str, depthwise: bool) -> str:
    # Commas would break the CSV. A depthwise layer needs "DP" in its name to get SCALE-Sim's
    # per-channel expansion; other names are kept as they are (a CSV row named "...DP..." means
    # SCALE-Sim's expansion, and the converter keeps "DP" out of torch layer names).
    name = name.replace(",", "_").strip() or "layer"
    if depthwise and "DP" not in name:
        return f"{name}_DP"
    return name


def layer_scalesim_rows(layer: Layer, index: int = -1) -> list[ScaleSimRow]:
    """The SCALE-Sim row(s) that simulate one layer (before ``DP`` expansion).

    * conv: padding folded into the IFMAP size; stride_h is used (SCALE-Sim has one stride;
      a layer with different strides raises :class:`TopologyError`).
    * depthwise (groups == in_c): one ``DP`` row with Num Filter = channel multiplier.
    * grouped (1 < groups < in_c): one row per group with C/g channels and K/g filters.
    * linear: a 1x1 conv on a 1x1 input.
    * GEMM (M, N, K), also a matmul between activations or against the KV cache: SCALE-Sim's GEMM row,
      the conv row ``H=M, W=K, R=1, S=K, C=1, Num Filter=N, stride 1``; a batched GEMM of ``count``
      copies (heads x sequences) is ``count`` such rows.
    * transposed conv: an ordinary stride-1 conv on the zero-upsampled grid (SCALE-Sim cannot
      express it; the HarDNet paper treated deconvolutions the same way).
    * dilated conv: a dense kernel of the dilated extent (over-counts MACs; SCALE-Sim has no dilation).
    """
    if layer.kind == "gemm" or layer.kind == "linear":
        if layer.kind == "linear":
            return [ScaleSimRow(_safe_name(layer.name, False), 1, 1, 1, 1, layer.in_c, layer.out_c, 1,
                                layer.sparsity, index)]
        row = ScaleSimRow(_safe_name(layer.name, False), layer.in_h, layer.in_w, layer.kernel_h,
                          layer.kernel_w, layer.in_c, layer.out_c, layer.stride_h, layer.sparsity, index)
        if layer.count == 1:
            return [row]
        # a batched GEMM (heads x sequences) is `count` independent SCALE-Sim GEMM rows
        return [replace(row, name=f"{row.name}_{j}") for j in range(layer.count)]
    if layer.stride_h != layer.stride_w:
        raise TopologyError(f"layer {layer.name!r}: SCALE-Sim supports one stride, got "
                            f"{layer.stride_h}x{layer.stride_w}")
    kh, kw = layer.eff_kernel_h, layer.eff_kernel_w
    if layer.transposed:
        h, w, s = layer.out_h + kh - 1, layer.out_w + kw - 1, 1
    else:
        s = layer.stride_h
        h = _folded_ifmap(layer.in_h, layer.pad_h, kh, s, layer.out_h)
        w = _folded_ifmap(layer.in_w, layer.pad_w, kw, s, layer.out_w)
    if layer.groups == 1:
        return [ScaleSimRow(_safe_name(layer.name, False), h, w, kh, kw, layer.in_c, layer.out_c, s,
                            layer.sparsity, index)]
    if layer.is_depthwise:
        return [ScaleSimRow(_safe_name(layer.name, True), h, w, kh, kw, layer.in_c,
                            layer.out_c // layer.groups, s, layer.sparsity, index)]
    cg, kg = layer.in_c // layer.groups, layer.out_c // layer.groups
    return [ScaleSimRow(_safe_name(f"{layer.name}_g{g}", False), h, w, kh, kw, cg, kg, s, layer.sparsity, index)
            for g in range(layer.groups)]


def batch_scalesim_rows(layer: Layer, rows: list[ScaleSimRow], batch: int) -> list[ScaleSimRow]:
    """A layer's rows at ``batch`` (SCALE-Sim itself has batch 1): a weight GEMM stacks the batch's tokens
    into M (one row, weights shared, as an accelerator runs it); every other layer (convolutions, GEMMs
    between activations) is ``batch`` copies of its rows, named ``<row>_b<i>``."""
    if batch == 1:
        return rows
    if layer.kind in ("gemm", "linear") and layer.operand_b == "weight" and layer.count == 1:
        (row,) = rows
        if layer.kind == "linear":  # one token: a GEMM row of M = batch
            k = row.channels
            return [replace(row, ifmap_h=batch, ifmap_w=k, filter_h=1, filter_w=k, channels=1)]
        return [replace(row, ifmap_h=row.ifmap_h * batch)]
    return [replace(r, name=f"{r.name}_b{j}") for j in range(batch) for r in rows]


def scalesim_rows(topology: Topology) -> list[ScaleSimRow]:
    """All SCALE-Sim rows of a topology, in order, before ``DP`` expansion (what the CSV holds), at the
    topology's batch (:func:`batch_scalesim_rows`)."""
    rows: list[ScaleSimRow] = []
    for i, layer in enumerate(topology.layers):
        rows.extend(batch_scalesim_rows(layer, layer_scalesim_rows(layer, i), topology.batch))
    return rows


def expand_dp(rows: Iterable[ScaleSimRow]) -> list[ScaleSimRow]:
    """SCALE-Sim's rule: a row whose name contains ``DP`` becomes ``Channels`` rows named
    ``<name>Channel_<i>``, each with one channel and the same Num Filter (case-sensitive)."""
    out: list[ScaleSimRow] = []
    for r in rows:
        if "DP" in r.name:
            out.extend(replace(r, name=f"{r.name}Channel_{c}", channels=1) for c in range(r.channels))
        else:
            out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# CSV I/O
# ---------------------------------------------------------------------------------------------
def topology_csv_text(topology: Topology, fmt: CsvFormat = "conv") -> str:
    """The SCALE-Sim CSV text of a topology: header, one row per line, trailing commas."""
    rows = scalesim_rows(topology)
    buf = io.StringIO()
    if fmt == "conv":
        buf.write(", ".join(CONV_HEADER) + ",\n")
        for r in rows:
            fields = [r.name, r.ifmap_h, r.ifmap_w, r.filter_h, r.filter_w, r.channels, r.num_filters, r.stride]
            if r.sparsity:
                fields.append(r.sparsity)
            buf.write(",".join(str(x) for x in fields) + ",\n")
    elif fmt == "gemm":
        buf.write(", ".join(GEMM_HEADER) + ",\n")
        for r in expand_dp(rows):
            m = r.out_h * r.out_w
            k = r.filter_h * r.filter_w * r.channels
            name = r.name.replace("DP", "D_P")  # already expanded: no second expansion
            fields = [name, m, r.num_filters, k] + ([r.sparsity] if r.sparsity else [])
            buf.write(",".join(str(x) for x in fields) + ",\n")
    else:
        raise TopologyError(f"unknown CSV format {fmt!r} (use 'conv' or 'gemm')")
    return buf.getvalue()


def write_csv(topology: Topology, path: str | os.PathLike, fmt: CsvFormat = "conv") -> None:
    """Write a SCALE-Sim topology CSV (conv or GEMM format) atomically."""
    atomic_write_text(path, topology_csv_text(topology, fmt))


_SPARSITY = re.compile(r"^(\d+):(\d+)$")
MAX_CSV_BYTES = 256 << 20  # the largest zoo CSV is ~20 kB; bound what is read (a device file never ends)


def detect_csv_format(header_line: str) -> CsvFormat:
    """Tell conv from GEMM format by the header: GEMM headers name M, N, K."""
    cols = [c.strip().lower() for c in header_line.split(",")]
    cols = [c for c in cols if c]
    if len(cols) >= 4 and cols[1:4] == ["m", "n", "k"]:
        return "gemm"
    return "conv"


def read_csv(path: str | os.PathLike, fmt: CsvFormat | None = None, name: str | None = None) -> Topology:
    """Read a SCALE-Sim topology CSV (conv or GEMM format) as SCALE-Sim 3.0.0 does.

    The first line is the header and is skipped; blank lines are skipped; the last field of each
    row is dropped (rows end with a trailing comma; whatever follows it, such as a ``#dw`` comment
    in SCALE-Sim's own ``mobilnet_paper.csv``, is ignored); fields may carry spaces; an optional
    extra field is the ``N:M`` sparsity. Unlike SCALE-Sim, a row that does not parse raises
    :class:`TopologyError` naming ``file:line`` and the reason.
    """
    from .files import read_text_bounded

    path = Path(path)
    text = read_text_bounded(path, what="topology file", error=TopologyError, max_bytes=MAX_CSV_BYTES)
    lines = text.splitlines()
    if not lines:
        raise TopologyError(f"{path}: empty topology file")
    if fmt is None:
        fmt = detect_csv_format(lines[0])
    cols = CONV_HEADER if fmt == "conv" else GEMM_HEADER
    need = len(cols)
    layers: list[Layer] = []
    for lineno, raw in enumerate(lines[1:], start=2):
        row = raw.strip()
        if not row:
            continue
        where = f"{path}:{lineno}"
        elems = [e.strip() for e in row.split(",")[:-1]]  # SCALE-Sim: row.split(',')[:-1]
        if len(elems) < need:
            raise TopologyError(f"{where}: expected {need} fields ({', '.join(cols)}) before the row's trailing "
                                f"comma, got {len(elems)} (SCALE-Sim ignores what follows a row's last comma)")
        lname = elems[0]
        try:
            check_name(lname, "layer name")
        except TopologyError as e:
            raise TopologyError(f"{where}: {e}") from None
        nums = []
        for col, v in zip(cols[1:], elems[1:need]):
            try:
                n = int(v)
            except ValueError:
                raise TopologyError(f"{where}: {col} must be an integer, got {v!r}") from None
            if n <= 0:
                raise TopologyError(f"{where}: {col} must be positive, got {n}")
            if n > INT64_MAX:
                raise TopologyError(f"{where}: {col} must be at most {INT64_MAX:,} (int64), got {v}")
            nums.append(n)
        sparsity = None
        extra = elems[need:]
        if extra:
            if len(extra) > 1 or not _SPARSITY.match(extra[0]):
                raise TopologyError(f"{where}: unexpected extra field(s) {extra!r}; only an 'N:M' sparsity "
                                    "column may follow")
            check_sparsity(extra[0], where)
            sparsity = extra[0]
        if fmt == "conv":
            h, w, r, s, c, k, st = nums
            if r > h or s > w:
                raise TopologyError(f"{where}: filter {r}x{s} is larger than the IFMAP {h}x{w}")
        try:
            if fmt == "conv":
                layers.append(Layer(name=lname, kind="conv", in_c=c, in_h=h, in_w=w, out_c=k,
                                    out_h=scalesim_out_size(h, r, st), out_w=scalesim_out_size(w, s, st),
                                    kernel_h=r, kernel_w=s, stride_h=st, stride_w=st, sparsity=sparsity,
                                    order=len(layers)))
            else:
                m, n, k = nums
                layers.append(Layer(name=lname, kind="gemm", in_c=1, in_h=m, in_w=k, out_c=n, out_h=m,
                                    out_w=1, kernel_h=1, kernel_w=k, sparsity=sparsity, order=len(layers)))
        except TopologyError as e:
            raise TopologyError(f"{where}: {e}") from None
    if not layers:
        raise TopologyError(f"{path}: no layer rows after the header")
    return Topology(name=name or path.stem, layers=tuple(layers))
