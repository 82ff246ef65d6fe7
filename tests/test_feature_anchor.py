"""The feature anchor: quantize, pack tiles into pictures, code with VVC/HEVC, and carry the
inner byte stream in a vcmref stream that the normative decoder decodes (spec clause 5.14)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from vcmref.anchors.codec import CodecConfigError
from vcmref.anchors.feature_anchor import (
    FeatureAnchor,
    FeatureAnchorConfig,
    encode_feature_anchor,
    equal_width_columns,
)
from vcmref.bitstream.extract import extract
from vcmref.bitstream.inspect import inspect_stream
from vcmref.bitstream.units import Unit, UnitType, iter_units, write_unit
from vcmref.cli import app
from vcmref.errors import BitstreamError, EncoderInputError
from vcmref.media.inner_decoders import decode_inner_pictures
from vcmref.refsw.decoder import Decoder
from vcmref.refsw.encoder.quantize import quantize_tensor


def _tensors(frames: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:12, :12]
    smooth = np.sin(x / 3.0) + np.cos(y / 4.0)
    a = smooth[None, None] * rng.uniform(0.5, 2, (frames, 8, 1, 1)) \
        + 0.1 * rng.standard_normal((frames, 8, 12, 12))
    b = rng.standard_normal((frames, 16, 6, 6)) * 3
    return {"p3": a.astype(np.float32), "p4": b.astype(np.float32)}


def _samples(tensors: dict[str, np.ndarray], sps, frame: int = 0) -> dict[str, np.ndarray]:
    return {ti.name: quantize_tensor(tensors[ti.name][frame], sps)[0] for ti in sps.tensors}


def _units(stream: bytes) -> list[Unit]:
    return list(iter_units(stream))


def test_stream_decodes_to_the_encoders_reconstruction() -> None:
    tensors = _tensors()
    result = encode_feature_anchor(tensors, FeatureAnchorConfig(codec="vvenc", qp=30))
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    assert decoded.frames[0].hashes_checked == 1
    for name, x in decoded.stacked_tensors().items():
        assert np.array_equal(x, result.tensors[name])
        assert np.abs(x - tensors[name]).max() < 0.5 * np.ptp(tensors[name])
    types = [u.unit_type for u in _units(result.stream)]
    assert types == [UnitType.STREAM_PARAMETER_SET, UnitType.FRAME_HEADER,
                     UnitType.INNER_CODEC_DATA, UnitType.DATA_HASH, UnitType.END_OF_STREAM]
    assert result.qp_reports[0].slice_qps == (30,)
    assert result.bits == 8 * len(result.stream)


def test_lower_qp_costs_more_and_reconstructs_better() -> None:
    tensors = _tensors()
    errs, bits = [], []
    for qp in (42, 22):
        r = encode_feature_anchor(tensors, FeatureAnchorConfig(codec="x265", qp=qp))
        bits.append(r.bits)
        errs.append(np.mean([np.mean((r.tensors[k][0] - v[0]) ** 2) for k, v in tensors.items()]))
    assert bits[1] > bits[0] and errs[1] < errs[0]


@pytest.mark.parametrize("bit_depth,picture_bit_depth", [(10, 10), (8, 10), (12, 12)])
def test_lossless_inner_codec_gives_the_quantized_samples_back(bit_depth: int,
                                                               picture_bit_depth: int) -> None:
    """P >= B with a lossless inner codec: every sample comes back exactly (no conversion)."""
    tensors = _tensors()
    cfg = FeatureAnchorConfig(codec="x265", qp=0, codec_options={"lossless": True},
                              bit_depth=bit_depth, picture_bit_depth=picture_bit_depth)
    anchor = FeatureAnchor(cfg)
    result = anchor.encode(tensors)
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    expected = _samples(tensors, decoded.sps)
    for name, s in decoded.frames[0].samples.items():
        assert np.array_equal(s, expected[name]), name
    assert decoded.sps.picture_bit_depth == picture_bit_depth


def test_fewer_picture_bits_than_sample_bits_round_half_up() -> None:
    """B = 10 samples in P = 8 bit pictures: v -> p = min((v + 2) >> 2, 255) -> v' = p << 2."""
    tensors = _tensors()
    cfg = FeatureAnchorConfig(codec="x265", qp=0, codec_options={"lossless": True},
                              bit_depth=10, picture_bit_depth=8)
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(
        encode_feature_anchor(tensors, cfg).stream)
    expected = _samples(tensors, decoded.sps)
    for name, s in decoded.frames[0].samples.items():
        want = np.minimum((expected[name] + 2) >> 2, 255) << 2
        assert np.array_equal(s, want), name
        assert 1020 in s or name == "p4"  # the maximum 1023 maps to 255 -> 1020


