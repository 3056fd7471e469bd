"""Sweep axes beyond the array: engine options, DRAMs and workloads (batch, precision, phase, seq_len, context).

Every point of a sweep must equal the single run of the same topology, hardware and options; keys that apply
to no point, values the engines refuse and options an engine does not take are one line."""
from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from trafficsim import Layer, Topology
from trafficsim.cli import main as cli_main
from trafficsim.dram import DramConfig
from trafficsim.engines import PrecisionIgnoredWarning, simulate
from trafficsim.engines.capacity import CapacityOptions
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.sweeps import SweepSpec, expand, read_spec, run_spec, sweep
from trafficsim.workload import parse_precision, with_workload
from trafficsim.zoo.cache import model_topology

from test_sweep import small_topology  # the three-layer net (conv, depthwise, linear) the sweep tests share

TINY_DECODER = str(Path(__file__).parent / "data" / "tiny_decoder.py") + ":model"


QUIET = dict(executor="serial", cache_dir=None, progress=False)


def totals(topology: Topology, hw: Hardware, engine: str, options=None) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate(topology, hw, engine=engine, options=options).totals()


def same_totals(row: pd.Series, expected: dict) -> None:
    for k, v in expected.items():
        got = row[k]
        if isinstance(v, float):
            assert got == pytest.approx(v, rel=1e-12), k
        else:
            assert got == v, k


# ---------------------------------------------------------------------------------------------
# Engine options
# ---------------------------------------------------------------------------------------------
def test_option_axes_equal_single_runs_and_are_columns() -> None:
    topo = small_topology()
    df = sweep(models=[topo], arrays=["4x4", "8x8"], engine="capacity", tiling=["per-operand", "uniform"],
               concat="materialised", fuse_pool_add=[False, True], **QUIET)
    assert len(df) == 2 * 2 * 2
    assert df["tiling"].tolist() == ["per-operand", "per-operand", "uniform", "uniform"] * 2
    assert set(df["concat"]) == {"materialised"} and df["fuse_pool_add"].tolist() == [False, True] * 4
    for row in df.itertuples():
        hw = Hardware(array_rows=row.array_rows, array_cols=row.array_cols)
        opts = CapacityOptions(tiling=row.tiling, concat="materialised", fuse_pool_add=row.fuse_pool_add)
        same_totals(df.loc[row.Index], totals(topo, hw, "capacity", opts))
    # the options differ where they should: uniform tiling moves more on a small array's buffers
    small = sweep(models=[topo], arrays=["4x4"], sram_kb=[1], engine="capacity", tiling=["per-operand", "uniform"],
                  **QUIET)
    assert small["dram_bytes"].iloc[0] <= small["dram_bytes"].iloc[1]


def test_default_options_keep_the_cache_key(tmp_path: Path) -> None:
    kw = dict(models=[small_topology()], arrays=["4x4", "8x8"], engine="capacity", executor="serial",
              cache_dir=tmp_path, progress=False)
    assert sweep(**kw).attrs["computed"] == 2
    again = sweep(**kw, tiling="per-operand", attention="unfused")  # the engine's defaults, said out loud
    assert again.attrs["computed"] == 0 and again["tiling"].tolist() == ["per-operand"] * 2
    assert sweep(**kw, tiling="uniform").attrs["computed"] == 2  # another option: other points


