"""Field-by-field comparison of two runs of the same topology and hardware (e.g. the ``compat``
engine against the real SCALE-Sim), as used by ``trafficsim validate``."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .results import RunResult, result_fields

# Identification columns, not simulation results: never compared.
_NOT_COMPARED = ("layer_id", "name", "source_layer")


def compared_fields() -> list[str]:
    """The :class:`~trafficsim.results.LayerResult` fields that validation compares."""
    return [f for f in result_fields() if f not in _NOT_COMPARED]


@dataclass(frozen=True)
class FieldDiff:
    """One value that differs between two runs: layer index and name, field, the two values."""

    layer_id: int
    layer_name: str
    field: str
    value_a: object
    value_b: object


def values_equal(a: object, b: object, rel_tol: float = 1e-12) -> bool:
    """Integers (and ``None``) must be equal; floats may differ by ``rel_tol`` (SCALE-Sim prints
    full-precision floats whose last digit depends on the order of operations)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=0.0)  # type: ignore[arg-type]
    return a == b


def compare_results(a: RunResult, b: RunResult, rel_tol: float = 1e-12) -> list[FieldDiff]:
    """Every compared field of every layer where ``a`` and ``b`` differ, in layer order.

    Layers are matched by position; when the runs have different layer counts, the extra layers
    are reported as a ``"layer"`` difference with ``None`` on the missing side.
    """
    diffs: list[FieldDiff] = []
    names = compared_fields()
    for i in range(max(len(a.layers), len(b.layers))):
        la = a.layers[i] if i < len(a.layers) else None
        lb = b.layers[i] if i < len(b.layers) else None
        if la is None or lb is None:
            present = la or lb
            diffs.append(FieldDiff(i, present.name if present else "", "layer",
                                   la.name if la else None, lb.name if lb else None))
            continue
        for f in names:
            va, vb = getattr(la, f), getattr(lb, f)
            if not values_equal(va, vb, rel_tol):
                diffs.append(FieldDiff(i, la.name, f, va, vb))
    return diffs
