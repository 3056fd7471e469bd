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
import math
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from .dataflow import DATAFLOWS  # the one dataflow table
from .dram.config import DramConfig
from .errors import ConfigError, InputError

Dataflow = Literal["os", "ws", "is"]
BandwidthMode = Literal["CALC", "USER"]
BANDWIDTH_MODES: tuple[str, ...] = ("CALC", "USER")
# Every count the engines handle is an int64 (numpy arrays, the compiled kernel); a larger value is an
# input error where it enters, not an overflow deep inside an engine.
INT64_MAX = 2**63 - 1
DEFAULT_RUN_NAME = "trafficsim"  # [general] run_name of the .cfg files we write


@dataclass(frozen=True)
class Hardware:
    """A systolic-array accelerator as SCALE-Sim describes it, plus the DRAM behind it and the clock.

    Sizes are in kB (SCALE-Sim's words are 1 byte). Element sizes are not hardware: they are the workload's
    :class:`~trafficsim.workload.Precision` (``--precision``; ``--word-bytes N`` is its uniform shorthand).
    In USER mode SCALE-Sim 3.0.0 reads IFMAP/FILTER from DRAM at ``ifmap_dram_bw``/``filter_dram_bw``
    words/cycle (its ``[layout] *SRAMBankBandwidth`` keys) and drains OFMAP at ``bandwidth`` words/cycle (``[architecture_presets] Bandwidth``).

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

    def __post_init__(self) -> None:
        for f in ("array_rows", "array_cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
                  "bandwidth", "ifmap_dram_bw", "filter_dram_bw", "ifmap_bank_num",
                  "filter_bank_num", "ifmap_bank_port", "filter_bank_port"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{f} must be a positive integer, got {v!r}")
            if v > INT64_MAX:
                raise ConfigError(f"{f} must be at most {INT64_MAX:,} (int64), got {v:,}")
        for f in ("ifmap_offset", "filter_offset", "ofmap_offset"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{f} must be a non-negative integer, got {v!r}")
            if v > INT64_MAX:
                raise ConfigError(f"{f} must be at most {INT64_MAX:,} (int64), got {v:,}")
        if self.dataflow not in DATAFLOWS:
            raise ConfigError(f"unknown dataflow {self.dataflow!r}: choose one of os, ws, is")
        if self.bandwidth_mode not in BANDWIDTH_MODES:
            raise ConfigError(f"unknown bandwidth mode {self.bandwidth_mode!r}: choose CALC or USER")
        if not isinstance(self.dram, DramConfig):
            raise ConfigError(f"dram must be a DramConfig, got {type(self.dram).__name__}")
        v = self.clock_mhz
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigError(f"clock_mhz must be a positive finite number, got {v!r}")
        if self.bandwidth_mode == "USER":
            # SCALE-Sim 3.0.0 asserts this in memory/read_buffer.py:set_params ("overall bandwidth must be
            # divisible by total number of banks") and refuses the run
            for operand, bw, banks in (("IFMAP", self.ifmap_dram_bw, self.ifmap_bank_num),
                                       ("FILTER", self.filter_dram_bw, self.filter_bank_num)):
                if bw % banks:
                    raise ConfigError(
                        f"USER bandwidth: the {operand} read bandwidth {bw} words/cycle is not divisible by its "
                        f"{banks} SRAM banks, which SCALE-Sim 3.0.0 refuses; use a multiple of {banks} (or a .cfg "
                        f"with [layout] {operand.title()}SRAMBankNum dividing {bw})")

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
        # run_name (now ScaleSimConfig's) and word_bytes (now the workload's precision) were Hardware fields:
        # old summaries and sweep caches carry them
        return cls(**hardware_changes({k: v for k, v in d.items() if k not in _FORMER_FIELDS}))

    def label(self) -> str:
        """A short readable label, e.g. ``32x32-ws-64.64.64kB``."""
        return (f"{self.array}-{self.dataflow}-{self.ifmap_sram_kb}.{self.filter_sram_kb}."
                f"{self.ofmap_sram_kb}kB" + ("-user" if self.bandwidth_mode == "USER" else ""))

    # -- .cfg ----------------------------------------------------------------------------------
    def to_cfg(self, run_name: str = DEFAULT_RUN_NAME) -> str:
        """SCALE-Sim 3.0.0 ``.cfg`` text (accepted by 2.0.2 too, which ignores extra keys).

        ``run_name`` is ``[general] run_name``: the name of SCALE-Sim's output folder, not hardware. The
        memory system (``dram``) is written to a ``[dram]`` section, which SCALE-Sim's parser ignores."""
        dram = "".join(f"{k} = {'none' if v is None else v}\n" for k, v in self.dram.to_dict().items())
        return (_CFG_TEMPLATE.format(h=self, run_name=_check_run_name(run_name))
                + f"\n[{_DRAM_SECTION}]\n" + dram)

    def write_cfg(self, path: str | os.PathLike, run_name: str = DEFAULT_RUN_NAME) -> None:
        from .files import atomic_write_text
        atomic_write_text(path, self.to_cfg(run_name))


