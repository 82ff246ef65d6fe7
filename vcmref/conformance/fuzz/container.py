"""Streams as units of bytes, for mutating them: split, join, resize, fix a data unit's CRC.

The splitting is lenient on purpose (a mutated stream's headers may hold anything, and are
kept as bytes); whatever is written anew (a unit header, a data unit, an Exp-Golomb code) is
written by the syntax functions of vcmref.bitstream, with a lax Writer where the values may be
out of range."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from vcmref.bitstream.bitio import BitReader
from vcmref.bitstream.frame_units import DataUnit, data_unit
from vcmref.bitstream.parameter_sets import StreamParameterSet
from vcmref.bitstream.syntax import UE_MAX_VALUE, Writer
from vcmref.bitstream.units import (
    SIGNATURE_BYTES,
    UNIT_HEADER_BYTES,
    write_signature,
    write_unit,
)
from vcmref.errors import BitstreamError

_ANY_SPS = StreamParameterSet()  # for the data_unit syntax's ranges, which a lax Writer skips


@dataclass
class RawUnit:
    """One unit as bytes: 6-byte header (any content) and payload."""

    header: bytes
    payload: bytes

    @staticmethod
    def make(unit_type: int, layer_id: int, payload: bytes) -> RawUnit:
        """A well-formed unit (header written by the unit_header syntax)."""
        return RawUnit(write_unit(unit_type, layer_id, payload)[:UNIT_HEADER_BYTES], payload)

    @property
    def unit_type(self) -> int:
        return self.header[0] & 0x7F

    @property
    def layer_id(self) -> int:
        return self.header[1]

    def resized(self, payload: bytes) -> RawUnit:
        """Same header fields, new payload and payload_size."""
        return RawUnit(self.header[:2] + len(payload).to_bytes(4, "big"), payload)

    def to_bytes(self) -> bytes:
        return self.header + self.payload


def split_units(data: bytes) -> tuple[bytes, list[RawUnit], bytes]:
    """(first 4 bytes, units, trailing bytes) without any check beyond the sizes: works on
    damaged streams (the units end where a payload_size runs past the end)."""
    head = data[:SIGNATURE_BYTES]
    pos, units = SIGNATURE_BYTES, []
    while len(data) - pos >= UNIT_HEADER_BYTES:
        size = int.from_bytes(data[pos + 2 : pos + 6], "big")
        start = pos + UNIT_HEADER_BYTES
        if size > len(data) - start:
            break
        units.append(RawUnit(data[pos:start], data[start : start + size]))
        pos = start + size
    return head, units, data[pos:]


def join_units(units: Sequence[RawUnit], head: bytes | None = None, tail: bytes = b"") -> bytes:
    return (write_signature() if head is None else head) + b"".join(
        u.to_bytes() for u in units) + tail


def fix_crc(payload: bytes) -> bytes:
    """A data-unit payload with its last 4 bytes set to the CRC-32 of the rest."""
    if len(payload) < 4:
        return payload
    body = payload[:-4]
    return body + zlib.crc32(body).to_bytes(4, "big")


def parse_data_unit(payload: bytes) -> tuple[list[int], bytes] | None:
    """([frame_index, tensor_idx, unit_idx], ans_data) of a well-formed data-unit payload,
    without the SPS (no range checks); None if its layout does not hold together."""
    try:
        br = BitReader(payload)
        fields = [br.read_ue(31) for _ in range(4)]
    except BitstreamError:
        return None
    start = (br.bit_position + 7) // 8
    if start + fields[3] + 4 != len(payload):
        return None
    return fields[:3], payload[start : start + fields[3]]


def build_data_unit(fields: Sequence[int], ans: bytes) -> bytes:
    """A data-unit payload with these frame_index, tensor_idx and unit_idx (each clipped to what
    ue(v) codes), the right ans_bytes, alignment and CRC-32: written by the data_unit syntax
    with a lax Writer, without the stream's parameter set (no range is checked)."""
    frame_index, tensor_idx, unit_idx = (min(max(v, 0), UE_MAX_VALUE) for v in fields)
    w = Writer(lax=True)
    data_unit(w, DataUnit(frame_index, tensor_idx, unit_idx, ans), _ANY_SPS)
    return w.getvalue()


def bits_of(data: bytes) -> str:
    return format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""


def bytes_of(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def coded_bits(descriptor: str, value: int) -> str:
    """`value` coded as ue(v) or se(v) by the syntax Writer, as a string of bits; clipped to
    the codes ue(v) has (for se(v), through its code number)."""
    w = Writer()
    if descriptor == "se(v)":
        k = min(2 * value - 1 if value > 0 else -2 * value, UE_MAX_VALUE)
        w.se("value", (k + 1) // 2 if k & 1 else -(k // 2))
    else:
        w.ue("value", min(max(value, 0), UE_MAX_VALUE))
    n = w.bit_position
    w.alignment()
    return bits_of(w.getvalue())[:n]
