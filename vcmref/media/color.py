"""R'G'B' <-> Y'CbCr and bit-depth conversion, every number stated (docs/image-anchor.md).

Matrices (ITU-R BT.709-6 and BT.601-7, the coefficients of H.273 MatrixCoefficients 1 and 6):

* ``bt709``: Kr = 0.2126, Kb = 0.0722, Kg = 1 - Kr - Kb = 0.7152
* ``bt601``: Kr = 0.299,  Kb = 0.114,  Kg = 1 - Kr - Kb = 0.587

With R, G, B the m-bit R'G'B' codes divided by 2^m - 1 (so in [0, 1]):
``Y' = Kr R + Kg G + Kb B``, ``Cb' = (B - Y') / (2 (1 - Kb))``, ``Cr' = (R - Y') / (2 (1 - Kr))``.

Quantization to n bits (H.273, equations for VideoFullRangeFlag 0 and 1):

* limited range: ``Y = (219 Y' + 16) 2^(n-8)``, ``C = (224 C' + 128) 2^(n-8)``
  (8-bit: Y 16..235, C 16..240; 10-bit: Y 64..940, C 64..960)
* full range: ``Y = (2^n - 1) Y'``, ``C = (2^n - 1) C' + 2^(n-1)`` (the JFIF convention for n = 8)

All arithmetic is float64. Rounding is half away from zero, ``floor(x + 0.5)`` on the
non-negative values met here (H.273's Round), done once per output sample, then the result is
clipped to [0, 2^n - 1]. The inverse maps codes back to Y', Cb', Cr' by the inverse of the
formulas above, applies ``R = Y' + 2 (1 - Kr) Cr'``, ``B = Y' + 2 (1 - Kb) Cb'``,
``G = (Y' - Kr R - Kb B) / Kg``, clips to [0, 1], multiplies by 2^m - 1, rounds half away
from zero.

4:2:0 chroma is centre-sited (each chroma sample sits midway between its 2x2 luma samples,
H.273 ChromaSampleLocType 1, the JPEG siting). Downsampling: the float64 Cb', Cr' planes (before
rounding) are averaged over 2x2 blocks; an odd last row or column is first replicated, so the
chroma planes are ((h + 1) // 2, (w + 1) // 2). Upsampling: separable bilinear for centre
siting, luma sample i taking ``0.75 c[i // 2] + 0.25 c[i // 2 - 1]`` for even i and
``0.75 c[i // 2] + 0.25 c[i // 2 + 1]`` for odd i, indices clamped to the plane (edge
replication), in float64, on the decoded integer codes.
"""

from __future__ import annotations

import numpy as np

