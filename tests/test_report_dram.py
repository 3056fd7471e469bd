"""The report on DRAM-standard runs, workloads and SCALE-Sim fixes (issue 13 item 6, issue 14, issue 15 item 2):
run folders made by the real pipeline (a small network on the capacity engine with ``--dram ideal``,
``ddr4-3200`` and ``lpddr4-3200``, at batch 1 and 2, and the compat engine), read back by ``trafficsim.report``
and ``trafficsim.runs.load_runs``; every bar and line of the DRAM figures checked against the run's files."""
from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from trafficsim.engines import simulate
from trafficsim.hardware import Hardware, hardware_changes
from trafficsim.runs import load_runs, write_run
from trafficsim.topology import Layer, Topology

matplotlib = pytest.importorskip("matplotlib")
from trafficsim.report import draw_figures, from_frame, load, text_summary, write_report  # noqa: E402
from trafficsim.report import figures as figmod  # noqa: E402
from trafficsim.report import figures_dram  # noqa: E402
from trafficsim.report.loading import hardware_label, hardware_text, memory_text  # noqa: E402
from trafficsim.report.tables import engine_pairs  # noqa: E402

HW = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=2, filter_sram_kb=2, ofmap_sram_kb=2)
DRAMS = ("ideal",)  # + DRAM standards once the capacity engine times them


def tiny_net(batch: int = 1) -> Topology:
    """Three convolutions and a classifier: a few thousand DRAM requests per layer on a standard."""
    layers = (Layer("conv1", "conv", 3, 16, 16, 16, 8, 8, 3, 3, 2, 2, 1, 1),
              Layer("layer1.conv", "conv", 16, 8, 8, 32, 8, 8, 3, 3, 1, 1, 1, 1),
              Layer("layer2.conv", "conv", 32, 8, 8, 32, 4, 4, 3, 3, 2, 2, 1, 1),
              Layer("fc", "linear", 32, 1, 1, 10, 1, 1))
    return replace(Topology("tinynet", layers, (3, 16, 16)), batch=batch)


def _write(topo: Topology, hw: Hardware, engine: str, root: Path) -> Path:
    return write_run(simulate(topo, hw, engine=engine), topo, root).path


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dram-reports")
    for std in DRAMS:
        _write(tiny_net(), HW.with_(**hardware_changes({"dram_standard": std})), "capacity", root)
    _write(tiny_net(2), HW, "capacity", root)
    _write(tiny_net(), HW, "compat", root)
    return root


@pytest.fixture(scope="module")
def data(reports):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no folder of the real pipeline is skipped
        return load(reports)


def _run(data, memory: str, engine: str = "capacity", network: str = "tinynet (batch 1)"):
    sel = data.runs[(data.runs["memory"] == memory) & (data.runs["engine"] == engine)
                    & (data.runs["network"] == network)]
    assert len(sel) == 1, (memory, engine, network, data.runs[["memory", "engine", "network"]])
    return sel.iloc[0]


def test_memory_labels_with_overrides():
    row = {"array_rows": 32, "array_cols": 32, "dataflow": "ws", "ifmap_sram_kb": 64, "filter_sram_kb": 64,
           "ofmap_sram_kb": 64, "engine": "capacity", "dram_standard": "ddr4-3200", "dram_channels": 2,
           "dram_page_policy": "closed", "dram_mapping": "ChRaBaRoCo", "row_hits": 10}
    assert hardware_label(row) == "32x32-ws-64.64.64kB-ddr4-3200x2-ChRaBaRoCo-closed"
    assert hardware_text(row) == ("32×32 WS, SRAM 64/64/64 kB, DDR4-3200, 2 channels, ChRaBaRoCo mapping, "
                                  "closed page")
    # a standard the engine did not time (no DRAM-model counts in its totals) says so
    assert memory_text({**row, "row_hits": None, "engine": "compat"}).endswith("(not modelled by compat)")
    # the default ideal pipe is named only when asked (a report with several memories), another bandwidth always
    ideal = {**row, "dram_standard": "ideal", "dram_bandwidth_gbs": 12.8}
    assert hardware_text(ideal) == "32×32 WS, SRAM 64/64/64 kB"
    assert hardware_text(ideal, show_memory=True) == "32×32 WS, SRAM 64/64/64 kB, ideal DRAM 12.8 GB/s"
    assert hardware_label({**ideal, "dram_bandwidth_gbs": 25.6}) == "32x32-ws-64.64.64kB-ideal25.6GBs"


def test_workload_is_the_network_label_not_the_hardware(data):
    """Batch 1 and batch 2 of one model: two series ("tinynet (batch 1)", "tinynet (batch 2)") on the same
    hardware key, not two hardware configurations with a 'b2' tag."""
    runs = data.runs
    assert set(runs["network"]) == {"tinynet (batch 1)", "tinynet (batch 2)"}
    b2 = runs[runs["network"] == "tinynet (batch 2)"].iloc[0]
    assert b2["hardware"] == "8x8-ws-2.2.2kB" and b2["options"] == "" and b2["workload"] == "batch 2"
    assert "b2" not in b2["hardware_label"] and b2["batch"] == 2
    # the colours follow the networks: one per series
    assert len(set(data.colors().values())) == 2
    # a report of one workload keeps plain model names
    one = data.runs[data.runs["network"] == "tinynet (batch 1)"]
    assert set(from_frame(one).runs["network"]) == {"tinynet"}


