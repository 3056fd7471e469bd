"""Plots, the report page and ``trafficsim plot``, on run folders made by the real pipeline
(small topologies -> compat / capacity engines -> write_run)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from trafficsim.cli import main
from trafficsim.engines import simulate
from trafficsim.errors import InputError, ResultsError
from trafficsim.hardware import Hardware
from trafficsim.runs import write_run
from trafficsim.topology import Layer, Topology

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

from trafficsim import metrics, report  # noqa: E402
from trafficsim.report import figures as figmod  # noqa: E402
from trafficsim.report import tables  # noqa: E402
from trafficsim.report import layer_blocks, load, plot, write_report  # noqa: E402


# ---------------------------------------------------------------------------------------------
# small topologies with the module names of the real networks (so dense blocks are found)
# ---------------------------------------------------------------------------------------------
def _conv(name: str, c: int, k: int, hw: int = 8, kernel: int = 3, stride: int = 1) -> Layer:
    pad = kernel // 2
    out = (hw + 2 * pad - kernel) // stride + 1
    return Layer(name, "conv", c, hw, hw, k, out, out, kernel, kernel, stride, stride, pad, pad)


def tiny_hardnet() -> Topology:
    """Stem, two HarDBlocks of 3 layers (PingoLH names: base.<i>.layers.<j>.conv), transitions, FC."""
    layers = [_conv("base.0.conv", 3, 8, hw=16, stride=2)]
    c = 8
    for b, i in ((1, 1), (2, 3)):
        for j in range(3):
            layers.append(_conv(f"base.{i}.layers.{j}.conv", c + 2 * j, 4 + 2 * b))
        layers.append(_conv(f"base.{i + 1}.conv", c + 6, 12, kernel=1))
        c = 12
    layers.append(Layer("base.6.linear", "linear", 12, 1, 1, 10, 1, 1))
    return Topology("tinyhardnet", tuple(layers), (3, 16, 16))


def tiny_densenet() -> Topology:
    """torchvision names: features.denseblock<k>.denselayer<j>.conv1/conv2, transitions, classifier."""
    layers = [_conv("features.conv0", 3, 8, hw=16, stride=2)]
    for b in (1, 2, 3):
        for j in (1, 2):
            layers.append(_conv(f"features.denseblock{b}.denselayer{j}.conv1", 8 + 4 * (j - 1), 8, kernel=1))
            layers.append(_conv(f"features.denseblock{b}.denselayer{j}.conv2", 8, 4))
        if b < 3:
            layers.append(_conv(f"features.transition{b}.conv", 16, 8, kernel=1))
    layers.append(Layer("classifier", "linear", 16, 1, 1, 10, 1, 1))
    return Topology("tinydensenet", tuple(layers), (3, 16, 16))


def tiny_resnet() -> Topology:
    layers = [_conv("conv1", 3, 8, hw=16, stride=2)]
    for s in (1, 2):
        layers += [_conv(f"layer{s}.0.conv1", 8, 8), _conv(f"layer{s}.0.conv2", 8, 8)]
    layers.append(Layer("fc", "linear", 8, 1, 1, 10, 1, 1))
    return Topology("tinyresnet", tuple(layers), (3, 16, 16))


TOPOLOGIES = (tiny_hardnet, tiny_densenet, tiny_resnet)
HW_SMALL = Hardware(array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)
HW_BIG = Hardware(array_rows=8, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)
HW_BIG_SRAM = HW_BIG.with_(ifmap_sram_kb=4, filter_sram_kb=4, ofmap_sram_kb=4)
ALL_FIGURES = {"traffic_by_operand", "cycles", "layers", "cio", "sweep_array", "sweep_sram", "engines",
               "latency_breakdown"}  # the capacity runs (ideal pipe) record compute and stall cycles


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Run folders: 3 networks x 2 array sizes (compat), one larger SRAM (compat), capacity at 8x8."""
    root = tmp_path_factory.mktemp("reports")
    for make in TOPOLOGIES:
        topo = make()
        for hw in (HW_SMALL, HW_BIG):
            write_run(simulate(topo, hw, engine="compat"), topo, root)
        write_run(simulate(topo, HW_BIG, engine="capacity"), topo, root)
    topo = tiny_hardnet()
    write_run(simulate(topo, HW_BIG_SRAM, engine="compat"), topo, root)
    return root


