"""The JPEG AI metric set (vcmref.eval.iqa): reference values of the tools JPEG AI and the field
use, identities, monotonicity, input errors, the CTC registration and BD direction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vcmref.assets import shared_dir
from vcmref.eval.iqa.fsim import fsim, fsim_downsample_factor
from vcmref.eval.iqa.iw_ssim import IW_SSIM_WEIGHTS, iw_ssim, laplacian_pyramid
from vcmref.eval.iqa.jpeg_ai import JPEG_AI_METRICS, jpeg_ai_planes, psnr_yuv_jpeg_ai
from vcmref.eval.iqa.nlpd import nlpd
from vcmref.eval.iqa.psnr_hvs import psnr_hvs, psnr_hvs_m
from vcmref.eval.iqa.vif import vif
from vcmref.eval.quality import has_libvmaf, ms_ssim, psnr
from vcmref.registry import METRICS

KODIM01 = shared_dir() / "data" / "kodak" / "kodim01.png"


def distort(rgb: np.ndarray, step: int) -> np.ndarray:
    """3x3 box blur (edges replicated) then quantisation to multiples of `step`, all in integers
    (so the same bytes on every machine): round(box_sum / (9 step)) * step, clipped to 255."""
    p = np.pad(rgb.astype(np.int64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    s = sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3))
    return np.clip((s + 9 * step // 2) // (9 * step) * step, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def kodim01() -> np.ndarray:
    if not KODIM01.is_file():
        pytest.skip(f"shared Kodak assets not found at {KODIM01} (set VCMREF_SHARED)")
    from PIL import Image

    with Image.open(KODIM01) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, np.ndarray]:
    """A 256x256 crop of scikit-image's astronaut: R'G'B' and its BT.709 8-bit luma (float)."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[64:320, 128:384])
    return rgb, jpeg_ai_planes(rgb, 8).y


# ---- reference values --------------------------------------------------------------------------
# Inputs: kodim01.png (768x512) and distort(kodim01, 12), both converted by jpeg_ai_planes
# (10 bits; identical, sample for sample, to the JPEG AI reference software's float32 conversion
# in metrics.py: 0 of 393216 Y, Cb, Cr codes differ). Reference tools, run on those planes
# (Y / 1023 in [0, 1] for IQA_pytorch and psnr_hvsm, codes with data_range=1023 for piq and
# pytorch_msssim), torch 2.13 CPU: IQA_pytorch 0.1 (what JPEG AI's reference software calls;
# float32 as there), piq 0.8.0 (float64), psnr_hvsm 0.3.0 (numpy and C++ backends agree),
# pytorch_msssim 1.0.0 (float64 input).
REF = {
    "vif_iqa_pytorch_f32": 0.352303355932, "vif_piq": 0.352303470025,
    "fsimc_iqa_pytorch_f32": 0.958961069584, "fsimc_piq": 0.958960817578,
    "fsim_y_piq": 0.958141910683, "fsim_y_iqa_pytorch_f32": 0.958141744137,
    "nlpd_iqa_pytorch_f32": 0.212795257568, "nlpd_iqa_pytorch_f64": 0.212795259920,
    "iw_ssim_piq": 0.960506092495,
    "psnr_hvs_psnr_hvsm": 23.988744316010, "psnr_hvs_m_psnr_hvsm": 27.288522288873,
    "ms_ssim_pytorch_msssim": 0.955124050411,
    "psnr_y_jpeg_ai_f32": 25.223782463844, "psnr_yuv_jpeg_ai_f32": 29.075120638427,
}


@pytest.fixture(scope="module")
def kodak_pair(kodim01):
    return jpeg_ai_planes(kodim01), jpeg_ai_planes(distort(kodim01, 12)), kodim01


def test_vif_matches_iqa_pytorch_and_piq(kodak_pair):
    a, b, _ = kodak_pair
    v = vif(a.y, b.y, a.peak)
    assert abs(v - REF["vif_piq"]) < 1e-8
    assert abs(v - REF["vif_iqa_pytorch_f32"]) < 1e-6