def test_workload_labels_from_a_sweep_table(data):
    """A sweep DataFrame's workload columns (phase, seq_len, context, batch, precision) label the networks too."""
    base = data.runs[data.runs["engine"] == "capacity"].iloc[[0]].drop(
        columns=["network", "workload", "hardware", "hardware_label", "phase", "seq_len", "context", "batch",
                 "precision"])
    import pandas as pd

    rows = []
    for phase, ctx, batch, prec in (("decode", 512, 1, "int8"), ("decode", 512, 8, "int8"),
                                    ("decode", 4096, 8, "w8a16")):
        rows.append(base.assign(model="gpt2", phase=phase, seq_len=None, context=ctx, batch=batch, precision=prec,
                                run_id=f"gpt2-{ctx}-{batch}-{prec}"))
    d = from_frame(pd.concat(rows, ignore_index=True))
    assert list(d.runs["network"]) == ["gpt2 (decode @512, batch 1, int8)", "gpt2 (decode @512, batch 8, int8)",
                                       "gpt2 (decode @4096, batch 8, w8a16)"]
    assert d.runs["hardware"].nunique() == 1


# ---------------------------------------------------------------------------------------------------------------
# the columns read back
# ---------------------------------------------------------------------------------------------------------------
DRAM_TOTALS = ("dram_cycles", "dram_energy_pj", "row_hit_rate", "achieved_bandwidth_gbs")
DRAM_LAYER_COLUMNS = ("compute_cycles", "stall_cycles", "dram_cycles", "achieved_bandwidth_gbs",
                      "peak_bandwidth_gbs", "row_hit_rate", "dram_energy_pj")


def test_runs_without_dram_columns_still_load(data):
    """Ideal-pipe and compat runs (and every run folder written before the DRAM model) have none of the DRAM
    columns: they load, and the DRAM figures leave them out or are not drawn at all."""
    old = data.runs[data.runs["memory"] == "ideal DRAM 12.8 GB/s"]
    assert "row_hit_rate" not in old.columns or old["row_hit_rate"].isna().all()
    d = from_frame(old, data.layers[data.layers["run_id"].isin(old["run_id"])])
    figs = draw_figures(d)
    assert "dram_bandwidth" not in figs and "dram_standards" not in figs
    # the capacity model on the ideal pipe still splits its cycles into compute and stalls
    assert "latency_breakdown" in figs


# ---------------------------------------------------------------------------------------------------------------
# runs made with SCALE-Sim fixes (meta.fixes, LOG.md: report -> fix)
# ---------------------------------------------------------------------------------------------------------------
def _folder(root: Path, engine: str) -> Path:
    """The batch-1 run folder of ``engine`` on the ideal pipe."""
    for p in sorted(root.iterdir()):
        s = json.loads((p / "summary.json").read_text())
        if s["engine"] == engine and s["hardware"]["dram_standard"] == "ideal" and s["workload"]["batch"] == 1:
            return p
    raise AssertionError(f"no {engine} run in {root}")


@pytest.fixture(scope="module")
def with_fixes(reports, tmp_path_factory) -> Path:
    """The compat run, and a copy of it marked as made with two fixes, its numbers changed as a fix would."""
    root = tmp_path_factory.mktemp("fixes")
    src = _folder(reports, "compat")
    shutil.copytree(src, root / src.name)
    fixed = root / (src.name + "-fix.os-cycles.total-cycles")
    shutil.copytree(src, fixed)
    doc = json.loads((fixed / "summary.json").read_text())
    doc["run_id"] = fixed.name
    doc["meta"]["fixes"] = ["total-cycles", "os-cycles"]
    doc["totals"]["total_cycles"] += 7
    (fixed / "summary.json").write_text(json.dumps(doc))
    cap = _folder(reports, "capacity")
    shutil.copytree(cap, root / cap.name)
    return root


def test_fixed_runs_are_marked(with_fixes, tmp_path):
    d = load(with_fixes)
    fixed = d.runs[d.runs["fixes"] != ""]
    assert len(fixed) == 1
    r = fixed.iloc[0]
    assert r["fixes"] == "os-cycles, total-cycles" and r["model_kind"] == "fixed" and r["options"] == ""
    assert r["hardware_label"].endswith("SCALE-Sim fixes: os-cycles, total-cycles")
    # never paired with the capacity model as SCALE-Sim's numbers
    pairs = engine_pairs(d.runs)
    assert list(pairs["run_id_compatible"]) == [d.runs[(d.runs["engine"] == "compat") & (d.runs["fixes"] == "")]
                                                ["run_id"].item()]
    # its own panel, titled as not SCALE-Sim's numbers; every figure carries the note
    figs = draw_figures(d)
    titles = [ax.get_title() for ax in figs["cycles"].axes]
    assert any("not SCALE-Sim's numbers" in t for t in titles)
    assert all(f._suptitle is not None and "not SCALE-Sim 3.0.0's numbers" in f._suptitle.get_text()
               for f in figs.values())
    assert "(fixed)" in text_summary(d)
    out = tmp_path / "p"
    write_report(with_fixes, out)
    page = (out / "index.html").read_text()
    assert page.count('class="badge"') == 1 and "fixed: os-cycles, total-cycles" in page
    assert "1 run(s) made with SCALE-Sim fixes" in page and "mixes them with unfixed runs" in page


def test_no_note_without_fixes(data):
    assert figmod.fixes_note(data) == ""
    assert all(f._suptitle is None for f in draw_figures(data).values())
