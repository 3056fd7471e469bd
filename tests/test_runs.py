"""Run folders (trafficsim.runs): names, what is written, replacement that is crash-safe and safe for
concurrent writers (real processes: SIGKILL injection, four writers), and the CLI's note on replacement."""
from __future__ import annotations

import csv
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trafficsim import files, metrics
from trafficsim.cli import main
from trafficsim.engines import simulate
from trafficsim.errors import InputError, OutputError, ResultsError
from trafficsim.hardware import Hardware
from trafficsim.runs import find_runs, load_runs, printable, read_summary, run_id, write_run
from trafficsim.topology import Layer, Topology

HW = Hardware(array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)


def _conv(name: str, c: int, k: int, hw: int = 8, kernel: int = 3, stride: int = 1, groups: int = 1,
          inputs: tuple[int, ...] = (), output: int = -1) -> Layer:
    pad = kernel // 2
    out = (hw + 2 * pad - kernel) // stride + 1
    return Layer(name, "conv", c, hw, hw, k, out, out, kernel, kernel, stride, stride, pad, pad, groups=groups,
                 inputs=inputs, output=output)


def tiny(name: str = "tiny", layer_names: tuple[str, str] = ("conv1", "conv2")) -> Topology:
    return Topology(name, (_conv(layer_names[0], 3, 8), _conv(layer_names[1], 8, 8)), (3, 8, 8))


@pytest.fixture(scope="module")
def result():
    topo = tiny()
    return simulate(topo, HW, engine="compat"), topo


# ---------------------------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------------------------
def test_run_ids_are_never_hidden(tmp_path):
    """A model name starting with '.' made a hidden run folder that 'trafficsim plot' skipped."""
    topo = tiny(".hidden")
    res = simulate(topo, HW, engine="compat")
    rid = run_id(res, topo.input_shape)
    assert rid.startswith("_hidden-4x4-ws-1.1.1kB-compat")
    folder = write_run(res, topo, tmp_path)
    assert folder.name == rid and find_runs(tmp_path) == [folder.path]
    topo2 = tiny("..")
    assert run_id(simulate(topo2, HW, engine="compat"), topo2.input_shape).startswith("__-4x4")


@pytest.mark.parametrize("name", ["", ".", "..", ".x", "a/b", "a\x00b", "a\nb"])
def test_bad_folder_names_are_refused(tmp_path, result, name):
    with pytest.raises(InputError, match="run folder name"):
        write_run(*result, tmp_path, name=name)
    assert list(tmp_path.iterdir()) == []


def test_control_characters_never_reach_the_files(tmp_path):
    """NUL, newlines and terminal escapes in layer names (a CSV can carry them) are written as escapes."""
    topo = tiny("net\x1b[31m", ("conv\x00a", "conv\nb\u2028"))
    res = simulate(topo, HW, engine="compat")
    folder = write_run(res, topo, tmp_path)
    for f in folder.path.iterdir():
        data = f.read_bytes()
        assert b"\x00" not in data and b"\x1b" not in data and "\u2028".encode() not in data, f.name
        assert all(line.isprintable() for line in data.decode().splitlines()), f.name
    rows = list(csv.DictReader(io.StringIO((folder / "layers.csv").read_text())))
    assert [r["layer"] for r in rows] == ["conv\\x00a", "conv\\x0ab\\u2028"]
    assert "conv\\x00a," in (folder / "topology.csv").read_text()
    assert read_summary(folder)["model"] == "net\\x1b[31m"
    assert printable("ok name") == "ok name" and printable("\x7f\x85") == "\\x7f\\x85"


def test_user_model_source_names_the_folder(tmp_path, result):
    res, topo = result
    a = write_run(res, topo, tmp_path, source="models/net.py:model")
    b = write_run(res, topo, tmp_path, source="other/attn.py:model")
    assert a.name.startswith("net.py_model-4x4") and b.name.startswith("attn.py_model-4x4")
    assert read_summary(a)["source"] == "models/net.py:model"
    assert read_summary(b)["source"] == "other/attn.py:model"
    assert read_summary(write_run(res, topo, tmp_path))["source"] is None


