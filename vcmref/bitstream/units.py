"""The container: a signature, then units of (header, explicit payload size, payload)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from vcmref.bitstream.levels import MAX_LEVEL
from vcmref.bitstream.syntax import Reader, SyntaxDirection, Writer
from vcmref.errors import BitstreamError

STREAM_SIGNATURE = 0x56434D31  # 'VCM1'
SIGNATURE_BYTES = 4
UNIT_HEADER_BYTES = 6


class UnitType(IntEnum):
    """Unit types; 7 and 11..127 are reserved and skipped by decoders of this version.

    Type 8 was added after 7 had been used as the reserved type of published conformance
    streams, which must stay conforming; type 9 after 8 (decoders of the versions before skip
    it, as its content does not change the decoded samples); type 10 after 9, allowed only in
    streams of profile 2, which decoders of the versions before refuse.
    """

    STREAM_PARAMETER_SET = 1
    FRAME_HEADER = 2
    TILE_MODEL = 3
    DATA_UNIT = 4
    DATA_HASH = 5
    END_OF_STREAM = 6
    INNER_CODEC_DATA = 8
    RESTORATION_MODEL = 9
    TEMPORAL_PREDICTION = 10


UNIT_TYPE_MAX = 127


def is_reserved_unit_type(unit_type: int) -> bool:
    """True for the types that decoders of this version skip."""
    return unit_type not in UnitType.__members__.values()


def unit_type_name(unit_type: int) -> str:
    try:
        return UnitType(unit_type).name.lower()
    except ValueError:
        return f"reserved_{unit_type}"


@dataclass
class UnitHeader:
    unit_type: int = 0
    layer_id: int = 0
    payload_size: int = 0


def stream_signature(rw: SyntaxDirection) -> None:
    """Syntax of the stream's first four bytes (spec table: stream)."""
    rw.f(32, "stream_signature", STREAM_SIGNATURE)


def unit_header(rw: SyntaxDirection, h: UnitHeader) -> UnitHeader:
    """Syntax of the six-byte unit header (spec table: unit_header)."""
    rw.f(1, "forbidden_zero_bit", 0)
    h.unit_type = rw.u(7, "unit_type", h.unit_type, 1, UNIT_TYPE_MAX)
    h.layer_id = rw.u(8, "layer_id", h.layer_id, 0, MAX_LEVEL.max_layers - 1)
    h.payload_size = rw.u(32, "payload_size", h.payload_size, 0,
                          MAX_LEVEL.max_unit_payload_bytes)
    return h


@dataclass
class Unit:
    """One unit as found in a stream: header, payload bytes and where it starts."""

    header: UnitHeader
    payload: bytes
    byte_offset: int  # of the unit header within the stream
    index: int = 0  # position of the unit in the stream, from 0

    @property
    def unit_type(self) -> int:
        return self.header.unit_type

    @property
    def layer_id(self) -> int:
        return self.header.layer_id

    @property
    def payload_bit_offset(self) -> int:
        return 8 * (self.byte_offset + UNIT_HEADER_BYTES)

    @property
    def label(self) -> str:
        return f"#{self.index}:{unit_type_name(self.unit_type)}"


def iter_units(data: bytes) -> Iterator[Unit]:
    """Split a stream into units; sizes are checked against the bytes that remain."""
    if len(data) < SIGNATURE_BYTES:
        raise BitstreamError("stream shorter than its 4-byte signature", unit="stream",
                             element="stream_signature", bit_offset=0)
    stream_signature(Reader(data[:SIGNATURE_BYTES], unit="stream"))
    pos = SIGNATURE_BYTES
    index = 0
    while pos < len(data):
        label = f"#{index}"
        if len(data) - pos < UNIT_HEADER_BYTES:
            raise BitstreamError(f"{len(data) - pos} trailing bytes, too few for a unit header",
                                 unit=label, element="unit_header", bit_offset=8 * pos)
        rd = Reader(data, unit=label, bit_offset=8 * pos,
                    bit_end=8 * (pos + UNIT_HEADER_BYTES))
        header = unit_header(rd, UnitHeader())
        start = pos + UNIT_HEADER_BYTES
        if header.payload_size > len(data) - start:
            raise BitstreamError(
                f"payload_size {header.payload_size} exceeds the {len(data) - start} bytes left",
                unit=f"{label}:{unit_type_name(header.unit_type)}", element="payload_size",
                bit_offset=8 * pos + 16)
        yield Unit(header, data[start : start + header.payload_size], pos, index)
        pos = start + header.payload_size
        index += 1


def unit_chunks(data: bytes) -> list[bytes]:
    """The stream's units, each as its header and payload bytes (the signature excluded)."""
    return [data[u.byte_offset : u.byte_offset + UNIT_HEADER_BYTES + len(u.payload)]
            for u in iter_units(data)]


def write_unit(unit_type: int, layer_id: int, payload: bytes) -> bytes:
    """Serialize one unit: header then payload."""
    w = Writer(unit=unit_type_name(unit_type))
    unit_header(w, UnitHeader(unit_type, layer_id, len(payload)))
    return w.getvalue() + payload


def write_signature() -> bytes:
    w = Writer(unit="stream")
    stream_signature(w)
    return w.getvalue()
