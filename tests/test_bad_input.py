"""Bad input: the encoder refuses it with EncoderInputError, the decoder with BitstreamError."""

from __future__ import annotations

import random

import numpy as np
import pytest
from streams import silu_like

from vcmref.bitstream.extract import extract
from vcmref.bitstream.frame_units import (
    DataUnit,
    FrameHeader,
    binary32_bits,
    data_unit,
    frame_header,
)
from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
from vcmref.bitstream.syntax import Reader, Tracer, Writer
from vcmref.bitstream.units import (
    UNIT_HEADER_BYTES,
    UnitType,
    iter_units,
    unit_chunks,
    write_signature,
    write_unit,
)
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder import EncoderConfig, encode

# --------------------------------------------------------------------------- helpers






def join(units: list[bytes]) -> bytes:
    return write_signature() + b"".join(units)


def indices(data: bytes, unit_type: int, layer: int | None = None) -> list[int]:
    return [u.index for u in iter_units(data)
            if u.unit_type == unit_type and (layer is None or u.layer_id == layer)]


def parse_sps(data: bytes) -> StreamParameterSet:
    first = next(iter_units(data))
    return stream_parameter_set(Reader(first.payload), StreamParameterSet())


def frame_ranges(data: bytes) -> list[list[int]]:
    """Unit indices of each frame (frame header first)."""
    frames: list[list[int]] = []
    for u in iter_units(data):
        if u.unit_type == UnitType.FRAME_HEADER:
            frames.append([u.index])
        elif u.unit_type in (UnitType.TILE_MODEL, UnitType.DATA_UNIT, UnitType.DATA_HASH):
            frames[-1].append(u.index)
    return frames


def decode_error(data: bytes, **kw) -> BitstreamError:
    with pytest.raises(BitstreamError) as ei:
        Decoder(**kw).decode(data)
    e = ei.value
    assert str(e), "a BitstreamError must say what is wrong"
    return e


def rewrite_data_unit(data: bytes, index: int, new_ans) -> bytes:
    """The stream with data unit `index`'s ans_data replaced and its CRC recomputed."""
    sps = parse_sps(data)
    units = list(iter_units(data))
    u = units[index]
    assert u.unit_type == UnitType.DATA_UNIT
    du = data_unit(Reader(u.payload), DataUnit(), sps, u.payload)
    du.ans_data = new_ans(du.ans_data)
    w = Writer()
    data_unit(w, du, sps)
    out = unit_chunks(data)
    out[index] = write_unit(UnitType.DATA_UNIT, u.layer_id, w.getvalue())
    return join(out)


def rewrite_frame_header(data: bytes, index: int, change) -> bytes:
    sps = parse_sps(data)
    u = list(iter_units(data))[index]
    fh = frame_header(Reader(u.payload), FrameHeader(), sps)
    change(fh)
    w = Writer()
    frame_header(w, fh, sps)
    out = unit_chunks(data)
    out[index] = write_unit(UnitType.FRAME_HEADER, u.layer_id, w.getvalue())
    return join(out)


@pytest.fixture(scope="module")
def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2024)
    return {"a": silu_like(rng, (2, 4, 6, 5)), "b": silu_like(rng, (2, 3, 4, 4))}


@pytest.fixture(scope="module")
def stream(tensors) -> bytes:
    """Two frames, two tensors, two layers, several data units per tile."""
    return encode(tensors, EncoderConfig(layers=2, rows_per_unit=3, bit_depth=8))


# --------------------------------------------------------------------------- encoder


def _enc_error(tensors: dict, cfg: EncoderConfig | None = None) -> str:
    with pytest.raises(EncoderInputError) as ei:
        encode(tensors, cfg or EncoderConfig())
    msg = str(ei.value)
    assert msg
    return msg


def _ok() -> np.ndarray:
    return np.zeros((2, 3, 3), np.float32)


@pytest.mark.parametrize("value,word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_encoder_rejects_non_finite(value: float, word: str) -> None:
    x = np.ones((2, 3, 3), np.float32)
    x[1, 2, 0] = value
    msg = _enc_error({"ok": _ok(), "feat": x})
    assert "'feat'" in msg and word in msg


def test_encoder_rejects_float64_beyond_float32() -> None:
    x = np.ones((1, 2, 2), np.float64)
    x[0, 0, 0] = 1e39
    msg = _enc_error({"big": x})
    assert "'big'" in msg and "float32" in msg


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64, bool, np.complex64])
def test_encoder_rejects_non_float_dtype(dtype) -> None:
    msg = _enc_error({"feat": np.ones((1, 2, 2), dtype)})
    assert "'feat'" in msg and "dtype" in msg


