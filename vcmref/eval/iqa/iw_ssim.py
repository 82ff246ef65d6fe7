"""IW-SSIM, information content weighted SSIM: Wang and Li, "Information content weighting for
perceptual image quality assessment", IEEE TIP 20(5), 2011, as computed by the authors'
``iwssim.m`` (the code JPEG AI's reference software ports, through Guo's Python-IW-SSIM and
pyrtools; piq's ``information_weighted_ssim`` follows it too).

Conventions (those of ``iwssim.m`` with its defaults):

* samples scaled to [0, 255] (``x * 255 / peak``); L = 255, C1 = (0.01 L)^2, C2 = (0.03 L)^2;
* a 5-level Laplacian pyramid (matlabPyrTools ``buildLpyr``): the filter
  sqrt(2) (1, 4, 6, 4, 1) / 16 along each axis (so each low-pass level gains 2), edges
  'reflect1' (mirrored without repeating the edge sample); down: correlate and keep samples
  0, 2, 4, ...; up: zero insertion, then the upsampled line mirrored and correlated with the
  same filter (what upConv does; not the exact transpose at the edges); band = picture -
  up(down(picture)); levels 1-4 are bands, level 5 the low-pass;
* at every level the SSIM contrast-structure map cs (11 x 11 Gaussian window, sigma 1.5,
  'valid' positions, population variances clamped at 0); at level 5 cs times the luminance
  term l;
* information content weights at levels 1-4 from the reference's band: the 3x3 neighbourhood
  plus, at levels 1-3, the parent (the next level's band enlarged x2 by ``imenlarge2``:
  bilinear resize to 4n - 3 with pixel-centre alignment, linear extrapolation of one sample
  each side, every other sample) form a Gaussian scale mixture vector; C_u its covariance
  over all positions (negative eigenvalues set to 0, the rest rescaled to keep the trace);
  s^2 = y' C_u^-1 y / N; g, s_v^2 from 3x3 box statistics of the two bands (zero padding,
  tol 1e-15 guards as the reference); w = sum over C_u's eigenvalues lambda of
  log2(1 + ((s_v^2 + (1 + g^2) sigma_n^2) s^2 lambda + sigma_n^2 s_v^2) / sigma_n^4),
  sigma_n^2 = 0.4; the weights are cropped by 4 samples each side to the 'valid' cs positions;
  level 5 is weighted uniformly;
* IW-SSIM = prod over levels of |sum(cs w) / sum(w)|^beta_l, beta = (0.0448, 0.2856, 0.3001,
  0.2363, 0.1333), not renormalised (they sum to 1.0001; piq divides by the sum).

The reference is the first picture (its bands give the weights). Identical pictures give 1;
more distortion gives less. A level whose weights are all 0 (a constant reference band, where
the reference divides 0 by 0) is pooled uniformly. Needs both sides >= 161 (the 11 x 11 window
at the fifth level, 1/16 of the size).
"""

from __future__ import annotations

import math

import numpy as np

from vcmref.eval.iqa._common import REF_PEAK, filter_valid, gaussian_1d, need_size, pair

__all__ = ["IW_SSIM_WEIGHTS", "iw_ssim", "laplacian_pyramid"]

IW_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
IW_SSIM_LEVELS = len(IW_SSIM_WEIGHTS)
_K1, _K2 = 0.01, 0.03
_WINDOW, _SIGMA = 11, 1.5
_BLOCK = 3  # neighbourhood of the information content model
_SIGMA_NSQ = 0.4
_TOL = 1e-15
_BINOM5 = math.sqrt(2.0) * np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
IW_SSIM_MIN_SIZE = (_WINDOW - 1) * 2 ** (IW_SSIM_LEVELS - 1) + 1


def _down(x: np.ndarray, axis: int) -> np.ndarray:
    """corrDn with the binom5 filter, 'reflect1' edges, step 2 along `axis`."""
    n = x.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (2, 2)
    p = np.pad(x, pad, mode="reflect")
    out = sum(_BINOM5[k] * np.take(p, np.arange(k, k + n, 2), axis=axis) for k in range(5))
    return out


