"""Sub-bitstream extraction: keep layers below k, drop listed units, or start at a frame; the
result is a stream."""

from __future__ import annotations

from vcmref.bitstream.syntax import Reader
from vcmref.bitstream.unit_types import UNIT_TYPES
from vcmref.bitstream.units import (
    UNIT_HEADER_BYTES,
    Unit,
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


def _parsed(data: bytes, unit: Unit, sps=None):
    row = UNIT_TYPES[unit.unit_type]
    rd = Reader(data, unit=unit.label, bit_offset=unit.payload_bit_offset,
                bit_end=unit.payload_bit_offset + 8 * len(unit.payload))
    return row.parse(rd, sps, unit.payload)


def _before_frame(data: bytes, units: list[Unit], from_frame: int) -> set[int]:
    """Indices of the units of the frames before the first frame whose frame_index is at
    least `from_frame` (clause 7); that frame must be a random-access point: no
    temporal_prediction unit, and none of its inner pictures carried by an earlier frame."""
    sps, cut, dropped = None, None, set()
    frame_start: int | None = None
    inner_left: dict[int, tuple[int, int]] = {}  # layer -> (pictures left, frame_index)
    for unit in units:
        utype = unit.unit_type
        if utype == UnitType.STREAM_PARAMETER_SET and sps is None:
            sps = _parsed(data, unit)
            continue
        if utype == UnitType.FRAME_HEADER and sps is not None and cut is None:
            index = _parsed(data, unit, sps).frame_index
            for layer in list(inner_left):
                left, first = inner_left[layer]
                inner_left[layer] = (left - 1, first)
            if index >= from_frame:
                cut = index
                carried = {layer: first for layer, (left, first) in inner_left.items()
                           if left > 0}
                if carried:
                    layer, first = next(iter(carried.items()))
                    raise BitstreamError(f"frame {index} is not a random-access point: the "
                                         f"inner_codec_data of frame {first} carries its layer "
                                         f"{layer} picture", unit=unit.label)
                frame_start = unit.index
                continue
            frame_start = unit.index
            dropped.add(unit.index)
            continue
        if frame_start is None:
            continue  # before the first frame header: kept
        if cut is not None:
            if utype == UnitType.TEMPORAL_PREDICTION:
                raise BitstreamError(f"frame {cut} is not a random-access point: it is "
                                     "predicted from the frame before it (temporal_prediction)",
                                     unit=unit.label)
            if utype == UnitType.FRAME_HEADER:
                break
            continue
        if utype == UnitType.END_OF_STREAM:
            break
        if utype == UnitType.INNER_CODEC_DATA:
            ic = _parsed(data, unit, sps)
            inner_left[unit.layer_id] = (ic.num_pictures, ic.frame_index)
        dropped.add(unit.index)
    if cut is None:
        raise BitstreamError(f"no frame with frame_index >= {from_frame} in the stream",
                             unit="stream")
    return dropped


def extract(data: bytes, max_layers: int | None = None,
            drop_units: set[int] | None = None, from_frame: int | None = None) -> bytes:
    """Copy of the stream without units of layers >= max_layers and without `drop_units`
    (unit indices as `vcmref inspect` lists them). Units are copied byte for byte.

    The stream parameter set, frame headers and end of stream cannot be dropped; the
    restoration model unit is kept by max_layers. Dropping hash units, reserved units, the
    restoration model unit (the stream then names no restoration), or every unit of a layer
    and of the layers that depend on it in a frame leaves a conforming stream; dropping part of
    a tile's units does not (a decoder reports the missing unit), which is what
    error-resilience tests want.

    `from_frame` drops the frames before the first frame whose frame_index is at least that,
    which must be a random-access point (coded without temporal prediction, its inner pictures
    not carried by an earlier frame): the result decodes to the input's frames from there."""
    if max_layers is not None and (isinstance(max_layers, bool) or max_layers < 1):
        raise ValueError(f"max_layers {max_layers!r}: expected at least 1 (layer 0 is always "
                         "kept)")
    if from_frame is not None and (isinstance(from_frame, bool) or from_frame < 0):
        raise ValueError(f"from_frame {from_frame!r}: expected a frame_index >= 0")
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
    before = _before_frame(data, units, from_frame) if from_frame is not None else set()
    out = [write_signature()]
    for unit in units:
        if unit.index in drop_units or unit.index in before:
            continue
        if (max_layers is not None and unit.unit_type not in _STRUCTURAL
                and unit.layer_id >= max_layers):
            continue
        start = unit.byte_offset
        out.append(data[start : start + UNIT_HEADER_BYTES + len(unit.payload)])
    return b"".join(out)
