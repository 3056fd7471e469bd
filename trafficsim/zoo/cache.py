"""Topologies of zoo models without tracing: the exported JSON in package data for the default input,
a meta-device trace otherwise. (User models, ``path/to/file.py:attr``, are :mod:`trafficsim.inputs`' business.)

``python -m trafficsim.zoo.export`` regenerates ``trafficsim/data/topologies/<name>.json`` and the
SCALE-Sim CSVs ``topologies/<name>.csv``. Loading a cached topology does not import torch.

Token models (BERT, GPT-2, Llama) take a sequence length instead of an input shape, and decoders a
phase (``prefill`` of ``seq_len`` tokens, the default, or ``decode`` of one token at ``context``).
"""
from __future__ import annotations

from importlib import resources
from typing import Sequence

from . import model_input_size, model_sequence, resolve_model_name
from ..convert import check_sequence
from ..errors import InputError
from ..inputs import DEFAULT_INPUT_SHAPE, import_torch, parse_input_shape, user_model_topology  # noqa: F401 (old path)
from ..topology import Topology, with_decode_context

__all__ = ["model_topology", "build_model_topology", "cached_topology_path", "default_input_shape",
           "sequence_options"]

_MEMO: dict[tuple, Topology] = {}


def default_input_shape(name: str) -> tuple[int, int, int] | None:
    """The input (C, H, W) a zoo model's topology is exported at (3x224x224 for ImageNet models);
    None for token models (they take a sequence length, :func:`sequence_options`)."""
    if model_sequence(name) is not None:
        return None
    return (DEFAULT_INPUT_SHAPE[0], *model_input_size(name))


def sequence_options(name: str, seq_len: int | None = None, phase: str | None = None,
                     context: int | None = None) -> dict:
    """Validated ``{"seq_len", "phase", "context"}`` of a zoo token model with its defaults filled in
    (``{}`` for image models, which refuse these options). One-line :class:`InputError` otherwise."""
    canonical = resolve_model_name(name)
    seq = model_sequence(canonical)
    if seq is None:
        if seq_len is not None or phase is not None or context is not None:
            raise InputError(f"{canonical} takes an image (--input CxHxW), not a sequence length, phase or context")
        return {}
    s, p, c = check_sequence("context" in seq, canonical, seq_len, phase, context, seq["seq_len"],
                             seq.get("context"), seq["max_positions"])
    return {"seq_len": s, "phase": p, "context": c}


def cached_topology_path(name: str, phase: str | None = None):
    """The package-data JSON of a zoo model (a ``Traversable``; may not exist); decoders also have
    ``<name>.decode.json``, their decode step at the default context (``phase="decode"``)."""
    suffix = ".decode.json" if phase == "decode" else ".json"
    return resources.files("trafficsim").joinpath("data", "topologies", f"{resolve_model_name(name)}{suffix}")


def _load_cached(path) -> Topology | None:
    if not path.is_file():
        return None
    with resources.as_file(path) as p:
        return Topology.from_json(p)


def build_model_topology(name: str, input_shape: Sequence[int] | str | None = DEFAULT_INPUT_SHAPE,
                         **sequence: int | str | None) -> Topology:
    """Build zoo model ``name`` on the meta device and trace it (imports torch). Token models take
    ``seq_len``/``phase``/``context`` (defaults filled in) instead of ``input_shape``."""
    torch = import_torch(f"building model {name!r}")

    from . import create_model
    from ..convert import to_topology

    canonical = resolve_model_name(name)
    with torch.device("meta"):
        module = create_model(canonical)
    if model_sequence(canonical) is not None:
        return to_topology(module, name=canonical, **sequence_options(canonical, **sequence))  # type: ignore[arg-type]
    return to_topology(module, parse_input_shape(input_shape or DEFAULT_INPUT_SHAPE), name=canonical)


def model_topology(name: str, input_shape: Sequence[int] | str | None = None, *, seq_len: int | None = None,
                   phase: str | None = None, context: int | None = None) -> Topology:
    """The topology of zoo model ``name`` (case, ``-`` and ``_`` are ignored) at ``input_shape`` (C, H, W).

    ``None`` means the model's default input (:func:`default_input_shape`: 3x224x224 for ImageNet
    models, 3x360x480 for the CamVid segmentation nets...). Token models take ``seq_len`` and decoders
    ``phase``/``context`` instead (:func:`sequence_options`). The default input loads the exported
    JSON from package data (fast, no torch); other inputs, or a missing JSON, build the model and
    trace it. Results are memoised per process.
    Raises :class:`~trafficsim.errors.UnknownModelError` (with close names) or ``InputError``.
    """
    canonical = resolve_model_name(name)
    if model_sequence(canonical) is not None:
        if input_shape is not None:
            raise InputError(f"{canonical} takes token ids: give a sequence length (--seq), not an input shape")
        opts = sequence_options(canonical, seq_len, phase, context)
        key: tuple = (canonical, tuple(sorted(opts.items())))
        is_default = opts == sequence_options(canonical)
        shape = None
    else:
        sequence_options(canonical, seq_len, phase, context)  # refuses sequence options for image models
        opts = {}
        shape = default_input_shape(canonical) if input_shape is None else parse_input_shape(input_shape)
        key = (canonical, shape)
        is_default = shape == default_input_shape(canonical)
    if key in _MEMO:
        return _MEMO[key]
    topology = None
    if is_default:
        topology = _load_cached(cached_topology_path(canonical))
    elif opts.get("phase") == "decode":
        # a decode step at any context is the cached one with the attended length changed (no torch)
        base = _load_cached(cached_topology_path(canonical, "decode"))
        if base is not None:
            topology = with_decode_context(base, opts["context"])
    if topology is None:
        topology = build_model_topology(canonical, shape, **opts)
    _MEMO[key] = topology
    return topology
