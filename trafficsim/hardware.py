"""Hardware configuration: the systolic array, its three SRAMs, dataflow, DRAM interface, the DRAM.

:class:`Hardware` is plain data. It reads and writes SCALE-Sim ``.cfg`` files (3.0.0 and v2,
which lacks ``[layout]``, ``[sparsity]`` and ``UseRamulatorTrace``) and has named presets. The DRAM
(:class:`~trafficsim.dram.DramConfig`, ``Hardware.dram``) is written to a ``[dram]`` section, which
SCALE-Sim's own parser ignores.
The default equals SCALE-Sim 3.0.0's shipped ``configs/scale.cfg`` (32x32, 64/64/64 kB, ws, CALC).
"""
from __future__ import annotations

import configparser
import io
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from .dram.config import DramConfig
from .errors import ConfigError, InputError

Dataflow = Literal["os", "ws", "is"]
BandwidthMode = Literal["CALC", "USER"]
DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")
BANDWIDTH_MODES: tuple[str, ...] = ("CALC", "USER")


@dataclass(frozen=True)
class Hardware:
    """A systolic-array accelerator as SCALE-Sim describes it, plus the DRAM behind it and the clock.

    Sizes are in kB of ``word_bytes``-byte words as in SCALE-Sim (1 kB = 1024 words; SCALE-Sim
    hard-codes 1-byte words). In USER mode SCALE-Sim 3.0.0 reads IFMAP/FILTER from DRAM at
    ``ifmap_dram_bw``/``filter_dram_bw`` words/cycle (its ``[layout] *SRAMBankBandwidth`` keys) and
    drains OFMAP at ``bandwidth`` words/cycle (``[architecture_presets] Bandwidth``).

    ``dram`` is the memory system the capacity engine times its transfers against (default: the ideal
    12.8 GB/s pipe); ``clock_mhz`` the array clock that converts its time to seconds. In dictionaries
    (:meth:`to_dict`, summary.json, sweep tables) the DRAM fields appear flat as ``dram_<field>``
    (``dram_standard``, ``dram_bandwidth_gbs``...).
    """

    array_rows: int = 32
    array_cols: int = 32
    ifmap_sram_kb: int = 64
    filter_sram_kb: int = 64
    ofmap_sram_kb: int = 64
    dataflow: Dataflow = "ws"
    bandwidth_mode: BandwidthMode = "CALC"
    bandwidth: int = 10
    ifmap_dram_bw: int = 10
    filter_dram_bw: int = 10
    ifmap_offset: int = 0
    filter_offset: int = 10_000_000
    ofmap_offset: int = 20_000_000
    word_bytes: int = 1
    # SCALE-Sim keys kept for faithful .cfg round trips (no effect on counts without Ramulator/layouts)
    ifmap_bank_num: int = 10
    ifmap_bank_port: int = 2
    filter_bank_num: int = 10
    filter_bank_port: int = 2
    read_request_buffer: int = 32
    write_request_buffer: int = 32
    # Capacity-aware model only: the DRAM and the clock
    dram: DramConfig = DramConfig()
    clock_mhz: float = 1000.0
    run_name: str = "trafficsim"

    def __post_init__(self) -> None:
        for f in ("array_rows", "array_cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
                  "bandwidth", "ifmap_dram_bw", "filter_dram_bw", "word_bytes", "ifmap_bank_num",
                  "filter_bank_num", "ifmap_bank_port", "filter_bank_port"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{f} must be a positive integer, got {v!r}")
        for f in ("ifmap_offset", "filter_offset", "ofmap_offset"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 0:
                raise ConfigError(f"{f} must be a non-negative integer, got {v!r}")
        if self.dataflow not in DATAFLOWS:
            raise ConfigError(f"unknown dataflow {self.dataflow!r}: choose one of os, ws, is")
        if self.bandwidth_mode not in BANDWIDTH_MODES:
            raise ConfigError(f"unknown bandwidth mode {self.bandwidth_mode!r}: choose CALC or USER")
        if not isinstance(self.dram, DramConfig):
            raise ConfigError(f"dram must be a DramConfig, got {type(self.dram).__name__}")
        if not self.clock_mhz > 0:
            raise ConfigError("clock_mhz must be positive")

    # -- convenience ---------------------------------------------------------------------------
    @property
    def array(self) -> str:
        """The array as ``"RxC"``."""
        return f"{self.array_rows}x{self.array_cols}"

    def with_(self, **changes: Any) -> "Hardware":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain scalars, the DRAM's fields flat as ``dram_<field>`` (no asdict deep copy: a sweep writes one
        per point)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dram"}
        d.update({f"dram_{k}": v for k, v in self.dram.to_dict().items()})
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Hardware":
        """The inverse of :meth:`to_dict` (``dram_<field>`` keys, or ``dram`` as a DramConfig or dict)."""
        return cls(**hardware_changes(d))

    def label(self) -> str:
        """A short readable label, e.g. ``32x32-ws-64.64.64kB``."""
        return (f"{self.array}-{self.dataflow}-{self.ifmap_sram_kb}.{self.filter_sram_kb}."
                f"{self.ofmap_sram_kb}kB" + ("-user" if self.bandwidth_mode == "USER" else ""))

    # -- .cfg ----------------------------------------------------------------------------------
    def to_cfg(self) -> str:
        """SCALE-Sim 3.0.0 ``.cfg`` text (accepted by 2.0.2 too, which ignores extra keys)."""
        dram = "".join(f"{k} = {'none' if v is None else v}\n" for k, v in self.dram.to_dict().items())
        return _CFG_TEMPLATE.format(h=self) + f"\n[{_DRAM_SECTION}]\n" + dram

    def write_cfg(self, path: str | os.PathLike) -> None:
        from .files import atomic_write_text
        atomic_write_text(path, self.to_cfg())


def hardware_changes(d: dict[str, Any], base_dram: DramConfig | None = None) -> dict[str, Any]:
    """Hardware field changes from a flat mapping: ``dram_<field>`` keys (as :meth:`Hardware.to_dict` writes
    them) and ``dram`` (a DramConfig or a dict) become one ``dram`` value, starting from ``base_dram``; any
    other key must be a Hardware field. Unknown keys are a one-line :class:`ConfigError`."""
    known = {f.name for f in fields(Hardware)}
    changes: dict[str, Any] = {}
    dram_keys: dict[str, Any] = {}
    unknown = []
    for k, v in d.items():
        if k == "dram" and isinstance(v, dict):
            dram_keys.update(v)
        elif k.startswith("dram_"):
            dram_keys[k[5:]] = v
        elif k in known:
            changes[k] = v
        else:
            unknown.append(k)
    if unknown:
        raise ConfigError(f"unknown hardware field(s): {', '.join(sorted(unknown))}")
    if dram_keys:
        base = changes.get("dram", base_dram or DramConfig())
        changes["dram"] = DramConfig.from_dict({**base.to_dict(), **dram_keys}, "hardware")
    return changes


_CFG_TEMPLATE = """\
[general]
run_name = {h.run_name}

[architecture_presets]
ArrayHeight: {h.array_rows}
ArrayWidth: {h.array_cols}
IfmapSramSzkB: {h.ifmap_sram_kb}
FilterSramSzkB: {h.filter_sram_kb}
OfmapSramSzkB: {h.ofmap_sram_kb}
IfmapOffset: {h.ifmap_offset}
FilterOffset: {h.filter_offset}
OfmapOffset: {h.ofmap_offset}
Bandwidth : {h.bandwidth}
Dataflow : {h.dataflow}
MemoryBanks: 1
ReadRequestBuffer: {h.read_request_buffer}
WriteRequestBuffer: {h.write_request_buffer}

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {h.ifmap_dram_bw}
IfmapSRAMBankNum: {h.ifmap_bank_num}
IfmapSRAMBankPort: {h.ifmap_bank_port}
FilterCustomLayout: False
FilterSRAMBankBandwidth: {h.filter_dram_bw}
FilterSRAMBankNum: {h.filter_bank_num}
FilterSRAMBankPort: {h.filter_bank_port}

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {h.bandwidth_mode}
UseRamulatorTrace: False
"""

# trafficsim's own section: SCALE-Sim 3.0.0 and 2.0.2 read only the keys they know and ignore it
_DRAM_SECTION = "dram"


def _cfg_int(cp: configparser.ConfigParser, where: str, section: str, key: str, default: int | None = None) -> int:
    if not cp.has_section(section) or not cp.has_option(section, key):
        if default is not None:
            return default
        raise ConfigError(f"{where}: missing [{section}] {key}")
    raw = cp.get(section, key).strip()
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{where}: [{section}] {key} must be an integer, got {raw!r}") from None


def read_cfg(path: str | os.PathLike) -> Hardware:
    """Read a SCALE-Sim ``.cfg`` (3.0.0 or v2). Unlike SCALE-Sim, an invalid dataflow or
    ``InterfaceBandwidth`` is an error, never silently OS or an invalid config; Ramulator,
    custom layouts and sparsity (unsupported here) are errors too."""
    path = Path(path)
    where = str(path)
    cp = configparser.ConfigParser()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: cannot read config ({e})") from None
    try:
        cp.read_string(text, source=where)
    except configparser.Error as e:
        first = str(e).splitlines()[0]
        raise ConfigError(f"{where}: not a valid .cfg file ({first})") from None
    ap = "architecture_presets"
    if not cp.has_section(ap):
        raise ConfigError(f"{where}: missing section [{ap}]")
    kw: dict[str, Any] = {}
    kw["run_name"] = cp.get("general", "run_name", fallback="trafficsim").strip() or "trafficsim"
    kw["array_rows"] = _cfg_int(cp, where, ap, "ArrayHeight")
    kw["array_cols"] = _cfg_int(cp, where, ap, "ArrayWidth")
    kw["ifmap_sram_kb"] = _cfg_int(cp, where, ap, "IfmapSramSzkB")
    kw["filter_sram_kb"] = _cfg_int(cp, where, ap, "FilterSramSzkB")
    kw["ofmap_sram_kb"] = _cfg_int(cp, where, ap, "OfmapSramSzkB")
    kw["ifmap_offset"] = _cfg_int(cp, where, ap, "IfmapOffset", 0)
    kw["filter_offset"] = _cfg_int(cp, where, ap, "FilterOffset", 10_000_000)
    kw["ofmap_offset"] = _cfg_int(cp, where, ap, "OfmapOffset", 20_000_000)
    kw["read_request_buffer"] = _cfg_int(cp, where, ap, "ReadRequestBuffer", 32)
    kw["write_request_buffer"] = _cfg_int(cp, where, ap, "WriteRequestBuffer", 32)
    dataflow = cp.get(ap, "Dataflow", fallback="").strip()
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"{where}: [{ap}] Dataflow must be os, ws or is (lower case), got {dataflow!r}")
    kw["dataflow"] = dataflow
    mode = cp.get("run_presets", "InterfaceBandwidth", fallback="").strip() if cp.has_section("run_presets") else ""
    if mode not in BANDWIDTH_MODES:
        raise ConfigError(f"{where}: [run_presets] InterfaceBandwidth must be CALC or USER, got {mode!r}")
    kw["bandwidth_mode"] = mode
    if cp.has_option(ap, "Bandwidth"):
        raw = cp.get(ap, "Bandwidth").strip()
        try:
            kw["bandwidth"] = int(raw.split(",")[0].strip())
        except ValueError:
            raise ConfigError(f"{where}: [{ap}] Bandwidth must be an integer list, got {raw!r}") from None
    elif mode == "USER":
        raise ConfigError(f"{where}: [{ap}] Bandwidth is required in USER mode")
    if cp.has_section("layout"):
        for key, name in (("IfmapSRAMBankBandwidth", "ifmap_dram_bw"), ("FilterSRAMBankBandwidth", "filter_dram_bw"),
                          ("IfmapSRAMBankNum", "ifmap_bank_num"), ("FilterSRAMBankNum", "filter_bank_num"),
                          ("IfmapSRAMBankPort", "ifmap_bank_port"), ("FilterSRAMBankPort", "filter_bank_port")):
            if cp.has_option("layout", key):
                kw[name] = _cfg_int(cp, where, "layout", key)
        for key in ("IfmapCustomLayout", "FilterCustomLayout"):
            if cp.has_option("layout", key) and _cfg_bool(cp, where, "layout", key):
                raise ConfigError(f"{where}: [layout] {key} = True is not supported by trafficsim")
    elif mode == "USER":
        # v2 configs have no [layout]: v2 reads IFMAP/FILTER DRAM at Bandwidth[0]. Use the same
        # value so a v2 USER config keeps its meaning as far as 3.0.0 can express it.
        kw["ifmap_dram_bw"] = kw["filter_dram_bw"] = kw.get("bandwidth", 10)
    if cp.has_section("sparsity") and cp.has_option("sparsity", "SparsitySupport"):
        if _cfg_bool(cp, where, "sparsity", "SparsitySupport"):
            raise ConfigError(f"{where}: [sparsity] SparsitySupport = true is not supported by trafficsim")
    if cp.has_section("run_presets") and cp.get("run_presets", "UseRamulatorTrace", fallback="False").strip() == "True":
        raise ConfigError(f"{where}: [run_presets] UseRamulatorTrace = True is not supported by trafficsim")
    if cp.has_section(_DRAM_SECTION):
        kw["dram"] = DramConfig.from_strings(dict(cp.items(_DRAM_SECTION, raw=True)), f"{where}: [{_DRAM_SECTION}]")
    try:
        return Hardware(**kw)
    except ConfigError as e:  # e.g. a zero size: say which file
        raise ConfigError(f"{where}: {e}") from None


