"""Picture and feature quality metrics, every convention stated (docs/metrics.md).

PSNR
    ``PSNR = 10 log10(peak^2 / MSE)``, MSE the mean of the squared sample differences in
    float64; identical inputs give ``inf`` (VTM/HM print 999.99 there; pass
    ``identical=999.99`` to the plane functions to match them).
Peak (``peak_for``)
    ``"full"``: 2^n - 1 (255 at 8 bits, 1023 at 10 bits), the default.
    ``"vtm"``: 255 x 2^(n - 8) (255 at 8 bits, 1020 at 10 bits), what VTM and HM print;
    defined for n >= 8 only.
Y'CbCr
    Per-plane PSNR and the weighted ``(6 PSNR_Y + PSNR_Cb + PSNR_Cr) / 8`` of the JVET CTCs:
    a weighted mean of the per-plane PSNRs (not a PSNR of a weighted MSE). For a sequence
    (planes of shape frames x height x width) each PSNR is the arithmetic mean of the
    per-frame PSNRs, as VTM/HM summarise a sequence.
PSNR-RGB
    From the MSE pooled over the R, G and B samples (the mean of the three channel MSEs), the
    convention of CompressAI and of most learned-image-coding reports; the per-channel PSNRs
    come with it.
SSIM / MS-SSIM
    Wang, Simoncelli, Bovik 2003: 5 scales, weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
    11x11 Gaussian window sigma 1.5 (normalised to sum 1), statistics on the window positions
    that lie wholly inside the picture ('valid', as Wang's MATLAB code), population
    (co)variances, C1 = (0.01 peak)^2, C2 = (0.03 peak)^2. Between scales the picture is
    averaged over 2x2 blocks and subsampled by 2; an odd last row/column is dropped.
    ``MS-SSIM = prod_{j<M} cs_j^{w_j} x (l_M cs_M)^{w_M}``, each factor first clamped at 0
    (as pytorch-msssim does) so that the power is real. Needs both sides >= 11 x 2^(M-1)
    (176 for 5 scales); smaller pictures are an error, never a silent fallback. A 3-D input
    with ``channel_axis`` gives the mean of the per-channel values (the pytorch-msssim/CompressAI
    RGB convention); JPEG AI's CTC computes MS-SSIM on the luma plane: pass that plane.
Features
    ``feature_mse`` as above on float64; ``feature_psnr`` with peak = max - min of the ORIGINAL
    tensor unless a peak is given.
VMAF
    libvmaf through the ffmpeg of imageio-ffmpeg, model ``version=vmaf_v0.6.1`` (built into
    libvmaf, the default of ffmpeg's filter), pooled by the arithmetic mean of the
    per-frame scores. v0.6.1's features (VIF, ADM, motion) use luma only.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vcmref.eval.metric import Metric
from vcmref.registry import METRICS

__all__ = [
    "MS_SSIM_WEIGHTS", "VMAF_MIN_SIZE", "VMAF_MODEL", "RgbPsnr", "VmafResult", "YcbcrPsnr",
    "feature_mse", "feature_psnr", "has_libvmaf", "ms_ssim", "mse", "peak_for", "psnr",
    "psnr_rgb", "psnr_ycbcr", "ssim", "vmaf",
]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
VMAF_MODEL = "version=vmaf_v0.6.1"
VMAF_MIN_SIZE = 32  # this libvmaf crashes (SIGSEGV) on 16x16 pictures; 20x20 runs; 32 stated
VMAF_BIT_DEPTHS = (8, 10)


# ---------------------------------------------------------------------------------------------
# input checks


def _array(x: object, what: str, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer)
                                   or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{what}: {name} has dtype {a.dtype}, expected an integer or float array")
    if a.size == 0:
        raise ValueError(f"{what}: {name} is empty, expected at least one sample")
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: {name} holds NaN or Inf, expected finite samples")
    return a


def _pair(a: object, b: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = _array(a, what, "the first input"), _array(b, what, "the second input")
    if x.shape != y.shape:
        raise ValueError(f"{what}: shapes {x.shape} and {y.shape} differ, expected equal shapes")
    return x.astype(np.float64), y.astype(np.float64)


def _peak(peak: object, what: str) -> float:
    if (isinstance(peak, bool) or not isinstance(peak, numbers.Real)
            or not math.isfinite(peak) or peak <= 0):
        raise ValueError(f"{what}: peak must be a positive finite number, got {peak!r}")
    return float(peak)


def _psnr_from_mse(err: float, peak: float, identical: float = math.inf) -> float:
    return identical if err == 0.0 else 10.0 * math.log10(peak * peak / err)


# ---------------------------------------------------------------------------------------------
# PSNR


def peak_for(bit_depth: int, convention: str = "full") -> int:
    """The PSNR peak for n-bit samples: ``full`` 2^n - 1; ``vtm`` 255 x 2^(n-8) (VTM/HM)."""
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, numbers.Integral) \
            or not 1 <= bit_depth <= 16:
        raise ValueError(f"peak_for: bit depth must be an integer in [1, 16], got {bit_depth!r}")
    if convention == "full":
        return (1 << int(bit_depth)) - 1
    if convention == "vtm":
        if bit_depth < 8:
            raise ValueError(f"peak_for: the vtm convention needs bit depth >= 8, got {bit_depth}")
        return 255 << (int(bit_depth) - 8)
    raise ValueError(f"peak_for: convention must be 'full' or 'vtm', got {convention!r}")


def mse(a: object, b: object) -> float:
    """Mean squared difference of two equal-shaped arrays, in float64."""
    x, y = _pair(a, b, "mse")
    return float(np.mean(np.square(x - y)))


def psnr(a: object, b: object, peak: float) -> float:
    """10 log10(peak^2 / MSE); inf when the inputs are identical."""
    p = _peak(peak, "psnr")
    return _psnr_from_mse(mse(a, b), p)


def _frame_psnr(a: np.ndarray, b: np.ndarray, peak: float, frame_axis: int | None,
                identical: float) -> float:
    """PSNR of one picture, or the mean of per-frame PSNRs along `frame_axis`."""
    if frame_axis is None:
        return _psnr_from_mse(float(np.mean(np.square(a - b))), peak, identical)
    d = np.moveaxis(np.square(a - b), frame_axis, 0)
    per_frame = d.reshape(d.shape[0], -1).mean(axis=1)
    return float(np.mean([_psnr_from_mse(float(e), peak, identical) for e in per_frame]))


def _check_codes(x: np.ndarray, bit_depth: int, what: str, name: str) -> None:
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{what}: {name} has dtype {x.dtype}, expected integer sample codes")
    hi = (1 << bit_depth) - 1
    if int(x.min()) < 0 or int(x.max()) > hi:
        raise ValueError(f"{what}: {name} has samples in [{int(x.min())}, {int(x.max())}], "
                         f"expected [0, {hi}] for {bit_depth}-bit samples")


@dataclass(frozen=True)
class YcbcrPsnr:
    """Per-plane PSNRs (dB) and their weighted mean; `peak` is the peak used."""

    y: float
    cb: float | None
    cr: float | None
    weighted: float
    peak: int
    weights: tuple[float, float, float]


def psnr_ycbcr(planes_a: Sequence[object], planes_b: Sequence[object], bit_depth: int,
               weights: tuple[float, float, float] = (6, 1, 1), convention: str = "full",
               identical: float = math.inf) -> YcbcrPsnr:
    """PSNR of Y, Cb, Cr and ``(w_Y PSNR_Y + w_Cb PSNR_Cb + w_Cr PSNR_Cr) / sum(w)``.

    Planes are integer codes of shape (height, width), or (frames, height, width) for a
    sequence, whose PSNR is then the mean of its per-frame PSNRs. One plane (4:0:0) gives
    weighted = PSNR_Y. `identical` is the value of a zero-MSE picture (inf; VTM prints 999.99).
    """
    what = "psnr_ycbcr"
    peak = peak_for(bit_depth, convention)
    if len(planes_a) != len(planes_b) or len(planes_a) not in (1, 3):
        raise ValueError(f"{what}: got {len(planes_a)} and {len(planes_b)} planes, expected "
                         "3 (Y, Cb, Cr) or 1 (Y) on each side")
    if len(weights) != 3 or any(not math.isfinite(w) or w < 0 for w in weights) \
            or sum(weights) <= 0:
        raise ValueError(f"{what}: weights must be 3 non-negative numbers with a positive "
                         f"sum, got {weights!r}")
    values: list[float] = []
    ndim = frames = None
    for i, (pa, pb) in enumerate(zip(planes_a, planes_b, strict=True)):
        name = ("Y", "Cb", "Cr")[i]
        a, b = _array(pa, what, f"plane {name}"), _array(pb, what, f"plane {name}")
        if a.shape != b.shape:
            raise ValueError(f"{what}: plane {name} shapes {a.shape} and {b.shape} differ, "
                             "expected equal shapes")
        if a.ndim not in (2, 3) or (ndim is not None and a.ndim != ndim):
            raise ValueError(f"{what}: plane {name} has {a.ndim} dimensions, expected "
                             "(height, width) or (frames, height, width) for every plane")
        if a.ndim == 3 and values and a.shape[0] != frames:
            raise ValueError(f"{what}: plane {name} has {a.shape[0]} frames, expected {frames} "
                             "like plane Y")
        ndim, frames = a.ndim, a.shape[0]
        _check_codes(a, bit_depth, what, f"plane {name} of the first input")
        _check_codes(b, bit_depth, what, f"plane {name} of the second input")
        values.append(_frame_psnr(a.astype(np.float64), b.astype(np.float64), float(peak),
                                  0 if a.ndim == 3 else None, identical))
    w = tuple(float(x) for x in weights)
    if len(values) == 1:
        return YcbcrPsnr(values[0], None, None, values[0], peak, w)
    weighted = sum(wi * v for wi, v in zip(w, values, strict=True) if wi) / sum(w)
    return YcbcrPsnr(values[0], values[1], values[2], weighted, peak, w)


@dataclass(frozen=True)
class RgbPsnr:
    """PSNR over all R, G, B samples (pooled MSE) and per channel, in dB."""

    rgb: float
    r: float
    g: float
    b: float
    peak: int


def psnr_rgb(a: object, b: object, bit_depth: int = 8, convention: str = "full",
             identical: float = math.inf) -> RgbPsnr:
    """PSNR-RGB of (height, width, 3) pictures or (frames, height, width, 3) sequences.

    ``rgb`` = 10 log10(peak^2 / mean over R, G, B samples of the squared error); for sequences
    every value is the mean of the per-frame values.
    """
    what = "psnr_rgb"
    peak = peak_for(bit_depth, convention)
    x, y = _array(a, what, "the first input"), _array(b, what, "the second input")
    if x.shape != y.shape:
        raise ValueError(f"{what}: shapes {x.shape} and {y.shape} differ, expected equal shapes")
    if x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"{what}: shape {x.shape}, expected (height, width, 3) or "
                         "(frames, height, width, 3)")
    _check_codes(x, bit_depth, what, "the first input")
    _check_codes(y, bit_depth, what, "the second input")
    x, y = x.astype(np.float64), y.astype(np.float64)
    fa = 0 if x.ndim == 4 else None
    chans = [_frame_psnr(x[..., c], y[..., c], float(peak), fa, identical) for c in range(3)]
    return RgbPsnr(_frame_psnr(x, y, float(peak), fa, identical), *chans, peak)


# ---------------------------------------------------------------------------------------------
# SSIM / MS-SSIM


@lru_cache(maxsize=4)
def _gaussian(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r * r) / (2.0 * sigma * sigma))
    return g / g.sum()  # the 2-D window is the outer product, which then also sums to 1


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D Gaussian filtering of the window positions inside the picture."""
    n = g.size
    x = np.lib.stride_tricks.sliding_window_view(x, n, axis=1) @ g
    return np.lib.stride_tricks.sliding_window_view(x, n, axis=0) @ g


