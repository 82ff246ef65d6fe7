"""rANS encoding of one data unit: the exact mirror of the normative decoder, run backwards.

The encoder walks the passes in reverse. Where the decoder reads bits, the encoder pushes them;
where a decoder lane pushes its final state back, the encoder starts that lane from bits it pops
(zeros when the stack is short). So a retiring lane's state carries bits that other lanes, or
the escape bits read at the end, would otherwise have had to read: lanes cost little beyond
their tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vcmref.refsw.entropy_model import PROB_BITS, STATE_BITS, STATE_LOW
from vcmref.refsw.rans_decoder import compiled_kernel
from vcmref.refsw.tiles import UnitSchedule


@dataclass(frozen=True)
class EncodeTables:
    """Per (context, token) constants for encoding."""

    freq: np.ndarray
    cum: np.ndarray
    base_bits: np.ndarray  # renormalization bits before the threshold test
    threshold: np.ndarray  # state at or above which one more bit is emitted

    @classmethod
    def from_freq(cls, freq: np.ndarray, cum: np.ndarray) -> EncodeTables:
        f = np.maximum(freq, 1)
        blen = np.floor(np.log2(f)).astype(np.int64) + 1
        base = np.maximum(PROB_BITS - blen, 0)
        threshold = (f << (STATE_BITS - PROB_BITS + 1)) << base
        return cls(freq.astype(np.int64), cum.astype(np.int64), base, threshold)


def expand_bits(values: np.ndarray, nbits: np.ndarray) -> np.ndarray:
    """The bits (uint8 0/1, MSB first) of variable-length fields laid end to end."""
    nbits = np.asarray(nbits, dtype=np.int64)
    total = int(nbits.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint8)
    ends = np.cumsum(nbits)
    rep_vals = np.repeat(np.asarray(values, dtype=np.int64), nbits)
    shift = np.repeat(ends, nbits) - 1 - np.arange(total, dtype=np.int64)
    return ((rep_vals >> shift) & 1).astype(np.uint8)


class _BitStack:
    """Bits in reverse decoding order: the last element is the next bit the decoder reads."""

    def __init__(self, capacity: int) -> None:
        self.bits = np.zeros(max(capacity, 64), dtype=np.uint8)
        self.size = 0

    def push_in_read_order(self, bits: np.ndarray) -> None:
        m = len(bits)
        if self.size + m > len(self.bits):
            self.bits = np.concatenate((self.bits, np.zeros(self.size + m, np.uint8)))
        self.bits[self.size : self.size + m] = bits[::-1]
        self.size += m

    def pop_in_read_order(self, m: int) -> np.ndarray:
        take = min(m, self.size)
        out = np.zeros(m, dtype=np.uint8)
        out[:take] = self.bits[self.size - take : self.size][::-1]
        self.size -= take
        return out

    def read_order_bytes(self) -> bytes:
        bits = self.bits[: self.size][::-1]
        return np.packbits(bits).tobytes()


def encode_unit_tokens(
    tokens: np.ndarray,
    contexts: np.ndarray,
    raw_len: np.ndarray,
    raw_val: np.ndarray,
    sched: UnitSchedule,
    tables: EncodeTables,
) -> bytes:
    """Encode a unit's tokens (given in decoding order) into its ANS data."""
    bounds = sched.step_bounds
    lanes = sched.max_lanes
    x = np.full(lanes, STATE_LOW, dtype=np.int64)
    stack = _BitStack(len(tokens) * 4 + STATE_BITS * lanes)
    flat = contexts * tables.freq.shape[1] + tokens
    kernel = compiled_kernel()
    if kernel is not None:
        return kernel.encode_unit(
            *(np.ascontiguousarray(a, dtype=np.int64).ravel()
              for a in (tables.freq, tables.cum, tables.base_bits, tables.threshold, flat,
                        raw_len, raw_val)),
            sched.step_bounds, sched.lane_starts, sched.lane_retires)
    ftab = tables.freq.ravel()[flat]
    ctab = tables.cum.ravel()[flat]
    btab = tables.base_bits.ravel()[flat]
    ttab = tables.threshold.ravel()[flat]
    state_bits = np.uint8(STATE_BITS)
    stack.push_in_read_order(expand_bits(raw_val, raw_len))
    for p in range(sched.num_steps - 1, -1, -1):
        s0, s1 = int(bounds[p]), int(bounds[p + 1])
        width = s1 - s0
        retire = int(sched.lane_retires[p])
        if retire < width:
            k = width - retire
            bits = stack.pop_in_read_order(STATE_BITS * k).reshape(k, STATE_BITS)
            weights = 1 << np.arange(STATE_BITS - 1, -1, -1, dtype=np.int64)
            x[retire:width] = STATE_LOW + bits.astype(np.int64) @ weights
        xs = x[:width]
        f = ftab[s0:s1]
        nb = btab[s0:s1] + (xs >= ttab[s0:s1])
        emitted = xs & ((1 << nb) - 1)
        xs = xs >> nb
        q, r = np.divmod(xs, f)
        x[:width] = (q << PROB_BITS) + r + ctab[s0:s1]
        stack.push_in_read_order(expand_bits(emitted, nb))
        first_new = int(sched.lane_starts[p])
        if first_new < width:
            k = width - first_new
            stack.push_in_read_order(
                expand_bits(x[first_new:width] - STATE_LOW, np.full(k, state_bits)))
    return stack.read_order_bytes()
