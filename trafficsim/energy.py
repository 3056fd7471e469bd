"""Energy per access for the capacity model, in picojoules, with their published sources.

Defaults come from M. Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, 45 nm, 0.9 V (the table also used by Eyeriss, Timeloop/Accelergy and most
accelerator papers):

* DRAM: 1.3-2.6 nJ per 64-bit access; the low end gives 1300/8 = **162.5 pJ per byte**.
* SRAM: a 32 kB array costs 20 pJ per 64-bit access: **2.5 pJ per byte** (8 kB: 10 pJ,
  1 MB: 100 pJ per 64 bits, so larger buffers cost more; override ``sram_pj_per_byte`` for them).
* MAC: int8 multiply 0.2 pJ + int8 add 0.03 pJ = **0.23 pJ** for 1-byte words; fp16 multiply 1.1 +
  add 0.4 = **1.5 pJ** for 2-byte words; fp32 multiply 3.7 + add 0.9 = **4.6 pJ** for 4-byte words.

For scale, Eyeriss (Chen, Emer & Sze, ISCA 2016) normalises one MAC to 1x: register file 1x,
inter-PE 2x, global buffer 6x, DRAM 200x. Horowitz's numbers give DRAM/MAC = 162.5/0.23 ~ 700x
per byte at int8, a stronger DRAM penalty than Eyeriss's 65 nm figure.
"""
from __future__ import annotations

import math

from dataclasses import dataclass

from .errors import InputError

# Horowitz ISSCC 2014: (multiply + add) pJ by operand size in bytes
MAC_PJ_BY_WORD_BYTES: dict[int, float] = {1: 0.2 + 0.03, 2: 1.1 + 0.4, 4: 3.7 + 0.9}


@dataclass(frozen=True)
class EnergyTable:
    """Energy per access in pJ: DRAM and SRAM per byte moved, one MAC per operation.

    ``mac_pj=None`` picks Horowitz's value for the word size (int8, fp16, fp32; 4-byte figure for
    larger words, int8 figure for 3-byte words).
    """

    dram_pj_per_byte: float = 162.5  # the ideal DRAM pipe's; a DRAM standard computes its own
    sram_pj_per_byte: float = 2.5
    mac_pj: float | None = None

    def __post_init__(self) -> None:
        for name in ("dram_pj_per_byte", "sram_pj_per_byte", "mac_pj"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                      and v >= 0):
                raise InputError(f"energy table: {name} must be a finite non-negative number of pJ, got {v!r}")

    def mac_energy_pj(self, word_bytes: int) -> float:
        """pJ per MAC for ``word_bytes``-byte operands."""
        if self.mac_pj is not None:
            return float(self.mac_pj)
        if word_bytes in MAC_PJ_BY_WORD_BYTES:
            return MAC_PJ_BY_WORD_BYTES[word_bytes]
        return MAC_PJ_BY_WORD_BYTES[4] if word_bytes > 4 else MAC_PJ_BY_WORD_BYTES[1]


def sram_energy_uj(sram_bytes: float, table: EnergyTable) -> float:
    """SRAM energy in microjoules. (DRAM energy comes from the memory system,
    :func:`trafficsim.dram.transfers.transfer_cost`: ``dram_pj_per_byte`` for the ideal pipe.)"""
    return sram_bytes * table.sram_pj_per_byte * 1e-6


def mac_energy_uj(macs: float, table: EnergyTable, word_bytes: int) -> float:
    """MAC energy in microjoules for ``word_bytes``-byte operands."""
    return macs * table.mac_energy_pj(word_bytes) * 1e-6


def parse_energy_table(text: str) -> EnergyTable:
    """Parse ``"dram=100,sram=3,mac=0.5"`` (pJ; any subset, others keep their defaults) into an
    :class:`EnergyTable`, e.g. for a ``--energy`` command-line option."""
    keys = {"dram": "dram_pj_per_byte", "sram": "sram_pj_per_byte", "mac": "mac_pj"}
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, raw = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in keys:
            raise InputError(f"energy table {text!r}: use dram=PJ,sram=PJ,mac=PJ (pJ per byte, per byte, per MAC)")
        try:
            values[keys[name]] = float(raw)
        except ValueError:
            raise InputError(f"energy table {text!r}: {name} must be a number of pJ, got {raw.strip()!r}") from None
    return EnergyTable(**values)
