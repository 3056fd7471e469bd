"""Errors a user can cause. The CLI prints their message on one line and exits non-zero.

Anything that is not a :class:`TrafficsimError` is a bug in trafficsim and may show a traceback.
"""
from __future__ import annotations


class TrafficsimError(Exception):
    """Base class for problems caused by user input (files, options, models)."""


class InputError(TrafficsimError, ValueError):
    """A malformed option value, shape or size (e.g. ``--array 32x``, a zero SRAM size)."""


class TooLargeError(InputError):
    """A layer, option or run too large to simulate: more memory than the limit allows, or numbers
    beyond the engines' 64-bit counters (see :mod:`trafficsim.engines.limits`)."""


class TopologyError(TrafficsimError, ValueError):
    """A topology that cannot be read or simulated (bad CSV row, filter larger than its input...)."""


class UnmodelledOpError(TopologyError):
    """A model calls ops the converter cannot simulate, and strict mode asked for an error."""


class ConfigError(TrafficsimError, ValueError):
    """A hardware configuration that cannot be read or is invalid (bad .cfg, unknown dataflow...)."""


class UnknownModelError(TrafficsimError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EngineError(TrafficsimError, RuntimeError):
    """An engine could not run (e.g. the reference SCALE-Sim package failed on an input)."""


class ResultsError(TrafficsimError, ValueError):
    """A run folder or results file that cannot be read."""


class OutputError(TrafficsimError, OSError):
    """A file or folder that cannot be written (an existing file where a folder goes, a read-only
    folder, a full disk...). The message is one line, ``"<path>: <reason>"``; it is also an
    :class:`OSError`, so ``except OSError`` keeps working."""


class TrafficsimWarning(UserWarning):
    """Something the user should know about an input that trafficsim still runs (a SCALE-Sim v2 config,
    a config key SCALE-Sim does not know...). The CLI prints it as one ``trafficsim: warning:`` line."""