MATRICES: dict[str, tuple[float, float]] = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}
CHROMA_FORMATS = ("420", "444")
MIN_BIT_DEPTH, MAX_BIT_DEPTH = 8, 16


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (H.273's Round), float64 in, float64 out."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _check_matrix(matrix: str) -> tuple[float, float, float]:
    if matrix not in MATRICES:
        raise ValueError(f"unknown matrix {matrix!r}; expected one of {sorted(MATRICES)}")
    kr, kb = MATRICES[matrix]
    return kr, 1.0 - kr - kb, kb


def _check_depth(bit_depth: int, what: str) -> None:
    if not (isinstance(bit_depth, int) and MIN_BIT_DEPTH <= bit_depth <= MAX_BIT_DEPTH):
        raise ValueError(f"{what} must be an integer in [{MIN_BIT_DEPTH}, {MAX_BIT_DEPTH}], "
                         f"got {bit_depth!r}")


def _check_chroma(chroma: str) -> None:
    if chroma not in CHROMA_FORMATS:
        raise ValueError(f"chroma must be one of {CHROMA_FORMATS}, got {chroma!r}")


def _check_codes(a: np.ndarray, bit_depth: int, what: str) -> None:
    want = np.uint8 if bit_depth == 8 else np.uint16
    if a.dtype != want:
        raise ValueError(f"{what} has dtype {a.dtype}, expected {np.dtype(want)} "
                         f"for {bit_depth}-bit samples")
    if a.size and int(a.max()) > (1 << bit_depth) - 1:
        raise ValueError(f"{what} has samples up to {int(a.max())}, above "
                         f"{(1 << bit_depth) - 1} for {bit_depth}-bit samples")


def _scale(full_range: bool, bit_depth: int) -> tuple[float, float, float, float]:
    """(luma gain, luma offset, chroma gain, chroma offset) from Y', C' to n-bit codes."""
    if full_range:
        peak = float((1 << bit_depth) - 1)
        return peak, 0.0, peak, float(1 << (bit_depth - 1))
    s = float(1 << (bit_depth - 8))
    return 219.0 * s, 16.0 * s, 224.0 * s, 128.0 * s


def _quantize(x: np.ndarray, bit_depth: int) -> np.ndarray:
    return np.clip(round_half_away(x), 0, (1 << bit_depth) - 1).astype(np.uint16)


def downsample_420(plane: np.ndarray) -> np.ndarray:
    """2x2 mean of a float (h, w) plane, odd last row/column replicated: ((h+1)//2, (w+1)//2)."""
    p = np.asarray(plane, dtype=np.float64)
    if p.ndim != 2 or 0 in p.shape:
        raise ValueError(f"plane must be a non-empty 2-D array, got shape {p.shape}")
    h, w = p.shape
    p = np.pad(p, ((0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2])


def _upsample_axis(c: np.ndarray, n: int, axis: int) -> np.ndarray:
    i = np.arange(n)
    j = i // 2
    k = np.clip(np.where(i % 2 == 0, j - 1, j + 1), 0, c.shape[axis] - 1)
    return 0.75 * np.take(c, j, axis=axis) + 0.25 * np.take(c, k, axis=axis)


def upsample_420(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear centre-sited 2x upsampling with edge replication to float64 (height, width)."""
    c = np.asarray(plane, dtype=np.float64)
    want = ((height + 1) // 2, (width + 1) // 2)
    if c.shape != want:
        raise ValueError(f"chroma plane has shape {c.shape}, expected {want} "
                         f"for a {width}x{height} picture")
    return _upsample_axis(_upsample_axis(c, height, 0), width, 1)


def rgb_to_ycbcr(rgb: np.ndarray, *, matrix: str, full_range: bool, bit_depth: int,
                 chroma: str = "420", rgb_bit_depth: int = 8
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y, Cb, Cr) uint16 planes of an (H, W, 3) R'G'B' image, by the module's stated rules."""
    kr, kg, kb = _check_matrix(matrix)
    _check_depth(bit_depth, "bit_depth")
    _check_depth(rgb_bit_depth, "rgb_bit_depth")
    _check_chroma(chroma)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ValueError(f"rgb must be a non-empty (H, W, 3) array, got shape {rgb.shape}")
    _check_codes(rgb, rgb_bit_depth, "rgb")
    x = rgb.astype(np.float64) / float((1 << rgb_bit_depth) - 1)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = kr * r + kg * g + kb * b
    cb = (b - y) / (2.0 * (1.0 - kb))
    cr = (r - y) / (2.0 * (1.0 - kr))
    if chroma == "420":
        cb, cr = downsample_420(cb), downsample_420(cr)
    gy, oy, gc, oc = _scale(full_range, bit_depth)
    return (_quantize(gy * y + oy, bit_depth), _quantize(gc * cb + oc, bit_depth),
            _quantize(gc * cr + oc, bit_depth))


def ycbcr_to_rgb(planes: tuple[np.ndarray, np.ndarray, np.ndarray] | list[np.ndarray], *,
                 matrix: str, full_range: bool, bit_depth: int, chroma: str = "420",
                 rgb_bit_depth: int = 8) -> np.ndarray:
    """(H, W, 3) R'G'B' (uint8 for 8 bits, else uint16) from (Y, Cb, Cr) integer planes."""
    kr, kg, kb = _check_matrix(matrix)
    _check_depth(bit_depth, "bit_depth")
    _check_depth(rgb_bit_depth, "rgb_bit_depth")
    _check_chroma(chroma)
    if len(planes) != 3:
        raise ValueError(f"expected 3 planes (Y, Cb, Cr), got {len(planes)}")
    ys, cbs, crs = (np.asarray(p) for p in planes)
    if ys.ndim != 2 or 0 in ys.shape:
        raise ValueError(f"luma must be a non-empty 2-D array, got shape {ys.shape}")
    h, w = ys.shape
    want = (h, w) if chroma == "444" else ((h + 1) // 2, (w + 1) // 2)
    for name, p in (("Y", ys), ("Cb", cbs), ("Cr", crs)):
        if not np.issubdtype(p.dtype, np.integer):
            raise ValueError(f"{name} plane has dtype {p.dtype}, expected integers")
        if p.size and (int(p.min()) < 0 or int(p.max()) > (1 << bit_depth) - 1):
            raise ValueError(f"{name} plane has samples outside [0, {(1 << bit_depth) - 1}] "
                             f"for {bit_depth}-bit video")
        if name != "Y" and p.shape != want:
            raise ValueError(f"{name} plane has shape {p.shape}, expected {want} "
                             f"for {chroma} with luma {ys.shape}")
    cb, cr = cbs.astype(np.float64), crs.astype(np.float64)
    if chroma == "420":
        cb, cr = upsample_420(cb, h, w), upsample_420(cr, h, w)
    gy, oy, gc, oc = _scale(full_range, bit_depth)
    y = (ys.astype(np.float64) - oy) / gy
    cb, cr = (cb - oc) / gc, (cr - oc) / gc
    r = y + 2.0 * (1.0 - kr) * cr
    b = y + 2.0 * (1.0 - kb) * cb
    g = (y - kr * r - kb * b) / kg
    peak = (1 << rgb_bit_depth) - 1
    out = np.stack([r, g, b], axis=-1)
    out = np.clip(round_half_away(np.clip(out, 0.0, 1.0) * peak), 0, peak)
    return out.astype(np.uint8 if rgb_bit_depth == 8 else np.uint16)


def _check_shift(samples: np.ndarray, from_bits: int, to_bits: int, down: bool) -> np.ndarray:
    for name, v in (("from_bits", from_bits), ("to_bits", to_bits)):
        if not (isinstance(v, int) and 1 <= v <= 16):
            raise ValueError(f"{name} must be an integer in [1, 16], got {v!r}")
    if (from_bits < to_bits) if down else (from_bits > to_bits):
        raise ValueError(f"cannot {'reduce' if down else 'expand'} {from_bits} bits to "
                         f"{to_bits} bits")
    a = np.asarray(samples)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"samples have dtype {a.dtype}, expected integers")
    if a.size and (int(a.min()) < 0 or int(a.max()) > (1 << from_bits) - 1):
        raise ValueError(f"samples lie in [{int(a.min())}, {int(a.max())}], outside "
                         f"[0, {(1 << from_bits) - 1}] for {from_bits} bits")
    return a.astype(np.int64)


def reduce_bit_depth(samples: np.ndarray, from_bits: int, to_bits: int) -> np.ndarray:
    """Exact n-to-m-bit reduction: ``min((v + 2^(s-1)) >> s, 2^m - 1)``, s = n - m (uint16)."""
    a = _check_shift(samples, from_bits, to_bits, down=True)
    s = from_bits - to_bits
    if s == 0:
        return a.astype(np.uint16)
    return np.minimum((a + (1 << (s - 1))) >> s, (1 << to_bits) - 1).astype(np.uint16)


def expand_bit_depth(samples: np.ndarray, from_bits: int, to_bits: int) -> np.ndarray:
    """Exact m-to-n-bit expansion ``v << (n - m)`` (uint16), the inverse used with the above."""
    a = _check_shift(samples, from_bits, to_bits, down=False)
    return (a << (to_bits - from_bits)).astype(np.uint16)
