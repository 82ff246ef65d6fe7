"""Simple recovery baselines: zero fill, mean fill, nearest and linear interpolation within a
channel, and OpenCV's Navier-Stokes and Telea inpainting per channel."""

from __future__ import annotations

from typing import Any

import numpy as np

from vcmref.eval.recovery.base import (
    FALLBACK,
    FittedRecovery,
    RecoveryError,
    RecoveryMethod,
    channel_means,
    fallback_value,
)
from vcmref.params import Param
from vcmref.registry import RECOVERY

__all__ = ["BilinearFill", "InpaintNS", "InpaintTelea", "MeanFill", "NearestFill", "ZeroFill",
           "interpolate_axis"]


@RECOVERY.register("zero")
class ZeroFill(RecoveryMethod):
    """Every lost sample set to 0: the baseline the other methods are measured against."""

    name = "zero"

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        return np.zeros_like(values)


@RECOVERY.register("mean")
class MeanFill(FittedRecovery):
    """Every lost sample set to its channel's mean: ``means: channel`` the mean of the samples
    of the channel that arrived (a channel with none: the ``fallback``), ``means: training``
    the channel's mean over training tensors (``fit``/``load``, or the ``weights`` file)."""

    name = "mean"
    parameters = (
        Param("means", str, "channel", choices=("channel", "training"),
              doc="the channel's mean over the samples that arrived, or over training data"),
        FALLBACK,
        Param("weights", str, optional=True, doc="a .npz written by save(), for training"),
    )

    def needs_state(self) -> bool:
        return self.settings["means"] == "training"

    def _fit_add(self, acc: dict[str, Any] | None, tensor: np.ndarray) -> dict[str, Any]:
        total = tensor.mean(axis=(1, 2), dtype=np.float64)
        return {"total": total if acc is None else acc["total"] + total}

    def _fit_finish(self, acc: dict[str, Any], count: int) -> dict[str, np.ndarray]:
        return {"mean": acc["total"] / count}

    def _check_entry(self, path: Any, key: str, entry: dict[str, np.ndarray]) -> None:
        if entry.get("mean", np.empty(0)).shape != (int(entry["shape"][0]),):
            raise RecoveryError(f"{path}: tensor {key!r}: expected {int(entry['shape'][0])} "
                                f"channel means")

    def _training_means(self, shape: tuple[int, ...], name: str | None) -> np.ndarray:
        return self._entry(shape, name)["mean"]

    def _all_missing(self, shape: tuple[int, ...], name: str | None) -> np.ndarray:
        if not self.needs_state():
            return np.zeros(shape, np.float32)
        means = self._training_means(shape, name)
        return np.broadcast_to(means[:, None, None], shape).astype(np.float32)

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        if self.needs_state():
            means = self._training_means(values.shape, name)
        else:
            means = channel_means(values, missing,
                                  fallback_value(self.settings["fallback"], values, missing))
        return np.broadcast_to(means[:, None, None], values.shape).astype(np.float32)


