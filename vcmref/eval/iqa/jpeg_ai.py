"""The JPEG AI objective quality metric set as CTC metrics (docs/metrics.md, "JPEG AI metric
set"), and the colour conversion JPEG AI's reference software measures them on.

JPEG AI's metric module (``src/codec/metrics/metrics.py`` of the JPEG AI reference software,
the successor of the jpeg-ai-qaf framework) reads the 8-bit R'G'B' original and decoded PNGs
and converts each, with ``--color-conv 709`` and ``--internal-bits 10`` (its defaults), to:

* R'G'B' in [0, 1] rounded to the n-bit grid: ``round(v (2^n - 1) / 255) / (2^n - 1)``;
* BT.709 Y'CbCr, full range, 4:4:4: ``Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'``,
  ``Cb' = (B' - Y') / 1.8556 + 0.5``, ``Cr' = (R' - Y') / 1.5748 + 0.5``, clipped to [0, 1] and
  rounded to n bits: the codes ``round((2^n - 1) v)``, so chroma is centred on (2^n - 1) / 2
  (511.5 at 10 bits), not on 2^(n-1) as in `vcmref.media.color`;
* rounding half to even (torch.round), every step in float32 in the reference's order of
  operations (``0.2126 R' + 0.7152 G' + 0.0722 B'`` left to right, then ``/ 1.8556 + 0.5``), so
  that samples on a tie round the same way: a grey sample puts Cb' and Cr' at 1/2, the code
  511.5 at 10 bits, which float64 would round otherwise in about 0.6 % of Kodak's chroma.
  The codes are then exact integers (the reference keeps code / 1023 in float32).

Every metric of the set is then computed on those planes as the reference software does; the
CTC names (`JPEG_AI_METRICS`, for a config's ``metrics`` list):

================ ============================ ===================================================
CTC name         computed on                  definition
================ ============================ ===================================================
ms_ssim_jpeg_ai  Y, peak 2^n - 1              `vcmref.eval.quality.ms_ssim` (pytorch_msssim's)
vif              Y                            `vcmref.eval.iqa.vif` (pixel-domain VIFp)
fsim             R'G'B' on the n-bit grid     `vcmref.eval.iqa.fsim` with chromatic=True (FSIMc)
nlpd             Y / (2^n - 1)                `vcmref.eval.iqa.nlpd`; lower is better
iw_ssim          Y                            `vcmref.eval.iqa.iw_ssim`
vmaf             Y, n bits (4:0:0)            `vcmref.eval.quality.vmaf` (v0.6.1 reads luma only)
psnr_hvs_m       Y                            `vcmref.eval.iqa.psnr_hvs_m`
psnr_y_jpeg_ai   Y                            10 log10(peak^2 / MSE), peak 2^n - 1
psnr_yuv_jpeg_ai Y, Cb, Cr 4:4:4              (6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8
================ ============================ ===================================================

``fsim_y`` (FSIM of Y) and ``psnr_hvs`` (what the reference software's ``psnr_hvs`` column
holds: PSNR-HVS, without masking) are registered beside them. The ``_jpeg_ai`` suffix marks
the two metrics that `vcmref.eval.quality` already registers on 8-bit luma (``psnr_y``,
``ms_ssim``): the 10-bit planes give other numbers (0.06 dB more PSNR-Y on a Kodak picture at
JPEG quality 90, 0.7 dB at 98). The registered CTC metrics use n = `JPEG_AI_BIT_DEPTH`; the
functions take any n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vcmref.eval.iqa.fsim import fsim
from vcmref.eval.iqa.iw_ssim import iw_ssim
from vcmref.eval.iqa.nlpd import nlpd
from vcmref.eval.iqa.psnr_hvs import psnr_hvs, psnr_hvs_m
from vcmref.eval.iqa.vif import vif
from vcmref.eval.metric import Metric
from vcmref.eval.quality import YcbcrPsnr, ms_ssim, psnr, psnr_ycbcr, vmaf
from vcmref.registry import METRICS

__all__ = ["JPEG_AI_AVERAGED", "JPEG_AI_BIT_DEPTH", "JPEG_AI_METRICS", "JpegAiPlanes",
           "jpeg_ai_planes", "psnr_yuv_jpeg_ai"]

#: The internal bit depth of the registered metrics: the JPEG AI reference software's default
#: ``--internal-bits 10``.
JPEG_AI_BIT_DEPTH = 10
#: The JPEG AI CTC's objective metrics, in the order of its reporting template, as the names of
#: a CTC config's ``metrics`` list.
JPEG_AI_METRICS = ("ms_ssim_jpeg_ai", "vif", "fsim", "nlpd", "iw_ssim", "vmaf", "psnr_hvs_m",
                   "psnr_y_jpeg_ai", "psnr_yuv_jpeg_ai")
#: The seven metrics whose BD-rates JPEG AI averages into its headline figure.
JPEG_AI_AVERAGED = JPEG_AI_METRICS[:7]
# BT.709 as the reference software writes it: Kr, Kg, Kb, 2 (1 - Kb), 2 (1 - Kr)
_KR, _KG, _KB, _DB, _DR = 0.2126, 0.7152, 0.0722, 1.8556, 1.5748


@dataclass(frozen=True)
class JpegAiPlanes:
    """The planes JPEG AI measures on: n-bit codes (as float64) of Y, Cb, Cr (4:4:4) and of the
    R'G'B' picture on the n-bit grid (H, W, 3); `peak` = 2^n - 1."""

    y: np.ndarray
    cb: np.ndarray
    cr: np.ndarray
    rgb: np.ndarray
    bit_depth: int

    @property
    def peak(self) -> int:
        return (1 << self.bit_depth) - 1

    def codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, Cb, Cr as uint16 codes."""
        return tuple(p.astype(np.uint16) for p in (self.y, self.cb, self.cr))


def jpeg_ai_planes(rgb: object, bit_depth: int = JPEG_AI_BIT_DEPTH) -> JpegAiPlanes:
    """The n-bit BT.709 full-range Y'CbCr 4:4:4 planes and n-bit R'G'B' of an 8-bit R'G'B'
    (H, W, 3) image, converted as JPEG AI's reference software does (module docstring)."""
    what = "jpeg_ai_planes"
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise TypeError(f"{what}: image has dtype {a.dtype}, expected uint8 R'G'B' codes")
    if a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise ValueError(f"{what}: shape {a.shape}, expected a non-empty (height, width, 3) image")
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, int) or not 8 <= bit_depth <= 16:
        raise ValueError(f"{what}: bit_depth must be an integer in [8, 16], got {bit_depth!r}")
    f32 = np.float32
    peak = f32((1 << bit_depth) - 1)
    # float32 in the reference's order of operations, so that ties (grey samples put Cb', Cr'
    # at exactly 1/2, i.e. code 511.5) round as there
    x = np.rint(a.astype(f32) / f32(255.0) * peak) / peak
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = f32(_KR) * r + f32(_KG) * g + f32(_KB) * b
    cb = (b - y) / f32(_DB) + f32(0.5)
    cr = (r - y) / f32(_DR) + f32(0.5)
    y, cb, cr, rgb_codes = (np.rint(np.clip(c, f32(0.0), f32(1.0)) * peak).astype(np.float64)
                            for c in (y, cb, cr, x))
    return JpegAiPlanes(y, cb, cr, rgb_codes, bit_depth)


