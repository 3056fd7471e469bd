"""The report on DRAM-standard runs, workloads and SCALE-Sim fixes (issue 13 item 6, issue 14, issue 15 item 2):
run folders made by the real pipeline (a small network on the capacity engine with ``--dram ideal``,
``ddr4-3200`` and ``lpddr4-3200``, at batch 1 and 2, and the compat engine), read back by ``trafficsim.report``
and ``trafficsim.runs.load_runs``; every bar and line of the DRAM figures checked against the run's files."""
from __future__ import annotations

import json
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
from trafficsim.report import tables  # noqa: E402
from trafficsim.report.tables import engine_pairs  # noqa: E402

HW = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=2, filter_sram_kb=2, ofmap_sram_kb=2)
DRAMS = ("ideal", "ddr4-3200", "lpddr4-3200")


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


# ---------------------------------------------------------------------------------------------------------------
# labels: memory, workload
# ---------------------------------------------------------------------------------------------------------------
def test_runs_of_each_dram_are_told_apart(data):
    runs = data.runs
    assert len(runs) == 5 and data.warnings == []
    assert sorted(set(runs["memory"])) == ["DDR4-3200", "LPDDR4-3200", "ideal DRAM 12.8 GB/s"]
    cap = runs[(runs["engine"] == "capacity") & (runs["network"] == "tinynet (batch 1)")]
    # one hardware key and label per DRAM, the standard named in both; nothing left over as an engine option
    assert sorted(cap["hardware"]) == ["8x8-ws-2.2.2kB", "8x8-ws-2.2.2kB-ddr4-3200", "8x8-ws-2.2.2kB-lpddr4-3200"]
    assert sorted(cap["hardware_label"]) == ["8×8 WS, SRAM 2/2/2 kB, DDR4-3200", "8×8 WS, SRAM 2/2/2 kB, LPDDR4-3200",
                                             "8×8 WS, SRAM 2/2/2 kB, ideal DRAM 12.8 GB/s"]
    assert set(runs["options"]) == {""}
    # the DRAM fields of the hardware key are columns (sweeps group by them)
    assert set(cap["dram_standard"]) == set(DRAMS)


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


def test_dram_settings_in_run_ids_are_not_engine_options(tmp_path):
    """A run id names the DRAM's non-default settings (DramConfig.run_tag: mapping, page policy...): the labels
    say them as the memory, never as leftover engine options."""
    hw = HW.with_(**hardware_changes({"dram_standard": "ddr4-3200", "dram_mapping": "ChRaBaRoCo",
                                      "dram_page_policy": "closed"}))
    _write(tiny_net(), hw, "capacity", tmp_path)
    r = load(tmp_path).runs.iloc[0]
    assert "ChRaBaRoCo" in r["run_id"] and r["options"] == ""
    assert r["hardware_label"] == "8×8 WS, SRAM 2/2/2 kB, DDR4-3200, ChRaBaRoCo mapping, closed page"


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


@pytest.mark.parametrize("std", DRAMS[1:])
def test_dram_columns_read_back(data, reports, std):
    r = _run(data, std.upper())
    summary = json.loads((Path(r["path"]) / "summary.json").read_text())
    for col in DRAM_TOTALS:
        assert r[col] == summary["totals"][col]
    assert r["peak_bandwidth_gbs"] == summary["meta"]["dram"]["peak_bandwidth_gbs"]
    lay = data.layers[data.layers["run_id"] == r["run_id"]]
    assert set(DRAM_LAYER_COLUMNS) <= set(lay.columns) and lay[list(DRAM_LAYER_COLUMNS)].notna().all().all()
    assert lay["dram_energy_pj"].sum() == pytest.approx(r["dram_energy_pj"], rel=1e-9)
    # the plain loader too
    runs, layers = load_runs(reports)
    plain = runs[runs["run_id"] == r["run_id"]].iloc[0]
    assert all(plain[c] == r[c] for c in DRAM_TOTALS) and plain["dram_standard"] == std
    assert set(DRAM_LAYER_COLUMNS) <= set(layers.columns)


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
# the figures, bar by bar
# ---------------------------------------------------------------------------------------------------------------
def test_latency_breakdown_bars_are_the_layers(data):
    fig = figures_dram.fig_latency_breakdown(data)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    # one panel per capacity run (the compat run never stalls in CALC mode and has no compute column)
    assert len(titles) == 4 and not any("compat" in t for t in titles)
    for ax, title in zip(fig.axes, titles):
        net, rest = title.split(" — ", 1)
        hw_text = rest.split(":")[0]
        r = data.runs[(data.runs["network"] == net) & (data.runs["hardware_label"] == hw_text)].iloc[0]
        lay = data.layers[data.layers["run_id"] == r["run_id"]].sort_values("layer_index")
        div = 1e3 if "k cycles" in ax.get_ylabel() else 1e6 if "M cycles" in ax.get_ylabel() else 1.0
        heights = [p.get_height() * div for p in ax.patches]
        n = len(lay)
        assert heights[:n] == pytest.approx(list(lay["compute_cycles"].astype(float)))
        assert heights[n:] == pytest.approx(list(lay["stall_cycles"].astype(float)))
        share = 100 * lay["stall_cycles"].sum() / (lay["compute_cycles"].sum() + lay["stall_cycles"].sum())
        assert f"{share:.1f} % of cycles stalled" in title
    # the DRAM standards stall more than the ideal pipe on this network
    stalled = {r["memory"]: r["stall_cycles"] for _, r in data.runs[data.runs["engine"] == "capacity"].iterrows()
               if r["network"] == "tinynet (batch 1)"}
    assert stalled["DDR4-3200"] >= stalled["ideal DRAM 12.8 GB/s"]


