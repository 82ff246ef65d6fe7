"""Must-reject streams: malformed streams, each with the error a conforming decoder must report.

Every case starts from a small valid stream made by the reference encoder (seeded, so the
bytes are the same on every run) and breaks exactly one rule of docs/spec.md: the container
(clause 2), an element's legal range (clause 4), the unit order (clause 5.2), frames and
layers (clause 5.3), entropy decoding (clause 5.8), reconstruction and dequantization
(clauses 5.9, 5.10), hashes and CRCs (clauses 5.11, 5.12), inner codec pictures (clauses
4.6a, 5.14), the restoration_model unit (clauses 4.9, 5.2 rule 9), the temporal_prediction unit
(clauses 4.10, 5.2 rules 8 and 10, 5.9.1) or a level limit (clause 6).

The inner-codec cases (entropy_coder_idc 1) start from the suite's valid inner-codec streams
(`vcmref.conformance.cases`, external cases: the committed bytes, since video encoders need not
give the same bytes everywhere), so they follow those streams when they are rebuilt.

A conforming decoder rejects each case. The reference decoder raises a BitstreamError whose
element (without loop indices, see `vcmref.bitstream.syntax.base_name`) is `element` and whose
message contains `reason`; `element` is None when the error is about the stream as a whole.
Other decoders are only required to reject the stream; `element` and `reason` say where and why.

Malformed payloads are written by the same syntax functions as valid ones, with a lax Writer
(`Writer(lax=True)`: values outside their range and broken constraints between elements are
written and recorded instead of refused), or patched into the bits of a valid stream at the
offsets that `vcmref.bitstream.inspect.inspect_stream` reports (values the syntax functions'
structures cannot hold: a level_idc without limits, a quant_mode that QuantMode does not name).

Not covered: a payload_size over the stream level's MaxUnitPayloadBytes but within 2^28 (clause
6) needs a payload of more than 4 MiB even at level 10, too large for this set; the range check
of payload_size against 2^28 at the unit header is covered.
"""

from __future__ import annotations

import copy
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from vcmref.bitstream.frame_units import (
    DataUnit,
    FrameHeader,
    InnerCodecData,
    RestorationModelRef,
    TileModel,
    binary32_bits,
    data_unit,
    frame_header,
    inner_codec_data,
    tile_model,
)
from vcmref.bitstream.inspect import inspect_stream
from vcmref.bitstream.parameter_sets import (
    LayerInfo,
    StreamParameterSet,
    TensorInfo,
    TileLayout,
    stream_parameter_set,
)
from vcmref.bitstream.syntax import Reader, TracedElement, Writer
from vcmref.bitstream.units import (
    SIGNATURE_BYTES,
    UNIT_HEADER_BYTES,
    UnitHeader,
    UnitType,
    iter_units,
    unit_chunks,
    unit_header,
    write_signature,
    write_unit,
)
from vcmref.refsw.encoder import EncoderConfig, encode

SEED = 20240611


@dataclass(frozen=True)
class RejectCase:
    """A stream that a conforming decoder must reject.

    `element`: base name (no loop indices) of the syntax element the reference decoder's
    BitstreamError names, or None for an error about the stream as a whole. `reason`: a
    substring of the error message.
    """

    name: str
    description: str
    data: bytes
    element: str | None
    reason: str


def _adder(out: list[RejectCase]) -> Callable[[str, str, bytes, str | None, str], None]:
    """add(name, description, data, element, reason) appends a case to `out`."""
    def add(name: str, description: str, data: bytes, element: str | None, reason: str) -> None:
        out.append(RejectCase(name, description, data, element, reason))
    return add


# --------------------------------------------------------------------------- bit helpers


def _patch_bits(data: bytes, bit_offset: int, nbits: int, value: int) -> bytes:
    """`data` with bits [bit_offset, bit_offset + nbits) replaced by `value` (MSB first)."""
    n = int.from_bytes(data, "big")
    shift = 8 * len(data) - bit_offset - nbits
    mask = ((1 << nbits) - 1) << shift
    n = (n & ~mask) | (value << shift)
    return n.to_bytes(len(data), "big")


def _patch_element(data: bytes, unit_index: int, name: str, value: int) -> bytes:
    """Overwrite a fixed-length element (found by its full name) of one unit's payload."""
    e = _element(data, unit_index, name)
    return _patch_bits(data, e.bit_offset, e.bit_length, value)


def _element(data: bytes, unit_index: int, name: str) -> TracedElement:
    _, units = inspect_stream(data)
    for e in units[unit_index].header + units[unit_index].payload:
        if e.name == name:
            return e
    raise KeyError(f"unit {unit_index} has no element {name}")


def _last_element(data: bytes, unit_index: int, name: str) -> TracedElement:
    _, units = inspect_stream(data)
    return [e for e in units[unit_index].payload if e.name == name][-1]


# --------------------------------------------------------------------------- stream helpers