def test_fsim_matches_iqa_pytorch_and_piq(kodak_pair):
    a, b, _ = kodak_pair
    c = fsim(a.rgb, b.rgb, a.peak, chromatic=True)
    assert abs(c - REF["fsimc_iqa_pytorch_f32"]) < 1e-7  # same YIQ coefficients (FeatureSIM.m)
    assert abs(c - REF["fsimc_piq"]) < 1e-6  # piq's YIQ rows are rounded otherwise
    y = fsim(a.y, b.y, a.peak)
    assert abs(y - REF["fsim_y_piq"]) < 1e-7
    assert abs(y - REF["fsim_y_iqa_pytorch_f32"]) < 1e-6


def test_nlpd_matches_iqa_pytorch(kodak_pair):
    a, b, _ = kodak_pair
    d = nlpd(a.y, b.y, a.peak)
    assert abs(d - REF["nlpd_iqa_pytorch_f64"]) < 1e-8
    assert abs(d - REF["nlpd_iqa_pytorch_f32"]) < 1e-8


def test_iw_ssim_matches_piq_up_to_its_weight_normalisation(kodak_pair):
    a, b, _ = kodak_pair
    v = iw_ssim(a.y, b.y, a.peak)
    # piq divides the scale weights by their sum (1.0001); iwssim.m does not
    assert abs(v ** (1.0 / sum(IW_SSIM_WEIGHTS)) - REF["iw_ssim_piq"]) < 1e-9
    assert abs(v - REF["iw_ssim_piq"]) < 1e-5


def test_psnr_hvs_matches_psnr_hvsm(kodak_pair):
    a, b, _ = kodak_pair
    assert abs(psnr_hvs(a.y, b.y, a.peak) - REF["psnr_hvs_psnr_hvsm"]) < 1e-9
    assert abs(psnr_hvs_m(a.y, b.y, a.peak) - REF["psnr_hvs_m_psnr_hvsm"]) < 1e-9


def test_psnr_and_ms_ssim_match_jpeg_ai(kodak_pair):
    a, b, rgb = kodak_pair
    assert abs(ms_ssim(a.y, b.y, a.peak) - REF["ms_ssim_pytorch_msssim"]) < 1e-6
    # the reference keeps codes / 1023 in float32: its PSNRs carry ~1e-7 dB of that
    assert abs(psnr(a.y, b.y, a.peak) - REF["psnr_y_jpeg_ai_f32"]) < 1e-5
    yuv = psnr_yuv_jpeg_ai(rgb, distort(rgb, 12))
    assert abs(yuv.weighted - REF["psnr_yuv_jpeg_ai_f32"]) < 1e-5
    assert yuv.peak == 1023 and yuv.weights == (6.0, 1.0, 1.0)


# ---- the JPEG AI conversion ------------------------------------------------------------------


def test_jpeg_ai_planes_codes():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]], np.uint8)
    p10 = jpeg_ai_planes(rgb)
    assert p10.bit_depth == 10 and p10.peak == 1023
    # black: Cb' = Cr' = 1/2 exactly, the code 511.5, rounded half to even
    assert (p10.y[0, 0], p10.cb[0, 0], p10.cr[0, 0]) == (0, 512, 512)
    # red: Y' = 0.2126 -> 217.49 -> 217; Cr' = 1 -> 1023; Cb' = 0.5 - 0.2126/1.8556 -> 394
    assert (p10.y[0, 2], p10.cb[0, 2], p10.cr[0, 2]) == (217, 394, 1023)
    assert (p10.y[0, 3], p10.cb[0, 3]) == (74, 1023)  # blue: 0.0722 x 1023 = 73.86
    assert p10.y[0, 1] == 1023 and p10.rgb.shape == (1, 4, 3) and p10.rgb[0, 1, 0] == 1023
    p8 = jpeg_ai_planes(rgb, 8)
    assert (p8.y[0, 0], p8.cb[0, 0]) == (0, 128)  # 127.5 -> 128
    assert np.array_equal(p8.rgb, rgb.astype(np.float64))
    assert p10.codes()[0].dtype == np.uint16


