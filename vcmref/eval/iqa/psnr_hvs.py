"""PSNR-HVS and PSNR-HVS-M: Egiazarian et al., "New full-reference quality metrics based on
HVS", VPQM 2006 (PSNR-HVS), and Ponomarenko et al., "On between-coefficient contrast masking of
DCT basis functions", VPQM 2007 (PSNR-HVS-M), as computed by the authors' ``psnrhvsm.m`` (and
the psnr_hvsm package that JPEG AI's reference software calls).

Conventions (those of ``psnrhvsm.m``):

* the picture is cut into non-overlapping 8x8 blocks from the top-left corner; a size that is
  not a multiple of 8 is first extended to one by repeating the last row/column (what JPEG AI's
  reference software does before calling psnr_hvsm; psnrhvsm.m drops the partial blocks);
* each block's 2-D orthonormal DCT-II (MATLAB ``dct2``); the error of coefficient (k, l) is
  |D_ref - D_dist| weighted by the CSF table below (PSNR-HVS);
* PSNR-HVS-M also masks the AC errors: the error is reduced by m / M(k, l), and is 0 below it,
  with M the masking table below and m = max(m_ref, m_dist), a block's masking
  m = sqrt(sum over AC coefficients of D(k, l)^2 M(k, l) x V) / 32, V = (sum of the variances
  of its four 4x4 quadrants) / (its variance), each variance the N - 1 normalised one times N
  (V = 0 for a constant block); the DC error is never masked;
* MSE_HVS(-M) = the mean over all blocks and the 64 coefficients of the squared weighted
  errors; PSNR = 10 log10(peak^2 / MSE) with the samples' own peak (scale-free: psnrhvsm.m
  uses 255 on 8-bit samples, psnr_hvsm 1 on [0, 1] samples).

Identical pictures give +inf (psnrhvsm.m returns 100000 there, psnr_hvsm 100, and its C++
backend caps every value at 100 dB). Higher is better.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft

from vcmref.eval.iqa._common import need_size, pair

__all__ = ["CSF", "MASK", "psnr_hvs", "psnr_hvs_m"]

#: CSF weights of the 8x8 DCT coefficients (row k, column l), psnrhvsm.m's ``CSFCof``.
CSF = np.array([
    [1.608443, 2.339554, 2.573509, 1.608443, 1.072295, 0.643377, 0.504610, 0.421887],
    [2.144591, 2.144591, 1.838221, 1.354478, 0.989811, 0.443708, 0.428918, 0.467911],
    [1.838221, 1.979622, 1.608443, 1.072295, 0.643377, 0.451493, 0.372972, 0.459555],
    [1.838221, 1.513829, 1.169777, 0.887417, 0.504610, 0.295806, 0.321689, 0.415082],
    [1.429727, 1.169777, 0.695543, 0.459555, 0.378457, 0.236102, 0.249855, 0.334222],
    [1.072295, 0.735288, 0.467911, 0.402111, 0.317717, 0.247453, 0.227744, 0.279729],
    [0.525206, 0.402111, 0.329937, 0.295806, 0.249855, 0.212687, 0.214459, 0.254803],
    [0.357432, 0.279729, 0.270896, 0.262603, 0.229778, 0.257351, 0.249855, 0.259950],
])
#: Masking weights of the 8x8 DCT coefficients, psnrhvsm.m's ``MaskCof``.
MASK = np.array([
    [0.390625, 0.826446, 1.000000, 0.390625, 0.173611, 0.062500, 0.038447, 0.026874],
    [0.694444, 0.694444, 0.510204, 0.277008, 0.147929, 0.029727, 0.027778, 0.033058],
    [0.510204, 0.591716, 0.390625, 0.173611, 0.062500, 0.030779, 0.021004, 0.031888],
    [0.510204, 0.346021, 0.206612, 0.118906, 0.038447, 0.013212, 0.015625, 0.026015],
    [0.308642, 0.206612, 0.073046, 0.031888, 0.021626, 0.008417, 0.009426, 0.016866],
    [0.173611, 0.081633, 0.033058, 0.024414, 0.015242, 0.009246, 0.007831, 0.011815],
    [0.041649, 0.024414, 0.016437, 0.013212, 0.009426, 0.006830, 0.006944, 0.009803],
    [0.019290, 0.011815, 0.011080, 0.010412, 0.007972, 0.010000, 0.009426, 0.010203],
])
_MASK_AC = MASK * (np.arange(64).reshape(8, 8) != 0)  # the DC coefficient does not mask
for _t in (CSF, MASK, _MASK_AC):
    _t.setflags(write=False)
_B = 8


def _blocks(x: np.ndarray) -> np.ndarray:
    """(n, 8, 8) blocks in raster order, the picture first extended to multiples of 8."""
    h, w = x.shape
    x = np.pad(x, ((0, -h % _B), (0, -w % _B)), mode="edge")
    hb, wb = x.shape[0] // _B, x.shape[1] // _B
    return x.reshape(hb, _B, wb, _B).swapaxes(1, 2).reshape(-1, _B, _B)


def _spread(b: np.ndarray) -> np.ndarray:
    """N x the N - 1 normalised variance of each block (MATLAB var(x(:)) * numel)."""
    n = b.shape[-1] * b.shape[-2]
    return np.var(b, axis=(-2, -1), ddof=1) * n


def _masking(b: np.ndarray, d: np.ndarray) -> np.ndarray:
    ac = np.sum(d * d * _MASK_AC, axis=(-2, -1))
    total = _spread(b)
    q = _B // 2
    quads = (_spread(b[:, :q, :q]) + _spread(b[:, :q, q:]) + _spread(b[:, q:, :q])
             + _spread(b[:, q:, q:]))
    v = np.divide(quads, total, out=np.zeros_like(total), where=total != 0)
    return np.sqrt(ac * v) / 32.0


def _mse_hvs(reference: object, distorted: object, peak: float, what: str, masked: bool
             ) -> tuple[float, float]:
    x, y, p = pair(reference, distorted, peak, what)
    need_size(x.shape, _B, what, "one 8x8 DCT block")
    bx, by = _blocks(x), _blocks(y)
    dx = fft.dctn(bx, type=2, norm="ortho", axes=(-2, -1))
    dy = fft.dctn(by, type=2, norm="ortho", axes=(-2, -1))
    err = np.abs(dx - dy)
    if masked:
        m = np.maximum(_masking(bx, dx), _masking(by, dy))[:, None, None] / MASK
        dc = err[:, 0, 0].copy()
        err = np.where(err < m, 0.0, err - m)
        err[:, 0, 0] = dc
    return float(np.mean((err * CSF) ** 2)), p


def _db(mse: float, peak: float) -> float:
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak * peak / mse)


def psnr_hvs(reference: object, distorted: object, peak: float) -> float:
    """PSNR-HVS (CSF-weighted 8x8 DCT errors) of two (H, W) planes in [0, peak], in dB."""
    return _db(*_mse_hvs(reference, distorted, peak, "psnr_hvs", masked=False))


def psnr_hvs_m(reference: object, distorted: object, peak: float) -> float:
    """PSNR-HVS-M (CSF weights and between-coefficient contrast masking) of two (H, W) planes
    in [0, peak], in dB."""
    return _db(*_mse_hvs(reference, distorted, peak, "psnr_hvs_m", masked=True))
