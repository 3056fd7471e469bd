"""``--fix``: SCALE-Sim 3.0.0 with its known bugs fixed (trafficsim.engines.compat_fixes).

Each fix is checked against a value computed independently of the engine: the formula of its
upstream report on small layers, or the real SCALE-Sim with the upstream fix patched into its
source (slow tests). Each fix changes only the fields its record names, and without fixes the
engine's numbers are SCALE-Sim's, bit for bit (the same result object as with no options).
"""
from __future__ import annotations

import inspect
import json
import math
import textwrap
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from trafficsim.engines import compat, engine_info, run_id_tags, simulate
from trafficsim.engines.compat_fixes import FIX_NAMES, FIXES, CompatOptions, parse_fixes, valid_ofmap_writes
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.results import result_fields
from trafficsim.topology import read_csv

CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
GEMM_HEADER = "Layer Name, M, N, K,\n"
# small layers: folds on both axes, stride with the ceil extra row, a 1x1, a DP layer, an FC
LAYERS = "c1,10,10,3,3,3,10,1,\nc2,11,11,3,3,5,12,2,\npw,6,6,1,1,9,20,1,\ndwDP,7,7,3,3,2,1,1,\nfc,1,1,1,1,40,7,1,\n"


def topo(tmp_path: Path, rows: str = LAYERS, gemm: bool = False):
    p = tmp_path / "t.csv"
    p.write_text((GEMM_HEADER if gemm else CONV_HEADER) + rows)
    return read_csv(p)


def hw_of(dataflow: str, ra: int = 4, ca: int = 8, kb: int = 1, **kw) -> Hardware:
    return Hardware(dataflow=dataflow, array_rows=ra, array_cols=ca, ifmap_sram_kb=kb, filter_sram_kb=kb,
                    ofmap_sram_kb=kb, **kw)


def geometry(row, hw):
    """(F_r, F_c, Sr, Sc, T) from docs/scalesim-3.0.0.md §5.2, computed here."""
    e = math.ceil((row.ifmap_h - row.filter_h + row.stride) / row.stride) * \
        math.ceil((row.ifmap_w - row.filter_w + row.stride) / row.stride)
    rsc = row.filter_h * row.filter_w * row.channels
    sr, sc, t = {"os": (e, row.num_filters, rsc), "ws": (rsc, row.num_filters, e),
                 "is": (rsc, e, row.num_filters)}[hw.dataflow]
    return math.ceil(sr / hw.array_rows), math.ceil(sc / hw.array_cols), sr, sc, t