def test_bandwidth_lines_and_peaks(data):
    fig = figures_dram.fig_dram_bandwidth(data)
    (ax,) = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["8×8 WS, SRAM 2/2/2 kB, DDR4-3200 (peak 25.6 GB/s)",
                      "8×8 WS, SRAM 2/2/2 kB, LPDDR4-3200 (peak 12.8 GB/s)"]
    curves = [list(line.get_ydata()) for line in ax.lines if len(line.get_xdata()) > 2]
    flat = sorted({float(line.get_ydata()[0]) for line in ax.lines if len(line.get_xdata()) == 2})
    for std in DRAMS[1:]:
        r = _run(data, std.upper())
        lay = data.layers[data.layers["run_id"] == r["run_id"]].sort_values("layer_index")
        assert list(lay["achieved_bandwidth_gbs"]) in curves
        assert float(lay["peak_bandwidth_gbs"].max()) in flat
        assert (lay["achieved_bandwidth_gbs"] <= lay["peak_bandwidth_gbs"] + 1e-9).all()


def test_dram_standards_panels(data):
    fig = figures_dram.fig_dram_standards(data)
    lat, hit, energy = fig.axes
    assert [t.get_text().replace("\n", ", ") for t in hit.get_xticklabels()] == [
        "8×8 WS, SRAM 2/2/2 kB, DDR4-3200", "8×8 WS, SRAM 2/2/2 kB, LPDDR4-3200"]
    got_hits = sorted(round(p.get_height(), 9) for p in hit.patches)
    want = sorted(round(100 * _run(data, s.upper())["row_hit_rate"], 9) for s in DRAMS[1:])
    assert got_hits == want
    # energy: the stack of commands adds up to the run's DRAM energy (µJ)
    tops = sorted(round(max(p.get_y() + p.get_height() for p in energy.patches
                            if abs(p.get_x() + p.get_width() / 2 - x) < 1e-9), 6)
                  for x in {p.get_x() + p.get_width() / 2 for p in energy.patches})
    assert tops == sorted(round(_run(data, s.upper())["dram_energy_pj"] / 1e6, 6) for s in DRAMS[1:])
    # latency: compute + stall = total cycles at the run's clock, for every capacity run (ideal pipe included)
    cap = data.runs[data.runs["engine"] == "capacity"]
    lat_tops = sorted(round(t, 9) for t in {round(p.get_x(), 9): p.get_y() + p.get_height()
                                            for p in lat.patches}.values())
    assert lat_tops == sorted(round(c / r / 1e3, 9) for c, r in zip(cap["total_cycles"], cap["clock_mhz"]))


