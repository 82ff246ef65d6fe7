"""VIF in the pixel domain (VIFp): Sheikh and Bovik, "Image information and visual quality",
IEEE TIP 15(2), 2006, as computed by the authors' ``vifp_mscale.m``.

The pixel-domain VIF is the one JPEG AI's CTC names ("VIFp", the JPEG AI Call for Evidence
report) and the one its reference software computes (IQA_pytorch's ``VIFs``, a port of
``vifp_mscale.m``); the wavelet-domain VIF (steerable pyramid, ``vifvec.m``) is another number.

Conventions (those of ``vifp_mscale.m``):

* samples scaled to [0, 255] (``x * 255 / peak``): sigma_n^2 = 2 is defined for that range;
* 4 scales; at scale s = 1..4 an N x N Gaussian window, N = 2^(5 - s) + 1 (17, 9, 5, 3),
  sigma = N / 5, normalised to sum 1; statistics at the window positions wholly inside the
  picture ('valid'); population (co)variances, clamped at 0;
* before scales 2..4 both pictures are filtered with that scale's window ('valid') and
  subsampled by 2 (rows and columns 0, 2, 4, ... of the filtered picture);
* g = s_xy / (s_x^2 + 1e-10), s_v^2 = s_y^2 - g s_xy, with the reference's guards: where
  s_x^2 < 1e-10, g = 0, s_v^2 = s_y^2, s_x^2 = 0; where s_y^2 < 1e-10, g = 0, s_v^2 = 0; where
  g < 0, s_v^2 = s_y^2, g = 0; s_v^2 >= 1e-10;
* VIF = sum over scales and positions of log10(1 + g^2 s_x^2 / (s_v^2 + sigma_n^2)) over the
  sum of log10(1 + s_x^2 / sigma_n^2).

The reference is x (the original), the distorted picture y; VIF is not symmetric. Identical
pictures give 1 (to about 1e-10: the 1e-10 guards); more distortion gives less; a contrast
enhancement can give more than 1. A constant reference carries no information: VIF is 0/0 and
an error here.
"""

from __future__ import annotations

import numpy as np

from vcmref.eval.iqa._common import REF_PEAK, filter_valid, gaussian_1d, need_size, pair

__all__ = ["VIF_SIGMA_NSQ", "vif"]

VIF_SIGMA_NSQ = 2.0  # the HVS noise variance of vifp_mscale.m, for samples in [0, 255]
VIF_SCALES = 4
_EPS = 1e-10


def _window(scale: int) -> np.ndarray:
    n = 2 ** (VIF_SCALES - scale + 1) + 1
    return gaussian_1d(n, n / 5.0)


def _min_size() -> int:
    """The smallest side for which every scale has at least one valid window position."""
    n = 1
    while True:
        h = n
        ok = True
        for s in range(1, VIF_SCALES + 1):
            w = _window(s).size
            if s > 1:
                h = (h - _window(s).size + 1 + 1) // 2  # 'valid' filtering, then rows 0, 2, ...
            if h < w:
                ok = False
                break
        if ok:
            return n
        n += 1


VIF_MIN_SIZE = _min_size()  # 41 for the 17/9/5/3 windows


def vif(reference: object, distorted: object, peak: float) -> float:
    """Pixel-domain VIF (vifp_mscale.m) of a (H, W) plane in [0, peak] against its reference."""
    what = "vif"
    x, y, p = pair(reference, distorted, peak, what)
    need_size(x.shape, VIF_MIN_SIZE, what, "4 scales of 17/9/5/3-tap windows")
    x = x * (REF_PEAK / p)
    y = y * (REF_PEAK / p)
    num = den = 0.0
    for s in range(1, VIF_SCALES + 1):
        g = _window(s)
        if s > 1:
            x = filter_valid(x, g)[::2, ::2]
            y = filter_valid(y, g)[::2, ::2]
        mx, my = filter_valid(x, g), filter_valid(y, g)
        sxx = np.maximum(filter_valid(x * x, g) - mx * mx, 0.0)
        syy = np.maximum(filter_valid(y * y, g) - my * my, 0.0)
        sxy = filter_valid(x * y, g) - mx * my
        gain = sxy / (sxx + _EPS)
        sv = syy - gain * sxy
        flat_x = sxx < _EPS
        gain[flat_x] = 0.0
        sv[flat_x] = syy[flat_x]
        sxx[flat_x] = 0.0
        flat_y = syy < _EPS
        gain[flat_y] = 0.0
        sv[flat_y] = 0.0
        neg = gain < 0
        sv[neg] = syy[neg]
        gain[neg] = 0.0
        sv = np.maximum(sv, _EPS)
        num += float(np.sum(np.log10(1.0 + gain * gain * sxx / (sv + VIF_SIGMA_NSQ))))
        den += float(np.sum(np.log10(1.0 + sxx / VIF_SIGMA_NSQ)))
    if den == 0.0:
        raise ValueError(f"{what}: the reference is constant (no information at any scale), "
                         "VIF is undefined; expected a reference with some texture")
    return num / den