class _Stream:
    """A stream as a signature and a list of unit byte strings, with lookups by unit content."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.chunks = unit_chunks(data)
        self.units = list(iter_units(data))

    def join(self, chunks: list[bytes] | None = None) -> bytes:
        return write_signature() + b"".join(self.chunks if chunks is None else chunks)

    def replaced(self, index: int, *new: bytes) -> bytes:
        return self.join(self.chunks[:index] + list(new) + self.chunks[index + 1 :])

    def without(self, *indices: int) -> bytes:
        return self.join([c for i, c in enumerate(self.chunks) if i not in indices])

    def inserted(self, index: int, *new: bytes) -> bytes:
        return self.join(self.chunks[:index] + list(new) + self.chunks[index:])

    def indices(self, unit_type: UnitType, layer: int | None = None) -> list[int]:
        return [u.index for u in self.units if u.unit_type == unit_type
                and (layer is None or u.layer_id == layer)]

    def frame_of(self, index: int) -> int:
        """Number (from 0) of the frame a unit belongs to."""
        return sum(1 for i in self.indices(UnitType.FRAME_HEADER) if i < index) - 1

    @property
    def sps(self) -> StreamParameterSet:
        u = self.units[0]
        return stream_parameter_set(Reader(u.payload), StreamParameterSet())

    def payload(self, index: int) -> bytes:
        return self.units[index].payload

    def tile_model(self, index: int) -> TileModel:
        return tile_model(Reader(self.payload(index)), TileModel(), self.sps)

    def data_unit(self, index: int) -> DataUnit:
        return data_unit(Reader(self.payload(index)), DataUnit(), self.sps, self.payload(index))

    def data_unit_key(self, index: int) -> tuple[int, int, int]:
        du = self.data_unit(index)
        return self.units[index].layer_id, du.tensor_idx, du.unit_idx

    def frame_header(self, index: int) -> FrameHeader:
        return frame_header(Reader(self.payload(index)), FrameHeader(), self.sps)

    def inner_codec_data(self, index: int) -> InnerCodecData:
        return inner_codec_data(Reader(self.payload(index)), InnerCodecData(), self.sps,
                                self.payload(index))


def _payload(fn, *args, lax: bool = False) -> bytes:
    """What syntax function `fn` writes for `args`; `lax`: with a lax Writer, for values or
    constraints that the syntax refuses (at least one of them is broken)."""
    w = Writer(lax=lax)
    fn(w, *args)
    assert not lax or w.violations, f"{fn.__name__}: a lax write that breaks no rule"
    return w.getvalue()


def _unit(unit_type: UnitType, layer: int, fn, *args, lax: bool = False) -> bytes:
    return write_unit(unit_type, layer, _payload(fn, *args, lax=lax))


def _cut_ans_data(payload: bytes, n: int) -> bytes:
    """A data unit payload without the last n bytes of its ans_data (ans_bytes unchanged), its
    data_crc32 recomputed."""
    body = payload[: -4 - n]
    return body + struct.pack(">I", zlib.crc32(body))


def _invalid_utf8(raw: bytes) -> str:
    """A str that a lax Writer writes as the bytes `raw` (see SyntaxDirection.string)."""
    return raw.decode("utf-8", "surrogateescape")


def _f32(value: float) -> int:
    return binary32_bits(value)


# --------------------------------------------------------------------------- base streams


def _silu(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    x = rng.normal(size=shape) * scale
    return (x / (1.0 + np.exp(-x))).astype(np.float32)


@lru_cache(maxsize=1)
def _bases() -> dict[str, bytes]:
    rng = np.random.default_rng(SEED)
    two = {"a": _silu(rng, (2, 4, 6, 8)), "b": _silu(rng, (2, 3, 5, 5))}
    return {
        # minmax per tensor, 8 bits, 2 layers (layer 1 depends on layer 0), 3 data units per
        # tile of tensor a, hashes, 2 frames
        "minmax": encode(two, EncoderConfig(bit_depth=8, layers=2, rows_per_unit=2,
                                            lane_limit=16, model_id="reject")),
        # minmax per channel: every channel holds sample 2^B - 1
        "channel": encode(two, EncoderConfig(bit_depth=6, quant="minmax-channel", layers=2)),
        # uniform step, 12 bits: samples far from both ends of the sample range
        "step": encode(two, EncoderConfig(bit_depth=12, quant="step", step=0.05, layers=2)),
        # uniform QP
        "qp": encode(two, EncoderConfig(bit_depth=8, quant="qp", qp=40)),
        # layer 0 carries no channel of tensor b
        "partial": encode(two, EncoderConfig(bit_depth=8, layer_channels=[
            {"a": 2, "b": 0}, {"a": 2, "b": 3}])),
    }


# --------------------------------------------------------------------------- the cases


def _container_cases(out: list[RejectCase]) -> None:
    base = _bases()["minmax"]
    s = _Stream(base)
    fh = s.indices(UnitType.FRAME_HEADER)[0]
    tm = s.indices(UnitType.TILE_MODEL)[0]
    du = s.indices(UnitType.DATA_UNIT)[0]
    eos = len(s.chunks) - 1
    hdr = SIGNATURE_BYTES + sum(len(c) for c in s.chunks[:du])  # byte offset of that unit

    add = _adder(out)

    add("empty", "empty input: no stream signature", b"", "stream_signature",
        "shorter than its 4-byte signature")
    add("short_signature", "3 bytes: shorter than the signature", base[:3], "stream_signature",
        "shorter than its 4-byte signature")
    add("bad_signature", "stream_signature 'VCM2' instead of 'VCM1'",
        b"VCM2" + base[SIGNATURE_BYTES:], "stream_signature", "fixed pattern")
    add("signature_only", "the signature and no unit: no stream parameter set",
        base[:SIGNATURE_BYTES], None, "no stream parameter set")
    add("truncated_unit_header", "stream cut 3 bytes into the header of a data unit",
        base[: hdr + 3], "unit_header", "too few for a unit header")
    add("truncated_payload", "stream cut in the middle of a data unit's payload: payload_size "
        "beyond the end", base[: hdr + UNIT_HEADER_BYTES + 5], "payload_size",
        "exceeds the")
    add("payload_size_over_2_28", "a unit header with payload_size 2^28 + 1 (clause 4.2)",
        s.replaced(du, _payload(unit_header, UnitHeader(UnitType.DATA_UNIT, 0, 2**28 + 1),
                                lax=True) + s.payload(du)),
        "payload_size", "outside its legal range")
    add("unit_after_end_of_stream", "a second end_of_stream unit after end_of_stream",
        s.join(s.chunks + [write_unit(UnitType.END_OF_STREAM, 0, b"")]), "unit_type",
        "unit after end_of_stream")
    add("reserved_unit_after_end_of_stream", "a reserved-type (7) unit after end_of_stream",
        s.join(s.chunks + [write_unit(7, 0, b"\x00\x01")]), "unit_type",
        "unit after end_of_stream")
    add("data_hash_after_end_of_stream", "end_of_stream moved before the last data hash",
        s.join(s.chunks[:eos - 1] + [s.chunks[eos], s.chunks[eos - 1]]), "unit_type",
        "unit after end_of_stream")
    add("missing_end_of_stream", "the end_of_stream unit is dropped", s.without(eos), None,
        "without an end_of_stream unit")
    add("end_of_stream_payload", "end_of_stream with a 1-byte payload",
        s.replaced(eos, write_unit(UnitType.END_OF_STREAM, 0, b"\x00")), "payload_size",
        "non-empty payload")
    add("no_stream_parameter_set", "the stream parameter set is dropped", s.without(0),
        "unit_type", "first unit must be the stream parameter set")
    add("sps_not_first", "the first frame header comes before the stream parameter set",
        s.join([s.chunks[1], s.chunks[0]] + s.chunks[2:]), "unit_type",
        "first unit must be the stream parameter set")
    add("second_sps", "the stream parameter set twice", s.inserted(1, s.chunks[0]),
        "unit_type", "a second stream parameter set")
    add("frame_unit_before_frame_header", "a tile model between the stream parameter set and "
        "the first frame header", s.inserted(fh, s.chunks[tm]), "unit_type",
        "frame unit before any frame header")
    c = bytearray(s.chunks[fh])
    c[0] |= 0x80
    add("forbidden_zero_bit", "forbidden_zero_bit set in a frame header's unit header",
        s.replaced(fh, bytes(c)), "forbidden_zero_bit", "fixed pattern")
    c = bytearray(s.chunks[tm])
    c[0] = 0
    add("unit_type_0", "a tile model's unit_type set to 0", s.replaced(tm, bytes(c)),
        "unit_type", "outside its legal range")
    c = bytearray(s.chunks[tm])
    c[1] = 2
    add("layer_id_over_num_layers", "a tile model with layer_id 2 in a 2-layer stream",
        s.replaced(tm, bytes(c)), "layer_id", "but the stream has 2 layers")
    c[1] = 32
    add("layer_id_over_31", "a tile model with layer_id 32 (range [0, 31])",
        s.replaced(tm, bytes(c)), "layer_id", "outside its legal range")
    add("payload_left_frame_header", "a frame header payload with one extra zero byte",
        s.replaced(fh, write_unit(UnitType.FRAME_HEADER, 0, s.payload(fh) + b"\x00")),
        "payload_size", "bytes of payload left after the last element")
    add("payload_left_sps", "a stream parameter set payload with two extra zero bytes",
        s.replaced(0, write_unit(UnitType.STREAM_PARAMETER_SET, 0, s.payload(0) + b"\0\0")),
        "payload_size", "bytes of payload left after the last element")
    dh = s.indices(UnitType.DATA_HASH)[0]
    add("payload_left_data_hash", "a data hash payload with one extra byte",
        s.replaced(dh, write_unit(UnitType.DATA_HASH, s.units[dh].layer_id,
                                  s.payload(dh) + b"\x00")),
        "payload_size", "bytes of payload left after the last element")
    add("payload_too_short", "a frame header payload missing its last 4 bytes (tensor_max of "
        "the last tensor)", s.replaced(fh, write_unit(UnitType.FRAME_HEADER, 0,
                                                       s.payload(fh)[:-4])),
        "tensor_max", "more bits")


def _sps_cases(out: list[RejectCase]) -> None:
    base = _bases()["minmax"]
    s = _Stream(base)
    sps = s.sps

    def with_sps(n: StreamParameterSet) -> bytes:
        return s.replaced(0, _unit(UnitType.STREAM_PARAMETER_SET, 0, stream_parameter_set, n,
                                   lax=True))

    def add(name: str, description: str, data: bytes, element: str, reason: str) -> None:
        out.append(RejectCase(name, description, data, element, reason))

    def changed(**kw) -> StreamParameterSet:
        n = copy.deepcopy(sps)
        for k, v in kw.items():
            setattr(n, k, v)
        return n

    add("profile_idc_3", "profile_idc 3 (range [1, 2]: 1 main, 2 main-inter)",
        _patch_element(base, 0, "profile_idc", 3), "profile_idc", "outside its legal range")
    add("level_idc_11", "level_idc 11 (not 10, 20, 30 or 40)",
        _patch_element(base, 0, "level_idc", 11), "level_idc", "is not one of")
    add("quant_mode_5", "quant_mode 5 (range [0, 3])",
        _patch_element(base, 0, "quant_mode", 5), "quant_mode", "outside its legal range")
    add("model_id_not_utf8", "model_id holding the bytes ff fe (not UTF-8)",
        with_sps(changed(model_id=_invalid_utf8(b"\xff\xfe"))), "model_id",
        "not valid UTF-8")
    add("model_id_overlong_utf8", "model_id holding c0 af, an overlong UTF-8 form of '/'",
        with_sps(changed(model_id=_invalid_utf8(b"\xc0\xaf"))), "model_id",
        "not valid UTF-8")

    tiny = [TensorInfo(f"t{i}", 1, 1, 1) for i in range(9)]
    n = changed(tensors=tiny, layers=[LayerInfo([1] * 9)],
                tile_layouts=[TileLayout(None, 0, [1]) for _ in tiny])
    add("num_tensors_over_level", "9 tensors at level 10 (MaxTensors 8): num_tensors_minus1 8",
        with_sps(n), "num_tensors_minus1", "outside its legal range")

    def one_tensor(c: int, h: int, w: int, cols: int = 1, level: int = 10,
                   rows_per_unit: int = 0) -> bytes:
        ti = TensorInfo("x", c, h, w)
        n = changed(tensors=[ti], layers=[LayerInfo([c])], level_idc=level,
                    tile_layouts=[TileLayout(None, rows_per_unit, [cols])])
        return with_sps(n)

    add("channels_over_level", "a tensor of 1025 channels at level 10 (MaxChannels 1024)",
        one_tensor(1025, 1, 1), "tensor_channels_minus1", "outside its legal range")
    add("height_over_level", "a tensor 1025 samples high at level 10 (MaxDimension 1024)",
        one_tensor(1, 1025, 1), "tensor_height_minus1", "outside its legal range")
    add("width_over_level", "a tensor 1025 samples wide at level 10 (MaxDimension 1024)",
        one_tensor(1, 1, 1025), "tensor_width_minus1", "outside its legal range")
    add("tensor_samples_over_level", "a 2x1024x1024 tensor at level 10 (MaxTensorSamples 2^20)",
        one_tensor(2, 1024, 1024), "tensor_width_minus1", "exceeds level 10's 1048576")
    big = [TensorInfo(f"t{i}", 1, 1024, 1024) for i in range(3)]
    n = changed(tensors=big, layers=[LayerInfo([1, 1, 1])],
                tile_layouts=[TileLayout(None, 0, [1]) for _ in big])
    add("frame_samples_over_level", "three 1x1024x1024 tensors at level 10 (MaxFrameSamples "
        "2^21)", with_sps(n), "tensor_width_minus1",
        "frame of 3145728 samples exceeds")
    add("tile_wider_than_level", "8 cells of width 1024 in one tile row at level 10 "
        "(MaxTileDimension 4096)", one_tensor(8, 1, 1024, cols=8), "tile_columns_minus1",
        "exceeds level 10's 4096 samples")
    add("tile_higher_than_level", "8 cells of height 1024 in one tile column at level 10",
        one_tensor(8, 1024, 1, cols=1), "tile_columns_minus1",
        "exceeds level 10's 4096 samples")
    add("unit_samples_over_level", "one data unit for a whole 1024x512 tile at level 10 "
        "(rows_per_unit 0; MaxUnitSamples 2^18)", one_tensor(1, 1024, 512), "rows_per_unit",
        "may carry 524288 samples, above level 10's 262144")
    add("unit_rows_over_level", "rows_per_unit 257 for a 1024-sample-wide tile at level 10 "
        "(257 x 1024 > MaxUnitSamples 2^18)", one_tensor(4, 512, 512, cols=2,
                                                          rows_per_unit=257),
        "rows_per_unit", "may carry 263168 samples, above level 10's 262144")
    add("unit_samples_over_level_20", "one data unit for a whole 1024x1024 tile at level 20 "
        "(MaxUnitSamples 2^19)", one_tensor(1, 1024, 1024, level=20), "rows_per_unit",
        "may carry 1048576 samples, above level 20's 524288")
    zeros = _Stream(encode({"x": np.zeros((1, 1, 8, 8), np.float32)}, EncoderConfig(level=40)))
    bomb = copy.deepcopy(zeros.sps)
    bomb.tensors[0].height = bomb.tensors[0].width = 8192
    add("unit_samples_bomb", "a whole stream of one all-zero 1x8192x8192 tensor in a single "
        "data unit at level 40 (MaxUnitSamples 2^21): a few hundred bytes that would make a "
        "decoder without the limit schedule 67 million samples at once",
        zeros.replaced(0, _unit(UnitType.STREAM_PARAMETER_SET, 0, stream_parameter_set, bomb,
                                lax=True)),
        "rows_per_unit", "may carry 67108864 samples, above level 40's 2097152")
    add("tile_columns_over_channels", "tile_columns_minus1 4 for a layer carrying 2 channels",
        with_sps(changed(tile_layouts=[
            TileLayout(None, 2, [5, 2]), copy.deepcopy(sps.tile_layouts[1])])),
        "tile_columns_minus1", "outside its legal range")
    add("num_layers_over_level", "5 layers at level 10 (MaxLayers 4)",
        with_sps(changed(
            layers=[LayerInfo([1, 1], list(range(k))) for k in range(3)]
            + [LayerInfo([1, 0], [0, 1, 2]), LayerInfo([0, 0], [0])],
            tile_layouts=[TileLayout(None, 0, [1] * 5) for _ in range(2)])),
        "num_layers_minus1", "outside its legal range")
    add("layer_channels_over_c", "a layer carrying 5 channels of a 4-channel tensor",
        with_sps(changed(layers=[LayerInfo([5, 1]), LayerInfo([2, 2], [0])])),
        "layer_channels", "outside its legal range")
    add("layer_channels_sum", "layers carrying 2 + 1 channels of a 4-channel tensor",
        with_sps(changed(layers=[LayerInfo([2, 1]), LayerInfo([1, 2], [0])])),
        "layer_channels", "layers carry 3 channels of tensor 0, which has 4")
    add("empty_layer", "a third layer that carries no channel of any tensor",
        with_sps(changed(layers=[
            LayerInfo([2, 1]), LayerInfo([2, 2], [0]), LayerInfo([0, 0], [0, 1])])),
        "layer_channels", "carries no channel")
    three = [LayerInfo([2, 1]), LayerInfo([1, 1], [0]), LayerInfo([1, 1], [1, 0])]
    add("ref_layer_idx_not_increasing", "layer 2 lists reference layers 1 then 0",
        with_sps(changed(layers=three, tile_layouts=[
            TileLayout(None, 2, [2, 1, 1]), TileLayout(None, 0, [1, 1, 1])])),
        "ref_layer_idx", "outside its legal range")
    three = [LayerInfo([2, 1]), LayerInfo([1, 1], [0]), LayerInfo([1, 1], [0, 0])]
    add("ref_layer_idx_repeated", "layer 2 lists reference layer 0 twice",
        with_sps(changed(layers=three, tile_layouts=[
            TileLayout(None, 2, [2, 1, 1]), TileLayout(None, 0, [1, 1, 1])])),
        "ref_layer_idx", "outside its legal range")
    add("num_ref_layers_over_l", "layer 1 with num_ref_layers 2",
        with_sps(changed(layers=[LayerInfo([2, 1]), LayerInfo([2, 2], [0, 1])])),
        "num_ref_layers", "outside its legal range")
    n = copy.deepcopy(sps)
    n.tensors[1].name = n.tensors[0].name
    add("duplicate_tensor_name", "two tensors named 'a'", with_sps(n),
        "tensor_name", "used twice")
    n = copy.deepcopy(sps)
    n.tile_layouts[0].channel_order = [0, 1, 1, 3]
    add("channel_order_repeated", "channel_order 0, 1, 1, 3 (not a permutation)",
        with_sps(n), "channel_order", "listed twice")
    n = copy.deepcopy(sps)
    n.tile_layouts[1].channel_order = [0, 3, 1]  # C = 3: 2 bits, range [0, 2]
    add("channel_order_over_c", "channel_order value 3 for a 3-channel tensor",
        with_sps(n), "channel_order", "outside its legal range")
    add("rows_per_unit_over_level", "rows_per_unit 4097 at level 10 (MaxTileDimension 4096)",
        with_sps(changed(tile_layouts=[
            TileLayout(None, 4097, [2, 2]), copy.deepcopy(sps.tile_layouts[1])])),
        "rows_per_unit", "outside its legal range")
    add("tile_padding_value_over_max", "tile_padding_value 256 with 8-bit minmax samples "
        "([0, 255])", with_sps(changed(tile_padding_value=256)),
        "tile_padding_value", "outside its legal range")
    add("tile_padding_value_negative", "tile_padding_value -1 with minmax samples",
        with_sps(changed(tile_padding_value=-1)),
        "tile_padding_value", "outside its legal range")
    add("entropy_coder_idc_2", "entropy_coder_idc 2 (range [0, 1])",
        _patch_element(base, 0, "entropy_coder_idc", 2), "entropy_coder_idc",
        "outside its legal range")
    add("direct_token_log2_7", "direct_token_log2 7 (range [2, 6])",
        _patch_element(base, 0, "direct_token_log2", 7), "direct_token_log2",
        "outside its legal range")
    add("max_magnitude_class_over_top", "max_magnitude_class 4 with direct_token_log2 2 "
        "(TopClass(2) = 3)", with_sps(changed(
            direct_token_log2=2, max_magnitude_class=4)), "max_magnitude_class",
        "outside its legal range")
    add("max_magnitude_class_over_top_e6", "max_magnitude_class 10 with direct_token_log2 6 "
        "(TopClass(6) = 9)", with_sps(changed(
            direct_token_log2=6, max_magnitude_class=10)), "max_magnitude_class",
        "outside its legal range")
    add("wavefront_block_size_over_level", "wavefront_block_size 1025 at level 10",
        with_sps(changed(wavefront_block_size=1025)),
        "wavefront_block_size", "outside its legal range")
    add("lane_limit_over_level", "lane_limit 2^20 + 1 at level 10",
        with_sps(changed(lane_limit=2**20 + 1)),
        "lane_limit", "outside its legal range")
    p = s.payload(0)
    al = _last_element(base, 0, "alignment_zero_bit")
    assert al.bit_offset // 8 == s.units[0].byte_offset + UNIT_HEADER_BYTES + len(p) - 1
    add("sps_alignment_bit_1", "the last alignment_zero_bit of the stream parameter set set "
        "to 1", _patch_bits(base, al.bit_offset, 1, 1), "alignment_zero_bit", "fixed pattern")


def _minmax_overflow_pair(bit_depth: int) -> tuple[float, float]:
    """(min, max) with a finite scale for which fl(min + fl((2^B - 1) * scale)) overflows."""
    hi = np.float32(np.finfo(np.float32).max)
    levels = np.float32((1 << bit_depth) - 1)
    lo = np.float32({6: 1.5616570e38, 8: 6.3847717e37}[bit_depth])
    with np.errstate(over="ignore"):
        scale = np.float32(np.float32(hi - lo) / levels)
        top = np.float32(lo + np.float32(levels * scale))
    assert np.isfinite(scale) and not np.isfinite(top)
    return float(lo), float(hi)


def _frame_cases(out: list[RejectCase]) -> None:
    add = _adder(out)

    base = _bases()["minmax"]
    s = _Stream(base)
    sps = s.sps
    fhs = s.indices(UnitType.FRAME_HEADER)
    fh0, fh1 = fhs
    eos = len(s.chunks) - 1
    lo = struct.unpack(">f", struct.pack(">I", s.frame_header(fh0).quant[0].min_bits[0]))[0]

    # frame header
    h = s.frame_header(fh1)
    h.frame_index = 0
    add("frame_index_repeated", "the second frame's frame_index equal to the first's (0)",
        s.replaced(fh1, _unit(UnitType.FRAME_HEADER, 0, frame_header, h, sps)), "frame_index",
        "does not follow")
    add("frame_index_decreasing", "frames 1 and 0 in that order: frame_index 0 after 1",
        s.join([s.chunks[0]] + s.chunks[fh1:eos] + s.chunks[fh0:fh1] + [s.chunks[eos]]),
        "frame_index", "does not follow")
    add("frame_index_32_zeros", "a frame header whose frame_index starts with 32 zero bits",
        s.replaced(fh0, write_unit(UnitType.FRAME_HEADER, 0, bytes(4) + s.payload(fh0))),
        "frame_index", "more than 31 leading zeros")
    add("tensor_min_nan", "tensor_min a quiet NaN",
        _patch_element(base, fh0, "tensor_min[0]", 0x7FC00000), "tensor_min",
        "finite binary32")
    add("tensor_min_infinite", "tensor_min -infinity",
        _patch_element(base, fh0, "tensor_min[1]", 0xFF800000), "tensor_min",
        "finite binary32")
    add("tensor_max_nan", "tensor_max a NaN with payload",
        _patch_element(base, fh0, "tensor_max[0]", 0x7F800001), "tensor_max",
        "finite binary32")
    add("min_above_max", "tensor_max below tensor_min",
        _patch_element(base, fh0, "tensor_max[0]", _f32(lo - 1.0)), "tensor_max",
        "is below min")
    cs = _Stream(_bases()["channel"])
    add("channel_min_above_max", "channel_max of one channel below its channel_min",
        _patch_element(cs.data, 1, "channel_max[0][2]", _f32(-100.0)), "channel_max",
        "is below min")
    add("channel_max_infinite", "channel_max +infinity",
        _patch_element(cs.data, 1, "channel_max[1][0]", 0x7F800000), "channel_max",
        "finite binary32")

    ss = _Stream(_bases()["step"])
    sfh = ss.indices(UnitType.FRAME_HEADER)[0]
    for name, bits, what in (("zero", 0x00000000, "+0.0"), ("negative_zero", 0x80000000, "-0.0"),
                             ("negative", 0xBF800000, "-1.0"),
                             ("infinite", 0x7F800000, "+infinity"),
                             ("nan", 0x7FC00000, "a NaN")):
        add(f"quant_step_{name}", f"quant_step {what}",
            _patch_element(ss.data, sfh, "quant_step[0]", bits), "quant_step",
            "step must be a finite positive binary32")
    add("dequantized_overflow", "quant_step 3e38: samples of magnitude 2 and more overflow "
        "binary32 when dequantized", _patch_element(ss.data, sfh, "quant_step[0]", _f32(3e38)),
        "quant_step", "a dequantized value overflows binary32")

    lo_top, hi_top = _minmax_overflow_pair(sps.sample_bit_depth)
    d = _patch_element(base, fh0, "tensor_max[0]", _f32(hi_top))
    add("minmax_dequantized_overflow", f"tensor_min {lo_top!r}, tensor_max the largest "
        "binary32: max - min is finite but the sample 2^B - 1 dequantizes to infinity",
        _patch_element(d, fh0, "tensor_min[0]", _f32(lo_top)), "tensor_max",
        "a dequantized value overflows binary32")

    qs = _Stream(_bases()["qp"])
    qfh = qs.indices(UnitType.FRAME_HEADER)[0]
    assert qs.sps.init_qp == 40 and [q.qp for q in qs.frame_header(qfh).quant] == [40, 40]
    for name, t, qp in (("qp_delta_over_63", 0, 64), ("qp_delta_below_0", 1, -1)):
        h = qs.frame_header(qfh)
        h.quant[t].qp = qp
        add(name, f"qp_delta {qp - 40} with init_qp 40: QP {qp}",
            qs.replaced(qfh, _unit(UnitType.FRAME_HEADER, 0, frame_header, h, qs.sps, lax=True)),
            "qp_delta", "outside its legal range")


def _tile_cases(out: list[RejectCase]) -> None:
    add = _adder(out)

    base = _bases()["minmax"]
    s = _Stream(base)
    sps = s.sps
    fh1 = s.indices(UnitType.FRAME_HEADER)[1]
    eos = len(s.chunks) - 1
    tm = s.indices(UnitType.TILE_MODEL)[0]  # frame 0, layer 0, tensor 0
    dus = [i for i in s.indices(UnitType.DATA_UNIT, 0) if s.frame_of(i) == 0
           and s.data_unit_key(i)[1] == 0]  # frame 0, layer 0, tensor 0: 3 data units
    assert [s.data_unit_key(i)[2] for i in dus] == [0, 1, 2]
    du = dus[1]

    # tile model
    m = s.tile_model(tm)
    m.frame_index = 7
    add("tile_model_frame_index", "a tile model of frame 0 with frame_index 7",
        s.replaced(tm, _unit(UnitType.TILE_MODEL, 0, tile_model, m, sps)), "frame_index",
        "inside frame 0")
    m = s.tile_model(tm)
    ctx = next(c for c, w in enumerate(m.weights) if w is not None)
    e = _element(base, tm, f"token_weight[{ctx}]")
    add("token_weights_all_zero", "a present context whose token weights are all 0",
        _patch_bits(base, e.bit_offset, e.bit_length, 0), "token_weight",
        "at least one non-zero weight")

    def tile_model_with(**change) -> bytes:
        m = s.tile_model(tm)
        for k, val in change.items():
            setattr(m, k, val)
        return _unit(UnitType.TILE_MODEL, 0, tile_model, m, sps, lax=True)

    add("tile_model_tensor_idx_over", "a tile model with tensor_idx 2 in a 2-tensor stream",
        s.replaced(tm, tile_model_with(tensor_idx=2)), "tensor_idx", "outside its legal range")
    span = 1 << sps.sample_bit_depth
    add("sample_offset_over", "a tile model with sample_offset 2^B + 1",
        s.replaced(tm, tile_model_with(sample_offset=span + 1)), "sample_offset",
        "outside its legal range")
    add("sample_offset_under", "a tile model with sample_offset -2^B - 1",
        s.replaced(tm, tile_model_with(sample_offset=-span - 1)), "sample_offset",
        "outside its legal range")
    m = s.tile_model(tm)
    m.weights[0] = None  # context 0: both neighbours unavailable, used by every block's corner
    add("context_absent", "a tile model without context 0, which the tile's samples use",
        s.replaced(tm, _unit(UnitType.TILE_MODEL, 0, tile_model, m, sps)), "ans_data",
        "context is absent from the tile model")
    add("missing_tile_model", "a tile's model dropped", s.without(tm), "tensor_idx",
        "no tile model")
    add("duplicate_tile_model", "a tile model twice", s.inserted(tm, s.chunks[tm]),
        "unit_type", "a second tile_model")

    ps = _Stream(_bases()["partial"])
    ptm = [i for i in ps.indices(UnitType.TILE_MODEL, 1) if ps.frame_of(i) == 0
           and ps.tile_model(i).tensor_idx == 1][0]
    c = bytearray(ps.chunks[ptm])
    c[1] = 0
    first_l1 = ps.indices(UnitType.TILE_MODEL, 1)[0]
    add("tile_model_for_uncarried_tensor", "a layer-0 tile model for tensor 1, of which layer 0 "
        "carries no channel", ps.inserted(first_l1, bytes(c)), "tensor_idx",
        "which layer 0 does not carry")
    pdu = [i for i in ps.indices(UnitType.DATA_UNIT, 1) if ps.frame_of(i) == 0
           and ps.data_unit_key(i)[1] == 1][0]
    c = bytearray(ps.chunks[pdu])
    c[1] = 0
    add("data_unit_for_uncarried_tensor", "a layer-0 data unit for tensor 1, of which layer 0 "
        "carries no channel", ps.inserted(first_l1, bytes(c)), "tensor_idx",
        "which layer 0 does not carry")

    # data units
    c = bytearray(s.chunks[du])
    c[-1] ^= 0x01
    add("data_crc_mismatch", "a data unit whose data_crc32 has its last bit flipped",
        s.replaced(du, bytes(c)), "data_crc32", "does not match")
    c = bytearray(s.chunks[du])
    c[-6] ^= 0x10
    add("ans_data_damaged_crc_mismatch", "a data unit with a bit of ans_data flipped and the "
        "CRC left as it was", s.replaced(du, bytes(c)), "data_crc32", "does not match")
    d = s.data_unit(du)
    lanes_bound = 2 * sps.lane_limit + 8  # spare bytes a decoder may read past the data
    d.ans_data = d.ans_data + bytes(len(d.ans_data) + lanes_bound) + b"\x01"
    add("ans_data_nonzero_tail", "ans_data extended by zero bytes and a final 1 bit beyond "
        "anything the decoder reads, CRC correct: the end check fails",
        s.replaced(du, _unit(UnitType.DATA_UNIT, 0, data_unit, d, sps)), "ans_data",
        "does not end in its final state")

    def data_unit_with(extra_ans_bytes: int = 0, lax: bool = True, **change) -> bytes:
        """Data unit du with `change`, and with ans_bytes `extra_ans_bytes` more than the bytes
        of ans_data its payload holds (written with as many more, then cut)."""
        d = s.data_unit(du)
        for k, val in change.items():
            setattr(d, k, val)
        d.ans_data += bytes(extra_ans_bytes)
        payload = _payload(data_unit, d, sps, lax=lax)
        return write_unit(UnitType.DATA_UNIT, 0, _cut_ans_data(payload, extra_ans_bytes))

    d = s.data_unit(du)
    add("ans_bytes_beyond_payload", "ans_bytes 8 more than the bytes the payload holds",
        s.replaced(du, data_unit_with(8, lax=False)), "ans_data", "more bytes")
    add("ans_bytes_over_level", "ans_bytes 2^22 + 1 at level 10 (MaxUnitPayloadBytes 2^22)",
        s.replaced(du, data_unit_with(2**22 + 1 - len(d.ans_data))), "ans_bytes",
        "outside its legal range")
    add("data_unit_tensor_idx_over", "a data unit with tensor_idx 2 in a 2-tensor stream",
        s.replaced(du, data_unit_with(tensor_idx=2)), "tensor_idx", "outside its legal range")
    add("unit_idx_over_level", "unit_idx 4096 at level 10 (range [0, 4095])",
        s.replaced(du, data_unit_with(unit_idx=4096)), "unit_idx", "outside its legal range")
    d = s.data_unit(du)
    d.frame_index = 1
    add("data_unit_frame_index", "a data unit of frame 0 with frame_index 1",
        s.replaced(du, _unit(UnitType.DATA_UNIT, 0, data_unit, d, sps)), "frame_index",
        "inside frame 0")
    add("missing_data_unit", "data unit 1 of a 3-unit tile dropped", s.without(du),
        "unit_idx", "data unit 1 is missing")
    add("duplicate_data_unit", "a data unit twice", s.inserted(du, s.chunks[du]),
        "unit_type", "a second data_unit")
    d = s.data_unit(dus[2])
    d.unit_idx = 3
    add("unit_idx_beyond_tile", "the last data unit of a 3-unit tile with unit_idx 3",
        s.replaced(dus[2], _unit(UnitType.DATA_UNIT, 0, data_unit, d, sps)), "unit_idx",
        "but the tile has 3 units")

    cs = _Stream(_bases()["channel"])
    ctm = cs.indices(UnitType.TILE_MODEL)[0]
    m = cs.tile_model(ctm)
    m.sample_offset += 1
    add("decoded_sample_over_max", "sample_offset one higher than coded: the sample 2^B - 1 "
        "that every minmax channel holds decodes as 2^B",
        cs.replaced(ctm, _unit(UnitType.TILE_MODEL, 0, tile_model, m, cs.sps)), "ans_data",
        "decoded sample outside [0, 63]")

    # hashes and layers
    dh = s.indices(UnitType.DATA_HASH)[0]
    c = bytearray(s.chunks[dh])
    c[-1] ^= 0xFF
    add("hash_mismatch", "decoded_md5 of layer 0 with its last byte inverted",
        s.replaced(dh, bytes(c)), "decoded_md5", "the stream says")
    ss = _Stream(_bases()["step"])
    stm = ss.indices(UnitType.TILE_MODEL)[0]
    m = ss.tile_model(stm)
    m.sample_offset += 1
    add("hash_mismatch_samples", "sample_offset one higher than coded: every sample of the "
        "tile is off by one, in range, and the layer's hash does not match",
        ss.replaced(stm, _unit(UnitType.TILE_MODEL, 0, tile_model, m, ss.sps)),
        "decoded_md5", "the stream says")
    e = _element(base, dh, "hash_type")
    add("hash_type_1", "hash_type 1 (only 0, MD5, is defined)",
        _patch_bits(base, e.bit_offset, 8, 1), "hash_type", "outside its legal range")
    drop = [i for i in range(fh1 + 1, eos) if s.units[i].layer_id == 0]
    add("broken_layer_dependency", "frame 1 without the units of layer 0, on which its layer 1 "
        "depends", s.without(*drop), "ref_layer_idx", "the layer it depends on, 0, is not")


def _overflow_cases(out: list[RejectCase]) -> None:
    """max - min overflows, dequantized values that overflow, an over-long string."""
    s = _Stream(_bases()["minmax"])
    d = _patch_element(s.data, 1, "tensor_min[0]", _f32(-3e38))
    out.append(RejectCase(
        "minmax_scale_overflow", "tensor_min -3e38, tensor_max 3e38: max - min overflows "
        "binary32",
        _patch_element(d, 1, "tensor_max[0]", _f32(3e38)), "tensor_max", "overflows binary32"))
    cs = _Stream(_bases()["channel"])
    d = _patch_element(cs.data, 1, "channel_min[0][0]", _f32(-3e38))
    out.append(RejectCase(
        "channel_scale_overflow", "channel_min -3e38, channel_max 3e38: max - min overflows "
        "binary32",
        _patch_element(d, 1, "channel_max[0][0]", _f32(3e38)), "channel_max",
        "overflows binary32"))
    lo_top, hi_top = _minmax_overflow_pair(cs.sps.sample_bit_depth)
    d = _patch_element(cs.data, 1, "channel_max[0][0]", _f32(hi_top))
    out.append(RejectCase(
        "channel_dequantized_overflow", f"channel_min {lo_top!r}, channel_max the largest "
        "binary32: the sample 2^B - 1 dequantizes to infinity",
        _patch_element(d, 1, "channel_min[0][0]", _f32(lo_top)), "channel_max",
        "a dequantized value overflows binary32"))
    out.append(RejectCase(
        "model_id_length_256", "model_id of 256 bytes (st(v) allows 0 to 255)",
        s.replaced(0, _unit(UnitType.STREAM_PARAMETER_SET, 0, stream_parameter_set,
                            replace(s.sps, model_id="x" * 256), lax=True)),
        "model_id", "outside its legal range"))


def _inner_bases(valid: dict[str, bytes] | None) -> dict[str, bytes]:
    """The suite's inner-codec streams the inner cases start from: from `valid` (name ->
    bytes, as generated) when given, else the committed streams."""
    from vcmref.conformance.cases import CASES, case_stream

    names = {"vvc": "inner_vvc_frames", "hevc": "inner_hevc_lossless_layers"}
    by_name = {c.name: c for c in CASES}
    return {key: valid[name] if valid is not None and name in valid
            else case_stream(by_name[name]) for key, name in names.items()}


def _inner_cases(out: list[RejectCase], valid: dict[str, bytes] | None) -> None:
    """Inner codec streams (entropy_coder_idc 1): clauses 4.3, 4.6a, 5.2 rule 8, 5.14."""
    add = _adder(out)
    bases = _inner_bases(valid)
    # VVC: one layer, two frames, one inner_codec_data unit (frame 0) with both pictures
    v = _Stream(bases["vvc"])
    vsps = v.sps
    vfh = v.indices(UnitType.FRAME_HEADER)
    (vic,) = v.indices(UnitType.INNER_CODEC_DATA)
    assert v.inner_codec_data(vic).num_pictures == 2 and vfh[0] < vic < vfh[1]
    # HEVC: two layers, two frames, one inner_codec_data unit per layer and frame
    h = _Stream(bases["hevc"])
    hsps = h.sps
    hic = h.indices(UnitType.INNER_CODEC_DATA)
    assert len(hic) == 4 and len(hsps.layers) == 2
    r = _Stream(_bases()["minmax"])
    rfh = r.indices(UnitType.FRAME_HEADER)[0]

    def inner_unit(stream: _Stream, index: int, **change) -> bytes:
        ic = stream.inner_codec_data(index)
        for k, val in change.items():
            setattr(ic, k, val)
        return _unit(UnitType.INNER_CODEC_DATA, stream.units[index].layer_id, inner_codec_data,
                     ic, stream.sps)

    # unit types and entropy coders (clause 4.6a, 5.2 rule 8)
    add("inner_codec_data_in_rans_stream", "an inner_codec_data unit in a stream with "
        "entropy_coder_idc 0", r.inserted(rfh + 1, h.chunks[hic[0]]), "unit_type",
        "whose entropy_coder_idc is 0")
    add("tile_model_in_inner_stream", "a tile model in a stream with entropy_coder_idc 1",
        v.inserted(vic, r.chunks[r.indices(UnitType.TILE_MODEL)[0]]), "unit_type",
        "whose entropy_coder_idc is 1")
    add("data_unit_in_inner_stream", "a data unit in a stream with entropy_coder_idc 1",
        v.inserted(vic + 1, r.chunks[r.indices(UnitType.DATA_UNIT)[0]]), "unit_type",
        "whose entropy_coder_idc is 1")
    # stream parameter set (clause 4.3)
    for idc in (0, 3):
        add(f"inner_codec_idc_{idc}", f"inner_codec_idc {idc} (range [1, 2])",
            _patch_element(v.data, 0, "inner_codec_idc", idc), "inner_codec_idc",
            "outside its legal range")
    tall = copy.deepcopy(vsps)
    tall.tensors = [TensorInfo(f"t{i}", 1, 1024, 1) for i in range(5)]
    tall.layers = [LayerInfo([1] * 5)]
    tall.tile_layouts = [TileLayout(None, 0, [1]) for _ in range(5)]
    add("picture_higher_than_level", "five 1x1024x1 tensors stacked in a picture 5120 samples "
        "high at level 10 (MaxTileDimension 4096)",
        v.replaced(0, _unit(UnitType.STREAM_PARAMETER_SET, 0, stream_parameter_set, tall,
                            lax=True)),
        "picture_bit_depth_minus1", "exceeds level 10's 4096")
    # inner_codec_data syntax (clause 4.6a)
    ic = v.inner_codec_data(vic)
    ic.inner_data = b""
    add("inner_bytes_0", "inner_codec_data with inner_bytes 0 (range [1, "
        "MaxUnitPayloadBytes])", v.replaced(vic, _unit(UnitType.INNER_CODEC_DATA, 0,
                                                       inner_codec_data, ic, vsps, lax=True)),
        "inner_bytes", "outside its legal range")
    c = bytearray(v.chunks[vic])
    c[-1] ^= 0x01
    add("inner_data_crc_mismatch", "an inner_codec_data unit whose data_crc32 has its last bit "
        "flipped", v.replaced(vic, bytes(c)), "data_crc32", "does not match")
    add("payload_left_inner_codec_data", "an inner_codec_data payload with one extra byte after "
        "data_crc32", v.replaced(vic, write_unit(UnitType.INNER_CODEC_DATA, 0,
                                                 v.payload(vic) + b"\x00")),
        "payload_size", "bytes of payload left after the last element")
    add("inner_codec_data_frame_index", "the inner_codec_data unit of frame 0 with frame_index 1",
        h.replaced(hic[0], inner_unit(h, hic[0], frame_index=1)), "frame_index",
        "inside frame 0")
    add("duplicate_inner_codec_data", "an inner_codec_data unit twice in a frame",
        h.inserted(hic[0], h.chunks[hic[0]]), "unit_type", "a second inner_codec_data")
    # pictures and frames (clause 5.14)
    add("pictures_left_at_end", "num_pictures_minus1 1 but the stream ends after the first "
        "frame: a picture no frame takes", v.without(*range(vfh[1], len(v.chunks) - 1)),
        "num_pictures_minus1", "more pictures")
    add("num_pictures_over_decoded", "num_pictures_minus1 2 for an inner_data that decodes to "
        "2 pictures", v.replaced(vic, inner_unit(v, vic, num_pictures=3)), "inner_data",
        "expected 3")
    hframe1 = [i for i in hic if h.frame_of(i) == 1 and h.units[i].layer_id == 1]
    add("frame_without_picture", "frame 1 without the inner_codec_data unit of layer 1, whose "
        "data_hash is kept: no picture for a present layer", h.without(*hframe1), "unit_type",
        "no inner_codec_data carries its picture")
    add("inner_codec_data_while_pictures_left", "a second inner_codec_data unit (frame_index 1) "
        "in frame 1 while the picture of frame 1 from frame 0's unit is still left",
        v.inserted(vfh[1] + 1, inner_unit(v, vic, frame_index=1)), "frame_index",
        "pictures of the layer's previous one are unused")
    # the inner byte stream and what it decodes to (clauses 4.6a, 5.11)
    add("inner_data_garbage", "inner_data replaced by bytes that hold no NAL unit (no start "
        "code), CRC recomputed: the inner decoder finds no picture",
        v.replaced(vic, inner_unit(v, vic, inner_data=bytes(range(1, 201)))), "inner_data",
        "decoder rejects inner_data")
    f0l0, f1l0 = (i for i in hic if h.units[i].layer_id == 0)
    add("inner_data_of_another_frame", "frame 0's layer-0 unit carries the (valid) byte stream "
        "of frame 1, CRC recomputed: the decoded samples differ from the data hash",
        h.replaced(f0l0, inner_unit(h, f0l0, inner_data=h.inner_codec_data(f1l0).inner_data)),
        "decoded_md5", "the stream says")
    add("picture_bit_depth_mismatch", "picture_bit_depth_minus1 11 (P = 12) for an inner "
        "stream of 10-bit pictures", _patch_element(v.data, 0, "picture_bit_depth_minus1", 11),
        "inner_data", "decode at 10 bits")
    add("inner_codec_idc_mismatch", "inner_codec_idc 1 (VVC) for an HEVC byte stream",
        _patch_element(h.data, 0, "inner_codec_idc", 1), "inner_data",
        "decoder rejects inner_data")
    big = copy.deepcopy(vsps)
    big.tensors[0].height = 12  # tile of tensor 0: 2 x 2 cells of 12 x 4: picture 10 x 30
    add("picture_larger_than_decoded", "tensor 0 12 samples high instead of 4: the layer's "
        "picture (10x30) is larger than the decoded 16x16 pictures",
        v.replaced(0, _unit(UnitType.STREAM_PARAMETER_SET, 0, stream_parameter_set, big)),
        "inner_data", "smaller than")


def _restoration_cases(out: list[RejectCase]) -> None:
    """The restoration_model unit (type 9): its syntax and ranges (clauses 3, 4.9) and where it
    may be (clause 5.2, rule 9), in the two-layer minmax stream."""
    from vcmref.conformance.cases import UNSHIPPED_MODEL_SHA256, restoration_unit

    add = _adder(out)
    s = _Stream(_bases()["minmax"])
    sps = s.sps
    assert len(sps.layers) == 2
    fh = s.indices(UnitType.FRAME_HEADER)
    unit = restoration_unit(sps)
    payload = unit[UNIT_HEADER_BYTES:]
    assert len(payload) == 33
    add("second_restoration_model", "two restoration_model units after the stream parameter set",
        s.inserted(1, unit, unit), "unit_type", "a second restoration_model")
    add("restoration_model_after_frame_header", "a restoration_model unit right after the first "
        "frame header", s.inserted(fh[0] + 1, unit), "unit_type",
        "restoration_model after the first frame header")
    add("restoration_model_in_second_frame", "the only restoration_model unit between the units "
        "of the first frame and the second frame header", s.inserted(fh[1], unit), "unit_type",
        "restoration_model after the first frame header")
    add("restoration_model_before_sps", "a restoration_model unit before the stream parameter "
        "set", s.inserted(0, unit), "unit_type", "first unit must be the stream parameter set")
    add("restoration_model_layer_id_1", "a restoration_model unit with layer_id 1 in a 2-layer "
        "stream (it must be 0)", s.inserted(1, write_unit(UnitType.RESTORATION_MODEL, 1, payload)),
        "layer_id", "restoration_model with layer_id 1, expected 0")
    for value in (0, 2):
        ref = RestorationModelRef(restoration_type=value, model_sha256=UNSHIPPED_MODEL_SHA256)
        add(f"restoration_type_{value}", f"restoration_type {value} (only 1 is defined)",
            s.inserted(1, restoration_unit(sps, ref=ref, lax=True)), "restoration_type",
            "outside its legal range")
    add("restoration_model_payload_too_short", "a restoration_model payload of 32 bytes: "
        "model_sha256 one byte short",
        s.inserted(1, write_unit(UnitType.RESTORATION_MODEL, 0, payload[:-1])), "model_sha256",
        "more bytes")
    add("payload_left_restoration_model", "a restoration_model payload of 34 bytes: one byte "
        "after model_sha256",
        s.inserted(1, write_unit(UnitType.RESTORATION_MODEL, 0, payload + b"\x00")),
        "payload_size", "bytes of payload left after the last element")


@lru_cache(maxsize=1)
def _prediction_bases() -> dict[str, bytes]:
    """Profile 2 streams with temporal prediction (the encoder's intra_period)."""
    rng = np.random.default_rng(SEED + 10)
    two = {"a": _silu(rng, (3, 4, 6, 8)), "b": _silu(rng, (3, 3, 5, 5))}
    six = {f"t{k}": _silu(rng, (2, 1, 2, 3)) for k in range(6)}
    return {
        # uniform step, 8 bits, 2 layers, hashes, 3 frames: 0 and 2 coded on their own, 1
        # predicted
        "inter": encode(two, EncoderConfig(bit_depth=8, quant="step", step=0.05, layers=2,
                                           intra_period=2)),
        # six tensors, 2 frames: the temporal_prediction payload of frame 1 is 2 bytes
        # (frame_index 3 bits, six flags)
        "six": encode(six, EncoderConfig(bit_depth=6, quant="step", step=0.1, intra_period=0)),
    }


def _prediction_cases(out: list[RejectCase], valid: dict[str, bytes] | None) -> None:
    """The temporal_prediction unit (type 10): its syntax (clauses 3, 4.10), where it may be
    (clause 5.2, rules 8 and 10: profile 2, layer 0, one per frame, not in the first frame,
    only with entropy_coder_idc 0) and what it does (clause 5.9.1: a wrong flag, caught by the
    data hash)."""
    from vcmref.conformance.cases import prediction_unit

    add = _adder(out)
    s = _Stream(_prediction_bases()["inter"])
    sps = s.sps
    assert sps.profile_idc == 2 and len(sps.layers) == 2
    fh = s.indices(UnitType.FRAME_HEADER)
    (tp,) = s.indices(UnitType.TEMPORAL_PREDICTION)
    assert fh[1] < tp < fh[2] and s.units[tp].layer_id == 0
    payload = s.payload(tp)
    assert len(payload) == 1  # frame_index 1 (3 bits), 2 flags, 3 alignment bits

    # where it may be (clause 5.2, rules 8 and 10)
    m = _Stream(_bases()["minmax"])
    mfh = m.indices(UnitType.FRAME_HEADER)
    assert m.sps.profile_idc == 1 and len(mfh) == 2
    add("temporal_prediction_in_profile_1", "a temporal_prediction unit in the second frame of a "
        "profile 1 (main) stream", m.inserted(mfh[1] + 1, prediction_unit(m.sps, 1, [True] * 2)),
        "unit_type", "temporal_prediction in a stream of profile_idc 1")
    add("temporal_prediction_in_first_frame", "a temporal_prediction unit in the stream's first "
        "frame: no previous frame to predict from",
        s.inserted(fh[0] + 1, prediction_unit(sps, 0, [True, True])), "unit_type",
        "temporal_prediction in the stream's first frame")
    add("temporal_prediction_before_frame_header", "a temporal_prediction unit (frame_index 0) "
        "between the stream parameter set and the first frame header",
        s.inserted(fh[0], prediction_unit(sps, 0, [True, True])), "unit_type",
        "frame unit before any frame header")
    add("temporal_prediction_layer_id_1", "the temporal_prediction unit of frame 1 with layer_id "
        "1 in a 2-layer stream (it must be 0)",
        s.replaced(tp, write_unit(UnitType.TEMPORAL_PREDICTION, 1, payload)), "layer_id",
        "temporal_prediction with layer_id 1, expected 0")
    add("second_temporal_prediction", "the temporal_prediction unit of frame 1 twice",
        s.inserted(tp, s.chunks[tp]), "unit_type", "a second temporal_prediction")
    add("temporal_prediction_frame_index", "the temporal_prediction unit of frame 1 with "
        "frame_index 2", s.replaced(tp, prediction_unit(sps, 2, [True, True])), "frame_index",
        "inside frame 1")
    # syntax (clauses 3, 4.10, 2.2)
    add("payload_left_temporal_prediction", "a temporal_prediction payload with one extra zero "
        "byte", s.replaced(tp, write_unit(UnitType.TEMPORAL_PREDICTION, 0, payload + b"\x00")),
        "payload_size", "bytes of payload left after the last element")
    x = _Stream(_prediction_bases()["six"])
    (xtp,) = x.indices(UnitType.TEMPORAL_PREDICTION)
    assert len(x.payload(xtp)) == 2
    add("temporal_prediction_payload_too_short", "the 2-byte temporal_prediction payload of a "
        "6-tensor stream cut to its first byte: predicted_flag[5] is missing",
        x.replaced(xtp, write_unit(UnitType.TEMPORAL_PREDICTION, 0, x.payload(xtp)[:1])),
        "predicted_flag", "more bits")
    al = _last_element(s.data, tp, "alignment_zero_bit")
    add("temporal_prediction_alignment_bit_1", "the last alignment_zero_bit of a "
        "temporal_prediction unit set to 1", _patch_bits(s.data, al.bit_offset, 1, 1),
        "alignment_zero_bit", "fixed pattern")
    # entropy_coder_idc 1 (rule 8): the VVC inner stream, made profile 2
    v = _Stream(_patch_element(_inner_bases(valid)["vvc"], 0, "profile_idc", 2))
    vfh = v.indices(UnitType.FRAME_HEADER)
    add("temporal_prediction_in_inner_stream", "a temporal_prediction unit in the second frame "
        "of a profile 2 stream with entropy_coder_idc 1",
        v.inserted(vfh[1] + 1, prediction_unit(v.sps, 1, [True] * len(v.sps.tensors))),
        "unit_type", "whose entropy_coder_idc is 1")
    # what it does (clause 5.9.1): the data hash catches a wrong flag
    add("predicted_flag_cleared", "predicted_flag[0] of frame 1 cleared: tensor a's residuals "
        "are taken for its samples and layer 0's decoded_md5 does not match",
        s.replaced(tp, prediction_unit(sps, 1, [False, True])), "decoded_md5",
        "the stream says")
    add("temporal_prediction_on_intra_frame", "a temporal_prediction unit flagging both tensors "
        "added to frame 2, which is coded on its own: its samples are added to frame 1's and "
        "layer 0's decoded_md5 does not match",
        s.inserted(fh[2] + 1, prediction_unit(sps, 2, [True, True])), "decoded_md5",
        "the stream says")


def reject_cases(valid: dict[str, bytes] | None = None) -> list[RejectCase]:
    """The must-reject streams, in a fixed order, with the same bytes on every call. `valid`:
    the valid suite streams by case name (for the inner-codec cases; default: committed)."""
    out: list[RejectCase] = []
    _container_cases(out)
    _sps_cases(out)
    _frame_cases(out)
    _tile_cases(out)
    _overflow_cases(out)
    _inner_cases(out, valid)
    _restoration_cases(out)
    _prediction_cases(out, valid)
    return out
