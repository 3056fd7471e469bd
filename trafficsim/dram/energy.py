"""DRAM energy from command counts and background state, in the style of DRAMPower's core model
(Chandrasekar et al., "Improved Power Modeling of DDR SDRAMs", DSD 2011) and Micron's TN-41-01
power calculator.

Per device and supply rail, with currents in mA, voltages in V and times in ns (so mA * V * ns = pJ):

* ``act``       each ACT:   (IDD0 - IDD3N) * tRAS * V
* ``pre``       each closed bank (PRE, PREA, RDA/WRA): (IDD0 - IDD2N) * tRP * V
* ``read``      each RD/RDA burst: (IDD4R - IDD3N) * tBL * V   (tBL = nBL * tCK, the data burst)
* ``write``     each WR/WRA burst: (IDD4W - IDD3N) * tBL * V
* ``refresh``   each REF:   (IDD5B - IDD3N) * tRFC * V
* ``active_standby``     IDD3N * V while a rank has a bank open
* ``precharge_standby``  IDD2N * V while all its banks are closed

times the devices of a rank (``channel_width / dq``), summed over ranks and rails. Not modelled:
I/O and termination energy (DRAMPower's optional interface model), power-down states (the
controller never enters them), and rails a standard's record does not list (e.g. DDR4's VPP).
"""
from __future__ import annotations

from .standards import DramStandard

COMPONENTS: tuple[str, ...] = ("act", "pre", "read", "write", "refresh", "active_standby", "precharge_standby")


def energy_pj(std: DramStandard, *, acts: int, closes: int, reads: int, writes: int, refreshes: int,
              active_cycles: int, precharged_cycles: int) -> dict[str, float]:
    """Energy in pJ by component (:data:`COMPONENTS`); cycle counts are summed over ranks."""
    t = std.timing
    tck = std.tck_ns
    dev = std.org.devices_per_rank
    out = dict.fromkeys(COMPONENTS, 0.0)
    for rail in std.power.rails:
        v = rail.volts * dev
        out["act"] += acts * (rail.idd0 - rail.idd3n) * t["nRAS"] * tck * v
        out["pre"] += closes * (rail.idd0 - rail.idd2n) * t["nRP"] * tck * v
        out["read"] += reads * (rail.idd4r - rail.idd3n) * t["nBL"] * tck * v
        out["write"] += writes * (rail.idd4w - rail.idd3n) * t["nBL"] * tck * v
        out["refresh"] += refreshes * (rail.idd5b - rail.idd3n) * t["nRFC"] * tck * v
        out["active_standby"] += active_cycles * tck * rail.idd3n * v
        out["precharge_standby"] += precharged_cycles * tck * rail.idd2n * v
    return out