def test_options_of_a_spec_file_and_the_engine_override(tmp_path: Path, capsys) -> None:
    (tmp_path / "tiny.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                                       "Channels, Num Filter, Strides,\nconv1,12,12,3,3,3,8,1,\n")
    spec = tmp_path / "spec.toml"
    spec.write_text('models = ["tiny.csv"]\narrays = ["4x4"]\ntiling = ["per-operand", "uniform"]\n')
    out = tmp_path / "out.csv"
    # compat takes no options: one line naming the engines that take it, file:line
    assert cli_main(["sweep", str(spec), "-q", "-x", "serial", "--no-cache", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"trafficsim: error: {spec}:3: tiling: engine 'compat' takes no option 'tiling' (an option of "
                   "capacity; set engine accordingly)")
    assert not out.exists()
    # --engine decides before the spec is checked
    assert cli_main(["sweep", str(spec), "-q", "-x", "serial", "--no-cache", "-o", str(out), "-e", "capacity"]) == 0
    table = pd.read_csv(out)
    assert table["tiling"].tolist() == ["per-operand", "uniform"] and set(table["engine"]) == {"capacity"}


@pytest.mark.parametrize("kwargs, message", [
    (dict(engine="compat", tiling="uniform"), "tiling: engine 'compat' takes no option 'tiling' (an option of capacity"),
    (dict(engine="capacity", tiling=["tiled"]), "tiling must be 'per-operand' or 'uniform', got 'tiled'"),
    (dict(engine="capacity", fuse_pool_add="yes"), "fuse_pool_add must be true or false, got 'yes'"),
    (dict(engine="capacity", tiling=[]), "tiling: tiling is empty"),
    (dict(engine="capacity", attention=[1]), "attention must be a string, got 1"),
    (dict(engine="capacity", colour="red"), "unknown hardware field 'colour'"),
    (dict(engine="capacity", energy="dram=1"), "energy must be a EnergyTable, a table of its fields, got 'dram=1'"),
    (dict(engine="capacity", energy={"dram": 1.0}), "energy: unknown field(s) dram; known: dram_pj_per_byte"),
    (dict(engine="capacity", tiling=["per-operand", "uniform"], points=[{"array": "4x4"}]),
     "give either points or the tiling grid, not both"),
    (dict(engine="capacity", points=[{"array": "4x4", "tiling": "x"}]), "points: point 0: tiling must be"),
    (dict(engine="compat", points=[{"array": "4x4", "concat": "materialised"}]),
     "points: point 0: concat: engine 'compat' takes no option 'concat'"),
])
def test_option_errors_are_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        sweep(models=[small_topology()], **QUIET, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert not re.match(r"(\w+): \1: ", str(err.value)), str(err.value)  # the key named once ("energy: energy: ")


def test_record_valued_options_take_tables() -> None:
    from trafficsim.energy import EnergyTable

    df = sweep(models=[small_topology()], engine="capacity", arrays=["4x4"],
               energy=[{"dram_pj_per_byte": 100.0}, EnergyTable(dram_pj_per_byte=200.0)], **QUIET)
    assert df["energy_dram_uj"].iloc[1] == pytest.approx(2 * df["energy_dram_uj"].iloc[0], rel=1e-12)
    assert df["energy"].iloc[0].startswith("dram_pj_per_byte=100.0,")


def test_options_in_points_and_as_base_values() -> None:
    topo = small_topology()
    df = sweep(models=[topo], engine="capacity", tiling="uniform", **QUIET,
               points=[{"array": "4x4"}, {"array": "8x8", "tiling": "per-operand"}])
    assert df["tiling"].tolist() == ["uniform", "per-operand"]
    same_totals(df.iloc[0], totals(topo, Hardware(array_rows=4, array_cols=4), "capacity",
                                   CapacityOptions(tiling="uniform")))
    same_totals(df.iloc[1], totals(topo, Hardware(array_rows=8, array_cols=8), "capacity", CapacityOptions()))


# ---------------------------------------------------------------------------------------------
# DRAMs
# ---------------------------------------------------------------------------------------------
def test_dram_values_in_every_form() -> None:
    spec = SweepSpec(models=[small_topology()], engine="capacity",
                     dram=["ideal", "DDR4-3200", "ddr4-3200 channels=2 page_policy=closed",
                           {"standard": "lpddr4-3200", "ranks": 2}, DramConfig("hbm2"), "ideal bandwidth_gbs=25.6",
                           "ddr4"])
    drams = [p.hardware.dram for p in expand(spec).points]
    assert drams[0] == DramConfig()
    assert drams[1] == DramConfig("ddr4-3200")  # case-insensitive, stored by the preset's name
    assert drams[2] == DramConfig("ddr4-3200", channels=2, page_policy="closed")
    assert drams[3] == DramConfig("lpddr4-3200", ranks=2)
    assert drams[4] == DramConfig("hbm2")
    assert drams[5] == DramConfig(bandwidth_gbs=25.6)
    assert drams[6] == DramConfig("ddr4-2400")  # an alias: the preset it names
    # fields not named keep the base hardware's
    base = Hardware(dram=DramConfig("ddr4-3200", page_policy="closed"))
    spec = SweepSpec(models=[small_topology()], hardware=base, dram=["lpddr4-3200", "ddr4-3200 page_policy=open"])
    assert [p.hardware.dram for p in expand(spec).points] == [DramConfig("lpddr4-3200", page_policy="closed"),
                                                             DramConfig("ddr4-3200")]


@pytest.mark.parametrize("dram, message", [
    ("ddr9-9999", "dram: unknown DRAM standard 'ddr9-9999'"),
    ("ddr4-3200 channels=3", "channels = 3 does not fit the address mapping"),
    ("ddr4-3200 channels", "write the standard, then key=value overrides"),
    ("ddr4-3200 colour=red", "unknown DRAM key 'colour'"),
    ("ddr4-3200 channels=two", "DRAM channels must be an integer, got 'two'"),
    ({"standard": "ddr4-3200", "speed": 3}, "unknown DRAM key(s) speed"),
    ("ideal timings=nCL=20", "the ideal DRAM has no org or timings"),
    ("", "is empty"),
    (5, "must be a standard name such as 'ddr4-3200'"),
])
def test_dram_errors_are_one_line(dram, message: str) -> None:
    with pytest.raises(InputError) as err:
        sweep(models=[small_topology()], dram=[dram], engine="capacity", **QUIET)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert str(err.value).startswith("dram: ")


def test_dram_columns_and_a_refusal_for_engines_without_a_dram_model(tmp_path: Path) -> None:
    # the compat engine times SCALE-Sim's DRAM requests on a standard (issue 13 item 5): no warning, DRAM columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = sweep(models=[small_topology()], arrays=["4x4"], dram=["ideal", "ddr4-3200 channels=2"], **QUIET)
    assert pd.isna(df["row_hit_rate"].iloc[0]) and 0 < df["row_hit_rate"].iloc[1] <= 1
    assert df["total_cycles"].iloc[1] >= df["total_cycles"].iloc[0]
    # the real SCALE-Sim has no DRAM model: refused in one line, as a single run refuses it
    with pytest.raises(InputError, match="engine 'scalesim' does not model the DRAM: drop dram ddr4-3200"):
        sweep(models=[small_topology()], arrays=["4x4"], dram=["ddr4-3200"], engine="scalesim", **QUIET)
    assert df["dram_standard"].tolist() == ["ideal", "ddr4-3200"]
    assert df["dram_channels"].tolist()[1] == 2 and pd.isna(df["dram_channels"].tolist()[0])
    assert str(df["dram_channels"].dtype) == "Int64"
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    assert path.read_text().splitlines()[2].split(",")[df.columns.get_loc("dram_channels")] == "2"  # not 2.0
    # an ideal pipe of another bandwidth: the capacity engine's time moves, compat's does not
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cap = sweep(models=[small_topology()], arrays=["4x4"], engine="capacity",
                    dram=["ideal bandwidth_gbs=0.001", "ideal bandwidth_gbs=1000"], **QUIET)
    assert cap["dram_bandwidth_gbs"].tolist() == [0.001, 1000.0]
    assert cap["latency_ms"].iloc[0] > cap["latency_ms"].iloc[1]


def test_dram_and_layout_axes_on_the_capacity_engine(tmp_path: Path) -> None:
    """Issue 13 item 6: ``dram=[...]`` x ``layout=[...]`` on the capacity engine; every point equals its single
    run, DRAM-standard points carry the DRAM model's columns (ideal ones leave them empty), the layout moves the
    bursts but not the tiling's bytes, the cache gives the same table back, and the printed table fits."""
    from trafficsim.cli.sweep import table_lines

    topo = Topology("dw", (Layer("stem", "conv", 3, 32, 32, 16, 16, 16, 3, 3, 2, 2, 1, 1),
                           Layer("dw", "dwconv", 16, 16, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, groups=16),
                           Layer("fc", "linear", 16, 1, 1, 10, 1, 1)))
    kw = dict(models=[topo], arrays=["4x4"], sram_kb=[1], engine="capacity", dram=["ideal", "ddr4-3200"],
              layout=["nchw", "nhwc"], executor="serial", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the capacity engine models the DRAM: no warning
        df = sweep(**kw, cache_dir=str(tmp_path))
    assert df["dram_standard"].tolist() == ["ideal", "ideal", "ddr4-3200", "ddr4-3200"]
    assert df["layout"].tolist() == ["nchw", "nhwc"] * 2
    for row in df.itertuples():
        hw = Hardware(array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
                      dram=DramConfig(row.dram_standard))
        same_totals(df.loc[row.Index], totals(topo, hw, "capacity", CapacityOptions(layout=row.layout)))
    for column in ("dram_energy_pj", "row_hit_rate", "achieved_bandwidth_gbs", "dram_moved_bytes", "row_hits"):
        assert df[column].iloc[:2].isna().all() and df[column].iloc[2:].notna().all(), column
    assert str(df["dram_moved_bytes"].dtype) == "Int64"  # counts with gaps stay integers
    assert ((df["row_hit_rate"].iloc[2:] > 0) & (df["row_hit_rate"].iloc[2:] <= 1)).all()
    assert df["dram_cycles"].notna().all()  # the ideal pipe has its own DRAM time (bytes / bandwidth)
    # the ideal pipe does not look at the layout; on DDR4 the depthwise layer's NHWC tiles read more bursts
    assert df["total_cycles"].iloc[0] == df["total_cycles"].iloc[1]
    assert df["dram_bytes"].nunique() == 1
    assert df["dram_moved_bytes"].iloc[3] > df["dram_moved_bytes"].iloc[2] >= df["dram_bytes"].iloc[2]
    # a second run reads every point from the cache: the same table
    assert df.attrs["computed"] == 4
    again = sweep(**kw, cache_dir=str(tmp_path))
    assert again.attrs["cached"] == 4 and again.attrs["computed"] == 0 and again.equals(df)
    lines = table_lines(df, 80)
    assert all(len(line) <= 80 for line in lines)
    assert "layout" in lines[0].split() and "nhwc" in lines[2].split() and "ddr4-3200" in lines[3].split()


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_point_the_engine_refuses_is_named(executor: str) -> None:
    """A combination the engine refuses (batch > 1 on a DRAM standard, for now) stops the sweep with one line that
    says which point, whichever executor ran it."""
    with pytest.raises(InputError) as err:
        sweep(models=[small_topology()], arrays=["4x4"], sram_kb=[1], engine="capacity", batch=[1, 2],
              dram=["ideal", "ddr4-3200"], layout="nhwc", executor=executor, workers=2, cache_dir=None,
              progress=False)
    message = str(err.value)
    assert message.startswith("point small batch 2, 4x4 ws 1 kB, ddr4-3200, layout=nhwc: batch 2 is not modelled "
                              "on a DRAM standard"), message
    assert "\n" not in message


def test_layout_is_an_option_of_the_capacity_engine_only() -> None:
    with pytest.raises(InputError) as err:
        sweep(models=[small_topology()], layout=["nchw", "nhwc"], **QUIET)
    assert str(err.value) == ("layout: engine 'compat' takes no option 'layout' (an option of capacity; "
                              "set engine accordingly)")
    with pytest.raises(InputError) as err:
        sweep(models=[small_topology()], engine="capacity", layout=["nchw", "nwhc"], **QUIET)
    assert str(err.value) == ("layout: unknown feature-map layout 'nwhc': choose nchw, nhwc or nchwc<B> "
                              "(e.g. nchwc8)")


# ---------------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------------
def test_batch_and_precision_equal_single_runs() -> None:
    topo = small_topology()
    df = sweep(models=[topo], arrays=["4x4"], engine="capacity", batch=[1, 4], precision=["int8", "w8a16", 0.5],
               **QUIET)
    assert df["batch"].tolist() == [1, 1, 1, 4, 4, 4]
    assert df["precision"].tolist() == ["int8", "w8a16", "int4"] * 2
    for row in df.itertuples():
        t = with_workload(topo, batch=row.batch, precision={"int8": "int8", "w8a16": "w8a16", "int4": 0.5}[row.precision])
        same_totals(df.loc[row.Index], totals(t, Hardware(array_rows=4, array_cols=4), "capacity"))
    assert df["dram_bytes"].iloc[1] > df["dram_bytes"].iloc[0] > df["dram_bytes"].iloc[2]  # 16-bit > 8 > 4
    # a CNN sweep without workload keys has no workload columns (its table is as before)
    plain = sweep(models=[topo], arrays=["4x4"], **QUIET)
    assert not {"batch", "precision", "phase", "seq_len", "context"} & set(plain.columns)


def test_compat_names_the_precision_it_ignores_once() -> None:
    with pytest.warns(PrecisionIgnoredWarning) as record:
        df = sweep(models=[small_topology()], arrays=["4x4", "8x8"], precision=["int8", "bf16"], **QUIET)
    assert len([w for w in record if w.category is PrecisionIgnoredWarning]) == 1
    assert df["precision"].tolist() == ["int8", "int8", "16bit", "16bit"]
    assert df["dram_words"].iloc[:2].tolist() == df["dram_words"].iloc[2:].tolist()  # 1-byte words both times


def test_decoder_phases_contexts_and_batches() -> None:
    spec = SweepSpec(models=["gpt2", "bert_base", "squeezenet1_0"], engine="capacity", phase=["prefill", "decode"],
                     context=[64, 256], batch=[1, 2], executor="serial", cache_dir=None, progress=False)
    expanded = expand(spec)
    rows = [(expanded.labels[p.model_index],) + tuple(getattr(expanded.topologies[p.model_index], k)
                                                      for k in ("phase", "seq_len", "context", "batch"))
            for p in expanded.points]
    assert rows == [("gpt2", "prefill", 1024, None, 1), ("gpt2", "prefill", 1024, None, 2),
                    ("gpt2", "decode", 1, 64, 1), ("gpt2", "decode", 1, 64, 2),
                    ("gpt2", "decode", 1, 256, 1), ("gpt2", "decode", 1, 256, 2),
                    ("bert_base", None, 128, None, 1), ("bert_base", None, 128, None, 2),
                    ("squeezenet1_0", None, None, None, 1), ("squeezenet1_0", None, None, None, 2)]
    # each traced workload once; batch copies share its layers
    decode64 = [t for t in expanded.topologies if t.context == 64]
    assert len(decode64) == 2 and decode64[0].layers is decode64[1].layers
    assert decode64[0] == model_topology("gpt2", phase="decode", context=64)
    # a decode point equals the single run
    df = run_spec(spec.with_(models=["gpt2"], phase="decode", context=64, batch=2, precision="w8a16"))
    t = with_workload(model_topology("gpt2", phase="decode", context=64), batch=2, precision="w8a16")
    same_totals(df.iloc[0], totals(t, Hardware(), "capacity"))
    assert df[["phase", "seq_len", "context", "batch", "precision"]].iloc[0].tolist() == ["decode", 1, 64, 2, "w8a16"]


def test_sequence_lengths_of_a_user_decoder() -> None:
    pytest.importorskip("torch")
    spec = SweepSpec(models=[TINY_DECODER], engine="capacity", phase=["prefill", "decode"], seq_len=[4, 8],
                     context=[16], executor="serial", cache_dir=None, progress=False)
    expanded = expand(spec)
    got = [(t.phase, t.seq_len, t.context) for t in (expanded.topologies[p.model_index] for p in expanded.points)]
    assert got == [("prefill", 4, None), ("prefill", 8, None), ("decode", 1, 16)]
    assert set(expanded.labels) == {"tiny_decoder.model"}  # named by the input layer: file stem and attribute
    # a token model needs its sequence: a grid without one is the input layer's one line
    with pytest.raises(InputError, match="a sequence length is required for this model"):
        expand(spec.with_(phase=None, seq_len=None, context=None))


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch=0), "batch: batch must be a positive integer, got 0"),
    (dict(batch=[True]), "batch: batch must be a positive integer, got True"),
    (dict(batch=10**30), "batch: batch 1000000000000000000000000000000 is beyond 1,000,000"),
    (dict(precision="w9a3"), "precision: precision 'w9a3': 9 bits is not one of 2, 4, 8, 16, 32"),
    (dict(precision=["fp64"]), "precision: unknown precision 'fp64'"),
    (dict(phase="train"), "phase: unknown phase 'train': choose prefill or decode"),
    (dict(seq_len=0), "seq_len: seq_len must be a positive integer, got 0"),
    (dict(context=10**30), "context: context 1000000000000000000000000000000 is beyond"),
    (dict(seq_len=[128]), "seq_len: no model of this sweep takes a sequence length"),
    (dict(phase="decode"), "phase: no model of this sweep is a decoder"),
    (dict(models=["bert_base"], context=[64]), "context: no model of this sweep is a decoder"),
    (dict(models=["gpt2"], seq_len=[64], context=[64]), "seq_len: no point of this sweep takes a sequence length"),
    (dict(models=["gpt2"], phase="prefill", context=[64]), "context: no point of this sweep is a decode step"),
    (dict(models=["gpt2"], context=[5000]), "gpt2 has 1,024 positions: 5,001 tokens do not fit"),
    (dict(points=[{"seq_len": 128}]), "points: point 0: seq_len does not apply to small (a topology given as such"),
    (dict(models=["resnet18"], points=[{"context": 128}]), "points: point 0: context does not apply to resnet18 "
                                                            "(an image model)"),
    (dict(models=["bert_base"], points=[{"phase": "decode"}]), "phase does not apply to bert_base (an encoder"),
    (dict(batch=[1, 2], points=[{"array": "4x4"}]), "give either points or the batch grid, not both"),
    (dict(points=[{"batch": -1}]), "points: point 0: batch must be a positive integer, got -1"),
])
def test_workload_errors_are_one_line(kwargs: dict, message: str) -> None:
    kwargs = {"models": [small_topology()], **kwargs}
    with pytest.raises(InputError) as err:
        sweep(engine="capacity", **QUIET, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_workloads_and_drams_in_a_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent("""\
        models = ["gpt2"]
        engine = "capacity"
        context = [32, 64]
        batch = 2
        precision = ["w8a16"]
        dram = ["ideal", "ideal bandwidth_gbs=25.6"]
        tiling = "uniform"
        [hardware]
        dram_bandwidth_gbs = 6.4
        """))
    parsed, _ = read_spec(spec)
    assert parsed.context == (32, 64) and parsed.batch == (2,) and parsed.precision == (parse_precision("w8a16"),)
    assert parsed.options == (("tiling", ("uniform",)),) and parsed.hardware.dram.bandwidth_gbs == 6.4
    df = run_spec(parsed.with_(executor="serial", cache_dir=None, progress=False))
    # "ideal" names the standard only: the bandwidth stays the base hardware's
    assert list(zip(df["context"], df["dram_bandwidth_gbs"])) == [(32, 6.4), (32, 25.6), (64, 6.4), (64, 25.6)]
    assert set(df["tiling"]) == {"uniform"} and set(df["batch"]) == {2} and set(df["phase"]) == {"decode"}