def test_8_bit_codec_and_per_channel_ranges() -> None:
    tensors = _tensors()
    cfg = FeatureAnchorConfig(codec="kvazaar", qp=22, quant="minmax-channel", bit_depth=8)
    result = encode_feature_anchor(tensors, cfg)
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    assert decoded.sps.picture_bit_depth == 8 and decoded.sps.inner_codec.name == "H265_HEVC"
    err = np.abs(decoded.stacked_tensors()["p3"] - tensors["p3"]).max()
    assert err < 0.1 * np.ptp(tensors["p3"])


def test_frames_share_inner_streams_and_layers_extract() -> None:
    tensors = _tensors(frames=3)
    cfg = FeatureAnchorConfig(codec="x265", qp=27, frames_per_unit=2, layers=2,
                              codec_options={"intra_period": 2})
    result = encode_feature_anchor(tensors, cfg)
    units = _units(result.stream)
    inner = [(u.layer_id, inspect_payload(result.stream, u)) for u in units
             if u.unit_type == UnitType.INNER_CODEC_DATA]
    assert sorted(inner) == [(0, 1), (0, 2), (1, 1), (1, 2)]  # (layer, pictures)
    full = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    assert [f.layers for f in full.frames] == [[0, 1]] * 3
    for name, x in full.stacked_tensors().items():
        assert np.array_equal(x, result.tensors[name])
    base = Decoder(inner_decoder=decode_inner_pictures).decode(extract(result.stream, max_layers=1))
    assert [f.layers for f in base.frames] == [[0]] * 3
    layer0 = list(full.sps.layer_channels(0, 0))
    assert np.array_equal(base.stacked_tensors()["p3"][:, layer0],
                          full.stacked_tensors()["p3"][:, layer0])


def inspect_payload(stream: bytes, unit: Unit) -> int:
    """num_pictures of an inner_codec_data unit, read by the tracer."""
    _, units = inspect_stream(stream)
    elements = {e.name: e.value for e in units[unit.index].payload}
    return elements["num_pictures_minus1"] + 1


def test_tiny_tensors_are_padded_to_the_codecs_minimum() -> None:
    tensors = {"t": np.arange(12, dtype=np.float32).reshape(3, 2, 2)}
    result = encode_feature_anchor(tensors, FeatureAnchorConfig(codec="x265", qp=0,
                                                                codec_options={"lossless": True}))
    assert result.picture_sizes == [(4, 4)]
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    assert np.allclose(decoded.stacked_tensors()["t"][0], tensors["t"], atol=11 / 1023)


def test_equal_width_tiles_for_the_yolox_backbone() -> None:
    """dark3 64x52x52, dark4 128x26x26, dark5 256x13x13: three 416-wide tiles, no padding."""
    cols = equal_width_columns([64, 128, 256], [52, 26, 13], [52, 26, 13])
    assert cols == [8, 16, 32]
    anchor = FeatureAnchor(FeatureAnchorConfig())
    sps = anchor.build_sps({"d3": np.zeros((1, 64, 52, 52), np.float32),
                            "d4": np.zeros((1, 128, 26, 26), np.float32),
                            "d5": np.zeros((1, 256, 13, 13), np.float32)})
    from vcmref.bitstream.parameter_sets import picture_size

    assert picture_size(sps, 0) == (416, 416 + 208 + 104)


