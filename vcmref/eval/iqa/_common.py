"""Input checks and filters shared by the full-reference IQA metrics of `vcmref.eval.iqa`."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from vcmref.eval.quality import _array, _peak

#: The sample range every metric's constants are defined for (the reference codes work on 8-bit
#: pictures in [0, 255]); inputs in [0, peak] are scaled by 255 / peak first.
REF_PEAK = 255.0


def pair(reference: object, distorted: object, peak: object, what: str, *,
         channels: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Both inputs as float64 arrays, checked: finite, equal shapes, (H, W) or (H, W, channels),
    samples in [0, peak]; with the peak as a float."""
    p = _peak(peak, what)
    x = _array(reference, what, "the reference")
    y = _array(distorted, what, "the distorted input")
    if x.shape != y.shape:
        raise ValueError(f"{what}: shapes {x.shape} and {y.shape} differ, expected equal shapes")
    want = "(height, width)" if channels is None else f"(height, width, {channels})"
    if (channels is None and x.ndim != 2) or (
            channels is not None and (x.ndim != 3 or x.shape[2] != channels)):
        raise ValueError(f"{what}: shape {x.shape}, expected {want}")
    for a, name in ((x, "the reference"), (y, "the distorted input")):
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > p:
            raise ValueError(f"{what}: {name} has samples in [{lo:g}, {hi:g}], expected "
                             f"[0, {p:g}] (the peak given)")
    return x.astype(np.float64), y.astype(np.float64), p


def need_size(shape: tuple[int, ...], minimum: int, what: str, why: str) -> None:
    """Refuse a picture whose smaller side is below `minimum`, saying why (one line)."""
    h, w = shape[:2]
    if min(h, w) < minimum:
        raise ValueError(f"{what}: picture is {w}x{h}, expected both sides >= {minimum} ({why})")


@lru_cache(maxsize=16)
def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """1-D Gaussian of `size` taps normalised to sum 1; the outer product is MATLAB's
    ``fspecial('gaussian', size, sigma)`` (whose cut below eps * max removes nothing here)."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r * r) / (2.0 * sigma * sigma))
    g /= g.sum()
    g.setflags(write=False)
    return g


def filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with the odd 1-D kernel `g` on both axes, at the positions where the
    window lies wholly inside the picture (MATLAB ``filter2(g * g', x, 'valid')``)."""
    r = g.size // 2
    y = ndimage.correlate1d(x, g, axis=0, mode="constant")[r:x.shape[0] - r]
    return ndimage.correlate1d(y, g, axis=1, mode="constant")[:, r:x.shape[1] - r]
