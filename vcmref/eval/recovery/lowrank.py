"""Low-rank tensor completion: SiLRTC and HaLRTC of Liu, Musialski, Wonka and Ye, "Tensor
completion for estimating missing values in visual data", IEEE TPAMI 35(1), 2013 (Algorithms
1 and 3), in numpy.

Both minimise the weighted sum of the trace norms of the three unfoldings of the (C, H, W)
tensor, ``sum_i alpha_i ||X_(i)||_*``, subject to the available samples, by singular value
shrinkage ``D_tau(A) = U max(S - tau, 0) V^T`` of each unfolding:

SiLRTC (block coordinate descent of the relaxed problem, with beta_i = beta alpha_i)
    ``M_i = fold_i(D_{alpha_i/beta_i}(X_(i)))``, then the missing samples
    ``X = sum_i beta_i M_i / sum_i beta_i``; the threshold is 1/beta on every unfolding.
HaLRTC (ADMM)
    ``M_i = fold_i(D_{alpha_i/rho}(X_(i) + Y_i/rho))``, the missing samples
    ``X = mean_i (M_i - Y_i/rho)``, ``Y_i -= rho (M_i - X)``; then rho *= rho_growth (1: the
    paper's fixed rho; a growing rho, common in implementations, converges faster).

Choices the paper leaves open, made here:

* Scale: the tensor is divided by ``s = sqrt(C H W) x RMS(available samples)`` (a tensor of
  unit Frobenius norm, whatever its size and units) and multiplied back at the end, so the
  thresholds mean the same on dark3 and dark5.
* Start: the missing samples start at their channel's mean over the available samples (the
  ``fallback`` for an empty channel); ``init: zero`` starts them at 0.
* Stop: after `max_iterations`, or earlier when the relative change of the tensor between two
  iterations, ``||X_k - X_{k-1}||_F / ||X_{k-1}||_F``, falls below `tolerance` (0: never).
  `last_iterations` holds the number run by the last `recover`.
* ``alpha``: three non-negative mode weights (channel, row, column), normalised to sum 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vcmref.eval.recovery.base import (
    FALLBACK,
    RecoveryMethod,
    channel_means,
    fallback_value,
)
from vcmref.params import Param, ParamError
from vcmref.registry import RECOVERY

__all__ = ["HaLRTC", "SiLRTC", "shrink"]


def shrink(matrix: np.ndarray, tau: float) -> np.ndarray:
    """Singular value shrinkage D_tau: the singular values less tau, floored at 0.

    Computed from the eigen-decomposition of the smaller Gram matrix, ``A A^T = U S^2 U^T``,
    as ``U diag(max(s - tau, 0) / s) U^T A``: the same matrix as through the SVD (to rounding:
    singular values below about 1e-8 of the largest are imprecise, and are shrunk to 0 by
    any useful tau), and several times faster on these wide unfoldings."""
    if matrix.shape[0] > matrix.shape[1]:
        return shrink(matrix.T, tau).T
    w, u = np.linalg.eigh(matrix @ matrix.T)
    s = np.sqrt(np.maximum(w, 0.0))
    keep = s > tau
    if not keep.any():
        return np.zeros_like(matrix)
    u = u[:, keep]
    return (u * (1.0 - tau / s[keep])) @ (u.T @ matrix)


def _unfold(x: np.ndarray, mode: int) -> np.ndarray:
    return np.moveaxis(x, mode, 0).reshape(x.shape[mode], -1)


def _fold(m: np.ndarray, mode: int, shape: tuple[int, ...]) -> np.ndarray:
    moved = (shape[mode],) + tuple(s for i, s in enumerate(shape) if i != mode)
    return np.moveaxis(m.reshape(moved), 0, mode)


_COMMON = (
    Param("alpha", list, [1.0, 1.0, 1.0], items=float,
          doc="weights of the channel, row and column unfoldings"),
    Param("max_iterations", int, 100, min=1, max=100000),
    Param("tolerance", float, 1e-4, min=0, doc="relative change that stops the iterations"),
    Param("init", str, "channel-mean", choices=("channel-mean", "zero"),
          doc="the start of the missing samples"),
    FALLBACK,
)


class _LowRank(RecoveryMethod):
    """The common frame of SiLRTC and HaLRTC (see the module docstring)."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.last_iterations = 0

    def validate(self) -> None:
        alpha = self.settings["alpha"]
        if len(alpha) != 3 or min(alpha) < 0 or sum(alpha) <= 0:
            raise ParamError(f"{self.name}.alpha", f"expected 3 non-negative numbers, not all "
                                                   f"0, got {alpha!r}")

    def _alphas(self) -> np.ndarray:
        a = np.asarray(self.settings["alpha"], np.float64)
        return a / a.sum()

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        self.last_iterations = 0
        fallback = fallback_value(self.settings["fallback"], values, missing)
        avail = ~missing
        rms = float(np.sqrt(np.mean(np.square(values[avail], dtype=np.float64))))
        if rms == 0.0:  # everything that arrived is 0: so is the lowest-rank completion
            return np.zeros_like(values)
        scale = rms * np.sqrt(values.size)
        x = values.astype(np.float64) / scale
        if self.settings["init"] == "channel-mean":
            means = channel_means(values, missing, fallback) / scale
            x = np.where(missing, means[:, None, None], x)
        known = x[avail]
        for k in range(self.settings["max_iterations"]):
            new = self._step(x, missing, k)
            new[avail] = known
            self.last_iterations = k + 1
            change = np.linalg.norm(new - x) / max(np.linalg.norm(x), 1e-30)
            x = new
            if change < self.settings["tolerance"]:
                break
        return (x * scale).astype(np.float32)

    def _step(self, x: np.ndarray, missing: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError


@RECOVERY.register("silrtc")
class SiLRTC(_LowRank):
    """Simple low-rank tensor completion (Liu et al. 2013, Algorithm 1): block coordinate
    descent, singular value threshold 1/beta on each unfolding of the normalised tensor."""

    name = "silrtc"
    parameters = _COMMON + (
        Param("beta", float, 50.0, positive=True,
              doc="relaxation weight; 1/beta the singular value threshold"),
    )

    def _step(self, x: np.ndarray, missing: np.ndarray, k: int) -> np.ndarray:
        alpha = self._alphas()
        betas = self.settings["beta"] * alpha
        total = np.zeros_like(x)
        for mode in range(3):
            if alpha[mode] == 0:
                continue
            m = _fold(shrink(_unfold(x, mode), alpha[mode] / betas[mode]), mode, x.shape)
            total += betas[mode] * m
        return total / betas.sum()


@RECOVERY.register("halrtc")
class HaLRTC(_LowRank):
    """High-accuracy low-rank tensor completion (Liu et al. 2013, Algorithm 3): ADMM with
    penalty rho (times rho_growth after each iteration)."""

    name = "halrtc"
    parameters = _COMMON + (
        Param("rho", float, 1.0, positive=True, doc="ADMM penalty at the start"),
        Param("rho_growth", float, 1.1, min=1.0, max=10.0, doc="rho's factor per iteration"),
    )

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        self._duals: list[np.ndarray] = [np.zeros(values.shape) for _ in range(3)]
        self._rho = float(self.settings["rho"])
        try:
            return super()._estimate(values, missing, name)
        finally:
            del self._duals

    def _step(self, x: np.ndarray, missing: np.ndarray, k: int) -> np.ndarray:
        alpha, rho, duals = self._alphas(), self._rho, self._duals
        used = [mode for mode in range(3) if alpha[mode] > 0]
        ms = {}
        for mode in used:
            a = _unfold(x + duals[mode] / rho, mode)
            ms[mode] = _fold(shrink(a, alpha[mode] / rho), mode, x.shape)
        new = sum(ms[mode] - duals[mode] / rho for mode in used) / len(used)
        new = np.where(missing, new, x)
        for mode in used:
            duals[mode] -= rho * (ms[mode] - new)
        self._rho = rho * self.settings["rho_growth"]
        return new
