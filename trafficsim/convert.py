"""PyTorch nn.Module -> :class:`~trafficsim.topology.Topology`, traced on the meta device.

:func:`to_topology` runs one forward pass of batch 1 on the meta device (no weights are allocated)
under a :class:`torch.overrides.TorchFunctionMode` that sees every torch function call:

* ``conv2d`` / ``conv_transpose2d`` / ``linear`` become :class:`Layer` records (also when called
  functionally on a bare Parameter);
* pooling, ``cat``, feature-map ``add`` and ``interpolate`` become :class:`Op` records;
* activations (ReLU, GELU, SiLU, sigmoid...) and batch norm become in-place :class:`Op` records of kind
  ``"activation"`` / ``"batchnorm"`` (their output is their input's tensor id: engines fuse them into the
  node that produced it unless told to charge them);
* other calls with one feature-map input (dropout, flatten, view...) pass the tensor id through when they
  keep the element count, so a conv's input resolves to the node that really produced it; shape-changing
  calls (slicing, padding, reductions) and calls that combine several feature maps (``mul``, ``matmul``)
  become ``"other"`` ops.

Node names are module paths (``base.3.layers.5.conv``) taken from forward pre-hooks; a module
called again gets ``#2``, ``#3``...; a functional call inside a non-leaf module gets the module path
plus the function name (``base.3.cat``, or just ``cat`` at the top level). ``DP`` in a name
becomes ``D_P``: in a SCALE-Sim CSV it would trigger the per-channel depthwise expansion.
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from .errors import InputError, TopologyError, TrafficsimError
from .topology import Layer, Op, TensorInfo, Topology, Unmodelled

if TYPE_CHECKING:
    from torch import nn

__all__ = ["to_topology", "parse_input_shape", "load_user_model", "count_params"]

# input shapes are parsed by the one input layer; re-exported here for existing imports
from .inputs import DEFAULT_INPUT_SHAPE, import_torch, parse_input_shape  # noqa: E402


# ---------------------------------------------------------------------------------------------
# the tracer
# ---------------------------------------------------------------------------------------------
_POOL_KINDS = {
    "max_pool2d": "maxpool", "_max_pool2d": "maxpool", "max_pool2d_with_indices": "maxpool",
    "adaptive_max_pool2d": "maxpool", "adaptive_max_pool2d_with_indices": "maxpool",
    "avg_pool2d": "avgpool", "adaptive_avg_pool2d": "avgpool", "lp_pool2d": "avgpool",
}
_UPSAMPLE = {"interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "upsample_nearest2d",
             "upsample_bilinear2d", "pixel_shuffle", "max_unpool2d"}
_CAT = {"cat", "concat", "concatenate"}
_ADD_NAMES = {"add", "add_", "__add__", "__iadd__", "__radd__", "sub", "sub_", "__sub__", "__isub__", "__rsub__"}
# Element-wise calls whose output has the input's shape (run as empty_like on meta; see to_topology)
_SHAPE_PRESERVING = {f + sfx for f in ("relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "gelu",
                                       "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish", "softplus",
                                       "dropout", "dropout2d", "alpha_dropout", "feature_alpha_dropout")
                     for sfx in ("", "_")} | {"batch_norm", "instance_norm", "group_norm", "layer_norm", "rms_norm"}
# Normalisations that need statistics over a row or group: ops with traffic (batch norm at inference is a
# per-channel affine map: a pointwise op below).
_NORMS = {"layer_norm", "group_norm", "rms_norm", "instance_norm"}
# Single-tensor pointwise calls recorded as in-place ops (kind by name): fused into their producer by default
# (CapacityOptions.activations), charged a read and a write of their tensor otherwise. Dropout is the identity
# at inference: a pass-through, not an op.
_POINTWISE = {f + sfx: "activation" for f in ("relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu",
                                             "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish",
                                             "softplus") for sfx in ("", "_")} | {"batch_norm": "batchnorm"}
_SOFTMAX = {"softmax", "log_softmax", "_softmax"}
# GEMMs that may run between two activations (or an activation and a bare weight tensor)
_MATMUL = {"matmul", "__matmul__", "__rmatmul__", "mm", "bmm", "baddbmm", "addmm", "addbmm", "einsum"}
_ATTENTION = {"scaled_dot_product_attention", "multi_head_attention_forward"}
# Element-wise combinations of two or more tensors (broadcasting allowed): ops with traffic, no MACs
_ELEMENTWISE = {f + sfx for f in ("mul", "div", "true_divide", "where", "maximum", "minimum", "add", "sub")
                for sfx in ("", "_")} | {"__mul__", "__rmul__", "__imul__", "__truediv__", "__rtruediv__",
                                        "__itruediv__", *_ADD_NAMES}
_ADD = _ADD_NAMES
# Calls that move data but have no FLOPs and are not modelled yet: named on the output, never dropped.
_DATA_MOVEMENT_UNMODELLED = {"embedding_bag"}
# Calls that never touch feature maps (attribute reads, dtype/device queries): skip bookkeeping.
_IGNORED = {"dim", "size", "numel", "__get__", "__len__", "__format__", "__repr__", "__bool__", "__index__",
            "_set_grad_enabled", "is_floating_point", "is_complex", "__hash__", "__eq__"}


def _shape3(t: Any) -> tuple[int, int, int]:
    """(C, H, W) of a batch-1 tensor: the batch dim dropped, missing dims filled with 1, extra dims folded into W."""
    dims = [int(d) for d in t.shape[1:]] if t.dim() >= 1 else []
    if len(dims) > 3:
        dims = dims[:2] + [math.prod(dims[2:])]
    dims += [1] * (3 - len(dims))
    return (dims[0], dims[1], dims[2])


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


def _iter_tensors(obj: Any, torch_mod: Any) -> Iterable[Any]:
    if isinstance(obj, torch_mod.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _iter_tensors(o, torch_mod)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _iter_tensors(o, torch_mod)


class _Recorder:
    """State of one trace: tensor ids, module stack, the records made so far."""

    def __init__(self, torch_mod: Any) -> None:
        self.torch = torch_mod
        self.tid_of: dict[int, int] = {}   # id(tensor object) -> tensor id
        self.keep: list[Any] = []          # keeps traced tensors alive so their id() stays unique
        self.tensors: list[TensorInfo] = []
        self.layers: list[Layer] = []
        self.ops: list[Op] = []
        self.stack: list[tuple[str, bool]] = []  # (module path, is leaf)
        self.used_names: dict[str, int] = {}
        self.order = 0
        self.unmodelled: list[Unmodelled] = []
        self.call_macs = 0                 # MACs torch's FLOP formulas saw in the current call

    # -- bookkeeping ---------------------------------------------------------------------------
    def new_tensor(self, t: Any, producer: str, kind: str = "activation") -> int:
        tid = len(self.tensors)
        self.tensors.append(TensorInfo(tid, _shape3(t), producer, kind))
        self.bind(t, tid)
        return tid

    def shaped_tensor(self, shape: tuple[int, int, int], producer: str, kind: str = "activation") -> int:
        """A tensor known only by its shape (an intermediate of a call we decompose, gathered rows)."""
        tid = len(self.tensors)
        self.tensors.append(TensorInfo(tid, shape, producer, kind))
        return tid

    def kind_of(self, tid: int | None) -> str:
        return self.tensors[tid].kind if tid is not None else "weight"

    def bind(self, t: Any, tid: int) -> None:
        self.tid_of[id(t)] = tid
        self.keep.append(t)

    def tid(self, t: Any) -> int | None:
        return self.tid_of.get(id(t))

    def node_name(self, func_name: str) -> str:
        if self.stack:
            path, leaf = self.stack[-1]
            base = func_name if not path else path if leaf else f"{path}.{func_name}"
        else:
            base = func_name
        base = base.replace("DP", "D_P")  # "DP" in a SCALE-Sim name means per-channel expansion
        n = self.used_names.get(base, 0) + 1
        self.used_names[base] = n
        return base if n == 1 else f"{base}#{n}"

    def next_order(self) -> int:
        self.order += 1
        return self.order - 1

    def input_tid(self, t: Any) -> int:
        """The tensor id of a node input; a tensor that did not come from the network input
        (a constant, a buffer) becomes a new tensor produced by "external"."""
        tid = self.tid(t)
        return tid if tid is not None else self.new_tensor(t, "external")

    # -- records -------------------------------------------------------------------------------
    def conv(self, func_name: str, args: tuple, kwargs: dict, out: Any, transposed: bool) -> None:
        names = (["input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"]
                 if transposed else ["input", "weight", "bias", "stride", "padding", "dilation", "groups"])
        a = dict(zip(names, args))
        a.update(kwargs)
        x, w = a["input"], a["weight"]
        if x.dim() != 4:
            raise TopologyError(f"{func_name} on a {x.dim()}-d input {tuple(x.shape)}: only batched 2-d convolutions "
                                "are supported")
        stride = _pair(a.get("stride", 1))
        dilation = _pair(a.get("dilation", 1))
        groups = int(a.get("groups", 1))
        kh, kw = int(w.shape[2]), int(w.shape[3])
        padding = a.get("padding", 0)
        if isinstance(padding, str):
            # 'valid' = 0; 'same' pads d*(k-1) in total, split left/right (odd totals: one more on the right)
            pad = (0, 0) if padding == "valid" else (dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2)
        else:
            pad = _pair(padding)
        in_c, in_h, in_w = _shape3(x)
        out_c, out_h, out_w = _shape3(out)
        name = self.node_name(func_name)
        inp = self.input_tid(x)
        layer_kwargs = dict(
            name=name, kind="dwconv" if groups > 1 else "conv", in_c=in_c, in_h=in_h, in_w=in_w,
            out_c=out_c, out_h=out_h, out_w=out_w, kernel_h=kh, kernel_w=kw, stride_h=stride[0],
            stride_w=stride[1], pad_h=pad[0], pad_w=pad[1], dilation_h=dilation[0], dilation_w=dilation[1],
            groups=groups, transposed=transposed, inputs=(inp,), order=self.next_order())
        out_tid = self.new_tensor(out, name)
        self.layers.append(Layer(output=out_tid, **layer_kwargs))

    def linear(self, args: tuple, kwargs: dict, out: Any) -> None:
        x = args[0] if args else kwargs["input"]
        w = args[1] if len(args) > 1 else kwargs["weight"]
        out_f, in_f = int(w.shape[0]), int(w.shape[1])
        name = self.node_name("linear")
        inp = self.input_tid(x)
        rows = math.prod(int(d) for d in x.shape[:-1])  # batch 1 x tokens
        order = self.next_order()
        out_tid = self.new_tensor(out, name)
        if rows <= 1:
            layer = Layer(name=name, kind="linear", in_c=in_f, in_h=1, in_w=1, out_c=out_f, out_h=1, out_w=1,
                          inputs=(inp,), output=out_tid, order=order)
        else:  # a linear on several tokens is a GEMM: M=tokens, K=in features, N=out features
            layer = Layer(name=name, kind="gemm", in_c=1, in_h=rows, in_w=in_f, out_c=out_f, out_h=rows,
                          out_w=1, kernel_h=1, kernel_w=in_f, inputs=(inp,), output=out_tid, order=order)
        self.layers.append(layer)

    def op(self, kind: str, func_name: str, inputs: Sequence[Any], out: Any, kernel: int = 0,
           stride: int = 0, rebind_inplace: bool = False, out_kind: str | None = None) -> None:
        name = self.node_name(func_name)
        in_tids = tuple(self.input_tid(t) for t in inputs)
        shapes = tuple(_shape3(t) for t in inputs)
        order = self.next_order()
        out_tid = len(self.tensors)
        if out_kind is None:  # slices and crops of the KV cache are still the cache
            kinds = {self.kind_of(t) for t in in_tids}
            out_kind = "kv_cache" if kind == "other" and kinds == {"kv_cache"} else "activation"
        self.tensors.append(TensorInfo(out_tid, _shape3(out), name, out_kind))
        self.bind(out, out_tid)  # for in-place ops `out` is the first input: its id now means the result
        self.ops.append(Op(name=name, kind=kind, inputs=in_tids, output=out_tid, input_shapes=shapes,  # type: ignore[arg-type]
                           output_shape=_shape3(out), order=order, kernel=kernel, stride=stride))

    def pointwise(self, kind: str, func_name: str, x: Any, out: Any) -> None:
        """An activation or batch norm as an in-place op: its output keeps its input's tensor id, so the graph
        (who reads what) is the same whether an engine fuses it into the producer or charges it."""
        tid = self.tid(x)
        self.bind(out, tid)  # type: ignore[arg-type]
        shape = self.tensors[tid].shape  # type: ignore[index]
        self.ops.append(Op(name=self.node_name(func_name.rstrip("_")), kind=kind, inputs=(tid,),  # type: ignore[arg-type]
                           output=tid, input_shapes=(shape,), output_shape=shape,  # type: ignore[arg-type]
                           order=self.next_order()))

    def shaped_op(self, kind: str, name: str, in_tids: Sequence[int], out_tid: int, attention: str = "") -> None:
        """An op between tensors known by id (intermediates of a decomposed call)."""
        shapes = tuple(self.tensors[t].shape for t in in_tids)
        self.ops.append(Op(name=name, kind=kind, inputs=tuple(in_tids), output=out_tid,  # type: ignore[arg-type]
                           input_shapes=shapes, output_shape=self.tensors[out_tid].shape,
                           order=self.next_order(), attention=attention))

    # -- GEMMs between activations, attention, embeddings -----------------------------------------
    def gemm(self, name: str, a_tid: int, b_tid: int | None, m: int, n: int, k: int, count: int,
             out_tid: int, attention: str = "") -> None:
        """One (M, N, K) GEMM layer, ``count`` copies; operand B's class comes from its tensor."""
        inputs = (a_tid,) if b_tid is None else (a_tid, b_tid)
        operand_b = "weight" if b_tid is None else ("kv_cache" if self.kind_of(b_tid) == "kv_cache" else "activation")
        self.layers.append(Layer(name=name, kind="gemm", in_c=1, in_h=m, in_w=k, out_c=n, out_h=m, out_w=1,
                                 kernel_h=1, kernel_w=k, inputs=inputs, output=out_tid, order=self.next_order(),
                                 count=count, operand_b=operand_b, attention=attention))

    def matmul(self, fname: str, args: tuple, kwargs: dict, out: Any) -> bool:
        """``matmul``/``@``/``mm``/``bmm``/``baddbmm``/``addmm``/two-operand ``einsum`` -> a GEMM layer.

        Operand A is an activation; operand B is the other activation (or KV cache), or a bare weight
        tensor (then it is an ordinary weight GEMM). Broadcast batch dims become ``count`` copies; a
        2-d operand B is shared by every row of A, so A's batch dims fold into M. Returns False
        when the call is not a two-operand GEMM on traced tensors (then it is handled generically)."""
        torch = self.torch
        if fname == "einsum":
            return self.einsum(args, out)
        if fname in ("baddbmm", "addmm", "addbmm"):
            a, b = (args[1], args[2]) if len(args) >= 3 else (kwargs.get("batch1", kwargs.get("mat1")),
                                                               kwargs.get("batch2", kwargs.get("mat2")))
        elif fname == "__rmatmul__":
            b, a = args[0], args[1]
        else:
            a, b = (args[0], args[1]) if len(args) >= 2 else (kwargs.get("input"), kwargs.get("other", kwargs.get("mat2")))
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and isinstance(out, torch.Tensor)):
            return False
        ta, tb = self.tid(a), self.tid(b)
        if ta is None and tb is None:
            return False
        if fname == "addbmm":
            return False  # sums over the batch: rare, named by the generic path
        transposed = ta is None  # W @ x: compute (x^T W^T) so that the activation is operand A
        if transposed:
            a, b, ta, tb = b.transpose(-1, -2) if b.dim() > 1 else b, a.transpose(-1, -2) if a.dim() > 1 else a, tb, ta
        a_shape = list(a.shape) if a.dim() > 1 else [1, int(a.shape[0])]
        b_shape = list(b.shape) if b.dim() > 1 else [int(b.shape[0]), 1]
        m, k = int(a_shape[-2]), int(a_shape[-1])
        n = int(b_shape[-1])
        if int(b_shape[-2]) != k:
            return False
        if len(b_shape) == 2:  # B shared by every row of A
            m *= math.prod(int(d) for d in a_shape[:-2])
            count = 1
        else:
            try:
                batch = torch.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
            except RuntimeError:
                return False
            count = math.prod(int(d) for d in batch)
        name = self.node_name("matmul")
        a_tid = self.input_tid(a) if ta is None else ta
        out_tid = self.new_tensor(out, name)
        self.gemm(name, a_tid, tb, m, n, k, count, out_tid)
        return True

    def einsum(self, args: tuple, out: Any) -> bool:
        """Two-operand ``einsum`` as a GEMM: indices in both inputs and the output are batch (copies),
        in A and the output M, in B and the output N, in both inputs only K (the reduction)."""
        torch = self.torch
        if not args or not isinstance(args[0], str):
            return False
        ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        if len(ops) != 2 or not all(isinstance(t, torch.Tensor) for t in ops) or "..." in args[0]:
            return False
        eq = args[0].replace(" ", "")
        if "->" not in eq:
            return False
        lhs, res = eq.split("->")
        ia, ib = lhs.split(",")
        a, b = ops
        if self.tid(a) is None:
            if self.tid(b) is None:
                return False
            a, b, ia, ib = b, a, ib, ia
        if len(ia) != a.dim() or len(ib) != b.dim() or len(set(ia)) != len(ia) or len(set(ib)) != len(ib):
            return False
        size = {**dict(zip(ib, (int(d) for d in b.shape))), **dict(zip(ia, (int(d) for d in a.shape)))}
        if any(c not in res and not (c in ia and c in ib) for c in set(ia) | set(ib)):
            return False  # an index summed within one operand: not a GEMM
        def prod(chars):
            return math.prod(size[c] for c in chars)
        batch = [c for c in res if c in ia and c in ib]
        m = prod(c for c in res if c in ia and c not in ib)
        n = prod(c for c in res if c in ib and c not in ia)
        k = prod(c for c in ia if c in ib and c not in res)
        name = self.node_name("einsum")
        out_tid = self.new_tensor(out, name)
        self.gemm(name, self.tid(a), self.tid(b), m, n, k, prod(batch), out_tid)  # type: ignore[arg-type]
        return True

    def attention_core(self, base: str, q_tid: int, k_tid: int, v_tid: int, count: int, m: int, s: int,
                       e: int, ev: int) -> int:
        """QK^T, softmax and AV of one attention call (``count`` independent (M x S) score matrices);
        returns the tensor id of the attention output (count, M, Ev)."""
        scores = self.shaped_tensor((count, m, s), f"{base}.qk")
        self.gemm(f"{base}.qk", q_tid, k_tid, m, s, e, count, scores, attention=base)
        probs = self.shaped_tensor((count, m, s), f"{base}.softmax")
        self.shaped_op("softmax", f"{base}.softmax", [scores], probs, attention=base)
        out = self.shaped_tensor((count, m, ev), f"{base}.av")
        self.gemm(f"{base}.av", probs, v_tid, m, ev, s, count, out, attention=base)
        return out

    def sdpa(self, args: tuple, kwargs: dict, out: Any) -> None:
        """``F.scaled_dot_product_attention(q, k, v)``: QK^T, softmax, AV. With fewer key/value heads
        than query heads (GQA), the query heads that share a key/value head are stacked into M, so
        each key/value head is one GEMM pair (its keys and values read once for the group)."""
        names = ["query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"]
        a = dict(zip(names, args))
        a.update(kwargs)
        q, k, v = a["query"], a["key"], a["value"]
        count = max(1, math.prod(int(d) for d in k.shape[:-2]))
        q_copies = max(1, math.prod(int(d) for d in q.shape[:-2]))
        group = max(1, q_copies // count)
        m, e = int(q.shape[-2]) * group, int(q.shape[-1])
        s, ev = int(k.shape[-2]), int(v.shape[-1])
        base = self.node_name("attention")
        res = self.attention_core(base, self.input_tid(q), self.input_tid(k), self.input_tid(v), count, m, s, e, ev)
        self.bind(out, res)

    def mha(self, args: tuple, kwargs: dict, out: Any) -> None:
        """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` calls): the input
        projection(s), QK^T, softmax, AV per head, and the output projection, as separate records."""
        names = ["query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
                 "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight", "out_proj_bias", "training",
                 "key_padding_mask", "need_weights", "attn_mask", "use_separate_proj_weight", "q_proj_weight",
                 "k_proj_weight", "v_proj_weight"]
        a = dict(zip(names, args))
        a.update(kwargs)
        q, k, v = a["query"], a["key"], a["value"]
        heads = int(a["num_heads"])
        e = int(q.shape[-1])
        batch = int(q.shape[1]) if q.dim() == 3 else 1
        lq, sk = int(q.shape[0]), int(k.shape[0])
        base = self.node_name("attention")

        if not a.get("use_separate_proj_weight") and q is k and k is v:
            qkv = self.linear_layer(f"{base}.in_proj", self.input_tid(q), e, 3 * e, lq * batch)
            q_t = k_t = v_t = qkv
        else:
            q_t = self.linear_layer(f"{base}.q_proj", self.input_tid(q), e, e, lq * batch)
            k_t = self.linear_layer(f"{base}.k_proj", self.input_tid(k), int(k.shape[-1]), e, sk * batch)
            v_t = self.linear_layer(f"{base}.v_proj", self.input_tid(v), int(v.shape[-1]), e, sk * batch)
        s = sk + (a.get("bias_k") is not None) + bool(a.get("add_zero_attn"))
        hd = e // heads
        att = self.attention_core(base, q_t, k_t, v_t, batch * heads, lq, s, hd, hd)
        out_t = out[0] if isinstance(out, (tuple, list)) else out
        self.linear_layer(f"{base}.out_proj", att, e, e, lq * batch, out=out_t)

    def linear_layer(self, name: str, in_tid: int, in_f: int, out_f: int, rows: int, out: Any = None) -> int:
        """A weight GEMM of ``rows`` tokens (kind ``linear`` for one row); returns its output tensor id
        (``out``'s id when given, else a new intermediate)."""
        out_tid = self.new_tensor(out, name) if out is not None else self.shaped_tensor((rows, out_f, 1), name)
        if rows <= 1:
            layer = Layer(name=name, kind="linear", in_c=in_f, in_h=1, in_w=1, out_c=out_f, out_h=1, out_w=1,
                          inputs=(in_tid,), output=out_tid, order=self.next_order())
        else:
            layer = Layer(name=name, kind="gemm", in_c=1, in_h=rows, in_w=in_f, out_c=out_f, out_h=rows, out_w=1,
                          kernel_h=1, kernel_w=in_f, inputs=(in_tid,), output=out_tid, order=self.next_order())
        self.layers.append(layer)
        return out_tid

    def embedding(self, args: tuple, kwargs: dict, out: Any) -> None:
        """``F.embedding``: a gather of only the rows the tokens read (weight-class data), written out."""
        ids = args[0] if args else kwargs["input"]
        weight = args[1] if len(args) > 1 else kwargs["weight"]
        rows_read = int(ids.numel())
        name = self.node_name("embedding")
        rows = self.shaped_tensor((rows_read, int(weight.shape[-1]), 1), "external", kind="weight")
        out_tid = self.new_tensor(out, name)
        self.ops.append(Op(name=name, kind="embedding", inputs=(rows,), output=out_tid,
                           input_shapes=(self.tensors[rows].shape,), output_shape=_shape3(out), order=self.next_order()))

    # -- dispatch ------------------------------------------------------------------------------
    def record(self, func: Any, args: tuple, kwargs: dict, out: Any, macs: int = 0) -> None:
        """Record one torch call; ``macs`` are the MACs torch's FLOP formulas counted inside it.

        A call with MACs (or a gather) that becomes no :class:`Layer` is listed in :attr:`unmodelled`."""
        fname = getattr(func, "__name__", "")
        if fname in _IGNORED:
            return
        n_layers = len(self.layers)
        self._record(fname, args, kwargs, out)
        recorded = sum(layer.macs for layer in self.layers[n_layers:])
        if len(self.layers) == n_layers and (macs > 0 or fname in _DATA_MOVEMENT_UNMODELLED):
            if any(self.tid(t) is not None for t in _iter_tensors((args, kwargs), self.torch)) or macs > 0:
                self.unmodelled.append(Unmodelled(self._unmodelled_name(fname), fname or repr(func), int(macs)))
        elif (fname in _MATMUL or fname in _ATTENTION) and macs > recorded:
            # a decomposition that missed part of the call's work (an exotic broadcast, extra bias
            # keys...): the rest is named, never dropped
            self.unmodelled.append(Unmodelled(self._unmodelled_name(fname), f"{fname} (part)", int(macs - recorded)))

    def _unmodelled_name(self, fname: str) -> str:
        if self.stack:
            path, leaf = self.stack[-1]
            base = path if leaf and path else f"{path}.{fname}" if path else fname
        else:
            base = fname
        taken = sum(1 for u in self.unmodelled if u.name == base or u.name.startswith(base + "#"))
        return base if not taken else f"{base}#{taken + 1}"

    def _record(self, fname: str, args: tuple, kwargs: dict, out: Any) -> None:
        torch = self.torch
        if fname in ("conv2d", "conv_transpose2d"):
            self.conv(fname, args, kwargs, out, transposed=fname == "conv_transpose2d")
            return
        if fname == "linear":
            self.linear(args, kwargs, out)
            return
        if fname == "scaled_dot_product_attention":
            self.sdpa(args, kwargs, out)
            return
        if fname == "multi_head_attention_forward":
            self.mha(args, kwargs, out)
            return
        if fname in _MATMUL and self.matmul(fname, args, kwargs, out):
            return
        if fname == "embedding":
            self.embedding(args, kwargs, out)
            return
        if not isinstance(out, torch.Tensor):
            if isinstance(out, (tuple, list)) and fname in _POOL_KINDS and out and isinstance(out[0], torch.Tensor):
                out = out[0]  # max_pool2d(return_indices=True)
            else:
                self._passthrough(args, kwargs, out, fname)
                return
        x_in = args[0] if args else next(iter(kwargs.values()), None)
        if fname in _POOL_KINDS and isinstance(x_in, torch.Tensor) and self.tid(x_in) is not None:
            kernel, stride = self._pool_geometry(fname, args, kwargs, x_in, out)
            self.op(_POOL_KINDS[fname], fname, [x_in], out, kernel, stride)
            return
        if fname in _UPSAMPLE and isinstance(x_in, torch.Tensor) and self.tid(x_in) is not None:
            scale = max(1, out.shape[-1] // max(1, x_in.shape[-1])) if out.dim() >= 3 else 1
            self.op("upsample", fname, [x_in], out, kernel=int(scale), stride=int(scale))
            return
        if fname in _NORMS and isinstance(x_in, torch.Tensor) and self.tid(x_in) is not None:
            self.op("norm", fname, [x_in], out)
            return
        if (fname in _POINTWISE and isinstance(x_in, torch.Tensor) and self.tid(x_in) is not None
                and out.numel() == x_in.numel()):
            self.pointwise(_POINTWISE[fname], fname, x_in, out)
            return
        if fname in _SOFTMAX and isinstance(x_in, torch.Tensor) and self.tid(x_in) is not None:
            self.op("softmax", "softmax", [x_in], out)
            return
        if fname in _CAT:
            pieces = list(args[0] if args else kwargs.get("tensors", kwargs.get("tensor", ())))
            if any(self.tid(p) is not None and self.kind_of(self.tid(p)) == "kv_cache" for p in pieces):
                # keys or values appended to the KV cache: the result is the cache (read by attention)
                self.op("kv_append", "kv_append", [p for p in pieces if p.numel()], out, out_kind="kv_cache")
                return
            if any(self.tid(p) is not None for p in pieces):
                self.op("concat", "cat", pieces, out)
                return
        if fname in _ADD:
            both = [t for t in _iter_tensors(list(args[:2]), torch)]
            if (len(both) == 2 and all(self.tid(t) is not None for t in both)
                    and tuple(both[0].shape) == tuple(both[1].shape)):
                self.op("add", "add", both, out)
                return
        self._passthrough(args, kwargs, out, fname)

    def _pool_geometry(self, fname: str, args: tuple, kwargs: dict, x: Any, out: Any) -> tuple[int, int]:
        if fname.startswith("adaptive"):
            k = max(1, int(x.shape[-1]) // max(1, int(out.shape[-1])))
            return k, k
        kernel = args[1] if len(args) > 1 else kwargs.get("kernel_size", 1)
        stride = args[2] if len(args) > 2 else kwargs.get("stride", None)
        k = _pair(kernel)[0]
        s = _pair(stride)[0] if stride not in (None, (), []) else k
        return k, s

    def _passthrough(self, args: tuple, kwargs: dict, out: Any, fname: str = "") -> None:
        torch = self.torch
        ins = [t for t in _iter_tensors((args, kwargs), torch) if self.tid(t) is not None]
        if not ins:
            return
        outs = list(_iter_tensors(out, torch))
        if not outs:
            return
        if fname in _ELEMENTWISE and len(outs) == 1:
            # x + pos_embedding, x * layer_scale: a feature map combined with a parameter as large as
            # the output reads that parameter (small ones, per-channel scales, are folded away)
            params = [t for t in _iter_tensors(list(args[:2]), torch)
                      if self.tid(t) is None and isinstance(t, torch.nn.Parameter) and t.numel() > 1
                      and t.numel() * max(1, int(outs[0].shape[0])) >= outs[0].numel()]
            if params:
                rows = [self.shaped_tensor(_shape3(p.unsqueeze(0)), "external", kind="weight") for p in params]
                name = self.node_name(fname.strip("_") or "elementwise")
                in_tids = [self.tid(t) for t in ins] + rows
                out_tid = len(self.tensors)
                self.tensors.append(TensorInfo(out_tid, _shape3(outs[0]), name))
                self.bind(outs[0], out_tid)
                self.ops.append(Op(name=name, kind="elementwise", inputs=tuple(in_tids),  # type: ignore[arg-type]
                                   output=out_tid, input_shapes=tuple(self.tensors[t].shape for t in in_tids),
                                   output_shape=_shape3(outs[0]), order=self.next_order()))
                return
        # distinct traced inputs (the same tensor twice, e.g. x * x, is one)
        seen: dict[int, Any] = {}
        for t in ins:
            seen.setdefault(self.tid(t), t)  # type: ignore[arg-type]
        if len(seen) == 1:
            src = next(iter(seen.values()))
            src_tid = self.tid(src)
            for o in outs:
                if o.numel() == src.numel():
                    if self.tid(o) != src_tid:
                        self.bind(o, src_tid)  # type: ignore[arg-type]
                else:  # slicing, padding, reductions, split: a new feature map
                    self.op("other", "other", [src], o)
            return
        # several feature maps combined: element-wise (mul, broadcast add, where...) or "other" per output
        kind = "elementwise" if fname in _ELEMENTWISE else "other"
        for o in outs:
            self.op(kind, fname.strip("_") if kind == "elementwise" else "other", list(seen.values()), o)


MAX_TOKENS = 10_000_000  # sequence or context lengths beyond this are surely a typo (and would not fit anywhere)


def is_decoder(module: Any) -> bool:
    """A decoder for the converter: a module with ``kv_cache_shapes(batch, context)``."""
    return callable(getattr(module, "kv_cache_shapes", None))


def _check_count(what: str, value: Any, minimum: int) -> int:
    if value is None:
        flag = "--context" if what.startswith("context") else "--seq"
        raise InputError(f"a {what} is required for this model ({flag} N)")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{what} must be at least {minimum}, got {value}")
    if value > MAX_TOKENS:
        raise InputError(f"{what} {value} is beyond {MAX_TOKENS:,} tokens")
    return value


def check_sequence(decoder: bool, model_name: str, seq_len: int | None, phase: str | None,
                   context: int | None, default_seq_len: int | None = None,
                   default_context: int | None = None,
                   max_positions: int | None = None) -> tuple[int, str | None, int | None]:
    """Validate (seq_len, phase, context) of a token model; returns them with the defaults filled in.

    Encoders take ``seq_len`` only. Decoders (:func:`is_decoder`) take ``phase`` ``"prefill"``
    (``seq_len`` tokens, default phase) or ``"decode"`` (one token on a cache of ``context`` tokens).
    Raises :class:`InputError` with one line otherwise."""
    if phase is not None and phase not in ("prefill", "decode"):
        raise InputError(f"unknown phase {phase!r}: choose prefill or decode")
    if not decoder:
        if phase is not None:
            raise InputError(f"{model_name} is an encoder: --phase applies to decoders (models with a KV cache)")
        if context is not None:
            raise InputError(f"{model_name} is an encoder: --context applies to decoders in the decode phase")
    else:
        phase = phase or ("decode" if context is not None else "prefill")
    if phase == "decode":
        if seq_len is not None and seq_len != 1:
            raise InputError(f"{model_name}: the decode phase runs one token; use --context for the tokens "
                             f"already in the KV cache (got a sequence length of {seq_len})")
        seq_len = 1
        context = _check_count("context length", context if context is not None else default_context, 1)
    else:
        if context is not None:
            raise InputError(f"{model_name}: --context applies to the decode phase; the prefill phase takes a "
                             "sequence length")
        seq_len = _check_count("sequence length", seq_len if seq_len is not None else default_seq_len, 1)
    if isinstance(max_positions, int) and seq_len + (context or 0) > max_positions:
        raise InputError(f"{model_name} has {max_positions:,} positions: {seq_len + (context or 0):,} tokens "
                         "do not fit")
    return seq_len, phase, context


@contextlib.contextmanager
def user_code(what: str, error: type[TrafficsimError] = InputError) -> Iterator[None]:
    """Run a user's code (a model file's import, its factory, its forward pass): anything it raises, and
    ``sys.exit`` or a ``KeyboardInterrupt`` it raises itself, becomes one line ``error(f"{what} ...")``.
    A real Ctrl-C (SIGINT while it runs) still interrupts."""
    sigint_seen = False
    previous = None

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal sigint_seen
        sigint_seen = True
        if callable(previous):  # e.g. the CLI's handler, which notes the interruption
            previous(signum, frame)
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.signal(signal.SIGINT, on_sigint)
        except (ValueError, OSError):  # not where signals can be set
            previous = None
    try:
        yield
    except TrafficsimError:
        raise
    except KeyboardInterrupt:
        if sigint_seen:
            raise
        raise error(f"{what} raised KeyboardInterrupt") from None
    except SystemExit as e:
        raise error(f"{what} called sys.exit({e.code!r})") from None
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise error(f"{what} failed: {type(e).__name__}" + (f": {msg}" if msg else "")) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def count_params(module: "nn.Module") -> int:
    """Parameter count of a module (shared parameters counted once), from torch."""
    return int(sum(p.numel() for p in module.parameters()))


def to_topology(module: "nn.Module", input_shape: Sequence[int] | str | None = None,
                name: str | None = None, strict: bool = False, *, seq_len: int | None = None,
                phase: str | None = None, context: int | None = None) -> Topology:
    """Trace ``module`` with one batch-1 input on the meta device: an image of ``input_shape`` (C, H, W;
    default 3x224x224), or, for token models, ``seq_len`` token ids.

    Token models are those given ``seq_len``/``phase`` or whose class sets ``trafficsim_input = "tokens"``;
    they are called as ``module(input_ids)``. Decoders (modules with ``kv_cache_shapes(batch, context)``)
    are called as ``module(input_ids, kv_cache=[...])`` with meta tensors of those shapes, recorded as
    the KV cache: ``phase="prefill"`` runs ``seq_len`` tokens on an empty cache; ``phase="decode"`` runs
    one token on a cache of ``context`` tokens (the step appends its keys and values and attends over
    ``context + 1`` positions).

    A module whose parameters and buffers are not on the meta device is run through
    :func:`torch.func.functional_call` with meta stand-ins, so no weights are copied or allocated.
    The module's own state (train/eval mode, hooks) is restored afterwards.

    Every call is also watched at torch's dispatch level with torch's own FLOP formulas
    (``torch.utils.flop_counter``): a call that does MACs (or gathers rows of a table) but becomes
    no layer is recorded in :attr:`Topology.unmodelled` and named by every run; with
    ``strict=True`` it is an :class:`~trafficsim.errors.UnmodelledOpError` instead.

    Raises :class:`InputError` for a bad ``input_shape`` and :class:`TopologyError` when the model
    has no convolution/linear layer or its forward pass fails on the meta device.
    """
    tokens = (seq_len is not None or phase is not None or context is not None
              or getattr(module, "trafficsim_input", None) == "tokens")
    if tokens:
        if input_shape is not None:
            raise InputError(f"{name or type(module).__name__} takes token ids: give a sequence length, "
                             "not an input shape")
        limit = getattr(module, "max_positions", None)
        seq_len, phase, context = check_sequence(is_decoder(module), name or type(module).__name__, seq_len, phase,
                                                 context, max_positions=limit if isinstance(limit, int) else None)
        shape = (1, 1, seq_len)
    else:
        shape = parse_input_shape(DEFAULT_INPUT_SHAPE if input_shape is None else input_shape)
    torch = import_torch("converting a PyTorch model")
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    if not isinstance(module, torch.nn.Module):
        raise TopologyError(f"expected a torch.nn.Module, got {type(module).__name__}")
    model_name = name or type(module).__name__
    rec = _Recorder(torch)

    class _Flops(TorchDispatchMode):
        # Counts the MACs of the aten ops each torch call runs, with torch's own formulas, so that
        # work hidden inside a call we do not model (matmul, attention, conv1d...) is never lost.
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            count = flop_registry.get(func._overloadpacket)
            if count is not None:
                rec.call_macs += int(count(*args, **kwargs, out_val=out)) // 2
            return out

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            x = args[0] if args else None
            fname = getattr(func, "__name__", "")
            rec.call_macs = 0
            if fname in _SHAPE_PRESERVING and isinstance(x, torch.Tensor) and x.is_meta:
                # Norms, activations and dropout keep the shape; their meta decompositions are slow
                # (the first call imports torch._dynamo, ~5 s), so skip them.
                inplace = fname.endswith("_") or kwargs.get("inplace") is True or (len(args) > 1 and args[-1] is True)
                out = x if inplace else torch.empty_like(x)
            else:
                out = func(*args, **kwargs)
            rec.record(func, args, kwargs, out, rec.call_macs)
            return out

    leaves = {m for m in module.modules() if next(m.children(), None) is None}
    handles = []
    for path, m in module.named_modules():
        def pre(mod, inputs, _path=path, _leaf=m in leaves):
            rec.stack.append((_path, _leaf))

        def post(mod, inputs, output):
            if rec.stack:
                rec.stack.pop()
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))

    training = {m: m.training for m in module.modules()}
    on_meta = all(t.device.type == "meta" for t in [*module.parameters(), *module.buffers()])
    what = (f"{seq_len} token(s)" + (f", {phase}" if phase else "") + (f" at context {context}" if context else "")
            if tokens else f"input {'x'.join(map(str, shape))}")
    where = f"forward pass of {model_name} with {what} on the meta device"
    try:
        module.eval()  # BN in training mode rejects a batch of 1 on 1x1 maps
        with user_code(where, TopologyError), torch.device("meta"), torch.no_grad():
            call_kwargs: dict = {}
            if tokens:
                x = torch.zeros((1, seq_len), dtype=torch.long, device="meta")
                rec.new_tensor(x, "input", kind="tokens")
                if phase is not None:
                    cache = [torch.empty(tuple(int(d) for d in s), device="meta")
                             for s in module.kv_cache_shapes(1, context or 0)]  # type: ignore[operator]
                    for c in cache:
                        rec.new_tensor(c, "kv_cache", kind="kv_cache")
                    call_kwargs["kv_cache"] = cache
            else:
                x = torch.empty((1, *shape), device="meta")
                rec.new_tensor(x, "input")
            with _Mode(), _Flops():
                if on_meta:
                    module(x, **call_kwargs)
                else:
                    meta_state = {k: torch.empty_like(v, device="meta")
                                  for k, v in [*module.named_parameters(), *module.named_buffers()]}
                    torch.func.functional_call(module, meta_state, (x,), call_kwargs)
    finally:
        for h in handles:
            h.remove()
        for m, t in training.items():
            m.training = t
    if not rec.layers:
        raise TopologyError(f"{model_name}: no convolution or linear layer was called in the forward pass")
    topology = Topology(name=model_name, layers=tuple(rec.layers), input_shape=None if tokens else shape,
                        ops=tuple(rec.ops), tensors=tuple(rec.tensors), params=count_params(module),
                        unmodelled=tuple(rec.unmodelled), seq_len=seq_len if tokens else None, phase=phase,
                        context=context if phase == "decode" else None)
    if strict:
        topology.check_modelled()
    return topology


# ---------------------------------------------------------------------------------------------
# user models: path/to/file.py:attr
# ---------------------------------------------------------------------------------------------
def split_user_spec(spec: str) -> tuple[Path, str]:
    """``"path/to/file.py:attr"`` -> (path, attr). Raises :class:`InputError` if malformed."""
    path_part, sep, attr = spec.rpartition(":")
    if not sep or not path_part.endswith(".py") or not attr:
        raise InputError(f"model spec {spec!r}: use path/to/file.py:name, where name is an nn.Module "
                         "instance, class or zero-argument function")
    return Path(path_part), attr


def load_user_model(spec: str) -> tuple["nn.Module", str]:
    """Load ``path/to/file.py:attr`` -> (module, name). ``attr`` may be an nn.Module instance, an
    nn.Module class or a zero-argument factory; classes and factories are called on the meta device.

    Raises :class:`InputError` with one line for a missing file or attribute or a wrong kind of object.
    """
    path, attr = split_user_spec(spec)
    if not path.is_file():
        raise InputError(f"model spec {spec!r}: no such file {str(path)!r}")
    torch = import_torch(f"model spec {spec!r}")

    mod_name = f"_trafficsim_user_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise InputError(f"model spec {spec!r}: cannot import {str(path)!r}")
    pymod = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = pymod
    try:
        with user_code(f"model spec {spec!r}: importing {path.name}"), torch.device("meta"):
            loader_spec.loader.exec_module(pymod)
    except TrafficsimError:
        sys.modules.pop(mod_name, None)
        raise
    obj: Any = pymod
    for part in attr.split("."):
        if not hasattr(obj, part):
            avail = sorted(n for n, v in vars(pymod).items()
                           if not n.startswith("_") and (isinstance(v, torch.nn.Module) or callable(v)))
            hint = f" (available: {', '.join(avail[:10])})" if avail else ""
            raise InputError(f"model spec {spec!r}: {path.name} has no attribute {attr!r}{hint}")
        obj = getattr(obj, part)
    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise InputError(f"model spec {spec!r}: {attr} is a {type(obj).__name__}, not an nn.Module, class or "
                             "factory")
        with user_code(f"model spec {spec!r}: calling {attr}()"), torch.device("meta"):
            obj = obj()
        if not isinstance(obj, torch.nn.Module):
            raise InputError(f"model spec {spec!r}: {attr}() returned a {type(obj).__name__}, not an nn.Module")
    return obj, attr.split(".")[-1]
