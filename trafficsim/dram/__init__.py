"""The memory system behind the engines: DRAM configuration (``DramConfig``), and the one boundary
where engines ask how long tile transfers take and what they cost (:mod:`.transfers`).

Kept light on import: :mod:`trafficsim.hardware` imports the configuration record, so nothing here
may pull in compiled kernels at import time.
"""
from __future__ import annotations

from .config import DramConfig

__all__ = ["DramConfig"]
