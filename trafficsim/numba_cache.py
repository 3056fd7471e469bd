"""What numba's on-disk cache holds: used to tell users before a one-time compile.

Reads the cache index of a ``@njit(cache=True)`` function without compiling or loading anything
(numba's ``FunctionCache``; private API, so any surprise means "cannot tell").
"""
from __future__ import annotations

from typing import Any


def is_cached(dispatcher: Any) -> bool:
    """Does numba's cache hold a compiled version of ``dispatcher`` for its current source?
    (True when it cannot tell: the caller then says nothing.) A :class:`~trafficsim.lazyjit.LazyJit` kernel not
    compiled yet is looked up by its index file's name, without importing numba (a run that never needs the kernel
    must not pay numba's import for the notice)."""
    from .lazyjit import LazyJit

    if isinstance(dispatcher, LazyJit):
        if not dispatcher.is_compiled:
            return _index_file_exists(dispatcher.py_func)
        dispatcher = dispatcher.dispatcher()
    try:
        cache = dispatcher._cache
        index = cache._cache_file._load_index()   # {} when missing or stale (source changed)
    except Exception:  # noqa: BLE001 (another numba version: no notice rather than a wrong one)
        return True
    return bool(index)


def _index_file_exists(fn: Any) -> bool:
    """Is there a numba cache index for ``fn`` (``<module stem>.<qualname>-<line>.py<XY>.nbi``) in the
    ``__pycache__`` beside its source or under ``NUMBA_CACHE_DIR``? (Presence only: a stale index after an edit
    of the source is not told apart; True when the lookup itself fails.)"""
    import glob
    import os
    import sys
    from pathlib import Path

    try:
        src = Path(fn.__code__.co_filename)
        name = (f"{src.stem}.{fn.__qualname__}-{fn.__code__.co_firstlineno}"
                f".py{sys.version_info.major}{sys.version_info.minor}.nbi")
        root = os.environ.get("NUMBA_CACHE_DIR")
        if root:
            return any(glob.iglob(os.path.join(glob.escape(root), "**", glob.escape(name)), recursive=True))
        return (src.parent / "__pycache__" / name).is_file()
    except Exception:  # noqa: BLE001
        return True
