"""The reference engine: the real ``scalesim`` 3.0.0 package, run in a temp dir.

It writes the topology CSV (conv format, or GEMM format when every layer is a GEMM), the
``.cfg`` and a layout CSV (3.0.0 requires one even with custom layouts off), drives SCALE-Sim's
per-layer runner so that ``progress`` is called per layer, lets SCALE-Sim write its own report
files and parses them, so every number is exactly what SCALE-Sim reports. SCALE-Sim's console
output is suppressed; its ``exit()`` calls and exceptions become :class:`EngineError`.

Slow (5-11 us of CPU per SRAM access): use it for validation on small inputs. Console output is
swallowed with ``contextlib.redirect_stdout``, which is process-wide: run it in processes, not threads.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path

from ..errors import EngineError, InputError, TrafficsimError
from ..hardware import Hardware
from ..results import LayerResult, RunResult
from ..files import atomic_write_text
from ..topology import ScaleSimRow, Topology, expand_dp, scalesim_rows, topology_csv_text
from . import ProgressFn, limits

ENGINE_NAME = "scalesim"
SCALESIM_VERSION = "3.0.0"
_RUN_NAME = "ref"  # SCALE-Sim's output sub-directory; the user's run_name may not be a safe dir name

LAYOUT_HEADER = (
    "Layer name", "IFMAP Height Intraline Factor", "IFMAP Width Intraline Factor",
    "Filter Height Intraline Factor", "Filter Width Intraline Factor", "Channel Intraline Factor",
    "Num Filter Intraline Factor", "IFMAP Height Intraline Order", "IFMAP Width Intraline Order",
    "Channel Intraline Order", "IFMAP Height Interline Order", "IFMAP Width Interline Order",
    "Channel Interline Order", "Num Filter Intraline Order", "Channel Intraline Order",
    "Filter Height Intraline Order", "Filter Width Intraline Order", "Num Filter Interline Order",
    "Channel Interline Order", "Filter Height Interline Order", "Filter Width Interline Order",
)


def check_environment() -> None:
    """Raise :class:`EngineError` unless ``scalesim`` 3.0.0 is importable with numpy < 2.4."""
    from importlib import metadata

    import numpy as np

    major, minor = (int(x) for x in np.__version__.split(".")[:2])
    if (major, minor) >= (2, 4):
        raise EngineError(f"the scalesim engine needs numpy<2.4 (SCALE-Sim 3.0.0 crashes with numpy "
                          f"{np.__version__}); install it with: pip install 'numpy<2.4'")
    try:
        version = metadata.version("scalesim")
    except metadata.PackageNotFoundError:
        raise EngineError("the scalesim engine needs the scalesim package: pip install scalesim==3.0.0") from None
    if version != SCALESIM_VERSION:
        raise EngineError(f"the scalesim engine needs scalesim=={SCALESIM_VERSION}, found {version}")


def layout_csv_text(rows: list[ScaleSimRow], gemm: bool = False) -> str:
    """A neutral SCALE-Sim 3.0.0 layout CSV with one line per topology CSV line.

    Its values only matter with ``[layout] *CustomLayout = True`` (never set by trafficsim), but
    SCALE-Sim parses it and expands ``DP`` lines by the Channel Intraline Factor, so that column
    holds the channel count to keep the expansion aligned with the topology.
    """
    lines = [", ".join(LAYOUT_HEADER) + ", "]
    for r in rows:
        name = r.name.replace("DP", "D_P") if gemm else r.name
        channels = 1 if gemm else r.channels
        values = [name, 1, 1, 1, 1, channels, 1, 0, 1, 2, 4, 5, 3, 3, 2, 1, 0, 4, 5, 6, 7]
        lines.append(", ".join(str(v) for v in values) + ",")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " / ".join(lines)[:300]


@contextlib.contextmanager
def _scalesim_call(captured: io.StringIO):
    """Run SCALE-Sim code quietly (its prints go to ``captured``, numpy's array-to-scalar
    deprecation warnings are ignored) and turn its ``exit()`` and exceptions into one-line
    :class:`EngineError`."""
    try:
        with contextlib.redirect_stdout(captured), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except TrafficsimError:
        raise
    except SystemExit:
        raise EngineError("SCALE-Sim exited: " + (_one_line(captured.getvalue()) or "no message")) from None
    except Exception as e:
        msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
        raise EngineError(f"SCALE-Sim failed: {msg}") from e


def run_scalesim(topology: Topology, hardware: Hardware, workdir: str | os.PathLike,
                 progress: ProgressFn = None) -> Path:
    """Run the real SCALE-Sim on ``topology``/``hardware`` inside ``workdir`` and return the folder
    holding its ``COMPUTE_REPORT.csv``, ``BANDWIDTH_REPORT.csv`` and ``DETAILED_ACCESS_REPORT.csv``.

    Each layer's matrices are freed as soon as its report items are known (SCALE-Sim itself keeps
    every layer's matrices until the end, ~2 KB per simulated cycle).
    """
    check_environment()
    workdir = Path(workdir)
    gemm = all(layer.kind == "gemm" for layer in topology.layers)
    rows = scalesim_rows(topology)
    topo_path, cfg_path, layout_path = workdir / "topology.csv", workdir / "scale.cfg", workdir / "layout.csv"
    atomic_write_text(topo_path, topology_csv_text(topology, "gemm" if gemm else "conv"))
    atomic_write_text(cfg_path, hardware.to_cfg(run_name=_RUN_NAME))
    atomic_write_text(layout_path, layout_csv_text(expand_dp(rows) if gemm else rows, gemm))
    out_top = workdir / "out"

    captured = io.StringIO()
    with _scalesim_call(captured):
        from scalesim.scale_sim import scalesim
        from scalesim.single_layer_sim import single_layer_sim

        sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg_path), topology=str(topo_path),
                       layout=str(layout_path), input_type_gemm=gemm)
        if not sim.config.valid_conf_flag:
            raise EngineError("SCALE-Sim rejected the generated config: " + _one_line(captured.getvalue()))
        runner = sim.runner
        runner.set_params(config_obj=sim.config, topo_obj=sim.topo, layout_obj=sim.layout,
                          top_path=str(out_top), verbosity=False, save_trace=False)
        # simulator.run(), step by step, so that progress can be reported per layer
        n = runner.num_layers
        for i in range(n):
            layer_sim = single_layer_sim()
            layer_sim.set_params(layer_id=i, config_obj=runner.conf, topology_obj=runner.topo,
                                 layout_obj=runner.layout, verbose=False)
            runner.single_layer_sim_object_list.append(layer_sim)
        os.makedirs(out_top, exist_ok=True)
        report_dir = out_top / runner.conf.get_run_name()
        report_dir.mkdir(exist_ok=True)
        runner.top_path = str(report_dir)
    if progress:
        progress(0, n)
    for i, layer_sim in enumerate(runner.single_layer_sim_object_list):
        with _scalesim_call(captured):
            layer_sim.run()
            layer_sim.calc_report_data()  # cache the report items, then free the matrices
            layer_sim.memory_system = layer_sim.compute_system = layer_sim.op_mat_obj = None
        if progress:
            progress(i + 1, n)
    with _scalesim_call(captured):
        runner.all_layer_run_done = True
        runner.generate_reports()
    return report_dir


def memory_estimate(row: ScaleSimRow, hardware: Hardware) -> int:
    """Bytes SCALE-Sim needs for one layer (an upper estimate): its demand and trace matrices and
    their temporaries hold up to ~10 int64 values per (2 x rows + columns) entries of each demand
    row (measured peaks: 7.3 on an 8x8 WS layer, 3.6 on a 32x32 OS one), and its operand and
    prefetch matrices ~4 int64 copies of each operand."""
    from .compat import fold_geometry

    g = fold_geometry(row, hardware)
    e, rsc, k = row.out_h * row.out_w, row.filter_h * row.filter_w * row.channels, row.num_filters
    per_demand_row = 8 * 10 * (2 * hardware.array_rows + hardware.array_cols + 1)
    return g.demand_rows * per_demand_row + 8 * 4 * (e * rsc + rsc * k + e * k)


def check_sizes(topology: Topology, hardware: Hardware) -> None:
    """Refuse (one-line :class:`~trafficsim.errors.TooLargeError`) what SCALE-Sim could not hold in
    memory or count in 64 bits, before starting it: SCALE-Sim keeps one layer's matrices at a time
    here (:func:`run_scalesim` frees them), so the largest layer decides."""
    from .compat import check_hardware, check_row, layer_rows

    check_hardware(hardware)
    seen = set()
    for row in layer_rows(topology):
        key = (row.ifmap_h, row.ifmap_w, row.filter_h, row.filter_w, row.channels, row.num_filters, row.stride)
        if key in seen:
            continue
        seen.add(key)
        check_row(row, hardware, memory=False)
        limits.check_memory(f"layer {row.name!r} on {hardware.array} {hardware.dataflow}: SCALE-Sim",
                            memory_estimate(row, hardware), "mostly its demand matrices, up to ~8 kB per cycle on 32x32")


def run_id_tags(result: RunResult) -> list[str]:
    """No options: nothing to add to the run id."""
    return []


def simulate(topology: Topology, hardware: Hardware, progress: ProgressFn = None, options: None = None) -> RunResult:
    """Simulate ``topology`` on ``hardware`` with the real SCALE-Sim 3.0.0 (slow; for validation).

    Returns one :class:`LayerResult` per SCALE-Sim layer (after ``DP`` expansion), every field
    parsed from SCALE-Sim's own report files; ``macs`` is SCALE-Sim's count (E * R*S*C * K).
    """
    from ..reports import read_scalesim_reports

    if options is not None:
        raise InputError(f"engine {ENGINE_NAME!r} takes no options")
    check_sizes(topology, hardware)
    rows = expand_dp(scalesim_rows(topology))
    with tempfile.TemporaryDirectory(prefix="trafficsim-scalesim-") as tmp:
        report_dir = run_scalesim(topology, hardware, tmp, progress)
        layers = read_scalesim_reports(report_dir, names=[r.name for r in rows],
                                       source_layers=[r.source_layer for r in rows],
                                       macs=[r.macs for r in rows])
    if len(layers) != len(rows):
        raise EngineError(f"SCALE-Sim reported {len(layers)} layers, expected {len(rows)}")
    return RunResult(model=topology.name, engine=ENGINE_NAME, hardware=hardware, layers=tuple(layers),
                     meta={"scalesim_version": SCALESIM_VERSION})
