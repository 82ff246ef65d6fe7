"""Per-frame units (frame header, tile model, data unit, decoded-data hash, inner codec data,
temporal prediction), the restoration model unit and end of stream."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from vcmref.bitstream.parameter_sets import MAX_QP, QuantMode, StreamParameterSet
from vcmref.bitstream.syntax import SyntaxDirection

TOKEN_WEIGHT_BITS = 6
MAX_TOKEN_WEIGHT = (1 << TOKEN_WEIGHT_BITS) - 1
HASH_TYPE_MD5 = 0
MD5_BYTES = 16
RESTORATION_TYPE_RESIDUAL_CONV = 1  # a restoration model file of clause 8
SHA256_BYTES = 32


def binary32_bits(value: float) -> int:
    """The IEEE-754 binary32 bit pattern of a float (rounded to nearest-even first)."""
    return struct.unpack(">I", struct.pack(">f", value))[0]


def binary32_value(bits: int) -> float:
    """The value of a binary32 bit pattern."""
    return struct.unpack(">f", struct.pack(">I", bits))[0]


def is_finite_binary32(bits: int) -> bool:
    return (bits >> 23) & 0xFF != 0xFF


@dataclass
class TensorQuantParams:
    """Per-frame quantization parameters of one tensor; which fields are used depends on mode."""

    min_bits: list[int] = field(default_factory=list)  # one per tensor, or one per channel
    max_bits: list[int] = field(default_factory=list)
    qp: int = 0
    step_bits: int = 0


@dataclass
class FrameHeader:
    frame_index: int = 0
    quant: list[TensorQuantParams] = field(default_factory=list)


def frame_header(rw: SyntaxDirection, s: FrameHeader, sps: StreamParameterSet) -> FrameHeader:
    """Syntax of the frame header payload (spec table: frame_header)."""
    s.frame_index = rw.ue("frame_index", s.frame_index, 0, (1 << 31) - 1)
    if rw.reading:
        s.quant = [TensorQuantParams() for _ in sps.tensors]
    mode = sps.quant_mode
    for t, ti in enumerate(sps.tensors):
        q = s.quant[t]
        if mode.is_minmax:
            n = 1 if mode == QuantMode.MINMAX_TENSOR else ti.channels
            name = "tensor" if mode == QuantMode.MINMAX_TENSOR else "channel"
            if rw.reading:
                q.min_bits, q.max_bits = [0] * n, [0] * n
            for c in range(n):
                idx = f"[{t}]" if n == 1 and mode == QuantMode.MINMAX_TENSOR else f"[{t}][{c}]"
                q.min_bits[c] = rw.u(32, f"{name}_min{idx}", q.min_bits[c])
                rw.require(is_finite_binary32(q.min_bits[c]),
                           "min must be a finite binary32 value", f"{name}_min{idx}")
                q.max_bits[c] = rw.u(32, f"{name}_max{idx}", q.max_bits[c])
                rw.require(is_finite_binary32(q.max_bits[c]),
                           "max must be a finite binary32 value", f"{name}_max{idx}")
                lo, hi = binary32_value(q.min_bits[c]), binary32_value(q.max_bits[c])
                rw.require(not hi < lo, f"max {hi!r} is below min {lo!r}", f"{name}_max{idx}")
        elif mode == QuantMode.UNIFORM_QP:
            q.qp = sps.init_qp + rw.se(f"qp_delta[{t}]", q.qp - sps.init_qp,
                                       -sps.init_qp, MAX_QP - sps.init_qp)
        else:
            q.step_bits = rw.u(32, f"quant_step[{t}]", q.step_bits)
            step = binary32_value(q.step_bits)
            rw.require(is_finite_binary32(q.step_bits) and step > 0.0,
                       f"step must be a finite positive binary32, found {step!r}",
                       f"quant_step[{t}]")
    rw.alignment()
    return s


@dataclass
class TileModel:
    """Token frequency model of one tile (tensor, layer) of one frame."""

    frame_index: int = 0
    tensor_idx: int = 0
    sample_offset: int = 0
    # Per context: None when absent, else the token weights (trailing zero weights implied).
    weights: list[list[int] | None] = field(default_factory=list)


def num_contexts(sps: StreamParameterSet) -> int:
    return (sps.max_magnitude_class + 1) ** 2


def num_tokens(sps: StreamParameterSet) -> int:
    """Alphabet size: 2**E direct tokens, then one escape token per magnitude class."""
    e = sps.direct_token_log2
    return (1 << e) + sps.sample_bit_depth + 2 - e


def tile_model(rw: SyntaxDirection, s: TileModel, sps: StreamParameterSet) -> TileModel:
    """Syntax of the tile model payload (spec table: tile_model)."""
    s.frame_index = rw.ue("frame_index", s.frame_index, 0, (1 << 31) - 1)
    s.tensor_idx = rw.ue("tensor_idx", s.tensor_idx, 0, len(sps.tensors) - 1)
    span = 1 << sps.sample_bit_depth
    s.sample_offset = rw.se("sample_offset", s.sample_offset, -span, span)
    n_ctx, n_tok = num_contexts(sps), num_tokens(sps)
    present = rw.u_list(1, "context_present_flag", None if rw.reading else
                        [int(w is not None) for w in s.weights], n_ctx)
    if rw.reading:
        s.weights = [None] * n_ctx
    for ctx in range(n_ctx):
        if not present[ctx]:
            continue
        w = s.weights[ctx]
        n = rw.ue(f"num_token_weights_minus1[{ctx}]", None if w is None else len(w) - 1,
                  0, n_tok - 1) + 1
        w = rw.u_list(TOKEN_WEIGHT_BITS, f"token_weight[{ctx}]", w, n, 0, MAX_TOKEN_WEIGHT)
        rw.require(any(w), "a present context needs at least one non-zero weight",
                   f"token_weight[{ctx}]")
        s.weights[ctx] = w
    rw.alignment()
    return s


@dataclass
class DataUnit:
    """Entropy-coded samples of one (frame, layer, tile, group of rows)."""

    frame_index: int = 0
    tensor_idx: int = 0
    unit_idx: int = 0
    ans_data: bytes = b""
    crc32: int = 0


def data_unit(rw: SyntaxDirection, s: DataUnit, sps: StreamParameterSet,
              crc_of: bytes | None = None) -> DataUnit:
    """Syntax of the data unit payload (spec table: data_unit).

    `crc_of` is the payload being parsed (reading) so the CRC can be checked at the element.
    """
    start = rw.bit_position
    s.frame_index = rw.ue("frame_index", s.frame_index, 0, (1 << 31) - 1)
    s.tensor_idx = rw.ue("tensor_idx", s.tensor_idx, 0, len(sps.tensors) - 1)
    s.unit_idx = rw.ue("unit_idx", s.unit_idx, 0, sps.level.max_tile_dimension - 1)
    ans_bytes = rw.ue("ans_bytes", len(s.ans_data), 0, sps.level.max_unit_payload_bytes)
    rw.alignment()
    s.ans_data = rw.payload_bytes("ans_data", s.ans_data, ans_bytes)
    covered = (rw.bit_position - start) // 8
    s.crc32 = rw.u(32, "data_crc32", _crc_to_write(rw, s.crc32))
    _check_crc(rw, s.crc32, crc_of, covered)
    return s


def _crc_to_write(rw: SyntaxDirection, crc32: int) -> int:
    """data_crc32 when writing: the CRC-32 of the payload written so far."""
    return crc32 if rw.reading else zlib.crc32(rw.getvalue())  # type: ignore[attr-defined]


def _check_crc(rw: SyntaxDirection, crc: int, crc_of: bytes | None, covered: int) -> None:
    """When reading, data_crc32 must be the CRC-32 of the `covered` payload bytes before it."""
    if rw.reading:
        assert crc_of is not None
        expected = zlib.crc32(crc_of[:covered])
        rw.require(crc == expected,
                   f"CRC-32 0x{crc:08x} does not match the payload's 0x{expected:08x}",
                   "data_crc32")


@dataclass
class InnerCodecData:
    """An inner codec byte stream holding one layer's pictures of one or more frames."""

    frame_index: int = 0
    num_pictures: int = 1
    inner_data: bytes = b""
    crc32: int = 0


