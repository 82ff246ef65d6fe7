"""Linear tensor completion: ALTeC, with weights fitted on training features (after
Bragilevsky and Bajic, "Tensor completion methods for collaborative intelligence", IEEE Access
8, 2020), and CALTeC, content-adaptive and fitted on the received tensor itself (after
Dhondea, Cohen and Bajic, "CALTeC: content-adaptive linear tensor completion for
collaborative intelligence", ICIP 2021)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vcmref.eval.recovery.base import (
    FALLBACK,
    FittedRecovery,
    RecoveryError,
    RecoveryMethod,
    channel_means,
    fallback_value,
    shipped_weights,
)
from vcmref.params import Param
from vcmref.registry import RECOVERY

__all__ = ["SHIPPED_ALTEC", "ALTeC", "CALTeC"]

#: The ALTeC weights vcmref ships (``weights: shipped``): YOLOX-Nano backbone (dark3, dark4,
#: dark5), reach 2, width 1, fitted on the 208 COCO train2017 images of the shared assets by
#: training/fit_altec.py.
SHIPPED_ALTEC = "altec_yolox_nano_backbone.npz"


@RECOVERY.register("altec")
class ALTeC(FittedRecovery):
    """Adaptive linear tensor completion: a lost sample predicted as a linear combination of
    the samples that arrived around it in its own channel, with weights fitted per channel on
    training features (least squares).

    The neighbourhood: the rows up to `reach` above and below (offsets -reach..-1, 1..reach),
    each over the columns within `width` of the sample's (clamped at the edges), plus a bias.
    A neighbour row counts as available where all of its window arrived (and it lies inside
    the tensor); each of the 2^(2 reach) availability patterns has its own weights per channel
    (the weights of absent rows are 0), fitted on the training positions where the rows of the
    pattern lie inside the tensor, by ridge regression (`ridge` times the mean feature energy on
    the diagonal, not on the bias). The pattern with no neighbour is the bias alone: the
    channel's training mean, which is also what a whole lost channel gets.

    Made for row losses: the samples of the lost sample's own row are not used (under other
    masks a partly received row is simply not a neighbour). This follows the paper's idea (a
    per-channel linear predictor from received neighbours, trained offline) rather than its
    exact neighbourhood; the choices above are ours (reach 2, width 1 chosen on training
    features: 2 x 1 rows or no side columns did worse, 3 rows or 2 side columns a little better
    for four times the weights).
    Fitted state per tensor: ``weights`` float32 (C, 2^(2 reach), 2 reach (2 width + 1) + 1),
    the last column the bias."""

    name = "altec"
    parameters = (
        Param("reach", int, 2, min=1, max=4, doc="rows used above and below a lost sample"),
        Param("width", int, 1, min=0, max=4, doc="columns used either side of it"),
        Param("ridge", float, 1e-4, min=0, doc="ridge regularisation, relative"),
        Param("weights", str, optional=True,
              doc="a .npz written by save(), or 'shipped': the YOLOX-Nano backbone weights"),
    )
    fit_settings = ("reach", "width")

    def _weights_path(self, weights: str) -> Path:
        return shipped_weights(SHIPPED_ALTEC) if weights == "shipped" else Path(weights)

    # -- layout -------------------------------------------------------------------------------

    def _offsets(self) -> list[int]:
        k = self.settings["reach"]
        return [*range(-k, 0), *range(1, k + 1)]

    def _n_features(self) -> int:
        return len(self._offsets()) * (2 * self.settings["width"] + 1) + 1

    def _feature_rows(self, pattern: int) -> list[int]:
        """The feature indices (without the bias) a pattern uses."""
        cols = 2 * self.settings["width"] + 1
        return [b * cols + j for b in range(len(self._offsets())) if pattern >> b & 1
                for j in range(cols)]

    # -- fitting ------------------------------------------------------------------------------

    def _fit_add(self, acc: dict[str, Any] | None, tensor: np.ndarray) -> dict[str, Any]:
        """Per channel and row, the sums of feature outer products and of feature x sample
        over the row's columns (rows outside the tensor give 0 features)."""
        c, h, w = tensor.shape
        width, nf = self.settings["width"], self._n_features()
        x = tensor.astype(np.float64)
        feats = np.empty((c, h, w, nf))
        f = 0
        for o in self._offsets():
            rows = np.arange(h) + o
            inside = (rows >= 0) & (rows < h)
            shifted = x[:, np.clip(rows, 0, h - 1)] * inside[None, :, None]
            for d in range(-width, width + 1):
                feats[..., f] = shifted[:, :, np.clip(np.arange(w) + d, 0, w - 1)]
                f += 1
        feats[..., -1] = 1.0
        gram = np.einsum("chwf,chwg->chfg", feats, feats, optimize=True)
        rhs = np.einsum("chwf,chw->chf", feats, x, optimize=True)
        if acc is None:
            return {"gram": gram, "rhs": rhs}
        acc["gram"] += gram
        acc["rhs"] += rhs
        return acc

    def _fit_finish(self, acc: dict[str, Any], count: int) -> dict[str, np.ndarray]:
        """Per channel and availability pattern, the ridge solution over the rows where the
        pattern's rows lie inside the tensor."""
        gram, rhs = acc["gram"], acc["rhs"]
        c, h, nf = rhs.shape
        offsets = self._offsets()
        n_patterns = 1 << len(offsets)
        weights = np.zeros((c, n_patterns, nf))
        for p in range(n_patterns):
            used = [o for b, o in enumerate(offsets) if p >> b & 1]
            lo = max([0, *(-o for o in used)])
            hi = h - max([0, *used])
            sel = [*self._feature_rows(p), nf - 1]
            if hi <= lo:  # no training position has all these rows: the mean alone
                sel = [nf - 1]
                lo, hi = 0, h
            g = gram[:, lo:hi].sum(axis=1)[:, sel][:, :, sel]
            b = rhs[:, lo:hi].sum(axis=1)[:, sel]
            if len(sel) > 1:
                diag = np.einsum("cii->ci", g)[:, :-1]
                lam = self.settings["ridge"] * diag.mean(axis=1) + 1e-9 * g[:, -1, -1]
                idx = np.arange(len(sel) - 1)
                g[:, idx, idx] += lam[:, None]
            weights[:, p, sel] = np.linalg.solve(g, b[..., None])[..., 0]
        return {"weights": weights.astype(np.float32)}

    def _check_entry(self, path: Any, key: str, entry: dict[str, np.ndarray]) -> None:
        c = int(entry["shape"][0])
        want = (c, 1 << len(self._offsets()), self._n_features())
        got = entry.get("weights", np.empty(0)).shape
        if got != want:
            raise RecoveryError(f"{path}: tensor {key!r}: expected weights of shape {want}, "
                                f"got {got}")

    # -- recovering ---------------------------------------------------------------------------

    def _all_missing(self, shape: tuple[int, ...], name: str | None) -> np.ndarray:
        bias = self._entry(shape, name)["weights"][:, 0, -1].astype(np.float32)
        return np.broadcast_to(bias[:, None, None], shape).copy()

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        weights = self._entry(values.shape, name)["weights"]
        c, h, w = values.shape
        width = self.settings["width"]
        offsets = self._offsets()
        avail = ~missing
        # a row's window is available where every sample of it arrived (columns clamped)
        window = avail.copy()
        for d in range(-width, width + 1):
            window &= avail[:, :, np.clip(np.arange(w) + d, 0, w - 1)]
        ci, hi, wi = np.nonzero(missing)
        pattern = np.zeros(ci.shape, np.int64)
        feats = np.zeros((ci.size, self._n_features()))
        f = 0
        for b, o in enumerate(offsets):
            rows = hi + o
            inside = (rows >= 0) & (rows < h)
            rows = np.clip(rows, 0, h - 1)
            there = inside & window[ci, rows, wi]
            pattern |= there.astype(np.int64) << b
            for d in range(-width, width + 1):
                feats[:, f] = np.where(there, values[ci, rows, np.clip(wi + d, 0, w - 1)], 0.0)
                f += 1
        feats[:, -1] = 1.0
        pred = np.einsum("nf,nf->n", weights[ci, pattern].astype(np.float64), feats)
        est = np.zeros_like(values)
        est[ci, hi, wi] = pred
        return est


