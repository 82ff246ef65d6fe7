"""Sub-bitstream extraction: keep layers below k, or drop listed units; the result is a stream."""

from __future__ import annotations

from vcmref.bitstream.unit_types import UNIT_TYPES
from vcmref.bitstream.units import (
    UNIT_HEADER_BYTES,
    UnitType,
    iter_units,
    unit_type_name,
    write_signature,
)
from vcmref.errors import BitstreamError

# Units kept by max_layers whatever their layer_id: those that are not frame units (the stream
# parameter set, frame headers, end of stream, the restoration model; spec clause 7).
_STRUCTURAL = {unit_type for unit_type, row in UNIT_TYPES.items() if not row.in_frame}
# Units a stream cannot do without, which drop_units refuses; the restoration model is optional.
_REQUIRED = _STRUCTURAL - {UnitType.RESTORATION_MODEL}


def extract(data: bytes, max_layers: int | None = None,
            drop_units: set[int] | None = None) -> bytes:
    """Copy of the stream without units of layers >= max_layers and without `drop_units`
    (unit indices as `vcmref inspect` lists them). Units are copied byte for byte.

    The stream parameter set, frame headers and end of stream cannot be dropped; the
    restoration model unit is kept by max_layers. Dropping hash units, reserved units, the
    restoration model unit (the stream then names no restoration), or every unit of a layer
    and of the layers that depend on it in a frame leaves a conforming stream; dropping part of
    a tile's units does not (a decoder reports the missing unit), which is what
    error-resilience tests want."""
    if max_layers is not None and (isinstance(max_layers, bool) or max_layers < 1):
        raise ValueError(f"max_layers {max_layers!r}: expected at least 1 (layer 0 is always "
                         "kept)")
    drop_units = drop_units or set()
    units = list(iter_units(data))
    unknown = sorted(i for i in drop_units if not 0 <= i < len(units))
    if unknown:
        raise BitstreamError(f"no unit with index {unknown[0]}: the stream has {len(units)}",
                             unit="stream")
    structural = sorted(u.index for u in units
                        if u.index in drop_units and u.unit_type in _REQUIRED)
    if structural:
        first = units[structural[0]]
        raise BitstreamError(f"unit {first.index} is a {unit_type_name(first.unit_type)} unit, "
                             "which a stream cannot do without", unit=first.label)
    out = [write_signature()]
    for unit in units:
        if unit.index in drop_units:
            continue
        if (max_layers is not None and unit.unit_type not in _STRUCTURAL
                and unit.layer_id >= max_layers):
            continue
        start = unit.byte_offset
        out.append(data[start : start + UNIT_HEADER_BYTES + len(unit.payload)])
    return b"".join(out)
