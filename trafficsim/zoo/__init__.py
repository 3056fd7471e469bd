"""The model zoo: exact PyTorch definitions of CNNs, registered by name (timm style).

One family per module (``hardnet``, ``resnet``, ``densenet``, ``mobilenet``, ``vgg``, ``squeezenet``, ...),
one small constructor per variant decorated with :func:`register_model`.

Listing and validating names never imports torch: :data:`MODELS` is a static table
name -> ``"family_module:function"``; :func:`create_model` imports the family module on demand.
A test checks that this table equals what the decorators register.

>>> from trafficsim.zoo import create_model, list_models
>>> list_models("hardnet*")
['hardnet39ds', 'hardnet68', 'hardnet68ds', 'hardnet85']
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import InputError, UnknownModelError

if TYPE_CHECKING:  # torch stays unimported until a model is built
    from torch import nn

__all__ = ["MODELS", "register_model", "create_model", "list_models", "resolve_model_name", "model_family",
           "model_input_size", "registered_models", "model_sequence", "is_decoder_model"]

# name -> "family_module:constructor". Keep in sync with the @register_model decorators (tests check it).
MODELS: dict[str, str] = {
    # HarDNet (PingoLH/Pytorch-HarDNet)
    "hardnet39ds": "hardnet:hardnet39ds",
    "hardnet68": "hardnet:hardnet68",
    "hardnet68ds": "hardnet:hardnet68ds",
    "hardnet85": "hardnet:hardnet85",
    # ResNet: torchvision (v1.5, stride on the 3x3) and original v1 (stride on the first 1x1)
    "resnet18": "resnet:resnet18",
    "resnet34": "resnet:resnet34",
    "resnet50": "resnet:resnet50",
    "resnet101": "resnet:resnet101",
    "resnet152": "resnet:resnet152",
    "resnet50_v1": "resnet:resnet50_v1",
    "resnet101_v1": "resnet:resnet101_v1",
    "resnet152_v1": "resnet:resnet152_v1",
    # DenseNet (torchvision layout; densenet264 from the DenseNet paper)
    "densenet121": "densenet:densenet121",
    "densenet161": "densenet:densenet161",
    "densenet169": "densenet:densenet169",
    "densenet201": "densenet:densenet201",
    "densenet264": "densenet:densenet264",
    # MobileNetV2 (torchvision)
    "mobilenet_v2": "mobilenet:mobilenet_v2",
    "mobilenet_v2_140": "mobilenet:mobilenet_v2_140",
    # AlexNet as trained in 2012 (Caffe bvlc_alexnet: grouped conv2/4/5, LRN, 227x227)
    "alexnet": "alexnet:alexnet",
    # VGG and SqueezeNet (torchvision)
    "vgg16": "vgg:vgg16",
    "squeezenet1_0": "squeezenet:squeezenet1_0",
    # Segmentation (CamVid / Cityscapes)
    "fc_densenet56": "fc_densenet:fc_densenet56",
    "fc_densenet67": "fc_densenet:fc_densenet67",
    "fc_densenet103": "fc_densenet:fc_densenet103",
    "fc_hardnet68": "fc_hardnet:fc_hardnet68",
    "fc_hardnet76": "fc_hardnet:fc_hardnet76",
    "fc_hardnet84": "fc_hardnet:fc_hardnet84",
    "fc_hardnet70": "fc_hardnet:fc_hardnet70",
    "segnet": "segnet:segnet",
    # Transformers (written here: torchvision ViT, HF BERT/GPT-2/Llama layouts)
    "vit_b_16": "transformer:vit_b_16",
    "bert_base": "transformer:bert_base",
    "gpt2": "transformer:gpt2",
    "llama3_2_1b": "transformer:llama3_2_1b",
    "llama3_8b": "transformer:llama3_8b",
}

# Default input (height, width) of models not meant for 224x224 ImageNet inputs.
_INPUT_SIZES: dict[str, tuple[int, int]] = {
    # CamVid segmentation nets at the HarDNet paper's 360x480; FC-HarDNet-70 at Cityscapes' 1024x2048
    **{n: (360, 480) for n in ("fc_densenet56", "fc_densenet67", "fc_densenet103", "fc_hardnet68",
                               "fc_hardnet76", "fc_hardnet84", "segnet")},
    "fc_hardnet70": (1024, 2048),
    "alexnet": (227, 227),  # conv1 11x11/4 gives 55x55 only at 227 (the size Caffe and Eyeriss use)
}

# Token models: default sequence length (encoders; decoders' prefill), decode context, positions.
# Decoders are the entries with a "context".
_SEQUENCES: dict[str, dict[str, int]] = {
    "bert_base": {"seq_len": 128, "max_positions": 512},
    "gpt2": {"seq_len": 1024, "context": 1023, "max_positions": 1024},
    "llama3_2_1b": {"seq_len": 2048, "context": 4096, "max_positions": 131072},
    "llama3_8b": {"seq_len": 2048, "context": 4096, "max_positions": 8192},
}

# Modules of this package that hold no model definitions.
_NOT_FAMILIES = frozenset({"cache", "export"})

# Filled by @register_model when a family module is imported: name -> constructor.
_REGISTERED: dict[str, Callable[..., Any]] = {}

F = TypeVar("F", bound=Callable[..., Any])


def register_model(fn: F) -> F:
    """Register a model constructor under its function name (decorator).

    The name must also appear in the static :data:`MODELS` table, so that it can be listed without torch.
    """
    _REGISTERED[fn.__name__] = fn
    return fn


def _normalise(name: str) -> str:
    # "HarDNet-68", "ResNet50-v1" and "mobilenetv2" all find their canonical names
    return "".join(ch for ch in name.lower() if ch.isalnum())


_BY_NORMALISED: dict[str, str] = {_normalise(n): n for n in MODELS}


def resolve_model_name(name: str) -> str:
    """Return the canonical registered name for ``name`` (case, ``-`` and ``_`` are ignored).

    Raises :class:`~trafficsim.errors.UnknownModelError` with the closest names if there is no such model.
    Does not import torch.
    """
    if name in MODELS:
        return name
    canonical = _BY_NORMALISED.get(_normalise(name))
    if canonical is not None:
        return canonical
    close = difflib.get_close_matches(name.lower(), list(MODELS), n=3, cutoff=0.5)
    if not close:  # try again ignoring separators, e.g. "resnet5"
        by_norm = difflib.get_close_matches(_normalise(name), list(_BY_NORMALISED), n=3, cutoff=0.5)
        close = [_BY_NORMALISED[c] for c in by_norm]
    hint = f"; did you mean {', '.join(close)}?" if close else "; see 'trafficsim list' for the known models"
    raise UnknownModelError(f"unknown model {name!r}{hint}")


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of the models in the zoo, optionally filtered by ``pattern``.

    ``pattern`` is a case-insensitive shell wildcard (``"resnet*"``, ``"*_v1"``); a pattern without
    wildcards matches as a substring (``"dense"``). Does not import torch.
    """
    names = sorted(MODELS)
    if not pattern:
        return names
    pat = pattern.lower()
    if not any(ch in pat for ch in "*?["):
        pat = f"*{pat}*"
    return [n for n in names if fnmatch.fnmatchcase(n, pat)]


