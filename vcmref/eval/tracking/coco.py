"""Tracking on the CTC's COCO-style detections: tracks from a sequence's per-frame detections,
and MOTA/IDF1 of those tracks against ground-truth tracks (annotations with ``track_id``).

A sequence is given by its frames' image ids in display order; detections and annotations are
COCO dicts (``image_id``, ``category_id``, ``bbox`` as [x, y, w, h] in 0-based pixels,
``score``). Tracking and scoring are per category: the tracker associates boxes of one class
only (``per_class``), and each (sequence, category) pair is scored as its own sequence, the
scores summed over all pairs (motmetrics' OVERALL), since motmetrics' matching ignores classes.
Tracks are reported over their whole life (``backfill``), the same for ground truth and for
the tracks scored against it, so that the uncompressed detections score MOTA = IDF1 = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vcmref.eval.tracking.mot import FrameEntries, MotTracks

__all__ = ["DEFAULT_TRACKER", "score_sequences", "track_detections"]


def _default_params() -> Any:
    from vcmref.eval.tracking.tracker import TrackerParams

    return TrackerParams(per_class=True)


DEFAULT_TRACKER = "ByteTrack-style, per class (TrackerParams(per_class=True))"


def _by_frame(entries: Sequence[Mapping[str, Any]], frame_ids: Sequence[int]
              ) -> list[list[Mapping[str, Any]]]:
    index = {fid: k for k, fid in enumerate(frame_ids)}
    frames: list[list[Mapping[str, Any]]] = [[] for _ in frame_ids]
    for e in entries:
        k = index.get(e.get("image_id"))
        if k is not None:
            frames[k].append(e)
    return frames


def track_detections(detections: Sequence[Mapping[str, Any]], frame_ids: Sequence[int],
                     params: Any = None) -> list[dict[str, Any]]:
    """The confirmed tracks of a sequence's detections, as COCO dicts with ``track_id``
    (detections on images outside `frame_ids` are ignored)."""
    from vcmref.eval.tracking.tracker import Detections, track_sequence

    params = params if params is not None else _default_params()
    frames = _by_frame(detections, frame_ids)
    tracks = track_sequence([Detections.from_coco(f) for f in frames], params)
    out: list[dict[str, Any]] = []
    for fid, entries in zip(frame_ids, tracks.frames, strict=True):
        for box, tid, cls, score in zip(entries.boxes, entries.ids, entries.classes,
                                        entries.scores, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            out.append({"image_id": fid, "category_id": int(cls), "track_id": int(tid),
                        "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    return out


def _tracks(entries: Sequence[Mapping[str, Any]], frame_ids: Sequence[int], category: int,
            pseudo_gt: bool = False) -> MotTracks:
    frames = []
    for rows in _by_frame([e for e in entries if e.get("category_id") == category], frame_ids):
        if not rows:
            frames.append(FrameEntries.empty())
            continue
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (r["bbox"] for r in rows)])
        frames.append(FrameEntries(boxes, [int(r["track_id"]) for r in rows],
                                   classes=[category] * len(rows)))
    return MotTracks(tuple(frames), pseudo_gt=pseudo_gt)


def score_sequences(sequences: Sequence[tuple[str, Sequence[int], Sequence[Mapping[str, Any]],
                                              Sequence[Mapping[str, Any]]]],
                    params: Any = None, pseudo_gt: bool = False) -> dict[str, float | int]:
    """MOTA, IDF1 and ID switches (motmetrics' OVERALL) of the tracker on each sequence's
    detections against its ground-truth tracks. `sequences`: (name, frame image ids in
    display order, annotations with ``track_id``, detections)."""
    from vcmref.eval.tracking.scores import evaluate

    pairs: dict[str, tuple[MotTracks, MotTracks]] = {}
    for name, frame_ids, gt, dets in sequences:
        tracked = track_detections(dets, frame_ids, params)
        categories = sorted({int(a["category_id"]) for a in gt}
                            | {int(d["category_id"]) for d in tracked})
        for cat in categories:
            pairs[f"{name}/{cat}"] = (_tracks(gt, frame_ids, cat, pseudo_gt),
                                      _tracks(tracked, frame_ids, cat))
    if not pairs:
        return {"mota": float("nan"), "idf1": float("nan"), "num_switches": 0}
    overall = evaluate(pairs).overall
    return {"mota": overall.mota, "idf1": overall.idf1, "num_switches": overall.num_switches}