@dataclass(frozen=True)
class ScaleSimConfig:
    """A SCALE-Sim ``.cfg`` file's content: the :class:`Hardware` it describes and its
    ``[general] run_name`` (the name of SCALE-Sim's output folder; no effect on any number)."""

    hardware: Hardware
    run_name: str = DEFAULT_RUN_NAME

    def to_cfg(self) -> str:
        return self.hardware.to_cfg(self.run_name)


def _check_run_name(run_name: str) -> str:
    if not isinstance(run_name, str) or not run_name.strip() or any(c in run_name for c in "\n\r\0"):
        raise ConfigError(f"run_name must be a non-empty one-line string, got {run_name!r}")
    return run_name.strip()


# former Hardware fields that records written by older versions still carry (Hardware.from_dict drops them)
_FORMER_FIELDS = ("run_name", "word_bytes")
WORD_BYTES_MOVED = ("word_bytes is no longer a hardware field: element sizes are the workload's precision "
                    "(precision=N or 'w8a16'; on the command line --precision, or --word-bytes N)")


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
    if unknown == ["word_bytes"]:
        raise ConfigError(WORD_BYTES_MOVED)
    if unknown:
        raise ConfigError(f"unknown hardware field(s): {', '.join(sorted(unknown))}")
    if dram_keys:
        base = changes.get("dram", base_dram or DramConfig())
        changes["dram"] = DramConfig.from_dict({**base.to_dict(), **dram_keys}, "hardware")
    return changes


