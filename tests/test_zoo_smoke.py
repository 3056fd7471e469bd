"""Every zoo model end to end as a user runs it: convert to a SCALE-Sim CSV, simulate on a small array
(16x16, where the whole zoo costs ~20 CPU-s), a complete run folder that pandas and json read."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from trafficsim.inputs import resolve_topology
from trafficsim.topology import expand_dp, read_csv, scalesim_rows
from trafficsim.zoo import list_models, model_sequence


def _small_options(name: str) -> list[str]:
    """Token models at a size a smoke test affords: decoders one decode step, encoders 16 tokens."""
    seq = model_sequence(name)
    if seq is None:
        return []
    return ["--phase", "decode", "--context", "64"] if "context" in seq else ["--seq", "16"]


@pytest.mark.parametrize("name", list_models())
def test_zoo_model_converts_runs_and_writes_a_run_folder(name, tmp_path, cli):
    csv = tmp_path / f"{name}.csv"
    options = _small_options(name)
    rc, _, err = cli(["convert", name, "-o", csv, *options])
    assert rc == 0, err
    kwargs = dict(zip(("phase", "context"), options[1::2])) if "--phase" in options else (
        {"seq_len": 16} if options else {})
    if "context" in kwargs:
        kwargs["context"] = int(kwargs["context"])
    topology = resolve_topology(name, **kwargs)
    # the CSV holds exactly the rows the engines simulate
    assert [(r.name, r.ifmap_h, r.ifmap_w, r.filter_h, r.filter_w, r.channels, r.num_filters, r.stride)
            for r in scalesim_rows(read_csv(csv))] == \
           [(r.name, r.ifmap_h, r.ifmap_w, r.filter_h, r.filter_w, r.channels, r.num_filters, r.stride)
            for r in scalesim_rows(topology)]
    rc, out, err = cli(["run", name, *options, "--array", "16x16", "--out", tmp_path / "reports", "-q"])
    assert rc == 0, err
    folder = tmp_path / "reports" / out.strip().split("/")[-1]
    assert folder.is_dir() and folder.name.startswith(f"{name}-16x16-")
    summary = json.loads((folder / "summary.json").read_text())
    layers = pd.read_csv(folder / "layers.csv")
    assert summary["model"] == topology.name and len(layers) == len(topology.layers)
    totals = summary["totals"]
    # SCALE-Sim's MACs are those of its rows (a transposed conv runs as a conv over the zero-stuffed input);
    # layers.csv keeps the model's own
    rows = expand_dp(scalesim_rows(topology))
    assert totals["macs"] == sum(r.out_h * r.out_w * r.filter_h * r.filter_w * r.channels * r.num_filters
                                 for r in rows)
    assert totals["total_cycles"] > 0 and totals["dram_words"] > 0
    assert int(layers["macs"].sum()) == topology.macs
    for report in ("COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv", "DETAILED_ACCESS_REPORT.csv", "hardware.cfg"):
        assert (folder / report).is_file(), report
