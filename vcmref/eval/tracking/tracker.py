"""A SORT/ByteTrack-style multi-object tracker: a constant-velocity Kalman filter per track,
IoU association by the Hungarian method, ByteTrack's two stages (high-score detections first,
then low-score ones for the tracks still unmatched).

Per frame, with the parameters of `TrackerParams`:

1. Every track's filter predicts its box in this frame.
2. Detections scoring below `low_score` are dropped; those at or above `high_score` are
   "high", the rest "low".
3. Confirmed tracks (seen in the last frame or lost for up to `max_age` frames) are matched to
   the high detections, IoU >= `match_iou`.
4. Confirmed tracks still unmatched that were seen in the last frame are matched to the low
   detections, IoU >= `low_match_iou`; the others are now lost.
5. Tentative tracks are matched to the high detections left, IoU >= `tentative_match_iou`;
   a tentative track that finds none is deleted.
6. High detections left that score at least `new_track_score` start tentative tracks. A track
   is confirmed after `min_hits` matched frames in a row (at once on the tracker's first
   frame) and gets its id then (1, 2, ... in order of confirmation); a confirmed track missed
   for more than `max_age` frames ends.

Each association is one linear assignment (scipy's ``linear_sum_assignment``) maximising the
summed IoU of the pairs allowed; with `per_class`, a track and a detection of different
classes are never paired. Tracks are taken in creation order and detections in input order,
so the result is a pure function of the input. Boxes are xyxy float64 in 0-based pixels.

The filter (ByteTrack's) has the state (cx, cy, a, h) and its velocities, a = w / h, with
process and measurement noise proportional to the box height.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import linear_sum_assignment

from vcmref.errors import VcmrefError
from vcmref.eval.tracking.mot import FrameEntries, MotTracks
from vcmref.params import Param, check_settings

_FORBIDDEN_COST = 1e6  # a pair below the IoU gate; more than any number of allowed pairs cost


class TrackingInputError(VcmrefError, ValueError):
    """Detections a tracker cannot use: wrong shapes, NaN or infinite values, bad boxes."""


@dataclass(frozen=True, eq=False)
class Detections:
    """One frame's detections: `boxes` (N, 4) float64 xyxy in 0-based pixels, `scores` (N,)
    float64, `classes` (N,) int64 (the dataset's category ids)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise TrackingInputError(f"detections: boxes must be (N, 4), got {boxes.shape}")
        n = len(boxes)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        classes = (np.zeros(n, np.int64) if self.classes is None
                   else np.asarray(self.classes).reshape(-1))
        if len(scores) != n or len(classes) != n:
            raise TrackingInputError(f"detections: {n} boxes, {len(scores)} scores, "
                                     f"{len(classes)} classes")
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise TrackingInputError("detections: boxes and scores must be finite")
        if (boxes[:, 2:] < boxes[:, :2]).any():
            raise TrackingInputError("detections: a box has x2 < x1 or y2 < y1 (expected xyxy)")
        if classes.dtype.kind == "f" and (classes != np.round(classes)).any():
            raise TrackingInputError("detections: classes must be integers")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes.astype(np.int64))

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def from_coco(cls, predictions: Sequence[Mapping[str, Any]]) -> Detections:
        """From the task models' predictions: COCO dicts with ``bbox`` [x, y, w, h] (0-based
        pixels), ``score`` and ``category_id`` (vcmref.tasks.base.Predictions)."""
        boxes = np.array([p["bbox"] for p in predictions], dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return cls(boxes, [p["score"] for p in predictions],
                   np.array([p["category_id"] for p in predictions], dtype=np.int64))

    @classmethod
    def from_entries(cls, entries: FrameEntries) -> Detections:
        """From a MOT file's frame (det.txt, or ground truth used as perfect detections)."""
        return cls(entries.boxes, entries.scores, entries.classes)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box of `a` (N, 4) with every box of `b` (M, 4): (N, M); 0 where
    the union is empty."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _assign(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs (row, column) of a maximum-IoU assignment among pairs with IoU >= `min_iou`."""
    if iou.size == 0:
        return []
    allowed = iou >= min_iou
    rows, cols = linear_sum_assignment(np.where(allowed, 1.0 - iou, _FORBIDDEN_COST))
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


class BoxKalmanFilter:
    """Constant-velocity Kalman filter on (cx, cy, a, h) (a = w / h), ByteTrack's noise model:
    standard deviations 1/20 (position) and 1/160 (velocity) of the box height."""

    position_weight: ClassVar[float] = 1.0 / 20
    velocity_weight: ClassVar[float] = 1.0 / 160

    def __init__(self) -> None:
        self.motion = np.eye(8)
        self.motion[:4, 4:] = np.eye(4)
        self.observation = np.eye(4, 8)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State mean and covariance of a new track from its first (cx, cy, a, h)."""
        h = measurement[3]
        p, v = self.position_weight, self.velocity_weight
        std = np.array([2 * p * h, 2 * p * h, 1e-2, 2 * p * h,
                        10 * v * h, 10 * v * h, 1e-5, 10 * v * h])
        return np.concatenate([measurement, np.zeros(4)]), np.diag(std**2)

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        p, v = self.position_weight, self.velocity_weight
        std = np.array([p * h, p * h, 1e-2, p * h, v * h, v * h, 1e-5, v * h])
        mean = self.motion @ mean
        cov = self.motion @ cov @ self.motion.T + np.diag(std**2)
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray,
               measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        p = self.position_weight
        noise = np.diag(np.array([p * h, p * h, 1e-1, p * h]) ** 2)
        projected = self.observation @ mean
        innovation_cov = self.observation @ cov @ self.observation.T + noise
        gain = np.linalg.solve(innovation_cov, self.observation @ cov).T
        mean = mean + gain @ (measurement - projected)
        cov = cov - gain @ innovation_cov @ gain.T
        return mean, cov


def _xyxy_to_cxcyah(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    h = max(h, 1e-6)  # a zero-height box would make the aspect infinite
    return np.array([box[0] + w / 2, box[1] + h / 2, w / h, h])


def _cxcyah_to_xyxy(state: np.ndarray) -> np.ndarray:
    cx, cy, a, h = state[:4]
    w = a * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


_POSITIVE_IOU = {"min": 0.0, "max": 1.0, "positive": True}

TRACKER_PARAMETERS: tuple[Param, ...] = (
    Param("low_score", float, 0.1, min=0.0, max=1.0,
          doc="detections below it are dropped"),
    Param("high_score", float, 0.5, min=lambda s: s["low_score"], max=1.0,
          doc="detections at or above it take part in the first association"),
    Param("new_track_score", float, 0.6, min=lambda s: s["high_score"], max=1.0,
          doc="a high detection left over starts a track from this score"),
    Param("match_iou", float, 0.2, **_POSITIVE_IOU, doc="first association's IoU gate"),
    Param("low_match_iou", float, 0.5, **_POSITIVE_IOU, doc="second association's IoU gate"),
    Param("tentative_match_iou", float, 0.3, **_POSITIVE_IOU,
          doc="IoU gate of tentative tracks"),
    Param("min_hits", int, 3, min=1, max=1000, doc="matched frames in a row to confirm"),
    Param("max_age", int, 30, min=0, max=100_000, doc="frames a lost track is kept"),
    Param("per_class", bool, False, doc="pair tracks and detections of one class only"),
    Param("box_source", str, "detection", choices=("detection", "filter"),
          doc="a track's reported box: its matched detection's, or the filtered state's"),
)


@dataclass(frozen=True)
class TrackerParams:
    """The tracker's parameters (module docstring; defaults ByteTrack's, `min_hits` SORT's).
    Checked on construction: a value out of range raises vcmref.params.ParamError naming
    ``tracker.<name>`` on one line."""

    low_score: float = 0.1
    high_score: float = 0.5
    new_track_score: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    tentative_match_iou: float = 0.3
    min_hits: int = 3
    max_age: int = 30
    per_class: bool = False
    box_source: str = "detection"

    def __post_init__(self) -> None:
        check_settings(TRACKER_PARAMETERS, asdict(self), prefix="tracker.")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TrackerParams:
        """From a config's mapping (unknown keys refused, defaults filled in)."""
        return cls(**check_settings(TRACKER_PARAMETERS, settings, prefix="tracker."))


@dataclass(eq=False)  # tracks compare by identity
class _Track:
    mean: np.ndarray
    cov: np.ndarray
    class_id: int
    hits: int = 1
    missed: int = 0  # frames since the last match
    track_id: int = 0  # 0 until confirmed
    # (frame, box xyxy, score, class) of every matched frame
    history: list[tuple[int, np.ndarray, float, int]] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return self.track_id > 0


class Tracker:
    """Online tracker: `update` takes one frame's detections and returns the confirmed tracks
    matched in it (see the module docstring for the steps)."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.kalman = BoxKalmanFilter()
        self.frame = 0
        self.tracks: list[_Track] = []  # alive (tentative, confirmed or lost), oldest first
        self.finished: list[_Track] = []  # confirmed tracks that have ended
        self._next_id = 1

    def _gated_iou(self, tracks: list[_Track], dets: Detections,
                   index: np.ndarray) -> np.ndarray:
        boxes = np.array([_cxcyah_to_xyxy(t.mean) for t in tracks]).reshape(-1, 4)
        iou = _iou_matrix(boxes, dets.boxes[index])
        if self.params.per_class and iou.size:
            same = np.array([t.class_id for t in tracks])[:, None] == dets.classes[index][None]
            iou = np.where(same, iou, -1.0)
        return iou

    def _match(self, tracks: list[_Track], dets: Detections, index: np.ndarray,
               min_iou: float) -> tuple[list[tuple[_Track, int]], list[_Track], np.ndarray]:
        """(matched (track, detection index), unmatched tracks, unmatched detection indices)."""
        pairs = _assign(self._gated_iou(tracks, dets, index), min_iou)
        matched = [(tracks[r], int(index[c])) for r, c in pairs]
        used_rows = {r for r, _ in pairs}
        used_cols = {c for _, c in pairs}
        rest = np.array([d for k, d in enumerate(index) if k not in used_cols], dtype=np.int64)
        return matched, [t for k, t in enumerate(tracks) if k not in used_rows], rest

    def _observe(self, track: _Track, dets: Detections, k: int) -> None:
        box = dets.boxes[k]
        track.mean, track.cov = self.kalman.update(track.mean, track.cov, _xyxy_to_cxcyah(box))
        track.hits = track.hits + 1 if track.missed == 0 else 1
        track.missed = 0
        track.class_id = int(dets.classes[k])
        reported = box if self.params.box_source == "detection" else _cxcyah_to_xyxy(track.mean)
        track.history.append((self.frame, reported.copy(), float(dets.scores[k]),
                              track.class_id))

    def _confirm(self, track: _Track) -> None:
        track.track_id = self._next_id
        self._next_id += 1

    def update(self, detections: Detections | Sequence[Mapping[str, Any]]) -> FrameEntries:
        """Track one frame. `detections`: a `Detections`, or the task model's COCO dicts.
        Returns the confirmed tracks matched in this frame (ids >= 1)."""
        dets = (detections if isinstance(detections, Detections)
                else Detections.from_coco(detections))
        p = self.params
        self.frame += 1
        for track in self.tracks:
            if track.missed > 0:  # ByteTrack: a lost track's height stops changing
                track.mean[7] = 0.0
            track.mean, track.cov = self.kalman.predict(track.mean, track.cov)
        high = np.flatnonzero(dets.scores >= p.high_score)
        low = np.flatnonzero((dets.scores >= p.low_score) & (dets.scores < p.high_score))
        confirmed = [t for t in self.tracks if t.confirmed]
        tentative = [t for t in self.tracks if not t.confirmed]

        matched, unmatched, high_left = self._match(confirmed, dets, high, p.match_iou)
        recent = [t for t in unmatched if t.missed == 0]
        matched_low, _, _ = self._match(recent, dets, low, p.low_match_iou)
        matched_tentative, tentative_left, high_left = self._match(
            tentative, dets, high_left, p.tentative_match_iou)

        for track, k in matched + matched_low + matched_tentative:
            self._observe(track, dets, k)
        for track, _ in matched_tentative:
            if track.hits >= p.min_hits:
                self._confirm(track)
        rematched = {id(t) for t, _ in matched_low}
        missed = [t for t in unmatched if id(t) not in rematched]  # lost, kept up to max_age
        for track in missed:
            track.missed += 1
        gone = {id(t) for t in tentative_left}
        gone |= {id(t) for t in missed if t.missed > p.max_age}
        self.finished += [t for t in self.tracks if id(t) in gone and t.confirmed]
        self.tracks = [t for t in self.tracks if id(t) not in gone]

        for k in high_left:
            if dets.scores[k] < p.new_track_score:
                continue
            mean, cov = self.kalman.initiate(_xyxy_to_cxcyah(dets.boxes[k]))
            track = _Track(mean, cov, int(dets.classes[k]))
            track.history.append((self.frame, dets.boxes[k].copy(), float(dets.scores[k]),
                                  track.class_id))
            self.tracks.append(track)
            if self.frame == 1 or p.min_hits <= 1:
                self._confirm(track)

        return self._entries([t for t in self.tracks if t.confirmed and t.missed == 0])

    def _entries(self, tracks: list[_Track]) -> FrameEntries:
        rows = sorted((t.track_id, t.history[-1]) for t in tracks)
        if not rows:
            return FrameEntries.empty()
        return FrameEntries(np.array([h[1] for _, h in rows]), [i for i, _ in rows],
                            classes=[h[3] for _, h in rows], scores=[h[2] for _, h in rows])

    def all_tracks(self) -> list[_Track]:
        """Every confirmed track so far, ended or not, in order of id."""
        return sorted(self.finished + [t for t in self.tracks if t.confirmed],
                      key=lambda t: t.track_id)


def track_sequence(detections: Iterable[Detections | Sequence[Mapping[str, Any]]],
                   params: TrackerParams | None = None, *, backfill: bool = True,
                   source: str = "tracker") -> MotTracks:
    """Track a whole sequence (frame 1 first) and return the confirmed tracks, frame by frame.

    `backfill`: also report a track in the frames before its confirmation (the first
    ``min_hits - 1`` frames it was seen in), which an online tracker cannot; without it the
    output is exactly what `Tracker.update` returned frame by frame."""
    tracker = Tracker(params)
    online = [tracker.update(d) for d in detections]
    if not backfill:
        return MotTracks(tuple(online), source=source)
    per_frame: list[list[tuple[int, np.ndarray, float, int]]] = [[] for _ in online]
    for track in tracker.all_tracks():
        for frame, box, score, class_id in track.history:
            per_frame[frame - 1].append((track.track_id, box, score, class_id))
    frames = []
    for rows in per_frame:
        rows.sort(key=lambda r: r[0])
        frames.append(FrameEntries(np.array([r[1] for r in rows]).reshape(-1, 4),
                                   [r[0] for r in rows], classes=[r[3] for r in rows],
                                   scores=[r[2] for r in rows]) if rows
                      else FrameEntries.empty())
    return MotTracks(tuple(frames), source=source)
