"""Entropy decoding of one data unit (normative): wavefront passes of interleaved rANS lanes.

The ANS data is read as a bit stack. A lane reads its initial 16-bit state before its first
pass and renormalization bits after each token; after its last pass it pushes its final state
back, and the lanes that go on read those bits first. After the last pass, the low bits of the
escape tokens are read, in decoding order. Reading past the data gives zero bits; what is left
at the end must be zero bits.
"""

from __future__ import annotations

import os

import numpy as np

from vcmref.errors import BitstreamError
from vcmref.refsw.entropy_model import (
    ABSENT_TOKEN,
    PROB_BITS,
    STATE_BITS,
    STATE_LOW,
    decode_lut,
    token_classes,
)
from vcmref.refsw.tiles import UnitSchedule

_WINDOW_BITS = 24
_MASK = (1 << PROB_BITS) - 1


def compiled_kernel():
    """The compiled kernels module, or None (not built, or VCMREF_NUMPY_ONLY=1)."""
    if os.environ.get("VCMREF_NUMPY_ONLY") == "1":
        return None
    try:
        from vcmref.refsw import _ranskernel
    except ImportError:
        return None
    return _ranskernel


_KERNEL_ERRORS = {
    -1: "lane states read past the end of the ANS data",
    -2: "renormalization read past the end of the ANS data",
    -3: "escape bits read past the end of the ANS data",
    -4: "a sample's context is absent from the tile model",
}


class BitStack:
    """ANS data as a byte buffer, read as 24-bit windows at any bit offset, with push-back."""

    def __init__(self, data: bytes, spare_bytes: int) -> None:
        self.size_bits = 8 * len(data)
        self.buf = np.zeros(len(data) + spare_bytes + 3, dtype=np.uint8)
        self.buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        self.limit_bits = 8 * (len(self.buf) - 3)
        self.win = self._windows(0, len(self.buf) - 2)

    def _windows(self, a: int, b: int) -> np.ndarray:
        bb = self.buf[a : b + 2].astype(np.int64)
        return (bb[:-2] << 16) | (bb[1:-1] << 8) | bb[2:]

    def read(self, offsets: np.ndarray, nbits: np.ndarray | int) -> np.ndarray:
        """Values of nbits (<= 17) bits at the given bit offsets."""
        w = self.win[offsets >> 3]
        return (w >> (_WINDOW_BITS - (offsets & 7) - nbits)) & ((1 << nbits) - 1)

    def push_back(self, pos: int, values: np.ndarray, nbits: int) -> None:
        """Overwrite bits [pos - len(values)*nbits, pos) with values, MSB first."""
        start = pos - len(values) * nbits
        a, b = start >> 3, (pos + 7) >> 3
        bits = np.unpackbits(self.buf[a:b])
        vb = (values[:, None] >> np.arange(nbits - 1, -1, -1, dtype=np.int64)) & 1
        bits[start - 8 * a : pos - 8 * a] = vb.astype(np.uint8).ravel()
        self.buf[a:b] = np.packbits(bits)
        lo = max(a - 2, 0)
        self.win[lo:b] = self._windows(lo, b)

    def any_set_from(self, pos: int) -> bool:
        first = pos >> 3
        if first >= len(self.buf):
            return False
        head = int(self.buf[first]) & (0xFF >> (pos & 7))
        return bool(head) or bool(self.buf[first + 1 :].any())


def _overrun(where: str) -> BitstreamError:
    return BitstreamError(f"{where} read past the end of the ANS data", element="ans_data")


class UnitTables:
    """A tile model's tables in the forms the two decoding paths use, built once per tile."""

    def __init__(self, freq: np.ndarray, cum: np.ndarray) -> None:
        self.freq, self.cum = freq, cum
        self.n_tok = freq.shape[1]
        self._lut: np.ndarray | None = None
        self._cum_rows: np.ndarray | None = None

    @property
    def lut(self) -> np.ndarray:
        if self._lut is None:
            self._lut = decode_lut(self.freq, self.cum)
        return self._lut

    @property
    def cum_rows(self) -> np.ndarray:
        """int32 rows of n_tok + 1 cumulative frequencies (the last one 4096, or 0 if absent)."""
        if self._cum_rows is None:
            rows = np.zeros((len(self.freq), self.n_tok + 1), dtype=np.int32)
            rows[:, 1:] = np.cumsum(self.freq, axis=1)
            self._cum_rows = rows
        return self._cum_rows


