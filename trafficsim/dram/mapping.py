"""Address mapping: a byte address -> (channel, rank, bank group, bank, row, column), compiled.

A scheme lists the address fields from the most to the least significant bit, above the
request-offset bits (one request moves ``request_bytes``; those low bits are dropped first, as
Ramulator v1's ``Memory::send`` does). Each field takes ``log2(count)`` bits (rounded down, as
Ramulator's ``calc_log2``); address bits above the last field are ignored (they wrap).

Named schemes (Ramulator v1 ``Memory.h``, its ``Type`` enum):

* ``RoBaRaCoCh`` (Ramulator's default): row | bank | bank group | rank | column | channel
* ``ChRaBaRoCo``: channel | rank | bank group | bank | row | column

Any other ordering can be written out with the tokens ``Ch Ra Bg Ba Ro Co`` (e.g.
``RoCoBaBgRaCh`` interleaves banks at request granularity). ``Bg`` may be left out: it then sits
just below ``Ba``. ``xor_bank`` XORs the bank-group and bank indices with the low bits of the row
(permutation-based page interleaving, Zhang, Zhu and Zhang, MICRO 2000), which spreads
row-conflicting strides over banks.
"""
from __future__ import annotations

import re

import numpy as np
from numba import njit

from ..errors import ConfigError

# field codes (the order of the output tuple)
CH, RA, BG, BA, RO, CO = range(6)
FIELD_TOKENS = {"Ch": CH, "Ra": RA, "Bg": BG, "Ba": BA, "Ro": RO, "Co": CO}
_TOKEN_NAMES = {v: k for k, v in FIELD_TOKENS.items()}

# Ramulator v1's two schemes, spelt out MSB -> LSB with the bank group placed where its code puts it.
NAMED_SCHEMES: dict[str, str] = {
    "RoBaRaCoCh": "RoBaBgRaCoCh",
    "ChRaBaRoCo": "ChRaBgBaRoCo",
}
DEFAULT_SCHEME = "RoBaRaCoCh"


def parse_scheme(text: str) -> tuple[int, ...]:
    """Field codes MSB -> LSB for a scheme name or token string; one-line :class:`ConfigError` if bad."""
    raw = str(text).strip()
    spelled = NAMED_SCHEMES.get(raw, raw)
    tokens = re.findall(r"[A-Z][a-z]", spelled)
    if "".join(tokens) != spelled or not tokens:
        raise ConfigError(f"address mapping {text!r}: write the fields MSB to LSB with Ch Ra Bg Ba Ro Co "
                          f"(e.g. RoBaRaCoCh or ChRaBaRoCo)")
    codes = [FIELD_TOKENS[t] for t in tokens if t in FIELD_TOKENS]
    if len(codes) != len(tokens):
        bad = [t for t in tokens if t not in FIELD_TOKENS]
        raise ConfigError(f"address mapping {text!r}: unknown field(s) {', '.join(bad)}; use Ch Ra Bg Ba Ro Co")
    if BG not in codes and BA in codes:
        codes.insert(codes.index(BA) + 1, BG)
    if sorted(codes) != list(range(6)):
        missing = [_TOKEN_NAMES[c] for c in range(6) if c not in codes]
        dup = sorted({_TOKEN_NAMES[c] for c in codes if codes.count(c) > 1})
        what = (f"missing {', '.join(missing)}" if missing else "") + (
            ("; " if missing and dup else "") + (f"repeated {', '.join(dup)}" if dup else ""))
        raise ConfigError(f"address mapping {text!r}: every field once ({what})")
    return tuple(codes)


def scheme_name(codes: tuple[int, ...]) -> str:
    spelled = "".join(_TOKEN_NAMES[c] for c in codes)
    for name, full in NAMED_SCHEMES.items():
        if full == spelled:
            return name
    return spelled


def log2_floor(n: int) -> int:
    return max(0, int(n).bit_length() - 1)


def field_bits(channels: int, ranks: int, bank_groups: int, banks: int, rows: int, bursts_per_row: int) -> np.ndarray:
    """Bits of each field (indexed by field code), Ramulator's ``calc_log2`` (floor)."""
    return np.array([log2_floor(channels), log2_floor(ranks), log2_floor(bank_groups), log2_floor(banks),
                     log2_floor(rows), log2_floor(bursts_per_row)], dtype=np.int64)


@njit(cache=True, nogil=True)
def map_addresses_kernel(addr, offset_bits, order_lsb_first, bits, xor_bank, out):
    """Fill ``out[k, field]`` for every address; ``order_lsb_first`` lists field codes LSB -> MSB."""
    n = addr.shape[0]
    nf = order_lsb_first.shape[0]
    bg_mask = (1 << bits[2]) - 1
    ba_mask = (1 << bits[3]) - 1
    for k in range(n):
        a = np.uint64(addr[k]) >> np.uint64(offset_bits)
        for j in range(nf):
            f = order_lsb_first[j]
            b = bits[f]
            out[k, f] = np.int64(a & np.uint64((1 << b) - 1))
            a = a >> np.uint64(b)
        if xor_bank:
            row = out[k, 4]
            out[k, 3] = out[k, 3] ^ (row & ba_mask)
            out[k, 2] = out[k, 2] ^ ((row >> bits[3]) & bg_mask)
    return out


def map_addresses(addr: np.ndarray, *, request_bytes: int, scheme: tuple[int, ...], bits: np.ndarray,
                  xor_bank: bool = False) -> np.ndarray:
    """``(n, 6)`` int64 array of channel, rank, bank group, bank, row, column (request index in the row)."""
    a = np.ascontiguousarray(addr, dtype=np.uint64)
    out = np.empty((a.shape[0], 6), dtype=np.int64)
    lsb_first = np.array(scheme[::-1], dtype=np.int64)
    return map_addresses_kernel(a, log2_floor(request_bytes), lsb_first, bits, bool(xor_bank), out)