def test_encoder_rejects_non_array() -> None:
    msg = _enc_error({"feat": [[[1.0]]]})
    assert "'feat'" in msg and "numpy" in msg


@pytest.mark.parametrize("shape", [(0, 3, 3), (3, 0, 3), (2, 0, 3, 3), (0, 1, 1, 1)])
def test_encoder_rejects_empty(shape) -> None:
    msg = _enc_error({"feat": np.zeros(shape, np.float32)})
    assert "'feat'" in msg and "empty" in msg


@pytest.mark.parametrize("shape", [(4,), (3, 3), (1, 1, 2, 3, 3)])
def test_encoder_rejects_wrong_rank(shape) -> None:
    msg = _enc_error({"feat": np.zeros(shape, np.float32)})
    assert "'feat'" in msg and str(shape) in msg


def test_encoder_rejects_mismatched_frame_counts() -> None:
    msg = _enc_error({"a": np.zeros((2, 1, 2, 2), np.float32),
                      "b": np.zeros((3, 1, 2, 2), np.float32)})
    assert "frame count" in msg and "2" in msg and "3" in msg


def test_encoder_rejects_no_tensors() -> None:
    assert "no tensors" in _enc_error({})


def test_encoder_rejects_too_many_channels_for_every_level() -> None:
    msg = _enc_error({"wide": np.zeros((10000, 1, 1), np.float32)})
    assert "wide" in msg and "10000" in msg


def test_encoder_rejects_tensor_too_big_for_requested_level() -> None:
    msg = _enc_error({"t": np.zeros((2000, 1, 1), np.float32)}, EncoderConfig(level=10))
    assert "level 10" in msg and "t 2000x1x1" in msg


@pytest.mark.parametrize("cfg,word", [
    (EncoderConfig(quant="lloyd"), "'lloyd'"),
    (EncoderConfig(bit_depth=0), "bit depth"),
    (EncoderConfig(bit_depth=17), "bit depth"),
    (EncoderConfig(quant="qp"), "QP"),
    (EncoderConfig(quant="qp", qp=64), "qp 64"),
    (EncoderConfig(quant="qp", qp=-1), "qp -1"),
    (EncoderConfig(quant="step"), "step"),
    (EncoderConfig(quant="step", step=0.0), "step"),
    (EncoderConfig(quant="step", step=-0.1), "step"),
    (EncoderConfig(quant="step", step=float("nan")), "step"),
    (EncoderConfig(quant="step", step=float("inf")), "step"),
    (EncoderConfig(quant="step", step=1e-50), "step"),
    (EncoderConfig(layers=0), "layers"),
    (EncoderConfig(layers=3), "layer"),  # feat has 2 channels: a layer would be empty
    (EncoderConfig(layer_channels=[{"feat": 1}]), "'feat'"),
    (EncoderConfig(rows_per_unit=-1), "rows_per_unit"),
    (EncoderConfig(direct_token_log2=7), "direct_token_log2"),
    (EncoderConfig(direct_token_log2=1), "direct_token_log2"),
    (EncoderConfig(direct_token_log2=2, max_magnitude_class=4), "max_magnitude_class"),
    (EncoderConfig(wavefront_block_size=-1), "wavefront_block_size"),
    (EncoderConfig(lane_limit=-1), "lane_limit"),
    (EncoderConfig(model_id="m" * 256), "model_id"),
    (EncoderConfig(split_point="é" * 128), "split_point_id"),
])
def test_encoder_rejects_bad_options(cfg: EncoderConfig, word: str) -> None:
    msg = _enc_error({"feat": np.ones((2, 3, 3), np.float32)}, cfg)
    assert word in msg


def test_encoder_rejects_more_layers_than_any_level_allows() -> None:
    msg = _enc_error({"deep": np.ones((40, 1, 1), np.float32)}, EncoderConfig(layers=40))
    assert "deep" in msg and "level" in msg


def test_encoder_rejects_long_tensor_name() -> None:
    msg = _enc_error({"n" * 300: np.ones((1, 1, 1), np.float32)})
    assert "tensor_name" in msg


