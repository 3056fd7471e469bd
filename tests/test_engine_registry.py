"""The engine registry: adding an engine is one module plus one registry entry.

A toy engine, written by this test into a module of its own and registered here, runs through
`trafficsim run` (the CLI), its run folder, `trafficsim plot` and a sweep, with nothing else
changed; the built-in engines' metadata drives run ids, report files, plots and option checks.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from trafficsim import Hardware, Layer, Topology
from trafficsim.cli import main
from trafficsim.engines import (Engine, EngineInfo, LayerSharingEngine, engine_info, engine_names, get_engine,
                                register_engine, shares_layers, simulate, unregister_engine)
from trafficsim.errors import InputError
from trafficsim.runs import run_id, write_run

TOY_MODULE = '''
"""A toy engine: every layer costs MACs / PEs cycles and reads each operand once."""
from dataclasses import dataclass

from trafficsim.results import LayerResult, RunResult
from trafficsim.topology import expand_dp, scalesim_rows


@dataclass(frozen=True)
class ToyOptions:
    slowdown: int = 1


def run_id_tags(result):
    slowdown = result.meta.get("slowdown", 1)
    return [f"slow{slowdown}"] if slowdown != 1 else []


def layer_rows(topology):
    return expand_dp(scalesim_rows(topology))


def row_key(row):
    return (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.num_filters, row.stride)


CALLS = []


def simulate_row(row, hardware, layer_id=0, slowdown=1):
    CALLS.append(row_key(row))
    pes = hardware.array_rows * hardware.array_cols
    cycles = -(-row.macs // pes) * slowdown
    ifmap = row.ifmap_h * row.ifmap_w * row.channels
    filt = row.filter_h * row.filter_w * row.channels * row.num_filters
    ofmap = row.out_h * row.out_w * row.num_filters
    return LayerResult(layer_id=layer_id, name=row.name, source_layer=row.source_layer, macs=row.macs,
                       total_cycles_incl_prefetch=cycles, total_cycles=cycles, stall_cycles=0,
                       overall_util_pct=100.0 * row.macs / (cycles * pes), mapping_efficiency_pct=100.0,
                       compute_util_pct=100.0, sram_ifmap_reads=ifmap, sram_filter_reads=filt,
                       sram_ofmap_writes=ofmap, dram_ifmap_reads=ifmap, dram_filter_reads=filt,
                       dram_ofmap_writes=ofmap)


def cost_estimate(row, hardware):
    return 1e-6 * row.macs


def assemble(topology, hardware, rows, computed, names=True, keys=None, meta=None):
    keys = keys or [row_key(r) for r in rows]
    layers = tuple(computed[k].renamed(i, r.name, r.source_layer) if names else computed[k]
                   for i, (r, k) in enumerate(zip(rows, keys)))
    return RunResult(model=topology.name, engine="toy", hardware=hardware, layers=layers, meta=meta or {})


def simulate(topology, hardware, progress=None, options=None):
    slowdown = options.slowdown if options is not None else 1
    rows = layer_rows(topology)
    computed = {}
    for i, row in enumerate(rows):
        computed.setdefault(row_key(row), simulate_row(row, hardware, i, slowdown))
        if progress is not None:
            progress(i + 1, len(rows))
    meta = {"slowdown": slowdown} if slowdown != 1 else {}
    return assemble(topology, hardware, rows, computed, meta=meta)
'''

CSV = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "c1,10,10,3,3,4,8,1,\n"
    "c2,8,8,3,3,8,8,1,\n"
    "c3,8,8,3,3,8,8,1,\n"
)


@pytest.fixture()
def toy(tmp_path: Path, monkeypatch):
    """The toy engine: its module on sys.path, one registry entry; removed afterwards."""
    (tmp_path / "toy_engine_mod.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    info = register_engine(EngineInfo(name="toy", module="toy_engine_mod", family="toy",
                                      options_type="toy_engine_mod:ToyOptions", summary="a toy for tests"))
    yield info
    unregister_engine("toy")


@pytest.fixture()
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "net.csv"
    p.write_text(CSV)
    return p


def test_builtin_engines_registered() -> None:
    assert engine_names()[:3] == ("compat", "scalesim", "capacity")
    assert engine_info("compat").family == engine_info("scalesim").family == "scalesim"
    assert engine_info("capacity").family == "capacity"
    assert engine_info("compat").writes_scalesim_reports and not engine_info("capacity").writes_scalesim_reports
    for name in ("compat", "scalesim", "capacity"):
        assert isinstance(get_engine(name), Engine), name
    assert shares_layers("compat") and not shares_layers("scalesim") and not shares_layers("capacity")
    assert isinstance(get_engine("compat"), LayerSharingEngine)


def test_unknown_engine_names_choices() -> None:
    with pytest.raises(InputError, match="unknown engine 'nope': choose one of compat, scalesim, capacity"):
        engine_info("nope")
    topo = Topology("t", (Layer("c", "conv", 2, 4, 4, 2, 4, 4, 1, 1),))
    with pytest.raises(InputError, match="takes no options"):
        simulate(topo, Hardware(), "scalesim", options=object())
    with pytest.raises(InputError, match="takes CompatOptions options, got object"):  # compat's --fix
        simulate(topo, Hardware(), "compat", options=object())


def test_register_twice_refused(toy) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_engine(toy)
    with pytest.raises(ValueError, match="letters"):
        EngineInfo(name="a b", module="x", family="y")


def test_toy_engine_through_cli_run_folder_plot_and_sweep(toy, csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "reports"
    assert shares_layers("toy")
    # the --engine help lists registered engines (built when the CLI module is imported)
    from trafficsim.cli.run import engine_help
    assert engine_help().endswith("capacity (SRAM-aware traffic, time and energy) or toy (a toy for tests).")

    # trafficsim run --engine toy: a run folder, without SCALE-Sim's report files (not declared)
    assert main(["run", str(csv), "--array", "4x4", "--dataflow", "os", "--engine", "toy", "--out", str(out), "--quiet"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder.name == "net-4x4-os-64.64.64kB-toy"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["engine"] == "toy"
    assert summary["totals"]["total_cycles"] == sum(-(-m // 16) for m in (8 * 8 * 36 * 8, 6 * 6 * 72 * 8, 6 * 6 * 72 * 8))
    assert not (folder / "COMPUTE_REPORT.csv").exists()
    assert len(pd.read_csv(folder / "layers.csv")) == 3
    # a second run of the same setting on another array, for the plots' sweep figures
    assert main(["run", str(csv), "--array", "8x8", "--engine", "toy", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()

    # the engine's run-id tags come from its module (its options change the numbers)
    topo = __import__("trafficsim.topology", fromlist=["read_csv"]).read_csv(csv)
    opts_cls = __import__("toy_engine_mod").ToyOptions
    slow = simulate(topo, Hardware(array_rows=4, array_cols=4), "toy", options=opts_cls(slowdown=3))
    assert run_id(slow, topo.input_shape).endswith("-toy-slow3")
    assert write_run(slow, topo, out).name.endswith("-toy-slow3")

    # trafficsim plot groups runs by the engine's family (a family of its own: its own panels)
    plots = tmp_path / "plots"
    assert main(["plot", str(out), "--out", str(plots), "--quiet"]) == 0
    capsys.readouterr()
    assert (plots / "index.html").exists()
    runs_table = pd.read_csv(plots / "runs_table.csv")
    assert set(runs_table["engine"]) == {"toy"} and set(runs_table["model_kind"]) == {"toy"}
    assert len(runs_table) == 3

    # a sweep: the toy engine shares layers, so c2 and c3 (same shape) are simulated once per point
    mod = __import__("toy_engine_mod")
    mod.CALLS.clear()
    df = __import__("trafficsim.sweeps", fromlist=["sweep"]).sweep(
        models=[str(csv)], arrays=["4x4", "8x8"], dataflows=["os", "ws"], engine="toy", executor="serial",
        cache_dir=None, progress=False)
    assert len(df) == 4 and set(df["engine"]) == {"toy"}
    assert len(mod.CALLS) == 2 * 2 * 2  # two distinct shapes per hardware point
    assert list(df["total_cycles"][:2]) == [summary["totals"]["total_cycles"]] * 2  # 4x4 os, 4x4 ws


def test_engine_options_checked_by_registry(toy, csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "reports"
    # capacity-model flags name the engines whose options type has them
    rc = main(["run", str(csv), "--engine", "toy", "--residency", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc != 0 and "Traceback" not in err
    assert err.strip().splitlines() == ["trafficsim: error: --residency applies to --engine capacity only, "
                                        "not to --engine toy"]
    assert not out.exists()


def test_an_engine_without_a_dram_model_refuses_a_dram_standard() -> None:
    """Never silently wrong: the real SCALE-Sim has no DRAM model, so a DRAM standard is refused, not ignored."""
    from trafficsim.dram.config import DramConfig
    from trafficsim.engines import engine_info, simulate

    assert engine_info("compat").models_dram and engine_info("capacity").models_dram
    assert not engine_info("scalesim").models_dram
    hw = Hardware(array_rows=4, array_cols=4, dram=DramConfig("ddr4-3200"))
    with pytest.raises(InputError, match="engine 'scalesim' does not model the DRAM: drop dram ddr4-3200 or use "
                                         "'compat' or 'capacity'"):
        simulate(Topology("t", (Layer("c", "conv", 3, 8, 8, 4, 6, 6, 3, 3),)), hw, engine="scalesim")
