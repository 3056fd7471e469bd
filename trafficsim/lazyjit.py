"""Numba kernels compiled (or loaded from numba's cache) on first use, with a pure-Python twin.

Importing numba and loading a cached kernel costs ~0.6 + ~0.3 CPU-s per process, more than a whole small run
(a Llama-3-8B decode step on the capacity engine searches ten distinct GEMM shapes of a few hundred tilings
each). ``@lazy_njit(cache=True)`` defers both to the first jitted call and keeps the plain function: ``f.py(*a)``
runs the same code in Python with every lazy kernel it calls in Python too, so a caller can pick the
interpreter for small inputs and the compiled kernel for large ones; both give the same integers.

A lazy kernel may call other lazy kernels (also across modules): when it is compiled, the names it uses that
refer to lazy kernels are bound to their numba dispatchers; in ``.py`` to their Python twins.
"""
from __future__ import annotations

import types
from typing import Any, Callable


class LazyJit:
    """A function compiled with ``numba.njit(**options)`` on its first jitted call (see the module doc)."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.py_func = fn
        self._options = options
        self._dispatcher: Any = None
        self._python: Callable[..., Any] | None = None
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__doc__ = fn.__doc__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<lazy numba kernel {self.__module__}.{self.__qualname__}>"

    def _rebound(self, pick: Callable[["LazyJit"], Any]) -> types.FunctionType:
        """The function with the lazy kernels among the globals it names replaced by ``pick(kernel)``."""
        fn = self.py_func
        names = {n for n in fn.__code__.co_names if isinstance(fn.__globals__.get(n), LazyJit)}
        if not names:
            return fn  # type: ignore[return-value]
        return with_globals(fn, {n: pick(fn.__globals__[n]) for n in names})

    @property
    def is_compiled(self) -> bool:
        """True once the numba dispatcher exists (numba imported; the kernel may still compile on its call)."""
        return self._dispatcher is not None

    def dispatcher(self) -> Any:
        """The numba dispatcher (imports numba the first time)."""
        if self._dispatcher is None:
            from numba import njit

            self._dispatcher = njit(**self._options)(self._rebound(LazyJit.dispatcher))
        return self._dispatcher

    def __call__(self, *args: Any) -> Any:
        return self.dispatcher()(*args)

    @property
    def py(self) -> Callable[..., Any]:
        """The function run by the interpreter, calling the Python twins of the kernels it uses."""
        if self._python is None:
            self._python = self._rebound(lambda k: k.py)
        return self._python


def with_globals(fn: Callable[..., Any], changes: dict[str, Any], qualname: str | None = None) -> types.FunctionType:
    """A copy of ``fn`` that sees ``changes`` in place of those globals (its module is untouched), named
    ``qualname`` if given. numba freezes globals at compile time, so this is how one function's source becomes
    kernels with other callees (:class:`LazyJit`) or other constants (``compat_kernel.walk_kernel``); numba
    caches each copy under its qualified name."""
    glob = dict(fn.__globals__)
    glob.update(changes)
    new = types.FunctionType(fn.__code__, glob, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__qualname__, new.__module__, new.__doc__ = qualname or fn.__qualname__, fn.__module__, fn.__doc__
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def lazy_njit(**options: Any) -> Callable[[Callable[..., Any]], LazyJit]:
    """``@lazy_njit(cache=True)``: like ``@numba.njit(cache=True)``, compiled on first jitted call."""

    def wrap(fn: Callable[..., Any]) -> LazyJit:
        return LazyJit(fn, options)

    return wrap
