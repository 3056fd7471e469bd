"""From run folders to files: :func:`write_report` (figures as PNG and SVG, the tidy tables, ``index.html``) and
:func:`plot` (the figures as matplotlib objects, for notebooks)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..errors import InputError
from ..files import atomic_write_text, ensure_dir
from .figures import captions, draw_figures, save_figure
from .loading import ReportData, from_frame, load
from .page import write_page

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


@dataclass
class Report:
    """What :func:`write_report` produced."""

    data: ReportData
    out_dir: Path
    figures: dict[str, "Figure"]
    files: dict[str, tuple[Path, Path]]
    page: Path
    tables: dict[str, Path]


def write_report(directory: str | os.PathLike, out: str | os.PathLike | None = None,
                 models: Sequence[str] | None = None, metric: str = "dram_bytes") -> Report:
    """Load the runs under ``directory`` and write the figures (PNG and SVG), the tidy tables
    (``runs_table.csv``, ``layers_table.csv``) and ``index.html`` into ``out`` (default ``<directory>/plots``).
    Every file is written atomically; a folder that cannot be written is an
    :class:`~trafficsim.errors.OutputError` naming it."""
    data = load(directory, models)
    out_dir = Path(out) if out is not None else Path(directory) / "plots"
    figs = draw_figures(data, metric)
    tables = {"runs": out_dir / "runs_table.csv", "layers": out_dir / "layers_table.csv"}
    ensure_dir(out_dir)
    files = {name: save_figure(fig, out_dir, name) for name, fig in figs.items()}
    atomic_write_text(tables["runs"], data.runs.to_csv(index=False))
    atomic_write_text(tables["layers"], data.layers.to_csv(index=False))
    page = write_page(data, out_dir, files, tables, captions(metric))
    return Report(data=data, out_dir=out_dir, figures=figs, files=files, page=page, tables=tables)


def plot(directory: "str | os.PathLike | pd.DataFrame" = "reports", models: Sequence[str] | str | None = None,
         metric: str = "dram_bytes", out: str | os.PathLike | None = None) -> dict[str, "Figure"]:
    """Figures of the runs under ``directory``, by name, as matplotlib Figures (for notebooks).

    ``directory`` may also be a runs DataFrame, e.g. what :func:`trafficsim.sweep` returns (then ``out`` is
    not allowed: the page links run folders). ``models`` filters by model name (patterns allowed); ``metric``
    is the quantity of the per-layer, CIO and sweep figures (default ``dram_bytes``). With ``out``, also write
    the PNG/SVG files, tables and ``index.html`` there.

    >>> figs = trafficsim.plot("reports/", models=["hardnet68", "resnet50"])   # doctest: +SKIP
    >>> figs["traffic_by_operand"]                                               # doctest: +SKIP
    """
    if isinstance(models, str):
        models = [models]
    if hasattr(directory, "columns"):  # a DataFrame
        if out is not None:
            raise InputError("out= needs a directory of run folders, not a DataFrame")
        return draw_figures(from_frame(directory, models=models), metric)  # type: ignore[arg-type]
    if out is not None:
        return write_report(directory, out, models, metric).figures  # type: ignore[arg-type]
    return draw_figures(load(directory, models), metric)  # type: ignore[arg-type]
