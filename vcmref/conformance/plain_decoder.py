"""A second decoding path: the decoding process of docs/spec.md written once more, plainly.

This decoder is written from the text of the spec, clause by clause, for the conformance check
"both decoders agree bit for bit": it is slow on purpose (pure Python, plain ints and lists, no
numpy, no lookup tables, no vectorisation) and it does not import `vcmref.refsw`.

What it shares with the reference decoder is only the syntax, which this project writes once
for all directions (clauses 2 to 4: `iter_units` for the container and the unit headers, and the
syntax functions `stream_parameter_set`, `frame_header`, `tile_model`, `data_unit`, `data_hash`,
`inner_codec_data` and `temporal_prediction`, found in the unit type table
`vcmref.bitstream.unit_types.UNIT_TYPES` and read with a `Reader`, which check every element's
range where it is read; of that table only the syntax is used here). The restoration_model
payload (clauses 3 and 4.9: one byte and a 32-byte digest) is parsed here from the spec's
text, without the shared syntax function. Everything after parsing is implemented here: the
unit order rules and checks (5.2, 5.3), the tile geometry (5.4, 5.5), the wavefront schedule
with its lane starts and retires (5.6), the token model (5.7), rANS decoding on the bit stack
(5.8), reconstruction (5.9), temporal prediction (5.9.1, profile 2), dequantization in
binary32 (5.10), the layer hash (5.11), the CRC (5.12, checked once more) and the output
(5.13). Feature restoration (clause 8) comes after the conformance point and is not done here:
`decode_stream` returns the restoration the stream names, as parsed.

Streams with `entropy_coder_idc == 1` carry samples as pictures of a video codec (clauses 4.6a,
5.14). Decoding the inner byte stream to pictures is the video codec's business: it is done by
an injectable `inner_decoder(inner_codec_idc, inner_data, width, height, bit_depth)` that
returns the luma pictures as a sequence of rows of ints (any nested sequence, a numpy array
too), passed by the caller (ffmpeg's: `vcmref.media.inner_decoders.decode_inner_pictures`);
without one such streams are refused with an error that says so. The picture size and layout,
the frame/picture bookkeeping and the mapping of picture samples to stream samples are written
here from clause 5.14.

Binary32 arithmetic (clause 1.3) uses Python floats (binary64): each single operation on two
binary32 operands is computed in binary64 and then rounded to binary32 through a `struct`
round trip. For +, -, * and / this gives the correctly rounded binary32 result (binary64 has
53 >= 2 * 24 + 2 bits, so the double rounding is innocuous).
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vcmref.bitstream.frame_units import (
    DataHash,
    DataUnit,
    FrameHeader,
    InnerCodecData,
    TemporalPrediction,
    TileModel,
)
from vcmref.bitstream.parameter_sets import StreamParameterSet
from vcmref.bitstream.syntax import Reader
from vcmref.bitstream.unit_types import UNIT_TYPES
from vcmref.bitstream.units import Unit, iter_units
from vcmref.errors import BitstreamError, ToolNotFoundError, VcmrefError

# Clause 2.2: unit types.
STREAM_PARAMETER_SET = 1
FRAME_HEADER = 2
TILE_MODEL = 3
DATA_UNIT = 4
DATA_HASH = 5
END_OF_STREAM = 6
INNER_CODEC_DATA = 8
RESTORATION_MODEL = 9
TEMPORAL_PREDICTION = 10

# Clause 6: profiles. A temporal_prediction unit is allowed only in profile 2 (main-inter);
# the profile_idc range [1, 2] itself is checked where the stream parameter set is parsed.
PROFILE_MAIN_INTER = 2

# Clauses 3 and 4.9: the restoration_model payload.
RESTORATION_TYPE_RESIDUAL_CONV = 1  # the only restoration_type of this version
SHA256_BYTES = 32


def is_reserved(unit_type: int) -> bool:
    """Clause 2.2: types 7 and 11..127 are reserved."""
    return unit_type == 7 or 11 <= unit_type <= 127


# (inner_codec_idc, inner_data, picture width, height, bit depth P) -> pictures, each a
# sequence of rows of luma samples (at least height rows of at least width samples)
InnerDecoder = Callable[[int, bytes, int, int, int], Any]


INNER_CODEC_NAMES = {1: "H.266/VVC", 2: "H.265/HEVC"}  # inner_codec_idc


def no_inner_decoder(codec: int, data: bytes, width: int, height: int, bit_depth: int) -> Any:
    """The inner decoder of a decode() given none: refuses, saying what the stream needs."""
    raise ToolNotFoundError(f"this stream's samples are in an "
                            f"{INNER_CODEC_NAMES.get(int(codec), f'inner_codec_idc {codec}')} "
                            "byte stream: give the decoder an inner decoder (inner_decoder=..., "
                            "e.g. vcmref.media.inner_decoders.decode_inner_pictures)")


# Clause 6: MaxUnitPayloadBytes of each level.
MAX_UNIT_PAYLOAD_BYTES = {10: 1 << 22, 20: 1 << 24, 30: 1 << 26, 40: 1 << 28}

# Clause 5.7: class thresholds Thr[1..15].
THR = (None, 1, 2, 3, 6, 10, 15, 25, 40, 63, 101, 161, 255, 406, 645, 1023)

# Clause 5.8: constants.
PROB_BITS = 12
PROB_SCALE = 1 << PROB_BITS  # 4096
STATE_BITS = 16
STATE_LOW = 1 << STATE_BITS  # 2^16

# Clause 5.10: Mant[i] = 2^(i/6) rounded to binary32, as bit patterns.
MANT_BITS = (0x3F800000, 0x3F8FACD6, 0x3FA14518, 0x3FB504F3, 0x3FCB2FF5, 0x3FE411F0)


@dataclass
class PlainFrame:
    """One decoded frame (clause 5.13)."""

    frame_index: int
    layers: list[int]
    samples: dict[str, list[int]]  # per tensor: C*H*W samples, row-major
    values: dict[str, bytes]  # per tensor: C*H*W values, big-endian binary32


@dataclass
class PlainRestoration:
    """The restoration a stream names (clause 4.9), as parsed; applied after decoding."""

    restoration_type: int
    model_sha256: bytes


def error(message: str) -> BitstreamError:
    return BitstreamError(message, unit="plain decoder")


def ceil_div(a: int, b: int) -> int:
    """Ceil(a / b) of clause 1.3."""
    return (a + b - 1) // b


# --------------------------------------------------------------------------- clause 1.3


def fl(x: float) -> float:
    """fl(): round a value (exact, or computed in binary64 from binary32 operands) to binary32,
    round-to-nearest ties-to-even. A value that rounds beyond binary32 becomes an infinity."""
    if math.isnan(x) or math.isinf(x):
        return x
    try:
        return struct.unpack(">f", struct.pack(">f", x))[0]
    except OverflowError:  # the rounded value is an infinity
        return math.copysign(math.inf, x)


def binary32_from_bits(bits: int) -> float:
    return struct.unpack(">f", struct.pack(">I", bits))[0]


# --------------------------------------------------------------------------- stream state


@dataclass
class OpenFrame:
    """The units collected for the open frame (clause 5.2, rule 8)."""

    header: FrameHeader
    tile_models: dict[tuple[int, int], TileModel] = field(default_factory=dict)
    data_units: dict[tuple[int, int, int], DataUnit] = field(default_factory=dict)
    data_hashes: dict[int, DataHash] = field(default_factory=dict)
    inner_units: dict[int, InnerCodecData] = field(default_factory=dict)
    predictions: dict[int, TemporalPrediction] = field(default_factory=dict)  # key: layer_id


@dataclass
class InnerState:
    """Clause 5.14: per layer, the pictures of the last inner_codec_data unit not yet taken."""

    decoder: InnerDecoder
    left: dict[int, list[list[list[int]]]] = field(default_factory=dict)


def payload_reader(unit: Unit) -> Reader:
    return Reader(unit.payload, unit=unit.label)


def parse_payload(unit: Unit, sps: StreamParameterSet | None = None) -> Any:
    """Clauses 3 and 4: the unit's payload read with the syntax of its type (one of types 1 to 5,
    8 or 10), all of it (clause 2.2)."""
    rd = payload_reader(unit)
    content = UNIT_TYPES[unit.unit_type].parse(rd, sps, unit.payload)
    require_consumed(rd, unit)
    return content


def parse_restoration_model(unit: Unit) -> PlainRestoration:
    """Clauses 3 and 4.9: restoration_type u(8) in [1, 1], then model_sha256, 32 bytes; then
    no payload byte may be left (clause 2.2)."""
    payload = unit.payload
    if len(payload) < 1:
        raise error(f"{unit.label}: restoration_type: the payload ends")
    restoration_type = payload[0]
    if restoration_type != RESTORATION_TYPE_RESIDUAL_CONV:
        raise error(f"{unit.label}: restoration_type {restoration_type} outside [1, 1]")
    if len(payload) < 1 + SHA256_BYTES:
        raise error(f"{unit.label}: model_sha256: {len(payload) - 1} bytes left, 32 needed")
    if len(payload) > 1 + SHA256_BYTES:
        raise error(f"{unit.label}: {len(payload) - 1 - SHA256_BYTES} payload bytes left after "
                    "the last element")
    return PlainRestoration(restoration_type, bytes(payload[1:]))


def require_consumed(rd: Reader, unit: Unit) -> None:
    """Clause 2.2: after parsing a payload of type 1 to 5 or 8 to 10, no payload bits may be
    left."""
    if rd.bits_left != 0:
        raise error(f"{unit.label}: {rd.bits_left} payload bits left after the last element")


# --------------------------------------------------------------------------- clause 5.2


def decode(data: bytes, max_layers: int | None = None,
           inner_decoder: InnerDecoder | None = None) -> list[PlainFrame]:
    """Decode a stream (clause 5); only layers below `max_layers` when it is given.
    `inner_decoder` decodes inner_data (entropy_coder_idc 1) to pictures (no default: such
    streams are refused without one)."""
    return decode_stream(data, max_layers, inner_decoder)[0]


def decode_stream(data: bytes, max_layers: int | None = None,
                  inner_decoder: InnerDecoder | None = None
                  ) -> tuple[list[PlainFrame], PlainRestoration | None]:
    """`decode`, and the restoration the stream names (clause 4.9), None when it names none."""
    sps: StreamParameterSet | None = None
    restoration: PlainRestoration | None = None
    frames: list[PlainFrame] = []
    current: OpenFrame | None = None
    ended = False
    inner = InnerState(inner_decoder or no_inner_decoder)
    # Clause 2.1 and 4.2: signature, unit headers, payload sizes (checked by iter_units).
    for unit in iter_units(data):
        utype = unit.unit_type
        # 5.2 rule 1: nothing may follow end_of_stream.
        if ended:
            raise error(f"{unit.label}: unit after end_of_stream")
        # 5.2 rule 2: reserved types are skipped (clause 2.2).
        if is_reserved(utype):
            continue
        # 5.2 rule 3: the first unit of a non-reserved type is the stream parameter set.
        if sps is None:
            if utype != STREAM_PARAMETER_SET:
                raise error(f"{unit.label}: the first unit must be the stream parameter set")
            sps = parse_payload(unit)
            continue
        # Clause 6: after the stream parameter set, payload_size <= the level's
        # MaxUnitPayloadBytes (for the units that are not skipped by rule 2).
        if len(unit.payload) > MAX_UNIT_PAYLOAD_BYTES[sps.level_idc]:
            raise error(f"{unit.label}: payload exceeds the level's MaxUnitPayloadBytes")
        # 5.2 rule 4 (clause 4.2): layer_id < NumLayers for types 2..6 and 8..10.
        if unit.layer_id >= len(sps.layers):
            raise error(f"{unit.label}: layer_id {unit.layer_id} >= NumLayers")
        # 5.2 rule 5.
        if utype == STREAM_PARAMETER_SET:
            raise error(f"{unit.label}: a second stream parameter set")
        # 5.2 rule 6.
        if utype == END_OF_STREAM:
            if len(unit.payload) != 0:
                raise error(f"{unit.label}: end_of_stream payload is not empty")
            ended = True
            continue
        # 5.2 rule 9: at most one restoration_model, in layer 0, before the first frame
        # header (rule 3 already refused one before the stream parameter set).
        if utype == RESTORATION_MODEL:
            if current is not None or frames:
                raise error(f"{unit.label}: restoration_model after the first frame header")
            if unit.layer_id != 0:
                raise error(f"{unit.label}: restoration_model with layer_id {unit.layer_id}")
            if restoration is not None:
                raise error(f"{unit.label}: a second restoration_model")
            restoration = parse_restoration_model(unit)
            continue
        # 5.2 rule 7.
        if utype == FRAME_HEADER:
            if current is not None:
                frames.append(decode_frame(sps, current, inner, frames[-1] if frames else None))
            fh = parse_payload(unit, sps)
            if frames and fh.frame_index <= frames[-1].frame_index:
                raise error(f"{unit.label}: frame_index {fh.frame_index} does not increase")
            current = OpenFrame(fh)
            continue
        # 5.2 rule 10, before rule 8's checks: temporal_prediction only in profile 2 streams,
        # only in layer 0 (so never skipped by max_layers below).
        if utype == TEMPORAL_PREDICTION:
            if sps.profile_idc != PROFILE_MAIN_INTER:
                raise error(f"{unit.label}: temporal_prediction with profile_idc "
                            f"{sps.profile_idc}")
            if unit.layer_id != 0:
                raise error(f"{unit.label}: temporal_prediction with layer_id {unit.layer_id}")
        # 5.2 rule 8: tile_model, data_unit, data_hash, inner_codec_data, temporal_prediction.
        if current is None:
            raise error(f"{unit.label}: frame unit before any frame header")
        if max_layers is not None and unit.layer_id >= max_layers:
            continue
        collect(sps, current, unit)
    # After the last unit.
    if sps is None:
        raise error("no stream parameter set in the stream")
    if current is not None:
        frames.append(decode_frame(sps, current, inner, frames[-1] if frames else None))
    # Clause 5.14: every picture of an inner_codec_data unit is taken by a frame.
    for layer, pictures in inner.left.items():
        if pictures:
            raise error(f"layer {layer}: {len(pictures)} pictures of an inner_codec_data unit "
                        "that no frame takes")
    if not ended:
        raise error("no end_of_stream unit")
    return frames, restoration


def collect(sps: StreamParameterSet, fr: OpenFrame, unit: Unit) -> None:
    """Clause 5.2 rule 8: parse the unit, check its frame_index and its key."""
    layer = unit.layer_id
    # Before parsing: tile models, data units and temporal prediction only with
    # entropy_coder_idc 0, inner_codec_data only with entropy_coder_idc 1.
    inner_stream = int(sps.entropy_coder) == 1
    if inner_stream and unit.unit_type in (TILE_MODEL, DATA_UNIT, TEMPORAL_PREDICTION):
        raise error(f"{unit.label}: a tile model, data unit or temporal_prediction with "
                    "entropy_coder_idc 1")
    if not inner_stream and unit.unit_type == INNER_CODEC_DATA:
        raise error(f"{unit.label}: inner_codec_data with entropy_coder_idc 0")
    value = parse_payload(unit, sps)
    # Clauses 5.12 and 4.6a (checked once more here): CRC-32 of the payload before data_crc32.
    if unit.unit_type in (DATA_UNIT, INNER_CODEC_DATA) and \
            zlib.crc32(unit.payload[:-4]) != int.from_bytes(unit.payload[-4:], "big"):
        raise error(f"{unit.label}: data_crc32 mismatch")
    store: dict[Any, Any]
    if unit.unit_type == TILE_MODEL:
        key, store = (layer, value.tensor_idx), fr.tile_models
    elif unit.unit_type == DATA_UNIT:
        key, store = (layer, value.tensor_idx, value.unit_idx), fr.data_units
    elif unit.unit_type == INNER_CODEC_DATA:
        key, store = layer, fr.inner_units
    elif unit.unit_type == TEMPORAL_PREDICTION:
        key, store = layer, fr.predictions
    else:
        key, store = layer, fr.data_hashes
    if value.frame_index != fr.header.frame_index:
        raise error(f"{unit.label}: frame_index {value.frame_index} inside frame "
                    f"{fr.header.frame_index}")
    if key in store:
        raise error(f"{unit.label}: a second unit with key {key} in the frame")
    store[key] = value


# --------------------------------------------------------------------------- clause 4.3 / 5.3


def sample_range(sps: StreamParameterSet) -> tuple[int, int]:
    """(SampleMin, SampleMax) of clause 4.3."""
    b = sps.sample_bit_depth
    if int(sps.quant_mode) in (0, 1):
        return 0, (1 << b) - 1
    return -(1 << (b - 1)), (1 << (b - 1)) - 1


def layer_channels_of(sps: StreamParameterSet, t: int, layer: int) -> list[int]:
    """LayerChannels(t, l) of clause 4.3: a slice of ChannelOrder[t]."""
    c = sps.tensors[t].channels
    order = sps.tile_layouts[t].channel_order
    channel_order = list(range(c)) if order is None else list(order)
    s = 0
    for k in range(layer):
        s += sps.layers[k].channels[t]
    return channel_order[s : s + sps.layers[layer].channels[t]]


def decode_frame(sps: StreamParameterSet, fr: OpenFrame, inner: InnerState,
                 previous: PlainFrame | None) -> PlainFrame:
    """Clause 5.3; `previous` is the frame decoded just before this one, None for the
    stream's first frame."""
    fi = fr.header.frame_index
    inner_stream = int(sps.entropy_coder) == 1
    # 5.2 rule 10: a temporal_prediction unit (layer 0, the only key) in the stream's first
    # frame has no previous frame to predict from.
    prediction = fr.predictions.get(0)
    if prediction is not None and previous is None:
        raise error(f"frame {fi}: temporal_prediction in the stream's first frame")
    # 1. Present layers.
    present = set()
    for key in fr.tile_models:
        present.add(key[0])
    for key in fr.data_units:
        present.add(key[0])
    for key in fr.data_hashes:
        present.add(key)
    for key in fr.inner_units:
        present.add(key)
    if inner_stream:
        for layer, pictures in inner.left.items():
            if pictures:
                present.add(layer)
    layers = sorted(present)
    # 2. Dependencies.
    for layer in layers:
        for ref in sps.layers[layer].ref_layers:
            if ref not in present:
                raise error(f"frame {fi}: layer {layer} present without its reference {ref}")
    samples = [[0] * ti.channels * ti.height * ti.width for ti in sps.tensors]
    values = [[0.0] * ti.channels * ti.height * ti.width for ti in sps.tensors]
    # 3. Each present layer, each tensor.
    for layer in layers:
        hash_input = bytearray()
        if inner_stream:
            picture = take_picture(sps, fr, inner, layer)
        for t, ti in enumerate(sps.tensors):
            n = sps.layers[layer].channels[t]
            if n == 0:
                if (layer, t) in fr.tile_models:
                    raise error(f"frame {fi}: tile model of tensor {t} in layer {layer}, "
                                "which carries none of its channels")
                for key in fr.data_units:
                    if key[0] == layer and key[1] == t:
                        raise error(f"frame {fi}: data unit of tensor {t} in layer {layer}, "
                                    "which carries none of its channels")
                continue
            geom = tile_geometry(sps, t, layer)
            plane = ti.height * ti.width
            if inner_stream:
                place_tile(sps, picture, t, layer, geom, samples[t])
            else:
                decode_tile(sps, fr, t, layer, geom, samples[t])
                if prediction is not None and prediction.predicted[t]:
                    assert previous is not None
                    predict_channels(sps, geom.channels, plane, samples[t],
                                     previous.samples[ti.name])
            for c in geom.channels:
                dequantize_channel(sps, fr.header, t, c, samples[t], values[t])
            # Clause 5.11: the layer's samples in coding order, 16 bits each, big-endian.
            for c in geom.channels:
                for v in samples[t][c * plane : (c + 1) * plane]:
                    hash_input += (v % 65536).to_bytes(2, "big")
        if layer in fr.data_hashes and \
                hashlib.md5(bytes(hash_input)).digest() != fr.data_hashes[layer].digest:
            raise error(f"frame {fi}: MD5 of layer {layer} does not match decoded_md5")
    # 4. / 5.13: the output.
    return PlainFrame(
        frame_index=fi,
        layers=layers,
        samples={ti.name: samples[t] for t, ti in enumerate(sps.tensors)},
        values={ti.name: b"".join(struct.pack(">f", v) for v in values[t])
                for t, ti in enumerate(sps.tensors)},
    )


