"""Bit-level reading and writing, most significant bit first (big-endian bit and byte order)."""

from __future__ import annotations

from vcmref.errors import BitstreamError


class BitWriter:
    """Appends bit fields MSB first; whole bytes are emitted as they fill."""

    def __init__(self) -> None:
        self._bytes = bytearray()
        self._acc = 0
        self._nacc = 0

    @property
    def bit_position(self) -> int:
        return 8 * len(self._bytes) + self._nacc

    @property
    def byte_aligned(self) -> bool:
        return self._nacc == 0

    def write(self, value: int, nbits: int) -> None:
        if nbits == 0:
            return
        if value < 0 or value >> nbits:
            raise ValueError(f"value {value} does not fit in {nbits} bits")
        acc = (self._acc << nbits) | value
        total = self._nacc + nbits
        nbytes = total >> 3
        if nbytes:
            rest = total & 7
            self._bytes += (acc >> rest).to_bytes(nbytes, "big")
            acc &= (1 << rest) - 1
            total = rest
        self._acc, self._nacc = acc, total

    def write_bytes(self, data: bytes) -> None:
        if self._nacc:
            raise ValueError("write_bytes needs a byte-aligned position")
        self._bytes += data

    def getvalue(self) -> bytes:
        if self._nacc:
            raise ValueError("bit writer is not byte aligned")
        return bytes(self._bytes)


class BitReader:
    """Reads bit fields MSB first from a byte string; reading past the end is a BitstreamError."""

    def __init__(self, data: bytes, bit_offset: int = 0, bit_end: int | None = None) -> None:
        self._data = data
        self._pos = bit_offset
        self._end = 8 * len(data) if bit_end is None else bit_end

    @property
    def bit_position(self) -> int:
        return self._pos

    @property
    def bits_left(self) -> int:
        return self._end - self._pos

    @property
    def byte_aligned(self) -> bool:
        return self._pos % 8 == 0

    def read(self, nbits: int) -> int:
        if nbits == 0:
            return 0
        if self._pos + nbits > self._end:
            raise BitstreamError(
                f"needs {nbits} more bits, {self._end - self._pos} left",
                bit_offset=self._pos,
            )
        start_byte = self._pos >> 3
        end_byte = (self._pos + nbits + 7) >> 3
        chunk = int.from_bytes(self._data[start_byte:end_byte], "big")
        tail = 8 * end_byte - (self._pos + nbits)
        self._pos += nbits
        return (chunk >> tail) & ((1 << nbits) - 1)

    def read_ue(self, max_leading_zeros: int) -> int:
        """An Exp-Golomb code: n zero bits, a one bit, n more bits; value 2**n - 1 + those."""
        start = self._pos
        avail = self._end - start
        window_bits = min(avail, 2 * max_leading_zeros + 1)
        if window_bits <= 0:
            raise BitstreamError("needs 1 more bit, 0 left", bit_offset=start)
        window = self.read(window_bits)
        self._pos = start
        zeros = window_bits - window.bit_length()
        if zeros > max_leading_zeros:
            raise BitstreamError(f"Exp-Golomb code with more than {max_leading_zeros} leading "
                                 "zeros", bit_offset=start)
        if 2 * zeros + 1 > window_bits:
            raise BitstreamError(f"needs {2 * zeros + 1} bits for an Exp-Golomb code, "
                                 f"{avail} left", bit_offset=start)
        self._pos = start + 2 * zeros + 1
        return (window >> (window_bits - 2 * zeros - 1)) - 1

    def read_bytes(self, nbytes: int) -> bytes:
        if self._pos % 8:
            raise BitstreamError("byte read at a position that is not byte aligned",
                                 bit_offset=self._pos)
        if self._pos + 8 * nbytes > self._end:
            raise BitstreamError(
                f"needs {nbytes} more bytes, {(self._end - self._pos) // 8} left",
                bit_offset=self._pos,
            )
        start = self._pos >> 3
        self._pos += 8 * nbytes
        return bytes(self._data[start : start + nbytes])
