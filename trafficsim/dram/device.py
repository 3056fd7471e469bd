"""A resolved DRAM device (standard + channels + mapping + controller settings) and
:func:`simulate_requests`, which times a request stream on it.

>>> import numpy as np
>>> from trafficsim.dram import DramConfig, simulate_requests
>>> dev = DramConfig(standard="ddr4-3200").resolve()
>>> addr = np.arange(0, 64 * 1024, 64, dtype=np.uint64)          # 64 kB, sequential
>>> st = simulate_requests(dev, addr, np.zeros(len(addr), bool))
>>> st.read_bytes, st.row_hits > st.row_misses
(65536, True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError, InputError
from . import controller as K
from .energy import COMPONENTS, energy_pj
from .mapping import DEFAULT_SCHEME, field_bits, map_addresses, parse_scheme, scheme_name
from .rules import COMMANDS, evaluate
from .standards import DramStandard

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DramDevice:
    """Everything the timing model needs: standard (organisation, timings in memory cycles,
    currents), channel and rank counts, address mapping and controller settings."""

    standard: DramStandard
    channels: int = 1
    ranks: int = 1
    mapping: str = DEFAULT_SCHEME
    xor_bank: bool = False
    page_policy: str = "open"
    read_queue: int = 32
    write_queue: int = 32
    write_high_watermark: float = 0.8
    write_low_watermark: float = 0.2
    row_hit_cap: int = 16
    timeout_cycles: int = 50
    refresh: bool = True

    def __post_init__(self) -> None:
        for name in ("channels", "ranks", "read_queue", "write_queue", "row_hit_cap", "timeout_cycles"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"DRAM {name} must be a positive integer, got {v!r}")
        for name in ("channels", "ranks"):
            v = getattr(self, name)
            if v & (v - 1):
                raise ConfigError(f"DRAM {name} = {v} does not fit the address mapping: it must be a power of two "
                                  "(as in Ramulator)")
        if self.channels > 1024 or self.ranks > 16:
            raise ConfigError(f"DRAM channels ({self.channels}) must be <= 1024 and ranks ({self.ranks}) <= 16")
        if self.read_queue > 4096 or self.write_queue > 4096:
            raise ConfigError("DRAM read/write queues hold at most 4096 requests")
        if self.page_policy not in K.POLICIES:
            raise ConfigError(f"unknown page policy {self.page_policy!r}: choose {', '.join(K.POLICIES)}")
        if not (0.0 <= self.write_low_watermark <= self.write_high_watermark <= 1.0):
            raise ConfigError("write watermarks must satisfy 0 <= low <= high <= 1")
        parse_scheme(self.mapping)

    # -- derived ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.standard.name

    @property
    def request_bytes(self) -> int:
        return self.standard.org.request_bytes

    @property
    def tck_ns(self) -> float:
        return self.standard.tck_ns

    @property
    def peak_bandwidth_gbs(self) -> float:
        return self.standard.peak_bandwidth_gbs * self.channels

    @property
    def capacity_bytes(self) -> int:
        o = self.standard.org
        return self.channels * self.ranks * o.banks_per_rank * o.rows * o.row_bytes

    @cached_property
    def scheme(self) -> tuple[int, ...]:
        return parse_scheme(self.mapping)

    @cached_property
    def field_bits(self) -> np.ndarray:
        o = self.standard.org
        return field_bits(self.channels, self.ranks, o.bank_groups, o.banks_per_group, o.rows, o.bursts_per_row)

    @cached_property
    def address_bits(self) -> int:
        """Address bits the mapping uses (higher bits wrap around)."""
        from .mapping import log2_floor
        return int(self.field_bits.sum()) + log2_floor(self.request_bytes)

    @cached_property
    def read_latency(self) -> int:
        return evaluate(self.standard.family_rules.read_latency, self.standard.timing)

    @cached_property
    def write_latency(self) -> int:
        return evaluate(self.standard.family_rules.write_latency, self.standard.timing)

    @cached_property
    def cas_spacing(self) -> tuple[int, int]:
        """Cycles between back-to-back RDs (and WRs) to one open row: the largest RD->RD (WR->WR) rule on the
        path channel -> bank; 0 when a CAS rule has a window above 1 (then no run is taken in closed form)."""
        from .controller import CMD
        rule, meta = self.tables
        out = []
        for cas in ("RD", "WR"):
            c = CMD[cas]
            d = 0
            for lv in range(4):
                m = lv * len(CMD) + c
                if meta[m, 2] > 1:
                    d = -1
                    break
                for k in range(meta[m, 0], meta[m, 1]):
                    if rule[k, 0] == c and not rule[k, 3]:
                        d = max(d, int(rule[k, 2]))
            out.append(d if d >= 1 else 0)
        return out[0], out[1]

    @cached_property
    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        return K.compile_rules(self.standard.family_rules.rules, self.standard.timing, evaluate)

    def map(self, addr: np.ndarray) -> np.ndarray:
        """``(n, 6)`` array: channel, rank, bank group, bank, row, column of each byte address."""
        return map_addresses(addr, request_bytes=self.request_bytes, scheme=self.scheme, bits=self.field_bits,
                             xor_bank=self.xor_bank)

    def describe(self) -> str:
        ch = f"{self.channels} channel{'s' if self.channels > 1 else ''}"
        rk = f"{self.ranks} rank{'s' if self.ranks > 1 else ''}"
        return (f"{self.standard.name}, {ch}, {rk}, {scheme_name(self.scheme)}"
                f"{' + XOR banks' if self.xor_bank else ''}, {self.page_policy} page")


@dataclass(frozen=True)
class DramStats:
    """What :func:`simulate_requests` measured. Cycles are memory clocks (tCK); bytes are those the
    DRAM moved (requests served by their command, not reads served from a queued write)."""

    standard: str
    channels: int
    tck_ns: float
    dram_cycles: int
    reads: int
    writes: int
    read_row_hits: int
    read_row_misses: int
    read_row_conflicts: int
    write_row_hits: int
    write_row_misses: int
    write_row_conflicts: int
    reads_forwarded: int
    read_bytes: int
    write_bytes: int
    commands: dict[str, int]
    energy_pj: dict[str, float]
    peak_bandwidth_gbs: float
    addresses_wrapped: int = 0
    energy_estimated: bool = False
    completion: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    @property
    def row_hits(self) -> int:
        return self.read_row_hits + self.write_row_hits

    @property
    def row_misses(self) -> int:
        return self.read_row_misses + self.write_row_misses

    @property
    def row_conflicts(self) -> int:
        return self.read_row_conflicts + self.write_row_conflicts

    @property
    def row_hit_rate(self) -> float:
        n = self.row_hits + self.row_misses + self.row_conflicts
        return self.row_hits / n if n else 0.0

    @property
    def seconds(self) -> float:
        return self.dram_cycles * self.tck_ns * 1e-9

    @property
    def achieved_bandwidth_gbs(self) -> float:
        s = self.seconds
        return (self.read_bytes + self.write_bytes) / s / 1e9 if s > 0 else 0.0

    @property
    def energy_total_pj(self) -> float:
        return float(sum(self.energy_pj.values()))

    def to_dict(self) -> dict:
        """A flat, JSON-ready summary (no completion times)."""
        d = {
            "standard": self.standard, "channels": self.channels, "tck_ns": self.tck_ns,
            "dram_cycles": self.dram_cycles, "dram_seconds": self.seconds,
            "reads": self.reads, "writes": self.writes,
            "row_hits": self.row_hits, "row_misses": self.row_misses, "row_conflicts": self.row_conflicts,
            "read_row_hits": self.read_row_hits, "read_row_misses": self.read_row_misses,
            "read_row_conflicts": self.read_row_conflicts, "write_row_hits": self.write_row_hits,
            "write_row_misses": self.write_row_misses, "write_row_conflicts": self.write_row_conflicts,
            "row_hit_rate": self.row_hit_rate, "reads_forwarded": self.reads_forwarded,
            "read_bytes": self.read_bytes, "write_bytes": self.write_bytes,
            "achieved_bandwidth_gbs": self.achieved_bandwidth_gbs, "peak_bandwidth_gbs": self.peak_bandwidth_gbs,
            "energy_pj": self.energy_total_pj, "energy_estimated": self.energy_estimated,
            "addresses_wrapped": self.addresses_wrapped,
        }
        d.update({f"cmd_{k.lower()}": v for k, v in self.commands.items()})
        d.update({f"energy_{k}_pj": v for k, v in self.energy_pj.items()})
        return d


_CHUNK = 1 << 18   # requests between progress reports


def _as_array(x, dtype, n: int | None, what: str) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - anything numpy refuses is a user error here
        raise InputError(f"{what}: not an array ({e})") from None
    if a.ndim != 1:
        raise InputError(f"{what}: expected a 1-D array, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise InputError(f"{what}: {a.shape[0]} entries for {n} addresses")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.floor(a)):
            raise InputError(f"{what}: must hold whole numbers")
        if a.size and np.any(a >= 2.0**63):
            raise InputError(f"{what}: values of 2^63 or more")
    if a.dtype.kind in "iuf" and a.size and np.any(a < 0):
        raise InputError(f"{what}: negative values")
    if a.dtype.kind not in "iufb":
        raise InputError(f"{what}: expected numbers, got dtype {a.dtype}")
    return np.ascontiguousarray(a.astype(dtype, copy=False))


def simulate_requests(device: DramDevice, addr, is_write, arrival=None, *, completion: bool = False,
                      progress: Progress | None = None, runs: bool = True) -> DramStats:
    """Time a stream of burst requests on ``device``.

    ``addr``: byte addresses (one request each; the low ``log2(request_bytes)`` bits are ignored);
    ``is_write``: bool per request; ``arrival``: earliest memory cycle each may enter its queue
    (``None``: as fast as the queues accept them, Ramulator's trace mode). Requests enter in order,
    at most one per memory cycle. ``completion=True`` keeps each request's completion cycle (reads:
    data returned; writes: their data burst written). ``progress(done, total)`` is called between
    chunks of requests. ``runs=False`` turns off the closed form for runs of row hits (the numbers are
    the same; the tests compare both).
    """
    a = _as_array(addr, np.uint64, None, "addr")
    n = a.shape[0]
    w = _as_array(is_write, np.bool_, n, "is_write")
    arr = np.zeros(n, np.int64) if arrival is None else _as_array(arrival, np.int64, n, "arrival")
    if n and arr.max() >= 1 << 60:
        raise InputError(f"arrival: cycle {int(arr.max())} is beyond 2^60 memory cycles")
    std = device.standard
    o = std.org
    C, R, G, B = device.channels, device.ranks, o.bank_groups, o.banks_per_group

    f = device.map(a)
    wrapped = int(np.count_nonzero(a >> np.uint64(device.address_bits))) if device.address_bits < 64 else 0
    E = np.zeros((n, K.NE), np.int64)
    E[:, K.E_TYPE] = w
    E[:, K.E_CH] = f[:, 0]
    E[:, K.E_RIDX] = f[:, 0] * R + f[:, 1]
    E[:, K.E_BG] = f[:, 2]
    E[:, K.E_BIDX] = (E[:, K.E_RIDX] * G + f[:, 2]) * B + f[:, 3]
    E[:, K.E_ROW] = f[:, 4]
    E[:, K.E_ADDR] = a.view(np.int64)
    comp = np.full(max(n, 1), -1, np.int64)

    rule, meta = device.tables
    n_nodes = C + C * R + C * R * G + C * R * G * B
    nxt = np.full((n_nodes, K.NCMD), -1, np.int64)
    hist = np.full((n_nodes, K.NCMD, K.HIST_MAX), -1, np.int64)
    BANK = np.zeros((C * R * G * B, 3), np.int64)
    BANK[:, K.B_ROW] = -1
    RANK = np.zeros((C * R, 4), np.int64)
    CH = np.zeros((C, K.NH), np.int64)
    CH[:, K.H_TNEXT] = -1
    qmax = max(device.read_queue, device.write_queue) * 2 + G * B * R + 64
    Q = np.zeros((C, 4, qmax, K.NF), np.int64)
    stats = np.zeros((C, K.N_STATS), np.int64)
    sc = np.zeros(K.N_SCALARS, np.int64)
    # Ramulator: int(watermark * queue.max) with float watermarks
    sc[K.SC_HI] = int(np.float32(device.write_high_watermark) * np.float32(device.write_queue))
    sc[K.SC_LO] = int(np.float32(device.write_low_watermark) * np.float32(device.write_queue))
    P = np.zeros(K.NP, np.int64)
    P[K.P_C], P[K.P_R], P[K.P_G], P[K.P_B], P[K.P_NREQ] = C, R, G, B, n
    P[K.P_RL], P[K.P_WL] = device.read_latency, device.write_latency
    P[K.P_NREFI] = std.timing["nREFI"] if device.refresh else 0
    P[K.P_QR], P[K.P_QW], P[K.P_CAP] = device.read_queue, device.write_queue, device.row_hit_cap
    P[K.P_POLICY], P[K.P_TIMEOUT] = K.POLICIES[device.page_policy], device.timeout_cycles
    P[K.P_DRD], P[K.P_DWR] = device.cas_spacing
    P[K.P_RUNS] = 1 if runs else 0

    done_i = 0
    while not sc[K.SC_DONE]:
        stop = min(n, done_i + _CHUNK) if progress is not None else n + 1
        K.run_kernel(sc, stop, P, E, arr, comp, rule, meta, K.SCOPE, nxt, hist, BANK, RANK, CH, Q, stats)
        if sc[K.SC_ERR]:
            raise RuntimeError(f"DRAM controller state overflow (code {int(sc[K.SC_ERR])}); please report this")
        done_i = int(sc[K.SC_I])
        if progress is not None:
            progress(done_i, n)

    cycles = int(sc[K.SC_CYCLES])
    rank_open = RANK[:, K.R_OPEN]
    rank_active = RANK[:, K.R_ACTIVE] + np.where(rank_open > 0, cycles - RANK[:, K.R_SINCE], 0)
    tot = stats.sum(axis=0)
    cmds = {name: int(tot[K.ST_CMD0 + i]) for i, name in enumerate(COMMANDS)}
    reads_done = int(tot[K.ST_RD_DONE])
    writes_done = int(tot[K.ST_WR_DONE])
    acts = cmds["ACT"]
    closes = acts - int(rank_open.sum())
    active = int(rank_active.sum())
    e = energy_pj(std, acts=acts, closes=closes, reads=cmds["RD"] + cmds["RDA"], writes=cmds["WR"] + cmds["WRA"],
                  refreshes=cmds["REF"], active_cycles=active, precharged_cycles=cycles * C * R - active)
    nw = int(np.count_nonzero(w))
    return DramStats(
        standard=std.name, channels=C, tck_ns=std.tck_ns, dram_cycles=cycles,
        reads=n - nw, writes=nw,
        read_row_hits=int(tot[K.ST_RD_HIT]), read_row_misses=int(tot[K.ST_RD_MISS]),
        read_row_conflicts=int(tot[K.ST_RD_CONF]), write_row_hits=int(tot[K.ST_WR_HIT]),
        write_row_misses=int(tot[K.ST_WR_MISS]), write_row_conflicts=int(tot[K.ST_WR_CONF]),
        reads_forwarded=int(tot[K.ST_RD_FWD]),
        read_bytes=reads_done * device.request_bytes, write_bytes=writes_done * device.request_bytes,
        commands=cmds, energy_pj={k: float(e[k]) for k in COMPONENTS},
        peak_bandwidth_gbs=device.peak_bandwidth_gbs, addresses_wrapped=wrapped,
        energy_estimated=std.power.estimated, completion=comp[:n].copy() if completion else None)