def test_jpeg_ai_planes_errors():
    with pytest.raises(TypeError, match="expected uint8"):
        jpeg_ai_planes(np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ValueError, match="expected a non-empty"):
        jpeg_ai_planes(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="bit_depth"):
        jpeg_ai_planes(np.zeros((4, 4, 3), np.uint8), 7)


# ---- identities and monotonicity -------------------------------------------------------------


def test_identical_pictures(astronaut):
    rgb, y = astronaut
    assert abs(vif(y, y, 255) - 1.0) < 1e-9
    assert fsim(y, y, 255) == pytest.approx(1.0, abs=1e-12)
    assert fsim(rgb, rgb, 255, chromatic=True) == pytest.approx(1.0, abs=1e-12)
    assert iw_ssim(y, y, 255) == pytest.approx(1.0, abs=1e-12)
    assert nlpd(y, y, 255) == 0.0
    assert psnr_hvs(y, y, 255) == math.inf and psnr_hvs_m(y, y, 255) == math.inf


def test_more_distortion_scores_worse(astronaut):
    rgb, _ = astronaut
    planes = [jpeg_ai_planes(distort(rgb, s), 8) for s in (3, 12, 40)]
    ref = jpeg_ai_planes(rgb, 8)
    for f in (vif, iw_ssim, psnr_hvs, psnr_hvs_m, fsim):
        v = [f(ref.y, p.y, 255) for p in planes]
        assert v[0] > v[1] > v[2], (f.__name__, v)
    c = [fsim(ref.rgb, p.rgb, 255, chromatic=True) for p in planes]
    assert c[0] > c[1] > c[2]
    d = [nlpd(ref.y, p.y, 255) for p in planes]
    assert 0 < d[0] < d[1] < d[2]  # a distance: lower is better


def test_peak_scales_the_input(astronaut):
    _, y = astronaut
    z = np.clip(y + np.where(np.arange(y.size).reshape(y.shape) % 7 == 0, 9.0, -3.0), 0, 255)
    for f in (vif, iw_ssim, nlpd, psnr_hvs_m, fsim):
        assert f(y / 255, z / 255, 1.0) == pytest.approx(f(y, z, 255), rel=1e-9), f.__name__
    assert psnr_hvs(y * 4, z * 4, 1020) == pytest.approx(psnr_hvs(y, z, 255), abs=1e-9)


def test_psnr_hvs_pads_to_multiples_of_8(astronaut):
    _, y = astronaut
    z = np.clip(y + (np.arange(y.size).reshape(y.shape) % 5) - 2.0, 0, 255)
    a, b = y[:250, :251], z[:250, :251]
    pa, pb = (np.pad(x, ((0, 6), (0, 5)), mode="edge") for x in (a, b))
    assert psnr_hvs_m(a, b, 255) == psnr_hvs_m(pa, pb, 255)
    assert psnr_hvs(a, b, 255) == psnr_hvs(pa, pb, 255)


def test_fsim_downsample_factor():
    assert fsim_downsample_factor(512, 768) == 2  # Kodak
    assert fsim_downsample_factor(2000, 1744) == 7
    assert fsim_downsample_factor(100, 100) == 1
    assert fsim_downsample_factor(640, 900) == 2  # 2.5 rounds half to even (IQA_pytorch, piq)


def test_laplacian_pyramid_reconstructs_and_shapes():
    x = np.random.default_rng(3).random((37, 52)) * 255
    pyr = laplacian_pyramid(x, 4)
    assert [p.shape for p in pyr] == [(37, 52), (19, 26), (10, 13), (5, 7)]
    # each low-pass level gains 2 (sqrt(2) per axis): the residual's mean is 8 x the picture's
    assert pyr[-1].mean() == pytest.approx(8 * x.mean(), rel=0.05)


# ---- input errors (one line each) ------------------------------------------------------------


