"""Sweeps: executors agree exactly, the cache is reused, a SIGKILLed sweep resumes, bad input is one line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from trafficsim import Layer, Topology
from trafficsim.cli import main as cli_main
from trafficsim.errors import InputError
from trafficsim.hardware import Hardware
from trafficsim.sweeps import PointCache, point_key, read_spec, run_spec, sweep, topology_digest

ENGINE = "compat"

TINY_CSV = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1,12,12,3,3,3,8,1,
conv2,10,10,3,3,8,16,2,
pw3,5,5,1,1,16,12,1,
"""


def small_topology() -> Topology:
    """A three-layer net with a depthwise layer and a linear layer (exercises DP expansion)."""
    layers = (
        Layer("stem", "conv", 3, 16, 16, 8, 8, 8, 3, 3, 2, 2, 1, 1),
        Layer("dw", "dwconv", 8, 8, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, groups=8),
        Layer("fc", "linear", 8, 1, 1, 10, 1, 1),
    )
    return Topology("small", layers)


@pytest.fixture()
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_CSV)
    return path


def grid(tiny_csv: Path) -> dict:
    return dict(models=[small_topology(), str(tiny_csv)], arrays=["4x4", (8, 4), "16x16"],
                dataflows=["os", "ws", "is"], sram_kb=[1, (2, 1, 4)], engine=ENGINE, progress=False)


def test_serial_and_process_agree(tiny_csv: Path) -> None:
    serial = sweep(**grid(tiny_csv), executor="serial", cache_dir=None)
    assert len(serial) == 2 * 3 * 3 * 2
    assert list(serial["model"].unique()) == ["small", "tiny"]
    assert serial.attrs["computed"] == 36 and serial.attrs["cached"] == 0
    assert (serial["total_cycles"] > 0).all() and (serial["dram_words"] > 0).all()
    # SRAM and array sizes change the answer somewhere in the grid (the columns are not ignored)
    assert serial.groupby(["model", "dataflow", "array"])["dram_words"].nunique().max() > 1 or \
        serial.groupby(["model", "dataflow", "ifmap_sram_kb"])["total_cycles"].nunique().max() > 1
    process = sweep(**grid(tiny_csv), executor="process", workers=2, cache_dir=None)
    pd.testing.assert_frame_equal(serial, process)
    assert serial.equals(process)


def test_shared_layers_are_simulated_once_and_match_single_runs() -> None:
    """ResNet-18 and -34 share their layer shapes: the sweep simulates each once per hardware point,
    and every point still equals a run of its model alone, layer by layer (names and ids included)."""
    from trafficsim.engines import simulate
    from trafficsim.zoo.cache import model_topology

    models = [model_topology(name, (3, 48, 48)) for name in ("resnet18", "resnet34")]
    df = sweep(models=models, arrays=["8x8"], dataflows=["os", "is"], sram_kb=[2], per_layer=True,
               executor="serial", cache_dir=None, progress=False)
    for (name, flow), got in df.groupby(["model", "dataflow"], sort=False):
        topo = next(t for t in models if t.name == name)
        hw = Hardware(array_rows=8, array_cols=8, dataflow=flow, ifmap_sram_kb=2, filter_sram_kb=2, ofmap_sram_kb=2)
        alone = [layer.to_dict() for layer in simulate(topo, hw).layers]
        assert len(got) == len(alone)
        for row, want in zip(got.to_dict("records"), alone):
            assert row["layer"] == want["name"]
            assert all(row[k] == v for k, v in want.items() if k != "name"), (name, flow, want["name"])


def test_capacity_engine_sweeps_whole_points(tiny_csv: Path) -> None:
    kw = {**grid(tiny_csv), "engine": "capacity"}
    serial = sweep(**kw, executor="serial", cache_dir=None)
    assert (serial["engine"] == "capacity").all() and (serial["dram_words"] > 0).all()
    assert serial.equals(sweep(**kw, executor="process", workers=2, cache_dir=None))


