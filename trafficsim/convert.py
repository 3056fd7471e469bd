"""PyTorch nn.Module -> :class:`~trafficsim.topology.Topology`, traced on the meta device.

:func:`to_topology` runs one forward pass of batch 1 on the meta device (no weights are allocated)
under a :class:`torch.overrides.TorchFunctionMode` that sees every torch function call:

* ``conv2d`` / ``conv_transpose2d`` / ``linear`` become :class:`Layer` records (also when called
  functionally on a bare Parameter);
* pooling, ``cat``, feature-map ``add`` and ``interpolate`` become :class:`Op` records;
* other calls with one feature-map input (BN, ReLU, dropout, flatten, view...) pass the tensor id
  through when they keep the element count, so a conv's input resolves to the node that really
  produced it; shape-changing calls (slicing, padding, reductions) and calls that combine several
  feature maps (``mul``, ``matmul``) become ``"other"`` ops.

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
# Element-wise calls whose output has the input's shape (run as empty_like on meta; see to_topology)
_SHAPE_PRESERVING = {f + sfx for f in ("relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu", "celu", "gelu",
                                       "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish", "softplus",
                                       "dropout", "dropout2d", "alpha_dropout", "feature_alpha_dropout")
                     for sfx in ("", "_")} | {"batch_norm", "instance_norm", "group_norm", "layer_norm"}
_ADD = {"add", "add_", "__add__", "__iadd__", "__radd__", "sub", "sub_", "__sub__", "__isub__", "__rsub__"}
# Calls that move data but have no FLOPs and are not modelled yet: named on the output, never dropped.
_DATA_MOVEMENT_UNMODELLED = {"embedding", "embedding_bag"}
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
    def new_tensor(self, t: Any, producer: str) -> int:
        tid = len(self.tensors)
        self.tensors.append(TensorInfo(tid, _shape3(t), producer))
        self.bind(t, tid)
        return tid

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
           stride: int = 0, rebind_inplace: bool = False) -> None:
        name = self.node_name(func_name)
        in_tids = tuple(self.input_tid(t) for t in inputs)
        shapes = tuple(_shape3(t) for t in inputs)
        order = self.next_order()
        out_tid = len(self.tensors)
        self.tensors.append(TensorInfo(out_tid, _shape3(out), name))
        self.bind(out, out_tid)  # for in-place ops `out` is the first input: its id now means the result
        self.ops.append(Op(name=name, kind=kind, inputs=in_tids, output=out_tid, input_shapes=shapes,  # type: ignore[arg-type]
                           output_shape=_shape3(out), order=order, kernel=kernel, stride=stride))

    # -- dispatch ------------------------------------------------------------------------------
    def record(self, func: Any, args: tuple, kwargs: dict, out: Any, macs: int = 0) -> None:
        """Record one torch call; ``macs`` are the MACs torch's FLOP formulas counted inside it.

        A call with MACs (or a gather) that becomes no :class:`Layer` is listed in :attr:`unmodelled`."""
        fname = getattr(func, "__name__", "")
        if fname in _IGNORED:
            return
        n_layers = len(self.layers)
        self._record(fname, args, kwargs, out)
        if len(self.layers) == n_layers and (macs > 0 or fname in _DATA_MOVEMENT_UNMODELLED):
            if any(self.tid(t) is not None for t in _iter_tensors((args, kwargs), self.torch)) or macs > 0:
                self.unmodelled.append(Unmodelled(self._unmodelled_name(fname), fname or repr(func), int(macs)))

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
        if not isinstance(out, torch.Tensor):
            if isinstance(out, (tuple, list)) and fname in _POOL_KINDS and out and isinstance(out[0], torch.Tensor):
                out = out[0]  # max_pool2d(return_indices=True)
            else:
                self._passthrough(args, kwargs, out)
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
        if fname in _CAT:
            pieces = list(args[0] if args else kwargs.get("tensors", kwargs.get("tensor", ())))
            if any(self.tid(p) is not None for p in pieces):
                self.op("concat", "cat", pieces, out)
                return
        if fname in _ADD:
            both = [t for t in _iter_tensors(list(args[:2]), torch)]
            if (len(both) == 2 and all(self.tid(t) is not None for t in both)
                    and tuple(both[0].shape) == tuple(both[1].shape)):
                self.op("add", "add", both, out)
                return
        self._passthrough(args, kwargs, out)

    def _pool_geometry(self, fname: str, args: tuple, kwargs: dict, x: Any, out: Any) -> tuple[int, int]:
        if fname.startswith("adaptive"):
            k = max(1, int(x.shape[-1]) // max(1, int(out.shape[-1])))
            return k, k
        kernel = args[1] if len(args) > 1 else kwargs.get("kernel_size", 1)
        stride = args[2] if len(args) > 2 else kwargs.get("stride", None)
        k = _pair(kernel)[0]
        s = _pair(stride)[0] if stride not in (None, (), []) else k
        return k, s

    def _passthrough(self, args: tuple, kwargs: dict, out: Any) -> None:
        torch = self.torch
        ins = [t for t in _iter_tensors((args, kwargs), torch) if self.tid(t) is not None]
        if not ins:
            return
        outs = list(_iter_tensors(out, torch))
        if not outs:
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
        # several feature maps combined (mul, matmul, broadcast add...): an "other" op per output
        for o in outs:
            self.op("other", "other", list(seen.values()), o)


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


def to_topology(module: "nn.Module", input_shape: Sequence[int] | str = DEFAULT_INPUT_SHAPE,
                name: str | None = None, strict: bool = False) -> Topology:
    """Trace ``module`` with one batch-1 input of ``input_shape`` (C, H, W) on the meta device.

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
    shape = parse_input_shape(input_shape)
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
    where = f"forward pass of {model_name} with input {'x'.join(map(str, shape))} on the meta device"
    try:
        module.eval()  # BN in training mode rejects a batch of 1 on 1x1 maps
        with user_code(where, TopologyError), torch.device("meta"), torch.no_grad():
            x = torch.empty((1, *shape), device="meta")
            rec.new_tensor(x, "input")
            with _Mode(), _Flops():
                if on_meta:
                    module(x)
                else:
                    meta_state = {k: torch.empty_like(v, device="meta")
                                  for k, v in [*module.named_parameters(), *module.named_buffers()]}
                    torch.func.functional_call(module, meta_state, (x,))
    finally:
        for h in handles:
            h.remove()
        for m, t in training.items():
            m.training = t
    if not rec.layers:
        raise TopologyError(f"{model_name}: no convolution or linear layer was called in the forward pass")
    topology = Topology(name=model_name, layers=tuple(rec.layers), input_shape=shape, ops=tuple(rec.ops),
                        tensors=tuple(rec.tensors), params=count_params(module), unmodelled=tuple(rec.unmodelled))
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
