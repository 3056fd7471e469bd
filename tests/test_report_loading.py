"""The report loader on damaged run folders: every damage is a one-line warning (the run, or its layers,
skipped), never a traceback, and the figures still draw from what is left. Folders come from the real pipeline
(write_run of compat runs) and are then damaged the ways users and crashes damage them."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from trafficsim.cli import main
from trafficsim.engines import simulate
from trafficsim.errors import ResultsError
from trafficsim.hardware import Hardware
from trafficsim.runs import load_runs, write_run
from trafficsim.topology import Layer, Topology

pytest.importorskip("matplotlib")
from trafficsim.report import draw_figures, load  # noqa: E402

HW = Hardware(array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)


def _topology(name: str, c: int) -> Topology:
    layers = (Layer("conv1", "conv", 3, 8, 8, c, 8, 8, 3, 3, 1, 1, 1, 1),
              Layer("conv2", "conv", c, 8, 8, c, 8, 8, 3, 3, 1, 1, 1, 1),
              Layer("fc", "linear", c, 1, 1, 10, 1, 1))
    return Topology(name, layers, (3, 8, 8))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """Two intact runs (two networks) and the run that each case damages."""
    root = tmp_path_factory.mktemp("pristine")
    for name, c in (("netA", 4), ("netB", 8), ("victim", 6)):
        topo = _topology(name, c)
        write_run(simulate(topo, HW, engine="compat"), topo, root)
        if name == "netB":  # a sweep, so that the sweep figure draws too
            write_run(simulate(topo, HW.with_(array_rows=8, array_cols=8), engine="compat"), topo, root)
    return root


def _victim(root: Path) -> Path:
    return next(p for p in root.iterdir() if p.name.startswith("victim-4x4"))


def _set(doc: dict, path: tuple[str, ...], value: object) -> None:
    for k in path[:-1]:
        doc = doc[k]
    if value is _DELETE:
        doc.pop(path[-1], None)
    else:
        doc[path[-1]] = value


_DELETE = object()
_PATHS = [("model",), ("engine",), ("run_id",), ("input_shape",), ("source",), ("hardware",), ("totals",),
          ("metrics",), ("meta",), ("files",),
          *[("hardware", k) for k in ("array_rows", "array_cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb",
                                      "dataflow", "word_bytes", "bandwidth_mode", "bandwidth")],
          *[("totals", k) for k in ("total_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
                                    "dram_words", "dram_bytes", "macs", "stall_cycles")],
          ("metrics", "cio"), ("metrics", "macs"),
          ("workload",), ("workload", "batch"), ("workload", "context"), ("meta", "fixes")]
_VALUES = [_DELETE, None, "x", [], -1, 0, 1.5, True, 1e300, 10**30]


# a section (hardware, totals...) replaced by any non-object is one check: a few values stand for all
_SECTION_VALUES = [_DELETE, None, "x", [], 1.5]


def _summary_cases():
    for path in _PATHS:
        values = _SECTION_VALUES if path in (("hardware",), ("totals",), ("metrics",), ("meta",), ("files",),
                                             ("workload",)) \
            else _VALUES
        for value in values:
            yield f"summary {'.'.join(path)}={'<deleted>' if value is _DELETE else repr(value)}", path, value


_FILE_CASES = {
    "summary empty": b"",
    "summary null": b"null",
    "summary list": b"[]",
    "summary truncated": b'{"run_id": "x", "model": "m", "tot',
    "summary binary": bytes(range(256)),
    "summary utf-16": json.dumps({"model": "m"}).encode("utf-16"),
}
_LAYER_CASES = {
    "layers empty": "",
    "layers header only": "layer_index,layer,dram_words\n",
    "layers non-numeric index": None,  # built from the real file below
    "layers non-numeric words": None,
    "layers missing column": None,
    "layers truncated": None,
    "layers duplicated index": None,
    "layers garbage": "\x00\x01\x02,\n\"unclosed\n",
    "layers negative words": None,
}


def _damage_layers(text: str, case: str) -> str:
    lines = text.splitlines()
    header = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:]]
    i_idx, i_words = header.index("layer_index"), header.index("dram_words")
    if case == "layers non-numeric index":
        rows[1][i_idx] = "one"
    elif case == "layers non-numeric words":
        rows[0][i_words] = "many"
    elif case == "layers negative words":
        rows[0][i_words] = "-5"
    elif case == "layers missing column":
        header[i_words] = "dram_w0rds"
    elif case == "layers truncated":
        rows = rows[:-1]
    elif case == "layers duplicated index":
        rows[1][i_idx] = rows[0][i_idx]
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


def _cases():
    yield from ((label, "summary", (path, value)) for label, path, value in _summary_cases())
    yield from ((label, "file", data) for label, data in _FILE_CASES.items())
    yield from ((label, "layers", text) for label, text in _LAYER_CASES.items())
    yield from ((label, "special", label) for label in ("summary fifo", "summary folder", "summary dev-zero link",
                                                         "layers fifo", "layers folder", "no summary"))


def _snapshot(victim: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in victim.iterdir()}


def _restore(victim: Path, files: dict[str, bytes]) -> None:
    """Put the victim's files back as they were (a damage may have made one a FIFO, a folder or a link)."""
    for name, content in files.items():
        path = victim / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(content)


