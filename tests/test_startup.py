"""Start-up (issue 11 item 6): before a one-time numba compile the user is told, once."""
from __future__ import annotations

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