def test_layers_csv_cio_paper_sums_to_the_summary(tmp_path):
    """cio is each layer's own in+out elements; cio_paper is its share of the paper-rule CIO of summary.json
    (a stand-alone stride-2 depthwise downsampler and the linear layer count in cio but not in cio_paper)."""
    layers = (_conv("stem", 3, 8, hw=16, kernel=1, output=0),
              _conv("down", 8, 8, hw=16, stride=2, groups=8, inputs=(0,), output=1),  # DS-HarDNet's downsampler
              _conv("block", 8, 8, hw=8, inputs=(1,), output=2),
              Layer("fc", "linear", 8, 1, 1, 10, 1, 1, inputs=(2,), output=3))
    topo = Topology("ds", layers, (3, 16, 16))
    res = simulate(topo, HW, engine="compat")
    folder = write_run(res, topo, tmp_path)
    rows = list(csv.DictReader(io.StringIO((folder / "layers.csv").read_text())))
    summary_cio = read_summary(folder)["metrics"]["cio"]
    assert summary_cio == metrics.cio(topo)
    assert sum(int(r["cio_paper"]) for r in rows) == summary_cio
    assert [int(r["cio"]) for r in rows] == [layer.cio for layer in layers]
    assert [int(r["cio_paper"]) for r in rows] == [layers[0].cio, 0, layers[2].cio, 0]


