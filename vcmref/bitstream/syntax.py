"""Syntax directions: one syntax function per structure serves reading, writing and tracing.

A syntax function takes a direction object ``rw`` and the structure, and calls the descriptor
methods in the order of the spec's syntax table, e.g. ``s.level_idc = rw.u(8, "level_idc",
s.level_idc, 1, 4)``. The Reader parses and returns the value, the Writer writes the given
value and returns it, and the Tracer (a Reader) also records every element with its bit offset.
Each element's legal range is checked in both directions, at the element, and so is every
constraint between elements (``rw.require(ok, message, element)``).

A lax Writer (``Writer(lax=True)``) writes what it is given as long as the descriptor can code
it (a u(n) value fits in n bits, a ue(v) value is in [0, 2^32 - 2], a string's bytes are
written as they are): range and cross-element checks are recorded in its ``violations``
instead of raised. The conformance tools build must-reject streams with it from the same syntax
functions. Reading is always strict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vcmref.bitstream.bitio import BitReader, BitWriter
from vcmref.errors import BitstreamError

UE_MAX_LEADING_ZEROS = 31
UE_MAX_VALUE = (1 << (UE_MAX_LEADING_ZEROS + 1)) - 2  # 2**32 - 2, both directions
_INDEX_RE = re.compile(r"\[[^\]]*\]")


def base_name(name: str) -> str:
    """The element name without loop indices: 'tensor_name[2]' -> 'tensor_name'."""
    return _INDEX_RE.sub("", name)


@dataclass(frozen=True)
class TracedElement:
    """One syntax element as read: where it starts, its descriptor and its value."""

    name: str
    descriptor: str
    bit_offset: int
    bit_length: int
    value: Any


class SyntaxDirection:
    """Common part of Reader and Writer: descriptor methods with range checks."""

    reading: bool = False
    tracing: bool = False  # whether _element records; checked first, as parsing is hot
    lax: bool = False  # a lax Writer records failed checks instead of raising them

    def __init__(self, unit: str | None = None) -> None:
        self.unit = unit

    # -- primitive hooks implemented by subclasses
    def _bits(self, n: int, name: str, value: int | None) -> int:
        raise NotImplementedError

    def _ue_raw(self, name: str, value: int | None) -> int:
        raise NotImplementedError

    @property
    def bit_position(self) -> int:
        raise NotImplementedError

    def _element(self, name: str, descriptor: str, start: int, value: Any) -> None:
        """Hook for tracing; the plain directions ignore it."""

    def error(self, message: str, element: str | None = None) -> BitstreamError:
        return BitstreamError(message, unit=self.unit, element=element,
                              bit_offset=self.bit_position)

    def require(self, ok: bool, message: str, element: str) -> None:
        """A constraint of the syntax between elements (a level limit on a product of sizes, a
        name used twice...): when it does not hold, a BitstreamError at the current position
        that names `element`; a lax Writer records it and goes on."""
        if not ok:
            self._violation(self.error(message, element))

    def _violation(self, e: BitstreamError) -> None:
        if not self.lax:
            raise e
        self.violations.append(e)  # type: ignore[attr-defined]

    def _check(self, name: str, value: int, lo: int | None, hi: int | None, start: int) -> int:
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            self._violation(BitstreamError(f"value {value} outside its legal range {rng}",
                                           unit=self.unit, element=name, bit_offset=start))
        return value

    # -- descriptors
    def u(self, n: int, name: str, value: int | None = None,
          lo: int | None = None, hi: int | None = None) -> int:
        """u(n): unsigned integer, n bits, MSB first."""
        start = self.bit_position
        if not self.reading:
            assert value is not None
            self._check(name, value, lo, hi, start)
            if value < 0 or value >> n:
                raise BitstreamError(f"value {value} does not fit in u({n})",
                                     unit=self.unit, element=name, bit_offset=start)
        v = self._bits(n, name, value)
        if self.reading and (lo is not None or hi is not None):
            self._check(name, v, lo, hi, start)
        if self.tracing:
            self._element(name, f"u({n})", start, v)
        return v

    def u_list(self, n: int, name: str, values: list[int] | None, count: int,
               lo: int | None = None, hi: int | None = None) -> list[int]:
        """`count` consecutive u(n) elements of one loop, read or written together."""
        start = self.bit_position
        if self.reading:
            raw = self._bits(n * count, name, None) if count else 0
            mask = (1 << n) - 1
            out = [(raw >> (n * (count - 1 - i))) & mask for i in range(count)]
        else:
            assert values is not None and len(values) == count
            out = list(values)
            packed = 0
            for v in out:
                if v < 0 or v >> n:
                    raise BitstreamError(f"value {v} does not fit in u({n})", unit=self.unit,
                                         element=name, bit_offset=start)
                packed = (packed << n) | v
            self._bits(n * count, name, packed)
        if out and ((lo is not None and min(out) < lo) or (hi is not None and max(out) > hi)):
            for i, v in enumerate(out):
                self._check(f"{name}[{i}]", v, lo, hi, start + n * i)
        if self.tracing:
            self._element(name, f"u({n})", start, out)
        return out

    def flag(self, name: str, value: bool | int | None = None) -> bool:
        """u(1) read as a boolean."""
        return bool(self.u(1, name, None if value is None else int(bool(value))))

    def f(self, n: int, name: str, fixed: int) -> int:
        """f(n): fixed-pattern bit string; any other value is an error."""
        start = self.bit_position
        v = self._bits(n, name, fixed)
        if v != fixed:
            raise BitstreamError(f"fixed pattern 0x{fixed:x} expected, found 0x{v:x}",
                                 unit=self.unit, element=name, bit_offset=start)
        if self.tracing:
            self._element(name, f"f({n})", start, v)
        return v

    def ue(self, name: str, value: int | None = None,
           lo: int | None = 0, hi: int | None = None) -> int:
        """ue(v): unsigned Exp-Golomb code (k = 0)."""
        start = self.bit_position
        if not self.reading:
            assert value is not None
            self._check(name, value, lo, hi, start)
            if value < 0 or value > UE_MAX_VALUE:
                raise BitstreamError(f"value {value} cannot be coded as ue(v)",
                                     unit=self.unit, element=name, bit_offset=start)
        v = self._ue_raw(name, value)
        if self.reading:
            self._check(name, v, lo, hi, start)
        if self.tracing:
            self._element(name, "ue(v)", start, v)
        return v

    def se(self, name: str, value: int | None = None,
           lo: int | None = None, hi: int | None = None) -> int:
        """se(v): signed Exp-Golomb code, mapping 0, 1, -1, 2, -2, ... to 0, 1, 2, 3, 4, ..."""
        start = self.bit_position
        mapped = None
        if not self.reading:
            assert value is not None
            self._check(name, value, lo, hi, start)
            mapped = 2 * value - 1 if value > 0 else -2 * value
            if mapped > UE_MAX_VALUE:
                raise BitstreamError(f"value {value} cannot be coded as se(v)",
                                     unit=self.unit, element=name, bit_offset=start)
        k = self._ue_raw(name, mapped)
        v = (k + 1) // 2 if k & 1 else -(k // 2)
        if self.reading:
            self._check(name, v, lo, hi, start)
        if self.tracing:
            self._element(name, "se(v)", start, v)
        return v

    def string(self, name: str, value: str | None = None, max_len: int = 255) -> str:
        """st(v): ue(v) byte length, then that many UTF-8 bytes of u(8).

        A lax Writer writes the bytes a string stands for under the "surrogateescape" error
        handler, so ``b"\\xff".decode("utf-8", "surrogateescape")`` is written as the byte ff."""
        start = self.bit_position
        try:
            raw = None if self.reading or value is None else value.encode(
                "utf-8", "surrogateescape" if self.lax else "strict")
        except UnicodeEncodeError:
            raise BitstreamError(f"{value!r} cannot be written as UTF-8", unit=self.unit,
                                 element=name, bit_offset=start) from None
        n = self._ue_raw(name, None if raw is None else len(raw))
        self._check(name, n, 0, max_len, start)
        data = bytes(self._bits(8, name, None if raw is None else raw[i]) for i in range(n))
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None:
            self._violation(BitstreamError("string is not valid UTF-8", unit=self.unit,
                                           element=name, bit_offset=start))
            text = data.decode("utf-8", "surrogateescape")
        if self.tracing:
            self._element(name, "st(v)", start, text)
        return text

    def alignment(self, name: str = "alignment_zero_bit") -> None:
        """f(1) zero bits up to the next byte boundary."""
        while self.bit_position % 8:
            self.f(1, name, 0)

    def payload_bytes(self, name: str, value: bytes | None, nbytes: int) -> bytes:
        """b(8*n): n raw bytes at a byte-aligned position."""
        raise NotImplementedError


class Writer(SyntaxDirection):
    """Writes each element's given value.

    `lax`: write values outside their legal range and skip the constraints between elements,
    recording each as a BitstreamError in `violations` (for must-reject streams); a value the
    descriptor cannot code is still refused."""

    reading = False

    def __init__(self, unit: str | None = None, lax: bool = False) -> None:
        super().__init__(unit)
        self.bw = BitWriter()
        self.lax = lax
        self.violations: list[BitstreamError] = []

    @property
    def bit_position(self) -> int:
        return self.bw.bit_position

    def _bits(self, n: int, name: str, value: int | None) -> int:
        assert value is not None
        self.bw.write(value, n)
        return value

    def _ue_raw(self, name: str, value: int | None) -> int:
        assert value is not None
        length = (value + 1).bit_length()
        self.bw.write(0, length - 1)
        self.bw.write(value + 1, length)
        return value

    def payload_bytes(self, name: str, value: bytes | None, nbytes: int) -> bytes:
        assert value is not None and len(value) == nbytes
        self.bw.write_bytes(value)
        return value

    def getvalue(self) -> bytes:
        return self.bw.getvalue()


class Reader(SyntaxDirection):
    """Parses each element and returns its value."""

    reading = True

    def __init__(self, data: bytes, unit: str | None = None,
                 bit_offset: int = 0, bit_end: int | None = None) -> None:
        super().__init__(unit)
        self.br = BitReader(data, bit_offset, bit_end)

    @property
    def bit_position(self) -> int:
        return self.br.bit_position

    @property
    def bits_left(self) -> int:
        return self.br.bits_left

    def _bits(self, n: int, name: str, value: int | None) -> int:
        try:
            return self.br.read(n)
        except BitstreamError as e:
            raise BitstreamError(e.reason, unit=self.unit, element=name,
                                 bit_offset=e.bit_offset) from None

    def _ue_raw(self, name: str, value: int | None) -> int:
        try:
            return self.br.read_ue(UE_MAX_LEADING_ZEROS)
        except BitstreamError as e:
            raise BitstreamError(e.reason, unit=self.unit, element=name,
                                 bit_offset=e.bit_offset) from None

    def payload_bytes(self, name: str, value: bytes | None, nbytes: int) -> bytes:
        start = self.bit_position
        try:
            data = self.br.read_bytes(nbytes)
        except BitstreamError as e:
            raise BitstreamError(e.reason, unit=self.unit, element=name,
                                 bit_offset=e.bit_offset) from None
        if self.tracing:
            self._element(name, f"b({8 * nbytes})", start, data)
        return data


class Tracer(Reader):
    """A Reader that records every element it parses, for `vcmref inspect` and spec checks."""

    tracing = True

    def __init__(self, data: bytes, unit: str | None = None,
                 bit_offset: int = 0, bit_end: int | None = None) -> None:
        super().__init__(data, unit, bit_offset, bit_end)
        self.elements: list[TracedElement] = []

    def _element(self, name: str, descriptor: str, start: int, value: Any) -> None:
        self.elements.append(
            TracedElement(name, descriptor, start, self.bit_position - start, value))
