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
from functools import cached_property
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

    @cached_property
    def device(self):
        """The resolved DRAM device (``DramConfig.resolve()``); None for the ideal pipe."""
        return None if self.dram.is_ideal else self.dram.resolve()

    @property
    def burst_bytes(self) -> int:
        """Bytes one request moves (the ideal pipe: 1, it moves exactly what is wanted)."""
        return 1 if self.dram.is_ideal else int(self.device.request_bytes)

    @property
    def row_bytes(self) -> int:
        """Bytes of one DRAM row (page) of one bank: tensors are placed at multiples of it."""
        return 1 if self.dram.is_ideal else int(self.device.standard.org.row_bytes)

    @property
    def memory_mhz(self) -> float:
        """The DRAM's command clock (1 / tCK)."""
        return 1e3 / self.device.tck_ns

    @property
    def idle_latency_cycles(self) -> int:
        """Array cycles from a read reaching an idle DRAM (bank closed) to its data: tRCD + read latency."""
        dev = self.device
        return math.ceil((dev.standard.timing["nRCD"] + dev.read_latency) * self.clock_mhz / self.memory_mhz)

    @property
    def peak_bandwidth_gbs(self) -> float:
        return self.dram.bandwidth_gbs if self.dram.is_ideal else float(self.device.peak_bandwidth_gbs)

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
    requests: np.ndarray | None = None
    request_offsets: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.nbytes.shape
        if self.is_write.shape != n or (self.earliest_cycle is not None and self.earliest_cycle.shape != n):
            raise ValueError("Transfers: nbytes, is_write and earliest_cycle must have one entry per transfer")
        if (self.requests is None) != (self.request_offsets is None) or (
                self.request_offsets is not None and self.request_offsets.shape != (n[0] + 1,)):
            raise ValueError("Transfers: requests need offsets, one more than transfers")

    @classmethod
    def of(cls, nbytes, is_write=False, earliest_cycle=None, requests=None, request_offsets=None) -> "Transfers":
        """Transfers from sequences (or scalars, broadcast to the length of ``nbytes``). ``requests`` are the
        burst-aligned byte addresses the transfers touch (a real DRAM needs them), transfer ``i`` owning
        ``requests[request_offsets[i]:request_offsets[i + 1]]``."""
        nb = np.atleast_1d(np.asarray(nbytes, dtype=np.int64))
        wr = np.broadcast_to(np.asarray(is_write, dtype=bool), nb.shape).copy()
        ec = None if earliest_cycle is None else np.broadcast_to(np.asarray(earliest_cycle, dtype=np.int64),
                                                                 nb.shape).copy()
        rq = None if requests is None else np.asarray(requests, dtype=np.uint64)
        ro = None if request_offsets is None else np.asarray(request_offsets, dtype=np.int64)
        return cls(nb, wr, ec, rq, ro)

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
    return _dram_cost(memory, transfers, per_transfer)


def _dram_cost(memory: MemorySystem, transfers: Transfers, per_transfer: bool) -> TransferCost:
    """A real DRAM: every transfer's burst requests, issued in order of the cycle each transfer may start
    (ties in list order), timed by the DRAM model with that cycle as their earliest arrival."""
    from . import simulate_requests

    if transfers.requests is None:
        raise ValueError("a DRAM standard needs the transfers' burst requests (addresses)")
    dev = memory.device
    n_t = len(transfers)
    offsets = transfers.request_offsets
    counts = np.diff(offsets)
    earliest = np.zeros(n_t, np.int64) if transfers.earliest_cycle is None else transfers.earliest_cycle
    order = np.argsort(earliest, kind="stable")
    # the request stream: each transfer's requests, transfers in issue order
    seg_counts = counts[order]
    starts = np.repeat(offsets[:-1][order] - np.concatenate([[0], np.cumsum(seg_counts)[:-1]]), seg_counts)
    idx = np.arange(int(seg_counts.sum()), dtype=np.int64) + starts
    ratio = memory.memory_mhz / memory.clock_mhz   # memory cycles per array cycle
    arrival_mem = np.ceil(earliest[order] * ratio).astype(np.int64)
    st = simulate_requests(dev, transfers.requests[idx], np.repeat(transfers.is_write[order], seg_counts),
                           np.repeat(arrival_mem, seg_counts), completion=per_transfer)
    done = None
    if per_transfer:
        # a transfer is done when its last request is; one with no request when it may start
        done_mem = arrival_mem.copy()
        nonempty = seg_counts > 0
        if idx.size:
            seg_starts = np.concatenate([[0], np.cumsum(seg_counts)[:-1]])
            done_mem[nonempty] = np.maximum.reduceat(st.completion, seg_starts[nonempty])
        done = np.empty(n_t, np.int64)
        done[order] = np.ceil(done_mem / ratio).astype(np.int64)
    return TransferCost(
        dram_cycles=math.ceil(st.dram_cycles / ratio), read_bytes=st.read_bytes, write_bytes=st.write_bytes,
        energy_pj=dict(st.energy_pj), done_cycle=done, requests=int(idx.size), row_hits=st.row_hits,
        row_misses=st.row_misses, row_conflicts=st.row_conflicts, rows_modelled=True,
        extra={"reads_forwarded": st.reads_forwarded, "read_row_hits": st.read_row_hits, "read_row_misses": st.read_row_misses,
               "read_row_conflicts": st.read_row_conflicts, "write_row_hits": st.write_row_hits,
               "write_row_misses": st.write_row_misses, "write_row_conflicts": st.write_row_conflicts,
               "dram_memory_cycles": st.dram_cycles, **{f"cmd_{k.lower()}": v for k, v in st.commands.items()}})


def _ideal_cost(memory: MemorySystem, transfers: Transfers, per_transfer: bool) -> TransferCost:
    nbytes = transfers.nbytes
    total = int(nbytes.sum())
    done = None
    if per_transfer:
        # one pipe; transfers issued in order of the cycle each may start (ties in list order), each starting
        # when the pipe is free and it may start
        bpc = memory.ideal_bytes_per_cycle
        done = np.empty(nbytes.size, dtype=np.int64)
        free = 0.0
        earliest = transfers.earliest_cycle
        order = range(nbytes.size) if earliest is None else np.argsort(earliest, kind="stable")
        for i in order:
            start = free if earliest is None else max(free, float(earliest[i]))
            free = start + float(nbytes[i]) / bpc
            done[i] = math.ceil(free)
    writes = transfers.write_bytes
    return TransferCost(dram_cycles=memory.ideal_cycles(total), read_bytes=total - writes, write_bytes=writes,
                        energy_pj={"transfer": total * memory.ideal_pj_per_byte}, done_cycle=done)