_CFG_TEMPLATE = """\
[general]
run_name = {run_name}

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


# Keys SCALE-Sim 3.0.0's scale_config.read_conf_file reads without a fallback (it crashes without them),
# by section; Bandwidth only in USER mode, the [sparsity] details only with SparsitySupport on.
_SCALESIM3_REQUIRED: dict[str, tuple[str, ...]] = {
    "general": ("run_name",),
    "architecture_presets": ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB",
                             "IfmapOffset", "FilterOffset", "OfmapOffset", "Dataflow", "ReadRequestBuffer",
                             "WriteRequestBuffer"),
    "layout": ("IfmapCustomLayout", "IfmapSRAMBankBandwidth", "IfmapSRAMBankNum", "IfmapSRAMBankPort",
               "FilterCustomLayout", "FilterSRAMBankBandwidth", "FilterSRAMBankNum", "FilterSRAMBankPort"),
    "sparsity": ("SparsitySupport",),
    "run_presets": ("InterfaceBandwidth", "UseRamulatorTrace"),
}
# Every key SCALE-Sim 3.0.0 knows (the rest are named in a warning: they change nothing here or there)
_SCALESIM3_KEYS: dict[str, frozenset[str]] = {
    **{sec: frozenset(k.lower() for k in keys) for sec, keys in _SCALESIM3_REQUIRED.items()},
    "architecture_presets": frozenset(k.lower() for k in (*_SCALESIM3_REQUIRED["architecture_presets"],
                                                           "Bandwidth", "MemoryBanks")),
    "sparsity": frozenset(k.lower() for k in ("SparsitySupport", "SparseRep", "OptimizedMapping", "BlockSize",
                                              "RandomNumberGeneratorSeed", "NonZeroElems")),
    "network_presets": frozenset({"topologycsvloc"}),
}
# Modes SCALE-Sim 3.0.0 has and trafficsim does not model: refused wherever they appear (a v2 config
# has no [layout], so a key there or in another section must not be ignored silently)
_UNMODELLED_MODES = {"ifmapcustomlayout": "custom IFMAP layouts", "filtercustomlayout": "custom FILTER layouts",
                     "sparsitysupport": "sparsity", "useramulatortrace": "Ramulator DRAM traces"}
_KEY_NAMES = {k.lower(): k for keys in (*_SCALESIM3_REQUIRED.values(), ("Bandwidth", "MemoryBanks", "SparseRep",
              "OptimizedMapping", "BlockSize", "RandomNumberGeneratorSeed")) for k in keys}


def _mode_on(key: str, value: str) -> bool:
    """Does SCALE-Sim 3.0.0 turn the mode ``key`` on for ``value``? (Each key is read its own way.)"""
    if key == "useramulatortrace":
        return value == "True"
    if key == "sparsitysupport":
        return value.lower() == "true"
    return value.lower() in configparser.ConfigParser.BOOLEAN_STATES and \
        configparser.ConfigParser.BOOLEAN_STATES[value.lower()]


MAX_CFG_BYTES = 1 << 20  # a .cfg is a few hundred bytes; bound what is read (a device file never ends)


class _Cfg:
    """A parsed .cfg and its file name, with SCALE-Sim's reading rules and one-line errors."""

    def __init__(self, cp: configparser.ConfigParser, where: str) -> None:
        self.cp, self.where = cp, where

    def has(self, section: str, key: str) -> bool:
        return self.cp.has_section(section) and self.cp.has_option(section, key)

    def get(self, section: str, key: str, default: str | None = None) -> str:
        if not self.has(section, key):
            if default is not None:
                return default
            raise ConfigError(f"{self.where}: missing [{section}] {key}")
        try:  # interpolated, as SCALE-Sim's ConfigParser does: "%%" is "%", a lone "%" is refused
            return self.cp.get(section, key).strip()
        except configparser.InterpolationError as e:
            first = str(e).splitlines()[0]
            raise ConfigError(f"{self.where}: [{section}] {key}: {first} (SCALE-Sim's .cfg parser expands '%': "
                              "write '%%' for a literal '%')") from None

    def int(self, section: str, key: str, default: int | None = None) -> int:
        raw = self.get(section, key, None if default is None else str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{self.where}: [{section}] {key} must be an integer, got {raw!r}") from None
        if abs(value) > INT64_MAX:
            raise ConfigError(f"{self.where}: [{section}] {key} must be at most {INT64_MAX:,} (int64), got {raw}")
        return value

    def bool(self, section: str, key: str) -> bool:
        try:
            return self.cp.getboolean(section, key)
        except ValueError:
            raise ConfigError(f"{self.where}: [{section}] {key} must be true or false") from None
        except configparser.InterpolationError:
            self.get(section, key)  # raises the one-line interpolation error
            raise


def _read_cfg_text(path: Path) -> str:
    """The text of a .cfg: a regular file of at most MAX_CFG_BYTES, UTF-8 without a byte-order mark."""
    from .files import read_bytes_bounded

    data = read_bytes_bounded(path, what="config file", error=ConfigError, max_bytes=MAX_CFG_BYTES)
    if data.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(f"{path}: starts with a UTF-8 byte-order mark, which SCALE-Sim 3.0.0 cannot read "
                          "('File contains no section headers'); save it as UTF-8 without BOM")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read config (not UTF-8 text: bad byte at offset {e.start})") from None


def read_cfg(path: str | os.PathLike) -> Hardware:
    """The :class:`Hardware` of a SCALE-Sim ``.cfg`` (3.0.0 or v2): :func:`read_scalesim_cfg`'s hardware."""
    return read_scalesim_cfg(path).hardware


def read_scalesim_cfg(path: str | os.PathLike) -> ScaleSimConfig:
    """Read a SCALE-Sim ``.cfg`` with its run name, refusing what SCALE-Sim 3.0.0 refuses.

    A 3.0.0 config (one with a ``[layout]`` section) must have every key SCALE-Sim 3.0.0 reads.
    A v2 config (no ``[layout]``) is read with v2's meaning, with a warning, since 3.0.0 refuses it.
    Unlike SCALE-Sim, an invalid dataflow or ``InterfaceBandwidth`` is an error (SCALE-Sim goes on
    with OS or an invalid config); custom layouts, sparsity and Ramulator traces (not modelled here)
    are errors wherever their keys appear; keys SCALE-Sim does not know are named in a warning.
    Warnings are :class:`~trafficsim.errors.TrafficsimWarning` (the CLI prints them on one line).
    """
    import warnings

    from .errors import TrafficsimWarning

    path = Path(path)
    where = str(path)
    text = _read_cfg_text(path)
    cp = configparser.ConfigParser()  # SCALE-Sim's parser: interpolation on, keys case-insensitive, strict
    try:
        cp.read_string(text, source=where)
    except configparser.Error as e:
        first = str(e).splitlines()[0]
        raise ConfigError(f"{where}: not a valid .cfg file ({first})") from None
    cfg = _Cfg(cp, where)
    ap = "architecture_presets"
    if not cp.has_section(ap):
        raise ConfigError(f"{where}: missing section [{ap}]")
    v2 = not cp.has_section("layout")
    notes: list[str] = []
    for section in cp.sections():
        if section == _DRAM_SECTION:
            continue  # ours: DramConfig checks its keys
        for key in cp[section]:
            if key in _UNMODELLED_MODES and _mode_on(key, cfg.get(section, key)):
                raise ConfigError(f"{where}: [{section}] {_KEY_NAMES[key]} = {cfg.get(section, key)} is not supported "
                                  f"by trafficsim ({_UNMODELLED_MODES[key]} are not modelled)")
            if key not in _SCALESIM3_KEYS.get(section, ()) and key not in _UNMODELLED_MODES:
                notes.append(f"[{section}] {key}")
    if not v2:
        for section, keys in _SCALESIM3_REQUIRED.items():
            for key in keys:
                if not cfg.has(section, key):
                    raise ConfigError(f"{where}: missing [{section}] {key} (SCALE-Sim 3.0.0 requires it)")
    run_name = cfg.get("general", "run_name", DEFAULT_RUN_NAME) or DEFAULT_RUN_NAME
    kw: dict[str, Any] = {}
    kw["array_rows"] = cfg.int(ap, "ArrayHeight")
    kw["array_cols"] = cfg.int(ap, "ArrayWidth")
    kw["ifmap_sram_kb"] = cfg.int(ap, "IfmapSramSzkB")
    kw["filter_sram_kb"] = cfg.int(ap, "FilterSramSzkB")
    kw["ofmap_sram_kb"] = cfg.int(ap, "OfmapSramSzkB")
    kw["ifmap_offset"] = cfg.int(ap, "IfmapOffset", 0)
    kw["filter_offset"] = cfg.int(ap, "FilterOffset", 10_000_000)
    kw["ofmap_offset"] = cfg.int(ap, "OfmapOffset", 20_000_000)
    kw["read_request_buffer"] = cfg.int(ap, "ReadRequestBuffer", 32)
    kw["write_request_buffer"] = cfg.int(ap, "WriteRequestBuffer", 32)
    dataflow = cfg.get(ap, "Dataflow", "")
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"{where}: [{ap}] Dataflow must be os, ws or is (lower case), got {dataflow!r}")
    kw["dataflow"] = dataflow
    mode = cfg.get("run_presets", "InterfaceBandwidth", "")
    if mode not in BANDWIDTH_MODES:
        raise ConfigError(f"{where}: [run_presets] InterfaceBandwidth must be CALC or USER, got {mode!r}")
    kw["bandwidth_mode"] = mode
    if cfg.has(ap, "Bandwidth"):
        # SCALE-Sim reads (and expands '%' in) Bandwidth in USER mode only
        raw = cfg.get(ap, "Bandwidth") if mode == "USER" else cp.get(ap, "Bandwidth", raw=True).strip()
        try:
            kw["bandwidth"] = int(raw.split(",")[0].strip())
        except ValueError:
            if mode == "USER":
                raise ConfigError(f"{where}: [{ap}] Bandwidth must be an integer list, got {raw!r}") from None
    elif mode == "USER":
        raise ConfigError(f"{where}: [{ap}] Bandwidth is required in USER mode")
    if not v2:
        for key, name in (("IfmapSRAMBankBandwidth", "ifmap_dram_bw"), ("FilterSRAMBankBandwidth", "filter_dram_bw"),
                          ("IfmapSRAMBankNum", "ifmap_bank_num"), ("FilterSRAMBankNum", "filter_bank_num"),
                          ("IfmapSRAMBankPort", "ifmap_bank_port"), ("FilterSRAMBankPort", "filter_bank_port")):
            kw[name] = cfg.int("layout", key)
        for key in ("IfmapCustomLayout", "FilterCustomLayout"):
            cfg.bool("layout", key)  # SCALE-Sim's getboolean refuses anything but a boolean
    elif mode == "USER":
        # v2 configs have no [layout]: v2 reads IFMAP/FILTER DRAM at Bandwidth[0]. Use the same
        # value so a v2 USER config keeps its meaning as far as 3.0.0 can express it.
        kw["ifmap_dram_bw"] = kw["filter_dram_bw"] = kw.get("bandwidth", 10)
        kw["ifmap_bank_num"] = kw["filter_bank_num"] = 1  # v2 has no banks: no divisibility rule
    if cp.has_section(_DRAM_SECTION):  # trafficsim's own memory system; SCALE-Sim's parser ignores it
        kw["dram"] = DramConfig.from_strings(dict(cp.items(_DRAM_SECTION, raw=True)), f"{where}: [{_DRAM_SECTION}]")
    try:
        config = ScaleSimConfig(Hardware(**kw), run_name)
    except ConfigError as e:  # e.g. a zero size: say which file
        raise ConfigError(f"{where}: {e}") from None
    if v2:
        warnings.warn(f"{where} is a SCALE-Sim v2 config (no [layout] section), which SCALE-Sim 3.0.0 refuses; "
                      "read with v2's meaning" + (" (IFMAP/FILTER DRAM reads at Bandwidth[0])" if mode == "USER"
                                                  else ""), TrafficsimWarning, stacklevel=2)
    if notes:
        warnings.warn(f"{where}: {', '.join(notes)} not known to SCALE-Sim 3.0.0; ignored", TrafficsimWarning,
                      stacklevel=2)
    return config