def changed_fields(a, b) -> set[str]:
    out = set()
    for la, lb in zip(a.layers, b.layers, strict=True):
        out |= {f for f in result_fields() if getattr(la, f) != getattr(lb, f)}
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(dataflow) -> (topology rows, hardware, base run, {fix: run with that fix}, run with all)."""
    t = topo(tmp_path_factory.mktemp("fixes"))
    out = {}
    for df in ("os", "ws", "is"):
        hw = hw_of(df)
        base = compat.simulate(t, hw, threads=1)
        single = {name: compat.simulate(t, hw, options=CompatOptions(fixes=(name,)), threads=1) for name in FIX_NAMES}
        out[df] = (compat.layer_rows(t), hw, base, single,
                   compat.simulate(t, hw, options=CompatOptions(fixes="all"), threads=1))
    return out


# ------------------------------------------------------------------------------------------------
# options and names
# ------------------------------------------------------------------------------------------------
def test_parse_fixes_names_order_and_all():
    assert parse_fixes("all") == FIX_NAMES
    assert parse_fixes(" Trace-Padding , os-cycles") == ("os-cycles", "trace-padding")
    assert parse_fixes(["total-cycles", "total-cycles"]) == ("total-cycles",)
    assert parse_fixes(None) == () == parse_fixes("") and CompatOptions().fixes == ""
    assert CompatOptions(fixes="all,os-cycles").fix_names == FIX_NAMES
    assert CompatOptions(fixes=["trace-padding", "os-cycles"]).fixes == "os-cycles,trace-padding"
    for bad in ("bogus", "os-cycles,", ",", "os_cycles"):
        with pytest.raises(InputError, match="fix"):
            parse_fixes(bad)
    with pytest.raises(InputError):
        CompatOptions(fixes=(3,))


def test_every_fix_documented_with_its_upstream_report():
    doc = (Path(__file__).parents[1] / "docs" / "compat.md").read_text()
    section = doc.split("## Fixes", 1)[1]
    for fix in FIXES.values():
        assert f"`{fix.name}`" in section and fix.upstream.split(" ")[0].removeprefix("docs/") in section, fix.name


def test_registry_and_engine_checks(tmp_path):
    assert engine_info("compat").options_type == "trafficsim.engines.compat_fixes:CompatOptions"
    t = topo(tmp_path, "fc,1,1,1,1,8,4,1,\n")
    with pytest.raises(InputError, match="takes no options"):
        simulate(t, hw_of("os"), engine="scalesim", options=CompatOptions(fixes="all"))
    from trafficsim.engines.capacity import CapacityOptions
    with pytest.raises(InputError, match="CompatOptions"):
        simulate(t, hw_of("os"), engine="capacity", options=CompatOptions(fixes="all"))
    with pytest.raises(InputError, match="CompatOptions"):
        simulate(t, hw_of("os"), engine="compat", options=CapacityOptions())


# ------------------------------------------------------------------------------------------------
# without fixes: SCALE-Sim's numbers, unmarked
# ------------------------------------------------------------------------------------------------
def test_no_fixes_is_bit_exact_and_unmarked(tmp_path):
    t = topo(tmp_path)
    for df in ("os", "ws", "is"):
        hw = hw_of(df)
        plain = compat.simulate(t, hw, threads=1)
        empty = compat.simulate(t, hw, options=CompatOptions(), threads=1)
        assert plain == empty
        assert "fixes" not in plain.meta and run_id_tags(plain) == []


# ------------------------------------------------------------------------------------------------
# each fix: the corrected value, computed independently, and nothing else changed
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("name", FIX_NAMES)
def test_each_fix_changes_only_its_fields(runs, df, name):
    rows, hw, base, single, _ = runs[df]
    assert changed_fields(base, single[name]) <= set(FIXES[name].fields)
    assert single[name].meta["fixes"] == [name]
    assert run_id_tags(single[name]) == [f"fix-{name}"]


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_all_fixes_change_only_their_fields(runs, df):
    rows, hw, base, single, fixed = runs[df]
    allowed = set().union(*(FIXES[n].fields for n in FIX_NAMES))
    assert changed_fields(base, fixed) <= allowed
    assert fixed.meta["fixes"] == list(FIX_NAMES) and run_id_tags(fixed) == ["fix-all"]
    # each field is changed by the fixes that name it, the same way together as alone (CALC: no user-stall)
    for lb, lf, row in zip(base.layers, fixed.layers, rows):
        assert lf.sram_ofmap_writes == single["ofmap-writes"].layers[row_index(rows, row)].sram_ofmap_writes
        assert lf.dram_ofmap_writes == valid_ofmap_writes(row, hw)


def row_index(rows, row) -> int:
    return rows.index(row)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_os_cycles_is_2r_plus_c_plus_t_minus_2_per_fold(runs, df):
    """scale-sim-v3#4: an OS fold takes 2R + C + T - 2 cycles; SCALE-Sim's Total Cycles is the last
    cycle's index (one short, SCALE-Sim#125, not fixed here), and CALC runs have no stalls."""
    rows, hw, base, single, _ = runs[df]
    ra, ca = hw.array_rows, hw.array_cols
    for row, lb, lf in zip(rows, base.layers, single["os-cycles"].layers):
        fr, fc, sr, sc, t = geometry(row, hw)
        if df != "os":
            assert lf == lb
            continue
        assert lb.total_cycles == fr * fc * (t + ra + ca - 2) - 1      # SCALE-Sim: R + C + T - 2
        assert lf.total_cycles == fr * fc * (2 * ra + ca + t - 2) - 1
        assert lf.total_cycles_incl_prefetch - lb.total_cycles_incl_prefetch == fr * fc * ra
        folds = [(min(ra, sr - i * ra), min(ca, sc - j * ca)) for j in range(fc) for i in range(fr)]
        util = sum(ru * cu * t / (ra * ca * (2 * ra + ca + t - 2)) for ru, cu in folds) / len(folds)
        assert lf.compute_util_pct == pytest.approx(100 * util, rel=1e-12)
        macs = row.macs
        assert lf.overall_util_pct == pytest.approx(100 * macs / (lf.total_cycles * ra * ca), rel=1e-12)
        assert lf.avg_ifmap_sram_bw == pytest.approx(lb.sram_ifmap_reads / lf.total_cycles, rel=1e-12)
        assert lf.avg_ofmap_sram_bw == pytest.approx(lb.sram_ofmap_writes / lf.total_cycles, rel=1e-12)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_total_cycles_counts_every_demand_row(runs, df):
    """SCALE-Sim#125: the layer takes N_rows cycles (rows numbered 0..N_rows-1), not N_rows - 1."""
    rows, hw, base, single, _ = runs[df]
    ra, ca = hw.array_rows, hw.array_cols
    for row, lb, lf in zip(rows, base.layers, single["total-cycles"].layers):
        fr, fc, sr, sc, t = geometry(row, hw)
        n_rows = fr * fc * (t + ra + ca - 2 if df == "os" else t + 2 * ra + ca - 2)
        assert (lb.total_cycles, lf.total_cycles) == (n_rows - 1, n_rows)
        assert lf.total_cycles_incl_prefetch == lb.total_cycles_incl_prefetch + 1
        assert lf.avg_filter_sram_bw == pytest.approx(lb.sram_filter_reads / n_rows, rel=1e-12)


