"""Helpers shared by the tests (fixtures, so no test module imports another).

* ``cli(args)`` runs the ``trafficsim`` command in-process and returns a :class:`CliRun`
  (exit code, stdout, stderr); ``CliRun.error_line()`` asserts the bad-input contract:
  non-zero exit, exactly one line on stderr starting ``trafficsim: error:``, no traceback.
* ``small_csv`` / ``tiny_topology``: a two-row SCALE-Sim CSV (one plain conv, one ``DP`` row)
  small enough for the real SCALE-Sim, and its Topology.
* ``user_model_file(text, name="net.py")`` writes a user-model file into ``tmp_path``.
* ``files_under(path)``: every file below ``path`` (to check that nothing was written).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

SMALL_CSV_TEXT = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
    "c1,10,10,3,3,4,8,1,\n"
    "c2DP,9,9,3,3,3,1,2,\n"
)


@dataclass
class CliRun:
    """What one in-process ``trafficsim`` invocation did."""

    rc: int
    out: str
    err: str

    def __iter__(self):  # rc, out, err = cli([...])
        return iter((self.rc, self.out, self.err))

    def error_line(self) -> str:
        """The one stderr line of a refused input (asserting the bad-input contract)."""
        assert self.rc != 0, f"exit 0 on bad input; stdout: {self.out!r}"
        assert "Traceback" not in self.err, self.err
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {self.err!r}"
        assert lines[0].startswith("trafficsim: error:"), lines[0]
        return lines[0]


@pytest.fixture()
def cli(capsys) -> Callable[[list[str]], CliRun]:
    """``cli(["run", ...])`` -> :class:`CliRun`; output captured by pytest's capsys."""
    from trafficsim.cli import main

    def run(args: list[str]) -> CliRun:
        capsys.readouterr()  # drop anything printed before
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliRun(rc, captured.out, captured.err)

    return run


@pytest.fixture()
def small_csv(tmp_path: Path) -> Path:
    p = tmp_path / "small.csv"
    p.write_text(SMALL_CSV_TEXT)
    return p


@pytest.fixture()
def tiny_topology(small_csv: Path):
    from trafficsim.topology import read_csv

    return read_csv(small_csv)


@pytest.fixture()
def user_model_file(tmp_path: Path) -> Callable[..., Path]:
    """``user_model_file(source, name="net.py")`` -> the path of a module written with that source."""

    def write(source: str, name: str = "net.py") -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(source))
        return p

    return write


def files_under(path: Path) -> list[Path]:
    """Every file (not folder) below ``path``; [] when it does not exist."""
    return sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).exists() else []


@pytest.fixture(name="files_under")
def _files_under() -> Callable[[Path], list[Path]]:
    return files_under
