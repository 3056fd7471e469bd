"""DRAM standards as data: organisation, timings (in memory cycles), currents and voltages.

One registry (like the model zoo's): :func:`register_standard`, :func:`get_standard`,
:func:`standard_names`. Each preset cites its source; docs/dram.md has the table.

Two kinds of names resolve here:

* our presets, lower case: ``ddr4-2400``, ``ddr4-3200``, ``ddr5-4800``, ``lpddr4-3200``,
  ``lpddr5-6400``, ``hbm2``, ``hbm3``, ``gddr6`` (JEDEC values);
* Ramulator v1's speed bins with its organisation names, as its ``.cfg`` files use them
  (``speed = DDR4_2400R``, ``org = DDR4_4Gb_x8``; ``LPDDR4_2400`` / ``LPDDR4_8Gb_x16``;
  ``HBM_1Gbps`` / ``HBM_4Gb``), with exactly Ramulator's values (its ``init_speed`` tables
  included), so that one config file drives both simulators. Where Ramulator departs from JEDEC
  (its ``DDR4_3200`` has tRAS = 56 and tCCD_L = 10 cycles, JEDEC DDR4-3200AA 52 and 8) the
  Ramulator name keeps Ramulator's value and our preset JEDEC's.

Timings are integers in cycles of tCK (the memory clock, half the data rate). Currents are per
device in mA, voltages in V; a device is ``dq`` bits wide and a rank has ``channel_width / dq``
of them.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from ..errors import ConfigError, InputError
from .rules import FAMILIES, Family, evaluate

__all__ = ["PowerRail", "DramPower", "DramOrg", "DramStandard", "register_standard", "get_standard",
           "standard_names", "ramulator_names", "TIMING_DEFAULTS"]


@dataclass(frozen=True)
class PowerRail:
    """IDD currents (mA, one device) of one supply rail, the ones DRAMPower's core model uses."""

    name: str
    volts: float
    idd0: float     # one bank ACT-PRE cycling (tRC)
    idd2n: float    # precharge standby
    idd3n: float    # active standby
    idd4r: float    # burst read
    idd4w: float    # burst write
    idd5b: float    # burst (all-bank) refresh


@dataclass(frozen=True)
class DramPower:
    """Currents and voltages of a standard; ``estimated`` when no vendor data was found."""

    rails: tuple[PowerRail, ...]
    source: str
    estimated: bool = False