@pytest.mark.parametrize("n", [4, 8, 16])
def test_rtl_validation_gemm(tmp_path, n):
    """SCALE-Sim's RTL validation GEMM (N x N x N on an N x N OS array, SCALE-Sim#125): SCALE-Sim
    reports 3N - 3 (9 for N = 4), total-cycles gives 3N - 2 (the RTL's 10 for N = 4, as #125 reads
    ISPASS'20 Fig. 4), and with os-cycles 2R + C + T - 2 = 4N - 2 (scale-sim-v3#4)."""
    t = topo(tmp_path, f"Conv5,1,{n},1,1,{n},{n},1,\n")
    hw = hw_of("os", n, n, 64)
    cycles = {fixes: compat.simulate(t, hw, options=CompatOptions(fixes=fixes) if fixes else None,
                                     threads=1).layers[0].total_cycles
              for fixes in ("", "total-cycles", "os-cycles", "os-cycles,total-cycles")}
    assert cycles == {"": 3 * n - 3, "total-cycles": 3 * n - 2, "os-cycles": 4 * n - 3,
                      "os-cycles,total-cycles": 4 * n - 2}


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_ofmap_writes_without_the_per_fold_extra(runs, df):
    """SCALE-Sim#166: OS OFMAP SRAM writes are E*K; SCALE-Sim adds Ra + Ca per fold."""
    rows, hw, base, single, _ = runs[df]
    ra, ca = hw.array_rows, hw.array_cols
    for row, lb, lf in zip(rows, base.layers, single["ofmap-writes"].layers):
        fr, fc, sr, sc, t = geometry(row, hw)
        if df != "os":
            assert lf == lb
            continue
        assert lb.sram_ofmap_writes == sr * sc + fr * fc * (ra + ca)
        assert lf.sram_ofmap_writes == sr * sc
        assert lf.avg_ofmap_sram_bw == pytest.approx(sr * sc / lb.total_cycles, rel=1e-12)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_trace_padding_counts_written_words(runs, df):
    """DRAM OFMAP writes = the OFMAP words written (E*K in OS, F_r*E*K partial sums in WS/IS),
    without the -1 pads of force-flushed partial lines that SCALE-Sim counts."""
    rows, hw, base, single, _ = runs[df]
    padded = 0
    for row, lb, lf in zip(rows, base.layers, single["trace-padding"].layers):
        fr, fc, sr, sc, t = geometry(row, hw)
        words = sr * sc if df == "os" else fr * (sc * t if df == "ws" else t * sc)
        assert lf.dram_ofmap_writes == words <= lb.dram_ofmap_writes
        assert lf.avg_ofmap_dram_bw == pytest.approx(
            words / (lb.dram_ofmap_stop_cycle - lb.dram_ofmap_start_cycle + 1), rel=1e-12)
        padded += lb.dram_ofmap_writes - words
    assert padded > 0  # these layers do flush partial lines: the fix is exercised


