"""Pseudo ground truth: the tracker's output on detections of the uncompressed video, used as the
reference that tracking on decoded video is scored against, where no annotation exists.

The result is a `MotTracks` with ``pseudo_gt=True`` and a `source` that says what made it, so
that every score computed against it (`vcmref.eval.tracking.scores`) carries the label and a
report can say "against pseudo ground truth" instead of passing it off as annotation.
"""

from __future__ import annotations

import numpy as np

from vcmref.eval.tracking.mot import FrameEntries, MotTracks

PSEUDO_GT_PREFIX = "pseudo ground truth: "


def pseudo_ground_truth(tracks: MotTracks, *, source: str, min_track_length: int = 1,
                        min_mean_score: float = 0.0) -> MotTracks:
    """Ground truth from a tracker's output `tracks` (e.g. `track_sequence` on the detector's
    predictions for the uncompressed frames); `source` says which detector, tracker and video.

    Boxes, ids and classes are the tracker's; `scores` keep the tracker's scores. A track seen
    in fewer than `min_track_length` frames, or whose mean score is below `min_mean_score`, is
    kept but not counted (flag 0): under the default scoring rules a hypothesis on it is
    neither a false positive nor a match, and missing it is no miss."""
    if min_track_length < 1:
        raise ValueError(f"min_track_length must be >= 1, got {min_track_length}")
    if not 0.0 <= min_mean_score <= 1.0:
        raise ValueError(f"min_mean_score must be in [0, 1], got {min_mean_score}")
    lengths: dict[int, int] = {}
    score_sums: dict[int, float] = {}
    for entries in tracks.frames:
        for track_id, score in zip(entries.ids.tolist(), entries.scores.tolist(), strict=True):
            lengths[track_id] = lengths.get(track_id, 0) + 1
            score_sums[track_id] = score_sums.get(track_id, 0.0) + score
    kept = {i for i, n in lengths.items()
            if n >= min_track_length and score_sums[i] / n >= min_mean_score}
    frames = tuple(
        FrameEntries(e.boxes, e.ids, e.classes, e.scores, np.full(len(e), -1.0),
                     np.array([i in kept for i in e.ids.tolist()], dtype=bool))
        for e in tracks.frames)
    notes = {
        "made_from": tracks.source or "tracker output",
        "tracks": str(len(lengths)),
        "tracks_counted": str(len(kept)),
        "min_track_length": str(min_track_length),
        "min_mean_score": str(min_mean_score),
    }
    return MotTracks(frames, source=PSEUDO_GT_PREFIX + source, pseudo_gt=True, notes=notes)
