"""Timing rules of each DRAM family: which command waits for which, at which level, for how long.

A rule says "after ``preceding`` is issued to a node at ``level``, ``following`` must wait
``latency`` memory cycles at that node" (``window`` > 1: counted from the ``window``-th most recent
``preceding``, as tFAW counts four ACTs; ``sibling``: applies to the *other* nodes of that level,
as rank-to-rank switching does). This is the constraint model of Ramulator v1 (``DRAM.h``) and
Ramulator 2.0 (``dram/spec.py``), so a family's rules can be read next to theirs line by line.

Latencies are expressions over the standard's timing parameters (in cycles of tCK), e.g.
``"nCL + nBL + 2 - nCWL"``. Only the commands our controller issues appear (ACT, PRE, PREA, RD,
WR, RDA, WRA, REF); power-down, self-refresh, per-bank refresh and RFM rules are not listed
because nothing issues those commands.

Sources: DDR4, LPDDR4 and HBM are Ramulator v1's ``DDR4.cpp``, ``LPDDR4.cpp`` and ``HBM.cpp``
(``init_timing``) rule for rule, so that our controller can agree with Ramulator v1 exactly;
DDR5, LPDDR5, HBM3 and GDDR6 follow Ramulator 2.0's ``python/ramulator/dram/*.py`` with the
simplifications named in docs/dram.md (one-cycle commands, no ACT-1/ACT-2 split, no WCK sync).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Mapping

# Commands, in the order the compiled controller numbers them.
COMMANDS: tuple[str, ...] = ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REF")
CMD: dict[str, int] = {c: i for i, c in enumerate(COMMANDS)}
# Levels of the organisation tree the rules attach to (rows and columns have no timing state).
LEVELS: tuple[str, ...] = ("channel", "rank", "bankgroup", "bank")
LEVEL: dict[str, int] = {name: i for i, name in enumerate(LEVELS)}

_RD = ("RD", "RDA")
_WR = ("WR", "WRA")
_CAS = _RD + _WR


@dataclass(frozen=True)
class Rule:
    """``following`` waits ``latency`` cycles after ``preceding`` at one node of ``level``."""

    level: str
    preceding: tuple[str, ...]
    following: tuple[str, ...]
    latency: str
    window: int = 1
    sibling: bool = False


def _r(level: str, preceding, following, latency: str, window: int = 1, sibling: bool = False) -> Rule:
    as_tuple = (lambda x: (x,) if isinstance(x, str) else tuple(x))
    return Rule(level, as_tuple(preceding), as_tuple(following), latency, window, sibling)


@dataclass(frozen=True)
class Family:
    """A DRAM family: its timing rules, read latency and which timing parameters it needs."""

    name: str
    rules: tuple[Rule, ...]
    read_latency: str            # cycles from RD to the data's return (Ramulator: pending queue)
    write_latency: str           # cycles from WR to the end of its data burst
    source: str

    def parameters(self) -> frozenset[str]:
        """Every timing-parameter name the family's expressions use."""
        names: set[str] = set()
        for text in [r.latency for r in self.rules] + [self.read_latency, self.write_latency]:
            names |= _names(text)
        return frozenset(names)


# --- Ramulator v1 rule sets (src/DDR4.cpp, src/LPDDR4.cpp, src/HBM.cpp, init_timing) -----------------
_DDR4 = (
    # channel: data bus
    _r("channel", _RD, _RD, "nBL"), _r("channel", _WR, _WR, "nBL"),
    # rank: CAS to CAS, bus turnaround
    _r("rank", _RD, _RD, "nCCDS"), _r("rank", _WR, _WR, "nCCDS"),
    _r("rank", _RD, _WR, "nCL + nBL + 2 - nCWL"),
    _r("rank", _WR, _RD, "nCWL + nBL + nWTRS"),
    # rank: between sibling ranks (tRTRS)
    _r("rank", _RD, _RD, "nBL + nRTRS", sibling=True),
    _r("rank", _RD, _WR, "nBL + nRTRS", sibling=True),
    _r("rank", _RD, _WR, "nCL + nBL + nRTRS - nCWL", sibling=True),
    _r("rank", _WR, _RD, "nCWL + nBL + nRTRS - nCL", sibling=True),
    _r("rank", "RD", "PREA", "nRTP"),
    _r("rank", "WR", "PREA", "nCWL + nBL + nWR"),
    # rank: RAS to RAS
    _r("rank", "ACT", "ACT", "nRRDS"),
    _r("rank", "ACT", "ACT", "nFAW", window=4),
    _r("rank", "ACT", "PREA", "nRAS"),
    _r("rank", "PREA", "ACT", "nRP"),
    # rank: refresh
    _r("rank", "ACT", "REF", "nRC"),
    _r("rank", "PRE", "REF", "nRP"),
    _r("rank", "PREA", "REF", "nRP"),
    _r("rank", "RDA", "REF", "nRTP + nRP"),
    _r("rank", "WRA", "REF", "nCWL + nBL + nWR + nRP"),
    _r("rank", "REF", "ACT", "nRFC"),
    _r("rank", "REF", "REF", "nRFC"),
    # bank group
    _r("bankgroup", _RD, _RD, "nCCDL"), _r("bankgroup", _WR, _WR, "nCCDL"),
    _r("bankgroup", _WR, _RD, "nCWL + nBL + nWTRL"),
    _r("bankgroup", "ACT", "ACT", "nRRDL"),
    # bank
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
)