def psnr_yuv_jpeg_ai(original: object, decoded: object, bit_depth: int = JPEG_AI_BIT_DEPTH
                     ) -> YcbcrPsnr:
    """PSNR_Y, PSNR_Cb, PSNR_Cr of the n-bit JPEG AI Y'CbCr 4:4:4 planes of two 8-bit R'G'B'
    images (peak 2^n - 1) and their weighted mean (6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8."""
    a, b = jpeg_ai_planes(original, bit_depth), jpeg_ai_planes(decoded, bit_depth)
    return psnr_ycbcr(a.codes(), b.codes(), bit_depth)


# -- the CTC metrics (vcmref.registry.METRICS) -----------------------------------------------

class _JpegAiImageMetric(Metric):
    """A metric of two 8-bit R'G'B' images measured on their JPEG AI planes."""

    inputs: ClassVar[tuple[str, ...]] = ("image",)

    def image(self, original: np.ndarray, decoded: np.ndarray) -> float:
        a = jpeg_ai_planes(original)
        return self.planes(a, jpeg_ai_planes(decoded, a.bit_depth))

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        raise NotImplementedError


@METRICS.register("psnr_y_jpeg_ai")
class PsnrYJpegAiMetric(_JpegAiImageMetric):
    """PSNR of the 10-bit BT.709 full-range luma (peak 1023), as JPEG AI's PSNR_Y."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return psnr(original.y, decoded.y, original.peak)


@METRICS.register("psnr_yuv_jpeg_ai")
class PsnrYuvJpegAiMetric(_JpegAiImageMetric):
    """(6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8 of the 10-bit JPEG AI Y'CbCr 4:4:4 planes, dB."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return psnr_ycbcr(original.codes(), decoded.codes(), original.bit_depth).weighted


@METRICS.register("ms_ssim_jpeg_ai")
class MsSsimJpegAiMetric(_JpegAiImageMetric):
    """MS-SSIM of the 10-bit BT.709 full-range luma (peak 1023), as JPEG AI's MS-SSIM."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return ms_ssim(original.y, decoded.y, original.peak)


@METRICS.register("vif")
class VifMetric(_JpegAiImageMetric):
    """Pixel-domain VIF (VIFp) of the 10-bit JPEG AI luma; higher is better (1: identical)."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return vif(original.y, decoded.y, original.peak)


@METRICS.register("fsim")
class FsimMetric(_JpegAiImageMetric):
    """FSIMc of the R'G'B' images on the 10-bit grid, as JPEG AI's FSIM; higher is better."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return fsim(original.rgb, decoded.rgb, original.peak, chromatic=True)


@METRICS.register("fsim_y")
class FsimYMetric(_JpegAiImageMetric):
    """FSIM (luma only) of the 10-bit JPEG AI luma; higher is better."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return fsim(original.y, decoded.y, original.peak)


@METRICS.register("nlpd")
class NlpdMetric(_JpegAiImageMetric):
    """NLPD of the 10-bit JPEG AI luma scaled to [0, 1]; LOWER is better (0: identical)."""

    higher_is_better: ClassVar[bool] = False

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return nlpd(original.y, decoded.y, original.peak)


@METRICS.register("iw_ssim")
class IwSsimMetric(_JpegAiImageMetric):
    """IW-SSIM of the 10-bit JPEG AI luma; higher is better (1: identical)."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return iw_ssim(original.y, decoded.y, original.peak)


@METRICS.register("psnr_hvs_m")
class PsnrHvsMMetric(_JpegAiImageMetric):
    """PSNR-HVS-M of the 10-bit JPEG AI luma, dB; higher is better (+inf: identical)."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return psnr_hvs_m(original.y, decoded.y, original.peak)


@METRICS.register("psnr_hvs")
class PsnrHvsMetric(_JpegAiImageMetric):
    """PSNR-HVS (no masking) of the 10-bit JPEG AI luma, dB: the number the JPEG AI reference
    software's ``psnr_hvs`` column holds; higher is better."""

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return psnr_hvs(original.y, decoded.y, original.peak)


@METRICS.register("vmaf")
class VmafMetric(_JpegAiImageMetric):
    """VMAF (libvmaf vmaf_v0.6.1) of the 10-bit JPEG AI luma of an image, or of a sequence as
    given; higher is better."""

    inputs: ClassVar[tuple[str, ...]] = ("image", "video")

    def planes(self, original: JpegAiPlanes, decoded: JpegAiPlanes) -> float:
        return vmaf(original.codes()[0], decoded.codes()[0], bit_depth=original.bit_depth).mean

    def video(self, original, decoded) -> float:
        return vmaf(original, decoded).mean