def test_real_features_through_vvc(real_features) -> None:
    result = encode_feature_anchor(real_features, FeatureAnchorConfig(codec="vvenc", qp=32))
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    n = sum(x.size for x in real_features.values())
    assert 0.05 < result.bits / n < 4  # bits per feature sample at QP 32
    for name, x in decoded.stacked_tensors().items():
        ref = real_features[name]
        psnr = 10 * np.log10(np.ptp(ref) ** 2 / np.mean((x[0] - ref) ** 2))
        assert psnr > 25, (name, psnr)


def _corrupt_inner(stream: bytes, mutate) -> bytes:
    from vcmref.bitstream.frame_units import InnerCodecData, inner_codec_data
    from vcmref.bitstream.parameter_sets import StreamParameterSet, stream_parameter_set
    from vcmref.bitstream.syntax import Reader, Writer

    units = _units(stream)
    sps = stream_parameter_set(Reader(units[0].payload), StreamParameterSet())
    out = [stream[:4]]
    for u in units:
        chunk = stream[u.byte_offset:u.byte_offset + 6 + len(u.payload)]
        if u.unit_type == UnitType.INNER_CODEC_DATA:
            ic = inner_codec_data(Reader(u.payload), InnerCodecData(), sps, u.payload)
            ic.inner_data = mutate(ic.inner_data)
            w = Writer()
            inner_codec_data(w, ic, sps)
            chunk = write_unit(UnitType.INNER_CODEC_DATA, u.layer_id, w.getvalue())
        out.append(chunk)
    return b"".join(out)


