"""Colours, line styles and the matplotlib settings of every figure (matplotlib imported only when drawing).

Colours: Okabe-Ito, then Paul Tol's "muted" scheme (both colour-blind safe); each network keeps one colour in
every figure and table of a report. Operands are told apart by tint and hatch, engines by hatch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe & Ito (2008) without yellow first (poor on white), then Tol's "muted" scheme.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
                            "#332288", "#882255", "#44AA99", "#999933", "#AA4499", "#117733", "#DDCC77",
                            "#88CCEE", "#CC6677", "#F0E442")
# per operand: share of white mixed into the network colour, and hatch
OPERAND_STYLE: tuple[tuple[float, str], ...] = ((0.0, ""), (0.45, "///"), (0.75, ".."))
LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")


def network_colors(networks: Iterable[str]) -> dict[str, str]:
    """Colour-blind-safe colours for networks in sorted order (cycling after 17)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(set(networks)))}


def tint(color: str, white: float) -> tuple[float, float, float]:
    """``color`` mixed with ``white`` (0..1) parts of white."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r + (1 - r) * white, g + (1 - g) * white, b + (1 - b) * white)


def rc_style() -> Any:
    """The rc settings of every figure, as a context manager."""
    import matplotlib as mpl

    return mpl.rc_context({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
        "axes.axisbelow": True, "axes.spines.top": False, "axes.spines.right": False,
        "hatch.linewidth": 0.6, "svg.hashsalt": "trafficsim", "svg.fonttype": "none",
    })


def new_figure(width: float, height: float) -> "Figure":
    """A Figure on the Agg canvas (pyplot and the user's backend are never touched), constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def bar_figure_width(n_groups: int, n_bars: int) -> float:
    return min(16.0, max(6.5, 2.8 + n_groups * (0.35 * n_bars + 0.5)))


def legend_outside(ax: "Axes", handles, labels, title: str | None = None, ncol: int = 1) -> None:
    ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              ncol=ncol, borderaxespad=0.0)
