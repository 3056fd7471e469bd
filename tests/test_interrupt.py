"""Ctrl-C and progress within a layer (issue 11): the compiled walk is stopped at its next fold
when asked, a long run stops on SIGINT with one line and exit status 130, and long layers report
progress while they run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trafficsim import Hardware, Layer, Topology
from trafficsim.engines import compat
from trafficsim.topology import ScaleSimRow

# a 3x3 4096->4096 layer on a 1x1 array: ~3e10 demand rows, hours of walking
LONG_CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "long,16,16,3,3,4096,4096,1,\n")


def test_control_cancels_the_walk_at_the_next_fold() -> None:
    row = ScaleSimRow("x", 12, 12, 3, 3, 8, 24, 1)
    hw = Hardware(array_rows=4, array_cols=4, dataflow="os")
    ctl = compat.new_control()
    compat.simulate_row(row, hw, control=ctl)
    g = compat.fold_geometry(row, hw)
    assert ctl[1] == g.row_folds * g.col_folds - 1      # the index of the last fold walked
    ctl = compat.new_control()
    ctl[0] = 1
    with pytest.raises(compat.Cancelled):
        compat.simulate_row(row, hw, control=ctl)
    assert ctl[1] == 0
    # the stamp arrays it left behind are cleared: the next walk is exact
    assert compat.simulate_row(row, hw) == compat.simulate_row(row, hw)


def test_cancel_from_another_thread_stops_a_long_walk() -> None:
    row = ScaleSimRow("long", 16, 16, 3, 3, 4096, 4096, 1)
    hw = Hardware(array_rows=1, array_cols=1, dataflow="os")
    ctl = compat.new_control()
    outcome: list[BaseException] = []

    def walk() -> None:
        try:
            compat.simulate_row(row, hw, control=ctl)
        except BaseException as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=walk, daemon=True)
    t.start()
    while ctl[1] < 10 and t.is_alive():   # wait until the walk is past its first folds
        time.sleep(0.01)
    ctl[0] = 1
    t.join(timeout=120)
    assert not t.is_alive(), "the walk did not stop"
    assert len(outcome) == 1 and isinstance(outcome[0], compat.Cancelled)


def test_progress_within_a_long_layer(monkeypatch) -> None:
    monkeypatch.setattr(compat, "PROGRESS_INTERVAL_S", 0.001)
    topo = Topology("one", (Layer("c", "conv", 64, 30, 30, 64, 28, 28, 3, 3),))
    calls: list[tuple[float, int]] = []
    compat.simulate(topo, Hardware(array_rows=2, array_cols=2, dataflow="os"),
                    progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)
    partial = [d for d, _ in calls if 0 < d < 1]
    assert partial, calls                 # progress while the only layer runs
    assert partial == sorted(partial)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see the child's CPU time")
def test_ctrl_c_stops_a_long_run(tmp_path: Path) -> None:
    # the kernel is compiled (or loaded from numba's cache) before the child starts
    compat.simulate_row(ScaleSimRow("warm", 6, 6, 3, 3, 2, 3, 1), Hardware(array_rows=1, array_cols=1, dataflow="os"))
    csv = tmp_path / "long.csv"
    csv.write_text(LONG_CSV)
    out = tmp_path / "reports"
    child = subprocess.Popen([sys.executable, "-m", "trafficsim", "run", str(csv), "--array", "1x1", "--dataflow", "os",
                              "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             # a test runner started in the background may ignore SIGINT: the child must not
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # past start-up (imports, ~1-2 CPU-s) and into the walk, which needs hours
        while _cpu_seconds(child.pid) < 4 and child.poll() is None:
            time.sleep(0.1)
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130
    assert err.strip().splitlines() == ["trafficsim: interrupted"], err
    assert not out.exists() or not any(out.iterdir())

