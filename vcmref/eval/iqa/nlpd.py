"""NLPD, the normalised Laplacian pyramid distance: Laparra, Balle, Berardino and Simoncelli,
"Perceptual image quality assessment using a normalized Laplacian pyramid", Electronic Imaging
2016, in the form JPEG AI's reference software computes it: IQA_pytorch's ``NLPD``
(Ding et al.'s port of Hepburn's nlpd-tensorflow), one channel, on luma scaled to [0, 1].

Conventions (IQA_pytorch ``NLPD(channels=1)``, k = 6):

* samples scaled to [0, 1] (``x / peak``): the divisive-normalisation constants are defined
  for that range; no gamma/power on the input (the NYU MATLAB ``NLP_dist.m`` applies one, and
  pyiqa follows that code; their values differ from these);
* 6 levels. At each level, with J the current picture (the input at level 0):
  L = the 5x5 filter outer(w, w), w = (0.05, 0.25, 0.4, 0.25, 0.05);
  I = (J reflect-padded by 2, without repeating the edge sample) correlated with L, keeping
  rows and columns 0, 2, 4, ... (ceil(H / 2) x ceil(W / 2));
  U = I upsampled x2 bilinearly with aligned corners (sample i of n at i (m - 1) / (n - 1)),
  reflect-padded by 2 and correlated with L (no gain of 4), then, when its size (2 ceil(H/2))
  differs from J's, resampled to J's size by nearest neighbour (source floor(i m / n));
  B = J - U, the band; its normalisation N = sigma_l + the 3x3 filter D_l correlated with |B|
  reflect-padded by 1; the normalised band is B / N; J becomes I;
* sigma_l = 0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782 and D_l the 4-neighbour weights
  (up, left, right, down) (0.1011, 0.1493, 0.1460, 0.1015), (0.0757, 0.1986, 0.1846, 0.0837),
  (0.0477, 0.2138, 0.2243, 0.0467), (0, 0.2503, 0.2616, 0), (0, 0.2598, 0.2552, 0),
  (0, 0.2215, 0.0717, 0) of that code;
* NLPD = the mean over the 6 levels of the root mean square difference of the two pictures'
  normalised bands.

Symmetric; 0 for identical pictures, larger for more distortion (lower is better).
"""

from __future__ import annotations

import numpy as np

from vcmref.eval.iqa._common import need_size, pair

__all__ = ["NLPD_LEVELS", "nlpd"]

NLPD_LEVELS = 6
_W = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
_SIGMAS = (0.0248, 0.0185, 0.0179, 0.0191, 0.0220, 0.2782)
_DN = (  # (up, left, right, down) weights of each level's 3x3 normalisation filter
    (0.1011, 0.1493, 0.1460, 0.1015), (0.0757, 0.1986, 0.1846, 0.0837),
    (0.0477, 0.2138, 0.2243, 0.0467), (0.0, 0.2503, 0.2616, 0.0),
    (0.0, 0.2598, 0.2552, 0.0), (0.0, 0.2215, 0.0717, 0.0),
)
# reflect padding by 2 needs 3 samples at the last level: ceil(n / 2^5) >= 3
NLPD_MIN_SIZE = 2 * 2 ** (NLPD_LEVELS - 1) + 1


def _blur(x: np.ndarray) -> np.ndarray:
    """Correlation with outer(_W, _W) of x reflect-padded by 2 ('valid': same size as x)."""
    p = np.pad(x, 2, mode="reflect")
    h, w = x.shape
    rows = sum(_W[k] * p[k:k + h, :] for k in range(5))
    return sum(_W[k] * rows[:, k:k + w] for k in range(5))


def _upsample_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Bilinear x2 resampling along `axis` with aligned corners (torch align_corners=True)."""
    n = x.shape[axis]
    m = 2 * n
    pos = np.arange(m) * ((n - 1) / (m - 1)) if n > 1 else np.zeros(m)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n - 1)
    t = pos - i0
    shape = [1, 1]
    shape[axis] = m
    t = t.reshape(shape)
    return (1.0 - t) * np.take(x, i0, axis=axis) + t * np.take(x, i1, axis=axis)


def _nearest(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """torch's legacy 'nearest' resampling to (h, w): source index floor(i * in / out)."""
    rows = np.floor(np.arange(h) * (x.shape[0] / h)).astype(np.intp)
    cols = np.floor(np.arange(w) * (x.shape[1] / w)).astype(np.intp)
    return x[np.ix_(rows, cols)]


def _normalised_bands(x: np.ndarray) -> list[np.ndarray]:
    bands = []
    j = x
    for level in range(NLPD_LEVELS):
        low = _blur(j)[::2, ::2]
        up = _blur(_upsample_axis(_upsample_axis(low, 0), 1))
        if up.shape != j.shape:
            up = _nearest(up, *j.shape)
        band = j - up
        a = np.pad(np.abs(band), 1, mode="reflect")
        wu, wl, wr, wd = _DN[level]
        norm = (_SIGMAS[level] + wu * a[:-2, 1:-1] + wl * a[1:-1, :-2] + wr * a[1:-1, 2:]
                + wd * a[2:, 1:-1])
        bands.append(band / norm)
        j = low
    return bands


def nlpd(reference: object, distorted: object, peak: float) -> float:
    """NLPD (IQA_pytorch's, as JPEG AI) of two (H, W) planes in [0, peak]; lower is better."""
    what = "nlpd"
    x, y, p = pair(reference, distorted, peak, what)
    need_size(x.shape, NLPD_MIN_SIZE, what, f"{NLPD_LEVELS} pyramid levels")
    bx, by = _normalised_bands(x / p), _normalised_bands(y / p)
    return float(np.mean([np.sqrt(np.mean((a - b) ** 2)) for a, b in zip(bx, by, strict=True)]))
