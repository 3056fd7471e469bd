"""The user-facing DRAM configuration: :class:`DramConfig` (frozen, validated, plain data).

``DramConfig(standard="ddr4-3200", channels=1)`` names a standard and overrides; ``.resolve()``
turns it into a :class:`~trafficsim.dram.device.DramDevice` (organisation, timings in memory
cycles, currents, mapping) that :func:`~trafficsim.dram.simulate_requests` times.
``standard="ideal"`` is the ideal pipe of ``bandwidth_gbs`` GB/s the engines used before (no
device). It reads and writes the ``[dram]`` section of a trafficsim ``.cfg`` (``from_strings`` /
``to_dict``) and Ramulator v1 ``.cfg`` files (:meth:`DramConfig.from_ramulator_cfg`).

This module stays import-light (no numpy/numba): :mod:`trafficsim.hardware` imports it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..errors import ConfigError

IDEAL = "ideal"
PAGE_POLICIES = ("open", "closed", "closed-ap", "timeout")


@dataclass(frozen=True)
class DramConfig:
    """A DRAM memory system as the user names it.

    ``standard``: a preset (``ddr4-2400``, ``ddr4-3200``, ``ddr5-4800``, ``lpddr4-3200``,
    ``lpddr5-6400``, ``hbm2``, ``hbm3``, ``gddr6``), a Ramulator v1 speed bin (``DDR4_2400R``; with
    ``org`` such as ``DDR4_4Gb_x8``) or ``"ideal"``. ``None`` for ``channels``/``ranks`` keeps the
    standard's own count. ``mapping``: an address-mapping scheme (``RoBaRaCoCh``, Ramulator's
    default, ``ChRaBaRoCo``, or fields MSB to LSB such as ``RoCoBaBgRaCh``); ``xor_bank`` adds
    XOR bank hashing. ``page_policy``: ``open`` (Ramulator's default), ``closed`` (precharge an
    idle open bank), ``closed-ap`` (auto-precharge after the last queued hit, plus ``closed``) or
    ``timeout`` (precharge a bank idle 50 cycles). ``timings``: overrides in memory cycles,
    ``"nCL=20,nRCD=20"``.
    """

    standard: str = IDEAL
    bandwidth_gbs: float = 12.8
    org: str | None = None
    channels: int | None = None
    ranks: int | None = None
    mapping: str = "RoBaRaCoCh"
    xor_bank: bool = False
    page_policy: str = "open"
    read_queue: int = 32
    write_queue: int = 32
    refresh: bool = True
    timings: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.standard, str) or not self.standard.strip():
            raise ConfigError(f"DRAM standard must be a name, got {self.standard!r}")
        object.__setattr__(self, "standard", self.standard.strip())
        bw = self.bandwidth_gbs
        if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not (math.isfinite(bw) and 0 < bw <= 1e6):
            raise ConfigError(f"DRAM bandwidth must be a positive number of GB/s (at most 1e6), got {bw!r}")
        for name, most in (("channels", 1024), ("ranks", 16)):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise ConfigError(f"DRAM {name} must be a positive integer, got {v!r}")
            if v is not None and v > most:
                raise ConfigError(f"DRAM {name} = {v} is more than {most}")
        for name in ("read_queue", "write_queue"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= 4096:
                raise ConfigError(f"DRAM {name} must be an integer from 1 to 4096, got {v!r}")
        if self.page_policy not in PAGE_POLICIES:
            raise ConfigError(f"unknown DRAM page policy {self.page_policy!r}: choose {', '.join(PAGE_POLICIES)}")
        if not isinstance(self.xor_bank, bool) or not isinstance(self.refresh, bool):
            raise ConfigError("DRAM xor_bank and refresh must be true or false")
        if self.is_ideal:
            if self.org is not None or self.timings:
                raise ConfigError("the ideal DRAM has no org or timings; name a standard such as ddr4-3200")
            return
        # resolve the standard and the mapping now so that a bad name fails where it is given
        from ..errors import InputError
        from .mapping import parse_scheme
        from .standards import get_standard
        try:
            std = get_standard(self.standard, self.org)
        except InputError as e:  # a bad name inside a configuration is a configuration error
            raise ConfigError(str(e)) from None
        parse_scheme(self.mapping)
        if self.timings:
            std.with_timings(parse_timings(self.timings), where=f"DRAM timings {self.timings!r}")
        for name in ("channels", "ranks"):
            v = getattr(self, name)
            if v is not None and v & (v - 1):
                raise ConfigError(f"DRAM {name} = {v} does not fit the address mapping: it must be a power of two")

    # -- what it is -----------------------------------------------------------------------------------
    @property
    def is_ideal(self) -> bool:
        return self.standard.lower() == IDEAL

    def label(self) -> str:
        """Short text for tables and run ids: ``ideal-12.8GBs``, ``ddr4-3200``, ``ddr4-3200x2``."""
        if self.is_ideal:
            return f"ideal-{self.bandwidth_gbs:g}GBs"
        s = self.standard if self.org is None else f"{self.standard}-{self.org}"
        if self.channels not in (None, 1):
            s += f"x{self.channels}"
        if self.ranks not in (None, 1):
            s += f"r{self.ranks}"
        return s

    def run_tag(self) -> str:
        """:meth:`label` plus every setting that changes the timing and differs from its default (mapping,
        XOR hashing, page policy, queue depths, refresh, timing overrides): run folders of two settings never
        share a name, so one never replaces the other."""
        s = self.label()
        if self.is_ideal:
            return s
        d = DramConfig()
        if self.mapping != d.mapping:
            s += f".{self.mapping}"
        if self.xor_bank:
            s += ".xor"
        if self.page_policy != d.page_policy:
            s += f".{self.page_policy}"
        if (self.read_queue, self.write_queue) != (d.read_queue, d.write_queue):
            s += f".q{self.read_queue}.{self.write_queue}"
        if not self.refresh:
            s += ".norefresh"
        if self.timings:
            s += "." + self.timings.replace("=", "").replace(",", ".").replace(" ", "")
        return s

    def resolve(self):
        """The :class:`~trafficsim.dram.device.DramDevice` this configuration describes."""
        if self.is_ideal:
            raise ConfigError("the ideal DRAM is a bandwidth, not a device: name a standard such as ddr4-3200")
        from .device import DramDevice
        from .standards import get_standard
        std = get_standard(self.standard, self.org)
        if self.timings:
            std = std.with_timings(parse_timings(self.timings), where=f"DRAM timings {self.timings!r}")
        return DramDevice(std, channels=self.channels or std.org.channels, ranks=self.ranks or std.org.ranks,
                          mapping=self.mapping, xor_bank=self.xor_bank, page_policy=self.page_policy,
                          read_queue=self.read_queue, write_queue=self.write_queue, refresh=self.refresh)

    # -- I/O ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready fields (``None`` kept for "the standard's own")."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "DRAM config") -> "DramConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown DRAM key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        try:
            return cls(**dict(d))
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None

    @classmethod
    def from_strings(cls, items: Mapping[str, str], where: str = "[dram]") -> "DramConfig":
        """From ``key = value`` text (a ``.cfg`` ``[dram]`` section), typed by the field annotations."""
        kinds = {f.name: str(f.type) for f in fields(cls)}
        out: dict[str, Any] = {}
        for key, raw in items.items():
            k = key.strip().lower()
            if k not in kinds:
                raise ConfigError(f"{where}: unknown DRAM key {key!r}; known: {', '.join(kinds)}")
            v = str(raw).strip()
            kind = kinds[k]
            if v.lower() in ("", "none") and "None" in kind:
                out[k] = None
            elif kind.startswith("bool"):
                if v.lower() not in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                    raise ConfigError(f"{where}: DRAM {k} must be true or false, got {v!r}")
                out[k] = v.lower() in ("true", "yes", "on", "1")
            elif kind.startswith("int"):
                if not re.fullmatch(r"[+]?\d+", v):
                    raise ConfigError(f"{where}: DRAM {k} must be an integer, got {v!r}")
                out[k] = int(v)
            elif kind.startswith("float"):
                try:
                    out[k] = float(v)
                except ValueError:
                    raise ConfigError(f"{where}: DRAM {k} must be a number, got {v!r}") from None
            else:
                out[k] = v
        return cls.from_dict(out, where)

    @classmethod
    def from_ramulator_cfg(cls, path) -> "DramConfig":
        """The memory a Ramulator v1 ``.cfg`` describes (its standard, channels, ranks, speed, org keys;
        Ramulator's default mapping RoBaRaCoCh and open-page FR-FCFS controller)."""
        from .ramulator import read_cfg
        return read_cfg(path).to_dram_config()


def parse_timings(text: str) -> dict[str, int]:
    """``"nCL=20, nRCD=20"`` -> ``{"nCL": 20, "nRCD": 20}`` (one-line :class:`ConfigError` if malformed)."""
    out: dict[str, int] = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\d+)", part)
        if not m:
            raise ConfigError(f"DRAM timings {text!r}: write name=cycles pairs, e.g. nCL=20,nRCD=20 (got {part!r})")
        out[m.group(1)] = int(m.group(2))
    return out