def _cfg_bool(cp: configparser.ConfigParser, where: str, section: str, key: str) -> bool:
    try:
        return cp.getboolean(section, key)
    except ValueError:
        raise ConfigError(f"{where}: [{section}] {key} must be true or false") from None


PRESETS: dict[str, Hardware] = {
    # SCALE-Sim 3.0.0's configs/scale.cfg
    "scalesim": Hardware(run_name="scalesim"),
    # The original ARM SCALE-Sim release's configs/scale.cfg
    "arm-scale": Hardware(ifmap_sram_kb=512, filter_sram_kb=512, ofmap_sram_kb=256, dataflow="os",
                          run_name="arm_scale_32x32_os"),
    # ARM SCALE-Sim's configs/eyeriss.cfg (12x14 ws; SRAM as issue #3 specifies)
    "eyeriss": Hardware(array_rows=12, array_cols=14, ifmap_sram_kb=36, filter_sram_kb=36, ofmap_sram_kb=36,
                        dataflow="ws", run_name="eyeriss"),
    # The fabricated Eyeriss chip (Chen et al., IEEE JSSC 52(1), 2017, sec. V-A): 12x14 PEs; its 108 kB global
    # buffer = 100 kB for ifmaps and psums (25 banks of 4 kB, assigned per layer: 13 ifmap / 12 psum banks here,
    # the effect of that choice is in docs/validation.md) + 8 kB for the filters of the next processing pass;
    # 64-bit DRAM link at 60 MHz (0.48 GB/s). 16-bit words are the workload's (--precision int16); its 200 MHz core
    # clock is --clock-mhz 200 (a .cfg keeps no clock, so a preset cannot either).
    "eyeriss-chip": Hardware(array_rows=12, array_cols=14, ifmap_sram_kb=52, filter_sram_kb=8, ofmap_sram_kb=48,
                             dataflow="ws", dram=DramConfig(bandwidth_gbs=0.48), run_name="eyeriss_chip"),
    # A TPU-v1-like array with a user-set DRAM bandwidth
    "tpu": Hardware(array_rows=256, array_cols=256, ifmap_sram_kb=6144, filter_sram_kb=6144, ofmap_sram_kb=2048,
                    dataflow="os", bandwidth_mode="USER", run_name="tpu_256x256_os"),
}