def inner_codec_data(rw: SyntaxDirection, s: InnerCodecData, sps: StreamParameterSet,
                     crc_of: bytes | None = None) -> InnerCodecData:
    """Syntax of the inner codec data payload (spec table: inner_codec_data)."""
    start = rw.bit_position
    s.frame_index = rw.ue("frame_index", s.frame_index, 0, (1 << 31) - 1)
    s.num_pictures = rw.ue("num_pictures_minus1", s.num_pictures - 1, 0, (1 << 31) - 1) + 1
    n = rw.ue("inner_bytes", len(s.inner_data), 1, sps.level.max_unit_payload_bytes)
    rw.alignment()
    s.inner_data = rw.payload_bytes("inner_data", s.inner_data, n)
    covered = (rw.bit_position - start) // 8
    s.crc32 = rw.u(32, "data_crc32", _crc_to_write(rw, s.crc32))
    _check_crc(rw, s.crc32, crc_of, covered)
    return s


@dataclass
class DataHash:
    frame_index: int = 0
    hash_type: int = HASH_TYPE_MD5
    digest: bytes = b""


def data_hash(rw: SyntaxDirection, s: DataHash, sps: StreamParameterSet) -> DataHash:
    """Syntax of the decoded-data hash payload (spec table: data_hash)."""
    s.frame_index = rw.ue("frame_index", s.frame_index, 0, (1 << 31) - 1)
    s.hash_type = rw.u(8, "hash_type", s.hash_type, HASH_TYPE_MD5, HASH_TYPE_MD5)
    rw.alignment()
    s.digest = rw.payload_bytes("decoded_md5", s.digest, MD5_BYTES)
    return s