def interpolate_axis(values: np.ndarray, avail: np.ndarray, axis: int,
                     linear: bool) -> tuple[np.ndarray, np.ndarray]:
    """Along `axis`, each position estimated from the nearest available samples before and
    after it: the nearer of the two (a tie: the one before) or, `linear`, the linear
    interpolation between them; with one side only, that side's sample (constant
    extrapolation). Returns (estimates float64, where an estimate exists)."""
    v = np.moveaxis(values, axis, -1).astype(np.float64)
    a = np.moveaxis(avail, axis, -1)
    n = v.shape[-1]
    idx = np.broadcast_to(np.arange(n), v.shape)
    prev = np.maximum.accumulate(np.where(a, idx, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(a, idx, n)[..., ::-1], axis=-1)[..., ::-1]
    has_prev, has_next = prev >= 0, nxt < n
    vp = np.take_along_axis(v, np.clip(prev, 0, n - 1), axis=-1)
    vn = np.take_along_axis(v, np.clip(nxt, 0, n - 1), axis=-1)
    if linear:
        span = np.maximum(nxt - prev, 1)
        between = vp + (vn - vp) * ((idx - prev) / span)
        est = np.where(has_prev & has_next, between, np.where(has_prev, vp, vn))
    else:
        take_prev = has_prev & (~has_next | (idx - prev <= nxt - idx))
        est = np.where(take_prev, vp, vn)
    ok = has_prev | has_next
    return np.moveaxis(est, -1, axis), np.moveaxis(ok, -1, axis)


class _Interpolation(RecoveryMethod):
    """Interpolation within a channel: first along the column (from the rows that arrived
    above and below: a lost row), then, where a column has no sample left, along the row; a
    sample neither reaches gets the mean of its channel's available samples, a channel with
    none the ``fallback``."""

    parameters = (FALLBACK,)
    linear = False

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        avail = ~missing
        est, ok = interpolate_axis(values, avail, 1, self.linear)
        todo = missing & ~ok
        if todo.any():
            across, ok2 = interpolate_axis(values, avail, 2, self.linear)
            est = np.where(todo & ok2, across, est)
            todo &= ~ok2
        if todo.any():
            means = channel_means(values, missing,
                                  fallback_value(self.settings["fallback"], values, missing))
            est = np.where(todo, means[:, None, None], est)
        return est.astype(np.float32)


@RECOVERY.register("nearest")
class NearestFill(_Interpolation):
    """A lost sample copied from the nearest available sample of its column (the row above on
    a tie), else of its row; see `_Interpolation` for the rest."""

    name = "nearest"
    linear = False


@RECOVERY.register("bilinear")
class BilinearFill(_Interpolation):
    """A lost sample linearly interpolated between the nearest available samples above and
    below it in its column (one side only: copied), else along its row. For lost rows, the
    vertical pass is all there is: linear interpolation between the rows that arrived."""

    name = "bilinear"
    linear = True


class _Inpaint(RecoveryMethod):
    """OpenCV inpainting (``cv2.inpaint``) per channel.

    cv2.inpaint takes 8-bit, 16-bit or 32-bit float single-channel pictures; each channel is
    mapped to float32 with its available samples spanning [0, 255] (min -> 0, max -> 255, no
    rounding), inpainted, and mapped back. The scaling matters for Telea: its weights assume
    levels of 8-bit range, and raw feature values (about -0.3..10) gave a ten times larger
    error in our tests; Navier-Stokes is nearly scale-free. A channel whose available samples
    are all equal is filled with that value; a channel with none gets the ``fallback``."""

    parameters = (
        Param("radius", int, 3, min=1, max=64, doc="inpaintRadius, in samples"),
        FALLBACK,
    )
    flag_name = ""

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        import cv2

        flag = getattr(cv2, self.flag_name)
        fallback = fallback_value(self.settings["fallback"], values, missing)
        est = np.zeros_like(values)
        for c in range(values.shape[0]):
            lost = missing[c]
            if not lost.any():
                continue
            if lost.all():
                est[c] = fallback
                continue
            avail = values[c][~lost]
            lo, hi = float(avail.min()), float(avail.max())
            if hi <= lo:
                est[c] = lo
                continue
            scale = 255.0 / (hi - lo)
            src = np.where(lost, 0.0, (values[c] - lo) * scale).astype(np.float32)
            out = cv2.inpaint(src, lost.astype(np.uint8), self.settings["radius"], flag)
            est[c] = out.astype(np.float64) / scale + lo
        return est


@RECOVERY.register("inpaint-ns")
class InpaintNS(_Inpaint):
    """Navier-Stokes inpainting (Bertalmio et al. 2001), cv2.INPAINT_NS, per channel."""

    name = "inpaint-ns"
    flag_name = "INPAINT_NS"


@RECOVERY.register("inpaint-telea")
class InpaintTelea(_Inpaint):
    """Fast-marching inpainting (Telea 2004), cv2.INPAINT_TELEA, per channel."""

    name = "inpaint-telea"
    flag_name = "INPAINT_TELEA"
