"""The checked-in exports (trafficsim/data/topologies/*.json, topologies/*.csv) are up to date, and
cached topologies load without torch."""
from __future__ import annotations

import subprocess
import sys

import pytest

from trafficsim.topology import Topology, topology_csv_text
from trafficsim.zoo import list_models
from trafficsim.zoo.cache import build_model_topology, default_input_shape, model_topology
from trafficsim.zoo.export import CSV_DIR, JSON_DIR, export_model, topology_json_text

STALE_HINT = "stale export: run 'python -m trafficsim.zoo.export' and commit the files"


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_checked_in_exports_are_current(name):
    fresh = build_model_topology(name, default_input_shape(name))
    json_path, csv_path = JSON_DIR / f"{name}.json", CSV_DIR / f"{name}.csv"
    assert json_path.is_file() and csv_path.is_file(), STALE_HINT
    assert json_path.read_text() == topology_json_text(fresh), STALE_HINT
    assert csv_path.read_text() == topology_csv_text(fresh, "conv"), STALE_HINT
    assert Topology.from_json(json_path) == fresh  # the compact JSON reads back exactly


def test_export_writes_both_files(tmp_path):
    t = export_model("resnet18", json_dir=tmp_path / "json", csv_dir=tmp_path / "csv")
    assert Topology.from_json(tmp_path / "json" / "resnet18.json") == t
    assert (tmp_path / "csv" / "resnet18.csv").read_text() == topology_csv_text(t)
    assert t.params == 11_689_512 and t.input_shape == (3, 224, 224)


def test_cached_topology_loads_without_torch():
    code = ("import sys; from trafficsim.zoo.cache import model_topology; t = model_topology('HarDNet-68'); "
            "assert t.name == 'hardnet68' and len(t.layers) == 68 and t.params == 17565348, t.name; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_other_input_shape_is_traced():
    t = model_topology("resnet18", "3x64x96")
    assert t.input_shape == (3, 64, 96) and t.layers[0].out_h == 32 and t.layers[0].out_w == 48
    assert model_topology("resnet18", (3, 64, 96)) is t  # memoised