@dataclass
class RestorationModelRef:
    """Names the feature restoration that follows decoding (clause 8): a model file by its
    SHA-256. Outside the conformance point: the decoded samples do not depend on it."""

    restoration_type: int = RESTORATION_TYPE_RESIDUAL_CONV
    model_sha256: bytes = bytes(SHA256_BYTES)


def restoration_model(rw: SyntaxDirection, s: RestorationModelRef,
                      sps: StreamParameterSet) -> RestorationModelRef:
    """Syntax of the restoration model payload (spec table: restoration_model)."""
    s.restoration_type = rw.u(8, "restoration_type", s.restoration_type,
                              RESTORATION_TYPE_RESIDUAL_CONV, RESTORATION_TYPE_RESIDUAL_CONV)
    s.model_sha256 = rw.payload_bytes("model_sha256", s.model_sha256, SHA256_BYTES)
    return s


@dataclass
class TemporalPrediction:
    """Which tensors of a frame are coded as residuals of the previous frame's samples
    (clause 5.9.1); a frame without this unit is coded on its own."""

    frame_index: int = 0
    predicted: list[bool] = field(default_factory=list)  # one flag per tensor


def temporal_prediction(rw: SyntaxDirection, s: TemporalPrediction,
                        sps: StreamParameterSet) -> TemporalPrediction:
    """Syntax of the temporal prediction payload (spec table: temporal_prediction)."""
    s.frame_index = rw.ue("frame_index", s.frame_index, 0, (1 << 31) - 1)
    if rw.reading:
        s.predicted = [False] * len(sps.tensors)
    for t in range(len(sps.tensors)):
        s.predicted[t] = bool(rw.u(1, f"predicted_flag[{t}]", int(s.predicted[t])))
    rw.alignment()
    return s


def end_of_stream(rw: SyntaxDirection) -> None:
    """Syntax of the end-of-stream payload: empty (spec table: end_of_stream)."""