def _up(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """upConv with the binom5 filter, 'reflect1' edges, step 2, to length `n` along `axis`:
    zero insertion (samples at 0, 2, 4, ...), the upsampled line mirrored by 2 samples without
    repeating the edge one, correlation with the filter (checked against pyrtools)."""
    shape = list(x.shape)
    shape[axis] = n
    u = np.zeros(shape)
    idx = [slice(None), slice(None)]
    idx[axis] = slice(0, n, 2)
    u[tuple(idx)] = x
    pad = [(0, 0), (0, 0)]
    pad[axis] = (2, 2)
    p = np.pad(u, pad, mode="reflect")
    return sum(_BINOM5[k] * np.take(p, np.arange(k, k + n), axis=axis) for k in range(5))


def laplacian_pyramid(x: np.ndarray, levels: int = IW_SSIM_LEVELS) -> list[np.ndarray]:
    """matlabPyrTools' buildLpyr(x, levels) with binom5 and 'reflect1': levels - 1 bands, then
    the low-pass residual."""
    out = []
    for _ in range(levels - 1):
        low = _down(_down(x, 1), 0)
        up = _up(_up(low, x.shape[0], 0), x.shape[1], 1)
        out.append(x - up)
        x = low
    out.append(x)
    return out


def _ssim_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSIM luminance and contrast-structure maps at the 'valid' window positions."""
    g = gaussian_1d(_WINDOW, _SIGMA)
    c1, c2 = (_K1 * REF_PEAK) ** 2, (_K2 * REF_PEAK) ** 2
    mx, my = filter_valid(x, g), filter_valid(y, g)
    sxx = np.maximum(filter_valid(x * x, g) - mx * mx, 0.0)
    syy = np.maximum(filter_valid(y * y, g) - my * my, 0.0)
    sxy = filter_valid(x * y, g) - mx * my
    return (2.0 * mx * my + c1) / (mx * mx + my * my + c1), (2.0 * sxy + c2) / (sxx + syy + c2)


def _box3_same(x: np.ndarray) -> np.ndarray:
    """Mean over the 3x3 neighbourhood with zero padding (MATLAB filter2(ones(3)/9, x, 'same'))."""
    p = np.pad(x, 1)
    h, w = x.shape
    return sum(p[i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _enlarge2(x: np.ndarray) -> np.ndarray:
    """iwssim.m's imenlarge2: bilinear resize to (4M - 3, 4N - 3) with pixel-centre alignment,
    one linearly extrapolated sample each side, then every other sample: (2M, 2N)."""
    def resize(a: np.ndarray, m: int, axis: int) -> np.ndarray:
        n = a.shape[axis]
        pos = np.clip((np.arange(m) + 0.5) * (n / m) - 0.5, 0.0, n - 1)
        i0 = np.floor(pos).astype(np.intp)
        i1 = np.minimum(i0 + 1, n - 1)
        shape = [1, 1]
        shape[axis] = m
        t = (pos - i0).reshape(shape)
        return (1.0 - t) * np.take(a, i0, axis=axis) + t * np.take(a, i1, axis=axis)

    m, n = x.shape
    t1 = resize(resize(x, 4 * m - 3, 0), 4 * n - 3, 1)
    t2 = np.zeros((4 * m - 1, 4 * n - 1))
    t2[1:-1, 1:-1] = t1
    t2[0, :] = 2 * t2[1, :] - t2[2, :]
    t2[-1, :] = 2 * t2[-2, :] - t2[-3, :]
    t2[:, 0] = 2 * t2[:, 1] - t2[:, 2]
    t2[:, -1] = 2 * t2[:, -2] - t2[:, -3]
    return t2[::2, ::2]


def _info_weights(xo: np.ndarray, yd: np.ndarray, parent: np.ndarray | None) -> np.ndarray:
    """iwssim.m's info_content_weight_map at one level: x the reference's band, y the
    distorted band, `parent` the reference's next band (or None)."""
    mx, my = _box3_same(xo), _box3_same(yd)
    cov = _box3_same(xo * yd) - mx * my
    ssx = np.maximum(_box3_same(xo * xo) - mx * mx, 0.0)
    ssy = np.maximum(_box3_same(yd * yd) - my * my, 0.0)
    g = cov / (ssx + _TOL)
    vv = ssy - g * cov
    flat_x = ssx < _TOL
    g[flat_x] = 0.0
    vv[flat_x] = ssy[flat_x]
    flat_y = ssy < _TOL
    g[flat_y] = 0.0
    vv[flat_y] = 0.0
    h, w = xo.shape
    r = (_BLOCK - 1) // 2
    nv, nh = h - _BLOCK + 1, w - _BLOCK + 1
    cols = [xo[r + dy:r + dy + nv, r + dx:r + dx + nh].ravel()
            for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    if parent is not None:
        cols.append(_enlarge2(parent)[:h, :w][r:r + nv, r:r + nh].ravel())
    big_y = np.stack(cols, axis=1)
    n = big_y.shape[1]
    cu = big_y.T @ big_y / big_y.shape[0]
    lam, q = np.linalg.eigh(cu)
    pos_sum = float(np.sum(lam * (lam > 0)))
    if pos_sum == 0.0:  # a constant band: no information anywhere (the reference divides 0/0)
        return np.zeros((nv, nh))
    lam = lam * (lam > 0) * float(np.sum(lam)) / (pos_sum + (pos_sum == 0))
    cu = (q * lam) @ q.T
    ss = np.sum((big_y @ np.linalg.inv(cu)) * big_y, axis=1).reshape(nv, nh) / n
    g = g[r:r + nv, r:r + nh]
    vv = vv[r:r + nv, r:r + nh]
    snsq = _SIGMA_NSQ
    a = (vv + (1.0 + g * g) * snsq) * ss
    infow = sum(np.log2(1.0 + (a * lj + snsq * vv) / (snsq * snsq)) for lj in lam)
    infow[infow < _TOL] = 0.0
    return infow


def iw_ssim(reference: object, distorted: object, peak: float) -> float:
    """IW-SSIM (iwssim.m) of a (H, W) plane in [0, peak] against its reference."""
    what = "iw_ssim"
    x, y, p = pair(reference, distorted, peak, what)
    need_size(x.shape, IW_SSIM_MIN_SIZE, what,
              f"the {_WINDOW}x{_WINDOW} window at the 5th pyramid level")
    x = x * (REF_PEAK / p)
    y = y * (REF_PEAK / p)
    px, py = laplacian_pyramid(x), laplacian_pyramid(y)
    crop = math.ceil((_WINDOW - 1) / 2) - (_BLOCK - 1) // 2  # 4: weights to 'valid' positions
    value = 1.0
    for s in range(IW_SSIM_LEVELS):
        lum, cs = _ssim_maps(px[s], py[s])
        if s == IW_SSIM_LEVELS - 1:
            pooled = float(np.mean(cs * lum))
        else:
            parent = px[s + 1] if s < IW_SSIM_LEVELS - 2 else None
            w = _info_weights(px[s], py[s], parent)[crop:-crop, crop:-crop]
            total = float(w.sum())
            pooled = float(np.sum(cs * w) / total) if total > 0 else float(np.mean(cs))
        value *= abs(pooled) ** IW_SSIM_WEIGHTS[s]
    return value