@pytest.mark.slow
def test_dask_local_cluster_equals_serial(tiny_csv: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    serial = sweep(**grid(tiny_csv), executor="serial", cache_dir=None)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        on_cluster = sweep(**grid(tiny_csv), executor="dask", dask_address=cluster, cache_dir=tmp_path / "c")
        assert on_cluster.attrs["computed"] == len(serial)
        pd.testing.assert_frame_equal(serial, on_cluster)
        assert serial.equals(on_cluster)
        # by scheduler address (sweep opens and closes its own Client)
        by_address = sweep(**grid(tiny_csv), dask_address=cluster.scheduler_address, cache_dir=None)
        assert by_address.attrs["computed"] == len(serial) and serial.equals(by_address)
        # whole points of an engine without a layer-level interface (topologies scattered once)
        kw = {**grid(tiny_csv), "engine": "capacity"}
        assert sweep(**kw, executor="serial", cache_dir=None).equals(
            sweep(**kw, executor="dask", dask_address=cluster, cache_dir=None))
        # a Client passed in is used and left open
        with distributed.Client(cluster) as client:
            fresh = sweep(**grid(tiny_csv), executor="dask", dask_address=client, cache_dir=None)
            assert serial.equals(fresh)
            assert client.status == "running"


def test_cache_reuse_and_corrupt_files(tiny_csv: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = sweep(**grid(tiny_csv), executor="serial", cache_dir=cache)
    files = sorted(cache.glob("*.json"))
    assert len(files) == 36 and first.attrs["computed"] == 36
    second = sweep(**grid(tiny_csv), executor="serial", cache_dir=cache)
    assert second.attrs["computed"] == 0 and second.attrs["cached"] == 36
    assert first.equals(second)
    # a truncated file, a foreign JSON and a missing file are recomputed; nothing else is
    files[0].write_text(files[0].read_text()[:40])
    files[1].write_text(json.dumps({"key": "something else", "totals": {}}))
    files[2].unlink()
    third = sweep(**grid(tiny_csv), executor="process", workers=2, cache_dir=cache)
    assert third.attrs["computed"] == 3 and third.attrs["cached"] == 33
    assert first.equals(third)
    assert len(list(cache.glob("*.json"))) == 36
    assert not list(cache.glob(".*.tmp*"))  # atomic writes leave no temp files behind


def test_cache_key_is_content_hash() -> None:
    topo = small_topology()
    sha = topology_digest(topo)
    hw = Hardware()
    assert point_key(sha, hw, "compat") == point_key(topology_digest(small_topology()), Hardware(), "compat")
    if hasattr(hw, "run_name"):  # a run's name is not in the key (and is leaving Hardware)
        assert point_key(sha, hw, "compat") == point_key(sha, hw.with_(run_name="other"), "compat")
    keys = {point_key(sha, hw, "compat"), point_key(sha, hw, "capacity"),
            point_key(sha, hw.with_(ofmap_sram_kb=65), "compat"), point_key(sha, hw, "compat", version="9.9"),
            point_key(topology_digest(Topology("small", topo.layers[:2])), hw, "compat")}
    assert len(keys) == 5


def test_per_layer_rows_sum_to_totals(tiny_csv: Path, tmp_path: Path) -> None:
    kw = dict(models=[small_topology()], arrays=["4x4", "8x8"], dataflows=["ws"], sram_kb=[1], engine=ENGINE,
              progress=False, executor="serial", cache_dir=tmp_path / "c")
    totals = sweep(**kw)
    layers = sweep(**kw, per_layer=True)
    assert layers.attrs["computed"] == 2  # totals-only cache files lack layers: recomputed
    assert {"layer", "layer_id", "source_layer"} <= set(layers.columns)
    summed = layers.groupby("array", sort=False)[["total_cycles", "dram_ifmap_reads", "dram_filter_reads",
                                                  "dram_ofmap_writes", "macs"]].sum().reset_index()
    for col in ("total_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "macs"):
        assert summed[col].tolist() == totals[col].tolist()
    # the depthwise layer's 8 channels are 8 SCALE-Sim rows
    assert (layers.groupby("array")["layer"].count() == 1 + 8 + 1).all()
    assert sweep(**kw).attrs["computed"] == 0  # files with layers serve totals too


def test_explicit_points_match_grid(tiny_csv: Path) -> None:
    full = sweep(**grid(tiny_csv), executor="serial", cache_dir=None)
    points = [{"model": str(tiny_csv), "array": "16x16", "dataflow": "is", "sram_kb": [2, 1, 4]},
              {"model": small_topology(), "array": (8, 4), "dataflow": "OS", "sram_kb": 1}]
    picked = sweep(points=points, engine=ENGINE, executor="serial", cache_dir=None, progress=False)
    for row, (model, array, flow, sram) in zip(picked.itertuples(), [("tiny", "16x16", "is", 2),
                                                                      ("small", "8x4", "os", 1)]):
        want = full[(full.model == model) & (full.array == array) & (full.dataflow == flow)
                    & (full.ifmap_sram_kb == sram)]
        assert len(want) == 1
        assert row.total_cycles == want.total_cycles.item() and row.dram_words == want.dram_words.item()
    # base hardware fields apply to every point and appear as a column
    wide = sweep(models=[small_topology()], arrays=["8x8"], engine=ENGINE, executor="serial", cache_dir=None,
                 progress=False, bandwidth=20)
    assert wide["bandwidth"].tolist() == [20]
    assert wide["dram_bytes"].item() == wide["dram_words"].item()  # SCALE-Sim's 1-byte words
    # element sizes are the workload's precision, not hardware: one line says where word_bytes went
    with pytest.raises(InputError, match="word_bytes.*precision"):
        sweep(models=[small_topology()], arrays=["8x8"], engine=ENGINE, executor="serial", cache_dir=None,
              progress=False, word_bytes=2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(arrays=["32x"]), "not of the form RxC"),
    (dict(arrays=[(0, 8)]), "positive"),
    (dict(dataflows=["xs"]), "unknown dataflow"),
    (dict(sram_kb=[0]), "SRAM sizes"),
    (dict(sram_kb=["a,b"]), "SRAM sizes"),
    (dict(arrays=[]), "arrays is empty"),
    (dict(engine="fast"), "unknown engine"),
    (dict(executor="threads"), "unknown executor"),
    (dict(executor="serial", dask_address="tcp://127.0.0.1:1"), "dask_address"),
    (dict(workers=0), "workers"),
    (dict(array_size=8), "unknown hardware field"),
    (dict(bandwidth_mode="FAST"), "bandwidth mode"),
    (dict(models=[]), "models is empty"),
    (dict(models=[42]), "must be a zoo name"),
    (dict(points=[{"model": "x.csv", "colour": 1}], dataflows=["os", "ws"]), "not both"),
    (dict(points=[{"colour": 1}]), "unknown key 'colour'"),
])
def test_bad_input_is_one_line(kwargs: dict, message: str) -> None:
    base = dict(models=[small_topology()], engine=ENGINE, executor="serial", cache_dir=None, progress=False)
    with pytest.raises(InputError) as err:
        sweep(**{**base, **kwargs})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_sweep_writes_the_same_table(tiny_csv: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(f"""\
        models = ["tiny.csv"]            # found next to the spec
        arrays = ["4x4", "16x16"]
        dataflows = ["os", "is"]
        sram_kb = [1, [2, 1, 4]]
        engine = "{ENGINE}"
        output = "{(tmp_path / 'out.csv').as_posix()}"
        [hardware]
        bandwidth = 20
        """))
    assert cli_main(["sweep", str(spec), "--executor", "serial", "--cache-dir", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert "8 points (8 computed, 0 from cache)" in printed
    from_cli = pd.read_csv(tmp_path / "out.csv")
    parsed, output = read_spec(spec)
    assert output == tmp_path / "out.csv"
    direct = run_spec(parsed.with_(progress=False, cache_dir=None))
    assert from_cli.drop(columns="overall_util_pct").equals(direct.drop(columns="overall_util_pct"))
    assert from_cli["overall_util_pct"].tolist() == pytest.approx(direct["overall_util_pct"].tolist(), rel=1e-12)
    # second run: all from the cache, --quiet prints the CSV path only
    assert cli_main(["sweep", str(spec), "-q", "--cache-dir", str(tmp_path / "c"), "-o", str(tmp_path / "b.csv")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "b.csv")


@pytest.mark.parametrize("text, message", [
    ("models = ['tiny.csv']\ncolour = 3\n", "unknown key(s) colour"),
    ("models = ['tiny.csv'\n", "not valid TOML"),
    ("models = ['tiny.csv']\narrays = ['4y4']\n", "not of the form RxC"),
])
def test_cli_bad_spec_is_one_line(tiny_csv: Path, tmp_path: Path, capsys, text: str, message: str) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert cli_main(["sweep", str(spec), "--no-cache", "-q", "-o", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("trafficsim: error:") and message in err and "\n" not in err
    assert not (tmp_path / "x.csv").exists()


# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of a sweep, then resume
# ---------------------------------------------------------------------------------------------
# Enough work (about 1 CPU-second) that the sweep is still running when the first files appear.
RESUME_CSV = """\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
c1,18,18,3,3,8,16,1,
c2,16,16,3,3,16,16,2,
"""
RESUME_ARRAYS = [f"{r}x{c}" for r in range(4, 24) for c in (4, 6, 8)]  # 60 arrays x 3 dataflows = 180 points
KILL_AFTER_FILES = 10

CHILD = """\
import sys
from trafficsim.sweeps import sweep
sweep(models=[sys.argv[1]], arrays={arrays!r}, dataflows=["os", "ws", "is"], sram_kb=[1], engine={engine!r},
      executor="process", workers=2, cache_dir=sys.argv[2], progress=False)
"""


def _children(pid: int) -> list[int]:
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigkill_mid_sweep_then_resume(tmp_path: Path) -> None:
    csv = tmp_path / "resume.csv"
    csv.write_text(RESUME_CSV)
    cache = tmp_path / "cache"
    total = len(RESUME_ARRAYS) * 3
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(arrays=RESUME_ARRAYS, engine=ENGINE),
                              str(csv), str(cache)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            # finished files only (a write in progress is a hidden .tmp file)
            if cache.is_dir() and sum(n.endswith(".json") for n in os.listdir(cache)) >= KILL_AFTER_FILES:
                break
            time.sleep(0.005)
        workers = _children(child.pid)
        assert child.poll() is None, f"the sweep ended before it could be killed: {child.stderr.read()!r}"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # the pool workers notice their parent is gone and exit
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)

    finished = sorted(cache.glob("*.json"))
    assert KILL_AFTER_FILES <= len(finished) < total
    for f in finished:  # every file that exists is complete
        doc = json.loads(f.read_text())
        assert doc["key"] == f.stem and doc["totals"]["total_cycles"] > 0
        assert PointCache(cache, ENGINE).read(f.stem, per_layer=False) is not None  # its digest matches

    kw = dict(models=[str(csv)], arrays=RESUME_ARRAYS, dataflows=["os", "ws", "is"], sram_kb=[1],
              engine=ENGINE, progress=False)
    resumed = sweep(**kw, executor="serial", cache_dir=cache)
    assert resumed.attrs["cached"] == len(finished)
    assert resumed.attrs["computed"] == total - len(finished)
    fresh = sweep(**kw, executor="serial", cache_dir=None)
    assert resumed.equals(fresh)
    assert len(list(cache.glob("*.json"))) == total


def test_spec_with_preset_and_points(tiny_csv: Path, tmp_path: Path) -> None:
    spec = tmp_path / "points.toml"
    spec.write_text(textwrap.dedent(f"""\
        engine = "{ENGINE}"
        preset = "eyeriss"
        [hardware]
        bandwidth = 4
        [[points]]
        model = "tiny.csv"
        [[points]]
        model = "tiny.csv"
        array = "4x4"
        dataflow = "os"
        sram_kb = [1, 1, 2]
        """))
    parsed, output = read_spec(spec)
    assert output is None and parsed.hardware.array_rows == 12 and parsed.hardware.array_cols == 14
    assert parsed.points[0].model == str(tmp_path / "tiny.csv")
    df = run_spec(parsed.with_(executor="serial", cache_dir=None, progress=False))
    assert df["array"].tolist() == ["12x14", "4x4"] and df["dataflow"].tolist() == ["ws", "os"]
    assert df["ofmap_sram_kb"].tolist() == [36, 2] and df["bandwidth"].tolist() == [4, 4]
    eyeriss = sweep(models=[str(tiny_csv)], engine=ENGINE, executor="serial", cache_dir=None, progress=False,
                    **parsed.hardware.to_dict())
    assert eyeriss.iloc[0].to_dict() == df.iloc[0].to_dict()  # a point without keys is the base hardware


def test_package_level_sweep_is_the_function(tiny_csv: Path) -> None:
    """``trafficsim.sweep`` is the function whatever was imported first; no module shares its name."""
    import importlib.util
    import types

    import trafficsim
    import trafficsim.sweeps

    assert importlib.util.find_spec("trafficsim.sweep") is None
    assert isinstance(trafficsim.sweep, types.FunctionType) and trafficsim.sweep is trafficsim.sweeps.sweep
    df = trafficsim.sweep(models=[str(tiny_csv)], engine=ENGINE, executor="serial", cache_dir=None, progress=False)
    assert len(df) == 1
    # and in a fresh interpreter where the package is imported before anything else
    code = "import trafficsim, types; print(isinstance(trafficsim.sweep, types.FunctionType))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"


def test_spec_is_typed_frozen_and_validated(tiny_csv: Path) -> None:
    """Keyword values are stored normalised (tuples, parsed axes, a base Hardware); changes validate again."""
    import dataclasses

    from trafficsim.sweeps import SweepSpec

    spec = SweepSpec(models=str(tiny_csv), arrays=["8x4", (2, 2)], dataflows="OS", sram_kb=[16, "1,2,3"],
                     hardware={"bandwidth": 20, "array": "4x4"}, cache_dir=str(tiny_csv.parent))
    assert spec.models == (str(tiny_csv),)
    assert spec.arrays == ((8, 4), (2, 2)) and spec.dataflows == ("os",) and spec.sram_kb == ((16, 16, 16), (1, 2, 3))
    assert spec.hardware == Hardware(bandwidth=20, array_rows=4, array_cols=4)
    assert spec.executor == "process" and spec.cache_dir == tiny_csv.parent
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.engine = "capacity"  # type: ignore[misc]
    assert spec.with_(engine="capacity").engine == "capacity"
    assert spec.with_(engine="capacity").arrays == spec.arrays  # normalised values validate again unchanged
    with pytest.raises(InputError, match="unknown engine"):
        spec.with_(engine="fast")


# ---------------------------------------------------------------------------------------------
# The cache's content is checked: a digest, the key, format and engine, the record's shape
# ---------------------------------------------------------------------------------------------
def _one_point(csv: Path, cache: Path, per_layer: bool = False) -> pd.DataFrame:
    return sweep(models=[str(csv)], arrays=["4x4"], dataflows=["ws"], sram_kb=[1], engine=ENGINE, executor="serial",
                 cache_dir=cache, progress=False, per_layer=per_layer)


@pytest.mark.parametrize("edit", [
    lambda d: d["totals"].update(dram_bytes=2 * d["totals"]["dram_bytes"]),  # doubled, still valid JSON
    lambda d: d.update(totals={}),
    lambda d: d["totals"].update(total_cycles=str(d["totals"]["total_cycles"])),
    lambda d: d["totals"].update(macs=True),
    lambda d: d.update(layers="none"),
])
def test_hand_edited_cache_file_is_recomputed(tiny_csv: Path, tmp_path: Path, edit) -> None:
    cache = tmp_path / "c"
    first = _one_point(tiny_csv, cache)
    [path] = cache.glob("*.json")
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))  # the old digest stays: it no longer matches
    again = _one_point(tiny_csv, cache)
    assert again.attrs["computed"] == 1 and again.attrs["cached"] == 0
    assert first.equals(again)
    assert _one_point(tiny_csv, cache).attrs["cached"] == 1  # the recomputed file is trusted again


def _mutate(text: str, rng) -> str:
    """One random change to a cache file: a value, a key, a type or the raw text."""
    import copy

    doc = json.loads(text)
    kind = rng.randrange(8)
    if kind == 0:  # raw text: flip, drop or insert one character
        i = rng.randrange(len(text))
        op = rng.randrange(3)
        return (text[:i] + chr(rng.randrange(32, 127)) + text[i + 1:] if op == 0 else
                text[:i] + text[i + 1:] if op == 1 else text[:i] + chr(rng.randrange(32, 127)) + text[i:])
    if kind == 1:  # truncated
        return text[:rng.randrange(len(text))]
    doc = copy.deepcopy(doc)
    # pick a container and a key in it: the document, its totals, hardware or a layer
    holders = [doc, doc["totals"], doc["hardware"]] + (doc.get("layers") or [])
    holder = rng.choice(holders)
    key = rng.choice(sorted(holder))
    value = holder[key]
    if kind == 2:
        del holder[key]
    elif kind == 3:  # a number changed a little or a lot
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            holder[key] = rng.choice([value + 1, value - 1, value * 2, -value, 0, value + 0.5])
        else:
            holder[key] = rng.randrange(1000)
    elif kind == 4:  # another type
        holder[key] = rng.choice([str(value), None, True, [value], {"v": value}, ""])
    elif kind == 5:  # an added key
        holder[f"extra{rng.randrange(10)}"] = rng.randrange(100)
    elif kind == 6:  # emptied
        holder[key] = {} if isinstance(value, dict) else [] if isinstance(value, list) else value
        if key in ("totals", "layers", "hardware"):
            holder[key] = type(value)()
    else:  # the digest recomputed the way a careless tool would (pretty-printed, keys sorted)
        return json.dumps(doc, indent=1, sort_keys=True)
    return json.dumps(doc, separators=(",", ":"))


@pytest.mark.parametrize("per_layer", [False, True])
def test_cache_mutation_fuzz_never_changes_the_table(tiny_csv: Path, tmp_path: Path, per_layer: bool) -> None:
    """Seeded random mutations of a cache file: the table is always the fresh one; every file whose text
    changed is recomputed (a change that leaves the text as it was is a no-op)."""
    import random

    rng = random.Random(20261130 + per_layer)
    cache = tmp_path / "c"
    fresh = _one_point(tiny_csv, cache, per_layer)
    [path] = cache.glob("*.json")
    original = path.read_text()
    changed = 0
    for _ in range(150):
        mutated = _mutate(original, rng)
        path.write_text(mutated)
        got = _one_point(tiny_csv, cache, per_layer)
        assert got.equals(fresh), mutated[:200]
        if mutated != original:
            changed += 1
            assert got.attrs["computed"] == 1, mutated[:200]
        assert path.read_text() == original  # rewritten exactly (the digest is of deterministic content)
    assert changed >= 100


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_cache_file_linked_to_a_device_is_not_read(tiny_csv: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    fresh = _one_point(tiny_csv, cache)
    [path] = cache.glob("*.json")
    path.unlink()
    path.symlink_to("/dev/zero")  # reading it would never end
    again = _one_point(tiny_csv, cache)
    assert again.attrs["computed"] == 1 and again.equals(fresh)
    assert path.is_file() and not path.is_symlink()  # replaced by a good file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_cache_entry_that_cannot_be_a_file_is_one_line(tiny_csv: Path, tmp_path: Path, capsys, kind: str) -> None:
    """A FIFO (reading it would block) or a folder where a cache file belongs: not read, and the sweep stops
    before computing anything, since the recomputed point could not be stored there."""
    cache = tmp_path / "c"
    _one_point(tiny_csv, cache)
    [path] = cache.glob("*.json")
    path.unlink()
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    spec = tmp_path / "spec.toml"
    spec.write_text(f"models = ['{tiny_csv.as_posix()}']\narrays = ['4x4']\ndataflows = ['ws']\nsram_kb = [1]\n")
    out = tmp_path / "out.csv"
    assert cli_main(["sweep", str(spec), "-q", "-x", "serial", "--cache-dir", str(cache), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"trafficsim: error: {path}: {'a folder' if kind == 'folder' else 'not a regular file'} " \
                  f"where a sweep cache file belongs; remove it"
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Spec and option errors: one line naming the key (and file:line), exit 1, nothing written
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("engine = []\n", "spec.toml:2: engine: must be an engine name, got []"),
    ('preset = ["x"]\n', "spec.toml:2: preset must be a preset name, got ['x']"),
    ('preset = "nope"\n', "spec.toml:2: unknown preset 'nope'"),
    ("cache_dir = 5\n", "spec.toml:2: cache_dir: must be a folder path"),
    ('dask_address = "not-an-address"\n', "spec.toml:2: dask_address: 'not-an-address' is not a scheduler address"),
    ('per_layer = "no"\n', "spec.toml:2: per_layer: must be true or false, got 'no'"),
    ("workers = true\n", "spec.toml:2: workers: workers must be a positive integer, got True"),
    ("workers = 0\n", "workers must be a positive integer, got 0"),
    ('executor = 3\n', "spec.toml:2: executor: unknown executor 3"),
    ("output = 7\n", "spec.toml:2: output must be a CSV path string"),
    ("arrays = '4x4'\nsram_kb = [true]\n", "spec.toml:3: sram_kb: SRAM sizes True must be made of integers"),
    ("[hardware]\nsram_kb = [1, 2]\n", "spec.toml:3: [hardware] sram_kb: SRAM sizes [1, 2] must be one or three "
                                       "positive integers in kB ([hardware] holds one value; a list of values to "
                                       "sweep is the top-level key sram_kb)"),
    ("[hardware]\narray = ['4x4', '8x8']\n", "spec.toml:3: [hardware] array: "),
    ("[hardware]\nbandwidth = '2'\n", "spec.toml:3: [hardware] bandwidth must be an integer, got '2'"),
    ("[hardware]\nword_bytes = 2\n", "spec.toml:3: [hardware] unknown hardware field 'word_bytes' (the workload's "
                                      "precision: use precision)"),
    ("[hardware]\nclock_mhz = inf\n", "spec.toml:3: [hardware] clock_mhz must be a finite number, got inf"),
    ("[hardware]\ncolour = 1\n", "spec.toml:3: [hardware] unknown hardware field 'colour'"),
    ("hardware = 3\n", "spec.toml:2: [hardware] must be a table"),
    ("[[points]]\narray = '4x4'\ncolour = 2\n", "spec.toml: points: point 0: unknown key 'colour'"),
    ("points = 3\n", "points: must be a list of dicts, got 3"),
])
def test_cli_spec_errors_are_one_line(tiny_csv: Path, tmp_path: Path, capsys, text: str, message: str) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text("models = ['tiny.csv']\n" + text)
    out, cache = tmp_path / "x.csv", tmp_path / "cache"
    assert cli_main(["sweep", str(spec), "-q", "-o", str(out), "--cache-dir", str(cache)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("trafficsim: error: ") and "\n" not in err and "Traceback" not in err, err
    assert message in err, err
    assert not out.exists() and not cache.exists() and captured.out == ""


def test_cli_dask_option_not_an_address(tiny_csv: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text("models = ['tiny.csv']\n")
    assert cli_main(["sweep", str(spec), "--dask", "not-an-address", "-o", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("trafficsim: error: dask_address: 'not-an-address' is not a scheduler address such as "
                   "tcp://10.0.0.5:8786")
    assert not (tmp_path / "x.csv").exists()


def test_spec_with_a_bom_reads_like_without(tiny_csv: Path, tmp_path: Path) -> None:
    text = "models = ['tiny.csv']\narrays = ['4x4']\n"
    plain, bom = tmp_path / "plain.toml", tmp_path / "bom.toml"
    plain.write_text(text)
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_spec(bom) == read_spec(plain)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_spec_that_is_not_a_regular_file(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "spec.toml"
    os.mkfifo(fifo)  # reading it would block forever
    assert cli_main(["sweep", str(fifo), "-q", "-o", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"trafficsim: error: {fifo}: ") and "\n" not in err
    assert cli_main(["sweep", str(tmp_path), "-q", "-o", str(tmp_path / "x.csv")]) == 1  # a folder
    assert capsys.readouterr().err.startswith(f"trafficsim: error: {tmp_path}: ")


@pytest.mark.parametrize("kwargs, message", [
    (dict(models=5), "models: must be a list, got 5"),
    (dict(models=[""]), "models: model '' must be a zoo name"),
    (dict(arrays=5), "arrays: must be a list, got 5"),
    (dict(arrays=[8]), "arrays: array size 8 must be 'RxC' or (rows, cols)"),
    (dict(arrays=[(True, 8)]), "arrays: array size (True, 8) must be made of integers"),
    (dict(dataflows=5), "dataflows: must be a list, got 5"),
    (dict(sram_kb=[1.5]), "sram_kb: SRAM sizes 1.5 must be an integer"),
    (dict(sram_kb=True), "sram_kb: SRAM sizes True must be made of integers, not true/false"),
    (dict(progress="yes"), "progress: must be true or false, got 'yes'"),
    (dict(per_layer=1), "per_layer: must be true or false, got 1"),
    (dict(workers=2.0), "workers must be a positive integer, got 2.0"),
    (dict(workers=True), "workers must be a positive integer, got True"),
    (dict(cache_dir=5), "cache_dir: must be a folder path (or None for no cache), got 5"),
    (dict(cache_dir=""), "cache_dir: cache_dir is empty"),
    (dict(executor=5), "executor: unknown executor 5"),
    (dict(engine=None), "engine: must be an engine name, got None"),
    (dict(engine=["compat"]), "engine: must be an engine name"),
    (dict(points=5), "points: must be a list of dicts, got 5"),
    (dict(points=[5]), "points: point 0: must be a dict"),
    (dict(points=[{"model": 5}]), "points: point 0: model 5 must be a zoo name"),
    (dict(points=[{"array": "4x4"}, {"dataflow": "xs"}]), "points: point 1: dataflow: unknown dataflow 'xs'"),
    (dict(bandwidth="2"), "bandwidth must be an integer, got '2'"),
    (dict(bandwidth=2.0), "bandwidth must be an integer, got 2.0"),
    (dict(word_bytes=2), "word_bytes' (the workload's precision: use precision)"),
    (dict(clock_mhz=float("inf")), "clock_mhz must be a finite number, got inf"),
    (dict(clock_mhz=True), "clock_mhz must be a finite number, got True"),
    (dict(dataflow=3), "dataflow: unknown dataflow 3"),
    (dict(dask_address=5), "dask_address: must be a scheduler address, a Client or a cluster, got 5"),
    (dict(dask_address="tcp://"), "is not a scheduler address"),
    (dict(dask_address="10.0.0.5:8786", executor="process"), "dask_address is given but executor is 'process'"),
])
def test_api_type_errors_are_one_line(kwargs: dict, message: str) -> None:
    base = dict(models=[small_topology()], engine=ENGINE, executor="serial", cache_dir=None, progress=False)
    if "dask_address" in kwargs and "executor" not in kwargs:
        base.pop("executor")
    with pytest.raises(InputError) as err:
        sweep(**{**base, **kwargs})
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("case", ["out_is_a_folder", "out_under_a_file", "out_is_a_device", "cache_dir_is_a_file",
                                  "cache_dir_under_a_file", "out_name_too_long", "out_folder_read_only"])
def test_cli_output_errors_are_one_line(tiny_csv: Path, tmp_path: Path, capsys, case: str) -> None:
    """Every output-side problem is one line, exit 1; the ones visible up front stop the sweep before it runs."""
    spec = tmp_path / "spec.toml"
    spec.write_text("models = ['tiny.csv']\narrays = ['4x4']\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    out, cache = tmp_path / "out.csv", tmp_path / "cache"
    if case == "out_is_a_folder":
        out.mkdir()
        want = f"{out}: is a folder; give a CSV file name (-o/--out)"
    elif case == "out_under_a_file":
        out = a_file / "out.csv"
        want = f"{a_file}: is a file, not a folder (needed for {out})"
    elif case == "out_is_a_device":
        out = Path("/dev/null")
        want = "/dev/null: not a regular file (a device, FIFO or socket); not replacing it"
    elif case == "cache_dir_is_a_file":
        cache = a_file
        want = f"{a_file}: exists and is not a folder"
    elif case == "cache_dir_under_a_file":
        cache = a_file / "cache"
        want = f"{a_file}: is a file, not a folder (needed for {cache})"
    elif case == "out_name_too_long":
        out = tmp_path / ("x" * 300 + ".csv")
        want = f"{out}: File name too long"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "out.csv"
        want = f"{out}: permission denied"
    rc = cli_main(["sweep", str(spec), "-q", "-x", "serial", "-o", str(out), "--cache-dir", str(cache)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err == f"trafficsim: error: {want}", err
    if case != "out_folder_read_only":
        assert not cache.exists() or cache == a_file  # stopped before anything was computed


# ---------------------------------------------------------------------------------------------
# The printed table fits 80 columns without cutting model names or numbers
# ---------------------------------------------------------------------------------------------
def test_cli_table_fits_80_columns(tmp_path: Path) -> None:
    long_name = "a_topology_with_a_rather_long_name_for_tables"
    (tmp_path / f"{long_name}.csv").write_text(TINY_CSV)
    spec = tmp_path / "spec.toml"
    spec.write_text(f"models = ['{long_name}.csv', '{long_name}.csv']\narrays = ['4x4', '16x16']\n"
                    f"dataflows = ['os', 'is']\nsram_kb = [[2, 1, 4]]\n")
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "trafficsim", "sweep", str(spec), "-x", "serial", "--no-cache",
                           "-o", str(tmp_path / "out.csv")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()[:-1]  # the last line names the CSV, a path as long as it is
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    table = pd.read_csv(tmp_path / "out.csv")
    rows = [line for line in lines if line.startswith(long_name)]
    assert len(rows) == len(table) == 8  # every model name whole
    from trafficsim.cli.sweep import _compact

    for line, dram in zip(rows, table["dram_bytes"]):
        assert line.split()[-1] in (f"{dram:,}", _compact(dram))  # the last column, exact or 3 digits
    assert "left out to fit 80 columns" in proc.stdout


def test_table_lines_shorten_numbers_before_dropping_columns() -> None:
    from trafficsim.cli.sweep import table_lines

    df = pd.DataFrame([dict(model=name, array="128x128", dataflow="ws", ifmap_sram_kb=512, filter_sram_kb=512,
                            ofmap_sram_kb=256, total_cycles=123_456_789_012, overall_util_pct=12.3456,
                            dram_bytes=98_765_432_109) for name in ("densenet264", "fc_densenet103")])
    wide = table_lines(df, 200)
    assert wide[1].split() == ["densenet264", "128x128", "ws", "512,512,256", "123,456,789,012", "12.35",
                               "98,765,432,109"]
    narrow = table_lines(df, 80)
    assert all(len(line) <= 80 for line in narrow)
    assert narrow[0].split() == ["model", "array", "flow", "SRAM", "kB", "cycles", "util", "%", "DRAM", "bytes"]
    assert narrow[2].split() == ["fc_densenet103", "128x128", "ws", "512,512,256", "123G", "12.35", "98.8G"]
    halves = df.assign(dram_bytes=[98_765_432_109.5, 1024.0])  # fractional bytes (half-byte precisions)
    assert [line.split()[-1] for line in table_lines(halves, 200)[1:]] == ["98,765,432,109.5", "1,024"]
    tiny = table_lines(df, 30)
    assert [line.split()[0] for line in tiny[1:3]] == ["densenet264", "fc_densenet103"]  # names whole


def test_unmodelled_ops_are_named_in_a_warning(tiny_csv: Path, tmp_path: Path) -> None:
    """A sweep, cached or not, warns about ops the converter could not model (never silently wrong)."""
    from trafficsim.engines import UnmodelledOpWarning
    from trafficsim.topology import Unmodelled

    topo = Topology("attn", small_topology().layers, unmodelled=(Unmodelled("blk.attn", "matmul", 4096),))
    for _ in range(2):  # computed, then from the cache
        with pytest.warns(UnmodelledOpWarning, match="attn: 1 op"):
            df = sweep(models=[topo], arrays=["4x4"], executor="serial", cache_dir=tmp_path / "c", progress=False)
    assert df.attrs["cached"] == 1


def test_a_new_axis_is_one_field(tiny_csv: Path) -> None:
    """A spec class with one more axis field sweeps it: grid product, point keys and columns follow."""
    from dataclasses import dataclass

    from trafficsim.sweeps import SweepSpec, axis, run_spec

    def parse_drain(v):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise InputError(f"drain bandwidth {v!r} must be a positive integer")
        return v

    @dataclass(frozen=True)
    class WideSpec(SweepSpec):
        drains: tuple[int, ...] | None = axis("drain", parse_drain, lambda v: {"bandwidth": v}, (int,))

    spec = WideSpec(models=[str(tiny_csv)], arrays=["4x4", "8x8"], drains=[10, 20], executor="serial",
                    cache_dir=None, progress=False)
    df = run_spec(spec)
    assert df["array"].tolist() == ["4x4", "4x4", "8x8", "8x8"] and df["bandwidth"].tolist() == [10, 20, 10, 20]
    assert (df["dram_bytes"] == df["dram_words"]).all()
    assert run_spec(WideSpec(models=[str(tiny_csv)], executor="serial", cache_dir=None, progress=False,
                             points=[{"array": "8x8", "drain": 20}])).iloc[0].to_dict() == df.iloc[3].to_dict()
    with pytest.raises(InputError, match="drains: drain bandwidth 0 must be a positive integer"):
        WideSpec(models=[str(tiny_csv)], drains=[0])


def _slow_job(marker: str, seconds: float) -> str:
    time.sleep(seconds)
    Path(marker).write_text("finished")
    return marker


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork-based pool")
def test_stopping_a_process_sweep_stops_its_workers(tmp_path: Path) -> None:
    """Ctrl-C (or any error) while a process-pool sweep runs: the running jobs are abandoned, not waited for."""
    from trafficsim.sweeps.executors import run_process

    fast, slow = tmp_path / "fast", tmp_path / "slow"
    runs = run_process([(_slow_job, (str(fast), 0.0)), (_slow_job, (str(slow), 30.0))], workers=2)
    assert next(runs) == (0, str(fast))
    runs.close()  # what the sweep does when its loop ends by an exception (KeyboardInterrupt included)
    assert not slow.exists()  # the 30 s job was stopped, not waited for


def test_cache_keeps_fractional_dram_bytes(tmp_path: Path) -> None:
    """Half-byte precisions give fractional dram_bytes totals (engines' extras override words x word_bytes):
    a cached point keeps them, it is not taken for a damaged file and recomputed on every run."""
    fresh = sweep(models=[small_topology()], arrays=["4x4"], executor="serial", cache_dir=None, progress=False)
    totals = {k: v for k, v in fresh.iloc[0].to_dict().items() if k in fresh.columns[9:]}
    totals = {k: (v.item() if hasattr(v, "item") else v) for k, v in totals.items()}
    totals["dram_bytes"] = totals["dram_words"] * 0.5 + 0.5
    cache = PointCache(tmp_path, "compat")
    cache.write("k" * 40, {"totals": totals, "layers": None}, "small", Hardware())
    assert cache.read("k" * 40, per_layer=False) == {"totals": totals, "layers": None}