def decode_unit_tokens(
    ans: bytes,
    sched: UnitSchedule,
    tables: UnitTables,
    max_class: int,
    direct_log2: int,
) -> np.ndarray:
    """Decode the magnitude indices u of a data unit's samples, in decoding order."""
    n = sched.n
    lanes = sched.max_lanes
    stack = BitStack(ans, 2 * lanes + 8)
    classes = token_classes(direct_log2, max_class)
    kernel = compiled_kernel()
    if kernel is not None:
        u = np.zeros(n, dtype=np.int64)
        rc, rp = kernel.decode_unit(stack.buf, stack.limit_bits, sched.above, sched.left,
                                    sched.step_bounds, sched.lane_starts, sched.lane_retires,
                                    tables.cum_rows, tables.n_tok, classes, max_class,
                                    direct_log2, u)
        if rc == -6:
            raise MemoryError("rANS kernel could not allocate its lane states")
        if rc:
            raise BitstreamError(_KERNEL_ERRORS[rc], element="ans_data")
        return _finish(stack, rp, u, sched)
    # Magnitude classes in decoding order, pre-scaled into LUT index space; index n is the
    # unavailable neighbour (class 0).
    class_above = np.zeros(n + 1, dtype=np.int64)
    class_left = np.zeros(n + 1, dtype=np.int64)
    tokens = np.zeros(n, dtype=np.int64)
    lut = tables.lut
    above_scale = (max_class + 1) << PROB_BITS
    x = np.zeros(lanes, dtype=np.int64)
    rp = 0
    bounds = sched.step_bounds
    for p in range(sched.num_steps):
        s0, s1 = int(bounds[p]), int(bounds[p + 1])
        width = s1 - s0
        first_new = int(sched.lane_starts[p])
        if first_new < width:
            k = width - first_new
            offs = rp + STATE_BITS * np.arange(k, dtype=np.int64)
            rp += STATE_BITS * k
            if rp > stack.limit_bits:
                raise _overrun("lane states")
            x[first_new:width] = STATE_LOW + stack.read(offs, STATE_BITS)
        xs = x[:width]
        e = lut[class_above[sched.above[s0:s1]] + class_left[sched.left[s0:s1]]
                + (xs & _MASK)]
        tok = e >> 24
        xp = ((e & _MASK) + 1) * (xs >> PROB_BITS) + ((e >> 12) & _MASK)
        # bits to read = STATE_BITS - floor(log2 xp); xp < 2**17 is exact in binary32.
        nb = (STATE_BITS + 127) - (xp.astype(np.float32).view(np.int32) >> 23)
        ends = np.cumsum(nb)
        rp_next = rp + int(ends[-1])
        if rp_next > stack.limit_bits:
            raise _overrun("renormalization")
        x[:width] = (xp << nb) | stack.read(rp + ends - nb, nb)
        rp = rp_next
        tokens[s0:s1] = tok
        cls = classes[tok]
        class_above[s0:s1] = cls * above_scale
        class_left[s0:s1] = cls << PROB_BITS

        retire = int(sched.lane_retires[p])
        if retire < width:
            k = width - retire
            stack.push_back(rp, x[retire:width] - STATE_LOW, STATE_BITS)
            rp -= STATE_BITS * k

    direct = 1 << direct_log2
    u = tokens
    esc = np.flatnonzero(tokens >= direct)
    if esc.size:
        if int(tokens[esc].max()) == ABSENT_TOKEN:
            raise BitstreamError("a sample's context is absent from the tile model",
                                 element="ans_data")
        klen = tokens[esc] - direct + direct_log2
        ends = np.cumsum(klen)
        rp_next = rp + int(ends[-1])
        if rp_next > stack.limit_bits:
            raise _overrun("escape bits")
        u[esc] = (1 << klen) + stack.read(rp + ends - klen, klen)
        rp = rp_next
    return _finish(stack, rp, u, sched)


def _finish(stack: BitStack, rp: int, u: np.ndarray, sched: UnitSchedule) -> np.ndarray:
    """Check that only zero bits are left."""
    if stack.any_set_from(rp):
        raise BitstreamError("ANS data does not end in its final state (non-zero bits left)",
                             element="ans_data")
    return u
