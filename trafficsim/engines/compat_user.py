"""USER-mode read buffers of SCALE-Sim 3.0.0 (``read_buffer.py``), prepared for the compat kernel.

In USER mode SCALE-Sim fetches an operand from DRAM in the order of its *prefetch matrix* (the
operand matrix cut per fold, stacked, and for skewed operands re-read along anti-diagonals), cut
into rows of ``bw`` words (``[layout] IfmapSRAMBankBandwidth`` / ``FilterSRAMBankBandwidth`` in
3.0.0). The valid addresses, in that order, are grouped into hashed lines of ``ceil(N/100)``
entries; a demand address hits if a line holding it lies in the circular active window. This
module builds, per operand, the CSR lists "lines holding address a" and the initial window state;
the row walk itself is in :func:`.compat_kernel.walk_layer`.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dataflow as df
from ..hardware import Hardware
from ..topology import ScaleSimRow
from . import compat_kernel as kern


def _pad_cols(block: np.ndarray, width: int) -> np.ndarray:
    if block.shape[1] == width:
        return block
    out = np.full((block.shape[0], width), -1, dtype=np.int64)
    out[:, :block.shape[1]] = block
    return out


def _anti_diagonal(mat: np.ndarray) -> np.ndarray:
    """SCALE-Sim's prefetch re-ordering: diagonals row+col ascending, rows descending within one."""
    m, n = mat.shape
    rows, cols = np.indices((m, n))
    order = np.lexsort((-rows.ravel(), (rows + cols).ravel()))
    return mat.ravel()[order]


def prefetch_sequence(row: ScaleSimRow, dataflow: str, array_rows: int, array_cols: int,
                      ifmap_matrix: np.ndarray, operand: str) -> np.ndarray:
    """The flattened prefetch matrix of ``operand`` ('ifmap' or 'filter'): stamp indices
    (address minus offset) in fetch order, -1 for padding and out-of-range positions."""
    ra, ca = array_rows, array_cols
    code = df.code(dataflow)
    rsc = row.filter_h * row.filter_w * row.channels
    k = row.num_filters
    if operand == "ifmap":
        mat = ifmap_matrix                       # E x RSC
    else:
        mat = (np.arange(k, dtype=np.int64)[None, :] * rsc + np.arange(rsc, dtype=np.int64)[:, None])  # RSC x K
    blocks = []
    if operand == "ifmap" and code == df.OS:      # per row fold: ifmap_op_mat_trans[:, fold] (RSC x ru)
        t = mat.T
        for s in range(0, t.shape[1], ra):
            blocks.append(_pad_cols(t[:, s:s + ra], ra))
        return _anti_diagonal(np.vstack(blocks))
    if operand == "ifmap" and code == df.WS:      # per row fold: ifmap_op_mat[:, fold] (E x ru)
        for s in range(0, mat.shape[1], ra):
            blocks.append(_pad_cols(mat[:, s:s + ra], ra))
        return _anti_diagonal(np.vstack(blocks))
    if operand == "ifmap":                            # is: per column fold: ifmap_op_mat_trans[:, fold], no re-order
        t = mat.T
        for s in range(0, t.shape[1], ca):
            blocks.append(_pad_cols(t[:, s:s + ca], ca))
        return np.vstack(blocks).ravel()
    if code == df.OS:                                 # filter per column fold, re-ordered
        for s in range(0, mat.shape[1], ca):
            blocks.append(_pad_cols(mat[:, s:s + ca], ca))
        return _anti_diagonal(np.vstack(blocks))
    if code == df.WS:                                 # filter per column fold, no re-order
        for s in range(0, mat.shape[1], ca):
            blocks.append(_pad_cols(mat[:, s:s + ca], ca))
        return np.vstack(blocks).ravel()
    for s in range(0, mat.shape[0], ra):              # is: filter_op_mat[fold, :].T (K x ru), re-ordered
        blocks.append(_pad_cols(mat[s:s + ra, :].T, ra))
    return _anti_diagonal(np.vstack(blocks))


def ifmap_matrix(row: ScaleSimRow, tables: tuple[np.ndarray, ...]) -> np.ndarray:
    """IFMAP operand matrix (E x RSC) of stamp indices, -1 past the input edge."""
    prow, pcol, pbase, jr, jq, joff = tables
    valid = ((prow[:, None] + jr[None, :]) < row.ifmap_h) & ((pcol[:, None] + jq[None, :]) < row.ifmap_w)
    return np.where(valid, pbase[:, None] + joff[None, :], -1)


def read_buffer_state(seq: np.ndarray, sram_kb: int, bw: int, n_addr: int) -> tuple[np.ndarray, ...]:
    """Initial USER-mode state vector (``U_*``) and the CSR (ptr, lines) of hashed lines per address,
    after ``set_fetch_matrix``/``prepare_hashed_buffer``/``prefetch_active_buffer``."""
    total = sram_kb * 1024
    active = int(math.ceil(total * 0.5))
    prefetch = total - active
    fetch_rows = -(-seq.size // bw)
    per_line = int(math.ceil(total / 100))
    valid = seq[seq >= 0]
    line_of = np.arange(valid.size, dtype=np.int64) // per_line
    n_lines = valid.size // per_line + 1          # the last (possibly empty) line is kept
    pairs = np.unique(valid * n_lines + line_of)
    addr, lines = pairs // n_lines, pairs % n_lines
    ptr = np.zeros(n_addr + 1, dtype=np.int64)
    np.cumsum(np.bincount(addr, minlength=n_addr), out=ptr[1:])
    n_active = min(n_lines, int(math.ceil(active / per_line)))
    n_prefetch = min(n_lines - n_active, int(math.ceil(prefetch / per_line)))
    n0 = min(int(math.ceil(active / bw)), fetch_rows)
    u = np.zeros(kern.U_SIZE, dtype=np.int64)
    u[kern.U_ACT_START] = 0
    u[kern.U_ACT_END] = n_active
    u[kern.U_LINES] = n_lines
    u[kern.U_NAL] = n_active
    u[kern.U_NPL] = n_prefetch
    u[kern.U_NPF] = int(math.ceil(prefetch / bw))
    u[kern.U_BW] = bw
    u[kern.U_LAST_PF] = -1                    # the first fill ends one cycle before row 0
    u[kern.U_ACCESS] = n0 * bw                # -1 pads of the fetched rows count as reads
    u[kern.U_N0] = n0
    return u, ptr, lines.astype(np.int64)


def user_buffers(row: ScaleSimRow, hw: Hardware, tables: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """(if_state, if_ptr, if_lines, fl_state, fl_ptr, fl_lines) for :func:`walk_layer`."""
    rsc = row.filter_h * row.filter_w * row.channels
    imat = ifmap_matrix(row, tables)
    if_seq = prefetch_sequence(row, hw.dataflow, hw.array_rows, hw.array_cols, imat, "ifmap")
    fl_seq = prefetch_sequence(row, hw.dataflow, hw.array_rows, hw.array_cols, imat, "filter")
    if_state = read_buffer_state(if_seq, hw.ifmap_sram_kb, hw.ifmap_dram_bw,
                                 row.ifmap_h * row.ifmap_w * row.channels)
    fl_state = read_buffer_state(fl_seq, hw.filter_sram_kb, hw.filter_dram_bw, rsc * row.num_filters)
    return (*if_state, *fl_state)