def test_user_stall_does_nothing_in_calc_mode(runs):
    for df in ("os", "ws", "is"):
        rows, hw, base, single, _ = runs[df]
        assert single["user-stall"].layers == base.layers


USER_HW = Hardware(dataflow="os", array_rows=8, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
                   bandwidth_mode="USER", bandwidth=2, ifmap_dram_bw=10, filter_dram_bw=10)


def test_user_stall_only_shortens_stalls(tmp_path):
    t = topo(tmp_path, "u4,14,16,3,3,6,40,1,\nu5,9,9,3,3,8,12,2,\n")
    for df in ("os", "ws", "is"):
        hw = replace(USER_HW, dataflow=df)
        base = compat.simulate(t, hw, threads=1)
        fixed = compat.simulate(t, hw, options=CompatOptions(fixes="user-stall"), threads=1)
        assert changed_fields(base, fixed) <= set(FIXES["user-stall"].fields)
        for lb, lf in zip(base.layers, fixed.layers):
            assert 0 <= lf.stall_cycles <= lb.stall_cycles
            assert lf.total_cycles - lf.stall_cycles == lb.total_cycles - lb.stall_cycles
        if df == "os":  # here the IFMAP/FILTER prefetches make the array wait (elsewhere the OFMAP drain)
            assert sum(lf.stall_cycles for lf in fixed.layers) < sum(lb.stall_cycles for lb in base.layers)


# ------------------------------------------------------------------------------------------------
# the real SCALE-Sim with the upstream fix patched into its source (slow)
# ------------------------------------------------------------------------------------------------
def patched_method(cls, name: str, old: str, new: str):
    """``cls.name`` recompiled from its source with ``old`` replaced by ``new`` (exactly once)."""
    import sys

    src = textwrap.dedent(inspect.getsource(getattr(cls, name)))
    old, new = textwrap.dedent(old).strip("\n"), textwrap.dedent(new).strip("\n")
    lines = [ln.strip() for ln in old.splitlines()]
    # match the old lines whatever their indentation in the source
    src_lines = src.splitlines()
    for i in range(len(src_lines) - len(lines) + 1):
        if [ln.strip() for ln in src_lines[i:i + len(lines)]] == lines:
            indent = src_lines[i][:len(src_lines[i]) - len(src_lines[i].lstrip())]
            src_lines[i:i + len(lines)] = [indent + ln if ln else ln for ln in new.splitlines()]
            break
    else:
        raise AssertionError(f"{cls.__name__}.{name}: upstream source changed, patch does not apply")
    namespace = dict(vars(sys.modules[cls.__module__]))
    exec(compile("\n".join(src_lines), f"<patched {name}>", "exec"), namespace)
    return namespace[name]


def scalesim_result(monkeypatch, t, hw, patches):
    from trafficsim.engines import scalesim_ref

    for cls, name, old, new in patches:
        monkeypatch.setattr(cls, name, patched_method(cls, name, old, new))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scalesim_ref.simulate(t, hw)


def assert_same(a, b) -> None:
    bad = []
    for la, lb in zip(a.layers, b.layers, strict=True):
        for f in result_fields():
            x, y = getattr(la, f), getattr(lb, f)
            if isinstance(x, float) or isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9):
                    bad.append((la.layer_id, f, x, y))
            elif x != y:
                bad.append((la.layer_id, f, x, y))
    assert not bad, bad[:10]