PRESETS: dict[str, Hardware] = {
    # SCALE-Sim 3.0.0's configs/scale.cfg
    "scalesim": Hardware(),
    # The original ARM SCALE-Sim release's configs/scale.cfg
    "arm-scale": Hardware(ifmap_sram_kb=512, filter_sram_kb=512, ofmap_sram_kb=256, dataflow="os"),
    # ARM SCALE-Sim's configs/eyeriss.cfg (12x14 ws; SRAM as issue #3 specifies)
    "eyeriss": Hardware(array_rows=12, array_cols=14, ifmap_sram_kb=36, filter_sram_kb=36, ofmap_sram_kb=36,
                        dataflow="ws"),
    # The fabricated Eyeriss chip (Chen et al., IEEE JSSC 52(1), 2017, sec. V-A): 12x14 PEs; its 108 kB global
    # buffer = 100 kB for ifmaps and psums (25 banks of 4 kB, assigned per layer: 13 ifmap / 12 psum banks here,
    # the effect of that choice is in docs/validation.md) + 8 kB for the filters of the next processing pass;
    # 64-bit DRAM link at 60 MHz (0.48 GB/s). 16-bit words are the workload's (--precision int16); its 200 MHz core
    # clock is --clock-mhz 200 (a .cfg keeps no clock, so a preset cannot either).
    "eyeriss-chip": Hardware(array_rows=12, array_cols=14, ifmap_sram_kb=52, filter_sram_kb=8, ofmap_sram_kb=48,
                             dataflow="ws", dram=DramConfig(bandwidth_gbs=0.48)),
    # A TPU-v1-like array with a user-set DRAM bandwidth
    "tpu": Hardware(array_rows=256, array_cols=256, ifmap_sram_kb=6144, filter_sram_kb=6144, ofmap_sram_kb=2048,
                    dataflow="os", bandwidth_mode="USER"),
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
    if (not (isinstance(rows, int) and isinstance(cols, int)) or isinstance(rows, bool) or isinstance(cols, bool)
            or rows <= 0 or cols <= 0):
        raise InputError(f"array size {text!r}: rows and columns must be positive integers")
    if rows > INT64_MAX or cols > INT64_MAX:
        raise InputError(f"array size {text!r}: rows and columns must be at most {INT64_MAX:,} (int64)")
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
    if len(vals) != 3 or any((not isinstance(v, int)) or isinstance(v, bool) or v <= 0 for v in vals):
        raise InputError(f"SRAM sizes {text!r} must be one or three positive integers in kB")
    if any(v > INT64_MAX for v in vals):
        raise InputError(f"SRAM sizes {text!r} must be at most {INT64_MAX:,} kB (int64)")
    return vals[0], vals[1], vals[2]
