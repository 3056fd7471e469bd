"""Topologies of zoo models without tracing: the exported JSON in package data for the default input,
a meta-device trace otherwise. (User models, ``path/to/file.py:attr``, are :mod:`trafficsim.inputs`' business.)

``python -m trafficsim.zoo.export`` regenerates ``trafficsim/data/topologies/<name>.json`` and the
SCALE-Sim CSVs ``topologies/<name>.csv``. Loading a cached topology does not import torch.
"""
from __future__ import annotations

from importlib import resources
from typing import Sequence

from . import model_input_size, resolve_model_name
from ..inputs import DEFAULT_INPUT_SHAPE, import_torch, parse_input_shape, user_model_topology  # noqa: F401 (old import path)
from ..topology import Topology

__all__ = ["model_topology", "build_model_topology", "cached_topology_path", "default_input_shape"]

_MEMO: dict[tuple[str, tuple[int, int, int]], Topology] = {}


def default_input_shape(name: str) -> tuple[int, int, int]:
    """The input (C, H, W) a zoo model's topology is exported at (3x224x224 for ImageNet models)."""
    return (DEFAULT_INPUT_SHAPE[0], *model_input_size(name))


def cached_topology_path(name: str):
    """The package-data JSON of a zoo model (a ``Traversable``; may not exist)."""
    return resources.files("trafficsim").joinpath("data", "topologies", f"{resolve_model_name(name)}.json")


def build_model_topology(name: str, input_shape: Sequence[int] | str = DEFAULT_INPUT_SHAPE) -> Topology:
    """Build zoo model ``name`` on the meta device and trace it (imports torch)."""
    torch = import_torch(f"model {name!r} at input {'x'.join(map(str, parse_input_shape(input_shape)))}")

    from . import create_model
    from ..convert import to_topology

    canonical = resolve_model_name(name)
    shape = parse_input_shape(input_shape)
    with torch.device("meta"):
        module = create_model(canonical)
    return to_topology(module, shape, name=canonical)


def model_topology(name: str, input_shape: Sequence[int] | str | None = None) -> Topology:
    """The topology of zoo model ``name`` (case, ``-`` and ``_`` are ignored) at ``input_shape`` (C, H, W).

    ``None`` means the model's default input (:func:`default_input_shape`: 3x224x224 for ImageNet
    models, 3x360x480 for the CamVid segmentation nets...). The default input loads the exported
    JSON from package data (fast, no torch); other inputs, or a missing JSON, build the model and
    trace it. Results are memoised per process.
    Raises :class:`~trafficsim.errors.UnknownModelError` (with close names) or ``InputError``.
    """
    canonical = resolve_model_name(name)
    shape = default_input_shape(canonical) if input_shape is None else parse_input_shape(input_shape)
    key = (canonical, shape)
    if key in _MEMO:
        return _MEMO[key]
    topology = None
    if shape == default_input_shape(canonical):
        path = cached_topology_path(canonical)
        if path.is_file():
            with resources.as_file(path) as p:
                topology = Topology.from_json(p)
    if topology is None:
        topology = build_model_topology(canonical, shape)
    _MEMO[key] = topology
    return topology