@pytest.mark.slow
@pytest.mark.parametrize("df, rows, hw", [
    ("os", "u4,14,16,3,3,6,40,1,\n", USER_HW),
    ("ws", "u6,13,15,2,2,23,8,1,\nu7,12,13,1,1,6,39,2,\n",
     Hardware(dataflow="ws", array_rows=4, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
              bandwidth_mode="USER", bandwidth=4, ifmap_dram_bw=5, filter_dram_bw=5, ifmap_bank_num=1,
              filter_bank_num=1)),
    ("is", "u1,7,7,2,2,17,8,1,\n",
     Hardware(dataflow="is", array_rows=8, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
              bandwidth_mode="USER", bandwidth=8, ifmap_dram_bw=2, filter_dram_bw=2, ifmap_bank_num=1,
              filter_bank_num=1)),
])
def test_user_stall_equals_scalesim_with_the_fix(monkeypatch, tmp_path, df, rows, hw):
    """SCALE-Sim#130: read_buffer.service_reads adds a positive wait twice (and a negative one once);
    patched to add a positive wait once, as its own layout path and scale-sim-v2 after #100 do."""
    from scalesim.memory.read_buffer import read_buffer

    t = topo(tmp_path, rows)
    ref = scalesim_result(monkeypatch, t, hw, [(read_buffer, "service_reads", """
        offset += potential_stall_cycles        # Offset increments if there were potential stalls
        if potential_stall_cycles > 0:
            offset += potential_stall_cycles
        """, """
        if potential_stall_cycles > 0:
            offset += potential_stall_cycles
        """)])
    ours = compat.simulate(t, hw, options=CompatOptions(fixes="user-stall"), threads=1)
    assert_same(ours, ref)
    assert ours.layers != compat.simulate(t, hw, threads=1).layers  # the fix changes these layers


@pytest.mark.slow
def test_ofmap_writes_equals_scalesim_with_the_fix(monkeypatch, tmp_path):
    """SCALE-Sim#166: systolic_compute_os.create_ofmap_demand_mat without its second increment."""
    from scalesim.compute.systolic_compute_os import systolic_compute_os

    t = topo(tmp_path, "c1,10,10,3,3,3,10,1,\nc2,11,11,3,3,5,12,2,\n")
    hw = hw_of("os")
    ref = scalesim_result(monkeypatch, t, hw, [(systolic_compute_os, "create_ofmap_demand_mat", """
        self.ofmap_writes += this_fold_demand.shape[0] + this_fold_demand.shape[1]
        """, "pass")])
    assert_same(compat.simulate(t, hw, options=CompatOptions(fixes="ofmap-writes"), threads=1), ref)


# ------------------------------------------------------------------------------------------------
# the command line
# ------------------------------------------------------------------------------------------------
def test_cli_fix_all_marks_the_run(cli, small_csv, tmp_path):
    out = tmp_path / "reports"
    r = cli(["run", small_csv, "--array", "8x8", "--dataflow", "os", "--fix", "all", "-o", out])
    assert r.rc == 0, r.err
    assert "engine compat, SCALE-Sim fixes: all" in " ".join(r.out.split())
    (folder,) = out.iterdir()
    assert folder.name.endswith("-fix-all")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["meta"]["fixes"] == list(FIX_NAMES)
    plain = cli(["run", small_csv, "--array", "8x8", "--dataflow", "os", "-o", out, "-q"])
    assert plain.rc == 0 and plain.out.strip().endswith("-compat")
    assert len(list(out.iterdir())) == 2  # its own folder: fixed and unfixed runs never overwrite each other
    r = cli(["run", small_csv, "--array", "8x8", "--fix", "ofmap-writes,os-cycles", "-o", out, "-q"])
    assert r.rc == 0 and r.out.strip().endswith("-fix-os-cycles.ofmap-writes")


@pytest.mark.parametrize("args, words", [
    (["--fix", "bogus"], "unknown fix 'bogus'"),
    (["--fix", ""], "--fix needs NAME[,NAME] or all"),
    (["--fix", "os-cycles,,all"], "empty fix name"),
    (["--fix", "all", "--engine", "scalesim"], "--fix applies to --engine compat only"),
    (["--fix", "total-cycles", "--engine", "capacity"], "--fix applies to --engine compat only"),
])
def test_cli_fix_bad_input(cli, small_csv, tmp_path, args, words):
    out = tmp_path / "reports"
    line = cli(["run", small_csv, "--array", "8x8", "-o", out, *args]).error_line()
    assert words in line
    assert not out.exists()


