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

from .build import Report, plot, write_report
from .figures import (FIGURES, FigureInfo, captions, draw_figures, figure_names, layer_blocks, register_figure,
                      save_figure)
from .loading import ReportData, from_frame, hardware_label, hardware_text, load
from .tables import check_metric, engine_pairs, sweeps, text_summary
from .units import METRICS, axis_label, metric_info, scale_for

__all__ = ["Report", "plot", "write_report", "FIGURES", "FigureInfo", "captions", "figure_names", "draw_figures",
           "layer_blocks", "register_figure", "save_figure", "ReportData", "from_frame", "hardware_label",
           "hardware_text", "load", "check_metric", "engine_pairs", "sweeps", "text_summary", "METRICS",
           "axis_label", "metric_info", "scale_for"]
