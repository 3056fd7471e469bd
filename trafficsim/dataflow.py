"""The one dataflow table: how a layer's three dimensions map onto a systolic array.

A convolution (or GEMM) layer has three dimensions, SCALE-Sim's operand-matrix axes:

* ``E``   - output pixels (``out_h * out_w``; GEMM: M),
* ``RSC`` - the window, the reduction (``filter_h * filter_w * channels``; GEMM: K),
* ``K``   - filters, output channels (``num_filters``; GEMM: N).

Each dataflow puts one of them on the array's rows (``Sr``), one on its columns (``Sc``), and
streams the third through time (``T``), as SCALE-Sim's ``systolic_compute_{os,ws,is}.py`` do:

======== ======================= ======== ======== ========
dataflow stationary operand      Sr       Sc       T
======== ======================= ======== ======== ========
os       outputs (OFMAP)         E        K        RSC
ws       weights (FILTER)        RSC      K        E
is       inputs (IFMAP)          RSC      E        K
======== ======================= ======== ======== ========

The integer codes (:data:`OS`, :data:`WS`, :data:`IS`) are what the compiled kernel receives
and tests; numba folds these module constants into the code. Everything that depends on the
dataflow (compat, its kernel, USER-mode buffers, the capacity model) reads this table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: integer codes of the dataflows (index into :data:`DATAFLOWS`)
OS = 0
WS = 1
IS = 2
#: dataflow names, indexed by code
DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")

#: the three layer dimensions
DIM_E = "E"
DIM_RSC = "RSC"
DIM_K = "K"


@dataclass(frozen=True)
class Dataflow:
    """One row of the table: which dimension is spatial on rows / columns and which is temporal."""

    name: str
    code: int
    spatial_rows: str
    spatial_cols: str
    temporal: str
    stationary: str      # the operand held in the array: "ofmap", "filter" or "ifmap"
    _positions: tuple[int, int, int] = field(init=False, repr=False, compare=False)

    def dims(self, e: int, rsc: int, k: int) -> tuple[int, int, int]:
        """``(Sr, Sc, T)`` of a layer with ``e`` output pixels, window ``rsc`` and ``k`` filters."""
        size = (e, rsc, k)
        i_rows, i_cols, i_t = self._positions
        return size[i_rows], size[i_cols], size[i_t]

    def __post_init__(self) -> None:
        order = (DIM_E, DIM_RSC, DIM_K)
        if sorted((self.spatial_rows, self.spatial_cols, self.temporal)) != sorted(order):
            raise ValueError(f"dataflow {self.name!r} must map each of E, RSC, K exactly once")
        positions = (order.index(self.spatial_rows), order.index(self.spatial_cols), order.index(self.temporal))
        object.__setattr__(self, "_positions", positions)


TABLE: dict[str, Dataflow] = {
    "os": Dataflow("os", OS, spatial_rows=DIM_E, spatial_cols=DIM_K, temporal=DIM_RSC, stationary="ofmap"),
    "ws": Dataflow("ws", WS, spatial_rows=DIM_RSC, spatial_cols=DIM_K, temporal=DIM_E, stationary="filter"),
    "is": Dataflow("is", IS, spatial_rows=DIM_RSC, spatial_cols=DIM_E, temporal=DIM_K, stationary="ifmap"),
}


def dataflow(name: str) -> Dataflow:
    """The table row of ``name`` (``"os"``, ``"ws"`` or ``"is"``); ``KeyError`` otherwise
    (:class:`~trafficsim.hardware.Hardware` validates the name where users give it)."""
    return TABLE[name]


def code(name: str) -> int:
    """The integer code of dataflow ``name`` for the compiled kernel."""
    return TABLE[name].code


def spatial_temporal(name: str, e: int, rsc: int, k: int) -> tuple[int, int, int]:
    """``(Sr, Sc, T)`` of a layer under dataflow ``name`` (see the module table)."""
    return TABLE[name].dims(e, rsc, k)