def model_family(name: str) -> str:
    """The family module of a model (``"hardnet"``, ``"resnet"``, ...). Does not import torch."""
    return MODELS[resolve_model_name(name)].split(":")[0]


def model_input_size(name: str) -> tuple[int, int]:
    """The default input (height, width) of a model: (224, 224) unless the model is made for another size."""
    from ..inputs import DEFAULT_INPUT_SHAPE

    return _INPUT_SIZES.get(resolve_model_name(name), DEFAULT_INPUT_SHAPE[1:])


def model_sequence(name: str) -> dict[str, int] | None:
    """Token models: ``{"seq_len", "max_positions"}`` and, for decoders, the default decode ``"context"``;
    None for image models. Does not import torch."""
    seq = _SEQUENCES.get(resolve_model_name(name))
    return dict(seq) if seq is not None else None


def is_decoder_model(name: str) -> bool:
    """True for zoo decoders (models with a KV cache and prefill/decode phases). Does not import torch."""
    seq = model_sequence(name)
    return seq is not None and "context" in seq


def create_model(name: str, **kwargs: Any) -> "nn.Module":
    """Build the model ``name`` (e.g. ``"hardnet68"``) with the constructor's keyword arguments.

    Every constructor accepts ``num_classes=1000``. Build on the meta device to avoid allocating weights::

        with torch.device("meta"):
            model = create_model("resnet50")

    Raises :class:`~trafficsim.errors.UnknownModelError` for an unknown name and
    :class:`~trafficsim.errors.InputError` for an option the constructor does not take.
    """
    from ..inputs import import_torch

    canonical = resolve_model_name(name)
    module_name, function_name = MODELS[canonical].split(":")
    import_torch(f"building model {canonical!r}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    constructor = getattr(module, function_name)
    try:  # an unknown or missing option is the user's mistake, not a bug
        inspect.signature(constructor).bind(**kwargs)
    except TypeError as e:
        raise InputError(f"model {canonical!r}: {e}") from None
    return constructor(**kwargs)


def registered_models() -> dict[str, str]:
    """Import every family module and return what the decorators registered, as name -> "module:function".

    Used by tests to check :data:`MODELS`; imports torch.
    """
    import pkgutil
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_FAMILIES:
            importlib.import_module(f"{__name__}.{info.name}")
    prefix = f"{__name__}."
    return {name: f"{fn.__module__.removeprefix(prefix)}:{fn.__name__}" for name, fn in _REGISTERED.items()}
