"""Reports from run folders: tidy tables, figures and a self-contained page.

* :mod:`~trafficsim.report.loading` — run folders (or a sweep DataFrame) -> :class:`ReportData` (one row per
  run, one per layer); damaged folders are skipped with one warning line each.
* :mod:`~trafficsim.report.tables` — what the figures, the page and the terminal show (no matplotlib).
* :mod:`~trafficsim.report.figures` — every figure in ONE registry (:data:`FIGURES`: name -> function +
  caption); adding a figure is one function with :func:`register_figure`.
* :mod:`~trafficsim.report.page` — ``index.html`` from the files and captions it is given.
* :mod:`~trafficsim.report.build` — :func:`write_report` and :func:`plot`.

Units, colours and styles live in :mod:`~trafficsim.report.units` and :mod:`~trafficsim.report.style`.
matplotlib and pandas are imported only when something is drawn or loaded.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each public name lives. They are imported on first use (PEP 562), so that the CLI, which
# reads the figure registry only for `trafficsim plot --help`, does not import the figure modules on
# every command (~30 ms of a ~1 CPU-s `trafficsim run`).
_SOURCES = {
    "build": ("Report", "plot", "write_report"),
    "figures": ("FIGURES", "FigureInfo", "captions", "draw_figures", "figure_names", "layer_blocks",
                "register_figure", "save_figure"),
    "loading": ("ReportData", "from_frame", "hardware_label", "hardware_text", "load"),
    "tables": ("check_metric", "engine_pairs", "sweeps", "text_summary"),
    "units": ("METRICS", "axis_label", "metric_info", "scale_for"),
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [name for names in _SOURCES.values() for name in names]

if TYPE_CHECKING:
    from .build import Report, plot, write_report
    from .figures import (FIGURES, FigureInfo, captions, draw_figures, figure_names, layer_blocks,
                          register_figure, save_figure)
    from .loading import ReportData, from_frame, hardware_label, hardware_text, load
    from .tables import check_metric, engine_pairs, sweeps, text_summary
    from .units import METRICS, axis_label, metric_info, scale_for


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