def test_page_has_dram_and_workload_columns(data, reports, tmp_path, capsys):
    """``trafficsim plot`` on the run folders: the DRAM figures, the DRAM columns of the page and tables."""
    from trafficsim.cli import main

    out = tmp_path / "plots"
    assert main(["plot", str(reports), "-q", "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    page = (out / "index.html").read_text()
    for head in ("<th>workload</th>", "<th>DRAM</th>", "<th>DRAM cycles</th>", "<th>row hits (%)</th>",
                 "<th>achieved GB/s</th>", "<th>peak GB/s</th>", "<th>DRAM energy (µJ)</th>"):
        assert head in page
    for name in ("latency_breakdown", "dram_bandwidth", "dram_standards"):
        assert (out / f"{name}.png").stat().st_size > 0 and f'id="{name}"' in page
    r = _run(data, "DDR4-3200")
    assert f"{100 * r['row_hit_rate']:.1f}" in page
    # the tidy table keeps every DRAM column
    import pandas as pd

    runs_csv = pd.read_csv(out / "runs_table.csv")
    assert {"memory", "workload", "fixes", *DRAM_TOTALS} <= set(runs_csv.columns)


# ---------------------------------------------------------------------------------------------------------------
# runs made with SCALE-Sim fixes (meta.fixes, LOG.md: report -> fix)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def with_fixes(reports, tmp_path_factory) -> Path:
    """The compat run without fixes, the same with two fixes and with all (``trafficsim run --fix``), and the
    capacity run: the real pipeline."""
    from trafficsim.engines.compat_fixes import CompatOptions

    root = tmp_path_factory.mktemp("fixes")
    topo = tiny_net()
    hw = HW.with_(dataflow="os")  # os-cycles changes OS cycles
    for fixes in ("", "total-cycles,os-cycles", "all"):
        write_run(simulate(topo, hw, engine="compat", options=CompatOptions(fixes=fixes)), topo, root)
    _write(topo, hw, "capacity", root)
    return root


def test_fixed_runs_are_marked(with_fixes, tmp_path):
    d = load(with_fixes)
    fixed = d.runs[d.runs["fixes"] != ""].sort_values("fixes")
    assert len(fixed) == 2 and set(fixed["model_kind"]) == {"fixed"} and set(fixed["options"]) == {""}
    assert list(fixed["fixes"]) == ["ofmap-writes, os-cycles, total-cycles, trace-padding, user-stall",
                                    "os-cycles, total-cycles"]
    two = fixed.iloc[1]
    assert two["hardware_label"].endswith("SCALE-Sim fixes: os-cycles, total-cycles")
    assert two["hardware"].endswith("-fix.os-cycles.total-cycles")
    plain = d.runs[(d.runs["engine"] == "compat") & (d.runs["fixes"] == "")].iloc[0]
    assert two["total_cycles"] != plain["total_cycles"]  # the fixes changed the numbers the labels keep apart
    # never paired with the capacity model as SCALE-Sim's numbers
    assert list(engine_pairs(d.runs)["run_id_compatible"]) == [plain["run_id"]]
    # their own panel, titled as not SCALE-Sim's numbers; every figure carries the note
    figs = draw_figures(d)
    titles = [ax.get_title() for ax in figs["cycles"].axes]
    assert any("not SCALE-Sim's numbers" in t for t in titles)
    assert all(f._suptitle is not None and "not SCALE-Sim 3.0.0's numbers" in f._suptitle.get_text()
               for f in figs.values())
    assert text_summary(d).count("(fixed)") == 2
    out = tmp_path / "p"
    write_report(with_fixes, out)
    page = (out / "index.html").read_text()
    assert page.count('class="badge"') == 2 and "fixed: os-cycles, total-cycles" in page
    assert "2 run(s) made with SCALE-Sim fixes" in page and "mixes them with unfixed runs" in page


def test_fixes_in_a_sweep_table(tmp_path):
    """A sweep with a ``fixes`` axis: the fixed points are their own series, not points of the unfixed line."""
    import trafficsim

    df = trafficsim.sweep(models=tiny_net(), arrays=["4x4", "8x8"], dataflows="os", fixes=["", "all"],
                          cache_dir=None, progress=False, executor="serial")
    d = from_frame(df)
    assert sorted(d.runs["model_kind"]) == ["compatible", "compatible", "fixed", "fixed"]
    groups = tables.sweeps(d.runs, "array")
    assert len(groups) == 2 and sorted(len(g) for _, g in groups) == [2, 2]
    assert all(g["fixes"].nunique() == 1 for _, g in groups)


def test_no_note_without_fixes(data):
    assert figmod.fixes_note(data) == ""
    assert all(f._suptitle is None for f in draw_figures(data).values())
