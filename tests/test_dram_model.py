"""The DRAM model's parts: standards registry, DramConfig, address mapping, trace reading, and
controller behaviour that can be worked out by hand from the timing rules (the agreement with
the real Ramulator is tests/test_dram_vs_ramulator.py)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trafficsim.dram import DramConfig, get_standard, simulate_requests, standard_names
from trafficsim.dram.mapping import (BA, BG, CH, CO, RA, RO, field_bits, map_addresses, parse_scheme,
                                     scheme_name)
from trafficsim.dram.standards import DramStandard, ramulator_names
from trafficsim.dram.trace import parse_trace
from trafficsim.errors import ConfigError, InputError

PRESETS = ["ddr4-2400", "ddr4-3200", "ddr5-4800", "lpddr4-3200", "lpddr5-6400", "hbm2", "hbm3", "gddr6"]


# --- standards ---------------------------------------------------------------------------------------
def test_required_presets_registered_with_sources():
    names = standard_names()
    for name in PRESETS:
        assert name in names
        std = get_standard(name)
        assert std.source and std.power.source
        t = std.timing
        assert t["nRC"] >= t["nRAS"] + t["nRP"]
        assert std.org.request_bytes in (32, 64)


def test_aliases_and_case():
    assert get_standard("DDR4-3200") is get_standard("ddr4-3200")
    assert get_standard("ddr4").name == "ddr4-2400"


def test_unknown_standard_suggests():
    with pytest.raises(InputError, match="did you mean 'ddr4-3200'"):
        get_standard("ddr4-320")


def test_jedec_ddr4_3200_differs_from_ramulator_where_ramulator_departs():
    jedec = get_standard("ddr4-3200").timing
    ram = get_standard("DDR4_3200", "DDR4_8Gb_x8").timing
    assert (jedec["nRAS"], jedec["nCCDL"]) == (52, 8)       # JESD79-4 3200AA: 32 ns, max(5 nCK, 5 ns)
    assert (ram["nRAS"], ram["nCCDL"]) == (56, 10)          # Ramulator v1's DDR4_3200 row


def test_ramulator_init_speed_tables():
    # DDR4.cpp init_speed: RRDS/RRDL/FAW by device width, RFC by density, REFI by rate
    t = get_standard("DDR4_2400R", "DDR4_4Gb_x8").timing
    assert (t["nRRDS"], t["nRRDL"], t["nFAW"], t["nRFC"], t["nREFI"]) == (4, 6, 26, 312, 9360)
    t = get_standard("DDR4_2400R", "DDR4_8Gb_x16").timing
    assert (t["nRRDS"], t["nRRDL"], t["nFAW"], t["nRFC"]) == (7, 8, 36, 420)
    t = get_standard("LPDDR4_2400", "LPDDR4_8Gb_x16").timing
    assert (t["nRFC"], t["nREFI"], t["nRPab"]) == (216, 4685, 24)
    assert get_standard("HBM_1Gbps", "HBM_4Gb").timing["nRFC"] == 130
    assert "DDR4_2400R" in ramulator_names()


def test_unknown_ramulator_org():
    with pytest.raises(InputError, match="DDR4_4Gb_x8"):
        get_standard("DDR4_2400R", "DDR4_3Gb_x8")


@pytest.mark.parametrize("over,needle", [({"nRC": 40}, "tRC"), ({"nRAS": 10}, "tRAS"), ({"nREFI": 100}, "tREFI"),
                                          ({"nCCDL": 2}, "tCCD_L")])
def test_impossible_timings(over, needle):
    with pytest.raises(ConfigError, match=needle):
        get_standard("ddr4-3200").with_timings(over)


def test_timing_override_unknown_name():
    with pytest.raises(ConfigError, match="no timing parameter"):
        get_standard("ddr4-3200").with_timings({"nFOO": 3})


def test_standard_validation_rejects_bad_org():
    base = get_standard("ddr4-3200")
    from dataclasses import replace
    with pytest.raises(ConfigError, match="power of two"):
        DramStandard(base.name + "-x", base.family, base.rate_mtps, base.tck_ns, replace(base.org, bank_groups=3),
                     base.timings, base.power, base.source)


# --- DramConfig ------------------------------------------------------------------------------------
def test_config_defaults_ideal_and_roundtrip():
    c = DramConfig()
    assert c.is_ideal and c.label() == "ideal-12.8GBs"
    d = DramConfig(standard="ddr4-3200", channels=2, xor_bank=True)
    assert DramConfig.from_dict(d.to_dict()) == d
    assert d.label() == "ddr4-3200x2"
    s = DramConfig.from_strings({"standard": "lpddr4-3200", "channels": "4", "xor_bank": "yes", "ranks": "none"})
    assert (s.standard, s.channels, s.xor_bank, s.ranks) == ("lpddr4-3200", 4, True, None)


@pytest.mark.parametrize("kw,needle", [
    (dict(standard="ddr9"), "unknown DRAM standard"),
    (dict(standard="ddr4-3200", channels=3), "power of two"),
    (dict(standard="ddr4-3200", channels=0), "positive"),
    (dict(standard="ddr4-3200", page_policy="sometimes"), "page policy"),
    (dict(standard="ddr4-3200", mapping="RoBaXx"), "mapping"),
    (dict(standard="ddr4-3200", timings="nRC=10"), "tRC"),
    (dict(standard="ddr4-3200", timings="nRC"), "name=cycles"),
    (dict(bandwidth_gbs=0.0), "bandwidth"),
    (dict(bandwidth_gbs=1e30), "bandwidth"),
    (dict(standard="ideal", org="DDR4_4Gb_x8"), "ideal"),
])
def test_config_errors_are_one_line(kw, needle):
    with pytest.raises((ConfigError, InputError), match=needle) as e:
        DramConfig(**kw)
    assert "\n" not in str(e.value)


def test_from_strings_rejects_unknown_and_bad_types():
    with pytest.raises(ConfigError, match="unknown DRAM key"):
        DramConfig.from_strings({"speed": "x"})
    with pytest.raises(ConfigError, match="integer"):
        DramConfig.from_strings({"standard": "ddr4-3200", "channels": "two"})


def test_resolve():
    dev = DramConfig(standard="hbm2").resolve()
    assert dev.channels == 8 and dev.request_bytes == 64
    assert abs(dev.peak_bandwidth_gbs - 8 * 32.0) < 1e-9
    with pytest.raises(ConfigError, match="ideal"):
        DramConfig().resolve()


# --- address mapping ---------------------------------------------------------------------------------
def _reference_map(a: int, scheme, bits, offset):
    a >>= offset
    out = [0] * 6
    for f in reversed(scheme):
        out[f] = a & ((1 << int(bits[f])) - 1)
        a >>= int(bits[f])
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=50),
       st.sampled_from(["RoBaRaCoCh", "ChRaBaRoCo", "RoCoBaBgRaCh", "RaRoBgBaCoCh"]))
def test_mapping_matches_bit_slicing(addrs, scheme_text):
    scheme = parse_scheme(scheme_text)
    bits = field_bits(4, 2, 4, 4, 1 << 15, 128)
    got = map_addresses(np.array(addrs, np.uint64), request_bytes=64, scheme=scheme, bits=bits)
    for a, row in zip(addrs, got):
        assert list(row) == _reference_map(a, scheme, bits, 6)


def test_named_schemes_are_ramulators():
    assert parse_scheme("RoBaRaCoCh") == (RO, BA, BG, RA, CO, CH)      # Memory.h: Ch, Co, Ra, Bg, Ba, Ro from LSB
    assert parse_scheme("ChRaBaRoCo") == (CH, RA, BG, BA, RO, CO)      # Memory.h: Co, Ro, Ba, Bg, Ra, Ch from LSB
    assert scheme_name(parse_scheme("RoBaBgRaCoCh")) == "RoBaRaCoCh"
    for bad in ("RoBaRaCo", "RoRoBaRaCoCh", "robaracoch", ""):
        with pytest.raises(ConfigError):
            parse_scheme(bad)


def test_xor_bank_spreads_row_strides():
    dev = DramConfig(standard="ddr4-3200").resolve()
    row_stride = dev.standard.org.row_bytes * dev.standard.org.banks_per_rank
    a = np.arange(16, dtype=np.uint64) * np.uint64(row_stride)   # same bank, 16 rows
    plain = dev.map(a)
    hashed = DramConfig(standard="ddr4-3200", xor_bank=True).resolve().map(a)
    assert len({(g, b) for g, b in plain[:, 2:4]}) == 1
    assert len({(g, b) for g, b in hashed[:, 2:4]}) == 16
    assert (plain[:, 4] == hashed[:, 4]).all()


# --- traces ---------------------------------------------------------------------------------------------
def test_trace_parsing_forms():
    tr = parse_trace(b"0x40 R\n0X80 W\r\nC0 R\n\n  100\tw\n".replace(b"w", b"W"))
    assert tr.addr.tolist() == [0x40, 0x80, 0xC0, 0x100]
    assert tr.is_write.tolist() == [False, True, False, True]
    assert not tr.unterminated_last_line
    tr = parse_trace(b"0x40 R\n0x80")
    assert tr.addr.tolist() == [0x40, 0x80] and tr.is_write.tolist() == [False, False]
    assert tr.unterminated_last_line


@pytest.mark.parametrize("text,line", [(b"0x40 R\nhello\n", 2), (b"0x40 X\n", 1), (b"0x40 R extra\n", 1),
                                       (b"0x11111111111111111 R\n", 1), (b"0x R\n", 1), (b"0x40R\n", 1)])
def test_trace_errors_name_the_line(text, line):
    with pytest.raises(InputError, match=rf"^t\.trace:{line}: expected"):
        parse_trace(text, "t.trace")


# --- controller behaviour worked out by hand ---------------------------------------------------------------
def _dev(**kw):
    return DramConfig(standard="DDR4_2400R", org="DDR4_4Gb_x8", **kw).resolve()


def test_single_read_latency():
    # arrives at cycle 0, ACT at 1, RD at 1 + tRCD (16), data back tCL + tBL (16 + 4) later: 37 cycles
    st_ = simulate_requests(_dev(), np.array([0x40], np.uint64), np.array([False]), completion=True)
    assert st_.dram_cycles == 37 and st_.completion.tolist() == [37]
    assert (st_.read_row_misses, st_.commands["ACT"], st_.commands["RD"]) == (1, 1, 1)


def test_same_row_second_read_waits_tccd_l():
    # the second request (cycle 1) hits the open row in the same bank group: RD at 17 + tCCD_L (6) = 23
    st_ = simulate_requests(_dev(), np.array([0x0, 0x40], np.uint64), np.zeros(2, bool), completion=True)
    assert st_.completion.tolist() == [37, 43] and st_.dram_cycles == 43
    assert (st_.read_row_hits, st_.read_row_misses) == (1, 1)


def test_row_conflict_costs_tras_trp():
    dev = _dev()
    o = dev.standard.org
    same_bank_next_row = o.row_bytes * o.banks_per_rank       # RoBaRaCoCh: the row bits sit above the banks
    st_ = simulate_requests(dev, np.array([0, same_bank_next_row], np.uint64), np.zeros(2, bool), completion=True)
    t = dev.standard.timing
    # ACT 1, RD 17, PRE at max(1 + tRAS, 17 + tRTP) = 40, ACT 40 + tRP = 56, RD 56 + tRCD = 72
    assert st_.completion.tolist() == [37, 72 + t["nCL"] + t["nBL"]]
    assert (st_.read_row_conflicts, st_.commands["PRE"]) == (1, 1)


def test_read_served_from_queued_write():
    # 40 writes fill the write queue; the read of the last one's address finds it still queued.
    # Ramulator (checked with the real binary): 1277 cycles, no read bytes, no row stats for the read.
    a = np.array([i * 0x10000 for i in range(40)] + [39 * 0x10000], np.uint64)
    w = np.array([True] * 40 + [False])
    st_ = simulate_requests(_dev(), a, w, completion=True)
    assert st_.reads_forwarded == 1 and st_.read_bytes == 0 and st_.write_bytes == 40 * 64
    assert st_.dram_cycles == 1277
    assert st_.read_row_hits + st_.read_row_misses + st_.read_row_conflicts == 0
    # a write already activated has left the write queue: its read goes to DRAM (Ramulator: 62 cycles)
    st_ = simulate_requests(_dev(), np.array([0x40, 0x40], np.uint64), np.array([True, False]))
    assert (st_.reads_forwarded, st_.read_row_hits, st_.dram_cycles) == (0, 1, 62)


def test_counts_and_bytes_add_up():
    rng = np.random.default_rng(3)
    n = 3000
    a = (rng.integers(0, 1 << 26, n) // 64 * 64).astype(np.uint64)
    w = rng.random(n) < 0.4
    s = simulate_requests(_dev(channels=2, ranks=2), a, w)
    served = s.row_hits + s.row_misses + s.row_conflicts
    assert served + s.reads_forwarded == n
    assert s.read_bytes + s.write_bytes == served * 64
    assert s.commands["RD"] + s.commands["RDA"] == s.read_bytes // 64
    # a request can be activated twice: another request or a refresh may close its row before its RD
    assert s.commands["ACT"] >= s.row_misses + s.row_conflicts
    assert s.energy_total_pj > 0 and all(v >= 0 for v in s.energy_pj.values())


def test_arrival_times_delay_issue():
    a = np.arange(4, dtype=np.uint64) * 64
    arrival = np.array([0, 1000, 2000, 3000])
    s = simulate_requests(_dev(), a, np.zeros(4, bool), arrival, completion=True)
    assert (s.completion >= arrival + 20).all()
    assert s.dram_cycles >= 3000


def test_refresh_costs_time_and_can_be_off():
    a = np.arange(60000, dtype=np.uint64) * 64
    w = np.zeros(len(a), bool)
    on = simulate_requests(_dev(), a, w)
    off = simulate_requests(_dev(refresh=False), a, w)
    assert on.commands["REF"] > 0 and off.commands["REF"] == 0
    assert on.dram_cycles > off.dram_cycles


def test_closed_page_policies_close_rows():
    a = np.arange(2000, dtype=np.uint64) * 64
    w = np.zeros(len(a), bool)
    opened = simulate_requests(_dev(), a, w)
    for policy in ("closed", "closed-ap", "timeout"):
        s = simulate_requests(_dev(page_policy=policy), a, w)
        assert s.row_conflicts == 0
        assert s.commands["ACT"] >= opened.commands["ACT"]


def test_bad_arrays():
    dev = _dev()
    with pytest.raises(InputError, match="entries"):
        simulate_requests(dev, np.zeros(3, np.uint64), np.zeros(2, bool))
    with pytest.raises(InputError, match="negative"):
        simulate_requests(dev, np.array([-64]), np.zeros(1, bool))


def test_empty_stream():
    s = simulate_requests(_dev(), np.zeros(0, np.uint64), np.zeros(0, bool))
    assert s.dram_cycles == 1 and s.row_hits == 0     # Ramulator ticks once before it sees the end


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_runs(name):
    dev = DramConfig(standard=name).resolve()
    rng = np.random.default_rng(0)
    n = 2000
    a = np.concatenate([np.arange(n // 2) * dev.request_bytes, rng.integers(0, 1 << 30, n // 2)]).astype(np.uint64)
    s = simulate_requests(dev, a, rng.random(n) < 0.3)
    assert s.dram_cycles > n / dev.channels * dev.standard.timing["nBL"] / 2
    assert 0 < s.achieved_bandwidth_gbs <= s.peak_bandwidth_gbs


def test_docs_standards_table_is_current():
    from pathlib import Path

    from trafficsim.dram.standards import standards_markdown
    doc = (Path(__file__).parents[1] / "docs" / "dram.md").read_text()
    table = doc.split("<!-- standards-table:begin -->\n")[1].split("\n<!-- standards-table:end -->")[0]
    assert table == standards_markdown(), "regenerate the table in docs/dram.md from standards_markdown()"


# --- the closed form for runs of row hits must change nothing -------------------------------------------
RUN_CASES = [(std, org, rk, kind, wf, seed)
             for std, org, rk in [("DDR4_2400R", "DDR4_4Gb_x8", 1), ("DDR4_2400R", "DDR4_4Gb_x8", 2),
                                  ("LPDDR4_2400", "LPDDR4_8Gb_x16", 1), ("HBM_1Gbps", "HBM_4Gb", 1),
                                  ("ddr5-4800", None, 1)]
             for kind, wf, seed in [("seq", 0.0, 0), ("seq", 0.05, 1), ("rows", 0.3, 2), ("rows", 0.7, 3),
                                    ("copy", 0.0, 4), ("seq", 1.0, 5), ("random", 0.5, 6)]]


@pytest.mark.parametrize("std,org,rk,kind,wf,seed", RUN_CASES)
def test_row_hit_runs_in_closed_form_change_nothing(std, org, rk, kind, wf, seed):
    from trafficsim.dram.patterns import splitmix64, stream
    dev = DramConfig(standard=std, org=org, ranks=rk, channels=1).resolve()
    a, w = stream(kind, 12000, seed=seed, write_fraction=wf, request_bytes=dev.request_bytes, run=100)
    arrival = None if seed % 2 else np.cumsum(splitmix64(seed, len(a)) % np.uint64(4)).astype(np.int64)
    fast = simulate_requests(dev, a, w, arrival, completion=True)
    slow = simulate_requests(dev, a, w, arrival, completion=True, runs=False)
    assert fast.to_dict() == slow.to_dict()
    assert (fast.completion == slow.completion).all()


def test_absurd_sizes_are_one_line_errors():
    dev = _dev()
    with pytest.raises(InputError, match="numbers"):
        simulate_requests(dev, [10**30], [False])
    with pytest.raises(InputError, match="2\\^63"):
        simulate_requests(dev, np.array([1e30]), [False])
    with pytest.raises(InputError, match="2\\^60"):
        simulate_requests(dev, [0], [False], [2**61])
    with pytest.raises(ConfigError, match="more than 1024"):
        DramConfig(standard="ddr4-3200", channels=2**40)
    with pytest.raises(ConfigError, match="positive integer"):
        DramConfig(standard="ddr4-3200", ranks=10.0)