@pytest.mark.parametrize("text, message", [
    ("batch = [0]\n", "spec.toml:2: batch: batch must be a positive integer, got 0"),
    ("dram = ['ddr9']\n", "spec.toml:2: dram: unknown DRAM standard 'ddr9'"),
    ("tiling = 'flat'\n", "spec.toml:2: tiling: engine 'compat' takes no option 'tiling'"),
    ("colour = 1\n", "spec.toml:2: unknown key(s) colour; known: models, arrays, dataflows, sram_kb, dram"),
    ("[hardware]\ndram = 'ddr4-3200 channels=3'\n", "spec.toml:3: [hardware] dram: DRAM channels = 3 does not fit"),
])
def test_spec_file_errors_name_the_line(tmp_path: Path, capsys, text: str, message: str) -> None:
    (tmp_path / "tiny.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                                       "Channels, Num Filter, Strides,\nconv1,12,12,3,3,3,8,1,\n")
    spec = tmp_path / "spec.toml"
    spec.write_text("models = ['tiny.csv']\n" + text)
    out = tmp_path / "x.csv"
    assert cli_main(["sweep", str(spec), "-q", "-o", str(out), "--cache-dir", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("trafficsim: error: ") and "\n" not in err and message in err, err
    assert not out.exists() and not (tmp_path / "c").exists()


def test_printed_table_shows_what_tells_rows_apart(tmp_path: Path) -> None:
    from trafficsim.cli.sweep import table_lines

    df = sweep(models=["gpt2"], engine="capacity", context=[32, 64], batch=[1, 8], tiling=["per-operand", "uniform"],
               dram=["ideal", "ideal bandwidth_gbs=25.6"], **QUIET)
    lines = table_lines(df, 80)
    assert all(len(line) <= 80 for line in lines)
    header = lines[0].split()
    for column in ("model", "context", "batch", "DRAM", "tiling", "bytes"):
        assert column in header, header
    first = lines[1].split()
    assert first[:3] == ["gpt2", "32", "1"] and "ideal-12.8GBs" in first and "per-operand" in first


def test_per_layer_rows_keep_the_point_columns() -> None:
    """Per-layer rows carry the point's option and workload columns; a layer field of the same name (the capacity
    engine's per-layer ``tiling``, the tile it chose) is renamed ``layer_tiling``; layers sum to the totals."""
    kw = dict(models=[small_topology()], arrays=["4x4"], engine="capacity", tiling=["per-operand", "uniform"],
              batch=[1, 2], **QUIET)
    layers = sweep(**kw, per_layer=True)
    points = sweep(**kw)
    assert set(layers["tiling"]) == {"per-operand", "uniform"} and "layer_tiling" in layers.columns
    summed = layers.groupby(["tiling", "batch"], sort=False)["dram_bytes"].sum().tolist()
    assert summed == points["dram_bytes"].tolist()


# ---------------------------------------------------------------------------------------------
# The one input layer
# ---------------------------------------------------------------------------------------------
def test_models_and_hardware_go_through_the_input_layer(tmp_path: Path) -> None:
    """Models resolve as inputs.resolve_topology resolves them (a topology JSON too); hardware keys are
    inputs.apply_options' fields, and the Hardware field ``bandwidth`` keeps its meaning (the OFMAP rate alone)."""
    from trafficsim.inputs import resolve_topology
    from trafficsim.sweeps import resolve_model

    path = tmp_path / "small.json"
    small_topology().to_json(path)
    assert resolve_model(str(path)) == resolve_topology(str(path)) == small_topology()
    df = sweep(models=[str(path)], arrays=["4x4"], bandwidth_mode="USER", bandwidth=7, **QUIET)
    assert df["model"].tolist() == ["small"]
    assert df[["bandwidth_mode", "bandwidth"]].iloc[0].tolist() == ["USER", 7]
    assert "ifmap_dram_bw" not in df.columns  # unchanged: the rate of the OFMAP drain alone was set
    same_totals(df.iloc[0], totals(small_topology(), Hardware(array_rows=4, array_cols=4, bandwidth_mode="USER",
                                                              bandwidth=7), "compat"))