def _apply(victim: Path, kind: str, arg) -> None:
    summary = victim / "summary.json"
    layers = victim / "layers.csv"
    if kind == "summary":
        doc = json.loads(summary.read_text())
        _set(doc, *arg)
        summary.write_text(json.dumps(doc))
    elif kind == "file":
        summary.write_bytes(arg)
    elif kind == "layers":
        layers.write_text(arg if arg is not None else _damage_layers(layers.read_text(), _label))
    elif arg == "summary fifo":
        summary.unlink()
        os.mkfifo(summary)
    elif arg == "summary folder":
        summary.unlink()
        summary.mkdir()
    elif arg == "summary dev-zero link":
        summary.unlink()
        summary.symlink_to("/dev/zero")
    elif arg == "layers fifo":
        layers.unlink()
        os.mkfifo(layers)
    elif arg == "layers folder":
        layers.unlink()
        layers.mkdir()
    elif arg == "no summary":
        summary.unlink()


_label = ""


def test_every_damage_is_one_warning(pristine, tmp_path):
    """~320 damaged folders: load() never raises, each problem is one warning line naming the folder or run,
    the two intact networks always load, and every figure still draws."""
    global _label
    if not hasattr(os, "mkfifo"):
        pytest.skip("POSIX only")
    n_cases = kept = 0
    drawn: set = set()
    root = tmp_path / "r"
    shutil.copytree(pristine, root, symlinks=True)
    victim = _victim(root)
    original = _snapshot(victim)
    for label, kind, arg in _cases():  # each case damages the victim in place; it is restored after
        _label = label
        n_cases += 1
        _restore(victim, original)
        _apply(victim, kind, arg)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                data = load(root)
            except Exception as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{label}: load raised {type(e).__name__}: {e}")
        msgs = [str(w.message) for w in caught]
        assert msgs == data.warnings, label
        with warnings.catch_warnings(record=True) as caught_runs:  # the plain loader of trafficsim.runs too
            warnings.simplefilter("always")
            try:
                load_runs(root)
            except Exception as e:  # noqa: BLE001
                pytest.fail(f"{label}: load_runs raised {type(e).__name__}: {e}")
        assert all("\n" not in str(w.message) for w in caught_runs), label
        assert all("\n" not in m and "\r" not in m for m in msgs), (label, msgs)
        assert {"netA", "netB"} <= set(data.runs["model"]), (label, msgs)
        victim_runs = data.runs[data.runs["path"] == str(victim)]
        if victim_runs.empty:
            assert any(str(victim) in m for m in msgs), (label, msgs)
        victim_layers = data.layers[data.layers["run_id"].isin(victim_runs["run_id"])] if len(victim_runs) else []
        if len(victim_runs) and len(victim_layers) == 0:
            assert any("ignoring the layers" in m or str(victim) in m for m in msgs), (label, msgs)
        if len(victim_runs):  # the damaged run (or its totals) made it in: the figures must still draw
            kept += 1
            # ... from sane numbers: what was kept is what the file says (an int64 overflow wrapped 10**30 round)
            v = victim_runs.iloc[0]
            assert all(v[k] >= 1 for k in ("array_rows", "array_cols", "pes", "word_bytes", "batch")), (label, v)
            assert str(int(v["array_rows"])) in v["hardware"], label
            # once per damaged summary field (drawing every figure costs ~0.25 CPU-s); a damaged layer table is
            # dropped whole, so the figures see the same data whatever the damage: drawn once
            field = (label.split("=")[0], len(victim_layers) > 0) if kind == "summary" else ("layers", kind)
            if field not in drawn:
                drawn.add(field)
                try:
                    draw_figures(data)
                except Exception as e:  # noqa: BLE001
                    pytest.fail(f"{label}: drawing raised {type(e).__name__}: {e}")
    # the cases did both: skip runs, and keep some damaged-but-usable ones whose figures drew
    assert n_cases > 300 and kept > 20 and len(drawn) > 20


@pytest.mark.parametrize("case", ["no ofmap_sram_kb", "non-numeric layer_index", "empty totals"])
def test_issue_cases_in_the_cli(pristine, tmp_path, capsys, case):
    """The three damaged folders of issue 11 that crashed 'trafficsim plot': one warning line each, exit 0."""
    root = tmp_path / "r"
    shutil.copytree(pristine, root)
    victim = _victim(root)
    if case == "non-numeric layer_index":
        (victim / "layers.csv").write_text(_damage_layers((victim / "layers.csv").read_text(),
                                                          "layers non-numeric index"))
    else:
        doc = json.loads((victim / "summary.json").read_text())
        if case == "no ofmap_sram_kb":
            del doc["hardware"]["ofmap_sram_kb"]
        else:
            doc["totals"] = {}
        (victim / "summary.json").write_text(json.dumps(doc))
    assert main(["plot", str(root), "-q", "-o", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err.splitlines()
    want = {"no ofmap_sram_kb": f"trafficsim: warning: skipping {victim}: summary.json lacks hardware.ofmap_sram_kb",
            "empty totals": f"trafficsim: warning: skipping {victim}: summary.json has no totals",
            "non-numeric layer_index": f"trafficsim: warning: ignoring the layers of run {victim.name}: layers.csv: "
                                       "layer_index 'one' (row 3) is not a count"}[case]
    assert err == [want]


def test_nothing_usable_is_one_error(tmp_path, capsys, pristine):
    root = tmp_path / "r"
    root.mkdir()
    shutil.copytree(_victim(pristine), root / "only")
    (root / "only" / "summary.json").write_text("{}")
    with pytest.raises(ResultsError, match=r"no usable run folders \(1 folder\(s\) skipped\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(root)
    assert main(["plot", str(root)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("trafficsim: error: ") and "no usable run folders" in err[-1]
    assert len(err) == 2 and err[0].startswith("trafficsim: warning: skipping")
