"""The unit type table: for each unit type, its payload's syntax and what clause 5.2 says of it.

Like FFmpeg's ``cbs_h265_unit_types[]``, each row lists a unit type once: the syntax structure
of its payload (named as in docs/spec.md), the dataclass the payload fills in, the syntax
function that reads, writes and traces it and the arguments that function needs, and the
properties of the type that the unit order rules use. The reference decoder, ``inspect_stream``
and the plain decoder parse payloads through it. A new unit type is one row; a type without a
row is reserved (skipped by decoders of this version, clause 2.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vcmref.bitstream.frame_units import (
    DataHash,
    DataUnit,
    FrameHeader,
    InnerCodecData,
    RestorationModelRef,
    TemporalPrediction,
    TileModel,
    data_hash,
    data_unit,
    end_of_stream,
    frame_header,
    inner_codec_data,
    restoration_model,
    temporal_prediction,
    tile_model,
)
from vcmref.bitstream.parameter_sets import (
    EntropyCoder,
    StreamParameterSet,
    stream_parameter_set,
)
from vcmref.bitstream.syntax import SyntaxDirection
from vcmref.bitstream.units import UnitType


@dataclass(frozen=True)
class UnitTypeInfo:
    """One row of the table."""

    unit_type: UnitType
    name: str  # syntax structure of the payload, as in docs/spec.md
    content: type | None  # dataclass the payload is parsed into; None: an empty payload
    syntax: Callable[..., Any]  # syntax(rw[, content[, sps[, payload]]])
    needs_sps: bool = True  # the syntax takes the stream parameter set
    needs_payload: bool = False  # the syntax takes the payload, to check its CRC-32 when read
    in_frame: bool = False  # a frame unit (clause 5.2, rule 8): belongs to the open frame
    layer_id_checked: bool = True  # layer_id < NumLayers applies (clause 5.2, rule 4)
    entropy_coder: EntropyCoder | None = None  # allowed only with this entropy_coder_idc
    key: tuple[str, ...] = ()  # fields that with layer_id key a frame unit in its frame

    def parse(self, rw: SyntaxDirection, sps: StreamParameterSet | None = None,
              payload: bytes | None = None) -> Any:
        """The payload read (or traced) with `rw`: a new `content` object, None for an empty
        payload. `sps` for the types that need it, `payload` the unit's payload bytes."""
        if self.content is None:
            self.syntax(rw)
            return None
        args: list[Any] = [rw, self.content()]
        if self.needs_sps:
            if sps is None:
                raise ValueError(f"{self.name} needs the stream parameter set")
            args.append(sps)
        if self.needs_payload:
            args.append(payload)
        return self.syntax(*args)


UNIT_TYPES: dict[int, UnitTypeInfo] = {
    row.unit_type: row
    for row in (
        UnitTypeInfo(UnitType.STREAM_PARAMETER_SET, "stream_parameter_set", StreamParameterSet,
                     stream_parameter_set, needs_sps=False),
        UnitTypeInfo(UnitType.FRAME_HEADER, "frame_header", FrameHeader, frame_header),
        UnitTypeInfo(UnitType.TILE_MODEL, "tile_model", TileModel, tile_model, in_frame=True,
                     entropy_coder=EntropyCoder.WAVEFRONT_RANS, key=("tensor_idx",)),
        UnitTypeInfo(UnitType.DATA_UNIT, "data_unit", DataUnit, data_unit, needs_payload=True,
                     in_frame=True, entropy_coder=EntropyCoder.WAVEFRONT_RANS,
                     key=("tensor_idx", "unit_idx")),
        UnitTypeInfo(UnitType.DATA_HASH, "data_hash", DataHash, data_hash, in_frame=True),
        UnitTypeInfo(UnitType.END_OF_STREAM, "end_of_stream", None, end_of_stream,
                     needs_sps=False),
        UnitTypeInfo(UnitType.INNER_CODEC_DATA, "inner_codec_data", InnerCodecData,
                     inner_codec_data, needs_payload=True, in_frame=True,
                     entropy_coder=EntropyCoder.INNER_CODEC),
        UnitTypeInfo(UnitType.RESTORATION_MODEL, "restoration_model", RestorationModelRef,
                     restoration_model),
        UnitTypeInfo(UnitType.TEMPORAL_PREDICTION, "temporal_prediction", TemporalPrediction,
                     temporal_prediction, in_frame=True,
                     entropy_coder=EntropyCoder.WAVEFRONT_RANS),
    )
}