@RECOVERY.register("caltec")
class CALTeC(RecoveryMethod):
    """Content-adaptive linear tensor completion: a lost sample of channel c is predicted
    linearly, ``a x_d + b``, from the co-located sample of the channel d most correlated with
    c among those where that sample arrived; a, b and the correlation are fitted on the
    samples c and d both have (least squares of c on d: for row losses, the rows both have).
    No training: everything comes from the received tensor.

    Candidates are tried in order of decreasing |correlation| (a negative correlation predicts
    as well); a pair needs `min_overlap` common samples and |r| above `min_correlation`.
    Samples no candidate covers get their channel's mean over the samples that arrived; a
    channel with none the ``fallback``. With `clamp` (the default) a prediction is kept within
    the range of the channel's available samples.

    Where we depart from or add to the paper: one regression per channel pair serves all of
    that pair's lost segments (for whole-row losses the common samples are the common rows,
    as in the paper); the mean fallback where no channel holds a segment; `min_overlap` (64
    samples by default: with few common rows, the best of hundreds of correlations is
    mostly chance) and `clamp` (SiLU features sit on a floor of about -0.28 with sparse
    peaks, so a slope fitted on a few points can throw predictions far out). Both were
    chosen on training features; without them CALTeC was worse than zero fill on some
    YOLOX-Nano dark4/dark5 tensors at 30 % row loss."""

    name = "caltec"
    parameters = (
        Param("min_overlap", int, 64, min=2, doc="common samples a pair needs"),
        Param("min_correlation", float, 0.0, min=0, max=1,
              doc="|r| a predicting channel must exceed"),
        Param("clamp", bool, True, doc="keep predictions within the range of the channel's "
                                          "available samples"),
        FALLBACK,
    )

    def _estimate(self, values: np.ndarray, missing: np.ndarray,
                  name: str | None) -> np.ndarray:
        c, h, w = values.shape
        fallback = fallback_value(self.settings["fallback"], values, missing)
        means = channel_means(values, missing, fallback)
        avail = (~missing).reshape(c, -1)
        a = avail.astype(np.float64)
        # centred on each channel's own mean: the pairwise moments lose no precision
        x = np.where(avail, values.reshape(c, -1) - means[:, None], 0.0)
        n = a @ a.T                      # common samples of c (row) and d (column)
        sx = x @ a.T                     # sum of x_c where d arrived too
        sy = sx.T                        # sum of x_d where c arrived too
        sxx = (x * x) @ a.T
        syy = sxx.T
        sxy = x @ x.T
        nn = np.maximum(n, 1)
        cov = sxy - sx * sy / nn
        vx = sxx - sx * sx / nn
        vy = syy - sy * sy / nn
        tiny = 1e-12 * np.maximum(vx.max(initial=0.0), 1e-30)
        ok = (n >= self.settings["min_overlap"]) & (vx > tiny) & (vy > tiny)
        np.fill_diagonal(ok, False)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(ok, cov / np.sqrt(np.where(ok, vx * vy, 1.0)), 0.0)
            slope = np.where(ok, cov / np.where(ok, vy, 1.0), 0.0)
        intercept = (sx - slope * sy) / nn    # in the centred coordinates
        ok &= np.abs(r) > self.settings["min_correlation"]
        est = np.broadcast_to(means[:, None], (c, h * w)).copy()
        lost = missing.reshape(c, -1)
        xd = values.reshape(c, -1).astype(np.float64) - means[:, None]
        for ch in np.nonzero(lost.any(axis=1))[0]:
            todo = lost[ch].copy()
            order = np.argsort(-np.abs(r[ch]), kind="stable")
            for d in order:
                if not ok[ch, d]:
                    break
                take = todo & avail[d]
                if take.any():
                    est[ch, take] = (means[ch] + intercept[ch, d]
                                     + slope[ch, d] * xd[d, take])
                    todo &= ~take
                    if not todo.any():
                        break
        if self.settings["clamp"]:
            lo = np.where(avail, values.reshape(c, -1), np.inf).min(axis=1)
            hi = np.where(avail, values.reshape(c, -1), -np.inf).max(axis=1)
            has = avail.any(axis=1)
            est[has] = np.clip(est[has], lo[has, None], hi[has, None])
        return est.reshape(c, h, w).astype(np.float32)
