"""A rate-distortion model of task accuracy: D(R) = gamma + sum_i alpha_i 2^(-beta_i R_i),
fitted to measured points, inverted for the rate at an accuracy drop, and the closed-form bit
allocation between the terms that it implies.

D is the accuracy loss, reference mAP - mAP (mAP points, >= 0 up to noise), gamma the loss left
at unbounded rate, alpha_i >= 0 what term i can lose, beta_i > 0 how fast (per kbit: rates are
in kbit = 1000 bits per image). With one rate knob per split (one QP for all of the cut's
tensors) the model has one term, on the total bits per image; with per-tensor rates measured
(R an (n, k) array), one term per tensor.

The rate at an accuracy drop x (a fraction of the reference mAP, so a loss target
L = x * reference mAP) is given two ways: from the fitted curve,
R = -log2((L - gamma) / alpha) / beta (one term; none when L <= gamma), and by interpolating
the measured points linearly in log2(rate) (`rate_at_loss`).

Allocation (`allocate_rate`): minimizing D under sum_i R_i = R_total gives equal slopes,
alpha_i beta_i ln2 2^(-beta_i R_i) = lambda for every term with R_i > 0 (reverse
water-filling): R_i = max(0, (log2(alpha_i beta_i ln2) - log2 lambda) / beta_i), lambda set by
the budget. No encoder of vcmref allocates bits between tensors in closed form (the feature
anchor takes per-tensor QP offsets as given), so this is the one place it is done.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vcmref.errors import VcmrefError

KBIT = 1000.0  # bits per rate unit of the fit


class RdModelError(VcmrefError):
    """Points a model cannot be fitted to, or a model used outside its terms."""


@dataclass(frozen=True)
class RdModel:
    """D(R) = gamma + sum_i alpha_i 2^(-beta_i R_i), R_i in kbit; fitted with its R^2 and
    RMSE on the points it was fitted to."""

    gamma: float
    alpha: tuple[float, ...]
    beta: tuple[float, ...]  # per kbit
    r2: float = float("nan")
    rmse: float = float("nan")
    points: int = 0

    @property
    def terms(self) -> int:
        return len(self.alpha)

    def loss(self, rates_kbit: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """D at rates (kbit): a scalar or (n,) for one term, (n, k) or (k,) for k terms."""
        r = np.asarray(rates_kbit, np.float64)
        if self.terms == 1 and (r.ndim == 0 or r.ndim == 1 and r.shape != (1,)):
            r = r[..., None]
        if r.shape[-1] != self.terms:
            raise RdModelError(f"rates of shape {r.shape}: expected {self.terms} per point")
        a, b = np.asarray(self.alpha), np.asarray(self.beta)
        return self.gamma + (a * np.exp2(-b * r)).sum(axis=-1)

    def rate_at_loss(self, loss: float) -> float | None:
        """The total rate (kbit) at which D falls to `loss` (one term; with several, the
        optimal allocation's total); None when the model never gets there."""
        if loss <= self.gamma:
            return None
        if self.terms == 1:
            if self.alpha[0] <= 0:  # a flat curve: the loss is met at any rate
                return 0.0
            return max(0.0, -math.log2((loss - self.gamma) / self.alpha[0]) / self.beta[0])
        lo, hi = 0.0, 1.0
        while self.loss(allocate_rate(self, hi)) > loss:
            hi *= 2
            if hi > 1e12:
                return None
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.loss(allocate_rate(self, mid)) > loss else (lo, mid)
        return hi


def _model(r: np.ndarray, gamma: float, *ab: float) -> np.ndarray:
    k = len(ab) // 2
    a, b = np.asarray(ab[:k]), np.asarray(ab[k:])
    return gamma + (a * np.exp2(-b * r)).sum(axis=1)


def fit_rd_model(rates_kbit: np.ndarray | Sequence, losses: np.ndarray | Sequence
                 ) -> RdModel:
    """Least-squares fit (scipy curve_fit, trust-region reflective) of D(R) to measured
    points: rates (n,) or (n, k) in kbit, losses (n,). Bounds: alpha_i >= 0, beta_i in
    [1e-6, 1e3] / kbit; several starting betas are tried, the least squared error kept."""
    from scipy.optimize import curve_fit

    r = np.asarray(rates_kbit, np.float64)
    d = np.asarray(losses, np.float64)
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[0] != d.shape[0] or d.ndim != 1:
        raise RdModelError(f"rates of shape {np.shape(rates_kbit)} and losses of shape "
                           f"{np.shape(losses)}: expected (n,) or (n, k) and (n,)")
    ok = np.isfinite(d) & np.isfinite(r).all(axis=1)
    r, d = r[ok], d[ok]
    n, k = r.shape
    if n < 2 * k + 1:
        raise RdModelError(f"{n} finite points: a model of {k} term(s) needs at least "
                           f"{2 * k + 1}")
    if (r < 0).any():
        raise RdModelError("rates must be >= 0")
    span = float(d.max() - d.min()) or 1e-6
    scale = np.maximum(np.median(r, axis=0), 1e-9)
    lower = [d.min() - span] + [0.0] * k + [1e-6] * k
    upper = [d.max() + span] + [10 * span + 1.0] * k + [1e3] * k
    best = None
    for factor in (0.1, 0.3, 1.0, 3.0, 10.0):
        p0 = [float(d.min())] + [span / k] * k + list(np.clip(factor / scale, 1.1e-6, 999.0))
        try:
            params, _ = curve_fit(_model, r, d, p0=p0, bounds=(lower, upper), method="trf",
                                  maxfev=20000)
        except (RuntimeError, ValueError):
            continue
        sse = float(((_model(r, *params) - d) ** 2).sum())
        if best is None or sse < best[1]:
            best = (params, sse)
    if best is None:
        raise RdModelError(f"no fit of {k} term(s) converged on {n} points")
    params, sse = best
    sst = float(((d - d.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    return RdModel(float(params[0]), tuple(float(a) for a in params[1:1 + k]),
                   tuple(float(b) for b in params[1 + k:]), r2, math.sqrt(sse / n), n)


def allocate_rate(model: RdModel, total_kbit: float) -> np.ndarray:
    """The rates (kbit) per term that minimize D with sum R_i = total_kbit (equal slopes,
    reverse water-filling; see the module docstring)."""
    if total_kbit < 0:
        raise RdModelError(f"total rate {total_kbit}: expected >= 0")
    a, b = np.asarray(model.alpha), np.asarray(model.beta)
    weight = np.log2(np.maximum(a * b * math.log(2), 1e-300))  # log2 of each slope at R = 0
    active = a > 0
    rates = np.zeros(len(a))
    while active.any():
        log_lambda = ((weight[active] / b[active]).sum() - total_kbit) / (1 / b[active]).sum()
        rates = np.where(active, (weight - log_lambda) / b, 0.0)
        if (rates[active] >= 0).all():
            return rates
        active &= rates > 0
    return rates


def rate_at_loss(rates_kbit: Sequence[float], losses: Sequence[float], loss: float
                 ) -> float | None:
    """The rate at which the measured loss falls to `loss`, linearly interpolated in
    log2(rate): from the highest rate down, the first point with a loss above the target and
    the one above it in rate bracket the crossing. None when even the highest rate's loss is
    above the target; the lowest rate when every point meets it (fewer bits may too)."""
    pts = sorted((float(r), float(d)) for r, d in zip(rates_kbit, losses, strict=True)
                 if math.isfinite(d) and r > 0)
    if not pts or pts[-1][1] > loss:
        return None
    for (r0, d0), (r1, d1) in zip(reversed(pts[:-1]), reversed(pts[1:]), strict=True):
        if d0 > loss:
            t = (d0 - loss) / (d0 - d1) if d0 != d1 else 1.0
            return float(2 ** (math.log2(r0) + t * (math.log2(r1) - math.log2(r0))))
    return pts[0][0]