@pytest.mark.parametrize("where", ["tensor_name", "model_id"])
def test_encoder_rejects_unencodable_names(where: str) -> None:
    bad = "feat\ud800"
    if where == "tensor_name":
        msg = _enc_error({bad: np.ones((1, 2, 2), np.float32)})
    else:
        msg = _enc_error({"feat": np.ones((1, 2, 2), np.float32)}, EncoderConfig(model_id=bad))
    assert where in msg or "UTF-8" in msg


def test_encoder_rejects_step_beyond_float32() -> None:
    msg = _enc_error({"feat": np.ones((1, 2, 2), np.float32)},
                     EncoderConfig(quant="step", step=1e39))
    assert "step" in msg


def test_encoder_rejects_negative_layer_channel_count() -> None:
    msg = _enc_error({"feat": np.ones((2, 2, 2), np.float32)},
                     EncoderConfig(layer_channels=[{"feat": -1}, {"feat": 3}]))
    assert "feat" in msg or "layer_channels" in msg


# --------------------------------------------------------------------------- decoder: container


def test_decoder_accepts_the_valid_stream(stream) -> None:
    res = Decoder().decode(stream)
    assert len(res.frames) == 2 and all(fr.hashes_checked == 2 for fr in res.frames)


@pytest.mark.parametrize("data", [b"", b"V", b"VCM"])
def test_decoder_rejects_short_signature(data: bytes) -> None:
    e = decode_error(data)
    assert e.element == "stream_signature" and "signature" in str(e)


def test_decoder_rejects_wrong_signature(stream) -> None:
    e = decode_error(b"VCM2" + stream[4:])
    assert e.element == "stream_signature" and e.bit_offset == 0


def test_decoder_rejects_signature_only() -> None:
    e = decode_error(write_signature())
    assert "stream parameter set" in str(e) and e.unit == "stream"


def test_decoder_rejects_stream_without_sps() -> None:
    e = decode_error(join([write_unit(UnitType.END_OF_STREAM, 0, b"")]))
    assert "stream parameter set" in str(e) and e.unit is not None


def test_decoder_rejects_sps_not_first(stream) -> None:
    u = unit_chunks(stream)
    e = decode_error(join([u[1], u[0]] + u[2:]))
    assert "first unit" in str(e) and e.unit is not None and "frame_header" in e.unit


def test_decoder_rejects_second_sps(stream) -> None:
    u = unit_chunks(stream)
    e = decode_error(join(u[:3] + [u[0]] + u[3:]))
    assert "second stream parameter set" in str(e) and e.unit.startswith("#3")


def test_decoder_rejects_missing_end_of_stream(stream) -> None:
    e = decode_error(join(unit_chunks(stream)[:-1]))
    assert "end_of_stream" in str(e) and e.unit == "stream"


@pytest.mark.parametrize("extra_type", [UnitType.FRAME_HEADER, UnitType.END_OF_STREAM, 100])
def test_decoder_rejects_unit_after_end_of_stream(stream, extra_type: int) -> None:
    u = unit_chunks(stream)
    extra = u[1] if extra_type == UnitType.FRAME_HEADER else write_unit(extra_type, 0, b"")
    e = decode_error(join(u + [extra]))
    assert "after end_of_stream" in str(e) and e.unit.startswith(f"#{len(u)}")


def test_decoder_rejects_non_empty_end_of_stream(stream) -> None:
    u = unit_chunks(stream)
    e = decode_error(join(u[:-1] + [write_unit(UnitType.END_OF_STREAM, 0, b"\x00")]))
    assert e.element == "payload_size" and "end_of_stream" in e.unit


@pytest.mark.parametrize("n", [1, 2, 5])
def test_decoder_rejects_trailing_garbage_shorter_than_header(stream, n: int) -> None:
    e = decode_error(stream + b"\x01" * n)
    assert e.element == "unit_header" and e.bit_offset == 8 * len(stream)
    assert f"{n} trailing bytes" in str(e)


def test_decoder_rejects_payload_size_beyond_data(stream) -> None:
    u = unit_chunks(stream)
    bad = write_unit(UnitType.TILE_MODEL, 0, b"\x00" * 100)[:UNIT_HEADER_BYTES + 10]
    e = decode_error(join(u[:-1] + [bad]))
    assert e.element == "payload_size" and "exceeds" in str(e)
    # truncated in the middle of a data unit
    du = list(iter_units(stream))[indices(stream, UnitType.DATA_UNIT)[0]]
    e = decode_error(stream[: du.byte_offset + UNIT_HEADER_BYTES + len(du.payload) - 1])
    assert e.element == "payload_size" and e.unit.startswith(f"#{du.index}")


