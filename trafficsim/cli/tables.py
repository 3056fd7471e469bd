"""Tables that fit the terminal: whole columns are left out (least useful first) rather than cells cut,
and the columns users must type from (model and layer names) are never shortened."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Sequence

# rich's default box: "│ " before each cell, " " after it, and one closing "│"
_PER_COLUMN = 3
_EDGE = 1
# Output that is not a terminal (a pipe, a file) is not squeezed to 80 columns unless COLUMNS says so
PIPE_WIDTH = 160


@dataclass(frozen=True)
class Column:
    """A table column: ``drop`` orders which go first when space is short (higher first; 0 = never)."""

    header: str
    justify: Literal["left", "right"] = "right"
    drop: int = 0


def console(stderr: bool = False):
    """A rich Console as wide as the terminal; COLUMNS if set; otherwise :data:`PIPE_WIDTH` when piped."""
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c = Console(stderr=stderr, width=PIPE_WIDTH, highlight=False)
    return c


def fitted_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, title: str | None = None):
    """A rich Table of ``rows`` with as many columns as fit in ``width`` characters (never-dropped columns
    always shown whole), and the headers of the columns left out."""
    from rich.table import Table

    widths = [max([len(c.header), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    keep = list(range(len(columns)))
    dropped: list[str] = []
    for i in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop):
        if sum(widths[k] + _PER_COLUMN for k in keep) + _EDGE <= width:
            break
        keep.remove(i)
        dropped.append(columns[i].header)
    table = Table(title=title, header_style="bold")
    for k in keep:
        c = columns[k]
        table.add_column(c.header, justify=c.justify, no_wrap=True, min_width=widths[k] if not c.drop else None)
    for r in rows:
        table.add_row(*(r[k] for k in keep))
    return table, dropped


def dropped_note(dropped: Sequence[str], width: int, hint: str = "--json has them all") -> str | None:
    """One line naming the columns a narrow terminal left out."""
    if not dropped:
        return None
    return f"({', '.join(dropped)} left out to fit {width} columns; {hint})"