def _ssim_cs(x: np.ndarray, y: np.ndarray, peak: float) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term over the valid window positions."""
    g = _gaussian()
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2
    mx, my = _filter_valid(x, g), _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    cs = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum = (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
    return float(np.mean(lum * cs)), float(np.mean(cs))


def _downsample(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def _planes(a: object, b: object, what: str, channel_axis: int | None):
    x, y = _pair(a, b, what)
    if channel_axis is None:
        if x.ndim != 2:
            raise ValueError(f"{what}: shape {x.shape}, expected a (height, width) plane "
                             "(or pass channel_axis for a multi-channel picture)")
        return [(x, y)]
    if x.ndim != 3:
        raise ValueError(f"{what}: shape {x.shape}, expected 3 dimensions with channel_axis")
    x, y = np.moveaxis(x, channel_axis, 0), np.moveaxis(y, channel_axis, 0)
    return list(zip(x, y, strict=True))


def ssim(a: object, b: object, peak: float, channel_axis: int | None = None) -> float:
    """Single-scale SSIM (Gaussian 11x11, sigma 1.5, valid positions); mean over channels."""
    p = _peak(peak, "ssim")
    pairs = _planes(a, b, "ssim", channel_axis)
    h, w = pairs[0][0].shape
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(f"ssim: picture is {w}x{h}, expected both sides >= {SSIM_WINDOW}")
    return float(np.mean([_ssim_cs(x, y, p)[0] for x, y in pairs]))


def ms_ssim(a: object, b: object, peak: float, channel_axis: int | None = None,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> float:
    """Multi-scale SSIM (Wang et al. 2003); len(weights) scales; mean over channels if any."""
    what = "ms_ssim"
    p = _peak(peak, what)
    w = [float(v) for v in weights]
    if not w or any(not math.isfinite(v) or v < 0 for v in w):
        raise ValueError(f"{what}: weights must be non-negative numbers, got {weights!r}")
    pairs = _planes(a, b, what, channel_axis)
    h, wd = pairs[0][0].shape
    need = SSIM_WINDOW << (len(w) - 1)
    if min(h, wd) < need:
        raise ValueError(f"{what}: picture is {wd}x{h}, but {len(w)} scales with an "
                         f"{SSIM_WINDOW}x{SSIM_WINDOW} window need both sides >= {need} "
                         "(pass fewer weights, or use ssim)")
    results = []
    for x, y in pairs:
        value = 1.0
        for j, wj in enumerate(w):
            s, cs = _ssim_cs(x, y, p)
            last = j == len(w) - 1
            value *= max(s if last else cs, 0.0) ** wj
            if not last:
                x, y = _downsample(x), _downsample(y)
        results.append(value)
    return float(np.mean(results))


# ---------------------------------------------------------------------------------------------
# features


def feature_mse(original: object, reconstructed: object) -> float:
    """Mean squared error between an original feature tensor and its reconstruction."""
    x, y = _pair(original, reconstructed, "feature_mse")
    return float(np.mean(np.square(x - y)))


def feature_psnr(original: object, reconstructed: object, peak: float | None = None) -> float:
    """10 log10(peak^2 / MSE), peak = max - min of the ORIGINAL tensor unless given."""
    x, y = _pair(original, reconstructed, "feature_psnr")
    if peak is None:
        peak = float(x.max() - x.min())
        if peak == 0:
            raise ValueError("feature_psnr: the original tensor is constant (max - min = 0), "
                             "expected a non-zero range or an explicit peak")
    p = _peak(peak, "feature_psnr")
    return _psnr_from_mse(float(np.mean(np.square(x - y))), p)


# ---------------------------------------------------------------------------------------------
# VMAF


@lru_cache(maxsize=1)
def has_libvmaf() -> bool:
    """True when the ffmpeg of imageio-ffmpeg has the libvmaf filter."""
    from vcmref.media.ffmpeg_tool import ffmpeg_exe
    from vcmref.media.process import run_tool

    out = run_tool([ffmpeg_exe(), "-hide_banner", "-filters"], what="ffmpeg -filters",
                   timeout=60).stdout.decode(errors="replace")
    return any(line.split()[1:2] == ["libvmaf"] for line in out.splitlines())


@dataclass(frozen=True)
class VmafResult:
    """VMAF: the mean of the per-frame scores, the per-frame scores, the model, libvmaf's
    version."""

    mean: float
    per_frame: tuple[float, ...]
    model: str
    libvmaf_version: str


def _as_sequence(x: object, bit_depth: int | None, what: str, name: str):
    from vcmref.media.yuv import ChromaFormat, YuvSequence

    if isinstance(x, YuvSequence):
        if bit_depth is not None and bit_depth != x.bit_depth:
            raise ValueError(f"{what}: {name} is {x.bit_depth}-bit, expected {bit_depth}-bit")
        seq = x
    else:
        a = np.asarray(x)
        if not np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
            raise TypeError(f"{what}: {name} has dtype {a.dtype}, expected integer luma codes "
                            "or a YuvSequence")
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise ValueError(f"{what}: {name} has shape {a.shape}, expected (height, width) or "
                             "(frames, height, width) luma, or a YuvSequence")
        if bit_depth is None:
            raise ValueError(f"{what}: bit_depth is needed for array input")
        seq = YuvSequence((a,), ChromaFormat.YUV400, bit_depth)
    if seq.bit_depth not in VMAF_BIT_DEPTHS:
        raise ValueError(f"{what}: {name} is {seq.bit_depth}-bit, expected one of "
                         f"{VMAF_BIT_DEPTHS} (the formats of ffmpeg's libvmaf filter)")
    if seq.chroma_format is ChromaFormat.YUV400:
        # libvmaf takes 4:2:0/4:2:2/4:4:4 only; v0.6.1 reads luma only, so chroma is neutral
        n, h, w = seq.planes[0].shape
        c = np.full((n, (h + 1) // 2, (w + 1) // 2), 1 << (seq.bit_depth - 1), np.uint16)
        seq = YuvSequence((seq.planes[0], c, c.copy()), ChromaFormat.YUV420, seq.bit_depth)
    if min(seq.width, seq.height) < VMAF_MIN_SIZE:
        raise ValueError(f"{what}: {name} is {seq.width}x{seq.height}, expected both sides "
                         f">= {VMAF_MIN_SIZE} (libvmaf's 4-scale features)")
    return seq


def vmaf(reference: object, distorted: object, *, bit_depth: int | None = None,
         model: str = VMAF_MODEL, n_threads: int = 1, timeout: float = 600.0) -> VmafResult:
    """VMAF of `distorted` against `reference` through ffmpeg's libvmaf filter.

    Inputs are YuvSequence objects of one format (4:0:0, 4:2:0 or 4:4:4, 8 or 10 bits) or
    integer luma arrays (height, width) / (frames, height, width) with `bit_depth`. Raw frames
    go to ffmpeg through temporary files in a supported pixel format, so no conversion happens.
    """
    from vcmref.media.ffmpeg_tool import ffmpeg_exe
    from vcmref.media.process import ToolError, ToolNotFoundError, run_tool

    what = "vmaf"
    if not re.fullmatch(r"[A-Za-z0-9_.=/-]+", model):
        raise ValueError(f"{what}: model {model!r} must be a libvmaf model string such as "
                         f"{VMAF_MODEL!r} (no ':', ',', ';', '[' or spaces)")
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 0:
        raise ValueError(f"{what}: n_threads must be a non-negative integer, got {n_threads!r}")
    ref = _as_sequence(reference, bit_depth, what, "the reference")
    dist = _as_sequence(distorted, bit_depth, what, "the distorted input")
    if (ref.chroma_format, ref.bit_depth, ref.width, ref.height, ref.num_frames) != (
            dist.chroma_format, dist.bit_depth, dist.width, dist.height, dist.num_frames):
        raise ValueError(
            f"{what}: reference is {ref.num_frames} frames {ref.width}x{ref.height} "
            f"{ref.chroma_format.value} {ref.bit_depth}-bit, distorted is {dist.num_frames} "
            f"frames {dist.width}x{dist.height} {dist.chroma_format.value} {dist.bit_depth}-bit, "
            "expected the same")
    if not has_libvmaf():
        raise ToolNotFoundError(f"{what}: the ffmpeg of imageio-ffmpeg ({ffmpeg_exe()}) has no "
                                "libvmaf filter; install an imageio-ffmpeg built with libvmaf")
    pix_fmt = ref.chroma_format.ffmpeg_pix_fmt(ref.bit_depth)
    with tempfile.TemporaryDirectory(prefix="vcmref-vmaf-") as tmp:
        Path(tmp, "ref.yuv").write_bytes(ref.to_bytes())
        Path(tmp, "dist.yuv").write_bytes(dist.to_bytes())
        raw = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{ref.width}x{ref.height}",
               "-framerate", "25"]
        graph = (f"[0:v][1:v]libvmaf=model={model}:log_fmt=json:log_path=vmaf.json"
                 f":n_threads={n_threads}")
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
                *raw, "-i", "dist.yuv", *raw, "-i", "ref.yuv", "-lavfi", graph, "-f", "null",
                "-"]
        run_tool(argv, what="ffmpeg libvmaf", timeout=timeout, cwd=tmp)
        log_path = Path(tmp, "vmaf.json")
        if not log_path.is_file():
            raise ToolError(f"{what}: ffmpeg libvmaf wrote no log")
        log = json.loads(log_path.read_text())
    try:
        frames = sorted(log["frames"], key=lambda f: f["frameNum"])
        scores = tuple(float(f["metrics"]["vmaf"]) for f in frames)
        version = str(log.get("version", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ToolError(f"{what}: unexpected libvmaf log layout ({exc})") from None
    if len(scores) != ref.num_frames:
        raise ToolError(f"{what}: libvmaf scored {len(scores)} frames, expected "
                        f"{ref.num_frames}")
    return VmafResult(float(np.mean(scores)), scores, model, version)


# -- the CTC's quality metrics (vcmref.registry.METRICS; docs/ctc.md) -------------------------

def ctc_luma(rgb: np.ndarray) -> np.ndarray:
    """The luma of an 8-bit R'G'B' image as the CTC measures PSNR-Y and MS-SSIM on images:
    BT.709, full range, 8 bits."""
    from vcmref.media.color import rgb_to_ycbcr

    return rgb_to_ycbcr(rgb, matrix="bt709", full_range=True, bit_depth=8, chroma="444")[0]


@METRICS.register("psnr_rgb")
class PsnrRgbMetric(Metric):
    """PSNR over the three R'G'B' planes of an 8-bit image (peak 255)."""

    inputs = ("image",)

    def image(self, original: np.ndarray, decoded: np.ndarray) -> float:
        return psnr_rgb(original, decoded).rgb


