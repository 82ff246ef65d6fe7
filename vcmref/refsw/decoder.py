"""The normative decoder: units -> parameter sets -> entropy decoding -> samples -> tensors.

Plain and deterministic; it never imports the encoder.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vcmref.bitstream.frame_units import (
    DataHash,
    DataUnit,
    FrameHeader,
    InnerCodecData,
    RestorationModelRef,
    TemporalPrediction,
    TileModel,
)
from vcmref.bitstream.levels import PROFILE_MAIN_INTER
from vcmref.bitstream.parameter_sets import (
    EntropyCoder,
    InnerCodec,
    StreamParameterSet,
    picture_size,
)
from vcmref.bitstream.syntax import Reader
from vcmref.bitstream.unit_types import UNIT_TYPES, UnitTypeInfo
from vcmref.bitstream.units import Unit, UnitType, iter_units
from vcmref.errors import BitstreamError, ToolNotFoundError, VcmrefError
from vcmref.refsw.entropy_model import model_tables, unzigzag
from vcmref.refsw.hashing import layer_samples_md5
from vcmref.refsw.inner_pictures import InnerDecoder, place_picture
from vcmref.refsw.quantization import dequantize
from vcmref.refsw.rans_decoder import UnitTables, compiled_kernel, decode_unit_tokens
from vcmref.refsw.tiles import TileGeometry, tile_frame, tile_geometry, unit_tensor_index


@dataclass
class DecodedFrame:
    """One decoded frame; channels of layers that were not decoded are 0."""

    frame_index: int
    samples: dict[str, np.ndarray]  # int32 (C, H, W)
    tensors: dict[str, np.ndarray]  # float32 (C, H, W)
    layers: list[int]
    hashes_checked: int
    # loss-tolerant decoding only: bool (C, H, W) per tensor, True where a sample was lost
    # (its sample and tensor value are then 0); None from a strict decoder
    missing: dict[str, np.ndarray] | None = None


@dataclass
class DecodeResult:
    sps: StreamParameterSet
    frames: list[DecodedFrame]
    skipped_units: list[int] = field(default_factory=list)  # indices of reserved-type units
    # the restoration the stream names (clause 8), to apply after decoding; None: none
    restoration: RestorationModelRef | None = None

    def stacked_tensors(self) -> dict[str, np.ndarray]:
        """float32 tensors of shape (frames, C, H, W)."""
        return {ti.name: np.stack([f.tensors[ti.name] for f in self.frames])
                for ti in self.sps.tensors}

    def stacked_samples(self) -> dict[str, np.ndarray]:
        return {ti.name: np.stack([f.samples[ti.name] for f in self.frames])
                for ti in self.sps.tensors}

    def tile_frames(self) -> dict[str, np.ndarray]:
        """Decoded samples as the 2-D tiles of the tile layout, (frames, height, width) per
        (tensor, layer), named 'TENSOR/layerL'; unused cells hold tile_padding_value."""
        out = {}
        for layer in range(len(self.sps.layers)):
            for t, ti in enumerate(self.sps.tensors):
                geom = tile_geometry(self.sps, t, layer)
                if geom is not None:
                    out[f"{ti.name}/layer{layer}"] = np.stack([
                        tile_frame(f.samples[ti.name], geom, self.sps.tile_padding_value)
                        for f in self.frames])
        return out


def place_samples(u: np.ndarray, index: np.ndarray, offset: int, sps: StreamParameterSet,
                  out: np.ndarray) -> bool:
    """Store sample = unzigzag(u) + offset at the flat tensor indices; False if a sample is
    outside the stream's sample range (nothing is then guaranteed about `out`)."""
    kernel = compiled_kernel()
    if kernel is not None:
        rc = kernel.place_samples(u, index, offset, sps.sample_min, sps.sample_max,
                                  out.reshape(-1))
        if rc == -8:
            raise IndexError("sample index outside the tensor")
        return rc == 0
    values = unzigzag(u) + offset
    if values.size and (values.min() < sps.sample_min or values.max() > sps.sample_max):
        return False
    out.reshape(-1)[index] = values
    return True


def _reader(data: bytes, unit: Unit) -> Reader:
    return Reader(data, unit=unit.label, bit_offset=unit.payload_bit_offset,
                  bit_end=unit.payload_bit_offset + 8 * len(unit.payload))