def test_decoder_rejects_forbidden_bit_and_unit_type_zero(stream) -> None:
    u = unit_chunks(stream)
    eos = bytearray(u[-1])
    eos[0] |= 0x80
    e = decode_error(join(u[:-1] + [bytes(eos)]))
    assert e.element == "forbidden_zero_bit"
    zero = bytes([0]) + u[-1][1:]
    e = decode_error(join(u[:-1] + [zero]))
    assert e.element == "unit_type"


def test_decoder_rejects_layer_id_beyond_layers(stream) -> None:
    u = unit_chunks(stream)
    h = bytearray(u[-1])
    h[1] = 2  # the stream has 2 layers
    e = decode_error(join(u[:-1] + [bytes(h)]))
    assert e.element == "layer_id"


@pytest.mark.parametrize("utype", [7, 11, 100, 127])
def test_reserved_unit_is_skipped(stream, tensors, utype: int) -> None:
    u = unit_chunks(stream)
    reserved = write_unit(utype, 5, b"future \xff\x00 payload")
    pos = 4  # between units of the first frame
    data = join(u[:pos] + [reserved] + u[pos:])
    res = Decoder().decode(data)
    assert res.skipped_units == [pos]
    ref = Decoder().decode(stream)
    for a, b in zip(res.frames, ref.frames, strict=True):
        for name in tensors:
            assert np.array_equal(a.samples[name], b.samples[name])
        assert a.hashes_checked == b.hashes_checked == 2
    # also before the stream parameter set, and with an empty payload
    data = join([write_unit(utype, 0, b"")] + u)
    assert Decoder().decode(data).skipped_units == [0]


def test_stream_without_frames_is_valid(stream) -> None:
    u = unit_chunks(stream)
    res = Decoder().decode(join([u[0], u[-1]]))
    assert res.frames == [] and len(res.sps.tensors) == 2


def test_sps_with_trailing_payload_rejected(stream) -> None:
    u = unit_chunks(stream)
    sps_payload = list(iter_units(stream))[0].payload + b"\x00"
    e = decode_error(join([write_unit(UnitType.STREAM_PARAMETER_SET, 0, sps_payload)] + u[1:]))
    assert e.element == "payload_size" and "stream_parameter_set" in e.unit


def test_sps_duplicate_tensor_names_rejected(stream) -> None:
    sps = parse_sps(stream)
    sps.tensors[1].name = sps.tensors[0].name
    w = Writer()
    with pytest.raises(BitstreamError):
        stream_parameter_set(w, sps)  # the writer refuses it too
    # write it by hand: find tensor_name[1] ('b', ue(1) length then one byte) with a tracer
    payload = list(iter_units(stream))[0].payload
    tr = Tracer(payload)
    stream_parameter_set(tr, StreamParameterSet())
    el = next(e for e in tr.elements if e.name == "tensor_name[1]")
    assert el.value == "b" and el.bit_length == 3 + 8
    bits = "".join(f"{x:08b}" for x in payload)
    i = el.bit_offset + 3
    assert bits[i : i + 8] == f"{ord('b'):08b}"
    bits = bits[:i] + f"{ord('a'):08b}" + bits[i + 8:]
    dup = int(bits, 2).to_bytes(len(payload), "big")
    u = unit_chunks(stream)
    e = decode_error(join([write_unit(UnitType.STREAM_PARAMETER_SET, 0, dup)] + u[1:]))
    assert e.element == "tensor_name[1]" and "twice" in str(e)


# --------------------------------------------------------------------------- decoder: frames


def test_frame_unit_before_frame_header(stream) -> None:
    u = unit_chunks(stream)
    tm = indices(stream, UnitType.TILE_MODEL)[0]
    e = decode_error(join([u[0], u[tm]] + u[1:]))
    assert "before any frame header" in str(e)


def test_frame_index_not_increasing(stream) -> None:
    fr = frame_ranges(stream)
    u = unit_chunks(stream)
    second = [u[i] for i in fr[1]]
    first = [u[i] for i in fr[0]]
    e = decode_error(join([u[0]] + second + first + [u[-1]]))
    assert e.element == "frame_index" and "does not follow" in str(e)


