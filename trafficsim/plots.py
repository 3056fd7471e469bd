"""The former home of figures and the report page, now :mod:`trafficsim.report`; this alias keeps
``trafficsim.plots.plot``, ``write_report``, ``load`` and the ``fig_*`` functions importable."""
from __future__ import annotations

from .report import *  # noqa: F401,F403
from .report import __all__ as _report_all
from .report.figures import (fig_cio, fig_cycles, fig_engines, fig_layers, fig_sweep,  # noqa: F401
                             fig_traffic_by_operand)
from .report.figures import draw_figures as figures  # the old name

__all__ = [*_report_all, "figures", "fig_cio", "fig_cycles", "fig_engines", "fig_layers", "fig_sweep",
           "fig_traffic_by_operand"]