def predict_channels(sps: StreamParameterSet, channels: list[int], plane: int,
                     out: list[int], reference: list[int]) -> None:
    """Clause 5.9.1: each sample v of the channels becomes
    s = SampleMin + ((v + ref - SampleMin) mod 2^B), ref the previous frame's sample at the same
    (channel, row, column); mod gives a result in [0, 2^B - 1] (Python's % with a positive
    modulus does)."""
    sample_min, _ = sample_range(sps)
    span = 1 << sps.sample_bit_depth  # 2^B
    for c in channels:
        for idx in range(c * plane, (c + 1) * plane):
            out[idx] = sample_min + ((out[idx] + reference[idx] - sample_min) % span)


def decode_tile(sps: StreamParameterSet, fr: OpenFrame, t: int, layer: int, geom: Geometry,
                out: list[int]) -> None:
    """Clause 5.3 step 3 with entropy_coder_idc 0: the tile's model and data units."""
    fi = fr.header.frame_index
    model = fr.tile_models.get((layer, t))
    if model is None:
        raise error(f"frame {fi}: no tile model for layer {layer} tensor {t}")
    for key in fr.data_units:
        if key[0] == layer and key[1] == t and key[2] >= geom.num_units:
            raise error(f"frame {fi}: unit_idx {key[2]} >= NumUnits {geom.num_units}")
    tables = frequency_tables(sps, model)
    for u in range(geom.num_units):
        du = fr.data_units.get((layer, t, u))
        if du is None:
            raise error(f"frame {fi}: data unit ({layer}, {t}, {u}) is missing")
        decode_data_unit(sps, geom, u, model, tables, du.ans_data, out)


