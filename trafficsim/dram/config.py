"""``DramConfig``: the user-facing description of the DRAM behind the accelerator (frozen, validated).

``standard="ideal"`` is a pipe of ``bandwidth_gbs`` GB/s with no latency, banks or rows: the
capacity engine's memory model before DRAM timing existed, kept as the default so that every number
the project produced before stays the same.

This is the minimal record the engines need; the DRAM standards (``"ddr4-3200"``...) and their
overrides are added by the DRAM device model (see ``docs/dram.md``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..errors import ConfigError

IDEAL = "ideal"


@dataclass(frozen=True)
class DramConfig:
    """The DRAM behind the accelerator.

    * ``standard``: ``"ideal"`` (a pipe of ``bandwidth_gbs`` with no timing) or a DRAM standard name.
    * ``bandwidth_gbs``: the ideal pipe's bandwidth in GB/s (10^9 bytes per second).
    """

    standard: str = IDEAL
    bandwidth_gbs: float = 12.8

    def __post_init__(self) -> None:
        if not isinstance(self.standard, str) or self.standard.strip().lower() != self.standard or not self.standard:
            raise ConfigError(f"DRAM standard must be a lower-case name such as 'ideal', got {self.standard!r}")
        if self.standard != IDEAL:
            raise ConfigError(f"unknown DRAM standard {self.standard!r}: choose one of {IDEAL}")
        bw = self.bandwidth_gbs
        if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not (math.isfinite(bw) and bw > 0):
            raise ConfigError(f"DRAM bandwidth must be a positive number of GB/s, got {bw!r}")

    @property
    def is_ideal(self) -> bool:
        """True for the ideal pipe (no addresses, rows or timing: bytes / bandwidth)."""
        return self.standard == IDEAL

    def label(self) -> str:
        """A short tag for run ids and tables, e.g. ``ideal-12.8GBs``."""
        return f"{self.standard}-{self.bandwidth_gbs:g}GBs" if self.is_ideal else self.standard

    # -- flat dictionaries (summary.json, sweep tables and caches, .cfg [dram] sections) -------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as plain scalars."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "DRAM config") -> "DramConfig":
        """The record from :meth:`to_dict`'s keys; an unknown key is a one-line :class:`ConfigError`."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown DRAM key(s) {', '.join(unknown)}; known: {', '.join(known)}")
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None

    @classmethod
    def from_strings(cls, items: Mapping[str, str], where: str = "DRAM config") -> "DramConfig":
        """The record from text values (a ``.cfg`` ``[dram]`` section), each converted to its field's type."""
        types = {f.name: str(f.type) for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in items.items():
            kind = types.get(key)
            if kind is None:
                raise ConfigError(f"{where}: unknown DRAM key {key!r}; known: {', '.join(types)}")
            text = raw.strip()
            if "None" in kind and text.lower() in ("", "none"):
                values[key] = None
                continue
            try:
                values[key] = int(text) if kind.startswith("int") else float(text) if kind.startswith("float") else text
            except ValueError:
                word = "an integer" if kind.startswith("int") else "a number"
                raise ConfigError(f"{where}: DRAM {key} must be {word}, got {text!r}") from None
        return cls.from_dict(values, where)