@pytest.fixture(scope="module")
def data(reports):
    return load(reports)


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
def test_load_tidy_tables(data, reports):
    runs, layers = data.runs, data.layers
    assert len(runs) == 10 and data.warnings == []
    assert set(runs["engine"]) == {"compat", "capacity"}
    assert set(runs["network"]) == {"tinyhardnet", "tinydensenet", "tinyresnet"}
    assert set(runs["hardware"]) == {"4x4-ws-1.1.1kB", "8x8-ws-1.1.1kB", "8x8-ws-4.4.4kB"}
    # one layer row per topology layer; CIO is the sum of the layers' CIO
    for make in TOPOLOGIES:
        topo = make()
        rid = runs[(runs["model"] == topo.name) & (runs["hardware"] == "4x4-ws-1.1.1kB")]["run_id"].item()
        assert (layers["run_id"] == rid).sum() == len(topo.layers)
        assert runs.loc[runs["run_id"] == rid, "cio"].item() == metrics.cio(topo)  # the paper rule: conv layers only
    # per-operand bytes add up to the summary totals
    r = runs.iloc[0]
    assert r["dram_ifmap_bytes"] + r["dram_filter_bytes"] + r["dram_ofmap_bytes"] == r["dram_bytes"]
    summary = json.loads((Path(r["path"]) / "summary.json").read_text())
    assert r["total_cycles"] == summary["totals"]["total_cycles"]


def test_models_filter_with_patterns(reports):
    d = load(reports, models=["tinyh*", "tinyresnet"])
    assert set(d.runs["model"]) == {"tinyhardnet", "tinyresnet"}
    assert set(d.layers["model"]) == {"tinyhardnet", "tinyresnet"}
    with pytest.raises(ResultsError, match="no runs of nosuchnet.*found: tinydensenet"):
        load(reports, models=["nosuchnet"])


def test_layer_blocks_from_real_names():
    hardnet = ["base.0.conv", "base.1.conv", "base.3.layers.0.conv", "base.3.layers.1.conv", "base.4.conv",
               "base.6.layers.0.layer1.conv", "base.6.layers.0.layer2.conv", "base.6.layers.1.conv", "base.7.conv"]
    assert layer_blocks(hardnet) == [(2, 3, "B1"), (5, 7, "B2")]
    densenet = ["features.conv0", "features.denseblock1.denselayer1.conv1", "features.denseblock1.denselayer2.conv2",
                "features.transition1.conv", "features.denseblock2.denselayer1.conv1", "classifier"]
    assert layer_blocks(densenet) == [(1, 2, "B1"), (4, 4, "B2")]
    # ResNet stages, VGG features and a single block are not dense blocks
    assert layer_blocks(["conv1", "layer1.0.conv1", "layer2.0.conv1", "fc"]) == []
    assert layer_blocks(["features.0", "features.3", "classifier.0"]) == []
    assert layer_blocks(["a.layers.0", "a.layers.1"]) == []


def test_units_scale():
    assert report.scale_for(3.2e8, "bytes") == (1e6, "MB")
    assert report.scale_for(999, "bytes") == (1.0, "bytes")
    assert report.scale_for(5e9, "cycles") == (1e9, "G cycles")
    assert report.scale_for(4.5, "ms") == (1.0, "ms")
    assert report.axis_label("dram_bytes", 2e6) == (1e6, "DRAM traffic (MB)")
    assert report.axis_label("total_cycles", 2e4) == (1e3, "Total cycles (k cycles)")


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def _stacked_tops(ax) -> list[tuple[float, float]]:
    """(x centre, top) of every stack of bars in an Axes."""
    tops: dict[float, float] = {}
    for p in ax.patches:
        x = round(p.get_x() + p.get_width() / 2, 6)
        tops[x] = max(tops.get(x, 0.0), p.get_y() + p.get_height())
    return sorted(tops.items())


def test_plot_returns_every_figure(data, reports):
    figs = plot(reports)
    assert set(figs) == ALL_FIGURES
    assert all(isinstance(f, Figure) for f in figs.values())
    # the lazy top-level name resolves to the same function
    import trafficsim
    assert trafficsim.plot is plot