_LPDDR4 = (
    _r("channel", _RD, _RD, "nBL"), _r("channel", _WR, _WR, "nBL"),
    _r("rank", _RD, _RD, "nCCD"), _r("rank", _WR, _WR, "nCCD"),
    _r("rank", _RD, _WR, "nCL + nBL + nDQSCK + 1 - nCWL"),
    _r("rank", _WR, _RD, "nCWL + nBL + nWTR + 1"),
    _r("rank", _RD, _RD, "nBL + nRTRS", sibling=True),
    _r("rank", _RD, _WR, "nBL + nRTRS", sibling=True),
    _r("rank", _RD, _WR, "nCL + nBL + nDQSCK + 1 + nRTRS - nCWL", sibling=True),
    _r("rank", _WR, _RD, "nCWL + nBL + nRTRS - nCL", sibling=True),
    _r("rank", "RD", "PREA", "nRTP"),
    _r("rank", "WR", "PREA", "nCWL + nBL + nWR"),
    _r("rank", "ACT", "ACT", "nRRD"),
    _r("rank", "ACT", "ACT", "nFAW", window=4),
    _r("rank", "ACT", "PREA", "nRAS"),
    _r("rank", "PREA", "ACT", "nRPab"),
    _r("rank", "PRE", "PRE", "nPPD"),
    _r("rank", "PRE", "REF", "nRP"),
    _r("rank", "PREA", "REF", "nRPab"),
    _r("rank", "REF", "ACT", "nRFC"),
    _r("rank", "REF", "REF", "nRFC"),
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
)

_HBM = (
    _r("channel", _RD, _RD, "nBL"), _r("channel", _WR, _WR, "nBL"),
    _r("rank", _RD, _RD, "nCCDS"), _r("rank", _WR, _WR, "nCCDS"),
    _r("rank", _RD, _WR, "nCL + nCCDS + 2 - nCWL"),
    _r("rank", _WR, _RD, "nCWL + nBL + nWTRS"),
    _r("rank", "RD", "PREA", "nRTP"),
    _r("rank", "WR", "PREA", "nCWL + nBL + nWR"),
    _r("rank", "ACT", "ACT", "nRRDS"),
    _r("rank", "ACT", "ACT", "nFAW", window=4),
    _r("rank", "ACT", "PREA", "nRAS"),
    _r("rank", "PREA", "ACT", "nRP"),
    _r("rank", "PRE", "REF", "nRP"),
    _r("rank", "PREA", "REF", "nRP"),
    _r("rank", "REF", "ACT", "nRFC"),
    _r("rank", "REF", "REF", "nRFC"),
    _r("bankgroup", _RD, _RD, "nCCDL"), _r("bankgroup", _WR, _WR, "nCCDL"),
    _r("bankgroup", _WR, _RD, "nCWL + nBL + nWTRL"),
    _r("bankgroup", "ACT", "ACT", "nRRDL"),
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
)