# --------------------------------------------------------------------------- clause 5.4, 5.5


@dataclass
class Geometry:
    """Tile geometry G of (t, l), clause 5.4."""

    channels: list[int]
    cols: int
    rows: int
    cell_height: int
    cell_width: int
    tile_height: int
    rows_per_unit: int
    num_units: int


def tile_geometry(sps: StreamParameterSet, t: int, layer: int) -> Geometry:
    """Clause 5.4, for n = layer_channels[l][t] > 0."""
    ti = sps.tensors[t]
    channels = layer_channels_of(sps, t, layer)
    n = len(channels)
    cols = sps.tile_layouts[t].tile_columns[layer]  # tile_columns_minus1 + 1
    rows = ceil_div(n, cols)
    tile_height = rows * ti.height
    rpu = sps.tile_layouts[t].rows_per_unit
    rows_per_unit = min(rpu if rpu > 0 else tile_height, tile_height)
    num_units = ceil_div(tile_height, rows_per_unit)
    return Geometry(channels, cols, rows, ti.height, ti.width, tile_height, rows_per_unit,
                    num_units)


def cell_parts(g: Geometry, u: int) -> list[tuple[int, int, int]]:
    """Clause 5.5: the cell parts (k, first row, end row) of data unit u."""
    y0 = u * g.rows_per_unit
    y1 = min(y0 + g.rows_per_unit, g.tile_height)
    parts = []
    for k in range(len(g.channels)):
        top = (k // g.cols) * g.cell_height
        a = max(y0, top)
        b = min(y1, top + g.cell_height)
        if a < b:
            parts.append((k, a - top, b - top))
    return parts


# --------------------------------------------------------------------------- clause 5.14


def picture_size(sps: StreamParameterSet, layer: int) -> tuple[int, int]:
    """(width, height) of layer l's picture: Max over t of TileWidth(t, l), sum over t of
    TileHeight(t, l), over the tensors the layer carries."""
    width = 0
    height = 0
    for t in range(len(sps.tensors)):
        if sps.layers[layer].channels[t] > 0:
            g = tile_geometry(sps, t, layer)
            width = max(width, g.cols * g.cell_width)
            height += g.tile_height
    return width, height


def picture_top(sps: StreamParameterSet, t: int, layer: int) -> int:
    """Top(t): the sum of TileHeight(t', l) over t' < t (0 for tensors the layer omits)."""
    top = 0
    for u in range(t):
        if sps.layers[layer].channels[u] > 0:
            top += tile_geometry(sps, u, layer).tile_height
    return top


def take_picture(sps: StreamParameterSet, fr: OpenFrame, inner: InnerState,
                 layer: int) -> list[list[int]]:
    """Clause 5.14, taking the picture: decode the frame's inner_codec_data unit of the layer,
    if any, then take the first picture left."""
    fi = fr.header.frame_index
    left = inner.left.get(layer, [])
    ic = fr.inner_units.get(layer)
    if ic is not None:
        if left:
            raise error(f"frame {fi} layer {layer}: inner_codec_data while {len(left)} "
                        "pictures of the previous one are left")
        width, height = picture_size(sps, layer)
        p_depth = sps.picture_bit_depth  # picture_bit_depth_minus1 + 1
        try:
            decoded = inner.decoder(int(sps.inner_codec), ic.inner_data, width, height,
                                    p_depth)
        except ToolNotFoundError:
            raise
        except VcmrefError as e:
            raise error(f"frame {fi} layer {layer}: inner_data does not decode: {e}") from None
        left = [picture_rows(pic, width, height, p_depth, fi, layer) for pic in decoded]
        # Clause 4.6a: exactly N pictures.
        if len(left) != ic.num_pictures:
            raise error(f"frame {fi} layer {layer}: inner_data decodes to {len(left)} "
                        f"pictures, num_pictures_minus1 + 1 is {ic.num_pictures}")
        inner.left[layer] = left
    if not left:
        raise error(f"frame {fi} layer {layer}: no inner_codec_data carries its picture")
    return left.pop(0)


def picture_rows(picture: Sequence[Sequence[int]], width: int, height: int, p_depth: int,
                 fi: int, layer: int) -> list[list[int]]:
    """Clause 4.6a: the top-left width x height part of a decoded luma picture, as ints, each
    of bit depth P."""
    if hasattr(picture, "tolist"):  # a numpy array from the default inner decoder
        picture = picture.tolist()
    rows = [list(row) for row in picture]
    if len(rows) < height or any(len(r) < width for r in rows[:height]):
        raise error(f"frame {fi} layer {layer}: a decoded picture is smaller than "
                    f"{width}x{height}")
    out = [[int(v) for v in r[:width]] for r in rows[:height]]
    for r in out:
        for v in r:
            if v < 0 or v >= 1 << p_depth:
                raise error(f"frame {fi} layer {layer}: picture sample {v} is not {p_depth}-bit")
    return out


def stream_sample(p: int, sps: StreamParameterSet) -> int:
    """Clause 5.14, sample values: picture sample p (bit depth P) to stream sample v."""
    b = sps.sample_bit_depth
    pd = sps.picture_bit_depth
    sample_min, sample_max = sample_range(sps)
    if pd > b:
        return min(((p + (1 << (pd - b - 1))) >> (pd - b)) + sample_min, sample_max)
    if pd == b:
        return p + sample_min
    return (p << (b - pd)) + sample_min


def place_tile(sps: StreamParameterSet, picture: list[list[int]], t: int, layer: int,
               g: Geometry, out: list[int]) -> None:
    """Clause 5.14, placement: the sample at picture row Top(t) + y, column x, inside cell k,
    is channel LayerChannels(t, l)[k]'s sample at row y mod H[t], column x mod W[t]."""
    top = picture_top(sps, t, layer)
    plane = g.cell_height * g.cell_width
    for k, c in enumerate(g.channels):
        y0 = (k // g.cols) * g.cell_height
        x0 = (k % g.cols) * g.cell_width
        for row in range(g.cell_height):
            src = picture[top + y0 + row]
            for col in range(g.cell_width):
                out[c * plane + row * g.cell_width + col] = stream_sample(src[x0 + col], sps)


# --------------------------------------------------------------------------- clause 5.6


@dataclass
class Schedule:
    """The wavefront schedule of clause 5.6; indices d are decoding-order indices."""

    order: list[int]  # Order[d]: unit-order index of sample d
    above: list[int | None]  # decoding-order index of the above neighbour, None: unavailable
    left: list[int | None]
    ws: list[int]  # Ws[s]
    step_start: list[int]  # StepStart[s]
    lane_start: list[int]  # LaneStart[s]
    lane_retire: list[int]  # LaneRetire[s]
    num_lanes: int  # L


def wavefront_schedule(heights: list[int], width: int, block_size: int,
                       lane_limit: int) -> Schedule:
    """Clause 5.6, for parts of the given heights, all `width` wide."""
    blk = block_size if block_size > 0 else max(max(heights), width)
    blocks_per_row = ceil_div(width, blk)
    # Every sample in unit order m: its sort key (pass, part j, block, y) and its bx, by.
    keyed = []
    bxby = []
    m = 0
    for j, h in enumerate(heights):
        for y in range(h):
            for x in range(width):
                bx = x % blk
                by = y % blk
                block = (y // blk) * blocks_per_row + x // blk
                keyed.append(((bx + by, j, block, y), m))
                bxby.append((bx, by))
                m += 1
    n = m
    keyed.sort()
    order = [m for _, m in keyed]
    rank = [0] * n  # decoding-order index of unit-order sample m
    for d, m in enumerate(order):
        rank[m] = d
    above: list[int | None] = []
    left: list[int | None] = []
    for m in order:
        bx, by = bxby[m]
        left.append(rank[m - 1] if bx > 0 else None)
        above.append(rank[m - width] if by > 0 else None)
    # Passes and steps.
    num_passes = 1 + max(key[0] for key, _ in keyed)
    pass_size = [0] * num_passes
    for key, _ in keyed:
        pass_size[key[0]] += 1
    ws = []
    for n_p in pass_size:
        if n_p == 0:
            raise AssertionError("every pass holds at least one sample")
        if lane_limit == 0:
            ws.append(n_p)
        else:
            for k in range(ceil_div(n_p, lane_limit)):
                ws.append(min((k + 1) * lane_limit, n_p) - k * lane_limit)
    num_steps = len(ws)
    step_start = []
    total = 0
    for w in ws:
        step_start.append(total)
        total += w
    lane_start = []
    lane_retire = []
    for s in range(num_steps):
        prefix_max = max(ws[:s]) if s > 0 else 0
        suffix_max = max(ws[s + 1 :]) if s < num_steps - 1 else 0
        lane_start.append(min(prefix_max, ws[s]))
        lane_retire.append(min(suffix_max, ws[s]))
    return Schedule(order, above, left, ws, step_start, lane_start, lane_retire, max(ws))


# --------------------------------------------------------------------------- clause 5.7


def magnitude_class(u: int, max_class: int) -> int:
    """Class(u): the number of c in 1..15 with Thr[c] <= u, at most MaxClass."""
    count = 0
    for c in range(1, 16):
        if THR[c] <= u:
            count += 1
    return min(count, max_class)


def token_class(token: int, e: int, max_class: int) -> int:
    """The class of a decoded sample from its token: Class(T) for a direct token, MaxClass for
    an escape token."""
    if token < (1 << e):
        return magnitude_class(token, max_class)
    return max_class


def frequency_tables(sps: StreamParameterSet,
                     model: TileModel) -> list[tuple[list[int], list[int]] | None]:
    """Per context: (f, cum) from the token weights, or None when the context is absent."""
    e = sps.direct_token_log2
    num_tokens = (1 << e) + sps.sample_bit_depth + 2 - e
    tables: list[tuple[list[int], list[int]] | None] = []
    for weights in model.weights:
        if weights is None:
            tables.append(None)
            continue
        w = list(weights) + [0] * (num_tokens - len(weights))
        # 1. R(w).
        r = [(4 + (wt % 4)) << (wt // 4) if wt >= 1 else 0 for wt in w]
        # 2. Total.
        total = sum(r)
        # 3. f.
        f = [max(1, (r[tok] << PROB_BITS) // total) if w[tok] > 0 else 0
             for tok in range(num_tokens)]
        # 4. Big: the smallest token index with the largest f.
        big = 0
        for tok in range(num_tokens):
            if f[tok] > f[big]:
                big = tok
        f[big] = f[big] + PROB_SCALE - sum(f)
        # 5.
        if f[big] < 1:
            raise error("token weights give a frequency below 1")
        cum = [0] * num_tokens
        for tok in range(1, num_tokens):
            cum[tok] = cum[tok - 1] + f[tok - 1]
        tables.append((f, cum))
    return tables


def unzigzag(u: int) -> int:
    """Clause 5.7: the inverse of the magnitude index mapping."""
    if u % 2 == 0:
        return u >> 1
    return -((u + 1) >> 1)


# --------------------------------------------------------------------------- clause 5.8


_ASCII_BIT = bytes.maketrans(b"01", b"\x00\x01")


class BitStack:
    """The bit stack S of clause 5.8: ans_data as bits, MSB first, followed by zero bits."""

    def __init__(self, ans_data: bytes, num_lanes: int) -> None:
        self.limit = 8 * len(ans_data) + 16 * num_lanes + 64
        self.bits = bytearray(self.limit)  # S[0 .. Limit - 1], one bit per entry, all 0
        n = 8 * len(ans_data)
        if n:  # the bits of ans_data, MSB first (as the characters '0' and '1')
            text = format(int.from_bytes(ans_data, "big"), f"0{n}b").encode("ascii")
            self.bits[:n] = text.translate(_ASCII_BIT)
        self.pos = 0  # P

    def read(self, n: int) -> int:
        if self.pos + n > self.limit:
            raise error("a read past the end of the ANS data")
        v = 0
        for i in range(n):
            v = (v << 1) | self.bits[self.pos + i]
        self.pos += n
        return v

    def push(self, values: list[int]) -> None:
        k = len(values)
        start = self.pos - 16 * k
        for i, v in enumerate(values):
            for b in range(16):
                self.bits[start + 16 * i + b] = (v >> (15 - b)) & 1
        self.pos = start

    def any_one_from_pos(self) -> bool:
        """Is any bit S[i], i >= P, a 1? (Bits at and beyond Limit are 0: never written.)"""
        return self.bits.find(1, self.pos) != -1


def decode_data_unit(sps: StreamParameterSet, g: Geometry, u: int, model: TileModel,
                     tables: list[tuple[list[int], list[int]] | None], ans_data: bytes,
                     out: list[int]) -> None:
    """Clauses 5.5 to 5.9 for data unit u of the tile: its samples go into `out` (the
    tensor's C*H*W sample list)."""
    e = sps.direct_token_log2
    max_class = sps.max_magnitude_class
    parts = cell_parts(g, u)
    width = g.cell_width
    sched = wavefront_schedule([b - a for _, a, b in parts], width,
                               sps.wavefront_block_size, sps.lane_limit)
    n = len(sched.order)
    stack = BitStack(ans_data, sched.num_lanes)
    x = [0] * sched.num_lanes
    token = [0] * n
    cls = [0] * n  # class of decoded sample d (clause 5.7)
    for s in range(len(sched.ws)):
        # New lanes read their initial states, in lane order.
        for i in range(sched.lane_start[s], sched.ws[s]):
            x[i] = STATE_LOW + stack.read(16)
        # One token per lane, in lane order.
        for i in range(sched.ws[s]):
            d = sched.step_start[s] + i
            a, lft = sched.above[d], sched.left[d]
            class_above = cls[a] if a is not None else 0
            class_left = cls[lft] if lft is not None else 0
            ctx = class_above * (max_class + 1) + class_left
            table = tables[ctx]
            if table is None:
                raise error(f"sample {d}: context {ctx} is absent from the tile model")
            f, cum = table
            slot = x[i] & (PROB_SCALE - 1)
            t = 0
            while not (cum[t] <= slot < cum[t] + f[t]):
                t += 1
            xp = f[t] * (x[i] >> PROB_BITS) + slot - cum[t]
            nb = 16 - (xp.bit_length() - 1)
            x[i] = (xp << nb) + stack.read(nb)
            token[d] = t
            cls[d] = token_class(t, e, max_class)
        # Retiring lanes push their state back, lane LaneRetire[s] on top.
        if sched.lane_retire[s] < sched.ws[s]:
            stack.push([x[i] - STATE_LOW for i in range(sched.lane_retire[s], sched.ws[s])])
    # Escape bits, in decoding order.
    mag = [0] * n  # U[d]
    for d in range(n):
        if token[d] >= (1 << e):
            k = token[d] - (1 << e) + e
            mag[d] = (1 << k) + stack.read(k)
        else:
            mag[d] = token[d]
    # End check.
    if stack.any_one_from_pos():
        raise error("ANS data does not end in its final state")
    # Clause 5.9: reconstruction, placed at unit-order index Order[d].
    sample_min, sample_max = sample_range(sps)
    unit_values = [0] * n
    for d in range(n):
        v = unzigzag(mag[d]) + model.sample_offset
        if v < sample_min or v > sample_max:
            raise error(f"sample value {v} outside [{sample_min}, {sample_max}]")
        unit_values[sched.order[d]] = v
    # Unit order (clause 5.5): part by part, each part row-major.
    plane = g.cell_height * width
    m = 0
    for k, a, b in parts:
        c = g.channels[k]
        for row in range(a, b):
            for col in range(width):
                out[c * plane + row * width + col] = unit_values[m]
                m += 1


# --------------------------------------------------------------------------- clause 5.10


def dequantize_channel(sps: StreamParameterSet, fh: FrameHeader, t: int, c: int,
                       samples: list[int], values: list[float]) -> None:
    """Clause 5.10 for channel c of tensor t: every operation rounded to binary32."""
    ti = sps.tensors[t]
    plane = ti.height * ti.width
    mode = int(sps.quant_mode)
    q = fh.quant[t]
    if mode in (0, 1):
        i = 0 if mode == 0 else c
        lo = binary32_from_bits(q.min_bits[i])
        hi = binary32_from_bits(q.max_bits[i])
        diff = fl(hi - lo)
        levels = fl(float((1 << sps.sample_bit_depth) - 1))  # exact
        scale = fl(diff / levels)
        if not math.isfinite(scale):
            raise error(f"tensor {t} channel {c}: scale is not finite")
    elif mode == 2:
        qp = q.qp
        step = binary32_from_bits(MANT_BITS[qp % 6]) * 2.0 ** (qp // 6 - 8)  # exact
    else:
        step = binary32_from_bits(q.step_bits)
    for idx in range(c * plane, (c + 1) * plane):
        s = float(samples[idx])  # exact: |s| < 2^24
        value = fl(lo + fl(s * scale)) if mode in (0, 1) else fl(s * step)
        if not math.isfinite(value):
            raise error(f"tensor {t} channel {c}: dequantized value is not finite")
        values[idx] = value
