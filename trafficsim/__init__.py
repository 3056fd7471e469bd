"""trafficsim: DRAM traffic of CNNs on systolic-array accelerators, straight from PyTorch models.

The pipeline: model zoo -> :func:`to_topology` -> :class:`Topology` -> engines
(:func:`simulate`) -> :class:`RunResult` -> run folders, plots and sweeps.

Heavy imports (torch, matplotlib, pandas) happen only when the functions that need them are used.
"""
from __future__ import annotations

from typing import Any

from .errors import TrafficsimError
from .hardware import Hardware, preset, read_cfg
from .inputs import DEFAULT_INPUT_SHAPE, apply_options, resolve_hardware, resolve_topology
from .results import LayerResult, RunResult
from .topology import Layer, Op, Topology, read_csv, write_csv

__version__ = "0.1.0"

# name -> "module:attribute", imported on first use so that `import trafficsim` stays light
_LAZY = {
    "create_model": "trafficsim.zoo:create_model",
    "list_models": "trafficsim.zoo:list_models",
    "to_topology": "trafficsim.convert:to_topology",
    "model_topology": "trafficsim.zoo.cache:model_topology",
    "simulate": "trafficsim.engines:simulate",
    "layer_metrics": "trafficsim.metrics:layer_metrics",
    "cio": "trafficsim.metrics:cio",
    "sweep": "trafficsim.sweeps:sweep",
    "plot": "trafficsim.report:plot",
    "with_workload": "trafficsim.workload:with_workload",
    "Precision": "trafficsim.workload:Precision",
    "parse_precision": "trafficsim.workload:parse_precision",
}

__all__ = ["TrafficsimError", "Hardware", "preset", "read_cfg", "DEFAULT_INPUT_SHAPE", "apply_options",
           "resolve_hardware", "resolve_topology", "LayerResult", "RunResult", "Layer", "Op",
           "Topology", "read_csv", "write_csv", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        mod, attr = _LAZY[name].split(":")
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'trafficsim' has no attribute {name!r}")