def test_unit_of_another_frame_inside_a_frame(stream) -> None:
    fr = frame_ranges(stream)
    u = unit_chunks(stream)
    stray = u[fr[1][1]]  # a frame-1 tile model inside frame 0
    e = decode_error(join(u[:2] + [stray] + u[2:]))
    assert e.element == "frame_index" and "inside frame 0" in str(e)


def test_duplicate_unit_in_a_frame(stream) -> None:
    u = unit_chunks(stream)
    du = indices(stream, UnitType.DATA_UNIT)[0]
    e = decode_error(join(u[: du + 1] + [u[du]] + u[du + 1:]))
    assert "a second data_unit" in str(e) and e.unit.startswith(f"#{du + 1}")


def test_missing_data_unit(stream) -> None:
    for du in indices(stream, UnitType.DATA_UNIT)[:6]:
        e = decode_error(extract(stream, drop_units={du}))
        assert "missing" in str(e) and e.unit is not None


def test_missing_tile_model(stream) -> None:
    tm = indices(stream, UnitType.TILE_MODEL)[0]
    e = decode_error(extract(stream, drop_units={tm}))
    assert "no tile model" in str(e)


def test_missing_frame_header(stream) -> None:
    fh = indices(stream, UnitType.FRAME_HEADER)
    u = unit_chunks(stream)
    e = decode_error(join(u[: fh[1]] + u[fh[1] + 1:]))
    # the frame-1 units then land in frame 0
    assert e.element == "frame_index" and "inside frame 0" in str(e)
    e = decode_error(join(u[:1] + u[2:]))
    assert "before any frame header" in str(e)


def test_broken_layer_dependency(stream, tensors) -> None:
    fr1 = frame_ranges(stream)[1]
    units = list(iter_units(stream))
    layer0 = {i for i in fr1[1:] if units[i].layer_id == 0}
    assert layer0 and any(units[i].layer_id == 1 for i in fr1)
    e = decode_error(extract(stream, drop_units=layer0))
    assert "depends on" in str(e) and e.element == "ref_layer_idx" and e.unit is not None
    # only the tile models and data units dropped: the layer-0 hash keeps layer 0 present
    no_data = {i for i in layer0 if units[i].unit_type != UnitType.DATA_HASH}
    e = decode_error(extract(stream, drop_units=no_data))
    assert "tile model" in str(e) or "missing" in str(e)
    # dropping layer 1 of that frame as well is fine: frame 1 decodes its base layer only
    layer1 = {i for i in fr1[1:] if units[i].layer_id == 1}
    res = Decoder().decode(extract(stream, drop_units=layer0 | layer1))
    assert res.frames[1].layers == [] and not res.frames[1].samples["a"].any()


def test_hash_mismatch(stream) -> None:
    for h in indices(stream, UnitType.DATA_HASH):
        u = unit_chunks(stream)
        bad = bytearray(u[h])
        bad[-1] ^= 0x01  # the last byte of decoded_md5
        u[h] = bytes(bad)
        e = decode_error(join(u))
        assert "MD5" in str(e) and e.element == "decoded_md5"
        assert e.unit.startswith(f"#{h}:data_hash")
        # without hash verification the stream decodes
        res = Decoder(verify_hashes=False).decode(join(u))
        assert len(res.frames) == 2


def test_data_unit_crc_mismatch(stream) -> None:
    du = indices(stream, UnitType.DATA_UNIT)[2]
    u = unit_chunks(stream)
    bad = bytearray(u[du])
    bad[-5] ^= 0x10  # last byte of ans_data
    u[du] = bytes(bad)
    e = decode_error(join(u))
    assert e.element == "data_crc32" and "CRC" in str(e) and e.unit.startswith(f"#{du}")


