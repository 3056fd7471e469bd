"""What numba's on-disk cache holds: used to tell users before a one-time compile.

Reads the cache index of a ``@njit(cache=True)`` function without compiling or loading anything
(numba's ``FunctionCache``; private API, so any surprise means "cannot tell").
"""
from __future__ import annotations

from typing import Any


def is_cached(dispatcher: Any) -> bool:
    """Does numba's cache hold a compiled version of ``dispatcher`` for its current source?
    (True when it cannot tell: the caller then says nothing.)"""
    try:
        cache = dispatcher._cache
        index = cache._cache_file._load_index()   # {} when missing or stale (source changed)
    except Exception:  # noqa: BLE001 (another numba version: no notice rather than a wrong one)
        return True
    return bool(index)
