"""Ramulator's DRAM-trace format: one request per line, ``0xADDR R`` or ``0xADDR W``.

Read as Ramulator's ``Trace::get_dramtrace_request`` does (a hexadecimal address with or without
``0x``, then ``R`` or ``W``; no type means a read), with two deliberate differences: blank lines
are skipped (Ramulator stops with an exception), and a last line without a final newline is read
(Ramulator drops it; :func:`read_trace` reports that so the CLI can say so).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import InputError
from ..files import atomic_write_text, read_bytes_bounded

MAX_TRACE_BYTES = 512 * 2**20  # 512 MiB: about 33 million requests (the model then holds ~3.5 GB)


@dataclass(frozen=True)
class Trace:
    """A request stream: byte addresses and a write flag per request."""

    addr: np.ndarray
    is_write: np.ndarray
    path: str = ""
    unterminated_last_line: bool = False

    def __len__(self) -> int:
        return int(self.addr.shape[0])


@njit(cache=True, nogil=True)
def _parse(buf, addr, is_write):
    """Fill ``addr``/``is_write``; returns (requests, 0) or (-1, line number of the first bad line)."""
    n = buf.shape[0]
    p = 0
    line = 0
    k = 0
    while p < n:
        line += 1
        # one line: [spaces] [0x] hexdigits [sep] [spaces] [R|W] [anything from here ignored? no: spaces] \n
        q = p
        while q < n and (buf[q] == 32 or buf[q] == 9):
            q += 1
        if q >= n or buf[q] == 10 or buf[q] == 13:   # blank line
            while q < n and buf[q] != 10:
                q += 1
            p = q + 1
            continue
        if q + 1 < n and buf[q] == 48 and (buf[q + 1] == 120 or buf[q + 1] == 88):
            q += 2
        a = np.uint64(0)
        digits = 0
        while q < n:
            ch = buf[q]
            if 48 <= ch <= 57:
                d = ch - 48
            elif 97 <= ch <= 102:
                d = ch - 87
            elif 65 <= ch <= 70:
                d = ch - 55
            else:
                break
            if digits >= 16:
                return -1, line
            a = (a << np.uint64(4)) | np.uint64(d)
            digits += 1
            q += 1
        if digits == 0:
            return -1, line
        w = 0
        if q < n and buf[q] != 10 and buf[q] != 13:
            if buf[q] != 32 and buf[q] != 9:
                return -1, line
            while q < n and (buf[q] == 32 or buf[q] == 9):
                q += 1
            if q < n and buf[q] != 10 and buf[q] != 13:
                if buf[q] == 82:
                    w = 0
                elif buf[q] == 87:
                    w = 1
                else:
                    return -1, line
                q += 1
                while q < n and (buf[q] == 32 or buf[q] == 9 or buf[q] == 13):
                    q += 1
                if q < n and buf[q] != 10:
                    return -1, line
        while q < n and buf[q] == 13:
            q += 1
        if q < n and buf[q] != 10:
            return -1, line
        addr[k] = a
        is_write[k] = w
        k += 1
        p = q + 1
    return k, 0


def parse_trace(data: bytes, where: str = "trace") -> Trace:
    """Parse trace text (bytes); one-line :class:`InputError` naming ``where:line`` on a bad line."""
    buf = np.frombuffer(data, dtype=np.uint8)
    lines = int(np.count_nonzero(buf == 10)) + 1
    addr = np.empty(lines, np.uint64)
    is_write = np.empty(lines, np.bool_)
    k, bad = _parse(buf, addr, is_write)
    if k < 0:
        text = _line_text(data, bad)
        raise InputError(f"{where}:{bad}: expected '0xADDRESS R' or '0xADDRESS W' (hexadecimal address, at most "
                         f"16 digits), got {text!r}")
    unterminated = bool(data) and not data.endswith(b"\n") and bool(data.strip().rsplit(b"\n", 1)[-1].strip())
    return Trace(addr[:k].copy(), is_write[:k].copy(), where, unterminated)


def _line_text(data: bytes, line: int) -> str:
    start = 0
    for _ in range(line - 1):
        start = data.index(b"\n", start) + 1
    end = data.find(b"\n", start)
    raw = data[start:end if end >= 0 else len(data)][:80]
    return raw.decode("utf-8", "replace").rstrip("\r")


def read_trace(path: str | os.PathLike) -> Trace:
    """Read a Ramulator DRAM trace from a regular file (FIFOs, devices and folders are refused)."""
    data = read_bytes_bounded(path, what="Ramulator DRAM trace", max_bytes=MAX_TRACE_BYTES)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return parse_trace(data, str(path))


def write_trace(path: str | os.PathLike, addr, is_write) -> None:
    """Write a trace atomically, with a final newline (Ramulator drops a last line without one)."""
    from .ramulator import trace_text
    atomic_write_text(path, trace_text(addr, is_write))