def _expect_consumed(rd: Reader, unit: Unit) -> None:
    if rd.bits_left:
        raise BitstreamError(f"{rd.bits_left // 8} bytes of payload left after the last element",
                             unit=unit.label, element="payload_size",
                             bit_offset=rd.bit_position)


def _parse(data: bytes, unit: Unit, row: UnitTypeInfo,
           sps: StreamParameterSet | None = None) -> Any:
    """The unit's payload, parsed with the syntax of its type; every payload bit is used."""
    rd = _reader(data, unit)
    content = row.parse(rd, sps, unit.payload)
    _expect_consumed(rd, unit)
    return content


@dataclass
class _FrameUnits:
    """The open frame: its header, and its frame units (clause 5.2, rule 8) as (content, unit)
    by unit type, then by key."""

    header: FrameHeader
    unit: Unit
    units: dict[int, dict[Any, tuple[Any, Unit]]] = field(default_factory=lambda: {
        unit_type: {} for unit_type, row in UNIT_TYPES.items() if row.in_frame})

    @property
    def models(self) -> dict[tuple[int, int], tuple[TileModel, Unit]]:
        return self.units[UnitType.TILE_MODEL]

    @property
    def data(self) -> dict[tuple[int, int, int], tuple[DataUnit, Unit]]:
        return self.units[UnitType.DATA_UNIT]

    @property
    def hashes(self) -> dict[int, tuple[DataHash, Unit]]:
        return self.units[UnitType.DATA_HASH]

    @property
    def inner(self) -> dict[int, tuple[InnerCodecData, Unit]]:
        return self.units[UnitType.INNER_CODEC_DATA]

    @property
    def prediction(self) -> tuple[TemporalPrediction, Unit] | None:
        return self.units[UnitType.TEMPORAL_PREDICTION].get(0)


@dataclass
class _Reference:
    """The previous decoded frame's samples (and, loss-tolerant, its lost samples): what a
    temporal_prediction unit predicts from (clause 5.9.1)."""

    samples: dict[str, np.ndarray] | None = None
    missing: dict[str, np.ndarray] | None = None


def predict_samples(residual: np.ndarray, reference: np.ndarray,
                    sps: StreamParameterSet) -> np.ndarray:
    """Clause 5.9.1: SampleMin + ((v + ref - SampleMin) mod 2^B), as int32."""
    span = sps.sample_max - sps.sample_min + 1
    total = residual.astype(np.int64) + reference - sps.sample_min
    return (np.mod(total, span) + sps.sample_min).astype(np.int32)


_DEQUANT_CHUNK_SAMPLES = 1 << 20  # dequantize and hash this many samples at a time


INNER_CODEC_NAMES = {InnerCodec.H266_VVC: "H.266/VVC", InnerCodec.H265_HEVC: "H.265/HEVC"}


def no_inner_decoder(codec: InnerCodec, data: bytes, width: int, height: int,
                     bit_depth: int) -> np.ndarray:
    """The inner decoder of a Decoder given none: refuses, saying what the stream needs (this
    package decodes no video codec; vcmref.media.inner_decoders has ffmpeg's)."""
    raise ToolNotFoundError(f"this stream's samples are in an "
                            f"{INNER_CODEC_NAMES.get(codec, str(codec))} byte stream: give the "
                            "decoder an inner decoder (Decoder(inner_decoder=...), e.g. "
                            "vcmref.media.inner_decoders.decode_inner_pictures)")


