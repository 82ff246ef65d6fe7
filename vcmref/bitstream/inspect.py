"""Every syntax element of every unit, with its bit offset: for `vcmref inspect` and spec checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vcmref.bitstream.parameter_sets import StreamParameterSet
from vcmref.bitstream.syntax import TracedElement, Tracer
from vcmref.bitstream.unit_types import UNIT_TYPES
from vcmref.bitstream.units import (
    SIGNATURE_BYTES,
    UNIT_HEADER_BYTES,
    UnitHeader,
    UnitType,
    iter_units,
    stream_signature,
    unit_header,
    unit_type_name,
)
from vcmref.errors import BitstreamError

# Syntax structure name (as in docs/spec.md) of each unit type's payload.
PAYLOAD_STRUCTURES = {UnitType(t): row.name for t, row in UNIT_TYPES.items()}


@dataclass
class InspectedUnit:
    index: int
    unit_type: int
    type_name: str
    layer_id: int
    byte_offset: int
    payload_size: int
    header: list[TracedElement] = field(default_factory=list)
    payload: list[TracedElement] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        def el(e: TracedElement) -> dict[str, Any]:
            d = asdict(e)
            if isinstance(e.value, bytes):
                d["value"] = e.value.hex() if len(e.value) <= 32 else \
                    f"<{len(e.value)} bytes>"
            return d
        return {"index": self.index, "unit_type": self.unit_type, "type_name": self.type_name,
                "layer_id": self.layer_id, "byte_offset": self.byte_offset,
                "payload_size": self.payload_size, "note": self.note,
                "header": [el(e) for e in self.header], "payload": [el(e) for e in self.payload]}


def inspect_stream(data: bytes) -> tuple[list[TracedElement], list[InspectedUnit]]:
    """(signature elements, units with their traced elements) of a stream."""
    sig = Tracer(data[:SIGNATURE_BYTES], unit="stream")
    stream_signature(sig)
    sps: StreamParameterSet | None = None
    units = []
    for unit in iter_units(data):
        hdr = Tracer(data, unit=unit.label, bit_offset=8 * unit.byte_offset,
                     bit_end=8 * (unit.byte_offset + UNIT_HEADER_BYTES))
        unit_header(hdr, UnitHeader())
        iu = InspectedUnit(unit.index, unit.unit_type, unit_type_name(unit.unit_type),
                           unit.layer_id, unit.byte_offset, len(unit.payload), hdr.elements)
        rd = Tracer(data, unit=unit.label, bit_offset=unit.payload_bit_offset,
                    bit_end=unit.payload_bit_offset + 8 * len(unit.payload))
        row = UNIT_TYPES.get(unit.unit_type)
        if row is None:
            iu.note = "reserved unit type: skipped by decoders"
        elif row.needs_sps and sps is None:
            raise BitstreamError("unit before the stream parameter set", unit=unit.label,
                                 element="unit_type", bit_offset=8 * unit.byte_offset)
        else:
            content = row.parse(rd, sps, unit.payload)
            if isinstance(content, StreamParameterSet):
                sps = content
        iu.payload = rd.elements
        units.append(iu)
    return sig.elements, units


def format_text(sig: list[TracedElement], units: list[InspectedUnit]) -> str:
    """Human-readable listing: one line per element, `bit offset  name  descriptor = value`."""
    lines = []

    def add(e: TracedElement) -> None:
        v = e.value
        if isinstance(v, bytes):
            v = v.hex() if len(v) <= 16 else f"<{len(v)} bytes>"
        lines.append(f"  {e.bit_offset:>10}  {e.name:<40} {e.descriptor:<7} = {v}")

    lines.append("stream")
    for e in sig:
        add(e)
    for iu in units:
        lines.append(f"unit {iu.index}: {iu.type_name} (type {iu.unit_type}, layer {iu.layer_id},"
                     f" {iu.payload_size} payload bytes at byte {iu.byte_offset})"
                     + (f"  [{iu.note}]" if iu.note else ""))
        for e in iu.header + iu.payload:
            add(e)
    return "\n".join(lines)