@pytest.mark.parametrize("f", [vif, fsim, nlpd, iw_ssim, psnr_hvs, psnr_hvs_m])
def test_input_errors(f):
    a = np.full((200, 200), 100.0)
    bad = a.copy()
    bad[3, 3] = np.nan
    cases = [
        (ValueError, "shapes .* differ", (a, a[:, :199], 255)),
        (ValueError, "NaN or Inf", (a, bad, 255)),
        (TypeError, "dtype bool", (a > 0, a > 0, 255)),
        (TypeError, "dtype complex", (a.astype(complex), a, 255)),
        (ValueError, r"samples in \[300, 300\], expected \[0, 255\]", (a, a * 3, 255)),
        (ValueError, "peak must be", (a, a, 0)),
        (ValueError, r"picture is 4x4, expected both sides >=", (a[:4, :4], a[:4, :4], 255)),
        (ValueError, r"expected \(height, width\)", (np.zeros((200, 200, 3)),) * 2 + (255,)),
    ]
    for exc, pattern, args in cases:
        with pytest.raises(exc, match=pattern) as info:
            f(*args)
        assert "\n" not in str(info.value)


def test_undefined_cases():
    flat = np.full((80, 80), 7.0)
    with pytest.raises(ValueError, match="constant"):
        vif(flat, flat, 255)
    with pytest.raises(ValueError, match="constant pictures"):
        fsim(flat, flat, 255)
    assert nlpd(flat, flat, 255) == 0.0
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        fsim(flat, flat, 255, chromatic=True)


# ---- CTC registration and direction ----------------------------------------------------------


def test_jpeg_ai_metrics_are_registered_for_images():
    for name in (*JPEG_AI_METRICS, "fsim_y", "psnr_hvs", "psnr_y", "ms_ssim"):
        cls = METRICS.get(name)
        assert cls.applies_to("image"), name
        assert cls.higher_is_better is (name != "nlpd"), name
    assert METRICS.get("vmaf").applies_to("video")


def test_registered_metrics_on_an_image_pair(astronaut):
    rgb, _ = astronaut
    dist = distort(rgb, 12)
    values = {n: METRICS.get(n)().measure("image", rgb, dist)
              for n in JPEG_AI_METRICS if n != "vmaf"}
    a, b = jpeg_ai_planes(rgb), jpeg_ai_planes(dist)
    assert values["vif"] == vif(a.y, b.y, 1023)
    assert values["fsim"] == fsim(a.rgb, b.rgb, 1023, chromatic=True)
    assert values["nlpd"] == nlpd(a.y, b.y, 1023)
    assert values["psnr_y_jpeg_ai"] == psnr(a.y, b.y, 1023)
    assert values["psnr_yuv_jpeg_ai"] == psnr_yuv_jpeg_ai(rgb, dist).weighted
    assert all(math.isfinite(v) for v in values.values())


def test_vmaf_metric_on_an_image(astronaut):
    if not has_libvmaf():
        pytest.skip("the ffmpeg of imageio-ffmpeg has no libvmaf")
    rgb, _ = astronaut
    m = METRICS.get("vmaf")()
    assert m.measure("image", rgb, distort(rgb, 3)) > m.measure("image", rgb, distort(rgb, 40))


def test_bd_rate_negates_lower_is_better_metrics():
    import pandas as pd

    from vcmref.ctc.report.bd import _sign, bd_table

    assert _sign("nlpd") == -1.0 and _sign("vif") == 1.0 and _sign("mAP") == 1.0
    rows = []
    for codec, scale in (("anchor", 1.0), ("test", 0.8)):  # the test needs 80 % of the rate
        for i, bpp in enumerate((0.1, 0.2, 0.4, 0.8)):
            rows.append({"codec": codec, "class": "all", "point": i, "items": 1, "failed": 0,
                         "missing": 0, "bpp": bpp * scale, "nlpd": 0.3 / (1 + 4 * bpp)})
    table = bd_table("anchor", ["anchor", "test"], ["all"], ["nlpd"], [], "bpp",
                     pd.DataFrame(rows), [])
    bd = [r for r in table.rows if r["metric"] == "nlpd"]
    assert bd and all(r["bd_rate_pct"] == pytest.approx(-20.0, abs=0.5) for r in bd)
    assert all(r["bd_quality"] > 0 for r in bd)  # negated NLPD: positive = test better