def test_traffic_bars_match_totals_and_colours(data):
    fig = report.draw_figures(data)["traffic_by_operand"]
    ax_compat, ax_cap = fig.axes
    assert "compatible" in ax_compat.get_title() and "capacity" in ax_cap.get_title()
    assert ax_compat.get_ylabel() == "DRAM traffic (kB)"
    compat = data.runs[data.runs["model_kind"] == "compatible"]
    # every stack top is a run's total (kB); 3 networks x 2 arrays + 1 SRAM point
    tops = sorted(round(t, 6) for _, t in _stacked_tops(ax_compat))
    assert tops == sorted(round(v / 1e3, 6) for v in compat["dram_bytes"])
    # ifmap segments carry the network's colour, the same colour as its line in the layer figure
    colors = data.colors()
    solid = {matplotlib.colors.to_hex(p.get_facecolor()) for p in ax_compat.patches}
    assert {c.lower() for c in colors.values()} <= solid
    layers_fig = report.draw_figures(data)["layers"]
    for ax in layers_fig.axes:
        net = ax.get_title(loc="left").split(":")[0]
        assert {matplotlib.colors.to_hex(line.get_color()) for line in ax.lines} == {colors[net].lower()}
    assert len(set(colors.values())) == 3


def test_layer_figure_marks_dense_blocks(data):
    fig = figmod.fig_layers(data)
    by_net = {ax.get_title(loc="left").split(":")[0]: ax for ax in fig.axes}
    spans = {n: [t.get_text() for t in ax.texts] for n, ax in by_net.items()}
    assert spans == {"tinydensenet": ["B1", "B2", "B3"], "tinyhardnet": ["B1", "B2"], "tinyresnet": []}
    # one line per hardware configuration of the compatible model, y values in kB per layer
    ax = by_net["tinyhardnet"]
    assert len(ax.lines) == 3
    lay = data.layers[(data.layers["network"] == "tinyhardnet") & (data.layers["hardware"] == "4x4-ws-1.1.1kB")
                      & (data.layers["model_kind"] == "compatible")].sort_values("layer_index")
    div, _ = report.axis_label("dram_bytes", float(data.layers[data.layers["network"] == "tinyhardnet"]
                                                   ["dram_bytes"].max()))
    ys = [list(line.get_ydata()) for line in ax.lines]
    assert list(lay["dram_bytes"] / div) in ys


def test_cio_no_fit_below_five_networks(data):
    """Three networks: points only. A line through 2-3 points and its r (issue 11: r = -0.735 at n = 3, p = 0.47)
    say nothing; the legend says why there is no fit."""
    fig = figmod.fig_cio(data)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "8×8 WS, SRAM 1/1/1 kB: n=3, no fit (needs 5)" in legend
    assert "8×8 WS, SRAM 4/4/4 kB: n=1, no fit (needs 5)" in legend
    assert not any("r =" in t for t in legend) and len(ax.lines) == 0


def _more_nets() -> list:
    extra = []
    for k, c in ((1, 12), (2, 16)):
        layers = [_conv("conv1", 3, c, hw=16, stride=2), _conv("conv2", c, c), Layer("fc", "linear", c, 1, 1, 10, 1, 1)]
        extra.append(Topology(f"tinyextra{k}", tuple(layers), (3, 16, 16)))
    return extra


def test_cio_fit_and_r_from_five_networks(tmp_path):
    for topo in [make() for make in TOPOLOGIES] + _more_nets():
        write_run(simulate(topo, HW_BIG, engine="compat"), topo, tmp_path)
    d = load(tmp_path)
    ax = figmod.fig_cio(d).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    r = np.corrcoef(d.runs["cio"].astype(float), d.runs["dram_bytes"].astype(float))[0, 1]
    assert legend == [f"8×8 WS, SRAM 1/1/1 kB: r = {r:.3f} (n=5)"]
    assert len(ax.lines) == 1


def test_cio_panels_need_two_networks(tmp_path):
    """A model kind with one network gives no CIO panel (docs/plots.md said so; a single-point capacity panel
    appeared)."""
    for make in TOPOLOGIES:
        topo = make()
        write_run(simulate(topo, HW_BIG, engine="compat"), topo, tmp_path)
    topo = tiny_resnet()
    write_run(simulate(topo, HW_BIG, engine="capacity"), topo, tmp_path)
    fig = figmod.fig_cio(load(tmp_path))
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["DRAM traffic against CIO — SCALE-Sim-compatible model"]


def test_ticks_are_readable_hardware(data):
    fig = report.draw_figures(data)["traffic_by_operand"]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["4×4 WS\nSRAM 1/1/1 kB", "8×8 WS\nSRAM 1/1/1 kB", "8×8 WS\nSRAM 4/4/4 kB"]
    ticks = [t.get_text() for t in figmod.fig_engines(data).axes[0].get_xticklabels()]
    assert ticks[0] == "tinydensenet\n8×8 WS\nSRAM 1/1/1 kB"


