"""Bilinear resizing of uint8 images, bit-exact with OpenCV's ``cv2.resize(INTER_LINEAR)``.

Detectors such as YOLOX were trained and evaluated with OpenCV's resize; reproducing its
reference accuracy needs the same samples. OpenCV computes, for each destination column
``dx``, ``f = (dx + 0.5) * (1 / (dst_w / src_w)) - 0.5`` in binary32, ``x0 = floor(f)`` and
``a = f - x0``. For columns, ``x0 < 0`` gives ``x0 = 0, a = 0`` and ``x0 >= src_w - 1`` gives
``x0 = src_w - 1, a = 0``; rows keep their fraction and only clip the row indices. The weights
are ``round(2048 * (1 - a))`` and ``round(2048 * a)`` (round half to even). The horizontal pass
sums the weighted samples as integers; the vertical pass combines two such rows r0, r1 with
row weights w0, w1 as ``(((w0 * (r0 >> 4)) >> 16) + ((w1 * (r1 >> 4)) >> 16) + 2) >> 2``.
"""

from __future__ import annotations

import numpy as np

COEF_BITS = 11
COEF_SCALE = 1 << COEF_BITS


def _taps(src: int, dst: int, clamp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Source indices and 11-bit weights; `clamp` zeroes the fraction outside the source
    (OpenCV does so for columns; for rows it only clips the row indices)."""
    scale = 1.0 / (np.float64(dst) / np.float64(src))  # as OpenCV: 1 / inv_scale
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    x0 = np.floor(f).astype(np.int64)
    a = (f - x0.astype(np.float32)).astype(np.float32)
    if clamp:
        low = x0 < 0
        x0[low], a[low] = 0, 0
        high = x0 >= src - 1
        x0[high], a[high] = src - 1, 0
    w0 = np.rint((np.float32(1) - a) * np.float32(COEF_SCALE)).astype(np.int64)
    w1 = np.rint(a * np.float32(COEF_SCALE)).astype(np.int64)
    return np.clip(x0, 0, src - 1), np.clip(x0 + 1, 0, src - 1), w0, w1


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) uint8 image to (height, width), as cv2.INTER_LINEAR."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W[, C]) image, got {image.dtype} {image.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"target size {width}x{height} must be positive")
    # int32 is exact: a row sum is at most 255 * 2049, a product at most 2049 * 32656.
    x0, x1, wx0, wx1 = _taps(image.shape[1], width, clamp=True)
    y0, y1, wy0, wy1 = (a.astype(np.int32) for a in _taps(image.shape[0], height, clamp=False))
    channels = 1 if image.ndim == 2 else image.shape[2]
    # Columns gathered on the (H, W * C) view: one 2-D take is several times faster.
    flat = image.reshape(image.shape[0], -1)
    c = np.arange(channels)
    i0, i1 = (x0[:, None] * channels + c).ravel(), (x1[:, None] * channels + c).ravel()
    w0 = np.repeat(wx0, channels).astype(np.int32)
    w1 = np.repeat(wx1, channels).astype(np.int32)
    needed = np.unique(np.concatenate([y0, y1]))  # horizontal pass on used rows only
    src = flat[needed]
    rows = (src[:, i0].astype(np.int32) * w0 + src[:, i1].astype(np.int32) * w1) >> 4
    at = np.searchsorted(needed, np.arange(image.shape[0]))
    out = ((wy0[:, None] * rows[at[y0]]) >> 16) + ((wy1[:, None] * rows[at[y1]]) >> 16)
    out += 2
    out >>= 2
    out = np.clip(out, 0, 255).astype(np.uint8)
    return out.reshape((height, width) + image.shape[2:])


def letterbox(image: np.ndarray, height: int, width: int, pad_value: int = 114,
              center: bool = False) -> tuple[np.ndarray, float, tuple[int, int]]:
    """YOLOX's letterbox: an (H, W, C) uint8 image resized by ``r = min(height / H, width /
    W)`` to ``(int(W r), int(H r))`` with `resize_bilinear`, placed on a `height` x `width`
    canvas of `pad_value`, at the top-left (YOLOX) or centred (``center``: the offsets are
    the floor of half the padding). Returns the canvas, r and the offsets (dx, dy)."""
    h, w = image.shape[:2]
    r = min(height / h, width / w)
    nw, nh = int(w * r), int(h * r)
    canvas = np.full((height, width) + image.shape[2:], pad_value, dtype=np.uint8)
    dx, dy = ((width - nw) // 2, (height - nh) // 2) if center else (0, 0)
    canvas[dy:dy + nh, dx:dx + nw] = resize_bilinear(image, nw, nh)
    return canvas, r, (dx, dy)
