"""FSIM and FSIMc: Zhang, Zhang, Mou and Zhang, "FSIM: a feature similarity index for image
quality assessment", IEEE TIP 20(8), 2011, as computed by the authors' ``FeatureSIM.m``
(with its ``phasecong2``, after Kovesi's phase congruency).

Conventions (those of ``FeatureSIM.m`` unless said otherwise):

* samples scaled to [0, 255] (``x * 255 / peak``): T2 = 160, T3 = T4 = 200 are defined there;
* colour (FSIMc): R'G'B' to YIQ with Y = 0.299 R + 0.587 G + 0.114 B,
  I = 0.596 R - 0.274 G - 0.322 B, Q = 0.211 R - 0.523 G + 0.312 B (the reference's
  coefficients; piq rounds them differently, 0.5959, -0.2746, ...); a plane (FSIM) is used as Y;
* downsampling by F = max(1, round(min(H, W) / 256)): the mean of each F x F block, keeping
  floor(H / F) x floor(W / F) blocks (what IQA_pytorch, which JPEG AI's reference software
  uses, and piq do; FeatureSIM.m's ``conv2(.., 'same')`` then ``1:F:end`` is the same for
  F = 2, e.g. 768 x 512, and shifted by (F - 1) / 2 for odd F). round() is half to even, as
  numpy/Python (and those two tools) do; MATLAB rounds half away, which differs only when
  min(H, W) / 256 ends in exactly .5;
* phase congruency: 4 scales (wavelengths 6, 12, 24, 48), 4 orientations (0, 45, 90, 135
  degrees), log-Gabor sigma_f 0.55, angular spread pi / 4 / 1.2, Butterworth low-pass
  (cutoff 0.45, order 15), noise threshold k = 2 from the median of the smallest scale's
  squared response (numpy/MATLAB median, the mean of the two middle values), divided by 1.7,
  epsilon 1e-4 in the local energy; the FFT is periodic, as in the reference;
* gradient magnitude from the Scharr kernels [3 0 -3; 10 0 -10; 3 0 -3] / 16 and its
  transpose, zero padding ('same');
* S_PC = (2 PC_1 PC_2 + T1) / (PC_1^2 + PC_2^2 + T1), T1 = 0.85; S_G likewise with T2 = 160;
  FSIM = sum(S_PC S_G PC_m) / sum(PC_m), PC_m = max(PC_1, PC_2);
* FSIMc multiplies each term by |S_I S_Q|^0.03 (T3 = T4 = 200). FeatureSIM.m takes the real
  part of the complex power, cos(0.03 pi) |.|^0.03 where S_I S_Q < 0 (rare: a large hue
  inversion); IQA_pytorch and piq, and so JPEG AI, take the absolute value, as here.

The reference is the first picture; FSIM is symmetric in its two inputs except through the
downsampling and rounding. Identical pictures give 1 exactly (0/0 for a constant picture, which
has no phase congruency anywhere, is an error here).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import fft, ndimage

from vcmref.eval.iqa._common import REF_PEAK, need_size, pair

__all__ = ["FSIM_DOWNSAMPLE_SIZE", "fsim", "fsim_downsample_factor"]

FSIM_DOWNSAMPLE_SIZE = 256  # F = max(1, round(min(H, W) / 256))
_SCALES, _ORIENTS, _MIN_WAVELENGTH, _MULT = 4, 4, 6, 2
_SIGMA_ONF, _DTHETA_ON_SIGMA, _K, _EPSILON = 0.55, 1.2, 2.0, 1e-4
_T1, _T2, _T3, _T4, _LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_SCHARR = np.array([[3.0, 0.0, -3.0], [10.0, 0.0, -10.0], [3.0, 0.0, -3.0]]) / 16.0
_MIN_SIZE = 8


def fsim_downsample_factor(height: int, width: int) -> int:
    """F = max(1, round(min(H, W) / 256)), round() half to even (IQA_pytorch, piq)."""
    return max(1, int(round(min(height, width) / FSIM_DOWNSAMPLE_SIZE)))


def _block_mean(x: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return x
    h, w = x.shape[0] // f * f, x.shape[1] // f * f
    return x[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def _grid(n: int) -> np.ndarray:
    """The reference's normalised frequency coordinates of one axis, before ifftshift."""
    if n % 2:
        return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
    return np.arange(-n / 2, n / 2) / n


