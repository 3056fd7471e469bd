"""The memory-system seam: the one place where engines ask "how long do these transfers take, at what energy".

An engine describes what it moves between DRAM and its SRAMs as :class:`Transfers` (tile transfers in
issue order: bytes wanted, read or write, the earliest cycle each may start) and asks
:func:`transfer_cost` against a :class:`MemorySystem` (the DRAM configuration, the array clock, the
ideal pipe's energy per byte). The answer, :class:`TransferCost`, holds the DRAM time in array cycles,
when each transfer completes, the bytes that crossed the bus, energy by component and row statistics.

``DramConfig(standard="ideal")`` answers as the capacity engine always has: ``ceil(bytes / (GB/s x
1000 / MHz))`` cycles and ``bytes x pJ/byte`` energy, with no rows, latency or burst rounding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .config import DramConfig


@dataclass(frozen=True)
class MemorySystem:
    """What transfers are timed against.

    * ``dram``: the DRAM (:class:`~trafficsim.dram.DramConfig`).
    * ``clock_mhz``: the accelerator's clock; every cycle count in and out of :func:`transfer_cost` is
      in its cycles.
    * ``ideal_pj_per_byte``: energy per byte of the ideal pipe (a real DRAM computes its own).
    """

    dram: DramConfig
    clock_mhz: float
    ideal_pj_per_byte: float

    @property
    def ideal_bytes_per_cycle(self) -> float:
        """Bytes the ideal pipe moves per array cycle (GB/s x 1000 / MHz)."""
        return self.dram.bandwidth_gbs * 1e3 / self.clock_mhz

    def ideal_cycles(self, nbytes: int) -> int:
        """Array cycles the ideal pipe needs for ``nbytes``: ``ceil(bytes / bytes per cycle)``."""
        return math.ceil(nbytes / self.ideal_bytes_per_cycle)


@dataclass(frozen=True, eq=False)
class Transfers:
    """Tile transfers between DRAM and the SRAMs, in issue order (one array entry per transfer).

    * ``nbytes``: bytes each transfer wants (int64, >= 0).
    * ``is_write``: True for SRAM -> DRAM (bool).
    * ``earliest_cycle``: the first array cycle each may start, counted from the start of the work they
      belong to (int64, non-decreasing is not required); ``None`` = all at cycle 0, as fast as the
      memory accepts them.
    """

    nbytes: np.ndarray
    is_write: np.ndarray
    earliest_cycle: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.nbytes.shape
        if self.is_write.shape != n or (self.earliest_cycle is not None and self.earliest_cycle.shape != n):
            raise ValueError("Transfers: nbytes, is_write and earliest_cycle must have one entry per transfer")

    @classmethod
    def of(cls, nbytes, is_write=False, earliest_cycle=None) -> "Transfers":
        """Transfers from sequences (or scalars, broadcast to the length of ``nbytes``)."""
        nb = np.atleast_1d(np.asarray(nbytes, dtype=np.int64))
        wr = np.broadcast_to(np.asarray(is_write, dtype=bool), nb.shape).copy()
        ec = None if earliest_cycle is None else np.broadcast_to(np.asarray(earliest_cycle, dtype=np.int64),
                                                                 nb.shape).copy()
        return cls(nb, wr, ec)

    def __len__(self) -> int:
        return int(self.nbytes.size)

    @property
    def read_bytes(self) -> int:
        return int(self.nbytes[~self.is_write].sum())

    @property
    def write_bytes(self) -> int:
        return int(self.nbytes[self.is_write].sum())


@dataclass(frozen=True)
class TransferCost:
    """What a list of transfers costs.

    * ``dram_cycles``: array cycles from the first transfer's start to the last one's completion when
      every transfer starts at cycle 0 (the memory's own time for the bytes).
    * ``done_cycle``: the array cycle each transfer completes, honouring ``earliest_cycle`` (int64), or
      ``None`` when not asked for.
    * ``read_bytes`` / ``write_bytes``: bytes that crossed the DRAM bus (the ideal pipe moves exactly the
      bytes wanted; a real DRAM moves whole bursts).
    * ``energy_pj``: energy by component in pJ (the ideal pipe: ``{"transfer": ...}``).
    * ``row_hits`` / ``row_misses`` / ``row_conflicts``: row-buffer outcomes of the requests (0 for the
      ideal pipe, which has no rows: ``rows_modelled`` is False).
    """

    dram_cycles: int
    read_bytes: int
    write_bytes: int
    energy_pj: Mapping[str, float]
    done_cycle: np.ndarray | None = None
    requests: int = 0
    row_hits: int = 0
    row_misses: int = 0
    row_conflicts: int = 0
    rows_modelled: bool = False
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def energy_pj_total(self) -> float:
        return float(sum(self.energy_pj.values()))


def transfer_cost(memory: MemorySystem, transfers: Transfers, *, per_transfer: bool = False) -> TransferCost:
    """Time and energy of ``transfers`` on ``memory`` (the engines' single question to the memory system).

    ``per_transfer=True`` also returns when each transfer completes (``done_cycle``).
    """
    if memory.dram.is_ideal:
        return _ideal_cost(memory, transfers, per_transfer)
    raise NotImplementedError(f"DRAM standard {memory.dram.standard!r} has no timing model yet")  # pragma: no cover


def _ideal_cost(memory: MemorySystem, transfers: Transfers, per_transfer: bool) -> TransferCost:
    nbytes = transfers.nbytes
    total = int(nbytes.sum())
    done = None
    if per_transfer:
        # one pipe, transfers in order: each starts when the pipe is free and it may start
        bpc = memory.ideal_bytes_per_cycle
        done = np.empty(nbytes.size, dtype=np.int64)
        free = 0.0
        earliest = transfers.earliest_cycle
        for i in range(nbytes.size):
            start = free if earliest is None else max(free, float(earliest[i]))
            free = start + float(nbytes[i]) / bpc
            done[i] = math.ceil(free)
    writes = transfers.write_bytes
    return TransferCost(dram_cycles=memory.ideal_cycles(total), read_bytes=total - writes, write_bytes=writes,
                        energy_pj={"transfer": total * memory.ideal_pj_per_byte}, done_cycle=done)
