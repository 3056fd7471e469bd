"""Start-up (issue 11 item 6): before a one-time numba compile the user is told, once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trafficsim import Hardware, Layer, Topology


@pytest.mark.parametrize("engine", ["compat", "capacity"])
def test_compile_notice_only_when_the_cache_is_empty(engine: str, tmp_path: Path) -> None:
    # numba's cache in an empty folder: the engine says a one-time compile is coming (nothing compiled here)
    code = f"from trafficsim.engines import compile_notice; print(compile_notice({engine!r}))"
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}).stdout
    assert cold.startswith(f"compiling the {engine} engine's") and "once" in cold
    # warm: compile (or load) once, then nothing to say
    from trafficsim.engines import compile_notice, simulate
    # (the capacity engine searches small layers in Python without numba: a layer whose search needs the kernel)
    layer = Layer("c", "conv", 2, 6, 6, 3, 4, 4, 3, 3) if engine == "compat" else \
        Layer("c", "conv", 64, 56, 56, 64, 56, 56, 3, 3, pad_h=1, pad_w=1)
    simulate(Topology("w", (layer,)), Hardware(array_rows=2, array_cols=2), engine)
    assert compile_notice(engine) is None


_COMPILE_SCOPE = r"""
import json, sys
import trafficsim as ts
from trafficsim.engines import compile_notice
from trafficsim.engines import compat_kernel, compat_dram_stream
from trafficsim.dram import controller, mapping

ws, is_ = ts.apply_options(array="8x8", dataflow="ws"), ts.apply_options(array="8x8", dataflow="is")
ddr4 = ts.apply_options(array="8x8", dataflow="ws", dram_standard="DDR4-3200")
before, before_ddr4 = compile_notice("compat", ws), compile_notice("compat", ddr4)
ts.simulate(sys.argv[1], ddr4)
out = {"before": before, "before_ddr4": before_ddr4, "after_ddr4": compile_notice("compat", ddr4),
       "after_ws": compile_notice("compat", ws), "after_is": compile_notice("compat", is_),
       "variants": sorted(key for key, k in compat_kernel._WALK_KERNELS.items() if k.signatures), "signatures": {}}
for mod in (compat_kernel, compat_dram_stream, controller, mapping):
    kernels = [(n, k) for n, k in vars(mod).items() if hasattr(k, "signatures")]
    kernels += [(k.py_func.__qualname__, k) for k in compat_kernel._WALK_KERNELS.values()] if mod is compat_kernel else []
    for name, k in kernels:
        out["signatures"][f"{mod.__name__.rsplit('.', 1)[1]}.{name}"] = [str(s) for s in k.signatures]
print(json.dumps(out))
"""


def test_a_first_run_compiles_only_its_dataflow_and_mode_once(tmp_path: Path) -> None:
    # Issue 11 (cut the first-run compile): on an empty numba cache, a WS run in CALC mode on a DRAM standard
    # compiles the walk of WS/CALC only (not the other dataflows' or USER mode's code: their helpers stay
    # uncompiled) and every kernel once (no extra specialisation for a literal argument such as 0 or True).
    tiny = Path(__file__).resolve().parents[1] / "examples" / "tiny.csv"
    proc = subprocess.run([sys.executable, "-c", _COMPILE_SCOPE, str(tiny)], capture_output=True, text=True,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["before"] is not None and "WS dataflow" in out["before"] and "DRAM" not in out["before"]
    assert "WS dataflow" in out["before_ddr4"] and "DRAM stream and model" in out["before_ddr4"]
    assert out["after_ddr4"] is None
    assert out["after_ws"] is None                  # the WS kernel is cached now ...
    assert out["after_is"] is not None              # ... the IS one is not: it compiles on its first use
    assert out["variants"] == [[1, False]]          # (dataflow.WS, CALC)
    sigs = out["signatures"]
    assert sigs["compat_kernel.walk_layer_ws_calc"], "the WS/CALC walk was not compiled"
    for unused in ("_read_row_user", "_user_hit",          # USER mode only
                   "_stamp_fold_after", "_valid_x_range"):  # OS pass merging only
        assert sigs[f"compat_kernel.{unused}"] == [], f"{unused} compiled by a WS/CALC run"
    assert sigs["compat_dram_stream.walk_layer_stream"] and sigs["controller.run_kernel"]
    several = {name: s for name, s in sigs.items() if len(s) > 1 or any("Literal" in x for x in s)}
    assert several == {}, f"kernels compiled more than once or for a literal argument: {several}"


def test_run_imports_no_report_figures_and_plot_help_lists_them(tmp_path: Path) -> None:
    # Issue 11 (start-up): `trafficsim run` imports nothing it does not use. The plot command's help lists the
    # figure registry, built when that help is shown, not on every command (~30 ms of a ~1 CPU-s run).
    tiny = Path(__file__).resolve().parents[1] / "examples" / "tiny.csv"
    code = ("import sys\nfrom trafficsim.cli import main\n"
            f"rc = main(['run', {str(tiny)!r}, '--array', '4x4', '-o', {str(tmp_path / 'r')!r}, '-q'])\n"
            "heavy = sorted(m for m in ('trafficsim.report.figures', 'trafficsim.report.build', 'pandas', "
            "'matplotlib', 'torch', 'scalesim') if m in sys.modules)\n"
            "print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"
    from trafficsim.report import FIGURES

    help_text = subprocess.run([sys.executable, "-m", "trafficsim", "plot", "--help"], capture_output=True,
                               text=True, check=True, env={**os.environ, "COLUMNS": "200"}).stdout
    assert all(name in help_text for name in FIGURES), help_text