@lru_cache(maxsize=8)
def _filters(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Log-Gabor filters (orient, scale, rows, cols), EM_n, sum An^2 and sum AiAj per orientation
    (phasecong2's noise model), for a rows x cols picture."""
    x, y = np.meshgrid(_grid(cols), _grid(rows))
    radius = np.sqrt(x * x + y * y)
    theta = np.arctan2(-y, x)
    lowpass = fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** (2 * 15)))
    radius = fft.ifftshift(radius)
    theta = fft.ifftshift(theta)
    radius[0, 0] = 1.0
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    log_gabor = []
    for s in range(_SCALES):
        fo = 1.0 / (_MIN_WAVELENGTH * _MULT ** s)
        lg = np.exp(-(np.log(radius / fo) ** 2) / (2.0 * math.log(_SIGMA_ONF) ** 2)) * lowpass
        lg[0, 0] = 0.0
        log_gabor.append(lg)
    theta_sigma = math.pi / _ORIENTS / _DTHETA_ON_SIGMA
    filters = np.empty((_ORIENTS, _SCALES, rows, cols))
    em_n = np.empty(_ORIENTS)
    sum_an2 = np.empty(_ORIENTS)
    sum_aiaj = np.empty(_ORIENTS)
    for o in range(_ORIENTS):
        angle = o * math.pi / _ORIENTS
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2.0 * theta_sigma ** 2))
        ifft_filt = []
        for s in range(_SCALES):
            filters[o, s] = log_gabor[s] * spread
            ifft_filt.append(np.real(fft.ifft2(filters[o, s])) * math.sqrt(rows * cols))
        em_n[o] = float(np.sum(filters[o, 0] ** 2))
        sum_an2[o] = float(sum(np.sum(f * f) for f in ifft_filt))
        sum_aiaj[o] = float(sum(np.sum(ifft_filt[i] * ifft_filt[j])
                                for i in range(_SCALES - 1) for j in range(i + 1, _SCALES)))
    for a in (filters, em_n, sum_an2, sum_aiaj):
        a.setflags(write=False)
    return filters, em_n, sum_an2, sum_aiaj


def _phase_congruency(y: np.ndarray) -> np.ndarray:
    """phasecong2's PC_2 map of a plane (float64, samples in [0, 255])."""
    filters, em_n, sum_an2, sum_aiaj = _filters(*y.shape)
    spectrum = fft.fft2(y)
    energy_all = np.zeros(y.shape)
    an_all = np.zeros(y.shape)
    for o in range(_ORIENTS):
        eo = fft.ifft2(spectrum[None] * filters[o], axes=(-2, -1))  # (scales, rows, cols)
        even, odd = eo.real, eo.imag
        sum_e, sum_o = even.sum(axis=0), odd.sum(axis=0)
        x_energy = np.sqrt(sum_e ** 2 + sum_o ** 2) + _EPSILON
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = np.sum(even * mean_e + odd * mean_o - np.abs(even * mean_o - odd * mean_e),
                        axis=0)
        mean_e2n = -float(np.median(np.abs(eo[0]) ** 2)) / math.log(0.5)
        noise_power = mean_e2n / em_n[o]
        tau = math.sqrt((2.0 * noise_power * sum_an2[o] + 4.0 * noise_power * sum_aiaj[o]) / 2.0)
        threshold = (tau * math.sqrt(math.pi / 2.0)
                     + _K * math.sqrt((2.0 - math.pi / 2.0) * tau * tau)) / 1.7
        energy_all += np.maximum(energy - threshold, 0.0)
        an_all += np.abs(eo).sum(axis=0)
    return np.divide(energy_all, an_all, out=np.zeros_like(energy_all), where=an_all > 0)


def _gradient(y: np.ndarray) -> np.ndarray:
    gx = ndimage.convolve(y, _SCHARR, mode="constant")
    gy = ndimage.convolve(y, _SCHARR.T, mode="constant")
    return np.sqrt(gx * gx + gy * gy)


def _similarity(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (2.0 * a * b + t) / (a * a + b * b + t)


def fsim(reference: object, distorted: object, peak: float, *, chromatic: bool = False) -> float:
    """FSIM of a (H, W) plane, or with ``chromatic=True`` FSIMc of a (H, W, 3) R'G'B' picture,
    samples in [0, peak], against its reference (FeatureSIM.m; see the module docstring)."""
    what = "fsim"
    x, y, p = pair(reference, distorted, peak, what, channels=3 if chromatic else None)
    need_size(x.shape, _MIN_SIZE, what, "the phase-congruency filters need 8 samples a side")
    x = x * (REF_PEAK / p)
    y = y * (REF_PEAK / p)
    f = fsim_downsample_factor(x.shape[0], x.shape[1])
    if chromatic:
        x = np.moveaxis(x @ _YIQ.T, -1, 0)
        y = np.moveaxis(y @ _YIQ.T, -1, 0)
        x = np.stack([_block_mean(c, f) for c in x])
        y = np.stack([_block_mean(c, f) for c in y])
        lum_x, lum_y = x[0], y[0]
    else:
        lum_x, lum_y = _block_mean(x, f), _block_mean(y, f)
    pc_x, pc_y = _phase_congruency(lum_x), _phase_congruency(lum_y)
    pc_m = np.maximum(pc_x, pc_y)
    total = float(pc_m.sum())
    if total == 0.0:
        raise ValueError(f"{what}: no phase congruency in either picture (constant pictures), "
                         "FSIM is undefined; expected pictures with some structure")
    score = _similarity(pc_x, pc_y, _T1) * _similarity(_gradient(lum_x), _gradient(lum_y), _T2)
    if chromatic:
        score = score * np.abs(_similarity(x[1], y[1], _T3) * _similarity(x[2], y[2], _T4)
                               ) ** _LAMBDA
    return float(np.sum(score * pc_m) / total)