def _dequant_chunks(channels: tuple[int, ...], height: int,
                    width: int) -> Iterator[tuple[np.ndarray, slice]]:
    """(channel indices, row slice) blocks of at most about _DEQUANT_CHUNK_SAMPLES samples, in
    channel order and, within a channel, row order (the order of the layer hash)."""
    per_group = _DEQUANT_CHUNK_SAMPLES // (height * width)
    if per_group >= 1:
        for a in range(0, len(channels), per_group):
            yield np.asarray(channels[a : a + per_group]), slice(None)
        return
    rows = max(1, _DEQUANT_CHUNK_SAMPLES // width)
    for c in channels:
        for y in range(0, height, rows):
            yield np.asarray([c]), slice(y, y + rows)


_Pending = dict[int, tuple[deque, Unit]]

# The payload units a loss-tolerant decoder treats as lost when absent or damaged.
LOSSY_UNIT_TYPES = frozenset({UnitType.DATA_UNIT, UnitType.INNER_CODEC_DATA})


def _lost_count(missing: dict[str, np.ndarray] | None) -> int:
    return 0 if missing is None else int(sum(int(m.sum()) for m in missing.values()))


def _mark_layer(sps: StreamParameterSet, layer: int, missing: dict[str, np.ndarray]) -> None:
    """Every sample of the channels that `layer` carries is lost."""
    for t, ti in enumerate(sps.tensors):
        chans = sps.layer_channels(t, layer)
        if chans:
            missing[ti.name][chans] = True


class FrameStream:
    """A stream being decoded: `sps` at once, then the frames as they are iterated (once);
    `restoration` (the restoration_model unit, clause 5.2 rule 9) is set by the time the first
    frame is yielded, since the unit precedes the first frame header.

    An error anywhere in the stream, also after the last frame (a missing end_of_stream, say),
    is raised by the iteration: a caller that writes frames as they come must discard them
    then."""

    def __init__(self, decoder: Decoder, data: bytes) -> None:
        self.skipped_units: list[int] = []
        # set when the restoration_model unit is parsed: before the first frame is yielded
        self.restoration: RestorationModelRef | None = None
        self._items = decoder._frames(data, self)
        self.sps: StreamParameterSet = next(self._items)  # type: ignore[assignment]

    def __iter__(self) -> Iterator[DecodedFrame]:
        return self._items  # type: ignore[return-value]


class Decoder:
    """Decodes a stream; `max_layers` decodes only layers below it (as if the rest were dropped).

    `inner_decoder` decodes the pictures of inner_codec_data units (streams with
    entropy_coder_idc 1): the decoder imports no video codec, its caller passes one (ffmpeg's:
    vcmref.media.inner_decoders.decode_inner_pictures). Without it such streams are refused
    with a ToolNotFoundError that says so; other streams never call it.
    """

    def __init__(self, max_layers: int | None = None, verify_hashes: bool = True,
                 inner_decoder: InnerDecoder | None = None, loss_tolerant: bool = False) -> None:
        if max_layers is not None and (isinstance(max_layers, bool) or max_layers < 1):
            raise ValueError(f"max_layers {max_layers!r}: expected at least 1 (layer 0 is "
                             "always decoded)")
        self.max_layers = max_layers
        self.verify_hashes = verify_hashes
        self.inner_decoder = inner_decoder or no_inner_decoder
        # Loss-tolerant mode (spec clause 5.15, informative): a data unit or inner_codec_data
        # unit that is missing, fails its CRC or does not decode is a loss; what arrived is
        # decoded, and each frame says which samples were lost. Headers stay required.
        self.loss_tolerant = loss_tolerant

    def decode(self, data: bytes) -> DecodeResult:
        """Decode the whole stream; every frame is held (see `frames` for one at a time)."""
        stream = self.frames(data)
        frames = list(stream)
        return DecodeResult(stream.sps, frames, stream.skipped_units, stream.restoration)

    def frames(self, data: bytes) -> FrameStream:
        """The stream's frames, decoded one at a time as they are iterated, so that memory
        holds one frame; the stream parameter set is parsed (and checked) at once."""
        return FrameStream(self, data)

    def _frames(self, data: bytes, stream: FrameStream) -> Iterator[StreamParameterSet |
                                                                   DecodedFrame]:
        """Yields the stream parameter set, then each decoded frame; records skipped units and
        the restoration_model unit in `stream`."""
        sps: StreamParameterSet | None = None
        last_index: int | None = None
        current: _FrameUnits | None = None
        ended = False
        # pictures an inner_codec_data unit decoded for later frames, per layer: the stream's
        # only state across frames
        pending: _Pending = {}
        reference = _Reference()  # the previous frame's samples, for temporal prediction
        for unit in iter_units(data):
            if ended:
                raise BitstreamError("unit after end_of_stream", unit=unit.label,
                                     element="unit_type", bit_offset=8 * unit.byte_offset)
            utype = unit.unit_type
            row = UNIT_TYPES.get(utype)
            if row is None:  # a reserved type
                stream.skipped_units.append(unit.index)
                continue
            if sps is None:
                if utype != UnitType.STREAM_PARAMETER_SET:
                    raise BitstreamError("the first unit must be the stream parameter set",
                                         unit=unit.label, element="unit_type",
                                         bit_offset=8 * unit.byte_offset + 1)
                sps = _parse(data, unit, row)
                yield sps
                continue
            if len(unit.payload) > sps.level.max_unit_payload_bytes:
                raise BitstreamError(f"payload of {len(unit.payload)} bytes exceeds level "
                                     f"{sps.level_idc}'s {sps.level.max_unit_payload_bytes}",
                                     unit=unit.label, element="payload_size",
                                     bit_offset=8 * unit.byte_offset + 16)
            if row.layer_id_checked and unit.layer_id >= len(sps.layers):
                raise BitstreamError(f"layer_id {unit.layer_id} but the stream has "
                                     f"{len(sps.layers)} layers", unit=unit.label,
                                     element="layer_id", bit_offset=8 * unit.byte_offset + 8)
            if utype == UnitType.STREAM_PARAMETER_SET:
                raise BitstreamError("a second stream parameter set", unit=unit.label,
                                     element="unit_type", bit_offset=8 * unit.byte_offset + 1)
            if utype == UnitType.END_OF_STREAM:
                if unit.payload:
                    raise BitstreamError("end_of_stream has a non-empty payload",
                                         unit=unit.label, element="payload_size",
                                         bit_offset=8 * unit.byte_offset + 16)
                ended = True
                continue
            if utype == UnitType.RESTORATION_MODEL:
                self._restoration(data, unit, row, sps, stream, current is not None)
                continue
            if utype == UnitType.FRAME_HEADER:
                if current is not None:
                    yield self._decode_frame(sps, current, pending, reference)
                    last_index = current.header.frame_index
                    current = None
                fh = _parse(data, unit, row, sps)
                if last_index is not None and fh.frame_index <= last_index:
                    raise BitstreamError(
                        f"frame_index {fh.frame_index} does not follow {last_index}",
                        unit=unit.label, element="frame_index", bit_offset=unit.payload_bit_offset)
                current = _FrameUnits(fh, unit)
                continue
            if current is None:
                raise BitstreamError("frame unit before any frame header", unit=unit.label,
                                     element="unit_type", bit_offset=8 * unit.byte_offset + 1)
            if utype == UnitType.TEMPORAL_PREDICTION:  # whatever max_layers is (rule 10)
                self._check_prediction_unit(unit, sps)
            if self.max_layers is not None and unit.layer_id >= self.max_layers:
                continue
            self._collect(data, sps, current, unit, row)
        if sps is None:
            raise BitstreamError("stream has no stream parameter set", unit="stream")
        if current is not None:
            yield self._decode_frame(sps, current, pending, reference)
        for layer, (left, unit) in pending.items():
            if left:
                raise BitstreamError(f"inner_data holds {len(left)} more pictures of layer "
                                     f"{layer} than frames follow it", unit=unit.label,
                                     element="num_pictures_minus1")
        if not ended:
            raise BitstreamError("stream ends without an end_of_stream unit", unit="stream",
                                 bit_offset=8 * len(data))

    @staticmethod
    def _restoration(data: bytes, unit: Unit, row: UnitTypeInfo, sps: StreamParameterSet,
                     stream: FrameStream, in_frame: bool) -> None:
        """Clause 5.2, rule 9: at most one restoration_model, in layer 0, before the first
        frame header."""
        where = 8 * unit.byte_offset
        if in_frame:
            raise BitstreamError("restoration_model after the first frame header",
                                 unit=unit.label, element="unit_type", bit_offset=where + 1)
        if unit.layer_id != 0:
            raise BitstreamError(f"restoration_model with layer_id {unit.layer_id}, expected 0",
                                 unit=unit.label, element="layer_id", bit_offset=where + 8)
        if stream.restoration is not None:
            raise BitstreamError("a second restoration_model", unit=unit.label,
                                 element="unit_type", bit_offset=where + 1)
        stream.restoration = _parse(data, unit, row, sps)

    @staticmethod
    def _check_prediction_unit(unit: Unit, sps: StreamParameterSet) -> None:
        """Clause 5.2, rule 10: temporal_prediction only in profile 2 streams, in layer 0."""
        where = 8 * unit.byte_offset
        if sps.profile_idc != PROFILE_MAIN_INTER:
            raise BitstreamError(f"temporal_prediction in a stream of profile_idc "
                                 f"{sps.profile_idc} (it needs {PROFILE_MAIN_INTER})",
                                 unit=unit.label, element="unit_type", bit_offset=where + 1)
        if unit.layer_id != 0:
            raise BitstreamError(f"temporal_prediction with layer_id {unit.layer_id}, "
                                 "expected 0", unit=unit.label, element="layer_id",
                                 bit_offset=where + 8)

    def _collect(self, data: bytes, sps: StreamParameterSet, fr: _FrameUnits,
                 unit: Unit, row: UnitTypeInfo) -> None:
        """Clause 5.2, rule 8: parse a frame unit into the open frame, once per key."""
        if row.entropy_coder is not None and row.entropy_coder != sps.entropy_coder:
            raise BitstreamError(f"a {unit.label.split(':')[1]} unit in a stream whose "
                                 f"entropy_coder_idc is {int(sps.entropy_coder)}",
                                 unit=unit.label, element="unit_type",
                                 bit_offset=8 * unit.byte_offset + 1)
        if self.loss_tolerant and unit.unit_type in LOSSY_UNIT_TYPES:
            try:
                content = _parse(data, unit, row, sps)
            except BitstreamError:
                return  # a damaged payload unit counts as lost
        else:
            content = _parse(data, unit, row, sps)
        if content.frame_index != fr.header.frame_index:
            raise BitstreamError(f"frame_index {content.frame_index} inside frame "
                                 f"{fr.header.frame_index} (is frame {content.frame_index}'s "
                                 "frame header missing?)", unit=unit.label,
                                 element="frame_index", bit_offset=unit.payload_bit_offset)
        fields = tuple(getattr(content, name) for name in row.key)
        key = (unit.layer_id, *fields) if fields else unit.layer_id
        store = fr.units[unit.unit_type]
        if key in store:
            raise BitstreamError(f"a second {unit.label.split(':')[1]} for {key}",
                                 unit=unit.label, element="unit_type",
                                 bit_offset=8 * unit.byte_offset)
        store[key] = (content, unit)

    def _decode_frame(self, sps: StreamParameterSet, fr: _FrameUnits, pending: _Pending,
                      reference: _Reference) -> DecodedFrame:
        label = fr.unit.label
        prediction = fr.prediction
        if prediction is not None and reference.samples is None:
            raise BitstreamError(f"frame {fr.header.frame_index}: temporal_prediction in the "
                                 "stream's first frame (no previous frame to predict from)",
                                 unit=prediction[1].label, element="unit_type",
                                 bit_offset=8 * prediction[1].byte_offset + 1)
        predicted = prediction[0].predicted if prediction is not None else None
        present = sorted({k[0] for k in fr.models} | {k[0] for k in fr.data}
                         | set(fr.hashes) | set(fr.inner)
                         | {k for k, (left, _) in pending.items() if left})
        missing = None
        if self.loss_tolerant:
            # every layer the decoder was asked for is expected; what did not arrive is lost
            present = list(range(min(len(sps.layers), self.max_layers or len(sps.layers))))
            missing = {ti.name: np.zeros((ti.channels, ti.height, ti.width), dtype=bool)
                       for ti in sps.tensors}
        for layer in present if not self.loss_tolerant else ():
            for ref in sps.layers[layer].ref_layers:
                if ref not in present:
                    raise BitstreamError(f"frame {fr.header.frame_index}: layer {layer} is "
                                         f"present but the layer it depends on, {ref}, is not",
                                         unit=label, element="ref_layer_idx")
        samples = {ti.name: np.zeros((ti.channels, ti.height, ti.width), dtype=np.int32)
                   for ti in sps.tensors}
        tensors = {ti.name: np.zeros((ti.channels, ti.height, ti.width), dtype=np.float32)
                   for ti in sps.tensors}
        hashes_checked = 0
        for layer in present:
            lost_before = _lost_count(missing)
            if sps.entropy_coder == EntropyCoder.INNER_CODEC:
                try:
                    picture = self._next_picture(sps, fr, layer, pending)
                except ToolNotFoundError:
                    raise
                except BitstreamError:
                    if missing is None:
                        raise
                    _mark_layer(sps, layer, missing)
                else:
                    place_picture(picture, sps, layer, samples)
            tiles = []  # (tensor, geometry) of the layer, in hash order
            for t, ti in enumerate(sps.tensors):
                geom = tile_geometry(sps, t, layer)
                if geom is None:
                    if (layer, t) in fr.models or any(k[:2] == (layer, t) for k in fr.data):
                        raise BitstreamError(f"tile model or data unit for tensor {t}, which "
                                             f"layer {layer} does not carry", unit=label,
                                             element="tensor_idx")
                    continue
                if sps.entropy_coder == EntropyCoder.WAVEFRONT_RANS:
                    self._decode_tile(sps, fr, t, layer, geom, samples[ti.name],
                                      None if missing is None else missing[ti.name])
                if predicted is not None and predicted[t]:
                    chans = list(geom.channels)
                    samples[ti.name][chans] = predict_samples(
                        samples[ti.name][chans], reference.samples[ti.name][chans], sps)
                    if missing is not None and reference.missing is not None:
                        missing[ti.name][chans] |= reference.missing[ti.name][chans]
                for chans, rows in _dequant_chunks(geom.channels, ti.height, ti.width):
                    try:
                        tensors[ti.name][chans, rows] = dequantize(
                            samples[ti.name][chans, rows], sps.quant_mode, fr.header.quant[t],
                            sps.sample_bit_depth, chans)
                    except BitstreamError as e:
                        raise BitstreamError(f"tensor {t}: {e.reason}", unit=label,
                                             element=e.element,
                                             bit_offset=fr.unit.payload_bit_offset) from None
                tiles.append((ti, geom))
            if missing is not None and _lost_count(missing) > lost_before:
                continue  # a layer with losses cannot match its hash
            if layer in fr.hashes and self.verify_hashes:
                dh, hunit = fr.hashes[layer]
                # chunks made as the hash consumes them: one chunk's copy at a time
                digest = layer_samples_md5(
                    samples[ti.name][chans, rows] for ti, geom in tiles
                    for chans, rows in _dequant_chunks(geom.channels, ti.height, ti.width))
                if digest != dh.digest and missing is not None:
                    _mark_layer(sps, layer, missing)  # damage no CRC caught: the layer is lost
                    continue
                if digest != dh.digest:
                    raise BitstreamError(
                        f"decoded samples of frame {fr.header.frame_index} layer {layer} have "
                        f"MD5 {digest.hex()}, the stream says {dh.digest.hex()}",
                        unit=hunit.label, element="decoded_md5")
                hashes_checked += 1
        if missing is not None:
            for name, lost in missing.items():
                samples[name][lost] = 0
                tensors[name][lost] = 0.0
            present = [layer for layer in present
                       if not all(missing[sps.tensors[t].name][c].all()
                                  for t in range(len(sps.tensors))
                                  for c in sps.layer_channels(t, layer))]
        if sps.profile_idc == PROFILE_MAIN_INTER:  # a copy: callers may change their frame
            reference.samples = {name: x.copy() for name, x in samples.items()}
            reference.missing = (None if missing is None
                                 else {name: m.copy() for name, m in missing.items()})
        return DecodedFrame(fr.header.frame_index, samples, tensors, present, hashes_checked,
                            missing)

    def _next_picture(self, sps: StreamParameterSet, fr: _FrameUnits, layer: int,
                      pending: _Pending) -> np.ndarray:
        """The layer's picture for this frame: decoded from the frame's inner_codec_data unit,
        or the next one left over from the last such unit of the layer."""
        left, _ = pending.get(layer, (deque(), fr.unit))
        where = f"frame {fr.header.frame_index} layer {layer}"
        if layer in fr.inner:
            ic, unit = fr.inner[layer]
            if left:
                raise BitstreamError(f"{where}: inner_codec_data while {len(left)} pictures of "
                                     "the layer's previous one are unused", unit=unit.label,
                                     element="frame_index")
            width, height = picture_size(sps, layer)
            try:
                pictures = self.inner_decoder(sps.inner_codec, ic.inner_data, width, height,
                                              sps.picture_bit_depth)
            except ToolNotFoundError:
                raise
            except VcmrefError as e:
                raise BitstreamError(f"{where}: the {sps.inner_codec.name} decoder rejects "
                                     f"inner_data: {e}", unit=unit.label,
                                     element="inner_data") from None
            if pictures.shape != (ic.num_pictures, height, width):
                raise BitstreamError(f"{where}: inner_data decodes to pictures of shape "
                                     f"{pictures.shape[1:]} x {pictures.shape[0]}, expected "
                                     f"{ic.num_pictures} of {width}x{height}",
                                     unit=unit.label, element="inner_data")
            if pictures.size and int(pictures.max()) >= 1 << sps.picture_bit_depth:
                raise BitstreamError(f"{where}: inner picture sample above "
                                     f"{sps.picture_bit_depth}-bit range", unit=unit.label,
                                     element="inner_data")
            left = deque(pictures)
            pending[layer] = (left, unit)
        if not left:
            raise BitstreamError(f"{where}: no inner_codec_data carries its picture",
                                 unit=fr.unit.label, element="unit_type")
        return left.popleft()

    def _decode_tile(self, sps: StreamParameterSet, fr: _FrameUnits, t: int, layer: int,
                     geom: TileGeometry, out: np.ndarray, lost: np.ndarray | None) -> None:
        """Decode the tile's data units into `out`; with a `lost` mask (loss-tolerant mode), a
        unit that is missing or does not decode marks its samples lost instead of failing."""
        where = f"frame {fr.header.frame_index} layer {layer} tensor {t}"
        if (layer, t) not in fr.models:
            if lost is not None:
                lost[list(geom.channels)] = True
                return
            raise BitstreamError(f"{where}: no tile model", unit=fr.unit.label,
                                 element="tensor_idx")
        model, _ = fr.models[layer, t]
        for key in fr.data:
            if key[:2] == (layer, t) and key[2] >= geom.num_units:
                raise BitstreamError(f"{where}: unit_idx {key[2]} but the tile has "
                                     f"{geom.num_units} units", unit=fr.data[key][1].label,
                                     element="unit_idx")
        tables = UnitTables(*model_tables(model, sps))
        for unit_idx in range(geom.num_units):
            entry = fr.data.get((layer, t, unit_idx))
            if entry is None and lost is None:
                raise BitstreamError(f"{where}: data unit {unit_idx} is missing",
                                     unit=fr.unit.label, element="unit_idx")
            sched, index = unit_tensor_index(geom, unit_idx, sps.wavefront_block_size,
                                             sps.lane_limit)
            if lost is not None:
                try:
                    if entry is None:
                        raise BitstreamError("missing")
                    self._decode_unit(sps, entry, sched, index, tables, model, out)
                except BitstreamError:
                    lost.reshape(-1)[index] = True
                continue
            self._decode_unit(sps, entry, sched, index, tables, model, out)

    @staticmethod
    def _decode_unit(sps: StreamParameterSet, entry: tuple[DataUnit, Unit], sched: Any,
                     index: np.ndarray, tables: UnitTables, model: TileModel,
                     out: np.ndarray) -> None:
        """Clauses 5.8 and 5.9 for one data unit: its samples into `out` at `index`."""
        max_class, direct = sps.max_magnitude_class, sps.direct_token_log2
        du, unit = entry
        try:
            u = decode_unit_tokens(du.ans_data, sched, tables, max_class, direct)
        except BitstreamError as e:
            ans_start = unit.payload_bit_offset + 8 * (len(unit.payload) - 4 - len(du.ans_data))
            raise BitstreamError(e.reason, unit=unit.label, element=e.element,
                                 bit_offset=ans_start) from None
        if not place_samples(u, index, model.sample_offset, sps, out):
            raise BitstreamError(f"decoded sample outside [{sps.sample_min}, "
                                 f"{sps.sample_max}]", unit=unit.label, element="ans_data",
                                 bit_offset=8 * unit.byte_offset)
