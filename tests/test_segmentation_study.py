"""benchmarks/study_segmentation.py: correlation, reductions, and a small end-to-end run on the capacity engine."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "study_segmentation.py"


def _study():
    spec = importlib.util.spec_from_file_location("study_segmentation", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pearson_r_matches_numpy():
    study = _study()
    rng = np.random.default_rng(7)
    xs, ys = rng.random(9), rng.random(9)
    assert study.pearson_r(list(xs), list(ys)) == pytest.approx(np.corrcoef(xs, ys)[0, 1], rel=1e-12)
    assert study.pearson_r([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert math.isnan(study.pearson_r([1.0, 2.0], [1.0, 2.0]))


def test_summarise_reductions():
    study = _study()
    points = [
        {"net": "fc_hardnet84", "preset": "eyeriss", "engine": "capacity", "total_cycles": 65, "dram_bytes": 60},
        {"net": "fc_densenet103", "preset": "eyeriss", "engine": "capacity", "total_cycles": 100, "dram_bytes": 100},
    ]
    nets = [{"net": "fc_hardnet84", "cio_mib_352": 59.0}, {"net": "fc_densenet103", "cio_mib_352": 100.0}]
    s = study.summarise(nets, points, ("eyeriss",), ("capacity",))
    (r,) = s["reductions"]
    assert r["time_reduction_pct"] == pytest.approx(35.0) and r["dram_reduction_pct"] == pytest.approx(40.0)
    assert s["cio_reduction_pct_352"] == pytest.approx(41.0)
    assert s["correlations"] == []  # two networks are too few for a correlation
    assert r["compute_reduction_pct"] is None  # a point without compute cycles (SCALE-Sim's) has none


def test_summarise_splits_a_dram_run_into_compute_and_stall():
    study = _study()
    points = [
        {"net": "fc_hardnet84", "preset": "eyeriss", "engine": "capacity+ddr4-3200", "total_cycles": 80,
         "stall_cycles": 20, "compute_cycles": 60, "dram_bytes": 60},
        {"net": "fc_densenet103", "preset": "eyeriss", "engine": "capacity+ddr4-3200", "total_cycles": 100,
         "stall_cycles": 0, "compute_cycles": 100, "dram_bytes": 100},
    ]
    (r,) = study.summarise([], points, ("eyeriss",), ("capacity+ddr4-3200",))["reductions"]
    assert r["time_reduction_pct"] == pytest.approx(20.0) and r["compute_reduction_pct"] == pytest.approx(40.0)
    assert r["stall_share_pct"] == pytest.approx((25.0, 0.0))


@pytest.mark.slow
def test_small_study_writes_table_figure_and_summary(tmp_path):
    study = _study()
    nets = ["fc_densenet56", "fc_hardnet68", "segnet"]
    assert study.main(["--out", str(tmp_path), "--nets", *nets, "--engines", "capacity", "--presets", "eyeriss"]) == 0
    for name in ("networks.csv", "networks.md", "results.csv", "results.md", "summary.md", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "cycles_vs_dram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = [json.loads(p.read_text()) for p in sorted((tmp_path / "points").glob("*.json"))]
    assert sorted(p["net"] for p in points) == sorted(nets)
    by = {p["net"]: p for p in points}
    # FC-HarDNet-68 moves less data and takes fewer cycles than FC-DenseNet-56 (the paper's 65 % CIO cut)
    assert by["fc_hardnet68"]["dram_bytes"] < 0.6 * by["fc_densenet56"]["dram_bytes"]
    assert by["fc_hardnet68"]["total_cycles"] < by["fc_densenet56"]["total_cycles"]
    (corr,) = json.loads((tmp_path / "summary.json").read_text())["correlations"]
    assert corr["networks"] == 3 and -1.0 <= corr["pearson_r"] <= 1.0
    # cached points are reused: a second run does not simulate again
    mtime = (tmp_path / "points" / "segnet__eyeriss__capacity.json").stat().st_mtime_ns
    study.main(["--out", str(tmp_path), "--nets", "segnet", "--engines", "capacity", "--presets", "eyeriss"])
    assert (tmp_path / "points" / "segnet__eyeriss__capacity.json").stat().st_mtime_ns == mtime