def test_corrupt_inner_stream_is_rejected() -> None:
    stream = encode_feature_anchor(_tensors(), FeatureAnchorConfig(codec="x265", qp=30)).stream
    truncated = _corrupt_inner(stream, lambda d: d[: len(d) // 3])
    with pytest.raises(BitstreamError) as info:
        Decoder(inner_decoder=decode_inner_pictures).decode(truncated)
    assert info.value.element in ("inner_data", "decoded_md5")
    garbage = _corrupt_inner(stream, lambda d: bytes(len(d)))
    with pytest.raises(BitstreamError, match="inner_data"):
        Decoder(inner_decoder=decode_inner_pictures).decode(garbage)


def test_flipped_byte_fails_the_crc() -> None:
    stream = bytearray(encode_feature_anchor(_tensors(), FeatureAnchorConfig(codec="x265",
                                                                              qp=30)).stream)
    unit = next(u for u in _units(bytes(stream)) if u.unit_type == UnitType.INNER_CODEC_DATA)
    stream[unit.byte_offset + 6 + 40] ^= 0x10
    with pytest.raises(BitstreamError, match="CRC-32"):
        Decoder(inner_decoder=decode_inner_pictures).decode(bytes(stream))


def test_bad_configs_say_what_is_expected() -> None:
    with pytest.raises(EncoderInputError, match="expected one of minmax, minmax-channel"):
        FeatureAnchor(FeatureAnchorConfig(quant="qp"))
    with pytest.raises(CodecConfigError, match="bit depths \\[10\\], not 8"):
        FeatureAnchor(FeatureAnchorConfig(codec="vvenc", picture_bit_depth=8))
    with pytest.raises(EncoderInputError, match="NaN"):
        encode_feature_anchor({"x": np.full((2, 4, 4), np.nan, np.float32)})


def test_cli_anchor_encode_then_decode(tmp_path) -> None:
    src = tmp_path / "t.npz"
    np.savez(src, **{k: v[0] for k, v in _tensors().items()})
    runner = CliRunner()
    res = runner.invoke(app, ["anchor-encode", str(src), "-o", str(tmp_path / "a.vcm"),
                              "--codec", "x265", "--qp", "28", "--option", "preset=fast"])
    assert res.exit_code == 0, res.output
    assert "slice QPs read back [28]" in res.output
    res = runner.invoke(app, ["decode", str(tmp_path / "a.vcm"), "-o", str(tmp_path / "d.npz")])
    assert res.exit_code == 0, res.output and "1 hashes verified" in res.output
    res = runner.invoke(app, ["anchor-encode", str(src), "-o", str(tmp_path / "b.vcm"),
                              "--codec", "h267"])
    assert res.exit_code == 1 and "unknown codec 'h267'" in res.output
    assert not (tmp_path / "b.vcm").exists()
    res = runner.invoke(app, ["codecs"])
    assert res.exit_code == 0 and "vvenc" in res.output and "available" in res.output


def test_tensor_qp_offsets_code_each_tensor_at_its_own_qp() -> None:
    """Per-tensor bit allocation: each tensor is its own layer and picture, coded at qp +
    its offset (read back from the inner bitstream); the normative decoder decodes it."""
    tensors = _tensors(frames=2)
    result = encode_feature_anchor(tensors, FeatureAnchorConfig(
        codec="vvenc", qp=30, tensor_qp_offsets={"p3": 6, "p4": -4}))
    # layer 0 (p3) for frames 0 and 1, then layer 1 (p4)
    assert [r.slice_qps for r in result.qp_reports] == [(36,), (36,), (26,), (26,)]
    assert len(result.picture_sizes) == 2
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    assert all(f.layers == [0, 1] for f in decoded.frames)
    for name, x in decoded.stacked_tensors().items():
        assert np.array_equal(x, result.tensors[name])
    plain = encode_feature_anchor(tensors, FeatureAnchorConfig(codec="vvenc", qp=30))
    err = {name: np.abs(result.tensors[name] - tensors[name]).mean() for name in tensors}
    err0 = {name: np.abs(plain.tensors[name] - tensors[name]).mean() for name in tensors}
    assert err["p3"] > err0["p3"] and err["p4"] < err0["p4"]


@pytest.mark.parametrize(("cfg", "message"), [
    ({"tensor_qp_offsets": {"p5": 1}}, "names 'p5', which is not one of the tensors"),
    ({"tensor_qp_offsets": {"p3": 40}}, "= 70: outside vvenc's [0, 63]"),
    ({"tensor_qp_offsets": {"p3": 1}, "layers": 2}, "cannot be combined with layers > 1"),
])
def test_bad_tensor_qp_offsets_are_refused(cfg, message) -> None:
    with pytest.raises(EncoderInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        encode_feature_anchor(_tensors(), FeatureAnchorConfig(codec="vvenc", qp=30, **cfg))


def test_max_quantile_clips_the_tail_and_refines_the_bulk() -> None:
    """The signalled max is the quantile: values above it come back as it; the rest are
    reconstructed on a finer grid than with the true max; the decoder needs nothing new."""
    rng = np.random.default_rng(3)
    x = rng.exponential(0.3, (1, 8, 16, 16)).astype(np.float32)
    x[0, 0, 0, 0] = 40.0  # one outlier stretches the min/max range
    full = encode_feature_anchor({"t": x}, FeatureAnchorConfig(codec="vvenc", qp=22))
    cut = encode_feature_anchor({"t": x}, FeatureAnchorConfig(codec="vvenc", qp=22,
                                                              max_quantile=0.999))
    top = float(np.quantile(x, 0.999))
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(cut.stream)
    y = decoded.stacked_tensors()["t"]
    assert np.array_equal(y, cut.tensors["t"])
    assert y.max() <= top * 1.01 and y[0, 0, 0, 0] > 0.9 * top
    bulk = x < top
    assert (np.abs(y - x)[bulk].mean()
            < 0.5 * np.abs(full.tensors["t"] - x)[bulk].mean())


def test_quantize_counts_the_samples_clipped_by_max_quantile() -> None:
    from vcmref.refsw.encoder.encoder import EncoderConfig, build_sps

    x = np.arange(1000, dtype=np.float32).reshape(1, 10, 10, 10)
    sps = build_sps({"t": x}, EncoderConfig(bit_depth=8))
    _, _, none = quantize_tensor(x[0], sps)
    samples, _, clipped = quantize_tensor(x[0], sps, max_quantile=0.99)
    assert none == 0 and clipped == 9 and samples.max() == 255
    with pytest.raises(EncoderInputError, match="max_quantile 0.2: expected 0.5 to 1"):
        quantize_tensor(x[0], sps, max_quantile=0.2)


@pytest.mark.parametrize("how", ["mean", "chain"])
def test_channel_sort_is_signalled_and_decodes(how: str) -> None:
    from vcmref.anchors.feature_anchor import channel_order

    tensors = _tensors(frames=2)
    order = channel_order(tensors["p4"], how)
    assert sorted(order) == list(range(16))
    if how == "mean":
        means = tensors["p4"].mean(axis=(0, 2, 3))
        assert list(means[order]) == sorted(means, reverse=True)
    result = encode_feature_anchor(tensors, FeatureAnchorConfig(codec="vvenc", qp=30,
                                                                channel_sort=how))
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(result.stream)
    assert decoded.sps.tile_layouts[1].channel_order == order
    for name, x in decoded.stacked_tensors().items():
        assert np.array_equal(x, result.tensors[name])
        assert np.abs(x - tensors[name]).max() < 0.5 * np.ptp(tensors[name])


def test_unknown_channel_sort_is_refused() -> None:
    with pytest.raises(EncoderInputError, match="channel_sort 'size': expected one of mean, "
                       "chain"):
        encode_feature_anchor(_tensors(), FeatureAnchorConfig(codec="vvenc", channel_sort="size"))


def test_tensor_range_offsets_coarsen_one_tensor_inside_one_picture() -> None:
    """A range widened by 2^(6/6) = 2 puts the tensor's samples in the lower half of the
    levels (one picture, one QP, ordinary min/max in the stream) and coarsens it alone."""
    tensors = _tensors()
    plain = encode_feature_anchor(tensors, FeatureAnchorConfig(codec="vvenc", qp=24))
    wide = encode_feature_anchor(tensors, FeatureAnchorConfig(
        codec="vvenc", qp=24, tensor_range_offsets={"p3": 6}))
    assert len(wide.picture_sizes) == 1 and [r.slice_qps for r in wide.qp_reports] == [(24,)]
    decoded = Decoder(inner_decoder=decode_inner_pictures).decode(wide.stream)
    coded, _, _ = quantize_tensor(tensors["p3"][0], decoded.sps, range_scale=2.0)
    assert coded.max() in (511, 512)  # 1023 / 2, rounded: the lower half of the levels
    samples = decoded.frames[0].samples  # the same, plus the inner codec's error
    assert samples["p3"].max() < 600 and samples["p4"].max() > 1000
    for name, x in decoded.stacked_tensors().items():
        assert np.array_equal(x, wide.tensors[name])

    def err(result, name):
        return float(np.abs(result.tensors[name] - tensors[name]).mean())

    assert err(wide, "p3") > 1.3 * err(plain, "p3")
    assert err(wide, "p4") == pytest.approx(err(plain, "p4"), rel=0.2)


@pytest.mark.parametrize(("offsets", "message"), [
    ({"p9": 6}, "names 'p9', which is not one of the tensors"),
    ({"p3": -6}, r"tensor_range_offsets\['p3'\] -6: expected an integer from 0 to 60"),
])
def test_bad_tensor_range_offsets_are_refused(offsets, message) -> None:
    with pytest.raises(EncoderInputError, match=message):
        encode_feature_anchor(_tensors(), FeatureAnchorConfig(codec="vvenc",
                                                              tensor_range_offsets=offsets))
