"""The ``trafficsim`` command line: a thin layer over the Python API.

Each sub-module registers its commands on :data:`app`. Errors a user can cause
(:class:`~trafficsim.errors.TrafficsimError`, usage errors) are printed as one line on stderr
with a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import signal
import sys
import threading
import warnings

import typer

from ..errors import TrafficsimError, TrafficsimWarning

def _click_exception_types() -> tuple[type, ...]:
    # typer >= 0.20 vendors click as typer._click; older typer uses click itself.
    types: list[type] = []
    for modname in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = __import__(modname, fromlist=["ClickException"])
            types.append(mod.ClickException)
        except ImportError:
            pass
    return tuple(types)


app = typer.Typer(
    name="trafficsim",
    help="Simulate DRAM traffic and cycles of CNNs on systolic-array accelerators "
         "(SCALE-Sim 3.0.0 compatible, and a capacity-aware memory model).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    """Simulate DRAM traffic and cycles of CNNs on systolic-array accelerators.

    Start with 'trafficsim list', then 'trafficsim run hardnet68 --array 32x32'.
    """


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print ``trafficsim: error: message`` on stderr and return an Exit to raise."""
    print(f"trafficsim: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _register() -> None:
    # Importing the modules registers their commands on `app`.
    for optional in ("models", "run", "validate", "plot", "sweep", "dram"):
        try:
            __import__(f"{__name__}.{optional}")
        except ModuleNotFoundError as e:  # a command family not built yet
            if e.name != f"{__name__}.{optional}":
                raise


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # warnings (e.g. ops a model calls that are not modelled) are one line each, like errors
    print(f"trafficsim: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trafficsim`` console script."""
    _register()
    global _interrupted
    _interrupted = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", TrafficsimWarning)
            warnings.showwarning = _show_warning
            rc = _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if _interrupted and rc == 130:  # typer turns Ctrl-C into a silent exit status 130
        print("trafficsim: interrupted", file=sys.stderr)
    return rc


_interrupted = False


def _on_sigint(signum, frame) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _main(argv: list[str] | None) -> int:
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="trafficsim")
        return int(rv or 0) if isinstance(rv, int) else 0
    except TrafficsimError as e:
        print(f"trafficsim: error: {e}", file=sys.stderr)
        return 1
    except typer.Exit as e:
        return int(getattr(e, "exit_code", 0) or 0)
    except typer.Abort:
        print("trafficsim: aborted", file=sys.stderr)
        return 130
    except _click_exception_types() as e:  # usage errors: bad option, missing argument
        if type(e).__name__ == "NoArgsIsHelpError":  # the help was printed: that is the message
            return 0
        hint = ""
        ctx = getattr(e, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} --help')"
        print(f"trafficsim: error: {e.format_message()}{hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        globals()["_interrupted"] = True
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    code = main()
    # The process ends here: move every object to the collector's permanent generation, so that
    # the interpreter's exit does not walk numba's large object graph (measured: 0.3-0.45 of the
    # 1.5-2 CPU-s of `trafficsim run hardnet68 --array 32x32`; benchmarks/bench_startup.py)
    import gc

    gc.freeze()
    sys.exit(code)