@METRICS.register("psnr_y")
class PsnrYMetric(Metric):
    """PSNR of the luma: of an image (BT.709 full-range luma, peak 255), or of a sequence (the
    mean of the per-frame PSNRs, peak 2^n - 1)."""

    inputs = ("image", "video")

    def image(self, original: np.ndarray, decoded: np.ndarray) -> float:
        return psnr(ctc_luma(original), ctc_luma(decoded), 255)

    def video(self, original, decoded) -> float:
        return psnr_ycbcr(original.planes, decoded.planes, original.bit_depth).y


@METRICS.register("psnr_yuv")
class PsnrYuvMetric(Metric):
    """PSNR of a sequence, Y'CbCr weighted 6:1:1 (mean of the per-frame PSNRs)."""

    inputs = ("video",)

    def video(self, original, decoded) -> float:
        return psnr_ycbcr(original.planes, decoded.planes, original.bit_depth).weighted


@METRICS.register("ms_ssim")
class MsSsimMetric(Metric):
    """MS-SSIM of an image's BT.709 full-range luma (peak 255)."""

    inputs = ("image",)

    def image(self, original: np.ndarray, decoded: np.ndarray) -> float:
        return ms_ssim(ctc_luma(original), ctc_luma(decoded), 255)


@METRICS.register("feature_psnr")
class FeaturePsnrMetric(Metric):
    """PSNR of the split tensors, all of them together in name order (feature_psnr)."""

    inputs = ("features",)

    def features(self, original: dict, decoded: dict) -> float:
        x = np.concatenate([np.asarray(original[k]).ravel() for k in sorted(original)])
        y = np.concatenate([np.asarray(decoded[k]).ravel() for k in sorted(original)])
        return feature_psnr(x, y)
