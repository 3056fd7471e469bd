"""Ramulator v1 interoperability: its ``.cfg`` files, its statistics output, and an optional
backend that runs a user's Ramulator binary on the same request stream.

Ramulator is never shipped or built here. The backend needs a binary built by the user (``make``
in a Ramulator v1 checkout) whose path is in the environment variable ``TRAFFICSIM_RAMULATOR``.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, EngineError, InputError

ENV_VAR = "TRAFFICSIM_RAMULATOR"

# Keys of Ramulator v1's example configs that do not change its DRAM-trace mode: CPU-trace mode
# (cpu_tick, mem_tick, early_exit, expected_limit_insts, warmup_insts, cache, translation) and
# command-trace printing (record_cmd_trace, print_cmd_trace, cmd_trace_prefix).
IGNORED_KEYS = frozenset({"cpu_tick", "mem_tick", "early_exit", "expected_limit_insts", "warmup_insts", "cache",
                          "translation", "record_cmd_trace", "print_cmd_trace", "cmd_trace_prefix"})
USED_KEYS = ("standard", "channels", "ranks", "speed", "org")
SUPPORTED_STANDARDS = ("DDR4", "LPDDR4", "HBM")
_MAX_CFG_BYTES = 1 << 20


@dataclass(frozen=True)
class RamulatorConfig:
    """The keys of a Ramulator v1 ``.cfg`` that define the memory, and where they came from."""

    path: str
    standard: str
    speed: str
    org: str
    channels: int
    ranks: int
    unknown_keys: tuple[str, ...] = ()

    def to_dram_config(self):
        from .config import DramConfig
        return DramConfig(standard=self.speed, org=self.org, channels=self.channels, ranks=self.ranks)


def read_cfg(path: str | os.PathLike) -> RamulatorConfig:
    """Parse a Ramulator v1 config file as its ``Config::parse`` does: ``key = value`` or
    ``key value`` lines, ``#`` comments. One-line :class:`ConfigError` on anything it would refuse."""
    p = Path(path)
    text = _read_small_text(p, "Ramulator config")
    options: dict[str, tuple[str, int]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = [t for t in re.split(r"[ \t=]+", line.strip()) if t]
        if not tokens or tokens[0].startswith("#"):
            continue
        if len(tokens) != 2:
            raise ConfigError(f"{p}:{lineno}: expected 'key = value', got {line.strip()!r}")
        options[tokens[0]] = (tokens[1], lineno)

    def need(key: str) -> tuple[str, int]:
        if key not in options:
            raise ConfigError(f"{p}: missing key {key!r} (a Ramulator config needs {', '.join(USED_KEYS)})")
        return options[key]

    standard, sl = need("standard")
    if standard not in SUPPORTED_STANDARDS:
        raise ConfigError(f"{p}:{sl}: Ramulator standard {standard!r} is not modelled; choose one of "
                          f"{', '.join(SUPPORTED_STANDARDS)} (or use a trafficsim preset such as ddr5-4800)")
    ints = {}
    for key in ("channels", "ranks"):
        v, ln = need(key)
        if not re.fullmatch(r"\d+", v) or int(v) <= 0:
            raise ConfigError(f"{p}:{ln}: {key} must be a positive integer, got {v!r}")
        ints[key] = int(v)
    speed, spl = need("speed")
    org, ol = need("org")
    from .standards import ramulator_family_of, ramulator_orgs
    fam = ramulator_family_of(speed)
    if fam != standard:
        from .standards import _RAMULATOR_FAMILIES
        raise ConfigError(f"{p}:{spl}: unknown {standard} speed {speed!r}; choose one of "
                          f"{', '.join(_RAMULATOR_FAMILIES[standard][0])}")
    if org not in ramulator_orgs(standard):
        raise ConfigError(f"{p}:{ol}: unknown {standard} org {org!r}; choose one of "
                          f"{', '.join(ramulator_orgs(standard))}")
    unknown = tuple(sorted(k for k in options if k not in USED_KEYS and k not in IGNORED_KEYS))
    return RamulatorConfig(str(p), standard, speed, org, ints["channels"], ints["ranks"], unknown)


def _read_small_text(p: Path, what: str) -> str:
    try:
        if not p.exists():
            raise ConfigError(f"{p}: no such {what} file")
        if not p.is_file():
            raise ConfigError(f"{p}: not a regular file")
        size = p.stat().st_size
        if size > _MAX_CFG_BYTES:
            raise ConfigError(f"{p}: {size} bytes is too large for a {what}")
        data = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file") from None


# --- statistics output ---------------------------------------------------------------------------
_STAT = re.compile(r"^\s*ramulator\.(\S+)\s+(-?[0-9.eE+-]+|nan|inf)\b")


def parse_stats(text: str) -> dict[str, float]:
    """Ramulator's ``--stats`` file -> {stat name: value} (scalar lines; vector element lines skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _STAT.match(line)
        if m:
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                pass
    return out


def summarize_stats(stats: dict[str, float]) -> dict[str, int]:
    """Totals over channels in the keys :class:`~trafficsim.dram.device.DramStats` uses."""
    def total(prefix: str) -> int:
        return int(sum(v for k, v in stats.items() if re.fullmatch(prefix + r"\d+(_core)?", k)))
    d = {
        "dram_cycles": int(stats.get("dram_cycles", 0)),
        "read_row_hits": total("read_row_hits_channel_"),
        "read_row_misses": total("read_row_misses_channel_"),
        "read_row_conflicts": total("read_row_conflicts_channel_"),
        "write_row_hits": total("write_row_hits_channel_"),
        "write_row_misses": total("write_row_misses_channel_"),
        "write_row_conflicts": total("write_row_conflicts_channel_"),
        "read_bytes": total("read_transaction_bytes_"),
        "write_bytes": total("write_transaction_bytes_"),
        "requests": int(stats.get("incoming_requests", 0)),
    }
    d["row_hits"] = d["read_row_hits"] + d["write_row_hits"]
    d["row_misses"] = d["read_row_misses"] + d["write_row_misses"]
    d["row_conflicts"] = d["read_row_conflicts"] + d["write_row_conflicts"]
    return d


# --- traces ------------------------------------------------------------------------------------------
def trace_text(addr: np.ndarray, is_write: np.ndarray) -> str:
    """Ramulator's DRAM-trace format: ``0xADDR R|W`` per line, with a final newline (Ramulator
    drops a last line without one)."""
    a = np.asarray(addr, dtype=np.uint64)
    w = np.asarray(is_write, dtype=bool)
    return "".join(f"0x{int(x):x} {'W' if y else 'R'}\n" for x, y in zip(a.tolist(), w.tolist()))


# --- the backend -------------------------------------------------------------------------------------
def binary_path() -> Path:
    """The Ramulator binary named by ``$TRAFFICSIM_RAMULATOR`` (one-line error if unusable)."""
    v = os.environ.get(ENV_VAR, "").strip()
    if not v:
        raise InputError(f"--backend ramulator needs ${ENV_VAR}: the path of a Ramulator v1 binary you built "
                         "(github.com/CMU-SAFARI/ramulator, 'make')")
    p = Path(v).expanduser()
    if not p.is_file() or not os.access(p, os.X_OK):
        raise InputError(f"${ENV_VAR}={v}: not an executable file")
    return p


def cfg_text(standard: str, speed: str, org: str, channels: int, ranks: int) -> str:
    return (f"standard = {standard}\nchannels = {channels}\nranks = {ranks}\nspeed = {speed}\norg = {org}\n"
            "record_cmd_trace = off\nprint_cmd_trace = off\n")


def run_ramulator(cfg_file: str | os.PathLike, trace_file: str | os.PathLike, *, binary: Path | None = None,
                  timeout: float | None = None) -> tuple[dict[str, float], float]:
    """Run Ramulator in DRAM-trace mode; returns its statistics and the CPU seconds it used."""
    exe = binary or binary_path()
    with tempfile.TemporaryDirectory(prefix="trafficsim-ramulator-") as tmp:
        out = Path(tmp) / "stats.txt"
        t0 = os.times()
        try:
            proc = subprocess.run([str(exe), str(cfg_file), "--mode=dram", "--stats", str(out), str(trace_file)],
                                  cwd=tmp, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise EngineError(f"Ramulator could not run: {e}") from None
        t1 = os.times()
        cpu = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
        if proc.returncode != 0 or not out.exists():
            msg = (proc.stderr or proc.stdout or "").strip().splitlines()
            raise EngineError(f"Ramulator failed (exit {proc.returncode}): {msg[-1] if msg else 'no output'}")
        return parse_stats(out.read_text()), cpu


def ramulator_cfg_for(device) -> str:
    """A Ramulator config text equivalent to ``device`` (its standard must be a Ramulator speed bin)."""
    std = device.standard
    if "/" not in std.name:
        raise InputError(f"--backend ramulator needs a Ramulator speed bin or .cfg (e.g. DDR4-config.cfg); "
                         f"{std.name!r} is a trafficsim preset Ramulator v1 does not define")
    if device.mapping != "RoBaRaCoCh" or device.xor_bank or device.page_policy != "open":
        raise InputError("--backend ramulator runs Ramulator's defaults: mapping RoBaRaCoCh, open page, no XOR")
    speed, org = std.name.split("/")
    return cfg_text(std.family, speed, org, device.channels, device.ranks)


def simulate_with_ramulator(device, addr: np.ndarray, is_write: np.ndarray) -> dict:
    """Time the stream with the user's Ramulator binary: its summary plus ``cpu_seconds``."""
    exe = binary_path()
    with tempfile.TemporaryDirectory(prefix="trafficsim-ramulator-") as tmp:
        cfg = Path(tmp) / "memory.cfg"
        cfg.write_text(ramulator_cfg_for(device))
        tr = Path(tmp) / "requests.trace"
        tr.write_text(trace_text(addr, is_write))
        t0 = time.perf_counter()
        stats, cpu = run_ramulator(cfg, tr, binary=exe)
        d = summarize_stats(stats)
        d["cpu_seconds"] = cpu
        d["wall_seconds"] = time.perf_counter() - t0
        return d
