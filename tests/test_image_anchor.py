"""The image anchor and the still-image codecs, with real encodes by the bundled ffmpeg."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip(
    "imageio_ffmpeg",
    reason="imageio-ffmpeg is not installed (pip install '.[bench]'); it ships the ffmpeg binary",
)

from vcmref.anchors.codec import CodecConfigError  # noqa: E402
from vcmref.anchors.image_anchor import code_image, psnr  # noqa: E402
from vcmref.anchors.image_codecs import (  # noqa: E402
    code_feature_tensor,
    dequantize_tensor,
    get_image_codec,
    quantize_tensor,
    tile_channels,
    untile_channels,
)
from vcmref.anchors.registry import get_codec  # noqa: E402
from vcmref.media import color  # noqa: E402
from vcmref.media.process import ToolError  # noqa: E402


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth synthetic RGB image with some texture, uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w]
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = x * 255.0 / w
    b = y * 255.0 / h + rng.normal(0, 6, y.shape)
    return np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(48, 64), (17, 33)])
@pytest.mark.parametrize("codec, bit_depth, matrix, full_range", [
    ("vvenc", 10, "bt709", False), ("x265", 8, "bt601", True)])
def test_video_codec_psnr_rises_as_qp_drops(size, codec, bit_depth, matrix, full_range) -> None:
    rgb = _image(*size)
    results = [code_image(rgb, codec, qp, matrix=matrix, full_range=full_range,
                          bit_depth=bit_depth) for qp in (37, 22)]
    values = [psnr(r.decoded_rgb, rgb, 255) for r in results]
    assert 25 < values[0] < values[1] < 60
    assert results[0].bits < results[1].bits
    for r in results:
        h, w = size
        assert r.decoded_rgb.shape == rgb.shape and r.decoded_rgb.dtype == np.uint8
        assert r.decoded.planes[0].shape == (1, h, w)
        assert r.decoded.planes[1].shape == (1, (h + 1) // 2, (w + 1) // 2)
        assert r.padded == (h % 2 == 1 or w % 2 == 1)
        assert r.bpp == r.bits / (h * w) and r.bits == 8 * len(r.bitstream)
        assert r.qp_report is not None and set(r.qp_report.slice_qps) == {r.qp}


@pytest.mark.parametrize("size", [(48, 64), (17, 33)])
def test_x265_lossless_444_error_is_the_colour_conversion_error(size) -> None:
    rgb = _image(*size, seed=1)
    kw = dict(matrix="bt709", full_range=False, bit_depth=8, chroma="444")
    r = code_image(rgb, get_codec("x265", lossless=True), 0, **kw)
    conversion_only = color.ycbcr_to_rgb(color.rgb_to_ycbcr(rgb, **kw), **kw)
    assert r.source.same_samples(r.decoded)
    assert np.array_equal(r.decoded_rgb, conversion_only)
    assert not np.array_equal(conversion_only, rgb)  # 8-bit limited range loses levels


def test_png_lossless_round_trips() -> None:
    rng = np.random.default_rng(2)
    png = get_image_codec("png")
    for image, bit_depth in [(rng.integers(0, 65536, (17, 33), dtype=np.uint16), 16),
                             (rng.integers(0, 1024, (17, 33), dtype=np.uint16), 10),
                             (rng.integers(0, 256, (17, 33, 3), dtype=np.uint8), 8),
                             (rng.integers(0, 65536, (9, 5, 3), dtype=np.uint16), 16)]:
        r = png.code(image, bit_depth)
        assert r.decoded.dtype == image.dtype and np.array_equal(r.decoded, image)
        assert r.bits == 8 * len(r.bitstream) and r.bitstream[:8] == b"\x89PNG\r\n\x1a\n"


def test_jpeg_rate_falls_with_stronger_compression() -> None:
    rgb = _image(48, 64, seed=3)
    for chroma in ("420", "444"):
        coded = [get_image_codec("jpeg", q=q, chroma=chroma).code(rgb) for q in (2, 8, 31)]
        bits = [c.bits for c in coded]
        assert bits[0] > bits[1] > bits[2]
        assert psnr(coded[0].decoded, rgb, 255) > psnr(coded[2].decoded, rgb, 255) > 20
        assert coded[0].bitstream[:2] == b"\xff\xd8"
    grey = get_image_codec("jpeg", q=2).code(rgb[..., 1])
    assert grey.decoded.shape == (48, 64) and psnr(grey.decoded, rgb[..., 1], 255) > 35


def test_jpeg2000_rate_falls_and_lossless_is_exact() -> None:
    rgb = _image(48, 64, seed=4)
    bits = [get_image_codec("jpeg2000", ratio=r).code(rgb).bits for r in (4, 8, 16)]
    assert bits[0] > bits[1] > bits[2]
    rng = np.random.default_rng(5)
    for image, bit_depth in [(rng.integers(0, 1024, (17, 33), dtype=np.uint16), 10),
                             (rng.integers(0, 1024, (17, 33, 3), dtype=np.uint16), 10),
                             (rng.integers(0, 65536, (17, 33), dtype=np.uint16), 16)]:
        r = get_image_codec("jpeg2000").code(image, bit_depth)
        assert r.decoded.dtype == np.uint16 and np.array_equal(r.decoded, image)
    smooth = rgb[..., 0].astype(np.uint16) * 257
    lossy = get_image_codec("jpeg2000", ratio=6).code(smooth, 16)
    assert 30 < psnr(lossy.decoded, smooth, 65535) < 100


def test_jpeg2000_codes_rgb_photographs_as_ycbcr() -> None:
    from skimage import data

    rgb = data.astronaut()[:256, :256]
    coded = get_image_codec("jpeg2000", ratio=48).code(rgb)
    assert coded.decoded.shape == rgb.shape and coded.decoded.dtype == np.uint8
    # against R, G and B coded apart at the same ratio (what libopenjpeg does with RGB input)
    apart = [get_image_codec("jpeg2000", ratio=48).code(np.ascontiguousarray(rgb[..., k]))
             for k in range(3)]
    separate = np.stack([a.decoded for a in apart], axis=-1)
    assert coded.bits <= 1.05 * sum(a.bits for a in apart)
    assert psnr(coded.decoded, rgb, 255) > psnr(separate, rgb, 255) + 1.0


def test_tiling_round_trip() -> None:
    samples = np.arange(5 * 2 * 3, dtype=np.uint16).reshape(5, 2, 3)
    tiled = tile_channels(samples)
    assert tiled.shape == (4, 9)  # 3 columns, 2 rows of 2x3 cells
    assert tiled[0, :3].tolist() == [0, 1, 2] and tiled[0, 3:6].tolist() == [6, 7, 8]
    assert np.all(tiled[2:, 6:] == 0)
    assert np.array_equal(untile_channels(tiled, 5, 2, 3), samples)


def test_feature_tensor_mse_falls_with_quality() -> None:
    tensor = np.random.default_rng(6).standard_normal((16, 12, 10)).astype(np.float32)
    jpeg = [code_feature_tensor(tensor, "jpeg", q) for q in (31, 8, 2)]
    assert jpeg[0].mse > jpeg[1].mse > jpeg[2].mse
    assert jpeg[0].bits < jpeg[1].bits < jpeg[2].bits
    j2k = [code_feature_tensor(tensor, "jpeg2000", r, bit_depth=10) for r in (16, 4, 0)]
    assert j2k[0].mse > j2k[1].mse > j2k[2].mse
    for bit_depth in (8, 16):
        r = code_feature_tensor(tensor, "png", bit_depth=bit_depth)
        q, lo, hi = quantize_tensor(tensor, bit_depth)
        assert np.array_equal(r.reconstruction, dequantize_tensor(q, lo, hi, bit_depth))
        assert r.mse <= ((hi - lo) / ((1 << bit_depth) - 1)) ** 2 / 4
        assert r.bits == r.coded.bits + 64
        assert r.bits_per_sample == r.bits / tensor.size
        assert r.reconstruction.dtype == np.float32 and r.reconstruction.shape == tensor.shape


def test_quantization_formula_and_flat_tensor() -> None:
    t = np.array([[[0.0, 127.5, 255.0, 0.5, 1.5, 2.4]]], np.float32)
    q, lo, hi = quantize_tensor(t, 8)  # halves round away from zero
    assert (lo, hi) == (0.0, 255.0) and q.tolist() == [[[0, 128, 255, 1, 2, 2]]]
    flat = np.full((3, 4, 5), 2.5, np.float32)
    r = code_feature_tensor(flat, "png")
    assert r.mse == 0.0 and np.all(r.reconstruction == 2.5)


@pytest.mark.parametrize("call, error, match", [
    (lambda: get_image_codec("png").code(np.zeros((4, 4), np.float32)), ValueError, "dtype"),
    (lambda: get_image_codec("png").code(np.zeros((4, 4, 4), np.uint8)), ValueError, "shape"),
    (lambda: get_image_codec("png").code(np.full((4, 4), 1024, np.uint16), 10), ValueError,
     "above 1023"),
    (lambda: get_image_codec("jpeg").code(np.zeros((4, 4), np.uint16)), CodecConfigError,
     "8-bit"),
    (lambda: get_image_codec("jpeg", q=1), CodecConfigError, r"\[2, 31\]"),
    (lambda: get_image_codec("jpeg2000", ratio=3), CodecConfigError, "even"),
    (lambda: get_image_codec("jpeg2000").code(np.zeros((4, 4), np.uint16), 9),
     CodecConfigError, "bit depths"),
    (lambda: get_image_codec("webp"), CodecConfigError, "unknown image codec"),
    (lambda: get_image_codec("png", q=3), CodecConfigError, "no option q"),
    (lambda: code_feature_tensor(np.full((2, 3, 3), np.nan, np.float32), "png"), ValueError,
     "NaN"),
    (lambda: code_feature_tensor(np.zeros((3, 3), np.float32), "png"), ValueError, "shape"),
    (lambda: code_feature_tensor(np.zeros((2, 3, 3), np.float32), "png", 5), CodecConfigError,
     "no quality"),
    (lambda: code_image(_image(8, 8), "x265", 30, matrix="bt2020", full_range=False,
                        bit_depth=8), ValueError, "unknown matrix"),
    (lambda: code_image(_image(8, 8), "vvenc", 30, matrix="bt709", full_range=False,
                        bit_depth=8), CodecConfigError, "bit depths"),
    (lambda: code_image(_image(8, 8).astype(np.int32), "x265", 30, matrix="bt709",
                        full_range=False, bit_depth=8), ValueError, "dtype"),
])
def test_bad_input(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_decoded_format_mismatch_is_a_tool_error() -> None:
    png = get_image_codec("png")
    data, _, _ = png.encode(np.zeros((4, 4), np.uint8))
    with pytest.raises(ToolError, match="pixel format gray, expected gray16be"):
        png.decode(data, np.zeros((4, 4), np.uint16))
    with pytest.raises(ToolError, match="jpeg2000 decode"):
        get_image_codec("jpeg2000").decode(data, np.zeros((4, 4), np.uint8))