def preset(name: str) -> Hardware:
    """A named hardware preset: ``scalesim`` (default), ``arm-scale``, ``eyeriss``, ``eyeriss-chip``, ``tpu``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None


_ARRAY = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_array(text: str | tuple[int, int]) -> tuple[int, int]:
    """Parse ``"32x32"`` (or a ``(rows, cols)`` tuple) into positive (rows, cols)."""
    if isinstance(text, (tuple, list)):
        if len(text) != 2:
            raise InputError(f"array must be (rows, cols), got {text!r}")
        rows, cols = text
    else:
        m = _ARRAY.match(str(text))
        if not m:
            raise InputError(f"array size {text!r} is not of the form RxC, e.g. 32x32")
        rows, cols = int(m.group(1)), int(m.group(2))
    if not (isinstance(rows, int) and isinstance(cols, int)) or rows <= 0 or cols <= 0:
        raise InputError(f"array size {text!r}: rows and columns must be positive integers")
    return rows, cols


def split_one_or_three(text: str) -> list[int] | None:
    """``"N"`` -> [N, N, N]; ``"A,B,C"`` -> [A, B, C] (any other count is returned as is for the
    caller to reject); None when a field is not an integer. Shared by the per-operand options."""
    try:
        vals = [int(p.strip()) for p in text.split(",")]
    except ValueError:
        return None
    return vals * 3 if len(vals) == 1 else vals


def parse_sram(text: str | int | tuple[int, int, int]) -> tuple[int, int, int]:
    """Parse ``"64"`` (all three) or ``"512,512,256"`` (ifmap, filter, ofmap) kB into positive ints."""
    if isinstance(text, int):
        vals = [text] * 3
    elif isinstance(text, (tuple, list)):
        vals = list(text)
    else:
        parsed = split_one_or_three(str(text))
        if parsed is None:
            raise InputError(f"SRAM sizes {text!r} must be integers in kB: I or I,F,O (e.g. 64 or 512,512,256)")
        vals = parsed
    if len(vals) != 3 or any((not isinstance(v, int)) or v <= 0 for v in vals):
        raise InputError(f"SRAM sizes {text!r} must be one or three positive integers in kB")
    return vals[0], vals[1], vals[2]