def test_sweeps_found(data):
    arr = tables.sweeps(tables.compatible_first(data.runs), "array")
    assert sorted(k[0] for k, _ in arr) == ["tinydensenet", "tinyhardnet", "tinyresnet"]
    assert all(list(pts["pes"]) == [16, 64] for _, pts in arr)
    sram = tables.sweeps(data.runs, "sram")
    assert [(k[0], list(p["sram_kb_total"])) for k, p in sram] == [("tinyhardnet", [3, 12])]
    fig = figmod.fig_sweep(data, "array")
    assert [ax.get_ylabel() for ax in fig.axes] == ["DRAM traffic (kB)", "Total cycles (k cycles)"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["4×4", "8×8"]


def test_engine_pairs(data):
    pairs = tables.engine_pairs(data.runs)
    assert len(pairs) == 3 and set(pairs["hardware"]) == {"8x8-ws-1.1.1kB"}
    fig = figmod.fig_engines(data)
    labels = [t.get_text() for t in fig.axes[0].texts]
    expect = [f"×{b / a:.2f}" for a, b in zip(pairs["dram_bytes_compatible"], pairs["dram_bytes_capacity"])]
    assert sorted(labels) == sorted(expect)


def test_metric_option(data):
    figs = report.draw_figures(data, metric="total_cycles")
    assert figs["layers"].axes[0].get_ylabel().startswith("Total cycles")
    assert figs["cio"].axes[0].get_ylabel().startswith("Total cycles")
    with pytest.raises(InputError, match="unknown metric 'bogus'.*dram_bytes"):
        report.draw_figures(data, metric="bogus")


def test_single_run_gives_the_figures_it_can(tmp_path):
    topo = tiny_resnet()
    write_run(simulate(topo, HW_SMALL, engine="compat"), topo, tmp_path)
    figs = plot(tmp_path)
    assert set(figs) == {"traffic_by_operand", "cycles", "layers"}


# ---------------------------------------------------------------------------------------------
# files, page and CLI
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written(reports, tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    return write_report(reports, out)


@pytest.mark.slow
def test_report_files_and_page(written, reports):
    out = written.out_dir
    for name in ALL_FIGURES:
        png, svg = out / f"{name}.png", out / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in svg.read_text()[:2000]
    page = written.page.read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    assert page.count("<img ") == len(ALL_FIGURES)
    assert 'id="runs-table"' in page and 'id="engines-table"' in page
    # every link and image resolves to an existing file
    from urllib.parse import unquote
    for target in re.findall(r'(?:href|src)="([^"#]+)"', page):
        assert (out / unquote(target)).resolve().exists(), target
    assert page.count("<tr>") - 2 == len(written.data.runs) + 3  # two header rows; runs + engine pairs
    assert (out / "runs_table.csv").read_text().count("\n") == len(written.data.runs) + 1


@pytest.mark.slow
def test_cli_plot(reports, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["plot", str(reports), "--out", str(out), "-m", "tinyhardnet,tinyresnet",
                 "--metric", "dram_words"]) == 0
    text = capsys.readouterr().out
    assert "7 run(s): 2 network(s) x 3 hardware configuration(s)" in text and "tinydensenet" not in text
    assert f"Page: {out / 'index.html'}" in text
    assert (out / "index.html").exists() and (out / "sweep_array.svg").exists()
    assert (out / "engines.png").exists()


def test_cli_errors_are_one_line(tmp_path, capsys, reports):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plot", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run folders found" in err and "Traceback" not in err
    assert main(["plot", str(tmp_path / "missing")]) == 1
    assert "no such directory" in capsys.readouterr().err
    assert main(["plot", str(reports), "--metric", "bogus", "--out", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err.startswith("trafficsim: error: unknown metric 'bogus'")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["plot", str(reports), "-m", "tinyresnet", "--out", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err == f"trafficsim: error: {blocker}: is a file, not a folder (needed for {blocker / 'sub'})\n"


@pytest.mark.slow
def test_bad_folders_are_skipped_with_warnings(reports, tmp_path, capsys):
    root = tmp_path / "mixed"
    shutil.copytree(reports, root)
    (root / "notes.txt").write_text("not a run")
    (root / "foreign").mkdir()
    (root / "foreign" / "data.json").write_text("{}")
    bogus = root / "bogus-run"
    bogus.mkdir()
    (bogus / "summary.json").write_text("{not json")
    half = root / "half-run"  # files of a run but no summary.json
    half.mkdir()
    (half / "layers.csv").write_text("layer_index,layer\n0,conv1\n")
    tmp = root / ".tinyresnet-4x4.abc123"  # a write in progress: silently ignored
    tmp.mkdir()
    (tmp / "layers.csv").write_text("layer_index\n")
    # a run whose layers.csv lost rows: its totals stay, its layers are ignored
    cut = next(p for p in root.iterdir() if p.name.startswith("tinyresnet-4x4"))
    lines = (cut / "layers.csv").read_text().splitlines()
    (cut / "layers.csv").write_text("\n".join(lines[:-2]) + "\n")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = load(root)
    msgs = [str(w.message) for w in caught]
    assert len(d.runs) == 10 and d.warnings == msgs
    assert any("bogus-run" in m for m in msgs) and any("half-run" in m and "no summary.json" in m for m in msgs)
    assert any(cut.name in m and "does not add up" in m for m in msgs)
    assert not any("foreign" in m or ".tinyresnet" in m for m in msgs)
    assert cut.name not in set(d.layers["run_id"])

    assert main(["plot", str(root), "-q", "-m", "tinyresnet"]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == str(root / "plots" / "index.html")
    warn_lines = cap.err.strip().splitlines()
    assert len(warn_lines) == 3 and all(w.startswith("trafficsim: warning: skipping") or
                                        w.startswith("trafficsim: warning: ignoring") for w in warn_lines)
    assert "Skipped" in (root / "plots" / "index.html").read_text()
    # the plot output inside the folder is not mistaken for runs next time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load(root).warnings == d.warnings


# ---------------------------------------------------------------------------------------------
# browser
# ---------------------------------------------------------------------------------------------
CHROMIUM = Path("/usr/bin/chromium")
_CHECK_SCRIPT = """
<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const out = {images: imgs.length,
               loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
               widths: imgs.map(i => i.naturalWidth),
               tables: Array.from(document.querySelectorAll("table")).map(t => t.id),
               rows: document.querySelectorAll("#runs-table tbody tr").length};
  const pre = document.createElement("pre");
  pre.id = "check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


@pytest.mark.slow
def test_page_in_headless_chromium(written, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    out = written.out_dir
    # a copy of the page beside the original (same relative links) with a probe that records what loaded
    probe = out / "index_probe.html"
    probe.write_text(written.page.read_text().replace("</body>", _CHECK_SCRIPT + "</body>"))
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
           probe.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    probe.unlink()
    m = re.search(r'<pre id="check">(.*?)</pre>', proc.stdout)
    assert m, f"no probe output; chromium said: {proc.stderr[-2000:]}"
    import html
    result = json.loads(html.unescape(m.group(1)))
    assert result["images"] == len(ALL_FIGURES)
    assert result["loaded"] == result["images"], result["widths"]
    assert all(w >= 600 for w in result["widths"])  # 150-dpi PNGs are wide
    assert result["tables"] == ["runs-table", "engines-table"]
    assert result["rows"] == len(written.data.runs)


def test_plot_a_sweep_dataframe():
    import trafficsim

    df = trafficsim.sweep([tiny_hardnet(), tiny_resnet()], arrays=["4x4", "8x8"], executor="serial",
                          cache_dir=None, progress=False)
    figs = trafficsim.plot(df)
    assert set(figs) == {"traffic_by_operand", "cycles", "sweep_array"}
    ax = figs["sweep_array"].axes[1]
    div, _ = report.axis_label("total_cycles", float(df["total_cycles"].max()))
    got = sorted(tuple(np.round(line.get_ydata(), 9)) for line in ax.lines)
    want = sorted(tuple(np.round(g.sort_values("array_rows")["total_cycles"].to_numpy() / div, 9))
                  for _, g in df.groupby("model"))
    assert got == want
    with pytest.raises(InputError, match="lacks column"):
        report.from_frame(df.drop(columns=["dram_bytes"]))


# ---------------------------------------------------------------------------------------------
# the package: one registry, no import circle
# ---------------------------------------------------------------------------------------------
def test_a_registered_figure_is_drawn_paged_and_listed(reports, tmp_path, monkeypatch):
    """Adding a figure = one function + one registration: drawn, written, on the page, in --help."""
    from trafficsim.cli.plot import _help
    from trafficsim.report.style import new_figure

    monkeypatch.setattr(figmod, "FIGURES", dict(figmod.FIGURES))  # registered for this test only

    @figmod.register_figure("toy_runs", caption="Total of {metric} per run.", summary="a toy figure")
    def toy(data, metric):
        fig = new_figure(3, 2)
        fig.subplots().bar(range(len(data.runs)), data.runs[metric])
        return fig

    rep = write_report(reports, tmp_path / "p", models=["tinyresnet"], metric="total_cycles")
    assert list(rep.files)[-1] == "toy_runs" and (tmp_path / "p" / "toy_runs.svg").exists()
    assert "<b>toy_runs</b>: Total of total cycles per run." in rep.page.read_text()
    assert "* **toy_runs**: a toy figure" in _help()
    with pytest.raises(ValueError, match="already registered"):
        figmod.register_figure("toy_runs", caption="", summary="")(lambda d, m: None)


def _relative_imports(path: Path) -> set[str]:
    import ast

    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add((node.module or "").split(".")[0])
    return out


def test_report_package_layers():
    """loading <- tables <- figures / page <- build: no circle; the page imports no figure code; loading and
    tables never import matplotlib."""
    import ast

    root = Path(report.__file__).parent
    graph = {f.stem: _relative_imports(f) - {"", "__init__"} for f in root.glob("*.py") if f.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(m: str, stack: tuple[str, ...]) -> None:
        assert state.get(m) != 1, f"import circle: {' -> '.join(stack + (m,))}"
        if state.get(m) == 2:
            return
        state[m] = 1
        for d in graph.get(m, ()):
            visit(d, stack + (m,))
        state[m] = 2

    for m in graph:
        visit(m, ())
    assert not {"figures", "build"} & graph["page"]
    for name in ("loading", "tables", "units"):
        tree = ast.parse((root / f"{name}.py").read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(str(m).startswith("matplotlib") for m in mods), name


# ---------------------------------------------------------------------------------------------
# the LLM study's figures (figures_llm.py): decode runs at several contexts and batches
# ---------------------------------------------------------------------------------------------
def test_llm_figures_from_decode_runs(tmp_path):
    from trafficsim.workload import with_workload
    from trafficsim.zoo.cache import model_topology

    hw = Hardware(ifmap_sram_kb=256, filter_sram_kb=256, ofmap_sram_kb=256)
    expected = {}
    for context, batch in ((128, 1), (512, 1), (128, 4)):
        t = with_workload(model_topology("gpt2", phase="decode", context=context), batch=batch, precision="bf16")
        r = simulate(t, hw, engine="capacity")
        write_run(r, t, tmp_path)
        expected[(context, batch)] = (metrics.traffic_split(r, t), r.totals()["macs"])
    data = load(tmp_path)
    # three networks (one per workload), each with its workload and traffic split in the runs table
    assert len(data.networks) == 3 and all(n.startswith("gpt2 (decode @") for n in data.networks)
    from trafficsim.report.figures_llm import decode_runs
    d = decode_runs(data)
    for _, row in d.iterrows():
        split, macs = expected[(row["context"], row["batch"])]
        assert row["weights_per_token"] * row["batch"] == split["weights"]
        assert row["kv_cache_per_token"] * row["batch"] == split["kv_cache"]
        assert row["per_token_bytes"] * row["batch"] == sum(split.values())
        assert row["intensity"] == pytest.approx(macs / sum(split.values()))
        assert row["balance"] == pytest.approx(32 * 32 / 12.8)  # 1024 MACs per cycle over 12.8 B per cycle
    assert (d["options"] == "").all()  # the workload is not taken for an engine option
    figs = plot(tmp_path)
    assert {"llm_bytes_per_token", "llm_intensity"} <= set(figs)
    bars = figs["llm_bytes_per_token"].axes
    # context panel: two contexts at batch 1, three classes stacked; the tallest bar is the whole step's bytes
    top = max(p.get_y() + p.get_height() for p in bars[0].patches)
    assert top == pytest.approx(sum(expected[(512, 1)][0].values()) / 1e6)
    # a report of CNN runs has neither
    assert not {"llm_bytes_per_token", "llm_intensity"} & set(plot_cnn(tmp_path / "cnn"))


def plot_cnn(folder):
    topo = tiny_resnet()
    write_run(simulate(topo, HW_SMALL, engine="capacity"), topo, folder)
    return plot(folder)
