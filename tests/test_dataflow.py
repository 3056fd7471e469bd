"""The one dataflow table (trafficsim.dataflow) and the code that reads it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from trafficsim import dataflow as df
from trafficsim.engines.compat import fold_geometry
from trafficsim.engines.capacity import compute_counts
from trafficsim.hardware import DATAFLOWS, Hardware
from trafficsim.topology import Layer, scalesim_rows

ENGINES = Path(df.__file__).parent / "engines"


def test_table_rows() -> None:
    assert DATAFLOWS == df.DATAFLOWS == ("os", "ws", "is")
    assert [df.code(n) for n in DATAFLOWS] == [df.OS, df.WS, df.IS] == [0, 1, 2]
    # SCALE-Sim's systolic_compute_{os,ws,is}.py: (Sr, Sc, T) over E (pixels), RSC (window), K (filters)
    assert df.spatial_temporal("os", 10, 20, 30) == (10, 30, 20)
    assert df.spatial_temporal("ws", 10, 20, 30) == (20, 30, 10)
    assert df.spatial_temporal("is", 10, 20, 30) == (20, 10, 30)
    assert {d.stationary for d in df.TABLE.values()} == {"ofmap", "filter", "ifmap"}
    with pytest.raises(ValueError, match="exactly once"):
        df.Dataflow("xx", 3, "E", "E", "K", "ofmap")


@pytest.mark.parametrize("name", DATAFLOWS)
def test_engines_read_the_table(name: str) -> None:
    layer = Layer("c", "conv", 6, 9, 9, 5, 7, 7, 3, 3)
    row = scalesim_rows(__import__("trafficsim").Topology("t", (layer,)))[0]
    hw = Hardware(array_rows=4, array_cols=8, dataflow=name)
    g = fold_geometry(row, hw)
    assert (g.spatial_rows, g.spatial_cols, g.temporal) == df.spatial_temporal(name, 49, 54, 5)
    assert g.code == df.code(name)
    # the capacity model's fold count follows the same table
    rows_per_fold = g.rows_per_fold
    assert compute_counts(layer, hw).compute_cycles == g.row_folds * g.col_folds * rows_per_fold


def test_no_literal_dataflow_codes() -> None:
    # the kernel and the engines compare named codes (df.OS...), never 0/1/2 or the names' strings
    paths = sorted(ENGINES.glob("*.py"))
    assert len(paths) >= 8
    for path in paths:
        text = path.read_text()
        assert not re.search(r"\bcode\s*[!=]=\s*\d", text), path
        assert not re.search(r"\{\s*[\"']os[\"']\s*:\s*0", text), path   # a private copy of the table
        assert not re.search(r"dataflow\s*[!=]=\s*\d", text), path
        assert not re.search(r"(dataflow|df)\s*[!=]=\s*[\"'](os|ws|is)[\"']", text), path