# --- Ramulator 2.0 rule sets (python/ramulator/dram/ddr5.py, lpddr5.py, hbm3.py, gddr6.py) ----------
_DDR5 = (
    _r("channel", _RD, _RD, "nBL"), _r("channel", _WR, _WR, "nBL"),
    _r("rank", _RD, _RD, "nCCDS"), _r("rank", _WR, _WR, "nCCDS_WR"),
    _r("rank", _RD, _WR, "nCL + nBL + 2 - nCWL + 2"),
    _r("rank", _WR, _RD, "nCWL + nBL + nWTRS"),
    _r("rank", _RD, _CAS, "nBL + nRTRS", sibling=True),
    _r("rank", _WR, _RD, "nCWL + nBL + nRTRS - nCL", sibling=True),
    _r("rank", "RD", "PREA", "nRTP"),
    _r("rank", "WR", "PREA", "nCWL + nBL + nWR"),
    _r("rank", "ACT", "ACT", "nRRDS"),
    _r("rank", "ACT", "ACT", "nFAW", window=4),
    _r("rank", "ACT", "PREA", "nRAS"),
    _r("rank", "PREA", "ACT", "nRP"),
    _r("rank", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    _r("rank", "ACT", "REF", "nRC"),
    _r("rank", ("PRE", "PREA"), "REF", "nRP"),
    _r("rank", "RDA", "REF", "nRP + nRTP"),
    _r("rank", "WRA", "REF", "nCWL + nBL + nWR + nRP"),
    _r("rank", "REF", ("ACT", "PREA"), "nRFC"),
    _r("bankgroup", _RD, _RD, "nCCDL"), _r("bankgroup", _WR, _WR, "nCCDL_WR"),
    _r("bankgroup", _WR, _RD, "nCWL + nBL + nWTRL"),
    _r("bankgroup", "ACT", "ACT", "nRRDL"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
)

_LPDDR5 = (
    _r("channel", _RD, _RD, "nBL"), _r("channel", _WR, _WR, "nBL"),
    _r("rank", _RD, _RD, "nCCDS"), _r("rank", _WR, _WR, "nCCDS_WR"),
    _r("rank", _RD, _WR, "nCL + nBL + 2 - nCWL"),
    _r("rank", _WR, _RD, "nCWL + nBL + nWTRS"),
    _r("rank", _RD, _CAS, "nBL + nRTRS", sibling=True),
    _r("rank", _WR, _RD, "nCL + nBL + nRTRS - nCWL", sibling=True),
    _r("rank", "RD", "PREA", "nRTP"),
    _r("rank", "WR", "PREA", "nCWL + nBL + nWR"),
    _r("rank", "ACT", "ACT", "nRRDS"),
    _r("rank", "ACT", "ACT", "nFAW", window=4),
    _r("rank", "ACT", "PREA", "nRAS"),
    _r("rank", "PREA", "ACT", "nRPab"),
    _r("rank", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    _r("rank", "ACT", "REF", "nRC"),
    _r("rank", ("PRE", "PREA"), "REF", "nRP"),
    _r("rank", "RDA", "REF", "nRP + nRTP"),
    _r("rank", "WRA", "REF", "nCWL + nBL + nWR + nRP"),
    _r("rank", "REF", ("ACT", "PREA", "REF"), "nRFC"),
    _r("bankgroup", _RD, _RD, "nCCDL"), _r("bankgroup", _WR, _WR, "nCCDL_WR"),
    _r("bankgroup", _WR, _RD, "nCWL + nBL_max + nWTRL"),
    _r("bankgroup", "ACT", "ACT", "nRRDL"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
)

# HBM3: a pseudo channel is a "rank" here (its own data bus and refresh, the channel's command
# queue); Ramulator 2.0's stack-ID level is folded into the bank groups (docs/dram.md).
_HBM3 = (
    _r("rank", _RD, _RD, "nBL"), _r("rank", _WR, _WR, "nBL"),
    _r("rank", _RD, _WR, "nRTW"),
    _r("rank", _WR, _RD, "nCWL + nBL + nWTRS"),
    _r("rank", _RD, _RD, "nCCDS"), _r("rank", _WR, _WR, "nCCDS"),
    _r("rank", "RD", "PREA", "nRTP"),
    _r("rank", "WR", "PREA", "nCWL + nBL + nWR"),
    _r("rank", "ACT", "ACT", "nRRDS"),
    _r("rank", "ACT", "ACT", "nFAW", window=4),
    _r("rank", "ACT", "PREA", "nRAS"),
    _r("rank", "PREA", "ACT", "nRP"),
    _r("rank", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    _r("rank", "ACT", "REF", "nRC"),
    _r("rank", ("PRE", "PREA"), "REF", "nRP"),
    _r("rank", "RDA", "REF", "nRP + nRTP"),
    _r("rank", "WRA", "REF", "nCWL + nBL + nWR + nRP"),
    _r("rank", "REF", ("ACT", "PREA"), "nRFC"),
    _r("bankgroup", _RD, _RD, "nCCDL"), _r("bankgroup", _WR, _WR, "nCCDL"),
    _r("bankgroup", _WR, _RD, "nCWL + nBL + nWTRL"),
    _r("bankgroup", "ACT", "ACT", "nRRDL"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
)

# GDDR6: no rank level in the standard; its channel-level rules sit at our channel level.
_GDDR6 = (
    _r("channel", _RD, _RD, "nBL"), _r("channel", _WR, _WR, "nBL"),
    _r("channel", _RD, _RD, "nCCDS"), _r("channel", _WR, _WR, "nCCDS"),
    _r("channel", _RD, _WR, "nCL + 1"),
    _r("channel", _WR, _RD, "nCWL + nBL + nWTRS"),
    _r("channel", "RD", "PREA", "nRTP"),
    _r("channel", "WR", "PREA", "nCWL + nBL + nWR"),
    _r("channel", "ACT", "ACT", "nRRDS"),
    _r("channel", "ACT", "ACT", "nFAW", window=4),
    _r("channel", "ACT", "PREA", "nRAS"),
    _r("channel", "PREA", "ACT", "nRP"),
    _r("channel", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    _r("channel", "ACT", "REF", "nRC"),
    _r("channel", "PREA", "REF", "nRP"),
    _r("channel", "RDA", "REF", "nRP + nRTP"),
    _r("channel", "WRA", "REF", "nCWL + nBL + nWR + nRP"),
    _r("channel", "REF", ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REF"), "nRFC"),
    _r("bankgroup", _RD, _RD, "nCCDL"), _r("bankgroup", _WR, _WR, "nCCDL"),
    _r("bankgroup", _WR, _RD, "nCWL + nBL + nWTRL"),
    _r("bankgroup", "ACT", "ACT", "nRRDL"),
    _r("bank", "ACT", "ACT", "nRC"),
    _r("bank", "ACT", _RD, "nRCD"), _r("bank", "ACT", _WR, "nRCDW"),
    _r("bank", "ACT", "PRE", "nRAS"),
    _r("bank", "PRE", "ACT", "nRP"),
    _r("bank", "RD", "PRE", "nRTP"),
    _r("bank", "WR", "PRE", "nCWL + nBL + nWR"),
    _r("bank", "RDA", "ACT", "nRTP + nRP"),
    _r("bank", "WRA", "ACT", "nCWL + nBL + nWR + nRP"),
)

_V1 = "Ramulator v1 (CMU-SAFARI/ramulator) src/{}.cpp init_timing"
_V2 = "Ramulator 2.0 (CMU-SAFARI/ramulator2) python/ramulator/dram/{}.py timing_constraints"

FAMILIES: dict[str, Family] = {
    "DDR4": Family("DDR4", _DDR4, "nCL + nBL", "nCWL + nBL", _V1.format("DDR4")),
    "LPDDR4": Family("LPDDR4", _LPDDR4, "nCL + nDQSCK + nBL", "nCWL + nBL", _V1.format("LPDDR4")),
    "HBM": Family("HBM", _HBM, "nCL + nBL", "nCWL + nBL", _V1.format("HBM")),
    "DDR5": Family("DDR5", _DDR5, "nCL + nBL", "nCWL + nBL", _V2.format("ddr5")),
    "LPDDR5": Family("LPDDR5", _LPDDR5, "nCL + nBL", "nCWL + nBL", _V2.format("lpddr5")),
    "HBM3": Family("HBM3", _HBM3, "nCL + nBL", "nCWL + nBL", _V2.format("hbm3")),
    "GDDR6": Family("GDDR6", _GDDR6, "nCL + nBL", "nCWL + nBL", _V2.format("gddr6")),
}


# --- latency expressions ----------------------------------------------------------------------------
def _names(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}


def evaluate(text: str, timings: Mapping[str, int]) -> int:
    """The value of a latency expression (integers, names, ``+``, ``-``, ``*``) for ``timings``."""
    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return int(timings[node.id])
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported latency expression {text!r}")
    return ev(ast.parse(text, mode="eval"))
