"""A small rendered MOT sequence with known tracks, for tests and demos: coloured rectangles
moving at constant velocity over a fixed textured background.

The default scene (160x120, 30 frames at 30 fps): a red and a green rectangle cross head-on
(the green, drawn later, hides most of the red around frame 17), a blue one drifts diagonally,
and a yellow one enters at the left edge on frame 6 and leaves through the bottom after frame
24. Ground truth is MOT16/17-style (flag 1, class 1, visibility = the share of the object's
box whose pixels show it in the frame: hidden by a later object or outside the image both
count as not visible); boxes are not clipped to the image, as in MOT17. A box whose object
covers no pixel of the frame is left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vcmref.eval.tracking.mot import (
    FrameEntries,
    MotTracks,
    write_mot_file,
    write_seqinfo,
)
from vcmref.eval.tracking.tracker import Detections


@dataclass(frozen=True)
class SyntheticObject:
    """A rectangle of `size` (w, h) pixels whose top-left corner is at `start` (x, y),
    0-based pixels, on `first_frame`, moving by `velocity` (pixels per frame) until
    `last_frame` (both 1-based, inclusive); positions round to whole pixels."""

    track_id: int
    color: tuple[int, int, int]
    size: tuple[int, int]
    start: tuple[float, float]
    velocity: tuple[float, float]
    first_frame: int = 1
    last_frame: int = 10**9

    def corner(self, frame: int) -> tuple[int, int] | None:
        """Top-left corner (x, y) in `frame`, or None when the object does not exist then."""
        if not self.first_frame <= frame <= self.last_frame:
            return None
        t = frame - self.first_frame
        return (round(self.start[0] + self.velocity[0] * t),
                round(self.start[1] + self.velocity[1] * t))


DEFAULT_OBJECTS: tuple[SyntheticObject, ...] = (
    SyntheticObject(1, (220, 40, 40), (16, 24), (8, 30), (4, 0)),
    SyntheticObject(2, (40, 200, 60), (16, 24), (136, 34), (-4, 0)),
    SyntheticObject(3, (50, 80, 230), (20, 20), (40, 95), (1, -1)),
    SyntheticObject(4, (240, 220, 40), (14, 14), (-14, 40), (4, 4), first_frame=5),
)


@dataclass(frozen=True)
class SyntheticScene:
    """What `render` draws: the frame size, the number of frames and the objects, drawn in
    the order given (later ones hide earlier ones)."""

    width: int = 160
    height: int = 120
    num_frames: int = 30
    objects: tuple[SyntheticObject, ...] = DEFAULT_OBJECTS
    seed: int = 0  # of the background texture

    def background(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        texture = rng.integers(-12, 13, size=(self.height, self.width, 1))
        ramp = np.linspace(70, 110, self.width)[None, :, None]
        return np.clip(ramp + texture, 0, 255).astype(np.uint8).repeat(3, axis=2)

    def render(self, frame: int) -> tuple[np.ndarray, FrameEntries]:
        """The (H, W, 3) uint8 RGB image of a frame (1-based) and its ground truth."""
        image = self.background()
        labels = np.zeros((self.height, self.width), dtype=np.int64)
        placed = []
        for obj in self.objects:
            corner = obj.corner(frame)
            if corner is None:
                continue
            x, y = corner
            w, h = obj.size
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + w, self.width), min(y + h, self.height)
            if x1 > x0 and y1 > y0:
                image[y0:y1, x0:x1] = obj.color
                labels[y0:y1, x0:x1] = obj.track_id
                placed.append((obj, x, y))
        if not placed:
            return image, FrameEntries.empty()
        boxes, ids, visibility = [], [], []
        for obj, x, y in placed:
            w, h = obj.size
            boxes.append((x, y, x + w, y + h))
            ids.append(obj.track_id)
            visibility.append(np.count_nonzero(labels == obj.track_id) / (w * h))
        return image, FrameEntries(np.array(boxes, dtype=np.float64), ids,
                                   classes=np.ones(len(ids)), scores=np.ones(len(ids)),
                                   visibility=np.array(visibility))

    def ground_truth(self) -> MotTracks:
        """The known tracks, without writing anything."""
        return MotTracks(tuple(self.render(f)[1] for f in range(1, self.num_frames + 1)),
                         source="synthetic scene")


def write_synthetic_sequence(folder: str | os.PathLike, scene: SyntheticScene | None = None,
                             *, name: str = "SYNTH-crossing", frame_rate: int = 30) -> Path:
    """Write `scene` (default: the module docstring's) as a MOT sequence folder:
    ``seqinfo.ini``, ``img1/000001.png`` ... and ``gt/gt.txt``. Returns the folder."""
    scene = scene or SyntheticScene()
    folder = Path(folder)
    (folder / "img1").mkdir(parents=True, exist_ok=True)
    frames = []
    for frame in range(1, scene.num_frames + 1):
        image, entries = scene.render(frame)
        Image.fromarray(image).save(folder / "img1" / f"{frame:06d}.png", compress_level=1)
        frames.append(entries)
    write_seqinfo(folder, {"name": name, "imDir": "img1", "frameRate": frame_rate,
                           "seqLength": scene.num_frames, "imWidth": scene.width,
                           "imHeight": scene.height, "imExt": ".png"})
    write_mot_file(folder / "gt" / "gt.txt", MotTracks(tuple(frames)), kind="gt")
    return folder


def noisy_detections(gt: MotTracks, *, jitter: float = 0.0, miss_rate: float = 0.0,
                     score: float = 0.9, occluded_score: float | None = None,
                     occluded_below: float = 0.5, seed: int = 0) -> list[Detections]:
    """Per-frame detections made from ground truth, as a detector might give them: each box's
    corners moved by Gaussian noise of `jitter` pixels (standard deviation), each box missed
    with probability `miss_rate`, scores `score`, or `occluded_score` for boxes less visible
    than `occluded_below` (a detector's low score on occluded objects). Seeded: same input,
    same detections."""
    rng = np.random.default_rng(seed)
    out = []
    for entries in gt.frames:
        keep = entries.counted & (rng.random(len(entries)) >= miss_rate)
        boxes = entries.boxes + rng.normal(0.0, jitter, size=entries.boxes.shape)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
        scores = np.full(len(entries), score)
        if occluded_score is not None:
            occluded = (entries.visibility >= 0) & (entries.visibility < occluded_below)
            scores[occluded] = occluded_score
        out.append(Detections(boxes[keep], scores[keep], entries.classes[keep]))
    return out