@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v2", "hardnet39ds"])
def test_fix_all_runs_on_zoo_models(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = Hardware(array_rows=16, array_cols=16, dataflow="os")
        base = simulate(model, hw)
        fixed = simulate(model, hw, options=CompatOptions(fixes="all"))
    tb, tf = base.totals(), fixed.totals()
    assert tf["total_cycles"] > tb["total_cycles"]
    assert tf["sram_ofmap_writes"] < tb["sram_ofmap_writes"]
    assert tf["dram_ofmap_writes"] <= tb["dram_ofmap_writes"]
    assert (tf["dram_ifmap_reads"], tf["dram_filter_reads"], tf["macs"]) == \
        (tb["dram_ifmap_reads"], tb["dram_filter_reads"], tb["macs"])


def test_sweep_takes_fixes_as_a_key_and_an_axis(tmp_path):
    """``fixes`` is a compat option, so a sweep key (one value) or an axis (a list): each point equals
    the single run with those fixes, and the cache keeps fixed and unfixed points apart."""
    import trafficsim as ts

    csv = tmp_path / "t.csv"
    csv.write_text(CONV_HEADER + LAYERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ts.sweep(models=[str(csv)], arrays=["4x8"], dataflows=["os"], sram_kb=[1], fixes=["", "all", "os-cycles"],
                      executor="serial", cache_dir=tmp_path / "cache", progress=False)
        again = ts.sweep(models=[str(csv)], arrays=["4x8"], dataflows=["os"], sram_kb=[1], fixes="all",
                         executor="serial", cache_dir=tmp_path / "cache", progress=False)
    t = read_csv(csv)
    for fixes, total in zip(["", "all", "os-cycles"], df["total_cycles"]):
        opts = CompatOptions(fixes=fixes) if fixes else None
        assert total == compat.simulate(t, hw_of("os"), options=opts, threads=1).totals()["total_cycles"]
    assert len(set(df["total_cycles"])) == 3
    assert again["total_cycles"].iloc[0] == df["total_cycles"].iloc[1]
    assert set(df["fixes"].iloc[1].split(",")) == set(FIX_NAMES)
    with pytest.raises(InputError, match="unknown fix 'bogus'"):
        ts.sweep(models=[str(csv)], arrays=["4x8"], fixes="bogus", executor="serial", cache_dir=None, progress=False)


def test_os_cycles_in_user_mode_says_what_it_keeps(tmp_path, cli, small_csv):
    """os-cycles adds cycles in closed form: in USER mode the stalls stay SCALE-Sim's, and a warning says so."""
    from trafficsim.engines.compat_fixes import FixApproximationWarning

    t = topo(tmp_path, "u4,14,16,3,3,6,40,1,\n")
    with pytest.warns(FixApproximationWarning, match="USER mode"):
        fixed = compat.simulate(t, USER_HW, options=CompatOptions(fixes="os-cycles"), threads=1)
    base = compat.simulate(t, USER_HW, threads=1)
    assert fixed.layers[0].stall_cycles == base.layers[0].stall_cycles
    with warnings.catch_warnings():
        warnings.simplefilter("error", FixApproximationWarning)  # CALC, or USER without os-cycles: no warning
        compat.simulate(t, hw_of("os"), options=CompatOptions(fixes="all"), threads=1)
        compat.simulate(t, USER_HW, options=CompatOptions(fixes="user-stall"), threads=1)
    cfg = tmp_path / "user.cfg"
    cfg.write_text(USER_HW.to_cfg(run_name="u"))
    r = cli(["run", small_csv, "--config", cfg, "--fix", "os-cycles", "--no-write", "-q"])
    assert r.rc == 0 and "trafficsim: warning: --fix os-cycles in USER mode" in r.err