def test_corrupted_ans_with_valid_crc(stream) -> None:
    """With the CRC recomputed, the entropy decoder or the MD5 check must catch corruption."""
    rng = random.Random(5)
    ref = Decoder().decode(stream)
    dus = indices(stream, UnitType.DATA_UNIT)
    outcomes = {"error": 0, "same": 0}
    for trial in range(60):
        du = rng.choice(dus)

        def corrupt(ans: bytes, trial=trial) -> bytes:
            b = bytearray(ans)
            kind = trial % 4
            if kind == 0 and b:
                i = rng.randrange(8 * len(b))
                b[i // 8] ^= 0x80 >> (i % 8)
            elif kind == 1:
                b = b[: rng.randrange(len(b) + 1)]
            elif kind == 2:
                b += bytes([rng.randrange(256)])
            else:
                b = bytearray(rng.randbytes(len(b)))
            return bytes(b)

        data = rewrite_data_unit(stream, du, corrupt)
        try:
            res = Decoder().decode(data)
        except BitstreamError as e:
            assert str(e) and e.unit is not None
            outcomes["error"] += 1
            continue
        # accepted only if the samples are exactly the original ones (the hash proves it)
        for a, b in zip(res.frames, ref.frames, strict=True):
            for name in a.samples:
                assert np.array_equal(a.samples[name], b.samples[name])
        outcomes["same"] += 1
    assert outcomes["error"] >= 50


def test_corrupted_ans_without_hashes_never_crashes(tensors) -> None:
    data0 = encode(tensors, EncoderConfig(layers=2, rows_per_unit=2, hashes=False,
                                          quant="qp", qp=40, bit_depth=6))
    rng = random.Random(9)
    dus = indices(data0, UnitType.DATA_UNIT)
    for _ in range(40):
        du = rng.choice(dus)
        data = rewrite_data_unit(data0, du, lambda a: bytes(rng.randrange(256) for _ in a))
        try:
            res = Decoder().decode(data)
        except BitstreamError as e:
            assert str(e)
            continue
        for fr in res.frames:
            for s in fr.samples.values():
                assert s.min() >= res.sps.sample_min and s.max() <= res.sps.sample_max


def test_data_unit_for_tensor_the_layer_does_not_carry() -> None:
    x = {"a": np.ones((2, 3, 3), np.float32), "b": np.ones((1, 3, 3), np.float32)}
    data = encode(x, EncoderConfig(layer_channels=[{"a": 1, "b": 1}, {"a": 1}]))
    units = list(iter_units(data))
    # move the layer-0 data unit of tensor b into layer 1, which carries no channel of b
    b_du = [u for u in units if u.unit_type == UnitType.DATA_UNIT and u.layer_id == 0][-1]
    u = unit_chunks(data)
    moved = write_unit(UnitType.DATA_UNIT, 1, b_du.payload)
    u.insert(len(u) - 1, moved)
    e = decode_error(join(u))
    assert "does not carry" in str(e) or "second" in str(e)


# --------------------------------------------------------------------------- dequantization


def _minmax_overflow_stream() -> bytes:
    x = {"a": np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 2, 2)}
    data = encode(x, EncoderConfig(quant="minmax"))

    def change(fh: FrameHeader) -> None:
        fh.quant[0].min_bits = [binary32_bits(-3e38)]
        fh.quant[0].max_bits = [binary32_bits(3e38)]

    return rewrite_frame_header(data, indices(data, UnitType.FRAME_HEADER)[0], change)


def _step_overflow_stream() -> bytes:
    x = {"a": np.linspace(-4, 4, 8, dtype=np.float32).reshape(2, 2, 2)}
    data = encode(x, EncoderConfig(quant="step", step=1.0))

    def change(fh: FrameHeader) -> None:
        fh.quant[0].step_bits = binary32_bits(3e38)

    return rewrite_frame_header(data, indices(data, UnitType.FRAME_HEADER)[0], change)


@pytest.mark.parametrize("make", [_minmax_overflow_stream, _step_overflow_stream])
def test_dequantization_overflow_is_an_error(make) -> None:
    e = decode_error(make())
    assert "overflows" in str(e)


@pytest.mark.parametrize("make", [_minmax_overflow_stream, _step_overflow_stream])
def test_dequantization_overflow_names_the_unit(make) -> None:
    e = decode_error(make())
    assert e.unit is not None and e.unit.endswith("frame_header")
    assert e.bit_offset is not None


def test_frame_header_non_finite_min_rejected() -> None:
    x = {"a": np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 2, 2)}
    data = encode(x, EncoderConfig(quant="minmax-channel"))
    u = list(iter_units(data))[1]
    # min of channel 0 is the first u(32) after ue(frame_index = 0), i.e. bits 1..32
    bits = "".join(f"{b:08b}" for b in u.payload)
    bits = bits[:1] + f"{0x7FC00000:032b}" + bits[33:]
    payload = int(bits, 2).to_bytes(len(u.payload), "big")
    c = unit_chunks(data)
    c[1] = write_unit(UnitType.FRAME_HEADER, 0, payload)
    e = decode_error(join(c))
    assert e.element == "channel_min[0][0]" and "finite" in str(e)