def test_non_finite_results_are_not_written(tmp_path, result):
    from dataclasses import replace

    res, topo = result
    bad = replace(res, meta={**res.meta, "energy_pj": {"dram": float("inf")}})
    with pytest.raises(ResultsError, match=r"meta\.energy_pj\.dram is inf"):
        write_run(bad, topo, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# replacement
# ---------------------------------------------------------------------------------------------------------------
def test_replacement_is_reported(tmp_path, result):
    first = write_run(*result, tmp_path)
    second = write_run(*result, tmp_path)
    assert (first.replaced, second.replaced) == (False, True)
    assert first.path == second.path and os.fspath(second) == str(second.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]  # nothing hidden left


def test_a_folder_that_is_not_a_run_is_never_replaced(tmp_path, result):
    rid = run_id(result[0], result[1].input_shape)
    mine = tmp_path / rid
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not a run folder"):
        write_run(*result, tmp_path)
    assert (mine / "thesis.tex").read_text() == "precious"
    (mine / "thesis.tex").unlink()
    assert write_run(*result, tmp_path).replaced is True  # an empty folder holds nothing to lose
    other = tmp_path / "x"
    other.mkdir()
    (other / rid).write_text("a file")
    with pytest.raises(OutputError, match="not a run folder"):
        write_run(*result, other)
    assert (other / rid).read_text() == "a file"


def test_stale_temporaries_are_cleaned(tmp_path, result):
    """A kill can leave a hidden temporary: the next write in that folder removes it once it is old."""
    old_tmp = files.make_temp_dir(tmp_path, "tiny-4x4")
    (old_tmp / "layers.csv").write_text("half")
    fresh_tmp = files.make_temp_dir(tmp_path, "tiny-8x8")  # another writer, now
    then = time.time() - 2 * files.STALE_AGE_S
    os.utime(old_tmp, (then, then))
    foreign = tmp_path / ".git"
    foreign.mkdir()
    os.utime(foreign, (then, then))
    write_run(*result, tmp_path)
    assert not old_tmp.exists() and fresh_tmp.exists() and foreign.exists()


@pytest.mark.parametrize("out", ["file", "file/sub", "/dev/null"])
def test_output_errors(tmp_path, result, out):
    (tmp_path / "file").write_text("keep")
    target = Path(out) if out.startswith("/") else tmp_path / out
    with pytest.raises(OutputError) as info:
        write_run(*result, target)
    assert "\n" not in str(info.value)
    assert (tmp_path / "file").read_text() == "keep"


# A child that writes a run folder (result and topology pickled by the parent) and SIGKILLs itself right after
# the first rename that touches the run folder (the step that the old code followed by a second rename).
_KILL_CHILD = textwrap.dedent("""
    import os, pickle, signal, sys
    from pathlib import Path
    from trafficsim import files
    from trafficsim.runs import write_run
    result, topology = pickle.loads(Path(sys.argv[1]).read_bytes())
    out = Path(sys.argv[2])
    final = str(out / sys.argv[3])
    def killing(fn):
        def wrapper(src, dst, *a, **k):
            out_ = fn(src, dst, *a, **k)
            if final in (os.fspath(src), os.fspath(dst)):
                os.kill(os.getpid(), signal.SIGKILL)
            return out_
        return wrapper
    files._rename2 = killing(files._rename2)
    os.rename = killing(os.rename)
    os.replace = killing(os.replace)
    write_run(result, topology, out)
""")


def _complete_run(folder: Path) -> bool:
    try:
        s = read_summary(folder)
    except ResultsError:
        return False
    return all((folder / f).is_file() for f in s["files"].values())


def test_kill_during_write_keeps_a_complete_run_folder(tmp_path, result):
    """SIGKILL right after the swap (the old code renamed the old folder aside there, and the kill left no run
    folder at all, 2 of 2 times): the run folder is complete, and the next write cleans the leftover."""
    res, topo = result
    blob = tmp_path / "run.pickle"
    blob.write_bytes(pickle.dumps((res, topo)))
    out = tmp_path / "reports"
    first = write_run(res, topo, out)
    before = (first / "summary.json").read_text()
    proc = subprocess.run([sys.executable, "-c", _KILL_CHILD, str(blob), str(out), first.name],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _complete_run(first.path)
    assert (first / "summary.json").read_text() != before or True  # new or old: both complete
    leftovers = [p for p in out.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1 and files._TEMP_RE.match(leftovers[0].name)  # the old folder, swapped out
    then = time.time() - 2 * files.STALE_AGE_S
    os.utime(leftovers[0], (then, then))
    write_run(res, topo, out)
    assert [p.name for p in out.iterdir()] == [first.name]


_WRITER = textwrap.dedent("""
    import pickle, sys
    from pathlib import Path
    from trafficsim.runs import write_run
    result, topology = pickle.loads(Path(sys.argv[1]).read_bytes())
    errors = 0
    for _ in range(int(sys.argv[3])):
        try:
            write_run(result, topology, sys.argv[2])
        except Exception as e:
            errors += 1
            print(type(e).__name__, e, file=sys.stderr)
    print(errors)
""")


def test_concurrent_writers_of_one_run_folder(tmp_path, result):
    """Four processes write the same run folder (the old code: 2 FileNotFoundErrors in 4 x 100 writes); here
    4 x 25 writes, none fails, and the folder never disappears while they run."""
    res, topo = result
    blob = tmp_path / "run.pickle"
    blob.write_bytes(pickle.dumps((res, topo)))
    out = tmp_path / "reports"
    final = write_run(res, topo, out).path
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(blob), str(out), "25"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    looks = missing = 0
    while any(p.poll() is None for p in procs):
        looks += 1
        missing += not final.is_dir()
    outs = [p.communicate(timeout=600) for p in procs]
    assert [o.strip() for o, _ in outs] == ["0"] * 4, [e for _, e in outs]
    assert missing == 0, f"{missing} of {looks} looks found no run folder"
    assert _complete_run(final) and [p.name for p in out.iterdir()] == [final.name]


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------
def test_cli_says_when_it_replaces_a_run_folder(tmp_path, capsys):
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                        "Num Filter, Strides,\nconv1,8,8,3,3,3,8,1,\n")
    args = ["run", str(csv_path), "--array", "4x4", "--sram", "1", "-o", str(tmp_path / "r"), "-q"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert first.err == ""
    assert main(args) == 0
    second = capsys.readouterr()
    assert second.out == first.out
    assert second.err == f"trafficsim: note: replaced the earlier run folder {first.out.strip()}\n"


def test_cli_user_models_get_their_own_folders(tmp_path, capsys):
    pytest.importorskip("torch")
    for stem in ("net", "attn"):
        (tmp_path / f"{stem}.py").write_text(textwrap.dedent(f"""
            import torch.nn as nn
            model = nn.Sequential(nn.Conv2d(3, {8 if stem == 'net' else 4}, 3, padding=1))
        """))
    out = tmp_path / "r"
    folders = []
    for stem in ("net", "attn"):
        assert main(["run", f"{tmp_path / stem}.py:model", "--input", "3x8x8", "--array", "4x4", "-o", str(out),
                     "-q"]) == 0
        cap = capsys.readouterr()
        assert cap.err == ""  # nothing replaced
        folders.append(Path(cap.out.strip()))
    assert [f.name.split("-")[0] for f in folders] == ["net.py_model", "attn.py_model"]
    assert read_summary(folders[1])["source"] == f"{tmp_path / 'attn'}.py:model"
    runs, _ = load_runs(out)
    assert len(runs) == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_report_is_refused_without_blocking(tmp_path, result):
    from test_files import _returns_within

    from trafficsim.reports import read_scalesim_reports

    folder = write_run(*result, tmp_path).path
    (folder / "COMPUTE_REPORT.csv").unlink()
    os.mkfifo(folder / "COMPUTE_REPORT.csv")
    with pytest.raises(ResultsError) as info:
        _returns_within(lambda: read_scalesim_reports(folder))
    assert str(info.value) == f"{folder / 'COMPUTE_REPORT.csv'}: a named pipe (FIFO), not a report file; give a " \
                              "regular file"


@pytest.mark.parametrize("out", ["file", "file/sub", "/dev/null", "ro"])
def test_cli_output_errors_are_one_line(tmp_path, capsys, out):
    """`trafficsim run -o` an existing file, file/sub, /dev/null, or a folder where the run folder's name is a
    file: one line on stderr, exit 1, nothing written (issue 11: 40-85-line tracebacks)."""
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                        "Num Filter, Strides,\nconv1,8,8,3,3,3,8,1,\n")
    (tmp_path / "file").write_text("keep")
    target = Path(out) if out.startswith("/") else tmp_path / out
    if out == "ro":  # the run folder's name is taken by a file
        target.mkdir()
        (target / "t-4x4-ws-1.1.1kB-compat").write_text("keep")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["run", str(csv_path), "--array", "4x4", "--sram", "1", "-o", str(target), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("trafficsim: error: ") and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "file").read_text() == "keep"


def test_run_ids_tell_dram_settings_apart():
    """A run on a DRAM standard never takes the folder of the ideal run or of another DRAM setting (the compat
    engine on ddr4-3200 used to replace its ideal run's folder)."""
    from types import SimpleNamespace

    from trafficsim.dram.config import DramConfig

    def rid(engine: str, **dram) -> str:
        hw = Hardware(dram=DramConfig(**dram)) if dram else Hardware()
        return run_id(SimpleNamespace(hardware=hw, model="m", engine=engine, meta={}))

    for engine in ("compat", "capacity"):
        ids = [rid(engine), rid(engine, standard="ddr4-3200"), rid(engine, standard="ddr4-3200", channels=2),
               rid(engine, standard="ddr4-3200", mapping="ChRaBaRoCo"),
               rid(engine, standard="ddr4-3200", page_policy="closed"),
               rid(engine, standard="ddr4-3200", xor_bank=True),
               rid(engine, standard="ddr4-3200", timings="nCL=24"),
               rid(engine, standard="lpddr4-3200")]
        assert len(set(ids)) == len(ids), ids
    assert rid("compat") == "m-32x32-ws-64.64.64kB-compat"   # ideal runs keep their names
    assert rid("compat", standard="ddr4-3200") == "m-32x32-ws-64.64.64kB-compat-ddr4-3200.1000MHz"
    assert rid("capacity", standard="ddr4-3200") == "m-32x32-ws-64.64.64kB-capacity-ddr4-3200.1000MHz"
