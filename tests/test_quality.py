"""PSNR, MS-SSIM, feature and VMAF metrics: known values, conventions, cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vcmref.assets import shared_dir
from vcmref.eval.quality import (
    MS_SSIM_WEIGHTS,
    _downsample,
    _ssim_cs,
    feature_mse,
    feature_psnr,
    has_libvmaf,
    ms_ssim,
    mse,
    peak_for,
    psnr,
    psnr_rgb,
    psnr_ycbcr,
    ssim,
    vmaf,
)
from vcmref.media.ffmpeg_tool import ffmpeg_exe
from vcmref.media.process import ToolError, run_tool
from vcmref.media.yuv import ChromaFormat, YuvSequence

KODIM01 = shared_dir() / "data" / "kodak" / "kodim01.png"


@pytest.fixture(scope="module")
def kodak_rgb() -> np.ndarray:
    """kodim01 as (512, 768, 3) uint8, decoded by ffmpeg without pixel-format conversion."""
    if not KODIM01.is_file():
        pytest.skip(f"shared Kodak assets not found at {KODIM01} (set VCMREF_SHARED)")
    try:
        out = run_tool([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i",
                        str(KODIM01), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                       what="ffmpeg png decode", timeout=60).stdout
    except ToolError as exc:
        pytest.skip(f"cannot decode {KODIM01}: {exc}")
    return np.frombuffer(out, np.uint8).reshape(512, 768, 3)


@pytest.fixture(scope="module")
def kodak_luma(kodak_rgb) -> np.ndarray:
    r, g, b = (kodak_rgb[..., c].astype(np.float64) for c in range(3))
    return np.round(0.2126 * r + 0.7152 * g + 0.0722 * b)  # float64 codes 0..255


# ---- PSNR --------------------------------------------------------------------------------------


def test_peak_conventions():
    assert peak_for(8) == 255 and peak_for(10) == 1023 and peak_for(16) == 65535
    assert peak_for(8, "vtm") == 255 and peak_for(10, "vtm") == 1020
    assert peak_for(12, "vtm") == 4080
    with pytest.raises(ValueError, match=">= 8"):
        peak_for(6, "vtm")
    with pytest.raises(ValueError, match="'full' or 'vtm'"):
        peak_for(8, "hm")
    with pytest.raises(ValueError, match=r"\[1, 16\]"):
        peak_for(17)


@pytest.mark.parametrize("e", [1, 3, 10])
@pytest.mark.parametrize("peak", [255, 1020, 1023])
def test_psnr_constant_error(e, peak):
    a = np.full((4, 6), 100, np.uint16)
    b = a.copy()
    b[::2] += e
    b[1::2] -= e  # |error| = e everywhere
    assert mse(a, b) == e * e
    assert psnr(a, b, peak) == pytest.approx(10 * math.log10(peak**2 / e**2), abs=1e-12)


def test_psnr_identical_is_inf():
    a = np.arange(12).reshape(3, 4)
    assert psnr(a, a, 255) == math.inf


def test_psnr_ycbcr_weighted_and_conventions():
    y = np.full((8, 8), 512, np.uint16)
    c = np.full((4, 4), 512, np.uint16)
    ya, cba, cra = y + 2, c + 4, c - 8  # constant errors 2, 4, 8 in a 10-bit 4:2:0 picture
    for conv, peak in (("full", 1023), ("vtm", 1020)):
        r = psnr_ycbcr((y, c, c), (ya, cba, cra), 10, convention=conv)
        want = [10 * math.log10(peak**2 / e**2) for e in (2, 4, 8)]
        assert r.peak == peak
        assert (r.y, r.cb, r.cr) == pytest.approx(want, abs=1e-12)
        assert r.weighted == pytest.approx((6 * want[0] + want[1] + want[2]) / 8, abs=1e-12)
    # 1020 vs 1023: a fixed offset of 20 log10(1023/1020) dB
    full = psnr_ycbcr((y, c, c), (ya, cba, cra), 10)
    vtm = psnr_ycbcr((y, c, c), (ya, cba, cra), 10, convention="vtm")
    assert full.y - vtm.y == pytest.approx(20 * math.log10(1023 / 1020), abs=1e-12)
    other = psnr_ycbcr((y, c, c), (ya, cba, cra), 10, weights=(4, 1, 1))
    assert other.weighted == pytest.approx((4 * full.y + full.cb + full.cr) / 6, abs=1e-12)
    mono = psnr_ycbcr((y,), (ya,), 10)
    assert mono.weighted == mono.y and mono.cb is None


def test_psnr_ycbcr_sequence_is_mean_of_frame_psnrs():
    y = np.full((3, 8, 8), 100, np.uint8)
    yb = y.copy()
    yb[0] += 1
    yb[1] += 2  # frame 2 identical
    r = psnr_ycbcr((y,), (yb,), 8, identical=999.99)
    assert r.y == pytest.approx((48.130803608679 + 42.110203695399 + 999.99) / 3, abs=1e-9)
    assert psnr_ycbcr((y,), (yb,), 8).y == math.inf


def test_psnr_rgb_pools_the_channel_mse():
    a = np.full((4, 4, 3), 128, np.uint8)
    b = a + np.array([1, 2, 3], np.uint8)
    r = psnr_rgb(a, b)
    assert r.rgb == pytest.approx(10 * math.log10(255**2 / ((1 + 4 + 9) / 3)), abs=1e-12)
    assert (r.r, r.g, r.b) == pytest.approx(
        [10 * math.log10(255**2 / e**2) for e in (1, 2, 3)], abs=1e-12)
    seq = psnr_rgb(np.stack([a, a]), np.stack([b, b]))
    assert seq.rgb == pytest.approx(r.rgb, abs=1e-12)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: psnr(np.zeros((2, 2)), np.zeros((2, 3)), 255), ValueError, "expected equal shapes"),
    (lambda: psnr(np.array([[np.nan]]), np.zeros((1, 1)), 255), ValueError, "NaN or Inf"),
    (lambda: psnr(np.zeros(2, bool), np.zeros(2, bool), 255), TypeError, "integer or float"),
    (lambda: psnr(np.zeros(2, complex), np.zeros(2), 255), TypeError, "integer or float"),
    (lambda: psnr(np.zeros(2), np.zeros(2), 0), ValueError, "positive finite"),
    (lambda: psnr(np.zeros(0), np.zeros(0), 1), ValueError, "empty"),
    (lambda: psnr_ycbcr([np.zeros((2, 2))], [np.zeros((2, 2))], 8), TypeError, "integer sample"),
    (lambda: psnr_ycbcr([np.full((2, 2), 300)], [np.zeros((2, 2), int)], 8), ValueError,
     r"expected \[0, 255\]"),
    (lambda: psnr_ycbcr([np.zeros((2, 2), int)] * 2, [np.zeros((2, 2), int)] * 2, 8),
     ValueError, "expected 3"),
    (lambda: psnr_ycbcr([np.zeros((2, 4, 4), int), np.zeros((1, 2, 2), int),
                         np.zeros((1, 2, 2), int)], [np.zeros((2, 4, 4), int),
                         np.zeros((1, 2, 2), int), np.zeros((1, 2, 2), int)], 8),
     ValueError, "expected 2"),
    (lambda: psnr_rgb(np.zeros((2, 2), int), np.zeros((2, 2), int)), ValueError,
     r"\(height, width, 3\)"),
])
def test_bad_input_one_line_errors(call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "\n" not in str(info.value)


# ---- SSIM / MS-SSIM ----------------------------------------------------------------------------


def test_ssim_matches_scikit_image_at_every_scale(kodak_luma):
    """Window, constants and 'valid' statistics cross-checked against scikit-image's SSIM
    (gaussian_weights, sigma 1.5, population covariance) on each of the 5 MS-SSIM scales."""
    skm = pytest.importorskip("skimage.metrics", reason="scikit-image is not installed")
    rng = np.random.default_rng(1)
    x = kodak_luma[:256, :384]
    y = np.clip(x + rng.normal(0, 10, x.shape), 0, 255).round()
    assert ssim(x, y, 255) == pytest.approx(_ssim_cs(x, y, 255.0)[0], abs=0)
    for _ in range(len(MS_SSIM_WEIGHTS)):
        ref = skm.structural_similarity(x, y, data_range=255, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False)
        assert _ssim_cs(x, y, 255.0)[0] == pytest.approx(ref, abs=1e-12)
        x, y = _downsample(x), _downsample(y)
    assert x.shape == (8, 12)  # after the 5th scale (16x24)


def test_ms_ssim_identical_monotone_and_composition(kodak_luma):
    x = kodak_luma[128:384, 192:576]
    assert ms_ssim(x, x, 255) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1, x.shape)
    values = [ms_ssim(x, np.clip(x + s * noise, 0, 255), 255) for s in (2, 5, 10, 20)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert 0.5 < values[-1] < values[0] < 1
    # the product of the per-scale terms, by hand
    y = np.clip(x + 5 * noise, 0, 255)
    prod, xs, ys = 1.0, x, y
    for j, w in enumerate(MS_SSIM_WEIGHTS):
        s, cs = _ssim_cs(xs, ys, 255.0)
        prod *= (s if j == 4 else cs) ** w
        xs, ys = _downsample(xs), _downsample(ys)
    assert ms_ssim(x, y, 255) == pytest.approx(prod, abs=1e-15)
    # 3 scales need sides >= 44 only
    assert 0 < ms_ssim(x[:64, :64], y[:64, :64], 255, weights=(0.3, 0.3, 0.4)) < 1


def test_ms_ssim_rgb_is_mean_over_channels(kodak_rgb):
    x = kodak_rgb[:192, :256].astype(np.float64)
    y = np.clip(x + np.random.default_rng(3).normal(0, 8, x.shape), 0, 255)
    per = [ms_ssim(x[..., c], y[..., c], 255) for c in range(3)]
    assert ms_ssim(x, y, 255, channel_axis=-1) == pytest.approx(np.mean(per), abs=1e-15)


def test_ms_ssim_small_picture_is_a_clear_error():
    a = np.zeros((64, 200))
    with pytest.raises(ValueError, match=r"200x64.*need both sides >= 176"):
        ms_ssim(a, a, 255)
    with pytest.raises(ValueError, match="expected a \\(height, width\\) plane"):
        ms_ssim(np.zeros((200, 200, 3)), np.zeros((200, 200, 3)), 255)
    with pytest.raises(ValueError, match=">= 11"):
        ssim(np.zeros((8, 20)), np.zeros((8, 20)), 255)


# ---- features ----------------------------------------------------------------------------------


def test_feature_psnr_on_real_features(real_features):
    x = real_features["dark3"] if "dark3" in real_features else next(iter(real_features.values()))
    e = 0.01
    y = x + np.where(np.arange(x.size).reshape(x.shape) % 2, e, -e).astype(np.float32)
    err = feature_mse(x, y)
    assert err == pytest.approx(e * e, rel=1e-4)  # float32 rounding of x +- e
    peak = float(x.max()) - float(x.min())
    assert feature_psnr(x, y) == pytest.approx(10 * math.log10(peak**2 / err), abs=1e-9)
    assert feature_psnr(x, y, peak=1.0) == pytest.approx(10 * math.log10(1 / err), abs=1e-9)
    assert feature_psnr(x, x) == math.inf
    with pytest.raises(ValueError, match="constant"):
        feature_psnr(np.ones(4), np.zeros(4))


# ---- VMAF --------------------------------------------------------------------------------------


def _pattern(frames: int, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    base = 128 + 60 * np.sin(yy / 3.0) * np.cos(xx / 5.0)
    return np.stack([np.roll(base, 2 * i, axis=1) for i in range(frames)]).astype(np.uint8)


@pytest.fixture(scope="module")
def libvmaf():
    if not has_libvmaf():
        pytest.skip("the ffmpeg of imageio-ffmpeg has no libvmaf filter")


def test_vmaf_identical_high_noisy_lower(libvmaf):
    ref = _pattern(3, 64)
    same = vmaf(ref, ref, bit_depth=8)
    assert same.mean > 95 and len(same.per_frame) == 3 and same.model == "version=vmaf_v0.6.1"
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (4, 16):
        dist = np.clip(ref + rng.normal(0, sigma, ref.shape), 0, 255).astype(np.uint8)
        scores.append(vmaf(ref, dist, bit_depth=8).mean)
    assert same.mean > scores[0] > scores[1]
    # a 10-bit 4:2:0 sequence carrying the same luma scores the same (luma-only model)
    seq10 = YuvSequence((ref.astype(np.uint16) << 2, np.full((3, 32, 32), 512, np.uint16),
                         np.full((3, 32, 32), 512, np.uint16)), ChromaFormat.YUV420, 10)
    assert vmaf(seq10, seq10).mean == pytest.approx(same.mean, abs=1e-3)


def test_vmaf_input_errors():
    a = _pattern(1, 64)
    with pytest.raises(ValueError, match=">= 32"):
        vmaf(a[:, :16, :16], a[:, :16, :16], bit_depth=8)
    with pytest.raises(ValueError, match="expected the same"):
        vmaf(a, _pattern(2, 64), bit_depth=8)
    with pytest.raises(ValueError, match="bit_depth is needed"):
        vmaf(a, a)
    with pytest.raises(TypeError, match="integer luma"):
        vmaf(a.astype(float), a.astype(float), bit_depth=8)
    with pytest.raises(ValueError, match="one of"):
        vmaf(a.astype(np.uint16), a.astype(np.uint16), bit_depth=12)
    with pytest.raises(ValueError, match="model"):
        vmaf(a, a, bit_depth=8, model="version=vmaf_v0.6.1:log_path=/tmp/x")