@dataclass(frozen=True)
class DramOrg:
    """Organisation of one channel.

    ``columns`` counts device columns of a row (Ramulator's count); ``burst_length`` is the
    beats per request (Ramulator's ``prefetch_size``), so one request moves
    ``burst_length * channel_width / 8`` bytes and a row holds ``columns / burst_length`` of them.
    """

    density_mbit: int
    dq: int
    channel_width: int
    burst_length: int
    bank_groups: int
    banks_per_group: int
    rows: int
    columns: int
    ranks: int = 1
    channels: int = 1

    @property
    def request_bytes(self) -> int:
        return self.burst_length * self.channel_width // 8

    @property
    def devices_per_rank(self) -> int:
        return max(1, self.channel_width // self.dq)

    @property
    def bursts_per_row(self) -> int:
        return max(1, self.columns // self.burst_length)

    @property
    def row_bytes(self) -> int:
        return self.columns * self.channel_width // 8

    @property
    def banks_per_rank(self) -> int:
        return self.bank_groups * self.banks_per_group


# Parameters a family may use that most standards leave at a default (a function of the others).
TIMING_DEFAULTS: dict[str, str] = {
    "nRCDW": "nRCD", "nRPab": "nRP", "nCCDS_WR": "nCCDS", "nCCDL_WR": "nCCDL", "nBL_max": "nBL",
    "nRTRS": "2", "nPPD": "0", "nDQSCK": "0",
}


@dataclass(frozen=True)
class DramStandard:
    """One DRAM standard at one speed and organisation, with its source."""

    name: str
    family: str
    rate_mtps: int
    tck_ns: float
    org: DramOrg
    timings: tuple[tuple[str, int], ...]
    power: DramPower
    source: str
    notes: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        self.validate()

    # -- access ---------------------------------------------------------------------------------
    @property
    def timing(self) -> dict[str, int]:
        """All timing parameters, defaults filled in (cycles of tCK)."""
        t = dict(self.timings)
        for name, expr in TIMING_DEFAULTS.items():
            if name not in t:
                try:
                    t[name] = evaluate(expr, t)
                except KeyError:  # its inputs are not parameters of this family
                    pass
        return t

    @property
    def family_rules(self) -> Family:
        return FAMILIES[self.family]

    @property
    def clock_mhz(self) -> float:
        return 1000.0 / self.tck_ns

    @property
    def peak_bandwidth_gbs(self) -> float:
        """Peak data bandwidth of one channel, GB/s (1e9 bytes)."""
        return self.rate_mtps * 1e6 * self.org.channel_width / 8 / 1e9

    def with_timings(self, overrides: Mapping[str, int], where: str = "timings") -> "DramStandard":
        """This standard with some timing parameters replaced (validated again)."""
        t = dict(self.timings)
        for k, v in overrides.items():
            if k not in self.timing and k not in self.family_rules.parameters():
                raise ConfigError(f"{where}: {self.name} has no timing parameter {k!r} "
                                  f"(it has {', '.join(sorted(self.timing))})")
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{where}: {k} must be a non-negative integer number of cycles, got {v!r}")
            t[k] = v
        return replace(self, timings=tuple(sorted(t.items())))

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) on a standard no DRAM can have."""
        n = self.name
        if self.family not in FAMILIES:
            raise ConfigError(f"{n}: unknown DRAM family {self.family!r}")
        if not (self.tck_ns > 0 and math.isfinite(self.tck_ns)):
            raise ConfigError(f"{n}: tCK must be a positive number of ns, got {self.tck_ns!r}")
        o = self.org
        for k in ("density_mbit", "dq", "channel_width", "burst_length", "bank_groups", "banks_per_group",
                  "rows", "columns", "ranks", "channels"):
            v = getattr(o, k)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{n}: organisation {k} must be a positive integer, got {v!r}")
        for k in ("bank_groups", "banks_per_group", "columns", "channel_width", "burst_length"):
            v = getattr(o, k)
            if v & (v - 1):
                raise ConfigError(f"{n}: organisation {k} must be a power of two, got {v}")
        if o.columns < o.burst_length:
            raise ConfigError(f"{n}: a row ({o.columns} columns) is shorter than one burst ({o.burst_length})")
        t = self.timing
        missing = sorted(self.family_rules.parameters() - set(t))
        if missing:
            raise ConfigError(f"{n}: missing timing parameter(s) {', '.join(missing)} for {self.family}")
        for k, v in t.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{n}: timing {k} must be a non-negative integer number of cycles, got {v!r}")
        for k in ("nBL", "nCL", "nRCD", "nRP", "nRAS", "nRC", "nREFI", "nRFC"):
            if k in t and t[k] <= 0:
                raise ConfigError(f"{n}: timing {k} must be at least one cycle, got {t[k]}")
        if t["nRC"] < t["nRAS"] + t["nRP"]:
            raise ConfigError(f"{n}: impossible timings: tRC ({t['nRC']}) < tRAS ({t['nRAS']}) + tRP ({t['nRP']})")
        if t["nRAS"] < t["nRCD"]:
            raise ConfigError(f"{n}: impossible timings: tRAS ({t['nRAS']}) < tRCD ({t['nRCD']})")
        if t["nREFI"] <= t["nRFC"]:
            raise ConfigError(f"{n}: impossible timings: tREFI ({t['nREFI']}) <= tRFC ({t['nRFC']}): "
                              "the DRAM would never leave refresh")
        if "nCCDL" in t and "nCCDS" in t and t["nCCDL"] < t["nCCDS"]:
            raise ConfigError(f"{n}: impossible timings: tCCD_L ({t['nCCDL']}) < tCCD_S ({t['nCCDS']})")
        if "nRRDL" in t and "nRRDS" in t and t["nRRDL"] < t["nRRDS"]:
            raise ConfigError(f"{n}: impossible timings: tRRD_L ({t['nRRDL']}) < tRRD_S ({t['nRRDS']})")
        if evaluate(self.family_rules.read_latency, t) < 1:
            raise ConfigError(f"{n}: impossible timings: read latency {self.family_rules.read_latency} < 1")


# --- the registry -------------------------------------------------------------------------------------
_REGISTRY: dict[str, DramStandard] = {}


def register_standard(std: DramStandard) -> DramStandard:
    """Add a standard (and its aliases) to the registry; its name must be new."""
    for key in (std.name, *std.aliases):
        k = key.lower()
        if k in _REGISTRY and _REGISTRY[k] is not std:
            raise ValueError(f"DRAM standard {key!r} is already registered")
        _REGISTRY[k] = std
    return std


def standard_names() -> list[str]:
    """Our preset names (not their aliases nor Ramulator's speed bins), registry order."""
    seen: list[str] = []
    for std in _REGISTRY.values():
        if std.name not in seen:
            seen.append(std.name)
    return seen


def get_standard(name: str, org: str | None = None) -> DramStandard:
    """A standard by preset name (``ddr4-3200``) or Ramulator speed bin (``DDR4_2400R``, with an
    optional Ramulator ``org`` such as ``DDR4_4Gb_x8``). Unknown names raise a one-line
    :class:`InputError` that lists the choices."""
    key = str(name).strip()
    ram = _ramulator_standard(key, org)
    if ram is not None:
        return ram
    if org is not None:
        raise InputError(f"DRAM org {org!r} applies to Ramulator speed bins ({', '.join(ramulator_names())}), "
                         f"not to {name!r}")
    std = _REGISTRY.get(key.lower())
    if std is None:
        choices = standard_names() + ramulator_names()
        close = difflib.get_close_matches(key.lower(), [c.lower() for c in choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"unknown DRAM standard {name!r}{hint}; choose one of {', '.join(standard_names())}, "
                         f"'ideal', or a Ramulator speed bin ({', '.join(ramulator_names())})")
    return std


# --- presets (JEDEC values; sources in docs/dram.md) -----------------------------------------------
_DRAMSIM3 = "DRAMsim3 (umd-memsys/DRAMsim3) configs/{}.ini [power]"


def _std(name, family, rate, tck, org, timings, power, source, notes="", aliases=()) -> DramStandard:
    return register_standard(DramStandard(name, family, rate, tck, org, tuple(sorted(timings.items())), power,
                                          source, notes, tuple(aliases)))


def _rail(name, volts, idd0, idd2n, idd3n, idd4r, idd4w, idd5b) -> PowerRail:
    return PowerRail(name, volts, idd0, idd2n, idd3n, idd4r, idd4w, idd5b)


_DDR4_X8_8GB = DramOrg(density_mbit=8192, dq=8, channel_width=64, burst_length=8, bank_groups=4,
                       banks_per_group=4, rows=65536, columns=1024)

_std("ddr4-2400", "DDR4", 2400, 5 / 6, _DDR4_X8_8GB,
     dict(nBL=4, nCCDS=4, nCCDL=6, nRTRS=2, nCL=16, nRCD=16, nRP=16, nCWL=12, nRAS=39, nRC=55, nRTP=9,
          nWTRS=3, nWTRL=9, nWR=18, nRRDS=4, nRRDL=6, nFAW=26, nRFC=420, nREFI=9360),
     DramPower((_rail("VDD", 1.2, 48, 34, 43, 135, 123, 250),),
               _DRAMSIM3.format("DDR4_8Gb_x8_2400") + " (Micron MT40A1G8, as also in gem5's DDR4_2400_8x8)"),
     "JESD79-4 DDR4-2400R (16-16-16), 8 Gb x8 devices, 64-bit channel; cross-checked with Ramulator v1 "
     "DDR4_2400R and DRAMsim3 DDR4_8Gb_x8_2400",
     aliases=("ddr4",))

_std("ddr4-3200", "DDR4", 3200, 0.625, _DDR4_X8_8GB,
     dict(nBL=4, nCCDS=4, nCCDL=8, nRTRS=2, nCL=22, nRCD=22, nRP=22, nCWL=16, nRAS=52, nRC=74, nRTP=12,
          nWTRS=4, nWTRL=12, nWR=24, nRRDS=4, nRRDL=8, nFAW=34, nRFC=560, nREFI=12480),
     DramPower((_rail("VDD", 1.2, 57, 37, 52, 168, 150, 250),), _DRAMSIM3.format("DDR4_8Gb_x8_3200")),
     "JESD79-4 DDR4-3200AA (22-22-22), 8 Gb x8 devices, 64-bit channel; cross-checked with Ramulator 2.0 "
     "DDR4_3200AA and DRAMsim3 DDR4_8Gb_x8_3200 (Ramulator v1's DDR4_3200 differs: tRAS 56, tCCD_L 10)")

_std("ddr5-4800", "DDR5", 4800, 1 / 2.4,
     DramOrg(density_mbit=16384, dq=8, channel_width=32, burst_length=16, bank_groups=8, banks_per_group=4,
             rows=65536, columns=1024),
     dict(nBL=8, nCL=40, nCWL=38, nRCD=39, nRP=39, nRAS=77, nRC=116, nWR=72, nRTP=18, nCCDS=8, nCCDL=12,
          nCCDS_WR=8, nCCDL_WR=48, nWTRS=6, nWTRL=24, nRRDS=8, nRRDL=12, nFAW=32, nRFC=710, nREFI=9375,
          nPPD=2, nRTRS=2),
     DramPower((_rail("VDD", 1.1, 122, 92, 142, 530, 479, 277),),
               "Micron 16Gb DDR5 SDRAM die rev. A datasheet, DDR5-4800 IDD values (as transcribed in gem5's "
               "DRAMInterface.py DDR5_4400_4x8); VPP rail not modelled"),
     "JESD79-5 DDR5-4800B (40-39-39), 16 Gb x8 devices, one 32-bit subchannel (a DIMM has two: channels=2); "
     "tRFC 295 ns, tREFI 3.9 us; rules from Ramulator 2.0 DDR5", aliases=("ddr5",))

_std("lpddr4-3200", "LPDDR4", 3200, 0.625,
     DramOrg(density_mbit=8192, dq=16, channel_width=32, burst_length=16, bank_groups=1, banks_per_group=8,
             rows=32768, columns=1024),
     dict(nBL=8, nCCD=8, nRTRS=2, nDQSCK=3, nCL=32, nRCD=29, nRP=27, nRPab=32, nCWL=18, nRAS=68, nRC=95,
          nRTP=14, nWTR=16, nWR=28, nPPD=4, nRRD=16, nFAW=64, nRFC=288, nREFI=6247),
     DramPower((_rail("VDD1", 1.8, 3.5, 2.0, 2.25, 2.25, 2.25, 10.0),
                _rail("VDD2", 1.1, 45.0, 27.0, 30.0, 275.0, 210.0, 90.0)),
               "Micron 6Gb LPDDR4-3200 x16 (DRAMSys configs/memspec/MICRON_6Gb_LPDDR4-3200_32bit_A.json), "
               "per 16-bit die channel; VDDQ not modelled"),
     "JESD209-4 LPDDR4-3200 (RL 28, WL 14 for set A), 8 Gb x16 dies, two ganged as a 32-bit channel with "
     "16n prefetch (64 B per request), as Ramulator v1's LPDDR4_3200 converts it (latencies counted from "
     "one-cycle commands)", aliases=("lpddr4",))

_std("lpddr5-6400", "LPDDR5", 6400, 1.25,
     DramOrg(density_mbit=8192, dq=16, channel_width=16, burst_length=16, bank_groups=4, banks_per_group=4,
             rows=32768, columns=1024),
     dict(nBL=2, nBL_max=4, nCL=17, nRCD=15, nRP=15, nRPab=17, nRAS=34, nRC=49, nWR=28, nRTP=8, nCWL=9,
          nPPD=2, nCCDS=2, nCCDL=4, nCCDS_WR=2, nCCDL_WR=4, nWTRS=5, nWTRL=10, nRTRS=2, nRRDS=4, nRRDL=4,
          nFAW=16, nRFC=168, nREFI=3125),
     DramPower((_rail("VDD1", 1.8, 3.5, 2.0, 2.25, 2.25, 2.25, 10.0),
                _rail("VDD2H", 1.05, 45.0, 27.0, 30.0, 275.0, 210.0, 90.0)),
               "estimate: no vendor LPDDR5 IDD table was available; Micron LPDDR4 x16 currents at LPDDR5's "
               "VDD1/VDD2H voltages", estimated=True),
     "JESD209-5B LPDDR5-6400 (CK 800 MHz, WCK 4:1), bank-group mode, BL16, 8 Gb x16 channel (32 B per "
     "request); values of Ramulator 2.0 LPDDR5_6400/LPDDR5_8Gb_x16", aliases=("lpddr5",))

_std("hbm2", "HBM", 2000, 1.0,
     DramOrg(density_mbit=8192, dq=128, channel_width=128, burst_length=4, bank_groups=4, banks_per_group=4,
             rows=32768, columns=128, channels=8),
     dict(nBL=2, nCCDS=1, nCCDL=2, nCL=14, nRCD=14, nRCDW=14, nRP=14, nCWL=4, nRAS=34, nRC=48, nRTP=6,
          nWTRS=6, nWTRL=8, nWR=16, nRRDS=4, nRRDL=6, nFAW=30, nRFC=260, nREFI=3900),
     DramPower((_rail("VDD", 1.2, 65, 40, 55, 390, 500, 250),), _DRAMSIM3.format("HBM2_8Gb_x128")),
     "JESD235 HBM2 at 2 Gb/s, legacy 128-bit channels (8 per stack), BL4 (64 B per request), 8 Gb per "
     "channel; timings of DRAMsim3 HBM2_8Gb_x128, rules of Ramulator v1 HBM", aliases=("hbm2-2000",))

_std("hbm3", "HBM3", 6400, 0.625,
     DramOrg(density_mbit=8192, dq=32, channel_width=32, burst_length=8, bank_groups=8, banks_per_group=4,
             rows=16384, columns=256, ranks=2, channels=16),
     dict(nBL=2, nCL=20, nRCD=31, nRCDW=15, nRP=26, nRAS=45, nRC=72, nWR=33, nRTP=9, nCWL=10, nCCDS=2,
          nCCDL=4, nRRDS=4, nRRDL=5, nFAW=24, nWTRS=7, nWTRL=10, nRTW=20, nRFC=560, nREFI=6240, nPPD=2),
     DramPower((_rail("VDD", 1.1, 65, 40, 55, 390, 500, 250),),
               "estimate: no vendor HBM3 IDD table was available; DRAMsim3's HBM2 per-channel currents at HBM3's "
               "1.1 V", estimated=True),
     "JESD238 HBM3 at 6.4 Gb/s: 16 channels per stack, each two 32-bit pseudo channels (modelled as ranks=2), "
     "BL8 (32 B per request), 8-high 16 Gb dies (two stack IDs folded into 8 bank groups); values of "
     "Ramulator 2.0 HBM3_6400Mbps", aliases=("hbm3-6400",))

_std("gddr6", "GDDR6", 14000, 0.570,
     DramOrg(density_mbit=4096, dq=16, channel_width=16, burst_length=16, bank_groups=4, banks_per_group=4,
             rows=16384, columns=1024, channels=2),
     dict(nBL=2, nCL=24, nRCD=27, nRCDW=16, nRP=27, nRAS=53, nRC=80, nWR=27, nRTP=4, nCWL=6, nCCDS=2,
          nCCDL=4, nRRDS=8, nRRDL=8, nWTRS=9, nWTRL=11, nFAW=29, nRFC=211, nREFI=3333, nPPD=1),
     DramPower((_rail("VDD", 1.35, 35.5, 30, 30.5, 124, 115.5, 143),),
               _DRAMSIM3.format("GDDR6_8Gb_x16") + ", halved per 16-bit channel (two channels per device)"),
     "JESD250 GDDR6 at 14 Gb/s (1.35 V), 8 Gb x16 devices with two 16-bit channels, BL16 (32 B per request); "
     "values of Ramulator 2.0 GDDR6_14000_1350mV_double except tRC = tRAS + tRP = 80 (its 79 is shorter)", aliases=("gddr6-14000",))


# --- Ramulator v1 speed bins and organisations (src/DDR4.h, LPDDR4.h, HBM.h; init_speed) --------------
# DDR4: rate -> (tCK, nBL, nCCDS, nCCDL, nRTRS, nCL, nRCD, nRP, nCWL, nRAS, nRC, nRTP, nWTRS, nWTRL, nWR)
_R_DDR4_SPEEDS: dict[str, tuple] = {
    "DDR4_1600K": (1600, 3 / 0.4 / 6, 4, 4, 5, 2, 11, 11, 11, 9, 28, 39, 6, 2, 6, 12),
    "DDR4_1600L": (1600, 3 / 0.4 / 6, 4, 4, 5, 2, 12, 12, 12, 9, 28, 40, 6, 2, 6, 12),
    "DDR4_1866M": (1866, 3 / 0.4 / 7, 4, 4, 5, 2, 13, 13, 13, 10, 32, 45, 7, 3, 7, 14),
    "DDR4_1866N": (1866, 3 / 0.4 / 7, 4, 4, 5, 2, 14, 14, 14, 10, 32, 46, 7, 3, 7, 14),
    "DDR4_2133P": (2133, 3 / 0.4 / 8, 4, 4, 6, 2, 15, 15, 15, 11, 36, 51, 8, 3, 8, 16),
    "DDR4_2133R": (2133, 3 / 0.4 / 8, 4, 4, 6, 2, 16, 16, 16, 11, 36, 52, 8, 3, 8, 16),
    "DDR4_2400R": (2400, 3 / 0.4 / 9, 4, 4, 6, 2, 16, 16, 16, 12, 39, 55, 9, 3, 9, 18),
    "DDR4_2400U": (2400, 3 / 0.4 / 9, 4, 4, 6, 2, 18, 18, 18, 12, 39, 57, 9, 3, 9, 18),
    "DDR4_3200": (3200, 0.625, 4, 4, 10, 2, 22, 22, 22, 16, 56, 78, 12, 4, 12, 24),
}
# name -> (density Mb, dq, bank groups, banks per group, rows, columns)
_R_DDR4_ORGS: dict[str, tuple] = {
    "DDR4_2Gb_x4": (2048, 4, 4, 4, 1 << 15, 1 << 10), "DDR4_2Gb_x8": (2048, 8, 4, 4, 1 << 14, 1 << 10),
    "DDR4_2Gb_x16": (2048, 16, 2, 4, 1 << 14, 1 << 10), "DDR4_4Gb_x4": (4096, 4, 4, 4, 1 << 16, 1 << 10),
    "DDR4_4Gb_x8": (4096, 8, 4, 4, 1 << 15, 1 << 10), "DDR4_4Gb_x16": (4096, 16, 2, 4, 1 << 15, 1 << 10),
    "DDR4_8Gb_x4": (8192, 4, 4, 4, 1 << 17, 1 << 10), "DDR4_8Gb_x8": (8192, 8, 4, 4, 1 << 16, 1 << 10),
    "DDR4_8Gb_x16": (8192, 16, 2, 4, 1 << 16, 1 << 10),
}
_R_DDR4_RATES = (1600, 1866, 2133, 2400, 3200)
_R_DDR4_RRDS = {False: (4, 4, 4, 4, 4), True: (5, 5, 6, 7, 9)}           # x16?
_R_DDR4_RRDL = {False: (5, 5, 6, 6, 8), True: (6, 6, 7, 8, 11)}
_R_DDR4_FAW = {4: (16, 16, 16, 16, 16), 8: (20, 22, 23, 26, 34), 16: (28, 28, 32, 36, 48)}
_R_DDR4_RFC = {2048: (128, 150, 171, 192, 256), 4096: (208, 243, 278, 312, 416), 8192: (280, 327, 374, 420, 560)}
_R_DDR4_REFI = (6240, 7280, 8320, 9360, 12480)

# LPDDR4: (rate, tCK, nBL, nCCD, nRTRS, nDQSCK, nCL, nRCD, nRPpb, nRPab, nCWL, nRAS, nRC, nRTP, nWTR, nWR,
#          nPPD, nRRD, nFAW)
_R_LPDDR4_SPEEDS: dict[str, tuple] = {
    "LPDDR4_1600": (1600, 2.5 / 2, 8, 8, 2, 1, 18, 15, 13, 15, 11, 34, 47, 10, 8, 14, 4, 8, 32),
    "LPDDR4_2400": (2400, 2.5 / 3, 8, 8, 2, 2, 25, 22, 20, 24, 14, 51, 71, 11, 12, 21, 4, 12, 48),
    "LPDDR4_3200": (3200, 2.5 / 4, 8, 8, 2, 3, 32, 29, 27, 32, 18, 68, 95, 14, 16, 28, 4, 16, 64),
}
# per-die density (Ramulator's size) -> (banks, rows, columns); dq 16, channel 32 bits, prefetch 16
_R_LPDDR4_ORGS: dict[str, tuple] = {
    "LPDDR4_4Gb_x16": (4096, 8, 1 << 14, 1 << 10), "LPDDR4_6Gb_x16": (6144, 8, 3 << 13, 1 << 10),
    "LPDDR4_8Gb_x16": (8192, 8, 1 << 15, 1 << 10),
}
_R_LPDDR4_RFCAB = {4096: (104, 156, 208), 6144: (144, 216, 288), 8192: (144, 216, 288)}
_R_LPDDR4_REFI = (3124, 4685, 6247)

# HBM (gen 1, 1 Gb/s, 128-bit channel, prefetch 4)
_R_HBM_SPEEDS: dict[str, tuple] = {
    # rate, tCK, nBL, nCCDS, nCCDL, nCL, nRCDR, nRCDW, nRP, nCWL, nRAS, nRC, nRTP, nWTRS, nWTRL, nWR, nRRDS,
    # nRRDL, nFAW, nREFI
    "HBM_1Gbps": (1000, 2.0, 2, 2, 3, 7, 7, 6, 7, 4, 17, 24, 7, 2, 4, 8, 4, 5, 20, 1950),
}
_R_HBM_ORGS: dict[str, tuple] = {  # density per channel -> (bank groups, banks, rows, columns)
    "HBM_1Gb": (1024, 4, 2, 1 << 13, 1 << 7), "HBM_2Gb": (2048, 4, 2, 1 << 14, 1 << 7),
    "HBM_4Gb": (4096, 4, 4, 1 << 14, 1 << 7),
}
_R_HBM_RFC = {1024: 55, 2048: 80, 4096: 130}

# Ramulator's `standard` key -> (speed table, org table, default org)
_RAMULATOR_FAMILIES = {
    "DDR4": (_R_DDR4_SPEEDS, _R_DDR4_ORGS, "DDR4_4Gb_x8"),
    "LPDDR4": (_R_LPDDR4_SPEEDS, _R_LPDDR4_ORGS, "LPDDR4_8Gb_x16"),
    "HBM": (_R_HBM_SPEEDS, _R_HBM_ORGS, "HBM_4Gb"),
}


def ramulator_names() -> list[str]:
    """Ramulator v1 speed bins that resolve here (DDR4, LPDDR4, HBM)."""
    return [s for fam in _RAMULATOR_FAMILIES.values() for s in fam[0]]


def ramulator_orgs(family: str) -> list[str]:
    return list(_RAMULATOR_FAMILIES[family][1])


def ramulator_family_of(speed: str) -> str | None:
    for fam, (speeds, _, _) in _RAMULATOR_FAMILIES.items():
        if speed in speeds:
            return fam
    return None


_RAM_CACHE: dict[tuple[str, str], DramStandard] = {}


def _ramulator_standard(speed: str, org: str | None) -> DramStandard | None:
    fam = ramulator_family_of(speed)
    if fam is None:
        return None
    speeds, orgs, default_org = _RAMULATOR_FAMILIES[fam]
    org = default_org if org is None else org.strip()
    if org not in orgs:
        raise InputError(f"unknown Ramulator {fam} org {org!r}; choose one of {', '.join(orgs)}")
    key = (speed, org)
    if key not in _RAM_CACHE:
        _RAM_CACHE[key] = _build_ramulator(fam, speed, org)
    return _RAM_CACHE[key]


def _build_ramulator(fam: str, speed: str, org: str) -> DramStandard:
    src = f"Ramulator v1 src/{fam}.h speed_table {speed}, org_table {org}, {fam}.cpp init_speed"
    if fam == "DDR4":
        (rate, tck, nbl, ccds, ccdl, rtrs, cl, rcd, rp, cwl, ras, rc, rtp, wtrs, wtrl, wr) = _R_DDR4_SPEEDS[speed]
        dens, dq, bgs, banks, rows, cols = _R_DDR4_ORGS[org]
        i = _R_DDR4_RATES.index(rate)
        t = dict(nBL=nbl, nCCDS=ccds, nCCDL=ccdl, nRTRS=rtrs, nCL=cl, nRCD=rcd, nRP=rp, nCWL=cwl, nRAS=ras,
                 nRC=rc, nRTP=rtp, nWTRS=wtrs, nWTRL=wtrl, nWR=wr, nRRDS=_R_DDR4_RRDS[dq == 16][i],
                 nRRDL=_R_DDR4_RRDL[dq == 16][i], nFAW=_R_DDR4_FAW[dq][i], nRFC=_R_DDR4_RFC[dens][i],
                 nREFI=_R_DDR4_REFI[i])
        o = DramOrg(dens, dq, 64, 8, bgs, banks, rows, cols)
        base = get_standard("ddr4-3200" if rate == 3200 else "ddr4-2400")
        exact = dens == 8192 and dq == 8 and rate in (2400, 3200)
        power = replace(base.power, estimated=not exact,
                        source=base.power.source + ("" if exact else f" (borrowed for {speed}/{org})"))
    elif fam == "LPDDR4":
        (rate, tck, nbl, ccd, rtrs, dqsck, cl, rcd, rppb, rpab, cwl, ras, rc, rtp, wtr, wr, ppd, rrd,
         faw) = _R_LPDDR4_SPEEDS[speed]
        dens, banks, rows, cols = _R_LPDDR4_ORGS[org]
        i = (1600, 2400, 3200).index(rate)
        t = dict(nBL=nbl, nCCD=ccd, nRTRS=rtrs, nDQSCK=dqsck, nCL=cl, nRCD=rcd, nRP=rppb, nRPab=rpab, nCWL=cwl,
                 nRAS=ras, nRC=rc, nRTP=rtp, nWTR=wtr, nWR=wr, nPPD=ppd, nRRD=rrd, nFAW=faw,
                 nRFC=_R_LPDDR4_RFCAB[dens][i], nREFI=_R_LPDDR4_REFI[i])
        o = DramOrg(dens, 16, 32, 16, 1, banks, rows, cols)
        base = get_standard("lpddr4-3200")
        power = replace(base.power, estimated=True, source=base.power.source + f" (borrowed for {speed}/{org})")
    else:  # HBM
        (rate, tck, nbl, ccds, ccdl, cl, rcdr, rcdw, rp, cwl, ras, rc, rtp, wtrs, wtrl, wr, rrds, rrdl, faw,
         refi) = _R_HBM_SPEEDS[speed]
        dens, bgs, banks, rows, cols = _R_HBM_ORGS[org]
        t = dict(nBL=nbl, nCCDS=ccds, nCCDL=ccdl, nCL=cl, nRCD=rcdr, nRCDW=rcdw, nRP=rp, nCWL=cwl, nRAS=ras,
                 nRC=rc, nRTP=rtp, nWTRS=wtrs, nWTRL=wtrl, nWR=wr, nRRDS=rrds, nRRDL=rrdl, nFAW=faw,
                 nRFC=_R_HBM_RFC[dens], nREFI=refi)
        o = DramOrg(dens, 128, 128, 4, bgs, banks, rows, cols)
        base = get_standard("hbm2")
        power = replace(base.power, estimated=True, source=base.power.source + f" (borrowed for {speed}/{org})")
    return DramStandard(f"{speed}/{org}", fam, rate, tck, o, tuple(sorted(t.items())), power, src)


def describe(std: DramStandard) -> str:
    """One line: name, family, data rate, organisation, request size."""
    o = std.org
    return (f"{std.name}: {std.family} {std.rate_mtps} MT/s, tCK {std.tck_ns:.3f} ns, x{o.channel_width} channel, "
            f"{o.ranks} rank(s), {o.bank_groups}x{o.banks_per_group} banks, {o.rows} rows x {o.row_bytes} B, "
            f"{o.request_bytes} B per request")


def iter_standards() -> Iterable[DramStandard]:
    for name in standard_names():
        yield _REGISTRY[name]


def standards_markdown() -> str:
    """The presets as a markdown table (docs/dram.md holds this table; a test checks it is current)."""
    rows = ["| preset | family | MT/s | tCK ns | bus | B/req | ranks x groups x banks | rows x row bytes "
            "| CL-RCD-RP-RAS | tRFC / tREFI | power |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for std in iter_standards():
        o, t = std.org, std.timing
        rows.append(
            f"| {std.name} | {std.family} | {std.rate_mtps} | {std.tck_ns:.3f} | x{o.channel_width}"
            f"{'' if o.channels == 1 else f' ({o.channels} ch)'} | {o.request_bytes} | {o.ranks}x{o.bank_groups}x"
            f"{o.banks_per_group} | {o.rows}x{o.row_bytes} | {t['nCL']}-{t['nRCD']}-{t['nRP']}-{t['nRAS']} | "
            f"{t['nRFC']} / {t['nREFI']} | {'estimate' if std.power.estimated else 'datasheet'} |")
    rows.append("")
    rows.append("Sources:")
    rows.append("")
    for std in iter_standards():
        rows.append(f"* **{std.name}**: {std.source}. Currents: {std.power.source}.")
    return "\n".join(rows)
